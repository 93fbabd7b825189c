//! Networking end to end through `berth` and a real `berthd`: published TCP
//! and UDP ports reached from the host on 127.0.0.1 and on its own address,
//! containers resolving each other by name, alias and short ID on a
//! user-defined network, `--network none|host`, outbound NAT to a server in a
//! network namespace the test makes, and a taken host port failing `run`
//! without leaving anything behind. Nothing leaves the machine: the only
//! peers are the host itself and namespaces made here (named `berth…`).
//!
//! The servers are `tests/fixtures/berth-echo.c`, built with `cc -static`
//! into a one-file image; clients use the busybox fixture image, whose `/bin`
//! links only a few applets (hence `busybox nc`, `busybox ip`).

mod common;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use common::{
    COMMAND_BOUND, TestDaemon, code, free_subnet, run, run_ok, run_with_stdin, stderr, stdout,
};

/// How long one connection attempt or datagram round trip may take.
const IO_BOUND: Duration = Duration::from_secs(5);

/// Six random hex digits for names on the host.
fn rand_hex() -> String {
    let mut b = [0u8; 3];
    getrandom::fill(&mut b).expect("random bytes");
    hex::encode(b)
}

/// Builds the static echo server from its C source into `dir`.
fn build_echo(dir: &Path) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/berth-echo.c");
    let bin = dir.join("berth-echo");
    run_ok(
        Command::new("cc")
            .args(["-static", "-O2", "-o"])
            .arg(&bin)
            .arg(&src),
    );
    bin
}

/// Loads the busybox fixture image through `berth load` (the CLI, so a
/// stop/continue of this test process cannot interrupt the harness's socket
/// read).
fn load_busybox(d: &TestDaemon) {
    let (archive, _) = d.busybox_archive("busybox:latest");
    let out = run_ok(&mut d.berth(&["load", "-i", archive.to_str().expect("utf-8 path")]));
    assert_eq!(out, "Loaded image: busybox:latest\n");
}

/// A daemon with busybox and `berthtest/echo:1` (only `/berth-echo`).
fn daemon_with_images() -> TestDaemon {
    let d = TestDaemon::start();
    load_busybox(&d);
    let bin = build_echo(d.dir());
    let data = std::fs::read(&bin).expect("read berth-echo");
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(0o755);
    h.set_size(data.len() as u64);
    h.set_mtime(0);
    h.set_uid(0);
    h.set_gid(0);
    b.append_data(&mut h, "./berth-echo", data.as_slice())
        .expect("append berth-echo");
    let tar = b.into_inner().expect("finish the echo image tar");
    let out = run_with_stdin(
        &mut d.berth(&["import", "-", "berthtest/echo:1"]),
        Some(&tar),
    );
    assert_eq!(code(&out), 0, "import the echo image: {}", stderr(&out));
    d
}

/// The daemon's own bridge (the harness gives each test daemon one).
fn bridge_of(d: &TestDaemon) -> String {
    d.net().bridge.clone()
}

/// The interfaces enslaved to `bridge` (the host ends of container veths).
fn ports_of_bridge(bridge: &str) -> Vec<String> {
    let out = run_ok(Command::new("ip").args(["-o", "link", "show", "master", bridge]));
    out.lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or_default().to_string())
        .collect()
}

/// The text of the daemon's own nft table (empty when there is none).
fn nft_table(bridge: &str) -> String {
    let name = berth::network::nft::table_name(bridge);
    let ruleset = run_ok(Command::new("nft").args(["list", "ruleset"]));
    let mut out = String::new();
    let mut inside = false;
    for line in ruleset.lines() {
        if line.starts_with("table ") {
            inside = line.split_whitespace().nth(2) == Some(name.as_str());
        }
        if inside {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

/// The host's first global IPv4 address that is not on a container bridge
/// or veth (the "other address" a published port must answer on).
fn host_ipv4() -> Ipv4Addr {
    let out = run_ok(Command::new("ip").args(["-4", "-o", "addr", "show", "scope", "global"]));
    for line in out.lines() {
        let mut f = line.split_whitespace();
        let ifname = f.nth(1).unwrap_or_default();
        if ["berth", "docker", "veth", "br-"]
            .iter()
            .any(|p| ifname.starts_with(p))
        {
            continue;
        }
        if let Some(addr) = f.nth(1)
            && let Ok(ip) = addr.split('/').next().unwrap_or_default().parse()
        {
            return ip;
        }
    }
    panic!("no global IPv4 address on this host:\n{out}");
}

/// Waits until the container's log shows the echo server listening.
fn wait_listening(d: &TestDaemon, name: &str) {
    let deadline = Instant::now() + COMMAND_BOUND;
    loop {
        let out = run(&mut d.berth(&["logs", name]));
        if stdout(&out).contains("berth-echo listening") {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} never listened; logs: {} {}",
            stdout(&out),
            stderr(&out)
        );
        thread::sleep(Duration::from_millis(50));
    }
}

/// Connects and reads the echo server's greeting; retried (bounded) while
/// the connection is refused or reset, which only says a rule is not in yet.
fn tcp_greeting(addr: SocketAddr) -> String {
    let deadline = Instant::now() + COMMAND_BOUND;
    let mut last = String::new();
    while Instant::now() < deadline {
        match TcpStream::connect_timeout(&addr, IO_BOUND) {
            Ok(mut s) => {
                s.set_read_timeout(Some(IO_BOUND)).expect("read timeout");
                let mut text = String::new();
                match s.read_to_string(&mut text) {
                    Ok(_) if !text.is_empty() => return text,
                    Ok(_) => last = "empty reply".to_string(),
                    Err(e) => last = e.to_string(),
                }
            }
            Err(e) => last = e.to_string(),
        }
        thread::sleep(Duration::from_millis(100));
    }
    panic!("no TCP greeting from {addr}: {last}");
}

/// Sends a datagram and returns the echo server's answer; re-sent (bounded)
/// since UDP may drop a datagram.
fn udp_echo(addr: SocketAddr, payload: &str) -> String {
    let sock = UdpSocket::bind("0.0.0.0:0").expect("bind a UDP socket");
    sock.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("read timeout");
    let deadline = Instant::now() + COMMAND_BOUND;
    let mut buf = [0u8; 2048];
    while Instant::now() < deadline {
        sock.send_to(payload.as_bytes(), addr)
            .expect("send a datagram");
        if let Ok((n, _)) = sock.recv_from(&mut buf) {
            return String::from_utf8_lossy(&buf[..n]).into_owned();
        }
    }
    panic!("no UDP answer from {addr}");
}

/// `berth port C PRIVATE` as the host port numbers it lists.
fn host_ports(d: &TestDaemon, container: &str, private: &str) -> Vec<u16> {
    run_ok(&mut d.berth(&["port", container, private]))
        .lines()
        .map(|l| {
            l.rsplit(':')
                .next()
                .and_then(|p| p.parse().ok())
                .unwrap_or_else(|| panic!("not HOST:PORT: {l:?}"))
        })
        .collect()
}

/// A TCP port nothing on the host listens on right now.
fn free_tcp_port() -> u16 {
    TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .expect("probe a free port")
        .port()
}

/// After every container is gone: no veth left on the bridge and no DNAT
/// rule (`dnat to …`; `ct status dnat` matches are the network's own) left
/// in the daemon's table.
fn assert_no_endpoints(bridge: &str) {
    assert_eq!(ports_of_bridge(bridge), Vec::<String>::new(), "veths left");
    let table = nft_table(bridge);
    let dnat = |l: &&str| l.contains("dnat") && !l.contains("ct status dnat");
    assert!(
        !table.lines().any(|l| dnat(&l)),
        "port rules left:\n{table}"
    );
}

#[test]
fn published_tcp_and_udp_ports_answer_on_loopback_and_the_host_address() {
    let d = daemon_with_images();
    let bridge = bridge_of(&d);
    let host = host_ipv4();
    let fixed = free_tcp_port();
    run_ok(&mut d.berth(&[
        "run",
        "-d",
        "--name",
        "berth-tcp",
        "-p",
        &format!("{fixed}:7000"),
        "-p",
        "7000",
        "berthtest/echo:1",
        "/berth-echo",
        "tcp",
        "7000",
    ]));
    run_ok(&mut d.berth(&[
        "run",
        "-d",
        "--name",
        "berth-udp",
        "-p",
        "7001/udp",
        "berthtest/echo:1",
        "/berth-echo",
        "udp",
        "7001",
    ]));
    wait_listening(&d, "berth-tcp");
    wait_listening(&d, "berth-udp");

    let tcp = host_ports(&d, "berth-tcp", "7000");
    assert_eq!(tcp.len(), 2, "{tcp:?}");
    assert!(tcp.contains(&fixed), "{tcp:?}");
    let random = *tcp.iter().find(|p| **p != fixed).expect("a random port");
    let (lo, hi) = (fixed.min(random), fixed.max(random));
    assert_eq!(
        run_ok(&mut d.berth(&["port", "berth-tcp"])),
        format!("7000/tcp -> 0.0.0.0:{lo}\n7000/tcp -> 0.0.0.0:{hi}\n")
    );
    assert_eq!(
        run_ok(&mut d.berth(&["ps", "--filter", "name=berth-tcp", "--format", "{{.Ports}}"])),
        format!("0.0.0.0:{lo}->7000/tcp, 0.0.0.0:{hi}->7000/tcp\n")
    );
    let udp = host_ports(&d, "berth-udp", "7001/udp");
    assert_eq!(udp.len(), 1, "{udp:?}");

    for ip in [Ipv4Addr::LOCALHOST, host] {
        for port in [fixed, random] {
            let greeting = tcp_greeting(SocketAddr::from((ip, port)));
            assert!(
                greeting.starts_with("berth-echo tcp from "),
                "{ip}:{port}: {greeting:?}"
            );
        }
        let answer = udp_echo(SocketAddr::from((ip, udp[0])), "berth-ping");
        assert!(
            answer.starts_with("berth-echo udp from ") && answer.ends_with(": berth-ping"),
            "{ip}:{}: {answer:?}",
            udp[0]
        );
    }
    assert_eq!(ports_of_bridge(&bridge).len(), 2);

    run_ok(&mut d.berth(&["rm", "-f", "berth-tcp", "berth-udp"]));
    assert_no_endpoints(&bridge);
    let refused = TcpStream::connect_timeout(&SocketAddr::from(([127, 0, 0, 1], fixed)), IO_BOUND);
    assert!(refused.is_err(), "port {fixed} still answers after rm");
}

#[test]
fn user_network_resolves_names_aliases_and_short_ids() {
    let d = daemon_with_images();
    let bridge = bridge_of(&d);
    let net = format!("berth-net-{}", rand_hex());
    let id = run_ok(&mut d.berth(&["network", "create", "--label", "berth.test=1", &net]));
    let id = id.trim();
    assert_eq!(id.len(), 64, "{id:?}");
    // `inspect` finds networks after containers and images, as docker's does.
    assert_eq!(
        run_ok(&mut d.berth(&["inspect", "-f", "{{.Id}} {{.Driver}}", &net])),
        format!("{id} bridge\n")
    );
    let srv = run_ok(&mut d.berth(&[
        "run",
        "-d",
        "--name",
        "berth-srv",
        "--network",
        &net,
        "--network-alias",
        "berth-alias",
        "berthtest/echo:1",
        "/berth-echo",
        "tcp",
        "7000",
    ]));
    let short = &srv.trim()[..12];
    wait_listening(&d, "berth-srv");
    let script = format!(
        "for h in berth-srv berth-alias {short}; do busybox nc $h 7000 </dev/null || echo FAILED $h; done; grep nameserver /etc/resolv.conf"
    );
    let out = run_ok(&mut d.berth(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        &script,
    ]));
    assert_eq!(
        out.matches("berth-echo tcp from ").count(),
        3,
        "name, alias and short ID: {out}"
    );
    assert!(out.contains("nameserver 127.0.0.11"), "{out}");

    // A container on the default bridge joins later with an alias.
    run_ok(&mut d.berth(&[
        "run",
        "-d",
        "--name",
        "berth-late",
        "berthtest/echo:1",
        "/berth-echo",
        "tcp",
        "7000",
    ]));
    wait_listening(&d, "berth-late");
    run_ok(&mut d.berth(&[
        "network",
        "connect",
        "--alias",
        "berth-joined",
        &net,
        "berth-late",
    ]));
    let out = run_ok(&mut d.berth(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "busybox",
        "nc",
        "berth-joined",
        "7000",
    ]));
    assert!(out.starts_with("berth-echo tcp from "), "{out}");
    let names = run_ok(&mut d.berth(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{end}}",
        &net,
    ]));
    let mut names: Vec<&str> = names.split_whitespace().collect();
    names.sort();
    assert_eq!(names, vec!["berth-late", "berth-srv"]);
    run_ok(&mut d.berth(&["network", "disconnect", &net, "berth-late"]));

    let busy = run(&mut d.berth(&["network", "rm", &net]));
    assert_eq!(code(&busy), 1, "{}", stderr(&busy));
    assert!(
        stderr(&busy).ends_with("exit status 1\n"),
        "{}",
        stderr(&busy)
    );
    run_ok(&mut d.berth(&["rm", "-f", "berth-srv", "berth-late"]));
    assert_eq!(
        run_ok(&mut d.berth(&["network", "rm", &net])),
        format!("{net}\n")
    );
    let ls = run_ok(&mut d.berth(&["network", "ls", "--format", "{{.Name}}"]));
    assert!(!ls.lines().any(|l| l == net), "{ls}");
    assert_no_endpoints(&bridge);
}

#[test]
fn network_none_has_only_loopback() {
    let d = TestDaemon::start();
    load_busybox(&d);
    let out = run_ok(&mut d.berth(&[
        "run",
        "--rm",
        "--network",
        "none",
        "busybox",
        "ls",
        "/sys/class/net",
    ]));
    assert_eq!(out.split_whitespace().collect::<Vec<_>>(), vec!["lo"]);
}

#[test]
fn network_host_sees_the_host_interfaces() {
    let d = TestDaemon::start();
    load_busybox(&d);
    let host = host_ipv4().to_string();
    let out = run_ok(&mut d.berth(&[
        "run",
        "--rm",
        "--network",
        "host",
        "busybox",
        "busybox",
        "ip",
        "-4",
        "-o",
        "addr",
    ]));
    assert!(
        out.contains(&format!("inet {host}/")),
        "the host's {host} is not visible:\n{out}"
    );
}

/// A network namespace with a veth to the host and an echo server in it;
/// all removed on drop.
struct OuterNs {
    name: String,
    host_if: String,
    server: Option<Child>,
}

impl Drop for OuterNs {
    fn drop(&mut self) {
        if let Some(mut s) = self.server.take() {
            let _ = s.kill();
            let _ = s.wait();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_if])
            .output();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .output();
    }
}

#[test]
fn outbound_traffic_reaches_a_server_in_another_namespace() {
    let d = daemon_with_images();
    let tag = rand_hex();
    let mut ns = OuterNs {
        name: format!("berth-out-{tag}"),
        host_if: format!("bertho{tag}"),
        server: None,
    };
    // 198.18.0.0/15 is for benchmarks: never routed beyond this machine.
    let octet = u8::from_str_radix(&tag[..2], 16).expect("hex");
    let host_ip = format!("198.19.{octet}.1");
    let ns_ip = format!("198.19.{octet}.2");
    let peer = format!("berthp{tag}");
    for args in [
        vec!["netns", "add", &ns.name],
        vec![
            "link",
            "add",
            &ns.host_if,
            "type",
            "veth",
            "peer",
            "name",
            &peer,
        ],
        vec!["link", "set", &peer, "netns", &ns.name],
        vec!["addr", "add", &format!("{host_ip}/30"), "dev", &ns.host_if],
        vec!["link", "set", &ns.host_if, "up"],
    ] {
        run_ok(Command::new("ip").args(&args));
    }
    for args in [
        vec!["addr", "add", &format!("{ns_ip}/30"), "dev", &peer],
        vec!["link", "set", &peer, "up"],
        vec!["link", "set", "lo", "up"],
    ] {
        run_ok(
            Command::new("ip")
                .args(["netns", "exec", &ns.name, "ip"])
                .args(&args),
        );
    }
    let bin = build_echo(d.dir());
    ns.server = Some(
        Command::new("ip")
            .args(["netns", "exec", &ns.name])
            .arg(&bin)
            .args(["tcp", "7100"])
            .stdout(Stdio::null())
            .spawn()
            .expect("start the echo server in the namespace"),
    );
    // Ready once the namespace answers (the server may still be starting).
    let script = format!(
        "i=0; while [ $i -lt 600 ]; do busybox nc {ns_ip} 7100 </dev/null && exit 0; i=$((i+1)); sleep 0.1; done; exit 1"
    );
    let out = run_ok(&mut d.berth(&["run", "--rm", "busybox", "sh", "-c", &script]));
    // Masqueraded: the server sees the host's address on its link, not the container's.
    assert_eq!(out, format!("berth-echo tcp from {host_ip}\n"));
    drop(ns);
    assert_no_endpoints(&bridge_of(&d));
}

#[test]
fn a_taken_host_port_fails_run_and_leaves_nothing_behind() {
    let d = daemon_with_images();
    let bridge = bridge_of(&d);
    // Taken by another program on the host.
    let holder = TcpListener::bind("0.0.0.0:0").expect("hold a port");
    let taken = holder.local_addr().expect("local addr").port();
    let out = run(&mut d.berth(&[
        "run",
        "-d",
        "--name",
        "berth-clash",
        "-p",
        &format!("{taken}:7000"),
        "berthtest/echo:1",
        "/berth-echo",
        "tcp",
        "7000",
    ]));
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    let err = stderr(&out);
    assert!(
        err.contains(&taken.to_string())
            && (err.contains("already in use") || err.contains("already allocated")),
        "{err}"
    );
    assert_eq!(ports_of_bridge(&bridge), Vec::<String>::new());
    assert!(!nft_table(&bridge).contains(&taken.to_string()));

    // Taken by another container of the same daemon.
    let free = free_tcp_port();
    run_ok(&mut d.berth(&[
        "run",
        "-d",
        "--name",
        "berth-first",
        "-p",
        &format!("{free}:7000"),
        "berthtest/echo:1",
        "/berth-echo",
        "tcp",
        "7000",
    ]));
    wait_listening(&d, "berth-first");
    let out = run(&mut d.berth(&[
        "run",
        "-d",
        "--name",
        "berth-second",
        "-p",
        &format!("{free}:7000"),
        "berthtest/echo:1",
        "/berth-echo",
        "tcp",
        "7000",
    ]));
    assert_eq!(code(&out), 125, "{}", stderr(&out));
    assert!(stderr(&out).contains(&free.to_string()), "{}", stderr(&out));
    assert_eq!(
        ports_of_bridge(&bridge).len(),
        1,
        "only the first container's veth"
    );
    // The first container's port still works.
    let greeting = tcp_greeting(SocketAddr::from(([127, 0, 0, 1], free)));
    assert!(greeting.starts_with("berth-echo tcp from "), "{greeting:?}");

    run_ok(&mut d.berth(&["rm", "-f", "berth-clash", "berth-first", "berth-second"]));
    assert_no_endpoints(&bridge);
    drop(holder);
}

#[test]
fn publish_all_maps_exposed_ports_to_random_host_ports() {
    let d = daemon_with_images();
    run_ok(&mut d.berth(&[
        "run",
        "-d",
        "--name",
        "berth-all",
        "-P",
        "--expose",
        "7000",
        "--expose",
        "7001-7002/udp",
        "berthtest/echo:1",
        "/berth-echo",
        "tcp",
        "7000",
    ]));
    wait_listening(&d, "berth-all");
    let listing = run_ok(&mut d.berth(&["port", "berth-all"]));
    let lines: Vec<&str> = listing.lines().collect();
    assert_eq!(lines.len(), 3, "{listing}");
    for (line, private) in lines.iter().zip(["7000/tcp", "7001/udp", "7002/udp"]) {
        assert!(
            line.starts_with(&format!("{private} -> 0.0.0.0:")),
            "{listing}"
        );
    }
    let port = host_ports(&d, "berth-all", "7000")[0];
    let greeting = tcp_greeting(SocketAddr::from(([127, 0, 0, 1], port)));
    assert!(greeting.starts_with("berth-echo tcp from "), "{greeting:?}");
    run_ok(&mut d.berth(&["rm", "-f", "berth-all"]));
    assert_no_endpoints(&bridge_of(&d));
}

#[test]
fn ip_mac_hosts_and_dns_flags_reach_the_container() {
    let d = TestDaemon::start();
    load_busybox(&d);
    let net = format!("berth-net-{}", rand_hex());
    let (subnet, _) = free_subnet();
    let prefix = subnet.trim_end_matches("0/24");
    run_ok(&mut d.berth(&[
        "network",
        "create",
        "--subnet",
        &format!("{prefix}0/24"),
        &net,
    ]));
    let ip = format!("{prefix}77");
    let out = run_ok(&mut d.berth(&[
        "run",
        "--rm",
        "--network",
        &net,
        "--ip",
        &ip,
        "--mac-address",
        "02:42:be:47:00:01",
        "--add-host",
        "berth-extra:10.1.2.3",
        "--dns-search",
        "berth.example",
        "--dns-option",
        "attempts:2",
        "busybox",
        "sh",
        "-c",
        "cat /etc/hosts /etc/resolv.conf; busybox ip -o addr show eth0; busybox ip -o link show eth0",
    ]));
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["10.1.2.3", "berth-extra"]),
        "{out}"
    );
    assert!(out.contains("nameserver 127.0.0.11"), "{out}");
    assert!(out.contains("search berth.example"), "{out}");
    assert!(out.contains("attempts:2"), "{out}");
    assert!(out.contains(&format!("inet {ip}/24")), "{out}");
    assert!(out.contains("link/ether 02:42:be:47:00:01"), "{out}");
    run_ok(&mut d.berth(&["network", "rm", &net]));
    assert_no_endpoints(&bridge_of(&d));
}
