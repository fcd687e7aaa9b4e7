//! What the last update stored, as readers see it: the notes in id order with their vectors.
//!
//! `similar`, `explain`, `export` and `dupes` all read a snapshot; none of them writes. A
//! one-shot command loads one and drops it. A long-running reader (`serve`, `mcp`) keeps it,
//! and before each request checks two cheap things that change when an update commits: SQLite's
//! `PRAGMA data_version` on a connection it keeps open (it moves whenever another connection
//! commits) and the store file's inode (a store set aside and rebuilt is a new file). While
//! both stay the same the snapshot is reused; when either moves it is loaded again, so new
//! vectors appear without a restart and an unchanged store costs one pragma per request.
//!
//! A snapshot is read inside one read transaction, so the notes and the vector file's extent
//! come from the same commit even while `update` or `watch` commits (the store is in WAL mode).
//! The vector file is memory-mapped; a compaction that replaces it leaves the old mapping valid
//! until the snapshot is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::query::{Hit, NoteRef};
use crate::store::{NoteRecord, Store, StoredList};
use crate::vectors::{VectorFile, VectorMeta};
use crate::Engine;

/// The stored notes (those with a committed vector), in id order, and their vectors.
pub(crate) struct Snapshot {
    pub records: Vec<NoteRecord>,
    pub vectors: VectorFile,
    /// Position in `records` of each note row.
    pub position_of_row: HashMap<i64, usize>,
    /// The lexical side of a hybrid similarity, by position (`None`: cosine alone).
    pub lexical: Option<closest_index::Lexical>,
    /// The folder's learned statistics, for preparing a query text as notes are.
    pub learned: Option<crate::learned::Learned>,
    /// The least score a shown link has (`floor::least_score`), as the last update wrote.
    pub least: f32,
}

impl Snapshot {
    /// Reads the notes and the vector file; the caller holds a read transaction, so both come
    /// from one commit.
    fn load(engine: &Engine, store: &Store) -> Result<Self> {
        let settings = engine.settings();
        let model = engine.model();
        let key = model.vector_key(settings.long);
        let meta = VectorMeta::from_entries(|name| store.meta(name).ok().flatten());
        let (vectors, reset) = VectorFile::open(&settings.state_dir, meta, &key, model.dim());
        let mut records = if reset.is_some() {
            Vec::new()
        } else {
            store.notes()?
        };
        records.retain(|record| (record.slot as usize) < vectors.rows());
        records.sort_by(|a, b| a.id.cmp(&b.id));
        if records.is_empty() {
            return Err(Error::NothingStored {
                root: settings.root.display().to_string(),
            });
        }
        let position_of_row: HashMap<i64, usize> = records
            .iter()
            .enumerate()
            .map(|(position, record)| (record.row, position))
            .collect();
        let lexical = match settings.lexical_weight() {
            Some(weight) => {
                let mut terms = vec![Vec::new(); records.len()];
                store.each_terms(|row, stored| {
                    if let Some(&position) = position_of_row.get(&row) {
                        terms[position] = stored.to_vec();
                    }
                })?;
                Some(closest_index::Lexical::new(terms, weight))
            }
            None => None,
        };
        let folder = crate::lockfile::Folder::open(settings, &mut Vec::new());
        let floor_key = crate::floor::key(settings, &key);
        let floor = folder
            .floor
            .filter(|floor| floor.key == floor_key)
            .map(|floor| floor.score);
        Ok(Snapshot {
            records,
            vectors,
            position_of_row,
            lexical,
            learned: folder.learned,
            least: crate::floor::least_score(settings, floor),
        })
    }

    /// Each record's vector, in record order.
    pub(crate) fn rows(&self) -> Vec<&[f32]> {
        self.records
            .iter()
            .map(|record| self.vectors.row(record.slot))
            .collect()
    }

    pub(crate) fn row(&self, position: usize) -> &[f32] {
        self.vectors.row(self.records[position].slot)
    }

    /// The position of the note with this id.
    /// The position of the note `name` names: its id, path or file name (`names.rs`).
    pub(crate) fn position(&self, name: &str) -> Result<usize> {
        crate::names::position(&self.records, name)
    }

    pub(crate) fn note(&self, position: usize) -> NoteRef {
        let record = &self.records[position];
        NoteRef {
            id: record.id.clone(),
            path: record.path.clone(),
            title: record.title.clone(),
        }
    }

    pub(crate) fn hit(&self, position: usize, score: f32) -> Hit {
        let record = &self.records[position];
        Hit {
            id: record.id.clone(),
            path: record.path.clone(),
            title: record.title.clone(),
            score,
        }
    }

    /// A stored list as (position, score), best first; entries naming a note that is not in
    /// the snapshot are left out.
    pub(crate) fn translate(&self, list: &StoredList) -> Vec<(usize, f32)> {
        list.iter()
            .filter_map(|&(row, score)| {
                self.position_of_row
                    .get(&row)
                    .map(|&position| (position, score))
            })
            .collect()
    }
}

/// A snapshot kept between calls, with the connection that tells when it is out of date.
#[derive(Default)]
pub(crate) struct Cache {
    kept: Mutex<Option<Kept>>,
}

struct Kept {
    store: Store,
    inode: Option<u64>,
    version: i64,
    snapshot: Arc<Snapshot>,
}

impl Cache {
    /// The current snapshot: the kept one while no update has committed since it was loaded,
    /// else a fresh one.
    pub(crate) fn get(&self, engine: &Engine) -> Result<Arc<Snapshot>> {
        self.with(engine, |kept| Ok(kept.snapshot.clone()))
    }

    /// Runs `read` with the current snapshot and the store it came from (for reads the
    /// snapshot does not hold, such as one note's stored list).
    pub(crate) fn with<T>(
        &self,
        engine: &Engine,
        read: impl FnOnce(&KeptView<'_>) -> Result<T>,
    ) -> Result<T> {
        let mut kept = self
            .kept
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let store_path = engine.settings().state_dir.join(crate::store::STORE_FILE);
        let fresh = match kept.as_ref() {
            Some(current) => {
                current.inode == inode_of(&store_path)
                    && current.store.data_version()? == current.version
            }
            None => false,
        };
        if !fresh {
            // The old connection goes first: a store rebuilt since must be opened anew.
            *kept = None;
        }
        let current = match &mut *kept {
            Some(current) => current,
            empty => empty.insert(Kept::load(engine, &store_path)?),
        };
        read(&KeptView {
            store: &current.store,
            snapshot: &current.snapshot,
        })
    }
}

impl Kept {
    fn load(engine: &Engine, store_path: &std::path::Path) -> Result<Self> {
        let store = open_reader(engine)?;
        // Read before loading: a commit in between makes the next call load again, never
        // keep a snapshot older than its version says.
        let version = store.data_version()?;
        let inode = inode_of(store_path);
        let snapshot = Arc::new(store.read(|store| Snapshot::load(engine, store))?);
        Ok(Kept {
            store,
            inode,
            version,
            snapshot,
        })
    }
}

fn inode_of(path: &std::path::Path) -> Option<u64> {
    closest_notes::stat_path(path).map(|stat| stat.inode)
}

/// A kept snapshot and its store, lent for one read.
pub(crate) struct KeptView<'a> {
    pub store: &'a Store,
    pub snapshot: &'a Arc<Snapshot>,
}

/// A snapshot and every stored candidate list, from one commit (for `export` and `dupes`,
/// which read every list once).
pub(crate) fn with_lists(engine: &Engine) -> Result<(Snapshot, HashMap<i64, StoredList>)> {
    let store = open_reader(engine)?;
    store.read(|store| Ok((Snapshot::load(engine, store)?, store.lists()?)))
}

/// The folder's store, read only; none yet is "run update first".
fn open_reader(engine: &Engine) -> Result<Store> {
    let settings = engine.settings();
    Store::open_reader(&settings.state_dir)?.ok_or_else(|| crate::Error::NothingStored {
        root: settings.root.display().to_string(),
    })
}
