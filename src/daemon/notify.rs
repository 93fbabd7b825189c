//! systemd's readiness protocol (`sd_notify`): datagrams such as `READY=1`,
//! `STATUS=...` and `STOPPING=1` sent to the unix socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` in the abstract namespace). Without
//! `NOTIFY_SOCKET` every call does nothing, as with `sd_notify(3)`.

use std::os::unix::net::{SocketAddr, UnixDatagram};

/// Sends state changes to the service manager, if there is one.
pub struct Notifier {
    target: Option<(UnixDatagram, SocketAddr, String)>,
}

impl Notifier {
    /// Reads `NOTIFY_SOCKET`; an unusable value is logged and ignored (the
    /// daemon still works, only readiness is not reported).
    pub fn from_env() -> Notifier {
        let Some(raw) = std::env::var_os("NOTIFY_SOCKET") else {
            return Notifier { target: None };
        };
        let name = raw.to_string_lossy().into_owned();
        match Notifier::open(&name) {
            Ok((sock, addr)) => Notifier {
                target: Some((sock, addr, name)),
            },
            Err(e) => {
                tracing::warn!(notify_socket = %name, error = %e, "cannot use NOTIFY_SOCKET; readiness is not reported");
                Notifier { target: None }
            }
        }
    }

    fn open(name: &str) -> std::io::Result<(UnixDatagram, SocketAddr)> {
        let addr = match name.strip_prefix('@') {
            Some(abs) => {
                use std::os::linux::net::SocketAddrExt;
                SocketAddr::from_abstract_name(abs.as_bytes())?
            }
            None if name.starts_with('/') => SocketAddr::from_pathname(name)?,
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    "neither an absolute path nor an @abstract name",
                ));
            }
        };
        Ok((UnixDatagram::unbound()?, addr))
    }

    /// `READY=1` with a `STATUS=` line: the API serves and state is restored.
    pub fn ready(&self, status: &str) {
        self.send(&format!("READY=1\nSTATUS={status}"));
    }

    /// A `STATUS=` line for `systemctl status`.
    pub fn status(&self, status: &str) {
        self.send(&format!("STATUS={status}"));
    }

    /// `STOPPING=1`: shutdown has begun.
    pub fn stopping(&self) {
        self.send("STOPPING=1\nSTATUS=shutting down");
    }

    fn send(&self, message: &str) {
        let Some((sock, addr, name)) = &self.target else {
            return;
        };
        // One small datagram to a local socket: it does not block for long.
        if let Err(e) = sock.send_to_addr(message.as_bytes(), addr) {
            tracing::warn!(notify_socket = %name, error = %e, message, "sd_notify failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_reach_a_path_socket() {
        let dir = tempfile::Builder::new()
            .prefix("berth-notify-")
            .tempdir()
            .unwrap();
        let path = dir.path().join("notify.sock");
        let rx = UnixDatagram::bind(&path).unwrap();
        let (sock, addr) = Notifier::open(path.to_str().unwrap()).unwrap();
        let n = Notifier {
            target: Some((sock, addr, path.display().to_string())),
        };
        n.status("loading");
        n.ready("serving");
        n.stopping();
        let mut buf = [0u8; 256];
        let mut got = Vec::new();
        for _ in 0..3 {
            let len = rx.recv(&mut buf).unwrap();
            got.push(String::from_utf8_lossy(&buf[..len]).into_owned());
        }
        assert_eq!(
            got,
            [
                "STATUS=loading",
                "READY=1\nSTATUS=serving",
                "STOPPING=1\nSTATUS=shutting down"
            ]
        );
    }

    #[test]
    fn relative_names_are_refused() {
        assert!(Notifier::open("relative.sock").is_err());
        assert!(Notifier::open("@berth-abstract-notify").is_ok());
    }
}
