//! `/containers/...`: create, start, stop, restart, kill, rename, top,
//! resize, attach, wait, remove, inspect, list.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, StatusCode, header};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use berth::api::models::{
    ContainerConfig, ContainerCreateResponse, ContainerInspectResponse, ContainerState,
    ContainerStateStatusEnum, ContainerSummary, ContainerSummaryHostConfig,
    ContainerSummaryNetworkSettings, ContainerTopResponse, DriverData, HostConfig,
    NetworkingConfig, WaitError, WaitResponse,
};
use berth::logging::stdcopy::{StdStream, frame_header};

use crate::containers::health;
use crate::containers::logs as logcfg;
use crate::containers::{
    Container, CreateRequest, RunState, Status, Stream, hostcfg, netcfg, not_running, resolve_image,
};
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
    #[serde(rename = "NetworkingConfig", default)]
    networking: Option<NetworkingConfig>,
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
    let mut host_config = body.host_config.unwrap_or_default();
    // Stored merged, so a later change of the daemon's defaults does not
    // change how an existing container logs (as with dockerd).
    let log_config = logcfg::merge_defaults(
        host_config.log_config.take(),
        &svc.config.log_driver,
        &svc.live.get().log_opts,
    );
    logcfg::to_runtime(&log_config)?;
    host_config.log_config = Some(log_config);
    let (image, _pin) = resolve_image(&svc.images, &image_name).await?;
    let req = CreateRequest {
        name: q.get("name").map(str::to_owned),
        config: body.config,
        host_config,
        networking: body.networking,
    };
    let (c, warnings) = svc.containers.create(req, image)?;
    tracing::info!(id = %c.def.id, name = %c.def.name, "container created");
    Ok(json(
        StatusCode::CREATED,
        &ContainerCreateResponse {
            id: c.def.id.clone(),
            warnings,
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

/// `POST /containers/{id}/kill?signal=`; `name` is the container as the
/// request named it, which dockerd repeats in its errors.
pub async fn kill(
    svc: &Services,
    c: Arc<Container>,
    name: &str,
    q: &Query,
) -> ApiResult<Response<Body>> {
    let sig = hostcfg::parse_signal(
        q.get("signal")
            .filter(|s| !s.is_empty())
            .unwrap_or("SIGKILL"),
    )?;
    svc.containers.kill(&c, sig).await.map_err(|e| {
        ApiError::new(
            e.class,
            format!("Cannot kill container: {name}: {}", e.message),
        )
    })?;
    Ok(no_content(StatusCode::NO_CONTENT))
}

/// `DELETE /containers/{id}?force=&v=`.
pub async fn remove(svc: &Services, c: Arc<Container>, q: &Query) -> ApiResult<Response<Body>> {
    svc.containers
        .remove(&c, q.flag("force"), q.flag("v"))
        .await?;
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
            // Registered before the check, so an exit in between still wakes us.
            let exited = c.next_exit();
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
            exited
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

/// The `t` parameter of stop and restart: seconds, absent when not given.
fn timeout_param(q: &Query) -> ApiResult<Option<i64>> {
    match q.get("t").filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(t) => t.parse().map(Some).map_err(|_| {
            ApiError::invalid(format!("strconv.Atoi: parsing \"{t}\": invalid syntax"))
        }),
    }
}

/// `POST /containers/{id}/stop?t=`: 204, or 304 when it was not running.
pub async fn stop(svc: &Services, c: Arc<Container>, q: &Query) -> ApiResult<Response<Body>> {
    let timeout = timeout_param(q)?;
    let stopped = svc.containers.stop(&c, timeout).await?;
    Ok(no_content(if stopped {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::NOT_MODIFIED
    }))
}

/// `POST /containers/{id}/restart?t=`.
pub async fn restart(svc: &Services, c: Arc<Container>, q: &Query) -> ApiResult<Response<Body>> {
    let timeout = timeout_param(q)?;
    svc.containers.restart(&c, timeout).await?;
    Ok(no_content(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(svc: &Services, c: Arc<Container>, q: &Query) -> ApiResult<Response<Body>> {
    svc.containers
        .rename(&c, q.get("name").unwrap_or_default())
        .await?;
    Ok(no_content(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/resize?h=&w=`: resizes the container's terminal.
pub async fn resize(c: Arc<Container>, q: &Query) -> ApiResult<Response<Body>> {
    let dim = |key: &str| -> ApiResult<u16> {
        let raw = q.get(key).unwrap_or_default();
        raw.parse().map_err(|_| {
            ApiError::invalid(format!("strconv.Atoi: parsing \"{raw}\": invalid syntax"))
        })
    };
    let (rows, cols) = (dim("h")?, dim("w")?);
    let control = c.control().borrow().clone();
    match control {
        Some(ctl) if c.state().status == Status::Running => {
            ctl.resize(rows, cols).await?;
            Ok(no_content(StatusCode::OK))
        }
        _ => Err(not_running(&c.def.id)),
    }
}

/// `GET /containers/{id}/top?ps_args=`: the host's `ps` (default `-ef`),
/// keeping the rows of the container's processes, as dockerd does.
pub async fn top(c: Arc<Container>, q: &Query) -> ApiResult<Response<Body>> {
    if c.state().status != Status::Running {
        return Err(not_running(&c.def.id));
    }
    if c.state().restarting {
        return Err(crate::containers::restart::restarting_conflict(&c.def.id));
    }
    let ps_args = q
        .get("ps_args")
        .filter(|a| !a.is_empty())
        .unwrap_or("-ef")
        .to_owned();
    let run_dir = c.run_dir.clone();
    let pids =
        tokio::task::spawn_blocking(move || berth::runtime::procs::container_pids_in(&run_dir))
            .await?
            .map_err(|e| match e {
                berth::runtime::RuntimeError::ProcessGone { .. } => not_running(&c.def.id),
                other => ApiError::from(other),
            })?;
    let args: Vec<&str> = ps_args.split(' ').collect();
    let pid_list = pids
        .iter()
        .map(i32::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let run_ps = |extra: Option<String>| {
        let mut cmd = tokio::process::Command::new("ps");
        cmd.args(&args)
            .args(extra.map(|p| vec!["-q".to_owned(), p]).unwrap_or_default());
        cmd.stdin(std::process::Stdio::null());
        async move { cmd.output().await }
    };
    // Some ps options (such as f) cannot be combined with -q: retry without it.
    let mut out = run_ps(Some(pid_list))
        .await
        .map_err(|e| ApiError::internal(format!("ps: {e}")))?;
    if !out.status.success() {
        out = run_ps(None)
            .await
            .map_err(|e| ApiError::internal(format!("ps: {e}")))?;
    }
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let first = stderr.lines().next().unwrap_or("").to_owned();
        return Err(ApiError::internal(format!("ps: {first}")));
    }
    let top = parse_ps(&String::from_utf8_lossy(&out.stdout), &pids)?;
    Ok(json(StatusCode::OK, &top))
}

/// dockerd's `parsePSOutput`: titles from the header, rows whose PID is the
/// container's (and thread rows, PID `-`, that follow them), with fields
/// beyond the titles joined into the last column.
fn parse_ps(output: &str, pids: &[i32]) -> ApiResult<ContainerTopResponse> {
    let mut lines = output.lines();
    let titles: Vec<String> = lines
        .next()
        .unwrap_or("")
        .split_whitespace()
        .map(str::to_owned)
        .collect();
    let pid_index = titles
        .iter()
        .position(|t| t == "PID")
        .ok_or_else(|| ApiError::internal("Couldn't find PID field in ps output"))?;
    let mut processes = Vec::new();
    let mut previous_contained = false;
    for line in lines.filter(|l| !l.is_empty()) {
        let fields: Vec<&str> = line.split_whitespace().collect();
        let Some(pid_field) = fields.get(pid_index) else {
            continue;
        };
        let contained = if *pid_field == "-" {
            previous_contained
        } else {
            let pid: i32 = pid_field
                .parse()
                .map_err(|e| ApiError::internal(format!("Unexpected pid '{pid_field}': {e}")))?;
            previous_contained = pids.contains(&pid);
            previous_contained
        };
        if contained {
            let cut = titles.len().saturating_sub(1).min(fields.len());
            let mut row: Vec<String> = fields[..cut].iter().map(|f| (*f).to_owned()).collect();
            row.push(fields[cut..].join(" "));
            processes.push(row);
        }
    }
    Ok(ContainerTopResponse {
        titles: Some(titles),
        processes: Some(processes),
    })
}

/// Docker's `term.ToBytes`: `ctrl-p,ctrl-q` style detach keys.
fn parse_detach_keys(raw: &str) -> ApiResult<Vec<u8>> {
    let invalid = || ApiError::invalid(format!("Invalid detach keys ({raw}) provided"));
    let mut codes = Vec::new();
    for key in raw.split(',') {
        if key.len() == 1 {
            codes.push(key.as_bytes()[0]);
            continue;
        }
        let lower = key.to_ascii_lowercase();
        let Some(rest) = lower.strip_prefix("ctrl-").filter(|r| r.len() == 1) else {
            return Err(invalid());
        };
        let code = match rest.as_bytes()[0] {
            c @ b'a'..=b'z' => c - b'a' + 1,
            b'@' => 0,
            b'[' => 27,
            b'\\' => 28,
            b']' => 29,
            b'^' => 30,
            b'_' => 31,
            _ => return Err(invalid()),
        };
        codes.push(code);
    }
    Ok(codes)
}

/// Default detach keys: ctrl-p ctrl-q.
const DEFAULT_DETACH_KEYS: [u8; 2] = [0x10, 0x11];

/// `POST /containers/{id}/attach`: hijacks the connection and streams the
/// container's output (framed unless it has a TTY) and, with `stdin=1`, its
/// input. With a TTY the detach keys (`detachKeys`, default ctrl-p,ctrl-q)
/// end the attachment and leave the container running, as with dockerd.
pub async fn attach(
    c: Arc<Container>,
    q: &Query,
    mut req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let (want_out, want_err, want_in) = (q.flag("stdout"), q.flag("stderr"), q.flag("stdin"));
    let detach_keys = match q.get("detachKeys").filter(|k| !k.is_empty()) {
        Some(k) => parse_detach_keys(k)?,
        None => DEFAULT_DETACH_KEYS.to_vec(),
    };
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
        // Resolves when the stdin side ends the attachment (detach keys, or
        // end of input without StdinOnce).
        let (done_tx, mut done) = tokio::sync::oneshot::channel::<()>();
        if want_in && container.def.config.open_stdin == Some(true) {
            let keys = if tty { detach_keys } else { Vec::new() };
            tokio::spawn(forward_stdin(container.clone(), rd, keys, done_tx));
        }
        loop {
            let next = tokio::select! {
                next = output.recv() => next,
                // A dropped sender (no stdin, or stdin closed) disables this branch.
                Ok(()) = &mut done => None,
            };
            let Some((stream, data)) = next else { break };
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

/// Finds `keys` in a byte stream split across reads, as Docker's escape proxy:
/// bytes that might start the sequence are held back until it breaks.
struct DetachScanner {
    keys: Vec<u8>,
    matched: usize,
}

impl DetachScanner {
    /// Returns the bytes to forward, and whether the whole sequence was seen.
    fn feed(&mut self, data: &[u8]) -> (Vec<u8>, bool) {
        let mut out = Vec::with_capacity(data.len());
        if self.keys.is_empty() {
            out.extend_from_slice(data);
            return (out, false);
        }
        for &b in data {
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    return (out, true);
                }
                continue;
            }
            out.extend_from_slice(&self.keys[..self.matched]);
            self.matched = 0;
            if b == self.keys[0] {
                self.matched = 1;
                if self.keys.len() == 1 {
                    return (out, true);
                }
            } else {
                out.push(b);
            }
        }
        (out, false)
    }
}

/// Copies the client's input into the container once it runs (until then it
/// waits in the socket buffer). At the end of the input the container's
/// stdin is closed when it is StdinOnce without a TTY; otherwise, and on
/// the detach keys, only this attachment ends.
async fn forward_stdin(
    c: Arc<Container>,
    mut rd: impl tokio::io::AsyncRead + Unpin,
    detach_keys: Vec<u8>,
    done: tokio::sync::oneshot::Sender<()>,
) {
    let mut control = c.control();
    let ctl = loop {
        if let Some(ctl) = control.borrow_and_update().clone() {
            break ctl;
        }
        if control.changed().await.is_err() {
            return;
        }
    };
    let mut scanner = DetachScanner {
        keys: detach_keys,
        matched: 0,
    };
    let mut buf = vec![0u8; 32 << 10];
    loop {
        match rd.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                let (data, detach) = scanner.feed(&buf[..n]);
                if !data.is_empty() && ctl.write_stdin(&data).await.is_err() {
                    return;
                }
                if detach {
                    tracing::debug!(id = %c.def.id, "client detached");
                    let _ = done.send(());
                    return;
                }
            }
        }
    }
    // dockerd closes the container's stdin only for StdinOnce without a TTY.
    if c.def.config.stdin_once == Some(true) && c.def.config.tty != Some(true) {
        let _ = ctl.close_stdin().await;
    } else {
        let _ = done.send(());
    }
}

/// go-units' `HumanDuration`, which dockerd uses in `Status`.
fn human_duration(d: chrono::Duration) -> String {
    let seconds = d.num_seconds();
    if seconds < 1 {
        return "Less than a second".to_owned();
    }
    if seconds == 1 {
        return "1 second".to_owned();
    }
    if seconds < 60 {
        return format!("{seconds} seconds");
    }
    let minutes = d.num_minutes();
    if minutes == 1 {
        return "About a minute".to_owned();
    }
    if minutes < 60 {
        return format!("{minutes} minutes");
    }
    #[allow(clippy::cast_precision_loss, clippy::cast_possible_truncation)]
    let hours = (d.num_seconds() as f64 / 3600.0 + 0.5) as i64;
    if hours == 1 {
        "About an hour".to_owned()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", d.num_hours() / 24 / 365)
    }
}

fn parse_time(t: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(t)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// dockerd's `State.String()`: "Up 3 seconds", "Exited (0) 5 seconds ago", "Created".
fn status_text(st: &RunState, now: chrono::DateTime<chrono::Utc>) -> String {
    match st.status {
        Status::Running if st.paused => format!(
            "Up {} (Paused)",
            human_duration(now - st.started_at.unwrap_or(now))
        ),
        Status::Running if st.restarting => {
            let exited = st.finished_at.as_deref().and_then(parse_time);
            let ago = human_duration(now - exited.unwrap_or(now));
            format!("Restarting ({}) {ago} ago", st.exit_code)
        }
        Status::Running => {
            let up = format!("Up {}", human_duration(now - st.started_at.unwrap_or(now)));
            match &st.health {
                Some(h) => format!("{up} ({})", h.status.ps_suffix()),
                None => up,
            }
        }
        Status::Removing => "Removal In Progress".to_owned(),
        _ if st.started_at.is_none() => "Created".to_owned(),
        _ => match st.finished_at.as_deref().and_then(parse_time) {
            Some(f) => format!("Exited ({}) {} ago", st.exit_code, human_duration(now - f)),
            None => String::new(),
        },
    }
}

/// dockerd's `StateString()`: a container that never started is "created".
fn state_string(st: &RunState) -> &'static str {
    match st.status {
        Status::Running if st.paused => "paused",
        Status::Running if st.restarting => "restarting",
        Status::Running | Status::Removing => st.status.as_str(),
        _ if st.started_at.is_none() => "created",
        _ => "exited",
    }
}

fn state_json(st: &RunState) -> ContainerState {
    let zero = "0001-01-01T00:00:00Z".to_owned();
    ContainerState {
        status: Some(match state_string(st) {
            "running" => ContainerStateStatusEnum::RUNNING,
            "paused" => ContainerStateStatusEnum::PAUSED,
            "removing" => ContainerStateStatusEnum::REMOVING,
            "created" => ContainerStateStatusEnum::CREATED,
            "restarting" => ContainerStateStatusEnum::RESTARTING,
            _ => ContainerStateStatusEnum::EXITED,
        }),
        running: Some(st.status == Status::Running),
        paused: Some(st.paused),
        restarting: Some(st.restarting),
        oom_killed: Some(st.oom_killed),
        dead: Some(false),
        pid: Some(i64::from(st.pid)),
        exit_code: Some(st.exit_code),
        error: Some(st.error.clone()),
        started_at: Some(
            st.started_at
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true))
                .unwrap_or_else(|| zero.clone()),
        ),
        finished_at: Some(st.finished_at.clone().unwrap_or(zero)),
        health: st.health.as_ref().map(|h| h.to_model()),
    }
}

/// HostConfig as created, with the defaults dockerd fills in.
fn host_config_json(c: &Container) -> HostConfig {
    let mut h = c.host_config();
    // dockerd's Resources are plain numbers and strings: zero when unset.
    for v in [
        &mut h.cpu_shares,
        &mut h.memory,
        &mut h.cpu_period,
        &mut h.cpu_quota,
        &mut h.cpu_realtime_period,
        &mut h.cpu_realtime_runtime,
        &mut h.memory_reservation,
        &mut h.memory_swap,
        &mut h.nano_cpus,
        &mut h.kernel_memory_tcp,
        &mut h.cpu_count,
        &mut h.cpu_percent,
        &mut h.io_maximum_iops,
        &mut h.io_maximum_bandwidth,
    ] {
        v.get_or_insert(0);
    }
    h.blkio_weight.get_or_insert(0);
    h.oom_kill_disable.get_or_insert(false);
    // dockerd's zero RestartPolicy is `{"Name": "", "MaximumRetryCount": 0}`.
    let policy = h.restart_policy.get_or_insert_with(Default::default);
    policy
        .name
        .get_or_insert(berth::api::models::RestartPolicyNameEnum::EMPTY);
    policy.maximum_retry_count.get_or_insert(0);
    for v in [&mut h.cgroup_parent, &mut h.cpuset_cpus, &mut h.cpuset_mems] {
        v.get_or_insert_with(String::new);
    }
    if h.network_mode.as_deref().is_none_or(str::is_empty) {
        h.network_mode = Some("default".to_owned());
    }
    // Containers created before berthd had log drivers log as json-file.
    if h.log_config.is_none() {
        h.log_config = Some(logcfg::merge_defaults(
            None,
            logcfg::JSON_FILE,
            &Default::default(),
        ));
    }
    h
}

/// Bytes used by the files under `dir` (not following symlinks); 0 when absent.
fn dir_size(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => dir_size(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// `(SizeRw, SizeRootFs)`: the writable layer, and it plus the image's layers.
fn sizes(c: &Container) -> (i64, i64) {
    let rw = dir_size(&c.state_dir.join("upper"));
    let image: u64 = c.def.layers.iter().map(|l| dir_size(l)).sum();
    let clamp = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
    (clamp(rw), clamp(rw + image))
}

/// `GET /containers/{id}/json?size=`.
pub async fn inspect(svc: &Services, c: Arc<Container>, q: &Query) -> ApiResult<Response<Body>> {
    let (size_rw, size_root_fs) = if q.flag("size") {
        let c = c.clone();
        let (rw, root) = tokio::task::spawn_blocking(move || sizes(&c)).await?;
        (Some(rw), Some(root))
    } else {
        (None, None)
    };
    let st = c.state();
    let upper = c.state_dir.join("upper");
    let graph = HashMap::from([
        (
            "LowerDir".to_owned(),
            c.def
                .layers
                .iter()
                .rev()
                .map(|l| l.display().to_string())
                .collect::<Vec<_>>()
                .join(":"),
        ),
        (
            "MergedDir".to_owned(),
            c.run_dir.join("rootfs").display().to_string(),
        ),
        ("UpperDir".to_owned(), upper.display().to_string()),
        (
            "WorkDir".to_owned(),
            c.state_dir.join("work").display().to_string(),
        ),
    ]);
    let r = ContainerInspectResponse {
        id: Some(c.def.id.clone()),
        created: Some(
            c.def
                .created
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        ),
        path: Some(c.def.path.clone()),
        args: Some(c.def.args.clone()),
        state: Some(state_json(&st)),
        image: Some(c.def.image_id.clone()),
        resolv_conf_path: Some(c.run_dir.join("resolv.conf").display().to_string()),
        hostname_path: Some(c.run_dir.join("hostname").display().to_string()),
        hosts_path: Some(c.run_dir.join("hosts").display().to_string()),
        log_path: Some(logcfg::log_path(&c)),
        name: Some(format!("/{}", c.name())),
        restart_count: Some(i64::try_from(st.restart_count).unwrap_or(i64::MAX)),
        driver: Some("overlay2".to_owned()),
        platform: Some("linux".to_owned()),
        mount_label: Some(String::new()),
        process_label: Some(String::new()),
        app_armor_profile: Some(crate::apparmor::shown(
            &c.host_config(),
            c.host_config().privileged.unwrap_or(false),
        )),
        exec_ids: None,
        host_config: Some(host_config_json(&c)),
        graph_driver: Some(DriverData {
            name: "overlay2".to_owned(),
            data: graph,
        }),
        size_rw,
        size_root_fs,
        mounts: Some(crate::containers::mounts::mount_points(&c)),
        config: Some(c.def.config.clone()),
        network_settings: Some(netcfg::network_settings(
            &c.networks(),
            svc.networks.sandbox(&c.def.id).as_ref(),
        )),
    };
    // dockerd sends these as null; the generated models skip `None` instead.
    let mut v = serde_json::to_value(&r)
        .map_err(|e| ApiError::internal(format!("encoding container {}: {e}", c.def.id)))?;
    let execs = svc.execs.ids_of(&c.def.id);
    v["ExecIDs"] = if execs.is_empty() {
        serde_json::Value::Null
    } else {
        serde_json::json!(execs)
    };
    v["NetworkSettings"]["SecondaryIPAddresses"] = serde_json::Value::Null;
    v["NetworkSettings"]["SecondaryIPv6Addresses"] = serde_json::Value::Null;
    if let Some(h) = v["HostConfig"].as_object_mut() {
        for key in [
            "PidsLimit",
            "MemorySwappiness",
            "BlkioWeightDevice",
            "BlkioDeviceReadBps",
            "BlkioDeviceWriteBps",
            "BlkioDeviceReadIOps",
            "BlkioDeviceWriteIOps",
        ] {
            h.entry(key).or_insert(serde_json::Value::Null);
        }
        // API 1.41 still has KernelMemory; the generated models do not.
        h.entry("KernelMemory").or_insert(0.into());
    }
    Ok(json(StatusCode::OK, &v))
}

/// dockerd's `Command` column: the path, then the arguments, those with a
/// space in single quotes.
fn command_text(c: &Container) -> String {
    if c.def.args.is_empty() {
        return c.def.path.clone();
    }
    let args: Vec<String> = c
        .def
        .args
        .iter()
        .map(|a| {
            if a.contains(' ') {
                format!("'{a}'")
            } else {
                a.clone()
            }
        })
        .collect();
    format!("{} {}", c.def.path, args.join(" "))
}

/// The filter keys dockerd's container list accepts.
const LIST_FILTERS: &[&str] = &[
    "ancestor",
    "before",
    "expose",
    "exited",
    "health",
    "id",
    "isolation",
    "is-task",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

/// The states a `status` filter may name.
const STATES: &[&str] = &[
    "created",
    "restarting",
    "running",
    "removing",
    "paused",
    "exited",
    "dead",
];

/// dockerd's `filters.Args.Match`: an exact value, or any value as an
/// unanchored regular expression; true when there is no such filter.
fn matches_any(values: Option<&Vec<String>>, source: &str) -> bool {
    let Some(values) = values.filter(|v| !v.is_empty()) else {
        return true;
    };
    values
        .iter()
        .any(|v| v == source || regex::Regex::new(v).is_ok_and(|re| re.is_match(source)))
}

/// dockerd's `MatchKVList`: every `key` or `key=value` filter must hold.
fn labels_match(values: Option<&Vec<String>>, labels: &HashMap<String, String>) -> bool {
    let Some(values) = values.filter(|v| !v.is_empty()) else {
        return true;
    };
    values.iter().all(|f| match f.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|l| l == v),
        None => labels.contains_key(f.as_str()),
    })
}

/// `GET /containers/json?all=&limit=&size=&filters=`.
pub async fn list(svc: &Services, q: &Query) -> ApiResult<Response<Body>> {
    let filters = q.filters()?;
    if let Some(bad) = filters.keys().find(|k| !LIST_FILTERS.contains(&k.as_str())) {
        return Err(ApiError::invalid(format!("Invalid filter '{bad}'")));
    }
    let mut all = q.flag("all");
    let limit: i64 = match q.get("limit").filter(|l| !l.is_empty()) {
        None => -1,
        Some(l) => l.parse().map_err(|_| {
            ApiError::invalid(format!("strconv.Atoi: parsing \"{l}\": invalid syntax"))
        })?,
    };
    for s in filters.get("status").into_iter().flatten() {
        if !STATES.contains(&s.as_str()) {
            return Err(ApiError::invalid(format!("Invalid filter 'status={s}'")));
        }
        all = true;
    }
    let health_filter = filters.get("health").filter(|v| !v.is_empty());
    if let Some(bad) = health_filter
        .into_iter()
        .flatten()
        .find(|h| !health::is_valid_filter(h))
    {
        return Err(ApiError::invalid(format!(
            "Unrecognised filter value for health: {bad}"
        )));
    }
    let mut exited = Vec::new();
    for e in filters.get("exited").into_iter().flatten() {
        exited.push(
            e.parse::<i64>()
                .map_err(|_| ApiError::invalid(format!("Invalid filter 'exited={e}'")))?,
        );
    }
    let first = |key: &str| -> ApiResult<Option<Arc<Container>>> {
        match filters.get(key).and_then(|v| v.first()) {
            Some(v) => Ok(Some(svc.containers.get(v)?)),
            None => Ok(None),
        }
    };
    let mut before = first("before")?;
    let since = first("since")?;

    let mut items = svc.containers.all();
    items.sort_by_key(|c| std::cmp::Reverse(c.def.created));

    // Image lookups touch the image store's lock and files: off the async threads.
    let images = svc.images.clone();
    let ancestors: Option<Vec<String>> = filters.get("ancestor").cloned();
    let refs: Vec<(String, String)> = items
        .iter()
        .filter_map(|c| {
            let image = c.def.config.image.clone()?;
            (image != c.def.image_id).then(|| (image, c.def.image_id.clone()))
        })
        .collect();
    let (ancestor_ids, stale_refs) = tokio::task::spawn_blocking(move || {
        let ancestor_ids: Option<Vec<String>> = ancestors.map(|names| {
            names
                .iter()
                .filter_map(|n| images.resolve(n).ok().map(|r| r.id))
                .collect()
        });
        // A reference retagged since create shows as the image ID, as in dockerd.
        let stale: Vec<String> = refs
            .into_iter()
            .filter(|(name, id)| images.resolve(name).map(|r| r.id).ok().as_ref() != Some(id))
            .map(|(name, _)| name)
            .collect();
        (ancestor_ids, stale)
    })
    .await?;

    let now = chrono::Utc::now();
    let mut out: Vec<ContainerSummary> = Vec::new();
    let mut picked: Vec<Arc<Container>> = Vec::new();
    for c in items {
        if let Some(b) = &before {
            if b.def.id == c.def.id {
                before = None;
            }
            continue;
        }
        if since.as_ref().is_some_and(|s| s.def.id == c.def.id) {
            break;
        }
        let st = c.state();
        if st.status != Status::Running && !all && limit <= 0 {
            continue;
        }
        let labels = c.def.config.labels.clone().unwrap_or_default();
        let name = c.name();
        if !labels_match(filters.get("label"), &labels)
            || !(matches_any(filters.get("name"), &format!("/{name}"))
                || matches_any(filters.get("name"), &name))
            || !matches_any(filters.get("id"), &c.def.id)
        {
            continue;
        }
        if limit > 0 && picked.len() as i64 >= limit {
            break;
        }
        if !exited.is_empty()
            && !exited.iter().any(|code| {
                *code == st.exit_code && st.status != Status::Running && st.started_at.is_some()
            })
        {
            continue;
        }
        if !matches_any(filters.get("status"), state_string(&st)) {
            continue;
        }
        // dockerd's ExactMatch on the health status (`none` without a check).
        let health_value = health::filter_value(st.health.as_ref());
        if health_filter.is_some_and(|v| !v.iter().any(|h| h == health_value)) {
            continue;
        }
        if let Some(ids) = &ancestor_ids
            && !ids.contains(&c.def.image_id)
        {
            continue;
        }
        let image = match &c.def.config.image {
            Some(i) if !stale_refs.contains(i) => i.clone(),
            _ => c.def.image_id.clone(),
        };
        out.push(ContainerSummary {
            id: Some(c.def.id.clone()),
            names: Some(vec![format!("/{name}")]),
            image: Some(image),
            image_id: Some(c.def.image_id.clone()),
            command: Some(command_text(&c)),
            created: Some(c.def.created.timestamp()),
            ports: Some(netcfg::summary_ports(
                svc.networks.sandbox(&c.def.id).as_ref(),
            )),
            size_rw: None,
            size_root_fs: None,
            labels: Some(labels),
            state: Some(state_string(&st).to_owned()),
            status: Some(status_text(&st, now)),
            host_config: Some(ContainerSummaryHostConfig {
                network_mode: Some(
                    c.host_config()
                        .network_mode
                        .clone()
                        .filter(|m| !m.is_empty())
                        .unwrap_or_else(|| "default".to_owned()),
                ),
                annotations: None,
            }),
            network_settings: Some(ContainerSummaryNetworkSettings {
                networks: netcfg::network_settings(
                    &c.networks(),
                    svc.networks.sandbox(&c.def.id).as_ref(),
                )
                .networks,
            }),
            mounts: Some(crate::containers::mounts::mount_points(&c)),
        });
        picked.push(c);
    }
    if q.flag("size") {
        let measured = tokio::task::spawn_blocking(move || {
            picked.iter().map(|c| sizes(c)).collect::<Vec<_>>()
        })
        .await?;
        for (s, (rw, root)) in out.iter_mut().zip(measured) {
            s.size_rw = Some(rw);
            s.size_root_fs = Some(root);
        }
    }
    Ok(json(StatusCode::OK, &out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_docker() {
        let s = chrono::Duration::seconds;
        assert_eq!(
            human_duration(chrono::Duration::milliseconds(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(3)), "3 seconds");
        assert_eq!(human_duration(s(61)), "About a minute");
        assert_eq!(human_duration(s(300)), "5 minutes");
        assert_eq!(human_duration(s(3600)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
    }

    #[test]
    fn status_text_follows_docker() {
        let now = chrono::Utc::now();
        let mut st = RunState::created();
        assert_eq!(status_text(&st, now), "Created");
        assert_eq!(state_string(&st), "created");
        st.status = Status::Running;
        st.started_at = Some(now - chrono::Duration::seconds(3));
        assert_eq!(status_text(&st, now), "Up 3 seconds");
        st.health = Some(health::Health::restart(None));
        assert_eq!(status_text(&st, now), "Up 3 seconds (health: starting)");
        assert_eq!(state_json(&st).health.unwrap().log, Some(Vec::new()));
        st.status = Status::Exited;
        st.exit_code = 7;
        st.finished_at = Some(
            (now - chrono::Duration::seconds(5))
                .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
        );
        assert_eq!(status_text(&st, now), "Exited (7) 5 seconds ago");
        assert_eq!(state_string(&st), "exited");
        // dockerd's SetRestarting: running, restarting, the last exit shown.
        st.status = Status::Running;
        st.restarting = true;
        assert_eq!(status_text(&st, now), "Restarting (7) 5 seconds ago");
        assert_eq!(state_string(&st), "restarting");
        assert_eq!(state_json(&st).restarting, Some(true));
    }

    #[test]
    fn ps_output_keeps_container_rows() {
        let out = "UID PID PPID C STIME TTY TIME CMD\n\
                   root 1 0 0 10:00 ? 00:00:01 /sbin/init\n\
                   root 42 40 0 10:01 ? 00:00:00 sleep 1000\n\
                   root 43 42 0 10:01 ? 00:00:00 sh -c echo hi\n";
        let top = parse_ps(out, &[42, 43]).unwrap();
        assert_eq!(top.titles.unwrap().len(), 8);
        let rows = top.processes.unwrap();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0][7], "sleep 1000");
        assert_eq!(rows[1][7], "sh -c echo hi");
        assert!(parse_ps("UID CMD\n", &[]).is_err());
    }

    #[test]
    fn detach_keys_parse_and_match_across_reads() {
        assert_eq!(parse_detach_keys("ctrl-p,ctrl-q").unwrap(), [0x10, 0x11]);
        assert_eq!(parse_detach_keys("a,ctrl-@").unwrap(), [b'a', 0]);
        assert_eq!(
            parse_detach_keys("ctrl-pp").unwrap_err().message,
            "Invalid detach keys (ctrl-pp) provided"
        );
        let mut s = DetachScanner {
            keys: vec![0x10, 0x11],
            matched: 0,
        };
        assert_eq!(s.feed(b"ab\x10"), (b"ab".to_vec(), false));
        assert_eq!(s.feed(b"c"), (b"\x10c".to_vec(), false));
        assert_eq!(s.feed(b"\x10\x10"), (b"\x10".to_vec(), false));
        assert_eq!(s.feed(b"\x11rest"), (Vec::new(), true));
    }

    #[test]
    fn filters_match_like_docker() {
        let v = |s: &[&str]| Some(s.iter().map(|x| x.to_string()).collect::<Vec<_>>());
        assert!(matches_any(None, "x"));
        assert!(matches_any(v(&["web"]).as_ref(), "/my-web-1"));
        assert!(matches_any(v(&["^/web$"]).as_ref(), "/web"));
        assert!(!matches_any(v(&["^web$"]).as_ref(), "/web2"));
        let labels = HashMap::from([("a".to_owned(), "1".to_owned())]);
        assert!(labels_match(v(&["a"]).as_ref(), &labels));
        assert!(labels_match(v(&["a=1"]).as_ref(), &labels));
        assert!(!labels_match(v(&["a=2"]).as_ref(), &labels));
        assert!(!labels_match(v(&["a", "b"]).as_ref(), &labels));
    }
}
