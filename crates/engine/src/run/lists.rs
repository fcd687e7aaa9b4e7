//! The lists of a run: kept when nothing that ranks changed, else patched or computed
//! (`rank.rs` holds how), with the lexical side they are fused with.

use super::plan::Decision;
use super::report::Ranking;
use super::{Lists, Run, RunNote};

use closest_index::ListSize;
use sha2::Digest;

use crate::error::Result;
use crate::hash::TextHash;
use crate::run::rank::{rank, LexicalSide, Matrix, Method, RankInput, SavedIndex, MARGIN};
use crate::run::stored_lists::{in_halves, RowMap};
use crate::run::write::Mode;
use crate::store::{NoteRecord, Store};

impl<'a> Run<'a> {
    /// The lists of this run: kept when nothing that ranks changed, else patched or computed.
    pub(super) fn rank(&mut self) -> Result<Lists> {
        let settings = self.engine.settings();
        let n = self.notes.len();
        let Decision {
            ranking,
            map,
            changed,
            stored,
            ..
        } = self.decide()?;
        self.report.index = closest_index::choose(settings.index, n).to_string();
        if ranking == Ranking::Kept {
            self.report.ranking = Ranking::Kept;
            // Only the rendered notes and their candidates are compared: their words are read
            // before writing (`Run::terms_at`, from `render.rs`).
            let any = (0..n).any(|position| self.must_render(position));
            let lexical = match (any, settings.lexical_weight()) {
                (true, Some(weight)) => {
                    Some(closest_index::Lexical::partial(n, weight, Vec::new()))
                }
                _ => None,
            };
            return Ok(Lists {
                lists: vec![None; n],
                stored: Some(stored),
                touched: vec![false; n],
                lexical,
            });
        }
        let patch = ranking == Ranking::Patched;
        let sizes: Vec<ListSize> = self
            .notes
            .iter()
            .enumerate()
            .map(|(position, note)| list_size(settings, note, self.record_of(position)))
            .collect();
        if !self.patchable && self.options.mode == Mode::Write {
            // A full ranking of a large folder reads the vectors in place, in note order.
            if closest_index::choose(settings.index, n) == closest_index::ConcreteKind::Graph {
                self.order_vectors()?;
            }
        }
        let in_note_order = self.vectors.rows() == n
            && self
                .notes
                .iter()
                .enumerate()
                .all(|(position, note)| note.slot as usize == position);
        let rows: Vec<&[f32]> = self
            .notes
            .iter()
            .map(|note| self.vectors.row(note.slot))
            .collect();
        let slots: Vec<u32> = self.notes.iter().map(|note| note.slot).collect();
        let vectors = &self.vectors;
        let release = |range: std::ops::Range<usize>| {
            vectors.release(range.start, range.end);
            if range.start == 0 && range.end >= vectors.rows() {
                // Between its stages: what the stage before freed goes back too.
                crate::trim::give_back_freed();
            }
        };
        // A large file is read at random through `pread` (`closest_index::Fetch`).
        let reader = (vectors.bytes() >= crate::vectors::READ_AT_RANDOM_FROM_BYTES)
            .then(|| vectors.reader())
            .flatten();
        let fetch = |slot: usize, out: &mut [f32]| {
            reader
                .as_ref()
                .is_some_and(|reader| reader.read(slot as u32, out).is_ok())
        };
        let matrix = (vectors.rows() > 0).then(|| Matrix {
            data: vectors.all(),
            slots: (!in_note_order).then_some(&slots[..]),
            release: &release,
            fetch: reader
                .is_some()
                .then_some(&fetch as &closest_index::Fetch<'_>),
        });
        let kind = closest_index::choose(settings.index, n);
        // Only a saved HNSW index knows notes by their content keys.
        let keys: Vec<u64> = if kind == closest_index::ConcreteKind::Hnsw {
            self.notes
                .iter()
                .map(|note| content_key(&note.file.id, &note.hash))
                .collect()
        } else {
            Vec::new()
        };
        let index_dir = settings.state_dir.join("index");
        let key = self.engine.model().vector_key(settings.long);
        let partial = match settings.lexical_weight() {
            // A patch scans from the changed notes and from the lists that may come out short
            // (fewer entries left than the note needs): their matches come from one pass over
            // the stored words, without an inverted index of the whole folder.
            Some(weight) if patch => {
                let others = n.saturating_sub(1);
                let queries: Vec<usize> = (0..n)
                    .filter(|&position| match stored.len(position) {
                        Some(len) => len < sizes[position].need.min(others),
                        None => true,
                    })
                    .collect();
                Some(self.partial_lexical(weight, &queries, &map)?)
            }
            _ => None,
        };
        let (store, notes) = (&self.store, &mut self.notes);
        let lexical = match (settings.lexical_weight(), &partial) {
            (None, _) => LexicalSide::None,
            (Some(_), Some(partial)) => LexicalSide::Made(partial),
            // A full ranking: the inverted index of every note's words is made once the cosine
            // lists are, from the words the notes hand over (`take_note_terms`).
            (Some(weight), None) => LexicalSide::Deferred(Box::new(move || {
                Ok(closest_index::Lexical::new(
                    take_note_terms(store, notes, &map)?,
                    weight,
                ))
            })),
        };
        let ranked = rank(
            RankInput {
                rows,
                matrix,
                sizes,
                stored,
                changed,
                lexical,
                patch,
                index: settings.index,
                saved: Some(SavedIndex {
                    dir: &index_dir,
                    fingerprint: &key,
                    keys,
                    save: self.options.mode == Mode::Write,
                }),
                // Rows leave memory as the patch passes them (by runs of consecutive slots).
                passed: &|range| {
                    let slots: Vec<usize> =
                        range.map(|position| slots[position] as usize).collect();
                    for run in slots.chunk_by(|a, b| a + 1 == *b) {
                        if run.len() >= 64 {
                            vectors.release(run[0], run[run.len() - 1] + 1);
                        }
                    }
                },
            },
            self.reporter,
        )?;
        for warning in ranked.warnings {
            self.reporter.warn(&warning);
            self.report.warnings.push(warning);
        }
        self.report.ranking = match ranked.method {
            Method::Full(kind) => {
                self.report.index = kind.to_string();
                Ranking::Full
            }
            Method::Patched => Ranking::Patched,
        };
        self.report.index_added = ranked.index_added;
        self.report.index_removed = ranked.index_removed;
        self.report.lists_updated = ranked.touched.iter().filter(|&&touched| touched).count();
        Ok(Lists {
            lists: ranked.lists,
            stored: ranked.stored,
            touched: ranked.touched,
            lexical: ranked.lexical.or(partial),
        })
    }

    /// Rewrites the vector file in note order (a text two notes share at its first note), so
    /// that a full ranking reads it in place when no two notes share a text, and later patches
    /// read it front to back, letting each block go as they pass it.
    pub(super) fn order_vectors(&mut self) -> Result<()> {
        let slots: Vec<u32> = self.notes.iter().map(|note| note.slot).collect();
        if let Some(new_slots) =
            crate::run::compact::into_order(&mut self.store, &mut self.vectors, &slots)?
        {
            for (note, slot) in self.notes.iter_mut().zip(new_slots) {
                note.slot = slot;
            }
        }
        Ok(())
    }

    /// The lexical side of a patch: the matches of `queries` by one pass over every note's
    /// words (stored, or read this run), and the words of the queries.
    pub(super) fn partial_lexical(
        &self,
        weight: f32,
        queries: &[usize],
        map: &RowMap,
    ) -> Result<closest_index::Lexical> {
        let query_terms = self.terms_at(queries)?;
        let notes = &self.notes;
        let mut passes = in_halves(&self.store, map.rows(), |store, rows| {
            let mut pass = closest_index::MatchPass::new(&query_terms);
            store.each_terms_in(rows, |row, stored| {
                if let Some(position) = map.position_of(row) {
                    if notes[position].read.is_none() {
                        pass.visit(position, stored);
                    }
                }
            })?;
            Ok(pass)
        })?
        .into_iter();
        let mut pass = passes
            .next()
            .unwrap_or_else(|| closest_index::MatchPass::new(&query_terms));
        for other in passes {
            pass.absorb(other);
        }
        for (position, note) in notes.iter().enumerate() {
            if let Some(read) = &note.read {
                pass.visit(position, &read.terms);
            }
        }
        let mut lexical = closest_index::Lexical::partial(notes.len(), weight, pass.finish());
        for (position, terms) in query_terms {
            lexical.set_terms(position, terms);
        }
        Ok(lexical)
    }

    /// The lexical vectors of these positions: read this run, or stored.
    pub(super) fn terms_at(
        &self,
        positions: &[usize],
    ) -> Result<Vec<(usize, closest_index::Terms)>> {
        let mut found = Vec::with_capacity(positions.len());
        let mut stored = Vec::new();
        for &position in positions {
            let note = &self.notes[position];
            match &note.read {
                Some(read) => found.push((position, read.terms.clone())),
                None => stored.push((note.row, position)),
            }
        }
        stored.sort_unstable();
        let rows: Vec<i64> = stored.iter().map(|&(row, _)| row).collect();
        for (row, terms) in self.store.terms_of(&rows)? {
            if let Ok(at) = stored.binary_search_by_key(&row, |&(row, _)| row) {
                found.push((stored[at].1, terms));
            }
        }
        Ok(found)
    }
}

/// Every note's lexical vector, by position: stored, or, for the notes read this run, taken
/// from them (one copy of a million notes' words, not two; `record` takes them back from the
/// lexical side to store them).
fn take_note_terms(
    store: &Store,
    notes: &mut [RunNote],
    map: &RowMap,
) -> Result<Vec<closest_index::Terms>> {
    let mut terms = vec![Vec::new(); notes.len()];
    store.each_terms(|row, stored| {
        if let Some(position) = map.position_of(row) {
            if notes[position].read.is_none() {
                terms[position] = stored.to_vec();
            }
        }
    })?;
    for (position, note) in notes.iter_mut().enumerate() {
        if let Some(read) = &mut note.read {
            terms[position] = std::mem::take(&mut read.terms);
        }
    }
    Ok(terms)
}

/// How many candidates a note's list needs and keeps.
fn list_size(
    settings: &crate::FolderSettings,
    note: &RunNote,
    record: Option<&NoteRecord>,
) -> ListSize {
    let need = settings.k
        + if settings.exclude_linked {
            note.links(record).len()
        } else {
            0
        };
    ListSize {
        need,
        keep: need + MARGIN,
    }
}

/// The key a saved index knows a note by: its id and the hash of its text, so an edited note
/// is a new row and a saved index can be matched to any later run.
pub(crate) fn content_key(id: &str, hash: &TextHash) -> u64 {
    let digest = sha2::Sha256::new()
        .chain_update(id.as_bytes())
        .chain_update([0])
        .chain_update(hash)
        .finalize();
    let mut key = [0u8; 8];
    key.copy_from_slice(&digest[..8]);
    u64::from_le_bytes(key)
}
