//! `logs -f` until the container stops, logs written while berthd was
//! killed, and the daemon's log-driver defaults.
//!
//! Checked against Debian's dockerd 20.10.24 (a throw-away daemon, see
//! tests/logs_compat.rs): the follow test passes with
//! `BERTH_TEST_DAEMON_HOST` pointed at it, and the merged `LogConfig` of
//! `default_log_opts_from_flags_fill_in_unset_options` is what that dockerd
//! started with the same `--log-opt` flags reports. dockerd also keeps a
//! follow open past `--until` while no line comes; berthd does the same.

mod common;

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::sync::mpsc;
use std::thread;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use common::{COMMAND_BOUND, TestDaemon, code, run, run_ok, stderr, try_request};

/// Prints `start`, then `end` when stopped (SIGTERM).
const UNTIL_STOPPED: &str = "trap 'echo end; exit 0' TERM; echo start; while :; do sleep 0.1; done";

fn image(d: &TestDaemon) -> &'static str {
    d.load_busybox("busybox:latest");
    "busybox:latest"
}

fn poll<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::poll(what, COMMAND_BOUND, f)
}

/// A `logs -f` client, killed on drop if it is still running.
struct Follow {
    child: Child,
    lines: mpsc::Receiver<String>,
    rest: Option<thread::JoinHandle<()>>,
}

impl Follow {
    fn spawn(mut cmd: Command) -> Follow {
        let mut child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn logs -f");
        let out: ChildStdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = mpsc::channel();
        let rest = thread::spawn(move || {
            for line in BufReader::new(out).lines() {
                let Ok(line) = line else { return };
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Follow {
            child,
            lines,
            rest: Some(rest),
        }
    }

    fn next_line(&self) -> String {
        self.lines
            .recv_timeout(COMMAND_BOUND)
            .expect("a line from logs -f")
    }

    /// Everything after the lines read so far, and the exit code.
    fn finish(mut self) -> (Vec<String>, i32) {
        if let Some(t) = self.rest.take() {
            t.join().expect("reader thread");
        }
        let rest: Vec<String> = self.lines.try_iter().collect();
        let mut err = String::new();
        if let Some(mut e) = self.child.stderr.take() {
            let _ = e.read_to_string(&mut err);
        }
        let status = self.child.wait().expect("wait for logs -f");
        assert!(err.is_empty(), "logs -f stderr: {err}");
        (rest, status.code().unwrap_or(-1))
    }
}

impl Drop for Follow {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn follow_streams_new_lines_and_ends_when_the_container_stops() {
    let d = TestDaemon::start();
    let img = image(&d);
    let id = run_ok(&mut d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-f1",
        img,
        "sh",
        "-c",
        UNTIL_STOPPED,
    ]))
    .trim()
    .to_owned();
    let docker = Follow::spawn(d.docker(&["logs", "-f", "berth-f1"]));
    let berth = Follow::spawn(d.berth(&["logs", "--follow", "-t", "berth-f1"]));
    assert_eq!(docker.next_line(), "start");
    let first = berth.next_line();
    assert!(first.ends_with("Z start"), "{first}");
    // The API client follows too; it returns when the stream ends.
    let socket = d.socket_path().to_owned();
    let api = thread::spawn(move || {
        try_request(
            &socket,
            "GET",
            &format!("/v1.41/containers/{id}/logs?follow=1&stdout=1&stderr=1"),
            &[],
            &[],
        )
        .expect("follow through the API")
    });
    run_ok(&mut d.docker(&["stop", "berth-f1"]));
    assert_eq!(docker.finish(), (vec!["end".to_owned()], 0));
    let (rest, status) = berth.finish();
    assert_eq!(status, 0);
    assert_eq!(rest.len(), 1, "{rest:?}");
    assert!(rest[0].ends_with("Z end"), "{rest:?}");
    let resp = api.join().expect("API follower");
    assert_eq!(resp.status, 200);
    assert_eq!(common::demux(&resp.body).0, b"start\nend\n");

    // Following a stopped container prints what there is and returns.
    let o = run(&mut d.docker(&["logs", "-f", "berth-f1"]));
    assert_eq!(
        (code(&o), common::stdout(&o)),
        (0, "start\nend\n".to_owned())
    );
}

#[test]
fn lines_written_while_the_daemon_is_killed_are_kept() {
    let d = TestDaemon::start();
    let img = image(&d);
    let id = run_ok(&mut d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-k1",
        img,
        "sh",
        "-c",
        "trap 'echo after; echo after-err >&2; exit 0' TERM; echo before; while :; do sleep 0.1; done",
    ]))
    .trim()
    .to_owned();
    let logs_path = format!("/v1.41/containers/{id}/logs?stdout=1&stderr=1");
    poll("the first line", || {
        (common::demux(&d.api_get(&logs_path).body).0 == b"before\n").then_some(())
    });
    let pid: i32 = run_ok(&mut d.docker(&["inspect", "-f", "{{.State.Pid}}", &id]))
        .trim()
        .parse()
        .expect("a pid");
    let _restarted = d.kill9_and_restart(|| {
        // With no daemon, the container writes its last lines and exits.
        kill(Pid::from_raw(pid), Signal::SIGTERM).expect("signal the container");
        poll("the container to exit", || {
            fs::read_to_string(format!("/proc/{pid}/stat"))
                .map_or(true, |s| s.contains(") Z "))
                .then_some(())
        });
    });
    let o = run(&mut d.docker(&["logs", "berth-k1"]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    assert_eq!(common::stdout(&o), "before\nafter\n");
    assert_eq!(stderr(&o), "after-err\n");
    // The last two lines are the two written while no daemon ran.
    let o = run(&mut d.berth(&["logs", "--tail", "2", "berth-k1"]));
    assert_eq!(
        (common::stdout(&o), stderr(&o)),
        ("after\n".to_owned(), "after-err\n".to_owned())
    );
    // Follow of the now-stopped container returns at once.
    let o = run(&mut d.docker(&["logs", "-f", "berth-k1"]));
    assert_eq!(common::stdout(&o), "before\nafter\n");
}

#[test]
fn daemon_defaults_apply_to_new_containers() {
    let d = TestDaemon::start_with(r#"{"log-driver": "none"}"#, &[]);
    let img = image(&d);
    let info = run_ok(&mut d.docker(&["info", "-f", "{{.LoggingDriver}}"]));
    assert_eq!(info, "none\n");
    run_ok(&mut d.docker(&["run", "--name", "berth-d1", img, "echo", "hi"]));
    let o = run(&mut d.docker(&["logs", "berth-d1"]));
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("does not support reading"),
        "{}",
        stderr(&o)
    );
    run_ok(&mut d.docker(&[
        "run",
        "--name",
        "berth-d2",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=1k",
        img,
        "echo",
        "hi",
    ]));
    assert_eq!(run_ok(&mut d.docker(&["logs", "berth-d2"])), "hi\n");
    let cfg = run_ok(&mut d.docker(&[
        "inspect",
        "-f",
        "{{json .HostConfig.LogConfig}}",
        "berth-d2",
    ]));
    assert_eq!(
        cfg,
        "{\"Type\":\"json-file\",\"Config\":{\"max-size\":\"1k\"}}\n"
    );
}

#[test]
fn default_log_opts_from_flags_fill_in_unset_options() {
    let d = TestDaemon::start_with(
        "{}",
        &["--log-opt", "max-size=2k", "--log-opt", "max-file=2"],
    );
    let img = image(&d);
    run_ok(&mut d.docker(&[
        "create",
        "--name",
        "berth-o1",
        "--log-opt",
        "max-file=3",
        img,
        "true",
    ]));
    let cfg = run_ok(&mut d.docker(&[
        "inspect",
        "-f",
        "{{json .HostConfig.LogConfig}}",
        "berth-o1",
    ]));
    assert_eq!(
        cfg,
        "{\"Type\":\"json-file\",\"Config\":{\"max-file\":\"3\",\"max-size\":\"2k\"}}\n"
    );
    // Logs of a container that never ran: empty, not an error.
    let o = run(&mut d.docker(&["logs", "berth-o1"]));
    assert_eq!((code(&o), common::stdout(&o)), (0, String::new()));
}

#[test]
fn berth_run_takes_log_flags_and_container_logs_reads() {
    let d = TestDaemon::start();
    let img = image(&d);
    let o = run(&mut d.berth(&[
        "run",
        "--log-driver",
        "none",
        "--log-opt",
        "max-size=1m",
        img,
        "true",
    ]));
    assert_eq!(code(&o), 125);
    assert!(
        stderr(&o).contains("invalid logging opts for driver none"),
        "{}",
        stderr(&o)
    );
    let o = run(&mut d.berth(&["run", "--log-opt", "max-file=x", img, "true"]));
    assert_eq!(code(&o), 125, "{}", stderr(&o));
    assert!(stderr(&o).contains("max-file"), "{}", stderr(&o));
    let o = run(&mut d.berth(&[
        "run",
        "--name",
        "berth-c1",
        "--log-driver",
        "none",
        img,
        "echo",
        "hi",
    ]));
    assert_eq!((code(&o), common::stdout(&o)), (0, "hi\n".to_owned()));
    let o = run(&mut d.berth(&["container", "logs", "berth-c1"]));
    assert_eq!(code(&o), 1);
    assert!(
        stderr(&o).contains("does not support reading"),
        "{}",
        stderr(&o)
    );
    run_ok(&mut d.berth(&[
        "run",
        "--name",
        "berth-c2",
        "--log-driver",
        "json-file",
        "--log-opt",
        "max-size=1m",
        img,
        "sh",
        "-c",
        "echo out; echo err >&2",
    ]));
    let o = run(&mut d.berth(&["container", "logs", "berth-c2"]));
    assert_eq!(
        (code(&o), common::stdout(&o), stderr(&o)),
        (0, "out\n".to_owned(), "err\n".to_owned())
    );
    // A second run appends to the same log, as with dockerd.
    run_ok(&mut d.berth(&["start", "-a", "berth-c2"]));
    let o = run(&mut d.berth(&["logs", "berth-c2"]));
    assert_eq!(
        (common::stdout(&o), stderr(&o)),
        ("out\nout\n".to_owned(), "err\nerr\n".to_owned())
    );
    let o = run(&mut d.berth(&["logs", "--since", "yesterday", "berth-c2"]));
    assert_eq!(code(&o), 1);
    assert_eq!(
        stderr(&o),
        "invalid value for \"since\": failed to parse value as time or duration: \"yesterday\"\n"
    );
}

#[test]
fn a_long_log_streams_whole_and_tails_from_the_end() {
    let d = TestDaemon::start();
    let img = image(&d);
    run_ok(&mut d.docker(&[
        "run",
        "--name",
        "berth-big",
        img,
        "sh",
        "-c",
        "seq 1 200000",
    ]));
    let o = run(&mut d.docker(&["logs", "berth-big"]));
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let out = common::stdout(&o);
    let want: String = (1..=200_000).map(|i| format!("{i}\n")).collect();
    assert!(out == want, "{} bytes, want {}", out.len(), want.len());
    assert_eq!(stderr(&o), "");
    let o = run(&mut d.berth(&["logs", "--tail", "3", "berth-big"]));
    assert_eq!(common::stdout(&o), "199998\n199999\n200000\n");
}
