//! Images: a content-addressed blob store, overlay-ready snapshots of layers,
//! the reference index, and the archive formats (`load`, `save`, `import`).
//!
//! CONTRACT (the daemon codes against this surface): every method is blocking and safe
//! to call from `spawn_blocking`; the store is `Clone + Send + Sync` and serialises
//! index updates internally.
//!
//! On-disk layout (under the data root):
//! - `image/blobs/sha256/<hex>`: configs, layer blobs (as received: plain, gzip or zstd)
//!   and OCI manifests, each verified against its digest before it is renamed in.
//! - `image/ingest/`: temp files (`tmp-*`) and per-load work dirs (`load-*`); swept at open.
//! - `image/index.json`: `{"version":1,"images":{<id>:{layers:[...],...}},"references":{...}}`
//!   ([`index::Index`]), written atomically.
//! - `snapshots/<chain-hex>/{diff/,meta.json}`: one unpacked layer per chain ID, built in
//!   `snapshots/tmp-*` and renamed in; `snapshots/del-*` are removals in progress. Both
//!   prefixes are swept at open. One `syncfs` per load/import makes the data durable before
//!   the index names it.

pub mod apply;
pub mod archive;
pub mod blobs;
pub mod config;
pub mod digest;
pub mod error;
pub mod fixture;
pub mod index;
pub mod reference;
pub mod snapshot;
pub mod store;
#[cfg(test)]
mod testutil;

pub use error::ImageError;
pub use store::{ImageStore, ImageUser, ImportOptions, ResolvedImage};
