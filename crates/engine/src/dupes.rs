//! `dupes`: pairs of notes whose cosine similarity reaches a threshold.
//!
//! Near-copies are a matter of the texts alone, so `dupes` thresholds and prints the cosine of
//! the two notes' vectors, whatever the lists are ranked by. The stored candidate lists already
//! hold every note's best k + margin neighbours by the listing score, so most pairs come from
//! them at no cost. That score is `(1 - w) · cosine + w · lexical` with a lexical score of at
//! least 0 (w = 0 for `semantic`), so a pair whose cosine reaches the threshold t scores at
//! least `(1 - w) · t`: it is missing from a's list only when a's list is full of notes scoring
//! that much. A note whose last stored candidate reaches that bound (or that has no stored
//! list) is scanned against every note. The answer is exact, and costs a scan only for notes
//! with many near-copies. Notes with too little text of their own have no pairs.

use std::collections::HashMap;

use closest_index::{dot, scan_query};
use serde::Serialize;

use crate::error::Result;
use crate::hash::has_own_text;
use crate::neighbours::candidates;
use crate::query::NoteRef;
use crate::Engine;

/// Two notes at least as similar as the threshold; `a` has the smaller id.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub score: f32,
    pub a: NoteRef,
    pub b: NoteRef,
}

/// Every pair of stored notes whose cosine similarity is at least `threshold`, most similar
/// first (ties by the ids).
pub(crate) fn dupes(engine: &Engine, threshold: f32) -> Result<Vec<Pair>> {
    let (snapshot, stored) = crate::snapshot::with_lists(engine)?;
    let rows = snapshot.rows();
    let own: Vec<bool> = snapshot
        .records
        .iter()
        .map(|record| has_own_text(&record.text_hash))
        .collect();
    let weight = engine.settings().lexical_weight().unwrap_or(0.0);
    // The least listing score a pair at the threshold has, less a rounding's worth.
    let bound = (1.0 - weight) * threshold - 1e-5;
    let mut pairs: HashMap<(usize, usize), f32> = HashMap::new();
    for (position, record) in snapshot.records.iter().enumerate() {
        if !own[position] {
            continue;
        }
        let list = candidates(&snapshot, &stored, record.row);
        let may_have_more = list.last().is_none_or(|last| last.score >= bound);
        let close: Vec<usize> = if may_have_more {
            scan_query(&rows, rows[position], rows.len(), Some(position), None)
                .into_iter()
                .take_while(|neighbour| neighbour.score >= threshold)
                .map(|neighbour| neighbour.id as usize)
                .collect()
        } else {
            list.iter()
                .map(|neighbour| neighbour.id as usize)
                .filter(|&other| dot(rows[position], rows[other]) >= threshold)
                .collect()
        };
        for other in close.into_iter().filter(|&other| own[other]) {
            let key = (position.min(other), position.max(other));
            // One score per pair, whichever list it came from: the canonical dot product.
            pairs
                .entry(key)
                .or_insert_with(|| dot(rows[key.0], rows[key.1]));
        }
    }
    let mut found: Vec<Pair> = pairs
        .into_iter()
        .filter(|(_, score)| *score >= threshold)
        .map(|((a, b), score)| Pair {
            score,
            a: snapshot.note(a),
            b: snapshot.note(b),
        })
        .collect();
    found.sort_by(|x, y| {
        y.score
            .total_cmp(&x.score)
            .then_with(|| x.a.id.cmp(&y.a.id))
            .then_with(|| x.b.id.cmp(&y.b.id))
    });
    Ok(found)
}
