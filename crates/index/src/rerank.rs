//! Neighbourhood re-ranking: a row's candidates ordered again by vectors that also carry their
//! own nearest neighbours.
//!
//! A note's vector says what that note says; the notes nearest to it say what its topic is.
//! Adding to each vector its few nearest neighbours' vectors, weighted by how near they are
//! (database-side augmentation, a standard step of image and text retrieval), pulls notes of
//! one topic together and pushes a lone lookalike out. On the shared labelled sets it raised the
//! same-label share of every set by one to three points over the fused score alone
//! (BENCHMARKS.md, issue 14). Only the candidates a row already has are re-ordered: a row's final
//! list is a pure function of its candidate list, its candidates' candidate lists and the
//! vectors, so the candidate lists stay exact and patchable (`lists.rs`), and a final list is
//! recomputed exactly when one of those inputs changed.

use std::cmp::Ordering;

use crate::topk::dot;
use crate::{Neighbour, Neighbours};

/// Nearest candidates added into a row's vector.
pub const AUGMENT_NEIGHBOURS: usize = 5;

/// Each added vector is weighted by its score to this power (clipped at 0), so that near
/// neighbours count and far ones barely do.
const AUGMENT_POWER: i32 = 3;

/// The augmented unit vector of a row: its vector plus its first [`AUGMENT_NEIGHBOURS`]
/// candidates' vectors, each weighted by max(score, 0)³, in candidate order.
pub fn augment(vector: &[f32], neighbours: &[(&[f32], f32)]) -> Vec<f32> {
    let mut out = vector.to_vec();
    for (other, score) in neighbours.iter().take(AUGMENT_NEIGHBOURS) {
        let weight = score.max(0.0).powi(AUGMENT_POWER);
        if weight == 0.0 {
            continue;
        }
        for (x, y) in out.iter_mut().zip(other.iter()) {
            *x += weight * y;
        }
    }
    let norm = out
        .iter()
        .map(|x| f64::from(*x) * f64::from(*x))
        .sum::<f64>()
        .sqrt();
    if norm > 0.0 {
        for x in &mut out {
            *x = (f64::from(*x) / norm) as f32;
        }
    }
    out
}

/// A candidate to re-rank: its id, its augmented vector and its lexical score with the row.
pub struct Candidate<'a> {
    pub id: u64,
    pub augmented: &'a [f32],
    pub lexical: f32,
}

/// The candidates ordered by `(1 - w) · dot(augmented) + w · lexical` (w = `lexical_weight`,
/// 0 without one), best first, ties by id; each neighbour carries that score.
pub fn rerank(
    augmented: &[f32],
    candidates: &[Candidate<'_>],
    lexical_weight: Option<f32>,
) -> Neighbours {
    let mut list: Neighbours = candidates
        .iter()
        .map(|candidate| {
            let cosine = dot(augmented, candidate.augmented);
            let score = match lexical_weight {
                Some(w) => (1.0 - w) * cosine + w * candidate.lexical,
                None => cosine,
            };
            Neighbour {
                id: candidate.id,
                score,
            }
        })
        .collect();
    list.sort_by(|a, b| match b.score.total_cmp(&a.score) {
        Ordering::Equal => a.id.cmp(&b.id),
        other => other,
    });
    list
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn augmenting_pulls_a_row_towards_its_near_neighbours_only() {
        let v = [1.0f32, 0.0];
        let near = [0.0f32, 1.0];
        let a = augment(&v, &[(&near, 1.0), (&near, 0.0), (&near, -0.5)]);
        let expected = std::f32::consts::FRAC_1_SQRT_2;
        assert!((a[0] - expected).abs() < 1e-6 && (a[1] - expected).abs() < 1e-6);
        assert_eq!(augment(&v, &[]), v.to_vec());
    }

    #[test]
    fn rerank_orders_by_score_then_id() {
        let a = [1.0f32, 0.0];
        let (x, y) = ([1.0f32, 0.0], [0.0f32, 1.0]);
        let candidates = [
            Candidate {
                id: 3,
                augmented: &y,
                lexical: 1.0,
            },
            Candidate {
                id: 2,
                augmented: &x,
                lexical: 0.0,
            },
            Candidate {
                id: 1,
                augmented: &x,
                lexical: 0.0,
            },
        ];
        let ids = |list: Neighbours| list.iter().map(|n| n.id).collect::<Vec<_>>();
        assert_eq!(ids(rerank(&a, &candidates, None)), [1, 2, 3]);
        assert_eq!(ids(rerank(&a, &candidates, Some(0.6))), [3, 1, 2]);
    }
}
