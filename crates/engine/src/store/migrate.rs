//! Older stores become current ones without losing their vectors.
//!
//! Embedding is the expensive part of a run, so a schema change must not throw vectors away.
//! Version 1 kept vectors as SQLite blobs keyed by (model fingerprint, preparation, sha256 hex of
//! the text), the notes by id with their text hash, and the rendered neighbour lists. Migration
//! creates the current tables and keeps the old vectors aside in `v1_vectors`; the first run
//! that knows the model copies the ones made with it into the vector file (`run::embed::import_legacy`)
//! and drops the rest. Notes are read again on that run (version 1 kept no file stats) and
//! lists are recomputed (version 1 kept only the filtered top k), which costs little beside
//! embedding.

use rusqlite::{params, Connection};

use crate::hash::{from_hex, TextHash};
use crate::store::create_tables;

/// Turns a version-1 store into an empty current one plus the `v1_vectors` table.
pub(crate) fn from_v1(conn: &mut Connection) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    tx.execute_batch(
        "ALTER TABLE vectors RENAME TO v1_vectors;
         DROP TABLE IF EXISTS neighbours;
         DROP TABLE IF EXISTS notes;
         DROP TABLE meta;",
    )?;
    create_tables(&tx)?;
    tx.commit()
}

/// The version-1 vectors made with this model, long-note policy and document prompt (version 1
/// wrote its preparation as `text-v<N>|<long>|<prompt>`). The caller drops the old table
/// (`DROP_V1`) in the transaction that commits them; vectors of other models go with it, as
/// version 1 itself pruned them on every run.
pub(crate) fn v1_vectors(
    conn: &Connection,
    model: &str,
    long: &str,
    prompt: &str,
) -> rusqlite::Result<Vec<(TextHash, Vec<f32>)>> {
    let exists: i64 = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'v1_vectors'",
        [],
        |row| row.get(0),
    )?;
    if exists == 0 {
        return Ok(Vec::new());
    }
    let wanted_suffix = format!("|{long}|{prompt}");
    let mut found = Vec::new();
    {
        let mut statement =
            conn.prepare("SELECT prep, hash, vector FROM v1_vectors WHERE model = ?1")?;
        let rows = statement.query_map(params![model], |row| {
            Ok((
                row.get::<_, String>(0)?,
                row.get::<_, String>(1)?,
                row.get::<_, Vec<u8>>(2)?,
            ))
        })?;
        for row in rows {
            let (prep, hash, blob) = row?;
            if !(prep.starts_with("text-v") && prep.ends_with(&wanted_suffix)) {
                continue;
            }
            let Some(hash) = from_hex(&hash) else {
                continue;
            };
            let vector = blob
                .chunks_exact(4)
                .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                .collect();
            found.push((hash, vector));
        }
    }
    found.sort_by_key(|item| item.0);
    found.dedup_by(|a, b| a.0 == b.0);
    Ok(found)
}

/// Drops what is left of a version-1 store.
pub(crate) const DROP_V1: &str = "DROP TABLE IF EXISTS v1_vectors;";
