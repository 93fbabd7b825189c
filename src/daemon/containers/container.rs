//! One container as the daemon knows it: its configuration (fixed at create),
//! its state (changed by start and exit), the clients attached to its output
//! and the clients waiting for it to exit or be removed.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Mutex, RwLock};

use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use berth::api::models::{ContainerConfig, EndpointSettings, HostConfig};
use berth::runtime::cgroups::CgroupPaths;
use berth::runtime::client::Control;

/// Version of the files in a container's state directory.
pub const STATE_VERSION: u32 = 1;

/// What a container was created as; written once to `config.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Definition {
    /// Layout version.
    pub version: u32,
    /// 64 hex digits.
    pub id: String,
    /// Without the leading `/`.
    pub name: String,
    /// Creation time.
    pub created: DateTime<Utc>,
    /// `sha256:` ID of the image.
    pub image_id: String,
    /// The merged container config (request over image).
    pub config: ContainerConfig,
    /// The executable (first word of entrypoint + cmd).
    pub path: String,
    /// Its arguments.
    pub args: Vec<String>,
    /// Overlay lowerdirs of the image, lowest first.
    pub layers: Vec<PathBuf>,
}

/// The lifecycle phase, with Docker's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Made but never started.
    Created,
    /// Its process runs.
    Running,
    /// Its process ended.
    Exited,
    /// Being removed.
    Removing,
}

impl Status {
    /// Docker's `State.Status` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Exited => "exited",
            Status::Removing => "removing",
        }
    }
}

/// The mutable part, written to `state.json` on every change.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunState {
    /// Layout version.
    pub version: u32,
    /// Lifecycle phase.
    pub status: Status,
    /// Host PID of the container's process while it runs.
    pub pid: i32,
    /// Exit code of the last run (128+N after signal N).
    pub exit_code: i64,
    /// Why the last start failed, if it did.
    pub error: String,
    /// Last start.
    pub started_at: Option<DateTime<Utc>>,
    /// Last exit, RFC 3339 with nanoseconds as the supervisor recorded it.
    pub finished_at: Option<String>,
    /// Frozen by `pause` (only while running).
    #[serde(default)]
    pub paused: bool,
    /// The last run ended by the kernel's OOM killer.
    #[serde(default)]
    pub oom_killed: bool,
    /// The cgroup of the current or last run, removed with the container.
    #[serde(default)]
    pub cgroup: Option<CgroupPaths>,
    /// Restarts made by the restart policy since the last start through
    /// the API (`RestartCount`).
    #[serde(default)]
    pub restart_count: u64,
    /// The user stopped or killed it through the API since its last start
    /// (dockerd's `HasBeenManuallyStopped`).
    #[serde(default)]
    pub manually_stopped: bool,
    /// Waiting out the back-off before its policy starts it again; `status`
    /// stays `Running` meanwhile, with no pid, as dockerd's `Restarting`.
    #[serde(default)]
    pub restarting: bool,
    /// `State.Health`: set at the first start of a container with a health
    /// check, kept after it stops (see `health.rs`).
    #[serde(default)]
    pub health: Option<super::health::Health>,
}

impl RunState {
    /// The state of a container that was just created.
    pub fn created() -> RunState {
        RunState {
            version: STATE_VERSION,
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            error: String::new(),
            started_at: None,
            finished_at: None,
            paused: false,
            oom_killed: false,
            cgroup: None,
            restart_count: 0,
            manually_stopped: false,
            restarting: false,
            health: None,
        }
    }
}

/// Which output stream a chunk came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// fd 1.
    Stdout,
    /// fd 2.
    Stderr,
}

/// A chunk of container output on its way to an attached client.
pub type Output = (Stream, Bytes);

/// A container in the daemon's table.
#[derive(Debug)]
pub struct Container {
    /// What it was created as (`def.name` is the name at creation; see [`Container::name`]).
    pub def: Definition,
    /// The current name, without the leading `/` (rename changes it).
    pub(super) name: RwLock<String>,
    /// Host settings from the create request, as `update` changed them.
    pub(super) host_config: RwLock<HostConfig>,
    /// `<data-root>/containers/<id>`.
    pub state_dir: PathBuf,
    /// `<exec-root>/containers/<id>`.
    pub run_dir: PathBuf,
    /// Serialises start, stop, restart, rename and remove on this container.
    pub op: tokio::sync::Mutex<()>,
    pub(super) state: Mutex<RunState>,
    pub(super) attached: Mutex<Vec<mpsc::UnboundedSender<Output>>>,
    pub(super) exit_waiters: Mutex<Vec<oneshot::Sender<i64>>>,
    pub(super) removal_waiters: Mutex<Vec<oneshot::Sender<i64>>>,
    /// The supervisor's control handle while the container runs.
    pub(super) control: watch::Sender<Option<Control>>,
    /// The networks it joins when it starts, by network name, with the
    /// endpoint settings asked for (`networks.json`; connect and disconnect
    /// change it).
    pub(super) networks: Mutex<BTreeMap<String, EndpointSettings>>,
    /// Back-off and cancellation of its restart policy (in memory only).
    pub(super) restart: Mutex<super::restart::Manager>,
}

impl Container {
    pub(super) fn new(
        def: Definition,
        host_config: HostConfig,
        state: RunState,
        state_dir: PathBuf,
        run_dir: PathBuf,
    ) -> Container {
        Container {
            name: RwLock::new(def.name.clone()),
            def,
            host_config: RwLock::new(host_config),
            state_dir,
            run_dir,
            op: tokio::sync::Mutex::new(()),
            state: Mutex::new(state),
            attached: Mutex::new(Vec::new()),
            exit_waiters: Mutex::new(Vec::new()),
            removal_waiters: Mutex::new(Vec::new()),
            control: watch::channel(None).0,
            networks: Mutex::new(BTreeMap::new()),
            restart: Mutex::new(super::restart::Manager::default()),
        }
    }

    /// The networks it joins when it starts, by name.
    pub fn networks(&self) -> BTreeMap<String, EndpointSettings> {
        self.networks.lock().expect("networks lock").clone()
    }

    /// The current name, without the leading `/`.
    pub fn name(&self) -> String {
        self.name.read().expect("name lock").clone()
    }

    /// A copy of the host settings.
    pub fn host_config(&self) -> HostConfig {
        self.host_config.read().expect("host config lock").clone()
    }

    /// A copy of the current state.
    pub fn state(&self) -> RunState {
        self.state.lock().expect("state lock").clone()
    }

    /// Registers an attached client; it gets every output chunk from now on
    /// and sees its channel close when the container exits.
    pub fn attach(&self) -> mpsc::UnboundedReceiver<Output> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.attached.lock().expect("attach lock").push(tx);
        rx
    }

    /// Resolves with the exit code of the next exit.
    pub fn next_exit(&self) -> oneshot::Receiver<i64> {
        let (tx, rx) = oneshot::channel();
        let mut waiters = self.exit_waiters.lock().expect("waiter lock");
        // Callers that checked and found nothing to wait for dropped theirs.
        waiters.retain(|w| !w.is_closed());
        waiters.push(tx);
        rx
    }

    /// Resolves with the exit code once the container is removed.
    pub fn removal(&self) -> oneshot::Receiver<i64> {
        let (tx, rx) = oneshot::channel();
        self.removal_waiters.lock().expect("waiter lock").push(tx);
        rx
    }

    /// Watches for the control handle of the running process (stdin, signals).
    pub fn control(&self) -> watch::Receiver<Option<Control>> {
        self.control.subscribe()
    }

    pub(super) fn fan_out(&self, stream: Stream, data: Bytes) {
        self.attached
            .lock()
            .expect("attach lock")
            .retain(|tx| tx.send((stream, data.clone())).is_ok());
    }
}
