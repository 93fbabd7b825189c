//! Reducing the container init's capabilities to Docker's default set.

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

/// Drops everything outside [`DEFAULT_CAPS`] from the bounding set, empties the
/// inheritable and ambient sets, and sets permitted and effective to the
/// default set (less what this process does not have). A later `setuid` to a
/// non-root user then clears permitted and effective, as with Docker.
pub fn apply_default() -> Result<(), CapsError> {
    let keep = default_mask();
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
    let wanted: CapsHashSet = DEFAULT_CAPS
        .iter()
        .copied()
        .filter(|c| permitted.contains(c))
        .collect();
    // Effective must stay a subset of permitted, so shrink it first.
    caps::set(None, CapSet::Effective, &wanted).map_err(fail("set effective capabilities"))?;
    caps::set(None, CapSet::Permitted, &wanted).map_err(fail("set permitted capabilities"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_mask_is_dockers() {
        assert_eq!(default_mask(), 0x0000_0000_a804_25fb);
    }
}
