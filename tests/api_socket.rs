//! The locked-down API socket (issue 12 part 4): mode 0660 and group
//! `berth` (root's group when it is missing), no serving on a symlinked or
//! foreign-owned socket path, TCP only over TLS with client certificates,
//! bounded JSON bodies, and path parameters that cannot leave the data root.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::service::{Pki, ServiceDaemon, curl_version, free_port};
use common::{TestDaemon, docker_cli, run, stderr, stdout};

/// A host group created for one test, deleted on drop.
struct TestGroup(String);

impl TestGroup {
    fn create() -> TestGroup {
        let mut r = [0u8; 4];
        getrandom::fill(&mut r).unwrap();
        let name = format!("berthsock{}", hex::encode(r));
        let out = run(Command::new("groupadd").args(["--system", &name]));
        assert!(out.status.success(), "groupadd {name}: {}", stderr(&out));
        TestGroup(name)
    }

    fn gid(&self) -> u32 {
        nix::unistd::Group::from_name(&self.0)
            .unwrap()
            .expect("the group exists")
            .gid
            .as_raw()
    }
}

impl Drop for TestGroup {
    fn drop(&mut self) {
        let out = Command::new("groupdel").arg(&self.0).output();
        if !out.as_ref().is_ok_and(|o| o.status.success()) && !std::thread::panicking() {
            panic!("groupdel {}: {out:?}", self.0);
        }
    }
}

#[test]
fn socket_has_mode_0660_root_owner_and_the_configured_group() {
    let group = TestGroup::create();
    let d = TestDaemon::start_with("{}", &["--group", &group.0]);
    let meta = fs::symlink_metadata(d.socket_path()).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o660, "mode {:o}", meta.mode());
    assert_eq!(meta.uid(), 0);
    assert_eq!(meta.gid(), group.gid());
}

#[test]
fn a_missing_group_leaves_roots_group_with_a_warning() {
    let d = TestDaemon::start_with("{}", &["--group", "berth-no-such-group"]);
    let meta = fs::symlink_metadata(d.socket_path()).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o660);
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    assert!(
        d.log_text().contains("group not found"),
        "no warning about the missing group:\n{}",
        d.log_text()
    );
}

/// `curl` on the unix socket as uid/gid 65534 (nobody) with `groups` as
/// its supplementary groups.
fn ping_as_nobody(socket: &Path, groups: Option<u32>) -> std::process::Output {
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534"]);
    match groups {
        Some(g) => cmd.arg(format!("--groups={g}")),
        None => cmd.arg("--clear-groups"),
    };
    cmd.args(["curl", "-sS", "--fail", "--max-time", "60", "--unix-socket"])
        .arg(socket)
        .arg("http://berth/_ping");
    run(&mut cmd)
}

#[test]
fn members_of_the_socket_group_reach_the_default_socket_and_others_do_not() {
    let group = TestGroup::create();
    let mut d = ServiceDaemon::prepare("sockgroup");
    // Let nobody traverse the test's own directory, as it may /run.
    fs::set_permissions(&d.dir, fs::Permissions::from_mode(0o711)).unwrap();
    // The default layout: the socket directly in the exec root.
    let socket = d.exec_root.join("berth.sock");
    let mut cmd = d.berthd(&[&format!("unix://{}", socket.display())]);
    cmd.args(["--group", &group.0]);
    d.spawn(cmd);
    let deadline = std::time::Instant::now() + common::service::BOUND;
    while !common::try_request(&socket, "GET", "/_ping", &[], &[]).is_ok_and(|r| r.status == 200) {
        assert!(d.exited().is_none(), "berthd exited:\n{}", d.log_text());
        assert!(
            std::time::Instant::now() < deadline,
            "berthd never answered"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let mode = fs::metadata(&d.exec_root).unwrap().mode() & 0o7777;
    assert_eq!(mode & 0o011, 0o011, "exec root mode {mode:o}");
    assert_eq!(
        mode & 0o066,
        0,
        "exec root mode {mode:o} lets others list or write"
    );
    let member = ping_as_nobody(&socket, Some(group.gid()));
    assert!(
        member.status.success(),
        "a member of the group: {}",
        stderr(&member)
    );
    assert_eq!(stdout(&member), "OK");
    let outsider = ping_as_nobody(&socket, None);
    assert!(
        !outsider.status.success(),
        "a user outside the group reached the API"
    );
    assert!(d.terminate().success());
}

/// Runs berthd on `host` and expects it to refuse to start, before it
/// creates its data root; returns its output.
fn refused(d: &mut ServiceDaemon, host: &str, extra: &[&str]) -> String {
    let mut cmd = d.berthd(&[host]);
    cmd.args(extra);
    d.spawn(cmd);
    let status = d.wait_exit();
    let log = d.log_text();
    assert!(!status.success(), "berthd started on {host}:\n{log}");
    assert!(
        !d.data_root.exists(),
        "berthd touched its data root before refusing {host}"
    );
    log
}

#[test]
fn a_symlinked_socket_path_is_refused() {
    let mut d = ServiceDaemon::prepare("sockcheck");
    let target = d.dir.join("elsewhere.sock");
    std::os::unix::fs::symlink(&target, &d.socket).unwrap();
    let host = format!("unix://{}", d.socket.display());
    let log = refused(&mut d, &host, &[]);
    assert!(
        log.contains("refusing to listen on") && log.contains("is a symlink"),
        "{log}"
    );
    assert!(!target.exists(), "berthd followed the symlink");
    assert!(
        fs::symlink_metadata(&d.socket)
            .unwrap()
            .file_type()
            .is_symlink()
    );
}

#[test]
fn unsafe_socket_directories_are_refused() {
    let mut d = ServiceDaemon::prepare("sockdir");
    let nobody = nix::unistd::Uid::from_raw(65534);
    // Owned by another user.
    let foreign = d.dir.join("foreign");
    fs::create_dir(&foreign).unwrap();
    nix::unistd::chown(&foreign, Some(nobody), None).unwrap();
    let log = refused(
        &mut d,
        &format!("unix://{}/berth.sock", foreign.display()),
        &[],
    );
    assert!(log.contains("owned by uid 65534"), "{log}");
    // World-writable.
    let open = d.dir.join("open");
    fs::create_dir(&open).unwrap();
    fs::set_permissions(&open, fs::Permissions::from_mode(0o777)).unwrap();
    let log = refused(
        &mut d,
        &format!("unix://{}/berth.sock", open.display()),
        &[],
    );
    assert!(log.contains("world-writable"), "{log}");
    // A symlinked directory someone else made.
    let safe = d.dir.join("safe");
    fs::create_dir(&safe).unwrap();
    let link = d.dir.join("link");
    std::os::unix::fs::symlink(&safe, &link).unwrap();
    nix::unistd::fchownat(
        nix::fcntl::AT_FDCWD,
        &link,
        Some(nobody),
        None,
        nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
    )
    .unwrap();
    let log = refused(
        &mut d,
        &format!("unix://{}/berth.sock", link.display()),
        &[],
    );
    assert!(log.contains("symlink owned by uid 65534"), "{log}");
    assert!(!safe.join("berth.sock").exists());
}

#[test]
fn plain_tcp_is_refused() {
    let mut d = ServiceDaemon::prepare("plaintcp");
    let port = free_port();
    let log = refused(&mut d, &format!("tcp://127.0.0.1:{port}"), &[]);
    assert!(log.contains("without --tlsverify"), "{log}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn tls_tcp_serves_only_clients_with_a_certificate_of_the_ca() {
    let pki = Pki::new();
    let port = free_port();
    let host = format!("tcp://127.0.0.1:{port}");
    let p = |n: &str| pki.path(n).display().to_string();
    let d = TestDaemon::start_with(
        "{}",
        &[
            "-H",
            &host,
            "--tlsverify",
            "--tlscacert",
            &p("ca.pem"),
            "--tlscert",
            &p("server.pem"),
            "--tlskey",
            &p("server-key.pem"),
        ],
    );
    let ok = curl_version(&pki, port, Some("client"));
    assert!(ok.status.success(), "client of the CA: {}", stderr(&ok));
    let v: serde_json::Value = serde_json::from_slice(&ok.stdout).unwrap();
    assert!(v["ApiVersion"].is_string(), "{v}");

    let none = curl_version(&pki, port, None);
    assert!(
        !none.status.success(),
        "served a client without a certificate"
    );
    assert!(none.stdout.is_empty());
    let stranger = curl_version(&pki, port, Some("stranger"));
    assert!(!stranger.status.success(), "served another CA's client");
    assert!(stranger.stdout.is_empty());
    let plain = run(Command::new("curl").args([
        "-sS",
        "--fail",
        "--max-time",
        "60",
        &format!("http://127.0.0.1:{port}/v1.41/version"),
    ]));
    assert!(!plain.status.success(), "served plain HTTP on the TLS port");

    // The docker CLI, configured the usual way, talks to it.
    let config = d.dir().join("docker-tls-config");
    fs::create_dir_all(&config).unwrap();
    let out = run(Command::new(docker_cli())
        .args(["--tlsverify", "--tlscacert", &p("ca.pem")])
        .args([
            "--tlscert",
            &p("client.pem"),
            "--tlskey",
            &p("client-key.pem"),
        ])
        .args(["-H", &host, "version", "--format", "{{.Server.APIVersion}}"])
        .env("DOCKER_CONFIG", &config)
        .env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CONTEXT"));
    assert!(
        out.status.success(),
        "docker version over TLS: {}",
        stderr(&out)
    );
    assert_eq!(stdout(&out).trim(), "1.41");

    // The berth CLI, with the docker CLI's flags and environment.
    let berth = |args: &[&str], envs: &[(&str, &Path)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.args(args)
            .args(["-H", &host, "version", "--format", "{{.Server.APIVersion}}"])
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env("HOME", d.dir());
        for (k, v) in envs {
            cmd.env(k, v);
        }
        run(&mut cmd)
    };
    let client = [
        "--tlscert",
        &p("client.pem"),
        "--tlskey",
        &p("client-key.pem"),
    ];
    let out = berth(
        &[&["--tlsverify", "--tlscacert", &p("ca.pem")], &client[..]].concat(),
        &[],
    );
    assert!(out.status.success(), "berth --tlsverify: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "1.41");
    // DOCKER_TLS_VERIFY with the files in DOCKER_CERT_PATH.
    let certs = d.dir().join("berth-cert-path");
    fs::create_dir_all(&certs).unwrap();
    for (from, to) in [
        ("ca.pem", "ca.pem"),
        ("client.pem", "cert.pem"),
        ("client-key.pem", "key.pem"),
    ] {
        fs::copy(pki.path(from), certs.join(to)).unwrap();
    }
    let out = berth(
        &[],
        &[
            ("DOCKER_TLS_VERIFY", Path::new("1")),
            ("DOCKER_CERT_PATH", &certs),
        ],
    );
    assert!(out.status.success(), "DOCKER_TLS_VERIFY: {}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "1.41");
    // --tls encrypts without checking the server against a CA.
    let out = berth(&[&["--tls"], &client[..]].concat(), &[]);
    assert!(out.status.success(), "berth --tls: {}", stderr(&out));
    // Twins: no client certificate, a server that the CA did not sign, no TLS.
    let out = berth(&["--tlsverify", "--tlscacert", &p("ca.pem")], &[]);
    assert!(
        !out.status.success(),
        "served berth without a client certificate"
    );
    let out = berth(
        &[
            &["--tlsverify", "--tlscacert", &p("other-ca.pem")],
            &client[..],
        ]
        .concat(),
        &[],
    );
    assert!(
        !out.status.success(),
        "berth trusted a server of another CA"
    );
    assert!(stdout(&out).trim().is_empty(), "{}", stdout(&out));
    let out = berth(&[], &[]);
    assert!(!out.status.success(), "plain HTTP reached the TLS port");

    // The unix socket still serves as before.
    assert_eq!(d.api_get("/_ping").status, 200);
}

/// How an oversized request body reaches the daemon.
enum Oversized {
    /// The head declares this many bytes (Content-Length); none are sent.
    Declared(u64),
    /// This many bytes of JSON-ish filler, sent chunked (no length in the head).
    Chunked(usize),
}

/// One POST with an oversized body; the response's status and body.
fn declare_body(socket: &Path, path: &str, body: Oversized) -> (u16, String) {
    let mut s = UnixStream::connect(socket).unwrap();
    s.set_read_timeout(Some(common::COMMAND_BOUND)).unwrap();
    let framing = match body {
        Oversized::Declared(n) => format!("Content-Length: {n}"),
        Oversized::Chunked(_) => "Transfer-Encoding: chunked".to_owned(),
    };
    write!(
        s,
        "POST {path} HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\n{framing}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    if let Oversized::Chunked(total) = body {
        let mut w = s.try_clone().unwrap();
        // Written on the side and errors ignored: the daemon may answer and
        // close before all of it is sent.
        std::thread::spawn(move || {
            let chunk = vec![b' '; 64 << 10];
            for _ in 0..total.div_ceil(chunk.len()) {
                if write!(w, "{:x}\r\n", chunk.len()).is_err()
                    || w.write_all(&chunk).is_err()
                    || w.write_all(b"\r\n").is_err()
                {
                    return;
                }
            }
            let _ = w.write_all(b"0\r\n\r\n");
        });
    }
    let mut resp = Vec::new();
    let mut buf = [0u8; 4096];
    // The daemon answers and closes without waiting for the body.
    loop {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => resp.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("read the response to POST {path}: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&resp).into_owned();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text:?}"));
    let body = text
        .split_once("\r\n\r\n")
        .map_or("", |(_, b)| b)
        .to_owned();
    (status, body)
}

#[test]
fn oversized_json_bodies_get_413() {
    let d = TestDaemon::start();
    let (status, body) = declare_body(
        d.socket_path(),
        "/v1.41/containers/create",
        Oversized::Declared(64 << 20),
    );
    assert_eq!(status, 413, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("larger than the limit")),
        "{v}"
    );
    let (status, _) = declare_body(
        d.socket_path(),
        "/v1.41/volumes/create",
        Oversized::Declared(64 << 20),
    );
    assert_eq!(status, 413);
    // Without a declared length the bound is met while reading: still 413.
    let (status, body) = declare_body(
        d.socket_path(),
        "/v1.41/containers/create",
        Oversized::Chunked(5 << 20),
    );
    assert_eq!(status, 413, "{body}");
    assert!(body.contains("larger than the limit"), "{body}");
    assert_eq!(
        d.api_get("/v1.41/containers/json?all=1").json(),
        serde_json::json!([])
    );
    // A JSON body under the limit is still read.
    let v = d.api_post_json(
        "/v1.41/volumes/create",
        &serde_json::json!({"Name": "berthsmall"}),
    );
    assert_eq!(v.status, 201, "{}", v.text());
}

/// Every path below `root`, relative to it.
fn tree(root: &Path) -> BTreeSet<PathBuf> {
    let mut out = BTreeSet::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).into_iter().flatten().flatten() {
            let p = e.path();
            out.insert(p.strip_prefix(root).unwrap().to_path_buf());
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(p);
            }
        }
    }
    out
}

#[test]
fn path_parameters_cannot_escape_the_data_root() {
    let d = TestDaemon::start();
    // Loaded so that a container create fails on its name, not its image.
    d.load_busybox("busybox:latest");
    let v = d.api_post_json(
        "/v1.41/volumes/create",
        &serde_json::json!({"Name": "berthvictim"}),
    );
    assert_eq!(v.status, 201, "{}", v.text());
    let sentinel = d.dir().join("berth-sentinel");
    fs::write(&sentinel, b"keep").unwrap();
    let before = tree(d.dir());
    for (method, path) in [
        ("DELETE", "/v1.41/volumes/.."),
        ("DELETE", "/v1.41/volumes/%2E%2E?force=1"),
        ("DELETE", "/v1.41/volumes/..%2F..%2Fberth-sentinel?force=1"),
        (
            "DELETE",
            "/v1.41/volumes/berthvictim%2F..%2F..%2F..%2Fberth-sentinel",
        ),
        ("GET", "/v1.41/volumes/berthvictim%00"),
        ("DELETE", "/v1.41/containers/..%2F..?force=1"),
        ("POST", "/v1.41/containers/..%2F..%2Fberth-sentinel/start"),
        ("DELETE", "/v1.41/networks/..%2F..%2Fberth-sentinel"),
        ("DELETE", "/v1.41/images/..%2F..%2Fberth-sentinel?force=1"),
        ("GET", "/v1.41/images/../json"),
        ("GET", "/v1.41/exec/..%2F..%2Fberth-sentinel/json"),
    ] {
        let r = d.api(method, path, &[], &[]);
        assert!(
            r.status == 400 || r.status == 404,
            "{method} {path}: {} {}",
            r.status,
            r.text()
        );
    }
    for (path, body) in [
        (
            "/v1.41/volumes/create",
            serde_json::json!({"Name": "../berth-escape"}),
        ),
        (
            "/v1.41/containers/create?name=..%2Fberth-escape",
            serde_json::json!({"Image": "busybox"}),
        ),
    ] {
        // The image exists: only the name can be refused.
        let r = d.api_post_json(path, &body);
        assert_eq!(r.status, 400, "POST {path}: {}", r.text());
    }
    // Network names are not paths (networks are stored by ID): such a name
    // is accepted, as by dockerd, and must not reach the filesystem.
    let net = d.api_post_json(
        "/v1.41/networks/create",
        &serde_json::json!({"Name": "../berth-escape"}),
    );
    assert_eq!(net.status, 201, "{}", net.text());
    let net_id = net.json()["Id"].as_str().unwrap().to_owned();
    // dockerd's "/name" form of a container name still works.
    let named = d.api_post_json(
        "/v1.41/containers/create?name=berthnamed",
        &serde_json::json!({"Image": "busybox", "Cmd": ["true"]}),
    );
    assert_eq!(named.status, 201, "{}", named.text());
    let found = d.api_get("/v1.41/containers/%2Fberthnamed/json");
    assert_eq!(found.status, 200, "{}", found.text());
    assert_eq!(fs::read(&sentinel).unwrap(), b"keep");
    assert_eq!(d.api_get("/v1.41/volumes/berthvictim").status, 200);
    let after = tree(d.dir());
    let escaped: Vec<_> = after
        .iter()
        .filter(|p| p.to_string_lossy().contains("berth-escape"))
        .collect();
    assert!(escaped.is_empty(), "created: {escaped:?}");
    let gone: Vec<_> = before.difference(&after).collect();
    assert!(gone.is_empty(), "removed by refused requests: {gone:?}");
    let del = d.api_delete(&format!("/v1.41/networks/{net_id}"));
    assert_eq!(del.status, 204, "{}", del.text());
}
