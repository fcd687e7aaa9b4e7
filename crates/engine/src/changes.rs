//! What `watch` asks before it runs: which of the files an event named are news to the store.
//!
//! Every section closest writes is itself a file event. A note whose size, modification time
//! and inode are what the store recorded after the last run (and whose record is not racy) is
//! as closest left it, so its event needs no run; a note that is new, gone, or
//! differs is news. This is the same test the scan makes, for a handful of paths instead of the
//! whole folder.

use std::path::{Path, PathBuf};

use crate::error::Result;
use crate::run::scan::rel_text;
use crate::store::Store;
use crate::Engine;

/// The notes among `rel_paths` (relative to the notes root) that differ from what the store
/// recorded.
pub(crate) fn unrecorded(engine: &Engine, rel_paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let root = &engine.settings().root;
    let Some(store) = Store::open_reader(&engine.settings().state_dir)? else {
        return Ok(rel_paths.to_vec());
    };
    let mut news = Vec::new();
    for rel_path in rel_paths {
        let record = store.note_at(&rel_text(rel_path))?;
        let stat = closest_notes::stat_path(&root.join(rel_path));
        let as_recorded = match (&record, stat) {
            // A held note (stale) that nobody touched since waits for its timer, not for events.
            (Some(record), Some(stat)) => record.stat == stat && !record.racy,
            // Never a note, and gone: nothing to do.
            (None, None) => true,
            _ => false,
        };
        if !as_recorded {
            news.push(rel_path.clone());
        }
    }
    Ok(news)
}

/// Whether a path (relative to the notes root) is a markdown note by its name.
pub fn is_note_path(rel_path: &Path) -> bool {
    rel_path
        .extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("md"))
}
