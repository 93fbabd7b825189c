//! Privileged tests of the network kernel adapters: real netns files,
//! bridges, veth pairs and nftables. They must run as root. Everything they
//! create is named `berth*` and removed by Drop guards even when a test fails.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use berth::network::ipam::Ipv4Net;
use berth::network::link::{self, Endpoint, Netlink};
use berth::network::nft::{self, Firewall, NetworkRules, PortRule};
use berth::network::ports::{self, Protocol};
use berth::network::{netns, sysctl};

/// Generous bound for kernel work that completes asynchronously (netns
/// teardown); the tests poll, they do not sleep for a fixed time.
const PATIENCE: Duration = Duration::from_secs(20);

fn require_root() {
    assert!(
        nix::unistd::geteuid().is_root(),
        "network kernel tests need root (netns, links, nftables): run them as root"
    );
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn hex(n: usize) -> String {
    berth::fsutil::random_id()[..n].to_string()
}

/// Everything one test made on the host; Drop removes it in reverse order
/// with `ip`/`nft`/umount so cleanup needs no runtime.
struct Host {
    dir: PathBuf,
    bridge: String,
    table: String,
    netns: Vec<PathBuf>,
    links: Vec<String>,
}

impl Host {
    fn new() -> Host {
        require_root();
        let tag = hex(8);
        let dir = std::env::temp_dir().join(format!("berth-nettest-{tag}"));
        netns::prepare_dir(&dir).unwrap();
        let bridge = format!("berth{tag}");
        Host {
            dir,
            table: nft::table_name(&bridge),
            bridge,
            netns: Vec::new(),
            links: Vec::new(),
        }
    }

    fn netns(&mut self, name: &str) -> PathBuf {
        let p = self.dir.join(format!("berth-{name}"));
        self.netns.push(p.clone());
        netns::create(&p).unwrap();
        p
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        for l in self.links.iter().chain(std::iter::once(&self.bridge)) {
            let _ = Command::new("ip").args(["link", "del", l]).output();
        }
        let _ = nft::delete_table(&self.table);
        for p in &self.netns {
            let _ = netns::remove(p);
        }
        let _ = nix::mount::umount2(&self.dir, nix::mount::MntFlags::MNT_DETACH);
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A random /24 in 10.200.0.0/13 that clashes with no host route or address.
async fn free_subnet(nl: &Netlink) -> Ipv4Net {
    let used: Vec<Ipv4Net> = nl
        .host_networks()
        .await
        .unwrap()
        .into_iter()
        .map(|h| h.net)
        .collect();
    loop {
        let r = u32::from_str_radix(&hex(4), 16).unwrap();
        let candidate = Ipv4Net::new(
            Ipv4Addr::new(10, 200 + (r % 8) as u8, (r >> 8) as u8, 0),
            24,
        )
        .unwrap();
        if berth::network::ipam::choose_subnet(&[candidate], &used).is_ok() {
            return candidate;
        }
    }
}

fn host_addr(net: Ipv4Net, host: u8) -> Ipv4Addr {
    let o = net.addr.octets();
    Ipv4Addr::new(o[0], o[1], o[2], host)
}

/// Bridge + one endpoint (netns with eth0 at .2, default route via .1).
async fn bridge_and_endpoint(h: &mut Host, nl: &Netlink) -> (Ipv4Net, Endpoint, PathBuf) {
    let subnet = free_subnet(nl).await;
    let gw = host_addr(subnet, 1);
    let gw_net = Ipv4Net::new(gw, 24).unwrap();
    let index = nl.ensure_bridge(&h.bridge, gw_net, None).await.unwrap();
    // Idempotent: a second call finds the same bridge and address.
    assert_eq!(
        nl.ensure_bridge(&h.bridge, gw_net, None).await.unwrap(),
        index
    );
    assert_eq!(nl.addresses_of(index).await.unwrap(), vec![gw_net]);

    let ns = h.netns(&hex(8));
    let ip = host_addr(subnet, 2);
    let ep = Endpoint {
        host_ifname: link::veth_name(),
        bridge: h.bridge.clone(),
        ifname: "eth0".to_string(),
        mac: link::mac_from_ip(ip),
        address: Ipv4Net::new(ip, 24).unwrap(),
        gateway: Some(gw),
        mtu: None,
    };
    h.links.push(ep.host_ifname.clone());
    let fd = netns::open(&ns).unwrap();
    use std::os::fd::AsFd;
    nl.add_endpoint(&ep, fd.as_fd()).await.unwrap();
    link::configure_endpoint(&ns, &ep).await.unwrap();
    (subnet, ep, ns)
}

#[test]
fn veth_endpoint_in_a_netns_is_reachable_both_ways() {
    let mut h = Host::new();
    rt().block_on(async {
        let nl = Netlink::connect().unwrap();
        let (subnet, ep, ns) = bridge_and_endpoint(&mut h, &nl).await;
        let ip = ep.address.addr;

        // Inside: eth0 has the MAC and address, lo is up, default route set.
        let inside = link::in_netns(&ns, |nl| async move {
            let eth0 = nl.link("eth0").await?.expect("eth0 in the netns");
            let addrs = nl.addresses_of(eth0.header.index).await?;
            let lo = nl.link("lo").await?.expect("lo");
            let routes = nl.host_networks().await?;
            Ok((eth0, addrs, lo, routes))
        })
        .await
        .unwrap();
        let mac = inside.0.attributes.iter().find_map(|a| match a {
            rtnetlink::packet_route::link::LinkAttribute::Address(m) => Some(m.clone()),
            _ => None,
        });
        assert_eq!(mac.as_deref(), Some(&ep.mac[..]));
        assert_eq!(inside.1, vec![ep.address]);
        assert!(
            inside
                .2
                .header
                .flags
                .contains(rtnetlink::packet_route::link::LinkFlags::Up)
        );
        assert!(
            inside.3.iter().any(|r| r.net.prefix == 0),
            "default route: {:?}",
            inside.3
        );

        // Host → container: a listener made inside the netns stays there.
        let listener = netns::run_in(&ns, move || TcpListener::bind((ip, 0)).unwrap()).unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut c = TcpStream::connect((ip, port)).unwrap();
        let (mut s, peer) = listener.accept().unwrap();
        assert_eq!(peer.ip(), std::net::IpAddr::V4(host_addr(subnet, 1)));
        c.write_all(b"ping").unwrap();
        let mut buf = [0u8; 4];
        s.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"ping");

        // Container → host via the gateway address.
        let gw = host_addr(subnet, 1);
        let host_listener = TcpListener::bind((gw, 0)).unwrap();
        let hport = host_listener.local_addr().unwrap().port();
        let from = netns::run_in(&ns, move || {
            let s = TcpStream::connect((gw, hport)).unwrap();
            s.local_addr().unwrap()
        })
        .unwrap();
        let (_, peer) = host_listener.accept().unwrap();
        assert_eq!(peer, from);
        assert_eq!(peer.ip(), std::net::IpAddr::V4(ip));

        // Deleting the host end removes the pair.
        assert!(nl.delete_link(&ep.host_ifname).await.unwrap());
        assert!(!nl.delete_link(&ep.host_ifname).await.unwrap());
        let gone = link::in_netns(&ns, |nl| async move { nl.link("eth0").await })
            .await
            .unwrap();
        assert!(gone.is_none());
        assert!(nl.delete_link(&h.bridge).await.unwrap());
        assert!(nl.link(&h.bridge).await.unwrap().is_none());
    });
}

#[test]
fn removing_a_netns_file_frees_the_namespace() {
    let mut h = Host::new();
    rt().block_on(async {
        let nl = Netlink::connect().unwrap();
        let (_, ep, ns) = bridge_and_endpoint(&mut h, &nl).await;
        assert!(netns::open(&ns).is_ok());
        netns::remove(&ns).unwrap();
        assert!(!ns.exists());
        netns::remove(&ns).unwrap();
        assert_eq!(
            netns::open(&ns).unwrap_err().class(),
            berth::api::ErrorClass::NotFound
        );
        // The namespace dies with its last reference: then the kernel
        // deletes eth0 and with it the host end of the pair.
        let start = Instant::now();
        while nl.link(&ep.host_ifname).await.unwrap().is_some() {
            assert!(
                start.elapsed() < PATIENCE,
                "netns still alive: {} exists",
                ep.host_ifname
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        assert!(!mountinfo.contains(ns.to_str().unwrap()));
    });
}

#[test]
fn netns_create_refuses_an_existing_file_and_run_in_needs_a_netns() {
    let mut h = Host::new();
    let ns = h.netns("dup");
    let err = netns::create(&ns).unwrap_err();
    assert_eq!(err.source.kind(), std::io::ErrorKind::AlreadyExists);
    let plain = h.dir.join("plain");
    std::fs::write(&plain, b"").unwrap();
    assert!(netns::run_in(&plain, || ()).is_err());
    // A fresh netns has only lo.
    let names = rt()
        .block_on(link::in_netns(
            &ns,
            |nl| async move { nl.link_names("").await },
        ))
        .unwrap();
    assert_eq!(names, vec!["lo".to_string()]);
}

fn ruleset() -> String {
    let out = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap()
}

fn table_text(table: &str) -> String {
    let out = Command::new("nft")
        .args(["list", "table", "ip", table])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn nft_table_is_reapplied_and_deleted_without_traces() {
    let h = Host::new();
    let mut fw = Firewall::new(h.table.clone());
    fw.set_network(NetworkRules {
        bridge: h.bridge.clone(),
        subnet: "10.207.250.0/24".parse().unwrap(),
        internal: false,
    })
    .unwrap();
    let rule = |port| PortRule {
        host_ip: None,
        host_port: port,
        proto: Protocol::Tcp,
        container_ip: Ipv4Addr::new(10, 207, 250, 2),
        container_port: 80,
    };
    fw.set_ports("c1", vec![rule(18080)]).unwrap();
    fw.set_ports("c2", vec![rule(18081)]).unwrap();
    assert!(nft::table_exists(&h.table).unwrap());
    let text = table_text(&h.table);
    assert!(
        text.contains("tcp dport 18080 dnat to 10.207.250.2:80 comment \"c1\""),
        "{text}"
    );
    assert!(text.contains("tcp dport 18081"), "{text}");

    // Re-applying changes nothing; removing c1 leaves c2 alone.
    fw.apply().unwrap();
    assert_eq!(table_text(&h.table), text);
    fw.remove_ports("c1").unwrap();
    let text = table_text(&h.table);
    assert!(!text.contains("18080") && text.contains("18081"), "{text}");

    // Someone deletes our table: apply restores it.
    nft::delete_table(&h.table).unwrap();
    assert!(!nft::table_exists(&h.table).unwrap());
    fw.apply().unwrap();
    assert_eq!(table_text(&h.table), text);

    // A refused batch keeps the previous state.
    let bad = NetworkRules {
        bridge: "x".repeat(300),
        subnet: "10.207.251.0/24".parse().unwrap(),
        internal: false,
    };
    assert!(fw.set_network(bad).is_err());
    assert_eq!(table_text(&h.table), text);

    fw.delete().unwrap();
    fw.delete().unwrap();
    assert!(!ruleset().contains(&h.table));
    assert!(!nft::table_exists(&h.table).unwrap());
}

/// A local address of the host that is neither loopback nor on our bridge.
async fn other_host_address(nl: &Netlink, bridge: &str) -> Option<Ipv4Addr> {
    let bridge_index = nl.link_index(bridge).await.unwrap();
    let lo = nl.link_index("lo").await.unwrap();
    let addrs = nl.host_networks().await.unwrap();
    addrs
        .into_iter()
        .filter(|h| h.link.is_some() && h.link != bridge_index && h.link != lo)
        .map(|h| h.net.addr)
        .find(|a| !a.is_loopback() && nl_is_local_address(a))
}

fn nl_is_local_address(a: &Ipv4Addr) -> bool {
    TcpListener::bind((*a, 0)).is_ok()
}

#[test]
fn published_ports_dnat_from_loopback_and_host_addresses() {
    let mut h = Host::new();
    rt().block_on(async {
        let nl = Netlink::connect().unwrap();
        let (subnet, ep, ns) = bridge_and_endpoint(&mut h, &nl).await;
        sysctl::enable_route_localnet(&h.bridge).unwrap();
        assert_eq!(
            sysctl::read(&sysctl::bridge_route_localnet_key(&h.bridge)).unwrap(),
            "1"
        );
        let cip = ep.address.addr;

        let tcp = netns::run_in(&ns, || {
            TcpListener::bind((Ipv4Addr::UNSPECIFIED, 80)).unwrap()
        })
        .unwrap();
        let udp = netns::run_in(&ns, || {
            UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 53)).unwrap()
        })
        .unwrap();
        udp.set_read_timeout(Some(PATIENCE)).unwrap();

        let range = sysctl::local_port_range().unwrap();
        let tres = ports::allocate(Ipv4Addr::UNSPECIFIED, Protocol::Tcp, range, |_| false).unwrap();
        let ures = ports::allocate(Ipv4Addr::UNSPECIFIED, Protocol::Udp, range, |_| false).unwrap();
        let mut fw = Firewall::new(h.table.clone());
        fw.set_network(NetworkRules {
            bridge: h.bridge.clone(),
            subnet,
            internal: false,
        })
        .unwrap();
        fw.set_ports(
            "c1",
            vec![
                PortRule {
                    host_ip: None,
                    host_port: tres.port,
                    proto: Protocol::Tcp,
                    container_ip: cip,
                    container_port: 80,
                },
                PortRule {
                    host_ip: None,
                    host_port: ures.port,
                    proto: Protocol::Udp,
                    container_ip: cip,
                    container_port: 53,
                },
            ],
        )
        .unwrap();

        let gw = std::net::IpAddr::V4(host_addr(subnet, 1));
        let mut targets = vec![Ipv4Addr::LOCALHOST];
        targets.extend(other_host_address(&nl, &h.bridge).await);
        eprintln!("publish targets: {targets:?}");
        for dst in targets {
            // TCP: the reservation holds the port, DNAT still delivers.
            let mut c = TcpStream::connect(SocketAddrV4::new(dst, tres.port)).unwrap();
            let (mut s, peer) = tcp.accept().unwrap();
            if dst.is_loopback() {
                // 127.0.0.1 sources are masqueraded to the bridge address.
                assert_eq!(peer.ip(), gw);
            }
            c.write_all(b"hello").unwrap();
            let mut buf = [0u8; 5];
            s.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"hello", "tcp via {dst}");
            s.write_all(b"back").unwrap();
            let mut buf = [0u8; 4];
            c.read_exact(&mut buf).unwrap();
            assert_eq!(&buf, b"back");

            // UDP, including the reply's way back through conntrack.
            let u = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0)).unwrap();
            u.set_read_timeout(Some(PATIENCE)).unwrap();
            u.send_to(b"q", SocketAddrV4::new(dst, ures.port)).unwrap();
            let mut buf = [0u8; 8];
            let (n, from) = udp.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"q", "udp via {dst}");
            udp.send_to(b"a", from).unwrap();
            let (n, _) = u.recv_from(&mut buf).unwrap();
            assert_eq!(&buf[..n], b"a");
        }

        // A second reservation of the published port fails like Docker.
        let err = ports::reserve(Ipv4Addr::UNSPECIFIED, tres.port, Protocol::Tcp).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "Bind for 0.0.0.0:{} failed: port is already allocated",
                tres.port
            )
        );

        fw.remove_ports("c1").unwrap();
        assert!(TcpStream::connect((Ipv4Addr::LOCALHOST, tres.port)).is_err());
        fw.delete().unwrap();
        assert!(!ruleset().contains(&h.table));
    });
}

#[test]
fn netns_dir_is_a_shared_mount_point() {
    let h = Host::new();
    // Idempotent: a second prepare does not stack another bind mount.
    netns::prepare_dir(&h.dir).unwrap();
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let dir = h.dir.to_str().unwrap();
    let lines: Vec<&str> = info
        .lines()
        .filter(|l| l.split(' ').nth(4) == Some(dir))
        .collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains(" shared:"), "{}", lines[0]);
}

/// A process in its own mount namespace (made by util-linux `unshare` with
/// the given propagation), killed on drop.
struct MountNsChild(std::process::Child);

impl MountNsChild {
    fn spawn(propagation: &str) -> MountNsChild {
        let child = Command::new("unshare")
            .args(["--mount", "--propagation", propagation, "sleep", "600"])
            .spawn()
            .unwrap();
        let c = MountNsChild(child);
        // `comm` turns to `sleep` only after unshare set the propagation and
        // exec'd: from then on the copy of the mount table is final.
        let comm = format!("/proc/{}/comm", c.0.id());
        let start = Instant::now();
        while std::fs::read_to_string(&comm).unwrap_or_default().trim() != "sleep" {
            assert!(start.elapsed() < PATIENCE, "unshare did not exec sleep");
            std::thread::sleep(Duration::from_millis(10));
        }
        c
    }

    fn mountinfo(&self) -> String {
        std::fs::read_to_string(format!("/proc/{}/mountinfo", self.0.id())).unwrap()
    }
}

impl Drop for MountNsChild {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A container's init unshares its mount namespace (then makes it
/// `rslave`), which copies every netns bind mount existing at that moment.
/// `netns::remove` must still free the namespace while such copies live:
/// the unmount propagates to slave copies (the netns dir is a shared mount),
/// and the unlink of the mount point detaches the copies in every other
/// mount namespace, private ones included (kernel behaviour since 3.18).
#[test]
fn netns_removal_reaches_copies_in_other_mount_namespaces() {
    let mut h = Host::new();
    rt().block_on(async {
        let nl = Netlink::connect().unwrap();
        let (_, ep, ns) = bridge_and_endpoint(&mut h, &nl).await;
        let path = ns.to_str().unwrap().to_string();
        let copies = [MountNsChild::spawn("slave"), MountNsChild::spawn("private")];
        for c in &copies {
            assert!(c.mountinfo().contains(&path));
        }

        netns::remove(&ns).unwrap();
        for c in &copies {
            assert!(
                !c.mountinfo().contains(&path),
                "copy survived: {}",
                c.mountinfo()
            );
        }
        // With both processes still alive, the namespace dies: the kernel
        // deletes eth0 and so the host end of the pair.
        let start = Instant::now();
        while nl.link(&ep.host_ifname).await.unwrap().is_some() {
            assert!(start.elapsed() < PATIENCE, "netns pinned by a mount copy");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        drop(copies);
    });
}

/// Runs `ip args…` in the namespace at `ns` (a child forked from a thread
/// inside it inherits that thread's namespace).
fn ip_in(ns: &std::path::Path, args: &[&str]) {
    let owned: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let out = netns::run_in(ns, move || Command::new("ip").args(owned).output().unwrap()).unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// With `route_localnet=1` on the bridge a container could reach services
/// the host binds to 127.0.0.1 by routing 127.0.0.0/8 to its gateway (here
/// done with `ip`; an unprivileged container can craft the same packets with
/// the CAP_NET_RAW Docker grants by default); the
/// table's `guard` chain drops that, while DNAT from 127.0.0.1 keeps working
/// (the published-port test).
#[test]
fn containers_cannot_reach_host_loopback_services() {
    let mut h = Host::new();
    rt().block_on(async {
        let nl = Netlink::connect().unwrap();
        let (subnet, ep, ns) = bridge_and_endpoint(&mut h, &nl).await;
        sysctl::enable_route_localnet(&h.bridge).unwrap();
        // Inside: no loopback addresses, 127.0.0.0/8 routed to the gateway.
        let gw = host_addr(subnet, 1);
        ip_in(&ns, &["addr", "flush", "dev", "lo"]);
        netns::run_in(&ns, || sysctl::enable_route_localnet("eth0"))
            .unwrap()
            .unwrap();
        ip_in(
            &ns,
            &["route", "add", "127.0.0.0/8", "via", &gw.to_string()],
        );

        let secret = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let port = secret.local_addr().unwrap().port();
        let attempt = move || {
            TcpStream::connect_timeout(
                &SocketAddrV4::new(Ipv4Addr::LOCALHOST, port).into(),
                Duration::from_secs(3),
            )
            .map(|s| s.local_addr().unwrap())
        };

        // Control: without our table the hole is real.
        let from = netns::run_in(&ns, attempt)
            .unwrap()
            .expect("control connect");
        let (_, peer) = secret.accept().unwrap();
        assert_eq!(peer, from);
        assert_eq!(peer.ip(), std::net::IpAddr::V4(ep.address.addr));

        let mut fw = Firewall::new(h.table.clone());
        fw.set_network(NetworkRules {
            bridge: h.bridge.clone(),
            subnet,
            internal: false,
        })
        .unwrap();
        let blocked = netns::run_in(&ns, attempt).unwrap();
        assert!(blocked.is_err(), "reached host loopback: {blocked:?}");
        fw.delete().unwrap();
    });
}
