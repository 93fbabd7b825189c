//! Building the escape probe and running it in containers of a test daemon.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{TestDaemon, code, run, run_ok, stderr, stdout};

/// The probe's source, compiled per test into the daemon's test directory
/// (removed with it).
const SOURCE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/security/probes/escape.c"
);

/// The image every probe container runs (the busybox-static fixture).
pub const IMAGE: &str = "berth-sec-busybox:latest";

/// Where the probe's directory is mounted in a container.
pub const MOUNT: &str = "/probe";

/// A daemon with the busybox image loaded and the probe compiled into a
/// directory of its own.
pub struct Lab {
    /// The daemon under test.
    pub d: TestDaemon,
    /// Host directory holding `berth-probe` (bind-mounted at [`MOUNT`]).
    pub dir: PathBuf,
}

impl Lab {
    /// Starts a daemon, loads the image and compiles the probe.
    pub fn start() -> Lab {
        let d = TestDaemon::start();
        d.load_busybox(IMAGE);
        let dir = d.dir().join("berth-probe");
        fs::create_dir(&dir).expect("create the probe dir");
        compile(&dir.join("berth-probe"));
        Lab { d, dir }
    }

    /// The probe's path on the host.
    pub fn host_probe(&self) -> PathBuf {
        self.dir.join("berth-probe")
    }

    /// `-v <probe dir>:/probe:ro` followed by `flags`.
    fn run_args<'a>(&'a self, volume: &'a str, flags: &[&'a str]) -> Vec<&'a str> {
        let mut args = vec!["run", "--rm", "-v", volume];
        args.extend_from_slice(flags);
        args.push(IMAGE);
        args
    }

    /// Runs `berth-probe <probe args>` in a fresh container created with
    /// `flags` and returns its single output line; fails the test when the
    /// container does not run cleanly.
    pub fn probe(&self, flags: &[&str], probe: &[&str]) -> String {
        let volume = format!("{}:{MOUNT}:ro", self.dir.display());
        let mut args = self.run_args(&volume, flags);
        let exe = format!("{MOUNT}/berth-probe");
        args.push(&exe);
        args.extend_from_slice(probe);
        let out = run(&mut self.d.berth(&args));
        assert_eq!(
            code(&out),
            0,
            "berth {args:?} failed: {}{}",
            stdout(&out),
            stderr(&out)
        );
        stdout(&out).trim_end().to_owned()
    }

    /// The probe run directly on the host (no container): the twin for
    /// barriers that no container flag of ours removes.
    pub fn probe_on_host(&self, probe: &[&str]) -> String {
        run_ok(Command::new(self.host_probe()).args(probe))
            .trim_end()
            .to_owned()
    }

    /// Runs `sh -c script` in a fresh container with `flags`; returns the output.
    pub fn sh(&self, flags: &[&str], script: &str) -> std::process::Output {
        let volume = format!("{}:{MOUNT}:ro", self.dir.display());
        let mut args = self.run_args(&volume, flags);
        args.extend_from_slice(&["sh", "-c", script]);
        run(&mut self.d.berth(&args))
    }
}

/// `gcc -static -O2 -Wall -Werror -o out escape.c`; fails the test with
/// gcc's message (gcc and libc6-dev are CI requirements).
pub fn compile(out: &Path) {
    let result = Command::new("gcc")
        .args(["-static", "-O2", "-Wall", "-Werror", "-o"])
        .arg(out)
        .arg(SOURCE)
        .output()
        .unwrap_or_else(|e| panic!("run gcc (install gcc and libc6-dev): {e}"));
    assert!(
        result.status.success(),
        "gcc -static {SOURCE} failed:\n{}",
        String::from_utf8_lossy(&result.stderr)
    );
}
