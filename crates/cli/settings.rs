//! Turns flags and the notes root's `.closest.toml` into the engine's validated settings. The
//! file holds the same options as the flags (`FolderOptions`, `ModelOptions`); one merge puts
//! the flag over the file over the default. Every mistake is reported here, before any note is
//! read, with the file or flag that caused it.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use clap::Args;
use closest_embed::BatchLimits;
use closest_engine::{FolderSettings, ModelSettings, Output};
use closest_notes::{SectionSpec, Template};
use serde::Deserialize;

use crate::args::{FolderOptions, ModelOptions};
use crate::ui::Ui;
use closest_engine::lockfile::LOCK_FILE;
use closest_engine::Reporter;

/// The per-folder settings file, in the notes root.
pub(crate) const CONFIG_FILE: &str = ".closest.toml";

/// `.closest.toml`: the folder and model options, every key optional.
#[derive(Debug, Default, Deserialize)]
struct ConfigFile {
    #[serde(flatten)]
    folder: FolderOptions,
    #[serde(flatten)]
    model: ModelOptions,
}

impl FolderOptions {
    /// These options over `fallback`, field by field.
    fn or(self, fallback: FolderOptions) -> FolderOptions {
        FolderOptions {
            k: self.k.or(fallback.k),
            index: self.index.or(fallback.index),
            min_score: self.min_score.or(fallback.min_score),
            similarity: self.similarity.or(fallback.similarity),
            lexical_weight: self.lexical_weight.or(fallback.lexical_weight),
            exclude_linked: self.exclude_linked.or(fallback.exclude_linked),
            heading: self.heading.or(fallback.heading),
            level: self.level.or(fallback.level),
            template: self.template.or(fallback.template),
            id_scheme: self.id_scheme.or(fallback.id_scheme),
            include: self.include.or(fallback.include),
            exclude: self.exclude.or(fallback.exclude),
            long: self.long.or(fallback.long),
            follow_symlinks: self.follow_symlinks.or(fallback.follow_symlinks),
            link_style: self.link_style.or(fallback.link_style),
            exclude_template_folders: self
                .exclude_template_folders
                .or(fallback.exclude_template_folders),
            migrate_from_heading: self.migrate_from_heading.or(fallback.migrate_from_heading),
            state_dir: self.state_dir.or(fallback.state_dir),
        }
    }
}

impl ModelOptions {
    fn or(self, fallback: ModelOptions) -> ModelOptions {
        ModelOptions {
            model: self.model.or(fallback.model),
            device: self.device.or(fallback.device),
            dtype: self.dtype.or(fallback.dtype),
            batch_tokens: self.batch_tokens.or(fallback.batch_tokens),
        }
    }

    /// Validated model settings.
    pub(crate) fn resolve(self) -> Result<ModelSettings> {
        let mut limits = BatchLimits::default();
        if let Some(tokens) = self.batch_tokens {
            if tokens == 0 {
                bail!("invalid batch size of 0 tokens (`--batch-tokens` or `batch-tokens` in `.closest.toml`): give a positive number");
            }
            limits.max_tokens = tokens;
        }
        let defaults = ModelSettings::default();
        Ok(ModelSettings {
            model: self.model,
            device: self.device.unwrap_or(defaults.device),
            dtype: self.dtype.unwrap_or(defaults.dtype),
            limits,
        })
    }
}

/// What marks a notes root, as `.git` marks a repository's: its settings, its lock file, or
/// its state folder.
const ROOT_MARKERS: [&str; 3] = [
    CONFIG_FILE,
    LOCK_FILE,
    closest_engine::state_dir::DEFAULT_NAME,
];

/// The notes root for a folder named on the command line (or the current folder): the nearest
/// folder from it upward that a marker names as one, else the folder itself. A subfolder of a
/// managed folder is never taken for a folder of its own (a second state folder, a second
/// section in each of its notes).
pub(crate) fn notes_root(named: Option<&Path>, ui: &Ui) -> Result<PathBuf> {
    let named = named.map_or_else(|| PathBuf::from("."), Path::to_owned);
    if !named.is_dir() {
        bail!(
            "notes folder `{}` does not exist or is not a folder",
            named.display()
        );
    }
    let absolute = fs_err::canonicalize(&named)?;
    for folder in absolute.ancestors() {
        let Some(marker) = ROOT_MARKERS
            .iter()
            .find(|marker| folder.join(marker).exists())
        else {
            continue;
        };
        if folder == absolute {
            return Ok(named);
        }
        ui.note(&format!(
            "working on the notes root `{}` (it holds `{marker}`), of which `{}` is a part",
            folder.display(),
            named.display()
        ));
        return Ok(folder.to_path_buf());
    }
    Ok(named)
}

/// Reads `<root>/.closest.toml` (if any), puts the flags over it, and validates the result.
/// `root` is the folder named, or the current folder; the notes root is found from it
/// ([`notes_root`]).
pub(crate) fn folder_settings(
    root: Option<&Path>,
    flags: &FolderOptions,
    model_flags: &ModelOptions,
    ui: &Ui,
) -> Result<FolderSettings> {
    let root = notes_root(root, ui)?;
    let file = read_config(&root.join(CONFIG_FILE))?;
    // A relative `state-dir` in the file is relative to the notes root; on the command line,
    // to the current folder. A folder's own file may not put it outside the folder: a cloned
    // folder could otherwise have closest write wherever it names.
    let state_dir = match (&flags.state_dir, &file.folder.state_dir) {
        (Some(flag), _) => Some(flag.clone()),
        (None, Some(from_file)) => {
            let dir = root.join(from_file);
            if !lies_inside(&root, &dir) {
                bail!(
                    "`{}` puts the state folder at `{}`, outside the notes folder; a folder's own settings cannot do that (give `--state-dir` on the command line instead)",
                    root.join(CONFIG_FILE).display(),
                    from_file.display()
                );
            }
            Some(dir)
        }
        (None, None) => None,
    };
    let options = flags.clone().or(file.folder);
    let model = model_flags.clone().or(file.model).resolve()?;
    let defaults = FolderSettings::new(root);
    let k = options.k.unwrap_or(defaults.k);
    if k == 0 {
        bail!("k must be at least 1");
    }
    let section = SectionSpec::new(
        options
            .heading
            .unwrap_or_else(|| defaults.section.heading.clone()),
        options.level.unwrap_or(defaults.section.level),
    )?;
    let output = match options.template.as_deref() {
        None => defaults.output.clone(),
        Some("front-matter") => Output::FrontMatter {
            key: section.heading.to_lowercase(),
        },
        Some(template) => Output::Section(template.parse::<Template>()?),
    };
    // A custom line's filled lines are closest's own in the section, as the built-in ones are.
    let section = match &output {
        Output::Section(template) => section.with_custom_lines(template.custom_lines()),
        Output::FrontMatter { .. } => section,
    };
    let min_score = options.min_score.unwrap_or(defaults.min_score);
    if min_score.is_nan() {
        bail!("--min-score must be a number");
    }
    let lexical_weight = options.lexical_weight.unwrap_or(defaults.lexical_weight);
    if !(0.0..=1.0).contains(&lexical_weight) {
        bail!("--lexical-weight (lexical-weight) must be between 0 and 1, not {lexical_weight}");
    }
    Ok(FolderSettings {
        k,
        similarity: options.similarity.unwrap_or(defaults.similarity),
        lexical_weight,
        section,
        output,
        id_scheme: options.id_scheme.unwrap_or(defaults.id_scheme),
        include: options.include.unwrap_or_default(),
        exclude: options.exclude.unwrap_or_default(),
        follow_symlinks: options.follow_symlinks.unwrap_or(defaults.follow_symlinks),
        long: options.long.unwrap_or(defaults.long),
        index: options.index.unwrap_or(defaults.index),
        min_score,
        exclude_linked: options.exclude_linked.unwrap_or(defaults.exclude_linked),
        link_style: options.link_style.unwrap_or(defaults.link_style),
        exclude_template_folders: options
            .exclude_template_folders
            .unwrap_or(defaults.exclude_template_folders),
        migrate_from_heading: options.migrate_from_heading,
        state_dir: state_dir.unwrap_or_else(|| defaults.state_dir.clone()),
        model,
        ..defaults
    })
}

/// Whether `path` lies inside `root`, by its real path as far as it exists (so that neither
/// `..` nor a symlink leads out).
fn lies_inside(root: &Path, path: &Path) -> bool {
    let Ok(real_root) = fs_err::canonicalize(root) else {
        return false;
    };
    // The longest existing ancestor, resolved, then the rest without `..`.
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    while !existing.exists() {
        let Some(name) = existing.file_name() else {
            return false;
        };
        rest.push(name.to_owned());
        if !existing.pop() {
            return false;
        }
    }
    let Ok(mut real) = fs_err::canonicalize(&existing) else {
        return false;
    };
    for name in rest.into_iter().rev() {
        if name == ".." {
            return false;
        }
        real.push(name);
    }
    real.starts_with(&real_root)
}

/// The file's options; a key that is no option is an error naming it.
fn read_config(path: &Path) -> Result<ConfigFile> {
    if !path.is_file() {
        return Ok(ConfigFile::default());
    }
    let invalid = || {
        format!(
            "`{}` is not valid; fix or remove the key it names",
            path.display()
        )
    };
    let text = fs_err::read_to_string(path)?;
    let table: toml::Table = toml::from_str(&text).with_context(invalid)?;
    let known = option_names();
    if let Some(unknown) = table.keys().find(|key| !known.contains(key)) {
        return Err(anyhow::anyhow!(
            "unknown key `{unknown}`; the keys are the long names of the flags: {}",
            known.join(", ")
        ))
        .with_context(invalid);
    }
    toml::from_str(&text).with_context(invalid)
}

/// The long names of every option a folder can set: the file's keys.
fn option_names() -> Vec<String> {
    let command =
        ModelOptions::augment_args(FolderOptions::augment_args(clap::Command::new("options")));
    let mut names: Vec<String> = command
        .get_arguments()
        .filter_map(|arg| arg.get_long().map(str::to_owned))
        .collect();
    names.sort();
    names.dedup();
    names
}
