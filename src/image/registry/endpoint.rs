//! Which URL a registry is reached at: moby's `registry/config.go` rules. HTTPS with
//! verified certificates, unless the registry is insecure: listed in `insecure-registries`
//! (by `host[:port]` or by a CIDR holding its address) or with an address in 127.0.0.0/8,
//! the default insecure CIDR. An insecure registry is tried over HTTPS without certificate
//! checks first and over plain HTTP when that cannot connect.

use std::net::{IpAddr, ToSocketAddrs};

use crate::image::reference::DEFAULT_DOMAIN;
use crate::image::registry::RegistryConfig;

/// Where Docker Hub's registry API is served (moby's `DefaultV2Registry`).
pub const DOCKER_HUB_API: &str = "https://registry-1.docker.io";
/// The address `docker login` uses for Docker Hub (moby's `IndexServer`).
pub const DOCKER_HUB_INDEX: &str = "https://index.docker.io/v1/";

/// One way to reach a registry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// `https://host[:port]` or `http://host[:port]`, no trailing slash.
    pub base: String,
    /// Whether this is a mirror (any error there falls back to the next endpoint).
    pub mirror: bool,
    /// Whether the server's certificate is verified (not for insecure registries, which
    /// are tried over HTTPS first and over plain HTTP when that cannot connect).
    pub verify_tls: bool,
}

impl Endpoint {
    /// Whether `err` from this endpoint means trying the next one (moby's fallback rules).
    pub fn falls_back_on(&self, err: &crate::image::registry::RegistryError) -> bool {
        self.mirror
            || (!self.verify_tls
                && matches!(err, crate::image::registry::RegistryError::Connect { .. }))
    }
}

/// A CIDR block (`10.0.0.0/8`, `fd00::/8`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    net: IpAddr,
    prefix: u32,
}

impl Cidr {
    fn parse(s: &str) -> Option<Cidr> {
        let (ip, prefix) = s.split_once('/')?;
        let net: IpAddr = ip.parse().ok()?;
        let prefix: u32 = prefix.parse().ok()?;
        let max = if net.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { net, prefix })
    }

    fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - self.prefix).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX.checked_shl(128 - self.prefix).unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// Splits `host[:port]` (IPv6 in brackets) into host and optional port.
pub fn split_host_port(hostport: &str) -> (&str, Option<&str>) {
    if let Some(rest) = hostport.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (hostport, None),
        };
    }
    match hostport.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (hostport, None),
    }
}

/// The registry name as `insecure-registries` entries and `docker login` name it:
/// scheme and path stripped, Docker Hub's aliases folded into `docker.io`.
pub fn normalize_registry_name(s: &str) -> String {
    let s = s.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    let host = s.split('/').next().unwrap_or("");
    match host {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => DEFAULT_DOMAIN.into(),
        h => h.to_string(),
    }
}

/// Whether the registry `host` (`host[:port]`) must be reached over HTTPS; `resolve` looks
/// up a host name's addresses (moby resolves names to match them against CIDRs).
pub fn is_secure(
    host: &str,
    config: &RegistryConfig,
    resolve: &dyn Fn(&str) -> Vec<IpAddr>,
) -> bool {
    let mut cidrs = vec![Cidr {
        net: IpAddr::V4(std::net::Ipv4Addr::new(127, 0, 0, 0)),
        prefix: 8,
    }];
    for entry in &config.insecure {
        let entry = entry.trim();
        if let Some(c) = Cidr::parse(entry) {
            cidrs.push(c);
        } else if normalize_registry_name(entry) == normalize_registry_name(host) {
            return false;
        }
    }
    let (name, _) = split_host_port(host);
    let addrs = match name.parse::<IpAddr>() {
        Ok(ip) => vec![ip],
        Err(_) => resolve(name),
    };
    !addrs.iter().any(|ip| cidrs.iter().any(|c| c.contains(*ip)))
}

/// Resolves a host name with the system resolver (no port needed).
pub fn system_resolve(name: &str) -> Vec<IpAddr> {
    (name, 0)
        .to_socket_addrs()
        .map(|it| it.map(|a| a.ip()).collect())
        .unwrap_or_default()
}

/// The endpoints to try for `domain` (a reference's registry), in order: for Docker Hub
/// pulls the mirrors first, then the registry itself; for an insecure registry HTTPS
/// without certificate checks, then plain HTTP (moby's `lookupV2Endpoints`).
pub fn endpoints(domain: &str, config: &RegistryConfig, for_push: bool) -> Vec<Endpoint> {
    let mut out = Vec::new();
    if domain == DEFAULT_DOMAIN {
        if !for_push {
            for m in &config.mirrors {
                out.push(Endpoint {
                    base: m.trim_end_matches('/').to_string(),
                    mirror: true,
                    verify_tls: true,
                });
            }
        }
        out.push(Endpoint {
            base: DOCKER_HUB_API.to_string(),
            mirror: false,
            verify_tls: true,
        });
        return out;
    }
    let secure = is_secure(domain, config, &system_resolve);
    out.push(Endpoint {
        base: format!("https://{domain}"),
        mirror: false,
        verify_tls: secure,
    });
    if !secure {
        out.push(Endpoint {
            base: format!("http://{domain}"),
            mirror: false,
            verify_tls: true,
        });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(insecure: &[&str]) -> RegistryConfig {
        RegistryConfig {
            insecure: insecure.iter().map(|s| s.to_string()).collect(),
            mirrors: Vec::new(),
        }
    }

    fn fake_resolve(name: &str) -> Vec<IpAddr> {
        match name {
            "localhost" => vec!["127.0.0.1".parse().unwrap(), "::1".parse().unwrap()],
            "corp.example" => vec!["10.1.2.3".parse().unwrap()],
            _ => Vec::new(),
        }
    }

    #[test]
    fn loopback_is_insecure_by_default_like_moby() {
        let c = cfg(&[]);
        assert!(!is_secure("127.0.0.1:5000", &c, &fake_resolve));
        assert!(!is_secure("127.8.9.10", &c, &fake_resolve));
        assert!(!is_secure("localhost:5000", &c, &fake_resolve));
        assert!(is_secure("corp.example:5000", &c, &fake_resolve));
        assert!(is_secure("quay.io", &c, &fake_resolve));
        assert!(is_secure("[::1]:5000", &c, &fake_resolve));
    }

    #[test]
    fn insecure_registries_match_by_name_or_cidr() {
        let c = cfg(&["corp.example:5000", "192.168.0.0/16", "http://other:1"]);
        assert!(!is_secure("corp.example:5000", &c, &fake_resolve));
        // The port is part of the name.
        assert!(is_secure("corp.example:6000", &c, &fake_resolve));
        assert!(!is_secure("192.168.4.5:5000", &c, &fake_resolve));
        assert!(is_secure("192.169.4.5:5000", &c, &fake_resolve));
        assert!(!is_secure("other:1", &c, &fake_resolve));
        let c = cfg(&["10.0.0.0/8"]);
        assert!(!is_secure("corp.example", &c, &fake_resolve));
    }

    #[test]
    fn cidr_masks() {
        let c = Cidr::parse("0.0.0.0/0").unwrap();
        assert!(c.contains("8.8.8.8".parse().unwrap()));
        assert!(!c.contains("::1".parse().unwrap()));
        let c = Cidr::parse("fd00::/8").unwrap();
        assert!(c.contains("fd12::1".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4/33").is_none());
    }

    #[test]
    fn hub_uses_mirrors_for_pulls_only() {
        let c = RegistryConfig {
            insecure: Vec::new(),
            mirrors: vec!["https://mirror.example/".into()],
        };
        let e = endpoints("docker.io", &c, false);
        assert_eq!(e[0].base, "https://mirror.example");
        assert!(e[0].mirror);
        assert_eq!(e[1].base, DOCKER_HUB_API);
        assert_eq!(endpoints("docker.io", &c, true).len(), 1);
        let local = endpoints("127.0.0.1:5000", &c, false);
        assert_eq!(local.len(), 2);
        assert_eq!(local[0].base, "https://127.0.0.1:5000");
        assert!(!local[0].verify_tls);
        assert_eq!(local[1].base, "http://127.0.0.1:5000");
        let refused = crate::image::registry::RegistryError::Connect {
            method: "Get".into(),
            url: "u".into(),
            reason: "r".into(),
        };
        let other = crate::image::registry::RegistryError::Invalid("x".into());
        assert!(local[0].falls_back_on(&refused) && !local[0].falls_back_on(&other));
        assert!(!local[1].falls_back_on(&refused));
        assert!(e[0].falls_back_on(&other));
        let remote = endpoints("quay.io", &c, false);
        assert_eq!(remote.len(), 1);
        assert!(remote[0].verify_tls && remote[0].base == "https://quay.io");
    }

    #[test]
    fn registry_names_normalise() {
        assert_eq!(normalize_registry_name(DOCKER_HUB_INDEX), "docker.io");
        assert_eq!(normalize_registry_name(""), "docker.io");
        assert_eq!(
            normalize_registry_name("http://127.0.0.1:5000/v2/"),
            "127.0.0.1:5000"
        );
        assert_eq!(split_host_port("[::1]:5000"), ("::1", Some("5000")));
        assert_eq!(split_host_port("a:1"), ("a", Some("1")));
        assert_eq!(split_host_port("a"), ("a", None));
    }
}
