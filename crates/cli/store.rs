//! The store: an SQLite database in `<notes>/.closest/store.sqlite` holding vectors keyed by
//! (model fingerprint, text-preparation fingerprint, content hash), each note's current
//! neighbours with scores, and a schema version.
//!
//! It is a cache: anything wrong with it (garbage, a truncated file, another schema version)
//! means it is set aside and rebuilt with a warning, never a crash and never a wrong list,
//! because every list is recomputed from vectors that are keyed by the exact text they embed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};

/// Bumped whenever the tables change meaning.
pub const SCHEMA_VERSION: i64 = 1;
pub const STORE_FILE: &str = "store.sqlite";

pub struct Store {
    conn: Connection,
    path: PathBuf,
}

/// One note as the last update saw it.
#[derive(Debug, Clone)]
pub struct NoteRow {
    pub id: String,
    pub path: String,
    pub hash: String,
}

/// One neighbour as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredNeighbour {
    pub id: String,
    pub score: f32,
}

impl Store {
    /// Opens (or creates) the store in `state_dir`. A store that cannot be used is removed and
    /// recreated; the returned warning says why.
    pub fn open(state_dir: &Path) -> Result<(Self, Option<String>)> {
        fs_err::create_dir_all(state_dir)?;
        let path = state_dir.join(STORE_FILE);
        match Self::try_open(&path) {
            Ok(store) => Ok((store, None)),
            Err(reason) => {
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let file = PathBuf::from(format!("{}{suffix}", path.display()));
                    if file.exists() {
                        fs_err::remove_file(&file)?;
                    }
                }
                let store = Self::try_open(&path)
                    .map_err(|err| anyhow::anyhow!(err))
                    .with_context(|| format!("cannot create the store `{}`", path.display()))?;
                Ok((store, Some(format!("the store `{}` was unusable ({reason}); rebuilt it, every note will be embedded again", path.display()))))
            }
        }
    }

    /// Opens the store, telling the user through `ui` when it had to be rebuilt.
    pub fn open_reporting(state_dir: &Path, ui: &crate::ui::Ui) -> Result<Self> {
        let (store, warning) = Self::open(state_dir)?;
        if let Some(warning) = warning {
            ui.warn(warning);
        }
        Ok(store)
    }

    fn try_open(path: &Path) -> std::result::Result<Self, String> {
        let conn = Connection::open(path).map_err(|err| err.to_string())?;
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(|err| err.to_string())?;
        // WAL keeps the database consistent if we are killed mid-transaction, and lets
        // `status` read while an update writes.
        let _: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |row| row.get(0))
            .map_err(|err| err.to_string())?;
        conn.execute_batch("PRAGMA synchronous=NORMAL;")
            .map_err(|err| err.to_string())?;
        let check: String = conn
            .query_row("PRAGMA quick_check", [], |row| row.get(0))
            .map_err(|err| err.to_string())?;
        if check != "ok" {
            return Err(format!("integrity check failed: {check}"));
        }
        let has_meta: bool = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'meta'",
                [],
                |row| row.get::<_, i64>(0),
            )
            .map_err(|err| err.to_string())?
            > 0;
        if has_meta {
            let version: Option<String> = conn
                .query_row(
                    "SELECT value FROM meta WHERE key = 'schema_version'",
                    [],
                    |row| row.get(0),
                )
                .optional()
                .map_err(|err| err.to_string())?;
            if version.as_deref() != Some(&SCHEMA_VERSION.to_string()) {
                return Err(format!(
                    "schema version {} where {SCHEMA_VERSION} is expected",
                    version.unwrap_or_else(|| "none".to_owned())
                ));
            }
        } else {
            conn.execute_batch(&format!(
                "BEGIN;
                 CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
                 INSERT INTO meta VALUES ('schema_version', '{SCHEMA_VERSION}');
                 CREATE TABLE vectors (
                     model TEXT NOT NULL, prep TEXT NOT NULL, hash TEXT NOT NULL,
                     dim INTEGER NOT NULL, vector BLOB NOT NULL,
                     PRIMARY KEY (model, prep, hash)) WITHOUT ROWID;
                 CREATE TABLE notes (
                     id TEXT PRIMARY KEY, path TEXT NOT NULL, hash TEXT NOT NULL);
                 CREATE TABLE neighbours (
                     note TEXT NOT NULL, rank INTEGER NOT NULL, neighbour TEXT NOT NULL, score REAL NOT NULL,
                     PRIMARY KEY (note, rank)) WITHOUT ROWID;
                 COMMIT;"
            ))
            .map_err(|err| err.to_string())?;
        }
        Ok(Self {
            conn,
            path: path.to_owned(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The stored vectors among `hashes` for this model and preparation.
    pub fn vectors(
        &self,
        model: &str,
        prep: &str,
        hashes: &[&str],
    ) -> Result<HashMap<String, Vec<f32>>> {
        let mut statement = self.conn.prepare_cached(
            "SELECT vector FROM vectors WHERE model = ?1 AND prep = ?2 AND hash = ?3",
        )?;
        let mut found = HashMap::new();
        for hash in hashes {
            let blob: Option<Vec<u8>> = statement
                .query_row(params![model, prep, hash], |row| row.get(0))
                .optional()?;
            if let Some(blob) = blob {
                found.insert((*hash).to_owned(), decode(&blob));
            }
        }
        Ok(found)
    }

    /// Saves vectors in one transaction, so a kill leaves all or none of them.
    pub fn insert_vectors(
        &mut self,
        model: &str,
        prep: &str,
        items: &[(String, Vec<f32>)],
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut statement = tx.prepare_cached("INSERT OR REPLACE INTO vectors (model, prep, hash, dim, vector) VALUES (?1, ?2, ?3, ?4, ?5)")?;
            for (hash, vector) in items {
                statement.execute(params![
                    model,
                    prep,
                    hash,
                    vector.len() as i64,
                    encode(vector)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Replaces the notes table and every neighbour list, and prunes vectors no current note
    /// uses, in one transaction. Returns (vectors pruned, notes that disappeared).
    pub fn save_run(
        &mut self,
        model: &str,
        prep: &str,
        notes: &[NoteRow],
        neighbours: &[(String, Vec<StoredNeighbour>)],
    ) -> Result<(usize, usize)> {
        let tx = self.conn.transaction()?;
        let before: i64 = tx.query_row("SELECT count(*) FROM notes", [], |row| row.get(0))?;
        tx.execute_batch("DELETE FROM notes; DELETE FROM neighbours; CREATE TEMP TABLE IF NOT EXISTS live (hash TEXT PRIMARY KEY); DELETE FROM live;")?;
        {
            let mut insert_note =
                tx.prepare_cached("INSERT INTO notes (id, path, hash) VALUES (?1, ?2, ?3)")?;
            let mut insert_live =
                tx.prepare_cached("INSERT OR IGNORE INTO live (hash) VALUES (?1)")?;
            for note in notes {
                insert_note.execute(params![note.id, note.path, note.hash])?;
                insert_live.execute(params![note.hash])?;
            }
            let mut insert_neighbour = tx.prepare_cached(
                "INSERT INTO neighbours (note, rank, neighbour, score) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for (note, list) in neighbours {
                for (rank, neighbour) in list.iter().enumerate() {
                    insert_neighbour.execute(params![
                        note,
                        rank as i64,
                        neighbour.id,
                        f64::from(neighbour.score)
                    ])?;
                }
            }
        }
        let pruned = tx.execute("DELETE FROM vectors WHERE NOT (model = ?1 AND prep = ?2 AND hash IN (SELECT hash FROM live))", params![model, prep])?;
        tx.execute_batch("DROP TABLE live;")?;
        tx.commit()?;
        let vanished = (before as usize).saturating_sub(notes.len());
        Ok((pruned, vanished))
    }

    /// Every note the last update saw, sorted by id.
    pub fn notes(&self) -> Result<Vec<NoteRow>> {
        let mut statement = self
            .conn
            .prepare("SELECT id, path, hash FROM notes ORDER BY id")?;
        let rows = statement.query_map([], |row| {
            Ok(NoteRow {
                id: row.get(0)?,
                path: row.get(1)?,
                hash: row.get(2)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
    }

    /// Counts of vectors in total and for one model and preparation.
    pub fn vector_counts(&self, model: &str, prep: &str) -> Result<(usize, usize)> {
        let total: i64 = self
            .conn
            .query_row("SELECT count(*) FROM vectors", [], |row| row.get(0))?;
        let current: i64 = self.conn.query_row(
            "SELECT count(*) FROM vectors WHERE model = ?1 AND prep = ?2",
            params![model, prep],
            |row| row.get(0),
        )?;
        Ok((total as usize, current as usize))
    }

    /// Whether any vector of another model is stored: the caller says "re-embedding".
    pub fn has_other_model(&self, model: &str) -> Result<bool> {
        let count: i64 = self.conn.query_row(
            "SELECT count(*) FROM vectors WHERE model <> ?1",
            params![model],
            |row| row.get(0),
        )?;
        Ok(count > 0)
    }
}

fn encode(vector: &[f32]) -> Vec<u8> {
    vector
        .iter()
        .flat_map(|value| value.to_le_bytes())
        .collect()
}

fn decode(blob: &[u8]) -> Vec<f32> {
    blob.chunks_exact(4)
        .map(|chunk| f32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]]))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn garbage_store_is_rebuilt_with_a_warning() {
        let dir = tempfile::tempdir().expect("temp dir");
        fs_err::write(
            dir.path().join(STORE_FILE),
            b"this is not an sqlite database at all, not even close......",
        )
        .expect("write");
        let (store, warning) = Store::open(dir.path()).expect("opens");
        assert!(warning.expect("warned").contains("unusable"));
        assert!(store.notes().expect("reads").is_empty());
    }

    #[test]
    fn vectors_round_trip_and_prune() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut store, warning) = Store::open(dir.path()).expect("opens");
        assert!(warning.is_none());
        store
            .insert_vectors(
                "m",
                "p",
                &[("a".into(), vec![1.0, 0.5]), ("b".into(), vec![0.0, -2.0])],
            )
            .expect("insert");
        let found = store.vectors("m", "p", &["a", "b", "c"]).expect("read");
        assert_eq!(found.len(), 2);
        assert_eq!(found["b"], vec![0.0, -2.0]);
        let notes = vec![NoteRow {
            id: "x".into(),
            path: "x.md".into(),
            hash: "a".into(),
        }];
        let (pruned, _) = store.save_run("m", "p", &notes, &[]).expect("save");
        assert_eq!(pruned, 1);
        drop(store);
        let (store, warning) = Store::open(dir.path()).expect("reopens");
        assert!(warning.is_none());
        assert_eq!(store.notes().expect("notes").len(), 1);
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
}
