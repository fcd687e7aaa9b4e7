//! Recall@k and the data it is measured on.
//!
//! HNSW's quality is a number `closest bench index` reports and the tests assert on, never an
//! assumption, so the definition lives in one place: per row, the exact list's first k ids
//! (fewer when the corpus is smaller) against the approximate list's first k, summed over rows.
//!
//! The synthetic data follows the hnswlib anchor script (`hnsw_anchor.py --synthetic N`:
//! Gaussian cluster centres plus Gaussian noise, normalised), so recall and speed can be measured
//! at any size without a model. Its generator is written out here rather than taken from `rand`
//! so that a seed means the same vectors forever, and each row draws from its own stream so the
//! output does not depend on how rayon splits the work.

use std::collections::{HashMap, HashSet};

use rayon::prelude::*;

use crate::Neighbours;

/// Recall@k of `approx` against `exact`, both as returned by `all_pairs` (or the same shape for
/// a sample of rows). Rows of `exact` missing from `approx` count as zero hits. Returns 1.0 when
/// there is nothing to find.
pub fn recall_at_k(exact: &[(u64, Neighbours)], approx: &[(u64, Neighbours)], k: usize) -> f64 {
    let approx_by_id: HashMap<u64, &Neighbours> =
        approx.iter().map(|(id, list)| (*id, list)).collect();
    let mut hits = 0usize;
    let mut wanted = 0usize;
    for (id, truth) in exact {
        let truth: Vec<u64> = truth.iter().take(k).map(|n| n.id).collect();
        wanted += truth.len();
        if let Some(found) = approx_by_id.get(id) {
            let found: HashSet<u64> = found.iter().take(k).map(|n| n.id).collect();
            hits += truth.iter().filter(|id| found.contains(id)).count();
        }
    }
    if wanted == 0 {
        1.0
    } else {
        hits as f64 / wanted as f64
    }
}

/// SplitMix64: tiny, fast, and good enough to drive a Gaussian sampler.
pub(crate) struct SplitMix64(u64);

impl SplitMix64 {
    pub(crate) fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never zero, so the logarithm below is finite.
    fn unit_open(&mut self) -> f64 {
        ((self.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Two standard normal draws (Box–Muller).
    fn normal_pair(&mut self) -> (f64, f64) {
        let radius = (-2.0 * self.unit_open().ln()).sqrt();
        let angle = std::f64::consts::TAU * self.unit_open();
        (radius * angle.cos(), radius * angle.sin())
    }

    fn fill_normal(&mut self, out: &mut [f32], scale: f32) {
        for pair in out.chunks_mut(2) {
            let (a, b) = self.normal_pair();
            pair[0] = a as f32 * scale;
            if let Some(second) = pair.get_mut(1) {
                *second = b as f32 * scale;
            }
        }
    }
}

/// A seed for stream `index` of generator `seed`, decorrelated from neighbouring indices.
pub(crate) fn stream_seed(seed: u64, index: u64) -> u64 {
    SplitMix64::new(seed ^ index.wrapping_mul(0xd1b5_4a32_d192_ed03)).next_u64()
}

/// `n` unit rows of `dim` dimensions, row-major: each is a random one of `n_clusters` Gaussian
/// centres plus `noise` times Gaussian noise, normalised. With `n_clusters == 0` rows are pure
/// noise (uniform directions). The anchor data is `(n, 384, 1000, 0.6, seed)`.
pub fn synthetic_clustered(
    n: usize,
    dim: usize,
    n_clusters: usize,
    noise: f32,
    seed: u64,
) -> Vec<f32> {
    let mut centres = vec![0f32; n_clusters * dim];
    SplitMix64::new(stream_seed(seed, u64::MAX)).fill_normal(&mut centres, 1.0);
    let mut data = vec![0f32; n * dim];
    if dim == 0 {
        return data;
    }
    data.par_chunks_mut(dim).enumerate().for_each(|(row, out)| {
        let mut rng = SplitMix64::new(stream_seed(seed, row as u64));
        rng.fill_normal(out, noise);
        if n_clusters > 0 {
            let cluster = (rng.next_u64() % n_clusters as u64) as usize;
            for (value, centre) in out.iter_mut().zip(&centres[cluster * dim..]) {
                *value += centre;
            }
        }
        normalise(out);
    });
    data
}

/// Scales a row to unit length; a zero row (noise 0 and no clusters) becomes the first axis.
fn normalise(row: &mut [f32]) {
    let norm = row
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 && norm.is_finite() {
        for value in row.iter_mut() {
            *value = (f64::from(*value) / norm) as f32;
        }
    } else {
        row.fill(0.0);
        row[0] = 1.0;
    }
}

/// `n_sample` distinct indices in `0..n`, ascending, chosen by `seed` (all of them if
/// `n_sample >= n`). Used to pick query rows for latency and sampled recall.
pub fn sample_rows(n: usize, n_sample: usize, seed: u64) -> Vec<usize> {
    if n_sample >= n {
        return (0..n).collect();
    }
    // Partial Fisher–Yates over the index range.
    let mut indices: Vec<usize> = (0..n).collect();
    let mut rng = SplitMix64::new(stream_seed(seed, 0x5a3e));
    for slot in 0..n_sample {
        let pick = slot + (rng.next_u64() % (n - slot) as u64) as usize;
        indices.swap(slot, pick);
    }
    indices.truncate(n_sample);
    indices.sort_unstable();
    indices
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Neighbour;

    fn list(ids: &[u64]) -> Neighbours {
        ids.iter().map(|&id| Neighbour { id, score: 0.5 }).collect()
    }

    #[test]
    fn counts_shared_ids_within_k() {
        let exact = vec![(1, list(&[2, 3, 4])), (2, list(&[1, 3, 4]))];
        let approx = vec![(1, list(&[2, 4, 9])), (2, list(&[1, 3, 4]))];
        assert!((recall_at_k(&exact, &approx, 3) - 5.0 / 6.0).abs() < 1e-12);
        assert!((recall_at_k(&exact, &approx, 1) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn missing_rows_count_as_misses_and_empty_truth_is_perfect() {
        let exact = vec![(1, list(&[2])), (2, list(&[1]))];
        assert!((recall_at_k(&exact, &exact[..1], 1) - 0.5).abs() < 1e-12);
        assert_eq!(recall_at_k(&[], &[], 10), 1.0);
    }
}
