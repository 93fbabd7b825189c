//! IPv4 address management: subnets, a per-network address pool that never
//! hands out an address twice, its persistence, and the choice of a default
//! subnet that does not clash with the host's routes.
//!
//! State layout: one file per network, `<dir>/<network-id>.json`, written
//! with [`crate::fsutil::atomic_write`] after every change:
//! `{"version":1,"subnet":"172.17.0.0/16","gateway":"172.17.0.1",
//!   "leases":{"172.17.0.2":"<owner>"},"last":"172.17.0.2"}`.
//! `last` makes allocation continue after the most recent address instead of
//! reusing a just-released one at once (as dockerd's allocator does).

use std::collections::BTreeMap;
use std::fmt;
use std::io;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::api::ErrorClass;

/// An IPAM request failed.
#[derive(Debug, thiserror::Error)]
pub enum IpamError {
    /// A subnet string does not parse.
    #[error("invalid subnet {0}: expected a.b.c.d/len")]
    InvalidSubnet(String),
    /// The subnet has no room for a gateway and a container.
    #[error("subnet {0} is too small")]
    TooSmall(Ipv4Net),
    /// An address (gateway or requested) is outside the subnet or is its
    /// network or broadcast address.
    #[error("no configured subnet or ip-range contain the IP address {ip}")]
    OutOfRange {
        /// The address.
        ip: Ipv4Addr,
    },
    /// A requested address is already leased.
    #[error("Address already in use")]
    InUse(Ipv4Addr),
    /// Every address is leased.
    #[error("no available IPv4 addresses on this network's address pools: {0}")]
    Exhausted(Ipv4Net),
    /// No default subnet candidate is free of the host's routes.
    #[error(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )]
    NoFreeSubnet,
    /// The state file could not be read or written.
    #[error("{op} {path}: {source}")]
    Io {
        /// The failing step.
        op: &'static str,
        /// The state file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl IpamError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> ErrorClass {
        match self {
            IpamError::InvalidSubnet(_) | IpamError::TooSmall(_) | IpamError::OutOfRange { .. } => {
                ErrorClass::InvalidArgument
            }
            IpamError::InUse(_) => ErrorClass::Conflict,
            IpamError::Exhausted(_) | IpamError::NoFreeSubnet => ErrorClass::Unavailable,
            IpamError::Io { .. } => ErrorClass::Internal,
        }
    }
}

/// An IPv4 address with a prefix length, as written in `--subnet` and
/// `--bip`: the address keeps its host bits (`172.17.0.1/16` names the
/// bridge address), [`Ipv4Net::network`] drops them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Ipv4Net {
    /// The address as written.
    pub addr: Ipv4Addr,
    /// The prefix length, 0..=32.
    pub prefix: u8,
}

impl Ipv4Net {
    /// Builds a net; `None` if `prefix` is above 32.
    pub fn new(addr: Ipv4Addr, prefix: u8) -> Option<Ipv4Net> {
        (prefix <= 32).then_some(Ipv4Net { addr, prefix })
    }

    fn mask(self) -> u32 {
        if self.prefix == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(self.prefix))
        }
    }

    /// The same prefix with the host bits cleared.
    pub fn network(self) -> Ipv4Net {
        Ipv4Net {
            addr: Ipv4Addr::from(u32::from(self.addr) & self.mask()),
            prefix: self.prefix,
        }
    }

    /// The broadcast (last) address.
    pub fn broadcast(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.addr) | !self.mask())
    }

    /// Whether `ip` is inside the prefix.
    pub fn contains(self, ip: Ipv4Addr) -> bool {
        u32::from(ip) & self.mask() == u32::from(self.addr) & self.mask()
    }

    /// Whether the two prefixes share any address.
    pub fn overlaps(self, other: Ipv4Net) -> bool {
        self.contains(other.addr) || other.contains(self.addr)
    }

    /// Whether `ip` can be given to a host: inside, and neither the network
    /// nor the broadcast address (for prefixes up to /30).
    pub fn is_host(self, ip: Ipv4Addr) -> bool {
        self.contains(ip)
            && (self.prefix >= 31 || (ip != self.network().addr && ip != self.broadcast()))
    }

    /// The first host address, Docker's default gateway (`.1`).
    pub fn first_host(self) -> Ipv4Addr {
        Ipv4Addr::from(u32::from(self.network().addr) + 1)
    }
}

impl fmt::Display for Ipv4Net {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.addr, self.prefix)
    }
}

impl FromStr for Ipv4Net {
    type Err = IpamError;

    fn from_str(s: &str) -> Result<Self, IpamError> {
        let bad = || IpamError::InvalidSubnet(s.to_string());
        let (addr, prefix) = s.split_once('/').ok_or_else(bad)?;
        let addr = addr.parse::<Ipv4Addr>().map_err(|_| bad())?;
        let prefix = prefix.parse::<u8>().map_err(|_| bad())?;
        Ipv4Net::new(addr, prefix).ok_or_else(bad)
    }
}

impl Serialize for Ipv4Net {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Ipv4Net {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// The address pool of one network: pure logic, no I/O.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pool {
    /// The subnet, host bits cleared.
    pub subnet: Ipv4Net,
    /// The gateway (the bridge's address), never leased.
    pub gateway: Ipv4Addr,
    /// Leased addresses and who holds them (an endpoint or container id).
    pub leases: BTreeMap<Ipv4Addr, String>,
    /// The most recently leased address; allocation continues after it.
    #[serde(default)]
    pub last: Option<Ipv4Addr>,
}

impl Pool {
    /// A pool for `subnet` with `gateway`, by default the first host address.
    pub fn new(subnet: Ipv4Net, gateway: Option<Ipv4Addr>) -> Result<Pool, IpamError> {
        let subnet = subnet.network();
        if subnet.prefix > 30 {
            return Err(IpamError::TooSmall(subnet));
        }
        let gateway = gateway.unwrap_or_else(|| subnet.first_host());
        if !subnet.is_host(gateway) {
            return Err(IpamError::OutOfRange { ip: gateway });
        }
        Ok(Pool {
            subnet,
            gateway,
            leases: BTreeMap::new(),
            last: None,
        })
    }

    /// Leases the next free address after the last one handed out.
    pub fn allocate(&mut self, owner: &str) -> Result<Ipv4Addr, IpamError> {
        let first = u32::from(self.subnet.network().addr) + 1;
        let last = u32::from(self.subnet.broadcast()) - 1;
        let count = last - first + 1;
        let start = self
            .last
            .map(u32::from)
            .filter(|l| (first..=last).contains(l))
            .map_or(0, |l| l - first + 1);
        for i in 0..count {
            let ip = Ipv4Addr::from(first + (start + i) % count);
            if ip != self.gateway && !self.leases.contains_key(&ip) {
                self.leases.insert(ip, owner.to_string());
                self.last = Some(ip);
                return Ok(ip);
            }
        }
        Err(IpamError::Exhausted(self.subnet))
    }

    /// Leases a specific address (`--ip`).
    pub fn reserve(&mut self, ip: Ipv4Addr, owner: &str) -> Result<Ipv4Addr, IpamError> {
        if !self.subnet.is_host(ip) {
            return Err(IpamError::OutOfRange { ip });
        }
        if ip == self.gateway || self.leases.contains_key(&ip) {
            return Err(IpamError::InUse(ip));
        }
        self.leases.insert(ip, owner.to_string());
        Ok(ip)
    }

    /// Releases an address; false if it was not leased.
    pub fn release(&mut self, ip: Ipv4Addr) -> bool {
        self.leases.remove(&ip).is_some()
    }

    /// Releases every address `owner` holds; returns them.
    pub fn release_owner(&mut self, owner: &str) -> Vec<Ipv4Addr> {
        let gone: Vec<Ipv4Addr> = self
            .leases
            .iter()
            .filter(|(_, o)| o.as_str() == owner)
            .map(|(ip, _)| *ip)
            .collect();
        for ip in &gone {
            self.leases.remove(ip);
        }
        gone
    }

    /// The addresses `owner` holds.
    pub fn leases_of(&self, owner: &str) -> Vec<Ipv4Addr> {
        self.leases
            .iter()
            .filter(|(_, o)| o.as_str() == owner)
            .map(|(ip, _)| *ip)
            .collect()
    }
}

#[derive(Serialize, Deserialize)]
struct PoolFile {
    version: u32,
    #[serde(flatten)]
    pool: Pool,
}

const STATE_VERSION: u32 = 1;

/// A [`Pool`] persisted at `<dir>/<network-id>.json`; every change is written
/// atomically before it returns, so a restarted daemon sees every lease.
#[derive(Debug)]
pub struct Ipam {
    path: PathBuf,
    pool: Pool,
}

impl Ipam {
    /// Loads the pool of `network_id` from `dir`, or creates (and saves) a new
    /// one for `subnet`/`gateway`. A stored pool wins over the arguments:
    /// the caller compares [`Ipam::pool`] if it must detect a changed subnet.
    pub fn open(
        dir: &Path,
        network_id: &str,
        subnet: Ipv4Net,
        gateway: Option<Ipv4Addr>,
    ) -> Result<Ipam, IpamError> {
        let path = dir.join(format!("{network_id}.json"));
        match std::fs::read(&path) {
            Ok(bytes) => {
                let file: PoolFile = serde_json::from_slice(&bytes).map_err(|e| IpamError::Io {
                    op: "parse",
                    path: path.clone(),
                    source: e.into(),
                })?;
                Ok(Ipam {
                    path,
                    pool: file.pool,
                })
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let ipam = Ipam {
                    path,
                    pool: Pool::new(subnet, gateway)?,
                };
                crate::fsutil::create_private_dir(dir).map_err(|source| IpamError::Io {
                    op: "create",
                    path: dir.to_path_buf(),
                    source,
                })?;
                ipam.save()?;
                Ok(ipam)
            }
            Err(source) => Err(IpamError::Io {
                op: "read",
                path,
                source,
            }),
        }
    }

    fn save(&self) -> Result<(), IpamError> {
        let bytes = serde_json::to_vec_pretty(&PoolFile {
            version: STATE_VERSION,
            pool: self.pool.clone(),
        })
        .map_err(|e| IpamError::Io {
            op: "encode",
            path: self.path.clone(),
            source: e.into(),
        })?;
        crate::fsutil::atomic_write(&self.path, &bytes).map_err(|source| IpamError::Io {
            op: "write",
            path: self.path.clone(),
            source,
        })
    }

    /// Applies `change` to a copy of the pool and keeps it only if it saved.
    fn update<T>(
        &mut self,
        change: impl FnOnce(&mut Pool) -> Result<T, IpamError>,
    ) -> Result<T, IpamError> {
        let mut next = self.pool.clone();
        let out = change(&mut next)?;
        let prev = std::mem::replace(&mut self.pool, next);
        if let Err(e) = self.save() {
            self.pool = prev;
            return Err(e);
        }
        Ok(out)
    }

    /// The pool as stored.
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// Leases and persists the next free address.
    pub fn allocate(&mut self, owner: &str) -> Result<Ipv4Addr, IpamError> {
        self.update(|p| p.allocate(owner))
    }

    /// Leases and persists a specific address.
    pub fn reserve(&mut self, ip: Ipv4Addr, owner: &str) -> Result<Ipv4Addr, IpamError> {
        self.update(|p| p.reserve(ip, owner))
    }

    /// Releases and persists; releasing an unleased address is success.
    pub fn release(&mut self, ip: Ipv4Addr) -> Result<(), IpamError> {
        if !self.pool.leases.contains_key(&ip) {
            return Ok(());
        }
        self.update(|p| {
            p.release(ip);
            Ok(())
        })
    }

    /// Releases everything `owner` holds and persists; returns the addresses.
    pub fn release_owner(&mut self, owner: &str) -> Result<Vec<Ipv4Addr>, IpamError> {
        if self.pool.leases_of(owner).is_empty() {
            return Ok(Vec::new());
        }
        self.update(|p| Ok(p.release_owner(owner)))
    }

    /// Deletes the state file (network removed). Missing is success.
    pub fn delete(self) -> Result<(), IpamError> {
        match std::fs::remove_file(&self.path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(IpamError::Io {
                op: "remove",
                path: self.path,
                source,
            }),
        }
    }
}

/// Docker's default address pools: 172.17.0.0/16 … 172.31.0.0/16, then
/// 192.168.0.0/16 cut into /20s.
pub fn default_candidates() -> Vec<Ipv4Net> {
    let b = (17..=31).map(|o| Ipv4Net {
        addr: Ipv4Addr::new(172, o, 0, 0),
        prefix: 16,
    });
    let c = (0..16).map(|i| Ipv4Net {
        addr: Ipv4Addr::new(192, 168, i * 16, 0),
        prefix: 20,
    });
    b.chain(c).collect()
}

/// The first candidate that overlaps neither `in_use` (host routes and
/// addresses, other networks) nor is a default route (0.0.0.0/0 overlaps
/// everything and is ignored).
pub fn choose_subnet(candidates: &[Ipv4Net], in_use: &[Ipv4Net]) -> Result<Ipv4Net, IpamError> {
    candidates
        .iter()
        .copied()
        .find(|c| {
            in_use
                .iter()
                .filter(|u| u.prefix > 0)
                .all(|u| !c.overlaps(*u))
        })
        .ok_or(IpamError::NoFreeSubnet)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn net(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    fn ip(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn nets_parse_and_compare() {
        let n = net("172.17.0.1/16");
        assert_eq!(n.to_string(), "172.17.0.1/16");
        assert_eq!(n.network().to_string(), "172.17.0.0/16");
        assert_eq!(n.broadcast(), ip("172.17.255.255"));
        assert!(n.contains(ip("172.17.3.4")) && !n.contains(ip("172.18.0.1")));
        assert!(net("10.0.0.0/8").overlaps(net("10.200.1.0/24")));
        assert!(!net("10.0.0.0/24").overlaps(net("10.0.1.0/24")));
        assert!(!n.is_host(ip("172.17.0.0")) && !n.is_host(ip("172.17.255.255")));
        for bad in ["10.0.0.0", "10.0.0.0/33", "10.0.0/8", "x/8"] {
            assert_eq!(
                bad.parse::<Ipv4Net>().unwrap_err().to_string(),
                format!("invalid subnet {bad}: expected a.b.c.d/len")
            );
        }
        assert_eq!(serde_json::to_string(&n).unwrap(), "\"172.17.0.1/16\"");
    }

    #[test]
    fn pool_skips_gateway_network_broadcast_and_never_doubles() {
        let mut p = Pool::new(net("10.9.0.0/29"), None).unwrap();
        assert_eq!(p.gateway, ip("10.9.0.1"));
        let got: Vec<_> = (0..5)
            .map(|i| p.allocate(&format!("c{i}")).unwrap())
            .collect();
        assert_eq!(
            got,
            ["10.9.0.2", "10.9.0.3", "10.9.0.4", "10.9.0.5", "10.9.0.6"].map(ip)
        );
        assert!(matches!(p.allocate("x"), Err(IpamError::Exhausted(_))));
        assert!(p.release(ip("10.9.0.3")));
        assert!(!p.release(ip("10.9.0.3")));
        assert_eq!(p.allocate("y").unwrap(), ip("10.9.0.3"));
        assert!(matches!(
            p.reserve(ip("10.9.0.1"), "z"),
            Err(IpamError::InUse(_))
        ));
        assert!(matches!(
            p.reserve(ip("10.9.0.7"), "z"),
            Err(IpamError::OutOfRange { .. })
        ));
        assert!(matches!(
            p.reserve(ip("10.9.1.2"), "z"),
            Err(IpamError::OutOfRange { .. })
        ));
        assert_eq!(p.release_owner("c0"), vec![ip("10.9.0.2")]);
        assert_eq!(p.reserve(ip("10.9.0.2"), "z").unwrap(), ip("10.9.0.2"));
        assert_eq!(p.leases_of("z"), vec![ip("10.9.0.2")]);
        assert!(matches!(
            Pool::new(net("10.0.0.0/31"), None),
            Err(IpamError::TooSmall(_))
        ));
        assert!(matches!(
            Pool::new(net("10.0.0.0/24"), Some(ip("10.0.1.1"))),
            Err(IpamError::OutOfRange { .. })
        ));
    }

    #[test]
    fn allocation_continues_after_the_last_address() {
        let mut p = Pool::new(net("10.9.0.0/24"), Some(ip("10.9.0.254"))).unwrap();
        let a = p.allocate("a").unwrap();
        p.release(a);
        assert_eq!(p.allocate("b").unwrap(), ip("10.9.0.2"));
        assert_eq!(a, ip("10.9.0.1"));
    }

    #[test]
    fn leases_survive_reopen_and_delete_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let state = dir.path().join("network/ipam");
        let mut a = Ipam::open(&state, "n1", net("10.9.0.0/24"), None).unwrap();
        let x = a.allocate("c1").unwrap();
        let y = a.reserve(ip("10.9.0.50"), "c2").unwrap();
        drop(a);
        let mut b = Ipam::open(&state, "n1", net("192.168.0.0/24"), None).unwrap();
        assert_eq!(b.pool().subnet, net("10.9.0.0/24"));
        assert_eq!(b.pool().leases.len(), 2);
        assert_ne!(b.allocate("c3").unwrap(), x);
        b.release(x).unwrap();
        assert_eq!(b.release_owner("c2").unwrap(), vec![y]);
        drop(b);
        let c = Ipam::open(&state, "n1", net("10.9.0.0/24"), None).unwrap();
        assert_eq!(c.pool().leases_of("c3").len(), 1);
        assert_eq!(c.pool().leases.len(), 1);
        let text = std::fs::read_to_string(state.join("n1.json")).unwrap();
        assert!(text.contains("\"version\": 1"), "{text}");
        c.delete().unwrap();
        assert!(!state.join("n1.json").exists());
    }

    #[test]
    fn subnet_choice_skips_host_routes() {
        let c = default_candidates();
        assert_eq!(c[0], net("172.17.0.0/16"));
        assert_eq!(c.last().copied(), Some(net("192.168.240.0/20")));
        let used = [net("0.0.0.0/0"), net("172.17.5.0/24"), net("172.18.0.0/15")];
        assert_eq!(choose_subnet(&c, &used).unwrap(), net("172.20.0.0/16"));
        assert!(matches!(
            choose_subnet(&c, &[net("172.0.0.0/8"), net("192.168.0.0/16")]),
            Err(IpamError::NoFreeSubnet)
        ));
    }
}
