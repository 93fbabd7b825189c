//! `SIGHUP`: re-read daemon.json and apply the options that can change while
//! berthd runs, as dockerd does: the log level (`debug`, `log-level`), the
//! default log options, `max-concurrent-downloads`/`-uploads`,
//! `insecure-registries` and `registry-mirrors`. Every change is logged; a
//! changed option that needs a restart is logged as such and not applied. A
//! file that fails validation is logged and ignored: the daemon keeps its
//! configuration.

use std::collections::BTreeMap;
use std::sync::{Arc, RwLock};

use berth::image::registry::RegistryConfig;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Registry, reload};

use crate::config::{Config, ConfigError, Flags, filter_directive};
use crate::events::Events;

/// Changes the daemon's log filter at run time.
pub type LogHandle = reload::Handle<EnvFilter, Registry>;

/// The options a reload may change, read by handlers at each use.
#[derive(Debug, Clone)]
pub struct Reloadable {
    /// dockerd's log level (`debug`, `info`, ...).
    pub log_level: String,
    /// Containers' default log driver options (`log-opts`).
    pub log_opts: BTreeMap<String, String>,
    /// Layers downloaded at once per pull.
    pub max_concurrent_downloads: usize,
    /// Layers uploaded at once per push.
    pub max_concurrent_uploads: usize,
    /// `insecure-registries` and `registry-mirrors`.
    pub registry: RegistryConfig,
}

impl Reloadable {
    fn of(config: &Config) -> Reloadable {
        Reloadable {
            log_level: config.log_level.clone(),
            log_opts: config.log_opts.clone(),
            max_concurrent_downloads: config.max_concurrent_downloads,
            max_concurrent_uploads: config.max_concurrent_uploads,
            registry: config.registry.clone(),
        }
    }
}

/// The current reloadable options, shared by the handlers and the reloader.
#[derive(Debug)]
pub struct Live(RwLock<Reloadable>);

impl Live {
    /// The options as the daemon started with them.
    pub fn new(config: &Config) -> Live {
        Live(RwLock::new(Reloadable::of(config)))
    }

    /// A copy of the options in force now.
    pub fn get(&self) -> Reloadable {
        self.0.read().expect("reloadable config lock").clone()
    }
}

/// Installs the global tracing subscriber with a filter [`reload_from`] can
/// change later. An unknown level (only possible from `RUST_LOG`-like input
/// that bypassed validation) falls back to info.
pub fn init_logging(level: &str) -> LogHandle {
    let (filter, handle) = reload::Layer::new(env_filter(level));
    tracing_subscriber::registry()
        .with(filter)
        .with(
            tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr())),
        )
        .init();
    handle
}

fn env_filter(level: &str) -> EnvFilter {
    EnvFilter::try_new(filter_directive(level)).unwrap_or_else(|_| EnvFilter::new("info"))
}

/// The `SIGHUP` handler, installed early in start-up: a hangup's default
/// action would kill the daemon, and one that arrives before [`watch`] runs
/// is kept and handled then.
pub struct Hangups(std::io::Result<tokio::signal::unix::Signal>);

impl Hangups {
    /// Installs the handler (needs the tokio runtime).
    pub fn install() -> Hangups {
        use tokio::signal::unix::{SignalKind, signal};
        Hangups(signal(SignalKind::hangup()))
    }
}

/// What a reload needs besides the signal.
pub struct Reloader {
    /// The daemon's command line: a flag still beats the file, and still
    /// clashes with the same key in it.
    pub flags: Flags,
    /// The configuration berthd started with.
    pub started: Config,
    /// The options handlers read.
    pub live: Arc<Live>,
    /// The log filter.
    pub log: LogHandle,
    /// Where the `daemon reload` event goes.
    pub events: Arc<Events>,
    /// The engine ID (the event's actor, as dockerd's daemon ID).
    pub engine_id: String,
}

/// Reloads on every `SIGHUP` until the daemon exits, logging what changed
/// and publishing dockerd's `daemon reload` event after each successful one.
pub async fn watch(hangups: Hangups, r: Reloader) {
    let mut hup = match hangups.0 {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "cannot install the SIGHUP handler; configuration reload is off");
            return;
        }
    };
    while hup.recv().await.is_some() {
        tracing::info!(config_file = %r.flags.config_file.display(), "got SIGHUP: reloading the configuration");
        match reload_from(&r.flags, &r.started, &r.live, &r.log) {
            Ok(changes) => {
                if changes.is_empty() {
                    tracing::info!("configuration reloaded: nothing changed");
                } else {
                    tracing::info!(changes = %changes.join("; "), "configuration reloaded");
                }
                r.events.log(
                    "daemon",
                    "reload",
                    &r.engine_id,
                    event_attributes(&r.live.get()),
                );
            }
            Err(e) => {
                tracing::error!(error = %e, "configuration not reloaded: keeping the current one");
            }
        }
    }
}

/// The attributes of dockerd's `daemon reload` event: the reloadable
/// options now in force (lists as JSON) and the host's name.
fn event_attributes(now: &Reloadable) -> BTreeMap<String, String> {
    let json = |v: &Vec<String>| serde_json::to_string(v).unwrap_or_default();
    let name = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    BTreeMap::from([
        ("debug".to_owned(), (now.log_level == "debug").to_string()),
        ("log-level".to_owned(), now.log_level.clone()),
        (
            "insecure-registries".to_owned(),
            json(&now.registry.insecure),
        ),
        ("registry-mirrors".to_owned(), json(&now.registry.mirrors)),
        (
            "max-concurrent-downloads".to_owned(),
            now.max_concurrent_downloads.to_string(),
        ),
        (
            "max-concurrent-uploads".to_owned(),
            now.max_concurrent_uploads.to_string(),
        ),
        ("name".to_owned(), name),
    ])
}

/// One reload: resolves flags and file again, applies the reloadable
/// options and returns a description of each change. Nothing is applied
/// when the new configuration is invalid.
pub fn reload_from(
    flags: &Flags,
    started: &Config,
    live: &Live,
    log: &LogHandle,
) -> Result<Vec<String>, ReloadError> {
    let new = Config::resolve(flags.clone())?;
    crate::containers::logs::check_defaults(&started.log_driver, &new.log_opts)
        .map_err(|e| ReloadError::LogOpts(e.message))?;
    let next = Reloadable::of(&new);
    let mut guard = live.0.write().expect("reloadable config lock");
    let old = guard.clone();
    let mut changes = Vec::new();
    if old.log_level != next.log_level {
        log.reload(env_filter(&next.log_level))
            .map_err(|e| ReloadError::Log(e.to_string()))?;
        changes.push(format!(
            "log-level: {} -> {}",
            old.log_level, next.log_level
        ));
    }
    let mut note = |key: &str, before: String, after: String| {
        if before != after {
            changes.push(format!("{key}: {before} -> {after}"));
        }
    };
    note(
        "log-opts",
        format!("{:?}", old.log_opts),
        format!("{:?}", next.log_opts),
    );
    note(
        "max-concurrent-downloads",
        old.max_concurrent_downloads.to_string(),
        next.max_concurrent_downloads.to_string(),
    );
    note(
        "max-concurrent-uploads",
        old.max_concurrent_uploads.to_string(),
        next.max_concurrent_uploads.to_string(),
    );
    note(
        "insecure-registries",
        format!("{:?}", old.registry.insecure),
        format!("{:?}", next.registry.insecure),
    );
    note(
        "registry-mirrors",
        format!("{:?}", old.registry.mirrors),
        format!("{:?}", next.registry.mirrors),
    );
    *guard = next;
    drop(guard);
    for key in needs_restart(started, &new) {
        tracing::warn!(
            key,
            "changed in the configuration file; takes effect on restart"
        );
    }
    Ok(changes)
}

/// Options that differ between the running configuration and the file but
/// only take effect when berthd starts.
fn needs_restart(a: &Config, b: &Config) -> Vec<&'static str> {
    let mut keys = Vec::new();
    let mut check = |key, same: bool| {
        if !same {
            keys.push(key);
        }
    };
    check("hosts", a.socket == b.socket);
    check("data-root", a.data_root == b.data_root);
    check("exec-root", a.exec_root == b.exec_root);
    check("pidfile", a.pidfile == b.pidfile);
    check("group", a.group == b.group);
    check("log-driver", a.log_driver == b.log_driver);
    check("bridge", a.bridge == b.bridge);
    check("bip", a.bip == b.bip);
    check("iptables", a.iptables == b.iptables);
    check("ip-forward", a.ip_forward == b.ip_forward);
    check("cgroup-parent", a.cgroup_parent == b.cgroup_parent);
    keys
}

/// Why a reload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The file (with the flags) is not a valid configuration.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The new default log options do not fit the default log driver.
    #[error("invalid log configuration: {0}")]
    LogOpts(String),
    /// The log filter could not be swapped.
    #[error("changing the log level: {0}")]
    Log(String),
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    struct Fixture {
        _dir: tempfile::TempDir,
        file: std::path::PathBuf,
        flags: Flags,
        started: Config,
        live: Live,
        // Keeps the filter the handle points at alive.
        _layer: reload::Layer<EnvFilter, Registry>,
        log: LogHandle,
    }

    fn fixture(json: &str, extra: &[&str]) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("daemon.json");
        std::fs::write(&file, json).unwrap();
        let mut args = vec!["berthd", "--config-file", file.to_str().unwrap()];
        args.extend_from_slice(extra);
        let flags = Flags::parse_from(args);
        let started = Config::resolve(flags.clone()).unwrap();
        let live = Live::new(&started);
        let (layer, log) = reload::Layer::new(env_filter(&started.log_level));
        Fixture {
            _dir: dir,
            file,
            flags,
            started,
            live,
            _layer: layer,
            log,
        }
    }

    impl Fixture {
        fn reload(&self, json: &str) -> Result<Vec<String>, ReloadError> {
            std::fs::write(&self.file, json).unwrap();
            reload_from(&self.flags, &self.started, &self.live, &self.log)
        }
    }

    #[test]
    fn reloadable_options_change_and_are_reported() {
        let f = fixture(r#"{"log-level": "info"}"#, &[]);
        let changes = f
            .reload(
                r#"{"log-level": "debug", "max-concurrent-downloads": 9,
                    "log-opts": {"max-size": "1m"}, "insecure-registries": ["r:5000"]}"#,
            )
            .unwrap();
        assert_eq!(
            changes,
            [
                "log-level: info -> debug",
                r#"log-opts: {} -> {"max-size": "1m"}"#,
                "max-concurrent-downloads: 3 -> 9",
                r#"insecure-registries: [] -> ["r:5000"]"#,
            ]
        );
        let now = f.live.get();
        assert_eq!(now.log_level, "debug");
        assert_eq!(now.max_concurrent_downloads, 9);
        assert_eq!(now.registry.insecure, ["r:5000"]);
        assert!(f.reload(r#"{"log-level": "debug", "max-concurrent-downloads": 9, "log-opts": {"max-size": "1m"}, "insecure-registries": ["r:5000"]}"#).unwrap().is_empty());
    }

    #[test]
    fn a_bad_file_keeps_the_old_options() {
        let f = fixture(r#"{"max-concurrent-uploads": 2}"#, &["--debug"]);
        for bad in [
            r#"{"max-concurrent-uploads": "x"}"#,
            r#"{"nonsense": 1}"#,
            r#"{"debug": true}"#,
            r#"{"log-opts": {"bogus": "1"}}"#,
            "{",
        ] {
            assert!(f.reload(bad).is_err(), "{bad}");
            let now = f.live.get();
            assert_eq!(now.max_concurrent_uploads, 2, "{bad}");
            assert_eq!(now.log_level, "debug", "{bad}");
        }
        let e = f.reload(r#"{"debug": true}"#).unwrap_err().to_string();
        assert!(e.contains("debug"), "{e}");
    }

    #[test]
    fn the_reload_event_lists_the_options_in_force() {
        let f = fixture(
            r#"{"insecure-registries": ["r:5000"], "max-concurrent-uploads": 2}"#,
            &["--debug"],
        );
        let a = event_attributes(&f.live.get());
        assert_eq!(a["debug"], "true");
        assert_eq!(a["insecure-registries"], r#"["r:5000"]"#);
        assert_eq!(a["registry-mirrors"], "[]");
        assert_eq!(a["max-concurrent-uploads"], "2");
        assert!(a.contains_key("name"));
    }

    #[test]
    fn restart_only_options_are_detected() {
        let f = fixture("{}", &[]);
        let mut other = f.started.clone();
        other.bridge = "berth9".into();
        other.data_root = "/elsewhere".into();
        assert_eq!(needs_restart(&f.started, &other), ["data-root", "bridge"]);
        assert!(needs_restart(&f.started, &f.started).is_empty());
    }
}
