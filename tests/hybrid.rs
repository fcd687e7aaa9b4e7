//! What is compared (issue 14): boilerplate learned once per folder and left out, the hybrid
//! score, `explain`, `{score}` in templates, and bad input that must fall back to the raw text.

use std::path::{Path, PathBuf};

use crate::fixture::{closest, closest_links, ok, snapshot, stderr, test_data, Scratch};

const TOPICS: &[&str] = &[
    "sourdough bread starter flour",
    "tomato seedlings greenhouse",
    "git rebase branches",
    "sqlite write ahead log",
    "rust borrow checker lifetimes",
    "marathon training pace",
    "composting kitchen scraps",
    "telescope eyepiece planets",
    "index fund fees",
    "espresso grind size",
    "bicycle chain lube",
    "python virtual environments",
];

/// A folder in a seed-like template: every note repeats the same headings and table lines.
fn template_folder(scratch: &Scratch, name: &str) -> PathBuf {
    let root = scratch.path().join(name);
    std::fs::create_dir_all(&root).expect("mkdir");
    for (i, topic) in TOPICS.iter().cycle().take(36).enumerate() {
        let text = format!(
            "# 271c9ba1f197505aba5f225c62e3c{i:03} from 2023\n\n## Summary\n\nNotes on {topic}, \
             part {i}: what worked and what did not with {topic}.\n\n## Keywords\n\n{topic}\n\n\
             | field | value |\n| --- | --- |\n| status | draft |\n"
        );
        std::fs::write(root.join(format!("note-{i:02}.md")), text).expect("write");
    }
    root
}

fn update(root: &Path, flags: &[&str]) -> serde_json::Value {
    let mut args = vec!["update", root.to_str().expect("utf-8"), "--format", "json"];
    args.extend_from_slice(flags);
    serde_json::from_str(ok(closest(&args, None, None)).trim()).expect("json report")
}

/// `closest explain caffeinate pmset --notes ROOT --format json EXTRA`, parsed.
fn explain_json(root: &str, extra: &[&str]) -> serde_json::Value {
    let mut args = vec![
        "explain",
        "caffeinate",
        "pmset",
        "--notes",
        root,
        "--format",
        "json",
    ];
    args.extend_from_slice(extra);
    serde_json::from_str(ok(closest(&args, None, None)).trim()).expect("json")
}

/// The `[learned]` table of the folder's lock file.
fn learned(root: &Path) -> toml::Value {
    let text = std::fs::read_to_string(root.join(".closest.lock")).expect(".closest.lock");
    let lock: toml::Table = toml::from_str(&text).expect("toml");
    lock["learned"].clone()
}

/// Template lines are learned as boilerplate; notes that are all boilerplate, empty, a single
/// word or ids alone have too little text of their own and get no list (and are listed
/// nowhere); notes in another script or of code get theirs; nothing panics, and a second run
/// changes nothing.
#[test]
fn boilerplate_is_learned_and_notes_with_too_little_text_are_left_out() {
    let scratch = Scratch::new();
    let root = template_folder(&scratch, "seedlike");
    let odd = [
        (
            "all-template.md",
            "## Summary\n\n## Keywords\n\n| field | value |\n| --- | --- |\n",
        ),
        ("empty.md", ""),
        (
            "cyrillic.md",
            "# Закваска\n\nЗакваска для хлеба: мука и вода, каждый день.\n",
        ),
        ("chinese.md", "# 酸面团\n\n每天用面粉和水喂养酸面团。\n"),
        (
            "code-only.md",
            "```rust\nfn main() { println!(\"hi\"); }\n```\n",
        ),
        ("one-word.md", "sourdough"),
        (
            "ids-only.md",
            "271c9ba1f197505aba5f225c62e3c09f 36708cd749aea907043cfc74cbaa3847\n",
        ),
    ];
    for (name, text) in odd {
        std::fs::write(root.join(name), text).expect("write");
    }
    // Every candidate shown: this is about the text, not the floor.
    let first = update(&root, &["--min-score=-1"]);
    assert_eq!(first["skipped"], 0, "{first}");
    let boilerplate: Vec<String> = learned(&root)["boilerplate"]
        .as_array()
        .expect("list")
        .iter()
        .map(|line| line.as_str().expect("text").to_owned())
        .collect();
    for line in [
        "## Summary",
        "## Keywords",
        "| field | value |",
        "| status | draft |",
    ] {
        assert!(
            boilerplate.contains(&line.to_owned()),
            "{line}: {boilerplate:?}"
        );
    }
    let listed = ["cyrillic.md", "chinese.md", "code-only.md"];
    for (name, typed) in odd {
        let text = std::fs::read_to_string(root.join(name)).expect("read");
        let links = text.lines().filter(|line| line.starts_with("* [")).count();
        if listed.contains(&name) {
            assert_eq!(links, 10, "{name}:\n{text}");
        } else {
            assert_eq!(text, typed, "{name}");
        }
    }
    let unlisted: Vec<&str> = odd
        .iter()
        .map(|(name, _)| name.trim_end_matches(".md"))
        .filter(|id| !listed.contains(&format!("{id}.md").as_str()))
        .collect();
    for entry in std::fs::read_dir(&root).expect("read dir") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).unwrap_or_default();
        let links = closest_links(&text);
        assert!(
            links.iter().all(|link| !unlisted.contains(&link.as_str())),
            "{links:?}"
        );
    }
    // Notes of one topic find each other through the template.
    let text = std::fs::read_to_string(root.join("note-00.md")).expect("read");
    assert!(
        closest_links(&text).contains(&"note-12".to_owned()),
        "{text}"
    );
    let again = update(&root, &["--min-score=-1"]);
    assert_eq!(
        (again["read"].as_u64(), again["written"].as_u64()),
        (Some(0), Some(0)),
        "{again}"
    );
}

/// A folder of one note, and one of none, are not errors.
#[test]
fn a_folder_of_one_note_is_fine() {
    let scratch = Scratch::new();
    let root = scratch.write("one/only.md", "# Only\n\nThe one note.\n");
    let root = root.parent().expect("folder").to_owned();
    let report = update(&root, &[]);
    assert_eq!(report["notes"], 1, "{report}");
    assert_eq!(update(&root, &[])["written"], 0);
}

/// Adding a few notes keeps the learned statistics (nothing else is embedded or re-read);
/// `--full` learns them again and equals a run of a copy from nothing.
#[test]
fn a_few_new_notes_keep_the_learned_statistics() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), "osx", |path| {
        path.to_string_lossy().len().is_multiple_of(2)
    });
    update(&root, &[]);
    let before = learned(&root);
    std::fs::write(
        root.join("new-one.md"),
        "# new-one\n\n> Show the battery power left on a laptop.\n",
    )
    .expect("add");
    std::fs::write(
        root.join("new-two.md"),
        "# new-two\n\n> Put the display to sleep now, keep the machine awake.\n",
    )
    .expect("add");
    let report = update(&root, &[]);
    assert_eq!(
        (report["read"].as_u64(), report["embedded"].as_u64()),
        (Some(2), Some(2)),
        "{report}"
    );
    assert_eq!(report["ranking"], "patched", "{report}");
    assert_eq!(learned(&root), before);
    let full = update(&root, &["--full"]);
    assert_eq!(full["read"], full["notes"], "{full}");
    let copy = scratch.copy_notes(&root, "copy", |_| true);
    // (The copy leaves out the state folder: it starts from nothing.)
    update(&copy, &[]);
    assert_eq!(snapshot(&root), snapshot(&copy));
}

/// `explain` gives both scores, the rank, shared words and each note's nearest sentence, in
/// text and JSON; `--similarity semantic` leaves the lexical side out.
#[test]
fn explain_says_why_b_is_in_a_list() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), "osx", |_| true);
    update(&root, &[]);
    let root_arg = root.to_str().expect("utf-8");
    let json = explain_json(root_arg, &[]);
    assert_eq!(json["similarity"], "hybrid", "{json}");
    let (score, cosine, lexical, weight) = (
        json["score"].as_f64().expect("score"),
        json["cosine"].as_f64().expect("cosine"),
        json["lexical"].as_f64().expect("lexical"),
        json["lexical_weight"].as_f64().expect("weight"),
    );
    assert!(
        (score - ((1.0 - weight) * cosine + weight * lexical)).abs() < 1e-4,
        "{json}"
    );
    assert!(lexical > 0.0, "{json}");
    assert!(json["rank"].as_u64().expect("rank") >= 1);
    let words: Vec<&str> = json["shared_words"]
        .as_array()
        .expect("words")
        .iter()
        .map(|word| word["word"].as_str().expect("word"))
        .collect();
    assert!(words.contains(&"sleep"), "{json}");
    assert!(
        json["sentences"]["a"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{json}"
    );
    let text = ok(closest(
        &["explain", "caffeinate", "pmset", "--notes", root_arg],
        None,
        None,
    ));
    assert!(text.contains("shared words: sleep"), "{text}");
    let semantic = explain_json(root_arg, &["--similarity", "semantic"]);
    assert_eq!(semantic["score"], semantic["cosine"], "{semantic}");
    let missing = closest(
        &["explain", "caffeinate", "no-such-note", "--notes", root_arg],
        None,
        None,
    );
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("no-such-note"),
        "{}",
        stderr(&missing)
    );
}

/// `{score}` shows each link's score; a second run writes nothing; a weight outside 0..1 is
/// refused with the setting named.
#[test]
fn templates_show_scores_and_bad_weights_are_refused() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), "osx", |path| {
        path.to_string_lossy().len().is_multiple_of(3)
    });
    let template = ["--template", "* [{id}]({link}) {score}"];
    update(&root, &template);
    let mut names: Vec<PathBuf> = std::fs::read_dir(&root)
        .expect("list")
        .map(|entry| entry.expect("entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    names.sort();
    let text = std::fs::read_to_string(&names[0]).expect("read");
    let line = text
        .lines()
        .find(|line| line.starts_with("* ["))
        .expect("a link line");
    let score: f32 = line
        .rsplit(' ')
        .next()
        .expect("score")
        .parse()
        .expect("a number");
    assert!((0.0..=1.0).contains(&score), "{line}");
    assert_eq!(update(&root, &template)["written"], 0);
    let refused = closest(
        &[
            "update",
            root.to_str().expect("utf-8"),
            "--lexical-weight",
            "1.5",
        ],
        None,
        None,
    );
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        stderr(&refused).contains("lexical-weight"),
        "{}",
        stderr(&refused)
    );
}

/// A damaged `.closest.lock` is a warning naming it; the run learns the statistics again and
/// writes what a run from nothing writes.
#[test]
fn a_damaged_learned_file_is_learned_again_with_a_warning() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), "osx", |path| {
        path.to_string_lossy().len().is_multiple_of(4)
    });
    update(&root, &[]);
    let expected = snapshot(&root);
    let lock_path = root.join(".closest.lock");
    std::fs::write(&lock_path, b"version = 1\n[learned]\nnotes = ").expect("damage");
    let output = closest(&["update", root.to_str().expect("utf-8")], None, None);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains(".closest.lock") && stderr(&output).contains("damaged"),
        "{}",
        stderr(&output)
    );
    assert!(learned(&root)["boilerplate"].is_array(), "learned again");
    assert_eq!(snapshot(&root), expected);
}
