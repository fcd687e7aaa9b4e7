//! Rewriting the managed section and nothing else.
//!
//! People edit these notes by hand and keep them in git, so a run may only change the lines
//! between the section's heading and the next heading of the same or a higher level: every
//! other byte, the line endings, the trailing-newline state, stays as it was. A second run must
//! change nothing, or every `update` would show up as a diff. Both rules are checked by
//! property tests. Where the new lines could change how the rest of the note parses (a list
//! swallowing an indented heading after it, a section appended inside a code fence the note
//! left open), the result is parsed again and, if needed, a line is added that ends the open
//! block, so that the next run finds the section exactly where this one put it.

use crate::append::{append, push_links, section_lands, Placed};
use crate::lines::{self, ends_with_break, strip_break};
use crate::parse::{parse, Parsed, Section, SectionSpec};
use crate::shape::LIST_END_GUARD;
use crate::text::embed_text;
/// Returns the note's text (after any BOM) with its managed section holding exactly `links`,
/// one per line.
///
/// An existing section keeps its heading line as written, then one blank line, the links, and
/// one blank line before whatever heading follows. A note without a section gets one appended
/// after a blank line. Line breaks are the note's own; a note that ended without a final line
/// break still does. `parsed` should come from `source` (if not, `source` is parsed again).
///
/// In the rare note where no placement of the section would be found again by the next run
/// (see [`try_splice`]), the note is returned unchanged rather than damaged run after run.
pub fn splice(source: &str, parsed: &Parsed, spec: &SectionSpec, links: &[String]) -> String {
    try_splice(source, parsed, spec, links).unwrap_or_else(|| source.to_string())
}
/// Like [`splice`], but `None` when the result would not parse back with its section exactly
/// where it was put, so that the caller can say so. This happens only where the markdown
/// parser reads the note unlike CommonMark (lone `\r` line breaks after a fence) or where a
/// custom template's line opens a block.
pub fn try_splice(
    source: &str,
    parsed: &Parsed,
    spec: &SectionSpec,
    links: &[String],
) -> Option<String> {
    place(source, parsed, spec, links).map(|placed| placed.text)
}
pub(crate) fn place(
    source: &str,
    parsed: &Parsed,
    spec: &SectionSpec,
    links: &[String],
) -> Option<Placed> {
    // Offsets from another text would cut at the wrong places or panic; parse afresh instead.
    let reparsed;
    let parsed = if parsed.source() == source && parsed.spec() == spec {
        parsed
    } else {
        reparsed = parse(source, spec).ok()?;
        &reparsed
    };
    let line_break = parsed.line_ending().as_str();
    let Some(section) = parsed.section() else {
        return append(source, parsed, spec, links);
    };
    if section.has_typed_lines() {
        return around_typed(source, parsed, spec, links);
    }
    let before = &source[..section.range().start];
    let heading = strip_break(&source[section.heading_range()]);
    let rest = &source[section.range().end..];
    let build = |guard: bool| {
        let mut out = String::with_capacity(source.len() + links.len() * 48);
        out.push_str(before);
        out.push_str(heading);
        push_links(&mut out, links, line_break);
        if !rest.is_empty() {
            out.push_str(line_break);
            out.push_str(line_break);
            if guard {
                out.push_str(LIST_END_GUARD);
                out.push_str(line_break);
            }
            out.push_str(rest);
        } else if ends_with_break(source) {
            out.push_str(line_break);
        }
        out
    };
    [false, true].into_iter().find_map(|guard| {
        let text = build(guard);
        let range = before.len()..text.len() - rest.len();
        section_lands(&text, spec, &range).then_some(Placed { text, closer: None })
    })
}
/// A section a person typed in: only `closest`'s link lines are replaced, each new link taking
/// the place of an old one, so that their lines keep their places among the links; links
/// beyond the old ones follow the last, and a list that is new goes right under the heading.
/// `None` when the result would not read back the same way (the note is then left as it is).
fn around_typed(
    source: &str,
    parsed: &Parsed,
    spec: &SectionSpec,
    links: &[String],
) -> Option<Placed> {
    let section = parsed.section()?;
    let line_break = parsed.line_ending().as_str();
    // A new list can pull an indented line after it into its last item; the guard ends it.
    [false, true].into_iter().find_map(|guard| {
        if guard && section.block().is_some() {
            return None;
        }
        let text = relist(source, section, links, line_break, guard);
        let reparsed = parse(&text, spec).ok()?;
        let landed = reparsed.section()?.range();
        // Read back, the section starts where it did and holds these links, and a second
        // run changes nothing.
        let again = reparsed
            .section()
            .filter(|again| again.has_typed_lines())
            .map(|again| relist(&text, again, links, line_break, false));
        // What the person typed reads as it did (a definition stays a definition).
        let stable = landed.start == section.range().start
            && reparsed.section_lines() == links
            && again.as_deref() == Some(text.as_str())
            && embed_text(&reparsed) == embed_text(parsed);
        stable.then_some(Placed { text, closer: None })
    })
}
/// The source with the section's link lines replaced by `links` (see [`around_typed`]).
/// With `guard`, a new list is followed by the line that ends it.
pub(crate) fn relist(
    source: &str,
    section: &Section,
    links: &[String],
    line_break: &str,
    guard: bool,
) -> String {
    let mut out = String::with_capacity(source.len() + links.len() * 48);
    let Some(block) = section.block() else {
        if links.is_empty() {
            return source.to_owned();
        }
        // A new list right under the heading, a blank line on either side.
        let heading_end = section.heading_range().end;
        let body = &source[heading_end..];
        out.push_str(&source[..heading_end]);
        out.push_str(line_break);
        for link in links {
            out.push_str(link);
            out.push_str(line_break);
        }
        if guard {
            out.push_str(line_break);
            out.push_str(LIST_END_GUARD);
            out.push_str(line_break);
        }
        let starts_blank = lines::lines_with_breaks(body)
            .next()
            .is_some_and(|(_, line)| line.trim().is_empty());
        if !starts_blank {
            out.push_str(line_break);
        }
        out.push_str(body);
        return out;
    };
    let owned = section.owned_lines();
    // The block's lines as they will be: a person's line with its own line break, a link
    // with the note's.
    let mut pieces: Vec<String> = Vec::new();
    let mut new = links.iter();
    let mut after_last_slot = 0;
    for (offset, line) in lines::lines_with_breaks(&source[block.clone()]) {
        if owned
            .iter()
            .any(|range| range.start == block.start + offset)
        {
            if let Some(link) = new.next() {
                pieces.push(format!("{link}{line_break}"));
                after_last_slot = pieces.len();
            }
        } else {
            pieces.push(line.to_owned());
        }
    }
    let rest: Vec<String> = new.map(|link| format!("{link}{line_break}")).collect();
    pieces.splice(after_last_slot..after_last_slot, rest);
    let (mut start, mut end) = (block.start, block.end);
    if pieces.is_empty() {
        // The list goes, and a blank line beside it with it, so that none is left doubled.
        let heading_end = section.heading_range().end;
        let previous = strip_break(&source[..start]);
        let line_before = lines::line_start(previous, previous.len());
        let line_after = lines::line_end(source, end.min(source.len().saturating_sub(1)));
        if start > heading_end && source[line_before..start].trim().is_empty() {
            start = line_before;
        } else if end < source.len() && source[end..line_after].trim().is_empty() {
            end = line_after;
        }
    }
    let mut middle = pieces.concat();
    if !ends_with_break(&source[block]) {
        // The note ended on its last link without a line break, and still does.
        middle.truncate(strip_break(&middle).len());
    }
    out.push_str(&source[..start]);
    out.push_str(&middle);
    out.push_str(&source[end..]);
    out
}
/// Whether splicing would leave the note as it is, so that it need not be written.
pub fn section_is_current(
    source: &str,
    parsed: &Parsed,
    spec: &SectionSpec,
    links: &[String],
) -> bool {
    splice(source, parsed, spec, links) == source
}
