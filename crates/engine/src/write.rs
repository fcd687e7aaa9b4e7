//! Step five: render each note's links, write them into its managed region, and write the notes
//! whose bytes change, atomically.
//!
//! A note is looked at only when its lines may differ from what the last run wrote: it was read
//! this run, its rendered lines' hash differs from the stored one, or its last write failed.
//! Notes not read by the scan are read here ("late"), and one whose text changed in the
//! meantime is left for the next run. Writes run on their own pool of threads, because each
//! waits on an fsync rather than the CPU; each touched folder is synced once at the end.

use std::collections::BTreeSet;
use std::path::PathBuf;

use closest_notes::{
    render_links_with, sync_folder, write_atomic_deferred, write_region, LinkEvidence, LinkForm,
    LinkTarget, NoteFile, Region, WriteOutcome, WrittenRegion,
};
use rayon::prelude::*;

use crate::error::Warning;
use crate::hash::{hash_parts, TextHash};
use crate::prepare::{prepare, Moved, Placement, Prepared};
use crate::progress::Reporter;
use crate::settings::{FolderSettings, Output};
use crate::store::Stat;

/// Threads that write notes: enough to keep a disk's queue full while each waits on its fsync.
const WRITE_THREADS: usize = 16;

/// What the run may do to the notes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Write,
    Check,
    DryRun,
}

/// One note to render.
pub struct Job<'a> {
    pub position: usize,
    pub file: &'a NoteFile,
    /// The note as read this run, if it was.
    pub prepared: Option<&'a Prepared>,
    /// For a note read late: the text hash the store recorded, which it must still have.
    pub expected_hash: Option<TextHash>,
    /// The region the last run wrote into the note.
    pub previous: Option<WrittenRegion>,
    pub targets: Vec<LinkTarget>,
}

/// What happened to one note.
#[derive(Debug)]
pub enum Done {
    /// Its section was already current.
    Current,
    /// Its section was rewritten: the new file's stat, and the folder to sync.
    Written(Stat, PathBuf),
    /// Its section is stale (`--check`, `--dry-run`).
    Stale,
    /// Left alone on purpose or because it failed; the warning says which.
    Left(Warning),
    /// Not written because it changed too recently (`hold_recent`); a later run writes it.
    Held,
}

/// A job's result with the hash of the lines rendered for it.
pub struct Outcome {
    pub position: usize,
    pub done: Done,
    /// The region now in the note (as written, or as it already was).
    pub region: Option<WrittenRegion>,
    /// The note's vote on the link form, as the note now is.
    pub evidence: Option<LinkEvidence>,
    /// Whether the region moved (the old one was taken out).
    pub moved: bool,
    /// Said about the note although it was written (an edited old region left beside it).
    pub warning: Option<Warning>,
    /// The note as read for this job, when it was read late.
    pub late: Option<Prepared>,
}

/// What rendering needs besides the note.
#[derive(Clone, Copy)]
pub struct Rendering<'a> {
    pub settings: &'a FolderSettings,
    pub region: &'a Region,
    pub form: LinkForm,
    /// The render settings and link form, folded into every rendered hash.
    pub fingerprint: &'a str,
}

/// The lines (link lines, or ids for a front-matter list) of one note and their hash.
pub fn render(
    rendering: Rendering<'_>,
    file: &NoteFile,
    targets: &[LinkTarget],
) -> (Vec<String>, TextHash) {
    let lines = match &rendering.settings.output {
        Output::Section(template) => render_links_with(template, file, targets, rendering.form),
        Output::FrontMatter { .. } => targets.iter().map(|target| target.id.clone()).collect(),
    };
    let hash =
        hash_parts(std::iter::once(rendering.fingerprint).chain(lines.iter().map(String::as_str)));
    (lines, hash)
}

/// Renders, writes the region and (in write mode) writes the note, for every job.
pub fn write_all(
    jobs: Vec<Job<'_>>,
    rendering: Rendering<'_>,
    placement: Placement<'_>,
    mode: Mode,
    reporter: &dyn Reporter,
) -> Vec<Outcome> {
    let bar = reporter.bar("writing", jobs.len() as u64);
    let run = || -> Vec<Outcome> {
        jobs.into_par_iter()
            .map(|job| {
                let outcome = write_one(job, rendering, placement, mode);
                bar.inc(1);
                outcome
            })
            .collect()
    };
    let outcomes = match rayon::ThreadPoolBuilder::new()
        .num_threads(WRITE_THREADS)
        .build()
    {
        Ok(pool) if mode == Mode::Write => pool.install(run),
        _ => run(),
    };
    bar.finish();
    // One sync per folder makes every rename durable; each note was complete before.
    let folders: BTreeSet<&PathBuf> = outcomes
        .iter()
        .filter_map(|outcome| match &outcome.done {
            Done::Written(_, folder) => Some(folder),
            _ => None,
        })
        .collect();
    for folder in folders {
        sync_folder(folder);
    }
    outcomes
}

fn write_one(
    job: Job<'_>,
    rendering: Rendering<'_>,
    placement: Placement<'_>,
    mode: Mode,
) -> Outcome {
    let left = |position, warning| Outcome {
        position,
        done: Done::Left(warning),
        region: None,
        evidence: None,
        moved: false,
        warning: None,
        late: None,
    };
    let (lines, _) = render(rendering, job.file, &job.targets);
    let mut late = None;
    let prepared = match job.prepared {
        Some(prepared) => prepared,
        None => match prepare(job.file, placement, job.previous.as_ref()) {
            Ok(prepared) if job.expected_hash.is_some_and(|hash| hash != prepared.hash) => {
                let warning = Warning::ChangedDuringRun {
                    path: job.file.path.clone(),
                };
                return left(job.position, warning);
            }
            Ok(prepared) => late.insert(prepared),
            Err(err) => return left(job.position, Warning::Skipped(err)),
        },
    };
    let previous = job
        .previous
        .as_ref()
        .filter(|previous| &previous.region == rendering.region);
    let Some((new_text, region)) = write_region(
        &prepared.base,
        &prepared.parsed,
        rendering.region,
        &lines,
        previous,
    ) else {
        // No placement of the region would be found again; the note stays as it is.
        return Outcome {
            position: job.position,
            done: Done::Current,
            region: job.previous.clone(),
            evidence: Some(prepared.parsed.link_style_evidence()),
            moved: false,
            warning: None,
            late,
        };
    };
    let moved = prepared.moved == Moved::Removed;
    let warning = match prepared.moved {
        Moved::Edited { line } => Some(Warning::RegionEdited {
            path: job.file.path.clone(),
            line,
        }),
        _ => None,
    };
    let evidence = if new_text == prepared.note.text() {
        prepared.parsed.link_style_evidence()
    } else {
        closest_notes::parse(&new_text, placement.section)
            .map(|parsed| parsed.link_style_evidence())
            .unwrap_or_default()
    };
    let done = if new_text == prepared.note.text() {
        Done::Current
    } else if mode != Mode::Write {
        Done::Stale
    } else {
        let path = prepared.note.path().to_owned();
        match write_atomic_deferred(&prepared.note, &new_text) {
            Err(err) => Done::Left(Warning::NotWritten(err)),
            Ok((WriteOutcome::Written, Some(written))) => {
                Done::Written(Stat::from_metadata(&written.metadata), written.folder)
            }
            Ok((WriteOutcome::Written | WriteOutcome::Unchanged, _)) => Done::Current,
            Ok((WriteOutcome::ChangedDuringRun, _)) => {
                Done::Left(Warning::ChangedDuringRun { path })
            }
            Ok((WriteOutcome::Deleted, _)) => Done::Left(Warning::DeletedDuringRun { path }),
            Ok((WriteOutcome::ReadOnly, _)) => Done::Left(Warning::ReadOnly { path }),
        }
    };
    Outcome {
        position: job.position,
        done,
        region: Some(region),
        evidence: Some(evidence),
        moved,
        warning,
        late,
    }
}
