//! `explain`: why note B is (or is not) in note A's list.
//!
//! For now it says what the vectors say: the two notes' cosine similarity, B's rank among every
//! other note by similarity to A, and whether A's section lists B. The answer is a struct with
//! named fields, serialised as a JSON object, so later signals (lexical scores) are new fields
//! beside these and readers of the current ones keep working.

use closest_index::dot;
use serde::Serialize;

use crate::error::{Error, Result};
use crate::neighbours::{shown, to_neighbours, Linked};
use crate::query::NoteRef;
use crate::Engine;

/// What the engine can say about the pair (A, B).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    pub a: NoteRef,
    pub b: NoteRef,
    /// Cosine similarity of the two notes' vectors.
    pub cosine: f32,
    /// B's place among every note but A by similarity to A (1: the nearest), ties by id.
    pub rank: usize,
    /// Notes ranked: every stored note but A.
    pub of: usize,
    /// Whether A's section lists B (after `min-score`, `exclude-linked` and k).
    pub listed: bool,
}

pub(crate) fn explain(engine: &Engine, a: &str, b: &str) -> Result<Explanation> {
    let settings = engine.settings();
    engine.with_snapshot(|kept| {
        let snapshot = kept.snapshot;
        let (pa, pb) = (snapshot.position(a)?, snapshot.position(b)?);
        if pa == pb {
            return Err(Error::Invalid(format!(
                "`{a}` and `{b}` are the same note; name two notes"
            )));
        }
        let row_a = snapshot.row(pa);
        let cosine = dot(row_a, snapshot.row(pb));
        let b_id = &snapshot.records[pb].id;
        let ahead = (0..snapshot.records.len())
            .filter(|&other| other != pa && other != pb)
            .filter(|&other| {
                let score = dot(row_a, snapshot.row(other));
                score > cosine || (score == cosine && snapshot.records[other].id < *b_id)
            })
            .count();
        let list = kept
            .store
            .list(snapshot.records[pa].row)?
            .map(|list| to_neighbours(snapshot, &list))
            .unwrap_or_default();
        let linked = Linked::new(settings, snapshot).of(snapshot, pa);
        let listed = shown(&list, settings, |other| {
            linked.contains(&snapshot.records[other as usize].id)
        })
        .iter()
        .any(|neighbour| neighbour.id as usize == pb);
        Ok(Explanation {
            a: snapshot.note(pa),
            b: snapshot.note(pb),
            cosine,
            rank: ahead + 1,
            of: snapshot.records.len() - 1,
            listed,
        })
    })
}
