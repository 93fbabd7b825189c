//! `exec` end to end (issue 7, item 1) through the Engine API of a real
//! `berthd` and the `berth` CLI: output and exit codes, dockerd's start
//! failures (126 and its "OCI runtime exec failed" text), `-u`, `-w`, `-e`,
//! `--env-file`, `-i`, `-d`, a tty with resize, the container's pid
//! namespace, cgroup and capabilities, no leaked fds, and dockerd's 409s
//! for stopped and paused containers.
//!
//! Statuses and messages are dockerd 20.10.24's, recorded with curl and the
//! docker 28 client against a throw-away dockerd on this machine (see
//! `tests/compat_exec.rs`, which replays the CLI cases against both).

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::os::unix::net::UnixStream;
use std::time::Duration;

use serde_json::{Value, json};

use common::{COMMAND_BOUND, TestDaemon, code, demux, run, run_with_stdin, stderr, stdout};

/// Bound for polling loops; reaching it fails the test (no speed is asserted).
const POLL_BOUND: Duration = Duration::from_secs(60);

fn poll<T>(what: &str, f: impl FnMut() -> Option<T>) -> T {
    common::poll(what, POLL_BOUND, f)
}

fn daemon() -> TestDaemon {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    d
}

/// Creates (and with `start`, starts) `busybox sleep 1000` named `name`.
fn container(d: &TestDaemon, name: &str, host_config: Value, start: bool) -> String {
    let body = json!({"Image": "busybox", "Cmd": ["sleep", "1000"], "HostConfig": host_config});
    let resp = d.api_post_json(&format!("/v1.41/containers/create?name={name}"), &body);
    assert_eq!(resp.status, 201, "create: {}", resp.text());
    let id = resp.json()["Id"].as_str().expect("Id").to_owned();
    if start {
        let resp = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
        assert_eq!(resp.status, 204, "start: {}", resp.text());
    }
    id
}

/// `POST /containers/{c}/exec`; returns the exec ID.
fn exec_create(d: &TestDaemon, c: &str, config: Value) -> String {
    let resp = d.api_post_json(&format!("/v1.41/containers/{c}/exec"), &config);
    assert_eq!(resp.status, 201, "exec create {config}: {}", resp.text());
    resp.json()["Id"].as_str().expect("Id").to_owned()
}

fn exec_inspect(d: &TestDaemon, id: &str) -> Value {
    let resp = d.api_get(&format!("/v1.41/exec/{id}/json"));
    assert_eq!(resp.status, 200, "exec inspect: {}", resp.text());
    resp.json()
}

/// A hijacked `POST /exec/{id}/start`: the status, then the raw connection
/// with what arrived after the response head.
struct Hijacked {
    status: u16,
    stream: UnixStream,
    early: Vec<u8>,
}

impl Hijacked {
    /// Reads until the daemon closes the stream.
    fn read_all(mut self) -> Vec<u8> {
        let mut out = self.early;
        self.stream
            .read_to_end(&mut out)
            .expect("read the exec stream");
        out
    }

    /// Reads until `needle` has arrived; returns everything so far.
    fn read_until(&mut self, needle: &[u8]) -> Vec<u8> {
        let mut buf = [0u8; 4096];
        while !self.early.windows(needle.len()).any(|w| w == needle) {
            let n = self.stream.read(&mut buf).expect("read the exec stream");
            assert!(
                n > 0,
                "stream ended before {:?}: {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&self.early)
            );
            self.early.extend_from_slice(&buf[..n]);
        }
        self.early.clone()
    }
}

fn exec_start(d: &TestDaemon, id: &str, body: &Value) -> Hijacked {
    let mut stream = UnixStream::connect(d.socket_path()).expect("connect");
    stream.set_read_timeout(Some(COMMAND_BOUND)).unwrap();
    let body = body.to_string();
    let req = format!(
        "POST /v1.41/exec/{id}/start HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).expect("send exec start");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).expect("read the response head");
        assert_eq!(n, 1, "connection closed in the head: {head:?}");
        head.push(byte[0]);
    }
    let text = String::from_utf8_lossy(&head);
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status code");
    Hijacked {
        status,
        stream,
        early: Vec::new(),
    }
}

/// Runs `cmd` in container `c` through the API (attached, no tty):
/// (stdout, stderr, exit code).
fn api_exec(d: &TestDaemon, c: &str, cmd: &[&str]) -> (String, String, i64) {
    let id = exec_create(
        d,
        c,
        json!({"Cmd": cmd, "AttachStdout": true, "AttachStderr": true}),
    );
    let h = exec_start(d, &id, &json!({"Detach": false, "Tty": false}));
    assert_eq!(h.status, 101);
    let (out, err) = demux(&h.read_all());
    let code = exec_inspect(d, &id)["ExitCode"]
        .as_i64()
        .expect("ExitCode set once the stream ends");
    (
        String::from_utf8_lossy(&out).into_owned(),
        String::from_utf8_lossy(&err).into_owned(),
        code,
    )
}

#[test]
fn api_exec_streams_output_and_records_exit_codes() {
    let d = daemon();
    let c = container(&d, "berth-exec-api", json!({}), true);
    let exec_ids = || d.api_get(&format!("/v1.41/containers/{c}/json")).json()["ExecIDs"].clone();
    assert_eq!(exec_ids(), Value::Null, "no exec yet: null, as dockerd");

    let (out, err, code) = api_exec(&d, &c, &["sh", "-c", "echo out; echo err >&2; exit 3"]);
    assert_eq!((out.as_str(), err.as_str(), code), ("out\n", "err\n", 3));

    let id = exec_create(
        &d,
        "berth-exec-api",
        json!({"Cmd": ["echo", "a", "b"], "AttachStdout": true, "User": "nobody"}),
    );
    let before = exec_inspect(&d, &id);
    assert_eq!(before["ID"], id.as_str());
    // Only the exec that has not exited yet: dockerd drops exited ones from
    // the container's list (they stay inspectable by ID).
    assert_eq!(exec_ids(), json!([id]));
    assert_eq!(before["Running"], false);
    assert_eq!(before["ExitCode"], Value::Null);
    assert_eq!(before["Pid"], 0);
    assert_eq!(before["ContainerID"], c.as_str());
    assert_eq!(before["OpenStdout"], true);
    assert_eq!(before["OpenStderr"], false);
    assert_eq!(
        before["ProcessConfig"],
        json!({"tty": false, "entrypoint": "echo", "arguments": ["a", "b"], "privileged": false, "user": "nobody"})
    );
    let raw = exec_start(&d, &id, &json!({})).read_all();
    assert_eq!(demux(&raw).0, b"a b\n");
    assert_eq!(exec_inspect(&d, &id)["ExitCode"], 0);
    assert_eq!(exec_ids(), Value::Null, "exited execs leave the list");
    // An exec runs once.
    let again = d.api_post_json(&format!("/v1.41/exec/{id}/start"), &json!({"Detach": true}));
    assert_eq!(again.status, 409, "{}", again.text());
    assert_eq!(
        again.error_message(),
        format!("Error: Exec command {id} has already run")
    );

    // Start failures: dockerd 20.10 writes the error into the stream and
    // records exit code 126, whatever the cause.
    for (cmd, text) in [
        (
            "nosuch",
            "exec: \"nosuch\": executable file not found in $PATH",
        ),
        ("/etc", "exec: \"/etc\": permission denied"),
        (
            "/nosuch",
            "exec: \"/nosuch\": stat /nosuch: no such file or directory",
        ),
    ] {
        let (out, _, code) = api_exec(&d, &c, &[cmd]);
        assert_eq!(
            out,
            format!(
                "OCI runtime exec failed: exec failed: unable to start container process: {text}: unknown\r\n"
            )
        );
        assert_eq!(code, 126, "{cmd}");
    }
    // Detached, the start itself fails with dockerd's 400.
    let id = exec_create(&d, &c, json!({"Cmd": ["nosuch"]}));
    let resp = d.api_post_json(&format!("/v1.41/exec/{id}/start"), &json!({"Detach": true}));
    assert_eq!(resp.status, 400, "{}", resp.text());
    assert!(resp.error_message().starts_with("OCI runtime exec failed"));
    assert_eq!(exec_inspect(&d, &id)["ExitCode"], 126);
    // As dockerd, a start that fails is still an exec_start event.
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        + 1;
    let events = d
        .api_get(&format!("/v1.41/events?since=0&until={until}"))
        .text();
    let failed_starts = events
        .lines()
        .filter(|l| l.contains("\"Action\":\"exec_start: nosuch \""))
        .count();
    assert_eq!(failed_starts, 2, "{events}");

    let resp = d.api_post_json(&format!("/v1.41/containers/{c}/exec"), &json!({"Cmd": []}));
    assert_eq!(resp.status, 400);
    assert_eq!(resp.error_message(), "No exec command specified");
    let resp = d.api_get("/v1.41/exec/berthnosuch/json");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_message(), "No such exec instance: berthnosuch");

    // Execs leave the container running, and nothing of theirs behind.
    let st = d.api_get(&format!("/v1.41/containers/{c}/json")).json();
    assert_eq!(st["State"]["Running"], true);
    let execs_dir = d.exec_root().join("containers").join(&c).join("execs");
    let left: Vec<_> = std::fs::read_dir(&execs_dir)
        .expect("the container's execs dir")
        .map(|e| e.unwrap().file_name())
        .collect();
    assert!(left.is_empty(), "left in {}: {left:?}", execs_dir.display());
}

#[test]
fn exec_runs_inside_the_containers_namespaces_cgroup_and_capabilities() {
    let d = daemon();
    let c = container(
        &d,
        "berth-exec-ns",
        json!({"CapDrop": ["NET_RAW", "CHOWN"], "CapAdd": ["SYS_ADMIN"]}),
        true,
    );
    // The container's pid namespace: pid 1 is its command.
    let (ps, _, code) = api_exec(&d, &c, &["busybox", "ps"]);
    assert_eq!(code, 0);
    let first = ps.lines().nth(1).expect("ps rows");
    let cols: Vec<&str> = first.split_whitespace().collect();
    assert_eq!(cols[0], "1", "{ps}");
    assert!(first.ends_with("sleep 1000"), "{ps}");

    // Same cgroup (seen through the same cgroup namespace), hostname, caps.
    for file in ["cgroup", "status"] {
        let (own, _, _) = api_exec(&d, &c, &["cat", &format!("/proc/self/{file}")]);
        let (init, _, _) = api_exec(&d, &c, &["cat", &format!("/proc/1/{file}")]);
        if file == "cgroup" {
            assert_eq!(own, init);
            assert!(own.lines().all(|l| l.ends_with(":/")), "{own}");
        } else {
            let caps = |s: &str| -> Vec<String> {
                s.lines()
                    .filter(|l| l.starts_with("CapEff") || l.starts_with("CapBnd"))
                    .map(str::to_owned)
                    .collect()
            };
            assert_eq!(caps(&own), caps(&init));
            assert_eq!(caps(&own).len(), 2);
        }
    }
    // And on the host: the exec's process is in the container's cgroup.
    let sleeper = exec_create(&d, &c, json!({"Cmd": ["sleep", "1000"]}));
    let resp = d.api_post_json(
        &format!("/v1.41/exec/{sleeper}/start"),
        &json!({"Detach": true}),
    );
    assert_eq!(resp.status, 200, "{}", resp.text());
    let pid = exec_inspect(&d, &sleeper)["Pid"].as_i64().unwrap();
    assert!(pid > 0);
    let init_pid = d.api_get(&format!("/v1.41/containers/{c}/json")).json()["State"]["Pid"]
        .as_i64()
        .unwrap();
    let host_cgroup = |p: i64| std::fs::read_to_string(format!("/proc/{p}/cgroup")).unwrap();
    assert_eq!(host_cgroup(pid), host_cgroup(init_pid));
    assert!(host_cgroup(pid).contains(&c));
    for ns in ["pid", "mnt", "net", "uts", "ipc", "cgroup"] {
        let link = |p: i64| std::fs::read_link(format!("/proc/{p}/ns/{ns}")).unwrap();
        assert_eq!(link(pid), link(init_pid), "{ns} namespace");
    }
    let (hostname, _, _) = api_exec(&d, &c, &["hostname"]);
    assert_eq!(hostname.trim(), &c[..12]);

    // --privileged: more than the container has.
    let id = exec_create(
        &d,
        &c,
        json!({"Cmd": ["grep", "CapEff", "/proc/self/status"], "AttachStdout": true, "Privileged": true}),
    );
    let (own, _) = demux(&exec_start(&d, &id, &json!({})).read_all());
    let (init, _, _) = api_exec(&d, &c, &["grep", "CapEff", "/proc/1/status"]);
    let mask = |s: &str| u64::from_str_radix(s.split_whitespace().nth(1).unwrap(), 16).unwrap();
    let (own, init) = (mask(&String::from_utf8_lossy(&own)), mask(&init));
    assert_eq!(own & init, init, "privileged keeps the container's caps");
    assert_ne!(own, init, "privileged adds capabilities");

    // No fd of the daemon or supervisor leaks in: only stdio and ls's own dir fd.
    let (fds, _, _) = api_exec(&d, &c, &["ls", "/proc/self/fd"]);
    let fds: Vec<&str> = fds.split_whitespace().collect();
    assert_eq!(fds, ["0", "1", "2", "3"]);

    // The container's death takes the exec with it.
    let resp = d.api_post(&format!("/v1.41/containers/{c}/kill"), b"");
    assert_eq!(resp.status, 204);
    poll("the exec to end with its container", || {
        let st = exec_inspect(&d, &sleeper);
        (st["Running"] == false).then_some(())
    });
    assert_eq!(exec_inspect(&d, &sleeper)["ExitCode"], 137);
    assert!(!std::path::Path::new(&format!("/proc/{pid}")).exists());
    // Removed with the container.
    let resp = d.api_delete(&format!("/v1.41/containers/{c}"));
    assert_eq!(resp.status, 204, "{}", resp.text());
    assert_eq!(
        d.api_get(&format!("/v1.41/exec/{sleeper}/json")).status,
        404
    );
}

#[test]
fn exec_with_a_tty_gets_a_pty_of_the_container_and_follows_resizes() {
    let d = daemon();
    let c = container(&d, "berth-exec-tty", json!({}), true);
    let id = exec_create(
        &d,
        &c,
        json!({"Cmd": ["busybox", "tty"], "AttachStdout": true, "AttachStderr": true, "Tty": true}),
    );
    let raw = exec_start(&d, &id, &json!({"Tty": true})).read_all();
    let text = String::from_utf8_lossy(&raw);
    assert!(text.starts_with("/dev/pts/"), "{text:?} (raw, unframed)");
    assert_eq!(exec_inspect(&d, &id)["ProcessConfig"]["tty"], true);

    let id = exec_create(
        &d,
        &c,
        json!({"Cmd": ["sh", "-c", "read x; busybox stty size; echo TERM=$TERM"],
               "AttachStdin": true, "AttachStdout": true, "Tty": true}),
    );
    let mut h = exec_start(&d, &id, &json!({"Tty": true}));
    assert_eq!(h.status, 101);
    let resp = d.api_post(&format!("/v1.41/exec/{id}/resize?h=33&w=77"), b"");
    assert_eq!(resp.status, 200, "{}", resp.text());
    h.stream.write_all(b"go\n").unwrap();
    let out = h.read_until(b"TERM=xterm");
    let text = String::from_utf8_lossy(&out);
    assert!(text.contains("33 77"), "{text:?}");
    h.stream.shutdown(Shutdown::Write).unwrap();
    let _ = h.read_all();
    assert_eq!(exec_inspect(&d, &id)["ExitCode"], 0);
    let resp = d.api_post("/v1.41/exec/berthnosuch/resize?h=1&w=1", b"");
    assert_eq!(resp.status, 404);

    // With a tty, too, nothing but the terminal (and ls's dir fd) is open.
    let id = exec_create(
        &d,
        &c,
        json!({"Cmd": ["ls", "/proc/self/fd"], "AttachStdout": true, "Tty": true}),
    );
    let raw = exec_start(&d, &id, &json!({"Tty": true})).read_all();
    let fds: Vec<String> = String::from_utf8_lossy(&raw)
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    assert_eq!(fds, ["0", "1", "2", "3"]);
}

#[test]
fn exec_gets_the_containers_ulimits_and_groups() {
    let d = daemon();
    let c = container(
        &d,
        "berth-exec-limits",
        json!({"Ulimits": [{"Name": "nofile", "Soft": 1000, "Hard": 2000}], "GroupAdd": ["50"]}),
        true,
    );
    let (soft, _, _) = api_exec(&d, &c, &["sh", "-c", "ulimit -n; ulimit -Hn"]);
    assert_eq!(soft, "1000\n2000\n");
    let (id, _, _) = api_exec(&d, &c, &["id", "-G"]);
    assert_eq!(id, "0 50\n");
}

#[test]
fn exec_into_a_stopped_or_paused_container_is_refused_like_dockerd() {
    let d = daemon();
    let created = container(&d, "berth-exec-stopped", json!({}), false);
    let resp = d.api_post_json(
        "/v1.41/containers/berth-exec-stopped/exec",
        &json!({"Cmd": ["true"]}),
    );
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.error_message(),
        format!("Container {created} is not running")
    );
    let c = container(&d, "berth-exec-paused", json!({}), true);
    // Created before the pause: its start is refused too.
    let early = exec_create(&d, &c, json!({"Cmd": ["true"]}));
    let resp = d.api_post(&format!("/v1.41/containers/{c}/pause"), b"");
    assert_eq!(resp.status, 204, "{}", resp.text());
    let resp = d.api_post_json(
        "/v1.41/containers/berth-exec-paused/exec",
        &json!({"Cmd": ["true"]}),
    );
    assert_eq!(resp.status, 409);
    assert_eq!(
        resp.error_message(),
        "Container berth-exec-paused is paused, unpause the container before exec"
    );
    let out = run(&mut d.berth(&["exec", "berth-exec-paused", "true"]));
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out).trim(),
        "Error response from daemon: Container berth-exec-paused is paused, unpause the container before exec"
    );
    let resp = d.api_post_json(
        &format!("/v1.41/exec/{early}/start"),
        &json!({"Detach": true}),
    );
    assert_eq!(resp.status, 409, "{}", resp.text());
    let resp = d.api_post(&format!("/v1.41/containers/{c}/unpause"), b"");
    assert_eq!(resp.status, 204);
    let out = run(&mut d.berth(&["exec", "berth-exec-stopped", "true"]));
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out).trim(),
        format!("Error response from daemon: Container {created} is not running")
    );
}

#[test]
fn berth_exec_flags_behave_like_docker_exec() {
    let d = daemon();
    container(&d, "berth-exec-cli", json!({}), true);
    let berth = |args: &[&str]| run(&mut d.berth(args));
    let ok = |args: &[&str]| {
        let out = berth(args);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(
        ok(&["exec", "berth-exec-cli", "echo", "hi", "-n"]),
        "hi -n\n"
    );
    assert_eq!(
        ok(&[
            "container",
            "exec",
            "berth-exec-cli",
            "sh",
            "-c",
            "echo o; echo e >&2"
        ]),
        "o\n"
    );
    for (cmd, want) in [("exit 3", 3), ("nosuch", 127), ("exit 0", 0)] {
        let out = berth(&["exec", "berth-exec-cli", "sh", "-c", cmd]);
        assert_eq!(code(&out), want, "{cmd}");
    }
    let out = berth(&["exec", "berth-exec-cli", "nosuch"]);
    assert_eq!(code(&out), 126);
    assert_eq!(
        stdout(&out),
        "OCI runtime exec failed: exec failed: unable to start container process: exec: \"nosuch\": executable file not found in $PATH: unknown\r\n"
    );
    let out = berth(&["exec", "berth-exec-cli", "/etc"]);
    assert_eq!(code(&out), 126);
    assert!(stdout(&out).contains("exec: \"/etc\": permission denied"));
    let out = berth(&["exec", "-w", "/berth-nonexistent", "berth-exec-cli", "pwd"]);
    assert_eq!(code(&out), 126);
    assert!(
        stdout(&out).contains(
            "chdir to cwd (\"/berth-nonexistent\") set in config.json failed: no such file or directory"
        ),
        "{}",
        stdout(&out)
    );
    let out = berth(&["exec", "-u", "berthnouser", "berth-exec-cli", "id"]);
    assert_eq!(code(&out), 126);
    assert!(
        stdout(&out)
            .contains("unable to find user berthnouser: no matching entries in passwd file")
    );

    assert_eq!(
        ok(&["exec", "-u", "nobody", "berth-exec-cli", "id"]),
        "uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)\n"
    );
    assert_eq!(
        ok(&["exec", "-u", "0:65534", "berth-exec-cli", "id", "-g"]),
        "65534\n"
    );
    assert_eq!(
        ok(&["exec", "-w", "/etc", "berth-exec-cli", "pwd"]),
        "/etc\n"
    );

    let env_file = d.dir().join("berth-exec.env");
    std::fs::write(&env_file, "# comment\nFROM_FILE=1\nBOTH=file\n").unwrap();
    let env = ok(&[
        "exec",
        "-e",
        "FOO=bar",
        "-e",
        "BOTH=flag",
        "--env-file",
        env_file.to_str().unwrap(),
        "berth-exec-cli",
        "env",
    ]);
    let mut lines: Vec<&str> = env.lines().collect();
    lines.sort_unstable();
    assert_eq!(
        lines,
        [
            "BOTH=flag",
            "FOO=bar",
            "FROM_FILE=1",
            "HOME=/root",
            &format!("HOSTNAME={}", {
                let id = d.api_get("/v1.41/containers/berth-exec-cli/json").json()["Id"]
                    .as_str()
                    .unwrap()
                    .to_owned();
                id[..12].to_owned()
            }),
            berth::image::fixture::PATH_ENV,
        ]
    );

    let out = run_with_stdin(
        &mut d.berth(&["exec", "-i", "berth-exec-cli", "sh", "-c", "cat; echo end"]),
        Some(b"hello\n"),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello\nend\n");
    // Without -i the exec's stdin is /dev/null.
    let out = run_with_stdin(
        &mut d.berth(&["exec", "berth-exec-cli", "cat"]),
        Some(b"ignored\n"),
    );
    assert_eq!((code(&out), stdout(&out).as_str()), (0, ""));
    // -t without a terminal on stdin and -i: Docker's refusal.
    let out = run_with_stdin(
        &mut d.berth(&["exec", "-it", "berth-exec-cli", "true"]),
        Some(b""),
    );
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).contains("the input device is not a TTY"));
    // -t alone: a tty, so one raw stream with CRLF line ends.
    assert_eq!(
        ok(&[
            "exec",
            "-t",
            "berth-exec-cli",
            "sh",
            "-c",
            "echo a; echo b >&2"
        ]),
        "a\r\nb\r\n"
    );

    // -d returns at once; the command runs on.
    assert_eq!(
        ok(&[
            "exec",
            "-d",
            "berth-exec-cli",
            "sh",
            "-c",
            "echo done > /tmp/berth-d"
        ]),
        ""
    );
    poll("the detached exec's file", || {
        let out = berth(&["exec", "berth-exec-cli", "cat", "/tmp/berth-d"]);
        (code(&out) == 0 && stdout(&out) == "done\n").then_some(())
    });
    let out = berth(&["exec", "-d", "berth-exec-cli", "nosuch"]);
    assert_eq!(code(&out), 1);
    assert!(stderr(&out).starts_with("Error response from daemon: OCI runtime exec failed"));
    let out = berth(&["exec", "berth-no-such-container", "true"]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out).trim(),
        "Error response from daemon: No such container: berth-no-such-container"
    );
}
