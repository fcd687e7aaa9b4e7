//! A note's id: the name links and the store know it by.
//!
//! The seed format links by bare file stem, and most folders are flat, so a stem is the id
//! wherever it is unique. Nested folders repeat names (`README.md`, `index.md`, a
//! `github-pages.md` under two topics), and stopping there would make the tool unusable on
//! them; Obsidian's answer is the shortest path suffix that tells the notes apart, and that is
//! the default here too. The stricter schemes stay for people who want them: `stem` refuses
//! repeated names, `relative-path` always uses the path from the root.

use std::collections::HashMap;
use std::str::FromStr;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::Error;

/// How a note's id is derived from its path.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum IdScheme {
    /// The file stem, except for notes that share one: they get the shortest `/`-separated
    /// path suffix, in whole folder names, that no other note's path ends with (`a/x` and
    /// `b/x` for `notes/a/x.md` and `notes/b/x.md`). A flat folder's ids are its stems.
    #[default]
    #[cfg_attr(feature = "clap", value(alias = "auto"))]
    #[serde(alias = "auto")]
    Shortest,
    /// The file name without `.md`: `notes/a/271c.md` is `271c`. Two notes with one name are
    /// an error.
    Stem,
    /// The path from the root without `.md`, `/`-separated: `notes/a/271c.md` is `a/271c`.
    #[cfg_attr(feature = "clap", value(alias = "path"))]
    #[serde(alias = "path")]
    RelativePath,
}

impl FromStr for IdScheme {
    type Err = Error;

    fn from_str(name: &str) -> Result<Self, Error> {
        match name {
            "shortest" | "auto" => Ok(IdScheme::Shortest),
            "stem" => Ok(IdScheme::Stem),
            "relative-path" | "path" => Ok(IdScheme::RelativePath),
            _ => Err(Error::InvalidIdScheme {
                name: name.to_string(),
            }),
        }
    }
}

/// The id of the note at `rel`, a `/`-separated path relative to the root ending in `.md`.
/// Under [`IdScheme::Shortest`] this is the stem: whether it must be longer depends on the
/// other notes, which [`ids_for`] (and the walk) take into account.
pub fn note_id(rel: &str, scheme: IdScheme) -> String {
    let without_extension = strip_md(rel);
    match scheme {
        IdScheme::Stem | IdScheme::Shortest => without_extension
            .rsplit('/')
            .next()
            .unwrap_or(without_extension)
            .to_string(),
        IdScheme::RelativePath => without_extension.to_string(),
    }
}

/// The ids of the notes at `rels` (`/`-separated paths relative to the root), in order.
pub fn ids_for(rels: &[&str], scheme: IdScheme) -> Vec<String> {
    match scheme {
        IdScheme::Shortest => shortest_ids(rels),
        _ => rels.par_iter().map(|rel| note_id(rel, scheme)).collect(),
    }
}

/// Each path's shortest suffix of whole names that no other path ends with; the whole path
/// when there is none (a root note `x.md` beside `a/x.md`). Only paths that share a stem can
/// share a suffix, so each group of those is settled on its own.
fn shortest_ids(rels: &[&str]) -> Vec<String> {
    let stems: Vec<&str> = rels
        .par_iter()
        .map(|rel| {
            let path = strip_md(rel);
            path.rsplit('/').next().unwrap_or(path)
        })
        .collect();
    let mut ids: Vec<String> = stems.par_iter().map(|stem| (*stem).to_string()).collect();
    // The paths of each repeated stem, in input order: a hash table per shard of the stems'
    // hashes, the shards on every core (not a sort: a million stems sort in half a second
    // through their scattered strings).
    const SHARD_BITS: u32 = 4;
    let hasher = ahash::RandomState::new();
    let hashes: Vec<u64> = stems.par_iter().map(|stem| hasher.hash_one(stem)).collect();
    let mut shards: Vec<Vec<u32>> = vec![Vec::new(); 1 << SHARD_BITS];
    for (index, hash) in hashes.iter().enumerate() {
        shards[(hash >> (64 - SHARD_BITS)) as usize].push(index as u32);
    }
    let repeated: Vec<Vec<usize>> = shards
        .par_iter()
        .flat_map_iter(|shard| {
            let mut first_of: hashbrown::HashTable<u32> =
                hashbrown::HashTable::with_capacity(shard.len());
            let mut repeated: ahash::AHashMap<u32, Vec<usize>> = ahash::AHashMap::new();
            for &index in shard {
                let stem = stems[index as usize];
                let hash = hashes[index as usize];
                match first_of.find(hash, |&first| stems[first as usize] == stem) {
                    Some(&first) => repeated
                        .entry(first)
                        .or_insert_with(|| vec![first as usize])
                        .push(index as usize),
                    None => {
                        first_of.insert_unique(hash, index, |&other| hashes[other as usize]);
                    }
                }
            }
            repeated.into_values()
        })
        .collect();
    for group in &repeated {
        let names: Vec<Vec<&str>> = group
            .iter()
            .map(|&index| strip_md(rels[index]).split('/').collect())
            .collect();
        let mut counts: HashMap<String, usize> = HashMap::new();
        for parts in &names {
            for length in 1..=parts.len() {
                *counts
                    .entry(parts[parts.len() - length..].join("/"))
                    .or_default() += 1;
            }
        }
        for (&index, parts) in group.iter().zip(&names) {
            ids[index] = (1..=parts.len())
                .map(|length| parts[parts.len() - length..].join("/"))
                .find(|suffix| counts.get(suffix) == Some(&1))
                .unwrap_or_else(|| parts.join("/"));
        }
    }
    ids
}

/// `rel` without a trailing `.md` (in any case).
pub(crate) fn strip_md(rel: &str) -> &str {
    let bytes = rel.as_bytes();
    if bytes.len() >= 3 && bytes[bytes.len() - 3..].eq_ignore_ascii_case(b".md") {
        &rel[..rel.len() - 3]
    } else {
        rel
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeated_names_get_the_shortest_suffix_that_tells_them_apart() {
        let rels = [
            "a.md",
            "x.md",
            "p/a/x.md",
            "q/x.md",
            "r/a/x.md",
            "docs/README.md",
            "src/README.md",
            "solo/deep/note.md",
        ];
        assert_eq!(
            ids_for(&rels, IdScheme::Shortest),
            [
                "a",
                "x",
                "p/a/x",
                "q/x",
                "r/a/x",
                "docs/README",
                "src/README",
                "note"
            ]
        );
        assert_eq!(
            ids_for(&["n/x.md", "m/n/x.md"], IdScheme::Shortest),
            ["n/x", "m/n/x"]
        );
        assert_eq!(ids_for(&rels[..2], IdScheme::RelativePath), ["a", "x"]);
    }

    #[test]
    fn schemes_parse_from_their_names() {
        assert_eq!("auto".parse::<IdScheme>().ok(), Some(IdScheme::Shortest));
        assert_eq!(
            "shortest".parse::<IdScheme>().ok(),
            Some(IdScheme::Shortest)
        );
        assert_eq!(
            "path".parse::<IdScheme>().ok(),
            Some(IdScheme::RelativePath)
        );
        assert!("nope".parse::<IdScheme>().is_err());
        assert_eq!(IdScheme::default(), IdScheme::Shortest);
    }
}
