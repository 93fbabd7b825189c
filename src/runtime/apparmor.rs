//! AppArmor, as runc applies it: the kernel check, the profile a process
//! switches to at its next `execve`, and the profiles loaded in the kernel.
//!
//! The container's init and exec children call [`change_on_exec`] just
//! before execve's set-up ends (runc's point: before the capabilities are
//! dropped), so the confinement starts with the container's own program and
//! never applies to the runtime's code.

use std::fs;
use std::io::{self, Write};
use std::path::Path;

/// Where the kernel lists AppArmor's state (securityfs).
const SECURITYFS: &str = "/sys/kernel/security/apparmor";

/// Whether the kernel enforces AppArmor: runc's `IsEnabled` (securityfs
/// shows it and the module parameter says `Y`).
pub fn is_enabled() -> bool {
    Path::new(SECURITYFS).exists()
        && fs::read("/sys/module/apparmor/parameters/enabled").is_ok_and(|v| v.starts_with(b"Y"))
}

/// Makes the calling thread's next `execve` enter `profile` (AppArmor's
/// change_onexec; `unconfined` is a valid target). Newer kernels take it in
/// `attr/apparmor/exec`, older ones in `attr/exec`.
pub fn change_on_exec(profile: &str) -> io::Result<()> {
    let attr = if Path::new("/proc/thread-self/attr/apparmor/exec").exists() {
        "/proc/thread-self/attr/apparmor/exec"
    } else {
        "/proc/thread-self/attr/exec"
    };
    let mut f = fs::OpenOptions::new().write(true).open(attr)?;
    // One write: the kernel parses the whole command at once.
    f.write_all(format!("exec {profile}").as_bytes())
        .map_err(|e| io::Error::new(e.kind(), format!("write {attr}: {e}")))
}

/// Whether a profile named `name` is loaded in the kernel.
pub fn is_loaded(name: &str) -> io::Result<bool> {
    let list = fs::read_to_string(Path::new(SECURITYFS).join("profiles"))?;
    Ok(profile_names(&list).any(|n| n == name))
}

/// The names in securityfs' `profiles` list (`name (mode)` per line).
fn profile_names(list: &str) -> impl Iterator<Item = &str> {
    list.lines()
        .map(|l| l.rsplit_once(" (").map_or(l, |(name, _)| name))
}

/// The calling process' own AppArmor label (`unconfined` when it has none
/// or AppArmor is off), which the container profile lets signal it.
pub fn own_label() -> String {
    fs::read_to_string("/proc/self/attr/current")
        .ok()
        .map(|l| label_of(&l).to_owned())
        .filter(|l| !l.is_empty())
        .unwrap_or_else(|| "unconfined".to_owned())
}

/// `name (mode)` → `name`.
fn label_of(attr: &str) -> &str {
    let attr = attr.trim_end_matches(['\n', '\0']);
    attr.rsplit_once(" (").map_or(attr, |(name, _)| name).trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_labels_drop_the_mode() {
        let list = "berth-default (enforce)\n/usr/sbin/ntpd (complain)\nodd name (enforce)\n";
        assert_eq!(
            profile_names(list).collect::<Vec<_>>(),
            ["berth-default", "/usr/sbin/ntpd", "odd name"]
        );
        assert_eq!(label_of("unconfined\n"), "unconfined");
        assert_eq!(label_of("berthd (enforce)\n"), "berthd");
    }
}
