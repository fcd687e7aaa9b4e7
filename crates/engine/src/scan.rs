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
use crate::store::{NoteRecord, Stat};

/// One note found on disk.
#[derive(Debug, Clone)]
pub struct Entry {
    pub file: NoteFile,
    /// `None` when the file vanished between the walk and its stat.
    pub stat: Option<Stat>,
    /// Whether this run must read the note (new, changed, racy, or everything is re-read).
    pub read: bool,
}

/// The stored records of the notes on disk, by their position: kept as the store gave them,
/// so that a million records are paired without being moved.
#[derive(Debug, Default)]
pub struct Records {
    loaded: Vec<NoteRecord>,
    /// By position: the index of the note's record in `loaded`, or `Records::NONE`.
    at: Vec<u32>,
}

impl Records {
    const NONE: u32 = u32::MAX;

    /// The record of the note at `position`, as the last run left it.
    pub fn get(&self, position: usize) -> Option<&NoteRecord> {
        self.at
            .get(position)
            .filter(|&&index| index != Self::NONE)
            .map(|&index| &self.loaded[index as usize])
    }

    /// Removes the notes at these positions (sorted, each once), returning their records.
    pub fn remove(&mut self, positions: &[usize]) -> Vec<NoteRecord> {
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
pub struct Scan {
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

impl Scan {
    pub fn to_read(&self) -> usize {
        self.entries.iter().filter(|entry| entry.read).count()
    }
}

/// Walks the folder and pairs each note with its record (`records` loads them, on this thread
/// while the walk and the stats run on others). `read_all` forces every note to be read (a
/// changed setting, model or vector file, or `--full`).
pub fn scan(
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
pub fn rel_text(rel_path: &Path) -> String {
    rel_path
        .components()
        .map(|component| component.as_os_str().to_string_lossy())
        .collect::<Vec<_>>()
        .join("/")
}

/// Removes leftover temporary files; each one that cannot be removed is a warning.
pub fn sweep(temp_files: &[PathBuf]) -> Vec<Warning> {
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
