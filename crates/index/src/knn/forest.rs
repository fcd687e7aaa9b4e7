//! The start of the k-nearest graph: a few random-projection trees whose leaves are joined
//! exactly, leaf against itself, with one gemm each.
//!
//! NN-descent converges in a handful of rounds from a good start, and a leaf of a few hundred
//! rows that a tree has cut out of the data already holds most of each row's true neighbours.
//! Scoring a leaf is a matrix product, which runs an order of magnitude faster per pair than the
//! scattered single dot products of the later rounds, so the start is made deliberately strong:
//! big leaves, several trees. Each tree splits a node at the median of the rows' projections on
//! the direction between two means of a small 2-means clustering of its rows (see `split` for
//! why not a plain random projection), with every draw from a generator seeded by the tree and
//! the node's position, so the partition never depends on thread timing.

use rayon::prelude::*;

use super::lists::{take_best, threshold, Entry, Flag, Lists};
use super::packed::{Packed, RowSource};
use crate::exact::products_strided;
use crate::recall::{stream_seed, SplitMix64};
use crate::topk::dot;

/// Nodes at least this large are split on both cores: below it rayon's overhead dominates.
const PARALLEL_SPLIT_MIN: usize = 4_096;

/// The first tree, on the f16 copy of the rows in the caller's order: its leaf
/// order becomes the builder's row order. Returns the order (position p holds row `order[p]`)
/// and the leaves as ranges of positions.
pub(super) fn first_partition(
    rows: &impl RowSource,
    n_rows: usize,
    leaf_size: usize,
    seed: u64,
) -> (Vec<u32>, Vec<(usize, usize)>) {
    let mut order: Vec<u32> = (0..n_rows as u32).collect();
    let leaves = split(rows, &mut order, stream_seed(seed, 0), 1, leaf_size, 0);
    (order, leaves)
}

/// Offers every row the other rows of its leaf in each tree of `trees`: tree 0 is the first
/// partition, `first_leaves` (ranges of the builder's order); tree t > 0 is seeded by t, so a
/// build that adds trees later gets the same trees as one that built them all at once.
///
/// Trees split `split_rows` (the packed rows or their sketch, in the builder's order) and join
/// leaves on `packed`. They run one after the other and the leaves of one tree in parallel: a
/// row lies in exactly one leaf per tree, so no two tasks touch the same list.
#[allow(clippy::too_many_arguments)]
pub(super) fn seed_lists(
    packed: &Packed,
    split_rows: &(impl RowSource + ?Sized),
    ids: &[u64],
    lists: &mut Lists,
    first_leaves: &[(usize, usize)],
    trees: std::ops::Range<usize>,
    leaf_size: usize,
    seed: u64,
) {
    let n_rows = ids.len();
    let width = lists.width;
    for tree in trees {
        let mut order: Vec<u32> = (0..n_rows as u32).collect();
        let leaves = if tree == 0 {
            first_leaves.to_vec()
        } else {
            split(
                split_rows,
                &mut order,
                stream_seed(seed, tree as u64),
                1,
                leaf_size,
                0,
            )
        };
        let joined: Vec<Vec<Entry>> = leaves
            .par_iter()
            .map_init(
                || (Vec::new(), Vec::new()),
                |(gathered, scores), &(start, len)| {
                    join_leaf(
                        packed,
                        ids,
                        lists,
                        &order[start..start + len],
                        gathered,
                        scores,
                    )
                },
            )
            .collect();
        for (&(start, len), entries) in leaves.iter().zip(joined) {
            for (&row, list) in order[start..start + len]
                .iter()
                .zip(entries.chunks_exact(width))
            {
                let row = row as usize;
                lists.entries[row * width..(row + 1) * width].copy_from_slice(list);
            }
        }
    }
}

/// Members of a node whose 2-means picks the split direction: enough to average away the
/// noise of single rows, few enough that choosing costs little next to projecting the node.
const SPLIT_SAMPLE: usize = 128;

/// 2-means rounds on the sample.
const SPLIT_ROUNDS: usize = 2;

/// Reorders `members` so that each leaf of the tree is contiguous, and returns the leaves as
/// (start, length) in that order.
///
/// A node is split across the direction between the two means of a 2-means clustering of a
/// sample of its rows, at the point where the nearer mean changes, kept between the first and
/// last quarter of the rows. The median of a projection on the difference of two single rows
/// (the classic RP tree) cuts clusters apart: in 384 dimensions a single row's noise projects as
/// far as the distance between cluster centres. Means of many rows average that noise away,
/// so leaves keep near neighbours together: on 100,000 synthetic clustered rows the trees alone
/// reached recall@10 0.68 with 2 trees of 512-row leaves, where median cuts of single-row
/// projections reached 0.39 with 2 trees of 2,048 and 0.58 with 8 trees of 256.
fn split(
    rows: &(impl RowSource + ?Sized),
    members: &mut [u32],
    seed: u64,
    node: u64,
    leaf_size: usize,
    offset: usize,
) -> Vec<(usize, usize)> {
    let len = members.len();
    if len <= leaf_size {
        return vec![(offset, len)];
    }
    let mut rng = SplitMix64::new(stream_seed(seed, node));
    let (normal, cut) = split_direction(rows, members, &mut rng);
    let project = |buffer: &mut Vec<f32>, &row: &u32| {
        buffer.clear();
        rows.extend(row as usize, buffer);
        (dot(&normal, buffer), row)
    };
    let mut keyed: Vec<(f32, u32)> = if len >= PARALLEL_SPLIT_MIN {
        members.par_iter().map_init(Vec::new, project).collect()
    } else {
        let mut buffer = Vec::new();
        members
            .iter()
            .map(|row| project(&mut buffer, row))
            .collect()
    };
    let below = keyed.iter().filter(|(p, _)| *p < cut).count();
    let margin = (len / 4).max(1);
    let mid = below.clamp(margin, len - margin);
    // Equal projections (duplicate rows) are ordered by row, so the split is a function of
    // the data alone.
    keyed.select_nth_unstable_by(mid, |x, y| x.0.total_cmp(&y.0).then(x.1.cmp(&y.1)));
    for (slot, (_, row)) in members.iter_mut().zip(keyed) {
        *slot = row;
    }
    let (left, right) = members.split_at_mut(mid);
    let (mut first, second) = if len >= PARALLEL_SPLIT_MIN {
        rayon::join(
            || split(rows, left, seed, node * 2, leaf_size, offset),
            || split(rows, right, seed, node * 2 + 1, leaf_size, offset + mid),
        )
    } else {
        (
            split(rows, left, seed, node * 2, leaf_size, offset),
            split(rows, right, seed, node * 2 + 1, leaf_size, offset + mid),
        )
    };
    first.extend(second);
    first
}

/// The direction between the two means of a 2-means clustering of a sample of `members`,
/// started from two sampled rows, and the projection at which the nearer mean changes.
fn split_direction(
    rows: &(impl RowSource + ?Sized),
    members: &[u32],
    rng: &mut SplitMix64,
) -> (Vec<f32>, f32) {
    let len = members.len();
    let mut gathered = Vec::new();
    for _ in 0..SPLIT_SAMPLE.min(len) {
        rows.extend(
            members[(rng.next_u64() % len as u64) as usize] as usize,
            &mut gathered,
        );
    }
    let dim = rows.dim();
    let sample: Vec<&[f32]> = gathered.chunks_exact(dim).collect();
    let first = (rng.next_u64() % sample.len() as u64) as usize;
    let second = (first + 1 + (rng.next_u64() % (sample.len() as u64 - 1)) as usize) % sample.len();
    let mut means = [sample[first].to_vec(), sample[second].to_vec()];
    let mut sums = [vec![0f64; dim], vec![0f64; dim]];
    for _ in 0..SPLIT_ROUNDS {
        let (normal, cut) = direction(&means);
        sums.iter_mut().for_each(|sum| sum.fill(0.0));
        let mut counts = [0usize; 2];
        for row in &sample {
            let side = usize::from(dot(&normal, row) < cut);
            counts[side] += 1;
            for (total, &value) in sums[side].iter_mut().zip(*row) {
                *total += f64::from(value);
            }
        }
        if counts.contains(&0) {
            break;
        }
        for side in 0..2 {
            for (mean, total) in means[side].iter_mut().zip(&sums[side]) {
                *mean = (total / counts[side] as f64) as f32;
            }
        }
    }
    direction(&means)
}

/// For means a and b: the normal a − b and the cut (|a|² − |b|²) / 2, so that a row projects
/// below the cut exactly when b is the nearer mean.
fn direction(means: &[Vec<f32>; 2]) -> (Vec<f32>, f32) {
    let normal: Vec<f32> = means[0].iter().zip(&means[1]).map(|(a, b)| a - b).collect();
    let cut = (dot(&means[0], &means[0]) - dot(&means[1], &means[1])) / 2.0;
    (normal, cut)
}

/// The lists of a leaf's rows after offering each the others: one symmetric m × m product of
/// the gathered rows, then each row takes the best of the others above its list's floor
/// (`take_best`). Returns the lists in leaf order.
fn join_leaf(
    packed: &Packed,
    ids: &[u64],
    lists: &Lists,
    leaf: &[u32],
    gathered: &mut Vec<f32>,
    scores: &mut Vec<f32>,
) -> Vec<Entry> {
    let m = leaf.len();
    gathered.clear();
    for &row in leaf {
        packed.extend(row as usize, gathered);
    }
    scores.clear();
    scores.resize(m * m, 0.0);
    symmetric_products(gathered, packed.dim(), m, scores);
    let mut out = Vec::with_capacity(m * lists.width);
    let mut offered = Vec::with_capacity(m);
    for (own, (&row, row_scores)) in leaf.iter().zip(scores.chunks_exact(m)).enumerate() {
        let start = out.len();
        out.extend_from_slice(lists.of(row as usize));
        let list = &mut out[start..];
        let floor = threshold(list);
        offered.clear();
        offered.extend(
            row_scores
                .iter()
                .zip(leaf)
                .enumerate()
                .filter(|&(other, (&score, _))| other != own && score >= floor)
                .map(|(_, (&score, &other))| Entry {
                    score,
                    row: other,
                    flag: Flag::New,
                }),
        );
        take_best(list, &mut offered, ids);
    }
    out
}

/// Rows per block of a leaf's symmetric product.
const GRAM_BLOCK: usize = 128;

/// The m × m products of m gathered rows (`out[i * m + j] = row_i · row_j`), computing the
/// blocks on and above the diagonal and mirroring the rest: about five eighths of the full
/// product's arithmetic on a 512-row leaf, and exactly symmetric.
fn symmetric_products(gathered: &[f32], dim: usize, m: usize, out: &mut [f32]) {
    for first in (0..m).step_by(GRAM_BLOCK) {
        let rows = &gathered[first * dim..(first + GRAM_BLOCK).min(m) * dim];
        let others = &gathered[first * dim..];
        products_strided(rows, others, dim, &mut out[first * m + first..], m);
    }
    // Below the diagonal from above it (the diagonal blocks too, so the matrix is exactly
    // symmetric whatever the kernel's rounding).
    for i in 0..m {
        for j in 0..i {
            out[i * m + j] = out[j * m + i];
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rows::RowsView;

    #[test]
    fn leaves_tile_the_rows_and_stay_within_size() {
        let dim = 8;
        for (n, leaf) in [
            (1, 4),
            (4, 4),
            (5, 4),
            (1_000, 64),
            (1_025, 64),
            (3_000, 100),
        ] {
            let data = crate::synthetic_clustered(n, dim, 7, 0.3, n as u64);
            let ids: Vec<u64> = (0..n as u64).collect();
            let rows = RowsView {
                dim,
                data: &data,
                ids: &ids,
                slots: None,
                fetch: None,
            };
            let (mut order, leaves) = first_partition(&rows, n, leaf, 3);
            let mut next = 0;
            for &(start, len) in &leaves {
                assert_eq!(start, next);
                assert!(len <= leaf && len > 0, "{n} rows, leaf {leaf}: {len}");
                next += len;
            }
            assert_eq!(next, n);
            order.sort_unstable();
            assert!(order.iter().enumerate().all(|(i, &r)| i == r as usize));
        }
    }
}
