//! Taking the lists out again: `closest clean`, and the notes that leave the managed set.
//!
//! A tool that writes into people's notes needs a way out. `clean` takes every region it manages
//! out of every note (the current one and any the lock file says the lists were in before), so
//! that a note nobody edited has again the bytes it had before its first section, then removes
//! the lock file and the state folder. Lines a person typed in a section stay, with the heading
//! they are under. The same removal serves `update` for the notes an `exclude` added or an
//! `include` narrowed takes out of the managed set (`leavers`). Each note is replaced
//! atomically and only while it still has the bytes read, so a `clean` killed half way leaves
//! every note either as it was or clean, and running it again finishes the job.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use closest_notes::{read_note, remove_region, write_atomic, NoteFile, Region, RemoveOutcome};
use rayon::prelude::*;
use serde::Serialize;

use crate::error::{Error, Result, Warning};
use crate::lockfile::{Folder, LockFile};
use crate::progress::Reporter;
use crate::run::write::Mode;
use crate::settings::FolderSettings;

/// What `clean` did (or, with `--dry-run`, would do).
#[derive(Debug, Default, Serialize)]
pub struct CleanReport {
    /// Notes looked at.
    pub notes: usize,
    /// Notes whose lists were (or would be) taken out, by path relative to the root.
    pub cleaned: Vec<String>,
    /// Of those, the notes whose section heading stays over lines a person typed.
    pub typed: Vec<String>,
    /// Whether the lock file and the state folder were (or would be) removed.
    pub lock_file_removed: bool,
    pub state_removed: bool,
    /// Notes that could not be cleaned (the run exits 2).
    pub failed: usize,
    #[serde(skip)]
    pub warnings: Vec<Warning>,
}

/// What taking the regions out of one note gave.
pub(crate) enum TakenOut {
    Unchanged,
    /// Taken out (in write mode: written); `typed` when a heading stays over typed lines.
    Cleaned {
        typed: bool,
    },
    Failed(Warning),
}

/// Takes `regions` out of `file` (in write mode, writes the note).
pub(crate) fn take_out(
    file: &NoteFile,
    regions: &[Region],
    custom_lines: &[String],
    mode: Mode,
) -> TakenOut {
    let note = match read_note(file) {
        Ok(note) => note,
        Err(err) => return TakenOut::Failed(Warning::Skipped(err)),
    };
    let mut text = note.text().to_owned();
    let mut typed = false;
    for region in regions {
        match remove_region(&text, region, custom_lines) {
            RemoveOutcome::Removed(rest) => text = rest,
            RemoveOutcome::Typed { text: rest, .. } => {
                text = rest;
                typed = true;
            }
            RemoveOutcome::Left { line } => {
                return TakenOut::Failed(Warning::OldRegionLeft {
                    path: file.path.clone(),
                    line,
                })
            }
            RemoveOutcome::Absent => {}
        }
    }
    if text == note.text() {
        return TakenOut::Unchanged;
    }
    if mode != Mode::Write {
        return TakenOut::Cleaned { typed };
    }
    let path = file.path.clone();
    match write_atomic(&note, &text) {
        Ok(closest_notes::WriteOutcome::Written | closest_notes::WriteOutcome::Unchanged) => {
            TakenOut::Cleaned { typed }
        }
        Ok(closest_notes::WriteOutcome::ChangedDuringRun) => {
            TakenOut::Failed(Warning::ChangedDuringRun { path })
        }
        Ok(closest_notes::WriteOutcome::Deleted) => {
            TakenOut::Failed(Warning::DeletedDuringRun { path })
        }
        Ok(closest_notes::WriteOutcome::ReadOnly) => TakenOut::Failed(Warning::ReadOnly { path }),
        Err(err) => TakenOut::Failed(Warning::NotWritten(err)),
    }
}

/// Every region the folder's lists are, or were, written in.
pub(crate) fn all_regions(settings: &FolderSettings, folder: &Folder) -> Vec<Region> {
    let mut regions = vec![settings.region()];
    for region in &folder.old_regions {
        if !regions.contains(region) {
            regions.push(region.clone());
        }
    }
    regions
}

/// The notes the lock file says were managed that the settings now leave out (an `exclude`
/// added, an `include` narrowed), by their files.
pub(crate) fn leavers(settings: &FolderSettings, folder: &Folder) -> Result<Vec<NoteFile>> {
    let Some(before) = folder.lock.as_ref().and_then(|lock| lock.placed.as_ref()) else {
        return Ok(Vec::new());
    };
    if before.include == settings.include && before.exclude == settings.exclude {
        return Ok(Vec::new());
    }
    let mut options = settings.walk_options();
    let now: BTreeSet<PathBuf> = closest_notes::walk(&settings.root, &options)?
        .notes
        .into_iter()
        .map(|file| file.rel_path)
        .collect();
    options.include = before.include.clone();
    options.exclude = before.exclude.clone();
    Ok(closest_notes::walk(&settings.root, &options)?
        .notes
        .into_iter()
        .filter(|file| !now.contains(&file.rel_path))
        .collect())
}

/// Takes the lists out of the notes that left the managed set (see [`leavers`]); returns their
/// paths and what could not be done.
pub(crate) fn release_leavers(
    settings: &FolderSettings,
    folder: &Folder,
    mode: Mode,
) -> Result<(Vec<String>, Vec<Warning>)> {
    let regions = all_regions(settings, folder);
    let mut released = Vec::new();
    let mut warnings = Vec::new();
    for file in leavers(settings, folder)? {
        match take_out(&file, &regions, &folder.section.custom_lines, mode) {
            TakenOut::Unchanged => {}
            TakenOut::Cleaned { .. } => released.push(file.rel_path.display().to_string()),
            TakenOut::Failed(warning) => warnings.push(warning),
        }
    }
    released.sort();
    Ok((released, warnings))
}

/// `closest clean`: takes every list out of every note, then removes the lock file and the
/// state folder (`Mode::DryRun`: says what would go, changes nothing).
pub fn clean(
    settings: &FolderSettings,
    mode: Mode,
    reporter: &dyn Reporter,
) -> Result<CleanReport> {
    let lock = match mode {
        Mode::Write => Some(crate::lock::FolderLock::acquire(
            &settings.state_dir,
            &|path| {
                reporter.note(&format!(
                    "waiting for another closest run on this folder (lock `{}`)",
                    path.display()
                ))
            },
        )?),
        _ => None,
    };
    let mut warnings = Vec::new();
    let folder = Folder::open(settings, &mut warnings);
    let regions = all_regions(settings, &folder);
    let mut files = closest_notes::walk(&settings.root, &settings.walk_options())?.notes;
    files.extend(leavers(settings, &folder)?);
    let bar = reporter.bar("cleaning", files.len() as u64);
    let outcomes: Vec<(String, TakenOut)> = files
        .par_iter()
        .map(|file| {
            let outcome = take_out(file, &regions, &folder.section.custom_lines, mode);
            bar.inc(1);
            (file.rel_path.display().to_string(), outcome)
        })
        .collect();
    bar.finish();
    let mut report = CleanReport {
        notes: files.len(),
        warnings,
        ..CleanReport::default()
    };
    for (path, outcome) in outcomes {
        match outcome {
            TakenOut::Unchanged => {}
            TakenOut::Cleaned { typed } => {
                if typed {
                    report.typed.push(path.clone());
                }
                report.cleaned.push(path);
            }
            TakenOut::Failed(warning) => {
                report.failed += 1;
                report.warnings.push(warning);
            }
        }
    }
    report.cleaned.sort();
    report.typed.sort();
    for warning in &report.warnings {
        reporter.warn(warning);
    }
    if report.failed > 0 {
        // The lock file still says where the lists are, for the next `clean`.
        return Ok(report);
    }
    let lock_path = LockFile::path(&settings.root);
    report.lock_file_removed = lock_path.exists();
    report.state_removed = settings.state_dir.exists();
    if mode == Mode::Write {
        match std::fs::remove_file(&lock_path) {
            Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
                return Err(Error::io("remove the lock file", lock_path, err))
            }
            _ => {}
        }
        drop(lock);
        remove_state(&settings.state_dir)?;
    }
    Ok(report)
}

/// Removes the state folder: whole when closest made it (it holds closest's cache tag), else
/// only the files closest puts in one, so that a `--state-dir` pointing at a folder of other
/// files loses none of them.
fn remove_state(dir: &Path) -> Result<()> {
    let tag = std::fs::read_to_string(dir.join("CACHEDIR.TAG")).unwrap_or_default();
    let ours = tag.contains("created by closest");
    let result = if ours {
        std::fs::remove_dir_all(dir)
    } else {
        remove_own_files(dir)
    };
    match result {
        Err(err) if err.kind() != std::io::ErrorKind::NotFound => {
            Err(Error::io("remove the state folder", dir, err))
        }
        _ => Ok(()),
    }
}

fn remove_own_files(dir: &Path) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let own = name.starts_with("store.sqlite")
            || (name.starts_with("vectors-") && name.ends_with(".f32"))
            || matches!(name.as_str(), "lock" | "learned.json" | "index");
        if own {
            if entry.file_type()?.is_dir() {
                std::fs::remove_dir_all(entry.path())?;
            } else {
                std::fs::remove_file(entry.path())?;
            }
        }
    }
    Ok(())
}
