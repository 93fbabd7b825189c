//! The HTTP client for berthd: HTTP/1.1 over the daemon's unix socket (or TCP),
//! one connection per request, with streaming request and response bodies and
//! connection hijacking for attach.

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::AsyncRead;
use tokio_rustls::rustls;

use berth::api::{API_VERSION, ErrorClass};

/// Where the daemon listens when neither `-H` nor the environment says otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// Picks the daemon address: `-H` first, then `BERTH_HOST`, then `DOCKER_HOST`,
/// then [`DEFAULT_HOST`]. Empty values count as unset, as in Docker.
pub fn resolve_host(
    flag: Option<&str>,
    berth_host: Option<&str>,
    docker_host: Option<&str>,
) -> String {
    [flag, berth_host, docker_host]
        .into_iter()
        .flatten()
        .find(|h| !h.is_empty())
        .unwrap_or(DEFAULT_HOST)
        .to_string()
}

/// A parsed daemon address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    /// `unix:///path/to.sock` (a bare absolute path is accepted too).
    Unix(PathBuf),
    /// `tcp://host:port`.
    Tcp(String),
}

impl Host {
    /// Parses `-H`-style addresses; a `tcp://` address without a port gets
    /// Docker's default, 2376 with TLS and 2375 without.
    pub fn parse(s: &str, tls: bool) -> Result<Host, ClientError> {
        let invalid = |reason: &'static str| ClientError::InvalidHost {
            host: s.to_string(),
            reason,
        };
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(invalid("missing socket path"));
            }
            Ok(Host::Unix(PathBuf::from(path)))
        } else if let Some(addr) = s.strip_prefix("tcp://") {
            let addr = addr.trim_end_matches('/');
            if addr.is_empty() {
                return Err(invalid("missing address"));
            }
            let addr = if addr
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            {
                addr.to_string()
            } else {
                format!("{addr}:{}", if tls { 2376 } else { 2375 })
            };
            Ok(Host::Tcp(addr))
        } else if s.starts_with('/') {
            Ok(Host::Unix(PathBuf::from(s)))
        } else {
            Err(invalid("only unix:// and tcp:// addresses are supported"))
        }
    }
}

impl std::fmt::Display for Host {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Host::Unix(p) => write!(f, "unix://{}", p.display()),
            Host::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Failures talking to berthd.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Nothing answers at the address.
    #[error("cannot connect to berthd at {host}: is it running?")]
    Connect {
        /// The address, as `unix:///...`.
        host: String,
        /// Why connecting failed.
        #[source]
        source: io::Error,
    },
    /// The address cannot be used.
    #[error("invalid host {host:?}: {reason}")]
    InvalidHost {
        /// The address given.
        host: String,
        /// What is wrong with it.
        reason: &'static str,
    },
    /// The daemon answered with an error status. The wording is Docker's,
    /// capitalised as Docker prints it, because scripts match on it.
    #[error("Error response from daemon: {message}")]
    Daemon {
        /// The HTTP status.
        status: u16,
        /// The daemon's `message`.
        message: String,
    },
    /// The HTTP exchange itself failed.
    #[error("request {path} to berthd failed: {source}")]
    Http {
        /// The request path.
        path: String,
        /// The protocol error.
        #[source]
        source: hyper::Error,
    },
    /// The response is not the JSON we expect.
    #[error("invalid response from berthd for {path}: {source}")]
    Decode {
        /// The request path.
        path: String,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
    /// The daemon did not hijack the connection for attach.
    #[error("berthd did not upgrade the connection for {path}: status {status}")]
    NoUpgrade {
        /// The request path.
        path: String,
        /// The status it answered with.
        status: u16,
    },
    /// Reading or writing the upgraded connection failed.
    #[error("stream {path} from berthd failed: {source}")]
    Stream {
        /// The request path.
        path: String,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
}

impl ClientError {
    /// The error's class, for exit codes.
    pub fn class(&self) -> ErrorClass {
        match self {
            ClientError::Connect { .. } | ClientError::Http { .. } | ClientError::Stream { .. } => {
                ErrorClass::Unavailable
            }
            ClientError::InvalidHost { .. } => ErrorClass::InvalidArgument,
            ClientError::Daemon { status, .. } => ErrorClass::from_http_status(*status),
            ClientError::Decode { .. } | ClientError::NoUpgrade { .. } => ErrorClass::Internal,
        }
    }

    /// Whether the daemon said the object does not exist.
    pub fn is_not_found(&self) -> bool {
        matches!(self, ClientError::Daemon { status: 404, .. })
    }
}

/// The request body type: JSON, empty, or a stream from a reader.
pub type ReqBody = UnsyncBoxBody<Bytes, io::Error>;

/// No request body.
pub fn empty() -> ReqBody {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

/// A JSON request body.
pub fn json_body<T: Serialize>(v: &T) -> ReqBody {
    // Serialising our own plain structs to a Vec cannot fail.
    let bytes = serde_json::to_vec(v).unwrap_or_default();
    Full::new(Bytes::from(bytes))
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A request body streamed from `reader` without buffering it whole.
pub fn reader_body<R: AsyncRead + Send + Unpin + 'static>(reader: R) -> ReqBody {
    ReaderBody {
        reader,
        buf: BytesMut::new(),
        done: false,
    }
    .boxed_unsync()
}

struct ReaderBody<R> {
    reader: R,
    buf: BytesMut,
    done: bool,
}

impl<R: AsyncRead + Unpin> Body for ReaderBody<R> {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = &mut *self;
        if this.done {
            return Poll::Ready(None);
        }
        this.buf.reserve(64 * 1024);
        match tokio_util::io::poll_read_buf(Pin::new(&mut this.reader), cx, &mut this.buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => Poll::Ready(Some(Err(e))),
            Poll::Ready(Ok(0)) => {
                this.done = true;
                Poll::Ready(None)
            }
            Poll::Ready(Ok(_)) => Poll::Ready(Some(Ok(Frame::data(this.buf.split().freeze())))),
        }
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

/// Percent-encodes a query value (everything but RFC 3986 unreserved characters).
pub fn encode_query_value(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Percent-encodes a path segment that may itself contain `/` and `:`
/// (image names such as `localhost:5000/app:v1`), as Go's url.URL does.
pub fn encode_path(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/:@!$&'()*+,;=".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Builds `?k=v&k2=v2` from pairs (empty string when there are none).
pub fn query(pairs: &[(&str, String)]) -> String {
    if pairs.is_empty() {
        return String::new();
    }
    let parts: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", encode_query_value(v)))
        .collect();
    format!("?{}", parts.join("&"))
}

/// What an attach request turned into.
pub enum Attached {
    /// The daemon hijacked the connection (101 Switching Protocols).
    Upgraded(TokioIo<hyper::upgrade::Upgraded>),
    /// An older-style daemon streams the output as the response body.
    Body(Incoming),
}

/// The name a `host:port` address's certificate must carry: the host part
/// (an IP address or a DNS name; IPv6 in brackets).
fn server_name(addr: &str) -> io::Result<rustls::pki_types::ServerName<'static>> {
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']');
    rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{host}: {e}")))
}

/// A connection factory for one daemon.
#[derive(Clone)]
pub struct Client {
    host: Host,
    /// TLS for a `tcp://` host (`--tls`, `--tlsverify`).
    tls: Option<tokio_rustls::TlsConnector>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("host", &self.host)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl Client {
    /// A client for `host` (nothing is contacted yet).
    pub fn new(host: Host) -> Client {
        Client { host, tls: None }
    }

    /// The same client speaking TLS to a `tcp://` host (a unix socket
    /// ignores it, as the docker CLI does).
    pub fn with_tls(self, tls: Option<tokio_rustls::TlsConnector>) -> Client {
        Client { tls, ..self }
    }

    async fn connect(&self, path: &str) -> Result<SendRequest<ReqBody>, ClientError> {
        let connect_err = |source| ClientError::Connect {
            host: self.host.to_string(),
            source,
        };
        let http_err = |source| ClientError::Http {
            path: path.to_string(),
            source,
        };
        macro_rules! handshake {
            ($stream:expr) => {{
                let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new($stream))
                    .await
                    .map_err(http_err)?;
                tokio::spawn(async move {
                    if let Err(e) = conn.with_upgrades().await {
                        tracing::debug!("connection to berthd ended: {e}");
                    }
                });
                sender
            }};
        }
        Ok(match &self.host {
            Host::Unix(p) => handshake!(
                tokio::net::UnixStream::connect(p)
                    .await
                    .map_err(connect_err)?
            ),
            Host::Tcp(a) => {
                let tcp = tokio::net::TcpStream::connect(a)
                    .await
                    .map_err(connect_err)?;
                match &self.tls {
                    None => handshake!(tcp),
                    Some(tls) => {
                        let name = server_name(a).map_err(connect_err)?;
                        handshake!(tls.connect(name, tcp).await.map_err(connect_err)?)
                    }
                }
            }
        })
    }

    fn build(
        method: Method,
        path: &str,
        body: ReqBody,
        content_type: Option<&str>,
    ) -> Request<ReqBody> {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("/v{API_VERSION}{path}"))
            .header(hyper::header::HOST, "berth")
            .header(
                hyper::header::USER_AGENT,
                concat!("berth/", env!("CARGO_PKG_VERSION")),
            );
        if let Some(ct) = content_type {
            req = req.header(hyper::header::CONTENT_TYPE, ct);
        }
        // The builder only fails on invalid header values, and ours are constants.
        req.body(body).unwrap_or_default()
    }

    /// Sends a request; a non-2xx answer becomes [`ClientError::Daemon`].
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: ReqBody,
        content_type: Option<&str>,
    ) -> Result<Response<Incoming>, ClientError> {
        self.send_with_headers(method, path, body, content_type, &[])
            .await
    }

    /// Like [`Client::send`], with extra request headers (`X-Registry-Auth`;
    /// their values are never logged).
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        body: ReqBody,
        content_type: Option<&str>,
        headers: &[(&'static str, String)],
    ) -> Result<Response<Incoming>, ClientError> {
        tracing::debug!("{method} {path}");
        let mut sender = self.connect(path).await?;
        let mut req = Self::build(method, path, body, content_type);
        for (name, value) in headers {
            // A value that is no valid header (never for base64) is left out.
            if let Ok(v) = hyper::header::HeaderValue::from_str(value) {
                req.headers_mut().insert(*name, v);
            }
        }
        let resp = sender
            .send_request(req)
            .await
            .map_err(|source| ClientError::Http {
                path: path.to_string(),
                source,
            })?;
        // Docker's client treats every status below 400 as success: a 304
        // ("already started", "already stopped") is not an error.
        if resp.status().is_success() || resp.status().is_redirection() {
            return Ok(resp);
        }
        Err(self.error_from(path, resp).await)
    }

    async fn error_from(&self, path: &str, resp: Response<Incoming>) -> ClientError {
        let status = resp.status();
        let body = match resp.into_body().collect().await {
            Ok(c) => c.to_bytes(),
            Err(source) => {
                return ClientError::Http {
                    path: path.to_string(),
                    source,
                };
            }
        };
        let message = match serde_json::from_slice::<berth::api::ErrorResponse>(&body) {
            Ok(e) => e.message,
            Err(_) => {
                let text = String::from_utf8_lossy(&body).trim().to_string();
                if text.is_empty() {
                    status
                        .canonical_reason()
                        .unwrap_or("unknown error")
                        .to_string()
                } else {
                    text
                }
            }
        };
        ClientError::Daemon {
            status: status.as_u16(),
            message,
        }
    }

    /// Reads a whole response body.
    pub async fn read_all(path: &str, resp: Response<Incoming>) -> Result<Bytes, ClientError> {
        resp.into_body()
            .collect()
            .await
            .map(|c| c.to_bytes())
            .map_err(|source| ClientError::Http {
                path: path.to_string(),
                source,
            })
    }

    /// Sends a request and returns the raw body bytes.
    pub async fn bytes(
        &self,
        method: Method,
        path: &str,
        body: ReqBody,
    ) -> Result<Bytes, ClientError> {
        let ct = if method == Method::POST {
            Some("application/json")
        } else {
            None
        };
        let resp = self.send(method, path, body, ct).await?;
        Self::read_all(path, resp).await
    }

    /// Sends a request and decodes its JSON answer.
    pub async fn json<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: ReqBody,
    ) -> Result<T, ClientError> {
        let bytes = self.bytes(method, path, body).await?;
        serde_json::from_slice(&bytes).map_err(|source| ClientError::Decode {
            path: path.to_string(),
            source,
        })
    }

    /// `GET path`, decoded.
    pub async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        self.json(Method::GET, path, empty()).await
    }

    /// Opens an attach-style hijacked connection with `POST path`.
    pub async fn hijack(&self, path: &str) -> Result<Attached, ClientError> {
        self.hijack_with(path, empty(), "text/plain").await
    }

    /// Opens a hijacked connection with `POST path` carrying `body` (exec
    /// start sends its options as JSON).
    pub async fn hijack_with(
        &self,
        path: &str,
        body: ReqBody,
        content_type: &str,
    ) -> Result<Attached, ClientError> {
        tracing::debug!("POST {path} (hijack)");
        let mut sender = self.connect(path).await?;
        let mut req = Self::build(Method::POST, path, body, Some(content_type));
        let headers = req.headers_mut();
        headers.insert(
            hyper::header::CONNECTION,
            hyper::header::HeaderValue::from_static("Upgrade"),
        );
        headers.insert(
            hyper::header::UPGRADE,
            hyper::header::HeaderValue::from_static("tcp"),
        );
        let http_err = |source| ClientError::Http {
            path: path.to_string(),
            source,
        };
        let resp = sender.send_request(req).await.map_err(http_err)?;
        match resp.status() {
            StatusCode::SWITCHING_PROTOCOLS => {
                let upgraded = hyper::upgrade::on(resp).await.map_err(http_err)?;
                Ok(Attached::Upgraded(TokioIo::new(upgraded)))
            }
            s if s.is_success() => Ok(Attached::Body(resp.into_body())),
            s if s.is_client_error() || s.is_server_error() => {
                Err(self.error_from(path, resp).await)
            }
            s => Err(ClientError::NoUpgrade {
                path: path.to_string(),
                status: s.as_u16(),
            }),
        }
    }
}

/// Pulls the next data chunk from a response body (`None` at the end).
pub async fn next_chunk(path: &str, body: &mut Incoming) -> Result<Option<Bytes>, ClientError> {
    loop {
        match body.frame().await {
            None => return Ok(None),
            Some(Err(source)) => {
                return Err(ClientError::Http {
                    path: path.to_string(),
                    source,
                });
            }
            Some(Ok(frame)) => {
                if let Ok(data) = frame.into_data() {
                    return Ok(Some(data));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_resolution_order() {
        assert_eq!(
            resolve_host(Some("unix:///a"), Some("unix:///b"), Some("unix:///c")),
            "unix:///a"
        );
        assert_eq!(
            resolve_host(None, Some("unix:///b"), Some("unix:///c")),
            "unix:///b"
        );
        assert_eq!(resolve_host(None, Some(""), Some("unix:///c")), "unix:///c");
        assert_eq!(resolve_host(None, None, Some("unix:///c")), "unix:///c");
        assert_eq!(resolve_host(None, None, None), DEFAULT_HOST);
    }

    #[test]
    fn host_parsing() {
        assert_eq!(
            Host::parse("unix:///run/x.sock", false).unwrap(),
            Host::Unix("/run/x.sock".into())
        );
        assert_eq!(
            Host::parse("/run/x.sock", false).unwrap(),
            Host::Unix("/run/x.sock".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1", false).unwrap(),
            Host::Tcp("127.0.0.1:2375".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1", true).unwrap(),
            Host::Tcp("127.0.0.1:2376".into())
        );
        assert_eq!(
            Host::parse("tcp://127.0.0.1:9/", false).unwrap(),
            Host::Tcp("127.0.0.1:9".into())
        );
        assert!(Host::parse("ssh://x", false).is_err());
        assert!(Host::parse("unix://", false).is_err());
        assert_eq!(
            Host::parse("unix:///run/x.sock", false)
                .unwrap()
                .to_string(),
            "unix:///run/x.sock"
        );
    }

    #[test]
    fn encoding() {
        assert_eq!(encode_query_value("a b&c=d/é"), "a%20b%26c%3Dd%2F%C3%A9");
        assert_eq!(
            encode_path("localhost:5000/app:v1"),
            "localhost:5000/app:v1"
        );
        assert_eq!(encode_path("a b"), "a%20b");
        assert_eq!(
            query(&[("all", "1".into()), ("filters", "{}".into())]),
            "?all=1&filters=%7B%7D"
        );
        assert_eq!(query(&[]), "");
    }
}
