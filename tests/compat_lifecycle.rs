//! The container lifecycle through the real `docker` CLI (version 28,
//! `/usr/local/bin/docker` or `$BERTH_DOCKER_CLI`) against a real `berthd`:
//! create, start, ps, stop, rm, run, kill, wait, restart, rename, top,
//! attach and the error cases of issue 3, each compared with what dockerd
//! 20.10 gives.
//!
//! Every expected output and exit code below was recorded with the same
//! client against Debian's dockerd 20.10.24 (a throw-away daemon started like
//! the harness's `RefDockerd`, with a /24 on its bridge so that several
//! containers can run at once) and a busybox-static image made by
//! `BERTH_CLI=docker scripts/busybox-image.sh`; each constant names the command
//! that recorded it. Container IDs are substituted, and times ("Up 2 seconds")
//! are matched by shape. Pointing `BERTH_TEST_DAEMON_HOST` at such a dockerd
//! re-checks the expectations (`--test-threads=1`).
//!
//! Not compared, as berthd differs on purpose: networking (dockerd attaches
//! the bridge network, berthd has none yet) and the runtime's wording around
//! `exec: "…": executable file not found in $PATH` (dockerd names runc and
//! its shim before it and containerd's gRPC code `: unknown` after it).

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

use common::{COMMAND_BOUND, TestDaemon, code, describe, run, run_with_stdin, stderr};

/// What `docker run` adds after the daemon's message when it fails (docker 28).
const RUN_HELP_TAIL: &str = "\n\nRun 'docker run --help' for more information\n";

/// `docker ps` header, recorded from `docker ps` with one running
/// `sleep 1000` container; columns are split on runs of 2+ spaces.
const PS_COLUMNS: [&str; 7] = [
    "CONTAINER ID",
    "IMAGE",
    "COMMAND",
    "CREATED",
    "STATUS",
    "PORTS",
    "NAMES",
];

/// `docker top berth-r2` (a `sleep 1000` container): the header line, exactly.
const TOP_HEADER: &str = "UID                 PID                 PPID                C                   STIME               TTY                 TIME                CMD";

/// `docker run --name berth-x busybox true`, a second time; `{id}` is the first one's ID.
const NAME_CONFLICT: &str = "docker: Error response from daemon: Conflict. The container name \"/berth-x\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.";

/// `docker rm berth-r2` of a running container; `{id}` is its full ID.
const RM_RUNNING: &str = "Error response from daemon: You cannot remove a running container {id}. Stop the container before attempting removal or force remove\n";

/// `docker stop nope` and `docker rm nope`.
const NO_SUCH_CONTAINER: &str = "Error response from daemon: No such container: nope\n";

/// `docker kill nope`.
const KILL_NO_SUCH: &str =
    "Error response from daemon: Cannot kill container: nope: No such container: nope\n";

/// `docker inspect nope` (stdout `[]`).
const INSPECT_NO_SUCH: &str = "Error: No such object: nope\n";

/// `docker run -u nosuchuser busybox true` (exit 125).
const NO_SUCH_USER: &str = "docker: Error response from daemon: unable to find user nosuchuser: no matching entries in passwd file";

/// A daemon with the busybox-static image loaded as `busybox:latest`.
fn daemon() -> TestDaemon {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    d
}

/// Runs `docker args…`; returns (exit code, stdout, stderr).
fn docker(d: &TestDaemon, args: &[&str]) -> (i32, String, String) {
    let out = run(&mut d.docker(args));
    (code(&out), common::stdout(&out), stderr(&out))
}

/// Runs `docker args…`, asserting exit 0 and an empty stderr; returns stdout.
fn docker_ok(d: &TestDaemon, args: &[&str]) -> String {
    let (c, out, err) = docker(d, args);
    assert_eq!(
        (c, err.as_str()),
        (0, ""),
        "docker {args:?}: exit {c}, stdout {out:?}, stderr {err:?}"
    );
    out
}

/// Asserts `docker args…` gives exactly `expected` (exit, stdout, stderr).
fn expect(d: &TestDaemon, args: &[&str], expected: (i32, &str, &str)) {
    let (c, out, err) = docker(d, args);
    assert_eq!(
        (c, out.as_str(), err.as_str()),
        expected,
        "docker {args:?} differs from dockerd"
    );
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len
        && s.bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

/// The full ID of a container.
fn full_id(d: &TestDaemon, name: &str) -> String {
    let id = docker_ok(d, &["inspect", "--format", "{{.Id}}", name]);
    let id = id.trim().to_string();
    assert!(is_hex(&id, 64), "inspect {name} gave ID {id:?}");
    id
}

/// Splits a table line on runs of two or more spaces.
fn columns(line: &str) -> Vec<&str> {
    line.split("  ")
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect()
}

/// Kills and reaps a spawned client if the test ends before it does.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

// Recorded with: docker create --name berth-c1 busybox sleep 1000 (64-hex ID),
// docker start berth-c1 (`berth-c1`), docker ps --format '{{.Names}} {{.Status}}'
// (`berth-c1 Up Less than a second`), docker ps, docker stop berth-c1
// (`berth-c1`, after the 10 s grace period: busybox sleep as PID 1 ignores
// SIGTERM), docker inspect --format '{{.State.ExitCode}}' (`137`),
// --format '{{.State.Status}} {{.Name}}' (`exited /berth-c1`),
// docker ps -a --filter status=exited --format '{{.Names}}' (`berth-c1`),
// docker stop berth-c1 again (`berth-c1`, exit 0), docker rm berth-c1 (`berth-c1`).
#[test]
fn create_start_ps_stop_rm_like_dockerd() {
    let d = daemon();
    let id = docker_ok(
        &d,
        &["create", "--name", "berth-c1", "busybox", "sleep", "1000"],
    );
    assert!(
        is_hex(id.trim_end_matches('\n'), 64),
        "create printed {id:?}"
    );
    assert!(id.ends_with('\n') && id.lines().count() == 1, "{id:?}");
    let id = id.trim().to_string();
    assert_eq!(
        docker_ok(
            &d,
            &[
                "inspect",
                "--format",
                "{{.State.Status}} {{.Name}}",
                "berth-c1"
            ]
        ),
        "created /berth-c1\n"
    );
    expect(&d, &["start", "berth-c1"], (0, "berth-c1\n", ""));

    let row = docker_ok(&d, &["ps", "--format", "{{.Names}} {{.Status}}"]);
    assert!(
        row.starts_with("berth-c1 Up ") && row.lines().count() == 1,
        "ps --format row: {row:?}"
    );

    let table = docker_ok(&d, &["ps"]);
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert_eq!(columns(lines[0]), PS_COLUMNS, "{table}");
    let cells = columns(lines[1]);
    assert_eq!(cells.len(), 6, "PORTS is empty: {table}");
    assert_eq!(cells[0], &id[..12], "{table}");
    assert_eq!(cells[1], "busybox", "{table}");
    assert_eq!(cells[2], "\"sleep 1000\"", "{table}");
    assert!(cells[3].ends_with(" ago"), "CREATED: {table}");
    assert!(cells[4].starts_with("Up "), "STATUS: {table}");
    assert_eq!(cells[5], "berth-c1", "{table}");
    // The columns line up: each cell starts where its heading does.
    for heading in ["IMAGE", "COMMAND", "CREATED", "STATUS", "NAMES"] {
        let at = lines[0].find(heading).expect("heading present");
        let cell = match heading {
            "IMAGE" => cells[1],
            "COMMAND" => cells[2],
            "CREATED" => cells[3],
            "STATUS" => cells[4],
            _ => cells[5],
        };
        assert_eq!(lines[1].get(at..at + cell.len()), Some(cell), "{table}");
    }

    expect(&d, &["stop", "berth-c1"], (0, "berth-c1\n", ""));
    assert_eq!(
        docker_ok(
            &d,
            &["inspect", "--format", "{{.State.ExitCode}}", "berth-c1"]
        ),
        "137\n"
    );
    assert_eq!(
        docker_ok(
            &d,
            &[
                "inspect",
                "--format",
                "{{.State.Status}} {{.Name}}",
                "berth-c1"
            ]
        ),
        "exited /berth-c1\n"
    );
    assert_eq!(docker_ok(&d, &["ps", "-q"]), "");
    assert_eq!(
        docker_ok(
            &d,
            &[
                "ps",
                "-a",
                "--filter",
                "status=exited",
                "--format",
                "{{.Names}}"
            ]
        ),
        "berth-c1\n"
    );
    expect(&d, &["stop", "berth-c1"], (0, "berth-c1\n", ""));
    expect(&d, &["rm", "berth-c1"], (0, "berth-c1\n", ""));
    assert_eq!(docker_ok(&d, &["ps", "-aq"]), "");
}

// Recorded with: docker run -d --name berth-k busybox sh -c 'trap "exit 7" USR1;
// while :; do sleep 1; done' (64-hex ID), docker kill -s USR1 berth-k
// (`berth-k`), docker wait berth-k (`7`). (A plain `sleep` as PID 1 ignores
// USR1, so `wait` would never return.)
#[test]
fn run_detached_kill_usr1_wait_like_dockerd() {
    let d = daemon();
    let script = "trap \"exit 7\" USR1; while :; do sleep 1; done";
    let id = docker_ok(
        &d,
        &[
            "run", "-d", "--name", "berth-k", "busybox", "sh", "-c", script,
        ],
    );
    assert!(
        is_hex(id.trim_end_matches('\n'), 64),
        "run -d printed {id:?}"
    );
    assert_eq!(
        docker_ok(&d, &["inspect", "--format", "{{.State.Status}}", "berth-k"]),
        "running\n"
    );
    expect(&d, &["kill", "-s", "USR1", "berth-k"], (0, "berth-k\n", ""));
    expect(&d, &["wait", "berth-k"], (0, "7\n", ""));
    assert_eq!(
        docker_ok(
            &d,
            &[
                "inspect",
                "--format",
                "{{.State.ExitCode}} {{.State.Status}}",
                "berth-k"
            ]
        ),
        "7 exited\n"
    );
    expect(&d, &["rm", "berth-k"], (0, "berth-k\n", ""));
}

// Recorded with: docker run -d --name berth-r busybox sleep 1000, docker restart
// -t 1 berth-r (`berth-r`), docker inspect --format '{{.State.Status}}
// {{.RestartCount}}' (`running 0`: a manual restart is not counted).
#[test]
fn restart_like_dockerd() {
    let d = daemon();
    docker_ok(
        &d,
        &["run", "-d", "--name", "berth-r", "busybox", "sleep", "1000"],
    );
    let pid_before = docker_ok(&d, &["inspect", "--format", "{{.State.Pid}}", "berth-r"]);
    expect(&d, &["restart", "-t", "1", "berth-r"], (0, "berth-r\n", ""));
    assert_eq!(
        docker_ok(
            &d,
            &[
                "inspect",
                "--format",
                "{{.State.Status}} {{.RestartCount}}",
                "berth-r"
            ]
        ),
        "running 0\n"
    );
    let pid_after = docker_ok(&d, &["inspect", "--format", "{{.State.Pid}}", "berth-r"]);
    assert_ne!(pid_before, pid_after, "restart starts a new process");
    expect(&d, &["rm", "-f", "berth-r"], (0, "berth-r\n", ""));
}

// Recorded with: docker rename berth-r berth-r2 (no output, exit 0), docker
// inspect --format '{{.Name}}' berth-r2 (`/berth-r2`), docker inspect berth-r
// (stdout `[]`, stderr `Error: No such object: berth-r`, exit 1).
#[test]
fn rename_like_dockerd() {
    let d = daemon();
    docker_ok(
        &d,
        &["run", "-d", "--name", "berth-r", "busybox", "sleep", "1000"],
    );
    let id = full_id(&d, "berth-r");
    expect(&d, &["rename", "berth-r", "berth-r2"], (0, "", ""));
    assert_eq!(
        docker_ok(&d, &["inspect", "--format", "{{.Name}}", "berth-r2"]),
        "/berth-r2\n"
    );
    assert_eq!(full_id(&d, "berth-r2"), id);
    expect(
        &d,
        &["inspect", "berth-r"],
        (1, "[]\n", "Error: No such object: berth-r\n"),
    );
    assert_eq!(
        docker_ok(&d, &["ps", "--format", "{{.Names}}"]),
        "berth-r2\n"
    );
    expect(&d, &["rm", "-f", "berth-r2"], (0, "berth-r2\n", ""));
}

// Recorded with: docker top berth-r2 on a `sleep 1000` container: TOP_HEADER,
// then `root  <pid>  <ppid>  <c>  <hh:mm>  ?  00:00:00  sleep 1000` in
// 20-character columns.
#[test]
fn top_like_dockerd() {
    let d = daemon();
    docker_ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "berth-top",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let out = docker_ok(&d, &["top", "berth-top"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2, "{out}");
    assert_eq!(lines[0], TOP_HEADER, "{out}");
    let cells: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(cells.len(), 9, "eight columns, CMD has a space: {out}");
    assert_eq!(cells[0], "root", "{out}");
    let pid = docker_ok(&d, &["inspect", "--format", "{{.State.Pid}}", "berth-top"]);
    assert_eq!(
        cells[1],
        pid.trim(),
        "top shows the host pid of the container's init: {out}"
    );
    assert!(cells[2].parse::<u32>().is_ok(), "PPID: {out}");
    assert_eq!(cells[5], "?", "TTY: {out}");
    assert_eq!(&cells[7..], ["sleep", "1000"], "{out}");
    // Each cell starts where its heading does, as the client pads to 20.
    assert_eq!(lines[1].find(cells[1]), Some(20), "{out}");
    assert_eq!(lines[1].find("sleep 1000"), lines[0].find("CMD"), "{out}");
    expect(&d, &["rm", "-f", "berth-top"], (0, "berth-top\n", ""));
}

// Recorded with: docker run -d --name berth-a busybox sh -c 'trap "echo bye;
// exit 5" TERM; while :; do echo tick; sleep 0.2; done', docker attach berth-a
// (stdout `tick` lines), docker kill -s TERM berth-a (`berth-a`): the attach
// then prints `bye` and exits 5 with nothing on stderr.
#[test]
fn attach_to_a_running_container_like_dockerd() {
    let d = daemon();
    let script = "trap \"echo bye; exit 5\" TERM; while :; do echo tick; sleep 0.2; done";
    docker_ok(
        &d,
        &[
            "run", "-d", "--name", "berth-a", "busybox", "sh", "-c", script,
        ],
    );
    let mut cmd = d.docker(&["attach", "berth-a"]);
    let desc = describe(&cmd);
    let mut attach = ChildGuard(
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {desc}: {e}")),
    );
    let out = attach.0.stdout.take().expect("piped stdout");
    let mut err = attach.0.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel();
    let reader = thread::spawn(move || {
        let mut lines = Vec::new();
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line.clone());
            lines.push(line);
        }
        lines
    });
    let err_reader = thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut err, &mut s);
        s
    });
    // Output written after the attach reaches the client.
    let first = rx
        .recv_timeout(COMMAND_BOUND)
        .unwrap_or_else(|e| panic!("{desc} printed nothing ({e})"));
    assert_eq!(first, "tick");
    expect(&d, &["kill", "-s", "TERM", "berth-a"], (0, "berth-a\n", ""));
    let deadline = Instant::now() + COMMAND_BOUND;
    let status = loop {
        if let Some(s) = attach.0.try_wait().expect("poll docker attach") {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "{desc} did not end after the container exited"
        );
        thread::sleep(Duration::from_millis(20));
    };
    let lines = reader.join().expect("stdout reader");
    let err = err_reader.join().expect("stderr reader");
    assert_eq!(
        status.code(),
        Some(5),
        "attach exits with the container's code; stderr {err:?}"
    );
    assert_eq!(err, "");
    assert_eq!(lines.last().map(String::as_str), Some("bye"), "{lines:?}");
    assert!(
        lines[..lines.len() - 1].iter().all(|l| l == "tick"),
        "{lines:?}"
    );
    expect(&d, &["rm", "berth-a"], (0, "berth-a\n", ""));
}

// Recorded with: docker run --name berth-x busybox true (exit 0), then the same
// again: exit 125, NAME_CONFLICT + RUN_HELP_TAIL on stderr.
#[test]
fn run_with_a_taken_name_is_a_conflict_like_dockerd() {
    let d = daemon();
    expect(
        &d,
        &["run", "--name", "berth-x", "busybox", "true"],
        (0, "", ""),
    );
    let id = full_id(&d, "berth-x");
    let want = format!("{}{RUN_HELP_TAIL}", NAME_CONFLICT.replace("{id}", &id));
    expect(
        &d,
        &["run", "--name", "berth-x", "busybox", "true"],
        (125, "", &want),
    );
    assert_eq!(
        docker_ok(&d, &["ps", "-a", "--format", "{{.Names}}"]),
        "berth-x\n",
        "the refused run leaves nothing behind"
    );
    expect(&d, &["rm", "berth-x"], (0, "berth-x\n", ""));
}

// Recorded with: docker rm berth-r2 of a running container (exit 1, RM_RUNNING),
// docker rm -f berth-r2 (`berth-r2`).
#[test]
fn rm_of_a_running_container_is_refused_like_dockerd() {
    let d = daemon();
    docker_ok(
        &d,
        &[
            "run", "-d", "--name", "berth-rm", "busybox", "sleep", "1000",
        ],
    );
    let id = full_id(&d, "berth-rm");
    expect(
        &d,
        &["rm", "berth-rm"],
        (1, "", &RM_RUNNING.replace("{id}", &id)),
    );
    assert_eq!(
        docker_ok(
            &d,
            &["inspect", "--format", "{{.State.Status}}", "berth-rm"]
        ),
        "running\n"
    );
    expect(&d, &["rm", "-f", "berth-rm"], (0, "berth-rm\n", ""));
    assert_eq!(docker_ok(&d, &["ps", "-aq"]), "");
}

// Recorded with: docker stop nope, docker rm nope, docker kill nope, docker inspect nope.
#[test]
fn unknown_container_errors_like_dockerd() {
    let d = daemon();
    expect(&d, &["stop", "nope"], (1, "", NO_SUCH_CONTAINER));
    expect(&d, &["rm", "nope"], (1, "", NO_SUCH_CONTAINER));
    expect(&d, &["kill", "nope"], (1, "", KILL_NO_SUCH));
    expect(&d, &["inspect", "nope"], (1, "[]\n", INSPECT_NO_SUCH));
}

// Recorded with: docker run -u nosuchuser busybox true and docker run --rm -u
// nosuchuser busybox true: exit 125 and NO_SUCH_USER + RUN_HELP_TAIL; without
// --rm the container stays behind in state `created`.
#[test]
fn run_as_an_unknown_user_fails_like_dockerd() {
    let d = daemon();
    let want = format!("{NO_SUCH_USER}{RUN_HELP_TAIL}");
    expect(
        &d,
        &["run", "--rm", "-u", "nosuchuser", "busybox", "true"],
        (125, "", &want),
    );
    assert_eq!(docker_ok(&d, &["ps", "-aq"]), "", "--rm removed it");
    expect(
        &d,
        &[
            "run",
            "--name",
            "berth-u",
            "-u",
            "nosuchuser",
            "busybox",
            "true",
        ],
        (125, "", &want),
    );
    assert_eq!(
        docker_ok(
            &d,
            &[
                "inspect",
                "--format",
                "{{.State.Status}} {{.Name}}",
                "berth-u"
            ]
        ),
        "created /berth-u\n"
    );
    expect(&d, &["rm", "berth-u"], (0, "berth-u\n", ""));
}

// Recorded with: docker run --rm busybox sh -c 'exit 3' (exit 3, no output),
// docker run --rm busybox nosuch (exit 127, `docker: Error response from daemon:
// failed to create shim task: OCI runtime create failed: runc create failed:
// unable to start container process: exec: "nosuch": executable file not found
// in $PATH: unknown` + RUN_HELP_TAIL).
#[test]
fn run_rm_exit_codes_like_dockerd() {
    let d = daemon();
    expect(
        &d,
        &["run", "--rm", "busybox", "sh", "-c", "exit 3"],
        (3, "", ""),
    );
    let (c, out, err) = docker(&d, &["run", "--rm", "busybox", "nosuch"]);
    assert_eq!((c, out.as_str()), (127, ""), "stderr {err:?}");
    assert!(
        err.starts_with("docker: Error response from daemon: "),
        "{err:?}"
    );
    // dockerd's text before `exec:` names runc and its shim, and containerd
    // appends its gRPC code (`: unknown`); both belong to its runtime stack.
    let body = err
        .strip_suffix(RUN_HELP_TAIL)
        .unwrap_or_else(|| panic!("{err:?} does not end with {RUN_HELP_TAIL:?}"));
    let body = body.strip_suffix(": unknown").unwrap_or(body);
    assert!(
        body.ends_with("exec: \"nosuch\": executable file not found in $PATH"),
        "{err:?}"
    );
    assert_eq!(docker_ok(&d, &["ps", "-aq"]), "", "--rm removed both");
}

// Recorded with: echo hi | docker run -i --rm busybox cat (`hi`, exit 0) and
// docker run -e A=1 -w /tmp -u 65534 --rm busybox sh -c 'echo $A; pwd; id -u'
// (`1`, `/tmp`, `65534`).
#[test]
fn run_stdin_env_workdir_user_like_dockerd() {
    let d = daemon();
    let out = run_with_stdin(
        &mut d.docker(&["run", "-i", "--rm", "busybox", "cat"]),
        Some(b"hi\n"),
    );
    assert_eq!(
        (code(&out), common::stdout(&out), stderr(&out)),
        (0, "hi\n".to_string(), String::new())
    );
    let script = "echo $A; pwd; id -u";
    expect(
        &d,
        &[
            "run", "-e", "A=1", "-w", "/tmp", "-u", "65534", "--rm", "busybox", "sh", "-c", script,
        ],
        (0, "1\n/tmp\n65534\n", ""),
    );
}

// Recorded with: docker run -d --name berth-q1 busybox sleep 1000, the same
// for berth-q2, docker create --name berth-q3 busybox true; docker ps -q (the
// two running ones, newest first, 12 hex digits each), docker ps -a --filter
// status=created --format '{{.Names}}' (`berth-q3`), docker rm -f berth-q1
// berth-q2 berth-q3 (the three names, one a line).
#[test]
fn ps_quiet_and_filters_like_dockerd() {
    let d = daemon();
    docker_ok(
        &d,
        &[
            "run", "-d", "--name", "berth-q1", "busybox", "sleep", "1000",
        ],
    );
    docker_ok(
        &d,
        &[
            "run", "-d", "--name", "berth-q2", "busybox", "sleep", "1000",
        ],
    );
    docker_ok(&d, &["create", "--name", "berth-q3", "busybox", "true"]);
    let (q1, q2, q3) = (
        full_id(&d, "berth-q1"),
        full_id(&d, "berth-q2"),
        full_id(&d, "berth-q3"),
    );
    assert_eq!(
        docker_ok(&d, &["ps", "-q"]),
        format!("{}\n{}\n", &q2[..12], &q1[..12])
    );
    assert_eq!(
        docker_ok(&d, &["ps", "-aq"]),
        format!("{}\n{}\n{}\n", &q3[..12], &q2[..12], &q1[..12])
    );
    assert_eq!(
        docker_ok(
            &d,
            &[
                "ps",
                "-a",
                "--filter",
                "status=created",
                "--format",
                "{{.Names}}"
            ]
        ),
        "berth-q3\n"
    );
    assert_eq!(
        docker_ok(
            &d,
            &["ps", "--filter", "name=berth-q1", "--format", "{{.Names}}"]
        ),
        "berth-q1\n"
    );
    assert_eq!(
        docker_ok(
            &d,
            &[
                "inspect",
                "--format",
                "{{.State.Status}} {{.Name}}",
                "berth-q1",
                "berth-q3"
            ]
        ),
        "running /berth-q1\ncreated /berth-q3\n"
    );
    expect(
        &d,
        &["rm", "-f", "berth-q1", "berth-q2", "berth-q3"],
        (0, "berth-q1\nberth-q2\nberth-q3\n", ""),
    );
    assert_eq!(docker_ok(&d, &["ps", "-aq"]), "");
}

/// `docker rename berth-s2 berth-s1` onto a running container's name;
/// `{id}` is berth-s1's full ID.
const RENAME_CONFLICT: &str = "Error response from daemon: Error when allocating new name: Conflict. The container name \"/berth-s1\" is already in use by container \"{id}\". You have to remove (or rename) that container to be able to reuse that name.\nError: failed to rename container named berth-s2\n";

/// `docker kill berth-s2` of a created container; `{id}` is its full ID.
const KILL_NOT_RUNNING: &str =
    "Error response from daemon: Cannot kill container: berth-s2: Container {id} is not running\n";

/// `docker top berth-s2` of an exited container; `{id}` is its full ID.
const TOP_NOT_RUNNING: &str = "Error response from daemon: Container {id} is not running\n";

/// `docker attach berth-s2` of an exited container (the client checks).
const ATTACH_STOPPED: &str = "You cannot attach to a stopped container, start it first\n";

/// `docker create --name 'bad name' busybox true` (and `_bad`).
const BAD_NAME: &str = "Error response from daemon: Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed\n";

// Recorded with: docker run -d --name berth-s1 busybox sleep 1000, docker start
// berth-s1 (already running: `berth-s1`, exit 0), docker create --name berth-s2
// busybox true, docker rename berth-s2 berth-s1 (RENAME_CONFLICT, exit 1),
// docker kill berth-s2 (KILL_NOT_RUNNING, exit 1), docker create --name
// 'bad name' / --name _bad (BAD_NAME, exit 1), docker restart berth-s2
// (`berth-s2`), docker wait berth-s2 (`0`), docker top berth-s2
// (TOP_NOT_RUNNING, exit 1), docker attach berth-s2 (ATTACH_STOPPED, exit 1).
#[test]
fn errors_on_names_and_stopped_containers_like_dockerd() {
    let d = daemon();
    docker_ok(
        &d,
        &[
            "run", "-d", "--name", "berth-s1", "busybox", "sleep", "1000",
        ],
    );
    expect(&d, &["start", "berth-s1"], (0, "berth-s1\n", ""));
    docker_ok(&d, &["create", "--name", "berth-s2", "busybox", "true"]);
    let (s1, s2) = (full_id(&d, "berth-s1"), full_id(&d, "berth-s2"));
    expect(
        &d,
        &["rename", "berth-s2", "berth-s1"],
        (1, "", &RENAME_CONFLICT.replace("{id}", &s1)),
    );
    expect(
        &d,
        &["kill", "berth-s2"],
        (1, "", &KILL_NOT_RUNNING.replace("{id}", &s2)),
    );
    for name in ["bad name", "_bad"] {
        expect(
            &d,
            &["create", "--name", name, "busybox", "true"],
            (1, "", &BAD_NAME.replace("{name}", name)),
        );
    }
    expect(&d, &["restart", "berth-s2"], (0, "berth-s2\n", ""));
    expect(&d, &["wait", "berth-s2"], (0, "0\n", ""));
    assert_eq!(
        docker_ok(
            &d,
            &[
                "inspect",
                "--format",
                "{{.State.Status}} {{.State.ExitCode}}",
                "berth-s2"
            ]
        ),
        "exited 0\n"
    );
    expect(
        &d,
        &["top", "berth-s2"],
        (1, "", &TOP_NOT_RUNNING.replace("{id}", &s2)),
    );
    expect(&d, &["attach", "berth-s2"], (1, "", ATTACH_STOPPED));
    expect(
        &d,
        &["rm", "-f", "berth-s1", "berth-s2"],
        (0, "berth-s1\nberth-s2\n", ""),
    );
}

// Recorded with (berth-s1 running `sleep 1000`, then berth-s2 created from
// `true`): docker ps -n 1 --format '{{.Names}}' (`berth-s2`), docker ps -l
// (`berth-s2`), docker ps --no-trunc --format '{{.ID}} {{.Command}}' (`<64-hex>
// "sleep 1000"`), docker ps -a --filter exited=0 (nothing: berth-s2 never ran),
// docker ps -a --filter ancestor=busybox (`berth-s2`, `berth-s1`), docker port
// berth-s1 (no output, exit 0).
#[test]
fn ps_options_and_port_like_dockerd() {
    let d = daemon();
    docker_ok(
        &d,
        &[
            "run", "-d", "--name", "berth-s1", "busybox", "sleep", "1000",
        ],
    );
    docker_ok(&d, &["create", "--name", "berth-s2", "busybox", "true"]);
    let s1 = full_id(&d, "berth-s1");
    let names = |args: &[&str]| {
        let mut all = vec!["ps"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--format", "{{.Names}}"]);
        docker_ok(&d, &all)
    };
    assert_eq!(names(&["-n", "1"]), "berth-s2\n");
    assert_eq!(names(&["-l"]), "berth-s2\n");
    assert_eq!(names(&["-a", "--filter", "exited=0"]), "");
    assert_eq!(
        names(&["-a", "--filter", "ancestor=busybox"]),
        "berth-s2\nberth-s1\n"
    );
    assert_eq!(
        docker_ok(
            &d,
            &["ps", "--no-trunc", "--format", "{{.ID}} {{.Command}}"]
        ),
        format!("{s1} \"sleep 1000\"\n")
    );
    expect(&d, &["port", "berth-s1"], (0, "", ""));
    expect(
        &d,
        &["rm", "-f", "berth-s1", "berth-s2"],
        (0, "berth-s1\nberth-s2\n", ""),
    );
}
