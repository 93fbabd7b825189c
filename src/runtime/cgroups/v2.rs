//! cgroup v2: one directory in the unified hierarchy.

use std::path::Path;

use super::kernel::Kernel;
use super::{
    BlkioEntry, CgroupError, CgroupPaths, CgroupStats, Layout, Resources, Throttle, keyed,
    keyed_all, mkdir_all, read, read_opt, write,
};

/// Creates the dir; on the way down enables in every ancestor's
/// `cgroup.subtree_control` the controllers it has available, so the new
/// cgroup gets `memory.*`, `cpu.*`, ... files (one write per controller:
/// one the kernel refuses does not keep the others off).
pub(super) fn create(k: &dyn Kernel, c: &CgroupPaths) -> Result<(), CgroupError> {
    let dir = c.unified()?;
    // Ancestors that exist are enabled too: the parent may predate us.
    let existing: Vec<&Path> = dir.ancestors().skip(1).filter(|a| k.exists(a)).collect();
    for a in existing.into_iter().rev() {
        enable_controllers(k, a);
    }
    mkdir_all(k, dir, &mut |d| {
        if d != dir {
            enable_controllers(k, d);
        }
        Ok(())
    })
}

fn enable_controllers(k: &dyn Kernel, dir: &Path) {
    let Ok(avail) = k.read(&dir.join("cgroup.controllers")) else {
        return;
    };
    let on = k
        .read(&dir.join("cgroup.subtree_control"))
        .unwrap_or_default();
    for c in avail.split_whitespace() {
        if !on.split_whitespace().any(|x| x == c) {
            // Refusals (a parent with processes, a threaded subtree) leave the
            // controller off; apply then reports the missing file it needs.
            let _ = k.write(&dir.join("cgroup.subtree_control"), &format!("+{c}"));
        }
    }
}

/// Whether swap is accounted: `memory.swap.max` exists in some child of the root.
pub(super) fn swap_accounted(k: &dyn Kernel, root: &Path) -> bool {
    let Ok(self_cg) = k.read(Path::new("/proc/self/cgroup")) else {
        return false;
    };
    let Some(rel) = self_cg.lines().find_map(|l| l.strip_prefix("0::")) else {
        return false;
    };
    let rel = rel.trim().trim_start_matches('/');
    if rel.is_empty() {
        // In the root: the kernel offers swap accounting unless booted without it.
        return k.exists(Path::new("/proc/swaps"));
    }
    k.exists(&root.join(rel).join("memory.swap.max"))
}

/// Writes every limit `r` sets.
pub(super) fn apply(k: &dyn Kernel, c: &CgroupPaths, r: &Resources) -> Result<(), CgroupError> {
    let dir = c.unified()?;
    let f = |name: &str| dir.join(name);
    // Checked before anything is written, so a refused combination changes nothing.
    let swap = swap_value(k, dir, r)?;
    if let Some(m) = r.memory {
        write(k, &f("memory.max"), &max_or(m))?;
    }
    if let Some(s) = swap {
        write(k, &f("memory.swap.max"), &s)?;
    }
    if let Some(v) = r.memory_reservation {
        write(k, &f("memory.low"), &v.max(0).to_string())?;
    }
    if r.oom_kill_disable == Some(true) {
        return Err(CgroupError::Unsupported {
            what: "oom-kill-disable".into(),
        });
    }
    if let Some(s) = r.cpu_shares.filter(|s| *s != 0) {
        write(k, &f("cpu.weight"), &shares_to_weight(s).to_string())?;
    }
    let period = r.cpu_period.filter(|p| *p != 0);
    let quota = r.cpu_quota.filter(|q| *q != 0);
    // "quota period"; a lone quota keeps the period, a lone period the quota.
    let cpu_max = match (quota.map(max_or), period) {
        (Some(q), Some(p)) => Some(format!("{q} {p}")),
        (Some(q), None) => Some(q),
        (None, Some(p)) => {
            let cur = read(k, &f("cpu.max"))?;
            let q = cur.split_whitespace().next().unwrap_or("max").to_owned();
            Some(format!("{q} {p}"))
        }
        (None, None) => None,
    };
    if let Some(v) = cpu_max {
        write(k, &f("cpu.max"), &v)?;
    }
    if let Some(v) = &r.cpuset_cpus {
        write(k, &f("cpuset.cpus"), v)?;
    }
    if let Some(v) = &r.cpuset_mems {
        write(k, &f("cpuset.mems"), v)?;
    }
    if let Some(p) = r.pids_limit {
        write(k, &f("pids.max"), &max_or(p))?;
    }
    if let Some(w) = r.blkio_weight.filter(|w| *w != 0) {
        // BFQ takes the v1 range as is; io.weight is 1..10000 (runc's mapping).
        let bfq = f("io.bfq.weight");
        if k.exists(&bfq) {
            write(k, &bfq, &w.to_string())?;
        } else {
            let weight = 1 + (u64::from(w).saturating_sub(10)) * 9999 / 990;
            write(k, &f("io.weight"), &format!("default {weight}"))?;
        }
    }
    let throttles: [(&[Throttle], &str); 4] = [
        (&r.device_read_bps, "rbps"),
        (&r.device_write_bps, "wbps"),
        (&r.device_read_iops, "riops"),
        (&r.device_write_iops, "wiops"),
    ];
    for (list, key) in throttles {
        for t in list {
            let rate = if t.rate == 0 {
                "max".to_owned()
            } else {
                t.rate.to_string()
            };
            write(
                k,
                &f("io.max"),
                &format!("{}:{} {key}={rate}", t.major, t.minor),
            )?;
        }
    }
    Ok(())
}

/// memory.swap.max is swap alone: Docker's memory+swap minus memory.
fn swap_value(k: &dyn Kernel, dir: &Path, r: &Resources) -> Result<Option<String>, CgroupError> {
    let file = dir.join("memory.swap.max");
    let total = match r.memory_swap.filter(|s| *s != 0) {
        Some(t) => t,
        // Unlimited memory without a swap figure means unlimited swap too.
        None if r.memory.is_some_and(|m| m <= 0) && k.exists(&file) => -1,
        None => return Ok(None),
    };
    if total < 0 {
        return Ok(Some("max".to_owned()));
    }
    let mem = match r.memory.filter(|m| *m > 0) {
        Some(m) => m,
        None => {
            let cur = read(k, &dir.join("memory.max"))?;
            cur.trim()
                .parse::<i64>()
                .map_err(|_| CgroupError::Invalid {
                    detail: "memory-swap cannot be set without a memory limit".into(),
                })?
        }
    };
    if total < mem {
        return Err(CgroupError::Invalid {
            detail: format!("memory-swap {total} is smaller than memory {mem}"),
        });
    }
    Ok(Some((total - mem).to_string()))
}

/// A Docker value where <=0 means unlimited, in v2 terms.
fn max_or(v: i64) -> String {
    if v <= 0 {
        "max".to_owned()
    } else {
        v.to_string()
    }
}

/// cpu.shares (2..=262144) to cpu.weight (1..=10000), the OCI mapping.
pub(super) fn shares_to_weight(shares: u64) -> u64 {
    let s = shares.clamp(2, 262_144);
    1 + ((s - 2) * 9999) / 262_142
}

/// The raw figures of the controllers present.
pub(super) fn stats(k: &dyn Kernel, c: &CgroupPaths) -> Result<CgroupStats, CgroupError> {
    let dir = c.unified()?;
    let mut s = CgroupStats::empty(Layout::V2);
    let num = |f: &str| -> Result<u64, CgroupError> {
        Ok(read_opt(k, &dir.join(f))?
            .and_then(|t| t.trim().parse().ok())
            .unwrap_or(0))
    };
    if let Some(t) = read_opt(k, &dir.join("cpu.stat"))? {
        let us = |key| keyed(&t, key).unwrap_or(0) * 1000;
        s.cpu_total_ns = us("usage_usec");
        s.cpu_user_ns = us("user_usec");
        s.cpu_system_ns = us("system_usec");
        s.throttled_time_ns = us("throttled_usec");
        s.throttling_periods = keyed(&t, "nr_periods").unwrap_or(0);
        s.throttled_periods = keyed(&t, "nr_throttled").unwrap_or(0);
    }
    s.memory_usage = num("memory.current")?;
    s.memory_max_usage = num("memory.peak")?;
    s.memory_limit = num("memory.max")?; // "max" does not parse: 0 = unlimited
    s.memory_failcnt = read_opt(k, &dir.join("memory.events"))?
        .and_then(|t| keyed(&t, "max"))
        .unwrap_or(0);
    s.memory_stat = read_opt(k, &dir.join("memory.stat"))?
        .map(|t| keyed_all(&t))
        .unwrap_or_default();
    s.pids_current = num("pids.current")?;
    s.pids_limit = num("pids.max")?;
    if let Some(t) = read_opt(k, &dir.join("io.stat"))? {
        for l in t.lines() {
            let mut it = l.split_whitespace();
            let Some((ma, mi)) = it.next().and_then(|d| d.split_once(':')) else {
                continue;
            };
            let (Ok(major), Ok(minor)) = (ma.parse(), mi.parse()) else {
                continue;
            };
            for kv in it {
                let Some((key, v)) = kv.split_once('=') else {
                    continue;
                };
                let Ok(value) = v.parse() else {
                    continue;
                };
                let (list, op) = match key {
                    "rbytes" => (&mut s.blkio, "read"),
                    "wbytes" => (&mut s.blkio, "write"),
                    "rios" => (&mut s.blkio_serviced, "read"),
                    "wios" => (&mut s.blkio_serviced, "write"),
                    _ => continue,
                };
                list.push(BlkioEntry {
                    major,
                    minor,
                    op: op.to_owned(),
                    value,
                });
            }
        }
    }
    Ok(s)
}
