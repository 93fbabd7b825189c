//! What the reference dockerd 20.10 gives a container for each capability,
//! user and read-only setting, recorded once into
//! `tests/fixtures/security/dockerd-20.10.json` by [`record_dockerd_fixture`]
//! (ignored by default: it needs Debian's docker.io and rewrites the file;
//! the command is stored in the file itself) and compared against berthd in
//! [`crate::privileges`].

use std::fs;
use std::path::PathBuf;
use std::process::Command;

use serde::{Deserialize, Serialize};

use crate::common::{RefDockerd, TestDaemon, code, run, run_ok, stderr, stdout};
use crate::probe::IMAGE;

/// One `docker run --rm FLAGS IMAGE CMD` whose result is recorded.
pub struct Case {
    /// Key in the fixture file.
    pub name: &'static str,
    /// Flags between `run --rm` and the image.
    pub flags: &'static [&'static str],
    /// The command run in the container.
    pub cmd: &'static [&'static str],
}

const CAPS: &[&str] = &["grep", "-E", "^(Cap|NoNewPrivs)", "/proc/self/status"];
const ID: &[&str] = &["id"];

/// Every recorded case.
pub const CASES: &[Case] = &[
    Case {
        name: "caps-default",
        flags: &[],
        cmd: CAPS,
    },
    Case {
        name: "caps-add-all",
        flags: &["--cap-add", "ALL"],
        cmd: CAPS,
    },
    Case {
        name: "caps-drop-all",
        flags: &["--cap-drop", "ALL"],
        cmd: CAPS,
    },
    Case {
        name: "caps-add-net-admin-drop-chown",
        flags: &["--cap-add", "NET_ADMIN", "--cap-drop", "CHOWN"],
        cmd: CAPS,
    },
    Case {
        name: "caps-drop-all-add-net-admin",
        flags: &["--cap-drop", "ALL", "--cap-add", "net_admin"],
        cmd: CAPS,
    },
    Case {
        name: "caps-privileged",
        flags: &["--privileged"],
        cmd: CAPS,
    },
    Case {
        name: "caps-user-1000",
        flags: &["--user", "1000"],
        cmd: CAPS,
    },
    Case {
        name: "caps-user-1000-add-net-bind",
        flags: &["--user", "1000", "--cap-add", "NET_BIND_SERVICE"],
        cmd: CAPS,
    },
    Case {
        name: "caps-no-new-privileges",
        flags: &["--security-opt", "no-new-privileges"],
        cmd: CAPS,
    },
    Case {
        name: "caps-no-new-privileges-false",
        flags: &["--security-opt", "no-new-privileges=false"],
        cmd: CAPS,
    },
    Case {
        name: "user-default",
        flags: &[],
        cmd: ID,
    },
    Case {
        name: "user-numeric",
        flags: &["--user", "1000"],
        cmd: ID,
    },
    Case {
        name: "user-named",
        flags: &["--user", "nobody"],
        cmd: ID,
    },
    Case {
        name: "user-uid-gid",
        flags: &["--user", "1000:1000"],
        cmd: ID,
    },
    Case {
        name: "user-name-group",
        flags: &["--user", "nobody:root"],
        cmd: ID,
    },
    Case {
        name: "user-uid-group-name",
        flags: &["--user", "0:nogroup"],
        cmd: ID,
    },
    Case {
        name: "user-group-add",
        flags: &[
            "--user",
            "nobody",
            "--group-add",
            "1234",
            "--group-add",
            "root",
        ],
        cmd: ID,
    },
    Case {
        name: "user-group-add-root",
        flags: &["--group-add", "nogroup"],
        cmd: ID,
    },
    Case {
        name: "user-unknown",
        flags: &["--user", "berth-nosuchuser"],
        cmd: ID,
    },
    Case {
        name: "user-unknown-group",
        flags: &["--user", "nobody:berth-nosuchgroup"],
        cmd: ID,
    },
    Case {
        name: "user-group-add-unknown",
        flags: &["--group-add", "berth-nosuchgroup"],
        cmd: ID,
    },
    Case {
        name: "read-only-root",
        flags: &["--read-only"],
        cmd: &[
            "sh",
            "-c",
            "touch /berth-x 2>&1; touch /tmp/berth-x 2>&1; echo done",
        ],
    },
    Case {
        name: "read-only-tmpfs-tmp",
        flags: &["--read-only", "--tmpfs", "/tmp"],
        cmd: &[
            "sh",
            "-c",
            "touch /berth-x 2>&1; touch /tmp/berth-x && echo tmp-writable; grep ' /tmp ' /proc/mounts",
        ],
    },
    Case {
        name: "read-only-special-dirs",
        flags: &["--read-only"],
        cmd: &[
            "sh",
            "-c",
            "for p in /dev/berth-x /dev/shm/berth-x /run/berth-x /etc/hostname; do touch $p 2>/dev/null && echo $p rw || echo $p ro; done",
        ],
    },
    Case {
        name: "apparmor-profile",
        flags: &["--security-opt", "apparmor=berth-nonexistent-profile"],
        cmd: &["sh", "-c", "cat /proc/self/attr/current 2>&1; echo ran"],
    },
    Case {
        name: "apparmor-unconfined",
        flags: &["--security-opt", "apparmor=unconfined"],
        cmd: &["sh", "-c", "cat /proc/self/attr/current 2>&1; echo ran"],
    },
];

/// The fixture file.
pub fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/security/dockerd-20.10.json")
}

/// One recorded result.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Outcome {
    /// The flags given (for the reader; the key is the case name).
    pub flags: Vec<String>,
    /// The container's command.
    pub cmd: Vec<String>,
    /// The docker CLI's exit code.
    pub exit: i32,
    /// Its stdout.
    pub stdout: String,
    /// Its stderr.
    pub stderr: String,
}

/// The fixture file's content.
#[derive(Debug, Serialize, Deserialize)]
pub struct Recording {
    /// How the file was made (rerun it to refresh).
    pub command: String,
    /// `dockerd --version`, `runc --version` (first line), `uname -r`.
    pub recorded_with: Vec<String>,
    /// The recording host's bounding set (`CapBnd` of the test process):
    /// what any engine there can grant at most.
    pub host_bounding_set: String,
    /// Case name → outcome.
    pub cases: std::collections::BTreeMap<String, Outcome>,
}

/// Loads the recording.
pub fn load() -> Recording {
    let text =
        fs::read_to_string(path()).unwrap_or_else(|e| panic!("read {}: {e}", path().display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parse {}: {e}", path().display()))
}

/// `docker run --rm FLAGS IMAGE CMD` through `cmd_for`.
pub fn outcome(case: &Case, mut docker: impl FnMut(&[&str]) -> Command) -> Outcome {
    let mut args = vec!["run", "--rm"];
    args.extend_from_slice(case.flags);
    args.push(IMAGE);
    args.extend_from_slice(case.cmd);
    let out = run(&mut docker(&args));
    Outcome {
        flags: case.flags.iter().map(|s| s.to_string()).collect(),
        cmd: case.cmd.iter().map(|s| s.to_string()).collect(),
        exit: code(&out),
        stdout: stdout(&out),
        stderr: stderr(&out),
    }
}

/// The test process' `CapBnd` line value.
pub fn own_bounding_set() -> String {
    let status = fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapBnd:"))
        .expect("CapBnd in /proc/self/status")
        .trim()
        .to_owned()
}

fn version_line(cmd: &str, arg: &str) -> String {
    run_ok(Command::new(cmd).arg(arg))
        .lines()
        .next()
        .unwrap_or_default()
        .to_owned()
}

/// Records every [`CASES`] entry against a throw-away reference dockerd
/// (the busybox fixture image loaded with `docker load`) and rewrites the
/// fixture file. Run it with the command stored in the file.
#[test]
#[ignore = "records the reference fixture; needs Debian's docker.io"]
fn record_dockerd_fixture() {
    let dockerd = RefDockerd::start();
    // A berthd only to write the same image archive the berth tests load.
    let d = TestDaemon::start();
    let (archive, _) = d.busybox_archive(IMAGE);
    run_ok(&mut dockerd.docker(&["load", "-i", &archive.to_string_lossy()]));
    let cases = CASES
        .iter()
        .map(|c| (c.name.to_owned(), outcome(c, |a| dockerd.docker(a))))
        .collect();
    let recording = Recording {
        command: "cargo test --test security -- --ignored --exact fixture::record_dockerd_fixture"
            .into(),
        recorded_with: vec![
            version_line(crate::common::DOCKERD, "--version"),
            version_line("runc", "--version"),
            format!("kernel {}", version_line("uname", "-r")),
        ],
        host_bounding_set: own_bounding_set(),
        cases,
    };
    let mut text = serde_json::to_string_pretty(&recording).expect("serialise the recording");
    text.push('\n');
    fs::write(path(), text).unwrap_or_else(|e| panic!("write {}: {e}", path().display()));
}
