//! Pooling: turns per-token hidden states into one vector per text, as
//! `sentence_transformers.models.Pooling.forward` does.
//!
//! The modes and their output order (cls, max, mean, mean_sqrt_len, weightedmean, lasttoken,
//! concatenated) follow that function, so a model with several modes gives the same layout.

use std::path::Path;

use candle_core::{DType, Tensor, D};
use serde::Deserialize;

use crate::config::read_json;
use crate::error::{Error, Result};

/// The pooling modes a model asks for, in sentence-transformers' concatenation order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Pooling {
    pub cls: bool,
    pub max: bool,
    pub mean: bool,
    pub mean_sqrt_len: bool,
    pub weighted_mean: bool,
    pub last_token: bool,
}

#[derive(Debug, Deserialize)]
struct PoolingFile {
    word_embedding_dimension: Option<usize>,
    pooling_mode: Option<String>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

impl Pooling {
    pub fn mean() -> Self {
        Self { mean: true, ..Self::default() }
    }

    /// Reads 1_Pooling/config.json: the `pooling_mode` string if present, else the boolean keys.
    pub fn from_file(path: &Path, hidden_dim: usize) -> Result<Self> {
        let file: PoolingFile = read_json(path)?;
        if let Some(dim) = file.word_embedding_dimension {
            if dim != hidden_dim {
                return Err(Error::DimensionMismatch { pooling_path: path.to_owned(), pooling_dim: dim, hidden_dim });
            }
        }
        let pooling = match file.pooling_mode.as_deref() {
            Some(mode) => Self::from_mode(mode).ok_or_else(|| Error::UnknownPooling { mode: mode.to_owned(), path: path.to_owned() })?,
            None => Self {
                cls: file.pooling_mode_cls_token,
                max: file.pooling_mode_max_tokens,
                mean: file.pooling_mode_mean_tokens,
                mean_sqrt_len: file.pooling_mode_mean_sqrt_len_tokens,
                weighted_mean: file.pooling_mode_weightedmean_tokens,
                last_token: file.pooling_mode_lasttoken,
            },
        };
        if pooling == Self::default() {
            return Err(Error::UnknownPooling { mode: "(none enabled)".to_owned(), path: path.to_owned() });
        }
        Ok(pooling)
    }

    fn from_mode(mode: &str) -> Option<Self> {
        let mut pooling = Self::default();
        match mode {
            "cls" => pooling.cls = true,
            "max" => pooling.max = true,
            "mean" => pooling.mean = true,
            "mean_sqrt_len" | "mean_sqrt_len_tokens" => pooling.mean_sqrt_len = true,
            "weightedmean" => pooling.weighted_mean = true,
            "lasttoken" => pooling.last_token = true,
            _ => return None,
        }
        Some(pooling)
    }

    fn n_modes(&self) -> usize {
        [self.cls, self.max, self.mean, self.mean_sqrt_len, self.weighted_mean, self.last_token].iter().filter(|on| **on).count()
    }

    pub fn output_dim(&self, hidden_dim: usize) -> usize {
        hidden_dim * self.n_modes()
    }

    /// A short name for `closest model info`.
    pub fn describe(&self) -> String {
        let names = [
            (self.cls, "cls"),
            (self.max, "max"),
            (self.mean, "mean"),
            (self.mean_sqrt_len, "mean_sqrt_len"),
            (self.weighted_mean, "weightedmean"),
            (self.last_token, "lasttoken"),
        ];
        names.iter().filter(|(on, _)| *on).map(|(_, name)| *name).collect::<Vec<_>>().join("+")
    }

    /// Pools `hidden` (batch, seq, hidden) under `mask` (batch, seq) of 1/0 into (batch, dim), in f32.
    /// `lengths` are the unpadded lengths; sequences are right-padded.
    pub fn apply(&self, hidden: &Tensor, mask: &Tensor, lengths: &[usize]) -> Result<Tensor> {
        let hidden = hidden.to_dtype(DType::F32)?;
        let (batch, seq, dim) = hidden.dims3()?;
        let mask = mask.to_dtype(DType::F32)?.unsqueeze(2)?;
        let counts = mask.sum(1)?.clamp(1e-9, f64::MAX)?;
        let mut parts = Vec::with_capacity(self.n_modes());
        if self.cls {
            parts.push(hidden.narrow(1, 0, 1)?.squeeze(1)?);
        }
        if self.max {
            // Padded positions get a large negative value, as `token_embeddings[mask == 0] = -1e9`.
            let penalty = ((&mask - 1.0)? * 1e9)?;
            parts.push(hidden.broadcast_add(&penalty)?.max(1)?);
        }
        let summed = if self.mean || self.mean_sqrt_len { Some(hidden.broadcast_mul(&mask)?.sum(1)?) } else { None };
        if let (true, Some(summed)) = (self.mean, &summed) {
            parts.push(summed.broadcast_div(&counts)?);
        }
        if let (true, Some(summed)) = (self.mean_sqrt_len, &summed) {
            parts.push(summed.broadcast_div(&counts.sqrt()?)?);
        }
        if self.weighted_mean {
            let positions = Tensor::arange(1f32, seq as f32 + 1.0, hidden.device())?.reshape((1, seq, 1))?;
            let weights = mask.broadcast_mul(&positions)?;
            let total = weights.sum(1)?.clamp(1e-9, f64::MAX)?;
            parts.push(hidden.broadcast_mul(&weights)?.sum(1)?.broadcast_div(&total)?);
        }
        if self.last_token {
            let rows: Vec<u32> = lengths.iter().enumerate().map(|(row, len)| (row * seq + len.saturating_sub(1)) as u32).collect();
            let index = Tensor::new(rows.as_slice(), hidden.device())?;
            parts.push(hidden.reshape((batch * seq, dim))?.index_select(&index, 0)?);
        }
        Ok(Tensor::cat(&parts, D::Minus1)?)
    }
}
