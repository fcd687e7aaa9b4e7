//! What `closest doctor` says about a state folder: read only, never created, repaired or
//! locked, so that looking at a broken store for a bug report changes nothing.

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension};
use serde::Serialize;

use crate::store::{SCHEMA_VERSION, STORE_FILE};

/// A state folder as it is on disk.
#[derive(Debug, Clone, Serialize)]
pub struct StoreHealth {
    pub state_dir: PathBuf,
    /// The folder exists and holds a store.
    pub exists: bool,
    /// `ok`, or what is wrong (the next `update` sets a damaged store aside and rebuilds it).
    pub verdict: String,
    pub schema_version: Option<String>,
    pub expected_schema_version: i64,
    pub notes: Option<i64>,
    /// Bytes of every file in the folder.
    pub bytes: u64,
    /// Both `.gitignore` and `CACHEDIR.TAG` are there.
    pub markers: bool,
}

/// Looks at the store in `state_dir` without changing anything.
pub fn store_health(state_dir: &Path) -> StoreHealth {
    let path = state_dir.join(STORE_FILE);
    let mut health = StoreHealth {
        state_dir: state_dir.to_owned(),
        exists: path.is_file(),
        verdict: "none yet (`closest update` creates it)".to_owned(),
        schema_version: None,
        expected_schema_version: SCHEMA_VERSION,
        notes: None,
        bytes: folder_bytes(state_dir),
        markers: state_dir.join(".gitignore").is_file() && state_dir.join("CACHEDIR.TAG").is_file(),
    };
    if !health.exists {
        return health;
    }
    health.verdict = match inspect(&path, &mut health) {
        Ok(()) => match health.schema_version.as_deref() {
            Some(version) if version == SCHEMA_VERSION.to_string() => "ok".to_owned(),
            Some("1") => "ok, schema 1: the next update migrates it".to_owned(),
            other => format!(
                "schema version {} where {SCHEMA_VERSION} is expected: the next update rebuilds it",
                other.unwrap_or("none")
            ),
        },
        Err(reason) => format!("unusable ({reason}): the next update rebuilds it"),
    };
    health
}

fn inspect(path: &Path, health: &mut StoreHealth) -> std::result::Result<(), String> {
    let text = |err: rusqlite::Error| err.to_string();
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(text)?;
    let check: String = conn
        .query_row("PRAGMA quick_check", [], |row| row.get(0))
        .map_err(text)?;
    if check != "ok" {
        return Err(format!("integrity check failed: {check}"));
    }
    health.schema_version = conn
        .query_row(
            "SELECT value FROM meta WHERE key = 'schema_version'",
            [],
            |row| row.get(0),
        )
        .optional()
        .map_err(text)?;
    health.notes = conn
        .query_row("SELECT count(*) FROM notes", [], |row| row.get(0))
        .optional()
        .map_err(text)?;
    Ok(())
}

fn folder_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .filter_map(|entry| entry.ok())
        .map(|entry| match entry.metadata() {
            Ok(meta) if meta.is_dir() => folder_bytes(&entry.path()),
            Ok(meta) => meta.len(),
            Err(_) => 0,
        })
        .sum()
}
