//! The first steps of a run: open the store, the vector file and the folder's lock file, scan
//! the folder against the store, read what changed, and learn the folder again when it drifted.

use super::{
    link_form, previous_region, ranking_fingerprint, Run, RunNote, UpdateOptions, UpdateReport,
};
use std::collections::HashSet;
use std::time::Instant;

use closest_notes::{LinkEvidence, NoteFile, WrittenRegion};
use rayon::prelude::*;

use crate::error::{Result, Warning};
use crate::hash::TextHash;
use crate::learned::{Learned, DRIFT_SHARE};
use crate::progress::Reporter;
use crate::run::embed::import_legacy;
use crate::run::read::{prepare_all, Placement};
use crate::run::scan::{scan, sweep};
use crate::run::stamp;
use crate::run::write::Mode;
use crate::store::Store;
use crate::vectors::{Reset, VectorFile, VectorMeta};
use crate::Engine;

/// How a run may use the folder's state: the engine's update steps open (and repair) the store
/// and change files; `status` runs the same steps to foretell them, and only reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    Write,
    ReadOnly,
}

impl<'a> Run<'a> {
    /// Opens the store and the vector file, scans the folder and reads what changed (with
    /// `Access::ReadOnly`, against a store opened only to read, or one of nothing, and
    /// without removing what a killed run left).
    pub(crate) fn begin(
        engine: &'a Engine,
        options: UpdateOptions,
        access: Access,
        reporter: &'a dyn Reporter,
    ) -> Result<Self> {
        let started = Instant::now();
        let settings = engine.settings();
        let model = engine.model();
        let mut report = UpdateReport {
            model: model.name().to_owned(),
            ..UpdateReport::default()
        };
        let mut store = match access {
            Access::Write => {
                let (store, rebuilt) = Store::open_checked(&settings.state_dir, options.full)?;
                if let Some(reason) = rebuilt {
                    let warning = Warning::StoreRebuilt {
                        path: store.path().to_owned(),
                        reason,
                    };
                    reporter.warn(&warning);
                    report.warnings.push(warning);
                }
                store
            }
            Access::ReadOnly => match Store::open_reader(&settings.state_dir)? {
                Some(store) => store,
                None => Store::empty()?,
            },
        };
        // The vector file: a new model or preparation means embedding every note again.
        let key = model.vector_key(settings.long);
        let meta = VectorMeta::from_entries(|name| store.meta(name).ok().flatten());
        let had_vectors = !meta.key.is_empty();
        let (mut vectors, reset) = VectorFile::open(&settings.state_dir, meta, &key, model.dim());
        match &reset {
            Some(Reset::KeyChanged) if had_vectors => reporter.note(&format!(
                "model or settings changed (now {}): embedding every note again",
                model.name()
            )),
            Some(Reset::Damaged(reason)) => {
                let warning = Warning::Store(format!("{reason}; embedding every note again"));
                reporter.warn(&warning);
                report.warnings.push(warning);
            }
            _ => {}
        }
        if reset.is_some() && access == Access::Write {
            import_legacy(model, settings.long, &mut store, &mut vectors)?;
        }

        report.timings.open = started.elapsed().as_secs_f64();
        let scan_started = Instant::now();
        let stamp_before = (options.mode == Mode::Write)
            .then(|| stamp::now(&settings.root))
            .flatten();
        let text_changed = store.meta(crate::store::Meta::Text)?.as_deref()
            != Some(settings.text_fingerprint().as_str());
        let region = settings.region();
        let migrate_from = settings.migrate_from();
        let mut lock_warnings = Vec::new();
        let folder = crate::lockfile::Folder::open(settings, &mut lock_warnings);
        for warning in lock_warnings {
            reporter.warn(&warning);
            report.warnings.push(warning);
        }
        let kept = folder.learned.clone();
        let mut relearn = options.full || kept.is_none();
        let learned_moved = relearn
            || store.meta(crate::store::Meta::Learned)?.as_deref()
                != kept.as_ref().map(|kept| kept.id.as_str());
        let read_all = options.full
            || reset.is_some()
            || text_changed
            || migrate_from.is_some()
            || !folder.old_regions.is_empty()
            || learned_moved;
        let mut scanned = scan(settings, || store.notes_without_details(), read_all)?;
        // The records' titles, links and regions: of the notes read (their last region), or
        // of every note when lists leave out linked notes (each list's size counts its links).
        if settings.exclude_linked {
            scanned.records.fill(&store, 0..scanned.entries.len())?;
        } else {
            let read: Vec<usize> = (0..scanned.entries.len())
                .filter(|&position| scanned.entries[position].read)
                .collect();
            scanned.records.fill(&store, read)?;
        }
        report.template_folders = scanned
            .template_folders
            .iter()
            .map(|folder| folder.path.display().to_string())
            .collect();
        let mut warnings = std::mem::take(&mut scanned.warnings);
        if access == Access::Write {
            warnings.extend(sweep(&scanned.temp_files));
        }
        let read = |scanned: &crate::run::scan::Scan, learned: Option<&Learned>| {
            let to_read: Vec<(&NoteFile, Option<WrittenRegion>)> = scanned
                .entries
                .iter()
                .enumerate()
                .filter(|(_, entry)| entry.read)
                .map(|(position, entry)| {
                    (&entry.file, previous_region(scanned.records.get(position)))
                })
                .collect();
            let placement = Placement {
                section: &folder.section,
                region: &region,
                migrate_from: migrate_from.as_ref(),
                old_regions: &folder.old_regions,
                learned,
            };
            prepare_all(&to_read, placement, reporter)
        };
        let (mut prepared, mut read_warnings) =
            read(&scanned, if relearn { None } else { kept.as_ref() });
        // The folder's drift from the notes the statistics were learned from (`learned.rs`):
        // past a share, this run learns them again and so reads every note.
        if let Some(kept) = kept.as_ref().filter(|_| !relearn) {
            let now = crate::learned::Sketch::of(
                (0..scanned.entries.len())
                    .filter_map(|position| match scanned.entries[position].read {
                        true => None,
                        false => scanned.records.get(position).map(|record| record.text_hash),
                    })
                    .chain(prepared.iter().flatten().map(|read| read.hash)),
            );
            let adopting = kept.sketch.hashes().is_empty();
            if !adopting && kept.sketch.drift(&now) >= DRIFT_SHARE {
                relearn = true;
                for entry in &mut scanned.entries {
                    entry.read = true;
                }
                scanned.records.fill(&store, 0..scanned.entries.len())?;
                (prepared, read_warnings) = read(&scanned, None);
            }
        }
        report.read = scanned.entries.iter().filter(|entry| entry.read).count();
        report.relearned = relearn;
        let learned = match kept {
            Some(mut kept) if !relearn => {
                if kept.sketch.hashes().is_empty() {
                    // Statistics an earlier version kept in the state folder, adopted with a
                    // sketch of the notes as they are.
                    kept.sketch = crate::learned::Sketch::of(
                        (0..scanned.entries.len())
                            .filter(|&position| !scanned.entries[position].read)
                            .filter_map(|position| scanned.records.get(position))
                            .map(|record| record.text_hash)
                            .chain(prepared.iter().flatten().map(|read| read.hash)),
                    );
                }
                kept
            }
            _ => {
                // Every note was read: learn from all of them, then prepare each through it.
                crate::run::read::learn_from(&mut prepared)
            }
        };
        report.skipped = read_warnings.len();
        warnings.extend(read_warnings);
        for warning in warnings {
            reporter.warn(&warning);
            report.warnings.push(warning);
        }
        report.timings.scan = scan_started.elapsed().as_secs_f64();

        // The run's notes, in id order; a note that could not be read leaves the run.
        let mut next_row = store.next_row()?;
        let mut departed = scanned.departed;
        let read_positions: Vec<usize> = (0..scanned.entries.len())
            .filter(|&position| scanned.entries[position].read)
            .collect();
        // Every note as its record has it, on every core.
        let mut records = scanned.records;
        let mut notes: Vec<RunNote> = scanned
            .entries
            .into_par_iter()
            .enumerate()
            .map(|(position, entry)| {
                let (hash, evidence, slot, row) = match records.get(position) {
                    Some(record) => (record.text_hash, record.evidence, record.slot, record.row),
                    None => (TextHash::default(), LinkEvidence::default(), u32::MAX, 0),
                };
                RunNote {
                    file: entry.file,
                    stat: entry.stat,
                    read: None,
                    hash,
                    row,
                    evidence,
                    slot,
                }
            })
            .collect();
        let mut unreadable = Vec::new();
        for (&position, read) in read_positions.iter().zip(prepared) {
            let note = &mut notes[position];
            let Some(read) = read else {
                unreadable.push(position);
                continue;
            };
            note.hash = read.hash;
            note.evidence = read.evidence;
            note.read = Some(Box::new(read));
            if records.get(position).is_none() {
                note.row = next_row;
                next_row += 1;
            }
        }
        // A note that could not be read leaves the run.
        if !unreadable.is_empty() {
            departed.extend(records.remove(&unreadable));
            let leaving: HashSet<usize> = unreadable.into_iter().collect();
            let mut position = 0;
            notes.retain(|_| {
                position += 1;
                !leaving.contains(&(position - 1))
            });
        }
        report.notes = notes.len();
        // The floor is kept while the statistics, ranking and model it was learned under are;
        // else this run learns it from every list, computed again (unless `min-score` stands
        // in for it).
        let floor_key = crate::floor::key(settings, &engine.model().vector_key(settings.long));
        let floor = folder
            .floor
            .as_ref()
            .filter(|floor| floor.key == floor_key && !relearn)
            .map(|floor| floor.score);
        let learn_floor = floor.is_none() && !settings.min_score.is_finite();
        let patchable = reset.is_none()
            && !options.full
            && !learn_floor
            && store.meta(crate::store::Meta::Ranking)?.as_deref()
                == Some(ranking_fingerprint(settings, &learned).as_str());
        let form = link_form(settings, &notes);
        let least = crate::floor::least_score(settings, floor);
        let render_all = store.meta(crate::store::Meta::Render)?.as_deref()
            != Some(settings.render_fingerprint(form, least).as_str());
        Ok(Run {
            engine,
            options,
            reporter,
            report,
            store,
            vectors,
            notes,
            records,
            departed,
            next_row,
            stamp_before,
            patchable,
            render_all,
            region,
            migrate_from,
            form,
            learned,
            folder,
            relearned: relearn,
            floor,
            learn_floor,
            floor_key,
        })
    }
}
