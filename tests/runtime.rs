//! Privileged tests of the runtime: real supervisors (the built `berthd` in
//! supervisor mode), namespaces, overlay mounts and capabilities. They must
//! run as root and fail loudly otherwise.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use berth::runtime::client::{self, Event, ExitStatus, Started};
use berth::runtime::spec::{ContainerSpec, SPEC_VERSION};
use berth::runtime::{RuntimeError, state};

const APPLETS: &[&str] = &[
    "sh", "echo", "cat", "ls", "id", "hostname", "sleep", "true", "false", "grep", "env", "pwd",
    "wc", "head", "readlink", "cut", "sort",
];

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "runtime tests need root (namespaces, mounts): run them as root"
    );
}

/// A busybox rootfs as the single lower layer, plus upper/work/state/run dirs,
/// all under one temp dir; Drop kills whatever the test left running.
struct Fixture {
    dir: tempfile::TempDir,
    spec: ContainerSpec,
}

impl Fixture {
    fn new(args: &[&str]) -> Fixture {
        require_root();
        let dir = tempfile::Builder::new()
            .prefix("berth-rt-")
            .tempdir()
            .unwrap();
        let root = dir.path();
        let layer = root.join("layer");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root"] {
            std::fs::create_dir_all(layer.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", layer.join("bin/busybox")).unwrap();
        for a in APPLETS {
            symlink("busybox", layer.join("bin").join(a)).unwrap();
        }
        std::fs::write(
            layer.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        )
        .unwrap();
        std::fs::write(layer.join("etc/group"), "root:x:0:\nnogroup:x:65534:\n").unwrap();
        for d in ["state/upper", "state/work", "run"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let spec = ContainerSpec {
            version: SPEC_VERSION,
            id: "berthtest0123456789".into(),
            layers: vec![layer],
            upper: root.join("state/upper"),
            work: root.join("state/work"),
            args: args.iter().map(|s| s.to_string()).collect(),
            env: vec!["PATH=/bin".into(), "GREETING=hi there".into()],
            cwd: "/".into(),
            user: String::new(),
            hostname: "berth-box".into(),
            tty: false,
            open_stdin: false,
            state_dir: root.join("state"),
            run_dir: root.join("run"),
        };
        Fixture { dir, spec }
    }

    async fn start(&self) -> Result<Started, RuntimeError> {
        client::start(Path::new(env!("CARGO_BIN_EXE_berthd")), &self.spec).await
    }

    /// Starts, collects all output until the exit, and checks the aftermath.
    async fn run(&self) -> Output {
        let started = self.start().await.expect("container starts");
        let out = collect(started).await;
        self.assert_cleaned_up(&out.status);
        out
    }

    fn supervisor_pid(&self) -> Option<i32> {
        state::read_supervisor_info(&self.spec.run_dir).map(|i| i.supervisor_pid)
    }

    /// After an exit: exit.json matches, the supervisor is gone with its
    /// socket, and no mount of ours is left on the host.
    fn assert_cleaned_up(&self, status: &ExitStatus) {
        assert_eq!(
            client::read_exit_status(&self.spec.state_dir).as_ref(),
            Some(status)
        );
        if let Some(pid) = self.supervisor_pid() {
            wait_gone(pid);
        }
        assert!(
            !self.spec.run_dir.join("sup.sock").exists(),
            "supervisor socket left behind"
        );
        let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let ours = self.dir.path().to_str().unwrap();
        assert!(!mounts.contains(ours), "mounts left on the host:\n{mounts}");
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(info) = state::read_supervisor_info(&self.spec.run_dir) {
            for pid in [info.container_pid, Some(info.supervisor_pid)]
                .into_iter()
                .flatten()
            {
                let p = nix::unistd::Pid::from_raw(pid);
                // Already gone is fine.
                let _ = nix::sys::signal::kill(p, nix::sys::signal::Signal::SIGKILL);
                wait_gone(pid);
            }
        }
    }
}

/// Blocks until process `pid` has exited (pidfd: no sleeping or polling).
fn wait_gone(pid: i32) {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    let Ok(fd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) else {
        return; // already reaped
    };
    use std::os::fd::AsFd;
    let mut fds = [nix::poll::PollFd::new(
        fd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE).unwrap();
}

struct Output {
    stdout: String,
    stderr: String,
    /// Stream tags in arrival order: 'o' or 'e' per chunk.
    order: String,
    status: ExitStatus,
}

/// Collects events until the exit. The generous limit only turns a hang
/// (a bug) into a failure that runs the cleanup guards.
async fn collect(started: Started) -> Output {
    tokio::time::timeout(std::time::Duration::from_secs(120), collect_all(started))
        .await
        .expect("the container exits")
}

async fn collect_all(mut started: Started) -> Output {
    let (mut stdout, mut stderr, mut order) = (Vec::new(), Vec::new(), String::new());
    while let Some(ev) = started.events.recv().await {
        match ev {
            Event::Stdout(b) => {
                stdout.extend_from_slice(&b);
                order.push('o');
            }
            Event::Stderr(b) => {
                stderr.extend_from_slice(&b);
                order.push('e');
            }
            Event::Exited(status) => {
                return Output {
                    stdout: String::from_utf8(stdout).unwrap(),
                    stderr: String::from_utf8(stderr).unwrap(),
                    order,
                    status,
                };
            }
        }
    }
    panic!("events ended without an exit");
}

async fn sh(script: &str) -> Output {
    Fixture::new(&["sh", "-c", script]).run().await
}

#[tokio::test]
async fn stdout_and_stderr_arrive_separately_and_in_order() {
    // Each echo is its own write: the order within a stream is fixed, the
    // interleaving of the two streams is not.
    let out = sh("echo out1; echo err1 >&2; echo out2; echo err2 >&2; echo out3").await;
    assert_eq!(out.stdout, "out1\nout2\nout3\n");
    assert_eq!(out.stderr, "err1\nerr2\n");
    assert!(out.order.contains('o') && out.order.contains('e'));
    assert_eq!(out.status.exit_code, 0);
    assert_eq!(out.status.signal, None);
    assert!(out.status.finished_at.ends_with('Z'));
}

#[tokio::test]
async fn echo_hi_with_a_path_lookup() {
    let out = Fixture::new(&["echo", "hi"]).run().await;
    assert_eq!(out.stdout, "hi\n");
    assert_eq!(out.stderr, "");
}

#[tokio::test]
async fn exit_code_propagates() {
    let out = sh("exit 3").await;
    assert_eq!(out.status.exit_code, 3);
    assert_eq!(out.status.signal, None);
}

#[tokio::test]
async fn sigkill_gives_137() {
    let fx = Fixture::new(&["sleep", "1000"]);
    let started = fx.start().await.unwrap();
    started.control.signal(9).await.unwrap();
    let out = collect(started).await;
    assert_eq!(out.status.exit_code, 137);
    assert_eq!(out.status.signal, Some(9));
    fx.assert_cleaned_up(&out.status);
}

#[tokio::test]
async fn missing_command_is_reported_like_docker() {
    let fx = Fixture::new(&["nonexistent-berth"]);
    let err = fx.start().await.unwrap_err();
    assert!(matches!(err, RuntimeError::ExecNotFound { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "exec: \"nonexistent-berth\": executable file not found in $PATH"
    );
    assert_eq!(err.class(), berth::api::ErrorClass::InvalidArgument);

    let fx = Fixture::new(&["/bin/nonexistent-berth"]);
    let err = fx.start().await.unwrap_err();
    assert!(
        err.to_string().contains("no such file or directory"),
        "{err}"
    );
}

#[tokio::test]
async fn directory_as_command_is_permission_denied() {
    let fx = Fixture::new(&["/etc"]);
    let err = fx.start().await.unwrap_err();
    assert!(
        matches!(err, RuntimeError::ExecPermissionDenied { .. }),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "exec: \"/etc\": permission denied");
}

#[tokio::test]
async fn failed_start_leaves_no_supervisor_or_mount() {
    let fx = Fixture::new(&["nonexistent-berth"]);
    fx.start().await.unwrap_err();
    let pid = fx.supervisor_pid().expect("supervisor.json written");
    wait_gone(pid);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(fx.dir.path().to_str().unwrap()));
    assert_eq!(client::read_exit_status(&fx.spec.state_dir), None);
}

#[tokio::test]
async fn user_resolves_inside_the_container() {
    let mut fx = Fixture::new(&[
        "sh",
        "-c",
        "id -u; id -g; echo $HOME; grep CapEff /proc/self/status",
    ]);
    fx.spec.user = "nobody".into();
    let out = fx.run().await;
    assert_eq!(
        out.stdout,
        "65534\n65534\n/nonexistent\nCapEff:\t0000000000000000\n"
    );

    let mut fx = Fixture::new(&["id", "-u"]);
    fx.spec.user = "1234:99".into();
    assert_eq!(fx.run().await.stdout, "1234\n");

    let mut fx = Fixture::new(&["true"]);
    fx.spec.user = "nosuchuser".into();
    let err = fx.start().await.unwrap_err();
    assert!(matches!(err, RuntimeError::BadUser { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "unable to find user nosuchuser: no matching entries in passwd file"
    );
}

#[tokio::test]
async fn hostname_and_etc_files() {
    let out = sh("hostname; cat /etc/hostname; grep berth-box /etc/hosts; grep -c localhost /etc/hosts; cat /etc/resolv.conf").await;
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    assert_eq!(
        out.stdout,
        format!("berth-box\nberth-box\n127.0.0.1\tberth-box\n2\n{host_resolv}")
    );
}

#[tokio::test]
async fn no_fds_leak_into_the_container() {
    let out = Fixture::new(&["ls", "/proc/self/fd"]).run().await;
    assert_eq!(out.stdout, "0\n1\n2\n3\n", "ls's own dir fd is 3");
}

#[tokio::test]
async fn capabilities_are_dockers_default() {
    let out = Fixture::new(&["grep", "^Cap", "/proc/self/status"])
        .run()
        .await;
    assert_eq!(
        out.stdout,
        "CapInh:\t0000000000000000\nCapPrm:\t00000000a80425fb\nCapEff:\t00000000a80425fb\n\
         CapBnd:\t00000000a80425fb\nCapAmb:\t0000000000000000\n"
    );
}

#[tokio::test]
async fn masked_and_read_only_paths() {
    let out = sh(
        "cat /proc/timer_list | wc -c; cat /proc/keys | wc -c; ls /sys/firmware | wc -l; \
         echo x > /proc/sys/kernel/hostname && echo wrote",
    )
    .await;
    assert_eq!(out.stdout, "0\n0\n0\n");
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
    assert_ne!(out.status.exit_code, 0);
}

#[tokio::test]
async fn namespaces_pid1_and_loopback_only() {
    let out = sh("echo $$; grep : /proc/net/dev; cat /sys/class/net/lo/flags").await;
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines[0], "1", "{}", out.stdout);
    let ifaces: Vec<&str> = lines[1..lines.len() - 1]
        .iter()
        .map(|l| l.split(':').next().unwrap().trim())
        .collect();
    assert_eq!(ifaces, ["lo"], "{}", out.stdout);
    let flags = u32::from_str_radix(lines.last().unwrap().trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "lo is up");
}

#[tokio::test]
async fn dev_and_kernel_mounts() {
    let out = sh(
        "ls /dev; readlink /dev/fd; readlink /dev/ptmx; \
         grep -E ' /(dev|dev/pts|dev/shm|dev/mqueue|proc|sys) ' /proc/self/mountinfo | cut -d' ' -f5,6,9; \
         echo x > /dev/null && echo null-ok; head -c 4 /dev/zero | wc -c",
    )
    .await;
    let lines: Vec<&str> = out.stdout.lines().collect();
    let dev = [
        "core", "fd", "full", "mqueue", "null", "ptmx", "pts", "random", "shm", "stderr", "stdin",
        "stdout", "tty", "urandom", "zero",
    ];
    assert_eq!(lines[..dev.len()], dev, "{}", out.stdout);
    let expected = [
        "/proc/self/fd",
        "pts/ptmx",
        "/proc rw,nosuid,nodev,noexec,relatime proc",
        "/sys ro,nosuid,nodev,noexec,relatime sysfs",
        "/dev rw,nosuid tmpfs",
        "/dev/pts rw,nosuid,noexec,relatime devpts",
        "/dev/shm rw,nosuid,nodev,noexec,relatime tmpfs",
        "/dev/mqueue rw,nosuid,nodev,noexec,relatime mqueue",
        // Matched by its root field "/sys": the read-only bind of /proc/sys.
        "/proc/sys ro,nosuid,nodev,noexec,relatime proc",
        "null-ok",
        "4",
    ];
    assert_eq!(lines[dev.len()..], expected, "{}", out.stdout);
}

#[tokio::test]
async fn cwd_is_created_and_env_applied() {
    let mut fx = Fixture::new(&["sh", "-c", "pwd; echo \"$GREETING\"; echo $HOME"]);
    fx.spec.cwd = "/work/dir".into();
    let out = fx.run().await;
    assert_eq!(out.stdout, "/work/dir\nhi there\n/root\n");
}

#[tokio::test]
async fn stdin_is_forwarded_and_closed() {
    let mut fx = Fixture::new(&["cat"]);
    fx.spec.open_stdin = true;
    let started = fx.start().await.unwrap();
    started.control.write_stdin(b"hello ").await.unwrap();
    started.control.write_stdin(b"berth\n").await.unwrap();
    started.control.close_stdin().await.unwrap();
    let out = collect(started).await;
    assert_eq!(out.stdout, "hello berth\n");
    assert_eq!(out.status.exit_code, 0);
    fx.assert_cleaned_up(&out.status);
}

#[tokio::test]
async fn stdin_is_dev_null_without_open_stdin() {
    let out = Fixture::new(&["cat"]).run().await;
    assert_eq!(out.stdout, "");
    assert_eq!(out.status.exit_code, 0);
}

#[tokio::test]
async fn container_survives_its_client_and_can_be_reattached() {
    let mut fx = Fixture::new(&["sh", "-c", "read line; echo got $line; exit 7"]);
    fx.spec.open_stdin = true;
    let first = fx.start().await.unwrap();
    let pid = first.pid;
    // The daemon goes away: its connection closes.
    drop(first);

    let again = client::connect(&fx.spec.run_dir).await.unwrap();
    assert_eq!(again.pid, pid);
    again.control.write_stdin(b"back\n").await.unwrap();
    let out = collect(again).await;
    assert_eq!(out.stdout, "got back\n");
    assert_eq!(out.status.exit_code, 7);
    fx.assert_cleaned_up(&out.status);

    let err = client::connect(&fx.spec.run_dir).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Connect { .. }), "{err:?}");
}

#[tokio::test]
async fn the_container_cannot_see_the_runtime() {
    // Only the user's processes are inside: sh as pid 1 (its exe is busybox) and ls.
    let out = sh("ls /proc; readlink /proc/1/exe").await;
    let pids: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.chars().all(|c| c.is_ascii_digit()))
        .collect();
    assert_eq!(pids, ["1", "2"], "{}", out.stdout);
    assert!(out.stdout.ends_with("\n/bin/busybox\n"), "{}", out.stdout);
}

#[tokio::test]
async fn many_layers_stack_in_order() {
    let mut fx = Fixture::new(&["cat", "/which"]);
    let mut layers = fx.spec.layers.clone();
    for i in 0..40 {
        let l = fx
            .dir
            .path()
            .join(format!("extra-layer-with-a-longish-name-{i:03}"));
        std::fs::create_dir_all(&l).unwrap();
        std::fs::write(l.join("which"), format!("{i}\n")).unwrap();
        layers.push(l);
    }
    fx.spec.layers = layers;
    assert_eq!(fx.run().await.stdout, "39\n");
}

#[tokio::test]
async fn writes_land_in_the_upper_layer_only() {
    let fx = Fixture::new(&["sh", "-c", "echo data > /tmp/berth-file"]);
    fx.run().await;
    let upper = fx.spec.upper.join("tmp/berth-file");
    assert_eq!(std::fs::read_to_string(upper).unwrap(), "data\n");
    assert!(!fx.spec.layers[0].join("tmp/berth-file").exists());
}

#[tokio::test]
async fn supervisor_reports_a_broken_spec() {
    let mut fx = Fixture::new(&["true"]);
    fx.spec.upper = PathBuf::from("/nonexistent-berth/upper");
    let err = fx.start().await.unwrap_err();
    assert!(
        matches!(err, RuntimeError::SupervisorStart { .. }),
        "{err:?}"
    );
    assert!(
        err.to_string().contains("/nonexistent-berth/upper"),
        "{err}"
    );
}

#[tokio::test]
async fn every_namespace_is_new() {
    let kinds = ["mnt", "pid", "uts", "ipc", "net", "cgroup"];
    let script: Vec<String> = kinds
        .iter()
        .map(|k| format!("readlink /proc/self/ns/{k}"))
        .collect();
    let out = sh(&script.join("; ")).await;
    let inside: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(inside.len(), kinds.len(), "{}", out.stdout);
    for (k, ns) in kinds.iter().zip(inside) {
        let host = std::fs::read_link(format!("/proc/self/ns/{k}")).unwrap();
        assert!(ns.starts_with(&format!("{k}:[")), "{ns}");
        assert_ne!(Path::new(ns), host, "{k} namespace is the host's");
    }
}

/// Fields of `/proc/<pid>/stat` after the command name: state is [0], ppid [1], session [3].
fn stat_fields(pid: i32) -> Vec<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &stat[stat.rfind(')').unwrap() + 1..];
    rest.split_whitespace().map(str::to_owned).collect()
}

#[tokio::test]
async fn supervisor_is_detached_from_its_spawner() {
    let mut fx = Fixture::new(&["sh", "-c", "read x; echo $x"]);
    fx.spec.open_stdin = true;
    let started = fx.start().await.unwrap();
    let info = state::read_supervisor_info(&fx.spec.run_dir).unwrap();
    assert_eq!(info.container_pid, Some(started.pid));
    assert!(info.container_start_time.is_some());
    assert_eq!(
        state::proc_start_time(info.supervisor_pid),
        Some(info.supervisor_start_time)
    );

    let me = std::process::id() as i32;
    let sup = stat_fields(info.supervisor_pid);
    let mine = stat_fields(me);
    assert_ne!(
        sup[1],
        me.to_string(),
        "the supervisor must not be our child"
    );
    assert_ne!(sup[3], mine[3], "the supervisor must have its own session");
    assert_eq!(
        stat_fields(started.pid)[1],
        info.supervisor_pid.to_string(),
        "the supervisor is the init's parent"
    );

    started.control.write_stdin(b"bye\n").await.unwrap();
    let out = collect(started).await;
    assert_eq!(out.stdout, "bye\n");
    fx.assert_cleaned_up(&out.status);
}

#[tokio::test]
async fn large_output_arrives_complete() {
    let out = sh("head -c 5000000 /dev/zero; head -c 3000000 /dev/zero >&2").await;
    assert_eq!(out.stdout.len(), 5_000_000);
    assert_eq!(out.stderr.len(), 3_000_000);
}

#[tokio::test]
async fn a_detached_container_is_never_blocked_by_its_output() {
    let fx = Fixture::new(&["sh", "-c", "head -c 8000000 /dev/zero; exit 4"]);
    let started = fx.start().await.unwrap();
    let control = started.control.clone();
    drop(started.events);
    let pid = fx.supervisor_pid().unwrap();
    // Off the runtime thread: the client's reader task must keep draining.
    tokio::task::spawn_blocking(move || wait_gone(pid))
        .await
        .unwrap();
    let status = client::read_exit_status(&fx.spec.state_dir).expect("exit.json");
    assert_eq!(status.exit_code, 4);
    fx.assert_cleaned_up(&status);
    let err = control.signal(9).await.unwrap_err();
    assert!(matches!(err, RuntimeError::Protocol { .. }), "{err:?}");
}

#[tokio::test]
async fn the_container_dies_with_its_supervisor() {
    let fx = Fixture::new(&["sleep", "1000"]);
    let started = fx.start().await.unwrap();
    let sup = fx.supervisor_pid().unwrap();
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(sup),
        nix::sys::signal::Signal::SIGKILL,
    )
    .unwrap();
    wait_gone(started.pid);
    wait_gone(sup);
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert!(!mounts.contains(fx.dir.path().to_str().unwrap()));
}

#[tokio::test]
async fn a_restart_replaces_the_previous_exit_file() {
    let fx = Fixture::new(&["sh", "-c", "exit 5"]);
    assert_eq!(fx.run().await.status.exit_code, 5);
    let mut fx2 = fx;
    fx2.spec.args = vec!["true".into()];
    let out = fx2.run().await;
    assert_eq!(out.status.exit_code, 0);
    assert_eq!(
        client::read_exit_status(&fx2.spec.state_dir)
            .unwrap()
            .exit_code,
        0
    );
}

#[tokio::test]
async fn a_second_supervisor_for_a_live_container_is_refused() {
    let fx = Fixture::new(&["sleep", "1000"]);
    let started = fx.start().await.unwrap();
    let err = fx.start().await.unwrap_err();
    assert!(
        err.to_string()
            .contains("another supervisor serves this container"),
        "{err}"
    );
    // pid 1 of a namespace ignores SIGTERM without a handler, even from outside.
    started.control.signal(9).await.unwrap();
    let out = collect(started).await;
    assert_eq!(out.status.exit_code, 137);
    fx.assert_cleaned_up(&out.status);
}

#[tokio::test]
async fn run_dirs_too_long_for_a_socket_address_work() {
    let mut fx = Fixture::new(&["echo", "deep"]);
    let deep = fx.dir.path().join("exec/containers").join("f".repeat(64));
    assert!(deep.join("sup.sock").as_os_str().len() > 108);
    fx.spec.run_dir = deep;
    let started = fx.start().await.unwrap();
    let again = client::connect(&fx.spec.run_dir).await;
    let out = collect(started).await;
    assert_eq!(out.stdout, "deep\n");
    fx.assert_cleaned_up(&out.status);
    // Connected while running, or refused once the supervisor was gone.
    match again {
        Ok(s) => assert_eq!(collect(s).await.status, out.status),
        Err(e) => assert!(
            matches!(
                e,
                RuntimeError::Connect { .. } | RuntimeError::NotRunning { .. }
            ),
            "{e:?}"
        ),
    }
}
