//! The walk over pulldown-cmark's events that finds a note's structure.
//!
//! Whether a line is a heading depends on everything around it (a fence above it, a list item
//! it belongs to, a paragraph it underlines), so the note is read through the parser's events
//! and their source offsets, never with line heuristics. This module keeps the state of that
//! walk: the depth of open blocks (only top-level headings count for the managed section), the
//! headings, every link with where it is, the link syntax the text to embed leaves out, and the
//! line that would close the last block if it could run to the end of the file.

use std::ops::Range;

use pulldown_cmark::{Event, LinkType, Tag, TagEnd};

use crate::error::NoteError;
use crate::lines;
use crate::spec::SectionSpec;

/// One link or wikilink of the note, wherever it is (the managed section included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LinkRecord {
    /// Where the link starts in the source.
    pub(crate) offset: usize,
    /// Its destination as the parser gives it (reference links resolved, escapes undone).
    pub(crate) dest: String,
    pub(crate) wiki: bool,
    /// An autolink or e-mail link: a web address by construction, never a note.
    pub(crate) auto: bool,
}

/// An open link or image: its outer range, the span of its inner events, and its web address
/// when it has one worth keeping.
type OpenLink = (Range<usize>, Option<Range<usize>>, Option<String>);

/// State carried across the event stream.
#[derive(Default)]
pub(crate) struct Events {
    /// Open container and leaf blocks; a heading is top-level when nothing is open.
    depth: usize,
    /// The heading being read: its start offset, level, whether it is top-level, and its text.
    heading: Option<(usize, u8, bool, String)>,
    /// Every heading's start offset and text, for the title.
    pub(crate) headings: Vec<(usize, String)>,
    pub(crate) section_heading: Option<Range<usize>>,
    section_end: Option<usize>,
    /// Whether the heading that ends the section is a setext heading.
    section_end_setext: bool,
    /// Where the blocks before the top-level block being read ended.
    previous_block_end: usize,
    /// The furthest end of an event so far.
    last_block_end: usize,
    /// `previous_block_end` as it was for the heading that ends the section.
    section_end_floor: usize,
    /// Open links and images: outer range and the span of their inner events.
    link_stack: Vec<OpenLink>,
    /// Web addresses kept in the text to embed, each inserted at an offset of the source.
    pub(crate) web_targets: Vec<(usize, String)>,
    pub(crate) link_syntax: Vec<Range<usize>>,
    pub(crate) links: Vec<LinkRecord>,
    pub(crate) tail_closer: Option<String>,
    /// Code blocks and HTML blocks, wherever they are: a line in one is never a link line.
    pub(crate) verbatim: Vec<Range<usize>>,
}

impl Events {
    pub(crate) fn event(
        &mut self,
        source: &str,
        spec: &SectionSpec,
        event: Event<'_>,
        range: Range<usize>,
    ) -> Result<(), NoteError> {
        // A list's range runs on to the next block, over any definitions between them; every
        // other event ends where its source does. Counted once the event is handled, so that a
        // block's start sees where the blocks before it ended.
        let end = range.end;
        let counts = !matches!(
            event,
            Event::Start(Tag::List(_)) | Event::End(TagEnd::List(_))
        );
        self.read(source, spec, event, range)?;
        if counts {
            self.last_block_end = self.last_block_end.max(end);
        }
        Ok(())
    }

    fn read(
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
                    self.tail_closer = crate::blocks::closer_for(&tag, &source[range.clone()]);
                    self.previous_block_end = self.last_block_end;
                }
                if matches!(tag, Tag::CodeBlock(_) | Tag::HtmlBlock) {
                    self.verbatim.push(range.clone());
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
                        let auto = matches!(link_type, LinkType::Autolink | LinkType::Email);
                        self.links.push(LinkRecord {
                            offset: range.start,
                            dest: dest_url.to_string(),
                            wiki,
                            auto,
                        });
                        let web = (dest_url.starts_with("https://")
                            || dest_url.starts_with("http://"))
                            && !auto;
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
    /// into different markdown, so they stay with the heading, outside the section. They are
    /// the non-blank lines between the previous block and the heading, the only lines the
    /// parser gives no event for (its map of definitions keeps one per label, so it would miss
    /// a repeated one).
    pub(crate) fn section_end(&self, source: &str, section_body_start: usize) -> usize {
        let Some(mut end) = self.section_end else {
            return source.len();
        };
        if self.section_end_setext {
            let floor = self.section_end_floor.max(section_body_start);
            while end > floor {
                let break_len = if source[..end].ends_with("\r\n") {
                    2
                } else {
                    1
                };
                let previous = lines::line_start(source, end - break_len);
                if previous < floor || source[previous..end].trim().is_empty() {
                    break;
                }
                end = previous;
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
                self.section_end_floor = self.previous_block_end;
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
