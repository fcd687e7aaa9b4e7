//! YAML front matter between `---` lines: the format Jekyll, Obsidian and most tools write.
//!
//! The list is one key whose value is a block sequence (`key:` then `  - id` lines), or `[]`
//! when empty. Reading it back accepts what people write by hand too: flow sequences
//! (`key: [a, "b"]`), quoted scalars and unindented `- ` items.

use std::ops::Range;

use crate::lines::{self, lines_with_breaks, strip_break};

/// The block at the start of `source`, `---` lines and final line break included: a first
/// line `---`, up to the next line that is `---` or `...`. Without that closing line there is
/// no front matter, only a thematic break.
pub(super) fn detect(source: &str) -> Option<Range<usize>> {
    let mut lines = lines_with_breaks(source);
    let (_, first) = lines.next()?;
    if strip_break(first).trim_end() != "---" || !lines::ends_with_break(first) {
        return None;
    }
    for (start, line) in lines {
        let text = strip_break(line).trim_end();
        if text == "---" || text == "..." {
            return Some(0..start + line.len());
        }
    }
    None
}

/// A new block holding only the list, put in front of `source`.
pub(super) fn new_block(source: &str, key: &str, ids: &[String], line_break: &str) -> String {
    let block = render_list(key, ids, line_break);
    format!("---{line_break}{block}---{line_break}{source}")
}

/// `source` with the key's lines replaced by the list, or the list added before the closing
/// line.
pub(super) fn set(
    source: &str,
    block: &Range<usize>,
    key: &str,
    ids: &[String],
    line_break: &str,
) -> String {
    let list = render_list(key, ids, line_break);
    let at = key_range(source, block, key).unwrap_or_else(|| {
        let closing = closing_line_start(source, block);
        closing..closing
    });
    format!("{}{list}{}", &source[..at.start], &source[at.end..])
}

fn closing_line_start(source: &str, block: &Range<usize>) -> usize {
    lines_with_breaks(&source[block.clone()])
        .last()
        .map_or(block.start, |(start, _)| block.start + start)
}

/// The lines between the delimiters, as `(offset in source, line)`.
fn inner_lines<'a>(
    source: &'a str,
    block: &Range<usize>,
) -> impl Iterator<Item = (usize, &'a str)> + 'a {
    let closing = closing_line_start(source, block);
    let start = block.start;
    lines_with_breaks(&source[start..closing])
        .skip(1)
        .map(move |(offset, line)| (start + offset, line))
}

/// The key's line and the lines its value runs on over: indented lines and unindented `- `
/// items.
pub(super) fn key_range(source: &str, block: &Range<usize>, key: &str) -> Option<Range<usize>> {
    let mut inner = inner_lines(source, block).skip_while(|(_, line)| !is_key_line(line, key));
    let (start, line) = inner.next()?;
    let mut end = start + line.len();
    for (line_start, line) in inner {
        let continues = line.starts_with([' ', '\t', '-']) && !line.trim().is_empty();
        if !continues {
            break;
        }
        end = line_start + line.len();
    }
    Some(start..end)
}

fn is_key_line(line: &str, key: &str) -> bool {
    let quoted = [format!("\"{key}\""), format!("'{key}'")];
    std::iter::once(key)
        .chain(quoted.iter().map(String::as_str))
        .any(|written| {
            line.strip_prefix(written)
                .is_some_and(|rest| rest.trim_start_matches([' ', '\t']).starts_with(':'))
        })
}

/// The ids under `key`, each with the offset of its line.
pub(super) fn list_items(
    source: &str,
    block: &Range<usize>,
    key: &str,
) -> Option<Vec<(usize, String)>> {
    let range = key_range(source, block, key)?;
    let mut items = Vec::new();
    for (offset, line) in lines_with_breaks(&source[range.clone()]) {
        let line_start = range.start + offset;
        let text = strip_break(line);
        let value = if offset == 0 {
            text.split_once(':').map_or("", |(_, value)| value)
        } else {
            text.trim_start().strip_prefix('-').unwrap_or("")
        };
        let value = value.trim();
        if let Some(flow) = value.strip_prefix('[') {
            let flow = flow.rfind(']').map_or(flow, |end| &flow[..end]);
            for item in split_flow(flow) {
                items.push((line_start, scalar(item)));
            }
        } else if offset > 0 && !value.is_empty() {
            items.push((line_start, scalar(value)));
        }
    }
    Some(items)
}

/// Splits a flow sequence's inside on commas outside quotes.
fn split_flow(flow: &str) -> Vec<&str> {
    let mut items = Vec::new();
    let mut quote = None;
    let mut start = 0;
    let mut escaped = false;
    for (index, c) in flow.char_indices() {
        match (quote, c) {
            (Some('"'), '\\') if !escaped => {
                escaped = true;
                continue;
            }
            (Some(open), c) if c == open && !escaped => quote = None,
            (None, '"' | '\'') => quote = Some(c),
            (None, ',') => {
                items.push(&flow[start..index]);
                start = index + 1;
            }
            _ => {}
        }
        escaped = false;
    }
    items.push(&flow[start..]);
    items.retain(|item| !item.trim().is_empty());
    items
}

/// A YAML scalar's value: quotes and escapes undone, a plain scalar's comment cut off.
fn scalar(text: &str) -> String {
    let text = text.trim();
    if let Some(inner) = text.strip_prefix('"').and_then(|t| t.strip_suffix('"')) {
        let mut value = String::with_capacity(inner.len());
        let mut chars = inner.chars();
        while let Some(c) = chars.next() {
            match (c, c == '\\') {
                (_, true) => match chars.next() {
                    Some('n') => value.push('\n'),
                    Some('t') => value.push('\t'),
                    Some(other) => value.push(other),
                    None => {}
                },
                (c, false) => value.push(c),
            }
        }
        return value;
    }
    if let Some(inner) = text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')) {
        return inner.replace("''", "'");
    }
    let plain = text.split(" #").next().unwrap_or(text);
    plain.trim().to_string()
}

fn render_list(key: &str, ids: &[String], line_break: &str) -> String {
    if ids.is_empty() {
        return format!("{key}: []{line_break}");
    }
    let mut block = format!("{key}:{line_break}");
    for id in ids {
        block.push_str("  - ");
        block.push_str(&yaml_scalar(id));
        block.push_str(line_break);
    }
    block
}

/// An id as a YAML scalar: plain when it cannot be read as anything but a string (a hex id
/// starting with a digit could be a number, `no` a boolean), double-quoted otherwise.
fn yaml_scalar(id: &str) -> String {
    let reserved = [
        "true", "false", "yes", "no", "on", "off", "null", "y", "n", "~",
    ];
    let plain = id.starts_with(|c: char| c.is_ascii_alphabetic())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
        && !reserved.iter().any(|word| id.eq_ignore_ascii_case(word));
    if plain {
        return id.to_string();
    }
    let mut quoted = String::from("\"");
    for c in id.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            c if c.is_control() => quoted.push(' '),
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set_ids(source: &str, ids: &[&str]) -> String {
        let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        let block = detect(source).expect("front matter");
        set(source, &block, "closest", &ids, "\n")
    }

    #[test]
    fn front_matter_needs_a_closing_line() {
        assert_eq!(detect("---\na: 1\n---\nbody"), Some(0..13));
        assert_eq!(detect("---\na: 1\n...\r\nbody"), Some(0..14));
        assert_eq!(detect("---\na: 1\n"), None);
        assert_eq!(detect("--- \n---"), Some(0..8));
        assert_eq!(detect("text\n---\n"), None);
    }

    #[test]
    fn list_replaces_only_its_key() {
        let source = "---\ntitle: A\nclosest:\n  - old\ntags: [x]\n---\n# A\n";
        let once = set_ids(source, &["b", "0c"]);
        assert_eq!(
            once,
            "---\ntitle: A\nclosest:\n  - b\n  - \"0c\"\ntags: [x]\n---\n# A\n"
        );
        assert_eq!(set_ids(&once, &["b", "0c"]), once);
        let block = detect(&once).expect("front matter");
        let items = list_items(&once, &block, "closest").expect("key");
        assert_eq!(items, [(22, "b".to_string()), (28, "0c".to_string())]);
    }

    #[test]
    fn hand_written_lists_are_read() {
        let source = "---\n\"closest\": [a, \"b, c\", 'd''s'] # mine\n---\n";
        let block = detect(source).expect("front matter");
        let items: Vec<String> = list_items(source, &block, "closest")
            .expect("key")
            .into_iter()
            .map(|(_, id)| id)
            .collect();
        assert_eq!(items, ["a", "b, c", "d's"]);
        assert_eq!(list_items(source, &block, "other"), None);
    }

    #[test]
    fn awkward_ids_are_quoted() {
        assert_eq!(yaml_scalar("note-1"), "note-1");
        assert_eq!(yaml_scalar("no"), "\"no\"");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
        assert_eq!(yaml_scalar("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
