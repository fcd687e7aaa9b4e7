//! `closest watch`: keeps every section current while notes are edited.
//!
//! One loop on the main thread, fed by one channel: batches of file events from the debouncer
//! (`notify-debouncer-full`: events come once the folder has been quiet for `--debounce`), and
//! Ctrl-C. Reads are no news (every scan opens folders, every run reads notes): only creations,
//! removals, renames and modifications count. A batch that holds news (a note that differs from
//! what the store recorded, a folder that came or went, an ignore file) starts an incremental
//! update with `hold_recent`: notes someone
//! changed within `--hold` seconds keep their old section this run, and the loop wakes again
//! when the last of them has been left alone long enough. Events of closest's own writes
//! (notes as the store recorded them, temporary files, the state folder) start nothing. Each
//! run takes the folder lock, so an `update` or a second `watch` on the folder waits for it.
//! The engine, and with it the loaded model, lives as long as the loop.
//!
//! Ctrl-C ends the loop after the current run and exits 0; a second Ctrl-C exits at once
//! (130), which the update's crash safety allows.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{channel, RecvTimeoutError};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use closest_engine::{is_note_path, Engine, Mode, Reporter, UpdateOptions, UpdateReport};
use notify_debouncer_full::notify::event::ModifyKind;
use notify_debouncer_full::notify::{EventKind, RecursiveMode};
use notify_debouncer_full::{new_debouncer, DebounceEventResult, DebouncedEvent};

use crate::args::{Format, ModelOptions, WatchArgs};
use crate::settings::{folder_settings, CONFIG_FILE};
use crate::ui::Ui;

/// What wakes the loop.
enum Signal {
    Events(DebounceEventResult),
    Stop,
}

/// Files whose change alters which notes the walk finds.
const IGNORE_FILES: [&str; 3] = [".gitignore", ".ignore", closest_notes::IGNORE_FILE_NAME];

pub(crate) fn watch(args: &WatchArgs, model: &ModelOptions, ui: &Ui) -> Result<ExitCode> {
    if !(args.hold.is_finite() && args.hold >= 0.0) {
        bail!("--hold {} is not a number of seconds", args.hold);
    }
    let settings = folder_settings(args.dir.as_deref(), &args.folder, model, ui)?;
    let root = fs_err::canonicalize(&settings.root)?;
    let state_dir = settings.state_dir.clone();
    let engine = Engine::open(settings, ui.shows_progress(), ui)?;
    let options = UpdateOptions {
        mode: Mode::Write,
        full: false,
        hold_recent: Some(Duration::from_secs_f64(args.hold)),
    };

    let (sender, signals) = channel::<Signal>();
    let running = Arc::new(AtomicBool::new(false));
    install_ctrl_c(sender.clone(), running.clone(), ui.clone())?;
    let events = sender.clone();
    let mut debouncer = new_debouncer(
        Duration::from_millis(args.debounce),
        None,
        move |result: DebounceEventResult| {
            let _ = events.send(Signal::Events(result));
        },
    )
    .context("cannot start watching files")?;
    debouncer
        .watch(&root, RecursiveMode::Recursive)
        .with_context(|| {
            format!(
                "cannot watch `{}`; on Linux, raise fs.inotify.max_user_watches if the folder is large",
                root.display()
            )
        })?;
    drop(sender);
    ui.say(format_args!(
        "watching `{}` (hold {} s after an edit; Ctrl-C stops)",
        root.display(),
        args.hold
    ));

    // Everything that changed while closest was not watching.
    let mut wake = run(&engine, options, &running, args.format, ui)?;
    loop {
        let signal = match wake {
            Some(at) => match signals.recv_timeout(until(at)) {
                Ok(signal) => Some(signal),
                Err(RecvTimeoutError::Timeout) => None,
                Err(RecvTimeoutError::Disconnected) => break,
            },
            None => match signals.recv() {
                Ok(signal) => Some(signal),
                Err(_) => break,
            },
        };
        match signal {
            Some(Signal::Stop) => break,
            Some(Signal::Events(Err(errors))) => {
                for err in errors {
                    ui.warning(format_args!("watching files: {err}"));
                }
            }
            Some(Signal::Events(Ok(events))) => {
                let news = match news(&engine, &root, &state_dir, &events, ui) {
                    Ok(news) => news,
                    Err(err) => {
                        ui.error(&err);
                        continue;
                    }
                };
                if news.is_empty() {
                    continue;
                }
                ui.debug(&format!(
                    "changed: {}",
                    news.iter()
                        .map(|path| format!("`{}`", path.display()))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                wake = run(&engine, options, &running, args.format, ui)?;
            }
            // A held note's time has come.
            None => wake = run(&engine, options, &running, args.format, ui)?,
        }
    }
    drop(debouncer);
    ui.say("stopped watching");
    Ok(ExitCode::SUCCESS)
}

/// One incremental update; returns when to come back for held notes. An error is printed
/// and the loop goes on: the next event tries again.
fn run(
    engine: &Engine,
    options: UpdateOptions,
    running: &AtomicBool,
    format: Format,
    ui: &Ui,
) -> Result<Option<Instant>> {
    running.store(true, Ordering::SeqCst);
    let result = engine.update(options, ui);
    running.store(false, Ordering::SeqCst);
    let report = match result {
        Ok(report) => report,
        Err(err) => {
            ui.error(&anyhow::Error::from(err));
            return Ok(None);
        }
    };
    print_run(&report, format, ui)?;
    // A little past the moment, so the held notes' window has surely closed.
    Ok(report.held_until.map(|until| {
        let wait = until.duration_since(SystemTime::now()).unwrap_or_default();
        Instant::now() + wait + Duration::from_millis(50)
    }))
}

fn print_run(report: &UpdateReport, format: Format, ui: &Ui) -> Result<()> {
    match format {
        Format::Json => {
            let mut out = ui.out();
            writeln!(out, "{}", serde_json::to_string(report)?)?;
            out.flush()?;
        }
        Format::Text => {
            if report.read > 0 || report.written > 0 || !report.held.is_empty() {
                ui.say(format_args!(
                    "{} read, {} embedded, {} lists updated, {} written, {} held ({:.2} s)",
                    report.read,
                    report.embedded,
                    report.lists_updated,
                    report.written,
                    report.held.len(),
                    report.seconds
                ));
            }
            if !report.held.is_empty() {
                ui.debug(&format!("held (being edited): {}", report.held.join(", ")));
            }
        }
    }
    Ok(())
}

/// The paths among an event batch that need a run: notes that differ from the store, folders
/// that came or went (with notes in them, perhaps) and ignore files. Hidden paths (the state
/// folder, closest's temporary files, `.git`) are not notes.
fn news(
    engine: &Engine,
    root: &Path,
    state_dir: &Path,
    events: &[DebouncedEvent],
    ui: &Ui,
) -> Result<Vec<PathBuf>> {
    let state_dir = state_dir.canonicalize().ok();
    let mut news = Vec::new();
    let mut notes = Vec::new();
    let changes = events.iter().filter(|event| {
        matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
        )
    });
    for (event, path) in changes.flat_map(|event| event.paths.iter().map(move |path| (event, path)))
    {
        if state_dir
            .as_ref()
            .is_some_and(|state| path.starts_with(state))
        {
            continue;
        }
        let Ok(rel_path) = path.strip_prefix(root) else {
            continue;
        };
        let name = rel_path
            .file_name()
            .map(|name| name.to_string_lossy())
            .unwrap_or_default();
        if rel_path == Path::new(CONFIG_FILE) {
            ui.warning(format_args!(
                "`{CONFIG_FILE}` changed; restart `closest watch` to use the new settings"
            ));
            continue;
        }
        if IGNORE_FILES.contains(&name.as_ref()) {
            news.push(rel_path.to_owned());
            continue;
        }
        let hidden = rel_path
            .components()
            .any(|component| component.as_os_str().to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }
        if is_note_path(rel_path) {
            notes.push(rel_path.to_owned());
        } else if rel_path.as_os_str().is_empty() {
            // The root itself: its own attributes changed.
        } else if matches!(
            event.kind,
            EventKind::Create(_) | EventKind::Remove(_) | EventKind::Modify(ModifyKind::Name(_))
        ) && (path.is_dir() || !path.exists())
        {
            news.push(rel_path.to_owned());
        }
    }
    notes.sort();
    notes.dedup();
    news.extend(engine.unrecorded(&notes)?);
    news.sort();
    news.dedup();
    Ok(news)
}

fn until(at: Instant) -> Duration {
    at.saturating_duration_since(Instant::now())
}

/// Ctrl-C: the first stops the loop after the current run, the second exits at once.
fn install_ctrl_c(
    sender: std::sync::mpsc::Sender<Signal>,
    running: Arc<AtomicBool>,
    ui: Ui,
) -> Result<()> {
    let presses = AtomicUsize::new(0);
    ctrlc::set_handler(move || {
        if presses.fetch_add(1, Ordering::SeqCst) > 0 {
            std::process::exit(130);
        }
        if running.load(Ordering::SeqCst) {
            ui.say("stopping after this run (Ctrl-C again to stop now)");
        }
        let _ = sender.send(Signal::Stop);
    })
    .context("cannot handle Ctrl-C")
}
