//! Errors of the embedding crate. Each variant carries the file or the numbers a user needs to
//! act, and its message ends with the fix, because most of them come from a model folder the user
//! can repair or fetch again.

use std::path::PathBuf;

/// Everything that can go wrong between a `--model` argument and a vector.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "model file `{path}` is missing; fetch the model again with `closest model fetch {model}`"
    )]
    MissingFile { path: PathBuf, model: String },

    #[error("cannot read `{path}`")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("`{path}` is not valid: {reason}; {fix}")]
    InvalidFile {
        path: PathBuf,
        reason: String,
        fix: String,
    },

    #[error(
        "`{path}` does not match its pinned sha256 (expected {expected}, found {found}); delete the folder and run `closest model fetch {model}`"
    )]
    ChecksumMismatch {
        path: PathBuf,
        expected: String,
        found: String,
        model: String,
    },

    #[error("architecture `{architecture}` in `{path}` is not supported; closest runs BERT-family encoders (model_type `bert`)")]
    UnsupportedArchitecture { architecture: String, path: PathBuf },

    #[error("unknown pooling mode `{mode}` in `{path}`; use one of cls, mean, max, mean_sqrt_len, lasttoken")]
    UnknownPooling { mode: String, path: PathBuf },

    #[error(
        "dimension mismatch: `{pooling_path}` says {pooling_dim} but the model's hidden size is {hidden_dim}; fix word_embedding_dimension in that file"
    )]
    DimensionMismatch {
        pooling_path: PathBuf,
        pooling_dim: usize,
        hidden_dim: usize,
    },

    #[error("model `{model}` was not found: {tried}")]
    ModelNotFound { model: String, tried: String },

    #[error("fetching model `{model}` failed: {reason}")]
    Fetch { model: String, reason: String },

    #[error("device `{device}` is not available: {reason}")]
    Device { device: String, reason: String },

    #[error("invalid {what} `{value}`: {expected}")]
    InvalidArgument {
        what: &'static str,
        value: String,
        expected: &'static str,
    },

    /// `CLOSEST_KERNEL` names a family this CPU cannot run, or none.
    #[error("{0}")]
    Kernel(String),

    #[error("tokenizer failed: {0}")]
    Tokenizer(String),

    #[error(
        "the tokenizer and the weights disagree: {0}; use the model's files as they came together"
    )]
    Mismatch(String),

    #[error("the model produced non-finite values in dtype {dtype}; run with `--dtype f32`")]
    NonFinite { dtype: String },

    #[error(transparent)]
    Candle(#[from] candle_core::Error),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

pub(crate) fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Error {
    let path = path.into();
    move |source| Error::Io { path, source }
}
