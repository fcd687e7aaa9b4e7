//! Saving an index beside the notes and reloading it only when it provably still fits.
//!
//! Layout under the folder the caller passes (`<notes>/.closest/index/`):
//!
//! - `index.json`: the header (format version, model fingerprint, kind, dimension, live count,
//!   every row's id, retired rows, HNSW parameters, and the name, size and checksum of each data
//!   file). It is written last, through a temporary file and a rename, so it is the commit point:
//!   it only ever names complete files.
//! - `exact-<generation>.f32`: Exact's rows, row-major little-endian f32.
//! - `hnsw-<generation>.hnsw.graph` and `.hnsw.data`: hnsw_rs's own dump of the graph, which
//!   also holds the vectors; rows are rebuilt from it on load.
//!
//! Every save writes a new generation and then deletes files no header names. A missing header
//! is `LoadOutcome::Missing` (first run); any mismatch or damage is `LoadOutcome::Rebuild` with
//! a reason for the caller's warning. Only an unreadable header (permissions) is an `Error`.

use std::fmt;
use std::fs;
use std::io::ErrorKind;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::hnsw::{Hnsw, HnswParams};
use crate::rows::RowStore;
use crate::storage::{self, Checksum, FileRecord};
use crate::{ConcreteKind, Exact, Index, VectorIndex};

/// Bumped whenever the files change meaning; older or newer saves are rebuilt, not misread.
pub const FORMAT_VERSION: u32 = 1;

/// The header's file name inside the index folder.
pub const HEADER_FILE: &str = "index.json";

#[derive(Debug, Serialize, Deserialize)]
struct Header {
    format_version: u32,
    fingerprint: String,
    kind: ConcreteKind,
    dim: usize,
    count: usize,
    ids: Vec<u64>,
    retired_rows: Vec<usize>,
    ids_checksum: String,
    hnsw: Option<HnswParams>,
    hnsw_basename: Option<String>,
    files: Vec<FileRecord>,
}

/// Read first, so a header from a newer format is reported as such rather than as damage.
#[derive(Deserialize)]
struct VersionOnly {
    format_version: u32,
}

/// What `load` found.
pub enum LoadOutcome {
    /// The saved index matches and is intact.
    Loaded(Index),
    /// Nothing saved yet: build without a warning.
    Missing,
    /// Something saved but unusable: rebuild, and tell the user why.
    Rebuild { reason: String },
}

/// A borrowed index of either kind, for `save`.
#[derive(Clone, Copy)]
pub enum IndexRef<'a> {
    Exact(&'a Exact),
    Hnsw(&'a Hnsw),
}

impl<'a> From<&'a Exact> for IndexRef<'a> {
    fn from(index: &'a Exact) -> Self {
        IndexRef::Exact(index)
    }
}

impl<'a> From<&'a Hnsw> for IndexRef<'a> {
    fn from(index: &'a Hnsw) -> Self {
        IndexRef::Hnsw(index)
    }
}

impl<'a> From<&'a Index> for IndexRef<'a> {
    fn from(index: &'a Index) -> Self {
        match index {
            Index::Exact(exact) => IndexRef::Exact(exact),
            // The graph itself is rebuilt from the vectors each cold run; what is worth saving
            // is its rows, which reload as an Exact index.
            Index::Graph(graph) => IndexRef::Exact(graph.exact()),
            Index::Hnsw(hnsw) => IndexRef::Hnsw(hnsw.as_ref()),
        }
    }
}

impl fmt::Debug for LoadOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoadOutcome::Loaded(index) => write!(
                f,
                "Loaded({} index, {} rows of dim {})",
                index.kind(),
                index.len(),
                index.dim()
            ),
            LoadOutcome::Missing => f.write_str("Missing"),
            LoadOutcome::Rebuild { reason } => write!(f, "Rebuild {{ reason: {reason:?} }}"),
        }
    }
}

/// Saves `index` under `dir` (created if needed), tagged with the caller's model fingerprint.
pub fn save<'a>(
    index: impl Into<IndexRef<'a>>,
    dir: &Path,
    fingerprint: &str,
) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create the index folder", dir, e))?;
    let generation = new_generation();
    let index = index.into();
    let (rows, hnsw, hnsw_basename, files, kind) = match index {
        IndexRef::Exact(exact) => {
            let name = format!("exact-{generation}.f32");
            let record = storage::write_rows(dir, &name, &exact.rows().data)?;
            (exact.rows(), None, None, vec![record], ConcreteKind::Exact)
        }
        IndexRef::Hnsw(hnsw) => {
            let (basename, files) = if hnsw.n_rows() == 0 {
                // hnsw_rs cannot dump or reload an empty graph; the header alone describes it.
                (None, Vec::new())
            } else {
                let used = storage::dump_graph(hnsw.graph(), dir, &format!("hnsw-{generation}"))?;
                let files = vec![
                    storage::record_file(dir, &format!("{used}.hnsw.graph"))?,
                    storage::record_file(dir, &format!("{used}.hnsw.data"))?,
                ];
                (Some(used), files)
            };
            (
                hnsw.rows(),
                Some(hnsw.params()),
                basename,
                files,
                ConcreteKind::Hnsw,
            )
        }
    };
    let retired_rows: Vec<usize> = (0..rows.n_rows()).filter(|&r| !rows.live[r]).collect();
    let header = Header {
        format_version: FORMAT_VERSION,
        fingerprint: fingerprint.to_owned(),
        kind,
        dim: rows.dim,
        count: rows.n_live(),
        ids_checksum: ids_checksum(&rows.ids, &retired_rows),
        ids: rows.ids.clone(),
        retired_rows,
        hnsw,
        hnsw_basename,
        files,
    };
    let header_path = dir.join(HEADER_FILE);
    let bytes = serde_json::to_vec(&header)
        .map_err(|e| Error::io("encode", &header_path, std::io::Error::other(e)))?;
    storage::write_atomically(&header_path, &bytes)?;
    remove_stale_files(dir, &header.files);
    Ok(())
}

/// Loads the index saved under `dir` if it was made with `expected_fingerprint` for vectors of
/// `expected_dim` dimensions and every file is intact.
pub fn load(
    dir: &Path,
    expected_fingerprint: &str,
    expected_dim: usize,
) -> Result<LoadOutcome, Error> {
    let header_path = dir.join(HEADER_FILE);
    let bytes = match fs::read(&header_path) {
        Ok(bytes) => bytes,
        Err(error) if error.kind() == ErrorKind::NotFound => return Ok(LoadOutcome::Missing),
        Err(error) => return Err(Error::io("read", &header_path, error)),
    };
    Ok(
        match check_and_build(dir, &bytes, expected_fingerprint, expected_dim) {
            Ok(index) => LoadOutcome::Loaded(index),
            Err(reason) => LoadOutcome::Rebuild { reason },
        },
    )
}

fn check_and_build(
    dir: &Path,
    bytes: &[u8],
    expected_fingerprint: &str,
    expected_dim: usize,
) -> Result<Index, String> {
    let damaged = |e: serde_json::Error| format!("the index header is damaged: {e}");
    let version: VersionOnly = serde_json::from_slice(bytes).map_err(damaged)?;
    if version.format_version != FORMAT_VERSION {
        return Err(format!(
            "the index was saved in format version {}, this build reads version {FORMAT_VERSION}",
            version.format_version
        ));
    }
    let header: Header = serde_json::from_slice(bytes).map_err(damaged)?;
    if header.fingerprint != expected_fingerprint {
        return Err(format!(
            "the index was built with model `{}`, the current model is `{expected_fingerprint}`",
            header.fingerprint
        ));
    }
    if header.dim != expected_dim {
        return Err(format!(
            "the index holds vectors of dimension {}, the current model makes {expected_dim}",
            header.dim
        ));
    }
    let n_rows = header.ids.len();
    let mut live = vec![true; n_rows];
    for &row in &header.retired_rows {
        match live.get_mut(row) {
            Some(slot) if *slot => *slot = false,
            _ => {
                return Err(format!(
                    "the index header lists retired row {row} twice or out of range"
                ))
            }
        }
    }
    if ids_checksum(&header.ids, &header.retired_rows) != header.ids_checksum
        || live.iter().filter(|&&l| l).count() != header.count
    {
        return Err("the index header is damaged (id list checksum or count mismatch)".to_owned());
    }
    let invalid = |e: Error| format!("the saved rows are invalid: {e}");
    match header.kind {
        ConcreteKind::Exact => {
            let [record] = header.files.as_slice() else {
                return Err("the index header does not name exactly one rows file".to_owned());
            };
            let data = storage::read_rows(dir, record)?;
            if data.len() != n_rows * header.dim || header.count != n_rows {
                return Err("the rows file does not match the header's row count".to_owned());
            }
            let rows = RowStore::from_parts(header.dim, header.ids, data, live).map_err(invalid)?;
            Ok(Index::Exact(Exact::from_rows(rows)))
        }
        ConcreteKind::Hnsw => {
            let params = header
                .hnsw
                .ok_or("the index header has no HNSW parameters")?;
            params.validate().map_err(invalid)?;
            let Some(basename) = header.hnsw_basename.filter(|_| n_rows > 0) else {
                let empty = Hnsw::new(header.dim, params).map_err(invalid)?;
                return Ok(Index::Hnsw(Box::new(empty)));
            };
            if header.files.len() != 2 {
                return Err("the index header does not name the two HNSW files".to_owned());
            }
            for record in &header.files {
                storage::verify_file(dir, record)?;
            }
            let graph = storage::load_graph(dir, &basename)?;
            let data = rows_from_graph(&graph, n_rows, header.dim)?;
            let rows = RowStore::from_parts(header.dim, header.ids, data, live).map_err(invalid)?;
            Ok(Index::Hnsw(Box::new(Hnsw::from_parts(params, rows, graph))))
        }
        // `save` never writes one (the graph is rebuilt from the vectors each cold run), so
        // such a header came from elsewhere: rebuild rather than guess.
        ConcreteKind::Graph => {
            Err("the index header names a k-nearest graph, which is never saved".to_owned())
        }
    }
}

/// Copies the vectors out of a reloaded graph into row order (graph point ids are row numbers).
fn rows_from_graph(
    graph: &crate::hnsw::Graph,
    n_rows: usize,
    dim: usize,
) -> Result<Vec<f32>, String> {
    if graph.get_nb_point() != n_rows {
        return Err(format!(
            "the HNSW graph holds {} points, the header lists {n_rows} rows",
            graph.get_nb_point()
        ));
    }
    let mut data = vec![0f32; n_rows * dim];
    let mut filled = vec![false; n_rows];
    for point in graph.get_point_indexation() {
        let row = point.get_origin_id();
        let vector = point.get_v();
        if row >= n_rows || filled[row] || vector.len() != dim {
            return Err(format!(
                "the HNSW graph has an unexpected point (row {row})"
            ));
        }
        filled[row] = true;
        data[row * dim..(row + 1) * dim].copy_from_slice(vector);
    }
    if filled.contains(&false) {
        return Err("the HNSW graph is missing rows".to_owned());
    }
    Ok(data)
}

fn ids_checksum(ids: &[u64], retired_rows: &[usize]) -> String {
    let mut checksum = Checksum::new();
    for id in ids {
        checksum.update(&id.to_le_bytes());
    }
    for &row in retired_rows {
        checksum.update(&(row as u64).to_le_bytes());
    }
    checksum.finish()
}

/// A name unique to this save: time in nanoseconds and the process id.
fn new_generation() -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{nanos:x}-{:x}", std::process::id())
}

/// Deletes data files of earlier generations and leftovers of interrupted saves. Best effort: a
/// file that cannot be removed only wastes space, the header no longer names it.
fn remove_stale_files(dir: &Path, keep: &[FileRecord]) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let ours = name.starts_with("exact-")
            || name.starts_with("hnsw-")
            || name.starts_with(&format!("{HEADER_FILE}.tmp-"));
        if ours && !keep.iter().any(|record| record.name == name) {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// A saved HNSW index is rebuilt rather than patched once retired rows outnumber live ones:
/// they still route searches, so they cost time and crowd results.
const MAX_RETIRED_SHARE: f64 = 0.5;

/// What `sync_hnsw` had to say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SyncWarning {
    /// The saved index could not be used (damage, another model or format); built afresh.
    Rebuilt(String),
    /// The index could not be saved; the next run builds it again.
    NotSaved(String),
}

/// The outcome of `sync_hnsw`.
pub struct Synced {
    /// Keyed by position (the index of each row in the caller's `rows`).
    pub index: Index,
    /// Rows inserted and retired when a saved index was patched; `None` when built afresh.
    pub added: Option<usize>,
    pub removed: Option<usize>,
    pub warnings: Vec<SyncWarning>,
}

/// Brings the HNSW index saved in `dir` up to `rows`: a saved index names its rows by content
/// key (`keys[i]` for `rows[i]`, a hash of what the row is, so any later run can match them),
/// retires the rows no key names any more and inserts the new ones, or builds afresh when there
/// is none, it does not fit (another fingerprint, damage: with a warning), or too many of its
/// rows are retired. Saved again when `save` and it changed. The index returned is keyed by
/// position, like every index a caller builds for a run, so ties break in the caller's order.
pub fn sync_hnsw(
    dir: &Path,
    fingerprint: &str,
    keys: &[u64],
    rows: &[&[f32]],
    params: HnswParams,
    save_changes: bool,
) -> Result<Synced, Error> {
    let dim = rows.first().map_or(0, |row| row.len());
    let mut warnings = Vec::new();
    let position_of: std::collections::HashMap<u64, u64> = keys
        .iter()
        .enumerate()
        .map(|(position, key)| (*key, position as u64))
        .collect();
    if position_of.len() != keys.len() {
        // Two rows' keys collided (a 1 in 2^64 event per pair): build this run's index on
        // positions and leave the saved one alone.
        let mut index = Hnsw::new(dim, params)?;
        index.add(&keyed(rows, |position| position as u64))?;
        return Ok(Synced {
            index: Index::Hnsw(Box::new(index)),
            added: None,
            removed: None,
            warnings,
        });
    }
    let loaded = match load(dir, fingerprint, dim) {
        Ok(LoadOutcome::Loaded(Index::Hnsw(hnsw))) if hnsw.params() == params => Some(*hnsw),
        Ok(LoadOutcome::Loaded(_)) | Ok(LoadOutcome::Missing) => None,
        Ok(LoadOutcome::Rebuild { reason }) => {
            warnings.push(SyncWarning::Rebuilt(reason));
            None
        }
        Err(err) => {
            warnings.push(SyncWarning::Rebuilt(err.to_string()));
            None
        }
    };
    let patched = loaded.and_then(|mut hnsw| {
        let saved: std::collections::HashSet<u64> = hnsw.ids().into_iter().collect();
        let removed: Vec<u64> = saved
            .iter()
            .copied()
            .filter(|key| !position_of.contains_key(key))
            .collect();
        let added: Vec<(u64, &[f32])> = keys
            .iter()
            .zip(rows)
            .filter(|(key, _)| !saved.contains(key))
            .map(|(key, row)| (*key, *row))
            .collect();
        let retired = hnsw.n_rows() - hnsw.len() + removed.len();
        if retired as f64 > MAX_RETIRED_SHARE * (hnsw.n_rows() + added.len()) as f64 {
            return None;
        }
        match hnsw.remove(&removed).and_then(|()| hnsw.add(&added)) {
            Ok(()) => Some((hnsw, added.len(), removed.len())),
            Err(err) => {
                warnings.push(SyncWarning::Rebuilt(err.to_string()));
                None
            }
        }
    });
    let (mut hnsw, added, removed, changed) = match patched {
        Some((hnsw, added, removed)) => (hnsw, Some(added), Some(removed), added + removed > 0),
        None => {
            let mut hnsw = Hnsw::new(dim, params)?;
            hnsw.add(&keyed(rows, |position| keys[position]))?;
            (hnsw, None, None, true)
        }
    };
    if save_changes && changed {
        if let Err(err) = save(&hnsw, dir, fingerprint) {
            warnings.push(SyncWarning::NotSaved(err.to_string()));
        }
    }
    hnsw.rows_mut().rekey(|key| position_of[&key]);
    Ok(Synced {
        index: Index::Hnsw(Box::new(hnsw)),
        added,
        removed,
        warnings,
    })
}

/// The saved HNSW index, keyed by position, when it holds exactly the rows named by `keys`
/// (content keys by position); `None` when there is none or it is behind.
pub fn load_hnsw_matching(
    dir: &Path,
    fingerprint: &str,
    keys: &[u64],
) -> Result<Option<Hnsw>, Error> {
    let dim = match load_header_dim(dir) {
        Some(dim) => dim,
        None => return Ok(None),
    };
    let LoadOutcome::Loaded(Index::Hnsw(hnsw)) = load(dir, fingerprint, dim)? else {
        return Ok(None);
    };
    let mut hnsw = *hnsw;
    let mut wanted = keys.to_vec();
    wanted.sort_unstable();
    if hnsw.ids() != wanted {
        return Ok(None);
    }
    let position_of: std::collections::HashMap<u64, u64> = keys
        .iter()
        .enumerate()
        .map(|(position, key)| (*key, position as u64))
        .collect();
    hnsw.rows_mut().rekey(|key| position_of[&key]);
    Ok(Some(hnsw))
}

fn load_header_dim(dir: &Path) -> Option<usize> {
    #[derive(Deserialize)]
    struct DimOnly {
        dim: usize,
    }
    let bytes = fs::read(dir.join(HEADER_FILE)).ok()?;
    serde_json::from_slice::<DimOnly>(&bytes)
        .ok()
        .map(|header| header.dim)
}

fn keyed<'a>(rows: &[&'a [f32]], key: impl Fn(usize) -> u64) -> Vec<(u64, &'a [f32])> {
    rows.iter()
        .enumerate()
        .map(|(position, row)| (key(position), *row))
        .collect()
}
