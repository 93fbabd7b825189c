//! The container lifecycle through the `berth` CLI (and a few commands through
//! the real `docker` CLI) against a real `berthd`: create, start, ps, stop,
//! kill, restart, rename, wait, top, port, rm, and Docker's error cases.
//! Expected texts and exit codes are Docker 28's CLI against dockerd 20.10.

mod common;

use std::time::{Duration, Instant};

use common::{TestDaemon, code, run, run_ok, stderr, stdout};

/// A daemon with busybox-static loaded as `busybox:latest`.
fn with_busybox() -> TestDaemon {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    d
}

/// `berth run -d --name NAME busybox ARGS...`; returns the full ID.
fn run_detached(d: &TestDaemon, name: &str, cmd: &[&str]) -> String {
    let mut args = vec!["run", "-d", "--name", name, "busybox"];
    args.extend_from_slice(cmd);
    let id = run_ok(&mut d.berth(&args)).trim().to_string();
    assert_eq!(id.len(), 64, "run -d prints the full ID: {id:?}");
    id
}

/// `berth inspect -f TEMPLATE NAME`, trimmed.
fn inspect(d: &TestDaemon, template: &str, name: &str) -> String {
    run_ok(&mut d.berth(&["inspect", "-f", template, name]))
        .trim()
        .to_string()
}

/// Polls `berth top NAME` until a process line contains `needle` (the
/// container has reached that point); bounded so a broken daemon fails the test.
fn wait_for_process(d: &TestDaemon, name: &str, needle: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let out = run(&mut d.berth(&["top", name]));
        if code(&out) == 0 && stdout(&out).lines().skip(1).any(|l| l.contains(needle)) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "no {needle:?} process in {name}: {} {}",
            stdout(&out),
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Asserts a command failed with exit 1 and `needle` on stderr.
fn assert_fails(out: &std::process::Output, needle: &str) {
    assert_eq!(
        code(out),
        1,
        "stdout: {} stderr: {}",
        stdout(out),
        stderr(out)
    );
    assert!(
        stderr(out).contains(needle),
        "{:?} not in {:?}",
        needle,
        stderr(out)
    );
}

#[test]
fn create_start_ps_stop_rm() {
    let d = with_busybox();
    let id = run_ok(&mut d.berth(&["create", "--name", "berth-life", "busybox", "sleep", "1000"]))
        .trim()
        .to_string();
    assert_eq!(id.len(), 64, "create prints the full ID: {id:?}");
    assert_eq!(inspect(&d, "{{.State.Status}}", "berth-life"), "created");
    assert_eq!(inspect(&d, "{{.Name}}", &id[..12]), "/berth-life");

    // Not running yet: `ps` shows the header only, `ps -a` the created container.
    assert_eq!(
        run_ok(&mut d.berth(&["ps"])),
        "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
    );
    let all = run_ok(&mut d.berth(&["container", "ls", "-a"]));
    let row = all
        .lines()
        .nth(1)
        .unwrap_or_else(|| panic!("no row: {all}"));
    assert!(
        row.starts_with(&format!("{}   busybox   \"sleep 1000\"   ", &id[..12])),
        "{all}"
    );
    assert!(row.contains("Created"), "{all}");
    assert!(row.ends_with("berth-life"), "{all}");

    assert_eq!(
        run_ok(&mut d.berth(&["start", "berth-life"])),
        "berth-life\n"
    );
    assert_eq!(inspect(&d, "{{.State.Status}}", "berth-life"), "running");
    assert_eq!(inspect(&d, "{{.State.Running}}", "berth-life"), "true");
    let table = run_ok(&mut d.berth(&["ps"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    let header = lines[0];
    for col in [
        "CONTAINER ID",
        "IMAGE",
        "COMMAND",
        "CREATED",
        "STATUS",
        "PORTS",
        "NAMES",
    ] {
        assert!(header.contains(col), "{header}");
    }
    let status_col = header.find("STATUS").expect("STATUS column");
    assert!(lines[1][status_col..].starts_with("Up "), "{table}");
    let created_col = header.find("CREATED").expect("CREATED column");
    assert!(
        lines[1][created_col..status_col]
            .trim_end()
            .ends_with(" ago"),
        "{table}"
    );
    // The other spellings list the same.
    for alias in [&["container", "ps"][..], &["container", "list"][..]] {
        assert_eq!(run_ok(&mut d.berth(alias)).lines().count(), 2);
    }

    // sleep as PID 1 ignores SIGTERM: stop kills it after the timeout.
    assert_eq!(
        run_ok(&mut d.berth(&["stop", "-t", "1", "berth-life"])),
        "berth-life\n"
    );
    assert_eq!(inspect(&d, "{{.State.Status}}", "berth-life"), "exited");
    assert_eq!(inspect(&d, "{{.State.ExitCode}}", "berth-life"), "137");
    // Stopping a stopped container is not an error for Docker's client (304).
    assert_eq!(
        run_ok(&mut d.berth(&["stop", "berth-life"])),
        "berth-life\n"
    );

    assert_eq!(run_ok(&mut d.berth(&["rm", "berth-life"])), "berth-life\n");
    assert_eq!(run_ok(&mut d.berth(&["ps", "-aq"])), "");
}

#[test]
fn inspect_has_dockers_container_shape() {
    let d = with_busybox();
    run_detached(&d, "berth-shape", &["sleep", "1000"]);
    let out = run_ok(&mut d.berth(&["container", "inspect", "berth-shape"]));
    let v: serde_json::Value = serde_json::from_str(&out).expect("inspect prints JSON");
    let c = &v.as_array().expect("a JSON array")[0];
    for key in [
        "Id",
        "Created",
        "Path",
        "Args",
        "State",
        "Image",
        "Name",
        "RestartCount",
        "HostConfig",
        "Mounts",
        "Config",
        "NetworkSettings",
    ] {
        assert!(c.get(key).is_some(), "no {key} in {c}");
    }
    let state = &c["State"];
    for key in [
        "Status",
        "Running",
        "Paused",
        "Restarting",
        "OOMKilled",
        "Dead",
        "Pid",
        "ExitCode",
        "Error",
        "StartedAt",
        "FinishedAt",
    ] {
        assert!(state.get(key).is_some(), "no State.{key} in {state}");
    }
    assert_eq!(state["Status"], "running");
    assert!(state["Pid"].as_i64().is_some_and(|p| p > 0), "{state}");
    assert!(c["Mounts"].is_array());
    assert!(c["NetworkSettings"].is_object());
    assert_eq!(c["Config"]["Cmd"], serde_json::json!(["sleep", "1000"]));
    assert_eq!(
        run_ok(&mut d.berth(&[
            "inspect",
            "-f",
            "{{.Name}} {{.State.Status}} {{.State.ExitCode}}",
            "berth-shape"
        ])),
        "/berth-shape running 0\n"
    );
    run_ok(&mut d.berth(&["rm", "-f", "berth-shape"]));
}

#[test]
fn ps_filters_format_and_limits() {
    let d = with_busybox();
    let running = run_detached(&d, "berth-up", &["sleep", "1000"]);
    let labelled = run_ok(&mut d.berth(&[
        "create",
        "--name",
        "berth-new",
        "-l",
        "berth.role=db",
        "busybox",
        "true",
    ]))
    .trim()
    .to_string();
    let exited = run_detached(&d, "berth-done", &["sh", "-c", "exit 3"]);
    assert_eq!(run_ok(&mut d.berth(&["wait", "berth-done"])), "3\n");

    let names = |args: &[&str]| -> Vec<String> {
        let mut full = vec!["ps", "--format", "{{.Names}}"];
        full.extend_from_slice(args);
        let mut v: Vec<String> = run_ok(&mut d.berth(&full))
            .lines()
            .map(String::from)
            .collect();
        v.sort();
        v
    };
    assert_eq!(names(&[]), ["berth-up"]);
    assert_eq!(names(&["-a"]), ["berth-done", "berth-new", "berth-up"]);
    assert_eq!(names(&["-a", "--filter", "status=exited"]), ["berth-done"]);
    assert_eq!(names(&["-a", "-f", "status=created"]), ["berth-new"]);
    assert_eq!(
        names(&["-a", "-f", "status=created", "-f", "status=running"]),
        ["berth-new", "berth-up"]
    );
    assert_eq!(names(&["-a", "-f", "name=berth-do"]), ["berth-done"]);
    assert_eq!(names(&["-a", "-f", "label=berth.role=db"]), ["berth-new"]);
    assert_eq!(names(&["-a", "-f", "label=berth.role"]), ["berth-new"]);
    assert_eq!(names(&["-a", "-f", "ancestor=busybox"]).len(), 3);
    assert_eq!(names(&["-a", "-f", "exited=3"]), ["berth-done"]);
    assert_eq!(
        names(&["-a", "-f", &format!("id={}", &running[..12])]),
        ["berth-up"]
    );

    // -n / -l: the newest containers, whatever their state.
    assert_eq!(names(&["-l"]), ["berth-done"]);
    assert_eq!(names(&["-n", "2"]), ["berth-done", "berth-new"]);

    assert_eq!(
        run_ok(&mut d.berth(&["ps", "--format", "table {{.ID}}\\t{{.Names}}"])),
        format!("CONTAINER ID   NAMES\n{}   berth-up\n", &running[..12])
    );
    assert_eq!(
        run_ok(&mut d.berth(&["ps", "-q"])),
        format!("{}\n", &running[..12])
    );
    assert_eq!(
        run_ok(&mut d.berth(&["ps", "-q", "--no-trunc"])),
        format!("{running}\n")
    );
    let mut ids: Vec<String> = run_ok(&mut d.berth(&["ps", "-aq", "--no-trunc"]))
        .lines()
        .map(String::from)
        .collect();
    ids.sort();
    let mut expected = vec![running.clone(), labelled, exited];
    expected.sort();
    assert_eq!(ids, expected);
    assert_eq!(
        run_ok(&mut d.berth(&["ps", "--format", "{{.Command}} {{.State}} {{.Image}}"])),
        "\"sleep 1000\" running busybox\n"
    );
    let json: serde_json::Value =
        serde_json::from_str(&run_ok(&mut d.berth(&["ps", "--format", "json"]))).expect("JSON");
    assert_eq!(json["Names"], "berth-up");
    assert_eq!(json["ID"], &running[..12]);

    run_ok(&mut d.berth(&["rm", "-f", "berth-up", "berth-new", "berth-done"]));
}

#[test]
fn kill_with_a_signal_and_wait_for_the_exit_code() {
    let d = with_busybox();
    run_detached(
        &d,
        "berth-trap",
        &[
            "sh",
            "-c",
            "trap 'exit 7' USR1; while true; do sleep 1; done",
        ],
    );
    // The loop's sleep runs once the trap is set.
    wait_for_process(&d, "berth-trap", "sleep 1");
    assert_eq!(
        run_ok(&mut d.berth(&["kill", "-s", "USR1", "berth-trap"])),
        "berth-trap\n"
    );
    assert_eq!(run_ok(&mut d.berth(&["wait", "berth-trap"])), "7\n");

    run_detached(&d, "berth-k1", &["sleep", "1000"]);
    run_detached(&d, "berth-k2", &["sleep", "1000"]);
    assert_eq!(
        run_ok(&mut d.berth(&["container", "kill", "berth-k1", "berth-k2"])),
        "berth-k1\nberth-k2\n"
    );
    assert_eq!(
        run_ok(&mut d.berth(&["wait", "berth-k1", "berth-k2", "berth-trap"])),
        "137\n137\n7\n"
    );
    // Killing a stopped container is the daemon's conflict, exit 1.
    let again = run(&mut d.berth(&["kill", "berth-k1"]));
    assert_fails(&again, "is not running");
    run_ok(&mut d.berth(&["rm", "berth-trap", "berth-k1", "berth-k2"]));
}

#[test]
fn restart_gives_a_new_process() {
    let d = with_busybox();
    run_detached(&d, "berth-re", &["sleep", "1000"]);
    let pid = inspect(&d, "{{.State.Pid}}", "berth-re");
    let started = inspect(&d, "{{.State.StartedAt}}", "berth-re");
    assert_eq!(
        run_ok(&mut d.berth(&["restart", "-t", "0", "berth-re"])),
        "berth-re\n"
    );
    assert_eq!(inspect(&d, "{{.State.Status}}", "berth-re"), "running");
    assert_ne!(inspect(&d, "{{.State.Pid}}", "berth-re"), pid);
    assert_ne!(inspect(&d, "{{.State.StartedAt}}", "berth-re"), started);
    assert_eq!(
        run_ok(&mut d.berth(&["rm", "-f", "berth-re"])),
        "berth-re\n"
    );
}

#[test]
fn rename_and_its_errors() {
    let d = with_busybox();
    run_ok(&mut d.berth(&["create", "--name", "berth-old", "busybox", "true"]));
    run_ok(&mut d.berth(&["create", "--name", "berth-other", "busybox", "true"]));
    assert_eq!(
        run_ok(&mut d.berth(&["rename", "berth-old", "berth-new"])),
        ""
    );
    assert_eq!(inspect(&d, "{{.Name}}", "berth-new"), "/berth-new");
    let gone = run(&mut d.berth(&["inspect", "--type", "container", "berth-old"]));
    assert_eq!(code(&gone), 1);

    let missing = run(&mut d.berth(&["rename", "berth-old", "berth-x"]));
    assert_fails(
        &missing,
        "Error response from daemon: No such container: berth-old",
    );
    assert!(stderr(&missing).contains("Error: failed to rename container named berth-old"));
    let taken = run(&mut d.berth(&["container", "rename", "berth-new", "berth-other"]));
    assert_fails(&taken, "is already in use");
    assert!(stderr(&taken).contains("Error: failed to rename container named berth-new"));
    run_ok(&mut d.berth(&["rm", "berth-new", "berth-other"]));
}

#[test]
fn top_lists_the_processes() {
    let d = with_busybox();
    run_detached(&d, "berth-top", &["sleep", "1000"]);
    let out = run_ok(&mut d.berth(&["top", "berth-top"]));
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].contains("PID"), "{out}");
    assert!(lines[0].contains("CMD"), "{out}");
    assert!(
        lines[1..].iter().any(|l| l.ends_with("sleep 1000")),
        "{out}"
    );
    run_ok(&mut d.berth(&["rm", "-f", "berth-top"]));
    let stopped = run(&mut d.berth(&["top", "berth-top"]));
    assert_fails(&stopped, "No such container: berth-top");
}

#[test]
fn start_attached_passes_output_and_exit_code() {
    let d = with_busybox();
    run_ok(&mut d.berth(&[
        "create",
        "--name",
        "berth-sa",
        "busybox",
        "sh",
        "-c",
        "echo hi; echo err >&2; exit 4",
    ]));
    let out = run(&mut d.berth(&["start", "-a", "berth-sa"]));
    assert_eq!(
        (code(&out), stdout(&out).as_str(), stderr(&out).as_str()),
        (4, "hi\n", "err\n")
    );
    // Started again without -a: the name, exit 0.
    assert_eq!(run_ok(&mut d.berth(&["start", "berth-sa"])), "berth-sa\n");
    assert_eq!(run_ok(&mut d.berth(&["wait", "berth-sa"])), "4\n");
    let missing = run(&mut d.berth(&["start", "berth-nosuch", "berth-sa"]));
    assert_eq!(code(&missing), 1);
    assert_eq!(stdout(&missing), "berth-sa\n");
    assert!(
        stderr(&missing).contains("No such container: berth-nosuch"),
        "{}",
        stderr(&missing)
    );
    assert!(
        stderr(&missing).contains("Error: failed to start containers: berth-nosuch"),
        "{}",
        stderr(&missing)
    );
    run_ok(&mut d.berth(&["rm", "berth-sa"]));
}

#[test]
fn start_ai_feeds_stdin_each_time() {
    let d = with_busybox();
    run_ok(&mut d.berth(&["create", "-i", "--name", "berth-cat", "busybox", "cat"]));
    for input in ["first\n", "second\n"] {
        let out = common::run_with_stdin(
            &mut d.berth(&["start", "-ai", "berth-cat"]),
            Some(input.as_bytes()),
        );
        assert_eq!(
            (code(&out), stdout(&out).as_str()),
            (0, input),
            "{}",
            stderr(&out)
        );
    }
    run_ok(&mut d.berth(&["rm", "berth-cat"]));
}

#[test]
fn port_without_published_ports() {
    let d = with_busybox();
    run_detached(&d, "berth-port", &["sleep", "1000"]);
    assert_eq!(run_ok(&mut d.berth(&["port", "berth-port"])), "");
    let none = run(&mut d.berth(&["port", "berth-port", "80/tcp"]));
    assert_fails(
        &none,
        "Error: No public port '80/tcp' published for berth-port",
    );
    run_ok(&mut d.berth(&["rm", "-f", "berth-port"]));
}

#[test]
fn errors_read_like_docker() {
    let d = with_busybox();
    for cmd in [
        "stop", "kill", "restart", "rm", "wait", "start", "top", "port", "inspect",
    ] {
        let out = run(&mut d.berth(&[cmd, "berth-nosuch"]));
        assert_eq!(code(&out), 1, "{cmd}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("No such container: berth-nosuch")
                || stderr(&out).contains("No such object: berth-nosuch"),
            "{cmd}: {}",
            stderr(&out)
        );
    }
    // rm -f of a missing container: the error is shown but the command succeeds.
    let forced = run(&mut d.berth(&["rm", "-f", "berth-nosuch"]));
    assert_eq!(code(&forced), 0, "{}", stderr(&forced));
    assert!(stderr(&forced).contains("No such container: berth-nosuch"));

    run_detached(&d, "berth-busy", &["sleep", "1000"]);
    let dup = run(&mut d.berth(&["create", "--name", "berth-busy", "busybox", "true"]));
    assert_fails(
        &dup,
        "Conflict. The container name \"/berth-busy\" is already in use",
    );
    let refused = run(&mut d.berth(&["rm", "berth-busy"]));
    assert_fails(
        &refused,
        "Error response from daemon: You cannot remove a running container",
    );
    assert_eq!(stdout(&refused), "");

    // Several names: the good ones are done and printed, each failure reported, exit 1.
    run_ok(&mut d.berth(&["create", "--name", "berth-a", "busybox", "true"]));
    let mixed = run(&mut d.berth(&["rm", "berth-a", "berth-nosuch", "berth-busy"]));
    assert_eq!(code(&mixed), 1);
    assert_eq!(stdout(&mixed), "berth-a\n");
    let err = stderr(&mixed);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 2, "{err}");
    assert!(
        lines[0].contains("No such container: berth-nosuch"),
        "{err}"
    );
    assert!(
        lines[1].contains("You cannot remove a running container"),
        "{err}"
    );

    assert_eq!(
        run_ok(&mut d.berth(&["rm", "-f", "berth-busy"])),
        "berth-busy\n"
    );
    assert_eq!(run_ok(&mut d.berth(&["ps", "-aq"])), "");
}

#[test]
fn docker_cli_ps_stop_and_rm_force() {
    let d = with_busybox();
    let id = run_detached(&d, "berth-dk", &["sleep", "1000"]);
    let table = run_ok(&mut d.docker(&["ps"]));
    let ours = run_ok(&mut d.berth(&["ps"]));
    // The same columns as ours; their widths may differ as the CREATED and
    // STATUS texts tick between the two calls.
    let header = |t: &str| -> Vec<String> {
        t.lines()
            .next()
            .unwrap_or_default()
            .split_whitespace()
            .map(String::from)
            .collect()
    };
    assert_eq!(header(&table), header(&ours), "{table}\n{ours}");
    assert_eq!(
        header(&table),
        [
            "CONTAINER",
            "ID",
            "IMAGE",
            "COMMAND",
            "CREATED",
            "STATUS",
            "PORTS",
            "NAMES"
        ]
    );
    let row_start = format!("{}   busybox   \"sleep 1000\"   ", &id[..12]);
    let row = table.lines().nth(1).unwrap_or_default();
    assert!(row.starts_with(&row_start), "{table}");
    assert_eq!(
        run_ok(&mut d.docker(&["ps", "--format", "{{.Names}} {{.State}}"])),
        "berth-dk running\n"
    );
    assert_eq!(
        run_ok(&mut d.docker(&["stop", "-t", "1", "berth-dk"])),
        "berth-dk\n"
    );
    assert_eq!(
        run_ok(&mut d.docker(&[
            "inspect",
            "-f",
            "{{.State.Status}} {{.State.ExitCode}}",
            "berth-dk"
        ])),
        "exited 137\n"
    );
    run_ok(&mut d.docker(&["start", "berth-dk"]));
    let refused = run(&mut d.docker(&["rm", "berth-dk"]));
    assert_fails(&refused, "You cannot remove a running container");
    assert_eq!(
        run_ok(&mut d.docker(&["rm", "-f", "berth-dk"])),
        "berth-dk\n"
    );
    let missing = run(&mut d.docker(&["stop", "berth-dk"]));
    assert_fails(&missing, "No such container: berth-dk");
    assert_eq!(run_ok(&mut d.docker(&["ps", "-aq"])), "");
}

/// `berth` running on the slave side of a pty of ours, as in a terminal.
struct PtySession {
    child: std::process::Child,
    master: std::fs::File,
    output: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl PtySession {
    /// Starts `berth ARGS` with stdin/stdout/stderr on a `rows`×`cols` pty.
    fn spawn(d: &TestDaemon, args: &[&str], rows: u16, cols: u16) -> PtySession {
        PtySession::spawn_command(d.berth(args), rows, cols)
    }

    /// Starts `cmd` with stdin/stdout/stderr on a `rows`×`cols` pty.
    fn spawn_command(mut cmd: std::process::Command, rows: u16, cols: u16) -> PtySession {
        use std::io::Read;
        use std::process::Stdio;
        let size = nix::pty::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let pty = nix::pty::openpty(&size, None).expect("openpty");
        let child = {
            let slave = std::fs::File::from(pty.slave);
            cmd.stdin(Stdio::from(slave.try_clone().expect("dup")))
                .stdout(Stdio::from(slave.try_clone().expect("dup")))
                .stderr(Stdio::from(slave));
            // The command (and our copies of the slave) are dropped here, so
            // the master reads EOF/EIO once berth exits.
            let child = cmd.spawn().expect("spawn on a pty");
            drop(cmd);
            child
        };
        let master = std::fs::File::from(pty.master);
        let output = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup master");
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("output lock")
                    .extend_from_slice(&buf[..n]);
            }
        });
        PtySession {
            child,
            master,
            output,
        }
    }

    /// Types `bytes` at the terminal.
    fn send(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.master.write_all(bytes).expect("write to the pty");
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().expect("output lock")).into_owned()
    }

    /// Waits (bounded) until the terminal has shown `needle`.
    fn wait_for(&self, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.text().contains(needle) {
            assert!(
                Instant::now() < deadline,
                "{needle:?} never appeared on the terminal: {:?}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits (bounded) for berth to exit; returns its exit code.
    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                return status.code().expect("berth exited normally");
            }
            assert!(
                Instant::now() < deadline,
                "berth did not exit; terminal: {:?}",
                self.text()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for PtySession {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

#[test]
fn run_it_gives_an_interactive_shell_sized_like_the_terminal() {
    let d = with_busybox();
    let mut term = PtySession::spawn(
        &d,
        &["run", "-it", "--name", "berth-tty", "busybox", "sh"],
        30,
        100,
    );
    // The container's pty starts at our size (ConsoleSize, then resize).
    term.send(b"stty size; echo ans-$((6*7))\r");
    term.wait_for("ans-42");
    assert!(term.text().contains("30 100"), "{:?}", term.text());

    // SIGWINCH makes berth resize the container's pty. Retyped until the
    // container sees it: the resize request and our typing race.
    rustix::termios::tcsetwinsize(
        &term.master,
        rustix::termios::Winsize {
            ws_row: 40,
            ws_col: 120,
            ws_xpixel: 0,
            ws_ypixel: 0,
        },
    )
    .expect("resize our pty");
    let pid = nix::unistd::Pid::from_raw(i32::try_from(term.child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGWINCH).expect("SIGWINCH");
    let deadline = Instant::now() + Duration::from_secs(60);
    while !term.text().contains("40 120") {
        assert!(
            Instant::now() < deadline,
            "never resized: {:?}",
            term.text()
        );
        term.send(b"stty size\r");
        std::thread::sleep(Duration::from_millis(100));
    }

    term.send(b"exit 3\r");
    assert_eq!(term.wait_exit(), 3, "{:?}", term.text());
    assert_eq!(inspect(&d, "{{.State.ExitCode}}", "berth-tty"), "3");
    run_ok(&mut d.berth(&["rm", "berth-tty"]));
}

#[test]
fn docker_run_it_gives_an_interactive_shell() {
    let d = with_busybox();
    let mut term =
        PtySession::spawn_command(d.docker(&["run", "-it", "--rm", "busybox", "sh"]), 25, 90);
    term.send(b"stty size; echo ans-$((6*7))\r");
    term.wait_for("ans-42");
    assert!(term.text().contains("25 90"), "{:?}", term.text());
    term.send(b"exit 5\r");
    assert_eq!(term.wait_exit(), 5, "{:?}", term.text());
}

#[test]
fn detach_keys_leave_the_container_running() {
    let d = with_busybox();
    let mut term = PtySession::spawn(
        &d,
        &["run", "-it", "--name", "berth-det", "busybox", "sh"],
        24,
        80,
    );
    term.send(b"echo ready-$((1+1))\r");
    term.wait_for("ready-2");
    // ctrl-p ctrl-q: only recognised with the terminal in raw mode.
    term.send(&[0x10, 0x11]);
    assert_eq!(term.wait_exit(), 0, "{:?}", term.text());
    assert_eq!(inspect(&d, "{{.State.Status}}", "berth-det"), "running");

    // Custom keys through `attach --detach-keys`.
    let mut again = PtySession::spawn(
        &d,
        &["attach", "--detach-keys", "ctrl-x,x", "berth-det"],
        24,
        80,
    );
    again.send(b"echo back-$((2+2))\r");
    again.wait_for("back-4");
    again.send(&[0x18, b'x']);
    assert_eq!(again.wait_exit(), 0, "{:?}", again.text());
    assert_eq!(inspect(&d, "{{.State.Status}}", "berth-det"), "running");
    run_ok(&mut d.berth(&["rm", "-f", "berth-det"]));
}

#[test]
fn attach_streams_stdin_and_returns_the_exit_code() {
    use std::io::{Read, Write};
    use std::process::Stdio;
    let d = with_busybox();
    run_ok(&mut d.berth(&[
        "run",
        "-d",
        "-i",
        "--name",
        "berth-att",
        "busybox",
        "sh",
        "-c",
        "read line; echo got-$line; echo oops >&2; exit 2",
    ]));
    // Stdin stays open until berth exits: as in Docker, closing it ends the
    // attachment's output too (the container has no StdinOnce).
    let mut child = d
        .berth(&["attach", "berth-att"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth attach");
    let mut stdin = child.stdin.take().expect("stdin");
    let mut out = child.stdout.take().expect("stdout");
    let mut err = child.stderr.take().expect("stderr");
    let out = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = out.read_to_string(&mut s);
        s
    });
    let err = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = err.read_to_string(&mut s);
        s
    });
    stdin.write_all(b"hello\n").expect("write stdin");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("berth attach did not exit");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    drop(stdin);
    assert_eq!(
        (
            status.code(),
            out.join().expect("stdout").as_str(),
            err.join().expect("stderr").as_str()
        ),
        (Some(2), "got-hello\n", "oops\n")
    );
    let stopped = run(&mut d.berth(&["attach", "berth-att"]));
    assert_fails(
        &stopped,
        "You cannot attach to a stopped container, start it first",
    );
    run_ok(&mut d.berth(&["rm", "berth-att"]));
}

#[test]
fn run_security_and_limit_flags() {
    let d = with_busybox();
    let sh = |flags: &[&str], script: &str| -> std::process::Output {
        let mut args = vec!["run", "--rm"];
        args.extend_from_slice(flags);
        args.extend_from_slice(&["busybox", "sh", "-c", script]);
        run(&mut d.berth(&args))
    };
    let ok = |flags: &[&str], script: &str| -> String {
        let out = sh(flags, script);
        assert_eq!(code(&out), 0, "{flags:?} {script}: {}", stderr(&out));
        stdout(&out)
    };
    assert_eq!(
        ok(&["--ulimit", "nofile=1024:2048"], "ulimit -n; ulimit -Hn"),
        "1024\n2048\n"
    );
    let ro = sh(&["--read-only"], "touch /berth-file");
    assert_ne!(code(&ro), 0, "a read-only rootfs refuses writes");
    assert!(
        stderr(&ro).contains("Read-only file system"),
        "{}",
        stderr(&ro)
    );
    assert_eq!(
        ok(
            &["--security-opt", "no-new-privileges"],
            "grep NoNewPrivs /proc/self/status"
        ),
        "NoNewPrivs:\t1\n"
    );
    assert_eq!(
        ok(&["--cap-drop", "ALL"], "grep CapEff /proc/self/status"),
        "CapEff:\t0000000000000000\n"
    );
    // CAP_NET_ADMIN is bit 12, not in Docker's default set.
    let eff = ok(
        &["--cap-drop", "ALL", "--cap-add", "NET_ADMIN"],
        "grep CapEff /proc/self/status",
    );
    assert_eq!(eff, "CapEff:\t0000000000001000\n");
    assert_eq!(ok(&["--group-add", "1234"], "id -G"), "0 1234\n");
    let bad = run(&mut d.berth(&["run", "--rm", "--ulimit", "nofile=2:1", "busybox", "true"]));
    assert_eq!(code(&bad), 125, "{}", stderr(&bad));
    assert!(
        stderr(&bad).contains("ulimit soft limit must be less than or equal to hard limit: 2 > 1"),
        "{}",
        stderr(&bad)
    );

    run_ok(&mut d.berth(&[
        "create",
        "--name",
        "berth-stopcfg",
        "--stop-signal",
        "SIGUSR1",
        "--stop-timeout",
        "3",
        "busybox",
        "true",
    ]));
    assert_eq!(
        inspect(
            &d,
            "{{.Config.StopSignal}} {{.Config.StopTimeout}}",
            "berth-stopcfg"
        ),
        "SIGUSR1 3"
    );
    run_ok(&mut d.berth(&["rm", "berth-stopcfg"]));
}

#[test]
fn run_forwards_signals_to_the_container() {
    use std::io::{BufRead, BufReader, Read};
    use std::process::Stdio;
    let d = with_busybox();
    let mut child = d
        .berth(&[
            "run",
            "--name",
            "berth-sig",
            "busybox",
            "sh",
            "-c",
            "trap 'echo caught; exit 9' INT; echo ready; while true; do sleep 1; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn berth run");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read the first line");
    assert_eq!(line, "ready\n");
    // berth installed its handlers before streaming, so SIGINT is forwarded.
    let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).expect("pid"));
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGINT).expect("SIGINT");
    let mut rest = String::new();
    out.read_to_string(&mut rest).expect("read the rest");
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("berth run did not exit after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!((status.code(), rest.as_str()), (Some(9), "caught\n"));
    run_ok(&mut d.berth(&["rm", "berth-sig"]));
}
