//! The few `net.*` sysctls bridge networking needs, read and written through
//! `/proc/sys` of the calling thread's network namespace.

use std::fs;
use std::io;
use std::path::PathBuf;

use crate::api::ErrorClass;

/// A sysctl could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{op} sysctl {key}: {source}")]
pub struct SysctlError {
    /// `read` or `write`.
    pub op: &'static str,
    /// The dotted key, e.g. `net.ipv4.ip_forward`.
    pub key: String,
    /// The cause.
    #[source]
    pub source: io::Error,
}

impl SysctlError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::Internal
    }
}

/// The `/proc/sys` path of a dotted key. Interface names may contain dots,
/// so callers pass those pre-split: see [`bridge_route_localnet_key`].
fn path_of(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

/// Reads a sysctl, trimmed (`"1"` for `net.ipv4.ip_forward` on a router).
pub fn read(key: &str) -> Result<String, SysctlError> {
    read_path(key, path_of(key))
}

fn read_path(key: &str, path: PathBuf) -> Result<String, SysctlError> {
    fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .map_err(|source| SysctlError {
            op: "read",
            key: key.to_string(),
            source,
        })
}

/// Writes `value` unless the sysctl already has it (so a read-only `/proc/sys`
/// that already says the right thing is fine).
pub fn ensure(key: &str, value: &str) -> Result<(), SysctlError> {
    ensure_path(key, path_of(key), value)
}

fn ensure_path(key: &str, path: PathBuf, value: &str) -> Result<(), SysctlError> {
    if read_path(key, path.clone())? == value {
        return Ok(());
    }
    fs::write(&path, value).map_err(|source| SysctlError {
        op: "write",
        key: key.to_string(),
        source,
    })
}

/// Turns on IPv4 forwarding (`net.ipv4.ip_forward=1`), needed for
/// containers to reach beyond the bridge and for DNAT to them.
pub fn enable_ip_forward() -> Result<(), SysctlError> {
    ensure("net.ipv4.ip_forward", "1")
}

/// The display key of `route_localnet` for `bridge`.
pub fn bridge_route_localnet_key(bridge: &str) -> String {
    format!("net.ipv4.conf.{bridge}.route_localnet")
}

/// Sets `net.ipv4.conf.<bridge>.route_localnet=1`: without it the kernel
/// drops packets with a 127.0.0.0/8 source leaving through the bridge, which
/// is what DNAT of a connection to 127.0.0.1:<published port> produces
/// before masquerade rewrites the source.
pub fn enable_route_localnet(bridge: &str) -> Result<(), SysctlError> {
    let path = PathBuf::from("/proc/sys/net/ipv4/conf")
        .join(bridge)
        .join("route_localnet");
    ensure_path(&bridge_route_localnet_key(bridge), path, "1")
}

/// Reads the ephemeral port range `net.ipv4.ip_local_port_range`.
pub fn local_port_range() -> Result<(u16, u16), SysctlError> {
    let key = "net.ipv4.ip_local_port_range";
    let raw = read(key)?;
    let mut parts = raw.split_whitespace().map(str::parse::<u16>);
    match (parts.next(), parts.next()) {
        (Some(Ok(lo)), Some(Ok(hi))) if lo <= hi => Ok((lo, hi)),
        _ => Err(SysctlError {
            op: "read",
            key: key.to_string(),
            source: io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unexpected value {raw:?}"),
            ),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ephemeral_range() {
        let (lo, hi) = local_port_range().unwrap();
        assert!(lo > 0 && lo <= hi);
    }

    #[test]
    fn keys_map_to_proc_sys_paths() {
        assert_eq!(
            path_of("net.ipv4.ip_forward"),
            PathBuf::from("/proc/sys/net/ipv4/ip_forward")
        );
        assert_eq!(
            bridge_route_localnet_key("berth0"),
            "net.ipv4.conf.berth0.route_localnet"
        );
    }
}
