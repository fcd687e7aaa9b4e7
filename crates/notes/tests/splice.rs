//! Rewriting the managed section: what changes, what must not, and that twice is once.

use closest_notes::{parse, section_is_current, splice, SectionSpec};

fn links(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| format!("* [{id}]({id})")).collect()
}

/// Splices `ids` into `source`, checks that a second splice changes nothing, and returns the
/// result.
fn spliced(source: &str, ids: &[&str]) -> String {
    let spec = SectionSpec::default();
    let links = links(ids);
    let parsed = parse(source, &spec).expect("parses");
    let once = splice(source, &parsed, &spec, &links);
    let again = parse(&once, &spec).expect("result parses");
    assert_eq!(splice(&once, &again, &spec, &links), once, "not idempotent");
    assert!(section_is_current(&once, &again, &spec, &links));
    once
}

#[test]
fn section_is_appended_after_a_blank_line() {
    assert_eq!(
        spliced("# A\n\nBody.\n", &["b", "c"]),
        "# A\n\nBody.\n\n## Closest\n\n* [b](b)\n* [c](c)\n"
    );
    // A note ending in a blank line gets one more, so that removal knows where it ended.
    assert_eq!(
        spliced("# A\n\nBody.\n\n", &["b"]),
        "# A\n\nBody.\n\n\n## Closest\n\n* [b](b)\n"
    );
}

#[test]
fn missing_final_newline_stays_missing() {
    assert_eq!(spliced("# A", &["b"]), "# A\n\n## Closest\n\n* [b](b)");
    assert_eq!(
        spliced("# A\n\n## Closest\n\n* [x](x)", &["b"]),
        "# A\n\n## Closest\n\n* [b](b)"
    );
    assert_eq!(spliced("## Closest", &["b"]), "## Closest\n\n* [b](b)");
}

#[test]
fn empty_file_gets_a_section() {
    assert_eq!(spliced("", &["b"]), "## Closest\n\n* [b](b)\n");
    assert_eq!(spliced("", &[]), "## Closest\n");
}

#[test]
fn existing_section_at_the_end_is_replaced() {
    let source = "# A\n\n## Closest\n* [x](x)\n\n\n";
    assert_eq!(
        spliced(source, &["b", "c"]),
        "# A\n\n## Closest\n\n* [b](b)\n* [c](c)\n"
    );
}

#[test]
fn section_in_the_middle_keeps_what_follows_byte_for_byte() {
    let source = "# A\n\n## Closest\n* [x](x)\n### Sub\nold\n## After  \n\ntext\n\n## Closest2\n";
    let result = spliced(source, &["b"]);
    // The sub-heading and the line under it were typed in the section: they stay.
    assert_eq!(
        result,
        "# A\n\n## Closest\n* [b](b)\n### Sub\nold\n## After  \n\ntext\n\n## Closest2\n"
    );
    let untyped = "# A\n\n## Closest\n* [x](x)\n\n## After  \n\ntext\n\n## Closest2\n";
    assert_eq!(
        spliced(untyped, &["b"]),
        "# A\n\n## Closest\n\n* [b](b)\n\n## After  \n\ntext\n\n## Closest2\n"
    );
}

#[test]
fn heading_line_is_kept_as_written() {
    assert_eq!(
        spliced("## Closest ##   \n* [x](x)\n", &["b"]),
        "## Closest ##   \n\n* [b](b)\n"
    );
    assert_eq!(
        spliced("Closest\n-------\n* [x](x)\n", &["b"]),
        "Closest\n-------\n\n* [b](b)\n"
    );
    assert_eq!(
        spliced("  ## Closest\n* [x](x)\n", &["b"]),
        "  ## Closest\n\n* [b](b)\n"
    );
}

#[test]
fn crlf_note_gets_crlf_everywhere() {
    assert_eq!(
        spliced("# A\r\nBody\r\n", &["b", "c"]),
        "# A\r\nBody\r\n\r\n## Closest\r\n\r\n* [b](b)\r\n* [c](c)\r\n"
    );
    assert_eq!(
        spliced("# A\r\n\r\n## Closest\r\n* [x](x)\r\n## B\r\n", &["b"]),
        "# A\r\n\r\n## Closest\r\n\r\n* [b](b)\r\n\r\n## B\r\n"
    );
}

#[test]
fn heading_inside_fence_gets_a_real_section_after_it() {
    let source = "# A\n\n```\n## Closest\n* [x](x)\n```\n";
    assert_eq!(
        spliced(source, &["b"]),
        format!("{source}\n## Closest\n\n* [b](b)\n")
    );
}

#[test]
fn front_matter_lookalike_heading_is_left_alone() {
    let source = "---\nx: |\n  ## Closest\n---\n# A\n";
    assert_eq!(
        spliced(source, &["b"]),
        format!("{source}\n## Closest\n\n* [b](b)\n")
    );
}

#[test]
fn empty_list_leaves_the_heading() {
    assert_eq!(
        spliced("# A\n\n## Closest\n\n* [x](x)\n\n## B\n", &[]),
        "# A\n\n## Closest\n\n## B\n"
    );
}

#[test]
fn unclosed_fence_is_closed_before_an_appended_section() {
    assert_eq!(
        spliced("# A\n\n~~~~python\ncode\n", &["b"]),
        "# A\n\n~~~~python\ncode\n~~~~\n\n## Closest\n\n* [b](b)\n"
    );
    assert_eq!(
        spliced("<!-- open comment\n", &["b"]),
        "<!-- open comment\n-->\n\n## Closest\n\n* [b](b)\n"
    );
}

#[test]
fn indented_heading_after_the_section_is_not_swallowed_by_the_list() {
    let source = "## Closest\nold\n  ## After\n";
    let result = spliced(source, &["b"]);
    assert!(result.ends_with("\n  ## After\n"), "{result:?}");
    let parsed = parse(&result, &SectionSpec::default()).expect("parses");
    assert_eq!(
        parsed.section().map(|section| section.range().end),
        Some(result.len() - "  ## After\n".len())
    );
}

#[test]
fn unchanged_section_is_current() {
    let spec = SectionSpec::default();
    let source = "# A\n\n## Closest\n\n* [b](b)\n";
    let parsed = parse(source, &spec).expect("parses");
    assert!(section_is_current(source, &parsed, &spec, &links(&["b"])));
    assert!(!section_is_current(source, &parsed, &spec, &links(&["c"])));
}

/// A large note is parsed and spliced in linear time (20 MB takes about two seconds in a
/// debug build; 4 MB keeps the suite quick).
#[test]
fn large_note_is_spliced() {
    let paragraph = "Some words with a [link](https://example.org/x) and `code`.\n\n";
    let mut source = "# Big\n\n".to_string();
    while source.len() < 4 << 20 {
        source.push_str(paragraph);
    }
    let result = spliced(&source, &["b"]);
    assert_eq!(&result[source.len()..], "\n## Closest\n\n* [b](b)\n");
}
