//! Walking a notes folder: ignore files, hidden folders, globs, ids and symlinks.

use std::fs;
use std::path::{Path, PathBuf};

use closest_notes::{
    stat_path, walk, walk_with_stats, Error, IdScheme, Walk, WalkOptions, Warning,
};

fn tree(files: &[&str]) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    for file in files {
        let path = root.path().join(file);
        fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        fs::write(&path, format!("# {file}\n")).expect("write");
    }
    root
}

fn walked(root: &Path, options: &WalkOptions) -> Walk {
    walk(root, options).expect("walks")
}

fn ids(walk: &Walk) -> Vec<&str> {
    walk.notes.iter().map(|note| note.id.as_str()).collect()
}

#[test]
fn finds_markdown_notes_sorted_by_id() {
    let root = tree(&[
        "b.md",
        "sub/a.md",
        "sub/deep/c.md",
        "image.png",
        "readme.txt",
    ]);
    let walk = walked(root.path(), &WalkOptions::default());
    assert_eq!(ids(&walk), ["a", "b", "c"]);
    assert_eq!(walk.notes[0].rel_path, PathBuf::from("sub/a.md"));
    assert_eq!(walk.notes[0].path, root.path().join("sub/a.md"));
    assert!(walk.warnings.is_empty());
}

#[test]
fn stats_taken_by_the_walk_are_each_notes_own() {
    let root = tree(&["b.md", "sub/a.md", "sub/deep/c.md", "sub/deep/d.md", "e.md"]);
    fs::write(
        root.path().join("sub/deep/c.md"),
        "# a longer note\n\nwith text\n",
    )
    .expect("write");
    let (walk, stats) = walk_with_stats(root.path(), &WalkOptions::default()).expect("walks");
    assert_eq!(
        walk.notes,
        walked(root.path(), &WalkOptions::default()).notes
    );
    assert_eq!(stats.len(), walk.notes.len());
    for (note, stat) in walk.notes.iter().zip(&stats) {
        assert_eq!(*stat, stat_path(&note.path), "{}", note.path.display());
        assert!(stat.is_some());
    }
}

#[test]
fn ignore_files_are_honoured_without_a_repository() {
    let root = tree(&["keep.md", "drafts/d.md", "x.tmp.md", "private/p.md", "o.md"]);
    fs::write(root.path().join(".gitignore"), "drafts/\n").expect("write");
    fs::write(root.path().join(".ignore"), "*.tmp.md\n").expect("write");
    fs::write(root.path().join(".closestignore"), "private/\no.md\n").expect("write");
    assert_eq!(ids(&walked(root.path(), &WalkOptions::default())), ["keep"]);
}

#[test]
fn hidden_files_and_folders_are_skipped() {
    let root = tree(&[
        "n.md",
        ".obsidian/w.md",
        ".closest/s.md",
        ".git/g.md",
        ".hidden.md",
    ]);
    assert_eq!(ids(&walked(root.path(), &WalkOptions::default())), ["n"]);
}

#[test]
fn include_and_exclude_globs_match_the_relative_path() {
    let root = tree(&["a.md", "journal/j.md", "journal/old/o.md", "ref/r.md"]);
    let options = WalkOptions {
        include: vec!["journal/**".to_string(), "a.md".to_string()],
        exclude: vec!["journal/old".to_string()],
        ..WalkOptions::default()
    };
    assert_eq!(ids(&walked(root.path(), &options)), ["a", "j"]);
    let bad = WalkOptions {
        exclude: vec!["a[".to_string()],
        ..WalkOptions::default()
    };
    assert!(matches!(
        walk(root.path(), &bad),
        Err(Error::InvalidGlob { .. })
    ));
}

#[test]
fn duplicate_ids_name_both_files_and_the_fix() {
    let root = tree(&["a/same.md", "b/same.md"]);
    // The stem scheme refuses repeated names; the default tells them apart (below).
    let stem = WalkOptions {
        id_scheme: IdScheme::Stem,
        ..WalkOptions::default()
    };
    let error = walk(root.path(), &stem).expect_err("duplicate");
    let message = error.to_string();
    assert!(matches!(error, Error::DuplicateId { ref id, .. } if id == "same"));
    assert!(
        message.contains("a/same.md") && message.contains("b/same.md"),
        "{message}"
    );
    assert!(message.contains("relative-path id scheme"), "{message}");

    let options = WalkOptions {
        id_scheme: IdScheme::RelativePath,
        ..WalkOptions::default()
    };
    assert_eq!(ids(&walked(root.path(), &options)), ["a/same", "b/same"]);
}

#[test]
fn missing_root_is_an_error() {
    let root = tempfile::tempdir().expect("tempdir");
    let missing = root.path().join("nope");
    let error = walk(&missing, &WalkOptions::default()).expect_err("missing");
    assert!(error.to_string().contains("nope"), "{error}");
}

#[cfg(unix)]
#[test]
fn symlinks_are_skipped_with_a_warning_unless_followed() {
    let outside = tree(&["out.md"]);
    let root = tree(&["n.md"]);
    std::os::unix::fs::symlink(outside.path().join("out.md"), root.path().join("link.md"))
        .expect("symlink");
    std::os::unix::fs::symlink(outside.path(), root.path().join("dir")).expect("symlink");

    let walk = walked(root.path(), &WalkOptions::default());
    assert_eq!(ids(&walk), ["n"]);
    assert_eq!(
        walk.warnings,
        [Warning::SymlinkSkipped {
            path: root.path().join("link.md")
        }]
    );
    assert!(walk.warnings[0].to_string().contains("link.md"));

    let follow = WalkOptions {
        follow_symlinks: true,
        ..WalkOptions::default()
    };
    // Followed, links stay inside the notes root: those that lead out are skipped and said.
    std::os::unix::fs::symlink(root.path().join("n.md"), root.path().join("inside.md"))
        .expect("symlink");
    let walk = walked(root.path(), &follow);
    assert_eq!(ids(&walk), ["inside", "n"]);
    let mut outside: Vec<&std::path::Path> = walk
        .warnings
        .iter()
        .filter(|warning| matches!(warning, Warning::LinkOutsideRoot { .. }))
        .map(Warning::path)
        .collect();
    outside.sort();
    assert_eq!(
        outside,
        [root.path().join("dir"), root.path().join("link.md")]
    );
}

#[cfg(unix)]
#[test]
fn symlink_loop_is_a_warning_not_an_error() {
    let root = tree(&["n.md", "sub/s.md"]);
    std::os::unix::fs::symlink(root.path(), root.path().join("sub/loop")).expect("symlink");
    let follow = WalkOptions {
        follow_symlinks: true,
        ..WalkOptions::default()
    };
    let walk = walked(root.path(), &follow);
    assert_eq!(ids(&walk), ["n", "s"]);
    assert!(
        matches!(walk.warnings.as_slice(), [Warning::SymlinkLoop { .. }]),
        "{:?}",
        walk.warnings
    );
}

#[cfg(unix)]
#[test]
fn unreadable_folder_is_a_warning() {
    use std::os::unix::fs::PermissionsExt;
    let root = tree(&["n.md", "locked/l.md"]);
    let locked = root.path().join("locked");
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o000)).expect("chmod");
    // Root reads any folder, so there is nothing to see when the tests run as root.
    let readable = fs::read_dir(&locked).is_ok();
    let walk = walked(root.path(), &WalkOptions::default());
    fs::set_permissions(&locked, fs::Permissions::from_mode(0o755)).expect("chmod back");
    if readable {
        // As root (CI here) the folder stays readable: then its note must simply be walked.
        assert_eq!(ids(&walk), ["l", "n"]);
        assert!(walk.warnings.is_empty(), "{:?}", walk.warnings);
        return;
    }
    assert_eq!(ids(&walk), ["n"]);
    assert!(
        matches!(walk.warnings.as_slice(), [Warning::Unreadable { .. }]),
        "{:?}",
        walk.warnings
    );
}

#[test]
fn broken_ignore_file_line_is_a_warning() {
    let root = tree(&["a.md", "b.md"]);
    fs::write(root.path().join(".closestignore"), "b.md\n{unclosed\n").expect("write");
    let walk = walked(root.path(), &WalkOptions::default());
    assert_eq!(ids(&walk), ["a"]);
    assert!(
        matches!(walk.warnings.as_slice(), [Warning::IgnoreFile { .. }]),
        "{:?}",
        walk.warnings
    );
}

#[test]
fn repeated_names_get_path_suffixes_by_default() {
    let root = tree(&[
        "a/same.md",
        "b/same.md",
        "c/deep/same.md",
        "unique.md",
        "d/other.md",
    ]);
    let walk = walked(root.path(), &WalkOptions::default());
    assert_eq!(
        ids(&walk),
        ["a/same", "b/same", "deep/same", "other", "unique"]
    );
}

#[test]
fn obsidian_template_folders_are_skipped_and_reported() {
    let root = tree(&[
        "n.md",
        "templates/daily.md",
        "Meta/Tpl/t.md",
        "templatesX/kept.md",
    ]);
    fs::create_dir_all(root.path().join(".obsidian")).expect("mkdir");
    fs::write(
        root.path().join(".obsidian/templates.json"),
        r#"{"folder": "templates/"}"#,
    )
    .expect("write");
    let templater = root.path().join(".obsidian/plugins/templater-obsidian");
    fs::create_dir_all(&templater).expect("mkdir");
    fs::write(
        templater.join("data.json"),
        r#"{"templates_folder": "Meta/Tpl"}"#,
    )
    .expect("write");
    let walk = walked(root.path(), &WalkOptions::default());
    assert_eq!(ids(&walk), ["kept", "n"]);
    let folders: Vec<&Path> = walk
        .template_folders
        .iter()
        .map(|f| f.path.as_path())
        .collect();
    assert_eq!(folders, [Path::new("templates"), Path::new("Meta/Tpl")]);
    assert!(walk.warnings.is_empty(), "{:?}", walk.warnings);

    let keep = WalkOptions {
        exclude_template_folders: false,
        ..WalkOptions::default()
    };
    let walk = walked(root.path(), &keep);
    assert_eq!(ids(&walk), ["daily", "kept", "n", "t"]);
    assert!(walk.template_folders.is_empty());
}

#[test]
fn broken_template_settings_are_a_warning() {
    let root = tree(&["n.md", "templates/daily.md"]);
    fs::create_dir_all(root.path().join(".obsidian")).expect("mkdir");
    fs::write(
        root.path().join(".obsidian/templates.json"),
        "{folder: oops",
    )
    .expect("write");
    let walk = walked(root.path(), &WalkOptions::default());
    assert_eq!(ids(&walk), ["daily", "n"]);
    assert!(
        matches!(walk.warnings.as_slice(), [Warning::TemplateSettings { .. }]),
        "{:?}",
        walk.warnings
    );
    assert!(walk.warnings[0].to_string().contains("templates.json"));
}

#[test]
fn list_pages_are_not_notes_unless_included() {
    let root = tree(&[
        "_index.md",
        "posts/_index.md",
        "posts/first.md",
        "posts/my_index.md",
    ]);
    let walk = walked(root.path(), &WalkOptions::default());
    let paths: Vec<String> = walk
        .notes
        .iter()
        .map(|note| note.rel_path.to_string_lossy().into_owned())
        .collect();
    assert_eq!(paths, ["posts/first.md", "posts/my_index.md"]);
    let options = WalkOptions {
        include: vec!["**/_index.md".into(), "**/first.md".into()],
        ..WalkOptions::default()
    };
    let walk = walked(root.path(), &options);
    assert_eq!(walk.notes.len(), 3);
}
