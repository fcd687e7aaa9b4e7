//! The folder's floor: the least score a link needs to be shown, relative to what is really
//! near in this folder.
//!
//! Scores mean different things in different folders (a folder of one topic scores high
//! throughout, a model or the lexical weight moves every score), so a fixed least score either
//! lets a lone note list ten strangers or empties the lists of a dense folder. The floor is
//! [`SHARE`] of the median best score of the folder's notes: a link far below what the folder's
//! notes usually find nearest is left out, so a note with nothing near gets a short list or
//! none (its region is then taken out), and `k` stays the most a list holds. The share was
//! chosen on the shared labelled sets (BENCHMARKS.md, "The floor").
//!
//! It is learned with the folder's statistics and kept in the lock file beside them (with the
//! ranking and model it was learned under), so that a clone shows exactly its author's links;
//! it is learned again when they are, or when the ranking settings or the model change. The
//! median is taken over a fixed sample (the notes with the smallest text hashes), rounded to
//! two decimals. A `min-score` in the settings replaces it.

use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::hash::TextHash;
use crate::settings::FolderSettings;

/// The floor's share of the median best score.
pub(crate) const SHARE: f32 = 0.5;

/// Notes whose best score the median is taken over: enough for a median within a hundredth.
pub(crate) const SAMPLE: usize = 1024;

/// A learned floor and what it was learned under.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Floor {
    /// The least score a link needs.
    pub score: f32,
    /// The ranking settings and model it was learned under ([`key`]).
    #[serde(rename = "for")]
    pub key: String,
}

/// What a floor depends on besides the notes: the ranking settings and the model's vectors.
pub(crate) fn key(settings: &FolderSettings, vector_key: &str) -> String {
    let text = format!("{}|{vector_key}", settings.ranking_fingerprint());
    format!("{:016x}", xxh3_64(text.as_bytes()))
}

/// The notes the floor is learned from: of those with a text of their own (`own`), the
/// [`SAMPLE`] with the smallest text hashes (ties by position), by position.
pub(crate) fn sample(hashes: &[TextHash], own: impl Fn(usize) -> bool) -> Vec<usize> {
    let mut positions: Vec<usize> = (0..hashes.len()).filter(|&p| own(p)).collect();
    positions.sort_by(|&a, &b| hashes[a].cmp(&hashes[b]).then(a.cmp(&b)));
    positions.truncate(SAMPLE);
    positions.sort_unstable();
    positions
}

/// The floor from the best shown score of each sampled note (`None` for a note with nothing
/// to show): [`SHARE`] of their median, rounded to two decimals; none without a score.
pub(crate) fn learn(best: impl IntoIterator<Item = Option<f32>>) -> Option<f32> {
    let mut scores: Vec<f32> = best.into_iter().flatten().collect();
    if scores.is_empty() {
        return None;
    }
    scores.sort_by(f32::total_cmp);
    let median = scores[(scores.len() - 1) / 2];
    Some(((median * SHARE * 100.0).round() / 100.0).max(0.0))
}

/// The least score a shown link has: the settings' `min-score` when one is set, else the
/// folder's floor (none before one is learned).
pub(crate) fn least_score(settings: &FolderSettings, floor: Option<f32>) -> f32 {
    if settings.min_score.is_finite() {
        settings.min_score
    } else {
        floor.unwrap_or(f32::NEG_INFINITY)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_floor_is_a_share_of_the_median_best_score() {
        assert_eq!(learn([Some(0.8), Some(0.4), None, Some(0.6)]), Some(0.3));
        assert_eq!(learn([None, None]), None);
        assert_eq!(learn([Some(-0.2)]), Some(0.0));
    }

    #[test]
    fn the_sample_is_the_smallest_hashes_of_notes_with_text() {
        let hashes: Vec<TextHash> = (0..10u8).rev().map(|i| [i; 16]).collect();
        assert_eq!(sample(&hashes, |p| p != 9), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
        let many: Vec<TextHash> = (0..3000u32)
            .map(|i| crate::hash::text_hash(&i.to_string()))
            .collect();
        let chosen = sample(&many, |_| true);
        assert_eq!(chosen.len(), SAMPLE);
        let largest = chosen.iter().map(|&p| many[p]).max().expect("some");
        assert_eq!(many.iter().filter(|hash| **hash <= largest).count(), SAMPLE);
    }
}
