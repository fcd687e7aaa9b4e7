//! The rows each local join of an NN-descent round compares: for every row v, its sampled new
//! and old neighbours, forward (v's own list) and reverse (rows whose lists name v).
//!
//! Sampling takes the best entries rather than random ones, so a round is a function of the
//! lists alone; reverse lists are capped the same way, closest first, so a hub (a row in
//! thousands of lists, common in high-dimensional data) costs no more than any other row.

use rayon::prelude::*;

use super::lists::{ranks_before, Entry, Flag, Lists};

/// Reverse links kept per sampled forward link. Real sentence embeddings have hubs (rows in
/// thousands of lists); capping their reverse links at the forward sample lost recall (100,000
/// real rows, list width 20: 0.928 against 0.947 at twice the sample), and twice costs little.
const REVERSE_PER_SAMPLE: usize = 2;

/// Each row's join set in fixed slots: `new_count[v]` new rows, then old rows, up to `slots`.
pub(super) struct JoinSets {
    slots: usize,
    rows: Vec<u32>,
    new_count: Vec<u16>,
    len: Vec<u16>,
}

impl JoinSets {
    /// Samples this round's sets (the best `sample` new and old entries of each list, and up to
    /// `REVERSE_PER_SAMPLE` times as many reverse ones) and marks the sampled new entries old
    /// in `lists`: they will have been joined.
    pub(super) fn sample(lists: &mut Lists, sample: usize, ids: &[u64]) -> Self {
        let n_rows = lists.n_rows();
        let width = lists.width;
        let old_sample = sample;
        let reverse_cap = REVERSE_PER_SAMPLE * sample;
        let mut forward_new = vec![Entry::VACANT; n_rows * sample];
        let mut forward_old = vec![Entry::VACANT; n_rows * old_sample];
        lists
            .entries
            .par_chunks_mut(width)
            .zip(forward_new.par_chunks_mut(sample))
            .zip(forward_old.par_chunks_mut(old_sample))
            .for_each(|((list, new_slots), old_slots)| {
                let (mut n_new, mut n_old) = (0, 0);
                for entry in list.iter_mut().take_while(|e| !e.is_vacant()) {
                    if entry.flag == Flag::Fresh {
                        entry.flag = Flag::New;
                    }
                    match entry.flag {
                        Flag::New if n_new < sample => {
                            new_slots[n_new] = *entry;
                            n_new += 1;
                            entry.flag = Flag::Old;
                        }
                        Flag::Old if n_old < old_sample => {
                            old_slots[n_old] = *entry;
                            n_old += 1;
                        }
                        _ => {}
                    }
                }
            });
        let reverse_new = Reverse::of_forward(&forward_new, sample, reverse_cap, n_rows, ids);
        let reverse_old = Reverse::of_forward(&forward_old, old_sample, reverse_cap, n_rows, ids);
        let slots = sample + old_sample + 2 * reverse_cap;
        let mut rows = vec![0u32; n_rows * slots];
        let mut new_count = vec![0u16; n_rows];
        let mut len = vec![0u16; n_rows];
        rows.par_chunks_mut(slots)
            .zip(new_count.par_iter_mut())
            .zip(len.par_iter_mut())
            .enumerate()
            .for_each(|(row, ((out, new_count), len))| {
                let mut filled = 0;
                // Forward then reverse rows of one kind, each row once in the whole set.
                let mut take = |part: &[Entry], sample: usize, reverse: &Reverse| {
                    let forward = part[row * sample..(row + 1) * sample]
                        .iter()
                        .take_while(|e| !e.is_vacant())
                        .map(|e| e.row);
                    for candidate in forward.chain(reverse.of(row).iter().copied()) {
                        if !out[..filled].contains(&candidate) {
                            out[filled] = candidate;
                            filled += 1;
                        }
                    }
                    filled as u16
                };
                *new_count = take(&forward_new, sample, &reverse_new);
                *len = take(&forward_old, old_sample, &reverse_old);
            });
        JoinSets {
            slots,
            rows,
            new_count,
            len,
        }
    }

    /// Row v's join set: new rows first, then old ones, and how many are new.
    pub(super) fn of(&self, row: usize) -> (&[u32], usize) {
        let start = row * self.slots;
        (
            &self.rows[start..start + usize::from(self.len[row])],
            usize::from(self.new_count[row]),
        )
    }
}

/// Reverse links in compressed rows: row v's are `rows[offsets[v]..offsets[v + 1]]`.
struct Reverse {
    offsets: Vec<usize>,
    rows: Vec<u32>,
}

impl Reverse {
    /// For each row v, the rows u whose forward slots name v: at most `cap`, the closest first
    /// (ties by id).
    fn of_forward(
        forward: &[Entry],
        sample: usize,
        cap: usize,
        n_rows: usize,
        ids: &[u64],
    ) -> Self {
        let mut starts = vec![0usize; n_rows + 1];
        for entry in forward.iter().filter(|e| !e.is_vacant()) {
            starts[entry.row as usize + 1] += 1;
        }
        for row in 0..n_rows {
            starts[row + 1] += starts[row];
        }
        let mut next = starts.clone();
        let scattered_len = starts[n_rows];
        let mut scattered = vec![Entry::VACANT; scattered_len];
        for (u, slots) in forward.chunks_exact(sample).enumerate() {
            for entry in slots.iter().take_while(|e| !e.is_vacant()) {
                let v = entry.row as usize;
                scattered[next[v]] = Entry {
                    row: u as u32,
                    ..*entry
                };
                next[v] += 1;
            }
        }
        // Each hub's closest `cap`, in parallel: a hub's segment is selected, not sorted whole.
        let mut segments = Vec::with_capacity(n_rows);
        let mut rest = scattered.as_mut_slice();
        for v in 0..n_rows {
            let (segment, tail) = rest.split_at_mut(starts[v + 1] - starts[v]);
            segments.push(segment);
            rest = tail;
        }
        segments.par_iter_mut().for_each(|segment| {
            if segment.len() > cap && cap > 0 {
                segment.select_nth_unstable_by(cap - 1, |a, b| rank(a, b, ids));
                segment[..cap].sort_unstable_by(|a, b| rank(a, b, ids));
            }
        });
        let mut offsets = Vec::with_capacity(n_rows + 1);
        let mut rows = Vec::with_capacity(scattered_len.min(n_rows * cap));
        offsets.push(0);
        for segment in &segments {
            rows.extend(segment.iter().take(cap).map(|e| e.row));
            offsets.push(rows.len());
        }
        Reverse { offsets, rows }
    }

    fn of(&self, row: usize) -> &[u32] {
        &self.rows[self.offsets[row]..self.offsets[row + 1]]
    }
}

fn rank(a: &Entry, b: &Entry, ids: &[u64]) -> std::cmp::Ordering {
    if ranks_before(a, b, ids) {
        std::cmp::Ordering::Less
    } else if ranks_before(b, a, ids) {
        std::cmp::Ordering::Greater
    } else {
        std::cmp::Ordering::Equal
    }
}
