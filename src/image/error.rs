//! Errors of the image subsystem.

use crate::api::ErrorClass;

/// Everything that can go wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image matches the reference or ID.
    #[error("no such image: {0}")]
    NotFound(String),
    /// An I/O failure on the named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory that failed.
        path: std::path::PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
}

impl ImageError {
    /// The class this error maps to at the API edge.
    pub fn class(&self) -> ErrorClass {
        match self {
            ImageError::NotFound(_) => ErrorClass::NotFound,
            ImageError::Io { .. } => ErrorClass::Internal,
        }
    }
}
