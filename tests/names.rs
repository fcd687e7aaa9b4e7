//! Naming notes as a person sees them (issue 31): `similar --note` and `explain` take an id, a
//! path from the notes root or from the current folder, an absolute path or a file name; a
//! name that fits two notes lists them, one that fits none suggests the nearest ids.

use crate::fixture::{closest, ok, stderr, test_data, Scratch};

/// `similar --note NAME` from `cwd`: the ids it lists, or the failure's message.
fn similar(root: &str, name: &str, cwd: Option<&std::path::Path>) -> Result<Vec<String>, String> {
    let output = closest(
        &[
            "similar", "--note", name, "--notes", root, "--format", "json", "-k", "3",
        ],
        cwd,
        None,
    );
    if !output.status.success() {
        return Err(stderr(&output));
    }
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .map(|line| {
            let hit: serde_json::Value = serde_json::from_str(line).expect("json line");
            assert!(hit["title"].is_string(), "{hit}");
            hit["id"].as_str().expect("id").to_owned()
        })
        .collect())
}

#[test]
fn a_note_is_named_by_id_path_or_file_name() {
    let scratch = Scratch::new();
    let root = scratch.copy_notes(&test_data().join("til/notes/jbranchaud"), "til", |_| true);
    let twin = "# Twin\n\nA second note named like a tmux one, about splitting tmux panes.\n";
    std::fs::create_dir_all(root.join("more")).expect("mkdir");
    std::fs::write(root.join("more/jumping-between-sessions.md"), twin).expect("write");
    let root_arg = root.to_str().expect("utf-8");
    ok(closest(&["update", root_arg], None, None));

    let by_path = similar(root_arg, "tmux/list-all-key-bindings.md", None).expect("a path");
    assert_eq!(by_path.len(), 3);
    for name in [
        "list-all-key-bindings",
        "tmux/list-all-key-bindings",
        "list-all-key-bindings.md",
        "List-All-Key-Bindings",
    ] {
        assert_eq!(
            similar(root_arg, name, None).as_ref(),
            Ok(&by_path),
            "{name}"
        );
    }
    let absolute = root.join("tmux/list-all-key-bindings.md");
    let absolute = absolute.to_str().expect("utf-8");
    assert_eq!(similar(root_arg, absolute, None).as_ref(), Ok(&by_path));
    // A path from the current folder, run inside the folder's `tmux/`.
    let inside = similar(
        root_arg,
        "./list-all-key-bindings.md",
        Some(&root.join("tmux")),
    );
    assert_eq!(inside.as_ref(), Ok(&by_path));

    let ambiguous = similar(root_arg, "jumping-between-sessions.md", None)
        .expect_err("two notes have that file name");
    assert!(
        ambiguous.contains("more/jumping-between-sessions.md")
            && ambiguous.contains("tmux/jumping-between-sessions.md"),
        "{ambiguous}"
    );
    let unknown = similar(root_arg, "list-all-key-bindngs", None).expect_err("a typo");
    assert!(
        unknown.contains("did you mean `list-all-key-bindings`"),
        "{unknown}"
    );
    let explained = ok(closest(
        &[
            "explain",
            "tmux/list-all-key-bindings.md",
            &by_path[0],
            "--notes",
            root_arg,
            "--format",
            "json",
        ],
        None,
        None,
    ));
    assert!(
        explained.contains("\"list-all-key-bindings\""),
        "{explained}"
    );
}
