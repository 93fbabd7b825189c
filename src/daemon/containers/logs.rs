//! A container's log configuration (HostConfig.LogConfig merged with the
//! daemon's defaults at create, as dockerd's `mergeAndVerifyLogConfig`) and
//! the reading of its log for `GET /containers/{id}/logs`.

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;

use chrono::{DateTime, Utc};

use berth::api::models::HostConfigLogConfig;
use berth::logging::stdcopy::StdStream;
use berth::logging::{LogConfig, LogEntry, LoggingError, ReadOptions, Stream, reader};
use tokio::sync::oneshot::error::TryRecvError;

use super::Container;
use crate::error::{ApiError, ApiResult};
use crate::handlers::logs::LogsOptions;

/// The json-file driver's name.
pub const JSON_FILE: &str = "json-file";

/// The drivers berthd has, as `info` lists them.
pub const DRIVERS: [&str; 2] = [JSON_FILE, "none"];

/// Fills an unset driver with the daemon's default, and, when the driver is
/// the default one, the options the container did not set with the
/// daemon's, as dockerd does.
pub fn merge_defaults(
    requested: Option<HostConfigLogConfig>,
    default_driver: &str,
    default_opts: &BTreeMap<String, String>,
) -> HostConfigLogConfig {
    let requested = requested.unwrap_or_default();
    let typ = requested
        .typ
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| default_driver.to_owned());
    let mut config = requested.config.unwrap_or_default();
    if typ == default_driver {
        for (k, v) in default_opts {
            config.entry(k.clone()).or_insert_with(|| v.clone());
        }
    }
    HostConfigLogConfig {
        typ: Some(typ),
        config: Some(config),
    }
}

/// The runtime's log configuration for a HostConfig.LogConfig, with the
/// logging module's (dockerd's) messages for what it refuses.
pub fn to_runtime(cfg: &HostConfigLogConfig) -> ApiResult<LogConfig> {
    let driver = cfg.typ.as_deref().unwrap_or(JSON_FILE);
    let empty = HashMap::new();
    let opts = cfg.config.as_ref().unwrap_or(&empty);
    LogConfig::from_docker(driver, opts).map_err(|e| ApiError::new(e.class(), e.to_string()))
}

/// Checks the daemon's own defaults at start, as dockerd refuses to start
/// with a bad `log-driver`/`log-opts`.
pub fn check_defaults(driver: &str, opts: &BTreeMap<String, String>) -> ApiResult<()> {
    let cfg = HostConfigLogConfig {
        typ: Some(driver.to_owned()),
        config: Some(opts.clone().into_iter().collect()),
    };
    to_runtime(&cfg).map(drop)
}

/// The driver a container logs with (json-file when the record predates drivers).
pub fn driver(c: &Container) -> String {
    c.host_config
        .read()
        .expect("host config lock")
        .log_config
        .as_ref()
        .and_then(|l| l.typ.as_deref())
        .filter(|t| !t.is_empty())
        .unwrap_or(JSON_FILE)
        .to_owned()
}

/// Inspect's `LogPath`: the json-file log, or empty for other drivers.
pub fn log_path(c: &Container) -> String {
    if driver(c) == JSON_FILE {
        c.state_dir
            .join(format!("{}-json.log", c.def.id))
            .display()
            .to_string()
    } else {
        String::new()
    }
}

fn io(e: LoggingError) -> std::io::Error {
    std::io::Error::other(e)
}

/// Receives each line to send: its stream, time and bytes.
pub type LineFn<'a> = dyn FnMut(StdStream, DateTime<Utc>, &[u8]) -> std::io::Result<()> + 'a;

/// Where a container's log is read from.
pub struct LogSource {
    state_dir: PathBuf,
    id: String,
    /// Fires when the container exits; `None` when it was not running.
    exit: Option<tokio::sync::oneshot::Receiver<i64>>,
}

impl LogSource {
    /// The log of `c`; 501 like dockerd when its driver cannot be read back.
    pub fn of(c: &Container) -> ApiResult<LogSource> {
        if driver(c) != JSON_FILE {
            let e = LoggingError::NotReadable;
            return Err(ApiError::new(e.class(), e.to_string()));
        }
        // Registered before the check, so an exit in between is not missed.
        let exit = c.next_exit();
        let running = c.state().status == super::Status::Running;
        Ok(LogSource {
            state_dir: c.state_dir.clone(),
            id: c.def.id.clone(),
            exit: running.then_some(exit),
        })
    }

    /// Sends every wanted line to `send`, then, when following, the lines
    /// written after, until the container stops or `gone()` says the client
    /// left. Blocking: run it with `spawn_blocking`.
    pub fn copy(
        self,
        opts: &LogsOptions,
        gone: impl Fn() -> bool + Send + 'static,
        send: &mut LineFn<'_>,
    ) -> std::io::Result<()> {
        let read = ReadOptions {
            tail: opts.tail,
            since: opts.since,
            until: opts.until,
            stdout: opts.stdout,
            stderr: opts.stderr,
        };
        let entries: Box<dyn Iterator<Item = Result<LogEntry, LoggingError>>> = match self.exit {
            Some(mut exit) if opts.follow => {
                let mut exited = false;
                let stopped = move || {
                    if !exited {
                        exited = !matches!(exit.try_recv(), Err(TryRecvError::Empty));
                    }
                    exited || gone()
                };
                Box::new(reader::follow(&self.state_dir, &self.id, &read, stopped).map_err(io)?)
            }
            _ => Box::new(reader::read_logs(&self.state_dir, &self.id, &read).map_err(io)?),
        };
        for entry in entries {
            let e = entry.map_err(io)?;
            let stream = match e.stream {
                Stream::Stdout => StdStream::Stdout,
                Stream::Stderr => StdStream::Stderr,
            };
            send(stream, e.time, &e.line)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_fill_what_the_container_left_unset() {
        let defaults = map(&[("max-size", "1m"), ("max-file", "2")]);
        let merged = merge_defaults(None, JSON_FILE, &defaults);
        assert_eq!(merged.typ.as_deref(), Some(JSON_FILE));
        assert_eq!(merged.config.unwrap().len(), 2);
        let own = HostConfigLogConfig {
            typ: Some(String::new()),
            config: Some(HashMap::from([("max-file".to_owned(), "5".to_owned())])),
        };
        let merged = merge_defaults(Some(own), JSON_FILE, &defaults)
            .config
            .unwrap();
        assert_eq!(merged["max-file"], "5");
        assert_eq!(merged["max-size"], "1m");
        // Another driver than the default's takes none of its options.
        let none = HostConfigLogConfig {
            typ: Some("none".to_owned()),
            config: None,
        };
        let merged = merge_defaults(Some(none), JSON_FILE, &defaults);
        assert_eq!(merged.typ.as_deref(), Some("none"));
        assert!(merged.config.unwrap().is_empty());
        assert!(to_runtime(&merge_defaults(None, "none", &BTreeMap::new())).is_ok());
        // The default driver takes the default options, which must suit it.
        assert!(to_runtime(&merge_defaults(None, "none", &defaults)).is_err());
    }

    #[test]
    fn bad_defaults_are_refused_with_the_logging_modules_words() {
        assert!(check_defaults(JSON_FILE, &map(&[("max-size", "10m")])).is_ok());
        let e = check_defaults(JSON_FILE, &map(&[("bogus", "1")])).unwrap_err();
        assert_eq!(
            e.message,
            "unknown log opt 'bogus' for json-file log driver"
        );
        assert_eq!(e.class, berth::api::ErrorClass::InvalidArgument);
        assert!(check_defaults("bogus", &BTreeMap::new()).is_err());
    }
}
