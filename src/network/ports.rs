//! Published ports: Docker's `-p`/`--expose` spec grammar (as the docker CLI's
//! `nat.ParsePortSpec` parses it, with its error messages), host port
//! allocation from the ephemeral range, and host port reservations.
//!
//! Conflict policy: forwarding is done by DNAT in the kernel, so no proxy
//! socket marks a published port as taken. A [`PortReservation`] fills that
//! role: a socket *bound but not listening* on the host address and port
//! (no `SO_REUSEADDR`), which makes any later `bind` by another program (or by
//! another container's reservation) fail, costs one descriptor and no
//! thread, and receives no traffic because DNAT rewrites packets before local
//! delivery. A port some program already holds fails the reservation, so
//! `run -p 8080:80` against a busy port fails with Docker's
//! `Bind for 0.0.0.0:8080 failed: port is already allocated`. The kernel
//! rules outlive the daemon (`kill -9`); the reservations do not, and a
//! restarted daemon takes them again for the running containers.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, OwnedFd};
use std::str::FromStr;

use nix::errno::Errno;
use nix::sys::socket::{AddressFamily, SockFlag, SockProtocol, SockType};

use crate::api::ErrorClass;

/// A port spec was malformed, or a host port could not be had.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortError {
    /// The text in front of the last two `:` is not an IP address.
    #[error("invalid IP address: {0}")]
    InvalidIp(String),
    /// A bracketed IPv6 host address is malformed (Go's `net.SplitHostPort`
    /// wording after the address).
    #[error("invalid IP address {ip}: address {ip}:: {reason}")]
    InvalidBracketIp {
        /// The address as written, brackets included.
        ip: String,
        /// Why it does not split.
        reason: &'static str,
    },
    /// The container port part is empty (`-p 8080:`).
    #[error("no port specified: {0}<empty>")]
    NoPort(String),
    /// The container port (range) does not parse.
    #[error("invalid containerPort: {0}")]
    InvalidContainerPort(String),
    /// The host port (range) does not parse.
    #[error("invalid hostPort: {0}")]
    InvalidHostPort(String),
    /// Container and host ranges have different lengths.
    #[error("invalid ranges specified for container and host Ports: {container} and {host}")]
    RangeMismatch {
        /// The container port range as written.
        container: String,
        /// The host port range as written.
        host: String,
    },
    /// The protocol is not tcp, udp or sctp.
    #[error("invalid proto: {0}")]
    InvalidProto(String),
    /// `--expose` with a host part.
    #[error("invalid port format for --expose: {0}")]
    ExposeFormat(String),
    /// `--expose` with a bad range.
    #[error("invalid range format for --expose: {spec}, error: {reason}")]
    ExposeRange {
        /// The `--expose` value.
        spec: String,
        /// Go's `strconv` wording of the failure.
        reason: String,
    },
    /// A `PortBindings` key such as `80/tcp` does not parse.
    #[error("invalid port specification: \"{0}\"")]
    InvalidKey(String),
    /// The host port is taken (by a container or another program).
    #[error("Bind for {ip}:{port} failed: port is already allocated")]
    Allocated {
        /// The host address, `0.0.0.0` for all.
        ip: Ipv4Addr,
        /// The host port.
        port: u16,
    },
    /// No free port left in the range.
    #[error("all ports are allocated")]
    Exhausted,
    /// A socket call failed for another reason than the port being taken.
    #[error("reserve host port {ip}:{port}/{proto}: {errno}")]
    Socket {
        /// The host address.
        ip: Ipv4Addr,
        /// The host port.
        port: u16,
        /// The protocol.
        proto: Protocol,
        /// The cause.
        errno: Errno,
    },
}

impl PortError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> ErrorClass {
        match self {
            PortError::Allocated { .. } | PortError::Exhausted => ErrorClass::Conflict,
            PortError::Socket { .. } => ErrorClass::Internal,
            _ => ErrorClass::InvalidArgument,
        }
    }
}

/// A transport protocol of a published or exposed port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Protocol {
    /// `tcp` (the default).
    Tcp,
    /// `udp`.
    Udp,
    /// `sctp`.
    Sctp,
}

impl Protocol {
    /// The lower-case name Docker uses in port keys.
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "tcp",
            Protocol::Udp => "udp",
            Protocol::Sctp => "sctp",
        }
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Protocol {
    type Err = PortError;

    /// Case-insensitive, like Docker.
    fn from_str(s: &str) -> Result<Self, PortError> {
        match s.to_ascii_lowercase().as_str() {
            "tcp" => Ok(Protocol::Tcp),
            "udp" => Ok(Protocol::Udp),
            "sctp" => Ok(Protocol::Sctp),
            _ => Err(PortError::InvalidProto(s.to_string())),
        }
    }
}

/// A container port with its protocol: the `80/tcp` keys of `ExposedPorts`,
/// `PortBindings` and `NetworkSettings.Ports`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Port {
    /// The port number.
    pub number: u16,
    /// The protocol.
    pub proto: Protocol,
}

impl fmt::Display for Port {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.number, self.proto)
    }
}

impl FromStr for Port {
    type Err = PortError;

    /// Parses a key such as `80/tcp`, `53/udp` or bare `80` (tcp).
    fn from_str(s: &str) -> Result<Self, PortError> {
        let bad = || PortError::InvalidKey(s.to_string());
        let (proto, num) = split_proto_port(s);
        let number = num.parse::<u16>().map_err(|_| bad())?;
        let proto = proto.parse::<Protocol>().map_err(|_| bad())?;
        Ok(Port { number, proto })
    }
}

/// Where a container port is published on the host, as Docker's
/// `PortBinding`: empty strings mean "all addresses" and "pick a port";
/// `host_port` may be a range (`8000-8010`) to pick from.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct PortBinding {
    /// Host address, `""` for all.
    pub host_ip: String,
    /// Host port, a range, or `""`.
    pub host_port: String,
}

/// One container port and one of its host bindings, from a `-p` spec.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortMapping {
    /// The container port.
    pub port: Port,
    /// Its binding.
    pub binding: PortBinding,
}

/// Go's `strings.Split`-based split of `[ip:][hostPort:]containerPort`.
fn split_parts(raw: &str) -> (String, String, String) {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let container = parts[n - 1].to_string();
    match n {
        1 => (String::new(), String::new(), container),
        2 => (String::new(), parts[0].to_string(), container),
        3 => (parts[0].to_string(), parts[1].to_string(), container),
        _ => (
            parts[..n - 2].join(":"),
            parts[n - 2].to_string(),
            container,
        ),
    }
}

/// `nat.SplitProtoPort`: `80/udp` → (`udp`, `80`); no protocol means tcp.
fn split_proto_port(raw: &str) -> (&str, &str) {
    let mut parts = raw.split('/');
    let port = parts.next().unwrap_or("");
    if port.is_empty() {
        return ("", "");
    }
    match parts.next() {
        None | Some("") => ("tcp", port),
        Some(proto) => (proto, port),
    }
}

/// Go's `strconv.ParseUint(s, 10, 16)` error text, for messages that quote it.
fn go_parse_u16(s: &str) -> Result<u16, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"));
    }
    s.parse::<u16>()
        .map_err(|_| format!("strconv.ParseUint: parsing {s:?}: value out of range"))
}

/// `nat.ParsePortRange`: `80` or `8000-8010`, end not below start.
pub fn parse_port_range(s: &str) -> Result<(u16, u16), String> {
    if s.is_empty() {
        return Err("empty string specified for ports".to_string());
    }
    let Some((start, end)) = s.split_once('-') else {
        let p = go_parse_u16(s)?;
        return Ok((p, p));
    };
    // Go splits on every '-' and reads the first two parts.
    let end = end.split('-').next().unwrap_or("");
    let (start, end) = (go_parse_u16(start)?, go_parse_u16(end)?);
    if end < start {
        return Err(format!("invalid range specified for port: {s}"));
    }
    Ok((start, end))
}

/// `[addr]` → `addr`, failing like Go's `net.SplitHostPort(ip + ":")`.
fn unbracket(ip: &str) -> Result<String, PortError> {
    let fail = |reason| PortError::InvalidBracketIp {
        ip: ip.to_string(),
        reason,
    };
    let end = ip.find(']').ok_or_else(|| fail("missing ']' in address"))?;
    if end + 1 != ip.len() {
        return Err(fail(if ip[end + 1..].starts_with(':') {
            "too many colons in address"
        } else {
            "missing port in address"
        }));
    }
    let host = &ip[1..end];
    if host.contains('[') {
        return Err(fail("unexpected '[' in address"));
    }
    Ok(host.to_string())
}

/// Parses one `-p`/`--publish` value into one mapping per container port,
/// exactly as the docker CLI does (`nat.ParsePortSpec`), errors included.
pub fn parse_port_spec(raw: &str) -> Result<Vec<PortMapping>, PortError> {
    let (mut ip, host_port, container) = split_parts(raw);
    let (proto, container) = split_proto_port(&container);
    if ip.starts_with('[') {
        ip = unbracket(&ip)?;
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(PortError::InvalidIp(ip));
    }
    if container.is_empty() {
        return Err(PortError::NoPort(raw.to_string()));
    }
    let (start, end) = parse_port_range(container)
        .map_err(|_| PortError::InvalidContainerPort(container.to_string()))?;
    let (host_start, host_end) = if host_port.is_empty() {
        (0, 0)
    } else {
        parse_port_range(&host_port).map_err(|_| PortError::InvalidHostPort(host_port.clone()))?
    };
    if !host_port.is_empty() && end - start != host_end - host_start && end != start {
        return Err(PortError::RangeMismatch {
            container: container.to_string(),
            host: host_port,
        });
    }
    let proto: Protocol = proto.parse()?;
    let mut out = Vec::with_capacity(usize::from(end - start) + 1);
    for i in 0..=(end - start) {
        let mut host = if host_port.is_empty() {
            String::new()
        } else {
            (u32::from(host_start) + u32::from(i)).to_string()
        };
        // A single container port with a host range: pick from that range.
        if start == end && host_start != host_end {
            host = format!("{host}-{host_end}");
        }
        out.push(PortMapping {
            port: Port {
                number: start + i,
                proto,
            },
            binding: PortBinding {
                host_ip: ip.clone(),
                host_port: host,
            },
        });
    }
    Ok(out)
}

/// What `ExposedPorts` and `HostConfig.PortBindings` get from all `-p`
/// values (`nat.ParsePortSpecs`): every published port is also exposed.
pub type ParsedPorts = (BTreeSet<Port>, BTreeMap<Port, Vec<PortBinding>>);

/// Parses every `-p` value; bindings of the same port accumulate in order.
pub fn parse_port_specs<S: AsRef<str>>(raws: &[S]) -> Result<ParsedPorts, PortError> {
    let mut exposed = BTreeSet::new();
    let mut bindings: BTreeMap<Port, Vec<PortBinding>> = BTreeMap::new();
    for raw in raws {
        for m in parse_port_spec(raw.as_ref())? {
            exposed.insert(m.port);
            let list = bindings.entry(m.port).or_default();
            if !list.contains(&m.binding) {
                list.push(m.binding);
            }
        }
    }
    Ok((exposed, bindings))
}

/// Parses one `--expose` value (`80`, `80/udp`, `8000-8010/tcp`).
pub fn parse_expose(raw: &str) -> Result<Vec<Port>, PortError> {
    if raw.contains(':') {
        return Err(PortError::ExposeFormat(raw.to_string()));
    }
    let (proto, port) = split_proto_port(raw);
    let (start, end) = parse_port_range(port).map_err(|reason| PortError::ExposeRange {
        spec: raw.to_string(),
        reason,
    })?;
    let proto: Protocol = proto.parse()?;
    Ok((start..=end).map(|number| Port { number, proto }).collect())
}

/// The host address of a binding: `""` is 0.0.0.0. IPv6 addresses are not
/// published (IPv4-only networking) and come back as `None`.
pub fn binding_ip(binding: &PortBinding) -> Result<Option<Ipv4Addr>, PortError> {
    if binding.host_ip.is_empty() {
        return Ok(Some(Ipv4Addr::UNSPECIFIED));
    }
    match binding.host_ip.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) => Ok(Some(ip)),
        Ok(IpAddr::V6(_)) => Ok(None),
        Err(_) => Err(PortError::InvalidIp(binding.host_ip.clone())),
    }
}

/// A host port held for a published container port: a bound, non-listening
/// socket (see the module doc). Dropping it frees the port.
#[derive(Debug)]
pub struct PortReservation {
    /// The host address.
    pub ip: Ipv4Addr,
    /// The host port.
    pub port: u16,
    /// The protocol.
    pub proto: Protocol,
    _socket: Option<OwnedFd>,
}

/// Reserves `ip:port/proto` on the host. `port` 0 is not allowed here; use
/// [`allocate`] to pick one. An SCTP reservation on a kernel without SCTP
/// succeeds without a socket: nothing else can bind that port either.
pub fn reserve(ip: Ipv4Addr, port: u16, proto: Protocol) -> Result<PortReservation, PortError> {
    let (ty, protocol) = match proto {
        Protocol::Tcp => (SockType::Stream, SockProtocol::Tcp),
        Protocol::Udp => (SockType::Datagram, SockProtocol::Udp),
        Protocol::Sctp => (SockType::Stream, SockProtocol::Sctp),
    };
    let socket =
        match nix::sys::socket::socket(AddressFamily::Inet, ty, SockFlag::SOCK_CLOEXEC, protocol) {
            Ok(fd) => fd,
            Err(Errno::EPROTONOSUPPORT) if proto == Protocol::Sctp => {
                return Ok(PortReservation {
                    ip,
                    port,
                    proto,
                    _socket: None,
                });
            }
            Err(errno) => {
                return Err(PortError::Socket {
                    ip,
                    port,
                    proto,
                    errno,
                });
            }
        };
    match bind_v4(&socket, SocketAddrV4::new(ip, port)) {
        Ok(()) => Ok(PortReservation {
            ip,
            port,
            proto,
            _socket: Some(socket),
        }),
        Err(Errno::EADDRINUSE) | Err(Errno::EACCES) => Err(PortError::Allocated { ip, port }),
        Err(errno) => Err(PortError::Socket {
            ip,
            port,
            proto,
            errno,
        }),
    }
}

/// bind(2) of an IPv4 socket (nix's socket addresses need its `net` feature).
fn bind_v4(socket: &OwnedFd, addr: SocketAddrV4) -> Result<(), Errno> {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: addr.port().to_be(),
        sin_addr: libc::in_addr {
            s_addr: u32::from(*addr.ip()).to_be(),
        },
        sin_zero: [0; 8],
    };
    // SAFETY: `sin` is a valid sockaddr_in for the duration of the call and
    // the length passed is its size; `socket` is an open descriptor.
    let rc = unsafe {
        libc::bind(
            socket.as_raw_fd(),
            (&sin as *const libc::sockaddr_in).cast(),
            std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t,
        )
    };
    if rc == 0 { Ok(()) } else { Err(Errno::last()) }
}

/// Picks and reserves a free host port in `range` (inclusive), starting at a
/// random offset, skipping ports `taken` says the daemon already handed out
/// and ports some program holds. Fails with [`PortError::Exhausted`].
pub fn allocate(
    ip: Ipv4Addr,
    proto: Protocol,
    range: (u16, u16),
    taken: impl Fn(u16) -> bool,
) -> Result<PortReservation, PortError> {
    let (lo, hi) = range;
    if lo == 0 || lo > hi {
        return Err(PortError::Exhausted);
    }
    let len = u32::from(hi - lo) + 1;
    let mut seed = [0u8; 4];
    getrandom::fill(&mut seed).expect("the kernel's random source is available");
    let offset = u32::from_le_bytes(seed) % len;
    for i in 0..len {
        let port = lo + ((offset + i) % len) as u16;
        if taken(port) {
            continue;
        }
        match reserve(ip, port, proto) {
            Ok(r) => return Ok(r),
            Err(PortError::Allocated { .. }) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(PortError::Exhausted)
}

/// The range a binding's host port asks for: a fixed port, a range to pick
/// from, or `None` for "any port in the ephemeral range".
pub fn host_port_range(binding: &PortBinding) -> Result<Option<(u16, u16)>, PortError> {
    if binding.host_port.is_empty() {
        return Ok(None);
    }
    let (lo, hi) = parse_port_range(&binding.host_port)
        .map_err(|_| PortError::InvalidHostPort(binding.host_port.clone()))?;
    if lo == 0 && hi == 0 {
        return Ok(None);
    }
    Ok(Some((lo, hi)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: ip.to_string(),
            host_port: port.to_string(),
        }
    }

    fn tcp(n: u16) -> Port {
        Port {
            number: n,
            proto: Protocol::Tcp,
        }
    }

    #[test]
    fn parses_every_spec_form() {
        let one = |s: &str| {
            parse_port_spec(s)
                .unwrap()
                .into_iter()
                .map(|m| (m.port.to_string(), m.binding))
                .collect::<Vec<_>>()
        };
        assert_eq!(one("80"), vec![("80/tcp".into(), b("", ""))]);
        assert_eq!(one("8080:80"), vec![("80/tcp".into(), b("", "8080"))]);
        assert_eq!(
            one("127.0.0.1:8080:80/udp"),
            vec![("80/udp".into(), b("127.0.0.1", "8080"))]
        );
        assert_eq!(
            one("127.0.0.1::80"),
            vec![("80/tcp".into(), b("127.0.0.1", ""))]
        );
        assert_eq!(one("53/UDP"), vec![("53/udp".into(), b("", ""))]);
        assert_eq!(one("80/"), vec![("80/tcp".into(), b("", ""))]);
        assert_eq!(
            one("[::1]:8080:80"),
            vec![("80/tcp".into(), b("::1", "8080"))]
        );
        assert_eq!(
            one("8000-8001:80-81/sctp"),
            vec![
                ("80/sctp".into(), b("", "8000")),
                ("81/sctp".into(), b("", "8001"))
            ]
        );
        assert_eq!(
            one("8000-8010:80"),
            vec![("80/tcp".into(), b("", "8000-8010"))]
        );
        assert_eq!(
            one("80-81"),
            vec![("80/tcp".into(), b("", "")), ("81/tcp".into(), b("", ""))]
        );
    }

    #[test]
    fn errors_match_the_docker_cli() {
        let err = |s: &str| parse_port_spec(s).unwrap_err().to_string();
        assert_eq!(err("x"), "invalid containerPort: x");
        assert_eq!(err("x:80"), "invalid hostPort: x");
        assert_eq!(err("70000"), "invalid containerPort: 70000");
        assert_eq!(err("1.2.3:80:80"), "invalid IP address: 1.2.3");
        assert_eq!(err("8080:"), "no port specified: 8080:<empty>");
        assert_eq!(err("80/tcpx"), "invalid proto: tcpx");
        assert_eq!(err("90-80"), "invalid containerPort: 90-80");
        assert_eq!(
            err("[::1:8080:80"),
            "invalid IP address [::1: address [::1:: missing ']' in address"
        );
        assert_eq!(
            parse_expose("90-80").unwrap_err().to_string(),
            "invalid range format for --expose: 90-80, error: invalid range specified for port: 90-80"
        );
        assert_eq!(
            err("8000-8002:80-81"),
            "invalid ranges specified for container and host Ports: 80-81 and 8000-8002"
        );
        assert_eq!(
            parse_expose("a:80").unwrap_err().to_string(),
            "invalid port format for --expose: a:80"
        );
        assert_eq!(
            parse_expose("8x").unwrap_err().to_string(),
            "invalid range format for --expose: 8x, error: strconv.ParseUint: parsing \"8x\": invalid syntax"
        );
    }

    #[test]
    fn specs_accumulate_bindings_and_expose_ports() {
        let (exposed, bindings) =
            parse_port_specs(&["8080:80", "127.0.0.1:8081:80", "8080:80", "53/udp"]).unwrap();
        assert_eq!(
            exposed.iter().map(ToString::to_string).collect::<Vec<_>>(),
            ["53/udp", "80/tcp"]
        );
        assert_eq!(
            bindings[&tcp(80)],
            vec![b("", "8080"), b("127.0.0.1", "8081")]
        );
        assert_eq!(
            parse_expose("7000-7001/udp").unwrap(),
            vec![
                Port {
                    number: 7000,
                    proto: Protocol::Udp
                },
                Port {
                    number: 7001,
                    proto: Protocol::Udp
                }
            ]
        );
    }

    #[test]
    fn port_keys_round_trip() {
        assert_eq!("80/tcp".parse::<Port>().unwrap(), tcp(80));
        assert_eq!("80".parse::<Port>().unwrap(), tcp(80));
        assert_eq!(
            "x/tcp".parse::<Port>().unwrap_err().to_string(),
            "invalid port specification: \"x/tcp\""
        );
        assert_eq!(tcp(443).to_string(), "443/tcp");
    }

    #[test]
    fn host_port_ranges() {
        assert_eq!(host_port_range(&b("", "")).unwrap(), None);
        assert_eq!(host_port_range(&b("", "0")).unwrap(), None);
        assert_eq!(host_port_range(&b("", "8080")).unwrap(), Some((8080, 8080)));
        assert_eq!(
            host_port_range(&b("", "8000-8010")).unwrap(),
            Some((8000, 8010))
        );
        assert_eq!(
            binding_ip(&b("", "1")).unwrap(),
            Some(Ipv4Addr::UNSPECIFIED)
        );
        assert_eq!(binding_ip(&b("::", "1")).unwrap(), None);
    }

    #[test]
    fn a_reserved_port_cannot_be_bound_again_until_dropped() {
        let lo = Ipv4Addr::LOCALHOST;
        let r = allocate(lo, Protocol::Tcp, (20000, 60000), |_| false).unwrap();
        assert_eq!(
            reserve(lo, r.port, Protocol::Tcp).unwrap_err(),
            PortError::Allocated {
                ip: lo,
                port: r.port
            }
        );
        assert!(std::net::TcpListener::bind((lo, r.port)).is_err());
        let port = r.port;
        drop(r);
        drop(reserve(lo, port, Protocol::Tcp).unwrap());
        let u = reserve(lo, port, Protocol::Udp).unwrap();
        assert!(std::net::UdpSocket::bind((lo, port)).is_err());
        drop(u);
        let only = allocate(lo, Protocol::Tcp, (port, port), |p| p == port).unwrap_err();
        assert_eq!(only, PortError::Exhausted);
        assert_eq!(
            PortError::Allocated {
                ip: Ipv4Addr::UNSPECIFIED,
                port: 8080
            }
            .to_string(),
            "Bind for 0.0.0.0:8080 failed: port is already allocated"
        );
    }
}
