//! Reads a sentence-transformers model folder into one validated `ModelConfig`.
//!
//! Pooling, normalisation, maximum length, lower-casing and prompts all come from the model's own
//! files (modules.json, 1_Pooling/config.json, sentence_bert_config.json,
//! config_sentence_transformers.json), never from code, so any model of the family behaves as
//! sentence-transformers would run it.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::{io_error, Error, Result};
use crate::pooling::Pooling;

/// The BERT hyper-parameters the forward pass needs, from config.json.
#[derive(Debug, Clone, Deserialize)]
pub struct BertConfig {
    #[serde(default)]
    pub model_type: Option<String>,
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub num_hidden_layers: usize,
    pub num_attention_heads: usize,
    pub intermediate_size: usize,
    #[serde(default = "default_hidden_act")]
    pub hidden_act: String,
    pub max_position_embeddings: usize,
    #[serde(default = "default_type_vocab_size")]
    pub type_vocab_size: usize,
    #[serde(default = "default_layer_norm_eps")]
    pub layer_norm_eps: f64,
    #[serde(default)]
    pub position_embedding_type: Option<String>,
}

fn default_hidden_act() -> String {
    "gelu".to_owned()
}
fn default_type_vocab_size() -> usize {
    2
}
fn default_layer_norm_eps() -> f64 {
    1e-12
}

/// Everything about a model that changes its vectors, validated once at load.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    pub dir: PathBuf,
    pub bert: BertConfig,
    pub pooling: Pooling,
    pub normalize: bool,
    pub max_seq_length: usize,
    pub do_lower_case: bool,
    pub prompts: BTreeMap<String, String>,
    pub default_prompt_name: Option<String>,
}

/// The files a model folder must hold for `closest` to run it.
pub const REQUIRED_FILES: [&str; 3] = ["config.json", "tokenizer.json", "model.safetensors"];

impl ModelConfig {
    /// Reads and validates the folder. `model` names it in error hints.
    pub fn load(dir: &Path, model: &str) -> Result<Self> {
        for name in REQUIRED_FILES {
            let path = dir.join(name);
            if !path.is_file() {
                return Err(Error::MissingFile {
                    path,
                    model: model.to_owned(),
                });
            }
        }
        let config_path = dir.join("config.json");
        let bert: BertConfig = read_json(&config_path)?;
        check_architecture(&bert, &config_path)?;

        let modules = read_modules(dir)?;
        let pooling_dir = modules
            .iter()
            .find(|module| module.kind.ends_with(".Pooling"))
            .map(|module| dir.join(&module.path))
            .unwrap_or_else(|| dir.join("1_Pooling"));
        let pooling_path = pooling_dir.join("config.json");
        let pooling = if pooling_path.is_file() {
            read_pooling(&pooling_path, bert.hidden_size)?
        } else if modules.is_empty() {
            // A bare transformers checkpoint: sentence-transformers falls back to mean pooling.
            Pooling::mean()
        } else {
            return Err(Error::MissingFile {
                path: pooling_path,
                model: model.to_owned(),
            });
        };
        let normalize = modules
            .iter()
            .any(|module| module.kind.ends_with(".Normalize"));

        let st_path = dir.join("sentence_bert_config.json");
        let st: SentenceBertConfig = if st_path.is_file() {
            read_json(&st_path)?
        } else {
            SentenceBertConfig::default()
        };
        let max_seq_length = st
            .max_seq_length
            .unwrap_or(bert.max_position_embeddings)
            .min(bert.max_position_embeddings);
        if max_seq_length < 3 {
            return Err(Error::InvalidFile {
                path: st_path,
                reason: format!("max_seq_length {max_seq_length} leaves no room for text"),
                fix: "set max_seq_length to at least 3".to_owned(),
            });
        }

        let prompts_path = dir.join("config_sentence_transformers.json");
        let prompts: PromptsConfig = if prompts_path.is_file() {
            read_json(&prompts_path)?
        } else {
            PromptsConfig::default()
        };

        Ok(Self {
            dir: dir.to_owned(),
            bert,
            pooling,
            normalize,
            max_seq_length,
            do_lower_case: st.do_lower_case,
            prompts: prompts.prompts,
            default_prompt_name: prompts.default_prompt_name,
        })
    }

    /// The output dimension: the hidden size times the number of pooling modes.
    pub fn dim(&self) -> usize {
        self.pooling.output_dim(self.bert.hidden_size)
    }

    /// The prompt to prepend to queries, if the model defines one (`query` or `search_query`).
    pub fn query_prompt(&self) -> Option<&str> {
        ["query", "search_query"]
            .iter()
            .find_map(|name| self.prompts.get(*name))
            .map(String::as_str)
            .filter(|p| !p.is_empty())
    }

    /// The prompt for documents (notes): `document`/`passage`, else the model's default prompt.
    pub fn document_prompt(&self) -> Option<&str> {
        ["document", "passage", "search_document"]
            .iter()
            .find_map(|name| self.prompts.get(*name))
            .or_else(|| {
                self.default_prompt_name
                    .as_ref()
                    .and_then(|name| self.prompts.get(name))
            })
            .map(String::as_str)
            .filter(|p| !p.is_empty())
    }
}

fn check_architecture(bert: &BertConfig, path: &Path) -> Result<()> {
    let model_type = bert.model_type.as_deref().unwrap_or("bert");
    if model_type != "bert" {
        return Err(Error::UnsupportedArchitecture {
            architecture: model_type.to_owned(),
            path: path.to_owned(),
        });
    }
    if let Some(kind) = bert
        .position_embedding_type
        .as_deref()
        .filter(|kind| *kind != "absolute")
    {
        return Err(Error::UnsupportedArchitecture {
            architecture: format!("bert with {kind} position embeddings"),
            path: path.to_owned(),
        });
    }
    if !matches!(
        bert.hidden_act.as_str(),
        "gelu" | "gelu_new" | "gelu_pytorch_tanh" | "relu"
    ) {
        return Err(Error::UnsupportedArchitecture {
            architecture: format!("bert with activation {}", bert.hidden_act),
            path: path.to_owned(),
        });
    }
    if bert.num_attention_heads == 0 || !bert.hidden_size.is_multiple_of(bert.num_attention_heads) {
        return Err(Error::InvalidFile {
            path: path.to_owned(),
            reason: format!(
                "hidden_size {} is not a multiple of num_attention_heads {}",
                bert.hidden_size, bert.num_attention_heads
            ),
            fix: "use the config.json that came with the weights".to_owned(),
        });
    }
    Ok(())
}

#[derive(Debug, Deserialize)]
struct Module {
    #[serde(default)]
    path: String,
    #[serde(rename = "type")]
    kind: String,
}

fn read_modules(dir: &Path) -> Result<Vec<Module>> {
    let path = dir.join("modules.json");
    if path.is_file() {
        read_json(&path)
    } else {
        Ok(Vec::new())
    }
}

/// 1_Pooling/config.json: a `pooling_mode` string, or one boolean key per mode.
#[derive(Debug, Deserialize)]
struct PoolingFile {
    word_embedding_dimension: Option<usize>,
    pooling_mode: Option<String>,
    #[serde(default)]
    pooling_mode_cls_token: bool,
    #[serde(default)]
    pooling_mode_max_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_tokens: bool,
    #[serde(default)]
    pooling_mode_mean_sqrt_len_tokens: bool,
    #[serde(default)]
    pooling_mode_weightedmean_tokens: bool,
    #[serde(default)]
    pooling_mode_lasttoken: bool,
}

/// Reads 1_Pooling/config.json: the `pooling_mode` string if present, else the boolean keys.
fn read_pooling(path: &Path, hidden_dim: usize) -> Result<Pooling> {
    let file: PoolingFile = read_json(path)?;
    if let Some(dim) = file.word_embedding_dimension {
        if dim != hidden_dim {
            return Err(Error::DimensionMismatch {
                pooling_path: path.to_owned(),
                pooling_dim: dim,
                hidden_dim,
            });
        }
    }
    let pooling = match file.pooling_mode.as_deref() {
        Some(mode) => Pooling::from_mode(mode).ok_or_else(|| Error::UnknownPooling {
            mode: mode.to_owned(),
            path: path.to_owned(),
        })?,
        None => Pooling {
            cls: file.pooling_mode_cls_token,
            max: file.pooling_mode_max_tokens,
            mean: file.pooling_mode_mean_tokens,
            mean_sqrt_len: file.pooling_mode_mean_sqrt_len_tokens,
            weighted_mean: file.pooling_mode_weightedmean_tokens,
            last_token: file.pooling_mode_lasttoken,
        },
    };
    if pooling == Pooling::default() {
        return Err(Error::UnknownPooling {
            mode: "(none enabled)".to_owned(),
            path: path.to_owned(),
        });
    }
    Ok(pooling)
}

#[derive(Debug, Default, Deserialize)]
struct SentenceBertConfig {
    max_seq_length: Option<usize>,
    #[serde(default)]
    do_lower_case: bool,
}

#[derive(Debug, Default, Deserialize)]
struct PromptsConfig {
    #[serde(default)]
    prompts: BTreeMap<String, String>,
    #[serde(default)]
    default_prompt_name: Option<String>,
}

/// Reads a JSON file, naming it in any error.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T> {
    let text = fs::read_to_string(path).map_err(io_error(path))?;
    serde_json::from_str(&text).map_err(|err| Error::InvalidFile {
        path: path.to_owned(),
        reason: err.to_string(),
        fix: "restore the file from the model's source".to_owned(),
    })
}
