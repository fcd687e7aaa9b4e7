//! Naming a note as a person sees it: its id, its path in the folder (with or without `.md`),
//! or its file name, in any case when that still names one note. A name that fits several
//! notes is an error listing them; one that fits none suggests the nearest ids.

use crate::error::{Error, Result};
use crate::store::NoteRecord;

/// Ids suggested for a name that fits no note.
const SUGGESTIONS: usize = 3;

/// How alike (normalised Damerau-Levenshtein, 0 to 1) an id must be to a name to be suggested.
const SUGGEST_FROM: f64 = 0.5;

/// The position in `records` (sorted by id) of the note `name` names.
pub(crate) fn position(records: &[NoteRecord], name: &str) -> Result<usize> {
    if let Ok(position) = records.binary_search_by(|record| record.id.as_str().cmp(name)) {
        return Ok(position);
    }
    let notes: Vec<(&str, &str)> = records
        .iter()
        .map(|record| (record.id.as_str(), record.path.as_str()))
        .collect();
    find(&notes, name)
}

/// The position in `notes` (each an id and a path from the root) of the note `name` names:
/// by path, then by file name, then by id, each as written and then in any case.
fn find(notes: &[(&str, &str)], name: &str) -> Result<usize> {
    let wanted = normalise(name);
    let stem = |path: &str| -> String {
        let path = path.strip_suffix(".md").unwrap_or(path);
        path.rsplit('/').next().unwrap_or(path).to_owned()
    };
    type Rule<'r> = &'r dyn Fn(&str, &str, &str) -> bool;
    let rules: [Rule<'_>; 3] = [
        &|_, path, wanted| normalise(path) == wanted,
        &|_, path, wanted| !wanted.contains('/') && stem(path) == wanted,
        &|id, _, wanted| id == wanted,
    ];
    for fold in [false, true] {
        let wanted = if fold {
            wanted.to_lowercase()
        } else {
            wanted.clone()
        };
        for rule in rules {
            let found: Vec<usize> = notes
                .iter()
                .enumerate()
                .filter(|(_, (id, path))| {
                    if fold {
                        rule(&id.to_lowercase(), &path.to_lowercase(), &wanted)
                    } else {
                        rule(id, path, &wanted)
                    }
                })
                .map(|(position, _)| position)
                .collect();
            match found.as_slice() {
                [] => {}
                [one] => return Ok(*one),
                many => {
                    return Err(Error::AmbiguousNote {
                        name: name.to_owned(),
                        candidates: many
                            .iter()
                            .map(|&position| notes[position].1.to_owned())
                            .collect(),
                    })
                }
            }
        }
    }
    Err(Error::UnknownNote {
        id: name.to_owned(),
        suggestions: suggestions(notes, &wanted),
    })
}

/// `name` as a path from the notes root: `/` separators, no leading `./`, no `.md`.
fn normalise(name: &str) -> String {
    let name = name.replace('\\', "/");
    let name = name.trim_start_matches("./");
    name.strip_suffix(".md").unwrap_or(name).to_owned()
}

/// The ids most like `wanted` (or whose path is), best first.
fn suggestions(notes: &[(&str, &str)], wanted: &str) -> Vec<String> {
    let wanted = wanted.to_lowercase();
    let mut scored: Vec<(f64, &str)> = notes
        .iter()
        .map(|(id, path)| {
            let score = strsim::normalized_damerau_levenshtein(&wanted, &id.to_lowercase()).max(
                strsim::normalized_damerau_levenshtein(&wanted, &normalise(path).to_lowercase()),
            );
            (score, *id)
        })
        .filter(|(score, _)| *score >= SUGGEST_FROM)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(b.1)));
    scored
        .into_iter()
        .take(SUGGESTIONS)
        .map(|(_, id)| id.to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_of_a_name_finds_the_note() {
        let notes = [
            ("Sourdough", "kitchen/Sourdough.md"),
            ("a/same", "a/same.md"),
            ("b/same", "b/same.md"),
            ("git-rebase", "dev/git-rebase.md"),
        ];
        let at = |name: &str| find(&notes, name).map(|p| notes[p].0.to_owned());
        assert_eq!(at("git-rebase").ok().as_deref(), Some("git-rebase"));
        assert_eq!(at("dev/git-rebase.md").ok().as_deref(), Some("git-rebase"));
        assert_eq!(at("./dev/git-rebase").ok().as_deref(), Some("git-rebase"));
        assert_eq!(at("git-rebase.md").ok().as_deref(), Some("git-rebase"));
        assert_eq!(at("sourdough").ok().as_deref(), Some("Sourdough"));
        assert_eq!(
            at("KITCHEN/sourdough.md").ok().as_deref(),
            Some("Sourdough")
        );
        match at("same") {
            Err(Error::AmbiguousNote { candidates, .. }) => {
                assert_eq!(candidates, ["a/same.md", "b/same.md"]);
            }
            other => panic!("{other:?}"),
        }
        match at("git-rebse") {
            Err(Error::UnknownNote { suggestions, .. }) => {
                assert_eq!(suggestions, ["git-rebase"]);
            }
            other => panic!("{other:?}"),
        }
    }
}
