//! Config and HostConfig settings the runtime applies: checked at create
//! with dockerd's messages, and mapped onto the [`ContainerSpec`] at start.

use berth::api::models::{ContainerConfig, HostConfig};
use berth::runtime::capabilities::effective_set;
use berth::runtime::rlimits;
use berth::runtime::spec::{ContainerSpec, Rlimit};

use crate::error::{ApiError, ApiResult};

/// Parses a signal given by name (`KILL`, `SIGKILL`, `sigterm`) or number,
/// with dockerd's message for anything else.
pub fn parse_signal(raw: &str) -> ApiResult<i32> {
    let invalid = || ApiError::invalid(format!("Invalid signal: {raw}"));
    if let Ok(n) = raw.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map(|s| s as i32)
            .map_err(|_| invalid());
    }
    let upper = raw.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| invalid())
}

/// The signal `stop` sends first: Config.StopSignal, else SIGTERM.
pub fn stop_signal(config: &ContainerConfig) -> ApiResult<i32> {
    match config.stop_signal.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => parse_signal(s),
        None => Ok(libc::SIGTERM),
    }
}

/// Docker's `-1` (unlimited) and any other negative value map to the kernel's infinity.
fn limit(v: Option<i64>) -> u64 {
    v.and_then(|v| u64::try_from(v).ok())
        .unwrap_or(libc::RLIM_INFINITY)
}

fn rlimits_of(host: &HostConfig) -> Vec<Rlimit> {
    host.ulimits
        .iter()
        .flatten()
        .map(|u| Rlimit {
            name: u.name.clone().unwrap_or_default(),
            soft: limit(u.soft),
            hard: limit(u.hard),
        })
        .collect()
}

/// `no-new-privileges` from SecurityOpt, parsed like dockerd's
/// `parseSecurityOpt`; seccomp is read by [`crate::seccomp`], apparmor by
/// [`crate::apparmor`]; label options are accepted and have no effect.
fn no_new_privileges(host: &HostConfig) -> ApiResult<bool> {
    let mut nnp = false;
    for opt in host.security_opt.iter().flatten() {
        if opt == "no-new-privileges" {
            nnp = true;
            continue;
        }
        if opt == "disable" {
            continue;
        }
        let kv = opt.split_once('=').or_else(|| opt.split_once(':'));
        let Some((key, value)) = kv else {
            return Err(ApiError::invalid(format!(
                "invalid --security-opt 1: {opt:?}"
            )));
        };
        match key {
            "label" | "apparmor" | "seccomp" => {}
            "no-new-privileges" => {
                nnp = parse_go_bool(value).ok_or_else(|| {
                    ApiError::invalid(format!("invalid --security-opt 2: {opt:?}"))
                })?;
            }
            _ => {
                return Err(ApiError::invalid(format!(
                    "invalid --security-opt 2: {opt:?}"
                )));
            }
        }
    }
    Ok(nnp)
}

/// Go's `strconv.ParseBool`.
fn parse_go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Checks what create must refuse (400), with dockerd's messages.
pub fn validate(config: &ContainerConfig, host: &HostConfig) -> ApiResult<()> {
    stop_signal(config)?;
    let none: &[String] = &[];
    effective_set(false, host.cap_add.as_deref().unwrap_or(none), none)
        .map_err(|e| ApiError::invalid(format!("invalid CapAdd: {e}")))?;
    effective_set(false, none, host.cap_drop.as_deref().unwrap_or(none))
        .map_err(|e| ApiError::invalid(format!("invalid CapDrop: {e}")))?;
    rlimits::check(&rlimits_of(host)).map_err(|e| ApiError::new(e.class(), e.to_string()))?;
    no_new_privileges(host)?;
    crate::seccomp::validate(host)?;
    if let Some(size) = &host.console_size
        && (size.len() != 2 || size.iter().any(|v| u16::try_from(*v).is_err()))
    {
        return Err(ApiError::invalid(format!(
            "invalid ConsoleSize {size:?}: want [height, width]"
        )));
    }
    Ok(())
}

/// Copies the terminal, privilege and limit settings into `spec`.
pub fn apply(
    spec: &mut ContainerSpec,
    config: &ContainerConfig,
    host: &HostConfig,
) -> ApiResult<()> {
    spec.tty = config.tty.unwrap_or(false);
    spec.open_stdin = config.open_stdin.unwrap_or(false);
    spec.console_size = match host.console_size.as_deref() {
        Some([h, w]) if *h > 0 && *w > 0 => Some([
            u16::try_from(*h).unwrap_or(u16::MAX),
            u16::try_from(*w).unwrap_or(u16::MAX),
        ]),
        _ => None,
    };
    spec.privileged = host.privileged.unwrap_or(false);
    spec.readonly_rootfs = host.readonly_rootfs.unwrap_or(false);
    spec.cap_add = host.cap_add.clone().unwrap_or_default();
    spec.cap_drop = host.cap_drop.clone().unwrap_or_default();
    spec.group_add = host.group_add.clone().unwrap_or_default();
    spec.rlimits = rlimits_of(host);
    spec.no_new_privileges = no_new_privileges(host)?;
    spec.seccomp = crate::seccomp::filter(host, spec.privileged, &spec.cap_add, &spec.cap_drop)?;
    spec.apparmor_profile = crate::apparmor::for_container(host, spec.privileged)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth::api::models::ResourcesUlimits;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert_eq!(
            parse_signal("NOPE").unwrap_err().message,
            "Invalid signal: NOPE"
        );
        assert!(parse_signal("999").is_err());
    }

    #[test]
    fn stop_signal_defaults_to_sigterm() {
        assert_eq!(
            stop_signal(&ContainerConfig::default()).unwrap(),
            libc::SIGTERM
        );
        let cfg = ContainerConfig {
            stop_signal: Some("SIGUSR1".into()),
            ..Default::default()
        };
        assert_eq!(stop_signal(&cfg).unwrap(), libc::SIGUSR1);
    }

    #[test]
    fn bad_host_config_is_refused_like_dockerd() {
        let cfg = ContainerConfig::default();
        let host = HostConfig {
            cap_add: Some(vec!["foo".into()]),
            ..Default::default()
        };
        assert_eq!(
            validate(&cfg, &host).unwrap_err().message,
            "invalid CapAdd: unknown capability: \"CAP_FOO\""
        );
        let host = HostConfig {
            cap_drop: Some(vec!["net_raw".into(), "bar".into()]),
            ..Default::default()
        };
        assert_eq!(
            validate(&cfg, &host).unwrap_err().message,
            "invalid CapDrop: unknown capability: \"CAP_BAR\""
        );
        let host = HostConfig {
            security_opt: Some(vec!["no-new-privileges=maybe".into()]),
            ..Default::default()
        };
        assert_eq!(
            validate(&cfg, &host).unwrap_err().message,
            "invalid --security-opt 2: \"no-new-privileges=maybe\""
        );
        let host = HostConfig {
            ulimits: Some(vec![ResourcesUlimits {
                name: Some("nofiles".into()),
                soft: Some(1),
                hard: Some(1),
            }]),
            ..Default::default()
        };
        assert_eq!(
            validate(&cfg, &host).unwrap_err().message,
            "invalid ulimit type: nofiles"
        );
    }

    #[test]
    fn settings_map_onto_the_spec() {
        let cfg = ContainerConfig {
            tty: Some(true),
            open_stdin: Some(true),
            ..Default::default()
        };
        let host = HostConfig {
            console_size: Some(vec![24, 80]),
            privileged: Some(true),
            readonly_rootfs: Some(true),
            cap_add: Some(vec!["NET_ADMIN".into()]),
            cap_drop: Some(vec!["MKNOD".into()]),
            group_add: Some(vec!["wheel".into()]),
            security_opt: Some(vec!["no-new-privileges:true".into()]),
            ulimits: Some(vec![ResourcesUlimits {
                name: Some("nofile".into()),
                soft: Some(100),
                hard: Some(-1),
            }]),
            ..Default::default()
        };
        let mut spec = ContainerSpec::default();
        apply(&mut spec, &cfg, &host).unwrap();
        assert!(spec.tty && spec.open_stdin && spec.privileged && spec.readonly_rootfs);
        assert!(spec.no_new_privileges);
        assert_eq!(spec.console_size, Some([24, 80]));
        assert_eq!(spec.cap_add, ["NET_ADMIN"]);
        assert_eq!(spec.cap_drop, ["MKNOD"]);
        assert_eq!(spec.group_add, ["wheel"]);
        assert_eq!(
            spec.rlimits,
            [Rlimit {
                name: "nofile".into(),
                soft: 100,
                hard: libc::RLIM_INFINITY
            }]
        );
    }
}
