//! Finding a note's structure: front matter, the managed section, its title and its links.
//!
//! Only headings at the top level of the document count for the managed section: a
//! `## Closest` quoted in a block quote, a list or a code block is the user's text. Front matter
//! is cut off first, by the rules static site generators use (`---` YAML, `+++` TOML, a JSON
//! object), so that nothing in it can look like a heading. The event walk itself lives in
//! `events.rs`; this module holds what it finds, as [`Parsed`], and the spec of the section.

use std::ops::Range;

use pulldown_cmark::{Options, Parser};

use crate::error::{Error, NoteError};
use crate::events::{Events, LinkRecord};
use crate::frontmatter::{self, FrontMatterFormat};
use crate::lines::{self, LineEnding};
use crate::shape::Layout;
pub use crate::spec::SectionSpec;

impl SectionSpec {
    /// A checked spec: a level from 1 to 6, and a heading that reads back as itself, so that
    /// a section written from it is found again (`*Closest*` would read as `Closest`).
    pub fn new(heading: impl Into<String>, level: u8) -> Result<SectionSpec, Error> {
        let spec = SectionSpec {
            heading: heading.into(),
            level,
            custom_lines: Vec::new(),
        };
        let invalid = |reason: &str| Error::InvalidSection {
            heading: spec.heading.clone(),
            level,
            reason: reason.to_string(),
        };
        if !(1..=6).contains(&level) {
            return Err(invalid("markdown headings have levels 1 to 6"));
        }
        if spec.heading.trim().is_empty() || spec.heading.contains(['\n', '\r']) {
            return Err(invalid("the heading must be one non-empty line"));
        }
        let line = spec.heading_line();
        let found = parse(&line, &spec).ok().and_then(|parsed| parsed.section);
        if found.map(|section| section.range()) != Some(0..line.len()) {
            return Err(invalid(
                "it does not read back as that heading; use plain text without markdown",
            ));
        }
        Ok(spec)
    }
}

/// Where the managed section lies in the source, in bytes, on whole lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    heading: Range<usize>,
    end: usize,
    layout: Layout,
}

impl Section {
    /// The heading's line (two lines for a setext heading), with its line break if it has one.
    pub fn heading_range(&self) -> Range<usize> {
        self.heading.clone()
    }

    /// What follows the heading, up to the next heading of the same or a higher level or EOF.
    pub fn body_range(&self) -> Range<usize> {
        self.heading.end..self.end
    }

    /// The whole section: heading and body.
    pub fn range(&self) -> Range<usize> {
        self.heading.start..self.end
    }

    /// Whether the body holds lines a person typed (anything but blank lines and the link
    /// lines `closest` writes): they stay where they are.
    pub fn has_typed_lines(&self) -> bool {
        self.layout.typed
    }

    /// `closest`'s own lines in the body, each whole with its line break.
    pub fn owned_lines(&self) -> &[Range<usize>] {
        &self.layout.owned
    }

    /// The list: the first to the last of `closest`'s link lines, with the person's lines
    /// between them.
    pub fn block(&self) -> Option<Range<usize>> {
        self.layout.block.clone()
    }

    /// What the text to embed leaves out of the section: all of it, or, when a person typed
    /// in it, the heading, `closest`'s lines and the blank lines, so that the text is the same
    /// whatever list is written around what they typed.
    pub(crate) fn untyped(&self, source: &str) -> Vec<Range<usize>> {
        if !self.layout.typed {
            return vec![self.range()];
        }
        let body = self.body_range();
        let blank = lines::lines_with_breaks(&source[body.clone()])
            .filter(|(_, line)| line.trim().is_empty())
            .map(|(offset, line)| body.start + offset..body.start + offset + line.len());
        std::iter::once(self.heading.clone())
            .chain(self.layout.owned.iter().cloned())
            .chain(blank)
            .collect()
    }

    /// Whether `offset` lies in `closest`'s part of the section: the heading, and the whole
    /// body unless a person typed in it, else its own lines.
    pub(crate) fn owns(&self, offset: usize) -> bool {
        if !self.range().contains(&offset) {
            return false;
        }
        !self.layout.typed
            || self.heading.contains(&offset)
            || self.layout.owned.iter().any(|line| line.contains(&offset))
    }
}

/// A parsed note. It owns a copy of the source so that what it reports stays consistent with
/// the text it was computed from.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub(crate) source: String,
    /// The spec the section was looked for with; the text to embed needs it to know how a
    /// section would be appended.
    pub(crate) spec: SectionSpec,
    pub(crate) front_matter: Option<Range<usize>>,
    pub(crate) front_matter_format: Option<FrontMatterFormat>,
    pub(crate) section: Option<Section>,
    line_ending: LineEnding,
    title: Option<String>,
    /// Every link of the note, the managed section's included, in source order.
    pub(crate) links: Vec<LinkRecord>,
    /// Link and image syntax around link text, and reference definitions: the bytes
    /// `embed_text` leaves out besides front matter and section.
    pub(crate) link_syntax: Vec<Range<usize>>,
    /// Web link targets kept as words in the text to embed, at their offsets.
    pub(crate) web_targets: Vec<(usize, String)>,
    /// A line that closes the last top-level block if that block can run to the end of the
    /// file (a fence, some HTML blocks), so a section appended after it is not swallowed.
    pub(crate) tail_closer: Option<String>,
    /// Whether a link reference definition in effect lies in the managed section.
    section_defines_references: bool,
}

impl Parsed {
    /// The text this was parsed from (after any BOM).
    pub fn source(&self) -> &str {
        &self.source
    }

    /// The section spec this note was parsed with.
    pub fn spec(&self) -> &SectionSpec {
        &self.spec
    }

    pub fn has_section(&self) -> bool {
        self.section.is_some()
    }

    pub fn section(&self) -> Option<&Section> {
        self.section.as_ref()
    }

    /// The front matter block, delimiter lines included, when the note has one.
    pub fn front_matter(&self) -> Option<&str> {
        self.front_matter.clone().map(|range| &self.source[range])
    }

    /// The syntax of the front matter block, when the note has one.
    pub fn front_matter_format(&self) -> Option<FrontMatterFormat> {
        self.front_matter_format
    }

    /// The link lines `closest` wrote in the managed section, without line breaks.
    pub fn section_lines(&self) -> Vec<&str> {
        let Some(section) = &self.section else {
            return Vec::new();
        };
        section
            .layout
            .owned
            .iter()
            .map(|range| lines::strip_break(&self.source[range.clone()]))
            .filter(|line| *line != crate::shape::LIST_END_GUARD)
            .collect()
    }

    /// The note's title: its front matter's `title`, else the text of its first heading outside
    /// the managed section.
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    pub fn line_ending(&self) -> LineEnding {
        self.line_ending
    }

    /// Whether the managed section holds a link reference definition that links elsewhere in
    /// the note may use (`[x]` in the text, `[x]: https://…` in the section). Only a person
    /// writes one there (templates cannot), and replacing that section changes what those
    /// links say, so the text to embed changes once; from then on it is a fixed point.
    pub fn section_defines_references(&self) -> bool {
        self.section_defines_references
    }

    /// Destinations of the links in the note outside the managed section and front matter,
    /// in order, as written (wikilink targets included).
    pub fn linked_targets(&self) -> Vec<&str> {
        self.outside_links()
            .map(|link| link.dest.as_str())
            .collect()
    }

    /// Whether `offset` lies in `closest`'s part of the managed section (a line a person
    /// typed in the section is theirs, links included).
    pub(crate) fn in_section(&self, offset: usize) -> bool {
        self.section
            .as_ref()
            .is_some_and(|section| section.owns(offset))
    }

    /// The links outside the managed section.
    /// Destinations of the links outside the managed section and front matter (autolinks
    /// excluded), each with whether it was a wikilink: what [`crate::Resolver::linked_ids_of`]
    /// takes, so a caller can keep them without the parse.
    pub fn links_with_kind(&self) -> Vec<(String, bool)> {
        self.outside_links()
            .filter(|link| !link.auto)
            .map(|link| (link.dest.clone(), link.wiki))
            .collect()
    }

    pub(crate) fn outside_links(&self) -> impl Iterator<Item = &LinkRecord> {
        self.links
            .iter()
            .filter(|link| !self.in_section(link.offset))
    }
}

/// The markdown dialect notes are read in: CommonMark plus the extensions that change block
/// structure or links in the editors people use (tables, footnotes, task lists, wikilinks).
fn options() -> Options {
    Options::ENABLE_TABLES
        | Options::ENABLE_FOOTNOTES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_WIKILINKS
}

/// Parses a note's text (after any BOM). The only error is a note with two managed sections;
/// [`crate::Note::parse`] gives the same error with the file's path.
pub fn parse(source: &str, spec: &SectionSpec) -> Result<Parsed, NoteError> {
    let front_matter = frontmatter::detect(source);
    let body_start = front_matter.as_ref().map_or(0, |block| block.range.end);
    let front_title = front_matter
        .as_ref()
        .and_then(|block| frontmatter::title(source, block));
    let body = &source[body_start..];

    let mut scan = Events::default();
    let mut iter = Parser::new_ext(body, options()).into_offset_iter();
    for (event, range) in iter.by_ref() {
        let range = range.start + body_start..range.end + body_start;
        scan.event(source, spec, event, range)?;
    }
    let mut definitions = Vec::new();
    for (_, definition) in iter.reference_definitions().iter() {
        let span = definition.span.start + body_start..definition.span.end + body_start;
        scan.link_syntax.push(span.clone());
        definitions.push(span);
    }
    let section = scan.section_heading.clone().map(|heading| {
        let end = scan.section_end(source, heading.end);
        let layout =
            crate::shape::layout(source, heading.end..end, &scan.verbatim, &spec.custom_lines);
        Section {
            end,
            heading,
            layout,
        }
    });
    let section_defines_references = section
        .as_ref()
        .is_some_and(|section| definitions.iter().any(|span| section.owns(span.start)));
    let mut parsed = Parsed {
        source: source.to_string(),
        spec: spec.clone(),
        front_matter_format: front_matter.as_ref().map(|block| block.format),
        front_matter: front_matter.map(|block| block.range),
        section,
        line_ending: LineEnding::detect(source),
        title: None,
        links: scan.links,
        link_syntax: scan.link_syntax,
        web_targets: scan.web_targets,
        tail_closer: scan.tail_closer,
        section_defines_references,
    };
    // The front matter's `title` first, as static-site generators read it; else the first
    // heading outside the managed section.
    parsed.title = front_title.or_else(|| {
        scan.headings
            .into_iter()
            .find(|(offset, _)| !parsed.in_section(*offset))
            .map(|(_, text)| text)
    });
    Ok(parsed)
}
