//! `logs` through the real `docker` CLI, `berth logs` and the API, held to
//! what dockerd 20.10 gives for the same workload.
//!
//! The expected outputs were recorded with the docker 28 client against
//! Debian's dockerd 20.10.24 (a throw-away daemon on its own data root,
//! exec root, socket and `berth…` bridge, busybox-static imported with
//! `BERTH_CLI=docker scripts/busybox-image.sh`), running
//! `docker run --name berth-l1 busybox sh -c "$WORKLOAD"` and then each
//! `docker logs` command named beside the constant. Pointing
//! `BERTH_TEST_DAEMON_HOST` at such a dockerd re-checks them
//! (`--test-threads=1`).

mod common;

use std::process::Output;

use common::{TestDaemon, code, run, run_ok, stderr, stdout};

/// The workload: stdout and stderr interleaved, and a line finished by a
/// second write (`printf` then `echo`), which the log keeps as one line.
const WORKLOAD: &str =
    r#"echo out1; echo err1 >&2; echo out2; printf "no newline"; echo err2 >&2; echo; echo out3"#;

/// `docker logs berth-l1`: stdout.
const ALL_OUT: &str = "out1\nout2\nno newline\nout3\n";
/// `docker logs berth-l1`: stderr.
const ALL_ERR: &str = "err1\nerr2\n";
/// A stdout-only workload, so that which lines `--tail` picks does not
/// depend on how the two pipes' writes interleave.
const COUNT: &str = "echo a; echo b; echo c; printf d";
/// `docker logs --tail 2 berth-l3` of [`COUNT`]: the unterminated end is a line too.
const TAIL2_OUT: &str = "c\nd";
/// `docker logs --details berth-l1`: stdout (no attributes: a space).
const DETAILS_OUT: &str = " out1\n out2\n no newline\n out3\n";
/// `docker logs berth-n1` of a `--log-driver none` container (exit 1).
const NONE_ERR: &str =
    "Error response from daemon: configured logging driver does not support reading\n";
/// `docker run --log-driver none --log-opt max-size=1m busybox true` (exit 125,
/// refused by the CLI itself).
const NONE_OPTS_ERR: &str = "docker: invalid logging opts for driver none\n\nRun 'docker run --help' for more information\n";
/// `docker run --log-opt bogus=1 busybox true` (exit 125).
const BOGUS_OPT_ERR: &str = "docker: Error response from daemon: unknown log opt 'bogus' for json-file log driver\n\nRun 'docker run --help' for more information\n";

fn image(d: &TestDaemon) -> &'static str {
    d.load_busybox("busybox:latest");
    "busybox:latest"
}

fn outputs(o: &Output) -> (String, String) {
    (stdout(o), stderr(o))
}

/// Runs the workload to completion as `name` and returns its ID.
fn run_workload(d: &TestDaemon, name: &str, extra: &[&str]) -> String {
    run_script(d, name, extra, WORKLOAD)
}

fn run_script(d: &TestDaemon, name: &str, extra: &[&str], script: &str) -> String {
    let mut args = vec!["run", "-d", "--name", name];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[image(d), "sh", "-c", script]);
    let id = run_ok(&mut d.docker(&args)).trim().to_owned();
    assert_eq!(run_ok(&mut d.docker(&["wait", name])).trim(), "0");
    id
}

/// `2026-11-22T02:05:28.096691671Z ` and the rest of the line.
fn split_timestamp(line: &str) -> (&str, &str) {
    let (ts, rest) = line.split_once(' ').expect("a timestamp and a space");
    let b = ts.as_bytes();
    assert_eq!(ts.len(), 30, "RFC3339 with nine fraction digits: {ts:?}");
    assert!(
        b[4] == b'-' && b[10] == b'T' && b[19] == b'.' && b[29] == b'Z',
        "{ts:?}"
    );
    assert!(chrono::DateTime::parse_from_rfc3339(ts).is_ok(), "{ts:?}");
    (ts, rest)
}

#[test]
fn docker_and_berth_logs_match_dockerd() {
    let d = TestDaemon::start();
    run_workload(&d, "berth-l1", &[]);
    run_script(&d, "berth-l3", &[], COUNT);
    for cli in ["docker", "berth"] {
        let logs = |args: &[&str], name: &str| {
            let mut full = vec!["logs"];
            full.extend_from_slice(args);
            full.push(name);
            let o = if cli == "docker" {
                run(&mut d.docker(&full))
            } else {
                run(&mut d.berth(&full))
            };
            assert_eq!(code(&o), 0, "{cli} {full:?}: {}", stderr(&o));
            outputs(&o)
        };
        let cmd = |args: &[&str]| logs(args, "berth-l1");
        let count = |args: &[&str]| logs(args, "berth-l3").0;
        assert_eq!(count(&[]), "a\nb\nc\nd", "{cli}");
        assert_eq!(count(&["--tail", "2"]), TAIL2_OUT, "{cli}");
        assert_eq!(count(&["-n", "1"]), "d", "{cli}");
        assert_eq!(cmd(&[]), (ALL_OUT.into(), ALL_ERR.into()), "{cli}");
        assert_eq!(cmd(&["--tail", "all"]), cmd(&[]), "{cli}");
        assert_eq!(
            cmd(&["--tail", "x"]),
            cmd(&[]),
            "{cli}: dockerd reads it as all"
        );
        assert_eq!(cmd(&["--tail", "0"]), (String::new(), String::new()));
        assert_eq!(cmd(&["--details"]).0, DETAILS_OUT, "{cli}");
        let future = cmd(&["--since", "2099-01-01T00:00:00Z"]);
        assert_eq!(future, (String::new(), String::new()), "{cli}");
        let past = cmd(&["--until", "2000-01-01T00:00:00Z"]);
        assert_eq!(past, (String::new(), String::new()), "{cli}");

        let (out, err) = cmd(&["-t"]);
        let lines: Vec<&str> = out.lines().collect();
        let stripped: Vec<&str> = lines.iter().map(|l| split_timestamp(l).1).collect();
        assert_eq!(stripped, ["out1", "out2", "no newline", "out3"], "{cli}");
        let err_stripped: Vec<&str> = err.lines().map(|l| split_timestamp(l).1).collect();
        assert_eq!(err_stripped, ["err1", "err2"], "{cli}");
        // --since and --until are inclusive (fixed-width UTC times compare
        // as strings; lines read in one chunk may share a time).
        let stamped: Vec<(&str, &str)> = lines.iter().map(|l| split_timestamp(l)).collect();
        let t = stamped[1].0;
        let pick = |keep: &dyn Fn(&str) -> bool| -> String {
            stamped
                .iter()
                .filter(|(ts, _)| keep(ts))
                .map(|(_, l)| format!("{l}\n"))
                .collect()
        };
        assert_eq!(cmd(&["--since", t]).0, pick(&|ts| ts >= t), "{cli}");
        assert_eq!(cmd(&["--until", t]).0, pick(&|ts| ts <= t), "{cli}");
        // Relative times count back from now.
        assert_eq!(cmd(&["--since", "1h"]), cmd(&[]), "{cli}");
        assert_eq!(cmd(&["--until", "1h"]), (String::new(), String::new()));
    }
}

#[test]
fn api_frames_streams_unless_tty() {
    let d = TestDaemon::start();
    let count = run_script(&d, "berth-l4", &[], COUNT);
    let resp = d.api_get(&format!(
        "/v1.41/containers/{count}/logs?stdout=1&stderr=1&tail=3"
    ));
    assert_eq!(resp.status, 200, "{}", resp.text());
    // One frame per line, as dockerd sends them.
    let mut want = Vec::new();
    for line in ["b\n", "c\n", "d"] {
        want.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, line.len() as u8]);
        want.extend_from_slice(line.as_bytes());
    }
    assert_eq!(resp.body, want);
    let resp = d.api_get(&format!(
        "/v1.41/containers/{count}/logs?stdout=1&timestamps=1&tail=1"
    ));
    let (out, err) = common::demux(&resp.body);
    assert!(err.is_empty());
    let out = String::from_utf8(out).unwrap();
    assert_eq!(split_timestamp(&out).1, "d");

    let id = run_workload(&d, "berth-l2", &[]);
    let resp = d.api_get(&format!("/v1.41/containers/{id}/logs?stdout=1&stderr=1"));
    let (out, err) = common::demux(&resp.body);
    assert_eq!(String::from_utf8_lossy(&out), ALL_OUT);
    assert_eq!(String::from_utf8_lossy(&err), ALL_ERR);

    let resp = d.api_get(&format!("/v1.41/containers/{id}/logs?stderr=1"));
    assert_eq!(common::demux(&resp.body).1, ALL_ERR.as_bytes());

    let resp = d.api_get(&format!("/v1.41/containers/{id}/logs"));
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.error_message(),
        "Bad parameters: you must choose at least one stream"
    );
    let resp = d.api_get("/v1.41/containers/nope/logs?stdout=1");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_message(), "No such container: nope");

    // A TTY's output is one raw stream; dockerd sends "a\r\nb\r\n".
    let tty = run_ok(&mut d.docker(&[
        "run",
        "-d",
        "-t",
        "--name",
        "berth-t1",
        image(&d),
        "sh",
        "-c",
        "echo a; echo b >&2",
    ]))
    .trim()
    .to_owned();
    assert_eq!(run_ok(&mut d.docker(&["wait", "berth-t1"])).trim(), "0");
    let resp = d.api_get(&format!("/v1.41/containers/{tty}/logs?stdout=1&stderr=1"));
    assert_eq!(resp.body, b"a\r\nb\r\n");
    let o = run(&mut d.docker(&["logs", "berth-t1"]));
    assert_eq!(outputs(&o), ("a\r\nb\r\n".into(), String::new()));
}

#[test]
fn none_driver_and_bad_options_like_dockerd() {
    let d = TestDaemon::start();
    let img = image(&d);
    let o = run(&mut d.docker(&[
        "run",
        "--name",
        "berth-n1",
        "--log-driver",
        "none",
        img,
        "echo",
        "hi",
    ]));
    assert_eq!(outputs(&o), ("hi\n".into(), String::new()));
    let o = run(&mut d.docker(&["logs", "berth-n1"]));
    assert_eq!((code(&o), stderr(&o)), (1, NONE_ERR.into()));
    let o = run(&mut d.berth(&["logs", "berth-n1"]));
    assert_eq!(code(&o), 1);
    assert!(stderr(&o).contains("configured logging driver does not support reading"));
    let resp = d.api_get("/v1.41/containers/berth-n1/logs?stdout=1");
    assert_eq!(resp.status, 501);
    let inspect = |name: &str| {
        run_ok(&mut d.docker(&[
            "inspect",
            "-f",
            "{{.LogPath}}|{{json .HostConfig.LogConfig}}",
            name,
        ]))
    };
    assert_eq!(inspect("berth-n1"), "|{\"Type\":\"none\",\"Config\":{}}\n");
    let id = run_workload(&d, "berth-j1", &[]);
    let root = run_ok(&mut d.docker(&["info", "-f", "{{.DockerRootDir}}"]));
    let root = root.trim();
    assert_eq!(
        inspect("berth-j1"),
        format!(
            "{root}/containers/{id}/{id}-json.log|{{\"Type\":\"json-file\",\"Config\":{{}}}}\n"
        )
    );
    let info = run_ok(&mut d.docker(&["info", "-f", "{{.LoggingDriver}}"]));
    assert_eq!(info, "json-file\n");
    // dockerd lists its log plugins (none is not among them); berthd lists
    // the drivers it has, none included.
    let plugins = run_ok(&mut d.docker(&["info", "-f", "{{json .Plugins.Log}}"]));
    assert!(plugins.contains("\"json-file\""), "{plugins}");

    let o = run(&mut d.docker(&[
        "run",
        "--log-driver",
        "none",
        "--log-opt",
        "max-size=1m",
        img,
        "true",
    ]));
    assert_eq!((code(&o), stderr(&o)), (125, NONE_OPTS_ERR.into()));
    let o = run(&mut d.docker(&["run", "--log-opt", "bogus=1", img, "true"]));
    assert_eq!((code(&o), stderr(&o)), (125, BOGUS_OPT_ERR.into()));
    for (args, word) in [
        (&["--log-driver", "bogus"][..], "bogus"),
        (&["--log-opt", "max-size=abc"][..], "invalid size: 'abc'"),
        (
            &["--log-opt", "max-file=0"][..],
            "max-file cannot be less than 1",
        ),
        (&["--log-opt", "compress=maybe"][..], "maybe"),
    ] {
        let mut full = vec!["run"];
        full.extend_from_slice(args);
        full.extend_from_slice(&[img, "true"]);
        let o = run(&mut d.docker(&full));
        assert_eq!(code(&o), 125, "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(word), "{args:?}: {}", stderr(&o));
    }
    // An unknown driver or option is refused by create itself (dockerd
    // checks sizes and counts only at start; berthd at create too).
    for (args, word) in [
        (&["--log-driver", "bogus"][..], "bogus"),
        (&["--log-opt", "bogus=1"][..], "unknown log opt 'bogus'"),
    ] {
        let mut full = vec!["create"];
        full.extend_from_slice(args);
        full.extend_from_slice(&[img, "true"]);
        let o = run(&mut d.berth(&full));
        assert_eq!(code(&o), 1, "berth {full:?}: {}", stderr(&o));
        assert!(stderr(&o).contains(word), "{args:?}: {}", stderr(&o));
    }
}

#[test]
fn long_lines_come_back_whole() {
    let d = TestDaemon::start();
    // 40000 bytes and a newline: the log keeps it as 16 KiB pieces.
    run_script(
        &d,
        "berth-long",
        &[],
        "head -c 40000 /dev/zero | tr '\\0' a; echo; echo next",
    );
    let want = format!("{}\nnext\n", "a".repeat(40_000));
    for cli in ["docker", "berth"] {
        let o = if cli == "docker" {
            run(&mut d.docker(&["logs", "berth-long"]))
        } else {
            run(&mut d.berth(&["logs", "berth-long"]))
        };
        assert_eq!(code(&o), 0, "{cli}: {}", stderr(&o));
        assert!(stdout(&o) == want, "{cli}: {} bytes", stdout(&o).len());
    }
}
