//! Attached sessions, shared by `run`, `start -a` and `attach`: copying the
//! hijacked stream to our stdout/stderr (demultiplexed unless TTY), stdin to
//! the container (raw terminal and detach keys with `-t`), resizing the
//! container's pty on SIGWINCH and forwarding our signals (`--sig-proxy`).

use std::io::{IsTerminal, Write};

use clap::Args;
use hyper::Method;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::signal::unix::{SignalKind, signal};
use tokio::task::JoinHandle;

use berth::api::models::{ContainerInspectResponse, WaitResponse};

use super::Ctx;
use crate::client::{Attached, Client, ClientError, empty, encode_path, next_chunk, query};
use crate::error::CliError;
use crate::stream::{Demuxer, StreamError, StreamKind};
use crate::tty::{
    DEFAULT_DETACH_KEYS, EscapeDetector, Input, RawTerminal, parse_detach_keys, stdout_size,
};

/// How a session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// The container's output ended.
    Eof,
    /// The user typed the detach keys.
    Detached,
}

/// What to stream in a session.
pub struct Session<'a> {
    /// The container's ID.
    pub id: &'a str,
    /// Whether the container has a TTY (raw stream, no framing).
    pub tty: bool,
    /// Whether our stdin is sent to the container.
    pub stdin: bool,
    /// The detach sequence (`--detach-keys`), or None for Docker's default.
    pub detach_keys: Option<&'a str>,
    /// Whether to forward our signals to the container (non-TTY only).
    pub sig_proxy: bool,
}

impl Session<'_> {
    /// The attach path for this session, with the streams wanted.
    pub fn attach_path(&self, stdout: bool, stderr: bool) -> String {
        let mut q = vec![("stream", "1".to_string())];
        if self.stdin {
            q.push(("stdin", "1".to_string()));
        }
        if stdout {
            q.push(("stdout", "1".to_string()));
        }
        if stderr {
            q.push(("stderr", "1".to_string()));
        }
        if let Some(k) = self.detach_keys.filter(|k| !k.is_empty()) {
            q.push(("detachKeys", k.to_string()));
        }
        format!("/containers/{}/attach{}", encode_path(self.id), query(&q))
    }

    /// Docker's escape keys: the flag's, else the default.
    fn escape_keys(&self) -> Result<Vec<u8>, CliError> {
        let spec = self
            .detach_keys
            .filter(|k| !k.is_empty())
            .unwrap_or(DEFAULT_DETACH_KEYS);
        Ok(parse_detach_keys(spec)?)
    }

    /// Copies the streams until the output ends or the user detaches. The
    /// container must already be started (or about to be) by the caller.
    pub async fn stream(
        &self,
        client: &Client,
        path: &str,
        attached: Attached,
    ) -> Result<Ended, CliError> {
        let keys = self.escape_keys()?;
        let _raw = if self.tty && self.stdin {
            RawTerminal::stdin()?
        } else {
            None
        };
        let _resize = self.tty.then(|| {
            let resize = format!("/containers/{}/resize", encode_path(self.id));
            AbortOnDrop(monitor_size(client.clone(), resize))
        });
        let _signals = (self.sig_proxy && !self.tty)
            .then(|| AbortOnDrop(forward_signals(client.clone(), self.id.to_string())));
        let mut copier = OutputCopier::new(self.tty);
        match attached {
            Attached::Upgraded(io) => {
                let (mut reader, mut writer) = tokio::io::split(io);
                let (detach_tx, detach_rx) = tokio::sync::oneshot::channel::<()>();
                let _stdin = self.stdin.then(|| {
                    let tty = self.tty;
                    AbortOnDrop(tokio::spawn(async move {
                        let mut detector = EscapeDetector::new(if tty { keys } else { Vec::new() });
                        let mut stdin = tokio::io::stdin();
                        let mut buf = vec![0u8; 32 * 1024];
                        loop {
                            let n = match stdin.read(&mut buf).await {
                                Ok(0) => break,
                                Ok(n) => n,
                                Err(e) => {
                                    tracing::debug!("reading stdin: {e}");
                                    break;
                                }
                            };
                            let (data, detach) = match detector.feed(&buf[..n]) {
                                Input::Pass(d) => (d, false),
                                Input::Detach(d) => (d, true),
                            };
                            if writer.write_all(&data).await.is_err() {
                                return;
                            }
                            if detach {
                                let _ = detach_tx.send(());
                                return;
                            }
                        }
                        // Half-close so the container sees end of input.
                        let _ = writer.shutdown().await;
                    }))
                });
                // The stdin task ends (dropping the sender) at end of input:
                // from then on only the output matters.
                let mut detach_rx = Some(detach_rx);
                let mut buf = vec![0u8; 32 * 1024];
                loop {
                    let detach = async {
                        match detach_rx.as_mut() {
                            Some(rx) => rx.await.is_ok(),
                            None => std::future::pending().await,
                        }
                    };
                    let read = tokio::select! {
                        r = reader.read(&mut buf) => Some(r),
                        detached = detach => {
                            if detached {
                                return Ok(Ended::Detached);
                            }
                            None
                        }
                    };
                    let Some(read) = read else {
                        detach_rx = None;
                        continue;
                    };
                    let n = read.map_err(|source| ClientError::Stream {
                        path: path.to_string(),
                        source,
                    })?;
                    if n == 0 {
                        break;
                    }
                    copier.write(&buf[..n])?;
                }
            }
            Attached::Body(mut body) => {
                while let Some(chunk) = next_chunk(path, &mut body).await? {
                    copier.write(&chunk)?;
                }
            }
        }
        if copier.demux.has_partial() {
            tracing::debug!("attach stream ended inside a frame");
        }
        Ok(Ended::Eof)
    }
}

/// Aborts a helper task when the session ends.
pub(super) struct AbortOnDrop(pub(super) JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// `POST {resize}?h=&w=` (a container's or an exec's resize endpoint) with
/// our terminal's size now and on every SIGWINCH, as Docker's
/// `MonitorTtySize` (only when stdout is a terminal).
pub(super) fn monitor_size(client: Client, resize: String) -> JoinHandle<()> {
    tokio::spawn(async move {
        if !std::io::stdout().is_terminal() {
            return;
        }
        let mut winch = match signal(SignalKind::window_change()) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("cannot watch SIGWINCH: {e}");
                return;
            }
        };
        loop {
            if let Some((h, w)) = stdout_size() {
                let path = format!(
                    "{resize}{}",
                    query(&[("h", h.to_string()), ("w", w.to_string())])
                );
                if let Err(e) = client.bytes(Method::POST, &path, empty()).await {
                    tracing::debug!("resizing the tty ({resize}): {e}");
                }
            }
            if winch.recv().await.is_none() {
                return;
            }
        }
    })
}

/// Docker's `ForwardAllSignals` for the signals a terminal user sends:
/// each becomes `POST /containers/{id}/kill?signal=NAME`. The handlers are
/// installed before this returns, so no signal in the session is lost.
fn forward_signals(client: Client, id: String) -> JoinHandle<()> {
    let kinds = [
        (SignalKind::interrupt(), "INT"),
        (SignalKind::terminate(), "TERM"),
        (SignalKind::hangup(), "HUP"),
        (SignalKind::quit(), "QUIT"),
        (SignalKind::user_defined1(), "USR1"),
        (SignalKind::user_defined2(), "USR2"),
    ];
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<&'static str>();
    let mut listeners = Vec::new();
    for (kind, name) in kinds {
        let mut s = match signal(kind) {
            Ok(s) => s,
            Err(e) => {
                tracing::debug!("cannot forward SIG{name}: {e}");
                continue;
            }
        };
        let tx = tx.clone();
        listeners.push(AbortOnDrop(tokio::spawn(async move {
            while s.recv().await.is_some() {
                if tx.send(name).is_err() {
                    return;
                }
            }
        })));
    }
    drop(tx);
    tokio::spawn(async move {
        // The listeners live (and die) with this task.
        let _listeners = listeners;
        while let Some(name) = rx.recv().await {
            let path = format!(
                "/containers/{}/kill{}",
                encode_path(&id),
                query(&[("signal", name.to_string())])
            );
            if let Err(e) = client.bytes(Method::POST, &path, empty()).await {
                tracing::debug!("forwarding SIG{name}: {e}");
            }
        }
    })
}

/// Copies an attach stream to our stdout/stderr: demultiplexed, or raw for a TTY.
/// Copies a container's output stream to our stdout/stderr: raw with a TTY,
/// else split from Docker's 8-byte frames; a daemon error frame ends it.
pub struct OutputCopier {
    tty: bool,
    demux: Demuxer,
}

impl OutputCopier {
    /// A copier for a stream that is raw (`tty`) or framed.
    pub fn new(tty: bool) -> OutputCopier {
        OutputCopier {
            tty,
            demux: Demuxer::default(),
        }
    }

    /// Writes one received chunk out.
    pub fn write(&mut self, data: &[u8]) -> Result<(), CliError> {
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
pub fn write_std(kind: StreamKind, data: &[u8]) {
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
pub async fn start_wait(client: &Client, id: &str, condition: &str) -> JoinHandle<i32> {
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

/// A container's exit status as Docker's CLI returns it: 0 is success,
/// anything else a status error with no message.
pub fn exit_status(code: i32) -> Result<(), CliError> {
    if code == 0 {
        Ok(())
    } else {
        Err(CliError::Status {
            code,
            message: String::new(),
        })
    }
}

/// `GET /containers/{name}/json`.
pub async fn inspect_container(
    client: &Client,
    name: &str,
) -> Result<ContainerInspectResponse, CliError> {
    Ok(client
        .get(&format!("/containers/{}/json", encode_path(name)))
        .await?)
}

/// Docker's `inspectContainerAndCheckState` for attach.
async fn running_container(
    client: &Client,
    name: &str,
) -> Result<ContainerInspectResponse, CliError> {
    let c = inspect_container(client, name).await?;
    let state = c.state.clone().unwrap_or_default();
    if !state.running.unwrap_or(false) {
        return Err(CliError::usage(
            "You cannot attach to a stopped container, start it first",
        ));
    }
    if state.paused.unwrap_or(false) {
        return Err(CliError::usage(
            "You cannot attach to a paused container, unpause it first",
        ));
    }
    if state.restarting.unwrap_or(false) {
        return Err(CliError::usage(
            "You cannot attach to a restarting container, wait until it is running",
        ));
    }
    Ok(c)
}

/// `berth attach` / `berth container attach`.
#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Override the key sequence for detaching a container
    #[arg(long = "detach-keys", value_name = "string")]
    detach_keys: Option<String>,
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    no_stdin: bool,
    /// Proxy all received signals to the process
    #[arg(
        long = "sig-proxy",
        default_value_t = true,
        action = clap::ArgAction::Set,
        num_args = 0..=1,
        default_missing_value = "true",
        require_equals = true
    )]
    sig_proxy: bool,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// `berth attach`: Docker's `RunAttach`.
pub async fn attach(ctx: &Ctx, args: AttachArgs) -> Result<(), CliError> {
    let client = &ctx.client;
    let c = running_container(client, &args.container).await?;
    let id = c.id.clone().unwrap_or_else(|| args.container.clone());
    let config = c.config.clone().unwrap_or_default();
    let tty = config.tty.unwrap_or(false);
    let stdin = !args.no_stdin && config.open_stdin.unwrap_or(false);
    if stdin && tty && !std::io::stdin().is_terminal() {
        return Err(CliError::usage("the input device is not a TTY"));
    }
    let wait = start_wait(client, &id, "not-running").await;
    let session = Session {
        id: &id,
        tty,
        stdin,
        detach_keys: args.detach_keys.as_deref(),
        sig_proxy: args.sig_proxy,
    };
    let path = session.attach_path(true, true);
    let attached = client.hijack(&path).await?;
    // The container may have stopped between the check and the attach.
    running_container(client, &id).await?;
    if session.stream(client, &path, attached).await? == Ended::Detached {
        return Ok(());
    }
    exit_status(wait.await.unwrap_or(125))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attach_paths_carry_the_streams_and_keys() {
        let s = Session {
            id: "berth-x",
            tty: false,
            stdin: true,
            detach_keys: Some("ctrl-a,b"),
            sig_proxy: true,
        };
        assert_eq!(
            s.attach_path(true, false),
            "/containers/berth-x/attach?stream=1&stdin=1&stdout=1&detachKeys=ctrl-a%2Cb"
        );
        let s = Session {
            stdin: false,
            detach_keys: None,
            ..s
        };
        assert_eq!(
            s.attach_path(true, true),
            "/containers/berth-x/attach?stream=1&stdout=1&stderr=1"
        );
        assert!(exit_status(0).is_ok());
        assert_eq!(exit_status(3).unwrap_err().exit_code(), 3);
    }
}
