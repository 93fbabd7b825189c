//! The CLI's error type and how each error becomes a message and exit code,
//! following Docker's CLI (plain message + exit 1, or a status error with its
//! own code, as `docker run` uses for 125/126/127 and the container's status).

use berth::api::ErrorClass;
use berth::image::ImageError;
use berth::image::reference::{is_full_hex_id, repository_path};

use crate::client::ClientError;
use crate::format::FormatError;
use crate::stream::StreamError;

/// Any failure of a `berth` command.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// Talking to the daemon failed or it answered with an error.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// A `--format` template is unusable.
    #[error(transparent)]
    Format(#[from] FormatError),
    /// An image reference is malformed (in practice [`ImageError::InvalidReference`]),
    /// worded as Docker's CLI words it.
    #[error("{}", reference_error_text(.0))]
    Reference(#[from] ImageError),
    /// An attach stream was malformed or carried a daemon error.
    #[error(transparent)]
    Stream(#[from] StreamError),
    /// The local terminal or the detach keys could not be used.
    #[error(transparent)]
    Tty(#[from] crate::tty::TtyError),
    /// A `--since`/`--until` value that is no time.
    #[error(transparent)]
    TimeArg(#[from] crate::commands::logs::TimeArgError),
    /// A container's stats stream gave nothing usable.
    #[error(transparent)]
    Stats(#[from] crate::commands::stats::StatsError),
    /// The registry credentials file could not be used.
    #[error(transparent)]
    Credential(#[from] crate::commands::credentials::CredentialError),
    /// The `--tls*` settings cannot be used.
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    /// A local file could not be used; `op` is Go's verb ("open", "write").
    #[error("{op} {path}: {}", go_io_error(.source))]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file involved.
        path: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A refusal or misuse detected by the CLI itself (exit 1).
    #[error("{message}")]
    Usage {
        /// Docker's wording for the same refusal.
        message: String,
    },
    /// Docker's StatusError: print `message` (if any) and exit with `code`.
    #[error("{message}")]
    Status {
        /// The exit code.
        code: i32,
        /// What to print; empty for a container's own non-zero exit.
        message: String,
    },
}

impl CliError {
    /// A refusal with Docker's wording.
    pub fn usage(message: impl Into<String>) -> CliError {
        CliError::Usage {
            message: message.into(),
        }
    }

    /// The error's class.
    pub fn class(&self) -> ErrorClass {
        match self {
            CliError::Client(e) => e.class(),
            CliError::Format(e) => e.class(),
            CliError::Reference(e) => e.class(),
            CliError::Stream(e) => e.class(),
            CliError::Tty(e) => e.class(),
            CliError::TimeArg(e) => e.class(),
            CliError::Stats(e) => e.class(),
            CliError::Credential(e) => e.class(),
            CliError::Tls(e) => e.class(),
            CliError::Io { source, .. } => match source.kind() {
                std::io::ErrorKind::NotFound => ErrorClass::NotFound,
                std::io::ErrorKind::PermissionDenied => ErrorClass::Forbidden,
                _ => ErrorClass::Internal,
            },
            CliError::Usage { .. } => ErrorClass::InvalidArgument,
            CliError::Status { .. } => ErrorClass::Internal,
        }
    }

    /// The process exit code: Docker exits 1 for every error that is not a
    /// status error carrying its own code.
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Status { code, .. } => *code,
            _ => 1,
        }
    }
}

/// Docker's CLI wording for a rejected reference: the library's error names its reason,
/// Docker's names the offending repository path when it has upper-case letters.
fn reference_error_text(e: &ImageError) -> String {
    match e {
        ImageError::InvalidReference { input, .. } if !is_full_hex_id(input) => {
            let path = repository_path(input);
            if path.chars().any(|c| c.is_ascii_uppercase()) {
                format!("invalid reference format: repository name ({path}) must be lowercase")
            } else {
                format!("invalid reference format: {input:?}")
            }
        }
        other => other.to_string(),
    }
}

/// An I/O error worded like Go's (`no such file or directory`), without
/// Rust's ` (os error N)` suffix.
pub fn go_io_error(e: &std::io::Error) -> String {
    let text = e.to_string();
    let text = match text.find(" (os error ") {
        Some(i) => &text[..i],
        None => &text,
    };
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// Docker's (cobra's) error for an unusable flag value: the message, the
/// command's usage line and the help hint; exit 125.
pub fn flag_error(message: &str, usage: &str, command: &str) -> CliError {
    CliError::Status {
        code: 125,
        message: format!(
            "{message}\n\nUsage:  berth {usage}\n\nRun 'berth {command} --help' for more information"
        ),
    }
}

/// Docker's `toStatusError` for `run`/`create`: the exit code depends on
/// whether the command could not be found (127), not be run (126), or
/// something else went wrong (125). `command` names the subcommand for the hint.
pub fn run_status_error(err: &CliError, command: &str) -> CliError {
    let message = err.to_string();
    let code = if message.contains("executable file not found")
        || message.contains("no such file or directory")
        || message.contains("system cannot find the file specified")
    {
        127
    } else if message.contains("permission denied") || message.contains("is a directory") {
        126
    } else {
        125
    };
    CliError::Status {
        code,
        message: format!("berth: {message}\n\nRun 'berth {command} --help' for more information"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn daemon(msg: &str) -> CliError {
        CliError::Client(ClientError::Daemon {
            status: 400,
            message: msg.to_string(),
        })
    }

    #[test]
    fn run_exit_codes_like_docker() {
        let cases = [
            (
                "failed to create task: exec: \"nosuch\": executable file not found in $PATH",
                127,
            ),
            ("exec /bin/x: no such file or directory", 127),
            ("exec /etc/passwd: permission denied", 126),
            ("exec /etc: is a directory", 126),
            ("No such image: nosuch:latest", 125),
            ("Conflict. The container name \"/x\" is already in use", 125),
        ];
        for (msg, code) in cases {
            let e = run_status_error(&daemon(msg), "run");
            assert_eq!(e.exit_code(), code, "{msg}");
            assert_eq!(
                e.to_string(),
                format!(
                    "berth: Error response from daemon: {msg}\n\nRun 'berth run --help' for more information"
                )
            );
        }
    }

    #[test]
    fn plain_errors_exit_1() {
        assert_eq!(daemon("x").exit_code(), 1);
        assert_eq!(daemon("x").to_string(), "Error response from daemon: x");
        assert_eq!(CliError::usage("nope").exit_code(), 1);
    }

    #[test]
    fn reference_errors_read_like_docker() {
        use berth::image::reference::Reference;
        let e = CliError::from(Reference::parse("BusyBox").unwrap_err());
        assert_eq!(
            e.to_string(),
            "invalid reference format: repository name (library/BusyBox) must be lowercase"
        );
        assert_eq!(e.class(), ErrorClass::InvalidArgument);
        assert_eq!(e.exit_code(), 1);
        for bad in ["", "a b", "busybox:", "a:b:c"] {
            let e = CliError::from(Reference::parse(bad).unwrap_err());
            assert_eq!(e.to_string(), format!("invalid reference format: {bad:?}"));
            assert_eq!(e.class(), ErrorClass::InvalidArgument);
        }
        let hex = "a".repeat(64);
        let e = CliError::from(Reference::parse(&hex).unwrap_err());
        assert!(e.to_string().contains("64-byte hexadecimal"), "{e}");
    }

    #[test]
    fn io_errors_read_like_go() {
        let e = CliError::Io {
            op: "open",
            path: "/nonexistent/berth.tar".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOENT),
        };
        assert_eq!(
            e.to_string(),
            "open /nonexistent/berth.tar: no such file or directory"
        );
        assert_eq!(e.class(), ErrorClass::NotFound);
    }
}
