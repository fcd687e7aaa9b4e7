//! NN-descent (Dong, Moses and Li, WWW 2011): a neighbour of a neighbour is probably a
//! neighbour, so each round compares rows that share a neighbour and keeps what is closer.
//!
//! A round follows the paper's local join with its refinements (new/old flags so no pair is
//! joined twice, sampling, reverse neighbours, early stop when few lists change). The join at a
//! row v gathers v's join set into one buffer and scores every new-new and new-old pair with one
//! small matrix product: the rows are read once per join rather than once per pair, which is
//! what bounds this step (scattered reads of 1.5 KB rows, not arithmetic).
//!
//! A join proposes each pair to both rows' lists. Proposals are collected per batch of joins,
//! grouped by target row, and each list takes its own in a fixed order (score, then id), so a
//! list has one writer and the graph never depends on the thread count or on timing.

use rayon::prelude::*;

use super::lists::{offer, ranks_before, threshold, Entry, Flag, Lists};
use super::packed::{Packed, RowSource};
use super::sets::JoinSets;
use crate::exact::products;

/// Joins whose proposals are applied together; bounds the proposals held at once (12 bytes
/// each, at most a few hundred per join) and lets later batches see earlier improvements.
const BATCH_ROWS: usize = 16_384;

/// Joins per parallel task.
const TASK_ROWS: usize = 256;

/// `row` may enter `target`'s list with `score`.
#[derive(Debug, Clone, Copy)]
struct Proposal {
    target: u32,
    row: u32,
    score: f32,
}

/// Runs rounds until one changes at most `stop_updates` list entries, or `max_rounds` have
/// run. Returns the number of changed entries of each round.
pub(super) fn descend(
    packed: &Packed,
    ids: &[u64],
    lists: &mut Lists,
    sample: usize,
    max_rounds: usize,
    stop_updates: usize,
) -> Vec<usize> {
    let mut history = Vec::new();
    let n_rows = ids.len();
    let mut floors: Vec<f32> = (0..n_rows).map(|row| threshold(lists.of(row))).collect();
    for _ in 0..max_rounds {
        let sets = JoinSets::sample(lists, sample, ids);
        for first in (0..n_rows).step_by(BATCH_ROWS) {
            let last = (first + BATCH_ROWS).min(n_rows);
            let tasks: Vec<usize> = (first..last).step_by(TASK_ROWS).collect();
            let proposals: Vec<Vec<Proposal>> = tasks
                .par_iter()
                .map_init(
                    || (Vec::new(), Vec::new()),
                    |(gathered, scores), &start| {
                        let mut out = Vec::new();
                        for via in start..(start + TASK_ROWS).min(last) {
                            join(packed, &sets, &floors, via, gathered, scores, &mut out);
                        }
                        out
                    },
                )
                .collect();
            apply(lists, &mut floors, ids, proposals);
        }
        let updates = lists
            .entries
            .par_iter()
            .filter(|entry| entry.flag == Flag::Fresh)
            .count();
        history.push(updates);
        if updates <= stop_updates {
            break;
        }
    }
    history
}

/// The local join at `via`: every pair of its join set with at least one new member, scored
/// by one product of the gathered rows, proposed to each side that it could enter.
fn join(
    packed: &Packed,
    sets: &JoinSets,
    floors: &[f32],
    via: usize,
    gathered: &mut Vec<f32>,
    scores: &mut Vec<f32>,
    out: &mut Vec<Proposal>,
) {
    let (members, n_new) = sets.of(via);
    if n_new == 0 || members.len() < 2 {
        return;
    }
    gathered.clear();
    for &member in members {
        packed.extend(member as usize, gathered);
    }
    let n_all = members.len();
    let dim = packed.dim();
    scores.clear();
    scores.resize(n_new * n_all, 0.0);
    products(&gathered[..n_new * dim], gathered, dim, scores);
    for (i, row_scores) in scores.chunks_exact(n_all).enumerate() {
        let a = members[i];
        let floor_a = floors[a as usize];
        for (j, &score) in row_scores.iter().enumerate().skip(i + 1) {
            let b = members[j];
            if score >= floor_a {
                out.push(Proposal {
                    target: a,
                    row: b,
                    score,
                });
            }
            if score >= floors[b as usize] {
                out.push(Proposal {
                    target: b,
                    row: a,
                    score,
                });
            }
        }
    }
}

/// Groups proposals by target and lets each list take its own, best first (the order within a
/// group is total, so the arrival order of proposals never matters), marking what enters
/// `Fresh` and updating each list's floor.
fn apply(lists: &mut Lists, floors: &mut [f32], ids: &[u64], proposals: Vec<Vec<Proposal>>) {
    let n_rows = lists.n_rows();
    let width = lists.width;
    let mut starts = vec![0usize; n_rows + 1];
    for proposal in proposals.iter().flatten() {
        starts[proposal.target as usize + 1] += 1;
    }
    for row in 0..n_rows {
        starts[row + 1] += starts[row];
    }
    let mut next = starts.clone();
    let mut grouped = vec![Entry::VACANT; starts[n_rows]];
    for proposal in proposals.into_iter().flatten() {
        let slot = &mut next[proposal.target as usize];
        grouped[*slot] = Entry {
            score: proposal.score,
            row: proposal.row,
            flag: Flag::Fresh,
        };
        *slot += 1;
    }
    let mut offered = grouped.as_mut_slice();
    let mut segments = Vec::with_capacity(n_rows);
    for row in 0..n_rows {
        let (head, tail) = offered.split_at_mut(starts[row + 1] - starts[row]);
        segments.push(head);
        offered = tail;
    }
    lists
        .entries
        .par_chunks_mut(width)
        .zip(floors.par_iter_mut())
        .zip(segments.into_par_iter())
        .for_each(|((list, floor), segment)| {
            if segment.is_empty() {
                return;
            }
            segment.sort_unstable_by(|a, b| {
                if ranks_before(a, b, ids) {
                    std::cmp::Ordering::Less
                } else if ranks_before(b, a, ids) {
                    std::cmp::Ordering::Greater
                } else {
                    a.row.cmp(&b.row)
                }
            });
            for &entry in segment.iter() {
                if !offer(list, entry, ids) && entry.score < threshold(list) {
                    break;
                }
            }
            *floor = threshold(list);
        });
}
