//! Finding a note's structure: front matter, the managed section, its title and its links.
//!
//! Whether a line is a heading depends on everything around it (a fence above it, a list item
//! it belongs to, a paragraph it underlines), so the note is parsed with pulldown-cmark and its
//! source offsets, never with line heuristics. Only headings at the top level of the document
//! count for the managed section: a `## Closest` quoted in a block quote, a list or a code block
//! is the user's text. Front matter is cut off first, by the usual `---` rule, so that nothing
//! in it can look like a heading.

use std::collections::HashMap;
use std::ops::Range;

use pulldown_cmark::{Event, LinkType, Options, Parser, Tag, TagEnd};
use serde::{Deserialize, Serialize};

use crate::error::{Error, NoteError};
use crate::frontmatter;
use crate::lines::{self, LineEnding};
use crate::splice;

/// Which heading marks the managed section.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SectionSpec {
    /// The heading's text, compared after trimming.
    pub heading: String,
    /// The heading's level, 1 to 6.
    pub level: u8,
}

impl Default for SectionSpec {
    fn default() -> Self {
        SectionSpec {
            heading: "Closest".to_string(),
            level: 2,
        }
    }
}

impl SectionSpec {
    /// A checked spec: a level from 1 to 6, and a heading that reads back as itself, so that
    /// a section written from it is found again (`*Closest*` would read as `Closest`).
    pub fn new(heading: impl Into<String>, level: u8) -> Result<SectionSpec, Error> {
        let spec = SectionSpec {
            heading: heading.into(),
            level,
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

    /// The ATX heading line written for a new section, without its line break: `## Closest`.
    pub fn heading_line(&self) -> String {
        format!(
            "{} {}",
            "#".repeat(usize::from(self.level.clamp(1, 6))),
            self.heading.trim()
        )
    }
}

/// Where the managed section lies in the source, in bytes, on whole lines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    heading: Range<usize>,
    end: usize,
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
}

/// A parsed note. It owns a copy of the source so that what it reports stays consistent with
/// the text it was computed from.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub(crate) source: String,
    pub(crate) front_matter: Option<Range<usize>>,
    pub(crate) section: Option<Section>,
    line_ending: LineEnding,
    title: Option<String>,
    /// Link destinations outside the managed section, with whether each was a wikilink.
    links: Vec<(String, bool)>,
    /// Link and image syntax around link text, and reference definitions: the bytes
    /// `embed_text` leaves out besides front matter and section.
    pub(crate) link_syntax: Vec<Range<usize>>,
    /// Web link targets kept as words in the text to embed, at their offsets.
    pub(crate) web_targets: Vec<(usize, String)>,
    /// A line that closes the last top-level block if that block can run to the end of the
    /// file (a fence, some HTML blocks), so a section appended after it is not swallowed.
    pub(crate) tail_closer: Option<String>,
}

impl Parsed {
    /// The text this was parsed from (after any BOM).
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn has_section(&self) -> bool {
        self.section.is_some()
    }

    pub fn section(&self) -> Option<&Section> {
        self.section.as_ref()
    }

    /// The front matter block, `---` lines included, when the note has one.
    pub fn front_matter(&self) -> Option<&str> {
        self.front_matter.clone().map(|range| &self.source[range])
    }

    /// The non-blank lines of the managed section's body, without line breaks: its links.
    pub fn section_lines(&self) -> Vec<&str> {
        let Some(section) = &self.section else {
            return Vec::new();
        };
        let body = &self.source[section.body_range()];
        lines::lines_with_breaks(body)
            .map(|(_, line)| lines::strip_break(line))
            .filter(|line| !line.trim().is_empty())
            .collect()
    }

    /// The text of the first heading outside the managed section, if any.
    pub fn title(&self) -> Option<&str> {
        self.title.as_deref()
    }

    pub fn line_ending(&self) -> LineEnding {
        self.line_ending
    }

    /// Destinations of the links in the note outside the managed section and front matter,
    /// in order, as written (wikilink targets included).
    pub fn linked_targets(&self) -> Vec<&str> {
        self.links
            .iter()
            .map(|(target, _)| target.as_str())
            .collect()
    }

    /// Destinations of the links outside the managed section and front matter, each with
    /// whether it was a wikilink.
    pub fn links_with_kind(&self) -> &[(String, bool)] {
        &self.links
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
    let body_start = front_matter.as_ref().map_or(0, |range| range.end);
    let body = &source[body_start..];

    let mut scan = Scan::default();
    let mut iter = Parser::new_ext(body, options()).into_offset_iter();
    for (event, range) in iter.by_ref() {
        let range = range.start + body_start..range.end + body_start;
        scan.event(source, spec, event, range)?;
    }
    for (_, definition) in iter.reference_definitions().iter() {
        let span = definition.span.start + body_start..definition.span.end + body_start;
        scan.link_syntax.push(span.clone());
        scan.definitions.push(span);
    }
    let section = scan.section_heading.clone().map(|heading| Section {
        end: scan.section_end(source, heading.end),
        heading,
    });
    let in_section = |offset: usize| {
        section
            .as_ref()
            .is_some_and(|section| section.range().contains(&offset))
    };
    let title = scan
        .headings
        .into_iter()
        .find(|(offset, _)| !in_section(*offset))
        .map(|(_, text)| text);
    let links = scan
        .links
        .into_iter()
        .filter(|(offset, _, _)| !in_section(*offset))
        .map(|(_, target, wiki)| (target, wiki))
        .collect();
    Ok(Parsed {
        source: source.to_string(),
        front_matter,
        section,
        line_ending: LineEnding::detect(source),
        title,
        links,
        link_syntax: scan.link_syntax,
        web_targets: scan.web_targets,
        tail_closer: scan.tail_closer,
    })
}

/// An open link or image: its outer range, the span of its inner events, and its web address
/// when it has one worth keeping.
type OpenLink = (Range<usize>, Option<Range<usize>>, Option<String>);

/// State carried across the event stream.
#[derive(Default)]
struct Scan {
    /// Open container and leaf blocks; a heading is top-level when nothing is open.
    depth: usize,
    /// The heading being read: its start offset, level, whether it is top-level, and its text.
    heading: Option<(usize, u8, bool, String)>,
    /// Every heading's start offset and text, for the title.
    headings: Vec<(usize, String)>,
    section_heading: Option<Range<usize>>,
    section_end: Option<usize>,
    /// Whether the heading that ends the section is a setext heading.
    section_end_setext: bool,
    /// Open links and images: outer range and the span of their inner events.
    link_stack: Vec<OpenLink>,
    /// Web addresses kept in the text to embed, each inserted at an offset of the source.
    web_targets: Vec<(usize, String)>,
    link_syntax: Vec<Range<usize>>,
    /// Spans of link reference definitions.
    definitions: Vec<Range<usize>>,
    links: Vec<(usize, String, bool)>,
    tail_closer: Option<String>,
}

impl Scan {
    fn event(
        &mut self,
        source: &str,
        spec: &SectionSpec,
        event: Event<'_>,
        range: Range<usize>,
    ) -> Result<(), NoteError> {
        // Every event inside a link widens the span of the link's text.
        if let Some((_, inner, _)) = self.link_stack.last_mut() {
            let ends_link = matches!(event, Event::End(TagEnd::Link | TagEnd::Image));
            if !ends_link {
                *inner = Some(match inner.take() {
                    Some(span) => span.start.min(range.start)..span.end.max(range.end),
                    None => range.clone(),
                });
            }
        }
        match event {
            Event::Start(tag) => {
                if self.depth == 0 {
                    self.tail_closer = splice::closer_for(&tag, &source[range.clone()]);
                }
                match tag {
                    Tag::Heading { level, .. } => {
                        let top_level = self.depth == 0;
                        self.heading = Some((range.start, level as u8, top_level, String::new()));
                    }
                    Tag::Link {
                        link_type,
                        dest_url,
                        ..
                    } => {
                        let wiki = matches!(link_type, LinkType::WikiLink { .. });
                        self.links.push((range.start, dest_url.to_string(), wiki));
                        let web = (dest_url.starts_with("https://")
                            || dest_url.starts_with("http://"))
                            && !matches!(link_type, LinkType::Autolink);
                        self.link_stack.push((
                            range.clone(),
                            None,
                            web.then(|| dest_url.to_string()),
                        ));
                    }
                    Tag::Image { .. } => self.link_stack.push((range.clone(), None, None)),
                    _ => {}
                }
                self.depth += 1;
            }
            Event::End(tag) => {
                self.depth = self.depth.saturating_sub(1);
                match tag {
                    TagEnd::Heading(_) => self.end_heading(source, spec, range)?,
                    TagEnd::Link | TagEnd::Image => self.end_link(),
                    _ => {}
                }
            }
            Event::Text(text) | Event::Code(text) => self.heading_text(&text),
            Event::SoftBreak | Event::HardBreak => self.heading_text(" "),
            _ => {}
        }
        Ok(())
    }

    /// Where the section ends, once all events are seen. A setext heading's paragraph may
    /// open with link reference definitions, which the parser strips from the heading but
    /// which belong to its block: cutting between them and the heading would turn what follows
    /// into different markdown, so they stay with the heading, outside the section.
    fn section_end(&self, source: &str, section_body_start: usize) -> usize {
        let Some(mut end) = self.section_end else {
            return source.len();
        };
        if self.section_end_setext && !self.definitions.is_empty() {
            // Keyed by the end of a definition's last line; a map keeps a note made of many
            // definitions linear.
            let starts_by_line_end: HashMap<usize, usize> = self
                .definitions
                .iter()
                .map(|span| (lines::to_line_end(source, span.end), span.start))
                .collect();
            while let Some(&start) = starts_by_line_end.get(&end) {
                if start < section_body_start || start >= end {
                    break;
                }
                end = lines::line_start(source, start);
            }
        }
        end
    }

    fn heading_text(&mut self, text: &str) {
        if let Some((_, _, _, heading)) = &mut self.heading {
            heading.push_str(text);
        }
    }

    fn end_heading(
        &mut self,
        source: &str,
        spec: &SectionSpec,
        range: Range<usize>,
    ) -> Result<(), NoteError> {
        let Some((start, level, top_level, text)) = self.heading.take() else {
            return Ok(());
        };
        let text = text.trim().to_string();
        let line_start = lines::line_start(source, start);
        if top_level {
            // The first top-level heading of the same or a higher level ends the section.
            if self.section_heading.is_some() && self.section_end.is_none() && level <= spec.level {
                self.section_end = Some(line_start);
                self.section_end_setext = !source[line_start..].trim_start().starts_with('#');
            }
            if level == spec.level && text == spec.heading.trim() {
                if let Some(first) = &self.section_heading {
                    return Err(NoteError::TwoSections {
                        path: None,
                        heading: spec.heading_line(),
                        first_line: lines::line_number(source, first.start),
                        second_line: lines::line_number(source, line_start),
                    });
                }
                self.section_heading = Some(line_start..lines::to_line_end(source, range.end));
            }
        }
        self.headings.push((line_start, text));
        Ok(())
    }

    /// Records the syntax around a link's text (`[`, `](target)`, `![`, `[[target|`, `]]`) so
    /// the text to embed keeps the words and drops the target. A web address is kept as words
    /// after the link text: on the shared til notes, dropping them cost 1.4 points of topic
    /// agreement (0.485 against 0.499 with them; BENCHMARKS.md), while links to other notes are
    /// dropped so that links never feed back into similarity.
    fn end_link(&mut self) {
        let Some((outer, inner, web)) = self.link_stack.pop() else {
            return;
        };
        match inner {
            Some(inner) if outer.start <= inner.start && inner.end <= outer.end => {
                self.link_syntax.push(outer.start..inner.start);
                self.link_syntax.push(inner.end..outer.end);
                if let Some(url) = web {
                    self.web_targets.push((inner.end, url));
                }
            }
            _ => self.link_syntax.push(outer),
        }
    }
}
