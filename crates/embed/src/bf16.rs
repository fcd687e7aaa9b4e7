//! The opt-in reduced-precision matrix product of the CPU pass: bf16 inputs, f32 sums, on CPUs
//! with AVX512_BF16 (`vdpbf16ps`: 32 products a cycle per instruction where f32 FMA does 16).
//!
//! gemm has no bf16 kernel for this instruction, so this is a small one of our own: weights are
//! rounded to bf16 once at load and packed in 32-column stripes of (row 2p, row 2p + 1) pairs;
//! each call rounds the activations the same way and adds the product to the output, which holds
//! the bias (or bias + residual) already. Blocking: 128 pairs of the shared dimension at a time,
//! so a stripe's block (16 KB) stays in L1 while 8-row slivers of the activations stream past it.
//! A row's sums depend only on that row and the fixed blocking, so vectors stay bit-identical
//! whatever the batch, as in the f32 pass.

/// Columns per stripe: two 16-lane registers.
const NR: usize = 32;
/// Rows per micro-kernel call: 16 accumulators, two B registers and a broadcast in 32 registers.
const MR: usize = 8;
/// Pairs of the shared dimension per block.
const KC: usize = 128;

/// Round-to-nearest-even f32 → bf16 bits (what `vcvtneps2bf16` does for finite values).
#[inline(always)]
fn bf16_bits(x: f32) -> u32 {
    let bits = x.to_bits();
    bits.wrapping_add(0x7FFF + ((bits >> 16) & 1)) >> 16
}

#[inline(always)]
fn pair(lo: f32, hi: f32) -> u32 {
    bf16_bits(lo) | (bf16_bits(hi) << 16)
}

/// Whether this CPU runs the bf16 product.
pub fn supported() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        std::arch::is_x86_feature_detected!("avx512f")
            && std::arch::is_x86_feature_detected!("avx512bf16")
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A weight matrix (in × out) rounded to bf16 and packed for `matmul_add`.
#[derive(Debug, Clone)]
pub(crate) struct PackedBf16 {
    /// Stripe s holds `pairs × NR` words from offset `s × pairs × NR`: word (p, c) is the pair
    /// (W[2p][sNR + c], W[2p + 1][sNR + c]), zero past the matrix.
    data: Vec<u32>,
    pairs: usize,
    n_in: usize,
    n_out: usize,
}

impl PackedBf16 {
    /// Packs `weight_t`, (n_in, n_out) row-major.
    pub(crate) fn pack(weight_t: &[f32], n_in: usize, n_out: usize) -> Self {
        let pairs = n_in.div_ceil(2);
        let stripes = n_out.div_ceil(NR);
        let mut data = vec![0u32; stripes * pairs * NR];
        for (stripe, block) in data.chunks_exact_mut(pairs * NR).enumerate() {
            for (p, words) in block.chunks_exact_mut(NR).enumerate() {
                for (c, word) in words.iter_mut().enumerate() {
                    let col = stripe * NR + c;
                    if col >= n_out {
                        continue;
                    }
                    let lo = weight_t[2 * p * n_out + col];
                    let hi = if 2 * p + 1 < n_in {
                        weight_t[(2 * p + 1) * n_out + col]
                    } else {
                        0.0
                    };
                    *word = pair(lo, hi);
                }
            }
        }
        Self {
            data,
            pairs,
            n_in,
            n_out,
        }
    }

    /// `out += xs · W`: `xs` is (rows, n_in) and `out` (rows, n_out), row-major. `scratch`
    /// holds the rounded activations between calls.
    #[inline(always)]
    pub(crate) fn matmul_add(&self, xs: &[f32], out: &mut [f32], scratch: &mut Vec<u32>) {
        let rows = xs.len() / self.n_in;
        debug_assert_eq!(out.len(), rows * self.n_out);
        scratch.clear();
        scratch.resize(rows * self.pairs, 0);
        for (row, words) in xs
            .chunks_exact(self.n_in)
            .zip(scratch.chunks_exact_mut(self.pairs))
        {
            let (pairs, tail) = row.as_chunks::<2>();
            for (word, [lo, hi]) in words.iter_mut().zip(pairs) {
                *word = pair(*lo, *hi);
            }
            if let Some(last) = tail.first() {
                words[self.pairs - 1] = pair(*last, 0.0);
            }
        }
        #[cfg(target_arch = "x86_64")]
        {
            assert!(supported(), "the bf16 product needs AVX512_BF16");
            // SAFETY: the CPU has AVX-512F and AVX512_BF16, asserted just above; the slices
            // have the shapes `product` documents.
            unsafe { product(scratch, rows, self, out) };
        }
        #[cfg(not(target_arch = "x86_64"))]
        unreachable!("PackedBf16 is only built where `supported()` is true");
    }
}

/// `c += a · b` with `a` (rows, b.pairs) rounded activation pairs and `c` (rows, b.n_out).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
unsafe fn product(a: &[u32], rows: usize, b: &PackedBf16, c: &mut [f32]) {
    assert!(a.len() >= rows * b.pairs && c.len() >= rows * b.n_out);
    let stripes = b.n_out.div_ceil(NR);
    for k0 in (0..b.pairs).step_by(KC) {
        let kc = KC.min(b.pairs - k0);
        for stripe in 0..stripes {
            let panel = &b.data[(stripe * b.pairs + k0) * NR..][..kc * NR];
            let cols = NR.min(b.n_out - stripe * NR);
            let mut i0 = 0;
            while i0 < rows {
                let r = MR.min(rows - i0);
                let a_block = &a[i0 * b.pairs + k0..];
                let c_tile = &mut c[i0 * b.n_out + stripe * NR..];
                // SAFETY (all arms): `a_block` holds r rows of stride `pairs` with kc words
                // each from its start, `panel` kc × NR words, and `c_tile` r rows of stride
                // n_out with `cols` floats each; the kernel reads and writes nothing else.
                unsafe {
                    match r {
                        8 => kernel::<8>(a_block, b.pairs, panel, kc, c_tile, b.n_out, cols),
                        7 => kernel::<7>(a_block, b.pairs, panel, kc, c_tile, b.n_out, cols),
                        6 => kernel::<6>(a_block, b.pairs, panel, kc, c_tile, b.n_out, cols),
                        5 => kernel::<5>(a_block, b.pairs, panel, kc, c_tile, b.n_out, cols),
                        4 => kernel::<4>(a_block, b.pairs, panel, kc, c_tile, b.n_out, cols),
                        3 => kernel::<3>(a_block, b.pairs, panel, kc, c_tile, b.n_out, cols),
                        2 => kernel::<2>(a_block, b.pairs, panel, kc, c_tile, b.n_out, cols),
                        _ => kernel::<1>(a_block, b.pairs, panel, kc, c_tile, b.n_out, cols),
                    }
                }
                i0 += r;
            }
        }
    }
}

/// R rows × 32 columns of `c += a · panel` over `kc` pairs.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bf16")]
#[inline]
unsafe fn kernel<const R: usize>(
    a: &[u32],
    a_stride: usize,
    panel: &[u32],
    kc: usize,
    c: &mut [f32],
    c_stride: usize,
    cols: usize,
) {
    use std::arch::x86_64::*;
    let mut acc = [[_mm512_setzero_ps(); 2]; R];
    let a_ptr = a.as_ptr();
    let b_ptr = panel.as_ptr();
    for p in 0..kc {
        // SAFETY: p < kc, so the two 16-word loads stay inside `panel` (kc × NR words) and the
        // broadcasts read word p of rows 0..R of `a`, which the caller guarantees.
        unsafe {
            let b0: __m512bh = std::mem::transmute(_mm512_loadu_si512(b_ptr.add(p * NR).cast()));
            let b1: __m512bh =
                std::mem::transmute(_mm512_loadu_si512(b_ptr.add(p * NR + 16).cast()));
            for (r, lanes) in acc.iter_mut().enumerate() {
                let word = *a_ptr.add(r * a_stride + p);
                let av: __m512bh = std::mem::transmute(_mm512_set1_epi32(word as i32));
                lanes[0] = _mm512_dpbf16_ps(lanes[0], av, b0);
                lanes[1] = _mm512_dpbf16_ps(lanes[1], av, b1);
            }
        }
    }
    // Masks for the valid columns of each half (all of them except in a last, narrow stripe).
    let mask = |half: usize| -> __mmask16 {
        let valid = cols.saturating_sub(16 * half).min(16);
        ((1u32 << valid) - 1) as __mmask16
    };
    let masks = [mask(0), mask(1)];
    for (r, lanes) in acc.iter().enumerate() {
        for (half, lane) in lanes.iter().enumerate() {
            // SAFETY: the mask limits the access to the `cols` floats of row r of the tile.
            unsafe {
                let ptr = c.as_mut_ptr().add(r * c_stride + 16 * half);
                let old = _mm512_maskz_loadu_ps(masks[half], ptr);
                _mm512_mask_storeu_ps(ptr, masks[half], _mm512_add_ps(old, *lane));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(n: usize, seed: u64) -> Vec<f32> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6_364_136_223_846_793_005)
                    .wrapping_add(1_442_695_040_888_963_407);
                ((state >> 40) as f32 / (1u64 << 24) as f32) - 0.5
            })
            .collect()
    }

    fn round(x: f32) -> f32 {
        f32::from_bits(bf16_bits(x) << 16)
    }

    #[test]
    fn rounding_is_to_nearest_even() {
        assert_eq!(round(1.0), 1.0);
        assert_eq!(round(-2.5), -2.5);
        // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties go to the even mantissa, 1.
        assert_eq!(round(1.0 + 1.0 / 256.0), 1.0);
        assert_eq!(round(1.0 + 3.0 / 256.0), 1.0 + 4.0 / 256.0);
    }

    #[test]
    fn matches_a_product_of_the_rounded_values() {
        if !supported() {
            eprintln!("no AVX512_BF16 on this CPU: the bf16 product is never used here");
            return;
        }
        // Odd, non-multiple sizes: a tail pair, a narrow last stripe, several k blocks, a tail
        // of rows.
        for (rows, n_in, n_out) in [(19, 301, 45), (8, 2, 32), (1, 7, 1), (33, 384, 96)] {
            let xs = values(rows * n_in, 1);
            let w = values(n_in * n_out, 2);
            let start = values(rows * n_out, 3);
            let mut out = start.clone();
            let mut scratch = Vec::new();
            PackedBf16::pack(&w, n_in, n_out).matmul_add(&xs, &mut out, &mut scratch);
            for r in 0..rows {
                for j in 0..n_out {
                    let want: f64 = f64::from(start[r * n_out + j])
                        + (0..n_in)
                            .map(|i| {
                                f64::from(round(xs[r * n_in + i]))
                                    * f64::from(round(w[i * n_out + j]))
                            })
                            .sum::<f64>();
                    let got = f64::from(out[r * n_out + j]);
                    assert!(
                        (got - want).abs() < 1e-4,
                        "{rows}x{n_in}x{n_out} at ({r}, {j}): {got} vs {want}"
                    );
                }
            }
        }
    }
}
