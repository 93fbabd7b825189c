//! The daemon's firewall: one nftables table of its own (family `ip`),
//! written as JSON through `nft -j -f -`.
//!
//! The table is declarative: [`Firewall`] keeps the desired networks and
//! published ports and every change re-applies the *whole* table in one nft
//! transaction (`add table; delete table; add table …`), which the kernel
//! commits atomically. Nothing outside our table is ever read or changed,
//! so no one else's rules are flushed; established connections survive a
//! re-apply because their NAT bindings live in conntrack, not in rules; and
//! a table someone flushed or deleted comes back with [`Firewall::apply`].
//!
//! Chains (`<t>` is [`table_name`]):
//! - `prerouting` (nat, dstnat) and `output` (nat, dstnat, locally
//!   originated traffic): `fib daddr type local` → `published`, so published
//!   ports answer on every host address including 127.0.0.1;
//! - `published`: one DNAT rule per published port (optionally only for one
//!   host address);
//! - `postrouting` (nat, srcnat): masquerade a subnet going out anywhere but
//!   its bridge; masquerade DNATed connections entering a bridge from
//!   127.0.0.0/8 (needs `route_localnet` on the bridge, see
//!   [`super::sysctl`]) or from the same subnet (hairpin), so replies come
//!   back through the host;
//! - `guard` (filter, prerouting at raw priority): packets from a bridge to
//!   127.0.0.0/8 dropped. `route_localnet=1` would otherwise let a container
//!   reach the host's loopback-only services by routing 127.0.0.1 to its
//!   gateway (the hole dockerd closes with a raw-table rule too). Replies to
//!   masqueraded 127.0.0.1 connections are not affected: at raw priority they
//!   are still addressed to the bridge address;
//! - `forward` (filter, policy accept): established/related accepted;
//!   traffic from a bridge and DNATed traffic to it accepted; an internal
//!   network's traffic to or from other interfaces dropped.
//!
//! Coexistence: nftables runs every base chain registered on a hook, ours and
//! everyone else's (iptables-nft's `filter FORWARD`, legacy iptables, a
//! firewalld table); a packet must be accepted by all of them, and a `drop`
//! in any wins. Our `accept` therefore cannot override another table's drop:
//! a host whose `FORWARD` policy is DROP (dockerd sets that) blocks container
//! traffic until the admin allows the bridge there, e.g.
//! `iptables -I FORWARD -i berth0 -j ACCEPT` and
//! `iptables -I FORWARD -o berth0 -j ACCEPT`. [`foreign_forward_drop`] tells
//! whether that is the case so the daemon can warn at start.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::net::Ipv4Addr;
use std::process::{Command, Stdio};

use serde_json::{Value, json};

use super::ipam::Ipv4Net;
use super::ports::Protocol;
use crate::api::ErrorClass;

/// An nft invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum NftError {
    /// `nft` could not be run.
    #[error("run nft: {0}")]
    Spawn(#[source] io::Error),
    /// `nft` rejected the batch.
    #[error("nft {op} table ip {table}: {stderr}")]
    Rejected {
        /// What was being done.
        op: &'static str,
        /// Our table.
        table: String,
        /// nft's diagnostics.
        stderr: String,
    },
}

impl NftError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> ErrorClass {
        match self {
            NftError::Spawn(_) => ErrorClass::Unavailable,
            NftError::Rejected { .. } => ErrorClass::Internal,
        }
    }
}

/// The nft table of the daemon whose default bridge is `bridge`: `berth`
/// for `berth0`, else `berth_<bridge>` (so test daemons don't collide).
pub fn table_name(bridge: &str) -> String {
    if bridge == "berth0" {
        "berth".to_string()
    } else {
        format!("berth_{bridge}")
    }
}

/// A bridge network as the firewall sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkRules {
    /// The bridge interface.
    pub bridge: String,
    /// The subnet, host bits cleared or not.
    pub subnet: Ipv4Net,
    /// `--internal`: no masquerade, no traffic to or from other interfaces.
    pub internal: bool,
}

/// One published port: host `[ip:]port/proto` DNATed to a container.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PortRule {
    /// Host address to match, `None` for every local address.
    pub host_ip: Option<Ipv4Addr>,
    /// Host port.
    pub host_port: u16,
    /// Protocol.
    pub proto: Protocol,
    /// The container's address.
    pub container_ip: Ipv4Addr,
    /// The container port.
    pub container_port: u16,
}

/// Desired state of our table and the code that applies it.
#[derive(Debug, Clone)]
pub struct Firewall {
    table: String,
    networks: BTreeMap<String, NetworkRules>,
    ports: BTreeMap<String, Vec<PortRule>>,
}

impl Firewall {
    /// An empty desired state for `table` (see [`table_name`]); nothing is
    /// applied until a change or [`Firewall::apply`].
    pub fn new(table: impl Into<String>) -> Firewall {
        Firewall {
            table: table.into(),
            networks: BTreeMap::new(),
            ports: BTreeMap::new(),
        }
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Adds or replaces the rules of a network (keyed by its bridge) and
    /// applies. On failure the previous state is kept.
    pub fn set_network(&mut self, net: NetworkRules) -> Result<(), NftError> {
        let prev = self.networks.insert(net.bridge.clone(), net.clone());
        self.commit(|fw| match prev {
            Some(p) => fw.networks.insert(net.bridge.clone(), p),
            None => fw.networks.remove(&net.bridge),
        })
    }

    /// Drops a network's rules and applies; unknown bridges are a no-op.
    pub fn remove_network(&mut self, bridge: &str) -> Result<(), NftError> {
        let Some(prev) = self.networks.remove(bridge) else {
            return Ok(());
        };
        self.commit(|fw| fw.networks.insert(bridge.to_string(), prev))
    }

    /// Sets the published ports of `owner` (an endpoint or container id) and
    /// applies. An empty list removes them.
    pub fn set_ports(&mut self, owner: &str, rules: Vec<PortRule>) -> Result<(), NftError> {
        let prev = if rules.is_empty() {
            self.ports.remove(owner)
        } else {
            self.ports.insert(owner.to_string(), rules)
        };
        self.commit(|fw| match prev {
            Some(p) => fw.ports.insert(owner.to_string(), p),
            None => fw.ports.remove(owner),
        })
    }

    /// Removes the published ports of `owner` and applies; a no-op if none.
    pub fn remove_ports(&mut self, owner: &str) -> Result<(), NftError> {
        if !self.ports.contains_key(owner) {
            return Ok(());
        }
        self.set_ports(owner, Vec::new())
    }

    /// The published ports of every owner.
    pub fn ports(&self) -> &BTreeMap<String, Vec<PortRule>> {
        &self.ports
    }

    /// Applies, rolling the state back with `undo` if nft refused.
    fn commit<R>(&mut self, undo: impl FnOnce(&mut Firewall) -> R) -> Result<(), NftError> {
        let res = self.apply();
        if res.is_err() {
            undo(self);
        }
        res
    }

    /// (Re)writes the whole table from the desired state in one atomic
    /// transaction. Also the way to restore it after an outside flush.
    pub fn apply(&self) -> Result<(), NftError> {
        run_nft("apply", &self.table, &self.batch())
    }

    /// Deletes the table (daemon shutdown with cleanup, or tests); missing is
    /// success. The desired state is kept, so [`Firewall::apply`] restores it.
    pub fn delete(&self) -> Result<(), NftError> {
        delete_table(&self.table)
    }

    /// The JSON batch [`Firewall::apply`] sends.
    pub fn batch(&self) -> Value {
        let t = self.table.as_str();
        let mut cmds = vec![
            // `add` first so the `delete` cannot fail on a missing table.
            json!({"add": {"table": {"family": "ip", "name": t}}}),
            json!({"delete": {"table": {"family": "ip", "name": t}}}),
            json!({"add": {"table": {"family": "ip", "name": t}}}),
        ];
        let base = |name: &str, ty: &str, hook: &str, prio: i32| {
            json!({"add": {"chain": {"family": "ip", "table": t, "name": name,
                "type": ty, "hook": hook, "prio": prio, "policy": "accept"}}})
        };
        cmds.push(base("prerouting", "nat", "prerouting", -100));
        cmds.push(base("output", "nat", "output", -100));
        cmds.push(base("postrouting", "nat", "postrouting", 100));
        cmds.push(base("forward", "filter", "forward", 0));
        cmds.push(base("guard", "filter", "prerouting", -300));
        cmds.push(json!({"add": {"chain": {"family": "ip", "table": t, "name": "published"}}}));
        let rule = |chain: &str, comment: &str, expr: Vec<Value>| {
            json!({"add": {"rule": {"family": "ip", "table": t, "chain": chain,
                "comment": comment, "expr": expr}}})
        };
        let local = json!({"match": {"op": "==",
            "left": {"fib": {"result": "type", "flags": ["daddr"]}}, "right": "local"}});
        let jump = json!({"jump": {"target": "published"}});
        for chain in ["prerouting", "output"] {
            cmds.push(rule(
                chain,
                "published ports",
                vec![local.clone(), jump.clone()],
            ));
        }
        cmds.push(rule(
            "forward",
            "replies",
            vec![
                json!({"match": {"op": "in", "left": {"ct": {"key": "state"}},
                    "right": ["established", "related"]}}),
                json!({"accept": null}),
            ],
        ));
        for net in self.networks.values() {
            let comment = format!("network {}", net.bridge);
            let iif = |op: &str| json!({"match": {"op": op, "left": {"meta": {"key": "iifname"}}, "right": net.bridge}});
            let oif = |op: &str| json!({"match": {"op": op, "left": {"meta": {"key": "oifname"}}, "right": net.bridge}});
            let saddr = |addr: String, len: u8| {
                json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "saddr"}},
                    "right": {"prefix": {"addr": addr, "len": len}}}})
            };
            let dnat =
                json!({"match": {"op": "in", "left": {"ct": {"key": "status"}}, "right": "dnat"}});
            let subnet = net.subnet.network();
            cmds.push(rule(
                "guard",
                &comment,
                vec![
                    iif("=="),
                    json!({"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}},
                        "right": {"prefix": {"addr": "127.0.0.0", "len": 8}}}}),
                    json!({"drop": null}),
                ],
            ));
            if net.internal {
                cmds.push(rule(
                    "forward",
                    &comment,
                    vec![iif("=="), oif("!="), json!({"drop": null})],
                ));
                cmds.push(rule(
                    "forward",
                    &comment,
                    vec![oif("=="), iif("!="), json!({"drop": null})],
                ));
                cmds.push(rule(
                    "forward",
                    &comment,
                    vec![iif("=="), json!({"accept": null})],
                ));
                continue;
            }
            cmds.push(rule(
                "postrouting",
                &comment,
                vec![
                    saddr(subnet.addr.to_string(), subnet.prefix),
                    oif("!="),
                    json!({"masquerade": null}),
                ],
            ));
            for (addr, len) in [
                ("127.0.0.0".to_string(), 8),
                (subnet.addr.to_string(), subnet.prefix),
            ] {
                cmds.push(rule(
                    "postrouting",
                    &comment,
                    vec![
                        oif("=="),
                        dnat.clone(),
                        saddr(addr, len),
                        json!({"masquerade": null}),
                    ],
                ));
            }
            cmds.push(rule(
                "forward",
                &comment,
                vec![iif("=="), json!({"accept": null})],
            ));
            cmds.push(rule(
                "forward",
                &comment,
                vec![oif("=="), dnat.clone(), json!({"accept": null})],
            ));
        }
        for (owner, rules) in &self.ports {
            for r in rules {
                let mut expr = Vec::new();
                if let Some(ip) = r.host_ip.filter(|ip| !ip.is_unspecified()) {
                    expr.push(json!({"match": {"op": "==",
                        "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": ip.to_string()}}));
                }
                expr.push(json!({"match": {"op": "==",
                    "left": {"payload": {"protocol": r.proto.as_str(), "field": "dport"}},
                    "right": r.host_port}}));
                expr.push(
                    json!({"dnat": {"addr": r.container_ip.to_string(), "port": r.container_port}}),
                );
                cmds.push(rule("published", owner, expr));
            }
        }
        json!({"nftables": cmds})
    }
}

/// Deletes table `ip <table>` if it exists, touching nothing else.
pub fn delete_table(table: &str) -> Result<(), NftError> {
    let batch = json!({"nftables": [
        {"add": {"table": {"family": "ip", "name": table}}},
        {"delete": {"table": {"family": "ip", "name": table}}},
    ]});
    run_nft("delete", table, &batch)
}

/// Whether table `ip <table>` exists.
pub fn table_exists(table: &str) -> Result<bool, NftError> {
    let out = Command::new("nft")
        .args(["-j", "list", "tables", "ip"])
        .output()
        .map_err(NftError::Spawn)?;
    if !out.status.success() {
        return Err(NftError::Rejected {
            op: "list",
            table: table.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    Ok(v["nftables"].as_array().is_some_and(|items| {
        items
            .iter()
            .any(|i| i["table"]["name"].as_str() == Some(table))
    }))
}

/// Whether some other table has a base chain on the forward hook with a drop
/// policy (e.g. iptables' `FORWARD` after dockerd ran): our accepts cannot
/// override it (see the module doc). Legacy (non-nft) iptables rules are
/// invisible here.
pub fn foreign_forward_drop(our_table: &str) -> Result<bool, NftError> {
    let out = Command::new("nft")
        .args(["-j", "list", "chains"])
        .output()
        .map_err(NftError::Spawn)?;
    if !out.status.success() {
        return Err(NftError::Rejected {
            op: "list chains of",
            table: our_table.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    let v: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    Ok(v["nftables"].as_array().is_some_and(|items| {
        items.iter().any(|i| {
            let c = &i["chain"];
            c["hook"] == "forward"
                && c["policy"] == "drop"
                && c["table"].as_str() != Some(our_table)
        })
    }))
}

fn run_nft(op: &'static str, table: &str, batch: &Value) -> Result<(), NftError> {
    let mut child = Command::new("nft")
        .args(["-j", "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(NftError::Spawn)?;
    let body = batch.to_string();
    let written = child
        .stdin
        .take()
        .map(|mut stdin| stdin.write_all(body.as_bytes()));
    let out = child.wait_with_output().map_err(NftError::Spawn)?;
    if let Some(Err(e)) = written
        && out.status.success()
    {
        return Err(NftError::Spawn(e));
    }
    if !out.status.success() {
        return Err(NftError::Rejected {
            op,
            table: table.to_string(),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fw() -> Firewall {
        let mut fw = Firewall::new(table_name("berthtest1"));
        fw.networks.insert(
            "berthtest1".into(),
            NetworkRules {
                bridge: "berthtest1".into(),
                subnet: "10.201.3.1/24".parse().unwrap(),
                internal: false,
            },
        );
        fw.ports.insert(
            "c1".into(),
            vec![PortRule {
                host_ip: Some(Ipv4Addr::LOCALHOST),
                host_port: 8080,
                proto: Protocol::Udp,
                container_ip: Ipv4Addr::new(10, 201, 3, 2),
                container_port: 80,
            }],
        );
        fw
    }

    fn rules(batch: &Value, chain: &str) -> Vec<Value> {
        batch["nftables"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["add"]["rule"]["chain"] == chain)
            .map(|c| c["add"]["rule"].clone())
            .collect()
    }

    #[test]
    fn table_names_follow_the_bridge() {
        assert_eq!(table_name("berth0"), "berth");
        assert_eq!(table_name("berth1a2b3c4d"), "berth_berth1a2b3c4d");
    }

    #[test]
    fn batch_recreates_only_our_table() {
        let b = fw().batch();
        let cmds = b["nftables"].as_array().unwrap();
        assert_eq!(
            cmds[0],
            json!({"add": {"table": {"family": "ip", "name": "berth_berthtest1"}}})
        );
        assert_eq!(
            cmds[1],
            json!({"delete": {"table": {"family": "ip", "name": "berth_berthtest1"}}})
        );
        for c in cmds {
            let obj = c.as_object().unwrap().values().next().unwrap();
            let inner = obj.as_object().unwrap().values().next().unwrap();
            let table = inner
                .get("table")
                .and_then(Value::as_str)
                .or(inner["name"].as_str());
            assert_eq!(table, Some("berth_berthtest1"), "{c}");
            assert_ne!(c.as_object().unwrap().keys().next().unwrap(), "flush");
        }
    }

    #[test]
    fn published_ports_become_dnat_rules() {
        let b = fw().batch();
        let p = rules(&b, "published");
        assert_eq!(p.len(), 1);
        assert_eq!(p[0]["comment"], "c1");
        assert_eq!(
            p[0]["expr"],
            json!([
                {"match": {"op": "==", "left": {"payload": {"protocol": "ip", "field": "daddr"}}, "right": "127.0.0.1"}},
                {"match": {"op": "==", "left": {"payload": {"protocol": "udp", "field": "dport"}}, "right": 8080}},
                {"dnat": {"addr": "10.201.3.2", "port": 80}}
            ])
        );
        for chain in ["prerouting", "output"] {
            assert_eq!(
                rules(&b, chain)[0]["expr"][1],
                json!({"jump": {"target": "published"}})
            );
        }
        let post = rules(&b, "postrouting");
        assert_eq!(post.len(), 3);
        assert_eq!(
            post[0]["expr"][0]["match"]["right"],
            json!({"prefix": {"addr": "10.201.3.0", "len": 24}})
        );
        assert_eq!(
            post[1]["expr"][2]["match"]["right"]["prefix"]["addr"],
            "127.0.0.0"
        );
    }

    #[test]
    fn internal_networks_get_no_masquerade() {
        let mut f = fw();
        f.networks.get_mut("berthtest1").unwrap().internal = true;
        f.ports.clear();
        let b = f.batch();
        assert!(rules(&b, "postrouting").is_empty());
        assert_eq!(rules(&b, "guard").len(), 1);
        let fwd = rules(&b, "forward");
        assert_eq!(
            fwd.iter()
                .filter(|r| r["expr"][2] == json!({"drop": null}))
                .count(),
            2
        );
    }
}
