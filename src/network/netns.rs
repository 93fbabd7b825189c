//! Named network namespaces: files under `<exec-root>/netns/` that pin a
//! network namespace by a bind mount of its nsfs inode, the way `ip netns`
//! does under `/run/netns`.
//!
//! Namespace switches happen only on throw-away OS threads spawned here: a
//! thread that `unshare`s or `setns`es its network namespace exits right
//! after, so no tokio worker thread ever changes namespace (DESIGN.md).
//!
//! Mount namespaces: a container's init unshares its mount namespace and so
//! copies every netns bind mount that exists at that moment. [`remove`]
//! still frees the namespace: the unmount propagates to copies in `rslave`
//! namespaces because [`prepare_dir`] makes the directory a bind mount of
//! itself with *shared* propagation (as `ip netns` does for `/run/netns`),
//! and the unlink of the mount point makes the kernel detach whatever is
//! still mounted on it in any other mount namespace, private ones included.
//! The init's `pivot_root` and detach of the old root drop the copies as
//! well. `tests/network_kernel.rs` checks this with live copies.

use std::fs::{self, File, OpenOptions};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sched::{CloneFlags, setns, unshare};

use crate::api::ErrorClass;

/// A named network namespace could not be created, entered or removed.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct NetnsError {
    /// The failing step.
    pub op: &'static str,
    /// The netns file or directory involved.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

impl NetnsError {
    fn new(op: &'static str, path: &Path, source: impl Into<io::Error>) -> Self {
        NetnsError {
            op,
            path: path.to_path_buf(),
            source: source.into(),
        }
    }

    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> ErrorClass {
        if self.source.kind() == io::ErrorKind::NotFound {
            ErrorClass::NotFound
        } else {
            ErrorClass::Internal
        }
    }
}

/// Creates `dir` (mode 0700) and makes it a bind mount of itself with shared
/// propagation, unless it already is a mount point. Idempotent; call once at
/// daemon start before creating any netns file in it.
pub fn prepare_dir(dir: &Path) -> Result<(), NetnsError> {
    crate::fsutil::create_private_dir(dir).map_err(|e| NetnsError::new("create", dir, e))?;
    if !is_mount_point(dir).map_err(|e| NetnsError::new("read mountinfo for", dir, e))? {
        mount(Some(dir), dir, None::<&str>, MsFlags::MS_BIND, None::<&str>)
            .map_err(|e| NetnsError::new("bind mount", dir, e))?;
    }
    mount(
        None::<&str>,
        dir,
        None::<&str>,
        MsFlags::MS_SHARED,
        None::<&str>,
    )
    .map_err(|e| NetnsError::new("make shared", dir, e))
}

/// Whether `path` is the mount point of some entry of this process's mount table.
fn is_mount_point(path: &Path) -> io::Result<bool> {
    let path = fs::canonicalize(path)?;
    let info = fs::read_to_string("/proc/self/mountinfo")?;
    Ok(info.lines().any(|line| {
        line.split(' ')
            .nth(4)
            .is_some_and(|mp| Path::new(&unescape_mountinfo(mp)) == path)
    }))
}

/// Undoes mountinfo's octal escapes (`\040` for a space and so on).
fn unescape_mountinfo(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && let Some(digits) = field.get(i + 1..i + 4)
            && let Ok(v) = u8::from_str_radix(digits, 8)
        {
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Creates a new network namespace pinned at `path` (an empty file bind
/// mounted onto the namespace), with `lo` up. Fails if `path` exists.
pub fn create(path: &Path) -> Result<(), NetnsError> {
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| NetnsError::new("create", path, e))?;
    let target = path.to_path_buf();
    let made = std::thread::spawn(move || -> Result<(), NetnsError> {
        // Only this thread changes namespace; it exits right after the
        // bind mount has pinned the new one.
        unshare(CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetnsError::new("unshare network namespace for", &target, e))?;
        crate::network::loopback::bring_up()
            .map_err(|e| NetnsError::new("bring up lo in", &target, e.source))?;
        mount(
            Some("/proc/thread-self/ns/net"),
            &target,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .map_err(|e| NetnsError::new("bind mount network namespace on", &target, e))
    })
    .join()
    .unwrap_or_else(|_| {
        Err(NetnsError::new(
            "create",
            path,
            io::Error::other("namespace thread panicked"),
        ))
    });
    if made.is_err() {
        // Best effort: the file is ours and empty; the error is what matters.
        let _ = fs::remove_file(path);
    }
    made
}

/// Unpins and deletes the netns file at `path`; the namespace dies once no
/// process lives in it. A missing file is success (teardown is idempotent).
pub fn remove(path: &Path) -> Result<(), NetnsError> {
    match umount2(path, MntFlags::MNT_DETACH) {
        Ok(()) | Err(nix::errno::Errno::EINVAL) | Err(nix::errno::Errno::ENOENT) => {}
        Err(e) => return Err(NetnsError::new("unmount", path, e)),
    }
    match fs::remove_file(path) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(NetnsError::new("remove", path, e)),
    }
}

/// Opens the namespace pinned at `path` (for `setns` or netlink's
/// `IFLA_NET_NS_FD`). Fails with `NotFound` if the file does not exist, and
/// refuses a plain file that is not a namespace.
pub fn open(path: &Path) -> Result<OwnedFd, NetnsError> {
    let file = File::open(path).map_err(|e| NetnsError::new("open", path, e))?;
    let fd = OwnedFd::from(file);
    let st = nix::sys::statfs::fstatfs(&fd).map_err(|e| NetnsError::new("statfs", path, e))?;
    if st.filesystem_type() != nix::sys::statfs::NSFS_MAGIC {
        return Err(NetnsError::new(
            "open",
            path,
            io::Error::new(io::ErrorKind::InvalidInput, "not a network namespace file"),
        ));
    }
    Ok(fd)
}

/// Runs `f` on a fresh OS thread that has joined the namespace at `path`, and
/// returns its result. The thread exits afterwards, so the namespace switch
/// never leaks into other work. Sockets `f` creates stay in that namespace.
pub fn run_in<T, F>(path: &Path, f: F) -> Result<T, NetnsError>
where
    T: Send + 'static,
    F: FnOnce() -> T + Send + 'static,
{
    let ns = open(path)?;
    let owned = path.to_path_buf();
    std::thread::spawn(move || -> Result<T, NetnsError> {
        setns(ns.as_fd(), CloneFlags::CLONE_NEWNET)
            .map_err(|e| NetnsError::new("enter network namespace", &owned, e))?;
        Ok(f())
    })
    .join()
    .unwrap_or_else(|payload| std::panic::resume_unwind(payload))
}
