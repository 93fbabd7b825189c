//! Networks: the predefined `bridge`, `host` and `none`, user-defined bridge
//! networks, and the container endpoints on them.
//!
//! On disk (`<data-root>/network/`): `networks/<id>.json` per network (see
//! [`store`]), the IPAM leases (see [`berth::network::ipam`]), and
//! `sandboxes/<container-id>.json`: what a running container was given (its
//! netns, endpoints, published ports), written before the container starts
//! and removed after teardown, so a restarted daemon re-learns it without
//! touching the kernel. Kernel objects: a Linux bridge per network
//! (`--bridge`, default `berth0`, for `bridge`; `br-<12 hex of id>` for user
//! networks), a named netns per container under `<exec-root>/netns/`, a veth
//! pair per endpoint, and our own nftables table.

pub mod dns;
mod jsondir;
pub mod runtime;
pub mod sandbox;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock, RwLock};

use chrono::Utc;

use berth::api::ErrorClass;
use berth::api::models::{NetworkCreateRequest, NetworkResource, NetworkResourceContainer};
use berth::fsutil::random_id;

use crate::error::ApiError;
pub use store::{Driver, NetworkRecord};

use berth::network::ipam::{self, Ipv4Net};

/// Parses an IPv4 `address/prefix` with dockerd's error message.
pub fn parse_cidr(s: &str) -> Result<Ipv4Net, NetworkError> {
    s.parse()
        .map_err(|_: ipam::IpamError| NetworkError::InvalidIpv4Net(s.to_owned()))
}

/// A network operation failed.
#[derive(Debug, thiserror::Error)]
pub enum NetworkError {
    /// Not an IPv4 `address/prefix`.
    #[error("invalid CIDR address: {0}")]
    InvalidIpv4Net(String),
    /// A request value dockerd refuses, with dockerd's message.
    #[error("{0}")]
    Invalid(String),
    /// The name is taken.
    #[error("network with name {0} already exists")]
    NameExists(String),
    /// No network has this name, ID or ID prefix.
    #[error("network {0} not found")]
    NotFound(String),
    /// An ID prefix matching several networks.
    #[error("network {0} is ambiguous ({1} matches found based on ID prefix)")]
    Ambiguous(String, usize),
    /// Only the bridge driver can be created.
    #[error("plugin \"{0}\" not found")]
    NoDriver(String),
    /// An operation dockerd forbids (predefined networks, overlaps, endpoints).
    #[error("{0}")]
    Forbidden(String),
    /// The defaults have no subnet left that clashes with nothing.
    #[error(
        "could not find an available, non-overlapping IPv4 address pool among the defaults to assign to the network"
    )]
    NoPool,
    /// A state file could not be read or written.
    #[error("{what} {path}: {source}")]
    Io {
        /// The operation.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// An address could not be leased (taken, outside the subnet, none left).
    #[error(transparent)]
    Ipam(#[from] ipam::IpamError),
    /// A kernel step (netlink, nft, netns) failed.
    #[error("{0}")]
    Kernel(String),
}

impl NetworkError {
    pub(crate) fn io(what: &'static str, path: &Path, source: std::io::Error) -> NetworkError {
        NetworkError::Io {
            what,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The class the API maps to an HTTP status.
    pub fn class(&self) -> ErrorClass {
        match self {
            NetworkError::InvalidIpv4Net(_)
            | NetworkError::Invalid(_)
            | NetworkError::Ambiguous(..) => ErrorClass::InvalidArgument,
            NetworkError::NameExists(_) => ErrorClass::Conflict,
            NetworkError::NotFound(_) | NetworkError::NoDriver(_) => ErrorClass::NotFound,
            NetworkError::Forbidden(_) | NetworkError::NoPool => ErrorClass::Forbidden,
            NetworkError::Ipam(e) => e.class(),
            NetworkError::Io { .. } | NetworkError::Kernel(_) => ErrorClass::Internal,
        }
    }
}

impl From<NetworkError> for ApiError {
    fn from(e: NetworkError) -> ApiError {
        ApiError::new(e.class(), e.to_string())
    }
}

/// The daemon settings networks are built from.
#[derive(Debug, Clone)]
pub struct NetConfig {
    /// Linux bridge of the default network.
    pub bridge: String,
    /// Its address/prefix, if configured.
    pub bip: Option<Ipv4Net>,
    /// Whether berthd manages nftables rules.
    pub iptables: bool,
    /// Whether berthd turns on IPv4 forwarding.
    pub ip_forward: bool,
}

/// A container attached to a network, as `network inspect` lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointView {
    /// Container ID.
    pub container_id: String,
    /// Container name, without `/`.
    pub container_name: String,
    /// Endpoint ID.
    pub endpoint_id: String,
    /// `aa:bb:..`.
    pub mac: String,
    /// Address with prefix.
    pub address: Ipv4Net,
}

/// The table of networks and of the running containers' sandboxes.
pub struct NetworkService {
    store: store::Store,
    config: NetConfig,
    nets: RwLock<BTreeMap<String, NetworkRecord>>,
    /// `<data-root>/network/ipam`: one pool file per bridge network.
    ipam_dir: PathBuf,
    /// `<exec-root>/netns`: the containers' named network namespaces.
    netns_dir: PathBuf,
    sandbox_store: sandbox::SandboxStore,
    /// The running containers' sandboxes, by container ID (shared with the
    /// DNS resolvers' lookups).
    sandboxes: Arc<RwLock<HashMap<String, sandbox::Sandbox>>>,
    /// What lives only as long as the daemon: DNS servers, port reservations.
    live: Mutex<HashMap<String, runtime::Live>>,
    /// Our nftables table's desired state (`None` with `--iptables=false`).
    firewall: Mutex<Option<berth::network::nft::Firewall>>,
    /// The network rules already in the firewall, by bridge.
    net_rules: Mutex<HashMap<String, berth::network::nft::NetworkRules>>,
    /// rtnetlink in the host's namespace, connected by [`NetworkService::init_kernel`].
    netlink: OnceLock<berth::network::link::Netlink>,
    /// Serialises sandbox setup and teardown (IPAM files, firewall batches).
    kernel_lock: tokio::sync::Mutex<()>,
}

/// The driver option naming a network's Linux bridge (`-o` of `network create`).
const BRIDGE_NAME_OPTION: &str = "com.docker.network.bridge.name";

/// The options dockerd shows on its default bridge.
fn default_bridge_options(bridge: &str) -> BTreeMap<String, String> {
    [
        ("com.docker.network.bridge.default_bridge", "true"),
        ("com.docker.network.bridge.enable_icc", "true"),
        ("com.docker.network.bridge.enable_ip_masquerade", "true"),
        ("com.docker.network.bridge.host_binding_ipv4", "0.0.0.0"),
        (BRIDGE_NAME_OPTION, bridge),
        ("com.docker.network.driver.mtu", "1500"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

/// What `POST /networks/create` asks for, validated.
#[derive(Debug, Clone, Default)]
pub struct CreateNetwork {
    /// The name.
    pub name: String,
    /// `--subnet`.
    pub subnet: Option<Ipv4Net>,
    /// `--gateway`.
    pub gateway: Option<Ipv4Addr>,
    /// `--internal`.
    pub internal: bool,
    /// `--label`s.
    pub labels: BTreeMap<String, String>,
    /// `-o` driver options.
    pub options: BTreeMap<String, String>,
}

impl CreateNetwork {
    /// Checks a create request body the way dockerd does.
    pub fn from_request(req: NetworkCreateRequest) -> Result<CreateNetwork, NetworkError> {
        if req.name.is_empty() {
            return Err(NetworkError::Invalid(
                "network name must not be empty".into(),
            ));
        }
        let driver = req.driver.as_deref().filter(|d| !d.is_empty());
        match driver {
            None | Some("bridge") => {}
            Some("host" | "null") => {
                return Err(NetworkError::Forbidden(format!(
                    "only one instance of \"{}\" network is allowed",
                    driver.unwrap_or_default()
                )));
            }
            Some(other) => return Err(NetworkError::NoDriver(other.to_owned())),
        }
        if req.enable_ipv6 == Some(true) {
            return Err(NetworkError::Invalid(
                "IPv6 networks are not supported by berthd".into(),
            ));
        }
        let configs = req.ipam.and_then(|i| i.config).unwrap_or_default();
        if configs.len() > 1 {
            return Err(NetworkError::Invalid(
                "berthd supports one IPv4 subnet per network".into(),
            ));
        }
        let (mut subnet, mut gateway) = (None, None);
        if let Some(c) = configs.into_iter().next() {
            if c.ip_range.as_deref().is_some_and(|r| !r.is_empty()) {
                return Err(NetworkError::Invalid(
                    "berthd does not support --ip-range".into(),
                ));
            }
            let s = parse_cidr(&c.subnet.filter(|s| !s.is_empty()).ok_or_else(|| {
                NetworkError::Invalid("a gateway needs a subnet (--subnet)".into())
            })?)?;
            if let Some(g) = c.gateway.filter(|g| !g.is_empty()) {
                let ip: Ipv4Addr = g
                    .parse()
                    .map_err(|_| NetworkError::Invalid(format!("invalid gateway address: {g}")))?;
                if !s.contains(ip) {
                    return Err(NetworkError::Forbidden(format!(
                        "no matching subnet for gateway {g}"
                    )));
                }
                gateway = Some(ip);
            }
            subnet = Some(s.network());
        }
        Ok(CreateNetwork {
            name: req.name,
            subnet,
            gateway,
            internal: req.internal.unwrap_or(false),
            labels: req.labels.unwrap_or_default().into_iter().collect(),
            options: req.options.unwrap_or_default().into_iter().collect(),
        })
    }
}

impl NetworkService {
    /// Loads the networks under `<data_root>/network`, creating the three
    /// predefined ones on first start and keeping the default bridge's
    /// record in line with `--bridge`/`--bip`.
    pub fn open(
        data_root: &Path,
        exec_root: &Path,
        config: NetConfig,
        host_nets: &[Ipv4Net],
    ) -> Result<NetworkService, NetworkError> {
        let root = data_root.join("network");
        berth::fsutil::create_private_dir(&root)
            .map_err(|e| NetworkError::io("creating", &root, e))?;
        let store = store::Store::open(&root)?;
        let mut nets: BTreeMap<String, NetworkRecord> = store
            .load()?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        for (name, driver) in [
            ("bridge", Driver::Bridge),
            ("host", Driver::Host),
            ("none", Driver::Null),
        ] {
            let existing = nets.values().find(|n| n.predefined && n.name == name);
            let mut rec = match existing {
                Some(r) => r.clone(),
                None => NetworkRecord {
                    version: store::NETWORK_VERSION,
                    id: random_id(),
                    name: name.to_owned(),
                    driver,
                    created: Utc::now(),
                    predefined: true,
                    internal: false,
                    labels: BTreeMap::new(),
                    options: BTreeMap::new(),
                    bridge: String::new(),
                    subnet: None,
                    gateway: None,
                    user_ipam: false,
                },
            };
            if driver == Driver::Bridge {
                let bip = match config.bip {
                    Some(b) => b,
                    None => match (rec.bridge == config.bridge, rec.bridge_address()) {
                        // The subnet picked last time, unless routes changed under it.
                        (true, Some(b)) => b,
                        _ => {
                            let mut taken: Vec<Ipv4Net> =
                                nets.values().filter_map(|n| n.subnet).collect();
                            taken.extend_from_slice(host_nets);
                            let pool = ipam::choose_subnet(&ipam::default_candidates(), &taken)
                                .map_err(|_| NetworkError::NoPool)?;
                            Ipv4Net {
                                addr: pool.first_host(),
                                prefix: pool.prefix,
                            }
                        }
                    },
                };
                rec.bridge = config.bridge.clone();
                rec.subnet = Some(bip.network());
                rec.gateway = Some(bip.addr);
                rec.options = default_bridge_options(&config.bridge);
            }
            if existing != Some(&rec) {
                store.save(&rec)?;
            }
            nets.insert(rec.id.clone(), rec);
        }
        let firewall = config.iptables.then(|| {
            berth::network::nft::Firewall::new(berth::network::nft::table_name(&config.bridge))
        });
        Ok(NetworkService {
            store,
            config,
            nets: RwLock::new(nets),
            ipam_dir: root.join("ipam"),
            netns_dir: exec_root.join("netns"),
            sandbox_store: sandbox::SandboxStore::open(&root)?,
            sandboxes: Arc::new(RwLock::new(HashMap::new())),
            live: Mutex::new(HashMap::new()),
            firewall: Mutex::new(firewall),
            net_rules: Mutex::new(HashMap::new()),
            netlink: OnceLock::new(),
            kernel_lock: tokio::sync::Mutex::new(()),
        })
    }

    /// Every network, by name.
    pub fn all(&self) -> Vec<NetworkRecord> {
        let mut v: Vec<NetworkRecord> = self
            .nets
            .read()
            .expect("network lock")
            .values()
            .cloned()
            .collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Finds a network as dockerd does: full ID, then name, then ID prefix.
    pub fn get(&self, key: &str) -> Result<NetworkRecord, NetworkError> {
        let nets = self.nets.read().expect("network lock");
        if let Some(n) = nets.get(key) {
            return Ok(n.clone());
        }
        if let Some(n) = nets.values().find(|n| n.name == key) {
            return Ok(n.clone());
        }
        let matches: Vec<&NetworkRecord> = nets
            .values()
            .filter(|n| !key.is_empty() && n.id.starts_with(key))
            .collect();
        match matches.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(NetworkError::NotFound(key.to_owned())),
            many => Err(NetworkError::Ambiguous(key.to_owned(), many.len())),
        }
    }

    /// Records a new user-defined bridge network; the caller brings up its
    /// bridge. The subnet is the requested one or the first default pool
    /// that clashes with no network and no host route.
    pub fn create(
        &self,
        req: CreateNetwork,
        host_nets: &[Ipv4Net],
    ) -> Result<NetworkRecord, NetworkError> {
        let mut nets = self.nets.write().expect("network lock");
        if nets.values().any(|n| n.name == req.name) {
            return Err(NetworkError::NameExists(req.name));
        }
        let mut taken: Vec<Ipv4Net> = nets.values().filter_map(|n| n.subnet).collect();
        let subnet = match req.subnet {
            Some(s) => {
                if taken.iter().any(|t| t.overlaps(s)) {
                    return Err(NetworkError::Forbidden(
                        "Pool overlaps with other one on this address space".into(),
                    ));
                }
                s
            }
            None => {
                taken.extend_from_slice(host_nets);
                ipam::choose_subnet(&ipam::default_candidates(), &taken)
                    .map_err(|_| NetworkError::NoPool)?
            }
        };
        let id = random_id();
        let bridge = match req.options.get(BRIDGE_NAME_OPTION) {
            Some(b) => {
                if b.is_empty() || b.len() > 15 || b.contains(['/', ' ']) {
                    return Err(NetworkError::Invalid(format!(
                        "invalid bridge name {b:?}: 1 to 15 characters, no '/' or space"
                    )));
                }
                if let Some(other) = nets.values().find(|n| &n.bridge == b) {
                    return Err(NetworkError::Forbidden(format!(
                        "bridge name {b} is already used by network {}",
                        other.name
                    )));
                }
                b.clone()
            }
            None => format!("br-{}", &id[..12]),
        };
        let rec = NetworkRecord {
            version: store::NETWORK_VERSION,
            bridge,
            id,
            name: req.name,
            driver: Driver::Bridge,
            created: Utc::now(),
            predefined: false,
            internal: req.internal,
            labels: req.labels,
            options: req.options,
            gateway: Some(req.gateway.unwrap_or_else(|| subnet.first_host())),
            user_ipam: req.subnet.is_some(),
            subnet: Some(subnet),
        };
        self.store.save(&rec)?;
        nets.insert(rec.id.clone(), rec.clone());
        Ok(rec)
    }

    /// Checks that `key` names a removable network and returns it.
    pub fn removable(&self, key: &str) -> Result<NetworkRecord, NetworkError> {
        let rec = self.get(key)?;
        if rec.predefined {
            return Err(NetworkError::Forbidden(format!(
                "{} is a pre-defined network and cannot be removed",
                rec.name
            )));
        }
        Ok(rec)
    }

    /// Forgets network `id` (after its bridge and rules are gone).
    pub fn forget(&self, id: &str) -> Result<(), NetworkError> {
        self.store.delete(id)?;
        self.nets.write().expect("network lock").remove(id);
        Ok(())
    }
}

/// Docker's JSON for a network; `endpoints` are its running containers
/// (`GET /networks` lists none, as dockerd does).
pub fn to_json(n: &NetworkRecord, endpoints: &[EndpointView]) -> NetworkResource {
    let ipam_config = match (n.subnet, n.gateway) {
        (Some(s), gw) => vec![berth::api::models::IpamConfig {
            subnet: Some(s.to_string()),
            gateway: gw.map(|g| g.to_string()),
            ..Default::default()
        }],
        _ => Vec::new(),
    };
    let containers: HashMap<String, NetworkResourceContainer> = endpoints
        .iter()
        .map(|e| {
            (
                e.container_id.clone(),
                NetworkResourceContainer {
                    name: e.container_name.clone(),
                    endpoint_id: e.endpoint_id.clone(),
                    mac_address: e.mac.clone(),
                    ipv4_address: e.address.to_string(),
                    ipv6_address: String::new(),
                },
            )
        })
        .collect();
    NetworkResource {
        name: n.name.clone(),
        id: n.id.clone(),
        created: n
            .created
            .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        scope: "local".to_owned(),
        driver: n.driver.as_str().to_owned(),
        enable_ipv6: false,
        ipam: berth::api::models::NetworkResourceIpam {
            driver: "default".to_owned(),
            options: if n.predefined {
                None
            } else {
                Some(HashMap::new())
            },
            config: ipam_config,
        },
        internal: n.internal,
        attachable: false,
        ingress: false,
        config_from: berth::api::models::NetworkResourceConfigFrom {
            network: String::new(),
        },
        config_only: false,
        containers,
        options: n.options.clone().into_iter().collect(),
        labels: n.labels.clone().into_iter().collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth::api::models::{Ipam, IpamConfig};

    fn cfg() -> NetConfig {
        NetConfig {
            bridge: "berthtest0".into(),
            bip: Some("10.213.7.1/24".parse().unwrap()),
            iptables: true,
            ip_forward: true,
        }
    }

    fn create_req(name: &str, subnet: Option<&str>, gw: Option<&str>) -> NetworkCreateRequest {
        NetworkCreateRequest {
            name: name.into(),
            ipam: Some(Ipam {
                config: Some(vec![IpamConfig {
                    subnet: subnet.map(Into::into),
                    gateway: gw.map(Into::into),
                    ..Default::default()
                }]),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn predefined_networks_exist_and_keep_their_ids() {
        let dir = tempfile::tempdir().unwrap();
        let svc = NetworkService::open(dir.path(), dir.path(), cfg(), &[]).unwrap();
        let names: Vec<String> = svc.all().into_iter().map(|n| n.name).collect();
        assert_eq!(names, ["bridge", "host", "none"]);
        let b = svc.get("bridge").unwrap();
        assert_eq!(b.bridge, "berthtest0");
        assert_eq!(b.subnet.unwrap().to_string(), "10.213.7.0/24");
        assert_eq!(b.gateway.unwrap().to_string(), "10.213.7.1");
        let id = b.id.clone();
        drop(svc);
        let svc = NetworkService::open(dir.path(), dir.path(), cfg(), &[]).unwrap();
        assert_eq!(svc.get("bridge").unwrap().id, id);
        assert_eq!(svc.get(&id[..5]).unwrap().name, "bridge");
        assert_eq!(
            svc.removable("bridge").unwrap_err().to_string(),
            "bridge is a pre-defined network and cannot be removed"
        );
    }

    #[test]
    fn the_default_subnet_avoids_host_routes_and_sticks() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = cfg();
        c.bip = None;
        let host: Vec<Ipv4Net> = vec!["172.17.5.0/24".parse().unwrap()];
        let svc = NetworkService::open(dir.path(), dir.path(), c.clone(), &host).unwrap();
        let b = svc.get("bridge").unwrap();
        assert_eq!(b.subnet.unwrap().to_string(), "172.18.0.0/16");
        assert_eq!(b.gateway.unwrap().to_string(), "172.18.0.1");
        drop(svc);
        // Next start: kept, even though the bridge's own route now exists.
        let host: Vec<Ipv4Net> = vec!["172.18.0.0/16".parse().unwrap()];
        let svc = NetworkService::open(dir.path(), dir.path(), c, &host).unwrap();
        assert_eq!(
            svc.get("bridge").unwrap().subnet.unwrap().to_string(),
            "172.18.0.0/16"
        );
    }

    #[test]
    fn user_networks_are_created_like_dockerd() {
        let dir = tempfile::tempdir().unwrap();
        let svc = NetworkService::open(dir.path(), dir.path(), cfg(), &[]).unwrap();
        let req = CreateNetwork::from_request(create_req(
            "berth-a",
            Some("10.214.1.0/24"),
            Some("10.214.1.254"),
        ))
        .unwrap();
        let n = svc.create(req.clone(), &[]).unwrap();
        assert_eq!(n.bridge, format!("br-{}", &n.id[..12]));
        assert_eq!(n.gateway.unwrap().to_string(), "10.214.1.254");
        assert!(n.has_dns());
        let e = svc.create(req, &[]).unwrap_err();
        assert_eq!(e.to_string(), "network with name berth-a already exists");
        assert_eq!(e.class(), ErrorClass::Conflict);
        let e = svc
            .create(
                CreateNetwork::from_request(create_req("berth-b", Some("10.214.0.0/16"), None))
                    .unwrap(),
                &[],
            )
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "Pool overlaps with other one on this address space"
        );
        let auto = svc
            .create(
                CreateNetwork::from_request(NetworkCreateRequest {
                    name: "berth-c".into(),
                    ..Default::default()
                })
                .unwrap(),
                &[],
            )
            .unwrap();
        assert_eq!(auto.subnet.unwrap().prefix, 16, "{auto:?}");
        let named = CreateNetwork {
            name: "berth-named".into(),
            options: BTreeMap::from([(BRIDGE_NAME_OPTION.to_owned(), "berthnamed0".to_owned())]),
            ..Default::default()
        };
        assert_eq!(
            svc.create(named.clone(), &[]).unwrap().bridge,
            "berthnamed0"
        );
        let clash = CreateNetwork {
            name: "berth-named2".into(),
            ..named
        };
        assert_eq!(
            svc.create(clash, &[]).unwrap_err().to_string(),
            "bridge name berthnamed0 is already used by network berth-named"
        );
        svc.forget(&n.id).unwrap();
        assert!(matches!(svc.get("berth-a"), Err(NetworkError::NotFound(_))));
    }

    #[test]
    fn bad_requests_get_dockerds_messages() {
        let msg = |r| CreateNetwork::from_request(r).unwrap_err().to_string();
        assert_eq!(
            msg(create_req("x", Some("10.0.0.0/33"), None)),
            "invalid CIDR address: 10.0.0.0/33"
        );
        assert_eq!(
            msg(create_req("x", Some("10.0.0.0/24"), Some("10.0.1.1"))),
            "no matching subnet for gateway 10.0.1.1"
        );
        assert_eq!(
            msg(NetworkCreateRequest {
                name: "x".into(),
                driver: Some("overlay".into()),
                ..Default::default()
            }),
            "plugin \"overlay\" not found"
        );
    }

    #[test]
    fn json_has_dockers_shape() {
        let dir = tempfile::tempdir().unwrap();
        let svc = NetworkService::open(dir.path(), dir.path(), cfg(), &[]).unwrap();
        let b = svc.get("bridge").unwrap();
        let ep = EndpointView {
            container_id: "c".repeat(64),
            container_name: "web".into(),
            endpoint_id: "e".repeat(64),
            mac: "02:42:0a:d5:07:02".into(),
            address: "10.213.7.2/24".parse().unwrap(),
        };
        let v = serde_json::to_value(to_json(&b, &[ep])).unwrap();
        assert_eq!(v["Driver"], "bridge");
        assert_eq!(v["Scope"], "local");
        assert_eq!(v["IPAM"]["Config"][0]["Subnet"], "10.213.7.0/24");
        assert_eq!(v["IPAM"]["Config"][0]["Gateway"], "10.213.7.1");
        assert_eq!(v["Options"]["com.docker.network.bridge.name"], "berthtest0");
        let c = &v["Containers"]["c".repeat(64)];
        assert_eq!(c["IPv4Address"], "10.213.7.2/24");
        assert_eq!(c["Name"], "web");
        assert_eq!(v["ConfigFrom"]["Network"], "");
        let none = svc.get("none").unwrap();
        let v = serde_json::to_value(to_json(&none, &[])).unwrap();
        assert_eq!(v["Driver"], "null");
        assert_eq!(v["IPAM"]["Config"], serde_json::json!([]));
    }
}
