//! Tests of `closest-embed` against the real default model and the sentence-transformers
//! reference figures in the shared data folder (`common::shared_dir`).

mod common;
mod parity;
mod stsb;
