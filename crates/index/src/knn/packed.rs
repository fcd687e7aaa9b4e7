//! The rows again in half precision, for the candidate-finding steps of the graph build.
//!
//! Those steps are bound by reading scattered rows (a local join gathers some thirty rows of
//! 1.5 KB for one small product; a profile put the gather first, ahead of the products), not
//! by arithmetic, so the copy halves what they read. Unit-length rows lose nothing that matters in f16: each element keeps 11 significant
//! bits, so a 384-term cosine moves by about 1e-5, far below the gaps that decide a neighbour,
//! and every score that leaves the builder is recomputed from the f32 rows with `dot` anyway.

use std::ops::Range;

use half::f16;
use half::slice::HalfFloatSliceExt;
use rayon::prelude::*;

use crate::rows::RowsView;

/// Where the builder's trees read rows from: the f16 copy (in the caller's order for the first
/// tree, in leaf order after it) or its sketch (the caller's f32 rows in tests).
pub(super) trait RowSource: Sync {
    fn dim(&self) -> usize;
    /// Appends row `row`, as f32, to `out`.
    fn extend(&self, row: usize, out: &mut Vec<f32>);
}

#[cfg(test)]
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
    /// The rows of `rows` in their own order, converted block by block; `passed` is called
    /// with each block's rows once it is copied.
    pub(super) fn of(rows: RowsView<'_>, passed: &(dyn Fn(Range<usize>) + Sync)) -> Self {
        let dim = rows.dim;
        let mut data = vec![f16::ZERO; rows.n_rows() * dim];
        data.par_chunks_mut(PASS_ROWS * dim)
            .enumerate()
            .for_each(|(block, out)| {
                let first = block * PASS_ROWS;
                for (offset, out) in out.chunks_exact_mut(dim).enumerate() {
                    out.convert_from_f32_slice(rows.row(first + offset));
                }
                passed(first..first + out.len() / dim);
            });
        Packed { dim, data }
    }

    /// The same rows in the order `order` (position p holds what was row `order[p]`): the
    /// builder stores rows in the leaf order of its first tree, so that near neighbours lie
    /// near each other in memory and a local join mostly reads rows already in cache.
    pub(super) fn ordered(mut self, order: &[u32]) -> Self {
        permute_rows(&mut self.data, self.dim, order);
        self
    }
}

/// Rows held while a pass converts or projects them, before it lets them go.
const PASS_ROWS: usize = 16_384;

/// Puts row `order[p]` of `data` (row-major, `dim` wide) at row p, in place: one copy in
/// memory, however large, following each cycle of the permutation.
fn permute_rows<T: Copy + Default>(data: &mut [T], dim: usize, order: &[u32]) {
    let mut done = vec![false; order.len()];
    let mut held = vec![T::default(); dim];
    for start in 0..order.len() {
        if done[start] || order[start] as usize == start {
            continue;
        }
        held.copy_from_slice(&data[start * dim..(start + 1) * dim]);
        let mut at = start;
        loop {
            done[at] = true;
            let from = order[at] as usize;
            if from == start {
                data[at * dim..(at + 1) * dim].copy_from_slice(&held);
                break;
            }
            data.copy_within(from * dim..(from + 1) * dim, at * dim);
            at = from;
        }
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
    /// The sketch of every row of `rows`, in their order, block by block (`passed` is called
    /// with each block's rows once projected); `None` when the rows are no wider than the
    /// sketch.
    pub(super) fn of(
        rows: RowsView<'_>,
        seed: u64,
        passed: &(dyn Fn(Range<usize>) + Sync),
    ) -> Option<Self> {
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
        let mut data = vec![0.0f32; rows.n_rows() * SKETCH_DIMS];
        const BLOCK: usize = 1_024;
        data.par_chunks_mut(BLOCK * SKETCH_DIMS)
            .enumerate()
            .for_each_init(Vec::new, |gathered, (block, out)| {
                let first = block * BLOCK;
                let n = out.len() / SKETCH_DIMS;
                crate::exact::products(rows.tile(first, n, gathered), &directions, rows.dim, out);
                passed(first..first + n);
            });
        Some(Sketch {
            dim: SKETCH_DIMS,
            data,
        })
    }

    /// The same sketch in the builder's order (position p holds what was row `order[p]`).
    pub(super) fn ordered(mut self, order: &[u32]) -> Self {
        permute_rows(&mut self.data, self.dim, order);
        self
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Permuting in place puts row `order[p]` at p, for orders with long cycles, fixed points
    /// and swaps.
    #[test]
    fn permute_rows_gathers_in_place() {
        let dim = 3;
        for order in [
            vec![0u32, 1, 2, 3, 4],
            vec![4, 3, 2, 1, 0],
            vec![1, 2, 3, 4, 0],
            vec![2, 0, 1, 4, 3],
            vec![],
        ] {
            let data: Vec<u32> = (0..order.len() as u32 * dim as u32).collect();
            let want: Vec<u32> = order
                .iter()
                .flat_map(|&row| data[row as usize * dim..(row as usize + 1) * dim].to_vec())
                .collect();
            let mut got = data.clone();
            permute_rows(&mut got, dim, &order);
            assert_eq!(got, want, "{order:?}");
        }
    }
}
