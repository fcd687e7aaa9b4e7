//! The shared suite: the full corpora in `../shared` (or `CLOSEST_SHARED_DIR`), which the
//! repository does not carry. Ignored by default; `.ci/run` runs it with
//! `cargo test --release --workspace -- --ignored shared_corpus::`.

use crate::fixture::shared_data;

/// The same on all 1,714 shared til notes, where the links must be as good as
/// sentence-transformers' exact neighbours.
#[test]
#[ignore = "shared suite: needs ../shared; cargo test --release --workspace -- --ignored shared_corpus::"]
fn all_shared_til_notes_end_to_end() {
    crate::update::til_end_to_end(&shared_data().join("til"), crate::update::QUALITY_FLOOR);
}

/// The same on a fifth of the full til corpus (about 340 notes in 169 topic folders).
#[test]
#[ignore = "shared suite: needs ../shared; cargo test --release --workspace -- --ignored shared_corpus::"]
fn every_written_link_resolves_in_nested_folders_of_the_shared_til_notes() {
    crate::links::links_resolve_in_nested_folders(&shared_data().join("til/notes"), |path| {
        path.to_string_lossy().len() % 5 == 0 || path.ends_with("github-pages.md")
    });
}

/// 10,000 notes of the shared corpora written on a CPU of one kernel family are current for a
/// clone on a CPU of another: no list flips for float noise (the count of lists that differ
/// between the two families written from scratch is printed, for BENCHMARKS.md).
#[test]
#[ignore = "shared suite: needs ../shared; cargo test --release --workspace -- --ignored shared_corpus::"]
fn ten_thousand_notes_on_another_cpu_family_flip_no_list() {
    let scratch = crate::fixture::Scratch::new();
    let shared = shared_data();
    let folder = crate::kernels::ten_thousand_notes(&shared, scratch.path());
    crate::kernels::clone_on_another_cpu_writes_nothing(&folder);
}
