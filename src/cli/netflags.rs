//! The networking flags of `run`/`create` (`-p`, `-P`, `--expose`,
//! `--network`, `--network-alias`, `--ip`, `--link`, `--dns*`, `--add-host`,
//! `--mac-address`), parsed into the create request the way Docker's CLI does
//! it (`opts.go` `parse`, go-connections' `nat.ParsePortSpecs`), with its error
//! messages. Kept apart from the other run flags so the two evolve separately.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;

use clap::Args;

use berth::api::ErrorClass;
use berth::api::models::{
    ContainerConfig, EndpointIpamConfig, EndpointSettings, HostConfig, NetworkingConfig,
    PortBinding,
};

/// Docker's network flags of `run` and `create`.
#[derive(Debug, Default, Args)]
pub struct NetFlags {
    /// Publish a container's port(s) to the host
    #[arg(short = 'p', long = "publish", value_name = "list")]
    publish: Vec<String>,
    /// Publish all exposed ports to random ports
    #[arg(short = 'P', long = "publish-all")]
    publish_all: bool,
    /// Expose a port or a range of ports
    #[arg(long, value_name = "list")]
    expose: Vec<String>,
    /// Connect a container to a network
    #[arg(long = "network", alias = "net", value_name = "network")]
    network: Vec<String>,
    /// Add network-scoped alias for the container
    #[arg(long = "network-alias", alias = "net-alias", value_name = "list")]
    network_alias: Vec<String>,
    /// IPv4 address (e.g., 172.30.100.104)
    #[arg(long, value_name = "string")]
    ip: Option<String>,
    /// Add link to another container
    #[arg(long, value_name = "list")]
    link: Vec<String>,
    /// Set custom DNS servers
    #[arg(long, value_name = "list")]
    dns: Vec<String>,
    /// Set custom DNS search domains
    #[arg(long = "dns-search", value_name = "list")]
    dns_search: Vec<String>,
    /// Set DNS options
    #[arg(long = "dns-option", alias = "dns-opt", value_name = "list")]
    dns_option: Vec<String>,
    /// Add a custom host-to-IP mapping (host:ip)
    #[arg(long = "add-host", value_name = "list")]
    add_host: Vec<String>,
    /// Container MAC address (e.g., 92:d0:c6:0a:29:33)
    #[arg(long = "mac-address", value_name = "string")]
    mac_address: Option<String>,
}

/// A networking flag Docker's CLI refuses, in its words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NetFlagError {
    /// A flag value its validator rejects (cobra: usage block, exit 125).
    #[error("invalid argument {value:?} for {flag:?} flag: {reason}")]
    Flag {
        /// The flag as Docker names it in the message (`--dns`, `-p, --publish`).
        flag: &'static str,
        /// The value given.
        value: String,
        /// Why it was refused.
        reason: String,
    },
    /// A refusal of `parse` (Docker: `docker: <message>` + help hint, exit 125).
    #[error("{0}")]
    Option(String),
}

impl NetFlagError {
    /// Every refusal here is the user's input.
    pub fn class(&self) -> ErrorClass {
        ErrorClass::InvalidArgument
    }
}

/// What the flags contribute to `POST /containers/create`.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct NetRequest {
    /// Config.ExposedPorts (`80/tcp`), from `-p` and `--expose`.
    pub exposed_ports: BTreeMap<String, ()>,
    /// HostConfig.PortBindings, in flag order per port.
    pub port_bindings: BTreeMap<String, Vec<PortBinding>>,
    /// HostConfig.PublishAllPorts.
    pub publish_all: bool,
    /// HostConfig.NetworkMode (`default` when no `--network`, as Docker sends it).
    pub network_mode: String,
    /// HostConfig.Links (legacy links; on user networks they are endpoint links too).
    pub links: Vec<String>,
    /// HostConfig.Dns, canonical addresses.
    pub dns: Vec<String>,
    /// HostConfig.DnsSearch.
    pub dns_search: Vec<String>,
    /// HostConfig.DnsOptions.
    pub dns_options: Vec<String>,
    /// HostConfig.ExtraHosts as `host:ip`.
    pub extra_hosts: Vec<String>,
    /// Config.MacAddress (API 1.41 carries it in the container config).
    pub mac_address: Option<String>,
    /// NetworkingConfig.EndpointsConfig, only endpoints with settings.
    pub endpoints: BTreeMap<String, EndpointSettings>,
}

impl NetRequest {
    /// Writes the request's fields into the create body.
    pub fn apply(self, config: &mut ContainerConfig, host: &mut HostConfig) -> NetworkingConfig {
        if !self.exposed_ports.is_empty() {
            config.exposed_ports = Some(
                self.exposed_ports
                    .into_keys()
                    .map(|k| (k, HashMap::new()))
                    .collect(),
            );
        }
        config.mac_address = self.mac_address;
        host.port_bindings = Some(
            self.port_bindings
                .into_iter()
                .map(|(k, v)| (k, Some(v)))
                .collect(),
        );
        host.publish_all_ports = Some(self.publish_all);
        host.network_mode = Some(self.network_mode);
        host.links = (!self.links.is_empty()).then_some(self.links);
        host.dns = Some(self.dns);
        host.dns_search = Some(self.dns_search);
        host.dns_options = Some(self.dns_options);
        host.extra_hosts = (!self.extra_hosts.is_empty()).then_some(self.extra_hosts);
        NetworkingConfig {
            endpoints_config: Some(self.endpoints.into_iter().collect()),
        }
    }
}

impl NetFlags {
    /// Docker's checks and conversions of these flags.
    pub fn parse(&self) -> Result<NetRequest, NetFlagError> {
        let flag = |flag: &'static str, value: &str, reason: String| NetFlagError::Flag {
            flag,
            value: value.to_string(),
            reason,
        };
        // Flag validators first: cobra runs them while parsing the command line.
        let mut dns = Vec::new();
        for d in &self.dns {
            dns.push(validate_ip(d).map_err(|r| flag("--dns", d, r))?);
        }
        let mut dns_search = Vec::new();
        for d in &self.dns_search {
            dns_search.push(validate_dns_search(d).map_err(|r| flag("--dns-search", d, r))?);
        }
        let mut extra_hosts = Vec::new();
        for h in &self.add_host {
            extra_hosts.push(validate_extra_host(h).map_err(|r| flag("--add-host", h, r))?);
        }
        for l in &self.link {
            validate_link(l).map_err(|r| flag("--link", l, r))?;
        }
        let mut attachments = Vec::new();
        for n in &self.network {
            attachments.push(parse_network_opt(n).map_err(|r| flag("--network", n, r))?);
        }

        if let Some(mac) = &self.mac_address
            && !valid_mac(mac)
        {
            return Err(NetFlagError::Option(format!(
                "{mac} is not a valid mac address"
            )));
        }
        let mut req = NetRequest {
            publish_all: self.publish_all,
            network_mode: attachments
                .first()
                .map_or("default".to_string(), |a| a.target.clone()),
            links: self.link.clone(),
            dns,
            dns_search,
            dns_options: self.dns_option.clone(),
            extra_hosts,
            mac_address: self.mac_address.clone(),
            ..NetRequest::default()
        };
        let specs = self
            .publish
            .iter()
            .map(|p| convert_to_standard_notation(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(NetFlagError::Option)?;
        for spec in &specs {
            for (port, binding) in parse_port_spec(spec).map_err(NetFlagError::Option)? {
                req.exposed_ports.insert(port.clone(), ());
                req.port_bindings.entry(port).or_default().push(binding);
            }
        }
        for e in &self.expose {
            for port in parse_expose(e).map_err(NetFlagError::Option)? {
                req.exposed_ports.insert(port, ());
            }
        }
        req.endpoints = self.endpoints(attachments)?;
        Ok(req)
    }

    /// Docker's `parseNetworkOpts`: the first network takes `--network-alias`,
    /// `--ip` and (on user networks) `--link`; a lone network without settings
    /// sends no endpoint.
    fn endpoints(
        &self,
        mut attachments: Vec<Attachment>,
    ) -> Result<BTreeMap<String, EndpointSettings>, NetFlagError> {
        let mut endpoints = BTreeMap::new();
        if attachments.is_empty() {
            attachments.push(Attachment {
                target: "default".to_string(),
                ..Attachment::default()
            });
        }
        let count = attachments.len();
        let (mut user, mut builtin) = (false, false);
        for (i, mut a) in attachments.into_iter().enumerate() {
            if is_user_defined(&a.target) {
                user = true;
            } else {
                builtin = true;
            }
            if i == 0 {
                self.apply_container_options(&mut a)?;
            }
            let ep = endpoint_settings(&a)?;
            if endpoints.contains_key(&a.target) {
                return Err(NetFlagError::Option(format!(
                    "network {:?} is specified multiple times",
                    a.target
                )));
            }
            if i == 0 && count == 1 && ep == EndpointSettings::default() {
                continue;
            }
            endpoints.insert(a.target, ep);
        }
        if user && builtin {
            return Err(NetFlagError::Option(
                "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
                    .to_string(),
            ));
        }
        Ok(endpoints)
    }

    /// Docker's `applyContainerOptions` (the MAC address stays in the
    /// container config at API 1.41).
    fn apply_container_options(&self, a: &mut Attachment) -> Result<(), NetFlagError> {
        let conflict = |what: &str| {
            NetFlagError::Option(format!("conflicting options: cannot specify both {what}"))
        };
        if !a.aliases.is_empty() && !self.network_alias.is_empty() {
            return Err(conflict("--network-alias and per-network alias"));
        }
        if a.ipv4_address.is_some() && self.ip.is_some() {
            return Err(conflict("--ip and per-network IPv4 address"));
        }
        if a.mac_address.is_some() && self.mac_address.is_some() {
            return Err(conflict("--mac-address and per-network MAC address"));
        }
        if !self.network_alias.is_empty() {
            a.aliases = self.network_alias.clone();
        }
        if is_user_defined(&a.target) && !self.link.is_empty() {
            a.links = self.link.clone();
        }
        if let Some(ip) = &self.ip {
            a.ipv4_address = Some(ip.clone());
        }
        Ok(())
    }
}

/// One `--network` value (Docker's `NetworkAttachmentOpts`).
#[derive(Debug, Default, Clone, PartialEq)]
struct Attachment {
    target: String,
    aliases: Vec<String>,
    links: Vec<String>,
    ipv4_address: Option<String>,
    ipv6_address: Option<String>,
    mac_address: Option<String>,
    driver_opts: BTreeMap<String, String>,
}

/// Docker's `container.NetworkMode.IsUserDefined`.
fn is_user_defined(mode: &str) -> bool {
    !matches!(mode, "default" | "bridge" | "host" | "none") && !mode.starts_with("container:")
}

/// Docker's `parseNetworkAttachmentOpt`.
fn endpoint_settings(a: &Attachment) -> Result<EndpointSettings, NetFlagError> {
    if a.target.trim().is_empty() {
        return Err(NetFlagError::Option("no name set for network".to_string()));
    }
    if !is_user_defined(&a.target) {
        if !a.aliases.is_empty() {
            return Err(NetFlagError::Option(
                "network-scoped aliases are only supported for user-defined networks".to_string(),
            ));
        }
        if !a.links.is_empty() {
            return Err(NetFlagError::Option(
                "links are only supported for user-defined networks".to_string(),
            ));
        }
    }
    let mut ep = EndpointSettings {
        aliases: (!a.aliases.is_empty()).then(|| a.aliases.clone()),
        links: (!a.links.is_empty()).then(|| a.links.clone()),
        driver_opts: (!a.driver_opts.is_empty())
            .then(|| a.driver_opts.clone().into_iter().collect()),
        ..EndpointSettings::default()
    };
    if a.ipv4_address.is_some() || a.ipv6_address.is_some() {
        ep.ipam_config = Some(EndpointIpamConfig {
            ipv4_address: a.ipv4_address.clone(),
            ipv6_address: a.ipv6_address.clone(),
            link_local_ips: None,
        });
    }
    if let Some(mac) = &a.mac_address {
        if !valid_mac(mac) {
            return Err(NetFlagError::Option(format!(
                "{mac} is not a valid mac address"
            )));
        }
        ep.mac_address = Some(mac.clone());
    }
    Ok(ep)
}

/// Docker's `NetworkOpt.Set`: a name, or `name=…,alias=…,ip=…` (keys and
/// values lower-cased, as Docker does).
fn parse_network_opt(value: &str) -> Result<Attachment, String> {
    if !has_key_value(value) {
        return Ok(Attachment {
            target: value.to_string(),
            ..Attachment::default()
        });
    }
    let mut a = Attachment::default();
    for field in split_csv(value)? {
        let lower = field.to_lowercase();
        let Some((key, val)) = lower.split_once('=').filter(|(k, _)| !k.is_empty()) else {
            return Err(format!("invalid field {field}"));
        };
        let (key, val) = (key.trim(), val.trim().to_string());
        match key {
            "name" => a.target = val,
            "alias" => a.aliases.push(val),
            "ip" => a.ipv4_address = Some(val),
            "ip6" => a.ipv6_address = Some(val),
            "mac-address" => a.mac_address = Some(val),
            "driver-opt" => {
                let Some((k, v)) = val.split_once('=').filter(|(k, _)| !k.is_empty()) else {
                    return Err("invalid key value pair format in driver options".to_string());
                };
                a.driver_opts
                    .insert(k.trim().to_string(), v.trim().to_string());
            }
            other => return Err(format!("invalid field key {other}")),
        }
    }
    if a.target.is_empty() {
        return Err("network name/id is not specified".to_string());
    }
    Ok(a)
}

/// Docker's test for the long `--network` syntax: `\w+=\w+` anywhere.
fn has_key_value(s: &str) -> bool {
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_';
    let b = s.as_bytes();
    (1..b.len().saturating_sub(1)).any(|i| b[i] == b'=' && word(b[i - 1]) && word(b[i + 1]))
}

/// One CSV record (Go's `encoding/csv`): commas separate fields, double
/// quotes may enclose a field with `""` for a quote.
fn split_csv(s: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut cur = String::new();
    let mut chars = s.chars().peekable();
    let mut at_start = true;
    let mut quoted = false;
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted => {
                if chars.peek() == Some(&'"') {
                    chars.next();
                    cur.push('"');
                } else {
                    quoted = false;
                }
            }
            '"' if at_start => quoted = true,
            '"' => {
                return Err("parse error on line 1, column 1: bare \" in non-quoted-field".into());
            }
            ',' if !quoted => {
                fields.push(std::mem::take(&mut cur));
                at_start = true;
                continue;
            }
            c => cur.push(c),
        }
        at_start = false;
    }
    if quoted {
        return Err("extraneous or missing \" in quoted-field".to_string());
    }
    fields.push(cur);
    Ok(fields)
}

/// Go's `net.ParseIP` + `String()`: the canonical form of an address.
fn validate_ip(v: &str) -> Result<String, String> {
    v.trim()
        .parse::<IpAddr>()
        .map(|ip| ip.to_string())
        .map_err(|_| format!("IP address is not correctly formatted: {v}"))
}

/// Docker's `ValidateDNSSearch`: `.` or a domain name (returned without a trailing dot).
fn validate_dns_search(v: &str) -> Result<String, String> {
    let v = v.trim_matches(' ');
    if v == "." {
        return Ok(v.to_string());
    }
    let bad = || format!("{v} is not a valid domain");
    if !v.chars().any(|c| c.is_ascii_alphabetic()) {
        return Err(bad());
    }
    let name = v.trim_end();
    let name = name.strip_suffix('.').unwrap_or(name);
    let label_ok = |l: &str| {
        let b = l.as_bytes();
        !b.is_empty()
            && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
            && b[0] != b'-'
            && b[b.len() - 1] != b'-'
    };
    if name.len() < 255 && name.split('.').all(label_ok) {
        Ok(name.to_string())
    } else {
        Err(bad())
    }
}

/// Docker's `ValidateExtraHost`: `host:ip` or `host=ip`, the IP possibly in
/// brackets or `host-gateway`; sent to the daemon as `host:ip`.
fn validate_extra_host(v: &str) -> Result<String, String> {
    let split = v.split_once('=').or_else(|| v.split_once(':'));
    let (host, ip) = match split {
        Some((h, ip)) if !h.is_empty() && !h.contains(':') => (h, ip),
        _ => return Err(format!("bad format for add-host: {v:?}")),
    };
    if ip != "host-gateway" {
        let bare = if ip.len() > 2 && ip.starts_with('[') && ip.ends_with(']') {
            &ip[1..ip.len() - 1]
        } else {
            ip
        };
        if validate_ip(bare).is_err() {
            return Err(format!("invalid IP address in add-host: {bare:?}"));
        }
        return Ok(format!("{host}:{bare}"));
    }
    Ok(format!("{host}:{ip}"))
}

/// Docker's `ValidateLink`: `name` or `name:alias`.
fn validate_link(v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err("empty string specified for links".to_string());
    }
    if v.splitn(3, ':').count() > 2 {
        return Err(format!("bad format for links: {v}"));
    }
    Ok(())
}

/// Go's `net.ParseMAC` for the forms Docker users type: 6, 8 or 20 octets
/// separated by `:` or `-`, or dot-separated groups of four hex digits.
fn valid_mac(v: &str) -> bool {
    let v = v.trim();
    let hex = |s: &str, n: usize| s.len() == n && s.chars().all(|c| c.is_ascii_hexdigit());
    let octets = |sep: char| {
        let parts: Vec<&str> = v.split(sep).collect();
        matches!(parts.len(), 6 | 8 | 20) && parts.iter().all(|p| hex(p, 2))
    };
    let dotted = || {
        let parts: Vec<&str> = v.split('.').collect();
        matches!(parts.len(), 3 | 4 | 10) && parts.iter().all(|p| hex(p, 4))
    };
    octets(':') || octets('-') || dotted()
}

/// Docker's `convertToStandardNotation`: `published=8080,target=80` to `8080:80/tcp`.
fn convert_to_standard_notation(spec: &str) -> Result<String, String> {
    if !spec.contains('=') {
        return Ok(spec.to_string());
    }
    let mut params: HashMap<&str, &str> = HashMap::from([("protocol", "tcp")]);
    for param in spec.split(',') {
        match param.split_once('=') {
            Some((k, v)) if !k.is_empty() => {
                params.insert(k, v);
            }
            _ => {
                return Err(format!(
                    "invalid publish opts format (should be name=value but got '{param}')"
                ));
            }
        }
    }
    let get = |k: &str| params.get(k).copied().unwrap_or_default();
    Ok(format!(
        "{}:{}/{}",
        get("published"),
        get("target"),
        get("protocol")
    ))
}

/// Go's `strconv.ParseUint(s, 10, 16)` with its error text.
fn parse_u16(s: &str) -> Result<u64, String> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseUint: parsing {s:?}: invalid syntax"));
    }
    match s.parse::<u64>() {
        Ok(n) if n <= u64::from(u16::MAX) => Ok(n),
        _ => Err(format!(
            "strconv.ParseUint: parsing {s:?}: value out of range"
        )),
    }
}

/// go-connections' `nat.ParsePortRange`: `80` or `8000-8010`.
fn parse_port_range(ports: &str) -> Result<(u64, u64), String> {
    if ports.is_empty() {
        return Err("empty string specified for ports".to_string());
    }
    if !ports.contains('-') {
        let n = parse_u16(ports)?;
        return Ok((n, n));
    }
    let mut parts = ports.split('-');
    let start = parse_u16(parts.next().unwrap_or_default())?;
    let end = parse_u16(parts.next().unwrap_or_default())?;
    if end < start {
        return Err(format!("invalid range specified for port: {ports}"));
    }
    Ok((start, end))
}

/// go-connections' `nat.SplitProtoPort`: `80/udp` to (`udp`, `80`), `tcp` by default.
fn split_proto_port(raw: &str) -> (String, String) {
    let parts: Vec<&str> = raw.split('/').collect();
    if raw.is_empty() || parts[0].is_empty() {
        return (String::new(), String::new());
    }
    if parts.len() == 1 {
        return ("tcp".to_string(), raw.to_string());
    }
    if parts[1].is_empty() {
        return ("tcp".to_string(), parts[0].to_string());
    }
    (parts[1].to_string(), parts[0].to_string())
}

/// go-connections' `nat.ParsePortSpec`: `[ip:][hostPort[-end]:]containerPort[-end][/proto]`
/// to (`80/tcp`, binding) pairs, a pair per container port of a range.
pub fn parse_port_spec(raw: &str) -> Result<Vec<(String, PortBinding)>, String> {
    let parts: Vec<&str> = raw.split(':').collect();
    let n = parts.len();
    let (mut ip, host_port, container) = match n {
        1 => (String::new(), "", parts[0]),
        2 => (String::new(), parts[0], parts[1]),
        3 => (parts[0].to_string(), parts[1], parts[2]),
        _ => (parts[..n - 2].join(":"), parts[n - 2], parts[n - 1]),
    };
    let (proto, container) = split_proto_port(container);
    if ip.starts_with('[') {
        // Go's net.SplitHostPort(ip + ":"): the host inside the brackets.
        match ip.strip_prefix('[').and_then(|r| r.strip_suffix(']')) {
            Some(inner) if !inner.contains(['[', ']']) => ip = inner.to_string(),
            _ => {
                return Err(format!(
                    "invalid IP address {ip}: address {ip}:: missing port in address"
                ));
            }
        }
    }
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("invalid IP address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("no port specified: {raw}<empty>"));
    }
    let (start, end) =
        parse_port_range(&container).map_err(|_| format!("invalid containerPort: {container}"))?;
    let (host_start, host_end) = if host_port.is_empty() {
        (0, 0)
    } else {
        parse_port_range(host_port).map_err(|_| format!("invalid hostPort: {host_port}"))?
    };
    if !host_port.is_empty() && end - start != host_end - host_start && end != start {
        return Err(format!(
            "invalid ranges specified for container and host Ports: {container} and {host_port}"
        ));
    }
    let lower = proto.to_lowercase();
    if !matches!(lower.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("invalid proto: {proto}"));
    }
    let mut out = Vec::new();
    for i in 0..=(end - start) {
        let mut host = if host_port.is_empty() {
            String::new()
        } else {
            (host_start + i).to_string()
        };
        if start == end && host_start != host_end {
            host = format!("{host}-{host_end}");
        }
        out.push((
            format!("{}/{lower}", start + i),
            PortBinding {
                host_ip: Some(ip.clone()),
                host_port: Some(host),
            },
        ));
    }
    Ok(out)
}

/// Docker's `--expose` handling: `80`, `80/udp` or `8000-8010[/proto]`.
fn parse_expose(e: &str) -> Result<Vec<String>, String> {
    if e.contains(':') {
        return Err(format!("invalid port format for --expose: {e}"));
    }
    let (proto, port) = split_proto_port(e);
    let (start, end) = parse_port_range(&port)
        .map_err(|err| format!("invalid range format for --expose: {e}, error: {err}"))?;
    Ok((start..=end).map(|p| format!("{p}/{proto}")).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(flatten)]
        net: NetFlags,
    }

    fn flags(argv: &[&str]) -> NetFlags {
        let mut full = vec!["run"];
        full.extend_from_slice(argv);
        Wrap::try_parse_from(full).unwrap().net
    }

    fn binding(ip: &str, port: &str) -> PortBinding {
        PortBinding {
            host_ip: Some(ip.to_string()),
            host_port: Some(port.to_string()),
        }
    }

    #[test]
    fn port_specs_parse_like_go_connections() {
        assert_eq!(
            parse_port_spec("80").unwrap(),
            vec![("80/tcp".to_string(), binding("", ""))]
        );
        assert_eq!(
            parse_port_spec("127.0.0.1:8080:80/UDP").unwrap(),
            vec![("80/udp".to_string(), binding("127.0.0.1", "8080"))]
        );
        assert_eq!(
            parse_port_spec("8000-8001:80-81").unwrap(),
            vec![
                ("80/tcp".to_string(), binding("", "8000")),
                ("81/tcp".to_string(), binding("", "8001")),
            ]
        );
        // One container port, a host range: the daemon picks a free one.
        assert_eq!(
            parse_port_spec("8000-8010:80").unwrap(),
            vec![("80/tcp".to_string(), binding("", "8000-8010"))]
        );
        assert_eq!(
            parse_port_spec("[::1]:8080:80").unwrap(),
            vec![("80/tcp".to_string(), binding("::1", "8080"))]
        );
        assert_eq!(
            parse_port_spec("::1:8080:80").unwrap(),
            vec![("80/tcp".to_string(), binding("::1", "8080"))]
        );
        assert_eq!(
            parse_port_spec("0.0.0.0::53/udp").unwrap(),
            vec![("53/udp".to_string(), binding("0.0.0.0", ""))]
        );
        let err = |s: &str| parse_port_spec(s).unwrap_err();
        assert_eq!(err("8080:"), "no port specified: 8080:<empty>");
        assert_eq!(err("x:80"), "invalid hostPort: x");
        assert_eq!(err("80-x"), "invalid containerPort: 80-x");
        assert_eq!(err("70000"), "invalid containerPort: 70000");
        assert_eq!(err("1.2.3:80:80"), "invalid IP address: 1.2.3");
        assert_eq!(err("80/icmp"), "invalid proto: icmp");
        assert_eq!(
            err("8000-8002:80-81"),
            "invalid ranges specified for container and host Ports: 80-81 and 8000-8002"
        );
        assert_eq!(err("90-80"), "invalid containerPort: 90-80");
    }

    #[test]
    fn publish_and_expose_fill_the_request() {
        let req = flags(&[
            "-p",
            "8080:80",
            "-p",
            "127.0.0.1:8081:80",
            "--publish",
            "published=53,target=5353,protocol=udp",
            "--expose",
            "90-91",
            "--expose",
            "80",
            "-P",
        ])
        .parse()
        .unwrap();
        assert!(req.publish_all);
        let keys: Vec<&str> = req.exposed_ports.keys().map(String::as_str).collect();
        assert_eq!(keys, vec!["5353/udp", "80/tcp", "90/tcp", "91/tcp"]);
        assert_eq!(
            req.port_bindings["80/tcp"],
            vec![binding("", "8080"), binding("127.0.0.1", "8081")]
        );
        assert_eq!(req.port_bindings["5353/udp"], vec![binding("", "53")]);
        assert_eq!(req.network_mode, "default");
        assert!(req.endpoints.is_empty());
        let err = |argv: &[&str]| flags(argv).parse().unwrap_err().to_string();
        assert_eq!(
            err(&["--expose", "80:80"]),
            "invalid port format for --expose: 80:80"
        );
        assert_eq!(
            err(&["--expose", "8x"]),
            "invalid range format for --expose: 8x, error: strconv.ParseUint: parsing \"8x\": invalid syntax"
        );
        assert_eq!(
            err(&["-p", "published=1,bogus"]),
            "invalid publish opts format (should be name=value but got 'bogus')"
        );
    }

    #[test]
    fn the_create_body_carries_docker_fields() {
        let mut config = ContainerConfig::default();
        let mut host = HostConfig::default();
        let net = flags(&["-p", "80", "--dns", "8.8.8.8"])
            .parse()
            .unwrap()
            .apply(&mut config, &mut host);
        let c = serde_json::to_value(&config).unwrap();
        let h = serde_json::to_value(&host).unwrap();
        assert_eq!(c["ExposedPorts"], serde_json::json!({"80/tcp": {}}));
        assert_eq!(
            h["PortBindings"],
            serde_json::json!({"80/tcp": [{"HostIp": "", "HostPort": ""}]})
        );
        assert_eq!(h["NetworkMode"], "default");
        assert_eq!(h["Dns"], serde_json::json!(["8.8.8.8"]));
        assert_eq!(h["DnsSearch"], serde_json::json!([]));
        assert_eq!(h["PublishAllPorts"], false);
        assert_eq!(
            serde_json::to_value(&net).unwrap(),
            serde_json::json!({"EndpointsConfig": {}})
        );
    }

    #[test]
    fn network_options_like_docker() {
        let req = flags(&[
            "--network",
            "berth-net",
            "--network-alias",
            "web",
            "--ip",
            "10.1.0.9",
            "--link",
            "db:database",
        ])
        .parse()
        .unwrap();
        assert_eq!(req.network_mode, "berth-net");
        let ep = &req.endpoints["berth-net"];
        assert_eq!(ep.aliases, Some(vec!["web".to_string()]));
        assert_eq!(ep.links, Some(vec!["db:database".to_string()]));
        assert_eq!(
            ep.ipam_config.as_ref().unwrap().ipv4_address.as_deref(),
            Some("10.1.0.9")
        );
        // A lone built-in network sends no endpoint settings.
        let req = flags(&["--net", "host"]).parse().unwrap();
        assert_eq!(req.network_mode, "host");
        assert!(req.endpoints.is_empty());
        let req = flags(&["--network", "name=Berth-A,alias=X"])
            .parse()
            .unwrap();
        assert_eq!(req.network_mode, "berth-a");
        assert_eq!(
            req.endpoints["berth-a"].aliases,
            Some(vec!["x".to_string()])
        );
        let err = |argv: &[&str]| flags(argv).parse().unwrap_err().to_string();
        assert_eq!(
            err(&["--network-alias", "x"]),
            "network-scoped aliases are only supported for user-defined networks"
        );
        assert_eq!(
            err(&["--network", "a", "--network", "a"]),
            "network \"a\" is specified multiple times"
        );
        assert_eq!(
            err(&["--network", "a", "--network", "host"]),
            "conflicting options: cannot attach both user-defined and non-user-defined network-modes"
        );
        assert_eq!(
            err(&["--network", "name=a,bogus=1"]),
            "invalid argument \"name=a,bogus=1\" for \"--network\" flag: invalid field key bogus"
        );
        assert_eq!(
            err(&["--network", "alias=x"]),
            "invalid argument \"alias=x\" for \"--network\" flag: network name/id is not specified"
        );
        assert_eq!(
            err(&["--mac-address", "92:d0:c6:0a:29"]),
            "92:d0:c6:0a:29 is not a valid mac address"
        );
        let ok = flags(&["--mac-address", "92:d0:c6:0a:29:33"])
            .parse()
            .unwrap();
        assert_eq!(ok.mac_address.as_deref(), Some("92:d0:c6:0a:29:33"));
    }

    #[test]
    fn dns_and_hosts_validate_like_docker() {
        let req = flags(&[
            "--dns",
            "::0:1",
            "--dns-search",
            "example.com.",
            "--dns-search",
            ".",
            "--dns-option",
            "ndots:2",
            "--dns-opt",
            "rotate",
            "--add-host",
            "db:10.0.0.2",
            "--add-host",
            "gw=host-gateway",
            "--add-host",
            "v6:[::1]",
        ])
        .parse()
        .unwrap();
        assert_eq!(req.dns, vec!["::1"]);
        assert_eq!(req.dns_search, vec!["example.com", "."]);
        assert_eq!(req.dns_options, vec!["ndots:2", "rotate"]);
        assert_eq!(
            req.extra_hosts,
            vec!["db:10.0.0.2", "gw:host-gateway", "v6:::1"]
        );
        let err = |argv: &[&str]| flags(argv).parse().unwrap_err().to_string();
        assert_eq!(
            err(&["--dns", "nope"]),
            "invalid argument \"nope\" for \"--dns\" flag: IP address is not correctly formatted: nope"
        );
        assert_eq!(
            err(&["--add-host", "nohost"]),
            "invalid argument \"nohost\" for \"--add-host\" flag: bad format for add-host: \"nohost\""
        );
        assert_eq!(
            err(&["--add-host", "h:1.2.3"]),
            "invalid argument \"h:1.2.3\" for \"--add-host\" flag: invalid IP address in add-host: \"1.2.3\""
        );
        assert_eq!(
            err(&["--dns-search", "bad-"]),
            "invalid argument \"bad-\" for \"--dns-search\" flag: bad- is not a valid domain"
        );
        assert_eq!(
            err(&["--link", "a:b:c"]),
            "invalid argument \"a:b:c\" for \"--link\" flag: bad format for links: a:b:c"
        );
    }
}
