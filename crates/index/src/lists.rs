//! Keeping every row's candidate list exact while rows come and go, at the cost of what changed.
//!
//! A folder's `update` runs after every few edits. Recomputing every note's nearest neighbours
//! from scratch costs N² dot products whatever changed; keeping each row's best few candidates
//! between runs and patching them costs (changed rows) × N. The invariant that makes patching
//! exact: a stored list is the exact best `len()` other rows, in `rank_order` (score descending,
//! id ascending), with every score from the one canonical `dot`. Then
//!
//! - dropping a row that left (deleted, or whose vector or id changed) from a list leaves the
//!   exact best `len() - 1` of the rows that remain;
//! - a row with a new vector belongs in a list exactly when it beats the list's last entry, or
//!   when the list already holds every other row;
//! - a list that shrank below what its row needs is recomputed with one scan of all rows.
//!
//! Ids are positions in the caller's order (notes sorted by id), so ties break the same way as
//! in a from-scratch `all_pairs`, and the patched lists equal the recomputed ones bit for bit.

use std::cmp::Ordering;

use rayon::prelude::*;

use crate::lexical::{Lexical, Matches, Scorer};
use crate::topk::{dot, rank_order, Candidate, TopK};
use crate::{Neighbour, Neighbours};

/// Rows handled per parallel task in a pass over all rows.
const PASS_BLOCK: usize = 2048;

/// What each row's list must hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ListSize {
    /// Entries the row needs to render its section (k plus any it may filter out).
    pub need: usize,
    /// Entries kept when the list is (re)computed: `need` plus a margin, so that a few
    /// departures do not force a rescan.
    pub keep: usize,
}

/// The outcome of `patch`: which rows' lists changed, and how much work it took.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PatchStats {
    /// Rows whose list is new or different.
    pub touched: Vec<bool>,
    /// Lists recomputed with a full scan because departures left them too short.
    pub rescanned: usize,
    /// Rows whose vectors were new to every list.
    pub inserted: usize,
}

/// Every row's exact best `sizes[row].keep` other rows, by a full scan per row. The reference
/// for tests and the path for rows with no stored list.
pub fn scan_lists(scorer: Scorer<'_>, positions: &[usize], sizes: &[ListSize]) -> Vec<Neighbours> {
    positions
        .par_iter()
        .with_max_len(1)
        .map(|&row| scan_one(scorer, row, sizes[row].keep))
        .collect()
}

fn scan_one(scorer: Scorer<'_>, row: usize, keep: usize) -> Neighbours {
    let matches = scorer.matches_of(row);
    let lexical = scorer.lexical.map(|lexical| (lexical, &matches));
    scan_query(scorer.rows, scorer.rows[row], keep, Some(row), lexical)
}

/// The `k` rows nearest to `query` by a scan of every row (`exclude` left out), in parallel
/// blocks; the exact answer, ties by position. With `lexical`, scores are fused with the
/// query's lexical matches.
pub fn scan_query(
    rows: &[&[f32]],
    query: &[f32],
    k: usize,
    exclude: Option<usize>,
    lexical: Option<(&Lexical, &Matches)>,
) -> Neighbours {
    let empty = Matches::default();
    let scan_block = |first: usize, block: &[&[f32]]| {
        let mut top = TopK::new(k, 0.0);
        let mut cursor = lexical
            .map_or(&empty, |(_, matches)| matches)
            .cursor_from(first);
        for (offset, vector) in block.iter().enumerate() {
            let row = first + offset;
            if Some(row) == exclude {
                continue;
            }
            let cosine = dot(query, vector);
            let score = match lexical {
                Some((lexical, _)) => lexical.fuse(cosine, cursor.at(row)),
                None => cosine,
            };
            if score >= top.floor() {
                top.push(candidate(row, score));
            }
        }
        top
    };
    let top = if rows.len() <= PASS_BLOCK * 4 {
        scan_block(0, rows)
    } else {
        rows.par_chunks(PASS_BLOCK * 4)
            .enumerate()
            .map(|(block, chunk)| scan_block(block * PASS_BLOCK * 4, chunk))
            .reduce(
                || TopK::new(k, 0.0),
                |mut a, b| {
                    a.absorb(b);
                    a
                },
            )
    };
    into_list(top.into_sorted())
}

/// Patches stored lists after some rows received new vectors.
///
/// `lists[row]` must be the exact best `len()` rows among those whose vectors did not change
/// (the caller has already dropped departed rows); entries of `changed` rows are ignored and
/// replaced. `changed` lists the rows with new vectors (new rows, edited rows, renamed rows).
/// On return every list is the exact best `min(keep, rows - 1)` or more, at least `need`
/// when that many other rows exist.
pub fn patch(
    scorer: Scorer<'_>,
    lists: &mut [Neighbours],
    changed: &[usize],
    sizes: &[ListSize],
) -> PatchStats {
    patch_with(scorer, lists, changed, sizes, &|_| {})
}

/// `patch`, calling `passed` with each block of rows once the pass over every row is done
/// with it (a caller whose rows are mapped from a file lets them leave memory).
pub fn patch_with(
    scorer: Scorer<'_>,
    lists: &mut [Neighbours],
    changed: &[usize],
    sizes: &[ListSize],
    passed: &(dyn Fn(std::ops::Range<usize>) + Sync),
) -> PatchStats {
    let rows = scorer.rows;
    let n_rows = rows.len();
    if n_rows == 0 {
        return PatchStats::default();
    }
    assert_eq!(lists.len(), n_rows, "one list per row");
    assert_eq!(sizes.len(), n_rows, "one size per row");
    let mut is_changed = vec![false; n_rows];
    for &row in changed {
        is_changed[row] = true;
    }
    let unchanged_others = n_rows.saturating_sub(1 + changed.len());
    let mut touched = vec![false; n_rows];
    for &row in changed {
        touched[row] = true;
    }

    // One pass over every row: it scores the changed vectors against it, offers each to the
    // row's own list, and collects each changed row's best candidates.
    let changed_vectors: Vec<&[f32]> = changed.iter().map(|&row| rows[row]).collect();
    let changed_matches: Vec<Matches> = changed.iter().map(|&row| scorer.matches_of(row)).collect();
    let partials: Vec<(Vec<TopK>, Vec<bool>)> = lists
        .par_chunks_mut(PASS_BLOCK)
        .enumerate()
        .map(|(block, chunk)| {
            let first = block * PASS_BLOCK;
            let mut tops: Vec<TopK> = changed
                .iter()
                .map(|&row| TopK::new(sizes[row].keep, 0.0))
                .collect();
            let mut block_touched = vec![false; chunk.len()];
            let mut cursors: Vec<_> = changed_matches
                .iter()
                .map(|matches| matches.cursor_from(first))
                .collect();
            for (offset, list) in chunk.iter_mut().enumerate() {
                let row = first + offset;
                let vector = rows[row];
                // Decided before any insertion: the list holds only unchanged rows here.
                let complete = list.len() >= unchanged_others;
                for (slot, (&other, other_vector)) in
                    changed.iter().zip(&changed_vectors).enumerate()
                {
                    if other == row {
                        continue;
                    }
                    let score = scorer.score(dot(other_vector, vector), &mut cursors[slot], row);
                    if score >= tops[slot].floor() {
                        tops[slot].push(candidate(row, score));
                    }
                    if !is_changed[row]
                        && offer(list, candidate(other, score), sizes[row].keep, complete)
                    {
                        block_touched[offset] = true;
                    }
                }
            }
            passed(first..first + chunk.len());
            (tops, block_touched)
        })
        .collect();

    let mut merged: Vec<TopK> = changed
        .iter()
        .map(|&row| TopK::new(sizes[row].keep, 0.0))
        .collect();
    for (block, (tops, block_touched)) in partials.into_iter().enumerate() {
        for (into, top) in merged.iter_mut().zip(tops) {
            into.absorb(top);
        }
        for (offset, was_touched) in block_touched.into_iter().enumerate() {
            touched[block * PASS_BLOCK + offset] |= was_touched;
        }
    }
    for (&row, top) in changed.iter().zip(merged) {
        lists[row] = into_list(top.into_sorted());
    }

    // Lists that lost too many entries to departures are recomputed.
    let short: Vec<usize> = (0..n_rows)
        .filter(|&row| !is_changed[row] && lists[row].len() < sizes[row].need.min(n_rows - 1))
        .collect();
    let rescanned = scan_lists(scorer, &short, sizes);
    for (&row, list) in short.iter().zip(rescanned) {
        lists[row] = list;
        touched[row] = true;
    }
    PatchStats {
        touched,
        rescanned: short.len(),
        inserted: changed.len(),
    }
}

/// Offers a candidate to an exact list: it enters when it beats the last entry (then it is
/// among the best `len() + 1`), or when the list held every unchanged row (`complete`: then nothing unseen can rank between). Returns
/// whether the list changed.
fn offer(list: &mut Neighbours, candidate: Candidate, keep: usize, complete: bool) -> bool {
    // An empty list knows nothing of the rows it lost: a candidate enters it only when it was
    // complete, else it waits for the rescan.
    let beats_last = list
        .last()
        .is_some_and(|last| rank_order(&candidate, &as_candidate(last)) == Ordering::Less);
    if !(beats_last || complete) || keep == 0 {
        return false;
    }
    let at = list
        .partition_point(|entry| rank_order(&as_candidate(entry), &candidate) == Ordering::Less);
    if at >= keep {
        return false;
    }
    list.insert(
        at,
        Neighbour {
            id: candidate.id,
            score: candidate.score,
        },
    );
    // A list that was complete may now exceed what it keeps; the cut is still exact.
    list.truncate(keep);
    true
}

pub(crate) fn candidate(row: usize, score: f32) -> Candidate {
    Candidate {
        score,
        id: row as u64,
        row: 0,
    }
}

fn as_candidate(neighbour: &Neighbour) -> Candidate {
    candidate(neighbour.id as usize, neighbour.score)
}

pub(crate) fn into_list(candidates: Vec<Candidate>) -> Neighbours {
    candidates
        .into_iter()
        .map(|c| Neighbour {
            id: c.id,
            score: c.score,
        })
        .collect()
}
