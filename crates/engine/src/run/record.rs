//! The last step of `update`: count what the writes did, and record in the store what changed
//! (notes whose stat, text, lines or state changed; departed notes; touched lists; vectors no
//! note uses any more), in one transaction. Check and dry-run modes record nothing but the
//! vectors they embedded.

use std::collections::{HashMap, HashSet};

use crate::error::Result;
use crate::hash::TextHash;
use crate::run::scan::rel_text;
use crate::run::stamp;
use crate::run::write::{Done, Mode, Outcome};
use crate::run::{Lists, Run};
use crate::store::{Commit, Meta, NoteRecord, Stat};

impl Run<'_> {
    pub(crate) fn record(
        &mut self,
        lists: Lists,
        rendered_now: Vec<Option<crate::hash::RenderedHash>>,
        outcomes: Vec<Outcome>,
    ) -> Result<()> {
        let settings = self.engine.settings();
        let mut written: HashMap<usize, Stat> = HashMap::new();
        let mut left: HashSet<usize> = HashSet::new();
        let mut looked_at: HashSet<usize> = HashSet::new();
        let mut read_now: HashSet<usize> = HashSet::new();
        let mut regions = HashMap::new();
        let mut evidence = HashMap::new();
        for outcome in outcomes {
            looked_at.insert(outcome.position);
            let id = self.notes[outcome.position].file.id.clone();
            if outcome.moved {
                self.report.moved.push(id.clone());
            }
            if let Some(warning) = outcome.warning {
                self.reporter.warn(&warning);
                self.report.warnings.push(*warning);
            }
            if let Some(region) = outcome.region {
                regions.insert(outcome.position, region);
            }
            if let Some(votes) = outcome.evidence {
                evidence.insert(outcome.position, votes);
            }
            match outcome.done {
                Done::Current => {}
                Done::Written(stat) => {
                    self.report.written += 1;
                    self.report.stale.push(id);
                    written.insert(outcome.position, stat);
                }
                Done::Stale => self.report.stale.push(id),
                Done::Held => {
                    // Recorded like a note that could not be written: stale, read next run.
                    self.report.held.push(id.clone());
                    self.report.stale.push(id);
                    left.insert(outcome.position);
                    self.report.held_until = self
                        .report
                        .held_until
                        .max(self.held_until(outcome.position));
                }
                Done::Left(warning) => {
                    if warning.is_write_failure() {
                        self.report.failed += 1;
                    }
                    self.report.stale.push(id);
                    left.insert(outcome.position);
                    self.reporter.warn(&warning);
                    self.report.warnings.push(*warning);
                }
            }
            if outcome.read {
                read_now.insert(outcome.position);
            }
        }
        self.report.stale.sort();
        self.report.moved.sort();
        self.report.held.sort();
        let n = self.notes.len();
        if self.options.mode != Mode::Write {
            self.report.unchanged = n - self.report.stale.len();
            let floor = self.floor_entry();
            self.report.lock_file = self.folder.change(&self.learned, floor.as_ref());
            return Ok(());
        }
        self.report.unchanged = n - self.report.written - left.len();

        // A stat taken in the same timestamp tick as a later change proves nothing: written
        // notes are settled once the clock moved on; read notes not older than the scan are
        // racy and read again next time.
        let settled = stamp::settle(&settings.root, &written, |position| {
            self.notes[position].file.path.clone()
        });
        let mut commit = Commit {
            deletes: self.departed.iter().map(|record| record.row).collect(),
            clear_lists: !self.patchable,
            ..Commit::default()
        };
        // Vectors no note uses any more: the old texts of departed and edited notes, unless
        // another note has that text now.
        let mut gone: HashSet<TextHash> = self
            .departed
            .iter()
            .map(|record| record.text_hash)
            .chain(
                self.notes
                    .iter()
                    .enumerate()
                    .filter_map(|(position, note)| {
                        let record = self.record_of(position)?;
                        (record.text_hash != note.hash).then_some(record.text_hash)
                    }),
            )
            .collect();
        if !gone.is_empty() {
            for note in &self.notes {
                gone.remove(&note.hash);
            }
        }
        let mut pruned: Vec<TextHash> = gone.into_iter().collect();
        pruned.sort_unstable();
        self.report.pruned = pruned.len();
        commit.pruned = pruned;
        let floor = self.floor_entry();
        if let Some(reason) = self.folder.change(&self.learned, floor.as_ref()) {
            let mut lock = self.folder.after(&self.learned, floor.as_ref());
            if self.report.failed > 0 || self.report.warnings.iter().any(|w| w.is_write_failure()) {
                // Notes not written may still hold lists where the old settings put them.
                lock.placed = self
                    .folder
                    .lock
                    .as_ref()
                    .and_then(|lock| lock.placed.clone())
                    .or(lock.placed);
            }
            lock.save(&settings.root)?;
            self.report.lock_file = Some(reason);
        }
        commit.meta = vec![
            (Meta::Text, settings.text_fingerprint()),
            (
                Meta::Ranking,
                crate::run::ranking_fingerprint(settings, &self.learned),
            ),
            (Meta::Learned, self.learned.id.clone()),
            (
                Meta::Render,
                settings.render_fingerprint(self.form, self.least_score()),
            ),
            (Meta::NextRow, self.next_row.to_string()),
        ];
        // Records, lists and words are made as they are written (a cold run makes a million of
        // each): the transaction holds what SQLite holds, not every record at once.
        // Most notes of most runs: not read, not looked at, nothing about them changed. The
        // others' records are made again, from their stored titles, links and regions.
        let untouched: Vec<bool> = self
            .notes
            .iter()
            .enumerate()
            .map(|(position, note)| {
                let was_read = note.read.is_some() || read_now.contains(&position);
                !was_read
                    && !looked_at.contains(&position)
                    && rendered_now[position].is_none()
                    && self.record_of(position).is_some_and(|record| {
                        !record.racy && record.id == note.file.id && record.slot == note.slot
                    })
            })
            .collect();
        let remade = (0..n).filter(|&position| !untouched[position]);
        self.records.fill(&self.store, remade)?;
        let stamp_before = self.stamp_before;
        let notes = &mut self.notes;
        let records = &self.records;
        let Lists {
            lists: mut candidates,
            touched,
            mut lexical,
            ..
        } = lists;
        self.store.commit(&commit, |rows| {
            for (position, note) in notes.iter().enumerate() {
                let record = records.get(position);
                if untouched[position] {
                    continue;
                }
                let was_read = note.read.is_some() || read_now.contains(&position);
                let stat = written
                    .get(&position)
                    .copied()
                    .or(note.stat)
                    .unwrap_or_default();
                let racy = if written.contains_key(&position) {
                    !settled.contains(&position)
                } else if was_read || record.is_none_or(|record| record.racy) {
                    stamp_before.is_none_or(|stamp| stat.mtime_ns >= stamp)
                } else {
                    false
                };
                let rendered = if left.contains(&position) {
                    None
                } else if looked_at.contains(&position) || rendered_now[position].is_some() {
                    rendered_now[position]
                } else {
                    record.and_then(|record| record.rendered)
                };
                let updated = NoteRecord {
                    row: note.row,
                    path: rel_text(&note.file.rel_path),
                    id: note.file.id.clone(),
                    stat,
                    racy,
                    text_hash: note.hash,
                    slot: note.slot,
                    title: note.title(record).to_owned(),
                    links: note.links(record).to_vec(),
                    evidence: evidence.get(&position).copied().unwrap_or(note.evidence),
                    region: match regions.remove(&position) {
                        Some(region) => serde_json::to_string(&region).ok(),
                        None => record.and_then(|record| record.region.clone()),
                    },
                    rendered,
                    stale: left.contains(&position),
                };
                if record != Some(&updated) {
                    rows.note(&updated)?;
                }
            }
            for (position, _) in touched.iter().enumerate().filter(|(_, &touched)| touched) {
                // Each list leaves memory as its stored form is written.
                let Some(list) = candidates[position].take() else {
                    continue;
                };
                let stored = list
                    .iter()
                    .map(|neighbour| (notes[neighbour.id as usize].row, neighbour.score))
                    .collect();
                rows.list(notes[position].row, &stored)?;
            }
            // The last use of the words read this run, from the note or from the full lexical
            // side they were handed to (`take_note_terms`).
            for (position, note) in notes.iter_mut().enumerate() {
                let Some(read) = note.read.as_mut() else {
                    continue;
                };
                let mut terms = std::mem::take(&mut read.terms);
                if let Some(lexical) = lexical.as_mut().filter(|_| terms.is_empty()) {
                    terms = lexical.take_terms(position);
                }
                rows.terms(note.row, &terms)?;
            }
            Ok(())
        })?;
        // Garbage grows only when vectors are pruned: only then can it pass the threshold.
        if self.report.pruned > 0 {
            let slots: Vec<u32> = self.notes.iter().map(|note| note.slot).collect();
            crate::run::compact::maybe_compact(&mut self.store, &mut self.vectors, &slots)?;
        }
        Ok(())
    }
}
