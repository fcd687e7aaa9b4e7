//! Step one of a run: what is on disk against what the store recorded.
//!
//! The walk lists the notes (ignore rules, globs, ids) and `stat`s each in the thread that read
//! its folder, while this thread loads the records; each note is paired with its record by
//! path. A note is read again only when its size, modification time or inode
//! differ from the record, when the record's stat was racy (taken within the timestamp tick in
//! which the file could still change unseen), or when a setting, the model or the stored
//! vectors changed so that every note must be looked at again (`read_all`). Records whose file
//! is gone are the departed notes.
//!
//! A note whose content changes while its size, modification time and inode stay the same (a
//! clock set back, a tool that restores times) is not seen; `update --full` reads everything.

use std::path::{Path, PathBuf};

use closest_notes::{walk_with_stats, NoteFile};
use rayon::prelude::*;

use crate::error::{Result, Warning};
use crate::settings::FolderSettings;
use crate::store::{NoteRecord, Stat, Store};

/// One note found on disk.
#[derive(Debug, Clone)]
pub(crate) struct Entry {
    pub file: NoteFile,
    /// `None` when the file vanished between the walk and its stat.
    pub stat: Option<Stat>,
    /// Whether this run must read the note (new, changed, racy, or everything is re-read).
    pub read: bool,
}

/// The stored records of the notes on disk, by their position: kept as the store gave them
/// (by row), so that a million records are paired without being moved. They come without
/// their titles, links and regions, which a run reads (`fill`) for the notes it reads, writes,
/// renders or links to, before it looks at them.
#[derive(Debug, Default)]
pub(crate) struct Records {
    loaded: Vec<NoteRecord>,
    /// By position: the index of the note's record in `loaded`, or `Records::NONE`.
    at: Vec<u32>,
    /// By index in `loaded`: whether its title, links and region are in.
    detailed: Vec<bool>,
}

impl Records {
    const NONE: u32 = u32::MAX;

    /// The record of the note at `position`, as the last run left it.
    pub(crate) fn get(&self, position: usize) -> Option<&NoteRecord> {
        self.at
            .get(position)
            .filter(|&&index| index != Self::NONE)
            .map(|&index| &self.loaded[index as usize])
    }

    /// Reads the titles, links and regions of the records of these positions that lack them:
    /// one by one for a few, in one pass over the store for many.
    pub(crate) fn fill(
        &mut self,
        store: &Store,
        positions: impl IntoIterator<Item = usize>,
    ) -> Result<()> {
        let mut wanted: Vec<usize> = positions
            .into_iter()
            .filter_map(|position| {
                let index = *self.at.get(position)?;
                (index != Self::NONE && !self.detailed[index as usize]).then_some(index as usize)
            })
            .collect();
        if wanted.is_empty() {
            return Ok(());
        }
        wanted.sort_unstable();
        wanted.dedup();
        if wanted.len() >= self.loaded.len() / FILL_ALL_FROM {
            let loaded = &mut self.loaded;
            store.each_details(|row, details| {
                if let Ok(index) = loaded.binary_search_by_key(&row, |record| record.row) {
                    loaded[index].set_details(details);
                }
            })?;
            self.detailed.fill(true);
            return Ok(());
        }
        let rows: Vec<i64> = wanted.iter().map(|&index| self.loaded[index].row).collect();
        for (row, details) in store.details_of(&rows)? {
            if let Ok(index) = self.loaded.binary_search_by_key(&row, |record| record.row) {
                self.loaded[index].set_details(details);
            }
        }
        for index in wanted {
            self.detailed[index] = true;
        }
        Ok(())
    }

    /// Removes the notes at these positions (sorted, each once), returning their records.
    pub(crate) fn remove(&mut self, positions: &[usize]) -> Vec<NoteRecord> {
        let removed: Vec<NoteRecord> = positions
            .iter()
            .filter_map(|&position| self.get(position).cloned())
            .collect();
        let mut leaving = positions.iter().peekable();
        let mut position = 0;
        self.at.retain(|_| {
            let leaves = leaving.next_if_eq(&&position).is_some();
            position += 1;
            !leaves
        });
        removed
    }
}

/// The outcome of the scan.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// The notes on disk, sorted by id.
    pub entries: Vec<Entry>,
    /// The entries' stored records, by position.
    pub records: Records,
    /// Records whose file is gone (or is no longer a note: excluded, renamed).
    pub departed: Vec<NoteRecord>,
    /// Temporary files a killed run left beside notes.
    pub temp_files: Vec<PathBuf>,
    /// Note-template folders the walk left out.
    pub template_folders: Vec<closest_notes::TemplateFolder>,
    pub warnings: Vec<Warning>,
}

/// A fill of at least one record in this many reads every record's details in one pass.
const FILL_ALL_FROM: usize = 16;

/// Walks the folder and pairs each note with its record (`records` loads them, on this thread
/// while the walk and the stats run on others). `read_all` forces every note to be read (a
/// changed setting, model or vector file, or `--full`).
pub(crate) fn scan(
    settings: &FolderSettings,
    records: impl FnOnce() -> Result<Vec<NoteRecord>>,
    read_all: bool,
) -> Result<Scan> {
    let (walked, records) = std::thread::scope(|scope| {
        let walker = scope.spawn(|| walk_with_stats(&settings.root, &settings.walk_options()));
        let records = records().map(ByPath::new);
        let walked = walker
            .join()
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        (walked, records)
    });
    let (walked, stats) = walked?;
    let by_path = records?;
    // Each note's record and whether to read the note, on every core.
    let found: Vec<(Option<u32>, bool)> = walked
        .notes
        .par_iter()
        .zip(&stats)
        .map(|(file, stat)| {
            let index = match file.rel_path.to_str() {
                Some(rel) if !rel.contains('\\') => by_path.get(rel),
                _ => by_path.get(rel_text(&file.rel_path).as_str()),
            };
            let read = read_all
                || match (index, stat) {
                    (Some(index), Some(stat)) => {
                        let record = &by_path.records[index as usize];
                        record.racy || record.stat != *stat || record.stale
                    }
                    _ => true,
                };
            (index, read)
        })
        .collect();
    let mut paired = vec![false; by_path.records.len()];
    for index in found.iter().filter_map(|&(index, _)| index) {
        paired[index as usize] = true;
    }
    let entries: Vec<Entry> = walked
        .notes
        .into_iter()
        .zip(stats)
        .zip(&found)
        .map(|((file, stat), &(_, read))| Entry { file, stat, read })
        .collect();
    let mut departed: Vec<NoteRecord> = by_path
        .records
        .iter()
        .zip(&paired)
        .filter(|(_, &paired)| !paired)
        .map(|(record, _)| record.clone())
        .collect();
    departed.sort_by(|a, b| a.path.cmp(&b.path));
    let records = if found.iter().any(|(index, _)| index.is_some()) {
        Records {
            detailed: vec![false; by_path.records.len()],
            loaded: by_path.records,
            at: found
                .into_iter()
                .map(|(index, _)| index.unwrap_or(Records::NONE))
                .collect(),
        }
    } else {
        Records::default()
    };
    Ok(Scan {
        entries,
        records,
        departed,
        temp_files: walked.temp_files,
        template_folders: walked.template_folders,
        warnings: walked.warnings.into_iter().map(Warning::from).collect(),
    })
}

/// The records and a table of their indexes by path, made on the thread that loaded them while
/// the walk still runs. The table holds indexes only, and finds them through the records'
/// paths: a million records are indexed without copying a path.
struct ByPath {
    records: Vec<NoteRecord>,
    table: hashbrown::HashTable<u32>,
    hasher: ahash::RandomState,
}

impl ByPath {
    fn new(records: Vec<NoteRecord>) -> Self {
        let hasher = ahash::RandomState::new();
        let mut table = hashbrown::HashTable::with_capacity(records.len());
        for (index, record) in records.iter().enumerate() {
            let hash = hasher.hash_one(record.path.as_str());
            table.insert_unique(hash, index as u32, |&other| {
                hasher.hash_one(records[other as usize].path.as_str())
            });
        }
        Self {
            records,
            table,
            hasher,
        }
    }

    /// The index of the record with this path.
    fn get(&self, path: &str) -> Option<u32> {
        let hash = self.hasher.hash_one(path);
        self.table
            .find(hash, |&index| self.records[index as usize].path == path)
            .copied()
    }
}

/// A note's path relative to the root as the store keeps it: `/`-separated text.
pub(crate) fn rel_text(rel_path: &Path) -> String {
    rel_path
        .components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Removes leftover temporary files; each one that cannot be removed is a warning.
pub(crate) fn sweep(temp_files: &[PathBuf]) -> Vec<Warning> {
    temp_files
        .iter()
        .filter_map(|path| match std::fs::remove_file(path) {
            Ok(()) => None,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => Some(Warning::TempFile {
                path: path.clone(),
                reason: err.to_string(),
            }),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{Commit, Details};

    /// Records read without their titles, links and regions get them for the positions asked
    /// (one by one for a few, all at once for many), and keep them.
    #[test]
    fn records_get_their_details_where_asked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, _) = Store::open(dir.path()).expect("opens");
        let note = |row: i64| NoteRecord {
            row,
            path: format!("{row}.md"),
            id: row.to_string(),
            stat: Stat::default(),
            racy: false,
            text_hash: [row as u8; 16],
            slot: row as u32,
            title: format!("Title {row}"),
            links: vec![(format!("l{row}"), true)],
            region: Some(format!("{{\"r\":{row}}}")),
            rendered: None,
            stale: false,
            evidence: closest_notes::LinkEvidence::default(),
        };
        let stored: Vec<NoteRecord> = (1..=40).map(note).collect();
        store
            .commit(&Commit::default(), |rows| {
                stored.iter().try_for_each(|record| rows.note(record))
            })
            .expect("commit");
        let loaded = store.notes_without_details().expect("records");
        assert!(loaded.iter().all(|record| record.title.is_empty()));
        let n = loaded.len();
        // Positions in reverse row order; position 40 has no record.
        let mut records = Records {
            detailed: vec![false; n],
            loaded,
            at: (0..n as u32).rev().chain([Records::NONE]).collect(),
        };
        let details = |record: &NoteRecord| Details {
            title: record.title.clone(),
            links: record.links.clone(),
            region: record.region.clone(),
        };
        records.fill(&store, [0, 40]).expect("a few");
        assert_eq!(records.get(0).expect("record").row, 40);
        assert_eq!(details(records.get(0).expect("record")), details(&note(40)));
        assert!(records.get(1).expect("record").title.is_empty());
        assert!(records.get(40).is_none());
        records.fill(&store, 0..41).expect("all");
        for position in 0..40 {
            let row = 40 - position as i64;
            assert_eq!(
                details(records.get(position).expect("record")),
                details(&note(row))
            );
        }
    }
}
