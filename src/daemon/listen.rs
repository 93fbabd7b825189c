//! Where berthd serves the API: `-H unix:///path` (a socket berthd binds
//! and hardens), `-H fd://` (sockets inherited from systemd's socket
//! activation, `LISTEN_FDS`/`LISTEN_PID`) and `-H tcp://ip:port` (only with
//! TLS and client-certificate verification: berthd never serves plain TCP).

use std::io;
use std::net::SocketAddr;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, UnixListener};
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls;

/// dockerd's port for TLS TCP when `-H tcp://ip` names none.
const DEFAULT_TLS_PORT: u16 = 2376;
/// A client must finish its TLS handshake within this, so idle
/// half-open connections cannot pile up.
const HANDSHAKE_BOUND: Duration = Duration::from_secs(30);

/// One `-H` value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `unix:///path` (or a bare absolute path): berthd binds the socket.
    Unix(PathBuf),
    /// `fd://` (every inherited socket) or `fd://N` (the one with fd N).
    Fd(Option<i32>),
    /// `tcp://ip:port`: served over TLS with client certificates only.
    Tcp(SocketAddr),
}

/// The files of `--tlsverify`: the CA client certificates must chain to,
/// and the server's own certificate and key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// `--tlscacert`.
    pub ca: PathBuf,
    /// `--tlscert`.
    pub cert: PathBuf,
    /// `--tlskey`.
    pub key: PathBuf,
}

/// A listener that cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    /// A `-H` value berthd does not understand.
    #[error("invalid host {0}: use unix:///path, fd:// or tcp://ip:port")]
    Host(String),
    /// `-H tcp://` without `--tlsverify`.
    #[error(
        "refusing to listen on {0} without --tlsverify: berthd serves TCP only over TLS with client-certificate verification (--tlsverify --tlscacert --tlscert --tlskey)"
    )]
    PlainTcp(String),
    /// `--tlsverify` without one of its files.
    #[error("--tlsverify needs --tlscacert, --tlscert and --tlskey; missing {0}")]
    TlsFile(&'static str),
    /// The socket path or its directory is not safe to serve on.
    #[error("refusing to listen on {path}: {reason}")]
    Unsafe {
        /// The socket path or its parent.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// A filesystem or socket call failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// On what.
        path: String,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
    /// `-H fd://` without sockets passed by systemd.
    #[error("no sockets were passed for {0} (LISTEN_FDS is unset or names another process)")]
    NoInheritedSockets(String),
    /// `-H fd://N` where N is not among the passed sockets.
    #[error("fd {0} is not among the sockets passed by systemd")]
    NoSuchFd(i32),
    /// The TLS certificates or key cannot be used.
    #[error(transparent)]
    Tls(#[from] berth::tls::TlsFileError),
}

fn io_err(
    what: &'static str,
    path: impl std::fmt::Display,
) -> impl FnOnce(io::Error) -> ListenError {
    move |source| ListenError::Io {
        what,
        path: path.to_string(),
        source,
    }
}

/// Parses one `-H` value, like dockerd's `unix://`, `fd://` and `tcp://`.
pub fn parse_host(host: &str) -> Result<Host, ListenError> {
    let bad = || ListenError::Host(host.to_owned());
    if let Some(p) = host.strip_prefix("unix://") {
        return p
            .starts_with('/')
            .then(|| Host::Unix(PathBuf::from(p)))
            .ok_or_else(bad);
    }
    if host.starts_with('/') {
        return Ok(Host::Unix(PathBuf::from(host)));
    }
    if let Some(fd) = host.strip_prefix("fd://") {
        return match fd {
            "" => Ok(Host::Fd(None)),
            n => n.parse().map(|n| Host::Fd(Some(n))).map_err(|_| bad()),
        };
    }
    if let Some(addr) = host.strip_prefix("tcp://") {
        let addr = addr.trim_end_matches('/');
        if let Ok(a) = addr.parse::<SocketAddr>() {
            return Ok(Host::Tcp(a));
        }
        return addr
            .parse::<std::net::IpAddr>()
            .map(|ip| Host::Tcp(SocketAddr::new(ip, DEFAULT_TLS_PORT)))
            .map_err(|_| bad());
    }
    Err(bad())
}

/// Checks the hosts against the TLS settings: TCP only with `--tlsverify`,
/// and `--tlsverify` only with all three files.
pub fn tls_for(
    hosts: &[Host],
    verify: bool,
    ca: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
) -> Result<Option<TlsFiles>, ListenError> {
    if !verify {
        if let Some(Host::Tcp(a)) = hosts.iter().find(|h| matches!(h, Host::Tcp(_))) {
            return Err(ListenError::PlainTcp(format!("tcp://{a}")));
        }
        return Ok(None);
    }
    Ok(Some(TlsFiles {
        ca: ca.ok_or(ListenError::TlsFile("--tlscacert"))?,
        cert: cert.ok_or(ListenError::TlsFile("--tlscert"))?,
        key: key.ok_or(ListenError::TlsFile("--tlskey"))?,
    }))
}

/// Sockets passed by systemd, taken from the environment while berthd is
/// still single-threaded (taking them clears `LISTEN_FDS`/`LISTEN_PID`, so
/// supervisors and containers never see them).
pub struct Inherited(listenfd::ListenFd);

impl Inherited {
    /// Reads `LISTEN_FDS`/`LISTEN_PID`; call before any thread starts.
    pub fn from_env() -> Inherited {
        Inherited(listenfd::ListenFd::from_env())
    }

    /// Each passed stream socket (unix or TCP), marked close-on-exec and
    /// named for logs: `fd://<path>` or `fd://<ip:port>`.
    fn take(&mut self, only: Option<i32>) -> Result<Vec<(String, Passed)>, ListenError> {
        const FIRST_FD: i32 = 3;
        let mut out = Vec::new();
        for idx in 0..self.0.len() {
            let fd = FIRST_FD + idx as i32;
            if only.is_some_and(|n| n != fd) {
                continue;
            }
            let err = || io_err("using inherited socket", format!("fd {fd}"));
            // take_* leaves a socket of another kind in place for the next try.
            if let Ok(Some(l)) = self.0.take_unix_listener(idx) {
                l.set_nonblocking(true).map_err(err())?;
                let name = l
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(|p| p.display().to_string()))
                    .map_or_else(|| format!("fd://{fd}"), |p| format!("fd://{p}"));
                out.push((
                    name,
                    Passed::Unix(UnixListener::from_std(l).map_err(err())?),
                ));
                continue;
            }
            if let Some(l) = self.0.take_tcp_listener(idx).map_err(err())? {
                l.set_nonblocking(true).map_err(err())?;
                let name = l
                    .local_addr()
                    .map_or_else(|_| format!("fd://{fd}"), |a| format!("fd://{a}"));
                out.push((name, Passed::Tcp(TcpListener::from_std(l).map_err(err())?)));
            }
        }
        match only {
            Some(n) if out.is_empty() => Err(ListenError::NoSuchFd(n)),
            None if out.is_empty() => Err(ListenError::NoInheritedSockets("fd://".to_owned())),
            _ => Ok(out),
        }
    }

    /// Closes the passed sockets no `-H fd://` took, so they do not stay
    /// open (and inheritable) in berthd; returns their fd numbers.
    fn close_rest(&mut self) -> Vec<i32> {
        let mut closed = Vec::new();
        for idx in 0..self.0.len() {
            // Each take_* marks the fd close-on-exec; dropping it closes it.
            let taken = matches!(self.0.take_unix_listener(idx), Ok(Some(_)))
                || matches!(self.0.take_tcp_listener(idx), Ok(Some(_)))
                || matches!(self.0.take_unix_datagram(idx), Ok(Some(_)))
                || matches!(self.0.take_udp_socket(idx), Ok(Some(_)));
            if taken {
                closed.push(3 + idx as i32);
            }
        }
        closed
    }
}

/// A socket passed by systemd.
enum Passed {
    Unix(UnixListener),
    Tcp(TcpListener),
}

enum Kind {
    Unix(UnixListener),
    Tls(TcpListener, TlsAcceptor),
}

/// Every socket berthd serves on.
pub struct Listeners {
    list: Vec<(String, Kind)>,
    /// Socket files berthd bound itself (removed on shutdown; inherited
    /// ones belong to systemd).
    bound: Vec<PathBuf>,
    /// Where the next accept starts polling, so a busy listener cannot
    /// starve the others.
    next: std::sync::atomic::AtomicUsize,
}

/// An accepted connection, before its TLS handshake (done off the accept
/// loop so a slow client cannot stall others).
pub enum Accepted {
    /// A unix socket connection, ready.
    Unix(tokio::net::UnixStream),
    /// A TCP connection that must finish a TLS handshake first.
    Tls(TcpStream, TlsAcceptor),
}

/// A byte stream hyper can serve: a unix socket or a TLS session.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Io for T {}

impl Accepted {
    /// The stream to serve HTTP on: TLS connections after a handshake that
    /// verified the client's certificate.
    pub async fn establish(self) -> io::Result<Box<dyn Io>> {
        match self {
            Accepted::Unix(s) => Ok(Box::new(s)),
            Accepted::Tls(s, acceptor) => {
                let tls = tokio::time::timeout(HANDSHAKE_BOUND, acceptor.accept(s))
                    .await
                    .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "tls handshake"))??;
                Ok(Box::new(tls))
            }
        }
    }
}

impl Listeners {
    /// Binds (or takes over from systemd) every host: unix sockets get mode
    /// 0660 and group `group` (root's group, with a warning, when `group`
    /// does not exist); TCP hosts get TLS with client-certificate
    /// verification against `tls`'s CA. A socket directly in `exec_root`
    /// makes that directory traversable (see [`open_exec_root`]).
    pub fn bind(
        hosts: &[Host],
        group: &str,
        tls: Option<&TlsFiles>,
        inherited: &mut Inherited,
        exec_root: &Path,
    ) -> Result<Listeners, ListenError> {
        let mut out = Listeners {
            list: Vec::new(),
            bound: Vec::new(),
            next: std::sync::atomic::AtomicUsize::new(0),
        };
        let acceptor = tls.map(acceptor).transpose()?;
        for host in hosts {
            match host {
                Host::Unix(path) => {
                    let l = bind_unix(path, group)?;
                    if path.parent() == Some(exec_root) {
                        open_exec_root(exec_root)?;
                    }
                    out.bound.push(path.clone());
                    out.list
                        .push((format!("unix://{}", path.display()), Kind::Unix(l)));
                }
                Host::Fd(only) => {
                    for (name, passed) in inherited.take(*only)? {
                        let kind = match passed {
                            Passed::Unix(l) => Kind::Unix(l),
                            // A TCP socket from a .socket unit gets TLS like
                            // -H tcp:// does, and is refused without it.
                            Passed::Tcp(l) => Kind::Tls(
                                l,
                                acceptor
                                    .clone()
                                    .ok_or(ListenError::PlainTcp(name.clone()))?,
                            ),
                        };
                        out.list.push((name, kind));
                    }
                }
                Host::Tcp(addr) => {
                    let acceptor = acceptor
                        .clone()
                        .ok_or_else(|| ListenError::PlainTcp(format!("tcp://{addr}")))?;
                    let l = std::net::TcpListener::bind(addr)
                        .and_then(|l| {
                            l.set_nonblocking(true)?;
                            TcpListener::from_std(l)
                        })
                        .map_err(io_err("listening on", format!("tcp://{addr}")))?;
                    out.list
                        .push((format!("tcp://{addr}"), Kind::Tls(l, acceptor)));
                }
            }
        }
        let unused = inherited.close_rest();
        if !unused.is_empty() {
            tracing::warn!(
                fds = ?unused,
                "closed sockets passed by systemd that no -H fd:// host serves"
            );
        }
        Ok(out)
    }

    /// The addresses served, for logs and `STATUS=`.
    pub fn names(&self) -> Vec<&str> {
        self.list.iter().map(|(n, _)| n.as_str()).collect()
    }

    /// The next connection on any listener.
    pub async fn accept(&self) -> io::Result<Accepted> {
        std::future::poll_fn(|cx| self.poll_accept(cx)).await
    }

    fn poll_accept(&self, cx: &mut Context<'_>) -> Poll<io::Result<Accepted>> {
        let n = self.list.len();
        let start = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        for i in 0..n {
            let (_, kind) = &self.list[(start + i) % n];
            let polled = match kind {
                Kind::Unix(l) => l.poll_accept(cx).map_ok(|(s, _)| Accepted::Unix(s)),
                Kind::Tls(l, a) => l
                    .poll_accept(cx)
                    .map_ok(|(s, _)| Accepted::Tls(s, a.clone())),
            };
            if polled.is_ready() {
                return polled;
            }
        }
        Poll::Pending
    }

    /// Removes the socket files berthd bound (not inherited ones).
    pub fn remove_sockets(&self) {
        for path in &self.bound {
            if let Err(e) = std::fs::remove_file(path) {
                tracing::warn!(path = %path.display(), error = %e, "removing the API socket");
            }
        }
    }
}

/// Refuses a socket directory that another user could swap or write into:
/// owned by someone else, group- or world-writable, not a directory, or a
/// symlink someone else made (a symlink of berthd's own user, such as
/// `/var/run` -> `/run`, is followed and its target checked instead).
fn check_parent(dir: &Path) -> Result<(), ListenError> {
    let unsafe_dir = |reason: String| ListenError::Unsafe {
        path: dir.to_path_buf(),
        reason,
    };
    let me = nix::unistd::geteuid().as_raw();
    let mut meta = std::fs::symlink_metadata(dir).map_err(io_err("inspecting", dir.display()))?;
    if meta.file_type().is_symlink() {
        if meta.uid() != me {
            return Err(unsafe_dir(format!(
                "the socket's directory is a symlink owned by uid {}",
                meta.uid()
            )));
        }
        meta = std::fs::metadata(dir).map_err(io_err("inspecting", dir.display()))?;
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("the socket's parent is not a directory".into()));
    }
    if meta.uid() != me {
        return Err(unsafe_dir(format!(
            "the socket's directory is owned by uid {}, not by berthd's uid {me}",
            meta.uid()
        )));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(unsafe_dir(format!(
            "the socket's directory is group- or world-writable (mode {:o})",
            meta.mode() & 0o7777
        )));
    }
    Ok(())
}

/// The checks of [`bind_unix`] without binding, so a bad socket path stops
/// berthd before it touches any state; returns whether the parent exists.
fn check_unix_path(path: &Path) -> Result<bool, ListenError> {
    let unsafe_path = |reason: &str| ListenError::Unsafe {
        path: path.to_path_buf(),
        reason: reason.to_owned(),
    };
    let parent = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| unsafe_path("the socket path has no parent directory"))?;
    match std::fs::symlink_metadata(parent) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(false),
        _ => check_parent(parent)?,
    }
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err(unsafe_path("it is a symlink")),
        Ok(m) if m.file_type().is_socket() => Ok(true),
        Ok(_) => Err(unsafe_path("it exists and is not a socket")),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(io_err("inspecting", path.display())(e)),
    }
}

/// Checks every host before berthd restores any state: unix socket paths
/// are safe to bind, `fd://` hosts have sockets passed, and the TLS files
/// load.
pub fn preflight(
    hosts: &[Host],
    tls: Option<&TlsFiles>,
    inherited: &Inherited,
) -> Result<(), ListenError> {
    let passed = inherited.0.len() as i32;
    for host in hosts {
        match host {
            Host::Unix(path) => {
                check_unix_path(path)?;
            }
            Host::Fd(None) if passed == 0 => {
                return Err(ListenError::NoInheritedSockets("fd://".to_owned()));
            }
            Host::Fd(Some(n)) if !(3..3 + passed).contains(n) => {
                return Err(ListenError::NoSuchFd(*n));
            }
            Host::Fd(_) | Host::Tcp(_) => {}
        }
    }
    tls.map(acceptor).transpose().map(drop)
}

/// Binds a unix socket at `path` after the safety checks; a stale socket
/// file is replaced, anything else at the path is refused.
fn bind_unix(path: &Path, group: &str) -> Result<UnixListener, ListenError> {
    if !check_unix_path(path)? {
        let parent = path.parent().unwrap_or(Path::new("/"));
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(parent)
            .map_err(io_err("creating", parent.display()))?;
    }
    match std::fs::remove_file(path) {
        // A stale socket of an earlier berthd (check_unix_path allows no other file).
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(io_err("removing stale socket", path.display())(e)),
    }
    let listener = UnixListener::bind(path).map_err(io_err("binding", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(io_err("setting the mode of", path.display()))?;
    let gid = match nix::unistd::Group::from_name(group) {
        Ok(Some(g)) => g.gid,
        _ => {
            // dockerd warns and keeps root's group in the same case.
            tracing::warn!(
                group,
                socket = %path.display(),
                "group not found; the API socket keeps root's group"
            );
            nix::unistd::Gid::from_raw(0)
        }
    };
    nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(0)), Some(gid))
        .map_err(|e| io_err("changing the owner of", path.display())(e.into()))?;
    Ok(listener)
}

/// Adds search (not read) permission for everyone to berthd's exec root
/// when the API socket lives in it (the default `/run/berth/berth.sock`):
/// otherwise the socket's group could not reach it. systemd creates the
/// directory 0755 for berthd.socket; berthd creates it 0700, and every
/// entry in it is private on its own (containers/, netns/ are 0700).
fn open_exec_root(exec_root: &Path) -> Result<(), ListenError> {
    let meta = std::fs::metadata(exec_root).map_err(io_err("inspecting", exec_root.display()))?;
    let mode = meta.mode() & 0o7777;
    if mode & 0o011 != 0o011 {
        std::fs::set_permissions(exec_root, std::fs::Permissions::from_mode(mode | 0o011))
            .map_err(io_err("setting the mode of", exec_root.display()))?;
    }
    Ok(())
}

fn tls_err(path: &Path) -> impl Fn(String) -> ListenError + '_ {
    move |message| {
        ListenError::Tls(berth::tls::TlsFileError {
            path: path.to_path_buf(),
            message,
        })
    }
}

/// The TLS acceptor of `--tlsverify`: the server certificate and key, and a
/// verifier that demands a client certificate chaining to the CA.
fn acceptor(files: &TlsFiles) -> Result<TlsAcceptor, ListenError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let roots = berth::tls::roots(&files.ca)?;
    let ca_err = tls_err(&files.ca);
    let verifier = rustls::server::WebPkiClientVerifier::builder_with_provider(
        Arc::new(roots),
        provider.clone(),
    )
    .build()
    .map_err(|e| ca_err(e.to_string()))?;
    let cert_err = tls_err(&files.cert);
    let certs = berth::tls::chain(&files.cert)?;
    let key = berth::tls::key(&files.key)?;
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| cert_err(e.to_string()))?
        .with_client_cert_verifier(verifier)
        .with_single_cert(certs, key)
        .map_err(|e| cert_err(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_parse_like_dockerd() {
        assert_eq!(
            parse_host("unix:///run/berth/berth.sock").unwrap(),
            Host::Unix("/run/berth/berth.sock".into())
        );
        assert_eq!(parse_host("/a.sock").unwrap(), Host::Unix("/a.sock".into()));
        assert_eq!(parse_host("fd://").unwrap(), Host::Fd(None));
        assert_eq!(parse_host("fd://3").unwrap(), Host::Fd(Some(3)));
        assert_eq!(
            parse_host("tcp://127.0.0.1:2376").unwrap(),
            Host::Tcp("127.0.0.1:2376".parse().unwrap())
        );
        assert_eq!(
            parse_host("tcp://127.0.0.1").unwrap(),
            Host::Tcp("127.0.0.1:2376".parse().unwrap())
        );
        for bad in [
            "unix://rel.sock",
            "fd://x",
            "tcp://host.example:1",
            "http://x",
            "rel",
        ] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn tcp_needs_tlsverify_and_its_files() {
        let tcp = [Host::Tcp("127.0.0.1:2376".parse().unwrap())];
        let err = tls_for(&tcp, false, None, None, None).unwrap_err();
        assert!(err.to_string().contains("without --tlsverify"), "{err}");
        let err = tls_for(&tcp, true, Some("/ca".into()), None, Some("/k".into())).unwrap_err();
        assert!(err.to_string().contains("--tlscert"), "{err}");
        let files = tls_for(
            &tcp,
            true,
            Some("/ca".into()),
            Some("/c".into()),
            Some("/k".into()),
        )
        .unwrap()
        .unwrap();
        assert_eq!(files.ca, PathBuf::from("/ca"));
        assert_eq!(
            tls_for(&[Host::Fd(None)], false, None, None, None).unwrap(),
            None
        );
    }

    #[test]
    fn unusable_tls_files_are_named() {
        let dir = tempfile::Builder::new()
            .prefix("berth-tls-")
            .tempdir()
            .unwrap();
        let junk = dir.path().join("junk.pem");
        std::fs::write(&junk, "not a certificate").unwrap();
        let files = TlsFiles {
            ca: junk.clone(),
            cert: junk.clone(),
            key: junk.clone(),
        };
        let err = preflight(&[], Some(&files), &Inherited(listenfd::ListenFd::empty()))
            .expect_err("junk is refused");
        assert!(err.to_string().contains("junk.pem"), "{err}");
        let missing = TlsFiles {
            ca: dir.path().join("absent-ca.pem"),
            ..files
        };
        let err = acceptor(&missing).err().expect("a missing CA is refused");
        assert!(err.to_string().contains("absent-ca.pem"), "{err}");
    }

    #[test]
    fn fd_hosts_need_passed_sockets() {
        let none = Inherited(listenfd::ListenFd::empty());
        let err = preflight(&[Host::Fd(None)], None, &none).unwrap_err();
        assert!(err.to_string().contains("no sockets were passed"), "{err}");
        let err = preflight(&[Host::Fd(Some(3))], None, &none).unwrap_err();
        assert!(err.to_string().contains("fd 3"), "{err}");
    }

    #[test]
    fn unsafe_socket_directories_are_refused() {
        let dir = tempfile::Builder::new()
            .prefix("berth-listen-")
            .tempdir()
            .unwrap();
        let mode = |m| std::fs::Permissions::from_mode(m);
        std::fs::set_permissions(dir.path(), mode(0o700)).unwrap();
        check_parent(dir.path()).unwrap();
        std::fs::set_permissions(dir.path(), mode(0o777)).unwrap();
        let err = check_parent(dir.path()).unwrap_err();
        assert!(err.to_string().contains("world-writable"), "{err}");
        // A symlink of berthd's own user is followed: its target decides.
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(dir.path(), &link).unwrap();
        let err = check_parent(&link).unwrap_err();
        assert!(err.to_string().contains("world-writable"), "{err}");
        std::fs::set_permissions(dir.path(), mode(0o700)).unwrap();
        check_parent(&link).unwrap();
        let sock_link = dir.path().join("berth.sock");
        std::os::unix::fs::symlink("/nonexistent-berth-target", &sock_link).unwrap();
        let err = check_unix_path(&sock_link).unwrap_err();
        assert!(err.to_string().contains("is a symlink"), "{err}");
        let file = dir.path().join("berth-file.sock");
        std::fs::write(&file, b"").unwrap();
        let err = check_unix_path(&file).unwrap_err();
        assert!(err.to_string().contains("not a socket"), "{err}");
        assert!(!check_unix_path(&dir.path().join("absent/berth.sock")).unwrap());
        assert!(check_unix_path(&dir.path().join("berth-new.sock")).unwrap());
    }
}
