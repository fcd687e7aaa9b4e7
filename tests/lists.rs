//! Lists a person trusts (issue 30): notes too empty to list, titles from front matter, list
//! pages left out, `similar --exclude-linked` and `dupes` by cosine, end to end on real notes.

use std::path::{Path, PathBuf};

use crate::fixture::{closest, closest_links, ok, snapshot, test_data, Scratch};

/// Real notes (the jbranchaud TIL notes) with a `daily/` folder of Obsidian-style daily notes:
/// `empty` of them hold only the template, `written` of them a line of their own too.
fn vault(scratch: &Scratch, empty: usize, written: &[&str]) -> PathBuf {
    let root = scratch.copy_notes(&test_data().join("til/notes/jbranchaud"), "vault", |_| true);
    std::fs::create_dir_all(root.join("daily")).expect("mkdir");
    for day in 0..empty {
        std::fs::write(root.join(daily(day)), template(day, "")).expect("write");
    }
    for (i, line) in written.iter().enumerate() {
        let day = empty + i;
        std::fs::write(root.join(daily(day)), template(day, line)).expect("write");
    }
    root
}

fn daily(day: usize) -> String {
    format!("daily/2026-01-{:02}.md", day + 1)
}

fn template(day: usize, line: &str) -> String {
    format!(
        "# 2026-01-{:02}\n\n## Tasks\n\n- [ ] {line}\n\n## Log\n\n",
        day + 1
    )
}

fn update(root: &Path) -> serde_json::Value {
    let args = ["update", root.to_str().expect("utf-8"), "--format", "json"];
    serde_json::from_str(ok(closest(&args, None, None)).trim()).expect("json report")
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read")
}

/// Every note of the folder with its Closest links.
fn all_links(root: &Path) -> Vec<(String, Vec<String>)> {
    snapshot(root)
        .into_iter()
        .map(|(rel, bytes)| {
            let links = closest_links(&String::from_utf8_lossy(&bytes));
            (rel.display().to_string(), links)
        })
        .collect()
}

/// Daily notes that hold only their template are neither listed nor given a list; a daily
/// note with a line of its own is both; a note that loses its text loses its section (the
/// note is as it was before), and gets it back with text.
#[test]
fn notes_too_empty_are_neither_listed_nor_given_a_list() {
    let scratch = Scratch::new();
    let written = [
        "Rebase the feature branch onto main and squash the fixup commits",
        "Write the tmux config so panes split in the current directory",
    ];
    let root = vault(&scratch, 12, &written);
    update(&root);
    for day in 0..12 {
        let path = root.join(daily(day));
        assert_eq!(read(&path), template(day, ""), "{}", path.display());
    }
    let empty_ids: Vec<String> = (0..12)
        .map(|day| format!("2026-01-{:02}", day + 1))
        .collect();
    for (rel, links) in all_links(&root) {
        assert!(
            links.iter().all(|link| !empty_ids.contains(link)),
            "{rel} lists an empty daily note: {links:?}"
        );
    }
    for day in 12..14 {
        let text = read(&root.join(daily(day)));
        assert!(!closest_links(&text).is_empty(), "{text}");
    }

    // Text typed into an empty daily note gives it a list; taken out again, the list goes.
    let path = root.join(daily(3));
    let line = "Read about sed address ranges and the hold space for multiline edits";
    std::fs::write(&path, template(3, line)).expect("write");
    update(&root);
    assert!(!closest_links(&read(&path)).is_empty(), "{}", read(&path));
    std::fs::write(&path, read(&path).replacen(line, "", 1)).expect("write");
    update(&root);
    assert_eq!(read(&path), template(3, ""));
    let again = update(&root);
    assert_eq!(again["written"], 0, "{again}");
}

/// Titles come from the front matter's `title` (TOML and YAML) before the first heading, in
/// `export`, in `{title}` templates and in `explain`.
#[test]
fn titles_come_from_front_matter() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(
        &test_data().join("til/notes/jbranchaud/tmux"),
        "site",
        |_| true,
    );
    let toml_note = "+++\ntitle = \"Splitting panes the tmux way\"\ndate = 2024-01-02\n+++\n\n\
                     # pane-splits\n\nSplit a tmux window into panes with prefix-% and prefix-\", \
                     and move between the panes with the prefix and an arrow key.\n";
    let yaml_note = "---\ntitle: 'Killing tmux sessions'\ntags: [tmux]\n---\n\n# kill\n\n\
                     Kill a tmux session by name with tmux kill-session -t and the \
                     session's name, or every other session with -a.\n";
    std::fs::write(root.join("pane-splits.md"), toml_note).expect("write");
    std::fs::write(root.join("kill-sessions.md"), yaml_note).expect("write");
    std::fs::write(
        root.join(".closest.toml"),
        "template = \"- [[{id}]] {title}\"\n",
    )
    .expect("config");
    let root_arg = root.to_str().expect("utf-8");
    ok(closest(&["update", root_arg], None, None));
    let export: serde_json::Value = serde_json::from_str(&ok(closest(
        &["export", root_arg, "--format", "json"],
        None,
        None,
    )))
    .expect("json");
    let titles: Vec<(String, String)> = export
        .as_object()
        .expect("object")
        .values()
        .flat_map(|hits| hits.as_array().expect("list").iter())
        .map(|hit| {
            (
                hit["id"].as_str().expect("id").to_owned(),
                hit["title"].as_str().expect("title").to_owned(),
            )
        })
        .collect();
    assert!(titles.contains(&(
        "pane-splits".to_owned(),
        "Splitting panes the tmux way".to_owned()
    )));
    assert!(titles.contains(&(
        "kill-sessions".to_owned(),
        "Killing tmux sessions".to_owned()
    )));
    let sections: String = snapshot(&root)
        .iter()
        .map(|(_, bytes)| String::from_utf8_lossy(bytes).into_owned())
        .collect();
    assert!(
        sections.contains("[[pane-splits]] Splitting panes the tmux way"),
        "{sections}"
    );
    let explain = ok(closest(
        &[
            "explain",
            "pane-splits",
            "kill-sessions",
            "--notes",
            root_arg,
            "--format",
            "json",
        ],
        None,
        None,
    ));
    assert!(
        explain.contains("Splitting panes the tmux way"),
        "{explain}"
    );
}

/// Hugo's list pages (`_index.md`) are not notes: no section, never listed.
#[test]
fn list_pages_are_not_notes() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(
        &test_data().join("til/notes/jbranchaud/go"),
        "content",
        |_| true,
    );
    let list_page = "+++\ntitle = \"Go\"\n+++\n\nEverything learned about Go, the language and \
                     its tools: modules, testing, formatting and the standard library.\n";
    std::fs::write(root.join("_index.md"), list_page).expect("write");
    update(&root);
    assert_eq!(read(&root.join("_index.md")), list_page);
    for (rel, links) in all_links(&root) {
        assert!(!links.contains(&"_index".to_owned()), "{rel}: {links:?}");
    }
}

/// `similar --note A --exclude-linked` leaves out the notes A links to, as A's section does.
#[test]
fn similar_honours_exclude_linked() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("til/notes/jbranchaud"), "til", |_| true);
    let root_arg = root.to_str().expect("utf-8");
    ok(closest(&["update", root_arg], None, None));
    let similar = |extra: &[&str]| -> Vec<String> {
        let mut args = vec![
            "similar",
            "--note",
            "kill-other-connections-to-a-session",
            "--notes",
        ];
        args.push(root_arg);
        args.extend_from_slice(&["--format", "json", "-k", "5"]);
        args.extend_from_slice(extra);
        ok(closest(&args, None, None))
            .lines()
            .map(|line| {
                let hit: serde_json::Value = serde_json::from_str(line).expect("json line");
                hit["id"].as_str().expect("id").to_owned()
            })
            .collect()
    };
    let plain = similar(&[]);
    assert_eq!(plain.len(), 5);
    // The note links to its two nearest, by hand.
    let path = root.join("tmux/kill-other-connections-to-a-session.md");
    let note = read(&path);
    let typed = format!(
        "{}\nSee also [{}]({}.md) and [{}]({}.md).\n",
        note.split("\n## Closest").next().expect("body").trim_end(),
        plain[0],
        plain[0],
        plain[1],
        plain[1]
    );
    std::fs::write(&path, typed).expect("write");
    ok(closest(&["update", root_arg], None, None));
    let excluded = similar(&["--exclude-linked"]);
    assert_eq!(excluded.len(), 5, "{excluded:?}");
    assert!(
        !excluded.contains(&plain[0]) && !excluded.contains(&plain[1]),
        "{plain:?} then {excluded:?}"
    );
    let kept = similar(&[]);
    assert!(kept.contains(&plain[0]), "{kept:?}");
}

/// `dupes` thresholds and prints the cosine: daily notes that repeat one line (cosine near 1,
/// their words in over a tenth of the notes, too common to weigh) are found at the default
/// threshold, in the default hybrid mode; notes too empty to list have no pairs.
#[test]
fn dupes_finds_near_copies_by_cosine() {
    let scratch = Scratch::new();
    let line = "Standup with the platform team about the release checklist and the rollback plan";
    let root = vault(&scratch, 6, &[line; 16]);
    let root_arg = root.to_str().expect("utf-8");
    ok(closest(&["update", root_arg], None, None));
    let json = ok(closest(
        &["dupes", root_arg, "--format", "json"],
        None,
        None,
    ));
    let pairs: Vec<serde_json::Value> = json
        .lines()
        .map(|line| serde_json::from_str(line).expect("JSON line"))
        .collect();
    let written: Vec<String> = (6..22)
        .map(|day| format!("2026-01-{:02}", day + 1))
        .collect();
    let among_written = pairs
        .iter()
        .filter(|pair| {
            written.contains(&pair["a"]["id"].as_str().expect("id").to_owned())
                && written.contains(&pair["b"]["id"].as_str().expect("id").to_owned())
        })
        .count();
    assert_eq!(among_written, 16 * 15 / 2, "{json}");
    assert!(pairs
        .iter()
        .all(|pair| pair["score"].as_f64() >= Some(0.95)));
    let empty = |id: &str| id < "2026-01-07" && id.starts_with("2026-01-");
    assert!(
        pairs
            .iter()
            .all(|pair| !empty(pair["a"]["id"].as_str().expect("id"))
                && !empty(pair["b"]["id"].as_str().expect("id"))),
        "{json}"
    );
}
