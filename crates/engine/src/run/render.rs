//! Rendering a run's lists: the notes whose lines may have changed are rendered in their final
//! order and handed to the writer (`write.rs`).

use super::{previous_region, Lists, Run, WRITE_BLOCK};

use closest_notes::{LinkTarget, NoteFile, Resolver};
use rayon::prelude::*;

use crate::error::Result;
use crate::hash::has_own_text;
use crate::hash::{RenderedHash, TextHash};
use crate::neighbours::showable;
use crate::rerank::Reranker;
use crate::run::write::{render, Expect, Job, Outcome, Rendering, Writer};

impl<'a> Run<'a> {
    /// Whether a note's lines must be rendered although its list did not change.
    pub(super) fn must_render(&self, position: usize) -> bool {
        let note = &self.notes[position];
        self.render_all
            || note.read.is_some()
            || self
                .record_of(position)
                .is_none_or(|record| record.stale || record.rendered.is_none())
    }

    /// Renders the notes whose lines may have changed and writes those whose bytes do.
    /// Returns the rendered hash of every note rendered, and the write outcomes.
    pub(super) fn write(
        &mut self,
        lists: &mut Lists,
    ) -> Result<(Vec<Option<RenderedHash>>, Vec<Outcome>)> {
        let mut rendered_now: Vec<Option<RenderedHash>> = vec![None; self.notes.len()];
        self.take_stored_to_render(lists);
        // What rendering looks at: the notes with a list (those rendered and their
        // candidates, the titles of links) and their records' links and regions.
        let with_list = (0..self.notes.len()).filter(|&position| lists.lists[position].is_some());
        self.records.fill(&self.store, with_list)?;
        if lists.lists.iter().all(Option::is_none) {
            // Nothing ranked or asked to render (most runs): no list to order or write.
            return Ok((rendered_now, Vec::new()));
        }
        let settings = self.engine.settings();
        let mut least = self.least_score();
        let mut fingerprint = settings.render_fingerprint(self.form, least);
        let resolver = settings.exclude_linked.then(|| {
            let files: Vec<NoteFile> = self.notes.iter().map(|note| note.file.clone()).collect();
            Resolver::new(&files)
        });
        let mut held = Vec::new();
        // A final order moves when the note's candidates, or a candidate's own nearest
        // candidates or vector, moved (`rerank.rs`).
        let moved: Vec<bool> = self
            .notes
            .iter()
            .enumerate()
            .map(|(position, note)| {
                lists.touched[position] || !note.known_to_lists(self.record_of(position))
            })
            .collect();
        let to_render: Vec<usize> = (0..self.notes.len())
            .filter(|&position| {
                lists.lists[position].as_ref().is_some_and(|candidates| {
                    moved[position]
                        || candidates
                            .iter()
                            .any(|neighbour| moved[neighbour.id as usize])
                        || self.must_render(position)
                })
            })
            .collect();
        if let Some(lexical) = lists
            .lexical
            .as_mut()
            .filter(|lexical| lexical.is_partial())
        {
            // The final order compares each rendered note with its candidates by their words.
            let mut wanted: Vec<usize> = to_render
                .iter()
                .flat_map(|&position| {
                    let candidates = lists.lists[position].iter().flatten();
                    std::iter::once(position)
                        .chain(candidates.map(|neighbour| neighbour.id as usize))
                })
                .collect();
            wanted.sort_unstable();
            wanted.dedup();
            for (position, terms) in self.terms_at(&wanted)? {
                lexical.set_terms(position, terms);
            }
        }
        let rows: Vec<&[f32]> = self
            .notes
            .iter()
            .map(|note| self.vectors.row(note.slot))
            .collect();
        let slots: Vec<u32> = self.notes.iter().map(|note| note.slot).collect();
        let reranker = Reranker::new(&rows, &lists.lists, lists.lexical.as_ref()).spilling(
            &self.vectors,
            &slots,
            &settings.state_dir,
        );
        let learned_floor = if self.learn_floor {
            // Every list was computed: the floor is learned from the sample's final lists.
            let hashes: Vec<TextHash> = self.notes.iter().map(|note| note.hash).collect();
            let sample = crate::floor::sample(&hashes, |position| has_own_text(&hashes[position]));
            let floor = crate::floor::learn(reranker.final_lists(&sample).map(|(_, list)| {
                list.iter()
                    .find(|neighbour| has_own_text(&hashes[neighbour.id as usize]))
                    .map(|neighbour| neighbour.score)
            }));
            least = crate::floor::least_score(settings, floor);
            fingerprint = settings.render_fingerprint(self.form, least);
            Some(floor)
        } else {
            None
        };
        let rendering = Rendering {
            settings,
            region: &self.region,
            form: self.form,
            fingerprint: &fingerprint,
        };
        let mut writer = Writer::new(
            to_render.len(),
            rendering,
            self.placement(),
            self.options.mode,
            self.reporter,
        );
        let mut jobs = Vec::new();
        for (position, list) in reranker.final_lists(&to_render) {
            let note = &self.notes[position];
            let linked = resolver
                .as_ref()
                .map(|resolver| {
                    resolver.linked_ids_of(note.links(self.record_of(position)), &note.file)
                })
                .unwrap_or_default();
            let own = has_own_text(&note.hash);
            let candidates: Vec<LinkTarget> = showable(&list, least, own, |other| {
                let other = &self.notes[other as usize];
                !has_own_text(&other.hash) || linked.contains(&other.file.id)
            })
            .into_iter()
            .map(|neighbour| self.target(neighbour.id as usize, neighbour.score))
            .collect();
            let shown = candidates.len().min(settings.k);
            let (_, rendered) = render(rendering, &note.file, &candidates[..shown]);
            rendered_now[position] = Some(rendered);
            let record = self.record_of(position);
            let unchanged_since_written = note.read.is_none()
                && record.is_some_and(|record| record.rendered == Some(rendered) && !record.stale);
            if unchanged_since_written {
                writer.skip();
                continue;
            }
            if self.is_held(position) {
                held.push(Outcome::held(position));
                writer.skip();
                continue;
            }
            jobs.push(Job {
                position,
                file: &note.file,
                expect: match (&note.read, record) {
                    (Some(read), _) => Expect::Bytes(read.content_hash),
                    (None, Some(record)) => Expect::Text(record.text_hash),
                    (None, None) => unreachable!("a note without a record is always read"),
                },
                previous: previous_region(record),
                candidates,
                shown,
            });
            if jobs.len() == WRITE_BLOCK {
                writer.write(std::mem::take(&mut jobs));
            }
        }
        writer.write(jobs);
        self.vectors.release(0, self.vectors.rows());
        let mut outcomes = writer.finish();
        outcomes.extend(held);
        if let Some(floor) = learned_floor {
            self.floor = floor;
        }
        Ok((rendered_now, outcomes))
    }
}

impl Run<'_> {
    /// Takes out of the stored lists a patch left in place every one the writing may render
    /// (the note or a note its list names moved, or the note must be rendered anyway), and
    /// the lists of their candidates, whose augmented vectors the final order compares: the
    /// lists `write` would render from every list, at the cost of what changed.
    pub(super) fn take_stored_to_render(&self, lists: &mut Lists) {
        let Some(mut stored) = lists.stored.take() else {
            return;
        };
        let n = self.notes.len();
        let moved: Vec<bool> = (0..n)
            .map(|position| {
                lists.touched[position]
                    || !self.notes[position].known_to_lists(self.record_of(position))
            })
            .collect();
        let must: Vec<bool> = (0..n).map(|position| self.must_render(position)).collect();
        let stored_ref = &stored;
        let render: Vec<usize> = (0..n)
            .into_par_iter()
            .filter(|&position| {
                lists.lists[position].is_none()
                    && stored_ref.has(position)
                    && (moved[position] || must[position] || stored_ref.names_any(position, &moved))
            })
            .collect();
        for position in render {
            lists.lists[position] = stored.take(position);
        }
        let mut candidates: Vec<usize> = lists
            .lists
            .iter()
            .flatten()
            .flat_map(|list| list.iter().map(|neighbour| neighbour.id as usize))
            .filter(|&candidate| lists.lists[candidate].is_none())
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        for position in candidates {
            lists.lists[position] = stored.take(position);
        }
    }
}
