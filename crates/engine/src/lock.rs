//! One run per notes folder at a time: an exclusive OS lock on `<state dir>/lock`. A second run
//! waits (the caller says so once) up to a limit, then stops with a clear message. The lock is
//! held by the open file, so a killed run releases it with its process.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::error::{Error, Result};

/// How long a second run waits for the first.
const WAIT_LIMIT: Duration = Duration::from_secs(120);

pub(crate) struct FolderLock {
    _file: File,
}

impl FolderLock {
    /// Takes the lock, calling `on_wait` once if another run holds it.
    pub(crate) fn acquire(state_dir: &Path, on_wait: &dyn Fn(&Path)) -> Result<Self> {
        crate::state_dir::ensure(state_dir)?;
        let path = state_dir.join("lock");
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)
            .map_err(|source| Error::io("open", &path, source))?;
        let started = Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !told {
                        on_wait(&path);
                        told = true;
                    }
                    if started.elapsed() > WAIT_LIMIT {
                        return Err(Error::Locked {
                            path,
                            seconds: WAIT_LIMIT.as_secs(),
                        });
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::Error(source)) => {
                    return Err(Error::io("lock", path, source))
                }
            }
        }
        // The pid is for people reading the file; the lock itself is the kernel's.
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(Self { _file: file })
    }
}
