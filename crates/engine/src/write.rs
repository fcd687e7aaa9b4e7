//! Step five: render each note's links, splice them into the note, and write the notes whose
//! bytes change, atomically.
//!
//! A note is looked at only when its lines may differ from what the last run wrote: it was read
//! this run, its rendered lines' hash differs from the stored one, or its last write failed.
//! Notes not read by the scan are read here ("late"), and one whose text changed in the
//! meantime is left for the next run. Writes run on their own pool of threads, because each
//! waits on an fsync rather than the CPU; each touched folder is synced once at the end.

use std::collections::BTreeSet;
use std::path::PathBuf;

use closest_notes::{
    render_links, splice, splice_front_matter, sync_folder, write_atomic_deferred, LinkTarget,
    NoteFile, WriteOutcome,
};
use rayon::prelude::*;

use crate::error::Warning;
use crate::hash::{hash_parts, TextHash};
use crate::prepare::{prepare, Prepared};
use crate::progress::Reporter;
use crate::scan::stat_from;
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
}

/// A job's result with the hash of the lines rendered for it.
pub struct Outcome {
    pub position: usize,
    pub rendered: TextHash,
    pub done: Done,
    /// The note as read for this job, when it was read late.
    pub late: Option<Prepared>,
}

/// The link lines of one note and their hash (with the render settings).
pub fn render(
    settings: &FolderSettings,
    render_fingerprint: &str,
    file: &NoteFile,
    targets: &[LinkTarget],
) -> (Vec<String>, TextHash) {
    let lines = match &settings.output {
        Output::Section(template) => render_links(template, file, targets),
        Output::FrontMatter { .. } => targets.iter().map(|target| target.id.clone()).collect(),
    };
    let fingerprint = format!("{render_fingerprint:?}");
    let hash =
        hash_parts(std::iter::once(fingerprint.as_str()).chain(lines.iter().map(String::as_str)));
    (lines, hash)
}

/// Renders, splices and (in write mode) writes every job.
pub fn write_all(
    jobs: Vec<Job<'_>>,
    settings: &FolderSettings,
    render_fingerprint: &str,
    mode: Mode,
    reporter: &dyn Reporter,
) -> Vec<Outcome> {
    let bar = reporter.bar("writing", jobs.len() as u64);
    let run = || -> Vec<Outcome> {
        jobs.into_par_iter()
            .map(|job| {
                let outcome = write_one(job, settings, render_fingerprint, mode);
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
    settings: &FolderSettings,
    render_fingerprint: &str,
    mode: Mode,
) -> Outcome {
    let (lines, rendered) = render(settings, render_fingerprint, job.file, &job.targets);
    let mut late = None;
    let prepared = match job.prepared {
        Some(prepared) => prepared,
        None => match prepare(job.file, &settings.section) {
            Ok(prepared) => {
                if job.expected_hash.is_some_and(|hash| hash != prepared.hash) {
                    return Outcome {
                        position: job.position,
                        rendered,
                        done: Done::Left(Warning::ChangedDuringRun {
                            path: job.file.path.clone(),
                        }),
                        late: None,
                    };
                }
                late.insert(prepared)
            }
            Err(err) => {
                return Outcome {
                    position: job.position,
                    rendered,
                    done: Done::Left(Warning::Skipped(err)),
                    late: None,
                }
            }
        },
    };
    let new_text = match &settings.output {
        Output::Section(_) => splice(
            prepared.note.text(),
            &prepared.parsed,
            &settings.section,
            &lines,
        ),
        Output::FrontMatter { key } => splice_front_matter(prepared.note.text(), key, &lines),
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
                Done::Written(stat_from(&written.metadata), written.folder)
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
        rendered,
        done,
        late,
    }
}
