//! Request handlers, one module per API area. Each parses and validates the
//! request, calls a service, and shapes Docker's response.

pub mod archive;
pub mod build;
pub mod containers;
pub mod events;
pub mod exec;
pub mod images;
pub mod logs;
pub mod networks;
pub mod prune;
pub mod registry;
pub mod resources;
pub mod system;
pub mod volumes;
