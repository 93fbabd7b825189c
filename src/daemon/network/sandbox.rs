//! A container's network sandbox: the records of what it was given on start
//! (its named netns, an endpoint per network, its published ports), kept as
//! `<data-root>/network/sandboxes/<container-id>.json` from just before the
//! kernel objects are made until after they are gone, so teardown and
//! adoption after a daemon restart know exactly what to undo or keep.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use berth::network::ipam::Ipv4Net;

use super::NetworkError;
use super::jsondir::JsonDir;

/// Version of the sandbox files.
pub const SANDBOX_VERSION: u32 = 1;

/// One network a running container is attached to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EndpointState {
    /// The network's ID.
    pub network_id: String,
    /// Its name at attach time (the `Networks` key in inspect).
    pub network_name: String,
    /// 64 hex digits.
    pub endpoint_id: String,
    /// Name inside the container (`eth0`, `eth1`, ...).
    pub ifname: String,
    /// The host end of the veth pair.
    pub host_ifname: String,
    /// The Linux bridge the host end is on.
    pub bridge: String,
    /// The container side's MAC, `aa:bb:..`.
    pub mac: String,
    /// The container's address with the network's prefix.
    pub address: Ipv4Net,
    /// The network's gateway.
    pub gateway: Ipv4Addr,
    /// Whether this endpoint carries the default route.
    pub default_route: bool,
    /// Names the embedded DNS answers for on this network besides the
    /// container's name and short ID (`--network-alias`).
    pub aliases: Vec<String>,
    /// Whether the network has name resolution (user networks).
    pub dns: bool,
    /// Whether the network is `--internal`.
    pub internal: bool,
}

/// A published port with the host port resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishedPort {
    /// The container port.
    pub container_port: u16,
    /// `tcp`, `udp` or `sctp`.
    pub proto: String,
    /// The host address (`0.0.0.0` for all).
    pub host_ip: Ipv4Addr,
    /// The host port.
    pub host_port: u16,
    /// The container address the port forwards to.
    pub target: Ipv4Addr,
}

/// What a running container was given.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Sandbox {
    /// [`SANDBOX_VERSION`].
    pub version: u32,
    /// The container.
    pub container_id: String,
    /// Random per start: the exit of one run never tears down the next's.
    #[serde(default)]
    pub run_id: String,
    /// Its name when it started, without `/`.
    pub container_name: String,
    /// The named netns (`<exec-root>/netns/<id>`).
    pub netns: PathBuf,
    /// One per network, in attach order.
    pub endpoints: Vec<EndpointState>,
    /// The published ports, host ports resolved.
    pub ports: Vec<PublishedPort>,
    /// `HostConfig.PortBindings` keys the container exposes without a
    /// binding, for inspect's `Ports` (`"80/tcp": null`).
    #[serde(default)]
    pub exposed: Vec<String>,
    /// Where the embedded DNS forwards other names.
    pub upstream_dns: Vec<IpAddr>,
}

impl Sandbox {
    /// Whether the embedded DNS serves this container.
    pub fn wants_dns(&self) -> bool {
        self.endpoints.iter().any(|e| e.dns)
    }

    /// The names another container on `network_id` resolves to this one's
    /// address there: container name, short ID, aliases.
    pub fn names_on(&self, network_id: &str) -> Option<(Vec<String>, Ipv4Addr)> {
        let ep = self
            .endpoints
            .iter()
            .find(|e| e.network_id == network_id && e.dns)?;
        let mut names = vec![
            self.container_name.clone(),
            self.container_id[..12.min(self.container_id.len())].to_owned(),
        ];
        names.extend(ep.aliases.iter().cloned());
        Some((names, ep.address.addr))
    }

    /// `NetworkSettings.Ports`: each exposed or published port, with its
    /// host bindings as Docker shows them.
    pub fn port_map(&self) -> BTreeMap<String, Option<Vec<(String, String)>>> {
        let mut map: BTreeMap<String, Option<Vec<(String, String)>>> =
            self.exposed.iter().map(|k| (k.clone(), None)).collect();
        for p in &self.ports {
            map.entry(format!("{}/{}", p.container_port, p.proto))
                .or_insert(None)
                .get_or_insert_with(Vec::new)
                .push((p.host_ip.to_string(), p.host_port.to_string()));
        }
        map
    }
}

/// The directory of sandbox files.
#[derive(Debug, Clone)]
pub struct SandboxStore {
    files: JsonDir,
}

impl SandboxStore {
    /// Opens (creating) `<root>/sandboxes`.
    pub fn open(root: &Path) -> Result<SandboxStore, NetworkError> {
        Ok(SandboxStore {
            files: JsonDir::open(root, "sandboxes")?,
        })
    }

    /// Every readable sandbox file; unreadable ones are logged and skipped.
    pub fn load(&self) -> Result<Vec<Sandbox>, NetworkError> {
        self.files.load("sandbox")
    }

    /// Writes `rec` atomically.
    pub fn save(&self, rec: &Sandbox) -> Result<(), NetworkError> {
        self.files.save(&rec.container_id, rec)
    }

    /// Deletes the file of `id`; a missing file is fine.
    pub fn delete(&self, id: &str) -> Result<(), NetworkError> {
        self.files.delete(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Sandbox {
        Sandbox {
            version: SANDBOX_VERSION,
            container_id: "0123456789abcdef".repeat(4),
            run_id: "r1".into(),
            container_name: "web".into(),
            netns: "/run/berth/netns/x".into(),
            endpoints: vec![EndpointState {
                network_id: "n1".into(),
                network_name: "berth-net".into(),
                endpoint_id: "e".repeat(64),
                ifname: "eth0".into(),
                host_ifname: "veth1234567".into(),
                bridge: "br-n1".into(),
                mac: "02:42:0a:00:00:02".into(),
                address: "10.0.0.2/24".parse().unwrap(),
                gateway: Ipv4Addr::new(10, 0, 0, 1),
                default_route: true,
                aliases: vec!["db".into()],
                dns: true,
                internal: false,
            }],
            ports: vec![PublishedPort {
                container_port: 80,
                proto: "tcp".into(),
                host_ip: Ipv4Addr::UNSPECIFIED,
                host_port: 8080,
                target: Ipv4Addr::new(10, 0, 0, 2),
            }],
            exposed: vec!["80/tcp".into(), "53/udp".into()],
            upstream_dns: vec![],
        }
    }

    #[test]
    fn names_and_ports_read_like_docker() {
        let sb = sample();
        let (names, ip) = sb.names_on("n1").unwrap();
        assert_eq!(names, ["web", "0123456789ab", "db"]);
        assert_eq!(ip, Ipv4Addr::new(10, 0, 0, 2));
        assert!(sb.names_on("other").is_none());
        let ports = sb.port_map();
        assert_eq!(
            ports["80/tcp"],
            Some(vec![("0.0.0.0".to_owned(), "8080".to_owned())])
        );
        assert_eq!(ports["53/udp"], None);
    }

    #[test]
    fn sandboxes_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = SandboxStore::open(dir.path()).unwrap();
        store.save(&sample()).unwrap();
        assert_eq!(store.load().unwrap(), vec![sample()]);
        store.delete(&sample().container_id).unwrap();
        store.delete(&sample().container_id).unwrap();
        assert!(store.load().unwrap().is_empty());
    }
}
