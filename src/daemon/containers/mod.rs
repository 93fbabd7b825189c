//! The container table: create, start, stop, restart, kill, rename, remove,
//! wait, attach, and adoption of containers that outlived a previous daemon. Each
//! container's files live in `<data-root>/containers/<id>/` (config.json,
//! hostconfig.json, state.json, upper/, work/) and `<exec-root>/containers/<id>/`
//! (supervisor socket, spec). The table is rebuilt from those at start.

mod container;
pub mod hostcfg;
pub mod logs;
pub mod merge;
mod names;
pub mod netcfg;

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use chrono::Utc;
use tokio::sync::mpsc;

use berth::api::models::{ContainerConfig, EndpointSettings, HostConfig, NetworkingConfig};
use berth::fsutil::{atomic_write, create_private_dir, random_id};
use berth::image::{ImageStore, ImageUser, ResolvedImage};
use berth::runtime::client::{self, Event};
use berth::runtime::spec::ContainerSpec;

pub use container::{Container, Definition, RunState, STATE_VERSION, Status, Stream};

use crate::error::{ApiError, ApiResult};
use crate::network::runtime::SetupRequest;
use crate::network::{Driver, NetworkRecord, NetworkService};
use netcfg::NetMode;

/// The daemon's containers.
pub struct ContainerService {
    data_dir: PathBuf,
    run_dir: PathBuf,
    exe: PathBuf,
    table: RwLock<HashMap<String, Arc<Container>>>,
    networks: Arc<NetworkService>,
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
    ) -> std::io::Result<ContainerService> {
        let data_dir = data_root.join("containers");
        let run_dir = exec_root.join("containers");
        create_private_dir(&data_dir)?;
        create_private_dir(&run_dir)?;
        let svc = ContainerService {
            data_dir,
            run_dir,
            exe,
            table: RwLock::new(HashMap::new()),
            networks,
        };
        for entry in std::fs::read_dir(&svc.data_dir)? {
            let path = entry?.path();
            match svc.load_one(&path) {
                Ok(c) => {
                    svc.table
                        .write()
                        .expect("table lock")
                        .insert(c.def.id.clone(), Arc::new(c));
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping unreadable container state")
                }
            }
        }
        Ok(svc)
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

    /// `POST /containers/create`.
    pub fn create(&self, req: CreateRequest, image: ResolvedImage) -> ApiResult<Arc<Container>> {
        hostcfg::validate(&req.config, &req.host_config)?;
        let networks = netcfg::validate(
            &self.networks,
            &req.config,
            &req.host_config,
            req.networking.as_ref(),
        )?;
        let id = random_id();
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
        if let Err(e) = self.write_new(&c) {
            let _ = std::fs::remove_dir_all(&c.state_dir);
            return Err(e);
        }
        let c = Arc::new(c);
        let mut table = self.table.write().expect("table lock");
        if let Some(other) = table.values().find(|o| o.name() == c.def.name) {
            let _ = std::fs::remove_dir_all(&c.state_dir);
            return Err(name_conflict(&c.def.name, &other.def.id));
        }
        table.insert(id, c.clone());
        Ok(c)
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
        write_json(&c.state_dir.join("hostconfig.json"), &c.host_config)?;
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
            self.start_locked(c).await
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
        self.stop_locked(c, timeout).await
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
                Ok(_) => self.start_locked(c).await.map(drop),
                Err(e) => Err(e),
            }
        };
        if result.is_err() {
            self.auto_remove(c).await;
        }
        result
    }

    /// Removes a container that asked for it (`--rm`) after it stopped,
    /// unless someone removed or restarted it meanwhile.
    async fn auto_remove(self: &Arc<Self>, c: &Arc<Container>) {
        if c.host_config.auto_remove != Some(true) {
            return;
        }
        let _op = c.op.lock().await;
        if !self.contains(c) || c.state().status == Status::Running {
            return;
        }
        if let Err(e) = self.remove_locked(c, true).await {
            tracing::error!(id = %c.def.id, error = %e, "auto-removing container");
        }
    }

    fn contains(&self, c: &Container) -> bool {
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
        let run = self.prepare_network(c, &mut spec).await?;
        match client::start(&self.exe, &spec).await {
            Ok(started) => {
                self.set_state(c, |st| {
                    st.status = Status::Running;
                    st.pid = started.pid;
                    st.exit_code = 0;
                    st.error.clear();
                    st.started_at = Some(Utc::now());
                    st.finished_at = None;
                })?;
                c.control.send_replace(Some(started.control));
                tokio::spawn(self.clone().pump(c.clone(), started.events, run));
                Ok(true)
            }
            Err(e) => {
                self.teardown_network(c).await;
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
        if secs < 0 {
            let _ = exited.await;
            return Ok(true);
        }
        let grace = std::time::Duration::from_secs(secs.unsigned_abs());
        if tokio::time::timeout(grace, &mut exited).await.is_ok() {
            return Ok(true);
        }
        tracing::info!(
            id = %c.def.id,
            "container did not exit within {secs} seconds of signal {signal}: killing it"
        );
        if let Err(e) = self.kill(c, libc::SIGKILL).await
            && c.state().status == Status::Running
        {
            return Err(e);
        }
        let _ = exited.await;
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
        let host = &c.host_config;
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
        let sb = self.networks.setup(req).await?;
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
        for link in c.host_config.links.iter().flatten() {
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
        match NetMode::of(&c.host_config) {
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
        hostcfg::apply(&mut spec, cfg, &c.host_config)?;
        spec.log = match &c.host_config.log_config {
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
        while let Some(ev) = events.recv().await {
            match ev {
                Event::Stdout(b) => c.fan_out(Stream::Stdout, b),
                Event::Stderr(b) => c.fan_out(Stream::Stderr, b),
                Event::Exited(st) => {
                    exit_code = Some(i64::from(st.exit_code));
                    finished_at = Some(st.finished_at);
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
                    (i64::from(st.exit_code), String::new())
                }
                None => (
                    255,
                    "lost contact with the container's supervisor".to_owned(),
                ),
            },
        };
        self.record_exit(&c, code, finished_at, error);
        // As dockerd: stopped first, network released right after; a start
        // in between makes a new run, which this one leaves alone.
        if let Some(run) = run
            && let Err(e) = self.networks.teardown_run(&c.def.id, &run).await
        {
            tracing::warn!(id = %c.def.id, error = %e, "tearing down the container's network");
        }
        self.auto_remove(&c).await;
    }

    /// Marks `c` exited and wakes everyone waiting for that.
    fn record_exit(&self, c: &Container, code: i64, finished_at: Option<String>, error: String) {
        let finished = finished_at.unwrap_or_else(berth::runtime::state::now_rfc3339);
        if let Err(e) = self.set_state(c, |st| {
            st.status = Status::Exited;
            st.pid = 0;
            st.exit_code = code;
            st.error = error;
            st.finished_at = Some(finished);
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
            if c.state().status != Status::Running {
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
                    if let Err(e) = self.set_state(&c, |st| st.pid = pid) {
                        tracing::error!(id = %c.def.id, error = %e, "recording adopted container");
                    }
                    c.control.send_replace(Some(started.control));
                    let run = self.networks.run_id(&c.def.id);
                    tokio::spawn(self.clone().pump(c.clone(), started.events, run));
                    tracing::info!(id = %c.def.id, pid, "adopted running container");
                }
                Err(e) => {
                    let (code, finished, error) = match client::read_exit_status(&c.state_dir) {
                        Some(st) => (i64::from(st.exit_code), Some(st.finished_at), String::new()),
                        None => (
                            255,
                            None,
                            format!(
                                "container's supervisor vanished while the daemon was down: {e}"
                            ),
                        ),
                    };
                    tracing::info!(id = %c.def.id, code, "container exited while the daemon was down");
                    self.record_exit(&c, code, finished, error);
                    self.auto_remove(&c).await;
                }
            }
        }
    }

    /// `POST /containers/{id}/kill`. Not serialised with the op lock: a kill
    /// must be able to cut short a stop that is waiting out its timeout, and
    /// the state change it causes arrives through the event pump anyway.
    pub async fn kill(&self, c: &Container, signal: i32) -> ApiResult<()> {
        let control = c.control.borrow().clone();
        match control {
            Some(ctl) if c.state().status == Status::Running => Ok(ctl.signal(signal).await?),
            _ => Err(not_running(&c.def.id)),
        }
    }

    /// `DELETE /containers/{id}`: refuses a running container unless `force`,
    /// which kills it first; then deletes its files and wakes removal waiters.
    pub async fn remove(&self, c: &Arc<Container>, force: bool) -> ApiResult<()> {
        let _op = c.op.lock().await;
        self.still_there(c)?;
        self.remove_locked(c, force).await
    }

    async fn remove_locked(&self, c: &Arc<Container>, force: bool) -> ApiResult<()> {
        let exited = c.next_exit();
        if c.state().status == Status::Running {
            if !force {
                return Err(ApiError::conflict(format!(
                    "You cannot remove a running container {}. Stop the container before attempting removal or force remove",
                    c.def.id
                )));
            }
            if let Err(e) = self.kill(c, libc::SIGKILL).await
                && c.state().status == Status::Running
            {
                return Err(e);
            }
            let _ = exited.await;
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
        for dir in [&c.run_dir, &c.state_dir] {
            match std::fs::remove_dir_all(dir) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => failures.push(format!("{}: {e}", dir.display())),
            }
        }
        self.table.write().expect("table lock").remove(&c.def.id);
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
        tracing::info!(id = %c.def.id, from = %old_name, to = %new_name, "container renamed");
        Ok(())
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

/// Resolves the image of a create request, off the async threads.
pub async fn resolve_image(images: &ImageStore, name: &str) -> ApiResult<ResolvedImage> {
    let images = images.clone();
    let name = name.to_owned();
    Ok(tokio::task::spawn_blocking(move || images.resolve(&name)).await??)
}
