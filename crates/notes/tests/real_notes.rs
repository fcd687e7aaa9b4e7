//! The shared corpus of real notes (../shared/data/til): every note parses,
//! gets a section that a second run leaves alone, and keeps every byte before it.

use std::path::PathBuf;

use closest_notes::{embed_text, read_note, splice, walk, IdScheme, SectionSpec, WalkOptions};

#[test]
fn real_notes_splice_cleanly() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data/til/notes");
    assert!(
        root.is_dir(),
        "the shared data folder `{}` is missing; this test runs on its real notes",
        root.display()
    );
    let options = WalkOptions {
        id_scheme: IdScheme::RelativePath,
        ..WalkOptions::default()
    };
    let walk = walk(&root, &options).expect("walks the corpus");
    assert!(walk.notes.len() > 1000, "{} notes", walk.notes.len());
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
