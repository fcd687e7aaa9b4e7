//! Holding back notes someone is still editing (`UpdateOptions::hold_recent`, used by `watch`).
//!
//! A note whose file changed within the hold window before the run, and not by closest (its
//! stat differs from the one the store recorded, or it is new, or it was held before), is not
//! written this run: an editor saving every few seconds would otherwise see its buffer change
//! under it. Its list is computed and stored as usual; the note is recorded as stale, so the
//! next run reads it again and writes its section once it has been left alone for the window.
//! The run reports when that is (`UpdateReport::held_until`), so `watch` knows when to come
//! back. The atomic write still refuses a note that changes during the run.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::run::write::{Done, Mode, Outcome};
use crate::run::Run;

impl Run<'_> {
    /// Whether the note at `position` changed, not by closest, within the hold window.
    pub(crate) fn is_held(&self, position: usize) -> bool {
        let Some(hold) = self.options.hold_recent else {
            return false;
        };
        let note = &self.notes[position];
        let Some(stat) = note.stat else {
            return false;
        };
        if self.options.mode != Mode::Write {
            return false;
        }
        let changed_by_someone = self
            .record_of(position)
            .is_none_or(|record| record.stat != stat || record.stale);
        let now = self.stamp_before.unwrap_or_else(system_now_ns);
        changed_by_someone && now.saturating_sub(stat.mtime_ns) < duration_ns(hold)
    }

    /// The moment the held note at `position` may be written if nobody touches it again.
    pub(crate) fn held_until(&self, position: usize) -> Option<SystemTime> {
        let hold = self.options.hold_recent?;
        let mtime = u64::try_from(self.notes[position].stat?.mtime_ns).ok()?;
        Some(UNIX_EPOCH + Duration::from_nanos(mtime) + hold)
    }
}

impl Outcome {
    /// A note left for a later run because it changed too recently.
    pub(crate) fn held(position: usize) -> Self {
        Outcome {
            position,
            done: Done::Held,
            region: None,
            evidence: None,
            moved: false,
            warning: None,
            read: false,
        }
    }
}

fn system_now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, duration_ns)
}

fn duration_ns(duration: Duration) -> i64 {
    i64::try_from(duration.as_nanos()).unwrap_or(i64::MAX)
}
