//! Reading a note: its bytes decoded, and what is needed to write it back faithfully.
//!
//! A note is read once per run. What the run later writes must go back exactly as the user
//! keeps it, so reading remembers what decoding hides: whether the file opened with a UTF-8
//! byte order mark, its permissions, and a hash of its raw bytes, by which a write can tell
//! that someone changed the file in the meantime. Files that are not text (invalid UTF-8, NUL
//! bytes) are refused here with an error naming them, so no later step has to guess.

use std::fs::{self, File, Permissions};
use std::io::Read;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::error::NoteError;
use crate::parse::{parse, Parsed, SectionSpec};

const BOM: &str = "\u{FEFF}";

/// One note file found by the walk.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct NoteFile {
    pub id: String,
    /// The root joined with `rel_path`: what to open.
    pub path: PathBuf,
    /// The path relative to the notes root.
    pub rel_path: PathBuf,
}

/// A note's decoded text and what writing it back needs.
#[derive(Debug, Clone)]
pub struct Note {
    file: NoteFile,
    text: String,
    has_bom: bool,
    content_hash: String,
    permissions: Option<Permissions>,
}

impl Note {
    /// Decodes a note's bytes: `permissions` are the file's, when it has one.
    pub fn from_bytes(
        file: NoteFile,
        bytes: Vec<u8>,
        permissions: Option<Permissions>,
    ) -> Result<Note, NoteError> {
        let content_hash = content_hash(&bytes);
        if let Some(offset) = bytes.iter().position(|&byte| byte == 0) {
            return Err(NoteError::Binary {
                path: file.path,
                offset,
            });
        }
        let mut text = String::from_utf8(bytes).map_err(|error| NoteError::InvalidUtf8 {
            path: file.path.clone(),
            offset: error.utf8_error().valid_up_to(),
        })?;
        let has_bom = text.starts_with(BOM);
        if has_bom {
            text.drain(..BOM.len());
        }
        Ok(Note {
            file,
            text,
            has_bom,
            content_hash,
            permissions,
        })
    }

    /// The text after any BOM; every offset in this crate is on this text.
    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn file(&self) -> &NoteFile {
        &self.file
    }

    pub fn id(&self) -> &str {
        &self.file.id
    }

    pub fn path(&self) -> &Path {
        &self.file.path
    }

    /// Whether the file starts with a UTF-8 byte order mark, which a write puts back.
    pub fn has_bom(&self) -> bool {
        self.has_bom
    }

    /// The sha256 of the file's bytes as read (BOM included), in lowercase hex.
    pub fn content_hash(&self) -> &str {
        &self.content_hash
    }

    /// The file's permissions when it was read, which a write gives the new file.
    pub fn permissions(&self) -> Option<&Permissions> {
        self.permissions.as_ref()
    }

    /// Parses the note's text; an error names the file.
    pub fn parse(&self, spec: &SectionSpec) -> Result<Parsed, NoteError> {
        parse(&self.text, spec).map_err(|error| error.at(&self.file.path))
    }

    /// The bytes a file with `text` as this note's text would hold: the BOM put back if the
    /// note had one.
    pub fn encode(&self, text: &str) -> Vec<u8> {
        let mut bytes = Vec::with_capacity(text.len() + BOM.len());
        if self.has_bom {
            bytes.extend_from_slice(BOM.as_bytes());
        }
        bytes.extend_from_slice(text.as_bytes());
        bytes
    }
}

/// Reads and decodes a note. Invalid UTF-8 and NUL bytes are errors that name the file; an
/// empty file is a note with empty text.
pub fn read_note(file: &NoteFile) -> Result<Note, NoteError> {
    let read_error = |source| NoteError::Read {
        path: file.path.clone(),
        source,
    };
    // Only inside the notes root: a note that is (now) a link out of it is not read through.
    let real = crate::inside::resolve_inside(&file.path, &file.rel_path).map_err(read_error)?;
    // Metadata and bytes come from one open file, so they describe the same file even if it
    // is replaced meanwhile.
    let mut handle = File::open(real.as_deref().unwrap_or(&file.path)).map_err(read_error)?;
    let metadata = handle.metadata().map_err(read_error)?;
    let mut bytes = Vec::with_capacity(usize::try_from(metadata.len()).unwrap_or(0));
    handle.read_to_end(&mut bytes).map_err(read_error)?;
    Note::from_bytes(file.clone(), bytes, Some(metadata.permissions()))
}

/// The sha256 of `bytes` in lowercase hex: how notes are told apart across runs.
pub fn content_hash(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut hex = String::with_capacity(64);
    for byte in digest {
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte >> 4)]));
        hex.push(char::from(b"0123456789abcdef"[usize::from(byte & 15)]));
    }
    hex
}

/// Hashes the file now on disk at `path`; `None` when it is gone.
pub(crate) fn current_hash(path: &Path) -> Result<Option<String>, std::io::Error> {
    match fs::read(path) {
        Ok(bytes) => Ok(Some(content_hash(&bytes))),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(error),
    }
}
