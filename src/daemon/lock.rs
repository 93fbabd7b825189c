//! The data-root lock (one daemon per data root) and the PID file.

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};

/// Held for the daemon's lifetime; the kernel drops the lock if the daemon dies.
pub struct DataRootLock {
    _lock: Flock<File>,
}

/// Why the daemon could not take its data root or write its PID file.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another daemon holds the lock.
    #[error("data root {root} is in use by another berthd{}", .pid.map(|p| format!(" (pid {p})")).unwrap_or_default())]
    Busy {
        /// The data root.
        root: PathBuf,
        /// The other daemon's PID, when it could be read.
        pid: Option<u32>,
    },
    /// An I/O failure on the lock or PID file.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl DataRootLock {
    /// Takes `<data_root>/berthd.lock` or fails at once if another daemon has it.
    pub fn acquire(data_root: &Path) -> Result<DataRootLock, LockError> {
        let path = data_root.join("berthd.lock");
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
            Ok(l) => l,
            Err((mut file, _)) => {
                let mut s = String::new();
                let pid = file
                    .read_to_string(&mut s)
                    .ok()
                    .and_then(|_| s.trim().parse().ok());
                return Err(LockError::Busy {
                    root: data_root.to_path_buf(),
                    pid,
                });
            }
        };
        lock.set_len(0).map_err(io)?;
        lock.rewind().map_err(io)?;
        write!(lock, "{}", std::process::id()).map_err(io)?;
        Ok(DataRootLock { _lock: lock })
    }
}

/// Writes the daemon's PID to `path` atomically.
pub fn write_pidfile(path: &Path) -> Result<(), LockError> {
    berth::fsutil::atomic_write(path, format!("{}\n", std::process::id()).as_bytes()).map_err(
        |source| LockError::Io {
            path: path.to_path_buf(),
            source,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_lock_on_the_same_root_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let first = DataRootLock::acquire(dir.path()).unwrap();
        let err = DataRootLock::acquire(dir.path())
            .err()
            .expect("second lock must fail");
        assert!(
            err.to_string()
                .contains(&format!("pid {}", std::process::id())),
            "{err}"
        );
        drop(first);
        DataRootLock::acquire(dir.path()).unwrap();
    }
}
