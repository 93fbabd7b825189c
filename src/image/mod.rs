//! Images: a content-addressed blob store, overlay-ready snapshots of layers,
//! the reference index, and the archive formats (`load`, `save`, `import`).
//!
//! CONTRACT (the daemon codes against this surface; the bodies are being written):
//! every method is blocking and safe to call from `spawn_blocking`; the store
//! is `Clone + Send + Sync` and serialises index updates internally.

pub mod error;
pub mod store;

pub use error::ImageError;
pub use store::{ImageStore, ImportOptions, ResolvedImage};
