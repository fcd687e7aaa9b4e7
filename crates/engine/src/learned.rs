//! What a run learns from the whole folder: the boilerplate lines left out of every note's
//! text, and each word's document frequency for the lexical score.
//!
//! Both are learned when every note is read anyway and kept in the folder's lock file
//! (`lockfile.rs`), beside the notes, so that a note added later is prepared and weighed by the
//! statistics the others were (a few new notes never shift the boilerplate set or the word
//! weights, so they never re-embed or re-rank the folder), and so that a clone of the notes
//! prepares them exactly as their author's machine did. They are learned again by
//! `update --full`, when the lock file has none, and once the folder has drifted from the notes
//! they were learned from: [`Sketch`] keeps the smallest hashes of the texts learned from, and
//! the drift is one minus the Jaccard similarity it estimates between those texts and today's.
//! The drift is a function of the folder and the lock file alone, so every machine relearns at
//! the same edit.

use closest_notes::{term_counts, Boilerplate, Idf};
use xxhash_rust::xxh3::xxh3_64;

use crate::hash::TextHash;

/// The drift (one minus the Jaccard similarity of the texts learned from and today's texts)
/// from which on a run learns again: about a seventh of the notes edited, or a third added.
pub(crate) const DRIFT_SHARE: f64 = 0.25;

/// Hashes a sketch keeps: the estimate's standard error is below 0.03 around the threshold.
pub(crate) const SKETCH_SIZE: usize = 256;

/// The folder's learned statistics.
#[derive(Debug, Clone)]
pub struct Learned {
    pub boilerplate: Boilerplate,
    pub idf: Idf,
    /// The texts learned from, in brief.
    pub sketch: Sketch,
    /// A hash of the statistics: what the store's texts and lexical vectors were made with.
    pub id: String,
}

impl Learned {
    /// Statistics learned (`prepare::learn_from`) from texts with these hashes.
    pub fn new(boilerplate: Boilerplate, idf: Idf, sketch: Sketch) -> Learned {
        let id = id_of(&boilerplate, &idf);
        Learned {
            boilerplate,
            idf,
            sketch,
            id,
        }
    }

    /// The text to embed from `embed_text`'s (empty when too little is left: [`own_text`]),
    /// and its lexical vector.
    pub fn prepare(&self, raw: &str) -> (String, Vec<(u32, f32)>) {
        let text = own_text(self.boilerplate.strip(raw));
        let terms = self.idf.weigh(&term_counts(&text));
        (text, terms)
    }
}

/// A note's text with the boilerplate out, or nothing when it has too little of its own
/// (`closest_notes::too_little`): such a note is prepared to the empty text, which has the
/// zero vector and no words, and is neither listed nor given a list (`hash::EMPTY_TEXT`).
pub(crate) fn own_text(text: String) -> String {
    if closest_notes::too_little(&text) {
        String::new()
    } else {
        text
    }
}

/// The id of a set of statistics: what changes the texts to embed and the word weights.
fn id_of(boilerplate: &Boilerplate, idf: &Idf) -> String {
    let mut bytes = Vec::new();
    bytes.extend(idf.notes().to_le_bytes());
    for line in boilerplate.lines() {
        bytes.extend((line.len() as u64).to_le_bytes());
        bytes.extend(line.as_bytes());
    }
    for (term, df) in idf.parts() {
        bytes.extend(term.to_le_bytes());
        bytes.extend(df.to_le_bytes());
    }
    format!("{:016x}", xxh3_64(&bytes))
}

/// The [`SKETCH_SIZE`] smallest distinct text hashes of a set of notes (a bottom-k sketch).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Sketch {
    smallest: Vec<TextHash>,
}

impl Sketch {
    pub fn of(hashes: impl IntoIterator<Item = TextHash>) -> Sketch {
        let mut smallest: Vec<TextHash> = hashes.into_iter().collect();
        smallest.sort_unstable();
        smallest.dedup();
        smallest.truncate(SKETCH_SIZE);
        Sketch { smallest }
    }

    pub fn from_hashes(mut smallest: Vec<TextHash>) -> Sketch {
        smallest.sort_unstable();
        smallest.dedup();
        Sketch { smallest }
    }

    pub fn hashes(&self) -> &[TextHash] {
        &self.smallest
    }

    /// One minus the estimated Jaccard similarity of the set this sketches and `now`'s: 0 for
    /// the same texts, 1 for none shared.
    pub fn drift(&self, now: &Sketch) -> f64 {
        let union = Sketch::of(self.smallest.iter().chain(&now.smallest).copied());
        if union.smallest.is_empty() {
            return 0.0;
        }
        // A hash among the union's smallest is in a set exactly when that set's sketch has
        // it: it is among that set's smallest too.
        let shared = union
            .smallest
            .iter()
            .filter(|hash| {
                self.smallest.binary_search(hash).is_ok()
                    && now.smallest.binary_search(hash).is_ok()
            })
            .count();
        1.0 - shared as f64 / union.smallest.len() as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::text_hash;

    fn texts(range: std::ops::Range<usize>) -> Vec<TextHash> {
        range.map(|i| text_hash(&format!("note {i}"))).collect()
    }

    #[test]
    fn drift_follows_the_share_of_texts_changed() {
        let learned = Sketch::of(texts(0..1000));
        assert_eq!(learned.drift(&Sketch::of(texts(0..1000))), 0.0);
        // 100 of 1,000 edited: a Jaccard similarity of 900 / 1,100.
        let edited = Sketch::of(texts(100..1100));
        let drift = learned.drift(&edited);
        assert!((drift - (1.0 - 900.0 / 1100.0)).abs() < 0.06, "{drift}");
        assert_eq!(learned.drift(&Sketch::of(texts(5000..6000))), 1.0);
        // A small folder is sketched whole, so its drift is exact.
        let small = Sketch::of(texts(0..10));
        assert!((small.drift(&Sketch::of(texts(0..12))) - 2.0 / 12.0).abs() < 1e-9);
    }
}
