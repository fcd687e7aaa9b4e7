//! The state folder (`<notes>/.closest`, or `--state-dir`): store, vectors, index and lock. It
//! is rebuilt from the notes whenever it is lost, so it is made to stay out of the way: when
//! closest creates it, it writes a `.gitignore` that ignores everything in it (the folder never
//! shows in `git status` of a notes repository, whatever the repository ignores) and a
//! `CACHEDIR.TAG` (backup tools that honour cache tags, such as restic, borg or
//! `tar --exclude-caches`, skip it).

use std::io::Write;
use std::path::Path;

use crate::error::{Error, Result};

/// The folder's name inside the notes root when no `--state-dir` is given.
pub const DEFAULT_NAME: &str = ".closest";

/// https://bford.info/cachedir/: the first line is the signature tools look for.
const CACHEDIR_TAG: &str = "Signature: 8a477f597d28d172789f06886806bc55\n\
# This file is a cache directory tag created by closest: the folder is rebuilt from the notes.\n\
# For information about cache directory tags, see https://bford.info/cachedir/\n";

const GITIGNORE: &str =
    "# Created by closest: this folder is rebuilt from the notes, never committed.\n*\n";

/// Creates the state folder if it is missing, with its `.gitignore` and `CACHEDIR.TAG`. The two
/// markers also go into an existing folder that is empty or named `.closest` (made by an
/// earlier version), but never into another folder that was already there: a `--state-dir`
/// pointing at a folder of other files must not start ignoring them.
pub fn ensure(dir: &Path) -> Result<()> {
    let ours = match std::fs::read_dir(dir) {
        Ok(mut entries) => {
            entries.next().is_none() || dir.file_name().is_some_and(|name| name == DEFAULT_NAME)
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(dir)
                .map_err(|source| Error::io("create the state folder", dir, source))?;
            true
        }
        Err(source) => return Err(Error::io("read the state folder", dir, source)),
    };
    if ours {
        for (name, text) in [(".gitignore", GITIGNORE), ("CACHEDIR.TAG", CACHEDIR_TAG)] {
            write_new(&dir.join(name), text)?;
        }
    }
    Ok(())
}

/// Writes `text` to `path` unless the file exists (a user's own `.gitignore` stays).
fn write_new(path: &Path, text: &str) -> Result<()> {
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
    {
        Ok(mut file) => file
            .write_all(text.as_bytes())
            .map_err(|source| Error::io("write", path, source)),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(Error::io("create", path, source)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_folder_gets_both_markers_and_keeps_them() {
        let root = tempfile::tempdir().expect("tempdir");
        let dir = root.path().join("state/nested");
        ensure(&dir).expect("creates");
        let tag = std::fs::read_to_string(dir.join("CACHEDIR.TAG")).expect("tag");
        assert!(tag.starts_with("Signature: 8a477f597d28d172789f06886806bc55"));
        let ignore = std::fs::read_to_string(dir.join(".gitignore")).expect("ignore");
        assert!(ignore.lines().any(|line| line == "*"), "{ignore}");
        std::fs::write(dir.join(".gitignore"), "mine\n").expect("edit");
        ensure(&dir).expect("again");
        assert_eq!(
            std::fs::read_to_string(dir.join(".gitignore")).expect("read"),
            "mine\n"
        );
    }

    #[test]
    fn an_existing_folder_of_other_files_is_left_alone() {
        let root = tempfile::tempdir().expect("tempdir");
        std::fs::write(root.path().join("note.md"), "# a note\n").expect("write");
        ensure(root.path()).expect("exists");
        assert!(!root.path().join(".gitignore").exists());
        assert!(!root.path().join("CACHEDIR.TAG").exists());
        let old = root.path().join(DEFAULT_NAME);
        std::fs::create_dir(&old).expect("mkdir");
        std::fs::write(old.join("store.sqlite"), "").expect("write");
        ensure(&old).expect("upgrades");
        assert!(old.join(".gitignore").is_file() && old.join("CACHEDIR.TAG").is_file());
    }
}
