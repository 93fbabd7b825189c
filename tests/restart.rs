//! Restart policies, graceful daemon shutdown and live restore against a
//! real `berthd`, with dockerd 20.10's behaviour: `on-failure:N` runs N+1
//! times, `always` restarts after a crash and after a daemon restart,
//! `unless-stopped` stopped by the user stays stopped, a manual stop or kill
//! never restarts, a restarting container can be waited on, stopped and
//! force-removed, and SIGTERM to berthd leaves containers running (live
//! restore, the default) or stops them with their stop signal and timeout.
//!
//! Nothing here asserts timing: states are polled with a generous bound.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::thread;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use berth::runtime::state::read_supervisor_info;
use common::TestDaemon;
use common::restart::SecondDaemon;

/// Bound for polling loops; reaching it fails the test (it asserts nothing
/// about speed, it only stops a hung test).
const POLL_BOUND: Duration = Duration::from_secs(90);

/// Polls `f` until it returns `Some`, failing with `what` after [`POLL_BOUND`].
fn poll<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::poll(what, POLL_BOUND, f)
}

/// Now as dockerd's `seconds.nanoseconds` timestamp.
fn now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

/// Loads busybox as `berth-busybox:latest`.
fn image(d: &TestDaemon) -> &'static str {
    d.load_busybox("berth-busybox:latest");
    "berth-busybox:latest"
}

/// `POST /containers/create` with `body`; returns the ID.
fn create(d: &TestDaemon, body: Value) -> String {
    let resp = d.api_post_json("/v1.41/containers/create", &body);
    assert_eq!(resp.status, 201, "create {body}: {}", resp.text());
    resp.json()["Id"].as_str().expect("Id").to_owned()
}

fn start(d: &TestDaemon, id: &str) {
    let resp = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(resp.status, 204, "start {id}: {}", resp.text());
}

/// Creates and starts `cmd` with `policy` (`{"Name": ..}`) and extra host
/// settings; returns the ID.
fn run(d: &TestDaemon, cmd: &[&str], policy: Value, host: Value) -> String {
    let mut host_config = json!({"RestartPolicy": policy});
    if let (Some(h), Some(extra)) = (host_config.as_object_mut(), host.as_object()) {
        h.extend(extra.clone());
    }
    let id = create(
        d,
        json!({"Image": image(d), "Cmd": cmd, "HostConfig": host_config}),
    );
    start(d, &id);
    id
}

fn inspect(d: &TestDaemon, id: &str) -> Value {
    let resp = d.api_get(&format!("/v1.41/containers/{id}/json"));
    assert_eq!(resp.status, 200, "inspect {id}: {}", resp.text());
    resp.json()
}

/// The container's actions in `[since, now]`, in order.
fn actions(d: &TestDaemon, id: &str, since: &str) -> Vec<String> {
    let filters = json!({"container": [id]}).to_string();
    let filters: String = form_urlencoded::byte_serialize(filters.as_bytes()).collect();
    let resp = d.api_get(&format!(
        "/v1.41/events?since={since}&until={}&filters={filters}",
        now()
    ));
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.text()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .map(|e| e["Action"].as_str().unwrap_or_default().to_owned())
        .collect()
}

fn count(actions: &[String], action: &str) -> usize {
    actions.iter().filter(|a| *a == action).count()
}

/// The running container's host pid, once it runs with one.
fn running_pid(d: &TestDaemon, id: &str) -> i32 {
    poll(&format!("{id} running"), || {
        let st = &inspect(d, id)["State"];
        let pid = st["Pid"].as_i64().unwrap_or(0);
        (st["Status"] == "running" && pid > 0).then(|| i32::try_from(pid).unwrap())
    })
}

fn alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// Kills the container's process from the host, as a crash would.
fn crash(pid: i32) {
    kill(Pid::from_raw(pid), Signal::SIGKILL).expect("kill the container's process");
}

/// Polls until the container is restarting (its back-off under way).
fn wait_restarting(d: &TestDaemon, id: &str) {
    poll(&format!("{id} restarting"), || {
        let st = &inspect(d, id)["State"];
        (st["Restarting"] == true).then_some(())
    });
    let st = &inspect(d, id)["State"];
    assert_eq!(
        st["Running"], true,
        "a restarting container counts as running: {st}"
    );
}

#[test]
fn on_failure_3_runs_four_times_then_stays_exited() {
    let d = TestDaemon::start();
    let out = d.dir().join("berth-runs");
    fs::create_dir(&out).unwrap();
    let since = now();
    let id = run(
        &d,
        &["sh", "-c", "echo run >> /out/runs; exit 1"],
        json!({"Name": "on-failure", "MaximumRetryCount": 3}),
        json!({"Binds": [format!("{}:/out", out.display())]}),
    );
    let st = poll("the container to give up", || {
        let v = inspect(&d, &id);
        (v["State"]["Status"] == "exited").then_some(v)
    });
    assert_eq!(st["RestartCount"], 3, "{st}");
    assert_eq!(st["State"]["ExitCode"], 1);
    assert_eq!(st["State"]["Restarting"], false);
    let runs = fs::read_to_string(out.join("runs")).unwrap();
    assert_eq!(runs.lines().count(), 4, "runs: {runs:?}");
    let acts = actions(&d, &id, &since);
    assert_eq!(count(&acts, "start"), 4, "{acts:?}");
    assert_eq!(count(&acts, "die"), 4, "{acts:?}");
    // Each restart is a die followed by a start, as in dockerd.
    let lifecycle: Vec<&str> = acts
        .iter()
        .map(String::as_str)
        .filter(|a| *a == "start" || *a == "die")
        .collect();
    assert_eq!(
        lifecycle,
        [
            "start", "die", "start", "die", "start", "die", "start", "die"
        ]
    );
    // `docker ps` shows the exit like dockerd; a success never restarts.
    let ps = d
        .api_get(&format!(
            "/v1.41/containers/json?all=1&filters={}",
            form_urlencoded::byte_serialize(json!({"id": [id]}).to_string().as_bytes())
                .collect::<String>()
        ))
        .json();
    assert!(
        ps[0]["Status"].as_str().unwrap().starts_with("Exited (1) "),
        "{ps}"
    );
    let ok = run(&d, &["true"], json!({"Name": "on-failure"}), json!({}));
    let v = poll("the successful run to end", || {
        let v = inspect(&d, &ok);
        (v["State"]["Status"] == "exited").then_some(v)
    });
    assert_eq!(v["RestartCount"], 0, "{v}");
}

#[test]
fn always_restarts_after_a_crash_and_restart_resets_the_count() {
    let d = TestDaemon::start();
    let since = now();
    let id = run(&d, &["sleep", "1000"], json!({"Name": "always"}), json!({}));
    let first = running_pid(&d, &id);
    crash(first);
    let second = poll("the restarted process", || {
        let v = inspect(&d, &id);
        let pid = v["State"]["Pid"].as_i64().unwrap_or(0);
        (v["RestartCount"] == 1 && v["State"]["Status"] == "running" && pid > 0)
            .then(|| i32::try_from(pid).unwrap())
    });
    assert_ne!(first, second);
    // (Polled: a start's event is published just after its state.)
    let acts = poll("the restart's start event", || {
        let acts = actions(&d, &id, &since);
        (count(&acts, "start") == 2).then_some(acts)
    });
    assert_eq!(count(&acts, "die"), 1, "{acts:?}");
    // The restart API starts afresh: RestartCount goes back to 0.
    let resp = d.api_post(&format!("/v1.41/containers/{id}/restart?t=0"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    let v = inspect(&d, &id);
    assert_eq!(v["RestartCount"], 0, "{v}");
    assert_eq!(v["State"]["Status"], "running");
}

#[test]
fn a_manual_stop_or_kill_never_restarts() {
    let d = TestDaemon::start();
    for policy in ["always", "unless-stopped", "on-failure"] {
        let stopped = run(&d, &["sleep", "1000"], json!({"Name": policy}), json!({}));
        running_pid(&d, &stopped);
        let resp = d.api_post(&format!("/v1.41/containers/{stopped}/stop?t=1"), b"");
        assert_eq!(resp.status, 204, "{}", resp.text());
        // The exit is recorded before stop answers, without a restart.
        let v = inspect(&d, &stopped);
        assert_eq!(v["State"]["Status"], "exited", "{policy}: {v}");
        assert_eq!(v["RestartCount"], 0, "{policy}: {v}");

        let killed = run(&d, &["sleep", "1000"], json!({"Name": policy}), json!({}));
        running_pid(&d, &killed);
        let resp = d.api_post(&format!("/v1.41/containers/{killed}/kill"), b"");
        assert_eq!(resp.status, 204, "{}", resp.text());
        let wait = d.api_post(&format!("/v1.41/containers/{killed}/wait"), b"");
        assert_eq!(wait.json()["StatusCode"], 137);
        let v = inspect(&d, &killed);
        assert_eq!(v["State"]["Status"], "exited", "{policy}: {v}");
        assert_eq!(v["RestartCount"], 0, "{policy}: {v}");
    }
}

#[test]
fn a_restarting_container_can_be_waited_on_stopped_and_force_removed() {
    let d = TestDaemon::start();
    let looping = run(
        &d,
        &["sh", "-c", "exit 3"],
        json!({"Name": "always"}),
        json!({}),
    );
    // (Polled: between two back-offs it runs for a moment.)
    poll("ps --filter status=restarting to list it", || {
        let ps =
            d.api_get("/v1.41/containers/json?filters=%7B%22status%22%3A%5B%22restarting%22%5D%7D");
        assert_eq!(ps.status, 200, "{}", ps.text());
        ps.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["Id"] == looping.as_str())
            .then_some(())
    });
    // What needs a live process is refused with dockerd's words (retried:
    // the back-off may end between the check and the request).
    let refused = format!("Container {looping} is restarting, wait until the container is running");
    for (method, what) in [("GET", "top"), ("POST", "pause")] {
        let path = format!("/v1.41/containers/{looping}/{what}");
        poll(&format!("{what} to refuse it"), || {
            wait_restarting(&d, &looping);
            let resp = d.api(method, &path, &[], b"");
            if what == "pause" && resp.status == 204 {
                // It ran for a moment and got paused: let it go on.
                d.api_post(&format!("/v1.41/containers/{looping}/unpause"), b"");
            }
            (resp.status == 409 && resp.error_message() == refused).then_some(())
        });
    }
    // `wait` on a restarting container returns at its next exit.
    let wait = d.api_post(&format!("/v1.41/containers/{looping}/wait"), b"");
    assert_eq!(wait.status, 200);
    assert_eq!(wait.json()["StatusCode"], 3);
    // Stop cancels the restart: exited, for good.
    wait_restarting(&d, &looping);
    let resp = d.api_post(&format!("/v1.41/containers/{looping}/stop"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    let v = inspect(&d, &looping);
    assert_eq!(v["State"]["Status"], "exited", "{v}");
    assert_eq!(v["State"]["Restarting"], false);
    assert_eq!(v["State"]["ExitCode"], 3);
    // A start through the API resets it; rm without force is refused while
    // it restarts, rm -f works.
    start(&d, &looping);
    // (Retried: the back-off may end between the check and the request.)
    let refused = poll("rm to refuse the restarting container", || {
        wait_restarting(&d, &looping);
        let resp = d.api_delete(&format!("/v1.41/containers/{looping}"));
        assert_eq!(resp.status, 409, "{}", resp.text());
        let msg = resp.error_message();
        msg.starts_with("You cannot remove a restarting container")
            .then_some(msg)
    });
    assert!(
        refused.ends_with("Stop the container before attempting removal or force remove"),
        "{refused}"
    );
    wait_restarting(&d, &looping);
    let resp = d.api_delete(&format!("/v1.41/containers/{looping}?force=1"));
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(
        d.api_get(&format!("/v1.41/containers/{looping}/json"))
            .status,
        404
    );
}

#[test]
fn create_and_update_check_the_policy_like_dockerd() {
    let d = TestDaemon::start();
    let img = image(&d);
    let resp = d.api_post_json(
        "/v1.41/containers/create",
        &json!({"Image": img, "Cmd": ["true"],
                "HostConfig": {"AutoRemove": true, "RestartPolicy": {"Name": "always"}}}),
    );
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(
        resp.error_message(),
        "can't create 'AutoRemove' container with restart policy"
    );
    let resp = d.api_post_json(
        "/v1.41/containers/create",
        &json!({"Image": img, "Cmd": ["true"],
                "HostConfig": {"RestartPolicy": {"Name": "always", "MaximumRetryCount": 2}}}),
    );
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert_eq!(
        resp.error_message(),
        "maximum retry count cannot be used with restart policy 'always'"
    );
    for (policy, message) in [
        (
            json!({"Name": "on-failure", "MaximumRetryCount": -1}),
            "maximum retry count cannot be negative",
        ),
        (
            json!({"Name": "no", "MaximumRetryCount": 1}),
            "maximum retry count cannot be used with restart policy 'no'",
        ),
    ] {
        let resp = d.api_post_json(
            "/v1.41/containers/create",
            &json!({"Image": img, "Cmd": ["true"], "HostConfig": {"RestartPolicy": policy}}),
        );
        assert_eq!(resp.status, 400, "{}", resp.text());
        assert_eq!(resp.error_message(), message);
    }
    // An unknown name is a bad request too (dockerd: "invalid restart
    // policy 'bogus'"; berthd names the variant in its JSON error).
    let resp = d.api_post_json(
        "/v1.41/containers/create",
        &json!({"Image": img, "Cmd": ["true"], "HostConfig": {"RestartPolicy": {"Name": "bogus"}}}),
    );
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert!(resp.error_message().contains("bogus"), "{}", resp.text());
    // No policy reads as dockerd's zero value.
    let plain = create(&d, json!({"Image": img, "Cmd": ["true"]}));
    assert_eq!(
        inspect(&d, &plain)["HostConfig"]["RestartPolicy"],
        json!({"Name": "", "MaximumRetryCount": 0})
    );
    // `update --restart` changes the policy of a running container.
    let id = run(&d, &["sleep", "1000"], json!({"Name": "no"}), json!({}));
    let resp = d.api_post_json(
        &format!("/v1.41/containers/{id}/update"),
        &json!({"RestartPolicy": {"Name": "always"}}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        inspect(&d, &id)["HostConfig"]["RestartPolicy"]["Name"],
        "always"
    );
    crash(running_pid(&d, &id));
    poll("the updated policy to restart it", || {
        let v = inspect(&d, &id);
        (v["RestartCount"] == 1 && v["State"]["Status"] == "running").then_some(())
    });
}

#[test]
fn daemon_restart_applies_policies_to_what_died_meanwhile() {
    let d = TestDaemon::start();
    let always = run(&d, &["sleep", "1000"], json!({"Name": "always"}), json!({}));
    let always_stopped = run(&d, &["sleep", "1000"], json!({"Name": "always"}), json!({}));
    let unless = run(
        &d,
        &["sleep", "1000"],
        json!({"Name": "unless-stopped"}),
        json!({}),
    );
    let unless_stopped = run(
        &d,
        &["sleep", "1000"],
        json!({"Name": "unless-stopped"}),
        json!({}),
    );
    let none = run(&d, &["sleep", "1000"], json!({"Name": "no"}), json!({}));
    for id in [&always_stopped, &unless_stopped] {
        let resp = d.api_post(&format!("/v1.41/containers/{id}/stop?t=0"), b"");
        assert_eq!(resp.status, 204, "{}", resp.text());
    }
    let pids: Vec<i32> = [&always, &unless, &none]
        .iter()
        .map(|id| running_pid(&d, id))
        .collect();
    let supervisors: Vec<i32> = [&always, &unless, &none]
        .iter()
        .map(|id| {
            let run_dir = d.exec_root().join("containers").join(id);
            read_supervisor_info(&run_dir)
                .expect("supervisor.json of a running container")
                .supervisor_pid
        })
        .collect();
    // The containers die while no daemon watches them, and their
    // supervisors record that and exit.
    let restarted = d.kill9_and_restart(|| {
        for pid in &pids {
            crash(*pid);
        }
        for pid in &supervisors {
            poll("the supervisor to record the exit and go", || {
                (!alive(*pid)).then_some(())
            });
        }
    });
    let state = |id: &str| {
        let resp = restarted.get(&format!("/v1.41/containers/{id}/json"));
        assert_eq!(resp.status, 200, "{}", resp.text());
        resp.json()
    };
    // Policies are applied before the daemon answers: no polling needed.
    for id in [&always, &always_stopped, &unless] {
        let v = state(id);
        assert_eq!(v["State"]["Status"], "running", "{v}");
        assert!(v["State"]["Pid"].as_i64().unwrap() > 0, "{v}");
        // dockerd's restore starts them afresh.
        assert_eq!(v["RestartCount"], 0, "{v}");
    }
    for id in [&unless_stopped, &none] {
        let v = state(id);
        assert_eq!(v["State"]["Status"], "exited", "{v}");
    }
}

#[test]
fn sigterm_with_live_restore_leaves_containers_to_the_next_daemon() {
    let mut d = TestDaemon::start();
    let id = run(&d, &["sleep", "1000"], json!({"Name": "no"}), json!({}));
    let pid = running_pid(&d, &id);
    let status = d.stop();
    assert!(status.success(), "berthd exited with {status}");
    assert!(!d.socket_path().exists(), "the socket is removed on exit");
    assert!(alive(pid), "live restore keeps the container running");
    let second = SecondDaemon::start(&d);
    let v = second.get(&format!("/v1.41/containers/{id}/json")).json();
    assert_eq!(v["State"]["Status"], "running", "{v}");
    assert_eq!(v["State"]["Pid"], pid);
    // The adopted container is fully under the new daemon's control.
    let resp = second.api("POST", &format!("/v1.41/containers/{id}/kill"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    let wait = second.api("POST", &format!("/v1.41/containers/{id}/wait"), b"");
    assert_eq!(wait.json()["StatusCode"], 137);
}

#[test]
fn sigterm_without_live_restore_stops_containers_with_their_stop_signal() {
    let mut d = TestDaemon::start_with(r#"{"live-restore": false}"#, &[]);
    // Exits 143 on its stop signal, SIGTERM.
    let term = run(
        &d,
        &["sh", "-c", "trap 'exit 143' TERM; sleep 1000 & wait"],
        json!({"Name": "always"}),
        json!({}),
    );
    // SIGKILL as stop signal: 137 at once.
    let killed = create(
        &d,
        json!({"Image": image(&d), "Cmd": ["sleep", "1000"], "StopSignal": "SIGKILL"}),
    );
    start(&d, &killed);
    // Ignores SIGTERM (pid 1 without a handler): killed after its timeout.
    let stubborn = create(
        &d,
        json!({"Image": image(&d), "Cmd": ["sleep", "1000"], "StopTimeout": 1}),
    );
    start(&d, &stubborn);
    let pids: Vec<i32> = [&term, &killed, &stubborn]
        .iter()
        .map(|id| running_pid(&d, id))
        .collect();
    // The trap must be set before the signal comes.
    poll("the shell's trap to be set", || {
        fs::read_to_string(format!("/proc/{}/status", pids[0]))
            .ok()
            .filter(|s| sig_caught(s, libc::SIGTERM))
    });
    let status = d.stop();
    assert!(status.success(), "berthd exited with {status}");
    for pid in &pids {
        assert!(!alive(*pid), "pid {pid} outlived the daemon");
    }
    for (id, code) in [(&term, 143), (&killed, 137), (&stubborn, 137)] {
        let st = state_on_disk(d.data_root(), id);
        assert_eq!(st["status"], "exited", "{id}: {st}");
        assert_eq!(st["exit_code"], code, "{id}: {st}");
        // A shutdown is not a user's stop.
        assert_eq!(st["manually_stopped"], false, "{id}: {st}");
    }
    // The next start restarts the `always` one by its policy.
    let second = SecondDaemon::start(&d);
    let v = second.get(&format!("/v1.41/containers/{term}/json")).json();
    assert_eq!(v["State"]["Status"], "running", "{v}");
    let v = second
        .get(&format!("/v1.41/containers/{stubborn}/json"))
        .json();
    assert_eq!(v["State"]["Status"], "exited", "{v}");
}

#[test]
fn sigterm_lets_an_in_flight_request_finish() {
    let mut d = TestDaemon::start();
    // Ignores SIGTERM, so a stop takes its whole timeout.
    let id = create(&d, json!({"Image": image(&d), "Cmd": ["sleep", "1000"]}));
    start(&d, &id);
    running_pid(&d, &id);
    let since = now();
    let socket = d.socket_path().to_path_buf();
    let path = format!("/v1.41/containers/{id}/stop?t=2");
    let stopper = thread::spawn(move || common::try_request(&socket, "POST", &path, &[], &[]));
    // The stop is in flight once its signal went out.
    poll("the stop's kill event", || {
        (count(&actions(&d, &id, &since), "kill") > 0).then_some(())
    });
    // A stream that never ends by itself does not hold the daemon up.
    let mut events = UnixStream::connect(d.socket_path()).unwrap();
    events
        .write_all(b"GET /v1.41/events HTTP/1.1\r\nHost: berth\r\n\r\n")
        .unwrap();
    events.set_read_timeout(Some(POLL_BOUND)).unwrap();
    let mut head = [0u8; 12];
    events.read_exact(&mut head).unwrap();
    assert_eq!(&head, b"HTTP/1.1 200");
    let status = d.stop();
    assert!(status.success(), "berthd exited with {status}");
    let mut rest = Vec::new();
    events
        .read_to_end(&mut rest)
        .expect("the events stream ends with the daemon");
    let resp = stopper
        .join()
        .unwrap()
        .expect("the stop request got an answer");
    assert_eq!(resp.status, 204, "{}", resp.text());
    let st = state_on_disk(d.data_root(), &id);
    assert_eq!(st["status"], "exited", "{st}");
    assert_eq!(st["manually_stopped"], true, "{st}");
}

/// `state.json` of a container, read while no daemon runs.
fn state_on_disk(data_root: &Path, id: &str) -> Value {
    let path = data_root.join("containers").join(id).join("state.json");
    let bytes = fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap()
}

/// Whether `/proc/<pid>/status` text says the process catches `sig`.
fn sig_caught(status: &str, sig: i32) -> bool {
    status
        .lines()
        .find_map(|l| l.strip_prefix("SigCgt:"))
        .and_then(|hex| u64::from_str_radix(hex.trim(), 16).ok())
        .is_some_and(|mask| mask & (1 << (sig - 1)) != 0)
}

#[test]
fn the_clis_set_policies_and_show_restarting_containers() {
    let d = TestDaemon::start();
    let img = image(&d);
    // berth: `--restart name:count`, refused with `--rm`.
    let out = common::run(&mut d.berth(&["run", "--rm", "--restart", "always", img, "true"]));
    assert_eq!(common::code(&out), 125);
    assert!(
        common::stderr(&out)
            .starts_with("berth: conflicting options: cannot specify both --restart and --rm"),
        "{}",
        common::stderr(&out)
    );
    let id = common::run_ok(&mut d.berth(&[
        "run",
        "-d",
        "--restart",
        "on-failure:2",
        img,
        "sh",
        "-c",
        "exit 1",
    ]));
    let id = id.trim();
    let v = poll("the berth-run container to give up", || {
        let v = inspect(&d, id);
        (v["State"]["Status"] == "exited").then_some(v)
    });
    assert_eq!(v["RestartCount"], 2, "{v}");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
    assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 2);
    // docker 28: a crash loop shows as restarting in ps and inspect.
    let id = common::run_ok(&mut d.docker(&[
        "run",
        "-d",
        "--restart",
        "always",
        img,
        "sh",
        "-c",
        "exit 2",
    ]));
    let id = id.trim();
    let status = poll("docker ps to show the container restarting", || {
        let s = common::run_ok(&mut d.docker(&[
            "ps",
            "--filter",
            &format!("id={id}"),
            "--filter",
            "status=restarting",
            "--format",
            "{{.Status}}",
        ]));
        let s = s.trim().to_owned();
        (!s.is_empty()).then_some(s)
    });
    assert!(status.starts_with("Restarting (2) "), "{status}");
    let restarting = common::run_ok(&mut d.docker(&[
        "inspect",
        "--format",
        "{{.State.Status}} {{.State.Running}}",
        id,
    ]));
    // Between two runs it is restarting, or running for a moment.
    assert!(
        ["restarting true", "running true"].contains(&restarting.trim()),
        "{restarting}"
    );
    common::run_ok(&mut d.docker(&["rm", "-f", id]));
    assert_eq!(
        d.api_get(&format!("/v1.41/containers/{id}/json")).status,
        404
    );
}
