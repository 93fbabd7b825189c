//! The real `docker` CLI (version 28) against `berthd` for networking: `run
//! -p`, `port`, `ps` PORTS, `network create/ls/inspect/connect/disconnect/rm/
//! prune`. Every expected output, error and exit code was recorded from the
//! same client against dockerd 20.10 (Debian docker.io, see docs/compat.md);
//! values that differ per run (IDs, ports, addresses) are checked for shape.

mod common;

use std::net::TcpListener;

use common::{TestDaemon, code, free_subnet, run, run_ok, stderr, stdout};
use serde_json::{Value, json};

fn rand_hex() -> String {
    let mut b = [0u8; 3];
    getrandom::fill(&mut b).expect("random bytes");
    hex::encode(b)
}

fn with_busybox() -> TestDaemon {
    let d = TestDaemon::start();
    let (archive, _) = d.busybox_archive("busybox:latest");
    run_ok(&mut d.docker(&["load", "-i", archive.to_str().expect("utf-8 path")]));
    d
}

fn free_tcp_port() -> u16 {
    TcpListener::bind("0.0.0.0:0")
        .and_then(|l| l.local_addr())
        .expect("probe a free port")
        .port()
}

#[test]
fn docker_run_publish_port_and_ps_like_dockerd() {
    let d = with_busybox();
    let fixed = free_tcp_port();
    run_ok(&mut d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-pub",
        "-p",
        &format!("127.0.0.1:{fixed}:80"),
        "-p",
        "81/udp",
        "busybox",
        "sleep",
        "300",
    ]));
    let bindings: Value = serde_json::from_str(&run_ok(&mut d.docker(&[
        "inspect",
        "-f",
        "{{json .HostConfig.PortBindings}}",
        "berth-pub",
    ])))
    .expect("JSON");
    assert_eq!(
        bindings,
        json!({
            "80/tcp": [{"HostIp": "127.0.0.1", "HostPort": fixed.to_string()}],
            "81/udp": [{"HostIp": "", "HostPort": ""}]
        })
    );
    let ports: Value = serde_json::from_str(&run_ok(&mut d.docker(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings.Ports}}",
        "berth-pub",
    ])))
    .expect("JSON");
    assert_eq!(
        ports["80/tcp"],
        json!([{"HostIp": "127.0.0.1", "HostPort": fixed.to_string()}])
    );
    assert_eq!(ports["81/udp"][0]["HostIp"], "0.0.0.0");
    let udp: u16 = ports["81/udp"][0]["HostPort"]
        .as_str()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("a random host port: {ports}"));

    assert_eq!(
        run_ok(&mut d.docker(&["port", "berth-pub"])),
        format!("80/tcp -> 127.0.0.1:{fixed}\n81/udp -> 0.0.0.0:{udp}\n")
    );
    assert_eq!(
        run_ok(&mut d.docker(&["port", "berth-pub", "80"])),
        format!("127.0.0.1:{fixed}\n")
    );
    assert_eq!(
        run_ok(&mut d.docker(&["port", "berth-pub", "81/udp"])),
        format!("0.0.0.0:{udp}\n")
    );
    let missing = run(&mut d.docker(&["port", "berth-pub", "82"]));
    assert_eq!(code(&missing), 1);
    assert_eq!(
        stderr(&missing),
        "Error: No public port '82' published for berth-pub\n"
    );
    assert_eq!(
        run_ok(&mut d.docker(&["ps", "--filter", "name=berth-pub", "--format", "{{.Ports}}"])),
        format!("127.0.0.1:{fixed}->80/tcp, 0.0.0.0:{udp}->81/udp\n")
    );
    // berth's own CLI prints the same.
    assert_eq!(
        run_ok(&mut d.berth(&["port", "berth-pub"])),
        format!("80/tcp -> 127.0.0.1:{fixed}\n81/udp -> 0.0.0.0:{udp}\n")
    );

    // The client refuses bad specs itself, as against dockerd.
    let bad = run(&mut d.docker(&["run", "--rm", "-p", "1.2.3:80:80", "busybox", "true"]));
    assert_eq!(code(&bad), 125);
    assert_eq!(
        stderr(&bad),
        "docker: invalid IP address: 1.2.3\n\nRun 'docker run --help' for more information\n"
    );
    run_ok(&mut d.docker(&["rm", "-f", "berth-pub"]));
}

#[test]
fn docker_network_commands_like_dockerd() {
    let d = with_busybox();
    let net = format!("berth-net-{}", rand_hex());
    let (subnet, gateway) = free_subnet();
    let id = run_ok(&mut d.docker(&[
        "network",
        "create",
        "--subnet",
        &subnet,
        "--gateway",
        &gateway,
        "--label",
        "berth.test=1",
        &net,
    ]));
    let id = id.trim().to_string();
    assert!(
        id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()),
        "{id:?}"
    );
    let dup = run(&mut d.docker(&["network", "create", &net]));
    assert_eq!(code(&dup), 1);
    assert_eq!(
        stderr(&dup),
        format!("Error response from daemon: network with name {net} already exists\n")
    );

    // ls: Docker's table, sorted by name; the built-in networks are there.
    let ls = run_ok(&mut d.docker(&["network", "ls"]));
    let mut lines = ls.lines();
    let header = lines.next().unwrap_or_default();
    assert!(
        header.starts_with("NETWORK ID     NAME ") && header.ends_with("DRIVER    SCOPE"),
        "{ls}"
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split_whitespace().collect()).collect();
    let names: Vec<&str> = rows.iter().map(|r| r[1]).collect();
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "{ls}");
    for (name, driver) in [("bridge", "bridge"), ("host", "host"), ("none", "null")] {
        let row = rows
            .iter()
            .find(|r| r[1] == name)
            .unwrap_or_else(|| panic!("no {name} network:\n{ls}"));
        assert_eq!(
            (row[0].len(), row[2], row[3]),
            (12, driver, "local"),
            "{ls}"
        );
    }
    assert!(
        rows.iter()
            .any(|r| r == &[&id[..12], net.as_str(), "bridge", "local"]),
        "{ls}"
    );
    assert_eq!(
        run_ok(&mut d.docker(&[
            "network",
            "ls",
            "--filter",
            &format!("name={net}"),
            "--format",
            "{{.Name}} {{.Driver}} {{.Scope}} {{.Internal}} {{.Labels}}",
        ])),
        format!("{net} bridge local false berth.test=1\n")
    );
    let none = run_ok(&mut d.docker(&["network", "ls", "-q", "--filter", "driver=null"]));
    assert_eq!(none.trim().len(), 12, "{none}");

    // inspect: dockerd's keys and values.
    let inspect: Value =
        serde_json::from_str(&run_ok(&mut d.docker(&["network", "inspect", &net]))).expect("JSON");
    let n = &inspect[0];
    let mut keys: Vec<&str> = n
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec![
            "Attachable",
            "ConfigFrom",
            "ConfigOnly",
            "Containers",
            "Created",
            "Driver",
            "EnableIPv6",
            "IPAM",
            "Id",
            "Ingress",
            "Internal",
            "Labels",
            "Name",
            "Options",
            "Scope"
        ]
    );
    assert_eq!(n["Id"], id.as_str());
    assert_eq!(n["Name"], net.as_str());
    assert_eq!(n["Driver"], "bridge");
    assert_eq!(n["Scope"], "local");
    assert_eq!(
        n["IPAM"],
        json!({"Driver": "default", "Options": {}, "Config": [{"Subnet": subnet, "Gateway": gateway}]})
    );
    assert_eq!(n["Labels"], json!({"berth.test": "1"}));
    assert_eq!(n["Containers"], json!({}));
    assert_eq!(
        run_ok(&mut d.docker(&[
            "network",
            "inspect",
            "-f",
            "{{.Name}} {{range .IPAM.Config}}{{.Subnet}} {{.Gateway}}{{end}}",
            &net,
        ])),
        format!("{net} {subnet} {gateway}\n")
    );
    let missing = run(&mut d.docker(&["network", "inspect", "berth-nosuch"]));
    assert_eq!(code(&missing), 1);
    assert_eq!(stdout(&missing), "[]\n");
    assert_eq!(
        stderr(&missing),
        "Error response from daemon: network berth-nosuch not found\n"
    );

    // connect / disconnect / rm while in use.
    run_ok(&mut d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-c1",
        "--network",
        &net,
        "busybox",
        "sleep",
        "300",
    ]));
    run_ok(&mut d.docker(&["run", "-d", "--name", "berth-c2", "busybox", "sleep", "300"]));
    assert_eq!(
        run_ok(&mut d.docker(&["network", "connect", "--alias", "db", &net, "berth-c2"])),
        ""
    );
    let members = run_ok(&mut d.docker(&[
        "network",
        "inspect",
        "-f",
        "{{range .Containers}}{{.Name}} {{.IPv4Address}};{{end}}",
        &net,
    ]));
    let mut members: Vec<&str> = members.trim().trim_end_matches(';').split(';').collect();
    members.sort();
    assert_eq!(members.len(), 2, "{members:?}");
    for (m, name) in members.iter().zip(["berth-c1", "berth-c2"]) {
        let (n, addr) = m.split_once(' ').expect("name and address");
        assert_eq!(n, name);
        assert!(addr.ends_with("/24"), "{m}");
    }
    let networks: Value = serde_json::from_str(&run_ok(&mut d.docker(&[
        "inspect",
        "-f",
        "{{json .NetworkSettings.Networks}}",
        "berth-c2",
    ])))
    .expect("JSON");
    let ep = &networks[&net];
    assert!(
        ep["Aliases"]
            .as_array()
            .is_some_and(|a| a.iter().any(|x| x == "db")),
        "{ep}"
    );
    assert_eq!(ep["NetworkID"], id.as_str());
    assert_eq!(ep["Gateway"], gateway.as_str());
    assert_eq!(ep["IPPrefixLen"], 24);
    assert!(
        networks.get("bridge").is_some(),
        "still on bridge: {networks}"
    );

    let busy = run(&mut d.docker(&["network", "rm", &net]));
    assert_eq!(code(&busy), 1);
    let err = stderr(&busy);
    assert!(
        err.starts_with("Error response from daemon: ")
            && err.contains("has active endpoints")
            && err.ends_with("\nexit status 1\n"),
        "{err}"
    );
    assert_eq!(
        run_ok(&mut d.docker(&["network", "disconnect", &net, "berth-c2"])),
        ""
    );
    let again = run(&mut d.docker(&["network", "disconnect", &net, "berth-c2"]));
    assert_eq!(code(&again), 1);
    assert!(
        stderr(&again).contains("is not connected to network"),
        "{}",
        stderr(&again)
    );

    // prune keeps networks in use, removes the rest, prints nothing when idle.
    assert_eq!(run_ok(&mut d.docker(&["network", "prune", "-f"])), "");
    run_ok(&mut d.docker(&["rm", "-f", "berth-c1", "berth-c2"]));
    assert_eq!(
        run_ok(&mut d.docker(&["network", "prune", "-f"])),
        format!("Deleted Networks:\n{net}\n\n")
    );
    assert_eq!(run_ok(&mut d.docker(&["network", "prune", "-f"])), "");
    let gone = run(&mut d.docker(&["network", "rm", &net]));
    assert_eq!(code(&gone), 1);
    assert_eq!(
        stderr(&gone),
        format!("Error response from daemon: network {net} not found\nexit status 1\n")
    );
}
