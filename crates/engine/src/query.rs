//! `similar`: the notes nearest to a note or a text, from what the last `update` stored.
//!
//! A query reads the store and the vector file and never writes. With `--index hnsw` it reuses
//! the graph the last `update` saved when that graph holds exactly the stored notes, and builds
//! a throwaway one otherwise; by default it scans every stored vector, which at a million notes
//! still takes a fraction of a second.

use closest_index::{
    choose, persist, scan_query, ConcreteKind, HnswParams, Neighbours, VectorIndex,
};

use crate::error::{Error, Result};
use crate::progress::Reporter;
use crate::store::{NoteRecord, Store};
use crate::update::content_key;
use crate::vectors::{VectorFile, VectorMeta};
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
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub id: String,
    pub path: String,
    pub score: f32,
}

/// The notes the last update recorded, in id order, with their vectors.
pub(crate) struct Stored {
    pub records: Vec<NoteRecord>,
    pub vectors: VectorFile,
}

impl Stored {
    pub(crate) fn load(engine: &Engine) -> Result<Self> {
        let settings = engine.settings();
        let (store, _) = Store::open(&settings.state_dir)?;
        let model = engine.model();
        let key = model.vector_key(settings.long);
        let meta = VectorMeta::from_entries(|name| store.meta(name).ok().flatten());
        let (vectors, reset) = VectorFile::open(&settings.state_dir, meta, &key, model.dim());
        let mut records = store.notes()?;
        if reset.is_some() {
            records.clear();
        }
        records.retain(|record| (record.slot as usize) < vectors.rows());
        records.sort_by(|a, b| a.id.cmp(&b.id));
        if records.is_empty() {
            return Err(Error::NothingStored {
                root: settings.root.display().to_string(),
            });
        }
        Ok(Stored { records, vectors })
    }

    /// Each record's vector, in record order.
    pub(crate) fn rows(&self) -> Vec<&[f32]> {
        self.records
            .iter()
            .map(|record| self.vectors.row(record.slot))
            .collect()
    }
}

pub(crate) fn similar(
    engine: &Engine,
    query: Query<'_>,
    k: usize,
    reporter: &dyn Reporter,
) -> Result<Vec<Hit>> {
    let settings = engine.settings();
    let stored = Stored::load(engine)?;
    let rows = stored.rows();
    let (vector, exclude) = match query {
        Query::Note(id) => {
            let position = stored
                .records
                .binary_search_by(|record| record.id.as_str().cmp(id))
                .map_err(|_| Error::UnknownNote { id: id.to_owned() })?;
            (rows[position].to_vec(), Some(position))
        }
        Query::Text(text) => (
            engine.model().embed_query(text, settings.long, reporter)?,
            None,
        ),
    };
    let found: Neighbours = match choose(settings.index, rows.len()) {
        // A k-nearest graph serves all-pairs only; one query is a scan either way.
        ConcreteKind::Exact | ConcreteKind::Graph => scan_query(&rows, &vector, k, exclude),
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
            found.truncate(k);
            found
        }
    };
    Ok(found
        .into_iter()
        .map(|neighbour| {
            let record = &stored.records[neighbour.id as usize];
            Hit {
                id: record.id.clone(),
                path: record.path.clone(),
                score: neighbour.score,
            }
        })
        .collect())
}
