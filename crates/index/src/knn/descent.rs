//! NN-descent (Dong, Moses and Li, WWW 2011): a neighbour of a neighbour is probably a
//! neighbour, so each round compares rows that share a neighbour and keeps what is closer.
//!
//! A round follows the paper's local join with its refinements (new/old flags so no pair is
//! joined twice, sampling, reverse neighbours, early stop when few lists change). The join at a
//! row v gathers v's join set into one buffer and scores every new-new and new-old pair with a
//! few small matrix products (each block of new rows against itself and the rows after it):
//! the rows are read once per join rather than once per pair, which is what bounds this step
//! (scattered reads of 768-byte f16 rows, not arithmetic).
//!
//! A join proposes each pair to both rows' lists. Proposals are collected per batch of joins,
//! grouped by target row (by bucket in each task, then by row in each bucket, on every core),
//! and each list takes its own in a fixed order (score, then id), so a list has one writer and
//! the graph never depends on the thread count or on timing.

use rayon::prelude::*;

use super::lists::{take_best, threshold, Entry, Flag, Lists};
use super::packed::{Packed, RowSource};
use super::sets::JoinSets;
use crate::exact::products_strided;

/// Joins whose proposals are applied together; bounds the proposals held at once (12 bytes
/// each, at most a few hundred per join) and lets later batches see earlier improvements.
const BATCH_ROWS: usize = 16_384;

/// Joins per parallel task.
const TASK_ROWS: usize = 256;

/// Target rows per bucket: each task hands its proposals over grouped by bucket, and each
/// bucket's lists then take theirs on one thread, so grouping a round's tens of millions of
/// proposals runs on every core and within a cache-sized range of targets.
const BUCKET_ROWS: usize = 2_048;

/// New rows of a join scored together in one product (against themselves and what follows).
const JOIN_BLOCK: usize = 32;

/// `row` may enter `target`'s list with `score`.
#[derive(Debug, Clone, Copy)]
struct Proposal {
    target: u32,
    row: u32,
    score: f32,
}

/// One task's proposals, grouped by the bucket of their target: bucket b's are
/// `proposals[starts[b]..starts[b + 1]]`.
struct Bucketed {
    proposals: Vec<Proposal>,
    starts: Vec<usize>,
}

impl Bucketed {
    fn of(proposals: &[Proposal], n_buckets: usize) -> Self {
        let mut starts = vec![0usize; n_buckets + 1];
        for proposal in proposals {
            starts[proposal.target as usize / BUCKET_ROWS + 1] += 1;
        }
        for bucket in 0..n_buckets {
            starts[bucket + 1] += starts[bucket];
        }
        let mut next = starts.clone();
        let mut grouped = vec![
            Proposal {
                target: 0,
                row: 0,
                score: 0.0,
            };
            proposals.len()
        ];
        for &proposal in proposals {
            let slot = &mut next[proposal.target as usize / BUCKET_ROWS];
            grouped[*slot] = proposal;
            *slot += 1;
        }
        Bucketed {
            proposals: grouped,
            starts,
        }
    }

    fn in_bucket(&self, bucket: usize) -> &[Proposal] {
        &self.proposals[self.starts[bucket]..self.starts[bucket + 1]]
    }
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
    between_rounds: &dyn Fn(),
) -> Vec<usize> {
    let mut history = Vec::new();
    let n_rows = ids.len();
    let n_buckets = n_rows.div_ceil(BUCKET_ROWS);
    let mut floors: Vec<f32> = (0..n_rows).map(|row| threshold(lists.of(row))).collect();
    for round in 0..max_rounds {
        if round > 0 {
            // What the round before freed (its join sets, its proposals) goes back before
            // this one samples its own.
            between_rounds();
        }
        let sets = JoinSets::sample(lists, sample, ids);
        for first in (0..n_rows).step_by(BATCH_ROWS) {
            let last = (first + BATCH_ROWS).min(n_rows);
            let tasks: Vec<usize> = (first..last).step_by(TASK_ROWS).collect();
            let proposals: Vec<Bucketed> = tasks
                .par_iter()
                .map_init(
                    || (Vec::new(), Vec::new(), Vec::new()),
                    |(gathered, scores, out), &start| {
                        out.clear();
                        for via in start..(start + TASK_ROWS).min(last) {
                            join(packed, &sets, &floors, via, gathered, scores, out);
                        }
                        Bucketed::of(out, n_buckets)
                    },
                )
                .collect();
            apply(lists, &mut floors, ids, &proposals);
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
    // Only pairs (i, j > i) are read: each block of new rows is scored against itself and
    // the rows after it, not the rows before it.
    for first in (0..n_new).step_by(JOIN_BLOCK) {
        let last = (first + JOIN_BLOCK).min(n_new);
        products_strided(
            &gathered[first * dim..last * dim],
            &gathered[first * dim..],
            dim,
            &mut scores[first * n_all + first..],
            n_all,
        );
    }
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

/// Lets each list take the proposals made to it, best first (the order within a list's
/// proposals is total, so their arrival order never matters), marking what enters `Fresh` and
/// updating each list's floor. Buckets of target rows run in parallel, each grouping its
/// proposals by target in a buffer of its own.
fn apply(lists: &mut Lists, floors: &mut [f32], ids: &[u64], proposals: &[Bucketed]) {
    let width = lists.width;
    if width == 0 {
        return;
    }
    lists
        .entries
        .par_chunks_mut(BUCKET_ROWS * width)
        .zip(floors.par_chunks_mut(BUCKET_ROWS))
        .enumerate()
        .for_each_init(
            || (Vec::new(), Vec::new()),
            |(starts, grouped), (bucket, (entries, floors))| {
                let first_row = bucket * BUCKET_ROWS;
                let n_rows = floors.len();
                starts.clear();
                starts.resize(n_rows + 1, 0usize);
                for task in proposals {
                    for proposal in task.in_bucket(bucket) {
                        starts[proposal.target as usize - first_row + 1] += 1;
                    }
                }
                for row in 0..n_rows {
                    starts[row + 1] += starts[row];
                }
                if starts[n_rows] == 0 {
                    return;
                }
                grouped.clear();
                grouped.resize(starts[n_rows], Entry::VACANT);
                // Each target's next free slot; after the scatter, `starts[row]` is the end of
                // the row's proposals (the start of the next row's).
                for task in proposals {
                    for proposal in task.in_bucket(bucket) {
                        let slot = &mut starts[proposal.target as usize - first_row];
                        grouped[*slot] = Entry {
                            score: proposal.score,
                            row: proposal.row,
                            flag: Flag::Fresh,
                        };
                        *slot += 1;
                    }
                }
                let mut start = 0;
                for (row, (list, floor)) in entries
                    .chunks_exact_mut(width)
                    .zip(floors.iter_mut())
                    .enumerate()
                {
                    let end = starts[row];
                    if end > start {
                        take_best(list, &mut grouped[start..end], ids);
                        *floor = threshold(list);
                    }
                    start = end;
                }
            },
        );
}
