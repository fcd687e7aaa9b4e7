//! Link lines for the managed section, and reading the note's own links back as ids.
//!
//! Notes are read in many tools: plain markdown viewers want `[text](path)`, Obsidian and
//! others want `[[id]]`, and the seed format links by bare id. The templates cover these, and a
//! custom line covers the rest. Whatever goes into a link is escaped so that an odd file name
//! (spaces, brackets, `#`) still yields one working link on one line: a broken line would
//! change how the section parses and so break the idempotence of `update`. Reading links back
//! (for `--exclude-linked`) is the inverse: a link's destination resolved to the id it names.

use std::collections::BTreeSet;
use std::path::{Component, Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::parse::Parsed;
use crate::splice::closer_for;
use crate::walk::{IdScheme, NoteFile};

/// How one link line of the managed section is written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Template {
    /// `* [{id}]({id})`, the seed format.
    #[default]
    Bullet,
    /// `- [[{id}]]`, wikilinks.
    Wiki,
    /// `* [{title}]({path})`, a relative link with the target's title.
    TitlePath,
    /// One line with `{id}`, `{title}` and `{path}` placeholders; build it with
    /// [`Template::custom`] to have it checked.
    Custom(String),
}

impl Template {
    /// A custom line, checked: one line, with a placeholder naming the target, and not the
    /// start of a block (heading, fence, raw HTML) that would swallow or end the section.
    pub fn custom(line: impl Into<String>) -> Result<Template, Error> {
        let line = line.into();
        let invalid = |reason: &str| Error::InvalidTemplate {
            template: line.clone(),
            reason: reason.to_string(),
        };
        if line.contains(['\n', '\r']) {
            return Err(invalid("a template is one line; remove the line break"));
        }
        if !line.contains("{id}") && !line.contains("{path}") {
            return Err(invalid(
                "it needs `{id}` or `{path}` to say which note it links to",
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
                reason: "use `bullet`, `wiki`, `title-path` or a line with `{id}`, `{title}` \
                         or `{path}` placeholders"
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

/// The link lines for `targets`, in their order, as seen from the note `from`. `{path}` is the
/// target's path relative to `from`'s folder, `/`-separated and percent-encoded where a
/// character would end or split a link.
pub fn render_links(template: &Template, from: &NoteFile, targets: &[LinkTarget]) -> Vec<String> {
    targets
        .iter()
        .map(|target| {
            let path = relative_link(&from.rel_path, &target.rel_path);
            let title = if target.title.trim().is_empty() {
                &target.id
            } else {
                &target.title
            };
            match template {
                Template::Bullet => format!(
                    "* [{}]({})",
                    link_text(&target.id),
                    encode(&one_line(&target.id))
                ),
                Template::Wiki => format!("- [[{}]]", one_line(&target.id)),
                Template::TitlePath => format!("* [{}]({})", link_text(title), path),
                Template::Custom(line) => line
                    .replace("{id}", &one_line(&target.id))
                    .replace("{title}", &one_line(title))
                    .replace("{path}", &path),
            }
        })
        .collect()
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

fn names(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// The path from the folder of `from` to `to`, both relative to the root, as a link.
fn relative_link(from: &Path, to: &Path) -> String {
    let from_folder = names(from.parent().unwrap_or(Path::new("")));
    let to = names(to);
    let common = from_folder
        .iter()
        .zip(&to)
        .take_while(|(a, b)| a == b)
        .count();
    let mut parts: Vec<String> = vec!["..".to_string(); from_folder.len() - common];
    parts.extend(to[common..].iter().map(|name| encode(name)));
    parts.join("/")
}

/// The ids of the notes that `parsed`, the note `from`, links to outside its managed section.
/// Web links are skipped; a destination that names no note of the folder yields an id that
/// matches nothing, so callers intersect with the ids they know.
pub fn linked_ids(parsed: &Parsed, from: &NoteFile, scheme: IdScheme) -> BTreeSet<String> {
    let folder = names(from.rel_path.parent().unwrap_or(Path::new("")));
    parsed
        .outside_links()
        .filter(|link| !link.auto)
        .filter_map(|link| resolve(&link.dest, link.wiki, &folder, scheme))
        .collect()
}

fn resolve(target: &str, wiki: bool, folder: &[String], scheme: IdScheme) -> Option<String> {
    let has_url_scheme = target.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    });
    if has_url_scheme && !wiki {
        return None;
    }
    let path = target.split(['#', '?']).next().unwrap_or("");
    let path = if wiki {
        path.to_string()
    } else {
        percent_decode(path)
    };
    let path = path.trim();
    let path = match path.len().checked_sub(3) {
        Some(cut) if path.is_char_boundary(cut) && path[cut..].eq_ignore_ascii_case(".md") => {
            &path[..cut]
        }
        _ => path,
    };
    if path.is_empty() || path.ends_with('/') {
        return None;
    }
    match scheme {
        IdScheme::Stem => path.rsplit('/').next().map(str::to_string),
        IdScheme::RelativePath => {
            // Wikilinks and `/`-rooted links name a path from the root; others from the folder.
            let mut parts: Vec<&str> = if wiki || path.starts_with('/') {
                Vec::new()
            } else {
                folder.iter().map(String::as_str).collect()
            };
            for part in path.split('/') {
                match part {
                    "" | "." => {}
                    ".." => {
                        parts.pop()?;
                    }
                    name => parts.push(name),
                }
            }
            Some(parts.join("/"))
        }
    }
}

fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut index = 0;
    while index < bytes.len() {
        let hex = bytes
            .get(index + 1..index + 3)
            .filter(|pair| pair.iter().all(u8::is_ascii_hexdigit))
            .and_then(|pair| std::str::from_utf8(pair).ok())
            .and_then(|pair| u8::from_str_radix(pair, 16).ok());
        match (bytes[index], hex) {
            (b'%', Some(byte)) => {
                decoded.push(byte);
                index += 3;
            }
            (byte, _) => {
                decoded.push(byte);
                index += 1;
            }
        }
    }
    String::from_utf8_lossy(&decoded).into_owned()
}
