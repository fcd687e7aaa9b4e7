//! The model as the commands use it: resolved (and fetched) once, fingerprinted without loading
//! weights, and loaded onto its device only when something actually needs embedding, so an
//! update with nothing new never pays for the weights.

use std::cell::OnceCell;

use anyhow::{Context, Result};
use closest_embed::{
    model_fingerprint, resolve, EmbedOptions, Embedder, FetchOptions, LongPolicy, ModelConfig,
    ResolvedModel,
};

use crate::settings::ModelSettings;
use crate::ui::Ui;

pub struct ModelHandle {
    pub resolved: ResolvedModel,
    pub config: ModelConfig,
    pub fingerprint: String,
    settings: ModelSettings,
    embedder: OnceCell<Embedder>,
}

impl ModelHandle {
    /// Resolves the model, fetching it (with pip's progress on a terminal) if it is not on disk.
    pub fn resolve(settings: &ModelSettings, ui: &Ui) -> Result<Self> {
        let fetch = FetchOptions {
            show_progress: !ui.quiet && std::io::IsTerminal::is_terminal(&std::io::stderr()),
            offline: false,
        };
        let resolved = resolve(settings.model.as_deref(), &fetch)?;
        ui.debug(format!(
            "model {} from {} (`{}`)",
            resolved.name,
            resolved.source,
            resolved.dir.display()
        ));
        let (fingerprint, config) = model_fingerprint(&resolved, settings.dtype)?;
        Ok(Self {
            resolved,
            config,
            fingerprint,
            settings: settings.clone(),
            embedder: OnceCell::new(),
        })
    }

    /// The loaded model; loads it on first use.
    pub fn embedder(&self, ui: &Ui) -> Result<&Embedder> {
        if let Some(embedder) = self.embedder.get() {
            return Ok(embedder);
        }
        let picked = self.settings.device.open()?;
        if let Some(note) = &picked.note {
            ui.note(format!("note: {note}"));
        }
        let embedder = Embedder::load(&self.resolved, &picked.device, self.settings.dtype)
            .with_context(|| {
                format!(
                    "cannot load model `{}` from `{}`",
                    self.resolved.name,
                    self.resolved.dir.display()
                )
            })?;
        Ok(self.embedder.get_or_init(|| embedder))
    }

    pub fn options(&self, long: LongPolicy) -> EmbedOptions {
        EmbedOptions {
            long,
            limits: self.settings.limits,
        }
    }

    /// Identifies how note text becomes model input: the text-preparation version, the
    /// long-note policy and the document prompt. Stored vectors are keyed by it.
    pub fn prep_fingerprint(&self, long: LongPolicy) -> String {
        format!(
            "text-v{}|{}|{}",
            closest_notes::EMBED_TEXT_VERSION,
            long,
            self.config.document_prompt().unwrap_or("")
        )
    }

    /// What a saved index's vectors were made with: the model and the text preparation.
    pub fn index_key(&self, long: LongPolicy) -> String {
        format!("{}|{}", self.fingerprint, self.prep_fingerprint(long))
    }
}
