//! Tests of `closest-embed` against the real default model and the sentence-transformers
//! reference figures committed in `tests/data` (`common::test_data`); `shared_corpus` is the
//! shared suite, on the full corpora (`common::shared_dir`).

mod common;
mod parity;
mod shared_corpus;
mod stsb;
