//! The Engine API of a real `berthd`, spoken directly over its unix socket.
//! Expected shapes, statuses and messages were recorded from dockerd 20.10
//! (Debian docker.io) where Berth promises the same behaviour.

mod common;

use std::fs;
use std::os::unix::process::ExitStatusExt;
use std::process::Stdio;

use common::{TestDaemon, run};
use serde_json::{Value, json};

#[test]
fn ping_answers_get_and_head_with_version_headers() {
    let d = TestDaemon::start();
    for resp in [d.api_get("/_ping"), d.api_get("/v1.41/_ping")] {
        assert_eq!(resp.status, 200);
        assert_eq!(resp.header("Api-Version"), Some("1.41"));
        assert_eq!(resp.header("OSType"), Some("linux"));
        assert_eq!(resp.text(), "OK");
    }
    let head = d.api_head("/_ping");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Api-Version"), Some("1.41"));
    assert_eq!(head.header("OSType"), Some("linux"));
    assert!(head.body.is_empty());
}

#[test]
fn version_has_dockers_shape_on_plain_and_versioned_paths() {
    let d = TestDaemon::start();
    for path in ["/version", "/v1.41/version", "/v1.24/version"] {
        let resp = d.api_get(path);
        assert_eq!(resp.status, 200, "{path}: {}", resp.text());
        assert!(
            resp.header("Content-Type")
                .is_some_and(|c| c.starts_with("application/json")),
            "{path}: content type {:?}",
            resp.header("Content-Type")
        );
        let v = resp.json();
        assert_eq!(v["ApiVersion"], "1.41", "{path}: {v}");
        assert_eq!(v["MinAPIVersion"], "1.24", "{path}: {v}");
        assert_eq!(v["Os"], "linux");
        assert_eq!(v["Arch"], "amd64", "Docker's GOARCH name, not uname's");
        for key in ["Version", "GitCommit", "KernelVersion", "GoVersion"] {
            assert!(
                v[key].is_string(),
                "{path}: {key} missing or not a string in {v}"
            );
        }
        assert!(!v["Version"].as_str().unwrap_or_default().is_empty());
        let components = v["Components"].as_array().expect("Components is an array");
        let engine = components
            .iter()
            .find(|c| c["Name"] == "Engine")
            .unwrap_or_else(|| panic!("no Engine component in {v}"));
        assert_eq!(engine["Version"], v["Version"]);
        assert_eq!(engine["Details"]["ApiVersion"], "1.41");
        assert_eq!(engine["Details"]["MinAPIVersion"], "1.24");
    }
}

#[test]
fn info_has_the_fields_clients_read() {
    let d = TestDaemon::start();
    let resp = d.api_get("/v1.41/info");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let v = resp.json();
    for key in [
        "Containers",
        "ContainersRunning",
        "ContainersPaused",
        "ContainersStopped",
        "Images",
        "NCPU",
        "MemTotal",
    ] {
        assert!(v[key].is_u64(), "{key} missing or not a count in {v}");
    }
    for key in [
        "ID",
        "Name",
        "ServerVersion",
        "OperatingSystem",
        "OSType",
        "Architecture",
        "KernelVersion",
        "DockerRootDir",
        "Driver",
        "LoggingDriver",
        "CgroupDriver",
    ] {
        assert!(v[key].is_string(), "{key} missing or not a string in {v}");
    }
    assert_eq!(v["OSType"], "linux");
    assert_eq!(
        v["Architecture"], "x86_64",
        "Docker reports uname's machine here"
    );
    assert_eq!(v["Containers"], 0);
    assert_eq!(v["Images"], 0);
    assert_eq!(
        v["DockerRootDir"],
        d.data_root().to_str().expect("utf-8 path")
    );
    assert!(v["NCPU"].as_u64().is_some_and(|n| n >= 1));
    d.load_busybox("busybox:latest");
    assert_eq!(d.api_get("/info").json()["Images"], 1);
}

#[test]
fn unknown_endpoint_is_404_with_a_json_message() {
    let d = TestDaemon::start();
    for path in [
        "/nope",
        "/v1.41/containers/json/extra/bits",
        "/v1.41/definitely-not-an-endpoint",
        // What docs/compat.md lists as not offered: Docker's 404 shape.
        "/v1.41/swarm",
        "/v1.41/services",
        "/v1.41/plugins",
        "/v1.41/images/search?term=busybox",
        "/v1.41/distribution/busybox/json",
    ] {
        let resp = d.api_get(path);
        assert_eq!(resp.status, 404, "{path}: {}", resp.text());
        assert!(!resp.error_message().is_empty());
    }
}

#[test]
fn api_versions_outside_the_supported_range_are_rejected_like_dockerd() {
    let d = TestDaemon::start();
    let old = d.api_get("/v1.12/version");
    assert_eq!(old.status, 400, "{}", old.text());
    assert!(
        old.text()
            .contains("client version 1.12 is too old. Minimum supported API version is 1.24"),
        "{}",
        old.text()
    );
    let new = d.api_get("/v1.99/version");
    assert_eq!(new.status, 400, "{}", new.text());
    assert!(
        new.error_message()
            .contains("client version 1.99 is too new. Maximum supported API version is 1.41"),
        "{}",
        new.text()
    );
    // Every version in range is served, including the oldest.
    for v in ["1.24", "1.30", "1.40", "1.41"] {
        let resp = d.api_get(&format!("/v{v}/_ping"));
        assert_eq!(resp.status, 200, "v{v}: {}", resp.text());
    }
}

#[test]
fn a_second_daemon_on_the_same_data_root_refuses_with_exit_1() {
    let d = TestDaemon::start();
    let other = d.dir().join("second");
    fs::create_dir(&other).expect("create the second daemon's dir");
    let config = other.join("daemon.json");
    fs::write(&config, "{}").expect("write daemon.json");
    let mut cmd = common::berthd_command(
        &other.join("berth.sock"),
        d.data_root(),
        &other.join("exec"),
        &other.join("berthd.pid"),
        &config,
    );
    let out = run(&mut cmd);
    assert_eq!(out.status.code(), Some(1), "second berthd: {out:?}");
    let err = common::stderr(&out);
    assert!(
        err.contains(d.data_root().to_str().expect("utf-8 path")),
        "the refusal should name the data root: {err}"
    );
    // The first daemon is unaffected.
    assert_eq!(d.api_get("/_ping").status, 200);
}

#[test]
fn sigterm_stops_cleanly_and_removes_socket_and_pidfile() {
    let mut d = TestDaemon::start();
    let pid = fs::read_to_string(d.pidfile()).expect("berthd writes its pidfile");
    assert_eq!(
        pid.trim(),
        d.pid().to_string(),
        "pidfile holds berthd's pid"
    );
    assert!(d.socket_path().exists());
    let status = d.stop();
    assert!(
        status.success(),
        "berthd exit after SIGTERM: {status:?} (signal {:?})",
        status.signal()
    );
    assert!(!d.socket_path().exists(), "socket left behind");
    assert!(!d.pidfile().exists(), "pidfile left behind");
}

#[test]
fn load_list_inspect_tag_history_and_remove_images() {
    let d = TestDaemon::start();
    let (archive, id) = d.busybox_archive("busybox:latest");
    let tar = fs::read(&archive).expect("read the archive");
    let resp = d.api(
        "POST",
        "/v1.41/images/load",
        &[("Content-Type", "application/x-tar")],
        &tar,
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    // A JSON-lines progress stream that announces the reference like dockerd.
    let lines: Vec<Value> = resp
        .text()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("load line {l:?}: {e}")))
        .collect();
    assert!(
        lines
            .iter()
            .any(|l| l["stream"] == "Loaded image: busybox:latest\n"),
        "load output: {lines:?}"
    );

    let list = d.api_get("/v1.41/images/json").json();
    let images = list.as_array().expect("images/json is an array");
    assert_eq!(images.len(), 1, "{list}");
    let img = &images[0];
    assert_eq!(img["Id"], id.as_str());
    assert_eq!(img["RepoTags"], json!(["busybox:latest"]));
    assert!(
        img["RepoDigests"].is_array() || img["RepoDigests"].is_null(),
        "{img}"
    );
    assert!(
        img["Labels"].is_object() || img["Labels"].is_null(),
        "{img}"
    );
    assert!(img["Created"].as_i64().is_some_and(|c| c > 0), "{img}");
    assert!(
        img["Size"].as_i64().is_some_and(|s| s > 1_000_000),
        "busybox is ~2MB: {img}"
    );
    for key in ["ParentId", "SharedSize", "Containers"] {
        assert!(!img[key].is_null(), "{key} missing: {img}");
    }

    let inspect = d.api_get("/v1.41/images/busybox:latest/json");
    assert_eq!(inspect.status, 200, "{}", inspect.text());
    let v = inspect.json();
    assert_eq!(v["Id"], id.as_str());
    assert_eq!(v["RepoTags"], json!(["busybox:latest"]));
    assert_eq!(v["Os"], "linux");
    assert_eq!(v["Architecture"], "amd64");
    assert_eq!(v["Config"]["Cmd"], json!(["sh"]));
    assert_eq!(v["RootFS"]["Type"], "layers");
    assert!(
        v["RootFS"]["Layers"]
            .as_array()
            .is_some_and(|l| !l.is_empty()
                && l.iter()
                    .all(|d| d.as_str().is_some_and(|s| s.starts_with("sha256:")))),
        "{v}"
    );
    // By ID, by short ID and by name without tag.
    let short = &id["sha256:".len().."sha256:".len() + 12];
    for name in [id.as_str(), short, "busybox"] {
        let r = d.api_get(&format!("/v1.41/images/{name}/json"));
        assert_eq!(r.status, 200, "inspect {name}: {}", r.text());
        assert_eq!(r.json()["Id"], id.as_str());
    }
    let missing = d.api_get("/v1.41/images/berth-no-such-image/json");
    assert_eq!(missing.status, 404);
    assert!(
        missing
            .error_message()
            .to_lowercase()
            .contains("no such image"),
        "{}",
        missing.text()
    );

    let tag = d.api_post(
        "/v1.41/images/busybox:latest/tag?repo=berthtest/bb&tag=v1",
        b"",
    );
    assert_eq!(tag.status, 201, "{}", tag.text());
    let tags = d.api_get("/v1.41/images/busybox/json").json()["RepoTags"].clone();
    let mut tags: Vec<String> = serde_json::from_value(tags).expect("RepoTags are strings");
    tags.sort();
    assert_eq!(tags, ["berthtest/bb:v1", "busybox:latest"]);

    let history = d.api_get("/v1.41/images/busybox/history");
    assert_eq!(history.status, 200, "{}", history.text());
    let h = history.json();
    let entries = h.as_array().expect("history is an array");
    assert!(!entries.is_empty());
    assert_eq!(
        entries[0]["Id"],
        id.as_str(),
        "newest entry first, carrying the image ID"
    );
    for e in entries {
        for key in ["Id", "Created", "CreatedBy", "Size", "Comment"] {
            assert!(!e[key].is_null(), "{key} missing in history entry {e}");
        }
    }

    // Removing one of two tags only untags.
    let untag = d.api_delete("/v1.41/images/berthtest/bb:v1");
    assert_eq!(untag.status, 200, "{}", untag.text());
    assert_eq!(untag.json(), json!([{"Untagged": "berthtest/bb:v1"}]));
    assert_eq!(d.api_get(&format!("/v1.41/images/{id}/json")).status, 200);

    // Removing the last tag deletes the image and its layers.
    let del = d.api_delete("/v1.41/images/busybox:latest");
    assert_eq!(del.status, 200, "{}", del.text());
    let items = del.json();
    let items = items.as_array().expect("delete answers an array").clone();
    assert_eq!(items[0], json!({"Untagged": "busybox:latest"}));
    assert!(items.contains(&json!({"Deleted": id})), "{items:?}");
    assert_eq!(d.api_get(&format!("/v1.41/images/{id}/json")).status, 404);
    assert_eq!(d.api_get("/v1.41/images/json").json(), json!([]));
    let again = d.api_delete("/v1.41/images/busybox:latest");
    assert_eq!(again.status, 404);
    assert!(
        again.error_message().contains("No such image"),
        "{}",
        again.text()
    );
}

/// Creates a container from `busybox:latest` running `cmd`, attaches, starts
/// it, waits; returns (stdout, stderr, exit code) and removes it.
fn run_via_api(d: &TestDaemon, body: Value) -> (String, String, i64) {
    let create = d.api_post_json("/v1.41/containers/create", &body);
    assert_eq!(create.status, 201, "create: {}", create.text());
    let created = create.json();
    let id = created["Id"]
        .as_str()
        .expect("create returns an Id")
        .to_string();
    assert_eq!(id.len(), 64, "{created}");
    assert!(
        created["Warnings"].is_array() || created["Warnings"].is_null(),
        "{created}"
    );
    let attach = d.api_attach(&id);
    let start = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(start.status, 204, "start: {}", start.text());
    let wait = d.api_post(&format!("/v1.41/containers/{id}/wait"), b"");
    assert_eq!(wait.status, 200, "wait: {}", wait.text());
    let code = wait.json()["StatusCode"]
        .as_i64()
        .expect("wait returns StatusCode");
    let (out, err) = attach.demux();
    let rm = d.api_delete(&format!("/v1.41/containers/{id}"));
    assert_eq!(rm.status, 204, "rm: {}", rm.text());
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
        code,
    )
}

#[test]
fn run_via_create_attach_start_wait_reports_output_and_exit_codes() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let spec = |cmd: &[&str]| json!({"Image": "busybox:latest", "Cmd": cmd, "AttachStdout": true, "AttachStderr": true});

    assert_eq!(
        run_via_api(&d, spec(&["echo", "hi"])),
        ("hi\n".into(), String::new(), 0)
    );
    assert_eq!(
        run_via_api(&d, spec(&["sh", "-c", "echo out; echo err >&2; exit 3"])),
        ("out\n".into(), "err\n".into(), 3)
    );
    // A shell reporting a child killed by SIGKILL exits 128 + 9.
    let (_, _, code) = run_via_api(&d, spec(&["sh", "-c", "sh -c 'kill -9 $$'; exit $?"]));
    assert_eq!(code, 137);
    // The image's Cmd applies when none is given; env and workdir apply.
    let (out, _, code) = run_via_api(
        &d,
        json!({"Image": "busybox:latest", "Cmd": ["sh", "-c", "echo $FOO; pwd; id -u"], "Env": ["FOO=bar"],
               "WorkingDir": "/tmp", "User": "nobody", "AttachStdout": true, "AttachStderr": true}),
    );
    assert_eq!((out.as_str(), code), ("bar\n/tmp\n65534\n", 0));
}

#[test]
fn start_of_a_missing_executable_fails_like_dockerd() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    for (cmd, needle) in [
        ("berth-nonexistent", "executable file not found"),
        ("/etc", "permission denied"),
    ] {
        let create = d.api_post_json(
            "/v1.41/containers/create",
            &json!({"Image": "busybox:latest", "Cmd": [cmd]}),
        );
        assert_eq!(create.status, 201, "create: {}", create.text());
        let id = create.json()["Id"].as_str().expect("Id").to_string();
        let start = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
        // dockerd answers 400 for a command that cannot be started, and records 127/126.
        assert_eq!(start.status, 400, "start {cmd}: {}", start.text());
        assert!(
            start.error_message().contains(needle),
            "start {cmd}: {}",
            start.text()
        );
        let inspect = d.api_get(&format!("/v1.41/containers/{id}/json")).json();
        let expected = if cmd == "/etc" { 126 } else { 127 };
        assert_eq!(inspect["State"]["ExitCode"], expected, "{inspect}");
        assert_eq!(
            d.api_delete(&format!("/v1.41/containers/{id}?force=1"))
                .status,
            204
        );
    }
}

#[test]
fn a_container_killed_from_outside_exits_137() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let create = d.api_post_json(
        "/v1.41/containers/create",
        &json!({"Image": "busybox:latest", "Cmd": ["sleep", "1000"]}),
    );
    assert_eq!(create.status, 201, "{}", create.text());
    let id = create.json()["Id"].as_str().expect("Id").to_string();
    assert_eq!(
        d.api_post(&format!("/v1.41/containers/{id}/start"), b"")
            .status,
        204
    );
    let kill = d.api_post(&format!("/v1.41/containers/{id}/kill"), b"");
    assert_eq!(kill.status, 204, "{}", kill.text());
    let wait = d.api_post(&format!("/v1.41/containers/{id}/wait"), b"");
    assert_eq!(wait.json()["StatusCode"], 137, "{}", wait.text());
    assert_eq!(d.api_delete(&format!("/v1.41/containers/{id}")).status, 204);
}

#[test]
fn removing_an_image_used_by_a_container_needs_force() {
    let d = TestDaemon::start();
    let id = d.load_busybox("busybox:latest");
    let create = d.api_post_json(
        "/v1.41/containers/create",
        &json!({"Image": "busybox:latest", "Cmd": ["true"]}),
    );
    assert_eq!(create.status, 201, "{}", create.text());
    let cid = create.json()["Id"].as_str().expect("Id").to_string();
    let refused = d.api_delete("/v1.41/images/busybox:latest");
    assert_eq!(refused.status, 409, "{}", refused.text());
    let msg = refused.error_message();
    assert!(
        msg.contains("must force") && msg.contains(&cid[..12]),
        "{msg}"
    );
    assert_eq!(d.api_get(&format!("/v1.41/images/{id}/json")).status, 200);
    let forced = d.api_delete("/v1.41/images/busybox:latest?force=1");
    assert_eq!(forced.status, 200, "{}", forced.text());
    assert_eq!(forced.json()[0], json!({"Untagged": "busybox:latest"}));
    assert_eq!(
        d.api_delete(&format!("/v1.41/containers/{cid}")).status,
        204
    );
}

#[test]
fn image_load_of_garbage_is_a_client_error() {
    let d = TestDaemon::start();
    let resp = d.api(
        "POST",
        "/v1.41/images/load",
        &[("Content-Type", "application/x-tar")],
        b"this is not a tar archive",
    );
    // dockerd answers 200 and reports the failure in the stream; either way an error must be visible.
    let text = resp.text();
    assert!(
        resp.status == 400 || (resp.status == 200 && text.contains("\"error")),
        "{}: {text}",
        resp.status
    );
    assert_eq!(d.api_get("/v1.41/images/json").json(), json!([]));
    // The daemon still serves.
    let mut ping = d.berth(&["version"]);
    assert!(run(ping.stdin(Stdio::null())).status.success());
}

/// Sends `archive` to `POST /images/load`. The hostile-layer test does not
/// care whether the daemon refuses or confines an entry (dockerd confines,
/// unpacking in a chroot); only a write outside the data root is a failure,
/// and the daemon must stay up.
fn load_hostile(d: &TestDaemon, archive: &[u8]) {
    let resp = d.api(
        "POST",
        "/v1.41/images/load",
        &[("Content-Type", "application/x-tar")],
        archive,
    );
    assert!(
        resp.status == 200 || resp.status == 400,
        "load of a hostile archive answered {}: {}",
        resp.status,
        resp.text()
    );
}

#[test]
fn hostile_layers_never_write_outside_the_data_root() {
    use tar::EntryType::{Directory, Regular, Symlink};
    let d = TestDaemon::start();
    let outside = d.dir().join("berth-outside");
    fs::create_dir(&outside).expect("create the canary dir");
    let rel = outside.to_str().expect("utf-8").trim_start_matches('/');
    let up = "../".repeat(12);

    // `..` climbing out of the layer.
    let mut l = Vec::new();
    common::raw_entry(
        &mut l,
        &format!("{up}{rel}/dotdot"),
        Regular,
        "",
        b"escaped",
    );
    let (archive, _) = common::docker_archive(&[common::raw_finish(l)], "berthtest/dotdot:1");
    load_hostile(&d, &archive);

    // An absolute symlink, then a file written through it: must stay inside.
    let mut l = Vec::new();
    common::raw_entry(
        &mut l,
        "link",
        Symlink,
        outside.to_str().expect("utf-8"),
        b"",
    );
    common::raw_entry(&mut l, "link/through-symlink", Regular, "", b"escaped");
    let (archive, _) = common::docker_archive(&[common::raw_finish(l)], "berthtest/symlink:1");
    load_hostile(&d, &archive);

    // A symlink in one layer, a file through it in the next.
    let mut l1 = Vec::new();
    common::raw_entry(&mut l1, "dir", Symlink, &format!("{up}{rel}"), b"");
    let mut l2 = Vec::new();
    common::raw_entry(&mut l2, "dir/", Directory, "", b"");
    common::raw_entry(&mut l2, "dir/across-layers", Regular, "", b"escaped");
    let (archive, _) = common::docker_archive(
        &[common::raw_finish(l1), common::raw_finish(l2)],
        "berthtest/layers:1",
    );
    load_hostile(&d, &archive);

    let written: Vec<_> = fs::read_dir(&outside)
        .expect("read the canary dir")
        .map(|e| e.expect("dir entry").file_name())
        .collect();
    assert!(
        written.is_empty(),
        "hostile layers wrote outside: {written:?}"
    );
    // The daemon still works.
    assert_eq!(d.api_get("/_ping").status, 200);
}
