//! Container statistics in Docker's `/containers/{id}/stats` shape.
//!
//! dockerd samples every container someone watches once a second and makes
//! a `stream=false` request wait for two samples. berthd samples on demand
//! instead (a handful of cgroup and proc file reads, no fork) and keeps each
//! container's last sample: a request finds its `precpu_stats` there when it
//! is recent, and otherwise waits [`MIN_GAP`] for a second sample. So
//! `docker stats --no-stream` over many containers answers in about a tenth
//! of a second.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use berth::api::models::{
    BlkioStatEntry, BlkioStats, CpuStats, CpuUsage, MemoryStats, NetworkStats, PidsStats,
    StatsJson, ThrottlingData,
};
use berth::runtime::cgroups::{BlkioEntry, CgroupPaths, CgroupStats, Layout};

use crate::containers::resources::online_cpus;

/// The shortest time between the two samples of a CPU figure: `/proc/stat`
/// counts in 10 ms ticks, so shorter gaps make the percentage noisy.
pub const MIN_GAP: Duration = Duration::from_millis(100);
/// How old a kept sample may be to serve as `precpu_stats`.
const MAX_AGE: Duration = Duration::from_secs(5);
/// How often a streamed request sends a frame, as dockerd.
pub const INTERVAL: Duration = Duration::from_secs(1);

/// The `memory_stats.stats` keys dockerd reports on cgroup v1.
const V1_MEMORY_KEYS: &[&str] = &[
    "cache",
    "rss",
    "rss_huge",
    "mapped_file",
    "dirty",
    "writeback",
    "pgpgin",
    "pgpgout",
    "pgfault",
    "pgmajfault",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "hierarchical_memory_limit",
    "hierarchical_memsw_limit",
    "total_cache",
    "total_rss",
    "total_rss_huge",
    "total_mapped_file",
    "total_dirty",
    "total_writeback",
    "total_pgpgin",
    "total_pgpgout",
    "total_pgfault",
    "total_pgmajfault",
    "total_inactive_anon",
    "total_active_anon",
    "total_inactive_file",
    "total_active_file",
    "total_unevictable",
];

/// The `memory_stats.stats` keys dockerd reports on cgroup v2.
const V2_MEMORY_KEYS: &[&str] = &[
    "anon",
    "file",
    "kernel_stack",
    "slab",
    "sock",
    "shmem",
    "file_mapped",
    "file_dirty",
    "file_writeback",
    "anon_thp",
    "inactive_anon",
    "active_anon",
    "inactive_file",
    "active_file",
    "unevictable",
    "slab_reclaimable",
    "slab_unreclaimable",
    "pgfault",
    "pgmajfault",
    "workingset_refault",
    "workingset_activate",
    "workingset_nodereclaim",
    "pgrefill",
    "pgscan",
    "pgsteal",
    "pgactivate",
    "pgdeactivate",
    "pglazyfree",
    "pglazyfreed",
    "thp_fault_alloc",
    "thp_collapse_alloc",
];

/// A container's last sample.
#[derive(Debug, Clone)]
struct Kept {
    at: Instant,
    read: String,
    cpu: CpuStats,
}

/// The last sample of every container recently asked about.
#[derive(Debug)]
pub struct Collector {
    kept: Mutex<HashMap<String, Kept>>,
    machine_memory: u64,
}

/// Why a sample could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// Reading the container's cgroup failed.
    #[error("reading the statistics of container {id}: {source}")]
    Cgroup {
        /// The container.
        id: String,
        /// What failed.
        #[source]
        source: berth::runtime::cgroups::CgroupError,
    },
}

impl StatsError {
    /// The API class of the error.
    pub fn class(&self) -> berth::api::ErrorClass {
        match self {
            StatsError::Cgroup { source, .. } => source.class(),
        }
    }
}

impl Default for Collector {
    fn default() -> Collector {
        Collector::new()
    }
}

impl Collector {
    /// An empty collector.
    pub fn new() -> Collector {
        Collector {
            kept: Mutex::new(HashMap::new()),
            machine_memory: machine_memory(),
        }
    }

    /// Takes a sample of the container `id` (its cgroup `paths`, its init
    /// `pid` for the network figures) with `precpu_stats` from its last
    /// sample when that is at most `max_age` old, and keeps it for the next
    /// request. Blocking: call from a blocking thread.
    pub fn sample(
        &self,
        id: &str,
        name: &str,
        paths: &CgroupPaths,
        pid: i32,
        max_age: Duration,
    ) -> Result<(StatsJson, Duration), StatsError> {
        let raw = paths.stats().map_err(|source| StatsError::Cgroup {
            id: id.to_owned(),
            source,
        })?;
        let now = Instant::now();
        let mut s = self.shape(&raw);
        s.cpu_stats.system_cpu_usage = system_cpu_usage().unwrap_or(0);
        s.cpu_stats.online_cpus = online_cpus();
        s.read = now_rfc3339();
        s.name = format!("/{name}");
        s.id = id.to_owned();
        s.networks = network_stats(pid);
        let mut kept = self.kept.lock().expect("stats lock");
        let age = match kept.get(id) {
            Some(prev) if now.duration_since(prev.at) <= max_age => {
                s.precpu_stats = prev.cpu.clone();
                s.preread = prev.read.clone();
                now.duration_since(prev.at)
            }
            _ => Duration::MAX,
        };
        // Forget containers nobody asked about lately (removed ones too).
        kept.retain(|_, k| now.duration_since(k.at) <= MAX_AGE);
        kept.insert(
            id.to_owned(),
            Kept {
                at: now,
                read: s.read.clone(),
                cpu: s.cpu_stats.clone(),
            },
        );
        Ok((s, age))
    }

    /// The answer to `stream=false`: a sample whose `precpu_stats` is at
    /// least [`MIN_GAP`] and at most [`MAX_AGE`] older, waiting for a second
    /// sample only when no kept one qualifies.
    pub fn sample_pair(
        &self,
        id: &str,
        name: &str,
        paths: &CgroupPaths,
        pid: i32,
    ) -> Result<StatsJson, StatsError> {
        let age = self.age(id);
        if let Some(age) = age.filter(|a| *a <= MAX_AGE) {
            if age < MIN_GAP {
                std::thread::sleep(MIN_GAP - age);
            }
            let (s, age) = self.sample(id, name, paths, pid, MAX_AGE)?;
            if age != Duration::MAX {
                return Ok(s);
            }
        } else {
            self.sample(id, name, paths, pid, Duration::ZERO)?;
        }
        std::thread::sleep(MIN_GAP);
        Ok(self.sample(id, name, paths, pid, MAX_AGE)?.0)
    }

    /// How old the kept sample of `id` is.
    fn age(&self, id: &str) -> Option<Duration> {
        self.kept
            .lock()
            .expect("stats lock")
            .get(id)
            .map(|k| k.at.elapsed())
    }

    /// Maps raw cgroup figures onto dockerd's v1 or v2 shape.
    fn shape(&self, raw: &CgroupStats) -> StatsJson {
        let mut s = StatsJson::empty(String::new(), String::new());
        let v1 = raw.layout == Layout::V1;
        s.cpu_stats = CpuStats {
            cpu_usage: CpuUsage {
                total_usage: raw.cpu_total_ns,
                percpu_usage: if v1 {
                    raw.cpu_percpu_ns.clone()
                } else {
                    Vec::new()
                },
                usage_in_kernelmode: raw.cpu_system_ns,
                usage_in_usermode: raw.cpu_user_ns,
            },
            system_cpu_usage: 0,
            online_cpus: 0,
            throttling_data: ThrottlingData {
                periods: raw.throttling_periods,
                throttled_periods: raw.throttled_periods,
                throttled_time: raw.throttled_time_ns,
            },
        };
        let keys = if v1 { V1_MEMORY_KEYS } else { V2_MEMORY_KEYS };
        let stats: BTreeMap<String, u64> = keys
            .iter()
            .map(|k| {
                (
                    (*k).to_owned(),
                    raw.memory_stat.get(*k).copied().unwrap_or(0),
                )
            })
            .collect();
        // An unlimited cgroup shows the host's memory, as with dockerd.
        let limit = if raw.memory_limit == 0
            || (self.machine_memory > 0 && raw.memory_limit > self.machine_memory)
        {
            self.machine_memory
        } else {
            raw.memory_limit
        };
        s.memory_stats = MemoryStats {
            usage: raw.memory_usage,
            max_usage: if v1 { raw.memory_max_usage } else { 0 },
            stats,
            failcnt: raw.memory_failcnt,
            limit,
        };
        s.pids_stats = PidsStats {
            current: raw.pids_current,
            limit: raw.pids_limit,
        };
        let entries = |list: &[BlkioEntry]| -> Vec<BlkioStatEntry> {
            list.iter()
                .map(|e| BlkioStatEntry {
                    major: e.major,
                    minor: e.minor,
                    op: e.op.clone(),
                    value: e.value,
                })
                .collect()
        };
        s.blkio_stats = if v1 {
            BlkioStats {
                io_service_bytes_recursive: Some(entries(&raw.blkio)),
                io_serviced_recursive: Some(entries(&raw.blkio_serviced)),
                io_queue_recursive: Some(Vec::new()),
                io_service_time_recursive: Some(Vec::new()),
                io_wait_time_recursive: Some(Vec::new()),
                io_merged_recursive: Some(Vec::new()),
                io_time_recursive: Some(Vec::new()),
                sectors_recursive: Some(Vec::new()),
            }
        } else {
            // dockerd's v2 shape: read and write bytes only, null when none.
            let bytes = entries(&raw.blkio);
            BlkioStats {
                io_service_bytes_recursive: (!bytes.is_empty()).then_some(bytes),
                ..BlkioStats::default()
            }
        };
        s
    }
}

/// Now, as dockerd writes `read`.
fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

/// The host's memory in bytes (`MemTotal`).
fn machine_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// dockerd's `getSystemCPUUsage`: the first seven fields of the `cpu` line
/// of `/proc/stat`, in nanoseconds (USER_HZ is 100 on Linux).
fn system_cpu_usage() -> Option<u64> {
    parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?)
}

fn parse_proc_stat(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .take(7)
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    (fields.len() == 7).then(|| fields.iter().sum::<u64>() * 1_000_000_000 / 100)
}

/// Per-interface counters of the container's network namespace, from
/// `/proc/<pid>/net/dev`, without `lo`.
fn network_stats(pid: i32) -> BTreeMap<String, NetworkStats> {
    if pid <= 0 {
        return BTreeMap::new();
    }
    std::fs::read_to_string(format!("/proc/{pid}/net/dev"))
        .map(|t| parse_net_dev(&t))
        .unwrap_or_default()
}

fn parse_net_dev(text: &str) -> BTreeMap<String, NetworkStats> {
    text.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let name = name.trim();
            if name == "lo" {
                return None;
            }
            let f: Vec<u64> = rest
                .split_whitespace()
                .map(|v| v.parse().unwrap_or(0))
                .collect();
            if f.len() < 12 {
                return None;
            }
            Some((
                name.to_owned(),
                NetworkStats {
                    rx_bytes: f[0],
                    rx_packets: f[1],
                    rx_errors: f[2],
                    rx_dropped: f[3],
                    tx_bytes: f[8],
                    tx_packets: f[9],
                    tx_errors: f[10],
                    tx_dropped: f[11],
                },
            ))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(layout: Layout) -> CgroupStats {
        let mut r = CgroupStats::empty(layout);
        r.cpu_total_ns = 5_000;
        r.cpu_percpu_ns = vec![2_000, 3_000];
        r.cpu_user_ns = 4_000;
        r.cpu_system_ns = 1_000;
        r.memory_usage = 10 << 20;
        r.memory_max_usage = 12 << 20;
        r.memory_stat = BTreeMap::from([
            ("total_inactive_file".to_owned(), 1 << 20),
            ("inactive_file".to_owned(), 2 << 20),
            ("not_reported".to_owned(), 7),
        ]);
        r.pids_current = 3;
        r.blkio = vec![BlkioEntry {
            major: 8,
            minor: 0,
            op: "Read".into(),
            value: 4096,
        }];
        r
    }

    #[test]
    fn v1_figures_take_dockerds_shape() {
        let c = Collector {
            kept: Mutex::new(HashMap::new()),
            machine_memory: 1 << 30,
        };
        let s = c.shape(&raw(Layout::V1));
        assert_eq!(s.cpu_stats.cpu_usage.total_usage, 5_000);
        assert_eq!(s.cpu_stats.cpu_usage.percpu_usage, [2_000, 3_000]);
        assert_eq!(s.cpu_stats.cpu_usage.usage_in_kernelmode, 1_000);
        assert_eq!(s.memory_stats.stats.len(), V1_MEMORY_KEYS.len());
        assert_eq!(s.memory_stats.stats["total_inactive_file"], 1 << 20);
        assert_eq!(s.memory_stats.stats["cache"], 0);
        assert!(!s.memory_stats.stats.contains_key("not_reported"));
        // Unlimited shows the host's memory.
        assert_eq!(s.memory_stats.limit, 1 << 30);
        assert_eq!(s.memory_stats.max_usage, 12 << 20);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(
            v["blkio_stats"]["io_service_bytes_recursive"][0]["op"],
            "Read"
        );
        assert_eq!(
            v["blkio_stats"]["io_queue_recursive"],
            serde_json::json!([])
        );
        assert_eq!(v["pids_stats"], serde_json::json!({"current": 3}));
        assert_eq!(v["num_procs"], 0);
        assert!(v.get("networks").is_none());
    }

    #[test]
    fn v2_figures_take_dockerds_shape() {
        let c = Collector {
            kept: Mutex::new(HashMap::new()),
            machine_memory: 1 << 30,
        };
        let mut r = raw(Layout::V2);
        r.memory_limit = 64 << 20;
        r.blkio.clear();
        let s = c.shape(&r);
        assert!(s.cpu_stats.cpu_usage.percpu_usage.is_empty());
        assert_eq!(s.memory_stats.stats["inactive_file"], 2 << 20);
        assert!(!s.memory_stats.stats.contains_key("total_inactive_file"));
        assert_eq!(s.memory_stats.limit, 64 << 20);
        assert_eq!(s.memory_stats.max_usage, 0);
        let v = serde_json::to_value(&s).unwrap();
        assert!(v["blkio_stats"]["io_service_bytes_recursive"].is_null());
        assert!(v["cpu_stats"]["cpu_usage"].get("percpu_usage").is_none());
    }

    #[test]
    fn stopped_container_json_is_dockerds_zero_frame() {
        let v = serde_json::to_value(StatsJson::empty("/x".into(), "abc".into())).unwrap();
        assert_eq!(
            v,
            serde_json::json!({
                "read": "0001-01-01T00:00:00Z",
                "preread": "0001-01-01T00:00:00Z",
                "pids_stats": {},
                "blkio_stats": {
                    "io_service_bytes_recursive": null,
                    "io_serviced_recursive": null,
                    "io_queue_recursive": null,
                    "io_service_time_recursive": null,
                    "io_wait_time_recursive": null,
                    "io_merged_recursive": null,
                    "io_time_recursive": null,
                    "sectors_recursive": null
                },
                "num_procs": 0,
                "storage_stats": {},
                "cpu_stats": {
                    "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                    "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
                },
                "precpu_stats": {
                    "cpu_usage": {"total_usage": 0, "usage_in_kernelmode": 0, "usage_in_usermode": 0},
                    "throttling_data": {"periods": 0, "throttled_periods": 0, "throttled_time": 0}
                },
                "memory_stats": {},
                "name": "/x",
                "id": "abc"
            })
        );
    }

    #[test]
    fn proc_stat_sums_seven_fields_in_ns() {
        let text = "cpu  10 1 20 300 4 0 5 9 0 0\ncpu0 1 2 3 4 5 6 7 8 9 10\n";
        assert_eq!(parse_proc_stat(text), Some(340 * 10_000_000));
        assert_eq!(parse_proc_stat("cpu0 1 2\n"), None);
    }

    #[test]
    fn net_dev_skips_lo_and_headers() {
        let text = "Inter-|   Receive                                                |  Transmit\n \
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    \
lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  \
eth0:    2000      20    1    2    0     0          0         0     3000      30    3    4    0     0       0          0\n";
        let m = parse_net_dev(text);
        assert_eq!(m.len(), 1);
        let e = &m["eth0"];
        assert_eq!(
            (e.rx_bytes, e.rx_packets, e.rx_errors, e.rx_dropped),
            (2000, 20, 1, 2)
        );
        assert_eq!(
            (e.tx_bytes, e.tx_packets, e.tx_errors, e.tx_dropped),
            (3000, 30, 3, 4)
        );
    }
}
