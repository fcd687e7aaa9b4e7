//! Links that resolve from the note they are in: a nested folder (the til notes in their own
//! topic folders, two of them named `github-pages.md`) and a small Obsidian vault, for every
//! template; the default run does not stop on repeated names; note templates are skipped.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use crate::fixture::{closest, ok, snapshot, stdout, test_data, Scratch};

/// Resolves a managed markdown link as a renderer does: a path from the note's folder, `.md`
/// added when absent.
fn resolves(root: &Path, from: &Path, target: &str) -> Option<PathBuf> {
    let folder = from.parent().unwrap_or(Path::new(""));
    let decoded = target.replace("%20", " ");
    let mut path = root.join(folder).join(decoded);
    if path.extension().is_none_or(|ext| ext != "md") {
        path.set_extension(format!(
            "{}md",
            path.extension()
                .map_or(String::new(), |e| format!("{}.", e.to_string_lossy()))
        ));
    }
    path.canonicalize().ok().filter(|path| path.is_file())
}

/// The markdown link targets of a note's `## Closest` section.
fn section_targets(text: &str) -> Vec<String> {
    let Some(start) = text.find("\n## Closest\n") else {
        return Vec::new();
    };
    text[start + 1..]
        .lines()
        .skip(1)
        .take_while(|line| !line.starts_with('#'))
        .filter_map(|line| {
            line.split_once("](")
                .map(|(_, rest)| rest.trim_end_matches(')').to_owned())
        })
        .collect()
}

fn vault(scratch: &Scratch) -> PathBuf {
    let root = scratch.path().join("vault");
    let notes = [
        (
            "daily/2026-11-01.md",
            "# 2026-11-01\n\nFed the sourdough starter; planned the garden beds.\n",
        ),
        (
            "daily/2026-11-02.md",
            "# 2026-11-02\n\nBaked bread with the starter. Watered the seedlings.\n",
        ),
        (
            "projects/sourdough-starter.md",
            "# Sourdough starter\n\nFlour and water, fed daily.\n",
        ),
        (
            "projects/garden.md",
            "# Garden\n\nRaised beds, compost and seedlings.\n",
        ),
        (
            "projects/README.md",
            "# Projects\n\nWhat I am working on.\n",
        ),
        (
            "README.md",
            "# Vault\n\nMy notes on baking and gardening.\n",
        ),
        ("templates/daily.md", "# {{date}}\n\n{{title}}\n"),
    ];
    for (path, text) in notes {
        let path = root.join(path);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, text).expect("write");
    }
    std::fs::create_dir_all(root.join(".obsidian")).expect("mkdir");
    std::fs::write(
        root.join(".obsidian/templates.json"),
        "{\"folder\": \"templates\"}",
    )
    .expect("config");
    root
}

#[test]
fn every_written_link_resolves_in_nested_folders() {
    links_resolve_in_nested_folders(&test_data().join("til/notes"), |_| true);
}

pub(crate) fn links_resolve_in_nested_folders(source: &Path, filter: impl Fn(&Path) -> bool) {
    let scratch = Scratch::new();
    let til = scratch.copy_notes(source, "til", filter);
    let vault = vault(&scratch);
    for root in [&til, &vault] {
        for template in ["bullet", "title-path", "wiki"] {
            let root_arg = root.to_str().expect("utf-8");
            let output = closest(
                &["update", root_arg, "--template", template, "-k", "4"],
                None,
                None,
            );
            ok(output);
            let check = closest(
                &["check-links", root_arg, "--template", template],
                None,
                None,
            );
            assert_eq!(
                check.status.code(),
                Some(0),
                "{template}: {}",
                stdout(&check)
            );
            if template == "wiki" {
                continue;
            }
            for (path, bytes) in snapshot(root) {
                let text = String::from_utf8(bytes).expect("utf-8");
                for target in section_targets(&text) {
                    assert!(
                        resolves(root, &path, &target).is_some(),
                        "{template}: `{}` links `{target}`, which resolves to no note",
                        path.display()
                    );
                }
            }
        }
    }
    // Two notes named github-pages.md get ids that tell them apart; the run did not stop.
    let pages: Vec<_> = snapshot(&til)
        .into_iter()
        .filter(|(path, _)| path.ends_with("github-pages.md"))
        .collect();
    assert_eq!(pages.len(), 2);
    // Wikilinks name each note uniquely.
    ok(closest(
        &["update", til.to_str().expect("utf-8"), "--template", "wiki"],
        None,
        None,
    ));
    let mut names = BTreeSet::new();
    for (_, bytes) in snapshot(&til) {
        let text = String::from_utf8(bytes).expect("utf-8");
        for line in text.lines().filter(|line| line.starts_with("- [[")) {
            names.insert(line.to_owned());
        }
    }
    assert!(
        names.iter().any(|name| name.contains("/github-pages]]")),
        "{names:?}"
    );
    assert!(
        !names.contains("- [[github-pages]]"),
        "an ambiguous name is never written"
    );
}

#[test]
fn note_templates_are_skipped_and_status_says_so() {
    let scratch = Scratch::new();
    let vault = vault(&scratch);
    let root_arg = vault.to_str().expect("utf-8");
    ok(closest(&["update", root_arg], None, None));
    let template = std::fs::read_to_string(vault.join("templates/daily.md")).expect("read");
    assert_eq!(
        template, "# {{date}}\n\n{{title}}\n",
        "the template is left alone"
    );
    for (path, bytes) in snapshot(&vault) {
        let text = String::from_utf8(bytes).expect("utf-8");
        assert!(
            !text.contains("templates/daily"),
            "`{}` lists the template",
            path.display()
        );
    }
    let daily = std::fs::read_to_string(vault.join("daily/2026-11-01.md")).expect("read");
    assert!(
        daily.contains("](../projects/sourdough-starter.md)"),
        "{daily}"
    );
    let status = ok(closest(&["status", root_arg], None, None));
    assert!(status.contains("templates"), "{status}");
}
