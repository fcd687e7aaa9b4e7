//! Step five: render each note's links, write them into its managed region, and write the notes
//! whose bytes change, atomically.
//!
//! A note is looked at only when its lines may differ from what the last run wrote: it was read
//! this run, its rendered lines' hash differs from the stored one, or its last write failed.
//! Each note to write is read here: a note the read step read must still have the bytes it
//! had then (the read step keeps only what ranking needs of it, not its text and parse), one
//! it did not read the text the store recorded; otherwise it changed in the meantime and is
//! left for the next run. Jobs come in blocks, so a run holds the rendered links of one block
//! at a time. Writes run on their own pool of threads, because each waits on an fsync rather
//! than the CPU; each touched folder is synced once at the end.

use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;

use closest_notes::{
    remove_region, render_links_with, sync_folder, write_atomic_deferred, write_region,
    LinkEvidence, LinkForm, LinkTarget, NoteFile, Parsed, Region, RemoveOutcome, WriteOutcome,
    WrittenRegion,
};
use rayon::prelude::*;

use crate::error::Warning;
use crate::hash::{hash_parts, ContentHash, RenderedHash, TextHash};
use crate::progress::Reporter;
use crate::run::read::{prepare, Moved, Placement};
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
pub(crate) struct Job<'a> {
    pub position: usize,
    pub file: &'a NoteFile,
    /// What the note must still be when it is read to be written.
    pub expect: Expect,
    /// The region the last run wrote into the note.
    pub previous: Option<WrittenRegion>,
    /// The notes it may list, best first, and how many the exact ranking shows: the order
    /// written already is kept while the scores allow it (`keep.rs`).
    pub candidates: Vec<LinkTarget>,
    pub shown: usize,
}

/// What a note read to be written must still be; otherwise it changed since the run looked at
/// it, and is left for the next run.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Expect {
    /// Read by this run's read step: the very bytes read then (the first 16 bytes of their
    /// content hash).
    Bytes(ContentHash),
    /// Not read before (its stat matched the store): the text to embed the store recorded.
    Text(TextHash),
}

/// What happened to one note.
#[derive(Debug)]
pub(crate) enum Done {
    /// Its section was already current.
    Current,
    /// Its section was rewritten: the new file's stat (its folder is synced by `finish`).
    Written(Stat),
    /// Its section is stale (`--check`, `--dry-run`).
    Stale,
    /// Left alone on purpose or because it failed; the warning says which (boxed: outcomes
    /// are kept for every note written, a million of them in a cold run).
    Left(Box<Warning>),
    /// Not written because it changed too recently (`hold_recent`); a later run writes it.
    Held,
}

/// A job's result with the hash of the lines rendered for it.
pub(crate) struct Outcome {
    pub position: usize,
    pub done: Done,
    /// The region now in the note (as written, or as it already was).
    pub region: Option<WrittenRegion>,
    /// The note's vote on the link form, as the note now is.
    pub evidence: Option<LinkEvidence>,
    /// Whether the region moved (the old one was taken out).
    pub moved: bool,
    /// Said about the note although it was written (an edited old region left beside it).
    pub warning: Option<Box<Warning>>,
    /// Whether the note was read for this job.
    pub read: bool,
}

/// What rendering needs besides the note.
#[derive(Clone, Copy)]
pub(crate) struct Rendering<'a> {
    pub settings: &'a FolderSettings,
    pub region: &'a Region,
    pub form: LinkForm,
    /// The render settings and link form, folded into every rendered hash.
    pub fingerprint: &'a str,
}

/// The lines (link lines, or ids for a front-matter list) of one note and their hash.
pub(crate) fn render(
    rendering: Rendering<'_>,
    file: &NoteFile,
    targets: &[LinkTarget],
) -> (Vec<String>, RenderedHash) {
    let lines = match &rendering.settings.output {
        Output::Section(template) => render_links_with(template, file, targets, rendering.form),
        Output::FrontMatter { .. } => targets.iter().map(|target| target.id.clone()).collect(),
    };
    let hash =
        hash_parts(std::iter::once(rendering.fingerprint).chain(lines.iter().map(String::as_str)));
    (lines, hash)
}

/// Renders, writes the region and (in write mode) writes the note, for each block of jobs it
/// is given: a block at a time, so that a run writing a million notes holds the rendered
/// links of one block, not of every note.
pub(crate) struct Writer<'a> {
    rendering: Rendering<'a>,
    placement: Placement<'a>,
    mode: Mode,
    pool: Option<rayon::ThreadPool>,
    bar: Box<dyn crate::progress::Bar>,
    outcomes: Vec<Outcome>,
    /// The folders written into, each synced once by `finish`.
    folders: BTreeSet<PathBuf>,
}

impl<'a> Writer<'a> {
    /// A writer for `notes` notes to look at (the bar's length).
    pub(crate) fn new(
        notes: usize,
        rendering: Rendering<'a>,
        placement: Placement<'a>,
        mode: Mode,
        reporter: &dyn Reporter,
    ) -> Self {
        let pool = match mode {
            Mode::Write => rayon::ThreadPoolBuilder::new()
                .num_threads(WRITE_THREADS)
                .build()
                .ok(),
            _ => None,
        };
        Self {
            rendering,
            placement,
            mode,
            pool,
            bar: reporter.bar("writing", notes as u64),
            outcomes: Vec::new(),
            folders: BTreeSet::new(),
        }
    }

    /// Counts notes looked at and found current without a job.
    pub(crate) fn skip(&self) {
        self.bar.inc(1);
    }

    /// Does a block of jobs.
    pub(crate) fn write(&mut self, jobs: Vec<Job<'_>>) {
        let (rendering, placement, mode) = (self.rendering, self.placement, self.mode);
        let bar = &self.bar;
        let run = || -> Vec<(Outcome, Option<PathBuf>)> {
            jobs.into_par_iter()
                .map(|job| {
                    let done = write_one(job, rendering, placement, mode);
                    bar.inc(1);
                    done
                })
                .collect()
        };
        let done = match &self.pool {
            Some(pool) => pool.install(run),
            None => run(),
        };
        self.outcomes.reserve(done.len());
        for (outcome, folder) in done {
            self.folders.extend(folder);
            self.outcomes.push(outcome);
        }
    }

    /// Every job's outcome, once each folder written into is synced.
    pub(crate) fn finish(self) -> Vec<Outcome> {
        self.bar.finish();
        // One sync per folder makes every rename durable; each note was complete before.
        for folder in &self.folders {
            sync_folder(folder);
        }
        self.outcomes
    }
}

/// The lines to write: the note's own, in its own order, when the scores allow that order
/// (`keep.rs`), else the exact ranking's first lines.
fn lines_to_write(rendering: Rendering<'_>, job: &Job<'_>, parsed: &Parsed) -> Vec<String> {
    let (mut all, _) = render(rendering, job.file, &job.candidates);
    let written: Vec<String> = managed_links_or_lines(parsed, rendering.region);
    let index_of: HashMap<&str, usize> = all
        .iter()
        .enumerate()
        .rev()
        .map(|(index, line)| (line.as_str(), index))
        .collect();
    let written: Vec<Option<usize>> = written
        .iter()
        .map(|line| index_of.get(line.as_str()).copied())
        .collect();
    let scores: Vec<f32> = job.candidates.iter().map(|target| target.score).collect();
    match crate::run::keep::kept_order(&written, &scores, job.shown) {
        Some(order) => order.into_iter().map(|index| all[index].clone()).collect(),
        None => {
            all.truncate(job.shown);
            all
        }
    }
}

/// What the note's region lists now: its link lines, or its front-matter ids.
fn managed_links_or_lines(parsed: &Parsed, region: &Region) -> Vec<String> {
    match region {
        Region::Section { .. } => parsed
            .section_lines()
            .into_iter()
            .map(str::to_owned)
            .collect(),
        Region::FrontMatter { .. } => closest_notes::managed_links(parsed, region)
            .into_iter()
            .map(|link| link.target)
            .collect(),
    }
}

fn write_one(
    job: Job<'_>,
    rendering: Rendering<'_>,
    placement: Placement<'_>,
    mode: Mode,
) -> (Outcome, Option<PathBuf>) {
    let left = |position, warning| {
        let outcome = Outcome {
            position,
            done: Done::Left(Box::new(warning)),
            region: None,
            evidence: None,
            moved: false,
            warning: None,
            read: false,
        };
        (outcome, None)
    };
    let prepared = match prepare(job.file, placement, job.previous.as_ref()) {
        Ok(prepared) => prepared,
        Err(err) => return left(job.position, Warning::Skipped(err)),
    };
    let lines = lines_to_write(rendering, &job, &prepared.parsed);
    let still = match job.expect {
        Expect::Bytes(content_hash) => {
            crate::hash::ContentHash::from_hex(prepared.note.content_hash()) == Some(content_hash)
        }
        Expect::Text(hash) => prepared.read_note(placement).hash == hash,
    };
    if !still {
        let warning = Warning::ChangedDuringRun {
            path: job.file.path.clone(),
        };
        return left(job.position, warning);
    }
    let placed = if lines.is_empty() {
        // Nothing near enough to list (or too little text of its own): no region at all,
        // rather than a heading over nothing; it comes back when there is a list again.
        let custom_lines = &placement.section.custom_lines;
        Some(
            match remove_region(&prepared.base, rendering.region, custom_lines) {
                RemoveOutcome::Removed(rest) | RemoveOutcome::Typed { text: rest, .. } => rest,
                RemoveOutcome::Left { .. } | RemoveOutcome::Absent => prepared.base.clone(),
            },
        )
    } else {
        write_region(&prepared.base, &prepared.parsed, rendering.region, &lines)
    };
    let Some(new_text) = placed else {
        // No placement of the list would read back as written (or would leave what a person
        // typed in the section reading otherwise); the note stays as it is.
        let outcome = Outcome {
            position: job.position,
            done: Done::Left(Box::new(Warning::Unplaced {
                path: job.file.path.clone(),
            })),
            region: job.previous.clone(),
            evidence: Some(prepared.parsed.link_style_evidence()),
            moved: false,
            warning: None,
            read: true,
        };
        return (outcome, None);
    };
    let moved = matches!(prepared.moved, Moved::Removed | Moved::Typed { .. });
    let path = job.file.path.clone();
    let mut warning = match prepared.moved {
        Moved::Typed { line } => Some(Box::new(Warning::OldRegionTyped { path, line })),
        Moved::Left { line } => Some(Box::new(Warning::OldRegionLeft { path, line })),
        _ => None,
    };
    let reparsed = if new_text == prepared.base {
        None
    } else {
        closest_notes::parse(&new_text, placement.section).ok()
    };
    let parsed = reparsed.as_ref().unwrap_or(&prepared.parsed);
    let evidence = parsed.link_style_evidence();
    let typed_at = parsed
        .section()
        .filter(|section| section.has_typed_lines())
        .map(|section| closest_notes::line_of(&new_text, section.range().start));
    let region = WrittenRegion {
        region: rendering.region.clone(),
        typed: typed_at.is_some(),
    };
    let typed_before = job.previous.as_ref().is_some_and(|previous| previous.typed);
    if let (Some(line), false, None) = (typed_at, typed_before, &warning) {
        // Said once: the record keeps that it was.
        warning = Some(Box::new(Warning::Typed {
            path: job.file.path.clone(),
            line,
        }));
    }
    let mut folder = None;
    let done = if new_text == prepared.note.text() {
        Done::Current
    } else if mode != Mode::Write {
        Done::Stale
    } else {
        let path = prepared.note.path().to_owned();
        match write_atomic_deferred(&prepared.note, &new_text) {
            Err(err) => Done::Left(Box::new(Warning::NotWritten(err))),
            Ok((WriteOutcome::Written, Some(written))) => {
                folder = Some(written.folder);
                Done::Written(Stat::from_metadata(&written.metadata))
            }
            Ok((WriteOutcome::Written | WriteOutcome::Unchanged, _)) => Done::Current,
            Ok((WriteOutcome::ChangedDuringRun, _)) => {
                Done::Left(Box::new(Warning::ChangedDuringRun { path }))
            }
            Ok((WriteOutcome::Deleted, _)) => {
                Done::Left(Box::new(Warning::DeletedDuringRun { path }))
            }
            Ok((WriteOutcome::ReadOnly, _)) => Done::Left(Box::new(Warning::ReadOnly { path })),
        }
    };
    let outcome = Outcome {
        position: job.position,
        done,
        region: Some(region),
        evidence: Some(evidence),
        moved,
        warning,
        read: true,
    };
    (outcome, folder)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::Silent;

    /// A note read by the read step is read again to be written, and written only while it
    /// still has the bytes read then.
    #[test]
    fn a_note_changed_since_it_was_read_is_left_for_the_next_run() {
        let dir = tempfile::tempdir().expect("temp dir");
        let settings = FolderSettings::new(dir.path().to_path_buf());
        let region = settings.region();
        let fingerprint = settings.render_fingerprint(LinkForm::WithoutExtension, f32::MIN);
        let rendering = Rendering {
            settings: &settings,
            region: &region,
            form: LinkForm::WithoutExtension,
            fingerprint: &fingerprint,
        };
        let placement = Placement {
            section: &settings.section,
            region: &region,
            migrate_from: None,
            old_regions: &[],
            learned: None,
        };
        let file = |id: &str| NoteFile {
            id: id.to_owned(),
            path: dir.path().join(format!("{id}.md")),
            rel_path: PathBuf::from(format!("{id}.md")),
        };
        let (a, b) = (file("a"), file("b"));
        std::fs::write(&a.path, "# A\n\nAbout tar.\n").expect("write a");
        std::fs::write(&b.path, "# B\n\nAbout gzip.\n").expect("write b");
        let read_then = crate::hash::ContentHash::from_hex(&closest_notes::content_hash(
            b"# A\n\nAbout tar.\n",
        ))
        .expect("hex");
        let target = LinkTarget {
            id: "b".into(),
            title: "B".into(),
            rel_path: b.rel_path.clone(),
            score: 0.5,
        };
        let job = |expect| Job {
            position: 0,
            file: &a,
            expect,
            previous: None,
            candidates: vec![target.clone()],
            shown: 1,
        };

        // Edited after the read step: left alone, said, read next run.
        std::fs::write(&a.path, "# A\n\nAbout tar, edited.\n").expect("edit a");
        let mut writer = Writer::new(1, rendering, placement, Mode::Write, &Silent);
        writer.write(vec![job(Expect::Bytes(read_then))]);
        let outcomes = writer.finish();
        assert!(matches!(
            &outcomes[0].done,
            Done::Left(warning) if matches!(**warning, Warning::ChangedDuringRun { .. })
        ));
        assert_eq!(
            std::fs::read_to_string(&a.path).expect("read a"),
            "# A\n\nAbout tar, edited.\n"
        );

        // As read: written, and the link is in it.
        let read_now = crate::hash::ContentHash::from_hex(&closest_notes::content_hash(
            b"# A\n\nAbout tar, edited.\n",
        ))
        .expect("hex");
        let mut writer = Writer::new(1, rendering, placement, Mode::Write, &Silent);
        writer.write(vec![job(Expect::Bytes(read_now))]);
        let outcomes = writer.finish();
        assert!(matches!(outcomes[0].done, Done::Written(..)));
        assert!(outcomes[0].read);
        let written = std::fs::read_to_string(&a.path).expect("read a");
        assert!(
            written.starts_with("# A\n\nAbout tar, edited.\n"),
            "{written}"
        );
        assert!(
            written.contains("(b)") || written.contains("[[b"),
            "{written}"
        );
    }
}
