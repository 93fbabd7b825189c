//! Building the container's root filesystem from inside its new mount
//! namespace: overlay, `/proc`, `/sys`, `/dev`, generated `/etc` files,
//! `pivot_root`, then Docker's masked and read-only paths.
//!
//! Everything here runs in the container init before `execve`, single-threaded,
//! as root in the host user namespace. Mounts live only in the container's
//! mount namespace, so they vanish with it.

use std::ffi::OsString;
use std::fs;
use std::io;
use std::os::unix::fs::{DirBuilderExt, PermissionsExt, symlink};
use std::path::{Component, Path, PathBuf};

use nix::mount::{MntFlags, MsFlags, mount, umount2};
use nix::sys::stat::{Mode, SFlag, makedev, mknod};

/// Docker's masked paths: hidden behind `/dev/null` (files) or an empty
/// read-only tmpfs (dirs); those missing on this kernel are skipped.
pub const MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];

/// Docker's read-only paths, re-bound read-only over themselves.
pub const READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The device nodes of a container's `/dev`: name, major, minor.
pub const DEVICES: &[(&str, u64, u64)] = &[
    ("null", 1, 3),
    ("zero", 1, 5),
    ("full", 1, 7),
    ("random", 1, 8),
    ("urandom", 1, 9),
    ("tty", 5, 0),
];

/// The symlinks of a container's `/dev`: name, target.
pub const DEV_SYMLINKS: &[(&str, &str)] = &[
    ("fd", "/proc/self/fd"),
    ("stdin", "/proc/self/fd/0"),
    ("stdout", "/proc/self/fd/1"),
    ("stderr", "/proc/self/fd/2"),
    ("ptmx", "pts/ptmx"),
    ("core", "/proc/kcore"),
];

/// A failed rootfs step: what was being done, to which path, and why.
#[derive(Debug, thiserror::Error)]
#[error("{op} {path}: {source}")]
pub struct RootfsError {
    /// The step, e.g. `mount proc on`.
    pub op: &'static str,
    /// The path it acted on.
    pub path: PathBuf,
    /// The cause.
    #[source]
    pub source: io::Error,
}

impl RootfsError {
    /// The class the daemon maps to an HTTP status: these are all internal.
    pub fn class(&self) -> crate::api::ErrorClass {
        crate::api::ErrorClass::Internal
    }
}

type Result<T> = std::result::Result<T, RootfsError>;

fn err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> RootfsError + 'a {
    move |source| RootfsError {
        op,
        path: path.to_owned(),
        source,
    }
}

fn nix_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(nix::Error) -> RootfsError + 'a {
    move |e| RootfsError {
        op,
        path: path.to_owned(),
        source: io::Error::from(e),
    }
}

/// Resolves `path` as if `root` were `/`: symlinks (absolute or relative) and
/// `..` never lead outside `root`. Components that do not exist yet are kept
/// as they are, so the result can be created afterwards.
pub fn resolve_in_root(root: &Path, path: &Path) -> io::Result<PathBuf> {
    let mut resolved: Vec<OsString> = Vec::new();
    let mut pending: Vec<OsString> = Vec::new(); // reversed: next component last
    push_components(&mut pending, path);
    let mut links = 0;
    while let Some(c) = pending.pop() {
        if c == ".." {
            resolved.pop();
            continue;
        }
        let mut candidate = root.to_path_buf();
        candidate.extend(&resolved);
        candidate.push(&c);
        match fs::symlink_metadata(&candidate) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 40 {
                    return Err(io::Error::from_raw_os_error(libc::ELOOP));
                }
                let target = fs::read_link(&candidate)?;
                if target.is_absolute() {
                    resolved.clear();
                }
                push_components(&mut pending, &target);
            }
            _ => resolved.push(c),
        }
    }
    let mut out = root.to_path_buf();
    out.extend(resolved);
    Ok(out)
}

/// Pushes the components of `path` onto `stack` so that the first component
/// is popped first; `.` and the root are dropped.
fn push_components(stack: &mut Vec<OsString>, path: &Path) {
    let comps: Vec<OsString> = path
        .components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_owned()),
            Component::ParentDir => Some("..".into()),
            _ => None,
        })
        .collect();
    stack.extend(comps.into_iter().rev());
}

/// Makes every mount in this (new) mount namespace a slave of the host's, so
/// nothing done here propagates back to the host.
pub fn make_rslave() -> Result<()> {
    mount(
        None::<&str>,
        "/",
        None::<&str>,
        MsFlags::MS_REC | MsFlags::MS_SLAVE,
        None::<&str>,
    )
    .map_err(nix_err("make rslave", Path::new("/")))
}

/// Mounts an overlay of `layers` (lowest first) under `upper`/`work` on
/// `target`. Uses the new mount API with one `lowerdir+` per layer, so the
/// layer count is not limited by the one-page option string of `mount(2)`;
/// falls back to `mount(2)` on kernels without it (before 6.8).
pub fn mount_overlay(layers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    match overlay_new_api(layers, upper, work, target) {
        Ok(()) => Ok(()),
        Err(e)
            if e.raw_os_error() == Some(libc::ENOSYS) || e.raw_os_error() == Some(libc::EINVAL) =>
        {
            overlay_legacy(layers, upper, work, target)
        }
        Err(e) => Err(err("mount overlay on", target)(e)),
    }
}

fn overlay_new_api(layers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> io::Result<()> {
    use rustix::mount::{
        FsMountFlags, FsOpenFlags, MountAttrFlags, MoveMountFlags, fsconfig_create,
        fsconfig_set_string, fsmount, fsopen, move_mount,
    };
    let fs_fd = fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)?;
    // The topmost layer comes first in overlayfs' lower stack.
    for layer in layers.iter().rev() {
        fsconfig_set_string(&fs_fd, "lowerdir+", layer)?;
    }
    fsconfig_set_string(&fs_fd, "upperdir", upper)?;
    fsconfig_set_string(&fs_fd, "workdir", work)?;
    fsconfig_create(&fs_fd)?;
    let mnt = fsmount(
        &fs_fd,
        FsMountFlags::FSMOUNT_CLOEXEC,
        MountAttrFlags::empty(),
    )?;
    move_mount(
        &mnt,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )?;
    Ok(())
}

fn overlay_legacy(layers: &[PathBuf], upper: &Path, work: &Path, target: &Path) -> Result<()> {
    let lower: Vec<String> = layers
        .iter()
        .rev()
        .map(|l| escape_overlay_path(&l.to_string_lossy()))
        .collect();
    let data = format!(
        "lowerdir={},upperdir={},workdir={}",
        lower.join(":"),
        escape_overlay_path(&upper.to_string_lossy()),
        escape_overlay_path(&work.to_string_lossy())
    );
    mount(
        Some("overlay"),
        target,
        Some("overlay"),
        MsFlags::empty(),
        Some(data.as_str()),
    )
    .map_err(nix_err("mount overlay on", target))
}

/// Escapes the characters overlayfs' option parser treats specially.
fn escape_overlay_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for ch in p.chars() {
        if matches!(ch, ':' | ',' | '\\') {
            out.push('\\');
        }
        out.push(ch);
    }
    out
}

/// What a file system path currently is, as far as mounting over it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathKind {
    /// Nothing there.
    Missing,
    /// A directory.
    Dir,
    /// Anything else (file, device, socket, dangling symlink).
    Other,
}

/// The kernel operations the rootfs steps use, so unit tests can record the
/// exact sequence with a fake and [`Host`] can run it for real.
pub trait MountOps {
    /// `mount(2)`.
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()>;
    /// Creates `dir` and its parents, mode 0755.
    fn mkdir_all(&mut self, dir: &Path) -> io::Result<()>;
    /// A character device node, mode 0666 regardless of the umask.
    fn mknod_char(&mut self, path: &Path, major: u64, minor: u64) -> io::Result<()>;
    /// A symlink at `path` pointing to `target`.
    fn symlink(&mut self, target: &str, path: &Path) -> io::Result<()>;
    /// Creates an empty file at `path` (a bind-mount target).
    fn create_file(&mut self, path: &Path) -> io::Result<()>;
    /// What `path` is, without following a final symlink.
    fn kind(&self, path: &Path) -> PathKind;
}

/// The real kernel.
pub struct Host;

impl MountOps for Host {
    fn mount(
        &mut self,
        source: Option<&Path>,
        target: &Path,
        fstype: Option<&str>,
        flags: MsFlags,
        data: Option<&str>,
    ) -> io::Result<()> {
        mount(source, target, fstype, flags, data).map_err(io::Error::from)
    }

    fn mkdir_all(&mut self, dir: &Path) -> io::Result<()> {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(dir)
    }

    fn mknod_char(&mut self, path: &Path, major: u64, minor: u64) -> io::Result<()> {
        let mode = Mode::from_bits_truncate(0o666);
        mknod(path, SFlag::S_IFCHR, mode, makedev(major, minor))?;
        // mknod honours the umask; the nodes must be world-usable.
        fs::set_permissions(path, fs::Permissions::from_mode(0o666))
    }

    fn symlink(&mut self, target: &str, path: &Path) -> io::Result<()> {
        symlink(target, path)
    }

    fn create_file(&mut self, path: &Path) -> io::Result<()> {
        fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map(drop)
    }

    fn kind(&self, path: &Path) -> PathKind {
        match fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => PathKind::Dir,
            Ok(_) => PathKind::Other,
            Err(_) => PathKind::Missing,
        }
    }
}

fn mount_fs(
    k: &mut impl MountOps,
    fstype: &'static str,
    target: &Path,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<()> {
    k.mount(Some(Path::new(fstype)), target, Some(fstype), flags, data)
        .map_err(|e| RootfsError {
            op: "mount",
            path: target.to_owned(),
            source: io::Error::new(e.kind(), format!("{fstype}: {e}")),
        })
}

fn bind(k: &mut impl MountOps, source: &Path, target: &Path, flags: MsFlags) -> Result<()> {
    k.mount(Some(source), target, None, MsFlags::MS_BIND | flags, None)
        .map_err(err("bind mount on", target))
}

fn remount_readonly(k: &mut impl MountOps, path: &Path, keep: MsFlags) -> Result<()> {
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC;
    k.mount(None, path, None, flags | keep, None)
        .map_err(err("remount read-only", path))
}

/// Mounts the kernel filesystems and `/dev` inside `root` (the overlay), and
/// binds the generated `/etc` files in `etc_dir` (when given) over the
/// container's own. Mount points are resolved inside `root`. `/sys` is
/// read-only unless `sys_writable` (Docker's `--privileged`).
pub fn mount_inside(
    k: &mut impl MountOps,
    root: &Path,
    etc_dir: Option<&Path>,
    sys_writable: bool,
) -> Result<()> {
    let common = MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV;

    let proc_dir = in_root(root, "/proc")?;
    k.mkdir_all(&proc_dir)
        .map_err(err("create directory", &proc_dir))?;
    mount_fs(k, "proc", &proc_dir, common, None)?;

    let sys_dir = in_root(root, "/sys")?;
    k.mkdir_all(&sys_dir)
        .map_err(err("create directory", &sys_dir))?;
    let sys_ro = if sys_writable {
        MsFlags::empty()
    } else {
        MsFlags::MS_RDONLY
    };
    // A fresh sysfs shows this network namespace's devices only.
    if mount_fs(k, "sysfs", &sys_dir, common | sys_ro, None).is_err() {
        bind(k, Path::new("/sys"), &sys_dir, MsFlags::MS_REC)?;
        if !sys_writable {
            remount_readonly(k, &sys_dir, common)?;
        }
    }

    let dev = in_root(root, "/dev")?;
    k.mkdir_all(&dev).map_err(err("create directory", &dev))?;
    let dev_flags = MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME;
    mount_fs(k, "tmpfs", &dev, dev_flags, Some("mode=755,size=65536k"))?;
    for (name, major, minor) in DEVICES {
        let p = dev.join(name);
        k.mknod_char(&p, *major, *minor).map_err(err("mknod", &p))?;
    }
    for (name, target) in DEV_SYMLINKS {
        let p = dev.join(name);
        k.symlink(target, &p).map_err(err("symlink", &p))?;
    }
    let sub_mounts: [(&str, &'static str, MsFlags, Option<&str>); 3] = [
        (
            "pts",
            "devpts",
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
            Some("newinstance,ptmxmode=0666,mode=0620,gid=5"),
        ),
        ("shm", "tmpfs", common, Some("mode=1777,size=65536k")),
        ("mqueue", "mqueue", common, None),
    ];
    for (name, fstype, flags, data) in sub_mounts {
        let p = dev.join(name);
        k.mkdir_all(&p).map_err(err("create directory", &p))?;
        mount_fs(k, fstype, &p, flags, data)?;
    }

    if let Some(etc_dir) = etc_dir {
        for name in super::etc::FILES {
            bind_file(k, &etc_dir.join(name), root, &format!("/etc/{name}"))?;
        }
    }
    Ok(())
}

fn in_root(root: &Path, path: &str) -> Result<PathBuf> {
    resolve_in_root(root, Path::new(path)).map_err(err("resolve", Path::new(path)))
}

/// Bind-mounts the host file `source` over `path` inside `root`, creating an
/// empty file there first when the image has none.
pub(crate) fn bind_file(
    k: &mut impl MountOps,
    source: &Path,
    root: &Path,
    path: &str,
) -> Result<()> {
    let target = in_root(root, path)?;
    match k.kind(&target) {
        PathKind::Dir => {
            return Err(RootfsError {
                op: "bind file over",
                path: target,
                source: io::Error::from_raw_os_error(libc::EISDIR),
            });
        }
        PathKind::Other => {}
        PathKind::Missing => {
            if let Some(parent) = target.parent() {
                k.mkdir_all(parent)
                    .map_err(err("create directory", parent))?;
            }
            k.create_file(&target).map_err(err("create", &target))?;
        }
    }
    bind(k, source, &target, MsFlags::empty())
}

/// Makes `root` the root of this mount namespace and detaches the old root.
pub fn pivot(root: &Path) -> Result<()> {
    // The old root is reached through this fd after the pivot (as runc does):
    // mount(2) on "." would act on the new root, whose mounts (a user's
    // rshared bind) must keep their propagation.
    let flags = nix::fcntl::OFlag::O_DIRECTORY | nix::fcntl::OFlag::O_CLOEXEC;
    let old_root = nix::fcntl::open("/", flags, Mode::empty())
        .map_err(nix_err("open old root", Path::new("/")))?;
    nix::unistd::chdir(root).map_err(nix_err("chdir", root))?;
    // With new_root == put_old, the old root ends up stacked on "." and can
    // be detached without needing a directory for it inside the container.
    nix::unistd::pivot_root(".", ".").map_err(nix_err("pivot_root", root))?;
    nix::unistd::fchdir(&old_root).map_err(nix_err("fchdir to old root", Path::new("/")))?;
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(nix_err("make old root rslave", Path::new("/")))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(nix_err("detach old root", Path::new("/")))?;
    nix::unistd::chdir("/").map_err(nix_err("chdir", Path::new("/")))
}

/// Masks [`MASKED_PATHS`] and makes [`READONLY_PATHS`] read-only; runs after
/// [`pivot`], so the paths are the container's. Missing paths are skipped.
pub fn protect_paths(k: &mut impl MountOps) -> Result<()> {
    for p in MASKED_PATHS {
        let path = Path::new(p);
        match k.kind(path) {
            PathKind::Missing => {}
            PathKind::Dir => k
                .mount(
                    Some(Path::new("tmpfs")),
                    path,
                    Some("tmpfs"),
                    MsFlags::MS_RDONLY,
                    None,
                )
                .map_err(err("mask", path))?,
            PathKind::Other => bind(k, Path::new("/dev/null"), path, MsFlags::empty())?,
        }
    }
    for p in READONLY_PATHS {
        let path = Path::new(p);
        if k.kind(path) == PathKind::Missing {
            continue;
        }
        bind(k, path, path, MsFlags::MS_REC)?;
        let keep = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        remount_readonly(k, path, keep)?;
    }
    Ok(())
}

/// Makes the root mount read-only (`--read-only`); runs after [`pivot`] and
/// [`ensure_cwd`]. Only the root mount changes: `/dev`, `/dev/shm`, `/proc`,
/// the `/etc` files and other mounts on top keep their own flags, as with Docker.
pub fn remount_root_readonly(k: &mut impl MountOps) -> Result<()> {
    let root = Path::new("/");
    let flags = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
    k.mount(None, root, None, flags, None)
        .map_err(err("remount read-only", root))
}

/// Creates the working directory `cwd` (relative to `/`) when missing, as Docker does.
pub fn ensure_cwd(k: &mut impl MountOps, cwd: &Path) -> Result<()> {
    k.mkdir_all(cwd)
        .map_err(err("create working directory", cwd))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolution_stays_inside_the_root() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        fs::create_dir_all(r.join("etc")).unwrap();
        symlink("/", r.join("escape")).unwrap();
        symlink("../../../../etc", r.join("etc/up")).unwrap();
        symlink("/etc/real", r.join("etc/abs")).unwrap();
        symlink("loop2", r.join("loop1")).unwrap();
        symlink("loop1", r.join("loop2")).unwrap();

        assert_eq!(
            resolve_in_root(r, Path::new("/escape/proc")).unwrap(),
            r.join("proc")
        );
        assert_eq!(
            resolve_in_root(r, Path::new("/../../x")).unwrap(),
            r.join("x")
        );
        assert_eq!(
            resolve_in_root(r, Path::new("/etc/up/hosts")).unwrap(),
            r.join("etc/hosts")
        );
        assert_eq!(
            resolve_in_root(r, Path::new("etc/abs")).unwrap(),
            r.join("etc/real")
        );
        assert_eq!(
            resolve_in_root(r, Path::new("/missing/a/b")).unwrap(),
            r.join("missing/a/b")
        );
        assert_eq!(
            resolve_in_root(r, Path::new("/loop1"))
                .unwrap_err()
                .raw_os_error(),
            Some(libc::ELOOP)
        );
    }

    /// Records every kernel call as one line, paths relative to the root.
    struct Recorder {
        root: PathBuf,
        ops: Vec<String>,
        kinds: Vec<(&'static str, PathKind)>,
        failing_fstype: Option<&'static str>,
    }

    impl Recorder {
        fn new(root: &Path) -> Recorder {
            Recorder {
                root: root.to_owned(),
                ops: Vec::new(),
                kinds: Vec::new(),
                failing_fstype: None,
            }
        }

        fn rel(&self, p: &Path) -> String {
            match p.strip_prefix(&self.root) {
                Ok(r) => format!("R/{}", r.display()),
                Err(_) => p.display().to_string(),
            }
        }
    }

    fn m(src: &str, target: &str, fstype: &str, flags: MsFlags, data: &str) -> String {
        format!("mount {src} {target} {fstype} {flags:?} {data}")
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
            if fstype.is_some() && fstype == self.failing_fstype {
                return Err(io::Error::from_raw_os_error(libc::ENODEV));
            }
            let src = source.map(|s| self.rel(s)).unwrap_or_else(|| "-".into());
            let op = m(
                &src,
                &self.rel(target),
                fstype.unwrap_or("-"),
                flags,
                data.unwrap_or("-"),
            );
            self.ops.push(op);
            Ok(())
        }
        fn mkdir_all(&mut self, dir: &Path) -> io::Result<()> {
            self.ops.push(format!("mkdir {}", self.rel(dir)));
            Ok(())
        }
        fn mknod_char(&mut self, path: &Path, major: u64, minor: u64) -> io::Result<()> {
            self.ops
                .push(format!("mknod {} {major}:{minor}", self.rel(path)));
            Ok(())
        }
        fn symlink(&mut self, target: &str, path: &Path) -> io::Result<()> {
            self.ops
                .push(format!("symlink {} -> {target}", self.rel(path)));
            Ok(())
        }
        fn create_file(&mut self, path: &Path) -> io::Result<()> {
            self.ops.push(format!("create {}", self.rel(path)));
            Ok(())
        }
        fn kind(&self, path: &Path) -> PathKind {
            let rel = self.rel(path);
            self.kinds
                .iter()
                .find(|(p, _)| *p == rel)
                .map_or(PathKind::Missing, |(_, k)| *k)
        }
    }

    const COMMON: MsFlags = MsFlags::MS_NOSUID
        .union(MsFlags::MS_NOEXEC)
        .union(MsFlags::MS_NODEV);

    #[test]
    fn rootfs_mounts_follow_dockers_sequence() {
        let root = tempfile::tempdir().unwrap();
        let mut k = Recorder::new(root.path());
        k.kinds.push(("R/etc/hosts", PathKind::Other));
        mount_inside(&mut k, root.path(), Some(Path::new("/run/c")), false).unwrap();

        let mut want = vec![
            "mkdir R/proc".to_owned(),
            m("proc", "R/proc", "proc", COMMON, "-"),
            "mkdir R/sys".into(),
            m("sysfs", "R/sys", "sysfs", COMMON | MsFlags::MS_RDONLY, "-"),
            "mkdir R/dev".into(),
            m(
                "tmpfs",
                "R/dev",
                "tmpfs",
                MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
                "mode=755,size=65536k",
            ),
        ];
        for (name, major, minor) in DEVICES {
            want.push(format!("mknod R/dev/{name} {major}:{minor}"));
        }
        for (name, target) in DEV_SYMLINKS {
            want.push(format!("symlink R/dev/{name} -> {target}"));
        }
        want.extend([
            "mkdir R/dev/pts".to_owned(),
            m(
                "devpts",
                "R/dev/pts",
                "devpts",
                MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC,
                "newinstance,ptmxmode=0666,mode=0620,gid=5",
            ),
            "mkdir R/dev/shm".into(),
            m(
                "tmpfs",
                "R/dev/shm",
                "tmpfs",
                COMMON,
                "mode=1777,size=65536k",
            ),
            "mkdir R/dev/mqueue".into(),
            m("mqueue", "R/dev/mqueue", "mqueue", COMMON, "-"),
            // /etc/hostname is missing in the image: created, then bound over.
            "mkdir R/etc".into(),
            "create R/etc/hostname".into(),
            m(
                "/run/c/hostname",
                "R/etc/hostname",
                "-",
                MsFlags::MS_BIND,
                "-",
            ),
            m("/run/c/hosts", "R/etc/hosts", "-", MsFlags::MS_BIND, "-"),
            "mkdir R/etc".into(),
            "create R/etc/resolv.conf".into(),
            m(
                "/run/c/resolv.conf",
                "R/etc/resolv.conf",
                "-",
                MsFlags::MS_BIND,
                "-",
            ),
        ]);
        assert_eq!(k.ops, want);
    }

    #[test]
    fn sysfs_falls_back_to_a_read_only_bind() {
        let root = tempfile::tempdir().unwrap();
        let mut k = Recorder::new(root.path());
        k.failing_fstype = Some("sysfs");
        mount_inside(&mut k, root.path(), None, false).unwrap();
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC;
        let i = k.ops.iter().position(|o| o == "mkdir R/sys").unwrap();
        assert_eq!(
            k.ops[i + 1..i + 3],
            [
                m(
                    "/sys",
                    "R/sys",
                    "-",
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    "-"
                ),
                m("-", "R/sys", "-", ro | COMMON, "-"),
            ]
        );
        assert!(
            !k.ops.iter().any(|o| o.contains("/etc/")),
            "no etc files asked for"
        );
    }

    #[test]
    fn masks_and_read_only_paths_depend_on_what_exists() {
        let mut k = Recorder::new(Path::new("/nonexistent-root"));
        k.kinds = vec![
            ("/proc/keys", PathKind::Other),
            ("/proc/timer_list", PathKind::Other),
            ("/sys/firmware", PathKind::Dir),
            ("/proc/sys", PathKind::Dir),
            ("/proc/sysrq-trigger", PathKind::Other),
        ];
        protect_paths(&mut k).unwrap();
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | MsFlags::MS_REC;
        let keep = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        let rbind = MsFlags::MS_BIND | MsFlags::MS_REC;
        assert_eq!(
            k.ops,
            [
                m("/dev/null", "/proc/keys", "-", MsFlags::MS_BIND, "-"),
                m("/dev/null", "/proc/timer_list", "-", MsFlags::MS_BIND, "-"),
                m("tmpfs", "/sys/firmware", "tmpfs", MsFlags::MS_RDONLY, "-"),
                m("/proc/sys", "/proc/sys", "-", rbind, "-"),
                m("-", "/proc/sys", "-", ro | keep, "-"),
                m(
                    "/proc/sysrq-trigger",
                    "/proc/sysrq-trigger",
                    "-",
                    rbind,
                    "-"
                ),
                m("-", "/proc/sysrq-trigger", "-", ro | keep, "-"),
            ]
        );
    }

    #[test]
    fn a_directory_cannot_take_a_bound_etc_file() {
        let root = tempfile::tempdir().unwrap();
        let mut k = Recorder::new(root.path());
        k.kinds.push(("R/etc/hostname", PathKind::Dir));
        let e = mount_inside(&mut k, root.path(), Some(Path::new("/run/c")), false).unwrap_err();
        assert_eq!(e.source.raw_os_error(), Some(libc::EISDIR));
        assert!(e.to_string().contains("etc/hostname"), "{e}");
    }

    #[test]
    fn privileged_sysfs_is_writable_and_root_remounts_read_only() {
        let root = tempfile::tempdir().unwrap();
        let mut k = Recorder::new(root.path());
        mount_inside(&mut k, root.path(), None, true).unwrap();
        assert!(k.ops.contains(&m("sysfs", "R/sys", "sysfs", COMMON, "-")));
        let mut k = Recorder::new(root.path());
        k.failing_fstype = Some("sysfs");
        mount_inside(&mut k, root.path(), None, true).unwrap();
        assert!(!k.ops.iter().any(|o| o.contains("REMOUNT")), "{:?}", k.ops);

        let mut k = Recorder::new(Path::new("/nonexistent-root"));
        remount_root_readonly(&mut k).unwrap();
        let ro = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY;
        assert_eq!(k.ops, [m("-", "/", "-", ro, "-")]);
    }

    #[test]
    fn overlay_option_paths_are_escaped() {
        assert_eq!(escape_overlay_path("/a:b,c\\d"), "/a\\:b\\,c\\\\d");
    }

    #[test]
    fn docker_default_mask_lists_are_complete() {
        assert_eq!(MASKED_PATHS.len(), 10);
        assert!(MASKED_PATHS.contains(&"/sys/firmware"));
        assert_eq!(READONLY_PATHS.len(), 5);
    }
}
