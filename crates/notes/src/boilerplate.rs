//! What a folder repeats in every note is not what any one note is about.
//!
//! Notes made from a template share headings and lines ("## Summary", "## Keywords", a table
//! header, "Status: draft"): embedded with the rest, they pull every note towards every other
//! and spend the model's first tokens on nothing. A line is boilerplate when it recurs in a
//! large share of the folder's notes ([`BOILERPLATE_SHARE`], at least [`BOILERPLATE_MIN_NOTES`]
//! of them); such lines are left out of the text to embed, with long hex or base64 ids (content
//! hashes, md5 file names) and repeats of the note's title line.
//!
//! The set is learned from the whole folder once and kept (the engine stores it): a note added
//! later is prepared with the set it was learned with, so adding a few notes never shifts the
//! set and never re-embeds the folder. When the result would be empty (a note that is all
//! boilerplate, or only ids), the text before this step is kept instead: a note is never
//! embedded from nothing it did not already have.

use std::collections::{BTreeSet, HashMap};

/// A line is boilerplate when at least this share of the folder's notes has it (and at least
/// [`BOILERPLATE_MIN_NOTES`]). Measured on the shared sets (BENCHMARKS.md, issue 14).
pub const BOILERPLATE_SHARE: f64 = 0.2;

/// Fewer notes than this never make a line boilerplate: in a small folder a shared line is as
/// likely a shared topic as a template.
pub const BOILERPLATE_MIN_NOTES: usize = 5;

/// Runs of hex digits at least this long are ids (an md5 is 32), not words.
const HEX_ID_LEN: usize = 16;

/// Runs of base64 characters at least this long, mixing digits with both cases, are ids.
const BASE64_ID_LEN: usize = 20;

/// The lines a folder repeats, as learned from its notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Boilerplate {
    lines: BTreeSet<String>,
}

impl Boilerplate {
    /// Learns the set from every note's text (the text [`crate::embed_text`] gives).
    pub fn learn<'a>(texts: impl IntoIterator<Item = &'a str>) -> Boilerplate {
        let mut notes = 0usize;
        let mut counts: HashMap<String, usize> = HashMap::new();
        for text in texts {
            notes += 1;
            let keys: BTreeSet<String> = text
                .lines()
                .filter_map(|line| line_key(&without_ids(line)))
                .collect();
            for key in keys {
                *counts.entry(key).or_default() += 1;
            }
        }
        let floor = ((notes as f64 * BOILERPLATE_SHARE).ceil() as usize).max(BOILERPLATE_MIN_NOTES);
        let lines = counts
            .into_iter()
            .filter(|(_, count)| *count >= floor)
            .map(|(key, _)| key)
            .collect();
        Boilerplate { lines }
    }

    /// A set read back from storage.
    pub fn from_lines(lines: impl IntoIterator<Item = String>) -> Boilerplate {
        Boilerplate {
            lines: lines.into_iter().collect(),
        }
    }

    /// The lines, in order (for storage and `explain`).
    pub fn lines(&self) -> impl Iterator<Item = &str> {
        self.lines.iter().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }

    /// The text to embed: `text` without boilerplate lines, ids and repeats of its first
    /// line; empty when no letter or digit would be left (the note then has nothing of its
    /// own, see `too_little`).
    pub fn strip(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut first: Option<&str> = None;
        let mut after_blank = false;
        for line in text.lines() {
            let trimmed = line.trim();
            let kept = without_ids(line);
            if trimmed.is_empty() {
                // A line left out leaves one blank line where there were two.
                if after_blank {
                    continue;
                }
            } else {
                if first.is_some_and(|first| first == trimmed) {
                    continue;
                }
                if line_key(&kept).is_some_and(|key| self.lines.contains(&key)) {
                    continue;
                }
            }
            if first.is_none() && !kept.trim().is_empty() {
                first = Some(trimmed);
            }
            after_blank = kept.trim().is_empty();
            out.push_str(&kept);
            out.push('\n');
        }
        let stripped = out.trim();
        if stripped.chars().any(char::is_alphanumeric) {
            stripped.to_owned()
        } else {
            String::new()
        }
    }
}

/// A line as compared across notes: trimmed, inner runs of white space as one space; `None`
/// for lines without a letter (blank lines, fences, rules), which carry no topic either way.
fn line_key(line: &str) -> Option<String> {
    let trimmed = line.trim();
    if !trimmed.chars().any(char::is_alphabetic) {
        return None;
    }
    Some(trimmed.split_whitespace().collect::<Vec<_>>().join(" "))
}

/// The line with long hex and base64 ids taken out (the characters around them stay).
fn without_ids(line: &str) -> std::borrow::Cow<'_, str> {
    let mut cuts = Vec::new();
    let bytes = line.as_bytes();
    let mut start = 0;
    while start < bytes.len() {
        if !is_base64(bytes[start]) {
            start += 1;
            continue;
        }
        let mut end = start;
        while end < bytes.len() && is_base64(bytes[end]) {
            end += 1;
        }
        if is_id(&line[start..end]) {
            cuts.push(start..end);
        }
        start = end;
    }
    if cuts.is_empty() {
        return std::borrow::Cow::Borrowed(line);
    }
    let mut out = String::with_capacity(line.len());
    let mut from = 0;
    for cut in cuts {
        out.push_str(&line[from..cut.start]);
        from = cut.end;
    }
    out.push_str(&line[from..]);
    std::borrow::Cow::Owned(out)
}

fn is_base64(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || byte == b'+' || byte == b'/' || byte == b'='
}

/// A long run of hex digits with at least one digit, or a long base64 run with digits, lower
/// and upper case letters: an id. Words, even long ones, have no digits.
fn is_id(run: &str) -> bool {
    let has_digit = run.bytes().any(|b| b.is_ascii_digit());
    if !has_digit {
        return false;
    }
    let hex = run.trim_end_matches('=');
    if hex.len() >= HEX_ID_LEN && hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return true;
    }
    run.len() >= BASE64_ID_LEN
        && run.bytes().any(|b| b.is_ascii_lowercase())
        && run.bytes().any(|b| b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seed_note(topic: &str) -> String {
        format!(
            "# 271c9ba1f197505aba5f225c62e3c09f {topic}\n\n## Summary\n\nAll about {topic}.\n\n\
             ## Keywords\n\n{topic}, notes\n\n| field | value |\n| --- | --- |\n| source | til |\n"
        )
    }

    #[test]
    fn lines_most_notes_share_are_left_out_and_the_rest_kept() {
        let notes: Vec<String> = ["git", "sql", "rust", "tmux", "vim", "css"]
            .iter()
            .map(|topic| seed_note(topic))
            .collect();
        let set = Boilerplate::learn(notes.iter().map(String::as_str));
        let lines: Vec<&str> = set.lines().collect();
        assert_eq!(
            lines,
            [
                "## Keywords",
                "## Summary",
                "| field | value |",
                "| source | til |"
            ]
        );
        assert_eq!(
            set.strip(&notes[0]),
            "#  git\n\nAll about git.\n\ngit, notes\n\n| --- | --- |"
        );
    }

    #[test]
    fn a_small_folder_has_no_boilerplate() {
        let notes = ["# A\n\n## Summary\n\nx", "# B\n\n## Summary\n\ny"];
        assert!(Boilerplate::learn(notes).is_empty());
    }

    #[test]
    fn a_note_of_nothing_but_boilerplate_has_no_text_of_its_own() {
        let set = Boilerplate::from_lines(["## Summary".to_string()]);
        assert_eq!(set.strip("## Summary\n"), "");
        assert_eq!(set.strip(""), "");
        assert_eq!(set.strip("271c9ba1f197505aba5f225c62e3c09f"), "");
    }

    #[test]
    fn ids_go_words_and_numbers_stay() {
        let set = Boilerplate::default();
        assert_eq!(
            set.strip("see 271c9ba1f197505aba5f225c62e3c09f and aGVsbG8gd29ybGQgaGVsbG8K1 now"),
            "see  and  now"
        );
        assert_eq!(
            set.strip("internationalization 20230521 deadbeef cafe"),
            "internationalization 20230521 deadbeef cafe"
        );
    }

    #[test]
    fn the_title_line_is_kept_once() {
        let set = Boilerplate::default();
        assert_eq!(
            set.strip("# git-add\n\n# git-add\n\nAdds files."),
            "# git-add\n\nAdds files."
        );
    }
}
