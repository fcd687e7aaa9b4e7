//! The `closest` binary: glue. It parses the command line, turns it into validated settings,
//! runs one command on the engine, and owns every byte written to the terminal. Exit codes: 0
//! ok, 1 `--check` found stale notes, 2 error (also when a note could not be written, after
//! every other note was); a closed stdout (`closest similar ... | head`) exits 0.

mod args;
mod bench;
mod bench_update;
mod commands;
mod doctor;
mod dupes;
mod embed_lines;
mod export;
mod manual;
mod mcp;
mod serve;
mod settings;
mod ui;
mod watch;

use std::process::ExitCode;

use anyhow::Result;
use clap::Parser;

use args::{BenchCommand, Cli, Command};
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
            ExitCode::from(2)
        }
    }
}

fn run(cli: &Cli, ui: &Ui) -> Result<ExitCode> {
    let model = &cli.global.model;
    match &cli.command {
        Command::Update(args) => commands::update(args, model, ui),
        Command::Clean(args) => commands::clean(args, model, ui),
        Command::Similar(args) => commands::similar(args, model, ui),
        Command::Explain(args) => commands::explain(args, model, ui),
        Command::Embed(args) => commands::embed(args, model, ui),
        Command::Status(args) => commands::status(args, model, ui),
        Command::CheckLinks(args) => commands::check_links(args, model, ui),
        Command::Watch(args) => watch::watch(args, model, ui),
        Command::Serve(args) => serve::serve(args, model, ui),
        Command::Mcp(args) => mcp::mcp(args, model, ui),
        Command::Export(args) => export::export(args, model, ui),
        Command::Dupes(args) => dupes::dupes(args, model, ui),
        Command::Model(command) => commands::model(command, model, ui),
        Command::Bench(BenchCommand::Embed(args)) => bench::embed(args, model, ui),
        Command::Bench(BenchCommand::Index(args)) => bench::index(args, model, ui),
        Command::Bench(BenchCommand::Update(args)) => bench_update::update(args, model, ui),
        Command::Completions { shell } => manual::completions(*shell, ui),
        Command::Man { dir } => manual::man(dir.as_deref(), ui),
        Command::Doctor(args) => doctor::doctor(args, model, ui),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// Keeps glibc from returning large freed blocks to the kernel after every tensor op: with the
/// default thresholds the kernel took a third of all CPU time zeroing fresh pages.
fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes allocator thresholds; called before any other thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
    }
}
