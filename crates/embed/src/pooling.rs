//! Pooling: turns per-token hidden states into one vector per text, as
//! `sentence_transformers.models.Pooling.forward` does.
//!
//! The modes and their output order (cls, max, mean, mean_sqrt_len, weightedmean, lasttoken,
//! concatenated) follow that function, so a model with several modes gives the same layout.

use std::path::Path;

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
        Self {
            mean: true,
            ..Self::default()
        }
    }

    /// Reads 1_Pooling/config.json: the `pooling_mode` string if present, else the boolean keys.
    pub fn from_file(path: &Path, hidden_dim: usize) -> Result<Self> {
        let file: PoolingFile = read_json(path)?;
        if let Some(dim) = file.word_embedding_dimension {
            if dim != hidden_dim {
                return Err(Error::DimensionMismatch {
                    pooling_path: path.to_owned(),
                    pooling_dim: dim,
                    hidden_dim,
                });
            }
        }
        let pooling = match file.pooling_mode.as_deref() {
            Some(mode) => Self::from_mode(mode).ok_or_else(|| Error::UnknownPooling {
                mode: mode.to_owned(),
                path: path.to_owned(),
            })?,
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
            return Err(Error::UnknownPooling {
                mode: "(none enabled)".to_owned(),
                path: path.to_owned(),
            });
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
        [
            self.cls,
            self.max,
            self.mean,
            self.mean_sqrt_len,
            self.weighted_mean,
            self.last_token,
        ]
        .iter()
        .filter(|on| **on)
        .count()
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
        names
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, name)| *name)
            .collect::<Vec<_>>()
            .join("+")
    }

    /// Pools packed hidden states: `hidden` holds (total tokens × `dim`) values in f32, sequence
    /// after sequence, with `lengths` giving each sequence's tokens. Returns one vector per
    /// sequence. Sums run in f64 in token order, so a vector depends only on its own tokens.
    pub fn pool(&self, hidden: &[f32], dim: usize, lengths: &[usize]) -> Vec<Vec<f32>> {
        let mut start = 0;
        lengths
            .iter()
            .map(|&len| {
                let rows = &hidden[start * dim..(start + len) * dim];
                start += len;
                self.pool_one(rows, dim, len)
            })
            .collect()
    }

    fn pool_one(&self, rows: &[f32], dim: usize, len: usize) -> Vec<f32> {
        let token = |index: usize| &rows[index * dim..(index + 1) * dim];
        let weighted_sum = |weight: &dyn Fn(usize) -> f64| {
            let mut sum = vec![0f64; dim];
            for index in 0..len {
                let w = weight(index);
                for (acc, value) in sum.iter_mut().zip(token(index)) {
                    *acc += w * f64::from(*value);
                }
            }
            sum
        };
        let mut out = Vec::with_capacity(self.output_dim(dim));
        if len == 0 {
            out.resize(self.output_dim(dim), 0.0);
            return out;
        }
        if self.cls {
            out.extend_from_slice(token(0));
        }
        if self.max {
            let mut max = token(0).to_vec();
            for index in 1..len {
                for (acc, value) in max.iter_mut().zip(token(index)) {
                    *acc = acc.max(*value);
                }
            }
            out.extend(max);
        }
        if self.mean || self.mean_sqrt_len {
            let sum = weighted_sum(&|_| 1.0);
            if self.mean {
                out.extend(sum.iter().map(|value| (value / len as f64) as f32));
            }
            if self.mean_sqrt_len {
                out.extend(sum.iter().map(|value| (value / (len as f64).sqrt()) as f32));
            }
        }
        if self.weighted_mean {
            // Position weights 1..=len, as `torch.arange(start=1, end=len + 1)`.
            let total = (len * (len + 1) / 2) as f64;
            out.extend(
                weighted_sum(&|index| (index + 1) as f64)
                    .iter()
                    .map(|value| (value / total) as f32),
            );
        }
        if self.last_token {
            out.extend_from_slice(token(len - 1));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_concatenate_in_sentence_transformers_order() {
        let pooling = Pooling {
            cls: true,
            max: true,
            mean: true,
            mean_sqrt_len: true,
            weighted_mean: true,
            last_token: true,
        };
        // Two sequences packed: [1, 3] then [5, -1, 2, 0] with dim 1... use dim 2 for clarity.
        let hidden = [1.0, 10.0, 3.0, 30.0, 5.0, 0.0, -1.0, 2.0];
        let out = pooling.pool(&hidden, 2, &[2, 2]);
        assert_eq!(out.len(), 2);
        let first = &out[0];
        assert_eq!(first.len(), 12);
        assert_eq!(&first[0..2], &[1.0, 10.0]); // cls
        assert_eq!(&first[2..4], &[3.0, 30.0]); // max
        assert_eq!(&first[4..6], &[2.0, 20.0]); // mean
        assert!((first[6] - 4.0 / 2f32.sqrt()).abs() < 1e-6); // mean_sqrt_len
        assert!((first[8] - 7.0 / 3.0).abs() < 1e-6); // weighted mean (1*1 + 2*3) / 3
        assert_eq!(&first[10..12], &[3.0, 30.0]); // last token
        assert_eq!(&out[1][0..2], &[5.0, 0.0]);
    }
}
