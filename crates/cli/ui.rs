//! Terminal output of the binary: warnings, notes and progress bars on stderr. Progress bars are
//! drawn only when stderr is a terminal and neither `-q` nor `--no-progress` was given; colour
//! follows `--color`, `NO_COLOR` and whether stderr is a terminal.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::OwoColorize;

use crate::args::{ColorChoice, GlobalArgs};

/// What the binary may print to stderr, decided once from the global flags.
#[derive(Debug, Clone)]
pub struct Ui {
    pub quiet: bool,
    pub verbose: u8,
    progress: bool,
    color: bool,
}

impl Ui {
    pub fn new(global: &GlobalArgs) -> Self {
        let terminal = std::io::stderr().is_terminal();
        let color = match global.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => {
                terminal && std::env::var_os("NO_COLOR").is_none_or(|value| value.is_empty())
            }
        };
        Self {
            quiet: global.quiet,
            verbose: global.verbose,
            progress: terminal && !global.quiet && !global.no_progress,
            color,
        }
    }

    pub fn warn(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            if self.color {
                eprintln!("{}: {message}", "warning".yellow().bold());
            } else {
                eprintln!("warning: {message}");
            }
        }
    }

    pub fn note(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    pub fn debug(&self, message: impl std::fmt::Display) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{message}");
        }
    }

    pub fn error(&self, message: impl std::fmt::Display) {
        if self.color {
            eprintln!("{}: {message}", "error".red().bold());
        } else {
            eprintln!("error: {message}");
        }
    }

    /// A bar of `len` steps labelled `stage`; hidden when progress is off.
    pub fn bar(&self, stage: &str, len: u64) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:>10.cyan.bold} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(stage.to_owned());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar
    }
}
