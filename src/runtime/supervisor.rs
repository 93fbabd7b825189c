//! The per-container supervisor: a tiny single-threaded process (a poll
//! loop, no tokio) that is the parent of the container init, holds its stdio
//! pipes (or, with a tty, the pty master), reaps it, records its exit in
//! `exit.json`, and outlives the daemon.
//!
//! `berth-supervisor __berth_supervisor RUN_DIR` (see [`SUPERVISOR_ARG`]) reads
//! `RUN_DIR/spec.json`, calls `setsid` and forks; the forked supervisor binds
//! `RUN_DIR/sup.sock`, writes `supervisor.json` and the generated `/etc`
//! files, prints `ready <pid>` on stdout and then detaches its stdio (stderr
//! goes to `RUN_DIR/supervisor.log`). The first process exits at once, so the
//! daemon reaps it and never has the supervisor as a child. Errors before
//! `ready` go to stderr, for the daemon to report.
//!
//! The container is started on the first `START` request (see
//! [`super::proto`]), so a client is connected before the process can
//! write anything. Every chunk of output is written to the container's log
//! ([`crate::logging::jsonfile::JsonFileWriter`], unless the spec's log
//! driver is `none`) as it is read, whether or not a client is connected, so
//! the daemon being down loses nothing; a slow disk slows the reads. While a
//! client lags more than [`HIGH_WATER`] bytes, the supervisor stops reading
//! the container's output (backpressure instead of loss). The log is
//! complete before `exit.json` is written.
//!
//! Exec mode: when `RUN_DIR` holds an [`exec::EXEC_SPEC_FILE`] instead of a
//! container spec, the same loop supervises one exec'd process (see
//! [`super::exec`]): nothing of the container's is created (no rootfs, `/etc`
//! files, cgroup or log), `START` joins the container init's pid namespace
//! and forks the exec child instead of an init, and `exit.json` goes to the
//! exec's own dir.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::{CloneFlags, unshare};
use nix::sys::signal::{Signal, kill};
use nix::sys::socket::{AddressFamily, SockFlag, SockType, socketpair};
use nix::sys::wait::{WaitStatus, waitpid};
use nix::unistd::{ForkResult, Pid, fork, pipe2, setsid};

use super::error::RuntimeError;
use super::exec::{self, ExecSpec};
use super::init::{self, InitFds};
use super::proto::{self, FailureKind, Hello, Phase, StartFailure, StartedMsg};
use super::spec::ContainerSpec;
use super::state::{self, ExitStatus, SupervisorInfo};
use super::tty;
use crate::logging::Stream;
use crate::logging::jsonfile::JsonFileWriter;

/// `argv[1]` of `berth-supervisor`, naming the run dir that follows.
pub const SUPERVISOR_ARG: &str = "__berth_supervisor";
/// The supervisor's socket in the run dir.
pub const SOCKET_FILE: &str = "sup.sock";
/// The spec the daemon writes into the run dir.
pub const SPEC_FILE: &str = "spec.json";
/// The supervisor's own diagnostics, in the run dir.
pub const LOG_FILE: &str = "supervisor.log";
/// The container's root mount point in the run dir (mounted only inside the
/// container's mount namespace).
pub const ROOTFS_DIR: &str = "rootfs";
/// An empty lower layer for images without layers, in the run dir.
pub const EMPTY_LAYER_DIR: &str = "empty";
/// Output bytes a client may have queued before the container's output is
/// no longer read.
pub const HIGH_WATER: usize = 1 << 20;
/// Seconds the supervisor waits for its first client before giving up.
const FIRST_CLIENT_TIMEOUT_MS: i32 = 60_000;
const CHUNK: usize = 32 * 1024;

/// Why a supervisor could not come up.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    /// No run dir after [`SUPERVISOR_ARG`].
    #[error("usage: berth-supervisor {SUPERVISOR_ARG} RUN_DIR")]
    Usage,
    /// The process already runs threads, so forking would be unsafe.
    #[error("the supervisor must start single-threaded, found {threads} threads")]
    Threads {
        /// Threads found in `/proc/self/task`.
        threads: usize,
    },
    /// A file in the run dir could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// `spec.json` is not a valid spec.
    #[error("parse {path}: {source}")]
    Spec {
        /// The spec file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: serde_json::Error,
    },
    /// The spec is not runnable.
    #[error(transparent)]
    Invalid(#[from] RuntimeError),
    /// A system call failed.
    #[error("{step}: {source}")]
    Sys {
        /// The call.
        step: &'static str,
        /// The errno.
        #[source]
        source: nix::Error,
    },
}

impl SupervisorError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> crate::api::ErrorClass {
        match self {
            SupervisorError::Invalid(e) => e.class(),
            _ => crate::api::ErrorClass::Internal,
        }
    }
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> SupervisorError + '_ {
    move |source| SupervisorError::Io {
        path: path.to_owned(),
        source,
    }
}

fn sys(step: &'static str) -> impl FnOnce(nix::Error) -> SupervisorError {
    move |source| SupervisorError::Sys { step, source }
}

/// Runs the supervisor for the run dir that follows [`SUPERVISOR_ARG`] in
/// `args` (the whole argv). Call it before any thread is started; returns the
/// process exit code.
pub fn supervisor_main(args: &[OsString]) -> i32 {
    let run_dir = args
        .iter()
        .skip_while(|a| a.as_os_str() != SUPERVISOR_ARG)
        .nth(1);
    let Some(run_dir) = run_dir else {
        eprintln!("berth supervisor: {}", SupervisorError::Usage);
        return 2;
    };
    match launch(Path::new(run_dir)) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth supervisor: {e}");
            1
        }
    }
}

fn launch(run_dir: &Path) -> Result<i32, SupervisorError> {
    let threads = std::fs::read_dir("/proc/self/task")
        .map_err(io_err(Path::new("/proc/self/task")))?
        .count();
    if threads != 1 {
        return Err(SupervisorError::Threads { threads });
    }
    // A client that hangs up must not kill the supervisor mid-write.
    // SAFETY: SIG_IGN installs no handler code.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let run_dir = std::path::absolute(run_dir).map_err(io_err(run_dir))?;
    let exec_spec =
        exec::read_spec(&run_dir).map_err(io_err(&run_dir.join(exec::EXEC_SPEC_FILE)))?;
    let spec = match &exec_spec {
        Some(e) => {
            e.validate()?;
            e.supervisor_spec()
        }
        None => {
            let spec_path = run_dir.join(SPEC_FILE);
            let bytes = std::fs::read(&spec_path).map_err(io_err(&spec_path))?;
            let spec: ContainerSpec =
                serde_json::from_slice(&bytes).map_err(|source| SupervisorError::Spec {
                    path: spec_path.clone(),
                    source,
                })?;
            spec.validate()?;
            spec
        }
    };

    // Nothing the daemon left open beyond stdio may reach the supervisor.
    // SAFETY: close_range only closes descriptors; none is owned by a live
    // Rust object at this point of the process.
    if unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) } < 0 {
        return Err(io_err(Path::new("close_range"))(io::Error::last_os_error()));
    }
    setsid().map_err(sys("setsid"))?;
    // SAFETY: the process is single-threaded (checked above), so the child
    // may run arbitrary code after fork.
    match unsafe { fork() }.map_err(sys("fork"))? {
        ForkResult::Parent { .. } => return Ok(0),
        ForkResult::Child => {}
    }
    let mut sup = Supervisor::new(spec, exec_spec, run_dir)?;
    sup.detach_stdio()?;
    Ok(sup.run())
}

struct Client {
    stream: UnixStream,
    inbuf: Vec<u8>,
    outbuf: Vec<u8>,
    dead: bool,
}

struct Container {
    pid: Pid,
    pidfd: Option<OwnedFd>,
    stdout: Option<File>,
    stderr: Option<File>,
    stdin: Option<File>,
    status: Option<ExitStatus>,
}

struct Supervisor {
    spec: ContainerSpec,
    /// Set in exec mode; `spec` then only shapes stdio and the exit file.
    exec: Option<ExecSpec>,
    run_dir: PathBuf,
    socket: PathBuf,
    listener: UnixListener,
    clients: Vec<Client>,
    had_client: bool,
    container: Option<Container>,
    stdin_buf: Vec<u8>,
    stdin_closing: bool,
    info: SupervisorInfo,
    logger: Option<JsonFileWriter>,
    /// Whether the last log write failed (logged once per failure streak).
    log_failing: bool,
}

#[derive(Clone, Copy)]
enum Slot {
    Listener,
    Client(usize),
    Stdout,
    Stderr,
    Stdin,
    Pidfd,
}

impl Supervisor {
    fn new(
        spec: ContainerSpec,
        exec: Option<ExecSpec>,
        run_dir: PathBuf,
    ) -> Result<Supervisor, SupervisorError> {
        nix::unistd::chdir("/").map_err(sys("chdir /"))?;
        if exec.is_none() {
            for dir in [ROOTFS_DIR, EMPTY_LAYER_DIR] {
                let p = run_dir.join(dir);
                crate::fsutil::create_private_dir(&p).map_err(io_err(&p))?;
            }
            // The merged root takes the upper dir's mode; Docker's is 0755, so
            // that users other than root can walk the container's tree.
            std::fs::set_permissions(&spec.upper, std::fs::Permissions::from_mode(0o755))
                .map_err(io_err(&spec.upper))?;
            super::etc::write_files(
                &run_dir,
                spec.effective_hostname(),
                &spec.etc,
                Path::new("/etc/resolv.conf"),
                Path::new("/etc/hosts"),
            )
            .map_err(io_err(&run_dir))?;
        }
        let socket = run_dir.join(SOCKET_FILE);
        let dir_handle = File::open(&run_dir).map_err(io_err(&run_dir))?;
        let bind_path = socket_path(&run_dir, SOCKET_FILE, &dir_handle);
        if UnixStream::connect(&bind_path).is_ok() {
            return Err(io_err(&socket)(io::Error::new(
                io::ErrorKind::AddrInUse,
                "another supervisor serves this container",
            )));
        }
        match std::fs::remove_file(&socket) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(io_err(&socket)(e)),
            _ => {}
        }
        let listener = UnixListener::bind(&bind_path).map_err(io_err(&socket))?;
        drop(dir_handle);
        listener.set_nonblocking(true).map_err(io_err(&socket))?;
        let pid = std::process::id() as i32;
        let info = SupervisorInfo {
            version: state::STATE_VERSION,
            supervisor_pid: pid,
            supervisor_start_time: state::proc_start_time(pid).unwrap_or(0),
            container_pid: None,
            container_start_time: None,
        };
        let sup = Supervisor {
            spec,
            exec,
            run_dir,
            socket,
            listener,
            clients: Vec::new(),
            had_client: false,
            container: None,
            stdin_buf: Vec::new(),
            stdin_closing: false,
            info,
            logger: None,
            log_failing: false,
        };
        sup.write_info()?;
        Ok(sup)
    }

    fn write_info(&self) -> Result<(), SupervisorError> {
        let path = self.run_dir.join(state::SUPERVISOR_FILE);
        let bytes = serde_json::to_vec(&self.info).expect("supervisor info serializes");
        crate::fsutil::atomic_write(&path, &bytes).map_err(io_err(&path))
    }

    /// Tells the spawning daemon we are ready, then lets go of its pipes.
    fn detach_stdio(&self) -> Result<(), SupervisorError> {
        let mut out = io::stdout().lock();
        writeln!(out, "ready {}", self.info.supervisor_pid)
            .and_then(|()| out.flush())
            .map_err(io_err(Path::new("stdout")))?;
        let log_path = self.run_dir.join(LOG_FILE);
        let devnull = File::options()
            .read(true)
            .write(true)
            .open("/dev/null")
            .map_err(io_err(Path::new("/dev/null")))?;
        let log = File::options()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(io_err(&log_path))?;
        for (src, dst) in [
            (devnull.as_raw_fd(), 0),
            (devnull.as_raw_fd(), 1),
            (log.as_raw_fd(), 2),
        ] {
            // SAFETY: dup2 only replaces descriptors 0-2, which std's stdio
            // handles keep using as the new files.
            if unsafe { libc::dup2(src, dst) } < 0 {
                return Err(io_err(&log_path)(io::Error::last_os_error()));
            }
        }
        Ok(())
    }

    fn log(&self, msg: impl std::fmt::Display) {
        eprintln!("{} {}: {msg}", state::now_rfc3339(), self.spec.id);
    }

    fn phase(&self) -> (Phase, i32) {
        match &self.container {
            None => (Phase::Created, 0),
            Some(c) if c.status.is_none() => (Phase::Running, c.pid.as_raw()),
            Some(c) => (Phase::Exited, c.pid.as_raw()),
        }
    }

    fn finished(&self) -> bool {
        matches!(&self.container, Some(c) if c.status.is_some() && c.stdout.is_none() && c.stderr.is_none())
    }

    fn run(&mut self) -> i32 {
        loop {
            if self.finished() {
                return self.finish();
            }
            if self.container.is_none() && self.had_client && self.clients.is_empty() {
                self.log("client left before starting the container");
                return self.shutdown(0);
            }
            let (mut fds, slots) = self.poll_set();
            // Compressing a rotated log runs in steps between events.
            let background = self
                .logger
                .as_ref()
                .is_some_and(JsonFileWriter::has_background_work);
            let timeout = if background {
                0
            } else if self.had_client {
                -1
            } else {
                FIRST_CLIENT_TIMEOUT_MS
            };
            // SAFETY: `fds` is a valid, exclusively borrowed array of pollfd
            // of the given length, holding descriptors this process owns.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                self.log(format!("poll: {e}"));
                return self.shutdown(1);
            }
            if n == 0 && !self.had_client {
                self.log("no client connected, giving up");
                return self.shutdown(1);
            }
            for (pfd, slot) in fds.iter().zip(slots) {
                if pfd.revents != 0 {
                    self.handle(slot, pfd.revents);
                }
            }
            self.clients.retain(|c| !c.dead);
            if background && let Some(Err(e)) = self.logger.as_mut().map(|w| w.background_step()) {
                self.log(format!("compress rotated log: {e}"));
            }
        }
    }

    fn poll_set(&self) -> (Vec<libc::pollfd>, Vec<Slot>) {
        let mut fds = Vec::new();
        let mut slots = Vec::new();
        let mut add = |fd: RawFd, events: libc::c_short, slot: Slot| {
            fds.push(libc::pollfd {
                fd,
                events,
                revents: 0,
            });
            slots.push(slot);
        };
        add(self.listener.as_raw_fd(), libc::POLLIN, Slot::Listener);
        let stdin_full = self.stdin_buf.len() >= HIGH_WATER;
        for (i, c) in self.clients.iter().enumerate() {
            let mut ev = 0;
            if !stdin_full {
                ev |= libc::POLLIN;
            }
            if !c.outbuf.is_empty() {
                ev |= libc::POLLOUT;
            }
            add(c.stream.as_raw_fd(), ev, Slot::Client(i));
        }
        if let Some(c) = &self.container {
            let lagging = self.clients.iter().any(|c| c.outbuf.len() >= HIGH_WATER);
            if !lagging {
                if let Some(f) = &c.stdout {
                    add(f.as_raw_fd(), libc::POLLIN, Slot::Stdout);
                }
                if let Some(f) = &c.stderr {
                    add(f.as_raw_fd(), libc::POLLIN, Slot::Stderr);
                }
            }
            if let Some(f) = &c.stdin
                && (!self.stdin_buf.is_empty() || self.stdin_closing)
            {
                add(f.as_raw_fd(), libc::POLLOUT, Slot::Stdin);
            }
            if let Some(fd) = &c.pidfd {
                add(fd.as_raw_fd(), libc::POLLIN, Slot::Pidfd);
            }
        }
        (fds, slots)
    }

    fn handle(&mut self, slot: Slot, revents: libc::c_short) {
        match slot {
            Slot::Listener => self.accept(),
            Slot::Client(i) => {
                if revents & libc::POLLOUT != 0 {
                    flush_client(&mut self.clients[i]);
                }
                if revents & (libc::POLLIN | libc::POLLHUP | libc::POLLERR) != 0 {
                    self.read_client(i);
                }
            }
            Slot::Stdout => self.pump(proto::STDOUT),
            Slot::Stderr => self.pump(proto::STDERR),
            Slot::Stdin => self.write_stdin(),
            Slot::Pidfd => self.reap(),
        }
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    if let Err(e) = stream.set_nonblocking(true) {
                        self.log(format!("client socket: {e}"));
                        continue;
                    }
                    let (phase, pid) = self.phase();
                    let mut client = Client {
                        stream,
                        inbuf: Vec::new(),
                        outbuf: Vec::new(),
                        dead: false,
                    };
                    let hello = Hello {
                        version: proto::PROTOCOL_VERSION,
                        phase,
                        pid,
                    };
                    proto::encode_json(proto::HELLO, &hello, &mut client.outbuf);
                    flush_client(&mut client);
                    self.clients.push(client);
                    self.had_client = true;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.log(format!("accept: {e}"));
                    return;
                }
            }
        }
    }

    fn read_client(&mut self, i: usize) {
        let mut buf = [0u8; CHUNK];
        loop {
            match self.clients[i].stream.read(&mut buf) {
                Ok(0) => {
                    self.clients[i].dead = true;
                    break;
                }
                Ok(n) => self.clients[i].inbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.clients[i].dead = true;
                    break;
                }
            }
        }
        loop {
            match proto::take_frame(&mut self.clients[i].inbuf) {
                Ok(Some((tag, payload))) => self.request(i, tag, &payload),
                Ok(None) => break,
                Err(len) => {
                    self.log(format!("client sent an oversized frame ({len} bytes)"));
                    self.clients[i].dead = true;
                    break;
                }
            }
        }
    }

    fn request(&mut self, i: usize, tag: u8, payload: &[u8]) {
        match tag {
            proto::START => {
                let mut out = Vec::new();
                match self.start() {
                    Ok(pid) => proto::encode_json(proto::STARTED, &StartedMsg { pid }, &mut out),
                    Err(f) => {
                        self.log(format!("start failed: {}", f.message));
                        proto::encode_json(proto::START_FAILED, &f, &mut out);
                    }
                }
                let client = &mut self.clients[i];
                client.outbuf.extend_from_slice(&out);
                flush_client(client);
            }
            proto::SIGNAL => {
                let Ok(raw) = <[u8; 4]>::try_from(payload) else {
                    self.log("malformed signal request");
                    return;
                };
                let sig = i32::from_be_bytes(raw);
                match &self.container {
                    Some(c) if c.status.is_none() => {
                        // The init is our unreaped child, so its pid cannot
                        // have been reused.
                        let res = Signal::try_from(sig).and_then(|s| kill(c.pid, s));
                        if let Err(e) = res {
                            self.log(format!("signal {sig}: {e}"));
                        }
                    }
                    _ => self.log(format!("signal {sig} ignored: container not running")),
                }
            }
            proto::STDIN => {
                if !self.stdin_closing {
                    self.stdin_buf.extend_from_slice(payload);
                }
            }
            proto::CLOSE_STDIN => self.stdin_closing = true,
            proto::RESIZE => self.resize(payload),
            other => self.log(format!("unknown request tag {other}")),
        }
    }

    /// Forks the container init and waits until it has exec'd the user's
    /// program (the error pipe closes empty) or reported why it could not.
    fn start(&mut self) -> Result<i32, StartFailure> {
        if self.container.is_some() {
            return Err(StartFailure::new(
                FailureKind::Other,
                "container already started",
            ));
        }
        // The cgroup exists (with its limits) before the init does; the init
        // joins it itself. The supervisor stays outside, like containerd-shim.
        if let Some(cg) = &self.spec.cgroup {
            cg.paths.create(&cg.resources).map_err(|e| {
                StartFailure::new(FailureKind::Other, format!("create cgroup: {e}"))
            })?;
            if !self.spec.privileged
                && let Err(e) = cg.paths.restrict_devices()
            {
                self.remove_cgroup();
                let msg = format!("restrict cgroup devices: {e}");
                return Err(StartFailure::new(FailureKind::Other, msg));
            }
        }
        let started = self.fork_init();
        if started.is_err() {
            self.remove_cgroup();
        }
        started
    }

    /// Removes the container's cgroup, logging (not failing on) an error.
    fn remove_cgroup(&self) {
        if let Some(cg) = &self.spec.cgroup
            && let Err(e) = cg.paths.remove()
        {
            self.log(format!("remove cgroup: {e}"));
        }
    }

    fn fork_init(&mut self) -> Result<i32, StartFailure> {
        let fail = |what: &str, e: nix::Error| {
            StartFailure::new(FailureKind::Other, format!("{what}: {e}"))
        };
        let open_null = || {
            File::open("/dev/null")
                .map(OwnedFd::from)
                .map_err(|e| StartFailure::new(FailureKind::Other, format!("open /dev/null: {e}")))
        };
        // With a tty the init's stdio is the pty slave it allocates itself;
        // until then it holds /dev/null.
        let (out_r, out_w, err_r, err_w) = if self.spec.tty {
            (None, open_null()?, None, open_null()?)
        } else {
            let (out_r, out_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| fail("pipe", e))?;
            let (err_r, err_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| fail("pipe", e))?;
            (Some(out_r), out_w, Some(err_r), err_w)
        };
        let (errpipe_r, errpipe_w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| fail("pipe", e))?;
        let (stdin_child, stdin_w): (OwnedFd, Option<OwnedFd>) =
            if self.spec.open_stdin && !self.spec.tty {
                let (r, w) = pipe2(OFlag::O_CLOEXEC).map_err(|e| fail("pipe", e))?;
                (r, Some(w))
            } else {
                (open_null()?, None)
            };
        let console = if self.spec.tty {
            let pair = socketpair(
                AddressFamily::Unix,
                SockType::Stream,
                None,
                SockFlag::SOCK_CLOEXEC,
            )
            .map_err(|e| fail("socketpair", e))?;
            Some(pair)
        } else {
            None
        };
        if self.spec.privileged {
            let missing = super::capabilities::unavailable();
            if !missing.is_empty() {
                let names: Vec<String> = missing.iter().map(|c| c.to_string()).collect();
                self.log(format!(
                    "privileged: not in our bounding set, so not granted: {}",
                    names.join(", ")
                ));
            }
        }
        // An exit file from an earlier run of this container must not be
        // mistaken for this run's.
        let exit_file = self.spec.state_dir.join(state::EXIT_FILE);
        match std::fs::remove_file(&exit_file) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => {
                let msg = format!("remove {}: {e}", exit_file.display());
                return Err(StartFailure::new(FailureKind::Other, msg));
            }
            _ => {}
        }
        if self.spec.log.is_json_file() {
            let w = JsonFileWriter::open(&self.spec.state_dir, &self.spec.id, &self.spec.log)
                .map_err(|e| StartFailure::new(FailureKind::Other, format!("open log: {e}")))?;
            self.logger = Some(w);
        }
        // A remapped container's user namespace, made (with its maps) before
        // the pid namespace, whose first child its creator would otherwise be.
        let userns = match (&self.exec, &self.spec.userns) {
            (None, Some(m)) => Some(super::userns::create(m).map_err(|e| {
                StartFailure::new(FailureKind::Other, format!("create user namespace: {e}"))
            })?),
            _ => None,
        };
        // The next child becomes pid 1 of a new pid namespace (the other
        // namespaces are unshared by the child itself), or, for an exec,
        // a process in the container's.
        let namespaces = match &self.exec {
            Some(e) => {
                let ns = exec::Namespaces::open(e)?;
                ns.enter_pid()?;
                Some(ns)
            }
            None => {
                unshare(CloneFlags::CLONE_NEWPID).map_err(|e| fail("unshare pid namespace", e))?;
                None
            }
        };
        let fds = InitFds {
            stdin: stdin_child.as_raw_fd(),
            stdout: out_w.as_raw_fd(),
            stderr: err_w.as_raw_fd(),
            errpipe: errpipe_w.as_raw_fd(),
            console: console.as_ref().map(|(_, child_end)| child_end.as_raw_fd()),
            userns: userns
                .as_ref()
                .or_else(|| namespaces.as_ref().and_then(|ns| ns.user.as_ref()))
                .map(|fd| fd.as_raw_fd()),
        };
        // SAFETY: the supervisor is single-threaded, so the child may run
        // arbitrary code; it ends in execve or _exit and never returns.
        let forked = unsafe { fork() }.map_err(|e| match (&self.exec, e) {
            // The pid namespace's init is gone: it takes no new members.
            (Some(x), nix::errno::Errno::ENOMEM) => StartFailure::new(
                FailureKind::Other,
                format!("container {} is not running", x.container_id),
            ),
            _ => fail("fork", e),
        });
        let child = match forked? {
            ForkResult::Child => match (&self.exec, &namespaces) {
                (Some(e), Some(ns)) => exec::child_main(e, ns, fds),
                _ => init::child_main(&self.spec, fds),
            },
            ForkResult::Parent { child } => child,
        };
        drop((out_w, err_w, errpipe_w, stdin_child, namespaces, userns));
        // The init sends the pty master before it execs; a closed socket
        // without one means it failed, which the error pipe then tells.
        let master = match console {
            Some((ours, child_end)) => {
                drop(child_end);
                match tty::recv_master(&ours) {
                    Ok(m) => m,
                    Err(e) => {
                        let f = StartFailure::new(
                            FailureKind::Other,
                            format!("receive the pty master: {e}"),
                        );
                        return Err(self.abort_child(child, f));
                    }
                }
            }
            None => None,
        };

        let mut report = Vec::new();
        let read = File::from(errpipe_r).read_to_end(&mut report);
        if let Err(e) = read {
            return Err(self.abort_child(
                child,
                StartFailure::new(FailureKind::Other, format!("read init error pipe: {e}")),
            ));
        }
        if !report.is_empty() {
            let failure = serde_json::from_slice(&report).unwrap_or_else(|_| {
                StartFailure::new(
                    FailureKind::Other,
                    String::from_utf8_lossy(&report).into_owned(),
                )
            });
            return Err(self.abort_child(child, failure));
        }

        let pidfd = rustix::process::Pid::from_raw(child.as_raw())
            .ok_or_else(|| StartFailure::new(FailureKind::Other, "fork returned pid 0"))
            .and_then(|p| {
                rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).map_err(|e| {
                    StartFailure::new(FailureKind::Other, format!("pidfd_open {child}: {e}"))
                })
            });
        let pidfd = match pidfd {
            Ok(fd) => fd,
            Err(f) => return Err(self.abort_child(child, f)),
        };
        let nonblocking = |fd: OwnedFd| -> File {
            let f = File::from(fd);
            // SAFETY: fcntl on an fd owned by `f`.
            unsafe {
                let flags = libc::fcntl(f.as_raw_fd(), libc::F_GETFL);
                libc::fcntl(f.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
            }
            f
        };
        let (stdout, stdin) = match master {
            Some(master) => {
                // Stdin gets its own handle on the master, so "closing" it
                // only stops forwarding: the terminal stays open.
                let stdin = if self.spec.open_stdin {
                    match master.try_clone() {
                        Ok(fd) => Some(fd),
                        Err(e) => {
                            let msg = format!("duplicate the pty master: {e}");
                            let f = StartFailure::new(FailureKind::Other, msg);
                            return Err(self.abort_child(child, f));
                        }
                    }
                } else {
                    None
                };
                (Some(master), stdin)
            }
            None if self.spec.tty => {
                let f = StartFailure::new(FailureKind::Other, "the init sent no pty master");
                return Err(self.abort_child(child, f));
            }
            None => (out_r, stdin_w),
        };
        self.container = Some(Container {
            pid: child,
            pidfd: Some(pidfd),
            stdout: stdout.map(nonblocking),
            stderr: err_r.map(nonblocking),
            stdin: stdin.map(nonblocking),
            status: None,
        });
        self.info.container_pid = Some(child.as_raw());
        self.info.container_start_time = state::proc_start_time(child.as_raw());
        if let Err(e) = self.write_info() {
            self.log(e);
        }
        Ok(child.as_raw())
    }

    /// Sets the tty's size from a `RESIZE` payload; ignored without a tty.
    fn resize(&self, payload: &[u8]) {
        let Ok(raw) = <[u8; 4]>::try_from(payload) else {
            self.log("malformed resize request");
            return;
        };
        let rows = u16::from_be_bytes([raw[0], raw[1]]);
        let cols = u16::from_be_bytes([raw[2], raw[3]]);
        let master = match &self.container {
            Some(c) if self.spec.tty => c.stdout.as_ref(),
            _ => None,
        };
        if let Some(m) = master
            && let Err(e) = tty::set_winsize(m.as_raw_fd(), rows, cols)
        {
            self.log(format!("resize tty to {rows}x{cols}: {e}"));
        }
    }

    /// Kills and reaps a child that failed to start; returns its failure.
    fn abort_child(&self, child: Pid, failure: StartFailure) -> StartFailure {
        // ESRCH only: the child may already have exited after reporting.
        let _ = kill(child, Signal::SIGKILL);
        if let Err(e) = waitpid(child, None) {
            self.log(format!("reap failed init {child}: {e}"));
        }
        failure
    }

    /// Moves one chunk of container output to every client.
    fn pump(&mut self, tag: u8) {
        let Some(c) = self.container.as_mut() else {
            return;
        };
        let pipe = if tag == proto::STDOUT {
            &mut c.stdout
        } else {
            &mut c.stderr
        };
        let Some(f) = pipe.as_mut() else { return };
        let stream = if tag == proto::STDOUT {
            Stream::Stdout
        } else {
            Stream::Stderr
        };
        let mut buf = vec![0u8; CHUNK];
        let read = f.read(&mut buf);
        let ended = match &read {
            Ok(0) => true,
            Ok(_) => false,
            Err(e) => !matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
            ),
        };
        if ended {
            *pipe = None;
        }
        if let Some(w) = self.logger.as_mut() {
            let logged = match &read {
                Ok(n) if *n > 0 => w.write(stream, &buf[..*n]),
                _ if ended => w.finish_stream(stream),
                _ => Ok(()),
            };
            match logged {
                Ok(()) => self.log_failing = false,
                Err(e) if !self.log_failing => {
                    self.log_failing = true;
                    self.log(format!("write container log: {e}"));
                }
                Err(_) => {}
            }
        }
        match read {
            Ok(0) => {}
            Ok(n) => {
                let mut frame = Vec::with_capacity(n + proto::HEADER_LEN);
                proto::encode(tag, &buf[..n], &mut frame);
                for client in self.clients.iter_mut().filter(|c| !c.dead) {
                    client.outbuf.extend_from_slice(&frame);
                    flush_client(client);
                }
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                ) => {}
            // A pty master reads EIO once no slave fd is left: the end.
            Err(e) if e.raw_os_error() == Some(libc::EIO) => {}
            Err(e) => self.log(format!("read container output: {e}")),
        }
    }

    fn write_stdin(&mut self) {
        let Some(c) = self.container.as_mut() else {
            return;
        };
        let Some(f) = c.stdin.as_mut() else { return };
        if !self.stdin_buf.is_empty() {
            match f.write(&self.stdin_buf) {
                Ok(n) => {
                    self.stdin_buf.drain(..n);
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::Interrupted
                    ) => {}
                Err(_) => {
                    // The container closed its stdin: later input has nowhere to go.
                    self.stdin_buf.clear();
                    c.stdin = None;
                    return;
                }
            }
        }
        if self.stdin_buf.is_empty() && self.stdin_closing {
            c.stdin = None;
        }
    }

    fn reap(&mut self) {
        let Some(c) = self.container.as_mut() else {
            return;
        };
        let status = match waitpid(c.pid, None) {
            Ok(WaitStatus::Exited(_, code)) => ExitStatus::exited(code, state::now_rfc3339()),
            Ok(WaitStatus::Signaled(_, sig, _)) => {
                ExitStatus::killed(sig as i32, state::now_rfc3339())
            }
            Ok(other) => {
                let msg = format!("unexpected wait status {other:?}");
                self.log(msg);
                return;
            }
            Err(e) => {
                let msg = format!("waitpid {}: {e}", c.pid);
                c.pidfd = None;
                c.status = Some(ExitStatus::exited(255, state::now_rfc3339()));
                self.log(msg);
                return;
            }
        };
        c.pidfd = None;
        c.stdin = None;
        c.status = Some(status);
    }

    /// Records the exit, removes the cgroup, tells every client, and exits.
    fn finish(&mut self) -> i32 {
        let mut status = self
            .container
            .as_ref()
            .and_then(|c| c.status.clone())
            .expect("finish runs after the container was reaped");
        if let Some(cg) = &self.spec.cgroup {
            match cg.paths.oom_kills() {
                Ok(n) => status.oom_killed = n > 0,
                Err(e) => self.log(format!("read oom kills: {e}")),
            }
        }
        let mut code = 0;
        // Whoever reads exit.json may rely on the log being complete.
        if let Some(w) = self.logger.take()
            && let Err(e) = w.close()
        {
            self.log(format!("close container log: {e}"));
        }
        if let Err(e) = state::write_exit_status(&self.spec.state_dir, &status) {
            self.log(format!(
                "write {}: {e}",
                self.spec.state_dir.join(state::EXIT_FILE).display()
            ));
            code = 1;
        }
        // Before the clients hear of the exit: a restart must not find the
        // old cgroup disappearing under its new init. The pid namespace dies
        // with the init, so the cgroup empties at once (rmdir retries briefly).
        self.remove_cgroup();
        let mut frame = Vec::new();
        proto::encode_json(proto::EXITED, &status, &mut frame);
        for c in &mut self.clients {
            c.outbuf.extend_from_slice(&frame);
        }
        self.drain_clients();
        self.shutdown(code)
    }

    /// Writes out what clients still have queued, as long as they read it.
    fn drain_clients(&mut self) {
        loop {
            self.clients.retain(|c| !c.dead && !c.outbuf.is_empty());
            if self.clients.is_empty() {
                return;
            }
            let mut fds: Vec<libc::pollfd> = self
                .clients
                .iter()
                .map(|c| libc::pollfd {
                    fd: c.stream.as_raw_fd(),
                    events: libc::POLLOUT,
                    revents: 0,
                })
                .collect();
            // SAFETY: valid pollfd array of the given length.
            let n = unsafe {
                libc::poll(
                    fds.as_mut_ptr(),
                    fds.len() as libc::nfds_t,
                    FIRST_CLIENT_TIMEOUT_MS,
                )
            };
            if n == 0 {
                self.log("clients stopped reading; dropping their last frames");
                return;
            }
            if n < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return;
            }
            for (c, p) in self.clients.iter_mut().zip(&fds) {
                if p.revents != 0 {
                    flush_client(c);
                }
            }
        }
    }

    fn shutdown(&mut self, code: i32) -> i32 {
        if let Err(e) = std::fs::remove_file(&self.socket) {
            self.log(format!("remove {}: {e}", self.socket.display()));
        }
        code
    }
}

/// Longest socket path `sun_path` holds, without the terminating nul.
const SUN_PATH_MAX: usize = 107;

/// A path to the socket `name` in `dir` that fits in `sun_path`: the plain
/// path when short enough, else one through `/proc/self/fd` and `dir_handle`
/// (an open handle on `dir`, which must stay open while the path is used).
/// Data roots nest deeply, and container IDs alone are 64 bytes.
pub(crate) fn socket_path(dir: &Path, name: &str, dir_handle: &File) -> PathBuf {
    let plain = dir.join(name);
    if plain.as_os_str().len() <= SUN_PATH_MAX {
        return plain;
    }
    PathBuf::from(format!("/proc/self/fd/{}/{name}", dir_handle.as_raw_fd()))
}

/// Writes as much of the client's queue as the socket takes now.
fn flush_client(c: &mut Client) {
    while !c.outbuf.is_empty() && !c.dead {
        match c.stream.write(&c.outbuf) {
            Ok(n) => {
                c.outbuf.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => c.dead = true,
        }
    }
}
