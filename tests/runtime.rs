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
    "wc", "head", "readlink", "cut", "sort", "tty", "stty", "touch",
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
        std::fs::write(
            layer.join("etc/group"),
            "root:x:0:\nstaff:x:50:nobody\nnogroup:x:65534:\n",
        )
        .unwrap();
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
            ..ContainerSpec::default()
        };
        Fixture { dir, spec }
    }

    async fn start(&self) -> Result<Started, RuntimeError> {
        client::start(
            Path::new(env!("CARGO_BIN_EXE_berth-supervisor")),
            &self.spec,
        )
        .await
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

    // The primary group is among the supplementary ones, as with Docker
    // (`docker run -u nobody busybox id` on dockerd 20.10 prints
    // `groups=65534(nogroup)`); this fixture's /etc/group also puts nobody
    // in staff.
    let mut fx = Fixture::new(&["id"]);
    fx.spec.user = "nobody".into();
    assert_eq!(
        fx.run().await.stdout,
        "uid=65534(nobody) gid=65534(nogroup) groups=50(staff),65534(nogroup)\n"
    );

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

/// Reads stdout events until the collected text contains `needle`; returns it all.
async fn read_until(started: &mut Started, needle: &str) -> String {
    let read = async {
        let mut text = String::new();
        while let Some(ev) = started.events.recv().await {
            match ev {
                Event::Stdout(b) => text.push_str(&String::from_utf8_lossy(&b)),
                Event::Stderr(b) => panic!("unexpected stderr: {}", String::from_utf8_lossy(&b)),
                Event::Exited(st) => panic!("exited ({st:?}) before {needle:?}; output: {text:?}"),
            }
            if text.contains(needle) {
                return text;
            }
        }
        panic!("events ended before {needle:?}: {text:?}");
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), read)
        .await
        .expect("the output arrives")
}

fn status_line(status: &str, key: &str) -> String {
    status
        .lines()
        .find(|l| l.starts_with(key))
        .unwrap_or_else(|| panic!("no {key} in {status}"))
        .to_owned()
}

#[tokio::test]
async fn tty_is_the_containers_own_pts_sized_and_one_stream() {
    let mut fx = Fixture::new(&[
        "sh",
        "-c",
        "tty; stty size; echo to-stderr >&2; readlink /proc/self/fd/2; [ -e /dev/console ] && echo console; echo TERM=$TERM; ls /proc/self/fd | wc -l",
    ]);
    fx.spec.tty = true;
    fx.spec.console_size = Some([33, 101]);
    fx.spec.env.push("TERM=xterm".into());
    let out = fx.run().await;
    assert_eq!(
        out.stdout,
        "/dev/pts/0\r\n33 101\r\nto-stderr\r\n/dev/pts/0\r\nconsole\r\nTERM=xterm\r\n4\r\n"
    );
    assert_eq!(out.stderr, "", "a tty is a single stream");
    assert_eq!(out.status.exit_code, 0);
}

#[tokio::test]
async fn tty_resize_and_stdin_through_the_master() {
    let mut fx = Fixture::new(&["sh", "-c", "stty size; read x; echo got=$x; stty size"]);
    fx.spec.tty = true;
    fx.spec.open_stdin = true;
    fx.spec.console_size = Some([24, 80]);
    let mut started = fx.start().await.unwrap();
    read_until(&mut started, "24 80\r\n").await;
    started.control.resize(50, 132).await.unwrap();
    started.control.write_stdin(b"berth\n").await.unwrap();
    let out = collect(started).await;
    // The terminal echoes the input line before the program answers.
    assert_eq!(out.stdout, "berth\r\ngot=berth\r\n50 132\r\n");
    fx.assert_cleaned_up(&out.status);
}

#[tokio::test]
async fn a_tty_without_a_size_and_without_stdin_works() {
    let mut fx = Fixture::new(&["sh", "-c", "tty; exit 3"]);
    fx.spec.tty = true;
    let out = fx.run().await;
    assert_eq!(out.stdout, "/dev/pts/0\r\n");
    assert_eq!(out.status.exit_code, 3);
}

#[tokio::test]
async fn rlimits_are_applied_and_others_inherited() {
    let mut fx = Fixture::new(&["sh", "-c", "ulimit -Sn; ulimit -Hn; ulimit -Hc; ulimit -Hs"]);
    fx.spec.rlimits = vec![
        berth::runtime::spec::Rlimit {
            name: "nofile".into(),
            soft: 123,
            hard: 456,
        },
        berth::runtime::spec::Rlimit {
            name: "core".into(),
            soft: 0,
            hard: 0,
        },
    ];
    let out = fx.run().await;
    let show = |v: u64| {
        if v == libc::RLIM_INFINITY {
            "unlimited".to_owned()
        } else {
            (v / 1024).to_string()
        }
    };
    let (_, stack) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_STACK).unwrap();
    assert_eq!(out.stdout, format!("123\n456\n0\n{}\n", show(stack)));
}

#[tokio::test]
async fn an_rlimit_above_the_daemons_own_is_refused() {
    let (_, own) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    assert_ne!(own, libc::RLIM_INFINITY, "nofile cannot be unlimited");
    let mut fx = Fixture::new(&["true"]);
    fx.spec.rlimits = vec![berth::runtime::spec::Rlimit {
        name: "nofile".into(),
        soft: 1024,
        hard: own + 1,
    }];
    let err = fx.start().await.unwrap_err();
    assert!(matches!(err, RuntimeError::Ulimit { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!(
            "ulimit nofile: hard limit {} exceeds the daemon's own hard limit {own}",
            own + 1
        )
    );
    assert_eq!(err.class(), berth::api::ErrorClass::InvalidArgument);
    assert_eq!(
        fx.supervisor_pid(),
        None,
        "refused before any supervisor ran"
    );
}

#[tokio::test]
async fn read_only_root_keeps_dev_writable_and_etc_files_read_only() {
    // As dockerd: --read-only also makes /etc/hosts, hostname and resolv.conf
    // read-only, while /dev (and /dev/shm) stay writable.
    let mut fx = Fixture::new(&[
        "sh",
        "-c",
        "touch /berth-x; echo root=$?; touch /dev/shm/x && echo shm-ok; \
         echo 1.2.3.4 x >> /etc/hosts; echo hosts=$?; pwd",
    ]);
    fx.spec.readonly_rootfs = true;
    fx.spec.cwd = "/made/for/ro".into();
    let out = fx.run().await;
    assert_eq!(out.stdout, "root=1\nshm-ok\nhosts=1\n/made/for/ro\n");
    assert!(
        out.stderr.contains("Read-only file system"),
        "{}",
        out.stderr
    );
    assert!(!fx.spec.upper.join("berth-x").exists());
}

fn own_bounding_set() -> String {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    status_line(&status, "CapBnd:")
        .trim_start_matches("CapBnd:")
        .trim()
        .to_owned()
}

#[tokio::test]
async fn privileged_gets_our_bounding_set_sys_rw_and_host_devices() {
    let devs = berth::runtime::devices::host_devices(Path::new("/dev")).unwrap();
    let extra = devs
        .iter()
        .find(|d| {
            !["null", "zero", "full", "random", "urandom", "tty"]
                .iter()
                .any(|n| d.rel == Path::new(n))
        })
        .expect("the host has a device beyond the defaults")
        .rel
        .display()
        .to_string();
    let mut fx = Fixture::new(&[
        "sh",
        "-c",
        &format!(
            "grep -E '^Cap(Eff|Bnd)' /proc/self/status; grep NoNewPrivs /proc/self/status; \
             grep ' /sys ' /proc/self/mountinfo | cut -d' ' -f6 | cut -d, -f1; \
             [ $(head -c 1 /proc/timer_list | wc -c) = 1 ] && echo unmasked; \
             [ -e /dev/{extra} ] && echo device"
        ),
    ]);
    fx.spec.privileged = true;
    // Ignored when privileged, as with Docker.
    fx.spec.cap_drop = vec!["ALL".into()];
    let out = fx.run().await;
    let bnd = own_bounding_set();
    assert_eq!(
        out.stdout,
        format!("CapEff:\t{bnd}\nCapBnd:\t{bnd}\nNoNewPrivs:\t0\nrw\nunmasked\ndevice\n")
    );
    // What could not be granted is said in the supervisor's log.
    let log = std::fs::read_to_string(fx.spec.run_dir.join("supervisor.log")).unwrap_or_default();
    for c in berth::runtime::capabilities::unavailable() {
        assert!(log.contains(&c.to_string()), "{c} not in {log}");
    }
}

async fn caps_of(add: &[&str], drop: &[&str]) -> String {
    let mut fx = Fixture::new(&["grep", "-E", "^Cap(Eff|Bnd)", "/proc/self/status"]);
    fx.spec.cap_add = add.iter().map(|s| s.to_string()).collect();
    fx.spec.cap_drop = drop.iter().map(|s| s.to_string()).collect();
    fx.run().await.stdout
}

#[tokio::test]
async fn cap_add_and_drop_follow_dockers_rules() {
    assert_eq!(
        caps_of(&[], &["ALL"]).await,
        "CapEff:\t0000000000000000\nCapBnd:\t0000000000000000\n"
    );
    assert_eq!(
        caps_of(&["NET_ADMIN"], &["all"]).await,
        "CapEff:\t0000000000001000\nCapBnd:\t0000000000001000\n"
    );
    assert_eq!(
        caps_of(&["cap_net_admin"], &["CHOWN"]).await,
        "CapEff:\t00000000a80435fa\nCapBnd:\t00000000a80435fa\n"
    );
    let mut fx = Fixture::new(&["true"]);
    fx.spec.cap_add = vec!["foo".into()];
    let err = fx.start().await.unwrap_err();
    assert!(matches!(err, RuntimeError::InvalidSpec { .. }), "{err:?}");
    assert!(
        err.to_string().ends_with("unknown capability: \"CAP_FOO\""),
        "{err}"
    );
}

#[tokio::test]
async fn no_new_privileges_only_when_asked() {
    let mut fx = Fixture::new(&["grep", "NoNewPrivs", "/proc/self/status"]);
    fx.spec.no_new_privileges = true;
    assert_eq!(fx.run().await.stdout, "NoNewPrivs:\t1\n");
    let fx = Fixture::new(&["grep", "NoNewPrivs", "/proc/self/status"]);
    assert_eq!(fx.run().await.stdout, "NoNewPrivs:\t0\n");
}

#[tokio::test]
async fn users_groups_and_group_add() {
    // nobody is listed in staff (50); group_add adds by name and by number;
    // the kernel keeps supplementary groups sorted.
    let mut fx = Fixture::new(&["sh", "-c", "id -u; id -g; id -G"]);
    fx.spec.user = "nobody".into();
    fx.spec.group_add = vec!["root".into(), "4242".into()];
    assert_eq!(fx.run().await.stdout, "65534\n65534\n65534 0 50 4242\n");

    let mut fx = Fixture::new(&["sh", "-c", "id -u; id -g; id -G"]);
    fx.spec.user = "nobody:root".into();
    assert_eq!(fx.run().await.stdout, "65534\n0\n0\n");

    let mut fx = Fixture::new(&["sh", "-c", "id -u; id -g"]);
    fx.spec.user = "5000".into();
    assert_eq!(fx.run().await.stdout, "5000\n0\n");

    let mut fx = Fixture::new(&["true"]);
    fx.spec.group_add = vec!["nosuchgroup".into()];
    let err = fx.start().await.unwrap_err();
    assert!(matches!(err, RuntimeError::BadUser { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "Unable to find group nosuchgroup: no matching entries in group file"
    );
}

#[tokio::test]
async fn container_pids_lists_every_process_in_the_namespace() {
    let fx = Fixture::new(&["sh", "-c", "sleep 100 & sleep 100 & echo ready; wait"]);
    let mut started = fx.start().await.unwrap();
    read_until(&mut started, "ready\n").await;
    let pids = berth::runtime::procs::container_pids(started.pid).unwrap();
    assert!(pids.len() >= 3, "sh and two sleeps: {pids:?}");
    assert_eq!(pids[0], started.pid, "the init has the lowest host pid");
    let init_ns = std::fs::read_link(format!("/proc/{}/ns/pid", started.pid)).unwrap();
    for p in &pids {
        assert_eq!(
            std::fs::read_link(format!("/proc/{p}/ns/pid")).unwrap(),
            init_ns
        );
    }
    let sup = fx.supervisor_pid().unwrap();
    assert!(
        !pids.contains(&sup),
        "the supervisor is not in the container"
    );
    assert_eq!(
        berth::runtime::procs::container_pids_in(&fx.spec.run_dir).unwrap(),
        pids
    );

    started.control.signal(9).await.unwrap();
    let out = collect(started).await;
    fx.assert_cleaned_up(&out.status);
    let err = berth::runtime::procs::container_pids_in(&fx.spec.run_dir).unwrap_err();
    assert!(matches!(err, RuntimeError::ProcessGone { .. }), "{err:?}");
}

#[tokio::test]
async fn sigterm_reaches_a_pid1_that_handles_it() {
    let fx = Fixture::new(&[
        "sh",
        "-c",
        "trap 'echo got-term; exit 42' TERM; echo ready; sleep 1000 & wait",
    ]);
    let mut started = fx.start().await.unwrap();
    read_until(&mut started, "ready\n").await;
    started.control.signal(libc::SIGTERM).await.unwrap();
    let out = collect(started).await;
    assert_eq!(out.stdout, "got-term\n");
    assert_eq!(out.status.exit_code, 42);
    fx.assert_cleaned_up(&out.status);
}

#[tokio::test]
async fn a_tty_works_with_a_read_only_root_and_a_non_root_user() {
    let mut fx = Fixture::new(&["sh", "-c", "tty; id -u; echo hi > /dev/tty"]);
    fx.spec.tty = true;
    fx.spec.readonly_rootfs = true;
    fx.spec.user = "nobody".into();
    fx.spec.privileged = true;
    let out = fx.run().await;
    assert_eq!(out.stdout, "/dev/pts/0\r\n65534\r\nhi\r\n");
}
