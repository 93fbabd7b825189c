//! Images: a content-addressed blob store, overlay-ready snapshots of layers,
//! the reference index, and the archive formats (`load`, `save`, `import`).
//!
//! CONTRACT (the daemon codes against this surface): every method is blocking and safe
//! to call from `spawn_blocking`; the store is `Clone + Send + Sync` and serialises
//! index updates internally.
//!
//! On-disk layout (under the data root):
//! - `image/blobs/sha256/<hex>`: configs, compressed layer blobs (gzip or zstd, as
//!   received) and OCI manifests, each verified against its digest before it is renamed in.
//!   Uncompressed layers have no blob (see `tar-split.gz` below); index version 1 records
//!   still name theirs.
//! - `image/ingest/`: temp files (`tmp-*`) and per-load work dirs (`load-*`); swept at open.
//! - `image/index.json`: `{"version":2,"images":{<id>:{layers:[...],...}},"references":{...}}`
//!   ([`index::Index`]), written atomically. Version 2 added each layer's `stored`:
//!   `"blob"` (the blob store has it) or `"snapshot"` (kept beside the snapshot, `digest`
//!   = diff ID); a version 1 file loads with every layer `"blob"`, as it was.
//! - `snapshots/<chain-hex>/{diff/,meta.json}`: one unpacked layer per chain ID, built in
//!   `snapshots/tmp-*` and renamed in; `snapshots/del-*` are removals in progress. Both
//!   prefixes are swept at open. One `syncfs` per load/import makes the data durable before
//!   the index names it.
//! - `snapshots/<chain-hex>/tar-split.gz` (or, rarely, `layer.tar`): how a layer that came
//!   as a plain tar is kept instead of a blob ([`tarsplit`]): the tar's non-content bytes
//!   plus references to `diff/` files, from which `save` regenerates the exact tar and
//!   checks it against the diff ID. Written inside the temp snapshot (so it is renamed in
//!   with it and swept with it); a snapshot that lacks one (unpacked from a compressed
//!   blob) adopts it, by rename, when a plain copy of the same layer is loaded. It goes
//!   with the snapshot directory on `rmi`.
//! - `image/distribution.json`: per diff ID, the compressed blobs known for the layer and
//!   the registry repositories holding them (pull/push, [`store::distribution`]);
//!   `snapshots/<chain-hex>/push-<hex>.gz` is a gzip made to push a layer that has no blob.

pub mod apply;
pub mod archive;
pub mod blobs;
pub mod build;
pub mod commit;
pub mod config;
pub mod diff;
pub mod digest;
pub mod error;
pub mod fixture;
pub mod index;
pub mod reference;
pub mod registry;
pub mod snapshot;
pub mod store;
pub mod tarsplit;
#[cfg(test)]
mod testutil;

pub use error::ImageError;
pub use store::{ImageStore, ImageUser, ImportOptions, ResolvedImage};
