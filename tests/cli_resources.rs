//! `berth` resource commands (`run`/`create` limit flags, `stats`, `pause`,
//! `unpause`, `update`): the exact requests the CLI sends and the exact
//! output it prints, against a scripted fake of berthd on a unix socket (no
//! root); and, with root, the same commands against a real berthd.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// One request as the fake daemon saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    body: Vec<u8>,
}

impl Seen {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("a JSON body")
    }
}

/// (method, path prefix after `/v1.41`, status, body); the first match wins.
/// Status 0 answers 200 with a body that never comes (the connection stays
/// open until the test ends).
type Route = (&'static str, String, u16, Vec<u8>);

/// A fake berthd: canned answers by route, every request recorded. The
/// listener thread is detached and dies with the test process; the socket's
/// directory goes with the guard.
struct FakeDaemon {
    dir: tempfile::TempDir,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl FakeDaemon {
    fn start(routes: Vec<Route>) -> FakeDaemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-cli-resources")
            .tempdir()
            .expect("temp dir");
        let listener = UnixListener::bind(dir.path().join("berth.sock")).expect("bind");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (s, routes) = (seen.clone(), Arc::new(routes));
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (s, routes) = (s.clone(), routes.clone());
                thread::spawn(move || serve(conn, &s, &routes));
            }
        });
        FakeDaemon { dir, seen }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("berth.sock")
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("lock").clone()
    }

    fn berth(&self, args: &[&str]) -> Output {
        berth_command(&self.host(), args)
            .output()
            .expect("run berth")
    }
}

fn berth_command(host: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
    cmd.arg("-H")
        .arg(host)
        .args(args)
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn serve(conn: UnixStream, seen: &Mutex<Vec<Seen>>, routes: &[Route]) {
    let Ok(mut writer) = conn.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(conn);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or_default().to_string();
    let target = parts.next().unwrap_or_default().to_string();
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_lowercase(), v.trim().to_string());
        }
    }
    let mut body = Vec::new();
    if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().unwrap_or(0), 0);
        let _ = reader.read_exact(&mut body);
    }
    let path = target.strip_prefix("/v1.41").unwrap_or(&target).to_string();
    seen.lock().expect("lock").push(Seen {
        method: method.clone(),
        path: path.clone(),
        body,
    });
    let (status, reply) = routes
        .iter()
        .find(|(m, p, _, _)| *m == method && path.starts_with(p.as_str()))
        .map(|(_, _, s, b)| (*s, b.clone()))
        .unwrap_or((404, br#"{"message":"page not found"}"#.to_vec()));
    if status == 0 {
        let _ = writer.write_all(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
        );
        let _ = writer.flush();
        loop {
            thread::park();
        }
    }
    let head = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        reply.len()
    );
    let _ = writer.write_all(head.as_bytes());
    let _ = writer.write_all(&reply);
    let _ = writer.flush();
    let _ = writer.shutdown(std::net::Shutdown::Both);
}

fn route(method: &'static str, path: &str, status: u16, body: &Value) -> Route {
    let bytes = if body.is_null() {
        Vec::new()
    } else {
        body.to_string().into_bytes()
    };
    (method, path.to_string(), status, bytes)
}

fn not_found(method: &'static str, path: &str, what: &str) -> Route {
    route(
        method,
        path,
        404,
        &json!({"message": format!("No such container: {what}")}),
    )
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

const ID: &str = "7392214da6b966d69827a0517751c79ae0af77dade7d1849d1e9783f35cf87cb";

/// A cgroup v1 sample in dockerd's shape.
fn sample(name: &str) -> Value {
    json!({
        "read": "2026-11-22T03:14:00.5Z", "preread": "2026-11-22T03:13:59.5Z",
        "name": format!("/{name}"), "id": ID,
        "pids_stats": {"current": 3, "limit": 20},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 8, "minor": 0, "op": "Read", "value": 1200},
            {"major": 8, "minor": 0, "op": "Write", "value": 4096}
        ]},
        "num_procs": 0,
        "cpu_stats": {"cpu_usage": {"total_usage": 1_500_000_000u64}, "system_cpu_usage": 20_000_000_000u64, "online_cpus": 2},
        "precpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000u64}, "system_cpu_usage": 18_000_000_000u64, "online_cpus": 2},
        "memory_stats": {"usage": 2_097_152, "limit": 33_554_432, "stats": {"total_inactive_file": 524_288}},
        "networks": {"eth0": {"rx_bytes": 2234, "tx_bytes": 10}}
    })
}

const TABLE: &str = "CONTAINER ID   NAME       CPU %     MEM USAGE / LIMIT   MEM %     NET I/O        BLOCK I/O       PIDS\n\
                     7392214da6b9   berth-s1   50.00%    1.5MiB / 32MiB      4.69%     2.23kB / 10B   1.2kB / 4.1kB   3\n";

#[test]
fn limit_flags_reach_the_create_body_as_docker_sends_them() {
    let d = FakeDaemon::start(vec![route(
        "POST",
        "/containers/create",
        201,
        &json!({"Id": ID, "Warnings": []}),
    )]);
    let out = d.berth(&[
        "create",
        "-m",
        "32m",
        "--memory-swap",
        "-1",
        "--memory-reservation",
        "16M",
        "--oom-kill-disable",
        "--cpus",
        "0.5",
        "-c",
        "512",
        "--cpuset-cpus",
        "0",
        "--pids-limit",
        "20",
        "--blkio-weight",
        "300",
        "--device-write-bps",
        "/dev/sda:1mb",
        "--cgroup-parent",
        "berth-parent",
        "busybox",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), format!("{ID}\n"));
    let create = d
        .seen()
        .into_iter()
        .find(|s| s.path.starts_with("/containers/create"))
        .expect("a create request");
    let h = &create.json()["HostConfig"];
    let expect = json!({
        "Memory": 33554432, "MemorySwap": -1, "MemoryReservation": 16777216,
        "MemorySwappiness": -1, "OomKillDisable": true, "NanoCpus": 500000000,
        "CpuShares": 512, "CpuPeriod": 0, "CpuQuota": 0, "CpusetCpus": "0", "CpusetMems": "",
        "PidsLimit": 20, "BlkioWeight": 300, "CgroupParent": "berth-parent",
        "BlkioDeviceReadBps": [], "BlkioDeviceWriteBps": [{"Path": "/dev/sda", "Rate": 1048576}],
    });
    for (k, v) in expect.as_object().expect("object") {
        assert_eq!(&h[k], v, "HostConfig.{k}");
    }
}

#[test]
fn bad_limit_values_exit_125_before_any_request() {
    let d = FakeDaemon::start(vec![]);
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "-m", "1x", "busybox"],
            "invalid argument \"1x\" for \"-m, --memory\" flag: invalid suffix: 'x'",
        ),
        (
            &["create", "--memory", "-1", "busybox"],
            "invalid argument \"-1\" for \"-m, --memory\" flag: invalid size: '-1'",
        ),
        (
            &["run", "--cpus", "0.0000000001", "busybox"],
            "invalid argument \"0.0000000001\" for \"--cpus\" flag: value is too precise",
        ),
        (
            &["run", "--pids-limit", "x", "busybox"],
            "invalid argument \"x\" for \"--pids-limit\" flag: strconv.ParseInt: parsing \"x\": invalid syntax",
        ),
        (
            &["update", "-m", "1x", "c"],
            "invalid argument \"1x\" for \"-m, --memory\" flag: invalid suffix: 'x'",
        ),
        (
            &["run", "--memory-swappiness", "200", "busybox"],
            "berth: invalid value: 200. Valid memory swappiness range is 0-100",
        ),
    ];
    for (argv, first_line) in cases {
        let out = d.berth(argv);
        assert_eq!(out.status.code(), Some(125), "{argv:?}");
        let err = text(&out.stderr);
        assert_eq!(err.lines().next(), Some(*first_line), "{argv:?}: {err}");
    }
    let usage_err = text(&d.berth(&["run", "-m", "1x", "busybox"]).stderr);
    assert!(
        usage_err.contains("\n\nUsage:  berth run [OPTIONS] IMAGE [COMMAND] [ARG...]\n\nRun 'berth run --help' for more information"),
        "{usage_err}"
    );
    assert!(d.seen().is_empty(), "{:?}", d.seen());
}

#[test]
fn stats_no_stream_prints_docker_table_and_json() {
    let d = FakeDaemon::start(vec![
        route(
            "GET",
            "/containers/berth-s1/stats",
            200,
            &sample("berth-s1"),
        ),
        not_found("GET", "/containers/nosuch/stats", "nosuch"),
    ]);
    let out = d.berth(&["stats", "--no-stream", "berth-s1"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), TABLE);
    assert!(
        d.seen()
            .iter()
            .any(|s| s.method == "GET" && s.path == "/containers/berth-s1/stats?stream=0"),
        "{:?}",
        d.seen()
    );
    let out = d.berth(&[
        "container",
        "stats",
        "--no-stream",
        "--no-trunc",
        "--format",
        "json",
        "berth-s1",
    ]);
    assert_eq!(
        text(&out.stdout),
        format!(
            "{{\"BlockIO\":\"1.2kB / 4.1kB\",\"CPUPerc\":\"50.00%\",\"Container\":\"berth-s1\",\"ID\":\"{ID}\",\"MemPerc\":\"4.69%\",\"MemUsage\":\"1.5MiB / 32MiB\",\"Name\":\"berth-s1\",\"NetIO\":\"2.23kB / 10B\",\"PIDs\":\"3\"}}\n"
        )
    );
    // One missing container: docker prints only the error.
    let out = d.berth(&["stats", "--no-stream", "berth-s1", "nosuch"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such container: nosuch\n"
    );
}

#[test]
fn stats_give_up_on_a_silent_stream_like_docker() {
    let d = FakeDaemon::start(vec![(
        "GET",
        "/containers/berth-mute/stats".into(),
        0,
        Vec::new(),
    )]);
    let out = d.berth(&["stats", "--no-stream", "berth-mute"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(text(&out.stderr), "timeout waiting for stats\n");
}

#[test]
fn stats_without_names_follows_the_container_list() {
    let d = FakeDaemon::start(vec![
        route(
            "GET",
            "/containers/json",
            200,
            &json!([{"Id": ID, "Names": ["/berth-s1"]}]),
        ),
        route(
            "GET",
            &format!("/containers/{}/stats", &ID[..12]),
            200,
            &sample("berth-s1"),
        ),
    ]);
    let out = d.berth(&[
        "stats",
        "--no-stream",
        "--format",
        "table {{.Container}}\\t{{.Name}}\\t{{.PIDs}}",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout),
        "CONTAINER      NAME       PIDS\n7392214da6b9   berth-s1   3\n"
    );
    let out = d.berth(&["stats", "-a", "--no-stream"]);
    assert_eq!(text(&out.stdout), TABLE);
    let lists: Vec<String> = d
        .seen()
        .into_iter()
        .filter(|s| s.path.starts_with("/containers/json"))
        .map(|s| s.path)
        .collect();
    assert_eq!(lists, ["/containers/json", "/containers/json?all=1"]);
}

/// Reads `child`'s stdout until `done` holds for what came so far (bounded,
/// so a broken CLI fails the test instead of hanging it), then kills it.
fn read_until(mut child: Child, done: impl Fn(&str) -> bool) -> String {
    let mut stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n) = stdout.read(&mut buf) {
            if n == 0 || tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut seen = Vec::new();
    while !done(&text(&seen)) && Instant::now() < deadline {
        if let Ok(chunk) = rx.recv_timeout(Duration::from_millis(200)) {
            seen.extend(chunk);
        }
    }
    let _ = child.kill();
    let _ = child.wait();
    text(&seen)
}

#[test]
fn stats_stream_redraws_in_place_and_marks_an_ended_stream() {
    // The fake sends one sample and closes: the stream ended, as when a
    // container stops, so the next frames show docker's dashes.
    let d = FakeDaemon::start(vec![route(
        "GET",
        "/containers/berth-s1/stats",
        200,
        &sample("berth-s1"),
    )]);
    let child = berth_command(&d.host(), &["stats", "berth-s1"])
        .spawn()
        .expect("spawn berth stats");
    // Name and ID stay; every figure becomes docker's "--".
    let ended = |frame: &str| {
        frame.lines().any(|l| {
            l.starts_with("7392214da6b9   berth-s1   --   ")
                && l.contains("   -- / --   ")
                && l.ends_with("   -- \x1b[K")
        })
    };
    let out = read_until(child, |s| s.split("\x1b[H").any(ended));
    assert!(out.split("\x1b[H").any(ended), "{out:?}");
    // Every frame: cursor home, each line with erase-to-end, erase below.
    assert!(out.starts_with("\x1b[HCONTAINER ID   NAME "), "{out:?}");
    let frames: Vec<&str> = out.split("\x1b[H").skip(1).collect();
    for frame in &frames[..frames.len() - 1] {
        assert!(frame.ends_with(" \x1b[K\n\x1b[J"), "{frame:?}");
        assert!(
            frame
                .trim_end_matches("\x1b[J")
                .lines()
                .all(|l| l.ends_with(" \x1b[K")),
            "{frame:?}"
        );
    }
    assert!(
        d.seen()
            .iter()
            .any(|s| s.path == "/containers/berth-s1/stats?stream=1")
    );
}

#[test]
fn pause_and_unpause_report_each_container() {
    let d = FakeDaemon::start(vec![
        route("POST", "/containers/a/pause", 204, &Value::Null),
        route("POST", "/containers/b/pause", 204, &Value::Null),
        not_found("POST", "/containers/nosuch/pause", "nosuch"),
        route(
            "POST",
            "/containers/a/unpause",
            409,
            &json!({"message": "Container a is not paused"}),
        ),
    ]);
    let out = d.berth(&["pause", "a", "nosuch", "b"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "a\nb\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such container: nosuch\n"
    );
    let out = d.berth(&["container", "unpause", "a"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: Container a is not paused\n"
    );
    let out = d.berth(&["pause"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).starts_with("berth: 'berth pause' requires at least 1 argument\n\nUsage:  berth pause CONTAINER [CONTAINER...]"),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn update_sends_docker_update_config() {
    let d = FakeDaemon::start(vec![
        route(
            "POST",
            "/containers/a/update",
            200,
            &json!({"Warnings": ["berth-warning"]}),
        ),
        not_found("POST", "/containers/nosuch/update", "nosuch"),
    ]);
    let out = d.berth(&[
        "update",
        "-m",
        "64m",
        "--memory-swap",
        "128m",
        "--cpus",
        "1.5",
        "--pids-limit",
        "-1",
        "--restart",
        "on-failure:3",
        "a",
        "nosuch",
    ]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "a\nberth-warning\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such container: nosuch\n"
    );
    let update = d
        .seen()
        .into_iter()
        .find(|s| s.path == "/containers/a/update")
        .expect("an update request");
    let b = update.json();
    assert_eq!(b["Memory"], 67108864);
    assert_eq!(b["MemorySwap"], 134217728);
    assert_eq!(b["NanoCpus"], 1500000000);
    assert_eq!(b["PidsLimit"], -1);
    assert_eq!(b["CpuShares"], 0);
    assert_eq!(b["MemorySwappiness"], Value::Null);
    assert_eq!(
        b["RestartPolicy"],
        json!({"Name": "on-failure", "MaximumRetryCount": 3})
    );
    let out = d.berth(&["update", "a"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "you must provide one or more flags when using this command\n"
    );
}

/// With root: the commands against a real berthd and a real container.
#[test]
fn limits_stats_pause_and_update_on_a_real_daemon() {
    common::require_root();
    let d = common::TestDaemon::start();
    d.load_busybox("busybox:latest");
    let name = "berth-cli-res";
    let run = common::run(&mut d.berth(&[
        "run",
        "-d",
        "--name",
        name,
        "-m",
        "32m",
        "--pids-limit",
        "20",
        "busybox",
        "sleep",
        "1000",
    ]));
    assert_eq!(common::code(&run), 0, "{}", common::stderr(&run));
    let stats = common::run_ok(&mut d.berth(&[
        "stats",
        "--no-stream",
        "--format",
        "{{.Name}}|{{.MemUsage}}|{{.PIDs}}",
        name,
    ]));
    let fields: Vec<&str> = stats.trim_end().split('|').collect();
    assert_eq!(fields.len(), 3, "{stats}");
    assert_eq!(fields[0], name);
    assert!(fields[1].ends_with(" / 32MiB"), "{stats}");
    assert_eq!(fields[2], "1", "{stats}");

    assert_eq!(
        common::run_ok(&mut d.berth(&["pause", name])),
        format!("{name}\n")
    );
    let status = |d: &common::TestDaemon| {
        common::run_ok(&mut d.berth(&["inspect", "-f", "{{.State.Status}}", name]))
    };
    assert_eq!(status(&d), "paused\n");
    let again = common::run(&mut d.berth(&["pause", name]));
    assert_eq!(common::code(&again), 1);
    assert!(
        common::stderr(&again).contains("is already paused"),
        "{}",
        common::stderr(&again)
    );
    assert_eq!(
        common::run_ok(&mut d.berth(&["container", "unpause", name])),
        format!("{name}\n")
    );
    assert_eq!(status(&d), "running\n");

    assert_eq!(
        common::run_ok(&mut d.berth(&["update", "-m", "64m", "--memory-swap", "128m", name])),
        format!("{name}\n")
    );
    let memory = common::run_ok(&mut d.berth(&["inspect", "-f", "{{.HostConfig.Memory}}", name]));
    assert_eq!(memory, "67108864\n");
    let stats =
        common::run_ok(&mut d.berth(&["stats", "--no-stream", "--format", "{{.MemUsage}}", name]));
    assert!(stats.trim_end().ends_with(" / 64MiB"), "{stats}");
    common::run_ok(&mut d.berth(&["rm", "-f", name]));
}
