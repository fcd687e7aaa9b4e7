//! Link lines for the managed section.
//!
//! Notes are read in many tools: plain markdown viewers want `[text](path)`, Obsidian and
//! others want `[[id]]`, and the seed format links by bare id. The templates cover these, and a
//! custom line covers the rest. Every markdown link is a path relative to the note it is
//! written in, so that it resolves in nested folders as well as flat ones, where it is exactly
//! the seed's `[id](id)`. Whatever goes into a link is escaped so that an odd file name
//! (spaces, brackets, `#`) still yields one working link on one line: a broken line would
//! change how the section parses and so break the idempotence of `update`. For the same reason
//! a custom line's `{score}` is written with two decimals: the same list always yields the same
//! bytes.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pulldown_cmark::Parser;
use serde::{Deserialize, Serialize};

use crate::blocks::closer_for;
use crate::error::Error;
use crate::ids::strip_md;
use crate::links::{names, LinkForm};
use crate::note::NoteFile;

/// How one link line of the managed section is written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Template {
    /// `* [{id}]({link})`: the seed format, `* [id](id)`, in a flat folder without
    /// extensions; a relative link elsewhere.
    #[default]
    Bullet,
    /// `- [[{id}]]`, wikilinks; a note whose name a wikilink cannot carry (one with `#`, say)
    /// gets a markdown link, `- [{id}]({path})`, instead.
    Wiki,
    /// `* [{title}]({path})`, a relative link with `.md` and the target's title.
    TitlePath,
    /// One line with `{id}`, `{title}`, `{path}` (relative, with `.md`), `{link}` (relative,
    /// in the folder's link form) and `{score}` (the similarity, `0.83`) placeholders; build it
    /// with [`Template::custom`] to have it checked.
    Custom(String),
}

impl Template {
    /// A custom line, checked: one line, with a placeholder naming the target (`{title}` and
    /// `{score}` alone do not), not the start
    /// of a block (heading, fence, raw HTML) that would swallow or end the section, and not a
    /// link reference definition, which would change what links elsewhere in the note say
    /// (and so the text the note is embedded from).
    pub fn custom(line: impl Into<String>) -> Result<Template, Error> {
        let line = line.into();
        let invalid = |reason: &str| Error::InvalidTemplate {
            template: line.clone(),
            reason: reason.to_string(),
        };
        if line.contains(['\n', '\r']) {
            return Err(invalid("a template is one line; remove the line break"));
        }
        if !["{id}", "{path}", "{link}"]
            .iter()
            .any(|placeholder| line.contains(placeholder))
        {
            return Err(invalid(
                "it needs `{id}`, `{path}` or `{link}` to say which note it links to",
            ));
        }
        let opener = line.trim_start_matches(' ');
        let swallows = opener.starts_with('#')
            || opener.starts_with("```")
            || opener.starts_with("~~~")
            || closer_for(&pulldown_cmark::Tag::HtmlBlock, opener).is_some();
        if swallows {
            return Err(invalid(
                "a line starting with `#`, a fence or raw HTML would break the section; \
                 start it with `* ` or `- `",
            ));
        }
        let sample = fill(
            &line,
            &Fields {
                id: "note",
                title: "note",
                path: "note.md",
                link: "note",
                score: "0.50",
            },
        );
        let mut parser = Parser::new(&sample);
        parser.by_ref().for_each(drop);
        if parser.reference_definitions().iter().next().is_some() {
            return Err(invalid(
                "a line of the form `[label]: target` defines a link for the whole note; \
                 start it with `* ` or `- `",
            ));
        }
        Ok(Template::Custom(line))
    }
}

impl Template {
    /// The custom line this template writes, as [`crate::SectionSpec::with_custom_lines`]
    /// takes it (none for the built-in templates, whose shapes are always known).
    pub fn custom_lines(&self) -> Vec<String> {
        match self {
            Template::Custom(line) => vec![line.clone()],
            _ => Vec::new(),
        }
    }
}

impl FromStr for Template {
    type Err = Error;

    /// `bullet`, `wiki`, `title-path`, or a custom line with placeholders.
    fn from_str(text: &str) -> Result<Template, Error> {
        match text {
            "bullet" => Ok(Template::Bullet),
            "wiki" => Ok(Template::Wiki),
            "title-path" => Ok(Template::TitlePath),
            _ if text.contains('{') => Template::custom(text),
            _ => Err(Error::InvalidTemplate {
                template: text.to_string(),
                reason: "use `bullet`, `wiki`, `title-path` or a line with `{id}`, `{title}`, \
                         `{path}`, `{link}` or `{score}` placeholders"
                    .to_string(),
            }),
        }
    }
}

/// A note to link to.
#[derive(Debug, Clone, PartialEq)]
pub struct LinkTarget {
    pub id: String,
    /// Shown as the link text by `title-path`; the id stands in when it is empty.
    pub title: String,
    /// The target's path relative to the notes root.
    pub rel_path: PathBuf,
    /// Its similarity to the note the link is written in, shown by a custom line's `{score}`.
    pub score: f32,
}

/// The link lines for `targets`, in their order, as seen from the note `from`, with links in
/// the form without `.md` (the seed's `[id](id)` in a flat folder); see
/// [`render_links_with`].
pub fn render_links(template: &Template, from: &NoteFile, targets: &[LinkTarget]) -> Vec<String> {
    render_links_with(template, from, targets, LinkForm::WithoutExtension)
}

/// The link lines for `targets`, in their order, as seen from the note `from`. Links are
/// paths relative to `from`'s folder, `/`-separated and percent-encoded where a character
/// would end or split a link: `{path}` (and `title-path`) always with `.md`, `{link}` (and
/// `bullet`) in `form`. A target whose name the renderer's rule could not complete (one not
/// ending in `.md`, or whose stem does) keeps its full name.
pub fn render_links_with(
    template: &Template,
    from: &NoteFile,
    targets: &[LinkTarget],
    form: LinkForm,
) -> Vec<String> {
    targets
        .iter()
        .map(|target| {
            let path = relative_link(&from.rel_path, &target.rel_path, LinkForm::WithExtension);
            let link = relative_link(&from.rel_path, &target.rel_path, form);
            let title = if target.title.trim().is_empty() {
                &target.id
            } else {
                &target.title
            };
            match template {
                Template::Bullet => format!("* [{}]({link})", link_text(&target.id)),
                Template::Wiki => match wiki_name(&target.id) {
                    Some(name) => format!("- [[{name}]]"),
                    None => format!("- [{}]({path})", link_text(&target.id)),
                },
                Template::TitlePath => format!("* [{}]({})", link_text(title), path),
                Template::Custom(line) => fill(
                    line,
                    &Fields {
                        id: &one_line(&target.id),
                        title: &one_line(title),
                        path: &path,
                        link: &link,
                        score: &score_text(target.score),
                    },
                ),
            }
        })
        .collect()
}

/// What a custom line's placeholders stand for.
struct Fields<'a> {
    id: &'a str,
    title: &'a str,
    path: &'a str,
    link: &'a str,
    score: &'a str,
}

/// The line with its placeholders filled in one pass, so that a title or name that itself
/// contains `{score}` or `{id}` is written as it is rather than filled in turn.
fn fill(line: &str, fields: &Fields<'_>) -> String {
    let mut filled = String::with_capacity(line.len() + 64);
    let mut rest = line;
    while let Some(start) = rest.find('{') {
        filled.push_str(&rest[..start]);
        let after = &rest[start..];
        let placeholder = [
            ("{id}", fields.id),
            ("{title}", fields.title),
            ("{path}", fields.path),
            ("{link}", fields.link),
            ("{score}", fields.score),
        ]
        .into_iter()
        .find(|(name, _)| after.starts_with(name));
        match placeholder {
            Some((name, value)) => {
                filled.push_str(value);
                rest = &after[name.len()..];
            }
            None => {
                filled.push('{');
                rest = &after[1..];
            }
        }
    }
    filled.push_str(rest);
    filled
}

/// A score with two decimals, as `{score}` shows it. Rounding to text is exact and the same on
/// every platform; a score that rounds to zero from below is shown as `0.00`, not `-0.00`.
fn score_text(score: f32) -> String {
    let text = format!("{score:.2}");
    match text.strip_prefix('-') {
        Some(unsigned) if unsigned.bytes().all(|byte| matches!(byte, b'0' | b'.')) => {
            unsigned.to_string()
        }
        _ => text,
    }
}

/// The name to write between `[[` and `]]` for the note `id`, or `None` when a wikilink
/// cannot name it. In a wikilink Obsidian reads `#` as the start of a heading, `^` as a block
/// reference, `|` as the start of the shown text and `[` or `]` as the link's own brackets,
/// with no escape for any of them (it warns that links to file names with these will not
/// work), and [`crate::Resolver`] cuts the name at `#` and `|` the same way; a trailing `.md`
/// is read as the extension, the resolver trims spaces at either end, and a control character
/// cannot stay on the line. Such a note gets a markdown link instead: its path relative to
/// the note, with `.md`, percent-encoded. Obsidian follows that (it decodes the destination,
/// so `%23` is a `#` of the file name, not a heading; its help asks for exactly this
/// encoding), and so do markdown renderers and the resolver, so `check-links` passes it.
fn wiki_name(id: &str) -> Option<&str> {
    let readable = !id.is_empty()
        && id.trim() == id
        && strip_md(id).len() == id.len()
        && !id
            .chars()
            .any(|c| c.is_control() || matches!(c, '#' | '^' | '|' | '[' | ']'));
    readable.then_some(id)
}

/// Control characters (a newline in a file name, say) would split the line.
fn one_line(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Escapes what would end a link's text early.
fn link_text(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in one_line(text).trim().chars() {
        if matches!(c, '\\' | '[' | ']') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}

/// Percent-encodes what would end a link destination or change its meaning, byte by byte of
/// the character's UTF-8 as URLs do; other characters, non-ASCII ones included, stay readable.
fn encode(text: &str) -> String {
    let mut encoded = String::with_capacity(text.len());
    for c in text.chars() {
        let escape = c.is_control()
            || matches!(
                c,
                ' ' | '%' | '(' | ')' | '<' | '>' | '#' | '?' | '[' | ']' | '\\'
            );
        if escape {
            let mut buffer = [0; 4];
            for byte in c.encode_utf8(&mut buffer).bytes() {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        } else {
            encoded.push(c);
        }
    }
    encoded
}

/// The path from the folder of `from` to `to`, both relative to the root, as a link.
fn relative_link(from: &Path, to: &Path, form: LinkForm) -> String {
    let from_folder = names(from.parent().unwrap_or(Path::new("")));
    let mut to = names(to);
    if let (LinkForm::WithoutExtension, Some(name)) = (form, to.last_mut()) {
        // Renderers add `.md` to a name without it: drop exactly that, and only where adding
        // it back gives this name.
        if let Some(stem) = name.strip_suffix(".md") {
            if strip_md(stem).len() == stem.len() {
                *name = stem.to_string();
            }
        }
    }
    let common = from_folder
        .iter()
        .zip(&to)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = vec!["..".to_string(); from_folder.len() - common];
    parts.extend(to[common..].iter().map(|name| encode(name)));
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(score: f32) -> LinkTarget {
        LinkTarget {
            id: "b".into(),
            title: "B {score}".into(),
            rel_path: "b.md".into(),
            score,
        }
    }

    fn from() -> NoteFile {
        NoteFile {
            id: "a".into(),
            path: "/notes/a.md".into(),
            rel_path: "a.md".into(),
        }
    }

    #[test]
    fn score_placeholder_shows_two_decimals() {
        let template = Template::custom("- [{id}]({link}) {score}").expect("valid");
        let targets = [target(0.8349), target(0.835), target(1.0), target(-0.004)];
        assert_eq!(
            render_links(&template, &from(), &targets),
            [
                "- [b](b) 0.83",
                // 0.835 as an f32 is a little under it, so it rounds down on every platform.
                "- [b](b) 0.83",
                "- [b](b) 1.00",
                "- [b](b) 0.00",
            ]
        );
        assert_eq!(score_text(-0.5), "-0.50");
    }

    #[test]
    fn placeholders_are_filled_once() {
        // A title that contains a placeholder is written as it is, not filled in turn.
        let template = Template::custom("* {title} [{id}]({path}) {unknown} {score").expect("ok");
        assert_eq!(
            render_links(&template, &from(), &[target(0.5)]),
            ["* B {score} [b](b.md) {unknown} {score"]
        );
    }

    #[test]
    fn score_alone_does_not_name_the_target() {
        let error = Template::custom("* {title} {score}").expect_err("no target");
        assert!(
            error.to_string().contains("`{id}`, `{path}` or `{link}`"),
            "{error}"
        );
        assert!("* {score}".parse::<Template>().is_err());
        assert!(Template::custom("* [{id}]({link}) ({score})").is_ok());
    }
}
