//! Checking the links `closest` wrote: which note each one reaches, by the rules of the tools
//! that will follow it.
//!
//! A link that looks right but leads nowhere is worse than none, and it is easy to write one
//! (a bare id from inside a subfolder, a wikilink to a name two notes share). So the managed
//! links of a note can be listed with their lines ([`managed_links`]) and resolved against the
//! folder's notes ([`Resolver`]) the way renderers do: a markdown link as a path from the
//! note's folder with `.md` added when absent, a wikilink as Obsidian does (a path from the
//! root, else the one note whose path ends with it), a front-matter entry by id.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;

use crate::frontmatter;
use crate::ids::strip_md;
use crate::lines::line_number;
use crate::links::{has_url_scheme, names, percent_decode};
use crate::note::NoteFile;
use crate::parse::{parse, Parsed};
use crate::region::Region;

/// What kind of link a managed link is, which decides how it resolves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    Markdown,
    Wiki,
    /// An id in a front-matter list.
    FrontMatterId,
}

/// One link of a note's managed region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ManagedLink {
    /// The 1-based line it is on.
    pub line: usize,
    /// Its destination as the parser reads it (escapes undone, percent-encoding kept), or
    /// the id.
    pub target: String,
    pub kind: LinkKind,
}

/// The links in the note's managed `region`, in order: the section's links, or the ids of
/// the front-matter list. Empty when the note has no such region.
pub fn managed_links(parsed: &Parsed, region: &Region) -> Vec<ManagedLink> {
    let source = parsed.source();
    match region {
        Region::Section { .. } => {
            let Some(spec) = region.section_spec() else {
                return Vec::new();
            };
            let spec = spec.with_custom_lines(parsed.spec().custom_lines.clone());
            let reparsed;
            let parsed = if parsed.spec() == &spec {
                parsed
            } else {
                match parse(source, &spec) {
                    Ok(again) => {
                        reparsed = again;
                        &reparsed
                    }
                    Err(_) => return Vec::new(),
                }
            };
            parsed
                .links
                .iter()
                .filter(|link| parsed.in_section(link.offset))
                .map(|link| ManagedLink {
                    line: line_number(source, link.offset),
                    target: link.dest.clone(),
                    kind: if link.wiki {
                        LinkKind::Wiki
                    } else {
                        LinkKind::Markdown
                    },
                })
                .collect()
        }
        Region::FrontMatter { key } => frontmatter::detect(source)
            .and_then(|block| frontmatter::list_items(source, &block, key))
            .unwrap_or_default()
            .into_iter()
            .map(|(offset, id)| ManagedLink {
                line: line_number(source, offset),
                target: id,
                kind: LinkKind::FrontMatterId,
            })
            .collect(),
    }
}

/// Where a link leads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolved<'a> {
    /// To this note.
    Note(&'a NoteFile),
    /// To no note of the folder.
    Missing,
    /// A wikilink whose name several notes' paths end with.
    Ambiguous(Vec<&'a NoteFile>),
    /// Not to a note at all: a web address or an anchor in the same note.
    External,
}

/// The notes of a folder, indexed to resolve links to them.
#[derive(Debug, Clone, Default)]
pub struct Resolver {
    notes: Vec<NoteFile>,
    /// `/`-separated relative path, with its extension, to note.
    by_path: HashMap<String, usize>,
    /// Every whole-name suffix of a path without `.md` to the notes that end with it.
    by_suffix: HashMap<String, Vec<usize>>,
    by_id: HashMap<String, usize>,
}

impl Resolver {
    pub fn new(notes: &[NoteFile]) -> Resolver {
        let mut resolver = Resolver {
            notes: notes.to_vec(),
            ..Resolver::default()
        };
        for (index, note) in notes.iter().enumerate() {
            let parts = names(&note.rel_path);
            let path = parts.join("/");
            let stemmed: Vec<&str> = strip_md(&path).split('/').collect();
            for start in 0..stemmed.len() {
                resolver
                    .by_suffix
                    .entry(stemmed[start..].join("/"))
                    .or_default()
                    .push(index);
            }
            resolver.by_path.insert(path, index);
            resolver.by_id.insert(note.id.clone(), index);
        }
        resolver
    }

    pub fn notes(&self) -> &[NoteFile] {
        &self.notes
    }

    /// Where `link`, written in the note `from`, leads.
    pub fn resolve(&self, from: &NoteFile, link: &ManagedLink) -> Resolved<'_> {
        match link.kind {
            LinkKind::Markdown => self.markdown(from, &link.target),
            LinkKind::Wiki => self.wiki(&link.target),
            LinkKind::FrontMatterId => self.id(&link.target),
        }
    }

    /// A markdown link's destination from `from`'s folder (or from the root when it starts
    /// with `/`), percent-decoded, `.md` added when its last name lacks it.
    pub fn markdown(&self, from: &NoteFile, dest: &str) -> Resolved<'_> {
        if has_url_scheme(dest) {
            return Resolved::External;
        }
        let path = percent_decode(dest.split(['#', '?']).next().unwrap_or(""));
        if path.is_empty() {
            return Resolved::External;
        }
        let mut parts = if path.starts_with('/') {
            Vec::new()
        } else {
            names(from.rel_path.parent().unwrap_or(Path::new("")))
        };
        for part in path.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    if parts.pop().is_none() {
                        return Resolved::Missing;
                    }
                }
                name => parts.push(name.to_string()),
            }
        }
        let mut joined = parts.join("/");
        if path.ends_with('/') || joined.is_empty() {
            return Resolved::Missing;
        }
        if strip_md(&joined).len() == joined.len() {
            joined.push_str(".md");
        }
        self.by_path
            .get(&joined)
            .map_or(Resolved::Missing, |&index| {
                Resolved::Note(&self.notes[index])
            })
    }

    /// A wikilink's target: a path from the root, else the one note whose path ends with it.
    pub fn wiki(&self, target: &str) -> Resolved<'_> {
        let name = target.split(['#', '|']).next().unwrap_or("").trim();
        let name = strip_md(name.trim_start_matches('/'));
        if name.is_empty() {
            return Resolved::External;
        }
        if let Some(&index) = self.by_path.get(&format!("{name}.md")) {
            return Resolved::Note(&self.notes[index]);
        }
        match self.by_suffix.get(name).map(Vec::as_slice) {
            Some([index]) => Resolved::Note(&self.notes[*index]),
            Some(many) if !many.is_empty() => {
                Resolved::Ambiguous(many.iter().map(|&index| &self.notes[index]).collect())
            }
            _ => Resolved::Missing,
        }
    }

    /// A note by id.
    pub fn id(&self, id: &str) -> Resolved<'_> {
        self.by_id.get(id).map_or(Resolved::Missing, |&index| {
            Resolved::Note(&self.notes[index])
        })
    }

    /// The ids of the notes that `parsed`, the note `from`, links to outside its managed
    /// section, by the same rules: exact, whatever the id scheme.
    pub fn linked_ids(&self, parsed: &Parsed, from: &NoteFile) -> BTreeSet<String> {
        self.linked_ids_of(&parsed.links_with_kind(), from)
    }

    /// [`Resolver::linked_ids`] for links kept from an earlier parse
    /// ([`Parsed::links_with_kind`]).
    pub fn linked_ids_of(&self, links: &[(String, bool)], from: &NoteFile) -> BTreeSet<String> {
        links
            .iter()
            .filter_map(|(dest, wiki)| {
                let resolved = if *wiki {
                    self.wiki(dest)
                } else {
                    self.markdown(from, dest)
                };
                match resolved {
                    Resolved::Note(note) => Some(note.id.clone()),
                    _ => None,
                }
            })
            .collect()
    }
}
