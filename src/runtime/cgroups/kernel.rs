//! The narrow door to the kernel's cgroup filesystems: every read, write,
//! mkdir and rmdir of this module goes through [`Kernel`], so unit tests can
//! record the exact writes with a fake instead of needing root.

use std::fs::OpenOptions;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

/// File operations on cgroup filesystems.
pub(crate) trait Kernel {
    /// The whole content of a cgroup file.
    fn read(&self, path: &Path) -> io::Result<String>;
    /// Writes `value` in one `write(2)` (cgroup files take one value per write).
    fn write(&self, path: &Path, value: &str) -> io::Result<()>;
    /// Creates one directory level (`EEXIST` when it is there).
    fn mkdir(&self, path: &Path) -> io::Result<()>;
    /// Removes one empty cgroup directory.
    fn rmdir(&self, path: &Path) -> io::Result<()>;
    /// Whether a file or directory exists.
    fn exists(&self, path: &Path) -> bool;
    /// Waits between polls (freezer state, busy rmdir).
    fn sleep(&self, d: Duration);
}

/// The real kernel.
pub(crate) struct Real;

impl Kernel for Real {
    fn read(&self, path: &Path) -> io::Result<String> {
        std::fs::read_to_string(path)
    }

    fn write(&self, path: &Path, value: &str) -> io::Result<()> {
        // No O_CREAT/O_TRUNC: a missing cgroup file is an error, never a new plain file.
        let mut f = OpenOptions::new().write(true).open(path)?;
        let n = f.write(value.as_bytes())?;
        if n != value.len() {
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short write"));
        }
        Ok(())
    }

    fn mkdir(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir(path)
    }

    fn rmdir(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_dir(path)
    }

    fn exists(&self, path: &Path) -> bool {
        path.exists()
    }

    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// A recording in-memory cgroup filesystem for unit tests.
#[cfg(test)]
pub(crate) mod fake {
    use std::cell::RefCell;
    use std::collections::{BTreeMap, BTreeSet};
    use std::io;
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::Kernel;

    /// Files and dirs in memory; every successful write is logged in order.
    #[derive(Default)]
    pub(crate) struct Fake {
        pub files: RefCell<BTreeMap<PathBuf, String>>,
        pub dirs: RefCell<BTreeSet<PathBuf>>,
        /// Every successful write, in order.
        pub writes: RefCell<Vec<(PathBuf, String)>>,
        /// Files (name, content) that appear in every new directory whose
        /// path starts with the key (like the kernel's per-controller files).
        pub templates: Vec<(PathBuf, Vec<(&'static str, &'static str)>)>,
        /// Errors (errno) returned by the next writes to a path, consumed one by one.
        pub write_errors: RefCell<BTreeMap<PathBuf, Vec<i32>>>,
        /// Errors (errno) returned by the next rmdirs of a path, consumed one by one.
        pub rmdir_errors: RefCell<BTreeMap<PathBuf, Vec<i32>>>,
        /// Files whose writes succeed but do not change what reads return
        /// (a freezer that never gets there).
        pub pinned: BTreeSet<PathBuf>,
    }

    impl Fake {
        /// Adds a directory (and its parents) with the given files.
        pub fn dir(&self, path: &str, files: &[(&str, &str)]) {
            let p = PathBuf::from(path);
            for a in p.ancestors() {
                self.dirs.borrow_mut().insert(a.to_path_buf());
            }
            for (n, c) in files {
                self.files.borrow_mut().insert(p.join(n), (*c).to_owned());
            }
        }

        /// The writes made so far as `(path, value)` strings.
        pub fn log(&self) -> Vec<(String, String)> {
            self.writes
                .borrow()
                .iter()
                .map(|(p, v)| (p.display().to_string(), v.clone()))
                .collect()
        }

        fn injected(map: &RefCell<BTreeMap<PathBuf, Vec<i32>>>, path: &Path) -> Option<i32> {
            let mut m = map.borrow_mut();
            let v = m.get_mut(path)?;
            (!v.is_empty()).then(|| v.remove(0))
        }
    }

    impl Kernel for Fake {
        fn read(&self, path: &Path) -> io::Result<String> {
            self.files
                .borrow()
                .get(path)
                .cloned()
                .ok_or_else(|| io::Error::from_raw_os_error(libc::ENOENT))
        }

        fn write(&self, path: &Path, value: &str) -> io::Result<()> {
            if let Some(e) = Self::injected(&self.write_errors, path) {
                return Err(io::Error::from_raw_os_error(e));
            }
            let mut files = self.files.borrow_mut();
            if !files.contains_key(path) {
                return Err(io::Error::from_raw_os_error(libc::ENOENT));
            }
            if self.pinned.contains(path) {
                self.writes
                    .borrow_mut()
                    .push((path.to_path_buf(), value.to_owned()));
                return Ok(());
            }
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            let dir = path.parent().unwrap_or(Path::new("/"));
            // The few files whose state the kernel derives from a write.
            match name {
                "cgroup.freeze" => {
                    files.insert(
                        dir.join("cgroup.events"),
                        format!("populated 1\nfrozen {value}\n"),
                    );
                }
                "cgroup.procs" => {
                    let old = files.get(path).cloned().unwrap_or_default();
                    files.insert(path.to_path_buf(), format!("{old}{value}\n"));
                    self.writes
                        .borrow_mut()
                        .push((path.to_path_buf(), value.to_owned()));
                    return Ok(());
                }
                "cgroup.subtree_control" => {
                    let old = files.get(path).cloned().unwrap_or_default();
                    let mut on: Vec<&str> = old.split_whitespace().collect();
                    let name = value.trim_start_matches(['+', '-']);
                    on.retain(|c| *c != name);
                    if value.starts_with('+') {
                        on.push(name);
                    }
                    let new = on.join(" ");
                    files.insert(path.to_path_buf(), new);
                    self.writes
                        .borrow_mut()
                        .push((path.to_path_buf(), value.to_owned()));
                    return Ok(());
                }
                _ => {}
            }
            files.insert(path.to_path_buf(), value.to_owned());
            self.writes
                .borrow_mut()
                .push((path.to_path_buf(), value.to_owned()));
            Ok(())
        }

        fn mkdir(&self, path: &Path) -> io::Result<()> {
            if self.dirs.borrow().contains(path) {
                return Err(io::Error::from_raw_os_error(libc::EEXIST));
            }
            let parent = path.parent().unwrap_or(Path::new("/"));
            if !self.dirs.borrow().contains(parent) {
                return Err(io::Error::from_raw_os_error(libc::ENOENT));
            }
            self.dirs.borrow_mut().insert(path.to_path_buf());
            for (prefix, files) in &self.templates {
                if path.starts_with(prefix) {
                    for (n, c) in files {
                        self.files
                            .borrow_mut()
                            .insert(path.join(n), (*c).to_owned());
                    }
                }
            }
            Ok(())
        }

        fn rmdir(&self, path: &Path) -> io::Result<()> {
            if let Some(e) = Self::injected(&self.rmdir_errors, path) {
                return Err(io::Error::from_raw_os_error(e));
            }
            if !self.dirs.borrow_mut().remove(path) {
                return Err(io::Error::from_raw_os_error(libc::ENOENT));
            }
            self.files
                .borrow_mut()
                .retain(|p, _| p.parent() != Some(path));
            Ok(())
        }

        fn exists(&self, path: &Path) -> bool {
            self.dirs.borrow().contains(path) || self.files.borrow().contains_key(path)
        }

        fn sleep(&self, _d: Duration) {}
    }
}
