//! End-to-end tests of the built `closest` binary on copies of real notes from `tests/data`,
//! with the real default model (fetched once through closest's own resolver, never the hub).
//! The tests marked `#[ignore]` are the shared suite: they need the full corpora in `../shared`
//! (or `CLOSEST_SHARED_DIR`) and run with `cargo test --release --workspace -- --ignored`.

mod fixture;

mod embed;
mod hostile;
mod incremental;
mod links;
mod model;
mod regions;
mod reliability;
mod tool;
mod update;
