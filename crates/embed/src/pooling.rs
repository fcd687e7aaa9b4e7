//! Pooling: turns per-token hidden states into one vector per text, as
//! `sentence_transformers.models.Pooling.forward` does.
//!
//! The modes and their output order (cls, max, mean, mean_sqrt_len, weightedmean, lasttoken,
//! concatenated) follow that function, so a model with several modes gives the same layout.

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

impl Pooling {
    pub fn mean() -> Self {
        Self {
            mean: true,
            ..Self::default()
        }
    }

    /// The modes for a `pooling_mode` string of 1_Pooling/config.json.
    pub(crate) fn from_mode(mode: &str) -> Option<Self> {
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

    /// The modes that are on, by the names `pooling_mode` gives them, in concatenation order.
    fn enabled(&self) -> impl Iterator<Item = &'static str> {
        [
            (self.cls, "cls"),
            (self.max, "max"),
            (self.mean, "mean"),
            (self.mean_sqrt_len, "mean_sqrt_len"),
            (self.weighted_mean, "weightedmean"),
            (self.last_token, "lasttoken"),
        ]
        .into_iter()
        .filter(|(on, _)| *on)
        .map(|(_, name)| name)
    }

    pub fn output_dim(&self, hidden_dim: usize) -> usize {
        hidden_dim * self.enabled().count()
    }

    /// A short name for `closest model info`.
    pub fn describe(&self) -> String {
        self.enabled().collect::<Vec<_>>().join("+")
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
        // Two sequences of two tokens packed, dim 2: [(1, 10), (3, 30)] then [(5, 0), (-1, 2)].
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
