//! What a run will do, decided in one place: `update` executes the decision and `status`
//! prints it, so that `status` foretells every run.
//!
//! `begin` decides what to read (a note whose stat moved, or every note when the model, the
//! text preparation, the learned statistics or the place of the lists changed) and whether to
//! learn the folder again (its drift); `Run::decide` then decides how the lists are made: kept
//! when nothing that ranks changed, patched when the stored lists can be used and patching
//! costs less (`rank::patches`), else computed all again.

use closest_index::ConcreteKind;

use super::rank::{fresh_lists, patches};
use super::report::Ranking;
use super::stored_lists::{RowMap, StoredLists};
use super::Run;
use crate::error::Result;

/// How this run makes its lists, and what that needs.
pub(crate) struct Decision {
    pub(crate) ranking: Ranking,
    /// Rows to positions, with the rows no stored list may keep dropped.
    pub(crate) map: RowMap,
    /// Positions whose vector or id is new to the stored lists.
    pub(crate) changed: Vec<usize>,
    /// The stored lists, where the decision needed them.
    pub(crate) stored: StoredLists,
    /// Lists made from nothing (a patch), or every list (a full ranking); none when kept.
    pub(crate) fresh: usize,
}

impl Run<'_> {
    /// Whether the note at `position` has no stored vector for its text (the vector file has
    /// `rows` committed rows): its text is embedded unless another note's was.
    pub(crate) fn needs_vector(&self, position: usize, rows: usize) -> bool {
        let note = &self.notes[position];
        self.record_of(position)
            .is_none_or(|record| record.text_hash != note.hash || record.slot as usize >= rows)
    }

    /// The texts this run embeds: those without a vector, once each.
    pub(crate) fn texts_to_embed(&self) -> Result<usize> {
        let rows = self.vectors.rows();
        // The empty text (a note with too little of its own) has the zero vector, not embedded.
        let mut hashes: Vec<crate::hash::TextHash> = (0..self.notes.len())
            .filter(|&position| self.needs_vector(position, rows))
            .map(|position| self.notes[position].hash)
            .filter(|hash| *hash != crate::hash::EMPTY_TEXT)
            .collect();
        hashes.sort_unstable();
        hashes.dedup();
        let known = self.store.slots(&hashes)?;
        Ok(hashes
            .iter()
            .filter(|hash| known.get(*hash).is_none_or(|&slot| slot as usize >= rows))
            .count())
    }

    /// Decides how this run's lists are made (see the module's documentation).
    pub(crate) fn decide(&self) -> Result<Decision> {
        let settings = self.engine.settings();
        let n = self.notes.len();
        // Rows to positions, and the rows no stored list may keep: a vector by row number
        // (rows are dense), so a million lookups cost no hashing.
        let max_row = self
            .notes
            .iter()
            .map(|note| note.row)
            .chain(self.departed.iter().map(|record| record.row))
            .max()
            .unwrap_or(0)
            .max(0) as usize;
        let mut map = RowMap::new(max_row + 1);
        for (position, note) in self.notes.iter().enumerate() {
            map.place(note.row, position);
        }
        for record in &self.departed {
            map.drop_row(record.row);
        }
        let mut changed = Vec::new();
        for (position, note) in self.notes.iter().enumerate() {
            if !note.known_to_lists(self.record_of(position)) {
                changed.push(position);
                map.drop_row(note.row);
            }
        }
        let kind = closest_index::choose(settings.index, n);
        let nothing_ranks = self.patchable
            && changed.is_empty()
            && self.departed.is_empty()
            && kind != ConcreteKind::Hnsw;
        if nothing_ranks {
            let wanted: Vec<bool> = (0..n).map(|position| self.must_render(position)).collect();
            // The notes to render take their lists, and their candidates', from the stored
            // ones as the writing needs them (`take_stored_to_render`).
            let stored = if wanted.contains(&true) {
                StoredLists::read(&self.store, &map, n)?
            } else {
                StoredLists::none(n)
            };
            // A note that must be rendered but has no usable stored list is ranked.
            if (0..n).all(|position| !wanted[position] || stored.has(position)) {
                return Ok(Decision {
                    ranking: Ranking::Kept,
                    map,
                    changed,
                    stored,
                    fresh: 0,
                });
            }
        }
        // Lists that lost an entry to a departure changed even if nothing enters them.
        let stored = if self.patchable {
            StoredLists::read(&self.store, &map, n)?
        } else {
            StoredLists::none(n)
        };
        let fresh = fresh_lists(&stored, &changed).len();
        let (ranking, fresh) = if patches(self.patchable, n, fresh, kind) {
            (Ranking::Patched, fresh)
        } else {
            (Ranking::Full, n)
        };
        Ok(Decision {
            ranking,
            map,
            changed,
            stored,
            fresh,
        })
    }
}
