//! A client for registries speaking the OCI distribution API (Docker Registry HTTP API v2),
//! and the pull and push flows the daemon runs with it.
//!
//! - [`endpoint`]: which URLs a registry host is tried at (verified HTTPS, or for loopback
//!   and `insecure-registries` unverified HTTPS then HTTP: moby's rules), mirrors.
//! - [`auth`]: `X-Registry-Auth` credentials and the `WWW-Authenticate` challenge flow
//!   (Bearer tokens from the realm, or Basic).
//! - [`transport`]: HTTP/1.1 over TCP or rustls, one connection per request.
//! - [`client`]: a [`Session`] on one repository: manifests, blobs, uploads, mounts.
//! - [`manifest`]: Docker schema 2 / OCI manifests and indexes, platform selection.
//! - [`progress`]: Docker's JSON progress messages (`docker pull` draws its bars from them).
//! - [`pull`] / [`push`]: the flows, bounded by `max-concurrent-downloads` / `-uploads`
//!   through [`xfer`].

pub mod auth;
pub mod client;
pub mod endpoint;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod push;
pub mod transport;
pub mod xfer;

pub use auth::AuthConfig;
pub use client::{Client, Session};
pub use manifest::Platform;

use crate::api::ErrorClass;

/// Registry settings from daemon.json.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// `insecure-registries`: hosts (`host[:port]`) or CIDRs reached over plain HTTP.
    pub insecure: Vec<String>,
    /// `registry-mirrors`: URLs tried before Docker Hub when pulling from it.
    pub mirrors: Vec<String>,
}

/// Everything that can go wrong talking to a registry. The messages are the single line
/// a client prints, worded after dockerd's where it has one.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    /// The registry could not be reached (refused, unresolvable, TLS failure).
    #[error("{method} \"{url}\": {reason}")]
    Connect {
        /// The request's method, as Go prints it (`Get`, `Head`, ...).
        method: String,
        /// The URL requested.
        url: String,
        /// Why the connection failed.
        reason: String,
    },
    /// The registry answered with an error status; `message` holds its error codes.
    #[error("{message}")]
    Status {
        /// The HTTP status.
        status: u16,
        /// What the registry said (`manifest unknown: manifest unknown`, ...).
        message: String,
    },
    /// Authentication was refused or is impossible.
    #[error("{0}")]
    Unauthorized(String),
    /// The requested manifest or repository does not exist.
    #[error("{0}")]
    NotFound(String),
    /// Content that does not hash to the digest it was asked for.
    #[error("{what}: digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// What was fetched (`manifest ...`, `blob ...`).
        what: String,
        /// The digest asked for.
        expected: String,
        /// The digest of the bytes received.
        actual: String,
    },
    /// A manifest, index, token or error body the client cannot use.
    #[error("{0}")]
    Invalid(String),
    /// No manifest in an index matches the wanted platform.
    #[error("no matching manifest for {0} in the manifest list entries")]
    NoPlatform(String),
    /// A request argument that makes no sense (bad reference, bad platform).
    #[error("{0}")]
    InvalidArgument(String),
    /// The client went away or the work was cancelled.
    #[error("{0}")]
    Cancelled(String),
    /// The image store refused or failed.
    #[error(transparent)]
    Image(#[from] crate::image::ImageError),
}

impl RegistryError {
    /// The class this error maps to at the API edge.
    pub fn class(&self) -> ErrorClass {
        match self {
            RegistryError::Connect { .. } => ErrorClass::Internal,
            RegistryError::Status { status, .. } => ErrorClass::from_http_status(*status),
            // dockerd 20.10 answers refused credentials with a 500 (recorded), not a 401/403.
            RegistryError::Unauthorized(_) => ErrorClass::Internal,
            RegistryError::NotFound(_) => ErrorClass::NotFound,
            RegistryError::NoPlatform(_) => ErrorClass::NotFound,
            RegistryError::DigestMismatch { .. }
            | RegistryError::Invalid(_)
            | RegistryError::InvalidArgument(_) => ErrorClass::InvalidArgument,
            RegistryError::Cancelled(_) => ErrorClass::Internal,
            RegistryError::Image(e) => e.class(),
        }
    }
}
