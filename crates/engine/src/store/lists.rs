//! Every note's raw candidate list and its lexical vector (words), stored as little-endian
//! blobs and decoded as they are read, one pass over all of them or by row.

use std::collections::HashMap;
use std::ops::Range;

use rusqlite::OptionalExtension;

use super::Store;
use crate::error::Result;

/// A note's raw candidate list: (row of the other note, score), best first.
pub(crate) type StoredList = Vec<(i64, f32)>;

/// A note's lexical vector as stored: (term, weight), sorted by term.
pub(super) type StoredTerms = Vec<(u32, f32)>;

impl Store {
    /// Calls `each` with the stored candidate list of every note whose row lies in `rows`:
    /// the note's row and its entries as (row of the other note, score), best first, decoded
    /// as they are read.
    pub(crate) fn each_list_in(
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
    pub(crate) fn each_terms(&self, each: impl FnMut(i64, &[(u32, f32)])) -> Result<()> {
        self.each_terms_in(i64::MIN..i64::MAX, each)
    }

    /// `each_terms` over the notes whose rows lie in `rows`.
    pub(crate) fn each_terms_in(
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

    /// The stored lexical vectors of these note rows (a row without one is left out).
    pub(crate) fn terms_of(&self, rows: &[i64]) -> Result<Vec<(i64, StoredTerms)>> {
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

    /// Every stored candidate list, by note row.
    pub(crate) fn lists(&self) -> Result<HashMap<i64, StoredList>> {
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
    pub(crate) fn list(&self, row: i64) -> Result<Option<StoredList>> {
        self.conn
            .query_row(
                "SELECT candidates FROM lists WHERE row = ?1",
                [row],
                |row| Ok(decode_list(row.get_ref(0)?.as_blob()?)),
            )
            .optional()
            .map_err(|source| self.error(source))
    }
}

/// A lexical vector from its bytes: per entry the term (u32) and weight (f32), little-endian.
fn decode_terms(bytes: &[u8]) -> impl Iterator<Item = (u32, f32)> + '_ {
    bytes.chunks_exact(8).map(|entry| {
        let term = u32::from_le_bytes([entry[0], entry[1], entry[2], entry[3]]);
        let weight = f32::from_le_bytes([entry[4], entry[5], entry[6], entry[7]]);
        (term, weight)
    })
}

/// A list as bytes: per entry the other note's row (u32) and the score (f32), little-endian.
pub(super) fn encode_list(list: &StoredList) -> Vec<u8> {
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
