//! `run` and `create` with Docker's flags. `run` follows Docker's CLI flow
//! exactly: create, attach (hijacked connection), wait (registered before
//! start), start, stream (see [`super::attach`]), exit with the container's status.

use std::collections::HashMap;
use std::io::IsTerminal;

use clap::Args;
use hyper::Method;
use serde::Serialize;

use berth::api::models::{
    ContainerConfig, ContainerCreateResponse, HostConfig, HostConfigLogConfig, NetworkingConfig,
    ResourcesUlimits, RestartPolicy, RestartPolicyNameEnum,
};
use berth::image::reference::{Reference, familiar_name};

use super::attach::{Ended, Session, exit_status, start_wait};
use super::{Ctx, display_json_messages, print_out};
use crate::client::{Client, ClientError, empty, encode_path, json_body, query};
use crate::error::{CliError, flag_error, go_io_error, run_status_error};
use crate::netflags::{NetFlagError, NetFlags};
use crate::tty::stdout_size;

/// `berth run` / `berth create` (and their `container` forms): Docker's flags.
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
    /// Read in a line delimited file of labels
    #[arg(long = "label-file", value_name = "list")]
    label_file: Vec<String>,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    tty: bool,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach", value_name = "list")]
    attach: Vec<String>,
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    detach_keys: Option<String>,
    /// Proxy received signals to the process
    #[arg(
        long = "sig-proxy",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        require_equals = true
    )]
    sig_proxy: bool,
    /// Give extended privileges to this container
    #[arg(long)]
    privileged: bool,
    /// User namespace to use
    #[arg(long, value_name = "string")]
    userns: Option<String>,
    /// Add Linux capabilities
    #[arg(long = "cap-add", value_name = "list")]
    cap_add: Vec<String>,
    /// Drop Linux capabilities
    #[arg(long = "cap-drop", value_name = "list")]
    cap_drop: Vec<String>,
    /// Mount the container's root filesystem as read only
    #[arg(long = "read-only")]
    read_only: bool,
    /// Security Options
    #[arg(long = "security-opt", value_name = "list")]
    security_opt: Vec<String>,
    /// Add additional groups to join
    #[arg(long = "group-add", value_name = "list")]
    group_add: Vec<String>,
    /// Ulimit options
    #[arg(long, value_name = "ulimit")]
    ulimit: Vec<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal", value_name = "string")]
    stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(
        long = "stop-timeout",
        value_name = "int",
        allow_negative_numbers = true
    )]
    stop_timeout: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long, value_name = "string", default_value = "no")]
    restart: String,
    /// Logging driver for the container
    #[arg(long = "log-driver", value_name = "string")]
    log_driver: Option<String>,
    /// Log driver options
    #[arg(long = "log-opt", value_name = "list")]
    log_opt: Vec<String>,
    #[command(flatten)]
    net: NetFlags,
    /// Resource limits (cgroups)
    #[command(flatten)]
    resources: super::resources::ResourceArgs,
    /// Volumes and mounts
    #[command(flatten)]
    mounts: super::mountflags::MountArgs,
    /// Health checks
    #[command(flatten)]
    health: super::healthflags::HealthArgs,
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
fn option_error(command: &str, message: String) -> CliError {
    CliError::Status {
        code: 125,
        message: format!("berth: {message}\n\nRun 'berth {command} --help' for more information"),
    }
}

/// `--restart name[:count]` as HostConfig.RestartPolicy; with `--rm` only
/// `no` (the docker CLI's check). The daemon judges the retry count.
fn restart_policy(flag: &str, rm: bool) -> Result<Option<RestartPolicy>, String> {
    let parsed = super::resources::parse_restart_policy(flag)?;
    let name = match parsed.name.as_str() {
        "" | "no" => RestartPolicyNameEnum::NO,
        "always" => RestartPolicyNameEnum::ALWAYS,
        "unless-stopped" => RestartPolicyNameEnum::UNLESS_STOPPED,
        "on-failure" => RestartPolicyNameEnum::ON_FAILURE,
        other => return Err(format!("invalid restart policy '{other}'")),
    };
    if rm && name != RestartPolicyNameEnum::NO {
        return Err("conflicting options: cannot specify both --restart and --rm".to_owned());
    }
    Ok(Some(RestartPolicy {
        name: Some(name),
        maximum_retry_count: Some(parsed.maximum_retry_count),
    }))
}

/// The Linux resource names Docker's `units.ParseUlimit` knows.
const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
];

/// Docker's `units.ParseUlimit`: `name=soft[:hard]`, hard defaulting to soft.
pub fn parse_ulimit(v: &str) -> Result<ResourcesUlimits, String> {
    let (name, limits) = v
        .split_once('=')
        .ok_or_else(|| format!("invalid ulimit argument: {v}"))?;
    if !ULIMIT_NAMES.contains(&name) {
        return Err(format!("invalid ulimit type: {name}"));
    }
    let parts: Vec<&str> = limits.split(':').collect();
    if parts.len() > 2 {
        return Err(format!(
            "too many limit value arguments - {limits}, can only have up to two, `soft[:hard]`"
        ));
    }
    let num = |s: &str| {
        s.parse::<i64>()
            .map_err(|_| format!("invalid ulimit argument: {v}"))
    };
    let soft = num(parts[0])?;
    let hard = match parts.get(1) {
        Some(h) => num(h)?,
        None => soft,
    };
    if soft > hard {
        return Err(format!(
            "ulimit soft limit must be less than or equal to hard limit: {soft} > {hard}"
        ));
    }
    Ok(ResourcesUlimits {
        name: Some(name.to_string()),
        soft: Some(soft),
        hard: Some(hard),
    })
}

/// Docker's `parseSecurityOpts`: `seccomp=<file>` carries the profile itself;
/// `key:value` is the deprecated spelling of `key=value`.
fn parse_security_opt(opt: &str) -> Result<String, String> {
    if opt == "no-new-privileges" {
        return Ok(opt.to_string());
    }
    let (key, value) = match opt.split_once('=').or_else(|| opt.split_once(':')) {
        Some(kv) => kv,
        None => return Err(format!("Invalid --security-opt: {opt:?}")),
    };
    if key == "seccomp" && value != "unconfined" {
        let text = std::fs::read(value).map_err(|e| {
            format!(
                "opening seccomp profile ({value}) failed: {}",
                go_io_error(&e)
            )
        })?;
        let profile: serde_json::Value = serde_json::from_slice(&text)
            .map_err(|e| format!("compacting json for seccomp profile ({value}) failed: {e}"))?;
        return Ok(format!("seccomp={profile}"));
    }
    Ok(format!("{key}={value}"))
}

/// Docker's `ReadKVStrings` for label files: one label a line, `#` comments.
fn read_label_file(path: &str) -> Result<Vec<String>, String> {
    let text =
        std::fs::read_to_string(path).map_err(|e| format!("open {path}: {}", go_io_error(&e)))?;
    Ok(text
        .lines()
        .map(|l| l.trim_start())
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect())
}

/// Docker's `ValidateEnv`: `VAR` alone takes the value from our environment
/// when set, and is passed through bare otherwise.
pub fn expand_env(v: &str) -> Result<String, String> {
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

/// HostConfig.LogConfig from `--log-driver`/`--log-opt`, refused locally
/// where Docker's CLI refuses it.
fn log_config(args: &RunArgs) -> Result<HostConfigLogConfig, String> {
    let mut config = HashMap::new();
    for o in &args.log_opt {
        let (k, v) = o.split_once('=').unwrap_or((o.as_str(), ""));
        config.insert(k.to_string(), v.to_string());
    }
    let driver = args.log_driver.clone().unwrap_or_default();
    if driver == "none" && !config.is_empty() {
        return Err("invalid logging opts for driver none".to_string());
    }
    Ok(HostConfigLogConfig {
        typ: Some(driver),
        config: Some(config),
    })
}

/// The JSON body of `POST /containers/create`.
#[derive(Debug, Serialize)]
struct CreateBody {
    #[serde(flatten)]
    config: ContainerConfig,
    #[serde(rename = "HostConfig")]
    host_config: HostConfig,
    #[serde(rename = "NetworkingConfig")]
    networking_config: NetworkingConfig,
}

fn build_create(args: &RunArgs, command: &str) -> Result<CreateBody, CliError> {
    let opt_err = |m: String| option_error(command, m);
    let flag_err = |m: String| {
        flag_error(
            &m,
            &format!("{command} [OPTIONS] IMAGE [COMMAND] [ARG...]"),
            command,
        )
    };
    let net = args.net.parse().map_err(|e| {
        tracing::debug!(class = ?e.class(), "network flag refused");
        match e {
            NetFlagError::Flag { .. } => flag_err(e.to_string()),
            NetFlagError::Option(m) => opt_err(m),
        }
    })?;
    let mut env = Vec::new();
    for file in &args.env_file {
        let content = std::fs::read_to_string(file)
            .map_err(|e| opt_err(format!("open {file}: {}", go_io_error(&e))))?;
        env.extend(parse_env_file(&content).map_err(opt_err)?);
    }
    for e in &args.env {
        env.push(expand_env(e).map_err(opt_err)?);
    }
    let mut label_lines = Vec::new();
    for file in &args.label_file {
        label_lines.extend(read_label_file(file).map_err(opt_err)?);
    }
    label_lines.extend(args.label.iter().cloned());
    let labels: HashMap<String, String> = label_lines
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.to_string(), String::new()),
        })
        .collect();
    let mut streams = [false; 3];
    for a in &args.attach {
        match a.to_lowercase().as_str() {
            "stdin" => streams[0] = true,
            "stdout" => streams[1] = true,
            "stderr" => streams[2] = true,
            _ => {
                return Err(flag_err(format!(
                    "invalid argument \"{a}\" for \"-a, --attach\" flag: valid streams are STDIN, STDOUT and STDERR"
                )));
            }
        }
    }
    // The docker CLI's `UsernsMode.Valid`: the host's, or the daemon's remapping.
    if args
        .userns
        .as_deref()
        .is_some_and(|m| !m.is_empty() && m != "host")
    {
        return Err(opt_err("--userns: invalid USER mode".to_owned()));
    }
    if args.detach && !args.attach.is_empty() {
        return Err(CliError::usage(
            "conflicting options: cannot specify both --attach and --detach",
        ));
    }
    let [mut attach_stdin, mut attach_stdout, mut attach_stderr] = streams;
    if args.interactive {
        attach_stdin = true;
    }
    if args.attach.is_empty() {
        attach_stdout = true;
        attach_stderr = true;
    }
    if args.detach {
        (attach_stdin, attach_stdout, attach_stderr) = (false, false, false);
    }
    let ulimits = args
        .ulimit
        .iter()
        .map(|u| {
            parse_ulimit(u).map_err(|e| {
                flag_err(format!(
                    "invalid argument \"{u}\" for \"--ulimit\" flag: {e}"
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    let security_opt = args
        .security_opt
        .iter()
        .map(|o| parse_security_opt(o).map_err(opt_err))
        .collect::<Result<Vec<_>, _>>()?;
    let log_config = log_config(args).map_err(opt_err)?;
    let restart_policy = restart_policy(&args.restart, args.rm).map_err(opt_err)?;
    let image = args.args[0].clone();
    let cmd: Vec<String> = args.args[1..].to_vec();
    let mut config = ContainerConfig {
        hostname: args.hostname.clone(),
        user: args.user.clone(),
        attach_stdin: Some(attach_stdin),
        attach_stdout: Some(attach_stdout),
        attach_stderr: Some(attach_stderr),
        tty: Some(args.tty),
        open_stdin: Some(args.interactive),
        stdin_once: Some(attach_stdin && args.interactive),
        env: Some(env),
        cmd: if cmd.is_empty() { None } else { Some(cmd) },
        image: Some(image),
        working_dir: args.workdir.clone(),
        entrypoint: args.entrypoint.clone().map(|e| vec![e]),
        labels: Some(labels),
        stop_signal: args.stop_signal.clone(),
        stop_timeout: args.stop_timeout,
        ..Default::default()
    };
    // Docker sizes a new TTY from the client's terminal up front.
    let console_size = args
        .tty
        .then(stdout_size)
        .flatten()
        .map(|(h, w)| vec![i32::from(h), i32::from(w)]);
    let mut host_config = HostConfig {
        auto_remove: Some(args.rm),
        restart_policy,
        privileged: Some(args.privileged),
        userns_mode: args.userns.clone().filter(|m| !m.is_empty()),
        cap_add: (!args.cap_add.is_empty()).then(|| args.cap_add.clone()),
        cap_drop: (!args.cap_drop.is_empty()).then(|| args.cap_drop.clone()),
        readonly_rootfs: Some(args.read_only),
        security_opt: (!security_opt.is_empty()).then_some(security_opt),
        group_add: (!args.group_add.is_empty()).then(|| args.group_add.clone()),
        ulimits: (!ulimits.is_empty()).then_some(ulimits),
        console_size,
        log_config: Some(log_config),
        ..Default::default()
    };
    let networking_config = net.apply(&mut config, &mut host_config);
    args.resources.apply(&mut host_config).map_err(opt_err)?;
    args.health.apply(&mut config).map_err(opt_err)?;
    args.mounts
        .apply(&mut config, &mut host_config)
        .map_err(|e| {
            flag_err(format!(
                "invalid argument \"{}\" for \"--mount\" flag: {}",
                e.value, e.reason
            ))
        })?;
    Ok(CreateBody {
        config,
        host_config,
        networking_config,
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

/// Creates the container (pulling if needed) and prints the daemon's warnings.
async fn create_with_warnings(
    client: &Client,
    body: &CreateBody,
    name: Option<&str>,
    command: &str,
) -> Result<String, CliError> {
    let created = create(client, body, name)
        .await
        .map_err(|e| connect_or(e, |e| run_status_error(&e, command)))?;
    for w in &created.warnings {
        eprintln!("WARNING: {w}");
    }
    Ok(created.id)
}

/// `berth create`: create a container and print its ID.
pub async fn create_command(ctx: &Ctx, args: RunArgs) -> Result<(), CliError> {
    let body = build_create(&args, "create")?;
    // Docker's create reports daemon errors plainly (exit 1), unlike run.
    let created = create(&ctx.client, &body, args.name.as_deref()).await?;
    for w in &created.warnings {
        eprintln!("WARNING: {w}");
    }
    print_out(&format!("{}\n", created.id));
    Ok(())
}

/// `berth run`: create and start a container, attached unless `-d`.
pub async fn run(ctx: &Ctx, args: RunArgs) -> Result<(), CliError> {
    let body = build_create(&args, "run")?;
    let client = &ctx.client;
    let stdin = body.config.attach_stdin.unwrap_or(false);
    if !args.detach && stdin && args.tty && !std::io::stdin().is_terminal() {
        return Err(CliError::usage("the input device is not a TTY"));
    }
    let id = create_with_warnings(client, &body, args.name.as_deref(), "run").await?;
    let start_path = format!("/containers/{}/start", encode_path(&id));

    if args.detach {
        print_out(&format!("{id}\n"));
        client
            .bytes(Method::POST, &start_path, empty())
            .await
            .map_err(|e| connect_or(e.into(), |e| run_status_error(&e, "run")))?;
        return Ok(());
    }

    let session = Session {
        id: &id,
        tty: args.tty,
        stdin,
        detach_keys: args.detach_keys.as_deref(),
        sig_proxy: args.sig_proxy,
    };
    let attach_path = session.attach_path(
        body.config.attach_stdout.unwrap_or(true),
        body.config.attach_stderr.unwrap_or(true),
    );
    let attached = client.hijack(&attach_path).await?;
    let condition = if args.rm { "removed" } else { "next-exit" };
    let status = start_wait(client, &id, condition).await;

    if let Err(e) = client.bytes(Method::POST, &start_path, empty()).await {
        drop(attached);
        if args.rm {
            // The daemon removes the container; let that finish first, as Docker does.
            let _ = status.await;
        }
        return Err(connect_or(e.into(), |e| run_status_error(&e, "run")));
    }
    if session.stream(client, &attach_path, attached).await? == Ended::Detached {
        return Ok(());
    }
    exit_status(status.await.unwrap_or(125))
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
        assert!(parse(&["busybox"]).sig_proxy);
        assert!(parse(&["--sig-proxy", "busybox"]).sig_proxy);
        assert!(!parse(&["--sig-proxy=false", "busybox"]).sig_proxy);
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
        let body = build_create(&a, "run").unwrap();
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
        let d = build_create(&parse(&["-d", "busybox"]), "run").unwrap();
        let v = serde_json::to_value(&d).unwrap();
        assert_eq!(v["AttachStdout"], false);
        assert!(v.get("Cmd").is_none());
    }

    #[test]
    fn security_and_limit_flags_fill_the_host_config() {
        let a = parse(&[
            "--privileged",
            "--cap-add",
            "NET_ADMIN",
            "--cap-drop",
            "ALL",
            "--read-only",
            "--security-opt",
            "no-new-privileges",
            "--security-opt",
            "apparmor:unconfined",
            "--group-add",
            "1234",
            "--ulimit",
            "nofile=1024:2048",
            "--ulimit",
            "nproc=10",
            "--stop-signal",
            "SIGUSR1",
            "--stop-timeout",
            "3",
            "busybox",
        ]);
        let v = serde_json::to_value(build_create(&a, "run").unwrap()).unwrap();
        let h = &v["HostConfig"];
        assert_eq!(h["Privileged"], true);
        assert_eq!(h["CapAdd"], serde_json::json!(["NET_ADMIN"]));
        assert_eq!(h["CapDrop"], serde_json::json!(["ALL"]));
        assert_eq!(h["ReadonlyRootfs"], true);
        assert_eq!(
            h["SecurityOpt"],
            serde_json::json!(["no-new-privileges", "apparmor=unconfined"])
        );
        assert_eq!(h["GroupAdd"], serde_json::json!(["1234"]));
        assert_eq!(
            h["Ulimits"],
            serde_json::json!([
                {"Name": "nofile", "Soft": 1024, "Hard": 2048},
                {"Name": "nproc", "Soft": 10, "Hard": 10}
            ])
        );
        assert_eq!(v["StopSignal"], "SIGUSR1");
        assert_eq!(v["StopTimeout"], 3);
        // Not a terminal here: no console size.
        assert!(h.get("ConsoleSize").is_none());
    }

    #[test]
    fn ulimits_parse_like_go_units() {
        assert!(parse_ulimit("nofile=1:2").is_ok());
        assert_eq!(
            parse_ulimit("nofile").unwrap_err(),
            "invalid ulimit argument: nofile"
        );
        assert_eq!(
            parse_ulimit("bogus=1").unwrap_err(),
            "invalid ulimit type: bogus"
        );
        assert_eq!(
            parse_ulimit("nofile=3:2").unwrap_err(),
            "ulimit soft limit must be less than or equal to hard limit: 3 > 2"
        );
        assert!(
            parse_ulimit("nofile=1:2:3")
                .unwrap_err()
                .contains("too many")
        );
        assert!(parse_ulimit("nofile=x").is_err());
    }

    #[test]
    fn attach_flags_choose_the_streams() {
        let v = |argv: &[&str]| {
            serde_json::to_value(build_create(&parse(argv), "run").unwrap()).unwrap()
        };
        let only_err = v(&["-a", "STDERR", "busybox"]);
        assert_eq!(
            (
                &only_err["AttachStdin"],
                &only_err["AttachStdout"],
                &only_err["AttachStderr"]
            ),
            (
                &serde_json::json!(false),
                &serde_json::json!(false),
                &serde_json::json!(true)
            )
        );
        let i = v(&["-i", "-a", "stdout", "busybox"]);
        assert_eq!(i["AttachStdin"], true);
        assert_eq!(i["AttachStderr"], false);
        let bad = build_create(&parse(&["-a", "nope", "busybox"]), "create").unwrap_err();
        assert_eq!(bad.exit_code(), 125);
        assert!(
            bad.to_string()
                .contains("Usage:  berth create [OPTIONS] IMAGE"),
            "{bad}"
        );
        let both = build_create(&parse(&["-d", "-a", "stdout", "busybox"]), "run").unwrap_err();
        assert_eq!(both.exit_code(), 1);
    }

    #[test]
    fn label_files_and_seccomp_profiles_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let labels = dir.path().join("berth-labels");
        std::fs::write(&labels, "# c\na=1\n\nb\n").unwrap();
        let profile = dir.path().join("berth-seccomp.json");
        std::fs::write(&profile, "{ \"defaultAction\": \"SCMP_ACT_ALLOW\" }").unwrap();
        let a = parse(&[
            "--label-file",
            labels.to_str().unwrap(),
            "-l",
            "a=2",
            "--security-opt",
            &format!("seccomp={}", profile.display()),
            "busybox",
        ]);
        let v = serde_json::to_value(build_create(&a, "run").unwrap()).unwrap();
        assert_eq!(v["Labels"], serde_json::json!({"a": "2", "b": ""}));
        assert_eq!(
            v["HostConfig"]["SecurityOpt"],
            serde_json::json!([r#"seccomp={"defaultAction":"SCMP_ACT_ALLOW"}"#])
        );
        let missing = parse(&["--label-file", "/nonexistent/berth-labels", "busybox"]);
        assert_eq!(build_create(&missing, "run").unwrap_err().exit_code(), 125);
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
