//! The daemon's `--userns-remap` (daemon.json `userns-remap`), as dockerd's:
//! every container, unless it asks for `--userns=host`, runs in a user
//! namespace of its own whose root is an unprivileged host user.
//!
//! Values: `default` (the user and group `berthremap`, created with
//! `useradd` when missing and given a free 65536-id range in `/etc/subuid`
//! and `/etc/subgid`, like dockerd's `dockremap`), `user` (group of the same
//! name), `user:group`, or numeric `uid:gid`. The ranges come from
//! `/etc/subuid` (the user's name or uid) and `/etc/subgid` (the group's name
//! or gid), laid end to end from container id 0.
//!
//! Storage: image layers stay shared and unchowned; the runtime idmaps them
//! (kernel idmapped mounts) in the container's mount namespace, so unlike
//! dockerd there is no separate `<data-root>/<uid>.<gid>/` tree with chowned
//! copies (see [`berth::runtime::userns`]).

use std::path::{Path, PathBuf};
use std::process::Command;

use berth::api::models::HostConfig;
use berth::runtime::userns::{
    IdMapping, SubordinateRange, UsernsError, maps_from_ranges, parse_subordinate,
};

use crate::containers::netcfg::NetMode;
use crate::error::{ApiError, ApiResult};

/// The user (and group) `default` stands for.
pub const DEFAULT_USER: &str = "berthremap";
/// Where ranges for [`DEFAULT_USER`] are looked for first (dockerd's choice).
const DEFAULT_RANGE_START: u32 = 100_000;
/// The size of the range given to [`DEFAULT_USER`].
const DEFAULT_RANGE_SIZE: u32 = 65_536;
/// The host's subordinate uid ranges.
pub const SUBUID_FILE: &str = "/etc/subuid";
/// The host's subordinate gid ranges.
pub const SUBGID_FILE: &str = "/etc/subgid";

/// Why `--userns-remap` cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum RemapError {
    /// The value is none of the accepted forms.
    #[error("invalid userns-remap value {0:?}: want default, user, user:group or uid:gid")]
    Invalid(String),
    /// The user does not exist.
    #[error("no such user for userns-remap: {0:?}")]
    NoUser(String),
    /// The group does not exist.
    #[error("no such group for userns-remap: {0:?}")]
    NoGroup(String),
    /// The user or group has no subordinate ranges.
    #[error("no subordinate ranges for {name:?} in {path}")]
    NoRanges {
        /// The user or group name.
        name: String,
        /// `/etc/subuid` or `/etc/subgid`.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `useradd` or `usermod` failed.
    #[error("{command}: {detail}")]
    Command {
        /// The command line.
        command: String,
        /// Its exit status and stderr, or why it did not run.
        detail: String,
    },
    /// The ranges do not make a valid mapping.
    #[error(transparent)]
    Mapping(#[from] UsernsError),
}

impl RemapError {
    /// The class the daemon maps to an exit code (it refuses to start).
    pub fn class(&self) -> berth::api::ErrorClass {
        use berth::api::ErrorClass;
        match self {
            RemapError::Invalid(_) => ErrorClass::InvalidArgument,
            RemapError::NoUser(_) | RemapError::NoGroup(_) | RemapError::NoRanges { .. } => {
                ErrorClass::NotFound
            }
            RemapError::Io { .. } | RemapError::Command { .. } => ErrorClass::Internal,
            RemapError::Mapping(e) => e.class(),
        }
    }
}

/// The remapping the daemon was started with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    /// The host user whose subordinate uids are used.
    pub user: String,
    /// The host group whose subordinate gids are used.
    pub group: String,
    /// The maps every remapped container gets.
    pub mapping: IdMapping,
}

/// A user or group as `--userns-remap` names it.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Name {
    Text(String),
    Id(u32),
}

impl Name {
    fn parse(s: &str) -> Name {
        s.parse()
            .map_or_else(|_| Name::Text(s.to_owned()), Name::Id)
    }
}

/// Splits a `--userns-remap` value into user and group (`None`: the group
/// named like the user).
fn parse_value(value: &str) -> Result<(Name, Option<Name>), RemapError> {
    let invalid = || RemapError::Invalid(value.to_owned());
    if value == "default" {
        return Ok((Name::Text(DEFAULT_USER.to_owned()), None));
    }
    let (user, group) = match value.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (value, None),
    };
    let ok = |s: &str| !s.is_empty() && !s.contains([':', '\n', '/']);
    if !ok(user) || group.is_some_and(|g| !ok(g)) {
        return Err(invalid());
    }
    Ok((Name::parse(user), group.map(Name::parse)))
}

/// Attempts of a shadow tool that found the passwd files locked by another.
const LOCKED_ATTEMPTS: usize = 50;

fn run(cmd: &mut Command) -> Result<(), RemapError> {
    let command = format!("{cmd:?}").replace('"', "");
    let mut attempt = 0;
    loop {
        let out = cmd.output().map_err(|e| RemapError::Command {
            command: command.clone(),
            detail: e.to_string(),
        })?;
        if out.status.success() {
            return Ok(());
        }
        let stderr = String::from_utf8_lossy(&out.stderr);
        attempt += 1;
        // "cannot lock /etc/passwd; try again later": someone else edits it.
        if stderr.contains("cannot lock") && attempt < LOCKED_ATTEMPTS {
            std::thread::sleep(std::time::Duration::from_millis(100));
            continue;
        }
        return Err(RemapError::Command {
            command,
            detail: format!("{}: {}", out.status, stderr.trim()),
        });
    }
}

fn read(path: &Path) -> Result<String, RemapError> {
    match std::fs::read_to_string(path) {
        Ok(t) => Ok(t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(source) => Err(RemapError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

/// Every range in subuid/subgid text, whoever owns it.
fn all_ranges(text: &str) -> Vec<SubordinateRange> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.trim().split(':');
            let (_, start, count) = (f.next()?, f.next()?, f.next()?);
            Some(SubordinateRange {
                start: start.parse().ok()?,
                count: count.parse().ok()?,
            })
        })
        .collect()
}

/// The lowest start at or above [`DEFAULT_RANGE_START`] where `size` ids
/// overlap none of `taken` (dockerd's `createSubordinateRanges`).
fn free_range(taken: &[SubordinateRange], size: u32) -> Option<u32> {
    let mut sorted = taken.to_vec();
    sorted.sort_by_key(|r| r.start);
    let mut start = u64::from(DEFAULT_RANGE_START);
    for r in sorted {
        let (r_start, r_end) = (u64::from(r.start), u64::from(r.start) + u64::from(r.count));
        if start + u64::from(size) <= r_start {
            break;
        }
        start = start.max(r_end);
    }
    (start + u64::from(size) <= 1 << 32).then_some(start as u32)
}

/// Creates [`DEFAULT_USER`] (a system user and group, no home, no shell)
/// unless it exists, and gives it ranges unless it has some.
fn ensure_default_user() -> Result<(), RemapError> {
    let exists = nix::unistd::User::from_name(DEFAULT_USER)
        .map_err(|e| RemapError::Command {
            command: format!("getpwnam {DEFAULT_USER}"),
            detail: e.to_string(),
        })?
        .is_some();
    if !exists {
        run(Command::new("useradd")
            .args(["--system", "--user-group", "--no-create-home"])
            .args(["--shell", "/bin/false", DEFAULT_USER]))?;
    }
    let subuid = read(Path::new(SUBUID_FILE))?;
    let subgid = read(Path::new(SUBGID_FILE))?;
    let user = nix::unistd::User::from_name(DEFAULT_USER)
        .ok()
        .flatten()
        .ok_or_else(|| RemapError::NoUser(DEFAULT_USER.to_owned()))?;
    let has_uids = !parse_subordinate(&subuid, DEFAULT_USER, user.uid.as_raw()).is_empty();
    let has_gids = !parse_subordinate(&subgid, DEFAULT_USER, user.gid.as_raw()).is_empty();
    if has_uids && has_gids {
        return Ok(());
    }
    let mut taken = all_ranges(&subuid);
    taken.extend(all_ranges(&subgid));
    let start = free_range(&taken, DEFAULT_RANGE_SIZE).ok_or_else(|| RemapError::NoRanges {
        name: DEFAULT_USER.to_owned(),
        path: PathBuf::from(SUBUID_FILE),
    })?;
    let range = format!("{start}-{}", start + (DEFAULT_RANGE_SIZE - 1));
    let mut cmd = Command::new("usermod");
    if !has_uids {
        cmd.args(["--add-subuids", &range]);
    }
    if !has_gids {
        cmd.args(["--add-subgids", &range]);
    }
    run(cmd.arg(DEFAULT_USER))
}

/// Resolves a `--userns-remap` value against the host's users, groups and
/// subordinate ranges (creating [`DEFAULT_USER`] for `default`).
pub fn setup(value: &str) -> Result<Remap, RemapError> {
    let (user, group) = parse_value(value)?;
    if value == "default" {
        ensure_default_user()?;
    }
    let user = match &user {
        Name::Text(n) => nix::unistd::User::from_name(n),
        Name::Id(id) => nix::unistd::User::from_uid((*id).into()),
    }
    .ok()
    .flatten()
    .ok_or_else(|| RemapError::NoUser(value.split(':').next().unwrap_or(value).to_owned()))?;
    let group = match group {
        None => nix::unistd::Group::from_name(&user.name),
        Some(Name::Text(n)) => nix::unistd::Group::from_name(&n),
        Some(Name::Id(id)) => nix::unistd::Group::from_gid(id.into()),
    }
    .ok()
    .flatten()
    .ok_or_else(|| {
        RemapError::NoGroup(
            value
                .split_once(':')
                .map_or(user.name.as_str(), |(_, g)| g)
                .to_owned(),
        )
    })?;
    let ranges = |path: &str, name: &str, id: u32| -> Result<_, RemapError> {
        let found = parse_subordinate(&read(Path::new(path))?, name, id);
        if found.is_empty() {
            return Err(RemapError::NoRanges {
                name: name.to_owned(),
                path: PathBuf::from(path),
            });
        }
        Ok(maps_from_ranges(&found))
    };
    let mapping = IdMapping {
        uids: ranges(SUBUID_FILE, &user.name, user.uid.as_raw())?,
        gids: ranges(SUBGID_FILE, &group.name, group.gid.as_raw())?,
    };
    mapping
        .validate()
        .map_err(|e| RemapError::Mapping(UsernsError::InvalidMapping(e)))?;
    Ok(Remap {
        user: user.name,
        group: group.name,
        mapping,
    })
}

/// Whether the container keeps the host's user namespace (`--userns=host`).
fn wants_host(host: &HostConfig) -> bool {
    host.userns_mode.as_deref() == Some("host")
}

/// Checks `HostConfig.UsernsMode` and what a remapped container cannot
/// have, with dockerd 20.10's messages.
pub fn validate(remapped: bool, host: &HostConfig) -> ApiResult<()> {
    match host.userns_mode.as_deref() {
        None | Some("" | "host") => {}
        Some(other) => {
            return Err(ApiError::invalid(format!("invalid USER mode: {other}")));
        }
    }
    if !remapped || wants_host(host) {
        return Ok(());
    }
    if host.privileged.unwrap_or(false) {
        return Err(ApiError::invalid(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode",
        ));
    }
    if NetMode::of(host) == NetMode::Host {
        return Err(ApiError::invalid(
            "cannot share the host's network namespace when user namespaces are enabled",
        ));
    }
    Ok(())
}

/// The maps a container runs with: the daemon's, unless it asked for the
/// host's user namespace.
pub fn for_container(remap: Option<&Remap>, host: &HostConfig) -> Option<IdMapping> {
    remap
        .filter(|_| !wants_host(host))
        .map(|r| r.mapping.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(start: u32, count: u32) -> SubordinateRange {
        SubordinateRange { start, count }
    }

    #[test]
    fn values_parse_like_dockerd() {
        assert_eq!(
            parse_value("default").unwrap(),
            (Name::Text(DEFAULT_USER.into()), None)
        );
        assert_eq!(
            parse_value("alice").unwrap(),
            (Name::Text("alice".into()), None)
        );
        assert_eq!(
            parse_value("alice:staff").unwrap(),
            (Name::Text("alice".into()), Some(Name::Text("staff".into())))
        );
        assert_eq!(
            parse_value("1000:1000").unwrap(),
            (Name::Id(1000), Some(Name::Id(1000)))
        );
        for bad in ["", ":", "a:", ":b", "a:b:c", "a/b"] {
            assert_eq!(
                parse_value(bad).unwrap_err().to_string(),
                format!(
                    "invalid userns-remap value {bad:?}: want default, user, user:group or uid:gid"
                )
            );
        }
    }

    #[test]
    fn default_range_skips_taken_ones() {
        assert_eq!(free_range(&[], 65536), Some(100_000));
        assert_eq!(free_range(&[r(100_000, 65536)], 65536), Some(165_536));
        assert_eq!(
            free_range(&[r(300_000, 10), r(100_000, 65536), r(170_000, 1)], 65536),
            Some(170_001)
        );
        assert_eq!(
            free_range(&[r(10, 10), r(500_000, 1)], 65536),
            Some(100_000)
        );
        assert_eq!(free_range(&[r(100_000, u32::MAX - 100_000)], 65536), None);
        assert_eq!(
            all_ranges("a:1:2\nbad\nb:x:1\nc:5:6\n"),
            vec![r(1, 2), r(5, 6)]
        );
    }

    #[test]
    fn remapped_containers_refuse_what_dockerd_refuses() {
        let host = |f: fn(&mut HostConfig)| {
            let mut h = HostConfig::default();
            f(&mut h);
            h
        };
        validate(true, &host(|_| {})).unwrap();
        validate(false, &host(|h| h.privileged = Some(true))).unwrap();
        validate(
            true,
            &host(|h| {
                h.privileged = Some(true);
                h.userns_mode = Some("host".into());
            }),
        )
        .unwrap();
        assert_eq!(
            validate(true, &host(|h| h.privileged = Some(true)))
                .unwrap_err()
                .message,
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode"
        );
        assert_eq!(
            validate(true, &host(|h| h.network_mode = Some("host".into())))
                .unwrap_err()
                .message,
            "cannot share the host's network namespace when user namespaces are enabled"
        );
        assert_eq!(
            validate(false, &host(|h| h.userns_mode = Some("private".into())))
                .unwrap_err()
                .message,
            "invalid USER mode: private"
        );
    }

    #[test]
    fn userns_host_opts_out() {
        let remap = Remap {
            user: "u".into(),
            group: "g".into(),
            mapping: IdMapping {
                uids: maps_from_ranges(&[r(100_000, 65536)]),
                gids: maps_from_ranges(&[r(100_000, 65536)]),
            },
        };
        let mut h = HostConfig::default();
        assert_eq!(for_container(Some(&remap), &h), Some(remap.mapping.clone()));
        assert_eq!(for_container(None, &h), None);
        h.userns_mode = Some("host".into());
        assert_eq!(for_container(Some(&remap), &h), None);
    }
}
