//! End-to-end tests of the built `closest` binary on copies of real notes from `tests/data`,
//! with the real default model (fetched once through closest's own resolver, never the hub).
//! `shared_corpus` is the shared suite: ignored by default, it needs the full corpora in
//! `../shared` (or `CLOSEST_SHARED_DIR`).

mod child;
mod fixture;

mod embed;
mod export;
mod folder;
mod hostile;
mod hybrid;
mod incremental;
mod kernels;
mod links;
mod lists;
mod live_bench;
mod model;
mod names;
mod regions;
mod reliability;
mod safety;
mod serve;
mod shared_corpus;
mod tool;
mod update;
mod watch;
