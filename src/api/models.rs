//! Docker's JSON shapes. Most come from `bollard-stubs`, generated from moby's
//! swagger; the few that it lacks or models awkwardly are defined here.

pub use bollard_stubs::models::*;

use serde::{Deserialize, Serialize};

/// `POST /containers/{id}/wait` response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WaitResponse {
    /// The container's exit code.
    #[serde(rename = "StatusCode")]
    pub status_code: i64,
    /// Set when waiting itself failed.
    #[serde(rename = "Error", skip_serializing_if = "Option::is_none")]
    pub error: Option<WaitError>,
}

/// The `Error` member of a wait response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct WaitError {
    /// What went wrong while waiting.
    #[serde(rename = "Message")]
    pub message: String,
}

/// One line of the JSON progress stream Docker sends for load, pull, push and build.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ProgressLine {
    /// Plain text for the client to print as is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stream: Option<String>,
    /// A status word ("Loaded image: busybox:latest").
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// A failure; clients stop and print it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Structured side data, such as `{"ID": "sha256:..."}` at the end of a build.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

/// `GET /version` response. bollard-stubs types component details as an
/// unusable `HashMap<(), ()>`, so this shape is ours.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionResponse {
    /// `{"Name": "Berth Engine"}`.
    pub platform: VersionPlatform,
    /// The engine and its parts.
    pub components: Vec<VersionComponent>,
    /// The engine's version.
    pub version: String,
    /// The highest API version served.
    pub api_version: String,
    /// The lowest API version accepted.
    #[serde(rename = "MinAPIVersion")]
    pub min_api_version: String,
    /// Source revision.
    pub git_commit: String,
    /// Toolchain the engine was built with.
    pub go_version: String,
    /// `linux`.
    pub os: String,
    /// GOARCH-style architecture (`amd64`).
    pub arch: String,
    /// The host kernel's release.
    pub kernel_version: String,
    /// Build time, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_time: Option<String>,
}

/// `Platform` of a version response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionPlatform {
    /// Product name.
    pub name: String,
}

/// One entry of `Components` in a version response.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct VersionComponent {
    /// `Engine`.
    pub name: String,
    /// Its version.
    pub version: String,
    /// Free-form details (`ApiVersion`, `Os`, ...).
    #[serde(default)]
    pub details: std::collections::BTreeMap<String, String>,
}

/// A network as `GET /networks` and `GET /networks/{id}` return it. The
/// generated `Network` model skips unset fields and types `Created` awkwardly;
/// clients index these blindly, so every field is always present.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkResource {
    /// Unique name.
    pub name: String,
    /// 64 hex digits.
    pub id: String,
    /// RFC 3339 with nanoseconds.
    pub created: String,
    /// `local`.
    pub scope: String,
    /// `bridge`, `host` or `null`.
    pub driver: String,
    /// Always false: berthd networks are IPv4.
    #[serde(rename = "EnableIPv6")]
    pub enable_ipv6: bool,
    /// Address management.
    #[serde(rename = "IPAM")]
    pub ipam: NetworkResourceIpam,
    /// No outside access.
    pub internal: bool,
    /// Swarm attachable (false).
    pub attachable: bool,
    /// Swarm ingress (false).
    pub ingress: bool,
    /// Config-from network (empty).
    pub config_from: NetworkResourceConfigFrom,
    /// Config-only network (false).
    pub config_only: bool,
    /// Running containers on it, by container ID.
    pub containers: std::collections::HashMap<String, NetworkResourceContainer>,
    /// Driver options.
    pub options: std::collections::HashMap<String, String>,
    /// User labels.
    pub labels: std::collections::HashMap<String, String>,
}

/// `IPAM` of a [`NetworkResource`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkResourceIpam {
    /// `default`.
    pub driver: String,
    /// null for predefined networks, `{}` for user ones, as dockerd shows.
    pub options: Option<std::collections::HashMap<String, String>>,
    /// Subnets and gateways.
    pub config: Vec<IpamConfig>,
}

/// `ConfigFrom` of a [`NetworkResource`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkResourceConfigFrom {
    /// Empty.
    pub network: String,
}

/// One entry of `Containers` in a [`NetworkResource`].
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct NetworkResourceContainer {
    /// Container name without `/`.
    pub name: String,
    /// Endpoint ID.
    #[serde(rename = "EndpointID")]
    pub endpoint_id: String,
    /// The endpoint's MAC address.
    pub mac_address: String,
    /// `address/prefix`.
    #[serde(rename = "IPv4Address")]
    pub ipv4_address: String,
    /// Empty.
    #[serde(rename = "IPv6Address")]
    pub ipv6_address: String,
}

/// `POST /containers/{id}/update` body: the resource fields of a HostConfig
/// plus a restart policy (moby's `container.UpdateConfig`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerUpdateBody {
    /// The limits to change; zero or absent fields keep their value.
    #[serde(flatten)]
    pub resources: Resources,
    /// A new restart policy, when `Name` is set.
    #[serde(
        rename = "RestartPolicy",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub restart_policy: Option<RestartPolicy>,
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero_u32(v: &u32) -> bool {
    *v == 0
}

/// Go's zero `time.Time`, as dockerd writes an unset timestamp.
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// `GET /containers/{id}/stats` frame: moby's `types.StatsJSON`, with Go's
/// `omitempty` rules so clients see exactly dockerd's keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct StatsJson {
    /// When this sample was taken, RFC 3339 with nanoseconds.
    pub read: String,
    /// When the previous sample (`precpu_stats`) was taken.
    pub preread: String,
    /// Processes in the container's cgroup.
    #[serde(default)]
    pub pids_stats: PidsStats,
    /// Block I/O per device.
    #[serde(default)]
    pub blkio_stats: BlkioStats,
    /// Always 0 on Linux.
    #[serde(default)]
    pub num_procs: u32,
    /// Windows only: always empty.
    #[serde(default)]
    pub storage_stats: StorageStats,
    /// CPU use now.
    #[serde(default)]
    pub cpu_stats: CpuStats,
    /// CPU use at the previous sample.
    #[serde(default)]
    pub precpu_stats: CpuStats,
    /// Memory use.
    #[serde(default)]
    pub memory_stats: MemoryStats,
    /// The container's name with its leading `/`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub name: String,
    /// The container's ID.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
    /// Per interface, without `lo`.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub networks: std::collections::BTreeMap<String, NetworkStats>,
}

impl StatsJson {
    /// dockerd's frame for a container that does not run: zero figures.
    pub fn empty(name: String, id: String) -> StatsJson {
        StatsJson {
            read: ZERO_TIME.to_owned(),
            preread: ZERO_TIME.to_owned(),
            pids_stats: PidsStats::default(),
            blkio_stats: BlkioStats::default(),
            num_procs: 0,
            storage_stats: StorageStats::default(),
            cpu_stats: CpuStats::default(),
            precpu_stats: CpuStats::default(),
            memory_stats: MemoryStats::default(),
            name,
            id,
            networks: Default::default(),
        }
    }
}

/// `pids_stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct PidsStats {
    /// Processes now.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub current: u64,
    /// The limit; 0 = unlimited.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// One `blkio_stats` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlkioStatEntry {
    /// Device major number.
    pub major: u64,
    /// Device minor number.
    pub minor: u64,
    /// `Read`, `Write`, ... (v1) or `read`/`write` (v2).
    pub op: String,
    /// Bytes or operations.
    pub value: u64,
}

/// `blkio_stats`: `None` is Go's nil slice, sent as `null`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct BlkioStats {
    /// Bytes read and written.
    pub io_service_bytes_recursive: Option<Vec<BlkioStatEntry>>,
    /// Requests served (v1).
    pub io_serviced_recursive: Option<Vec<BlkioStatEntry>>,
    /// Requests queued (v1, CFQ only).
    pub io_queue_recursive: Option<Vec<BlkioStatEntry>>,
    /// Service time (v1, CFQ only).
    pub io_service_time_recursive: Option<Vec<BlkioStatEntry>>,
    /// Wait time (v1, CFQ only).
    pub io_wait_time_recursive: Option<Vec<BlkioStatEntry>>,
    /// Merged requests (v1, CFQ only).
    pub io_merged_recursive: Option<Vec<BlkioStatEntry>>,
    /// Disk time (v1, CFQ only).
    pub io_time_recursive: Option<Vec<BlkioStatEntry>>,
    /// Sectors (v1, CFQ only).
    pub sectors_recursive: Option<Vec<BlkioStatEntry>>,
}

/// `storage_stats` (Windows only; always `{}` here).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct StorageStats {}

/// `cpu_stats` and `precpu_stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CpuStats {
    /// The container's CPU time.
    #[serde(default)]
    pub cpu_usage: CpuUsage,
    /// The host's CPU time (all CPUs, ns) from `/proc/stat`.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub system_cpu_usage: u64,
    /// CPUs the daemon may run on.
    #[serde(default, skip_serializing_if = "is_zero_u32")]
    pub online_cpus: u32,
    /// CFS throttling.
    #[serde(default)]
    pub throttling_data: ThrottlingData,
}

/// `cpu_usage`, nanoseconds.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct CpuUsage {
    /// All CPU time.
    #[serde(default)]
    pub total_usage: u64,
    /// Per CPU (cgroup v1 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub percpu_usage: Vec<u64>,
    /// System time.
    #[serde(default)]
    pub usage_in_kernelmode: u64,
    /// User time.
    #[serde(default)]
    pub usage_in_usermode: u64,
}

/// `throttling_data`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct ThrottlingData {
    /// CFS periods with the container runnable.
    #[serde(default)]
    pub periods: u64,
    /// Periods in which it was throttled.
    #[serde(default)]
    pub throttled_periods: u64,
    /// Time throttled, ns.
    #[serde(default)]
    pub throttled_time: u64,
}

/// `memory_stats`, bytes.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct MemoryStats {
    /// Usage now.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage (v1 only).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub max_usage: u64,
    /// `memory.stat` figures under dockerd's key names.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub stats: std::collections::BTreeMap<String, u64>,
    /// Times the limit was hit (v1) or OOM events (v2).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failcnt: u64,
    /// The limit, at most the host's memory.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// One interface in `networks`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct NetworkStats {
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Received packets dropped.
    pub rx_dropped: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Outgoing packets dropped.
    pub tx_dropped: u64,
}
