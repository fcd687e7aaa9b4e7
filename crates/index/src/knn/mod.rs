//! The k-nearest graph of a large corpus: every row's k nearest other rows, for the cold
//! `update` of a big folder, without the n² cost of the exact product.
//!
//! A stream of queries (HNSW) pays for a navigable structure nobody navigates afterwards; the
//! graph is built directly instead. Random-projection trees cut the rows into leaves that are
//! joined exactly with matrix products (`forest`), then NN-descent rounds improve every list
//! from its neighbours' lists (`descent`), then every kept candidate is re-scored with the
//! crate's one `dot` and ordered score first, id second, so the lists read exactly like
//! Exact's, differing only where the graph missed a neighbour (recall is measured in tests and
//! `BENCHMARKS.md`). Everything is seeded by position, never by thread timing, so the same rows
//! and parameters give the same bytes on any number of threads.
//!
//! Where the method cannot be trusted it falls back to Exact: small corpora (Exact is faster
//! there anyway), k close to the row count, and rows whose kept candidates all tie at the k-th
//! score (duplicates beyond the list width: the approximate lists cannot tell which ids win the
//! tie), which are recomputed exactly; if that is more than a quarter of the rows, the whole
//! corpus is (all-identical vectors). Every build also checks a sample of rows against Exact;
//! if its recall falls below `min_recall` (one dense cluster of high intrinsic dimension is
//! such data), the whole corpus is answered by Exact, at Exact's cost.

mod descent;
mod forest;
mod index;
mod lists;
mod packed;
mod sets;

use std::time::Instant;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Subject};
use crate::exact::top_k_of_rows;
use crate::recall::sample_rows;
use crate::rows::{validate, RowsView, MAX_ROWS};
use crate::topk::Candidate;
use crate::Neighbours;
pub use index::KnnGraph;
use lists::{filled, Lists};
use packed::Packed;

/// How the graph is built. The defaults were tuned on 100,000 rows of 384 dimensions (the
/// synthetic clustered set and real sentence embeddings) for recall@10 ≥ 0.99; see
/// `BENCHMARKS.md`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct KnnParams {
    /// Seeds the trees; the same seed, rows and parameters give the same graph.
    pub seed: u64,
    /// Candidates kept per row while building (raised to k + 2): wider lists find more of the
    /// true k at more cost, as pynndescent's `n_neighbors` above k does.
    pub list_size: usize,
    /// Random-projection trees whose leaves start the lists.
    pub n_trees: usize,
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
    /// instead: the documented fallback for data the graph serves badly (one dense cluster of
    /// high intrinsic dimension). 0 never falls back.
    pub min_recall: f64,
}

impl Default for KnnParams {
    fn default() -> Self {
        KnnParams {
            seed: 0,
            list_size: 32,
            n_trees: 8,
            leaf_size: 512,
            sample: 16,
            max_rounds: 10,
            delta: 0.001,
            exact_max_rows: 2_000,
            check_rows: 256,
            min_recall: 0.97,
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

/// Join sets hold up to 6 × sample rows counted in a `u16`.
const MAX_SAMPLE: usize = 4_096;

/// What a build did, for benchmarks and logs.
#[derive(Debug, Clone, Default, Serialize)]
pub struct KnnReport {
    /// Whether the whole corpus was answered by Exact (small corpus, large k, ties).
    pub exact: bool,
    /// List entries changed by each NN-descent round.
    pub rounds: Vec<usize>,
    /// Rows recomputed exactly because their candidates tied beyond the list width.
    pub exact_rows: usize,
    /// Recall@k of the graph on `check_rows` sampled rows, before the fallback decision.
    pub estimated_recall: Option<f64>,
    pub forest_seconds: f64,
    pub descent_seconds: f64,
    pub finish_seconds: f64,
}

/// Every row's k nearest other rows (itself excluded; fewer when there are fewer other rows),
/// in input row order. `rows` is row-major, `dim` wide, unit length; `ids` names the rows and
/// breaks ties. Scores are exact cosines from the crate's `dot`, ordered like Exact's.
pub fn knn_graph(
    rows: &[f32],
    dim: usize,
    ids: &[u64],
    k: usize,
    params: &KnnParams,
) -> Result<Vec<Neighbours>, Error> {
    knn_graph_report(rows, dim, ids, k, params).map(|(lists, _)| lists)
}

/// `knn_graph`, with what the build did.
pub fn knn_graph_report(
    rows: &[f32],
    dim: usize,
    ids: &[u64],
    k: usize,
    params: &KnnParams,
) -> Result<(Vec<Neighbours>, KnnReport), Error> {
    params.validate()?;
    check_rows(rows, dim, ids)?;
    Ok(build(
        RowsView {
            dim,
            data: rows,
            ids,
        },
        k,
        params,
    ))
}

/// The exact k nearest other rows of each of `query_rows` (row numbers into `rows`), in that
/// order: Exact's blocked product on a caller's slice, without copying it into an index. The
/// reference for sampled recall, and the m × N step of an incremental update.
pub fn exact_neighbours_of_rows(
    rows: &[f32],
    dim: usize,
    ids: &[u64],
    query_rows: &[usize],
    k: usize,
) -> Result<Vec<Neighbours>, Error> {
    check_rows(rows, dim, ids)?;
    if let Some(&row) = query_rows.iter().find(|&&row| row >= ids.len()) {
        return Err(Error::RowOutOfRange {
            row,
            n_rows: ids.len(),
        });
    }
    Ok(top_k_of_rows(
        RowsView {
            dim,
            data: rows,
            ids,
        },
        query_rows,
        k,
    ))
}

/// Checks shape, values and unique ids before any work, as `add` does for an index.
fn check_rows(rows: &[f32], dim: usize, ids: &[u64]) -> Result<(), Error> {
    if dim == 0 {
        return Err(Error::InvalidDimension { dim });
    }
    if rows.len() != ids.len() * dim {
        return Err(Error::RowCount {
            values: rows.len(),
            ids: ids.len(),
            dim,
        });
    }
    if ids.len() > MAX_ROWS {
        return Err(Error::TooManyRows {
            n_rows: ids.len(),
            max: MAX_ROWS,
        });
    }
    rows.par_chunks(dim)
        .zip(ids.par_iter())
        .try_for_each(|(row, &id)| validate(row, dim, Subject::Row { id }))?;
    let mut sorted = ids.to_vec();
    sorted.par_sort_unstable();
    if let Some(pair) = sorted.windows(2).find(|pair| pair[0] == pair[1]) {
        return Err(Error::DuplicateId { id: pair[0] });
    }
    Ok(())
}

/// The build on checked rows.
pub(crate) fn build(
    rows: RowsView<'_>,
    k: usize,
    params: &KnnParams,
) -> (Vec<Neighbours>, KnnReport) {
    let n_rows = rows.n_rows();
    let k = k.min(n_rows.saturating_sub(1));
    let width = params.list_size.max(k + 2);
    let mut report = KnnReport::default();
    if n_rows <= params.exact_max_rows || width + 1 >= n_rows || k == 0 {
        report.exact = true;
        return (exact_all(rows, k), report);
    }
    let leaf_size = params.leaf_size.max(2 * (width + 1));
    let started = Instant::now();
    // The build runs in the first tree's leaf order (see `Packed::ordered`): position p is row
    // order[p], and every list holds positions until `finish` maps them back.
    let (order, first_leaves) = forest::first_partition(rows, leaf_size, params.seed);
    let packed = Packed::ordered(rows, &order);
    let ordered_ids: Vec<u64> = order.iter().map(|&row| rows.ids[row as usize]).collect();
    let mut lists = Lists::new(n_rows, width);
    forest::seed_lists(
        &packed,
        &ordered_ids,
        &mut lists,
        &first_leaves,
        params.n_trees.max(1),
        leaf_size,
        params.seed,
    );
    report.forest_seconds = started.elapsed().as_secs_f64();

    let started = Instant::now();
    let stop_updates = (params.delta * (n_rows * width) as f64) as usize;
    report.rounds = descent::descend(
        &packed,
        &ordered_ids,
        &mut lists,
        params.sample,
        params.max_rounds,
        stop_updates,
    );
    report.descent_seconds = started.elapsed().as_secs_f64();
    drop(packed);

    let started = Instant::now();
    let (mut finished, tied) = finish(rows, &order, &lists, k);
    report.exact_rows = tied.len();
    let checked = sample_rows(n_rows, params.check_rows, params.seed);
    if !checked.is_empty() {
        let mut hits = 0;
        let mut wanted = 0;
        for (&row, exact) in checked.iter().zip(top_k_of_rows(rows, &checked, k)) {
            wanted += exact.len();
            hits += exact
                .iter()
                .filter(|n| finished[row].iter().any(|f| f.id == n.id))
                .count();
            finished[row] = exact;
        }
        report.estimated_recall = Some(hits as f64 / wanted.max(1) as f64);
    }
    let poor = report
        .estimated_recall
        .is_some_and(|recall| recall < params.min_recall);
    if poor || tied.len() * 4 > n_rows {
        report.exact = true;
        finished = exact_all(rows, k);
    } else if !tied.is_empty() {
        for (row, list) in tied.iter().zip(top_k_of_rows(rows, &tied, k)) {
            finished[*row] = list;
        }
    }
    report.finish_seconds = started.elapsed().as_secs_f64();
    (finished, report)
}

fn exact_all(rows: RowsView<'_>, k: usize) -> Vec<Neighbours> {
    let all: Vec<usize> = (0..rows.n_rows()).collect();
    top_k_of_rows(rows, &all, k)
}

/// How far below the k-th build-time score a candidate is still re-scored. Build-time scores
/// come from f16 rows through gemm, within about 1e-4 of `dot` for unit rows; the window is
/// ten times that.
const RESCORE_WINDOW: f32 = 1e-3;

/// Re-scores the kept candidates that could be among the k best with `dot`, orders them and
/// keeps k. Also returns the rows
/// whose answer the lists cannot settle: fewer than k candidates, or a tie at the k-th score
/// that reaches the last kept candidate (more tied rows may exist beyond the list).
fn finish(
    rows: RowsView<'_>,
    order: &[u32],
    lists: &Lists,
    k: usize,
) -> (Vec<Neighbours>, Vec<usize>) {
    let width = lists.width;
    let mut finished: Vec<(Neighbours, bool)> = vec![(Vec::new(), false); rows.n_rows()];
    let by_position: Vec<(Neighbours, bool)> = (0..rows.n_rows())
        .into_par_iter()
        .map(|position| {
            let kept: Vec<&lists::Entry> = filled(lists.of(position)).collect();
            if kept.len() < k {
                return (Vec::new(), true);
            }
            // Only candidates whose build-time score is near the k-th can end in the top k.
            let floor = kept[k - 1].score - RESCORE_WINDOW;
            let near = kept.iter().take_while(|entry| entry.score >= floor).count();
            let candidates: Vec<Candidate> = kept[..near]
                .iter()
                .map(|entry| {
                    let row = order[entry.row as usize];
                    Candidate {
                        score: 0.0,
                        id: rows.ids[row as usize],
                        row,
                    }
                })
                .collect();
            let query = rows.row(order[position] as usize);
            let mut neighbours = rows.rescore(candidates, query, width);
            let unsettled = near == width && neighbours[k - 1].score == neighbours[width - 1].score;
            neighbours.truncate(k);
            (neighbours, unsettled)
        })
        .collect();
    for (&row, result) in order.iter().zip(by_position) {
        finished[row as usize] = result;
    }
    let tied = finished
        .iter()
        .enumerate()
        .filter(|(_, (_, unsettled))| *unsettled)
        .map(|(row, _)| row)
        .collect();
    (finished.into_iter().map(|(list, _)| list).collect(), tied)
}
