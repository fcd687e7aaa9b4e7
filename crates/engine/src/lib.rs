//! `closest-engine`: the one engine that `update`, `status`, `similar` (and `watch` and `serve`)
//! share.
//!
//! It brings the libraries together: notes from `closest-notes`, vectors from `closest-embed`,
//! lists from `closest-index`, and its own store of what the last run saw. A run is a sequence
//! of plain steps that return values (`run/`: begin, decide, embed, rank, render, write,
//! record); [`Engine::update`] puts them together under the folder lock, [`Engine::plan`]
//! runs the first of them read-only and prints the run's own decision, and a run costs what
//! changed: unchanged notes are not read, stored lists are patched rather than recomputed, and
//! only notes whose lines change are written. Nothing here prints: progress and warnings go to
//! a [`Reporter`], results come back as values for the binary to render.
//!
//! An [`Engine`] holds its settings and a warm, shareable model, so a long-running command keeps
//! one and calls it again after every change.

mod changes;
pub mod check_links;
pub mod clean;
mod dupes;
mod error;
mod explain;
pub mod floor;
mod hash;
mod health;
mod learned;
mod linked;
mod lock;
pub mod lockfile;
mod model;
mod names;
mod neighbours;
mod progress;
pub mod query;
mod rerank;
mod run;
mod settings;
mod snapshot;
pub mod state_dir;
pub mod status;
mod store;
#[cfg(test)]
mod testing;
mod trim;
mod vectors;

pub use changes::is_note_path;
pub use check_links::{BrokenLink, LinkCheck};
pub use dupes::Pair;
pub use error::{Error, Result, Warning};
pub use explain::{Explanation, Sentences, SharedWord};
pub use hash::{text_hash, TextHash};
pub use health::{store_health, StoreHealth};
pub use model::Model;
pub use neighbours::NoteLists;
pub use progress::{Bar, Reporter, Silent};
pub use query::{Hit, NoteRef, NoteText, Query};
pub use run::Mode;
pub use run::{Ranking, UpdateOptions, UpdateReport};
pub use settings::{FolderSettings, ModelSettings, Output};
pub use status::Plan;
pub use store::{Stat, STORE_FILE};

/// A notes folder with its settings and its model.
pub struct Engine {
    settings: FolderSettings,
    model: Model,
    /// What readers (`similar`, `explain`, `note`) last loaded from the store.
    snapshot: snapshot::Cache,
}

impl Engine {
    /// Checks the folder and resolves (fetching if needed) the model. Nothing is read or
    /// written yet; the model's weights load only when something needs embedding.
    pub fn open(
        settings: FolderSettings,
        show_progress: bool,
        reporter: &dyn Reporter,
    ) -> Result<Self> {
        if !settings.root.is_dir() {
            return Err(Error::NoFolder {
                path: settings.root.clone(),
            });
        }
        let model = Model::resolve(&settings.model, show_progress, reporter)?;
        Ok(Engine {
            settings,
            model,
            snapshot: snapshot::Cache::default(),
        })
    }

    /// An engine on the fake model (`Model::fake`), for the engine's own tests.
    #[cfg(test)]
    pub(crate) fn with_fake_model(settings: FolderSettings) -> Self {
        Engine {
            settings,
            model: Model::fake(),
            snapshot: snapshot::Cache::default(),
        }
    }

    pub fn settings(&self) -> &FolderSettings {
        &self.settings
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Brings every note's section up to date (or, in check and dry-run modes, says which are
    /// not).
    pub fn update(&self, options: UpdateOptions, reporter: &dyn Reporter) -> Result<UpdateReport> {
        run::update(self, options, reporter)
    }

    /// What the next `update` would do, without doing it.
    pub fn plan(&self, reporter: &dyn Reporter) -> Result<Plan> {
        status::plan(self, reporter)
    }

    /// The managed links that lead to no note (or to several).
    pub fn check_links(&self) -> Result<LinkCheck> {
        check_links::check_links(self)
    }

    /// The notes nearest to a note or a text. The store is read once and kept until an
    /// update commits, so an engine kept open answers from memory.
    pub fn similar(&self, query: Query<'_>, k: usize, reporter: &dyn Reporter) -> Result<Vec<Hit>> {
        query::similar(self, query, k, reporter)
    }

    /// Fills the store with vectors made by `vector_of` instead of the model, for every note
    /// that has none (benchmarks of folders too large to embed here).
    pub fn prefill_vectors(
        &self,
        vector_of: &(dyn Fn(&str) -> Vec<f32> + Sync),
        reporter: &dyn Reporter,
    ) -> Result<usize> {
        run::embed::prefill(self, vector_of, reporter)
    }

    /// Why note `b` is (or is not) in note `a`'s list: their scores, the words they share,
    /// `b`'s rank for `a`, each one's sentence nearest the other.
    pub fn explain(&self, a: &str, b: &str, reporter: &dyn Reporter) -> Result<Explanation> {
        explain::explain(self, a, b, reporter)
    }

    /// A stored note's text, read from disk now, by id.
    pub fn note(&self, id: &str) -> Result<NoteText> {
        query::note(self, id)
    }

    /// Every stored note with the neighbours its section lists (what `update` writes), in path
    /// order.
    pub fn lists(&self) -> Result<Vec<NoteLists>> {
        neighbours::lists(self)
    }

    /// Every pair of notes at least `threshold` similar, most similar first.
    pub fn dupes(&self, threshold: f32) -> Result<Vec<Pair>> {
        dupes::dupes(self, threshold)
    }

    /// The paths (relative to the notes root) whose files differ from what the store
    /// recorded: the file events an update must answer (`watch`).
    pub fn unrecorded(&self, rel_paths: &[std::path::PathBuf]) -> Result<Vec<std::path::PathBuf>> {
        changes::unrecorded(self, rel_paths)
    }

    /// How many notes the store holds now (with a vector), for `serve`'s status.
    pub fn stored_count(&self) -> Result<usize> {
        Ok(self.snapshot()?.records.len())
    }

    /// Every stored note's unit vector, in id order (for benchmarks and exports).
    pub fn stored_vectors(&self) -> Result<Vec<(String, Vec<f32>)>> {
        let stored = self.snapshot()?;
        Ok(stored
            .records
            .iter()
            .zip(stored.rows())
            .map(|(record, row)| (record.id.clone(), row.to_vec()))
            .collect())
    }

    pub(crate) fn snapshot(&self) -> Result<std::sync::Arc<snapshot::Snapshot>> {
        self.snapshot.get(self)
    }

    pub(crate) fn with_snapshot<T>(
        &self,
        read: impl FnOnce(&snapshot::KeptView<'_>) -> Result<T>,
    ) -> Result<T> {
        self.snapshot.with(self, read)
    }
}
