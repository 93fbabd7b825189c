//! Errors of the cgroup layer.

use std::io;
use std::path::PathBuf;

use crate::api::ErrorClass;

/// A failure to detect, create, configure or remove a cgroup; messages name
/// the file and the value, e.g.
/// `write 1x to /sys/fs/cgroup/memory/berth/<id>/memory.limit_in_bytes: invalid argument`.
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// No cgroup filesystem is mounted.
    #[error("no cgroup hierarchy mounted (see /proc/self/mountinfo)")]
    NoHierarchy,
    /// A `--cgroup-parent` with `..`, `.` or empty components.
    #[error("invalid cgroup parent {parent:?}: components must not be empty, \".\" or \"..\"")]
    InvalidParent {
        /// The parent given.
        parent: String,
    },
    /// A container ID that cannot be a directory name.
    #[error("invalid cgroup name {id:?}")]
    InvalidId {
        /// The ID given.
        id: String,
    },
    /// A combination of limits the kernel cannot express.
    #[error("{detail}")]
    Invalid {
        /// What is wrong.
        detail: String,
    },
    /// A controller or file this host lacks.
    #[error("{what} is not supported by this host's cgroups")]
    Unsupported {
        /// What is missing.
        what: String,
    },
    /// Reading a cgroup file failed.
    #[error("read {}: {}", path.display(), errno_text(source))]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Writing a cgroup file failed.
    #[error("write {value} to {}: {}", path.display(), errno_text(source))]
    Write {
        /// The value written.
        value: String,
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Creating a cgroup dir failed.
    #[error("mkdir {}: {}", path.display(), errno_text(source))]
    Mkdir {
        /// The dir.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// Removing a cgroup dir failed (after retries while busy).
    #[error("rmdir {}: {}", path.display(), errno_text(source))]
    Rmdir {
        /// The dir.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A cgroup file holds something unexpected.
    #[error("parse {}: unexpected content {content:?}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// What it held.
        content: String,
    },
    /// The freezer did not reach the state asked for.
    #[error("{} did not become {want} within 2s", path.display())]
    Timeout {
        /// The freezer file.
        path: PathBuf,
        /// The state asked for.
        want: String,
    },
}

impl CgroupError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> ErrorClass {
        match self {
            CgroupError::InvalidParent { .. }
            | CgroupError::InvalidId { .. }
            | CgroupError::Invalid { .. }
            | CgroupError::Unsupported { .. } => ErrorClass::InvalidArgument,
            CgroupError::NoHierarchy => ErrorClass::Unavailable,
            CgroupError::Read { .. }
            | CgroupError::Write { .. }
            | CgroupError::Mkdir { .. }
            | CgroupError::Rmdir { .. }
            | CgroupError::Parse { .. }
            | CgroupError::Timeout { .. } => ErrorClass::Internal,
        }
    }
}

/// The errno's description in lower case without Rust's "(os error N)",
/// e.g. "invalid argument", as the other runtimes word it.
fn errno_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(n) => nix::errno::Errno::from_raw(n).desc().to_lowercase(),
        None => e.to_string(),
    }
}
