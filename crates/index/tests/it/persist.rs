//! Save and reload: round trips, every kind of mismatch or damage means rebuild (never a panic
//! or a wrong answer), and rows added to a reloaded HNSW index extend it without a rebuild.

use std::fs;
use std::path::Path;

use closest_index::persist::HEADER_FILE;
use closest_index::{load, save, Exact, Hnsw, HnswParams, Index, LoadOutcome, VectorIndex};

use crate::{batch, clustered, filled};

const MODEL: &str = "all-MiniLM-L6-v2@abc123";

fn loaded(dir: &Path, dim: usize) -> Index {
    match load(dir, MODEL, dim).expect("readable") {
        LoadOutcome::Loaded(index) => index,
        other => panic!("expected a loaded index, got {other:?}"),
    }
}

fn rebuild_reason(dir: &Path, fingerprint: &str, dim: usize) -> String {
    match load(dir, fingerprint, dim).expect("readable") {
        LoadOutcome::Rebuild { reason } => reason,
        other => panic!("expected a rebuild, got {other:?}"),
    }
}

fn data_files(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .expect("dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|name| name != HEADER_FILE)
        .collect();
    names.sort();
    names
}

fn flip_byte(path: &Path, at: usize) {
    let mut bytes = fs::read(path).expect("read");
    let at = at.min(bytes.len() - 1);
    bytes[at] ^= 0x40;
    fs::write(path, bytes).expect("write");
}

#[test]
fn exact_round_trip_gives_the_same_answers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let index = filled(Exact::new(16).expect("dim"), &clustered(700, 16, 1, 10));
    save(&index, dir.path(), MODEL).expect("save");
    let back = loaded(dir.path(), 16);
    assert_eq!(back.kind(), index.kind());
    assert_eq!(back.ids(), index.ids());
    assert_eq!(
        back.all_pairs(10).expect("back"),
        index.all_pairs(10).expect("original")
    );
}

#[test]
fn hnsw_round_trip_keeps_the_graph_and_retired_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut index = filled(
        Hnsw::new(16, HnswParams::default()).expect("params"),
        &clustered(1_500, 16, 2, 0),
    );
    index.remove(&[3, 4, 5]).expect("remove");
    save(&index, dir.path(), MODEL).expect("save");
    let back = loaded(dir.path(), 16);
    let Index::Hnsw(hnsw) = &back else {
        panic!("an Hnsw")
    };
    assert_eq!(hnsw.n_rows(), 1_500);
    assert_eq!(back.len(), 1_497);
    assert_eq!(
        back.all_pairs(10).expect("back"),
        index.all_pairs(10).expect("original")
    );
}

#[test]
fn rows_added_to_a_reloaded_hnsw_extend_it() {
    let dir = tempfile::tempdir().expect("tempdir");
    let first = clustered(1_000, 16, 3, 0);
    let index = filled(
        Hnsw::new(16, HnswParams::default()).expect("params"),
        &first,
    );
    save(&index, dir.path(), MODEL).expect("save");
    let mut back = loaded(dir.path(), 16);
    let more = clustered(300, 16, 4, 1_000);
    back.add(&batch(&more)).expect("append");
    assert_eq!(back.len(), 1_300);
    let Index::Hnsw(hnsw) = &back else {
        panic!("still an Hnsw")
    };
    assert_eq!(hnsw.n_rows(), 1_300);
    for (id, vector) in first.iter().step_by(37).chain(more.iter().step_by(29)) {
        let found = back.search(vector, 1).expect("search");
        assert_eq!(found[0].id, *id);
        assert!((found[0].score - 1.0).abs() < 1e-5);
    }
    save(&back, dir.path(), MODEL).expect("save again");
    assert_eq!(loaded(dir.path(), 16).len(), 1_300);
    // The second save replaced the first generation's files.
    assert_eq!(
        data_files(dir.path()).len(),
        2,
        "{:?}",
        data_files(dir.path())
    );
}

#[test]
fn empty_indexes_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    save(
        &Hnsw::new(8, HnswParams::default()).expect("params"),
        dir.path(),
        MODEL,
    )
    .expect("save");
    assert!(loaded(dir.path(), 8).is_empty());
    save(&Exact::new(8).expect("dim"), dir.path(), MODEL).expect("save");
    assert!(loaded(dir.path(), 8).is_empty());
    let one = filled(
        Hnsw::new(8, HnswParams::default()).expect("params"),
        &clustered(1, 8, 9, 42),
    );
    save(&one, dir.path(), MODEL).expect("save");
    let mut back = loaded(dir.path(), 8);
    assert_eq!(back.ids(), vec![42]);
    back.add(&batch(&clustered(5, 8, 10, 0))).expect("append");
    assert_eq!(back.all_pairs(10).expect("all_pairs").len(), 6);
}

#[test]
fn nothing_saved_is_missing_not_a_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    assert!(matches!(
        load(&dir.path().join("nope"), MODEL, 8).expect("ok"),
        LoadOutcome::Missing
    ));
}

#[test]
fn another_model_or_dimension_means_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    save(
        &filled(Exact::new(8).expect("dim"), &clustered(50, 8, 5, 0)),
        dir.path(),
        MODEL,
    )
    .expect("save");
    let reason = rebuild_reason(dir.path(), "other-model", 8);
    assert!(
        reason.contains("other-model") && reason.contains(MODEL),
        "{reason}"
    );
    let reason = rebuild_reason(dir.path(), MODEL, 384);
    assert!(reason.contains("dimension 8"), "{reason}");
}

#[test]
fn damaged_files_mean_rebuild() {
    for kind in ["exact", "hnsw"] {
        let dir = tempfile::tempdir().expect("tempdir");
        let rows = clustered(600, 16, 6, 0);
        let index = match kind {
            "exact" => Index::Exact(filled(Exact::new(16).expect("dim"), &rows)),
            _ => Index::Hnsw(Box::new(filled(
                Hnsw::new(16, HnswParams::default()).expect("params"),
                &rows,
            ))),
        };
        save(&index, dir.path(), MODEL).expect("save");
        for name in data_files(dir.path()) {
            let path = dir.path().join(&name);
            let original = fs::read(&path).expect("read");
            flip_byte(&path, original.len() / 2);
            assert!(
                rebuild_reason(dir.path(), MODEL, 16).contains("damaged"),
                "{name}"
            );
            fs::write(&path, &original[..original.len() / 3]).expect("truncate");
            assert!(
                rebuild_reason(dir.path(), MODEL, 16).contains("damaged"),
                "{name}"
            );
            fs::remove_file(&path).expect("remove");
            assert!(
                rebuild_reason(dir.path(), MODEL, 16).contains("cannot read"),
                "{name}"
            );
            fs::write(&path, original).expect("restore");
            assert_eq!(loaded(dir.path(), 16).len(), 600);
        }
    }
}

#[test]
fn damaged_or_foreign_headers_mean_rebuild() {
    let dir = tempfile::tempdir().expect("tempdir");
    save(
        &filled(Exact::new(8).expect("dim"), &clustered(40, 8, 7, 0)),
        dir.path(),
        MODEL,
    )
    .expect("save");
    let header = dir.path().join(HEADER_FILE);
    let original = fs::read_to_string(&header).expect("read");

    fs::write(&header, &original[..original.len() / 2]).expect("truncate");
    assert!(rebuild_reason(dir.path(), MODEL, 8).contains("header is damaged"));

    fs::write(
        &header,
        original.replace("\"format_version\":1", "\"format_version\":99"),
    )
    .expect("write");
    assert!(rebuild_reason(dir.path(), MODEL, 8).contains("format version 99"));

    // A changed id that still parses is caught by the id checksum, not served as a wrong answer.
    let ids_at = original.find("\"ids\":[").expect("ids") + 7;
    let mut edited = original.clone();
    edited.insert(ids_at, '9');
    fs::write(&header, edited).expect("write");
    assert!(rebuild_reason(dir.path(), MODEL, 8).contains("damaged"));

    fs::write(&header, original).expect("restore");
    assert_eq!(loaded(dir.path(), 8).len(), 40);
}
