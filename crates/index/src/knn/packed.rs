//! The rows again in half precision, for the candidate-finding steps of the graph build.
//!
//! Those steps are bound by reading scattered rows (a local join gathers some thirty rows of
//! 1.5 KB for one small product; a profile put the gather first, ahead of the products), not
//! by arithmetic, so the copy halves what they read. Unit-length rows lose nothing that matters in f16: each element keeps 11 significant
//! bits, so a 384-term cosine moves by about 1e-5, far below the gaps that decide a neighbour,
//! and every score that leaves the builder is recomputed from the f32 rows with `dot` anyway.

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use crate::rows::RowsView;

/// Where the builder reads rows from: the caller's f32 rows (for the first partition) or the
/// f16 copy (for everything after it).
pub(super) trait RowSource: Sync {
    fn dim(&self) -> usize;
    /// Appends row `row`, as f32, to `out`.
    fn extend(&self, row: usize, out: &mut Vec<f32>);
}

impl RowSource for RowsView<'_> {
    fn dim(&self) -> usize {
        self.dim
    }

    #[inline]
    fn extend(&self, row: usize, out: &mut Vec<f32>) {
        out.extend_from_slice(self.row(row));
    }
}

/// Row-major f16 copy of a set of rows, in an order of the builder's choosing.
pub(super) struct Packed {
    dim: usize,
    data: Vec<f16>,
}

impl Packed {
    /// The rows of `rows` in the order `order` (position p holds row `order[p]`). The builder
    /// stores rows in the leaf order of its first tree, so that near neighbours lie near each
    /// other in memory and a local join mostly reads rows already in cache.
    pub(super) fn ordered(rows: RowsView<'_>, order: &[u32]) -> Self {
        let dim = rows.dim;
        let mut data = vec![f16::ZERO; order.len() * dim];
        data.par_chunks_mut(dim)
            .zip(order.par_iter())
            .for_each(|(out, &row)| out.convert_from_f32_slice(rows.row(row as usize)));
        Packed { dim, data }
    }
}

impl RowSource for Packed {
    fn dim(&self) -> usize {
        self.dim
    }

    #[inline]
    fn extend(&self, row: usize, out: &mut Vec<f32>) {
        let start = out.len();
        out.resize(start + self.dim, 0.0);
        widen(
            &self.data[row * self.dim..(row + 1) * self.dim],
            &mut out[start..],
        );
    }
}

/// f16 to f32, eight at a time with F16C where the CPU has it (the conversion is exact, so
/// both paths give the same bits).
#[inline]
fn widen(from: &[f16], to: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("f16c") {
            // SAFETY: the CPU supports F16C (and so AVX), checked just above.
            unsafe { widen_f16c(from, to) };
            return;
        }
    }
    from.convert_to_f32_slice(to);
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx,f16c")]
unsafe fn widen_f16c(from: &[f16], to: &mut [f32]) {
    use std::arch::x86_64::{__m128i, _mm256_cvtph_ps, _mm256_storeu_ps, _mm_loadu_si128};
    let chunks = from.len().min(to.len()) / 8;
    for chunk in 0..chunks {
        // SAFETY: chunk * 8 + 8 <= len of both slices; loads and stores are unaligned.
        unsafe {
            let half = _mm_loadu_si128(from.as_ptr().add(chunk * 8).cast::<__m128i>());
            _mm256_storeu_ps(to.as_mut_ptr().add(chunk * 8), _mm256_cvtph_ps(half));
        }
    }
    from[chunks * 8..].convert_to_f32_slice(&mut to[chunks * 8..from.len()]);
}

/// Dimensions the trees split in when the rows have more.
pub(super) const SKETCH_DIMS: usize = 64;

/// The rows projected onto `SKETCH_DIMS` random ±1 directions (a Johnson–Lindenstrauss
/// sketch, scaled to keep lengths): what the trees' splits read. A split only has to put near
/// rows on the same side, and in 64 dimensions each level of each tree reads a third of the
/// bytes (leaves are still joined on the full rows). Row-major f32, in an order of the
/// builder's choosing.
pub(super) struct Sketch {
    dim: usize,
    data: Vec<f32>,
}

impl Sketch {
    /// The sketch of every row of `rows` in the builder's order (position p holds row
    /// `order[p]`); `None` when the rows are no wider than the sketch.
    pub(super) fn of(rows: RowsView<'_>, order: &[u32], seed: u64) -> Option<Self> {
        if rows.dim <= SKETCH_DIMS {
            return None;
        }
        let mut rng = crate::recall::SplitMix64::new(crate::recall::stream_seed(seed, u64::MAX));
        let scale = 1.0 / (SKETCH_DIMS as f32).sqrt();
        // The directions as rows of `rows.dim` (SKETCH_DIMS of them), so one product per block
        // of rows projects it.
        let directions: Vec<f32> = (0..SKETCH_DIMS * rows.dim)
            .map(|_| {
                if rng.next_u64() & 1 == 0 {
                    scale
                } else {
                    -scale
                }
            })
            .collect();
        let mut data = vec![0.0f32; order.len() * SKETCH_DIMS];
        const BLOCK: usize = 1_024;
        data.par_chunks_mut(BLOCK * SKETCH_DIMS)
            .zip(order.par_chunks(BLOCK))
            .for_each_init(Vec::new, |gathered, (out, block)| {
                gathered.clear();
                for &row in block {
                    gathered.extend_from_slice(rows.row(row as usize));
                }
                crate::exact::products(gathered, &directions, rows.dim, out);
            });
        Some(Sketch {
            dim: SKETCH_DIMS,
            data,
        })
    }
}

impl RowSource for Sketch {
    fn dim(&self) -> usize {
        self.dim
    }

    #[inline]
    fn extend(&self, row: usize, out: &mut Vec<f32>) {
        out.extend_from_slice(&self.data[row * self.dim..(row + 1) * self.dim]);
    }
}
