//! The file system's clock, for telling racy stats from trustworthy ones.
//!
//! A file's modification time has the granularity of the file system's clock tick. A stat taken
//! in the same tick as a later write looks identical to the stat after it, so a record whose
//! modification time is not older than the moment its stat was taken proves nothing, and the
//! note is read again next time (git's "racy clean" rule). The moment is read from the file
//! system itself (a temporary file's modification time in the notes root), not from the system
//! clock, which may run on another source or, on network file systems, another machine.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::store::Stat;

/// How long `settle` waits at most for the clock to tick past the last write.
const SETTLE_LIMIT: Duration = Duration::from_millis(200);

/// The file system's current time in the notes root, in nanoseconds; `None` when the root is
/// not writable (every stat is then treated as racy).
pub(crate) fn now(root: &Path) -> Option<i64> {
    let temp = tempfile::Builder::new()
        .prefix(closest_notes::TEMP_FILE_PREFIX)
        .suffix(".stamp")
        .tempfile_in(root)
        .ok()?;
    let metadata = temp.as_file().metadata().ok()?;
    Some(Stat::from_metadata(&metadata).mtime_ns)
}

/// After writing notes: waits until the file system's clock has moved past every written
/// note's modification time, then stats them again. The positions whose stat is still what the
/// write left are settled: no later change can hide behind their stat. The others stay racy.
pub(crate) fn settle(
    root: &Path,
    written: &HashMap<usize, Stat>,
    path_of: impl Fn(usize) -> PathBuf,
) -> HashSet<usize> {
    let Some(latest) = written.values().map(|stat| stat.mtime_ns).max() else {
        return HashSet::new();
    };
    let started = Instant::now();
    loop {
        match now(root) {
            Some(time) if time > latest => break,
            Some(_) if started.elapsed() < SETTLE_LIMIT => {
                std::thread::sleep(Duration::from_millis(2));
            }
            _ => return HashSet::new(),
        }
    }
    written
        .iter()
        .filter(|(&position, stat)| {
            closest_notes::stat_path(&path_of(position)).as_ref() == Some(stat)
        })
        .map(|(&position, _)| position)
        .collect()
}
