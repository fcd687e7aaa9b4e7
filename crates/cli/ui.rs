//! Terminal output of the binary, all of it: data on stdout, warnings, notes and progress bars
//! on stderr. Progress bars are drawn only when stderr is a terminal and neither `-q` nor
//! `--no-progress` was given; colour follows `--color`, `NO_COLOR` and whether stderr is a
//! terminal. `Ui` is the engine's `Reporter`.

use std::io::IsTerminal;
use std::time::Duration;

use closest_engine::{Bar, Reporter, Warning};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use owo_colors::OwoColorize;

use crate::args::{ColorChoice, GlobalArgs};

/// What the binary may print, decided once from the global flags.
#[derive(Debug, Clone)]
pub(crate) struct Ui {
    pub quiet: bool,
    pub verbose: u8,
    progress: bool,
    color: bool,
}

impl Ui {
    pub(crate) fn new(global: &GlobalArgs) -> Self {
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

    /// Standard output, where the data goes; buffered, flushed when dropped.
    pub(crate) fn out(&self) -> std::io::BufWriter<std::io::StdoutLock<'static>> {
        std::io::BufWriter::new(std::io::stdout().lock())
    }

    /// Whether external tools (pip) may draw their own progress.
    pub(crate) fn shows_progress(&self) -> bool {
        self.progress
    }

    pub(crate) fn warning(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            if self.color {
                eprintln!("{}: {message}", "warning".yellow().bold());
            } else {
                eprintln!("warning: {message}");
            }
        }
    }

    /// A line for people on stderr (summaries, hints), unless `-q`.
    pub(crate) fn say(&self, message: impl std::fmt::Display) {
        if !self.quiet {
            eprintln!("{message}");
        }
    }

    /// An error, then each of its causes on a line of its own.
    pub(crate) fn error(&self, err: &anyhow::Error) {
        if self.color {
            eprintln!("{}: {err}", "error".red().bold());
        } else {
            eprintln!("error: {err}");
        }
        for cause in err.chain().skip(1) {
            eprintln!("  caused by: {cause}");
        }
    }
}

struct IndicatifBar(ProgressBar);

impl Bar for IndicatifBar {
    fn inc(&self, steps: u64) {
        self.0.inc(steps);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

impl Reporter for Ui {
    fn warn(&self, warning: &Warning) {
        self.warning(warning);
    }

    fn note(&self, message: &str) {
        self.say(message);
    }

    fn debug(&self, message: &str) {
        if self.verbose > 0 && !self.quiet {
            eprintln!("{message}");
        }
    }

    fn bar(&self, stage: &'static str, len: u64) -> Box<dyn Bar> {
        if !self.progress {
            return Box::new(IndicatifBar(ProgressBar::hidden()));
        }
        let bar = ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr());
        let style = ProgressStyle::with_template(
            "{prefix:>10.cyan.bold} [{bar:30}] {pos}/{len} {per_sec} eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(stage);
        bar.enable_steady_tick(Duration::from_millis(200));
        Box::new(IndicatifBar(bar))
    }
}

/// An error with its causes on one line, as people read them on the terminal.
pub(crate) fn message_of(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        message.push_str(": ");
        message.push_str(&cause.to_string());
        source = cause.source();
    }
    message
}
