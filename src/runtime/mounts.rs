//! The container's own mounts (Docker's binds, volumes and tmpfs), made by
//! the init after the standard rootfs mounts and before `pivot_root`.
//!
//! Targets are resolved inside the container root with
//! [`resolve_in_root`](super::rootfs::resolve_in_root), so a symlink in the
//! image (absolute, or `../..`) cannot redirect a mount onto the host, and
//! each mount is made on an fd re-opened with `openat2(RESOLVE_IN_ROOT)`
//! ([`VolumeOps::mount_in_root`]), so a symlink swapped in meanwhile cannot
//! either. Mounts are made parents first (sorted by path depth, as Docker
//! does). A volume bind marked `copy_up` that is still empty gets the image's
//! content at the target copied in first (ownership, modes, times, symlinks,
//! device nodes, hard links and xattrs), as Docker does.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::mount::MsFlags;
use serde::{Deserialize, Serialize};

use super::rootfs::{Host, MountOps, PathKind, RootfsError, resolve_in_root};

/// One mount of a container, as the daemon resolved it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountSpec {
    /// Absolute path inside the container.
    pub target: String,
    /// Mounted read-only.
    #[serde(default)]
    pub readonly: bool,
    /// What is mounted there.
    pub kind: MountKind,
}

/// What a [`MountSpec`] mounts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum MountKind {
    /// A host path (a bind, or a local volume's `_data`), bound recursively.
    Bind {
        /// Host path; a directory or a file.
        source: PathBuf,
        /// Propagation of the new mount.
        propagation: Propagation,
        /// An empty source directory first gets the image's content at the target.
        #[serde(default)]
        copy_up: bool,
    },
    /// A fresh tmpfs with Docker's defaults (`noexec,nosuid,nodev`).
    Tmpfs {
        /// Docker's option string: `size=64m,mode=1777,exec,...`.
        options: String,
    },
    /// A filesystem mount (a local volume with `type`/`device`/`o` options).
    Fs {
        /// `-t`.
        fstype: String,
        /// The device (`tmpfs`, `/dev/sdb1`, ...).
        device: String,
        /// The `o` option string: flags and filesystem data.
        options: String,
    },
}

/// Mount propagation, with Docker's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Propagation {
    /// `private`.
    Private,
    /// `rprivate`, Docker's default.
    #[default]
    Rprivate,
    /// `shared`.
    Shared,
    /// `rshared`.
    Rshared,
    /// `slave`.
    Slave,
    /// `rslave`.
    Rslave,
}

impl Propagation {
    /// Parses Docker's name.
    pub fn parse(s: &str) -> Option<Propagation> {
        Some(match s {
            "private" => Propagation::Private,
            "rprivate" => Propagation::Rprivate,
            "shared" => Propagation::Shared,
            "rshared" => Propagation::Rshared,
            "slave" => Propagation::Slave,
            "rslave" => Propagation::Rslave,
            _ => return None,
        })
    }

    fn flags(self) -> MsFlags {
        match self {
            Propagation::Private => MsFlags::MS_PRIVATE,
            Propagation::Rprivate => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
            Propagation::Shared => MsFlags::MS_SHARED,
            Propagation::Rshared => MsFlags::MS_SHARED | MsFlags::MS_REC,
            Propagation::Slave => MsFlags::MS_SLAVE,
            Propagation::Rslave => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        }
    }
}

/// The mount flags `mount(8)` knows by name: (name, flag, whether it sets).
const FLAG_NAMES: &[(&str, MsFlags, bool)] = &[
    ("ro", MsFlags::MS_RDONLY, true),
    ("rw", MsFlags::MS_RDONLY, false),
    ("nosuid", MsFlags::MS_NOSUID, true),
    ("suid", MsFlags::MS_NOSUID, false),
    ("nodev", MsFlags::MS_NODEV, true),
    ("dev", MsFlags::MS_NODEV, false),
    ("noexec", MsFlags::MS_NOEXEC, true),
    ("exec", MsFlags::MS_NOEXEC, false),
    ("sync", MsFlags::MS_SYNCHRONOUS, true),
    ("async", MsFlags::MS_SYNCHRONOUS, false),
    ("dirsync", MsFlags::MS_DIRSYNC, true),
    ("mand", MsFlags::MS_MANDLOCK, true),
    ("nomand", MsFlags::MS_MANDLOCK, false),
    ("noatime", MsFlags::MS_NOATIME, true),
    ("atime", MsFlags::MS_NOATIME, false),
    ("nodiratime", MsFlags::MS_NODIRATIME, true),
    ("diratime", MsFlags::MS_NODIRATIME, false),
    ("relatime", MsFlags::MS_RELATIME, true),
    ("norelatime", MsFlags::MS_RELATIME, false),
    ("strictatime", MsFlags::MS_STRICTATIME, true),
    ("nostrictatime", MsFlags::MS_STRICTATIME, false),
];

/// Splits a comma-separated option string into mount flags (starting from
/// `flags`) and the filesystem data (`size=64m,mode=1777`), like `mount(8)`.
pub fn parse_options(options: &str, mut flags: MsFlags) -> (MsFlags, String) {
    let mut data = Vec::new();
    for opt in options.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        match FLAG_NAMES.iter().find(|(name, _, _)| *name == opt) {
            Some((_, flag, true)) => flags.insert(*flag),
            Some((_, flag, false)) => flags.remove(*flag),
            None => data.push(opt),
        }
    }
    (flags, data.join(","))
}

/// Whether one of `mounts` has exactly `path` (e.g. `/etc/hosts`) as its
/// target: the init then leaves that path to it, as Docker does.
pub fn covers(mounts: &[MountSpec], path: &str) -> bool {
    let clean = |p: &str| -> PathBuf { Path::new(p).components().collect() };
    mounts.iter().any(|m| clean(&m.target) == clean(path))
}

/// Path depth of a container path, the sort key of Docker's mount order.
fn depth(path: &str) -> usize {
    Path::new(path)
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

/// What [`mount_all`] needs beyond [`MountOps`]: the flags of the filesystem
/// holding a path (a read-only remount must keep `nosuid`, `nodev`,
/// `noexec`, or the kernel refuses it where they are locked), whether a host
/// path is a directory (following symlinks), and the image-content copy.
pub trait VolumeOps: MountOps {
    /// `statvfs` flags of `path` as mount flags.
    fn fs_flags(&self, path: &Path) -> io::Result<MsFlags>;
    /// Whether `path` (following symlinks) is a directory; `None` if it does not exist.
    fn source_is_dir(&self, path: &Path) -> Option<bool>;
    /// Copies the image's content at `from` into the empty volume `to`,
    /// unless `to` already has content.
    fn copy_up(&mut self, from: &Path, to: &Path) -> io::Result<()>;
    /// `mount(2)` onto `target`, a path [`resolve_in_root`] gave under
    /// `root`. The real kernel re-resolves it with `openat2(RESOLVE_IN_ROOT)`
    /// and mounts on that fd, so a symlink swapped in meanwhile (by another
    /// container sharing a volume on the way) cannot send the mount outside `root`.
    fn mount_in_root(
        &mut self,
        root: &Path,
        target: &Path,
        source: Option<&Path>,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
}

impl VolumeOps for Host {
    fn fs_flags(&self, path: &Path) -> io::Result<MsFlags> {
        use rustix::fs::StatVfsMountFlags as F;
        let st = rustix::fs::statvfs(path)?;
        let mut flags = MsFlags::empty();
        for (vfs, ms) in [
            (F::NOSUID, MsFlags::MS_NOSUID),
            (F::NODEV, MsFlags::MS_NODEV),
            (F::NOEXEC, MsFlags::MS_NOEXEC),
            (F::NOATIME, MsFlags::MS_NOATIME),
            (F::NODIRATIME, MsFlags::MS_NODIRATIME),
            (F::RELATIME, MsFlags::MS_RELATIME),
        ] {
            if st.f_flag.contains(vfs) {
                flags.insert(ms);
            }
        }
        Ok(flags)
    }

    fn source_is_dir(&self, path: &Path) -> Option<bool> {
        fs::metadata(path).ok().map(|m| m.is_dir())
    }

    fn mount_in_root(
        &mut self,
        root: &Path,
        target: &Path,
        source: Option<&Path>,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        use rustix::fs::{Mode, OFlags, ResolveFlags};
        use std::os::fd::AsRawFd;
        let rel = target
            .strip_prefix(root)
            .map_err(|_| io::Error::from_raw_os_error(libc::EXDEV))?;
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        let dir_flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let root_fd = rustix::fs::open(root, dir_flags, Mode::empty())?;
        let fd = rustix::fs::openat2(
            &root_fd,
            rel,
            OFlags::PATH | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )?;
        let by_fd = PathBuf::from(format!("/proc/self/fd/{}", fd.as_raw_fd()));
        // The fd must still be the checked path: a swap in between is refused.
        let expected = fs::canonicalize(root)?.join(rel);
        if fs::read_link(&by_fd)? != expected {
            return Err(io::Error::other(format!(
                "mount target {} changed while it was being mounted",
                target.display()
            )));
        }
        self.mount(source, &by_fd, fstype, flags, data)
    }

    fn copy_up(&mut self, from: &Path, to: &Path) -> io::Result<()> {
        if fs::read_dir(to)?.next().is_some() {
            return Ok(());
        }
        match fs::symlink_metadata(from) {
            Ok(m) if m.is_dir() => copy_tree(from, to),
            // Nothing (or no directory) to copy from.
            _ => Ok(()),
        }
    }
}

fn fail<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RootfsError + 'a {
    move |source| RootfsError {
        op,
        path: path.to_owned(),
        source,
    }
}

/// Makes every mount in `mounts` inside `root` (the container's rootfs,
/// before `pivot_root`), parents first.
pub fn mount_all(
    k: &mut impl VolumeOps,
    root: &Path,
    mounts: &[MountSpec],
) -> Result<(), RootfsError> {
    let mut ordered: Vec<&MountSpec> = mounts.iter().collect();
    ordered.sort_by_key(|m| depth(&m.target));
    for m in ordered {
        let target = resolve_in_root(root, Path::new(&m.target))
            .map_err(fail("resolve mount target", Path::new(&m.target)))?;
        match &m.kind {
            MountKind::Bind {
                source,
                propagation,
                copy_up,
            } => bind(k, root, m, source, &target, *propagation, *copy_up)?,
            MountKind::Tmpfs { options } => {
                make_dir(k, &target)?;
                let base = MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
                let (mut flags, data) = parse_options(options, base);
                flags.set(
                    MsFlags::MS_RDONLY,
                    m.readonly || flags.contains(MsFlags::MS_RDONLY),
                );
                let data = (!data.is_empty()).then_some(data.as_str());
                let tmpfs = Some(Path::new("tmpfs"));
                k.mount_in_root(root, &target, tmpfs, Some("tmpfs"), flags, data)
                    .map_err(fail("mount tmpfs on", &target))?;
            }
            MountKind::Fs {
                fstype,
                device,
                options,
            } => {
                make_dir(k, &target)?;
                let (mut flags, data) = parse_options(options, MsFlags::empty());
                if m.readonly {
                    flags.insert(MsFlags::MS_RDONLY);
                }
                let data = (!data.is_empty()).then_some(data.as_str());
                let device = Some(Path::new(device));
                k.mount_in_root(root, &target, device, Some(fstype), flags, data)
                    .map_err(fail("mount volume on", &target))?;
            }
        }
    }
    Ok(())
}

/// A directory mount point: created when missing; anything else there is refused.
fn make_dir(k: &mut impl VolumeOps, target: &Path) -> Result<(), RootfsError> {
    match k.kind(target) {
        PathKind::Dir => Ok(()),
        PathKind::Missing => k
            .mkdir_all(target)
            .map_err(fail("create mount point", target)),
        PathKind::Other => Err(RootfsError {
            op: "mount a directory over",
            path: target.to_owned(),
            source: io::Error::from_raw_os_error(libc::ENOTDIR),
        }),
    }
}

fn bind(
    k: &mut impl VolumeOps,
    root: &Path,
    m: &MountSpec,
    source: &Path,
    target: &Path,
    propagation: Propagation,
    copy_up: bool,
) -> Result<(), RootfsError> {
    let is_dir = k.source_is_dir(source).ok_or_else(|| RootfsError {
        op: "bind mount source",
        path: source.to_owned(),
        source: io::Error::from_raw_os_error(libc::ENOENT),
    })?;
    if is_dir {
        if copy_up && k.kind(target) == PathKind::Dir {
            k.copy_up(target, source)
                .map_err(fail("copy image content into volume from", target))?;
        }
        make_dir(k, target)?;
    } else {
        match k.kind(target) {
            PathKind::Other => {}
            PathKind::Dir => {
                return Err(RootfsError {
                    op: "bind a file over",
                    path: target.to_owned(),
                    source: io::Error::from_raw_os_error(libc::EISDIR),
                });
            }
            PathKind::Missing => {
                if let Some(parent) = target.parent() {
                    k.mkdir_all(parent)
                        .map_err(fail("create directory", parent))?;
                }
                k.create_file(target)
                    .map_err(fail("create mount point", target))?;
            }
        }
    }
    let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
    k.mount_in_root(root, target, Some(source), None, rbind, None)
        .map_err(fail("bind mount on", target))?;
    if m.readonly {
        let keep = k.fs_flags(target).map_err(fail("statvfs", target))?;
        let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | keep;
        k.mount(None, target, None, flags, None)
            .map_err(fail("remount read-only", target))?;
    }
    k.mount(None, target, None, propagation.flags(), None)
        .map_err(fail("set mount propagation of", target))
}

/// Binds the generated `/etc/hostname`, `/etc/hosts` and `/etc/resolv.conf`
/// from `etc_dir` over the container's own, except those one of `mounts`
/// targets (Docker leaves those to the user's mount).
pub fn bind_etc_files(
    k: &mut impl MountOps,
    root: &Path,
    etc_dir: &Path,
    mounts: &[MountSpec],
) -> Result<(), RootfsError> {
    for name in super::etc::FILES {
        let path = format!("/etc/{name}");
        if !covers(mounts, &path) {
            super::rootfs::bind_file(k, &etc_dir.join(name), root, &path)?;
        }
    }
    Ok(())
}

/// With a read-only root, remounts the generated `/etc` files bound by
/// [`bind_etc_files`] read-only too, as Docker does (moby's `NetworkMounts`
/// are writable only without `ReadonlyRootfs`). Runs after `pivot_root`.
pub fn remount_etc_files_readonly(
    k: &mut impl MountOps,
    mounts: &[MountSpec],
) -> Result<(), RootfsError> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    for name in super::etc::FILES {
        let path = PathBuf::from(format!("/etc/{name}"));
        if !covers(mounts, &path.to_string_lossy()) {
            k.mount(None, &path, None, flags, None)
                .map_err(|source| RootfsError {
                    op: "remount read-only",
                    path,
                    source,
                })?;
        }
    }
    Ok(())
}

/// Copies the tree at `from` into the existing directory `to` the way
/// Docker populates a volume: `to` takes `from`'s owner and mode; entries
/// keep owner, mode, times and xattrs; symlinks are copied, never followed;
/// hard links inside the tree stay hard links. Sockets are skipped.
pub fn copy_tree(from: &Path, to: &Path) -> io::Result<()> {
    let mut links = HashMap::new();
    copy_dir_contents(from, to, &mut links)?;
    let meta = fs::symlink_metadata(from)?;
    copy_attrs(from, to, &meta)
}

fn copy_dir_contents(
    from: &Path,
    to: &Path,
    links: &mut HashMap<(u64, u64), PathBuf>,
) -> io::Result<()> {
    for entry in fs::read_dir(from)? {
        let entry = entry?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&src)?;
        let ft = meta.file_type();
        if ft.is_dir() {
            fs::create_dir(&dst)?;
            copy_dir_contents(&src, &dst, links)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(fs::read_link(&src)?, &dst)?;
        } else if ft.is_socket() {
            continue;
        } else {
            let key = (meta.dev(), meta.ino());
            if meta.nlink() > 1 {
                if let Some(first) = links.get(&key) {
                    fs::hard_link(first, &dst)?;
                    continue;
                }
                links.insert(key, dst.clone());
            }
            if ft.is_file() {
                fs::copy(&src, &dst)?;
            } else {
                let kind = if ft.is_block_device() {
                    nix::sys::stat::SFlag::S_IFBLK
                } else if ft.is_char_device() {
                    nix::sys::stat::SFlag::S_IFCHR
                } else {
                    nix::sys::stat::SFlag::S_IFIFO
                };
                let mode = nix::sys::stat::Mode::from_bits_truncate(meta.mode() & 0o7777);
                nix::sys::stat::mknod(&dst, kind, mode, meta.rdev())?;
            }
        }
        copy_attrs(&src, &dst, &meta)?;
    }
    Ok(())
}

/// Owner, then mode (a chown clears set-id bits), xattrs, then times.
fn copy_attrs(src: &Path, dst: &Path, meta: &fs::Metadata) -> io::Result<()> {
    std::os::unix::fs::lchown(dst, Some(meta.uid()), Some(meta.gid()))?;
    if !meta.file_type().is_symlink() {
        fs::set_permissions(dst, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
    }
    copy_xattrs(src, dst)?;
    let ts = |sec: i64, nsec: i64| rustix::fs::Timespec {
        tv_sec: sec,
        tv_nsec: nsec as _,
    };
    let times = rustix::fs::Timestamps {
        last_access: ts(meta.atime(), meta.atime_nsec()),
        last_modification: ts(meta.mtime(), meta.mtime_nsec()),
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        dst,
        &times,
        rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
    )?;
    Ok(())
}

fn copy_xattrs(src: &Path, dst: &Path) -> io::Result<()> {
    let unsupported = |e: &rustix::io::Errno| *e == rustix::io::Errno::NOTSUP;
    let mut names = vec![0u8; 4096];
    let n = match rustix::fs::llistxattr(src, &mut names[..]) {
        Ok(n) => n,
        Err(e) if unsupported(&e) => return Ok(()),
        Err(e) if e == rustix::io::Errno::RANGE => {
            names.resize(rustix::fs::llistxattr_query(src)?, 0);
            rustix::fs::llistxattr(src, &mut names[..])?
        }
        Err(e) => return Err(e.into()),
    };
    for name in names[..n].split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = OsStr::from_bytes(name);
        // SELinux labels belong to the host's policy, not the image (Docker skips them too).
        if name == "security.selinux" {
            continue;
        }
        let len = rustix::fs::lgetxattr_query(src, name)?;
        let mut value = vec![0u8; len];
        let got = rustix::fs::lgetxattr(src, name, &mut value[..])?;
        match rustix::fs::lsetxattr(dst, name, &value[..got], rustix::fs::XattrFlags::empty()) {
            Ok(()) => {}
            Err(e) if unsupported(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    /// Records every kernel call as one line, paths under the root as `R/...`;
    /// file-system questions are answered from the real temp dirs.
    struct Recorder {
        root: PathBuf,
        ops: Vec<String>,
        locked: MsFlags,
    }

    impl Recorder {
        fn new(root: &Path) -> Recorder {
            Recorder {
                root: root.to_owned(),
                ops: Vec::new(),
                locked: MsFlags::empty(),
            }
        }
        fn rel(&self, p: &Path) -> String {
            match p.strip_prefix(&self.root) {
                Ok(r) => format!("R/{}", r.display()),
                Err(_) => p.display().to_string(),
            }
        }
    }

    impl MountOps for Recorder {
        fn mount(
            &mut self,
            source: Option<&Path>,
            target: &Path,
            fstype: Option<&str>,
            flags: MsFlags,
            data: Option<&str>,
        ) -> io::Result<()> {
            let src = source.map(|s| self.rel(s)).unwrap_or_else(|| "-".into());
            let op = format!(
                "mount {src} {} {} {flags:?} {}",
                self.rel(target),
                fstype.unwrap_or("-"),
                data.unwrap_or("-")
            );
            self.ops.push(op);
            Ok(())
        }
        fn mkdir_all(&mut self, dir: &Path) -> io::Result<()> {
            self.ops.push(format!("mkdir {}", self.rel(dir)));
            fs::create_dir_all(dir)
        }
        fn mknod_char(&mut self, _: &Path, _: u64, _: u64) -> io::Result<()> {
            unreachable!("mounts make no device nodes")
        }
        fn symlink(&mut self, _: &str, _: &Path) -> io::Result<()> {
            unreachable!("mounts make no symlinks")
        }
        fn create_file(&mut self, path: &Path) -> io::Result<()> {
            self.ops.push(format!("create {}", self.rel(path)));
            fs::write(path, b"")
        }
        fn kind(&self, path: &Path) -> PathKind {
            Host.kind(path)
        }
    }

    impl VolumeOps for Recorder {
        fn fs_flags(&self, _: &Path) -> io::Result<MsFlags> {
            Ok(self.locked)
        }
        fn source_is_dir(&self, path: &Path) -> Option<bool> {
            Host.source_is_dir(path)
        }
        fn copy_up(&mut self, from: &Path, to: &Path) -> io::Result<()> {
            self.ops
                .push(format!("copy {} -> {}", self.rel(from), self.rel(to)));
            Ok(())
        }
        fn mount_in_root(
            &mut self,
            root: &Path,
            target: &Path,
            source: Option<&Path>,
            fstype: Option<&str>,
            flags: MsFlags,
            data: Option<&str>,
        ) -> io::Result<()> {
            assert!(
                target.starts_with(root),
                "{} escapes the root",
                target.display()
            );
            self.mount(source, target, fstype, flags, data)
        }
    }

    fn bind_spec(source: &Path, target: &str, readonly: bool) -> MountSpec {
        MountSpec {
            target: target.into(),
            readonly,
            kind: MountKind::Bind {
                source: source.to_owned(),
                propagation: Propagation::Rprivate,
                copy_up: false,
            },
        }
    }

    const RBIND: MsFlags = MsFlags::MS_BIND.union(MsFlags::MS_REC);
    const RPRIVATE: MsFlags = MsFlags::MS_PRIVATE.union(MsFlags::MS_REC);

    #[test]
    fn a_read_only_root_remounts_the_etc_files_no_mount_covers() {
        let root = tempfile::tempdir().unwrap();
        let mut k = Recorder::new(root.path());
        let mounts = [bind_spec(Path::new("/host/hosts"), "/etc//hosts", false)];
        remount_etc_files_readonly(&mut k, &mounts).unwrap();
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        assert_eq!(
            k.ops,
            [
                format!("mount - /etc/hostname - {ro:?} -"),
                format!("mount - /etc/resolv.conf - {ro:?} -"),
            ]
        );
    }

    #[test]
    fn binds_are_made_parents_first_with_ro_remount_and_propagation() {
        let root = tempfile::tempdir().unwrap();
        let host = tempfile::tempdir().unwrap();
        let h = host.path();
        fs::create_dir(h.join("dir")).unwrap();
        fs::write(h.join("file"), b"x").unwrap();
        let mut k = Recorder::new(root.path());
        k.locked = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
        let mut shared = bind_spec(&h.join("dir"), "/a", false);
        if let MountKind::Bind { propagation, .. } = &mut shared.kind {
            *propagation = Propagation::Rshared;
        }
        let mounts = [
            bind_spec(&h.join("file"), "/a/b/f.txt", true),
            shared,
            MountSpec {
                target: "/t".into(),
                readonly: false,
                kind: MountKind::Tmpfs {
                    options: "size=64m,mode=1777,exec".into(),
                },
            },
        ];
        mount_all(&mut k, root.path(), &mounts).unwrap();
        let hp = |p: &str| h.join(p).display().to_string();
        let ro = MsFlags::MS_BIND
            | MsFlags::MS_REMOUNT
            | MsFlags::MS_RDONLY
            | MsFlags::MS_NOSUID
            | MsFlags::MS_NODEV;
        assert_eq!(
            k.ops,
            [
                "mkdir R/a".to_owned(),
                format!("mount {} R/a - {RBIND:?} -", hp("dir")),
                format!("mount - R/a - {:?} -", MsFlags::MS_SHARED | MsFlags::MS_REC),
                "mkdir R/t".into(),
                format!(
                    "mount tmpfs R/t tmpfs {:?} size=64m,mode=1777",
                    MsFlags::MS_NOSUID | MsFlags::MS_NODEV
                ),
                "mkdir R/a/b".into(),
                "create R/a/b/f.txt".into(),
                format!("mount {} R/a/b/f.txt - {RBIND:?} -", hp("file")),
                format!("mount - R/a/b/f.txt - {ro:?} -"),
                format!("mount - R/a/b/f.txt - {RPRIVATE:?} -"),
            ]
        );
    }

    #[test]
    fn hostile_symlinks_in_the_image_stay_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        symlink("/etc", r.join("abs")).unwrap();
        symlink("../../../../../etc", r.join("rel")).unwrap();
        let host = tempfile::tempdir().unwrap();
        let mut k = Recorder::new(r);
        let mounts = [
            bind_spec(host.path(), "/abs", false),
            bind_spec(host.path(), "/rel/sub", false),
        ];
        mount_all(&mut k, r, &mounts).unwrap();
        // Both targets resolve to the container's own /etc, never the host's.
        let src = host.path().display().to_string();
        assert_eq!(
            k.ops,
            [
                "mkdir R/etc".to_owned(),
                format!("mount {src} R/etc - {RBIND:?} -"),
                format!("mount - R/etc - {RPRIVATE:?} -"),
                "mkdir R/etc/sub".into(),
                format!("mount {src} R/etc/sub - {RBIND:?} -"),
                format!("mount - R/etc/sub - {RPRIVATE:?} -"),
            ]
        );
    }

    #[test]
    fn copy_up_only_for_marked_volumes_over_image_dirs() {
        let root = tempfile::tempdir().unwrap();
        fs::create_dir(root.path().join("data")).unwrap();
        let vol = tempfile::tempdir().unwrap();
        let mut spec = bind_spec(vol.path(), "/data", false);
        let mut k = Recorder::new(root.path());
        mount_all(&mut k, root.path(), std::slice::from_ref(&spec)).unwrap();
        assert!(!k.ops.iter().any(|o| o.starts_with("copy")));
        if let MountKind::Bind { copy_up, .. } = &mut spec.kind {
            *copy_up = true;
        }
        let mut k = Recorder::new(root.path());
        mount_all(
            &mut k,
            root.path(),
            &[spec.clone(), {
                let mut s = spec.clone();
                s.target = "/missing".into();
                s
            }],
        )
        .unwrap();
        let copies: Vec<&String> = k.ops.iter().filter(|o| o.starts_with("copy")).collect();
        assert_eq!(
            copies,
            [&format!("copy R/data -> {}", vol.path().display())]
        );
    }

    #[test]
    fn a_file_target_cannot_take_a_directory() {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("f"), b"").unwrap();
        let host = tempfile::tempdir().unwrap();
        let mut k = Recorder::new(root.path());
        let e = mount_all(&mut k, root.path(), &[bind_spec(host.path(), "/f", false)]).unwrap_err();
        assert_eq!(e.source.raw_os_error(), Some(libc::ENOTDIR));
        let e = mount_all(
            &mut k,
            root.path(),
            &[bind_spec(Path::new("/nonexistent-berth"), "/x", false)],
        )
        .unwrap_err();
        assert_eq!(e.source.raw_os_error(), Some(libc::ENOENT));
    }

    #[test]
    fn a_target_swapped_for_a_symlink_is_refused_before_mounting() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("a/b")).unwrap();
        let target = resolve_in_root(r, Path::new("/a/b")).unwrap();
        // Another container sharing a volume swaps a directory on the way.
        fs::rename(r.join("a"), r.join("moved")).unwrap();
        symlink("/", r.join("a")).unwrap();
        fs::create_dir(r.join("b")).unwrap();
        // The source does not exist, so a broken check could not mount anything.
        let missing = Path::new("/nonexistent-berth-source");
        let bind = MsFlags::MS_BIND;
        let e = Host
            .mount_in_root(r, &target, Some(missing), None, bind, None)
            .unwrap_err();
        assert!(
            e.to_string().contains("changed while it was being mounted"),
            "{e}"
        );
        let e = Host
            .mount_in_root(r, Path::new("/etc"), Some(missing), None, bind, None)
            .unwrap_err();
        assert_eq!(e.raw_os_error(), Some(libc::EXDEV));
    }

    #[test]
    fn options_split_into_flags_and_data() {
        let base = MsFlags::MS_NOEXEC | MsFlags::MS_NOSUID;
        let (flags, data) = parse_options("exec,size=1g,ro,uid=5", base);
        assert_eq!(flags, MsFlags::MS_NOSUID | MsFlags::MS_RDONLY);
        assert_eq!(data, "size=1g,uid=5");
        assert!(covers(
            &[bind_spec(Path::new("/x"), "/etc//hosts/", false)],
            "/etc/hosts"
        ));
        assert!(!covers(
            &[bind_spec(Path::new("/x"), "/etc", false)],
            "/etc/hosts"
        ));
    }

    #[test]
    fn copy_tree_keeps_modes_links_owners_and_xattrs() {
        let src = tempfile::tempdir().unwrap();
        let dst = tempfile::tempdir().unwrap();
        let s = src.path();
        fs::create_dir(s.join("sub")).unwrap();
        fs::write(s.join("sub/a"), b"hello").unwrap();
        fs::set_permissions(s.join("sub/a"), fs::Permissions::from_mode(0o4751)).unwrap();
        fs::hard_link(s.join("sub/a"), s.join("b")).unwrap();
        symlink("/etc/shadow", s.join("evil")).unwrap();
        fs::set_permissions(s, fs::Permissions::from_mode(0o1777)).unwrap();
        let xattr = rustix::fs::lsetxattr(
            s.join("b"),
            "user.berth",
            b"v",
            rustix::fs::XattrFlags::empty(),
        )
        .is_ok();
        if nix::unistd::geteuid().is_root() {
            std::os::unix::fs::lchown(s.join("sub"), Some(1234), Some(4321)).unwrap();
        }
        copy_tree(s, dst.path()).unwrap();
        let d = dst.path();
        assert_eq!(fs::read(d.join("sub/a")).unwrap(), b"hello");
        let a = fs::metadata(d.join("sub/a")).unwrap();
        assert_eq!(a.mode() & 0o7777, 0o4751);
        assert_eq!(a.ino(), fs::metadata(d.join("b")).unwrap().ino());
        assert_eq!(
            fs::read_link(d.join("evil")).unwrap(),
            Path::new("/etc/shadow")
        );
        assert_eq!(fs::metadata(d).unwrap().mode() & 0o7777, 0o1777);
        if nix::unistd::geteuid().is_root() {
            let m = fs::metadata(d.join("sub")).unwrap();
            assert_eq!((m.uid(), m.gid()), (1234, 4321));
        }
        if xattr {
            let mut buf = [0u8; 8];
            let n = rustix::fs::lgetxattr(d.join("b"), "user.berth", &mut buf[..]).unwrap();
            assert_eq!(&buf[..n], b"v");
        }
    }
}
