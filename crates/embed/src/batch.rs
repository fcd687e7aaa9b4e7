//! Tokenisation and batch planning.
//!
//! Inputs are tokenised once, sorted by length and cut into batches by a budget of tokens and
//! rows. Nothing is padded: a batch's sequences are packed one after another, and sorting keeps
//! equal lengths adjacent, as the candle forward pass needs. Results are put back in input order
//! by the caller. Long texts are either truncated at the model's `max_seq_length` (what
//! sentence-transformers does) or split into windows of that many tokens for `chunk-mean`.

use std::path::Path;

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::error::{Error, Result};

/// What to do with texts longer than the model's maximum sequence length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "clap", derive(clap::ValueEnum))]
pub enum LongPolicy {
    /// Keep the first `max_seq_length` tokens, as sentence-transformers does.
    #[default]
    Truncate,
    /// Embed every window of `max_seq_length` tokens and average the window vectors.
    ChunkMean,
}

impl std::str::FromStr for LongPolicy {
    type Err = Error;
    fn from_str(value: &str) -> Result<Self> {
        match value {
            "truncate" => Ok(Self::Truncate),
            "chunk-mean" => Ok(Self::ChunkMean),
            _ => Err(Error::InvalidArgument {
                what: "long-text policy",
                value: value.to_owned(),
                expected: "truncate or chunk-mean",
            }),
        }
    }
}

impl std::fmt::Display for LongPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Truncate => "truncate",
            Self::ChunkMean => "chunk-mean",
        })
    }
}

/// One sequence to run through the model: a whole text, or one window of a long text.
#[derive(Debug, Clone)]
pub struct Sequence {
    pub text_idx: usize,
    pub ids: Vec<u32>,
}

/// Loads tokenizer.json with its baked-in padding removed and truncation set to the model's
/// `max_seq_length` (the all-MiniLM file pads and truncates at 128, but the model reads 256).
pub fn load_tokenizer(path: &Path, max_seq_length: usize) -> Result<Tokenizer> {
    let mut tokenizer = Tokenizer::from_file(path).map_err(|err| Error::InvalidFile {
        path: path.to_owned(),
        reason: err.to_string(),
        fix: "restore tokenizer.json from the model's source".to_owned(),
    })?;
    tokenizer.with_padding(None);
    tokenizer
        .with_truncation(Some(TruncationParams {
            direction: TruncationDirection::Right,
            max_length: max_seq_length,
            strategy: TruncationStrategy::LongestFirst,
            stride: 0,
        }))
        .map_err(|err| Error::Tokenizer(err.to_string()))?;
    Ok(tokenizer)
}

/// Tokenises `texts` into sequences: one per text when truncating; one per window when chunking.
pub fn tokenize(
    tokenizer: &Tokenizer,
    texts: &[String],
    long: LongPolicy,
) -> Result<Vec<Sequence>> {
    let inputs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let encodings = tokenizer
        .encode_batch(inputs, true)
        .map_err(|err| Error::Tokenizer(err.to_string()))?;
    let mut sequences = Vec::with_capacity(encodings.len());
    for (text_idx, encoding) in encodings.into_iter().enumerate() {
        sequences.push(Sequence {
            text_idx,
            ids: encoding.get_ids().to_vec(),
        });
        if long == LongPolicy::ChunkMean {
            // Overflowing windows come back with their special tokens already added by the
            // post-processor, each at most max_seq_length long.
            for window in encoding.get_overflowing() {
                sequences.push(Sequence {
                    text_idx,
                    ids: window.get_ids().to_vec(),
                });
            }
        }
    }
    Ok(sequences)
}

/// Limits on one batch: tokens (sequences are packed, so no padding counts) and rows.
#[derive(Debug, Clone, Copy)]
pub struct BatchLimits {
    pub max_tokens: usize,
    pub max_rows: usize,
}

impl Default for BatchLimits {
    fn default() -> Self {
        Self {
            max_tokens: 8192,
            max_rows: 256,
        }
    }
}

/// Orders sequence indices longest first (ties by index, so the plan is deterministic and equal
/// lengths are adjacent, as the packed forward needs) and cuts them into batches within
/// `limits`. Every batch has at least one sequence.
pub fn plan_batches(sequences: &[Sequence], limits: BatchLimits) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    order.sort_by(|&a, &b| {
        sequences[b]
            .ids
            .len()
            .cmp(&sequences[a].ids.len())
            .then(a.cmp(&b))
    });
    let mut batches: Vec<Vec<usize>> = Vec::new();
    let mut current: Vec<usize> = Vec::new();
    let mut tokens = 0;
    for seq_idx in order {
        let len = sequences[seq_idx].ids.len().max(1);
        let fits =
            current.len() < limits.max_rows.max(1) && tokens + len <= limits.max_tokens.max(1);
        if !current.is_empty() && !fits {
            batches.push(std::mem::take(&mut current));
            tokens = 0;
        }
        tokens += len;
        current.push(seq_idx);
    }
    if !current.is_empty() {
        batches.push(current);
    }
    batches
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(len: usize) -> Sequence {
        Sequence {
            text_idx: 0,
            ids: vec![1; len],
        }
    }

    #[test]
    fn batches_respect_budget_and_cover_every_sequence_once() {
        let sequences: Vec<Sequence> = [5, 300, 17, 17, 2, 256, 1, 90]
            .iter()
            .map(|len| seq(*len))
            .collect();
        let limits = BatchLimits {
            max_tokens: 512,
            max_rows: 3,
        };
        let batches = plan_batches(&sequences, limits);
        let mut seen: Vec<usize> = batches.iter().flatten().copied().collect();
        seen.sort_unstable();
        assert_eq!(seen, (0..sequences.len()).collect::<Vec<_>>());
        for batch in &batches {
            let tokens: usize = batch.iter().map(|idx| sequences[*idx].ids.len()).sum();
            assert!(batch.len() <= 3);
            assert!(batch.len() == 1 || tokens <= 512, "{batch:?}");
        }
    }

    #[test]
    fn a_sequence_over_budget_gets_a_batch_of_its_own() {
        let batches = plan_batches(
            &[seq(1000), seq(3)],
            BatchLimits {
                max_tokens: 100,
                max_rows: 8,
            },
        );
        assert_eq!(batches, vec![vec![0], vec![1]]);
    }

    #[test]
    fn long_policy_parses() {
        assert_eq!(
            "chunk-mean".parse::<LongPolicy>().ok(),
            Some(LongPolicy::ChunkMean)
        );
        assert!("nope".parse::<LongPolicy>().is_err());
    }
}
