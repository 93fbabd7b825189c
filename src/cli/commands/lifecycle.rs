//! `start`, `stop`, `kill`, `restart`, `rm`, `wait`, `rename`, `top` and
//! `port`: Docker's CLI flows, output and error reporting. Commands taking
//! several containers act on each (in parallel where Docker does), print each
//! name as given on success, print every failure and exit 1 at the end.

use std::io::IsTerminal;

use clap::Args;
use hyper::Method;
use tokio::task::JoinHandle;

use berth::api::models::{ContainerTopResponse, WaitResponse};

use super::attach::{Ended, Session, exit_status, inspect_container, start_wait};
use super::{Ctx, print_out};
use crate::client::{Client, ClientError, empty, encode_path, query};
use crate::error::CliError;
use crate::table::align;

/// `berth start` / `berth container start`.
#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    attach: bool,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    detach_keys: Option<String>,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    interactive: bool,
    /// The containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `berth stop` / `berth container stop`.
#[derive(Debug, Args)]
pub struct StopArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    signal: Option<String>,
    /// Seconds to wait before killing the container
    #[arg(
        short = 't',
        long = "timeout",
        alias = "time",
        value_name = "int",
        allow_negative_numbers = true
    )]
    timeout: Option<i64>,
    /// The containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `berth kill` / `berth container kill`.
#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, value_name = "string")]
    signal: Option<String>,
    /// The containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `berth rm` / `berth container rm|remove`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    force: bool,
    /// Remove the specified link
    #[arg(short = 'l', long)]
    link: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long)]
    volumes: bool,
    /// The containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `berth wait` / `berth container wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// The containers
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `berth rename` / `berth container rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Its new name
    #[arg(value_name = "NEW_NAME")]
    new_name: String,
}

/// `berth top` / `berth container top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// Options for ps
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "ps OPTIONS"
    )]
    ps_args: Vec<String>,
}

/// `berth port` / `berth container port`.
#[derive(Debug, Args)]
pub struct PortArgs {
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// PRIVATE_PORT[/PROTO]
    #[arg(value_name = "PRIVATE_PORT[/PROTO]")]
    port: Option<String>,
}

/// The `/containers/{id}/stop` (or restart) query: `t` only when given,
/// `signal` only when given, as Docker's client sends them.
pub fn stop_query(signal: Option<&str>, timeout: Option<i64>) -> String {
    let mut q = Vec::new();
    if let Some(t) = timeout {
        q.push(("t", t.to_string()));
    }
    if let Some(s) = signal.filter(|s| !s.is_empty()) {
        q.push(("signal", s.to_string()));
    }
    query(&q)
}

/// The `DELETE /containers/{id}` query.
pub fn rm_query(force: bool, volumes: bool, link: bool) -> String {
    let mut q = Vec::new();
    if volumes {
        q.push(("v", "1".to_string()));
    }
    if link {
        q.push(("link", "1".to_string()));
    }
    if force {
        q.push(("force", "1".to_string()));
    }
    query(&q)
}

/// Docker's `errors.Join` as the command's final error: every message on its
/// own line, exit 1; nothing when all succeeded.
pub(super) fn joined(errors: Vec<String>) -> Result<(), CliError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Status {
            code: 1,
            message: errors.join("\n"),
        })
    }
}

/// A daemon failure worth stopping at once: nobody answers at all.
pub(super) fn fatal(e: ClientError) -> Result<String, CliError> {
    match e {
        ClientError::Connect { .. } => Err(e.into()),
        other => Ok(other.to_string()),
    }
}

/// Docker's `parallelOperation`: `POST`/`DELETE` on each container at once,
/// results in argument order.
pub(super) fn parallel(
    client: &Client,
    method: Method,
    names: &[String],
    path: impl Fn(&str) -> String,
) -> Vec<JoinHandle<Result<(), ClientError>>> {
    names
        .iter()
        .map(|name| {
            let client = client.clone();
            let method = method.clone();
            let path = path(name);
            tokio::spawn(async move { client.bytes(method, &path, empty()).await.map(|_| ()) })
        })
        .collect()
}

/// Collects [`parallel`]'s results: names printed on success, errors joined.
/// With `ignore_missing` (rm -f), a missing container's error goes to stderr
/// but does not fail the command.
pub(super) async fn report(
    names: &[String],
    handles: Vec<JoinHandle<Result<(), ClientError>>>,
    ignore_missing: bool,
) -> Result<(), CliError> {
    let mut errors = Vec::new();
    for (name, handle) in names.iter().zip(handles) {
        let result = handle.await.unwrap_or_else(|join| {
            Err(ClientError::Stream {
                path: name.clone(),
                source: std::io::Error::other(join.to_string()),
            })
        });
        match result {
            Ok(()) => print_out(&format!("{name}\n")),
            Err(e) if ignore_missing && e.is_not_found() => eprintln!("{e}"),
            Err(e) => errors.push(fatal(e)?),
        }
    }
    joined(errors)
}

fn container_path(name: &str, action: &str) -> String {
    format!("/containers/{}/{action}", encode_path(name))
}

/// `berth stop`.
pub async fn stop(ctx: &Ctx, args: StopArgs) -> Result<(), CliError> {
    let q = stop_query(args.signal.as_deref(), args.timeout);
    let handles = parallel(&ctx.client, Method::POST, &args.containers, |n| {
        format!("{}{q}", container_path(n, "stop"))
    });
    report(&args.containers, handles, false).await
}

/// `berth kill`.
pub async fn kill(ctx: &Ctx, args: KillArgs) -> Result<(), CliError> {
    let q = match args.signal.as_deref().filter(|s| !s.is_empty()) {
        Some(s) => query(&[("signal", s.to_string())]),
        None => String::new(),
    };
    let handles = parallel(&ctx.client, Method::POST, &args.containers, |n| {
        format!("{}{q}", container_path(n, "kill"))
    });
    report(&args.containers, handles, false).await
}

/// `berth restart`: one container after the other, as Docker does.
pub async fn restart(ctx: &Ctx, args: StopArgs) -> Result<(), CliError> {
    let q = stop_query(args.signal.as_deref(), args.timeout);
    let mut errors = Vec::new();
    for name in &args.containers {
        let path = format!("{}{q}", container_path(name, "restart"));
        match ctx.client.bytes(Method::POST, &path, empty()).await {
            Ok(_) => print_out(&format!("{name}\n")),
            Err(e) => errors.push(fatal(e)?),
        }
    }
    joined(errors)
}

/// `berth rm`.
pub async fn rm(ctx: &Ctx, args: RmArgs) -> Result<(), CliError> {
    let q = rm_query(args.force, args.volumes, args.link);
    let mut errors = Vec::new();
    let mut valid = Vec::new();
    for name in &args.containers {
        // Docker trims slashes (`/name` is the same container) and refuses empty names.
        if name.trim_matches('/').is_empty() {
            errors.push("container name cannot be empty".to_string());
        } else {
            valid.push(name.clone());
        }
    }
    let handles = parallel(&ctx.client, Method::DELETE, &valid, |n| {
        format!("/containers/{}{q}", encode_path(n.trim_matches('/')))
    });
    let result = report(&valid, handles, args.force).await;
    match result {
        Err(CliError::Status { message, .. }) => errors.push(message),
        Err(e) => return Err(e),
        Ok(()) => {}
    }
    joined(errors)
}

/// `berth start`: Docker's `RunStart`.
pub async fn start(ctx: &Ctx, args: StartArgs) -> Result<(), CliError> {
    let client = &ctx.client;
    if !(args.attach || args.interactive) {
        let mut failed = Vec::new();
        for name in &args.containers {
            match client
                .bytes(Method::POST, &container_path(name, "start"), empty())
                .await
            {
                Ok(_) => print_out(&format!("{name}\n")),
                Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
                Err(e) => {
                    eprintln!("{e}");
                    failed.push(name.as_str());
                }
            }
        }
        if failed.is_empty() {
            return Ok(());
        }
        return Err(CliError::usage(format!(
            "Error: failed to start containers: {}",
            failed.join(", ")
        )));
    }
    if args.containers.len() > 1 {
        return Err(CliError::usage(
            "you cannot start and attach multiple containers at once",
        ));
    }
    let c = inspect_container(client, &args.containers[0]).await?;
    let id = c.id.clone().unwrap_or_else(|| args.containers[0].clone());
    let config = c.config.clone().unwrap_or_default();
    let tty = config.tty.unwrap_or(false);
    let stdin = args.interactive && config.open_stdin.unwrap_or(false);
    if stdin && tty && !std::io::stdin().is_terminal() {
        return Err(CliError::usage("the input device is not a TTY"));
    }
    let auto_remove = c
        .host_config
        .as_ref()
        .and_then(|h| h.auto_remove)
        .unwrap_or(false);
    let session = Session {
        id: &id,
        tty,
        stdin,
        detach_keys: args.detach_keys.as_deref(),
        sig_proxy: true,
    };
    let path = session.attach_path(true, true);
    let attached = client.hijack(&path).await?;
    let condition = if auto_remove { "removed" } else { "next-exit" };
    let status = start_wait(client, &id, condition).await;
    if let Err(e) = client
        .bytes(Method::POST, &container_path(&id, "start"), empty())
        .await
    {
        drop(attached);
        if auto_remove {
            let _ = status.await;
        }
        return Err(e.into());
    }
    if session.stream(client, &path, attached).await? == Ended::Detached {
        return Ok(());
    }
    exit_status(status.await.unwrap_or(125))
}

/// `berth wait`: each container's exit code on its own line.
pub async fn wait(ctx: &Ctx, args: WaitArgs) -> Result<(), CliError> {
    let mut errors = Vec::new();
    for name in &args.containers {
        let path = container_path(name, "wait");
        match ctx
            .client
            .json::<WaitResponse>(Method::POST, &path, empty())
            .await
        {
            Ok(WaitResponse {
                error: Some(err), ..
            }) if !err.message.is_empty() => errors.push(err.message),
            Ok(w) => print_out(&format!("{}\n", w.status_code)),
            Err(e) => errors.push(fatal(e)?),
        }
    }
    joined(errors)
}

/// `berth rename`.
pub async fn rename(ctx: &Ctx, args: RenameArgs) -> Result<(), CliError> {
    let old = args.container.trim();
    let new = args.new_name.trim();
    if old.is_empty() || new.is_empty() {
        return Err(CliError::usage(
            "Error: Neither old nor new names may be empty",
        ));
    }
    let path = format!(
        "{}{}",
        container_path(old, "rename"),
        query(&[("name", new.to_string())])
    );
    if let Err(e) = ctx.client.bytes(Method::POST, &path, empty()).await {
        fatal(e).map(|m| eprintln!("{m}"))?;
        return Err(CliError::usage(format!(
            "Error: failed to rename container named {old}"
        )));
    }
    Ok(())
}

/// Docker's `top` table: Go's tabwriter with minimum width 20, padding 3.
pub fn top_table(top: &ContainerTopResponse) -> String {
    let mut text = String::new();
    text.push_str(&top.titles.as_deref().unwrap_or_default().join("\t"));
    text.push('\n');
    for p in top.processes.as_deref().unwrap_or_default() {
        text.push_str(&p.join("\t"));
        text.push('\n');
    }
    align(&text, 20, 3)
}

/// `berth top`.
pub async fn top(ctx: &Ctx, args: TopArgs) -> Result<(), CliError> {
    let mut path = container_path(&args.container, "top");
    if !args.ps_args.is_empty() {
        path.push_str(&query(&[("ps_args", args.ps_args.join(" "))]));
    }
    let top: ContainerTopResponse = ctx.client.get(&path).await?;
    print_out(&top_table(&top));
    Ok(())
}

/// `berth port`: the published ports from the container's NetworkSettings.
pub async fn port(ctx: &Ctx, args: PortArgs) -> Result<(), CliError> {
    let c = inspect_container(&ctx.client, &args.container).await?;
    let ports = c.network_settings.and_then(|n| n.ports).unwrap_or_default();
    let join = |ip: &str, port: &str| {
        if ip.contains(':') {
            format!("[{ip}]:{port}")
        } else {
            format!("{ip}:{port}")
        }
    };
    let mut out: Vec<String> = Vec::new();
    match &args.port {
        Some(p) => {
            let (num, proto) = p.split_once('/').unwrap_or((p.as_str(), "tcp"));
            let proto = if proto.is_empty() { "tcp" } else { proto };
            if num.parse::<u16>().is_err() {
                return Err(CliError::usage(format!(
                    "Error: invalid port ({num}): strconv.ParseUint: parsing {num:?}: invalid syntax"
                )));
            }
            let Some(Some(bindings)) = ports.get(&format!("{num}/{proto}")) else {
                return Err(CliError::usage(format!(
                    "Error: No public port '{p}' published for {}",
                    args.container
                )));
            };
            for b in bindings {
                out.push(join(
                    b.host_ip.as_deref().unwrap_or_default(),
                    b.host_port.as_deref().unwrap_or_default(),
                ));
            }
        }
        None => {
            for (from, bindings) in &ports {
                for b in bindings.iter().flatten() {
                    out.push(format!(
                        "{from} -> {}",
                        join(
                            b.host_ip.as_deref().unwrap_or_default(),
                            b.host_port.as_deref().unwrap_or_default()
                        )
                    ));
                }
            }
        }
    }
    if !out.is_empty() {
        out.sort_by(|a, b| super::network::natural_cmp(a, b));
        print_out(&format!("{}\n", out.join("\n")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_like_dockers_client() {
        assert_eq!(stop_query(None, None), "");
        assert_eq!(stop_query(Some("KILL"), Some(0)), "?t=0&signal=KILL");
        assert_eq!(stop_query(Some(""), Some(5)), "?t=5");
        assert_eq!(rm_query(false, false, false), "");
        assert_eq!(rm_query(true, true, false), "?v=1&force=1");
    }

    #[test]
    fn top_table_matches_docker() {
        let top = ContainerTopResponse {
            titles: Some(vec!["UID".into(), "PID".into(), "CMD".into()]),
            processes: Some(vec![
                vec!["root".into(), "4242".into(), "sleep 100".into()],
                vec!["nobody".into(), "4250".into(), "sh".into()],
            ]),
        };
        assert_eq!(
            top_table(&top),
            "UID                 PID                 CMD\n\
             root                4242                sleep 100\n\
             nobody              4250                sh\n"
        );
    }

    #[test]
    fn several_failures_are_one_line_each() {
        let e = joined(vec![
            "Error response from daemon: No such container: a".into(),
            "Error response from daemon: No such container: b".into(),
        ])
        .unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(
            e.to_string(),
            "Error response from daemon: No such container: a\nError response from daemon: No such container: b"
        );
        assert!(joined(vec![]).is_ok());
    }
}
