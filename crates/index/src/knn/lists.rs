//! Every row's best few candidates while the k-nearest graph is being built, in one flat buffer.
//!
//! NN-descent touches each row's list millions of times, so a list is a fixed-width slice of a
//! single `Vec` (no allocation per row), kept sorted best first with a short insertion shift,
//! which at widths of 10–30 beats a heap and leaves the list ready to read. The order is the
//! crate's one order (score descending, then id ascending), so the kept set is the best `width`
//! of everything ever offered, whatever the order of the offers: that is what makes the build
//! independent of how rayon splits the work.

/// Marks an empty slot: its score is minus infinity, so every real candidate beats it.
const EMPTY: u32 = u32::MAX;

/// Where an entry stands in NN-descent's bookkeeping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Flag {
    /// Already used in a local join: joining it again with old entries finds nothing new.
    Old,
    /// Not yet joined.
    New,
    /// Entered during the round now running; becomes `New` when the round ends, and counts
    /// as an update for the stopping rule.
    Fresh,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    pub(super) score: f32,
    pub(super) row: u32,
    pub(super) flag: Flag,
}

impl Entry {
    pub(super) const VACANT: Entry = Entry {
        score: f32::NEG_INFINITY,
        row: EMPTY,
        flag: Flag::Old,
    };

    pub(super) fn is_vacant(&self) -> bool {
        self.row == EMPTY
    }
}

/// Whether `a` ranks strictly before `b`: higher score, or the same score and a smaller id.
#[inline]
pub(super) fn ranks_before(a: &Entry, b: &Entry, ids: &[u64]) -> bool {
    if a.score != b.score {
        return a.score > b.score;
    }
    if b.is_vacant() {
        return !a.is_vacant();
    }
    !a.is_vacant() && ids[a.row as usize] < ids[b.row as usize]
}

/// `n_rows` lists of `width` entries each.
#[derive(Debug, Clone)]
pub(super) struct Lists {
    pub(super) width: usize,
    pub(super) entries: Vec<Entry>,
}

impl Lists {
    pub(super) fn new(n_rows: usize, width: usize) -> Self {
        Lists {
            width,
            entries: vec![Entry::VACANT; n_rows * width],
        }
    }

    pub(super) fn n_rows(&self) -> usize {
        self.entries.len() / self.width.max(1)
    }

    /// The same lists with room for `width` entries each (the best `width` when narrower),
    /// every entry marked new so the next descent joins it again with the neighbours the
    /// wider lists will gain.
    pub(super) fn resized(&self, width: usize) -> Self {
        let mut wider = Lists::new(self.n_rows(), width);
        for (to, from) in wider
            .entries
            .chunks_exact_mut(width)
            .zip(self.entries.chunks_exact(self.width))
        {
            for (slot, entry) in to.iter_mut().zip(from) {
                *slot = Entry {
                    flag: if entry.is_vacant() {
                        Flag::Old
                    } else {
                        Flag::New
                    },
                    ..*entry
                };
            }
        }
        wider
    }

    #[inline]
    pub(super) fn of(&self, row: usize) -> &[Entry] {
        &self.entries[row * self.width..(row + 1) * self.width]
    }
}

/// Offers `candidate` to a sorted list; returns whether it entered. A row already listed is
/// not entered twice (its score is the same whichever side computed it).
#[inline]
pub(super) fn offer(list: &mut [Entry], candidate: Entry, ids: &[u64]) -> bool {
    let Some(last) = list.len().checked_sub(1) else {
        return false;
    };
    if !ranks_before(&candidate, &list[last], ids) {
        return false;
    }
    if list.iter().any(|entry| entry.row == candidate.row) {
        return false;
    }
    let mut position = last;
    while position > 0 && ranks_before(&candidate, &list[position - 1], ids) {
        list[position] = list[position - 1];
        position -= 1;
    }
    list[position] = candidate;
    true
}

/// Offers a list the candidates in `offered` as if one by one, best first: the best `width`
/// of them sorted and offered, then, of the rest, only those that still beat the list's last
/// entry (the list's bar only rises, so no other could enter), sorted and offered. A full sort
/// of the hundreds of candidates a list gets from a leaf or a round would order mostly losers.
pub(super) fn take_best(list: &mut [Entry], offered: &mut [Entry], ids: &[u64]) {
    let order = |a: &Entry, b: &Entry| {
        if ranks_before(a, b, ids) {
            std::cmp::Ordering::Less
        } else if ranks_before(b, a, ids) {
            std::cmp::Ordering::Greater
        } else {
            a.row.cmp(&b.row)
        }
    };
    let width = list.len();
    let (best, rest) = if offered.len() > width {
        offered.select_nth_unstable_by(width - 1, order);
        offered.split_at_mut(width)
    } else {
        (offered, &mut [][..])
    };
    best.sort_unstable_by(order);
    offer_sorted(list, best, ids);
    if rest.is_empty() {
        return;
    }
    let last = list[width - 1];
    let mut kept = 0;
    for at in 0..rest.len() {
        if ranks_before(&rest[at], &last, ids) {
            rest.swap(kept, at);
            kept += 1;
        }
    }
    let rest = &mut rest[..kept];
    rest.sort_unstable_by(order);
    offer_sorted(list, rest, ids);
}

/// Offers sorted candidates in order until one can no longer enter.
fn offer_sorted(list: &mut [Entry], sorted: &[Entry], ids: &[u64]) {
    for &entry in sorted {
        if !offer(list, entry, ids) && entry.score < threshold(list) {
            break;
        }
    }
}

/// The score a candidate must beat to enter a full list (minus infinity while it has room).
#[inline]
pub(super) fn threshold(list: &[Entry]) -> f32 {
    list.last().map_or(f32::INFINITY, |entry| entry.score)
}

/// Rows of a list that hold a real candidate, best first.
pub(super) fn filled(list: &[Entry]) -> impl Iterator<Item = &Entry> {
    list.iter().take_while(|entry| !entry.is_vacant())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(score: f32, row: u32) -> Entry {
        Entry {
            score,
            row,
            flag: Flag::New,
        }
    }

    #[test]
    fn keeps_the_best_width_in_rank_order_whatever_the_offer_order() {
        let ids = [50u64, 40, 30, 20, 10, 0];
        let offers = [
            entry(0.5, 0),
            entry(0.9, 1),
            entry(0.5, 2),
            entry(0.1, 3),
            entry(0.5, 4),
            entry(0.9, 1),
        ];
        let mut forward = [Entry::VACANT; 3];
        let mut backward = [Entry::VACANT; 3];
        for candidate in offers {
            offer(&mut forward, candidate, &ids);
        }
        for candidate in offers.iter().rev() {
            offer(&mut backward, *candidate, &ids);
        }
        let rows = |list: &[Entry]| list.iter().map(|e| e.row).collect::<Vec<_>>();
        // 0.9 first, then the 0.5 ties by id: row 4 (id 10), row 2 (id 30).
        assert_eq!(rows(&forward), vec![1, 4, 2]);
        assert_eq!(rows(&backward), rows(&forward));
        assert_eq!(threshold(&forward), 0.5);
        assert_eq!(filled(&forward).count(), 3);
    }

    #[test]
    fn an_empty_list_takes_nothing_and_vacant_slots_rank_last() {
        assert!(!offer(&mut [], entry(1.0, 0), &[0]));
        let mut list = [Entry::VACANT; 2];
        assert!(offer(&mut list, entry(-1.0, 0), &[0]));
        assert_eq!(filled(&list).count(), 1);
        assert_eq!(threshold(&list), f32::NEG_INFINITY);
    }

    proptest::proptest! {
        /// `take_best` leaves a list exactly as offering every candidate one by one in rank
        /// order would (duplicates of listed rows, repeated rows with other scores, ties and
        /// lists part full included).
        #[test]
        fn take_best_equals_offering_in_rank_order(
            width in 1usize..12,
            listed in proptest::collection::vec((0u32..40, 0u8..8), 0..12),
            offered in proptest::collection::vec((0u32..40, 0u8..8), 0..80),
        ) {
            let ids: Vec<u64> = (0..40u64).map(|row| (row * 17) % 41).collect();
            let as_entry = |&(row, score): &(u32, u8)| entry(f32::from(score) / 8.0, row);
            let mut start = vec![Entry::VACANT; width];
            for candidate in listed.iter().map(as_entry) {
                offer(&mut start, candidate, &ids);
            }
            let mut candidates: Vec<Entry> = offered.iter().map(as_entry).collect();
            let mut sorted = candidates.clone();
            sorted.sort_by(|a, b| {
                if ranks_before(a, b, &ids) {
                    std::cmp::Ordering::Less
                } else if ranks_before(b, a, &ids) {
                    std::cmp::Ordering::Greater
                } else {
                    a.row.cmp(&b.row)
                }
            });
            let mut want = start.clone();
            for candidate in sorted {
                offer(&mut want, candidate, &ids);
            }
            let mut got = start;
            take_best(&mut got, &mut candidates, &ids);
            let key = |list: &[Entry]| -> Vec<(u32, u32)> {
                list.iter().map(|e| (e.row, e.score.to_bits())).collect()
            };
            proptest::prop_assert_eq!(key(&got), key(&want));
        }
    }
}
