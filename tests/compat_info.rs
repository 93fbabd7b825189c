//! `GET /info` and `GET /version` next to a reference dockerd 20.10 on the
//! same host (issue 10): every field dockerd answers berthd answers too, with
//! the same JSON type, and the host's figures (kernel, OS, CPUs, memory,
//! cgroups, backing filesystem, ...) are equal. Then the real docker 28 CLI
//! runs `docker info` (plain and `--format '{{json .}}'`) and `docker version`
//! against berthd and shows its figures.

mod common;

use std::path::PathBuf;

use serde_json::{Value, json};

use common::{RefDockerd, TestDaemon, run, run_ok, stderr, stdout, try_request};

fn get(socket: &std::path::Path, path: &str) -> Value {
    let r = try_request(socket, "GET", path, &[], &[]).expect("request");
    assert_eq!(r.status, 200, "GET {path}: {}", r.text());
    r.json()
}

fn dockerd_socket(d: &RefDockerd) -> PathBuf {
    PathBuf::from(d.host().strip_prefix("unix://").expect("a unix host"))
}

/// The JSON type of a value, for comparing shapes.
fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every key of `reference` (recursively through objects) is in `ours`
/// with the same JSON type; `loose` keys may be null on either side.
fn assert_same_shape(path: &str, reference: &Value, ours: &Value, loose: &[&str]) {
    let (Value::Object(r), Value::Object(o)) = (reference, ours) else {
        return;
    };
    for (k, rv) in r {
        let at = format!("{path}.{k}");
        let ov = o.get(k).unwrap_or_else(|| panic!("berthd lacks {at}"));
        if loose.contains(&at.as_str()) && (rv.is_null() || ov.is_null()) {
            continue;
        }
        assert_eq!(kind(rv), kind(ov), "{at}: dockerd {rv}, berthd {ov}");
        // Maps keyed by names (runtimes, registries) differ in their keys.
        if !matches!(k.as_str(), "Runtimes" | "IndexConfigs") {
            assert_same_shape(&at, rv, ov, loose);
        }
    }
}

#[test]
fn info_and_version_have_dockerds_fields_and_the_same_host_figures() {
    let dockerd = RefDockerd::start();
    let berthd = TestDaemon::start();
    let theirs = get(&dockerd_socket(&dockerd), "/v1.41/info");
    let ours = get(berthd.socket_path(), "/v1.41/info");
    // Warnings is null when there are none; the proxies' fields may be unset.
    assert_same_shape("", &theirs, &ours, &[".Warnings", ".Plugins.Authorization"]);
    for key in [
        "Containers",
        "ContainersRunning",
        "ContainersPaused",
        "ContainersStopped",
        "Images",
        "Driver",
        "DriverStatus",
        "MemoryLimit",
        "SwapLimit",
        "CpuCfsPeriod",
        "CpuCfsQuota",
        "CPUShares",
        "CPUSet",
        "PidsLimit",
        "OomKillDisable",
        "IPv4Forwarding",
        "BridgeNfIptables",
        "BridgeNfIp6tables",
        "LoggingDriver",
        "CgroupDriver",
        "CgroupVersion",
        "KernelVersion",
        "OperatingSystem",
        "OSVersion",
        "OSType",
        "Architecture",
        "IndexServerAddress",
        "RegistryConfig",
        "NCPU",
        "MemTotal",
        "GenericResources",
        "HttpProxy",
        "HttpsProxy",
        "NoProxy",
        "Name",
        "Labels",
        "ExperimentalBuild",
        "Swarm",
        "Isolation",
    ] {
        assert_eq!(theirs[key], ours[key], "{key}");
    }
    assert_eq!(ours["Plugins"]["Volume"], theirs["Plugins"]["Volume"]);
    for kind in ["Network", "Log"] {
        for p in ours["Plugins"][kind].as_array().unwrap() {
            assert!(
                theirs["Plugins"][kind].as_array().unwrap().contains(p),
                "{kind} plugin {p} is not one of dockerd's"
            );
        }
    }
    assert_eq!(
        theirs["Warnings"], ours["Warnings"],
        "the same host lacks the same features"
    );

    let theirs = get(&dockerd_socket(&dockerd), "/v1.41/version");
    let ours = get(berthd.socket_path(), "/v1.41/version");
    let mut reference = theirs.clone();
    // berthd records no build time; docker prints `Built:` only when set.
    reference.as_object_mut().unwrap().remove("BuildTime");
    assert_same_shape("", &reference, &ours, &[]);
    for key in ["ApiVersion", "Os", "Arch", "KernelVersion"] {
        assert_eq!(theirs[key], ours[key], "{key}");
    }
    let engine = |v: &Value| v["Components"][0].clone();
    assert_eq!(engine(&ours)["Name"], "Engine");
    let keys = |v: &Value| {
        let mut k: Vec<String> = engine(v)["Details"]
            .as_object()
            .unwrap()
            .keys()
            .filter(|k| *k != "BuildTime")
            .cloned()
            .collect();
        k.sort();
        k
    };
    assert_eq!(keys(&theirs), keys(&ours));
}

#[test]
fn docker_info_and_version_against_berthd_show_its_figures() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let r = d.api_post_json(
        "/v1.41/containers/create?name=berth-compat-info",
        &json!({"Image": "busybox:latest", "Cmd": ["true"]}),
    );
    assert_eq!(r.status, 201, "{}", r.text());
    let id = d.api_get("/v1.41/info").json()["ID"]
        .as_str()
        .unwrap()
        .to_owned();

    let out = run_ok(&mut d.docker(&["info", "--format", "{{json .}}"]));
    let v: Value = serde_json::from_str(out.trim()).expect("docker info prints JSON");
    assert_eq!(v["ID"], id.as_str());
    assert_eq!(v["Containers"], 1);
    assert_eq!(v["ContainersStopped"], 1);
    assert_eq!(v["Images"], 1);
    assert_eq!(v["Driver"], "overlay2");
    assert_eq!(
        v["DockerRootDir"],
        d.data_root().display().to_string().as_str()
    );
    assert!(v["ClientInfo"]["Version"].is_string(), "{v}");

    let o = run(&mut d.docker(&["info"]));
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    for want in [
        "Server:\n Containers: 1\n  Running: 0\n  Paused: 0\n  Stopped: 1\n Images: 1\n",
        " Storage Driver: overlay2\n  Backing Filesystem: ",
        "  Supports d_type: true\n  Native Overlay Diff: true\n  userxattr: false\n",
        " Logging Driver: json-file\n Cgroup Driver: cgroupfs\n",
        "  Volume: local\n  Network: bridge host null\n  Log: json-file\n Swarm: inactive\n",
        " Runtimes: berth\n Default Runtime: berth\n",
        " OSType: linux\n",
        " Insecure Registries:\n  127.0.0.0/8\n",
        " Live Restore Enabled: true\n",
    ] {
        assert!(out.contains(want), "docker info lacks {want:?}:\n{out}");
    }
    assert!(out.contains(&format!(" ID: {id}\n")), "{out}");
    assert!(
        out.contains(&format!(" Docker Root Dir: {}\n", d.data_root().display())),
        "{out}"
    );

    let out = run_ok(&mut d.docker(&["version"]));
    for want in [
        "\nServer: Berth Engine\n Engine:\n",
        "  API version:      1.41 (minimum version 1.24)\n",
        "  OS/Arch:          linux/",
        " berth-supervisor:\n",
    ] {
        assert!(out.contains(want), "docker version lacks {want:?}:\n{out}");
    }
    let out = run_ok(&mut d.docker(&["version", "--format", "{{.Server.Version}}"]));
    assert_eq!(out.trim(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn berth_info_prints_the_server_section_as_docker_does() {
    let d = TestDaemon::start_with(
        r#"{"insecure-registries": ["reg.berth.test:5000"], "registry-mirrors": ["https://mirror.berth.test"]}"#,
        &[],
    );
    d.load_busybox("busybox:latest");
    let server = |out: &str| -> Vec<String> {
        out.split_once("Server:\n")
            .map(|(_, s)| s)
            .unwrap_or_else(|| panic!("no Server section in:\n{out}"))
            .lines()
            .filter(|l| !l.contains("System Time:"))
            .map(str::to_owned)
            .collect()
    };
    let docker = run_ok(&mut d.docker(&["info"]));
    let berth = run_ok(&mut d.berth(&["info"]));
    // Figures that move between the two calls.
    let steady = |lines: Vec<String>| -> Vec<String> {
        lines
            .into_iter()
            .filter(|l| !l.contains("File Descriptors:") && !l.contains("Goroutines:"))
            .collect()
    };
    assert_eq!(steady(server(&berth)), steady(server(&docker)));
}
