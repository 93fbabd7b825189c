//! What the daemon asks the runtime to run: one [`ContainerSpec`], written as
//! `<run_dir>/spec.json` and read by the supervisor.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::error::RuntimeError;

/// Version of the [`ContainerSpec`] format this runtime reads and writes.
pub const SPEC_VERSION: u32 = 1;

/// A container's runtime configuration, already resolved by the daemon from
/// the image config and the create request.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContainerSpec {
    /// [`SPEC_VERSION`].
    pub version: u32,
    /// The container ID.
    pub id: String,
    /// Overlay lower dirs (the snapshots' `diff` dirs), lowest layer first.
    pub layers: Vec<PathBuf>,
    /// The writable overlay upper dir, created by the daemon.
    pub upper: PathBuf,
    /// The overlay work dir (same filesystem as `upper`), created by the daemon.
    pub work: PathBuf,
    /// Entrypoint and Cmd as Docker combines them; never empty.
    pub args: Vec<String>,
    /// `KEY=value` entries for the process environment.
    pub env: Vec<String>,
    /// Working directory inside the container; created when missing; "" means "/".
    pub cwd: String,
    /// Docker's `user[:group]`, names or numbers, resolved in the container's
    /// `/etc/passwd` and `/etc/group`; "" means root.
    pub user: String,
    /// The container's hostname (UTS namespace, `/etc/hostname`, `/etc/hosts`);
    /// "" means the first 12 characters of the ID, as with Docker.
    pub hostname: String,
    /// Whether the process gets a terminal (Docker's `Tty`): a pty allocated
    /// in the container's own `/dev/pts` (so it is `/dev/pts/0`), bound on
    /// `/dev/console`, the controlling terminal of a new session and the
    /// process' stdin, stdout and stderr. Its output arrives as one stream
    /// ([`Event::Stdout`](super::client::Event::Stdout)). `TERM` is whatever
    /// [`env`](Self::env) says (Docker's daemon adds `TERM=xterm`).
    pub tty: bool,
    /// Whether stdin is a pipe the daemon writes to (else `/dev/null`).
    pub open_stdin: bool,
    /// The container's dir under the data root; the supervisor writes `exit.json` here.
    pub state_dir: PathBuf,
    /// The container's dir under the exec root: `spec.json`, `sup.sock`,
    /// `supervisor.json`, the generated `/etc/hostname`, `/etc/hosts` and
    /// `/etc/resolv.conf` (bound over the image's files, as Docker does), the
    /// rootfs mount point.
    pub run_dir: PathBuf,
    /// Initial terminal size `[rows, cols]` with [`tty`](Self::tty) (Docker's
    /// `ConsoleSize` is `[height, width]` too); `None` or a zero leaves the
    /// kernel's 0x0. Later changes: [`Control::resize`](super::client::Control::resize).
    #[serde(default)]
    pub console_size: Option<[u16; 2]>,
    /// Resource limits set before exec (Docker's `Ulimits`); every other
    /// limit is inherited from the daemon, as with Docker.
    #[serde(default)]
    pub rlimits: Vec<Rlimit>,
    /// Remount the root read-only after the standard mounts (Docker's
    /// `ReadonlyRootfs`); `/dev`, `/dev/shm`, `/proc` and the `/etc` files stay writable.
    #[serde(default)]
    pub readonly_rootfs: bool,
    /// Docker's `Privileged`: every capability in the supervisor's own bounding
    /// set ([`cap_add`](Self::cap_add)/[`cap_drop`](Self::cap_drop) are then
    /// ignored, as with Docker), no masked or read-only paths, `/sys`
    /// read-write, and the host's device nodes (see [`super::devices`]).
    #[serde(default)]
    pub privileged: bool,
    /// Capabilities added to Docker's default set (Docker's `CapAdd`): names
    /// with or without `CAP_`, any case, or `ALL`. See [`super::capabilities::effective_set`].
    #[serde(default)]
    pub cap_add: Vec<String>,
    /// Capabilities removed from Docker's default set (Docker's `CapDrop`), same names.
    #[serde(default)]
    pub cap_drop: Vec<String>,
    /// Set `no_new_privs` before exec (`--security-opt no-new-privileges`).
    #[serde(default)]
    pub no_new_privileges: bool,
    /// The seccomp program the init loads (Docker's default profile, the
    /// daemon's `seccomp-profile` or `--security-opt seccomp=<json>`,
    /// compiled by the daemon for the container's final capability set);
    /// `None` runs unconfined (`--privileged`, `seccomp=unconfined`).
    #[serde(default)]
    pub seccomp: Option<super::seccomp::Filter>,
    /// The AppArmor profile the init's `execve` enters (chosen by the
    /// daemon, see [`super::apparmor`]); `None` where the kernel has none.
    #[serde(default)]
    pub apparmor_profile: Option<String>,
    /// Supplementary groups added to the user's own (Docker's `GroupAdd`):
    /// names resolved in the container's `/etc/group`, or numbers.
    #[serde(default)]
    pub group_add: Vec<String>,
    /// How the supervisor logs the container's output (Docker's
    /// `HostConfig.LogConfig`, validated by [`crate::logging::LogConfig::from_docker`]);
    /// json-file without rotation when absent.
    #[serde(default)]
    pub log: crate::logging::LogConfig,
    /// The container's cgroup and its limits: created by the supervisor
    /// before the init is forked, joined by the init before it unshares the
    /// cgroup namespace, removed after the exit. `None`: the container stays
    /// in the supervisor's cgroups.
    #[serde(default)]
    pub cgroup: Option<CgroupSpec>,
    /// Binds, volumes and tmpfs mounts (Docker's `Mounts`), made by the init
    /// after the standard mounts and before `pivot_root`; see [`super::mounts`].
    #[serde(default)]
    pub mounts: Vec<super::mounts::MountSpec>,
    /// A network namespace prepared by the daemon (a bind-mounted nsfs file,
    /// or `/proc/<pid>/ns/net` of another container) that the init joins
    /// instead of unsharing a fresh one with only `lo`.
    #[serde(default)]
    pub netns: Option<PathBuf>,
    /// Docker's `--network host`: no network namespace of its own (wins over
    /// [`netns`](Self::netns)).
    #[serde(default)]
    pub host_network: bool,
    /// What goes into the generated `/etc/hosts` and `/etc/resolv.conf`.
    #[serde(default)]
    pub etc: EtcSpec,
    /// The uid/gid maps of the container's own user namespace (the daemon's
    /// `--userns-remap`); `None` keeps the host's. See [`super::userns`].
    #[serde(default)]
    pub userns: Option<super::userns::IdMapping>,
}

/// The inputs of the generated `/etc/hosts` and `/etc/resolv.conf` (see
/// [`super::etc`]); the default is a container with only `lo`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EtcSpec {
    /// The container's own IPv4 addresses; `/etc/hosts` maps the hostname to
    /// the first (to 127.0.0.1 when there is none).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// Docker's `ExtraHosts`, `name:address` each.
    #[serde(default)]
    pub extra_hosts: Vec<String>,
    /// Docker's `Dns`: nameservers replacing the host's.
    #[serde(default)]
    pub dns: Vec<String>,
    /// Docker's `DnsSearch`: replaces the host's search domains.
    #[serde(default)]
    pub dns_search: Vec<String>,
    /// Docker's `DnsOptions`: replaces the host's options.
    #[serde(default)]
    pub dns_options: Vec<String>,
    /// The daemon's resolver answers on 127.0.0.11 in the container (user
    /// networks): resolv.conf names only it, with `options ndots:0`.
    #[serde(default)]
    pub embedded_dns: bool,
    /// The host's own `/etc/hosts` and unfiltered `/etc/resolv.conf`
    /// (Docker's `--network host`).
    #[serde(default)]
    pub host_files: bool,
}

/// Where a container's cgroup goes and what limits it starts with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CgroupSpec {
    /// The cgroup dirs ([`Hierarchy::container`](super::cgroups::Hierarchy::container)).
    pub paths: super::cgroups::CgroupPaths,
    /// The limits applied at creation.
    pub resources: super::cgroups::Resources,
}

/// One resource limit, as Docker's `Ulimits` entries give it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rlimit {
    /// Docker's short name: `nofile`, `nproc`, `core`, `memlock`, `stack`,
    /// `cpu`, `fsize`, ... (see [`super::rlimits::NAMES`]).
    pub name: String,
    /// Soft limit; `u64::MAX` is unlimited (Docker's `-1`).
    pub soft: u64,
    /// Hard limit; `u64::MAX` is unlimited (Docker's `-1`).
    pub hard: u64,
}

impl ContainerSpec {
    /// The hostname the container gets: [`hostname`](Self::hostname), or the
    /// short ID when that is empty.
    pub fn effective_hostname(&self) -> &str {
        if self.hostname.is_empty() {
            self.id.get(..12).unwrap_or(&self.id)
        } else {
            &self.hostname
        }
    }

    /// Checks what the runtime relies on: the version, a command, absolute paths.
    pub fn validate(&self) -> Result<(), RuntimeError> {
        let invalid = |detail: String| RuntimeError::InvalidSpec {
            id: self.id.clone(),
            detail,
        };
        if self.version != SPEC_VERSION {
            return Err(invalid(format!(
                "spec version {} is not {SPEC_VERSION}",
                self.version
            )));
        }
        if self.args.is_empty() || self.args[0].is_empty() {
            return Err(invalid("no command specified".into()));
        }
        super::capabilities::effective_set(self.privileged, &self.cap_add, &self.cap_drop)
            .map_err(invalid)?;
        super::rlimits::check(&self.rlimits).map_err(|e| match e {
            super::rlimits::RlimitError::Unknown { .. } => invalid(e.to_string()),
            super::rlimits::RlimitError::Sys { .. } => RuntimeError::Init {
                message: e.to_string(),
            },
            _ => RuntimeError::Ulimit {
                message: e.to_string(),
            },
        })?;
        if let Some(m) = &self.userns {
            m.validate().map_err(invalid)?;
        }
        if self.hostname.len() > 64 || self.hostname.contains(['\0', '\n']) {
            return Err(invalid(format!("invalid hostname {:?}", self.hostname)));
        }
        let paths = self
            .layers
            .iter()
            .chain([&self.upper, &self.work, &self.state_dir, &self.run_dir])
            .chain(&self.netns);
        for p in paths {
            if !p.is_absolute() {
                return Err(invalid(format!("path {} is not absolute", p.display())));
            }
        }
        for a in self.args.iter().chain(&self.env) {
            if a.contains('\0') {
                return Err(invalid(format!("{a:?} contains a nul byte")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A valid spec rooted at `/r`.
    pub(crate) fn sample() -> ContainerSpec {
        ContainerSpec {
            version: SPEC_VERSION,
            id: "abc".into(),
            layers: vec!["/r/l1".into(), "/r/l2".into()],
            upper: "/r/upper".into(),
            work: "/r/work".into(),
            args: vec!["echo".into(), "hi".into()],
            env: vec!["PATH=/bin".into()],
            cwd: "/".into(),
            user: String::new(),
            hostname: "abc".into(),
            tty: false,
            open_stdin: false,
            state_dir: "/r/state".into(),
            run_dir: "/r/run".into(),
            ..ContainerSpec::default()
        }
    }

    #[test]
    fn sample_is_valid_and_round_trips() {
        let s = sample();
        s.validate().unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(serde_json::from_str::<ContainerSpec>(&json).unwrap(), s);
    }

    #[test]
    fn empty_hostname_means_short_id() {
        let mut s = sample();
        s.id = "0123456789abcdef".into();
        s.hostname.clear();
        s.validate().unwrap();
        assert_eq!(s.effective_hostname(), "0123456789ab");
    }

    #[test]
    fn bad_specs_are_rejected_with_the_reason() {
        let mut s = sample();
        s.args.clear();
        assert!(s.validate().unwrap_err().to_string().contains("no command"));
        let mut s = sample();
        s.upper = "rel".into();
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("rel is not absolute")
        );
        let mut s = sample();
        s.version = 9;
        assert!(s.validate().is_err());
        let mut s = sample();
        s.cap_add = vec!["foo".into()];
        assert_eq!(
            s.validate().unwrap_err().to_string(),
            "invalid container spec for abc: unknown capability: \"CAP_FOO\""
        );
        let mut s = sample();
        s.rlimits = vec![Rlimit {
            name: "nofiles".into(),
            soft: 1,
            hard: 1,
        }];
        assert!(
            s.validate()
                .unwrap_err()
                .to_string()
                .contains("invalid ulimit type: nofiles")
        );
    }

    #[test]
    fn older_spec_files_still_read() {
        let mut json: serde_json::Value = serde_json::to_value(sample()).unwrap();
        for f in [
            "console_size",
            "rlimits",
            "readonly_rootfs",
            "privileged",
            "cap_add",
            "cap_drop",
            "no_new_privileges",
            "seccomp",
            "group_add",
            "log",
            "netns",
            "host_network",
            "etc",
            "cgroup",
            "mounts",
            "userns",
        ] {
            json.as_object_mut().unwrap().remove(f).unwrap();
        }
        let s: ContainerSpec = serde_json::from_value(json).unwrap();
        assert_eq!(s, sample());
    }
}
