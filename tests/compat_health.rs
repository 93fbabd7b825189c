//! Health checks through the real `docker` CLI (version 28,
//! `/usr/local/bin/docker` or `$BERTH_DOCKER_CLI`) against a real `berthd`
//! (issue 11, item 2): `docker run --health-*` and `--no-healthcheck`,
//! `docker inspect` of `State.Health` and `Config.Healthcheck`, `docker ps`
//! with the status suffix and `--filter health=`, and dockerd's refusals.
//! The expected outputs were recorded with the same client against Debian's
//! dockerd 20.10.24 on this machine (busybox image of `/bin/busybox`);
//! `tests/health.rs` covers the same behaviour through the API and `berth`.

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::{TestDaemon, code, run, run_ok, stderr};

/// Bound for polling loops; reaching it fails the test (no speed is asserted).
const POLL_BOUND: Duration = Duration::from_secs(90);

/// 100ms in nanoseconds, the API's unit.
const FAST: i64 = 100_000_000;

fn poll<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::poll(what, POLL_BOUND, f)
}

fn daemon() -> TestDaemon {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    d
}

#[test]
fn docker_cli_runs_with_health_flags() {
    let d = daemon();
    let out = run(&mut d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-hc-docker",
        "--health-cmd",
        "echo from-docker",
        "--health-interval",
        "100ms",
        "--health-retries",
        "2",
        "busybox",
        "sleep",
        "1000",
    ]));
    assert_eq!(code(&out), 0, "docker run: {}", stderr(&out));
    let status = poll("docker inspect healthy", || {
        let s = run_ok(&mut d.docker(&[
            "inspect",
            "--format",
            "{{.State.Health.Status}}",
            "berth-hc-docker",
        ]));
        (s.trim() == "healthy").then_some(s)
    });
    assert_eq!(status.trim(), "healthy");
    let output = run_ok(&mut d.docker(&[
        "inspect",
        "--format",
        "{{(index .State.Health.Log 0).Output}}",
        "berth-hc-docker",
    ]));
    assert_eq!(output.trim(), "from-docker");
    let cfg = run_ok(&mut d.docker(&[
        "inspect",
        "--format",
        "{{json .Config.Healthcheck}}",
        "berth-hc-docker",
    ]));
    let cfg: Value = serde_json::from_str(cfg.trim()).expect("json");
    assert_eq!(cfg["Test"], json!(["CMD-SHELL", "echo from-docker"]));
    assert_eq!(cfg["Interval"], FAST);
    assert_eq!(cfg["Retries"], 2);
    let ps = run_ok(&mut d.docker(&[
        "ps",
        "--filter",
        "health=healthy",
        "--format",
        "{{.Names}} {{.Status}}",
    ]));
    let line = ps.trim();
    assert!(
        line.starts_with("berth-hc-docker Up ") && line.ends_with(" (healthy)"),
        "{ps}"
    );
    // The docker CLI's own refusal of conflicting flags (never reaches us).
    let out = run(&mut d.docker(&[
        "run",
        "--no-healthcheck",
        "--health-retries",
        "1",
        "busybox",
        "true",
    ]));
    assert_ne!(code(&out), 0);
    assert!(stderr(&out).contains("--no-healthcheck conflicts with --health-* options"));
}

/// `docker inspect --format '{{json .State.Health}}'` of a container whose
/// check has not run yet, recorded against dockerd 20.10.24 with the same
/// docker 28 client (`--health-cmd true --health-interval 1h`).
const STARTING_JSON: &str = "{\"Status\":\"starting\",\"FailingStreak\":0,\"Log\":[]}\n";

/// `docker inspect --format '{{json .Config.Healthcheck}}'` of that container (dockerd 20.10.24).
const CONFIG_JSON: &str = "{\"Test\":[\"CMD-SHELL\",\"true\"],\"Interval\":3600000000000}\n";

/// `docker ps --filter health=sick` (exit 1; dockerd 20.10.24).
const BAD_FILTER: &str = "Error response from daemon: Unrecognised filter value for health: sick\n";

/// `docker run --health-cmd true --health-interval 1us busybox true` (exit 125; dockerd 20.10.24).
const SHORT_INTERVAL: &str = "docker: Error response from daemon: Interval in Healthcheck cannot be less than 1ms\n\nRun 'docker run --help' for more information\n";

#[test]
fn docker_cli_sees_what_dockerd_20_10_shows() {
    let d = daemon();
    let out = run(&mut d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-hc-later",
        "--health-cmd",
        "true",
        "--health-interval",
        "1h",
        "busybox",
        "sleep",
        "1000",
    ]));
    assert_eq!(code(&out), 0, "docker run: {}", stderr(&out));
    let fmt =
        |format: &str, name: &str| run_ok(&mut d.docker(&["inspect", "--format", format, name]));
    assert_eq!(
        fmt("{{json .State.Health}}", "berth-hc-later"),
        STARTING_JSON
    );
    assert_eq!(
        fmt("{{json .Config.Healthcheck}}", "berth-hc-later"),
        CONFIG_JSON
    );
    let out = run(&mut d.docker(&["ps", "--filter", "health=sick"]));
    assert_eq!((code(&out), stderr(&out).as_str()), (1, BAD_FILTER));
    let out = run(&mut d.docker(&[
        "run",
        "--health-cmd",
        "true",
        "--health-interval",
        "1us",
        "busybox",
        "true",
    ]));
    assert_eq!((code(&out), stderr(&out).as_str()), (125, SHORT_INTERVAL));
    let out = run(&mut d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-hc-none",
        "--no-healthcheck",
        "busybox",
        "sleep",
        "1000",
    ]));
    assert_eq!(code(&out), 0, "docker run: {}", stderr(&out));
    assert_eq!(fmt("{{json .State.Health}}", "berth-hc-none"), "null\n");
    let none = run_ok(&mut d.docker(&[
        "ps",
        "-a",
        "--filter",
        "health=none",
        "--format",
        "{{.Names}}",
    ]));
    assert_eq!(none, "berth-hc-none\n");
}
