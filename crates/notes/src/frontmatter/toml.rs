//! TOML front matter between `+++` lines, as Hugo and Zola write it.
//!
//! The list is one top-level key, `closest = ["a", "b"]`. Top-level matters: every key after a
//! `[table]` header belongs to that table, so a list appended at the end of the block would be
//! `params.closest` to Hugo. The block is therefore scanned as TOML (strings, comments, arrays
//! that span lines, table headers) to find the top-level statements, and the list goes after
//! the last of them. Values are read back with the `toml` crate, so escapes mean what TOML says.
//! A block that is not valid TOML is read line by line, which keeps a rerun from adding a
//! second list to it.

use std::ops::Range;

use crate::lines::{lines_with_breaks, strip_break};

/// The block at the start of `source`: a first line `+++`, up to the next line `+++`.
pub(super) fn detect(source: &str) -> Option<Range<usize>> {
    let mut lines = lines_with_breaks(source);
    let (_, first) = lines.next()?;
    if strip_break(first).trim_end() != "+++" || strip_break(first).len() == first.len() {
        return None;
    }
    lines
        .find(|(_, line)| strip_break(line).trim_end() == "+++")
        .map(|(start, line)| 0..start + line.len())
}

/// A top-level key/value statement: its dotted key and the whole lines it spans.
struct Statement {
    key: Vec<String>,
    range: Range<usize>,
    /// Offsets of the string literals directly inside the value's outermost array.
    strings: Vec<usize>,
}

/// What the block holds before its first table header.
struct Layout {
    statements: Vec<Statement>,
    /// Where the inner lines start (after the opening `+++` line).
    inner_start: usize,
    /// The first table header's line, or the closing `+++` line.
    top_level_end: usize,
    has_header: bool,
}

/// The lexer's state between characters: inside a multi-line string, and how deep in arrays
/// and inline tables.
#[derive(Default)]
struct Lexer {
    multi_line: Option<&'static str>,
    depth: usize,
}

impl Lexer {
    /// Reads `text` (one line without its break) from `from`, noting where string literals
    /// start at depth 1 in `strings` (as offsets from `base`).
    fn line(&mut self, text: &str, from: usize, base: usize, strings: &mut Vec<usize>) {
        let bytes = text.as_bytes();
        let mut index = from;
        while index < bytes.len() {
            if let Some(close) = self.multi_line {
                match find_unescaped(text, index, close) {
                    Some(end) => {
                        self.multi_line = None;
                        index = end + close.len();
                        continue;
                    }
                    None => return,
                }
            }
            match bytes[index] {
                b'#' => return,
                b'[' | b'{' => self.depth += 1,
                b']' | b'}' => self.depth = self.depth.saturating_sub(1),
                quote @ (b'"' | b'\'') => {
                    if self.depth == 1 {
                        strings.push(base + index);
                    }
                    let triple = if quote == b'"' { "\"\"\"" } else { "'''" };
                    if bytes[index..].starts_with(triple.as_bytes()) {
                        self.multi_line = Some(triple);
                        index += 3;
                        continue;
                    }
                    let close = if quote == b'"' { "\"" } else { "'" };
                    index = find_unescaped(text, index + 1, close).map_or(bytes.len(), |end| end);
                }
                _ => {}
            }
            index += 1;
        }
    }

    fn done(&self) -> bool {
        self.multi_line.is_none() && self.depth == 0
    }
}

/// The first `needle` at or after `from`, skipping backslash escapes unless the needle is a
/// literal string's quote (literal strings have no escapes).
fn find_unescaped(text: &str, from: usize, needle: &str) -> Option<usize> {
    let escapes = needle.starts_with('"');
    let bytes = text.as_bytes();
    let mut index = from;
    while index < bytes.len() {
        if escapes && bytes[index] == b'\\' {
            index += 2;
            continue;
        }
        // Bytes, not `str`: an escape may have put `index` inside a character.
        if bytes[index..].starts_with(needle.as_bytes()) {
            return Some(index);
        }
        index += 1;
    }
    None
}

/// The dotted key at the start of `text` and the offset just after its `=`.
fn key_and_value(text: &str) -> (Vec<String>, usize) {
    let mut key = Vec::new();
    let mut rest = text.trim_start();
    loop {
        rest = rest.trim_start();
        let (part, after) = if let Some(quoted) = rest.strip_prefix('"') {
            match find_unescaped(quoted, 0, "\"") {
                Some(end) => (unescape_basic(&quoted[..end]), &quoted[end + 1..]),
                None => break,
            }
        } else if let Some(quoted) = rest.strip_prefix('\'') {
            match quoted.find('\'') {
                Some(end) => (quoted[..end].to_string(), &quoted[end + 1..]),
                None => break,
            }
        } else {
            let end = rest
                .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '-'))
                .unwrap_or(rest.len());
            (rest[..end].to_string(), &rest[end..])
        };
        key.push(part);
        rest = after.trim_start();
        match rest.strip_prefix('.') {
            Some(after_dot) => rest = after_dot,
            None => break,
        }
    }
    match rest.strip_prefix('=') {
        Some(value) => (key, text.len() - value.len()),
        None => (Vec::new(), text.find('=').map_or(text.len(), |at| at + 1)),
    }
}

/// Undoes the escapes a key may carry; values are left to the `toml` crate.
fn unescape_basic(text: &str) -> String {
    ::toml::from_str::<::toml::Table>(&format!("k = \"{text}\""))
        .ok()
        .and_then(|table| table.get("k").and_then(|v| v.as_str()).map(str::to_string))
        .unwrap_or_else(|| text.to_string())
}

fn layout(source: &str, block: &Range<usize>) -> Layout {
    let mut lines = lines_with_breaks(&source[block.clone()]).map(|(start, line)| {
        let start = block.start + start;
        (start, line)
    });
    let inner_start = lines
        .next()
        .map_or(block.start, |(start, line)| start + line.len());
    let all: Vec<(usize, &str)> = lines.collect();
    let closing = all.last().map_or(block.end, |(start, _)| *start);
    let mut layout = Layout {
        statements: Vec::new(),
        inner_start,
        top_level_end: closing,
        has_header: false,
    };
    let inner = &all[..all.len().saturating_sub(1)];
    // Statements span lines only in a block that is TOML; in a broken one a stray `[` would
    // make every later line part of one value, so each line stands alone there.
    let inner_text = inner
        .first()
        .map_or("", |(start, _)| &source[*start..closing]);
    let valid = ::toml::from_str::<::toml::Table>(inner_text).is_ok();
    let mut lexer = Lexer::default();
    let mut current: Option<Statement> = None;
    for &(start, line) in inner {
        if !valid {
            lexer = Lexer::default();
        }
        let text = strip_break(line);
        if let Some(statement) = current.as_mut() {
            lexer.line(text, 0, start, &mut statement.strings);
        } else {
            let trimmed = text.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if trimmed.starts_with('[') {
                layout.top_level_end = start;
                layout.has_header = true;
                break;
            }
            let (key, value_start) = key_and_value(text);
            let mut statement = Statement {
                key,
                range: start..start,
                strings: Vec::new(),
            };
            lexer.line(text, value_start, start, &mut statement.strings);
            current = Some(statement);
        }
        if lexer.done() || !valid {
            if let Some(mut statement) = current.take() {
                statement.range.end = start + line.len();
                layout.statements.push(statement);
            }
        }
    }
    layout
}

fn find<'a>(layout: &'a Layout, key: &str) -> Option<&'a Statement> {
    layout
        .statements
        .iter()
        .find(|statement| statement.key.len() == 1 && statement.key[0] == key)
}

pub(super) fn key_range(source: &str, block: &Range<usize>, key: &str) -> Option<Range<usize>> {
    find(&layout(source, block), key).map(|statement| statement.range.clone())
}

/// `source` with the key's statement replaced by the list, or the list added after the last
/// top-level statement (before the closing line when the block has no tables).
pub(super) fn set(
    source: &str,
    block: &Range<usize>,
    key: &str,
    ids: &[String],
    line_break: &str,
) -> String {
    let layout = layout(source, block);
    let at = match find(&layout, key) {
        Some(statement) => statement.range.clone(),
        None if !layout.has_header => layout.top_level_end..layout.top_level_end,
        None => {
            let after = layout
                .statements
                .last()
                .map_or(layout.inner_start, |statement| statement.range.end);
            after..after
        }
    };
    let items: Vec<String> = ids.iter().map(|id| basic_string(id)).collect();
    format!(
        "{}{} = [{}]{line_break}{}",
        &source[..at.start],
        toml_key(key),
        items.join(", "),
        &source[at.end..]
    )
}

/// The ids of the key's array, each with the offset of its line; ids are decoded by the `toml`
/// crate, and lines come from the scan when it found one literal per id.
pub(super) fn list_items(
    source: &str,
    block: &Range<usize>,
    key: &str,
) -> Option<Vec<(usize, String)>> {
    let layout = layout(source, block);
    let statement = find(&layout, key)?;
    let text = &source[statement.range.clone()];
    let ids: Vec<String> = ::toml::from_str::<::toml::Table>(text)
        .ok()
        .and_then(|table| table.get(key).cloned())
        .and_then(|value| value.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|value| value.as_str().map(str::to_string))
        .collect();
    let line_of = |offset: usize| crate::lines::line_start(source, offset);
    let offsets: Vec<usize> = if statement.strings.len() == ids.len() {
        statement.strings.iter().map(|&at| line_of(at)).collect()
    } else {
        vec![statement.range.start; ids.len()]
    };
    Some(offsets.into_iter().zip(ids).collect())
}

fn toml_key(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        basic_string(key)
    }
}

/// A TOML basic string: quotes, backslashes and control characters escaped.
fn basic_string(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if c.is_control() => quoted.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(source: &str, key: &str) -> Option<Vec<(usize, String)>> {
        list_items(source, &detect(source).expect("front matter"), key)
    }

    #[test]
    fn keys_after_a_table_header_are_not_top_level() {
        let source = "+++\n[params]\nclosest = [\"x\"]\n+++\n";
        assert_eq!(ids(source, "closest"), None);
        let ids_: Vec<String> = vec!["b".into()];
        let block = detect(source).expect("front matter");
        assert_eq!(
            set(source, &block, "closest", &ids_, "\n"),
            "+++\nclosest = [\"b\"]\n[params]\nclosest = [\"x\"]\n+++\n"
        );
    }

    #[test]
    fn multi_line_values_and_strings_are_one_statement() {
        let source = "+++\ntext = \"\"\"\n[not a header]\n\"\"\"\n\"closest\" = [ # mine\n  \"a\",\n  'b',\n]\ntags = ['x']\n+++\nbody\n";
        let block = detect(source).expect("front matter");
        let range = key_range(source, &block, "closest").expect("key");
        assert_eq!(
            &source[range],
            "\"closest\" = [ # mine\n  \"a\",\n  'b',\n]\n"
        );
        let found = ids(source, "closest").expect("key");
        let lines: Vec<&str> = found
            .iter()
            .map(|(at, _)| strip_break(&source[*at..crate::lines::line_end(source, *at)]))
            .collect();
        assert_eq!(lines, ["  \"a\",", "  'b',"]);
        assert_eq!(found[1].1, "b");
    }

    #[test]
    fn a_broken_block_is_read_line_by_line() {
        let source = "+++\ntitle = [ broken\n+++\n";
        let block = detect(source).expect("front matter");
        let ids_: Vec<String> = vec!["b".into()];
        let once = set(source, &block, "closest", &ids_, "\n");
        assert_eq!(once, "+++\ntitle = [ broken\nclosest = [\"b\"]\n+++\n");
        let block = detect(&once).expect("front matter");
        assert_eq!(set(&once, &block, "closest", &ids_, "\n"), once);
    }

    #[test]
    fn strings_and_keys_are_quoted_as_toml_needs() {
        assert_eq!(basic_string("a\"b\\c\u{1}"), "\"a\\\"b\\\\c\\u0001\"");
        assert_eq!(toml_key("closest"), "closest");
        assert_eq!(toml_key("see also"), "\"see also\"");
    }
}
