//! The notes each stored note links to, for `exclude-linked`: what `export`, `explain` and
//! `similar` leave out, as the section does.

use std::collections::BTreeSet;
use std::path::PathBuf;

use closest_notes::{NoteFile, Resolver};

use crate::settings::FolderSettings;
use crate::store::NoteRecord;

/// The notes each note links to, when the settings leave those out of its list.
pub(crate) struct Linked {
    resolver: Option<Resolver>,
    root: PathBuf,
}

impl Linked {
    pub(crate) fn new(settings: &FolderSettings, records: &[NoteRecord]) -> Self {
        let resolver = settings.exclude_linked.then(|| {
            let files: Vec<NoteFile> = records
                .iter()
                .map(|record| note_file(&settings.root, &record.id, &record.path))
                .collect();
            Resolver::new(&files)
        });
        Linked {
            resolver,
            root: settings.root.clone(),
        }
    }

    /// The ids the note at `position` links to (empty unless `exclude-linked`).
    pub(crate) fn of(&self, records: &[NoteRecord], position: usize) -> BTreeSet<String> {
        let Some(resolver) = &self.resolver else {
            return BTreeSet::new();
        };
        let record = &records[position];
        resolver.linked_ids_of(
            &record.links,
            &note_file(&self.root, &record.id, &record.path),
        )
    }
}

/// A stored note as the walk would have found it.
fn note_file(root: &std::path::Path, id: &str, path: &str) -> NoteFile {
    NoteFile {
        id: id.to_owned(),
        path: root.join(path),
        rel_path: PathBuf::from(path),
    }
}
