//! The container lifecycle over the Engine API of a real `berthd`: stop,
//! restart, rename, top, resize, list filters, inspect, attach detach keys,
//! kill, remove, and containers that survive `kill -9` of the daemon.
//! Messages and statuses are dockerd 20.10's.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::thread;
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use berth::runtime::state::read_supervisor_info;
use common::{TestDaemon, processes_under};

/// Bound for polling loops; reaching it fails the test (it asserts nothing
/// about speed, it only stops a hung test).
const POLL_BOUND: Duration = Duration::from_secs(60);

/// Polls `f` until it returns `Some`, failing with `what` after [`POLL_BOUND`].
fn poll<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::poll(what, POLL_BOUND, f)
}

/// Loads busybox as `berth-busybox:latest` once per daemon.
fn image(d: &TestDaemon) -> &'static str {
    d.load_busybox("berth-busybox:latest");
    "berth-busybox:latest"
}

/// `POST /containers/create` with `body`; returns the ID.
fn create(d: &TestDaemon, name: Option<&str>, body: Value) -> String {
    let path = match name {
        Some(n) => format!("/v1.41/containers/create?name={n}"),
        None => "/v1.41/containers/create".to_owned(),
    };
    let resp = d.api_post_json(&path, &body);
    assert_eq!(resp.status, 201, "create {body}: {}", resp.text());
    resp.json()["Id"].as_str().expect("Id").to_owned()
}

fn start(d: &TestDaemon, id: &str) {
    let resp = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(resp.status, 204, "start {id}: {}", resp.text());
}

/// Creates and starts `cmd` in busybox; returns the ID.
fn run_detached(d: &TestDaemon, name: Option<&str>, cmd: &[&str]) -> String {
    let id = create(d, name, json!({"Image": image(d), "Cmd": cmd}));
    start(d, &id);
    id
}

fn inspect(d: &TestDaemon, id: &str) -> Value {
    let resp = d.api_get(&format!("/v1.41/containers/{id}/json"));
    assert_eq!(resp.status, 200, "inspect {id}: {}", resp.text());
    resp.json()
}

/// `POST /containers/{id}/wait`: the exit code.
fn wait(d: &TestDaemon, id: &str) -> i64 {
    let resp = d.api_post(&format!("/v1.41/containers/{id}/wait"), b"");
    assert_eq!(resp.status, 200, "wait {id}: {}", resp.text());
    resp.json()["StatusCode"].as_i64().expect("StatusCode")
}

fn list(d: &TestDaemon, query: &str) -> Vec<Value> {
    let resp = d.api_get(&format!("/v1.41/containers/json?{query}"));
    assert_eq!(resp.status, 200, "list {query}: {}", resp.text());
    resp.json().as_array().expect("list is an array").clone()
}

fn list_filtered(d: &TestDaemon, all: bool, filters: Value) -> Vec<String> {
    let q = format!(
        "all={}&filters={}",
        u8::from(all),
        urlencode(&filters.to_string())
    );
    list(d, &q)
        .iter()
        .map(|c| c["Names"][0].as_str().expect("Names").to_owned())
        .collect()
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn is_alive(pid: i32) -> bool {
    Path::new(&format!("/proc/{pid}")).exists()
        && !fs::read_to_string(format!("/proc/{pid}/stat"))
            .unwrap_or_default()
            .contains(") Z ")
}

/// Polls `top` until a process of the container runs a command starting with `prefix`.
fn wait_for_process(d: &TestDaemon, id: &str, prefix: &str) {
    poll(&format!("a {prefix} process in {id}"), || {
        let top = d.api_get(&format!("/v1.41/containers/{id}/top"));
        assert_eq!(top.status, 200, "{}", top.text());
        let v = top.json();
        let procs = v["Processes"].as_array()?.clone();
        procs
            .iter()
            .any(|p| {
                p.as_array()
                    .and_then(|r| r.last())
                    .and_then(Value::as_str)
                    .is_some_and(|cmd| cmd.starts_with(prefix))
            })
            .then_some(())
    });
}

#[test]
fn stop_sends_sigterm_then_sigkill_and_is_304_when_stopped() {
    let d = TestDaemon::start();
    // A shell as PID 1 that traps TERM exits at once with 143.
    let trap = run_detached(
        &d,
        Some("berth-trap"),
        &[
            "sh",
            "-c",
            "trap 'exit 143' TERM; while true; do sleep 0.1; done",
        ],
    );
    // PID 1 without a handler ignores SIGTERM: SIGKILL after t seconds.
    let stubborn = run_detached(&d, Some("berth-stubborn"), &["sleep", "1000"]);
    // The script sets the trap before its loop starts the first sleep.
    wait_for_process(&d, &trap, "sleep");

    let resp = d.api_post(&format!("/v1.41/containers/{trap}/stop?t=30"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    let st = inspect(&d, &trap)["State"].clone();
    assert_eq!(st["Status"], "exited");
    assert_eq!(st["ExitCode"], 143);
    assert_eq!(st["Running"], false);
    assert_eq!(st["Pid"], 0);
    assert_ne!(st["FinishedAt"], "0001-01-01T00:00:00Z");

    let resp = d.api_post("/v1.41/containers/berth-stubborn/stop?t=1", b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(inspect(&d, &stubborn)["State"]["ExitCode"], 137);

    // Stopping a stopped container: 304 with no body, so the CLI prints the name.
    let resp = d.api_post("/v1.41/containers/berth-stubborn/stop", b"");
    assert_eq!(resp.status, 304);
    let out = common::run(&mut d.docker(&["stop", "berth-stubborn"]));
    assert_eq!(common::code(&out), 0, "{}", common::stderr(&out));
    assert_eq!(common::stdout(&out).trim(), "berth-stubborn");

    // A created, never started container is not running either.
    let created = create(&d, None, json!({"Image": image(&d), "Cmd": ["true"]}));
    let resp = d.api_post(&format!("/v1.41/containers/{created}/stop"), b"");
    assert_eq!(resp.status, 304);

    let resp = d.api_post("/v1.41/containers/berth-nope/stop", b"");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_message(), "No such container: berth-nope");
    let resp = d.api_post("/v1.41/containers/berth-trap/stop?t=x", b"");
    assert_eq!(resp.status, 400);
}

#[test]
fn stop_uses_the_configured_stop_signal_and_timeout() {
    let d = TestDaemon::start();
    let id = create(
        &d,
        None,
        json!({
            "Image": image(&d),
            "Cmd": ["sh", "-c", "trap 'exit 42' USR1; while true; do sleep 0.1; done"],
            "StopSignal": "SIGUSR1",
            "StopTimeout": 1,
        }),
    );
    start(&d, &id);
    // The script sets the trap before its loop starts the first sleep.
    wait_for_process(&d, &id, "sleep");
    let resp = d.api_post(&format!("/v1.41/containers/{id}/stop"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(inspect(&d, &id)["State"]["ExitCode"], 42);

    let resp = d.api_post_json(
        "/v1.41/containers/create",
        &json!({"Image": image(&d), "Cmd": ["true"], "StopSignal": "SIGNOPE"}),
    );
    assert_eq!(resp.status, 400);
    assert_eq!(resp.error_message(), "Invalid signal: SIGNOPE");
}

#[test]
fn restart_starts_a_new_run_and_start_of_a_running_one_is_304() {
    let d = TestDaemon::start();
    let id = run_detached(&d, None, &["sleep", "1000"]);
    let resp = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(resp.status, 304);
    let before = inspect(&d, &id)["State"].clone();
    let resp = d.api_post(&format!("/v1.41/containers/{id}/restart?t=0"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    let after = inspect(&d, &id)["State"].clone();
    assert_eq!(after["Status"], "running");
    assert_ne!(after["Pid"], before["Pid"]);
    assert_ne!(after["StartedAt"], before["StartedAt"]);
    assert!(is_alive(after["Pid"].as_i64().unwrap() as i32));

    // Restart of a stopped container starts it.
    let resp = d.api_post(&format!("/v1.41/containers/{id}/stop?t=0"), b"");
    assert_eq!(resp.status, 204);
    let resp = d.api_post(&format!("/v1.41/containers/{id}/restart"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(inspect(&d, &id)["State"]["Running"], true);

    // An auto-remove container survives its restart.
    let rm = create(
        &d,
        None,
        json!({"Image": image(&d), "Cmd": ["sleep", "1000"], "HostConfig": {"AutoRemove": true}}),
    );
    start(&d, &rm);
    let resp = d.api_post(&format!("/v1.41/containers/{rm}/restart?t=0"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(inspect(&d, &rm)["State"]["Running"], true);
    let resp = d.api_post(&format!("/v1.41/containers/{rm}/stop?t=0"), b"");
    assert_eq!(resp.status, 204);
    poll("the auto-remove", || {
        (d.api_get(&format!("/v1.41/containers/{rm}/json")).status == 404).then_some(())
    });
    let resp = d.api_delete(&format!("/v1.41/containers/{id}?force=1"));
    assert_eq!(resp.status, 204);
}

#[test]
fn rename_checks_names_like_dockerd() {
    let d = TestDaemon::start();
    let a = create(
        &d,
        Some("berth-a"),
        json!({"Image": image(&d), "Cmd": ["true"]}),
    );
    let b = create(
        &d,
        Some("berth-b"),
        json!({"Image": image(&d), "Cmd": ["true"]}),
    );

    let resp = d.api_post("/v1.41/containers/berth-a/rename?name=berth-c", b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(inspect(&d, &a)["Name"], "/berth-c");
    assert_eq!(d.api_get("/v1.41/containers/berth-a/json").status, 404);
    assert_eq!(inspect(&d, "berth-c")["Id"], a.as_str());

    let resp = d.api_post("/v1.41/containers/berth-c/rename?name=berth-b", b"");
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.error_message(),
        format!(
            "Error when allocating new name: Conflict. The container name \"/berth-b\" is already in use by container \"{b}\". You have to remove (or rename) that container to be able to reuse that name."
        )
    );
    let resp = d.api_post("/v1.41/containers/berth-c/rename?name=berth-c", b"");
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.error_message(),
        "Renaming a container with the same name as its current name"
    );
    let resp = d.api_post("/v1.41/containers/berth-c/rename?name=bad%20name", b"");
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.error_message(),
        "Error when allocating new name: Invalid container name (/bad name), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
    );
    let resp = d.api_post("/v1.41/containers/berth-c/rename?name=", b"");
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.error_message(),
        "Neither old nor new names may be empty"
    );

    // The old name is free again, and the new one survives a daemon restart.
    create(
        &d,
        Some("berth-a"),
        json!({"Image": image(&d), "Cmd": ["true"]}),
    );
    let resp = d.api_post_json(
        "/v1.41/containers/create?name=berth-c",
        &json!({"Image": image(&d), "Cmd": ["true"]}),
    );
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.error_message(),
        format!(
            "Conflict. The container name \"/berth-c\" is already in use by container \"{a}\". You have to remove (or rename) that container to be able to reuse that name."
        )
    );
    let restarted = d.kill9_and_restart(|| {});
    let resp = restarted.get(&format!("/v1.41/containers/{a}/json"));
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["Name"], "/berth-c");
}

#[test]
fn top_lists_the_container_processes_only() {
    let d = TestDaemon::start();
    let id = run_detached(&d, None, &["sh", "-c", "sleep 1001 & sleep 1002 & wait"]);
    let top = poll("the shell and both sleeps in top", || {
        let resp = d.api_get(&format!("/v1.41/containers/{id}/top"));
        assert_eq!(resp.status, 200, "{}", resp.text());
        let v = resp.json();
        // The shell's own row mentions both, so count the rows.
        (v["Processes"].as_array().map(Vec::len) == Some(3)).then_some(v)
    });
    let titles: Vec<&str> = top["Titles"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(
        titles,
        ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
    );
    let procs = top["Processes"].as_array().unwrap();
    let cmds: Vec<&str> = procs.iter().map(|p| p[7].as_str().unwrap()).collect();
    assert_eq!(
        cmds,
        [
            "sh -c sleep 1001 & sleep 1002 & wait",
            "sleep 1001",
            "sleep 1002"
        ],
        "{top}"
    );
    for p in procs {
        assert_eq!(p.as_array().unwrap().len(), titles.len(), "{p}");
    }
    let pid = inspect(&d, &id)["State"]["Pid"]
        .as_i64()
        .unwrap()
        .to_string();
    assert!(procs.iter().any(|p| p[1] == pid.as_str()), "{top}");

    let resp = d.api_get(&format!("/v1.41/containers/{id}/top?ps_args=-o%20pid,comm"));
    assert_eq!(resp.status, 200, "{}", resp.text());
    let v = resp.json();
    assert_eq!(v["Titles"], json!(["PID", "COMMAND"]));
    assert_eq!(v["Processes"].as_array().unwrap().len(), 3, "{v}");

    let stopped = create(&d, None, json!({"Image": image(&d), "Cmd": ["true"]}));
    let resp = d.api_get(&format!("/v1.41/containers/{stopped}/top"));
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.error_message(),
        format!("Container {stopped} is not running")
    );
    let resp = d.api_delete(&format!("/v1.41/containers/{id}?force=1"));
    assert_eq!(resp.status, 204);
}

#[test]
fn resize_reaches_the_containers_terminal() {
    let d = TestDaemon::start();
    let id = create(
        &d,
        None,
        json!({
            "Image": image(&d),
            "Cmd": ["sh", "-c", "while true; do stty size > /tmp/size; sleep 0.1; done"],
            "Tty": true,
            "HostConfig": {"ConsoleSize": [24, 80]},
        }),
    );
    start(&d, &id);
    let pid = inspect(&d, &id)["State"]["Pid"].as_i64().unwrap();
    let size_file = PathBuf::from(format!("/proc/{pid}/root/tmp/size"));
    let read = || fs::read_to_string(&size_file).unwrap_or_default();
    poll("the initial console size", || {
        (read().trim() == "24 80").then_some(())
    });
    let resp = d.api_post(&format!("/v1.41/containers/{id}/resize?h=40&w=120"), b"");
    assert_eq!(resp.status, 200, "{}", resp.text());
    poll("the new size", || (read().trim() == "40 120").then_some(()));
    let resp = d.api_post(&format!("/v1.41/containers/{id}/resize?h=x&w=1"), b"");
    assert_eq!(resp.status, 400);
    let resp = d.api_delete(&format!("/v1.41/containers/{id}?force=1"));
    assert_eq!(resp.status, 204);
    let resp = d.api_post(&format!("/v1.41/containers/{id}/resize?h=1&w=1"), b"");
    assert_eq!(resp.status, 404);
}

#[test]
fn list_has_dockers_fields_and_filters() {
    let d = TestDaemon::start();
    let img = image(&d);
    let image_id = d.api_get(&format!("/v1.41/images/{img}/json")).json()["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let tag = d.api_post(
        "/v1.41/images/berth-busybox:latest/tag?repo=berth-other&tag=v1",
        b"",
    );
    assert_eq!(tag.status, 201, "{}", tag.text());

    let web = create(
        &d,
        Some("berth-web-1"),
        json!({"Image": img, "Cmd": ["sleep", "1000"], "Labels": {"tier": "front", "x": "1"}}),
    );
    start(&d, &web);
    let done = create(
        &d,
        Some("berth-done"),
        json!({"Image": "berth-other:v1", "Cmd": ["sh", "-c", "exit 3"], "Labels": {"tier": "back"}}),
    );
    start(&d, &done);
    assert_eq!(wait(&d, &done), 3);
    let fresh = create(
        &d,
        Some("berth-fresh"),
        json!({"Image": img, "Cmd": ["echo", "hello world"]}),
    );

    let running = list(&d, "");
    assert_eq!(running.len(), 1);
    let c = &running[0];
    assert_eq!(c["Id"], web.as_str());
    assert_eq!(c["Names"], json!(["/berth-web-1"]));
    assert_eq!(c["Image"], img);
    assert_eq!(c["ImageID"], image_id.as_str());
    assert_eq!(c["Command"], "sleep 1000");
    assert_eq!(c["State"], "running");
    assert!(
        c["Status"].as_str().unwrap().starts_with("Up "),
        "{}",
        c["Status"]
    );
    assert_eq!(c["Ports"], json!([]));
    assert_eq!(c["Mounts"], json!([]));
    assert_eq!(c["Labels"], json!({"tier": "front", "x": "1"}));
    assert_eq!(c["HostConfig"], json!({"NetworkMode": "default"}));
    // Running on the default bridge: dockerd lists the endpoint with its address.
    assert!(
        c["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
            .as_str()
            .is_some_and(|s| !s.is_empty()),
        "{}",
        c["NetworkSettings"]
    );
    assert!(c["Created"].as_i64().unwrap() > 0);
    assert!(c.get("SizeRw").is_none());

    let all = list(&d, "all=1");
    let names: Vec<&str> = all
        .iter()
        .map(|c| c["Names"][0].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["/berth-fresh", "/berth-done", "/berth-web-1"],
        "newest first"
    );
    assert_eq!(all[0]["Status"], "Created");
    assert_eq!(all[0]["State"], "created");
    assert_eq!(all[0]["Command"], "echo 'hello world'");
    assert_eq!(all[1]["State"], "exited");
    assert_eq!(all[1]["Image"], "berth-other:v1");
    let status = all[1]["Status"].as_str().unwrap();
    assert!(
        status.starts_with("Exited (3) ") && status.ends_with(" ago"),
        "{status}"
    );

    assert_eq!(list(&d, "limit=1").len(), 1, "limit implies all");
    assert_eq!(list(&d, "limit=1")[0]["Id"], fresh.as_str());
    let sized = list(&d, "size=1");
    assert!(sized[0]["SizeRw"].is_i64() && sized[0]["SizeRootFs"].as_i64().unwrap() > 0);

    let f = |all, v| list_filtered(&d, all, v);
    assert_eq!(
        f(false, json!({"status": ["exited"]})),
        ["/berth-done"],
        "status implies all"
    );
    assert_eq!(f(true, json!({"status": ["created"]})), ["/berth-fresh"]);
    assert_eq!(f(true, json!({"name": ["web"]})), ["/berth-web-1"]);
    assert_eq!(f(true, json!({"name": ["^/berth-d"]})), ["/berth-done"]);
    assert_eq!(f(true, json!({"name": ["^berth-f"]})), ["/berth-fresh"]);
    assert_eq!(
        f(true, json!({"label": ["tier"]})),
        ["/berth-done", "/berth-web-1"]
    );
    assert_eq!(f(true, json!({"label": ["tier=front"]})), ["/berth-web-1"]);
    assert_eq!(f(true, json!({"label": ["tier", "x=1"]})), ["/berth-web-1"]);
    assert_eq!(f(true, json!({"exited": ["3"]})), ["/berth-done"]);
    assert!(
        f(true, json!({"exited": ["0"]})).is_empty(),
        "never-started containers have not exited"
    );
    assert_eq!(f(true, json!({"id": [&web[..10]]})), ["/berth-web-1"]);
    assert_eq!(
        f(true, json!({"ancestor": ["berth-other:v1"]})).len(),
        3,
        "same image, other tag"
    );
    assert_eq!(f(true, json!({"ancestor": [&image_id]})).len(), 3);
    assert!(f(true, json!({"ancestor": ["berth-missing"]})).is_empty());
    assert_eq!(f(true, json!({"before": ["berth-done"]})), ["/berth-web-1"]);
    assert_eq!(f(true, json!({"since": ["berth-done"]})), ["/berth-fresh"]);
    // The pre-1.22 map shape is accepted too.
    assert_eq!(f(true, json!({"name": {"fresh": true}})), ["/berth-fresh"]);

    let bad = |q: &str| d.api_get(&format!("/v1.41/containers/json?filters={}", urlencode(q)));
    let resp = bad(r#"{"status":["sleeping"]}"#);
    assert_eq!(resp.status, 400);
    assert_eq!(resp.error_message(), "Invalid filter 'status=sleeping'");
    let resp = bad(r#"{"colour":["red"]}"#);
    assert_eq!(resp.status, 400);
    assert_eq!(resp.error_message(), "Invalid filter 'colour'");
    let resp = bad(r#"{"exited":["x"]}"#);
    assert_eq!(resp.status, 400);
    let resp = bad(r#"{"before":["berth-nope"]}"#);
    assert_eq!(resp.status, 404);

    let resp = d.api_delete(&format!("/v1.41/containers/{web}?force=1"));
    assert_eq!(resp.status, 204);
}

#[test]
fn inspect_has_dockers_shape() {
    let d = TestDaemon::start();
    let id = create(
        &d,
        Some("berth-insp"),
        json!({
            "Image": image(&d),
            "Cmd": ["sleep", "1000"],
            "Env": ["A=1"],
            "HostConfig": {"CapAdd": ["NET_ADMIN"], "ReadonlyRootfs": true},
        }),
    );
    let v = inspect(&d, &id);
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["Name"], "/berth-insp");
    assert_eq!(v["Path"], "sleep");
    assert_eq!(v["Args"], json!(["1000"]));
    assert_eq!(v["Driver"], "overlay2");
    assert_eq!(v["Platform"], "linux");
    assert_eq!(v["RestartCount"], 0);
    assert_eq!(v["Mounts"], json!([]));
    assert!(v["Image"].as_str().unwrap().starts_with("sha256:"));
    let st = &v["State"];
    assert_eq!(st["Status"], "created");
    assert_eq!(st["Running"], false);
    assert_eq!(st["Pid"], 0);
    assert_eq!(st["ExitCode"], 0);
    assert_eq!(st["Error"], "");
    assert_eq!(st["StartedAt"], "0001-01-01T00:00:00Z");
    assert_eq!(st["FinishedAt"], "0001-01-01T00:00:00Z");
    for key in ["Paused", "Restarting", "OOMKilled", "Dead"] {
        assert_eq!(st[key], false, "{key}");
    }
    assert_eq!(v["Config"]["Image"], "berth-busybox:latest");
    assert_eq!(v["Config"]["Cmd"], json!(["sleep", "1000"]));
    assert!(
        v["Config"]["Env"]
            .as_array()
            .unwrap()
            .contains(&json!("A=1"))
    );
    assert_eq!(v["HostConfig"]["CapAdd"], json!(["NET_ADMIN"]));
    assert_eq!(v["HostConfig"]["ReadonlyRootfs"], true);
    assert_eq!(v["HostConfig"]["NetworkMode"], "default");
    let net = &v["NetworkSettings"];
    // Not running: dockerd shows the network it will join, still without
    // an address or a network ID.
    assert_eq!(net["Networks"]["bridge"]["IPAddress"], "");
    assert_eq!(net["Networks"]["bridge"]["NetworkID"], "");
    assert_eq!(net["Ports"], json!({}));
    assert_eq!(net["IPAddress"], "");
    assert_eq!(v["GraphDriver"]["Name"], "overlay2");
    assert!(v.get("ExecIDs").is_some_and(Value::is_null), "{v}");
    assert!(
        net.get("SecondaryIPAddresses").is_some_and(Value::is_null),
        "{v}"
    );

    start(&d, &id);
    let st = inspect(&d, &id)["State"].clone();
    assert_eq!(st["Status"], "running");
    assert!(is_alive(st["Pid"].as_i64().unwrap() as i32));
    assert_ne!(st["StartedAt"], "0001-01-01T00:00:00Z");
    assert_eq!(st["FinishedAt"], "0001-01-01T00:00:00Z");
    let resp = d.api_delete(&format!("/v1.41/containers/{id}?force=1"));
    assert_eq!(resp.status, 204);
    let resp = d.api_get(&format!("/v1.41/containers/{id}/json"));
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_message(), format!("No such container: {id}"));
}

#[test]
fn create_refuses_bad_host_config_and_start_refuses_a_bad_user() {
    let d = TestDaemon::start();
    let img = image(&d);
    let cases = [
        (
            json!({"CapAdd": ["CAP_NOPE"]}),
            "invalid CapAdd: unknown capability: \"CAP_NOPE\"",
        ),
        (
            json!({"CapDrop": ["bogus"]}),
            "invalid CapDrop: unknown capability: \"CAP_BOGUS\"",
        ),
        (
            json!({"Ulimits": [{"Name": "nofiles", "Soft": 1, "Hard": 1}]}),
            "invalid ulimit type: nofiles",
        ),
        (
            json!({"SecurityOpt": ["no-new-privileges=maybe"]}),
            "invalid --security-opt 2: \"no-new-privileges=maybe\"",
        ),
    ];
    for (host, message) in cases {
        let resp = d.api_post_json(
            "/v1.41/containers/create",
            &json!({"Image": img, "Cmd": ["true"], "HostConfig": host}),
        );
        assert_eq!(resp.status, 400, "{host}: {}", resp.text());
        assert_eq!(resp.error_message(), message, "{host}");
    }
    assert!(
        list(&d, "all=1").is_empty(),
        "refused creates leave nothing"
    );

    let id = create(
        &d,
        None,
        json!({"Image": img, "Cmd": ["true"], "User": "berth-nobody"}),
    );
    let resp = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(resp.status, 400, "{}", resp.text());
    let message = "unable to find user berth-nobody: no matching entries in passwd file";
    assert_eq!(resp.error_message(), message);
    // As with dockerd: still "created", exit code 128, the error recorded.
    let st = inspect(&d, &id)["State"].clone();
    assert_eq!(st["Status"], "created");
    assert_eq!(st["ExitCode"], 128);
    assert_eq!(st["Error"], message);
    assert_eq!(st["StartedAt"], "0001-01-01T00:00:00Z");
}

#[test]
fn settings_reach_the_container() {
    let d = TestDaemon::start();
    let id = create(
        &d,
        None,
        json!({
            "Image": image(&d),
            "Cmd": ["sh", "-c", "ulimit -n; grep -E '^(CapEff|NoNewPrivs)' /proc/self/status; id -G; touch /x 2>&1 || true"],
            "HostConfig": {
                "Ulimits": [{"Name": "nofile", "Soft": 123, "Hard": 456}],
                "CapDrop": ["ALL"],
                "CapAdd": ["KILL"],
                "SecurityOpt": ["no-new-privileges"],
                "GroupAdd": ["1234"],
                "ReadonlyRootfs": true,
            },
        }),
    );
    let attach = d.api_attach(&id);
    start(&d, &id);
    assert_eq!(wait(&d, &id), 0);
    let (out, err) = attach.demux();
    let out = String::from_utf8_lossy(&out);
    assert!(err.is_empty(), "{}", String::from_utf8_lossy(&err));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "123", "{out}");
    assert_eq!(lines[1], "CapEff:\t0000000000000020", "{out}");
    assert_eq!(lines[2], "NoNewPrivs:\t1", "{out}");
    assert!(lines[3].split(' ').any(|g| g == "1234"), "{out}");
    assert!(lines[4].contains("Read-only file system"), "{out}");
}

/// An attach connection with stdin, for the detach-keys test.
fn attach_with_stdin(d: &TestDaemon, id: &str, query: &str) -> UnixStream {
    let mut s = UnixStream::connect(d.socket_path()).expect("connect");
    let req = format!(
        "POST /v1.41/containers/{id}/attach?stream=1&stdin=1&stdout=1&stderr=1{query} HTTP/1.1\r\nHost: berth\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
    );
    s.write_all(req.as_bytes()).expect("send attach");
    s.set_read_timeout(Some(POLL_BOUND)).expect("read timeout");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(
            s.read(&mut byte).expect("read head"),
            1,
            "attach closed early"
        );
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    s
}

/// Reads until `needle` was seen; returns everything read.
fn read_until(s: &mut UnixStream, needle: &[u8]) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(needle.len()).any(|w| w == needle) {
        let n = s.read(&mut buf).expect("read the attach stream");
        assert!(
            n > 0,
            "stream ended before {:?}: {:?}",
            String::from_utf8_lossy(needle),
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    got
}

/// Reads to the end of the stream (the daemon closed it).
fn read_to_close(s: &mut UnixStream) {
    let mut rest = Vec::new();
    s.read_to_end(&mut rest)
        .expect("the daemon closes the attach stream");
}

#[test]
fn detach_keys_end_the_attachment_and_leave_the_container_running() {
    let d = TestDaemon::start();
    let id = create(
        &d,
        None,
        json!({"Image": image(&d), "Cmd": ["cat"], "Tty": true, "OpenStdin": true}),
    );
    start(&d, &id);
    let mut s = attach_with_stdin(&d, &id, "");
    s.write_all(b"berth-one\n").unwrap();
    read_until(&mut s, b"berth-one");
    s.write_all(b"\x10\x11").unwrap();
    read_to_close(&mut s);
    assert_eq!(inspect(&d, &id)["State"]["Running"], true);

    // Custom keys; a partial sequence is passed through.
    let mut s = attach_with_stdin(&d, &id, "&detachKeys=ctrl-a,x");
    s.write_all(b"\x01berth-two\n").unwrap();
    read_until(&mut s, b"berth-two");
    s.write_all(b"\x01x").unwrap();
    read_to_close(&mut s);
    assert_eq!(inspect(&d, &id)["State"]["Running"], true);

    let resp = d.api_post(
        &format!("/v1.41/containers/{id}/attach?stdin=1&detachKeys=ctrl-%C3%A9"),
        b"",
    );
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.error_message(),
        "Invalid detach keys (ctrl-é) provided"
    );
    let resp = d.api_delete(&format!("/v1.41/containers/{id}?force=1"));
    assert_eq!(resp.status, 204);
}

#[test]
fn stdin_once_closes_the_containers_stdin_at_end_of_input() {
    let d = TestDaemon::start();
    let id = create(
        &d,
        None,
        json!({"Image": image(&d), "Cmd": ["cat"], "OpenStdin": true, "StdinOnce": true, "AttachStdin": true}),
    );
    let mut s = attach_with_stdin(&d, &id, "");
    start(&d, &id);
    s.write_all(b"hi\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let (out, _) = common::demux(&raw);
    assert_eq!(out, b"hi\n");
    assert_eq!(wait(&d, &id), 0);
}

#[test]
fn kill_remove_and_wait_follow_dockerd() {
    let d = TestDaemon::start();
    let id = run_detached(&d, Some("berth-k"), &["sleep", "1000"]);
    let resp = d.api_delete("/v1.41/containers/berth-k");
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.error_message(),
        format!(
            "You cannot remove a running container {id}. Stop the container before attempting removal or force remove"
        )
    );
    let resp = d.api_post("/v1.41/containers/berth-k/kill?signal=NOPE", b"");
    assert_eq!(resp.status, 400);
    let resp = d.api_post("/v1.41/containers/berth-k/kill?signal=TERM", b"");
    assert_eq!(resp.status, 204);
    // PID 1 ignores an unhandled TERM; KILL (the default) ends it.
    let resp = d.api_post("/v1.41/containers/berth-k/kill", b"");
    assert_eq!(resp.status, 204);
    assert_eq!(wait(&d, &id), 137);
    let resp = d.api_post("/v1.41/containers/berth-k/kill", b"");
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.error_message(),
        format!("Cannot kill container: berth-k: Container {id} is not running")
    );
    let resp = d.api_post("/v1.41/containers/berth-k/wait?condition=bogus", b"");
    assert_eq!(resp.status, 400);
    let resp = d.api_post("/v1.41/containers/berth-k/wait?condition=not-running", b"");
    assert_eq!(resp.json()["StatusCode"], 137);
    let resp = d.api_delete("/v1.41/containers/berth-k");
    assert_eq!(resp.status, 204);
    let resp = d.api_delete("/v1.41/containers/berth-k");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_message(), "No such container: berth-k");
    assert!(!d.data_root().join("containers").join(&id).exists());
    assert!(!d.exec_root().join("containers").join(&id).exists());
}

#[test]
fn concurrent_operations_on_one_container_are_serialised() {
    let d = TestDaemon::start();
    let id = create(
        &d,
        None,
        json!({"Image": image(&d), "Cmd": ["sleep", "1000"]}),
    );
    // Many starts at once: exactly one starts it, the rest see it running.
    let statuses: Vec<u16> = thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|_| {
                s.spawn(|| {
                    d.api_post(&format!("/v1.41/containers/{id}/start"), b"")
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(
        statuses.iter().filter(|s| **s == 204).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 304).count(),
        5,
        "{statuses:?}"
    );
    let supervisors = processes_under(&d.exec_root().join("containers").join(&id));
    assert!(!supervisors.is_empty());

    // Stop, restart, kill and rm -f racing: the container ends up removed
    // and every request gets an answer.
    let paths = [
        ("POST", format!("/v1.41/containers/{id}/stop?t=1")),
        ("POST", format!("/v1.41/containers/{id}/restart?t=1")),
        ("POST", format!("/v1.41/containers/{id}/kill")),
        ("DELETE", format!("/v1.41/containers/{id}?force=1")),
    ];
    let answers: Vec<u16> = thread::scope(|s| {
        let handles: Vec<_> = paths
            .iter()
            .map(|(m, p)| s.spawn(|| d.api(m, p, &[], &[]).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(answers[3], 204, "rm -f: {answers:?}");
    for a in &answers {
        assert!([204, 304, 404, 409].contains(a), "{answers:?}");
    }
    assert_eq!(
        d.api_get(&format!("/v1.41/containers/{id}/json")).status,
        404
    );
    poll("the supervisor to exit", || {
        processes_under(&d.exec_root().join("containers").join(&id))
            .is_empty()
            .then_some(())
    });

    // Auto-remove racing rm -f: one removal, no error left behind.
    let rm = create(
        &d,
        None,
        json!({"Image": image(&d), "Cmd": ["sleep", "1000"], "HostConfig": {"AutoRemove": true}}),
    );
    start(&d, &rm);
    let resp = d.api_delete(&format!("/v1.41/containers/{rm}?force=1"));
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(
        d.api_get(&format!("/v1.41/containers/{rm}/json")).status,
        404
    );
    assert!(
        !d.log_text().contains("auto-removing container"),
        "{}",
        d.log_text()
    );
}

#[test]
fn containers_survive_kill_9_of_the_daemon() {
    let d = TestDaemon::start();
    let mut ids = Vec::new();
    for i in 0..4 {
        ids.push(run_detached(
            &d,
            Some(&format!("berth-keep-{i}")),
            &["sleep", "1000"],
        ));
    }
    // Exits with 7 once told to, which the test does while no daemon runs.
    let quitter = run_detached(
        &d,
        Some("berth-quitter"),
        &[
            "sh",
            "-c",
            "while [ ! -e /tmp/go ]; do sleep 0.1; done; exit 7",
        ],
    );
    ids.push(quitter.clone());
    let pids: Vec<i32> = ids
        .iter()
        .map(|id| inspect(&d, id)["State"]["Pid"].as_i64().unwrap() as i32)
        .collect();
    // The supervisor itself, from the pid file it writes: every process
    // under the run dir would also catch the quitter's short-lived `sleep`s.
    let supervisors: Vec<i32> = ids
        .iter()
        .map(|id| {
            let run_dir = d.exec_root().join("containers").join(id);
            read_supervisor_info(&run_dir)
                .unwrap_or_else(|| panic!("supervisor.json of {id}"))
                .supervisor_pid
        })
        .collect();

    let quitter_pid = pids[4];
    let r = d.kill9_and_restart(|| {
        for (id, pid) in ids.iter().zip(&pids) {
            assert!(is_alive(*pid), "container {id} died with the daemon");
        }
        for (id, sup) in ids.iter().zip(&supervisors) {
            assert!(is_alive(*sup), "supervisor of {id} died with the daemon");
        }
        fs::write(format!("/proc/{quitter_pid}/root/tmp/go"), b"").expect("tell the quitter");
        poll("the quitter to exit", || {
            (!is_alive(quitter_pid)).then_some(())
        });
    });
    for (id, pid) in ids[..4].iter().zip(&pids) {
        assert!(is_alive(*pid), "container {id} died with the restart");
    }

    let running = r.get("/v1.41/containers/json");
    assert_eq!(running.status, 200);
    let running: Vec<String> = running
        .json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Id"].as_str().unwrap().to_owned())
        .collect();
    for id in &ids[..4] {
        assert!(
            running.contains(id),
            "{id} not listed as running: {running:?}"
        );
    }
    assert!(!running.contains(&quitter), "{running:?}");
    let all = r.get("/v1.41/containers/json?all=1").json();
    let q = all
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Id"] == quitter.as_str())
        .expect("the quitter is still listed");
    assert!(
        q["Status"].as_str().unwrap().starts_with("Exited (7) "),
        "{q}"
    );
    for (id, pid) in ids[..4].iter().zip(&pids) {
        let v = r.get(&format!("/v1.41/containers/{id}/json")).json();
        assert_eq!(v["State"]["Status"], "running", "{v}");
        assert_eq!(v["State"]["Pid"], *pid);
    }

    // The one that exited while no daemon ran reports its real exit code.
    let resp = r.post(&format!("/v1.41/containers/{quitter}/wait"));
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["StatusCode"], 7);
    let st = r.get(&format!("/v1.41/containers/{quitter}/json")).json()["State"].clone();
    assert_eq!(st["Status"], "exited");
    assert_eq!(st["ExitCode"], 7);
    assert_ne!(st["FinishedAt"], "0001-01-01T00:00:00Z");

    // Stop works on an adopted container (sleep as PID 1 ignores TERM: 137).
    let resp = r.post(&format!("/v1.41/containers/{}/stop?t=1", ids[0]));
    assert_eq!(resp.status, 204, "{}", resp.text());
    let code = r.get(&format!("/v1.41/containers/{}/json", ids[0])).json()["State"]["ExitCode"]
        .as_i64()
        .unwrap();
    assert!(code == 137 || code == 143, "exit code {code}");
    assert!(!is_alive(pids[0]));
    // Kill, wait and rm -f work on adopted ones too.
    let resp = r.post(&format!("/v1.41/containers/{}/kill", ids[1]));
    assert_eq!(resp.status, 204, "{}", resp.text());
    let resp = r.post(&format!("/v1.41/containers/{}/wait", ids[1]));
    assert_eq!(resp.json()["StatusCode"], 137);
    for id in &ids {
        let resp = r.delete(&format!("/v1.41/containers/{id}?force=1"));
        assert_eq!(resp.status, 204, "rm {id}: {}", resp.text());
    }

    // Nothing leaks: no container process, supervisor or state is left.
    for pid in &pids {
        poll("container processes to be gone", || {
            (!is_alive(*pid)).then_some(())
        });
    }
    poll("supervisors to exit", || {
        supervisors.iter().all(|p| !is_alive(*p)).then_some(())
    });
    let resp = r.get("/v1.41/containers/json?all=1");
    assert_eq!(resp.json(), json!([]));
    for root in [d.data_root(), d.exec_root()] {
        let left: Vec<_> = fs::read_dir(root.join("containers"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert!(left.is_empty(), "left in {}: {left:?}", root.display());
    }
}

#[test]
fn a_container_whose_supervisor_vanished_is_marked_exited_not_lost() {
    let d = TestDaemon::start();
    let id = run_detached(&d, Some("berth-orphan"), &["sleep", "1000"]);
    let run_dir = d.exec_root().join("containers").join(&id);
    let sup = processes_under(&run_dir);
    assert!(!sup.is_empty());
    let pid = inspect(&d, &id)["State"]["Pid"].as_i64().unwrap() as i32;
    let pid_dir = PathBuf::from(format!("/proc/{pid}"));
    // Daemon, supervisor and container all die (SIGKILL, so the supervisor writes no exit file).
    let daemon = Pid::from_raw(d.pid() as i32);
    kill(daemon, Signal::SIGKILL).unwrap();
    for p in sup.iter().chain([&pid]) {
        let _ = kill(Pid::from_raw(*p), Signal::SIGKILL);
    }
    poll("the container to die", || {
        (!is_alive(pid) || !pid_dir.exists()).then_some(())
    });
    let r = d.kill9_and_restart(|| {});
    let v = r.get(&format!("/v1.41/containers/{id}/json")).json();
    assert_eq!(v["State"]["Status"], "exited", "{v}");
    assert_eq!(v["State"]["Running"], false);
    assert!(
        v["State"]["Error"]
            .as_str()
            .unwrap()
            .contains("container's supervisor vanished"),
        "{v}"
    );
    let resp = r.delete(&format!("/v1.41/containers/{id}"));
    assert_eq!(resp.status, 204, "{}", resp.text());
}

#[test]
fn the_docker_cli_attaches_to_a_running_container_and_gets_its_exit_code() {
    let d = TestDaemon::start();
    let id = run_detached(
        &d,
        Some("berth-att"),
        &[
            "sh",
            "-c",
            "while [ ! -e /tmp/go ]; do sleep 0.1; done; echo attached-out; echo attached-err >&2; exit 3",
        ],
    );
    let pid = inspect(&d, &id)["State"]["Pid"].as_i64().unwrap();
    let child = d
        .docker(&["attach", "berth-att"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn docker attach");
    // Go on once the daemon has upgraded the attach connection.
    poll("docker attach to connect", || {
        d.log_text()
            .lines()
            .any(|l| l.contains("/containers/berth-att/attach") && l.contains("101"))
            .then_some(())
    });
    fs::write(format!("/proc/{pid}/root/tmp/go"), b"").expect("signal the container");
    let out = child.wait_with_output().expect("docker attach ends");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "attached-out\n",
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stderr), "attached-err\n");
    assert_eq!(out.status.code(), Some(3));

    let ps = common::run_ok(&mut d.docker(&[
        "ps",
        "-a",
        "--filter",
        "name=berth-att",
        "--format",
        "{{.Names}} {{.Status}} {{.Command}}",
    ]));
    assert!(ps.starts_with("berth-att Exited (3) "), "{ps}");
}
