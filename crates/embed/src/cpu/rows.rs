//! The CPU pass's work on single rows: reductions, layer norm and the activation.
//!
//! These run on rows while they are still in cache from the product that wrote them, and are
//! all `inline(always)`, so each compiles into the forward pass's AVX-512, AVX2 or portable
//! build. Sums keep a fixed order of 16 lanes and no fused multiply-adds, so all three builds
//! give the same bits and a vector does not depend on the CPU that computed it.

use super::{CpuActivation, Norm};
use crate::kernels::gelu;

/// Lanes of the partial sums below: wide enough for the compiler to keep them in vector
/// registers, fixed so results do not depend on the CPU's vector width.
const LANES: usize = 16;

#[inline(always)]
pub(super) fn sum(xs: &[f32]) -> f32 {
    let (chunks, tail) = xs.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for chunk in chunks {
        for lane in 0..LANES {
            acc[lane] += chunk[lane];
        }
    }
    acc.iter().sum::<f32>() + tail.iter().sum::<f32>()
}

#[inline(always)]
pub(super) fn max(xs: &[f32]) -> f32 {
    let (chunks, tail) = xs.as_chunks::<LANES>();
    let mut acc = [f32::NEG_INFINITY; LANES];
    for chunk in chunks {
        for lane in 0..LANES {
            acc[lane] = acc[lane].max(chunk[lane]);
        }
    }
    acc.iter()
        .chain(tail)
        .copied()
        .fold(f32::NEG_INFINITY, f32::max)
}

/// `torch.nn.LayerNorm` over one row: biased variance, two passes.
#[inline(always)]
pub(super) fn layer_norm(row: &mut [f32], norm: &Norm) {
    let n = row.len() as f32;
    let mean = sum(row) / n;
    for x in row.iter_mut() {
        *x -= mean;
    }
    let (chunks, tail) = row.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for chunk in chunks {
        for lane in 0..LANES {
            acc[lane] += chunk[lane] * chunk[lane];
        }
    }
    let squares = acc.iter().sum::<f32>() + tail.iter().map(|x| x * x).sum::<f32>();
    let inv = 1.0 / (squares / n + norm.eps).sqrt();
    for ((x, w), b) in row.iter_mut().zip(&norm.weight).zip(&norm.bias) {
        *x = *x * inv * w + b;
    }
}

/// The feed-forward block's activation, in place.
#[inline(always)]
pub(super) fn activate(xs: &mut [f32], activation: CpuActivation) {
    match activation {
        CpuActivation::GeluErf => {
            for x in xs.iter_mut() {
                *x = gelu(*x);
            }
        }
        CpuActivation::Relu => {
            for x in xs.iter_mut() {
                *x = x.max(0.0);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reductions_cover_the_lanes_and_the_tail() {
        // 37 values: two full chunks of 16 and a tail of 5, the largest in the tail.
        let xs: Vec<f32> = (0..37)
            .map(|i| (i % 7) as f32 - 3.0 + i as f32 / 8.0)
            .collect();
        let want_sum: f64 = xs.iter().map(|x| f64::from(*x)).sum();
        assert!((f64::from(sum(&xs)) - want_sum).abs() < 1e-4);
        assert_eq!(
            max(&xs),
            xs.iter().copied().fold(f32::NEG_INFINITY, f32::max)
        );
        assert_eq!(max(&[]), f32::NEG_INFINITY);
    }

    #[test]
    fn layer_norm_matches_torch() {
        let mut row: Vec<f32> = (0..40).map(|i| (i * 13 % 11) as f32 * 0.3 - 1.0).collect();
        let norm = Norm {
            weight: (0..40).map(|i| 1.0 + i as f32 / 40.0).collect(),
            bias: (0..40).map(|i| i as f32 / 100.0).collect(),
            eps: 1e-12,
        };
        let n = row.len() as f64;
        let mean = row.iter().map(|x| f64::from(*x)).sum::<f64>() / n;
        let var = row
            .iter()
            .map(|x| (f64::from(*x) - mean).powi(2))
            .sum::<f64>()
            / n;
        let want: Vec<f64> = row
            .iter()
            .zip(norm.weight.iter().zip(&norm.bias))
            .map(|(x, (w, b))| (f64::from(*x) - mean) / var.sqrt() * f64::from(*w) + f64::from(*b))
            .collect();
        layer_norm(&mut row, &norm);
        for (got, want) in row.iter().zip(want) {
            assert!((f64::from(*got) - want).abs() < 1e-5, "{got} vs {want}");
        }
    }
}
