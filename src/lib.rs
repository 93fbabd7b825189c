//! Berth: a single-host container engine that serves the Docker Engine API.
//!
//! The library holds everything below the API edge; `src/daemon` (berthd) and
//! `src/cli` (berth) are the two binaries built on it. Dependency direction:
//! `api` (wire shapes) ← `image`, `runtime`, `network`, `logging` ← binaries.
//! None of the library modules import the binaries.

pub mod api;
pub mod fsutil;
pub mod image;
pub mod logging;
pub mod network;
pub mod runtime;
pub mod tls;
