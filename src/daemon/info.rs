//! The figures of `GET /info`, in dockerd 20.10's JSON shape (moby
//! daemon/info.go, info_unix.go), and the daemon's stable engine ID.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use berth::image::registry::RegistryConfig;
use berth::runtime::cgroups::Layout;

use crate::containers::Status;
use crate::services::Services;

/// The file under the data root holding the engine ID.
pub const ENGINE_ID_FILE: &str = "engine-id";

/// Name of the only runtime: containers run under `berth-supervisor`.
pub const RUNTIME: &str = "berth";

/// The engine ID could not be read or made (a start-up failure, like
/// `ConfigError`, so it has no API class).
#[derive(Debug, thiserror::Error)]
pub enum InfoError {
    /// The ID file exists but cannot be read.
    #[error("reading the engine id {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A new ID cannot be stored.
    #[error("writing the engine id {path}: {source}")]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

/// The engine ID kept in `<data root>/engine-id`, made on first start. It
/// has dockerd 20.10's shape (twelve `:`-separated groups of four base32
/// characters) so tools that parse it keep working.
pub fn load_or_create_engine_id(data_root: &Path) -> Result<String, InfoError> {
    let path = data_root.join(ENGINE_ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if !s.trim().is_empty() => return Ok(s.trim().to_owned()),
        // An empty file (a crash before atomic_write existed) gets a new ID.
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => return Err(InfoError::Read { path, source }),
    }
    let mut bytes = [0u8; 30];
    getrandom::fill(&mut bytes).expect("the kernel's random source is available");
    let id = engine_id_text(&bytes);
    berth::fsutil::atomic_write(&path, format!("{id}\n").as_bytes())
        .map_err(|source| InfoError::Write { path, source })?;
    Ok(id)
}

/// 30 bytes as 48 base32 characters (RFC 4648 alphabet) in groups of four.
fn engine_id_text(bytes: &[u8; 30]) -> String {
    const ALPHABET: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
    let mut chars = Vec::with_capacity(48);
    for chunk in bytes.chunks(5) {
        let n = chunk.iter().fold(0u64, |acc, b| (acc << 8) | u64::from(*b));
        for i in (0..8).rev() {
            chars.push(ALPHABET[((n >> (i * 5)) & 31) as usize] as char);
        }
    }
    chars
        .chunks(4)
        .map(|g| g.iter().collect::<String>())
        .collect::<Vec<_>>()
        .join(":")
}

/// Running, paused and stopped counts as dockerd's state counter makes them:
/// a paused container is not running, and everything else is stopped.
pub fn container_counts(states: impl IntoIterator<Item = (Status, bool)>) -> (i64, i64, i64) {
    let (mut running, mut paused, mut stopped) = (0, 0, 0);
    for (status, is_paused) in states {
        match (status, is_paused) {
            (Status::Running, true) => paused += 1,
            (Status::Running, false) => running += 1,
            _ => stopped += 1,
        }
    }
    (running, paused, stopped)
}

/// `RegistryConfig` as dockerd reports it: loopback is always insecure,
/// CIDRs are listed as such, host names get an index entry of their own, and
/// mirrors are normalised with a trailing slash.
pub fn registry_config(config: &RegistryConfig) -> Value {
    let mirrors: Vec<String> = config
        .mirrors
        .iter()
        .map(|m| {
            if m.ends_with('/') {
                m.clone()
            } else {
                format!("{m}/")
            }
        })
        .collect();
    let mut cidrs = Vec::new();
    let mut indexes = Map::new();
    indexes.insert(
        "docker.io".into(),
        json!({"Name": "docker.io", "Mirrors": mirrors, "Secure": true, "Official": true}),
    );
    for r in &config.insecure {
        if r.parse::<ipnet_like::Cidr>().is_ok() {
            cidrs.push(r.clone());
        } else {
            indexes.insert(
                r.clone(),
                json!({"Name": r, "Mirrors": [], "Secure": false, "Official": false}),
            );
        }
    }
    cidrs.push("127.0.0.0/8".to_owned());
    json!({
        "AllowNondistributableArtifactsCIDRs": [],
        "AllowNondistributableArtifactsHostnames": [],
        "InsecureRegistryCIDRs": cidrs,
        "IndexConfigs": indexes,
        "Mirrors": mirrors,
    })
}

/// Just enough CIDR parsing to tell `10.0.0.0/8` from `host:5000`.
mod ipnet_like {
    /// An `address/prefix` pair.
    pub struct Cidr;

    impl std::str::FromStr for Cidr {
        type Err = ();
        fn from_str(s: &str) -> Result<Cidr, ()> {
            let (addr, prefix) = s.split_once('/').ok_or(())?;
            let addr: std::net::IpAddr = addr.parse().map_err(|_| ())?;
            let prefix: u8 = prefix.parse().map_err(|_| ())?;
            let max = if addr.is_ipv4() { 32 } else { 128 };
            if prefix <= max { Ok(Cidr) } else { Err(()) }
        }
    }
}

/// The filesystem under the data root, named as dockerd names it.
fn backing_fs(path: &Path) -> &'static str {
    use nix::sys::statfs::{
        BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, NFS_SUPER_MAGIC, OVERLAYFS_SUPER_MAGIC, TMPFS_MAGIC,
        XFS_SUPER_MAGIC, statfs,
    };
    match statfs(path).map(|s| s.filesystem_type()) {
        Ok(t) if t == EXT4_SUPER_MAGIC => "extfs",
        Ok(t) if t == XFS_SUPER_MAGIC => "xfs",
        Ok(t) if t == BTRFS_SUPER_MAGIC => "btrfs",
        Ok(t) if t == TMPFS_MAGIC => "tmpfs",
        Ok(t) if t == OVERLAYFS_SUPER_MAGIC => "overlayfs",
        Ok(t) if t == NFS_SUPER_MAGIC => "nfs",
        _ => "unknown",
    }
}

/// Whether directory entries under `path` carry their type (overlayfs needs
/// it): every entry of the data root must have one.
fn supports_d_type(path: &Path) -> bool {
    use rustix::fs::{Dir, FileType, Mode, OFlags, open};
    let Ok(fd) = open(
        path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    ) else {
        return false;
    };
    let Ok(dir) = Dir::read_from(&fd) else {
        return false;
    };
    dir.filter_map(Result::ok)
        .all(|e| e.file_type() != FileType::Unknown)
}

fn read_trimmed(path: &str) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
}

/// A `/proc/sys` switch that reads `1`.
fn sysctl_on(path: &str) -> bool {
    read_trimmed(path).as_deref() == Some("1")
}

/// The running kernel's release (`uname -r`).
pub fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn mem_total() -> i64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok())
        })
        .map_or(0, |kb| kb * 1024)
}

/// `PRETTY_NAME` and `VERSION_ID` of /etc/os-release.
fn os_release() -> (String, String) {
    let text = std::fs::read_to_string("/etc/os-release").unwrap_or_default();
    let field = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key))
            .map(|v| v.trim_matches('"').to_owned())
    };
    (
        field("PRETTY_NAME=").unwrap_or_else(|| "Linux".to_owned()),
        field("VERSION_ID=").unwrap_or_default(),
    )
}

/// A proxy variable as dockerd reads it from its environment (upper case
/// first).
fn proxy_env(name: &str) -> String {
    std::env::var(name.to_ascii_uppercase())
        .or_else(|_| std::env::var(name))
        .unwrap_or_default()
}

/// Open file descriptors of this process.
fn open_fds() -> i64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as i64)
}

/// The `GET /info` answer.
pub fn system_info(svc: &Services) -> Value {
    let states: Vec<(Status, bool)> = svc
        .containers
        .all()
        .iter()
        .map(|c| {
            let st = c.state();
            (st.status, st.paused)
        })
        .collect();
    let (running, paused, stopped) = container_counts(states.iter().copied());
    // Like dockerd's CountImages: every image in the store, intermediate ones too.
    let images = svc
        .images
        .list(true, &Default::default(), false)
        .map_or(0, |l| l.len() as i64);
    let cgroups = svc.containers.cgroups();
    let support = &cgroups.support;
    let v2 = matches!(
        cgroups.hierarchy.as_ref().map(|h| h.layout()),
        Ok(Layout::V2)
    );
    let ipv4_forwarding = sysctl_on("/proc/sys/net/ipv4/ip_forward");
    let nf_iptables = sysctl_on("/proc/sys/net/bridge/bridge-nf-call-iptables");
    let nf_ip6tables = sysctl_on("/proc/sys/net/bridge/bridge-nf-call-ip6tables");
    let mut warnings = Vec::new();
    if cgroups.hierarchy.is_ok() {
        // dockerd's wording (info_unix.go) for what its sysinfo finds missing.
        for (ok, what) in [
            (support.memory, "WARNING: No memory limit support"),
            (support.swap, "WARNING: No swap limit support"),
            (
                support.oom_kill_disable || v2,
                "WARNING: No oom kill disable support",
            ),
            (support.cpu_cfs, "WARNING: No cpu cfs quota support"),
            (support.cpu_cfs, "WARNING: No cpu cfs period support"),
            (support.cpu_shares, "WARNING: No cpu shares support"),
            (support.cpuset, "WARNING: No cpuset support"),
        ] {
            if !ok {
                warnings.push(what.to_owned());
            }
        }
        // v1 has had no blkio weight since kernel 5.0, and dockerd only
        // warns where the user can act: on v2.
        if v2 && !support.blkio_weight {
            warnings.push("WARNING: No io.weight support".to_owned());
        }
        if !support.blkio_throttle {
            for (v1_file, v2_key) in [
                ("read_bps_device", "rbps"),
                ("write_bps_device", "wbps"),
                ("read_iops_device", "riops"),
                ("write_iops_device", "wiops"),
            ] {
                warnings.push(if v2 {
                    format!("WARNING: No io.max ({v2_key}) support")
                } else {
                    format!("WARNING: No blkio throttle.{v1_file} support")
                });
            }
        }
    } else {
        warnings.push("WARNING: No cgroup hierarchy found: containers run without limits".into());
    }
    if !ipv4_forwarding {
        warnings.push("WARNING: IPv4 forwarding is disabled".to_owned());
    }
    if !nf_iptables {
        warnings.push("WARNING: bridge-nf-call-iptables is disabled".to_owned());
    }
    if !nf_ip6tables {
        warnings.push("WARNING: bridge-nf-call-ip6tables is disabled".to_owned());
    }
    let data_root = &svc.config.data_root;
    // Kept for a person to inspect; listed until removed by hand.
    for (path, reason) in crate::containers::quarantined(data_root) {
        warnings.push(format!(
            "WARNING: damaged state quarantined at {} ({reason}); remove it once inspected",
            path.display()
        ));
    }
    let log_plugins: Vec<&str> = crate::containers::logs::DRIVERS
        .iter()
        .copied()
        // dockerd lists the drivers that keep logs, not "none".
        .filter(|d| *d != "none")
        .collect();
    let (os, os_version) = os_release();
    let supervisor = std::env::current_exe()
        .map(|p| p.with_file_name("berth-supervisor").display().to_string())
        .unwrap_or_else(|_| "berth-supervisor".to_owned());
    let no_commit = json!({"ID": "", "Expected": ""});
    let mut info = json!({
        "ID": svc.engine_id,
        "Containers": states.len(),
        "ContainersRunning": running,
        "ContainersPaused": paused,
        "ContainersStopped": stopped,
        "Images": images,
        "Driver": "overlay2",
        "DriverStatus": [
            ["Backing Filesystem", backing_fs(data_root)],
            ["Supports d_type", supports_d_type(data_root).to_string()],
            // Diffs are read straight from the upper directories.
            ["Native Overlay Diff", "true"],
            ["userxattr", "false"],
        ],
        "Plugins": {
            "Volume": ["local"],
            "Network": ["bridge", "host", "null"],
            "Authorization": null,
            "Log": log_plugins,
        },
    });
    // Two halves: one json! of all of it is past the macro's recursion limit.
    let rest = json!({
        "MemoryLimit": support.memory,
        "SwapLimit": support.swap,
        // berthd sets no kernel memory limits (deprecated by the kernel).
        "KernelMemory": false,
        "KernelMemoryTCP": false,
        "CpuCfsPeriod": support.cpu_cfs,
        "CpuCfsQuota": support.cpu_cfs,
        "CPUShares": support.cpu_shares,
        "CPUSet": support.cpuset,
        "PidsLimit": support.pids,
        "IPv4Forwarding": ipv4_forwarding,
        "BridgeNfIptables": nf_iptables,
        "BridgeNfIp6tables": nf_ip6tables,
        "Debug": svc.live.get().log_level == "debug",
        "NFd": open_fds(),
        "NEventsListener": svc.events.listeners(),
        "OomKillDisable": support.oom_kill_disable,
        // Tasks are to berthd what goroutines are to dockerd.
        "NGoroutines": tokio::runtime::Handle::try_current()
            .map_or(0, |h| h.metrics().num_alive_tasks()),
        "SystemTime": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        "LoggingDriver": svc.config.log_driver,
        "CgroupDriver": "cgroupfs",
        "CgroupVersion": if v2 { "2" } else { "1" },
    });
    let tail = json!({
        "KernelVersion": kernel_version(),
        "OperatingSystem": os,
        "OSVersion": os_version,
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "IndexServerAddress": "https://index.docker.io/v1/",
        "RegistryConfig": registry_config(&svc.live.get().registry),
        "NCPU": std::thread::available_parallelism().map_or(1, |n| n.get()),
        "MemTotal": mem_total(),
        "GenericResources": null,
        "DockerRootDir": data_root.display().to_string(),
        // Not dockerd's (clients ignore unknown fields): where this daemon
        // serves by default and the daemon.json it loaded ("" for none).
        "BerthSocket": svc.config.socket.display().to_string(),
        "BerthHosts": svc.serving_on,
        "BerthConfigFile": svc
            .config
            .config_file
            .as_ref()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        "HttpProxy": proxy_env("http_proxy"),
        "HttpsProxy": proxy_env("https_proxy"),
        "NoProxy": proxy_env("no_proxy"),
        "Name": nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default(),
        "Labels": [],
        "ExperimentalBuild": false,
        "ServerVersion": crate::handlers::system::VERSION,
        "Runtimes": {RUNTIME: {"path": supervisor}},
        "DefaultRuntime": RUNTIME,
        "Swarm": {
            "NodeID": "",
            "NodeAddr": "",
            "LocalNodeState": "inactive",
            "ControlAvailable": false,
            "Error": "",
            "RemoteManagers": null,
        },
        // Containers outlive berthd: their supervisors keep them running.
        "LiveRestoreEnabled": svc.config.live_restore,
        "Isolation": "",
        "InitBinary": "",
        "ContainerdCommit": no_commit,
        "RuncCommit": no_commit,
        "InitCommit": no_commit,
        // In dockerd's order: AppArmor where the kernel enforces it, then
        // seccomp; no SELinux.
        "SecurityOptions": crate::apparmor::security_option()
            .into_iter()
            .map(Value::from)
            .chain([json!(crate::seccomp::security_option())])
            .collect::<Vec<_>>(),
        "Warnings": if warnings.is_empty() { Value::Null } else { json!(warnings) },
    });
    if let (Value::Object(m), Value::Object(r), Value::Object(t)) = (&mut info, rest, tail) {
        m.extend(r);
        m.extend(t);
    }
    // After seccomp, where dockerd lists it.
    if svc.config.userns_remap.is_some()
        && let Some(Value::Array(opts)) = info.get_mut("SecurityOptions")
    {
        opts.push(json!("name=userns"));
    }
    info
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_ids_look_like_dockerds_and_persist() {
        let text = engine_id_text(&[0u8; 30]);
        assert_eq!(text, ["AAAA"; 12].join(":"));
        let text = engine_id_text(&[0xff; 30]);
        assert_eq!(text, ["7777"; 12].join(":"));
        let dir = tempfile::tempdir().unwrap();
        let id = load_or_create_engine_id(dir.path()).unwrap();
        assert_eq!(id.len(), 59, "{id}");
        assert!(
            id.split(':').all(|g| g.len() == 4
                && g.bytes()
                    .all(|b| b.is_ascii_uppercase() || (b'2'..=b'7').contains(&b))),
            "{id}"
        );
        assert_eq!(load_or_create_engine_id(dir.path()).unwrap(), id);
        std::fs::write(dir.path().join(ENGINE_ID_FILE), "").unwrap();
        let again = load_or_create_engine_id(dir.path()).unwrap();
        assert_ne!(again, id);
        assert_eq!(load_or_create_engine_id(dir.path()).unwrap(), again);
    }

    #[test]
    fn paused_is_not_running_and_the_rest_is_stopped() {
        let counts = container_counts([
            (Status::Running, false),
            (Status::Running, true),
            (Status::Created, false),
            (Status::Exited, false),
            (Status::Removing, false),
            (Status::Running, false),
        ]);
        assert_eq!(counts, (2, 1, 3));
    }

    #[test]
    fn registry_config_is_shaped_like_dockerds() {
        let c = RegistryConfig {
            insecure: vec!["reg.berth.test:5000".into(), "10.0.0.0/8".into()],
            mirrors: vec!["https://mirror.berth.test".into()],
        };
        let v = registry_config(&c);
        assert_eq!(
            v["InsecureRegistryCIDRs"],
            json!(["10.0.0.0/8", "127.0.0.0/8"])
        );
        assert_eq!(v["Mirrors"], json!(["https://mirror.berth.test/"]));
        assert_eq!(
            v["IndexConfigs"]["docker.io"],
            json!({"Name": "docker.io", "Mirrors": ["https://mirror.berth.test/"], "Secure": true, "Official": true})
        );
        assert_eq!(
            v["IndexConfigs"]["reg.berth.test:5000"],
            json!({"Name": "reg.berth.test:5000", "Mirrors": [], "Secure": false, "Official": false})
        );
        let empty = registry_config(&RegistryConfig::default());
        assert_eq!(empty["InsecureRegistryCIDRs"], json!(["127.0.0.0/8"]));
        assert_eq!(empty["Mirrors"], json!([]));
    }

    #[test]
    fn a_data_root_on_this_host_supports_d_type() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("image")).unwrap();
        assert!(supports_d_type(dir.path()));
        assert_ne!(backing_fs(dir.path()), "");
    }
}
