//! `ADD <url>`: the download half, as moby's `downloadSource` (20.10) plus
//! BuildKit's `--checksum`.
//!
//! The file is fetched with hyper's HTTP/1 client (redirects followed, up to
//! ten, as Go's `http.Get`), hashed while it is written (mode 0600, as
//! dockerd), verified against `--checksum=sha256:<hex>` when given, and
//! stamped with the `Last-Modified` time (the Unix epoch without one). Its
//! name is the URL path's last component, else the `Content-Disposition`
//! filename. Only `http://` is fetched: `https://` would need a TLS stack the
//! daemon does not carry, and is refused with a clear error.

use std::fs::{File, FileTimes, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use sha2::{Digest, Sha256};

use berth::api::ErrorClass;

/// Redirects followed before giving up (Go's `http.Client` default).
const MAX_REDIRECTS: usize = 10;
/// The most of an error response's body quoted in the error.
const ERROR_BODY_MAX: usize = 512;

/// Why a download failed.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not a URL we can fetch.
    #[error("invalid URL {url}: {reason}")]
    BadUrl {
        /// The URL.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// An `https://` URL: no TLS in this daemon.
    #[error("https URLs are not supported by ADD in berthd (no TLS support): {url}")]
    Https {
        /// The URL.
        url: String,
    },
    /// The server could not be reached or the exchange broke (Go's wording).
    #[error("Get \"{url}\": {reason}")]
    Transport {
        /// The URL.
        url: String,
        /// The cause.
        reason: String,
    },
    /// A status other than 2xx (moby's `GetWithStatusError`).
    #[error("failed to GET {url} with status {status}: {body}")]
    Status {
        /// The URL.
        url: String,
        /// `404 Not Found`.
        status: String,
        /// The start of the response body.
        body: String,
    },
    /// More than ten redirects.
    #[error("failed to GET {url}: stopped after {MAX_REDIRECTS} redirects")]
    Redirects {
        /// The URL first asked for.
        url: String,
    },
    /// A `--checksum` that is not `sha256:<64 hex>`.
    #[error("invalid checksum {value}: expected sha256:<64 hex digits>")]
    BadChecksum {
        /// The value given.
        value: String,
    },
    /// The content does not have the `--checksum` digest.
    #[error("digest mismatch for {url}: got {actual}, expected {expected}")]
    Mismatch {
        /// The URL.
        url: String,
        /// The content's digest.
        actual: String,
        /// The `--checksum` value.
        expected: String,
    },
    /// Writing the downloaded file failed.
    #[error("writing {}: {source}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
}

impl FetchError {
    /// The API class of the error.
    pub fn class(&self) -> ErrorClass {
        match self {
            FetchError::BadUrl { .. }
            | FetchError::BadChecksum { .. }
            | FetchError::Mismatch { .. }
            | FetchError::Status { .. } => ErrorClass::InvalidArgument,
            FetchError::Https { .. } => ErrorClass::NotImplemented,
            FetchError::Transport { .. } | FetchError::Redirects { .. } => ErrorClass::Unavailable,
            FetchError::Io { .. } => ErrorClass::Internal,
        }
    }
}

/// A downloaded file.
#[derive(Debug, Clone)]
pub struct Download {
    /// Where it was written (inside the directory given to [`download`]).
    pub path: PathBuf,
    /// Its name from the URL or `Content-Disposition`; `None` when neither has one.
    pub filename: Option<String>,
    /// Its length.
    pub size: u64,
    /// sha256 of the content.
    pub sha256: [u8; 32],
    /// `Last-Modified` as Unix seconds, 0 without a (parsable) one.
    pub mtime: i64,
}

/// Downloads `url` into the existing directory `dir`, verifying `checksum`
/// (`sha256:<hex>`) when given. Blocking: runs its own small runtime on a
/// thread of its own, so it may be called from any thread.
pub fn download(url: &str, dir: &Path, checksum: Option<&str>) -> Result<Download, FetchError> {
    let expected = checksum.map(parse_checksum).transpose()?;
    let transport = |reason: String| FetchError::Transport {
        url: url.to_string(),
        reason,
    };
    let d = std::thread::scope(|s| {
        s.spawn(|| {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| transport(format!("starting a runtime: {e}")))?;
            rt.block_on(fetch(url, dir))
        })
        .join()
        .unwrap_or_else(|_| Err(transport("the download thread panicked".into())))
    })?;
    if let Some(want) = expected
        && want != d.sha256
    {
        return Err(FetchError::Mismatch {
            url: url.to_string(),
            actual: format!("sha256:{}", hex::encode(d.sha256)),
            expected: format!("sha256:{}", hex::encode(want)),
        });
    }
    Ok(d)
}

fn parse_checksum(value: &str) -> Result<[u8; 32], FetchError> {
    let bad = || FetchError::BadChecksum {
        value: value.to_string(),
    };
    let hex_part = value.strip_prefix("sha256:").ok_or_else(bad)?;
    let bytes = hex::decode(hex_part).map_err(|_| bad())?;
    bytes.try_into().map_err(|_| bad())
}

async fn fetch(url: &str, dir: &Path) -> Result<Download, FetchError> {
    let transport = |reason: String| FetchError::Transport {
        url: url.to_string(),
        reason,
    };
    let first: hyper::Uri = url.parse().map_err(|e| FetchError::BadUrl {
        url: url.to_string(),
        reason: format!("{e}"),
    })?;
    let mut current = first.clone();
    for _ in 0..=MAX_REDIRECTS {
        let resp = get(url, &current).await?;
        let status = resp.status();
        if status.is_redirection()
            && let Some(loc) = resp
                .headers()
                .get(hyper::header::LOCATION)
                .and_then(|v| v.to_str().ok())
        {
            current = join_location(&current, loc).map_err(|reason| FetchError::BadUrl {
                url: loc.to_string(),
                reason,
            })?;
            continue;
        }
        let header = |name: hyper::header::HeaderName| {
            resp.headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        // The server's own reason phrase, as Go's `resp.Status` shows it.
        let reason = resp
            .extensions()
            .get::<hyper::ext::ReasonPhrase>()
            .map(|r| String::from_utf8_lossy(r.as_bytes()).into_owned())
            .unwrap_or_else(|| status.canonical_reason().unwrap_or("").to_string());
        let disposition = header(hyper::header::CONTENT_DISPOSITION);
        let last_modified = header(hyper::header::LAST_MODIFIED);
        let mut body = resp.into_body();
        if !status.is_success() {
            let mut text = Vec::new();
            while text.len() < ERROR_BODY_MAX {
                match body.frame().await {
                    Some(Ok(f)) => {
                        if let Ok(d) = f.into_data() {
                            text.extend_from_slice(&d);
                        }
                    }
                    _ => break,
                }
            }
            text.truncate(ERROR_BODY_MAX);
            return Err(FetchError::Status {
                url: url.to_string(),
                status: format!("{} {}", status.as_u16(), reason)
                    .trim_end()
                    .to_string(),
                body: String::from_utf8_lossy(&text).trim().to_string(),
            });
        }
        let filename = filename_for(first.path(), disposition.as_deref());
        let path = dir.join(filename.as_deref().unwrap_or("download"));
        let io_err = |source: io::Error| FetchError::Io {
            path: path.clone(),
            source,
        };
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .map_err(io_err)?;
        let mut h = Sha256::new();
        let mut size = 0u64;
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| transport(format!("reading the body: {e}")))?;
            if let Ok(data) = frame.into_data() {
                file.write_all(&data).map_err(io_err)?;
                h.update(&data);
                size += data.len() as u64;
            }
        }
        let mtime = last_modified
            .as_deref()
            .and_then(parse_http_date)
            .filter(|t| *t >= 0)
            .unwrap_or(0);
        set_mtime(&file, mtime).map_err(io_err)?;
        return Ok(Download {
            path,
            filename,
            size,
            sha256: h.finalize().into(),
            mtime,
        });
    }
    Err(FetchError::Redirects {
        url: url.to_string(),
    })
}

/// One GET of `uri` over a fresh HTTP/1.1 connection.
async fn get(
    url: &str,
    uri: &hyper::Uri,
) -> Result<hyper::Response<hyper::body::Incoming>, FetchError> {
    let transport = |reason: String| FetchError::Transport {
        url: url.to_string(),
        reason,
    };
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(FetchError::Https {
                url: uri.to_string(),
            });
        }
        _ => {
            return Err(FetchError::BadUrl {
                url: uri.to_string(),
                reason: "only http:// and https:// are supported".into(),
            });
        }
    }
    let authority = uri.authority().ok_or_else(|| FetchError::BadUrl {
        url: uri.to_string(),
        reason: "no host".into(),
    })?;
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| transport(format!("dial tcp {host}:{port}: connect: {}", go_error(&e))))?;
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| transport(e.to_string()))?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!("ADD download connection: {e}");
        }
    });
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    let req = hyper::Request::get(path)
        .header(hyper::header::HOST, authority.as_str())
        .header(hyper::header::USER_AGENT, "berthd")
        .body(Empty::<Bytes>::new())
        .map_err(|e| transport(e.to_string()))?;
    tokio::time::timeout(Duration::from_secs(300), sender.send_request(req))
        .await
        .map_err(|_| transport("timed out waiting for the response".into()))?
        .map_err(|e| transport(e.to_string()))
}

/// An I/O error as Go prints it: the lower-case system message alone.
pub(crate) fn go_error(e: &io::Error) -> String {
    let s = e.to_string();
    let s = s.find(" (os error").map_or(s.as_str(), |i| &s[..i]);
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_lowercase().chain(c).collect())
        .unwrap_or_default()
}

/// A `Location` header resolved against the URL that sent it.
fn join_location(base: &hyper::Uri, loc: &str) -> Result<hyper::Uri, String> {
    let scheme = base.scheme_str().unwrap_or("http");
    let authority = base.authority().map_or("", |a| a.as_str());
    let s = if loc.contains("://") {
        loc.to_string()
    } else if let Some(rest) = loc.strip_prefix("//") {
        format!("{scheme}://{rest}")
    } else if loc.starts_with('/') {
        format!("{scheme}://{authority}{loc}")
    } else {
        let dir = base.path().rsplit_once('/').map_or("", |(d, _)| d);
        format!("{scheme}://{authority}{dir}/{loc}")
    };
    s.parse().map_err(|e| format!("{e}"))
}

/// moby's `getFilenameForDownload`: the URL path's base name, else the
/// `Content-Disposition` filename.
fn filename_for(url_path: &str, disposition: Option<&str>) -> Option<String> {
    let base = |p: &str| -> Option<String> {
        if p.is_empty() || p.ends_with('/') {
            return None;
        }
        let b = p.rsplit('/').next().unwrap_or(p);
        (!b.is_empty() && b != "." && b != "..").then(|| b.to_string())
    };
    if let Some(n) = base(&percent_decode(url_path)) {
        return Some(n);
    }
    let d = disposition?;
    d.split(';')
        .skip(1)
        .filter_map(|p| p.trim().split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("filename"))
        .and_then(|(_, v)| base(v.trim().trim_matches('"')))
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%'
            && let Some(v) = s
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(v);
            i += 3;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Go's `http.ParseTime`: RFC 1123, RFC 850 and asctime dates.
fn parse_http_date(s: &str) -> Option<i64> {
    let s = s.trim();
    if let Ok(t) = chrono::DateTime::parse_from_rfc2822(s) {
        return Some(t.timestamp());
    }
    for fmt in ["%A, %d-%b-%y %H:%M:%S GMT", "%a %b %e %H:%M:%S %Y"] {
        if let Ok(t) = chrono::NaiveDateTime::parse_from_str(s, fmt) {
            return Some(t.and_utc().timestamp());
        }
    }
    None
}

fn set_mtime(file: &File, secs: i64) -> io::Result<()> {
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
    file.set_times(FileTimes::new().set_modified(t).set_accessed(t))
}

/// A one-shot HTTP server on 127.0.0.1 for tests: answers each of
/// `responses` (raw HTTP) to one connection, in order, then stops.
#[cfg(test)]
pub(crate) struct TestServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    handle: Option<std::thread::JoinHandle<Vec<String>>>,
}

#[cfg(test)]
impl TestServer {
    pub(crate) fn start(responses: Vec<Vec<u8>>) -> TestServer {
        use std::io::Read;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let handle = std::thread::spawn(move || {
            let mut requests = Vec::new();
            for resp in responses {
                let (mut conn, _) = listener.accept().unwrap();
                let mut req = Vec::new();
                let mut buf = [0u8; 1024];
                while !req.windows(4).any(|w| w == b"\r\n\r\n") {
                    let n = conn.read(&mut buf).unwrap();
                    if n == 0 {
                        break;
                    }
                    req.extend_from_slice(&buf[..n]);
                }
                requests.push(String::from_utf8_lossy(&req).into_owned());
                conn.write_all(&resp).unwrap();
            }
            requests
        });
        TestServer {
            base,
            handle: Some(handle),
        }
    }

    /// The raw requests received.
    pub(crate) fn requests(mut self) -> Vec<String> {
        self.handle.take().unwrap().join().unwrap()
    }

    /// A `200 OK` response with `headers` and `body`.
    pub(crate) fn ok(headers: &str, body: &[u8]) -> Vec<u8> {
        let mut r = format!(
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n{headers}\r\n",
            body.len()
        )
        .into_bytes();
        r.extend_from_slice(body);
        r
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    #[test]
    fn downloads_with_name_mode_mtime_and_checksum() {
        let body = b"payload";
        let srv = TestServer::start(vec![
            b"HTTP/1.1 302 Found\r\nLocation: /files/real.txt\r\nContent-Length: 0\r\n\r\n"
                .to_vec(),
            TestServer::ok("Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n", body),
        ]);
        let dir = tempfile::tempdir().unwrap();
        let sum = format!("sha256:{}", hex::encode(Sha256::digest(body)));
        let url = format!("{}/dl/first.txt?x=1", srv.base);
        let d = download(&url, dir.path(), Some(&sum)).unwrap();
        assert_eq!(d.filename.as_deref(), Some("first.txt"));
        assert_eq!(std::fs::read(&d.path).unwrap(), body);
        let md = std::fs::metadata(&d.path).unwrap();
        assert_eq!(md.permissions().mode() & 0o777, 0o600);
        assert_eq!(md.mtime(), 1_445_412_480);
        assert_eq!(d.mtime, 1_445_412_480);
        let reqs = srv.requests();
        assert!(
            reqs[0].starts_with("GET /dl/first.txt?x=1 HTTP/1.1"),
            "{}",
            reqs[0]
        );
        assert!(
            reqs[1].starts_with("GET /files/real.txt HTTP/1.1"),
            "{}",
            reqs[1]
        );
    }

    #[test]
    fn checksum_mismatch_status_errors_and_https_are_clear() {
        let srv = TestServer::start(vec![TestServer::ok("", b"abc")]);
        let dir = tempfile::tempdir().unwrap();
        let want = format!("sha256:{}", "0".repeat(64));
        let e = download(&format!("{}/a", srv.base), dir.path(), Some(&want)).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("digest mismatch for http://127.0.0.1:"),
            "{e}"
        );
        assert!(e.to_string().contains(&want), "{e}");
        srv.requests();

        let srv = TestServer::start(vec![
            b"HTTP/1.1 404 File not found\r\nContent-Length: 4\r\n\r\nnope".to_vec(),
        ]);
        let url = format!("{}/missing", srv.base);
        let e = download(&url, dir.path(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("failed to GET {url} with status 404 File not found: nope")
        );
        srv.requests();

        // A closed port, in Go's words.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let url = format!("http://127.0.0.1:{port}/x");
        let e = download(&url, dir.path(), None).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("Get \"{url}\": dial tcp 127.0.0.1:{port}: connect: connection refused")
        );

        let e = download("https://127.0.0.1:1/x", dir.path(), None).unwrap_err();
        assert_eq!(e.class(), ErrorClass::NotImplemented);
        let e = download("http://127.0.0.1/x", dir.path(), Some("md5:00")).unwrap_err();
        assert!(matches!(e, FetchError::BadChecksum { .. }), "{e}");
    }

    #[test]
    fn names_and_dates_follow_go() {
        assert_eq!(
            filename_for("/a/b%20c.tgz", None).as_deref(),
            Some("b c.tgz")
        );
        assert_eq!(filename_for("/dir/", None), None);
        assert_eq!(
            filename_for("/", Some("attachment; filename=\"r.bin\"")).as_deref(),
            Some("r.bin")
        );
        assert_eq!(filename_for("", None), None);
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(
            parse_http_date("Sun Nov  6 08:49:37 1994"),
            Some(784_111_777)
        );
        assert_eq!(parse_http_date("yesterday"), None);
    }
}
