//! The store's own tests: opening, rebuilding, and what it keeps round-tripping.

use closest_notes::LinkEvidence;

use super::*;

#[test]
fn garbage_store_is_rebuilt_with_a_warning() {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(
        dir.path().join(STORE_FILE),
        b"this is not an sqlite database at all, not even close......",
    )
    .expect("write");
    let (store, warning) = Store::open(dir.path()).expect("opens");
    assert!(warning.is_some());
    assert!(store.notes().expect("reads").is_empty());
}

#[test]
fn another_schema_version_is_rebuilt() {
    let dir = tempfile::tempdir().expect("temp dir");
    drop(Store::open(dir.path()).expect("opens"));
    let conn = Connection::open(dir.path().join(STORE_FILE)).expect("raw open");
    conn.execute(
        "UPDATE meta SET value = '0' WHERE key = 'schema_version'",
        [],
    )
    .expect("downgrade");
    drop(conn);
    let (_, warning) = Store::open(dir.path()).expect("opens");
    assert!(warning.expect("warned").contains("schema version 0"));
}

#[test]
fn notes_lists_and_vectors_round_trip() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, _) = Store::open(dir.path()).expect("opens");
    let note = NoteRecord {
        row: 3,
        path: "a/b.md".into(),
        id: "b".into(),
        stat: Stat {
            size: 10,
            mtime_ns: 1_700_000_000_123_456_789,
            inode: 42,
        },
        racy: false,
        text_hash: [7; 16],
        slot: 5,
        title: "B".into(),
        links: vec![("c".into(), true)],
        region: Some("{}".into()),
        rendered: Some(crate::hash::RenderedHash([9; 16])),
        stale: false,
        evidence: LinkEvidence {
            with_extension: 2,
            without_extension: 1,
        },
    };
    let commit = Commit {
        vectors: vec![([7; 16], 5)],
        meta: vec![(Meta::NextRow, "4".into())],
        ..Commit::default()
    };
    store
        .commit(&commit, |rows| {
            rows.note(&note)?;
            rows.list(3, &vec![(4, 0.5), (9, 0.25)])
        })
        .expect("commit");
    drop(store);
    let (store, warning) = Store::open(dir.path()).expect("reopens");
    assert!(warning.is_none());
    let notes = store.notes().expect("notes");
    assert_eq!(notes.len(), 1);
    assert_eq!(notes[0].stat, note.stat);
    assert_eq!(notes[0].links, note.links);
    assert_eq!(notes[0].rendered, note.rendered);
    assert_eq!(store.lists().expect("lists")[&3], vec![(4, 0.5), (9, 0.25)]);
    assert_eq!(store.slots(&[[7; 16], [8; 16]]).expect("slots").len(), 1);
    assert_eq!(store.next_row().expect("next"), 4);
}

#[test]
fn replaced_vectors_move_every_note_to_its_text_new_slot() {
    let dir = tempfile::tempdir().expect("temp dir");
    let (mut store, _) = Store::open(dir.path()).expect("opens");
    let note = |row: i64, hash: u8, slot: u32| NoteRecord {
        row,
        path: format!("{row}.md"),
        id: row.to_string(),
        stat: Stat::default(),
        racy: false,
        text_hash: [hash; 16],
        slot,
        title: String::new(),
        links: Vec::new(),
        region: None,
        rendered: None,
        stale: false,
        evidence: LinkEvidence::default(),
    };
    // Rows 1 and 2 share a text; row 4's text has no vector in the new mapping.
    let commit = Commit {
        vectors: vec![([1; 16], 7), ([2; 16], 3), ([5; 16], 0)],
        ..Commit::default()
    };
    store
        .commit(&commit, |rows| {
            [note(1, 1, 7), note(2, 1, 7), note(3, 2, 3), note(4, 9, 8)]
                .iter()
                .try_for_each(|note| rows.note(note))
        })
        .expect("commit");
    store
        .replace_vectors(&[([1; 16], 0), ([2; 16], 1), ([5; 16], 2)], &[])
        .expect("replace");
    let slots: Vec<(i64, u32)> = store
        .notes()
        .expect("notes")
        .iter()
        .map(|record| (record.row, record.slot))
        .collect();
    assert_eq!(slots, vec![(1, 0), (2, 0), (3, 1), (4, 8)]);
    assert_eq!(store.vector_count().expect("count"), 3);
}
