//! The k-nearest graph of every row, by each method, on the same rows: the curve in
//! BENCHMARKS.md ("k-nearest graph") and the constants of `choose`.
//!
//! Usage: `cargo run --release -p closest-index --example knn_bench -- (--synthetic N | --npy FILE)
//! [--limit ROWS] [--methods graph,exact,hnsw] [--write-npy FILE] [--sample 2000] [--k 10] [--threads T]
//! [--list-size L] [--max-list-size L] [--wide-below R] [--trees T] [--max-trees T] [--leaf S] [--join-sample R]
//! [--rounds N] [--delta D] [--seed S]`
//!
//! `--synthetic N` is `synthetic_clustered(N, 384, 1000, 0.6, 0)`, the anchor recipe;
//! `--write-npy` saves the rows as float32 .npy so `knn_anchor.py --npy` runs on the very same
//! vectors. Recall@k is measured on `--sample` rows against `exact_neighbours_of_rows`. Exact
//! all-pairs runs in full up to 50,000 rows and is extrapolated from the sample's time above
//! (labelled `estimated`). Peak memory is VmHWM, reset before each method through
//! `/proc/self/clear_refs`, so it is each method's own peak (with the rows, which every method
//! needs). One JSON object per method on stdout.

use std::io::{Read, Write};
use std::time::Instant;

use closest_index::{
    exact_neighbours_of_rows, knn_graph_report, recall_at_k, sample_rows, synthetic_clustered,
    Hnsw, HnswParams, KnnParams, Neighbours, VectorIndex,
};
use serde_json::json;

type Failure = Box<dyn std::error::Error>;

fn main() -> Result<(), Failure> {
    let mut args = std::env::args().skip(1);
    let (mut synthetic, mut npy, mut write_npy, mut limit) = (None, None, None, None);
    let mut methods = "graph,exact".to_owned();
    let (mut sample, mut k, mut threads) = (2_000usize, 10usize, 0usize);
    let mut params = KnnParams {
        exact_max_rows: 0,
        ..KnnParams::default()
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "--synthetic" => synthetic = Some(value()?.parse::<usize>()?),
            "--npy" => npy = Some(value()?),
            "--write-npy" => write_npy = Some(value()?),
            "--limit" => limit = Some(value()?.parse::<usize>()?),
            "--methods" => methods = value()?,
            "--sample" => sample = value()?.parse()?,
            "--k" => k = value()?.parse()?,
            "--threads" => threads = value()?.parse()?,
            "--list-size" => params.list_size = value()?.parse()?,
            "--max-list-size" => params.max_list_size = value()?.parse()?,
            "--wide-below" => params.wide_below = value()?.parse()?,
            "--trees" => params.n_trees = value()?.parse()?,
            "--max-trees" => params.max_trees = value()?.parse()?,
            "--leaf" => params.leaf_size = value()?.parse()?,
            "--join-sample" => params.sample = value()?.parse()?,
            "--rounds" => params.max_rounds = value()?.parse()?,
            "--delta" => params.delta = value()?.parse()?,
            "--seed" => params.seed = value()?.parse()?,
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .build_global()?;
    let started = Instant::now();
    let (mut rows, dim) = match (synthetic, npy) {
        (Some(n), None) => (synthetic_clustered(n, 384, 1_000, 0.6, 0), 384),
        (None, Some(path)) => read_npy(&path)?,
        _ => return Err("pass exactly one of --synthetic N and --npy FILE".into()),
    };
    if let Some(limit) = limit {
        rows.truncate(limit * dim);
    }
    let n_rows = rows.len() / dim;
    eprintln!(
        "{n_rows} rows of {dim} in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    if let Some(path) = write_npy {
        return write_npy_file(&path, &rows, dim);
    }
    let ids: Vec<u64> = (0..n_rows as u64).collect();
    let sampled = sample_rows(n_rows, sample, 1);
    reset_peak();
    let started = Instant::now();
    let truth = exact_neighbours_of_rows(&rows, dim, &ids, &sampled, k)?;
    let sample_seconds = started.elapsed().as_secs_f64();
    let truth: Vec<(u64, Neighbours)> = sampled.iter().map(|&r| r as u64).zip(truth).collect();
    let common = json!({"n_rows": n_rows, "dim": dim, "k": k, "threads": rayon::current_num_threads(),
        "recall_rows": sampled.len()});
    for method in methods.split(',') {
        reset_peak();
        let cpu_started = cpu_seconds();
        let started = Instant::now();
        let (pairs, extra) = match method {
            "graph" => {
                let (lists, report) = knn_graph_report(&rows, dim, &ids, k, &params)?;
                (
                    ids.iter().copied().zip(lists).collect::<Vec<_>>(),
                    json!({"params": params, "report": report}),
                )
            }
            "exact" if n_rows > 50_000 => {
                let estimated = sample_seconds / sampled.len() as f64 * n_rows as f64;
                let line = json!({"method": "exact", "estimated_seconds": estimated,
                    "from_sample_seconds": sample_seconds, "common": common});
                writeln!(std::io::stdout().lock(), "{line}")?;
                continue;
            }
            "exact" => {
                let all: Vec<usize> = (0..n_rows).collect();
                let lists = exact_neighbours_of_rows(&rows, dim, &ids, &all, k)?;
                (ids.iter().copied().zip(lists).collect(), json!({}))
            }
            "hnsw" => {
                let mut index = Hnsw::new(dim, HnswParams::default())?;
                let batch: Vec<(u64, &[f32])> =
                    ids.iter().copied().zip(rows.chunks_exact(dim)).collect();
                index.add(&batch)?;
                let built = started.elapsed().as_secs_f64();
                (
                    index.all_pairs(k)?,
                    json!({"build_seconds": built, "params": HnswParams::default()}),
                )
            }
            other => return Err(format!("unknown method {other}").into()),
        };
        let seconds = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds()
            .zip(cpu_started)
            .map(|(end, start)| end - start);
        let recall = recall_at_k(&truth, &pairs, k);
        let line = json!({"method": method, "seconds": seconds, "recall_at_k": recall,
            "cpu_seconds": cpu, "peak_rss_mib": peak_rss_mib(), "common": common, "extra": extra});
        writeln!(std::io::stdout().lock(), "{line}")?;
        std::io::stdout().flush()?;
    }
    Ok(())
}

/// User plus system CPU seconds of the process (all threads), from `/proc/self/stat`: on a
/// shared machine, wall time alone hides how long the method waited for a core.
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace().skip(11);
    let user: f64 = fields.next()?.parse().ok()?;
    let system: f64 = fields.next()?.parse().ok()?;
    Some((user + system) / 100.0)
}

/// Resets VmHWM to the current resident size (Linux 4.0+); harmless where unsupported.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Reads a 2-d little-endian float32 C-order .npy (what numpy's `np.save` writes), and
/// normalises each row (the anchor script normalises too).
fn read_npy(path: &str) -> Result<(Vec<f32>, usize), Failure> {
    let mut bytes = Vec::new();
    std::fs::File::open(path)?.read_to_end(&mut bytes)?;
    if bytes.len() < 10 || &bytes[..6] != b"\x93NUMPY" {
        return Err(format!("{path} is not a .npy file").into());
    }
    let (header_len, start) = if bytes[6] == 1 {
        (u16::from_le_bytes([bytes[8], bytes[9]]) as usize, 10)
    } else {
        (
            u32::from_le_bytes([bytes[8], bytes[9], bytes[10], bytes[11]]) as usize,
            12,
        )
    };
    let header = std::str::from_utf8(&bytes[start..start + header_len])?;
    if !header.contains("'<f4'") || header.contains("'fortran_order': True") {
        return Err(format!("{path}: need little-endian float32 in C order, got {header}").into());
    }
    let shape = header
        .split("'shape': (")
        .nth(1)
        .and_then(|rest| rest.split(')').next())
        .ok_or("no shape in the .npy header")?;
    let dims: Vec<usize> = shape
        .split(',')
        .filter(|part| !part.trim().is_empty())
        .map(|part| part.trim().parse())
        .collect::<Result<_, _>>()?;
    let [_, dim] = dims[..] else {
        return Err(format!("{path}: need a 2-d array, got shape {shape}").into());
    };
    let mut rows: Vec<f32> = bytes[start + header_len..]
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    for row in rows.chunks_exact_mut(dim) {
        let norm = row
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            .sqrt();
        row.iter_mut()
            .for_each(|v| *v = (f64::from(*v) / norm) as f32);
    }
    Ok((rows, dim))
}

fn write_npy_file(path: &str, rows: &[f32], dim: usize) -> Result<(), Failure> {
    let mut header = format!(
        "{{'descr': '<f4', 'fortran_order': False, 'shape': ({}, {dim}), }}",
        rows.len() / dim
    );
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;
    for value in rows {
        out.write_all(&value.to_le_bytes())?;
    }
    out.flush()?;
    Ok(())
}
