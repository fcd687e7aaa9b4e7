//! End-to-end tests of the built `closest` binary on copies of real notes from `../shared/data`,
//! with the real default model (fetched once through closest's own resolver, never the hub).

mod child;
mod fixture;

mod embed;
mod export;
mod hostile;
mod incremental;
mod links;
mod live_bench;
mod model;
mod regions;
mod reliability;
mod serve;
mod update;
mod watch;
