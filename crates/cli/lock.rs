//! One `closest update` per notes folder at a time: an exclusive lock on `.closest/lock`. A
//! second run waits (saying so) up to a limit, then exits with a clear message. The lock is held
//! by the open file, so a killed run releases it with its process.

use std::fs::File;
use std::io::Write;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};

use crate::ui::Ui;

/// How long a second run waits for the first.
const WAIT_LIMIT: Duration = Duration::from_secs(120);

pub struct FolderLock {
    _file: File,
}

impl FolderLock {
    pub fn acquire(state_dir: &Path, ui: &Ui) -> Result<Self> {
        fs_err::create_dir_all(state_dir)?;
        let path = state_dir.join("lock");
        let mut file = fs_err::OpenOptions::new()
            .create(true)
            .truncate(false)
            .read(true)
            .write(true)
            .open(&path)?
            .into_parts()
            .0;
        let started = Instant::now();
        let mut told = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(std::fs::TryLockError::WouldBlock) => {
                    if !told {
                        ui.note(format!(
                            "waiting for another closest run on this folder (lock `{}`)",
                            path.display()
                        ));
                        told = true;
                    }
                    if started.elapsed() > WAIT_LIMIT {
                        bail!(
                            "another closest run still holds `{}` after {} s; wait for it to finish, or stop it",
                            path.display(),
                            WAIT_LIMIT.as_secs()
                        );
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                Err(std::fs::TryLockError::Error(err)) => {
                    bail!("cannot lock `{}`: {err}", path.display())
                }
            }
        }
        // The pid is for people reading the file; the lock itself is the kernel's.
        let _ = file.set_len(0);
        let _ = writeln!(file, "{}", std::process::id());
        Ok(Self { _file: file })
    }
}
