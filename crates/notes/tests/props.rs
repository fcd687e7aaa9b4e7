//! Property tests of parse and splice on markdown-like notes built from tricky fragments:
//! splice never panics, keeps every byte outside the managed section, is idempotent, and
//! leaves the text to embed as it was (so a run after any run changes nothing), for notes
//! ending inside any block that can run to the end of the file.

use closest_notes::{
    embed_text, parse, splice, splice_front_matter, try_splice, NoteError, SectionSpec,
};
use proptest::prelude::*;

/// One line or block of a note, chosen for what tends to confuse section finding.
fn fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-zA-Z0-9 .,*_`]{0,24}",
        3 => (1usize..=3, "[A-Za-z ]{0,12}").prop_map(|(level, text)| format!("{} {text}", "#".repeat(level))),
        3 => prop_oneof![
            Just("## Closest"),
            Just("## Closest ##  "),
            Just("Closest\n-------"),
            Just("# Closest"),
            Just("### Closest"),
            Just("> ## Closest"),
            Just("- ## Closest"),
        ]
        .prop_map(str::to_string),
        2 => Just(String::new()),
        2 => prop_oneof![Just("```"), Just("```rust"), Just("~~~"), Just("    indented code")]
            .prop_map(str::to_string),
        2 => prop_oneof![
            Just("* [a](a)"),
            Just("- [[b]]"),
            Just("see [text](https://x.org/y) and ![img](i.png)"),
            Just("[ref]: https://example.org"),
            Just("1. item"),
            Just("  continued"),
        ]
        .prop_map(str::to_string),
        2 => open_block().prop_map(str::to_string),
        1 => prop_oneof![
            Just("---"),
            Just("..."),
            Just("<!-- comment"),
            Just("-->"),
            Just("<pre>"),
            Just("  ## Indented"),
            Just("   Setext indented"),
            Just("======"),
            Just("| a | b |\n|---|---|"),
            Just("[^1]: footnote"),
            Just("> quoted"),
            Just("<div>"),
            Just("\t## Tabbed"),
            Just("  * [x](x)"),
            Just("Closest"),
            Just("-------"),
            Just("## Closest #"),
            Just("#"),
            Just("[link]: <>"),
            Just("    ## Code"),
        ]
        .prop_map(str::to_string),
    ]
}

/// The first line of a block that runs to the end of the file unless closed: fences, and
/// HTML blocks of CommonMark's kinds 1 to 5.
fn open_block() -> impl Strategy<Value = &'static str> {
    prop_oneof![
        Just("```"),
        Just("````md"),
        Just("~~~~~"),
        Just("   ~~~ text"),
        Just("<script>"),
        Just("<script src=\"x.js\">"),
        Just("<pre>"),
        Just("<PRE class=\"x\">"),
        Just("<textarea"),
        Just("<style>"),
        Just("<!--"),
        Just("<!-- open comment"),
        Just("<?php"),
        Just("<![CDATA["),
        Just("<!DOCTYPE html"),
    ]
}

/// A note: fragments joined by line breaks, mostly LF or CRLF for the whole note, sometimes
/// mixed, and sometimes without a final line break.
pub(crate) fn note() -> impl Strategy<Value = String> {
    let line_breaks = prop_oneof![
        3 => Just(vec!["\n"]),
        3 => Just(vec!["\r\n"]),
        1 => Just(vec!["\n", "\r\n"]),
        1 => Just(vec!["\n", "\r\n", "\r"]),
    ];
    (
        prop::collection::vec((fragment(), any::<prop::sample::Index>()), 0..14),
        line_breaks,
        any::<bool>(),
        prop::option::weighted(
            0.3,
            (open_block(), "[a-z <>]{0,8}", any::<prop::sample::Index>()),
        ),
    )
        .prop_map(|(mut fragments, breaks, final_break, tail)| {
            // Often the note ends inside an open block, the case the tail closer is for.
            if let Some((opener, content, pick)) = tail {
                fragments.push((opener.to_string(), pick));
                fragments.push((content, pick));
            }
            let mut text = String::new();
            let count = fragments.len();
            for (position, (fragment, pick)) in fragments.into_iter().enumerate() {
                let line_break = breaks[pick.index(breaks.len())];
                text.push_str(&fragment.replace('\n', line_break));
                if position + 1 < count || final_break {
                    text.push_str(line_break);
                }
            }
            text
        })
}

pub(crate) fn links() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec(
        prop_oneof![
            "[a-f0-9]{1,8}".prop_map(|id| format!("* [{id}]({id})")),
            "[a-z]{1,6}".prop_map(|id| format!("- [[{id}]]")),
        ],
        0..5,
    )
}

fn check(source: &str, links: &[String]) -> Result<(), TestCaseError> {
    let spec = SectionSpec::default();
    let parsed = match parse(source, &spec) {
        Ok(parsed) => parsed,
        Err(NoteError::TwoSections { .. }) => return Ok(()),
        Err(other) => return Err(TestCaseError::fail(format!("unexpected error {other}"))),
    };
    let _ = embed_text(&parsed);
    let once = splice(source, &parsed, &spec, links);
    if try_splice(source, &parsed, &spec, links).is_none() {
        // Only lone `\r` line breaks, which pulldown-cmark reads unlike CommonMark after a
        // fence, or lines a person typed in the section that new links would make read
        // otherwise (a lazy continuation becoming a definition), may leave no place for the
        // section; the note is then left as it is.
        let typed = parsed
            .section()
            .is_some_and(|section| section.has_typed_lines());
        prop_assert!(
            has_lone_cr(source) || typed,
            "no place for the section in {:?}",
            source
        );
        prop_assert_eq!(&once, source);
        return Ok(());
    }
    match parsed.section() {
        Some(section) => {
            let range = section.range();
            prop_assert_eq!(&once[..range.start], &source[..range.start], "bytes before");
            let heading = source[section.heading_range()].trim_end_matches(['\r', '\n']);
            prop_assert!(once[range.start..].starts_with(heading), "heading kept");
            prop_assert!(once.ends_with(&source[range.end..]), "bytes after");
        }
        None => prop_assert!(once.starts_with(source), "a new section is appended"),
    }
    let reparsed = parse(&once, &spec);
    prop_assert!(reparsed.is_ok(), "result parses: {:?}", reparsed.err());
    let reparsed = reparsed.expect("checked");
    prop_assert!(reparsed.has_section(), "result has a section: {:?}", once);
    // The section holds the links, after the guard comment when one was needed.
    let listed: Vec<&str> = reparsed
        .section_lines()
        .into_iter()
        .filter(|line| !line.starts_with("<!--"))
        .collect();
    let expected: Vec<&str> = links.iter().map(String::as_str).collect();
    prop_assert_eq!(listed, expected, "section lists the links: {:?}", once);
    let twice = splice(&once, &reparsed, &spec, links);
    prop_assert_eq!(&twice, &once, "idempotent");
    if !parsed.section_defines_references() {
        prop_assert_eq!(
            embed_text(&reparsed),
            embed_text(&parsed),
            "the text to embed changed: {:?} -> {:?}",
            source,
            once
        );
    }
    Ok(())
}

fn has_lone_cr(text: &str) -> bool {
    let bytes = text.as_bytes();
    (0..bytes.len()).any(|index| bytes[index] == b'\r' && bytes.get(index + 1) != Some(&b'\n'))
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES raises the budget for a longer hunt; the normal run stays fast.
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(2000),
        // Inputs that failed once are kept below as named regressions instead of in files.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn splice_keeps_the_outside_and_is_idempotent(source in note(), links in links()) {
        check(&source, &links)?;
    }
}

/// Front matter to put before a note, of every syntax: none, plain, with the list already,
/// with comments, tables and CRLF, or unclosed (then it is markdown).
pub(crate) fn front_matter() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => Just(String::new()),
        1 => Just("---\ntitle: A\n---\n".to_string()),
        1 => Just("---\nclosest:\n  - old\n- stray\ntags: [x]\n...\n".to_string()),
        1 => Just("---\r\nclosest: []\r\n---\r\n".to_string()),
        1 => Just("---\nunclosed: yes\n".to_string()),
        1 => Just("+++\ntitle = \"A\" # the title\ndate = 2024-01-01\n+++\n".to_string()),
        1 => Just("+++\r\n# comment\r\ntags = [\r\n  \"a\",\r\n]\r\n\r\n[params]\r\nclosest = 1\r\n+++\r\n".to_string()),
        1 => Just("+++\nclosest = [\"old\"] # mine\n[[menu]]\nname = \"x\"\n+++\n".to_string()),
        1 => Just("+++\nunclosed = true\n".to_string()),
        1 => Just("+++\ntitle = [ broken\n\"closest\" = 3\n+++\n".to_string()),
        1 => Just("{\n  \"title\": \"A\",\n  \"tags\": [\"x\"]\n}\n".to_string()),
        1 => Just("{\"closest\": [\"old\"], \"title\": \"{}\"}\r\n".to_string()),
        1 => Just("{}\n".to_string()),
    ]
}

/// Ids as front-matter lists must quote them: digits, spaces, quotes, backslashes.
pub(crate) fn ids() -> impl Strategy<Value = Vec<String>> {
    prop::collection::vec("[a-z0-9 :\"\\\\#]{1,8}", 0..4)
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(500),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn front_matter_list_keeps_the_body_and_is_idempotent(
        head in front_matter(),
        body in note(),
        ids in ids(),
    ) {
        let source = format!("{head}{body}");
        let spec = SectionSpec::default();
        let Ok(parsed) = parse(&source, &spec) else { return Ok(()) };
        let once = splice_front_matter(&source, "closest", &ids);
        let fm_len = parsed.front_matter().map_or(0, str::len);
        prop_assert!(once.ends_with(&source[fm_len..]), "body kept: {:?}", once);
        if let Some(format) = parsed.front_matter_format() {
            // The note's own block is edited, never a second one put in front.
            prop_assert_eq!(&once[..1], &source[..1]);
            prop_assert_eq!(
                parse(&once, &spec).ok().and_then(|again| again.front_matter_format()),
                Some(format)
            );
        }
        let again = parse(&once, &spec);
        prop_assert!(again.is_ok());
        let again = again.expect("checked");
        prop_assert!(again.front_matter().is_some());
        prop_assert_eq!(embed_text(&again), embed_text(&parsed), "text to embed: {:?}", once);
        prop_assert_eq!(splice_front_matter(&once, "closest", &ids), once);
    }
}

/// Cases that once broke, kept as regressions.
#[test]
fn known_tricky_notes() {
    let cases = [
        "```\n## Closest\n",
        "~~~\ntext",
        "<!-- open\n## x",
        "<pre>\n",
        "## Closest\n* [a](a)\n  ## Indented\n",
        "## Closest\r\n\r\n1. item\r\n   Setext indented\r\n======\r\n",
        "- a\n\n  continued\n",
        "## Closest\r# other\r",
        "## Closest\n[ref]: https://example.org\n    indented code\nClosest\n-------",
        // Repeated labels: the parser's map of definitions holds only the first.
        "## Closest\n[ref]: https://example.org\n[ref]: https://example.org\n    indented code\nClosest\n-------",
        "<textarea\ntext",
        "<?php\necho 1;",
        "<![CDATA[\nx",
        "<!DOCTYPE html",
        "# T\r\n\r\n<style>\r\np {}",
        "```\n```\n",
        "text\n\n````md\n```\n",
        // A definition in a list item of the old section, used by a link after it.
        "#\n## Closest\n *\nst\n\n* [x]: _t\n\n*\n## Cl-est\n +\nst\n\n* [x]: _t\n\n* [x",
    ];
    let links = vec!["* [a](a)".to_string(), "- [[b]]".to_string()];
    for case in cases {
        check(case, &links).unwrap_or_else(|error| panic!("{case:?}: {error}"));
    }
}
