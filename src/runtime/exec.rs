//! `exec`: a further process in a running container, started by a
//! supervisor of its own (the same `berth-supervisor` binary, protocol and
//! client as a container's), so an exec gets the same events (output, exit)
//! and controls (stdin, resize, signals) as a container.
//!
//! ```text
//! berthd ──client::start_exec──► berth-supervisor __berth_supervisor EXEC_DIR
//!                                  └─ supervisor: opens /proc/<init>/ns/*, checks the
//!                                     init's start time, setns(pid) (for its child)
//!                                      └─ exec child: joins the container's cgroup, setns
//!                                         cgroup/ipc/uts/net/mnt, pty, user, caps, execve
//! ```
//!
//! Files: `EXEC_DIR` is `<container run dir>/`[`EXECS_DIR`]`/<exec-id>`
//! (removed with the container's run dir): [`EXEC_SPEC_FILE`] (the
//! [`ExecSpec`], written by the daemon; its presence is what puts the
//! supervisor in exec mode), `sup.sock`, `supervisor.json`,
//! `supervisor.log`, and `exit.json` (the exec's exit status).
//!
//! The child does what the container's init does after its mounts, in the
//! same order (see [`super::init`]): user resolution in the container's
//! `/etc/passwd` and `/etc/group`, `HOME`, rlimits, the capability sets
//! (the container's `cap_add`/`cap_drop`/`privileged`, or all with an
//! exec's `--privileged`), `no_new_privs`, `PATH` lookup inside the
//! container. Unlike the init it creates nothing in the container: the
//! working dir must exist (runc's behaviour), and its pty comes from the
//! container's own devpts without touching `/dev/console`. Every fd other
//! than stdio is closed before `execve`, so nothing of the daemon or the
//! supervisor leaks in. The exec dies with the container: it lives in the
//! container's pid namespace, which the kernel empties when its init exits.

use std::convert::Infallible;
use std::fs::File;
use std::os::fd::{AsFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};

use nix::sched::{CloneFlags, setns};
use nix::sys::signal::Signal;
use serde::{Deserialize, Serialize};

use super::cgroups::CgroupPaths;
use super::error::RuntimeError;
use super::init::{self, InitFds};
use super::proto::{FailureKind, StartFailure};
use super::spec::{ContainerSpec, Rlimit, SPEC_VERSION};
use super::{capabilities, rlimits, state, tty};

/// The exec spec in an exec's run dir; its presence selects exec mode.
pub const EXEC_SPEC_FILE: &str = "exec.json";
/// The dir of a container's run dir that holds one dir per exec.
pub const EXECS_DIR: &str = "execs";

/// Namespaces the exec child joins, in this order (the pid namespace is
/// joined by the supervisor, for its child). The mount namespace comes last:
/// the others are entered through fds opened on the host's `/proc`.
const JOINED: [(&str, CloneFlags); 5] = [
    ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ("ipc", CloneFlags::CLONE_NEWIPC),
    ("uts", CloneFlags::CLONE_NEWUTS),
    ("net", CloneFlags::CLONE_NEWNET),
    ("mnt", CloneFlags::CLONE_NEWNS),
];

/// What the daemon asks for one exec, resolved from the exec request and
/// the container's configuration (written as [`EXEC_SPEC_FILE`]).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecSpec {
    /// [`SPEC_VERSION`].
    pub version: u32,
    /// The exec ID.
    pub id: String,
    /// The container's ID.
    pub container_id: String,
    /// The container's run dir, whose `supervisor.json` names the init (pid
    /// and start time) whose namespaces are joined.
    pub container_run_dir: PathBuf,
    /// This exec's run dir (see the [module doc](self)).
    pub run_dir: PathBuf,
    /// The command; never empty.
    pub args: Vec<String>,
    /// `KEY=value` entries; `HOME` is added from the user's passwd entry when missing.
    pub env: Vec<String>,
    /// Working directory; "" means "/". Must exist.
    pub cwd: String,
    /// Docker's `user[:group]`; "" means root.
    pub user: String,
    /// The container's supplementary groups (Docker's `GroupAdd`).
    #[serde(default)]
    pub group_add: Vec<String>,
    /// Allocate a pty from the container's devpts.
    pub tty: bool,
    /// Stdin is a pipe the daemon writes to (else `/dev/null`).
    pub open_stdin: bool,
    /// Initial terminal size `[rows, cols]` with a tty.
    #[serde(default)]
    pub console_size: Option<[u16; 2]>,
    /// Every capability of the supervisor's bounding set (the container's
    /// `Privileged`, or the exec's).
    pub privileged: bool,
    /// The container's `CapAdd`.
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// The container's `CapDrop`.
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// The container's `no-new-privileges`.
    #[serde(default)]
    pub no_new_privileges: bool,
    /// The container's seccomp program (an exec's `--privileged` keeps it,
    /// as with Docker); `None`: unconfined.
    #[serde(default)]
    pub seccomp: Option<super::seccomp::Filter>,
    /// The container's AppArmor profile, entered at the exec's `execve`.
    #[serde(default)]
    pub apparmor_profile: Option<String>,
    /// The container's ulimits.
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    /// The container's cgroup, joined before its cgroup namespace.
    #[serde(default)]
    pub cgroup: Option<CgroupPaths>,
}

impl ExecSpec {
    /// Checks what the runtime relies on: the version, a command, absolute
    /// dirs, known capabilities and limits, no nul bytes.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let invalid = |detail: String| RuntimeError::InvalidSpec {
            id: self.container_id.clone(),
            detail,
        };
        if self.version != SPEC_VERSION {
            return Err(invalid(format!(
                "exec spec version {} is not {SPEC_VERSION}",
                self.version
            )));
        }
        if self.args.is_empty() || self.args[0].is_empty() {
            return Err(invalid("no exec command specified".into()));
        }
        for p in [&self.run_dir, &self.container_run_dir] {
            if !p.is_absolute() {
                return Err(invalid(format!("path {} is not absolute", p.display())));
            }
        }
        capabilities::effective_set(self.privileged, &self.cap_add, &self.cap_drop)
            .map_err(invalid)?;
        rlimits::check(&self.rlimits).map_err(|e| invalid(e.to_string()))?;
        let texts = self
            .args
            .iter()
            .chain(&self.env)
            .chain([&self.cwd, &self.user]);
        for a in texts {
            if a.contains('\0') {
                return Err(invalid(format!("{a:?} contains a nul byte")));
            }
        }
        Ok(())
    }

    /// The part of a [`ContainerSpec`] the supervisor's poll loop uses:
    /// stdio shape, where `exit.json` goes (this exec's run dir), no log
    /// (Docker does not log exec output) and no cgroup of its own.
    pub fn supervisor_spec(&self) -> ContainerSpec {
        ContainerSpec {
            version: SPEC_VERSION,
            id: self.id.clone(),
            args: self.args.clone(),
            env: self.env.clone(),
            tty: self.tty,
            open_stdin: self.open_stdin,
            state_dir: self.run_dir.clone(),
            run_dir: self.run_dir.clone(),
            console_size: self.console_size,
            log: crate::logging::LogConfig {
                driver: crate::logging::config::NONE.into(),
                ..crate::logging::LogConfig::default()
            },
            ..ContainerSpec::default()
        }
    }
}

/// Reads the exec spec from `run_dir`; `Ok(None)` when there is none (the
/// supervisor then runs a container).
pub fn read_spec(run_dir: &Path) -> std::io::Result<Option<ExecSpec>> {
    let path = run_dir.join(EXEC_SPEC_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(std::io::Error::other),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// The container init's namespaces, opened by the supervisor.
pub struct Namespaces {
    pid: OwnedFd,
    joined: Vec<(CloneFlags, OwnedFd)>,
    /// A remapped container's user namespace, entered last (after the
    /// rlimits) through [`InitFds::userns`]; `None` when it is the host's.
    pub user: Option<OwnedFd>,
}

fn other(e: impl std::fmt::Display) -> StartFailure {
    StartFailure::new(FailureKind::Other, e.to_string())
}

impl Namespaces {
    /// Opens `/proc/<init>/ns/*` of the container in `spec`, making sure the
    /// pid still is the init `supervisor.json` recorded (start time checked
    /// after the opens, so the fds cannot belong to a process that reused it).
    pub fn open(spec: &ExecSpec) -> Result<Namespaces, StartFailure> {
        let not_running = || {
            StartFailure::new(
                FailureKind::Other,
                format!("container {} is not running", spec.container_id),
            )
        };
        let info = state::read_supervisor_info(&spec.container_run_dir).ok_or_else(not_running)?;
        let (Some(pid), Some(start)) = (info.container_pid, info.container_start_time) else {
            return Err(not_running());
        };
        let ns = |name: &str| -> Result<OwnedFd, StartFailure> {
            let path = format!("/proc/{pid}/ns/{name}");
            File::open(&path).map(OwnedFd::from).map_err(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    not_running()
                } else {
                    other(format!("open {path}: {e}"))
                }
            })
        };
        let pid_ns = ns("pid")?;
        let joined = JOINED
            .iter()
            .map(|(name, flag)| ns(name).map(|fd| (*flag, fd)))
            .collect::<Result<Vec<_>, _>>()?;
        let user = super::userns::open_foreign(pid)
            .map_err(|e| other(format!("open /proc/{pid}/ns/user: {e}")))?;
        if state::proc_start_time(pid) != Some(start) {
            return Err(not_running());
        }
        Ok(Namespaces {
            pid: pid_ns,
            joined,
            user,
        })
    }

    /// Makes the caller's next child start in the container's pid namespace.
    pub fn enter_pid(&self) -> Result<(), StartFailure> {
        setns(self.pid.as_fd(), CloneFlags::CLONE_NEWPID)
            .map_err(|e| other(format!("join the pid namespace: {e}")))
    }
}

/// Entry point of the exec child the supervisor forked (already in the
/// container's pid namespace): execs the command or exits 1 after writing
/// why it could not to the error pipe.
pub fn child_main(spec: &ExecSpec, ns: &Namespaces, fds: InitFds) -> ! {
    let mut err_fd = fds.errpipe;
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        run(spec, ns, &fds, &mut err_fd)
    }));
    let failure = match result {
        Ok(Err(f)) => f,
        Ok(Ok(never)) => match never {},
        Err(_) => StartFailure::new(FailureKind::Other, "exec child panicked"),
    };
    let payload = serde_json::to_vec(&failure).unwrap_or_default();
    // SAFETY: `err_fd` is the open write end of the error pipe; the buffer is
    // valid for its length. A failed write leaves nothing to report to.
    unsafe { libc::write(err_fd, payload.as_ptr().cast(), payload.len()) };
    // SAFETY: _exit ends this forked child without running the supervisor's
    // destructors or atexit handlers, which belong to the parent.
    unsafe { libc::_exit(1) }
}

fn run(
    spec: &ExecSpec,
    ns: &Namespaces,
    fds: &InitFds,
    err_fd: &mut RawFd,
) -> Result<Infallible, StartFailure> {
    // Not dumpable until execve (which resets it): once the capabilities are
    // dropped, a container process racing for /proc/<pid>/exe would reach
    // the runtime's binary on the host (CVE-2019-5736; runc does the same).
    nix::sys::prctl::set_dumpable(false).map_err(|e| other(format!("set non-dumpable: {e}")))?;
    init::reset_signals();
    // Joined before the cgroup namespace (which is then rooted at it), and
    // while the host's /sys/fs/cgroup is still our mount tree.
    if let Some(cg) = &spec.cgroup {
        cg.join(0)
            .map_err(|e| other(format!("join the container's cgroup: {e}")))?;
    }
    for (flag, fd) in &ns.joined {
        setns(fd.as_fd(), *flag).map_err(|e| other(format!("setns {flag:?}: {e}")))?;
    }
    // Entering the mount namespace moved our root and cwd to its root.
    // From here on every path is the container's; this also closes the
    // namespace fds and anything else the supervisor had open.
    init::setup_fds(fds, err_fd).map_err(|e| other(format!("set up stdio: {e}")))?;
    if spec.tty {
        if fds.console.is_none() {
            return Err(other("a tty needs a console socket"));
        }
        // SAFETY: setup_fds put the console socket on CONSOLE_FD, as
        // `fds.console` is set; nothing else owns that fd.
        let socket = unsafe { OwnedFd::from_raw_fd(init::CONSOLE_FD) };
        tty::setup_pty(socket, spec.console_size, tty::PtyRole::Terminal).map_err(other)?;
    }

    let exec_user = init::process_user(&spec.user, &spec.group_add)?;
    let mut env = spec.env.clone();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        env.push(format!("HOME={}", exec_user.home));
    }
    let cwd = if spec.cwd.is_empty() {
        "/"
    } else {
        spec.cwd.as_str()
    };
    rlimits::apply(&spec.rlimits)
        .map_err(|e| StartFailure::new(FailureKind::InvalidSpec, e.to_string()))?;
    if fds.userns.is_some() {
        // SAFETY: setup_fds put the user namespace on USERNS_FD, as
        // `fds.userns` is set; it stays open (close-on-exec) until execve.
        let ns = unsafe { std::os::fd::BorrowedFd::borrow_raw(init::USERNS_FD) };
        // The container's /proc: pid 1 is its init.
        let m = super::userns::mapping_of(1)
            .map_err(|e| other(format!("read the container's id maps: {e}")))?;
        super::userns::enter(ns, &m).map_err(|e| other(format!("enter user namespace: {e}")))?;
    }
    let keep = capabilities::effective_set(spec.privileged, &spec.cap_add, &spec.cap_drop)
        .map_err(|m| StartFailure::new(FailureKind::InvalidSpec, m))?;
    if let Some(profile) = &spec.apparmor_profile {
        super::apparmor::change_on_exec(profile)
            .map_err(|e| other(format!("unable to apply apparmor profile {profile}: {e}")))?;
    }
    // The init's order (runc's): before the caps go unless no_new_privs is set.
    if let (Some(f), false) = (&spec.seccomp, spec.no_new_privileges) {
        super::seccomp::load(f).map_err(other)?;
    }
    capabilities::drop_bounding(keep).map_err(other)?;
    init::set_user(&exec_user)?;
    capabilities::restrict(keep).map_err(other)?;
    // After the uid change, which would clear it: an exec whose supervisor
    // died has nobody to reap it or report its exit.
    nix::sys::prctl::set_pdeathsig(Signal::SIGKILL)
        .map_err(|e| other(format!("set parent death signal: {e}")))?;
    nix::unistd::chdir(cwd).map_err(|e| {
        other(format!(
            "chdir to cwd (\"{cwd}\") set in config.json failed: {}",
            init::errno_text(e)
        ))
    })?;
    if spec.no_new_privileges {
        nix::sys::prctl::set_no_new_privs().map_err(|e| other(format!("set no_new_privs: {e}")))?;
    }
    let path_env = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or(init::DEFAULT_PATH);
    let program = init::look_path(&spec.args[0], path_env)?;
    if let (Some(f), true) = (&spec.seccomp, spec.no_new_privileges) {
        super::seccomp::load(f).map_err(other)?;
    }
    init::exec(&program, &spec.args, &env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ExecSpec {
        ExecSpec {
            version: SPEC_VERSION,
            id: "e1".into(),
            container_id: "c1".into(),
            container_run_dir: "/run/berth/containers/c1".into(),
            run_dir: "/run/berth/containers/c1/execs/e1".into(),
            args: vec!["true".into()],
            ..ExecSpec::default()
        }
    }

    #[test]
    fn valid_spec_round_trips_and_reads_from_its_dir() {
        let s = sample();
        s.validate().unwrap();
        let d = tempfile::tempdir().unwrap();
        assert_eq!(read_spec(d.path()).unwrap(), None);
        std::fs::write(
            d.path().join(EXEC_SPEC_FILE),
            serde_json::to_vec(&s).unwrap(),
        )
        .unwrap();
        assert_eq!(read_spec(d.path()).unwrap(), Some(s));
    }

    #[test]
    fn bad_specs_are_rejected_with_the_reason() {
        let mut s = sample();
        s.args.clear();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("no exec command")
        );
        let mut s = sample();
        s.run_dir = "rel".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("rel is not absolute")
        );
        let mut s = sample();
        s.cwd = "/a\0b".into();
        assert!(s.validate().unwrap_err().to_string().contains("nul byte"));
        let mut s = sample();
        s.cap_drop = vec!["nonsense".into()];
        assert!(s.validate().is_err());
    }

    #[test]
    fn supervisor_spec_logs_nothing_and_keeps_the_exit_in_the_exec_dir() {
        let mut s = sample();
        s.tty = true;
        s.open_stdin = true;
        let sup = s.supervisor_spec();
        assert!(!sup.log.is_json_file());
        assert_eq!(sup.state_dir, s.run_dir);
        assert!(sup.tty && sup.open_stdin);
        assert_eq!(sup.cgroup, None);
    }
}
