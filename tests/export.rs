//! `closest export` and `closest dupes` end to end.

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::fixture::{closest, closest_links, ok, snapshot, test_data, Scratch};

#[derive(Debug, Deserialize, PartialEq)]
struct Entry {
    id: String,
    title: String,
    path: String,
    score: f64,
}

type Data = BTreeMap<String, Vec<Entry>>;

/// The three formats parse to the same data, which lists exactly what `update` wrote in every
/// section (ids, paths and order), keyed by every note's path; the notes are not touched.
#[test]
fn export_parses_in_three_formats_and_matches_the_sections() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("til/notes/jbranchaud"), "til", |path| {
        path.to_string_lossy().len().is_multiple_of(3)
    });
    std::fs::write(
        root.join(".closest.toml"),
        "id-scheme = \"relative-path\"\nk = 6\n",
    )
    .expect("config");
    let root_arg = root.to_str().expect("path");
    ok(closest(&["update", root_arg], None, None));
    let before = snapshot(&root);

    let export = |format: &str| {
        ok(closest(
            &["export", root_arg, "--format", format],
            None,
            None,
        ))
    };
    let json: Data = serde_json::from_str(&export("json")).expect("JSON parses");
    let yaml: Data = serde_norway::from_str(&export("yaml")).expect("YAML parses");
    let toml: Data = toml::from_str(&export("toml")).expect("TOML parses");
    assert_eq!(json, yaml);
    assert_eq!(json, toml);
    assert_eq!(snapshot(&root), before, "export touches no note");

    assert_eq!(json.len(), before.len(), "every note has a key");
    for (path, bytes) in &before {
        let key = path.display().to_string();
        let entries = &json[&key];
        let in_section = closest_links(&String::from_utf8_lossy(bytes));
        let exported: Vec<String> = entries.iter().map(|entry| entry.id.clone()).collect();
        assert!(exported.len() <= 6, "`{key}`");
        assert_eq!(exported, in_section, "`{key}`");
        for entry in entries {
            assert_eq!(entry.id, entry.path.trim_end_matches(".md"));
            assert!(!entry.title.is_empty());
            assert!((-1.0..=1.0).contains(&entry.score));
        }
        assert!(
            entries
                .windows(2)
                .all(|pair| pair[0].score >= pair[1].score),
            "`{key}` is best first"
        );
    }
}

/// A copied note and its original are the top pair; JSON Lines name both with the score.
#[test]
fn dupes_finds_a_copied_note() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), "osx", |_| true);
    std::fs::copy(root.join("gyes.md"), root.join("yes-again.md")).expect("copy");
    let root_arg = root.to_str().expect("path");
    ok(closest(&["update", root_arg], None, None));

    let text = ok(closest(&["dupes", root_arg], None, None));
    let first = text.lines().next().expect("a pair");
    let fields: Vec<&str> = first.split('\t').collect();
    assert_eq!(fields[1..], ["gyes", "yes-again"], "{text}");
    let score: f32 = fields[0].parse().expect("score");
    assert!(score > 0.999, "{text}");

    let json = ok(closest(
        &["dupes", root_arg, "--format", "json", "--threshold", "0.5"],
        None,
        None,
    ));
    let pairs: Vec<serde_json::Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    assert!(pairs.len() > 1, "a lower threshold finds more pairs");
    assert_eq!(pairs[0]["a"]["id"], "gyes");
    assert_eq!(pairs[0]["b"]["path"], "yes-again.md");
    assert!(pairs.iter().all(|pair| pair["score"].as_f64() >= Some(0.5)));
    assert!(pairs
        .iter()
        .all(|pair| pair["a"]["id"].as_str() < pair["b"]["id"].as_str()));
    assert!(
        pairs
            .windows(2)
            .all(|two| two[0]["score"].as_f64() >= two[1]["score"].as_f64()),
        "most similar first"
    );
}
