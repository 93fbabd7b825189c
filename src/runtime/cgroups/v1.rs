//! cgroup v1: one directory per controller hierarchy.

use std::io;
use std::path::Path;

use super::kernel::Kernel;
use super::{
    BlkioEntry, CgroupError, CgroupPaths, CgroupStats, Layout, Resources, Throttle, keyed,
    keyed_all, mkdir_all, read, read_opt, write,
};

/// v1's "unlimited" for byte limits.
const UNLIMITED: &str = "-1";
/// Limits at or above this are the kernel's page-rounded "unlimited".
const UNLIMITED_FLOOR: u64 = 1 << 62;

/// Creates every controller's dir; in `cpuset`, fills empty
/// `cpuset.cpus`/`cpuset.mems` from the parent on the way down, because
/// a new v1 cpuset starts empty and refuses tasks.
pub(super) fn create(k: &dyn Kernel, c: &CgroupPaths) -> Result<(), CgroupError> {
    for (ctrl, dir) in &c.dirs {
        if ctrl == "cpuset" {
            mkdir_all(k, dir, &mut |d| inherit_cpuset(k, d))?;
        } else {
            mkdir_all(k, dir, &mut |_| Ok(()))?;
        }
    }
    Ok(())
}

/// Copies the parent's `cpuset.cpus`/`cpuset.mems` into `dir` where they are
/// empty, filling an empty parent first (the mount root is never empty).
fn inherit_cpuset(k: &dyn Kernel, dir: &Path) -> Result<(), CgroupError> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for f in ["cpuset.cpus", "cpuset.mems"] {
        if !read(k, &dir.join(f))?.trim().is_empty() {
            continue;
        }
        let mut from = read(k, &parent.join(f))?;
        if from.trim().is_empty() {
            inherit_cpuset(k, parent)?;
            from = read(k, &parent.join(f))?;
        }
        write(k, &dir.join(f), from.trim())?;
    }
    Ok(())
}

/// Writes every limit `r` sets.
pub(super) fn apply(k: &dyn Kernel, c: &CgroupPaths, r: &Resources) -> Result<(), CgroupError> {
    let need = |ctrl: &str| {
        c.dir(ctrl).ok_or_else(|| CgroupError::Unsupported {
            what: format!("the {ctrl} cgroup controller"),
        })
    };
    if r.memory.is_some()
        || r.memory_swap.is_some()
        || r.memory_reservation.is_some()
        || r.oom_kill_disable.is_some()
    {
        let dir = need("memory")?;
        memory(k, dir, r)?;
        if let Some(v) = r.memory_reservation {
            write(k, &dir.join("memory.soft_limit_in_bytes"), &bytes(v))?;
        }
        if let Some(d) = r.oom_kill_disable {
            write(
                k,
                &dir.join("memory.oom_control"),
                if d { "1" } else { "0" },
            )?;
        }
    }
    if let Some(s) = r.cpu_shares.filter(|s| *s != 0) {
        write(k, &need("cpu")?.join("cpu.shares"), &s.to_string())?;
    }
    let period = r.cpu_period.filter(|p| *p != 0);
    let quota = r.cpu_quota.filter(|q| *q != 0);
    if period.is_some() || quota.is_some() {
        cfs(k, need("cpu")?, period, quota)?;
    }
    if r.cpuset_cpus.is_some() || r.cpuset_mems.is_some() {
        let dir = need("cpuset")?;
        // mems before cpus is irrelevant to the kernel; keep runc's order.
        if let Some(v) = &r.cpuset_cpus {
            write(k, &dir.join("cpuset.cpus"), v)?;
        }
        if let Some(v) = &r.cpuset_mems {
            write(k, &dir.join("cpuset.mems"), v)?;
        }
    }
    if let Some(p) = r.pids_limit {
        let v = if p <= 0 {
            "max".to_owned()
        } else {
            p.to_string()
        };
        write(k, &need("pids")?.join("pids.max"), &v)?;
    }
    if let Some(w) = r.blkio_weight.filter(|w| *w != 0) {
        let dir = need("blkio")?;
        let file = ["blkio.weight", "blkio.bfq.weight"]
            .iter()
            .map(|f| dir.join(f))
            .find(|p| k.exists(p))
            .ok_or_else(|| CgroupError::Unsupported {
                what: "blkio weight".into(),
            })?;
        write(k, &file, &w.to_string())?;
    }
    let throttles: [(&[Throttle], &str); 4] = [
        (&r.device_read_bps, "blkio.throttle.read_bps_device"),
        (&r.device_write_bps, "blkio.throttle.write_bps_device"),
        (&r.device_read_iops, "blkio.throttle.read_iops_device"),
        (&r.device_write_iops, "blkio.throttle.write_iops_device"),
    ];
    for (list, file) in throttles {
        for t in list {
            let p = need("blkio")?.join(file);
            write(k, &p, &format!("{}:{} {}", t.major, t.minor, t.rate))?;
        }
    }
    Ok(())
}

/// Docker's byte value in v1 terms: <=0 is unlimited.
fn bytes(v: i64) -> String {
    if v <= 0 {
        UNLIMITED.to_owned()
    } else {
        v.to_string()
    }
}

/// memory.limit_in_bytes and memory.memsw.limit_in_bytes: the kernel keeps
/// memory <= memsw at every moment, so raising writes memsw first and
/// lowering writes memory first (runc's rule), with the other order tried
/// when the kernel still refuses (EINVAL/EBUSY).
fn memory(k: &dyn Kernel, dir: &Path, r: &Resources) -> Result<(), CgroupError> {
    let mem_file = dir.join("memory.limit_in_bytes");
    let swap_file = dir.join("memory.memsw.limit_in_bytes");
    let swap_accounted = k.exists(&swap_file);
    let mut swap = r.memory_swap.filter(|s| *s != 0 && swap_accounted);
    // Unlimited memory without a swap figure means unlimited swap too.
    if r.memory.is_some_and(|m| m <= 0) && swap.is_none() && swap_accounted {
        swap = Some(-1);
    }
    let mem = r.memory.map(bytes);
    let swap = swap.map(bytes);
    match (mem, swap) {
        (None, None) => Ok(()),
        (Some(m), None) => write(k, &mem_file, &m),
        (None, Some(s)) => write(k, &swap_file, &s),
        (Some(m), Some(s)) => {
            let cur: i128 = read(k, &mem_file)?.trim().parse().unwrap_or(i128::MAX);
            let new_swap: i128 = s.parse().unwrap_or(-1);
            let swap_first = new_swap == -1 || cur < new_swap;
            let order = |swap_first: bool| {
                if swap_first {
                    [(&swap_file, &s), (&mem_file, &m)]
                } else {
                    [(&mem_file, &m), (&swap_file, &s)]
                }
            };
            let attempt = |swap_first: bool| -> Result<(), CgroupError> {
                for (f, v) in order(swap_first) {
                    write(k, f, v)?;
                }
                Ok(())
            };
            match attempt(swap_first) {
                Err(CgroupError::Write { source, .. }) if busy_or_invalid(&source) => {
                    attempt(!swap_first)
                }
                other => other,
            }
        }
    }
}

fn busy_or_invalid(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EBUSY | libc::EINVAL))
}

/// cpu.cfs_period_us then cpu.cfs_quota_us; if the period is refused (the
/// current quota does not fit it), quota first.
fn cfs(
    k: &dyn Kernel,
    dir: &Path,
    period: Option<u64>,
    quota: Option<i64>,
) -> Result<(), CgroupError> {
    let pf = dir.join("cpu.cfs_period_us");
    let qf = dir.join("cpu.cfs_quota_us");
    let q = quota.map(|q| {
        if q < 0 {
            "-1".to_owned()
        } else {
            q.to_string()
        }
    });
    if let Some(p) = period {
        let p = p.to_string();
        match write(k, &pf, &p) {
            Ok(()) => {}
            Err(CgroupError::Write { source, .. }) if q.is_some() && busy_or_invalid(&source) => {
                write(k, &qf, q.as_deref().unwrap_or("-1"))?;
                return write(k, &pf, &p);
            }
            Err(e) => return Err(e),
        }
    }
    if let Some(q) = q {
        write(k, &qf, &q)?;
    }
    Ok(())
}

/// The raw figures of the v1 controllers present.
pub(super) fn stats(k: &dyn Kernel, c: &CgroupPaths) -> Result<CgroupStats, CgroupError> {
    let mut s = CgroupStats::empty(Layout::V1);
    let num = |d: &Path, f: &str| -> Result<u64, CgroupError> {
        Ok(read_opt(k, &d.join(f))?
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0))
    };
    if let Some(d) = c.dir("cpuacct") {
        s.cpu_total_ns = num(d, "cpuacct.usage")?;
        s.cpu_percpu_ns = read_opt(k, &d.join("cpuacct.usage_percpu"))?
            .map(|t| {
                t.split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        if let Some(t) = read_opt(k, &d.join("cpuacct.stat"))? {
            let tick = clock_tick_ns();
            s.cpu_user_ns = keyed(&t, "user").unwrap_or(0) * tick;
            s.cpu_system_ns = keyed(&t, "system").unwrap_or(0) * tick;
        }
    }
    if let Some(d) = c.dir("cpu")
        && let Some(t) = read_opt(k, &d.join("cpu.stat"))?
    {
        s.throttling_periods = keyed(&t, "nr_periods").unwrap_or(0);
        s.throttled_periods = keyed(&t, "nr_throttled").unwrap_or(0);
        s.throttled_time_ns = keyed(&t, "throttled_time").unwrap_or(0);
    }
    if let Some(d) = c.dir("memory") {
        s.memory_usage = num(d, "memory.usage_in_bytes")?;
        s.memory_max_usage = num(d, "memory.max_usage_in_bytes")?;
        let limit = num(d, "memory.limit_in_bytes")?;
        s.memory_limit = if limit >= UNLIMITED_FLOOR { 0 } else { limit };
        s.memory_failcnt = num(d, "memory.failcnt")?;
        s.memory_stat = read_opt(k, &d.join("memory.stat"))?
            .map(|t| keyed_all(&t))
            .unwrap_or_default();
    }
    if let Some(d) = c.dir("pids") {
        s.pids_current = num(d, "pids.current")?;
        s.pids_limit = num(d, "pids.max")?; // "max" does not parse: 0 = unlimited
    }
    if let Some(d) = c.dir("blkio") {
        s.blkio = blkio(k, &d.join("blkio.throttle.io_service_bytes_recursive"))?;
        s.blkio_serviced = blkio(k, &d.join("blkio.throttle.io_serviced_recursive"))?;
    }
    Ok(s)
}

/// `MAJ:MIN Op value` lines (the trailing `Total N` line has no device and is skipped).
fn blkio(k: &dyn Kernel, path: &Path) -> Result<Vec<BlkioEntry>, CgroupError> {
    let Some(text) = read_opt(k, path)? else {
        return Ok(Vec::new());
    };
    Ok(text
        .lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let (dev, op, v) = (it.next()?, it.next()?, it.next()?);
            let (ma, mi) = dev.split_once(':')?;
            Some(BlkioEntry {
                major: ma.parse().ok()?,
                minor: mi.parse().ok()?,
                op: op.to_owned(),
                value: v.parse().ok()?,
            })
        })
        .collect())
}

/// Nanoseconds per USER_HZ tick (`cpuacct.stat` counts ticks).
fn clock_tick_ns() -> u64 {
    // SAFETY: sysconf only reads a configuration value.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if hz > 0 {
        1_000_000_000 / hz as u64
    } else {
        10_000_000
    }
}
