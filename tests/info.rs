//! `GET /info` and `GET /version` of a real `berthd` (issue 10), through the
//! API and the `berth` CLI: the figures follow what the daemon holds right
//! after containers are created, started, paused and stopped and images are
//! loaded and committed; the engine ID is stable across restarts; host
//! figures are the host's; the registry settings come from daemon.json.
//!
//! The shape is dockerd 20.10.24's, recorded with `curl --unix-socket` against
//! a throw-away dockerd on this machine; `tests/compat_info.rs` compares the
//! two daemons field by field and runs the real docker CLI against berthd.

mod common;

use serde_json::{Value, json};

use common::{TestDaemon, run_ok};

/// `GET /v1.41/info` as JSON.
fn info(d: &TestDaemon) -> Value {
    let r = d.api_get("/v1.41/info");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// Creates a container running `cmd` from busybox; returns its ID.
fn create(d: &TestDaemon, name: &str, cmd: &[&str]) -> String {
    let r = d.api_post_json(
        &format!("/v1.41/containers/create?name={name}"),
        &json!({"Image": "busybox:latest", "Cmd": cmd}),
    );
    assert_eq!(r.status, 201, "create {name}: {}", r.text());
    r.json()["Id"].as_str().expect("an Id").to_owned()
}

fn post_ok(d: &TestDaemon, path: &str) {
    let r = d.api_post(path, b"");
    assert!(r.status < 300, "POST {path}: {} {}", r.status, r.text());
}

/// The four counters, in `(Containers, Running, Paused, Stopped)` order.
fn counts(i: &Value) -> (i64, i64, i64, i64) {
    let n = |k: &str| i[k].as_i64().unwrap_or_else(|| panic!("{k} in {i}"));
    (
        n("Containers"),
        n("ContainersRunning"),
        n("ContainersPaused"),
        n("ContainersStopped"),
    )
}

#[test]
fn counts_follow_create_start_pause_stop_and_images() {
    let d = TestDaemon::start();
    let i = info(&d);
    assert_eq!(counts(&i), (0, 0, 0, 0));
    assert_eq!(i["Images"], 0);
    d.load_busybox("busybox:latest");
    assert_eq!(info(&d)["Images"], 1);

    let created = create(&d, "berth-info-created", &["true"]);
    assert_eq!(
        counts(&info(&d)),
        (1, 0, 0, 1),
        "a created container is stopped"
    );
    let running = create(&d, "berth-info-running", &["sleep", "1000"]);
    post_ok(&d, &format!("/v1.41/containers/{running}/start"));
    assert_eq!(counts(&info(&d)), (2, 1, 0, 1));
    let paused = create(&d, "berth-info-paused", &["sleep", "1000"]);
    post_ok(&d, &format!("/v1.41/containers/{paused}/start"));
    post_ok(&d, &format!("/v1.41/containers/{paused}/pause"));
    assert_eq!(counts(&info(&d)), (3, 1, 1, 1), "paused is not running");
    let exited = create(&d, "berth-info-exited", &["true"]);
    post_ok(&d, &format!("/v1.41/containers/{exited}/start"));
    post_ok(&d, &format!("/v1.41/containers/{exited}/wait"));
    assert_eq!(counts(&info(&d)), (4, 1, 1, 2));

    // A commit adds an image; the CLI shows the same figures.
    post_ok(
        &d,
        &format!("/v1.41/commit?container={exited}&repo=berth-info-commit&tag=v1"),
    );
    assert_eq!(info(&d)["Images"], 2);
    let out = run_ok(&mut d.berth(&["info"]));
    assert!(
        out.contains(
            "Server:\n Containers: 4\n  Running: 1\n  Paused: 1\n  Stopped: 2\n Images: 2\n"
        ),
        "{out}"
    );
    let out = run_ok(&mut d.berth(&[
        "info",
        "--format",
        "{{.Containers}} {{.ContainersRunning}} {{.ContainersPaused}} {{.ContainersStopped}} {{.Images}}",
    ]));
    assert_eq!(out.trim(), "4 1 1 2 2");

    // Unpause, stop and remove: the counters come back down.
    post_ok(&d, &format!("/v1.41/containers/{paused}/unpause"));
    assert_eq!(counts(&info(&d)), (4, 2, 0, 2));
    post_ok(&d, &format!("/v1.41/containers/{running}/kill"));
    post_ok(&d, &format!("/v1.41/containers/{running}/wait"));
    assert_eq!(counts(&info(&d)), (4, 1, 0, 3));
    for id in [&created, &running, &exited] {
        let r = d.api_delete(&format!("/v1.41/containers/{id}"));
        assert_eq!(r.status, 204, "{}", r.text());
    }
    assert_eq!(counts(&info(&d)), (1, 1, 0, 0));
}

#[test]
fn host_figures_are_the_hosts() {
    let d = TestDaemon::start();
    let i = info(&d);
    let uname_r = run_ok(std::process::Command::new("uname").arg("-r"));
    assert_eq!(i["KernelVersion"], uname_r.trim());
    let hostname = run_ok(&mut std::process::Command::new("hostname"));
    assert_eq!(i["Name"], hostname.trim());
    let nproc = run_ok(&mut std::process::Command::new("nproc"));
    assert_eq!(i["NCPU"].as_i64(), nproc.trim().parse::<i64>().ok());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap();
    let kb: i64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemTotal in /proc/meminfo");
    assert_eq!(i["MemTotal"].as_i64(), Some(kb * 1024));
    let os_release = std::fs::read_to_string("/etc/os-release").unwrap();
    let pretty = os_release
        .lines()
        .find_map(|l| l.strip_prefix("PRETTY_NAME="))
        .map(|v| v.trim_matches('"'))
        .expect("PRETTY_NAME");
    assert_eq!(i["OperatingSystem"], pretty);
    assert_eq!(i["OSType"], "linux");
    assert_eq!(i["Architecture"], std::env::consts::ARCH);
    assert_eq!(
        i["DockerRootDir"],
        d.data_root().display().to_string().as_str()
    );
    assert_eq!(i["Driver"], "overlay2");
    let status: Vec<(String, String)> = i["DriverStatus"]
        .as_array()
        .expect("DriverStatus")
        .iter()
        .map(|p| {
            (
                p[0].as_str().unwrap().to_owned(),
                p[1].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let keys: Vec<&str> = status.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        [
            "Backing Filesystem",
            "Supports d_type",
            "Native Overlay Diff",
            "userxattr"
        ]
    );
    // The test dirs live under /tmp; `stat -f` names its filesystem type.
    let fs_type = run_ok(std::process::Command::new("stat").args([
        "-f",
        "-c",
        "%T",
        d.data_root().to_str().unwrap(),
    ]));
    let want = match fs_type.trim() {
        "ext2/ext3" => "extfs",
        other => other,
    };
    assert_eq!(status[0].1, want);
    assert_eq!(status[1].1, "true");
    assert_eq!(i["CgroupDriver"], "cgroupfs");
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(i["CgroupVersion"], if v2 { "2" } else { "1" });
    assert_eq!(i["LoggingDriver"], "json-file");
    assert_eq!(i["Plugins"]["Volume"], json!(["local"]));
    assert_eq!(i["Plugins"]["Network"], json!(["bridge", "host", "null"]));
    assert_eq!(i["Plugins"]["Log"], json!(["json-file"]));
    assert_eq!(i["ServerVersion"], env!("CARGO_PKG_VERSION"));
    assert_eq!(i["DefaultRuntime"], "berth");
    assert!(i["Runtimes"]["berth"]["path"].is_string(), "{i}");
    assert_eq!(i["Swarm"]["LocalNodeState"], "inactive");
    // The harness starts every berthd with `--debug` (tests/common).
    assert_eq!(i["Debug"], true);
    let forwarding = std::fs::read_to_string("/proc/sys/net/ipv4/ip_forward").unwrap();
    assert_eq!(i["IPv4Forwarding"], forwarding.trim() == "1");
    let time = i["SystemTime"].as_str().expect("SystemTime");
    let t = chrono::DateTime::parse_from_rfc3339(time).expect("SystemTime is RFC 3339");
    let skew = (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds();
    assert!((0..600).contains(&skew), "SystemTime {time} is not now");
    assert!(i["NFd"].as_i64().unwrap() > 0);
}

#[test]
fn engine_id_is_kept_in_the_data_root_and_survives_a_restart() {
    let d = TestDaemon::start();
    let id = info(&d)["ID"].as_str().expect("an ID").to_owned();
    assert_eq!(id.split(':').count(), 12, "{id}");
    let file = std::fs::read_to_string(d.data_root().join("engine-id")).unwrap();
    assert_eq!(file.trim(), id);
    let restarted = d.kill9_and_restart(|| {});
    let again = restarted.get("/v1.41/info").json();
    assert_eq!(again["ID"], id.as_str());
    drop(restarted);
    let other = TestDaemon::start();
    assert_ne!(
        info(&other)["ID"],
        id.as_str(),
        "each data root has its own ID"
    );
}

#[test]
fn registry_config_comes_from_the_daemon_config_and_debug_from_the_flag() {
    let d = TestDaemon::start_with(
        r#"{"insecure-registries": ["reg.berth.test:5000", "10.99.0.0/16"],
            "registry-mirrors": ["https://mirror.berth.test"]}"#,
        &[],
    );
    let i = info(&d);
    let rc = &i["RegistryConfig"];
    assert_eq!(
        rc["InsecureRegistryCIDRs"],
        json!(["10.99.0.0/16", "127.0.0.0/8"])
    );
    assert_eq!(rc["Mirrors"], json!(["https://mirror.berth.test/"]));
    assert_eq!(rc["IndexConfigs"]["reg.berth.test:5000"]["Secure"], false);
    assert_eq!(
        rc["IndexConfigs"]["docker.io"]["Mirrors"],
        json!(["https://mirror.berth.test/"])
    );
    assert_eq!(i["Debug"], true);
    let out = run_ok(&mut d.berth(&["info"]));
    assert!(
        out.contains(
            " Insecure Registries:\n  reg.berth.test:5000\n  10.99.0.0/16\n  127.0.0.0/8\n Registry Mirrors:\n  https://mirror.berth.test/\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(" Debug Mode: true\n  File Descriptors: "),
        "{out}"
    );
}

#[test]
fn version_names_the_engine_and_the_supervisor() {
    let d = TestDaemon::start();
    let r = d.api_get("/v1.41/version");
    assert_eq!(r.status, 200);
    let v = r.json();
    assert_eq!(v["Version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(v["ApiVersion"], "1.41");
    assert_eq!(v["Os"], "linux");
    let names: Vec<&str> = v["Components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Engine", "berth-supervisor"]);
    assert_eq!(v["Components"][0]["Details"]["ApiVersion"], "1.41");
    let out = run_ok(&mut d.berth(&["version"]));
    assert!(out.contains("\nServer: Berth Engine\n Engine:\n"), "{out}");
    assert!(out.contains(" berth-supervisor:\n"), "{out}");
    let out = run_ok(&mut d.berth(&["version", "--format", "{{.Server.Version}}"]));
    assert_eq!(out.trim(), env!("CARGO_PKG_VERSION"));
}
