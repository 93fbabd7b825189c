//! Tests of the `berth` binary that need no daemon: the connection-failure
//! line, and whole commands driven against a scripted fake of berthd on a
//! unix socket (canned HTTP answers, the attach hijack with Docker's framing).

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;

/// One request as the fake daemon saw it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    path: String,
    headers: HashMap<String, String>,
    body: Vec<u8>,
}

/// What the fake daemon answers.
#[derive(Clone)]
enum Reply {
    /// Status, content type, body.
    Http(u16, &'static str, Vec<u8>),
    /// 101 then these raw bytes, sent once a `/start` request has arrived.
    Hijack(Vec<u8>),
}

type Route = (String, String, Reply);

struct Shared {
    seen: Mutex<Vec<Seen>>,
    started: Mutex<bool>,
    started_cv: Condvar,
}

/// A fake berthd on a unix socket in a temp dir; the listener thread is
/// detached and dies with the test process, the directory with the guard.
struct FakeDaemon {
    dir: tempfile::TempDir,
    shared: Arc<Shared>,
}

impl FakeDaemon {
    /// `routes`: (method, path prefix after `/v1.41`, reply); first match wins.
    fn start(routes: Vec<Route>) -> FakeDaemon {
        let dir = tempfile::Builder::new()
            .prefix("berth-cli-test")
            .tempdir()
            .unwrap();
        let listener = UnixListener::bind(dir.path().join("berth.sock")).unwrap();
        let shared = Arc::new(Shared {
            seen: Mutex::new(Vec::new()),
            started: Mutex::new(false),
            started_cv: Condvar::new(),
        });
        let s = shared.clone();
        thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { return };
                let (s, routes) = (s.clone(), routes.clone());
                thread::spawn(move || serve(conn, &s, &routes));
            }
        });
        FakeDaemon { dir, shared }
    }

    fn host(&self) -> String {
        format!("unix://{}", self.socket().display())
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("berth.sock")
    }

    fn seen(&self) -> Vec<Seen> {
        self.shared.seen.lock().unwrap().clone()
    }

    fn berth(&self, args: &[&str], stdin: &[u8]) -> Output {
        berth_with_host(&self.host(), args, stdin)
    }
}

fn berth_with_host(host: &str, args: &[&str], stdin: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_berth"))
        .arg("-H")
        .arg(host)
        .args(args)
        .env_remove("BERTH_HOST")
        .env_remove("DOCKER_HOST")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn read_body(reader: &mut BufReader<UnixStream>, headers: &HashMap<String, String>) -> Vec<u8> {
    let mut body = Vec::new();
    if let Some(len) = headers.get("content-length") {
        body.resize(len.parse().unwrap(), 0);
        reader.read_exact(&mut body).unwrap();
    } else if headers
        .get("transfer-encoding")
        .is_some_and(|t| t.contains("chunked"))
    {
        loop {
            let mut size = String::new();
            reader.read_line(&mut size).unwrap();
            let n = usize::from_str_radix(size.trim(), 16).unwrap();
            let mut chunk = vec![0; n + 2];
            reader.read_exact(&mut chunk).unwrap();
            if n == 0 {
                break;
            }
            body.extend_from_slice(&chunk[..n]);
        }
    }
    body
}

fn serve(conn: UnixStream, shared: &Shared, routes: &[Route]) {
    let mut writer = conn.try_clone().unwrap();
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
        reader.read_line(&mut h).unwrap();
        if h.trim().is_empty() {
            break;
        }
        let (k, v) = h.split_once(':').unwrap();
        headers.insert(k.trim().to_lowercase(), v.trim().to_string());
    }
    let body = read_body(&mut reader, &headers);
    let path = target.strip_prefix("/v1.41").unwrap_or(&target).to_string();
    shared.seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        headers,
        body,
    });
    if path.contains("/start") {
        *shared.started.lock().unwrap() = true;
        shared.started_cv.notify_all();
    }
    let reply = routes
        .iter()
        .find(|(m, p, _)| *m == method && path.starts_with(p.as_str()))
        .map(|(_, _, r)| r.clone())
        .unwrap_or(Reply::Http(
            404,
            "application/json",
            br#"{"message":"page not found"}"#.to_vec(),
        ));
    match reply {
        Reply::Http(status, ct, body) => {
            let head = format!(
                "HTTP/1.1 {status} X\r\nContent-Type: {ct}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = writer.write_all(head.as_bytes());
            let _ = writer.write_all(&body);
        }
        Reply::Hijack(stream) => {
            let _ = writer.write_all(
                b"HTTP/1.1 101 UPGRADED\r\nContent-Type: application/vnd.docker.raw-stream\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
            );
            let mut started = shared.started.lock().unwrap();
            while !*started {
                started = shared.started_cv.wait(started).unwrap();
            }
            let _ = writer.write_all(&stream);
        }
    }
    let _ = writer.flush();
    let _ = writer.shutdown(std::net::Shutdown::Both);
}

fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
    let mut out = vec![kind, 0, 0, 0];
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
    out
}

fn json(status: u16, body: &str) -> Reply {
    Reply::Http(status, "application/json", body.as_bytes().to_vec())
}

fn route(method: &str, path: &str, reply: Reply) -> Route {
    (method.to_string(), path.to_string(), reply)
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn missing_daemon_is_one_line_and_exit_1() {
    let dir = tempfile::Builder::new()
        .prefix("berth-cli-test")
        .tempdir()
        .unwrap();
    let sock = dir.path().join("nosuch.sock");
    let host = format!("unix://{}", sock.display());
    for args in [
        &["images"][..],
        &["info"],
        &["run", "busybox"],
        &["rmi", "x"],
    ] {
        let out = berth_with_host(&host, args, b"");
        assert_eq!(out.status.code(), Some(1), "{args:?}");
        assert_eq!(
            text(&out.stderr),
            format!("cannot connect to berthd at {host}: is it running?\n"),
            "{args:?}"
        );
    }
}

#[test]
fn host_comes_from_env_when_no_flag() {
    let dir = tempfile::Builder::new()
        .prefix("berth-cli-test")
        .tempdir()
        .unwrap();
    let berth_sock = format!("unix://{}/berth.sock", dir.path().display());
    let docker_sock = format!("unix://{}/docker.sock", dir.path().display());
    let run = |envs: &[(&str, &str)]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        cmd.arg("images")
            .env_remove("BERTH_HOST")
            .env_remove("DOCKER_HOST");
        for (k, v) in envs {
            cmd.env(k, v);
        }
        text(&cmd.output().unwrap().stderr)
    };
    assert!(
        run(&[("BERTH_HOST", &berth_sock), ("DOCKER_HOST", &docker_sock)]).contains(&berth_sock)
    );
    assert!(run(&[("DOCKER_HOST", &docker_sock)]).contains(&docker_sock));
    assert!(run(&[]).contains("unix:///run/berth/berth.sock"));
}

#[test]
fn images_table_quiet_and_json() {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        - 7300;
    let id = format!("sha256:{}", "ab".repeat(32));
    let body = format!(
        r#"[{{"Id":"{id}","ParentId":"","RepoTags":["busybox:latest","berth-test/app:v1"],"RepoDigests":[],"Created":{now},"Size":4261234,"SharedSize":-1,"Labels":null,"Containers":-1}},
            {{"Id":"{id}","ParentId":"","RepoTags":[],"RepoDigests":[],"Created":{now},"Size":999,"SharedSize":-1,"Labels":{{}},"Containers":2}}]"#
    );
    let d = FakeDaemon::start(vec![route("GET", "/images/json", json(200, &body))]);
    let out = d.berth(&["images"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    let want = "\
REPOSITORY       TAG       IMAGE ID       CREATED       SIZE
busybox          latest    abababababab   2 hours ago   4.26MB
berth-test/app   v1        abababababab   2 hours ago   4.26MB
<none>           <none>    abababababab   2 hours ago   999B
";
    assert_eq!(text(&out.stdout), want);

    let out = d.berth(&["image", "ls", "-q"], b"");
    assert_eq!(
        text(&out.stdout),
        "abababababab\nabababababab\nabababababab\n"
    );

    let out = d.berth(
        &[
            "image",
            "list",
            "--format",
            "{{json .}}",
            "-a",
            "--filter",
            "dangling=true",
        ],
        b"",
    );
    let first = text(&out.stdout).lines().next().unwrap().to_string();
    assert!(
        first.starts_with(r#"{"Containers":"N/A","CreatedAt":""#),
        "{first}"
    );
    assert!(
        first.contains(r#""Digest":"\u003cnone\u003e","ID":"abababababab","Repository":"busybox""#),
        "{first}"
    );
    let last = d.seen().pop().unwrap();
    assert_eq!(
        last.path,
        "/images/json?all=1&filters=%7B%22dangling%22%3A%7B%22true%22%3Atrue%7D%7D"
    );
}

#[test]
fn rmi_reports_each_failure() {
    let d = FakeDaemon::start(vec![
        route(
            "DELETE",
            "/images/busybox",
            json(
                200,
                r#"[{"Untagged":"busybox:latest"},{"Deleted":"sha256:abc"}]"#,
            ),
        ),
        route(
            "DELETE",
            "/images/nosuch",
            json(404, r#"{"message":"No such image: nosuch:latest"}"#),
        ),
    ]);
    let out = d.berth(&["rmi", "nosuch", "busybox"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stdout),
        "Untagged: busybox:latest\nDeleted: sha256:abc\n"
    );
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such image: nosuch:latest\n"
    );
    // With -f, a missing image is not an error, as in Docker.
    let out = d.berth(&["image", "rm", "-f", "nosuch"], b"");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(d.seen().last().unwrap().path, "/images/nosuch?force=1");
}

#[test]
fn inspect_indents_and_reports_missing() {
    let d = FakeDaemon::start(vec![
        route(
            "GET",
            "/images/busybox/json",
            json(
                200,
                r#"{"Id":"sha256:1","RepoTags":["busybox:latest"],"Config":{"Env":["A=1"]}}"#,
            ),
        ),
        route(
            "GET",
            "/images/nosuch/json",
            json(404, r#"{"message":"No such image: nosuch:latest"}"#),
        ),
        route(
            "GET",
            "/containers/",
            json(404, r#"{"message":"No such container: x"}"#),
        ),
    ]);
    let out = d.berth(&["image", "inspect", "busybox"], b"");
    assert_eq!(
        text(&out.stdout),
        "[\n    {\n        \"Id\": \"sha256:1\",\n        \"RepoTags\": [\n            \"busybox:latest\"\n        ],\n        \"Config\": {\n            \"Env\": [\n                \"A=1\"\n            ]\n        }\n    }\n]\n"
    );
    let out = d.berth(
        &[
            "inspect",
            "-f",
            "{{.Id}} {{index .Config.Env 0}}",
            "busybox",
        ],
        b"",
    );
    assert_eq!(text(&out.stdout), "sha256:1 A=1\n");
    let out = d.berth(&["inspect", "nosuch"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(text(&out.stdout), "[]\n");
    assert_eq!(text(&out.stderr), "Error: No such object: nosuch\n");
    let out = d.berth(&["image", "inspect", "nosuch"], b"");
    assert_eq!(text(&out.stdout), "[]\n");
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such image: nosuch:latest\n"
    );
}

#[test]
fn run_follows_dockers_flow_and_exit_code() {
    let mut stream = frame(1, b"hello\n");
    stream.extend(frame(2, b"oops\n"));
    let d = FakeDaemon::start(vec![
        route(
            "POST",
            "/containers/create",
            json(201, r#"{"Id":"c0ffee","Warnings":[]}"#),
        ),
        route("POST", "/containers/c0ffee/attach", Reply::Hijack(stream)),
        route(
            "POST",
            "/containers/c0ffee/wait",
            json(200, r#"{"StatusCode":3}"#),
        ),
        route(
            "POST",
            "/containers/c0ffee/start",
            Reply::Http(204, "text/plain", Vec::new()),
        ),
    ]);
    let out = d.berth(
        &[
            "run", "--rm", "--name", "berth-t", "-e", "A=1", "busybox", "sh", "-c", "exit 3",
        ],
        b"",
    );
    assert_eq!(text(&out.stdout), "hello\n");
    assert_eq!(text(&out.stderr), "oops\n");
    assert_eq!(out.status.code(), Some(3));
    let seen = d.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        vec![
            "/containers/create?name=berth-t",
            "/containers/c0ffee/attach?stream=1&stdout=1&stderr=1",
            "/containers/c0ffee/wait?condition=removed",
            "/containers/c0ffee/start",
        ]
    );
    assert!(seen.iter().all(|s| s.method == "POST"));
    assert_eq!(
        seen[1].headers.get("upgrade").map(String::as_str),
        Some("tcp")
    );
    let body: serde_json::Value = serde_json::from_slice(&seen[0].body).unwrap();
    assert_eq!(body["Cmd"], serde_json::json!(["sh", "-c", "exit 3"]));
    assert_eq!(body["Env"], serde_json::json!(["A=1"]));
    assert_eq!(body["HostConfig"]["AutoRemove"], true);
}

#[test]
fn run_errors_map_to_dockers_exit_codes() {
    let d = FakeDaemon::start(vec![route(
        "POST",
        "/containers/create",
        json(
            400,
            r#"{"message":"exec: \"nosuch\": executable file not found in $PATH"}"#,
        ),
    )]);
    let out = d.berth(&["run", "busybox", "nosuch"], b"");
    assert_eq!(out.status.code(), Some(127));
    assert_eq!(
        text(&out.stderr),
        "berth: Error response from daemon: exec: \"nosuch\": executable file not found in $PATH\n\nRun 'berth run --help' for more information\n"
    );
}

#[test]
fn run_detached_prints_id() {
    let d = FakeDaemon::start(vec![
        route(
            "POST",
            "/containers/create",
            json(201, r#"{"Id":"c0ffee","Warnings":["low memory"]}"#),
        ),
        route(
            "POST",
            "/containers/c0ffee/start",
            Reply::Http(204, "text/plain", Vec::new()),
        ),
    ]);
    let out = d.berth(&["run", "-d", "busybox"], b"");
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out.stdout), "c0ffee\n");
    assert_eq!(text(&out.stderr), "WARNING: low memory\n");
}

#[test]
fn load_streams_stdin_and_save_writes_file() {
    let d = FakeDaemon::start(vec![
        route(
            "POST",
            "/images/load",
            json(200, "{\"stream\":\"Loaded image: busybox:latest\\n\"}\r\n"),
        ),
        route(
            "GET",
            "/images/get",
            Reply::Http(200, "application/x-tar", b"TARBYTES".to_vec()),
        ),
    ]);
    let out = d.berth(&["load"], b"fake tar");
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), "Loaded image: busybox:latest\n");
    let seen = d.seen();
    assert_eq!(seen[0].path, "/images/load?quiet=1");
    assert_eq!(seen[0].body, b"fake tar");

    let dest = d.dir.path().join("out.tar");
    let out = d.berth(
        &["save", "-o", dest.to_str().unwrap(), "busybox", "berth:x"],
        b"",
    );
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(std::fs::read(&dest).unwrap(), b"TARBYTES");
    assert_eq!(
        d.seen().last().unwrap().path,
        "/images/get?names=busybox&names=berth%3Ax"
    );
}

#[test]
fn version_format_and_daemon_errors() {
    let d = FakeDaemon::start(vec![
        route(
            "GET",
            "/version",
            json(
                200,
                r#"{"Version":"9.9","ApiVersion":"1.41","MinAPIVersion":"1.24","Os":"linux","Arch":"amd64"}"#,
            ),
        ),
        route(
            "POST",
            "/images/nosuch/tag",
            json(404, r#"{"message":"No such image: nosuch:latest"}"#),
        ),
    ]);
    let out = d.berth(
        &[
            "version",
            "--format",
            "{{.Server.Version}} {{.Client.APIVersion}}",
        ],
        b"",
    );
    assert_eq!(text(&out.stdout), "9.9 1.41\n");
    let out = d.berth(&["tag", "nosuch", "berth-test/x"], b"");
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr),
        "Error response from daemon: No such image: nosuch:latest\n"
    );
    assert_eq!(
        d.seen().last().unwrap().path,
        "/images/nosuch/tag?repo=docker.io%2Fberth-test%2Fx&tag=latest"
    );
}
