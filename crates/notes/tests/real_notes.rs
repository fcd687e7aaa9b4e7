//! Real notes (the til notes committed in tests/data, and in the shared suite all 1,714 of the
//! shared corpus): every note parses, gets a section that a second run leaves alone, and keeps
//! every byte before it.

use std::path::{Path, PathBuf};

use closest_notes::{embed_text, read_note, splice, walk, IdScheme, SectionSpec, WalkOptions};

/// The repository's committed fixtures (`tests/data` at the workspace root).
pub(crate) fn test_data() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/data")
}

#[test]
fn real_notes_splice_cleanly() {
    notes_splice_cleanly(&test_data().join("til/notes"), 160);
}

pub(crate) fn notes_splice_cleanly(root: &Path, at_least: usize) {
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
