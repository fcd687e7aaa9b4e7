//! The crate's one similarity function and its one ordering, shared by every index.
//!
//! Exact and HNSW must report the same score for the same pair, and the same corpus must give
//! the same bytes whatever the thread count, so there is exactly one dot product (`dot`) whose
//! summation order is fixed, one ordering (score descending, then id ascending) and one bounded
//! selection (`TopK`) that keeps the best candidates without sorting every score.

use std::cmp::Ordering;

use crate::{Neighbour, Neighbours};

/// Lanes of independent partial sums in `dot`: lane `l` sums elements `l, l + 32, l + 64, ...`
/// in order, then the lanes are folded in halves (16, 8, 4, 2, 1). The AVX2 version below does
/// exactly these operations four registers at a time (multiply then add, no fused multiply-add),
/// so both give bit-identical results and a score never depends on the CPU it ran on.
const LANES: usize = 32;

fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let (a_chunks, a_tail) = a.as_chunks::<LANES>();
    let (b_chunks, b_tail) = b.as_chunks::<LANES>();
    let mut acc = [0f32; LANES];
    for (xs, ys) in a_chunks.iter().zip(b_chunks) {
        for lane in 0..LANES {
            acc[lane] += xs[lane] * ys[lane];
        }
    }
    let mut width = LANES;
    while width > 1 {
        width /= 2;
        for lane in 0..width {
            acc[lane] += acc[lane + width];
        }
    }
    acc[0] + dot_tail(a_tail, b_tail)
}

fn dot_tail(a: &[f32], b: &[f32]) -> f32 {
    let mut tail = 0f32;
    for (x, y) in a.iter().zip(b) {
        tail += x * y;
    }
    tail
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    let (a_chunks, a_tail) = a.as_chunks::<LANES>();
    let (b_chunks, b_tail) = b.as_chunks::<LANES>();
    // acc[j] holds lanes 8j..8j+8 of the portable version.
    let mut acc = [_mm256_setzero_ps(); 4];
    for (xs, ys) in a_chunks.iter().zip(b_chunks) {
        for (j, slot) in acc.iter_mut().enumerate() {
            // SAFETY: each chunk holds 32 floats, so offsets 8j..8j+8 are in bounds; the loads
            // are unaligned.
            let (x, y) = unsafe {
                (
                    _mm256_loadu_ps(xs.as_ptr().add(8 * j)),
                    _mm256_loadu_ps(ys.as_ptr().add(8 * j)),
                )
            };
            *slot = _mm256_add_ps(*slot, _mm256_mul_ps(x, y));
        }
    }
    // Widths 16 and 8 of the fold: whole registers.
    let sixteen = [_mm256_add_ps(acc[0], acc[2]), _mm256_add_ps(acc[1], acc[3])];
    let eight = _mm256_add_ps(sixteen[0], sixteen[1]);
    // Width 4: low half plus high half; widths 2 and 1: within the remaining four lanes.
    let four = _mm_add_ps(
        _mm256_castps256_ps128(eight),
        _mm256_extractf128_ps::<1>(eight),
    );
    let two = _mm_add_ps(four, _mm_movehl_ps(four, four));
    let one = _mm_add_ss(two, _mm_shuffle_ps::<0b01>(two, two));
    _mm_cvtss_f32(one) + dot_tail(a_tail, b_tail)
}

/// The dot product every score in this crate comes from (cosine similarity for unit rows).
#[inline]
pub fn dot(a: &[f32], b: &[f32]) -> f32 {
    debug_assert_eq!(a.len(), b.len());
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx2") {
            // SAFETY: the CPU supports AVX2, checked just above.
            return unsafe { dot_avx2(a, b) };
        }
    }
    dot_portable(a, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_of_dot_gives_the_same_bits() {
        for dim in [1, 7, 31, 32, 33, 64, 100, 384, 385, 768] {
            let a: Vec<f32> = (0..dim)
                .map(|i| ((i * 7919) % 113) as f32 / 57.0 - 1.0)
                .collect();
            let b: Vec<f32> = (0..dim)
                .map(|i| ((i * 104_729) % 97) as f32 / 41.0 - 1.2)
                .collect();
            let want = dot_portable(&a, &b);
            assert_eq!(dot(&a, &b).to_bits(), want.to_bits(), "dim {dim}");
            let naive: f64 = a
                .iter()
                .zip(&b)
                .map(|(x, y)| f64::from(*x) * f64::from(*y))
                .sum();
            assert!((f64::from(want) - naive).abs() < 1e-4, "dim {dim}");
        }
    }
}

/// A scored row on its way to becoming a `Neighbour`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Scored {
    pub(crate) score: f32,
    pub(crate) id: u64,
    pub(crate) row: u32,
}

/// Score descending, then id ascending: the one order of every result list.
#[inline]
pub(crate) fn rank_order(a: &Scored, b: &Scored) -> Ordering {
    b.score.total_cmp(&a.score).then(a.id.cmp(&b.id))
}

/// Keeps the `cap` best candidates seen so far, plus any within `tolerance` of the worst kept.
///
/// Candidates accumulate in a buffer that is cut back with a partial select when it fills, so
/// each candidate costs O(1) amortised and the common case, a score below the floor, is a single
/// comparison. The tolerance exists for scores that are about to be recomputed: gemm may round a
/// product differently from `dot`, so near-ties at the boundary are kept and settled after
/// rescoring rather than lost to rounding.
pub(crate) struct TopK {
    cap: usize,
    tolerance: f32,
    floor: f32,
    limit: usize,
    items: Vec<Scored>,
}

impl TopK {
    pub(crate) fn new(cap: usize, tolerance: f32) -> Self {
        let limit = cap + cap.max(16);
        TopK {
            cap,
            tolerance,
            floor: f32::NEG_INFINITY,
            limit,
            items: Vec::with_capacity(limit.min(1024)),
        }
    }

    /// Scores strictly below this can never enter; cheap to test before building a candidate.
    #[inline]
    pub(crate) fn floor(&self) -> f32 {
        self.floor
    }

    #[inline]
    pub(crate) fn push(&mut self, candidate: Scored) {
        if self.cap == 0 || candidate.score < self.floor {
            return;
        }
        self.items.push(candidate);
        if self.items.len() >= self.limit {
            self.compact();
        }
    }

    fn compact(&mut self) {
        if self.items.len() <= self.cap {
            return;
        }
        self.items.select_nth_unstable_by(self.cap - 1, rank_order);
        let kth = self.items[self.cap - 1].score;
        let floor = kth - self.tolerance;
        let mut kept = self.cap;
        for idx in self.cap..self.items.len() {
            if self.items[idx].score >= floor {
                self.items.swap(kept, idx);
                kept += 1;
            }
        }
        // Exact duplicates give identical gemm scores and are settled by id right here, so
        // only a bounded number of near-ties needs to wait for rescoring.
        let max_kept = 4 * self.cap + 256;
        if kept > max_kept {
            self.items[self.cap..kept].sort_unstable_by(rank_order);
            kept = max_kept;
        }
        self.items.truncate(kept);
        self.floor = floor;
        // Many near-ties (duplicate vectors) can survive a cut; growing the limit keeps the
        // amortised cost constant instead of compacting on every push.
        self.limit = (kept * 2).max(self.cap + self.cap.max(16));
    }

    /// All kept candidates, best first; may hold more than `cap` when the tolerance kept ties.
    pub(crate) fn into_sorted(mut self) -> Vec<Scored> {
        self.items.sort_unstable_by(rank_order);
        if self.tolerance == 0.0 {
            self.items.truncate(self.cap);
        }
        self.items
    }

    /// Moves another selection's candidates into this one (merging per-thread partial results).
    pub(crate) fn absorb(&mut self, other: TopK) {
        for candidate in other.items {
            self.push(candidate);
        }
    }
}

/// Orders candidates whose scores are final and keeps the first `k` as neighbours.
pub(crate) fn into_neighbours(mut candidates: Vec<Scored>, k: usize) -> Neighbours {
    candidates.sort_unstable_by(rank_order);
    candidates.truncate(k);
    candidates
        .into_iter()
        .map(|c| Neighbour {
            id: c.id,
            score: c.score,
        })
        .collect()
}

/// A candidate for the row at `row` with this score.
pub(crate) fn candidate(row: usize, score: f32) -> Scored {
    Scored {
        score,
        id: row as u64,
        row: 0,
    }
}

/// Candidates as a list of neighbours, in their order.
pub(crate) fn into_list(candidates: Vec<Scored>) -> Neighbours {
    candidates
        .into_iter()
        .map(|c| Neighbour {
            id: c.id,
            score: c.score,
        })
        .collect()
}
