//! Links, addresses and routes through rtnetlink (the `rtnetlink` crate on
//! tokio): the bridge, a veth pair per endpoint, and the container side of
//! the pair configured from inside its network namespace.
//!
//! A netlink socket acts on the network namespace it was created in. Host
//! operations use a [`Netlink`] made on the daemon's runtime; operations
//! inside a container namespace go through [`in_netns`], which opens a
//! socket on a throw-away thread that has joined the namespace.

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::Path;

use futures_util::TryStreamExt;
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::packet_route::address::AddressAttribute;
use rtnetlink::packet_route::link::{
    InfoData, InfoKind, InfoVeth, LinkAttribute, LinkInfo, LinkMessage,
};
use rtnetlink::packet_route::route::{RouteAddress, RouteAttribute, RouteMessage};
use rtnetlink::{
    Handle, LinkBridge, LinkMessageBuilder, LinkUnspec, LinkVeth, RouteMessageBuilder,
};

use super::ipam::Ipv4Net;
use super::netns::{self, NetnsError};
use crate::api::ErrorClass;

/// A link, address or route operation failed.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// The kernel refused a netlink request.
    #[error("{op}: {source}")]
    Netlink {
        /// What was being done, with the names involved.
        op: String,
        /// The errno the kernel answered with.
        #[source]
        source: io::Error,
    },
    /// A link that must exist does not.
    #[error("link not found: {0}")]
    NotFound(String),
    /// A link exists with the name but is of another kind.
    #[error("link {name} exists and is not a {kind}")]
    WrongKind {
        /// The link name.
        name: String,
        /// The expected kind.
        kind: &'static str,
    },
    /// The network namespace could not be entered.
    #[error(transparent)]
    Netns(#[from] NetnsError),
}

impl LinkError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> ErrorClass {
        match self {
            LinkError::NotFound(_) => ErrorClass::NotFound,
            LinkError::WrongKind { .. } => ErrorClass::Conflict,
            LinkError::Netns(e) => e.class(),
            LinkError::Netlink { source, .. } if source.raw_os_error() == Some(libc::EEXIST) => {
                ErrorClass::Conflict
            }
            LinkError::Netlink { .. } => ErrorClass::Internal,
        }
    }

    /// The errno of a refused request, if that is what failed.
    pub fn errno(&self) -> Option<i32> {
        match self {
            LinkError::Netlink { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

fn nl_err(op: impl Into<String>) -> impl FnOnce(rtnetlink::Error) -> LinkError {
    move |e| LinkError::Netlink {
        op: op.into(),
        source: match e {
            rtnetlink::Error::NetlinkError(m) => m.to_io(),
            other => io::Error::other(other.to_string()),
        },
    }
}

fn is_errno(e: &rtnetlink::Error, errno: i32) -> bool {
    matches!(e, rtnetlink::Error::NetlinkError(m) if m.raw_code() == -errno)
}

/// An IPv4 route or address of the host, for the "subnet does not clash"
/// check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostNet {
    /// The destination prefix (routes) or the address with its prefix.
    pub net: Ipv4Net,
    /// Index of the link the route or address is on, when it has one.
    pub link: Option<u32>,
}

/// The container side of a veth pair, as [`Netlink::add_endpoint`] sets it up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The host end's name (`veth` + 7 hex digits, see [`veth_name`]).
    pub host_ifname: String,
    /// The bridge the host end joins.
    pub bridge: String,
    /// The interface name inside the namespace, `eth0` for the first network.
    pub ifname: String,
    /// The container side's MAC address.
    pub mac: [u8; 6],
    /// The container's address with the network's prefix length.
    pub address: Ipv4Net,
    /// The default gateway, `None` for an internal network or a second one.
    pub gateway: Option<Ipv4Addr>,
    /// MTU of both ends; `None` keeps the kernel default (1500).
    pub mtu: Option<u32>,
}

/// A handle on rtnetlink in the network namespace of the thread that
/// connected. Cheap to clone; all clones share one socket.
#[derive(Clone, Debug)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Opens a netlink socket in the calling thread's network namespace and
    /// spawns its connection task on the current tokio runtime (so this must
    /// be called from within one).
    pub fn connect() -> Result<Netlink, LinkError> {
        let (conn, handle, _) =
            rtnetlink::new_connection().map_err(|source| LinkError::Netlink {
                op: "open rtnetlink socket".to_string(),
                source,
            })?;
        tokio::spawn(conn);
        Ok(Netlink { handle })
    }

    /// The link called `name`, if any.
    pub async fn link(&self, name: &str) -> Result<Option<LinkMessage>, LinkError> {
        let mut links = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute();
        match links.try_next().await {
            Ok(link) => Ok(link),
            Err(e) if is_errno(&e, libc::ENODEV) => Ok(None),
            Err(e) => Err(nl_err(format!("get link {name}"))(e)),
        }
    }

    /// The index of the link called `name`, if any.
    pub async fn link_index(&self, name: &str) -> Result<Option<u32>, LinkError> {
        Ok(self.link(name).await?.map(|l| l.header.index))
    }

    /// Names of every link whose name starts with `prefix`.
    pub async fn link_names(&self, prefix: &str) -> Result<Vec<String>, LinkError> {
        let mut out = Vec::new();
        let mut links = self.handle.link().get().execute();
        while let Some(link) = links.try_next().await.map_err(nl_err("list links"))? {
            if let Some(name) = link_name(&link)
                && name.starts_with(prefix)
            {
                out.push(name);
            }
        }
        Ok(out)
    }

    /// Makes sure bridge `name` exists, has `address` (the gateway with the
    /// subnet's prefix length) and is up; creates it if missing. Idempotent;
    /// other addresses on an existing bridge are left alone. Returns the
    /// bridge's index.
    pub async fn ensure_bridge(
        &self,
        name: &str,
        address: Ipv4Net,
        mtu: Option<u32>,
    ) -> Result<u32, LinkError> {
        let index = match self.link(name).await? {
            Some(link) => {
                if link_kind(&link).as_ref() != Some(&InfoKind::Bridge) {
                    return Err(LinkError::WrongKind {
                        name: name.to_string(),
                        kind: "bridge",
                    });
                }
                link.header.index
            }
            None => {
                let mut msg = LinkBridge::new(name);
                if let Some(mtu) = mtu {
                    msg = msg.mtu(mtu);
                }
                match self.handle.link().add(msg.build()).execute().await {
                    // Another daemon may have raced us to it: fine.
                    Err(e) if !is_errno(&e, libc::EEXIST) => {
                        return Err(nl_err(format!("create bridge {name}"))(e));
                    }
                    _ => {}
                }
                self.link_index(name)
                    .await?
                    .ok_or_else(|| LinkError::NotFound(name.to_string()))?
            }
        };
        self.ensure_address(index, name, address).await?;
        self.set_up(index, name).await?;
        Ok(index)
    }

    /// Adds `address` to link `index` unless it already has it.
    async fn ensure_address(
        &self,
        index: u32,
        name: &str,
        address: Ipv4Net,
    ) -> Result<(), LinkError> {
        let have = self.addresses_of(index).await?;
        if have.contains(&address) {
            return Ok(());
        }
        match self
            .handle
            .address()
            .add(index, IpAddr::V4(address.addr), address.prefix)
            .execute()
            .await
        {
            Err(e) if !is_errno(&e, libc::EEXIST) => {
                Err(nl_err(format!("add address {address} to {name}"))(e))
            }
            _ => Ok(()),
        }
    }

    async fn set_up(&self, index: u32, name: &str) -> Result<(), LinkError> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(index).up().build())
            .execute()
            .await
            .map_err(nl_err(format!("set {name} up")))
    }

    /// The IPv4 addresses of link `index`.
    pub async fn addresses_of(&self, index: u32) -> Result<Vec<Ipv4Net>, LinkError> {
        Ok(self
            .ipv4_addresses()
            .await?
            .into_iter()
            .filter(|h| h.link == Some(index))
            .map(|h| h.net)
            .collect())
    }

    async fn ipv4_addresses(&self) -> Result<Vec<HostNet>, LinkError> {
        let mut out = Vec::new();
        let mut addrs = self.handle.address().get().execute();
        while let Some(msg) = addrs.try_next().await.map_err(nl_err("list addresses"))? {
            let local = msg.attributes.iter().find_map(|a| match a {
                AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
                _ => None,
            });
            let addr = local.or_else(|| {
                msg.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                    _ => None,
                })
            });
            if let Some(addr) = addr
                && let Some(net) = Ipv4Net::new(addr, msg.header.prefix_len)
            {
                out.push(HostNet {
                    net,
                    link: Some(msg.header.index),
                });
            }
        }
        Ok(out)
    }

    /// Every IPv4 address and route of this namespace (all tables), for the
    /// check that a new subnet clashes with nothing. Default routes come back
    /// as `0.0.0.0/0`; callers ignore them.
    pub async fn host_networks(&self) -> Result<Vec<HostNet>, LinkError> {
        let mut out = self.ipv4_addresses().await?;
        let mut routes = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().table_id(0).build())
            .execute();
        while let Some(msg) = routes.try_next().await.map_err(nl_err("list routes"))? {
            if let Some(net) = route_destination(&msg) {
                let link = msg.attributes.iter().find_map(|a| match a {
                    RouteAttribute::Oif(i) => Some(*i),
                    _ => None,
                });
                out.push(HostNet { net, link });
            }
        }
        Ok(out)
    }

    /// Deletes link `name`; `Ok(false)` if there was none. Deleting one end
    /// of a veth pair deletes both; deleting a bridge detaches its ports.
    pub async fn delete_link(&self, name: &str) -> Result<bool, LinkError> {
        let Some(index) = self.link_index(name).await? else {
            return Ok(false);
        };
        match self.handle.link().del(index).execute().await {
            Ok(()) => Ok(true),
            Err(e) if is_errno(&e, libc::ENODEV) => Ok(false),
            Err(e) => Err(nl_err(format!("delete link {name}"))(e)),
        }
    }

    /// Creates the veth pair of `ep` with its container end created directly
    /// inside the namespace `netns` under its final name and MAC (so no
    /// temporary name can clash in the host namespace), attaches the host end
    /// to the bridge and brings it up. The container side is configured by
    /// [`configure_endpoint`]. On failure nothing is left on the host.
    pub async fn add_endpoint(
        &self,
        ep: &Endpoint,
        netns: BorrowedFd<'_>,
    ) -> Result<(), LinkError> {
        let bridge = self
            .link_index(&ep.bridge)
            .await?
            .ok_or_else(|| LinkError::NotFound(ep.bridge.clone()))?;
        let mut peer = LinkMessageBuilder::<LinkUnspec>::new()
            .name(ep.ifname.clone())
            .address(ep.mac.to_vec())
            .setns_by_fd(netns.as_raw_fd());
        let mut host = LinkVeth::new(&ep.host_ifname, &ep.ifname);
        if let Some(mtu) = ep.mtu {
            peer = peer.mtu(mtu);
            host = host.mtu(mtu);
        }
        let mut msg = host.build();
        let mut peer = Some(peer.build());
        for attr in &mut msg.attributes {
            if let LinkAttribute::LinkInfo(infos) = attr {
                for info in infos {
                    if let LinkInfo::Data(InfoData::Veth(v)) = info
                        && let Some(peer) = peer.take()
                    {
                        *v = InfoVeth::Peer(peer);
                    }
                }
            }
        }
        self.handle
            .link()
            .add(msg)
            .execute()
            .await
            .map_err(nl_err(format!(
                "create veth pair {} / {}",
                ep.host_ifname, ep.ifname
            )))?;
        let attach = async {
            let index = self
                .link_index(&ep.host_ifname)
                .await?
                .ok_or_else(|| LinkError::NotFound(ep.host_ifname.clone()))?;
            self.handle
                .link()
                .set(
                    LinkUnspec::new_with_index(index)
                        .controller(bridge)
                        .up()
                        .build(),
                )
                .execute()
                .await
                .map_err(nl_err(format!(
                    "attach {} to {}",
                    ep.host_ifname, ep.bridge
                )))
        };
        if let Err(e) = attach.await {
            // Best effort: the attach error is the one worth reporting.
            let _ = self.delete_link(&ep.host_ifname).await;
            return Err(e);
        }
        Ok(())
    }

    /// Inside the endpoint's namespace: address, up, default route.
    async fn configure_inside(&self, ep: &Endpoint) -> Result<(), LinkError> {
        let index = self
            .link_index(&ep.ifname)
            .await?
            .ok_or_else(|| LinkError::NotFound(ep.ifname.clone()))?;
        self.ensure_address(index, &ep.ifname, ep.address).await?;
        self.set_up(index, &ep.ifname).await?;
        if let Some(gw) = ep.gateway {
            let route = RouteMessageBuilder::<Ipv4Addr>::new()
                .output_interface(index)
                .gateway(gw)
                .build();
            match self.handle.route().add(route).execute().await {
                Err(e) if !is_errno(&e, libc::EEXIST) => {
                    return Err(nl_err(format!(
                        "add default route via {gw} on {}",
                        ep.ifname
                    ))(e));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// The name attribute of a link message.
pub fn link_name(link: &LinkMessage) -> Option<String> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::IfName(n) => Some(n.clone()),
        _ => None,
    })
}

fn link_kind(link: &LinkMessage) -> Option<InfoKind> {
    link.attributes.iter().find_map(|a| match a {
        LinkAttribute::LinkInfo(infos) => infos.iter().find_map(|i| match i {
            LinkInfo::Kind(k) => Some(k.clone()),
            _ => None,
        }),
        _ => None,
    })
}

fn route_destination(msg: &RouteMessage) -> Option<Ipv4Net> {
    if msg.header.address_family != AddressFamily::Inet {
        return None;
    }
    let dst = msg
        .attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => Some(*ip),
            _ => None,
        })
        .unwrap_or(Ipv4Addr::UNSPECIFIED);
    Ipv4Net::new(dst, msg.header.destination_prefix_length)
}

/// Runs `f` with a [`Netlink`] bound to the namespace at `netns` on a
/// throw-away thread with its own single-threaded runtime, and waits for it
/// without blocking the caller's runtime.
pub async fn in_netns<T, F, Fut>(netns: &Path, f: F) -> Result<T, LinkError>
where
    T: Send + 'static,
    F: FnOnce(Netlink) -> Fut + Send + 'static,
    Fut: Future<Output = Result<T, LinkError>>,
{
    let path = netns.to_path_buf();
    let run = move || {
        netns::run_in(&path.clone(), move || -> Result<T, LinkError> {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|source| LinkError::Netlink {
                    op: "start runtime for netns".to_string(),
                    source,
                })?;
            rt.block_on(async move { f(Netlink::connect()?).await })
        })?
    };
    tokio::task::spawn_blocking(run)
        .await
        .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// Configures the container side of `ep` from inside `netns`: its address,
/// link up and the default route via the gateway.
pub async fn configure_endpoint(netns: &Path, ep: &Endpoint) -> Result<(), LinkError> {
    let ep = ep.clone();
    in_netns(
        netns,
        move |nl| async move { nl.configure_inside(&ep).await },
    )
    .await
}

/// Docker's MAC for an IPv4 address: `02:42` followed by the four octets.
pub fn mac_from_ip(ip: Ipv4Addr) -> [u8; 6] {
    let o = ip.octets();
    [0x02, 0x42, o[0], o[1], o[2], o[3]]
}

/// `aa:bb:cc:dd:ee:ff`, lower case, as Docker shows MACs.
pub fn format_mac(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Parses `aa:bb:cc:dd:ee:ff` (either case); `None` if malformed.
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut parts = s.split(':');
    for byte in &mut out {
        let p = parts.next()?;
        if p.len() != 2 {
            return None;
        }
        *byte = u8::from_str_radix(p, 16).ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// A fresh host-side veth name: `veth` and 7 random hex digits, like dockerd.
pub fn veth_name() -> String {
    format!("veth{}", &crate::fsutil::random_id()[..7])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_format_and_parse() {
        let mac = mac_from_ip(Ipv4Addr::new(172, 17, 0, 2));
        assert_eq!(format_mac(mac), "02:42:ac:11:00:02");
        assert_eq!(parse_mac("02:42:AC:11:00:02"), Some(mac));
        for bad in [
            "02:42:ac:11:00",
            "02:42:ac:11:00:02:03",
            "2:42:ac:11:00:02",
            "zz:42:ac:11:00:02",
        ] {
            assert_eq!(parse_mac(bad), None, "{bad}");
        }
    }

    #[test]
    fn veth_names_fit_ifnamsiz() {
        let (a, b) = (veth_name(), veth_name());
        assert_eq!(a.len(), 11);
        assert!(a.starts_with("veth"));
        assert_ne!(a, b);
    }
}
