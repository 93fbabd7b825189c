//! The local terminal for `-t` sessions: raw mode while attached (restored on
//! drop), the size to give the container's pty, and Docker's detach keys
//! (`ctrl-p,ctrl-q` by default), parsed and detected as moby/term does.

use std::io::IsTerminal;

use rustix::termios::{OptionalActions, Termios, tcgetattr, tcgetwinsize, tcsetattr};

/// Docker's default detach sequence.
pub const DEFAULT_DETACH_KEYS: &str = "ctrl-p,ctrl-q";

/// Failures with the local terminal or the detach-key flag.
#[derive(Debug, thiserror::Error)]
pub enum TtyError {
    /// `--detach-keys` names something that is not a key.
    #[error("Unknown character: '{key}'")]
    UnknownKey {
        /// The offending key, as given.
        key: String,
    },
    /// The terminal's mode could not be read or changed.
    #[error("unable to set the terminal to raw mode: {source}")]
    Raw {
        /// The system error.
        #[source]
        source: std::io::Error,
    },
}

impl TtyError {
    /// The error's class.
    pub fn class(&self) -> berth::api::ErrorClass {
        match self {
            TtyError::UnknownKey { .. } => berth::api::ErrorClass::InvalidArgument,
            TtyError::Raw { .. } => berth::api::ErrorClass::Internal,
        }
    }
}

/// Docker's `term.ToBytes`: comma-separated keys, each a single character or
/// `ctrl-<a-z @ [ \ ] ^ _>`.
pub fn parse_detach_keys(spec: &str) -> Result<Vec<u8>, TtyError> {
    let mut out = Vec::new();
    for key in spec.split(',') {
        let unknown = || TtyError::UnknownKey {
            key: key.to_string(),
        };
        let lower = key.to_lowercase();
        if let Some(c) = lower.strip_prefix("ctrl-") {
            let b = match c.as_bytes() {
                [b @ b'a'..=b'z'] => b - b'a' + 1,
                [b'@'] => 0,
                [b'['] => 27,
                [b'\\'] => 28,
                [b']'] => 29,
                [b'^'] => 30,
                [b'_'] => 31,
                _ => return Err(unknown()),
            };
            out.push(b);
        } else if key.len() == 1 {
            out.push(key.as_bytes()[0]);
        } else {
            return Err(unknown());
        }
    }
    Ok(out)
}

/// What [`EscapeDetector::feed`] found in a chunk of input.
#[derive(Debug, PartialEq, Eq)]
pub enum Input {
    /// Bytes to pass on to the container (possibly none while a sequence is pending).
    Pass(Vec<u8>),
    /// The detach sequence was typed; the bytes before it are to be passed on first.
    Detach(Vec<u8>),
}

/// Finds the detach sequence in the input stream, holding back bytes that may
/// be its start and releasing them when the sequence breaks off.
#[derive(Debug)]
pub struct EscapeDetector {
    keys: Vec<u8>,
    matched: usize,
}

impl EscapeDetector {
    /// A detector for `keys` (an empty sequence never matches).
    pub fn new(keys: Vec<u8>) -> EscapeDetector {
        EscapeDetector { keys, matched: 0 }
    }

    /// Scans `data`.
    pub fn feed(&mut self, data: &[u8]) -> Input {
        if self.keys.is_empty() {
            return Input::Pass(data.to_vec());
        }
        let mut out = Vec::with_capacity(data.len());
        for &b in data {
            if b != self.keys[self.matched] && self.matched > 0 {
                out.extend_from_slice(&self.keys[..self.matched]);
                self.matched = 0;
            }
            if b == self.keys[self.matched] {
                self.matched += 1;
                if self.matched == self.keys.len() {
                    self.matched = 0;
                    return Input::Detach(out);
                }
            } else {
                out.push(b);
            }
        }
        Input::Pass(out)
    }
}

/// Puts stdin in raw mode until dropped.
pub struct RawTerminal {
    saved: Termios,
}

impl RawTerminal {
    /// Raw mode on stdin, or `None` when stdin is not a terminal.
    pub fn stdin() -> Result<Option<RawTerminal>, TtyError> {
        let stdin = std::io::stdin();
        if !stdin.is_terminal() {
            return Ok(None);
        }
        let raw_err = |e: rustix::io::Errno| TtyError::Raw { source: e.into() };
        let saved = tcgetattr(&stdin).map_err(raw_err)?;
        let mut raw = saved.clone();
        raw.make_raw();
        tcsetattr(&stdin, OptionalActions::Now, &raw).map_err(raw_err)?;
        Ok(Some(RawTerminal { saved }))
    }
}

impl Drop for RawTerminal {
    fn drop(&mut self) {
        if let Err(e) = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved) {
            tracing::debug!("restoring the terminal mode: {e}");
        }
    }
}

/// The size of the terminal on stdout as `(height, width)`, when it is one.
pub fn stdout_size() -> Option<(u16, u16)> {
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    let ws = tcgetwinsize(&out).ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detach_keys_parse_like_moby_term() {
        assert_eq!(
            parse_detach_keys(DEFAULT_DETACH_KEYS).unwrap(),
            vec![16, 17]
        );
        assert_eq!(
            parse_detach_keys("ctrl-@,a,ctrl-_,ctrl-[").unwrap(),
            vec![0, b'a', 31, 27]
        );
        assert_eq!(
            parse_detach_keys("ctrl-1").unwrap_err().to_string(),
            "Unknown character: 'ctrl-1'"
        );
        assert!(parse_detach_keys("ab").is_err());
    }

    #[test]
    fn escape_detection_holds_and_releases() {
        let mut d = EscapeDetector::new(vec![16, 17]);
        assert_eq!(d.feed(b"ls\r"), Input::Pass(b"ls\r".to_vec()));
        assert_eq!(d.feed(&[16]), Input::Pass(vec![]));
        // A broken-off sequence is released with the byte that broke it.
        assert_eq!(d.feed(b"x"), Input::Pass(vec![16, b'x']));
        assert_eq!(d.feed(&[b'a', 16]), Input::Pass(b"a".to_vec()));
        assert_eq!(d.feed(&[17, b'z']), Input::Detach(vec![]));
        assert_eq!(d.feed(&[b'q', 16, 16, 17]), Input::Detach(vec![b'q', 16]));
        let mut none = EscapeDetector::new(vec![]);
        assert_eq!(none.feed(&[16, 17]), Input::Pass(vec![16, 17]));
    }
}
