//! berthd: the Berth daemon. Serves the Docker Engine API on a unix socket.
//!
//! Each container runs under a `berth-supervisor` process, a separate small
//! binary installed next to berthd (see `src/supervisor`).

mod apparmor;
mod archive;
mod build;
mod config;
mod containers;
mod disk_usage;
mod error;
mod events;
mod execs;
mod guard;
mod handlers;
mod http;
mod info;
mod listen;
mod lock;
mod network;
mod notify;
mod prune;
mod reload;
mod seccomp;
mod server;
mod services;
mod stats;
mod userns;
mod volumes;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;

use berth::image::ImageStore;

use crate::config::{Config, Flags};
use crate::containers::{Cgroups, ContainerService};
use crate::network::{NetConfig, NetworkService};
use crate::services::Services;

fn main() -> ExitCode {
    let flags = Flags::parse();
    if let Some(dir) = &flags.gen_man {
        return match config::write_man_page(dir) {
            Ok(_) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("berthd: writing the man page into {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    // While single-threaded: taking the sockets clears LISTEN_FDS/LISTEN_PID.
    let inherited = listen::Inherited::from_env();
    let config = match Config::resolve(flags.clone()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {e}");
            return ExitCode::FAILURE;
        }
    };
    let log = reload::init_logging(&config.log_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("berthd: starting the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config, flags, log, inherited)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    config: Config,
    flags: Flags,
    log: reload::LogHandle,
    mut inherited: listen::Inherited,
) -> anyhow::Result<()> {
    let notifier = notify::Notifier::from_env();
    // A socket path or TLS file that will not do stops berthd before it
    // touches any state.
    listen::preflight(&config.hosts, config.tls.as_ref(), &inherited)?;
    notifier.status("restoring state");
    let hangups = reload::Hangups::install();
    for dir in [&config.data_root, &config.exec_root] {
        berth::fsutil::create_private_dir(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    // dockerd refuses to start with log defaults no container could use.
    containers::logs::check_defaults(&config.log_driver, &config.log_opts)
        .map_err(|e| anyhow::anyhow!("invalid log configuration: {e}"))?;
    // dockerd reads its seccomp-profile once at start-up.
    seccomp::configure(config.seccomp_profile.as_deref())?;
    let _lock = lock::DataRootLock::acquire(&config.data_root)?;
    let images = ImageStore::open(&config.data_root)?;
    let engine_id = info::load_or_create_engine_id(&config.data_root)?;
    // Contexts and step scratch dirs of builds a previous daemon did not finish.
    build::context::sweep(&config.data_root.join("build")).context("sweeping unfinished builds")?;
    let exe = supervisor_binary()?;
    let cgroups = Cgroups::detect(config.cgroup_parent.clone());
    cgroups.check_parent().context("invalid cgroup-parent")?;
    let remap = match config.userns_remap.as_deref() {
        Some(value) => {
            let r = userns::setup(value)
                .map_err(|e| anyhow::anyhow!("userns-remap {value:?} ({:?}): {e}", e.class()))?;
            tracing::info!(user = %r.user, group = %r.group, maps = ?r.mapping, "remapping containers' root");
            Some(r)
        }
        None => None,
    };
    let networks = Arc::new(open_networks(&config).await?);
    let containers = Arc::new(
        ContainerService::open(
            &config.data_root,
            &config.exec_root,
            exe.clone(),
            networks.clone(),
            cgroups,
        )
        .context("loading container state")?
        .with_userns(remap),
    );
    // Before the socket is bound: clients never see a half-recovered table.
    containers.adopt().await;
    networks.adopt(&containers.running_ids()).await;
    // As dockerd's restore: what the restart policies start, once networks are up.
    containers.apply_restart_policies().await;
    let shutdown = shutdown_signal();
    let listeners = listen::Listeners::bind(
        &config.hosts,
        &config.group,
        config.tls.as_ref(),
        &mut inherited,
        &config.exec_root,
    )?;
    lock::write_pidfile(&config.pidfile)?;
    let serving_on = listeners.names().join(", ");
    tracing::info!(
        hosts = %serving_on,
        data_root = %config.data_root.display(),
        config_file = ?config.config_file,
        "berthd is serving the Docker Engine API"
    );
    let events = containers.events.clone();
    events.use_images(images.clone());
    let svc = Arc::new(Services {
        config: config.clone(),
        live: Arc::new(reload::Live::new(&config)),
        serving_on: listeners.names().into_iter().map(str::to_owned).collect(),
        engine_id,
        images,
        events: events.clone(),
        containers,
        networks,
        stats: Arc::new(stats::Collector::new()),
        execs: Arc::new(execs::ExecService::new(exe, events)),
    });
    tokio::spawn(reload::watch(
        hangups,
        reload::Reloader {
            flags,
            started: config.clone(),
            live: svc.live.clone(),
            log,
            events: svc.events.clone(),
            engine_id: svc.engine_id.clone(),
        },
    ));
    // Probes are execs: monitors (adopted containers' too) start once execs can run.
    svc.containers.enable_health_checks(svc.execs.clone());
    // The sockets are bound and state is restored: connections made from
    // now on are queued and answered as soon as `serve` polls them.
    let serving = server::serve(&listeners, svc.clone(), shutdown);
    notifier.ready(&format!("serving the Docker Engine API on {serving_on}"));
    serving.await;
    notifier.stopping();
    tracing::info!(live_restore = config.live_restore, "shutting down");
    // After the API stopped, as dockerd: then nothing races the stops.
    svc.containers.shutdown(config.live_restore).await;
    listeners.remove_sockets();
    if let Err(e) = std::fs::remove_file(&config.pidfile) {
        let path = config.pidfile.display();
        tracing::warn!(path = %path, error = %e, "removing on shutdown");
    }
    Ok(())
}

/// The network service with its bridges up: the default bridge's subnet is
/// `--bip`, the one used last time, or a default pool clashing with no host
/// route.
async fn open_networks(config: &Config) -> anyhow::Result<NetworkService> {
    let bip = match &config.bip {
        Some(b) => Some(network::parse_cidr(b).map_err(|e| anyhow::anyhow!("--bip: {e}"))?),
        None => None,
    };
    let net_config = NetConfig {
        bridge: config.bridge.clone(),
        bip,
        iptables: config.iptables,
        ip_forward: config.ip_forward,
    };
    let nl = berth::network::link::Netlink::connect().context("connecting to rtnetlink")?;
    let own = nl.link_index(&config.bridge).await.ok().flatten();
    // Routes through our own bridge are ours, not a clash.
    let host_nets: Vec<_> = nl
        .host_networks()
        .await
        .context("listing the host's routes")?
        .into_iter()
        .filter(|h| own.is_none() || h.link != own)
        .map(|h| h.net)
        .collect();
    let networks =
        NetworkService::open(&config.data_root, &config.exec_root, net_config, &host_nets)
            .context("loading networks")?;
    networks
        .init_kernel(nl)
        .await
        .context("setting up the default bridge")?;
    Ok(networks)
}

/// Installs the SIGTERM/SIGINT handlers now (so a signal that arrives
/// before the server first polls the future is not fatal) and resolves on
/// the first of them.
fn shutdown_signal() -> impl std::future::Future<Output = ()> {
    use tokio::signal::unix::{SignalKind, signal};
    let signals = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    async move {
        let (Ok(mut term), Ok(mut int)) = signals else {
            tracing::error!("cannot install signal handlers; stop berthd with SIGKILL");
            return std::future::pending().await;
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
    }
}

/// `berth-supervisor`, expected next to the berthd binary (as installed and as
/// cargo builds them).
fn supervisor_binary() -> anyhow::Result<std::path::PathBuf> {
    let daemon = std::env::current_exe().context("locating the berthd binary")?;
    let exe = daemon.with_file_name("berth-supervisor");
    anyhow::ensure!(
        exe.is_file(),
        "container supervisor {} not found: install berth-supervisor next to berthd",
        exe.display()
    );
    Ok(exe)
}
