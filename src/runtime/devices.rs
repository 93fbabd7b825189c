//! The host's device nodes for `--privileged` containers, as runc's
//! `HostDevices` lists them: every character and block device under the
//! host's `/dev`, recursively, except the `pts`, `shm`, `fd`, `mqueue`,
//! `.lxc`, `.lxd-mounts` and `.udev` trees and `/dev/console` (which is the
//! container's own). They are recreated with `mknod` (same type, numbers,
//! mode and owner) in the container's `/dev` tmpfs; nodes the container
//! already has (`null`, `tty`, ...) are kept.

use std::fs;
use std::io;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use nix::sys::stat::{Mode, SFlag, mknod};

/// Directories of `/dev` whose devices are not copied.
pub const SKIPPED_DIRS: &[&str] = &["pts", "shm", "fd", "mqueue", ".lxc", ".lxd-mounts", ".udev"];

/// A device node found on the host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostDevice {
    /// Path relative to `/dev`, e.g. `net/tun`.
    pub rel: PathBuf,
    /// Block (`true`) or character device.
    pub block: bool,
    /// `st_rdev`.
    pub rdev: u64,
    /// Permission bits.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
}

/// Lists the device nodes under `dev` (the host's `/dev`), sorted.
pub fn host_devices(dev: &Path) -> io::Result<Vec<HostDevice>> {
    let mut out = Vec::new();
    walk(dev, Path::new(""), &mut out)?;
    out.sort_by(|a, b| a.rel.cmp(&b.rel));
    Ok(out)
}

fn walk(dev: &Path, rel: &Path, out: &mut Vec<HostDevice>) -> io::Result<()> {
    for entry in fs::read_dir(dev.join(rel))? {
        let entry = entry?;
        let name = entry.file_name();
        let rel = rel.join(&name);
        let meta = entry.metadata()?; // does not follow symlinks
        let ft = meta.file_type();
        if ft.is_dir() {
            if rel.parent() == Some(Path::new("")) && SKIPPED_DIRS.iter().any(|d| name == *d) {
                continue;
            }
            walk(dev, &rel, out)?;
        } else if (ft.is_char_device() || ft.is_block_device()) && rel != Path::new("console") {
            out.push(HostDevice {
                rel,
                block: ft.is_block_device(),
                rdev: meta.rdev(),
                mode: meta.mode() & 0o7777,
                uid: meta.uid(),
                gid: meta.gid(),
            });
        }
    }
    Ok(())
}

/// Creates `devices` under `dest` (the container's `/dev`), with parent
/// directories; existing nodes are left as they are.
pub fn create(dest: &Path, devices: &[HostDevice]) -> io::Result<()> {
    for d in devices {
        let path = dest.join(&d.rel);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let kind = if d.block {
            SFlag::S_IFBLK
        } else {
            SFlag::S_IFCHR
        };
        match mknod(&path, kind, Mode::from_bits_truncate(d.mode), d.rdev) {
            Ok(()) => {}
            Err(nix::errno::Errno::EEXIST) => continue,
            Err(e) => return Err(io::Error::other(format!("mknod {}: {e}", path.display()))),
        }
        // mknod honours the umask; the node gets the host's exact mode.
        fs::set_permissions(&path, fs::Permissions::from_mode(d.mode))?;
        std::os::unix::fs::lchown(&path, Some(d.uid), Some(d.gid))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hosts_dev_is_listed_without_the_skipped_trees() {
        let devs = host_devices(Path::new("/dev")).unwrap();
        let null = devs
            .iter()
            .find(|d| d.rel == Path::new("null"))
            .expect("/dev/null listed");
        assert!(!null.block);
        assert_eq!(null.rdev, nix::sys::stat::makedev(1, 3));
        for d in &devs {
            let first = d.rel.components().next().unwrap().as_os_str();
            assert!(!SKIPPED_DIRS.iter().any(|s| first == *s), "{d:?}");
            assert_ne!(d.rel, Path::new("console"));
        }
    }
}
