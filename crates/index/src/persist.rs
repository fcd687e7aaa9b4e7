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
use crate::{ConcreteKind, Exact, VectorIndex};

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
    Loaded(Box<dyn VectorIndex>),
    /// Nothing saved yet: build without a warning.
    Missing,
    /// Something saved but unusable: rebuild, and tell the user why.
    Rebuild { reason: String },
}

impl LoadOutcome {
    /// The index, if one was loaded.
    pub fn into_index(self) -> Option<Box<dyn VectorIndex>> {
        match self {
            LoadOutcome::Loaded(index) => Some(index),
            LoadOutcome::Missing | LoadOutcome::Rebuild { .. } => None,
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
pub fn save(index: &dyn VectorIndex, dir: &Path, fingerprint: &str) -> Result<(), Error> {
    fs::create_dir_all(dir).map_err(|e| Error::io("create the index folder", dir, e))?;
    let generation = new_generation();
    let any = index.as_any();
    let (rows, hnsw, hnsw_basename, files) = if let Some(exact) = any.downcast_ref::<Exact>() {
        let name = format!("exact-{generation}.f32");
        let record = storage::write_rows(dir, &name, &exact.rows().data)?;
        (exact.rows(), None, None, vec![record])
    } else if let Some(hnsw) = any.downcast_ref::<Hnsw>() {
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
        (hnsw.rows(), Some(hnsw.params()), basename, files)
    } else {
        return Err(Error::UnsupportedIndex);
    };
    let retired_rows: Vec<usize> = (0..rows.n_rows()).filter(|&r| !rows.live[r]).collect();
    let header = Header {
        format_version: FORMAT_VERSION,
        fingerprint: fingerprint.to_owned(),
        kind: index.kind(),
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
) -> Result<Box<dyn VectorIndex>, String> {
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
            Ok(Box::new(Exact::from_rows(rows)))
        }
        ConcreteKind::Hnsw => {
            let params = header
                .hnsw
                .ok_or("the index header has no HNSW parameters")?;
            params.validate().map_err(invalid)?;
            let Some(basename) = header.hnsw_basename.filter(|_| n_rows > 0) else {
                let empty = Hnsw::new(header.dim, params).map_err(invalid)?;
                return Ok(Box::new(empty));
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
            Ok(Box::new(Hnsw::from_parts(params, rows, graph)))
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
