//! The text-to-slot table: which row of the vector file holds the vector of each text hash.

use std::collections::HashMap;

use rusqlite::OptionalExtension;

use super::{blob_hash, insert_vectors, set_meta, Store};
use crate::error::Result;
use crate::hash::TextHash;

impl Store {
    /// The vector slots stored for these text hashes.
    pub(crate) fn slots(&self, hashes: &[TextHash]) -> Result<HashMap<TextHash, u32>> {
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
    pub(crate) fn vector_count(&self) -> Result<usize> {
        self.conn
            .query_row("SELECT count(*) FROM vectors", [], |row| {
                row.get::<_, i64>(0)
            })
            .map(|count| count as usize)
            .map_err(|source| self.error(source))
    }

    /// Every (hash, slot) pair, for compacting the vector file.
    pub(crate) fn all_slots(&self) -> Result<Vec<(TextHash, u32)>> {
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
    pub(crate) fn legacy_vectors(
        &self,
        model: &str,
        long: &str,
        prompt: &str,
    ) -> Result<Vec<(TextHash, Vec<f32>)>> {
        super::migrate::v1_vectors(&self.conn, model, long, prompt)
            .map_err(|source| self.error(source))
    }

    /// Maps freshly written vectors (the vector file is synced before this is called), so a
    /// stopped run keeps what it embedded. Drops what a version-1 store left.
    pub(crate) fn add_vectors(
        &mut self,
        vectors: &[(TextHash, u32)],
        meta: &[(super::Meta, String)],
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute_batch(super::migrate::DROP_V1)?;
            insert_vectors(tx, vectors)?;
            set_meta(tx, meta)
        })
    }

    /// Replaces every vector mapping (after the vector file was compacted or reset).
    pub(crate) fn replace_vectors(
        &mut self,
        vectors: &[(TextHash, u32)],
        meta: &[(super::Meta, String)],
    ) -> Result<()> {
        self.write(|tx| {
            tx.execute_batch(super::migrate::DROP_V1)?;
            tx.execute("DELETE FROM vectors", [])?;
            insert_vectors(tx, vectors)?;
            // One pass over the notes, each looking its text up by the vectors' key (a
            // statement per vector would scan every note for each: hours at 100,000 notes).
            tx.execute(
                "UPDATE notes SET slot = vectors.slot FROM vectors WHERE vectors.hash = notes.text_hash",
                [],
            )?;
            set_meta(tx, meta)
        })
    }
}
