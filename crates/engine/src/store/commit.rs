//! A run's one transaction: the notes that left, the records, lists and words it made, the
//! vectors it added or pruned, and its fingerprints, all at once.

use rusqlite::{params, CachedStatement, Transaction};

use super::lists::encode_list;
use super::{insert_vectors, set_meta, NoteRecord, Store, StoredList};
use crate::error::Result;
use crate::hash::TextHash;

/// What one run changes besides its notes, lists and words (which `Store::commit` has the run
/// write as it makes them), committed with them at once.
#[derive(Debug, Default)]
pub(crate) struct Commit {
    /// Rows of notes that are gone.
    pub deletes: Vec<i64>,
    /// Lists of notes whose lists are to be dropped (all of them after a full rank).
    pub clear_lists: bool,
    pub vectors: Vec<(TextHash, u32)>,
    pub pruned: Vec<TextHash>,
    pub(crate) meta: Vec<(super::Meta, String)>,
}

impl Store {
    /// Records a run in one transaction: `commit`, and the changed notes, lists and words that
    /// `write` writes (after the deletes and the clearing of lists): a run that records a
    /// million notes makes each record as it is written instead of holding them all first.
    pub(crate) fn commit(
        &mut self,
        commit: &Commit,
        write: impl FnOnce(&mut Rows<'_>) -> rusqlite::Result<()>,
    ) -> Result<()> {
        self.write(|tx| {
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
                write(&mut Rows::new(tx)?)?;
                let mut prune = tx.prepare_cached("DELETE FROM vectors WHERE hash = ?1")?;
                for hash in &commit.pruned {
                    prune.execute([&hash[..]])?;
                }
            }
            insert_vectors(tx, &commit.vectors)?;
            set_meta(tx, &commit.meta)
        })
    }
}

/// The statements a commit writes notes, lists and words with.
pub(crate) struct Rows<'tx> {
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
    pub(crate) fn note(&mut self, note: &NoteRecord) -> rusqlite::Result<()> {
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
            note.rendered.as_ref().map(|hash| &hash.0[..]),
            note.stale,
            note.evidence.with_extension as i64,
            note.evidence.without_extension as i64,
        ])?;
        Ok(())
    }

    /// Sets a note's list.
    pub(crate) fn list(&mut self, row: i64, list: &StoredList) -> rusqlite::Result<()> {
        self.put_list.execute(params![row, encode_list(list)])?;
        Ok(())
    }

    /// Sets a note's words.
    pub(crate) fn terms(&mut self, row: i64, terms: &[(u32, f32)]) -> rusqlite::Result<()> {
        let mut bytes = Vec::with_capacity(terms.len() * 8);
        for (term, weight) in terms {
            bytes.extend_from_slice(&term.to_le_bytes());
            bytes.extend_from_slice(&weight.to_le_bytes());
        }
        self.put_terms.execute(params![row, bytes])?;
        Ok(())
    }
}
