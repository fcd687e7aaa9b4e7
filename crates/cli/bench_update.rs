//! `closest bench update`: what `update` costs on a folder as people use it. A cold run, then
//! the runs that follow everyday edits: nothing changed, `--check`, notes added, notes edited
//! and deleted. Each run is a child `closest update` process, timed from outside as a person
//! or a commit hook would see it, with the parts it reports (scan, embed, rank, write).
//!
//! A folder too large to embed here (a million notes take hours) can be filled with synthetic
//! vectors (`--synthetic-vectors`: clustered unit vectors drawn from each text's hash) before
//! the cold run; the timed runs are the real code path, and embed the notes they add with the
//! real model.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use anyhow::{bail, Context, Result};
use closest_engine::Engine;
use serde_json::{json, Value};

use crate::args::{BenchUpdateArgs, FolderOptions, ModelOptions};
use crate::bench::{markdown_files, print_report};
use crate::settings::folder_settings;
use crate::ui::Ui;

pub(crate) fn update(args: &BenchUpdateArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let scratch = tempfile::tempdir().context("cannot create a scratch folder")?;
    let root = if args.in_place {
        let [folder] = args.notes.as_slice() else {
            bail!("`--in-place` takes exactly one `--notes` folder, which the benchmark changes");
        };
        folder.clone()
    } else {
        let root = scratch.path().join("notes");
        for (source_idx, source) in args.notes.iter().enumerate() {
            for path in markdown_files(source)? {
                let relative = path.strip_prefix(source).unwrap_or(&path);
                copy(&path, &root.join(source_idx.to_string()).join(relative))?;
            }
        }
        root
    };
    // Fixed choices of notes, so runs are comparable: the last `add` notes (sorted by path)
    // are held back, and every n-th of the rest is edited or deleted.
    let files = markdown_files(&root)?;
    if files.len() < args.add + args.edit + args.delete + 2 {
        bail!("the folder has too few notes for --add, --edit and --delete");
    }
    let (kept, added) = files.split_at(files.len() - args.add);
    let holding = scratch.path().join("held-back");
    let held: Vec<(PathBuf, PathBuf)> = added
        .iter()
        .enumerate()
        .map(|(index, path)| (holding.join(index.to_string()), path.clone()))
        .collect();
    for (hold, path) in &held {
        move_file(path, hold)?;
    }
    let step = (kept.len() / (args.edit + args.delete + 1)).max(1);
    let chosen: Vec<&PathBuf> = kept
        .iter()
        .step_by(step)
        .take(args.edit + args.delete)
        .collect();
    let (edited, deleted) = chosen.split_at(args.edit.min(chosen.len()));

    if args.synthetic_vectors {
        let started = Instant::now();
        let settings = folder_settings(Some(&root), &FolderOptions::default(), model, ui)?;
        let engine = Engine::open(settings, ui.shows_progress(), ui)?;
        let dim = engine.model().dim();
        let filled = engine.prefill_vectors(&|text: &str| synthetic_vector(text, dim), ui)?;
        ui.say(format!(
            "filled {filled} synthetic vectors in {:.1} s",
            started.elapsed().as_secs_f64()
        ));
    }

    let mut runs: Vec<Value> = Vec::new();
    let mut run = |name: &str, extra: &[&str]| -> Result<Value> {
        let value = child_update(&root, model, extra)?;
        ui.say(format!(
            "{name:>14}: {:>8.3} s  read {:>7}  embedded {:>7}  written {:>7}  lists {:>7}  ({})",
            value["wall_seconds"].as_f64().unwrap_or(0.0),
            value["read"],
            value["embedded"],
            value["written"],
            value["lists_updated"],
            value["ranking"].as_str().unwrap_or("")
        ));
        let mut value = value;
        value["run"] = json!(name);
        runs.push(value.clone());
        Ok(value)
    };
    run("cold", &[])?;
    run("unchanged", &[])?;
    run("check", &["--check"])?;
    for (hold, path) in &held {
        move_file(hold, path)?;
    }
    run("added", &[])?;
    for path in edited {
        let text = fs_err::read_to_string(path)?;
        fs_err::write(
            path,
            text.replacen('\n', "\nEdited: one more line about this topic.\n", 1),
        )?;
    }
    for path in deleted {
        fs_err::remove_file(path)?;
    }
    run("edited+deleted", &[])?;
    run("check again", &["--check"])?;
    let report = json!({
        "notes": files.len(),
        "added": args.add,
        "edited": edited.len(),
        "deleted": deleted.len(),
        "synthetic_vectors": args.synthetic_vectors,
        "runs": runs,
        "peak_rss_bytes": children_peak_rss_bytes(),
    });
    print_report(ui, &report, args.format, |out| {
        writeln!(
            out,
            "{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        )
    })
}

/// Runs `closest update ROOT --format json` as a child with the same model flags; its report
/// plus the wall time seen from here.
fn child_update(root: &Path, model: &ModelOptions, extra: &[&str]) -> Result<Value> {
    let exe = std::env::current_exe().context("cannot find the running binary")?;
    let mut command = Command::new(exe);
    command
        .arg("update")
        .arg(root)
        .args(["--format", "json", "-q", "--no-progress"])
        .args(extra)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit());
    if let Some(name) = &model.model {
        command.args(["--model", name]);
    }
    if let Some(dtype) = model.dtype {
        command.args(["--dtype", closest_embed::dtype_name(dtype)]);
    }
    if let Some(tokens) = model.batch_tokens {
        command.args(["--batch-tokens", &tokens.to_string()]);
    }
    let started = Instant::now();
    let output = command.output().context("cannot run closest update")?;
    let wall = started.elapsed().as_secs_f64();
    if !matches!(output.status.code(), Some(0 | 1)) {
        bail!("closest update failed ({:?})", output.status.code());
    }
    let mut value: Value =
        serde_json::from_slice(&output.stdout).context("closest update printed no report")?;
    value["wall_seconds"] = json!(wall);
    if let Some(object) = value.as_object_mut() {
        object.remove("stale");
    }
    Ok(value)
}

/// A unit vector for a text, clustered like real notes: 1,000 fixed centres, the text's hash
/// picks one and seeds the noise (noise 0.6, as `closest bench index --synthetic`).
fn synthetic_vector(text: &str, dim: usize) -> Vec<f32> {
    let hash = closest_engine::text_hash(text);
    let seed = u64::from_le_bytes(hash[..8].try_into().unwrap_or([0; 8]));
    let centre = seed % 1000;
    let mut centre_rng = SplitMix(0x9e37_79b9 ^ centre);
    let mut noise_rng = SplitMix(seed);
    (0..dim)
        .map(|_| centre_rng.normal() + 0.6 * noise_rng.normal())
        .collect()
}

/// A small deterministic generator (SplitMix64) with Box-Muller normals.
struct SplitMix(u64);

impl SplitMix {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn uniform(&mut self) -> f32 {
        ((self.next() >> 40) as f32 + 0.5) / (1u64 << 24) as f32
    }

    fn normal(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        (-2.0 * u.ln()).sqrt() * (std::f32::consts::TAU * v).cos()
    }
}

/// The largest resident set of any finished child, in bytes (Linux `ru_maxrss` is in KiB).
fn children_peak_rss_bytes() -> u64 {
    // SAFETY: getrusage only writes the struct it is given.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let status = unsafe { libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage) };
    if status == 0 {
        usage.ru_maxrss.max(0) as u64 * 1024
    } else {
        0
    }
}

fn move_file(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs_err::create_dir_all(parent)?;
    }
    if fs_err::rename(from, to).is_err() {
        copy(from, to)?;
        fs_err::remove_file(from)?;
    }
    Ok(())
}

pub(crate) fn copy(from: &Path, to: &Path) -> Result<()> {
    if let Some(parent) = to.parent() {
        fs_err::create_dir_all(parent)?;
    }
    fs_err::copy(from, to)?;
    // Sources may be read-only (the shared data is); the scratch copies are notes to update.
    let mut permissions = fs_err::metadata(to)?.permissions();
    #[allow(clippy::permissions_set_readonly_false)]
    permissions.set_readonly(false);
    fs_err::set_permissions(to, permissions)?;
    Ok(())
}
