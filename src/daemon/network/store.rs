//! The persisted networks: one `<data-root>/network/networks/<id>.json` per
//! network (the three predefined ones too, so their IDs stay put across
//! restarts, as in dockerd).

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::Path;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use berth::network::ipam::Ipv4Net;

use super::NetworkError;
use super::jsondir::JsonDir;

/// Version of the network files.
pub const NETWORK_VERSION: u32 = 1;

/// Which driver a network uses, with Docker's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Driver {
    /// A Linux bridge with NAT (the default `bridge` network and user networks).
    Bridge,
    /// The host's own network stack.
    Host,
    /// Only `lo` (Docker's `none` network).
    Null,
}

impl Driver {
    /// Docker's driver name.
    pub fn as_str(self) -> &'static str {
        match self {
            Driver::Bridge => "bridge",
            Driver::Host => "host",
            Driver::Null => "null",
        }
    }
}

/// One network as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NetworkRecord {
    /// [`NETWORK_VERSION`].
    pub version: u32,
    /// 64 hex digits.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Its driver.
    pub driver: Driver,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// One of the predefined `bridge`, `host`, `none`.
    pub predefined: bool,
    /// No outbound NAT, no published ports (`--internal`).
    pub internal: bool,
    /// `--label`s.
    pub labels: BTreeMap<String, String>,
    /// Driver options as given (`-o`).
    pub options: BTreeMap<String, String>,
    /// The Linux bridge (bridge driver only).
    pub bridge: String,
    /// The subnet (bridge driver only).
    pub subnet: Option<Ipv4Net>,
    /// The bridge's own address, the containers' default gateway.
    pub gateway: Option<Ipv4Addr>,
    /// Whether the user gave the subnet (inspect shows the IPAM config as given).
    #[serde(default)]
    pub user_ipam: bool,
}

impl NetworkRecord {
    /// Whether containers on it resolve each other by name (user networks).
    pub fn has_dns(&self) -> bool {
        self.driver == Driver::Bridge && !self.predefined
    }

    /// The gateway with the subnet's prefix, as the bridge carries it.
    pub fn bridge_address(&self) -> Option<Ipv4Net> {
        Some(Ipv4Net {
            addr: self.gateway?,
            prefix: self.subnet?.prefix,
        })
    }
}

/// The directory of network files.
#[derive(Debug, Clone)]
pub struct Store {
    files: JsonDir,
}

impl Store {
    /// Opens (creating) `<root>/networks`.
    pub fn open(root: &Path) -> Result<Store, NetworkError> {
        Ok(Store {
            files: JsonDir::open(root, "networks")?,
        })
    }

    /// Every readable network file; unreadable ones are logged and skipped.
    pub fn load(&self) -> Result<Vec<NetworkRecord>, NetworkError> {
        self.files.load("network")
    }

    /// Writes `rec` atomically.
    pub fn save(&self, rec: &NetworkRecord) -> Result<(), NetworkError> {
        self.files.save(&rec.id, rec)
    }

    /// Deletes the file of `id`; a missing file is fine.
    pub fn delete(&self, id: &str) -> Result<(), NetworkError> {
        self.files.delete(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_through_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let rec = NetworkRecord {
            version: NETWORK_VERSION,
            id: "a".repeat(64),
            name: "berth-net".into(),
            driver: Driver::Bridge,
            created: Utc::now(),
            predefined: false,
            internal: true,
            labels: BTreeMap::from([("k".into(), "v".into())]),
            options: BTreeMap::new(),
            bridge: "br-aaaaaaaaaaaa".into(),
            subnet: Some("10.5.0.0/24".parse().unwrap()),
            gateway: Some(Ipv4Addr::new(10, 5, 0, 1)),
            user_ipam: true,
        };
        store.save(&rec).unwrap();
        assert_eq!(store.load().unwrap(), vec![rec.clone()]);
        assert_eq!(rec.bridge_address().unwrap().to_string(), "10.5.0.1/24");
        store.delete(&rec.id).unwrap();
        store.delete(&rec.id).unwrap();
        assert!(store.load().unwrap().is_empty());
    }
}
