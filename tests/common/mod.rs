//! Shared harness for the integration tests: a real `berthd` per test on its
//! own socket, data root, exec root and pidfile under a `/tmp/berth-test-*`
//! directory, driven over the API (a tiny HTTP/1.1 client on the unix
//! socket), through the `berth` binary and through the real `docker` CLI.
//!
//! Everything a test creates is torn down by `Drop`, on failure too: the
//! daemon (SIGTERM, then SIGKILL), processes it left behind (supervisors and
//! their containers), mounts under the test directory, the directory itself.
//!
//! `BERTH_TEST_DAEMON_HOST=unix:///path.sock` makes [`TestDaemon::start`] use
//! an already running daemon instead of spawning `berthd`; pointed at a
//! throw-away dockerd it checks the tests' own expectations against the
//! reference engine (with `BERTH_TEST_CLI=/usr/local/bin/docker` for the CLI
//! tests). Each test then starts by removing all of that daemon's containers
//! and images, so run such suites with `--test-threads=1`. Tests of the
//! daemon's lifecycle need their own daemon and fail in that mode.

// Each integration test crate compiles this module and uses a different part of it.
#![allow(dead_code)]

pub mod registry;
pub mod restart;
pub mod service;
pub mod svc;

use std::collections::{HashMap, HashSet};
use std::ffi::OsStr;
use std::fs;
use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

/// How long a daemon may take to answer `/_ping` after being spawned.
const START_BOUND: Duration = Duration::from_secs(60);
/// How long a daemon may take to exit after SIGTERM before it is SIGKILLed.
const STOP_BOUND: Duration = Duration::from_secs(30);
/// Upper bound for any one command or API call; reaching it fails the test
/// (it only stops a hung test from hanging the suite; nothing asserts speed).
pub const COMMAND_BOUND: Duration = Duration::from_secs(180);

/// The `docker` client the compatibility tests drive: `$BERTH_DOCKER_CLI`, else
/// the version 28 client at `/usr/local/bin/docker` (Debian's docker.io puts an
/// older client in /usr/bin, which must not be picked up by accident).
pub fn docker_cli() -> PathBuf {
    let path = std::env::var_os("BERTH_DOCKER_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/local/bin/docker"));
    assert!(
        path.is_file(),
        "the docker CLI is missing at {} (install the docker 28 client there or set BERTH_DOCKER_CLI)",
        path.display()
    );
    path
}

/// The `berth` binary under test (`BERTH_TEST_CLI` overrides it).
pub fn berth_cli() -> PathBuf {
    std::env::var_os("BERTH_TEST_CLI")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_berth")))
}

/// Fails the test with a clear message unless it runs as root: these tests
/// start daemons that mount and create namespaces, and must never pass silently
/// by skipping that work.
pub fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "this test needs root (it starts berthd, which mounts and creates namespaces); run the suite with sudo"
    );
}

/// Polls `f` until it returns `Some`, failing with `what` after `bound` (which
/// only ends a hung test; nothing asserts how fast the answer came).
pub fn poll<T>(what: &str, bound: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + bound;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(25));
    }
}

/// A /24 for a user network that no host route or address uses (see
/// [`TestNet::pick`]), and its first address as the gateway.
pub fn free_subnet() -> (String, String) {
    let bip = TestNet::pick().bip;
    let base = bip.trim_end_matches(".1/24");
    (format!("{base}.0/24"), format!("{base}.1"))
}

/// A fresh directory `/tmp/berth-<what>-XXXXXX` (`$BERTH_TEST_TMPDIR` replaces
/// `/tmp`), kept (not deleted on drop): its owner removes it after unmounting
/// whatever is below it.
pub fn berth_tempdir(what: &str) -> PathBuf {
    let base =
        std::env::var_os("BERTH_TEST_TMPDIR").map_or_else(|| PathBuf::from("/tmp"), PathBuf::from);
    tempfile::Builder::new()
        .prefix(&format!("berth-{what}-"))
        .tempdir_in(&base)
        .unwrap_or_else(|e| panic!("create a test directory under {}: {e}", base.display()))
        .keep()
}

/// The flags that give a berthd its own data root, exec root, pid file and
/// config file (every test daemon's, however it is started).
pub fn state_args(
    data_root: &Path,
    exec_root: &Path,
    pidfile: &Path,
    config_file: &Path,
) -> [std::ffi::OsString; 8] {
    [
        "--data-root".into(),
        data_root.into(),
        "--exec-root".into(),
        exec_root.into(),
        "--pidfile".into(),
        pidfile.into(),
        "--config-file".into(),
        config_file.into(),
    ]
}

/// A `berthd` command line for the given socket, directories and config
/// file, with `--debug` so a failing test's log says what happened.
pub fn berthd_command(
    socket: &Path,
    data_root: &Path,
    exec_root: &Path,
    pidfile: &Path,
    config_file: &Path,
) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_berthd"));
    cmd.arg("-H")
        .arg(format!("unix://{}", socket.display()))
        .args(state_args(data_root, exec_root, pidfile, config_file))
        .arg("--debug")
        .env_remove("DOCKER_HOST")
        .env_remove("BERTH_HOST")
        .stdin(Stdio::null());
    cmd
}

/// A daemon under test: either a `berthd` this harness spawned and owns, or
/// (with `BERTH_TEST_DAEMON_HOST`) an external one it only talks to.
pub struct TestDaemon {
    dir: PathBuf,
    socket: PathBuf,
    data_root: PathBuf,
    exec_root: PathBuf,
    pidfile: PathBuf,
    log: PathBuf,
    docker_config: PathBuf,
    cgroup_parent: String,
    child: Option<Child>,
    external: bool,
    /// The network flags a restarted daemon gets again.
    restart_args: Vec<String>,
    /// This daemon's own default bridge and subnet (see [`TestNet`]).
    net: TestNet,
}

/// The default bridge of one test daemon: a name of its own (`berth` + 8 hex
/// digits) and a free /24 in 10.200.0.0/13, so parallel test daemons never
/// share a bridge, a subnet or an nft table. Torn down with the daemon:
/// the bridge, the user networks' bridges and the daemon's nft table.
#[derive(Debug, Clone)]
pub struct TestNet {
    /// Linux bridge of the default network (`--bridge`).
    pub bridge: String,
    /// Its address and prefix (`--bip`).
    pub bip: String,
}

impl TestNet {
    /// A bridge name and a /24 no host route or address uses.
    pub fn pick() -> TestNet {
        let routes = Command::new("ip")
            .args(["-4", "route", "show", "table", "all"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        let addrs = Command::new("ip")
            .args(["-4", "-o", "addr"])
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
            .unwrap_or_default();
        loop {
            let mut r = [0u8; 6];
            getrandom::fill(&mut r).expect("random bytes");
            let (b, c) = (200 + (r[0] % 8), r[1]);
            let prefix = format!("10.{b}.{c}.");
            if routes.contains(&prefix) || addrs.contains(&prefix) {
                continue;
            }
            return TestNet {
                bridge: format!("berth{}", hex::encode(&r[2..6])),
                bip: format!("10.{b}.{c}.1/24"),
            };
        }
    }

    /// The daemon flags that select this bridge.
    pub fn args(&self) -> [String; 4] {
        [
            "--bridge".to_owned(),
            self.bridge.clone(),
            "--bip".to_owned(),
            self.bip.clone(),
        ]
    }

    /// The daemon's nft table (see `berth::network::nft::table_name`).
    pub fn nft_table(&self) -> String {
        berth::network::nft::table_name(&self.bridge)
    }

    /// Deletes what a daemon with this bridge and `data_root` made: its
    /// default bridge, its user networks' bridges and its nft table. For
    /// daemons a test starts without [`TestDaemon`]; returns what failed.
    pub fn teardown_daemon(&self, data_root: &Path) -> Vec<String> {
        self.teardown(&TestNet::user_bridges(data_root))
    }

    /// Bridges of the user networks recorded under `data_root`.
    fn user_bridges(data_root: &Path) -> Vec<String> {
        let dir = data_root.join("network").join("networks");
        let Ok(entries) = fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter_map(|e| fs::read(e.path()).ok())
            .filter_map(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .filter(|v| v["predefined"] == false)
            .filter_map(|v| v["bridge"].as_str().map(str::to_owned))
            .filter(|b| !b.is_empty())
            .collect()
    }

    /// Deletes the bridges and the nft table; returns what failed.
    fn teardown(&self, user_bridges: &[String]) -> Vec<String> {
        let mut problems = Vec::new();
        for b in user_bridges.iter().chain([&self.bridge]) {
            if Path::new("/sys/class/net").join(b).exists() {
                let out = Command::new("ip").args(["link", "del", b]).output();
                if !out.as_ref().is_ok_and(|o| o.status.success()) {
                    problems.push(format!("delete bridge {b}: {out:?}"));
                }
            }
        }
        let table = self.nft_table();
        let listed = Command::new("nft")
            .args(["list", "table", "ip", &table])
            .output();
        if listed.is_ok_and(|o| o.status.success()) {
            let out = Command::new("nft")
                .args(["delete", "table", "ip", &table])
                .output();
            if !out.as_ref().is_ok_and(|o| o.status.success()) {
                problems.push(format!("delete nft table {table}: {out:?}"));
            }
        }
        problems
    }
}

impl TestDaemon {
    /// Starts a fresh `berthd` and waits until it answers `GET /_ping`.
    pub fn start() -> TestDaemon {
        TestDaemon::start_with("{}", &[])
    }

    /// Like [`TestDaemon::start`], with `config_json` as the daemon's
    /// `--config-file` (so a host's /etc/berth/daemon.json plays no part) and
    /// extra `berthd` arguments.
    pub fn start_with(config_json: &str, extra_args: &[&str]) -> TestDaemon {
        require_root();
        let dir = berth_tempdir("test");
        let docker_config = dir.join("docker-config");
        fs::create_dir(&docker_config).expect("create the docker client config dir");
        let cgroup_parent = dir
            .file_name()
            .expect("a test dir has a name")
            .to_string_lossy()
            .into_owned();
        let mut d = TestDaemon {
            socket: dir.join("berth.sock"),
            data_root: dir.join("data"),
            exec_root: dir.join("exec"),
            pidfile: dir.join("berthd.pid"),
            log: dir.join("berthd.log"),
            docker_config,
            cgroup_parent,
            dir,
            child: None,
            external: false,
            restart_args: Vec::new(),
            net: TestNet::pick(),
        };
        if let Some(host) = std::env::var_os("BERTH_TEST_DAEMON_HOST") {
            let host = host.to_string_lossy().into_owned();
            let path = host.strip_prefix("unix://").unwrap_or_else(|| {
                panic!("BERTH_TEST_DAEMON_HOST must be unix:///path, not {host}")
            });
            d.socket = PathBuf::from(path);
            d.external = true;
            d.reset_external();
            return d;
        }
        let config_file = d.dir.join("daemon.json");
        fs::write(&config_file, d.isolating_config(config_json, extra_args))
            .expect("write the daemon's config file");
        let log = fs::File::create(&d.log).expect("create the daemon log file");
        let child = berthd_command(
            &d.socket,
            &d.data_root,
            &d.exec_root,
            &d.pidfile,
            &config_file,
        )
        .args(d.net_args(config_json, extra_args))
        .args(extra_args)
        .stdout(log.try_clone().expect("clone the log file handle"))
        .stderr(log)
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {}: {e}", env!("CARGO_BIN_EXE_berthd")));
        d.child = Some(child);
        d.wait_ready();
        d
    }

    /// `config_json` plus this test's own `cgroup-parent` (unless the test
    /// sets one itself), so parallel tests never share a cgroup and the
    /// teardown knows what to remove. Text that is not a JSON object is kept
    /// as is: tests of bad config files need it.
    fn isolating_config(&self, config_json: &str, extra_args: &[&str]) -> String {
        let Ok(serde_json::Value::Object(mut map)) = serde_json::from_str(config_json) else {
            return config_json.to_owned();
        };
        if !extra_args.contains(&"--cgroup-parent") {
            map.entry("cgroup-parent")
                .or_insert_with(|| self.cgroup_parent.clone().into());
        }
        serde_json::Value::Object(map).to_string()
    }

    /// The daemon's default cgroup parent: unique to this test, named
    /// `berth-test-…`, removed from every hierarchy by the teardown.
    pub fn cgroup_parent(&self) -> &str {
        &self.cgroup_parent
    }

    /// Gives a test a clean external daemon: removes all its containers and
    /// images (run such suites with one test thread).
    fn reset_external(&self) {
        let containers = self.api_get("/v1.41/containers/json?all=1").json();
        for c in containers.as_array().into_iter().flatten() {
            let id = c["Id"].as_str().unwrap_or_default();
            self.api_delete(&format!("/v1.41/containers/{id}?force=1"));
        }
        let images = self.api_get("/v1.41/images/json").json();
        for i in images.as_array().into_iter().flatten() {
            let id = i["Id"].as_str().unwrap_or_default();
            self.api_delete(&format!("/v1.41/images/{id}?force=1"));
        }
    }

    /// Polls `/_ping` until it answers 200, failing early if the daemon exits.
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + START_BOUND;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait().expect("poll berthd")
            {
                panic!(
                    "berthd exited before answering /_ping ({status}); log:\n{}",
                    self.log_text()
                );
            }
            if self.socket.exists()
                && let Ok(resp) = try_request(&self.socket, "GET", "/_ping", &[], &[])
                && resp.status == 200
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "berthd did not answer /_ping on {} within {START_BOUND:?}; log:\n{}",
                self.socket.display(),
                self.log_text()
            );
            thread::sleep(Duration::from_millis(25));
        }
    }

    /// `--bridge`/`--bip` for this daemon, unless the test configures the
    /// bridge itself (then [`TestDaemon::net`] follows what it chose).
    fn net_args(&mut self, config_json: &str, extra_args: &[&str]) -> Vec<String> {
        let file: serde_json::Value = serde_json::from_str(config_json).unwrap_or_default();
        let flag = |name: &str| {
            extra_args
                .iter()
                .position(|a| *a == name)
                .and_then(|i| extra_args.get(i + 1))
                .map(|s| (*s).to_owned())
        };
        let bridge = flag("--bridge").or_else(|| file["bridge"].as_str().map(str::to_owned));
        let bip = flag("--bip").or_else(|| file["bip"].as_str().map(str::to_owned));
        let mut args = Vec::new();
        match bridge {
            Some(b) => self.net.bridge = b,
            None => args.extend(["--bridge".to_owned(), self.net.bridge.clone()]),
        }
        match bip {
            Some(b) => self.net.bip = b,
            None => args.extend(["--bip".to_owned(), self.net.bip.clone()]),
        }
        self.restart_args = args.clone();
        args
    }

    /// This daemon's default bridge and subnet.
    pub fn net(&self) -> &TestNet {
        &self.net
    }

    /// `unix:///…/berth.sock`, the value for `-H` and `DOCKER_HOST`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// The daemon's API socket.
    pub fn socket_path(&self) -> &Path {
        &self.socket
    }

    /// The test's private directory (holds the daemon's dirs and scratch files).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The daemon's `--data-root`.
    pub fn data_root(&self) -> &Path {
        self.owned("data_root");
        &self.data_root
    }

    /// The daemon's `--exec-root`.
    pub fn exec_root(&self) -> &Path {
        self.owned("exec_root");
        &self.exec_root
    }

    /// The daemon's `--pidfile`.
    pub fn pidfile(&self) -> &Path {
        self.owned("pidfile");
        &self.pidfile
    }

    /// The pid of the spawned `berthd`.
    pub fn pid(&self) -> u32 {
        self.owned("pid");
        self.child.as_ref().expect("berthd is running").id()
    }

    fn owned(&self, what: &str) {
        assert!(
            !self.external,
            "{what} needs a berthd started by the test, not BERTH_TEST_DAEMON_HOST"
        );
    }

    /// The daemon's log so far (empty for an external daemon).
    pub fn log_text(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }

    /// A `berth` command aimed at this daemon with `-H`. `BERTH_TEST_CLI`
    /// replaces the binary (pointed at the docker CLI and a reference dockerd,
    /// it checks the CLI tests' expectations).
    pub fn berth(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(berth_cli());
        cmd.arg("-H")
            .arg(self.host())
            .args(args)
            .env_remove("DOCKER_HOST")
            .env_remove("BERTH_HOST")
            .current_dir(&self.dir);
        cmd
    }

    /// A real `docker` CLI command aimed at this daemon through `DOCKER_HOST`,
    /// with a private `DOCKER_CONFIG` so the user's `~/.docker` plays no part.
    pub fn docker(&self, args: &[&str]) -> Command {
        docker_command(&self.host(), &self.docker_config, args, &self.dir)
    }

    /// Sends SIGTERM and waits (bounded) for `berthd` to exit; returns its status.
    pub fn stop(&mut self) -> ExitStatus {
        self.owned("stop");
        let child = self.child.as_mut().expect("berthd is running");
        let pid = Pid::from_raw(child.id() as i32);
        kill(pid, Signal::SIGTERM).expect("send SIGTERM to berthd");
        let status = wait_bounded(child, STOP_BOUND);
        self.child = None;
        status.unwrap_or_else(|| panic!("berthd did not exit within {STOP_BOUND:?} of SIGTERM"))
    }

    /// `kill -9`s the spawned `berthd`, waits until it is dead, runs
    /// `meanwhile` (while no daemon runs), then starts a second `berthd` on
    /// the same socket, data root, exec root, pidfile and config file and
    /// waits until it answers `GET /_ping`: a daemon crash and restart as the
    /// containers see it. Its log goes to `berthd-restarted.log` in the test
    /// directory.
    pub fn kill9_and_restart(&self, meanwhile: impl FnOnce()) -> RestartedDaemon {
        let pid = Pid::from_raw(self.pid() as i32);
        kill(pid, Signal::SIGKILL).expect("kill -9 berthd");
        // Dead means gone, or a zombie whose other threads have exited too:
        // the leader turns Z while threads stuck in a syscall still hold
        // the process' files, the data-root lock among them. The zombie is
        // reaped by this harness's teardown, which still owns the child.
        let deadline = Instant::now() + STOP_BOUND;
        let threads = || fs::read_dir(format!("/proc/{pid}/task")).map_or(0, |d| d.count());
        while fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
            || threads() > 1
        {
            assert!(
                Instant::now() < deadline,
                "berthd {pid} still alive {STOP_BOUND:?} after SIGKILL"
            );
            thread::sleep(Duration::from_millis(20));
        }
        meanwhile();
        let log_path = self.dir.join("berthd-restarted.log");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", log_path.display()));
        let child = berthd_command(
            &self.socket,
            &self.data_root,
            &self.exec_root,
            &self.pidfile,
            &self.dir.join("daemon.json"),
        )
        .args(self.restart_args.clone())
        .stdout(log.try_clone().expect("clone the second daemon's log"))
        .stderr(log)
        .spawn()
        .expect("spawn the second berthd");
        // Built before the wait so that a failed wait still stops it.
        let restarted = RestartedDaemon {
            child,
            socket: self.socket.clone(),
            log: log_path,
        };
        let deadline = Instant::now() + START_BOUND;
        while !try_request(&self.socket, "GET", "/_ping", &[], &[]).is_ok_and(|r| r.status == 200) {
            assert!(
                Instant::now() < deadline,
                "the second berthd did not answer /_ping on {} within {START_BOUND:?}",
                self.socket.display()
            );
            thread::sleep(Duration::from_millis(50));
        }
        restarted
    }

    /// One API request; fails the test if the daemon cannot be reached.
    pub fn api(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> ApiResponse {
        try_request(&self.socket, method, path, headers, body)
            .unwrap_or_else(|e| panic!("{method} {path} on {}: {e}", self.socket.display()))
    }

    /// `GET path`.
    pub fn api_get(&self, path: &str) -> ApiResponse {
        self.api("GET", path, &[], &[])
    }

    /// `HEAD path`.
    pub fn api_head(&self, path: &str) -> ApiResponse {
        self.api("HEAD", path, &[], &[])
    }

    /// `DELETE path`.
    pub fn api_delete(&self, path: &str) -> ApiResponse {
        self.api("DELETE", path, &[], &[])
    }

    /// `POST path` with a body (sent as JSON when it looks like JSON).
    pub fn api_post(&self, path: &str, body: &[u8]) -> ApiResponse {
        if body.first() == Some(&b'{') || body.first() == Some(&b'[') {
            self.api("POST", path, &[("Content-Type", "application/json")], body)
        } else {
            self.api("POST", path, &[], body)
        }
    }

    /// `POST path` with a JSON value as body.
    pub fn api_post_json(&self, path: &str, body: &serde_json::Value) -> ApiResponse {
        self.api_post(path, body.to_string().as_bytes())
    }

    /// Attaches to a container's stdout and stderr (`POST /containers/{id}/attach`
    /// with an upgrade to a raw stream) and reads the stream on a thread until
    /// the daemon closes it; call before starting the container.
    pub fn api_attach(&self, id: &str) -> AttachStream {
        let path = format!("/v1.41/containers/{id}/attach?stream=1&stdout=1&stderr=1");
        let mut stream = connect(&self.socket).expect("connect for attach");
        let request = format!(
            "POST {path} HTTP/1.1\r\nHost: berth\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n"
        );
        stream
            .write_all(request.as_bytes())
            .expect("send the attach request");
        let (status, headers, rest) =
            read_head(&mut stream).expect("read the attach response head");
        assert!(
            status == 101 || status == 200,
            "attach to {id} answered {status} {:?}",
            String::from_utf8_lossy(&rest)
        );
        let reader = thread::spawn(move || {
            let mut raw = rest;
            stream.read_to_end(&mut raw).map(|_| raw)
        });
        AttachStream {
            status,
            headers,
            reader,
        }
    }

    /// Writes a `docker save` archive of the busybox-static image tagged
    /// `reference` into the test directory and returns its path and image ID.
    pub fn busybox_archive(&self, reference: &str) -> (PathBuf, String) {
        let path = self.dir.join(format!(
            "busybox-{}.tar",
            reference.replace(['/', ':'], "_")
        ));
        let id = berth::image::fixture::busybox_docker_archive(&path, reference)
            .unwrap_or_else(|e| panic!("write the busybox archive {}: {e}", path.display()));
        (path, id)
    }

    /// Loads the busybox-static image as `reference` through `POST /images/load`
    /// and returns its image ID (`sha256:…`).
    pub fn load_busybox(&self, reference: &str) -> String {
        let (path, id) = self.busybox_archive(reference);
        let tar = fs::read(&path).expect("read the busybox archive");
        let resp = self.api(
            "POST",
            "/v1.41/images/load?quiet=1",
            &[("Content-Type", "application/x-tar")],
            &tar,
        );
        assert_eq!(resp.status, 200, "load {reference}: {}", resp.text());
        assert!(
            !resp.text().contains("\"error\""),
            "load {reference} reported an error: {}",
            resp.text()
        );
        id
    }

    fn cleanup(&mut self) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(mut child) = self.child.take() {
            let pid = Pid::from_raw(child.id() as i32);
            if let Err(e) = kill(pid, Signal::SIGTERM) {
                problems.push(format!("SIGTERM berthd: {e}"));
            }
            if wait_bounded(&mut child, STOP_BOUND).is_none() {
                problems.push(format!(
                    "berthd ignored SIGTERM for {STOP_BOUND:?}; killed it"
                ));
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        if !self.external {
            let user_bridges = TestNet::user_bridges(&self.data_root);
            problems.extend(teardown_dir(&self.dir));
            problems.extend(self.net.teardown(&user_bridges));
            problems.extend(remove_cgroup_trees(&self.cgroup_parent));
        } else if let Err(e) = fs::remove_dir_all(&self.dir) {
            problems.push(format!("remove {}: {e}", self.dir.display()));
        }
        problems
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        let panicking = thread::panicking();
        if panicking && !self.external {
            eprintln!(
                "---- berthd log ({}) ----\n{}---- end of berthd log ----",
                self.log.display(),
                self.log_text()
            );
        }
        let problems = self.cleanup();
        if !problems.is_empty() {
            let msg = format!(
                "cleanup after the test left problems:\n  {}",
                problems.join("\n  ")
            );
            if panicking {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// The second `berthd` of [`TestDaemon::kill9_and_restart`]. Dropping it
/// stops it (SIGTERM, then SIGKILL) and prints its log if the test failed;
/// the containers it adopted are left to the [`TestDaemon`]'s teardown.
pub struct RestartedDaemon {
    child: Child,
    socket: PathBuf,
    log: PathBuf,
}

impl RestartedDaemon {
    /// One bodiless API request; fails the test if the daemon cannot be reached.
    fn request(&self, method: &str, path: &str) -> ApiResponse {
        try_request(&self.socket, method, path, &[], &[]).unwrap_or_else(|e| {
            panic!(
                "{method} {path} on the second berthd at {}: {e}",
                self.socket.display()
            )
        })
    }

    /// `GET path`.
    pub fn get(&self, path: &str) -> ApiResponse {
        self.request("GET", path)
    }

    /// `POST path` with no body.
    pub fn post(&self, path: &str) -> ApiResponse {
        self.request("POST", path)
    }

    /// `DELETE path`.
    pub fn delete(&self, path: &str) -> ApiResponse {
        self.request("DELETE", path)
    }
}

impl Drop for RestartedDaemon {
    fn drop(&mut self) {
        if thread::panicking() {
            let log = fs::read(&self.log).unwrap_or_default();
            eprintln!(
                "---- second berthd log ({}) ----\n{}---- end of second berthd log ----",
                self.log.display(),
                String::from_utf8_lossy(&log)
            );
        }
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        if wait_bounded(&mut self.child, STOP_BOUND).is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A `docker` command for `host` with a private config dir and no hints.
pub fn docker_command(host: &str, config_dir: &Path, args: &[&str], cwd: &Path) -> Command {
    let mut cmd = Command::new(docker_cli());
    cmd.args(args)
        .env("DOCKER_HOST", host)
        .env("DOCKER_CONFIG", config_dir)
        .env("DOCKER_CLI_HINTS", "false")
        .env_remove("DOCKER_CONTEXT")
        .env_remove("DOCKER_API_VERSION")
        .env_remove("DOCKER_TLS_VERIFY")
        .current_dir(cwd);
    cmd
}

/// Waits up to `bound` for `child`; `None` if it is still running then.
fn wait_bounded(child: &mut Child, bound: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + bound;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return Some(status),
            Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
            Ok(None) => return None,
            Err(e) => panic!("wait for pid {}: {e}", child.id()),
        }
    }
}

/// Kills every process left behind under `dir` (those whose command line
/// mentions it, with all their descendants), unmounts everything below it,
/// deepest first, and deletes it. Returns what could not be cleaned.
pub fn teardown_dir(dir: &Path) -> Vec<String> {
    let mut problems = Vec::new();
    let leftovers = processes_under(dir);
    for pid in &leftovers {
        let _ = kill(Pid::from_raw(*pid), Signal::SIGKILL);
    }
    let deadline = Instant::now() + STOP_BOUND;
    let mut alive: Vec<i32> = leftovers.clone();
    while !alive.is_empty() && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(20));
        alive.retain(|pid| is_alive(*pid));
    }
    if !alive.is_empty() {
        problems.push(format!("processes survived SIGKILL: {alive:?}"));
    }
    problems.extend(unmount_below(dir));
    if dir.exists()
        && let Err(e) = fs::remove_dir_all(dir)
    {
        problems.push(format!("remove {}: {e}", dir.display()));
    }
    problems
}

/// Removes the cgroup `parent` and everything below it from every mounted
/// cgroup hierarchy (v1 controllers and the unified one), retrying while
/// the kernel still frees killed processes.
pub fn remove_cgroup_trees(parent: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let mountinfo = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let roots = mountinfo.lines().filter_map(|line| {
        let (pre, post) = line.split_once(" - ")?;
        let fstype = post.split(' ').next()?;
        let mount_point = pre.split(' ').nth(4)?;
        matches!(fstype, "cgroup" | "cgroup2").then(|| PathBuf::from(mount_point))
    });
    for root in roots {
        let top = root.join(parent.trim_start_matches('/'));
        if !top.exists() {
            continue;
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mut stack = vec![top.clone()];
        while let Some(d) = stack.pop() {
            if let Ok(entries) = fs::read_dir(&d) {
                stack.extend(
                    entries
                        .flatten()
                        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
                        .map(|e| e.path()),
                );
            }
            dirs.push(d);
        }
        // Children were pushed after their parents: remove in reverse.
        for d in dirs.iter().rev() {
            let deadline = Instant::now() + STOP_BOUND;
            loop {
                match fs::remove_dir(d) {
                    Ok(()) => break,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => break,
                    Err(_) if Instant::now() < deadline => thread::sleep(Duration::from_millis(20)),
                    Err(e) => {
                        problems.push(format!("remove cgroup {}: {e}", d.display()));
                        break;
                    }
                }
            }
        }
    }
    problems
}

/// Pids whose command line mentions `dir`, plus all of their descendants.
pub fn processes_under(dir: &Path) -> Vec<i32> {
    let needle = dir.as_os_str().as_encoded_bytes();
    let me = std::process::id() as i32;
    let mut parent_of: HashMap<i32, i32> = HashMap::new();
    let mut roots: HashSet<i32> = HashSet::new();
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if pid == me {
            continue;
        }
        if let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat"))
            && let Some(ppid) = stat_ppid(&stat)
        {
            parent_of.insert(pid, ppid);
        }
        if let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline"))
            && cmdline.windows(needle.len()).any(|w| w == needle)
        {
            roots.insert(pid);
        }
    }
    let mut found: HashSet<i32> = roots.clone();
    // Add descendants until nothing changes (the process table is small).
    loop {
        let before = found.len();
        for (pid, ppid) in &parent_of {
            if found.contains(ppid) && *pid != me {
                found.insert(*pid);
            }
        }
        if found.len() == before {
            break;
        }
    }
    let mut pids: Vec<i32> = found.into_iter().collect();
    pids.sort_unstable();
    pids
}

/// The parent pid from a `/proc/<pid>/stat` line (the name may hold spaces
/// and parentheses, so parse after the last `)`).
fn stat_ppid(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

fn is_alive(pid: i32) -> bool {
    // A zombie still has a /proc entry but no longer runs anything.
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 1..].split_whitespace().next())
            .is_some_and(|state| state != "Z"),
        Err(_) => false,
    }
}

/// Mount points at or below `dir` in this mount namespace, deepest first.
pub fn mounts_below(dir: &Path) -> Vec<PathBuf> {
    let info = fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<PathBuf> = info
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .map(|p| PathBuf::from(unescape_mountinfo(p)))
        .filter(|p| p.starts_with(dir))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.components().count()));
    points.dedup();
    points
}

/// Lazily unmounts everything below `dir`, repeating for stacked mounts.
fn unmount_below(dir: &Path) -> Vec<String> {
    for _ in 0..16 {
        let points = mounts_below(dir);
        if points.is_empty() {
            return Vec::new();
        }
        for p in points {
            let _ = nix::mount::umount2(&p, nix::mount::MntFlags::MNT_DETACH);
        }
    }
    mounts_below(dir)
        .into_iter()
        .map(|p| format!("still mounted: {}", p.display()))
        .collect()
}

/// Decodes mountinfo's octal escapes (`\040` for a space, ...).
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            out.push((b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Response header names (lower-cased) and values, in order.
pub type Headers = Vec<(String, String)>;

/// A response from the daemon.
#[derive(Debug)]
pub struct ApiResponse {
    /// The HTTP status code.
    pub status: u16,
    /// The response headers.
    pub headers: Headers,
    /// The body, de-chunked.
    pub body: Vec<u8>,
}

impl ApiResponse {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        header_value(&self.headers, name)
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The body parsed as JSON; fails the test if it is not JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "body of a {} response is not JSON ({e}): {:?}",
                self.status,
                self.text()
            )
        })
    }

    /// The `message` of a Docker error body `{"message": "..."}`.
    pub fn error_message(&self) -> String {
        let v = self.json();
        v.get("message")
            .and_then(|m| m.as_str())
            .unwrap_or_else(|| panic!("error body without a string \"message\": {v}"))
            .to_string()
    }
}

fn header_value<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

fn connect(socket: &Path) -> io::Result<UnixStream> {
    let stream = UnixStream::connect(socket)?;
    stream.set_read_timeout(Some(COMMAND_BOUND))?;
    stream.set_write_timeout(Some(COMMAND_BOUND))?;
    Ok(stream)
}

/// One HTTP/1.1 request with `Connection: close` over the unix socket.
pub fn try_request(
    socket: &Path,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<ApiResponse> {
    let mut stream = connect(socket)?;
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    if !body.is_empty() || method == "POST" || method == "PUT" {
        head.push_str(&format!("Content-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)?;
    let (status, headers, mut rest) = read_head(&mut stream)?;
    let body = if method == "HEAD" || status == 204 || status == 304 {
        Vec::new()
    } else if header_value(&headers, "transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"))
    {
        stream.read_to_end(&mut rest)?;
        dechunk(&rest)?
    } else if let Some(len) = header_value(&headers, "content-length") {
        let len: usize = len.trim().parse().map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad content-length {len:?}"),
            )
        })?;
        while rest.len() < len {
            let mut buf = [0u8; 65536];
            let n = read_some(&mut stream, &mut buf)?;
            if n == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "body shorter than content-length",
                ));
            }
            rest.extend_from_slice(&buf[..n]);
        }
        rest.truncate(len);
        rest
    } else {
        stream.read_to_end(&mut rest)?;
        rest
    };
    Ok(ApiResponse {
        status,
        headers,
        body,
    })
}

/// One `read`, retried when a signal interrupts it: a socket with a read
/// timeout can return EINTR when the test process is stopped and continued.
fn read_some(mut stream: impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match stream.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Reads a response head; returns the status, the headers and any body bytes
/// that arrived with it.
fn read_head(stream: &mut UnixStream) -> io::Result<(u16, Headers, Vec<u8>)> {
    let mut buf = Vec::new();
    let end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i;
        }
        let mut chunk = [0u8; 4096];
        let n = read_some(&mut *stream, &mut chunk)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "connection closed inside the response head: {:?}",
                    String::from_utf8_lossy(&buf)
                ),
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    let rest = buf[end + 4..].to_vec();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                format!("bad status line {status_line:?}"),
            )
        })?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    Ok((status, headers, rest))
}

/// Decodes a chunked transfer-encoded body.
fn dechunk(mut data: &[u8]) -> io::Result<Vec<u8>> {
    let bad = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("bad chunked body: {what}"),
        )
    };
    let mut out = Vec::new();
    loop {
        let line_end = data
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| bad("no chunk size line"))?;
        let size_text = String::from_utf8_lossy(&data[..line_end]);
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).map_err(|_| bad(size_text))?;
        data = &data[line_end + 2..];
        if size == 0 {
            return Ok(out);
        }
        if data.len() < size + 2 {
            return Err(bad("truncated chunk"));
        }
        out.extend_from_slice(&data[..size]);
        data = &data[size + 2..];
    }
}

/// An attached container output stream being read on a thread.
pub struct AttachStream {
    /// 101 (upgraded) or 200.
    pub status: u16,
    /// The response headers.
    pub headers: Headers,
    reader: thread::JoinHandle<io::Result<Vec<u8>>>,
}

impl AttachStream {
    /// Waits for the daemon to close the stream; returns the raw bytes.
    pub fn raw(self) -> Vec<u8> {
        self.reader
            .join()
            .expect("the attach reader thread panicked")
            .expect("read the attach stream")
    }

    /// Waits for the end of the stream and splits Docker's 8-byte-header
    /// multiplexed frames into (stdout, stderr).
    pub fn demux(self) -> (Vec<u8>, Vec<u8>) {
        demux(&self.raw())
    }
}

/// Splits a multiplexed stream (`[stream, 0, 0, 0, len_be32] payload`, stream
/// 1 = stdout, 2 = stderr) into (stdout, stderr); fails the test on bad framing.
pub fn demux(mut raw: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while !raw.is_empty() {
        assert!(raw.len() >= 8, "truncated frame header in {raw:?}");
        let len = u32::from_be_bytes([raw[4], raw[5], raw[6], raw[7]]) as usize;
        assert!(raw.len() >= 8 + len, "truncated frame payload in {raw:?}");
        let payload = &raw[8..8 + len];
        match raw[0] {
            0 | 1 => out.extend_from_slice(payload),
            2 => err.extend_from_slice(payload),
            s => panic!("unknown stream type {s} in multiplexed frame"),
        }
        raw = &raw[8 + len..];
    }
    (out, err)
}

/// Runs `cmd` to completion with stdin closed, capturing output; fails the
/// test if it does not finish within [`COMMAND_BOUND`].
pub fn run(cmd: &mut Command) -> Output {
    run_with_stdin(cmd, None)
}

/// Like [`run`], feeding `stdin` to the command (then closing it).
pub fn run_with_stdin(cmd: &mut Command, stdin: Option<&[u8]>) -> Output {
    let desc = describe(cmd);
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {desc}: {e}"));
    let feeder = stdin.map(|data| {
        let mut pipe = child.stdin.take().expect("piped stdin");
        let data = data.to_vec();
        // A command that exits without reading all of stdin closes the pipe; that is its business.
        thread::spawn(move || {
            let _ = pipe.write_all(&data);
        })
    });
    let out = pipe_reader(child.stdout.take());
    let err = pipe_reader(child.stderr.take());
    let status = match wait_bounded(&mut child, COMMAND_BOUND) {
        Some(s) => s,
        None => {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{desc} did not finish within {COMMAND_BOUND:?}; stdout: {:?} stderr: {:?}",
                String::from_utf8_lossy(&out.join().unwrap_or_default()),
                String::from_utf8_lossy(&err.join().unwrap_or_default())
            );
        }
    };
    if let Some(f) = feeder {
        let _ = f.join();
    }
    Output {
        status,
        stdout: out.join().expect("stdout reader"),
        stderr: err.join().expect("stderr reader"),
    }
}

fn pipe_reader<R: Read + Send + 'static>(pipe: Option<R>) -> thread::JoinHandle<Vec<u8>> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// `program arg arg …` for messages.
pub fn describe(cmd: &Command) -> String {
    let mut parts = vec![cmd.get_program().to_string_lossy().into_owned()];
    parts.extend(
        cmd.get_args()
            .map(|a: &OsStr| a.to_string_lossy().into_owned()),
    );
    parts.join(" ")
}

/// Runs `cmd` and asserts it exits 0; returns its stdout as text.
pub fn run_ok(cmd: &mut Command) -> String {
    let desc = describe(cmd);
    let out = run(cmd);
    assert!(
        out.status.success(),
        "{desc} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The exit code of a finished command (fails the test if a signal ended it).
pub fn code(out: &Output) -> i32 {
    out.status
        .code()
        .unwrap_or_else(|| panic!("the command was killed by a signal ({})", out.status))
}

/// Text of stdout.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Text of stderr.
pub fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A rootfs tar of busybox-static as `tar -C rootfs -c .` would make it
/// (GNU headers, owner root, every numeric field filled in):
/// `/bin/busybox`, a symlink per applet in `/bin`, `/etc/passwd`, `/etc/group`
/// and an empty `/tmp`. Input for `import`.
pub fn busybox_rootfs_tar() -> Vec<u8> {
    let busybox = fs::read("/bin/busybox").expect("read /bin/busybox (install busybox-static)");
    let list = Command::new("/bin/busybox")
        .arg("--list")
        .output()
        .expect("run busybox --list");
    let mut b = tar::Builder::new(Vec::new());
    let dir = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(mode);
        h.set_size(0);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, path, io::empty())
            .expect("append a directory");
    };
    let file = |b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32, data: &[u8]| {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(mode);
        h.set_size(data.len() as u64);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        b.append_data(&mut h, path, data).expect("append a file");
    };
    dir(&mut b, "./", 0o755);
    dir(&mut b, "./bin/", 0o755);
    dir(&mut b, "./etc/", 0o755);
    dir(&mut b, "./tmp/", 0o1777);
    file(&mut b, "./bin/busybox", 0o755, &busybox);
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet.is_empty() || applet == "busybox" {
            continue;
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(0o777);
        h.set_size(0);
        h.set_mtime(0);
        h.set_uid(0);
        h.set_gid(0);
        b.append_link(&mut h, format!("./bin/{applet}"), "busybox")
            .expect("append a symlink");
    }
    file(
        &mut b,
        "./etc/passwd",
        0o644,
        b"root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    );
    file(
        &mut b,
        "./etc/group",
        0o644,
        b"root:x:0:\nnogroup:x:65534:\n",
    );
    b.into_inner().expect("finish the rootfs tar")
}

/// A throw-away reference dockerd (Debian's docker.io) with its own socket,
/// data root, exec root, pidfile, containerd namespace and bridge
/// (`berthdk…`, created here with a 198.18.0.0/15 benchmark-range address so
/// dockerd neither creates `docker0` nor picks a host range). No iptables.
pub struct RefDockerd {
    dir: PathBuf,
    socket: PathBuf,
    bridge: String,
    child: Option<Child>,
    log: PathBuf,
}

/// Where the reference dockerd lives (Debian's docker.io).
pub const DOCKERD: &str = "/usr/sbin/dockerd";

impl RefDockerd {
    /// Starts it and waits until it answers `/_ping`. Fails the test (never
    /// skips it) when dockerd is not installed.
    pub fn start() -> RefDockerd {
        require_root();
        assert!(
            Path::new(DOCKERD).is_file(),
            "{DOCKERD} is missing: install Debian's docker.io (apt-get install docker.io); the round-trip test needs a real dockerd"
        );
        let dir = berth_tempdir("dockerd");
        let mut rnd = [0u8; 3];
        getrandom::fill(&mut rnd).expect("random bytes");
        let bridge = format!("berthdk{}", hex::encode(rnd));
        let mut d = RefDockerd {
            socket: dir.join("docker.sock"),
            log: dir.join("dockerd.log"),
            dir,
            bridge,
            child: None,
        };
        run_ok(Command::new("ip").args(["link", "add", &d.bridge, "type", "bridge"]));
        let addr = format!("198.{}.{}.1/24", 18 + (rnd[0] & 1), rnd[1]);
        run_ok(Command::new("ip").args(["addr", "add", &addr, "dev", &d.bridge]));
        fs::write(d.dir.join("daemon.json"), b"{}").expect("write daemon.json");
        let log = fs::File::create(&d.log).expect("create the dockerd log");
        let ns = format!("berthtest-{}", hex::encode(rnd));
        let child = Command::new(DOCKERD)
            .arg("-H")
            .arg(format!("unix://{}", d.socket.display()))
            .arg("--data-root")
            .arg(d.dir.join("data"))
            .arg("--exec-root")
            .arg(d.dir.join("exec"))
            .arg("--pidfile")
            .arg(d.dir.join("docker.pid"))
            .arg("--config-file")
            .arg(d.dir.join("daemon.json"))
            .arg("--bridge")
            .arg(&d.bridge)
            .args([
                "--iptables=false",
                "--ip-masq=false",
                "--ip-forward=false",
                "--userland-proxy=false",
            ])
            .arg("--containerd-namespace")
            .arg(&ns)
            .arg("--containerd-plugins-namespace")
            .arg(format!("{ns}-plugins"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {DOCKERD}: {e}"));
        d.child = Some(child);
        let deadline = Instant::now() + START_BOUND;
        loop {
            if let Some(status) = d
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("poll dockerd"))
            {
                panic!("dockerd exited early ({status}); log:\n{}", d.log_text());
            }
            if let Ok(r) = try_request(&d.socket, "GET", "/_ping", &[], &[])
                && r.status == 200
            {
                return d;
            }
            assert!(
                Instant::now() < deadline,
                "dockerd did not start; log:\n{}",
                d.log_text()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `unix:///…/docker.sock`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    /// A `docker` command aimed at this dockerd.
    pub fn docker(&self, args: &[&str]) -> Command {
        let config = self.dir.join("docker-config");
        fs::create_dir_all(&config).expect("create the docker config dir");
        docker_command(&self.host(), &config, args, &self.dir)
    }

    fn log_text(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for RefDockerd {
    fn drop(&mut self) {
        let panicking = thread::panicking();
        let mut problems = Vec::new();
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            if wait_bounded(&mut child, STOP_BOUND).is_none() {
                let _ = child.kill();
                let _ = child.wait();
                problems.push("dockerd ignored SIGTERM; killed it".to_string());
            }
        }
        if panicking {
            eprintln!(
                "---- dockerd log ----\n{}---- end of dockerd log ----",
                self.log_text()
            );
        }
        problems.extend(teardown_dir(&self.dir));
        let del = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
        match del {
            Ok(o) if o.status.success() => {}
            Ok(o) => problems.push(format!(
                "ip link del {}: {}",
                self.bridge,
                String::from_utf8_lossy(&o.stderr)
            )),
            Err(e) => problems.push(format!("ip link del {}: {e}", self.bridge)),
        }
        if !problems.is_empty() {
            let msg = format!("reference dockerd cleanup:\n  {}", problems.join("\n  "));
            if panicking {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// One raw tar entry for hostile layers: the name is copied byte for byte
/// into the header (`..` and absolute paths included), which the `tar`
/// crate's checked setters refuse to do.
pub fn raw_entry(out: &mut Vec<u8>, name: &str, kind: tar::EntryType, link: &str, data: &[u8]) {
    assert!(
        name.len() < 100 && link.len() < 100,
        "raw_entry names must fit the ustar header"
    );
    let mut h = tar::Header::new_ustar();
    h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
    h.as_old_mut().linkname[..link.len()].copy_from_slice(link.as_bytes());
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(1_700_000_000);
    h.set_size(data.len() as u64);
    h.set_cksum();
    out.extend_from_slice(h.as_bytes());
    out.extend_from_slice(data);
    out.resize(out.len().next_multiple_of(512), 0);
}

/// Ends a raw tar (two zero blocks).
pub fn raw_finish(mut out: Vec<u8>) -> Vec<u8> {
    out.resize(out.len() + 1024, 0);
    out
}

/// A `docker save` archive (manifest.json, config, `<n>/layer.tar`) of the
/// given uncompressed layers tagged `reference`; returns it and the image ID.
pub fn docker_archive(layers: &[Vec<u8>], reference: &str) -> (Vec<u8>, String) {
    use sha2::{Digest, Sha256};
    let diff_ids: Vec<String> = layers
        .iter()
        .map(|l| format!("sha256:{}", hex::encode(Sha256::digest(l))))
        .collect();
    let config = serde_json::json!({
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    })
    .to_string();
    let config_hex = hex::encode(Sha256::digest(config.as_bytes()));
    let layer_paths: Vec<String> = (0..layers.len())
        .map(|i| format!("l{i}/layer.tar"))
        .collect();
    let manifest = serde_json::json!([{
        "Config": format!("{config_hex}.json"),
        "RepoTags": [reference],
        "Layers": layer_paths,
    }])
    .to_string();
    let mut b = tar::Builder::new(Vec::new());
    let mut add = |path: &str, data: &[u8]| {
        let mut h = tar::Header::new_ustar();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(1_700_000_000);
        b.append_data(&mut h, path, data)
            .expect("append to the archive");
    };
    for (path, layer) in layer_paths.iter().zip(layers) {
        add(path, layer);
    }
    add(&format!("{config_hex}.json"), config.as_bytes());
    add("manifest.json", manifest.as_bytes());
    (
        b.into_inner().expect("finish the archive"),
        format!("sha256:{config_hex}"),
    )
}
