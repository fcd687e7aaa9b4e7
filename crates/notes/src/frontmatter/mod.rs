//! Front matter: recognising it, and keeping the neighbour list in it for users who want one.
//!
//! Front matter is cut off before the markdown parser runs, because a `## Closest` line in it
//! is metadata, not a heading, and because it is not part of what a note says. Static site
//! generators read three kinds, by Hugo's rules: YAML between `---` lines, TOML between `+++`
//! lines, and a JSON object that opens the file. Some users keep the neighbour list there
//! rather than in a visible section; it goes into the note's own block, in that block's
//! syntax, and only the list's own lines change. Every syntax is edited on its text rather than
//! through a serialiser, since re-serialising the block would reorder keys and drop comments,
//! which the byte-for-byte rule forbids. A YAML block is created only for a note with none.

mod json;
mod title;
mod toml;
mod yaml;

use std::ops::Range;

use serde::{Deserialize, Serialize};

pub(crate) use title::title;

use crate::lines::LineEnding;

/// The syntax of a note's front matter block.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum FrontMatterFormat {
    /// Between `---` lines (the closing one may be `...`).
    Yaml,
    /// Between `+++` lines, as Hugo and Zola write it.
    Toml,
    /// A JSON object that opens the file, its closing brace ending a line.
    Json,
}

/// A front matter block found at the start of a note.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Block {
    pub(crate) format: FrontMatterFormat,
    /// The whole block, delimiters and the final line break included.
    pub(crate) range: Range<usize>,
}

/// The front matter block at the start of `source`, if there is one. Without its closing
/// delimiter (or, for JSON, as anything but a valid JSON object) there is no front matter,
/// only markdown.
pub(crate) fn detect(source: &str) -> Option<Block> {
    let (format, range) = if let Some(range) = yaml::detect(source) {
        (FrontMatterFormat::Yaml, range)
    } else if let Some(range) = toml::detect(source) {
        (FrontMatterFormat::Toml, range)
    } else {
        (FrontMatterFormat::Json, json::detect(source)?)
    };
    Some(Block { format, range })
}

/// Sets the front matter list `key` of the note to `ids`, inside the note's own block and in
/// its syntax, creating the key when missing and a YAML block only when the note has no front
/// matter; every other byte stays as it was. Idempotent, like the section's splice.
pub fn splice_front_matter(source: &str, key: &str, ids: &[String]) -> String {
    set_list(source, key, ids)
}

pub(crate) fn set_list(source: &str, key: &str, ids: &[String]) -> String {
    let line_break = LineEnding::detect(source).as_str();
    let Some(block) = detect(source) else {
        return yaml::new_block(source, key, ids, line_break);
    };
    // Comment lines a person typed among the items stay, after the list.
    let typed = key_range(source, &block, key)
        .map(|range| typed_lines(source, &block, &range))
        .unwrap_or_default();
    let mut text = match block.format {
        FrontMatterFormat::Yaml => yaml::set(source, &block.range, key, ids, line_break),
        FrontMatterFormat::Toml => toml::set(source, &block.range, key, ids, line_break),
        FrontMatterFormat::Json => json::set(source, &block.range, key, ids, line_break),
    };
    if !typed.is_empty() {
        if let Some(range) = detect(&text).and_then(|block| key_range(&text, &block, key)) {
            text.insert_str(range.end, &typed);
        }
    }
    text
}

/// The lines after the key's first line, in its value's range, that are comments (YAML and
/// TOML `#` lines): a person's, not the list's. Whole lines, in order.
pub(crate) fn typed_lines(source: &str, block: &Block, key_range: &Range<usize>) -> String {
    if block.format == FrontMatterFormat::Json {
        return String::new();
    }
    crate::lines::lines_with_breaks(&source[key_range.clone()])
        .skip(1)
        .filter(|(_, line)| line.trim_start().starts_with('#'))
        .map(|(_, line)| line)
        .collect()
}

/// Whether a YAML block holds nothing but the key, as a block made for the list does.
pub(crate) fn only_key(source: &str, block: &Block, key_range: &Range<usize>) -> bool {
    if block.format != FrontMatterFormat::Yaml {
        return false;
    }
    let inner_start = crate::lines::line_end(source, block.range.start);
    let closing = crate::lines::line_start(source, block.range.end.saturating_sub(1));
    key_range.start == inner_start && key_range.end == closing
}

/// The bytes of `key` in the block: its lines for YAML and TOML; for JSON the member with the
/// comma that separates it from its neighbour, so that removing them leaves valid JSON.
pub(crate) fn key_range(source: &str, block: &Block, key: &str) -> Option<Range<usize>> {
    match block.format {
        FrontMatterFormat::Yaml => yaml::key_range(source, &block.range, key),
        FrontMatterFormat::Toml => toml::key_range(source, &block.range, key),
        FrontMatterFormat::Json => json::key_range(source, &block.range, key),
    }
}

/// The ids listed under `key`, each with the offset of the line it is written on; `None`
/// when the block has no such key.
pub(crate) fn list_items(source: &str, block: &Block, key: &str) -> Option<Vec<(usize, String)>> {
    match block.format {
        FrontMatterFormat::Yaml => yaml::list_items(source, &block.range, key),
        FrontMatterFormat::Toml => toml::list_items(source, &block.range, key),
        FrontMatterFormat::Json => json::list_items(source, &block.range, key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn set(source: &str, ids: &[&str]) -> String {
        let ids: Vec<String> = ids.iter().map(|id| id.to_string()).collect();
        splice_front_matter(source, "closest", &ids)
    }

    #[test]
    fn each_format_is_recognised_by_its_delimiters() {
        let format = |source: &str| detect(source).map(|block| (block.format, block.range));
        assert_eq!(
            format("---\na: 1\n---\nbody"),
            Some((FrontMatterFormat::Yaml, 0..13))
        );
        assert_eq!(
            format("+++\na = 1\n+++\r\nbody"),
            Some((FrontMatterFormat::Toml, 0..15))
        );
        assert_eq!(
            format("{\n  \"a\": 1\n}\nbody"),
            Some((FrontMatterFormat::Json, 0..13))
        );
        assert_eq!(format("+++\na = 1\n"), None);
        assert_eq!(format("{{date}}\n# Daily\n"), None);
        assert_eq!(format("{\"a\": 1} trailing\n"), None);
    }

    #[test]
    fn a_note_without_front_matter_gets_a_yaml_block() {
        let created = set("# A\n", &["b"]);
        assert_eq!(created, "---\nclosest:\n  - b\n---\n# A\n");
        assert_eq!(set(&created, &["b"]), created);
        assert_eq!(set("", &[]), "---\nclosest: []\n---\n");
    }

    #[test]
    fn toml_and_json_blocks_are_written_in_their_own_syntax() {
        let toml = "+++\r\ntitle = \"A\" # the title\r\n\r\n[params]\r\nx = 1\r\n+++\r\nbody\r\n";
        let once = set(toml, &["b", "say \"hi\""]);
        assert_eq!(
            once,
            "+++\r\ntitle = \"A\" # the title\r\nclosest = [\"b\", \"say \\\"hi\\\"\"]\r\n\r\n\
             [params]\r\nx = 1\r\n+++\r\nbody\r\n"
        );
        assert_eq!(set(&once, &["b", "say \"hi\""]), once);
        let json = "{\n  \"title\": \"A\"\n}\nbody\n";
        let once = set(json, &["b"]);
        assert_eq!(
            once,
            "{\n  \"title\": \"A\",\n  \"closest\": [\"b\"]\n}\nbody\n"
        );
        assert_eq!(set(&once, &["c"]), once.replace("\"b\"", "\"c\""));
    }
}
