//! `closest bench embed|index|update`: the measurements BENCHMARKS.md quotes. Each prints a text
//! summary, or with `--format json` one JSON object, to stdout.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use std::process::ExitCode;

use anyhow::{bail, Result};
use closest_embed::dtype_name;
use closest_engine::{Engine, Model};
use closest_index::{ConcreteKind, HnswParams};
use serde_json::json;

use crate::args::{BenchEmbedArgs, BenchIndexArgs, FolderOptions, Format, ModelOptions};
use crate::settings::folder_settings;
use crate::ui::Ui;

/// Peak resident memory of this process so far (Linux `VmHWM`), in bytes.
pub(crate) fn peak_rss_bytes() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find(|line| line.starts_with("VmHWM:"))
                .and_then(|line| line.split_whitespace().nth(1))
                .and_then(|kb| kb.parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// Every `.md` file under `dir`, sorted by path, as the Python anchor globs them.
pub(crate) fn markdown_files(dir: &Path) -> Result<Vec<PathBuf>> {
    if !dir.is_dir() {
        bail!("notes folder `{}` does not exist", dir.display());
    }
    let mut files = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(folder) = stack.pop() {
        for entry in fs_err::read_dir(&folder)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|ext| ext == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    Ok(files)
}

pub(crate) fn embed(args: &BenchEmbedArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let long = args.long;
    let files = markdown_files(&args.notes)?;
    let mut files: Vec<PathBuf> = files.into_iter().step_by(args.stride.max(1)).collect();
    if let Some(limit) = args.limit {
        files.truncate(limit);
    }
    // The anchor reads each file whole (invalid UTF-8 replaced); so do we, for the same input.
    let texts: Vec<String> = files
        .iter()
        .map(|path| fs_err::read(path).map(|bytes| String::from_utf8_lossy(&bytes).into_owned()))
        .collect::<std::io::Result<_>>()?;
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    let model = Model::resolve(&model.clone().resolve()?, ui.shows_progress(), ui)?;
    let embedder = model.embedder(ui)?;
    let options = model.options(long);
    ui.say(format!(
        "{} notes from `{}`; warming up",
        texts.len(),
        args.notes.display()
    ));
    let (_, stats) = embedder.embed(&refs, None, options)?;
    let mut best = f64::INFINITY;
    for _ in 0..args.repeat.max(1) {
        let started = Instant::now();
        embedder.embed(&refs, None, options)?;
        best = best.min(started.elapsed().as_secs_f64());
    }
    let report = json!({
        "notes": stats.texts,
        "sequences": stats.sequences,
        "tokens": stats.tokens,
        "seconds": best,
        "notes_per_s": stats.texts as f64 / best,
        "tokens_per_s": stats.tokens as f64 / best,
        "peak_rss_bytes": peak_rss_bytes(),
        "device": format!("{:?}", embedder.device()),
        "dtype": dtype_name(embedder.dtype()),
        "threads": rayon::current_num_threads(),
        "batch_tokens": options.limits.max_tokens,
        "long": long.to_string(),
    });
    print_report(ui, &report, args.format, |out| {
        writeln!(
            out,
            "{} notes, {} tokens (after truncation, special tokens included)",
            stats.texts, stats.tokens
        )?;
        writeln!(
            out,
            "{:.2} s: {:.1} notes/s, {:.0} tokens/s",
            best,
            stats.texts as f64 / best,
            stats.tokens as f64 / best
        )?;
        writeln!(
            out,
            "peak memory {} MiB, {} threads, {}",
            peak_rss_bytes() >> 20,
            rayon::current_num_threads(),
            dtype_name(embedder.dtype())
        )
    })
}

pub(crate) fn index(args: &BenchIndexArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let (rows, dim, source) = if let Some(n) = args.synthetic {
        (
            closest_index::synthetic_clustered(n, args.dim, 1000.min(n.max(1)), 0.6, 7),
            args.dim,
            format!("{n} synthetic clustered vectors"),
        )
    } else if !args.notes.is_empty() {
        let mut rows = Vec::new();
        let mut dim = 0;
        for dir in &args.notes {
            let settings = folder_settings(Some(dir), &FolderOptions::default(), model, ui)?;
            let engine = Engine::open(settings, ui.shows_progress(), ui)?;
            for (_, vector) in engine.stored_vectors()? {
                dim = vector.len();
                rows.extend(vector);
            }
        }
        let n = rows.len() / dim.max(1);
        (rows, dim, format!("{n} note vectors"))
    } else {
        bail!("give `--notes DIR` (after `closest update DIR`) or `--synthetic N`");
    };
    let options = closest_index::bench::BenchOptions {
        hnsw: HnswParams {
            m: args.m,
            ef_construction: args.ef_construction,
            ef_search: args.ef_search,
            ..HnswParams::default()
        },
        ..closest_index::bench::BenchOptions::default()
    };
    ui.say(format!("benchmarking on {source}"));
    let mut report = closest_index::bench::run(
        &rows,
        dim,
        &[ConcreteKind::Exact, ConcreteKind::Graph, ConcreteKind::Hnsw],
        &options,
    )?;
    let peak = peak_rss_bytes();
    report.peak_memory_bytes = Some(peak);
    let mut value = serde_json::to_value(&report)?;
    // The same figure under the name the other benches use.
    value["peak_rss_bytes"] = json!(peak);
    value["source"] = json!(source);
    print_report(ui, &value, args.format, |out| {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&value).unwrap_or_default()
        )
    })
}

pub(crate) fn print_report(
    ui: &Ui,
    value: &serde_json::Value,
    format: Format,
    text: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> Result<ExitCode> {
    let mut out = ui.out();
    match format {
        Format::Json => writeln!(out, "{value}")?,
        Format::Text => text(&mut out)?,
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
