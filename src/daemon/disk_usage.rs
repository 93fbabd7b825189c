//! Disk use as `du` measures it: `st_blocks * 512` of every inode under a
//! path, symlinks not followed, an inode with several links counted once.
//! Prune reports what it freed with [`Scan::freed`], which only counts an
//! inode when every one of its links was among the removed paths.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// One inode met during a scan.
#[derive(Debug, Clone, Copy)]
struct Inode {
    bytes: u64,
    nlink: u64,
    is_dir: bool,
}

/// The inodes under a set of paths, with how many of their links were seen.
#[derive(Debug, Default)]
pub struct Scan {
    inodes: HashMap<(u64, u64), (Inode, u64)>,
}

impl Scan {
    /// A scan of the given paths (missing ones add nothing).
    pub fn of<P: AsRef<Path>>(paths: impl IntoIterator<Item = P>) -> Scan {
        let mut s = Scan::default();
        for p in paths {
            s.add(p.as_ref());
        }
        s
    }

    /// Adds everything under `path` (the path itself included).
    pub fn add(&mut self, path: &Path) {
        let Ok(meta) = std::fs::symlink_metadata(path) else {
            return;
        };
        let e = self.inodes.entry((meta.dev(), meta.ino())).or_insert((
            Inode {
                bytes: meta.blocks() * 512,
                nlink: meta.nlink(),
                is_dir: meta.is_dir(),
            },
            0,
        ));
        e.1 += 1;
        // A directory met twice (the same path given twice) is walked once.
        if meta.is_dir()
            && e.1 == 1
            && let Ok(entries) = std::fs::read_dir(path)
        {
            for entry in entries.flatten() {
                self.add(&entry.path());
            }
        }
    }

    /// `du -s --block-size=1` of the scanned paths together.
    pub fn total(&self) -> u64 {
        self.inodes.values().map(|(i, _)| i.bytes).sum()
    }

    /// The bytes removing the scanned paths frees: a file with a link
    /// outside them stays allocated, so it is not counted.
    pub fn freed(&self) -> u64 {
        self.inodes
            .values()
            .filter(|(i, seen)| i.is_dir || *seen >= i.nlink)
            .map(|(i, _)| i.bytes)
            .sum()
    }
}

/// `du -s --block-size=1 <path>`.
pub fn du(path: &Path) -> u64 {
    Scan::of([path]).total()
}

/// Scans each path on its own, before they are removed; give the result to
/// [`freed_of_gone`] once the removal is done.
pub fn scan_each(paths: impl IntoIterator<Item = PathBuf>) -> HashMap<PathBuf, Scan> {
    paths
        .into_iter()
        .map(|p| {
            let s = Scan::of([&p]);
            (p, s)
        })
        .collect()
}

/// The bytes freed by the removal of those scanned paths that no longer
/// exist, inodes shared between them counted once.
pub fn freed_of_gone(scans: HashMap<PathBuf, Scan>) -> u64 {
    let mut all = Scan::default();
    for (path, scan) in scans {
        if std::fs::symlink_metadata(&path).is_ok() {
            continue;
        }
        for (key, (inode, seen)) in scan.inodes {
            let e = all.inodes.entry(key).or_insert((inode, 0));
            e.1 += seen;
        }
    }
    all.freed()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hardlinks_count_once_and_only_when_all_links_go() {
        let dir = tempfile::Builder::new()
            .prefix("berth-du")
            .tempdir()
            .unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        std::fs::create_dir_all(&a).unwrap();
        std::fs::create_dir_all(&b).unwrap();
        std::fs::write(a.join("f"), vec![7u8; 100_000]).unwrap();
        std::fs::hard_link(a.join("f"), a.join("g")).unwrap();
        std::fs::hard_link(a.join("f"), b.join("f")).unwrap();
        let file = std::fs::metadata(a.join("f")).unwrap().blocks() * 512;
        let dirs = |ps: &[&Path]| -> u64 {
            ps.iter()
                .map(|p| std::fs::metadata(p).unwrap().blocks() * 512)
                .sum()
        };
        assert_eq!(du(&a), file + dirs(&[&a]));
        // The file keeps a link in b: removing a frees only a's directory.
        assert_eq!(Scan::of([&a]).freed(), dirs(&[&a]));
        assert_eq!(Scan::of([&a, &b]).freed(), file + dirs(&[&a, &b]));

        let a_dir = dirs(&[&a]);
        let scans = scan_each([a.clone(), b.clone()]);
        std::fs::remove_dir_all(&a).unwrap();
        // Only a is gone: its file survives through b.
        assert_eq!(freed_of_gone(scans), a_dir);
    }
}
