//! What the build test suites share: the fixture cases of
//! `tests/fixtures/build/cases.json`, how a built image is observed (its
//! config fields and what running it prints), the recorded expectations
//! under `tests/fixtures/build/expected/`, and a loopback HTTP server for
//! `ADD <url>`.
//!
//! An "engine" is a function that makes a CLI command for a daemon: `berth`
//! against berthd, the docker 28 CLI (classic builder) against berthd, or
//! the docker CLI against the reference dockerd when recording.

// Each build test crate uses a different part of this module.
#![allow(dead_code)]

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use serde_json::{Map, Value, json};

use crate::common::{TestDaemon, code, run, run_ok, stderr, stdout};

/// The base image every fixture builds `FROM`: the harness's busybox-static
/// image, tagged the same in berthd and in the reference dockerd.
pub const BASE: &str = "busybox:latest";

/// The image config fields compared with dockerd's (issue 8's list).
pub const CONFIG_FIELDS: [&str; 12] = [
    "Env",
    "Cmd",
    "Entrypoint",
    "WorkingDir",
    "User",
    "ExposedPorts",
    "Labels",
    "Volumes",
    "Healthcheck",
    "StopSignal",
    "Shell",
    "OnBuild",
];

/// The body `ADD <url>` fixtures download from [`HttpServer`] (`/hello.txt`).
pub const HELLO: &[u8] = b"hello from berth\n";

/// `Last-Modified` of [`HELLO`]: 1700000000, which `ADD` makes the file's mtime.
pub const HELLO_LAST_MODIFIED: &str = "Tue, 14 Nov 2023 22:13:20 GMT";

/// A busybox sh function `show PATH...` that lists each path recursively,
/// sorted, one line per entry: name, kind, octal mode, uid:gid and, for a
/// file, its size and md5 (timestamps differ between checkouts, so none).
pub const SHOW_FN: &str = include_str!("../fixtures/build/show.sh");

/// The fixture root, `tests/fixtures/build`.
pub fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/build")
}

/// One build case of `cases.json`.
#[derive(Debug, Clone)]
pub struct Case {
    /// Unique name; also the expectation file `expected/<name>.json`.
    pub name: String,
    /// The context directory under [`fixtures`].
    pub dir: String,
    /// `--target`, if any.
    pub target: Option<String>,
    /// `--build-arg`s; `{URL}` in a value is replaced by the HTTP server's base URL.
    pub build_args: Vec<(String, String)>,
    /// Expectations written by hand from BuildKit's documentation (dockerd
    /// 20.10's classic builder rejects these Dockerfiles).
    pub buildkit: bool,
    /// Paths listed with [`SHOW_FN`] in the built image.
    pub show: Vec<String>,
    /// A busybox sh script run in the built image.
    pub sh: Option<String>,
    /// Whether the image is run with its own ENTRYPOINT/CMD.
    pub default: bool,
}

impl Case {
    /// The context directory.
    pub fn context(&self) -> PathBuf {
        fixtures().join(&self.dir)
    }

    /// The recorded (or hand-written) expectation.
    pub fn expected(&self) -> Value {
        let path = fixtures()
            .join("expected")
            .join(format!("{}.json", self.name));
        let text = fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("read the expectation {}: {e}", path.display()));
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }

    /// `build` arguments for tag `tag` (the context directory last).
    pub fn build_args(&self, tag: &str, url: &str) -> Vec<String> {
        let mut args = vec!["build".to_owned(), "-t".to_owned(), tag.to_owned()];
        for (k, v) in &self.build_args {
            args.push("--build-arg".to_owned());
            args.push(format!("{k}={}", v.replace("{URL}", url)));
        }
        if let Some(t) = &self.target {
            args.push("--target".to_owned());
            args.push(t.clone());
        }
        args.push(self.context().display().to_string());
        args
    }
}

/// Every case of `cases.json`.
pub fn cases() -> Vec<Case> {
    let path = fixtures().join("cases.json");
    let text = fs::read_to_string(&path).expect("read tests/fixtures/build/cases.json");
    let v: Value = serde_json::from_str(&text).expect("cases.json is JSON");
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .map(|s| s.as_str().expect("a string").to_owned())
            .collect()
    };
    v["cases"]
        .as_array()
        .expect("cases.json has a cases array")
        .iter()
        .map(|c| Case {
            name: c["name"].as_str().expect("a case has a name").to_owned(),
            dir: c["dir"].as_str().expect("a case has a dir").to_owned(),
            target: c["target"].as_str().map(str::to_owned),
            build_args: c["build_args"]
                .as_object()
                .into_iter()
                .flatten()
                .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned()))
                .collect(),
            buildkit: c["buildkit"].as_bool().unwrap_or(false),
            show: strings(&c["show"]),
            sh: c["sh"].as_str().map(str::to_owned),
            default: c["default"].as_bool().unwrap_or(false),
        })
        .collect()
}

/// The case called `name`.
pub fn case(name: &str) -> Case {
    cases()
        .into_iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no case {name} in cases.json"))
}

/// Drops what carries no information so engines that write `null`, `{}`,
/// `[]` or `""` for "unset" compare equal.
pub fn normalize(v: &Value) -> Option<Value> {
    match v {
        Value::Null => None,
        Value::String(s) if s.is_empty() => None,
        Value::Array(a) if a.is_empty() => None,
        Value::Object(m) => {
            let m: Map<String, Value> = m
                .iter()
                .filter_map(|(k, v)| normalize(v).map(|v| (k.clone(), v)))
                .collect();
            (!m.is_empty()).then_some(Value::Object(m))
        }
        other => Some(other.clone()),
    }
}

/// The compared fields of an image's `Config`, normalized (see [`normalize`]).
pub fn config_subset(config: &Value) -> Value {
    let mut out = Map::new();
    for f in CONFIG_FIELDS {
        if let Some(v) = normalize(&config[f]) {
            out.insert(f.to_owned(), v);
        }
    }
    Value::Object(out)
}

/// Makes CLI commands (`build`, `run`, `image inspect`, ...) for one daemon.
pub type Engine<'a> = dyn Fn(&[&str]) -> Command + 'a;

/// The image's `Config` as `image inspect` prints it.
pub fn inspect_config(engine: &Engine<'_>, image: &str) -> Value {
    let out = run_ok(&mut engine(&["image", "inspect", image]));
    let v: Value =
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("image inspect {image}: {e}: {out}"));
    v[0]["Config"].clone()
}

/// `{"stdout", "exit"}` of `run --rm --network none [--entrypoint /bin/busybox] image args...`.
pub fn run_image(engine: &Engine<'_>, image: &str, script: Option<&str>) -> Value {
    let mut args = vec!["run", "--rm", "--network", "none"];
    if let Some(s) = script {
        args.extend(["--entrypoint", "/bin/busybox", image, "sh", "-c", s]);
    } else {
        args.push(image);
    }
    let out = run(&mut engine(&args));
    json!({"stdout": stdout(&out), "exit": code(&out)})
}

/// Builds `case` as `tag` and observes the result: the compared config
/// fields and the outputs of the case's runs, in the expectation's shape.
pub fn observe(engine: &Engine<'_>, case: &Case, tag: &str, url: &str) -> Value {
    let args = case.build_args(tag, url);
    let argv: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = run(&mut engine(&argv));
    assert_eq!(
        code(&out),
        0,
        "build of case {} failed:\nstdout:\n{}\nstderr:\n{}",
        case.name,
        stdout(&out),
        stderr(&out)
    );
    observe_image(engine, case, tag)
}

/// Observes an already built image of `case` (see [`observe`]).
pub fn observe_image(engine: &Engine<'_>, case: &Case, tag: &str) -> Value {
    let mut v = Map::new();
    v.insert("config".into(), config_subset(&inspect_config(engine, tag)));
    if !case.show.is_empty() {
        let script = format!("{SHOW_FN}\nshow {}", case.show.join(" "));
        v.insert("show".into(), run_image(engine, tag, Some(&script)));
    }
    if let Some(s) = &case.sh {
        v.insert("sh".into(), run_image(engine, tag, Some(s)));
    }
    if case.default {
        v.insert("default".into(), run_image(engine, tag, None));
    }
    Value::Object(v)
}

/// A fresh berthd with the base image loaded.
pub fn daemon() -> TestDaemon {
    let d = TestDaemon::start();
    d.load_busybox(BASE);
    d
}

/// Builds the fixture case `name` with `engine` against a fresh [`daemon`] (with a loopback
/// HTTP server for `ADD <url>`) and asserts it matches its expectation.
pub fn check_case(name: &str, engine: fn(&TestDaemon) -> Box<Engine<'_>>, engine_name: &str) {
    let c = case(name);
    let d = daemon();
    let http = HttpServer::start();
    let got = observe(
        &engine(&d),
        &c,
        &format!("berth-build/{name}:1"),
        &http.url(),
    );
    assert_matches(&c, &got, engine_name);
}

/// Asserts that `got` (from [`observe`]) matches the case's expectation,
/// part by part, with both sides printed.
pub fn assert_matches(case: &Case, got: &Value, engine_name: &str) {
    let want = case.expected();
    let mut problems = Vec::new();
    for key in ["config", "show", "sh", "default"] {
        if want.get(key).is_none() && got.get(key).is_none() {
            continue;
        }
        if want.get(key) != got.get(key) {
            problems.push(format!(
                "{key}:\n  expected: {}\n  got:      {}",
                pretty(want.get(key)),
                pretty(got.get(key))
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "case {} ({engine_name}) differs from tests/fixtures/build/expected/{}.json ({}):\n{}",
        case.name,
        case.name,
        want["recorded_with"].as_str().unwrap_or("?"),
        problems.join("\n")
    );
}

fn pretty(v: Option<&Value>) -> String {
    match v {
        None => "(absent)".to_owned(),
        Some(Value::Object(m)) if m.contains_key("stdout") => {
            format!(
                "exit {} stdout:\n{}",
                m["exit"],
                m["stdout"].as_str().unwrap_or("")
            )
        }
        Some(v) => v.to_string(),
    }
}

/// Replaces every run of 12 or 64 lower-case hex digits (image and
/// container IDs) with `<id>`, so streams of two builds compare.
pub fn mask_ids(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        let hex = b[i..]
            .iter()
            .take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            .count();
        let word_start = i == 0 || !b[i - 1].is_ascii_alphanumeric();
        let word_end = i + hex == b.len() || !b[i + hex].is_ascii_alphanumeric();
        if (hex == 12 || hex == 64) && word_start && word_end {
            out.push_str("<id>");
            i += hex;
        } else {
            let ch = text[i..].chars().next().expect("a char");
            out.push(ch);
            i += ch.len_utf8();
        }
    }
    out
}

/// The `Step N/M : ...` lines of a classic-builder output, each with
/// whether the step was a cache hit (`---> Using cache` before its result).
pub fn steps(output: &str) -> Vec<(String, bool)> {
    let mut steps: Vec<(String, bool)> = Vec::new();
    for line in output.lines() {
        if line.starts_with("Step ") {
            steps.push((line.to_owned(), false));
        } else if line.trim() == "---> Using cache"
            && let Some(last) = steps.last_mut()
        {
            last.1 = true;
        }
    }
    steps
}

/// A loopback HTTP/1.1 server for `ADD <url>`: `GET /hello.txt` answers
/// [`HELLO`] with [`HELLO_LAST_MODIFIED`]; anything else is a 404. Stops
/// (and joins its thread) on drop.
pub struct HttpServer {
    addr: String,
    stop: Arc<AtomicBool>,
    hits: Arc<AtomicUsize>,
    thread: Option<thread::JoinHandle<()>>,
}

impl HttpServer {
    /// Listens on 127.0.0.1 with a port the kernel picks.
    pub fn start() -> HttpServer {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let addr = listener.local_addr().expect("local address").to_string();
        let stop = Arc::new(AtomicBool::new(false));
        let hits = Arc::new(AtomicUsize::new(0));
        let (s, h) = (stop.clone(), hits.clone());
        let thread = thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                if let Ok(c) = conn {
                    h.fetch_add(1, Ordering::SeqCst);
                    serve(c);
                }
            }
        });
        HttpServer {
            addr,
            stop,
            hits,
            thread: Some(thread),
        }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Connections served so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn serve(mut c: TcpStream) {
    let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
    let mut head = Vec::new();
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        match c.read(&mut buf) {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut words = head.split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let resp = if path == "/hello.txt" {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nLast-Modified: {HELLO_LAST_MODIFIED}\r\nConnection: close\r\n\r\n",
            HELLO.len()
        )
        .into_bytes();
        if method != "HEAD" {
            r.extend_from_slice(HELLO);
        }
        r
    } else {
        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".to_vec()
    };
    let _ = c.write_all(&resp);
    let _ = c.shutdown(Shutdown::Both);
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accept loop so it sees the flag.
        let _ = TcpStream::connect(&self.addr);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Writes `files` (relative path, content) into a fresh context directory
/// under `parent` and returns it.
pub fn write_context(parent: &Path, name: &str, files: &[(&str, &str)]) -> PathBuf {
    let dir = parent.join(name);
    for (path, content) in files {
        let p = dir.join(path);
        fs::create_dir_all(p.parent().expect("a parent")).expect("create a context dir");
        fs::write(&p, content).unwrap_or_else(|e| panic!("write {}: {e}", p.display()));
    }
    dir
}
