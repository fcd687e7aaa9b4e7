//! `similar`: the notes nearest to a note or a text, from what the last `update` stored.
//!
//! A query reads a snapshot of the store and the vector file (`snapshot.rs`) and never writes;
//! an engine kept open (`serve`) reuses the snapshot until an update commits. With `--index
//! hnsw` it reuses the graph the last `update` saved when that graph holds exactly the stored
//! notes, and builds a throwaway one otherwise; by default it scans every stored vector, which
//! at a million notes still takes a fraction of a second.

use closest_index::{
    choose, persist, scan_query, ConcreteKind, HnswParams, Neighbours, VectorIndex,
};

use serde::Serialize;

use crate::error::Result;
use crate::hash::has_own_text;
use crate::linked::Linked;
use crate::progress::Reporter;
use crate::run::content_key;
use crate::Engine;

/// What to search for.
#[derive(Debug, Clone, Copy)]
pub enum Query<'a> {
    /// A stored note, by id (it is left out of its own answer).
    Note(&'a str),
    /// Free text, embedded as a query.
    Text(&'a str),
}

/// One answer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Hit {
    pub id: String,
    /// Relative to the notes root, `/`-separated.
    pub path: String,
    pub title: String,
    pub score: f32,
}

/// A stored note, named.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NoteRef {
    pub id: String,
    /// Relative to the notes root, `/`-separated.
    pub path: String,
    pub title: String,
}

/// A note's text, read by id.
#[derive(Debug, Clone, Serialize)]
pub struct NoteText {
    #[serde(flatten)]
    pub note: NoteRef,
    pub text: String,
}

pub(crate) fn similar(
    engine: &Engine,
    query: Query<'_>,
    k: usize,
    reporter: &dyn Reporter,
) -> Result<Vec<Hit>> {
    let settings = engine.settings();
    let stored = engine.snapshot()?;
    let rows = stored.rows();
    // Left out of every answer: notes with too little text of their own, and with
    // `exclude-linked` the notes the queried note links to (as its section would).
    let mut left_out: Vec<bool> = stored
        .records
        .iter()
        .map(|record| !has_own_text(&record.text_hash))
        .collect();
    // A name may be a path or a file name: resolved once (`names.rs`).
    let note_position = match query {
        Query::Note(id) => Some(stored.position(id)?),
        Query::Text(_) => None,
    };
    if let Some(position) = note_position {
        if left_out[position] {
            // Too little text of its own to be near anything.
            return Ok(Vec::new());
        }
        if settings.exclude_linked {
            let linked = Linked::new(settings, &stored.records).of(&stored.records, position);
            for (position, record) in stored.records.iter().enumerate() {
                left_out[position] |= linked.contains(&record.id);
            }
        }
    }
    let requested = k;
    let k = k + left_out.iter().filter(|&&out| out).count();
    let (vector, exclude, terms) = match query {
        Query::Note(_) => {
            let position = note_position.expect("resolved above");
            let terms = stored
                .lexical
                .as_ref()
                .map(|lexical| lexical.terms(position).to_vec());
            (rows[position].to_vec(), Some(position), terms)
        }
        Query::Text(text) => {
            // Prepared as notes are: boilerplate out, words weighed by the folder's statistics.
            let (prepared, terms) = match &stored.learned {
                Some(learned) => learned.prepare(text),
                None => (text.to_owned(), Vec::new()),
            };
            let text = if prepared.trim().is_empty() {
                text
            } else {
                &prepared
            };
            let vector = engine.model().embed_query(text, settings.long, reporter)?;
            (vector, None, stored.lexical.as_ref().map(|_| terms))
        }
    };
    let lexical = stored.lexical.as_ref().zip(terms.as_ref());
    let matches = lexical.map(|(lexical, terms)| lexical.matches(terms, exclude));
    let fused = lexical
        .zip(matches.as_ref())
        .map(|((lexical, _), matches)| (lexical, matches));
    let found: Neighbours = match choose(settings.index, rows.len()) {
        // A k-nearest graph serves all-pairs only; one query is a scan either way.
        ConcreteKind::Exact | ConcreteKind::Graph => scan_query(&rows, &vector, k, exclude, fused),
        ConcreteKind::Hnsw => {
            let keys: Vec<u64> = stored
                .records
                .iter()
                .map(|record| content_key(&record.id, &record.text_hash))
                .collect();
            let index = match persist::load_hnsw_matching(
                &settings.state_dir.join("index"),
                &engine.model().vector_key(settings.long),
                &keys,
            ) {
                Ok(Some(index)) => index,
                Ok(None) | Err(_) => {
                    reporter.debug(
                        "the saved HNSW index is behind the store; building one for this query",
                    );
                    let mut index = closest_index::Hnsw::new(vector.len(), HnswParams::default())?;
                    let batch: Vec<(u64, &[f32])> = rows
                        .iter()
                        .enumerate()
                        .map(|(position, row)| (position as u64, *row))
                        .collect();
                    index.add(&batch)?;
                    index
                }
            };
            let mut found = index.search(&vector, k + usize::from(exclude.is_some()))?;
            found.retain(|neighbour| Some(neighbour.id as usize) != exclude);
            if let Some((lexical, matches)) = fused {
                // The graph's best by cosine and every note sharing a word, by the fused score.
                let mut candidates: Vec<usize> = found.iter().map(|n| n.id as usize).collect();
                candidates.extend(matches.entries().iter().map(|&(row, _)| row as usize));
                candidates.sort_unstable();
                candidates.dedup();
                let mut cursor = matches.cursor();
                found = candidates
                    .into_iter()
                    .map(|row| closest_index::Neighbour {
                        id: row as u64,
                        score: lexical.fuse(closest_index::dot(&vector, rows[row]), cursor.at(row)),
                    })
                    .collect();
                found.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.id.cmp(&b.id)));
            }
            found.truncate(k);
            found
        }
    };
    Ok(found
        .into_iter()
        .filter(|neighbour| !left_out[neighbour.id as usize])
        .take(requested)
        .map(|neighbour| stored.hit(neighbour.id as usize, neighbour.score))
        .collect())
}

/// A stored note's text, as it is on disk now.
pub(crate) fn note(engine: &Engine, id: &str) -> Result<NoteText> {
    let stored = engine.snapshot()?;
    let note = stored.note(stored.position(id)?);
    // Read as every note is: never through a link that leads out of the notes folder.
    let file = closest_notes::NoteFile {
        id: note.id.clone(),
        path: engine.settings().root.join(&note.path),
        rel_path: std::path::PathBuf::from(&note.path),
    };
    let text = closest_notes::read_note(&file)?.text().to_owned();
    Ok(NoteText { note, text })
}
