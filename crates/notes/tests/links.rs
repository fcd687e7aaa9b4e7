//! Every link `closest` writes reaches the note it names, checked with the renderer's rules on
//! a nested copy of the til notes and a small Obsidian vault, and the flat seed folder keeps
//! its exact bytes.

use std::fs;
use std::path::{Component, Path, PathBuf};

use closest_notes::{
    managed_links, parse, read_note, render_links_with, splice, splice_front_matter, walk, Error,
    IdScheme, LinkForm, LinkKind, LinkStyle, LinkTarget, NoteFile, Region, Resolved, Resolver,
    SectionSpec, Template, WalkOptions,
};

use crate::real_notes::test_data;

fn copy_tree(from: &Path, to: &Path) {
    fs::create_dir_all(to).expect("mkdir");
    for entry in fs::read_dir(from).expect("list") {
        let entry = entry.expect("entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            fs::copy(entry.path(), &target).expect("copy");
        }
    }
}

fn write(root: &Path, rel: &str, text: &str) {
    let path = root.join(rel);
    fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
    fs::write(path, text).expect("write");
}

/// The til notes in their topic folders, and the vault of the issue beside them: `daily/`,
/// `projects/`, `templates/` named by `.obsidian/templates.json`, a note at the root sharing a
/// name with one in `daily/`.
fn nested_folder() -> tempfile::TempDir {
    nested_folder_of(&test_data().join("til/notes"))
}

pub(crate) fn nested_folder_of(til: &Path) -> tempfile::TempDir {
    let root = tempfile::tempdir().expect("tempdir");
    copy_tree(til, root.path());
    write(
        root.path(),
        "daily/2026-11-01.md",
        "# 2026-11-01\n\nFed the starter.\n",
    );
    write(
        root.path(),
        "daily/2026-11-02.md",
        "# 2026-11-02\n\nBaked.\n",
    );
    write(root.path(), "daily/index.md", "# Daily index\n");
    write(root.path(), "index.md", "# Index\n");
    write(
        root.path(),
        "projects/sourdough-starter.md",
        "# Sourdough starter\n",
    );
    write(root.path(), "projects/odd (name) #1.md", "# Odd\n");
    write(
        root.path(),
        "templates/daily.md",
        "# {{date}}\n\n{{title}}\n",
    );
    write(
        root.path(),
        ".obsidian/templates.json",
        r#"{"folder": "templates"}"#,
    );
    root
}

/// The renderer's rule, on the file system: the destination from the note's folder,
/// percent-decoded, `.md` added when absent. Returns the path relative to the root.
fn follow_markdown(root: &Path, from: &NoteFile, dest: &str) -> Option<PathBuf> {
    assert!(!dest.contains("://"), "{dest}");
    let mut decoded = Vec::new();
    let bytes = dest.as_bytes();
    let mut index = 0;
    while index < bytes.len() {
        if bytes[index] == b'%' {
            let hex = std::str::from_utf8(&bytes[index + 1..index + 3]).ok()?;
            decoded.push(u8::from_str_radix(hex, 16).ok()?);
            index += 3;
        } else {
            decoded.push(bytes[index]);
            index += 1;
        }
    }
    let mut path = String::from_utf8(decoded).ok()?;
    if !path.to_ascii_lowercase().ends_with(".md") {
        path.push_str(".md");
    }
    let mut resolved = PathBuf::new();
    for component in from.rel_path.parent()?.join(&path).components() {
        match component {
            Component::ParentDir => {
                resolved.pop().then_some(())?;
            }
            Component::Normal(name) => resolved.push(name),
            _ => {}
        }
    }
    root.join(&resolved).is_file().then_some(resolved)
}

/// Obsidian's rule: a path from the root, else the one note whose path ends with the name.
fn follow_wiki(notes: &[NoteFile], name: &str) -> Option<PathBuf> {
    let stem = |note: &NoteFile| {
        let rel = note.rel_path.to_string_lossy().replace('\\', "/");
        rel[..rel.len() - 3].to_string()
    };
    if let Some(note) = notes.iter().find(|note| stem(note) == name) {
        return Some(note.rel_path.clone());
    }
    let ending: Vec<&NoteFile> = notes
        .iter()
        .filter(|note| stem(note).ends_with(&format!("/{name}")))
        .collect();
    match ending.as_slice() {
        [one] => Some(one.rel_path.clone()),
        _ => None,
    }
}

fn templates() -> Vec<Template> {
    vec![
        Template::Bullet,
        Template::Wiki,
        Template::TitlePath,
        Template::custom("- {title}: [{id}]({link})").expect("valid"),
        Template::custom("1. [{id}]({path})").expect("valid"),
        Template::custom("* [{id}]({link}) ({score})").expect("valid"),
    ]
}

/// A link to `note`; these tests have no vectors, so every score is one.
fn target(note: &NoteFile) -> LinkTarget {
    LinkTarget {
        id: note.id.clone(),
        title: format!("Title of {}", note.id),
        rel_path: note.rel_path.clone(),
        score: 1.0,
    }
}

#[test]
fn every_written_link_reaches_its_note() {
    every_link_reaches_its_note(&nested_folder(), 160);
}

pub(crate) fn every_link_reaches_its_note(root: &tempfile::TempDir, at_least: usize) {
    let stem = WalkOptions {
        id_scheme: IdScheme::Stem,
        ..WalkOptions::default()
    };
    assert!(matches!(
        walk(root.path(), &stem),
        Err(Error::DuplicateId { .. })
    ));
    let spec = SectionSpec::default();
    for scheme in [IdScheme::Shortest, IdScheme::RelativePath] {
        let options = WalkOptions {
            id_scheme: scheme,
            ..WalkOptions::default()
        };
        let walked = walk(root.path(), &options).expect("walks");
        let notes = &walked.notes;
        assert!(notes.len() > at_least, "{}", notes.len());
        assert!(notes
            .iter()
            .all(|note| !note.rel_path.starts_with("templates")));
        assert_eq!(walked.template_folders.len(), 1);
        let mut ids: Vec<&str> = notes.iter().map(|note| note.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), notes.len(), "ids are unique");
        let resolver = Resolver::new(notes);
        let count = notes.len();
        // Every note links to five others spread over the folder; every eleventh note is
        // checked under every template and form, the rest under the default.
        for (index, from) in notes.iter().enumerate() {
            let chosen: Vec<&NoteFile> = (1..=5)
                .map(|k| &notes[(index + k * 347) % count])
                .filter(|note| note.id != from.id)
                .collect();
            // Falling scores, some of them awkward to round, as a ranked list has them.
            let targets: Vec<LinkTarget> = chosen
                .iter()
                .enumerate()
                .map(|(rank, note)| LinkTarget {
                    score: 0.905 - 0.0725 * rank as f32,
                    ..target(note)
                })
                .collect();
            let note = read_note(from).expect("reads");
            let parsed = note.parse(&spec).expect("parses");
            let combos: Vec<(Template, LinkForm)> = if index % 11 == 0 {
                templates()
                    .into_iter()
                    .flat_map(|t| {
                        [LinkForm::WithExtension, LinkForm::WithoutExtension]
                            .map(|form| (t.clone(), form))
                    })
                    .collect()
            } else {
                vec![(Template::Bullet, LinkForm::WithExtension)]
            };
            for (template, form) in combos {
                let spec = spec.clone().with_custom_lines(template.custom_lines());
                let links = render_links_with(&template, from, &targets, form);
                let written = splice(note.text(), &parsed, &spec, &links);
                let again = parse(&written, &spec).expect("parses");
                let managed = managed_links(&again, &Region::from(&spec));
                assert_eq!(managed.len(), chosen.len(), "{written}");
                for (link, intended) in managed.iter().zip(&chosen) {
                    let reached = match link.kind {
                        LinkKind::Markdown => follow_markdown(root.path(), from, &link.target),
                        _ => follow_wiki(notes, &link.target),
                    };
                    assert_eq!(
                        reached.as_ref(),
                        Some(&intended.rel_path),
                        "{template:?} {form:?} in {}: {link:?}",
                        from.rel_path.display()
                    );
                    assert_eq!(
                        resolver.resolve(from, link),
                        Resolved::Note(intended),
                        "{template:?} {form:?} in {}: {link:?}",
                        from.rel_path.display()
                    );
                }
            }
            if index % 11 == 0 {
                let ids: Vec<String> = chosen.iter().map(|note| note.id.clone()).collect();
                let written = splice_front_matter(note.text(), "closest", &ids);
                let again = parse(&written, &spec).expect("parses");
                let managed = managed_links(&again, &Region::front_matter("closest"));
                let reached: Vec<Resolved> = managed
                    .iter()
                    .map(|link| resolver.resolve(from, link))
                    .collect();
                let expected: Vec<Resolved> = chosen.iter().map(|n| Resolved::Note(n)).collect();
                assert_eq!(reached, expected, "{written}");
            }
        }
    }
}

#[test]
fn the_vault_of_the_issue_gets_working_links() {
    let root = nested_folder();
    let walked = walk(root.path(), &WalkOptions::default()).expect("walks");
    let find = |rel: &str| {
        walked
            .notes
            .iter()
            .find(|note| note.rel_path == Path::new(rel))
            .expect("note")
    };
    let from = find("daily/2026-11-01.md");
    let targets = [
        target(find("projects/sourdough-starter.md")),
        target(find("daily/2026-11-02.md")),
        target(find("index.md")),
        target(find("projects/odd (name) #1.md")),
    ];
    assert_eq!(targets[2].id, "index", "a root note keeps its name");
    assert_eq!(find("daily/index.md").id, "daily/index");
    assert_eq!(
        render_links_with(&Template::Bullet, from, &targets, LinkForm::WithExtension),
        [
            "* [sourdough-starter](../projects/sourdough-starter.md)",
            "* [2026-11-02](2026-11-02.md)",
            "* [index](../index.md)",
            "* [odd (name) #1](../projects/odd%20%28name%29%20%231.md)",
        ]
    );
    // A wikilink cannot name `odd (name) #1`: `#` would start a heading. It gets a markdown
    // link, which resolves (this was a bug: `[[odd (name) #1]]` reached no note).
    let wiki = render_links_with(&Template::Wiki, from, &targets, LinkForm::WithoutExtension);
    assert_eq!(
        wiki,
        [
            "- [[sourdough-starter]]",
            "- [[2026-11-02]]",
            "- [[index]]",
            "- [odd (name) #1](../projects/odd%20%28name%29%20%231.md)",
        ]
    );
    let resolver = Resolver::new(&walked.notes);
    let spec = SectionSpec::default();
    let text = format!("# Day\n\n## Closest\n\n{}\n", wiki.join("\n"));
    let parsed = parse(&text, &spec).expect("parses");
    let reached: Vec<Resolved> = managed_links(&parsed, &Region::from(&spec))
        .iter()
        .map(|link| resolver.resolve(from, link))
        .collect();
    let expected: Vec<Resolved> = targets
        .iter()
        .map(|target| Resolved::Note(find(target.rel_path.to_str().expect("utf-8"))))
        .collect();
    assert_eq!(reached, expected);
}

#[test]
fn a_link_that_leads_nowhere_is_found_with_its_line() {
    let root = nested_folder();
    let walked = walk(root.path(), &WalkOptions::default()).expect("walks");
    let resolver = Resolver::new(&walked.notes);
    let from = walked
        .notes
        .iter()
        .find(|note| note.rel_path == Path::new("daily/2026-11-01.md"))
        .expect("note");
    let text = "# Day\n\n## Closest\n\n* [sourdough-starter](sourdough-starter)\n- [[index]]\n* [2026-11-02](2026-11-02)\n- [[github-pages]]\n";
    let parsed = parse(text, &SectionSpec::default()).expect("parses");
    let report: Vec<(usize, bool)> = managed_links(&parsed, &Region::from(&SectionSpec::default()))
        .iter()
        .map(|link| {
            (
                link.line,
                matches!(resolver.resolve(from, link), Resolved::Note(_)),
            )
        })
        .collect();
    assert_eq!(report, [(5, false), (6, true), (7, true), (8, false)]);
    let github = managed_links(&parsed, &Region::from(&SectionSpec::default()))[3].clone();
    assert!(
        matches!(resolver.resolve(from, &github), Resolved::Ambiguous(ref notes) if notes.len() == 2)
    );
}

#[test]
fn the_flat_seed_folder_renders_its_exact_bytes() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/notes");
    let walked = walk(&root, &WalkOptions::default()).expect("walks");
    assert!(walked.notes.len() > 20);
    let spec = SectionSpec::default();
    let mut evidence = closest_notes::LinkEvidence::default();
    let mut parsed_notes = Vec::new();
    for file in &walked.notes {
        let note = read_note(file).expect("reads");
        let parsed = note.parse(&spec).expect("parses");
        evidence += parsed.link_style_evidence();
        parsed_notes.push((note, parsed));
    }
    let form = LinkStyle::Auto.resolve(evidence, &walked.notes);
    assert_eq!(form, LinkForm::WithoutExtension);
    assert_eq!(
        LinkStyle::Auto.resolve(Default::default(), &walked.notes),
        form
    );
    let by_id = |id: &str| walked.notes.iter().find(|note| note.id == id).map(target);
    let mut with_lists = 0;
    for (note, parsed) in &parsed_notes {
        let listed: Vec<LinkTarget> = managed_links(parsed, &Region::from(&spec))
            .iter()
            .map(|link| by_id(&link.target).expect("a listed note exists"))
            .collect();
        if listed.is_empty() {
            // Nothing near enough to list: the note has no section.
            assert!(!parsed.has_section(), "{}", note.id());
            continue;
        }
        with_lists += 1;
        let links = render_links_with(&Template::Bullet, note.file(), &listed, form);
        assert_eq!(
            splice(note.text(), parsed, &spec, &links),
            note.text(),
            "{}",
            note.id()
        );
    }
    assert!(with_lists > 20, "{with_lists} notes with a list");
}

#[test]
fn auto_link_form_follows_the_folder() {
    let flat = [NoteFile {
        id: "a".into(),
        path: "/n/a.md".into(),
        rel_path: "a.md".into(),
    }];
    let nested = [
        flat[0].clone(),
        NoteFile {
            id: "b".into(),
            path: "/n/d/b.md".into(),
            rel_path: "d/b.md".into(),
        },
    ];
    let none = closest_notes::LinkEvidence::default();
    assert_eq!(
        LinkStyle::Auto.resolve(none, &flat),
        LinkForm::WithoutExtension
    );
    assert_eq!(
        LinkStyle::Auto.resolve(none, &nested),
        LinkForm::WithExtension
    );
    let text =
        "[a](a) [b](d/b.md) [c](../c.MD#x) [img](i.png) [web](https://x.org/y) [[w]] [v](v1.2)";
    let evidence = parse(text, &SectionSpec::default())
        .expect("parses")
        .link_style_evidence();
    assert_eq!(
        (evidence.with_extension, evidence.without_extension),
        (2, 1)
    );
    assert_eq!(
        LinkStyle::Auto.resolve(evidence, &flat),
        LinkForm::WithExtension
    );
    assert_eq!(
        "md".parse::<LinkStyle>().ok(),
        Some(LinkStyle::WithExtension)
    );
    assert!("nope".parse::<LinkStyle>().is_err());
}
