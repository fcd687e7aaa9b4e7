//! Appending a section to a note that has none, and what that adds in front of it.
//!
//! The section goes after exactly one blank line of its own (after a line that closes the
//! block the note ends in, when that block would swallow it): one note gives each result, so
//! that removing the section (`region.rs`) finds the note by appending again. The text to embed
//! of a note without a section counts the closing line as the note's (`text.rs`), so that it is
//! the same before and after the section is written.

use std::ops::Range;

use crate::lines::ends_with_break;
use crate::parse::{parse, Parsed, SectionSpec};

/// A splice's result and where its section lies in it.
pub(crate) struct Placed {
    pub(crate) text: String,
    /// The closing line written before an appended section, if one was needed.
    pub(crate) closer: Option<String>,
}

/// A section appended to a note without one: after a blank line, or after a line that closes
/// the block the note ends in when that block would swallow the section otherwise.
pub(crate) fn append(
    source: &str,
    parsed: &Parsed,
    spec: &SectionSpec,
    links: &[String],
) -> Option<Placed> {
    let line_break = parsed.line_ending().as_str();
    let build = |closer: Option<&str>| {
        let mut out = String::with_capacity(source.len() + 16 + links.len() * 48);
        out.push_str(source);
        if !source.is_empty() {
            if !ends_with_break(source) {
                out.push_str(line_break);
            }
            if let Some(closer) = closer {
                out.push_str(closer);
                out.push_str(line_break);
            }
            // Always one blank line of its own, even after a blank line the note ends with,
            // so that taking the section out again (`region.rs`) knows where the note ended.
            out.push_str(line_break);
        }
        let heading_start = out.len();
        out.push_str(&spec.heading_line());
        push_links(&mut out, links, line_break);
        if source.is_empty() || ends_with_break(source) {
            out.push_str(line_break);
        }
        let section = heading_start..out.len();
        section_lands(&out, spec, &section).then_some(Placed {
            text: out,
            closer: closer.map(str::to_string),
        })
    };
    build(None).or_else(|| build(Some(parsed.tail_closer.as_deref()?)))
}

/// The line a section appended to this note would be preceded by, if it needs one: the text
/// to embed counts it as part of the note, so that it is the same before and after the
/// section is written. Whether a closer is needed does not depend on the links (they can only
/// make a placement fail), so it is decided with none.
pub(crate) fn appended_closer(parsed: &Parsed) -> Option<String> {
    if parsed.has_section() {
        return None;
    }
    parsed.tail_closer.as_ref()?;
    append(parsed.source(), parsed, parsed.spec(), &[])?.closer
}

pub(crate) fn push_links(out: &mut String, links: &[String], line_break: &str) {
    if links.is_empty() {
        return;
    }
    out.push_str(line_break);
    for link in links {
        out.push_str(line_break);
        out.push_str(link);
    }
}

/// Whether `text` parses with its managed section at exactly `range`.
pub(crate) fn section_lands(text: &str, spec: &SectionSpec, range: &Range<usize>) -> bool {
    parse(text, spec)
        .ok()
        .and_then(|parsed| parsed.section().map(|section| section.range()))
        .as_ref()
        == Some(range)
}
