//! The managed region of a note as a thing of its own: where it is, which bytes are ours, and
//! taking it out again.
//!
//! When someone changes the settings (another heading, level or front-matter key, a section
//! instead of a list), the next run must move the list: remove what it wrote before and write
//! the new one, without touching what the person wrote. So every write reports a
//! [`WrittenRegion`]: the kind of region and the sha256 of the exact bytes whose removal puts
//! the note back as it was before the region was first added, the blank line and the closing
//! line that came with an appended section included. The binary stores it; [`remove_region`]
//! later removes those bytes only if they still hash the same, so an edited region is never
//! lost. The bytes around a region are not recorded, only their hash: removal tries each
//! extent a splice could have produced and takes the one whose hash matches.

use std::ops::Range;

use serde::{Deserialize, Serialize};

use crate::error::NoteError;
use crate::frontmatter::{self, Block};
use crate::lines::{self, line_number, strip_break};
use crate::note::content_hash;
use crate::parse::{parse, Parsed, SectionSpec};
use crate::splice::place;

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

/// A region as a run wrote it: what the store keeps to remove it later.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct WrittenRegion {
    pub region: Region,
    /// The sha256, in lowercase hex, of the bytes to remove.
    pub hash: String,
}

/// What [`remove_region`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoveOutcome {
    /// The region was as written; this is the note without it.
    Removed(String),
    /// The region is there but its bytes changed since they were written (or, for a section,
    /// the note now has two of them); it starts on this 1-based line.
    Edited { line: usize },
    /// The note has no such region.
    Absent,
}

/// Writes `items` into `region` of the note: link lines for a section (as [`crate::splice`]),
/// ids for a front-matter list (as [`crate::splice_front_matter`]). Returns the new text and
/// the region it now holds.
///
/// `previous` is the region the last run recorded for this note, if any. When it is the same
/// kind of region and still as written, the new record covers the same extent (the blank line
/// or closing line that came with the section the first time, the front-matter block the
/// first write created); without it, a section that was already in the note is recorded
/// alone. `None` when no placement of the section would parse back where it was put (see
/// [`crate::try_splice`]); the note should then be left as it is.
pub fn write_region(
    source: &str,
    parsed: &Parsed,
    region: &Region,
    items: &[String],
    previous: Option<&WrittenRegion>,
) -> Option<(String, WrittenRegion)> {
    let previous_hash = previous
        .filter(|previous| &previous.region == region)
        .map(|previous| previous.hash.as_str());
    let (text, extent) = match region {
        Region::Section { .. } => {
            let spec = region.section_spec()?;
            write_section(source, parsed, &spec, items, previous_hash)?
        }
        Region::FrontMatter { key } => write_front_matter(source, key, items, previous_hash)?,
    };
    let hash = content_hash(text[extent].as_bytes());
    let written = WrittenRegion {
        region: region.clone(),
        hash,
    };
    Some((text, written))
}

fn write_section(
    source: &str,
    parsed: &Parsed,
    spec: &SectionSpec,
    links: &[String],
    previous_hash: Option<&str>,
) -> Option<(String, Range<usize>)> {
    let old_section = if parsed.source() == source && parsed.spec() == spec {
        parsed.section().map(|section| section.range())
    } else {
        parse(source, spec)
            .ok()?
            .section()
            .map(|section| section.range())
    };
    let placed = place(source, parsed, spec, links)?;
    // The bytes in front of the heading that belong to the region: all that was added for a
    // new section, and for an existing one what the recorded extent says.
    let lead = match (&old_section, previous_hash) {
        (None, _) => placed.section.start - placed.lead_start,
        (Some(section), Some(hash)) => section_candidates(source, section)
            .into_iter()
            .find(|extent| content_hash(source[extent.clone()].as_bytes()) == hash)
            .map_or(0, |extent| section.start - extent.start),
        (Some(_), None) => 0,
    };
    let start = placed.section.start - lead;
    // Bytes after the section are the person's; when the region came with a separator of its
    // own in front, the blank line before what follows is theirs too.
    let end = if lead > 0 && placed.section.end < placed.text.len() {
        last_text_line_end(&placed.text, &placed.section)
    } else {
        placed.section.end
    };
    Some((placed.text, start..end))
}

fn write_front_matter(
    source: &str,
    key: &str,
    ids: &[String],
    previous_hash: Option<&str>,
) -> Option<(String, Range<usize>)> {
    let whole_block_was_ours = frontmatter::detect(source).is_some_and(|block| {
        previous_hash == Some(content_hash(source[block.range].as_bytes()).as_str())
    });
    let edit = frontmatter::set_list(source, key, ids);
    let block = frontmatter::detect(&edit.text)?;
    let extent = if edit.created_block || whole_block_was_ours {
        block.range
    } else {
        frontmatter::key_range(&edit.text, &block, key)?
    };
    Some((edit.text, extent))
}

/// Removes the region `written` describes from the note, if its bytes are still exactly what
/// was written; otherwise says where it starts, or that it is not there.
pub fn remove_region(source: &str, written: &WrittenRegion) -> RemoveOutcome {
    let matches = |extent: &Range<usize>| {
        source
            .get(extent.clone())
            .is_some_and(|bytes| content_hash(bytes.as_bytes()) == written.hash)
    };
    let (candidates, start) = match &written.region {
        Region::Section { heading, level } => {
            let spec = SectionSpec {
                heading: heading.clone(),
                level: *level,
            };
            let section = match parse(source, &spec) {
                Ok(parsed) => match parsed.section() {
                    Some(section) => section.range(),
                    None => return RemoveOutcome::Absent,
                },
                Err(NoteError::TwoSections { first_line, .. }) => {
                    return RemoveOutcome::Edited { line: first_line }
                }
                Err(_) => return RemoveOutcome::Absent,
            };
            (section_candidates(source, &section), section.start)
        }
        Region::FrontMatter { key } => {
            let Some(block) = frontmatter::detect(source) else {
                return RemoveOutcome::Absent;
            };
            let Some(key_range) = frontmatter::key_range(source, &block, key) else {
                return RemoveOutcome::Absent;
            };
            let Block { range, .. } = block;
            let start = key_range.start;
            (vec![range, key_range], start)
        }
    };
    match candidates.iter().find(|extent| matches(extent)) {
        Some(extent) => RemoveOutcome::Removed(format!(
            "{}{}",
            &source[..extent.start],
            &source[extent.end..]
        )),
        None => RemoveOutcome::Edited {
            line: line_number(source, start),
        },
    }
}

/// The extents a section region at `section` may have been written with: starting at the
/// heading or earlier, over what a splice puts in front of an appended section (blank lines,
/// a line break the note lacked, a closing line), and ending at the section's end or after its
/// last non-blank line.
fn section_candidates(source: &str, section: &Range<usize>) -> Vec<Range<usize>> {
    let mut starts = vec![section.start];
    let mut cursor = section.start;
    // Blank lines back to the last line with text, then that line and the one before it (a
    // closing line and the note's unterminated last line). Eight blank lines is more than a
    // splice ever writes.
    let mut text_lines = 0;
    for _ in 0..10 {
        if cursor == 0 {
            break;
        }
        let break_len = if source[..cursor].ends_with("\r\n") {
            2
        } else {
            1
        };
        let line_start = lines::line_start(source, cursor - break_len);
        let line = &source[line_start..cursor];
        starts.push(line_start);
        starts.push(line_start + strip_break(line).len());
        if break_len == 2 {
            // A `\n` written after a note's lone `\r` reads back as one CRLF.
            starts.push(cursor - 1);
        }
        cursor = line_start;
        if !line.trim().is_empty() {
            text_lines += 1;
            if text_lines == 2 {
                break;
            }
        }
    }
    let ends = [section.end, last_text_line_end(source, section)];
    let mut candidates = Vec::with_capacity(starts.len() * 2);
    for start in starts {
        for end in ends {
            if start <= section.start && !candidates.contains(&(start..end)) {
                candidates.push(start..end);
            }
        }
    }
    candidates
}

/// The end of the section's last line with text, its line break included.
fn last_text_line_end(text: &str, section: &Range<usize>) -> usize {
    lines::lines_with_breaks(&text[section.clone()])
        .filter(|(_, line)| !line.trim().is_empty())
        .last()
        .map_or(section.end, |(start, line)| {
            section.start + start + line.len()
        })
}
