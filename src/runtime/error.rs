//! Errors the runtime reports to the daemon.

use std::io;
use std::path::PathBuf;

use crate::api::ErrorClass;

use super::proto::{FailureKind, StartFailure};

/// A failure to start, reach or control a container.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The spec cannot be run as given.
    #[error("invalid container spec for {id}: {detail}")]
    InvalidSpec {
        /// The container ID.
        id: String,
        /// What is wrong.
        detail: String,
    },
    /// The command does not exist, e.g. `exec: "foo": executable file not found in $PATH`.
    #[error("{message}")]
    ExecNotFound {
        /// Docker's message, which the CLI maps to exit code 127.
        message: String,
    },
    /// The command is not executable, e.g. `exec: "/etc": permission denied`.
    #[error("{message}")]
    ExecPermissionDenied {
        /// Docker's message, which the CLI maps to exit code 126.
        message: String,
    },
    /// The user or group does not resolve inside the container.
    #[error("{message}")]
    BadUser {
        /// E.g. `unable to find user foo: no matching entries in passwd file`.
        message: String,
    },
    /// Setting up the container (mounts, namespaces, capabilities) failed.
    #[error("container init failed: {message}")]
    Init {
        /// What the init reported.
        message: String,
    },
    /// A runtime file could not be written or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The supervisor binary could not be spawned.
    #[error("spawn supervisor {exe}: {source}")]
    Spawn {
        /// The executable.
        exe: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The supervisor exited before it was ready.
    #[error("supervisor in {run_dir} did not start: {detail}")]
    SupervisorStart {
        /// The container's run dir.
        run_dir: PathBuf,
        /// The supervisor's own words.
        detail: String,
    },
    /// The supervisor's socket cannot be reached (it has exited or never ran).
    #[error("connect to supervisor {socket}: {source}")]
    Connect {
        /// The socket path.
        socket: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// The connection to the supervisor broke or carried garbage.
    #[error("supervisor {socket}: {detail}")]
    Protocol {
        /// The socket path.
        socket: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// The container is not running (not started yet, or exited).
    #[error("container supervised at {socket} is not running")]
    NotRunning {
        /// The socket path.
        socket: PathBuf,
    },
    /// A resource limit the daemon cannot grant, e.g. `ulimit nofile: hard
    /// limit 2000000 exceeds the daemon's own hard limit 1048576`.
    #[error("{message}")]
    Ulimit {
        /// What is wrong, naming the limit.
        message: String,
    },
    /// The container's init process is gone (or its pid was reused).
    #[error("container process {pid} is not running")]
    ProcessGone {
        /// The host pid looked for.
        pid: i32,
    },
    /// A signal number outside 1..=64.
    #[error("invalid signal {signal}")]
    InvalidSignal {
        /// The number given.
        signal: i32,
    },
}

impl RuntimeError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> ErrorClass {
        match self {
            RuntimeError::InvalidSpec { .. }
            | RuntimeError::ExecNotFound { .. }
            | RuntimeError::ExecPermissionDenied { .. }
            | RuntimeError::BadUser { .. }
            | RuntimeError::InvalidSignal { .. }
            | RuntimeError::Ulimit { .. } => ErrorClass::InvalidArgument,
            RuntimeError::NotRunning { .. } | RuntimeError::ProcessGone { .. } => {
                ErrorClass::Conflict
            }
            RuntimeError::Connect { .. } => ErrorClass::Unavailable,
            RuntimeError::Init { .. }
            | RuntimeError::Io { .. }
            | RuntimeError::Spawn { .. }
            | RuntimeError::SupervisorStart { .. }
            | RuntimeError::Protocol { .. } => ErrorClass::Internal,
        }
    }

    pub(crate) fn from_failure(id: &str, f: StartFailure) -> RuntimeError {
        let message = f.message;
        match f.kind {
            FailureKind::NotFound => RuntimeError::ExecNotFound { message },
            FailureKind::PermissionDenied => RuntimeError::ExecPermissionDenied { message },
            FailureKind::BadUser => RuntimeError::BadUser { message },
            FailureKind::InvalidSpec => RuntimeError::InvalidSpec {
                id: id.to_owned(),
                detail: message,
            },
            FailureKind::Other => RuntimeError::Init { message },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exec_failures_keep_dockers_words_and_are_invalid_arguments() {
        let e = RuntimeError::from_failure(
            "c",
            StartFailure::new(
                FailureKind::NotFound,
                "exec: \"foo\": executable file not found in $PATH",
            ),
        );
        assert_eq!(
            e.to_string(),
            "exec: \"foo\": executable file not found in $PATH"
        );
        assert_eq!(e.class(), ErrorClass::InvalidArgument);
        let e = RuntimeError::from_failure(
            "c",
            StartFailure::new(FailureKind::Other, "mount proc: operation not permitted"),
        );
        assert_eq!(e.class(), ErrorClass::Internal);
    }
}
