//! `closest dupes`: pairs of notes at least as similar as a threshold, most similar first.
//!
//! Text output is one pair a line, `score<TAB>id<TAB>id`; `--format json` is JSON Lines
//! `{"score", "a": {"id", "path", "title"}, "b": {...}}` with `a` the smaller id.

use std::io::Write;
use std::process::ExitCode;

use anyhow::{bail, Result};
use closest_engine::Engine;

use crate::args::{DupesArgs, Format, ModelOptions};
use crate::settings::folder_settings;
use crate::ui::Ui;

pub(crate) fn dupes(args: &DupesArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    if !(-1.0..=1.0).contains(&args.threshold) {
        bail!(
            "--threshold {} is not a cosine similarity; give a number from -1 to 1",
            args.threshold
        );
    }
    let settings = folder_settings(args.dir.as_deref(), &args.folder, model, ui)?;
    let engine = Engine::open(settings, ui.shows_progress(), ui)?;
    let pairs = engine.dupes(args.threshold)?;
    let mut out = ui.out();
    for pair in &pairs {
        match args.format {
            Format::Text => writeln!(out, "{:.4}\t{}\t{}", pair.score, pair.a.id, pair.b.id)?,
            Format::Json => writeln!(out, "{}", serde_json::to_string(pair)?)?,
        }
    }
    out.flush()?;
    ui.say(format_args!(
        "{} pairs at or above {}",
        pairs.len(),
        args.threshold
    ));
    Ok(ExitCode::SUCCESS)
}
