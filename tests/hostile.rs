//! Strange notes each get a defined outcome (a warning naming the file and a skip, or a correct
//! update), and every other note is still updated.

use crate::fixture::{closest, closest_links, ok, snapshot, stderr, Scratch};

#[test]
fn hostile_notes_are_skipped_or_kept_exact() {
    let scratch = Scratch::new();
    let notes = [
        (
            "plain-one.md",
            "# Plain one\n\nGardening with tomatoes and compost.\n",
        ),
        (
            "plain-two.md",
            "# Plain two\n\nComposting kitchen scraps for the garden.\n",
        ),
        (
            "plain-three.md",
            "# Plain three\n\nRust iterators and closures.",
        ),
        (
            "crlf.md",
            "# Windows note\r\n\r\nLine endings from an editor on Windows, about tomatoes.\r\n",
        ),
        (
            "bom.md",
            "\u{feff}# With a BOM\n\nA note saved with a byte-order mark, about compost.\n",
        ),
        ("empty.md", ""),
        (
            "two-sections.md",
            "# Two\n\n## Closest\n\n* [a](a)\n\n## Closest\n\n* [b](b)\n",
        ),
        (
            "fenced.md",
            "# Fenced\n\n```\n## Closest\n```\n\nText after a fence about sunny gardens.\n",
        ),
        (
            "middle.md",
            "# Middle\n\nBody about tomato beds.\n\n## Closest\n\n* [old](old)\n\n## Later\n\nKept as is.\n",
        ),
        (
            "closer.md",
            "# Closer\n\nTomato plants on a sunny wall.\n\n## Closest ##   \n\n* [x](x)\n",
        ),
    ];
    for (name, text) in notes {
        scratch.write(&format!("notes/{name}"), text);
    }
    let root = scratch.path().join("notes");
    std::fs::write(
        root.join("invalid-utf8.md"),
        b"# Bad\n\n\xff\xfe not utf-8\n",
    )
    .expect("write");
    std::fs::write(root.join("binary.md"), b"\x00\x01\x02binary\x00").expect("write");
    let read_only = root.join("read-only.md");
    std::fs::write(
        &read_only,
        "# Read only\n\nA note nobody may change, about gardens.\n",
    )
    .expect("write");
    let mut permissions = std::fs::metadata(&read_only).expect("meta").permissions();
    permissions.set_readonly(true);
    std::fs::set_permissions(&read_only, permissions).expect("chmod");
    let outside = scratch.write("outside.md", "# Outside\n\nNot under the root.\n");
    std::os::unix::fs::symlink(&outside, root.join("link-out.md")).expect("symlink");
    std::os::unix::fs::symlink(root.join("loop-b.md"), root.join("loop-a.md")).expect("symlink");
    std::os::unix::fs::symlink(root.join("loop-a.md"), root.join("loop-b.md")).expect("symlink");

    // Every candidate shown: this is about the files, not the lists' floor.
    let output = closest(
        &[
            "update",
            root.to_str().expect("path"),
            "-k",
            "2",
            "--min-score=-1",
        ],
        None,
        None,
    );
    let warnings = stderr(&output);
    ok(output);
    for name in [
        "invalid-utf8.md",
        "binary.md",
        "two-sections.md",
        "read-only.md",
        "link-out.md",
    ] {
        assert!(
            warnings.contains(name),
            "a warning names {name}:\n{warnings}"
        );
    }
    let read = |name: &str| std::fs::read(root.join(name)).expect("read");
    assert_eq!(read("invalid-utf8.md"), b"# Bad\n\n\xff\xfe not utf-8\n");
    assert_eq!(read("binary.md"), b"\x00\x01\x02binary\x00");
    assert_eq!(read("two-sections.md"), notes[6].1.as_bytes());
    assert!(!String::from_utf8(read("read-only.md"))
        .expect("utf-8")
        .contains("Closest"));
    assert_eq!(
        std::fs::read_to_string(&outside).expect("read"),
        "# Outside\n\nNot under the root.\n"
    );

    let crlf = String::from_utf8(read("crlf.md")).expect("utf-8");
    assert!(
        crlf.starts_with(notes[3].1)
            && crlf.ends_with("\r\n")
            && !crlf.replace("\r\n", "").contains('\n'),
        "{crlf:?}"
    );
    let bom = read("bom.md");
    assert!(bom.starts_with("\u{feff}# With a BOM".as_bytes()) && bom.ends_with(b"\n"));
    let three = String::from_utf8(read("plain-three.md")).expect("utf-8");
    assert!(
        three.starts_with(notes[2].1) && !three.ends_with('\n'),
        "no trailing newline stays so: {three:?}"
    );
    let fenced = String::from_utf8(read("fenced.md")).expect("utf-8");
    assert!(
        fenced.starts_with(notes[7].1) && fenced.matches("## Closest").count() == 2,
        "{fenced}"
    );
    let middle = String::from_utf8(read("middle.md")).expect("utf-8");
    assert!(
        middle.starts_with("# Middle\n\nBody about tomato beds.\n\n## Closest\n\n* [")
            && middle.ends_with("\n\n## Later\n\nKept as is.\n")
            && !middle.contains("old"),
        "{middle}"
    );
    let closer = String::from_utf8(read("closer.md")).expect("utf-8");
    assert!(
        closer.starts_with("# Closer\n\nTomato plants on a sunny wall.\n\n## Closest ##   \n\n* [")
            && !closer.contains("[x]"),
        "{closer}"
    );
    assert_eq!(read("empty.md"), b"", "an empty note has nothing to list");
}

/// With `id-scheme = "stem"`, two notes with the same id stop the run before anything is
/// written, naming both files. (The default scheme gives them longer ids instead.)
#[test]
fn duplicate_ids_are_an_error_naming_both_files() {
    let scratch = Scratch::new();
    scratch.write("notes/a/same.md", "# One\n\nFirst.\n");
    scratch.write("notes/b/same.md", "# Two\n\nSecond.\n");
    let root = scratch.path().join("notes");
    let output = closest(
        &[
            "update",
            root.to_str().expect("path"),
            "--id-scheme",
            "stem",
        ],
        None,
        None,
    );
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("a/same.md")
            && message.contains("b/same.md")
            && message.contains("relative-path"),
        "{message}"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("a/same.md")).expect("read"),
        "# One\n\nFirst.\n"
    );
}

/// A broken model is a clear error before any note is touched.
#[test]
fn a_broken_model_fails_before_any_note_is_touched() {
    let scratch = Scratch::new();
    let notes = [
        (
            "one.md",
            "# One\n\nGardening in raised beds with compost.\n",
        ),
        ("two.md", "# Two\n\nCooking rice in a heavy pot.\n"),
    ];
    for (name, text) in notes {
        scratch.write(&format!("notes/{name}"), text);
    }
    let model = scratch.path().join("model");
    std::fs::create_dir_all(&model).expect("mkdir");
    for name in ["config.json", "tokenizer.json"] {
        std::fs::copy(crate::fixture::model_dir().join(name), model.join(name)).expect("copy");
    }
    std::fs::write(
        model.join("model.safetensors"),
        b"\x08\x00\x00\x00\x00\x00\x00\x00{}",
    )
    .expect("write");
    let root = scratch.path().join("notes");
    let output = closest(
        &[
            "update",
            root.to_str().expect("path"),
            "--model",
            model.to_str().expect("path"),
        ],
        None,
        None,
    );
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("model.safetensors"),
        "{}",
        stderr(&output)
    );
    for (name, text) in notes {
        assert_eq!(
            std::fs::read_to_string(root.join(name)).expect("read"),
            text
        );
    }
}

/// A 20 MB note is embedded from its first 256 tokens, and spliced without harm.
#[test]
fn a_twenty_megabyte_note_is_handled() {
    let scratch = Scratch::new();
    let big: String = "# Big\n\n".to_owned()
        + &"Tomatoes need sun, water and compost. ".repeat(20 * 1024 * 1024 / 38);
    scratch.write("notes/big.md", &big);
    scratch.write(
        "notes/small.md",
        "# Small\n\nComposting kitchen scraps for tomatoes.\n",
    );
    let root = scratch.path().join("notes");
    ok(closest(
        &["update", root.to_str().expect("path"), "-k", "1"],
        None,
        None,
    ));
    let after = std::fs::read_to_string(root.join("big.md")).expect("read");
    assert!(
        after.starts_with(&big) && after.ends_with("## Closest\n\n* [small](small)"),
        "{}",
        &after[after.len() - 60..]
    );
}

/// A note that turns unreadable after a run leaves the run (a warning names it, its bytes stay,
/// no list keeps it), and the other notes end as a run from scratch writes them.
#[test]
fn a_note_that_turns_unreadable_leaves_every_list() {
    let scratch = Scratch::new();
    let notes = [
        (
            "a.md",
            "# A\n\nTomatoes need sun and compost in the garden.\n",
        ),
        (
            "b.md",
            "# B\n\nCompost heaps for tomato beds in the garden.\n",
        ),
        (
            "c.md",
            "# C\n\nPruning tomato plants in the summer garden.\n",
        ),
        (
            "d.md",
            "# D\n\nWatering tomatoes in the dry garden weather.\n",
        ),
        (
            "e.md",
            "# E\n\nSaving tomato seeds from the garden for next year.\n",
        ),
    ];
    for (name, text) in notes {
        scratch.write(&format!("notes/{name}"), text);
    }
    let root = scratch.path().join("notes");
    let update = || {
        closest(
            &["update", root.to_str().expect("path"), "-k", "3"],
            None,
            None,
        )
    };
    ok(update());
    assert!(
        closest_links(&std::fs::read_to_string(root.join("a.md")).expect("read"))
            .contains(&"b".to_owned())
    );
    std::fs::write(root.join("b.md"), b"# B\n\n\xff\xfe not utf-8\n").expect("write");
    let output = update();
    let warnings = stderr(&output);
    ok(output);
    assert!(warnings.contains("b.md"), "{warnings}");
    assert_eq!(
        std::fs::read(root.join("b.md")).expect("read"),
        b"# B\n\n\xff\xfe not utf-8\n"
    );
    let incremental = snapshot(&root);
    for (path, bytes) in &incremental {
        let text = String::from_utf8_lossy(bytes);
        assert!(
            !closest_links(&text).contains(&"b".to_owned()),
            "{}: {text}",
            path.display()
        );
    }
    // From scratch: the folder with its lock file, without the state folder.
    std::fs::remove_dir_all(root.join(".closest")).expect("remove the state");
    ok(update());
    assert_eq!(snapshot(&root), incremental);
}
