//! The embedder: a loaded model that turns texts into vectors, as
//! `SentenceTransformer.encode` does (tokenise, forward, pool, normalise), in input order.

use candle_core::{DType, Device};
use candle_nn::VarBuilder;
use sha2::{Digest, Sha256};
use tokenizers::Tokenizer;

use crate::batch::{load_tokenizer, plan_batches, tokenize, BatchLimits, LongPolicy, Sequence};
use crate::bert::Bert;
use crate::config::ModelConfig;
use crate::cpu::{CpuBert, Precision};
use crate::device::dtype_name;
use crate::error::{Error, Result};
use crate::registry::sha256_file;
use crate::resolve::ResolvedModel;

/// How to embed a set of texts.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbedOptions {
    pub long: LongPolicy,
    pub limits: BatchLimits,
}

/// What one call to `embed` did, for benchmarks: tokens are counted after truncation, special
/// tokens included. Sequences are packed, so every token computed is a real one.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmbedStats {
    pub texts: usize,
    pub sequences: usize,
    pub tokens: usize,
    pub batches: usize,
}

/// Which forward pass runs the model.
enum Encoder {
    /// The CPU in f32, or in bf16 where the CPU has AVX512_BF16: our kernels on plain
    /// buffers (`cpu/`, bf16.rs).
    Cpu(CpuBert),
    /// Everything else (GPUs, f16, bf16 without AVX512_BF16): candle tensor ops (bert.rs).
    Candle(Bert),
}

/// Which forward pass `Embedder::load_with` uses where our CPU kernels apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ForwardPass {
    /// Our CPU kernels where they apply (the CPU in f32, or bf16 with AVX512_BF16), candle
    /// elsewhere.
    #[default]
    Auto,
    /// candle's tensor ops everywhere: the slower reference the CPU kernels are tested against.
    Candle,
}

/// A model ready to embed: configuration, tokenizer and weights on one device and dtype.
pub struct Embedder {
    pub config: ModelConfig,
    pub resolved: ResolvedModel,
    tokenizer: Tokenizer,
    encoder: Encoder,
    device: Device,
    dtype: DType,
}

impl Embedder {
    /// Loads the resolved model folder onto `device` in `dtype`.
    pub fn load(resolved: &ResolvedModel, device: &Device, dtype: DType) -> Result<Self> {
        Self::load_with(resolved, device, dtype, ForwardPass::Auto)
    }

    /// `load` with a choice of forward pass.
    pub fn load_with(
        resolved: &ResolvedModel,
        device: &Device,
        dtype: DType,
        engine: ForwardPass,
    ) -> Result<Self> {
        crate::cpu::Vectors::forced().map_err(Error::Kernel)?;
        let config = ModelConfig::load(&resolved.dir, &resolved.name)?;
        let tokenizer =
            load_tokenizer(&resolved.dir.join("tokenizer.json"), config.max_seq_length)?;
        let weights = resolved.dir.join("model.safetensors");
        // Our CPU pass runs f32, and bf16 (rounding the linear layers' inputs itself) where the
        // CPU has AVX512_BF16; everything else runs on candle ops in the asked dtype.
        let cpu_precision = match dtype {
            _ if engine != ForwardPass::Auto
                || !matches!(device, Device::Cpu)
                || !CpuBert::supports(&config.bert) =>
            {
                None
            }
            DType::F32 => Some(Precision::F32),
            DType::BF16 if crate::bf16::supported() => Some(Precision::Bf16),
            _ => None,
        };
        let load_dtype = if cpu_precision.is_some() {
            DType::F32
        } else {
            dtype
        };
        // SAFETY: the file is memory-mapped read-only; `closest` never writes model files while
        // running, and a file changed underneath by another program is the same hazard every
        // mmap-based loader (safetensors, candle) accepts.
        let vb = unsafe { VarBuilder::from_mmaped_safetensors(&[&weights], load_dtype, device) }.map_err(|err| Error::InvalidFile {
            path: weights.clone(),
            reason: err.to_string(),
            fix: format!("the weights are damaged or truncated; delete the folder and run `closest model fetch {}`", resolved.name),
        })?;
        let invalid = |reason: String| Error::InvalidFile {
            path: weights.clone(),
            reason,
            fix: "the weights do not match config.json; use the files that came together"
                .to_owned(),
        };
        let encoder = match cpu_precision {
            Some(precision) => Encoder::Cpu(
                CpuBert::load(vb, &config.bert, precision)
                    .map_err(|err| invalid(err.to_string()))?,
            ),
            None => Encoder::Candle(
                Bert::load(vb, &config.bert).map_err(|err| invalid(err.to_string()))?,
            ),
        };
        Ok(Self {
            config,
            resolved: resolved.clone(),
            tokenizer,
            encoder,
            device: device.clone(),
            dtype,
        })
    }

    /// Output dimension.
    pub fn dim(&self) -> usize {
        self.config.dim()
    }

    pub fn dtype(&self) -> DType {
        self.dtype
    }

    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Which forward pass runs, for `closest doctor` and bug reports.
    pub fn forward_pass(&self) -> String {
        match &self.encoder {
            Encoder::Cpu(_) if self.dtype == DType::BF16 => format!(
                "closest's CPU kernels, bf16 products (AVX512_BF16), the rest f32 ({})",
                kernels()
            ),
            Encoder::Cpu(_) => format!("closest's CPU kernels, f32 ({})", kernels()),
            Encoder::Candle(_) => format!(
                "candle tensor ops, {} on {}",
                dtype_name(self.dtype),
                match self.device {
                    Device::Cpu => "the CPU".to_owned(),
                    ref other => format!("{other:?}"),
                }
            ),
        }
    }

    /// Counts word pieces of `text` with special tokens, before truncation.
    pub fn count_tokens(&self, text: &str) -> Result<usize> {
        let mut tokenizer = self.tokenizer.clone();
        tokenizer
            .with_truncation(None)
            .map_err(|err| Error::Tokenizer(err.to_string()))?;
        let encoding = tokenizer
            .encode(self.prepare(text, None), true)
            .map_err(|err| Error::Tokenizer(err.to_string()))?;
        Ok(encoding.len())
    }

    fn prepare(&self, text: &str, prompt: Option<&str>) -> String {
        let text = match prompt {
            Some(prompt) => format!("{prompt}{text}"),
            None => text.to_owned(),
        };
        if self.config.do_lower_case {
            text.to_lowercase()
        } else {
            text
        }
    }

    /// Embeds `texts` (with `prompt` prepended, if any) and returns one vector per text in input
    /// order.
    pub fn embed(
        &self,
        texts: &[&str],
        prompt: Option<&str>,
        options: EmbedOptions,
    ) -> Result<(Vec<Vec<f32>>, EmbedStats)> {
        self.embed_reporting(texts, prompt, options, &|_| {})
    }

    /// [`Embedder::embed`], calling `done` after each batch with how many more texts have all
    /// their windows embedded, so that a progress bar moves as batches finish.
    pub fn embed_reporting(
        &self,
        texts: &[&str],
        prompt: Option<&str>,
        options: EmbedOptions,
        done: &dyn Fn(usize),
    ) -> Result<(Vec<Vec<f32>>, EmbedStats)> {
        let prepared: Vec<String> = texts
            .iter()
            .map(|text| self.prepare(text, prompt))
            .collect();
        let sequences = tokenize(&self.tokenizer, &prepared, options.long)?;
        let batches = plan_batches(&sequences, options.limits);
        let mut stats = EmbedStats {
            texts: texts.len(),
            sequences: sequences.len(),
            batches: batches.len(),
            ..EmbedStats::default()
        };
        let dim = self.dim();
        let mut sums = vec![vec![0f32; dim]; texts.len()];
        let mut windows_left = vec![0usize; texts.len()];
        for sequence in &sequences {
            windows_left[sequence.text_idx] += 1;
        }
        for batch in &batches {
            let rows: Vec<&Sequence> = batch.iter().map(|idx| &sequences[*idx]).collect();
            let vectors = self.forward_batch(&rows, &mut stats)?;
            let finished = rows
                .iter()
                .filter(|sequence| {
                    windows_left[sequence.text_idx] -= 1;
                    windows_left[sequence.text_idx] == 0
                })
                .count();
            done(finished);
            for (sequence, vector) in rows.iter().zip(vectors) {
                // Windows weigh by their tokens: a short tail must not count as much as a full
                // window (weighing them equally lowered family agreement on the tldr benchmark).
                // Truncation has one window per text, whose vector is kept as it is.
                let weight = if options.long == LongPolicy::ChunkMean {
                    sequence.ids.len() as f32
                } else {
                    1.0
                };
                for (sum, value) in sums[sequence.text_idx].iter_mut().zip(vector) {
                    *sum += weight * value;
                }
            }
        }
        // One window: the (weighted) sum is the vector up to scale. Several (chunk-mean): the
        // token-weighted mean of the window vectors, renormalised.
        for (vector, count) in sums.iter_mut().zip(window_tokens(&sequences, texts.len())) {
            if self.config.normalize {
                normalize(vector);
            } else if options.long == LongPolicy::ChunkMean {
                vector
                    .iter_mut()
                    .for_each(|value| *value /= count.max(1) as f32);
            }
        }
        if sums.iter().flatten().any(|value| !value.is_finite()) {
            return Err(Error::NonFinite {
                dtype: dtype_name(self.dtype).to_owned(),
            });
        }
        Ok((sums, stats))
    }

    /// Runs one batch of packed sequences (longest first, so equal lengths are adjacent) and
    /// returns their pooled (and, if the model says so, normalised) vectors in f32.
    fn forward_batch(&self, rows: &[&Sequence], stats: &mut EmbedStats) -> Result<Vec<Vec<f32>>> {
        let lengths: Vec<usize> = rows.iter().map(|row| row.ids.len()).collect();
        let ids: Vec<u32> = rows
            .iter()
            .flat_map(|row| row.ids.iter().copied())
            .collect();
        stats.tokens += ids.len();
        let hidden_dim = self.config.bert.hidden_size;
        let values = match &self.encoder {
            Encoder::Cpu(bert) => bert
                .forward(&ids, &lengths)
                .map_err(|err| Error::Mismatch(err.0))?,
            Encoder::Candle(bert) => bert.forward(&ids, &lengths)?.flatten_all()?.to_vec1()?,
        };
        let mut vectors = self.config.pooling.pool(&values, hidden_dim, &lengths);
        if self.config.normalize {
            vectors.iter_mut().for_each(|vector| normalize(vector));
        }
        Ok(vectors)
    }
}

/// Tokens per text over all its windows: the weights' total.
fn window_tokens(sequences: &[Sequence], n_texts: usize) -> Vec<usize> {
    let mut counts = vec![0; n_texts];
    for sequence in sequences {
        counts[sequence.text_idx] += sequence.ids.len();
    }
    counts
}

/// L2-normalises in place, as `torch.nn.functional.normalize` (eps 1e-12) does.
pub fn normalize(vector: &mut [f32]) {
    let norm = vector
        .iter()
        .map(|value| f64::from(*value) * f64::from(*value))
        .sum::<f64>()
        .sqrt()
        .max(1e-12);
    vector
        .iter_mut()
        .for_each(|value| *value = (f64::from(*value) / norm) as f32);
}

/// The model's fingerprint, with the configuration it read: a hash of its files and of every
/// setting that changes its vectors (pooling, normalisation, maximum length, lower-casing,
/// dtype). It needs no weights loaded, so callers find stored vectors before deciding whether
/// the model is needed at all.
pub fn model_fingerprint(resolved: &ResolvedModel, dtype: DType) -> Result<(String, ModelConfig)> {
    let config = ModelConfig::load(&resolved.dir, &resolved.name)?;
    let mut hasher = Sha256::new();
    for name in ["config.json", "tokenizer.json", "model.safetensors"] {
        let path = resolved.dir.join(name);
        // Known models were verified against their pinned hashes; use those rather than
        // hashing the weights again.
        let hash = match resolved
            .known
            .as_ref()
            .and_then(|known| known.files.get(name))
        {
            Some(pinned) => pinned.clone(),
            None => sha256_file(&path)?,
        };
        hasher.update(hash.as_bytes());
    }
    hasher.update(
        format!(
            "{}|{}|{}|{}|{}",
            config.pooling.describe(),
            config.normalize,
            config.max_seq_length,
            config.do_lower_case,
            dtype_name(dtype)
        )
        .as_bytes(),
    );
    let fingerprint = format!("{:x}", hasher.finalize())[..16].to_owned();
    Ok((fingerprint, config))
}

/// The kernel family the CPU pass runs, and whether `CLOSEST_KERNEL` forced it.
fn kernels() -> String {
    let family = crate::cpu::Vectors::in_use();
    match crate::cpu::Vectors::forced() {
        Ok(Some(_)) => format!(
            "{}, forced by {}",
            family.name(),
            crate::cpu::KERNEL_VARIABLE
        ),
        _ => family.name().to_owned(),
    }
}
