//! Which seccomp program a container gets, as dockerd's `WithSeccomp`
//! decides: none with `--privileged` or `--security-opt seccomp=unconfined`,
//! the profile JSON of `--security-opt seccomp=<json>` (the CLI sends the
//! file's content), else the daemon's `seccomp-profile` (a file read once at
//! start-up), else Docker's default. The program is compiled for the
//! container's final capability set (see [`berth::runtime::seccomp`]) each
//! time a container or exec spec is built; an exec gets its container's.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use berth::api::models::HostConfig;
use berth::runtime::capabilities::effective_set;
use berth::runtime::seccomp::{Filter, Profile, SeccompError, host_kernel};

use crate::error::{ApiError, ApiResult};

/// `--security-opt seccomp=unconfined` and the daemon option's value for no filter.
pub const UNCONFINED: &str = "unconfined";
/// The daemon option's value for Docker's built-in profile.
pub const BUILTIN: &str = "builtin";

/// The daemon-wide profile: `None` runs containers unconfined by default.
struct DaemonProfile {
    /// What `/info` shows: `default`, `unconfined`, `builtin` or the path.
    name: String,
    profile: Option<Profile>,
}

static DAEMON: OnceLock<DaemonProfile> = OnceLock::new();

/// The daemon's `seccomp-profile` cannot be used (berthd does not start;
/// like [`crate::config::ConfigError`], never an API error).
#[derive(Debug, thiserror::Error)]
pub enum SeccompConfigError {
    /// The file could not be read.
    #[error("opening seccomp profile ({path}) failed: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a usable profile.
    #[error("seccomp profile ({path}): {source}")]
    Profile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: SeccompError,
    },
    /// Configured twice in one process.
    #[error("the daemon's seccomp profile is already configured")]
    AlreadySet,
}

/// Sets the daemon-wide profile from the `seccomp-profile` option (a path,
/// `unconfined` or `builtin`); checked now, so a bad file stops the daemon
/// instead of every container start.
pub fn configure(option: Option<&Path>) -> Result<(), SeccompConfigError> {
    let daemon = match option {
        None => DaemonProfile {
            name: "default".into(),
            profile: Some(Profile::docker_default()),
        },
        Some(p) if p == Path::new(UNCONFINED) => DaemonProfile {
            name: UNCONFINED.into(),
            profile: None,
        },
        Some(p) if p == Path::new(BUILTIN) => DaemonProfile {
            name: BUILTIN.into(),
            profile: Some(Profile::docker_default()),
        },
        Some(path) => {
            let text =
                std::fs::read_to_string(path).map_err(|source| SeccompConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                })?;
            let bad = |source| SeccompConfigError::Profile {
                path: path.to_path_buf(),
                source,
            };
            let profile = Profile::parse(&text).map_err(bad)?;
            profile
                .filter_for(berth::runtime::capabilities::default_mask())
                .map_err(bad)?;
            DaemonProfile {
                name: path.display().to_string(),
                profile: Some(profile),
            }
        }
    };
    DAEMON
        .set(daemon)
        .map_err(|_| SeccompConfigError::AlreadySet)
}

/// `/info`'s `SecurityOptions` entry, e.g. `name=seccomp,profile=default`.
pub fn security_option() -> String {
    let name = DAEMON.get().map_or("default", |d| d.name.as_str());
    format!("name=seccomp,profile={name}")
}

/// The value of the last `seccomp=`/`seccomp:` entry of SecurityOpt (a
/// later one wins, as in dockerd's `parseSecurityOpt`).
fn requested(host: &HostConfig) -> Option<&str> {
    host.security_opt
        .iter()
        .flatten()
        .filter_map(|o| {
            o.strip_prefix("seccomp=")
                .or_else(|| o.strip_prefix("seccomp:"))
        })
        .next_back()
}

fn api(e: SeccompError) -> ApiError {
    ApiError::new(e.class(), e.to_string())
}

/// Create-time check: a custom profile must decode and name known actions,
/// operators and architectures (the rest is checked when it is compiled at start).
pub fn validate(host: &HostConfig) -> ApiResult<()> {
    match requested(host) {
        Some(UNCONFINED) | None => Ok(()),
        Some(json) => Profile::parse(json)
            .and_then(|p| p.resolve(0, host_kernel()))
            .map(drop)
            .map_err(api),
    }
}

/// The program for a container with these settings (see the module doc);
/// `None` runs it unconfined.
pub fn filter(
    host: &HostConfig,
    privileged: bool,
    cap_add: &[String],
    cap_drop: &[String],
) -> ApiResult<Option<Filter>> {
    if privileged {
        return Ok(None);
    }
    let custom;
    let profile = match requested(host) {
        Some(UNCONFINED) => return Ok(None),
        Some(json) => {
            custom = Profile::parse(json).map_err(api)?;
            &custom
        }
        None => match DAEMON.get() {
            Some(d) => match &d.profile {
                Some(p) => p,
                None => return Ok(None),
            },
            None => {
                custom = Profile::docker_default();
                &custom
            }
        },
    };
    let caps = effective_set(false, cap_add, cap_drop).map_err(ApiError::invalid)?;
    profile.filter_for(caps).map_err(api)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(opts: &[&str]) -> HostConfig {
        HostConfig {
            security_opt: Some(opts.iter().map(|s| s.to_string()).collect()),
            ..Default::default()
        }
    }

    #[test]
    fn privileged_and_unconfined_get_no_filter_others_do() {
        let none: &[String] = &[];
        assert!(filter(&host(&[]), false, none, none).unwrap().is_some());
        assert!(filter(&host(&[]), true, none, none).unwrap().is_none());
        let h = host(&["seccomp=unconfined"]);
        assert!(filter(&h, false, none, none).unwrap().is_none());
        let h = host(&["seccomp:unconfined"]);
        assert!(filter(&h, false, none, none).unwrap().is_none());
        // A later entry wins.
        let h = host(&[
            "seccomp=unconfined",
            "seccomp={\"defaultAction\":\"SCMP_ACT_LOG\"}",
        ]);
        assert!(filter(&h, false, none, none).unwrap().is_some());
    }

    #[test]
    fn custom_profiles_are_checked_at_create() {
        validate(&host(&["seccomp=unconfined", "no-new-privileges"])).unwrap();
        let e = validate(&host(&["seccomp={nope"])).unwrap_err();
        assert_eq!(e.class, berth::api::ErrorClass::InvalidArgument);
        assert!(e.message.starts_with("decoding seccomp profile failed"));
        let notify = r#"seccomp={"defaultAction":"SCMP_ACT_NOTIFY"}"#;
        let e = validate(&host(&[notify])).unwrap_err();
        assert!(e.message.contains("SCMP_ACT_NOTIFY"), "{}", e.message);
    }

    #[test]
    fn unreadable_daemon_profiles_name_the_file() {
        // Only failures here: the process-wide profile must stay unset for the other tests.
        let e = configure(Some(Path::new("/nonexistent-berth/profile.json"))).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("opening seccomp profile (/nonexistent-berth/profile.json) failed")
        );
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("p.json");
        std::fs::write(&p, r#"{"defaultAction":"SCMP_ACT_BOGUS","syscalls":[]}"#).unwrap();
        let e = configure(Some(&p)).unwrap_err();
        assert!(e.to_string().contains("unknown action"), "{e}");
        assert_eq!(security_option(), "name=seccomp,profile=default");
    }
}
