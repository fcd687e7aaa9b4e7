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

    let target = write_target(path).map_err(write_error)?;
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
    // On failure the temporary file is removed when the error drops it; the note is untouched.
    temp.persist(&target)
        .map_err(|error| write_error(error.error))?;
    Ok((
        WriteOutcome::Written,
        Some(Written {
            metadata: written,
            folder,
        }),
    ))
}

/// The file to replace: a note reached through a symlink (followed on request) is written
/// where the link points, so the link stays a link.
fn write_target(path: &Path) -> io::Result<PathBuf> {
    if fs::symlink_metadata(path)?.file_type().is_symlink() {
        fs::canonicalize(path)
    } else {
        Ok(path.to_path_buf())
    }
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
