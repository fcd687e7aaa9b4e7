//! Byte-offset helpers for lines, shared by the parser and the splicers.
//!
//! The parser reports blocks as byte ranges that do not always start at a line's first byte
//! (an indented heading) or end after its line break (a heading at the end of the file).
//! Splicing works on whole lines, so these helpers widen a range to line boundaries. CommonMark
//! ends lines at `\n`, `\r\n` or a lone `\r`; all three are honoured here, so that a file with
//! old Mac line endings is cut where the parser cut it.

use serde::{Deserialize, Serialize};

/// The line break a note uses, taken from its first line break.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum LineEnding {
    #[default]
    Lf,
    Crlf,
    /// A lone `\r`, as classic Mac OS wrote. Rare, but writing `\n` after one would fuse
    /// into a `\r\n` and change the note's line ending on the next run.
    Cr,
}

impl LineEnding {
    /// The kind of the first line break of `text`; LF for text without any.
    pub fn detect(text: &str) -> LineEnding {
        let bytes = text.as_bytes();
        match bytes.iter().position(|&byte| is_break(byte)) {
            Some(index) if bytes[index] == b'\r' => {
                if bytes.get(index + 1) == Some(&b'\n') {
                    LineEnding::Crlf
                } else {
                    LineEnding::Cr
                }
            }
            _ => LineEnding::Lf,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            LineEnding::Lf => "\n",
            LineEnding::Crlf => "\r\n",
            LineEnding::Cr => "\r",
        }
    }
}

fn is_break(byte: u8) -> bool {
    byte == b'\n' || byte == b'\r'
}

/// Offset of the first byte of the line that holds `offset`.
pub(crate) fn line_start(text: &str, offset: usize) -> usize {
    text.as_bytes()[..offset]
        .iter()
        .rposition(|&byte| is_break(byte))
        .map_or(0, |index| index + 1)
}

/// Offset just after the line break that ends the line holding `offset`, or the text's end.
pub(crate) fn line_end(text: &str, offset: usize) -> usize {
    let bytes = text.as_bytes();
    match bytes[offset..].iter().position(|&byte| is_break(byte)) {
        None => bytes.len(),
        Some(index) => {
            let at = offset + index;
            if bytes[at] == b'\r' && bytes.get(at + 1) == Some(&b'\n') {
                at + 2
            } else {
                at + 1
            }
        }
    }
}

/// Widens `end`, the end of a block, to the end of its line unless it already sits at a line's
/// start.
pub(crate) fn to_line_end(text: &str, end: usize) -> usize {
    if end == 0 || end >= text.len() {
        return end.min(text.len());
    }
    let bytes = text.as_bytes();
    // Between `\r` and `\n` is not a line start; anything after another break is.
    if bytes[end - 1] == b'\n' || (bytes[end - 1] == b'\r' && bytes[end] != b'\n') {
        end
    } else {
        line_end(text, end)
    }
}

/// The text of a line without its line break.
pub(crate) fn strip_break(line: &str) -> &str {
    line.strip_suffix("\r\n")
        .or_else(|| line.strip_suffix('\n'))
        .or_else(|| line.strip_suffix('\r'))
        .unwrap_or(line)
}

/// Whether the text's last line ends with a line break.
pub(crate) fn ends_with_break(text: &str) -> bool {
    text.as_bytes().last().is_some_and(|&byte| is_break(byte))
}

/// Whether the text ends with a blank line, so that something appended is already separated.
pub(crate) fn ends_with_blank_line(text: &str) -> bool {
    if !ends_with_break(text) {
        return false;
    }
    let body = strip_break(text);
    let last = &body[line_start(body, body.len())..];
    body.is_empty() || last.trim().is_empty()
}

/// The 1-based number of the line that holds `offset`, counting every kind of line break.
pub fn line_number(text: &str, offset: usize) -> usize {
    let bytes = &text.as_bytes()[..offset];
    let mut count = 1;
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'\r' && bytes.get(index + 1) == Some(&b'\n') {
            index += 1;
        }
        if is_break(bytes[index]) {
            count += 1;
        }
        index += 1;
    }
    count
}

/// Iterates over the lines of `text` with their line breaks, as `(start offset, line)`.
pub(crate) fn lines_with_breaks(text: &str) -> impl Iterator<Item = (usize, &str)> {
    let mut offset = 0;
    std::iter::from_fn(move || {
        if offset >= text.len() {
            return None;
        }
        let start = offset;
        offset = line_end(text, start);
        Some((start, &text[start..offset]))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_boundaries_honour_every_kind_of_break() {
        let text = "a\r\nbb\rc\nd";
        assert_eq!(line_start(text, 4), 3);
        assert_eq!(line_end(text, 0), 3);
        assert_eq!(line_end(text, 3), 6);
        assert_eq!(line_end(text, 8), 9);
        assert_eq!(to_line_end(text, 2), 3);
        assert_eq!(to_line_end(text, 3), 3);
        assert_eq!(line_number(text, 8), 4);
        let lines: Vec<_> = lines_with_breaks(text).map(|(_, line)| line).collect();
        assert_eq!(lines, ["a\r\n", "bb\r", "c\n", "d"]);
    }

    #[test]
    fn blank_line_at_end_is_recognised() {
        assert!(ends_with_blank_line("a\n\n"));
        assert!(ends_with_blank_line("a\r\n  \r\n"));
        assert!(ends_with_blank_line("\n"));
        assert!(!ends_with_blank_line("a\n"));
        assert!(!ends_with_blank_line("a"));
        assert!(!ends_with_blank_line(""));
    }

    #[test]
    fn line_ending_comes_from_the_first_break() {
        assert_eq!(LineEnding::detect("a\r\nb\n"), LineEnding::Crlf);
        assert_eq!(LineEnding::detect("a\nb\r\n"), LineEnding::Lf);
        assert_eq!(LineEnding::detect("abc"), LineEnding::Lf);
        assert_eq!(LineEnding::detect("a\rb\r\n"), LineEnding::Cr);
    }
}
