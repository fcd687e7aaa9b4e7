//! Front matter: recognising it, and keeping the neighbour list in it for users who want one.
//!
//! Front matter is cut off before the markdown parser runs, because a `## Closest` line in it
//! is YAML, not a heading, and because it is not part of what a note says. Some users keep
//! metadata rather than visible sections (static site generators, Obsidian properties); for
//! them the neighbour ids go in a YAML list under one key, and only that key's lines change.
//! The YAML is edited on lines rather than through a YAML library, since re-serialising the
//! whole block would reorder keys and drop comments, which the byte-for-byte rule forbids.

use std::ops::Range;

use crate::lines::{self, lines_with_breaks, strip_break, LineEnding};

/// The front matter block at the start of `source`, `---` lines and final line break included:
/// a first line `---`, up to the next line that is `---` or `...`. Without that closing line
/// there is no front matter, only a thematic break.
pub(crate) fn detect(source: &str) -> Option<Range<usize>> {
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

/// Sets the front matter list `key` of the note to `ids`, creating the front matter or the key
/// when missing; every other byte stays as it was. Idempotent, like [`crate::splice`].
pub fn splice_front_matter(source: &str, key: &str, ids: &[String]) -> String {
    let line_break = LineEnding::detect(source).as_str();
    let block = render_list(key, ids, line_break);
    let Some(range) = detect(source) else {
        return format!("---{line_break}{block}---{line_break}{source}");
    };
    let front_matter = &source[range];
    let fm_lines: Vec<(usize, &str)> = lines_with_breaks(front_matter).collect();
    // The first line is the opening `---` and the last the closing one.
    let closing_start = fm_lines.last().map_or(0, |(start, _)| *start);
    let inner = &fm_lines[1..fm_lines.len().saturating_sub(1).max(1)];
    let Some(key_index) = inner.iter().position(|(_, line)| is_key_line(line, key)) else {
        return format!(
            "{}{block}{}",
            &source[..closing_start],
            &source[closing_start..]
        );
    };
    let start = inner[key_index].0;
    let mut end = start + inner[key_index].1.len();
    // The key's value runs on over indented lines and unindented `- ` items.
    for (line_start, line) in &inner[key_index + 1..] {
        let continues = line.starts_with([' ', '\t', '-']) && !line.trim().is_empty();
        if !continues {
            break;
        }
        end = line_start + line.len();
    }
    format!("{}{block}{}", &source[..start], &source[end..])
}

fn is_key_line(line: &str, key: &str) -> bool {
    line.strip_prefix(key)
        .is_some_and(|rest| rest.trim_start_matches([' ', '\t']).starts_with(':'))
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

    fn set(source: &str, ids: &[&str]) -> String {
        let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        splice_front_matter(source, "closest", &ids)
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
        let once = set(source, &["b", "0c"]);
        assert_eq!(
            once,
            "---\ntitle: A\nclosest:\n  - b\n  - \"0c\"\ntags: [x]\n---\n# A\n"
        );
        assert_eq!(set(&once, &["b", "0c"]), once);
    }

    #[test]
    fn list_is_added_to_existing_or_new_front_matter() {
        assert_eq!(
            set("---\r\ntitle: A\r\n---\r\nbody\r\n", &["b"]),
            "---\r\ntitle: A\r\nclosest:\r\n  - b\r\n---\r\nbody\r\n"
        );
        let created = set("# A\n", &["b"]);
        assert_eq!(created, "---\nclosest:\n  - b\n---\n# A\n");
        assert_eq!(set(&created, &["b"]), created);
        assert_eq!(set("", &[]), "---\nclosest: []\n---\n");
    }

    #[test]
    fn awkward_ids_are_quoted() {
        assert_eq!(yaml_scalar("note-1"), "note-1");
        assert_eq!(yaml_scalar("no"), "\"no\"");
        assert_eq!(yaml_scalar("a: b"), "\"a: b\"");
        assert_eq!(yaml_scalar("say \"hi\""), "\"say \\\"hi\\\"\"");
    }
}
