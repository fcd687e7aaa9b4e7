//! Tests of `closest-embed` against the real default model and the sentence-transformers
//! reference figures under `../shared/reference`.

mod common;
mod parity;
mod stsb;
