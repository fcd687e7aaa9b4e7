//! One error type for the whole crate, so the binary can turn any index failure into a message
//! that names the vector, the numbers or the file involved, and says what to do about it.
//!
//! Vectors arrive from the embedder and queries from users; both can be wrong in ways the caller
//! can fix (wrong model dimension, an unnormalised vector), so every such case is an `Error`
//! carrying the numbers, never a panic.

use std::fmt;
use std::path::PathBuf;

/// Which vector an error is about: a row being added (named by its id) or a search query.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// A row passed to `add`, with the caller's id.
    Row { id: u64 },
    /// The query vector passed to `search`.
    Query,
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Row { id } => write!(f, "vector for id {id}"),
            Subject::Query => f.write_str("query vector"),
        }
    }
}

/// Everything that can go wrong in `closest-index`.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("dimension mismatch for {subject}: got {got}, expected {expected}")]
    DimensionMismatch {
        subject: Subject,
        got: usize,
        expected: usize,
    },

    #[error("{subject} has a non-finite value ({value}) at position {position}")]
    NonFinite {
        subject: Subject,
        position: usize,
        value: f32,
    },

    #[error("{subject} is the zero vector, which has no direction to compare")]
    ZeroVector { subject: Subject },

    #[error(
        "{subject} is not unit length: norm {norm}, expected 1 within {tolerance} \
         (normalise vectors before indexing them)"
    )]
    NotUnitLength {
        subject: Subject,
        norm: f32,
        tolerance: f32,
    },

    #[error("duplicate id {id}: it is already in the index or appears twice in one batch")]
    DuplicateId { id: u64 },

    #[error("unknown id {id}: it is not in the index")]
    UnknownId { id: u64 },

    #[error("invalid dimension {dim}: an index needs at least one dimension")]
    InvalidDimension { dim: usize },

    #[error("too many rows: {n_rows} would exceed the limit of {max}")]
    TooManyRows { n_rows: usize, max: usize },

    #[error("invalid HNSW parameter {name} = {value}: it must be {expected}")]
    InvalidParameter {
        name: &'static str,
        value: usize,
        expected: &'static str,
    },

    #[error("invalid k-nearest graph parameter {name} = {value}: it must be {expected}")]
    InvalidGraphParameter {
        name: &'static str,
        value: String,
        expected: &'static str,
    },

    #[error(
        "{values} values do not make {ids} rows of dimension {dim}: \
         pass one id per row and rows × dim values"
    )]
    RowCount {
        values: usize,
        ids: usize,
        dim: usize,
    },

    #[error("row {row} is out of range: there are {n_rows} rows")]
    RowOutOfRange { row: usize, n_rows: usize },

    #[error("unknown index kind `{value}`: expected auto, exact, graph or hnsw")]
    UnknownKind { value: String },

    #[error("cannot {action} `{}`", path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot save the HNSW graph under `{}`: {message}", path.display())]
    HnswDump { path: PathBuf, message: String },
}

impl Error {
    /// Wraps an I/O error with the action and the file it concerned.
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
