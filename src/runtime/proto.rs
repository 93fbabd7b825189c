//! The wire protocol between the daemon's [`client`](super::client) and a
//! [`supervisor`](super::supervisor), spoken over the supervisor's unix socket
//! `<run_dir>/sup.sock`.
//!
//! Every message is one frame: a 1-byte tag, a 4-byte big-endian payload
//! length (at most [`MAX_FRAME`]), then the payload.
//!
//! Client → supervisor:
//! - `START` (empty): fork the container init and exec the user's process;
//!   answered by `STARTED` or `START_FAILED`. Accepted once per supervisor.
//! - `SIGNAL` (4-byte big-endian signal number): signal the container init.
//! - `STDIN` (bytes): append to the container's stdin (ignored without `open_stdin`).
//! - `CLOSE_STDIN` (empty): close the container's stdin once buffered input
//!   is written; with a tty, just stop forwarding (the terminal stays open, as with Docker).
//! - `RESIZE` (2-byte big-endian rows, then cols): set the tty's size
//!   (the kernel sends `SIGWINCH`); ignored without a tty.
//!
//! Supervisor → client:
//! - `HELLO` (JSON [`Hello`]): first frame on every connection.
//! - `STARTED` (JSON [`StartedMsg`]) / `START_FAILED` (JSON [`StartFailure`]).
//! - `STDOUT`, `STDERR` (bytes): output chunks in the order the container wrote
//!   them to each stream; every connected client receives every chunk.
//! - `EXITED` (JSON [`ExitStatus`](super::state::ExitStatus)): the last frame; `exit.json` is already on
//!   disk when it is sent, and the supervisor exits right after.

use serde::{Deserialize, Serialize};

/// Largest payload a frame may carry.
pub const MAX_FRAME: usize = 1 << 20;
/// Bytes in a frame header: tag plus length.
pub const HEADER_LEN: usize = 5;

/// Client → supervisor: start the container.
pub const START: u8 = 1;
/// Client → supervisor: send a signal to the container init.
pub const SIGNAL: u8 = 2;
/// Client → supervisor: bytes for the container's stdin.
pub const STDIN: u8 = 3;
/// Client → supervisor: close the container's stdin.
pub const CLOSE_STDIN: u8 = 4;
/// Client → supervisor: set the terminal size.
pub const RESIZE: u8 = 5;

/// Supervisor → client: greeting with the container's current state.
pub const HELLO: u8 = 16;
/// Supervisor → client: the user's process has been exec'd.
pub const STARTED: u8 = 17;
/// Supervisor → client: the container could not be started.
pub const START_FAILED: u8 = 18;
/// Supervisor → client: a chunk of the container's stdout.
pub const STDOUT: u8 = 19;
/// Supervisor → client: a chunk of the container's stderr.
pub const STDERR: u8 = 20;
/// Supervisor → client: the container has exited.
pub const EXITED: u8 = 21;

/// Version of the protocol, carried in [`Hello`].
pub const PROTOCOL_VERSION: u32 = 1;

/// The container's lifecycle as the supervisor sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Waiting for `START`.
    Created,
    /// The user's process runs.
    Running,
    /// The container exited; the supervisor is about to exit.
    Exited,
}

/// Payload of `HELLO`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Hello {
    /// [`PROTOCOL_VERSION`] of the supervisor.
    pub version: u32,
    /// The container's lifecycle phase.
    pub phase: Phase,
    /// Host pid of the container init, 0 before the start.
    pub pid: i32,
}

/// Payload of `STARTED`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedMsg {
    /// Host pid of the container init (the user's process).
    pub pid: i32,
}

/// Why a start failed; decides the error class and thus the CLI's exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    /// The executable does not exist (CLI exit code 127).
    NotFound,
    /// The executable is not executable or is a directory (CLI exit code 126).
    PermissionDenied,
    /// The user or group does not resolve in the container's files.
    BadUser,
    /// The spec asked for something this runtime refuses.
    InvalidSpec,
    /// Anything else: a mount, namespace or capability step failed.
    Other,
}

/// Payload of `START_FAILED`, also what the init writes to its error pipe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartFailure {
    /// The failure's kind.
    pub kind: FailureKind,
    /// Docker-compatible message, e.g. `exec: "foo": executable file not found in $PATH`.
    pub message: String,
}

impl StartFailure {
    /// A failure of kind `kind` with `message`.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> StartFailure {
        StartFailure {
            kind,
            message: message.into(),
        }
    }
}

/// Appends one frame to `out`.
pub fn encode(tag: u8, payload: &[u8], out: &mut Vec<u8>) {
    debug_assert!(payload.len() <= MAX_FRAME);
    out.push(tag);
    out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
    out.extend_from_slice(payload);
}

/// Appends one frame whose payload is `value` as JSON.
pub fn encode_json<T: Serialize>(tag: u8, value: &T, out: &mut Vec<u8>) {
    let payload = serde_json::to_vec(value).expect("protocol messages serialize");
    encode(tag, &payload, out);
}

/// Parses a frame header; `Err` carries the offending length.
pub fn parse_header(header: [u8; HEADER_LEN]) -> Result<(u8, usize), usize> {
    let len = u32::from_be_bytes([header[1], header[2], header[3], header[4]]) as usize;
    if len > MAX_FRAME {
        return Err(len);
    }
    Ok((header[0], len))
}

/// Takes the first complete frame off the front of `buf`, if there is one.
/// `Err` carries the length of an oversized frame.
pub fn take_frame(buf: &mut Vec<u8>) -> Result<Option<(u8, Vec<u8>)>, usize> {
    if buf.len() < HEADER_LEN {
        return Ok(None);
    }
    let mut header = [0u8; HEADER_LEN];
    header.copy_from_slice(&buf[..HEADER_LEN]);
    let (tag, len) = parse_header(header)?;
    if buf.len() < HEADER_LEN + len {
        return Ok(None);
    }
    let payload = buf[HEADER_LEN..HEADER_LEN + len].to_vec();
    buf.drain(..HEADER_LEN + len);
    Ok(Some((tag, payload)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip_and_wait_for_complete_input() {
        let mut buf = Vec::new();
        encode(STDOUT, b"hello", &mut buf);
        encode(CLOSE_STDIN, b"", &mut buf);
        let mut partial = buf[..7].to_vec();
        assert_eq!(take_frame(&mut partial), Ok(None));
        assert_eq!(take_frame(&mut buf), Ok(Some((STDOUT, b"hello".to_vec()))));
        assert_eq!(take_frame(&mut buf), Ok(Some((CLOSE_STDIN, Vec::new()))));
        assert_eq!(take_frame(&mut buf), Ok(None));
    }

    #[test]
    fn oversized_frames_are_rejected() {
        let mut buf = vec![STDIN];
        buf.extend_from_slice(&((MAX_FRAME + 1) as u32).to_be_bytes());
        assert_eq!(take_frame(&mut buf), Err(MAX_FRAME + 1));
    }

    #[test]
    fn failure_kinds_use_snake_case_on_the_wire() {
        let f = StartFailure::new(
            FailureKind::PermissionDenied,
            "exec: \"/etc\": permission denied",
        );
        let json = serde_json::to_string(&f).unwrap();
        assert!(json.contains("\"permission_denied\""), "{json}");
        assert_eq!(serde_json::from_str::<StartFailure>(&json).unwrap(), f);
    }
}
