//! Byte-level helpers for `persist`: checksums, atomic writes, raw f32 rows and the guarded
//! calls into hnsw_rs's own dump and reload.
//!
//! Saved files sit in the user's notes folder, where editors, sync tools and full disks can
//! truncate or garble them. Every file is therefore checksummed when written and verified before
//! anything parses it; that matters most for hnsw_rs, whose loader trusts sizes read from the
//! file and can exit the process or read out of bounds on garbage.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use hnsw_rs::api::AnnT;
use hnsw_rs::hnswio::HnswIo;
use serde::{Deserialize, Serialize};

use crate::error::Error;
use crate::hnsw::{Graph, UnitDot};

/// A 64-bit running hash for damage detection (not security). Each step is a bijection of the
/// state for a fixed input word, so any change confined to one 8-byte word is always detected,
/// and the length is mixed in last, so truncation is too.
pub(crate) struct Checksum {
    state: u64,
    len: u64,
    pending: Vec<u8>,
}

const CHECKSUM_SEED: u64 = 0xcbf2_9ce4_8422_2325;
const CHECKSUM_MUL: u64 = 0x9e37_79b9_7f4a_7c15;

impl Checksum {
    pub(crate) fn new() -> Self {
        Checksum {
            state: CHECKSUM_SEED,
            len: 0,
            pending: Vec::with_capacity(8),
        }
    }

    #[inline]
    fn mix(&mut self, word: u64) {
        self.state = (self.state.rotate_left(23) ^ word).wrapping_mul(CHECKSUM_MUL);
    }

    pub(crate) fn update(&mut self, mut bytes: &[u8]) {
        self.len += bytes.len() as u64;
        if !self.pending.is_empty() {
            let take = (8 - self.pending.len()).min(bytes.len());
            self.pending.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.pending.len() < 8 {
                return;
            }
            let word = u64::from_le_bytes(self.pending[..8].try_into().unwrap_or([0; 8]));
            self.mix(word);
            self.pending.clear();
        }
        let words = bytes.chunks_exact(8);
        self.pending.extend_from_slice(words.remainder());
        for word in words {
            self.mix(u64::from_le_bytes(word.try_into().unwrap_or([0; 8])));
        }
    }

    pub(crate) fn finish(mut self) -> String {
        if !self.pending.is_empty() {
            let mut last = [0u8; 8];
            last[..self.pending.len()].copy_from_slice(&self.pending);
            self.mix(u64::from_le_bytes(last));
        }
        let len = self.len;
        self.mix(len);
        format!("{:016x}", self.state)
    }
}

/// Name, size and checksum of one saved file, as recorded in the header.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileRecord {
    pub(crate) name: String,
    pub(crate) bytes: u64,
    pub(crate) checksum: String,
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a reader sees the old
/// content or the new, never half of one.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), Error> {
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let tmp = path.with_file_name(format!(
        "{}.tmp-{}",
        file_name.unwrap_or_default(),
        std::process::id()
    ));
    let mut file = File::create(&tmp).map_err(|e| Error::io("create", &tmp, e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| Error::io("write", &tmp, e))?;
    fs::rename(&tmp, path).map_err(|e| Error::io("replace", path, e))?;
    sync_parent(path);
    Ok(())
}

/// Makes a rename durable. Best effort: some platforms cannot open a directory for syncing, and
/// the rename itself is already atomic there.
fn sync_parent(path: &Path) {
    if let Some(parent) = path.parent() {
        if let Ok(dir) = File::open(parent) {
            let _ = dir.sync_all();
        }
    }
}

/// Writes rows as raw little-endian f32 and returns the file's record.
pub(crate) fn write_rows(dir: &Path, name: &str, data: &[f32]) -> Result<FileRecord, Error> {
    let path = dir.join(name);
    let file = File::create(&path).map_err(|e| Error::io("create", &path, e))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    let mut checksum = Checksum::new();
    write_le(&mut out, &mut checksum, data).map_err(|e| Error::io("write", &path, e))?;
    Ok(FileRecord {
        name: name.to_owned(),
        bytes: (data.len() * 4) as u64,
        checksum: checksum.finish(),
    })
}

fn write_le(out: &mut BufWriter<File>, checksum: &mut Checksum, data: &[f32]) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(1 << 16);
    for chunk in data.chunks(1 << 14) {
        bytes.clear();
        bytes.extend(chunk.iter().flat_map(|v| v.to_le_bytes()));
        checksum.update(&bytes);
        out.write_all(&bytes)?;
    }
    out.flush()?;
    out.get_ref().sync_all()
}

/// Reads rows written by `write_rows`, after checking size and checksum against the record.
pub(crate) fn read_rows(dir: &Path, record: &FileRecord) -> Result<Vec<f32>, String> {
    let path = dir.join(&record.name);
    let bytes = fs::read(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if bytes.len() as u64 != record.bytes {
        return Err(format!(
            "`{}` is damaged: {} bytes, the header expects {}",
            path.display(),
            bytes.len(),
            record.bytes
        ));
    }
    let mut checksum = Checksum::new();
    checksum.update(&bytes);
    if checksum.finish() != record.checksum {
        return Err(format!(
            "`{}` is damaged (checksum mismatch)",
            path.display()
        ));
    }
    Ok(bytes
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect())
}

/// Records an existing file (one hnsw_rs wrote), syncing it to disk on the way.
pub(crate) fn record_file(dir: &Path, name: &str) -> Result<FileRecord, Error> {
    let path = dir.join(name);
    let (bytes, checksum) = checksum_file(&path).map_err(|e| Error::io("read back", &path, e))?;
    File::open(&path)
        .and_then(|file| file.sync_all())
        .map_err(|e| Error::io("sync", &path, e))?;
    Ok(FileRecord {
        name: name.to_owned(),
        bytes,
        checksum,
    })
}

/// Checks a file's size and checksum against its record.
pub(crate) fn verify_file(dir: &Path, record: &FileRecord) -> Result<(), String> {
    let path = dir.join(&record.name);
    let (bytes, checksum) =
        checksum_file(&path).map_err(|e| format!("cannot read `{}`: {e}", path.display()))?;
    if bytes != record.bytes || checksum != record.checksum {
        return Err(format!(
            "`{}` is damaged (size or checksum mismatch)",
            path.display()
        ));
    }
    Ok(())
}

fn checksum_file(path: &Path) -> io::Result<(u64, String)> {
    let mut file = File::open(path)?;
    let mut checksum = Checksum::new();
    let mut buffer = vec![0u8; 1 << 20];
    let mut bytes = 0u64;
    loop {
        let read = file.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        bytes += read as u64;
        checksum.update(&buffer[..read]);
    }
    Ok((bytes, checksum.finish()))
}

/// Dumps the graph with hnsw_rs and returns the basename it really used (hnsw_rs appends a
/// random suffix instead of overwriting an existing dump).
pub(crate) fn dump_graph(graph: &Graph, dir: &Path, basename: &str) -> Result<String, Error> {
    let failed = |message: String| Error::HnswDump {
        path: dir.to_path_buf(),
        message,
    };
    match catch_unwind(AssertUnwindSafe(|| graph.file_dump(dir, basename))) {
        Ok(Ok(used)) => Ok(used),
        Ok(Err(error)) => Err(failed(error.to_string())),
        Err(panic) => Err(failed(panic_message(panic.as_ref()))),
    }
}

/// Reloads a graph dumped by `dump_graph`, after its files passed `verify_file`.
///
/// hnsw_rs ties the graph's lifetime to its `HnswIo` loader (for memory-mapped data, which we do
/// not use). The loader, a path and a few counters, is leaked so the graph can be `'static`: a
/// few hundred bytes per load, once per command, instead of a self-referential struct.
/// Panics inside hnsw_rs become errors; its remaining exits on malformed input are out of reach
/// of `catch_unwind`, which is why the checksums are verified first.
pub(crate) fn load_graph(dir: &Path, basename: &str) -> Result<Graph, String> {
    let reload = || {
        let loader: &'static mut HnswIo = Box::leak(Box::new(HnswIo::new(dir, basename)));
        loader.load_hnsw::<f32, UnitDot>()
    };
    match catch_unwind(AssertUnwindSafe(reload)) {
        Ok(Ok(graph)) => Ok(graph),
        Ok(Err(error)) => Err(format!("hnsw_rs could not reload the graph: {error}")),
        Err(panic) => Err(format!(
            "hnsw_rs could not reload the graph: {}",
            panic_message(panic.as_ref())
        )),
    }
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    if let Some(message) = panic.downcast_ref::<&str>() {
        (*message).to_owned()
    } else if let Some(message) = panic.downcast_ref::<String>() {
        message.clone()
    } else {
        "it panicked".to_owned()
    }
}
