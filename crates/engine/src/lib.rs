//! `closest-engine`: the one engine that `update`, `status`, `similar` (and `watch` and `serve`)
//! share.
//!
//! It brings the libraries together: notes from `closest-notes`, vectors from `closest-embed`,
//! lists from `closest-index`, and its own store of what the last run saw. A run is a sequence
//! of plain steps that return values ([`scan`], [`prepare`], [`embedding`], [`rank`],
//! [`write`]); [`Engine::update`] puts them together under the folder lock, and costs what
//! changed: unchanged notes are not read, stored lists are patched rather than recomputed, and
//! only notes whose lines change are written. Nothing here prints: progress and warnings go to
//! a [`Reporter`], results come back as values for the binary to render.
//!
//! An [`Engine`] holds its settings and a warm, shareable model, so a long-running command keeps
//! one and calls it again after every change.

pub mod check_links;
mod compact;
pub mod embedding;
mod error;
mod hash;
mod health;
mod lock;
mod migrate;
mod model;
pub mod prepare;
mod progress;
pub mod query;
pub mod rank;
mod record;
pub mod scan;
mod settings;
mod stamp;
pub mod state_dir;
pub mod status;
mod store;
mod update;
mod vectors;
pub mod write;

pub use check_links::{BrokenLink, LinkCheck};
pub use error::{Error, Result, Warning};
pub use hash::{text_hash, TextHash};
pub use health::{store_health, StoreHealth};
pub use model::Model;
pub use progress::{Bar, Reporter, Silent};
pub use query::{Hit, Query};
pub use settings::{FolderSettings, ModelSettings, Output};
pub use status::Plan;
pub use store::{Stat, STORE_FILE};
pub use update::{UpdateOptions, UpdateReport};
pub use write::Mode;

/// A notes folder with its settings and its model.
pub struct Engine {
    settings: FolderSettings,
    model: Model,
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
        Ok(Engine { settings, model })
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
        update::update(self, options, reporter)
    }

    /// What the next `update` would do, without doing it.
    pub fn plan(&self, reporter: &dyn Reporter) -> Result<Plan> {
        status::plan(self, reporter)
    }

    /// The managed links that lead to no note (or to several).
    pub fn check_links(&self) -> Result<LinkCheck> {
        check_links::check_links(self)
    }

    /// The notes nearest to a note or a text.
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
        embedding::prefill(self, vector_of, reporter)
    }

    /// Every stored note's unit vector, in id order (for benchmarks and exports).
    pub fn stored_vectors(&self) -> Result<Vec<(String, Vec<f32>)>> {
        let stored = query::Stored::load(self)?;
        Ok(stored
            .records
            .iter()
            .zip(stored.rows())
            .map(|(record, row)| (record.id.clone(), row.to_vec()))
            .collect())
    }
}
