//! `/_ping`, `/version`, `/info`.

use hyper::{Method, Response, StatusCode, header};

use berth::api::models::{
    LocalNodeState, PluginsInfo, SwarmInfo, SystemInfo, VersionComponent, VersionPlatform,
    VersionResponse,
};
use berth::api::{API_VERSION, MIN_API_VERSION};

use berth::runtime::cgroups::Layout;

use crate::containers::Status;
use crate::http::{Body, empty, full, json};
use crate::services::Services;

/// The version berthd reports as its own.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// `GET|HEAD /_ping`: "OK" with the negotiation headers.
pub fn ping(method: &Method) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header("Api-Version", API_VERSION)
        .header("OSType", "linux")
        .header("Docker-Experimental", "false")
        .header("Builder-Version", "1")
        .header(header::CACHE_CONTROL, "no-cache, no-store, must-revalidate")
        .header(header::PRAGMA, "no-cache")
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(if method == Method::HEAD {
            empty()
        } else {
            full("OK")
        })
        .expect("static headers are valid")
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

/// `GET /version`.
pub fn version() -> Response<Body> {
    let commit = option_env!("BERTH_GIT_COMMIT")
        .unwrap_or("unknown")
        .to_owned();
    let toolchain = format!("rust{}", env!("CARGO_PKG_RUST_VERSION"));
    let kernel = kernel_version();
    // The docker CLI prints the engine's lines from these details.
    let details = [
        ("ApiVersion", API_VERSION),
        ("MinAPIVersion", MIN_API_VERSION),
        ("Os", "linux"),
        ("Arch", go_arch()),
        ("GitCommit", commit.as_str()),
        ("GoVersion", toolchain.as_str()),
        ("KernelVersion", kernel.as_str()),
        ("Experimental", "false"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    let v = VersionResponse {
        platform: VersionPlatform {
            name: "Berth Engine".to_owned(),
        },
        components: vec![VersionComponent {
            name: "Engine".to_owned(),
            version: VERSION.to_owned(),
            details,
        }],
        version: VERSION.to_owned(),
        api_version: API_VERSION.to_owned(),
        min_api_version: MIN_API_VERSION.to_owned(),
        git_commit: commit,
        go_version: toolchain,
        os: "linux".to_owned(),
        arch: go_arch().to_owned(),
        kernel_version: kernel,
        build_time: None,
    };
    json(StatusCode::OK, &v)
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

fn os_name() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|v| v.trim_matches('"').to_owned())
        })
        .unwrap_or_else(|| "Linux".to_owned())
}

/// `GET /info`.
pub fn info(svc: &Services) -> Response<Body> {
    let containers = svc.containers.all();
    let count = |s: Status| containers.iter().filter(|c| c.state().status == s).count() as i64;
    let images = svc
        .images
        .list(false, &Default::default(), false)
        .map(|l| l.len() as i64)
        .unwrap_or(0);
    let cgroups = svc.containers.cgroups();
    let support = &cgroups.support;
    let paused = containers
        .iter()
        .filter(|c| {
            let st = c.state();
            st.status == Status::Running && st.paused
        })
        .count() as i64;
    let mut warnings = Vec::new();
    // dockerd's wording for what its sysinfo finds missing.
    for (ok, what) in [
        (support.memory, "WARNING: No memory limit support"),
        (support.swap, "WARNING: No swap limit support"),
        (
            support.oom_kill_disable,
            "WARNING: No oom kill disable support",
        ),
        (support.cpu_cfs, "WARNING: No cpu cfs quota support"),
        (support.cpu_cfs, "WARNING: No cpu cfs period support"),
        (support.cpu_shares, "WARNING: No cpu shares support"),
        (support.cpuset, "WARNING: No cpuset support"),
        (support.blkio_weight, "WARNING: No blkio weight support"),
        (
            support.blkio_throttle,
            "WARNING: No blkio throttle.read_bps_device support",
        ),
    ] {
        if !ok && cgroups.hierarchy.is_ok() {
            warnings.push(what.to_owned());
        }
    }
    let info = SystemInfo {
        id: Some(host_id()),
        containers: Some(containers.len() as i64),
        containers_running: Some(count(Status::Running) - paused),
        containers_paused: Some(paused),
        containers_stopped: Some(count(Status::Exited) + count(Status::Created)),
        images: Some(images),
        driver: Some("overlay2".to_owned()),
        driver_status: Some(vec![vec![
            "Backing Filesystem".to_owned(),
            backing_fs(&svc.config.data_root).to_owned(),
        ]]),
        docker_root_dir: Some(svc.config.data_root.display().to_string()),
        logging_driver: Some(svc.config.log_driver.clone()),
        plugins: Some(PluginsInfo {
            volume: Some(Vec::new()),
            network: Some(vec!["null".to_owned()]),
            authorization: None,
            log: Some(
                crate::containers::logs::DRIVERS
                    .iter()
                    .map(|d| (*d).to_owned())
                    .collect(),
            ),
        }),
        swarm: Some(SwarmInfo {
            local_node_state: Some(LocalNodeState::INACTIVE),
            ..Default::default()
        }),
        cgroup_driver: Some(berth::api::models::SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(match cgroups.hierarchy.as_ref().map(|h| h.layout()) {
            Ok(Layout::V2) => berth::api::models::SystemInfoCgroupVersionEnum::_2,
            _ => berth::api::models::SystemInfoCgroupVersionEnum::_1,
        }),
        memory_limit: Some(support.memory),
        swap_limit: Some(support.swap),
        cpu_cfs_period: Some(support.cpu_cfs),
        cpu_cfs_quota: Some(support.cpu_cfs),
        cpu_shares: Some(support.cpu_shares),
        cpu_set: Some(support.cpuset),
        pids_limit: Some(support.pids),
        oom_kill_disable: Some(support.oom_kill_disable),
        kernel_memory_tcp: Some(false),
        kernel_version: Some(kernel_version()),
        operating_system: Some(os_name()),
        os_version: Some(String::new()),
        os_type: Some("linux".to_owned()),
        architecture: Some(std::env::consts::ARCH.to_owned()),
        ncpu: Some(std::thread::available_parallelism().map_or(1, |n| n.get() as i64)),
        mem_total: Some(mem_total()),
        name: Some(
            nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default(),
        ),
        server_version: Some(VERSION.to_owned()),
        index_server_address: Some("https://index.docker.io/v1/".to_owned()),
        default_runtime: Some("berth".to_owned()),
        security_options: Some(Vec::new()),
        labels: Some(Vec::new()),
        experimental_build: Some(false),
        live_restore_enabled: Some(true),
        warnings: Some(warnings),
        ..Default::default()
    };
    json(StatusCode::OK, &info)
}

/// A stable identifier of this host for `Info.ID`: the machine ID.
fn host_id() -> String {
    std::fs::read_to_string("/etc/machine-id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

/// The filesystem under the data root, named as dockerd names it.
fn backing_fs(path: &std::path::Path) -> &'static str {
    use nix::sys::statfs::{
        BTRFS_SUPER_MAGIC, EXT4_SUPER_MAGIC, TMPFS_MAGIC, XFS_SUPER_MAGIC, statfs,
    };
    match statfs(path).map(|s| s.filesystem_type()) {
        Ok(t) if t == EXT4_SUPER_MAGIC => "extfs",
        Ok(t) if t == XFS_SUPER_MAGIC => "xfs",
        Ok(t) if t == BTRFS_SUPER_MAGIC => "btrfs",
        Ok(t) if t == TMPFS_MAGIC => "tmpfs",
        _ => "unknown",
    }
}
