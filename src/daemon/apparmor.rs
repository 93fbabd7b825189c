//! Which AppArmor profile a container runs under, as dockerd 20.10 decides
//! it, and the daemon's default profile, `berth-default`.
//!
//! Only where the kernel enforces AppArmor ([`apparmor::is_enabled`]): a
//! container gets its `--security-opt apparmor=NAME` profile, else
//! `unconfined` when `--privileged` (even if it names one), else
//! `berth-default`, which is
//! generated and loaded with `apparmor_parser` the first time a container
//! needs it and whenever it went missing (dockerd's
//! `ensureDefaultAppArmorProfile`). Elsewhere the option is accepted and
//! has no effect and inspect shows no profile, as with dockerd.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use berth::api::models::HostConfig;
use berth::runtime::apparmor;

use crate::error::{ApiError, ApiResult};

/// The profile containers get unless they name one.
pub const DEFAULT_PROFILE: &str = "berth-default";

/// The profile `--security-opt apparmor=NAME` (or `apparmor:NAME`) names.
pub fn requested(host: &HostConfig) -> Option<String> {
    host.security_opt.iter().flatten().find_map(|opt| {
        let (k, v) = opt.split_once('=').or_else(|| opt.split_once(':'))?;
        (k == "apparmor").then(|| v.to_owned())
    })
}

/// dockerd's choice (`saveAppArmorConfig`): unconfined for a privileged
/// container whatever it asks, else the requested profile, else the default.
fn choose(host: &HostConfig, privileged: bool) -> String {
    if privileged {
        return "unconfined".to_owned();
    }
    requested(host).unwrap_or_else(|| DEFAULT_PROFILE.to_owned())
}

/// The profile the runtime switches the container's processes to, or
/// `None` where the kernel has no AppArmor. Loads the default profile
/// first when it is the one chosen and is not in the kernel.
pub fn for_container(host: &HostConfig, privileged: bool) -> ApiResult<Option<String>> {
    if !apparmor::is_enabled() {
        return Ok(None);
    }
    let name = choose(host, privileged);
    if name == DEFAULT_PROFILE {
        ensure_default()?;
    }
    Ok(Some(name))
}

/// What inspect's `AppArmorProfile` shows: the profile in force where the
/// kernel has AppArmor, else nothing (dockerd clears it there).
pub fn shown(host: &HostConfig, privileged: bool) -> String {
    if apparmor::is_enabled() {
        choose(host, privileged)
    } else {
        String::new()
    }
}

/// `name=apparmor` for `/info`'s SecurityOptions where AppArmor is enforced.
pub fn security_option() -> Option<&'static str> {
    apparmor::is_enabled().then_some("name=apparmor")
}

fn ensure_default() -> ApiResult<()> {
    let loaded = apparmor::is_loaded(DEFAULT_PROFILE)
        .map_err(|e| ApiError::internal(format!("list the loaded AppArmor profiles: {e}")))?;
    if loaded {
        return Ok(());
    }
    let text = default_profile(&apparmor::own_label(), Path::new("/etc/apparmor.d"));
    load(&text)
        .map_err(|e| ApiError::internal(format!("load AppArmor profile {DEFAULT_PROFILE}: {e}")))
}

/// Compiles and loads (or replaces) a profile with `apparmor_parser -Kr`.
fn load(text: &str) -> Result<(), String> {
    let mut file = tempfile::Builder::new()
        .prefix("berth-apparmor-")
        .tempfile()
        .map_err(|e| format!("temp file: {e}"))?;
    file.write_all(text.as_bytes())
        .map_err(|e| format!("write {}: {e}", file.path().display()))?;
    parser(&["-Kr"], file.path())
}

/// Runs `apparmor_parser ARGS FILE`; its stderr is the error.
fn parser(args: &[&str], file: &Path) -> Result<(), String> {
    let out = Command::new("apparmor_parser")
        .args(args)
        .arg(file)
        .output()
        .map_err(|e| format!("run apparmor_parser: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    Err(format!(
        "apparmor_parser {}: {}",
        out.status,
        String::from_utf8_lossy(&out.stderr).trim()
    ))
}

/// The text of `berth-default`: the policy of Docker's `docker-default`.
/// `daemon` is berthd's own label, allowed to signal the container;
/// `apparmor_d` is where the distribution's tunables and abstractions are
/// included from when it has them.
fn default_profile(daemon: &str, apparmor_d: &Path) -> String {
    let name = DEFAULT_PROFILE;
    let mut p = String::new();
    if apparmor_d.join("tunables/global").exists() {
        p.push_str("#include <tunables/global>\n\n");
    } else {
        // The tunables define @{PROC}; the rules below need it either way.
        p.push_str("@{PROC}=/proc/\n\n");
    }
    p.push_str(&format!(
        "profile {name} flags=(attach_disconnected,mediate_deleted) {{\n"
    ));
    if apparmor_d.join("abstractions/base").exists() {
        p.push_str("  #include <abstractions/base>\n\n");
    }
    let rules = [
        // What a container may do at all; the denials below narrow it.
        "network,",
        "capability,",
        "file,",
        "umount,",
        // Signals: from unconfined host processes and berthd (kill, stop),
        // and among the container's own processes.
        "signal (receive) peer=unconfined,",
        &format!("signal (receive) peer={daemon},"),
        &format!("signal (send,receive) peer={name},"),
        // /proc: no writes to its top-level files, nor below anything but
        // /proc/<pid> and /proc/sys, nor in /proc/sys but kernel/shm*.
        "deny @{PROC}/* w,",
        "deny @{PROC}/{[^1-9],[^1-9][^0-9],[^1-9s][^0-9y][^0-9s],[^1-9][^0-9][^0-9][^0-9/]*}/** w,",
        "deny @{PROC}/sys/[^k]** w,",
        "deny @{PROC}/sys/kernel/{?,??,[^s][^h][^m]**} w,",
        "deny @{PROC}/sysrq-trigger rwklx,",
        "deny @{PROC}/kcore rwklx,",
        "deny mount,",
        // /sys: nothing writable outside /sys/fs/cgroup; firmware and LSM
        // state not even readable.
        "deny /sys/[^f]*/** wklx,",
        "deny /sys/f[^s]*/** wklx,",
        "deny /sys/fs/[^c]*/** wklx,",
        "deny /sys/fs/c[^g]*/** wklx,",
        "deny /sys/fs/cg[^r]*/** wklx,",
        "deny /sys/firmware/** rwklx,",
        "deny /sys/kernel/security/** rwklx,",
        // `ps` and `top` inside the container read their peers.
        &format!("ptrace (trace,read,tracedby,readby) peer={name},"),
    ];
    for rule in rules {
        p.push_str("  ");
        p.push_str(rule);
        p.push('\n');
    }
    p.push_str("}\n");
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(opts: &[&str], privileged: bool) -> HostConfig {
        HostConfig {
            security_opt: Some(opts.iter().map(|s| (*s).to_owned()).collect()),
            privileged: Some(privileged),
            ..HostConfig::default()
        }
    }

    #[test]
    fn the_profile_is_chosen_as_dockerd_chooses_it() {
        assert_eq!(choose(&host(&[], false), false), DEFAULT_PROFILE);
        assert_eq!(choose(&host(&[], true), true), "unconfined");
        assert_eq!(choose(&host(&["apparmor=custom"], false), false), "custom");
        assert_eq!(
            choose(&host(&["apparmor=custom"], true), true),
            "unconfined",
            "--privileged wins over a named profile, as in dockerd"
        );
        assert_eq!(
            choose(
                &host(&["no-new-privileges", "apparmor:old-style"], false),
                false
            ),
            "old-style"
        );
        assert_eq!(
            requested(&host(&["apparmor=unconfined"], false)).as_deref(),
            Some("unconfined")
        );
        assert_eq!(requested(&host(&["seccomp=unconfined"], false)), None);
    }

    /// The generated profile is valid AppArmor policy: Debian's parser
    /// compiles it (`-Q`: without loading it, which needs a kernel with
    /// AppArmor), with and without the distribution's includes; a broken
    /// rule fails the same check.
    #[test]
    fn the_default_profile_compiles_with_apparmor_parser() {
        let dir = tempfile::tempdir().unwrap();
        for (daemon, apparmor_d) in [
            ("unconfined", Path::new("/etc/apparmor.d")),
            ("berthd", dir.path()),
        ] {
            let text = default_profile(daemon, apparmor_d);
            assert!(
                text.contains(&format!("signal (receive) peer={daemon},")),
                "{text}"
            );
            let file = dir.path().join("berth-default");
            std::fs::write(&file, &text).unwrap();
            parser(&["-Q", "-K"], &file)
                .unwrap_or_else(|e| panic!("berth-default does not compile: {e}\n{text}"));
            std::fs::write(
                &file,
                text.replace("deny @{PROC}/kcore rwklx,", "deny @{PROC}/kcore rwklxq,"),
            )
            .unwrap();
            assert!(
                parser(&["-Q", "-K"], &file).is_err(),
                "a broken rule compiled"
            );
        }
        assert!(
            default_profile("unconfined", Path::new("/etc/apparmor.d"))
                .starts_with("#include <tunables/global>\n"),
            "Debian's tunables are included where they exist"
        );
    }
}
