//! The container init's capabilities: Docker's default set, tweaked by
//! `--cap-add`/`--cap-drop` or replaced by `--privileged`, never more than
//! what the supervisor itself holds in its bounding set.

use std::str::FromStr;

use caps::{CapSet, Capability, CapsHashSet};

/// Docker's default capabilities; every other one is dropped from all sets,
/// the bounding set included.
pub const DEFAULT_CAPS: [Capability; 14] = [
    Capability::CAP_CHOWN,
    Capability::CAP_DAC_OVERRIDE,
    Capability::CAP_FSETID,
    Capability::CAP_FOWNER,
    Capability::CAP_MKNOD,
    Capability::CAP_NET_RAW,
    Capability::CAP_SETGID,
    Capability::CAP_SETUID,
    Capability::CAP_SETFCAP,
    Capability::CAP_SETPCAP,
    Capability::CAP_NET_BIND_SERVICE,
    Capability::CAP_SYS_CHROOT,
    Capability::CAP_KILL,
    Capability::CAP_AUDIT_WRITE,
];

/// [`DEFAULT_CAPS`] as the bit mask `/proc/<pid>/status` prints.
pub fn default_mask() -> u64 {
    DEFAULT_CAPS.iter().fold(0, |m, c| m | c.bitmask())
}

/// The calling process' bounding set as a bit mask, including capabilities
/// newer than the `caps` crate (read until the kernel says EINVAL).
pub fn bounding_mask() -> u64 {
    let mut mask = 0;
    for cap in 0..64u64 {
        // SAFETY: PR_CAPBSET_READ takes an integer argument and touches no memory.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_READ, cap as libc::c_ulong, 0, 0, 0) };
        if rc < 0 {
            break;
        }
        if rc == 1 {
            mask |= 1 << cap;
        }
    }
    mask
}

/// Capabilities this kernel supports that the calling process' bounding set
/// lacks (e.g. `CAP_SYS_RESOURCE` on hosts that withhold it from root):
/// what `--privileged` or `--cap-add` cannot grant here, for a warning.
pub fn unavailable() -> Vec<Capability> {
    let have = bounding_mask();
    let mut missing: Vec<Capability> = caps::runtime::thread_all_supported()
        .into_iter()
        .filter(|c| have & c.bitmask() == 0)
        .collect();
    missing.sort_by_key(|c| c.index());
    missing
}

/// One `--cap-add`/`--cap-drop` entry after Docker's normalisation: upper
/// case, `CAP_` prefixed; `None` stands for `ALL`.
fn parse(name: &str) -> Result<Option<Capability>, String> {
    let upper = name.to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(None);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    Capability::from_str(&full)
        .map(Some)
        .map_err(|_| format!("unknown capability: {full:?}"))
}

/// The capability mask a container gets, with the rules of Docker's
/// `TweakCapabilities`: `privileged` means everything (add and drop are
/// ignored); `ALL` in `cap_add` means everything but `cap_drop`; `ALL` in
/// `cap_drop` means just `cap_add`; otherwise the default set minus
/// `cap_drop` plus `cap_add`. "Everything" is the caller's bounding set, and
/// the result never exceeds it: what the daemon lacks is silently not
/// granted. Unknown names fail with `unknown capability: "CAP_FOO"`.
pub fn effective_set(
    privileged: bool,
    cap_add: &[String],
    cap_drop: &[String],
) -> Result<u64, String> {
    let parse_all = |names: &[String]| -> Result<(bool, u64), String> {
        let mut all = false;
        let mut mask = 0;
        for n in names {
            match parse(n)? {
                None => all = true,
                Some(c) => mask |= c.bitmask(),
            }
        }
        Ok((all, mask))
    };
    let (add_all, add) = parse_all(cap_add)?;
    let (drop_all, drop) = parse_all(cap_drop)?;
    let have = bounding_mask();
    let wanted = if privileged {
        have
    } else if add_all {
        have & !drop
    } else if drop_all {
        add
    } else {
        (default_mask() & !drop) | add
    };
    Ok(wanted & have)
}

/// A capability step failed.
#[derive(Debug, thiserror::Error)]
#[error("{step}: {detail}")]
pub struct CapsError {
    /// The step, e.g. `drop bounding capability 21`.
    pub step: String,
    /// The cause.
    pub detail: String,
}

impl CapsError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> crate::api::ErrorClass {
        crate::api::ErrorClass::Internal
    }
}

/// Drops everything outside `keep` (see [`effective_set`]) from the
/// bounding set. Runs before the uid change, which needs `CAP_SETUID` and
/// `CAP_SETGID` in the effective set even when `keep` lacks them.
pub fn drop_bounding(keep: u64) -> Result<(), CapsError> {
    // Raw prctl rather than `caps::all()`, so capabilities newer than the
    // `caps` crate are dropped too; EINVAL marks the end of the kernel's list.
    for cap in 0..64u64 {
        if keep & (1 << cap) != 0 {
            continue;
        }
        // SAFETY: PR_CAPBSET_DROP takes two integer arguments and touches no memory.
        let rc = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap as libc::c_ulong, 0, 0, 0) };
        if rc < 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EINVAL) {
                break;
            }
            return Err(CapsError {
                step: format!("drop bounding capability {cap}"),
                detail: e.to_string(),
            });
        }
    }
    Ok(())
}

/// After the uid change: empties the inheritable and ambient sets and sets
/// permitted and effective to `keep` (less what this process does not
/// have). A non-root user has lost both already with `setuid`, which is
/// what Docker gives non-root users too.
pub fn restrict(keep: u64) -> Result<(), CapsError> {
    let fail = |step: &str| {
        let step = step.to_owned();
        move |e: caps::errors::CapsError| CapsError {
            step,
            detail: e.to_string(),
        }
    };
    caps::clear(None, CapSet::Ambient).map_err(fail("clear ambient capabilities"))?;
    caps::clear(None, CapSet::Inheritable).map_err(fail("clear inheritable capabilities"))?;
    let permitted =
        caps::read(None, CapSet::Permitted).map_err(fail("read permitted capabilities"))?;
    let wanted: CapsHashSet = permitted
        .into_iter()
        .filter(|c| keep & c.bitmask() != 0)
        .collect();
    // Effective must stay a subset of permitted, so shrink it first.
    caps::set(None, CapSet::Effective, &wanted).map_err(fail("set effective capabilities"))?;
    caps::set(None, CapSet::Permitted, &wanted).map_err(fail("set permitted capabilities"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    fn set(privileged: bool, add: &[&str], drop: &[&str]) -> u64 {
        effective_set(privileged, &names(add), &names(drop)).unwrap()
    }

    #[test]
    fn default_mask_is_dockers() {
        assert_eq!(default_mask(), 0x0000_0000_a804_25fb);
    }

    #[test]
    fn tweaks_follow_dockers_rules() {
        let have = bounding_mask();
        let admin = Capability::CAP_NET_ADMIN.bitmask();
        let chown = Capability::CAP_CHOWN.bitmask();
        assert_eq!(set(false, &[], &[]), default_mask() & have);
        assert_eq!(set(false, &["ALL"], &[]), have);
        assert_eq!(set(true, &[], &["ALL"]), have, "privileged ignores drops");
        assert_eq!(set(false, &["net_admin"], &["all"]), admin & have);
        assert_eq!(set(false, &[], &["ALL"]), 0);
        assert_eq!(set(false, &["all"], &["CAP_CHOWN"]), have & !chown);
        assert_eq!(
            set(false, &["CAP_NET_ADMIN"], &["chown"]),
            ((default_mask() & !chown) | admin) & have
        );
    }

    #[test]
    fn unavailable_capabilities_are_outside_the_bounding_set() {
        let have = bounding_mask();
        for c in unavailable() {
            assert_eq!(have & c.bitmask(), 0, "{c}");
        }
    }

    #[test]
    fn unknown_names_are_refused_with_the_normalised_name() {
        assert_eq!(
            effective_set(false, &names(&["foo"]), &[]).unwrap_err(),
            "unknown capability: \"CAP_FOO\""
        );
        assert_eq!(
            effective_set(false, &[], &names(&["cap_bar"])).unwrap_err(),
            "unknown capability: \"CAP_BAR\""
        );
    }
}
