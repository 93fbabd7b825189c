//! `/_ping`, `/version`, `/info`.

use hyper::{Method, Response, StatusCode, header};

use berth::api::models::{VersionComponent, VersionPlatform, VersionResponse};
use berth::api::{API_VERSION, MIN_API_VERSION};

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
    let kernel = crate::info::kernel_version();
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
        components: vec![
            VersionComponent {
                name: "Engine".to_owned(),
                version: VERSION.to_owned(),
                details,
            },
            // What runc is to dockerd: the process each container runs under.
            VersionComponent {
                name: "berth-supervisor".to_owned(),
                version: VERSION.to_owned(),
                details: [("GitCommit".to_owned(), commit.clone())].into(),
            },
        ],
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

/// `GET /info`.
pub fn info(svc: &Services) -> Response<Body> {
    json(StatusCode::OK, &crate::info::system_info(svc))
}
