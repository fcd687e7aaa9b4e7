//! How the k-nearest graph is built: the knobs, their defaults and the checks that keep a
//! build bounded.
//!
//! The defaults are measured, not guessed (BENCHMARKS.md, "k-nearest graph"): they aim at
//! recall@10 of 0.99 on 100,000 rows of 384 dimensions at the least cost, and every one of them
//! trades time for recall in one direction, so a caller who needs more recall raises
//! `list_size` (data the first trees cut well) or `max_list_size` and `max_trees` (data they
//! cut badly; `KnnReport::trees` says which) and reads the estimate in `KnnReport`.

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// How the graph is built. The defaults were tuned on 100,000 rows of 384 dimensions (the
/// synthetic clustered set, where they reach recall@10 0.996, and real sentence embeddings,
/// where they reach 0.991); see `BENCHMARKS.md`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KnnParams {
    /// Seeds the trees; the same seed, rows and parameters give the same graph.
    pub seed: u64,
    /// Candidates kept per row while building, at first (raised to k + 2): wider lists find
    /// more of the true k at more cost, as pynndescent's `n_neighbors` above k does.
    pub list_size: usize,
    /// Widest lists the build may grow to while the sampled recall is below `target_recall`.
    pub max_list_size: usize,
    /// Sampled recall@k at which the build stops widening its lists.
    pub target_recall: f64,
    /// If the first `n_trees` trees alone reach less than this sampled recall@k, the build
    /// adds trees up to `max_trees` and NN-descent starts at `max_list_size` rather than
    /// `list_size`, joining every entry of every list (no sampling) from the first round.
    pub wide_below: f64,
    /// 2-means trees whose leaves start the lists.
    pub n_trees: usize,
    /// Trees in all when the first `n_trees` cut the data badly (see `wide_below`).
    pub max_trees: usize,
    /// Most rows in a leaf (raised to 2 × (list width + 1)); each leaf costs one gemm.
    pub leaf_size: usize,
    /// New (and old) entries per row taken into a round's local joins (NN-descent's ρK); each
    /// row also takes up to twice as many reverse links of each kind.
    pub sample: usize,
    /// Most NN-descent rounds.
    pub max_rounds: usize,
    /// Stop when a round changes fewer than `delta` × rows × list width entries.
    pub delta: f64,
    /// Corpora of at most this many rows are answered by Exact, which is exact and, below
    /// `AUTO_CROSSOVER_ROWS`, also faster.
    pub exact_max_rows: usize,
    /// Rows whose lists are checked against Exact after the build (their exact lists replace
    /// the graph's), to estimate recall@k; 0 skips the check.
    pub check_rows: usize,
    /// If the estimated recall@k falls below this, the whole corpus is answered by Exact
    /// instead, at Exact's cost: the documented fallback for data the graph serves badly. The
    /// default, 0.9, is below anything the defaults reached on the data measured (a single
    /// dense cluster in 32 dimensions, the tests' hard case, reaches 0.946 and is kept), so it
    /// catches a build gone wrong rather than a hard data set. 0 never falls back.
    pub min_recall: f64,
    /// Below this many rows, a graph whose estimated recall@k stays short of `target_recall`
    /// after its widest stage is answered by Exact instead (which costs at most about ten
    /// seconds there; BENCHMARKS.md). 0 never does.
    pub exact_when_short_below: usize,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            seed: 0,
            list_size: 12,
            max_list_size: 24,
            target_recall: 0.99,
            wide_below: WIDE_BELOW,
            n_trees: 3,
            max_trees: 14,
            leaf_size: 512,
            sample: 8,
            max_rounds: 10,
            delta: 0.001,
            exact_max_rows: 2_000,
            check_rows: 256,
            min_recall: 0.9,
            exact_when_short_below: crate::AUTO_CROSSOVER_ROWS,
        }
    }
}

impl KnnParams {
    /// Checks the parameters that would make the build meaningless or unbounded.
    pub fn validate(&self) -> Result<(), Error> {
        let positive = [
            ("list_size", self.list_size),
            ("leaf_size", self.leaf_size),
            ("sample", self.sample),
        ];
        for (name, value) in positive {
            if value == 0 {
                return Err(Error::InvalidGraphParameter {
                    name,
                    value: value.to_string(),
                    expected: "at least 1",
                });
            }
        }
        if self.sample > MAX_SAMPLE {
            return Err(Error::InvalidGraphParameter {
                name: "sample",
                value: self.sample.to_string(),
                expected: "at most 4096",
            });
        }
        if !(0.0..=1.0).contains(&self.wide_below) {
            return Err(Error::InvalidGraphParameter {
                name: "wide_below",
                value: self.wide_below.to_string(),
                expected: "between 0 and 1",
            });
        }
        if !(0.0..=1.0).contains(&self.target_recall) {
            return Err(Error::InvalidGraphParameter {
                name: "target_recall",
                value: self.target_recall.to_string(),
                expected: "between 0 and 1",
            });
        }
        if !(0.0..=1.0).contains(&self.min_recall) {
            return Err(Error::InvalidGraphParameter {
                name: "min_recall",
                value: self.min_recall.to_string(),
                expected: "between 0 and 1",
            });
        }
        if !(0.0..=1.0).contains(&self.delta) {
            return Err(Error::InvalidGraphParameter {
                name: "delta",
                value: self.delta.to_string(),
                expected: "between 0 and 1",
            });
        }
        Ok(())
    }
}

/// Calibrated on 100,000 rows with three trees of 512-row leaves: the trees alone reach 0.72
/// on the synthetic clustered set (where lists of 12 then reach 0.996) and 0.45 on real
/// sentence embeddings (where narrow lists stall near 0.93 and sampled wide ones near 0.974;
/// twelve trees and lists of 30 joined whole from the first round reach 0.99).
const WIDE_BELOW: f64 = 0.6;

/// Join sets hold up to 6 × sample rows counted in a `u16`.
pub(super) const MAX_SAMPLE: usize = 4_096;
