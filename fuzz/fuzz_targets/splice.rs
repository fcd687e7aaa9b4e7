//! Parse + splice on arbitrary input, for a section and for a front-matter list: nothing
//! panics, the bytes outside the managed region are unchanged, splicing twice equals splicing
//! once, the text to embed is the same before and after the write (so a run after any run
//! changes nothing), and removing a written region gives the note back byte for byte.

#![no_main]

use closest_notes::{
    embed_text, parse, remove_region, splice, splice_front_matter, write_region, Parsed, Region,
    RemoveOutcome, SectionSpec,
};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let spec = SectionSpec::default();
    let Ok(parsed) = parse(source, &spec) else { return };
    let links = vec!["* [a](a)".to_owned(), "- [[b]]".to_owned()];
    check_section(source, &parsed, &spec, &links);
    check_front_matter(source, &parsed, &spec);
    for region in [Region::from(&spec), Region::front_matter("closest")] {
        check_region(source, &parsed, &region, &links);
    }
});

fn check_section(source: &str, parsed: &Parsed, spec: &SectionSpec, links: &[String]) {
    let once = splice(source, parsed, spec, links);
    match parsed.section() {
        Some(section) => {
            let range = section.range();
            assert!(once.starts_with(&source[..range.start]), "bytes before the section changed");
            assert!(once.ends_with(&source[range.end..]), "bytes after the section changed");
        }
        None => assert!(once.starts_with(source), "a note without a section lost bytes"),
    }
    let reparsed = parse(&once, spec).expect("a spliced note parses");
    assert_eq!(splice(&once, &reparsed, spec, links), once, "splice is not idempotent");
    // A section the person wrote may define references the rest of the note uses; replacing
    // it rightly changes their text. Otherwise the text to embed must not move.
    if !parsed.section_defines_references() {
        assert_eq!(embed_text(&reparsed), embed_text(parsed), "the text to embed changed");
    }
}

fn check_front_matter(source: &str, parsed: &Parsed, spec: &SectionSpec) {
    let ids = vec!["b".to_owned(), "0c d".to_owned()];
    let once = splice_front_matter(source, "closest", &ids);
    let body = parsed.front_matter().map_or(0, str::len);
    assert!(once.ends_with(&source[body..]), "the body changed");
    let reparsed = parse(&once, spec).expect("a spliced note parses");
    assert!(reparsed.front_matter().is_some(), "no front matter after the splice");
    if let Some(format) = parsed.front_matter_format() {
        assert_eq!(reparsed.front_matter_format(), Some(format), "a second block was added");
    }
    assert_eq!(embed_text(&reparsed), embed_text(parsed), "the text to embed changed");
    assert_eq!(splice_front_matter(&once, "closest", &ids), once, "not idempotent");
}

fn check_region(source: &str, parsed: &Parsed, region: &Region, links: &[String]) {
    let items = match region {
        Region::Section { .. } => links.to_vec(),
        Region::FrontMatter { .. } => vec!["b".to_owned()],
    };
    let held = match region {
        Region::Section { .. } => parsed.has_section(),
        Region::FrontMatter { .. } => parsed.front_matter().is_some_and(|fm| fm.contains("closest")),
    };
    let Some((once, written)) = write_region(source, parsed, region, &items, None) else { return };
    let removed = remove_region(&once, &written);
    if held {
        assert!(matches!(removed, RemoveOutcome::Removed(_)), "a written region was not removed");
    } else {
        assert_eq!(removed, RemoveOutcome::Removed(source.to_owned()), "removal lost bytes");
    }
    let spec = region.section_spec().unwrap_or_default();
    let reparsed = parse(&once, &spec).expect("a written note parses");
    let again = write_region(&once, &reparsed, region, &items, Some(&written));
    assert_eq!(again, Some((once, written)), "a second write differs");
}
