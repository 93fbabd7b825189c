//! `/containers/...`: create, start, attach, wait, kill, remove, inspect, list.

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use berth::api::models::{
    ContainerConfig, ContainerCreateResponse, ContainerInspectResponse, ContainerState,
    ContainerStateStatusEnum, ContainerSummary, HostConfig, WaitError, WaitResponse,
};
use berth::logging::stdcopy::{StdStream, frame_header};

use crate::containers::{Container, CreateRequest, Status, Stream, resolve_image};
use crate::error::{ApiError, ApiResult};
use crate::http::{Body, Query, async_stream, empty, json, no_content, read_json};
use crate::services::Services;

/// The create body: Config at the top level plus HostConfig.
#[derive(Debug, Deserialize)]
struct CreateBody {
    #[serde(flatten)]
    config: ContainerConfig,
    #[serde(rename = "HostConfig", default)]
    host_config: Option<HostConfig>,
}

/// `POST /containers/create?name=`.
pub async fn create(svc: &Services, q: &Query, body: Incoming) -> ApiResult<Response<Body>> {
    let body: CreateBody = read_json(body).await?;
    let image_name = body
        .config
        .image
        .clone()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| {
            ApiError::invalid(
                "config cannot be empty in order to create a container: no image named",
            )
        })?;
    let image = resolve_image(&svc.images, &image_name).await?;
    let req = CreateRequest {
        name: q.get("name").map(str::to_owned),
        config: body.config,
        host_config: body.host_config.unwrap_or_default(),
    };
    let c = svc.containers.create(req, image)?;
    tracing::info!(id = %c.def.id, name = %c.def.name, "container created");
    Ok(json(
        StatusCode::CREATED,
        &ContainerCreateResponse {
            id: c.def.id.clone(),
            warnings: Vec::new(),
        },
    ))
}

/// `POST /containers/{id}/start`.
pub async fn start(svc: &Services, c: Arc<Container>) -> ApiResult<Response<Body>> {
    let started = svc.containers.start(&c).await?;
    Ok(no_content(if started {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    }))
}

/// Parses a signal given by name (`KILL`, `SIGKILL`) or number.
fn parse_signal(raw: &str) -> ApiResult<i32> {
    if let Ok(n) = raw.parse::<i32>() {
        return nix::sys::signal::Signal::try_from(n)
            .map(|s| s as i32)
            .map_err(|_| ApiError::invalid(format!("Invalid signal: {raw}")));
    }
    let upper = raw.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    name.parse::<nix::sys::signal::Signal>()
        .map(|s| s as i32)
        .map_err(|_| ApiError::invalid(format!("Invalid signal: {raw}")))
}

/// `POST /containers/{id}/kill?signal=`.
pub async fn kill(svc: &Services, c: Arc<Container>, q: &Query) -> ApiResult<Response<Body>> {
    let sig = parse_signal(
        q.get("signal")
            .filter(|s| !s.is_empty())
            .unwrap_or("SIGKILL"),
    )?;
    svc.containers.kill(&c, sig).await?;
    Ok(no_content(StatusCode::NO_CONTENT))
}

/// `DELETE /containers/{id}?force=`.
pub async fn remove(svc: &Services, c: Arc<Container>, q: &Query) -> ApiResult<Response<Body>> {
    svc.containers.remove(&c, q.flag("force")).await?;
    Ok(no_content(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/wait?condition=`: headers go out at once (clients
/// rely on that to know the wait is registered before they start the
/// container); the body follows when the condition is met.
pub async fn wait(c: Arc<Container>, q: &Query) -> ApiResult<Response<Body>> {
    let condition = q
        .get("condition")
        .filter(|s| !s.is_empty())
        .unwrap_or("not-running");
    let waiter = match condition {
        "not-running" => {
            let st = c.state();
            if st.status != Status::Running {
                return Ok(json(
                    StatusCode::OK,
                    &WaitResponse {
                        status_code: st.exit_code,
                        error: None,
                    },
                ));
            }
            c.next_exit()
        }
        "next-exit" => c.next_exit(),
        "removed" => c.removal(),
        other => return Err(ApiError::invalid(format!("invalid condition: \"{other}\""))),
    };
    let (tx, body) = async_stream();
    tokio::spawn(async move {
        let resp = match waiter.await {
            Ok(code) => WaitResponse {
                status_code: code,
                error: None,
            },
            Err(_) => WaitResponse {
                status_code: -1,
                error: Some(WaitError {
                    message: "container state was lost while waiting".to_owned(),
                }),
            },
        };
        let mut bytes = serde_json::to_vec(&resp).expect("wait response serialises");
        bytes.push(b'\n');
        let _ = tx.send(Ok(Frame::data(Bytes::from(bytes)))).await;
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("static headers are valid"))
}

/// `POST /containers/{id}/attach`: hijacks the connection and streams the
/// container's output (framed unless it has a TTY) and, with `stdin=1`, its input.
pub async fn attach(
    c: Arc<Container>,
    q: &Query,
    mut req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let (want_out, want_err, want_in) = (q.flag("stdout"), q.flag("stderr"), q.flag("stdin"));
    let tty = c.def.config.tty == Some(true);
    let mut output = c.attach();
    let upgrade = hyper::upgrade::on(&mut req);
    let container = c.clone();
    tokio::spawn(async move {
        let io = match upgrade.await {
            Ok(u) => TokioIo::new(u),
            Err(e) => {
                tracing::warn!(error = %e, "attach upgrade failed");
                return;
            }
        };
        let (rd, mut wr) = tokio::io::split(io);
        if want_in && container.def.config.open_stdin == Some(true) {
            tokio::spawn(forward_stdin(container.clone(), rd));
        }
        while let Some((stream, data)) = output.recv().await {
            let (wanted, kind) = match stream {
                Stream::Stdout => (want_out, StdStream::Stdout),
                Stream::Stderr => (want_err, StdStream::Stderr),
            };
            if !wanted {
                continue;
            }
            if !tty {
                let len = u32::try_from(data.len()).expect("output chunks are small");
                if wr.write_all(&frame_header(kind, len)).await.is_err() {
                    return;
                }
            }
            if wr.write_all(&data).await.is_err() {
                return;
            }
        }
        let _ = wr.shutdown().await;
    });
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(Response::builder()
        .status(StatusCode::SWITCHING_PROTOCOLS)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp")
        .body(empty())
        .expect("static headers are valid"))
}

/// Copies the client's input into the container once it runs (until then it
/// waits in the socket buffer), closing the container's stdin when the client
/// half-closes.
async fn forward_stdin(c: Arc<Container>, mut rd: impl tokio::io::AsyncRead + Unpin) {
    let mut control = c.control();
    let ctl = loop {
        if let Some(ctl) = control.borrow_and_update().clone() {
            break ctl;
        }
        if control.changed().await.is_err() {
            return;
        }
    };
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
    let _ = ctl.close_stdin().await;
}

fn state_json(c: &Container) -> ContainerState {
    let st = c.state();
    let zero = "0001-01-01T00:00:00Z".to_owned();
    ContainerState {
        status: Some(match st.status {
            Status::Created => ContainerStateStatusEnum::CREATED,
            Status::Running => ContainerStateStatusEnum::RUNNING,
            Status::Exited => ContainerStateStatusEnum::EXITED,
            Status::Removing => ContainerStateStatusEnum::REMOVING,
        }),
        running: Some(st.status == Status::Running),
        paused: Some(false),
        restarting: Some(false),
        oom_killed: Some(false),
        dead: Some(false),
        pid: Some(i64::from(st.pid)),
        exit_code: Some(st.exit_code),
        error: Some(st.error),
        started_at: Some(
            st.started_at
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                .unwrap_or_else(|| zero.clone()),
        ),
        finished_at: Some(st.finished_at.unwrap_or(zero)),
        health: None,
    }
}

/// `GET /containers/{id}/json`.
pub fn inspect(c: &Container) -> Response<Body> {
    let r = ContainerInspectResponse {
        id: Some(c.def.id.clone()),
        created: Some(
            c.def
                .created
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        ),
        path: Some(c.def.path.clone()),
        args: Some(c.def.args.clone()),
        state: Some(state_json(c)),
        image: Some(c.def.image_id.clone()),
        resolv_conf_path: Some(String::new()),
        hostname_path: Some(String::new()),
        hosts_path: Some(String::new()),
        log_path: Some(String::new()),
        name: Some(format!("/{}", c.def.name)),
        restart_count: Some(0),
        driver: Some("overlay2".to_owned()),
        platform: Some("linux".to_owned()),
        mount_label: Some(String::new()),
        process_label: Some(String::new()),
        app_armor_profile: Some(String::new()),
        exec_ids: None,
        host_config: Some(c.host_config.clone()),
        graph_driver: None,
        size_rw: None,
        size_root_fs: None,
        mounts: Some(Vec::new()),
        config: Some(c.def.config.clone()),
        network_settings: Some(Default::default()),
    };
    json(StatusCode::OK, &r)
}

fn status_text(c: &Container) -> String {
    let st = c.state();
    match st.status {
        Status::Created => "Created".to_owned(),
        Status::Running => "Up".to_owned(),
        Status::Exited => format!("Exited ({})", st.exit_code),
        Status::Removing => "Removal In Progress".to_owned(),
    }
}

/// `GET /containers/json?all=`.
pub fn list(svc: &Services, q: &Query) -> Response<Body> {
    let all = q.flag("all");
    let mut items: Vec<_> = svc
        .containers
        .all()
        .into_iter()
        .filter(|c| all || c.state().status == Status::Running)
        .collect();
    items.sort_by_key(|c| std::cmp::Reverse(c.def.created));
    let out: Vec<ContainerSummary> = items
        .iter()
        .map(|c| ContainerSummary {
            id: Some(c.def.id.clone()),
            names: Some(vec![format!("/{}", c.def.name)]),
            image: c.def.config.image.clone(),
            image_id: Some(c.def.image_id.clone()),
            command: Some(
                std::iter::once(c.def.path.as_str())
                    .chain(c.def.args.iter().map(String::as_str))
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
            created: Some(c.def.created.timestamp()),
            ports: Some(Vec::new()),
            labels: Some(c.def.config.labels.clone().unwrap_or_default()),
            state: Some(c.state().status.as_str().to_owned()),
            status: Some(status_text(c)),
            mounts: Some(Vec::new()),
            ..Default::default()
        })
        .collect();
    json(StatusCode::OK, &out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_parse_by_name_and_number() {
        assert_eq!(parse_signal("KILL").unwrap(), libc::SIGKILL);
        assert_eq!(parse_signal("sigterm").unwrap(), libc::SIGTERM);
        assert_eq!(parse_signal("9").unwrap(), 9);
        assert!(parse_signal("NOPE").is_err());
        assert!(parse_signal("999").is_err());
    }
}
