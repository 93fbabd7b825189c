//! `/_ping`, `/version`, `/info`.

use hyper::{Method, Response, StatusCode, header};

use berth::api::models::{
    LocalNodeState, PluginsInfo, SwarmInfo, SystemInfo, VersionComponent, VersionPlatform,
    VersionResponse,
};
use berth::api::{API_VERSION, MIN_API_VERSION};

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
    let cgroup_version = if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        "2"
    } else {
        "1"
    };
    let info = SystemInfo {
        id: Some(host_id()),
        containers: Some(containers.len() as i64),
        containers_running: Some(count(Status::Running)),
        containers_paused: Some(0),
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
        cgroup_version: Some(if cgroup_version == "2" {
            berth::api::models::SystemInfoCgroupVersionEnum::_2
        } else {
            berth::api::models::SystemInfoCgroupVersionEnum::_1
        }),
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
        warnings: Some(Vec::new()),
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
