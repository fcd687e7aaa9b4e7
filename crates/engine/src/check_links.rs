//! `check-links`: the managed links that do not lead to a note, with the note and the line.
//!
//! Every note is read (this is a check, not a run), its managed region's links are listed and
//! resolved the way renderers and Obsidian resolve them. A link is broken when it reaches no
//! note, or (a wikilink) several.

use closest_notes::{managed_links, read_note, walk, LinkKind, NoteFile, Resolved, Resolver};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Result, Warning};
use crate::run::scan::rel_text;
use crate::Engine;

/// One managed link that leads nowhere (or to several notes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenLink {
    /// The note's path relative to the root.
    pub note: String,
    pub line: usize,
    pub target: String,
    /// `missing` or `ambiguous`.
    pub problem: &'static str,
}

/// The outcome of a check.
#[derive(Debug, Default)]
pub struct LinkCheck {
    pub notes: usize,
    pub links: usize,
    pub broken: Vec<BrokenLink>,
    pub warnings: Vec<Warning>,
}

pub(crate) fn check_links(engine: &Engine) -> Result<LinkCheck> {
    let settings = engine.settings();
    let walked = walk(&settings.root, &settings.walk_options())?;
    let resolver = Resolver::new(&walked.notes);
    let region = settings.region();
    let results: Vec<std::result::Result<(usize, Vec<BrokenLink>), Warning>> = walked
        .notes
        .par_iter()
        .map(|file| {
            let note = read_note(file).map_err(Warning::Skipped)?;
            let parsed = note.parse(&settings.section).map_err(Warning::Skipped)?;
            let links = managed_links(&parsed, &region);
            let broken = links
                .iter()
                .filter_map(|link| {
                    let problem = match resolver.resolve(file, link) {
                        Resolved::Note(_) => return None,
                        Resolved::Missing => "missing",
                        Resolved::Ambiguous(_) => "ambiguous",
                        // Web addresses and anchors are not ours to check.
                        _ if link.kind != LinkKind::FrontMatterId => return None,
                        _ => "missing",
                    };
                    Some(broken_link(file, link.line, &link.target, problem))
                })
                .collect();
            Ok((links.len(), broken))
        })
        .collect();
    let mut check = LinkCheck {
        notes: walked.notes.len(),
        warnings: walked.warnings.into_iter().map(Warning::from).collect(),
        ..LinkCheck::default()
    };
    for result in results {
        match result {
            Ok((links, broken)) => {
                check.links += links;
                check.broken.extend(broken);
            }
            Err(warning) => check.warnings.push(warning),
        }
    }
    Ok(check)
}

fn broken_link(file: &NoteFile, line: usize, target: &str, problem: &'static str) -> BrokenLink {
    BrokenLink {
        note: rel_text(&file.rel_path),
        line,
        target: target.to_owned(),
        problem,
    }
}
