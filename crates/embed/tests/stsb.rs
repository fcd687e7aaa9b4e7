//! STS-B dev: Spearman×100 of cosine against the gold scores. On the full split (the shared
//! suite) it must be within 0.1 of 86.72, the figure sentence-transformers gives with these
//! weights; on the 625 committed pairs, within 0.1 of what closest measured there.

use std::path::Path;

use crate::common::{cosine, embedder, test_data};
use closest_embed::{DType, EmbedOptions};

/// Ranks with ties given their average rank, as `scipy.stats.spearmanr` does.
fn ranks(values: &[f64]) -> Vec<f64> {
    let mut order: Vec<usize> = (0..values.len()).collect();
    order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
    let mut ranks = vec![0.0; values.len()];
    let mut start = 0;
    while start < order.len() {
        let mut end = start;
        while end + 1 < order.len() && values[order[end + 1]] == values[order[start]] {
            end += 1;
        }
        let average = (start + end) as f64 / 2.0 + 1.0;
        for &index in &order[start..=end] {
            ranks[index] = average;
        }
        start = end + 1;
    }
    ranks
}

fn pearson(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len() as f64;
    let (mean_a, mean_b) = (a.iter().sum::<f64>() / n, b.iter().sum::<f64>() / n);
    let cov: f64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| (x - mean_a) * (y - mean_b))
        .sum();
    let var_a: f64 = a.iter().map(|x| (x - mean_a).powi(2)).sum();
    let var_b: f64 = b.iter().map(|y| (y - mean_b).powi(2)).sum();
    cov / (var_a * var_b).sqrt()
}

#[test]
fn spearman_ties_are_averaged() {
    assert_eq!(ranks(&[3.0, 1.0, 3.0, 2.0]), vec![3.5, 1.0, 3.5, 2.0]);
}

/// The committed pairs (tests/data/stsb/SOURCE.md): closest's figure there (87.100), measured
/// when they were chosen, with vectors at parity with sentence-transformers (parity.rs).
#[test]
fn stsb_dev_spearman_holds_on_the_committed_pairs() {
    spearman_is(&test_data().join("stsb/sts-dev.tsv"), 625, FIXTURE_SPEARMAN);
}

const FIXTURE_SPEARMAN: f64 = 87.10;

pub(crate) fn spearman_is(path: &Path, pairs: usize, expected: f64) {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|err| panic!("cannot read `{}`: {err}", path.display()));
    let mut gold = Vec::new();
    let mut firsts = Vec::new();
    let mut seconds = Vec::new();
    for line in text.lines().skip(1) {
        let fields: Vec<&str> = line.split('\t').collect();
        assert_eq!(
            fields.len(),
            7,
            "a row of `{}` has 7 fields",
            path.display()
        );
        gold.push(fields[4].parse::<f64>().expect("score"));
        firsts.push(fields[5]);
        seconds.push(fields[6]);
    }
    assert_eq!(gold.len(), pairs);
    let embedder = embedder(DType::F32);
    let embed = |texts: &[&str]| {
        embedder
            .embed(texts, None, EmbedOptions::default())
            .expect("embeds")
            .0
    };
    let (a, b) = (embed(&firsts), embed(&seconds));
    let cosines: Vec<f64> = a.iter().zip(&b).map(|(x, y)| cosine(x, y)).collect();
    let spearman = pearson(&ranks(&cosines), &ranks(&gold)) * 100.0;
    eprintln!("STS-B dev Spearman×100 = {spearman:.3}");
    assert!(
        (spearman - expected).abs() <= 0.1,
        "Spearman×100 = {spearman:.3}, expected {expected} ± 0.1"
    );
}
