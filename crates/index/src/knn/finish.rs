//! The end of a build: every list re-scored with the crate's one `dot`, ordered score first,
//! id second, and mapped back from the builder's row order to the caller's; and the sampled
//! recall check that decides whether the lists need widening or the corpus needs Exact.

use rayon::prelude::*;

use super::lists::{self, filled, Lists};
use crate::rows::RowsView;
use crate::topk::Scored;
use crate::Neighbours;

/// Recall@k of the lists on the checked rows (row numbers), against their exact lists: each
/// checked row's kept candidates re-scored with `dot` and ordered as `finish` would.
pub(super) fn estimate_recall(
    rows: RowsView<'_>,
    order: &[u32],
    lists: &Lists,
    checked: &[usize],
    checked_exact: &[Neighbours],
    k: usize,
) -> f64 {
    let mut position_of = vec![0u32; order.len()];
    for (position, &row) in order.iter().enumerate() {
        position_of[row as usize] = position as u32;
    }
    let mut hits = 0;
    let mut wanted = 0;
    for (&row, exact) in checked.iter().zip(checked_exact) {
        let candidates: Vec<Scored> = filled(lists.of(position_of[row] as usize))
            .map(|entry| {
                let other = order[entry.row as usize];
                Scored {
                    score: 0.0,
                    id: rows.ids[other as usize],
                    row: other,
                }
            })
            .collect();
        let found = rows.rescore(candidates, rows.row(row), k);
        wanted += exact.len();
        hits += exact
            .iter()
            .filter(|n| found.iter().any(|f| f.id == n.id))
            .count();
    }
    if wanted == 0 {
        1.0
    } else {
        hits as f64 / wanted as f64
    }
}

/// How far below the k-th build-time score a candidate is still re-scored. Build-time scores
/// come from f16 rows through gemm, within about 1e-4 of `dot` for unit rows; the window is
/// ten times that.
const RESCORE_WINDOW: f32 = 1e-3;

/// Positions re-scored between two calls of `finish`'s `passed`.
const FINISH_ROWS: usize = 65_536;

/// Re-scores the kept candidates that could be among the k best with `dot`, orders them and
/// keeps k. Also returns the rows
/// whose answer the lists cannot settle: fewer than k candidates, or a tie at the k-th score
/// that reaches the last kept candidate (more tied rows may exist beyond the list).
pub(super) fn finish(
    rows: RowsView<'_>,
    order: &[u32],
    lists: &Lists,
    k: usize,
    passed: &(dyn Fn() + Sync),
) -> (Vec<Neighbours>, Vec<usize>) {
    let width = lists.width;
    let n_rows = rows.n_rows();
    let mut finished: Vec<(Neighbours, bool)> = vec![(Vec::new(), false); n_rows];
    let mut by_position: Vec<(Neighbours, bool)> = Vec::with_capacity(n_rows);
    // In blocks of the builder's order, which keeps near rows together: a block reads mostly
    // the rows of a few leaves, and lets them go before the next.
    for first in (0..n_rows).step_by(FINISH_ROWS) {
        let block = first..(first + FINISH_ROWS).min(n_rows);
        by_position.par_extend(block.into_par_iter().map(|position| {
            let kept: Vec<&lists::Entry> = filled(lists.of(position)).collect();
            if kept.len() < k {
                return (Vec::new(), true);
            }
            // Only candidates whose build-time score is near the k-th can end in the top k.
            let floor = kept[k - 1].score - RESCORE_WINDOW;
            let near = kept.iter().take_while(|entry| entry.score >= floor).count();
            let candidates: Vec<Scored> = kept[..near]
                .iter()
                .map(|entry| {
                    let row = order[entry.row as usize];
                    Scored {
                        score: 0.0,
                        id: rows.ids[row as usize],
                        row,
                    }
                })
                .collect();
            let mut buffer = Vec::new();
            let query = rows.scattered(order[position] as usize, &mut buffer);
            let mut neighbours = rows.rescore(candidates, query, width);
            let unsettled = near == width && neighbours[k - 1].score == neighbours[width - 1].score;
            neighbours.truncate(k);
            (neighbours, unsettled)
        }));
        passed();
    }
    for (&row, result) in order.iter().zip(by_position) {
        finished[row as usize] = result;
    }
    let tied = finished
        .iter()
        .enumerate()
        .filter(|(_, (_, unsettled))| *unsettled)
        .map(|(row, _)| row)
        .collect();
    (finished.into_iter().map(|(list, _)| list).collect(), tied)
}
