//! The store: what the last run saw and wrote, in `<state dir>/store.sqlite`.
//!
//! Per note: its path, id, file size, modification time and inode as last seen (so an unchanged
//! note is not read again), the hash of its text to embed and the slot of that text's vector,
//! its title and links, the managed region it last wrote and a hash of the links in it, and its
//! raw candidate list (the exact best k + margin other notes with scores). Vectors themselves
//! live in a flat file beside it (`vectors.rs`); this database maps text hashes to their slots.
//!
//! It is a cache with a schema version. A store of an older version is migrated keeping its
//! vectors; a damaged one or one of an unknown version is set aside and rebuilt with a warning.
//! Every run commits in one transaction, touching only the rows of notes that changed.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use rusqlite::{params, CachedStatement, Connection, OpenFlags, OptionalExtension, Transaction};

use closest_notes::LinkEvidence;

use crate::error::{Error, Result};
use crate::hash::TextHash;

/// Bumped whenever the tables change meaning; `migrate` knows every older version.
pub const SCHEMA_VERSION: i64 = 2;
pub const STORE_FILE: &str = "store.sqlite";

/// A file's identity as `stat` reports it: a note whose size, modification time and inode all
/// match what the store recorded is not read again (git's index works the same way).
pub use closest_notes::FileStat as Stat;

/// One note as the last run left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NoteRecord {
    /// Stable key of the note while its path stays the same; lists refer to notes by it.
    pub row: i64,
    pub path: String,
    pub id: String,
    pub stat: Stat,
    /// The stat was taken while the file could still change within the same timestamp tick,
    /// so it proves nothing: the next run reads the note again.
    pub racy: bool,
    pub text_hash: TextHash,
    pub slot: u32,
    pub title: String,
    /// Links outside the managed region, as `(target, wikilink)`, JSON in the table.
    pub links: Vec<(String, bool)>,
    /// The note's vote on the folder's link form (its links to notes with and without `.md`).
    pub evidence: LinkEvidence,
    /// The managed region last written, as JSON; `None` when closest never wrote the note.
    pub region: Option<String>,
    /// Hash of the link lines last written; `None` when the note has not been written.
    pub rendered: Option<TextHash>,
    /// The last run could not write the note's section.
    pub stale: bool,
}

/// What a note's record holds beyond what a scan needs: the title, links and region.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Details {
    pub title: String,
    pub links: Vec<(String, bool)>,
    pub region: Option<String>,
}

impl NoteRecord {
    /// Puts in the title, links and region a record was read without.
    pub fn set_details(&mut self, details: Details) {
        self.title = details.title;
        self.links = details.links;
        self.region = details.region;
    }
}

/// A note's raw candidate list: (row of the other note, score), best first.
pub type StoredList = Vec<(i64, f32)>;

/// A note's lexical vector as stored: (term, weight), sorted by term.
pub type StoredTerms = Vec<(u32, f32)>;

/// What one run changes besides its notes, lists and words (which `Store::commit` has the run
/// write as it makes them), committed with them at once.
#[derive(Debug, Default)]
pub struct Commit {
    /// Rows of notes that are gone.
    pub deletes: Vec<i64>,
    /// Lists of notes whose lists are to be dropped (all of them after a full rank).
    pub clear_lists: bool,
    pub vectors: Vec<(TextHash, u32)>,
    pub pruned: Vec<TextHash>,
    pub meta: Vec<(&'static str, String)>,
}

const TERMS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS terms (row INTEGER PRIMARY KEY, terms BLOB NOT NULL);";

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// Why a store could not be opened: damaged (rebuilt by an update), or a failure that says
/// nothing about the store (a full disk, a permission, a lock), which leaves it as it is.
enum Unusable {
    Damaged(String),
    Failed(rusqlite::Error),
}

impl Unusable {
    fn of(err: rusqlite::Error) -> Unusable {
        let damaged = matches!(
            err.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        );
        if damaged {
            Unusable::Damaged(err.to_string())
        } else {
            Unusable::Failed(err)
        }
    }
}

/// Stores up to this size are checked (`PRAGMA quick_check`) every time they are opened;
/// larger ones (about 100,000 notes and up, where the check reads for a second or more) when
/// asked: `update --full` and `doctor`. A damaged page of a large store otherwise fails the
/// query that reads it, with an error naming the store.
const CHECK_ALWAYS_BYTES: u64 = 64 << 20;

impl Store {
    /// Opens (or creates) the store in `state_dir`, migrating an older schema. A store that
    /// cannot be used is removed and recreated; the returned reason says why.
    pub fn open(state_dir: &Path) -> Result<(Self, Option<String>)> {
        Self::open_checked(state_dir, false)
    }

    /// As `open`, with the integrity check whatever the store's size when `check_all`.
    pub fn open_checked(state_dir: &Path, check_all: bool) -> Result<(Self, Option<String>)> {
        crate::state_dir::ensure(state_dir)?;
        let path = state_dir.join(STORE_FILE);
        let check = check_all
            || std::fs::metadata(&path).map_or(true, |meta| meta.len() <= CHECK_ALWAYS_BYTES);
        match Self::try_open(&path, check) {
            Ok(store) => Ok((store, None)),
            // A full disk, a permission, a lock: the store is not damaged, and stays.
            Err(Unusable::Failed(source)) => Err(Error::from_store(path, source)),
            Err(Unusable::Damaged(reason)) => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let file = PathBuf::from(format!("{}{suffix}", path.display()));
                    match std::fs::remove_file(&file) {
                        Ok(()) => {}
                        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
                        Err(err) => return Err(Error::io("remove", file, err)),
                    }
                }
                let store = Self::try_open(&path, true).map_err(|unusable| match unusable {
                    Unusable::Failed(source) => Error::from_store(path.clone(), source),
                    Unusable::Damaged(reason) => Error::Invalid(format!(
                        "cannot create the store `{}`: {reason}",
                        path.display()
                    )),
                })?;
                Ok((store, Some(reason)))
            }
        }
    }

    /// Opens the store only to read it, as every command but the engine's update steps does:
    /// it never creates, migrates, rebuilds or removes a store, so readers beside a first
    /// `update` cannot destroy the store it is filling. `Ok(None)` when there is none yet (or
    /// its first run has not committed); a store of another schema is an error that says to
    /// run `closest update`.
    pub fn open_reader(state_dir: &Path) -> Result<Option<Self>> {
        let path = state_dir.join(STORE_FILE);
        if !path.is_file() {
            return Ok(None);
        }
        let failed = |source| Error::from_store(path.clone(), source);
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(failed)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(failed)?;
        let version: Option<String> = match conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |row| row.get(0),
            )
            .optional()
        {
            Ok(version) => version,
            // No tables yet: a first run is creating the store.
            Err(rusqlite::Error::SqliteFailure(_, Some(message)))
                if message.starts_with("no such table") =>
            {
                return Ok(None)
            }
            Err(source) => return Err(failed(source)),
        };
        if version.as_deref().and_then(|v| v.parse::<i64>().ok()) != Some(SCHEMA_VERSION) {
            return Err(Error::StoreOutdated { path });
        }
        Ok(Some(Self { conn, path }))
    }

    /// A store of nothing, in memory: what a reader plans with before the first update.
    pub fn empty() -> Result<Self> {
        let path = PathBuf::from(":memory:");
        let failed = |source| Error::from_store(path.clone(), source);
        let mut store = Self {
            conn: Connection::open_in_memory().map_err(failed)?,
            path: path.clone(),
        };
        store.create().map_err(failed)?;
        Ok(store)
    }

    fn try_open(path: &Path, check: bool) -> std::result::Result<Self, Unusable> {
        let text = Unusable::of;
        let conn = Connection::open(path).map_err(text)?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(text)?;
        // WAL keeps the database consistent if we are killed mid-transaction, and lets
        // `status` and `serve` read while an update writes.
        let _: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(text)?;
        conn.execute_batch("PRAGMA synchronous=NORMAL;")
            .map_err(text)?;
        if check {
            let check: String = conn
                .query_row("PRAGMA quick_check", [], |row| row.get(0))
                .map_err(text)?;
            if check != "ok" {
                return Err(Unusable::Damaged(format!(
                    "integrity check failed: {check}"
                )));
            }
        }
        let has_meta: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map_err(text)?
            > 0;
        let mut store = Self {
            conn,
            path: path.to_owned(),
        };
        if !has_meta {
            store.create().map_err(text)?;
            return Ok(store);
        }
        let version: Option<String> = store
            .conn
            .query_row(
                "SELECT value FROM meta WHERE key = 'schema_version'",
                [],
                |row| row.get(0),
            )
            .optional()
            .map_err(text)?;
        // Lexical vectors (issue 14) joined version 2 as a table of their own: a store
        // without it gets it, and its notes are read again because their texts were prepared
        // without learned statistics (the `text` fingerprint moved).
        store.conn.execute_batch(TERMS_TABLE).map_err(text)?;
        match version.as_deref().and_then(|v| v.parse::<i64>().ok()) {
            Some(SCHEMA_VERSION) => Ok(store),
            Some(1) => {
                crate::migrate::from_v1(&mut store.conn).map_err(text)?;
                Ok(store)
            }
            _ => Err(Unusable::Damaged(format!(
                "schema version {} where {SCHEMA_VERSION} is expected",
                version.unwrap_or_else(|| "none".to_owned())
            ))),
        }
    }

    fn create(&mut self) -> rusqlite::Result<()> {
        let tx = self.conn.transaction()?;
        create_tables(&tx)?;
        tx.commit()
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn meta(&self, key: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT value FROM meta WHERE key = ?1", [key], |row| {
                row.get(0)
            })
            .optional()
            .map_err(|source| self.error(source))
    }

    /// Every note the last run recorded, in no particular order.
    pub fn notes(&self) -> Result<Vec<NoteRecord>> {
        self.notes_by(&format!("SELECT {NOTE_COLUMNS} FROM notes"), note_from_row)
    }

    /// Every note the last run recorded, by row, without its title, links and region (empty
    /// until `details_of` or `each_details` gives them): what a scan needs of a million notes,
    /// in half the time.
    pub fn notes_without_details(&self) -> Result<Vec<NoteRecord>> {
        self.notes_by(
            &format!("SELECT {SCAN_COLUMNS} FROM notes ORDER BY row"),
            note_without_details,
        )
    }

    fn notes_by(
        &self,
        query: &str,
        from_row: fn(&rusqlite::Row<'_>) -> rusqlite::Result<NoteRecord>,
    ) -> Result<Vec<NoteRecord>> {
        let run = || -> rusqlite::Result<Vec<NoteRecord>> {
            // Made at its size: a million records grown by doubling would be copied over and
            // over into fresh memory.
            let count: i64 = self
                .conn
                .query_row("SELECT count(*) FROM notes", [], |row| row.get(0))?;
            let mut records = Vec::with_capacity(usize::try_from(count).unwrap_or(0));
            let mut statement = self.conn.prepare(query)?;
            for record in statement.query_map([], from_row)? {
                records.push(record?);
            }
            Ok(records)
        };
        run().map_err(|source| self.error(source))
    }

    /// The title, links and region of the notes at these rows (a row without a note is left
    /// out).
    pub fn details_of(&self, rows: &[i64]) -> Result<Vec<(i64, Details)>> {
        let run = || -> rusqlite::Result<Vec<(i64, Details)>> {
            let mut statement = self
                .conn
                .prepare_cached("SELECT title, links, region FROM notes WHERE row = ?1")?;
            let mut found = Vec::with_capacity(rows.len());
            for &row in rows {
                if let Some(details) = statement
                    .query_row([row], |row| details_at(row, 0))
                    .optional()?
                {
                    found.push((row, details));
                }
            }
            Ok(found)
        };
        run().map_err(|source| self.error(source))
    }

    /// Calls `each` with every note's row and its title, links and region.
    pub fn each_details(&self, mut each: impl FnMut(i64, Details)) -> Result<()> {
        let mut run = || -> rusqlite::Result<()> {
            let mut statement = self
                .conn
                .prepare("SELECT title, links, region, row FROM notes")?;
            let mut rows = statement.query([])?;
            while let Some(row) = rows.next()? {
                each(row.get(3)?, details_at(row, 0)?);
            }
            Ok(())
        };
        run().map_err(|source| self.error(source))
    }

    /// Calls `each` with every stored candidate list: the note's row and its entries as
    /// (row of the other note, score), best first, decoded as they are read.
    pub fn each_list(
        &self,
        each: impl FnMut(i64, &mut dyn ExactSizeIterator<Item = (i64, f32)>),
    ) -> Result<()> {
        self.each_list_in(i64::MIN..i64::MAX, each)
    }

    /// `each_list` over the notes whose rows lie in `rows`.
    pub fn each_list_in(
        &self,
        rows: Range<i64>,
        mut each: impl FnMut(i64, &mut dyn ExactSizeIterator<Item = (i64, f32)>),
    ) -> Result<()> {
        let mut run = || -> rusqlite::Result<()> {
            let mut statement = self
                .conn
                .prepare("SELECT row, candidates FROM lists WHERE row >= ?1 AND row < ?2")?;
            let mut found = statement.query([rows.start, rows.end])?;
            while let Some(row) = found.next()? {
                let bytes = row.get_ref(1)?.as_blob()?;
                let mut entries = bytes.chunks_exact(8).map(|entry| {
                    let other = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
                    let score = f32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
                    (i64::from(other), score)
                });
                each(row.get(0)?, &mut entries);
            }
            Ok(())
        };
        run().map_err(|source| self.error(source))
    }

    /// Calls `each` with every stored lexical vector: the note's row and its (term, weight)
    /// pairs, sorted by term (decoded into one buffer, reused from row to row).
    pub fn each_terms(&self, each: impl FnMut(i64, &[(u32, f32)])) -> Result<()> {
        self.each_terms_in(i64::MIN..i64::MAX, each)
    }

    /// `each_terms` over the notes whose rows lie in `rows`.
    pub fn each_terms_in(
        &self,
        rows: Range<i64>,
        mut each: impl FnMut(i64, &[(u32, f32)]),
    ) -> Result<()> {
        let mut run = || -> rusqlite::Result<()> {
            let mut statement = self
                .conn
                .prepare("SELECT row, terms FROM terms WHERE row >= ?1 AND row < ?2")?;
            let mut found = statement.query([rows.start, rows.end])?;
            let mut terms = Vec::new();
            while let Some(row) = found.next()? {
                terms.clear();
                terms.extend(decode_terms(row.get_ref(1)?.as_blob()?));
                each(row.get(0)?, &terms);
            }
            Ok(())
        };
        run().map_err(|source| self.error(source))
    }

    /// A second connection to this store that only reads, for a pass on another thread. It
    /// sees what this one last committed.
    pub fn reader(&self) -> Result<Store> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|conn| {
            conn.busy_timeout(std::time::Duration::from_secs(30))?;
            Ok(conn)
        })
        .map_err(|source| self.error(source))?;
        Ok(Store {
            conn,
            path: self.path.clone(),
        })
    }

    /// The stored lexical vectors of these note rows (a row without one is left out).
    pub fn terms_of(&self, rows: &[i64]) -> Result<Vec<(i64, StoredTerms)>> {
        let run = || -> rusqlite::Result<Vec<(i64, StoredTerms)>> {
            let mut statement = self
                .conn
                .prepare_cached("SELECT terms FROM terms WHERE row = ?1")?;
            let mut found = Vec::with_capacity(rows.len());
            for &row in rows {
                let terms = statement
                    .query_row([row], |stored| {
                        Ok(decode_terms(stored.get_ref(0)?.as_blob()?).collect())
                    })
                    .optional()?;
                if let Some(terms) = terms {
                    found.push((row, terms));
                }
            }
            Ok(found)
        };
        run().map_err(|source| self.error(source))
    }

    /// The note recorded at this path (relative, `/`-separated), if any.
    pub fn note_at(&self, path: &str) -> Result<Option<NoteRecord>> {
        self.conn
            .query_row(
                &format!("SELECT {NOTE_COLUMNS} FROM notes WHERE path = ?1"),
                [path],
                note_from_row,
            )
            .optional()
            .map_err(|source| self.error(source))
    }

    /// Every stored candidate list, by note row.
    pub fn lists(&self) -> Result<HashMap<i64, StoredList>> {
        let run = || -> rusqlite::Result<HashMap<i64, StoredList>> {
            let mut statement = self.conn.prepare("SELECT row, candidates FROM lists")?;
            let rows = statement.query_map([], |row| {
                Ok((
                    row.get::<_, i64>(0)?,
                    decode_list(row.get_ref(1)?.as_blob()?),
                ))
            })?;
            rows.collect()
        };
        run().map_err(|source| self.error(source))
    }

    /// One note's stored candidate list, by the note's row.
    pub fn list(&self, row: i64) -> Result<Option<StoredList>> {
        self.conn
            .query_row(
                "SELECT candidates FROM lists WHERE row = ?1",
                [row],
                |row| Ok(decode_list(row.get_ref(0)?.as_blob()?)),
            )
            .optional()
            .map_err(|source| self.error(source))
    }

    /// A number that changes whenever another connection commits to the store: a reader
    /// keeps what it loaded until it does (SQLite's `PRAGMA data_version`).
    pub fn data_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(|source| self.error(source))
    }

    /// Runs `read` inside one read transaction, so that everything it reads comes from the
    /// same commit even while an update commits (WAL readers see a fixed snapshot).
    pub fn read<T>(&self, read: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|source| self.error(source))?;
        let value = read(self)?;
        tx.commit().map_err(|source| self.error(source))?;
        Ok(value)
    }

    /// The vector slots stored for these text hashes.
    pub fn slots(&self, hashes: &[TextHash]) -> Result<HashMap<TextHash, u32>> {
        let run = || -> rusqlite::Result<HashMap<TextHash, u32>> {
            let mut statement = self
                .conn
                .prepare_cached("SELECT slot FROM vectors WHERE hash = ?1")?;
            let mut found = HashMap::new();
            for hash in hashes {
                let slot: Option<i64> = statement
                    .query_row([&hash[..]], |row| row.get(0))
                    .optional()?;
                if let Some(slot) = slot {
                    found.insert(*hash, slot as u32);
                }
            }
            Ok(found)
        };
        run().map_err(|source| self.error(source))
    }

    /// How many vectors the store maps.
    pub fn vector_count(&self) -> Result<usize> {
        self.conn
            .query_row("SELECT count(*) FROM vectors", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|count| count as usize)
            .map_err(|source| self.error(source))
    }

    /// Every (hash, slot) pair, for compacting the vector file.
    pub fn all_slots(&self) -> Result<Vec<(TextHash, u32)>> {
        let run = || -> rusqlite::Result<Vec<(TextHash, u32)>> {
            let mut statement = self.conn.prepare("SELECT hash, slot FROM vectors")?;
            let rows = statement.query_map([], |row| {
                Ok((
                    blob_hash(row.get_ref(0)?.as_blob()?),
                    row.get::<_, i64>(1)? as u32,
                ))
            })?;
            rows.collect()
        };
        run().map_err(|source| self.error(source))
    }

    /// Vectors a version-1 store kept for this model, long-note policy and prompt.
    pub fn legacy_vectors(
        &self,
        model: &str,
        long: &str,
        prompt: &str,
    ) -> Result<Vec<(TextHash, Vec<f32>)>> {
        crate::migrate::v1_vectors(&self.conn, model, long, prompt)
            .map_err(|source| self.error(source))
    }

    /// Maps freshly written vectors (the vector file is synced before this is called), so a
    /// stopped run keeps what it embedded. Drops what a version-1 store left.
    pub fn add_vectors(
        &mut self,
        vectors: &[(TextHash, u32)],
        meta: &[(&str, String)],
    ) -> Result<()> {
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute_batch(crate::migrate::DROP_V1)?;
            insert_vectors(&tx, vectors)?;
            set_meta(&tx, meta)?;
            tx.commit()
        };
        run(&mut self.conn).map_err(|source| Error::from_store(self.path.clone(), source))
    }

    /// Replaces every vector mapping (after the vector file was compacted or reset).
    pub fn replace_vectors(
        &mut self,
        vectors: &[(TextHash, u32)],
        meta: &[(&str, String)],
    ) -> Result<()> {
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            tx.execute_batch(crate::migrate::DROP_V1)?;
            tx.execute("DELETE FROM vectors", [])?;
            insert_vectors(&tx, vectors)?;
            // One pass over the notes, each looking its text up by the vectors' key (a
            // statement per vector would scan every note for each: hours at 100,000 notes).
            tx.execute(
                "UPDATE notes SET slot = vectors.slot FROM vectors WHERE vectors.hash = notes.text_hash",
                [],
            )?;
            set_meta(&tx, meta)?;
            tx.commit()
        };
        run(&mut self.conn).map_err(|source| Error::from_store(self.path.clone(), source))
    }

    /// Records a run in one transaction: `commit`, and the changed notes, lists and words that
    /// `write` writes (after the deletes and the clearing of lists): a run that records a
    /// million notes makes each record as it is written instead of holding them all first.
    pub fn commit(
        &mut self,
        commit: &Commit,
        write: impl FnOnce(&mut Rows<'_>) -> rusqlite::Result<()>,
    ) -> Result<()> {
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            {
                let mut delete_note = tx.prepare_cached("DELETE FROM notes WHERE row = ?1")?;
                let mut delete_list = tx.prepare_cached("DELETE FROM lists WHERE row = ?1")?;
                let mut delete_terms = tx.prepare_cached("DELETE FROM terms WHERE row = ?1")?;
                for row in &commit.deletes {
                    delete_note.execute([row])?;
                    delete_list.execute([row])?;
                    delete_terms.execute([row])?;
                }
                if commit.clear_lists {
                    tx.execute("DELETE FROM lists", [])?;
                }
                write(&mut Rows::new(&tx)?)?;
                let mut prune = tx.prepare_cached("DELETE FROM vectors WHERE hash = ?1")?;
                for hash in &commit.pruned {
                    prune.execute([&hash[..]])?;
                }
            }
            insert_vectors(&tx, &commit.vectors)?;
            set_meta(&tx, &commit.meta)?;
            tx.commit()
        };
        run(&mut self.conn).map_err(|source| Error::from_store(self.path.clone(), source))
    }

    /// The next free note row: one past the largest ever used, so a row is never reused
    /// within a store's life (a list entry cannot silently point at another note).
    pub fn next_row(&self) -> Result<i64> {
        let stored: Option<String> = self.meta("next_row")?;
        let from_meta = stored
            .and_then(|value| value.parse::<i64>().ok())
            .unwrap_or(1);
        let max: i64 = self
            .conn
            .query_row("SELECT max(row) FROM notes", [], |row| {
                row.get::<_, Option<i64>>(0).map(|max| max.unwrap_or(0))
            })
            .map_err(|source| self.error(source))?;
        Ok(from_meta.max(max + 1))
    }

    fn error(&self, source: rusqlite::Error) -> Error {
        Error::from_store(self.path.clone(), source)
    }
}

/// The statements a commit writes notes, lists and words with.
pub struct Rows<'tx> {
    upsert: CachedStatement<'tx>,
    put_list: CachedStatement<'tx>,
    put_terms: CachedStatement<'tx>,
}

impl<'tx> Rows<'tx> {
    fn new(tx: &'tx Transaction<'_>) -> rusqlite::Result<Self> {
        Ok(Rows {
            upsert: tx.prepare_cached(
                "INSERT INTO notes (row, path, id, size, mtime_ns, inode, racy, text_hash, slot, title, links, region, rendered, stale, links_md, links_bare)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16)
                 ON CONFLICT(row) DO UPDATE SET path = excluded.path, id = excluded.id, size = excluded.size,
                   mtime_ns = excluded.mtime_ns, inode = excluded.inode, racy = excluded.racy,
                   text_hash = excluded.text_hash, slot = excluded.slot, title = excluded.title,
                   links = excluded.links, region = excluded.region, rendered = excluded.rendered,
                   stale = excluded.stale, links_md = excluded.links_md,
                   links_bare = excluded.links_bare",
            )?,
            put_list: tx
                .prepare_cached("INSERT OR REPLACE INTO lists (row, candidates) VALUES (?1, ?2)")?,
            put_terms: tx
                .prepare_cached("INSERT OR REPLACE INTO terms (row, terms) VALUES (?1, ?2)")?,
        })
    }

    /// Inserts or replaces a note's record.
    pub fn note(&mut self, note: &NoteRecord) -> rusqlite::Result<()> {
        self.upsert.execute(params![
            note.row,
            note.path,
            note.id,
            note.stat.size as i64,
            note.stat.mtime_ns,
            note.stat.inode as i64,
            note.racy,
            &note.text_hash[..],
            i64::from(note.slot),
            note.title,
            serde_json::to_string(&note.links).unwrap_or_else(|_| "[]".to_owned()),
            note.region,
            note.rendered.as_ref().map(|hash| &hash[..]),
            note.stale,
            note.evidence.with_extension as i64,
            note.evidence.without_extension as i64,
        ])?;
        Ok(())
    }

    /// Sets a note's list.
    pub fn list(&mut self, row: i64, list: &StoredList) -> rusqlite::Result<()> {
        self.put_list.execute(params![row, encode_list(list)])?;
        Ok(())
    }

    /// Sets a note's words.
    pub fn terms(&mut self, row: i64, terms: &[(u32, f32)]) -> rusqlite::Result<()> {
        let mut bytes = Vec::with_capacity(terms.len() * 8);
        for (term, weight) in terms {
            bytes.extend_from_slice(&term.to_le_bytes());
            bytes.extend_from_slice(&weight.to_le_bytes());
        }
        self.put_terms.execute(params![row, bytes])?;
        Ok(())
    }
}

/// The columns `note_from_row` reads, in its order: those of `note_without_details`, then
/// the details.
const NOTE_COLUMNS: &str = "row, path, id, size, mtime_ns, inode, racy, text_hash, slot, rendered, stale, links_md, links_bare, title, links, region";

/// The columns `note_without_details` reads, in its order.
const SCAN_COLUMNS: &str =
    "row, path, id, size, mtime_ns, inode, racy, text_hash, slot, rendered, stale, links_md, links_bare";

fn note_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<NoteRecord> {
    let mut record = note_without_details(row)?;
    record.set_details(details_at(row, 13)?);
    Ok(record)
}

fn note_without_details(row: &rusqlite::Row<'_>) -> rusqlite::Result<NoteRecord> {
    Ok(NoteRecord {
        row: row.get(0)?,
        path: row.get(1)?,
        id: row.get(2)?,
        stat: Stat {
            size: row.get::<_, i64>(3)? as u64,
            mtime_ns: row.get(4)?,
            inode: row.get::<_, i64>(5)? as u64,
        },
        racy: row.get(6)?,
        text_hash: blob_hash(row.get_ref(7)?.as_blob()?),
        slot: row.get::<_, i64>(8)? as u32,
        title: String::new(),
        links: Vec::new(),
        region: None,
        rendered: row.get_ref(9)?.as_blob_or_null()?.map(blob_hash),
        stale: row.get(10)?,
        evidence: LinkEvidence {
            with_extension: row.get::<_, i64>(11)? as usize,
            without_extension: row.get::<_, i64>(12)? as usize,
        },
    })
}

/// A note's title, links and region, from the three columns starting at `first`.
fn details_at(row: &rusqlite::Row<'_>, first: usize) -> rusqlite::Result<Details> {
    let links: String = row.get(first + 1)?;
    Ok(Details {
        title: row.get(first)?,
        links: serde_json::from_str(&links).unwrap_or_default(),
        region: row.get(first + 2)?,
    })
}

pub(crate) fn create_tables(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(&format!(
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
         INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');
         CREATE TABLE notes (
             row INTEGER PRIMARY KEY,
             path TEXT NOT NULL UNIQUE,
             id TEXT NOT NULL,
             size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, inode INTEGER NOT NULL,
             racy INTEGER NOT NULL,
             text_hash BLOB NOT NULL,
             slot INTEGER NOT NULL,
             title TEXT NOT NULL,
             links TEXT NOT NULL,
             region TEXT,
             rendered BLOB,
             stale INTEGER NOT NULL,
             links_md INTEGER NOT NULL,
             links_bare INTEGER NOT NULL);
         CREATE TABLE vectors (hash BLOB PRIMARY KEY, slot INTEGER NOT NULL) WITHOUT ROWID;
         CREATE TABLE lists (row INTEGER PRIMARY KEY, candidates BLOB NOT NULL);
         {TERMS_TABLE}"
    ))
}

fn insert_vectors(tx: &Transaction<'_>, vectors: &[(TextHash, u32)]) -> rusqlite::Result<()> {
    let mut insert =
        tx.prepare_cached("INSERT OR REPLACE INTO vectors (hash, slot) VALUES (?1, ?2)")?;
    for (hash, slot) in vectors {
        insert.execute(params![&hash[..], i64::from(*slot)])?;
    }
    Ok(())
}

fn set_meta(tx: &Transaction<'_>, meta: &[(&str, String)]) -> rusqlite::Result<()> {
    let mut put = tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?;
    for (key, value) in meta {
        put.execute(params![key, value])?;
    }
    Ok(())
}

/// A lexical vector from its bytes: per entry the term (u32) and weight (f32), little-endian.
fn decode_terms(bytes: &[u8]) -> impl Iterator<Item = (u32, f32)> + '_ {
    bytes.chunks_exact(8).map(|entry| {
        let term = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let weight = f32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
        (term, weight)
    })
}

fn blob_hash(blob: &[u8]) -> TextHash {
    let mut hash = [0u8; 16];
    let n = blob.len().min(16);
    hash[..n].copy_from_slice(&blob[..n]);
    hash
}

/// A list as bytes: per entry the other note's row (u32) and the score (f32), little-endian.
fn encode_list(list: &StoredList) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(list.len() * 8);
    for (row, score) in list {
        bytes.extend_from_slice(&(*row as u32).to_le_bytes());
        bytes.extend_from_slice(&score.to_le_bytes());
    }
    bytes
}

fn decode_list(bytes: &[u8]) -> StoredList {
    bytes
        .chunks_exact(8)
        .map(|entry| {
            let row = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
            let score = f32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
            (i64::from(row), score)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_store_is_rebuilt_with_a_warning() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(
            dir.path().join(STORE_FILE),
            b"this is not an sqlite database at all, not even close......",
        )
        .expect("write");
        let (store, warning) = Store::open(dir.path()).expect("opens");
        assert!(warning.is_some());
        assert!(store.notes().expect("reads").is_empty());
    }

    #[test]
    fn another_schema_version_is_rebuilt() {
        let dir = tempfile::tempdir().expect("temp dir");
        drop(Store::open(dir.path()).expect("opens"));
        let conn = Connection::open(dir.path().join(STORE_FILE)).expect("raw open");
        conn.execute(
            "UPDATE meta SET value = '0' WHERE key = 'schema_version'",
            [],
        )
        .expect("downgrade");
        drop(conn);
        let (_, warning) = Store::open(dir.path()).expect("opens");
        assert!(warning.expect("warned").contains("schema version 0"));
    }

    #[test]
    fn notes_lists_and_vectors_round_trip() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, _) = Store::open(dir.path()).expect("opens");
        let note = NoteRecord {
            row: 3,
            path: "a/b.md".into(),
            id: "b".into(),
            stat: Stat {
                size: 10,
                mtime_ns: 1_700_000_000_123_456_789,
                inode: 42,
            },
            racy: false,
            text_hash: [7; 16],
            slot: 5,
            title: "B".into(),
            links: vec![("c".into(), true)],
            region: Some("{}".into()),
            rendered: Some([9; 16]),
            stale: false,
            evidence: LinkEvidence {
                with_extension: 2,
                without_extension: 1,
            },
        };
        let commit = Commit {
            vectors: vec![([7; 16], 5)],
            meta: vec![("next_row", "4".into())],
            ..Commit::default()
        };
        store
            .commit(&commit, |rows| {
                rows.note(&note)?;
                rows.list(3, &vec![(4, 0.5), (9, 0.25)])
            })
            .expect("commit");
        drop(store);
        let (store, warning) = Store::open(dir.path()).expect("reopens");
        assert!(warning.is_none());
        let notes = store.notes().expect("notes");
        assert_eq!(notes.len(), 1);
        assert_eq!(notes[0].stat, note.stat);
        assert_eq!(notes[0].links, note.links);
        assert_eq!(notes[0].rendered, note.rendered);
        assert_eq!(store.lists().expect("lists")[&3], vec![(4, 0.5), (9, 0.25)]);
        assert_eq!(store.slots(&[[7; 16], [8; 16]]).expect("slots").len(), 1);
        assert_eq!(store.next_row().expect("next"), 4);
    }

    #[test]
    fn replaced_vectors_move_every_note_to_its_text_new_slot() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, _) = Store::open(dir.path()).expect("opens");
        let note = |row: i64, hash: u8, slot: u32| NoteRecord {
            row,
            path: format!("{row}.md"),
            id: row.to_string(),
            stat: Stat::default(),
            racy: false,
            text_hash: [hash; 16],
            slot,
            title: String::new(),
            links: Vec::new(),
            region: None,
            rendered: None,
            stale: false,
            evidence: LinkEvidence::default(),
        };
        // Rows 1 and 2 share a text; row 4's text has no vector in the new mapping.
        let commit = Commit {
            vectors: vec![([1; 16], 7), ([2; 16], 3), ([5; 16], 0)],
            ..Commit::default()
        };
        store
            .commit(&commit, |rows| {
                [note(1, 1, 7), note(2, 1, 7), note(3, 2, 3), note(4, 9, 8)]
                    .iter()
                    .try_for_each(|note| rows.note(note))
            })
            .expect("commit");
        store
            .replace_vectors(&[([1; 16], 0), ([2; 16], 1), ([5; 16], 2)], &[])
            .expect("replace");
        let slots: Vec<(i64, u32)> = store
            .notes()
            .expect("notes")
            .iter()
            .map(|record| (record.row, record.slot))
            .collect();
        assert_eq!(slots, vec![(1, 0), (2, 0), (3, 1), (4, 8)]);
        assert_eq!(store.vector_count().expect("count"), 3);
    }
}
