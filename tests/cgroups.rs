//! Privileged tests of `berth::runtime::cgroups` against the real kernel.
//! They must run as root and fail loudly otherwise.
//!
//! - v1: this host's hybrid layout (per-controller mounts under
//!   /sys/fs/cgroup); skipped with a message on a host without v1 controllers.
//! - v2: the test re-executes itself in a private mount namespace where a
//!   `cgroup2` is mounted on /sys/fs/cgroup (on a hybrid host that is the same
//!   hierarchy as /sys/fs/cgroup/unified, without memory/cpu/pids
//!   controllers), so `Hierarchy::detect` really sees a pure v2 host. On a pure
//!   v2 host the body runs directly.
//! - A container run by the supervisor with a cgroup: `/proc/self/cgroup`
//!   shows "/", the OOM killer's kill reaches exit.json, the cgroup is gone after the exit.
//!
//! Every test creates its cgroups under a parent `berth-cgtest-<random>` and
//! removes them (and kills what runs in them) in Drop guards.

use std::io::Write;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use berth::runtime::cgroups::{CgroupPaths, Feature, Hierarchy, Layout, Resources};

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "cgroup tests need root: run them as root"
    );
}

fn test_parent() -> String {
    format!("berth-cgtest-{}", &berth::fsutil::random_id()[..12])
}

/// A cgroup under a fresh test parent, with the processes the test started.
/// Drop thaws, kills everything in the cgroup, removes it and the parent.
struct Cg {
    paths: CgroupPaths,
    parents: Vec<PathBuf>,
    children: Vec<Child>,
}

impl Cg {
    fn new(h: &Hierarchy, r: &Resources) -> Cg {
        let parent = test_parent();
        let paths = h.container(&parent, "c").unwrap();
        let parents = paths
            .dirs
            .values()
            .map(|d| d.parent().unwrap().to_owned())
            .collect();
        let cg = Cg {
            paths,
            parents,
            children: Vec::new(),
        };
        cg.paths.create(r).unwrap();
        cg
    }

    fn dir(&self, ctrl: &str) -> &Path {
        &self.paths.dirs[ctrl]
    }

    fn read(&self, ctrl: &str, file: &str) -> String {
        std::fs::read_to_string(self.dir(ctrl).join(file))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// Starts `sh -c script` (busybox) blocked on reading a line, moves it
    /// into the cgroup, then lets it go: everything it forks is inside.
    fn spawn(&mut self, script: &str) -> usize {
        let child = Command::new("/bin/busybox")
            .args(["sh", "-c", &format!("read go; {script}")])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        self.children.push(child);
        self.paths.join(pid).unwrap();
        let child = self.children.last_mut().unwrap();
        child.stdin.as_mut().unwrap().write_all(b"go\n").unwrap();
        self.children.len() - 1
    }
}

impl Drop for Cg {
    fn drop(&mut self) {
        let _ = self.paths.thaw();
        for _ in 0..100 {
            let pids = self.paths.pids().unwrap_or_default();
            if pids.is_empty() {
                break;
            }
            for p in pids {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(p),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let removed = self.paths.remove();
        for p in &self.parents {
            let _ = std::fs::remove_dir(p);
        }
        if !std::thread::panicking() {
            removed.unwrap();
        }
    }
}

fn v1_hierarchy() -> Option<Hierarchy> {
    require_root();
    let h = Hierarchy::detect().unwrap();
    if h.layout() != Layout::V1 {
        eprintln!("skipped: this host has no cgroup v1 controllers");
        return None;
    }
    Some(h)
}

/// utime+stime of a process in clock ticks (/proc/<pid>/stat fields 14, 15).
fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let after_comm = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after_comm.split_whitespace().collect();
    // Field 3 (state) is f[0]; utime is field 14.
    f[11].parse::<u64>().unwrap() + f[12].parse::<u64>().unwrap()
}

/// Polls `cond` up to 10 s (the machine may be slow; no timing is asserted).
fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "timed out: {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A frozen busy loop uses no CPU; thawed, it does again.
fn check_freeze(cg: &Cg, pid: i32) {
    eventually("busy child uses cpu", || cpu_ticks(pid) > 0);
    cg.paths.freeze().unwrap();
    assert!(cg.paths.is_frozen().unwrap());
    let a = cpu_ticks(pid);
    std::thread::sleep(Duration::from_millis(300));
    let b = cpu_ticks(pid);
    assert_eq!(a, b, "a frozen process ran");
    cg.paths.thaw().unwrap();
    assert!(!cg.paths.is_frozen().unwrap());
    eventually("thawed child runs again", || cpu_ticks(pid) > b);
}

#[test]
fn v1_limits_are_written_and_updated() {
    let Some(h) = v1_hierarchy() else { return };
    let swap = h.supports(Feature::MemorySwap);
    let r = Resources {
        memory: Some(64 << 20),
        memory_swap: swap.then_some(128 << 20),
        memory_reservation: Some(32 << 20),
        cpu_shares: Some(512),
        cpu_period: Some(100_000),
        cpu_quota: Some(50_000),
        cpuset_cpus: Some("0".into()),
        pids_limit: Some(20),
        ..Resources::default()
    };
    let cg = Cg::new(&h, &r);
    assert_eq!(cg.read("memory", "memory.limit_in_bytes"), "67108864");
    assert_eq!(cg.read("memory", "memory.soft_limit_in_bytes"), "33554432");
    if swap {
        assert_eq!(
            cg.read("memory", "memory.memsw.limit_in_bytes"),
            "134217728"
        );
    }
    assert_eq!(cg.read("cpu", "cpu.shares"), "512");
    assert_eq!(cg.read("cpu", "cpu.cfs_period_us"), "100000");
    assert_eq!(cg.read("cpu", "cpu.cfs_quota_us"), "50000");
    assert_eq!(cg.read("cpuset", "cpuset.cpus"), "0");
    // Copied down from the root into the parent and the container.
    let mems = std::fs::read_to_string("/sys/fs/cgroup/cpuset/cpuset.mems").unwrap();
    assert_eq!(cg.read("cpuset", "cpuset.mems"), mems.trim());
    assert_eq!(cg.read("pids", "pids.max"), "20");

    // Raising memory above the old memsw and lowering it again both work.
    let up = Resources {
        memory: Some(256 << 20),
        memory_swap: swap.then_some(512 << 20),
        pids_limit: Some(0),
        cpu_quota: Some(-1),
        ..Resources::default()
    };
    cg.paths.apply(&up).unwrap();
    assert_eq!(cg.read("memory", "memory.limit_in_bytes"), "268435456");
    assert_eq!(cg.read("pids", "pids.max"), "max");
    assert_eq!(cg.read("cpu", "cpu.cfs_quota_us"), "-1");
    let down = Resources {
        memory: Some(16 << 20),
        memory_swap: swap.then_some(16 << 20),
        ..Resources::default()
    };
    cg.paths.apply(&down).unwrap();
    assert_eq!(cg.read("memory", "memory.limit_in_bytes"), "16777216");

    let bad = Resources {
        cpuset_cpus: Some("9999".into()),
        ..Resources::default()
    };
    let e = cg.paths.apply(&bad).unwrap_err().to_string();
    let want = format!(
        "write 9999 to {}: ",
        cg.dir("cpuset").join("cpuset.cpus").display()
    );
    assert!(e.starts_with(&want), "{e}");
    let s = cg.paths.stats().unwrap();
    assert_eq!((s.memory_limit, s.pids_limit), (16 << 20, 0));
}

#[test]
fn v1_join_freeze_thaw_stats_and_remove() {
    let Some(h) = v1_hierarchy() else { return };
    let mut cg = Cg::new(&h, &Resources::default());
    let i = cg.spawn("while :; do :; done");
    let pid = cg.children[i].id() as i32;
    assert_eq!(cg.paths.pids().unwrap(), [pid]);
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let rel = cg
        .dir("memory")
        .strip_prefix("/sys/fs/cgroup/memory")
        .unwrap()
        .display()
        .to_string();
    assert!(own.contains(&format!(":memory:/{rel}\n")), "{own}");
    assert!(own.contains(&format!(":freezer:/{rel}\n")), "{own}");

    check_freeze(&cg, pid);
    assert_eq!(cg.read("freezer", "freezer.state"), "THAWED");

    let s = cg.paths.stats().unwrap();
    assert_eq!(s.layout, Layout::V1);
    assert!(s.cpu_total_ns > 0);
    assert!(!s.cpu_percpu_ns.is_empty());
    // A busy loop allocates nothing: only the keys are certain.
    assert_eq!(s.pids_current, 1);
    assert!(s.memory_stat.contains_key("cache"), "{:?}", s.memory_stat);

    // Frozen, then removed by the guard's way: kill, thaw, rmdir.
    cg.paths.freeze().unwrap();
    cg.children[i].kill().unwrap();
    cg.paths.thaw().unwrap();
    cg.children[i].wait().unwrap();
    cg.paths.remove().unwrap();
    for d in cg.paths.dirs.values() {
        assert!(!d.exists(), "{} left behind", d.display());
    }
    // The shared parent stays until its last container goes, and is empty.
    for p in &cg.parents {
        let left: Vec<_> = std::fs::read_dir(p)
            .unwrap()
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .collect();
        assert!(left.is_empty(), "{}: {left:?}", p.display());
    }
}

#[test]
fn v1_memory_limit_oom_kills() {
    let Some(h) = v1_hierarchy() else { return };
    let r = Resources {
        memory: Some(32 << 20),
        // No swap to escape to.
        memory_swap: h.supports(Feature::MemorySwap).then_some(32 << 20),
        ..Resources::default()
    };
    let mut cg = Cg::new(&h, &r);
    assert_eq!(cg.paths.oom_kills().unwrap(), 0);
    let i = cg.spawn("x=$(yes | head -c 67108864); echo survived");
    let out = cg.children.remove(i).wait_with_output().unwrap();
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("survived"),
        "64 MiB fit in a 32 MiB cgroup"
    );
    assert!(cg.paths.oom_kills().unwrap() > 0);
    // The peak reached the limit (this kernel's v1 failcnt stays 0 on OOM).
    assert_eq!(cg.paths.stats().unwrap().memory_max_usage, 32 << 20);
}

#[test]
fn v1_pids_limit_stops_forks() {
    let Some(h) = v1_hierarchy() else { return };
    let r = Resources {
        pids_limit: Some(5),
        ..Resources::default()
    };
    let mut cg = Cg::new(&h, &r);
    let i = cg.spawn(
        "for i in 1 2 3 4 5 6 7 8 9 10; do sleep 60 >/dev/null 2>&1 & done; echo all forked",
    );
    let out = cg.children.remove(i).wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("all forked"),
        "10 forks in a 5-pid cgroup"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("fork"), "{err}");
    let s = cg.paths.stats().unwrap();
    assert_eq!(s.pids_limit, 5);
    assert!(s.pids_current <= 5);
    let events = cg.read("pids", "pids.events");
    assert_ne!(events, "max 0", "the limit was never hit");
}

/// Env var carrying the test parent into the re-executed v2 test.
const V2_PARENT_ENV: &str = "BERTH_CGTEST_V2_PARENT";
const V2_TEST: &str = "v2_in_a_private_cgroup2_mount";

#[test]
fn v2_in_a_private_cgroup2_mount() {
    require_root();
    if let Ok(parent) = std::env::var(V2_PARENT_ENV) {
        return v2_body(&parent);
    }
    if Hierarchy::detect().unwrap().layout() == Layout::V2 {
        return v2_body(&test_parent());
    }
    let unified = Path::new("/sys/fs/cgroup/unified");
    assert!(
        unified.join("cgroup.procs").exists(),
        "need a cgroup2 mount at {} on this hybrid host",
        unified.display()
    );
    let parent = test_parent();
    // Whatever the child leaves, seen from here.
    struct Cleanup(PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let c = self.0.join("c");
            let _ = std::fs::write(c.join("cgroup.kill"), "1");
            for _ in 0..200 {
                if std::fs::remove_dir(&c).is_ok() || !c.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            let _ = std::fs::remove_dir(&self.0);
        }
    }
    let _cleanup = Cleanup(unified.join(&parent));
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args(["--exact", V2_TEST, "--nocapture", "--test-threads=1"])
        .env(V2_PARENT_ENV, &parent);
    // SAFETY: only raw syscalls between fork and exec (nix's path arguments
    // live on the stack for short paths); no allocation, no locks.
    unsafe {
        use std::os::unix::process::CommandExt;
        cmd.pre_exec(|| {
            use nix::mount::{MntFlags, MsFlags, mount, umount2};
            nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNS)?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )?;
            // Detaches the tmpfs and every v1 mount under it.
            umount2("/sys/fs/cgroup", MntFlags::MNT_DETACH)?;
            mount(
                Some("none"),
                "/sys/fs/cgroup",
                Some("cgroup2"),
                MsFlags::empty(),
                None::<&str>,
            )?;
            Ok(())
        });
    }
    let out = cmd.output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 passed"),
        "the v2 body did not run:\n{stdout}"
    );
    assert!(!unified.join(&parent).join("c").exists());
}

fn v2_body(parent: &str) {
    let h = Hierarchy::detect().unwrap();
    assert_eq!(h.layout(), Layout::V2);
    let mut cg = Cg {
        paths: h.container(parent, "c").unwrap(),
        parents: Vec::new(),
        children: Vec::new(),
    };
    cg.parents = vec![cg.dir("unified").parent().unwrap().to_owned()];
    cg.paths.create(&Resources::default()).unwrap();
    assert!(cg.dir("unified").join("cgroup.freeze").exists());
    let i = cg.spawn("while :; do :; done");
    let pid = cg.children[i].id() as i32;
    assert_eq!(cg.paths.pids().unwrap(), [pid]);
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert!(own.ends_with(&format!("\n0::/{parent}/c\n")), "{own}");
    check_freeze(&cg, pid);
    assert_eq!(cg.read("unified", "cgroup.freeze"), "0");
    // Without a memory controller there is nothing to count.
    if !h.supports(Feature::Memory) {
        assert_eq!(cg.paths.oom_kills().unwrap(), 0);
    }
    if !h.supports(Feature::Pids) {
        let e = cg
            .paths
            .apply(&Resources {
                pids_limit: Some(20),
                ..Resources::default()
            })
            .unwrap_err();
        assert!(e.to_string().contains("pids.max"), "{e}");
    }
    let s = cg.paths.stats().unwrap();
    assert_eq!(s.layout, Layout::V2);
    assert!(s.cpu_total_ns > 0);

    cg.children[i].kill().unwrap();
    cg.children[i].wait().unwrap();
    cg.paths.remove().unwrap();
    assert!(!cg.dir("unified").exists());
}

mod container {
    //! The runtime's use of the cgroup: a real supervisor and init.

    use super::*;
    use berth::runtime::client::{self, Event};
    use berth::runtime::spec::{CgroupSpec, ContainerSpec, SPEC_VERSION};

    const APPLETS: &[&str] = &["sh", "cat", "yes", "head", "echo", "mknod"];

    /// A busybox container with `resources` in cgroup `berth-cgtest-*/<id>`.
    struct Fixture {
        _dir: tempfile::TempDir,
        spec: ContainerSpec,
        parents: Vec<PathBuf>,
    }

    impl Fixture {
        fn new(h: &Hierarchy, script: &str, resources: Resources) -> Fixture {
            let dir = tempfile::Builder::new()
                .prefix("berth-cgtest-")
                .tempdir()
                .unwrap();
            let root = dir.path();
            let layer = root.join("layer");
            for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
                std::fs::create_dir_all(layer.join(d)).unwrap();
            }
            std::fs::copy("/bin/busybox", layer.join("bin/busybox")).unwrap();
            for a in APPLETS {
                symlink("busybox", layer.join("bin").join(a)).unwrap();
            }
            for d in ["state/upper", "state/work", "run"] {
                std::fs::create_dir_all(root.join(d)).unwrap();
            }
            let id = berth::fsutil::random_id();
            let paths = h.container(&test_parent(), &id).unwrap();
            let parents = paths
                .dirs
                .values()
                .map(|d| d.parent().unwrap().to_owned())
                .collect();
            let spec = ContainerSpec {
                version: SPEC_VERSION,
                id,
                layers: vec![layer],
                upper: root.join("state/upper"),
                work: root.join("state/work"),
                args: vec!["sh".into(), "-c".into(), script.into()],
                env: vec!["PATH=/bin".into()],
                cwd: "/".into(),
                state_dir: root.join("state"),
                run_dir: root.join("run"),
                cgroup: Some(CgroupSpec { paths, resources }),
                ..ContainerSpec::default()
            };
            Fixture {
                _dir: dir,
                spec,
                parents,
            }
        }

        fn paths(&self) -> &CgroupPaths {
            &self.spec.cgroup.as_ref().unwrap().paths
        }
    }

    impl Drop for Fixture {
        fn drop(&mut self) {
            let paths = self.paths().clone();
            if let Some(info) = berth::runtime::state::read_supervisor_info(&self.spec.run_dir) {
                for pid in [info.container_pid, Some(info.supervisor_pid)]
                    .into_iter()
                    .flatten()
                {
                    let _ = nix::sys::signal::kill(
                        nix::unistd::Pid::from_raw(pid),
                        nix::sys::signal::Signal::SIGKILL,
                    );
                }
            }
            drop(Cg {
                paths,
                parents: std::mem::take(&mut self.parents),
                children: Vec::new(),
            });
        }
    }

    /// Runs to the exit; returns stdout, stderr and the exit status.
    async fn run(f: &Fixture) -> (String, String, client::ExitStatus) {
        let mut started = client::start(Path::new(env!("CARGO_BIN_EXE_berth-supervisor")), &f.spec)
            .await
            .expect("container starts");
        let (mut out, mut err) = (Vec::new(), Vec::new());
        while let Some(ev) = started.events.recv().await {
            match ev {
                Event::Stdout(b) => out.extend_from_slice(&b),
                Event::Stderr(b) => err.extend_from_slice(&b),
                Event::Exited(st) => {
                    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
                    return (text(&out), text(&err), st);
                }
            }
        }
        panic!("supervisor died without an exit event");
    }

    #[tokio::test]
    async fn oom_killed_container_reports_it_and_its_cgroup_goes() {
        let Some(h) = v1_hierarchy() else { return };
        let r = Resources {
            memory: Some(32 << 20),
            memory_swap: h.supports(Feature::MemorySwap).then_some(32 << 20),
            ..Resources::default()
        };
        let f = Fixture::new(
            &h,
            "cat /proc/self/cgroup; x=$(yes | head -c 67108864); echo survived",
            r,
        );
        let (out, _, st) = run(&f).await;
        assert_eq!(st.exit_code, 137, "{out}");
        assert!(st.oom_killed);
        assert!(!out.contains("survived"));
        // The cgroup namespace is rooted at the container's cgroup.
        assert!(out.contains(":memory:/\n"), "{out}");
        assert!(out.contains(":pids:/\n"), "{out}");
        let saved = client::read_exit_status(&f.spec.state_dir).unwrap();
        assert!(saved.oom_killed);
        // Removed before the exit was reported.
        for d in f.paths().dirs.values() {
            assert!(!d.exists(), "{} left behind", d.display());
        }
    }

    #[tokio::test]
    async fn a_normal_exit_is_no_oom_and_devices_are_restricted() {
        let Some(h) = v1_hierarchy() else { return };
        let r = Resources {
            memory: Some(64 << 20),
            pids_limit: Some(7),
            ..Resources::default()
        };
        // The standard nodes work; a block device made with CAP_MKNOD does not open.
        let script = "echo hi >/dev/null && head -c 1 /dev/zero >/dev/null && echo hi; \
                      mknod /tmp/loop b 7 0 && head -c 1 /tmp/loop";
        let f = Fixture::new(&h, script, r);
        let (out, err, st) = run(&f).await;
        assert_eq!(out, "hi\n", "{err}");
        assert!(err.contains("Operation not permitted"), "{err}");
        assert_eq!(st.exit_code, 1);
        assert!(!st.oom_killed);
        for d in f.paths().dirs.values() {
            assert!(!d.exists(), "{} left behind", d.display());
        }
    }

    #[tokio::test]
    async fn an_impossible_limit_fails_the_start_with_the_file_named() {
        let Some(h) = v1_hierarchy() else { return };
        let r = Resources {
            cpuset_cpus: Some("9999".into()),
            ..Resources::default()
        };
        let f = Fixture::new(&h, "true", r);
        let Err(e) =
            client::start(Path::new(env!("CARGO_BIN_EXE_berth-supervisor")), &f.spec).await
        else {
            panic!("a cpuset of cpu 9999 started");
        };
        let msg = e.to_string();
        assert!(msg.contains("create cgroup: write 9999 to "), "{msg}");
        assert!(msg.contains("cpuset.cpus"), "{msg}");
        for d in f.paths().dirs.values() {
            assert!(!d.exists(), "{} left behind", d.display());
        }
    }
}
