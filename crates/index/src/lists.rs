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
use crate::topk::{candidate, dot, into_list, rank_order, Scored, TopK};
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
    assert_eq!(lists.len(), scorer.rows.len(), "one list per row");
    let ends: Vec<ListEnd> = lists.iter().map(|list| ListEnd::of(list)).collect();
    let mut taken: Vec<Option<Neighbours>> = vec![None; lists.len()];
    let stats = patch_taking(scorer, &ends, &mut taken, changed, sizes, passed, |row| {
        std::mem::take(&mut lists[row])
    });
    for (list, patched) in lists.iter_mut().zip(taken) {
        if let Some(patched) = patched {
            *list = patched;
        }
    }
    stats
}

/// A patch of lists that stay where the caller keeps them until the patch needs one: it
/// knows each unchanged row's list by its end (`ends`), and takes a row's list (`take`, once)
/// only to offer it a changed row or to find it too short. `lists` holds what the patch made
/// or took, by row (a row may come with its list already taken: its end must match it);
/// rows it never touched stay `None`. `changed` must be sorted and unique.
pub fn patch_taking(
    scorer: Scorer<'_>,
    ends: &[ListEnd],
    lists: &mut [Option<Neighbours>],
    changed: &[usize],
    sizes: &[ListSize],
    passed: &(dyn Fn(std::ops::Range<usize>) + Sync),
    mut take: impl FnMut(usize) -> Neighbours,
) -> PatchStats {
    let n_rows = scorer.rows.len();
    if n_rows == 0 {
        return PatchStats::default();
    }
    assert_eq!(lists.len(), n_rows, "one list per row");
    let Offers {
        changed: fresh,
        offers,
    } = patch_offers(scorer, ends, changed, sizes, passed);
    let mut touched = vec![false; n_rows];
    let mut is_changed = vec![false; n_rows];
    for (&row, list) in changed.iter().zip(fresh) {
        lists[row] = Some(list);
        touched[row] = true;
        is_changed[row] = true;
    }
    for (row, offered) in offers {
        let complete = is_complete(ends[row].len, n_rows, changed.len());
        let list = lists[row].get_or_insert_with(|| take(row));
        if take_offers(list, &offered, sizes[row].keep, complete) {
            touched[row] = true;
        }
    }

    // Lists that lost too many entries to departures are recomputed.
    let short: Vec<usize> = (0..n_rows)
        .filter(|&row| {
            let len = lists[row].as_ref().map_or(ends[row].len, Vec::len);
            !is_changed[row] && is_short(len, sizes[row], n_rows)
        })
        .collect();
    let rescanned = scan_lists(scorer, &short, sizes);
    for (&row, list) in short.iter().zip(rescanned) {
        lists[row] = Some(list);
        touched[row] = true;
    }
    PatchStats {
        touched,
        rescanned: short.len(),
        inserted: changed.len(),
    }
}

/// What the pass of a patch needs of a row's list: its length and its last entry.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct ListEnd {
    pub len: usize,
    pub last: Option<Neighbour>,
}

impl ListEnd {
    pub fn of(list: &[Neighbour]) -> ListEnd {
        ListEnd {
            len: list.len(),
            last: list.last().copied(),
        }
    }
}

/// The outcome of the pass of a patch over every row.
#[derive(Debug, Clone, Default, PartialEq)]
struct Offers {
    /// The changed rows' new lists, in the order of `changed`.
    changed: Vec<Neighbours>,
    /// By row, ascending: the changed rows that may enter its list, in the order of `changed`
    /// (every one [`take_offers`] takes, and perhaps some it turns away).
    offers: Vec<(usize, Vec<Neighbour>)>,
}

/// The pass of a patch over every row, knowing of each unchanged row's list only its end
/// (`ends`, by row): it scores the changed vectors against every row, collects each changed
/// row's best candidates, and offers each changed row to the lists it may enter. A caller that
/// keeps most lists where they are stored needs only the lists offered something; applied
/// with [`take_offers`], the offers give the lists `patch` gives (a list's last entry only
/// moves up as entries come in, so a candidate that does not beat the end it started from
/// never enters). `changed` must be sorted and unique; its rows' ends are not read.
fn patch_offers(
    scorer: Scorer<'_>,
    ends: &[ListEnd],
    changed: &[usize],
    sizes: &[ListSize],
    passed: &(dyn Fn(std::ops::Range<usize>) + Sync),
) -> Offers {
    let rows = scorer.rows;
    let n_rows = rows.len();
    if n_rows == 0 {
        return Offers::default();
    }
    assert_eq!(ends.len(), n_rows, "one list end per row");
    assert_eq!(sizes.len(), n_rows, "one size per row");
    let mut is_changed = vec![false; n_rows];
    for &row in changed {
        is_changed[row] = true;
    }
    let changed_vectors: Vec<&[f32]> = changed.iter().map(|&row| rows[row]).collect();
    let changed_matches: Vec<Matches> = changed.iter().map(|&row| scorer.matches_of(row)).collect();
    type Block = (Vec<TopK>, Vec<(usize, Vec<Neighbour>)>);
    let blocks: Vec<Block> = ends
        .par_chunks(PASS_BLOCK)
        .enumerate()
        .map(|(block, chunk)| {
            let first = block * PASS_BLOCK;
            let mut tops: Vec<TopK> = changed
                .iter()
                .map(|&row| TopK::new(sizes[row].keep, 0.0))
                .collect();
            let mut offered = Vec::new();
            let mut cursors: Vec<_> = changed_matches
                .iter()
                .map(|matches| matches.cursor_from(first))
                .collect();
            for (offset, end) in chunk.iter().enumerate() {
                let row = first + offset;
                let vector = rows[row];
                let keep = sizes[row].keep;
                // Decided before any insertion: the list holds only unchanged rows here.
                let complete = is_complete(end.len, n_rows, changed.len());
                let mut row_offers = Vec::new();
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
                    if !is_changed[row] && may_enter(end, candidate(other, score), keep, complete) {
                        row_offers.push(Neighbour {
                            id: other as u64,
                            score,
                        });
                    }
                }
                if !row_offers.is_empty() {
                    offered.push((row, row_offers));
                }
            }
            passed(first..first + chunk.len());
            (tops, offered)
        })
        .collect();

    let mut merged: Vec<TopK> = changed
        .iter()
        .map(|&row| TopK::new(sizes[row].keep, 0.0))
        .collect();
    let mut offers = Vec::new();
    for (tops, offered) in blocks {
        for (into, top) in merged.iter_mut().zip(tops) {
            into.absorb(top);
        }
        offers.extend(offered);
    }
    Offers {
        changed: merged
            .into_iter()
            .map(|top| into_list(top.into_sorted()))
            .collect(),
        offers,
    }
}

/// Whether a list of `len` entries held every row that did not change when the pass began
/// (then a candidate enters it whatever its last entry).
fn is_complete(len: usize, n_rows: usize, n_changed: usize) -> bool {
    len >= n_rows.saturating_sub(1 + n_changed)
}

/// Whether a list of `len` entries is too short for its row after a patch: it is recomputed
/// with a scan of every row.
fn is_short(len: usize, size: ListSize, n_rows: usize) -> bool {
    len < size.need.min(n_rows.saturating_sub(1))
}

/// Offers candidates one after the other to an exact list (`offer`); whether it changed.
fn take_offers(list: &mut Neighbours, offers: &[Neighbour], keep: usize, complete: bool) -> bool {
    let mut changed = false;
    for neighbour in offers {
        changed |= offer(list, as_candidate(neighbour), keep, complete);
    }
    changed
}

/// Whether a candidate may enter a list that ended with `end` when the pass began.
fn may_enter(end: &ListEnd, candidate: Scored, keep: usize, complete: bool) -> bool {
    let beats_last = end
        .last
        .is_some_and(|last| rank_order(&candidate, &as_candidate(&last)) == Ordering::Less);
    (beats_last || complete) && keep > 0
}

/// Offers a candidate to an exact list: it enters when it beats the last entry (then it is
/// among the best `len() + 1`), or when the list held every unchanged row (`complete`: then nothing unseen can rank between). Returns
/// whether the list changed.
fn offer(list: &mut Neighbours, candidate: Scored, keep: usize, complete: bool) -> bool {
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

fn as_candidate(neighbour: &Neighbour) -> Scored {
    candidate(neighbour.id as usize, neighbour.score)
}
