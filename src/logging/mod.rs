//! Container logs: Docker's stream framing ([`stdcopy`]) and the json-file
//! log driver.
//!
//! # Writing (supervisor side)
//! The container's supervisor ([`crate::runtime::supervisor`]) owns a
//! [`jsonfile::JsonFileWriter`] when the spec's [`LogConfig`] says
//! `json-file`, and feeds it every chunk it reads from the container's
//! stdout/stderr (or pty), whether or not a daemon is attached. The file is
//! `<state_dir>/<id>-json.log` ([`jsonfile::log_path`]), one JSON object per
//! line, byte-compatible with Docker's:
//! `{"log":"hi\n","stream":"stdout","time":"2026-11-21T12:34:56.123456789Z"}`.
//! Rotated files are `<id>-json.log.1` (newest) ... `.N`, `.gz` when compressed.
//! Writer API: `JsonFileWriter::open(state_dir, id, &LogConfig)`, then
//! `write(Stream, &chunk)` per chunk read, `finish_stream(Stream)` at a
//! stream's EOF, `background_step()` while `has_background_work()` (gzip of
//! a rotated file, in bounded steps) and `close()` before `exit.json`.
//!
//! # Validating (daemon, at create time)
//! [`LogConfig::from_docker`]`(driver, &opts)` turns `HostConfig.LogConfig`
//! (or daemon.json defaults) into the spec's `log` field, with dockerd's
//! error texts.
//!
//! # Reading (daemon's `logs` endpoint; blocking, call from `spawn_blocking`)
//! - [`reader::read_logs`]`(state_dir, id, &ReadOptions) -> Result<LogReader>`:
//!   an `Iterator<Item = Result<LogEntry, LoggingError>>` over the rotated
//!   files (oldest first, `.gz` included) and then the current one.
//!   [`ReadOptions::tail`] seeks from the end (it counts lines of the files,
//!   both streams, as Docker does), then `since`/`until` and the stream
//!   choice filter.
//! - [`reader::follow`]`(state_dir, id, &ReadOptions, stopped) -> Result<Follower>`:
//!   the same, then waits for new lines (polling every [`reader::POLL`]),
//!   across rotations without loss or duplication; ends after draining once
//!   `stopped()` returned true (pass a closure reading a flag the daemon sets
//!   when the container exited), or after an entry later than `until`.
//!   Each `next()` blocks; drop the follower to cancel.
//!
//! A container with the `none` driver has no log: answer `logs` with
//! [`LoggingError::NotReadable`].

pub mod config;
pub mod jsonfile;
pub mod reader;
pub mod stdcopy;

use std::io;
use std::path::PathBuf;

use chrono::{DateTime, Utc};

pub use config::LogConfig;
pub use reader::{Follower, LogReader, follow, read_logs};

/// The stream a log entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Stream {
    /// Standard output (and a tty's single stream).
    Stdout,
    /// Standard error.
    Stderr,
}

impl Stream {
    /// Docker's name of the stream in the json file.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }
}

/// One decoded line of a json-file log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Where the bytes came from.
    pub stream: Stream,
    /// When the supervisor read them.
    pub time: DateTime<Utc>,
    /// The `log` field's bytes: a whole line with its `\n`, or a piece
    /// without one when [`partial`](Self::partial). Bytes that were not
    /// UTF-8 read back as U+FFFD, as with Docker.
    pub line: Vec<u8>,
    /// A piece of a line longer than 16 KiB, or the output's unterminated end.
    pub partial: bool,
}

/// What to read from a log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadOptions {
    /// Only the last N lines of the log (counted before filtering); `None`: all.
    pub tail: Option<usize>,
    /// Skip entries older than this.
    pub since: Option<DateTime<Utc>>,
    /// Stop at the first entry newer than this.
    pub until: Option<DateTime<Utc>>,
    /// Include stdout entries.
    pub stdout: bool,
    /// Include stderr entries.
    pub stderr: bool,
}

impl Default for ReadOptions {
    fn default() -> ReadOptions {
        ReadOptions {
            tail: None,
            since: None,
            until: None,
            stdout: true,
            stderr: true,
        }
    }
}

/// Why a log could not be configured, written or read.
#[derive(Debug, thiserror::Error)]
pub enum LoggingError {
    /// The driver name is not one berth has (dockerd's wording).
    #[error("logger: no log driver named '{driver}' is registered")]
    UnknownDriver {
        /// The requested driver.
        driver: String,
    },
    /// The driver has no such option (dockerd's wording).
    #[error("unknown log opt '{option}' for {driver} log driver")]
    UnknownOption {
        /// The option name.
        option: String,
        /// The driver.
        driver: String,
    },
    /// A size option is not a size (`units.RAMInBytes`' wording).
    #[error("invalid size: '{value}'")]
    InvalidSize {
        /// The value given.
        value: String,
    },
    /// An option's value is out of range or malformed.
    #[error("invalid log opt '{option}' value '{value}': {reason}")]
    InvalidOption {
        /// The option name.
        option: String,
        /// The value given.
        value: String,
        /// What is wrong with it.
        reason: String,
    },
    /// The container's driver keeps no log to read (dockerd's wording).
    #[error("configured logging driver does not support reading")]
    NotReadable,
    /// A log file could not be opened, read, written or rotated.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A line of a log file is not a json-file entry.
    #[error("{path}: corrupt log line: {detail}")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong with the line.
        detail: String,
    },
}

impl LoggingError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> crate::api::ErrorClass {
        use crate::api::ErrorClass;
        match self {
            LoggingError::UnknownDriver { .. }
            | LoggingError::UnknownOption { .. }
            | LoggingError::InvalidSize { .. }
            | LoggingError::InvalidOption { .. } => ErrorClass::InvalidArgument,
            LoggingError::NotReadable => ErrorClass::NotImplemented,
            LoggingError::Io { .. } | LoggingError::Corrupt { .. } => ErrorClass::Internal,
        }
    }
}

pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(io::Error) -> LoggingError + '_ {
    move |source| LoggingError::Io {
        path: path.to_owned(),
        source,
    }
}
