//! Note templates: folders of notes that are not notes.
//!
//! Obsidian keeps its templates (`templates/daily.md`, full of `{{date}}` placeholders) among
//! the notes. They have no meaning of their own: given a Closest section, each new note made
//! from them would inherit it, and listed in other notes they point people at a form. The
//! folder is named in the vault's settings, by the core Templates plugin
//! (`.obsidian/templates.json`, `{"folder": "templates"}`) and by the Templater plugin
//! (`.obsidian/plugins/templater-obsidian/data.json`, `"templates_folder"`), so the walk reads
//! it from there rather than guessing from folder names. A settings file that cannot be read is
//! a warning: the walk goes on without excluding that folder.

use std::fs;
use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::error::Warning;

/// Which setting named a template folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TemplateSource {
    /// Obsidian's core Templates plugin, `.obsidian/templates.json`.
    Obsidian,
    /// The Templater plugin, `.obsidian/plugins/templater-obsidian/data.json`.
    Templater,
}

/// A folder of note templates, named by an editor's settings.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct TemplateFolder {
    /// The folder relative to the notes root, `/`-separated.
    pub path: PathBuf,
    pub source: TemplateSource,
    /// The settings file that names it.
    pub config: PathBuf,
}

const SETTINGS: [(TemplateSource, &str, &str); 2] = [
    (
        TemplateSource::Obsidian,
        ".obsidian/templates.json",
        "folder",
    ),
    (
        TemplateSource::Templater,
        ".obsidian/plugins/templater-obsidian/data.json",
        "templates_folder",
    ),
];

/// The template folders the editors' settings in `root` name and that exist, with warnings
/// for settings files that could not be read.
pub fn template_folders(root: &Path) -> (Vec<TemplateFolder>, Vec<Warning>) {
    let mut folders = Vec::new();
    let mut warnings = Vec::new();
    for (source, file, field) in SETTINGS {
        let config = root.join(file);
        let warn = |reason: String| Warning::TemplateSettings {
            path: config.clone(),
            reason,
        };
        let text = match fs::read_to_string(&config) {
            Ok(text) => text,
            Err(error) if error.kind() == ErrorKind::NotFound => continue,
            Err(error) => {
                warnings.push(warn(error.to_string()));
                continue;
            }
        };
        let value: serde_json::Value = match serde_json::from_str(&text) {
            Ok(value) => value,
            Err(error) => {
                warnings.push(warn(format!("it is not valid JSON ({error})")));
                continue;
            }
        };
        let Some(named) = value.get(field).and_then(serde_json::Value::as_str) else {
            continue;
        };
        let Some(path) = folder_path(named) else {
            if !named.trim().trim_matches(['/', '\\']).is_empty() {
                warnings.push(warn(format!(
                    "`{named}` is not a folder inside the notes root"
                )));
            }
            continue;
        };
        if root.join(&path).is_dir() {
            folders.push(TemplateFolder {
                path,
                source,
                config,
            });
        }
    }
    (folders, warnings)
}

/// The folder a setting names, relative to the root: slashes at either end and `.` parts
/// dropped; `None` when it names the root itself or climbs out of it.
fn folder_path(named: &str) -> Option<PathBuf> {
    let mut parts = Vec::new();
    for part in named.trim().split(['/', '\\']) {
        match part {
            "" | "." => {}
            ".." => return None,
            name => parts.push(name),
        }
    }
    (!parts.is_empty()).then(|| PathBuf::from(parts.join("/")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_names_are_normalised() {
        assert_eq!(folder_path("/Templates/"), Some(PathBuf::from("Templates")));
        assert_eq!(folder_path("meta\\./tpl"), Some(PathBuf::from("meta/tpl")));
        assert_eq!(folder_path(""), None);
        assert_eq!(folder_path("/"), None);
        assert_eq!(folder_path("../outside"), None);
    }
}
