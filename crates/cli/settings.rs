//! Turns flags and the notes root's `.closest.toml` into one validated `Settings`. Flags win
//! over the file; the file wins over defaults. Every mistake is reported here, before any note
//! is read, with the file or flag that caused it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use closest_embed::{parse_dtype, BatchLimits, DType, DeviceChoice, LongPolicy};
use closest_index::IndexKind;
use closest_notes::{IdScheme, SectionSpec, Template};
use serde::Deserialize;

use crate::args::{GlobalArgs, NotesArgs};

/// The per-folder settings file, in the notes root.
pub const CONFIG_FILE: &str = ".closest.toml";

/// `.closest.toml`: every key optional.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct ConfigFile {
    k: Option<usize>,
    heading: Option<String>,
    level: Option<u8>,
    template: Option<String>,
    include: Option<Vec<String>>,
    exclude: Option<Vec<String>>,
    model: Option<String>,
    device: Option<String>,
    dtype: Option<String>,
    batch_tokens: Option<usize>,
    long: Option<String>,
    index: Option<String>,
    min_score: Option<f32>,
    exclude_linked: Option<bool>,
    id_scheme: Option<String>,
    follow_symlinks: Option<bool>,
}

/// How links are written: as a section of lines, or as a list in the front matter.
#[derive(Debug, Clone)]
pub enum Output {
    Section(Template),
    FrontMatter { key: String },
}

/// Settings for the model, shared by every command that embeds.
#[derive(Debug, Clone)]
pub struct ModelSettings {
    pub model: Option<String>,
    pub device: DeviceChoice,
    pub dtype: DType,
    pub limits: BatchLimits,
}

/// Everything `update`, `status` and `similar` need to know about a notes folder.
#[derive(Debug, Clone)]
pub struct NotesSettings {
    pub root: PathBuf,
    pub k: usize,
    pub section: SectionSpec,
    pub output: Output,
    pub id_scheme: IdScheme,
    pub include: Vec<String>,
    pub exclude: Vec<String>,
    pub follow_symlinks: bool,
    pub long: LongPolicy,
    pub index: IndexKind,
    pub min_score: f32,
    pub exclude_linked: bool,
    pub model: ModelSettings,
}

/// The model keys of `.closest.toml`, under the flags of the same names.
#[derive(Debug, Default)]
struct FileModel {
    model: Option<String>,
    device: Option<String>,
    dtype: Option<String>,
    batch_tokens: Option<usize>,
}

impl ModelSettings {
    /// For commands without a notes folder: flags and defaults only.
    pub fn from_flags(global: &GlobalArgs) -> Result<Self> {
        Self::from_args(global, FileModel::default())
    }

    fn from_args(global: &GlobalArgs, file: FileModel) -> Result<Self> {
        let device = global
            .device
            .clone()
            .or(file.device)
            .unwrap_or_else(|| "auto".to_owned())
            .parse::<DeviceChoice>()?;
        let dtype = parse_dtype(
            global
                .dtype
                .as_deref()
                .or(file.dtype.as_deref())
                .unwrap_or("f32"),
        )?;
        let mut limits = BatchLimits::default();
        if let Some(tokens) = global.batch_tokens.or(file.batch_tokens) {
            if tokens == 0 {
                bail!("invalid batch size of 0 tokens (`--batch-tokens` or `batch-tokens` in `.closest.toml`): give a positive number");
            }
            limits.max_tokens = tokens;
        }
        Ok(Self {
            model: global.model.clone().or(file.model),
            device,
            dtype,
            limits,
        })
    }
}

impl NotesSettings {
    /// Reads `<root>/.closest.toml` (if any) and applies the flags over it.
    pub fn load(root: Option<&Path>, args: &NotesArgs, global: &GlobalArgs) -> Result<Self> {
        let root = root
            .map(Path::to_owned)
            .unwrap_or_else(|| PathBuf::from("."));
        if !root.is_dir() {
            bail!(
                "notes folder `{}` does not exist or is not a folder",
                root.display()
            );
        }
        let config_path = root.join(CONFIG_FILE);
        let file: ConfigFile = if config_path.is_file() {
            let text = fs_err::read_to_string(&config_path)?;
            toml::from_str(&text).with_context(|| {
                format!(
                    "`{}` is not valid; fix or remove the key it names",
                    config_path.display()
                )
            })?
        } else {
            ConfigFile::default()
        };
        let k = args.k.or(file.k).unwrap_or(10);
        if k == 0 {
            bail!("k must be at least 1");
        }
        let heading = args
            .heading
            .clone()
            .or(file.heading)
            .unwrap_or_else(|| "Closest".to_owned());
        let level = args.level.or(file.level).unwrap_or(2);
        let section = SectionSpec::new(heading, level)?;
        let template = args
            .template
            .clone()
            .or(file.template)
            .unwrap_or_else(|| "bullet".to_owned());
        let output = if template == "front-matter" {
            Output::FrontMatter {
                key: section.heading.to_lowercase(),
            }
        } else {
            Output::Section(template.parse::<Template>()?)
        };
        let id_scheme = args
            .id_scheme
            .clone()
            .or(file.id_scheme)
            .unwrap_or_else(|| "stem".to_owned())
            .parse::<IdScheme>()?;
        let long = args
            .long
            .clone()
            .or(file.long)
            .unwrap_or_else(|| "truncate".to_owned())
            .parse::<LongPolicy>()?;
        let index = args
            .index
            .clone()
            .or(file.index)
            .unwrap_or_else(|| "auto".to_owned())
            .parse::<IndexKind>()?;
        let min_score = args
            .min_score
            .or(file.min_score)
            .unwrap_or(f32::NEG_INFINITY);
        if min_score.is_nan() {
            bail!("--min-score must be a number");
        }
        let include = if args.include.is_empty() {
            file.include.unwrap_or_default()
        } else {
            args.include.clone()
        };
        let exclude = if args.exclude.is_empty() {
            file.exclude.unwrap_or_default()
        } else {
            args.exclude.clone()
        };
        Ok(Self {
            root,
            k,
            section,
            output,
            id_scheme,
            include,
            exclude,
            follow_symlinks: args.follow_symlinks || file.follow_symlinks.unwrap_or(false),
            long,
            index,
            min_score,
            exclude_linked: args.exclude_linked || file.exclude_linked.unwrap_or(false),
            model: ModelSettings::from_args(
                global,
                FileModel {
                    model: file.model,
                    device: file.device,
                    dtype: file.dtype,
                    batch_tokens: file.batch_tokens,
                },
            )?,
        })
    }

    /// The folder for the store, the index and the lock.
    pub fn state_dir(&self) -> PathBuf {
        self.root.join(".closest")
    }

    pub fn walk_options(&self) -> closest_notes::WalkOptions {
        closest_notes::WalkOptions {
            include: self.include.clone(),
            exclude: self.exclude.clone(),
            follow_symlinks: self.follow_symlinks,
            id_scheme: self.id_scheme,
        }
    }
}
