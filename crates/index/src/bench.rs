//! Index measurements for `closest bench index`, the criterion bench and the crossover example:
//! build time, all-pairs time, single-query latency and the recall@k of HNSW and the k-nearest
//! graph against Exact, on whatever rows the caller passes (real embeddings or
//! `synthetic_clustered`).
//!
//! Exact all-pairs grows as n², so above `exact_all_pairs_max_rows` it is timed on a sample of
//! rows and extrapolated, and recall is measured on that sample: the same approach as the
//! hnswlib anchor script. Peak memory is process-wide, so the binary measures and fills it in.

use std::time::Instant;

use serde::Serialize;

use crate::recall::sample_rows;
use crate::{
    recall_at_k, ConcreteKind, Error, Exact, HnswParams, Index, KnnGraph, KnnParams, Neighbours,
    VectorIndex,
};

/// What to measure and how hard.
#[derive(Debug, Clone, Serialize)]
pub struct BenchOptions {
    /// Neighbours per row (10 in `closest update`).
    pub k: usize,
    pub hnsw: HnswParams,
    pub graph: KnnParams,
    /// Single queries timed for the latency median.
    pub n_queries: usize,
    /// Largest corpus on which Exact all-pairs runs in full; above it, a sample is timed.
    pub exact_all_pairs_max_rows: usize,
    /// Rows in the sample used above that size, for time and recall.
    pub recall_sample: usize,
    /// Chooses the query and sample rows.
    pub seed: u64,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            k: 10,
            hnsw: HnswParams::default(),
            graph: KnnParams::default(),
            n_queries: 200,
            exact_all_pairs_max_rows: 50_000,
            recall_sample: 2_000,
            seed: 1,
        }
    }
}

/// Figures for one index kind.
#[derive(Debug, Clone, Serialize)]
pub struct KindReport {
    pub kind: ConcreteKind,
    /// Time to add every row (for HNSW, to build the graph).
    pub build_seconds: f64,
    /// CPU time of the build, all threads (Linux only): on a shared machine it shows how much
    /// of a slow wall time was waiting for a core.
    pub build_cpu_seconds: Option<f64>,
    /// Time for `all_pairs(k)`, when it ran in full.
    pub all_pairs_seconds: Option<f64>,
    /// Exact only: all-pairs time extrapolated from the sample, when the full run was skipped.
    pub all_pairs_estimated_seconds: Option<f64>,
    /// CPU time of the all-pairs run or of the sample (Linux only).
    pub all_pairs_cpu_seconds: Option<f64>,
    /// Median of single `search(row, k)` calls.
    pub query_median_seconds: f64,
    pub queries: usize,
    pub hnsw: Option<HnswParams>,
    /// Recall@k against Exact (all rows, or the sample), for the approximate kinds.
    pub recall_at_k: Option<f64>,
}

/// The whole measurement, serialisable for `--format json`.
#[derive(Debug, Clone, Serialize)]
pub struct BenchReport {
    pub n_rows: usize,
    pub dim: usize,
    pub k: usize,
    pub threads: usize,
    pub kinds: Vec<KindReport>,
    /// HNSW recall@k against Exact, when HNSW was measured (each kind's is in `kinds`).
    pub recall_at_k: Option<f64>,
    /// Rows the recall was measured on (all rows, or the sample).
    pub recall_rows: usize,
    /// Peak resident memory of the process, filled in by the caller.
    pub peak_memory_bytes: Option<u64>,
}

/// Measures each kind in `kinds` on `rows` (row-major, unit length, `dim` wide; ids are row
/// numbers).
pub fn run(
    rows: &[f32],
    dim: usize,
    kinds: &[ConcreteKind],
    options: &BenchOptions,
) -> Result<BenchReport, Error> {
    if dim == 0 {
        return Err(Error::InvalidDimension { dim });
    }
    let n_rows = rows.len() / dim;
    let batch: Vec<(u64, &[f32])> = rows
        .chunks_exact(dim)
        .enumerate()
        .map(|(row, vector)| (row as u64, vector))
        .collect();
    let query_rows = sample_rows(n_rows, options.n_queries, options.seed.wrapping_add(1));
    let full_exact = n_rows <= options.exact_all_pairs_max_rows;
    let sample_ids: Vec<u64> = sample_rows(n_rows, options.recall_sample, options.seed)
        .into_iter()
        .map(|row| row as u64)
        .collect();

    let mut reports = Vec::new();
    let mut reference: Option<Vec<(u64, Neighbours)>> = None;
    let mut approx: Vec<(usize, Vec<(u64, Neighbours)>)> = Vec::new();
    for &kind in kinds {
        let started = Instant::now();
        let cpu_started = process_cpu_seconds();
        let mut index = match kind {
            // The graph takes the caller's parameters; `new_index` builds it with the defaults.
            ConcreteKind::Graph => Index::Graph(Box::new(KnnGraph::new(dim, options.graph)?)),
            _ => crate::new_index(kind, dim, options.hnsw)?,
        };
        index.add(&batch)?;
        let build_seconds = started.elapsed().as_secs_f64();
        let build_cpu_seconds = cpu_since(cpu_started);
        let cpu_started = process_cpu_seconds();

        let mut all_pairs_seconds = None;
        let mut all_pairs_estimated_seconds = None;
        match &index {
            crate::Index::Exact(exact) if !full_exact => {
                let started = Instant::now();
                let sampled = exact.neighbours_of_ids(&sample_ids, options.k)?;
                let per_row = started.elapsed().as_secs_f64() / sample_ids.len().max(1) as f64;
                all_pairs_estimated_seconds = Some(per_row * n_rows as f64);
                reference = Some(sampled);
            }
            _ => {
                let started = Instant::now();
                let pairs = index.all_pairs(options.k)?;
                all_pairs_seconds = Some(started.elapsed().as_secs_f64());
                match kind {
                    ConcreteKind::Exact => reference = Some(pairs),
                    ConcreteKind::Graph | ConcreteKind::Hnsw => approx.push((reports.len(), pairs)),
                }
            }
        }
        let all_pairs_cpu_seconds = cpu_since(cpu_started);
        let query_median_seconds = median_query_seconds(&index, &batch, &query_rows, options.k)?;
        reports.push(KindReport {
            kind,
            build_seconds,
            build_cpu_seconds,
            all_pairs_seconds,
            all_pairs_estimated_seconds,
            all_pairs_cpu_seconds,
            query_median_seconds,
            queries: query_rows.len(),
            hnsw: (kind == ConcreteKind::Hnsw).then_some(options.hnsw),
            recall_at_k: None,
        });
    }

    let mut recall = None;
    let mut recall_rows = 0;
    if !approx.is_empty() {
        let reference = match reference {
            Some(reference) => reference,
            None => {
                // Only approximate kinds were asked for: build an untimed Exact reference.
                let mut exact = Exact::new(dim)?;
                exact.add(&batch)?;
                if full_exact {
                    exact.all_pairs(options.k)?
                } else {
                    exact.neighbours_of_ids(&sample_ids, options.k)?
                }
            }
        };
        recall_rows = reference.len();
        for (position, pairs) in approx {
            let value = recall_at_k(&reference, &pairs, options.k);
            reports[position].recall_at_k = Some(value);
            if reports[position].kind == ConcreteKind::Hnsw {
                recall = Some(value);
            }
        }
    }
    Ok(BenchReport {
        n_rows,
        dim,
        k: options.k,
        threads: rayon::current_num_threads(),
        kinds: reports,
        recall_at_k: recall,
        recall_rows,
        peak_memory_bytes: None,
    })
}

fn median_query_seconds(
    index: &dyn VectorIndex,
    batch: &[(u64, &[f32])],
    query_rows: &[usize],
    k: usize,
) -> Result<f64, Error> {
    let mut times = Vec::with_capacity(query_rows.len());
    for &row in query_rows {
        let started = Instant::now();
        let found = index.search(batch[row].1, k)?;
        times.push(started.elapsed().as_secs_f64());
        std::hint::black_box(found);
    }
    if times.is_empty() {
        return Ok(0.0);
    }
    times.sort_unstable_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// User plus system CPU seconds of the whole process, from `/proc/self/stat` (Linux reports
/// them in units of 1/100 s whatever the kernel's tick rate); `None` elsewhere.
fn process_cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // The command name is parenthesised and may contain spaces; count fields after it.
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

fn cpu_since(started: Option<f64>) -> Option<f64> {
    Some(process_cpu_seconds()? - started?)
}
