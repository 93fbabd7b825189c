//! A `berthd` started from an exact command line the test chooses (a
//! packaged binary, a unit's `ExecStart=`, no `--debug`) and a daemon.json
//! given verbatim (bad files included), with private directories, bridge,
//! subnet and cgroup parent added as flags. Torn down like
//! [`super::TestDaemon`], on failure too: SIGTERM (then SIGKILL), the test
//! directory, the bridge and nft table, the cgroup tree.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{ApiResponse, TestNet, berth_tempdir, remove_cgroup_trees, teardown_dir, try_request};

/// How long the daemon may take to answer, to log or to exit (a hang guard).
const BOUND: Duration = Duration::from_secs(60);

/// A daemon spawned by [`RawDaemon::spawn`].
pub struct RawDaemon {
    /// The test's directory (daemon dirs, log, config file).
    pub dir: PathBuf,
    /// The API socket.
    pub socket: PathBuf,
    /// The daemon's `--config-file`.
    pub config_file: PathBuf,
    /// Its stdout and stderr.
    pub log: PathBuf,
    cgroup_parent: String,
    net: TestNet,
    child: Option<Child>,
}

impl RawDaemon {
    /// Writes `config_json` to a private config file and spawns
    /// `program args…` plus the isolating flags (`-H`, `--data-root`,
    /// `--exec-root`, `--pidfile`, `--config-file`, `--bridge`, `--bip`,
    /// `--cgroup-parent`). Does not wait for it: see [`RawDaemon::wait_ready`].
    pub fn spawn(program: &Path, args: &[String], config_json: &str) -> RawDaemon {
        super::require_root();
        let dir = berth_tempdir("svc");
        let cgroup_parent = dir
            .file_name()
            .expect("a test dir has a name")
            .to_string_lossy()
            .into_owned();
        let mut d = RawDaemon {
            socket: dir.join("berth.sock"),
            config_file: dir.join("daemon.json"),
            log: dir.join("berthd.log"),
            dir,
            cgroup_parent,
            net: TestNet::pick(),
            child: None,
        };
        fs::write(&d.config_file, config_json).expect("write the daemon's config file");
        let log = fs::File::create(&d.log).expect("create the daemon log");
        let child = Command::new(program)
            .args(args)
            .arg("-H")
            .arg(format!("unix://{}", d.socket.display()))
            .args(super::state_args(
                &d.dir.join("data"),
                &d.dir.join("exec"),
                &d.dir.join("berthd.pid"),
                &d.config_file,
            ))
            .arg("--cgroup-parent")
            .arg(&d.cgroup_parent)
            .args(d.net.args())
            .env_remove("RUST_LOG")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {}: {e}", program.display()));
        d.child = Some(child);
        d
    }

    /// The daemon's pid.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("berthd was spawned").id() as i32)
    }

    /// `unix://…` for `-H`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// Waits until the daemon exits (it is expected to refuse to start);
    /// fails the test if it binds its socket or runs past the bound.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let child = self.child.as_mut().expect("berthd was spawned");
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = child.try_wait().expect("poll berthd") {
                self.child = None;
                return status;
            }
            assert!(
                !self.socket.exists(),
                "berthd started serving; log:\n{}",
                self.log_text()
            );
            assert!(
                Instant::now() < deadline,
                "berthd did not exit within {BOUND:?}"
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Polls `/_ping` until it answers 200; fails early if the daemon exits.
    pub fn wait_ready(&mut self) {
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("berthd exited ({status}); log:\n{}", self.log_text());
            }
            if let Ok(r) = try_request(&self.socket, "GET", "/_ping", &[], &[])
                && r.status == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not answer within {BOUND:?}; log:\n{}",
                self.log_text()
            );
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// `GET path` on the daemon's socket.
    pub fn get(&self, path: &str) -> ApiResponse {
        try_request(&self.socket, "GET", path, &[], &[])
            .unwrap_or_else(|e| panic!("GET {path}: {e}; log:\n{}", self.log_text()))
    }

    /// Waits until the log contains `needle` after byte `from`; returns the
    /// offset just past it. Fails if the daemon exits or the bound passes.
    pub fn wait_log(&mut self, needle: &str, from: usize) -> usize {
        let deadline = Instant::now() + BOUND;
        loop {
            let text = self.log_text();
            if let Some(at) = text.get(from..).and_then(|t| t.find(needle)) {
                return from + at + needle.len();
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                panic!("berthd exited ({status}) before logging {needle:?}; log:\n{text}");
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not log {needle:?} within {BOUND:?}; log:\n{text}"
            );
            thread::sleep(Duration::from_millis(25));
        }
    }

    fn cleanup(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + BOUND;
            while child.try_wait().ok().flatten().is_none() {
                if Instant::now() > deadline {
                    problems.push("berthd ignored SIGTERM; killed it".to_owned());
                    let _ = child.kill();
                    let _ = child.wait();
                    break;
                }
                thread::sleep(Duration::from_millis(20));
            }
        }
        problems.extend(self.net.teardown_daemon(&self.dir.join("data")));
        problems.extend(teardown_dir(&self.dir));
        problems.extend(remove_cgroup_trees(&self.cgroup_parent));
        problems
    }
}

impl Drop for RawDaemon {
    fn drop(&mut self) {
        let panicking = thread::panicking();
        if panicking {
            eprintln!("---- berthd log ----\n{}---- end ----", self.log_text());
        }
        let problems = self.cleanup();
        if !problems.is_empty() {
            let msg = format!("cleanup left problems:\n  {}", problems.join("\n  "));
            if panicking {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}
