//! Writing a note back so that it is never half-written and never overwrites someone's edit.
//!
//! `closest update` runs from cron jobs and commit hooks while people have the same notes open
//! in an editor. The new text therefore goes to a temporary file in the note's own folder, is
//! flushed to disk and renamed over the note, so a crash leaves either the old or the new note,
//! never a mix; the folder is flushed too, so the rename itself survives a power cut. Before
//! that the file is read again: if its bytes are not the ones the run read, the user changed
//! or deleted it meanwhile and the stale result is dropped rather than written.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use crate::error::NoteError;
use crate::note::{current_hash, Note};

/// How the temporary files of a write begin. Hidden, so that a walk never takes one for a
/// note, and recognisable, so that one left by a killed run can be found and removed.
pub const TEMP_FILE_PREFIX: &str = ".closest-tmp-";

/// What [`write_atomic`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum WriteOutcome {
    /// The new text replaced the note.
    Written,
    /// The new text equals the note's; nothing was written.
    Unchanged,
    /// The file's bytes are no longer those the run read; nothing was written.
    ChangedDuringRun,
    /// The file is gone; nothing was written.
    Deleted,
    /// The file is read-only (or not writable by this user); nothing was written.
    ReadOnly,
}

/// Replaces `note`'s file with `new_text` (the text after any BOM; the BOM is put back if the
/// note had one), keeping the file's permissions, and on Unix its owner where allowed.
pub fn write_atomic(note: &Note, new_text: &str) -> Result<WriteOutcome, NoteError> {
    let (outcome, written) = write_atomic_deferred(note, new_text)?;
    if let Some(written) = written {
        sync_folder(&written.folder);
    }
    Ok(outcome)
}

/// What [`write_atomic_deferred`] wrote: the new file's metadata (taken from the written file
/// before it replaced the note, so it describes exactly these bytes) and the folder whose
/// entry changed.
#[derive(Debug)]
pub struct Written {
    pub metadata: fs::Metadata,
    pub folder: PathBuf,
}

/// [`write_atomic`] without the folder sync: a caller writing many notes syncs each folder once
/// with [`sync_folder`] after all of them (the notes are complete either way; the sync makes the
/// renames durable).
pub fn write_atomic_deferred(
    note: &Note,
    new_text: &str,
) -> Result<(WriteOutcome, Option<Written>), NoteError> {
    replace(note, new_text, &|| {})
}

/// [`write_atomic_deferred`], calling `just_before` between the last check of the note and
/// its replacement (where a test makes the concurrent edit the exchange must not lose).
fn replace(
    note: &Note,
    new_text: &str,
    just_before: &dyn Fn(),
) -> Result<(WriteOutcome, Option<Written>), NoteError> {
    let path = note.path();
    let write_error = |source| NoteError::Write {
        path: path.to_path_buf(),
        source,
    };
    let read_error = |source| NoteError::Read {
        path: path.to_path_buf(),
        source,
    };
    match current_hash(path).map_err(read_error)? {
        None => return Ok((WriteOutcome::Deleted, None)),
        Some(hash) if hash != note.content_hash() => {
            return Ok((WriteOutcome::ChangedDuringRun, None))
        }
        Some(_) => {}
    }
    if new_text == note.text() {
        return Ok((WriteOutcome::Unchanged, None));
    }

    let target = crate::inside::resolve_inside(path, &note.file().rel_path)
        .map_err(write_error)?
        .unwrap_or_else(|| path.to_path_buf());
    let metadata = fs::metadata(&target).map_err(read_error)?;
    if metadata.permissions().readonly() || !can_open_for_writing(&target) {
        return Ok((WriteOutcome::ReadOnly, None));
    }
    let folder = match target.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };

    let mut temp = tempfile::Builder::new()
        .prefix(TEMP_FILE_PREFIX)
        .suffix(".tmp")
        .tempfile_in(&folder)
        .map_err(write_error)?;
    temp.as_file()
        .set_permissions(metadata.permissions())
        .map_err(write_error)?;
    keep_owner(temp.as_file(), &metadata);
    temp.write_all(&note.encode(new_text))
        .map_err(write_error)?;
    temp.as_file().sync_all().map_err(write_error)?;
    let written = temp.as_file().metadata().map_err(write_error)?;
    let done = Written {
        metadata: written,
        folder,
    };
    // On failure the temporary file is removed when the error drops it; the note is untouched.
    let temp = temp.into_temp_path();
    just_before();
    match exchange(&temp, &target) {
        Ok(()) => {}
        Err(error) if exchange_unsupported(&error) => {
            temp.persist(&target)
                .map_err(|error| write_error(error.error))?;
            return Ok((WriteOutcome::Written, Some(done)));
        }
        Err(error) => return Err(write_error(error)),
    }
    // The note that was replaced is at the temporary path now. If someone changed it between
    // the check above and the exchange (an edit in place, an editor's write-then-rename), it
    // goes back, and the new text is dropped: their edit is never lost.
    if current_hash(&temp).ok().flatten().as_deref() == Some(note.content_hash()) {
        drop(temp);
        return Ok((WriteOutcome::Written, Some(done)));
    }
    match exchange(&temp, &target) {
        Ok(()) => Ok((WriteOutcome::ChangedDuringRun, None)),
        Err(error) => {
            // Their version stays beside the note, under a name the next run's sweep of
            // temporary files leaves alone, rather than be lost.
            let mut kept = target.clone().into_os_string();
            kept.push(".closest-conflict");
            let kept = PathBuf::from(kept);
            temp.persist(&kept)
                .map_err(|error| write_error(error.error))?;
            Err(NoteError::EditKeptAside {
                path: path.to_path_buf(),
                kept,
                source: error,
            })
        }
    }
}

/// Swaps two paths' files atomically (Linux `renameat2` with `RENAME_EXCHANGE`).
#[cfg(target_os = "linux")]
fn exchange(a: &Path, b: &Path) -> io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(io::Error::from)
}

#[cfg(not(target_os = "linux"))]
fn exchange(_: &Path, _: &Path) -> io::Result<()> {
    Err(io::Error::from(io::ErrorKind::Unsupported))
}

/// A file system (or kernel) that cannot exchange two files: the note is replaced by a plain
/// rename, which a concurrent edit can still race.
fn exchange_unsupported(error: &io::Error) -> bool {
    error.kind() == io::ErrorKind::Unsupported
        || matches!(error.raw_os_error(), Some(code) if code == libc_einval() || code == libc_enosys())
}

fn libc_einval() -> i32 {
    rustix::io::Errno::INVAL.raw_os_error()
}

fn libc_enosys() -> i32 {
    rustix::io::Errno::NOSYS.raw_os_error()
}

/// Whether this user may write the file. The rename would succeed on any file of a writable
/// folder, so a file the user may not write to is detected here and left alone.
fn can_open_for_writing(path: &Path) -> bool {
    // Opening without truncating or writing leaves the file and its times as they are.
    match OpenOptions::new().write(true).open(path) {
        Ok(_) => true,
        Err(error) => error.kind() != io::ErrorKind::PermissionDenied,
    }
}

/// Gives the new file the old one's owner and group, which matters when root updates another
/// user's notes. A user who may not change owners keeps their own, as any editor would.
#[cfg(unix)]
fn keep_owner(file: &File, metadata: &fs::Metadata) {
    use std::os::unix::fs::MetadataExt;
    let Ok(current) = file.metadata() else {
        return;
    };
    if current.uid() != metadata.uid() || current.gid() != metadata.gid() {
        let _ = std::os::unix::fs::fchown(file, Some(metadata.uid()), Some(metadata.gid()));
    }
}

#[cfg(not(unix))]
fn keep_owner(_file: &File, _metadata: &fs::Metadata) {}

/// Flushes the folder so the rename is on disk. Some file systems refuse to sync a folder;
/// the note is complete either way, so that is not an error.
pub fn sync_folder(folder: &Path) {
    #[cfg(unix)]
    if let Ok(handle) = File::open(folder) {
        let _ = handle.sync_all();
    }
    #[cfg(not(unix))]
    let _ = folder;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::note::NoteFile;

    /// An edit that lands after the last check and before the replacement (in place, or by an
    /// editor's write-then-rename) is what the note holds afterwards; closest's text is not.
    #[test]
    #[cfg(target_os = "linux")]
    fn an_edit_racing_the_replacement_is_kept() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("a.md");
        let file = NoteFile {
            id: "a".into(),
            path: path.clone(),
            rel_path: "a.md".into(),
        };
        for by_rename in [false, true] {
            fs::write(&path, "# A\n").expect("write");
            let note = crate::note::read_note(&file).expect("read");
            let edit = || {
                if by_rename {
                    let temp = dir.path().join("a.md.swp");
                    fs::write(&temp, "# A, edited\n").expect("editor's copy");
                    fs::rename(&temp, &path).expect("rename over");
                } else {
                    fs::write(&path, "# A, edited\n").expect("edit in place");
                }
            };
            let (outcome, written) =
                replace(&note, "# A\n\n## Closest\n\n* [b](b)\n", &edit).expect("replace");
            assert_eq!(outcome, WriteOutcome::ChangedDuringRun);
            assert!(written.is_none());
            assert_eq!(fs::read_to_string(&path).expect("read"), "# A, edited\n");
            let left: Vec<_> = fs::read_dir(dir.path())
                .expect("dir")
                .map(|entry| entry.expect("entry").file_name())
                .collect();
            assert_eq!(left, ["a.md"], "no temporary file is left");
        }
        // Without an edit, the note is replaced.
        fs::write(&path, "# A\n").expect("write");
        let note = crate::note::read_note(&file).expect("read");
        let (outcome, _) = replace(&note, "# A\n\n## Closest\n", &|| {}).expect("replace");
        assert_eq!(outcome, WriteOutcome::Written);
        assert_eq!(
            fs::read_to_string(&path).expect("read"),
            "# A\n\n## Closest\n"
        );
    }
}
