//! Moving the managed region: what a write records, and removing exactly that again.

use closest_notes::{
    parse, remove_region, write_region, Region, RemoveOutcome, SectionSpec, WrittenRegion,
};
use proptest::prelude::*;

use crate::props::{front_matter, ids, links, note};

fn write(
    source: &str,
    region: &Region,
    items: &[&str],
    previous: Option<&WrittenRegion>,
) -> (String, WrittenRegion) {
    let spec = region.section_spec().unwrap_or_default();
    let parsed = parse(source, &spec).expect("parses");
    let items: Vec<String> = items.iter().map(|item| item.to_string()).collect();
    write_region(source, &parsed, region, &items, previous).expect("placed")
}

fn section() -> Region {
    Region::from(&SectionSpec::default())
}

#[test]
fn an_appended_section_goes_with_its_blank_line_and_closing_line() {
    for source in [
        "# A\n",
        "# A",
        "# A\n\n",
        "",
        "```\ncode",
        "<!-- open\n",
        "a\r\n\r\n<pre>\r\n",
    ] {
        let (once, written) = write(source, &section(), &["* [b](b)"], None);
        assert_eq!(
            remove_region(&once, &written),
            RemoveOutcome::Removed(source.to_string())
        );
        // A later run records the same extent, so the list can still be moved.
        let (twice, again) = write(&once, &section(), &["* [c](c)"], Some(&written));
        assert_ne!(twice, once);
        assert_eq!(
            remove_region(&twice, &again),
            RemoveOutcome::Removed(source.to_string())
        );
        let (same, unchanged) = write(&once, &section(), &["* [b](b)"], Some(&written));
        assert_eq!((same, unchanged), (once, written));
    }
}

#[test]
fn text_added_after_the_section_keeps_its_blank_line() {
    let (once, written) = write("# A\n", &section(), &["* [b](b)"], None);
    let edited = format!("{once}\n## Later\n\ntext\n");
    let (twice, again) = write(&edited, &section(), &["* [c](c)"], Some(&written));
    assert_eq!(twice, "# A\n\n## Closest\n\n* [c](c)\n\n## Later\n\ntext\n");
    assert_eq!(
        remove_region(&twice, &again),
        RemoveOutcome::Removed("# A\n\n## Later\n\ntext\n".to_string())
    );
}

#[test]
fn a_hand_edited_section_is_left_with_its_line() {
    let (once, written) = write("# A\n\nBody.\n", &section(), &["* [b](b)"], None);
    let edited = once.replace("* [b](b)", "* [b](b) my own note");
    assert_eq!(
        remove_region(&edited, &written),
        RemoveOutcome::Edited { line: 5 }
    );
    assert_eq!(remove_region("# A\n", &written), RemoveOutcome::Absent);
    let two = format!("{once}\n## Closest\n");
    assert_eq!(
        remove_region(&two, &written),
        RemoveOutcome::Edited { line: 5 }
    );
}

#[test]
fn a_section_the_person_wrote_is_recorded_alone() {
    let source = "# A\n\n## Closest\n\n* [x](x)\n\n## After\n";
    let (once, written) = write(source, &section(), &["* [b](b)"], None);
    assert_eq!(
        remove_region(&once, &written),
        RemoveOutcome::Removed("# A\n\n## After\n".to_string())
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
        let (once, written) = write(source, &region, &["b", "0c"], None);
        let expected = RemoveOutcome::Removed(source.to_string());
        assert_eq!(remove_region(&once, &written), expected, "{once:?}");
        let (twice, again) = write(&once, &region, &["d"], Some(&written));
        assert_eq!(remove_region(&twice, &again), expected, "{twice:?}");
    }
    let (once, written) = write("+++\ntitle = \"A\"\n+++\n", &region, &["b"], None);
    assert_eq!(once, "+++\ntitle = \"A\"\nclosest = [\"b\"]\n+++\n");
    let edited = once.replace("[\"b\"]", "[\"b\", \"mine\"]");
    assert_eq!(
        remove_region(&edited, &written),
        RemoveOutcome::Edited { line: 3 }
    );
}

#[test]
fn moving_from_a_section_to_front_matter_restores_the_note_first() {
    let source = "+++\ntitle = \"A\"\n+++\n# A\n\n```\ncode\n";
    let (with_section, old) = write(source, &section(), &["* [b](b)"], None);
    let RemoveOutcome::Removed(without) = remove_region(&with_section, &old) else {
        panic!("not removed from {with_section:?}");
    };
    assert_eq!(without, source);
    let (moved, _) = write(&without, &Region::front_matter("closest"), &["b"], None);
    assert_eq!(
        moved,
        "+++\ntitle = \"A\"\nclosest = [\"b\"]\n+++\n# A\n\n```\ncode\n"
    );
}

#[test]
fn region_records_serialise_as_json() {
    let written = WrittenRegion {
        region: Region::from(&SectionSpec::default()),
        hash: "ab".to_string(),
    };
    let json = serde_json::to_string(&written).expect("serialises");
    assert_eq!(
        json,
        r#"{"region":{"kind":"section","heading":"Closest","level":2},"hash":"ab"}"#
    );
    let back: WrittenRegion = serde_json::from_str(&json).expect("deserialises");
    assert_eq!(back, written);
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

/// Inserts a character into the region's bytes, where it keeps the markup valid.
fn edit(once: &str, region: &Region) -> Option<String> {
    let spec = region.section_spec().unwrap_or_default();
    let parsed = parse(once, &spec).ok()?;
    let (at, text) = match region {
        Region::Section { .. } => (parsed.section()?.heading_range().end, "x"),
        Region::FrontMatter { .. } => {
            let fm = parsed.front_matter()?;
            let key = fm.find("closest")?;
            (key + fm[key..].find([':', '='])? + 1, " ")
        }
    };
    Some(format!("{}{text}{}", &once[..at], &once[at..]))
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
        let Some((once, written)) = write_region(&source, &parsed, &region, &items, None) else {
            return Ok(());
        };
        let removed = remove_region(&once, &written);
        if !holds(&source, &region) {
            prop_assert_eq!(&removed, &RemoveOutcome::Removed(source.clone()), "from {:?}", once);
        } else {
            prop_assert!(matches!(removed, RemoveOutcome::Removed(_)), "{:?} from {:?}", removed, once);
        }
        // The next run, with the record, writes the same bytes and the same record.
        let reparsed = parse(&once, &spec).expect("the result parses");
        let again = write_region(&once, &reparsed, &region, &items, Some(&written));
        prop_assert_eq!(again, Some((once.clone(), written.clone())));
        // An edited region is reported, never removed.
        if let Some(edited) = edit(&once, &region) {
            let outcome = remove_region(&edited, &written);
            prop_assert!(
                matches!(outcome, RemoveOutcome::Edited { .. } | RemoveOutcome::Absent),
                "{:?} from {:?}", outcome, edited
            );
        }
    }
}
