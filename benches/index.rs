//! Index benches: Exact all-pairs, the k-nearest graph builder, HNSW build + all-pairs, and
//! single-query latency on the
//! synthetic clustered vectors of the hnswlib anchor (1,000 clusters, noise 0.6, dim 384), with
//! `Throughput` in rows so reports read as rows/s.
//!
//! Before the criterion groups, `cargo bench --bench index` runs the 100,000-row recall check
//! once: HNSW recall@10 against Exact must be at least 0.99 (Exact on a 2,000-row sample, as the
//! anchor script does). `CLOSEST_BENCH_RECALL_ROWS` changes the size; 0 skips it. The check is
//! skipped when the bench binary runs as a test (`cargo test --benches`).

use std::hint::black_box;
use std::time::Duration;

use closest_index::bench::{run, BenchOptions};
use closest_index::{
    knn_graph, synthetic_clustered, ConcreteKind, Exact, Hnsw, HnswParams, KnnParams, VectorIndex,
};
use criterion::{BenchmarkId, Criterion, Throughput};

const DIM: usize = 384;
const SIZES: [usize; 2] = [2_000, 5_000];

fn rows_of(data: &[f32]) -> Vec<(u64, &[f32])> {
    data.chunks_exact(DIM)
        .enumerate()
        .map(|(row, vector)| (row as u64, vector))
        .collect()
}

fn exact_all_pairs(c: &mut Criterion) {
    let mut group = c.benchmark_group("exact_all_pairs");
    group.sample_size(10);
    for n in SIZES {
        let data = synthetic_clustered(n, DIM, 1_000, 0.6, 0);
        let mut index = Exact::new(DIM).expect("dimension");
        index.add(&rows_of(&data)).expect("rows");
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| black_box(index.all_pairs(10).expect("all_pairs")))
        });
    }
    group.finish();
}

/// The graph builder on the same rows, forced past its exact fallback for small corpora so that
/// the forest and NN-descent are what is timed.
fn graph_all_pairs(c: &mut Criterion) {
    let mut group = c.benchmark_group("graph_all_pairs");
    group.sample_size(10);
    let params = KnnParams {
        exact_max_rows: 0,
        ..KnnParams::default()
    };
    for n in SIZES {
        let data = synthetic_clustered(n, DIM, 1_000, 0.6, 0);
        let ids: Vec<u64> = (0..n as u64).collect();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| black_box(knn_graph(&data, DIM, &ids, 10, &params).expect("graph")))
        });
    }
    group.finish();
}

fn hnsw_build_all_pairs(c: &mut Criterion) {
    let mut group = c.benchmark_group("hnsw_build_all_pairs");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(30));
    for n in SIZES {
        let data = synthetic_clustered(n, DIM, 1_000, 0.6, 0);
        let rows = rows_of(&data);
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(BenchmarkId::from_parameter(n), |b| {
            b.iter(|| {
                let mut index = Hnsw::new(DIM, HnswParams::default()).expect("params");
                index.add(&rows).expect("rows");
                black_box(index.all_pairs(10).expect("all_pairs"))
            })
        });
    }
    group.finish();
}

fn single_query(c: &mut Criterion) {
    let n = 20_000;
    let data = synthetic_clustered(n, DIM, 1_000, 0.6, 0);
    let rows = rows_of(&data);
    let mut exact = Exact::new(DIM).expect("dimension");
    exact.add(&rows).expect("rows");
    let mut hnsw = Hnsw::new(DIM, HnswParams::default()).expect("params");
    hnsw.add(&rows).expect("rows");
    let mut group = c.benchmark_group("search_20k");
    group.throughput(Throughput::Elements(1));
    let indexes: [(&str, &dyn VectorIndex); 2] = [("exact", &exact), ("hnsw", &hnsw)];
    for (name, index) in indexes {
        let mut next = 0;
        group.bench_function(name, |b| {
            b.iter(|| {
                next = (next + 7_919) % n;
                black_box(index.search(rows[next].1, 10).expect("search"))
            })
        });
    }
    group.finish();
}

/// The 100,000-vector recall check, run once with its figures on stderr.
fn recall_check() {
    let n: usize = std::env::var("CLOSEST_BENCH_RECALL_ROWS")
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(100_000);
    if n == 0 {
        return;
    }
    let data = synthetic_clustered(n, DIM, 1_000, 0.6, 0);
    let report = run(&data, DIM, &[ConcreteKind::Hnsw], &BenchOptions::default()).expect("bench");
    eprintln!(
        "recall check: {}",
        serde_json::to_string(&report).expect("report serialises")
    );
    let recall = report.recall_at_k.unwrap_or(0.0);
    assert!(
        recall >= 0.99,
        "HNSW recall@10 at {n} rows is {recall}, below 0.99"
    );
}

fn main() {
    if std::env::args().any(|arg| arg == "--bench") {
        recall_check();
    }
    let mut criterion = Criterion::default().configure_from_args();
    exact_all_pairs(&mut criterion);
    graph_all_pairs(&mut criterion);
    hnsw_build_all_pairs(&mut criterion);
    single_query(&mut criterion);
    criterion.final_summary();
}
