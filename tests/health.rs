//! Health checks end to end (issue 11, item 2) against a real `berthd`:
//! `Healthcheck` in the create request, the image's `HEALTHCHECK`, the
//! `--health-*` and `--no-healthcheck` flags of `berth run`; `State.Health`
//! in inspect (status, failing streak, the last five results), the start
//! period, the timeout, `ps`'s status suffix and `--filter health=`,
//! `health_status` and the probes' exec events, a restart policy's restart
//! and a daemon restart. Behaviour follows dockerd 20.10's daemon/health.go;
//! the real docker CLI is in `tests/compat_health.rs`.
//!
//! Intervals are short (100ms) so results come quickly; every wait polls
//! with a generous bound and no assertion depends on how long anything took.

mod common;

use std::time::Duration;

use serde_json::{Value, json};

use common::{TestDaemon, code, run, run_ok, stderr};

/// Bound for polling loops; reaching it fails the test (no speed is asserted).
const POLL_BOUND: Duration = Duration::from_secs(90);

/// 100ms in nanoseconds, the API's unit.
const FAST: i64 = 100_000_000;
/// An hour: a probe that never comes during a test.
const NEVER: i64 = 3_600_000_000_000;

fn poll<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::poll(what, POLL_BOUND, f)
}

fn daemon() -> TestDaemon {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    d
}

/// Creates and starts `busybox sleep 1000` named `name` with `healthcheck`
/// (`Null` for none); returns its ID.
fn run_with(d: &TestDaemon, name: &str, healthcheck: Value) -> String {
    let mut body = json!({"Image": "busybox", "Cmd": ["sleep", "1000"]});
    if !healthcheck.is_null() {
        body["Healthcheck"] = healthcheck;
    }
    let resp = d.api_post_json(&format!("/v1.41/containers/create?name={name}"), &body);
    assert_eq!(resp.status, 201, "create {name}: {}", resp.text());
    let id = resp.json()["Id"].as_str().expect("Id").to_owned();
    let resp = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(resp.status, 204, "start {name}: {}", resp.text());
    id
}

fn inspect(d: &TestDaemon, id: &str) -> Value {
    let resp = d.api_get(&format!("/v1.41/containers/{id}/json"));
    assert_eq!(resp.status, 200, "inspect {id}: {}", resp.text());
    resp.json()
}

/// `State.Health` once `pred` holds for it.
fn health_when(d: &TestDaemon, id: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    poll(what, || {
        let h = inspect(d, id)["State"]["Health"].clone();
        (!h.is_null() && pred(&h)).then_some(h)
    })
}

fn status_is(status: &'static str) -> impl Fn(&Value) -> bool {
    move |h: &Value| h["Status"] == status
}

/// A result's `Start` or `End` (RFC 3339 as Go writes it: no trailing zeros).
fn time(v: &Value) -> chrono::DateTime<chrono::FixedOffset> {
    let s = v.as_str().unwrap_or_else(|| panic!("not a time: {v}"));
    chrono::DateTime::parse_from_rfc3339(s).unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn log_len(h: &Value) -> usize {
    h["Log"].as_array().map_or(0, Vec::len)
}

/// An `until` just after now, so an event stream ends at once.
fn until() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        + 1
}

/// Every event so far.
fn events(d: &TestDaemon) -> Vec<Value> {
    let resp = d.api_get(&format!("/v1.41/events?since=0&until={}", until()));
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The actions of the container events about `id`.
fn actions(d: &TestDaemon, id: &str) -> Vec<String> {
    events(d)
        .into_iter()
        .filter(|e| e["Type"] == "container" && e["Actor"]["ID"] == id)
        .map(|e| e["Action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

/// The names `GET /containers/json` lists with `filters`.
fn listed(d: &TestDaemon, filters: &Value) -> Vec<String> {
    let enc: String = form_urlencoded::byte_serialize(filters.to_string().as_bytes()).collect();
    let resp = d.api_get(&format!("/v1.41/containers/json?all=1&filters={enc}"));
    assert_eq!(resp.status, 200, "list {filters}: {}", resp.text());
    let mut names: Vec<String> = resp
        .json()
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| c["Names"][0].as_str().unwrap_or_default().to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn failing_check_flips_to_unhealthy_after_retries_with_events() {
    let d = daemon();
    let id = run_with(
        &d,
        "berth-hc-fail",
        json!({"Test": ["CMD-SHELL", "echo sick; exit 1"], "Interval": FAST, "Retries": 3}),
    );
    let h = health_when(&d, &id, "unhealthy", status_is("unhealthy"));
    // Flipped exactly when the streak reached the retries.
    assert!(h["FailingStreak"].as_i64().unwrap() >= 3, "{h}");
    let log = h["Log"].as_array().unwrap();
    assert!(log.len() >= 3, "{h}");
    for r in log {
        assert_eq!(r["ExitCode"], 1, "{h}");
        assert_eq!(r["Output"], "sick\n", "{h}");
        assert!(time(&r["Start"]) <= time(&r["End"]), "{r}");
    }
    let acts = actions(&d, &id);
    let first_unhealthy = acts
        .iter()
        .position(|a| a == "health_status: unhealthy")
        .unwrap_or_else(|| panic!("no health_status event in {acts:?}"));
    // Three probes ran (each an exec with dockerd's events) before the flip.
    let probes = acts[..first_unhealthy]
        .iter()
        .filter(|a| *a == "exec_create: /bin/sh -c echo sick; exit 1")
        .count();
    assert_eq!(probes, 3, "{acts:?}");
    assert!(
        acts.iter()
            .any(|a| a == "exec_start: /bin/sh -c echo sick; exit 1")
    );
    assert!(acts.iter().any(|a| a == "exec_die"));
    assert!(!acts.iter().any(|a| a.starts_with("health_status: healthy")));
    // The probes' exec records do not pile up in inspect.
    let ids = inspect(&d, &id)["ExecIDs"].clone();
    assert!(ids.as_array().is_none_or(|a| a.len() <= 1), "{ids}");
    // Filtered like dockerd's prefix match of health_status.
    let enc: String = form_urlencoded::byte_serialize(
        json!({"event": ["health_status"], "container": [id]})
            .to_string()
            .as_bytes(),
    )
    .collect();
    let resp = d.api_get(&format!(
        "/v1.41/events?since=0&until={}&filters={enc}",
        until()
    ));
    assert_eq!(resp.status, 200, "{}", resp.text());
    let first: Value = serde_json::from_str(resp.text().lines().next().expect("an event")).unwrap();
    assert_eq!(first["Action"], "health_status: unhealthy");
    assert_eq!(first["status"], "health_status: unhealthy");
    assert_eq!(first["Actor"]["Attributes"]["name"], "berth-hc-fail");
}

#[test]
fn passing_check_is_healthy_and_log_keeps_the_last_five() {
    let d = daemon();
    let id = run_with(
        &d,
        "berth-hc-ok",
        json!({"Test": ["CMD", "echo", "fine"], "Interval": FAST}),
    );
    health_when(&d, &id, "healthy", status_is("healthy"));
    // Wait until more than five probes have run (each publishes exec_die).
    poll("seven probes", || {
        let n = actions(&d, &id).iter().filter(|a| *a == "exec_die").count();
        (n >= 7).then_some(())
    });
    let h = inspect(&d, &id)["State"]["Health"].clone();
    assert_eq!(h["Status"], "healthy");
    assert_eq!(h["FailingStreak"], 0);
    assert_eq!(log_len(&h), 5, "{h}");
    let log = h["Log"].as_array().unwrap();
    assert!(
        log.iter()
            .all(|r| r["ExitCode"] == 0 && r["Output"] == "fine\n")
    );
    // Oldest first.
    let starts: Vec<_> = log.iter().map(|r| time(&r["Start"])).collect();
    let mut sorted = starts.clone();
    sorted.sort();
    assert_eq!(starts, sorted);
    let acts = actions(&d, &id);
    let healthy = acts
        .iter()
        .filter(|a| *a == "health_status: healthy")
        .count();
    assert_eq!(healthy, 1, "one event per change: {acts:?}");
    assert!(
        acts.iter().any(|a| a == "exec_create: echo fine"),
        "{acts:?}"
    );
}

#[test]
fn failures_within_the_start_period_do_not_count() {
    let d = daemon();
    let id = run_with(
        &d,
        "berth-hc-period",
        json!({"Test": ["CMD-SHELL", "exit 1"], "Interval": FAST, "Retries": 1,
               "StartPeriod": NEVER}),
    );
    let h = health_when(&d, &id, "three results", |h| log_len(h) >= 3);
    assert_eq!(h["Status"], "starting", "{h}");
    assert_eq!(h["FailingStreak"], 0, "{h}");
    assert!(
        h["Log"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["ExitCode"] == 1)
    );
    assert!(
        !actions(&d, &id)
            .iter()
            .any(|a| a.starts_with("health_status"))
    );
}

#[test]
fn a_probe_over_its_timeout_fails_with_dockerds_message() {
    let d = daemon();
    let id = run_with(
        &d,
        "berth-hc-timeout",
        json!({"Test": ["CMD-SHELL", "sleep 30"], "Interval": FAST, "Timeout": 200_000_000,
               "Retries": 1}),
    );
    let h = health_when(&d, &id, "unhealthy", status_is("unhealthy"));
    let r = &h["Log"][0];
    assert_eq!(r["ExitCode"], -1, "{h}");
    assert_eq!(r["Output"], "Health check exceeded timeout (200ms)", "{h}");
    // Timed-out probes are killed and their exec dirs removed: at most the
    // one in flight is left.
    poll("three timed-out probes", || {
        let h = inspect(&d, &id)["State"]["Health"].clone();
        (h["FailingStreak"].as_i64().unwrap_or(0) >= 3).then_some(())
    });
    let top = d.api_get(&format!("/v1.41/containers/{id}/top"));
    assert_eq!(top.status, 200, "{}", top.text());
    let probes = top.json()["Processes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p.to_string().contains("sleep 30"))
        .count();
    assert!(probes <= 2, "timed-out probes left running: {}", top.text());
    let exec_dirs = d.exec_root().join("containers").join(&id).join("execs");
    let left = std::fs::read_dir(&exec_dirs).map_or(0, Iterator::count);
    assert!(left <= 1, "{left} exec dirs in {}", exec_dirs.display());
}

#[test]
fn ps_shows_health_and_filters_by_it() {
    let d = daemon();
    run_with(
        &d,
        "berth-hc-good",
        json!({"Test": ["CMD", "true"], "Interval": FAST}),
    );
    let bad = run_with(
        &d,
        "berth-hc-bad",
        json!({"Test": ["CMD", "false"], "Interval": FAST, "Retries": 1}),
    );
    let slow = run_with(
        &d,
        "berth-hc-slow",
        json!({"Test": ["CMD", "true"], "Interval": NEVER}),
    );
    run_with(&d, "berth-hc-plain", Value::Null);
    health_when(&d, &bad, "unhealthy", status_is("unhealthy"));
    poll("healthy", || {
        (listed(&d, &json!({"health": ["healthy"]})) == ["/berth-hc-good"]).then_some(())
    });
    assert_eq!(
        listed(&d, &json!({"health": ["unhealthy"]})),
        ["/berth-hc-bad"]
    );
    assert_eq!(
        listed(&d, &json!({"health": ["starting"]})),
        ["/berth-hc-slow"]
    );
    assert_eq!(
        listed(&d, &json!({"health": ["none"]})),
        ["/berth-hc-plain"]
    );
    assert_eq!(
        listed(&d, &json!({"health": ["healthy", "none"]})),
        ["/berth-hc-good", "/berth-hc-plain"]
    );
    let resp = d.api_get(&format!(
        "/v1.41/containers/json?filters={}",
        form_urlencoded::byte_serialize(br#"{"health":["sick"]}"#).collect::<String>()
    ));
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.error_message(),
        "Unrecognised filter value for health: sick"
    );
    // A check that has not run yet: starting, with an empty log.
    let h = inspect(&d, &slow)["State"]["Health"].clone();
    assert_eq!(
        h,
        json!({"Status": "starting", "FailingStreak": 0, "Log": []})
    );
    let table = run_ok(&mut d.berth(&["ps", "--format", "{{.Names}} {{.Status}}"]));
    let line = |name: &str| {
        table
            .lines()
            .find(|l| l.starts_with(name))
            .unwrap_or_else(|| panic!("{name} not in {table}"))
            .to_owned()
    };
    assert!(line("berth-hc-good ").ends_with(" (healthy)"), "{table}");
    assert!(line("berth-hc-bad ").ends_with(" (unhealthy)"), "{table}");
    assert!(
        line("berth-hc-slow ").ends_with(" (health: starting)"),
        "{table}"
    );
    assert!(!line("berth-hc-plain ").contains('('), "{table}");
    let filtered = run_ok(&mut d.berth(&[
        "ps",
        "--filter",
        "health=unhealthy",
        "--format",
        "{{.Names}}",
    ]));
    assert_eq!(filtered.trim(), "berth-hc-bad");
}

#[test]
fn bad_healthchecks_are_refused_like_dockerd() {
    let d = daemon();
    for (hc, msg) in [
        (
            json!({"Test": ["CMD", "true"], "Interval": 1000}),
            "Interval in Healthcheck cannot be less than 1ms",
        ),
        (
            json!({"Test": ["CMD", "true"], "Timeout": -5}),
            "Timeout in Healthcheck cannot be less than 1ms",
        ),
        (
            json!({"Test": ["CMD", "true"], "StartPeriod": 10}),
            "StartPeriod in Healthcheck cannot be less than 1ms",
        ),
        (
            json!({"Test": ["CMD", "true"], "Retries": -1}),
            "Retries in Healthcheck cannot be negative",
        ),
    ] {
        let body = json!({"Image": "busybox", "Cmd": ["true"], "Healthcheck": hc});
        let resp = d.api_post_json("/v1.41/containers/create", &body);
        assert_eq!(resp.status, 400, "{hc}: {}", resp.text());
        assert_eq!(resp.error_message(), msg);
    }
    // Nothing was created.
    assert!(listed(&d, &json!({})).is_empty());
    let out = run(&mut d.berth(&[
        "run",
        "--no-healthcheck",
        "--health-cmd",
        "true",
        "busybox",
        "true",
    ]));
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("--no-healthcheck conflicts with --health-* options"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn image_healthcheck_is_inherited_overridden_and_disabled() {
    let d = daemon();
    let ctx = d.dir().join("berth-hc-ctx");
    std::fs::create_dir(&ctx).expect("create the build context");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nHEALTHCHECK --interval=100ms --retries=1 CMD exit 1\n",
    )
    .expect("write the Dockerfile");
    let out = run(&mut d.berth(&["build", "-t", "berth-hc-image", ctx.to_str().unwrap()]));
    assert_eq!(code(&out), 0, "build: {}", stderr(&out));
    let start = |args: &[&str]| {
        let mut all = vec!["run", "-d"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["berth-hc-image", "sleep", "1000"]);
        run_ok(&mut d.berth(&all)).trim().to_owned()
    };
    // Inherited: the image's failing check makes it unhealthy.
    let inherited = start(&["--name", "berth-hc-inherit"]);
    let cfg = inspect(&d, &inherited)["Config"]["Healthcheck"].clone();
    assert_eq!(cfg["Test"], json!(["CMD-SHELL", "exit 1"]), "{cfg}");
    health_when(&d, &inherited, "unhealthy", status_is("unhealthy"));
    let status = run_ok(&mut d.berth(&[
        "inspect",
        "--format",
        "{{.State.Health.Status}} {{.State.Health.FailingStreak}}",
        "berth-hc-inherit",
    ]));
    assert!(status.starts_with("unhealthy "), "{status}");
    // --health-cmd replaces the test; the image's interval and retries stay.
    let overridden = start(&["--name", "berth-hc-override", "--health-cmd", "exit 0"]);
    let cfg = inspect(&d, &overridden)["Config"]["Healthcheck"].clone();
    assert_eq!(cfg["Test"], json!(["CMD-SHELL", "exit 0"]), "{cfg}");
    assert_eq!(cfg["Interval"], FAST, "{cfg}");
    health_when(&d, &overridden, "healthy", status_is("healthy"));
    // --no-healthcheck: no Health at all, no suffix, filter `none`.
    let disabled = start(&["--name", "berth-hc-off", "--no-healthcheck"]);
    let i = inspect(&d, &disabled);
    assert_eq!(i["Config"]["Healthcheck"]["Test"], json!(["NONE"]));
    assert!(i["State"].get("Health").is_none_or(Value::is_null), "{i}");
    assert_eq!(listed(&d, &json!({"health": ["none"]})), ["/berth-hc-off"]);
}

#[test]
fn health_survives_stop_and_resets_on_start_and_daemon_restart() {
    let d = daemon();
    let id = run_with(
        &d,
        "berth-hc-cycle",
        json!({"Test": ["CMD", "true"], "Interval": FAST}),
    );
    health_when(&d, &id, "healthy", status_is("healthy"));
    let resp = d.api_post(&format!("/v1.41/containers/{id}/stop?t=1"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    // Kept after the stop, as dockerd keeps it.
    let h = inspect(&d, &id)["State"]["Health"].clone();
    assert_eq!(h["Status"], "healthy", "{h}");
    let before = log_len(&h);
    assert!(before >= 1);
    // A new start begins at `starting` with the old log, then probes again.
    let resp = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    let h = health_when(&d, &id, "healthy again", |h| {
        h["Status"] == "healthy" && h["FailingStreak"] == 0
    });
    assert!(log_len(&h) >= before.min(4), "{h}");
    let acts = actions(&d, &id);
    assert_eq!(
        acts.iter()
            .filter(|a| *a == "health_status: healthy")
            .count(),
        2,
        "{acts:?}"
    );
    // A daemon crash and restart: the adopted container is probed again,
    // after the results the previous daemon persisted.
    let last_start = |h: &Value| {
        h["Log"]
            .as_array()
            .and_then(|l| l.last())
            .map(|r| time(&r["Start"]))
    };
    // Taken while no daemon runs: a later probe is the new daemon's.
    let mut down_at = None;
    let restarted = d.kill9_and_restart(|| down_at = Some(chrono::Utc::now()));
    let down_at = down_at.expect("the restart ran the closure");
    let h = poll("a probe by the new daemon", || {
        let resp = restarted.get(&format!("/v1.41/containers/{id}/json"));
        let h = resp.json()["State"]["Health"].clone();
        let newer = last_start(&h).is_some_and(|s| s > down_at);
        (newer && h["Status"] == "healthy").then_some(h)
    });
    assert!(log_len(&h) >= 3, "older results kept: {h}");
}

/// `State.Health.Log[0].Output` of `"Test": ["CMD", "nosuch"]` (exit code
/// -1; dockerd 20.10.24 with runc 1.1.5).
const NOT_FOUND: &str = "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH: unknown";

#[test]
fn a_probe_that_cannot_start_fails_with_the_runtimes_words() {
    let d = daemon();
    let id = run_with(
        &d,
        "berth-hc-nosuch",
        json!({"Test": ["CMD", "nosuch"], "Interval": FAST, "Retries": 1}),
    );
    let h = health_when(&d, &id, "unhealthy", status_is("unhealthy"));
    assert_eq!(h["Log"][0]["ExitCode"], -1, "{h}");
    assert_eq!(h["Log"][0]["Output"], NOT_FOUND, "{h}");
    // Through the shell it is the shell's failure, as with dockerd.
    let id = run_with(
        &d,
        "berth-hc-shell",
        json!({"Test": ["CMD-SHELL", "nosuch"], "Interval": FAST, "Retries": 1}),
    );
    let h = health_when(&d, &id, "unhealthy", status_is("unhealthy"));
    assert_eq!(h["Log"][0]["ExitCode"], 127, "{h}");
    assert_eq!(h["Log"][0]["Output"], "/bin/sh: nosuch: not found\n", "{h}");
}

#[test]
fn a_restart_by_the_policy_starts_a_new_check() {
    let d = daemon();
    // Exits 1 when told to (through an exec), so the test decides when.
    let body = json!({
        "Image": "busybox",
        "Cmd": ["sh", "-c", "while [ ! -f /tmp/berth-stop ]; do sleep 1; done; rm /tmp/berth-stop; exit 1"],
        "Healthcheck": {"Test": ["CMD", "true"], "Interval": FAST},
        "HostConfig": {"RestartPolicy": {"Name": "on-failure", "MaximumRetryCount": 1}},
    });
    let resp = d.api_post_json("/v1.41/containers/create?name=berth-hc-policy", &body);
    assert_eq!(resp.status, 201, "{}", resp.text());
    let id = resp.json()["Id"].as_str().unwrap().to_owned();
    let resp = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    health_when(&d, &id, "healthy", status_is("healthy"));
    let first_pid = inspect(&d, &id)["State"]["Pid"].clone();
    let resp = d.api_post_json(
        &format!("/v1.41/containers/{id}/exec"),
        &json!({"Cmd": ["touch", "/tmp/berth-stop"]}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    let exec = resp.json()["Id"].as_str().unwrap().to_owned();
    let resp = d.api_post_json(
        &format!("/v1.41/exec/{exec}/start"),
        &json!({"Detach": true}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    // The restarted run is checked again: back to healthy, by a second event.
    poll("healthy after the restart", || {
        let i = inspect(&d, &id);
        let again = i["RestartCount"] == 1
            && i["State"]["Running"] == true
            && i["State"]["Pid"] != first_pid
            && i["State"]["Health"]["Status"] == "healthy";
        let events = actions(&d, &id)
            .iter()
            .filter(|a| *a == "health_status: healthy")
            .count();
        (again && events == 2).then_some(())
    });
}
