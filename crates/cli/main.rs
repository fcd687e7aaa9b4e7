//! The `closest` binary: glue. It parses the command line, turns it into validated settings,
//! runs one command, and owns every byte written to the terminal. Exit codes: 0 ok, 1 `--check`
//! found stale notes, 2 error; a closed stdout (`closest similar ... | head`) exits 0.

mod args;
mod bench;
mod commands;
mod lock;
mod model;
mod pipeline;
mod settings;
mod store;
mod ui;

use std::io::Write;
use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use args::{BenchCommand, Cli, Command, Format};
use pipeline::{Mode, UpdateReport};
use settings::{ModelSettings, NotesSettings};
use ui::Ui;

fn main() -> ExitCode {
    keep_freed_memory();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    if let Some(threads) = cli.global.threads {
        // candle and gemm size their pools from rayon's global pool.
        let _ = rayon::ThreadPoolBuilder::new()
            .num_threads(threads.max(1))
            .build_global();
    }
    let ui = Ui::new(&cli.global);
    match run(&cli, &ui) {
        Ok(code) => code,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            ui.error(&err);
            for cause in err.chain().skip(1) {
                eprintln!("  caused by: {cause}");
            }
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli, ui: &Ui) -> Result<ExitCode> {
    match &cli.command {
        Command::Update(args) => {
            let settings = NotesSettings::load(args.dir.as_deref(), &args.notes, &cli.global)?;
            let mode = if args.check {
                Mode::Check
            } else if args.dry_run {
                Mode::DryRun
            } else {
                Mode::Write
            };
            let report = pipeline::update(&settings, mode, ui)?;
            print_update(&report, mode, args.format, ui)?;
            Ok(if mode == Mode::Check && !report.stale.is_empty() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            })
        }
        Command::Similar(args) => {
            let notes_args = args::NotesArgs {
                k: args.k,
                index: args.index.clone(),
                ..args::NotesArgs::default()
            };
            let settings = NotesSettings::load(args.notes.as_deref(), &notes_args, &cli.global)?;
            commands::similar(args, &settings, ui)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Embed(args) => {
            commands::embed(args, &ModelSettings::from_flags(&cli.global)?, ui)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Status(args) => {
            let settings = NotesSettings::load(
                args.dir.as_deref(),
                &args::NotesArgs::default(),
                &cli.global,
            )?;
            commands::status(&settings, args.format, ui)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Embed(args)) => {
            bench::embed(args, &ModelSettings::from_flags(&cli.global)?, ui)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Index(args)) => {
            bench::index(args, &cli.global, ui)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench(BenchCommand::Update(args)) => {
            bench::update_bench(args, &cli.global, ui)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Model(command) => {
            commands::model(command, &ModelSettings::from_flags(&cli.global)?, ui)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn print_update(report: &UpdateReport, mode: Mode, format: Format, ui: &Ui) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match format {
        Format::Json => writeln!(stdout, "{}", serde_json::to_string(report)?)?,
        Format::Text => {
            match mode {
                Mode::Check => {
                    for id in &report.stale {
                        writeln!(stdout, "stale: {id}")?;
                    }
                }
                Mode::DryRun => {
                    for id in &report.stale {
                        writeln!(stdout, "would update: {id}")?;
                    }
                }
                Mode::Write => {}
            }
            if !ui.quiet {
                eprintln!(
                    "{} notes: {} embedded, {} unchanged, {} written, {} skipped, {} pruned ({} index, {}) in {:.2} s",
                    report.notes, report.embedded, report.unchanged, report.written, report.skipped, report.pruned, report.index, report.model, report.seconds
                );
                if mode == Mode::Check && !report.stale.is_empty() {
                    eprintln!(
                        "hint: run `closest update` to bring {} stale note(s) up to date",
                        report.stale.len()
                    );
                }
            }
        }
    }
    Ok(())
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Keeps glibc from returning large freed blocks to the kernel after every tensor op: with the
/// default thresholds the kernel took a third of all CPU time zeroing fresh pages
/// (../shared/reference/anchors.md).
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
