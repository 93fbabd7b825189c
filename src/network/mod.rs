//! Networking kernel adapters.

pub mod loopback;
