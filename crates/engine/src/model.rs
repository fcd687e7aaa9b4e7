//! The model as the engine uses it: resolved (and fetched) once, fingerprinted without loading
//! weights, and loaded onto its device only when something needs embedding, so a run with
//! nothing new never pays for the weights. It is `Sync`: `watch` and `serve` hold one warm
//! model and share it between runs and requests.

use std::sync::{Mutex, OnceLock};

use closest_embed::{
    model_fingerprint, resolve, EmbedOptions, Embedder, FetchOptions, LongPolicy, ModelConfig,
    ResolvedModel,
};

use crate::error::{Error, Result};
use crate::progress::Reporter;
use crate::settings::ModelSettings;

pub struct Model {
    pub resolved: ResolvedModel,
    pub config: ModelConfig,
    /// Hash of the model files, pooling, normalisation, maximum length and precision.
    pub fingerprint: String,
    settings: ModelSettings,
    embedder: OnceLock<Embedder>,
    loading: Mutex<()>,
}

impl Model {
    /// Resolves the model, fetching it (with pip's progress when `show_progress`) if it is not
    /// on disk yet.
    pub fn resolve(
        settings: &ModelSettings,
        show_progress: bool,
        reporter: &dyn Reporter,
    ) -> Result<Self> {
        let fetch = FetchOptions {
            show_progress,
            ..FetchOptions::default()
        };
        let resolved = resolve(settings.model.as_deref(), &fetch)?;
        reporter.debug(&format!(
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
            embedder: OnceLock::new(),
            loading: Mutex::new(()),
        })
    }

    pub fn name(&self) -> &str {
        &self.resolved.name
    }

    pub fn dim(&self) -> usize {
        self.config.dim()
    }

    /// The loaded model; loads it on first use (once, whichever thread asks first).
    pub fn embedder(&self, reporter: &dyn Reporter) -> Result<&Embedder> {
        if let Some(embedder) = self.embedder.get() {
            return Ok(embedder);
        }
        let _guard = self
            .loading
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(embedder) = self.embedder.get() {
            return Ok(embedder);
        }
        let picked = self.settings.device.open()?;
        // A CPU-only build on the CPU is no news: said with `-v` only. A CUDA build that finds
        // no GPU says so on every run.
        if let Some(note) = &picked.note {
            let line = format!("note: {note}");
            if picked.gpu_expected {
                reporter.note(&line);
            } else {
                reporter.debug(&line);
            }
        }
        let embedder = Embedder::load(&self.resolved, &picked.device, self.settings.dtype)
            .map_err(|source| Error::ModelLoad {
                name: self.resolved.name.clone(),
                dir: self.resolved.dir.clone(),
                source: Box::new(source),
            })?;
        Ok(self.embedder.get_or_init(|| embedder))
    }

    pub fn options(&self, long: LongPolicy) -> EmbedOptions {
        EmbedOptions {
            long,
            limits: self.settings.limits,
        }
    }

    /// What a stored vector of a text was made with: the model and how its text becomes model
    /// input (long-note policy, document prompt). The text itself is keyed by its hash.
    pub fn vector_key(&self, long: LongPolicy) -> String {
        format!(
            "{}|{}|{}",
            self.fingerprint,
            long,
            self.config.document_prompt().unwrap_or("")
        )
    }

    /// Embeds document texts, in order.
    pub fn embed_documents(
        &self,
        texts: &[&str],
        long: LongPolicy,
        reporter: &dyn Reporter,
    ) -> Result<Vec<Vec<f32>>> {
        let embedder = self.embedder(reporter)?;
        let (vectors, _) =
            embedder.embed(texts, self.config.document_prompt(), self.options(long))?;
        Ok(vectors)
    }

    /// Embeds one query (with the model's query prompt), unit length.
    pub fn embed_query(
        &self,
        text: &str,
        long: LongPolicy,
        reporter: &dyn Reporter,
    ) -> Result<Vec<f32>> {
        let embedder = self.embedder(reporter)?;
        let (mut vectors, _) =
            embedder.embed(&[text], self.config.query_prompt(), self.options(long))?;
        let mut vector = vectors.remove(0);
        closest_embed::normalize(&mut vector);
        Ok(vector)
    }
}
