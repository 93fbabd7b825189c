//! Container cgroups, v1 and v2, with Docker's `cgroupfs` driver layout:
//! a container's cgroup is `<parent>/<id>` under every hierarchy root.
//!
//! - [`Hierarchy::detect`] reads `/proc/self/mountinfo`: any v1 controller
//!   mounted (legacy or hybrid hosts) means [`Layout::V1`], and the v1
//!   controllers are used (a hybrid host's `cgroup2` at
//!   `/sys/fs/cgroup/unified` has no controllers); otherwise a `cgroup2`
//!   mount means [`Layout::V2`].
//! - [`CgroupPaths`] is one container's cgroup: [`create`](CgroupPaths::create),
//!   [`apply`](CgroupPaths::apply) limits ([`Resources`], Docker's units),
//!   [`join`](CgroupPaths::join), [`freeze`](CgroupPaths::freeze),
//!   [`stats`](CgroupPaths::stats), [`remove`](CgroupPaths::remove).
//!
//! Every kernel access goes through the private `Kernel` trait (read, write,
//! mkdir, rmdir) so unit tests check the exact writes with a fake; the
//! privileged tests in `tests/cgroups.rs` prove the real thing.

pub mod devfilter;
mod error;
mod kernel;
mod mountinfo;
mod v1;
mod v2;

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::CgroupError;
use kernel::{Kernel, Real};

/// The host's cgroup layout, detected from /proc/self/mountinfo.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Layout {
    /// Legacy or hybrid: the v1 per-controller hierarchies are used.
    V1,
    /// Pure unified hierarchy (`cgroup2` at the cgroup root).
    V2,
}

/// Something the daemon may need to refuse or warn about, as dockerd does
/// when the kernel lacks it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Feature {
    /// Memory limits (`memory` controller).
    Memory,
    /// Swap limits: v1 `memory.memsw.*` (swap accounting), v2 `memory.swap.max`.
    MemorySwap,
    /// Soft limits: v1 `memory.soft_limit_in_bytes`, v2 `memory.low`.
    MemoryReservation,
    /// `--oom-kill-disable`: v1 `memory.oom_control` only (v2 has none).
    OomKillDisable,
    /// CPU shares: v1 `cpu.shares`, v2 `cpu.weight`.
    CpuShares,
    /// CFS quota and period: v1 `cpu.cfs_*`, v2 `cpu.max`.
    CpuCfs,
    /// `cpuset` controller.
    Cpuset,
    /// `pids` controller.
    Pids,
    /// Block I/O weight: v1 `blkio.weight` (or `blkio.bfq.weight`), v2 `io.weight` (or `io.bfq.weight`).
    BlkioWeight,
    /// Block I/O throttling: v1 `blkio.throttle.*`, v2 `io.max`.
    BlkioThrottle,
    /// Pause: v1 `freezer` controller, v2 `cgroup.freeze`.
    Freezer,
}

/// The cgroup mounts of this host (per-controller v1 mount points, or the v2 mount).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hierarchy {
    layout: Layout,
    /// v1: controller (or `name=X` for named hierarchies) -> mount point;
    /// v2: `"unified"` -> mount point.
    mounts: BTreeMap<String, PathBuf>,
}

/// The key of the unified hierarchy in [`Hierarchy`] mounts and [`CgroupPaths::dirs`].
const UNIFIED: &str = "unified";

impl Hierarchy {
    /// Detects the cgroup mounts from /proc/self/mountinfo of the caller's mount namespace.
    pub fn detect() -> Result<Hierarchy, CgroupError> {
        let path = Path::new("/proc/self/mountinfo");
        let text = std::fs::read_to_string(path).map_err(|source| CgroupError::Read {
            path: path.to_owned(),
            source,
        })?;
        mountinfo::parse(&text)
    }

    /// The layout detected.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The container's cgroup: `<parent>/<id>` under every hierarchy root (Docker's cgroupfs driver:
    /// parent "berth" -> /sys/fs/cgroup/memory/berth/<id>, ...). `parent` is Docker's --cgroup-parent:
    /// relative or absolute ("/x/y"), both mean from the hierarchy root; ".." or empty components are refused.
    pub fn container(&self, parent: &str, id: &str) -> Result<CgroupPaths, CgroupError> {
        let trimmed = parent.trim_start_matches('/');
        let mut rel = PathBuf::new();
        if !trimmed.is_empty() {
            for c in trimmed.split('/') {
                if c.is_empty() || c == "." || c == ".." || c.contains('\0') {
                    return Err(CgroupError::InvalidParent {
                        parent: parent.to_owned(),
                    });
                }
                rel.push(c);
            }
        }
        if id.is_empty() || id == "." || id == ".." || id.contains(['/', '\0']) {
            return Err(CgroupError::InvalidId { id: id.to_owned() });
        }
        rel.push(id);
        let dirs = self
            .mounts
            .iter()
            .map(|(k, m)| (k.clone(), m.join(&rel)))
            .collect();
        Ok(CgroupPaths {
            layout: self.layout,
            dirs,
        })
    }

    /// Whether a controller/feature exists on this host (e.g. "blkio.weight", "memory.memsw" swap accounting,
    /// "cpu.cfs", "cpuset", "pids") so the daemon can refuse or warn like dockerd does.
    pub fn supports(&self, feature: Feature) -> bool {
        self.supports_in(&Real, feature)
    }

    fn supports_in(&self, k: &dyn Kernel, feature: Feature) -> bool {
        match self.layout {
            Layout::V1 => {
                let has = |ctrl: &str, file: Option<&str>| match self.mounts.get(ctrl) {
                    Some(m) => file.is_none_or(|f| k.exists(&m.join(f))),
                    None => false,
                };
                match feature {
                    Feature::Memory => has("memory", Some("memory.limit_in_bytes")),
                    Feature::MemorySwap => has("memory", Some("memory.memsw.limit_in_bytes")),
                    Feature::MemoryReservation => has("memory", Some("memory.soft_limit_in_bytes")),
                    Feature::OomKillDisable => has("memory", Some("memory.oom_control")),
                    Feature::CpuShares => has("cpu", Some("cpu.shares")),
                    Feature::CpuCfs => has("cpu", Some("cpu.cfs_quota_us")),
                    Feature::Cpuset => has("cpuset", None),
                    Feature::Pids => has("pids", None),
                    Feature::BlkioWeight => {
                        has("blkio", Some("blkio.weight")) || has("blkio", Some("blkio.bfq.weight"))
                    }
                    Feature::BlkioThrottle => has("blkio", Some("blkio.throttle.read_bps_device")),
                    Feature::Freezer => has("freezer", None),
                }
            }
            Layout::V2 => {
                let Some(root) = self.mounts.get(UNIFIED) else {
                    return false;
                };
                let controllers = k.read(&root.join("cgroup.controllers")).unwrap_or_default();
                let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
                match feature {
                    Feature::Memory | Feature::MemoryReservation => has("memory"),
                    // memory.swap.max exists in every non-root cgroup when the
                    // kernel accounts swap; the root has none, so look at a child.
                    Feature::MemorySwap => has("memory") && v2::swap_accounted(k, root),
                    Feature::OomKillDisable => false,
                    Feature::CpuShares | Feature::CpuCfs => has("cpu"),
                    Feature::Cpuset => has("cpuset"),
                    Feature::Pids => has("pids"),
                    Feature::BlkioWeight | Feature::BlkioThrottle => has("io"),
                    // cgroup.freeze exists in every non-root cgroup since 5.2.
                    Feature::Freezer => true,
                }
            }
        }
    }
}

/// Where one container's cgroup lives: serialisable, carried in ContainerSpec.cgroup.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupPaths {
    /// The layout the dirs belong to.
    pub layout: Layout,
    /// v1: controller -> absolute dir; v2: {"unified": dir}
    pub dirs: BTreeMap<String, PathBuf>,
}

/// Docker's (runc's) default device allow list, in v1 `devices.allow` syntax.
pub const DEFAULT_DEVICE_RULES: &[&str] = &[
    "c *:* m",
    "b *:* m",
    "c 1:3 rwm",
    "c 1:5 rwm",
    "c 1:7 rwm",
    "c 1:8 rwm",
    "c 1:9 rwm",
    "c 5:0 rwm",
    "c 5:1 rwm",
    "c 5:2 rwm",
    "c 136:* rwm",
    "c 10:200 rwm",
];

/// How long [`CgroupPaths::freeze`] waits for the freezer and
/// [`CgroupPaths::remove`] retries a busy directory.
const WAIT: Duration = Duration::from_secs(2);
/// The pause between two polls.
const POLL: Duration = Duration::from_millis(10);

impl CgroupPaths {
    /// Creates the dirs (with parents; v1 `cpuset`: `cpuset.cpus`/`cpuset.mems`
    /// copied down from the parent into every new dir; v2: the available
    /// controllers enabled in the ancestors' `cgroup.subtree_control`), then
    /// [`apply`](Self::apply)s `r`. On failure nothing created is left behind.
    pub fn create(&self, r: &Resources) -> Result<(), CgroupError> {
        self.create_in(&Real, r)
    }

    /// Writes every `Some` field of `r` (and the throttle lists) into the cgroup files; used by update too.
    pub fn apply(&self, r: &Resources) -> Result<(), CgroupError> {
        self.apply_in(&Real, r)
    }

    /// Docker's device rules for an unprivileged container: every device
    /// may be created (`mknod`) but only the standard nodes (`null`, `zero`,
    /// `full`, `random`, `urandom`, `tty`, `console`, `ptmx`, the ptys,
    /// `net/tun`) opened: the v1 `devices` controller's files, or on v2 an
    /// eBPF program attached to the container's cgroup ([`devfilter`]).
    pub fn restrict_devices(&self) -> Result<(), CgroupError> {
        if self.layout == Layout::V2 {
            let dir = self.unified()?;
            return devfilter::attach(dir, DEFAULT_DEVICE_RULES).map_err(|source| {
                CgroupError::Write {
                    value: "a device filter (eBPF)".into(),
                    path: dir.to_owned(),
                    source,
                }
            });
        }
        self.restrict_devices_in(&Real)
    }

    /// Moves process `pid` (0 = the caller) into the cgroup: writes `cgroup.procs` in every dir.
    pub fn join(&self, pid: i32) -> Result<(), CgroupError> {
        self.join_in(&Real, pid)
    }

    /// Freezes every process (v1 `freezer.state` FROZEN, v2 `cgroup.freeze` 1);
    /// returns when the kernel reports the cgroup frozen, an error after ~2 s.
    pub fn freeze(&self) -> Result<(), CgroupError> {
        self.set_frozen(&Real, true)
    }

    /// Thaws the cgroup; returns when the kernel reports it thawed.
    pub fn thaw(&self) -> Result<(), CgroupError> {
        self.set_frozen(&Real, false)
    }

    /// Whether the cgroup is frozen (v1 `FROZEN`, v2 `cgroup.events` `frozen 1`).
    pub fn is_frozen(&self) -> Result<bool, CgroupError> {
        self.is_frozen_in(&Real)
    }

    /// How many processes the OOM killer killed in the cgroup: v1
    /// `memory.oom_control` `oom_kill N`, v2 `memory.events` `oom_kill N`;
    /// 0 without a memory controller.
    pub fn oom_kills(&self) -> Result<u64, CgroupError> {
        self.oom_kills_in(&Real)
    }

    /// The pids in the cgroup (`cgroup.procs`; v1: of the `pids`, else `freezer`, else any controller).
    pub fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        self.pids_in(&Real)
    }

    /// Raw figures for Docker's stats; a controller that is absent gives zeros.
    pub fn stats(&self) -> Result<CgroupStats, CgroupError> {
        match self.layout {
            Layout::V1 => v1::stats(&Real, self),
            Layout::V2 => v2::stats(&Real, self),
        }
    }

    /// Removes every dir (`rmdir`, retrying while busy for ~2 s); missing dirs are fine.
    pub fn remove(&self) -> Result<(), CgroupError> {
        self.remove_in(&Real)
    }

    /// The distinct dirs (v1 controllers mounted together share one).
    fn unique_dirs(&self) -> BTreeSet<&Path> {
        self.dirs.values().map(PathBuf::as_path).collect()
    }

    fn dir(&self, key: &str) -> Option<&Path> {
        self.dirs.get(key).map(PathBuf::as_path)
    }

    fn unified(&self) -> Result<&Path, CgroupError> {
        self.dir(UNIFIED).ok_or_else(|| CgroupError::Unsupported {
            what: "the unified cgroup hierarchy".into(),
        })
    }

    fn create_in(&self, k: &dyn Kernel, r: &Resources) -> Result<(), CgroupError> {
        let made = match self.layout {
            Layout::V1 => v1::create(k, self),
            Layout::V2 => v2::create(k, self),
        };
        let result = made.and_then(|()| self.apply_in(k, r));
        if result.is_err() {
            // Best effort: the first error is the one worth reporting.
            let _ = self.remove_in(k);
        }
        result
    }

    fn apply_in(&self, k: &dyn Kernel, r: &Resources) -> Result<(), CgroupError> {
        match self.layout {
            Layout::V1 => v1::apply(k, self, r),
            Layout::V2 => v2::apply(k, self, r),
        }
    }

    fn restrict_devices_in(&self, k: &dyn Kernel) -> Result<(), CgroupError> {
        let Some(dir) = self.dir("devices").filter(|_| self.layout == Layout::V1) else {
            return Ok(());
        };
        write(k, &dir.join("devices.deny"), "a")?;
        for rule in DEFAULT_DEVICE_RULES {
            write(k, &dir.join("devices.allow"), rule)?;
        }
        Ok(())
    }

    fn join_in(&self, k: &dyn Kernel, pid: i32) -> Result<(), CgroupError> {
        for d in self.unique_dirs() {
            write(k, &d.join("cgroup.procs"), &pid.to_string())?;
        }
        Ok(())
    }

    fn set_frozen(&self, k: &dyn Kernel, frozen: bool) -> Result<(), CgroupError> {
        let (file, value) = match (self.layout, frozen) {
            (Layout::V1, true) => (self.freezer()?.join("freezer.state"), "FROZEN"),
            (Layout::V1, false) => (self.freezer()?.join("freezer.state"), "THAWED"),
            (Layout::V2, true) => (self.unified()?.join("cgroup.freeze"), "1"),
            (Layout::V2, false) => (self.unified()?.join("cgroup.freeze"), "0"),
        };
        let mut waited = Duration::ZERO;
        loop {
            // v1 may stay FREEZING while tasks are busy in the kernel; runc
            // writes FROZEN again while polling, so do we.
            if self.layout == Layout::V1 || waited.is_zero() {
                write(k, &file, value)?;
            }
            if self.is_frozen_in(k)? == frozen {
                return Ok(());
            }
            if waited >= WAIT {
                if frozen {
                    // Leave it thawed rather than half frozen.
                    let _ = self.set_frozen(k, false);
                }
                return Err(CgroupError::Timeout {
                    path: file,
                    want: value.to_owned(),
                });
            }
            k.sleep(POLL);
            waited += POLL;
        }
    }

    fn freezer(&self) -> Result<&Path, CgroupError> {
        self.dir("freezer").ok_or_else(|| CgroupError::Unsupported {
            what: "the freezer cgroup controller".into(),
        })
    }

    fn is_frozen_in(&self, k: &dyn Kernel) -> Result<bool, CgroupError> {
        match self.layout {
            Layout::V1 => {
                let p = self.freezer()?.join("freezer.state");
                Ok(read(k, &p)?.trim() == "FROZEN")
            }
            Layout::V2 => {
                let p = self.unified()?.join("cgroup.events");
                Ok(keyed(&read(k, &p)?, "frozen") == Some(1))
            }
        }
    }

    fn oom_kills_in(&self, k: &dyn Kernel) -> Result<u64, CgroupError> {
        let p = match self.layout {
            Layout::V1 => match self.dir("memory") {
                Some(d) => d.join("memory.oom_control"),
                None => return Ok(0),
            },
            Layout::V2 => self.unified()?.join("memory.events"),
        };
        Ok(read_opt(k, &p)?
            .and_then(|t| keyed(&t, "oom_kill"))
            .unwrap_or(0))
    }

    fn pids_in(&self, k: &dyn Kernel) -> Result<Vec<i32>, CgroupError> {
        let dir = match self.layout {
            Layout::V1 => ["pids", "freezer", "memory"]
                .iter()
                .find_map(|c| self.dir(c))
                .or_else(|| self.dirs.values().next().map(PathBuf::as_path)),
            Layout::V2 => Some(self.unified()?),
        };
        let Some(dir) = dir else {
            return Ok(Vec::new());
        };
        let p = dir.join("cgroup.procs");
        let text = read(k, &p)?;
        text.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                l.trim().parse().map_err(|_| CgroupError::Parse {
                    path: p.clone(),
                    content: l.to_owned(),
                })
            })
            .collect()
    }

    fn remove_in(&self, k: &dyn Kernel) -> Result<(), CgroupError> {
        let mut first = None;
        for d in self.unique_dirs() {
            if let Err(e) = rmdir_retry(k, d)
                && first.is_none()
            {
                first = Some(e);
            }
        }
        first.map_or(Ok(()), Err)
    }
}

/// Removes `dir`, retrying while the kernel still reports it busy (the last
/// processes may take a moment to leave after they die).
fn rmdir_retry(k: &dyn Kernel, dir: &Path) -> Result<(), CgroupError> {
    let mut waited = Duration::ZERO;
    loop {
        match k.rmdir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if e.raw_os_error() == Some(libc::EBUSY) && waited < WAIT => {
                k.sleep(POLL);
                waited += POLL;
            }
            Err(source) => {
                return Err(CgroupError::Rmdir {
                    path: dir.to_owned(),
                    source,
                });
            }
        }
    }
}

/// Creates `dir` and its missing parents, calling `prepare` on every dir
/// created (top down) so inherited settings (v1 cpuset) can be filled in.
fn mkdir_all(
    k: &dyn Kernel,
    dir: &Path,
    prepare: &mut dyn FnMut(&Path) -> Result<(), CgroupError>,
) -> Result<(), CgroupError> {
    let missing: Vec<&Path> = dir.ancestors().take_while(|a| !k.exists(a)).collect();
    for d in missing.into_iter().rev() {
        match k.mkdir(d) {
            Ok(()) => {}
            // Another container created the shared parent meanwhile.
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(CgroupError::Mkdir {
                    path: d.to_owned(),
                    source,
                });
            }
        }
        prepare(d)?;
    }
    Ok(())
}

/// Limits in Docker's units (HostConfig fields after the daemon's conversions). None = leave as is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resources {
    /// Bytes; -1/0 = unlimited.
    pub memory: Option<i64>,
    /// Memory+swap bytes; -1 = unlimited swap (0 = leave as is).
    pub memory_swap: Option<i64>,
    /// Soft limit bytes (v2 `memory.low`); <=0 = none.
    pub memory_reservation: Option<i64>,
    /// Docker's `--oom-kill-disable` (v1 only).
    pub oom_kill_disable: Option<bool>,
    /// v1 `cpu.shares`; v2: weight = 1 + ((shares - 2) * 9999) / 262142. 0 = leave as is.
    pub cpu_shares: Option<u64>,
    /// CFS period, us (0 = leave as is).
    pub cpu_period: Option<u64>,
    /// CFS quota, us; -1 = unlimited (0 = leave as is). The daemon converts
    /// NanoCpus: period 100000, quota nano/10000.
    pub cpu_quota: Option<i64>,
    /// `cpuset.cpus`, e.g. "0-1".
    pub cpuset_cpus: Option<String>,
    /// `cpuset.mems`, e.g. "0".
    pub cpuset_mems: Option<String>,
    /// <=0 = unlimited ("max").
    pub pids_limit: Option<i64>,
    /// 10..=1000 (0 = leave as is).
    pub blkio_weight: Option<u16>,
    /// Read bytes per second per device.
    #[serde(default)]
    pub device_read_bps: Vec<Throttle>,
    /// Write bytes per second per device.
    #[serde(default)]
    pub device_write_bps: Vec<Throttle>,
    /// Read operations per second per device.
    #[serde(default)]
    pub device_read_iops: Vec<Throttle>,
    /// Write operations per second per device.
    #[serde(default)]
    pub device_write_iops: Vec<Throttle>,
}

/// One device's I/O rate limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Throttle {
    /// The block device's major number.
    pub major: u64,
    /// The block device's minor number.
    pub minor: u64,
    /// Bytes or operations per second; 0 = no limit.
    pub rate: u64,
}

/// Raw figures for Docker's stats JSON (daemon maps them onto the v1 or v2 shape).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CgroupStats {
    /// The layout they come from.
    pub layout: Layout,
    /// Total CPU time (v1 `cpuacct.usage`, v2 `cpu.stat` usage_usec).
    pub cpu_total_ns: u64,
    /// Per-CPU time (v1 `cpuacct.usage_percpu`; empty on v2).
    pub cpu_percpu_ns: Vec<u64>,
    /// User CPU time.
    pub cpu_user_ns: u64,
    /// System CPU time.
    pub cpu_system_ns: u64,
    /// CFS periods elapsed.
    pub throttling_periods: u64,
    /// CFS periods throttled.
    pub throttled_periods: u64,
    /// Time throttled.
    pub throttled_time_ns: u64,
    /// Memory in use (v1 `memory.usage_in_bytes`, v2 `memory.current`).
    pub memory_usage: u64,
    /// Peak (v1 `memory.max_usage_in_bytes`, v2 `memory.peak` where present).
    pub memory_max_usage: u64,
    /// The limit; 0 = unlimited.
    pub memory_limit: u64,
    /// v1 `memory.failcnt`; v2 `memory.events` `max`.
    pub memory_failcnt: u64,
    /// memory.stat as is (v1 keys: cache, total_inactive_file...; v2: anon, inactive_file...)
    pub memory_stat: BTreeMap<String, u64>,
    /// Processes in the cgroup (`pids.current`).
    pub pids_current: u64,
    /// `pids.max`; 0 = unlimited.
    pub pids_limit: u64,
    /// Bytes per device and op (v1 `blkio.throttle.io_service_bytes_recursive`
    /// ops "Read"/"Write"/"Sync"/"Async"/"Discard"/"Total"; v2 `io.stat` ops
    /// "read"/"write", lower case as dockerd reports them on v2).
    pub blkio: Vec<BlkioEntry>,
    /// Operations per device and op (v1 `blkio.throttle.io_serviced_recursive`, v2 `io.stat` rios/wios).
    pub blkio_serviced: Vec<BlkioEntry>,
}

impl CgroupStats {
    /// All figures zero (what a stopped container shows).
    pub fn empty(layout: Layout) -> CgroupStats {
        CgroupStats {
            layout,
            cpu_total_ns: 0,
            cpu_percpu_ns: Vec::new(),
            cpu_user_ns: 0,
            cpu_system_ns: 0,
            throttling_periods: 0,
            throttled_periods: 0,
            throttled_time_ns: 0,
            memory_usage: 0,
            memory_max_usage: 0,
            memory_limit: 0,
            memory_failcnt: 0,
            memory_stat: BTreeMap::new(),
            pids_current: 0,
            pids_limit: 0,
            blkio: Vec::new(),
            blkio_serviced: Vec::new(),
        }
    }
}

/// One line of a blkio statistic.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlkioEntry {
    /// The device's major number.
    pub major: u64,
    /// The device's minor number.
    pub minor: u64,
    /// "Read", "Write", ... (v1) or "read", "write" (v2).
    pub op: String,
    /// The figure.
    pub value: u64,
}

/// Writes `value` to `path`, naming both on failure.
fn write(k: &dyn Kernel, path: &Path, value: &str) -> Result<(), CgroupError> {
    k.write(path, value).map_err(|source| CgroupError::Write {
        value: value.to_owned(),
        path: path.to_owned(),
        source,
    })
}

fn read(k: &dyn Kernel, path: &Path) -> Result<String, CgroupError> {
    k.read(path).map_err(|source| CgroupError::Read {
        path: path.to_owned(),
        source,
    })
}

/// Reads `path`; `None` when it does not exist (controller absent).
fn read_opt(k: &dyn Kernel, path: &Path) -> Result<Option<String>, CgroupError> {
    match k.read(path) {
        Ok(t) => Ok(Some(t)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(CgroupError::Read {
            path: path.to_owned(),
            source,
        }),
    }
}

/// The value of `key` in a flat keyed file (`key value` per line).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key)).then(|| it.next()?.parse().ok())?
    })
}

/// Every `key value` line of a flat keyed file.
fn keyed_all(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            Some((it.next()?.to_owned(), it.next()?.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests;
