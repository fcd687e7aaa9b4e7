//! Finding the notes of a folder and giving each its id.
//!
//! Users keep notes in folders that also hold drafts, attachments, editor settings and git
//! metadata, and they already say what is not theirs to touch in `.gitignore` files. The walk
//! therefore uses the `ignore` crate, the one ripgrep uses, so that `.gitignore` (even outside a
//! git repository), `.ignore` and a tool-specific `.closestignore` all mean what users expect.
//! Ids must be unique because links point at them; where the scheme allows no fallback, a
//! clash is an error that names both files, never a silent pick of one. Folders of note
//! templates that an editor's settings name are left out by default (see `templates.rs`), and
//! the walk says which, so that `status` can tell people why those notes have no section.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use globset::{Glob, GlobSet, GlobSetBuilder};
use ignore::WalkBuilder;
use rayon::slice::ParallelSliceMut;

use crate::error::{Error, Warning};
use crate::ids::{ids_for, IdScheme};
use crate::note::NoteFile;
use crate::templates::{template_folders, TemplateFolder};
use crate::write::TEMP_FILE_PREFIX;

/// The file name of the tool's own ignore file, read in every folder like `.gitignore`.
pub const IGNORE_FILE_NAME: &str = ".closestignore";

/// What to walk. The default takes every `.md` file that no ignore file excludes.
///
/// Globs use `globset` syntax and are matched against the `/`-separated path relative to the
/// root. As in `.gitignore` bodies, `*` also matches across folders, so `*.draft.md` skips
/// drafts at any depth; an excluded folder is not entered at all.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalkOptions {
    /// Globs matched against the path relative to the root; when not empty, a note must match
    /// one of them.
    pub include: Vec<String>,
    /// Globs matched against the path relative to the root; a matching note or folder is
    /// skipped.
    pub exclude: Vec<String>,
    pub follow_symlinks: bool,
    pub id_scheme: IdScheme,
    /// Whether to skip the template folders that Obsidian's settings name (on by default).
    pub exclude_template_folders: bool,
}

impl Default for WalkOptions {
    fn default() -> Self {
        WalkOptions {
            include: Vec::new(),
            exclude: Vec::new(),
            follow_symlinks: false,
            id_scheme: IdScheme::default(),
            exclude_template_folders: true,
        }
    }
}

/// The notes of a folder, sorted by id, and what the walk skipped.
#[derive(Debug, Clone, Default)]
pub struct Walk {
    pub notes: Vec<NoteFile>,
    pub warnings: Vec<Warning>,
    /// Temporary files of interrupted writes (`.closest-tmp-*`) found beside notes.
    pub temp_files: Vec<PathBuf>,
    /// The template folders that were left out, as the editors' settings name them.
    pub template_folders: Vec<TemplateFolder>,
}

/// Walks `root` for `.md` notes.
///
/// Hidden files and folders (`.git`, `.obsidian`, `.closest`) are skipped, as is whatever a
/// `.gitignore`, `.ignore` or `.closestignore` excludes, and, unless turned off, the template
/// folders Obsidian's settings name. Unreadable folders, symlinks that are not followed,
/// symlink loops and unreadable template settings become warnings; only a missing root, a bad
/// glob or two notes with one id (under a scheme without fallback) are errors.
pub fn walk(root: &Path, options: &WalkOptions) -> Result<Walk, Error> {
    walk_inner(root, options, false).map(|(walk, _)| walk)
}

/// A note file's size, modification time and inode, as `stat` gives them (following a
/// symlink to its note).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FileStat {
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
}

/// `walk`, with each note's stat taken as the walk finds it (`None` when it vanished), by
/// position in `Walk::notes`: the threads that read a folder look its notes up in it, while
/// the folder is fresh in the kernel's caches.
pub fn walk_with_stats(
    root: &Path,
    options: &WalkOptions,
) -> Result<(Walk, Vec<Option<FileStat>>), Error> {
    walk_inner(root, options, true)
}

fn walk_inner(
    root: &Path,
    options: &WalkOptions,
    stats: bool,
) -> Result<(Walk, Vec<Option<FileStat>>), Error> {
    let metadata = std::fs::metadata(root).map_err(|source| Error::Root {
        path: root.to_path_buf(),
        source,
    })?;
    if !metadata.is_dir() {
        return Err(Error::RootNotAFolder {
            path: root.to_path_buf(),
        });
    }
    let include = glob_set(&options.include)?;
    let exclude = glob_set(&options.exclude)?;
    let mut walk = Walk::default();
    if options.exclude_template_folders {
        let (folders, warnings) = template_folders(root);
        walk.template_folders = folders;
        walk.warnings.extend(warnings);
    }
    let templates: Vec<String> = walk
        .template_folders
        .iter()
        .map(|folder| folder.path.to_string_lossy().into_owned())
        .collect();

    let mut builder = WalkBuilder::new(root);
    builder
        // Hidden entries are skipped below, where the temporary files of killed writes are
        // noticed on the way.
        .hidden(false)
        .ignore(true)
        .git_ignore(true)
        .git_exclude(true)
        .git_global(true)
        // Notes folders are often not repositories, and their `.gitignore` still says what
        // the user considers not a note.
        .require_git(false)
        .follow_links(options.follow_symlinks);
    builder.add_custom_ignore_filename(IGNORE_FILE_NAME);
    // Pruning excluded folders here saves reading them at all, which matters for large
    // attachment folders.
    let prune = exclude.clone();
    let prune_root = root.to_path_buf();
    let temp_files = Arc::new(Mutex::new(Vec::new()));
    let found_temp = Arc::clone(&temp_files);
    let links_out = Arc::new(Mutex::new(Vec::new()));
    let found_out = Arc::clone(&links_out);
    let real_root = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_path_buf());
    builder.filter_entry(move |entry| {
        if entry.depth() == 0 {
            return true;
        }
        let name = entry.file_name().to_string_lossy();
        if name.starts_with('.') {
            if name.starts_with(TEMP_FILE_PREFIX) {
                lock(&found_temp).push(entry.path().to_path_buf());
            }
            return false;
        }
        let is_dir = entry.file_type().is_some_and(|kind| kind.is_dir());
        if !is_dir {
            return true;
        }
        if entry.path_is_symlink() {
            // A followed link to a folder outside the root is not walked at all.
            match std::fs::canonicalize(entry.path()) {
                Ok(real) if !real.starts_with(&real_root) => {
                    lock(&found_out).push(Warning::LinkOutsideRoot {
                        path: entry.path().to_path_buf(),
                        real,
                    });
                    return false;
                }
                _ => {}
            }
        }
        match relative_text(&prune_root, entry.path()) {
            Some(rel) => !prune.is_match(&rel) && !templates.contains(&rel),
            None => true,
        }
    });

    // Folders are read on every core; the notes are sorted afterwards, so the result does not
    // depend on the order the threads found them in.
    // Each thread collects into its own lists and hands them over when it finishes.
    let found: Mutex<Vec<Vec<Found>>> = Mutex::new(Vec::new());
    let warnings: Mutex<Vec<Warning>> = Mutex::new(Vec::new());
    builder.build_parallel().run(|| {
        let mut local = Collected {
            found: Vec::new(),
            warnings: Vec::new(),
            into_found: &found,
            into_warnings: &warnings,
            folder: None,
        };
        let (include, exclude) = (&include, &exclude);
        Box::new(move |result| {
            match visit(root, options, include, exclude, result) {
                Visit::Note(note, rel) => local.push(note, rel, stats),
                Visit::Warnings(more) => local.warnings.extend(more),
                Visit::NoteWithWarnings(note, rel, more) => {
                    local.push(note, rel, stats);
                    local.warnings.extend(more);
                }
                Visit::Nothing => {}
            }
            ignore::WalkState::Continue
        })
    });
    // In the order the threads found them: ids depend on the set of paths only, and the notes
    // are sorted by id below.
    let found = found
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut more = warnings
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    more.sort_by(|a, b| {
        a.path()
            .cmp(b.path())
            .then_with(|| a.to_string().cmp(&b.to_string()))
    });
    walk.warnings.extend(more);
    let mut out = std::mem::take(&mut *lock(&links_out));
    out.sort_by(|a, b| a.path().cmp(b.path()));
    walk.warnings.extend(out);
    let mut temp = std::mem::take(&mut *lock(&temp_files));
    temp.sort();
    walk.temp_files = temp;
    let rels: Vec<&str> = found
        .iter()
        .flatten()
        .map(|found| found.1.as_str())
        .collect();
    let ids = ids_for(&rels, options.id_scheme);
    drop(rels);
    let mut notes: Vec<(NoteFile, Option<FileStat>)> = Vec::with_capacity(ids.len());
    for ((mut note, _, stat), id) in found.into_iter().flatten().zip(ids) {
        note.id = id;
        notes.push((note, stat));
    }
    notes.par_sort_unstable_by(|(a, _), (b, _)| (&a.id, &a.rel_path).cmp(&(&b.id, &b.rel_path)));
    let (sorted, stats): (Vec<NoteFile>, Vec<Option<FileStat>>) = notes.into_iter().unzip();
    walk.notes = sorted;
    if let Some(pair) = walk.notes.windows(2).find(|pair| pair[0].id == pair[1].id) {
        return Err(Error::DuplicateId {
            id: pair[0].id.clone(),
            first: pair[0].path.clone(),
            second: pair[1].path.clone(),
        });
    }
    Ok((walk, stats))
}

/// A note the walk found: the file, its path relative to the root, its stat if taken.
type Found = (NoteFile, String, Option<FileStat>);

/// Notes a walker thread collects before it hands them over as one block: a million notes are
/// never copied to grow a list.
const FOUND_BLOCK: usize = 8_192;

/// One walker thread's notes and warnings, handed over a block of notes at a time and when the
/// thread drops it.
struct Collected<'a> {
    found: Vec<Found>,
    warnings: Vec<Warning>,
    into_found: &'a Mutex<Vec<Vec<Found>>>,
    into_warnings: &'a Mutex<Vec<Warning>>,
    /// The folder of the last note stat'ed, open (a thread reads one folder at a time).
    #[cfg(unix)]
    folder: Option<(Vec<u8>, rustix::fd::OwnedFd)>,
    #[cfg(not(unix))]
    folder: Option<()>,
}

impl Collected<'_> {
    fn push(&mut self, note: NoteFile, rel: String, stats: bool) {
        let stat = if stats { self.stat(&note.path) } else { None };
        if self.found.len() == FOUND_BLOCK {
            let block = std::mem::replace(&mut self.found, Vec::with_capacity(FOUND_BLOCK));
            lock(self.into_found).push(block);
        }
        self.found.push((note, rel, stat));
    }

    /// The note's stat, looked up by name in its open folder (no path walk per note).
    #[cfg(unix)]
    fn stat(&mut self, path: &Path) -> Option<FileStat> {
        use rustix::fs::{open, statat, AtFlags, Mode, OFlags};
        use std::os::unix::ffi::OsStrExt;
        let bytes = path.as_os_str().as_bytes();
        let Some(cut) = bytes.iter().rposition(|&byte| byte == b'/') else {
            return stat_path(path);
        };
        let (folder, name) = (&bytes[..cut.max(1)], &bytes[cut + 1..]);
        if self
            .folder
            .as_ref()
            .is_none_or(|(open, _)| open.as_slice() != folder)
        {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
            self.folder = open(std::ffi::OsStr::from_bytes(folder), flags, Mode::empty())
                .ok()
                .map(|fd| (folder.to_vec(), fd));
        }
        match &self.folder {
            Some((_, fd)) => statat(fd, std::ffi::OsStr::from_bytes(name), AtFlags::empty())
                .ok()
                .map(|st| FileStat {
                    size: st.st_size as u64,
                    mtime_ns: st.st_mtime * 1_000_000_000 + st.st_mtime_nsec as i64,
                    inode: st.st_ino,
                }),
            None => stat_path(path),
        }
    }

    #[cfg(not(unix))]
    fn stat(&mut self, path: &Path) -> Option<FileStat> {
        stat_path(path)
    }
}

/// A file's stat by its path (following a symlink to its note).
pub fn stat_path(path: &Path) -> Option<FileStat> {
    std::fs::metadata(path)
        .ok()
        .map(|metadata| FileStat::from_metadata(&metadata))
}

impl FileStat {
    /// The stat in `metadata` (no inode where the platform has none).
    pub fn from_metadata(metadata: &std::fs::Metadata) -> FileStat {
        #[cfg(unix)]
        {
            use std::os::unix::fs::MetadataExt;
            FileStat {
                size: metadata.len(),
                mtime_ns: metadata.mtime() * 1_000_000_000 + metadata.mtime_nsec(),
                inode: metadata.ino(),
            }
        }
        #[cfg(not(unix))]
        {
            let mtime_ns = metadata
                .modified()
                .ok()
                .and_then(|time| time.duration_since(std::time::UNIX_EPOCH).ok())
                .map_or(0, |duration| duration.as_nanos() as i64);
            FileStat {
                size: metadata.len(),
                mtime_ns,
                inode: 0,
            }
        }
    }
}

impl Drop for Collected<'_> {
    fn drop(&mut self) {
        if !self.found.is_empty() {
            lock(self.into_found).push(std::mem::take(&mut self.found));
        }
        lock(self.into_warnings).append(&mut self.warnings);
    }
}

/// What one entry of the walk turned out to be.
enum Visit {
    Note(NoteFile, String),
    NoteWithWarnings(NoteFile, String, Vec<Warning>),
    Warnings(Vec<Warning>),
    Nothing,
}

fn visit(
    root: &Path,
    options: &WalkOptions,
    include: &GlobSet,
    exclude: &GlobSet,
    result: Result<ignore::DirEntry, ignore::Error>,
) -> Visit {
    let entry = match result {
        Ok(entry) => entry,
        Err(error) => return Visit::Warnings(vec![warning_from(root, error)]),
    };
    // A folder's ignore files are read as it is entered; their broken lines ride on the
    // folder's entry rather than coming as errors of their own.
    let warnings: Vec<Warning> = entry
        .error()
        .map(|error| warning_from(entry.path(), error.clone()))
        .into_iter()
        .collect();
    let nothing = |warnings: Vec<Warning>| {
        if warnings.is_empty() {
            Visit::Nothing
        } else {
            Visit::Warnings(warnings)
        }
    };
    if entry.depth() == 0 || !has_md_extension(entry.path()) {
        return nothing(warnings);
    }
    if entry.path_is_symlink() && !options.follow_symlinks {
        let mut warnings = warnings;
        warnings.push(Warning::SymlinkSkipped {
            path: entry.path().to_path_buf(),
        });
        return Visit::Warnings(warnings);
    }
    if !entry.file_type().is_some_and(|kind| kind.is_file()) {
        return nothing(warnings);
    }
    let Some(rel) = relative_text(root, entry.path()) else {
        let mut warnings = warnings;
        warnings.push(Warning::NonUtf8Name {
            path: entry.path().to_path_buf(),
        });
        return Visit::Warnings(warnings);
    };
    if (!options.include.is_empty() && !include.is_match(&rel)) || exclude.is_match(&rel) {
        return nothing(warnings);
    }
    // A static-site generator's list page (Hugo's `_index.md`) lists a section's pages rather
    // than saying something of its own; an `include` glob that matches it takes it.
    if is_list_page(&rel) && (options.include.is_empty() || !include.is_match(&rel)) {
        return nothing(warnings);
    }
    if options.follow_symlinks {
        if let Err(error) = crate::inside::resolve_inside(entry.path(), Path::new(&rel)) {
            let mut warnings = warnings;
            warnings.push(
                match error
                    .get_ref()
                    .and_then(|e| e.downcast_ref::<crate::inside::OutsideRoot>())
                {
                    Some(outside) => Warning::LinkOutsideRoot {
                        path: entry.path().to_path_buf(),
                        real: outside.real.clone(),
                    },
                    None => Warning::Unreadable {
                        path: entry.path().to_path_buf(),
                        reason: error.to_string(),
                    },
                },
            );
            return Visit::Warnings(warnings);
        }
    }
    let note = NoteFile {
        id: String::new(),
        path: entry.path().to_path_buf(),
        rel_path: PathBuf::from(&rel),
    };
    if warnings.is_empty() {
        Visit::Note(note, rel)
    } else {
        Visit::NoteWithWarnings(note, rel, warnings)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The file name of the list pages Hugo (and generators after it) keep beside a section's pages.
const LIST_PAGE_NAME: &str = "_index.md";

fn is_list_page(rel: &str) -> bool {
    rel.rsplit('/').next() == Some(LIST_PAGE_NAME)
}

fn has_md_extension(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("md"))
}

/// The path of `path` below `root` as UTF-8 text with `/` separators, so that globs and ids
/// read the same on every platform.
fn relative_text(root: &Path, path: &Path) -> Option<String> {
    // The walk joins names onto the root, so most paths are the root, `/` and a clean rest:
    // taken as it is, without parsing components (a million notes' worth of them showed).
    if cfg!(unix) {
        let (root, path) = (
            root.as_os_str().as_encoded_bytes(),
            path.as_os_str().as_encoded_bytes(),
        );
        let rest = path.strip_prefix(root).and_then(|rest| {
            rest.strip_prefix(b"/")
                .or(root.ends_with(b"/").then_some(rest))
        });
        if let Some(rest) = rest.and_then(|rest| std::str::from_utf8(rest).ok()) {
            if !rest.is_empty()
                && rest
                    .split('/')
                    .all(|part| !part.is_empty() && part != "." && part != "..")
            {
                return Some(rest.to_owned());
            }
        }
    }
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for component in rel.components() {
        parts.push(component.as_os_str().to_str()?);
    }
    Some(parts.join("/"))
}

fn glob_set(globs: &[String]) -> Result<GlobSet, Error> {
    let mut builder = GlobSetBuilder::new();
    for glob in globs {
        builder.add(Glob::new(glob).map_err(|source| Error::InvalidGlob {
            glob: glob.clone(),
            source,
        })?);
    }
    builder.build().map_err(|source| Error::InvalidGlob {
        glob: globs.join(", "),
        source,
    })
}

/// Turns one of the walker's errors, which nest path, line and depth wrappers, into a warning
/// that names the path.
fn warning_from(root: &Path, error: ignore::Error) -> Warning {
    let mut path = None;
    let mut current = &error;
    loop {
        match current {
            ignore::Error::WithPath { path: inner, err } => {
                path.get_or_insert_with(|| inner.clone());
                current = err;
            }
            ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
                current = err;
            }
            // A partly broken ignore file reports each bad line; the first one tells the user
            // where to look.
            ignore::Error::Partial(errors) if !errors.is_empty() => current = &errors[0],
            ignore::Error::Loop { ancestor, child } => {
                return Warning::SymlinkLoop {
                    path: child.clone(),
                    ancestor: ancestor.clone(),
                };
            }
            ignore::Error::Glob { .. } | ignore::Error::InvalidDefinition => {
                return Warning::IgnoreFile {
                    path: path.unwrap_or_else(|| root.to_path_buf()),
                    reason: error.to_string(),
                };
            }
            _ => break,
        }
    }
    Warning::Unreadable {
        path: path.unwrap_or_else(|| root.to_path_buf()),
        reason: error.to_string(),
    }
}
