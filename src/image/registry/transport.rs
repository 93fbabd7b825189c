//! HTTP/1.1 to registries over TCP or TLS (rustls, Mozilla's roots): one connection per
//! request, which keeps concurrent layer downloads independent of each other.

use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Empty, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Request, Response, Uri};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::ServerName;

use crate::image::registry::RegistryError;
use crate::tls::AcceptAnyCertificate;

/// A request body.
pub type ReqBody = BoxBody<Bytes, io::Error>;

/// How long establishing a connection (TCP and TLS) may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// An empty body.
pub fn empty() -> ReqBody {
    Empty::<Bytes>::new().map_err(|e| match e {}).boxed()
}

/// A body holding `bytes`.
pub fn bytes(b: impl Into<Bytes>) -> ReqBody {
    Full::new(b.into()).map_err(|e| match e {}).boxed()
}

/// Called with the length of every chunk a streamed body sends.
pub type SentFn = std::sync::Arc<dyn Fn(u64) + Send + Sync>;

/// A body streaming `len` bytes of `file` from its current position, telling `sent`.
pub fn file(file: tokio::fs::File, len: u64, sent: Option<SentFn>) -> ReqBody {
    use futures_util::TryStreamExt;
    use tokio::io::AsyncReadExt;
    let stream =
        tokio_util::io::ReaderStream::with_capacity(file.take(len), 256 << 10).map_ok(move |b| {
            if let Some(f) = &sent {
                f(b.len() as u64);
            }
            Frame::data(b)
        });
    StreamBody::new(stream).boxed()
}

/// The method as Go's `net/http` names it in errors (`Get`, `Head`, ...).
pub fn go_method(m: &hyper::Method) -> String {
    let s = m.as_str().to_ascii_lowercase();
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
        None => s,
    }
}

/// An OS error's text as Go prints it (`connection refused`).
fn os_text(e: &io::Error) -> String {
    match e.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code)
            .desc()
            .to_ascii_lowercase(),
        None => e.to_string(),
    }
}

/// The shared TLS configuration and connector.
#[derive(Clone)]
pub struct Transport {
    tls: TlsConnector,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Transport")
    }
}

fn build(verify: bool) -> Transport {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions");
    let config = if verify {
        builder.with_root_certificates(rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
    } else {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
    }
    .with_no_client_auth();
    Transport {
        tls: TlsConnector::from(Arc::new(config)),
    }
}

impl Transport {
    /// The process-wide transport, verifying certificates against Mozilla's roots (built once).
    pub fn shared() -> Transport {
        static T: OnceLock<Transport> = OnceLock::new();
        T.get_or_init(|| build(true)).clone()
    }

    /// The process-wide transport for insecure registries: any certificate is accepted.
    pub fn insecure() -> Transport {
        static T: OnceLock<Transport> = OnceLock::new();
        T.get_or_init(|| build(false)).clone()
    }

    /// Sends `req` (an absolute URI) on a new connection; the connection lives until the
    /// response body is consumed or dropped.
    pub async fn send(
        &self,
        mut req: Request<ReqBody>,
    ) -> Result<Response<Incoming>, RegistryError> {
        let uri = req.uri().clone();
        let method = go_method(req.method());
        let conn_err = |reason: String| RegistryError::Connect {
            method: method.clone(),
            url: uri.to_string(),
            reason,
        };
        let https = match uri.scheme_str() {
            Some("https") => true,
            Some("http") => false,
            _ => return Err(conn_err("unsupported protocol scheme".into())),
        };
        let host = uri
            .host()
            .ok_or_else(|| conn_err("no host in request URL".into()))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_string();
        let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
        let authority = uri
            .authority()
            .map(|a| a.as_str().to_string())
            .unwrap_or_else(|| host.clone());
        req.headers_mut().insert(
            hyper::header::HOST,
            hyper::header::HeaderValue::from_str(&authority)
                .map_err(|e| conn_err(format!("invalid host: {e}")))?,
        );
        req.headers_mut()
            .entry(hyper::header::USER_AGENT)
            .or_insert(hyper::header::HeaderValue::from_static(concat!(
                "berth/",
                env!("CARGO_PKG_VERSION")
            )));
        // HTTP/1.1 wants origin-form request targets.
        let path = uri
            .path_and_query()
            .map(|p| p.as_str().to_string())
            .unwrap_or_else(|| "/".into());
        *req.uri_mut() = path
            .parse::<Uri>()
            .map_err(|e| conn_err(format!("invalid path: {e}")))?;

        let addr = format!("{host}:{port}");
        let tcp = tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect((host.as_str(), port)))
            .await
            .map_err(|_| conn_err(format!("dial tcp {addr}: i/o timeout")))?
            .map_err(|e| {
                if e.raw_os_error().is_some() {
                    conn_err(format!("dial tcp {addr}: connect: {}", os_text(&e)))
                } else {
                    conn_err(format!("dial tcp: lookup {host}: {e}"))
                }
            })?;
        let _ = tcp.set_nodelay(true);
        if https {
            let name = ServerName::try_from(host.clone())
                .map_err(|e| conn_err(format!("invalid server name {host}: {e}")))?;
            let tls = tokio::time::timeout(CONNECT_TIMEOUT, self.tls.connect(name, tcp))
                .await
                .map_err(|_| conn_err("net/http: TLS handshake timeout".into()))?
                .map_err(|e| conn_err(format!("tls: {e}")))?;
            send_on(TokioIo::new(tls), req, &conn_err).await
        } else {
            send_on(TokioIo::new(tcp), req, &conn_err).await
        }
    }
}

async fn send_on<T>(
    io: T,
    req: Request<ReqBody>,
    conn_err: &(dyn Fn(String) -> RegistryError + Sync),
) -> Result<Response<Incoming>, RegistryError>
where
    T: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| conn_err(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "registry connection ended with an error");
        }
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| conn_err(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn methods_are_named_like_go() {
        assert_eq!(go_method(&hyper::Method::GET), "Get");
        assert_eq!(go_method(&hyper::Method::PATCH), "Patch");
    }

    #[tokio::test]
    async fn refused_connections_read_like_dockerd() {
        // Bind then drop a listener: its port is (almost surely) closed now.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        drop(l);
        let req = Request::get(format!("http://127.0.0.1:{port}/v2/"))
            .body(empty())
            .unwrap();
        let e = Transport::shared().send(req).await.unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "Get \"http://127.0.0.1:{port}/v2/\": dial tcp 127.0.0.1:{port}: connect: connection refused"
            )
        );
    }
}
