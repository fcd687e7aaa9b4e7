//! CPU kernels where candle's generic op is the bottleneck.
//!
//! candle's `gelu_erf` evaluates libm's `erf` one element at a time on one thread; on this
//! model that was a large share of the forward pass. `gelu_erf` here computes the same function,
//! `0.5 x (1 + erf(x / √2))` as in `transformers.activations.GELUActivation`, with branch-free
//! polynomial `exp` and `erf` that the compiler vectorises, split across the rayon pool. Its
//! absolute error stays below the bound the tests check, well inside the parity tolerance.
//! Other devices and dtypes use candle's op.

use candle_core::{CpuStorage, CustomOp1, DType, Device, Layout, Shape, Tensor};
use rayon::prelude::*;

/// GELU with the exact (erf) formulation.
pub fn gelu_erf(xs: &Tensor) -> candle_core::Result<Tensor> {
    if matches!(xs.device(), Device::Cpu) && xs.dtype() == DType::F32 && xs.is_contiguous() {
        xs.apply_op1_no_bwd(&GeluErf)
    } else {
        xs.gelu_erf()
    }
}

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "closest-gelu-erf"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let CpuStorage::F32(data) = storage else {
            return Err(candle_core::Error::Msg(
                "closest-gelu-erf takes f32".to_owned(),
            ));
        };
        let (start, end) = layout.contiguous_offsets().ok_or_else(|| {
            candle_core::Error::Msg("closest-gelu-erf takes contiguous input".to_owned())
        })?;
        let input = &data[start..end];
        let mut output = vec![0f32; input.len()];
        output
            .par_chunks_mut(8192)
            .zip(input.par_chunks(8192))
            .for_each(|(out, inp)| {
                for (o, &x) in out.iter_mut().zip(inp) {
                    *o = gelu(x);
                }
            });
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }
}

#[inline(always)]
pub(crate) fn gelu(x: f32) -> f32 {
    0.5 * x * (1.0 + erf(x * std::f32::consts::FRAC_1_SQRT_2))
}

/// erf by Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7), odd-extended.
#[inline(always)]
fn erf(x: f32) -> f32 {
    let a = x.abs();
    let t = 1.0 / (1.0 + 0.327_591_1 * a);
    let poly = t
        * (0.254_829_6
            + t * (-0.284_496_74 + t * (1.421_413_7 + t * (-1.453_152_1 + t * 1.061_405_4))));
    let y = 1.0 - poly * exp_nonpositive(-a * a);
    y.copysign(x)
}

/// e^x for x ≤ 0 down to about −87 (below that it returns 0), by range reduction to
/// [−ln2/2, ln2/2] and a degree-6 polynomial; relative error about 2e-7.
#[inline(always)]
pub(crate) fn exp_nonpositive(x: f32) -> f32 {
    // Not `clamp`: that keeps NaN, and NaN must not reach `to_int_unchecked`; `max` maps it
    // to −87.
    #[allow(clippy::manual_clamp)]
    let x = x.max(-87.0).min(0.0);
    // Ties to even: one instruction with SSE4.1 and up, where `round` is a library call.
    let n = (x * std::f32::consts::LOG2_E).round_ties_even();
    let r = x - n * 0.693_359_4 + n * 2.121_944_4e-4;
    let p = 1.0
        + r * (1.0
            + r * (0.5
                + r * (0.166_666_67
                    + r * (0.041_666_67 + r * (0.008_333_334 + r * 0.001_388_889)))));
    // SAFETY: `x` is in [−87, 0], so `n` is a whole number in [−126, 0], which i32 holds.
    // `as i32` would be defined for any input but keeps the compiler from vectorising loops.
    let n = unsafe { n.to_int_unchecked::<i32>() };
    p * f32::from_bits(((n + 127) as u32) << 23)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gelu_matches_the_exact_formula() {
        let mut worst = 0f64;
        for step in -20_000..=20_000 {
            let x = step as f32 * 0.001;
            let exact =
                0.5 * f64::from(x) * (1.0 + libm_erf(f64::from(x) / std::f64::consts::SQRT_2));
            worst = worst.max((f64::from(gelu(x)) - exact).abs());
        }
        assert!(worst < 3e-6, "worst absolute error {worst}");
    }

    #[test]
    fn exp_is_accurate_on_its_range_and_total_outside_it() {
        for step in 0..=86_000 {
            let x = -(step as f32) * 0.001;
            let exact = f64::from(x).exp();
            let relative = (f64::from(exp_nonpositive(x)) - exact).abs() / exact;
            assert!(relative < 1e-6, "e^{x}: relative error {relative}");
        }
        assert_eq!(exp_nonpositive(0.0), 1.0);
        assert_eq!(exp_nonpositive(5.0), 1.0, "positive inputs clamp to 0");
        assert!(exp_nonpositive(-1e30) < 1e-37);
        assert!(exp_nonpositive(f32::NAN).is_finite());
        assert!(exp_nonpositive(f32::NEG_INFINITY).is_finite());
    }

    #[test]
    fn candle_and_ours_agree_on_a_tensor() {
        let xs = Tensor::arange(-600f32, 600.0, &Device::Cpu)
            .expect("arange")
            .affine(0.01, 0.0)
            .expect("scale")
            .reshape((40, 30))
            .expect("reshape");
        let ours: Vec<f32> = gelu_erf(&xs)
            .expect("ours")
            .flatten_all()
            .expect("flat")
            .to_vec1()
            .expect("vec");
        let theirs: Vec<f32> = xs
            .gelu_erf()
            .expect("candle")
            .flatten_all()
            .expect("flat")
            .to_vec1()
            .expect("vec");
        for (a, b) in ours.iter().zip(&theirs) {
            assert!((a - b).abs() < 3e-6, "{a} vs {b}");
        }
    }

    /// A reference erf in f64: Simpson's rule on 2/√π ∫₀ˣ e^(−t²) dt, accurate far beyond f32.
    fn libm_erf(x: f64) -> f64 {
        let n = 2000;
        let h = x / n as f64;
        let f = |t: f64| (-t * t).exp();
        let mut sum = f(0.0) + f(x);
        for i in 1..n {
            sum += f(i as f64 * h) * if i % 2 == 1 { 4.0 } else { 2.0 };
        }
        sum * h / 3.0 * 2.0 / std::f64::consts::PI.sqrt()
    }
}
