//! The cgroup v2 device filter (an eBPF program, `berth::runtime::cgroups::devfilter`)
//! on the real kernel. This machine is cgroup v1 "hybrid", where berthd uses
//! the v1 `devices` controller (covered end to end by the escape suite); the
//! filter is attached here to a cgroup of our own in the unified hierarchy,
//! where the kernel enforces it the same way as on a pure v2 host.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use berth::runtime::cgroups::{DEFAULT_DEVICE_RULES, devfilter};

use crate::common::{berth_tempdir, require_root, run_ok};

/// A cgroup v2 dir of ours, removed on drop (its processes have exited).
struct Cgroup(PathBuf);

impl Cgroup {
    fn create(root: &Path, name: &str) -> Cgroup {
        let dir = root.join(format!("{name}-{}", std::process::id()));
        fs::create_dir(&dir).unwrap_or_else(|e| panic!("mkdir {}: {e}", dir.display()));
        Cgroup(dir)
    }

    /// `probe args` run by a shell that first moves itself into this cgroup.
    fn probe(&self, probe: &Path, args: &str) -> String {
        let script = format!(
            "echo $$ > {}/cgroup.procs && exec {} {args}",
            self.0.display(),
            probe.display()
        );
        run_ok(Command::new("/bin/busybox").args(["sh", "-c", &script]))
            .trim_end()
            .to_owned()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        if let Err(e) = fs::remove_dir(&self.0) {
            eprintln!("remove {}: {e}", self.0.display());
        }
    }
}

/// Removes the probe's directory on drop.
struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// The unified hierarchy: `/sys/fs/cgroup` on a pure v2 host,
/// `/sys/fs/cgroup/unified` on a hybrid one.
fn unified_root() -> PathBuf {
    let mounts = fs::read_to_string("/proc/self/mounts").expect("read /proc/self/mounts");
    mounts
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            (f.get(2) == Some(&"cgroup2")).then(|| PathBuf::from(f[1]))
        })
        .find(|p| p.starts_with("/sys/fs/cgroup"))
        .expect("a cgroup2 hierarchy under /sys/fs/cgroup")
}

#[test]
fn v2_device_filter_allows_only_dockers_devices() {
    require_root();
    let dir = TempDir(berth_tempdir("devfilter"));
    let probe = dir.0.join("berth-probe");
    crate::probe::compile(&probe);
    let root = unified_root();
    let filtered = Cgroup::create(&root, "berth-devfilter");
    devfilter::attach(&filtered.0, DEFAULT_DEVICE_RULES).expect("attach the device filter");
    let plain = Cgroup::create(&root, "berth-devfilter-twin");

    assert_eq!(
        filtered.probe(&probe, "open /dev/kmsg"),
        "open /dev/kmsg: EPERM"
    );
    assert_eq!(
        filtered.probe(&probe, "open /dev/null"),
        "open /dev/null: ok"
    );
    assert_eq!(
        filtered.probe(&probe, "mknod c 1 11"),
        "mknod: ok open=EPERM",
        "mknod is allowed (`c *:* m`), opening the node is not"
    );
    assert_eq!(
        plain.probe(&probe, "open /dev/kmsg"),
        "open /dev/kmsg: ok",
        "twin: without the filter the same open works"
    );
}
