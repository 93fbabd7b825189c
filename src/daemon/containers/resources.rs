//! HostConfig resource limits: dockerd 20.10's checks at create and update
//! (`verifyPlatformContainerResources`, `UpdateContainer`) with its messages
//! and warnings, the defaults it stores, and the mapping onto the runtime's
//! [`cgroups::Resources`].

use std::collections::BTreeSet;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use berth::api::models::{ContainerUpdateBody, HostConfig, Resources, ThrottleDevice};
use berth::runtime::cgroups::{self, Feature, Hierarchy, Throttle};

use crate::error::{ApiError, ApiResult};

/// dockerd's `linuxMinMemory`: 6 MiB.
const MIN_MEMORY: i64 = 6 << 20;
/// The CFS period `--cpus` uses, in microseconds.
const NANO_CPUS_PERIOD: u64 = 100_000;

/// What this host's cgroups can limit, the way dockerd's `sysinfo` reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostSupport {
    /// `memory.limit_in_bytes` / `memory.max`.
    pub memory: bool,
    /// Swap accounting (`memory.memsw.*` / `memory.swap.max`).
    pub swap: bool,
    /// Soft limit (`memory.soft_limit_in_bytes` / `memory.low`).
    pub memory_reservation: bool,
    /// `memory.oom_control` (v1 only).
    pub oom_kill_disable: bool,
    /// The pids controller.
    pub pids: bool,
    /// `cpu.shares` / `cpu.weight`.
    pub cpu_shares: bool,
    /// CFS bandwidth (`cpu.cfs_quota_us` / `cpu.max`).
    pub cpu_cfs: bool,
    /// The cpuset controller.
    pub cpuset: bool,
    /// `blkio.weight` / `io.weight`.
    pub blkio_weight: bool,
    /// Per-device throttling (`blkio.throttle.*` / `io.max`).
    pub blkio_throttle: bool,
    /// CPUs the daemon may run on (`sched_getaffinity`), as dockerd's `NumCPU`.
    pub ncpu: u32,
    /// The CPUs containers may be pinned to (`cpuset.cpus` of the root).
    pub cpus: String,
    /// The memory nodes containers may use.
    pub mems: String,
}

impl HostSupport {
    /// What `hierarchy` supports; nothing at all without one.
    pub fn detect(hierarchy: Option<&Hierarchy>) -> HostSupport {
        let has = |f: Feature| hierarchy.is_some_and(|h| h.supports(f));
        HostSupport {
            memory: has(Feature::Memory),
            swap: has(Feature::MemorySwap),
            memory_reservation: has(Feature::MemoryReservation),
            oom_kill_disable: has(Feature::OomKillDisable),
            pids: has(Feature::Pids),
            cpu_shares: has(Feature::CpuShares),
            cpu_cfs: has(Feature::CpuCfs),
            cpuset: has(Feature::Cpuset),
            blkio_weight: has(Feature::BlkioWeight),
            blkio_throttle: has(Feature::BlkioThrottle),
            ncpu: online_cpus(),
            cpus: first_readable(&[
                "/sys/fs/cgroup/cpuset/cpuset.cpus",
                "/sys/fs/cgroup/cpuset.cpus.effective",
                "/sys/devices/system/cpu/online",
            ]),
            mems: first_readable(&[
                "/sys/fs/cgroup/cpuset/cpuset.mems",
                "/sys/fs/cgroup/cpuset.mems.effective",
                "/sys/devices/system/node/online",
            ]),
        }
    }
}

/// CPUs this process may run on, as Go's `runtime.NumCPU` counts them.
pub fn online_cpus() -> u32 {
    let Ok(set) = nix::sched::sched_getaffinity(nix::unistd::Pid::from_raw(0)) else {
        return 1;
    };
    let count = (0..nix::sched::CpuSet::count())
        .filter(|&i| set.is_set(i).unwrap_or(false))
        .count();
    u32::try_from(count.max(1)).unwrap_or(u32::MAX)
}

fn first_readable(paths: &[&str]) -> String {
    paths
        .iter()
        .find_map(|p| std::fs::read_to_string(p).ok())
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// Copies the resource fields between a HostConfig and a [`Resources`].
macro_rules! resource_fields {
    ($from:expr => $to:expr) => {{
        let (from, to) = ($from, $to);
        to.cpu_shares = from.cpu_shares.clone();
        to.memory = from.memory.clone();
        to.blkio_weight = from.blkio_weight.clone();
        to.blkio_weight_device = from.blkio_weight_device.clone();
        to.blkio_device_read_bps = from.blkio_device_read_bps.clone();
        to.blkio_device_write_bps = from.blkio_device_write_bps.clone();
        to.blkio_device_read_iops = from.blkio_device_read_iops.clone();
        to.blkio_device_write_iops = from.blkio_device_write_iops.clone();
        to.cpu_period = from.cpu_period.clone();
        to.cpu_quota = from.cpu_quota.clone();
        to.cpuset_cpus = from.cpuset_cpus.clone();
        to.cpuset_mems = from.cpuset_mems.clone();
        to.memory_reservation = from.memory_reservation.clone();
        to.memory_swap = from.memory_swap.clone();
        to.memory_swappiness = from.memory_swappiness.clone();
        to.nano_cpus = from.nano_cpus.clone();
        to.oom_kill_disable = from.oom_kill_disable.clone();
        to.pids_limit = from.pids_limit.clone();
        to.cpu_percent = from.cpu_percent.clone();
        to.io_maximum_iops = from.io_maximum_iops.clone();
        to.io_maximum_bandwidth = from.io_maximum_bandwidth.clone();
    }};
}

fn of_host_config(h: &HostConfig) -> Resources {
    let mut r = Resources::default();
    resource_fields!(h => &mut r);
    r
}

fn store(r: &Resources, h: &mut HostConfig) {
    resource_fields!(r => h);
}

fn n(v: Option<i64>) -> i64 {
    v.unwrap_or(0)
}

fn has_devices(v: &Option<Vec<ThrottleDevice>>) -> bool {
    v.as_ref().is_some_and(|d| !d.is_empty())
}

/// dockerd's `verifyPlatformContainerResources`: refuses impossible values
/// (400, dockerd's words) and drops what the host cannot limit, returning
/// dockerd's warnings for those.
pub fn verify(r: &mut Resources, host: &HostSupport, update: bool) -> ApiResult<Vec<String>> {
    let mut warnings = Vec::new();
    let mut warn = |w: &str| warnings.push(w.to_owned());
    let fail = |m: String| Err(ApiError::invalid(m));
    if r.memory_swappiness == Some(-1) {
        r.memory_swappiness = None;
    }
    let memory = n(r.memory);
    if memory != 0 && memory < MIN_MEMORY {
        return fail("Minimum memory limit allowed is 6MB".into());
    }
    if n(r.memory) > 0 && !host.memory {
        warn(
            "Your kernel does not support memory limit capabilities or the cgroup is not mounted. Limitation discarded.",
        );
        r.memory = Some(0);
        r.memory_swap = Some(-1);
    }
    if n(r.memory) > 0 && n(r.memory_swap) != -1 && !host.swap {
        warn(
            "Your kernel does not support swap limit capabilities or the cgroup is not mounted. Memory limited without swap.",
        );
        r.memory_swap = Some(-1);
    }
    let (memory, swap) = (n(r.memory), n(r.memory_swap));
    if memory > 0 && swap > 0 && swap < memory {
        return fail(
            "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
        );
    }
    if memory == 0 && swap > 0 && !update {
        return fail(
            "You should always set the Memory limit when using Memoryswap limit, see usage".into(),
        );
    }
    // Swappiness is not among the limits the runtime writes: dropped as on
    // a host without it.
    if r.memory_swappiness.is_some() {
        warn(
            "Your kernel does not support memory swappiness capabilities or the cgroup is not mounted. Memory swappiness discarded.",
        );
        r.memory_swappiness = None;
    }
    if n(r.memory_reservation) > 0 && !host.memory_reservation {
        warn(
            "Your kernel does not support memory soft limit capabilities or the cgroup is not mounted. Limitation discarded.",
        );
        r.memory_reservation = Some(0);
    }
    let reservation = n(r.memory_reservation);
    if reservation > 0 && reservation < MIN_MEMORY {
        return fail("Minimum memory reservation allowed is 6MB".into());
    }
    if memory > 0 && reservation > 0 && memory < reservation {
        return fail(
            "Minimum memory limit can not be less than memory reservation limit, see usage".into(),
        );
    }
    if r.oom_kill_disable.is_some() && !host.oom_kill_disable {
        if r.oom_kill_disable == Some(true) {
            warn("Your kernel does not support OomKillDisable. OomKillDisable discarded.");
        }
        r.oom_kill_disable = None;
    }
    if r.oom_kill_disable == Some(true) && n(r.memory) == 0 {
        warn(
            "OOM killer is disabled for the container, but no memory limit is set, this can result in the system running out of resources.",
        );
    }
    if r.pids_limit.is_some() && !host.pids {
        if n(r.pids_limit) > 0 {
            warn(
                "Your kernel does not support PIDs limit capabilities or the cgroup is not mounted. PIDs limit discarded.",
            );
        }
        r.pids_limit = None;
    }

    let nano = n(r.nano_cpus);
    if nano > 0 && n(r.cpu_period) > 0 {
        return fail("Conflicting options: Nano CPUs and CPU Period cannot both be set".into());
    }
    if nano > 0 && n(r.cpu_quota) > 0 {
        return fail("Conflicting options: Nano CPUs and CPU Quota cannot both be set".into());
    }
    if nano > 0 && !host.cpu_cfs {
        return fail(
            "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted".into(),
        );
    }
    if nano < 0 || nano > i64::from(host.ncpu) * 1_000_000_000 {
        return fail(format!(
            "Range of CPUs is from 0.01 to {0}.00, as there are only {0} CPUs available",
            host.ncpu
        ));
    }
    if n(r.cpu_shares) > 0 && !host.cpu_shares {
        warn(
            "Your kernel does not support CPU shares or the cgroup is not mounted. Shares discarded.",
        );
        r.cpu_shares = Some(0);
    }
    if (n(r.cpu_period) != 0 || n(r.cpu_quota) != 0) && !host.cpu_cfs {
        warn("Your kernel does not support CPU CFS scheduler. CPU period/quota discarded.");
        r.cpu_period = Some(0);
        r.cpu_quota = Some(0);
    }
    let period = n(r.cpu_period);
    if period != 0 && !(1000..=1_000_000).contains(&period) {
        return fail(
            "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)"
                .into(),
        );
    }
    let quota = n(r.cpu_quota);
    if quota > 0 && quota < 1000 {
        return fail("CPU cfs quota can not be less than 1ms (i.e. 1000)".into());
    }
    if n(r.cpu_percent) > 0 {
        warn("linux does not support CPU percent. Percent discarded.");
        r.cpu_percent = Some(0);
    }

    let cpus = r.cpuset_cpus.clone().unwrap_or_default();
    let mems = r.cpuset_mems.clone().unwrap_or_default();
    if (!cpus.is_empty() || !mems.is_empty()) && !host.cpuset {
        warn("Your kernel does not support cpuset or the cgroup is not mounted. Cpuset discarded.");
        r.cpuset_cpus = Some(String::new());
        r.cpuset_mems = Some(String::new());
    } else {
        match list_available(&cpus, &host.cpus) {
            Err(e) => return fail(format!("Invalid value {cpus} for cpuset cpus: {e}")),
            Ok(false) => {
                return fail(format!(
                    "Requested CPUs are not available - requested {cpus}, available: {}",
                    host.cpus
                ));
            }
            Ok(true) => {}
        }
        match list_available(&mems, &host.mems) {
            Err(e) => return fail(format!("Invalid value {mems} for cpuset mems: {e}")),
            Ok(false) => {
                return fail(format!(
                    "Requested memory nodes are not available - requested {mems}, available: {}",
                    host.mems
                ));
            }
            Ok(true) => {}
        }
    }

    let weight = r.blkio_weight.unwrap_or(0);
    if weight > 0 && !host.blkio_weight {
        warn(
            "Your kernel does not support Block I/O weight or the cgroup is not mounted. Weight discarded.",
        );
        r.blkio_weight = Some(0);
    }
    let weight = r.blkio_weight.unwrap_or(0);
    if weight > 0 && !(10..=1000).contains(&weight) {
        return fail("Range of blkio weight is from 10 to 1000".into());
    }
    if n(r.io_maximum_bandwidth) != 0 || n(r.io_maximum_iops) != 0 {
        return fail(
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps"
                .into(),
        );
    }
    // Per-device weights are not among the limits the runtime writes.
    if r.blkio_weight_device
        .as_ref()
        .is_some_and(|d| !d.is_empty())
    {
        warn(
            "Your kernel does not support Block I/O weight_device or the cgroup is not mounted. Weight-device discarded.",
        );
        r.blkio_weight_device = Some(Vec::new());
    }
    let throttles = [
        (
            &mut r.blkio_device_read_bps,
            "Your kernel does not support BPS Block I/O read limit or the cgroup is not mounted. Block I/O BPS read limit discarded.",
        ),
        (
            &mut r.blkio_device_write_bps,
            "Your kernel does not support BPS Block I/O write limit or the cgroup is not mounted. Block I/O BPS write limit discarded.",
        ),
        (
            &mut r.blkio_device_read_iops,
            "Your kernel does not support IOPS Block read limit or the cgroup is not mounted. Block I/O IOPS read limit discarded.",
        ),
        (
            &mut r.blkio_device_write_iops,
            "Your kernel does not support IOPS Block write limit or the cgroup is not mounted. Block I/O IOPS write limit discarded.",
        ),
    ];
    for (devices, warning) in throttles {
        if has_devices(devices) && !host.blkio_throttle {
            warn(warning);
            *devices = Some(Vec::new());
        }
    }
    Ok(warnings)
}

/// moby's `parseUintList`: `0-2,4`; duplicates allowed; `maximum` 0 = none.
fn parse_uint_list(val: &str, maximum: i64) -> Result<BTreeSet<i64>, String> {
    let mut out = BTreeSet::new();
    if val.is_empty() {
        return Ok(out);
    }
    let invalid = || format!("invalid format: {val}");
    let out_of_range = || format!("value of out range, maximum is {maximum}");
    for part in val.split(',') {
        let (lo, hi) = match part.split_once('-') {
            None => {
                let v: i64 = part.parse().map_err(|_| invalid())?;
                (v, v)
            }
            Some((a, b)) => {
                let lo: i64 = a.parse().map_err(|_| invalid())?;
                let hi: i64 = b.parse().map_err(|_| invalid())?;
                if hi < lo {
                    return Err(invalid());
                }
                (lo, hi)
            }
        };
        if maximum != 0 && hi > maximum {
            return Err(out_of_range());
        }
        out.extend(lo..=hi);
    }
    Ok(out)
}

/// moby's `isCpusetListAvailable`: whether every entry of `provided` is in `available`.
fn list_available(provided: &str, available: &str) -> Result<bool, String> {
    let available = parse_uint_list(available, 0)?;
    let maximum = available.last().copied().unwrap_or(0).max(8192);
    let provided = parse_uint_list(provided, maximum)?;
    Ok(provided.is_subset(&available))
}

/// A throttle's device path as `major:minor`; the path must name a block
/// device (dockerd fails the start with the stat error; berthd refuses the
/// request instead).
fn device_numbers(path: &str) -> ApiResult<(u64, u64)> {
    let meta = std::fs::metadata(path).map_err(|e| {
        let err = e.raw_os_error().map_or_else(
            || e.to_string(),
            |n| nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        );
        ApiError::invalid(format!("stat {path}: {err}"))
    })?;
    if !meta.file_type().is_block_device() {
        return Err(ApiError::invalid(format!("{path} is not a block device")));
    }
    let rdev = meta.rdev();
    Ok((nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev)))
}

fn throttles(devices: &Option<Vec<ThrottleDevice>>) -> ApiResult<Vec<Throttle>> {
    devices
        .iter()
        .flatten()
        .map(|d| {
            let path = d.path.as_deref().unwrap_or_default();
            let (major, minor) = device_numbers(path)?;
            let rate = u64::try_from(d.rate.unwrap_or(0))
                .map_err(|_| ApiError::invalid(format!("invalid rate for device {path}")))?;
            Ok(Throttle { major, minor, rate })
        })
        .collect()
}

/// Checks and completes a create request's limits as dockerd does: the
/// checks of [`verify`], the throttled devices' paths, then the defaults it
/// stores (`MemorySwap` twice `Memory`, `OomKillDisable` false). Returns
/// dockerd's warnings.
pub fn prepare_create(h: &mut HostConfig, host: &HostSupport) -> ApiResult<Vec<String>> {
    // dockerd's router: a non-positive PidsLimit at create means "unlimited".
    if h.pids_limit.is_some_and(|p| p <= 0) {
        h.pids_limit = None;
    }
    // runconfig's checks, made while dockerd decodes the request.
    if n(h.io_maximum_bandwidth) != 0 {
        return Err(ApiError::invalid(
            "Invalid QoS settings: linux does not support configuration of maximum bandwidth",
        ));
    }
    if n(h.io_maximum_iops) != 0 {
        return Err(ApiError::invalid(
            "Invalid QoS settings: linux does not support configuration of maximum IOPs",
        ));
    }
    // The runtime has no real-time scheduling support.
    if n(h.cpu_realtime_period) != 0 || n(h.cpu_realtime_runtime) != 0 {
        return Err(ApiError::invalid(
            "Your kernel does not support CPU real-time scheduler",
        ));
    }
    let mut r = of_host_config(h);
    let warnings = verify(&mut r, host, false)?;
    for devices in [
        &r.blkio_device_read_bps,
        &r.blkio_device_write_bps,
        &r.blkio_device_read_iops,
        &r.blkio_device_write_iops,
    ] {
        throttles(devices)?;
    }
    store(&r, h);
    let memory = n(h.memory);
    if memory > 0 && n(h.memory_swap) == 0 {
        h.memory_swap = Some(memory * 2);
    }
    if h.oom_kill_disable.is_none() {
        h.oom_kill_disable = Some(false);
    }
    Ok(warnings)
}

/// A conflict of an update with the container's limits (409, dockerd's words).
fn conflicting(msg: &str) -> ApiError {
    ApiError::conflict(msg)
}

/// Checks an update body (dockerd's router and `verifyContainerSettings`
/// with `update`), returning its warnings and the limits to merge.
pub fn prepare_update(
    body: &ContainerUpdateBody,
    host: &HostSupport,
) -> ApiResult<(Resources, Vec<String>)> {
    let mut r = body.resources.clone();
    // dockerd's router: 0 and any negative value mean "unlimited" on update.
    if let Some(p) = r.pids_limit
        && p <= 0
    {
        r.pids_limit = Some(0);
    }
    if n(r.cpu_realtime_period) != 0 || n(r.cpu_realtime_runtime) != 0 {
        return Err(ApiError::invalid(
            "Your kernel does not support CPU real-time scheduler",
        ));
    }
    let warnings = verify(&mut r, host, true)?;
    for devices in [
        &r.blkio_device_read_bps,
        &r.blkio_device_write_bps,
        &r.blkio_device_read_iops,
        &r.blkio_device_write_iops,
    ] {
        throttles(devices)?;
    }
    Ok((r, warnings))
}

/// moby's `Container.UpdateContainer`: merges `update` into `h`; a zero or
/// absent field keeps the current value. Conflicts are refused before
/// anything changes.
pub fn merge_update(
    h: &mut HostConfig,
    update: &Resources,
    restart: Option<&berth::api::models::RestartPolicy>,
) -> ApiResult<()> {
    if n(update.nano_cpus) > 0 && n(h.cpu_period) > 0 {
        return Err(conflicting(
            "Conflicting options: Nano CPUs cannot be updated as CPU Period has already been set",
        ));
    }
    if n(update.nano_cpus) > 0 && n(h.cpu_quota) > 0 {
        return Err(conflicting(
            "Conflicting options: Nano CPUs cannot be updated as CPU Quota has already been set",
        ));
    }
    if n(update.cpu_period) > 0 && n(h.nano_cpus) > 0 {
        return Err(conflicting(
            "Conflicting options: CPU Period cannot be updated as NanoCPUs has already been set",
        ));
    }
    if n(update.cpu_quota) > 0 && n(h.nano_cpus) > 0 {
        return Err(conflicting(
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set",
        ));
    }
    if n(update.memory) != 0 && n(update.memory) > n(h.memory_swap) && n(update.memory_swap) == 0 {
        return Err(conflicting(
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time",
        ));
    }
    let restart = restart.filter(|p| {
        p.name
            .as_ref()
            .is_some_and(|n| *n != berth::api::models::RestartPolicyNameEnum::EMPTY)
    });
    if let Some(p) = restart
        && h.auto_remove == Some(true)
        && p.name != Some(berth::api::models::RestartPolicyNameEnum::NO)
    {
        return Err(conflicting(
            "Restart policy cannot be updated because AutoRemove is enabled for the container",
        ));
    }
    if update.blkio_weight.unwrap_or(0) != 0 {
        h.blkio_weight = update.blkio_weight;
    }
    let set = |to: &mut Option<i64>, from: Option<i64>| {
        if n(from) != 0 {
            *to = from;
        }
    };
    set(&mut h.cpu_shares, update.cpu_shares);
    set(&mut h.nano_cpus, update.nano_cpus);
    set(&mut h.cpu_period, update.cpu_period);
    set(&mut h.cpu_quota, update.cpu_quota);
    set(&mut h.memory, update.memory);
    set(&mut h.memory_swap, update.memory_swap);
    set(&mut h.memory_reservation, update.memory_reservation);
    for (to, from) in [
        (&mut h.cpuset_cpus, &update.cpuset_cpus),
        (&mut h.cpuset_mems, &update.cpuset_mems),
    ] {
        if from.as_deref().is_some_and(|s| !s.is_empty()) {
            to.clone_from(from);
        }
    }
    if update.pids_limit.is_some() {
        h.pids_limit = update.pids_limit;
    }
    if let Some(p) = restart {
        h.restart_policy = Some(p.clone());
    }
    Ok(())
}

/// The limits of `h` for the runtime: every limit that is set, NanoCpus as
/// a CFS quota over a 100 ms period, devices as `major:minor`. Fields that
/// are unset stay `None`, so a new cgroup keeps the kernel's defaults.
pub fn to_cgroup(h: &HostConfig, host: &HostSupport) -> ApiResult<cgroups::Resources> {
    let positive = |v: Option<i64>| v.filter(|v| *v > 0);
    let memory = positive(h.memory);
    let nano = n(h.nano_cpus);
    let (cpu_period, cpu_quota) = if nano > 0 {
        (
            Some(NANO_CPUS_PERIOD),
            Some(nano * i64::try_from(NANO_CPUS_PERIOD).unwrap_or(0) / 1_000_000_000),
        )
    } else {
        (
            positive(h.cpu_period).and_then(|p| u64::try_from(p).ok()),
            h.cpu_quota.filter(|q| *q != 0),
        )
    };
    let text = |v: &Option<String>| v.clone().filter(|s| !s.is_empty());
    Ok(cgroups::Resources {
        memory,
        // Swap is only written next to a memory limit, where accounting exists.
        memory_swap: h
            .memory_swap
            .filter(|s| *s != 0 && memory.is_some() && host.swap),
        memory_reservation: positive(h.memory_reservation),
        oom_kill_disable: h.oom_kill_disable.filter(|d| *d && host.oom_kill_disable),
        cpu_shares: positive(h.cpu_shares).and_then(|s| u64::try_from(s).ok()),
        cpu_period,
        cpu_quota,
        cpuset_cpus: text(&h.cpuset_cpus),
        cpuset_mems: text(&h.cpuset_mems),
        pids_limit: h.pids_limit,
        blkio_weight: h.blkio_weight.filter(|w| *w > 0),
        device_read_bps: throttles(&h.blkio_device_read_bps)?,
        device_write_bps: throttles(&h.blkio_device_write_bps)?,
        device_read_iops: throttles(&h.blkio_device_read_iops)?,
        device_write_iops: throttles(&h.blkio_device_write_iops)?,
    })
}

/// Whether `r` carries any limit (else a plain cgroup will do).
pub fn has_limits(r: &cgroups::Resources) -> bool {
    *r != cgroups::Resources::default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host() -> HostSupport {
        HostSupport {
            memory: true,
            swap: true,
            memory_reservation: true,
            oom_kill_disable: true,
            pids: true,
            cpu_shares: true,
            cpu_cfs: true,
            cpuset: true,
            blkio_weight: true,
            blkio_throttle: true,
            ncpu: 2,
            cpus: "0-1".into(),
            mems: "0".into(),
        }
    }

    fn refused(r: Resources, update: bool) -> String {
        let mut r = r;
        verify(&mut r, &host(), update).unwrap_err().message
    }

    #[test]
    fn impossible_limits_are_refused_with_dockerds_words() {
        let cases: Vec<(Resources, &str)> = vec![
            (
                Resources {
                    memory: Some(1 << 20),
                    ..Default::default()
                },
                "Minimum memory limit allowed is 6MB",
            ),
            (
                Resources {
                    memory_reservation: Some(1 << 20),
                    ..Default::default()
                },
                "Minimum memory reservation allowed is 6MB",
            ),
            (
                Resources {
                    memory: Some(64 << 20),
                    memory_swap: Some(32 << 20),
                    ..Default::default()
                },
                "Minimum memoryswap limit should be larger than memory limit, see usage",
            ),
            (
                Resources {
                    memory_swap: Some(64 << 20),
                    ..Default::default()
                },
                "You should always set the Memory limit when using Memoryswap limit, see usage",
            ),
            (
                Resources {
                    memory: Some(32 << 20),
                    memory_reservation: Some(64 << 20),
                    ..Default::default()
                },
                "Minimum memory limit can not be less than memory reservation limit, see usage",
            ),
            (
                Resources {
                    nano_cpus: Some(500_000_000),
                    cpu_period: Some(100_000),
                    ..Default::default()
                },
                "Conflicting options: Nano CPUs and CPU Period cannot both be set",
            ),
            (
                Resources {
                    nano_cpus: Some(500_000_000),
                    cpu_quota: Some(50_000),
                    ..Default::default()
                },
                "Conflicting options: Nano CPUs and CPU Quota cannot both be set",
            ),
            (
                Resources {
                    nano_cpus: Some(-1_000_000_000),
                    ..Default::default()
                },
                "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
            ),
            (
                Resources {
                    nano_cpus: Some(3_000_000_000),
                    ..Default::default()
                },
                "Range of CPUs is from 0.01 to 2.00, as there are only 2 CPUs available",
            ),
            (
                Resources {
                    cpu_period: Some(999),
                    ..Default::default()
                },
                "CPU cfs period can not be less than 1ms (i.e. 1000) or larger than 1s (i.e. 1000000)",
            ),
            (
                Resources {
                    cpu_quota: Some(999),
                    ..Default::default()
                },
                "CPU cfs quota can not be less than 1ms (i.e. 1000)",
            ),
            (
                Resources {
                    cpuset_cpus: Some("1-x".into()),
                    ..Default::default()
                },
                "Invalid value 1-x for cpuset cpus: invalid format: 1-x",
            ),
            (
                Resources {
                    cpuset_cpus: Some("3".into()),
                    ..Default::default()
                },
                "Requested CPUs are not available - requested 3, available: 0-1",
            ),
            (
                Resources {
                    cpuset_cpus: Some("9000".into()),
                    ..Default::default()
                },
                "Invalid value 9000 for cpuset cpus: value of out range, maximum is 8192",
            ),
            (
                Resources {
                    cpuset_mems: Some("1".into()),
                    ..Default::default()
                },
                "Requested memory nodes are not available - requested 1, available: 0",
            ),
            (
                Resources {
                    blkio_weight: Some(5),
                    ..Default::default()
                },
                "Range of blkio weight is from 10 to 1000",
            ),
        ];
        for (r, want) in cases {
            assert_eq!(refused(r, false), want);
        }
    }

    #[test]
    fn runconfig_checks_come_first_at_create() {
        let mut h = HostConfig {
            io_maximum_bandwidth: Some(1),
            ..Default::default()
        };
        assert_eq!(
            prepare_create(&mut h, &host()).unwrap_err().message,
            "Invalid QoS settings: linux does not support configuration of maximum bandwidth"
        );
        let mut h = HostConfig {
            cpu_realtime_runtime: Some(950_000),
            ..Default::default()
        };
        assert_eq!(
            prepare_create(&mut h, &host()).unwrap_err().message,
            "Your kernel does not support CPU real-time scheduler"
        );
        let mut r = Resources {
            io_maximum_iops: Some(5),
            ..Default::default()
        };
        assert_eq!(
            verify(&mut r, &host(), true).unwrap_err().message,
            "Invalid QoS settings: linux does not support Maximum IO Bandwidth or Maximum IO IOps"
        );
    }

    #[test]
    fn update_may_set_swap_alone() {
        let mut r = Resources {
            memory_swap: Some(64 << 20),
            ..Default::default()
        };
        assert!(verify(&mut r, &host(), true).unwrap().is_empty());
    }

    #[test]
    fn missing_controllers_discard_limits_with_warnings() {
        let none = HostSupport {
            memory: false,
            swap: false,
            memory_reservation: false,
            oom_kill_disable: false,
            pids: false,
            cpu_shares: false,
            cpu_cfs: false,
            cpuset: false,
            blkio_weight: false,
            blkio_throttle: false,
            ..host()
        };
        let mut r = Resources {
            memory: Some(64 << 20),
            pids_limit: Some(10),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0".into()),
            blkio_weight: Some(300),
            ..Default::default()
        };
        let w = verify(&mut r, &none, false).unwrap();
        assert_eq!(r.memory, Some(0));
        assert_eq!(r.memory_swap, Some(-1));
        assert_eq!(r.pids_limit, None);
        assert_eq!(r.cpu_shares, Some(0));
        assert_eq!(r.cpuset_cpus.as_deref(), Some(""));
        assert_eq!(r.blkio_weight, Some(0));
        assert_eq!(w.len(), 5, "{w:?}");
        assert!(w[0].starts_with("Your kernel does not support memory limit"));
        let mut r = Resources {
            nano_cpus: Some(500_000_000),
            ..Default::default()
        };
        assert_eq!(
            verify(&mut r, &none, false).unwrap_err().message,
            "NanoCPUs can not be set, as your kernel does not support CPU CFS scheduler or the cgroup is not mounted"
        );
    }

    #[test]
    fn create_stores_dockerds_defaults_and_maps_limits() {
        let mut h = HostConfig {
            memory: Some(32 << 20),
            nano_cpus: Some(500_000_000),
            pids_limit: Some(-1),
            cpu_shares: Some(512),
            cpuset_cpus: Some("0".into()),
            ..Default::default()
        };
        assert!(prepare_create(&mut h, &host()).unwrap().is_empty());
        assert_eq!(h.memory_swap, Some(64 << 20));
        assert_eq!(h.oom_kill_disable, Some(false));
        assert_eq!(h.pids_limit, None);
        let r = to_cgroup(&h, &host()).unwrap();
        assert_eq!(
            r,
            cgroups::Resources {
                memory: Some(32 << 20),
                memory_swap: Some(64 << 20),
                cpu_shares: Some(512),
                cpu_period: Some(100_000),
                cpu_quota: Some(50_000),
                cpuset_cpus: Some("0".into()),
                ..Default::default()
            }
        );
        assert!(has_limits(&r));
        assert!(!has_limits(
            &to_cgroup(&HostConfig::default(), &host()).unwrap()
        ));
    }

    #[test]
    fn throttled_devices_resolve_to_numbers_or_are_refused() {
        let dev = |p: &str| ThrottleDevice {
            path: Some(p.into()),
            rate: Some(1 << 20),
        };
        let mut h = HostConfig {
            blkio_device_read_bps: Some(vec![dev("/dev/berth-no-such-disk")]),
            ..Default::default()
        };
        assert_eq!(
            prepare_create(&mut h, &host()).unwrap_err().message,
            "stat /dev/berth-no-such-disk: no such file or directory"
        );
        h.blkio_device_read_bps = Some(vec![dev("/dev/null")]);
        assert_eq!(
            prepare_create(&mut h, &host()).unwrap_err().message,
            "/dev/null is not a block device"
        );
        let Some(block) = std::fs::read_dir("/sys/dev/block").ok().and_then(|mut d| {
            d.find_map(|e| {
                let e = e.ok()?;
                let name = std::fs::read_link(e.path()).ok()?;
                let dev = format!("/dev/{}", name.file_name()?.to_string_lossy());
                std::path::Path::new(&dev)
                    .exists()
                    .then(|| (dev, e.file_name().to_string_lossy().into_owned()))
            })
        }) else {
            return;
        };
        let (path, numbers) = block;
        h.blkio_device_read_bps = Some(vec![dev(&path)]);
        prepare_create(&mut h, &host()).unwrap();
        let r = to_cgroup(&h, &host()).unwrap();
        let t = &r.device_read_bps[0];
        assert_eq!(format!("{}:{}", t.major, t.minor), numbers);
        assert_eq!(t.rate, 1 << 20);
    }

    #[test]
    fn update_merges_like_dockerd() {
        let mut h = HostConfig {
            memory: Some(32 << 20),
            memory_swap: Some(64 << 20),
            nano_cpus: Some(1_000_000_000),
            ..Default::default()
        };
        let up = |r: Resources| ContainerUpdateBody {
            resources: r,
            restart_policy: None,
        };
        let (r, _) = prepare_update(
            &up(Resources {
                memory: Some(128 << 20),
                ..Default::default()
            }),
            &host(),
        )
        .unwrap();
        assert_eq!(
            merge_update(&mut h, &r, None).unwrap_err().message,
            "Memory limit should be smaller than already set memoryswap limit, update the memoryswap at the same time"
        );
        let (r, _) = prepare_update(
            &up(Resources {
                cpu_quota: Some(50_000),
                ..Default::default()
            }),
            &host(),
        )
        .unwrap();
        assert_eq!(
            merge_update(&mut h, &r, None).unwrap_err().message,
            "Conflicting options: CPU Quota cannot be updated as NanoCPUs has already been set"
        );
        let (r, _) = prepare_update(
            &up(Resources {
                memory: Some(48 << 20),
                pids_limit: Some(-1),
                cpu_shares: Some(256),
                ..Default::default()
            }),
            &host(),
        )
        .unwrap();
        merge_update(&mut h, &r, None).unwrap();
        assert_eq!(h.memory, Some(48 << 20));
        assert_eq!(h.memory_swap, Some(64 << 20));
        assert_eq!(h.pids_limit, Some(0));
        assert_eq!(h.cpu_shares, Some(256));
        assert_eq!(h.nano_cpus, Some(1_000_000_000));
        let c = to_cgroup(&h, &host()).unwrap();
        assert_eq!(c.pids_limit, Some(0));
        assert_eq!(c.cpu_quota, Some(100_000));
    }

    #[test]
    fn cpuset_lists_parse_like_moby() {
        assert_eq!(
            parse_uint_list("0-2,4,4", 0)
                .unwrap()
                .into_iter()
                .collect::<Vec<_>>(),
            [0, 1, 2, 4]
        );
        assert!(parse_uint_list("2-1", 0).is_err());
        assert!(parse_uint_list("1-", 0).is_err());
        assert!(parse_uint_list("", 0).unwrap().is_empty());
        assert!(list_available("0,1", "0-1").unwrap());
        assert!(!list_available("0-2", "0-1").unwrap());
    }
}
