//! Step two: read and parse the notes the scan marked, in parallel, into what the rest of the
//! run needs from each: its text to embed and that text's hash, its title, its links and its
//! vote on the folder's link form. A note that cannot be read or parsed is a warning and is
//! left out, and left alone.
//!
//! When the settings moved the managed region (another heading, level or front-matter key),
//! the region the last run wrote is taken out first, if its bytes are still what was written,
//! so that neither the text to embed nor the next write sees the old list. An old region a
//! person edited stays, and the write step says so.

use closest_notes::{
    embed_text, parse, read_note, remove_region, take_out_section, term_counts, Boilerplate, Idf,
    LinkEvidence, Note, NoteError, NoteFile, Parsed, Region, RemoveOutcome, SectionSpec,
    WrittenRegion,
};
use rayon::prelude::*;

use crate::error::Warning;
use crate::hash::{text_hash, TextHash};
use crate::learned::Learned;
use crate::progress::Reporter;

/// Where the managed region goes, and where it was.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Placement<'a> {
    pub section: &'a SectionSpec,
    pub region: &'a Region,
    /// Another tool's heading to take over once (`--migrate-from-heading`).
    pub migrate_from: Option<&'a SectionSpec>,
    /// Regions the folder's lists were written in before the settings moved them (from the
    /// folder's lock file), taken out wherever they are found.
    pub old_regions: &'a [Region],
    /// The folder's learned statistics; `None` while they are being learned (the text is
    /// then `embed_text`'s, to learn from, and [`learn_from`] completes it).
    pub learned: Option<&'a Learned>,
}

/// What happened to a region the settings moved away from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Moved {
    /// Nothing to move.
    No,
    /// The old region was taken out.
    Removed,
    /// The old region's links were taken out, but a person typed under its heading, so the
    /// heading and their lines stay; it starts on this line.
    Typed { line: usize },
    /// The old region is there twice, so it stays; the first starts on this line.
    Left { line: usize },
}

/// A note read and parsed: what the write step splices the new region into.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub note: Note,
    /// The note's text with a moved region taken out: what the new region is written into.
    pub base: String,
    /// `base` parsed.
    pub parsed: Parsed,
    pub moved: Moved,
}

/// What the read step keeps of a note: all but its text and parse, which the write step makes
/// again from the file (a run that reads a million notes does not hold them all until it
/// writes).
#[derive(Debug, Clone)]
pub(crate) struct ReadNote {
    /// The text to embed, until the run has its vector (then emptied).
    pub text: String,
    pub hash: TextHash,
    /// The note's lexical vector, sorted by word id.
    pub terms: Vec<(u32, f32)>,
    pub title: String,
    pub links: Vec<(String, bool)>,
    pub evidence: LinkEvidence,
    /// The content hash of the bytes read (its first 16 bytes): the write step reads the note
    /// again and writes it only if it still has these bytes.
    pub content_hash: crate::hash::ContentHash,
}

impl Prepared {
    /// What the rest of the run needs of the note: its text to embed (through the learned
    /// statistics when there are some; else `embed_text`'s, for [`learn_from`]) and that
    /// text's hash and words, its title, links, link-form vote and content hash.
    pub(crate) fn read_note(&self, placement: Placement<'_>) -> ReadNote {
        let raw = embed_text(&self.parsed);
        let (text, terms) = match placement.learned {
            Some(learned) => learned.prepare(&raw),
            None => (raw, Vec::new()),
        };
        let file = self.note.file();
        ReadNote {
            hash: text_hash(&text),
            text,
            terms,
            title: self
                .parsed
                .title()
                .map_or_else(|| file.id.clone(), str::to_owned),
            links: self.parsed.links_with_kind(),
            evidence: self.parsed.link_style_evidence(),
            content_hash: crate::hash::ContentHash::from_hex(self.note.content_hash())
                .unwrap_or_default(),
        }
    }
}

/// Reads and parses one note; `previous` is the region the last run wrote into it.
pub(crate) fn prepare(
    file: &NoteFile,
    placement: Placement<'_>,
    previous: Option<&WrittenRegion>,
) -> Result<Prepared, NoteError> {
    let note = read_note(file)?;
    let (base, moved) = take_out_old_region(note.text(), placement, previous);
    let parsed = parse(&base, placement.section).map_err(|err| with_path(err, file))?;
    Ok(Prepared {
        note,
        base,
        parsed,
        moved,
    })
}

/// Learns the folder's statistics from every note read (their text is still `embed_text`'s,
/// prepared without statistics), then prepares each through them: each text is stripped,
/// hashed and counted once.
pub(crate) fn learn_from(prepared: &mut [Option<ReadNote>]) -> Learned {
    let boilerplate = Boilerplate::learn(prepared.iter().flatten().map(|p| p.text.as_str()));
    let counts: Vec<Vec<(u32, u32)>> = prepared
        .par_iter_mut()
        .flatten()
        .map(|p| {
            p.text = crate::learned::own_text(boilerplate.strip(&p.text));
            p.hash = text_hash(&p.text);
            term_counts(&p.text)
        })
        .collect();
    let idf = Idf::learn(counts.iter().map(Vec::as_slice));
    for (p, counts) in prepared.iter_mut().flatten().zip(&counts) {
        p.terms = idf.weigh(counts);
    }
    let sketch = crate::learned::Sketch::of(prepared.iter().flatten().map(|p| p.hash));
    Learned::new(boilerplate, idf, sketch)
}

fn take_out_old_region(
    text: &str,
    placement: Placement<'_>,
    previous: Option<&WrittenRegion>,
) -> (String, Moved) {
    let mut old: Vec<&Region> = previous
        .map(|previous| &previous.region)
        .into_iter()
        .collect();
    old.extend(placement.old_regions);
    old.retain(|region| *region != placement.region);
    old.dedup();
    let mut text = text.to_owned();
    let mut moved = Moved::No;
    for region in old {
        match remove_region(&text, region, &placement.section.custom_lines) {
            RemoveOutcome::Removed(rest) => {
                text = rest;
                moved = Moved::Removed;
            }
            RemoveOutcome::Typed { text: rest, line } => {
                text = rest;
                moved = Moved::Typed { line };
            }
            RemoveOutcome::Left { line } => moved = Moved::Left { line },
            RemoveOutcome::Absent => {}
        }
    }
    if moved != Moved::No {
        return (text, moved);
    }
    if let Some(from) = placement
        .migrate_from
        .filter(|from| from.heading != placement.section.heading)
    {
        // Taken over on purpose: the other tool's section goes whatever its lines.
        if let Some(rest) = take_out_section(&text, from) {
            return (rest, Moved::Removed);
        }
    }
    (text, Moved::No)
}

fn with_path(err: NoteError, file: &NoteFile) -> NoteError {
    match err {
        NoteError::TwoSections {
            heading,
            first_line,
            second_line,
            ..
        } => NoteError::TwoSections {
            path: Some(file.path.clone()),
            heading,
            first_line,
            second_line,
        },
        other => other,
    }
}

/// Reads and parses `files` in parallel; returns one result per file, in order, and the
/// warnings for the ones that failed.
pub(crate) fn prepare_all(
    files: &[(&NoteFile, Option<WrittenRegion>)],
    placement: Placement<'_>,
    reporter: &dyn Reporter,
) -> (Vec<Option<ReadNote>>, Vec<Warning>) {
    let bar = reporter.bar("reading", files.len() as u64);
    let results: Vec<Result<ReadNote, NoteError>> = files
        .par_iter()
        .map(|(file, previous)| {
            let read = prepare(file, placement, previous.as_ref())
                .map(|prepared| prepared.read_note(placement));
            bar.inc(1);
            read
        })
        .collect();
    bar.finish();
    let mut warnings = Vec::new();
    let prepared = results
        .into_iter()
        .map(|result| match result {
            Ok(prepared) => Some(prepared),
            Err(err) => {
                warnings.push(Warning::Skipped(err));
                None
            }
        })
        .collect();
    (prepared, warnings)
}
