//! Real notes (the til notes committed in tests/data, and in the shared suite all 1,714 of the
//! shared corpus): every note parses, gets a section that a second run leaves alone, and keeps
//! every byte before it.

use std::path::{Path, PathBuf};

use closest_notes::{embed_text, read_note, splice, walk, IdScheme, SectionSpec, WalkOptions};

/// The repository's committed fixtures (`tests/data` at the workspace root).
pub fn test_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

/// The full shared corpora's `data` folder: `$CLOSEST_SHARED_DIR/data`, else `../shared/data`
/// beside the repository; a clear failure when neither is there.
pub fn shared_data() -> PathBuf {
    let shared = std::env::var_os("CLOSEST_SHARED_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    let dir = shared.join("data");
    assert!(
        dir.is_dir(),
        "the shared corpora are missing: `{}` is not a folder. This test belongs to the shared \
         suite (`cargo test --release --workspace -- --ignored`), which needs `../shared` beside \
         the repository or CLOSEST_SHARED_DIR naming it; the default suite needs neither",
        dir.display()
    );
    dir
}

#[test]
fn real_notes_splice_cleanly() {
    notes_splice_cleanly(&test_data().join("til/notes"), 160);
}

#[test]
#[ignore = "shared suite: needs ../shared; run with `cargo test --release --workspace -- --ignored`"]
fn all_shared_til_notes_splice_cleanly() {
    notes_splice_cleanly(&shared_data().join("til/notes"), 1700);
}

fn notes_splice_cleanly(root: &Path, at_least: usize) {
    let options = WalkOptions {
        id_scheme: IdScheme::RelativePath,
        ..WalkOptions::default()
    };
    let walk = walk(root, &options).expect("walks the corpus");
    assert!(walk.notes.len() >= at_least, "{} notes", walk.notes.len());
    let spec = SectionSpec::default();
    let links: Vec<String> = (0..10).map(|n| format!("* [n{n}](n{n})")).collect();
    for file in &walk.notes {
        let note = read_note(file).expect("reads");
        let parsed = note.parse(&spec).expect("parses");
        assert!(!embed_text(&parsed).is_empty(), "{}", file.id);
        let once = splice(note.text(), &parsed, &spec, &links);
        let start = parsed
            .section()
            .map_or(note.text().len(), |section| section.range().start);
        assert_eq!(&once[..start], &note.text()[..start], "{}", file.id);
        let again = closest_notes::parse(&once, &spec).expect("result parses");
        assert_eq!(again.section_lines(), links, "{}", file.id);
        assert_eq!(splice(&once, &again, &spec, &links), once, "{}", file.id);
    }
}
