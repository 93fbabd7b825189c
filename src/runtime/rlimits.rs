//! Resource limits (`--ulimit`): Docker's names, the check against the
//! daemon's own limits, and `setrlimit` in the container init.
//!
//! Without `CAP_SYS_RESOURCE` (which root lacks on some hosts) no process
//! can raise a hard limit, so a limit above the daemon's own hard limit is
//! refused up front with a message naming it, instead of failing in the init.

use nix::sys::resource::{Resource, getrlimit, setrlimit};

use super::spec::Rlimit;

/// Docker's ulimit names (go-units) and the resources they set.
pub const NAMES: &[(&str, Resource)] = &[
    ("as", Resource::RLIMIT_AS),
    ("core", Resource::RLIMIT_CORE),
    ("cpu", Resource::RLIMIT_CPU),
    ("data", Resource::RLIMIT_DATA),
    ("fsize", Resource::RLIMIT_FSIZE),
    ("locks", Resource::RLIMIT_LOCKS),
    ("memlock", Resource::RLIMIT_MEMLOCK),
    ("msgqueue", Resource::RLIMIT_MSGQUEUE),
    ("nice", Resource::RLIMIT_NICE),
    ("nofile", Resource::RLIMIT_NOFILE),
    ("nproc", Resource::RLIMIT_NPROC),
    ("rss", Resource::RLIMIT_RSS),
    ("rtprio", Resource::RLIMIT_RTPRIO),
    ("rttime", Resource::RLIMIT_RTTIME),
    ("sigpending", Resource::RLIMIT_SIGPENDING),
    ("stack", Resource::RLIMIT_STACK),
];

/// A limit that cannot be applied.
#[derive(Debug, thiserror::Error)]
pub enum RlimitError {
    /// Not one of [`NAMES`] (Docker's wording).
    #[error("invalid ulimit type: {name}")]
    Unknown {
        /// The name given.
        name: String,
    },
    /// Soft above hard (Docker's wording).
    #[error("ulimit {name}: soft limit must be less than or equal to hard limit: {soft} > {hard}")]
    SoftAboveHard {
        /// The limit.
        name: String,
        /// Soft limit asked for.
        soft: u64,
        /// Hard limit asked for.
        hard: u64,
    },
    /// A hard limit this process may not raise to.
    #[error("ulimit {name}: hard limit {hard} exceeds the daemon's own hard limit {own}")]
    AboveOwn {
        /// The limit.
        name: String,
        /// Hard limit asked for.
        hard: String,
        /// This process' hard limit.
        own: String,
    },
    /// `getrlimit` or `setrlimit` failed.
    #[error("ulimit {name}: {op}: {source}")]
    Sys {
        /// The limit.
        name: String,
        /// `getrlimit` or `setrlimit`.
        op: &'static str,
        /// The errno.
        #[source]
        source: nix::Error,
    },
}

impl RlimitError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> crate::api::ErrorClass {
        match self {
            RlimitError::Sys { .. } => crate::api::ErrorClass::Internal,
            _ => crate::api::ErrorClass::InvalidArgument,
        }
    }
}

/// The resource Docker's short `name` stands for.
pub fn resource(name: &str) -> Option<Resource> {
    NAMES.iter().find(|(n, _)| *n == name).map(|(_, r)| *r)
}

fn show(v: u64) -> String {
    if v == libc::RLIM_INFINITY {
        "unlimited".into()
    } else {
        v.to_string()
    }
}

/// Checks names and soft <= hard, and that no hard limit exceeds this
/// process' own (the daemon's, or the supervisor's, which inherits them).
pub fn check(limits: &[Rlimit]) -> Result<(), RlimitError> {
    for l in limits {
        let res = resource(&l.name).ok_or_else(|| RlimitError::Unknown {
            name: l.name.clone(),
        })?;
        if l.soft > l.hard {
            return Err(RlimitError::SoftAboveHard {
                name: l.name.clone(),
                soft: l.soft,
                hard: l.hard,
            });
        }
        let (_, own) = getrlimit(res).map_err(|source| RlimitError::Sys {
            name: l.name.clone(),
            op: "getrlimit",
            source,
        })?;
        if l.hard > own {
            return Err(RlimitError::AboveOwn {
                name: l.name.clone(),
                hard: show(l.hard),
                own: show(own),
            });
        }
    }
    Ok(())
}

/// Sets `limits` on the calling process (the container init, before exec).
pub fn apply(limits: &[Rlimit]) -> Result<(), RlimitError> {
    check(limits)?;
    for l in limits {
        let res = resource(&l.name).ok_or_else(|| RlimitError::Unknown {
            name: l.name.clone(),
        })?;
        setrlimit(res, l.soft, l.hard).map_err(|source| RlimitError::Sys {
            name: l.name.clone(),
            op: "setrlimit",
            source,
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lim(name: &str, soft: u64, hard: u64) -> Rlimit {
        Rlimit {
            name: name.into(),
            soft,
            hard,
        }
    }

    #[test]
    fn names_and_ordering_are_checked_with_dockers_words() {
        assert_eq!(
            check(&[lim("nofiles", 1, 2)]).unwrap_err().to_string(),
            "invalid ulimit type: nofiles"
        );
        assert_eq!(
            check(&[lim("nofile", 3, 2)]).unwrap_err().to_string(),
            "ulimit nofile: soft limit must be less than or equal to hard limit: 3 > 2"
        );
        check(&[lim("core", 0, 0), lim("nofile", 64, 64)]).unwrap();
    }

    #[test]
    fn a_hard_limit_above_our_own_is_refused() {
        let (_, own) = getrlimit(Resource::RLIMIT_NOFILE).unwrap();
        if own == libc::RLIM_INFINITY {
            return; // nothing is above unlimited
        }
        let e = check(&[lim("nofile", 1, own + 1)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "ulimit nofile: hard limit {} exceeds the daemon's own hard limit {own}",
                own + 1
            )
        );
        assert_eq!(e.class(), crate::api::ErrorClass::InvalidArgument);
    }
}
