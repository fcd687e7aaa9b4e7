//! What a run learns from the whole folder and keeps: the boilerplate lines left out of every
//! note's text, and each word's document frequency for the lexical score.
//!
//! Both are learned on the first run, when every note is read anyway, and kept in
//! `<state>/learned.json`, so that a note added later is prepared and weighed by the statistics
//! the others were: a few new notes never shift the boilerplate set or the word weights and so
//! never re-embed or re-rank the folder. They are learned again by `update --full`, when the
//! file is missing or unreadable, and once the notes added, edited or deleted since learning
//! reach [`DRIFT_SHARE`] of the notes learned from (counted by the store). A run that learns
//! again reads every note.
//!
//! The file is part of what the lists depend on, like the settings: the same folder with the
//! same `learned.json` gives the same bytes, whether the store is warm or rebuilt from nothing.

use std::path::{Path, PathBuf};

use closest_notes::{term_counts, Boilerplate, Idf};
use serde::{Deserialize, Serialize};
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};

pub const LEARNED_FILE: &str = "learned.json";

/// Notes changed since learning, as a share of the notes learned from, past which the next
/// run learns again.
pub const DRIFT_SHARE: f64 = 0.25;

const VERSION: u32 = 1;

/// The folder's learned statistics and the id of the file they are (or will be) kept in.
#[derive(Debug, Clone)]
pub struct Learned {
    pub boilerplate: Boilerplate,
    pub idf: Idf,
    /// A hash of the file's bytes: what the store's texts and lexical vectors were made with.
    pub id: String,
}

#[derive(Serialize, Deserialize)]
struct File {
    version: u32,
    notes: u32,
    boilerplate: Vec<String>,
    /// Word ids, sorted, and how many notes have each.
    terms: Vec<u32>,
    df: Vec<u32>,
}

impl Learned {
    /// Statistics just learned (`prepare::learn_from`), with the id of the file they will be
    /// kept in.
    pub fn new(boilerplate: Boilerplate, idf: Idf) -> Learned {
        let mut learned = Learned {
            boilerplate,
            idf,
            id: String::new(),
        };
        learned.id = id_of(&learned.to_bytes());
        learned
    }

    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join(LEARNED_FILE)
    }

    /// The kept statistics: `Ok(None)` when there are none; an error says why a file present
    /// cannot be used (the caller learns again and warns).
    pub fn load(state_dir: &Path) -> std::result::Result<Option<Learned>, String> {
        let path = Learned::path(state_dir);
        let bytes = match std::fs::read(&path) {
            Ok(bytes) => bytes,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(format!("cannot read `{}`: {err}", path.display())),
        };
        let file: File = serde_json::from_slice(&bytes)
            .map_err(|err| format!("`{}` is damaged: {err}", path.display()))?;
        if file.version != VERSION {
            return Ok(None);
        }
        if file.terms.len() != file.df.len() {
            return Err(format!(
                "`{}` is damaged: terms and df differ in length",
                path.display()
            ));
        }
        Ok(Some(Learned {
            boilerplate: Boilerplate::from_lines(file.boilerplate),
            idf: Idf::from_parts(file.notes, file.terms.into_iter().zip(file.df)),
            id: id_of(&bytes),
        }))
    }

    /// Keeps the statistics in `<state>/learned.json` (atomically).
    pub fn save(&self, state_dir: &Path) -> Result<()> {
        let path = Learned::path(state_dir);
        let bytes = self.to_bytes();
        let io = |source: std::io::Error| Error::Io {
            action: "write the learned statistics to",
            path: path.clone(),
            source,
        };
        let mut temp = tempfile::NamedTempFile::new_in(state_dir).map_err(io)?;
        std::io::Write::write_all(&mut temp, &bytes).map_err(io)?;
        // Readable like the store beside it (a temporary file starts private).
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            temp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))
                .map_err(io)?;
        }
        temp.as_file().sync_all().map_err(io)?;
        temp.persist(&path).map_err(|err| io(err.error))?;
        Ok(())
    }

    fn to_bytes(&self) -> Vec<u8> {
        let parts = self.idf.parts();
        let file = File {
            version: VERSION,
            notes: self.idf.notes(),
            boilerplate: self.boilerplate.lines().map(str::to_owned).collect(),
            terms: parts.iter().map(|&(term, _)| term).collect(),
            df: parts.iter().map(|&(_, df)| df).collect(),
        };
        serde_json::to_vec(&file).expect("plain data serialises")
    }

    /// The text to embed from `embed_text`'s, and its lexical vector.
    pub fn prepare(&self, raw: &str) -> (String, Vec<(u32, f32)>) {
        let text = self.boilerplate.strip(raw);
        let terms = self.idf.weigh(&term_counts(&text));
        (text, terms)
    }
}

fn id_of(bytes: &[u8]) -> String {
    format!("{:016x}", xxh3_64(bytes))
}
