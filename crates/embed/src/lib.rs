//! `closest-embed`: sentence-transformers models on candle.
//!
//! It finds a model (folder, cache, hub or PyPI; see [`resolve`]), reads its sentence-transformers
//! configuration, tokenises with its tokenizer.json, runs our BERT forward pass and pools the
//! result exactly as sentence-transformers does, so vectors match the Python reference. It knows
//! nothing of notes or indexes and never writes to the terminal.

pub mod batch;
pub mod bert;
pub mod bf16;
pub mod config;
pub mod cpu;
pub mod device;
pub mod embedder;
pub mod error;
pub mod kernels;
pub mod pooling;
pub mod registry;
pub mod resolve;

pub use batch::{BatchLimits, LongPolicy};
pub use config::{BertConfig, ModelConfig};
pub use device::{dtype_name, parse_dtype, DeviceChoice, PickedDevice};
pub use embedder::{model_fingerprint, normalize, EmbedOptions, EmbedStats, Embedder, ForwardPass};
pub use error::{Error, Result};
pub use pooling::Pooling;
pub use registry::{find_known, known_models, KnownModel, DEFAULT_MODEL};
pub use resolve::{cache_dir, resolve, FetchOptions, ModelSource, ResolvedModel};

pub use candle_core::{DType, Device};
