//! `closest export`: every note's neighbours as one data file for a static-site generator.
//!
//! The file maps each note's path (relative to the notes root, `/`-separated) to the
//! neighbours its section lists, best first, each with id, title, path and score (rounded to
//! four decimals, which is all a template shows). Keys are sorted, so the bytes only change
//! when a list does. Hugo reads it from `data/`, Jekyll and Eleventy from `_data/`, Zola with
//! `load_data`; README.md shows the template lines. Nothing in the notes is touched.

use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;

use anyhow::{Context, Result};
use closest_engine::{Engine, NoteLists};
use serde::Serialize;

use crate::args::{DataFormat, ExportArgs, ModelOptions};
use crate::settings::folder_settings;
use crate::ui::Ui;

/// One neighbour as a template sees it.
#[derive(Debug, Serialize)]
struct Entry<'a> {
    id: &'a str,
    title: &'a str,
    path: &'a str,
    score: f64,
}

pub(crate) fn export(args: &ExportArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let settings = folder_settings(args.dir.as_deref(), &args.folder, model, ui)?;
    let engine = Engine::open(settings, ui.shows_progress(), ui)?;
    let lists = engine.lists()?;
    let text = render(&lists, args.format)?;
    let mut out = ui.out();
    out.write_all(text.as_bytes())?;
    out.flush()?;
    ui.say(format_args!(
        "{} notes, {} links exported",
        lists.len(),
        lists
            .iter()
            .map(|note| note.neighbours.len())
            .sum::<usize>()
    ));
    Ok(ExitCode::SUCCESS)
}

fn render(lists: &[NoteLists], format: DataFormat) -> Result<String> {
    let data: BTreeMap<&str, Vec<Entry<'_>>> = lists
        .iter()
        .map(|note| {
            let entries = note
                .neighbours
                .iter()
                .map(|hit| Entry {
                    id: &hit.id,
                    title: &hit.title,
                    path: &hit.path,
                    score: (f64::from(hit.score) * 1e4).round() / 1e4,
                })
                .collect();
            (note.path.as_str(), entries)
        })
        .collect();
    let mut text = match format {
        DataFormat::Json => serde_json::to_string_pretty(&data)?,
        DataFormat::Yaml => serde_norway::to_string(&data).context("cannot write YAML")?,
        DataFormat::Toml => toml::to_string(&data).context("cannot write TOML")?,
    };
    if !text.ends_with('\n') {
        text.push('\n');
    }
    Ok(text)
}
