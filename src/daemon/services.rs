//! The daemon's subsystems, each with its own lock and directory; handlers
//! reach them through this (no god object: it only holds the parts).

use std::sync::Arc;

use berth::image::ImageStore;

use crate::config::Config;
use crate::containers::ContainerService;
use crate::execs::ExecService;
use crate::network::NetworkService;
use crate::stats::Collector;

/// Everything a request handler can use.
pub struct Services {
    /// The effective configuration.
    pub config: Config,
    /// The options a `SIGHUP` may change; read these here, not in `config`.
    pub live: Arc<crate::reload::Live>,
    /// The hosts the API is served on (`unix:///…`, `fd://`, `tcp://…`).
    pub serving_on: Vec<String>,
    /// The stable ID of this engine (`Info.ID`), kept in the data root.
    pub engine_id: String,
    /// Images and layers.
    pub images: ImageStore,
    /// Containers.
    pub containers: Arc<ContainerService>,
    /// Networks and the containers' sandboxes.
    pub networks: Arc<NetworkService>,
    /// The event bus behind `GET /events`.
    pub events: Arc<crate::events::Events>,
    /// Containers' last statistics samples.
    pub stats: Arc<Collector>,
    /// Exec instances.
    pub execs: Arc<ExecService>,
}
