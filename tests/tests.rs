//! End-to-end tests of the built `closest` binary on copies of real notes from `../shared/data`,
//! with the real default model (fetched once through closest's own resolver, never the hub).

mod fixture;

mod embed;
mod hostile;
mod incremental;
mod links;
mod model;
mod regions;
mod reliability;
mod update;
