//! A container's network settings: `HostConfig.NetworkMode`, port
//! publishing and `NetworkingConfig`, checked at create with dockerd's
//! messages; turned into the network service's setup request at start; and
//! shown back in inspect's `NetworkSettings` and the list's `Ports`.

use std::collections::{BTreeMap, HashMap};

use berth::api::models::{
    ContainerConfig, EndpointSettings, HostConfig, NetworkSettings, NetworkingConfig, Port,
    PortBinding, PortTypeEnum,
};
use berth::network::ports;

use crate::error::{ApiError, ApiResult};
use crate::network::sandbox::Sandbox;
use crate::network::{Driver, NetworkService};

/// Docker's network modes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NetMode {
    /// `default` or `bridge`: the default bridge network.
    Bridge,
    /// The host's network stack.
    Host,
    /// Only `lo`.
    None,
    /// Another container's network namespace (`container:<name|id>`).
    Container(String),
    /// A user-defined network by name or ID.
    Network(String),
}

impl NetMode {
    /// Reads `HostConfig.NetworkMode` (empty means the default bridge).
    pub fn of(host: &HostConfig) -> NetMode {
        match host.network_mode.as_deref().unwrap_or("") {
            "" | "default" | "bridge" => NetMode::Bridge,
            "host" => NetMode::Host,
            "none" => NetMode::None,
            m => match m.strip_prefix("container:") {
                Some(c) => NetMode::Container(c.to_owned()),
                None => NetMode::Network(m.to_owned()),
            },
        }
    }
}

fn conflict(what: &str) -> ApiError {
    ApiError::invalid(format!("conflicting options: {what}"))
}

fn non_empty<T>(v: &Option<Vec<T>>) -> bool {
    v.as_ref().is_some_and(|v| !v.is_empty())
}

/// The exposed ports (`Config.ExposedPorts` plus every `PortBindings` key),
/// normalised to `port/proto` and sorted; malformed keys are refused.
pub fn exposed_ports(config: &ContainerConfig, host: &HostConfig) -> ApiResult<Vec<String>> {
    let keys = config
        .exposed_ports
        .iter()
        .flat_map(|m| m.keys())
        .chain(host.port_bindings.iter().flat_map(|m| m.keys()));
    let mut out: Vec<ports::Port> = Vec::new();
    for k in keys {
        let p: ports::Port = k
            .parse()
            .map_err(|_| ApiError::invalid(format!("invalid port specification: \"{k}\"")))?;
        if !out.contains(&p) {
            out.push(p);
        }
    }
    out.sort();
    Ok(out.iter().map(ToString::to_string).collect())
}

/// The bindings to publish: `PortBindings` as given, plus (with
/// `PublishAllPorts`) every other exposed port on a random host port.
pub fn port_bindings(
    config: &ContainerConfig,
    host: &HostConfig,
) -> ApiResult<BTreeMap<String, Vec<(String, String)>>> {
    let mut out: BTreeMap<String, Vec<(String, String)>> = BTreeMap::new();
    for (key, bindings) in host.port_bindings.iter().flatten() {
        let p: ports::Port = key
            .parse()
            .map_err(|_| ApiError::invalid(format!("invalid port specification: \"{key}\"")))?;
        let list = out.entry(p.to_string()).or_default();
        for b in bindings.iter().flatten() {
            let hp = b.host_port.clone().unwrap_or_default();
            if !hp.is_empty() {
                ports::parse_port_range(&hp).map_err(|_| {
                    ApiError::invalid(format!("invalid port specification: \"{hp}\""))
                })?;
            }
            list.push((b.host_ip.clone().unwrap_or_default(), hp));
        }
        if list.is_empty() {
            list.push((String::new(), String::new()));
        }
    }
    if host.publish_all_ports == Some(true) {
        for p in exposed_ports(config, host)? {
            out.entry(p)
                .or_insert_with(|| vec![(String::new(), String::new())]);
        }
    }
    Ok(out)
}

/// Checks the network settings of a create request as dockerd does and
/// returns the networks the container joins when it starts, by name.
pub fn validate(
    networks: &NetworkService,
    config: &ContainerConfig,
    host: &HostConfig,
    networking: Option<&NetworkingConfig>,
) -> ApiResult<BTreeMap<String, EndpointSettings>> {
    let mode = NetMode::of(host);
    let endpoints: HashMap<String, EndpointSettings> = networking
        .and_then(|n| n.endpoints_config.clone())
        .unwrap_or_default();
    let has_ports = non_empty(&host.port_bindings.as_ref().map(|m| m.keys().collect()))
        || config.exposed_ports.as_ref().is_some_and(|m| !m.is_empty())
        || host.publish_all_ports == Some(true);
    let mac = config.mac_address.as_deref().is_some_and(|m| !m.is_empty());
    match &mode {
        NetMode::Container(c) => {
            if c.is_empty() {
                return Err(ApiError::invalid(
                    "Invalid network mode: invalid container format container:<name|id>",
                ));
            }
            if config.hostname.as_deref().is_some_and(|h| !h.is_empty()) {
                return Err(conflict("hostname and the network mode"));
            }
            if non_empty(&host.links) {
                return Err(conflict(
                    "container type network can't be used with links. This would result in undefined behavior",
                ));
            }
            if non_empty(&host.dns) {
                return Err(conflict("dns and the network mode"));
            }
            if non_empty(&host.extra_hosts) {
                return Err(conflict("custom host-to-IP mapping and the network mode"));
            }
            if has_ports {
                return Err(conflict(
                    "port publishing and the container type network mode",
                ));
            }
            if mac {
                return Err(conflict("mac-address and the network mode"));
            }
        }
        NetMode::Host if mac => return Err(conflict("mac-address and the network mode")),
        _ => {}
    }
    if let Some(m) = config.mac_address.as_deref().filter(|m| !m.is_empty())
        && berth::network::link::parse_mac(m).is_none()
    {
        return Err(ApiError::invalid(format!("{m} is not a valid mac address")));
    }
    exposed_ports(config, host)?;
    port_bindings(config, host)?;
    if endpoints.len() > 1 {
        let mut names: Vec<&String> = endpoints.keys().collect();
        names.sort();
        let names: Vec<&str> = names.iter().map(|s| s.as_str()).collect();
        return Err(ApiError::invalid(format!(
            "Container cannot be connected to network endpoints: {}",
            names.join(", ")
        )));
    }
    let (name, settings) = match &mode {
        NetMode::Container(_) => return Ok(BTreeMap::new()),
        NetMode::Host => ("host".to_owned(), endpoints.get("host").cloned()),
        NetMode::None => ("none".to_owned(), endpoints.get("none").cloned()),
        NetMode::Bridge => ("bridge".to_owned(), endpoints.get("bridge").cloned()),
        NetMode::Network(key) => {
            let rec = networks.get(key)?;
            let s = endpoints
                .get(key)
                .or_else(|| endpoints.get(&rec.name))
                .or_else(|| endpoints.get(&rec.id))
                .cloned();
            (rec.name, s)
        }
    };
    let settings = settings.unwrap_or_default();
    let rec = networks.get(&name)?;
    check_endpoint(&rec, &settings)?;
    Ok(BTreeMap::from([(name, settings)]))
}

/// What only user networks allow, with dockerd's messages.
pub fn check_endpoint(
    rec: &crate::network::NetworkRecord,
    settings: &EndpointSettings,
) -> ApiResult<()> {
    let ip = settings
        .ipam_config
        .as_ref()
        .and_then(|c| c.ipv4_address.as_deref())
        .filter(|a| !a.is_empty());
    let user = rec.driver == Driver::Bridge && !rec.predefined;
    if let Some(ip) = ip {
        if !user {
            return Err(ApiError::invalid(
                "user specified IP address is supported on user defined networks only",
            ));
        }
        if !rec.user_ipam {
            return Err(ApiError::invalid(
                "user specified IP address is supported only when connecting to networks with user configured subnets",
            ));
        }
        let addr: std::net::Ipv4Addr = ip
            .parse()
            .map_err(|_| ApiError::invalid(format!("invalid IPv4 address: {ip}")))?;
        if rec.subnet.is_some_and(|s| !s.contains(addr)) {
            return Err(ApiError::invalid(format!(
                "no configured subnet or ip-range contain the IP address {ip}"
            )));
        }
    }
    if non_empty(&settings.aliases) && !user {
        return Err(ApiError::invalid(
            "network-scoped alias is supported only for containers in user defined networks",
        ));
    }
    Ok(())
}

/// inspect's `NetworkSettings`: the endpoints of a running container from
/// its sandbox, else the configured networks with no address yet. The
/// top-level address fields describe the default bridge, as in dockerd.
pub fn network_settings(
    configured: &BTreeMap<String, EndpointSettings>,
    sandbox: Option<&Sandbox>,
) -> NetworkSettings {
    let mut s = NetworkSettings {
        bridge: Some(String::new()),
        sandbox_id: Some(String::new()),
        hairpin_mode: Some(false),
        link_local_ipv6_address: Some(String::new()),
        link_local_ipv6_prefix_len: Some(0),
        ports: Some(HashMap::new()),
        sandbox_key: Some(String::new()),
        secondary_ip_addresses: None,
        secondary_ipv6_addresses: None,
        endpoint_id: Some(String::new()),
        gateway: Some(String::new()),
        global_ipv6_address: Some(String::new()),
        global_ipv6_prefix_len: Some(0),
        ip_address: Some(String::new()),
        ip_prefix_len: Some(0),
        ipv6_gateway: Some(String::new()),
        mac_address: Some(String::new()),
        networks: Some(HashMap::new()),
    };
    let mut nets: HashMap<String, EndpointSettings> = HashMap::new();
    // As in dockerd, NetworkID and the addresses are filled once it runs.
    for (name, cfg) in configured {
        nets.insert(
            name.clone(),
            EndpointSettings {
                ipam_config: cfg.ipam_config.clone(),
                links: None,
                aliases: cfg.aliases.clone(),
                mac_address: Some(String::new()),
                network_id: Some(String::new()),
                endpoint_id: Some(String::new()),
                gateway: Some(String::new()),
                ip_address: Some(String::new()),
                ip_prefix_len: Some(0),
                ipv6_gateway: Some(String::new()),
                global_ipv6_address: Some(String::new()),
                global_ipv6_prefix_len: Some(0),
                driver_opts: None,
                dns_names: None,
            },
        );
    }
    if let Some(sb) = sandbox {
        s.sandbox_key = Some(sb.netns.display().to_string());
        s.sandbox_id = Some(sb.container_id.clone());
        s.ports = Some(
            sb.port_map()
                .into_iter()
                .map(|(k, v)| {
                    let v = v.map(|list| {
                        list.into_iter()
                            .map(|(ip, port)| PortBinding {
                                host_ip: Some(ip),
                                host_port: Some(port),
                            })
                            .collect()
                    });
                    (k, v)
                })
                .collect(),
        );
        for ep in &sb.endpoints {
            let e = nets.entry(ep.network_name.clone()).or_default();
            e.network_id = Some(ep.network_id.clone());
            e.endpoint_id = Some(ep.endpoint_id.clone());
            e.gateway = Some(ep.gateway.to_string());
            e.ip_address = Some(ep.address.addr.to_string());
            e.ip_prefix_len = Some(i64::from(ep.address.prefix));
            e.mac_address = Some(ep.mac.clone());
            if !ep.aliases.is_empty() {
                e.aliases = Some(ep.aliases.clone());
            }
            if ep.network_name == "bridge" {
                s.bridge = Some(ep.bridge.clone());
                s.endpoint_id = e.endpoint_id.clone();
                s.gateway = e.gateway.clone();
                s.ip_address = e.ip_address.clone();
                s.ip_prefix_len = e.ip_prefix_len;
                s.mac_address = e.mac_address.clone();
            }
        }
    }
    s.networks = Some(nets);
    s
}

/// The list's `Ports` of a running container.
pub fn summary_ports(sandbox: Option<&Sandbox>) -> Vec<Port> {
    let Some(sb) = sandbox else {
        return Vec::new();
    };
    let typ = |p: &str| match p {
        "udp" => PortTypeEnum::UDP,
        "sctp" => PortTypeEnum::SCTP,
        _ => PortTypeEnum::TCP,
    };
    let mut out: Vec<Port> = sb
        .ports
        .iter()
        .map(|p| Port {
            ip: Some(p.host_ip.to_string()),
            private_port: p.container_port,
            public_port: Some(p.host_port),
            typ: Some(typ(&p.proto)),
        })
        .collect();
    for key in &sb.exposed {
        if let Ok(p) = key.parse::<ports::Port>()
            && !sb
                .ports
                .iter()
                .any(|q| q.container_port == p.number && q.proto == p.proto.as_str())
        {
            out.push(Port {
                ip: None,
                private_port: p.number,
                public_port: None,
                typ: Some(typ(p.proto.as_str())),
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_like_dockerd() {
        let m = |s: &str| {
            NetMode::of(&HostConfig {
                network_mode: Some(s.into()),
                ..Default::default()
            })
        };
        assert_eq!(m(""), NetMode::Bridge);
        assert_eq!(m("default"), NetMode::Bridge);
        assert_eq!(m("host"), NetMode::Host);
        assert_eq!(m("none"), NetMode::None);
        assert_eq!(m("container:web"), NetMode::Container("web".into()));
        assert_eq!(m("berth-net"), NetMode::Network("berth-net".into()));
    }

    #[test]
    fn port_settings_are_normalised_and_checked() {
        let config = ContainerConfig {
            exposed_ports: Some(HashMap::from([("53/udp".into(), HashMap::new())])),
            ..Default::default()
        };
        let host = HostConfig {
            port_bindings: Some(HashMap::from([(
                "80".into(),
                Some(vec![PortBinding {
                    host_ip: Some("127.0.0.1".into()),
                    host_port: Some("8080".into()),
                }]),
            )])),
            publish_all_ports: Some(true),
            ..Default::default()
        };
        assert_eq!(exposed_ports(&config, &host).unwrap(), ["53/udp", "80/tcp"]);
        let b = port_bindings(&config, &host).unwrap();
        assert_eq!(b["80/tcp"], [("127.0.0.1".to_owned(), "8080".to_owned())]);
        assert_eq!(b["53/udp"], [(String::new(), String::new())]);
        let bad = HostConfig {
            port_bindings: Some(HashMap::from([("80/xyz".into(), None)])),
            ..Default::default()
        };
        assert_eq!(
            port_bindings(&config, &bad).unwrap_err().message,
            "invalid port specification: \"80/xyz\""
        );
    }

    fn service() -> (tempfile::TempDir, NetworkService) {
        let dir = tempfile::tempdir().unwrap();
        let cfg = crate::network::NetConfig {
            bridge: "berthtest1".into(),
            bip: Some("10.215.0.1/24".parse().unwrap()),
            iptables: false,
            ip_forward: false,
        };
        let svc = NetworkService::open(dir.path(), dir.path(), cfg, &[]).unwrap();
        (dir, svc)
    }

    #[test]
    fn create_checks_use_dockerds_messages() {
        let (_dir, svc) = service();
        let cfg = ContainerConfig::default();
        let host = |mode: &str| HostConfig {
            network_mode: Some(mode.into()),
            ..Default::default()
        };
        let nets = validate(&svc, &cfg, &host("default"), None).unwrap();
        assert_eq!(nets.keys().collect::<Vec<_>>(), ["bridge"]);
        assert!(
            validate(&svc, &cfg, &host("container:x"), None)
                .unwrap()
                .is_empty()
        );
        let e = validate(&svc, &cfg, &host("nosuch"), None).unwrap_err();
        assert_eq!(e.message, "network nosuch not found");
        let named = ContainerConfig {
            hostname: Some("h".into()),
            ..Default::default()
        };
        assert_eq!(
            validate(&svc, &named, &host("container:x"), None)
                .unwrap_err()
                .message,
            "conflicting options: hostname and the network mode"
        );
        let aliased = NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                "bridge".into(),
                EndpointSettings {
                    aliases: Some(vec!["a".into()]),
                    ..Default::default()
                },
            )])),
        };
        assert_eq!(
            validate(&svc, &cfg, &host("bridge"), Some(&aliased))
                .unwrap_err()
                .message,
            "network-scoped alias is supported only for containers in user defined networks"
        );
        let with_ip = |ip: &str| NetworkingConfig {
            endpoints_config: Some(HashMap::from([(
                "bridge".into(),
                EndpointSettings {
                    ipam_config: Some(berth::api::models::EndpointIpamConfig {
                        ipv4_address: Some(ip.into()),
                        ..Default::default()
                    }),
                    ..Default::default()
                },
            )])),
        };
        assert_eq!(
            validate(&svc, &cfg, &host("bridge"), Some(&with_ip("10.215.0.9")))
                .unwrap_err()
                .message,
            "user specified IP address is supported on user defined networks only"
        );
        let user = svc
            .create(
                crate::network::CreateNetwork {
                    name: "berth-u".into(),
                    subnet: Some("10.216.0.0/24".parse().unwrap()),
                    ..Default::default()
                },
                &[],
            )
            .unwrap();
        let mut outside = with_ip("10.9.9.9");
        let eps = outside.endpoints_config.as_mut().unwrap();
        let settings = eps.remove("bridge").unwrap();
        eps.insert("berth-u".into(), settings);
        assert_eq!(
            validate(&svc, &cfg, &host("berth-u"), Some(&outside))
                .unwrap_err()
                .message,
            "no configured subnet or ip-range contain the IP address 10.9.9.9"
        );
        assert_eq!(user.name, "berth-u");
        let two = NetworkingConfig {
            endpoints_config: Some(HashMap::from([
                ("a".into(), EndpointSettings::default()),
                ("b".into(), EndpointSettings::default()),
            ])),
        };
        assert_eq!(
            validate(&svc, &cfg, &host("bridge"), Some(&two))
                .unwrap_err()
                .message,
            "Container cannot be connected to network endpoints: a, b"
        );
        let bad_mac = ContainerConfig {
            mac_address: Some("nope".into()),
            ..Default::default()
        };
        assert_eq!(
            validate(&svc, &bad_mac, &host("bridge"), None)
                .unwrap_err()
                .message,
            "nope is not a valid mac address"
        );
    }
}
