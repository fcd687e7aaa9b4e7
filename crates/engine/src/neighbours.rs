//! The lists notes show, read back: one rule for what a section holds, and every note's list
//! for `export`.
//!
//! A note's stored list is its raw candidates (the best k + links + margin other notes, with
//! scores), put in their final order by `rerank.rs`. What its section shows is [`shown`]: the candidates scoring at least `min_score`
//! that the note does not already link to (with `exclude-linked`), the first k. `update`
//! renders sections through the same function, so an export of the store lists exactly what
//! the sections hold after an update.

use std::collections::HashMap;

use closest_index::Neighbour;
use serde::Serialize;

use crate::error::Result;
use crate::hash::has_own_text;
use crate::linked::Linked;
use crate::query::Hit;
use crate::rerank::Reranker;
use crate::settings::FolderSettings;
use crate::snapshot::Snapshot;
use crate::store::StoredList;
use crate::Engine;

/// The entries of a raw candidate list that a note shows, best first: none when the note has
/// too little text of its own (`own` is false), else those scoring at least `least` (the
/// folder's floor or `min-score`: `floor::least_score`), not left out (`left_out` of a list
/// entry's id: a note too empty to list, or one the note links to), the first k.
pub(crate) fn shown<'l>(
    list: &'l [Neighbour],
    settings: &FolderSettings,
    least: f32,
    own: bool,
    left_out: impl Fn(u64) -> bool,
) -> Vec<&'l Neighbour> {
    let mut shown = showable(list, least, own, left_out);
    shown.truncate(settings.k);
    shown
}

/// The entries a note may show, best first (see [`shown`]), before the first k are taken: what
/// the writing checks a written order against (`keep.rs`).
pub(crate) fn showable(
    list: &[Neighbour],
    least: f32,
    own: bool,
    left_out: impl Fn(u64) -> bool,
) -> Vec<&Neighbour> {
    if !own {
        return Vec::new();
    }
    list.iter()
        .filter(|neighbour| neighbour.score >= least && !left_out(neighbour.id))
        .collect()
}

/// One note and the neighbours its section lists.
#[derive(Debug, Clone, Serialize)]
pub struct NoteLists {
    pub id: String,
    /// Relative to the notes root, `/`-separated.
    pub path: String,
    pub title: String,
    pub neighbours: Vec<Hit>,
}

/// Every stored note with the neighbours its section lists, in path order.
pub(crate) fn lists(engine: &Engine) -> Result<Vec<NoteLists>> {
    let settings = engine.settings();
    let (snapshot, stored) = crate::snapshot::with_lists(engine)?;
    let linked = Linked::new(settings, &snapshot.records);
    let by_position: Vec<Option<Vec<Neighbour>>> = snapshot
        .records
        .iter()
        .map(|record| {
            stored
                .contains_key(&record.row)
                .then(|| candidates(&snapshot, &stored, record.row))
        })
        .collect();
    let rows = snapshot.rows();
    let reranker = Reranker::new(&rows, &by_position, snapshot.lexical.as_ref());
    let positions: Vec<usize> = (0..snapshot.records.len()).collect();
    let mut all: Vec<NoteLists> = reranker
        .final_lists(&positions)
        .map(|(position, list)| {
            let record = &snapshot.records[position];
            let is_linked = linked.of(&snapshot.records, position);
            let own = has_own_text(&record.text_hash);
            let neighbours = shown(&list, settings, snapshot.least, own, |other| {
                let other = &snapshot.records[other as usize];
                !has_own_text(&other.text_hash) || is_linked.contains(&other.id)
            })
            .into_iter()
            .map(|neighbour| snapshot.hit(neighbour.id as usize, neighbour.score))
            .collect();
            NoteLists {
                id: record.id.clone(),
                path: record.path.clone(),
                title: record.title.clone(),
                neighbours,
            }
        })
        .collect();
    all.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(all)
}

/// A note's stored candidates as neighbours by snapshot position (empty when it has none).
pub(crate) fn candidates(
    snapshot: &Snapshot,
    stored: &HashMap<i64, StoredList>,
    row: i64,
) -> Vec<Neighbour> {
    stored
        .get(&row)
        .map(|list| to_neighbours(snapshot, list))
        .unwrap_or_default()
}

pub(crate) fn to_neighbours(snapshot: &Snapshot, list: &StoredList) -> Vec<Neighbour> {
    snapshot
        .translate(list)
        .into_iter()
        .map(|(position, score)| Neighbour {
            id: position as u64,
            score,
        })
        .collect()
}
