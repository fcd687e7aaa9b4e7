//! The text a note is embedded from.
//!
//! Similarity should reflect what a note says, not its bookkeeping. Front matter is metadata,
//! and the managed section is the tool's own output: if its links fed back into the embedding,
//! notes would drift towards the notes they already list. Link targets (URLs, file names,
//! hashes) are noise to a sentence model, while link text is prose, so links keep their text
//! and lose their targets. Everything else, markdown markup included, is kept as written,
//! because the quality figures the project compares against were measured on raw notes.

use std::ops::Range;

use crate::parse::Parsed;

/// Bumped whenever [`embed_text`] returns different text for the same note, so that stores
/// keyed by a text-preparation fingerprint re-embed exactly when they must.
pub const EMBED_TEXT_VERSION: u32 = 2;

/// The note's text without front matter and managed section, each link, image and reference
/// link replaced by its text, reference definitions dropped, trimmed.
pub fn embed_text(parsed: &Parsed) -> String {
    let source = parsed.source();
    let mut cuts: Vec<Range<usize>> = parsed.link_syntax.clone();
    cuts.extend(parsed.front_matter.clone());
    cuts.extend(parsed.section().map(|section| section.range()));
    cuts.sort_by_key(|range| (range.start, range.end));

    let mut text = String::with_capacity(source.len());
    let mut kept_from = 0;
    let mut web_targets = parsed.web_targets.iter().peekable();
    for cut in cuts {
        if cut.start > kept_from {
            text.push_str(&source[kept_from..cut.start]);
        }
        // A kept web address goes where its link's closing syntax was cut.
        while let Some((_, url)) = web_targets.next_if(|(offset, _)| *offset <= cut.start) {
            if cut.start >= kept_from {
                text.push(' ');
                text.push_str(url);
            }
        }
        kept_from = kept_from.max(cut.end);
    }
    if kept_from < source.len() {
        text.push_str(&source[kept_from..]);
    }
    text.trim().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse, SectionSpec};

    fn prepared(source: &str) -> String {
        embed_text(&parse(source, &SectionSpec::default()).expect("parses"))
    }

    #[test]
    fn links_keep_their_text_and_web_address_and_lose_note_targets() {
        assert_eq!(
            prepared("See [the *docs*](https://x.org/a) and ![a cat](cat.png)."),
            "See the *docs* https://x.org/a and a cat."
        );
        assert_eq!(
            prepared("See [a note](other-note) and [[wiki]]."),
            "See a note and wiki."
        );
        assert_eq!(
            prepared("[text][ref]\n\n[ref]: https://r.org\n"),
            "text https://r.org"
        );
        assert_eq!(
            prepared("[[target|shown]] and [[plain]]"),
            "shown and plain"
        );
        assert_eq!(
            prepared("[![badge](b.svg)](https://ci)"),
            "badge https://ci"
        );
        assert_eq!(
            prepared("# T\n\n## Closest\n\n* [x](https://in.section)\n"),
            "# T"
        );
        assert_eq!(prepared("an [](empty) link"), "an  link");
        assert_eq!(prepared("<https://auto.link>"), "https://auto.link");
    }

    #[test]
    fn front_matter_and_section_are_left_out() {
        let source = "---\ntitle: x\n---\n# Title\n\nBody [a](b).\n\n## Closest\n\n* [c](c)\n\n## After\n\nMore.\n";
        assert_eq!(prepared(source), "# Title\n\nBody a.\n\n## After\n\nMore.");
    }

    #[test]
    fn markup_and_code_stay_as_written() {
        let source = "# T\n\n```rust\nlet x = [1](2);\n```\n\n> quote `code`\n";
        assert_eq!(prepared(source), source.trim());
    }

    #[test]
    fn empty_note_gives_empty_text() {
        assert_eq!(prepared(""), "");
        assert_eq!(prepared("## Closest\n\n* [a](a)\n"), "");
    }
}
