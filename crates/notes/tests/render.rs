//! Link lines from templates, and a note's own links read back as ids.

use std::path::PathBuf;

use closest_notes::{
    linked_ids, managed_links, parse, render_links, render_links_with, section_is_current, splice,
    IdScheme, LinkForm, LinkKind, LinkTarget, NoteFile, Region, Resolved, Resolver, SectionSpec,
    Template,
};

fn note(rel: &str, id: &str) -> NoteFile {
    NoteFile {
        id: id.to_string(),
        path: PathBuf::from("/notes").join(rel),
        rel_path: PathBuf::from(rel),
    }
}

fn target(id: &str, title: &str, rel: &str) -> LinkTarget {
    LinkTarget {
        id: id.to_string(),
        title: title.to_string(),
        rel_path: PathBuf::from(rel),
        score: 0.5,
    }
}

#[test]
fn built_in_templates() {
    let from = note("a/x.md", "x");
    let targets = [
        target("36708cd7", "First", "36708cd7.md"),
        target("my note", "", "a/b/my note.md"),
    ];
    // Bullet links are relative to the note's folder (`from` is in `a/`).
    assert_eq!(
        render_links(&Template::Bullet, &from, &targets),
        ["* [36708cd7](../36708cd7)", "* [my note](b/my%20note)"]
    );
    assert_eq!(
        render_links(&Template::Wiki, &from, &targets),
        ["- [[36708cd7]]", "- [[my note]]"]
    );
    assert_eq!(
        render_links(&Template::TitlePath, &from, &targets),
        ["* [First](../36708cd7.md)", "* [my note](b/my%20note.md)"]
    );
    assert_eq!(Template::default(), Template::Bullet);
}

#[test]
fn custom_template_fills_placeholders() {
    let template: Template = "1. {title}: [{id}]({path})".parse().expect("valid");
    let rendered = render_links(
        &template,
        &note("x.md", "x"),
        &[target("b", "B (2)", "c/b.md")],
    );
    assert_eq!(rendered, ["1. B (2): [b](c/b.md)"]);
}

#[test]
fn a_section_rendered_with_scores_splices_once() {
    let spec = SectionSpec::default();
    let from = note("daily/x.md", "x");
    let targets: Vec<LinkTarget> = [(0.91234, "b"), (0.835, "c d"), (0.0001, "e"), (-0.2, "f")]
        .into_iter()
        .map(|(score, id)| LinkTarget {
            score,
            ..target(id, "", &format!("{id}.md"))
        })
        .collect();
    for line in ["* [{id}]({link}) ({score})", "- {score}: [{title}]({path})"] {
        let template = Template::custom(line).expect("valid");
        let spec = spec.clone().with_custom_lines(template.custom_lines());
        let links = render_links(&template, &from, &targets);
        assert_eq!(links, render_links(&template, &from, &targets));
        let source = "# X

Text.
";
        let once = splice(
            source,
            &parse(source, &spec).expect("parses"),
            &spec,
            &links,
        );
        let again = parse(&once, &spec).expect("parses");
        assert!(section_is_current(&once, &again, &spec, &links), "{once}");
        let read_back: Vec<String> = managed_links(&again, &Region::from(&spec))
            .into_iter()
            .map(|link| link.target)
            .collect();
        let ext = if line.contains("{path}") { ".md" } else { "" };
        assert_eq!(
            read_back,
            ["b", "c%20d", "e", "f"].map(|name| format!("../{name}{ext}")),
            "{once}"
        );
    }
    let links = render_links(
        &Template::custom("* [{id}]({link}) ({score})").expect("valid"),
        &from,
        &targets,
    );
    assert_eq!(
        links,
        [
            "* [b](../b) (0.91)",
            "* [c d](../c%20d) (0.83)",
            "* [e](../e) (0.00)",
            "* [f](../f) (-0.20)",
        ]
    );
}

/// Regression: `[[odd (name) #1]]` read as a link to a heading of `odd (name) `, so it reached
/// no note, in Obsidian or in `check-links`.
#[test]
fn a_name_no_wikilink_can_carry_gets_a_markdown_link() {
    let notes: Vec<NoteFile> = [
        ("odd (name) #1", "p/odd (name) #1.md"),
        ("a|b", "a|b.md"),
        ("c^d", "c^d.md"),
        ("[e]", "[e].md"),
        (" f", " f.md"),
        ("g.md", "g.md.md"),
        ("g", "g.md"),
        ("h\ti", "h\ti.md"),
        ("plain name", "q/plain name.md"),
    ]
    .into_iter()
    .map(|(id, rel)| note(rel, id))
    .collect();
    let from = note("q/x.md", "x");
    let targets: Vec<LinkTarget> = notes
        .iter()
        .map(|note| target(&note.id, "", note.rel_path.to_str().expect("utf-8")))
        .collect();
    let links = render_links(&Template::Wiki, &from, &targets);
    assert_eq!(
        links[0],
        "- [odd (name) #1](../p/odd%20%28name%29%20%231.md)"
    );
    assert_eq!(links[1], "- [a|b](../a|b.md)");
    assert_eq!(links[3], "- [\\[e\\]](../%5Be%5D.md)");
    assert_eq!(links[5], "- [g.md](../g.md.md)");
    assert_eq!(links[6], "- [[g]]");
    assert_eq!(links[8], "- [[plain name]]");

    let spec = SectionSpec::default();
    let source = "# X\n";
    let written = splice(
        source,
        &parse(source, &spec).expect("parses"),
        &spec,
        &links,
    );
    let parsed = parse(&written, &spec).expect("parses");
    let managed = managed_links(&parsed, &Region::from(&spec));
    let kinds: Vec<LinkKind> = managed.iter().map(|link| link.kind).collect();
    assert_eq!(
        kinds[6..],
        [LinkKind::Wiki, LinkKind::Markdown, LinkKind::Wiki]
    );
    let resolver = Resolver::new(&notes);
    let reached: Vec<Resolved> = managed
        .iter()
        .map(|link| resolver.resolve(&from, link))
        .collect();
    let expected: Vec<Resolved> = notes.iter().map(Resolved::Note).collect();
    assert_eq!(reached, expected, "{written}");
}

#[test]
fn awkward_names_are_escaped_into_one_link() {
    let from = note("x.md", "x");
    let rendered = render_links(
        &Template::TitlePath,
        &from,
        &[target("q", "[draft] a\nb", "what? (#1) 100%.md")],
    );
    assert_eq!(
        rendered,
        ["* [\\[draft\\] a b](what%3F%20%28%231%29%20100%25.md)"]
    );
    let rendered = render_links(
        &Template::TitlePath,
        &from,
        &[target("q", "", "naïve\u{7}\u{85}.md")],
    );
    assert_eq!(rendered, ["* [q](naïve%07%C2%85.md)"]);
}

#[test]
fn templates_are_parsed_and_checked() {
    assert_eq!("wiki".parse::<Template>().ok(), Some(Template::Wiki));
    assert_eq!(
        "title-path".parse::<Template>().ok(),
        Some(Template::TitlePath)
    );
    assert!("nonsense".parse::<Template>().is_err());
    assert!(Template::custom("# {id}").is_err());
    assert!(Template::custom("```{id}").is_err());
    assert!(Template::custom("* {title}").is_err());
    assert!(Template::custom("* {id}\n* {id}").is_err());
    let error = Template::custom("<!-- {id}").expect_err("html");
    assert!(error.to_string().contains("start it with"), "{error}");
    // A reference definition would change what `[id]` means elsewhere in the note.
    let error = Template::custom("[{id}]: {link}").expect_err("definition");
    assert!(error.to_string().contains("defines a link"), "{error}");
    assert!(
        Template::custom("* [{id}]: {link}").is_err(),
        "a definition in a list item"
    );
    assert!(Template::custom("- [{title}]({link})").is_ok());
}

#[test]
fn linked_ids_resolve_links_to_notes() {
    let source = "[a](a) [b](../b.md#part) [c](sub/my%20c.md) [[w/d]] [web](https://x.org/e) [f](/root/f.md) [self](#top)\n";
    let parsed = parse(source, &SectionSpec::default()).expect("parses");
    let from = note("dir/x.md", "x");
    let stems: Vec<String> = linked_ids(&parsed, &from, IdScheme::Stem)
        .into_iter()
        .collect();
    assert_eq!(stems, ["a", "b", "d", "f", "my c"]);
    let paths: Vec<String> = linked_ids(&parsed, &from, IdScheme::RelativePath)
        .into_iter()
        .collect();
    assert_eq!(paths, ["b", "dir/a", "dir/sub/my c", "root/f", "w/d"]);
}

#[test]
fn links_are_relative_in_the_folder_form() {
    let from = note("daily/2026-11-01.md", "2026-11-01");
    let targets = [
        target(
            "sourdough-starter",
            "Sourdough",
            "projects/sourdough-starter.md",
        ),
        target("upper", "", "daily/upper.MD"),
        target("twice.md", "", "twice.md.md"),
    ];
    let template: Template = "- {title}: {link}".parse().expect("valid");
    assert_eq!(
        render_links_with(&template, &from, &targets, LinkForm::WithoutExtension),
        [
            "- Sourdough: ../projects/sourdough-starter",
            "- upper: upper.MD",
            "- twice.md: ../twice.md.md",
        ]
    );
    assert_eq!(
        render_links_with(
            &Template::Bullet,
            &from,
            &targets[..1],
            LinkForm::WithExtension
        ),
        ["* [sourdough-starter](../projects/sourdough-starter.md)"]
    );
}
