//! `POST /containers/{id}/exec`, `POST /exec/{id}/start` (a hijacked
//! stream like attach, or detached), `GET /exec/{id}/json` and
//! `POST /exec/{id}/resize`, with dockerd's shapes and messages.

use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};

use berth::logging::stdcopy::{StdStream, frame_header};
use berth::runtime::client::{Control, Event};

use crate::containers::Container;
use crate::error::{ApiError, ApiResult};
use crate::execs::{Exec, ExecConfig, ExecService, Phase};
use crate::http::{Body, Query, empty, json, no_content, read_json};
use crate::services::Services;

/// How long `resize` waits for a just-started exec's process (dockerd's 10 s).
const RESIZE_WAIT: Duration = Duration::from_secs(10);

#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct IdResponse {
    id: String,
}

/// `POST /containers/{name}/exec`: 201 `{"Id": ...}`.
pub async fn create(
    svc: &Services,
    c: Arc<Container>,
    name: &str,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    let config: ExecConfig = read_json(body).await?;
    let id = svc.execs.create(&svc.containers, c, name, config)?;
    Ok(json(StatusCode::CREATED, &IdResponse { id }))
}

/// The body of `POST /exec/{id}/start` (its `Tty` is ignored, as by
/// dockerd: the exec's own decides).
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct StartRequest {
    detach: bool,
    console_size: Option<Vec<u32>>,
}

fn console_size(raw: Option<&[u32]>) -> Option<[u16; 2]> {
    match raw {
        Some([h, w]) if *h > 0 && *w > 0 => Some([
            u16::try_from(*h).unwrap_or(u16::MAX),
            u16::try_from(*w).unwrap_or(u16::MAX),
        ]),
        _ => None,
    }
}

/// `POST /exec/{id}/start`: detached, 200 once the command runs (dockerd's
/// error otherwise); attached, the connection is hijacked and carries the
/// exec's output (framed unless it has a tty) and, with `AttachStdin`, its
/// input. A start failure then arrives on the stream, as with dockerd, and
/// the exec's `ExitCode` is 126. The exit is recorded before the stream
/// closes, so a client inspecting the exec right after sees it.
pub async fn start(
    svc: Arc<ExecService>,
    exec: Arc<Exec>,
    mut req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let upgrade = hyper::upgrade::on(&mut req);
    let body: StartRequest = read_json(req.into_body()).await?;
    let size = console_size(body.console_size.as_deref());
    svc.claim(&exec)?;
    if body.detach {
        let started = svc.start(&exec, size).await?;
        let svc2 = svc.clone();
        tokio::spawn(async move { svc2.drain(exec, started.events).await });
        return Ok(no_content(StatusCode::OK));
    }
    tokio::spawn(async move {
        let io = match upgrade.await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::warn!(error = %e, "exec start upgrade failed");
                // Nobody to stream to: run it detached, as dockerd would.
                if let Ok(started) = svc.start(&exec, size).await {
                    svc.drain(exec, started.events).await;
                }
                return;
            }
        };
        stream(svc, exec, io, size).await;
    });
    // dockerd answers API 1.41 clients with the raw-stream type either way.
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONTENT_TYPE, "application/vnd.docker.raw-stream")
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .body(empty())
        .expect("static headers are valid"))
}

/// Runs an attached exec over the hijacked connection `io`.
async fn stream(
    svc: Arc<ExecService>,
    exec: Arc<Exec>,
    io: TokioIo<hyper::upgrade::Upgraded>,
    size: Option<[u16; 2]>,
) {
    let tty = exec.config.tty;
    let (rd, mut wr) = tokio::io::split(io);
    let mut writing = true;
    let mut events = match svc.start(&exec, size).await {
        Ok(started) => {
            if exec.config.attach_stdin {
                tokio::spawn(forward_stdin(started.control.clone(), rd));
            }
            started.events
        }
        Err(e) => {
            let text = format!("{}\r\n", e.message);
            // A failed write only means the client is gone already.
            let _ = write_chunk(&mut wr, tty, StdStream::Stdout, text.as_bytes()).await;
            let _ = wr.shutdown().await;
            return;
        }
    };
    let mut code = None;
    // Read to the end even when the client has gone: the exit must be recorded.
    while let Some(ev) = events.recv().await {
        let (kind, data) = match ev {
            Event::Stdout(d) => (StdStream::Stdout, d),
            Event::Stderr(d) => (StdStream::Stderr, d),
            Event::Exited(st) => {
                code = Some(i64::from(st.exit_code));
                continue;
            }
        };
        let wanted = match kind {
            StdStream::Stderr => exec.config.attach_stderr,
            _ => exec.config.attach_stdout,
        };
        if writing && wanted && write_chunk(&mut wr, tty, kind, &data).await.is_err() {
            writing = false;
        }
    }
    svc.finish(&exec, code);
    let _ = wr.shutdown().await;
}

/// Writes one chunk of output, framed unless the exec has a tty.
async fn write_chunk(
    wr: &mut (impl tokio::io::AsyncWrite + Unpin),
    tty: bool,
    kind: StdStream,
    data: &[u8],
) -> std::io::Result<()> {
    if !tty {
        let len = u32::try_from(data.len()).expect("output chunks are small");
        wr.write_all(&frame_header(kind, len)).await?;
    }
    wr.write_all(data).await
}

/// Copies the client's input to the exec's stdin; the client's end of input
/// closes it (dockerd's `CloseStdin` for execs).
async fn forward_stdin(ctl: Control, mut rd: impl AsyncRead + Unpin) {
    let mut buf = vec![0u8; 32 << 10];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if ctl.write_stdin(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
    // The exec may be gone already; nothing is left to close then.
    let _ = ctl.close_stdin().await;
}

/// dockerd's `ExecInspect` (the fields in its order).
#[derive(Serialize)]
struct ExecInspect<'a> {
    #[serde(rename = "ID")]
    id: &'a str,
    #[serde(rename = "Running")]
    running: bool,
    #[serde(rename = "ExitCode")]
    exit_code: Option<i64>,
    #[serde(rename = "ProcessConfig")]
    process_config: ProcessConfig<'a>,
    #[serde(rename = "OpenStdin")]
    open_stdin: bool,
    #[serde(rename = "OpenStderr")]
    open_stderr: bool,
    #[serde(rename = "OpenStdout")]
    open_stdout: bool,
    #[serde(rename = "CanRemove")]
    can_remove: bool,
    #[serde(rename = "ContainerID")]
    container_id: &'a str,
    #[serde(rename = "DetachKeys")]
    detach_keys: &'a str,
    #[serde(rename = "Pid")]
    pid: i32,
}

#[derive(Serialize)]
struct ProcessConfig<'a> {
    tty: bool,
    entrypoint: &'a str,
    arguments: &'a [String],
    privileged: bool,
    #[serde(skip_serializing_if = "str::is_empty")]
    user: &'a str,
}

/// `GET /exec/{id}/json`.
pub async fn inspect(exec: Arc<Exec>) -> ApiResult<Response<Body>> {
    let st = exec.state();
    let cfg = &exec.config;
    let body = ExecInspect {
        id: &exec.id,
        running: st.phase == Phase::Running,
        exit_code: st.exit_code,
        process_config: ProcessConfig {
            tty: cfg.tty,
            entrypoint: &exec.cmd[0],
            arguments: &exec.cmd[1..],
            privileged: cfg.privileged,
            user: &cfg.user,
        },
        open_stdin: cfg.attach_stdin,
        open_stderr: cfg.attach_stderr,
        open_stdout: cfg.attach_stdout,
        can_remove: false,
        container_id: &exec.container.def.id,
        detach_keys: &cfg.detach_keys,
        pid: st.pid,
    };
    Ok(json(StatusCode::OK, &body))
}

/// `POST /exec/{id}/resize?h=&w=`: waits for a just-started exec's process
/// (the CLI resizes right after the start), then sets its tty's size.
pub async fn resize(exec: Arc<Exec>, q: &Query) -> ApiResult<Response<Body>> {
    let dim = |key: &str| -> ApiResult<u16> {
        let raw = q.get(key).unwrap_or_default();
        raw.parse().map_err(|_| {
            ApiError::invalid(format!("strconv.Atoi: parsing \"{raw}\": invalid syntax"))
        })
    };
    let (rows, cols) = (dim("h")?, dim("w")?);
    let st = exec.started(RESIZE_WAIT).await;
    match st.control {
        Some(ctl) if st.phase == Phase::Running => {
            ctl.resize(rows, cols).await?;
            Ok(no_content(StatusCode::OK))
        }
        _ => Err(ApiError::conflict(format!(
            "Exec {} is not running",
            exec.id
        ))),
    }
}

/// The exec's record, for the routes under `/exec/{id}`.
pub fn lookup(svc: &Services, id: &str) -> ApiResult<Arc<Exec>> {
    svc.execs.get(&svc.containers, id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn console_sizes_need_both_dimensions() {
        assert_eq!(console_size(Some(&[24, 80])), Some([24, 80]));
        assert_eq!(console_size(Some(&[0, 80])), None);
        assert_eq!(console_size(Some(&[1])), None);
        assert_eq!(console_size(None), None);
    }
}
