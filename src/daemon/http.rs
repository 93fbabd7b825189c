//! HTTP plumbing shared by the handlers: response builders, query parsing,
//! request bodies as JSON or as blocking readers, and streamed response bodies.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;

use bytes::Bytes;
use futures_util::TryStreamExt;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::{Response, StatusCode, header};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use berth::api::{ErrorClass, ErrorResponse};

/// The body type of every response.
pub type Body = BoxBody<Bytes, io::Error>;

/// Largest JSON request body accepted; container configs are a few KiB.
pub const MAX_JSON_BODY: usize = 4 << 20;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|e: Infallible| match e {})
        .boxed()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

/// A `status` response with `value` as its JSON body.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    match serde_json::to_vec(value) {
        Ok(mut bytes) => {
            bytes.push(b'\n');
            Response::builder()
                .status(status)
                .header(header::CONTENT_TYPE, "application/json")
                .body(full(bytes))
                .expect("static headers are valid")
        }
        Err(e) => error_response(&ApiError::internal(format!("encoding response: {e}"))),
    }
}

/// A response with no body.
pub fn no_content(status: StatusCode) -> Response<Body> {
    Response::builder()
        .status(status)
        .body(empty())
        .expect("static headers are valid")
}

/// Docker's error shape for `err`.
pub fn error_response(err: &ApiError) -> Response<Body> {
    let status =
        StatusCode::from_u16(err.class.http_status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let body = serde_json::to_vec(&ErrorResponse {
        message: err.message.clone(),
    })
    .unwrap_or_default();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(body))
        .expect("static headers are valid")
}

/// A decoded query string; repeated keys keep every value in order.
#[derive(Debug, Default)]
pub struct Query(HashMap<String, Vec<String>>);

impl Query {
    /// Parses `a=1&b=2&b=3`.
    pub fn parse(raw: Option<&str>) -> Query {
        let mut map: HashMap<String, Vec<String>> = HashMap::new();
        for (k, v) in form_urlencoded::parse(raw.unwrap_or("").as_bytes()) {
            map.entry(k.into_owned()).or_default().push(v.into_owned());
        }
        Query(map)
    }

    /// The last value of `key`.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.last()).map(String::as_str)
    }

    /// Every value of `key`.
    pub fn all(&self, key: &str) -> &[String] {
        self.0.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// A boolean parameter the way Docker reads them: absent, empty, `0`, `false`
    /// and `no` are false; anything else is true.
    pub fn flag(&self, key: &str) -> bool {
        match self.get(key) {
            None => false,
            Some(v) => !matches!(v.to_ascii_lowercase().as_str(), "" | "0" | "false" | "no"),
        }
    }

    /// Docker's `filters` parameter: `{"key":["v"]}`, or the pre-1.22 shape
    /// `{"key":{"v":true}}`.
    pub fn filters(&self) -> ApiResult<HashMap<String, Vec<String>>> {
        let Some(raw) = self.get("filters").filter(|s| !s.is_empty()) else {
            return Ok(HashMap::new());
        };
        let value: serde_json::Value = serde_json::from_str(raw)
            .map_err(|e| ApiError::invalid(format!("invalid filter: {e}")))?;
        let obj = value
            .as_object()
            .ok_or_else(|| ApiError::invalid("invalid filter: expected a JSON object"))?;
        let mut out = HashMap::new();
        for (k, v) in obj {
            let values = match v {
                serde_json::Value::Array(items) => items
                    .iter()
                    .filter_map(|i| i.as_str().map(str::to_owned))
                    .collect(),
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(s, _)| s.clone())
                    .collect(),
                _ => return Err(ApiError::invalid(format!("invalid filter '{k}'"))),
            };
            out.insert(k.clone(), values);
        }
        Ok(out)
    }
}

/// Reads and drops a request body (at most a JSON body's bound) before an
/// error answers the request: a client still writing its body (the docker
/// CLI sends it after the headers) would otherwise get EPIPE instead of the
/// error when the connection closes under it.
pub async fn discard(body: Incoming) {
    let _ = http_body_util::Limited::new(body, MAX_JSON_BODY)
        .collect()
        .await;
}

/// Reads a whole JSON body (bounded) and decodes it; an empty body decodes from `{}`.
pub async fn read_json<T: DeserializeOwned>(body: Incoming) -> ApiResult<T> {
    let limited = http_body_util::Limited::new(body, MAX_JSON_BODY);
    let bytes = limited
        .collect()
        .await
        .map_err(|e| {
            // A body without Content-Length (chunked) meets the bound only here.
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::new(
                    ErrorClass::TooLarge,
                    format!("request body is larger than the limit of {MAX_JSON_BODY} bytes"),
                )
            } else {
                ApiError::invalid(format!("reading request body: {e}"))
            }
        })?
        .to_bytes();
    let bytes: &[u8] = if bytes.iter().all(u8::is_ascii_whitespace) {
        b"{}"
    } else {
        &bytes
    };
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::invalid(format!("invalid JSON in request body: {e}")))
}

/// Turns a request body into a blocking reader for `spawn_blocking` work
/// (image load and import stream through this without buffering the body).
pub fn blocking_reader(body: Incoming) -> impl io::Read + Send + 'static {
    let stream = body.into_data_stream().map_err(io::Error::other);
    tokio_util::io::SyncIoBridge::new(tokio_util::io::StreamReader::new(stream))
}

/// A writer for blocking code whose bytes become a streamed response body.
pub struct ChannelWriter {
    tx: mpsc::Sender<Result<Frame<Bytes>, io::Error>>,
    buf: Vec<u8>,
}

/// Chunk size of streamed bodies: big enough to keep syscalls rare.
const STREAM_CHUNK: usize = 256 << 10;

impl ChannelWriter {
    /// A check, usable from any thread, of whether the client went away.
    pub fn closed(&self) -> impl Fn() -> bool + Send + 'static {
        let tx = self.tx.clone();
        move || tx.is_closed()
    }

    /// Sends a failure down the body so the client sees a truncated transfer
    /// instead of a silently short one.
    pub fn fail(self, err: io::Error) {
        let _ = self.tx.blocking_send(Err(err));
    }
}

impl io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= STREAM_CHUNK {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::take(&mut self.buf));
        self.tx
            .blocking_send(Ok(Frame::data(chunk)))
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "client went away"))
    }
}

/// A streamed body and the writer that feeds it from blocking code.
pub fn blocking_stream() -> (ChannelWriter, Body) {
    let (tx, rx) = mpsc::channel(8);
    let body = StreamBody::new(tokio_stream_from(rx)).boxed();
    (
        ChannelWriter {
            tx,
            buf: Vec::new(),
        },
        body,
    )
}

/// A streamed body fed by async code, one frame per message.
pub fn async_stream() -> (mpsc::Sender<Result<Frame<Bytes>, io::Error>>, Body) {
    let (tx, rx) = mpsc::channel(16);
    (tx, StreamBody::new(tokio_stream_from(rx)).boxed())
}

fn tokio_stream_from(
    mut rx: mpsc::Receiver<Result<Frame<Bytes>, io::Error>>,
) -> impl futures_util::Stream<Item = Result<Frame<Bytes>, io::Error>> {
    futures_util::stream::poll_fn(move |cx| rx.poll_recv(cx))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_flags_follow_docker() {
        let q = Query::parse(Some("a=1&b=0&c=false&d=&e=yes&f=True"));
        assert!(q.flag("a"));
        assert!(!q.flag("b"));
        assert!(!q.flag("c"));
        assert!(!q.flag("d"));
        assert!(q.flag("e"));
        assert!(q.flag("f"));
        assert!(!q.flag("missing"));
    }

    #[test]
    fn filters_accept_both_shapes() {
        let q = Query::parse(Some("filters=%7B%22dangling%22%3A%5B%22true%22%5D%7D"));
        assert_eq!(q.filters().unwrap()["dangling"], vec!["true"]);
        let q = Query::parse(Some(
            "filters=%7B%22reference%22%3A%7B%22busybox%22%3Atrue%7D%7D",
        ));
        assert_eq!(q.filters().unwrap()["reference"], vec!["busybox"]);
        let q = Query::parse(Some("filters=nope"));
        assert!(q.filters().is_err());
    }

    #[test]
    fn repeated_keys_keep_all_values() {
        let q = Query::parse(Some("names=a&names=b%2Fc"));
        assert_eq!(q.all("names"), ["a", "b/c"]);
    }
}
