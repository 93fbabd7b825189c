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
