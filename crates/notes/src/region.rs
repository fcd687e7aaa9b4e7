//! The managed region of a note as a thing of its own: where it is, which lines are ours, and
//! taking it out again.
//!
//! When someone changes the settings (another heading, level or front-matter key, a section
//! instead of a list), leaves a note out of the managed set, or asks for every region to go
//! (`closest clean`), a run must take out what it wrote without touching what the person wrote.
//! The note's text alone says what that is (`shape.rs`): the section's heading and its link
//! lines, or the list under the front-matter key; a clone of the notes without any record of
//! past runs takes out exactly what the author's machine would. Lines a person typed stay, and
//! so then does the heading they are under. A section appended to the end of a note goes with
//! the blank line and the closing line the splice put in front of it: the append is made so
//! that only one note gives each result, and removal finds that note by appending again.

use serde::{Deserialize, Serialize};

use crate::append::append;
use crate::error::NoteError;
use crate::frontmatter;
use crate::lines::{self, line_number};
use crate::parse::{parse, Parsed, SectionSpec};
use crate::splice::{place, relist};

/// Where the neighbour list lives in a note.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum Region {
    /// A section under a heading with this text and level.
    Section { heading: String, level: u8 },
    /// A list under this key of the front matter.
    FrontMatter { key: String },
}

impl Region {
    pub fn front_matter(key: impl Into<String>) -> Region {
        Region::FrontMatter { key: key.into() }
    }

    /// The section spec of a section region.
    pub fn section_spec(&self) -> Option<SectionSpec> {
        match self {
            Region::Section { heading, level } => Some(SectionSpec {
                heading: heading.clone(),
                level: *level,
                custom_lines: Vec::new(),
            }),
            Region::FrontMatter { .. } => None,
        }
    }
}

impl From<&SectionSpec> for Region {
    fn from(spec: &SectionSpec) -> Region {
        Region::Section {
            heading: spec.heading.clone(),
            level: spec.level,
        }
    }
}

/// A region as a run wrote it: what the store keeps of a note's region.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WrittenRegion {
    pub region: Region,
    /// Whether the region holds lines a person typed (said once, when first seen).
    #[serde(default)]
    pub typed: bool,
}

/// What [`remove_region`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// The region is gone; this is the note as it was before the region was first written.
    Removed(String),
    /// The link lines are gone, but the heading stays over lines a person typed in the
    /// section, the first of them on this 1-based line; this is the note without the links.
    Typed { text: String, line: usize },
    /// The region is there twice (two sections under the heading), so it stays; the first
    /// starts on this line.
    Left { line: usize },
    /// The note has no such region.
    Absent,
}

/// Writes `items` into `region` of the note: link lines for a section (as [`crate::splice`]),
/// ids for a front-matter list (as [`crate::splice_front_matter`]). `spec` says which custom
/// link lines are `closest`'s (its heading and level are the region's). `None` when no
/// placement of the section would parse back where it was put (see [`crate::try_splice`]);
/// the note should then be left as it is.
pub fn write_region(
    source: &str,
    parsed: &Parsed,
    region: &Region,
    items: &[String],
) -> Option<String> {
    match region {
        Region::Section { .. } => {
            let spec = region
                .section_spec()?
                .with_custom_lines(parsed.spec().custom_lines.clone());
            Some(place(source, parsed, &spec, items)?.text)
        }
        Region::FrontMatter { key } => Some(frontmatter::set_list(source, key, items)),
    }
}

/// Takes the region out of the note (see the module's documentation); `custom_lines` are the
/// custom link lines whose lines are `closest`'s.
pub fn remove_region(source: &str, region: &Region, custom_lines: &[String]) -> RemoveOutcome {
    match region {
        Region::Section { heading, level } => {
            let spec = SectionSpec {
                heading: heading.clone(),
                level: *level,
                custom_lines: custom_lines.to_vec(),
            };
            remove_section(source, &spec)
        }
        Region::FrontMatter { key } => remove_front_matter(source, key),
    }
}

/// Takes out another tool's section whatever its lines (`--migrate-from-heading`): the
/// section and, when it ends the note, the blank line in front of it.
pub fn take_out_section(source: &str, spec: &SectionSpec) -> Option<String> {
    let parsed = parse(source, spec).ok()?;
    let range = parsed.section()?.range();
    let mut start = range.start;
    if range.end == source.len() {
        start = without_trailing_blank_line(&source[..start]).len();
    }
    Some(format!("{}{}", &source[..start], &source[range.end..]))
}

fn remove_section(source: &str, spec: &SectionSpec) -> RemoveOutcome {
    let parsed = match parse(source, spec) {
        Ok(parsed) => parsed,
        Err(NoteError::TwoSections { first_line, .. }) => {
            return RemoveOutcome::Left { line: first_line }
        }
        Err(_) => return RemoveOutcome::Absent,
    };
    let Some(section) = parsed.section() else {
        return RemoveOutcome::Absent;
    };
    let range = section.range();
    if section.has_typed_lines() {
        let line_break = parsed.line_ending().as_str();
        let text = relist(source, section, &[], line_break, false);
        return RemoveOutcome::Typed {
            line: line_number(&text, range.start),
            text,
        };
    }
    if range.end < source.len() {
        // Inside the note: the section runs to the next heading, its blank line included.
        return RemoveOutcome::Removed(format!(
            "{}{}",
            &source[..range.start],
            &source[range.end..]
        ));
    }
    // At the end: the note before it is the one that, appended to, gives this text.
    let links: Vec<String> = parsed
        .section_lines()
        .into_iter()
        .map(str::to_owned)
        .collect();
    let before = &source[..range.start];
    let original = lead_candidates(before)
        .into_iter()
        .find(|candidate| {
            let Ok(parsed) = parse(candidate, spec) else {
                return false;
            };
            !parsed.has_section()
                && append(candidate, &parsed, spec, &links)
                    .is_some_and(|placed| placed.text == source)
        })
        .unwrap_or_else(|| without_trailing_blank_line(before).to_owned());
    RemoveOutcome::Removed(original)
}

/// The notes an appended section may have been put after: `before` less the blank line, the
/// line break and the closing line a splice adds, longest first.
fn lead_candidates(before: &str) -> Vec<String> {
    let mut candidates = vec![before.to_owned()];
    let mut cursor = before;
    // Up to two line breaks, a closing line and its line break, then the break the note may
    // have lacked.
    for _ in 0..4 {
        if cursor.is_empty() {
            break;
        }
        if let Some(lone) = cursor
            .strip_suffix('\n')
            .filter(|rest| rest.ends_with('\r'))
        {
            // A `\n` written after a note's lone `\r` reads back as one CRLF.
            candidates.push(lone.to_owned());
        }
        let trimmed = lines::strip_break(cursor);
        if trimmed.len() == cursor.len() {
            // No line break left to take: a closing line goes whole.
            cursor = &cursor[..lines::line_start(cursor, cursor.len())];
        } else {
            cursor = trimmed;
        }
        candidates.push(cursor.to_owned());
    }
    candidates
}

/// `text` without one blank line at its end, if it ends with one.
fn without_trailing_blank_line(text: &str) -> &str {
    if !lines::ends_with_blank_line(text) {
        return text;
    }
    let body = lines::strip_break(text);
    &text[..lines::line_start(body, body.len())]
}

fn remove_front_matter(source: &str, key: &str) -> RemoveOutcome {
    let Some(block) = frontmatter::detect(source) else {
        return RemoveOutcome::Absent;
    };
    let Some(key_range) = frontmatter::key_range(source, &block, key) else {
        return RemoveOutcome::Absent;
    };
    let typed = frontmatter::typed_lines(source, &block, &key_range);
    if typed.is_empty() && frontmatter::only_key(source, &block, &key_range) {
        // The block holds nothing but the list: it was made for it.
        return RemoveOutcome::Removed(source[block.range.end..].to_owned());
    }
    let text = format!(
        "{}{}{}",
        &source[..key_range.start],
        typed,
        &source[key_range.end..]
    );
    if typed.is_empty() {
        RemoveOutcome::Removed(text)
    } else {
        RemoveOutcome::Typed {
            line: line_number(source, key_range.start),
            text,
        }
    }
}
