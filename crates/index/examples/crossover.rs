//! Measures Exact all-pairs against HNSW build + all-pairs at several corpus sizes, to place
//! `AUTO_CROSSOVER_ROWS`, and doubles as the 100,000-row recall check.
//!
//! Usage: `cargo run --release -p closest-index --example crossover -- [--hnsw-only | --exact-only]
//! [--m M] [--ef-construction EF] [--ef EF] N...`
//! (default sizes 5000 10000 20000 40000). Data is the anchor recipe: 1,000 Gaussian clusters,
//! noise 0.6, dimension 384. Prints one JSON `BenchReport` per size on stdout; its CPU-second
//! fields tell how much a wall time on a shared machine was inflated by waiting for a core.

use std::io::Write;

use closest_index::bench::{run, BenchOptions};
use closest_index::{synthetic_clustered, ConcreteKind};

const DIM: usize = 384;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut kinds = vec![ConcreteKind::Exact, ConcreteKind::Hnsw];
    let mut sizes = Vec::new();
    let mut options = BenchOptions {
        n_queries: 50,
        ..BenchOptions::default()
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || -> Result<usize, Box<dyn std::error::Error>> {
            Ok(args.next().ok_or("missing value")?.parse()?)
        };
        match arg.as_str() {
            "--hnsw-only" => kinds = vec![ConcreteKind::Hnsw],
            "--exact-only" => kinds = vec![ConcreteKind::Exact],
            "--m" => options.hnsw.m = value()?,
            "--ef-construction" => options.hnsw.ef_construction = value()?,
            "--ef" => options.hnsw.ef_search = value()?,
            size => sizes.push(size.parse::<usize>()?),
        }
    }
    if sizes.is_empty() {
        sizes = vec![5_000, 10_000, 20_000, 40_000];
    }
    let stdout = std::io::stdout();
    for n in sizes {
        let rows = synthetic_clustered(n, DIM, 1_000, 0.6, 0);
        let report = run(&rows, DIM, &kinds, &options)?;
        let mut out = stdout.lock();
        serde_json::to_writer(&mut out, &report)?;
        writeln!(out)?;
    }
    Ok(())
}
