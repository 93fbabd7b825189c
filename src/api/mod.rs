//! The wire protocol: Docker Engine API JSON shapes and error classes, shared
//! by the daemon (which serves them) and the CLI (which reads them).

pub mod error;
pub mod models;

pub use error::{ErrorClass, ErrorResponse};

/// The API version berthd advertises and serves faithfully.
pub const API_VERSION: &str = "1.41";
/// The oldest API version berthd accepts on versioned paths.
pub const MIN_API_VERSION: &str = "1.24";
