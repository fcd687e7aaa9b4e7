//! The stored candidate lists and words, read in passes over the store: on a large folder in
//! two halves at once (`in_halves`), each list translated from note rows to this run's
//! positions (`RowMap`) into one buffer (`StoredLists`), and decoded into a list of its own
//! only where the run needs it.

use closest_index::{ListEnd, Neighbour, Neighbours};

use crate::error::Result;
use crate::store::Store;

/// From this many note rows on, a pass over every stored list or every note's words reads
/// the rows in two halves at once (`in_halves`).
const HALVES_FROM_ROWS: usize = 65_536;

/// Runs `pass` over the store's rows below `rows`: on a large folder in two halves at once,
/// the second on a connection of its own (on a small one, or where that connection cannot be
/// opened, in one pass). The results come in row order.
pub(crate) fn in_halves<T: Send>(
    store: &Store,
    rows: usize,
    pass: impl Fn(&Store, std::ops::Range<i64>) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    in_halves_from(store, rows, HALVES_FROM_ROWS, pass)
}

/// `in_halves`, splitting from `from_rows` rows on.
fn in_halves_from<T: Send>(
    store: &Store,
    rows: usize,
    from_rows: usize,
    pass: impl Fn(&Store, std::ops::Range<i64>) -> Result<T> + Sync,
) -> Result<Vec<T>> {
    let every = i64::MIN..i64::MAX;
    let reader = (rows >= from_rows).then(|| store.reader().ok()).flatten();
    let Some(reader) = reader else {
        return Ok(vec![pass(store, every)?]);
    };
    let middle = (rows / 2) as i64;
    let pass = &pass;
    std::thread::scope(|scope| {
        let second = scope.spawn(move || pass(&reader, middle..every.end));
        let first = pass(store, every.start..middle);
        let second = second
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        Ok(vec![first?, second?])
    })
}

/// Note rows of the store to positions of this run, and the rows whose entries no list may
/// keep (departed notes, notes whose vector or id changed): one word per row, so that
/// translating a million stored lists reads one place per entry.
pub(crate) struct RowMap {
    /// By row: the position (or `UNKNOWN`), with the `DROPPED` bit.
    entries: Vec<u32>,
}

impl RowMap {
    pub(crate) const DROPPED: u32 = 1 << 31;
    const UNKNOWN: u32 = Self::DROPPED - 1;

    /// A map of rows below `rows`, none known.
    pub(crate) fn new(rows: usize) -> Self {
        RowMap {
            entries: vec![Self::UNKNOWN; rows],
        }
    }

    /// One past the largest row the map knows.
    pub(crate) fn rows(&self) -> usize {
        self.entries.len()
    }

    /// Gives a row its position in this run.
    pub(crate) fn place(&mut self, row: i64, position: usize) {
        let position = u32::try_from(position)
            .ok()
            .filter(|&position| position < Self::UNKNOWN)
            .expect("fewer than 2^31 notes");
        if let Some(entry) = self.entry_mut(row) {
            *entry = (*entry & Self::DROPPED) | position;
        }
    }

    /// Marks a row whose entries no list may keep.
    pub(crate) fn drop_row(&mut self, row: i64) {
        if let Some(entry) = self.entry_mut(row) {
            *entry |= Self::DROPPED;
        }
    }

    fn entry_mut(&mut self, row: i64) -> Option<&mut u32> {
        usize::try_from(row)
            .ok()
            .and_then(|row| self.entries.get_mut(row))
    }

    /// The row's entry (`UNKNOWN` for a row the map does not hold).
    pub(crate) fn entry(&self, row: i64) -> u32 {
        usize::try_from(row)
            .ok()
            .and_then(|row| self.entries.get(row))
            .copied()
            .unwrap_or(Self::UNKNOWN)
    }

    pub(crate) fn position_of(&self, row: i64) -> Option<usize> {
        Self::position_in(self.entry(row))
    }

    /// The position an entry holds.
    pub(crate) fn position_in(entry: u32) -> Option<usize> {
        let position = entry & !Self::DROPPED;
        (position != Self::UNKNOWN).then_some(position as usize)
    }

    pub(crate) fn is_dropped(&self, row: i64) -> bool {
        self.entry(row) & Self::DROPPED != 0
    }
}

/// Every usable stored list of a run's notes, by position, translated to positions into one
/// buffer per pass: a million lists read without a million allocations, each made a list of
/// its own only when the run changes, renders or orders it (`take`).
#[derive(Debug, Default)]
pub(crate) struct StoredLists {
    /// The positions it knows.
    n: usize,
    /// Entries as (position of the other note, score), each list's in one run.
    parts: Vec<Vec<(u32, f32)>>,
    /// By position: where its list lies in `parts`, `Place::NONE` when it is not there
    /// (empty when no position has a stored list).
    at: Vec<Place>,
    /// By position: the lists that lost entries to departed or changed notes, made without
    /// them (they are all rewritten; empty when none did).
    shrunk: Vec<Option<Neighbours>>,
}

#[derive(Debug, Clone, Copy)]
struct Place {
    part: u32,
    start: u32,
    len: u32,
}

impl Place {
    const NONE: Place = Place {
        part: u32::MAX,
        start: 0,
        len: 0,
    };
}

/// What one pass over part of the rows found.
#[derive(Default)]
struct Part {
    entries: Vec<(u32, f32)>,
    /// (position, first entry, length)
    places: Vec<(usize, u32, u32)>,
    shrunk: Vec<(usize, Neighbours)>,
}

impl StoredLists {
    /// No stored list for any of `n` positions.
    pub(crate) fn none(n: usize) -> Self {
        StoredLists {
            n,
            ..StoredLists::default()
        }
    }

    /// The stored lists of the `n` positions `map` knows, with the entries of departed or
    /// changed notes dropped. A list with an entry the run does not know in any form cannot
    /// be trusted and is left out, as is the list of a note that changed.
    pub(crate) fn read(store: &Store, map: &RowMap, n: usize) -> Result<Self> {
        let parts = in_halves(store, map.rows(), |store, rows| {
            let mut part = Part::default();
            store.each_list_in(rows, |row, entries| {
                let Some(position) = map.position_of(row) else {
                    return;
                };
                if map.is_dropped(row) {
                    return;
                }
                let start = part.entries.len();
                let mut shrunk = false;
                for (other, score) in entries {
                    let entry = map.entry(other);
                    if entry & RowMap::DROPPED != 0 {
                        shrunk = true;
                        continue;
                    }
                    // An entry this run does not know in any form: the list cannot be trusted.
                    let Some(other) = RowMap::position_in(entry) else {
                        part.entries.truncate(start);
                        return;
                    };
                    part.entries.push((other as u32, score));
                }
                if shrunk {
                    let list = part.entries.drain(start..).map(neighbour).collect();
                    part.shrunk.push((position, list));
                } else {
                    let len = (part.entries.len() - start) as u32;
                    part.places.push((position, start as u32, len));
                }
            })?;
            Ok(part)
        })?;
        let mut lists = StoredLists::none(n);
        for (index, part) in parts.into_iter().enumerate() {
            if !part.places.is_empty() && lists.at.is_empty() {
                lists.at = vec![Place::NONE; n];
            }
            for (position, start, len) in part.places {
                lists.at[position] = Place {
                    part: index as u32,
                    start,
                    len,
                };
            }
            if !part.shrunk.is_empty() && lists.shrunk.is_empty() {
                lists.shrunk = vec![None; n];
            }
            for (position, list) in part.shrunk {
                lists.shrunk[position] = Some(list);
            }
            lists.parts.push(part.entries);
        }
        Ok(lists)
    }

    /// The positions it knows.
    pub(crate) fn positions(&self) -> usize {
        self.n
    }

    /// Whether the note at `position` has a usable stored list.
    pub(crate) fn has(&self, position: usize) -> bool {
        self.len(position).is_some()
    }

    /// The length of the note's usable stored list.
    pub(crate) fn len(&self, position: usize) -> Option<usize> {
        match self.shrunk_list(position) {
            Some(list) => Some(list.len()),
            None => self.entries(position).map(<[_]>::len),
        }
    }

    /// Whether the note's stored list lost entries to departed or changed notes.
    pub(crate) fn is_shrunk(&self, position: usize) -> bool {
        self.shrunk_list(position).is_some()
    }

    fn shrunk_list(&self, position: usize) -> Option<&Neighbours> {
        self.shrunk.get(position).and_then(Option::as_ref)
    }

    /// The length and last entry of the note's stored list (nothing without one).
    pub(crate) fn end(&self, position: usize) -> ListEnd {
        match self.shrunk_list(position) {
            Some(list) => ListEnd::of(list),
            None => {
                let entries = self.entries(position).unwrap_or(&[]);
                ListEnd {
                    len: entries.len(),
                    last: entries.last().map(|&entry| neighbour(entry)),
                }
            }
        }
    }

    /// Whether the note's stored list names a note `pick` picks (a list that lost entries is
    /// not asked: it is rewritten anyway).
    pub(crate) fn names_any(&self, position: usize, pick: &[bool]) -> bool {
        self.entries(position)
            .is_some_and(|entries| entries.iter().any(|&(other, _)| pick[other as usize]))
    }

    /// The note's stored list as a list of its own; `None` without one. Taken once.
    pub(crate) fn take(&mut self, position: usize) -> Option<Neighbours> {
        if let Some(list) = self.shrunk.get_mut(position).and_then(Option::take) {
            return Some(list);
        }
        let list = self
            .entries(position)
            .map(|entries| entries.iter().copied().map(neighbour).collect());
        if let Some(place) = self.at.get_mut(position) {
            *place = Place::NONE;
        }
        list
    }

    fn entries(&self, position: usize) -> Option<&[(u32, f32)]> {
        let place = *self.at.get(position)?;
        let part = self.parts.get(place.part as usize)?;
        part.get(place.start as usize..(place.start + place.len) as usize)
    }
}

fn neighbour((id, score): (u32, f32)) -> Neighbour {
    Neighbour {
        id: u64::from(id),
        score,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Commit;

    /// Passes over the stored lists and words in two halves, the second on a connection of
    /// its own, see every row once, as one pass does.
    #[test]
    fn passes_in_halves_see_what_one_pass_sees() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, _) = Store::open(dir.path()).expect("opens");
        store
            .commit(&Commit::default(), |rows| {
                for row in 1..=9 {
                    rows.list(row, &vec![(row + 1, 0.5), (row + 2, 0.25)])?;
                    rows.terms(row, &[(row as u32, 1.0)])?;
                }
                Ok(())
            })
            .expect("commit");
        let lists = |store: &Store, range: std::ops::Range<i64>| {
            let mut seen = Vec::new();
            store.each_list_in(range, |row, entries| seen.push((row, entries.collect())))?;
            Ok(seen)
        };
        let terms = |store: &Store, range: std::ops::Range<i64>| {
            let mut seen = Vec::new();
            store.each_terms_in(range, |row, terms| seen.push((row, terms.to_vec())))?;
            Ok(seen)
        };
        let one: Vec<(i64, Vec<(i64, f32)>)> = in_halves_from(&store, 10, usize::MAX, lists)
            .expect("one pass")
            .concat();
        let halves = in_halves_from(&store, 10, 0, lists).expect("halves");
        assert_eq!(halves.len(), 2, "split in two");
        assert_eq!(halves.iter().map(Vec::len).collect::<Vec<_>>(), [4, 5]);
        assert_eq!(halves.concat(), one);
        assert_eq!(one.len(), 9);
        let one: Vec<(i64, Vec<(u32, f32)>)> = in_halves_from(&store, 10, usize::MAX, terms)
            .expect("one pass")
            .concat();
        let halves = in_halves_from(&store, 10, 0, terms).expect("halves");
        assert_eq!(halves.len(), 2, "split in two");
        assert_eq!(halves.concat(), one);
        assert_eq!(one.len(), 9);
    }

    /// Stored lists come back by position, translated; a list that lost an entry to a
    /// departed or changed note comes without it (and is marked), one naming a note the run
    /// does not know is left out, as is the list of a changed note; each is taken once.
    #[test]
    fn stored_lists_are_translated_and_taken_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, _) = Store::open(dir.path()).expect("opens");
        // Rows 1..=5 are notes at positions 4, 3, 2, 1, 0; row 6 departed; row 5 changed;
        // row 9 is unknown to the run.
        store
            .commit(&Commit::default(), |rows| {
                rows.list(1, &vec![(2, 0.9), (3, 0.8)])?;
                rows.list(2, &vec![(6, 0.9), (1, 0.7)])?;
                rows.list(3, &vec![(1, 0.9), (9, 0.1)])?;
                rows.list(4, &vec![(5, 0.9), (1, 0.5), (2, 0.4)])?;
                rows.list(5, &vec![(1, 0.9)])
            })
            .expect("commit");
        let mut map = RowMap::new(10);
        for row in 1..=5 {
            map.place(row, 5 - row as usize);
        }
        map.drop_row(6);
        map.drop_row(5);
        for from_rows in [0, usize::MAX] {
            let read = in_halves_from(&store, map.rows(), from_rows, |store, rows| {
                let mut seen = Vec::new();
                store.each_list_in(rows, |row, _| seen.push(row))?;
                Ok(seen)
            })
            .expect("rows");
            assert_eq!(read.concat(), [1, 2, 3, 4, 5]);
        }
        let mut lists = StoredLists::read(&store, &map, 5).expect("read");
        let ids = |list: Option<Neighbours>| -> Option<Vec<u64>> {
            list.map(|list| list.iter().map(|neighbour| neighbour.id).collect())
        };
        assert_eq!(lists.len(4), Some(2));
        assert!(!lists.is_shrunk(4));
        assert_eq!(lists.end(4).last.map(|last| last.id), Some(2));
        assert!(lists.names_any(4, &[false, false, true, false, false]));
        assert!(!lists.names_any(4, &[true, true, false, false, true]));
        assert!(lists.is_shrunk(3) && lists.len(3) == Some(1));
        assert!(lists.is_shrunk(1) && lists.len(1) == Some(2));
        assert!(!lists.has(2), "a list naming an unknown note is left out");
        assert!(!lists.has(0), "a changed note's list is left out");
        assert_eq!(ids(lists.take(4)), Some(vec![3, 2]));
        assert_eq!(ids(lists.take(3)), Some(vec![4]));
        assert_eq!(ids(lists.take(1)), Some(vec![4, 3]));
        assert_eq!(lists.take(4), None, "taken once");
        assert_eq!(lists.take(2), None);
    }
}
