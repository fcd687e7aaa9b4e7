//! The commands: each turns its arguments into settings, calls the engine, and renders what
//! comes back (data on stdout through `Ui::out`, everything else on stderr).

use std::io::{BufRead, Write};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use closest_embed::known_models;
use closest_engine::{Engine, Mode, Model, Query, UpdateOptions, UpdateReport};
use serde_json::json;

use crate::args::{
    CleanArgs, EmbedArgs, ExplainArgs, Format, ModelCommand, ModelOptions, SimilarArgs, StatusArgs,
    UpdateArgs,
};
use crate::embed_lines::{embed_lines, parse_line, EmbedLine};
use crate::settings::folder_settings;
use crate::ui::Ui;

/// `closest update`.
pub(crate) fn update(args: &UpdateArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let settings = folder_settings(args.dir.as_deref(), &args.folder, model, ui)?;
    let engine = Engine::open(settings, ui.shows_progress(), ui)?;
    let mode = if args.check {
        Mode::Check
    } else if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Write
    };
    let report = engine.update(
        UpdateOptions {
            mode,
            full: args.full,
            hold_recent: None,
        },
        ui,
    )?;
    print_update(&report, mode, args.format, ui)?;
    Ok(if report.failed > 0 {
        ExitCode::from(2)
    } else if mode == Mode::Check && is_stale(&report) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// `closest clean`.
pub(crate) fn clean(args: &CleanArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let settings = folder_settings(args.dir.as_deref(), &args.folder, model, ui)?;
    let mode = if args.dry_run {
        Mode::DryRun
    } else {
        Mode::Write
    };
    let report = closest_engine::clean::clean(&settings, mode, ui)?;
    let mut out = ui.out();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&report)?)?,
        Format::Text => {
            let verb = if args.dry_run {
                "would clean"
            } else {
                "cleaned"
            };
            for path in &report.cleaned {
                writeln!(out, "{verb}: {path}")?;
            }
            drop(out);
            if !report.typed.is_empty() {
                ui.say(format!(
                    "{} note(s) keep their section heading over lines you typed under it: {}",
                    report.typed.len(),
                    report.typed.join(", ")
                ));
            }
            let removed: Vec<&str> = [
                (
                    report.lock_file_removed,
                    closest_engine::lockfile::LOCK_FILE,
                ),
                (report.state_removed, "the state folder"),
            ]
            .into_iter()
            .filter_map(|(removed, what)| removed.then_some(what))
            .collect();
            let mut summary = format!("{} notes: {} {verb}", report.notes, report.cleaned.len());
            if !removed.is_empty() {
                let verb = if args.dry_run {
                    "would remove"
                } else {
                    "removed"
                };
                summary.push_str(&format!("; {verb} {}", removed.join(" and ")));
            }
            ui.say(summary);
        }
    }
    Ok(if report.failed > 0 {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// Whether `--check` found anything `update` would change: a note, a note leaving the managed
/// set, or the lock file.
fn is_stale(report: &UpdateReport) -> bool {
    !report.stale.is_empty() || !report.released.is_empty() || report.lock_file.is_some()
}

fn print_update(report: &UpdateReport, mode: Mode, format: Format, ui: &Ui) -> Result<()> {
    let mut out = ui.out();
    match format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(report)?)?,
        Format::Text => {
            let verb = match mode {
                Mode::Check => Some("stale"),
                Mode::DryRun => Some("would update"),
                Mode::Write => None,
            };
            if let Some(verb) = verb {
                for id in &report.stale {
                    writeln!(out, "{verb}: {id}")?;
                }
                for path in &report.released {
                    writeln!(out, "{verb}: {path} (no longer managed: its list goes)")?;
                }
                if let Some(why) = report.lock_file {
                    writeln!(
                        out,
                        "{verb}: {} ({why})",
                        closest_engine::lockfile::LOCK_FILE
                    )?;
                }
            }
            out.flush()?;
            ui.say(format_args!(
                "{} notes: {} embedded, {} unchanged, {} written, {} skipped, {} pruned ({} index, {}) in {:.2} s",
                report.notes, report.embedded, report.unchanged, report.written, report.skipped, report.pruned, report.index, report.model, report.seconds
            ));
            if mode == Mode::Write && !report.released.is_empty() {
                ui.say(format_args!(
                    "took the lists out of {} note(s) the settings no longer manage",
                    report.released.len()
                ));
            }
            if mode == Mode::Write && report.lock_file.is_some() {
                ui.say(format_args!(
                    "wrote `{}` ({}); commit it with the notes",
                    closest_engine::lockfile::LOCK_FILE,
                    report.lock_file.unwrap_or_default()
                ));
            }
            if mode == Mode::Check && is_stale(report) {
                ui.say(format_args!(
                    "hint: run `closest update` to bring {} stale note(s) up to date",
                    report.stale.len() + report.released.len()
                ));
            }
            if report.failed > 0 {
                ui.say(format_args!(
                    "error: {} note(s) could not be written (see the warnings above)",
                    report.failed
                ));
            }
        }
    }
    Ok(())
}

/// `closest similar`.
pub(crate) fn similar(args: &SimilarArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let settings = folder_settings(args.notes.as_deref(), &args.folder, model, ui)?;
    let k = settings.k;
    let note = args
        .note
        .as_deref()
        .map(|name| note_name(name, &settings.root));
    let engine = Engine::open(settings, ui.shows_progress(), ui)?;
    let stdin_text;
    let query = match (&note, &args.text, &args.stdin) {
        (Some(name), _, _) => Query::Note(name),
        (None, Some(text), _) => Query::Text(text),
        (None, None, Some(dash)) if dash == "-" => {
            let mut text = String::new();
            std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
                .context("cannot read standard input")?;
            stdin_text = text;
            Query::Text(&stdin_text)
        }
        _ => bail!(
            "say what to search for: `--note ID`, `--text TEXT`, or `-` to read standard input"
        ),
    };
    let hits = engine.similar(query, k, ui)?;
    let mut out = ui.out();
    for hit in hits {
        match args.format {
            Format::Text => writeln!(out, "{:.4}\t{}\t{}", hit.score, hit.id, hit.path)?,
            Format::Json => writeln!(
                out,
                "{}",
                json!({ "id": hit.id, "path": hit.path, "title": hit.title, "score": hit.score })
            )?,
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// A note as the engine names notes (`names.rs`: an id, a path from the notes root, a file
/// name): a path to a file that is there (absolute, or from the current folder) becomes its
/// path from the notes root; anything else is passed on as it is.
fn note_name(name: &str, root: &std::path::Path) -> String {
    let path = std::path::Path::new(name);
    let looks_like_a_path = path.is_absolute() || name.contains('/') || name.ends_with(".md");
    if looks_like_a_path && path.is_file() {
        if let (Ok(file), Ok(root)) = (path.canonicalize(), root.canonicalize()) {
            if let Ok(rel) = file.strip_prefix(&root) {
                return rel.to_string_lossy().replace('\\', "/");
            }
        }
    }
    name.to_owned()
}

/// `closest explain A B`.
pub(crate) fn explain(args: &ExplainArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let settings = folder_settings(args.notes.as_deref(), &args.folder, model, ui)?;
    let (a, b) = (
        note_name(&args.a, &settings.root),
        note_name(&args.b, &settings.root),
    );
    let engine = Engine::open(settings, ui.shows_progress(), ui)?;
    let why = engine.explain(&a, &b, ui)?;
    let mut out = ui.out();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&why)?)?,
        Format::Text => {
            writeln!(out, "{} → {}", why.a.id, why.b.id)?;
            writeln!(
                out,
                "score {:.4} ({}): cosine {:.4}, lexical {:.4} × {}",
                why.score, why.similarity, why.cosine, why.lexical, why.lexical_weight
            )?;
            let listed = if why.listed { "listed" } else { "not listed" };
            writeln!(
                out,
                "rank {} of {} for {}: {listed}",
                why.rank, why.of, why.a.id
            )?;
            if !why.shared_words.is_empty() {
                let words: Vec<String> = why
                    .shared_words
                    .iter()
                    .map(|shared| format!("{} {:.3}", shared.word, shared.weight))
                    .collect();
                writeln!(out, "shared words: {}", words.join(", "))?;
            }
            if let Some(sentences) = &why.sentences {
                writeln!(
                    out,
                    "{}'s sentence nearest {} ({:.3}): {}",
                    why.a.id, why.b.id, sentences.a_cosine, sentences.a
                )?;
                writeln!(
                    out,
                    "{}'s sentence nearest {} ({:.3}): {}",
                    why.b.id, why.a.id, sentences.b_cosine, sentences.b
                )?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `closest status`.
pub(crate) fn status(args: &StatusArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let settings = folder_settings(args.dir.as_deref(), &args.folder, model, ui)?;
    let engine = Engine::open(settings, ui.shows_progress(), ui)?;
    let plan = engine.plan(ui)?;
    let mut out = ui.out();
    match args.format {
        Format::Json => writeln!(out, "{}", serde_json::to_string(&plan)?)?,
        Format::Text => {
            writeln!(
                out,
                "notes:     {} ({} unreadable)",
                plan.notes, plan.unreadable
            )?;
            writeln!(out, "embedded:  {}", plan.embedded)?;
            writeln!(
                out,
                "stale:     {} (changed or new since the last update, or not written by it)",
                plan.stale
            )?;
            writeln!(
                out,
                "orphaned:  {} stored vectors no note uses",
                plan.orphaned_rows
            )?;
            writeln!(
                out,
                "model:     {} ({})",
                plan.model, plan.model_fingerprint
            )?;
            writeln!(out, "store:     {} KiB", plan.store_bytes / 1024)?;
            for folder in &plan.template_folders {
                writeln!(
                    out,
                    "templates: `{folder}` left out (note templates, not notes)"
                )?;
            }
            writeln!(
                out,
                "next run:  reads {}, embeds {}, drops {}; {}",
                plan.to_read,
                plan.to_embed,
                plan.departed,
                match plan.ranking {
                    closest_engine::Ranking::Kept => "keeps the lists".to_owned(),
                    closest_engine::Ranking::Patched =>
                        format!("patches the lists ({} made anew)", plan.lists_to_update),
                    closest_engine::Ranking::Full => {
                        format!("computes all {} lists again", plan.lists_to_update)
                    }
                }
            )?;
            if plan.relearn {
                writeln!(out, "           learns the folder's statistics again")?;
            }
            if plan.renders_all {
                writeln!(out, "           renders every note's lines again")?;
            }
            if plan.moves_lists {
                writeln!(
                    out,
                    "           moves the lists to where the settings put them"
                )?;
            }
            if let Some(why) = plan.lock_file {
                writeln!(
                    out,
                    "           writes `{}` ({why})",
                    closest_engine::lockfile::LOCK_FILE
                )?;
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `closest check-links`.
pub(crate) fn check_links(args: &StatusArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let settings = folder_settings(args.dir.as_deref(), &args.folder, model, ui)?;
    let engine = Engine::open(settings, ui.shows_progress(), ui)?;
    let check = engine.check_links()?;
    for warning in &check.warnings {
        ui.warning(warning);
    }
    let mut out = ui.out();
    for broken in &check.broken {
        match args.format {
            Format::Json => writeln!(out, "{}", serde_json::to_string(broken)?)?,
            Format::Text => writeln!(
                out,
                "{}:{}: {} link `{}`",
                broken.note, broken.line, broken.problem, broken.target
            )?,
        }
    }
    out.flush()?;
    ui.say(format_args!(
        "{} notes, {} managed links, {} broken",
        check.notes,
        check.links,
        check.broken.len()
    ));
    Ok(if check.broken.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// Texts embedded per round: large enough for full batches, small enough to stream.
const EMBED_CHUNK: usize = 1024;

/// `closest embed`: JSON Lines in, JSON Lines out, in input order, ids carried through.
pub(crate) fn embed(args: &EmbedArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let model = Model::resolve(&model.clone().resolve()?, ui.shows_progress(), ui)?;
    let mut out = ui.out();
    let mut pending: Vec<EmbedLine> = Vec::new();
    let flush = |pending: &mut Vec<EmbedLine>, out: &mut dyn Write| -> Result<()> {
        for object in embed_lines(&model, pending, args.query, args.long, ui)? {
            serde_json::to_writer(&mut *out, &object)?;
            out.write_all(b"\n")?;
        }
        pending.clear();
        Ok(())
    };
    for (number, line) in std::io::stdin().lock().lines().enumerate() {
        let line = line.context("cannot read standard input")?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed = parse_line(&line, number + 1)?;
        pending.push(parsed);
        if pending.len() >= EMBED_CHUNK {
            flush(&mut pending, &mut out)?;
        }
    }
    if !pending.is_empty() {
        flush(&mut pending, &mut out)?;
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}

/// `closest model fetch|list|info`.
pub(crate) fn model(command: &ModelCommand, options: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    let with_model = |name: &Option<String>| -> Result<Model> {
        let settings = ModelOptions {
            model: name.clone().or_else(|| options.model.clone()),
            ..options.clone()
        }
        .resolve()?;
        Ok(Model::resolve(&settings, ui.shows_progress(), ui)?)
    };
    let mut out = ui.out();
    match command {
        ModelCommand::Fetch { model } => {
            let model = with_model(model)?;
            writeln!(
                out,
                "{} ready in `{}` (from {}; every pinned file checked)",
                model.name(),
                model.resolved.dir.display(),
                model.resolved.source
            )?;
        }
        ModelCommand::List => {
            for known in known_models() {
                let cached = closest_embed::cache_dir().join(&known.name);
                let local = std::path::Path::new("models").join(&known.name);
                let place = if local.join("model.safetensors").is_file() {
                    format!("`{}`", local.display())
                } else if cached.join("model.safetensors").is_file() {
                    format!("`{}`", cached.display())
                } else {
                    "not fetched (`closest model fetch`)".to_owned()
                };
                let default = if known.default { " (default)" } else { "" };
                writeln!(
                    out,
                    "{}{default}\t{}\t{} dims\t{}\t{}",
                    known.name, known.repo, known.dims, known.pooling, place
                )?;
            }
        }
        ModelCommand::Info { model, format } => {
            let model = with_model(model)?;
            let config = &model.config;
            let info = json!({
                "name": model.name(),
                "source": model.resolved.source.to_string(),
                "folder": model.resolved.dir.display().to_string(),
                "dims": config.dim(),
                "pooling": config.pooling.describe(),
                "normalize": config.normalize,
                "max_seq_length": config.max_seq_length,
                "do_lower_case": config.do_lower_case,
                "layers": config.bert.num_hidden_layers,
                "query_prompt": config.query_prompt(),
                "document_prompt": config.document_prompt(),
                "fingerprint": model.fingerprint,
            });
            match format {
                Format::Json => writeln!(out, "{}", serde_json::to_string_pretty(&info)?)?,
                Format::Text => {
                    for (key, value) in info.as_object().into_iter().flatten() {
                        let value = match value {
                            serde_json::Value::String(text) => text.clone(),
                            serde_json::Value::Null => "none".to_owned(),
                            other => other.to_string(),
                        };
                        writeln!(out, "{key}: {value}")?;
                    }
                }
            }
        }
    }
    out.flush()?;
    Ok(ExitCode::SUCCESS)
}
