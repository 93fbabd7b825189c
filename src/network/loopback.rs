//! Bringing up `lo` in a fresh network namespace, with the two `ioctl`s
//! `ip link set lo up` boils down to.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};

use crate::api::ErrorClass;

/// `lo` could not be brought up.
#[derive(Debug, thiserror::Error)]
#[error("bring up loopback interface lo: {step}: {source}")]
pub struct LoopbackError {
    /// The failing step.
    pub step: &'static str,
    /// The cause.
    #[source]
    pub source: io::Error,
}

impl LoopbackError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Internal
    }
}

/// Sets `IFF_UP` on `lo` in the calling thread's network namespace.
pub fn bring_up() -> Result<(), LoopbackError> {
    let fail = |step| move |source| LoopbackError { step, source };
    // SAFETY: socket(2) has no memory-safety preconditions; the result is checked.
    let raw = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if raw < 0 {
        return Err(fail("socket")(io::Error::last_os_error()));
    }
    // SAFETY: `raw` is a freshly created descriptor owned by nothing else.
    let sock = unsafe { OwnedFd::from_raw_fd(raw) };

    // SAFETY: ifreq is plain old data; all-zero is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    for (dst, src) in req.ifr_name.iter_mut().zip(b"lo\0") {
        *dst = *src as libc::c_char;
    }
    // SAFETY: SIOCGIFFLAGS reads the nul-terminated name and writes the flags
    // into `req`, which is a valid, exclusively borrowed ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCGIFFLAGS, &mut req) } < 0 {
        return Err(fail("get flags")(io::Error::last_os_error()));
    }
    // SAFETY: SIOCGIFFLAGS filled the `ifru_flags` member of the union.
    unsafe { req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short };
    // SAFETY: SIOCSIFFLAGS only reads the valid ifreq.
    if unsafe { libc::ioctl(sock.as_raw_fd(), libc::SIOCSIFFLAGS, &req) } < 0 {
        return Err(fail("set flags")(io::Error::last_os_error()));
    }
    Ok(())
}
