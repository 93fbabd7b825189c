//! The kernel side of networks: bridges and firewall rules per network,
//! and per container a named netns, a veth pair and an IPAM lease per
//! network, published ports (a host port reservation plus a DNAT rule) and
//! the embedded DNS resolver. Setup records the [`Sandbox`] before it makes
//! anything, so a failure half-way, a stop, or a daemon restart tears down
//! exactly what exists.

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::os::fd::AsFd;
use std::sync::Arc;

use berth::api::models::EndpointSettings;
use berth::fsutil::random_id;
use berth::network::ipam::{Ipam, Ipv4Net};
use berth::network::link::{self, Netlink};
use berth::network::nft::{NetworkRules, PortRule};
use berth::network::ports::{self, PortBinding, PortReservation, Protocol};
use berth::network::{netns, sysctl};

use super::dns::{self, DnsServer};
use super::sandbox::{EndpointState, PublishedPort, SANDBOX_VERSION, Sandbox};
use super::{Driver, EndpointView, NetworkError, NetworkRecord, NetworkService};

/// What a running container holds only while the daemon runs.
#[derive(Debug, Default)]
pub(super) struct Live {
    /// Kept for its drop, which stops the resolver.
    dns: Option<DnsServer>,
    /// Kept for their drop, which frees the host ports.
    reservations: Vec<PortReservation>,
}

/// What a container start asks of the network service.
#[derive(Debug, Clone, Default)]
pub struct SetupRequest {
    /// The container.
    pub container_id: String,
    /// Its name, without `/`.
    pub container_name: String,
    /// The networks to join, in order (the first gets `eth0` and the
    /// default route), with the endpoint settings asked for.
    pub networks: Vec<(NetworkRecord, EndpointSettings)>,
    /// `HostConfig.PortBindings` (with `-P`, every exposed port added with
    /// an empty binding), `80/tcp` → `[(host ip, host port)]`.
    pub port_bindings: BTreeMap<String, Vec<(String, String)>>,
    /// Exposed ports without a binding, for inspect.
    pub exposed: Vec<String>,
    /// `Config.MacAddress` for the first endpoint.
    pub mac: Option<String>,
    /// `HostConfig.Dns`: where the embedded resolver forwards.
    pub dns: Vec<String>,
}

/// A kernel step's failure, with its own message.
fn kernel(e: impl std::fmt::Display) -> NetworkError {
    NetworkError::Kernel(e.to_string())
}

impl NetworkService {
    fn nl(&self) -> Result<&Netlink, NetworkError> {
        self.netlink
            .get()
            .ok_or_else(|| NetworkError::Kernel("networking is not initialised".into()))
    }

    /// Keeps `nl` (rtnetlink in the host's namespace) and brings every bridge network up (bridge,
    /// address, `route_localnet`, firewall rules); turns on forwarding.
    /// Kernel objects that already exist are kept.
    pub async fn init_kernel(&self, nl: Netlink) -> Result<(), NetworkError> {
        let _ = self.netlink.set(nl);
        if self.config.ip_forward {
            sysctl::enable_ip_forward().map_err(kernel)?;
        }
        // The kernel still has the previous daemon's table. Every change
        // rewrites it whole, so the recorded port rules go in first: the
        // published ports of running containers keep working while the
        // containers are adopted (adoption then drops the dead ones).
        if let Some(fw) = self.firewall.lock().expect("firewall lock").as_mut() {
            for sb in self.sandbox_store.load()? {
                let rules = port_rules(&sb);
                if !rules.is_empty() {
                    fw.set_ports(&sb.container_id, rules).map_err(kernel)?;
                }
            }
        }
        for net in self.all() {
            if net.driver == Driver::Bridge {
                self.ensure_network(&net).await?;
            }
        }
        let table = self
            .firewall
            .lock()
            .expect("firewall lock")
            .as_ref()
            .map(|fw| fw.table().to_owned());
        if let Some(table) = table
            && berth::network::nft::foreign_forward_drop(&table).unwrap_or(false)
        {
            tracing::warn!(
                bridge = %self.config.bridge,
                "another firewall drops forwarded traffic by default: containers cannot reach \
                 other hosts until it accepts the bridges (e.g. iptables -I FORWARD -i {0} -j ACCEPT; \
                 iptables -I FORWARD -o {0} -j ACCEPT)",
                self.config.bridge
            );
        }
        Ok(())
    }

    /// The subnets the host routes or holds addresses in, for picking new
    /// subnets that clash with nothing.
    pub async fn host_networks(&self) -> Vec<Ipv4Net> {
        match self.nl() {
            Ok(nl) => match nl.host_networks().await {
                Ok(v) => v.into_iter().map(|h| h.net).collect(),
                Err(e) => {
                    tracing::warn!(error = %e, "listing host routes");
                    Vec::new()
                }
            },
            Err(_) => Vec::new(),
        }
    }

    /// Creates the bridge of `net` if needed and sets its firewall rules.
    pub async fn ensure_network(&self, net: &NetworkRecord) -> Result<(), NetworkError> {
        let Some(addr) = net.bridge_address() else {
            return Ok(());
        };
        self.nl()?
            .ensure_bridge(&net.bridge, addr, None)
            .await
            .map_err(kernel)?;
        if let Err(e) = sysctl::enable_route_localnet(&net.bridge) {
            tracing::warn!(bridge = %net.bridge, error = %e, "published ports on 127.0.0.1 will not work");
        }
        if let Some(fw) = self.firewall.lock().expect("firewall lock").as_mut() {
            let rules = NetworkRules {
                bridge: net.bridge.clone(),
                subnet: addr.network(),
                internal: net.internal,
            };
            let mut applied = self.net_rules.lock().expect("rules lock");
            // Unchanged rules are not applied again at every container start.
            if applied.get(&net.bridge) != Some(&rules) {
                fw.set_network(rules.clone()).map_err(kernel)?;
                applied.insert(net.bridge.clone(), rules);
            }
        }
        Ok(())
    }

    /// Deletes the bridge and rules of a user network (its record stays to
    /// the caller).
    pub async fn remove_network_kernel(&self, net: &NetworkRecord) -> Result<(), NetworkError> {
        let mut failures = Vec::new();
        if let Some(fw) = self.firewall.lock().expect("firewall lock").as_mut() {
            self.net_rules
                .lock()
                .expect("rules lock")
                .remove(&net.bridge);
            if let Err(e) = fw.remove_network(&net.bridge) {
                failures.push(e.to_string());
            }
        }
        if let Err(e) = self.nl()?.delete_link(&net.bridge).await {
            failures.push(e.to_string());
        }
        let pool = self.ipam_dir.join(format!("{}.json", net.id));
        match std::fs::remove_file(&pool) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                failures.push(format!("{}: {e}", pool.display()));
            }
            _ => {}
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(NetworkError::Kernel(failures.join("; ")))
        }
    }

    /// The sandbox of a running container, if it has one.
    pub fn sandbox(&self, container_id: &str) -> Option<Sandbox> {
        self.sandboxes
            .read()
            .expect("sandbox lock")
            .get(container_id)
            .cloned()
    }

    /// The running containers on network `id`.
    pub fn endpoints(&self, id: &str) -> Vec<EndpointView> {
        let sbs = self.sandboxes.read().expect("sandbox lock");
        let mut out: Vec<EndpointView> = sbs
            .values()
            .flat_map(|sb| {
                sb.endpoints
                    .iter()
                    .filter(|e| e.network_id == id)
                    .map(|e| EndpointView {
                        container_id: sb.container_id.clone(),
                        container_name: sb.container_name.clone(),
                        endpoint_id: e.endpoint_id.clone(),
                        mac: e.mac.clone(),
                        address: e.address,
                    })
            })
            .collect();
        out.sort_by(|a, b| a.container_name.cmp(&b.container_name));
        out
    }

    fn save_sandbox(&self, sb: &Sandbox) -> Result<(), NetworkError> {
        self.sandbox_store.save(sb)?;
        self.sandboxes
            .write()
            .expect("sandbox lock")
            .insert(sb.container_id.clone(), sb.clone());
        Ok(())
    }

    /// Records a running container's new name (DNS answers, inspect).
    pub async fn rename(&self, container_id: &str, name: &str) -> Result<(), NetworkError> {
        // Under the lock: a teardown running meanwhile must not see it revived.
        let _guard = self.kernel_lock.lock().await;
        match self.sandbox(container_id) {
            Some(mut sb) => {
                sb.container_name = name.to_owned();
                self.save_sandbox(&sb)
            }
            None => Ok(()),
        }
    }

    /// Builds a container's network: netns, endpoints, published ports,
    /// DNS. On failure everything made so far is torn down again.
    pub async fn setup(&self, req: SetupRequest) -> Result<Sandbox, NetworkError> {
        let _guard = self.kernel_lock.lock().await;
        let id = req.container_id.clone();
        // A sandbox left by a crash before the container ran is stale.
        if let Err(e) = self.teardown_locked(&id).await {
            tracing::warn!(%id, error = %e, "removing a stale network sandbox");
        }
        let netns_path = self.netns_dir.join(&id);
        let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
        let mut sb = Sandbox {
            version: SANDBOX_VERSION,
            container_id: id.clone(),
            run_id: random_id(),
            container_name: req.container_name.clone(),
            netns: netns_path.clone(),
            endpoints: Vec::new(),
            ports: Vec::new(),
            exposed: req.exposed.clone(),
            upstream_dns: berth::runtime::etc::upstream_servers(&host_resolv, &req.dns),
        };
        self.save_sandbox(&sb)?;
        match self.build(&req, &mut sb).await {
            Ok(()) => Ok(sb),
            Err(e) => {
                if let Err(undo) = self.teardown_locked(&id).await {
                    tracing::error!(%id, error = %undo, "undoing a failed network setup");
                }
                Err(e)
            }
        }
    }

    async fn build(&self, req: &SetupRequest, sb: &mut Sandbox) -> Result<(), NetworkError> {
        let path = sb.netns.clone();
        let dir = self.netns_dir.clone();
        tokio::task::spawn_blocking(move || {
            netns::prepare_dir(&dir)?;
            netns::create(&path)
        })
        .await
        .map_err(kernel)?
        .map_err(kernel)?;
        let mut have_route = false;
        for (i, (net, settings)) in req.networks.iter().enumerate() {
            self.ensure_network(net).await?;
            let ep = self
                .add_endpoint(req, sb, i, net, settings, &mut have_route)
                .await?;
            tracing::debug!(id = %sb.container_id, network = %net.name, ip = %ep.address, "endpoint up");
        }
        self.publish(req, sb)?;
        self.save_sandbox(sb)?;
        self.start_dns(sb)?;
        Ok(())
    }

    async fn add_endpoint(
        &self,
        req: &SetupRequest,
        sb: &mut Sandbox,
        index: usize,
        net: &NetworkRecord,
        settings: &EndpointSettings,
        have_route: &mut bool,
    ) -> Result<EndpointState, NetworkError> {
        let (Some(subnet), Some(gateway)) = (net.subnet, net.gateway) else {
            return Err(NetworkError::Invalid(format!(
                "network {} has no subnet",
                net.name
            )));
        };
        let requested = settings
            .ipam_config
            .as_ref()
            .and_then(|c| c.ipv4_address.as_deref())
            .filter(|a| !a.is_empty());
        let ip = {
            let mut ipam = Ipam::open(&self.ipam_dir, &net.id, subnet, Some(gateway))?;
            // `--bip` changed since the pool was made: an empty pool follows it.
            if ipam.pool().subnet != subnet.network() && ipam.pool().leases.is_empty() {
                ipam.delete()?;
                ipam = Ipam::open(&self.ipam_dir, &net.id, subnet, Some(gateway))?;
            }
            match requested {
                Some(a) => {
                    let ip: Ipv4Addr = a
                        .parse()
                        .map_err(|_| NetworkError::Invalid(format!("invalid IPv4 address: {a}")))?;
                    ipam.reserve(ip, &sb.container_id)
                }
                None => ipam.allocate(&sb.container_id),
            }?
        };
        let mac = match (index, req.mac.as_deref().filter(|m| !m.is_empty())) {
            (0, Some(m)) => link::parse_mac(m)
                .ok_or_else(|| NetworkError::Invalid(format!("{m} is not a valid mac address")))?,
            _ => link::mac_from_ip(ip),
        };
        let default_route = !*have_route && !net.internal;
        *have_route |= default_route;
        let state = EndpointState {
            network_id: net.id.clone(),
            network_name: net.name.clone(),
            endpoint_id: random_id(),
            ifname: format!("eth{index}"),
            host_ifname: link::veth_name(),
            bridge: net.bridge.clone(),
            mac: link::format_mac(mac),
            address: Ipv4Net {
                addr: ip,
                prefix: subnet.prefix,
            },
            gateway,
            default_route,
            aliases: settings.aliases.clone().unwrap_or_default(),
            dns: net.has_dns(),
            internal: net.internal,
        };
        // Recorded first: teardown then releases the lease and the veth.
        sb.endpoints.push(state.clone());
        self.save_sandbox(sb)?;
        let ep = link::Endpoint {
            host_ifname: state.host_ifname.clone(),
            bridge: state.bridge.clone(),
            ifname: state.ifname.clone(),
            mac,
            address: state.address,
            gateway: default_route.then_some(gateway),
            mtu: None,
        };
        let ns = netns::open(&sb.netns).map_err(kernel)?;
        self.nl()?
            .add_endpoint(&ep, ns.as_fd())
            .await
            .map_err(kernel)?;
        link::configure_endpoint(&sb.netns, &ep)
            .await
            .map_err(kernel)?;
        Ok(state)
    }

    /// Reserves the host ports and installs the DNAT rules.
    fn publish(&self, req: &SetupRequest, sb: &mut Sandbox) -> Result<(), NetworkError> {
        let Some(target) = sb
            .endpoints
            .iter()
            .find(|e| !e.internal)
            .map(|e| e.address.addr)
        else {
            return Ok(());
        };
        let range = sysctl::local_port_range().unwrap_or((32768, 60999));
        let mut reservations = Vec::new();
        let taken_by_others: Vec<(Ipv4Addr, u16, String)> = self
            .sandboxes
            .read()
            .expect("sandbox lock")
            .values()
            .flat_map(|s| {
                s.ports
                    .iter()
                    .map(|p| (p.host_ip, p.host_port, p.proto.clone()))
            })
            .collect();
        for (key, bindings) in &req.port_bindings {
            let port: ports::Port = key.parse().map_err(kernel)?;
            for (host_ip, host_port) in bindings {
                let binding = PortBinding {
                    host_ip: host_ip.clone(),
                    host_port: host_port.clone(),
                };
                // IPv6 host addresses are not published (IPv4 only).
                let Some(ip) = ports::binding_ip(&binding).map_err(kernel)? else {
                    continue;
                };
                let proto = port.proto.as_str().to_owned();
                let taken = |p: u16| {
                    taken_by_others.iter().any(|(i, hp, pr)| {
                        *hp == p
                            && *pr == proto
                            && (*i == ip || i.is_unspecified() || ip.is_unspecified())
                    })
                };
                let rsv = match ports::host_port_range(&binding).map_err(kernel)? {
                    Some((lo, hi)) if lo == hi => {
                        if taken(lo) {
                            Err(ports::PortError::Allocated { ip, port: lo })
                        } else {
                            ports::reserve(ip, lo, port.proto)
                        }
                    }
                    Some(r) => ports::allocate(ip, port.proto, r, taken),
                    None => ports::allocate(ip, port.proto, range, taken),
                }
                .map_err(|e| {
                    NetworkError::Kernel(format!(
                        "driver failed programming external connectivity on endpoint {} ({}): {e}",
                        sb.container_name,
                        sb.endpoints.first().map_or("", |e| e.endpoint_id.as_str())
                    ))
                })?;
                sb.ports.push(PublishedPort {
                    container_port: port.number,
                    proto,
                    host_ip: ip,
                    host_port: rsv.port,
                    target,
                });
                reservations.push(rsv);
            }
        }
        self.install_port_rules(sb)?;
        self.live
            .lock()
            .expect("live lock")
            .entry(sb.container_id.clone())
            .or_default()
            .reservations = reservations;
        Ok(())
    }

    fn install_port_rules(&self, sb: &Sandbox) -> Result<(), NetworkError> {
        let rules = port_rules(sb);
        if let Some(fw) = self.firewall.lock().expect("firewall lock").as_mut() {
            fw.set_ports(&sb.container_id, rules).map_err(kernel)?;
        }
        Ok(())
    }

    /// Starts the embedded resolver inside the sandbox's netns.
    fn start_dns(&self, sb: &Sandbox) -> Result<(), NetworkError> {
        if !sb.wants_dns() {
            return Ok(());
        }
        let (udp, tcp) = netns::run_in(&sb.netns, || -> std::io::Result<_> {
            let addr = (Ipv4Addr::new(127, 0, 0, 11), dns::DNS_PORT);
            let udp = std::net::UdpSocket::bind(addr)?;
            let tcp = std::net::TcpListener::bind(addr)?;
            udp.set_nonblocking(true)?;
            tcp.set_nonblocking(true)?;
            Ok((udp, tcp))
        })
        .map_err(kernel)?
        .map_err(|e| {
            NetworkError::Kernel(format!("binding the DNS resolver on 127.0.0.11: {e}"))
        })?;
        let networks: Vec<String> = sb
            .endpoints
            .iter()
            .filter(|e| e.dns)
            .map(|e| e.network_id.clone())
            .collect();
        let lookup: dns::Lookup = Arc::new(NetNames {
            table: self.sandboxes.clone(),
            networks,
        });
        let upstream = if sb.endpoints.iter().all(|e| e.internal) {
            Vec::new()
        } else {
            dns::upstream_addrs(&sb.upstream_dns)
        };
        let server = DnsServer::spawn(udp, tcp, lookup, upstream)
            .map_err(|e| NetworkError::Kernel(format!("starting the DNS resolver: {e}")))?;
        self.live
            .lock()
            .expect("live lock")
            .entry(sb.container_id.clone())
            .or_default()
            .dns = Some(server);
        Ok(())
    }

    /// Connects a running container to one more network (`eth<N>`, no
    /// default route) and starts its resolver if the network has names.
    pub async fn attach(
        &self,
        container_id: &str,
        net: &NetworkRecord,
        settings: &EndpointSettings,
    ) -> Result<(), NetworkError> {
        let _guard = self.kernel_lock.lock().await;
        let mut sb = self.sandbox(container_id).ok_or_else(|| {
            NetworkError::Invalid(format!("container {container_id} has no network sandbox"))
        })?;
        self.ensure_network(net).await?;
        let had_dns = sb.wants_dns();
        let index = sb.endpoints.len();
        let mut have_route = sb.endpoints.iter().any(|e| e.default_route);
        let req = SetupRequest::default();
        if let Err(e) = self
            .add_endpoint(&req, &mut sb, index, net, settings, &mut have_route)
            .await
        {
            // Undo the half-made endpoint: the recorded one is the last.
            if let Some(ep) = sb.endpoints.pop() {
                self.release_endpoint(container_id, &ep).await;
                self.save_sandbox(&sb)?;
            }
            return Err(e);
        }
        if !had_dns && sb.wants_dns() {
            self.start_dns(&sb)?;
        }
        Ok(())
    }

    /// Disconnects a running container from network `network_id`.
    pub async fn detach(&self, container_id: &str, network_id: &str) -> Result<(), NetworkError> {
        let _guard = self.kernel_lock.lock().await;
        let Some(mut sb) = self.sandbox(container_id) else {
            return Ok(());
        };
        let Some(pos) = sb.endpoints.iter().position(|e| e.network_id == network_id) else {
            return Ok(());
        };
        let ep = sb.endpoints.remove(pos);
        self.release_endpoint(container_id, &ep).await;
        self.save_sandbox(&sb)
    }

    /// Deletes an endpoint's veth and releases its lease (best-effort).
    async fn release_endpoint(&self, container_id: &str, ep: &EndpointState) {
        if let Ok(nl) = self.nl()
            && let Err(e) = nl.delete_link(&ep.host_ifname).await
        {
            tracing::warn!(veth = %ep.host_ifname, error = %e, "deleting a veth");
        }
        let released = Ipam::open(
            &self.ipam_dir,
            &ep.network_id,
            ep.address.network(),
            Some(ep.gateway),
        )
        .and_then(|mut ipam| ipam.release(ep.address.addr));
        if let Err(e) = released {
            tracing::warn!(id = %container_id, error = %e, "releasing an address");
        }
    }

    /// The run ID of the container's sandbox (in memory or on disk).
    pub fn run_id(&self, container_id: &str) -> Option<String> {
        if let Some(sb) = self.sandbox(container_id) {
            return Some(sb.run_id);
        }
        self.sandbox_store
            .load()
            .ok()?
            .into_iter()
            .find(|s| s.container_id == container_id)
            .map(|s| s.run_id)
    }

    /// Tears down the sandbox of run `run_id` once that run ended; a
    /// sandbox of a later run (the container was started again meanwhile)
    /// is left alone.
    pub async fn teardown_run(&self, container_id: &str, run_id: &str) -> Result<(), NetworkError> {
        let _guard = self.kernel_lock.lock().await;
        match self.run_id(container_id) {
            Some(current) if current == run_id => self.teardown_locked(container_id).await,
            _ => Ok(()),
        }
    }

    /// Undoes a container's network after it stopped: rules, reservations,
    /// resolver, veths, leases, netns. Best-effort; reports every failure.
    pub async fn teardown(&self, container_id: &str) -> Result<(), NetworkError> {
        let _guard = self.kernel_lock.lock().await;
        self.teardown_locked(container_id).await
    }

    async fn teardown_locked(&self, id: &str) -> Result<(), NetworkError> {
        let sb = self.sandboxes.write().expect("sandbox lock").remove(id);
        let sb = match sb {
            Some(sb) => sb,
            None => match self
                .sandbox_store
                .load()?
                .into_iter()
                .find(|s| s.container_id == id)
            {
                Some(sb) => sb,
                None => return Ok(()),
            },
        };
        self.live.lock().expect("live lock").remove(id);
        let mut failures = Vec::new();
        if let Some(fw) = self.firewall.lock().expect("firewall lock").as_mut()
            && let Err(e) = fw.remove_ports(id)
        {
            failures.push(e.to_string());
        }
        for ep in &sb.endpoints {
            if let Ok(nl) = self.nl()
                && let Err(e) = nl.delete_link(&ep.host_ifname).await
            {
                failures.push(e.to_string());
            }
            let pool = self.ipam_dir.join(format!("{}.json", ep.network_id));
            if pool.exists() {
                let subnet = ep.address.network();
                match Ipam::open(&self.ipam_dir, &ep.network_id, subnet, Some(ep.gateway)) {
                    Ok(mut ipam) => {
                        if let Err(e) = ipam.release_owner(id) {
                            failures.push(e.to_string());
                        }
                    }
                    Err(e) => failures.push(e.to_string()),
                }
            }
        }
        let path = sb.netns.clone();
        match tokio::task::spawn_blocking(move || netns::remove(&path)).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => failures.push(e.to_string()),
            Err(e) => failures.push(e.to_string()),
        }
        if let Err(e) = self.sandbox_store.delete(id) {
            failures.push(e.to_string());
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(NetworkError::Kernel(format!(
                "network teardown of container {id}: {}",
                failures.join("; ")
            )))
        }
    }

    /// After a daemon restart: the sandboxes of `running` containers are
    /// kept as the kernel has them (their port reservations, resolver and
    /// firewall state are re-made in this daemon); the others are torn down.
    pub async fn adopt(&self, running: &[String]) {
        let _guard = self.kernel_lock.lock().await;
        let stored = match self.sandbox_store.load() {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(error = %e, "reading network sandboxes");
                return;
            }
        };
        for sb in stored {
            let id = sb.container_id.clone();
            if !running.contains(&id) {
                if let Err(e) = self.teardown_locked(&id).await {
                    tracing::warn!(%id, error = %e, "cleaning up the network of a stopped container");
                }
                continue;
            }
            self.sandboxes
                .write()
                .expect("sandbox lock")
                .insert(id.clone(), sb.clone());
            let reservations: Vec<PortReservation> = sb
                .ports
                .iter()
                .filter_map(|p| {
                    let proto: Protocol = p.proto.parse().ok()?;
                    ports::reserve(p.host_ip, p.host_port, proto)
                        .inspect_err(
                            |e| tracing::warn!(%id, error = %e, "re-reserving a published port"),
                        )
                        .ok()
                })
                .collect();
            self.live
                .lock()
                .expect("live lock")
                .entry(id.clone())
                .or_default()
                .reservations = reservations;
            if let Some(fw) = self.firewall.lock().expect("firewall lock").as_mut() {
                // Re-applies the same rules: the table is rewritten atomically
                // and conntrack keeps established connections.
                if let Err(e) = fw.set_ports(&id, port_rules(&sb)) {
                    tracing::warn!(%id, error = %e, "restoring port rules");
                }
            }
            if let Err(e) = self.start_dns(&sb) {
                tracing::warn!(%id, error = %e, "restarting the embedded DNS");
            }
            tracing::info!(%id, "adopted network sandbox");
        }
    }
}

/// What a container's resolver answers: the containers on its networks
/// with names (user networks), as the sandboxes table has them now.
struct NetNames {
    table: Arc<std::sync::RwLock<std::collections::HashMap<String, Sandbox>>>,
    /// The asking container's networks with names.
    networks: Vec<String>,
}

impl dns::Names for NetNames {
    /// `name`, or (as dockerd) `name.network` limited to that network.
    fn addresses(&self, name: &str) -> Option<Vec<Ipv4Addr>> {
        let sbs = self.table.read().expect("sandbox lock");
        let find = |wanted: &str, network: Option<&str>| -> Vec<Ipv4Addr> {
            sbs.values()
                .flat_map(|s| {
                    self.networks
                        .iter()
                        .filter(|n| {
                            network.is_none_or(|want| {
                                s.endpoints.iter().any(|e| {
                                    &e.network_id == *n && e.network_name.eq_ignore_ascii_case(want)
                                })
                            })
                        })
                        .filter_map(|n| s.names_on(n))
                })
                .filter(|(names, _)| names.iter().any(|n| n.eq_ignore_ascii_case(wanted)))
                .map(|(_, ip)| ip)
                .collect()
        };
        let mut ips = find(name, None);
        let mut rest = name;
        while ips.is_empty()
            && let Some((prefix, _)) = rest.rsplit_once('.')
        {
            ips = find(prefix, Some(&name[prefix.len() + 1..]));
            rest = prefix;
        }
        (!ips.is_empty()).then_some(ips)
    }

    fn name_of(&self, ip: Ipv4Addr) -> Option<String> {
        let sbs = self.table.read().expect("sandbox lock");
        sbs.values().find_map(|s| {
            s.endpoints
                .iter()
                .find(|e| e.address.addr == ip && self.networks.contains(&e.network_id))
                .map(|e| format!("{}.{}", s.container_name, e.network_name))
        })
    }
}

/// The DNAT rules of a sandbox's published ports.
fn port_rules(sb: &Sandbox) -> Vec<PortRule> {
    sb.ports
        .iter()
        .filter_map(|p| {
            Some(PortRule {
                host_ip: (!p.host_ip.is_unspecified()).then_some(p.host_ip),
                host_port: p.host_port,
                proto: p.proto.parse().ok()?,
                container_ip: p.target,
                container_port: p.container_port,
            })
        })
        .collect()
}
