//! Privileged tests of the json-file log driver in a real supervisor (the
//! built `berthd` in supervisor mode): rotation through many files, logging
//! with no client attached, and following a log while the container writes.
//! They must run as root and fail loudly otherwise.

use std::io::Read;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use berth::logging::jsonfile::{log_path, rotated_path};
use berth::logging::{LogConfig, LogEntry, LoggingError, ReadOptions, follow, read_logs};
use berth::runtime::client::{self, Event, ExitStatus, Started};
use berth::runtime::spec::{ContainerSpec, SPEC_VERSION};
use berth::runtime::state;

const ID: &str = "berthlogtest0123456789";

/// A busybox rootfs and the container's dirs under one temp dir; Drop kills
/// whatever the test left running.
struct Fixture {
    _dir: tempfile::TempDir,
    spec: ContainerSpec,
}

impl Fixture {
    fn new(script: &str, log: LogConfig) -> Fixture {
        assert!(
            nix::unistd::geteuid().is_root(),
            "logging runtime tests need root (namespaces, mounts): run them as root"
        );
        let dir = tempfile::Builder::new()
            .prefix("berth-log-")
            .tempdir()
            .unwrap();
        let root = dir.path();
        let layer = root.join("layer");
        for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
            std::fs::create_dir_all(layer.join(d)).unwrap();
        }
        std::fs::copy("/bin/busybox", layer.join("bin/busybox")).unwrap();
        for a in ["sh", "seq", "echo", "sleep"] {
            symlink("busybox", layer.join("bin").join(a)).unwrap();
        }
        for d in ["state/upper", "state/work", "run"] {
            std::fs::create_dir_all(root.join(d)).unwrap();
        }
        let spec = ContainerSpec {
            version: SPEC_VERSION,
            id: ID.into(),
            layers: vec![layer],
            upper: root.join("state/upper"),
            work: root.join("state/work"),
            args: vec!["sh".into(), "-c".into(), script.into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            state_dir: root.join("state"),
            run_dir: root.join("run"),
            log,
            ..ContainerSpec::default()
        };
        Fixture { _dir: dir, spec }
    }

    async fn start(&self) -> Started {
        client::start(
            Path::new(env!("CARGO_BIN_EXE_berth-supervisor")),
            &self.spec,
        )
        .await
        .expect("container starts")
    }

    fn state_dir(&self) -> &Path {
        &self.spec.state_dir
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(info) = state::read_supervisor_info(&self.spec.run_dir) {
            for pid in [info.container_pid, Some(info.supervisor_pid)]
                .into_iter()
                .flatten()
            {
                // Already gone is fine.
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
                wait_gone(pid);
            }
        }
    }
}

/// Blocks until process `pid` has exited (pidfd: no polling).
fn wait_gone(pid: i32) {
    let Some(p) = rustix::process::Pid::from_raw(pid) else {
        return;
    };
    let Ok(fd) = rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()) else {
        return;
    };
    use std::os::fd::AsFd;
    let mut fds = [nix::poll::PollFd::new(
        fd.as_fd(),
        nix::poll::PollFlags::POLLIN,
    )];
    nix::poll::poll(&mut fds, nix::poll::PollTimeout::NONE).unwrap();
}

/// Waits for the exit event; the generous limit only turns a hang into a failure.
async fn wait_exit(mut started: Started) -> ExitStatus {
    let wait = async {
        while let Some(ev) = started.events.recv().await {
            if let Event::Exited(s) = ev {
                return s;
            }
        }
        panic!("events ended without an exit");
    };
    tokio::time::timeout(std::time::Duration::from_secs(120), wait)
        .await
        .expect("the container exits")
}

/// The numbers of `line N` entries, checking each is a whole stdout line.
fn numbers(entries: impl Iterator<Item = Result<LogEntry, LoggingError>>) -> Vec<u64> {
    entries
        .map(|e| {
            let e = e.unwrap();
            assert!(!e.partial, "{e:?}");
            let s = std::str::from_utf8(&e.line).unwrap();
            s.strip_prefix("line ")
                .and_then(|s| s.strip_suffix('\n'))
                .unwrap_or_else(|| panic!("unexpected line {s:?}"))
                .parse()
                .unwrap()
        })
        .collect()
}

/// Sets the flag when dropped.
struct SetOnDrop(Arc<AtomicBool>);

impl Drop for SetOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

fn all() -> ReadOptions {
    ReadOptions::default()
}

const LOOP: &str = "i=0; while [ $i -lt 3000 ]; do echo \"line $i\"; i=$((i+1)); done";

#[tokio::test]
async fn rotation_keeps_a_contiguous_compressed_window_within_budget() {
    let max_size = 4096;
    let log = LogConfig {
        max_size: Some(max_size),
        max_file: 3,
        compress: true,
        ..LogConfig::default()
    };
    let fx = Fixture::new(LOOP, log);
    let status = wait_exit(fx.start().await).await;
    assert_eq!(status.exit_code, 0);
    let dir = fx.state_dir();

    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.contains("json.log"))
        .collect();
    names.sort();
    let want: Vec<String> = ["", ".1.gz", ".2.gz"]
        .iter()
        .map(|s| format!("{ID}-json.log{s}"))
        .collect();
    assert_eq!(names, want);

    // Every rotated file is gzip and holds whole entries within max-size.
    let mut total = std::fs::metadata(log_path(dir, ID)).unwrap().len();
    assert!(total <= max_size);
    for n in 1..=2 {
        let raw = std::fs::read(rotated_path(dir, ID, n, true)).unwrap();
        assert_eq!(raw[..2], [0x1f, 0x8b], "gzip magic");
        let mut text = String::new();
        flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut text)
            .unwrap();
        assert!(text.len() as u64 <= max_size && text.ends_with("}\n"));
        total += text.len() as u64;
    }
    let line_len = 100;
    assert!(total <= max_size * 3 + line_len, "{total}");

    let nums = numbers(read_logs(dir, ID, &all()).unwrap());
    // ~80 bytes per entry: 3000 lines are well over 10 rotations of 4 KiB.
    assert!(
        nums.len() > 100 && nums[0] > 1000,
        "{} from {}",
        nums.len(),
        nums[0]
    );
    assert_eq!(nums, (nums[0]..3000).collect::<Vec<_>>());
    let tail = ReadOptions {
        tail: Some(120),
        ..all()
    };
    assert_eq!(
        numbers(read_logs(dir, ID, &tail).unwrap()),
        (2880..3000).collect::<Vec<_>>()
    );
}

#[tokio::test]
async fn output_is_logged_after_the_client_hangs_up() {
    let fx = Fixture::new(
        "seq 1 50000 | while read n; do echo \"line $n\"; done",
        LogConfig::default(),
    );
    let mut started = fx.start().await;
    // Wait for some output, then the daemon's connection goes away mid-stream.
    match started.events.recv().await {
        Some(Event::Stdout(_)) => {}
        other => panic!("expected output first, got {other:?}"),
    }
    drop(started);
    let sup = state::read_supervisor_info(&fx.spec.run_dir)
        .unwrap()
        .supervisor_pid;
    tokio::task::spawn_blocking(move || wait_gone(sup))
        .await
        .unwrap();
    assert_eq!(
        client::read_exit_status(fx.state_dir()).unwrap().exit_code,
        0
    );
    let nums = numbers(read_logs(fx.state_dir(), ID, &all()).unwrap());
    assert_eq!(nums, (1..=50000).collect::<Vec<_>>());
}

#[tokio::test]
async fn follow_sees_every_line_across_rotations_while_the_container_runs() {
    let log = LogConfig {
        max_size: Some(2048),
        max_file: 1000,
        compress: true,
        ..LogConfig::default()
    };
    let fx = Fixture::new(LOOP, log);
    let started = fx.start().await;
    let exited = Arc::new(AtomicBool::new(false));
    let flag = exited.clone();
    // Set on every way out, so the follower's thread ends even on failure.
    let _stop = SetOnDrop(exited.clone());
    let dir = fx.state_dir().to_owned();
    let follower = follow(&dir, ID, &all(), move || flag.load(Ordering::SeqCst)).unwrap();
    let reader = tokio::task::spawn_blocking(move || numbers(follower));
    let status = wait_exit(started).await;
    exited.store(true, Ordering::SeqCst);
    assert_eq!(status.exit_code, 0);
    let nums = tokio::time::timeout(std::time::Duration::from_secs(120), reader)
        .await
        .expect("the follower ends")
        .unwrap();
    assert_eq!(nums, (0..3000).collect::<Vec<_>>());
    assert!(
        rotated_path(&dir, ID, 10, true).exists(),
        "at least 10 rotations"
    );
}
