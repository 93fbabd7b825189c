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
