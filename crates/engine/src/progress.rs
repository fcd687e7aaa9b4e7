//! How a run tells its caller what it is doing, without printing: the binary draws progress
//! bars and prints warnings on stderr, `serve` logs them, tests ignore them.

use crate::error::Warning;

/// Receives a run's progress and messages as they happen.
pub trait Reporter: Sync {
    /// Something was skipped or left alone; the run goes on.
    fn warn(&self, warning: &Warning);
    /// Something the user should know now (another run holds the lock, a model change means
    /// embedding everything again).
    fn note(&self, message: &str);
    /// Detail for `-v`.
    fn debug(&self, message: &str);
    /// A stage of `len` steps; the returned bar is advanced as they complete.
    fn bar(&self, stage: &'static str, len: u64) -> Box<dyn Bar>;
}

/// Progress of one stage.
pub trait Bar: Sync {
    fn inc(&self, steps: u64);
    fn finish(&self);
}

/// A reporter that drops everything.
pub struct Silent;

struct NoBar;

impl Bar for NoBar {
    fn inc(&self, _: u64) {}
    fn finish(&self) {}
}

impl Reporter for Silent {
    fn warn(&self, _: &Warning) {}
    fn note(&self, _: &str) {}
    fn debug(&self, _: &str) {}
    fn bar(&self, _: &'static str, _: u64) -> Box<dyn Bar> {
        Box::new(NoBar)
    }
}
