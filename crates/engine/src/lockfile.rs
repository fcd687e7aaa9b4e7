//! The folder's lock file, `.closest.lock` beside the notes: what the sections are computed
//! with besides the notes and the settings.
//!
//! The state folder is a cache, ignored by git and rebuilt whenever it is lost, so nothing that
//! decides a byte of output may live only there. Two things would otherwise: the statistics
//! learned from the folder (boilerplate lines, word frequencies; `learned.rs`), and where the
//! lists were last written (the region, the custom link line, the notes managed), which a run
//! needs to take an old list out after the settings move it. Both are kept here, in TOML with
//! one entry a line, so that `git add -A` commits them with the notes, a sync tool carries them,
//! and a clone gives the same bytes as its author. Like `Cargo.lock`, it changes only when a run
//! learns the folder again (the first run, `update --full`, or once the notes have drifted from
//! the ones learned from) or when the settings move the lists; a diff that touches many notes
//! comes with a diff of this file that says why.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use closest_notes::{Boilerplate, Idf, Region, SectionSpec};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result, Warning};
use crate::floor::Floor;
use crate::learned::{Learned, Sketch};
use crate::settings::FolderSettings;

/// The file's name in the notes root.
pub const LOCK_FILE: &str = ".closest.lock";

const VERSION: u32 = 1;

const HEADER: &str =
    "# What this folder's Closest sections are computed with, besides the notes and \
`.closest.toml`.\n# Written by `closest update`; commit it with the notes. It changes when closest \
learns the\n# folder again (first run, `--full`, or once the notes drift from those learned from) \
or when\n# the settings move the lists.\n";

/// Where the lists were last written, and of which notes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Placed {
    pub region: Region,
    /// The custom link line in use, if any: lines of its shape are `closest`'s.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub custom_lines: Vec<String>,
    /// The managed notes: the include and exclude globs.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub include: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub exclude: Vec<String>,
}

/// The lock file's contents.
#[derive(Debug, Clone)]
pub struct LockFile {
    pub placed: Option<Placed>,
    /// The least score a shown link has (`floor.rs`).
    pub floor: Option<Floor>,
    pub learned: Option<Learned>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct File {
    version: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    lists: Option<Placed>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    floor: Option<Floor>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    learned: Option<LearnedFile>,
}

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct LearnedFile {
    /// Notes learned from.
    notes: u32,
    boilerplate: Vec<String>,
    /// The smallest hashes of the texts learned from (`learned::Sketch`), in hex.
    sketch: Vec<String>,
    /// Each word (by the hex of its id) and the number of notes that have it.
    df: BTreeMap<String, u32>,
}

impl LockFile {
    pub fn path(root: &Path) -> PathBuf {
        root.join(LOCK_FILE)
    }

    /// The folder's lock file: `Ok(None)` when there is none; an error says what is wrong
    /// with one that is there.
    pub fn load(root: &Path) -> std::result::Result<Option<LockFile>, String> {
        let path = LockFile::path(root);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(err) => return Err(format!("cannot read `{}`: {err}", path.display())),
        };
        LockFile::parse(&text).map(Some).map_err(|reason| {
            format!(
                "`{}` is damaged ({reason}); remove it to learn the folder again",
                path.display()
            )
        })
    }

    fn parse(text: &str) -> std::result::Result<LockFile, String> {
        let file: File = toml::from_str(text).map_err(|err| err.message().to_owned())?;
        if file.version != VERSION {
            return Err(format!(
                "version {} where this closest reads {VERSION}",
                file.version
            ));
        }
        let learned = match file.learned {
            None => None,
            Some(learned) => {
                let mut df = Vec::with_capacity(learned.df.len());
                for (term, count) in learned.df {
                    let term = u32::from_str_radix(&term, 16)
                        .map_err(|_| format!("`{term}` is not a word id"))?;
                    df.push((term, count));
                }
                let mut sketch = Vec::with_capacity(learned.sketch.len());
                for hex in &learned.sketch {
                    let hash = crate::hash::from_hex(hex)
                        .filter(|_| hex.len() == 32)
                        .ok_or_else(|| format!("`{hex}` is not a text hash"))?;
                    sketch.push(hash);
                }
                Some(Learned::new(
                    Boilerplate::from_lines(learned.boilerplate),
                    Idf::from_parts(learned.notes, df),
                    Sketch::from_hashes(sketch),
                ))
            }
        };
        Ok(LockFile {
            placed: file.lists,
            floor: file.floor,
            learned,
        })
    }

    /// The file's text: a header, then one entry a line.
    pub fn to_text(&self) -> String {
        let learned = self.learned.as_ref().map(|learned| LearnedFile {
            notes: learned.idf.notes(),
            boilerplate: learned.boilerplate.lines().map(str::to_owned).collect(),
            sketch: learned.sketch.hashes().iter().map(hex).collect(),
            df: learned
                .idf
                .parts()
                .into_iter()
                .map(|(term, count)| (format!("{term:08x}"), count))
                .collect(),
        });
        let file = File {
            version: VERSION,
            lists: self.placed.clone(),
            floor: self.floor.clone(),
            learned,
        };
        let body = toml::to_string_pretty(&file).expect("plain data serialises");
        format!("{HEADER}{body}")
    }

    /// Writes the file atomically (readable like the notes beside it).
    pub fn save(&self, root: &Path) -> Result<()> {
        let path = LockFile::path(root);
        let io = |source: std::io::Error| Error::io("write the lock file", &path, source);
        let mut temp = tempfile::Builder::new()
            .prefix(".closest.lock.")
            .tempfile_in(root)
            .map_err(io)?;
        std::io::Write::write_all(&mut temp, self.to_text().as_bytes()).map_err(io)?;
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
}

/// What a run knows of the folder besides its notes: the lock file as found, the statistics
/// to prepare with, and where old lists may be.
#[derive(Debug, Clone)]
pub struct Folder {
    pub lock: Option<LockFile>,
    /// The lock file's statistics, or those an earlier version kept in the state folder
    /// (adopted, with an empty sketch the run fills).
    pub learned: Option<Learned>,
    /// The section with the link lines of the lock file's custom line as `closest`'s too.
    pub section: SectionSpec,
    /// The region the lock file says the lists are in, when the settings moved them.
    pub old_regions: Vec<Region>,
    /// The lock file's floor, whatever it was learned under.
    pub floor: Option<Floor>,
    /// What the lock file says of the lists after this run.
    pub placed: Placed,
}

impl Folder {
    /// Reads the folder's lock file; a damaged one is a warning, and the folder is learned
    /// again.
    pub fn open(settings: &FolderSettings, warnings: &mut Vec<Warning>) -> Folder {
        let lock = match LockFile::load(&settings.root) {
            Ok(lock) => lock,
            Err(reason) => {
                warnings.push(Warning::Store(format!(
                    "{reason}; learning the folder again"
                )));
                None
            }
        };
        let placed = Placed {
            region: settings.region(),
            custom_lines: settings.section.custom_lines.clone(),
            include: settings.include.clone(),
            exclude: settings.exclude.clone(),
        };
        let learned = match &lock {
            Some(LockFile {
                learned: Some(learned),
                ..
            }) => Some(learned.clone()),
            _ => legacy_learned(&settings.state_dir),
        };
        let before = lock.as_ref().and_then(|lock| lock.placed.clone());
        let mut custom = settings.section.custom_lines.clone();
        let mut old_regions = Vec::new();
        if let Some(before) = &before {
            for line in &before.custom_lines {
                if !custom.contains(line) {
                    custom.push(line.clone());
                }
            }
            if before.region != placed.region {
                old_regions.push(before.region.clone());
            }
        }
        Folder {
            floor: lock.as_ref().and_then(|lock| lock.floor.clone()),
            lock,
            learned,
            section: settings.section.clone().with_custom_lines(custom),
            old_regions,
            placed,
        }
    }

    /// Why the lock file must be written after a run that prepared with `learned` and shows
    /// links above `floor`, if it must.
    pub fn change(&self, learned: &Learned, floor: Option<&Floor>) -> Option<&'static str> {
        let Some(lock) = &self.lock else {
            return Some("missing");
        };
        match &lock.learned {
            Some(kept) if kept.id == learned.id && kept.sketch == learned.sketch => {}
            _ => return Some("the folder was learned again"),
        }
        if lock.floor.as_ref() != floor {
            return Some("the floor was learned again");
        }
        (lock.placed.as_ref() != Some(&self.placed)).then_some("the settings moved the lists")
    }

    /// The lock file after a run that prepared with `learned` and shows links above `floor`.
    pub fn after(&self, learned: &Learned, floor: Option<&Floor>) -> LockFile {
        LockFile {
            placed: Some(self.placed.clone()),
            floor: floor.cloned(),
            learned: Some(learned.clone()),
        }
    }
}

/// Statistics an earlier version kept in `<state>/learned.json`: taken over once, so that an
/// upgrade does not learn the folder again.
fn legacy_learned(state_dir: &Path) -> Option<Learned> {
    #[derive(Deserialize)]
    struct Legacy {
        version: u32,
        notes: u32,
        boilerplate: Vec<String>,
        terms: Vec<u32>,
        df: Vec<u32>,
    }
    let bytes = std::fs::read(state_dir.join("learned.json")).ok()?;
    let legacy: Legacy = serde_json::from_slice(&bytes).ok()?;
    (legacy.version == 1 && legacy.terms.len() == legacy.df.len()).then(|| {
        Learned::new(
            Boilerplate::from_lines(legacy.boilerplate),
            Idf::from_parts(legacy.notes, legacy.terms.into_iter().zip(legacy.df)),
            Sketch::default(),
        )
    })
}

fn hex(hash: &crate::hash::TextHash) -> String {
    hash.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::hash::text_hash;

    #[test]
    fn a_lock_file_reads_back_as_written() {
        let idf = Idf::from_parts(3, [(7, 2), (0xdead_beef, 1)]);
        let learned = Learned::new(
            Boilerplate::from_lines(["## Summary".to_string()]),
            idf,
            Sketch::of([text_hash("a"), text_hash("b")]),
        );
        let lock = LockFile {
            placed: Some(Placed {
                region: Region::Section {
                    heading: "Closest".into(),
                    level: 2,
                },
                custom_lines: vec!["- {title} [{id}]({link})".into()],
                include: Vec::new(),
                exclude: vec!["archive/**".into()],
            }),
            floor: Some(Floor {
                score: 0.21,
                key: "0123456789abcdef".into(),
            }),
            learned: Some(learned.clone()),
        };
        let text = lock.to_text();
        assert!(text.contains("\ndeadbeef = 1\n"), "{text}");
        let back = LockFile::parse(&text).expect("parses");
        assert_eq!(back.placed, lock.placed);
        assert_eq!(back.floor, lock.floor);
        let back = back.learned.expect("learned");
        assert_eq!(back.id, learned.id);
        assert_eq!(back.sketch, learned.sketch);
        assert_eq!(back.to_text_parts(), learned.to_text_parts());
        assert!(LockFile::parse("version = 9\n").is_err());
    }

    impl Learned {
        fn to_text_parts(&self) -> (Vec<String>, Vec<(u32, u32)>) {
            (
                self.boilerplate.lines().map(str::to_owned).collect(),
                self.idf.parts(),
            )
        }
    }
}
