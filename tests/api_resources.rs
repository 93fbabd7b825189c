//! The resource endpoints' API contract against a real `berthd`: pause and
//! unpause conflicts (dockerd 20.10's messages), a pause that outlives a
//! daemon restart, update's body, warnings and conflicts, stats parameters,
//! and what inspect and info report about limits. The kernel effects of the
//! limits are tested in `tests/resources.rs`.

mod common;

use serde_json::{Value, json};

use common::TestDaemon;

fn daemon() -> TestDaemon {
    let d = TestDaemon::start();
    d.load_busybox("berth-busybox:latest");
    d
}

/// Creates a container from `host_config` and returns the create response.
fn create(d: &TestDaemon, name: &str, host_config: Value) -> common::ApiResponse {
    d.api_post_json(
        &format!("/v1.41/containers/create?name={name}"),
        &json!({
            "Image": "berth-busybox:latest",
            "Cmd": ["sleep", "1000"],
            "HostConfig": host_config,
        }),
    )
}

/// Creates and starts a container; returns its ID.
fn run(d: &TestDaemon, name: &str, host_config: Value) -> String {
    let resp = create(d, name, host_config);
    assert_eq!(resp.status, 201, "create {name}: {}", resp.text());
    let id = resp.json()["Id"].as_str().expect("an Id").to_owned();
    let resp = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(resp.status, 204, "start {name}: {}", resp.text());
    id
}

fn inspect(d: &TestDaemon, id: &str) -> Value {
    let resp = d.api_get(&format!("/v1.41/containers/{id}/json"));
    assert_eq!(resp.status, 200, "inspect: {}", resp.text());
    resp.json()
}

#[test]
fn pause_and_unpause_conflicts_use_dockerds_words() {
    let d = daemon();
    let id = run(&d, "berth-pause", json!({}));
    let post = |action: &str| d.api_post(&format!("/v1.41/containers/{id}/{action}"), b"");

    let resp = post("unpause");
    assert_eq!(resp.status, 409, "{}", resp.text());
    assert_eq!(
        resp.error_message(),
        format!("Container {id} is not paused")
    );

    assert_eq!(post("pause").status, 204);
    let state = &inspect(&d, &id)["State"];
    assert_eq!(state["Status"], "paused");
    assert_eq!(state["Paused"], true);
    assert_eq!(state["Running"], true);
    let resp = post("pause");
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.error_message(),
        format!("Container {id} is already paused")
    );
    let resp = post("start");
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.error_message(),
        "cannot start a paused container, try unpause instead"
    );
    let resp = d.api_delete(&format!("/v1.41/containers/{id}"));
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.error_message(),
        format!(
            "You cannot remove a paused container {id}. Unpause and then stop the container before attempting removal or force remove"
        )
    );
    let list = d
        .api_get("/v1.41/containers/json?filters=%7B%22status%22%3A%5B%22paused%22%5D%7D")
        .json();
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");
    assert!(
        list[0]["Status"]
            .as_str()
            .is_some_and(|s| s.ends_with("(Paused)")),
        "{list}"
    );
    let info = d.api_get("/v1.41/info").json();
    assert_eq!(info["ContainersPaused"], 1);
    assert_eq!(info["ContainersRunning"], 0);

    assert_eq!(post("unpause").status, 204);
    assert_eq!(inspect(&d, &id)["State"]["Status"], "running");

    assert_eq!(post("stop?t=0").status, 204);
    let resp = post("pause");
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.error_message(),
        format!("Container {id} is not running")
    );
}

#[test]
fn a_pause_outlives_a_daemon_restart_and_stop_ends_it() {
    let d = daemon();
    let id = run(&d, "berth-pause-restart", json!({}));
    let resp = d.api_post(&format!("/v1.41/containers/{id}/pause"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    let second = d.kill9_and_restart(|| {});
    let state = second.get(&format!("/v1.41/containers/{id}/json")).json()["State"].clone();
    assert_eq!(state["Status"], "paused", "{state}");
    assert_eq!(state["Paused"], true);
    // Stop thaws the container so its signal lands, as dockerd's kill does.
    let resp = second.post(&format!("/v1.41/containers/{id}/stop?t=1"));
    assert_eq!(resp.status, 204, "{}", resp.text());
    let state = second.get(&format!("/v1.41/containers/{id}/json")).json()["State"].clone();
    assert_eq!(state["Status"], "exited", "{state}");
    assert_eq!(state["Paused"], false);
    assert_eq!(state["OOMKilled"], false);
    assert_eq!(
        second.delete(&format!("/v1.41/containers/{id}")).status,
        204
    );
}

#[test]
fn update_answers_with_warnings_and_refuses_conflicts() {
    let d = daemon();
    let id = run(
        &d,
        "berth-update",
        json!({"Memory": 32 << 20, "NanoCpus": 1_000_000_000i64}),
    );
    let update = |body: Value| d.api_post_json(&format!("/v1.41/containers/{id}/update"), &body);

    let resp = update(json!({"Memory": 48 << 20, "CpuShares": 512, "PidsLimit": 40}));
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json(), json!({"Warnings": []}));
    let host = &inspect(&d, &id)["HostConfig"];
    assert_eq!(host["Memory"], 48 << 20);
    // Stored at create as twice the memory, as dockerd does.
    assert_eq!(host["MemorySwap"], 64 << 20);
    assert_eq!(host["CpuShares"], 512);
    assert_eq!(host["PidsLimit"], 40);

    let resp = update(json!({"CpuQuota": 50000}));
    assert_eq!(resp.status, 409, "{}", resp.text());
    assert_eq!(
        resp.error_message(),
        format!(
            "Cannot update container {id}: Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        )
    );
    let resp = update(json!({"Memory": 1 << 20}));
    assert_eq!(resp.status, 400);
    assert_eq!(resp.error_message(), "Minimum memory limit allowed is 6MB");
    let resp = update(json!({"Memory": 128 << 20}));
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.error_message(),
        format!(
            "Cannot update container {id}: Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
        )
    );
    // A refused update changes nothing.
    assert_eq!(inspect(&d, &id)["HostConfig"]["Memory"], 48 << 20);

    let resp = d.api_post_json(
        "/v1.41/containers/berth-no-such/update",
        &json!({"Memory": 64 << 20}),
    );
    assert_eq!(resp.status, 404);
}

#[test]
fn create_refuses_bad_limits_and_inspect_shows_dockerds_defaults() {
    let d = daemon();
    for (host, message) in [
        (
            json!({"Memory": 1 << 20}),
            "Minimum memory limit allowed is 6MB",
        ),
        (
            json!({"CpuPeriod": 100}),
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
        ),
        (
            json!({"Memory": 32 << 20, "MemorySwap": 16 << 20}),
            "Minimum memoryswap limit should be larger than memory limit, see usage",
        ),
        (
            json!({"CpusetCpus": "0-"}),
            "Invalid value 0- for cpuset cpus: invalid format: 0-",
        ),
        (
            json!({"BlkioDeviceReadBps": [{"Path": "/dev/berth-no-such-disk", "Rate": 1024}]}),
            "stat /dev/berth-no-such-disk: no such file or directory",
        ),
        (json!({"CgroupParent": "../berth-escape"}), ""),
    ] {
        let resp = create(&d, "berth-bad-limits", host.clone());
        assert_eq!(resp.status, 400, "{host}: {}", resp.text());
        if !message.is_empty() {
            assert_eq!(resp.error_message(), message, "{host}");
        }
    }

    let resp = create(&d, "berth-plain", json!({}));
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(resp.json()["Warnings"], json!([]));
    let id = resp.json()["Id"].as_str().unwrap().to_owned();
    let host = &inspect(&d, &id)["HostConfig"];
    for key in [
        "Memory",
        "MemorySwap",
        "NanoCpus",
        "CpuShares",
        "CpuQuota",
        "BlkioWeight",
    ] {
        assert_eq!(host[key], 0, "{key}: {host}");
    }
    assert_eq!(host["OomKillDisable"], false);
    assert_eq!(host["PidsLimit"], Value::Null);
    assert_eq!(host["CpusetCpus"], "");

    // dockerd's warning for a setting the runtime does not apply.
    let resp = create(&d, "berth-swappy", json!({"MemorySwappiness": 10}));
    assert_eq!(resp.status, 201, "{}", resp.text());
    assert_eq!(
        resp.json()["Warnings"],
        json!([
            "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded."
        ])
    );
}

#[test]
fn stats_parameters_and_info_follow_dockerd() {
    let d = daemon();
    let id = run(
        &d,
        "berth-stats",
        json!({"Memory": 64 << 20, "PidsLimit": 50}),
    );
    let resp = d.api_get(&format!(
        "/v1.41/containers/{id}/stats?stream=true&one-shot=true"
    ));
    assert_eq!(resp.status, 400);
    assert_eq!(
        resp.error_message(),
        "cannot have stream=true and one-shot=true"
    );

    let resp = d.api_get(&format!("/v1.41/containers/{id}/stats?stream=false"));
    assert_eq!(resp.status, 200, "{}", resp.text());
    let s = resp.json();
    assert_eq!(s["id"], id.as_str());
    assert_eq!(s["name"], "/berth-stats");
    assert_eq!(s["memory_stats"]["limit"], 64 << 20);
    assert_eq!(s["pids_stats"]["limit"], 50);
    assert!(s["pids_stats"]["current"].as_u64() >= Some(1), "{s}");
    // stream=false waits for a previous sample, so clients get a CPU delta.
    let system = s["cpu_stats"]["system_cpu_usage"].as_u64().unwrap_or(0);
    let pre_system = s["precpu_stats"]["system_cpu_usage"].as_u64().unwrap_or(0);
    assert!(pre_system > 0 && system > pre_system, "{s}");
    assert_ne!(s["preread"], "0001-01-01T00:00:00Z");
    assert!(s["cpu_stats"]["online_cpus"].as_u64() >= Some(1));

    let resp = d.api_get(&format!(
        "/v1.41/containers/{id}/stats?stream=false&one-shot=true"
    ));
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.json()["id"], id.as_str());

    let info = d.api_get("/v1.41/info").json();
    let v1 = !std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    assert_eq!(info["CgroupVersion"], if v1 { "1" } else { "2" });
    assert_eq!(info["CgroupDriver"], "cgroupfs");
    for key in [
        "MemoryLimit",
        "CpuCfsPeriod",
        "CpuCfsQuota",
        "CPUShares",
        "PidsLimit",
    ] {
        assert_eq!(info[key], true, "{key}: {info}");
    }
}

#[test]
fn streamed_stats_send_frames_until_the_container_is_removed() {
    use std::io::{Read, Write};
    let d = daemon();
    let id = run(&d, "berth-stats-stream", json!({}));
    let mut s = std::os::unix::net::UnixStream::connect(d.socket_path()).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(30)))
        .expect("read timeout");
    write!(
        s,
        "GET /v1.41/containers/{id}/stats HTTP/1.1\r\nHost: berth\r\n\r\n"
    )
    .expect("send the request");
    let mut seen = Vec::new();
    let mut buf = [0u8; 8192];
    let frames = |b: &[u8]| String::from_utf8_lossy(b).matches("{\"read\":").count();
    while frames(&seen) < 2 {
        let n = s.read(&mut buf).expect("read a frame");
        assert!(
            n > 0,
            "stream ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let text = String::from_utf8_lossy(&seen).into_owned();
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.contains(&format!("\"id\":\"{id}\"")), "{text}");
    let resp = d.api_delete(&format!("/v1.41/containers/{id}?force=1"));
    assert_eq!(resp.status, 204, "{}", resp.text());
    // The body ends (last chunk) once the container is gone.
    loop {
        let n = s.read(&mut buf).expect("read until the stream ends");
        seen.extend_from_slice(&buf[..n]);
        if n == 0 || seen.ends_with(b"0\r\n\r\n") {
            break;
        }
    }
}

#[test]
fn a_bad_cgroup_parent_stops_the_daemon_at_start() {
    common::require_root();
    let dir = common::berth_tempdir("cgparent");
    let config = dir.join("daemon.json");
    std::fs::write(&config, "{}").expect("write daemon.json");
    let mut child = common::berthd_command(
        &dir.join("berth.sock"),
        &dir.join("data"),
        &dir.join("exec"),
        &dir.join("berthd.pid"),
        &config,
    )
    .args(["--cgroup-parent", "../berth-escape"])
    .stdout(std::process::Stdio::null())
    .stderr(std::process::Stdio::piped())
    .spawn()
    .expect("run berthd");
    // A daemon that wrongly starts is stopped rather than waited for.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while child.try_wait().expect("poll berthd").is_none() && std::time::Instant::now() < deadline {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let _ = child.kill();
    let out = child.wait_with_output().expect("collect berthd's output");
    let problems = common::teardown_dir(&dir);
    assert!(!out.status.success(), "berthd started with a bad parent");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("invalid cgroup-parent: invalid cgroup parent \"../berth-escape\""),
        "{stderr}"
    );
    assert!(problems.is_empty(), "{problems:?}");
}
