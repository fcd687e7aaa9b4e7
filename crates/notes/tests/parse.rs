//! Recognising the managed section, front matter, titles, links and line endings.

use closest_notes::{parse, LineEnding, NoteError, Parsed, SectionSpec};

fn parsed(source: &str) -> Parsed {
    parse(source, &SectionSpec::default()).expect("parses")
}

/// The managed section's text, heading included.
fn section_text(source: &str) -> Option<&str> {
    let parsed = parsed(source);
    let range = parsed.section()?.range();
    Some(&source[range])
}

#[test]
fn atx_heading_starts_the_section_up_to_eof() {
    let source = "# Note\n\nBody.\n\n## Closest\n\n* [a](a)\n";
    assert_eq!(section_text(source), Some("## Closest\n\n* [a](a)\n"));
    assert_eq!(parsed(source).section_lines(), ["* [a](a)"]);
}

#[test]
fn heading_with_closing_hashes_and_trailing_spaces_is_the_section() {
    let source = "# Note\n\n## Closest ##   \n* [a](a)\n";
    let parsed = parsed(source);
    let section = parsed.section().expect("section");
    assert_eq!(&source[section.heading_range()], "## Closest ##   \n");
    assert_eq!(parsed.section_lines(), ["* [a](a)"]);
}

#[test]
fn setext_heading_is_the_section() {
    let source = "Title\n=====\n\nClosest\n-------\n\n* [a](a)\n";
    let parsed = parsed(source);
    let section = parsed.section().expect("section");
    assert_eq!(&source[section.heading_range()], "Closest\n-------\n");
    assert_eq!(parsed.title(), Some("Title"));
}

#[test]
fn section_in_the_middle_ends_at_the_next_heading_of_same_or_higher_level() {
    let source = "# A\n\n## Closest\n\n* [a](a)\n\n### Sub\n\ntext\n\n## After\n\nmore\n";
    assert_eq!(
        section_text(source),
        Some("## Closest\n\n* [a](a)\n\n### Sub\n\ntext\n\n")
    );
    let source = "## Closest\n* [a](a)\n# Top\n";
    assert_eq!(section_text(source), Some("## Closest\n* [a](a)\n"));
}

#[test]
fn heading_inside_fenced_code_is_text() {
    let source = "# A\n\n```markdown\n## Closest\n\n* [x](x)\n```\n";
    assert!(!parsed(source).has_section());
    let source = "## Closest\n\n```\n## After\n```\n";
    assert_eq!(section_text(source), Some(source));
}

#[test]
fn headings_in_quotes_and_lists_do_not_count() {
    assert!(!parsed("> ## Closest\n> * [a](a)\n").has_section());
    assert!(!parsed("- ## Closest\n").has_section());
    let source = "## Closest\n\n> ## Quoted\n\n- ## Listed\n";
    assert_eq!(section_text(source), Some(source));
}

#[test]
fn other_levels_and_texts_are_not_the_section() {
    assert!(!parsed("### Closest\n").has_section());
    assert!(!parsed("# Closest\n").has_section());
    assert!(!parsed("## Closest notes\n").has_section());
    let spec = SectionSpec {
        heading: "Related".to_string(),
        level: 3,
        custom_lines: Vec::new(),
    };
    let parsed = parse("## Closest\n\n### Related\n\n* x\n\n### Next\n", &spec).expect("parses");
    assert_eq!(parsed.section().map(|s| s.range()), Some(12..30));
}

#[test]
fn two_sections_are_an_error_naming_the_lines_and_the_fix() {
    let source = "## Closest\n\n* [a](a)\n\n## Closest\n";
    let error = parse(source, &SectionSpec::default()).expect_err("two sections");
    match &error {
        NoteError::TwoSections {
            first_line,
            second_line,
            ..
        } => assert_eq!((*first_line, *second_line), (1, 5)),
        other => panic!("unexpected error {other:?}"),
    }
    let message = error.to_string();
    assert!(message.contains("two `## Closest` sections"), "{message}");
    assert!(message.contains("delete one"), "{message}");
}

#[test]
fn front_matter_is_not_markdown() {
    let source = "---\ntitle: x\nnote: |\n  ## Closest\n---\n# Real\n";
    let parsed = parsed(source);
    assert!(!parsed.has_section());
    assert_eq!(
        parsed.front_matter(),
        Some("---\ntitle: x\nnote: |\n  ## Closest\n---\n")
    );
    // The front matter's title comes first; its `## Closest` is no heading.
    assert_eq!(parsed.title(), Some("x"));
    let source = "---\ntitle: x\n...\n\n## Closest\n";
    assert_eq!(section_text(source), Some("## Closest\n"));
}

#[test]
fn empty_file_has_nothing() {
    let parsed = parsed("");
    assert!(!parsed.has_section());
    assert_eq!(parsed.title(), None);
    assert_eq!(parsed.line_ending(), LineEnding::Lf);
    assert!(parsed.linked_targets().is_empty());
}

#[test]
fn crlf_notes_are_parsed_on_crlf_lines() {
    let source = "# A\r\n\r\n## Closest\r\n\r\n* [a](a)\r\n\r\n## B\r\n";
    let parsed = parsed(source);
    assert_eq!(parsed.line_ending(), LineEnding::Crlf);
    assert_eq!(
        &source[parsed.section().expect("section").range()],
        "## Closest\r\n\r\n* [a](a)\r\n\r\n"
    );
    assert_eq!(parsed.section_lines(), ["* [a](a)"]);
}

#[test]
fn title_is_the_first_heading_text_outside_the_section() {
    let source = "## Closest\n\n* [a](a)\n\n# 271c from ([2023](https://x.org).)\n";
    assert_eq!(parsed(source).title(), Some("271c from (2023.)"));
    assert_eq!(parsed("no heading").title(), None);
}

#[test]
fn linked_targets_leave_out_the_section() {
    let source = "See [b](b) and [[c]] and ![img](i.png).\n\n## Closest\n\n* [d](d)\n";
    assert_eq!(parsed(source).linked_targets(), ["b", "c"]);
}

#[test]
fn section_spec_is_checked() {
    assert_eq!(
        SectionSpec::new("Closest", 2).ok(),
        Some(SectionSpec::default())
    );
    assert!(SectionSpec::new("See also", 3).is_ok());
    assert!(SectionSpec::new("Closest", 0).is_err());
    assert!(SectionSpec::new("Closest", 7).is_err());
    assert!(SectionSpec::new("  ", 2).is_err());
    assert!(SectionSpec::new("*Closest*", 2).is_err());
    assert!(SectionSpec::new("a\nb", 2).is_err());
}

#[test]
fn setext_heading_keeps_its_reference_definitions_outside_the_section() {
    let source = "## Closest\n\n* [a](a)\n\n[ref]: https://x.org\nNext\n----\n";
    assert_eq!(section_text(source), Some("## Closest\n\n* [a](a)\n\n"));
}
