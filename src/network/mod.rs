//! Networking kernel adapters and pure network logic: named network
//! namespaces ([`netns`]), links/addresses/routes over rtnetlink ([`link`]),
//! sysctls ([`sysctl`]), our nftables table ([`nft`]), IPv4 address
//! management ([`ipam`]) and published-port specs and reservations
//! ([`ports`]). Nothing here knows about containers or the daemon; the
//! daemon's network service composes these.

pub mod ipam;
pub mod link;
pub mod loopback;
pub mod netns;
pub mod nft;
pub mod ports;
pub mod sysctl;
