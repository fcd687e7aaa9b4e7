//! Every embedded vector of a folder in one flat file, loaded with one memory map.
//!
//! A million notes hold 1.5 GB of f32 vectors; reading them back from SQLite row by row takes
//! longer than the rest of an incremental run. So vectors live in `vectors-<generation>.f32`
//! beside the store: a 4 KiB header (magic, version, dimension, a hash of the model key), then
//! rows of `dim` little-endian f32 addressed by slot. The store maps text hashes to slots and
//! records how many rows are committed and a checksum of every chunk of rows.
//!
//! Crash safety comes from the order of writes: rows are only appended past the committed
//! count, synced, and then committed with their mapping in one SQLite transaction, so a killed
//! run leaves at worst unreferenced rows that the next append overwrites. Committed rows are
//! never rewritten in place; compaction writes a new generation and switches to it in the same
//! transaction that remaps the slots.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use memmap2::Mmap;
use rayon::prelude::*;
use xxhash_rust::xxh3::xxh3_64;

use crate::error::{Error, Result};
use crate::store::Meta;

const MAGIC: &[u8; 8] = b"CLOSTVEC";
const VERSION: u32 = 1;
const HEADER_BYTES: usize = 4096;
/// Rows per checksum.
const CHUNK_ROWS: usize = 4096;

/// What the store says about the vector file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct VectorMeta {
    /// Model fingerprint, long-note policy and prompt: what the vectors were made with.
    pub key: String,
    pub file: String,
    pub rows: usize,
    pub checksums: Vec<u64>,
}

impl VectorMeta {
    /// Reads the meta entries the store holds (any missing: no file yet).
    pub(crate) fn from_entries(get: impl Fn(Meta) -> Option<String>) -> Self {
        VectorMeta {
            key: get(Meta::VectorKey).unwrap_or_default(),
            file: get(Meta::VectorFile).unwrap_or_default(),
            rows: get(Meta::VectorRows)
                .and_then(|value| value.parse().ok())
                .unwrap_or(0),
            checksums: get(Meta::VectorChecksums)
                .map(|value| {
                    value
                        .split(',')
                        .filter_map(|hex| u64::from_str_radix(hex, 16).ok())
                        .collect()
                })
                .unwrap_or_default(),
        }
    }

    pub(crate) fn entries(&self) -> Vec<(Meta, String)> {
        vec![
            (Meta::VectorKey, self.key.clone()),
            (Meta::VectorFile, self.file.clone()),
            (Meta::VectorRows, self.rows.to_string()),
            (
                Meta::VectorChecksums,
                self.checksums
                    .iter()
                    .map(|sum| format!("{sum:x}"))
                    .collect::<Vec<_>>()
                    .join(","),
            ),
        ]
    }
}

/// The open vector file.
pub(crate) struct VectorFile {
    dir: PathBuf,
    dim: usize,
    meta: VectorMeta,
    map: Option<Mmap>,
}

/// Bytes of vectors from which on a full ranking reads the rows it rescores at random (the
/// graph's last step, the fusion) through a [`RowReader`] rather than the map. Below it the
/// mapped file beside the rest of the run stays far under 3 GB and the map is faster
/// (300,000 notes: ranking 37 s mapped, 61 s read); at a million notes (1.44 GiB of vectors)
/// the mapped file took the run's peak to 3.7 GiB, read it is 2.6 GiB (BENCHMARKS.md).
pub(crate) const READ_AT_RANDOM_FROM_BYTES: usize = 1 << 30;

/// The committed rows of a vector file read with `pread`, by slot (`VectorFile::reader`).
pub(crate) struct RowReader {
    file: File,
    dim: usize,
    rows: usize,
}

impl RowReader {
    /// Reads the row in `slot` into `out` (`dim` long).
    pub(crate) fn read(&self, slot: u32, out: &mut [f32]) -> std::io::Result<()> {
        let slot = slot as usize;
        if slot >= self.rows || out.len() != self.dim {
            return Err(std::io::Error::other(format!(
                "row {slot} of {} (dimension {} asked, {} stored)",
                self.rows,
                out.len(),
                self.dim
            )));
        }
        read_floats_at(&self.file, out, (HEADER_BYTES + slot * self.dim * 4) as u64)
    }
}

/// Reads `out.len()` little-endian f32s at `offset` of `file` (`pread`: no shared cursor, so
/// threads read one file at once).
pub(crate) fn read_floats_at(file: &File, out: &mut [f32], offset: u64) -> std::io::Result<()> {
    // SAFETY: any bytes are a valid f32, and the slice covers exactly `out`.
    let bytes =
        unsafe { std::slice::from_raw_parts_mut(out.as_mut_ptr().cast::<u8>(), out.len() * 4) };
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, bytes, offset)
    }
    #[cfg(not(unix))]
    {
        let _ = (file, bytes, offset);
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

/// Writes `values` as little-endian f32s at `offset` of `file` (`pwrite`).
pub(crate) fn write_floats_at(file: &File, values: &[f32], offset: u64) -> std::io::Result<()> {
    // SAFETY: reinterpreting f32s as their bytes is always valid.
    let bytes =
        unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), values.len() * 4) };
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
    }
    #[cfg(not(unix))]
    {
        let _ = (file, bytes, offset);
        Err(std::io::Error::from(std::io::ErrorKind::Unsupported))
    }
}

/// Why the stored vectors cannot be used; every note is embedded again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reset {
    /// Another model, precision, long-note policy or prompt: expected, said as a note.
    KeyChanged,
    /// A missing, short or damaged file: said as a warning.
    Damaged(String),
}

impl VectorFile {
    /// Opens the committed vectors described by `meta`, for vectors made with `key` of `dim`
    /// dimensions. A mismatch or damage starts a new, empty generation and says why; the caller
    /// must then forget every stored slot.
    pub(crate) fn open(
        dir: &Path,
        meta: VectorMeta,
        key: &str,
        dim: usize,
    ) -> (Self, Option<Reset>) {
        let fresh = |reset: Reset| {
            (
                VectorFile {
                    dir: dir.to_owned(),
                    dim,
                    meta: VectorMeta {
                        key: key.to_owned(),
                        file: new_file_name(),
                        rows: 0,
                        checksums: Vec::new(),
                    },
                    map: None,
                },
                Some(reset),
            )
        };
        if meta.key != key {
            return fresh(Reset::KeyChanged);
        }
        if meta.rows == 0 {
            return (
                VectorFile {
                    dir: dir.to_owned(),
                    dim,
                    meta: VectorMeta {
                        file: if meta.file.is_empty() {
                            new_file_name()
                        } else {
                            meta.file
                        },
                        ..meta
                    },
                    map: None,
                },
                None,
            );
        }
        match map_file(&dir.join(&meta.file), key, dim, meta.rows) {
            Ok(map) => {
                let file = VectorFile {
                    dir: dir.to_owned(),
                    dim,
                    meta,
                    map: Some(map),
                };
                match file.verify() {
                    Ok(()) => (file, None),
                    Err(reason) => fresh(Reset::Damaged(reason)),
                }
            }
            Err(reason) => fresh(Reset::Damaged(reason)),
        }
    }

    pub(crate) fn dim(&self) -> usize {
        self.dim
    }

    pub(crate) fn rows(&self) -> usize {
        self.meta.rows
    }

    /// Bytes of committed rows.
    pub(crate) fn bytes(&self) -> usize {
        self.meta.rows * self.dim * 4
    }

    pub(crate) fn meta(&self) -> &VectorMeta {
        &self.meta
    }

    /// The vector in `slot`, a committed row.
    pub(crate) fn row(&self, slot: u32) -> &[f32] {
        let all = self.all();
        let start = slot as usize * self.dim;
        &all[start..start + self.dim]
    }

    /// Every committed row, row-major.
    pub(crate) fn all(&self) -> &[f32] {
        match &self.map {
            None => &[],
            Some(map) => {
                let bytes = &map[HEADER_BYTES..HEADER_BYTES + self.meta.rows * self.dim * 4];
                // SAFETY: the map is page-aligned and the rows start 4 KiB in, so the pointer is
                // aligned for f32; the length is a whole number of f32s; every bit pattern is a
                // valid f32; the map lives as long as `self`. Little-endian is checked at
                // compile time below.
                unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<f32>(), bytes.len() / 4) }
            }
        }
    }

    /// Appends rows after the committed ones and syncs them; returns their slots. The caller
    /// commits `meta()` with the slots' mapping, which is what makes them part of the store.
    pub(crate) fn append(&mut self, vectors: &[Vec<f32>]) -> Result<Vec<u32>> {
        if vectors.is_empty() {
            return Ok(Vec::new());
        }
        let path = self.dir.join(&self.meta.file);
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| Error::io("open", &path, source))?;
        if self.meta.rows == 0 {
            file.set_len(0)
                .and_then(|()| file.write_all(&header(&self.meta.key, self.dim)))
                .map_err(|source| Error::io("write", &path, source))?;
        }
        let start = HEADER_BYTES as u64 + (self.meta.rows * self.dim * 4) as u64;
        // Rows a stopped run wrote past the committed count are overwritten.
        file.set_len(start)
            .and_then(|()| file.seek(SeekFrom::Start(start)).map(drop))
            .map_err(|source| Error::io("write", &path, source))?;
        let mut bytes = Vec::with_capacity(vectors.len() * self.dim * 4);
        for vector in vectors {
            if vector.len() != self.dim {
                return Err(Error::Invalid(format!(
                    "a vector of dimension {} where the model makes {}",
                    vector.len(),
                    self.dim
                )));
            }
            for value in vector {
                bytes.extend_from_slice(&value.to_le_bytes());
            }
        }
        file.write_all(&bytes)
            .and_then(|()| file.sync_data())
            .map_err(|source| Error::io("write", &path, source))?;
        let first = self.meta.rows;
        self.meta.rows += vectors.len();
        self.map = Some(
            map_file(&path, &self.meta.key, self.dim, self.meta.rows).map_err(Error::Invalid)?,
        );
        self.update_checksums(first / CHUNK_ROWS);
        Ok((first..self.meta.rows).map(|slot| slot as u32).collect())
    }

    /// Writes the rows in `slots` order to a new generation, syncs it and switches to it; slot
    /// `i` of the result holds old row `slots[i]`. The caller commits the new meta with the
    /// remapped slots, then removes the old file (`sweep`).
    pub(crate) fn compact(&mut self, slots: &[u32]) -> Result<()> {
        let name = new_file_name();
        let path = self.dir.join(&name);
        let write = || -> std::io::Result<()> {
            let mut out = std::io::BufWriter::new(File::create(&path)?);
            out.write_all(&header(&self.meta.key, self.dim))?;
            for (written, &slot) in slots.iter().enumerate() {
                for value in self.row(slot) {
                    out.write_all(&value.to_le_bytes())?;
                }
                if (written + 1) % CHUNK_ROWS == 0 {
                    // The rows copied leave memory as the copy goes (the new file's too: the
                    // writer's pages are the page cache's, not this process's).
                    self.release(0, self.meta.rows);
                }
            }
            out.into_inner().map_err(|err| err.into_error())?.sync_all()
        };
        write().map_err(|source| Error::io("write", &path, source))?;
        self.meta.file = name;
        self.meta.rows = slots.len();
        self.meta.checksums.clear();
        self.map = if slots.is_empty() {
            None
        } else {
            Some(
                map_file(&path, &self.meta.key, self.dim, self.meta.rows)
                    .map_err(Error::Invalid)?,
            )
        };
        self.update_checksums(0);
        Ok(())
    }

    /// Removes vector files of other generations (after the store names the current one).
    pub(crate) fn sweep(&self) {
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with("vectors-") && name.ends_with(".f32") && name != self.meta.file {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }

    fn update_checksums(&mut self, first_chunk: usize) {
        let n_chunks = self.meta.rows.div_ceil(CHUNK_ROWS);
        self.meta.checksums.truncate(first_chunk);
        for chunk in first_chunk..n_chunks {
            let sum = self.chunk_checksum(chunk);
            self.meta.checksums.push(sum);
            // Summed rows leave memory (a compacted million are 1.5 GB).
            self.release(chunk * CHUNK_ROWS, (chunk + 1) * CHUNK_ROWS);
        }
    }

    fn chunk_checksum(&self, chunk: usize) -> u64 {
        let all = self.all();
        let start = chunk * CHUNK_ROWS * self.dim;
        let end = ((chunk + 1) * CHUNK_ROWS * self.dim).min(all.len());
        let values = &all[start..end];
        // SAFETY: reinterpreting f32s as their bytes is always valid.
        let bytes =
            unsafe { std::slice::from_raw_parts(values.as_ptr().cast::<u8>(), values.len() * 4) };
        xxh3_64(bytes)
    }

    /// The committed rows read from the file one at a time, for scattered reads over a large
    /// file: through the map each read brings the pages around it into this process (the
    /// kernel maps a fault's neighbours too), so a pass reading rows at random soon holds the
    /// whole file. `None` without a file.
    pub(crate) fn reader(&self) -> Option<RowReader> {
        self.map.as_ref()?;
        let file = File::open(self.dir.join(&self.meta.file)).ok()?;
        Some(RowReader {
            file,
            dim: self.dim,
            rows: self.meta.rows,
        })
    }

    /// Lets the rows `start..end` leave this process's memory; the next read pages them in
    /// again from the file (the page cache, usually).
    pub(crate) fn release(&self, start: usize, end: usize) {
        #[cfg(unix)]
        if let Some(map) = &self.map {
            // memmap2 widens the range to whole pages.
            let end = end.min(self.meta.rows);
            let offset = HEADER_BYTES + start * self.dim * 4;
            let len = end.saturating_sub(start) * self.dim * 4;
            // SAFETY: the map is a shared, read-only mapping of a file whose committed bytes
            // never change (see `map_file`); MADV_DONTNEED only drops this process's page
            // table entries, and a later read sees the same bytes, so every slice into the map
            // stays valid. A failure only means the pages stay resident.
            let _ = unsafe {
                map.unchecked_advise_range(memmap2::UncheckedAdvice::DontNeed, offset, len)
            };
        }
        #[cfg(not(unix))]
        let _ = (start, end);
    }

    /// Checks every committed chunk against its checksum.
    fn verify(&self) -> std::result::Result<(), String> {
        let n_chunks = self.meta.rows.div_ceil(CHUNK_ROWS);
        if self.meta.checksums.len() != n_chunks {
            return Err("the vector checksums do not cover the stored rows".to_owned());
        }
        // Each chunk leaves memory once checked: a run that ranks nothing keeps no vector
        // resident, and one that does pages in what it reads. Chunks are checked on every
        // core; the first damaged one is named.
        let damaged = (0..n_chunks).into_par_iter().find_first(|&chunk| {
            let damaged = self.chunk_checksum(chunk) != self.meta.checksums[chunk];
            self.release(
                chunk * CHUNK_ROWS,
                ((chunk + 1) * CHUNK_ROWS).min(self.meta.rows),
            );
            damaged
        });
        match damaged {
            None => Ok(()),
            Some(chunk) => Err(format!(
                "rows {} to {} of the vector file `{}` are damaged",
                chunk * CHUNK_ROWS,
                ((chunk + 1) * CHUNK_ROWS).min(self.meta.rows) - 1,
                self.meta.file
            )),
        }
    }
}

#[cfg(not(target_endian = "little"))]
compile_error!("the vector file is read in place as little-endian f32");

fn header(key: &str, dim: usize) -> Vec<u8> {
    let mut bytes = vec![0u8; HEADER_BYTES];
    bytes[..8].copy_from_slice(MAGIC);
    bytes[8..12].copy_from_slice(&VERSION.to_le_bytes());
    bytes[12..16].copy_from_slice(&(dim as u32).to_le_bytes());
    bytes[16..24].copy_from_slice(&xxh3_64(key.as_bytes()).to_le_bytes());
    bytes
}

fn map_file(path: &Path, key: &str, dim: usize, rows: usize) -> std::result::Result<Mmap, String> {
    let file =
        File::open(path).map_err(|err| format!("cannot open `{}`: {err}", path.display()))?;
    // SAFETY: the file is only ever appended to past the mapped length, and only by the process
    // holding the folder lock (this one); committed bytes are never rewritten.
    let map = unsafe { Mmap::map(&file) }
        .map_err(|err| format!("cannot map `{}`: {err}", path.display()))?;
    let needed = HEADER_BYTES + rows * dim * 4;
    if map.len() < needed {
        return Err(format!(
            "the vector file `{}` holds {} bytes where {needed} are committed",
            path.display(),
            map.len()
        ));
    }
    if map[..HEADER_BYTES] != header(key, dim)[..] {
        return Err(format!(
            "the vector file `{}` has another header (format, dimension or model)",
            path.display()
        ));
    }
    Ok(map)
}

/// A name unique to this generation: time in nanoseconds and the process id.
fn new_file_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("vectors-{nanos:x}-{:x}.f32", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_round_trip_and_damage_is_found() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut file, reset) = VectorFile::open(dir.path(), VectorMeta::default(), "m", 3);
        assert_eq!(reset, Some(Reset::KeyChanged));
        let slots = file
            .append(&[vec![1.0, 2.0, 3.0], vec![4.0, 5.0, 6.0]])
            .expect("append");
        assert_eq!(slots, vec![0, 1]);
        let slots = file.append(&[vec![7.0, 8.0, 9.0]]).expect("append");
        assert_eq!(slots, vec![2]);
        let meta = file.meta().clone();
        drop(file);

        let (file, reset) = VectorFile::open(dir.path(), meta.clone(), "m", 3);
        assert_eq!(reset, None);
        assert_eq!(file.row(1), &[4.0, 5.0, 6.0]);
        assert_eq!(file.row(2), &[7.0, 8.0, 9.0]);
        drop(file);

        let (_, reset) = VectorFile::open(dir.path(), meta.clone(), "other", 3);
        assert_eq!(reset, Some(Reset::KeyChanged));

        let path = dir.path().join(&meta.file);
        let mut bytes = std::fs::read(&path).expect("read");
        bytes[HEADER_BYTES + 5] ^= 0xff;
        std::fs::write(&path, bytes).expect("damage");
        let (file, reset) = VectorFile::open(dir.path(), meta, "m", 3);
        assert!(matches!(reset, Some(Reset::Damaged(_))), "{reset:?}");
        assert_eq!(file.rows(), 0);
    }

    #[test]
    fn released_rows_read_back_the_same() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut file, _) = VectorFile::open(dir.path(), VectorMeta::default(), "m", 384);
        let rows: Vec<Vec<f32>> = (0..3000)
            .map(|row| (0..384).map(|col| (row * 384 + col) as f32).collect())
            .collect();
        file.append(&rows).expect("append");
        let before = file.all().to_vec();
        file.release(0, 3000);
        file.release(7, 11);
        assert_eq!(file.all(), &before[..]);
        assert_eq!(file.row(2999), &rows[2999][..]);
        let meta = file.meta().clone();
        drop(file);
        // Opening checks every chunk and lets it go; the rows read the same afterwards.
        let (file, reset) = VectorFile::open(dir.path(), meta, "m", 384);
        assert_eq!(reset, None);
        assert_eq!(file.all(), &before[..]);
    }

    #[test]
    fn uncommitted_rows_are_overwritten_and_compaction_reorders() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (mut file, _) = VectorFile::open(dir.path(), VectorMeta::default(), "m", 2);
        file.append(&[vec![1.0, 0.0], vec![0.0, 1.0]])
            .expect("append");
        let committed = file.meta().clone();
        // A run appends but is "killed" before committing: its rows are not in the meta.
        file.append(&[vec![9.0, 9.0]]).expect("append");
        drop(file);
        let (mut file, reset) = VectorFile::open(dir.path(), committed, "m", 2);
        assert_eq!(reset, None);
        assert_eq!(file.append(&[vec![5.0, 5.0]]).expect("append"), vec![2]);
        assert_eq!(file.row(2), &[5.0, 5.0]);
        let old = file.meta().file.clone();
        file.compact(&[2, 0]).expect("compact");
        assert_ne!(file.meta().file, old);
        assert_eq!(file.row(0), &[5.0, 5.0]);
        assert_eq!(file.row(1), &[1.0, 0.0]);
        file.sweep();
        assert!(!dir.path().join(old).exists());
        let meta = file.meta().clone();
        drop(file);
        let (file, reset) = VectorFile::open(dir.path(), meta, "m", 2);
        assert_eq!(reset, None);
        assert_eq!(file.rows(), 2);
    }
}
