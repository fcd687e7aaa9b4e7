//! The words of a note, for the lexical half of hybrid similarity.
//!
//! A sentence model reads meaning but blurs names: two tldr pages about `git rebase` and
//! `git cherry-pick` share the rare word that matters, and plain TF-IDF finds that better than
//! the model does on those pages. Each note gets a sparse TF-IDF vector over its prepared text
//! (the text the model embeds): words are runs of letters and digits, lower-cased, two to forty
//! characters, not bare numbers; a word is known by a 32-bit hash of itself. The weights need
//! each word's document frequency in the folder, learned once with the boilerplate set and kept
//! ([`Idf`]), so that a new note does not move every other note's vector.

use std::collections::{BTreeMap, HashMap};

use xxhash_rust::xxh3::xxh3_64;

/// Bumped whenever [`words`] or [`Idf::weigh`] give different results for the same text, so
/// that stores re-read their notes.
pub const TERMS_VERSION: u32 = 1;

/// Words kept per note, the heaviest first: enough for any note's topic, and a bound on the
/// inverted index's work per note.
pub const TERMS_PER_NOTE: usize = 64;

/// A word in more than this share of the folder's notes carries no lexical weight (it says
/// nothing about which notes are alike, and it would make every note a candidate of every
/// other).
pub const MAX_DF_SHARE: f64 = 0.1;

/// English function words: they say nothing of a topic, and in a small folder they are not yet
/// common enough for [`MAX_DF_SHARE`] to silence them. Other languages rely on that share.
const STOP_WORDS: &[&str] = &[
    "about", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "because",
    "been", "before", "being", "but", "by", "can", "could", "did", "do", "does", "each", "for",
    "from", "had", "has", "have", "he", "her", "here", "his", "how", "if", "in", "into", "is",
    "it", "its", "just", "like", "may", "me", "more", "most", "my", "no", "not", "now", "of", "on",
    "one", "only", "or", "other", "our", "out", "over", "she", "should", "so", "some", "such",
    "than", "that", "the", "their", "them", "then", "there", "these", "they", "this", "those",
    "through", "to", "too", "up", "us", "use", "used", "using", "very", "was", "we", "were",
    "what", "when", "where", "which", "while", "who", "why", "will", "with", "would", "you",
    "your",
];

/// A word's id: the low 32 bits of its xxh3.
pub fn term_id(word: &str) -> u32 {
    xxh3_64(word.as_bytes()) as u32
}

/// The words of `text` with their counts, in word order.
pub fn words(text: &str) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for word in text
        .split(|c: char| !c.is_alphanumeric())
        .filter(|word| (2..=40).contains(&word.chars().count()))
        .filter(|word| !word.chars().all(|c| c.is_ascii_digit()))
    {
        let word = word.to_lowercase();
        if STOP_WORDS.binary_search(&word.as_str()).is_err() {
            *counts.entry(word).or_insert(0) += 1;
        }
    }
    counts
}

/// Words (stop words aside, as [`words`] counts them) a note's text needs, once the folder's
/// boilerplate is out, to be listed and to get a list of its own: a daily note that holds only
/// its template, a stub made from a link, a title alone say too little of what they are about
/// to be near anything (measured in BENCHMARKS.md, "Notes too empty to list").
pub const MIN_WORDS: u32 = 5;

/// Whether a prepared text has fewer than [`MIN_WORDS`] words. Scripts written without
/// spaces between words (Chinese, Japanese) come as one run of letters per phrase: such a run
/// counts a word for every two of its characters.
pub fn too_little(text: &str) -> bool {
    let spaced: u32 = words(text).values().sum();
    let unspaced: usize = text
        .split(|c: char| !c.is_alphanumeric())
        .map(|run| {
            run.chars()
                .filter(|&c| is_unspaced_script(c))
                .count()
                .div_ceil(2)
        })
        .sum();
    spaced.saturating_add(unspaced as u32) < MIN_WORDS
}

/// Han, kana, Hangul syllables and Thai: scripts whose words are not set apart by spaces.
fn is_unspaced_script(c: char) -> bool {
    matches!(u32::from(c),
        0x3040..=0x30ff | 0x3400..=0x4dbf | 0x4e00..=0x9fff | 0xac00..=0xd7af | 0x0e00..=0x0e7f
            | 0xf900..=0xfaff | 0x20000..=0x2fa1f)
}

/// The word ids of `text` with their counts, sorted by id.
pub fn term_counts(text: &str) -> Vec<(u32, u32)> {
    let mut counts: Vec<(u32, u32)> = words(text)
        .into_iter()
        .map(|(word, count)| (term_id(&word), count))
        .collect();
    counts.sort_unstable();
    // Two words with one id (a hash collision) count as one word.
    counts.dedup_by(|b, a| {
        if a.0 == b.0 {
            a.1 += b.1;
            true
        } else {
            false
        }
    });
    counts
}

/// Document frequencies learned from a folder: how many notes have each word.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Idf {
    notes: u32,
    df: HashMap<u32, u32>,
}

impl Idf {
    /// Learns the frequencies from every note's term counts.
    pub fn learn<'a>(notes: impl IntoIterator<Item = &'a [(u32, u32)]>) -> Idf {
        let mut idf = Idf::default();
        for counts in notes {
            idf.notes += 1;
            for &(term, _) in counts {
                *idf.df.entry(term).or_insert(0) += 1;
            }
        }
        idf
    }

    /// Frequencies read back from storage: the number of notes, then (term, notes with it).
    pub fn from_parts(notes: u32, df: impl IntoIterator<Item = (u32, u32)>) -> Idf {
        Idf {
            notes,
            df: df.into_iter().collect(),
        }
    }

    /// The notes learned from.
    pub fn notes(&self) -> u32 {
        self.notes
    }

    /// (term, notes with it), sorted by term, for storage.
    pub fn parts(&self) -> Vec<(u32, u32)> {
        let mut parts: Vec<(u32, u32)> = self.df.iter().map(|(&t, &n)| (t, n)).collect();
        parts.sort_unstable();
        parts
    }

    /// A word's inverse document frequency (smoothed, as scikit-learn's), or `None` for a
    /// word too common to weigh. A word the folder did not have is as rare as can be.
    pub fn idf(&self, term: u32) -> Option<f32> {
        let df = self.df.get(&term).copied().unwrap_or(0);
        let too_common = self.notes >= 20 && f64::from(df) > f64::from(self.notes) * MAX_DF_SHARE;
        if too_common {
            return None;
        }
        Some(((1.0 + f64::from(self.notes)) / (1.0 + f64::from(df))).ln() as f32 + 1.0)
    }

    /// The note's unit TF-IDF vector, sorted by term: weight (1 + ln count) × idf, the
    /// [`TERMS_PER_NOTE`] heaviest kept (ties by term). Empty when no word weighs.
    pub fn weigh(&self, counts: &[(u32, u32)]) -> Vec<(u32, f32)> {
        let mut weighted: Vec<(u32, f32)> = counts
            .iter()
            .filter_map(|&(term, count)| {
                let idf = self.idf(term)?;
                Some((term, (1.0 + (count as f32).ln()) * idf))
            })
            .collect();
        if weighted.len() > TERMS_PER_NOTE {
            weighted.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            weighted.truncate(TERMS_PER_NOTE);
            weighted.sort_unstable_by_key(|&(term, _)| term);
        }
        let norm = weighted
            .iter()
            .map(|&(_, w)| f64::from(w) * f64::from(w))
            .sum::<f64>()
            .sqrt();
        if norm > 0.0 {
            for (_, w) in &mut weighted {
                *w = (f64::from(*w) / norm) as f32;
            }
        }
        weighted
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stop_words_are_sorted() {
        assert!(STOP_WORDS.windows(2).all(|pair| pair[0] < pair[1]));
    }

    #[test]
    fn words_are_lowercased_runs_without_numbers() {
        let words: Vec<(String, u32)> = words("Git rebase: the git-rebase 2024 a über")
            .into_iter()
            .collect();
        assert_eq!(
            words,
            [
                ("git".to_string(), 2),
                ("rebase".to_string(), 2),
                ("über".to_string(), 1)
            ]
        );
    }

    #[test]
    fn too_little_counts_words_of_every_script() {
        assert!(too_little(""));
        assert!(too_little("# 2026-01-05\n\n## Tasks\n\n- [ ]\n\n## Log\n"));
        assert!(too_little("Call the plumber about it"));
        assert!(!too_little("Call the plumber about the kitchen sink leak"));
        assert!(!too_little("Закваска для хлеба: мука и вода, каждый день."));
        assert!(!too_little("每天用面粉和水喂养酸面团。"));
        assert!(too_little("酸面团"));
    }

    #[test]
    fn weights_are_unit_and_favour_rare_words() {
        let notes: Vec<Vec<(u32, u32)>> = (0..30)
            .map(|i| term_counts(&format!("common words here note{i} and more common")))
            .collect();
        let idf = Idf::learn(notes.iter().map(Vec::as_slice));
        let weights = idf.weigh(&notes[3]);
        // `common`, `words`, `here`, `and`, `more` are in every note: too common to weigh.
        assert_eq!(weights.len(), 1);
        assert_eq!(weights[0].0, term_id("note3"));
        assert!((weights[0].1 - 1.0).abs() < 1e-6);
        assert!(idf.weigh(&term_counts("")).is_empty());
    }
}
