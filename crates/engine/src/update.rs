//! `update`: the steps of a run put together.
//!
//! lock → open the store and the vector file → scan (stat against the store) → read the notes
//! that changed → vectors (stored, or embedded now) → rank (patch the stored lists, compute them
//! all, or leave them when nothing that ranks changed) → render and write the notes whose lines
//! changed → record what changed (`record.rs`). Every step returns its results; nothing here
//! prints.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use closest_index::{ListSize, Neighbours};
use closest_notes::{
    LinkEvidence, LinkTarget, NoteFile, Region, Resolver, SectionSpec, WrittenRegion,
};
use rayon::prelude::*;
use serde::Serialize;
use sha2::Digest;

use crate::embedding::{ensure_vectors, import_legacy};
use crate::error::{Result, Warning};
use crate::hash::TextHash;
use crate::learned::{Learned, DRIFT_SHARE};
use crate::lock::FolderLock;
use crate::neighbours::showable;
use crate::prepare::{prepare_all, Placement, ReadNote};
use crate::progress::Reporter;
use crate::rank::{rank, LexicalSide, Matrix, Method, RankInput, SavedIndex, MARGIN};
use crate::rerank::Reranker;
use crate::scan::{scan, sweep, Records};
use crate::stamp;
use crate::store::{NoteRecord, Stat, Store};
use crate::stored::{in_halves, RowMap, StoredLists};
use crate::vectors::{Reset, VectorFile, VectorMeta};
use crate::write::{render, Expect, Job, Mode, Outcome, Rendering, Writer};
use crate::Engine;

/// What `update` is asked to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpdateOptions {
    pub mode: Mode,
    /// Read every note and recompute every list, whatever the store says.
    pub full: bool,
    /// In write mode, leave unwritten the notes changed (not by closest) within this long
    /// before the run: someone may still be typing. Their lists are computed and stored; a later
    /// run writes them (`hold.rs`).
    pub hold_recent: Option<Duration>,
}

/// The summary of a run (`--format json` prints it as one object).
#[derive(Debug, Default, Serialize)]
pub struct UpdateReport {
    pub notes: usize,
    pub embedded: usize,
    pub unchanged: usize,
    pub written: usize,
    pub pruned: usize,
    pub skipped: usize,
    /// Notes whose section is (or, in write mode, was) out of date, by id.
    pub stale: Vec<String>,
    pub index: String,
    /// For a saved HNSW index: rows added to it and removed from it this run (`None` when it
    /// was built from scratch or the index is exact).
    pub index_added: Option<usize>,
    pub index_removed: Option<usize>,
    pub model: String,
    pub seconds: f64,
    /// Notes read this run (the others were unchanged on disk).
    pub read: usize,
    /// Lists that changed.
    pub lists_updated: usize,
    /// `full` (every list computed), `patched` (stored lists patched) or `kept` (nothing that
    /// ranks changed).
    pub ranking: &'static str,
    /// Notes whose section could not be written (the run exits 2).
    pub failed: usize,
    /// Notes whose list moved to the region the settings now name (or would, with `--check`
    /// and `--dry-run`), by id.
    pub moved: Vec<String>,
    /// Note-template folders left out (Obsidian's, Templater's).
    pub template_folders: Vec<String>,
    /// Notes the settings no longer manage (an `exclude` added, an `include` narrowed) whose
    /// lists were (or, with `--check` and `--dry-run`, would be) taken out, by path.
    pub released: Vec<String>,
    /// Notes whose section waits because they changed within `hold_recent`, by id.
    pub held: Vec<String>,
    /// When the last of the held notes, if left alone, may be written.
    #[serde(skip)]
    pub held_until: Option<std::time::SystemTime>,
    /// Why the folder's lock file (`.closest.lock`) was (or, with `--check` and `--dry-run`,
    /// would be) written: `missing`, `the folder was learned again`, `the settings moved the
    /// lists`; `None` when it is current.
    pub lock_file: Option<&'static str>,
    /// Seconds per step.
    pub timings: Timings,
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

#[derive(Debug, Default, Serialize)]
pub struct Timings {
    /// Opening the store, the vector file and the learned statistics.
    pub open: f64,
    pub scan: f64,
    pub embed: f64,
    pub rank: f64,
    pub write: f64,
    /// Recording the run in the store.
    pub record: f64,
}

/// Notes rendered and handed to the writer at a time: their links are all a run holds of them.
const WRITE_BLOCK: usize = 8192;

/// One note of the run, in id order.
pub(crate) struct RunNote {
    pub file: NoteFile,
    pub stat: Option<Stat>,
    /// What reading the note gave, when this run read it.
    pub read: Option<Box<ReadNote>>,
    pub hash: TextHash,
    pub row: i64,
    pub evidence: LinkEvidence,
    pub slot: u32,
}

impl RunNote {
    /// The note's title (its first heading, else its id), given its record.
    pub fn title<'s>(&'s self, record: Option<&'s NoteRecord>) -> &'s str {
        match (&self.read, record) {
            (Some(read), _) => &read.title,
            (None, Some(record)) => &record.title,
            (None, None) => &self.file.id,
        }
    }

    /// The note's links outside its managed region, given its record.
    pub fn links<'s>(&'s self, record: Option<&'s NoteRecord>) -> &'s [(String, bool)] {
        match (&self.read, record) {
            (Some(read), _) => &read.links,
            (None, Some(record)) => &record.links,
            (None, None) => &[],
        }
    }

    /// Whether the stored lists know this note as it is now (same text, same id).
    fn known_to_lists(&self, record: Option<&NoteRecord>) -> bool {
        record.is_some_and(|record| record.text_hash == self.hash && record.id == self.file.id)
    }
}

/// Notes read by a run from which on it hands what the read step freed back to the system
/// (`trim`): below it there is little to give back.
const GIVE_BACK_ABOVE: usize = 10_000;

/// Everything a run carries from step to step.
pub(crate) struct Run<'a> {
    pub engine: &'a Engine,
    pub options: UpdateOptions,
    pub reporter: &'a dyn Reporter,
    pub report: UpdateReport,
    pub store: Store,
    pub vectors: VectorFile,
    pub notes: Vec<RunNote>,
    /// Each note's record by position, as the last run left it (none in a first run).
    pub records: Records,
    pub departed: Vec<NoteRecord>,
    pub next_row: i64,
    /// The file system's time before the scan (write mode): stats not older are racy.
    pub stamp_before: Option<i64>,
    pub patchable: bool,
    pub render_all: bool,
    pub region: Region,
    pub migrate_from: Option<SectionSpec>,
    /// The link form of this run.
    pub form: closest_notes::LinkForm,
    /// The folder's learned statistics (boilerplate, word frequencies) this run prepares with.
    pub learned: Learned,
    /// The folder's lock file as the run found it, and where old lists may be.
    pub folder: crate::lockfile::Folder,
}

/// The region a record says the last run wrote.
pub(crate) fn previous_region(record: Option<&NoteRecord>) -> Option<WrittenRegion> {
    record
        .and_then(|record| record.region.as_deref())
        .and_then(|json| serde_json::from_str(json).ok())
}

pub(crate) fn update(
    engine: &Engine,
    options: UpdateOptions,
    reporter: &dyn Reporter,
) -> Result<UpdateReport> {
    let started = Instant::now();
    let settings = engine.settings();
    let _lock = FolderLock::acquire(&settings.state_dir, &|path| {
        reporter.note(&format!(
            "waiting for another closest run on this folder (lock `{}`)",
            path.display()
        ))
    })?;
    let mut run = Run::begin(engine, options, reporter)?;
    run.ensure_vectors()?;
    if run.report.read >= GIVE_BACK_ABOVE {
        // The texts read are embedded and gone.
        crate::trim::give_back_freed();
    }
    let rank_started = Instant::now();
    let mut lists = run.rank()?;
    if run.report.ranking == "full" {
        // What the graph builder and the fusion freed.
        crate::trim::give_back_freed();
    }
    run.report.timings.rank = rank_started.elapsed().as_secs_f64();
    let write_started = Instant::now();
    let (jobs_rendered, outcomes) = run.write(&mut lists)?;
    // Notes the settings no longer manage lose their lists.
    let (released, warnings) =
        crate::clean::release_leavers(run.engine.settings(), &run.folder, options.mode)?;
    run.report.released = released;
    for warning in warnings {
        if matches!(warning, Warning::NotWritten(_) | Warning::ReadOnly { .. }) {
            run.report.failed += 1;
        }
        reporter.warn(&warning);
        run.report.warnings.push(warning);
    }
    run.report.timings.write = write_started.elapsed().as_secs_f64();
    let record_started = Instant::now();
    run.record(lists, jobs_rendered, outcomes)?;
    run.report.timings.record = record_started.elapsed().as_secs_f64();
    run.report.seconds = started.elapsed().as_secs_f64();
    // A million notes take a while to free: another thread does it while the caller goes on
    // (the command line exits without waiting).
    let notes = std::mem::take(&mut run.notes);
    let records = std::mem::take(&mut run.records);
    std::thread::spawn(move || drop((notes, records)));
    Ok(run.report)
}

/// The lists a run ends with, by position.
pub(crate) struct Lists {
    /// `None` for positions whose list was not needed this run (it stays as stored).
    pub lists: Vec<Option<Neighbours>>,
    /// The stored lists a patch left where they are, until the writing takes those it needs.
    pub stored: Option<StoredLists>,
    pub touched: Vec<bool>,
    /// The lexical side the lists were ranked with (hybrid similarity), for the final order.
    pub lexical: Option<closest_index::Lexical>,
}

impl<'a> Run<'a> {
    /// Opens the store and the vector file, scans the folder and reads what changed.
    fn begin(
        engine: &'a Engine,
        options: UpdateOptions,
        reporter: &'a dyn Reporter,
    ) -> Result<Self> {
        let started = Instant::now();
        let settings = engine.settings();
        let model = engine.model();
        let mut report = UpdateReport {
            model: model.name().to_owned(),
            ..UpdateReport::default()
        };
        let (mut store, rebuilt) = Store::open_checked(&settings.state_dir, options.full)?;
        if let Some(reason) = rebuilt {
            let warning = Warning::StoreRebuilt {
                path: store.path().to_owned(),
                reason,
            };
            reporter.warn(&warning);
            report.warnings.push(warning);
        }
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
        if reset.is_some() {
            import_legacy(model, settings.long, &mut store, &mut vectors)?;
        }

        report.timings.open = started.elapsed().as_secs_f64();
        let scan_started = Instant::now();
        let stamp_before = (options.mode == Mode::Write)
            .then(|| stamp::now(&settings.root))
            .flatten();
        let text_changed =
            store.meta("text")?.as_deref() != Some(settings.text_fingerprint().as_str());
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
            || store.meta("learned")?.as_deref() != kept.as_ref().map(|kept| kept.id.as_str());
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
        warnings.extend(sweep(&scanned.temp_files));
        let read = |scanned: &crate::scan::Scan, learned: Option<&Learned>| {
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
                crate::prepare::learn_from(&mut prepared)
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
        let patchable = reset.is_none()
            && !options.full
            && store.meta("ranking")?.as_deref()
                == Some(ranking_fingerprint(settings, &learned).as_str());
        let form = link_form(settings, &notes);
        let render_all =
            store.meta("render")?.as_deref() != Some(settings.render_fingerprint(form).as_str());
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
        })
    }

    pub(crate) fn placement(&self) -> Placement<'_> {
        Placement {
            section: &self.folder.section,
            region: &self.region,
            migrate_from: self.migrate_from.as_ref(),
            old_regions: &self.folder.old_regions,
            learned: Some(&self.learned),
        }
    }

    /// Gives every note a vector slot: stored, or embedded now.
    fn ensure_vectors(&mut self) -> Result<()> {
        let started = Instant::now();
        let rows = self.vectors.rows();
        let needs_vector: Vec<(TextHash, &str)> = self
            .notes
            .iter()
            .enumerate()
            .filter(|&(position, note)| {
                self.record_of(position).is_none_or(|record| {
                    record.text_hash != note.hash || record.slot as usize >= rows
                })
            })
            .map(|(_, note)| note)
            .filter_map(|note| {
                note.read
                    .as_ref()
                    .map(|read| (note.hash, read.text.as_str()))
            })
            .collect();
        let settings = self.engine.settings();
        let (slots, embedded) = ensure_vectors(
            &needs_vector,
            self.engine.model(),
            settings.long,
            &mut self.store,
            &mut self.vectors,
            self.reporter,
        )?;
        for note in &mut self.notes {
            if let Some(&slot) = slots.get(&note.hash) {
                note.slot = slot;
            }
            // Every text has its vector now; a million of them need not wait for the writes.
            if let Some(read) = &mut note.read {
                read.text = String::new();
            }
        }
        self.report.embedded = embedded;
        self.report.timings.embed = started.elapsed().as_secs_f64();
        Ok(())
    }

    /// The lists of this run: kept when nothing that ranks changed, else patched or computed.
    fn rank(&mut self) -> Result<Lists> {
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
        let hnsw = closest_index::choose(settings.index, n) == closest_index::ConcreteKind::Hnsw;
        let nothing_ranks =
            self.patchable && changed.is_empty() && self.departed.is_empty() && !hnsw;
        self.report.index = closest_index::choose(settings.index, n).to_string();
        if nothing_ranks {
            let wanted: Vec<bool> = (0..n).map(|position| self.must_render(position)).collect();
            // The notes to render take their lists, and their candidates', from the stored
            // ones as the writing needs them (`take_stored_to_render`).
            let any = wanted.contains(&true);
            let stored = if any {
                StoredLists::read(&self.store, &map, n)?
            } else {
                StoredLists::none(n)
            };
            // A note that must be rendered but has no usable stored list is ranked below.
            if (0..n).all(|position| !wanted[position] || stored.has(position)) {
                self.report.ranking = "kept";
                // Only the rendered notes and their candidates are compared: their words are
                // read before writing (`fill_terms`).
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
        }
        // Lists that lost an entry to a departure changed even if nothing enters them.
        let stored = if self.patchable {
            StoredLists::read(&self.store, &map, n)?
        } else {
            StoredLists::none(n)
        };
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
            Some(weight)
                if crate::rank::patches(
                    self.patchable,
                    n,
                    crate::rank::fresh_lists(&stored, &changed).len(),
                    kind,
                ) =>
            {
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
                patchable: self.patchable,
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
                "full"
            }
            Method::Patched => "patched",
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
    fn order_vectors(&mut self) -> Result<()> {
        let slots: Vec<u32> = self.notes.iter().map(|note| note.slot).collect();
        if let Some(new_slots) =
            crate::compact::into_order(&mut self.store, &mut self.vectors, &slots)?
        {
            for (note, slot) in self.notes.iter_mut().zip(new_slots) {
                note.slot = slot;
            }
        }
        Ok(())
    }

    /// Whether a note's lines must be rendered although its list did not change.
    fn must_render(&self, position: usize) -> bool {
        let note = &self.notes[position];
        self.render_all
            || note.read.is_some()
            || self
                .record_of(position)
                .is_none_or(|record| record.stale || record.rendered.is_none())
    }

    /// The lexical side of a patch: the matches of `queries` by one pass over every note's
    /// words (stored, or read this run), and the words of the queries.
    fn partial_lexical(
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
    fn terms_at(&self, positions: &[usize]) -> Result<Vec<(usize, closest_index::Terms)>> {
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

    /// Renders the notes whose lines may have changed and writes those whose bytes do.
    /// Returns the rendered hash of every note rendered, and the write outcomes.
    fn write(&mut self, lists: &mut Lists) -> Result<(Vec<Option<TextHash>>, Vec<Outcome>)> {
        let mut rendered_now: Vec<Option<TextHash>> = vec![None; self.notes.len()];
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
        let fingerprint = settings.render_fingerprint(self.form);
        let rendering = Rendering {
            settings,
            region: &self.region,
            form: self.form,
            fingerprint: &fingerprint,
        };
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
            let candidates: Vec<LinkTarget> = showable(&list, settings, |other| {
                linked.contains(&self.notes[other as usize].file.id)
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
        Ok((rendered_now, outcomes))
    }
}

impl Run<'_> {
    /// Takes out of the stored lists a patch left in place every one the writing may render
    /// (the note or a note its list names moved, or the note must be rendered anyway), and
    /// the lists of their candidates, whose augmented vectors the final order compares: the
    /// lists `write` would render from every list, at the cost of what changed.
    fn take_stored_to_render(&self, lists: &mut Lists) {
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

    /// The record of the note at `position`, as the last run left it.
    pub(crate) fn record_of(&self, position: usize) -> Option<&NoteRecord> {
        self.records.get(position)
    }

    /// What a link to the note at `position`, a neighbour with `score`, needs.
    fn target(&self, position: usize, score: f32) -> LinkTarget {
        let note = &self.notes[position];
        LinkTarget {
            id: note.file.id.clone(),
            title: note.title(self.record_of(position)).to_owned(),
            rel_path: note.file.rel_path.clone(),
            score,
        }
    }
}

/// What stored lists depend on: the settings' ranking fingerprint and, when the lexical score
/// takes part, the learned word frequencies that weigh it.
pub(crate) fn ranking_fingerprint(settings: &crate::FolderSettings, learned: &Learned) -> String {
    match settings.lexical_weight() {
        Some(_) => format!("{}|learned={}", settings.ranking_fingerprint(), learned.id),
        None => settings.ranking_fingerprint(),
    }
}

/// The link form of this run: the setting, or the folder's convention (every note's vote).
fn link_form(settings: &crate::FolderSettings, notes: &[RunNote]) -> closest_notes::LinkForm {
    let evidence: LinkEvidence = notes.iter().map(|note| note.evidence).sum();
    settings
        .link_style
        .resolve(evidence, notes.iter().map(|note| &note.file))
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
