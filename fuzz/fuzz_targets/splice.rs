//! Parse + splice on arbitrary input: nothing panics, the bytes outside the managed section are
//! unchanged, and splicing twice equals splicing once.

#![no_main]

use closest_notes::{parse, splice, SectionSpec};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(source) = std::str::from_utf8(data) else { return };
    let spec = SectionSpec::default();
    let Ok(parsed) = parse(source, &spec) else { return };
    let links = vec!["* [a](a)".to_owned(), "* [b](b)".to_owned()];
    let once = splice(source, &parsed, &spec, &links);
    match parsed.section() {
        Some(section) => {
            let range = section.range();
            assert!(once.starts_with(&source[..range.start]), "bytes before the section changed");
            assert!(once.ends_with(&source[range.end..]), "bytes after the section changed");
        }
        None => assert!(once.starts_with(source), "a note without a section lost bytes"),
    }
    let reparsed = parse(&once, &spec).expect("a spliced note parses");
    assert_eq!(splice(&once, &reparsed, &spec, &links), once, "splice is not idempotent");
});
