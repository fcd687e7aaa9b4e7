//! What `update` is asked to do and what it says it did.

use std::time::Duration;

use serde::Serialize;

use crate::error::Warning;

use super::write::Mode;

/// What `update` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateOptions {
    pub mode: Mode,
    /// Read every note and recompute every list, whatever the store says.
    pub full: bool,
    /// In write mode, leave unwritten the notes changed (not by closest) within this long
    /// before the run: someone may still be typing. Their lists are computed and stored; a later
    /// run writes them (`hold.rs`).
    pub hold_recent: Option<Duration>,
}

/// The summary of a run (`--format json` prints it as one object).
#[derive(Debug, Default, Serialize)]
pub struct UpdateReport {
    pub notes: usize,
    pub embedded: usize,
    pub unchanged: usize,
    pub written: usize,
    pub pruned: usize,
    pub skipped: usize,
    /// Notes whose section is (or, in write mode, was) out of date, by id.
    pub stale: Vec<String>,
    pub index: String,
    /// For a saved HNSW index: rows added to it and removed from it this run (`None` when it
    /// was built from scratch or the index is exact).
    pub index_added: Option<usize>,
    pub index_removed: Option<usize>,
    pub model: String,
    pub seconds: f64,
    /// Notes read this run (the others were unchanged on disk).
    pub read: usize,
    /// Lists that changed.
    pub lists_updated: usize,
    pub ranking: Ranking,
    /// Whether the run learned the folder's statistics again (and so read every note).
    pub relearned: bool,
    /// Notes whose section could not be written (the run exits 2).
    pub failed: usize,
    /// Notes whose list moved to the region the settings now name (or would, with `--check`
    /// and `--dry-run`), by id.
    pub moved: Vec<String>,
    /// Note-template folders left out (Obsidian's, Templater's).
    pub template_folders: Vec<String>,
    /// Notes the settings no longer manage (an `exclude` added, an `include` narrowed) whose
    /// lists were (or, with `--check` and `--dry-run`, would be) taken out, by path.
    pub released: Vec<String>,
    /// Notes whose section waits because they changed within `hold_recent`, by id.
    pub held: Vec<String>,
    /// When the last of the held notes, if left alone, may be written.
    #[serde(skip)]
    pub held_until: Option<std::time::SystemTime>,
    /// Why the folder's lock file (`.closest.lock`) was (or, with `--check` and `--dry-run`,
    /// would be) written: `missing`, `the folder was learned again`, `the settings moved the
    /// lists`; `None` when it is current.
    pub lock_file: Option<&'static str>,
    /// Seconds per step.
    pub timings: Timings,
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Default, Serialize)]
pub struct Timings {
    /// Opening the store, the vector file and the learned statistics.
    pub open: f64,
    pub scan: f64,
    pub embed: f64,
    pub rank: f64,
    pub write: f64,
    /// Recording the run in the store.
    pub record: f64,
}

/// How a run made its lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Ranking {
    /// Nothing that ranks changed: the stored lists stand.
    #[default]
    Kept,
    /// The stored lists were patched at (changed notes) × N.
    Patched,
    /// Every list was computed again.
    Full,
}
