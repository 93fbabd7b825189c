//! The daemon's side of a supervisor: start a container, re-attach to a live
//! one, and read the exit status a supervisor left behind.
//!
//! Everything here is async (tokio) and never forks: the supervisor is
//! spawned as a separate process (`exe __berth_supervisor RUN_DIR`), which
//! does all namespace work in its own single thread.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;

use bytes::Bytes;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};
use tokio::sync::{Mutex, mpsc};

use super::error::RuntimeError;
use super::proto::{self, Hello, Phase, StartFailure, StartedMsg};
use super::spec::ContainerSpec;
use super::supervisor::{SOCKET_FILE, SPEC_FILE, SUPERVISOR_ARG, socket_path};
use crate::fsutil::{atomic_write, create_private_dir};

pub use super::state::ExitStatus;

/// Frames buffered between the socket reader and the events receiver; when
/// the receiver falls behind, the supervisor stops reading the container's
/// output instead of dropping it.
const EVENT_QUEUE: usize = 64;

/// Something the container did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A chunk of the container's stdout; with a tty, all of its output.
    Stdout(Bytes),
    /// A chunk of the container's stderr.
    Stderr(Bytes),
    /// The container exited; the last event. `exit.json` is already written.
    Exited(ExitStatus),
}

/// A running container, as seen by one connection to its supervisor.
#[derive(Debug)]
pub struct Started {
    /// Host pid of the container init (the user's process).
    pub pid: i32,
    /// Output in order, per stream, then [`Event::Exited`]. The channel closes
    /// without `Exited` only when the supervisor died; then look at
    /// [`read_exit_status`]. Dropping the receiver detaches: output is then
    /// discarded and the container keeps running.
    pub events: mpsc::Receiver<Event>,
    /// Signals and stdin.
    pub control: Control,
}

/// Sends requests to a container's supervisor; cheap to clone.
#[derive(Debug, Clone)]
pub struct Control {
    socket: PathBuf,
    writer: Arc<Mutex<OwnedWriteHalf>>,
}

impl Control {
    async fn send(&self, tag: u8, payload: &[u8]) -> Result<(), RuntimeError> {
        let mut frame = Vec::with_capacity(payload.len() + proto::HEADER_LEN);
        proto::encode(tag, payload, &mut frame);
        let mut w = self.writer.lock().await;
        w.write_all(&frame)
            .await
            .map_err(|e| protocol(&self.socket, format!("send request: {e}")))
    }

    /// Sends signal `sig` (1..=64) to the container init.
    pub async fn signal(&self, sig: i32) -> Result<(), RuntimeError> {
        if !(1..=64).contains(&sig) {
            return Err(RuntimeError::InvalidSignal { signal: sig });
        }
        self.send(proto::SIGNAL, &sig.to_be_bytes()).await
    }

    /// Queues `data` for the container's stdin (dropped unless the spec had `open_stdin`).
    pub async fn write_stdin(&self, data: &[u8]) -> Result<(), RuntimeError> {
        for chunk in data.chunks(proto::MAX_FRAME) {
            self.send(proto::STDIN, chunk).await?;
        }
        Ok(())
    }

    /// Closes the container's stdin once the queued input is written. With a
    /// tty, input just stops being forwarded and the terminal stays open
    /// (Docker's behaviour: no EOF reaches the program).
    pub async fn close_stdin(&self) -> Result<(), RuntimeError> {
        self.send(proto::CLOSE_STDIN, &[]).await
    }

    /// Sets the container's terminal size (`TIOCSWINSZ` on the pty master;
    /// the kernel then sends `SIGWINCH` to the foreground process group).
    /// Without a tty the supervisor ignores it, as containerd does.
    pub async fn resize(&self, rows: u16, cols: u16) -> Result<(), RuntimeError> {
        let mut payload = [0u8; 4];
        payload[..2].copy_from_slice(&rows.to_be_bytes());
        payload[2..].copy_from_slice(&cols.to_be_bytes());
        self.send(proto::RESIZE, &payload).await
    }
}

fn protocol(socket: &Path, detail: String) -> RuntimeError {
    RuntimeError::Protocol {
        socket: socket.to_owned(),
        detail,
    }
}

/// Starts the container described by `spec`: writes `spec.json` into its run
/// dir, spawns `exe` (a binary whose main dispatches [`SUPERVISOR_ARG`] to
/// [`supervisor_main`](super::supervisor::supervisor_main)), connects and
/// starts. Returns once the user's program has been exec'd; exec failures
/// come back as [`RuntimeError::ExecNotFound`], [`RuntimeError::ExecPermissionDenied`],
/// [`RuntimeError::BadUser`] or [`RuntimeError::Init`].
pub async fn start(exe: &Path, spec: &ContainerSpec) -> Result<Started, RuntimeError> {
    spec.validate()?;
    let run_dir = &spec.run_dir;
    create_private_dir(run_dir).map_err(|source| RuntimeError::Io {
        path: run_dir.clone(),
        source,
    })?;
    let spec_path = run_dir.join(SPEC_FILE);
    let bytes = serde_json::to_vec_pretty(spec).expect("container spec serializes");
    atomic_write(&spec_path, &bytes).map_err(|source| RuntimeError::Io {
        path: spec_path.clone(),
        source,
    })?;

    launch(exe, run_dir, &spec.id).await
}

/// Starts an exec ([`super::exec`]): writes its spec into its run dir and
/// starts a supervisor in exec mode, as [`start`] does for a container.
/// Returns once the command has been exec'd in the container.
pub async fn start_exec(exe: &Path, spec: &super::exec::ExecSpec) -> Result<Started, RuntimeError> {
    spec.validate()?;
    let run_dir = &spec.run_dir;
    if let Some(parent) = run_dir.parent() {
        create_private_dir(parent).map_err(|source| RuntimeError::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    create_private_dir(run_dir).map_err(|source| RuntimeError::Io {
        path: run_dir.clone(),
        source,
    })?;
    let spec_path = run_dir.join(super::exec::EXEC_SPEC_FILE);
    let bytes = serde_json::to_vec_pretty(spec).expect("exec spec serializes");
    atomic_write(&spec_path, &bytes).map_err(|source| RuntimeError::Io {
        path: spec_path.clone(),
        source,
    })?;
    launch(exe, run_dir, &spec.container_id).await
}

/// Spawns the supervisor for `run_dir` (whose spec is written), connects
/// and sends `START`; `id` names the container in errors.
async fn launch(exe: &Path, run_dir: &Path, id: &str) -> Result<Started, RuntimeError> {
    // The spawned process forks the supervisor and exits; its pipes reach
    // EOF once the supervisor has reported `ready` and let go of them.
    let out = tokio::process::Command::new(exe)
        .arg(SUPERVISOR_ARG)
        .arg(run_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .map_err(|source| RuntimeError::Spawn {
            exe: exe.to_owned(),
            source,
        })?;
    if !out.status.success() || !out.stdout.starts_with(b"ready ") {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let detail = match stderr.trim() {
            "" => format!("exited with {} before it was ready", out.status),
            s => s.trim_start_matches("berth supervisor: ").to_owned(),
        };
        return Err(RuntimeError::SupervisorStart {
            run_dir: run_dir.to_owned(),
            detail,
        });
    }

    let (mut reader, writer, socket, _hello) = open(run_dir).await?;
    let control = Control {
        socket: socket.clone(),
        writer: Arc::new(Mutex::new(writer)),
    };
    control.send(proto::START, &[]).await?;
    let pid = match read_frame(&mut reader, &socket).await? {
        Some((proto::STARTED, payload)) => decode::<StartedMsg>(&payload, &socket)?.pid,
        Some((proto::START_FAILED, payload)) => {
            let failure: StartFailure = decode(&payload, &socket)?;
            return Err(RuntimeError::from_failure(id, failure));
        }
        Some((tag, _)) => {
            return Err(protocol(
                &socket,
                format!("unexpected frame {tag} before start"),
            ));
        }
        None => return Err(protocol(&socket, "closed before start".into())),
    };
    Ok(attach(pid, reader, control))
}

/// Re-attaches to the live supervisor in `run_dir`: events from now on, and
/// control. Fails with [`RuntimeError::NotRunning`] unless the container runs.
pub async fn connect(run_dir: &Path) -> Result<Started, RuntimeError> {
    let (reader, writer, socket, hello) = open(run_dir).await?;
    if hello.phase != Phase::Running {
        return Err(RuntimeError::NotRunning { socket });
    }
    let control = Control {
        socket,
        writer: Arc::new(Mutex::new(writer)),
    };
    Ok(attach(hello.pid, reader, control))
}

/// The exit status a supervisor recorded in `state_dir`, if any.
pub fn read_exit_status(state_dir: &Path) -> Option<ExitStatus> {
    super::state::read_exit_status(state_dir)
}

type Reader = BufReader<OwnedReadHalf>;

async fn open(run_dir: &Path) -> Result<(Reader, OwnedWriteHalf, PathBuf, Hello), RuntimeError> {
    let socket = run_dir.join(SOCKET_FILE);
    let connect_err = |source| RuntimeError::Connect {
        socket: socket.clone(),
        source,
    };
    let dir_handle = std::fs::File::open(run_dir).map_err(connect_err)?;
    let stream = UnixStream::connect(socket_path(run_dir, SOCKET_FILE, &dir_handle))
        .await
        .map_err(connect_err)?;
    drop(dir_handle);
    let (r, w) = stream.into_split();
    let mut reader = BufReader::new(r);
    let hello = match read_frame(&mut reader, &socket).await? {
        Some((proto::HELLO, payload)) => decode::<Hello>(&payload, &socket)?,
        Some((tag, _)) => return Err(protocol(&socket, format!("greeting has tag {tag}"))),
        // Accepted by the kernel while the supervisor was exiting.
        None => return Err(RuntimeError::NotRunning { socket }),
    };
    if hello.version != proto::PROTOCOL_VERSION {
        return Err(protocol(
            &socket,
            format!(
                "protocol version {} is not {}",
                hello.version,
                proto::PROTOCOL_VERSION
            ),
        ));
    }
    Ok((reader, w, socket, hello))
}

fn attach(pid: i32, mut reader: Reader, control: Control) -> Started {
    let (tx, rx) = mpsc::channel(EVENT_QUEUE);
    let socket = control.socket.clone();
    tokio::spawn(async move {
        loop {
            let event = match read_frame(&mut reader, &socket).await {
                Ok(Some((proto::STDOUT, p))) => Event::Stdout(Bytes::from(p)),
                Ok(Some((proto::STDERR, p))) => Event::Stderr(Bytes::from(p)),
                Ok(Some((proto::EXITED, p))) => match decode::<ExitStatus>(&p, &socket) {
                    Ok(status) => Event::Exited(status),
                    Err(e) => {
                        tracing::warn!("{e}");
                        return;
                    }
                },
                Ok(Some((tag, _))) => {
                    tracing::warn!("supervisor {}: unexpected frame {tag}", socket.display());
                    continue;
                }
                Ok(None) => return,
                Err(e) => {
                    tracing::warn!("{e}");
                    return;
                }
            };
            let last = matches!(event, Event::Exited(_));
            // A dropped receiver means "detached": keep draining so the
            // container never blocks on us.
            drop(tx.send(event).await);
            if last {
                return;
            }
        }
    });
    Started {
        pid,
        events: rx,
        control,
    }
}

async fn read_frame<R: AsyncRead + Unpin>(
    r: &mut R,
    socket: &Path,
) -> Result<Option<(u8, Vec<u8>)>, RuntimeError> {
    let mut header = [0u8; proto::HEADER_LEN];
    match r.read_exact(&mut header).await {
        Ok(_) => {}
        // A supervisor that exits before reading what we sent resets the
        // connection: that is a close, too.
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::UnexpectedEof | std::io::ErrorKind::ConnectionReset
            ) =>
        {
            return Ok(None);
        }
        Err(e) => return Err(protocol(socket, format!("read: {e}"))),
    }
    let (tag, len) = proto::parse_header(header)
        .map_err(|len| protocol(socket, format!("oversized frame of {len} bytes")))?;
    let mut payload = vec![0u8; len];
    r.read_exact(&mut payload)
        .await
        .map_err(|e| protocol(socket, format!("read: {e}")))?;
    Ok(Some((tag, payload)))
}

fn decode<T: serde::de::DeserializeOwned>(
    payload: &[u8],
    socket: &Path,
) -> Result<T, RuntimeError> {
    serde_json::from_slice(payload).map_err(|e| protocol(socket, format!("bad message: {e}")))
}
