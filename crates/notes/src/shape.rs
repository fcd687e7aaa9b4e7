//! Which lines of a managed section are `closest`'s own.
//!
//! People type wherever they like, the end of a note included, which is where the section sits;
//! every line `closest` did not write must survive every run. A store of what was written would
//! not do: it is a cache, and a clone of the notes has none, yet must give the same bytes. So the
//! note's text alone decides: a line is `closest`'s when it has the exact shape of a link line
//! it writes (a built-in template's, or the folder's custom line), outside code and HTML blocks.
//! The shapes are strict (one link whose target is a relative path or a wikilink name, nothing
//! before or after it), so a bullet with a web link, a word after the link, another bullet
//! character, an indent, a comment, a sub-heading or a paragraph is the person's. A line typed
//! in exactly the shape `closest` writes cannot be told from one it wrote, and is taken as its.

use std::ops::Range;

use crate::lines::{lines_with_breaks, strip_break};

/// Ends a list between the links and an indented heading that would otherwise join the list.
pub(crate) const LIST_END_GUARD: &str = "<!-- end of closest links -->";

/// Which lines of a section's body are `closest`'s.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Layout {
    /// `closest`'s lines (link lines and the list-end guard), whole with their line breaks,
    /// in order.
    pub(crate) owned: Vec<Range<usize>>,
    /// The list: from the first to the last link line of the first run of lines without a
    /// blank line that holds one. Link-shaped lines outside it are the person's.
    pub(crate) block: Option<Range<usize>>,
    /// Whether the body holds a line that is neither blank nor `closest`'s.
    pub(crate) typed: bool,
}

/// The layout of the section body `body` of `source`; `verbatim` are the note's code and HTML
/// blocks, `custom` the custom link lines in use.
pub(crate) fn layout(
    source: &str,
    body: Range<usize>,
    verbatim: &[Range<usize>],
    custom: &[String],
) -> Layout {
    #[derive(Clone, Copy, PartialEq, Eq)]
    enum Kind {
        Blank,
        Guard,
        Link,
        Typed,
    }
    let in_verbatim = |at: usize| verbatim.iter().any(|range| range.contains(&at));
    let lines: Vec<(Range<usize>, Kind)> = lines_with_breaks(&source[body.clone()])
        .map(|(offset, line)| {
            let start = body.start + offset;
            let text = strip_break(line);
            let kind = if text.trim().is_empty() {
                Kind::Blank
            } else if text == LIST_END_GUARD {
                Kind::Guard
            } else if !in_verbatim(start) && is_link_line(text, custom) {
                Kind::Link
            } else {
                Kind::Typed
            };
            (start..start + line.len(), kind)
        })
        .collect();
    // The first run of non-blank lines with a link line in it holds the list.
    let mut block: Option<(usize, usize)> = None;
    let mut run_start = 0;
    for index in 0..=lines.len() {
        let ends_run = index == lines.len() || lines[index].1 == Kind::Blank;
        if !ends_run {
            continue;
        }
        let run = run_start..index;
        let links: Vec<usize> = run.filter(|&i| lines[i].1 == Kind::Link).collect();
        if let (Some(&first), Some(&last)) = (links.first(), links.last()) {
            block = Some((first, last));
            break;
        }
        run_start = index + 1;
    }
    let mut layout = Layout::default();
    for (index, (range, kind)) in lines.iter().enumerate() {
        let in_block = block.is_some_and(|(first, last)| (first..=last).contains(&index));
        match kind {
            Kind::Blank => {}
            Kind::Guard => layout.owned.push(range.clone()),
            Kind::Link if in_block => layout.owned.push(range.clone()),
            Kind::Link | Kind::Typed => layout.typed = true,
        }
    }
    layout.block = block.map(|(first, last)| lines[first].0.start..lines[last].0.end);
    layout
}

/// A link line's parts a placeholder may stand for, each with what it may hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Link text as the renderer escapes it: no unescaped `[` or `]`.
    LinkText,
    /// A relative link destination as the renderer encodes it: no spaces, parentheses or angle
    /// brackets, no URL scheme.
    Destination,
    /// A wikilink name: none of `[`, `]`, `|`, `#`, `^`.
    WikiName,
    /// A custom line's id or title: any text on the line; an id is no web address.
    Id,
    Title,
    /// A score with two decimals.
    Score,
}

/// A shape: literal text with placeholders between.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Hole(Part),
}

/// The shapes of the built-in templates: `* [text](dest)` (bullet, title-path),
/// `- [[name]]` (wiki) and `- [text](dest)` (wiki's markdown fallback).
fn built_in() -> [Vec<Piece>; 3] {
    let lit = |text: &str| Piece::Literal(text.to_owned());
    [
        vec![
            lit("* ["),
            Piece::Hole(Part::LinkText),
            lit("]("),
            Piece::Hole(Part::Destination),
            lit(")"),
        ],
        vec![
            lit("- ["),
            Piece::Hole(Part::LinkText),
            lit("]("),
            Piece::Hole(Part::Destination),
            lit(")"),
        ],
        vec![lit("- [["), Piece::Hole(Part::WikiName), lit("]]")],
    ]
}

/// A custom line's shape, its placeholders as holes.
fn custom_shape(line: &str) -> Vec<Piece> {
    let mut pieces = Vec::new();
    let mut literal = String::new();
    let mut rest = line;
    while let Some(start) = rest.find('{') {
        literal.push_str(&rest[..start]);
        let after = &rest[start..];
        let hole = [
            ("{id}", Part::Id),
            ("{title}", Part::Title),
            ("{path}", Part::Destination),
            ("{link}", Part::Destination),
            ("{score}", Part::Score),
        ]
        .into_iter()
        .find(|(name, _)| after.starts_with(name));
        match hole {
            Some((name, part)) => {
                if !literal.is_empty() {
                    pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                }
                pieces.push(Piece::Hole(part));
                rest = &after[name.len()..];
            }
            None => {
                literal.push('{');
                rest = &after[1..];
            }
        }
    }
    literal.push_str(rest);
    if !literal.is_empty() {
        pieces.push(Piece::Literal(literal));
    }
    pieces
}

/// Longer lines are never link lines: no title or path is this long, and the shape test is
/// quadratic in the worst case.
const LONGEST_LINK_LINE: usize = 2048;

/// Whether `line` (without its line break) has the shape of a link line `closest` writes: a
/// built-in template's, or one of `custom` lines'.
pub(crate) fn is_link_line(line: &str, custom: &[String]) -> bool {
    if line.len() > LONGEST_LINK_LINE
        || !(line.starts_with("* ") || line.starts_with("- ") || !custom.is_empty())
    {
        return false;
    }
    built_in().iter().any(|shape| matches(shape, line))
        || custom
            .iter()
            .any(|template| matches(&custom_shape(template), line))
}

fn matches(shape: &[Piece], line: &str) -> bool {
    match shape.split_first() {
        None => line.is_empty(),
        Some((Piece::Literal(text), rest)) => line
            .strip_prefix(text.as_str())
            .is_some_and(|line| matches(rest, line)),
        Some((Piece::Hole(part), rest)) => {
            // Every split of the line that the part may hold, shortest first.
            line.char_indices().any(|(at, c)| {
                let end = at + c.len_utf8();
                holds(*part, &line[..end]) && matches(rest, &line[end..])
            })
        }
    }
}

/// Whether a placeholder of kind `part` may have been filled with `text`.
fn holds(part: Part, text: &str) -> bool {
    if text.is_empty() || text.chars().any(char::is_control) {
        return false;
    }
    match part {
        Part::LinkText => {
            let mut escaped = false;
            for c in text.chars() {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == '[' || c == ']' {
                    return false;
                }
            }
            !escaped
        }
        Part::Destination => {
            !text.contains("://")
                && !text.starts_with("mailto:")
                && !text.starts_with('#')
                && !text
                    .chars()
                    .any(|c| c.is_whitespace() || matches!(c, '(' | ')' | '<' | '>'))
        }
        Part::WikiName => {
            text.trim() == text
                && !text
                    .chars()
                    .any(|c| matches!(c, '[' | ']' | '|' | '#' | '^'))
        }
        Part::Id => !text.contains("://"),
        Part::Title => true,
        Part::Score => {
            let digits = text.strip_prefix('-').unwrap_or(text);
            let Some((whole, fraction)) = digits.split_once('.') else {
                return false;
            };
            !whole.is_empty()
                && whole.bytes().all(|b| b.is_ascii_digit())
                && fraction.len() == 2
                && fraction.bytes().all(|b| b.is_ascii_digit())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_built_in_shapes_are_closests_own() {
        for line in [
            "* [a](a)",
            "* [rust-iterators](rust-iterators)",
            "* [My \\[odd\\] title](../sub/My%20note.md)",
            "- [[Some note]]",
            "- [a#b](a%23b.md)",
        ] {
            assert!(is_link_line(line, &[]), "{line}");
        }
    }

    #[test]
    fn lines_a_person_types_are_theirs() {
        for line in [
            "* [Rust book](https://doc.rust-lang.org/book)",
            "* [a](a) and why it matters",
            "+ [a](a)",
            "  * [a](a)",
            "* a plain bullet",
            "- [[a|shown]]",
            "- [[a]] see also",
            "<!-- a comment -->",
            "### A sub-heading",
            "Some paragraph.",
            "* [a](a)  ",
            "* [mail](mailto:x@y.org)",
            "* [](a)",
            "* [a]()",
            "",
        ] {
            assert!(!is_link_line(line, &[]), "{line}");
        }
    }

    #[test]
    fn a_custom_line_has_its_own_shape() {
        let custom = ["1. {title} ({score}) [{id}]({link})".to_string()];
        assert!(is_link_line("1. A title (0.83) [a](a)", &custom));
        assert!(is_link_line("1. A (b) title (1.00) [a](../a)", &custom));
        assert!(!is_link_line("1. A title (high) [a](a)", &custom));
        assert!(!is_link_line(
            "1. A title (0.83) [a](https://x.org)",
            &custom
        ));
        assert!(!is_link_line("2. A title (0.83) [a](a)", &custom));
        let custom = ["{id}".to_string()];
        assert!(is_link_line("anything", &custom));
        assert!(!is_link_line("https://x.org", &custom));
    }
}
