//! The container table: create, start, stop, restart, kill, rename, remove,
//! wait, attach, pause, unpause, update of limits, and adoption of containers
//! that outlived a previous daemon (a paused one stays paused). Each
//! container's files live in `<data-root>/containers/<id>/` (config.json,
//! hostconfig.json, state.json, mounts.json, upper/, work/) and `<exec-root>/containers/<id>/`
//! (supervisor socket, spec). The table is rebuilt from those at start.

mod container;
pub mod health;
pub mod hostcfg;
pub mod logs;
pub mod merge;
pub mod mounts;
mod names;
pub mod netcfg;
mod reconcile;
pub mod resources;
pub mod restart;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::Utc;
use tokio::sync::mpsc;

use berth::api::models::{
    ContainerConfig, ContainerUpdateBody, EndpointSettings, HostConfig, NetworkingConfig,
};
use berth::fsutil::{atomic_write, create_private_dir, random_id};
use berth::image::{ImageStore, ImageUser, ResolvedImage};
use berth::runtime::cgroups::{CgroupPaths, Hierarchy};
use berth::runtime::client::{self, Event};
use berth::runtime::spec::{CgroupSpec, ContainerSpec};

pub use container::{Container, Definition, RunState, STATE_VERSION, Status, Stream};
pub use reconcile::quarantined;
pub use resources::HostSupport;

use crate::error::{ApiError, ApiResult};
use crate::network::runtime::SetupRequest;
use crate::network::{Driver, NetworkRecord, NetworkService};
use netcfg::NetMode;

/// The daemon's containers.
pub struct ContainerService {
    data_dir: PathBuf,
    run_dir: PathBuf,
    exe: PathBuf,
    cgroups: Cgroups,
    table: RwLock<HashMap<String, Arc<Container>>>,
    networks: Arc<NetworkService>,
    /// Volumes, which containers reference and `rm -v` removes.
    volumes: Arc<crate::volumes::VolumeService>,
    /// The event bus lifecycle changes are published to.
    pub events: Arc<crate::events::Events>,
    /// Set when the daemon stops: no restart policy acts from then on, and
    /// the stops of a shutdown do not count as the user's.
    shutting_down: std::sync::atomic::AtomicBool,
    /// Set once the daemon's start-up (adoption, networks) is done: restarts
    /// wait for it, as dockerd's `waitForStartupDone`.
    started_up: tokio::sync::watch::Sender<bool>,
    /// The health-check monitors of running containers.
    health: health::Monitors,
    /// The daemon's `--userns-remap`, if any.
    userns: Option<crate::userns::Remap>,
}

/// How containers get their cgroups.
#[derive(Debug, Clone)]
pub struct Cgroups {
    /// The host's hierarchy, or why there is no usable one (containers then
    /// run without a cgroup, and a start that asks for limits fails).
    pub hierarchy: Result<Hierarchy, String>,
    /// What the hierarchy can limit.
    pub support: HostSupport,
    /// Parent of containers without their own `CgroupParent`.
    pub parent: String,
}

impl Cgroups {
    /// Detects the host's hierarchy once, for the daemon's lifetime.
    pub fn detect(parent: String) -> Cgroups {
        let hierarchy = Hierarchy::detect().map_err(|e| e.to_string());
        if let Err(e) = &hierarchy {
            tracing::warn!(error = %e, "no usable cgroups: containers run without limits");
        }
        let support = HostSupport::detect(hierarchy.as_ref().ok());
        Cgroups {
            hierarchy,
            support,
            parent,
        }
    }

    /// Checks the daemon's parent the way a container's cgroup path is
    /// checked, so a bad `--cgroup-parent` stops berthd instead of every start.
    pub fn check_parent(&self) -> Result<(), berth::runtime::cgroups::CgroupError> {
        match &self.hierarchy {
            Ok(h) => h.container(&self.parent, "berth-check").map(drop),
            Err(_) => Ok(()),
        }
    }
}

/// What `create` needs besides the request body.
pub struct CreateRequest {
    /// `?name=`, possibly with a leading `/`.
    pub name: Option<String>,
    /// The request's Config.
    pub config: ContainerConfig,
    /// The request's HostConfig.
    pub host_config: HostConfig,
    /// The request's NetworkingConfig.
    pub networking: Option<NetworkingConfig>,
}

/// The file in a container's state dir listing the networks it joins.
const NETWORKS_FILE: &str = "networks.json";

fn io_err(what: &str, path: &Path, e: std::io::Error) -> ApiError {
    ApiError::internal(format!("{what} {}: {e}", path.display()))
}

impl ContainerService {
    /// Opens the table under the given roots, loading every container on disk.
    /// `exe` is the `berth-supervisor` binary, started once per container.
    pub fn open(
        data_root: &Path,
        exec_root: &Path,
        exe: PathBuf,
        networks: Arc<NetworkService>,
        cgroups: Cgroups,
    ) -> std::io::Result<ContainerService> {
        let data_dir = data_root.join("containers");
        let run_dir = exec_root.join("containers");
        create_private_dir(&data_dir)?;
        create_private_dir(&run_dir)?;
        let svc = ContainerService {
            data_dir,
            run_dir,
            exe,
            cgroups,
            table: RwLock::new(HashMap::new()),
            networks,
            volumes: Arc::new(crate::volumes::VolumeService::open(data_root)?),
            events: Arc::new(crate::events::Events::new()),
            shutting_down: std::sync::atomic::AtomicBool::new(false),
            started_up: tokio::sync::watch::channel(false).0,
            health: health::Monitors::default(),
            userns: None,
        };
        for entry in std::fs::read_dir(&svc.data_dir)? {
            let path = entry?.path();
            // `.removing-<id>`: an `rm` cut short, finished by crash recovery.
            if path
                .file_name()
                .is_some_and(|n| n.as_encoded_bytes().starts_with(b"."))
            {
                continue;
            }
            match svc.load_one(&path) {
                Ok(c) => {
                    svc.register_mounts(&c);
                    svc.table
                        .write()
                        .expect("table lock")
                        .insert(c.def.id.clone(), Arc::new(c));
                }
                // Crash recovery (`adopt`) quarantines or finishes it.
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "container state did not load")
                }
            }
        }
        Ok(svc)
    }

    /// Runs containers (unless they ask for `--userns=host`) in user
    /// namespaces with `remap`'s maps (the daemon's `--userns-remap`).
    pub fn with_userns(mut self, remap: Option<crate::userns::Remap>) -> ContainerService {
        self.userns = remap;
        self
    }

    /// The user-namespace maps `c` runs with (the daemon's `--userns-remap`
    /// unless it asked for `--userns=host`): what `cp`, `export` and
    /// `commit` translate owners through.
    pub fn id_mapping(&self, c: &Container) -> Option<berth::runtime::userns::IdMapping> {
        crate::userns::for_container(self.userns.as_ref(), &c.host_config())
    }

    fn load_one(&self, dir: &Path) -> std::io::Result<Container> {
        let read = |name: &str| std::fs::read(dir.join(name));
        let def: Definition = serde_json::from_slice(&read("config.json")?)?;
        let host_config: HostConfig = serde_json::from_slice(&read("hostconfig.json")?)?;
        // A container recorded as running stays so until `adopt` checks it.
        let state: RunState = serde_json::from_slice(&read("state.json")?)?;
        let state_dir = dir.to_path_buf();
        let run_dir = self.run_dir.join(&def.id);
        // Containers made before berthd had networks join the default bridge.
        let networks: BTreeMap<String, EndpointSettings> = match read(NETWORKS_FILE) {
            Ok(b) => serde_json::from_slice(&b)?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                BTreeMap::from([("bridge".to_owned(), EndpointSettings::default())])
            }
            Err(e) => return Err(e),
        };
        let c = Container::new(def, host_config, state, state_dir, run_dir);
        *c.networks.lock().expect("networks lock") = networks;
        Ok(c)
    }

    /// The IDs of the running containers.
    pub fn running_ids(&self) -> Vec<String> {
        self.all()
            .into_iter()
            .filter(|c| c.state().status == Status::Running)
            .map(|c| c.def.id.clone())
            .collect()
    }

    /// The daemon's cgroup setup.
    pub fn cgroups(&self) -> &Cgroups {
        &self.cgroups
    }

    /// Every container, in no particular order.
    pub fn all(&self) -> Vec<Arc<Container>> {
        self.table
            .read()
            .expect("table lock")
            .values()
            .cloned()
            .collect()
    }

    /// A container created from `image_id`, a running one if there is any,
    /// as image removal needs to know.
    pub fn image_user(&self, image_id: &str) -> Option<ImageUser> {
        let table = self.table.read().expect("table lock");
        let users = table.values().filter(|c| c.def.image_id == image_id);
        users
            .map(|c| ImageUser {
                container_id: c.def.id.clone(),
                running: c.state().status == Status::Running,
            })
            .max_by_key(|u| u.running)
    }

    /// Finds a container by full ID, name (with or without `/`) or unique ID prefix.
    pub fn get(&self, key: &str) -> ApiResult<Arc<Container>> {
        let table = self.table.read().expect("table lock");
        if let Some(c) = table.get(key) {
            return Ok(c.clone());
        }
        let name = key.strip_prefix('/').unwrap_or(key);
        if let Some(c) = table.values().find(|c| c.name() == name) {
            return Ok(c.clone());
        }
        let mut matches = table
            .values()
            .filter(|c| !key.is_empty() && c.def.id.starts_with(key));
        match (matches.next(), matches.next()) {
            (Some(c), None) => Ok(c.clone()),
            (Some(_), Some(_)) => Err(ApiError::invalid(format!(
                "multiple IDs found with provided prefix: {key}"
            ))),
            _ => Err(ApiError::not_found(format!("No such container: {key}"))),
        }
    }

    /// `POST /containers/create`: the container and dockerd's warnings.
    pub fn create(
        &self,
        mut req: CreateRequest,
        image: ResolvedImage,
    ) -> ApiResult<(Arc<Container>, Vec<String>)> {
        hostcfg::validate(&req.config, &req.host_config)?;
        restart::validate(&req.host_config)?;
        health::validate(&req.config).map_err(|e| ApiError::new(e.class(), e.to_string()))?;
        crate::userns::validate(self.userns.is_some(), &req.host_config)?;
        let networks = netcfg::validate(
            &self.networks,
            &req.config,
            &req.host_config,
            req.networking.as_ref(),
        )?;
        let warnings = resources::prepare_create(&mut req.host_config, &self.cgroups.support)?;
        let id = random_id();
        if let Ok(h) = &self.cgroups.hierarchy {
            h.container(&self.cgroup_parent(&req.host_config), &id)
                .map_err(|e| ApiError::new(e.class(), e.to_string()))?;
        }
        let name = self.pick_name(req.name, &id)?;
        let mut config = merge::merge_image_config(req.config, &image.config);
        let argv = merge::command_line(&config)
            .ok_or_else(|| ApiError::invalid("no command specified"))?;
        if config.hostname.as_deref().is_none_or(str::is_empty) {
            // dockerd: a host-network container is named like the host.
            let host_name = (NetMode::of(&req.host_config) == NetMode::Host)
                .then(|| nix::unistd::gethostname().ok())
                .flatten()
                .and_then(|h| h.into_string().ok());
            config.hostname = Some(host_name.unwrap_or_else(|| id[..12].to_owned()));
        }
        config.image = config.image.clone().or_else(|| Some(image.id.clone()));
        let mounts = self.prepare_mounts(&id, &req.host_config, &config, &image.config)?;
        let def = Definition {
            version: STATE_VERSION,
            id: id.clone(),
            name,
            created: Utc::now(),
            image_id: image.id,
            config,
            path: argv[0].clone(),
            args: argv[1..].to_vec(),
            layers: image.layers,
        };
        let state_dir = self.data_dir.join(&id);
        let run_dir = self.run_dir.join(&id);
        let c = Container::new(
            def,
            req.host_config,
            RunState::created(),
            state_dir,
            run_dir,
        );
        *c.networks.lock().expect("networks lock") = networks;
        if let Err(e) = self.write_new(&c).and_then(|()| mounts.save(&c.state_dir)) {
            let _ = std::fs::remove_dir_all(&c.state_dir);
            mounts.abort();
            return Err(e);
        }
        let c = Arc::new(c);
        let mut table = self.table.write().expect("table lock");
        if let Some(other) = table.values().find(|o| o.name() == c.def.name) {
            let _ = std::fs::remove_dir_all(&c.state_dir);
            mounts.abort();
            return Err(name_conflict(&c.def.name, &other.def.id));
        }
        table.insert(id, c.clone());
        self.events.container(&c, "create", &[]);
        Ok((c, warnings))
    }

    /// `HostConfig.CgroupParent`, else the daemon's.
    fn cgroup_parent(&self, h: &HostConfig) -> String {
        h.cgroup_parent
            .clone()
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| self.cgroups.parent.clone())
    }

    fn pick_name(&self, requested: Option<String>, id: &str) -> ApiResult<String> {
        let table = self.table.read().expect("table lock");
        let taken = |n: &str| {
            table
                .values()
                .find(|c| c.name() == n)
                .map(|c| c.def.id.clone())
        };
        match requested.filter(|n| !n.is_empty()) {
            Some(raw) => {
                let name = raw.strip_prefix('/').unwrap_or(&raw).to_owned();
                if !names::is_valid(&name) {
                    return Err(ApiError::invalid(format!(
                        "Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
                    )));
                }
                match taken(&name) {
                    Some(other) => Err(name_conflict(&name, &other)),
                    None => Ok(name),
                }
            }
            None => Ok((0..)
                .map(names::generate)
                .take(16)
                .find(|n| taken(n).is_none())
                .unwrap_or_else(|| id[..12].to_owned())),
        }
    }

    fn write_new(&self, c: &Container) -> ApiResult<()> {
        for dir in [
            c.state_dir.clone(),
            c.state_dir.join("upper"),
            c.state_dir.join("work"),
        ] {
            create_private_dir(&dir).map_err(|e| io_err("creating", &dir, e))?;
        }
        write_json(&c.state_dir.join("config.json"), &c.def)?;
        write_json(&c.state_dir.join("hostconfig.json"), &c.host_config())?;
        write_json(&c.state_dir.join(NETWORKS_FILE), &c.networks())?;
        self.save_state(c, &c.state())
    }

    fn save_state(&self, c: &Container, state: &RunState) -> ApiResult<()> {
        write_json(&c.state_dir.join("state.json"), state)
    }

    fn set_state(&self, c: &Container, f: impl FnOnce(&mut RunState)) -> ApiResult<RunState> {
        let snapshot = {
            let mut st = c.state.lock().expect("state lock");
            f(&mut st);
            st.clone()
        };
        self.save_state(c, &snapshot)?;
        Ok(snapshot)
    }

    /// `POST /containers/{id}/start`. Returns false when it already runs (304).
    /// A container that fails to start and asked to be auto-removed is
    /// removed, as dockerd does, so clients waiting for its removal return.
    pub async fn start(self: &Arc<Self>, c: &Arc<Container>) -> ApiResult<bool> {
        let result = {
            let _op = c.op.lock().await;
            // A restarting container counts as running (dockerd's 304).
            if c.state().restarting {
                Ok(false)
            } else {
                self.start_locked(c).await
            }
        };
        if result.is_err() {
            self.auto_remove(c).await;
        }
        result
    }

    /// `POST /containers/{id}/stop?t=`: the stop signal, then SIGKILL after
    /// `timeout` seconds (default: Config.StopTimeout, else 10; negative waits
    /// forever). Returns false when the container was not running (304).
    pub async fn stop(
        self: &Arc<Self>,
        c: &Arc<Container>,
        timeout: Option<i64>,
    ) -> ApiResult<bool> {
        let _op = c.op.lock().await;
        let stopped = self.stop_locked(c, timeout).await?;
        if stopped {
            self.events.container(c, "stop", &[]);
        }
        Ok(stopped)
    }

    /// `POST /containers/{id}/restart?t=`: stop (if running) then start, as
    /// one operation, so the exit in between does not auto-remove it.
    pub async fn restart(
        self: &Arc<Self>,
        c: &Arc<Container>,
        timeout: Option<i64>,
    ) -> ApiResult<()> {
        let result = {
            let _op = c.op.lock().await;
            match self.stop_locked(c, timeout).await {
                Ok(stopped) => {
                    if stopped {
                        self.events.container(c, "stop", &[]);
                    }
                    self.start_locked(c).await.map(drop)
                }
                Err(e) => Err(e),
            }
        };
        match &result {
            Ok(()) => self.events.container(c, "restart", &[]),
            Err(_) => self.auto_remove(c).await,
        }
        result
    }

    /// Removes a container that asked for it (`--rm`) after it stopped,
    /// unless someone removed or restarted it meanwhile.
    async fn auto_remove(self: &Arc<Self>, c: &Arc<Container>) {
        if c.host_config().auto_remove != Some(true) {
            return;
        }
        let _op = c.op.lock().await;
        if !self.contains(c) || c.state().status == Status::Running {
            return;
        }
        if let Err(e) = self.remove_locked(c, true, true).await {
            tracing::error!(id = %c.def.id, error = %e, "auto-removing container");
        }
    }

    /// Whether `c` is still in the table (not removed).
    pub fn contains(&self, c: &Container) -> bool {
        self.table
            .read()
            .expect("table lock")
            .contains_key(&c.def.id)
    }

    /// Fails with Docker's 404 when `c` was removed while the caller waited
    /// for its op lock.
    fn still_there(&self, c: &Container) -> ApiResult<()> {
        if self.contains(c) {
            Ok(())
        } else {
            Err(ApiError::not_found(format!(
                "No such container: {}",
                c.def.id
            )))
        }
    }

    async fn start_locked(self: &Arc<Self>, c: &Arc<Container>) -> ApiResult<bool> {
        self.still_there(c)?;
        match c.state().status {
            Status::Running if c.state().paused => {
                return Err(ApiError::conflict(
                    "cannot start a paused container, try unpause instead",
                ));
            }
            // Its restart policy starts it again after the back-off.
            Status::Running if c.state().restarting => {}
            Status::Running => return Ok(false),
            Status::Removing => {
                return Err(ApiError::conflict(format!(
                    "container {} is marked for removal and cannot be started",
                    c.def.id
                )));
            }
            Status::Created | Status::Exited => {}
        }
        // A previous run's exit file must not be mistaken for this run's.
        let exit_file = c.state_dir.join(berth::runtime::state::EXIT_FILE);
        match std::fs::remove_file(&exit_file) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("removing", &exit_file, e)),
        }
        let mut spec = self.spec(c)?;
        let cgroup = spec.cgroup.as_ref().map(|g| g.paths.clone());
        let run = self.prepare_network(c, &mut spec).await?;
        match client::start(&self.exe, &spec).await {
            Ok(started) => {
                // Any start but the policy's own resets the restart state.
                if !c.state().restarting {
                    self.reset_restart(c);
                }
                self.set_state(c, |st| {
                    if !st.restarting {
                        st.restart_count = 0;
                        st.manually_stopped = false;
                    }
                    st.restarting = false;
                    st.status = Status::Running;
                    st.pid = started.pid;
                    st.exit_code = 0;
                    st.error.clear();
                    st.started_at = Some(Utc::now());
                    st.finished_at = None;
                    st.paused = false;
                    st.oom_killed = false;
                    st.cgroup = cgroup;
                })?;
                c.control.send_replace(Some(started.control));
                tokio::spawn(self.clone().pump(c.clone(), started.events, run));
                self.copied_up(c);
                self.events.container(c, "start", &[]);
                self.monitor_health(c);
                Ok(true)
            }
            Err(e) => {
                self.teardown_network(c).await;
                // The supervisor removes the cgroup it made unless it died.
                if let Some(paths) = cgroup {
                    remove_cgroup(&c.def.id, paths).await;
                }
                let err = ApiError::from(e);
                let code = if err.message.contains("executable file not found")
                    || err.message.contains("no such file or directory")
                {
                    127
                } else if err.message.contains("permission denied") {
                    126
                } else {
                    128
                };
                let msg = err.message.clone();
                self.set_state(c, |st| {
                    st.status = if st.status == Status::Created {
                        Status::Created
                    } else {
                        Status::Exited
                    };
                    st.error = msg;
                    st.exit_code = code;
                })?;
                Err(err)
            }
        }
    }

    async fn stop_locked(&self, c: &Arc<Container>, timeout: Option<i64>) -> ApiResult<bool> {
        self.still_there(c)?;
        // Registered before the check, so an exit in between still wakes us.
        let mut exited = c.next_exit();
        if self.stop_restarting(c)? {
            return Ok(true);
        }
        if c.state().status != Status::Running {
            return Ok(false);
        }
        let signal = hostcfg::stop_signal(&c.def.config)?;
        let secs = timeout
            .or(c.def.config.stop_timeout)
            .unwrap_or(DEFAULT_STOP_TIMEOUT);
        if let Err(e) = self.kill(c, signal).await {
            tracing::warn!(id = %c.def.id, error = %e, "sending the stop signal");
        }
        // An exit that came before the signal may have left it restarting:
        // the stop cancels that restart (stop_restarting) under this op lock.
        if secs < 0 {
            let _ = exited.await;
            self.stop_restarting(c)?;
            return Ok(true);
        }
        let grace = std::time::Duration::from_secs(secs.unsigned_abs());
        if tokio::time::timeout(grace, &mut exited).await.is_ok() {
            self.stop_restarting(c)?;
            return Ok(true);
        }
        tracing::info!(
            id = %c.def.id,
            "container did not exit within {secs} seconds of signal {signal}: killing it"
        );
        if let Err(e) = self.kill(c, libc::SIGKILL).await
            && c.state().status == Status::Running
            && !c.state().restarting
        {
            return Err(e);
        }
        let _ = exited.await;
        self.stop_restarting(c)?;
        Ok(true)
    }

    /// Joins the container's networks: a sandbox from the network service
    /// for bridge networks, the host's stack, another container's netns, or
    /// (`none`) the fresh netns the init makes. Fills the spec's netns and
    /// `/etc` inputs.
    /// Returns the run ID of the sandbox it made, if any.
    async fn prepare_network(
        &self,
        c: &Container,
        spec: &mut ContainerSpec,
    ) -> ApiResult<Option<String>> {
        let host = &c.host_config();
        let cfg = &c.def.config;
        spec.etc.extra_hosts = host.extra_hosts.clone().unwrap_or_default();
        spec.etc.dns = host.dns.clone().unwrap_or_default();
        spec.etc.dns_search = host.dns_search.clone().unwrap_or_default();
        spec.etc.dns_options = host.dns_options.clone().unwrap_or_default();
        let mode = NetMode::of(host);
        let first = match &mode {
            NetMode::Host => {
                spec.host_network = true;
                spec.etc.host_files = true;
                return Ok(None);
            }
            NetMode::None => return Ok(None),
            NetMode::Container(other) => {
                let o = self.get(other)?;
                let st = o.state();
                if st.status != Status::Running {
                    return Err(ApiError::conflict(format!(
                        "cannot join network of a non running container: {}",
                        o.def.id
                    )));
                }
                spec.netns = Some(PathBuf::from(format!("/proc/{}/ns/net", st.pid)));
                if let Some(sb) = self.networks.sandbox(&o.def.id) {
                    spec.etc.addresses = sb
                        .endpoints
                        .iter()
                        .map(|e| e.address.addr.to_string())
                        .collect();
                    spec.etc.embedded_dns = sb.wants_dns();
                }
                return Ok(None);
            }
            NetMode::Bridge => "bridge".to_owned(),
            NetMode::Network(n) => self.networks.get(n).map(|r| r.name).unwrap_or_default(),
        };
        let mut nets: Vec<(NetworkRecord, EndpointSettings)> = Vec::new();
        for (name, settings) in c.networks() {
            let rec = self.networks.get(&name)?;
            if rec.driver == Driver::Bridge {
                netcfg::check_endpoint(&rec, &settings)?;
                nets.push((rec, settings));
            }
        }
        // The network of NetworkMode is eth0 and carries the default route.
        nets.sort_by_key(|(r, _)| r.name != first);
        if nets.is_empty() {
            return Ok(None);
        }
        let req = SetupRequest {
            container_id: c.def.id.clone(),
            container_name: c.name(),
            networks: nets,
            port_bindings: netcfg::port_bindings(cfg, host)?,
            exposed: netcfg::exposed_ports(cfg, host)?,
            mac: cfg.mac_address.clone(),
            dns: spec.etc.dns.clone(),
        };
        let joined: Vec<NetworkRecord> = req.networks.iter().map(|(r, _)| r.clone()).collect();
        let sb = self.networks.setup(req).await?;
        for r in &joined {
            self.events.network(r, "connect", Some(&c.def.id));
        }
        match self.link_hosts(c) {
            Ok(lines) => spec.etc.extra_hosts.extend(lines),
            Err(e) => {
                if let Err(undo) = self.networks.teardown(&c.def.id).await {
                    tracing::warn!(id = %c.def.id, error = %undo, "undoing the network setup");
                }
                return Err(e);
            }
        }
        spec.netns = Some(sb.netns.clone());
        spec.etc.addresses = sb
            .endpoints
            .iter()
            .map(|e| e.address.addr.to_string())
            .collect();
        spec.etc.embedded_dns = sb.wants_dns();
        Ok(Some(sb.run_id))
    }

    /// Docker's legacy links (`HostConfig.Links`, `name:alias` or
    /// `/name:/me/alias`) as `/etc/hosts` entries on the default bridge:
    /// `alias <short id> name` on the linked container's address, in
    /// [`berth::runtime::spec::EtcSpec::extra_hosts`]'s `names:ip` form.
    fn link_hosts(&self, c: &Container) -> ApiResult<Vec<String>> {
        let mut out = Vec::new();
        for link in c.host_config().links.iter().flatten() {
            let (name, alias) = link.split_once(':').unwrap_or((link, link));
            let name = name.trim_start_matches('/');
            let alias = alias.rsplit('/').next().unwrap_or(alias);
            let other = self.get(name)?;
            let ip = self
                .networks
                .sandbox(&other.def.id)
                .and_then(|sb| {
                    sb.endpoints
                        .iter()
                        .find(|e| e.network_name == "bridge")
                        .map(|e| e.address.addr)
                })
                .ok_or_else(|| {
                    ApiError::invalid(format!(
                        "Cannot link to a non running container: /{} AS /{}/{alias}",
                        other.name(),
                        c.name()
                    ))
                })?;
            out.push(format!(
                "{alias} {} {}:{ip}",
                &other.def.id[..12],
                other.name()
            ));
        }
        Ok(out)
    }

    /// Releases the container's network (best-effort, logged).
    async fn teardown_network(&self, c: &Container) {
        if let Err(e) = self.networks.teardown(&c.def.id).await {
            tracing::warn!(id = %c.def.id, error = %e, "tearing down the container's network");
        }
    }

    /// `POST /networks/{id}/connect`: records the network for the next
    /// start and, when the container runs, attaches it now.
    pub async fn connect(
        &self,
        c: &Arc<Container>,
        net: &NetworkRecord,
        settings: EndpointSettings,
    ) -> ApiResult<()> {
        let _op = c.op.lock().await;
        self.still_there(c)?;
        match NetMode::of(&c.host_config()) {
            NetMode::Host | NetMode::Container(_) => {
                return Err(ApiError::invalid(
                    "container sharing network namespace with another container or host cannot be connected to any other network",
                ));
            }
            NetMode::None => {
                return Err(ApiError::invalid(
                    "container cannot be connected to multiple networks with one of the networks in private (none) mode",
                ));
            }
            _ => {}
        }
        if net.driver != Driver::Bridge {
            return Err(ApiError::invalid(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        netcfg::check_endpoint(net, &settings)?;
        let mut nets = c.networks();
        if nets.contains_key(&net.name) {
            return Err(ApiError::new(
                berth::api::ErrorClass::Forbidden,
                format!(
                    "endpoint with name {} already exists in network {}",
                    c.name(),
                    net.name
                ),
            ));
        }
        if c.state().status == Status::Running {
            self.networks.attach(&c.def.id, net, &settings).await?;
            self.events.network(net, "connect", Some(&c.def.id));
        }
        nets.insert(net.name.clone(), settings);
        write_json(&c.state_dir.join(NETWORKS_FILE), &nets)?;
        *c.networks.lock().expect("networks lock") = nets;
        Ok(())
    }

    /// `POST /networks/{id}/disconnect`.
    pub async fn disconnect(
        &self,
        c: &Arc<Container>,
        net: &NetworkRecord,
        _force: bool,
    ) -> ApiResult<()> {
        let _op = c.op.lock().await;
        self.still_there(c)?;
        if net.driver == Driver::Host {
            return Err(ApiError::invalid(
                "container cannot be disconnected from host network or connected to host network",
            ));
        }
        let mut nets = c.networks();
        if nets.remove(&net.name).is_none() {
            return Err(ApiError::new(
                berth::api::ErrorClass::Forbidden,
                format!(
                    "container {} is not connected to network {}",
                    c.def.id, net.name
                ),
            ));
        }
        if c.state().status == Status::Running {
            self.networks.detach(&c.def.id, &net.id).await?;
        }
        write_json(&c.state_dir.join(NETWORKS_FILE), &nets)?;
        *c.networks.lock().expect("networks lock") = nets;
        self.events.network(net, "disconnect", Some(&c.def.id));
        Ok(())
    }

    fn spec(&self, c: &Container) -> ApiResult<ContainerSpec> {
        let cfg = &c.def.config;
        let hostname = cfg.hostname.clone().unwrap_or_default();
        let mut args = vec![c.def.path.clone()];
        args.extend(c.def.args.iter().cloned());
        let mut spec = ContainerSpec {
            version: berth::runtime::spec::SPEC_VERSION,
            id: c.def.id.clone(),
            layers: c.def.layers.clone(),
            upper: c.state_dir.join("upper"),
            work: c.state_dir.join("work"),
            args,
            env: merge::process_env(cfg, &hostname),
            cwd: cfg
                .working_dir
                .clone()
                .filter(|w| !w.is_empty())
                .unwrap_or_else(|| "/".to_owned()),
            user: cfg.user.clone().unwrap_or_default(),
            hostname,
            state_dir: c.state_dir.clone(),
            run_dir: c.run_dir.clone(),
            ..ContainerSpec::default()
        };
        let host = c.host_config();
        hostcfg::apply(&mut spec, cfg, &host)?;
        spec.userns = crate::userns::for_container(self.userns.as_ref(), &host);
        spec.mounts = self.spec_mounts(c, &host)?;
        let resources = resources::to_cgroup(&host, &self.cgroups.support)?;
        match &self.cgroups.hierarchy {
            Ok(h) => {
                let paths = h
                    .container(&self.cgroup_parent(&host), &c.def.id)
                    .map_err(|e| ApiError::new(e.class(), e.to_string()))?;
                spec.cgroup = Some(CgroupSpec { paths, resources });
            }
            Err(why) if resources::has_limits(&resources) => {
                return Err(ApiError::invalid(format!(
                    "cannot apply resource limits: no usable cgroups on this host: {why}"
                )));
            }
            Err(_) => {}
        }
        spec.log = match &host.log_config {
            Some(l) => logs::to_runtime(l)?,
            // Recorded before berthd had log drivers: Docker's default.
            None => berth::logging::LogConfig::default(),
        };
        Ok(spec)
    }

    /// Forwards the supervisor's events until the container exits, then
    /// records the exit and wakes waiters; removes the container if asked to.
    /// `run` is the network sandbox's run ID, torn down after the exit.
    async fn pump(
        self: Arc<Self>,
        c: Arc<Container>,
        mut events: mpsc::Receiver<Event>,
        run: Option<String>,
    ) {
        let mut exit_code = None;
        let mut finished_at = None;
        let mut oom_killed = false;
        while let Some(ev) = events.recv().await {
            match ev {
                Event::Stdout(b) => c.fan_out(Stream::Stdout, b),
                Event::Stderr(b) => c.fan_out(Stream::Stderr, b),
                Event::Exited(st) => {
                    exit_code = Some(i64::from(st.exit_code));
                    finished_at = Some(st.finished_at);
                    oom_killed = st.oom_killed;
                    break;
                }
            }
        }
        let (code, error) = match exit_code {
            Some(code) => (code, String::new()),
            // The supervisor went away without reporting: trust its exit file if any.
            None => match client::read_exit_status(&c.state_dir) {
                Some(st) => {
                    finished_at = Some(st.finished_at);
                    oom_killed = st.oom_killed;
                    (i64::from(st.exit_code), String::new())
                }
                None => (
                    255,
                    "lost contact with the container's supervisor".to_owned(),
                ),
            },
        };
        let restart = self.restart_decision(&c, code);
        self.record_exit(&c, code, finished_at, error, oom_killed, restart.is_some());
        // As dockerd: stopped first, network released right after; a start
        // in between makes a new run, which this one leaves alone.
        if let Some(run) = run
            && let Err(e) = self.networks.teardown_run(&c.def.id, &run).await
        {
            tracing::warn!(id = %c.def.id, error = %e, "tearing down the container's network");
        }
        match restart {
            Some(pending) => self.clone().restart_after(c, pending).await,
            None => self.auto_remove(&c).await,
        }
    }

    /// Publishes `disconnect` for each bridge network `c` left.
    fn disconnected(&self, c: &Container) {
        for name in c.networks().keys() {
            if let Ok(r) = self.networks.get(name)
                && r.driver == Driver::Bridge
            {
                self.events.network(&r, "disconnect", Some(&c.def.id));
            }
        }
    }

    /// Marks `c` exited (or, when its restart policy starts it again,
    /// `restarting`, counting the restart) and wakes everyone waiting for that.
    fn record_exit(
        &self,
        c: &Container,
        code: i64,
        finished_at: Option<String>,
        error: String,
        oom_killed: bool,
        restarting: bool,
    ) {
        // Before the state changes, as dockerd (which logs die and releases
        // network and volumes first): whoever sees the container exited, by
        // inspect or wait, finds the exit's events already published.
        if oom_killed {
            self.events.container(c, "oom", &[]);
        }
        self.events
            .container(c, "die", &[("exitCode", &code.to_string())]);
        self.disconnected(c);
        self.unmounted(c);
        let finished = finished_at.unwrap_or_else(berth::runtime::state::now_rfc3339);
        if let Err(e) = self.set_state(c, |st| {
            // dockerd's SetRestarting: still "running", with no process.
            st.status = if restarting {
                Status::Running
            } else {
                Status::Exited
            };
            st.restarting = restarting;
            st.restart_count += u64::from(restarting);
            st.pid = 0;
            st.exit_code = code;
            st.error = error;
            st.finished_at = Some(finished);
            st.paused = false;
            st.oom_killed = oom_killed;
        }) {
            tracing::error!(id = %c.def.id, error = %e, "recording container exit");
        }
        // After the state: whoever finds no control handle also finds it exited.
        c.control.send_replace(None);
        c.attached.lock().expect("attach lock").clear();
        for w in c.exit_waiters.lock().expect("waiter lock").drain(..) {
            let _ = w.send(code);
        }
    }

    /// Re-attaches to the containers that ran when the previous daemon
    /// stopped: a live supervisor is adopted (its events pumped as if this
    /// daemon had started it); otherwise the container is marked exited, with
    /// the exit status its supervisor recorded or an error saying it vanished.
    pub async fn adopt(self: &Arc<Self>) {
        for c in self.all() {
            // One left restarting has no process: its policy decides anew.
            if c.state().status != Status::Running || self.settle_restarting(&c) {
                continue;
            }
            // A supervisor that accepts but never greets must not hold up the daemon.
            let connected = tokio::time::timeout(ADOPT_TIMEOUT, client::connect(&c.run_dir))
                .await
                .unwrap_or_else(|_| {
                    Err(berth::runtime::RuntimeError::Protocol {
                        socket: c.run_dir.join(berth::runtime::supervisor::SOCKET_FILE),
                        detail: format!("no greeting within {ADOPT_TIMEOUT:?}"),
                    })
                });
            match connected {
                Ok(started) => {
                    let pid = started.pid;
                    // A container paused before the restart stays paused.
                    let paused = match c.state().cgroup {
                        Some(paths) => tokio::task::spawn_blocking(move || paths.is_frozen())
                            .await
                            .map_err(|e| e.to_string())
                            .and_then(|r| r.map_err(|e| e.to_string()))
                            .unwrap_or_else(|e| {
                                tracing::warn!(id = %c.def.id, error = %e, "reading the freezer state");
                                false
                            }),
                        None => false,
                    };
                    if let Err(e) = self.set_state(&c, |st| {
                        st.pid = pid;
                        st.paused = paused;
                    }) {
                        tracing::error!(id = %c.def.id, error = %e, "recording adopted container");
                    }
                    c.control.send_replace(Some(started.control));
                    let run = self.networks.run_id(&c.def.id);
                    tokio::spawn(self.clone().pump(c.clone(), started.events, run));
                    tracing::info!(id = %c.def.id, pid, "adopted running container");
                }
                Err(e) => {
                    let (code, finished, error, oom) = match client::read_exit_status(&c.state_dir)
                    {
                        Some(st) => (
                            i64::from(st.exit_code),
                            Some(st.finished_at),
                            String::new(),
                            st.oom_killed,
                        ),
                        None => (
                            255,
                            None,
                            format!(
                                "container's supervisor vanished while the daemon was down: {e}"
                            ),
                            false,
                        ),
                    };
                    tracing::info!(id = %c.def.id, code, "container exited while the daemon was down");
                    self.record_exit(&c, code, finished, error, oom, false);
                    self.auto_remove(&c).await;
                }
            }
        }
        // What the dead ones left behind (processes, cgroups, exec-root
        // dirs, unpinned netns, damaged or half-made state dirs).
        self.reconcile().await;
    }

    /// `POST /containers/{id}/kill`. Not serialised with the op lock: a kill
    /// must be able to cut short a stop that is waiting out its timeout, and
    /// the state change it causes arrives through the event pump anyway.
    /// A paused container is thawed after SIGKILL or its stop signal (any
    /// signal when it has no StopSignal), so the signal takes effect, as
    /// dockerd does.
    pub async fn kill(&self, c: &Container, signal: i32) -> ApiResult<()> {
        if self.before_kill(c, signal)? {
            return Ok(());
        }
        let control = c.control.borrow().clone();
        let st = c.state();
        let Some(ctl) = control.filter(|_| st.status == Status::Running) else {
            return Err(not_running(&c.def.id));
        };
        ctl.signal(signal).await?;
        self.events
            .container(c, "kill", &[("signal", &signal.to_string())]);
        let custom_stop = c
            .def
            .config
            .stop_signal
            .as_deref()
            .filter(|s| !s.is_empty())
            .is_some();
        let stops = !custom_stop
            || signal == libc::SIGKILL
            || hostcfg::stop_signal(&c.def.config).is_ok_and(|s| s == signal);
        if st.paused
            && stops
            && let Some(paths) = st.cgroup
        {
            let thawed = tokio::task::spawn_blocking(move || paths.thaw()).await?;
            match thawed {
                Ok(()) => {
                    self.set_state(c, |st| st.paused = false)?;
                }
                Err(e) => {
                    tracing::warn!(id = %c.def.id, error = %e, "unpausing a killed container")
                }
            }
        }
        Ok(())
    }

    /// `POST /containers/{id}/pause`: freezes every process of the container.
    pub async fn pause(&self, c: &Arc<Container>) -> ApiResult<()> {
        let _op = c.op.lock().await;
        self.still_there(c)?;
        let st = c.state();
        if st.status != Status::Running {
            return Err(not_running(&c.def.id));
        }
        if st.restarting {
            return Err(restart::restarting_conflict(&c.def.id));
        }
        if st.paused {
            return Err(ApiError::conflict(format!(
                "Container {} is already paused",
                c.def.id
            )));
        }
        let paths = self.frozen_paths(c, &st, "pause")?;
        tokio::task::spawn_blocking(move || paths.freeze())
            .await?
            .map_err(|e| {
                ApiError::new(
                    e.class(),
                    format!("Cannot pause container {}: {e}", c.def.id),
                )
            })?;
        self.set_state(c, |st| st.paused = true)?;
        self.events.container(c, "pause", &[]);
        tracing::info!(id = %c.def.id, "container paused");
        Ok(())
    }

    /// `POST /containers/{id}/unpause`.
    pub async fn unpause(&self, c: &Arc<Container>) -> ApiResult<()> {
        let _op = c.op.lock().await;
        self.still_there(c)?;
        let st = c.state();
        if !st.paused || st.status != Status::Running {
            return Err(ApiError::conflict(format!(
                "Container {} is not paused",
                c.def.id
            )));
        }
        let paths = self.frozen_paths(c, &st, "unpause")?;
        tokio::task::spawn_blocking(move || paths.thaw())
            .await?
            .map_err(|e| {
                ApiError::new(
                    e.class(),
                    format!("Cannot unpause container {}: {e}", c.def.id),
                )
            })?;
        self.set_state(c, |st| st.paused = false)?;
        self.events.container(c, "unpause", &[]);
        tracing::info!(id = %c.def.id, "container unpaused");
        Ok(())
    }

    /// The cgroup of a running container, for the freezer.
    fn frozen_paths(&self, c: &Container, st: &RunState, what: &str) -> ApiResult<CgroupPaths> {
        let no_freezer = |why: &str| {
            ApiError::new(
                berth::api::ErrorClass::Unavailable,
                format!("Cannot {what} container {}: {why}", c.def.id),
            )
        };
        let Some(paths) = st.cgroup.clone() else {
            return Err(no_freezer("the container has no cgroup"));
        };
        match &self.cgroups.hierarchy {
            Ok(h) if h.supports(berth::runtime::cgroups::Feature::Freezer) => Ok(paths),
            _ => Err(no_freezer("the freezer cgroup is not available")),
        }
    }

    /// `POST /containers/{id}/update`: checks the new limits as dockerd
    /// does, stores them, and applies them at once when the container runs.
    /// Returns dockerd's warnings.
    pub async fn update(
        &self,
        c: &Arc<Container>,
        body: &ContainerUpdateBody,
    ) -> ApiResult<Vec<String>> {
        let (limits, warnings) = resources::prepare_update(body, &self.cgroups.support)?;
        if let Some(p) = &body.restart_policy {
            restart::validate_policy(p)?;
        }
        let _op = c.op.lock().await;
        self.still_there(c)?;
        let id = &c.def.id;
        let cannot = |e: ApiError| {
            ApiError::new(
                e.class,
                format!("Cannot update container {id}: {}", e.message),
            )
        };
        let st = c.state();
        if st.status == Status::Removing {
            return Err(cannot(ApiError::conflict(
                "container is marked for removal and cannot be \"update\"",
            )));
        }
        let old = c.host_config();
        let mut new = old.clone();
        resources::merge_update(&mut new, &limits, body.restart_policy.as_ref()).map_err(cannot)?;
        let wanted = resources::to_cgroup(&new, &self.cgroups.support).map_err(cannot)?;
        if st.status == Status::Running {
            match st.cgroup {
                Some(paths) => tokio::task::spawn_blocking(move || paths.apply(&wanted))
                    .await?
                    .map_err(|e| cannot(ApiError::new(e.class(), e.to_string())))?,
                None if resources::has_limits(&wanted) => {
                    return Err(cannot(ApiError::invalid(
                        "the container runs without a cgroup",
                    )));
                }
                None => {}
            }
        }
        write_json(&c.state_dir.join("hostconfig.json"), &new).map_err(cannot)?;
        *c.host_config.write().expect("host config lock") = new;
        tracing::info!(id = %c.def.id, "container limits updated");
        Ok(warnings)
    }

    /// `DELETE /containers/{id}`: refuses a running container unless `force`,
    /// which kills it first; then deletes its files and wakes removal waiters.
    /// With `volumes` (`?v=1`) its anonymous volumes are removed too.
    pub async fn remove(&self, c: &Arc<Container>, force: bool, volumes: bool) -> ApiResult<()> {
        let _op = c.op.lock().await;
        self.still_there(c)?;
        self.remove_locked(c, force, volumes).await
    }

    async fn remove_locked(&self, c: &Arc<Container>, force: bool, volumes: bool) -> ApiResult<()> {
        let exited = c.next_exit();
        if c.state().restarting {
            if !force {
                return Err(ApiError::conflict(format!(
                    "You cannot remove a restarting container {}. Stop the container before attempting removal or force remove",
                    c.def.id
                )));
            }
            self.stop_restarting(c)?;
        }
        if c.state().status == Status::Running {
            if !force {
                return Err(ApiError::conflict(if c.state().paused {
                    format!(
                        "You cannot remove a paused container {}. Unpause and then stop the container before attempting removal or force remove",
                        c.def.id
                    )
                } else {
                    format!(
                        "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                        c.def.id
                    )
                }));
            }
            // An exit racing the kill may have left it restarting (the
            // kill cancelled that restart).
            if let Err(e) = self.kill(c, libc::SIGKILL).await
                && c.state().status == Status::Running
                && !c.state().restarting
            {
                return Err(e);
            }
            let _ = exited.await;
            self.stop_restarting(c)?;
        }
        {
            let mut st = c.state.lock().expect("state lock");
            if st.status == Status::Removing {
                return Err(ApiError::conflict(format!(
                    "removal of container {} is already in progress",
                    c.def.id
                )));
            }
            st.status = Status::Removing;
        }
        self.teardown_network(c).await;
        let mut failures = Vec::new();
        if let Some(paths) = c.state().cgroup
            && let Err(e) = tokio::task::spawn_blocking(move || paths.remove()).await?
        {
            failures.push(e.to_string());
        }
        // Before the state dir goes: it holds the mount records.
        failures.extend(self.release_mounts(c, volumes));
        // Renamed first: a crash mid-deletion leaves no half-deleted container.
        // Off the async workers: unlinks wait on the filesystem, and a prune
        // removes several containers at once.
        let (state_dir, run_dir) = (c.state_dir.clone(), c.run_dir.clone());
        failures.extend(
            tokio::task::spawn_blocking(move || {
                let doomed = reconcile::detach_for_removal(&state_dir);
                [run_dir, doomed]
                    .into_iter()
                    .filter_map(|dir| match std::fs::remove_dir_all(&dir) {
                        Ok(()) => None,
                        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
                        Err(e) => Some(format!("{}: {e}", dir.display())),
                    })
                    .collect::<Vec<_>>()
            })
            .await?,
        );
        self.table.write().expect("table lock").remove(&c.def.id);
        self.events.container(c, "destroy", &[]);
        let code = c.state().exit_code;
        for w in c.removal_waiters.lock().expect("waiter lock").drain(..) {
            let _ = w.send(code);
        }
        if failures.is_empty() {
            Ok(())
        } else {
            Err(ApiError::internal(format!(
                "unable to remove container files: {}",
                failures.join("; ")
            )))
        }
    }

    /// `POST /containers/{id}/rename?name=`, with dockerd's checks and messages.
    pub async fn rename(&self, c: &Arc<Container>, new_name: &str) -> ApiResult<()> {
        if new_name.is_empty() {
            return Err(ApiError::invalid("Neither old nor new names may be empty"));
        }
        let _op = c.op.lock().await;
        self.still_there(c)?;
        let new_name = new_name.strip_prefix('/').unwrap_or(new_name);
        let old_name = c.name();
        if old_name == new_name {
            return Err(ApiError::invalid(
                "Renaming a container with the same name as its current name",
            ));
        }
        if !names::is_valid(new_name) {
            return Err(ApiError::invalid(format!(
                "Error when allocating new name: Invalid container name (/{new_name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
        {
            let table = self.table.write().expect("table lock");
            if let Some(other) = table.values().find(|o| o.name() == new_name) {
                let e = name_conflict(new_name, &other.def.id);
                return Err(ApiError::conflict(format!(
                    "Error when allocating new name: {}",
                    e.message
                )));
            }
            // Under the table lock, so no create or rename can take it meanwhile.
            *c.name.write().expect("name lock") = new_name.to_owned();
        }
        let mut def = c.def.clone();
        def.name = new_name.to_owned();
        if let Err(e) = write_json(&c.state_dir.join("config.json"), &def) {
            *c.name.write().expect("name lock") = old_name;
            return Err(e);
        }
        // The embedded DNS answers for the new name from now on.
        self.networks.rename(&c.def.id, new_name).await?;
        self.events
            .container(c, "rename", &[("oldName", &format!("/{old_name}"))]);
        tracing::info!(id = %c.def.id, from = %old_name, to = %new_name, "container renamed");
        Ok(())
    }
}

/// Removes a container's cgroup, best-effort (logged).
async fn remove_cgroup(id: &str, paths: CgroupPaths) {
    let result = tokio::task::spawn_blocking(move || paths.remove()).await;
    match result {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::warn!(%id, error = %e, "removing the cgroup of a failed start"),
        Err(e) => tracing::warn!(%id, error = %e, "removing the cgroup of a failed start"),
    }
}

/// How long adoption waits for a live supervisor's greeting.
const ADOPT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Seconds between the stop signal and SIGKILL when neither the request nor
/// the container's Config.StopTimeout says.
pub const DEFAULT_STOP_TIMEOUT: i64 = 10;

/// Docker's 409 for an operation that needs a running container.
pub fn not_running(id: &str) -> ApiError {
    ApiError::conflict(format!("Container {id} is not running"))
}

fn name_conflict(name: &str, other_id: &str) -> ApiError {
    ApiError::conflict(format!(
        "Conflict. The container name \"/{name}\" is already in use by container \"{other_id}\". You have to remove (or rename) that container to be able to reuse that name."
    ))
}

fn write_json<T: serde::Serialize>(path: &Path, value: &T) -> ApiResult<()> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| ApiError::internal(format!("encoding {}: {e}", path.display())))?;
    atomic_write(path, &bytes).map_err(|e| io_err("writing", path, e))
}

/// Resolves the image of a create request, off the async threads. Keep the
/// pin until the container is in the table: image prune leaves a pinned
/// image alone, so a `run` racing a prune never loses its image.
pub async fn resolve_image(
    images: &ImageStore,
    name: &str,
) -> ApiResult<(ResolvedImage, berth::image::store::prune::ImagePin)> {
    let images = images.clone();
    let name = name.to_owned();
    Ok(tokio::task::spawn_blocking(move || images.resolve_pinned(&name)).await??)
}
