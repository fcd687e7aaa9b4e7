//! `status`: the folder against its store, and what the next `update` would do.
//!
//! It runs the first steps of an update itself (`Run::begin` with read-only access: the same
//! scan, the same reads, the same drift test) and asks the run's own decision (`Run::decide`),
//! so what it foretells is what the update does: the notes read, the texts embedded, whether
//! the folder is learned again, whether the lists are kept, patched or computed again, whether
//! they move to another region, whether the lock file is written. It never embeds, ranks or
//! writes, and creates nothing.

use serde::Serialize;

use crate::error::Result;
use crate::progress::Reporter;
use crate::run::begin::Access;
use crate::run::{Mode, Ranking, Run, UpdateOptions};
use crate::Engine;

/// The state of a folder and the work its next update would do.
#[derive(Debug, Default, Serialize)]
pub struct Plan {
    pub root: String,
    pub notes: usize,
    pub unreadable: usize,
    /// Notes whose current text has a stored vector.
    pub embedded: usize,
    /// Notes new or changed since the last update (their text to embed differs), and notes
    /// whose last write failed or was held.
    pub stale: usize,
    /// Stored vectors no note uses.
    pub orphaned_rows: usize,
    pub model: String,
    pub model_fingerprint: String,
    pub store_bytes: u64,
    /// The next update: notes it reads, texts it embeds, notes that left.
    pub to_read: usize,
    pub to_embed: usize,
    pub departed: usize,
    /// Whether it learns the folder's statistics again.
    pub relearn: bool,
    /// How it makes the lists: kept, patched or computed again (`full`).
    pub ranking: Ranking,
    /// Lists it makes from nothing: those of new and changed notes for a patch (others may
    /// change as it patches), every list for a full ranking.
    pub lists_to_update: usize,
    pub full_ranking: bool,
    /// Whether it renders every note's lines again (the render settings or link form changed).
    pub renders_all: bool,
    /// Whether it moves the lists to the region the settings name.
    pub moves_lists: bool,
    /// Why it writes the lock file, if it does.
    pub lock_file: Option<&'static str>,
    /// Note-template folders left out (Obsidian's, Templater's).
    pub template_folders: Vec<String>,
}

pub(crate) fn plan(engine: &Engine, reporter: &dyn Reporter) -> Result<Plan> {
    let settings = engine.settings();
    let model = engine.model();
    let options = UpdateOptions {
        mode: Mode::Check,
        full: false,
        hold_recent: None,
    };
    let run = Run::begin(engine, options, Access::ReadOnly, reporter)?;
    let decision = run.decide()?;
    let rows = run.vectors.rows();
    let mut plan = Plan {
        root: settings.root.display().to_string(),
        notes: run.notes.len(),
        unreadable: run.report.skipped,
        model: model.name().to_owned(),
        model_fingerprint: model.fingerprint.clone(),
        to_read: run.report.read,
        to_embed: run.texts_to_embed()?,
        departed: run.departed.len(),
        relearn: run.relearned,
        ranking: decision.ranking,
        lists_to_update: decision.fresh,
        full_ranking: decision.ranking == Ranking::Full,
        renders_all: run.render_all,
        moves_lists: !run.folder.old_regions.is_empty(),
        lock_file: run
            .folder
            .change(&run.learned, run.floor_entry().as_ref())
            .or(run.learn_floor.then_some("the floor was learned again")),
        template_folders: run.report.template_folders.clone(),
        ..Plan::default()
    };
    let mut live = std::collections::HashSet::new();
    for (position, note) in run.notes.iter().enumerate() {
        live.insert(note.hash);
        let record = run.record_of(position);
        let changed =
            record.is_none_or(|record| record.text_hash != note.hash || record.id != note.file.id);
        // A note whose last write failed (or was held) is stale too, as `--check` says.
        if changed || record.is_some_and(|record| record.stale) {
            plan.stale += 1;
        }
        if !run.needs_vector(position, rows) {
            plan.embedded += 1;
        }
    }
    let stored = run.store.vector_count()?;
    plan.orphaned_rows = stored.saturating_sub(live.len().min(stored));
    plan.store_bytes = ["", "-wal"]
        .iter()
        .filter_map(|suffix| {
            std::fs::metadata(format!("{}{suffix}", run.store.path().display())).ok()
        })
        .map(|meta| meta.len())
        .sum::<u64>()
        + std::fs::metadata(settings.state_dir.join(&run.vectors.meta().file))
            .map(|meta| meta.len())
            .unwrap_or(0);
    Ok(plan)
}
