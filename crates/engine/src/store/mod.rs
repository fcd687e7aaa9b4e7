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
//!
//! The rooms: `records.rs` (each note's record), `lists.rs` (candidate lists and words),
//! `slots.rs` (text hash to vector slot), `commit.rs` (a run's one transaction), `migrate.rs`
//! (older schemas); this file opens the store, for the update steps or only to read.

mod commit;
mod lists;
mod migrate;
mod records;
mod slots;
#[cfg(test)]
mod tests;

use std::path::{Path, PathBuf};

use rusqlite::{params, Connection, OpenFlags, OptionalExtension, Transaction};

use crate::error::{Error, Result};
use crate::hash::TextHash;

pub(crate) use commit::Commit;
pub(crate) use lists::StoredList;
#[cfg(test)]
pub(crate) use records::Details;

/// The store's meta keys, in one place: what its texts, lists, rendered lines and vector file
/// were made with, and the next free note row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Meta {
    /// The settings' text fingerprint (`FolderSettings::text_fingerprint`).
    Text,
    /// The ranking fingerprint the stored lists were made with.
    Ranking,
    /// The learned statistics the texts and words were prepared with (`Learned::id`).
    Learned,
    /// The render fingerprint the rendered hashes were made with.
    Render,
    NextRow,
    /// The vector file: the key of its model and preparation, its name, committed rows and
    /// chunk checksums (`vectors.rs`).
    VectorKey,
    VectorFile,
    VectorRows,
    VectorChecksums,
}

impl Meta {
    pub(crate) fn key(self) -> &'static str {
        match self {
            Meta::Text => "text",
            Meta::Ranking => "ranking",
            Meta::Learned => "learned",
            Meta::Render => "render",
            Meta::NextRow => "next_row",
            Meta::VectorKey => "vector_key",
            Meta::VectorFile => "vector_file",
            Meta::VectorRows => "vector_rows",
            Meta::VectorChecksums => "vector_checksums",
        }
    }
}
pub(crate) use records::NoteRecord;

/// Bumped whenever the tables change meaning; `migrate` knows every older version.
pub(crate) const SCHEMA_VERSION: i64 = 2;
pub const STORE_FILE: &str = "store.sqlite";

/// A file's identity as `stat` reports it: a note whose size, modification time and inode all
/// match what the store recorded is not read again (git's index works the same way).
pub use closest_notes::FileStat as Stat;

const TERMS_TABLE: &str =
    "CREATE TABLE IF NOT EXISTS terms (row INTEGER PRIMARY KEY, terms BLOB NOT NULL);";

pub(crate) struct Store {
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
    pub(crate) fn open(state_dir: &Path) -> Result<(Self, Option<String>)> {
        Self::open_checked(state_dir, false)
    }

    /// As `open`, with the integrity check whatever the store's size when `check_all`.
    pub(crate) fn open_checked(
        state_dir: &Path,
        check_all: bool,
    ) -> Result<(Self, Option<String>)> {
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
    pub(crate) fn open_reader(state_dir: &Path) -> Result<Option<Self>> {
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
    pub(crate) fn empty() -> Result<Self> {
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
                migrate::from_v1(&mut store.conn).map_err(text)?;
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

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn meta(&self, key: Meta) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [key.key()],
                |row| row.get(0),
            )
            .optional()
            .map_err(|source| self.error(source))
    }

    /// A second connection to this store that only reads, for a pass on another thread. It
    /// sees what this one last committed.
    pub(crate) fn reader(&self) -> Result<Store> {
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

    /// A number that changes whenever another connection commits to the store: a reader
    /// keeps what it loaded until it does (SQLite's `PRAGMA data_version`).
    pub(crate) fn data_version(&self) -> Result<i64> {
        self.conn
            .query_row("PRAGMA data_version", [], |row| row.get(0))
            .map_err(|source| self.error(source))
    }

    /// Runs `read` inside one read transaction, so that everything it reads comes from the
    /// same commit even while an update commits (WAL readers see a fixed snapshot).
    pub(crate) fn read<T>(&self, read: impl FnOnce(&Store) -> Result<T>) -> Result<T> {
        let tx = self
            .conn
            .unchecked_transaction()
            .map_err(|source| self.error(source))?;
        let value = read(self)?;
        tx.commit().map_err(|source| self.error(source))?;
        Ok(value)
    }

    fn error(&self, source: rusqlite::Error) -> Error {
        Error::from_store(self.path.clone(), source)
    }
}

impl Store {
    /// Runs `write` in one write transaction, committed when it returns: how every change to
    /// the store is made.
    fn write<T>(
        &mut self,
        write: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let run = |conn: &mut Connection| -> rusqlite::Result<T> {
            let tx = conn.transaction()?;
            let value = write(&tx)?;
            tx.commit()?;
            Ok(value)
        };
        run(&mut self.conn).map_err(|source| Error::from_store(self.path.clone(), source))
    }
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

pub(super) fn blob_hash(blob: &[u8]) -> TextHash {
    let mut hash = [0u8; 16];
    let n = blob.len().min(16);
    hash[..n].copy_from_slice(&blob[..n]);
    hash
}

pub(super) fn insert_vectors(
    tx: &Transaction<'_>,
    vectors: &[(TextHash, u32)],
) -> rusqlite::Result<()> {
    let mut insert =
        tx.prepare_cached("INSERT OR REPLACE INTO vectors (hash, slot) VALUES (?1, ?2)")?;
    for (hash, slot) in vectors {
        insert.execute(params![&hash[..], i64::from(*slot)])?;
    }
    Ok(())
}

pub(super) fn set_meta(tx: &Transaction<'_>, meta: &[(Meta, String)]) -> rusqlite::Result<()> {
    let mut put = tx.prepare_cached("INSERT OR REPLACE INTO meta (key, value) VALUES (?1, ?2)")?;
    for (key, value) in meta {
        put.execute(params![key.key(), value])?;
    }
    Ok(())
}
