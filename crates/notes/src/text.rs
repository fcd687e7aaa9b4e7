//! The text a note is embedded from.
//!
//! Similarity should reflect what a note says, not its bookkeeping. Front matter is metadata,
//! and the managed section is the tool's own output: if its links fed back into the embedding,
//! notes would drift towards the notes they already list. Link targets (URLs, file names,
//! hashes) are noise to a sentence model, while link text is prose, so links keep their text
//! and lose their targets. Everything else, markdown markup included, is kept as written,
//! because the quality figures the project compares against were measured on raw notes.
//!
//! The text must also be a fixed point of `update`: the same before and after the section is
//! written, or every run would embed the note anew and maybe rewrite it. Appending a section
//! to a note that ends inside an open block (a fence, `<pre>`, an unclosed `<!--`) first writes
//! the line that closes the block, and that line stays in the note. So the text of a note
//! without a section is computed from the note as the splice will write it: with that closing
//! line, decided by the very function that writes it. A note whose section is written anywhere
//! else (or into front matter) never gets one, and a phantom line in its text is harmless,
//! since it is the same on every run.

use std::ops::Range;

use crate::append::appended_closer;
use crate::lines::ends_with_break;
use crate::parse::Parsed;

/// Bumped whenever [`embed_text`] returns different text for the same note, so that stores
/// keyed by a text-preparation fingerprint re-embed exactly when they must.
///
/// Version 4: lines a person typed in the managed section are part of the text.
pub const EMBED_TEXT_VERSION: u32 = 4;

/// The note's text without front matter and managed section, each link, image and reference
/// link replaced by its text, reference definitions dropped, trimmed; for a note without a
/// section that ends in an open block, followed by the line that closes it, as the section
/// splice would write it.
pub fn embed_text(parsed: &Parsed) -> String {
    let source = parsed.source();
    let mut cuts: Vec<Range<usize>> = parsed.link_syntax.clone();
    cuts.extend(parsed.front_matter.clone());
    if let Some(section) = parsed.section() {
        cuts.extend(section.untyped(source));
    }
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
    if let Some(closer) = appended_closer(parsed) {
        // The splice's bytes exactly: a line break first when the note lacks a final one.
        if !ends_with_break(source) {
            text.push_str(parsed.line_ending().as_str());
        }
        text.push_str(&closer);
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
        assert_eq!(prepared("# T\n\n## Closest\n\n* [x](x)\n"), "# T");
        // A web link in the section is a line a person typed: theirs, and part of the text.
        assert_eq!(
            prepared("# T\n\n## Closest\n\n* [x](x)\n* [x](https://in.section)\n"),
            "# T\n\n* x https://in.section"
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
    fn a_closing_line_is_part_of_the_text_before_and_after_the_section() {
        let spec = SectionSpec::default();
        let links = ["* [b](b)".to_string()];
        for source in [
            "# A\n\n~~~~python\ncode",
            "<!-- open comment\n",
            "text\r\n\r\n<script>\r\nlet x;\r\n",
            "```\n```\n",
        ] {
            let before = prepared(source);
            let parsed = parse(source, &spec).expect("parses");
            let once = crate::splice(source, &parsed, &spec, &links);
            assert_ne!(once, source);
            assert_eq!(prepared(&once), before, "{once:?}");
        }
        assert_eq!(
            prepared("# A\n\n~~~~python\ncode"),
            "# A\n\n~~~~python\ncode\n~~~~"
        );
        assert_eq!(prepared("```\n```\n"), "```\n```");
    }

    #[test]
    fn empty_note_gives_empty_text() {
        assert_eq!(prepared(""), "");
        assert_eq!(prepared("## Closest\n\n* [a](a)\n"), "");
    }
}
