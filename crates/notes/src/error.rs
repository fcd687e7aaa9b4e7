//! Errors and warnings of `closest-notes`, split by what the caller should do with them.
//!
//! [`Error`] stops a run: the notes folder cannot be walked as asked (a missing root, a bad
//! glob, two notes claiming one id). [`NoteError`] concerns one note: the binary warns, skips
//! that note and carries on with the others, which is why it is a type of its own rather than
//! more variants of [`Error`]. [`Warning`] is what the walk stepped over on purpose. Every
//! message is lowercase, names the file and says how to fix it; the underlying I/O error is
//! kept as the `source` so the binary can print it as a "caused by" line.

use std::io;
use std::path::{Path, PathBuf};

/// A failure that stops the walk of a notes folder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    #[error("cannot read the notes folder `{}`; check that it exists and that you may read it", path.display())]
    Root {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error("the notes root `{}` is not a folder; pass the folder that holds the notes", path.display())]
    RootNotAFolder { path: PathBuf },

    #[error(
        "two notes have the id `{id}`: `{}` and `{}`; rename one of them, \
         or switch to the relative-path id scheme",
        first.display(),
        second.display()
    )]
    DuplicateId {
        id: String,
        first: PathBuf,
        second: PathBuf,
    },

    #[error("invalid glob `{glob}` in the include or exclude patterns; fix or remove it")]
    InvalidGlob {
        glob: String,
        #[source]
        source: globset::Error,
    },

    #[error("invalid link template `{template}`: {reason}")]
    InvalidTemplate { template: String, reason: String },

    #[error("invalid section heading `{heading}` at level {level}: {reason}")]
    InvalidSection {
        heading: String,
        level: u8,
        reason: String,
    },

    #[error("unknown id scheme `{name}`; use `shortest`, `stem` or `relative-path`")]
    InvalidIdScheme { name: String },

    #[error("unknown link style `{name}`; use `auto`, `with-extension` or `without-extension`")]
    InvalidLinkStyle { name: String },
}

/// A failure that concerns one note: the caller reports it and skips the note.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NoteError {
    #[error("cannot read note `{}`; check that it exists and that you may read it", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "note `{}` contains a NUL byte at offset {offset}, so it looks binary; \
         exclude it in `.closestignore` or rename it",
        path.display()
    )]
    Binary { path: PathBuf, offset: usize },

    #[error(
        "note `{}` is not valid UTF-8 (first bad byte at offset {offset}); \
         convert it to UTF-8 or exclude it in `.closestignore`",
        path.display()
    )]
    InvalidUtf8 { path: PathBuf, offset: usize },

    #[error(
        "{} has two `{heading}` sections (lines {first_line} and {second_line}); \
         delete one of them",
        describe(.path.as_deref())
    )]
    TwoSections {
        /// `None` when the text was parsed without a file, for instance from standard input.
        path: Option<PathBuf>,
        heading: String,
        first_line: usize,
        second_line: usize,
    },

    #[error("{}", write_failure(path, source))]
    Write {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "`{}` changed while closest replaced it and could not be put back; your version is `{}`",
        path.display(),
        kept.display()
    )]
    EditKeptAside {
        path: PathBuf,
        kept: PathBuf,
        #[source]
        source: io::Error,
    },
}

/// What a failed write says: a full disk is a full disk, a permission a permission.
fn write_failure(path: &std::path::Path, source: &io::Error) -> String {
    match source.kind() {
        io::ErrorKind::StorageFull | io::ErrorKind::QuotaExceeded => format!(
            "cannot write note `{}`: the disk is full; free some space and run again",
            path.display()
        ),
        io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => format!(
            "cannot write note `{}`; check that you may write to it and to its folder",
            path.display()
        ),
        _ => format!("cannot write note `{}`", path.display()),
    }
}

impl NoteError {
    /// The note the error is about, when there is one.
    pub fn path(&self) -> Option<&Path> {
        match self {
            NoteError::Read { path, .. }
            | NoteError::Binary { path, .. }
            | NoteError::InvalidUtf8 { path, .. }
            | NoteError::Write { path, .. }
            | NoteError::EditKeptAside { path, .. } => Some(path),
            NoteError::TwoSections { path, .. } => path.as_deref(),
        }
    }

    /// Attaches the file to an error found while parsing text that had no path yet.
    pub(crate) fn at(self, file: &Path) -> NoteError {
        match self {
            NoteError::TwoSections {
                heading,
                first_line,
                second_line,
                ..
            } => NoteError::TwoSections {
                path: Some(file.to_path_buf()),
                heading,
                first_line,
                second_line,
            },
            other => other,
        }
    }
}

fn describe(path: Option<&Path>) -> String {
    match path {
        Some(path) => format!("note `{}`", path.display()),
        None => "the text".to_string(),
    }
}

/// Something the walk skipped on purpose or could not look at; it never stops the walk.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Warning {
    #[error(
        "skipped symlink `{}`: symlinks are not followed unless you ask for it (follow symlinks)",
        path.display()
    )]
    SymlinkSkipped { path: PathBuf },

    #[error(
        "skipped `{}`: it is a symlink loop back to `{}`; remove the link or exclude it",
        path.display(),
        ancestor.display()
    )]
    SymlinkLoop { path: PathBuf, ancestor: PathBuf },

    #[error("skipped `{}`: {reason}; check that you may read it", path.display())]
    Unreadable { path: PathBuf, reason: String },

    #[error(
        "skipped `{}`: it is a link to `{}`, outside the notes folder; closest reads and writes only inside it",
        path.display(),
        real.display()
    )]
    LinkOutsideRoot { path: PathBuf, real: PathBuf },

    #[error("ignored a line of the ignore file `{}`: {reason}; fix the pattern", path.display())]
    IgnoreFile { path: PathBuf, reason: String },

    #[error("skipped `{}`: its name is not valid UTF-8, so it cannot have an id; rename it", path.display())]
    NonUtf8Name { path: PathBuf },

    #[error(
        "cannot read the template folder setting in `{}`: {reason}; \
         its templates are walked as notes unless you exclude them",
        path.display()
    )]
    TemplateSettings { path: PathBuf, reason: String },
}

impl Warning {
    /// The file or folder the warning is about.
    pub fn path(&self) -> &Path {
        match self {
            Warning::SymlinkSkipped { path }
            | Warning::SymlinkLoop { path, .. }
            | Warning::Unreadable { path, .. }
            | Warning::LinkOutsideRoot { path, .. }
            | Warning::IgnoreFile { path, .. }
            | Warning::NonUtf8Name { path }
            | Warning::TemplateSettings { path, .. } => path,
        }
    }
}
