//! The shared suite: all 65 parity texts and the full STS-B dev split, from the corpora in
//! `../shared` (or `CLOSEST_SHARED_DIR`). Ignored by default; `.ci/run` runs it with
//! `cargo test --release --workspace -- --ignored shared_corpus::`.

use crate::common::shared_dir;

#[test]
#[ignore = "shared suite: needs ../shared; cargo test --release --workspace -- --ignored shared_corpus::"]
fn every_shared_reference_text_matches_sentence_transformers() {
    let path = shared_dir().join("reference/all-MiniLM-L6-v2.parity.jsonl");
    crate::parity::matches_sentence_transformers(&crate::parity::references_in(&path), 65);
}

/// Sentence-transformers' figure on the full dev split with these weights.
#[test]
#[ignore = "shared suite: needs ../shared; cargo test --release --workspace -- --ignored shared_corpus::"]
fn stsb_dev_spearman_matches_sentence_transformers() {
    crate::stsb::spearman_is(&shared_dir().join("data/stsb/sts-dev.tsv"), 1500, 86.72);
}
