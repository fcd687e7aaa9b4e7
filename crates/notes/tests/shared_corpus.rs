//! The shared suite: every one of the 1,714 til notes of the corpora in `../shared` (or
//! `CLOSEST_SHARED_DIR`). Ignored by default; `.ci/run` runs it with
//! `cargo test --release --workspace -- --ignored shared_corpus::`.

use std::path::PathBuf;

/// The full shared corpora's `data` folder: `$CLOSEST_SHARED_DIR/data`, else `../shared/data`
/// beside the repository; a clear failure when neither is there.
pub(crate) fn shared_data() -> PathBuf {
    let shared = std::env::var_os("CLOSEST_SHARED_DIR").map_or_else(
        || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared"),
        PathBuf::from,
    );
    let dir = shared.join("data");
    assert!(
        dir.is_dir(),
        "the shared corpora are missing: `{}` is not a folder. This test belongs to the shared \
         suite (`cargo test --release --workspace -- --ignored shared_corpus::`), which needs `../shared` beside \
         the repository or CLOSEST_SHARED_DIR naming it; the default suite needs neither",
        dir.display()
    );
    dir
}

#[test]
#[ignore = "shared suite: needs ../shared; cargo test --release --workspace -- --ignored shared_corpus::"]
fn all_shared_til_notes_splice_cleanly() {
    crate::real_notes::notes_splice_cleanly(&shared_data().join("til/notes"), 1700);
}

#[test]
#[ignore = "shared suite: needs ../shared; cargo test --release --workspace -- --ignored shared_corpus::"]
fn every_written_link_reaches_its_note_in_all_shared_til_notes() {
    crate::links::every_link_reaches_its_note(
        &crate::links::nested_folder_of(&shared_data().join("til/notes")),
        1700,
    );
}
