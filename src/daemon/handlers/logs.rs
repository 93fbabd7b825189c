//! `GET /containers/{id}/logs`: the container's log file read back with
//! dockerd's semantics (streams, tail, since/until, timestamps, details,
//! follow), streamed from a blocking reader in Docker's multiplexed framing
//! unless the container has a TTY.

use std::io::Write;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use hyper::{Response, StatusCode, header};

use berth::logging::stdcopy::{StdStream, frame_header};

use crate::containers::Container;
use crate::error::{ApiError, ApiResult};
use crate::http::{Body, ChannelWriter, Query, blocking_stream};

/// The request's options, parsed as dockerd parses them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsOptions {
    /// Send stdout lines.
    pub stdout: bool,
    /// Send stderr lines.
    pub stderr: bool,
    /// Keep sending new lines until the container stops.
    pub follow: bool,
    /// Only lines at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only lines at or before this time.
    pub until: Option<DateTime<Utc>>,
    /// Prefix each line with its time.
    pub timestamps: bool,
    /// The last N lines only; `None` for all.
    pub tail: Option<usize>,
    /// Prefix each line with its attributes (none are configured: a space).
    pub details: bool,
}

/// dockerd's `timetypes.ParseTimestamps`: `seconds[.fraction]`; an absent or
/// empty value is no bound. dockerd answers a malformed one with a 500 and
/// Go's message; we keep the message and say 400, as it is the caller's fault.
fn parse_timestamp(raw: Option<&str>) -> ApiResult<Option<DateTime<Utc>>> {
    let Some(raw) = raw.filter(|r| !r.is_empty()) else {
        return Ok(None);
    };
    let syntax = |part: &str| {
        ApiError::invalid(format!(
            "strconv.ParseInt: parsing \"{part}\": invalid syntax"
        ))
    };
    let (secs, frac) = raw.split_once('.').unwrap_or((raw, ""));
    let s: i64 = secs.parse().map_err(|_| syntax(secs))?;
    let mut nanos: i64 = 0;
    if !frac.is_empty() {
        let n: i64 = frac.parse().map_err(|_| syntax(frac))?;
        // The fraction is meant as nanoseconds; scale shorter ones as dockerd does.
        let digits = i32::try_from(frac.len()).unwrap_or(i32::MAX);
        #[allow(clippy::cast_possible_truncation, clippy::cast_precision_loss)]
        {
            nanos = (n as f64 * 10f64.powi(9 - digits)) as i64;
        }
    }
    let t = DateTime::from_timestamp(s, 0)
        .and_then(|t| t.checked_add_signed(chrono::Duration::nanoseconds(nanos)))
        .ok_or_else(|| ApiError::invalid(format!("timestamp out of range: {raw}")))?;
    Ok(Some(t))
}

impl LogsOptions {
    /// Parses the query; refuses a request for neither stream like dockerd.
    pub fn parse(q: &Query) -> ApiResult<LogsOptions> {
        let opts = LogsOptions {
            stdout: q.flag("stdout"),
            stderr: q.flag("stderr"),
            follow: q.flag("follow"),
            since: parse_timestamp(q.get("since"))?,
            until: parse_timestamp(q.get("until"))?,
            timestamps: q.flag("timestamps"),
            // dockerd: anything that is not a non-negative integer means all.
            tail: q
                .get("tail")
                .and_then(|t| t.parse::<i64>().ok())
                .and_then(|n| usize::try_from(n).ok()),
            details: q.flag("details"),
        };
        if !opts.stdout && !opts.stderr {
            return Err(ApiError::invalid(
                "Bad parameters: you must choose at least one stream",
            ));
        }
        Ok(opts)
    }
}

/// One line as dockerd sends it: `[time ][attrs ]line`, the time in Go's
/// `RFC3339NanoFixed` (always nine digits).
pub fn render_line(
    out: &mut Vec<u8>,
    time: DateTime<Utc>,
    line: &[u8],
    timestamps: bool,
    details: bool,
) {
    if timestamps {
        out.extend_from_slice(
            time.format("%Y-%m-%dT%H:%M:%S%.9fZ ")
                .to_string()
                .as_bytes(),
        );
    }
    if details {
        out.push(b' ');
    }
    out.extend_from_slice(line);
}

/// Writes lines to the response: framed per line, or raw for a TTY.
struct LineSink {
    out: ChannelWriter,
    tty: bool,
    buf: Vec<u8>,
}

impl LineSink {
    fn send(
        &mut self,
        opts: &LogsOptions,
        stream: StdStream,
        time: DateTime<Utc>,
        line: &[u8],
    ) -> std::io::Result<()> {
        self.buf.clear();
        render_line(&mut self.buf, time, line, opts.timestamps, opts.details);
        if !self.tty {
            let len = u32::try_from(self.buf.len()).unwrap_or(u32::MAX);
            self.out.write_all(&frame_header(stream, len))?;
        }
        self.out.write_all(&self.buf)?;
        // A follower may wait long for the next line: let this one out now.
        if opts.follow {
            self.out.flush()?;
        }
        Ok(())
    }
}

/// `GET /containers/{id}/logs`.
pub async fn logs(c: Arc<Container>, q: &Query) -> ApiResult<Response<Body>> {
    let opts = LogsOptions::parse(q)?;
    let tty = c.def.config.tty == Some(true);
    let source = crate::containers::logs::LogSource::of(&c)?;
    let (writer, body) = blocking_stream();
    let id = c.def.id.clone();
    tokio::task::spawn_blocking(move || {
        let mut sink = LineSink {
            out: writer,
            tty,
            buf: Vec::new(),
        };
        let gone = sink.out.closed();
        let result = source.copy(&opts, gone, &mut |stream, time, line| {
            sink.send(&opts, stream, time, line)
        });
        match result.and_then(|()| sink.out.flush()) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
            Err(e) => {
                tracing::warn!(%id, error = %e, "reading container logs");
                sink.out.fail(e);
            }
        }
    });
    let content_type = if tty {
        "application/vnd.docker.raw-stream"
    } else {
        "application/vnd.docker.multiplexed-stream"
    };
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .body(body)
        .expect("static headers are valid"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> ApiResult<LogsOptions> {
        LogsOptions::parse(&Query::parse(Some(raw)))
    }

    #[test]
    fn a_stream_must_be_chosen() {
        assert_eq!(
            parse("follow=1").unwrap_err().message,
            "Bad parameters: you must choose at least one stream"
        );
        let o = parse("stdout=1").unwrap();
        assert!(o.stdout && !o.stderr);
    }

    #[test]
    fn tail_reads_like_dockerd() {
        assert_eq!(parse("stdout=1&tail=3").unwrap().tail, Some(3));
        assert_eq!(parse("stdout=1&tail=0").unwrap().tail, Some(0));
        for all in ["all", "-1", "x", ""] {
            assert_eq!(parse(&format!("stdout=1&tail={all}")).unwrap().tail, None);
        }
        assert_eq!(parse("stdout=1").unwrap().tail, None);
    }

    #[test]
    fn timestamps_are_seconds_with_a_fraction() {
        let o = parse("stdout=1&since=1700000000.5&until=1700000001.000000002").unwrap();
        assert_eq!(
            o.since.unwrap(),
            DateTime::from_timestamp(1_700_000_000, 500_000_000).unwrap()
        );
        assert_eq!(
            o.until.unwrap(),
            DateTime::from_timestamp(1_700_000_001, 2).unwrap()
        );
        assert_eq!(parse("stdout=1&since=").unwrap().since, None);
        assert_eq!(
            parse("stdout=1&since=abc").unwrap_err().message,
            "strconv.ParseInt: parsing \"abc\": invalid syntax"
        );
    }

    #[test]
    fn lines_render_like_dockerd() {
        let t = DateTime::from_timestamp(1_795_000_000, 96_691_000).unwrap();
        let mut out = Vec::new();
        render_line(&mut out, t, b"out1\n", true, false);
        assert_eq!(out, b"2026-11-18T11:06:40.096691000Z out1\n");
        out.clear();
        render_line(&mut out, t, b"out1\n", false, true);
        assert_eq!(out, b" out1\n");
        out.clear();
        render_line(&mut out, t, b"x\n", true, true);
        assert_eq!(out, b"2026-11-18T11:06:40.096691000Z  x\n");
    }
}
