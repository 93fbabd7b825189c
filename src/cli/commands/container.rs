//! Container commands. `run` follows Docker's CLI flow exactly: create,
//! attach (hijacked connection), wait (registered before start), start, copy
//! the output, exit with the container's status.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};

use clap::Args;
use hyper::Method;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use berth::api::models::{ContainerConfig, ContainerCreateResponse, HostConfig, WaitResponse};
use berth::image::reference::{Reference, familiar_name};

use super::{Ctx, display_json_messages, print_out};
use crate::client::{
    Attached, Client, ClientError, empty, encode_path, json_body, next_chunk, query,
};
use crate::error::{CliError, go_io_error, run_status_error};
use crate::stream::{Demuxer, StreamError, StreamKind};

/// `berth run` / `berth container run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Automatically remove the container and its associated anonymous volumes when it exits
    #[arg(long)]
    rm: bool,
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    detach: bool,
    /// Assign a name to the container
    #[arg(long)]
    name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "list")]
    env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "list")]
    env_file: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir", value_name = "string")]
    workdir: Option<String>,
    /// Username or UID (format: <name|uid>[:<group|gid>])
    #[arg(short = 'u', long, value_name = "string")]
    user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long, value_name = "string")]
    entrypoint: Option<String>,
    /// Container host name
    #[arg(short = 'h', long, value_name = "string")]
    hostname: Option<String>,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label", value_name = "list")]
    label: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    tty: bool,
    /// Print usage
    #[arg(long, action = clap::ArgAction::Help)]
    help: Option<bool>,
    /// IMAGE [COMMAND] [ARG...]; flags after IMAGE belong to the command
    #[arg(
        required = true,
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE] [COMMAND] [ARG..."
    )]
    args: Vec<String>,
}

/// Docker's `withHelp` + StatusError for option errors: exit 125.
fn option_error(message: String) -> CliError {
    CliError::Status {
        code: 125,
        message: format!("berth: {message}\n\nRun 'berth run --help' for more information"),
    }
}

/// Docker's `ValidateEnv`: `VAR` alone takes the value from our environment
/// when set, and is passed through bare otherwise.
fn expand_env(v: &str) -> Result<String, String> {
    let (key, has_value) = match v.split_once('=') {
        Some((k, _)) => (k, true),
        None => (v, false),
    };
    if key.is_empty() {
        return Err(format!("invalid environment variable: {v}"));
    }
    if has_value {
        return Ok(v.to_string());
    }
    Ok(match std::env::var(key) {
        Ok(val) => format!("{key}={val}"),
        Err(_) => v.to_string(),
    })
}

/// Docker's `ParseEnvFile`: `#` comments and blank lines skipped, leading
/// space trimmed, bare names taken from our environment (dropped if unset).
pub fn parse_env_file(content: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (n, line) in content.lines().enumerate() {
        let line = if n == 0 {
            line.trim_start_matches('\u{feff}')
        } else {
            line
        };
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (var, value) = match line.split_once('=') {
            Some((k, v)) => (k, Some(v)),
            None => (line, None),
        };
        if var.is_empty() {
            return Err(format!(
                "poorly formatted environment: no variable name on line '{line}'"
            ));
        }
        if var.contains([' ', '\t', '\n', '\x0b', '\x0c', '\r']) {
            return Err(format!(
                "poorly formatted environment: variable '{var}' contains whitespaces"
            ));
        }
        match value {
            Some(v) => out.push(format!("{var}={v}")),
            None => {
                if let Ok(v) = std::env::var(var) {
                    out.push(format!("{var}={v}"));
                }
            }
        }
    }
    Ok(out)
}

/// The JSON body of `POST /containers/create`.
#[derive(Debug, Serialize)]
struct CreateBody {
    #[serde(flatten)]
    config: ContainerConfig,
    #[serde(rename = "HostConfig")]
    host_config: HostConfig,
}

fn build_create(args: &RunArgs) -> Result<CreateBody, CliError> {
    let mut env = Vec::new();
    for file in &args.env_file {
        let content = std::fs::read_to_string(file)
            .map_err(|e| option_error(format!("open {file}: {}", go_io_error(&e))))?;
        env.extend(parse_env_file(&content).map_err(option_error)?);
    }
    for e in &args.env {
        env.push(expand_env(e).map_err(option_error)?);
    }
    let labels: HashMap<String, String> = args
        .label
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect();
    let image = args.args[0].clone();
    let cmd: Vec<String> = args.args[1..].to_vec();
    let attach = !args.detach;
    let config = ContainerConfig {
        hostname: args.hostname.clone(),
        user: args.user.clone(),
        attach_stdin: Some(attach && args.interactive),
        attach_stdout: Some(attach),
        attach_stderr: Some(attach),
        tty: Some(args.tty),
        open_stdin: Some(args.interactive),
        stdin_once: Some(attach && args.interactive),
        env: Some(env),
        cmd: if cmd.is_empty() { None } else { Some(cmd) },
        image: Some(image),
        working_dir: args.workdir.clone(),
        entrypoint: args.entrypoint.clone().map(|e| vec![e]),
        labels: Some(labels),
        ..Default::default()
    };
    let host_config = HostConfig {
        auto_remove: Some(args.rm),
        ..Default::default()
    };
    Ok(CreateBody {
        config,
        host_config,
    })
}

/// `POST /containers/create`, pulling the image first if the daemon does not
/// have it, as Docker's `createContainer` does.
async fn create(
    client: &Client,
    body: &CreateBody,
    name: Option<&str>,
) -> Result<ContainerCreateResponse, CliError> {
    let q: Vec<(&str, String)> = name.iter().map(|n| ("name", n.to_string())).collect();
    let path = format!("/containers/create{}", query(&q));
    let first = client.json(Method::POST, &path, json_body(body)).await;
    let image = body.config.image.clone().unwrap_or_default();
    let reference = Reference::parse(&image).ok();
    let resp = match (first, reference) {
        (Err(e), Some(r)) if e.is_not_found() => {
            eprintln!(
                "Unable to find image '{}' locally",
                familiar_with_default_tag(&r)
            );
            pull(client, &r).await?;
            client.json(Method::POST, &path, json_body(body)).await?
        }
        (other, _) => other?,
    };
    Ok(resp)
}

/// `POST /images/create?fromImage=...`, progress to stderr.
async fn pull(client: &Client, r: &Reference) -> Result<(), CliError> {
    let path = format!("/images/create{}", query(&pull_query(r)));
    let resp = client.send(Method::POST, &path, empty(), None).await?;
    display_json_messages(&path, resp, &mut std::io::stderr()).await
}

/// `busybox:latest`, `localhost:5000/app@sha256:...`: the familiar form with the
/// default tag filled in, as Docker prints it in messages. Uses the string form of
/// `familiar_name` so `docker.io/library/a/b` keeps its `library/`, as Docker's does.
fn familiar_with_default_tag(r: &Reference) -> String {
    let r = r.clone().with_default_tag();
    let mut s = familiar_name(&r.name());
    if let Some(t) = &r.tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = &r.digest {
        s.push('@');
        s.push_str(d);
    }
    s
}

/// The `fromImage`/`tag` query of a pull: the digest as the tag if there is one,
/// else the tag, else `latest`.
fn pull_query(r: &Reference) -> Vec<(&'static str, String)> {
    let tag = match (&r.digest, &r.tag) {
        (Some(d), _) => d.clone(),
        (None, Some(t)) => t.clone(),
        (None, None) => "latest".to_string(),
    };
    vec![("fromImage", familiar_name(&r.name())), ("tag", tag)]
}

/// Copies an attach stream to our stdout/stderr: demultiplexed, or raw for a TTY.
struct OutputCopier {
    tty: bool,
    demux: Demuxer,
}

impl OutputCopier {
    fn write(&mut self, data: &[u8]) -> Result<(), CliError> {
        if self.tty {
            write_std(StreamKind::Stdout, data);
            return Ok(());
        }
        self.demux.push(data);
        while let Some((kind, payload)) = self.demux.next_frame()? {
            if kind == StreamKind::SystemErr {
                return Err(StreamError::Daemon {
                    message: String::from_utf8_lossy(&payload).into_owned(),
                }
                .into());
            }
            write_std(kind, &payload);
        }
        Ok(())
    }
}

/// Writes to our stdout or stderr; a reader that went away is not an error
/// worth stopping the container's output for.
fn write_std(kind: StreamKind, data: &[u8]) {
    if kind == StreamKind::Stderr {
        let mut e = std::io::stderr().lock();
        let _ = e.write_all(data);
        let _ = e.flush();
    } else {
        let mut o = std::io::stdout().lock();
        let _ = o.write_all(data);
        let _ = o.flush();
    }
}

/// Waits for the container as Docker's `waitExitOrRemoved`: the request is
/// sent (and its headers received) now, the status read later.
async fn start_wait(client: &Client, id: &str, auto_remove: bool) -> tokio::task::JoinHandle<i32> {
    let condition = if auto_remove { "removed" } else { "next-exit" };
    let path = format!(
        "/containers/{}/wait{}",
        encode_path(id),
        query(&[("condition", condition.into())])
    );
    let sent = client
        .send(Method::POST, &path, empty(), Some("application/json"))
        .await;
    tokio::spawn(async move {
        let resp = match sent {
            Ok(r) => r,
            Err(e) => {
                eprintln!("error waiting for container: {e}");
                return 125;
            }
        };
        let body = match Client::read_all(&path, resp).await {
            Ok(b) => b,
            Err(e) => {
                eprintln!("error waiting for container: {e}");
                return 125;
            }
        };
        match serde_json::from_slice::<WaitResponse>(&body) {
            Ok(WaitResponse {
                error: Some(err), ..
            }) if !err.message.is_empty() => {
                eprintln!("Error waiting for container: {}", err.message);
                125
            }
            Ok(w) => i32::try_from(w.status_code).unwrap_or(125),
            Err(e) => {
                eprintln!("error waiting for container: {e}");
                125
            }
        }
    })
}

/// `berth run`: create and start a container, attached unless `-d`.
pub async fn run(ctx: &Ctx, args: RunArgs) -> Result<(), CliError> {
    let body = build_create(&args)?;
    let client = &ctx.client;
    if !args.detach && args.interactive && args.tty && !std::io::stdin().is_terminal() {
        return Err(CliError::usage("the input device is not a TTY"));
    }
    let created = create(client, &body, args.name.as_deref())
        .await
        .map_err(|e| connect_or(e, |e| run_status_error(&e, "run")))?;
    for w in &created.warnings {
        eprintln!("WARNING: {w}");
    }
    let id = created.id;
    let start_path = format!("/containers/{}/start", encode_path(&id));

    if args.detach {
        print_out(&format!("{id}\n"));
        client
            .bytes(Method::POST, &start_path, empty())
            .await
            .map_err(|e| connect_or(e.into(), |e| run_status_error(&e, "run")))?;
        return Ok(());
    }

    let mut q = vec![("stream", "1".to_string())];
    if args.interactive {
        q.push(("stdin", "1".to_string()));
    }
    q.push(("stdout", "1".to_string()));
    q.push(("stderr", "1".to_string()));
    let attach_path = format!("/containers/{}/attach{}", encode_path(&id), query(&q));
    let attached = client.hijack(&attach_path).await?;
    let status = start_wait(client, &id, args.rm).await;

    if let Err(e) = client.bytes(Method::POST, &start_path, empty()).await {
        drop(attached);
        if args.rm {
            // The daemon removes the container; let that finish first, as Docker does.
            let _ = status.await;
        }
        return Err(connect_or(e.into(), |e| run_status_error(&e, "run")));
    }

    let mut copier = OutputCopier {
        tty: args.tty,
        demux: Demuxer::default(),
    };
    match attached {
        Attached::Upgraded(io) => {
            let (mut reader, mut writer) = tokio::io::split(io);
            if args.interactive {
                tokio::spawn(async move {
                    let mut stdin = tokio::io::stdin();
                    if let Err(e) = tokio::io::copy(&mut stdin, &mut writer).await {
                        tracing::debug!("copying stdin to the container: {e}");
                    }
                    // Half-close so the container sees end of input.
                    let _ = writer.shutdown().await;
                });
            }
            let mut buf = vec![0u8; 32 * 1024];
            loop {
                let n = reader
                    .read(&mut buf)
                    .await
                    .map_err(|source| ClientError::Stream {
                        path: attach_path.clone(),
                        source,
                    })?;
                if n == 0 {
                    break;
                }
                copier.write(&buf[..n])?;
            }
        }
        Attached::Body(mut body) => {
            while let Some(chunk) = next_chunk(&attach_path, &mut body).await? {
                copier.write(&chunk)?;
            }
        }
    }
    if copier.demux.has_partial() {
        tracing::debug!("attach stream ended inside a frame");
    }
    let code = status.await.unwrap_or(125);
    if code != 0 {
        return Err(CliError::Status {
            code,
            message: String::new(),
        });
    }
    Ok(())
}

/// Keeps "cannot connect" as the single line Berth promises; anything else
/// goes through `f` (Docker's toStatusError for run).
fn connect_or(e: CliError, f: impl FnOnce(CliError) -> CliError) -> CliError {
    match e {
        CliError::Client(ClientError::Connect { .. }) => e,
        other => f(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    #[command(disable_help_flag = true)]
    struct Wrap {
        #[command(flatten)]
        run: RunArgs,
    }

    fn parse(argv: &[&str]) -> RunArgs {
        let mut full = vec!["run"];
        full.extend_from_slice(argv);
        Wrap::try_parse_from(full).unwrap().run
    }

    #[test]
    fn pull_names_like_docker() {
        let r = Reference::parse("busybox").unwrap();
        assert_eq!(familiar_with_default_tag(&r), "busybox:latest");
        assert_eq!(
            pull_query(&r),
            vec![("fromImage", "busybox".into()), ("tag", "latest".into())]
        );
        let r = Reference::parse("localhost:5000/berth/app:v1").unwrap();
        assert_eq!(familiar_with_default_tag(&r), "localhost:5000/berth/app:v1");
        assert_eq!(
            pull_query(&r),
            vec![
                ("fromImage", "localhost:5000/berth/app".into()),
                ("tag", "v1".into())
            ]
        );
        let d = format!("sha256:{}", "a".repeat(64));
        let r = Reference::parse(&format!("busybox@{d}")).unwrap();
        assert_eq!(familiar_with_default_tag(&r), format!("busybox@{d}"));
        assert_eq!(
            pull_query(&r),
            vec![("fromImage", "busybox".into()), ("tag", d)]
        );
        // Docker keeps `library/` when the official path has more components.
        let r = Reference::parse("docker.io/library/a/b").unwrap();
        assert_eq!(familiar_with_default_tag(&r), "library/a/b:latest");
    }

    #[test]
    fn flags_stop_at_image() {
        let a = parse(&[
            "--rm", "-it", "-e", "A=1", "-h", "box", "busybox", "ls", "-l", "--rm",
        ]);
        assert!(a.rm && a.interactive && a.tty);
        assert_eq!(a.hostname.as_deref(), Some("box"));
        assert_eq!(a.args, vec!["busybox", "ls", "-l", "--rm"]);
        let a = parse(&["busybox", "-e"]);
        assert_eq!(a.args, vec!["busybox", "-e"]);
        assert!(a.env.is_empty());
    }

    #[test]
    fn create_body_like_docker() {
        let a = parse(&[
            "--rm",
            "-i",
            "--name",
            "x",
            "-l",
            "k=v",
            "-l",
            "bare",
            "--entrypoint",
            "",
            "-w",
            "/tmp",
            "busybox",
            "sh",
        ]);
        let body = build_create(&a).unwrap();
        let v = serde_json::to_value(&body).unwrap();
        assert_eq!(v["Image"], "busybox");
        assert_eq!(v["Cmd"], serde_json::json!(["sh"]));
        assert_eq!(v["Entrypoint"], serde_json::json!([""]));
        assert_eq!(v["AttachStdin"], true);
        assert_eq!(v["OpenStdin"], true);
        assert_eq!(v["StdinOnce"], true);
        assert_eq!(v["AttachStdout"], true);
        assert_eq!(v["WorkingDir"], "/tmp");
        assert_eq!(v["Labels"]["k"], "v");
        assert_eq!(v["Labels"]["bare"], "");
        assert_eq!(v["HostConfig"]["AutoRemove"], true);
        let d = build_create(&parse(&["-d", "busybox"])).unwrap();
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["AttachStdout"], false);
        assert!(v.get("Cmd").is_none());
    }

    #[test]
    fn env_file_rules() {
        let got =
            parse_env_file("\u{feff}A=1\n  # c\n\n B=two words\nBERTH_SURELY_UNSET_VAR\n").unwrap();
        assert_eq!(got, vec!["A=1", "B=two words"]);
        assert!(
            parse_env_file("=x")
                .unwrap_err()
                .contains("no variable name")
        );
        assert!(
            parse_env_file("A B=x")
                .unwrap_err()
                .contains("contains whitespaces")
        );
        assert_eq!(
            expand_env("BERTH_SURELY_UNSET_VAR").unwrap(),
            "BERTH_SURELY_UNSET_VAR"
        );
        assert_eq!(expand_env("X=").unwrap(), "X=");
        assert!(expand_env("=x").is_err());
    }
}
