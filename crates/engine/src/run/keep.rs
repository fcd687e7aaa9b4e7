//! Float noise never flips a list.
//!
//! Another CPU's kernels (AVX-512, AVX2, portable code) sum the model's products in another
//! order, so a clone of the notes embeds them into vectors that differ from its author's in the
//! last bits, and two candidates whose scores differ by less than that noise would swap places.
//! The note's text says what was written, so the writing keeps it while it is a ranking the
//! scores allow: the same candidates, each no more than [`SCORE_TOLERANCE`] out of order, and no
//! candidate left out scoring more than that above the lowest one listed. Otherwise the exact
//! ranking is written. A list written from nothing is always the exact ranking, so the same
//! folder still gives the same bytes whatever the history of runs.

/// Scores closer than this are taken as equal when a written order is checked: noise between
/// CPU families is about 1e-7 on a vector's components (1e-6 at most on a score), and a
/// written order only stays while its scores are that close, so a note's list depends on what
/// was written before only among near-ties.
pub(crate) const SCORE_TOLERANCE: f32 = 1e-5;

/// The order to write when the note lists `written` (each line's candidate, by index in the
/// ranking, `None` for a line no candidate renders), given the candidates' `scores` (best
/// first) and that the exact ranking shows the first `shown`: `written`'s own order when the
/// scores allow it within the tolerance, else `None` (write the exact ranking).
pub(crate) fn kept_order(
    written: &[Option<usize>],
    scores: &[f32],
    shown: usize,
) -> Option<Vec<usize>> {
    if written.len() != shown || shown == 0 {
        return None;
    }
    let order: Vec<usize> = written.iter().copied().collect::<Option<_>>()?;
    let mut listed = vec![false; scores.len()];
    for &index in &order {
        if std::mem::replace(listed.get_mut(index)?, true) {
            return None;
        }
    }
    let in_order = order
        .windows(2)
        .all(|pair| scores[pair[0]] >= scores[pair[1]] - SCORE_TOLERANCE);
    let lowest = order
        .iter()
        .map(|&index| scores[index])
        .fold(f32::INFINITY, f32::min);
    let best_left_out = (0..scores.len())
        .filter(|&index| !listed[index])
        .map(|index| scores[index])
        .fold(f32::NEG_INFINITY, f32::max);
    (in_order && best_left_out <= lowest + SCORE_TOLERANCE).then_some(order)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_written_order_within_the_noise_is_kept() {
        let scores = [0.9, 0.800000, 0.799998, 0.5, 0.499999];
        // Exactly the ranking.
        assert_eq!(
            kept_order(&[Some(0), Some(1), Some(2)], &scores, 3),
            Some(vec![0, 1, 2])
        );
        // Two near-equal scores swapped: kept.
        assert_eq!(
            kept_order(&[Some(0), Some(2), Some(1)], &scores, 3),
            Some(vec![0, 2, 1])
        );
        // At the end of the list, a near-equal candidate listed instead of the exact one.
        assert_eq!(
            kept_order(&[Some(0), Some(1), Some(2), Some(4)], &scores, 4),
            Some(vec![0, 1, 2, 4])
        );
    }

    #[test]
    fn a_written_order_the_scores_do_not_allow_is_replaced() {
        let scores = [0.9, 0.8, 0.7, 0.5];
        assert_eq!(kept_order(&[Some(1), Some(0)], &scores, 2), None);
        assert_eq!(
            kept_order(&[Some(0), Some(2)], &scores, 2),
            None,
            "a better one left out"
        );
        assert_eq!(
            kept_order(&[Some(0), None], &scores, 2),
            None,
            "a line no candidate renders"
        );
        assert_eq!(kept_order(&[Some(0)], &scores, 2), None, "another length");
        assert_eq!(
            kept_order(&[Some(0), Some(0)], &scores, 2),
            None,
            "a repeat"
        );
        assert_eq!(kept_order(&[Some(0), Some(9)], &scores, 2), None);
        assert_eq!(kept_order(&[], &scores, 0), None);
    }
}
