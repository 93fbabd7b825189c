//! A container's root filesystem as the daemon reaches it for `cp`, `export` and
//! `commit`, without ever resolving a container path on the host.
//!
//! - A running container: `/proc/<init pid>/root`, the root of its own mount
//!   namespace (volumes and bind mounts included), opened once as a descriptor
//!   after checking the pid's start time against `supervisor.json`.
//! - A stopped container (or `export` of any): its overlay mounted with the new
//!   mount API as a *detached* mount (`fsmount`): it is in no mount namespace, so
//!   nothing stays mounted anywhere, and it goes away with its last descriptor.
//!
//! Every path inside is opened with `openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS)`
//! from the root descriptor, so `..` and absolute symlinks (even ones swapped in
//! while we work) stay inside the container (the CVE-2018-15664 / CVE-2019-14271
//! class). [`ContainerRoot::resolve`] evaluates symlinks the way dockerd's
//! `FollowSymlinkInScope` does, one `*at` call per component from a descriptor.

use std::ffi::OsStr;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, StatxFlags};
use rustix::io::Errno;

use crate::api::ErrorClass;

/// Symlinks followed in one resolution before giving up, as the kernel does.
const MAX_SYMLINK_HOPS: usize = 40;

/// Why a container's root could not be reached.
#[derive(Debug, thiserror::Error)]
pub enum RootAccessError {
    /// The container's process is no longer the one the supervisor recorded.
    #[error("container process {pid} is not running")]
    NotRunning {
        /// The recorded host pid.
        pid: i32,
    },
    /// Opening the process's root failed.
    #[error("opening {path}: {source}")]
    Open {
        /// The `/proc` path.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// The overlay could not be mounted.
    #[error("mounting the container's overlay (upper {upper}): {source}")]
    Mount {
        /// The container's upper directory.
        upper: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl RootAccessError {
    /// The API class of the error.
    pub fn class(&self) -> ErrorClass {
        match self {
            RootAccessError::NotRunning { .. } => ErrorClass::Conflict,
            RootAccessError::Open { .. } | RootAccessError::Mount { .. } => ErrorClass::Internal,
        }
    }
}

/// An open container root; paths are resolved inside it.
#[derive(Debug)]
pub struct ContainerRoot {
    root: OwnedFd,
    mnt_id: u64,
}

fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// Lexically splits a container path into components, `..` clamped at the root
/// (the kernel's `RESOLVE_IN_ROOT` rule).
pub fn components(path: &[u8]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c.to_vec()),
        }
    }
    out
}

/// `/a/b` for components `[a, b]`, `/` for none.
pub fn absolute(parts: &[Vec<u8>]) -> Vec<u8> {
    let mut out = Vec::new();
    for p in parts {
        out.push(b'/');
        out.extend_from_slice(p);
    }
    if out.is_empty() {
        out.push(b'/');
    }
    out
}

impl ContainerRoot {
    /// The root of a running container's mount namespace. `start_time` (from
    /// `supervisor.json`) must match the process's, before and after the open,
    /// so a reused pid cannot hand us another process's root.
    pub fn of_process(pid: i32, start_time: u64) -> Result<ContainerRoot, RootAccessError> {
        let gone = || RootAccessError::NotRunning { pid };
        if crate::runtime::state::proc_start_time(pid) != Some(start_time) {
            return Err(gone());
        }
        let path = PathBuf::from(format!("/proc/{pid}/root"));
        let root = rustix::fs::open(
            &path,
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOENT | Errno::SRCH => gone(),
            e => RootAccessError::Open {
                path: path.clone(),
                source: errno_io(e),
            },
        })?;
        if crate::runtime::state::proc_start_time(pid) != Some(start_time) {
            return Err(gone());
        }
        let mnt_id = mount_id(root.as_fd()).map_err(|source| RootAccessError::Open {
            path: path.clone(),
            source,
        })?;
        Ok(ContainerRoot { root, mnt_id })
    }

    /// Mounts the container's overlay as a detached mount. With `work`, `upper` is
    /// the writable upper layer (the container must not be running); without it the
    /// mount is read-only with `upper` as its topmost lower layer, which is safe
    /// next to a running container. `layers` are the image's, lowest first.
    pub fn overlay(
        layers: &[PathBuf],
        upper: &Path,
        work: Option<&Path>,
    ) -> Result<ContainerRoot, RootAccessError> {
        use rustix::mount::{
            FsMountFlags, FsOpenFlags, MountAttrFlags, fsconfig_create, fsconfig_set_flag,
            fsconfig_set_string, fsmount, fsopen,
        };
        let err = |source: io::Error| RootAccessError::Mount {
            upper: upper.to_path_buf(),
            source,
        };
        let mount = || -> io::Result<OwnedFd> {
            let fs_fd = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
            if work.is_none() {
                fsconfig_set_string(&fs_fd, "lowerdir+", upper)?;
            }
            // The topmost layer comes first in overlayfs' lower stack.
            for layer in layers.iter().rev() {
                fsconfig_set_string(&fs_fd, "lowerdir+", layer)?;
            }
            match work {
                Some(work) => {
                    fsconfig_set_string(&fs_fd, "upperdir", upper)?;
                    fsconfig_set_string(&fs_fd, "workdir", work)?;
                }
                None => fsconfig_set_flag(&fs_fd, "ro")?,
            }
            fsconfig_create(&fs_fd)?;
            let attrs = if work.is_some() {
                MountAttrFlags::MOUNT_ATTR_NODEV
            } else {
                MountAttrFlags::MOUNT_ATTR_RDONLY | MountAttrFlags::MOUNT_ATTR_NODEV
            };
            Ok(fsmount(&fs_fd, FsMountFlags::FSMOUNT_CLOEXEC, attrs)?)
        };
        let root = mount().map_err(err)?;
        let mnt_id = mount_id(root.as_fd()).map_err(err)?;
        Ok(ContainerRoot { root, mnt_id })
    }

    /// Wraps an already-open directory (a build context's unpacked tree, say) as a root, so
    /// that [`open`](Self::open) and [`resolve`](Self::resolve) stay inside it as they do
    /// inside a container's. Fails only if the directory's mount ID cannot be read.
    pub fn from_dir(dir: OwnedFd) -> io::Result<ContainerRoot> {
        let mnt_id = mount_id(dir.as_fd())?;
        Ok(ContainerRoot { root: dir, mnt_id })
    }

    /// The root descriptor.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.root.as_fd()
    }

    /// The mount ID of the root (a descriptor on another ID is on a volume or
    /// another mount inside the container).
    pub fn mount_id(&self) -> u64 {
        self.mnt_id
    }

    /// Opens `parts` (resolved components) inside the root with `flags`.
    pub fn open(&self, parts: &[Vec<u8>], flags: OFlags) -> io::Result<OwnedFd> {
        let path = if parts.is_empty() {
            b".".to_vec()
        } else {
            parts.join(&b'/')
        };
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let path = OsStr::from_bytes(&path);
        let mut tries = 0;
        loop {
            match rustix::fs::openat2(
                &self.root,
                path,
                flags | OFlags::CLOEXEC,
                Mode::empty(),
                how,
            ) {
                // The kernel asks for a retry when a rename raced the lookup.
                Err(Errno::AGAIN) if tries < 8 => tries += 1,
                r => return r.map_err(errno_io),
            }
        }
    }

    /// Evaluates symlinks in `path` inside the root, as dockerd's
    /// `FollowSymlinkInScope`: the last component is followed only if
    /// `follow_last`; a missing component ends the evaluation (the rest is
    /// appended as written, for the caller's lookup to fail on).
    pub fn resolve(&self, path: &[u8], follow_last: bool) -> io::Result<Vec<Vec<u8>>> {
        let mut pending: Vec<Vec<u8>> = components(path);
        pending.reverse();
        let mut resolved: Vec<Vec<u8>> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            let last = pending.is_empty();
            let parent = self.open(&resolved, OFlags::PATH | OFlags::DIRECTORY);
            let parent = match parent {
                Ok(p) => p,
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                    resolved.push(c);
                    resolved.extend(pending.into_iter().rev());
                    return Ok(resolved);
                }
                Err(e) => return Err(e),
            };
            let name = OsStr::from_bytes(&c);
            match rustix::fs::statat(&parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(st)
                    if FileType::from_raw_mode(st.st_mode) == FileType::Symlink
                        && (!last || follow_last) =>
                {
                    hops += 1;
                    if hops > MAX_SYMLINK_HOPS {
                        return Err(io::Error::from_raw_os_error(libc::ELOOP));
                    }
                    let target = rustix::fs::readlinkat(&parent, name, Vec::new())
                        .map_err(errno_io)?
                        .into_bytes();
                    if target.starts_with(b"/") {
                        resolved.clear();
                    }
                    for t in target.split(|&b| b == b'/').rev() {
                        pending.push(t.to_vec());
                    }
                }
                _ => resolved.push(c),
            }
            // `..` and `.` (from a link's target) are applied as they come.
            normalize_pending(&mut pending, &mut resolved);
        }
        Ok(resolved)
    }
}

/// Applies the `.`/`..`/empty components at the top of `pending` to `resolved`.
fn normalize_pending(pending: &mut Vec<Vec<u8>>, resolved: &mut Vec<Vec<u8>>) {
    while let Some(top) = pending.last() {
        match top.as_slice() {
            b"" | b"." => {
                pending.pop();
            }
            b".." => {
                pending.pop();
                resolved.pop();
            }
            _ => break,
        }
    }
}

/// The mount ID of an open file.
pub fn mount_id(fd: BorrowedFd<'_>) -> io::Result<u64> {
    let st =
        rustix::fs::statx(fd, "", AtFlags::EMPTY_PATH, StatxFlags::MNT_ID).map_err(errno_io)?;
    Ok(st.stx_mnt_id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn symlinks_resolve_inside_the_root_and_dotdot_stops_there() {
        let pid = std::process::id() as i32;
        let start = crate::runtime::state::proc_start_time(pid).unwrap();
        let root = ContainerRoot::of_process(pid, start).unwrap();
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::os::unix::fs::symlink("sub", d.path().join("l1")).unwrap();
        std::os::unix::fs::symlink("../../../../../../../..", d.path().join("sub/up")).unwrap();
        std::os::unix::fs::symlink("loop", d.path().join("loop")).unwrap();
        let base = d.path().as_os_str().as_bytes().to_vec();
        let p = |rest: &str| [base.clone(), rest.as_bytes().to_vec()].concat();
        let mut want = components(&base);
        want.push(b"sub".to_vec());
        assert_eq!(root.resolve(&p("/l1"), true).unwrap(), want);
        want.pop();
        want.push(b"l1".to_vec());
        assert_eq!(root.resolve(&p("/l1"), false).unwrap(), want);
        assert_eq!(
            root.resolve(&p("/l1/up"), true).unwrap(),
            Vec::<Vec<u8>>::new()
        );
        assert_eq!(
            root.resolve(&p("/l1/up/etc"), true).unwrap(),
            vec![b"etc".to_vec()]
        );
        let e = root.resolve(&p("/loop"), true).unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::ELOOP));
        assert!(ContainerRoot::of_process(pid, start + 1).is_err());
    }

    #[test]
    fn components_clamp_dotdot_at_the_root() {
        assert_eq!(
            components(b"/../a/./b/../c/"),
            vec![b"a".to_vec(), b"c".to_vec()]
        );
        assert_eq!(absolute(&components(b"/")), b"/".to_vec());
        assert_eq!(absolute(&components(b"a//b")), b"/a/b".to_vec());
    }
}
