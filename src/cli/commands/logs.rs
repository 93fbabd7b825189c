//! `berth logs` / `berth container logs`: Docker's flags, with `--since` and
//! `--until` converted on the client side as Docker's CLI does (RFC3339
//! forms, Go durations relative to now, or unix timestamps passed through).

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use clap::Args;
use hyper::Method;

use super::Ctx;
use super::attach::{OutputCopier, inspect_container};
use crate::client::{empty, encode_path, next_chunk, query};
use crate::error::CliError;

/// `berth logs [OPTIONS] CONTAINER`.
#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Show extra details provided to logs
    #[arg(long)]
    details: bool,
    /// Follow log output
    #[arg(short = 'f', long)]
    follow: bool,
    /// Show logs since timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long, value_name = "string")]
    since: Option<String>,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, value_name = "string", default_value = "all")]
    tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    timestamps: bool,
    /// Show logs before a timestamp (e.g. "2013-01-02T13:23:37Z") or relative (e.g. "42m" for 42 minutes)
    #[arg(long, value_name = "string")]
    until: Option<String>,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// A `--since`/`--until` value Docker's CLI would refuse.
#[derive(Debug, thiserror::Error)]
pub enum TimeArgError {
    /// Neither a time, a duration nor a unix timestamp.
    #[error("invalid value for \"{flag}\": failed to parse value as time or duration: {value:?}")]
    Unparsable {
        /// `since` or `until`.
        flag: &'static str,
        /// What was given.
        value: String,
    },
    /// Looked like a date but did not parse.
    #[error("invalid value for \"{flag}\": parsing time {value:?}: not a valid date and time")]
    BadDate {
        /// `since` or `until`.
        flag: &'static str,
        /// What was given.
        value: String,
    },
}

impl TimeArgError {
    /// A bad flag value is the user's error.
    pub fn class(&self) -> berth::api::ErrorClass {
        berth::api::ErrorClass::InvalidArgument
    }
}

/// Go's `time.ParseDuration`: `[-+]` then one or more `<number><unit>`
/// (`ns`, `us`, `µs`, `ms`, `s`, `m`, `h`), or a bare `0`.
pub fn parse_go_duration(s: &str) -> Option<chrono::Duration> {
    let (neg, mut rest) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Some(chrono::Duration::zero());
    }
    if rest.is_empty() {
        return None;
    }
    let mut nanos: f64 = 0.0;
    while !rest.is_empty() {
        let num_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (num, after) = rest.split_at(num_end);
        if num.is_empty() || num == "." {
            return None;
        }
        let value: f64 = num.parse().ok()?;
        let unit_end = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_end);
        let scale = match unit {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        nanos += value * scale;
        rest = after;
    }
    #[allow(clippy::cast_possible_truncation)]
    let d = chrono::Duration::nanoseconds(nanos as i64);
    Some(if neg { -d } else { d })
}

/// `seconds.nanoseconds`, as Docker's CLI sends times.
fn unix_nanos(t: DateTime<Utc>) -> String {
    format!("{}.{:09}", t.timestamp(), t.timestamp_subsec_nanos())
}

/// Docker's `timetypes.GetTimestamp`: a Go duration counts back from `now`
/// (whole seconds); RFC3339-like times (a date, optionally hours, minutes,
/// seconds, fraction and zone; local time without a zone) become
/// `seconds.nanoseconds`; anything else must already be a unix timestamp.
pub fn get_timestamp(
    flag: &'static str,
    value: &str,
    now: DateTime<Utc>,
) -> Result<String, TimeArgError> {
    if value.is_empty() {
        return Ok(String::new());
    }
    if value != "0"
        && let Some(d) = parse_go_duration(value)
    {
        return Ok((now - d).timestamp().to_string());
    }
    if let Some(t) = parse_time(value) {
        return Ok(unix_nanos(t));
    }
    if value.contains('-') {
        return Err(TimeArgError::BadDate {
            flag,
            value: value.to_owned(),
        });
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, "0"));
    if secs.parse::<i64>().is_err() || frac.parse::<i64>().is_err() {
        return Err(TimeArgError::Unparsable {
            flag,
            value: value.to_owned(),
        });
    }
    Ok(value.to_owned())
}

/// The time forms `GetTimestamp` accepts.
fn parse_time(value: &str) -> Option<DateTime<Utc>> {
    let has_zone = value.contains(['z', 'Z', '+']) || value.matches('-').count() == 3;
    if has_zone {
        let upper = value.to_ascii_uppercase();
        if let Ok(t) = DateTime::parse_from_rfc3339(&upper) {
            return Some(t.with_timezone(&Utc));
        }
        // Shorter forms with a zone: 2006-01-02T15Z, 2006-01-02T15:04+01:00, 2006-01-02Z.
        for fmt in ["%Y-%m-%dT%H:%M%#z", "%Y-%m-%dT%H%#z"] {
            let s = upper.replace('Z', "+00:00");
            if let Ok(t) = DateTime::parse_from_str(&s, fmt) {
                return Some(t.with_timezone(&Utc));
            }
        }
        let date = upper.strip_suffix('Z')?;
        let d = NaiveDate::parse_from_str(date, "%Y-%m-%d").ok()?;
        return Some(Utc.from_utc_datetime(&d.and_hms_opt(0, 0, 0)?));
    }
    let naive = ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M", "%Y-%m-%dT%H"]
        .iter()
        .find_map(|f| {
            NaiveDateTime::parse_from_str(value, f).ok().or_else(|| {
                // chrono needs minutes; Go's "2006-01-02T15" does not.
                (*f == "%Y-%m-%dT%H")
                    .then(|| {
                        NaiveDateTime::parse_from_str(&format!("{value}:00"), "%Y-%m-%dT%H:%M").ok()
                    })
                    .flatten()
            })
        })
        .or_else(|| {
            NaiveDate::parse_from_str(value, "%Y-%m-%d")
                .ok()
                .and_then(|d| d.and_hms_opt(0, 0, 0))
        })?;
    Local
        .from_local_datetime(&naive)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// The query of `GET /containers/{id}/logs` for these flags.
fn logs_query(args: &LogsArgs, now: DateTime<Utc>) -> Result<String, CliError> {
    let flag = |b: bool| if b { "1" } else { "0" }.to_owned();
    let mut q = vec![("stdout", "1".to_owned()), ("stderr", "1".to_owned())];
    if let Some(s) = &args.since {
        q.push(("since", get_timestamp("since", s, now)?));
    }
    if let Some(u) = &args.until {
        q.push(("until", get_timestamp("until", u, now)?));
    }
    q.push(("timestamps", flag(args.timestamps)));
    q.push(("follow", flag(args.follow)));
    q.push(("tail", args.tail.clone()));
    q.push(("details", flag(args.details)));
    Ok(query(&q))
}

/// `berth logs`: the container's log, demultiplexed to stdout and stderr
/// unless it has a TTY.
pub async fn logs(ctx: &Ctx, args: LogsArgs) -> Result<(), CliError> {
    let c = inspect_container(&ctx.client, &args.container).await?;
    let tty = c.config.as_ref().and_then(|c| c.tty).unwrap_or(false);
    let id = c.id.unwrap_or_else(|| args.container.clone());
    let path = format!(
        "/containers/{}/logs{}",
        encode_path(&id),
        logs_query(&args, Utc::now())?
    );
    let resp = ctx.client.send(Method::GET, &path, empty(), None).await?;
    let mut body = resp.into_body();
    let mut out = OutputCopier::new(tty);
    while let Some(chunk) = next_chunk(&path, &mut body).await? {
        out.write(&chunk)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 123).unwrap()
    }

    #[test]
    fn durations_parse_like_go() {
        let d = |s| parse_go_duration(s).map(|d| d.num_milliseconds());
        assert_eq!(d("10m"), Some(600_000));
        assert_eq!(d("1h30m"), Some(5_400_000));
        assert_eq!(d("1.5h"), Some(5_400_000));
        assert_eq!(d("300ms"), Some(300));
        assert_eq!(d("-2s"), Some(-2000));
        assert_eq!(d("0"), Some(0));
        for bad in ["", "10", "1x", "h", "1h-1m"] {
            assert_eq!(d(bad), None, "{bad}");
        }
    }

    #[test]
    fn times_convert_like_dockers_cli() {
        let n = now();
        assert_eq!(get_timestamp("since", "10m", n).unwrap(), "1799999400");
        assert_eq!(
            get_timestamp("since", "2013-01-02T13:23:37Z", n).unwrap(),
            "1357133017.000000000"
        );
        assert_eq!(
            get_timestamp("since", "2013-01-02T13:23:37.5+01:00", n).unwrap(),
            "1357129417.500000000"
        );
        assert_eq!(
            get_timestamp("since", "2013-01-02Z", n).unwrap(),
            "1357084800.000000000"
        );
        assert_eq!(
            get_timestamp("since", "1357133017", n).unwrap(),
            "1357133017"
        );
        assert_eq!(
            get_timestamp("since", "1357133017.25", n).unwrap(),
            "1357133017.25"
        );
        assert_eq!(get_timestamp("since", "0", n).unwrap(), "0");
        assert!(matches!(
            get_timestamp("since", "yesterday", n),
            Err(TimeArgError::Unparsable { .. })
        ));
        assert!(matches!(
            get_timestamp("since", "2013-13-45", n),
            Err(TimeArgError::BadDate { .. })
        ));
    }
}
