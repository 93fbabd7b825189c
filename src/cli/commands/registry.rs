//! Registry commands: `pull`, `push` (also under `image`), `login` and
//! `logout`, with Docker's flags, messages and exit codes. The CLI never
//! talks to a registry itself: berthd pulls and pushes
//! (`POST /images/create?fromImage=`, `POST /images/{name}/push`) and checks
//! credentials (`POST /auth`); the CLI sends the stored credentials as
//! `X-Registry-Auth` and draws the JSON progress stream, one bar per layer
//! on a terminal, Docker's plain lines otherwise.

use std::collections::HashMap;
use std::io::{BufRead, IsTerminal, Read, Write};

use clap::Args;
use hyper::Method;
use hyper::body::Incoming;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::Deserialize;
use serde_json::json;

use berth::image::reference::Reference;

use super::Ctx;
use super::credentials::{self, ConfigFile, Credentials};
use crate::client::{empty, encode_path, json_body, query};
use crate::error::CliError;

// ---------------------------------------------------------------- pull

/// `berth pull` / `berth image pull`.
#[derive(Debug, Args)]
pub struct PullArgs {
    /// Download all tagged images in the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Set platform if server is multi-platform capable
    #[arg(long)]
    platform: Option<String>,
    /// Skip image verification (accepted for Docker compatibility; there is none)
    #[arg(long, hide = true, default_value_t = true)]
    disable_content_trust: bool,
    /// The image to pull
    #[arg(value_name = "NAME[:TAG|@DIGEST]")]
    name: String,
}

/// `berth pull`: has berthd pull an image, showing its progress.
pub async fn pull(ctx: &Ctx, args: PullArgs) -> Result<(), CliError> {
    let mut reference = Reference::parse(&args.name)?;
    if args.all_tags && !reference.is_name_only() {
        return Err(CliError::usage("tag can't be used with --all-tags/-a"));
    }
    if !args.all_tags && reference.is_name_only() {
        reference = reference.with_default_tag();
        if !args.quiet {
            super::print_out("Using default tag: latest\n");
        }
    }
    let mut q = vec![("fromImage", reference.familiar_name())];
    if !args.all_tags {
        let tag = reference
            .digest
            .clone()
            .or_else(|| reference.tag.clone())
            .unwrap_or_default();
        q.push(("tag", tag));
    }
    if let Some(p) = args.platform.as_deref().filter(|p| !p.is_empty()) {
        q.push(("platform", p.to_string()));
    }
    let path = format!("/images/create{}", query(&q));
    post_with_progress(ctx, &path, &reference.domain, args.quiet).await?;
    super::print_out(&format!("{reference}\n"));
    Ok(())
}

// ---------------------------------------------------------------- push

/// `berth push` / `berth image push`.
#[derive(Debug, Args)]
pub struct PushArgs {
    /// Push all tags of an image to the repository
    #[arg(short = 'a', long = "all-tags")]
    all_tags: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Skip image signing (accepted for Docker compatibility; there is none)
    #[arg(long, hide = true, default_value_t = true)]
    disable_content_trust: bool,
    /// The image to push
    #[arg(value_name = "NAME[:TAG]")]
    name: String,
}

/// `berth push`: has berthd push an image, showing its progress.
pub async fn push(ctx: &Ctx, args: PushArgs) -> Result<(), CliError> {
    let mut reference = Reference::parse(&args.name)?;
    if reference.digest.is_some() {
        return Err(CliError::usage("cannot push a digest reference"));
    }
    if args.all_tags && !reference.is_name_only() {
        return Err(CliError::usage("tag can't be used with --all-tags/-a"));
    }
    if !args.all_tags && reference.is_name_only() {
        reference = reference.with_default_tag();
        if !args.quiet {
            super::print_out("Using default tag: latest\n");
        }
    }
    let tag = reference.tag.clone().unwrap_or_default();
    let path = format!(
        "/images/{}/push{}",
        encode_path(&reference.familiar_name()),
        query(&[("tag", tag)])
    );
    post_with_progress(ctx, &path, &reference.domain, args.quiet).await?;
    if args.quiet {
        super::print_out(&format!("{reference}\n"));
    }
    Ok(())
}

/// The `X-Registry-Auth` value for images of registry `domain`.
fn auth_header(domain: &str) -> Result<String, CliError> {
    let server = credentials::server_for_domain(domain);
    Ok(match credentials::lookup(&server)? {
        Some(c) => c.registry_auth_header(&server),
        None => credentials::anonymous_auth_header(),
    })
}

// ---------------------------------------------------------------- login / logout

/// `berth login`.
#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Username
    #[arg(short = 'u', long)]
    username: Option<String>,
    /// Password
    #[arg(short = 'p', long)]
    password: Option<String>,
    /// Take the password from stdin
    #[arg(long)]
    password_stdin: bool,
    /// The registry (Docker Hub when omitted)
    #[arg(value_name = "SERVER")]
    server: Option<String>,
}

/// `POST /auth`'s answer.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct AuthResponse {
    #[serde(default)]
    status: String,
    #[serde(default)]
    identity_token: String,
}

/// `berth login`: checks credentials through berthd and stores them.
pub async fn login(ctx: &Ctx, args: LoginArgs) -> Result<(), CliError> {
    if args.password.is_some() {
        eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
        if args.password_stdin {
            return Err(CliError::usage(
                "--password and --password-stdin are mutually exclusive",
            ));
        }
    }
    let mut password = args.password.clone();
    if args.password_stdin {
        if args.username.is_none() {
            return Err(CliError::usage(
                "Must provide --username with --password-stdin",
            ));
        }
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|source| CliError::Io {
                op: "read",
                path: "/dev/stdin".into(),
                source,
            })?;
        let text = text.strip_suffix('\n').unwrap_or(&text);
        password = Some(text.strip_suffix('\r').unwrap_or(text).to_string());
    }
    let server = credentials::normalize_server(args.server.as_deref());
    let config_path = credentials::berth_config_path()?;
    let mut config = ConfigFile::load(&config_path)?;

    // Like Docker: with no flags, stored credentials are tried first.
    if args.username.is_none()
        && password.is_none()
        && let Some(stored) = credentials::lookup(&server)?
        && let Ok(resp) = authenticate(ctx, &server, &stored).await
    {
        super::print_out(&format!("{}\n", resp.status));
        return Ok(());
    }

    let username = match args.username {
        Some(u) => u.trim().to_string(),
        None => prompt("Username: ", true)?,
    };
    if username.is_empty() {
        return Err(CliError::usage("Error: Non-null Username Required"));
    }
    let password = match password {
        Some(p) => p,
        None => prompt("Password: ", false)?,
    };
    if password.is_empty() {
        return Err(CliError::usage("Error: Password Required"));
    }
    let creds = Credentials {
        username,
        password,
        identity_token: String::new(),
    };
    let resp = authenticate(ctx, &server, &creds).await?;
    let stored = if resp.identity_token.is_empty() {
        creds
    } else {
        Credentials {
            password: String::new(),
            identity_token: resp.identity_token.clone(),
            ..creds
        }
    };
    config.set(&server, &stored);
    config.save()?;
    eprintln!(
        "WARNING! Your credentials are stored unencrypted in '{}'.",
        config.path().display()
    );
    super::print_out(&format!("{}\n", resp.status));
    Ok(())
}

/// `POST /auth` with `creds` for `server`.
async fn authenticate(
    ctx: &Ctx,
    server: &str,
    creds: &Credentials,
) -> Result<AuthResponse, CliError> {
    let mut body = json!({"username": creds.username, "serveraddress": server});
    if !creds.password.is_empty() {
        body["password"] = json!(creds.password);
    }
    if !creds.identity_token.is_empty() {
        body["identitytoken"] = json!(creds.identity_token);
    }
    Ok(ctx
        .client
        .json::<AuthResponse>(Method::POST, "/auth", json_body(&body))
        .await?)
}

/// Asks on the terminal for a line; `echo` off for passwords. Docker refuses
/// to prompt when stdin is no terminal.
fn prompt(label: &str, echo: bool) -> Result<String, CliError> {
    use rustix::termios::{LocalModes, OptionalActions, tcgetattr, tcsetattr};
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(CliError::usage(
            "Error: Cannot perform an interactive login from a non TTY device",
        ));
    }
    super::print_out(label);
    let saved = if echo {
        None
    } else {
        let saved = tcgetattr(&stdin).ok();
        if let Some(t) = &saved {
            let mut quiet = t.clone();
            quiet.local_modes.remove(LocalModes::ECHO);
            let _ = tcsetattr(&stdin, OptionalActions::Now, &quiet);
        }
        saved
    };
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if let Some(t) = saved {
        let _ = tcsetattr(&stdin, OptionalActions::Now, &t);
        super::print_out("\n");
    }
    read.map_err(|source| CliError::Io {
        op: "read",
        path: "/dev/stdin".into(),
        source,
    })?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}

/// `berth logout`.
#[derive(Debug, Args)]
pub struct LogoutArgs {
    /// The registry (Docker Hub when omitted)
    #[arg(value_name = "SERVER")]
    server: Option<String>,
}

/// `berth logout`: forgets the stored credentials for a registry. Like
/// docker 28 it says so whether or not there were any.
pub async fn logout(_ctx: &Ctx, args: LogoutArgs) -> Result<(), CliError> {
    let server = credentials::normalize_server(args.server.as_deref());
    let mut config = ConfigFile::load(&credentials::berth_config_path()?)?;
    super::print_out(&format!("Removing login credentials for {server}\n"));
    if config.remove(&server) {
        config.save()?;
    }
    Ok(())
}

// ---------------------------------------------------------------- progress

/// One message of Docker's JSON progress stream (`jsonmessage.JSONMessage`).
#[derive(Debug, Default, Deserialize)]
struct JsonMessage {
    #[serde(default)]
    stream: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    id: Option<String>,
    #[serde(default, rename = "progressDetail")]
    progress_detail: Option<ProgressDetail>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default, rename = "errorDetail")]
    error_detail: Option<ErrorDetail>,
}

#[derive(Debug, Default, Deserialize)]
struct ProgressDetail {
    #[serde(default)]
    current: i64,
    #[serde(default)]
    total: i64,
}

#[derive(Debug, Default, Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    message: String,
}

impl JsonMessage {
    /// Whether Docker's `JSONProgress.String()` would be non-empty: such
    /// messages are bar updates, which Docker drops without a terminal.
    fn has_progress(&self) -> bool {
        self.progress_detail
            .as_ref()
            .is_some_and(|p| p.current > 0 || p.total > 0)
    }

    /// The failure the message reports, on one line.
    fn failure(&self) -> Option<String> {
        let text = self
            .error_detail
            .as_ref()
            .map(|d| d.message.as_str())
            .filter(|m| !m.is_empty())
            .or(self.error.as_deref())?;
        Some(text.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// Draws the stream: bars on a terminal, Docker's lines otherwise, nothing when quiet.
enum Display {
    Quiet,
    Lines(std::io::Stdout),
    Bars {
        multi: MultiProgress,
        bars: HashMap<String, (ProgressBar, String)>,
    },
}

/// Statuses after which a layer's line no longer changes.
fn is_final(status: &str) -> bool {
    matches!(
        status,
        "Pull complete" | "Already exists" | "Pushed" | "Layer already exists"
    ) || status.starts_with("Mounted from")
}

impl Display {
    fn new(quiet: bool) -> Display {
        if quiet {
            Display::Quiet
        } else if std::io::stdout().is_terminal() {
            Display::Bars {
                multi: MultiProgress::with_draw_target(ProgressDrawTarget::stdout()),
                bars: HashMap::new(),
            }
        } else {
            Display::Lines(std::io::stdout())
        }
    }

    fn show(&mut self, msg: &JsonMessage) {
        match self {
            Display::Quiet => {}
            Display::Lines(out) => {
                if msg.has_progress() {
                    return;
                }
                let text = match (&msg.stream, &msg.status) {
                    (Some(s), _) => s.clone(),
                    (None, Some(status)) => match &msg.id {
                        Some(id) if !id.is_empty() => format!("{id}: {status}\n"),
                        _ => format!("{status}\n"),
                    },
                    (None, None) => return,
                };
                let _ = out.write_all(text.as_bytes());
                let _ = out.flush();
            }
            Display::Bars { multi, bars } => {
                let (Some(id), Some(status)) = (msg.id.as_deref(), msg.status.as_deref()) else {
                    let text = msg.stream.as_deref().or(msg.status.as_deref());
                    if let Some(t) = text {
                        let _ = multi.println(t.trim_end_matches('\n'));
                    }
                    return;
                };
                let (bar, last) = bars.entry(id.to_string()).or_insert_with(|| {
                    let bar = multi.add(ProgressBar::new(0));
                    bar.set_style(status_style());
                    bar.set_prefix(id.to_string());
                    (bar, String::new())
                });
                if *last != status {
                    // A new phase (Downloading, then Extracting) starts its
                    // own count and rate.
                    bar.reset();
                    bar.set_message(status.to_string());
                    *last = status.to_string();
                }
                match msg.progress_detail.as_ref().filter(|p| p.total > 0) {
                    Some(p) => {
                        bar.set_style(bytes_style());
                        bar.set_length(p.total as u64);
                        bar.set_position(p.current.max(0) as u64);
                    }
                    None => bar.set_style(status_style()),
                }
                if is_final(status) {
                    bar.finish();
                }
            }
        }
    }

    /// Leaves every bar drawn as it last was.
    fn finish(&mut self) {
        if let Display::Bars { bars, .. } = self {
            for (bar, _) in bars.values() {
                if !bar.is_finished() {
                    bar.abandon();
                }
            }
        }
    }
}

fn status_style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix}: {msg}").unwrap_or_else(|_| ProgressStyle::default_bar())
}

fn bytes_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix}: {msg:<12} [{bar:40}] {decimal_bytes}/{decimal_total_bytes} {decimal_bytes_per_sec}",
    )
    .map(|s| s.progress_chars("=> "))
    .unwrap_or_else(|_| ProgressStyle::default_bar())
}

/// POSTs `path` (a pull or push) with the stored credentials for `domain` in
/// `X-Registry-Auth`, then shows the progress stream to its end.
async fn post_with_progress(
    ctx: &Ctx,
    path: &str,
    domain: &str,
    quiet: bool,
) -> Result<(), CliError> {
    let auth = auth_header(domain)?;
    let resp = ctx
        .client
        .send_with_headers(
            Method::POST,
            path,
            empty(),
            None,
            &[("X-Registry-Auth", auth)],
        )
        .await?;
    show_progress(path, resp.into_body(), quiet).await
}

/// Reads the JSON progress stream to its end, drawing it; the first error
/// message ends the command with that message (exit 1).
async fn show_progress(path: &str, mut body: Incoming, quiet: bool) -> Result<(), CliError> {
    let mut display = Display::new(quiet);
    let result = super::read_json_messages(path, &mut body, |msg: &JsonMessage| {
        if let Some(failure) = msg.failure() {
            return Err(CliError::Status {
                code: 1,
                message: failure,
            });
        }
        display.show(msg);
        Ok(())
    })
    .await;
    display.finish();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(text: &str) -> JsonMessage {
        serde_json::from_str(text).unwrap()
    }

    #[test]
    fn progress_updates_are_recognised_like_docker() {
        assert!(
            msg(r#"{"status":"Downloading","progressDetail":{"current":5,"total":9},"id":"abc"}"#)
                .has_progress()
        );
        assert!(
            !msg(r#"{"status":"Pulling fs layer","progressDetail":{},"id":"abc"}"#).has_progress()
        );
        assert!(!msg(r#"{"status":"Digest: sha256:00"}"#).has_progress());
    }

    #[test]
    fn failures_are_one_line() {
        let m = msg(r#"{"errorDetail":{"message":"manifest unknown\nmore"},"error":"x"}"#);
        assert_eq!(m.failure().as_deref(), Some("manifest unknown more"));
        assert_eq!(
            msg(r#"{"error":"boom"}"#).failure().as_deref(),
            Some("boom")
        );
        assert_eq!(msg(r#"{"status":"ok"}"#).failure(), None);
    }

    #[test]
    fn final_statuses() {
        assert!(is_final("Pull complete"));
        assert!(is_final("Mounted from library/busybox"));
        assert!(!is_final("Downloading"));
    }
}
