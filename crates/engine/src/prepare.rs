//! Step two: read and parse the notes the scan marked, in parallel, into what the rest of the
//! run needs from each: its text to embed and that text's hash, its title and its links. A note
//! that cannot be read or parsed is a warning and is left out, and left alone.

use closest_notes::{embed_text, read_note, Note, NoteError, NoteFile, Parsed, SectionSpec};
use rayon::prelude::*;

use crate::error::Warning;
use crate::hash::{text_hash, TextHash};
use crate::progress::Reporter;

/// A note read and parsed.
#[derive(Debug, Clone)]
pub struct Prepared {
    pub note: Note,
    pub parsed: Parsed,
    /// The text to embed, kept so that a note needing a vector is not prepared twice.
    pub text: String,
    pub hash: TextHash,
    pub title: String,
    pub links: Vec<(String, bool)>,
}

/// Reads and parses one note.
pub fn prepare(file: &NoteFile, section: &SectionSpec) -> Result<Prepared, NoteError> {
    let note = read_note(file)?;
    let parsed = note.parse(section)?;
    let text = embed_text(&parsed);
    let hash = text_hash(&text);
    let title = parsed
        .title()
        .map_or_else(|| file.id.clone(), str::to_owned);
    let links = parsed.links_with_kind().to_vec();
    Ok(Prepared {
        note,
        parsed,
        text,
        hash,
        title,
        links,
    })
}

/// Reads and parses `files` in parallel; returns one result per file, in order, and the
/// warnings for the ones that failed.
pub fn prepare_all(
    files: &[&NoteFile],
    section: &SectionSpec,
    reporter: &dyn Reporter,
) -> (Vec<Option<Prepared>>, Vec<Warning>) {
    let bar = reporter.bar("reading", files.len() as u64);
    let results: Vec<Result<Prepared, NoteError>> = files
        .par_iter()
        .map(|file| {
            let prepared = prepare(file, section);
            bar.inc(1);
            prepared
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
