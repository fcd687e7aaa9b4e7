//! Moving the managed region: what a write records, and removing exactly that again.

use closest_notes::{
    embed_text, parse, remove_region, take_out_section, write_region, Region, RemoveOutcome,
    SectionSpec, WrittenRegion,
};
use proptest::prelude::*;

use crate::props::{front_matter, ids, links, note};

fn write(source: &str, region: &Region, items: &[&str]) -> String {
    let spec = region.section_spec().unwrap_or_default();
    let parsed = parse(source, &spec).expect("parses");
    let items: Vec<String> = items.iter().map(|item| item.to_string()).collect();
    write_region(source, &parsed, region, &items).expect("placed")
}

fn remove(source: &str, region: &Region) -> RemoveOutcome {
    remove_region(source, region, &[])
}

fn section() -> Region {
    Region::from(&SectionSpec::default())
}

#[test]
fn an_appended_section_goes_with_its_blank_line_and_closing_line() {
    // A note that ended inside an open block keeps the line that closes it: a note ending
    // with that line gives the same text, and is the one taken.
    for (source, original) in [
        ("# A\n", "# A\n"),
        ("# A", "# A"),
        ("# A\n\n", "# A\n\n"),
        ("# A\n\n\n", "# A\n\n\n"),
        ("", ""),
        ("```\ncode", "```\ncode\n```"),
        ("```\ncode\n", "```\ncode\n```\n"),
        ("<!-- open\n", "<!-- open\n-->\n"),
        ("a\r\n\r\n<pre>\r\n", "a\r\n\r\n<pre>\r\n</pre>\r\n"),
    ] {
        let once = write(source, &section(), &["* [b](b)"]);
        let source = original;
        assert_eq!(
            remove(&once, &section()),
            RemoveOutcome::Removed(source.to_string()),
            "{once:?}"
        );
        let twice = write(&once, &section(), &["* [c](c)", "* [d](d)"]);
        assert_ne!(twice, once);
        assert_eq!(
            remove(&twice, &section()),
            RemoveOutcome::Removed(source.to_string())
        );
        assert_eq!(write(&once, &section(), &["* [b](b)"]), once);
    }
}

#[test]
fn text_added_after_the_section_keeps_its_blank_line() {
    let once = write("# A\n", &section(), &["* [b](b)"]);
    let edited = format!("{once}\n## Later\n\ntext\n");
    let twice = write(&edited, &section(), &["* [c](c)"]);
    assert_eq!(twice, "# A\n\n## Closest\n\n* [c](c)\n\n## Later\n\ntext\n");
    assert_eq!(
        remove(&twice, &section()),
        RemoveOutcome::Removed("# A\n\n## Later\n\ntext\n".to_string())
    );
}

#[test]
fn lines_typed_in_the_section_stay_when_it_goes() {
    let once = write("# A\n\nBody.\n", &section(), &["* [b](b)"]);
    let edited = format!("{once}\nTyped below the list.\n");
    assert_eq!(
        remove(&edited, &section()),
        RemoveOutcome::Typed {
            text: "# A\n\nBody.\n\n## Closest\n\nTyped below the list.\n".to_string(),
            line: 5,
        }
    );
    let mine = once.replace("* [b](b)", "* [b](b) my own note");
    assert_eq!(
        remove(&mine, &section()),
        RemoveOutcome::Typed {
            text: mine.clone(),
            line: 5
        }
    );
    assert_eq!(remove("# A\n", &section()), RemoveOutcome::Absent);
    let two = format!("{once}\n## Closest\n");
    assert_eq!(remove(&two, &section()), RemoveOutcome::Left { line: 5 });
}

#[test]
fn a_section_the_person_wrote_goes_whole() {
    let source = "# A\n\n## Closest\n\n* [x](x)\n\n## After\n";
    let once = write(source, &section(), &["* [b](b)"]);
    assert_eq!(
        remove(&once, &section()),
        RemoveOutcome::Removed("# A\n\n## After\n".to_string())
    );
}

#[test]
fn another_tools_section_is_taken_out_whatever_it_holds() {
    let spec = SectionSpec::new("Related", 2).expect("valid");
    let source = "# A\n\nBody.\n\n## Related\n\n- a link, their way\n";
    assert_eq!(
        take_out_section(source, &spec).as_deref(),
        Some("# A\n\nBody.\n")
    );
}

#[test]
fn front_matter_lists_are_removed_with_every_other_byte_kept() {
    let region = Region::front_matter("closest");
    let cases = [
        "# A\n",
        "---\r\ntitle: A # keep\r\n---\r\nbody\r\n",
        "+++\r\ntitle = \"A\" # the title\r\n\r\n[params]\r\nx = 1\r\n+++\r\nbody\r\n",
        "+++\ntitle = \"A\"\n+++\n",
        "{\n  \"title\": \"A\"\n}\nbody\n",
        "{\"title\": \"A\"}\n",
    ];
    for source in cases {
        let once = write(source, &region, &["b", "0c"]);
        let expected = RemoveOutcome::Removed(source.to_string());
        assert_eq!(remove(&once, &region), expected, "{once:?}");
        let twice = write(&once, &region, &["d"]);
        assert_eq!(remove(&twice, &region), expected, "{twice:?}");
    }
}

#[test]
fn comments_typed_in_a_front_matter_list_stay() {
    let region = Region::front_matter("closest");
    let source = "---\ntitle: A\nclosest:\n  # chosen by hand below\n  - old\n---\n# A\n";
    let once = write(source, &region, &["b", "c"]);
    assert_eq!(
        once,
        "---\ntitle: A\nclosest:\n  - b\n  - c\n  # chosen by hand below\n---\n# A\n"
    );
    assert_eq!(write(&once, &region, &["b", "c"]), once);
    assert_eq!(
        remove(&once, &region),
        RemoveOutcome::Typed {
            text: "---\ntitle: A\n  # chosen by hand below\n---\n# A\n".to_string(),
            line: 3
        }
    );
}

#[test]
fn moving_from_a_section_to_front_matter_restores_the_note_first() {
    let source = "+++\ntitle = \"A\"\n+++\n# A\n\n```\ncode\n```\n";
    let with_section = write(source, &section(), &["* [b](b)"]);
    let RemoveOutcome::Removed(without) = remove(&with_section, &section()) else {
        panic!("not removed from {with_section:?}");
    };
    assert_eq!(without, source);
    let moved = write(&without, &Region::front_matter("closest"), &["b"]);
    assert_eq!(
        moved,
        "+++\ntitle = \"A\"\nclosest = [\"b\"]\n+++\n# A\n\n```\ncode\n```\n"
    );
}

#[test]
fn region_records_serialise_as_json() {
    let written = WrittenRegion {
        region: Region::from(&SectionSpec::default()),
        typed: true,
    };
    let json = serde_json::to_string(&written).expect("serialises");
    assert_eq!(
        json,
        r#"{"region":{"kind":"section","heading":"Closest","level":2},"typed":true}"#
    );
    let back: WrittenRegion = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, written);
    // A record from before typed lines were kept reads as one without them.
    let old = r#"{"region":{"kind":"front-matter","key":"closest"},"hash":"ab"}"#;
    let back: WrittenRegion = serde_json::from_str(old).expect("deserialises");
    assert_eq!(back.region, Region::front_matter("closest"));
    assert!(!back.typed);
}

fn region() -> impl Strategy<Value = Region> {
    prop_oneof![
        2 => Just(Region::from(&SectionSpec::default())),
        1 => Just(Region::Section { heading: "See also".to_string(), level: 3 }),
        2 => Just(Region::front_matter("closest")),
    ]
}

/// Whether the note already holds the region, so that writing it replaces rather than adds.
fn holds(source: &str, region: &Region) -> bool {
    match region {
        Region::Section { .. } => {
            let spec = region.section_spec().unwrap_or_default();
            parse(source, &spec).map_or(true, |parsed| parsed.has_section())
        }
        Region::FrontMatter { .. } => {
            let parsed = parse(source, &SectionSpec::default());
            parsed.map_or(true, |parsed| {
                parsed
                    .front_matter()
                    .is_some_and(|fm| fm.contains("closest"))
            })
        }
    }
}

/// A line a person might type, for the region's own kind of place.
fn typed_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("A paragraph typed below the list.".to_string()),
        Just("* a bullet of my own".to_string()),
        Just("* [Rust book](https://doc.rust-lang.org/book)".to_string()),
        Just("  lazy continuation".to_string()),
        Just("### My sub-heading".to_string()),
        Just("<!-- a comment -->".to_string()),
        Just("- [[b]] because".to_string()),
        Just("[^1]: a footnote".to_string()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|cases| cases.parse().ok())
            .unwrap_or(1000),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn removing_a_written_region_gives_the_note_back(
        head in front_matter(),
        body in note(),
        region in region(),
        links in links(),
        ids in ids(),
    ) {
        let source = format!("{head}{body}");
        let spec = region.section_spec().unwrap_or_default();
        let Ok(parsed) = parse(&source, &spec) else { return Ok(()) };
        let items = if region.section_spec().is_some() { links } else { ids };
        let Some(once) = write_region(&source, &parsed, &region, &items) else {
            return Ok(());
        };
        if !holds(&source, &region) {
            let removed = remove(&once, &region);
            let RemoveOutcome::Removed(removed) = removed else {
                return Err(TestCaseError::fail(format!("{removed:?} from {once:?}")));
            };
            if removed != source {
                // Only a note that ended in an open block: it keeps the line closing it.
                let closed = parse(&removed, &spec).expect("parses");
                prop_assert_eq!(embed_text(&closed), embed_text(&parsed), "{:?} from {:?}", removed, once);
                prop_assert!(removed.len() > source.len(), "{:?} from {:?}", removed, once);
            }
        }
        // The next run writes the same bytes.
        let reparsed = parse(&once, &spec).expect("the result parses");
        let again = write_region(&once, &reparsed, &region, &items);
        prop_assert_eq!(again, Some(once.clone()));
    }

    #[test]
    fn typed_lines_in_a_section_survive_update_and_removal(
        body in note(),
        links in links(),
        newer in links(),
        typed in prop::collection::vec((typed_line(), any::<prop::sample::Index>()), 1..4),
    ) {
        let region = section();
        let spec = SectionSpec::default();
        let Ok(parsed) = parse(&body, &spec) else { return Ok(()) };
        let Some(once) = write_region(&body, &parsed, &region, &links) else { return Ok(()) };
        let Ok(parsed) = parse(&once, &spec) else { return Ok(()) };
        let Some(section) = parsed.section() else { return Ok(()) };
        // Lines typed at places in the section, after its heading.
        let body_lines: Vec<usize> = std::iter::once(section.heading_range().end)
            .chain(section.owned_lines().iter().map(|line| line.end))
            .collect();
        let mut edited = once.clone();
        let mut inserted: Vec<(usize, String)> = typed
            .into_iter()
            .map(|(line, at)| (body_lines[at.index(body_lines.len())], line))
            .collect();
        inserted.sort();
        for (at, line) in inserted.iter().rev() {
            if *at == edited.len() && !edited.ends_with('\n') {
                edited.push('\n');
            }
            edited.insert_str(*at, &format!("{line}\n"));
        }
        let Ok(parsed) = parse(&edited, &spec) else { return Ok(()) };
        if parsed.section().is_none_or(|section| !section.has_typed_lines()) {
            // The line joined a block that hides it from the section (an open fence).
            return Ok(());
        }
        let Some(twice) = write_region(&edited, &parsed, &region, &newer) else { return Ok(()) };
        for (_, line) in &inserted {
            prop_assert!(twice.contains(line.as_str()), "{:?} lost from {:?} in {:?}", line, edited, twice);
        }
        let reparsed = parse(&twice, &spec).expect("parses");
        prop_assert_eq!(write_region(&twice, &reparsed, &region, &newer), Some(twice.clone()));
        prop_assert_eq!(embed_text(&reparsed), embed_text(&parsed));
        match remove(&twice, &region) {
            RemoveOutcome::Typed { text, .. } => {
                for (_, line) in &inserted {
                    prop_assert!(text.contains(line.as_str()), "{:?} lost by removal", line);
                }
            }
            other => prop_assert!(false, "{:?} from {:?}", other, twice),
        }
    }
}
