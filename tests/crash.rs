//! Crash recovery of a real `berthd` (issue 11): `kill -9` of the daemon and
//! of every container supervisor, then a daemon start, must leave a
//! consistent state: formerly running containers exited with an exit code,
//! the others unchanged, no processes, mounts, veths, netns or cgroups of
//! dead containers left, damaged state quarantined (not dropped), half-made
//! state dirs and interrupted removals deleted, and everything still
//! removable and runnable. Also: a start the crash cut short before it was
//! recorded, and a reboot that emptied the exec root (no netns, veths or
//! cgroups left, only the records saying they exist).

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde_json::{Value, json};

use berth::runtime::state::read_supervisor_info;
use common::{RestartedDaemon, TestDaemon, mounts_below, processes_under};

/// Bound for polling loops; reaching it fails the test (it asserts nothing
/// about speed, it only stops a hung test).
const POLL_BOUND: Duration = Duration::from_secs(60);

/// Polls `f` until it returns `Some`, failing with `what` after [`POLL_BOUND`].
fn poll<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::poll(what, POLL_BOUND, f)
}

const IMAGE: &str = "berth-busybox:latest";

/// `POST /containers/create?name=` with busybox running `cmd`; returns the ID.
fn create(d: &TestDaemon, name: &str, cmd: &[&str], host: Value) -> String {
    let resp = d.api_post_json(
        &format!("/v1.41/containers/create?name={name}"),
        &json!({"Image": IMAGE, "Cmd": cmd, "HostConfig": host}),
    );
    assert_eq!(resp.status, 201, "create {name}: {}", resp.text());
    resp.json()["Id"].as_str().expect("Id").to_owned()
}

fn start(d: &TestDaemon, id: &str) {
    let resp = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(resp.status, 204, "start {id}: {}", resp.text());
}

fn inspect(d: &TestDaemon, id: &str) -> Value {
    let resp = d.api_get(&format!("/v1.41/containers/{id}/json"));
    assert_eq!(resp.status, 200, "inspect {id}: {}", resp.text());
    resp.json()
}

fn is_alive(pid: i32) -> bool {
    fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
        s.rfind(')')
            .and_then(|i| s[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z")
    })
}

/// What a running container holds on the host, read from the daemon's files.
struct Held {
    id: String,
    pid: i32,
    supervisor: i32,
    veths: Vec<String>,
    netns: PathBuf,
    cgroups: Vec<PathBuf>,
}

fn held(d: &TestDaemon, id: &str) -> Held {
    let pid = inspect(d, id)["State"]["Pid"].as_i64().expect("Pid") as i32;
    let run_dir = d.exec_root().join("containers").join(id);
    let supervisor = read_supervisor_info(&run_dir)
        .unwrap_or_else(|| panic!("supervisor.json of {id}"))
        .supervisor_pid;
    let sb_path = d
        .data_root()
        .join("network/sandboxes")
        .join(format!("{id}.json"));
    let sb: Value = serde_json::from_slice(&fs::read(&sb_path).expect("sandbox file")).unwrap();
    let veths = sb["endpoints"]
        .as_array()
        .expect("endpoints")
        .iter()
        .map(|e| e["host_ifname"].as_str().expect("host_ifname").to_owned())
        .collect();
    let state: Value = serde_json::from_slice(
        &fs::read(d.data_root().join("containers").join(id).join("state.json")).unwrap(),
    )
    .unwrap();
    let cgroups = state["cgroup"]["dirs"]
        .as_object()
        .map(|m| {
            m.values()
                .map(|p| PathBuf::from(p.as_str().unwrap()))
                .collect()
        })
        .unwrap_or_default();
    Held {
        id: id.to_owned(),
        pid,
        supervisor,
        veths,
        netns: PathBuf::from(sb["netns"].as_str().expect("netns")),
        cgroups,
    }
}

/// SIGKILLs the supervisors and waits until they are gone.
fn kill_supervisors(held: &[Held]) {
    for h in held {
        assert!(
            is_alive(h.supervisor),
            "supervisor of {} already dead",
            h.id
        );
        kill(Pid::from_raw(h.supervisor), Signal::SIGKILL).expect("kill -9 a supervisor");
    }
    for h in held {
        poll(&format!("the supervisor of {} to die", h.id), || {
            (!is_alive(h.supervisor)).then_some(())
        });
    }
}

/// Asserts nothing of `h` is left on the host.
fn assert_released(d: &TestDaemon, h: &Held) {
    assert!(!is_alive(h.pid), "process of {} still alive", h.id);
    for v in &h.veths {
        assert!(
            !Path::new("/sys/class/net").join(v).exists(),
            "veth {v} of {} leaked",
            h.id
        );
    }
    assert!(!h.netns.exists(), "netns {} leaked", h.netns.display());
    for cg in &h.cgroups {
        assert!(!cg.exists(), "cgroup {} leaked", cg.display());
    }
    let run_dir = d.exec_root().join("containers").join(&h.id);
    assert!(!run_dir.exists(), "{} leaked", run_dir.display());
}

/// Mounts below the daemon's roots, but the netns directory's own bind
/// mount (kept for the daemon's lifetime, like `/run/netns`).
fn stray_mounts(d: &TestDaemon) -> Vec<PathBuf> {
    let netns_dir = d.exec_root().join("netns");
    [d.data_root(), d.exec_root()]
        .iter()
        .flat_map(|root| mounts_below(root))
        .filter(|p| *p != netns_dir)
        .collect()
}

/// Fails if a recovery step of the restarted daemon failed (each is logged
/// as "crash recovery step failed"); asserts that recovery did something.
fn assert_recovered_cleanly(d: &TestDaemon) {
    let log = fs::read_to_string(d.dir().join("berthd-restarted.log")).unwrap_or_default();
    assert!(
        !log.contains("crash recovery step failed"),
        "a recovery step failed:\n{log}"
    );
    assert!(
        log.contains("crash recovery done"),
        "no recovery logged:\n{log}"
    );
}

/// Whether an IPAM pool of the daemon leases an address to container `id`.
fn leases_of(d: &TestDaemon, id: &str) -> bool {
    fs::read_dir(d.data_root().join("network/ipam"))
        .unwrap()
        .map(|e| serde_json::from_slice::<Value>(&fs::read(e.unwrap().path()).unwrap()).unwrap())
        .any(|pool| {
            pool["leases"]
                .as_object()
                .is_some_and(|l| l.values().any(|owner| owner == id))
        })
}

fn listed(r: &RestartedDaemon) -> BTreeSet<String> {
    let resp = r.get("/v1.41/containers/json?all=1");
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Id"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn kill9_of_daemon_and_supervisors_then_start_is_consistent() {
    let d = TestDaemon::start();
    d.load_busybox(IMAGE);
    let running = create(&d, "berth-crash-run", &["sleep", "1000"], json!({}));
    start(&d, &running);
    // A paused container's processes take the SIGKILL of their dying
    // supervisor only once thawed.
    let paused = create(&d, "berth-crash-paused", &["sleep", "1000"], json!({}));
    start(&d, &paused);
    let resp = d.api_post(&format!("/v1.41/containers/{paused}/pause"), b"");
    assert_eq!(resp.status, 204, "pause: {}", resp.text());
    let created = create(&d, "berth-crash-created", &["true"], json!({}));
    let exited = create(&d, "berth-crash-exited", &["sh", "-c", "exit 3"], json!({}));
    start(&d, &exited);
    let resp = d.api_post(&format!("/v1.41/containers/{exited}/wait"), b"");
    assert_eq!(resp.json()["StatusCode"], 3, "{}", resp.text());
    let damaged = create(&d, "berth-crash-damaged", &["true"], json!({}));
    // An `rm` cut short right after it renamed the dir out of the way: every
    // file is still there, and the container must not come back.
    let removed = create(&d, "berth-crash-removed", &["true"], json!({}));

    let victims = [held(&d, &running), held(&d, &paused)];
    let containers = d.data_root().join("containers");
    let half_made = containers.join("f".repeat(64));
    let torn = containers.join(&created).join(".tmp-Q1w2E3");
    let before_exited = inspect(&d, &exited)["State"].clone();
    let torn_network = d.data_root().join("network/networks/berth-torn.json");
    let half_removed = containers.join(format!(".removing-{removed}"));

    let r = d.kill9_and_restart(|| {
        kill_supervisors(&victims);
        // Disk damage (state files are written atomically, so only damage
        // tears one), an interrupted create, an interrupted atomic write.
        fs::write(
            containers.join(&damaged).join("state.json"),
            br#"{"version":1,"status":"cre"#,
        )
        .unwrap();
        fs::create_dir(&half_made).unwrap();
        fs::write(
            half_made.join("hostconfig.json"),
            serde_json::to_vec(&json!({})).unwrap(),
        )
        .unwrap();
        fs::write(&torn, b"{\"half").unwrap();
        fs::rename(containers.join(&removed), &half_removed).unwrap();
        fs::write(&torn_network, b"{\"name\": \"berth-").unwrap();
    });

    assert_recovered_cleanly(&d);
    // Every container accounted for; the damaged one is out of the table
    // but kept, with the reason, in the quarantine.
    let ids = listed(&r);
    let want: BTreeSet<String> = [&running, &paused, &created, &exited]
        .into_iter()
        .cloned()
        .collect();
    assert_eq!(ids, want);
    let quarantine = d.data_root().join("quarantine/containers");
    let q: Vec<PathBuf> = fs::read_dir(&quarantine)
        .expect("quarantine dir")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(q.len(), 1, "{q:?}");
    assert!(
        q[0].file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with(&damaged)
    );
    let reason = fs::read_to_string(q[0].join("reason.txt")).unwrap();
    assert!(reason.contains("state.json"), "{reason}");
    assert!(!half_made.exists(), "the half-made container dir stayed");
    assert!(!torn.exists(), "the temp file of a torn write stayed");
    assert!(!half_removed.exists(), "an interrupted rm was not finished");
    assert!(!torn_network.exists(), "a torn network record stayed");
    let moved: Vec<String> = fs::read_dir(d.data_root().join("quarantine/network/networks"))
        .expect("quarantined network records")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(moved.len(), 2, "{moved:?}");
    assert!(
        moved.iter().all(|n| n.starts_with("berth-torn.json-")),
        "{moved:?}"
    );
    // /info keeps saying so, one line each, until a person removes them.
    let warned = |r: &RestartedDaemon| -> Vec<String> {
        let info = r.get("/v1.41/info").json();
        info["Warnings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|w| w.as_str())
            .filter(|w| w.contains("quarantined"))
            .map(str::to_owned)
            .collect()
    };
    let w = warned(&r);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w.iter()
            .any(|l| l.contains(&q[0].display().to_string()) && l.contains("state.json")),
        "{w:?}"
    );
    assert!(w.iter().any(|l| l.contains("berth-torn.json-")), "{w:?}");

    // Formerly running: exited with an exit code; the others unchanged.
    for h in &victims {
        let st = &r.get(&format!("/v1.41/containers/{}/json", h.id)).json()["State"];
        assert_eq!(st["Status"], "exited", "{st}");
        assert_eq!(st["Running"], false, "{st}");
        assert_eq!(st["Paused"], false, "{st}");
        assert_eq!(st["Pid"], 0, "{st}");
        assert!(st["ExitCode"].as_i64().unwrap() != 0, "{st}");
        assert_released(&d, h);
    }
    let st = &r.get(&format!("/v1.41/containers/{created}/json")).json()["State"];
    assert_eq!(st["Status"], "created", "{st}");
    let st = &r.get(&format!("/v1.41/containers/{exited}/json")).json()["State"];
    assert_eq!(*st, before_exited);

    // Nothing of the dead ones left on the host.
    assert_eq!(stray_mounts(&d), Vec::<PathBuf>::new());
    assert_eq!(
        processes_under(&d.exec_root().join("containers")),
        Vec::<i32>::new()
    );

    // Everything can be removed, and a new container runs.
    for id in &ids {
        let resp = r.delete(&format!("/v1.41/containers/{id}"));
        assert_eq!(resp.status, 204, "rm {id}: {}", resp.text());
    }
    assert!(listed(&r).is_empty());
    let fresh = create(&d, "berth-crash-fresh", &["sleep", "1000"], json!({}));
    start(&d, &fresh);
    let h = held(&d, &fresh);
    assert!(is_alive(h.pid));
    let resp = d.api_delete(&format!("/v1.41/containers/{fresh}?force=1"));
    assert_eq!(resp.status, 204, "rm -f: {}", resp.text());
    assert_released(&d, &h);
    assert_eq!(stray_mounts(&d), Vec::<PathBuf>::new());
    drop(r);
}

#[test]
fn a_start_cut_short_by_the_crash_leaves_nothing_running() {
    // The daemon died after the supervisor started the container but before
    // it recorded the start: the record says "created", the processes run.
    let d = TestDaemon::start();
    d.load_busybox(IMAGE);
    let id = create(&d, "berth-crash-midstart", &["sleep", "1000"], json!({}));
    let recorded = d
        .data_root()
        .join("containers")
        .join(&id)
        .join("state.json");
    let before = fs::read(&recorded).unwrap();
    start(&d, &id);
    let h = held(&d, &id);
    let r = d.kill9_and_restart(|| {
        assert!(is_alive(h.supervisor) && is_alive(h.pid));
        fs::write(&recorded, &before).unwrap();
    });
    assert_recovered_cleanly(&d);
    let st = &r.get(&format!("/v1.41/containers/{id}/json")).json()["State"];
    assert_eq!(st["Status"], "created", "{st}");
    assert!(
        !is_alive(h.supervisor),
        "the unrecorded supervisor lives on"
    );
    assert_released(&d, &h);
    assert_eq!(stray_mounts(&d), Vec::<PathBuf>::new());
    // And it starts again as if the first start never happened.
    let resp = r.post(&format!("/v1.41/containers/{id}/start"));
    assert_eq!(resp.status, 204, "start again: {}", resp.text());
    let st = &r.get(&format!("/v1.41/containers/{id}/json")).json()["State"];
    assert_eq!(st["Status"], "running", "{st}");
    let resp = r.delete(&format!("/v1.41/containers/{id}?force=1"));
    assert_eq!(resp.status, 204, "rm -f: {}", resp.text());
}

#[test]
fn a_reboot_that_emptied_the_exec_root_is_recovered() {
    // What a host reboot leaves: the data root, but no processes, no exec
    // root (a tmpfs), no netns, veths or cgroups.
    let d = TestDaemon::start();
    d.load_busybox(IMAGE);
    let id = create(&d, "berth-crash-reboot", &["sleep", "1000"], json!({}));
    start(&d, &id);
    let h = held(&d, &id);
    assert!(leases_of(&d, &id), "no address leased to the container");
    let r = d.kill9_and_restart(|| {
        kill_supervisors(std::slice::from_ref(&h));
        poll("the container to die with its supervisor", || {
            (!is_alive(h.pid)).then_some(())
        });
        for m in mounts_below(d.exec_root()) {
            nix::mount::umount2(&m, nix::mount::MntFlags::MNT_DETACH)
                .unwrap_or_else(|e| panic!("unmount {}: {e}", m.display()));
        }
        fs::remove_dir_all(d.exec_root()).unwrap();
        for cg in &h.cgroups {
            poll(
                &format!("rmdir {}", cg.display()),
                || match fs::remove_dir(cg) {
                    Ok(()) => Some(()),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Some(()),
                    Err(_) => None,
                },
            );
        }
        // The unpinned netns is gone once its last process is: its veth too.
        for v in &h.veths {
            poll(&format!("veth {v} to go with its netns"), || {
                (!Path::new("/sys/class/net").join(v).exists()).then_some(())
            });
        }
    });
    let log = fs::read_to_string(d.dir().join("berthd-restarted.log")).unwrap_or_default();
    assert!(!log.contains("crash recovery step failed"), "{log}");
    let st = &r.get(&format!("/v1.41/containers/{id}/json")).json()["State"];
    assert_eq!(st["Status"], "exited", "{st}");
    assert!(st["ExitCode"].as_i64().unwrap() != 0, "{st}");
    let sandbox = d
        .data_root()
        .join("network/sandboxes")
        .join(format!("{id}.json"));
    assert!(
        !sandbox.exists(),
        "the dead container's sandbox record stayed"
    );
    // Its address went back to the pool.
    assert!(!leases_of(&d, &id), "a lease of the dead container stayed");
    // And it starts again.
    let resp = r.post(&format!("/v1.41/containers/{id}/start"));
    assert_eq!(resp.status, 204, "start again: {}", resp.text());
    let again = held(&d, &id);
    assert!(is_alive(again.pid));
    let resp = r.delete(&format!("/v1.41/containers/{id}?force=1"));
    assert_eq!(resp.status, 204, "rm -f: {}", resp.text());
    assert_released(&d, &again);
    assert_eq!(stray_mounts(&d), Vec::<PathBuf>::new());
}
