//! berthd: the Berth daemon. Serves the Docker Engine API on a unix socket.
//!
//! Each container runs under a `berth-supervisor` process, a separate small
//! binary installed next to berthd (see `src/supervisor`).

mod archive;
mod config;
mod containers;
mod error;
mod execs;
mod handlers;
mod http;
mod lock;
mod server;
mod services;
mod stats;
mod volumes;

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Parser;
use tracing_subscriber::EnvFilter;

use berth::image::ImageStore;

use crate::config::{Config, Flags};
use crate::containers::{Cgroups, ContainerService};
use crate::services::Services;

fn main() -> ExitCode {
    let config = match Config::resolve(Flags::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {e}");
            return ExitCode::FAILURE;
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_new(&config.log_level).unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("berthd: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(config: Config) -> anyhow::Result<()> {
    for dir in [&config.data_root, &config.exec_root] {
        berth::fsutil::create_private_dir(dir)
            .with_context(|| format!("creating {}", dir.display()))?;
    }
    // dockerd refuses to start with log defaults no container could use.
    containers::logs::check_defaults(&config.log_driver, &config.log_opts)
        .map_err(|e| anyhow::anyhow!("invalid log configuration: {e}"))?;
    let _lock = lock::DataRootLock::acquire(&config.data_root)?;
    let images = ImageStore::open(&config.data_root)?;
    let exe = supervisor_binary()?;
    let cgroups = Cgroups::detect(config.cgroup_parent.clone());
    cgroups.check_parent().context("invalid cgroup-parent")?;
    let containers = Arc::new(
        ContainerService::open(&config.data_root, &config.exec_root, exe.clone(), cgroups)
            .context("loading container state")?,
    );
    // Before the socket is bound: clients never see a half-recovered table.
    containers.adopt().await;
    let listener = server::bind(&config.socket, &config.group)
        .with_context(|| format!("listening on {}", config.socket.display()))?;
    lock::write_pidfile(&config.pidfile)?;
    tracing::info!(
        socket = %config.socket.display(),
        data_root = %config.data_root.display(),
        config_file = ?config.config_file,
        "berthd is serving the Docker Engine API"
    );
    let svc = Arc::new(Services {
        config: config.clone(),
        images,
        containers,
        stats: Arc::new(stats::Collector::new()),
        execs: Arc::new(execs::ExecService::new(exe)),
    });
    server::serve(listener, svc, shutdown_signal()).await;
    tracing::info!("shutting down");
    for path in [&config.socket, &config.pidfile] {
        if let Err(e) = std::fs::remove_file(path) {
            tracing::warn!(path = %path.display(), error = %e, "removing on shutdown");
        }
    }
    Ok(())
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        tracing::error!("cannot install signal handlers; stop berthd with SIGKILL");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
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
