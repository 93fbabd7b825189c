//! Networking through the Engine API of a real `berthd`: network CRUD in
//! dockerd's shapes, containers on user networks resolving each other by
//! name, published TCP and UDP ports reached from the host on 127.0.0.1 and
//! on the host's other address, `none` and `host` modes, a port conflict
//! that leaves nothing behind, and nothing left in the kernel or IPAM after
//! teardown. Each test daemon has its own bridge, subnet and nft table (see
//! `common::TestNet`).

mod common;

use std::fs;
use std::io::{Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream, UdpSocket};
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{TestDaemon, TestNet, free_subnet};
use serde_json::{Value, json};

/// How long a server in a container may take to come up; only bounds a
/// hung test, nothing asserts speed.
const READY_BOUND: Duration = Duration::from_secs(30);

fn create(d: &TestDaemon, name: &str, body: Value) -> String {
    let r = d.api_post_json(&format!("/v1.41/containers/create?name={name}"), &body);
    assert_eq!(r.status, 201, "create {name}: {}", r.text());
    r.json()["Id"].as_str().expect("an Id").to_owned()
}

fn start(d: &TestDaemon, id: &str) {
    let r = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(r.status, 204, "start {id}: {}", r.text());
}

fn inspect(d: &TestDaemon, id: &str) -> Value {
    let r = d.api_get(&format!("/v1.41/containers/{id}/json"));
    assert_eq!(r.status, 200, "inspect {id}: {}", r.text());
    r.json()
}

fn remove(d: &TestDaemon, id: &str) {
    let r = d.api_delete(&format!("/v1.41/containers/{id}?force=1"));
    assert_eq!(r.status, 204, "rm {id}: {}", r.text());
}

/// Runs `cmd` to completion in a new container; returns (exit code, output).
fn run(d: &TestDaemon, mut body: Value, cmd: &[&str]) -> (i64, String) {
    body["Image"] = json!("busybox:latest");
    body["Cmd"] = json!(cmd);
    body["AttachStdout"] = json!(true);
    body["AttachStderr"] = json!(true);
    let r = d.api_post_json("/v1.41/containers/create", &body);
    assert_eq!(r.status, 201, "create: {}", r.text());
    let id = r.json()["Id"].as_str().expect("an Id").to_owned();
    let attach = d.api_attach(&id);
    start(d, &id);
    let wait = d.api_post(&format!("/v1.41/containers/{id}/wait"), b"");
    assert_eq!(wait.status, 200, "wait: {}", wait.text());
    let code = wait.json()["StatusCode"].as_i64().expect("StatusCode");
    let (out, err) = attach.demux();
    remove(d, &id);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&err)
    );
    (code, text)
}

/// A long-running busybox container (started), with `extra` merged into the
/// create body.
fn daemon_container(d: &TestDaemon, name: &str, script: &str, extra: Value) -> String {
    let mut body = json!({"Image": "busybox:latest", "Cmd": ["sh", "-c", script]});
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    let id = create(d, name, body);
    start(d, &id);
    id
}

/// Serves `berth-hello` over HTTP on port 80 with busybox httpd.
const HTTPD: &str =
    "mkdir -p /www && echo berth-hello > /www/index.html && exec httpd -f -p 80 -h /www";

/// GETs `/` from `addr:port`, retrying until the server answers.
fn http_get(addr: Ipv4Addr, port: u16) -> String {
    let deadline = Instant::now() + READY_BOUND;
    loop {
        let attempt = (|| -> std::io::Result<String> {
            let mut s = TcpStream::connect_timeout(&(addr, port).into(), Duration::from_secs(5))?;
            s.set_read_timeout(Some(Duration::from_secs(10)))?;
            s.write_all(b"GET / HTTP/1.0\r\n\r\n")?;
            let mut out = String::new();
            s.read_to_string(&mut out)?;
            Ok(out)
        })();
        match attempt {
            Ok(body) if body.contains("berth-hello") => return body,
            other => assert!(
                Instant::now() < deadline,
                "no answer from {addr}:{port} within {READY_BOUND:?}: {other:?}"
            ),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The host's first non-loopback IPv4 address that is not on a bridge.
fn host_address() -> Ipv4Addr {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show", "scope", "global"])
        .output()
        .expect("run ip addr");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| {
            let ifname = l.split_whitespace().nth(1).unwrap_or("");
            !ifname.starts_with("berth")
                && !ifname.starts_with("br-")
                && !ifname.starts_with("docker")
        })
        .find_map(|l| {
            let cidr = l.split_whitespace().nth(3)?;
            cidr.split('/').next()?.parse().ok()
        })
        .expect("the host has a global IPv4 address")
}

/// Interfaces enslaved to `bridge`.
fn bridge_ports(bridge: &str) -> Vec<String> {
    fs::read_dir(Path::new("/sys/class/net").join(bridge).join("brif"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

fn link_exists(name: &str) -> bool {
    Path::new("/sys/class/net").join(name).exists()
}

/// The daemon's nft table as text.
fn nft_table(d: &TestDaemon) -> String {
    let out = Command::new("nft")
        .args(["list", "table", "ip", &d.net().nft_table()])
        .output()
        .expect("run nft");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every IPAM lease the daemon holds.
fn leases(d: &TestDaemon) -> Vec<String> {
    let dir = d.data_root().join("network").join("ipam");
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let v: Value = serde_json::from_slice(&fs::read(e.path()).unwrap()).unwrap();
        if let Some(m) = v["pool"]["leases"].as_object().or(v["leases"].as_object()) {
            out.extend(m.keys().cloned());
        }
    }
    out
}

/// The named netns files left under the exec root.
fn netns_files(d: &TestDaemon) -> Vec<String> {
    fs::read_dir(d.exec_root().join("netns"))
        .map(|r| {
            r.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Asserts the daemon holds no container network state in the kernel or on disk.
fn assert_nothing_left(d: &TestDaemon, bridges: &[&str]) {
    for b in bridges {
        assert_eq!(bridge_ports(b), Vec::<String>::new(), "veths left on {b}");
    }
    assert_eq!(leases(d), Vec::<String>::new(), "IPAM leases left");
    assert_eq!(netns_files(d), Vec::<String>::new(), "netns files left");
    let table = nft_table(d);
    assert!(!table.contains("dnat to"), "port rules left:\n{table}");
}

#[test]
fn network_crud_has_dockers_shapes() {
    let d = TestDaemon::start();
    let list = d.api_get("/v1.41/networks");
    assert_eq!(list.status, 200, "{}", list.text());
    let list = list.json();
    let names: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["Name"].as_str().unwrap())
        .collect();
    for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
        let n = list
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["Name"] == name)
            .unwrap_or_else(|| panic!("{name} missing from {names:?}"));
        assert_eq!(n["Driver"], driver);
        assert_eq!(n["Scope"], "local");
        assert_eq!(n["Id"].as_str().unwrap().len(), 64);
    }
    let bridge = d.api_get("/v1.41/networks/bridge").json();
    assert_eq!(
        bridge["Options"]["com.docker.network.bridge.name"],
        d.net().bridge
    );
    let (subnet, gw) = free_subnet();
    assert_eq!(
        bridge["IPAM"]["Config"][0]["Gateway"],
        d.net().bip.trim_end_matches("/24")
    );

    let body = json!({"Name": "berth-crud", "Driver": "bridge", "Labels": {"team": "berth"},
        "IPAM": {"Config": [{"Subnet": subnet, "Gateway": gw}]}});
    let created = d.api_post_json("/v1.41/networks/create", &body);
    assert_eq!(created.status, 201, "{}", created.text());
    let id = created.json()["Id"].as_str().unwrap().to_owned();
    assert_eq!(created.json()["Warning"], "");
    let again = d.api_post_json("/v1.41/networks/create", &body);
    assert_eq!(again.status, 409);
    assert_eq!(
        again.error_message(),
        "network with name berth-crud already exists"
    );
    let n = d.api_get("/v1.41/networks/berth-crud").json();
    assert_eq!(n["Id"], id.as_str());
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["Internal"], false);
    assert_eq!(n["EnableIPv6"], false);
    assert_eq!(n["IPAM"]["Driver"], "default");
    assert_eq!(
        n["IPAM"]["Config"],
        json!([{"Subnet": subnet, "Gateway": gw}])
    );
    assert_eq!(n["Labels"], json!({"team": "berth"}));
    assert_eq!(n["Containers"], json!({}));
    let linux_bridge = format!("br-{}", &id[..12]);
    assert!(link_exists(&linux_bridge), "{linux_bridge} not created");
    assert_eq!(
        d.api_get(&format!("/v1.41/networks/{}", &id[..8])).json()["Name"],
        "berth-crud"
    );
    let filtered = d
        .api_get("/v1.41/networks?filters=%7B%22type%22%3A%5B%22custom%22%5D%7D")
        .json();
    assert_eq!(filtered.as_array().unwrap().len(), 1, "{filtered}");

    let rm = d.api_delete("/v1.41/networks/bridge");
    assert_eq!(rm.status, 403);
    assert_eq!(
        rm.error_message(),
        "bridge is a pre-defined network and cannot be removed"
    );
    let rm = d.api_delete("/v1.41/networks/berth-crud");
    assert_eq!(rm.status, 204, "{}", rm.text());
    assert!(!link_exists(&linux_bridge), "{linux_bridge} left behind");
    let gone = d.api_get("/v1.41/networks/berth-crud");
    assert_eq!(gone.status, 404);
    assert_eq!(gone.error_message(), "network berth-crud not found");

    let body = json!({"Name": "berth-prune", "IPAM": {"Config": [{"Subnet": subnet}]}});
    assert_eq!(d.api_post_json("/v1.41/networks/create", &body).status, 201);
    let pruned = d.api_post("/v1.41/networks/prune", b"");
    assert_eq!(pruned.status, 200);
    assert_eq!(pruned.json()["NetworksDeleted"], json!(["berth-prune"]));
}

#[test]
fn containers_on_a_user_network_resolve_each_other() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let (subnet, _) = free_subnet();
    let created = d.api_post_json(
        "/v1.41/networks/create",
        &json!({"Name": "berth-dns", "IPAM": {"Config": [{"Subnet": subnet}]}}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let net_id = created.json()["Id"].as_str().unwrap().to_owned();
    let web = daemon_container(
        &d,
        "berth-web",
        HTTPD,
        json!({"HostConfig": {"NetworkMode": "berth-dns"},
               "NetworkingConfig": {"EndpointsConfig": {"berth-dns": {"Aliases": ["berth-alias"]}}}}),
    );
    let info = inspect(&d, &web);
    let ep = &info["NetworkSettings"]["Networks"]["berth-dns"];
    let ip: Ipv4Addr = ep["IPAddress"].as_str().unwrap().parse().unwrap();
    let prefix = subnet.trim_end_matches("0/24");
    assert!(ip.to_string().starts_with(prefix), "{ip} not in {subnet}");
    assert_eq!(ep["IPPrefixLen"], 24);
    assert_eq!(ep["NetworkID"], net_id.as_str());
    assert_eq!(ep["Gateway"], format!("{prefix}1"));
    assert_eq!(ep["MacAddress"].as_str().unwrap().len(), 17);
    // The default bridge's legacy fields stay empty on a user network.
    assert_eq!(info["NetworkSettings"]["IPAddress"], "");
    let n = d.api_get("/v1.41/networks/berth-dns").json();
    assert_eq!(n["Containers"][&web]["Name"], "berth-web");
    assert_eq!(n["Containers"][&web]["IPv4Address"], format!("{ip}/24"));
    let rm = d.api_delete("/v1.41/networks/berth-dns");
    assert_eq!(rm.status, 403);
    assert_eq!(
        rm.error_message(),
        format!("error while removing network: network berth-dns id {net_id} has active endpoints")
    );

    let client = json!({"HostConfig": {"NetworkMode": "berth-dns"}});
    let short = &web[..12];
    let script = format!(
        "cat /etc/resolv.conf; nslookup berth-web; nslookup {ip}; wget -q -O - http://berth-web/ && \
         wget -q -O - http://berth-alias/ && wget -q -O - http://{short}/ && \
         wget -q -O - http://berth-web.berth-dns/"
    );
    let (code, out) = run(&d, client, &["sh", "-c", &script]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("nameserver 127.0.0.11\n"), "{out}");
    assert!(out.contains("options ndots:0"), "{out}");
    assert!(out.contains(&format!("Address: {ip}")), "{out}");
    assert!(out.contains("berth-web.berth-dns"), "reverse lookup: {out}");
    assert_eq!(out.matches("berth-hello").count(), 4, "{out}");
    // The default bridge has no embedded DNS: the host's resolvers, and
    // /etc/hosts naming the container's own address.
    let (code, out) = run(
        &d,
        json!({"Hostname": "berth-plain"}),
        &[
            "sh",
            "-c",
            "cat /etc/resolv.conf; tail -n1 /etc/hosts; ip -4 -o addr show eth0",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("127.0.0.11"), "{out}");
    let bridge_prefix = d.net().bip.trim_end_matches("1/24");
    assert!(
        out.contains(&format!("\t{}", "berth-plain")) && out.contains(bridge_prefix),
        "{out}"
    );

    remove(&d, &web);
    let bridge = format!("br-{}", &net_id[..12]);
    assert_nothing_left(&d, &[&d.net().bridge, &bridge]);
    assert_eq!(d.api_delete("/v1.41/networks/berth-dns").status, 204);
    assert!(!link_exists(&bridge));
}

#[test]
fn published_ports_answer_on_loopback_and_the_host_address() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    // A UDP port the kernel picks now and frees at once: free for the test.
    let udp_port = UdpSocket::bind("0.0.0.0:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let id = daemon_container(
        &d,
        "berth-pub",
        HTTPD,
        json!({"ExposedPorts": {"80/tcp": {}, "9999/udp": {}},
               "HostConfig": {"PortBindings": {
                   "80/tcp": [{"HostIp": "", "HostPort": ""}],
                   "9999/udp": [{"HostPort": udp_port.to_string()}]}}}),
    );
    let info = inspect(&d, &id);
    let ports = &info["NetworkSettings"]["Ports"];
    let tcp_port: u16 = ports["80/tcp"][0]["HostPort"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert_ne!(tcp_port, 0);
    assert_eq!(ports["80/tcp"][0]["HostIp"], "0.0.0.0");
    assert_eq!(ports["9999/udp"][0]["HostPort"], udp_port.to_string());
    assert_eq!(
        info["HostConfig"]["PortBindings"]["80/tcp"][0]["HostPort"],
        ""
    );
    let bridge_ip = info["NetworkSettings"]["IPAddress"].as_str().unwrap();
    assert!(!bridge_ip.is_empty(), "{info}");
    assert_eq!(info["NetworkSettings"]["Bridge"], d.net().bridge);
    let listed = d.api_get("/v1.41/containers/json").json();
    let row = &listed.as_array().unwrap()[0];
    let mut listed_ports: Vec<(u64, String)> = row["Ports"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["PublicPort"].as_u64().unwrap(),
                p["Type"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    listed_ports.sort();
    let mut want = vec![
        (u64::from(tcp_port), "tcp".to_owned()),
        (u64::from(udp_port), "udp".to_owned()),
    ];
    want.sort();
    assert_eq!(listed_ports, want, "{row}");

    for addr in [Ipv4Addr::LOCALHOST, host_address()] {
        let body = http_get(addr, tcp_port);
        assert!(body.contains("berth-hello"), "{addr}: {body}");
    }

    // Another container reaches it through the host's address too.
    let url = format!("http://{}:{tcp_port}/", host_address());
    let (code, out) = run(&d, json!({}), &["sh", "-c", &format!("wget -q -O - {url}")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("berth-hello"), "{out}");

    // UDP: an echo server inside the container's netns (busybox has no UDP
    // server), reached through the published port.
    let pid = info["State"]["Pid"].as_i64().unwrap();
    let netns = format!("/proc/{pid}/ns/net");
    let echo = std::thread::spawn(move || {
        let ns = fs::File::open(&netns).unwrap();
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let sock = UdpSocket::bind("0.0.0.0:9999").unwrap();
        sock.set_read_timeout(Some(READY_BOUND)).unwrap();
        let mut served = 0;
        let mut buf = [0u8; 64];
        while served < 2 {
            let (n, peer) = sock.recv_from(&mut buf).unwrap();
            sock.send_to(&buf[..n], peer).unwrap();
            served += 1;
        }
    });
    for addr in [Ipv4Addr::LOCALHOST, host_address()] {
        let sock = UdpSocket::bind("0.0.0.0:0").unwrap();
        sock.set_read_timeout(Some(Duration::from_millis(500)))
            .unwrap();
        let deadline = Instant::now() + READY_BOUND;
        let mut buf = [0u8; 64];
        loop {
            sock.send_to(b"berth-udp", (addr, udp_port)).unwrap();
            if let Ok((n, _)) = sock.recv_from(&mut buf) {
                assert_eq!(&buf[..n], b"berth-udp");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "no UDP echo via {addr}:{udp_port}"
            );
        }
    }
    echo.join().unwrap();

    remove(&d, &id);
    assert_nothing_left(&d, &[&d.net().bridge]);
    assert!(
        TcpStream::connect_timeout(
            &(Ipv4Addr::LOCALHOST, tcp_port).into(),
            Duration::from_secs(2)
        )
        .is_err(),
        "port {tcp_port} still forwarded"
    );
}

#[test]
fn none_has_only_lo_and_host_sees_the_hosts_interfaces() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let (code, out) = run(
        &d,
        json!({"HostConfig": {"NetworkMode": "none"}}),
        &["ls", "/sys/class/net"],
    );
    assert_eq!((code, out.trim()), (0, "lo"));
    let (code, out) = run(
        &d,
        json!({"HostConfig": {"NetworkMode": "host"}}),
        &["sh", "-c", "cat /proc/net/dev; hostname"],
    );
    assert_eq!(code, 0, "{out}");
    let host_name = nix::unistd::gethostname().unwrap();
    assert!(
        out.ends_with(&format!("{}\n", host_name.to_string_lossy())),
        "the host's hostname, as with dockerd: {out}"
    );
    // The daemon's own bridge exists for as long as the daemon: a host-only link.
    assert!(out.contains(&format!("{}:", d.net().bridge)), "{out}");
    let (code, out) = run(&d, json!({}), &["cat", "/proc/net/dev"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("eth0:") && !out.contains(&d.net().bridge),
        "{out}"
    );
    assert_nothing_left(&d, &[&d.net().bridge]);
}

#[test]
fn a_busy_host_port_fails_start_and_leaves_nothing() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let busy = TcpListener::bind("0.0.0.0:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    let id = create(
        &d,
        "berth-busy",
        json!({"Image": "busybox:latest", "Cmd": ["sleep", "60"],
               "HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": port.to_string()}]}}}),
    );
    let r = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(r.status, 500, "{}", r.text());
    assert!(
        r.error_message().contains(&format!(
            "Bind for 0.0.0.0:{port} failed: port is already allocated"
        )),
        "{}",
        r.error_message()
    );
    assert_eq!(inspect(&d, &id)["State"]["Status"], "created");
    assert_nothing_left(&d, &[&d.net().bridge]);
    drop(busy);
    remove(&d, &id);
}

#[test]
fn published_ports_survive_kill_9_of_the_daemon() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let id = daemon_container(
        &d,
        "berth-k9",
        HTTPD,
        json!({"HostConfig": {"PortBindings": {"80/tcp": [{"HostPort": ""}]}}}),
    );
    let port: u16 = inspect(&d, &id)["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    http_get(Ipv4Addr::LOCALHOST, port);
    let restarted = d.kill9_and_restart(|| {
        assert!(http_get(Ipv4Addr::LOCALHOST, port).contains("berth-hello"));
    });
    let info = restarted
        .get(&format!("/v1.41/containers/{id}/json"))
        .json();
    assert_eq!(info["State"]["Running"], true, "{info}");
    assert_eq!(
        info["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
        port.to_string()
    );
    assert!(http_get(Ipv4Addr::LOCALHOST, port).contains("berth-hello"));
    assert_eq!(
        restarted
            .delete(&format!("/v1.41/containers/{id}?force=1"))
            .status,
        204
    );
    assert_nothing_left(&d, &[&d.net().bridge]);
}

#[test]
fn connect_and_disconnect_a_running_container() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let (subnet, _) = free_subnet();
    let created = d.api_post_json(
        "/v1.41/networks/create",
        &json!({"Name": "berth-conn", "IPAM": {"Config": [{"Subnet": subnet}]}}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let net_id = created.json()["Id"].as_str().unwrap().to_owned();
    let wanted_ip = subnet.replace(".0/24", ".77");
    let web = daemon_container(
        &d,
        "berth-late",
        HTTPD,
        json!({"MacAddress": "02:42:be:e7:00:01",
               "HostConfig": {"ExtraHosts": ["berth-extra:192.0.2.99"], "DnsOptions": ["timeout:3"]}}),
    );
    let info = inspect(&d, &web);
    assert_eq!(info["NetworkSettings"]["MacAddress"], "02:42:be:e7:00:01");
    let connect = d.api_post_json(
        "/v1.41/networks/berth-conn/connect",
        &json!({"Container": "berth-late",
                "EndpointConfig": {"Aliases": ["berth-late-alias"], "IPAMConfig": {"IPv4Address": wanted_ip}}}),
    );
    assert_eq!(connect.status, 200, "{}", connect.text());
    let again = d.api_post_json(
        "/v1.41/networks/berth-conn/connect",
        &json!({"Container": "berth-late"}),
    );
    assert_eq!(again.status, 403);
    assert_eq!(
        again.error_message(),
        "endpoint with name berth-late already exists in network berth-conn"
    );
    let info = inspect(&d, &web);
    let nets = &info["NetworkSettings"]["Networks"];
    assert_eq!(
        nets["berth-conn"]["IPAddress"],
        wanted_ip.as_str(),
        "{nets}"
    );
    assert!(
        nets["bridge"]["IPAddress"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
    let hosts = run(
        &d,
        json!({"HostConfig": {"NetworkMode": "berth-conn"}}),
        &["sh", "-c", "wget -q -O - http://berth-late-alias/"],
    );
    assert_eq!(hosts.0, 0, "{}", hosts.1);
    assert!(hosts.1.contains("berth-hello"), "{}", hosts.1);

    let disconnect = d.api_post_json(
        "/v1.41/networks/berth-conn/disconnect",
        &json!({"Container": "berth-late"}),
    );
    assert_eq!(disconnect.status, 200, "{}", disconnect.text());
    let info = inspect(&d, &web);
    assert!(
        info["NetworkSettings"]["Networks"]["berth-conn"].is_null(),
        "{info}"
    );
    let bridge = format!("br-{}", &net_id[..12]);
    assert_eq!(bridge_ports(&bridge), Vec::<String>::new());
    assert_eq!(d.api_delete("/v1.41/networks/berth-conn").status, 204);
    remove(&d, &web);
    assert_nothing_left(&d, &[&d.net().bridge]);
}

#[test]
fn etc_files_carry_extra_hosts_and_dns_settings() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let (code, out) = run(
        &d,
        json!({"Hostname": "berth-etc", "HostConfig": {
            "ExtraHosts": ["berth-extra:192.0.2.99"],
            "Dns": ["192.0.2.53"], "DnsSearch": ["berth.test"], "DnsOptions": ["timeout:3"]}}),
        &[
            "sh",
            "-c",
            "cat /etc/hosts /etc/resolv.conf; ip -4 -o addr show eth0",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("192.0.2.99\tberth-extra\n"), "{out}");
    assert!(
        out.contains("search berth.test\nnameserver 192.0.2.53\noptions timeout:3\n"),
        "{out}"
    );
    let ip = out
        .lines()
        .last()
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|c| c.split('/').next())
        .unwrap_or_else(|| panic!("no eth0 address in {out}"));
    assert!(out.contains(&format!("{ip}\tberth-etc\n")), "{out}");
}

/// A network namespace standing for "another host": a veth pair from the
/// host (`10.x.y.1/30`) to it (`10.x.y.2/30`), removed on drop.
struct OtherHost {
    name: String,
    host_end: String,
    host_ip: Ipv4Addr,
    ip: Ipv4Addr,
}

impl OtherHost {
    fn new() -> OtherHost {
        let net = TestNet::pick();
        let base = net.bip.trim_end_matches(".1/24").to_owned();
        let suffix = net.bridge.trim_start_matches("berth").to_owned();
        let o = OtherHost {
            name: format!("berthout{suffix}"),
            host_end: format!("berthov{suffix}"),
            host_ip: format!("{base}.1").parse().unwrap(),
            ip: format!("{base}.2").parse().unwrap(),
        };
        let ip = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("run ip");
            assert!(out.status.success(), "ip {args:?}: {out:?}");
        };
        ip(&["netns", "add", &o.name]);
        ip(&[
            "link",
            "add",
            &o.host_end,
            "type",
            "veth",
            "peer",
            "name",
            "eth0",
            "netns",
            &o.name,
        ]);
        ip(&[
            "addr",
            "add",
            &format!("{}/30", o.host_ip),
            "dev",
            &o.host_end,
        ]);
        ip(&["link", "set", &o.host_end, "up"]);
        ip(&[
            "-n",
            &o.name,
            "addr",
            "add",
            &format!("{}/30", o.ip),
            "dev",
            "eth0",
        ]);
        ip(&["-n", &o.name, "link", "set", "eth0", "up"]);
        ip(&["-n", &o.name, "link", "set", "lo", "up"]);
        o
    }
}

impl Drop for OtherHost {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["link", "del", &self.host_end])
            .status();
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
    }
}

#[test]
fn containers_reach_other_hosts_through_masquerade() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let other = OtherHost::new();
    // A one-shot HTTP server in the other namespace that reports its peer.
    let ns_path = format!("/run/netns/{}", other.name);
    let listen_ip = other.ip;
    let (bound_tx, bound_rx) = std::sync::mpsc::channel();
    let server = std::thread::spawn(move || {
        let ns = fs::File::open(&ns_path).unwrap();
        nix::sched::setns(&ns, nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
        let listener = TcpListener::bind((listen_ip, 8080)).unwrap();
        listener.set_nonblocking(true).unwrap();
        bound_tx.send(()).unwrap();
        let deadline = Instant::now() + READY_BOUND;
        let (mut conn, peer) = loop {
            match listener.accept() {
                Ok(c) => break c,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(Instant::now() < deadline, "nobody connected");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("accept: {e}"),
            }
        };
        conn.set_nonblocking(false).unwrap();
        let mut buf = [0u8; 512];
        let _ = conn.read(&mut buf).unwrap();
        conn.write_all(b"HTTP/1.0 200 OK\r\n\r\nberth-outside\n")
            .unwrap();
        peer.ip()
    });
    bound_rx.recv().expect("the server thread binds");
    let url = format!("http://{}:8080/", other.ip);
    let (code, out) = run(&d, json!({}), &["sh", "-c", &format!("wget -q -O - {url}")]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("berth-outside"), "{out}");
    // The other host saw the host's address, not the container's: masquerade.
    assert_eq!(server.join().unwrap(), std::net::IpAddr::V4(other.host_ip));
    assert_nothing_left(&d, &[&d.net().bridge]);
}

#[test]
fn container_mode_shares_the_netns_and_internal_networks_have_no_route_out() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let web = daemon_container(&d, "berth-owner", HTTPD, json!({}));
    let ip = inspect(&d, &web)["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, out) = run(
        &d,
        json!({"HostConfig": {"NetworkMode": "container:berth-owner"}}),
        &[
            "sh",
            "-c",
            "ip -4 -o addr show eth0; wget -q -O - http://127.0.0.1/",
        ],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("inet {ip}/24")), "{out}");
    assert!(out.contains("berth-hello"), "{out}");
    let bad = d.api_post_json(
        "/v1.41/containers/create",
        &json!({"Image": "busybox:latest", "Hostname": "x",
                "HostConfig": {"NetworkMode": "container:berth-owner"}}),
    );
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.error_message(),
        "conflicting options: hostname and the network mode"
    );
    remove(&d, &web);

    let (subnet, _) = free_subnet();
    let created = d.api_post_json(
        "/v1.41/networks/create",
        &json!({"Name": "berth-internal", "Internal": true, "IPAM": {"Config": [{"Subnet": subnet}]}}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    assert_eq!(
        d.api_get("/v1.41/networks/berth-internal").json()["Internal"],
        true
    );
    let (code, out) = run(
        &d,
        json!({"HostConfig": {"NetworkMode": "berth-internal"}}),
        &["sh", "-c", "ip -4 route; ip -4 -o addr show eth0"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(!out.contains("default"), "{out}");
    assert!(out.contains(&subnet), "{out}");
    assert_eq!(d.api_delete("/v1.41/networks/berth-internal").status, 204);
    assert_nothing_left(&d, &[&d.net().bridge]);
}

#[test]
fn a_restarted_daemon_adopts_sandboxes_and_names() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let (subnet, _) = free_subnet();
    let created = d.api_post_json(
        "/v1.41/networks/create",
        &json!({"Name": "berth-adopt", "IPAM": {"Config": [{"Subnet": subnet}]}}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let net_id = created.json()["Id"].as_str().unwrap().to_owned();
    let web = daemon_container(
        &d,
        "berth-adopted",
        HTTPD,
        json!({"HostConfig": {"NetworkMode": "berth-adopt"}}),
    );
    let before = inspect(&d, &web)["NetworkSettings"]["Networks"]["berth-adopt"].clone();
    let bridge = format!("br-{}", &net_id[..12]);
    let veths = bridge_ports(&bridge);
    assert_eq!(veths.len(), 1, "{veths:?}");
    let _restarted = d.kill9_and_restart(|| {});
    // Nothing re-created: the same endpoint, veth and address.
    let after = inspect(&d, &web)["NetworkSettings"]["Networks"]["berth-adopt"].clone();
    assert_eq!(before, after);
    assert_eq!(bridge_ports(&bridge), veths);
    let (code, out) = run(
        &d,
        json!({"HostConfig": {"NetworkMode": "berth-adopt"}}),
        &["sh", "-c", "wget -q -O - http://berth-adopted/"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("berth-hello"), "{out}");
    remove(&d, &web);
    assert_nothing_left(&d, &[&d.net().bridge, &bridge]);
}

#[test]
fn a_renamed_container_answers_to_its_new_name() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let (subnet, _) = free_subnet();
    let created = d.api_post_json(
        "/v1.41/networks/create",
        &json!({"Name": "berth-rename", "IPAM": {"Config": [{"Subnet": subnet}]}}),
    );
    assert_eq!(created.status, 201, "{}", created.text());
    let web = daemon_container(
        &d,
        "berth-old-name",
        HTTPD,
        json!({"HostConfig": {"NetworkMode": "berth-rename"}}),
    );
    let r = d.api_post(
        &format!("/v1.41/containers/{web}/rename?name=berth-new-name"),
        b"",
    );
    assert_eq!(r.status, 204, "{}", r.text());
    let net = json!({"HostConfig": {"NetworkMode": "berth-rename"}});
    // (Unknown names are forwarded upstream, so the old name is not
    // queried: tests never leave the machine.)
    let (code, out) = run(
        &d,
        net,
        &["sh", "-c", "wget -q -O - http://berth-new-name/"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("berth-hello"), "{out}");
    let n = d.api_get("/v1.41/networks/berth-rename").json();
    assert_eq!(n["Containers"][&web]["Name"], "berth-new-name");
    remove(&d, &web);
}

#[test]
fn links_on_the_default_bridge_become_hosts_entries() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let web = daemon_container(&d, "berth-linked", HTTPD, json!({}));
    let ip = inspect(&d, &web)["NetworkSettings"]["IPAddress"]
        .as_str()
        .unwrap()
        .to_owned();
    let (code, out) = run(
        &d,
        json!({"HostConfig": {"Links": ["berth-linked:web"]}}),
        &["sh", "-c", "cat /etc/hosts; wget -q -O - http://web/"],
    );
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains(&format!("{ip}\tweb {} berth-linked\n", &web[..12])),
        "{out}"
    );
    assert!(out.contains("berth-hello"), "{out}");
    remove(&d, &web);
    let body = json!({"Image": "busybox:latest", "Cmd": ["true"],
                      "HostConfig": {"Links": ["berth-linked:web"]}});
    let id = create(&d, "berth-linker", body);
    let r = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(r.status, 404, "{}", r.text());
    assert_nothing_left(&d, &[&d.net().bridge]);
}

#[test]
fn iptables_false_leaves_the_firewall_alone() {
    let d = TestDaemon::start_with("{}", &["--iptables=false"]);
    d.load_busybox("busybox:latest");
    let listed = Command::new("nft")
        .args(["list", "table", "ip", &d.net().nft_table()])
        .output()
        .expect("run nft");
    assert!(!listed.status.success(), "a table was made: {listed:?}");
    let (code, out) = run(&d, json!({}), &["sh", "-c", "ip -4 -o addr show eth0"]);
    assert_eq!(code, 0, "{out}");
    let prefix = d.net().bip.trim_end_matches("1/24");
    assert!(out.contains(&format!("inet {prefix}")), "{out}");
    assert_nothing_left(&d, &[&d.net().bridge]);
}
