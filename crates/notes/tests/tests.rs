//! The tests of `closest-notes`, one binary with a module per concern, as ripgrep does.

mod links;
mod parse;
mod props;
mod real_notes;
mod regions;
mod render;
mod shared_corpus;
mod splice;
mod walk;
mod write;
