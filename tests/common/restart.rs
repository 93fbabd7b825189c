//! A second `berthd` on a stopped [`TestDaemon`]'s socket, roots and config
//! file: the daemon "service restart" the restart-policy and live-restore
//! tests need after [`TestDaemon::stop`].

use std::fs;
use std::path::PathBuf;
use std::process::Child;
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{ApiResponse, TestDaemon, berthd_command, try_request};

/// How long the second daemon may take to answer `/_ping`.
const START_BOUND: Duration = Duration::from_secs(60);
/// How long it may take to exit after SIGTERM before it is killed.
const STOP_BOUND: Duration = Duration::from_secs(30);

/// The second daemon; dropping it stops it (SIGTERM, then SIGKILL) and
/// prints its log if the test failed. Drop it before the [`TestDaemon`],
/// whose teardown removes what both made.
pub struct SecondDaemon {
    child: Option<Child>,
    socket: PathBuf,
    log: PathBuf,
}

impl SecondDaemon {
    /// Starts `berthd` again for `d` (which must have been stopped) with
    /// the same flags, and waits until it answers `GET /_ping`. Its log goes
    /// to `berthd-second.log` in the test directory.
    pub fn start(d: &TestDaemon) -> SecondDaemon {
        let log = d.dir().join("berthd-second.log");
        let file = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .unwrap_or_else(|e| panic!("open {}: {e}", log.display()));
        let child = berthd_command(
            d.socket_path(),
            d.data_root(),
            d.exec_root(),
            d.pidfile(),
            &d.dir().join("daemon.json"),
        )
        .args(d.net().args())
        .stdout(file.try_clone().expect("clone the log file handle"))
        .stderr(file)
        .spawn()
        .expect("spawn the second berthd");
        let second = SecondDaemon {
            child: Some(child),
            socket: d.socket_path().to_path_buf(),
            log,
        };
        let deadline = Instant::now() + START_BOUND;
        while !try_request(&second.socket, "GET", "/_ping", &[], &[]).is_ok_and(|r| r.status == 200)
        {
            assert!(
                Instant::now() < deadline,
                "the second berthd did not answer /_ping within {START_BOUND:?}"
            );
            thread::sleep(Duration::from_millis(50));
        }
        second
    }

    /// One API request with an optional JSON body.
    pub fn api(&self, method: &str, path: &str, body: &[u8]) -> ApiResponse {
        let headers: &[(&str, &str)] = if body.is_empty() {
            &[]
        } else {
            &[("Content-Type", "application/json")]
        };
        try_request(&self.socket, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} on the second berthd: {e}"))
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> ApiResponse {
        self.api("GET", path, &[])
    }
}

impl Drop for SecondDaemon {
    fn drop(&mut self) {
        if thread::panicking() {
            let log = fs::read(&self.log).unwrap_or_default();
            eprintln!(
                "---- second berthd log ({}) ----\n{}---- end of second berthd log ----",
                self.log.display(),
                String::from_utf8_lossy(&log)
            );
        }
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
        let deadline = Instant::now() + STOP_BOUND;
        while child.try_wait().ok().flatten().is_none() {
            if Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return;
            }
            thread::sleep(Duration::from_millis(50));
        }
    }
}
