//! What stops a run, and what a run steps over.
//!
//! An [`Error`] ends the command: a missing folder, a broken model, a store that cannot be
//! created. A [`Warning`] is a note the run skipped or left alone on purpose (unreadable, two
//! sections, changed while the run was writing); the run goes on and the binary prints it. Both
//! name the file and say what to do, in the project's lowercase style.

use std::path::PathBuf;

use closest_notes::NoteError;

/// A failure that stops the command.
/// ", did you mean `a` or `b`?" for the ids most like an unknown name, or nothing.
fn did_you_mean(suggestions: &[String]) -> String {
    match suggestions {
        [] => String::new(),
        [one] => format!("; did you mean `{one}`?"),
        [rest @ .., last] => {
            let rest: Vec<String> = rest.iter().map(|id| format!("`{id}`")).collect();
            format!("; did you mean {} or `{last}`?", rest.join(", "))
        }
    }
}

#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error(transparent)]
    Notes(#[from] closest_notes::Error),

    /// One note that cannot be read (a query's or an explanation's).
    #[error(transparent)]
    Note(#[from] NoteError),

    #[error(transparent)]
    Embed(Box<closest_embed::Error>),

    #[error(transparent)]
    Index(Box<closest_index::Error>),

    #[error("cannot load model `{name}` from `{}`", dir.display())]
    ModelLoad {
        name: String,
        dir: PathBuf,
        #[source]
        source: Box<closest_embed::Error>,
    },

    #[error(
        "the store `{}` failed; if this persists, delete the state folder `{}` and run `closest update`",
        path.display(),
        path.parent().unwrap_or(path).display()
    )]
    Store {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("cannot {action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error(
        "another closest run still holds `{}` after {seconds} s; wait for it to finish, or stop it",
        path.display()
    )]
    Locked { path: PathBuf, seconds: u64 },

    #[error(
        "the disk holding `{}` is full; free some space and run again",
        path.display()
    )]
    DiskFull {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error(
        "the store `{}` was made by another version of closest; run `closest update` to bring it up to date",
        path.display()
    )]
    StoreOutdated { path: PathBuf },

    #[error("notes folder `{}` does not exist or is not a folder", path.display())]
    NoFolder { path: PathBuf },

    #[error("no embedded notes in `{root}`; run `closest update {root}` first")]
    NothingStored { root: String },

    #[error("no note named `{id}` in the store{}; a note is named by its id, its path or its file name (`closest export` lists them), and one added since the last `closest update` is not there yet", did_you_mean(suggestions))]
    UnknownNote {
        id: String,
        /// The stored ids most like the name.
        suggestions: Vec<String>,
    },

    #[error("`{name}` names {} notes: {}; give its path or id", candidates.len(), candidates.join(", "))]
    AmbiguousNote {
        name: String,
        /// The paths of the notes it names.
        candidates: Vec<String>,
    },

    #[error("invalid setting: {0}")]
    Setting(String),

    #[error("{0}")]
    Invalid(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Whether the file system holding `path` has (next to) no room left.
fn disk_is_full(path: &std::path::Path) -> bool {
    let folder = path.parent().unwrap_or(path);
    rustix::fs::statvfs(folder)
        .is_ok_and(|stats| stats.f_bavail.saturating_mul(stats.f_frsize) < 256 * 1024)
}

impl From<closest_embed::Error> for Error {
    fn from(err: closest_embed::Error) -> Self {
        Error::Embed(Box::new(err))
    }
}

impl From<closest_index::Error> for Error {
    fn from(err: closest_index::Error) -> Self {
        Error::Index(Box::new(err))
    }
}

impl Error {
    /// A failure of the store at `path`: a full disk says so.
    pub(crate) fn from_store(path: PathBuf, source: rusqlite::Error) -> Self {
        // SQLite reports some writes that found no room as I/O errors (growing its shared
        // memory file on a full tmpfs): the disk's free space tells them apart.
        let full = match source.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => true,
            Some(rusqlite::ErrorCode::SystemIoFailure) => disk_is_full(&path),
            _ => false,
        };
        if full {
            Error::DiskFull { path, source }
        } else {
            Error::Store { path, source }
        }
    }

    pub(crate) fn io(
        action: &'static str,
        path: impl Into<PathBuf>,
        source: std::io::Error,
    ) -> Self {
        Error::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Something a run stepped over or left alone; the run goes on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Warning {
    /// The walk skipped a file or folder (symlinks, unreadable folders, ignore-file lines).
    #[error(transparent)]
    Walk(#[from] closest_notes::Warning),

    /// A note that cannot be read or parsed; left out and left alone.
    #[error("skipped: {0}")]
    Skipped(NoteError),

    #[error("not written: {0}")]
    NotWritten(NoteError),

    #[error("`{}` changed while closest ran; left it alone, run again to update it", path.display())]
    ChangedDuringRun { path: PathBuf },

    #[error("`{}` was deleted while closest ran", path.display())]
    DeletedDuringRun { path: PathBuf },

    #[error("`{}` is read-only; left it alone (make it writable to update its section)", path.display())]
    ReadOnly { path: PathBuf },

    #[error("cannot remove `{}` left by an interrupted run: {reason}", path.display())]
    TempFile { path: PathBuf, reason: String },

    #[error("the store `{}` was unusable ({reason}); rebuilt it, every note will be embedded again", path.display())]
    StoreRebuilt { path: PathBuf, reason: String },

    #[error("{0}")]
    Store(String),

    #[error(
        "`{}`: took the old list out, but kept its heading (line {line}) over the lines you typed under it",
        path.display()
    )]
    OldRegionTyped { path: PathBuf, line: usize },

    #[error(
        "`{}`: the old list's heading is there twice (line {line}), so both stay; delete the one you no longer need",
        path.display()
    )]
    OldRegionLeft { path: PathBuf, line: usize },

    #[error(
        "`{}`: kept the lines you typed in the section (from line {line}); closest changes only its own link lines",
        path.display()
    )]
    Typed { path: PathBuf, line: usize },

    #[error(
        "`{}`: no place for the list that leaves what you typed in the section reading as it does; left the note as it is (move your lines out of the list, or below a blank line)",
        path.display()
    )]
    Unplaced { path: PathBuf },

    #[error("rebuilding the HNSW index: {reason}")]
    IndexRebuilt { reason: String },

    #[error("the HNSW index was not saved, the next run builds it again: {reason}")]
    IndexNotSaved { reason: String },
}

impl Warning {
    /// Whether the warning means a note's new section could not be written: the run then
    /// exits 2 after writing all the others.
    pub fn is_write_failure(&self) -> bool {
        matches!(self, Warning::NotWritten(_))
    }
}
