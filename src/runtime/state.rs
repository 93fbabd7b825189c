//! Runtime state files the supervisor writes (see the layout in the
//! [module doc](super)): `exit.json` in the container's state dir and
//! `supervisor.json` in its run dir.

use std::io;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::fsutil::atomic_write;

/// Name of the exit status file in the container's state dir.
pub const EXIT_FILE: &str = "exit.json";
/// Name of the supervisor's pid file in the container's run dir.
pub const SUPERVISOR_FILE: &str = "supervisor.json";
/// Version written into every state file of this module.
pub const STATE_VERSION: u32 = 1;

/// How a container's init ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// The exit code, or 128+N when the process was killed by signal N.
    pub exit_code: i32,
    /// The signal that killed the process, if one did.
    pub signal: Option<i32>,
    /// When the supervisor reaped the process, RFC 3339 with nanoseconds, UTC.
    pub finished_at: String,
    /// Whether the OOM killer killed a process of the container's cgroup
    /// (Docker's `State.OOMKilled`).
    #[serde(default)]
    pub oom_killed: bool,
}

impl ExitStatus {
    /// The status for an init that exited with `code` at `finished_at`.
    pub fn exited(code: i32, finished_at: String) -> ExitStatus {
        ExitStatus {
            exit_code: code,
            signal: None,
            finished_at,
            oom_killed: false,
        }
    }

    /// The status for an init killed by signal `sig` at `finished_at`.
    pub fn killed(sig: i32, finished_at: String) -> ExitStatus {
        ExitStatus {
            exit_code: 128 + sig,
            signal: Some(sig),
            finished_at,
            oom_killed: false,
        }
    }
}

#[derive(Serialize, Deserialize)]
struct ExitFile {
    version: u32,
    #[serde(flatten)]
    status: ExitStatus,
}

/// Writes `exit.json` into `state_dir` atomically.
pub fn write_exit_status(state_dir: &Path, status: &ExitStatus) -> io::Result<()> {
    let file = ExitFile {
        version: STATE_VERSION,
        status: status.clone(),
    };
    let bytes = serde_json::to_vec(&file).map_err(io::Error::other)?;
    atomic_write(&state_dir.join(EXIT_FILE), &bytes)
}

/// Reads `exit.json` from `state_dir`; `None` when it is absent, unreadable
/// or of an unknown version (the container has not exited under a supervisor).
pub fn read_exit_status(state_dir: &Path) -> Option<ExitStatus> {
    let bytes = std::fs::read(state_dir.join(EXIT_FILE)).ok()?;
    let file: ExitFile = serde_json::from_slice(&bytes).ok()?;
    (file.version == STATE_VERSION).then_some(file.status)
}

/// `supervisor.json`: who supervises the container, identified by pid and
/// start time so a restarted daemon cannot be fooled by pid reuse.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorInfo {
    /// [`STATE_VERSION`].
    pub version: u32,
    /// Pid of the supervisor.
    pub supervisor_pid: i32,
    /// Start time of the supervisor (field 22 of `/proc/<pid>/stat`).
    pub supervisor_start_time: u64,
    /// Host pid of the container init, once started.
    pub container_pid: Option<i32>,
    /// Start time of the container init, once started.
    pub container_start_time: Option<u64>,
}

/// Reads `supervisor.json` from `run_dir`.
pub fn read_supervisor_info(run_dir: &Path) -> Option<SupervisorInfo> {
    let bytes = std::fs::read(run_dir.join(SUPERVISOR_FILE)).ok()?;
    let info: SupervisorInfo = serde_json::from_slice(&bytes).ok()?;
    (info.version == STATE_VERSION).then_some(info)
}

/// Start time of process `pid` in clock ticks since boot, from `/proc/<pid>/stat`.
pub fn proc_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_start_time(&stat)
}

/// Field 22 of a `/proc/<pid>/stat` line; the command name (field 2) may hold
/// spaces and parentheses, so fields are counted after its last `)`.
fn parse_start_time(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Current time as Docker prints it: RFC 3339, nanoseconds, UTC.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_status_round_trips_with_version() {
        let dir = tempfile::tempdir().unwrap();
        let st = ExitStatus::killed(9, "2024-01-01T00:00:00.000000001Z".into());
        assert_eq!(st.exit_code, 137);
        write_exit_status(dir.path(), &st).unwrap();
        let raw: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.path().join(EXIT_FILE)).unwrap()).unwrap();
        assert_eq!(raw["version"], 1);
        assert_eq!(raw["exit_code"], 137);
        assert_eq!(raw["signal"], 9);
        assert_eq!(read_exit_status(dir.path()), Some(st));
    }

    #[test]
    fn oom_killed_round_trips_and_defaults_to_false() {
        let dir = tempfile::tempdir().unwrap();
        let mut st = ExitStatus::killed(9, "2024-01-01T00:00:00Z".into());
        st.oom_killed = true;
        write_exit_status(dir.path(), &st).unwrap();
        assert_eq!(read_exit_status(dir.path()), Some(st));
        // exit.json written before OOM tracking existed.
        std::fs::write(
            dir.path().join(EXIT_FILE),
            r#"{"version":1,"exit_code":0,"signal":null,"finished_at":"x"}"#,
        )
        .unwrap();
        assert!(!read_exit_status(dir.path()).unwrap().oom_killed);
    }

    #[test]
    fn missing_exit_file_reads_as_none() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_exit_status(dir.path()), None);
    }

    #[test]
    fn start_time_skips_command_names_with_spaces() {
        let line = "42 (a) b (c) S 1 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 1 0 98765 0 0";
        assert_eq!(parse_start_time(line), Some(98765));
        assert!(proc_start_time(std::process::id() as i32).is_some());
    }

    #[test]
    fn timestamps_are_utc_with_nanoseconds() {
        let t = now_rfc3339();
        assert!(t.ends_with('Z'), "{t}");
        let frac = t.rsplit('.').next().unwrap();
        assert_eq!(frac.len(), "123456789Z".len(), "{t}");
    }
}
