//! berthd's configuration: command-line flags named like dockerd's, merged
//! with daemon.json. A key set both in the file and as a flag is an error, as
//! in dockerd, and so is a key the daemon does not know.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use clap::Parser;
use serde::Deserialize;

mod validate;
pub use validate::filter_directive;

/// Default daemon.json location.
pub const DEFAULT_CONFIG_FILE: &str = "/etc/berth/daemon.json";

/// berthd's command line.
#[derive(Debug, Clone, Parser)]
#[command(
    name = "berthd",
    version,
    about = "Berth container engine daemon (serves the Docker Engine API)"
)]
pub struct Flags {
    /// Daemon socket to listen on: unix:///path, fd:// (systemd socket activation) or tcp://ip:port (with --tlsverify); repeatable
    #[arg(short = 'H', long = "host")]
    pub hosts: Vec<String>,
    /// Root directory of persistent state
    #[arg(long)]
    pub data_root: Option<PathBuf>,
    /// Root directory of runtime state (sockets, pid files)
    #[arg(long)]
    pub exec_root: Option<PathBuf>,
    /// Path of the daemon's PID file
    #[arg(short = 'p', long)]
    pub pidfile: Option<PathBuf>,
    /// Daemon configuration file (daemon.json)
    #[arg(long, default_value = DEFAULT_CONFIG_FILE)]
    pub config_file: PathBuf,
    /// Group owning the API socket
    #[arg(short = 'G', long)]
    pub group: Option<String>,
    /// Enable debug logging
    #[arg(short = 'D', long)]
    pub debug: bool,
    /// Log level (debug, info, warn, error)
    #[arg(short = 'l', long)]
    pub log_level: Option<String>,
    /// Default driver for container logs (json-file, none)
    #[arg(long)]
    pub log_driver: Option<String>,
    /// Default log driver options (key=value, repeatable)
    #[arg(long = "log-opt", value_name = "key=value")]
    pub log_opts: Vec<String>,
    /// Linux bridge of the default "bridge" network (default berth0)
    #[arg(short = 'b', long)]
    pub bridge: Option<String>,
    /// Address and prefix of the default bridge (e.g. 10.200.0.1/24)
    #[arg(long)]
    pub bip: Option<String>,
    /// Manage firewall rules (nftables) for NAT and published ports
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub iptables: Option<bool>,
    /// Turn on net.ipv4.ip_forward
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub ip_forward: Option<bool>,
    /// Parent cgroup of all containers (relative to each hierarchy's root)
    #[arg(long)]
    pub cgroup_parent: Option<String>,
    /// Layers downloaded at once per pull (default 3)
    #[arg(long)]
    pub max_concurrent_downloads: Option<usize>,
    /// Layers uploaded at once per push (default 5)
    #[arg(long)]
    pub max_concurrent_uploads: Option<usize>,
    /// Registry (host[:port] or CIDR) reached over plain HTTP (repeatable)
    #[arg(long = "insecure-registry", value_name = "registry")]
    pub insecure_registries: Vec<String>,
    /// Docker Hub mirror URL tried first on pulls (repeatable)
    #[arg(long = "registry-mirror", value_name = "url")]
    pub registry_mirrors: Vec<String>,
    /// Keep containers running when berthd stops (default true)
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub live_restore: Option<bool>,
    /// Write the berthd.8 man page into this directory and exit (packaging)
    #[arg(long = "gen-man", hide = true, value_name = "dir")]
    pub gen_man: Option<PathBuf>,
    /// Serve TCP hosts over TLS, accepting only clients whose certificate the CA signed
    #[arg(long, num_args = 0..=1, require_equals = true, default_missing_value = "true")]
    pub tlsverify: Option<bool>,
    /// CA that client certificates must chain to (with --tlsverify)
    #[arg(long)]
    pub tlscacert: Option<PathBuf>,
    /// The daemon's TLS certificate (with --tlsverify)
    #[arg(long)]
    pub tlscert: Option<PathBuf>,
    /// The daemon's TLS key (with --tlsverify)
    #[arg(long)]
    pub tlskey: Option<PathBuf>,
    /// User/group for the containers' user namespaces: default, user, user:group or uid:gid
    #[arg(long)]
    pub userns_remap: Option<String>,
    /// Path to the default seccomp profile (Docker's JSON format), or "unconfined"
    #[arg(long)]
    pub seccomp_profile: Option<PathBuf>,
}

/// The keys of daemon.json berthd understands (dockerd's names).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    hosts: Option<Vec<String>>,
    #[serde(rename = "data-root")]
    data_root: Option<PathBuf>,
    #[serde(rename = "exec-root")]
    exec_root: Option<PathBuf>,
    pidfile: Option<PathBuf>,
    group: Option<String>,
    debug: Option<bool>,
    #[serde(rename = "log-level")]
    log_level: Option<String>,
    #[serde(rename = "log-driver")]
    log_driver: Option<String>,
    #[serde(rename = "log-opts")]
    log_opts: Option<BTreeMap<String, String>>,
    bridge: Option<String>,
    bip: Option<String>,
    iptables: Option<bool>,
    #[serde(rename = "ip-forward")]
    ip_forward: Option<bool>,
    #[serde(rename = "cgroup-parent")]
    cgroup_parent: Option<String>,
    #[serde(rename = "max-concurrent-downloads")]
    max_concurrent_downloads: Option<usize>,
    #[serde(rename = "max-concurrent-uploads")]
    max_concurrent_uploads: Option<usize>,
    #[serde(rename = "insecure-registries")]
    insecure_registries: Option<Vec<String>>,
    #[serde(rename = "registry-mirrors")]
    registry_mirrors: Option<Vec<String>>,
    #[serde(rename = "live-restore")]
    live_restore: Option<bool>,
    tlsverify: Option<bool>,
    tlscacert: Option<PathBuf>,
    tlscert: Option<PathBuf>,
    tlskey: Option<PathBuf>,
    #[serde(rename = "userns-remap")]
    userns_remap: Option<String>,
    #[serde(rename = "seccomp-profile")]
    seccomp_profile: Option<PathBuf>,
}

/// The effective configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The unix socket clients reach by default: the first `unix://` host,
    /// else `<exec-root>/berth.sock` (where berthd.socket puts it for `fd://`).
    pub socket: PathBuf,
    /// Every `-H` host served (default: `socket`).
    pub hosts: Vec<crate::listen::Host>,
    /// `--tlsverify` and its files, required by `tcp://` hosts.
    pub tls: Option<crate::listen::TlsFiles>,
    /// Persistent state.
    pub data_root: PathBuf,
    /// Runtime state.
    pub exec_root: PathBuf,
    /// PID file.
    pub pidfile: PathBuf,
    /// Group to own the socket, if it exists.
    pub group: String,
    /// tracing filter directive.
    pub log_level: String,
    /// The daemon.json that was read, if any.
    pub config_file: Option<PathBuf>,
    /// Containers' default log driver (`log-driver`, default json-file).
    pub log_driver: String,
    /// Containers' default log driver options (`log-opts`).
    pub log_opts: BTreeMap<String, String>,
    /// Linux bridge of the default network (`bridge`, default berth0).
    pub bridge: String,
    /// Its gateway address and prefix (`bip`); picked at start when unset.
    pub bip: Option<String>,
    /// Whether berthd manages nftables rules (`iptables`, default true).
    pub iptables: bool,
    /// Whether berthd turns on IPv4 forwarding (`ip-forward`, default true).
    pub ip_forward: bool,
    /// Parent cgroup of containers without their own `CgroupParent`
    /// (`cgroup-parent`, default [`DEFAULT_CGROUP_PARENT`]).
    pub cgroup_parent: String,
    /// Layers downloaded at once per pull (`max-concurrent-downloads`, default 3).
    pub max_concurrent_downloads: usize,
    /// Layers uploaded at once per push (`max-concurrent-uploads`, default 5).
    pub max_concurrent_uploads: usize,
    /// `insecure-registries` and `registry-mirrors`.
    pub registry: berth::image::registry::RegistryConfig,
    /// Whether containers keep running when berthd stops (`live-restore`,
    /// default true; false: a stop stops them all, see docs/lifecycle.md).
    pub live_restore: bool,
    /// `userns-remap`: the value resolved by [`crate::userns::setup`]; `None`
    /// (or empty) keeps containers in the host's user namespace.
    pub userns_remap: Option<String>,
    /// The containers' default seccomp profile (`seccomp-profile`: a file,
    /// `unconfined` or `builtin`); Docker's default when unset.
    pub seccomp_profile: Option<PathBuf>,
}

/// A configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// daemon.json could not be read.
    #[error("unable to read configuration file {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// daemon.json is not a valid JSON object.
    #[error("invalid configuration file {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// serde's description, with line and column.
        message: String,
    },
    /// daemon.json has keys berthd does not know (dockerd's wording).
    #[error(
        "unable to configure the daemon with file {path}: the following directives don't match any configuration option: {keys}"
    )]
    UnknownKeys {
        /// The file.
        path: PathBuf,
        /// The unknown keys, comma-separated.
        keys: String,
    },
    /// A daemon.json key holds a value of the wrong type or an invalid one.
    #[error(
        "unable to configure the daemon with file {path}: invalid value for {key:?}: {message}"
    )]
    Value {
        /// The file.
        path: PathBuf,
        /// The key.
        key: String,
        /// What is wrong with its value.
        message: String,
    },
    /// `--log-level` names no level dockerd knows.
    #[error("unable to parse logging level: {0}")]
    LogLevel(String),
    /// Keys set both as a flag and in the file (all of them, as dockerd).
    #[error(
        "unable to configure the daemon with file {path}: the following directives are specified both as a flag and in the configuration file: {clashes}"
    )]
    Conflict {
        /// The file.
        path: PathBuf,
        /// `key: (from flag: v, from file: w)` for each key, by name.
        clashes: String,
    },
    /// A `-H` host or TLS setting berthd cannot serve.
    #[error(transparent)]
    Listen(#[from] crate::listen::ListenError),
    /// A `--log-opt` that is not `key=value`.
    #[error("invalid key/value pair format in --log-opt: {0}")]
    LogOpt(String),
}

/// Writes berthd's man page (section 8, like dockerd's), generated from
/// [`Flags`], into `dir`; returns the file written.
pub fn write_man_page(dir: &Path) -> std::io::Result<PathBuf> {
    use clap::CommandFactory;
    std::fs::create_dir_all(dir)?;
    clap_mangen::Man::new(Flags::command())
        .section("8")
        .generate_to(dir)
}

/// Linux bridge of the default network when neither flag nor file names one.
pub const DEFAULT_BRIDGE: &str = "berth0";
/// Default parent cgroup (dockerd's cgroupfs driver uses `/docker`).
pub const DEFAULT_CGROUP_PARENT: &str = "berth";

/// Default log driver, as dockerd's.
pub const DEFAULT_LOG_DRIVER: &str = "json-file";

/// `--log-opt k=v` flags as a map (a later key wins, as in dockerd).
fn log_opt_flags(opts: &[String]) -> Result<Option<BTreeMap<String, String>>, ConfigError> {
    if opts.is_empty() {
        return Ok(None);
    }
    let mut map = BTreeMap::new();
    for o in opts {
        let (k, v) = o
            .split_once('=')
            .ok_or_else(|| ConfigError::LogOpt(o.clone()))?;
        map.insert(k.to_owned(), v.to_owned());
    }
    Ok(Some(map))
}

/// Merges each key's flag and file values, collecting the keys given both
/// ways so that one error names them all, as dockerd's does.
#[derive(Default)]
struct Merger {
    clashes: BTreeMap<&'static str, String>,
}

impl Merger {
    /// The flag's value or else the file's; both set is a clash (the flag's
    /// value is returned so resolution can go on and find the others).
    fn take<T: serde::Serialize>(
        &mut self,
        key: &'static str,
        flag: Option<T>,
        file: Option<T>,
    ) -> Option<T> {
        match (flag, file) {
            (Some(a), Some(b)) => {
                let clash = format!(
                    "{key}: (from flag: {}, from file: {})",
                    go_value(&a),
                    go_value(&b)
                );
                self.clashes.insert(key, clash);
                Some(a)
            }
            (a, b) => a.or(b),
        }
    }

    fn finish(self, path: &Path) -> Result<(), ConfigError> {
        if self.clashes.is_empty() {
            return Ok(());
        }
        Err(ConfigError::Conflict {
            path: path.to_path_buf(),
            clashes: self.clashes.into_values().collect::<Vec<_>>().join(", "),
        })
    }
}

/// A value as Go's `%v` prints it in dockerd's message: strings bare,
/// lists as `[a b]`, maps as `map[k:v]`.
fn go_value(v: &impl serde::Serialize) -> String {
    fn show(v: &serde_json::Value) -> String {
        match v {
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => {
                format!("[{}]", a.iter().map(show).collect::<Vec<_>>().join(" "))
            }
            serde_json::Value::Object(o) => format!(
                "map[{}]",
                o.iter()
                    .map(|(k, v)| format!("{k}:{}", show(v)))
                    .collect::<Vec<_>>()
                    .join(" ")
            ),
            other => other.to_string(),
        }
    }
    serde_json::to_value(v).map_or_else(|e| e.to_string(), |v| show(&v))
}

fn read_file(path: &Path, explicit: bool) -> Result<Option<FileConfig>, ConfigError> {
    match std::fs::read(path) {
        Ok(bytes) => validate::parse_file(path, &bytes).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !explicit => Ok(None),
        Err(source) => Err(ConfigError::Read {
            path: path.to_path_buf(),
            source,
        }),
    }
}

impl Config {
    /// Builds the effective configuration from flags and daemon.json.
    pub fn resolve(flags: Flags) -> Result<Config, ConfigError> {
        let explicit = flags.config_file.as_path() != Path::new(DEFAULT_CONFIG_FILE);
        let file = read_file(&flags.config_file, explicit)?;
        let loaded = file.as_ref().map(|_| flags.config_file.clone());
        let file = file.unwrap_or_default();
        let mut m = Merger::default();
        let hosts = m.take(
            "hosts",
            Some(flags.hosts).filter(|h| !h.is_empty()),
            file.hosts,
        );
        let data_root = m.take("data-root", flags.data_root, file.data_root);
        let exec_root = m.take("exec-root", flags.exec_root, file.exec_root);
        let pidfile = m.take("pidfile", flags.pidfile, file.pidfile);
        let group = m.take("group", flags.group, file.group);
        let debug = m
            .take("debug", flags.debug.then_some(true), file.debug)
            .unwrap_or(false);
        let log_level = m.take("log-level", flags.log_level, file.log_level);
        let log_driver = m.take("log-driver", flags.log_driver, file.log_driver);
        let log_flags = log_opt_flags(&flags.log_opts)?;
        let log_opts = m.take("log-opts", log_flags, file.log_opts);
        let bridge = m.take("bridge", flags.bridge, file.bridge);
        let bip = m.take("bip", flags.bip, file.bip);
        let iptables = m.take("iptables", flags.iptables, file.iptables);
        let ip_forward = m.take("ip-forward", flags.ip_forward, file.ip_forward);
        let cgroup_parent = m.take("cgroup-parent", flags.cgroup_parent, file.cgroup_parent);
        let downloads = m.take(
            "max-concurrent-downloads",
            flags.max_concurrent_downloads,
            file.max_concurrent_downloads,
        );
        let uploads = m.take(
            "max-concurrent-uploads",
            flags.max_concurrent_uploads,
            file.max_concurrent_uploads,
        );
        let insecure = m.take(
            "insecure-registries",
            Some(flags.insecure_registries).filter(|v| !v.is_empty()),
            file.insecure_registries,
        );
        let mirrors = m.take(
            "registry-mirrors",
            Some(flags.registry_mirrors).filter(|v| !v.is_empty()),
            file.registry_mirrors,
        );
        let live_restore = m.take("live-restore", flags.live_restore, file.live_restore);
        let seccomp_profile = m.take(
            "seccomp-profile",
            flags.seccomp_profile,
            file.seccomp_profile,
        );
        let userns_remap = m.take("userns-remap", flags.userns_remap, file.userns_remap);
        let tlsverify = m.take("tlsverify", flags.tlsverify, file.tlsverify);
        let tlscacert = m.take("tlscacert", flags.tlscacert, file.tlscacert);
        let tlscert = m.take("tlscert", flags.tlscert, file.tlscert);
        let tlskey = m.take("tlskey", flags.tlskey, file.tlskey);
        m.finish(&flags.config_file)?;
        if let Some(level) = &log_level {
            validate::check_log_level(level)?;
        }
        let exec_root = exec_root.unwrap_or_else(|| PathBuf::from("/run/berth"));
        let default_socket = exec_root.join("berth.sock");
        let hosts = match hosts.as_deref() {
            None | Some([]) => vec![crate::listen::Host::Unix(default_socket.clone())],
            Some(many) => many
                .iter()
                .map(|h| crate::listen::parse_host(h))
                .collect::<Result<_, _>>()?,
        };
        let socket = hosts
            .iter()
            .find_map(|h| match h {
                crate::listen::Host::Unix(p) => Some(p.clone()),
                _ => None,
            })
            .unwrap_or(default_socket);
        let tls = crate::listen::tls_for(
            &hosts,
            tlsverify.unwrap_or(false),
            tlscacert,
            tlscert,
            tlskey,
        )?;
        Ok(Config {
            socket,
            hosts,
            tls,
            data_root: data_root.unwrap_or_else(|| PathBuf::from("/var/lib/berth")),
            pidfile: pidfile.unwrap_or_else(|| exec_root.join("berthd.pid")),
            exec_root,
            group: group.unwrap_or_else(|| "berth".to_owned()),
            log_level: if debug {
                "debug".to_owned()
            } else {
                log_level.unwrap_or_else(|| "info".to_owned())
            },
            config_file: loaded,
            log_driver: log_driver
                .filter(|d| !d.is_empty())
                .unwrap_or_else(|| DEFAULT_LOG_DRIVER.to_owned()),
            log_opts: log_opts.unwrap_or_default(),
            bridge: bridge
                .filter(|b| !b.is_empty())
                .unwrap_or_else(|| DEFAULT_BRIDGE.to_owned()),
            bip: bip.filter(|b| !b.is_empty()),
            iptables: iptables.unwrap_or(true),
            ip_forward: ip_forward.unwrap_or(true),
            cgroup_parent: cgroup_parent
                .filter(|p| !p.is_empty())
                .unwrap_or_else(|| DEFAULT_CGROUP_PARENT.to_owned()),
            // dockerd refuses 0 too; 1 is the least that makes progress.
            max_concurrent_downloads: downloads.unwrap_or(3).max(1),
            max_concurrent_uploads: uploads.unwrap_or(5).max(1),
            registry: berth::image::registry::RegistryConfig {
                insecure: insecure.unwrap_or_default(),
                mirrors: mirrors.unwrap_or_default(),
            },
            live_restore: live_restore.unwrap_or(true),
            userns_remap: userns_remap.filter(|v| !v.is_empty()),
            seccomp_profile: seccomp_profile.filter(|p| !p.as_os_str().is_empty()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(args: &[&str]) -> Flags {
        Flags::parse_from(std::iter::once("berthd").chain(args.iter().copied()))
    }

    #[test]
    fn every_flag_and_file_clash_is_named_as_dockerd_does() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("daemon.json");
        std::fs::write(
            &cfg,
            r#"{"log-level": "warn", "debug": false, "bridge": "x", "insecure-registries": ["a", "b"]}"#,
        )
        .unwrap();
        let cfg_arg = cfg.to_str().unwrap();
        let err = Config::resolve(flags(&[
            "--config-file",
            cfg_arg,
            "--log-level",
            "info",
            "--debug",
            "--bridge",
            "y",
            "--insecure-registry",
            "c",
        ]))
        .unwrap_err();
        // dockerd 20.10's message for the same flags and file, but for its
        // "the Docker daemon" (recorded with /usr/sbin/dockerd).
        assert_eq!(
            err.to_string(),
            format!(
                "unable to configure the daemon with file {cfg_arg}: the following directives are specified both as a flag and in the configuration file: bridge: (from flag: y, from file: x), debug: (from flag: true, from file: false), insecure-registries: (from flag: [c], from file: [a b]), log-level: (from flag: info, from file: warn)"
            )
        );
    }

    #[test]
    fn defaults_match_the_design() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("absent.json");
        // An explicitly named file must exist.
        assert!(Config::resolve(flags(&["--config-file", cfg.to_str().unwrap()])).is_err());
        std::fs::write(&cfg, "{}").unwrap();
        let c = Config::resolve(flags(&["--config-file", cfg.to_str().unwrap()])).unwrap();
        assert_eq!(c.data_root, PathBuf::from("/var/lib/berth"));
        assert_eq!(c.socket, PathBuf::from("/run/berth/berth.sock"));
        assert_eq!(c.pidfile, PathBuf::from("/run/berth/berthd.pid"));
    }

    #[test]
    fn file_keys_apply_and_clash_with_flags() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("daemon.json");
        std::fs::write(
            &cfg,
            r#"{"data-root": "/srv/berth", "hosts": ["unix:///tmp/b.sock"]}"#,
        )
        .unwrap();
        let c = Config::resolve(flags(&["--config-file", cfg.to_str().unwrap()])).unwrap();
        assert_eq!(c.data_root, PathBuf::from("/srv/berth"));
        assert_eq!(c.socket, PathBuf::from("/tmp/b.sock"));
        let err = Config::resolve(flags(&[
            "--config-file",
            cfg.to_str().unwrap(),
            "--data-root",
            "/x",
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("data-root"), "{err}");
    }

    #[test]
    fn unknown_keys_and_bad_types_name_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("daemon.json");
        std::fs::write(&cfg, r#"{"data-rooot": "/x"}"#).unwrap();
        let err = Config::resolve(flags(&["--config-file", cfg.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("data-rooot"), "{err}");
        std::fs::write(&cfg, r#"{"debug": "yes"}"#).unwrap();
        let err = Config::resolve(flags(&["--config-file", cfg.to_str().unwrap()])).unwrap_err();
        assert!(err.to_string().contains("invalid type"), "{err}");
    }

    #[test]
    fn cgroup_parent_defaults_to_berth_and_comes_from_flag_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("daemon.json");
        let path = cfg.to_str().unwrap();
        std::fs::write(&cfg, "{}").unwrap();
        let c = Config::resolve(flags(&["--config-file", path])).unwrap();
        assert_eq!(c.cgroup_parent, "berth");
        let c =
            Config::resolve(flags(&["--config-file", path, "--cgroup-parent", "/x/y"])).unwrap();
        assert_eq!(c.cgroup_parent, "/x/y");
        std::fs::write(&cfg, r#"{"cgroup-parent": "from-file"}"#).unwrap();
        let c = Config::resolve(flags(&["--config-file", path])).unwrap();
        assert_eq!(c.cgroup_parent, "from-file");
        let err =
            Config::resolve(flags(&["--config-file", path, "--cgroup-parent", "a"])).unwrap_err();
        assert!(err.to_string().contains("cgroup-parent"), "{err}");
    }

    #[test]
    fn log_defaults_come_from_flags_or_file_not_both() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("daemon.json");
        let path = cfg.to_str().unwrap();
        std::fs::write(&cfg, "{}").unwrap();
        let c = Config::resolve(flags(&["--config-file", path])).unwrap();
        assert_eq!(c.log_driver, "json-file");
        assert!(c.log_opts.is_empty());
        let c = Config::resolve(flags(&[
            "--config-file",
            path,
            "--log-driver",
            "none",
            "--log-opt",
            "max-size=1m",
            "--log-opt",
            "max-file=2",
        ]))
        .unwrap();
        assert_eq!(c.log_driver, "none");
        assert_eq!(c.log_opts["max-size"], "1m");
        assert_eq!(c.log_opts["max-file"], "2");
        let err =
            Config::resolve(flags(&["--config-file", path, "--log-opt", "nope"])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid key/value pair format in --log-opt: nope"
        );
        std::fs::write(
            &cfg,
            r#"{"log-driver": "json-file", "log-opts": {"max-size": "10m"}}"#,
        )
        .unwrap();
        let c = Config::resolve(flags(&["--config-file", path])).unwrap();
        assert_eq!(c.log_opts["max-size"], "10m");
        let err = Config::resolve(flags(&["--config-file", path, "--log-opt", "max-file=3"]))
            .unwrap_err();
        assert!(err.to_string().contains("log-opts"), "{err}");
        let err =
            Config::resolve(flags(&["--config-file", path, "--log-driver", "none"])).unwrap_err();
        assert!(err.to_string().contains("log-driver"), "{err}");
    }

    #[test]
    fn network_settings_come_from_flags_or_file_not_both() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("daemon.json");
        let path = cfg.to_str().unwrap();
        std::fs::write(&cfg, "{}").unwrap();
        let c = Config::resolve(flags(&["--config-file", path])).unwrap();
        assert_eq!(c.bridge, "berth0");
        assert_eq!(c.bip, None);
        assert!(c.iptables && c.ip_forward);
        let c = Config::resolve(flags(&[
            "--config-file",
            path,
            "--bridge",
            "berthx",
            "--bip",
            "10.201.0.1/24",
            "--iptables=false",
        ]))
        .unwrap();
        assert_eq!(c.bridge, "berthx");
        assert_eq!(c.bip.as_deref(), Some("10.201.0.1/24"));
        assert!(!c.iptables);
        std::fs::write(
            &cfg,
            r#"{"bridge": "berthy", "bip": "10.202.0.1/24", "iptables": false, "ip-forward": false}"#,
        )
        .unwrap();
        let c = Config::resolve(flags(&["--config-file", path])).unwrap();
        assert_eq!(c.bridge, "berthy");
        assert!(!c.iptables && !c.ip_forward);
        let err =
            Config::resolve(flags(&["--config-file", path, "--bip", "10.1.0.1/24"])).unwrap_err();
        assert!(err.to_string().contains("bip"), "{err}");
    }

    #[test]
    fn registry_keys_come_from_flags_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("daemon.json");
        let path = cfg.to_str().unwrap();
        std::fs::write(&cfg, "{}").unwrap();
        let c = Config::resolve(flags(&["--config-file", path])).unwrap();
        assert_eq!(
            (c.max_concurrent_downloads, c.max_concurrent_uploads),
            (3, 5)
        );
        assert!(c.registry.insecure.is_empty() && c.registry.mirrors.is_empty());
        let c = Config::resolve(flags(&[
            "--config-file",
            path,
            "--max-concurrent-downloads",
            "7",
            "--insecure-registry",
            "a:5000",
            "--insecure-registry",
            "10.0.0.0/8",
            "--registry-mirror",
            "https://m.example",
        ]))
        .unwrap();
        assert_eq!(c.max_concurrent_downloads, 7);
        assert_eq!(c.registry.insecure, ["a:5000", "10.0.0.0/8"]);
        assert_eq!(c.registry.mirrors, ["https://m.example"]);
        std::fs::write(
            &cfg,
            r#"{"max-concurrent-downloads": 1, "max-concurrent-uploads": 2,
                "insecure-registries": ["r:1"], "registry-mirrors": []}"#,
        )
        .unwrap();
        let c = Config::resolve(flags(&["--config-file", path])).unwrap();
        assert_eq!(
            (c.max_concurrent_downloads, c.max_concurrent_uploads),
            (1, 2)
        );
        assert_eq!(c.registry.insecure, ["r:1"]);
        let err = Config::resolve(flags(&["--config-file", path, "--insecure-registry", "x"]))
            .unwrap_err();
        assert!(err.to_string().contains("insecure-registries"), "{err}");
    }

    #[test]
    fn live_restore_defaults_to_true_and_comes_from_flag_or_file() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("daemon.json");
        let path = cfg.to_str().unwrap();
        std::fs::write(&cfg, "{}").unwrap();
        let c = Config::resolve(flags(&["--config-file", path])).unwrap();
        assert!(c.live_restore);
        let c = Config::resolve(flags(&["--config-file", path, "--live-restore=false"])).unwrap();
        assert!(!c.live_restore);
        let c = Config::resolve(flags(&["--config-file", path, "--live-restore"])).unwrap();
        assert!(c.live_restore);
        std::fs::write(&cfg, r#"{"live-restore": false}"#).unwrap();
        let c = Config::resolve(flags(&["--config-file", path])).unwrap();
        assert!(!c.live_restore);
        let err = Config::resolve(flags(&["--config-file", path, "--live-restore"])).unwrap_err();
        assert!(err.to_string().contains("live-restore"), "{err}");
    }

    #[test]
    fn tcp_hosts_need_tlsverify() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = dir.path().join("daemon.json");
        let path = cfg.to_str().unwrap();
        std::fs::write(&cfg, "{}").unwrap();
        let err = Config::resolve(flags(&[
            "--config-file",
            path,
            "-H",
            "tcp://127.0.0.1:2376",
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("without --tlsverify"), "{err}");
        std::fs::write(
            &cfg,
            r#"{"tlsverify": true, "tlscacert": "/ca.pem", "tlscert": "/c.pem", "tlskey": "/k.pem"}"#,
        )
        .unwrap();
        let c = Config::resolve(flags(&[
            "--config-file",
            path,
            "-H",
            "fd://",
            "-H",
            "tcp://127.0.0.1:2376",
        ]))
        .unwrap();
        assert_eq!(c.hosts.len(), 2);
        assert_eq!(c.socket, PathBuf::from("/run/berth/berth.sock"));
        assert_eq!(c.tls.unwrap().key, PathBuf::from("/k.pem"));
        let err =
            Config::resolve(flags(&["--config-file", path, "--tlskey", "/x.pem"])).unwrap_err();
        assert!(err.to_string().contains("tlskey"), "{err}");
    }
}
