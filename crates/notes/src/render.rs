//! Link lines for the managed section.
//!
//! Notes are read in many tools: plain markdown viewers want `[text](path)`, Obsidian and
//! others want `[[id]]`, and the seed format links by bare id. The templates cover these, and a
//! custom line covers the rest. Every markdown link is a path relative to the note it is
//! written in, so that it resolves in nested folders as well as flat ones, where it is exactly
//! the seed's `[id](id)`. Whatever goes into a link is escaped so that an odd file name
//! (spaces, brackets, `#`) still yields one working link on one line: a broken line would
//! change how the section parses and so break the idempotence of `update`.

use std::path::{Path, PathBuf};
use std::str::FromStr;

use pulldown_cmark::Parser;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ids::strip_md;
use crate::links::{names, LinkForm};
use crate::splice::closer_for;
use crate::walk::NoteFile;

/// How one link line of the managed section is written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Template {
    /// `* [{id}]({link})`: the seed format, `* [id](id)`, in a flat folder without
    /// extensions; a relative link elsewhere.
    #[default]
    Bullet,
    /// `- [[{id}]]`, wikilinks.
    Wiki,
    /// `* [{title}]({path})`, a relative link with `.md` and the target's title.
    TitlePath,
    /// One line with `{id}`, `{title}`, `{path}` (relative, with `.md`) and `{link}`
    /// (relative, in the folder's link form) placeholders; build it with [`Template::custom`]
    /// to have it checked.
    Custom(String),
}

impl Template {
    /// A custom line, checked: one line, with a placeholder naming the target, not the start
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
        let sample = fill(&line, "note", "note", "note.md", "note");
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
                         `{path}` or `{link}` placeholders"
                    .to_string(),
            }),
        }
    }
}

/// A note to link to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkTarget {
    pub id: String,
    /// Shown as the link text by `title-path`; the id stands in when it is empty.
    pub title: String,
    /// The target's path relative to the notes root.
    pub rel_path: PathBuf,
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
                Template::Wiki => format!("- [[{}]]", one_line(&target.id)),
                Template::TitlePath => format!("* [{}]({})", link_text(title), path),
                Template::Custom(line) => {
                    fill(line, &one_line(&target.id), &one_line(title), &path, &link)
                }
            }
        })
        .collect()
}

fn fill(line: &str, id: &str, title: &str, path: &str, link: &str) -> String {
    line.replace("{id}", id)
        .replace("{title}", title)
        .replace("{path}", path)
        .replace("{link}", link)
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
