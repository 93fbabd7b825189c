//! Errors of the image subsystem.

use std::path::PathBuf;

use crate::api::ErrorClass;

/// Everything that can go wrong in the image store.
#[derive(Debug, thiserror::Error)]
pub enum ImageError {
    /// No image matches the reference or ID (the text is Docker's, capitalised as clients expect).
    #[error("No such image: {0}")]
    NotFound(String),
    /// A reference (`name[:tag][@digest]`) that does not parse.
    #[error("invalid reference format: {reason}: {input:?}")]
    InvalidReference {
        /// What the caller passed.
        input: String,
        /// Why it was refused.
        reason: String,
    },
    /// A blob's content does not hash to the digest it was announced with.
    #[error("{what}: digest mismatch: expected {expected}, content hashes to {actual}")]
    DigestMismatch {
        /// Which blob or layer (archive path or descriptor).
        what: String,
        /// The announced digest.
        expected: String,
        /// The digest of the bytes actually received.
        actual: String,
    },
    /// An archive (`docker save` tar, OCI layout, rootfs tar) that is malformed.
    #[error("invalid archive: {0}")]
    InvalidArchive(String),
    /// A layer tar entry that is malformed or would write outside the snapshot.
    #[error("invalid layer entry {entry:?}: {reason}")]
    InvalidLayerEntry {
        /// The entry's name as it appears in the tar.
        entry: String,
        /// Why it was refused.
        reason: String,
    },
    /// JSON (manifest, config, index) that does not parse.
    #[error("invalid json in {what}: {source}")]
    InvalidJson {
        /// The file or blob that held it.
        what: String,
        /// The parser's complaint.
        #[source]
        source: serde_json::Error,
    },
    /// An `import --change` line Berth does not accept.
    #[error("invalid change '{line}': {reason}")]
    InvalidChange {
        /// The offending line.
        line: String,
        /// Why it was refused.
        reason: String,
    },
    /// A request argument (filter, tag, ...) that makes no sense.
    #[error("{0}")]
    InvalidArgument(String),
    /// The request clashes with the store's state (Docker's texts, starting with `conflict:`).
    #[error("{0}")]
    Conflict(String),
    /// An I/O failure on the named path.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory that failed.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A failure while applying a layer entry to the snapshot.
    #[error("applying layer entry {entry:?}: {source}")]
    Apply {
        /// The entry's name as it appears in the tar.
        entry: String,
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
            ImageError::InvalidReference { .. }
            | ImageError::DigestMismatch { .. }
            | ImageError::InvalidArchive(_)
            | ImageError::InvalidLayerEntry { .. }
            | ImageError::InvalidJson { .. }
            | ImageError::InvalidChange { .. }
            | ImageError::InvalidArgument(_) => ErrorClass::InvalidArgument,
            ImageError::Conflict(_) => ErrorClass::Conflict,
            ImageError::Io { .. } => ErrorClass::Internal,
            // Errors the layer's own content provokes (missing hardlink target, a file where a
            // directory is needed, a symlink loop) are the archive's fault, not ours.
            ImageError::Apply { source, .. } => match source.raw_os_error() {
                Some(
                    libc::ENOENT
                    | libc::ENOTDIR
                    | libc::EEXIST
                    | libc::ELOOP
                    | libc::EISDIR
                    | libc::ENOTEMPTY
                    | libc::EXDEV
                    | libc::EINVAL
                    | libc::ENAMETOOLONG,
                ) => ErrorClass::InvalidArgument,
                _ if source.kind() == std::io::ErrorKind::InvalidData
                    || source.kind() == std::io::ErrorKind::UnexpectedEof =>
                {
                    ErrorClass::InvalidArgument
                }
                _ => ErrorClass::Internal,
            },
        }
    }

    /// Wraps an I/O error with the path it happened on.
    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> ImageError {
        let path = path.into();
        move |source| ImageError::Io { path, source }
    }

    /// An I/O error on a path from an `std::io::Error` that already happened.
    pub(crate) fn io_at(path: impl Into<PathBuf>, source: std::io::Error) -> ImageError {
        ImageError::Io {
            path: path.into(),
            source,
        }
    }
}
