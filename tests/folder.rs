//! The folder is the user's: every line a person typed survives every command, a subfolder
//! is part of its notes root, a clone gives its author's bytes, and `clean` is a way out.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::fixture::{closest, each_old_or_new, ok, snapshot, stderr, test_data, Scratch};

fn arg(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

fn update(root: &Path, extra: &[&str]) -> Value {
    let mut args = vec!["update", arg(root), "--format", "json"];
    args.extend_from_slice(extra);
    serde_json::from_str(ok(closest(&args, None, None)).trim()).expect("json")
}

fn til(scratch: &Scratch, name: &str) -> PathBuf {
    scratch.copy_notes(&test_data().join("til/notes"), name, |_| true)
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).expect("read")
}

/// Lines typed at each place a person types in a section, with where they go.
const TYPED: [(&str, &str); 6] = [
    ("below", "\nA paragraph I typed below the list.\n"),
    ("under the heading", "I typed this under the heading.\n\n"),
    ("among the bullets", "* a bullet of my own\n"),
    (
        "lazy continuation",
        "and a lazy continuation of the last link\n",
    ),
    (
        "sub-heading",
        "\n### My sub-heading\n\nWith a line of mine.\n",
    ),
    ("comment", "\n<!-- a comment of mine -->\n"),
];

/// Types `line` into the note's section at the place named by `at`.
fn type_into(path: &Path, at: &str, line: &str) {
    let text = read(path);
    let heading = text.find("## Closest\n").expect("a section") + "## Closest\n".len();
    let links_start = heading + 1;
    let first_link_end = links_start + text[links_start..].find('\n').expect("a link") + 1;
    let list_end = text[links_start..]
        .find("\n\n")
        .map_or(text.len(), |end| links_start + end + 1);
    let offset = match at {
        "under the heading" => links_start,
        "among the bullets" => first_link_end,
        "lazy continuation" | "below" | "sub-heading" | "comment" => list_end,
        other => panic!("no place {other}"),
    };
    let mut edited = text.clone();
    edited.insert_str(offset, line);
    std::fs::write(path, edited).expect("type");
}

/// Every typed line, at every place, in notes across the folder, survives an update that
/// rewrites their lists (new notes enter them), and the run after writes nothing.
#[test]
fn lines_typed_anywhere_in_a_section_survive_update() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("til/notes"), "til", |path| {
        !path.to_string_lossy().contains("/sed/")
    });
    update(&root, &[]);
    let notes: Vec<PathBuf> = snapshot(&root)
        .into_iter()
        .map(|(path, _)| root.join(path))
        .step_by(4)
        .take(42)
        .collect();
    let mut typed = Vec::new();
    for (index, note) in notes.iter().enumerate() {
        let (at, line) = TYPED[index % TYPED.len()];
        type_into(note, at, line);
        typed.push((note.clone(), at, line));
    }
    // New notes move many lists, so the typed-in sections are rewritten around the lines.
    let sed = test_data().join("til/notes/jbranchaud/sed");
    for entry in std::fs::read_dir(&sed).expect("sed") {
        let path = entry.expect("entry").path();
        std::fs::copy(&path, root.join(path.file_name().expect("name"))).expect("add");
    }
    let first = update(&root, &[]);
    assert!(first["written"].as_u64() > Some(0), "{first}");
    for (note, at, line) in &typed {
        let text = read(note);
        assert!(
            text.contains(line.trim()),
            "{at}: `{}` lost {line:?}:\n{text}",
            note.display()
        );
        assert_eq!(text.matches("## Closest").count(), 1, "{text}");
    }
    let second = update(&root, &[]);
    assert_eq!(second["written"], 0, "{second}");
    assert_eq!(second["read"], 0, "{second}");
}

/// Comments typed among a front-matter list's items stay; the items are closest's.
#[test]
fn comments_typed_in_a_front_matter_list_survive_update() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), "osx", |path| {
        path.to_string_lossy().len().is_multiple_of(3)
    });
    update(&root, &["--template", "front-matter"]);
    let note = snapshot(&root)[0].0.clone();
    let path = root.join(note);
    let text = read(&path);
    let edited = text.replacen("closest:\n", "closest:\n  # the first one is the best\n", 1);
    assert_ne!(edited, text);
    std::fs::write(&path, &edited).expect("type");
    update(&root, &["--template", "front-matter", "--k", "4"]);
    let after = read(&path);
    assert!(after.contains("  # the first one is the best\n"), "{after}");
    assert_eq!(after.matches("  - ").count(), 4, "{after}");
    let again = update(&root, &["--template", "front-matter", "--k", "4"]);
    assert_eq!(again["written"], 0, "{again}");
}

/// From any depth of a managed folder, commands work on its root: no second state folder, no
/// second section, and `similar` finds the folder's notes.
#[test]
fn a_subfolder_is_part_of_its_notes_root() {
    let scratch = Scratch::new();
    let root = til(&scratch, "til");
    update(&root, &[]);
    let before = snapshot(&root);
    for sub in ["jbranchaud", "jbranchaud/css"] {
        let cwd = root.join(sub);
        let output = closest(&["update", "--format", "json"], Some(&cwd), None);
        let report: Value = serde_json::from_str(ok_ref(&output).trim()).expect("json");
        assert_eq!(report["written"], 0, "{sub}: {report}");
        assert_eq!(report["notes"].as_u64(), Some(before.len() as u64));
        assert!(
            stderr(&output).contains("notes root") && stderr(&output).contains(arg(&root)),
            "{}",
            stderr(&output)
        );
        assert!(
            !cwd.join(".closest").exists(),
            "{sub}: a second state folder"
        );
        assert!(!cwd.join(".closest.lock").exists());
        // A folder named inside the root is the root too.
        let named = update(&cwd, &["--check"]);
        assert_eq!(named["stale"].as_array().map(Vec::len), Some(0), "{named}");
        let similar = closest(
            &[
                "similar",
                "--note",
                "define-css-custom-properties-with-scss-variables",
            ],
            Some(&cwd),
            None,
        );
        assert!(
            ok_ref(&similar).lines().count() >= 5,
            "{}",
            stdout_of(&similar)
        );
    }
    assert_eq!(snapshot(&root), before);
}

fn ok_ref(output: &std::process::Output) -> String {
    assert!(output.status.success(), "{}", stderr(output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stdout_of(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn git(repo: &Path, args: &[&str]) -> String {
    let output = std::process::Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.invalid"])
        .args(args)
        .current_dir(repo)
        .output()
        .expect("git runs");
    assert!(output.status.success(), "git {args:?}: {}", stderr(&output));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A notes repository updated, grown by 20 notes, 5 edited (below their lists too), updated
/// and committed: a fresh clone finds nothing stale and writes nothing.
#[test]
fn a_clone_agrees_with_its_author() {
    let scratch = Scratch::new();
    let held = |path: &Path| path.to_string_lossy().len().is_multiple_of(8);
    let repo = scratch.copy_notes(&test_data().join("til/notes"), "repo", |path| !held(path));
    git(&repo, &["init", "-q"]);
    update(&repo, &[]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "notes"]);
    let mut added = 0;
    for (path, bytes) in snapshot(&test_data().join("til/notes")) {
        if held(&path) && added < 20 {
            let target = repo.join("added").join(path.file_name().expect("name"));
            std::fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
            std::fs::write(target, bytes).expect("add");
            added += 1;
        }
    }
    for (path, _) in snapshot(&repo).into_iter().take(5) {
        let path = repo.join(path);
        let text = read(&path);
        std::fs::write(
            &path,
            format!("{text}\nAn edit at the end, below the list.\n"),
        )
        .expect("edit");
    }
    update(&repo, &[]);
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "more notes"]);
    let clone = scratch.path().join("clone");
    git(scratch.path(), &["clone", "-q", arg(&repo), arg(&clone)]);
    assert!(
        clone.join(".closest.lock").is_file(),
        "the lock file is committed"
    );
    let check = closest(&["update", arg(&clone), "--check"], None, None);
    assert_eq!(check.status.code(), Some(0), "{}", stdout_of(&check));
    let report = update(&clone, &[]);
    assert_eq!(report["written"], 0, "{report}");
    assert_eq!(git(&clone, &["status", "--porcelain"]), "");
}

/// `clean` gives every note back the bytes it had before its first section: after `update`,
/// after the settings moved the lists, and, for a note edited by hand, all but its typed lines.
#[test]
fn clean_gives_the_notes_back() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), "osx", |path| {
        path.to_string_lossy().len().is_multiple_of(2)
    });
    let original = snapshot(&root);
    for settings in [
        vec![],
        vec!["--heading", "Related", "--level", "3"],
        vec!["--template", "front-matter"],
        vec!["--template=- {title} ({score}) [{id}]({link})"],
    ] {
        update(&root, &[]);
        if !settings.is_empty() {
            update(&root, &settings);
        }
        let updated = snapshot(&root);
        let dry = closest(&["clean", arg(&root), "--dry-run"], None, None);
        ok_ref(&dry);
        assert_eq!(snapshot(&root), updated, "--dry-run changes nothing");
        let mut args = vec!["clean", arg(&root)];
        args.extend(&settings);
        ok(closest(&args, None, None));
        assert_eq!(snapshot(&root), original, "after {settings:?}");
        assert!(!root.join(".closest").exists() && !root.join(".closest.lock").exists());
    }
    // A hand edit below a list: the list goes, the heading stays over the typed line.
    update(&root, &[]);
    let (first, _) = &original[0];
    let path = root.join(first);
    std::fs::write(&path, format!("{}\nMy line.\n", read(&path))).expect("type");
    let output = closest(&["clean", arg(&root)], None, None);
    ok_ref(&output);
    assert!(
        stderr(&output).contains(&first.display().to_string()),
        "{}",
        stderr(&output)
    );
    let text = read(&path);
    let before = String::from_utf8_lossy(&original[0].1).into_owned();
    assert!(text.starts_with(before.trim_end()), "{text}");
    assert!(text.ends_with("## Closest\n\nMy line.\n"), "{text}");
    for ((_, now), (_, was)) in snapshot(&root).iter().zip(&original).skip(1) {
        assert_eq!(now, was);
    }
}

/// `clean` killed at any moment leaves each note either updated or clean, and a second
/// `clean` finishes.
#[test]
fn clean_killed_leaves_whole_notes() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes"), "tldr", |_| true);
    let original = snapshot(&root);
    update(&root, &[]);
    let updated = snapshot(&root);
    for delay in [5, 20, 60, 150] {
        crate::fixture::killed_after(
            &["clean", arg(&root)],
            std::time::Duration::from_millis(delay),
        );
        each_old_or_new(
            &snapshot(&root),
            &updated,
            &original,
            &format!("killed at {delay} ms"),
        );
        ok(closest(&["clean", arg(&root)], None, None));
        assert_eq!(snapshot(&root), original);
        update(&root, &[]);
    }
}

/// A note the settings stop managing loses its list on the next update (`--check` says so
/// first); the lock file remembers the globs, so a clone does the same.
#[test]
fn a_note_left_out_loses_its_list() {
    let scratch = Scratch::new();
    let root = til(&scratch, "til");
    let original = snapshot(&root);
    update(&root, &[]);
    std::fs::write(
        root.join(".closest.toml"),
        "exclude = [\"jbranchaud/css/**\"]\n",
    )
    .expect("config");
    let check = closest(&["update", arg(&root), "--check"], None, None);
    assert_eq!(check.status.code(), Some(1));
    assert!(
        stdout_of(&check).contains("jbranchaud/css/"),
        "{}",
        stdout_of(&check)
    );
    // The state folder is a cache: the lock file alone says which notes were managed.
    std::fs::remove_dir_all(root.join(".closest")).expect("lose the state");
    let report = update(&root, &[]);
    let released = report["released"].as_array().expect("released");
    assert!(!released.is_empty(), "{report}");
    for (path, bytes) in snapshot(&root) {
        if path.starts_with("jbranchaud/css") {
            let was = &original
                .iter()
                .find(|(p, _)| *p == path)
                .expect("original")
                .1;
            assert_eq!(&bytes, was, "`{}` keeps a list", path.display());
        }
    }
    assert_eq!(update(&root, &[])["written"], 0);
}

/// With the state folder lost (a clone, a new machine), a heading, level or template change
/// still leaves exactly one section in every note.
#[test]
fn without_the_state_a_settings_change_leaves_one_section() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), "osx", |path| {
        path.to_string_lossy().len().is_multiple_of(2)
    });
    // Every note with a section: this is about the sections, not the floor.
    update(&root, &["--min-score=-1"]);
    for (config, heading) in [
        ("heading = \"Related\"\n", "## Related"),
        ("heading = \"Related\"\nlevel = 3\n", "### Related"),
        (
            "heading = \"Related\"\nlevel = 3\ntemplate = \"wiki\"\n",
            "### Related",
        ),
        ("template = \"- {title} [{id}]({link})\"\n", "## Closest"),
        ("", "## Closest"),
    ] {
        std::fs::remove_dir_all(root.join(".closest")).expect("lose the state");
        std::fs::write(
            root.join(".closest.toml"),
            format!("{config}min-score = -1\n"),
        )
        .expect("config");
        update(&root, &[]);
        for (path, bytes) in snapshot(&root) {
            let text = String::from_utf8_lossy(&bytes);
            let headings = text
                .lines()
                .filter(|line| line.ends_with("Related") || line.ends_with("Closest"))
                .count();
            // A note with too little text of its own (an alias page) has no section at all.
            assert!(headings <= 1, "{config:?} `{}`:\n{text}", path.display());
            assert!(
                headings == 0 || text.contains(&format!("{heading}\n")),
                "{config:?}:\n{text}"
            );
        }
        assert_eq!(update(&root, &[])["written"], 0, "{config:?}");
    }
}

/// Random lines typed around and inside the sections of real notes, then two updates: nothing
/// typed is lost, and the second update writes nothing.
#[test]
fn typed_lines_fuzz() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("tldr-pages/notes/osx"), "osx", |_| true);
    update(&root, &[]);
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = |bound: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % bound as u64) as usize
    };
    let lines = [
        "a line of mine",
        "* [mine](https://example.org/mine)",
        "- [ ] a task",
        "> a quote",
        "### A heading of mine",
        "<!-- hidden -->",
        "    indented text",
        "* [x](x) with a word after",
        "",
    ];
    for round in 0..4 {
        let notes = snapshot(&root);
        let mut typed = Vec::new();
        for _ in 0..12 {
            let (path, _) = &notes[next(notes.len())];
            let path = root.join(path);
            let text = read(&path);
            let Some(section) = text.find("## Closest") else {
                continue;
            };
            // A line start in or just before the section.
            let starts: Vec<usize> = text[section..]
                .match_indices('\n')
                .map(|(at, _)| section + at + 1)
                .chain(std::iter::once(section))
                .collect();
            let at = starts[next(starts.len())];
            let line = format!("{} {round}", lines[next(lines.len())])
                .trim()
                .to_owned();
            let mut edited = text.clone();
            if at == edited.len() && !edited.ends_with('\n') {
                edited.push('\n');
            }
            edited.insert_str(at.min(edited.len()), &format!("{line}\n"));
            std::fs::write(&path, edited).expect("type");
            typed.push((path, line));
        }
        update(&root, &[]);
        for (path, line) in &typed {
            assert!(
                read(path).contains(line.as_str()),
                "round {round}: lost {line:?} in {}",
                path.display()
            );
        }
        let again = update(&root, &[]);
        assert_eq!(again["written"], 0, "round {round}: {again}");
    }
}
