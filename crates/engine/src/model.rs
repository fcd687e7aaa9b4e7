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
    /// Vectors made from the words of a text instead of the model's forward pass (the
    /// engine's own tests, which decide in milliseconds what a run does).
    #[cfg(test)]
    fake: bool,
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
            #[cfg(test)]
            fake: false,
        })
    }

    /// A model of 32 dimensions whose vector of a text is the sum of a fixed pseudo-random
    /// unit vector per word, normalised: texts that share words are near, and nothing is
    /// loaded or fetched.
    #[cfg(test)]
    pub(crate) fn fake() -> Self {
        let bert: closest_embed::BertConfig = serde_json::from_value(serde_json::json!({
            "vocab_size": 1, "hidden_size": 32, "num_hidden_layers": 1,
            "num_attention_heads": 1, "intermediate_size": 1, "max_position_embeddings": 512,
        }))
        .expect("a plain config");
        let config = ModelConfig {
            dir: std::path::PathBuf::from("fake"),
            bert,
            pooling: closest_embed::Pooling {
                mean: true,
                ..closest_embed::Pooling::default()
            },
            normalize: true,
            max_seq_length: 512,
            do_lower_case: true,
            prompts: Default::default(),
            default_prompt_name: None,
        };
        Self {
            resolved: ResolvedModel {
                name: "fake-words".to_owned(),
                dir: std::path::PathBuf::from("fake"),
                source: closest_embed::ModelSource::Folder,
                known: None,
            },
            config,
            fingerprint: "fake-words-v1".to_owned(),
            settings: ModelSettings::default(),
            embedder: OnceLock::new(),
            loading: Mutex::new(()),
            fake: true,
        }
    }

    /// The fake model's vector of a text (see [`Model::fake`]).
    #[cfg(test)]
    fn fake_vector(&self, text: &str) -> Vec<f32> {
        let mut vector = vec![0f32; self.dim()];
        for word in closest_notes::words(text).into_keys() {
            let mut seed = xxhash_rust::xxh3::xxh3_64(word.as_bytes()) | 1;
            for x in &mut vector {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                *x += (seed % 2001) as f32 / 1000.0 - 1.0;
            }
        }
        if vector.iter().all(|x| *x == 0.0) {
            vector[0] = 1.0;
        }
        closest_embed::normalize(&mut vector);
        vector
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
        done: &dyn Fn(usize),
    ) -> Result<Vec<Vec<f32>>> {
        #[cfg(test)]
        if self.fake {
            done(texts.len());
            return Ok(texts.iter().map(|text| self.fake_vector(text)).collect());
        }
        let embedder = self.embedder(reporter)?;
        let (vectors, _) = embedder.embed_reporting(
            texts,
            self.config.document_prompt(),
            self.options(long),
            done,
        )?;
        Ok(vectors)
    }

    /// Embeds one query (with the model's query prompt), unit length.
    pub fn embed_query(
        &self,
        text: &str,
        long: LongPolicy,
        reporter: &dyn Reporter,
    ) -> Result<Vec<f32>> {
        #[cfg(test)]
        if self.fake {
            return Ok(self.fake_vector(text));
        }
        let embedder = self.embedder(reporter)?;
        let (mut vectors, _) =
            embedder.embed(&[text], self.config.query_prompt(), self.options(long))?;
        let mut vector = vectors.remove(0);
        closest_embed::normalize(&mut vector);
        Ok(vector)
    }
}
