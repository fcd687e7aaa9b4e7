//! `update`: the steps of a run put together.
//!
//! lock → open the store and the vector file → scan (stat against the store) → read the notes
//! that changed → vectors (stored, or embedded now) → rank (patch the stored lists, compute them
//! all, or leave them when nothing that ranks changed) → render and write the notes whose lines
//! changed → record what changed (`record.rs`). Every step returns its results; nothing here
//! prints.

pub(crate) mod begin;
pub(crate) mod compact;
pub(crate) mod embed;
pub(crate) mod hold;
pub(crate) mod keep;
mod lists;
pub(crate) mod plan;
pub(crate) mod rank;
pub(crate) mod read;
mod record;
mod render;
mod report;
pub(crate) mod scan;
pub(crate) mod stamp;
pub(crate) mod stored_lists;
pub(crate) mod write;

pub(crate) use lists::content_key;
pub use report::{Ranking, UpdateOptions, UpdateReport};
pub use write::Mode;

use std::time::Instant;

use closest_index::Neighbours;
use closest_notes::{LinkEvidence, LinkTarget, NoteFile, Region, SectionSpec, WrittenRegion};

use crate::error::{Result, Warning};
use crate::hash::TextHash;
use crate::learned::Learned;
use crate::lock::FolderLock;
use crate::progress::Reporter;
use crate::run::read::{Placement, ReadNote};
use crate::run::scan::Records;
use crate::run::stored_lists::StoredLists;
use crate::store::{NoteRecord, Stat, Store};
use crate::vectors::VectorFile;
use crate::Engine;

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
    pub(crate) fn title<'s>(&'s self, record: Option<&'s NoteRecord>) -> &'s str {
        match (&self.read, record) {
            (Some(read), _) => &read.title,
            (None, Some(record)) => &record.title,
            (None, None) => &self.file.id,
        }
    }

    /// The note's links outside its managed region, given its record.
    pub(crate) fn links<'s>(&'s self, record: Option<&'s NoteRecord>) -> &'s [(String, bool)] {
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
    /// Whether this run learns the folder's statistics again (and so reads every note).
    pub relearned: bool,
    /// The folder's floor (`floor.rs`): the lock file's, or the one this run learns.
    pub floor: Option<f32>,
    /// Whether this run learns the floor (its lists are then all computed).
    pub learn_floor: bool,
    /// What the floor is learned under.
    pub floor_key: String,
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
    let mut run = Run::begin(engine, options, begin::Access::Write, reporter)?;
    run.ensure_vectors()?;
    if run.report.read >= GIVE_BACK_ABOVE {
        // The texts read are embedded and gone.
        crate::trim::give_back_freed();
    }
    let rank_started = Instant::now();
    let mut lists = run.rank()?;
    if run.report.ranking == Ranking::Full {
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
    pub(crate) fn placement(&self) -> Placement<'_> {
        Placement {
            section: &self.folder.section,
            region: &self.region,
            migrate_from: self.migrate_from.as_ref(),
            old_regions: &self.folder.old_regions,
            learned: Some(&self.learned),
        }
    }
}

impl Run<'_> {
    /// The record of the note at `position`, as the last run left it.
    pub(crate) fn record_of(&self, position: usize) -> Option<&NoteRecord> {
        self.records.get(position)
    }

    /// The least score a shown link has in this run.
    pub(crate) fn least_score(&self) -> f32 {
        crate::floor::least_score(self.engine.settings(), self.floor)
    }

    /// The floor as the lock file keeps it.
    pub(crate) fn floor_entry(&self) -> Option<crate::floor::Floor> {
        self.floor.map(|score| crate::floor::Floor {
            score,
            key: self.floor_key.clone(),
        })
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
