//! Never outside the notes root.
//!
//! A folder someone else wrote (a cloned team wiki, a documentation site) can hold symlinks that
//! lead anywhere: `zz-readme.md -> ../victim/bashrc`. `closest` reads and writes note text only
//! inside the notes root, so every note reached through a link is checked by its real path: a
//! link that leads out is skipped with a warning by the walk, refused by a read, and never
//! written through. The check is made again when a note is opened, so a note swapped for such a
//! link after the walk (or after the last `update`, for `serve` and `mcp`) is not read through.

use std::io;
use std::path::{Path, PathBuf};

/// The notes root a note's `path` lies in, given its path relative to the root.
pub(crate) fn root_of<'p>(path: &'p Path, rel_path: &Path) -> &'p Path {
    let mut root = path;
    for _ in rel_path.components() {
        root = root.parent().unwrap_or(Path::new(""));
    }
    root
}

/// Where a note's path leads when it is (or passes through) a symlink: `Ok(None)` when it is a
/// plain file of the root; `Ok(Some(real))` for a link whose real path is inside the root; an
/// error naming the real path when it leads out.
pub(crate) fn resolve_inside(path: &Path, rel_path: &Path) -> io::Result<Option<PathBuf>> {
    let metadata = std::fs::symlink_metadata(path)?;
    let root = root_of(path, rel_path);
    let through_link = metadata.file_type().is_symlink() || folders_are_links(path, root)?;
    if !through_link {
        return Ok(None);
    }
    let real = std::fs::canonicalize(path)?;
    let real_root = std::fs::canonicalize(if root.as_os_str().is_empty() {
        Path::new(".")
    } else {
        root
    })?;
    if real.starts_with(&real_root) {
        Ok(Some(real))
    } else {
        Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            OutsideRoot { real },
        ))
    }
}

/// Whether a folder between the root and the note is a symlink.
fn folders_are_links(path: &Path, root: &Path) -> io::Result<bool> {
    let mut folder = path.parent();
    while let Some(current) = folder {
        if current == root || current.as_os_str().is_empty() {
            return Ok(false);
        }
        if std::fs::symlink_metadata(current)?.file_type().is_symlink() {
            return Ok(true);
        }
        folder = current.parent();
    }
    Ok(false)
}

/// The cause of a refused read or write: the real path a link leads to.
#[derive(Debug)]
pub(crate) struct OutsideRoot {
    pub real: PathBuf,
}

impl std::fmt::Display for OutsideRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "it is a link to `{}`, outside the notes folder; closest reads and writes only inside it",
            self.real.display()
        )
    }
}

impl std::error::Error for OutsideRoot {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_out_of_the_root_are_refused_and_links_inside_followed() {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().join("notes");
        std::fs::create_dir_all(root.join("sub")).expect("mkdir");
        std::fs::write(root.join("a.md"), "a").expect("write");
        std::fs::write(dir.path().join("secret"), "s").expect("write");
        std::os::unix::fs::symlink("../secret", root.join("out.md")).expect("link");
        std::os::unix::fs::symlink("a.md", root.join("in.md")).expect("link");
        std::os::unix::fs::symlink("..", root.join("sub/up")).expect("link");
        assert!(resolve_inside(&root.join("a.md"), Path::new("a.md"))
            .expect("plain")
            .is_none());
        assert_eq!(
            resolve_inside(&root.join("in.md"), Path::new("in.md")).expect("inside"),
            Some(std::fs::canonicalize(root.join("a.md")).expect("real"))
        );
        let refused =
            resolve_inside(&root.join("out.md"), Path::new("out.md")).expect_err("outside");
        assert!(refused.to_string().contains("secret"), "{refused}");
        let through = resolve_inside(&root.join("sub/up/a.md"), Path::new("sub/up/a.md"))
            .expect("a folder link inside the root");
        assert!(through.is_some());
        assert_eq!(root_of(&root.join("sub/x.md"), Path::new("sub/x.md")), root);
    }
}
