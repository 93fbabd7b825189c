//! docker-compose (Debian's `docker-compose` 1.29, docker-py underneath)
//! against a real `berthd`: a two-service project (a web server with a named
//! volume and a published port, and a client that reaches it by service name
//! on the project network) brought up, inspected (`ps`, `logs`, `exec`) and
//! taken down with `down -v`, after which nothing of the project is left.
//!
//! `$BERTH_COMPOSE` replaces `/usr/bin/docker-compose`.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::registry::free_port;
use common::{TestDaemon, code, free_subnet};

/// The image both services run.
const IMAGE: &str = "berth-compose/busybox:latest";

fn compose_file(port: u16, subnet: &str) -> String {
    format!(
        r#"version: "3.8"
services:
  web:
    image: {IMAGE}
    command: ["sh", "-c", "mkdir -p /srv && echo hello-from-web > /srv/index.html && echo ready > /data/ready && exec httpd -f -v -p 80 -h /srv"]
    ports:
      - "127.0.0.1:{port}:80"
    volumes:
      - webdata:/data
    stop_signal: SIGKILL
  client:
    image: {IMAGE}
    command: ["sh", "-c", "until wget -qO- http://web/; do sleep 0.2; done; echo client-done; exec sleep 3600"]
    depends_on:
      - web
    stop_signal: SIGKILL
volumes:
  webdata:
networks:
  default:
    ipam:
      config:
        - subnet: {subnet}
"#
    )
}

/// Runs `docker-compose -p project args…` in `dir` against `d`.
fn compose(d: &TestDaemon, dir: &Path, project: &str, args: &[&str]) -> Output {
    let exe = std::env::var("BERTH_COMPOSE").unwrap_or_else(|_| "/usr/bin/docker-compose".into());
    Command::new(&exe)
        .args(["--no-ansi", "-p", project])
        .args(args)
        .current_dir(dir)
        .env("DOCKER_HOST", d.host())
        .env("HOME", d.dir())
        .env("COMPOSE_INTERACTIVE_NO_CLI", "1")
        .env_remove("DOCKER_CONFIG")
        .env_remove("DOCKER_CONTEXT")
        .output()
        .unwrap_or_else(|e| panic!("run {exe} (is Debian's docker-compose installed?): {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn compose_ok(d: &TestDaemon, dir: &Path, project: &str, args: &[&str]) -> String {
    let out = compose(d, dir, project, args);
    assert!(
        out.status.success(),
        "docker-compose {args:?} failed ({}):\n{}",
        code(&out),
        text(&out)
    );
    text(&out)
}

/// `GET /` on the published port, as a host client would.
fn http_get(port: u16) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect to the published port");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    s.write_all(b"GET / HTTP/1.0\r\nHost: localhost\r\n\r\n")
        .expect("send the request");
    let mut reply = String::new();
    s.read_to_string(&mut reply).expect("read the reply");
    reply
}

#[test]
fn compose_up_ps_logs_exec_down_leaves_nothing() {
    let d = TestDaemon::start();
    d.load_busybox(IMAGE);
    let dir = d.dir().join("app");
    std::fs::create_dir_all(&dir).expect("create the project dir");
    let port = free_port();
    std::fs::write(
        dir.join("docker-compose.yml"),
        compose_file(port, &free_subnet().0),
    )
    .expect("write docker-compose.yml");
    let mut b = [0u8; 3];
    getrandom::fill(&mut b).expect("random bytes");
    let project = format!("berthcmp{}", hex::encode(b));

    let up = compose_ok(&d, &dir, &project, &["up", "-d"]);
    assert!(
        up.contains(&format!("Creating network \"{project}_default\"")),
        "{up}"
    );
    assert!(
        up.contains(&format!("Creating volume \"{project}_webdata\"")),
        "{up}"
    );

    // The client reached the web service by its name on the project network.
    let deadline = Instant::now() + Duration::from_secs(60);
    let logs = loop {
        let logs = compose_ok(&d, &dir, &project, &["logs", "--no-color", "client"]);
        if logs.contains("client-done") || Instant::now() > deadline {
            break logs;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(logs.contains("hello-from-web"), "{logs}");
    assert!(logs.contains("client-done"), "{logs}");
    let web_logs = compose_ok(&d, &dir, &project, &["logs", "--no-color", "web"]);
    assert!(web_logs.contains("response:200"), "{web_logs}");

    let ps = compose_ok(&d, &dir, &project, &["ps"]);
    for service in ["client", "web"] {
        let line = ps
            .lines()
            .find(|l| l.starts_with(&format!("{project}_{service}_1 ")))
            .unwrap_or_else(|| panic!("no {service} row in ps:\n{ps}"));
        assert!(line.contains(" Up "), "{service} not up:\n{ps}");
    }
    assert!(ps.contains(&format!("127.0.0.1:{port}->80/tcp")), "{ps}");

    let reply = http_get(port);
    assert!(
        reply.starts_with("HTTP/1.0 200") || reply.starts_with("HTTP/1.1 200"),
        "{reply}"
    );
    assert!(reply.ends_with("hello-from-web\n"), "{reply}");

    // The named volume is mounted where the file says.
    let ready = compose(
        &d,
        &dir,
        &project,
        &["exec", "-T", "web", "cat", "/data/ready"],
    );
    assert_eq!(
        String::from_utf8_lossy(&ready.stdout),
        "ready\n",
        "{}",
        text(&ready)
    );
    let failed = compose(
        &d,
        &dir,
        &project,
        &["exec", "-T", "web", "sh", "-c", "exit 3"],
    );
    assert_eq!(code(&failed), 3, "{}", text(&failed));

    // Both containers carry compose's project label (its `ps` and `down` find
    // them by it).
    let containers = d.api_get("/containers/json?all=1").json();
    let labelled = containers
        .as_array()
        .expect("container list")
        .iter()
        .filter(|c| c["Labels"]["com.docker.compose.project"] == project.as_str())
        .count();
    assert_eq!(labelled, 2, "{containers}");

    let down = compose_ok(&d, &dir, &project, &["down", "-v"]);
    assert!(
        down.contains(&format!("Removing network {project}_default")),
        "{down}"
    );
    assert!(
        down.contains(&format!("Removing volume {project}_webdata")),
        "{down}"
    );

    let containers = d.api_get("/containers/json?all=1").json();
    assert_eq!(containers, serde_json::json!([]), "containers left");
    let networks = d.api_get("/networks").json();
    let names: Vec<&str> = networks
        .as_array()
        .expect("network list")
        .iter()
        .filter_map(|n| n["Name"].as_str())
        .collect();
    assert!(
        !names.iter().any(|n| n.starts_with(&project)),
        "project network left: {names:?}"
    );
    let volumes = d.api_get("/volumes").json();
    assert_eq!(volumes["Volumes"], serde_json::json!([]), "volumes left");
    // The published port is closed again.
    assert!(TcpStream::connect(("127.0.0.1", port)).is_err());
}
