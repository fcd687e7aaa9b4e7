//! `explain`: why note B is (or is not) in note A's list.
//!
//! It says what each signal says: the two notes' cosine similarity, their lexical score and the
//! words they share that weigh most, the fused score that ranks (hybrid similarity), B's rank
//! among every other note for A, whether A's section lists B, and the sentence of each note
//! nearest in meaning to the other note (each sentence embedded on its own). The answer is a
//! struct with named fields, serialised as a JSON object, so later signals are new fields.

use closest_index::dot;
use closest_notes::{embed_text, parse, term_counts, term_id, words};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::hash::has_own_text;
use crate::linked::Linked;
use crate::neighbours::{shown, to_neighbours};
use crate::progress::Reporter;
use crate::query::NoteRef;
use crate::rerank::Reranker;
use crate::Engine;

/// Shared words shown, the heaviest first.
const SHARED_WORDS: usize = 8;

/// Sentences of a note embedded to find the one nearest the other note, at most.
const MAX_SENTENCES: usize = 64;

/// What the engine can say about the pair (A, B).
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct Explanation {
    pub a: NoteRef,
    pub b: NoteRef,
    /// `hybrid` or `semantic`: what `score` is made of.
    pub similarity: String,
    /// The score that ranks: the cosine, or the cosine fused with the lexical score.
    pub score: f32,
    /// Cosine similarity of the two notes' vectors.
    pub cosine: f32,
    /// The lexical (TF-IDF) score of the two notes' words (0 under `semantic`).
    pub lexical: f32,
    /// The lexical score's share of `score`.
    pub lexical_weight: f32,
    /// B's place among every note but A by `score` for A (1: the nearest), ties by id.
    pub rank: usize,
    /// Notes ranked: every stored note but A.
    pub of: usize,
    /// Whether A's section lists B (after `min-score`, `exclude-linked` and k).
    pub listed: bool,
    /// The words both notes have that add most to the lexical score, with what each adds.
    pub shared_words: Vec<SharedWord>,
    /// A's sentence nearest in meaning to B, and B's nearest to A.
    pub sentences: Option<Sentences>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SharedWord {
    pub word: String,
    /// Its part of the lexical score (the product of its two weights).
    pub weight: f32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Sentences {
    /// A's sentence nearest to note B, and its cosine to B.
    pub a: String,
    pub a_cosine: f32,
    /// B's sentence nearest to note A, and its cosine to A.
    pub b: String,
    pub b_cosine: f32,
}

pub(crate) fn explain(
    engine: &Engine,
    a: &str,
    b: &str,
    reporter: &dyn Reporter,
) -> Result<Explanation> {
    let settings = engine.settings();
    let (mut explanation, stored, learned) = engine.with_snapshot(|kept| {
        let snapshot = kept.snapshot;
        let (pa, pb) = (snapshot.position(a)?, snapshot.position(b)?);
        if pa == pb {
            return Err(Error::Invalid(format!(
                "`{a}` and `{b}` are the same note; name two notes"
            )));
        }
        let row_a = snapshot.row(pa);
        let matches = snapshot
            .lexical
            .as_ref()
            .map(|lexical| lexical.matches(lexical.terms(pa), Some(pa)))
            .unwrap_or_default();
        let mut cursor = matches.cursor();
        let scores: Vec<(f32, f32)> = (0..snapshot.records.len())
            .map(|other| {
                let cosine = dot(row_a, snapshot.row(other));
                (cosine, cursor.at(other))
            })
            .collect();
        let fused = |(cosine, lexical): (f32, f32)| match &snapshot.lexical {
            Some(lexical_side) => lexical_side.fuse(cosine, lexical),
            None => cosine,
        };
        let score = fused(scores[pb]);
        let b_id = &snapshot.records[pb].id;
        let ahead = (0..snapshot.records.len())
            .filter(|&other| other != pa && other != pb)
            .filter(|&other| {
                let other_score = fused(scores[other]);
                other_score > score || (other_score == score && snapshot.records[other].id < *b_id)
            })
            .count();
        // A's final list needs its candidates' candidate lists (`rerank.rs`).
        let stored_list = |position: usize| -> Result<Option<Vec<closest_index::Neighbour>>> {
            Ok(kept
                .store
                .list(snapshot.records[position].row)?
                .map(|list| to_neighbours(snapshot, &list)))
        };
        let mut by_position = vec![None; snapshot.records.len()];
        by_position[pa] = stored_list(pa)?;
        let firsts: Vec<usize> = by_position[pa]
            .iter()
            .flatten()
            .map(|n| n.id as usize)
            .collect();
        for other in firsts {
            by_position[other] = stored_list(other)?;
        }
        let rows = snapshot.rows();
        let list = Reranker::new(&rows, &by_position, snapshot.lexical.as_ref()).list(pa);
        let linked = Linked::new(settings, &snapshot.records).of(&snapshot.records, pa);
        let own = has_own_text(&snapshot.records[pa].text_hash);
        let listed = shown(&list, settings, snapshot.least, own, |other| {
            let other = &snapshot.records[other as usize];
            !has_own_text(&other.text_hash) || linked.contains(&other.id)
        })
        .iter()
        .any(|neighbour| neighbour.id as usize == pb);
        let explanation = Explanation {
            a: snapshot.note(pa),
            b: snapshot.note(pb),
            similarity: settings.similarity.to_string(),
            score,
            cosine: scores[pb].0,
            lexical: scores[pb].1,
            lexical_weight: snapshot.lexical.as_ref().map_or(0.0, |l| l.weight()),
            rank: ahead + 1,
            of: snapshot.records.len() - 1,
            listed,
            shared_words: Vec::new(),
            sentences: None,
        };
        // The stored vectors (what the scores come from) and statistics, for the sentences
        // and words below.
        let stored = [row_a.to_vec(), snapshot.row(pb).to_vec()];
        Ok((explanation, stored, snapshot.learned.clone()))
    })?;
    // The words and sentences come from the notes as they are on disk now.
    let prepared = |rel_path: &str| prepared_text(settings, learned.as_ref(), rel_path);
    let (Some(text_a), Some(text_b)) =
        (prepared(&explanation.a.path), prepared(&explanation.b.path))
    else {
        return Ok(explanation);
    };
    if let Some(learned) = &learned {
        explanation.shared_words = shared_words(learned, &text_a, &text_b);
    }
    explanation.sentences = nearest_sentences(engine, [&text_a, &text_b], &stored, reporter)?;
    Ok(explanation)
}

/// A note's text to embed, prepared as `update` prepares it; `None` when it cannot be read.
fn prepared_text(
    settings: &crate::FolderSettings,
    learned: Option<&crate::learned::Learned>,
    rel_path: &str,
) -> Option<String> {
    // Read as every note is: never through a link that leads out of the notes folder.
    let file = closest_notes::NoteFile {
        id: String::new(),
        path: settings.root.join(rel_path),
        rel_path: std::path::PathBuf::from(rel_path),
    };
    let note = closest_notes::read_note(&file).ok()?;
    let parsed = parse(note.text(), &settings.section).ok()?;
    let raw = embed_text(&parsed);
    Some(match learned {
        Some(learned) => learned.prepare(&raw).0,
        None => raw,
    })
}

fn shared_words(learned: &crate::learned::Learned, a: &str, b: &str) -> Vec<SharedWord> {
    let weights_a = learned.idf.weigh(&term_counts(a));
    let weights_b = learned.idf.weigh(&term_counts(b));
    let weight_of = |weights: &[(u32, f32)], term: u32| {
        weights
            .binary_search_by_key(&term, |&(t, _)| t)
            .ok()
            .map(|at| weights[at].1)
    };
    let words_b = words(b);
    let mut shared: Vec<SharedWord> = words(a)
        .into_keys()
        .filter(|word| words_b.contains_key(word))
        .filter_map(|word| {
            let term = term_id(&word);
            let weight = weight_of(&weights_a, term)? * weight_of(&weights_b, term)?;
            Some(SharedWord { word, weight })
        })
        .collect();
    shared.sort_by(|x, y| y.weight.total_cmp(&x.weight).then(x.word.cmp(&y.word)));
    shared.truncate(SHARED_WORDS);
    shared
}

/// The sentences of a text: split after `.`, `!` or `?` followed by a space, and at line
/// breaks; those with at least three words, the first [`MAX_SENTENCES`].
fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let mut start = 0;
        let bytes = line.as_bytes();
        for (at, &byte) in bytes.iter().enumerate() {
            let ends = matches!(byte, b'.' | b'!' | b'?')
                && bytes.get(at + 1).is_some_and(|next| *next == b' ');
            if ends {
                out.push(line[start..=at].trim().to_owned());
                start = at + 1;
            }
        }
        out.push(line[start..].trim().to_owned());
    }
    out.retain(|sentence| sentence.split_whitespace().count() >= 3);
    out.truncate(MAX_SENTENCES);
    out
}

/// Each note's sentence nearest the other note's stored vector (`notes`: A's, then B's).
fn nearest_sentences(
    engine: &Engine,
    [a, b]: [&str; 2],
    notes: &[Vec<f32>; 2],
    reporter: &dyn Reporter,
) -> Result<Option<Sentences>> {
    let (sentences_a, sentences_b) = (sentences(a), sentences(b));
    if sentences_a.is_empty() || sentences_b.is_empty() {
        return Ok(None);
    }
    let long = engine.settings().long;
    let model = engine.model();
    let nearest = |sentences: &[String], other: &[f32]| -> Result<(String, f32)> {
        let texts: Vec<&str> = sentences.iter().map(String::as_str).collect();
        let mut vectors = model.embed_documents(&texts, long, reporter, &|_| {})?;
        vectors.iter_mut().for_each(|v| closest_embed::normalize(v));
        let mut best = (String::new(), f32::NEG_INFINITY);
        for (sentence, vector) in sentences.iter().zip(&vectors) {
            let cosine = dot(vector, other);
            if cosine > best.1 {
                best = (sentence.clone(), cosine);
            }
        }
        Ok(best)
    };
    let (a_sentence, a_cosine) = nearest(&sentences_a, &notes[1])?;
    let (b_sentence, b_cosine) = nearest(&sentences_b, &notes[0])?;
    Ok(Some(Sentences {
        a: a_sentence,
        a_cosine,
        b: b_sentence,
        b_cosine,
    }))
}
