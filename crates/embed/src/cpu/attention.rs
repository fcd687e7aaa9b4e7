//! Self-attention on packed sequences, without moving Q, K or V.
//!
//! The fused projection leaves each token's query, key and value side by side in one row of
//! `qkv` (tokens, 3 × hidden), and a head's slice of them is a band of `head_dim` columns. With
//! strides, gemm reads Q, Kᵀ and V right there and writes each head's context straight into its
//! band of the output, so attention costs two products and a softmax per sequence and head, and
//! nothing else: no transposes into (heads, tokens, head_dim), no copies back. Sequences are
//! packed, so each one attends only to its own tokens and needs no mask.

use super::matmul::{MatMul, Strides};
use super::rows::{max, sum};
use super::CpuBert;
use crate::kernels::exp_nonpositive;

impl CpuBert {
    /// Self-attention of every sequence and head: scores = Q·Kᵀ/√d, softmax per row, context =
    /// probabilities·V, with Q, K and V read in place from `qkv` (tokens, 3 × hidden) and each
    /// head's context written in place into `context` (tokens, hidden). `scores` holds at least
    /// the longest sequence's length squared.
    #[inline(always)]
    pub(super) fn attention(
        &self,
        qkv: &[f32],
        lengths: &[usize],
        scores: &mut [f32],
        context: &mut [f32],
    ) {
        let h = self.hidden;
        let d = self.head_dim;
        let scale = 1.0 / (d as f32).sqrt();
        // A head's queries, keys or values: `d` columns of rows 3h apart.
        let qkv_rows = Strides::rows(3 * h);
        let mut start = 0;
        for &len in lengths {
            for head in 0..self.n_heads {
                let q = &qkv[start * 3 * h + head * d..];
                let k = &qkv[start * 3 * h + h + head * d..];
                let v = &qkv[start * 3 * h + 2 * h + head * d..];
                let s = &mut scores[..len * len];
                MatMul {
                    rows: len,
                    cols: len,
                    depth: d,
                    dst: Strides::rows(len),
                    lhs: qkv_rows,
                    rhs: qkv_rows.transposed(),
                    accumulate: false,
                    scale,
                }
                .run(s, q, k);
                for row in s.chunks_exact_mut(len) {
                    softmax(row);
                }
                MatMul {
                    rows: len,
                    cols: d,
                    depth: len,
                    dst: Strides::rows(h),
                    lhs: Strides::rows(len),
                    rhs: qkv_rows,
                    accumulate: false,
                    scale: 1.0,
                }
                .run(&mut context[start * h + head * d..], s, v);
            }
            start += len;
        }
    }
}

/// Softmax of one row of scores, in place.
#[inline(always)]
fn softmax(row: &mut [f32]) {
    let top = max(row);
    for x in row.iter_mut() {
        *x = exp_nonpositive(*x - top);
    }
    let inv = 1.0 / sum(row);
    for x in row.iter_mut() {
        *x *= inv;
    }
}

#[cfg(test)]
mod tests {
    use crate::cpu::tests::tiny;
    use crate::cpu::{CpuBert, Precision};

    #[test]
    fn each_head_of_each_sequence_attends_only_to_its_own_tokens() {
        // The tiny model: hidden 40, 5 heads of 8.
        let (config, vb) = tiny("gelu");
        let bert = CpuBert::load(vb, &config, Precision::F32).expect("loads");
        let (h, d) = (40, 8);
        let lengths = [3, 1, 4];
        let qkv: Vec<f32> = (0..8 * 3 * h)
            .map(|i| (i * 37 % 101) as f32 / 50.0 - 1.0)
            .collect();
        let mut scores = vec![0f32; 4 * 4];
        // NaN wherever attention fails to write.
        let mut context = vec![f32::NAN; 8 * h];
        bert.attention(&qkv, &lengths, &mut scores, &mut context);
        let mut start = 0;
        for len in lengths {
            for head in 0..5 {
                // Part 0, 1 or 2 (query, key, value) of a token of this sequence and head.
                let at = |token: usize, part: usize, col: usize| {
                    f64::from(qkv[(start + token) * 3 * h + part * h + head * d + col])
                };
                for i in 0..len {
                    let logits: Vec<f64> = (0..len)
                        .map(|j| (0..d).map(|c| at(i, 0, c) * at(j, 1, c)).sum::<f64>())
                        .map(|dot| dot / (d as f64).sqrt())
                        .collect();
                    let top = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let weights: Vec<f64> = logits.iter().map(|l| (l - top).exp()).collect();
                    let total: f64 = weights.iter().sum();
                    for c in 0..d {
                        let want: f64 = (0..len).map(|j| weights[j] / total * at(j, 2, c)).sum();
                        let got = f64::from(context[(start + i) * h + head * d + c]);
                        assert!((got - want).abs() < 1e-5, "{got} vs {want}");
                    }
                }
            }
            start += len;
        }
    }
}
