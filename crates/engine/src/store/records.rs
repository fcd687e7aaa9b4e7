//! Each note's record: what the last run saw of it (path, id, stat, text hash and slot, title,
//! links, region written, rendered lines' hash), read whole or without its details.

use closest_notes::LinkEvidence;
use rusqlite::OptionalExtension;

use super::{blob_hash, Stat, Store};
use crate::error::Result;
use crate::hash::TextHash;

/// One note as the last run left it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NoteRecord {
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
    pub rendered: Option<crate::hash::RenderedHash>,
    /// The last run could not write the note's section.
    pub stale: bool,
}

/// What a note's record holds beyond what a scan needs: the title, links and region.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Details {
    pub title: String,
    pub links: Vec<(String, bool)>,
    pub region: Option<String>,
}

impl NoteRecord {
    /// Puts in the title, links and region a record was read without.
    pub(crate) fn set_details(&mut self, details: Details) {
        self.title = details.title;
        self.links = details.links;
        self.region = details.region;
    }
}

impl Store {
    /// Every note the last run recorded, in no particular order.
    pub(crate) fn notes(&self) -> Result<Vec<NoteRecord>> {
        self.notes_by(&format!("SELECT {NOTE_COLUMNS} FROM notes"), note_from_row)
    }

    /// Every note the last run recorded, by row, without its title, links and region (empty
    /// until `details_of` or `each_details` gives them): what a scan needs of a million notes,
    /// in half the time.
    pub(crate) fn notes_without_details(&self) -> Result<Vec<NoteRecord>> {
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
    pub(crate) fn details_of(&self, rows: &[i64]) -> Result<Vec<(i64, Details)>> {
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
    pub(crate) fn each_details(&self, mut each: impl FnMut(i64, Details)) -> Result<()> {
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

    /// The note recorded at this path (relative, `/`-separated), if any.
    pub(crate) fn note_at(&self, path: &str) -> Result<Option<NoteRecord>> {
        self.conn
            .query_row(
                &format!("SELECT {NOTE_COLUMNS} FROM notes WHERE path = ?1"),
                [path],
                note_from_row,
            )
            .optional()
            .map_err(|source| self.error(source))
    }

    /// The next free note row: one past the largest ever used, so a row is never reused
    /// within a store's life (a list entry cannot silently point at another note).
    pub(crate) fn next_row(&self) -> Result<i64> {
        let stored: Option<String> = self.meta(super::Meta::NextRow)?;
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
}

/// The columns `note_from_row` reads, in its order: those of `note_without_details`, then
/// the details.
pub(super) const NOTE_COLUMNS: &str = "row, path, id, size, mtime_ns, inode, racy, text_hash, slot, rendered, stale, links_md, links_bare, title, links, region";

/// The columns `note_without_details` reads, in its order.
const SCAN_COLUMNS: &str =
    "row, path, id, size, mtime_ns, inode, racy, text_hash, slot, rendered, stale, links_md, links_bare";

pub(super) fn note_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<NoteRecord> {
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
        rendered: row
            .get_ref(9)?
            .as_blob_or_null()?
            .map(|blob| crate::hash::RenderedHash(blob_hash(blob))),
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
