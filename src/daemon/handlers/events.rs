//! `GET /events?since=&until=&filters=`: the replayed past (from `since`)
//! then live events, one JSON object per line, until `until` passes or the
//! client goes away.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::body::Frame;
use hyper::{Response, StatusCode, header};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;

use crate::error::{ApiError, ApiResult};
use crate::events::{Filter, Message, parse_timestamp};
use crate::http::{Body, Query, async_stream};
use crate::services::Services;

type Tx = mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>;

fn now_nanos() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

fn timestamp(q: &Query, key: &str) -> ApiResult<Option<i64>> {
    q.get(key)
        .filter(|v| !v.is_empty())
        .map(|v| parse_timestamp(v).map_err(ApiError::invalid))
        .transpose()
}

/// Sends one event line; false when the client went away.
async fn send(tx: &Tx, m: &Message) -> bool {
    let json = serde_json::to_string(m).expect("events serialize");
    // Go's encoder escapes these (they can only occur inside strings).
    let line = json
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        + "\n";
    tx.send(Ok(Frame::data(Bytes::from(line)))).await.is_ok()
}

/// `GET /events`.
pub async fn events(svc: &Services, q: &Query) -> ApiResult<Response<Body>> {
    let since = timestamp(q, "since")?;
    let until = timestamp(q, "until")?;
    if let (Some(s), Some(u)) = (since, until)
        && s > u
    {
        // dockerd quotes the parameters as given.
        return Err(ApiError::invalid(format!(
            "`since` time ({}) cannot be after `until` time ({})",
            q.get("since").unwrap_or_default(),
            q.get("until").unwrap_or_default()
        )));
    }
    let filter = Filter::new(q.filters()?);
    // As dockerd: an `until` alone replays everything buffered before it.
    let (past, mut live) = svc.events.subscribe(since.or(until.map(|_| i64::MIN)));
    let (tx, body) = async_stream();
    tokio::spawn(async move {
        for m in past
            .iter()
            .filter(|m| until.is_none_or(|u| m.time_nano <= u))
        {
            if filter.matches(m) && !send(&tx, m).await {
                return;
            }
        }
        let limit = until.map(|u| {
            let left = u.saturating_sub(now_nanos()).max(0).unsigned_abs();
            (tokio::time::Instant::now() + Duration::from_nanos(left), u)
        });
        stream_live(&tx, &mut live, &filter, limit).await;
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("static headers are valid"))
}

/// Forwards live events until the deadline (and its Unix-nanosecond twin,
/// for events stamped after it but delivered before the timer fired), the
/// client leaves, or the subscriber falls too far behind to be complete.
async fn stream_live(
    tx: &Tx,
    live: &mut tokio::sync::broadcast::Receiver<Arc<Message>>,
    filter: &Filter,
    until: Option<(tokio::time::Instant, i64)>,
) {
    loop {
        let next = async {
            match until {
                Some((deadline, _)) => tokio::time::timeout_at(deadline, live.recv()).await.ok(),
                None => Some(live.recv().await),
            }
        };
        tokio::select! {
            got = next => match got {
                None => return,
                Some(Ok(m)) => {
                    if until.is_some_and(|(_, u)| m.time_nano > u) {
                        return;
                    }
                    if filter.matches(&m) && !send(tx, &m).await {
                        return;
                    }
                }
                Some(Err(RecvError::Lagged(n))) => {
                    tracing::warn!(missed = n, "an events subscriber fell behind; ending its stream");
                    let _ = tx.send(Err(std::io::Error::other("events subscriber fell behind"))).await;
                    return;
                }
                Some(Err(RecvError::Closed)) => return,
            },
            () = tx.closed() => return,
        }
    }
}
