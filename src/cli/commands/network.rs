//! `network` commands: `create`, `ls`, `inspect`, `rm`, `connect`,
//! `disconnect` and `prune`, with Docker's flags, output and exit codes
//! (docker/cli `cli/command/network`).

use std::cmp::Ordering;
use std::collections::HashMap;
use std::io::BufRead;
use std::net::IpAddr;

use clap::{Args, Subcommand};
use hyper::Method;
use serde::Serialize;
use serde_json::{Value, json};

use berth::api::models::{
    EndpointIpamConfig, EndpointSettings, Ipam, IpamConfig, NetworkConnectRequest,
    NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest, NetworkPruneResponse,
};

use super::image::{Inspector, truncate_id};
use super::{Ctx, filters_json, print_out, print_rows};
use crate::client::{ClientError, empty, encode_path, json_body, query};
use crate::error::{CliError, flag_error};
use crate::format::{FormatSpec, Template};

/// `berth network …`.
#[derive(Debug, Subcommand)]
pub enum NetworkCommand {
    /// Connect a container to a network
    Connect(ConnectArgs),
    /// Create a network
    Create(CreateArgs),
    /// Disconnect a container from a network
    Disconnect(DisconnectArgs),
    /// Display detailed information on one or more networks
    Inspect(InspectArgs),
    /// List networks
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Remove all unused networks
    Prune(PruneArgs),
    /// Remove one or more networks
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
}

/// Runs a `network` subcommand.
pub async fn dispatch(ctx: &Ctx, command: NetworkCommand) -> Result<(), CliError> {
    match command {
        NetworkCommand::Connect(a) => connect(ctx, a).await,
        NetworkCommand::Create(a) => create(ctx, a).await,
        NetworkCommand::Disconnect(a) => disconnect(ctx, a).await,
        NetworkCommand::Inspect(a) => inspect(ctx, a).await,
        NetworkCommand::Ls(a) => ls(ctx, a).await,
        NetworkCommand::Prune(a) => prune(ctx, a).await,
        NetworkCommand::Rm(a) => rm(ctx, a).await,
    }
}

/// fvbommel/sortorder's `NaturalLess` as an ordering: runs of digits compare
/// by value (`port 80` before `port 443`), everything else bytewise.
pub fn natural_cmp(a: &str, b: &str) -> Ordering {
    let (s1, s2) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < s1.len() && j < s2.len() {
        let (c1, c2) = (s1[i], s2[j]);
        let (d1, d2) = (c1.is_ascii_digit(), c2.is_ascii_digit());
        if d1 != d2 {
            return if d1 {
                Ordering::Less
            } else {
                Ordering::Greater
            };
        }
        if !d1 {
            if c1 != c2 {
                return c1.cmp(&c2);
            }
            i += 1;
            j += 1;
            continue;
        }
        while i < s1.len() && s1[i] == b'0' {
            i += 1;
        }
        while j < s2.len() && s2[j] == b'0' {
            j += 1;
        }
        let (nz1, nz2) = (i, j);
        while i < s1.len() && s1[i].is_ascii_digit() {
            i += 1;
        }
        while j < s2.len() && s2[j].is_ascii_digit() {
            j += 1;
        }
        let by_len = (i - nz1).cmp(&(j - nz2));
        if by_len != Ordering::Equal {
            return by_len;
        }
        let by_digits = s1[nz1..i].cmp(&s2[nz2..j]);
        if by_digits != Ordering::Equal {
            return by_digits;
        }
        if nz1 != nz2 {
            return nz1.cmp(&nz2);
        }
    }
    (s1.len() - i)
        .cmp(&(s2.len() - j))
        .then(s1.len().cmp(&s2.len()))
}

/// The `filters` query of `--filter` values; a value without `=` is a flag
/// error, as pflag reports Docker's `FilterOpt` refusing it.
fn filter_query(filters: &[String], command: &str, flag: &str) -> Result<String, CliError> {
    if let Some(bad) = filters.iter().find(|f| !f.contains('=')) {
        return Err(flag_error(
            &format!(
                "invalid argument {bad:?} for {flag:?} flag: bad format of filter (expected name=value)"
            ),
            &format!("network {command} [OPTIONS]"),
            &format!("network {command}"),
        ));
    }
    let mut q = Vec::new();
    if let Some(f) = filters_json(filters, &[])? {
        q.push(("filters", f));
    }
    Ok(query(&q))
}

/// Docker's `ValidateLabel` (a `--label` flag validator: errors are flag
/// errors) then `ConvertKVStringsToMap`.
fn labels_map(labels: &[String]) -> Result<HashMap<String, String>, CliError> {
    let mut map = HashMap::new();
    for l in labels {
        let key = l.split_once('=').map_or(l.as_str(), |(k, _)| k);
        let key = key.trim_start_matches([' ', '\t']);
        let refuse = |reason: String| {
            flag_error(
                &format!("invalid argument {l:?} for \"--label\" flag: {reason}"),
                "network create [OPTIONS] NETWORK",
                "network create",
            )
        };
        if key.is_empty() {
            return Err(refuse(format!("invalid label '{l}': empty name")));
        }
        if key.contains([' ', '\t']) {
            return Err(refuse(format!("label '{key}' contains whitespaces")));
        }
        let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

/// Docker's `MapOpts`: `key=value` (a bare key maps to "").
fn kv_map(values: &[String]) -> HashMap<String, String> {
    values
        .iter()
        .map(|o| {
            let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
            (k.to_string(), v.to_string())
        })
        .collect()
}

/// pflag's StringSlice: every value is a comma-separated list.
fn slice_values(values: &[String]) -> Vec<String> {
    values
        .iter()
        .flat_map(|v| v.split(',').map(str::to_string))
        .filter(|v| !v.is_empty())
        .collect()
}

// ---------------------------------------------------------------- create

/// `berth network create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Enable manual container attachment
    #[arg(long)]
    attachable: bool,
    /// Auxiliary IPv4 or IPv6 addresses used by Network driver
    #[arg(long = "aux-address", value_name = "map")]
    aux_address: Vec<String>,
    /// Driver to manage the Network
    #[arg(short = 'd', long, value_name = "string", default_value = "bridge")]
    driver: String,
    /// IPv4 or IPv6 Gateway for the master subnet
    #[arg(long, value_name = "strings")]
    gateway: Vec<String>,
    /// Restrict external access to the network
    #[arg(long)]
    internal: bool,
    /// Allocate container ip from a sub-range
    #[arg(long = "ip-range", value_name = "strings")]
    ip_range: Vec<String>,
    /// IP Address Management Driver
    #[arg(long = "ipam-driver", value_name = "string", default_value = "default")]
    ipam_driver: String,
    /// Set IPAM driver specific options
    #[arg(long = "ipam-opt", value_name = "map")]
    ipam_opt: Vec<String>,
    /// Enable or disable IPv6 address assignment
    #[arg(long, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    ipv6: Option<bool>,
    /// Set metadata on a network
    #[arg(long, value_name = "list")]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    opt: Vec<String>,
    /// Control the network's scope
    #[arg(long, value_name = "string")]
    scope: Option<String>,
    /// Subnet in CIDR format that represents a network segment
    #[arg(long, value_name = "strings")]
    subnet: Vec<String>,
    /// The network's name
    #[arg(value_name = "NETWORK")]
    name: String,
}

/// Docker's `subnetMatches`: whether `data` (an address or CIDR) lies in `subnet`.
fn subnet_matches(subnet: &str, data: &str) -> Result<bool, String> {
    let (net, bits) = parse_cidr(subnet).map_err(|e| format!("invalid subnet: {e}"))?;
    let ip = if data.contains('/') {
        parse_cidr(data)?.0
    } else {
        match data.parse::<IpAddr>() {
            Ok(ip) => ip,
            Err(_) => return Ok(false),
        }
    };
    Ok(contains(net, bits, ip))
}

/// Go's `net.ParseCIDR`: the address and prefix length, error worded like Go's.
fn parse_cidr(s: &str) -> Result<(IpAddr, u8), String> {
    let bad = || format!("invalid CIDR address: {s}");
    let (addr, bits) = s.split_once('/').ok_or_else(bad)?;
    let ip: IpAddr = addr.parse().map_err(|_| bad())?;
    let max = if ip.is_ipv4() { 32 } else { 128 };
    match bits.parse::<u8>() {
        Ok(b) if b <= max && !bits.starts_with('+') => Ok((ip, b)),
        _ => Err(bad()),
    }
}

fn contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

/// Docker's `createIPAMConfig`: one pool per `--subnet`, each `--ip-range`,
/// `--gateway` and `--aux-address` attached to the subnet containing it.
fn ipam_config(args: &CreateArgs) -> Result<Ipam, String> {
    let subnets = slice_values(&args.subnet);
    let ranges = slice_values(&args.ip_range);
    let gateways = slice_values(&args.gateway);
    if subnets.len() < ranges.len() || subnets.len() < gateways.len() {
        return Err("every ip-range or gateway must have a corresponding subnet".to_string());
    }
    let mut pools: Vec<IpamConfig> = Vec::new();
    for s in &subnets {
        for p in &pools {
            let k = p.subnet.as_deref().unwrap_or_default();
            if subnet_matches(s, k)? || subnet_matches(k, s)? {
                return Err(
                    "multiple overlapping subnet configuration is not supported".to_string()
                );
            }
        }
        pools.push(IpamConfig {
            subnet: Some(s.clone()),
            ..IpamConfig::default()
        });
    }
    for r in &ranges {
        let mut matched = false;
        for p in pools.iter_mut() {
            parse_cidr(r)?;
            if !subnet_matches(p.subnet.as_deref().unwrap_or_default(), r)? {
                continue;
            }
            if let Some(existing) = &p.ip_range {
                return Err(format!(
                    "cannot configure multiple ranges ({r}, {existing}) on the same subnet ({})",
                    p.subnet.as_deref().unwrap_or_default()
                ));
            }
            p.ip_range = Some(r.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for range {r}"));
        }
    }
    for g in &gateways {
        let mut matched = false;
        for p in pools.iter_mut() {
            if !subnet_matches(p.subnet.as_deref().unwrap_or_default(), g)? {
                continue;
            }
            if let Some(existing) = &p.gateway {
                return Err(format!(
                    "cannot configure multiple gateways ({g}, {existing}) for the same subnet ({})",
                    p.subnet.as_deref().unwrap_or_default()
                ));
            }
            p.gateway = Some(g.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for gateway {g}"));
        }
    }
    for (key, aa) in kv_map(&args.aux_address) {
        let mut matched = false;
        for p in pools.iter_mut() {
            if !subnet_matches(p.subnet.as_deref().unwrap_or_default(), &aa)? {
                continue;
            }
            p.auxiliary_addresses
                .get_or_insert_with(HashMap::new)
                .insert(key.clone(), aa.clone());
            matched = true;
        }
        if !matched {
            return Err(format!("no matching subnet for aux-address {aa}"));
        }
    }
    Ok(Ipam {
        driver: Some(args.ipam_driver.clone()),
        config: Some(pools),
        options: Some(kv_map(&args.ipam_opt)),
    })
}

/// The body of `POST /networks/create`: Docker's client asks API 1.41
/// daemons to refuse a duplicate name (`CheckDuplicate`).
#[derive(Debug, Serialize)]
struct CreateBody {
    #[serde(flatten)]
    request: NetworkCreateRequest,
    #[serde(rename = "CheckDuplicate")]
    check_duplicate: bool,
}

/// `berth network create`: prints the new network's ID.
pub async fn create(ctx: &Ctx, args: CreateArgs) -> Result<(), CliError> {
    let ipam = ipam_config(&args).map_err(CliError::usage)?;
    let labels = labels_map(&args.label)?;
    let request = NetworkCreateRequest {
        name: args.name.clone(),
        driver: Some(args.driver.clone()),
        scope: args.scope.clone(),
        internal: Some(args.internal),
        attachable: Some(args.attachable),
        ingress: Some(false),
        config_only: Some(false),
        ipam: Some(ipam),
        enable_ipv6: args.ipv6,
        options: Some(kv_map(&args.opt)),
        labels: Some(labels),
        ..NetworkCreateRequest::default()
    };
    let body = CreateBody {
        request,
        check_duplicate: true,
    };
    let resp: NetworkCreateResponse = ctx
        .client
        .json(Method::POST, "/networks/create", json_body(&body))
        .await?;
    if !resp.warning.is_empty() {
        eprintln!("WARNING: {}", resp.warning);
    }
    print_out(&format!("{}\n", resp.id));
    Ok(())
}

// ---------------------------------------------------------------- ls

/// `berth network ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Provide filter values (e.g. "driver=bridge")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template
    #[arg(long, value_name = "string")]
    format: Option<String>,
    /// Do not truncate the output
    #[arg(long = "no-trunc")]
    no_trunc: bool,
    /// Only display network IDs
    #[arg(short = 'q', long)]
    quiet: bool,
}

const NETWORK_TABLE: &str = "{{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}";

const NETWORK_HEADERS: &[(&str, &str)] = &[
    ("ID", "NETWORK ID"),
    ("Name", "NAME"),
    ("Driver", "DRIVER"),
    ("Scope", "SCOPE"),
    ("IPv4", "IPV4"),
    ("IPv6", "IPV6"),
    ("Internal", "INTERNAL"),
    ("Labels", "LABELS"),
    ("CreatedAt", "CREATED AT"),
];

/// Docker's network `NewFormat`: keywords, `-q` and `raw`.
fn ls_format(format: Option<&str>, quiet: bool) -> FormatSpec {
    match format.map(str::trim).unwrap_or("table") {
        "table" | "" if quiet => FormatSpec::parse("{{.ID}}", ""),
        "raw" if quiet => FormatSpec::parse("network_id: {{.ID}}", ""),
        "raw" => FormatSpec::parse(
            "network_id: {{.ID}}\\nname: {{.Name}}\\ndriver: {{.Driver}}\\nscope: {{.Scope}}\\n",
            "",
        ),
        _ => FormatSpec::parse(format.unwrap_or_default(), NETWORK_TABLE),
    }
}

/// Go's `time.Time.String()` of an RFC 3339 timestamp from the API:
/// `2024-01-02 15:04:05.123456789 +0000 UTC` (fraction without trailing zeros).
fn go_time(rfc3339: &str) -> String {
    let Ok(t) = chrono::DateTime::parse_from_rfc3339(rfc3339) else {
        return "0001-01-01 00:00:00 +0000 UTC".to_string();
    };
    let nanos = t.timestamp_subsec_nanos();
    let frac = if nanos == 0 {
        String::new()
    } else {
        format!(".{nanos:09}").trim_end_matches('0').to_string()
    };
    let offset = t.format("%z").to_string();
    let zone = if offset == "+0000" {
        "UTC".to_string()
    } else {
        offset.clone()
    };
    format!("{}{frac} {offset} {zone}", t.format("%Y-%m-%d %H:%M:%S"))
}

/// One row with the fields of Docker's `networkContext`.
fn network_row(n: &Value, trunc: bool) -> Value {
    let s = |k: &str| n.get(k).and_then(Value::as_str).unwrap_or_default();
    let b = |k: &str| {
        n.get(k)
            .and_then(Value::as_bool)
            .unwrap_or(false)
            .to_string()
    };
    let id = if trunc {
        truncate_id(s("Id"))
    } else {
        s("Id").to_string()
    };
    // Go ranges over a map in random order; sorted is one of its orders.
    let labels: Vec<String> = n
        .get("Labels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    json!({
        "ID": id,
        "Name": s("Name"),
        "Driver": s("Driver"),
        "Scope": s("Scope"),
        "IPv4": b("EnableIPv4"),
        "IPv6": b("EnableIPv6"),
        "Internal": b("Internal"),
        "Labels": labels.join(","),
        "CreatedAt": go_time(s("Created")),
    })
}

/// `berth network ls`: networks sorted by name, as Docker lists them.
pub async fn ls(ctx: &Ctx, args: LsArgs) -> Result<(), CliError> {
    let spec = ls_format(args.format.as_deref(), args.quiet);
    Template::parse(&spec.template)?;
    let q = filter_query(&args.filter, "ls", "-f, --filter")?;
    let mut networks: Vec<Value> = ctx.client.get(&format!("/networks{q}")).await?;
    let name = |n: &Value| {
        n.get("Name")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    networks.sort_by(|a, b| natural_cmp(&name(a), &name(b)));
    let rows: Vec<Value> = networks
        .iter()
        .map(|n| network_row(n, !args.no_trunc))
        .collect();
    print_rows(&spec, NETWORK_HEADERS, &rows)
}

// ---------------------------------------------------------------- inspect

/// `berth network inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template: 'json' or a Go template
    #[arg(short = 'f', long, value_name = "string")]
    format: Option<String>,
    /// Verbose output for diagnostics
    #[arg(short = 'v', long)]
    verbose: bool,
    /// The networks to inspect
    #[arg(required = true, value_name = "NETWORK")]
    networks: Vec<String>,
}

/// `berth network inspect`: the daemon's JSON for each network.
pub async fn inspect(ctx: &Ctx, args: InspectArgs) -> Result<(), CliError> {
    let mut inspector = Inspector::new(args.format.as_deref())?;
    let q = if args.verbose { "?verbose=true" } else { "" };
    for name in &args.networks {
        let path = format!("/networks/{}{q}", encode_path(name));
        match ctx.client.bytes(Method::GET, &path, empty()).await {
            Ok(raw) => inspector.add(&path, raw)?,
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(e) => inspector.errors.push(e.to_string()),
        }
    }
    inspector.finish()
}

// ---------------------------------------------------------------- rm

/// `berth network rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not error if the network does not exist
    #[arg(short = 'f', long)]
    force: bool,
    /// The networks to remove
    #[arg(required = true, value_name = "NETWORK")]
    networks: Vec<String>,
}

/// `berth network rm`: one network after the other; failures are printed as
/// they come and the command ends with Docker's `exit status 1`.
pub async fn rm(ctx: &Ctx, args: RmArgs) -> Result<(), CliError> {
    let mut failed = false;
    for name in &args.networks {
        let path = format!("/networks/{}", encode_path(name));
        match ctx.client.bytes(Method::DELETE, &path, empty()).await {
            Ok(_) => print_out(&format!("{name}\n")),
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(e) if args.force && e.is_not_found() => {}
            Err(e) => {
                eprintln!("{e}");
                failed = true;
            }
        }
    }
    if failed {
        return Err(CliError::Status {
            code: 1,
            message: "exit status 1".to_string(),
        });
    }
    Ok(())
}

// ---------------------------------------------------------------- connect / disconnect

/// `berth network connect`.
#[derive(Debug, Args)]
pub struct ConnectArgs {
    /// Add network-scoped alias for the container
    #[arg(long, value_name = "strings")]
    alias: Vec<String>,
    /// driver options for the network
    #[arg(long = "driver-opt", value_name = "strings")]
    driver_opt: Vec<String>,
    /// IPv4 address (e.g., "172.30.100.104")
    #[arg(long, value_name = "string")]
    ip: Option<String>,
    /// IPv6 address (e.g., "2001:db8::33")
    #[arg(long, value_name = "string")]
    ip6: Option<String>,
    /// Add link to another container
    #[arg(long, value_name = "list")]
    link: Vec<String>,
    /// Add a link-local address for the container
    #[arg(long = "link-local-ip", value_name = "strings")]
    link_local_ip: Vec<String>,
    /// The network
    #[arg(value_name = "NETWORK")]
    network: String,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// Docker's `convertDriverOpt`.
fn driver_opts(values: &[String]) -> Result<HashMap<String, String>, CliError> {
    let mut map = HashMap::new();
    for o in slice_values(values) {
        match o.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => {
                map.insert(k.trim().to_string(), v.trim().to_string());
            }
            _ => {
                return Err(CliError::usage(
                    "invalid key/value pair format in driver options",
                ));
            }
        }
    }
    Ok(map)
}

/// The body of `POST /networks/{id}/connect` for these flags.
fn connect_body(args: &ConnectArgs) -> Result<NetworkConnectRequest, CliError> {
    let nonempty = |v: Vec<String>| (!v.is_empty()).then_some(v);
    Ok(NetworkConnectRequest {
        container: Some(args.container.clone()),
        endpoint_config: Some(EndpointSettings {
            // Docker omits empty addresses (`omitempty`) but always sends the object.
            ipam_config: Some(EndpointIpamConfig {
                ipv4_address: args.ip.clone().filter(|ip| !ip.is_empty()),
                ipv6_address: args.ip6.clone().filter(|ip| !ip.is_empty()),
                link_local_ips: nonempty(slice_values(&args.link_local_ip)),
            }),
            links: nonempty(args.link.clone()),
            aliases: nonempty(slice_values(&args.alias)),
            driver_opts: Some(driver_opts(&args.driver_opt)?),
            ..EndpointSettings::default()
        }),
    })
}

/// `berth network connect`.
pub async fn connect(ctx: &Ctx, args: ConnectArgs) -> Result<(), CliError> {
    let body = connect_body(&args)?;
    let path = format!("/networks/{}/connect", encode_path(&args.network));
    ctx.client
        .bytes(Method::POST, &path, json_body(&body))
        .await?;
    Ok(())
}

/// `berth network disconnect`.
#[derive(Debug, Args)]
pub struct DisconnectArgs {
    /// Force the container to disconnect from a network
    #[arg(short = 'f', long)]
    force: bool,
    /// The network
    #[arg(value_name = "NETWORK")]
    network: String,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// `berth network disconnect`.
pub async fn disconnect(ctx: &Ctx, args: DisconnectArgs) -> Result<(), CliError> {
    let body = NetworkDisconnectRequest {
        container: Some(args.container.clone()),
        force: Some(args.force),
    };
    let path = format!("/networks/{}/disconnect", encode_path(&args.network));
    ctx.client
        .bytes(Method::POST, &path, json_body(&body))
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- prune

/// `berth network prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long, value_name = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
}

const PRUNE_WARNING: &str = "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue?";

/// Docker's `prompt.Confirm`: `[y/N]`, only `y`/`Y` on the first line confirms.
fn confirm(message: &str) -> bool {
    print_out(&format!("{message} [y/N] "));
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    line.trim().eq_ignore_ascii_case("y")
}

/// The prune report as Docker prints it: nothing when nothing was removed.
fn prune_output(resp: &NetworkPruneResponse) -> String {
    let deleted = resp.networks_deleted.as_deref().unwrap_or_default();
    if deleted.is_empty() {
        return String::new();
    }
    let mut out = "Deleted Networks:\n".to_string();
    for name in deleted {
        out.push_str(name);
        out.push('\n');
    }
    // Docker prints the report with Fprintln: one more newline.
    out.push('\n');
    out
}

/// `berth network prune`.
pub async fn prune(ctx: &Ctx, args: PruneArgs) -> Result<(), CliError> {
    let q = filter_query(&args.filter, "prune", "--filter")?;
    // Docker treats a "no" as a cancellation: nothing printed, exit 0.
    if !args.force && !confirm(PRUNE_WARNING) {
        return Ok(());
    }
    let path = format!("/networks/prune{q}");
    let resp: NetworkPruneResponse = ctx.client.json(Method::POST, &path, empty()).await?;
    print_out(&prune_output(&resp));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(subcommand)]
        cmd: NetworkCommand,
    }

    fn parse(argv: &[&str]) -> NetworkCommand {
        let mut full = vec!["network"];
        full.extend_from_slice(argv);
        Wrap::try_parse_from(full).unwrap().cmd
    }

    fn create_args(argv: &[&str]) -> CreateArgs {
        match parse(&[&["create"], argv].concat()) {
            NetworkCommand::Create(a) => a,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn natural_order_like_sortorder() {
        let mut v = vec![
            "net10", "net2", "bridge", "net02", "a", "host", "none", "80", "443",
        ];
        v.sort_by(|a, b| natural_cmp(a, b));
        assert_eq!(
            v,
            vec![
                "80", "443", "a", "bridge", "host", "net2", "net02", "net10", "none"
            ]
        );
        assert_eq!(natural_cmp("x", "x"), Ordering::Equal);
        assert_eq!(natural_cmp("x", "x1"), Ordering::Less);
    }

    #[test]
    fn create_builds_docker_ipam() {
        let a = create_args(&[
            "--subnet",
            "10.201.0.0/16",
            "--gateway",
            "10.201.0.254",
            "--ip-range",
            "10.201.5.0/24",
            "--aux-address",
            "host1=10.201.0.5",
            "--label",
            "berth.test=1",
            "--label",
            "bare",
            "-o",
            "com.docker.network.bridge.name=berth-x",
            "--internal",
            "berth-net",
        ]);
        assert_eq!(a.driver, "bridge");
        let ipam = ipam_config(&a).unwrap();
        let v = serde_json::to_value(&ipam).unwrap();
        assert_eq!(
            v,
            json!({
                "Driver": "default",
                "Options": {},
                "Config": [{
                    "Subnet": "10.201.0.0/16",
                    "IPRange": "10.201.5.0/24",
                    "Gateway": "10.201.0.254",
                    "AuxiliaryAddresses": {"host1": "10.201.0.5"}
                }]
            })
        );
        assert_eq!(
            labels_map(&a.label).unwrap(),
            HashMap::from([
                ("berth.test".to_string(), "1".to_string()),
                ("bare".to_string(), String::new())
            ])
        );
        assert!(a.internal);
        let err = |argv: &[&str]| ipam_config(&create_args(argv)).unwrap_err();
        assert_eq!(
            err(&["--gateway", "10.0.0.1", "n"]),
            "every ip-range or gateway must have a corresponding subnet"
        );
        assert_eq!(
            err(&["--subnet", "10.0.0.0/8", "--subnet", "10.1.0.0/16", "n"]),
            "multiple overlapping subnet configuration is not supported"
        );
        assert_eq!(
            err(&["--subnet", "10.0.0.0/8", "--gateway", "11.0.0.1", "n"]),
            "no matching subnet for gateway 11.0.0.1"
        );
        assert_eq!(
            err(&["--subnet", "10.0.0.0/8", "--subnet", "10.0.0.0/33", "n"]),
            "invalid subnet: invalid CIDR address: 10.0.0.0/33"
        );
        let bad = labels_map(&["=x".to_string()]).unwrap_err();
        assert_eq!(bad.exit_code(), 125);
        assert!(
            bad.to_string().starts_with(
                "invalid argument \"=x\" for \"--label\" flag: invalid label '=x': empty name\n\nUsage:  berth network create [OPTIONS] NETWORK"
            ),
            "{bad}"
        );
        let bad = filter_query(&["nope".to_string()], "ls", "-f, --filter").unwrap_err();
        assert_eq!(bad.exit_code(), 125);
        assert!(
            bad.to_string().starts_with("invalid argument \"nope\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\n\nUsage:  berth network ls [OPTIONS]"),
            "{bad}"
        );
        assert!(
            filter_query(&["driver=bridge".to_string()], "ls", "-f, --filter")
                .unwrap()
                .starts_with("?filters=")
        );
        // No --subnet: an empty pool list, as Docker sends it.
        let v = serde_json::to_value(ipam_config(&create_args(&["n"])).unwrap()).unwrap();
        assert_eq!(v["Config"], json!([]));
    }

    #[test]
    fn ls_rows_and_formats() {
        let n = json!({
            "Name": "bridge",
            "Id": "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "Created": "2026-11-22T03:12:57.120000000Z",
            "Scope": "local",
            "Driver": "bridge",
            "EnableIPv6": false,
            "Internal": false,
            "Labels": {"b": "2", "a": "1"}
        });
        let row = network_row(&n, true);
        assert_eq!(row["ID"], "0123456789ab");
        assert_eq!(row["Labels"], "a=1,b=2");
        assert_eq!(row["IPv4"], "false");
        assert_eq!(row["CreatedAt"], "2026-11-22 03:12:57.12 +0000 UTC");
        let out = crate::table::render(
            &ls_format(None, false),
            NETWORK_HEADERS,
            std::slice::from_ref(&row),
        )
        .unwrap();
        assert_eq!(
            out,
            "NETWORK ID     NAME      DRIVER    SCOPE\n0123456789ab   bridge    bridge    local\n"
        );
        let q = crate::table::render(
            &ls_format(None, true),
            NETWORK_HEADERS,
            std::slice::from_ref(&row),
        )
        .unwrap();
        assert_eq!(q, "0123456789ab\n");
        let raw =
            crate::table::render(&ls_format(Some("raw"), false), NETWORK_HEADERS, &[row]).unwrap();
        assert_eq!(
            raw,
            "network_id: 0123456789ab\nname: bridge\ndriver: bridge\nscope: local\n\n"
        );
        assert_eq!(
            go_time("2026-11-22T03:12:57Z"),
            "2026-11-22 03:12:57 +0000 UTC"
        );
    }

    #[test]
    fn connect_sends_docker_endpoint_config() {
        let NetworkCommand::Connect(a) = parse(&[
            "connect",
            "--alias",
            "a,b",
            "--ip",
            "10.1.0.5",
            "berth-net",
            "c1",
        ]) else {
            panic!("not connect")
        };
        let v = serde_json::to_value(connect_body(&a).unwrap()).unwrap();
        assert_eq!(
            v,
            json!({
                "Container": "c1",
                "EndpointConfig": {
                    "IPAMConfig": {"IPv4Address": "10.1.0.5"},
                    "Aliases": ["a", "b"],
                    "DriverOpts": {}
                }
            })
        );
        assert!(driver_opts(&["=x".to_string()]).is_err());
    }

    #[test]
    fn prune_report_like_docker() {
        assert_eq!(prune_output(&NetworkPruneResponse::default()), "");
        let r = NetworkPruneResponse {
            networks_deleted: Some(vec!["berth-a".into(), "berth-b".into()]),
        };
        assert_eq!(prune_output(&r), "Deleted Networks:\nberth-a\nberth-b\n\n");
    }
}
