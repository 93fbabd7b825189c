//! The container init: the supervisor's forked child, already pid 1 of a new
//! pid namespace, which builds the container around itself and then execs
//! the user's program directly (no runtime code stays in the container).
//!
//! Any failure before `execve` is written as a JSON [`StartFailure`] to the
//! close-on-exec error pipe (fd [`ERR_FD`]); a successful exec closes the pipe
//! empty, which is how the supervisor tells the two apart.

use std::convert::Infallible;
use std::ffi::CString;
use std::fs;
use std::os::fd::{FromRawFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{SigSet, Signal};
use nix::unistd::{Gid, Uid};

use super::proto::{FailureKind, StartFailure};
use super::spec::ContainerSpec;
use super::{capabilities, devices, rlimits, rootfs, tty, user};

/// The fd the error pipe occupies in the init.
pub const ERR_FD: RawFd = 3;
/// The fd the console socket occupies in the init (with a tty only).
pub const CONSOLE_FD: RawFd = 4;
/// The fd the container's user namespace occupies in the init or exec child
/// (remapped containers only), close-on-exec; see [`super::userns`].
pub const USERNS_FD: RawFd = 5;
/// Staged copies of the inherited fds go at or above this number, so that
/// moving them into place never overwrites one not yet moved.
const STAGING_FD: RawFd = 64;

/// `PATH` used for the command lookup when the environment has none (runc's).
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Namespaces the init unshares besides the pid namespace it was forked into.
pub const NAMESPACES: CloneFlags = CloneFlags::CLONE_NEWNS
    .union(CloneFlags::CLONE_NEWUTS)
    .union(CloneFlags::CLONE_NEWIPC)
    .union(CloneFlags::CLONE_NEWNET)
    .union(CloneFlags::CLONE_NEWCGROUP);

/// The init's standard streams and error pipe, as raw fds of the supervisor.
pub struct InitFds {
    /// Becomes fd 0.
    pub stdin: RawFd,
    /// Becomes fd 1.
    pub stdout: RawFd,
    /// Becomes fd 2.
    pub stderr: RawFd,
    /// Becomes [`ERR_FD`], close-on-exec.
    pub errpipe: RawFd,
    /// With a tty: the init's end of the socketpair the pty master is sent
    /// over (see [`super::tty`]); becomes [`CONSOLE_FD`], close-on-exec.
    pub console: Option<RawFd>,
    /// The user namespace to enter (see [`super::userns`]); becomes
    /// [`USERNS_FD`], close-on-exec.
    pub userns: Option<RawFd>,
}

/// Entry point of the forked child; execs the user's program or exits 1
/// after reporting why it could not.
pub fn child_main(spec: &ContainerSpec, fds: InitFds) -> ! {
    let mut err_fd = fds.errpipe;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(spec, &fds, &mut err_fd)
    }));
    let failure = match result {
        Ok(Err(f)) => f,
        Ok(Ok(never)) => match never {},
        Err(_) => StartFailure::new(FailureKind::Other, "container init panicked"),
    };
    let payload = serde_json::to_vec(&failure).unwrap_or_default();
    // SAFETY: `err_fd` is the open write end of the error pipe; the buffer is
    // valid for its length. A failed write leaves nothing to report to.
    unsafe { libc::write(err_fd, payload.as_ptr().cast(), payload.len()) };
    // SAFETY: _exit ends this forked child without running the supervisor's
    // destructors or atexit handlers, which belong to the parent.
    unsafe { libc::_exit(1) }
}

fn other(e: impl std::fmt::Display) -> StartFailure {
    StartFailure::new(FailureKind::Other, e.to_string())
}

fn run(
    spec: &ContainerSpec,
    fds: &InitFds,
    err_fd: &mut RawFd,
) -> Result<Infallible, StartFailure> {
    setup_fds(fds, err_fd).map_err(|e| other(format!("set up stdio: {e}")))?;
    reset_signals();
    nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(0o022));
    // Join first: the cgroup namespace is rooted where the init is when it
    // unshares, so the container sees its own cgroup as "/".
    if let Some(cg) = &spec.cgroup {
        cg.paths
            .join(0)
            .map_err(|e| other(format!("join cgroup: {e}")))?;
    }
    let mut namespaces = NAMESPACES;
    if spec.host_network {
        namespaces.remove(CloneFlags::CLONE_NEWNET);
    } else if let Some(path) = &spec.netns {
        // Before the mount namespace is unshared: the file is the daemon's.
        join_netns(path)?;
        namespaces.remove(CloneFlags::CLONE_NEWNET);
    }
    unshare(namespaces).map_err(|e| other(format!("unshare namespaces: {e}")))?;

    rootfs::make_rslave().map_err(other)?;
    let root = spec.run_dir.join(super::supervisor::ROOTFS_DIR);
    let layers = if spec.layers.is_empty() {
        vec![spec.run_dir.join(super::supervisor::EMPTY_LAYER_DIR)]
    } else {
        spec.layers.clone()
    };
    // SAFETY: setup_fds put the user namespace on USERNS_FD when
    // `fds.userns` is set; it stays open (close-on-exec) until execve.
    let userns = fds
        .userns
        .map(|_| unsafe { std::os::fd::BorrowedFd::borrow_raw(USERNS_FD) });
    if let (Some(ns), Some(m)) = (userns, &spec.userns) {
        super::userns::remap_container_files(spec, m, &layers, ns).map_err(other)?;
    }
    rootfs::mount_overlay(&layers, &spec.upper, &spec.work, &root).map_err(other)?;
    if !spec.host_network {
        crate::network::loopback::bring_up().map_err(other)?;
        super::userns::unprivileged_net_sysctls().map_err(other)?;
    }
    // The generated /etc files go on top of the user's mounts (a bind of
    // the whole /etc keeps them), unless a mount targets one itself.
    rootfs::mount_inside(&mut rootfs::Host, &root, None, spec.privileged).map_err(other)?;
    super::mounts::mount_all(&mut rootfs::Host, &root, &spec.mounts).map_err(other)?;
    super::mounts::bind_etc_files(&mut rootfs::Host, &root, &spec.run_dir, &spec.mounts)
        .map_err(other)?;
    if spec.privileged {
        // Still in the host's tree: `/dev` is the host's.
        let dev = rootfs::resolve_in_root(&root, Path::new("/dev"))
            .map_err(|e| other(format!("resolve /dev: {e}")))?;
        devices::host_devices(Path::new("/dev"))
            .and_then(|list| devices::create(&dev, &list))
            .map_err(|e| other(format!("copy host devices: {e}")))?;
    }
    rootfs::pivot(&root).map_err(other)?;
    if !spec.privileged {
        rootfs::protect_paths(&mut rootfs::Host).map_err(other)?;
    }
    if spec.tty {
        if fds.console.is_none() {
            return Err(other("a tty needs a console socket"));
        }
        // SAFETY: setup_fds put the console socket on CONSOLE_FD, as
        // `fds.console` is set; nothing else owns that fd.
        let socket = unsafe { std::os::fd::OwnedFd::from_raw_fd(CONSOLE_FD) };
        tty::setup_pty(socket, spec.console_size, tty::PtyRole::Console).map_err(other)?;
    }
    nix::unistd::sethostname(spec.effective_hostname())
        .map_err(|e| other(format!("sethostname: {e}")))?;

    let exec_user = process_user(&spec.user, &spec.group_add)?;
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", exec_user.home));
    }
    let cwd = if spec.cwd.is_empty() {
        "/"
    } else {
        spec.cwd.as_str()
    };
    let new_dirs = super::userns::missing_dirs(spec.userns.as_ref(), Path::new(cwd));
    rootfs::ensure_cwd(&mut rootfs::Host, Path::new(cwd)).map_err(other)?;
    super::userns::give_to_root(spec.userns.as_ref(), &new_dirs).map_err(other)?;
    if spec.readonly_rootfs {
        rootfs::remount_root_readonly(&mut rootfs::Host).map_err(other)?;
        super::mounts::remount_etc_files_readonly(&mut rootfs::Host, &spec.mounts)
            .map_err(other)?;
    }

    rlimits::apply(&spec.rlimits)
        .map_err(|e| StartFailure::new(FailureKind::InvalidSpec, e.to_string()))?;
    // Last of what needs host privileges; it also resets the bounding set,
    // which is therefore dropped after it.
    if let (Some(ns), Some(m)) = (userns, &spec.userns) {
        super::userns::enter(ns, m).map_err(|e| other(format!("enter user namespace: {e}")))?;
    }
    let keep = capabilities::effective_set(spec.privileged, &spec.cap_add, &spec.cap_drop)
        .map_err(|m| StartFailure::new(FailureKind::InvalidSpec, m))?;
    if let Some(profile) = &spec.apparmor_profile {
        super::apparmor::change_on_exec(profile)
            .map_err(|e| other(format!("unable to apply apparmor profile {profile}: {e}")))?;
    }
    // runc's order: without no_new_privs loading a filter needs
    // CAP_SYS_ADMIN, so it goes on before the capabilities are dropped;
    // with it, as late as possible (right before execve, below).
    if let (Some(f), false) = (&spec.seccomp, spec.no_new_privileges) {
        super::seccomp::load(f).map_err(other)?;
    }
    capabilities::drop_bounding(keep).map_err(other)?;
    set_user(&exec_user)?;
    capabilities::restrict(keep).map_err(other)?;
    // Set after the uid change, which would clear it: a container whose
    // supervisor died has nobody to reap it or record its exit.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| other(format!("set parent death signal: {e}")))?;
    nix::unistd::chdir(cwd).map_err(|e| {
        other(format!(
            "chdir to cwd (\"{cwd}\") set in config.json failed: {}",
            errno_text(e)
        ))
    })?;
    if spec.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(|e| other(format!("set no_new_privs: {e}")))?;
    }

    let path_env = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(DEFAULT_PATH);
    let program = look_path(&spec.args[0], path_env)?;
    if let (Some(f), true) = (&spec.seccomp, spec.no_new_privileges) {
        super::seccomp::load(f).map_err(other)?;
    }
    exec(&program, &spec.args, &env)
}

/// Enters the network namespace at `path` (an nsfs file).
fn join_netns(path: &Path) -> Result<(), StartFailure> {
    let ns = fs::File::open(path)
        .map_err(|e| other(format!("open network namespace {}: {e}", path.display())))?;
    nix::sched::setns(&ns, CloneFlags::CLONE_NEWNET)
        .map_err(|e| other(format!("join network namespace {}: {e}", path.display())))
}

/// Puts the stdio fds on 0-2, the error pipe on [`ERR_FD`] and the console
/// socket (if any) on [`CONSOLE_FD`] (both close-on-exec), and closes every
/// other inherited fd so nothing of the supervisor leaks.
pub(crate) fn setup_fds(fds: &InitFds, err_fd: &mut RawFd) -> std::io::Result<()> {
    let stage = |fd: RawFd| -> std::io::Result<RawFd> {
        // SAFETY: F_DUPFD_CLOEXEC duplicates an open fd of this process onto
        // the lowest free number >= STAGING_FD; it never replaces an open fd.
        let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, STAGING_FD) };
        if new < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(new)
    };
    let mut moves = vec![
        (stage(fds.stdin)?, 0, false),
        (stage(fds.stdout)?, 1, false),
        (stage(fds.stderr)?, 2, false),
        (stage(fds.errpipe)?, ERR_FD, true),
    ];
    if let Some(c) = fds.console {
        moves.push((stage(c)?, CONSOLE_FD, true));
    }
    if let Some(u) = fds.userns {
        moves.push((stage(u)?, USERNS_FD, true));
    }
    let first_free = moves.iter().map(|m| m.1).max().unwrap_or(ERR_FD) + 1;
    for (src, dst, cloexec) in moves {
        let flags = if cloexec { libc::FD_CLOEXEC } else { 0 };
        // SAFETY: dup2 and fcntl act on descriptors only; the sources are
        // staged copies, and the targets are the fixed slots the init owns
        // (whatever the supervisor had there must not reach the container).
        unsafe {
            if libc::dup2(src, dst) < 0 || libc::fcntl(dst, libc::F_SETFD, flags) < 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
        if dst == ERR_FD {
            *err_fd = ERR_FD;
        }
    }
    if fds.userns.is_some() && fds.console.is_none() {
        // The console's slot lies below the user namespace's: whatever the
        // supervisor had there must not stay open. Staged copies are >= 64.
        // SAFETY: closes a descriptor no Rust object of this child owns.
        unsafe { libc::close(CONSOLE_FD) };
    }
    // SAFETY: close_range only closes descriptors (the staged copies and
    // everything the supervisor had open); no Rust object of this
    // never-returning child will use those fds again.
    if unsafe { libc::syscall(libc::SYS_close_range, first_free, u32::MAX, 0) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Restores default dispositions and an empty mask: ignored signals (Rust
/// ignores SIGPIPE) would otherwise stay ignored across `execve`.
pub(crate) fn reset_signals() {
    for sig in Signal::iterator() {
        if matches!(sig, Signal::SIGKILL | Signal::SIGSTOP) {
            continue;
        }
        // SAFETY: installing SIG_DFL involves no handler code.
        unsafe {
            libc::signal(sig as libc::c_int, libc::SIG_DFL);
        }
    }
    // Cannot fail with a valid `how`.
    let _ = SigSet::empty().thread_set_mask();
}

/// Docker's `user[:group]` plus `GroupAdd`, resolved in the container's
/// `/etc/passwd` and `/etc/group` (the caller is inside its mount ns). The
/// primary group is listed among the supplementary ones, as Docker's
/// processes have it (`id` prints `groups=65534(nogroup)` for nobody).
pub(crate) fn process_user(
    spec: &str,
    group_add: &[String],
) -> Result<user::ExecUser, StartFailure> {
    let passwd = fs::read_to_string("/etc/passwd").ok();
    let group = fs::read_to_string("/etc/group").ok();
    let mut exec_user = user::resolve(spec, passwd.as_deref(), group.as_deref())
        .map_err(|m| StartFailure::new(FailureKind::BadUser, m))?;
    let added = user::additional_groups(group_add, group.as_deref())
        .map_err(|m| StartFailure::new(FailureKind::BadUser, m))?;
    if !exec_user.sgids.contains(&exec_user.gid) {
        exec_user.sgids.insert(0, exec_user.gid);
    }
    for g in added {
        if !exec_user.sgids.contains(&g) {
            exec_user.sgids.push(g);
        }
    }
    Ok(exec_user)
}

pub(crate) fn set_user(u: &user::ExecUser) -> Result<(), StartFailure> {
    let gids: Vec<Gid> = u.sgids.iter().map(|g| Gid::from_raw(*g)).collect();
    nix::unistd::setgroups(&gids).map_err(|e| other(format!("setgroups: {e}")))?;
    nix::unistd::setgid(Gid::from_raw(u.gid))
        .map_err(|e| other(format!("setgid {}: {e}", u.gid)))?;
    nix::unistd::setuid(Uid::from_raw(u.uid)).map_err(|e| other(format!("setuid {}: {e}", u.uid)))
}

/// Go's lower-case wording of an errno, which Docker's messages carry.
pub(crate) fn errno_text(e: Errno) -> String {
    let d = e.desc();
    let mut chars = d.chars();
    match chars.next() {
        Some(c) => c.to_lowercase().chain(chars).collect(),
        None => d.to_owned(),
    }
}

fn failure_kind(e: Errno) -> FailureKind {
    match e {
        Errno::ENOENT => FailureKind::NotFound,
        Errno::EACCES | Errno::EPERM => FailureKind::PermissionDenied,
        _ => FailureKind::Other,
    }
}

/// Finds `file` the way runc does (Go's `exec.LookPath`): a name with a slash
/// is used as is, others are searched in `path_env`; a hit must be a
/// non-directory with an execute bit.
pub fn look_path(file: &str, path_env: &str) -> Result<PathBuf, StartFailure> {
    if file.contains('/') {
        return check_executable(Path::new(file))
            .map(|()| PathBuf::from(file))
            .map_err(|e| match e {
                Some(errno) => StartFailure::new(
                    failure_kind(errno),
                    format!("exec: \"{file}\": stat {file}: {}", errno_text(errno)),
                ),
                None => StartFailure::new(
                    FailureKind::PermissionDenied,
                    format!("exec: \"{file}\": permission denied"),
                ),
            });
    }
    for dir in path_env.split(':') {
        let candidate = Path::new(if dir.is_empty() { "." } else { dir }).join(file);
        if check_executable(&candidate).is_ok() {
            return Ok(candidate);
        }
    }
    Err(StartFailure::new(
        FailureKind::NotFound,
        format!("exec: \"{file}\": executable file not found in $PATH"),
    ))
}

/// `Ok` for an executable non-directory; `Err(Some(errno))` when `stat`
/// fails, `Err(None)` when it is a directory or has no execute bit.
fn check_executable(p: &Path) -> Result<(), Option<Errno>> {
    let meta = fs::metadata(p).map_err(|e| Some(Errno::from_raw(e.raw_os_error().unwrap_or(0))))?;
    if !meta.is_dir() && meta.permissions().mode() & 0o111 != 0 {
        Ok(())
    } else {
        Err(None)
    }
}

pub(crate) fn exec(
    program: &Path,
    args: &[String],
    env: &[String],
) -> Result<Infallible, StartFailure> {
    let cstr = |s: &str| {
        CString::new(s).map_err(|_| {
            StartFailure::new(
                FailureKind::InvalidSpec,
                format!("{s:?} contains a nul byte"),
            )
        })
    };
    let prog = cstr(&program.to_string_lossy())?;
    let argv = args
        .iter()
        .map(|a| cstr(a))
        .collect::<Result<Vec<_>, _>>()?;
    let envp = env.iter().map(|e| cstr(e)).collect::<Result<Vec<_>, _>>()?;
    let e = match nix::unistd::execve(&prog, &argv, &envp) {
        Err(e) => e,
        Ok(never) => match never {},
    };
    Err(StartFailure::new(
        failure_kind(e),
        format!("exec {}: {}", program.display(), errno_text(e)),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    #[test]
    fn lookup_searches_path_and_follows_symlinks() {
        let d = tempfile::tempdir().unwrap();
        let bin = d.path().join("bin");
        fs::create_dir(&bin).unwrap();
        let tool = bin.join("tool");
        fs::write(&tool, "#!/bin/sh\n").unwrap();
        fs::set_permissions(&tool, fs::Permissions::from_mode(0o755)).unwrap();
        symlink("tool", bin.join("alias")).unwrap();
        fs::write(bin.join("plain"), "").unwrap();
        let path_env = format!("/nonexistent-berth:{}", bin.display());

        assert_eq!(look_path("tool", &path_env).unwrap(), tool);
        assert_eq!(look_path("alias", &path_env).unwrap(), bin.join("alias"));
        let f = look_path("plain", &path_env).unwrap_err();
        assert_eq!(f.kind, FailureKind::NotFound);
        assert_eq!(
            f.message,
            "exec: \"plain\": executable file not found in $PATH"
        );
    }

    #[test]
    fn slash_paths_report_dockers_messages() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().display().to_string();
        let f = look_path(&dir, "").unwrap_err();
        assert_eq!(f.kind, FailureKind::PermissionDenied);
        assert_eq!(f.message, format!("exec: \"{dir}\": permission denied"));

        let missing = format!("{dir}/missing");
        let f = look_path(&missing, "").unwrap_err();
        assert_eq!(f.kind, FailureKind::NotFound);
        assert_eq!(
            f.message,
            format!("exec: \"{missing}\": stat {missing}: no such file or directory")
        );
    }

    #[test]
    fn errno_text_is_lower_case_like_go() {
        assert_eq!(errno_text(Errno::ENOEXEC), "exec format error");
        assert_eq!(errno_text(Errno::EACCES), "permission denied");
    }
}
