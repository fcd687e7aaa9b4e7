//! Links between notes as renderers read them: which form the folder uses, and which note a
//! link names.
//!
//! A markdown renderer (GitHub, a static site generator, a previewer) resolves `[x](dest)`
//! against the folder of the note it is in, and most add `.md` when the destination has no
//! extension. A bare `[id](id)` therefore works only when every note sits in one folder, which
//! is the seed format's case; elsewhere the link must be a relative path. Whether it ends in
//! `.md` is the folder's own convention, read from the links it already has ([`LinkEvidence`],
//! counted per note so the binary can keep the counts of unchanged notes), or set by the
//! person ([`LinkStyle`]).

use std::collections::BTreeSet;
use std::ops::{Add, AddAssign};
use std::path::{Component, Path};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::ids::{strip_md, IdScheme};
use crate::note::NoteFile;
use crate::parse::Parsed;

/// Whether links to notes end in `.md`: a setting, `auto` reading the folder's convention.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum LinkStyle {
    /// The majority of the folder's existing links to notes, managed sections included; with
    /// no majority, without the extension when every note is in one folder (the seed format)
    /// and with it otherwise.
    #[default]
    Auto,
    /// `../projects/sourdough-starter.md`.
    #[cfg_attr(feature = "clap", value(alias = "md"))]
    #[serde(alias = "md")]
    WithExtension,
    /// `../projects/sourdough-starter`, which renderers complete with `.md`.
    #[cfg_attr(feature = "clap", value(alias = "bare"))]
    #[serde(alias = "bare")]
    WithoutExtension,
}

impl FromStr for LinkStyle {
    type Err = Error;

    fn from_str(name: &str) -> Result<LinkStyle, Error> {
        match name {
            "auto" => Ok(LinkStyle::Auto),
            "with-extension" | "md" => Ok(LinkStyle::WithExtension),
            "without-extension" | "bare" => Ok(LinkStyle::WithoutExtension),
            _ => Err(Error::InvalidLinkStyle {
                name: name.to_string(),
            }),
        }
    }
}

/// The form links are written in, once [`LinkStyle::Auto`] is settled.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LinkForm {
    WithExtension,
    WithoutExtension,
}

impl LinkStyle {
    /// The form to write: the setting, or for `auto` the majority of `evidence` (the sum over
    /// the folder's notes of [`Parsed::link_style_evidence`]); on a tie, without the extension
    /// when all `notes` are in one folder, with it otherwise.
    pub fn resolve<'a>(
        self,
        evidence: LinkEvidence,
        notes: impl IntoIterator<Item = &'a NoteFile>,
    ) -> LinkForm {
        match self {
            LinkStyle::WithExtension => LinkForm::WithExtension,
            LinkStyle::WithoutExtension => LinkForm::WithoutExtension,
            LinkStyle::Auto if evidence.with_extension > evidence.without_extension => {
                LinkForm::WithExtension
            }
            LinkStyle::Auto if evidence.without_extension > evidence.with_extension => {
                LinkForm::WithoutExtension
            }
            LinkStyle::Auto if all_in_one_folder(notes) => LinkForm::WithoutExtension,
            LinkStyle::Auto => LinkForm::WithExtension,
        }
    }
}

/// Whether every note lies in one folder (so that a bare id is a working relative link).
pub fn all_in_one_folder<'a>(notes: impl IntoIterator<Item = &'a NoteFile>) -> bool {
    let mut folders = notes.into_iter().map(|note| note.rel_path.parent());
    match folders.next() {
        Some(first) => folders.all(|folder| folder == first),
        None => true,
    }
}

/// How many of a note's relative markdown links to notes end in `.md` and how many have no
/// extension at all. Links to other files (`cat.png`), web links, anchors and wikilinks are
/// not counted; neither are names with another dot, whose form is unclear.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct LinkEvidence {
    pub with_extension: usize,
    pub without_extension: usize,
}

impl Add for LinkEvidence {
    type Output = LinkEvidence;

    fn add(self, other: LinkEvidence) -> LinkEvidence {
        LinkEvidence {
            with_extension: self.with_extension + other.with_extension,
            without_extension: self.without_extension + other.without_extension,
        }
    }
}

impl AddAssign for LinkEvidence {
    fn add_assign(&mut self, other: LinkEvidence) {
        *self = *self + other;
    }
}

impl std::iter::Sum for LinkEvidence {
    fn sum<I: Iterator<Item = LinkEvidence>>(iter: I) -> LinkEvidence {
        iter.fold(LinkEvidence::default(), Add::add)
    }
}

impl Parsed {
    /// This note's vote on the folder's link form: its markdown links to notes, managed
    /// section included, with and without `.md`. It depends on the note alone, so a store can
    /// keep it per note and sum it without reading unchanged notes again.
    pub fn link_style_evidence(&self) -> LinkEvidence {
        let mut evidence = LinkEvidence::default();
        for link in self.links.iter().filter(|link| !link.wiki && !link.auto) {
            if has_url_scheme(&link.dest) {
                continue;
            }
            let path = percent_decode(link.dest.split(['#', '?']).next().unwrap_or(""));
            let name = path.trim().rsplit('/').next().unwrap_or("");
            if name.is_empty() || name == "." || name == ".." {
                continue;
            }
            if strip_md(name).len() < name.len() {
                evidence.with_extension += 1;
            } else if !name.contains('.') {
                evidence.without_extension += 1;
            }
        }
        evidence
    }
}

/// Whether a destination starts with a URL scheme (`https:`, `mailto:`).
pub(crate) fn has_url_scheme(target: &str) -> bool {
    target.split_once(':').is_some_and(|(scheme, _)| {
        scheme.starts_with(|c: char| c.is_ascii_alphabetic())
            && scheme
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
    })
}

/// The names of a relative path's normal components.
pub(crate) fn names(path: &Path) -> Vec<String> {
    path.components()
        .filter_map(|component| match component {
            Component::Normal(name) => Some(name.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect()
}

/// The ids of the notes that `parsed`, the note `from`, links to outside its managed section.
/// Web links are skipped; a destination that names no note of the folder yields an id that
/// matches nothing, so callers intersect with the ids they know. Under
/// [`IdScheme::Shortest`] an id depends on the other notes, so every path suffix of the target
/// is returned; only the target's own id can be among the known ids when the target is a note
/// ([`crate::Resolver::linked_ids`] is exact).
pub fn linked_ids(parsed: &Parsed, from: &NoteFile, scheme: IdScheme) -> BTreeSet<String> {
    let folder = names(from.rel_path.parent().unwrap_or(Path::new("")));
    parsed
        .outside_links()
        .filter(|link| !link.auto)
        .flat_map(|link| resolve(&link.dest, link.wiki, &folder, scheme))
        .collect()
}

fn resolve(target: &str, wiki: bool, folder: &[String], scheme: IdScheme) -> Vec<String> {
    if has_url_scheme(target) && !wiki {
        return Vec::new();
    }
    let path = target.split(['#', '?']).next().unwrap_or("");
    let path = if wiki {
        path.to_string()
    } else {
        percent_decode(path)
    };
    let path = strip_md(path.trim());
    if path.is_empty() || path.ends_with('/') {
        return Vec::new();
    }
    if scheme == IdScheme::Stem {
        return path
            .rsplit('/')
            .next()
            .map(str::to_string)
            .into_iter()
            .collect();
    }
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
                if parts.pop().is_none() {
                    return Vec::new();
                }
            }
            name => parts.push(name),
        }
    }
    match scheme {
        IdScheme::Shortest => (0..parts.len())
            .map(|start| parts[start..].join("/"))
            .collect(),
        _ => vec![parts.join("/")],
    }
}

pub(crate) fn percent_decode(text: &str) -> String {
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
