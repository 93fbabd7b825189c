//! berthd as a systemd service: the units pass `systemd-analyze verify`,
//! socket activation under `systemd-socket-activate` serves the API on the
//! inherited socket, and a fake `NOTIFY_SOCKET` receives `READY=1` only once
//! the API answers with restored state, and `STOPPING=1` on SIGTERM.
//!
//! PID 1 here (and in CI) is not systemd, so nothing is started with
//! systemctl; Debian's systemd package provides the two tools.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::thread;
use std::time::{Duration, Instant};

use common::service::{BOUND, NotifySocket, Pki, ServiceDaemon, curl_version, free_port};
use common::{TestDaemon, berthd_command, run, stderr, stdout, try_request};

const UNITS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/contrib/systemd");

fn unit(name: &str) -> String {
    fs::read_to_string(Path::new(UNITS).join(name))
        .unwrap_or_else(|e| panic!("read contrib/systemd/{name}: {e}"))
}

/// `key=value` lines of a unit, comments and section headers left out.
fn settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.starts_with('['))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .collect()
}

#[test]
fn units_pass_systemd_analyze_verify() {
    let dir = tempfile::Builder::new()
        .prefix("berth-units-")
        .tempdir()
        .expect("create a temp dir");
    // verify checks that ExecStart's binary exists: point it at the one
    // cargo built, keeping everything else as installed.
    let service = unit("berthd.service").replace("/usr/bin/berthd", env!("CARGO_BIN_EXE_berthd"));
    fs::write(dir.path().join("berthd.service"), service).unwrap();
    fs::write(dir.path().join("berthd.socket"), unit("berthd.socket")).unwrap();
    let out = run(Command::new("systemd-analyze")
        .args(["verify", "--man=no", "./berthd.socket", "./berthd.service"])
        .current_dir(dir.path()));
    assert!(
        out.status.success() && stderr(&out).trim().is_empty(),
        "systemd-analyze verify: {}\n{}{}",
        out.status,
        stdout(&out),
        stderr(&out)
    );
}

#[test]
fn units_have_dockerds_service_shape() {
    let service = settings(&unit("berthd.service"));
    for (k, v) in [
        ("Type", "notify"),
        ("ExecStart", "/usr/bin/berthd -H fd://"),
        ("Requires", "berthd.socket"),
        ("Delegate", "yes"),
        ("KillMode", "process"),
        ("LimitNOFILE", "infinity"),
        ("TasksMax", "infinity"),
        ("OOMScoreAdjust", "-500"),
        ("Restart", "always"),
    ] {
        assert!(
            service.iter().any(|(a, b)| a == k && b == v),
            "berthd.service lacks {k}={v}: {service:?}"
        );
    }
    let socket = settings(&unit("berthd.socket"));
    for (k, v) in [
        ("ListenStream", "/run/berth/berth.sock"),
        ("SocketMode", "0660"),
        ("SocketUser", "root"),
        ("SocketGroup", "berth"),
    ] {
        assert!(
            socket.iter().any(|(a, b)| a == k && b == v),
            "berthd.socket lacks {k}={v}: {socket:?}"
        );
    }
}

/// Waits (bounded) until the launcher has created the socket.
fn wait_for_socket(d: &mut ServiceDaemon) {
    let path = d.socket.clone();
    let deadline = Instant::now() + BOUND;
    while !path.exists() {
        if let Some(status) = d.exited() {
            panic!(
                "the launcher exited ({status}) before creating {}",
                path.display()
            );
        }
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn socket_activation_serves_the_api_on_the_inherited_socket() {
    let mut d = ServiceDaemon::prepare("sdactivate");
    let notify = NotifySocket::bind(&d.dir);
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.arg("-l")
        .arg(&d.socket)
        .arg("-E")
        .arg(format!("NOTIFY_SOCKET={}", notify.path.display()))
        .arg(env!("CARGO_BIN_EXE_berthd"))
        .args(["-H", "fd://"])
        .args(d.args());
    d.spawn(cmd);
    // systemd-socket-activate binds, then execs berthd (same pid) on the
    // first connection, which waits in the backlog until berthd serves it.
    wait_for_socket(&mut d);
    let inode = fs::metadata(&d.socket).unwrap().ino();
    let ping = try_request(&d.socket, "GET", "/_ping", &[], &[]).expect("GET /_ping");
    assert_eq!(ping.status, 200, "{}", ping.text());
    let version = try_request(&d.socket, "GET", "/v1.41/version", &[], &[]).expect("GET /version");
    assert_eq!(version.status, 200);
    assert!(
        version.json()["ApiVersion"].is_string(),
        "{}",
        version.text()
    );
    let seen = notify.until("READY=1");
    assert!(
        seen.iter().any(|m| m.contains("STATUS=restoring state")),
        "{seen:?}"
    );
    // berthd served the socket it was given instead of binding its own.
    assert_eq!(fs::metadata(&d.socket).unwrap().ino(), inode);
    assert!(
        d.log_text()
            .contains(&format!("fd://{}", d.socket.display())),
        "{}",
        d.log_text()
    );
    kill_and_expect_stopping(&mut d, &notify);
    // The socket belongs to the service manager: berthd leaves it.
    assert_eq!(fs::metadata(&d.socket).unwrap().ino(), inode);
}

/// `socket:[inode]` links of a process' open files.
fn open_sockets(pid: i32) -> Vec<String> {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| fs::read_link(e.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .filter(|l| l.starts_with("socket:"))
        .collect()
}

#[test]
fn containers_of_a_socket_activated_daemon_inherit_neither_its_socket_nor_listen_fds() {
    let mut d = ServiceDaemon::prepare("sdleak");
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.arg("-l")
        .arg(&d.socket)
        .arg(env!("CARGO_BIN_EXE_berthd"))
        .args(["-H", "fd://"])
        .args(d.args());
    d.spawn(cmd);
    wait_for_socket(&mut d);
    let api = |method: &str, path: &str, body: &[u8]| {
        try_request(
            &d.socket,
            method,
            path,
            &[("Content-Type", "application/json")],
            body,
        )
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"))
    };
    assert_eq!(api("GET", "/_ping", b"").status, 200);
    let archive = d.dir.join("busybox.tar");
    berth::image::fixture::busybox_docker_archive(&archive, "berth-sdleak:latest").unwrap();
    let loaded = api("POST", "/v1.41/images/load", &fs::read(&archive).unwrap());
    assert_eq!(loaded.status, 200, "{}", loaded.text());
    let created = api(
        "POST",
        "/v1.41/containers/create",
        br#"{"Image": "berth-sdleak:latest", "Cmd": ["sleep", "1000"]}"#,
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["Id"].as_str().unwrap().to_owned();
    let started = api("POST", &format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(started.status, 204, "{}", started.text());
    let inspect = api("GET", &format!("/v1.41/containers/{id}/json"), b"").json();
    let container_pid = inspect["State"]["Pid"].as_i64().unwrap() as i32;

    let berthd = d.pid().as_raw();
    let listening = fs::read_link(format!("/proc/{berthd}/fd/3"))
        .expect("berthd keeps the inherited socket at fd 3")
        .to_string_lossy()
        .into_owned();
    assert!(listening.starts_with("socket:"), "{listening}");
    let others: Vec<i32> = common::processes_under(&d.dir)
        .into_iter()
        .filter(|p| *p != berthd)
        .collect();
    assert!(
        others.contains(&container_pid),
        "the container {container_pid} is not among {others:?}"
    );
    for pid in others {
        assert!(
            !open_sockets(pid).contains(&listening),
            "process {pid} inherited the API socket {listening}"
        );
        let env = fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        let env = String::from_utf8_lossy(&env);
        assert!(
            !env.split('\0')
                .any(|v| v.starts_with("LISTEN_FDS=") || v.starts_with("LISTEN_PID=")),
            "process {pid} inherited LISTEN_FDS/LISTEN_PID"
        );
    }
    let removed = api("DELETE", &format!("/v1.41/containers/{id}?force=1"), b"");
    assert_eq!(removed.status, 204, "{}", removed.text());
    assert!(d.terminate().success());
}

#[test]
fn an_inherited_tcp_socket_is_served_only_over_tls() {
    let pki = Pki::new();
    let p = |n: &str| pki.path(n).display().to_string();
    let mut d = ServiceDaemon::prepare("sdtcp");
    let port = free_port();
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.arg("-l")
        .arg(&d.socket)
        .arg("-l")
        .arg(format!("127.0.0.1:{port}"))
        .arg(env!("CARGO_BIN_EXE_berthd"))
        .args(["-H", "fd://", "--tlsverify", "--tlscacert", &p("ca.pem")])
        .args([
            "--tlscert",
            &p("server.pem"),
            "--tlskey",
            &p("server-key.pem"),
        ])
        .args(d.args());
    d.spawn(cmd);
    wait_for_socket(&mut d);
    // The first connection (on the TCP socket) starts berthd.
    let ok = curl_version(&pki, port, Some("client"));
    assert!(ok.status.success(), "client of the CA: {}", stderr(&ok));
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert!(v["ApiVersion"].is_string(), "{v}");
    let none = curl_version(&pki, port, None);
    assert!(
        !none.status.success(),
        "served a client without a certificate"
    );
    let unix = try_request(&d.socket, "GET", "/_ping", &[], &[]).expect("GET /_ping");
    assert_eq!(unix.status, 200);
    assert!(d.terminate().success());
}

#[test]
fn an_inherited_tcp_socket_without_tlsverify_is_refused() {
    let mut d = ServiceDaemon::prepare("sdplain");
    let port = free_port();
    let mut cmd = Command::new("systemd-socket-activate");
    cmd.arg("-l")
        .arg(format!("127.0.0.1:{port}"))
        .arg(env!("CARGO_BIN_EXE_berthd"))
        .args(["-H", "fd://"])
        .args(d.args());
    d.spawn(cmd);
    // Connect until the launcher listens; that connection starts berthd,
    // which must refuse to serve it.
    let deadline = Instant::now() + BOUND;
    let mut conn = loop {
        match std::net::TcpStream::connect(("127.0.0.1", port)) {
            Ok(c) => break c,
            Err(e) => {
                assert!(Instant::now() < deadline, "nothing listens on {port}: {e}");
                thread::sleep(Duration::from_millis(20));
            }
        }
    };
    let status = d.wait_exit();
    assert!(
        !status.success(),
        "berthd served plain TCP:\n{}",
        d.log_text()
    );
    assert!(
        d.log_text().contains("without --tlsverify"),
        "{}",
        d.log_text()
    );
    conn.set_read_timeout(Some(BOUND)).unwrap();
    let mut buf = [0u8; 64];
    let n = std::io::Read::read(&mut conn, &mut buf).unwrap_or(0);
    assert_eq!(n, 0, "got bytes from a refused daemon");
}

#[test]
fn sockets_passed_but_not_served_are_closed() {
    let mut d = ServiceDaemon::prepare("sdunused");
    let passed = d.dir.join("passed.sock");
    let mut cmd = Command::new("systemd-socket-activate");
    let own = format!("unix://{}", d.socket.display());
    cmd.arg("-l")
        .arg(&passed)
        .arg(env!("CARGO_BIN_EXE_berthd"))
        .args(["-H", &own])
        .args(d.args());
    d.spawn(cmd);
    let deadline = Instant::now() + BOUND;
    while !passed.exists() {
        assert!(d.exited().is_none(), "the launcher exited");
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            passed.display()
        );
        thread::sleep(Duration::from_millis(20));
    }
    let pid = d.pid().as_raw();
    let inherited = fs::read_link(format!("/proc/{pid}/fd/3"))
        .expect("the launcher holds the socket at fd 3")
        .to_string_lossy()
        .into_owned();
    // The first connection makes the launcher exec berthd.
    let _trigger = std::os::unix::net::UnixStream::connect(&passed).unwrap();
    let deadline = Instant::now() + BOUND;
    while !try_request(&d.socket, "GET", "/_ping", &[], &[]).is_ok_and(|r| r.status == 200) {
        assert!(d.exited().is_none(), "berthd exited:\n{}", d.log_text());
        assert!(
            Instant::now() < deadline,
            "berthd never served its own socket"
        );
        thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !open_sockets(pid).contains(&inherited),
        "berthd kept the unused passed socket {inherited}"
    );
    assert!(
        d.log_text().contains("no -H fd:// host serves"),
        "{}",
        d.log_text()
    );
    assert!(d.terminate().success());
}

#[test]
fn fd_hosts_without_passed_sockets_are_refused_before_any_state() {
    let mut d = ServiceDaemon::prepare("sdnofd");
    d.spawn(d.berthd(&["fd://"]));
    let status = d.wait_exit();
    assert!(!status.success(), "berthd started:\n{}", d.log_text());
    assert!(
        d.log_text().contains("no sockets were passed for fd://"),
        "{}",
        d.log_text()
    );
    assert!(!d.data_root.exists(), "berthd touched its data root first");
}

fn kill_and_expect_stopping(d: &mut ServiceDaemon, notify: &NotifySocket) {
    nix::sys::signal::kill(d.pid(), nix::sys::signal::Signal::SIGTERM).expect("SIGTERM berthd");
    let seen = notify.until("STOPPING=1");
    assert!(
        !seen.iter().any(|m| m.contains("READY=1")),
        "READY=1 again while stopping: {seen:?}"
    );
    let status = d.wait_exit();
    assert!(status.success(), "berthd exited with {status}");
}

#[test]
fn ready_is_sent_only_once_the_api_serves_restored_state() {
    let mut first = TestDaemon::start();
    first.load_busybox("berth-notify:latest");
    let created = first.api_post_json(
        "/v1.41/containers/create?name=berth-notify-ready",
        &serde_json::json!({"Image": "berth-notify:latest", "Cmd": ["true"]}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["Id"].as_str().unwrap().to_owned();
    assert!(first.stop().success());
    assert!(
        !first.socket_path().exists(),
        "the first daemon left its socket"
    );

    // A second daemon on the same state, told to report to our socket.
    let notify = NotifySocket::bind(first.dir());
    let mut cmd = berthd_command(
        first.socket_path(),
        first.data_root(),
        first.exec_root(),
        first.pidfile(),
        &first.dir().join("daemon.json"),
    );
    let log = fs::File::create(first.dir().join("berthd-notify.log")).unwrap();
    cmd.args(first.net().args())
        .env("NOTIFY_SOCKET", &notify.path)
        .stdout(log.try_clone().unwrap())
        .stderr(log);
    let mut second = ChildGuard(cmd.spawn().expect("spawn the second berthd"));
    let seen = notify.until("READY=1");
    // At READY=1 the socket is bound and serves the recovered container
    // table: nothing is retried here.
    let ping = try_request(first.socket_path(), "GET", "/_ping", &[], &[])
        .expect("the API answers when READY=1 arrives");
    assert_eq!(ping.status, 200);
    let list = try_request(
        first.socket_path(),
        "GET",
        "/v1.41/containers/json?all=1",
        &[],
        &[],
    )
    .expect("list containers");
    assert!(
        list.json()
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["Id"] == id.as_str()),
        "the container of the first daemon is not restored at READY=1: {}",
        list.text()
    );
    assert_eq!(
        seen.iter().filter(|m| m.contains("READY=1")).count(),
        1,
        "{seen:?}"
    );
    assert!(seen[0].contains("STATUS="), "{seen:?}");
    let pid = nix::unistd::Pid::from_raw(second.0.id() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
    notify.until("STOPPING=1");
    let status = second.wait();
    assert!(status.success(), "second berthd exited with {status}");
}

/// Stops a spawned berthd on drop (SIGTERM, then SIGKILL); the
/// [`TestDaemon`] owning its directories cleans up the rest.
struct ChildGuard(std::process::Child);

impl ChildGuard {
    fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(s) = self.0.try_wait().expect("poll berthd") {
                return s;
            }
            assert!(Instant::now() < deadline, "berthd did not exit");
            thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_some() {
            return;
        }
        let pid = nix::unistd::Pid::from_raw(self.0.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let deadline = Instant::now() + BOUND;
        while self.0.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(20));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
