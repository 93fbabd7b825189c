//! `berth events` / `berth system events`: the daemon's event stream, as
//! Docker's CLI prints it (one line per event, or a `--format` template).

use bytes::BytesMut;
use chrono::{DateTime, Local, SecondsFormat};
use clap::Args;
use hyper::Method;
use serde_json::Value;

use super::logs::get_timestamp;
use super::{Ctx, filters_json, print_out};
use crate::client::{ClientError, empty, next_chunk, query};
use crate::error::CliError;
use crate::format::{FormatSpec, Template};

/// `berth events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template: 'json' or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Show all events created since timestamp
    #[arg(long)]
    since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long)]
    until: Option<String>,
}

/// Docker's default line: `<time> <type> <action> <id> (k=v, ...)`, the
/// time in the local zone with nanoseconds, attributes sorted by key.
pub fn pretty_line(ev: &Value) -> String {
    let mut out = String::new();
    let nanos = ev["timeNano"].as_i64().filter(|n| *n != 0).or_else(|| {
        ev["time"]
            .as_i64()
            .filter(|t| *t != 0)
            .map(|t| t * 1_000_000_000)
    });
    if let Some(n) = nanos {
        let t = DateTime::from_timestamp_nanos(n).with_timezone(&Local);
        out.push_str(&t.to_rfc3339_opts(SecondsFormat::Nanos, true));
        out.push(' ');
    }
    let s = |v: &Value| v.as_str().unwrap_or("").to_owned();
    out.push_str(&format!(
        "{} {} {}",
        s(&ev["Type"]),
        s(&ev["Action"]),
        s(&ev["Actor"]["ID"])
    ));
    if let Some(attrs) = ev["Actor"]["Attributes"].as_object()
        && !attrs.is_empty()
    {
        let mut keys: Vec<&String> = attrs.keys().collect();
        keys.sort();
        let parts: Vec<String> = keys
            .iter()
            .map(|k| format!("{k}={}", s(&attrs[k.as_str()])))
            .collect();
        out.push_str(&format!(" ({})", parts.join(", ")));
    }
    out.push('\n');
    out
}

/// `berth events`.
pub async fn events(ctx: &Ctx, args: EventsArgs) -> Result<(), CliError> {
    let spec = args
        .format
        .as_deref()
        .filter(|f| !f.trim().is_empty())
        .map(|f| FormatSpec::parse(f, "").template);
    // `{{json .}}` is the daemon's own line: Docker's CLI re-encodes the
    // same struct, so passing it through keeps dockerd's key order.
    let raw = spec.as_deref().is_some_and(|t| t.trim() == "{{json .}}");
    let template = match spec.as_deref().filter(|_| !raw) {
        None => None,
        Some(t) => Some(Template::parse(t)?),
    };
    let now = chrono::Utc::now();
    let mut q = Vec::new();
    if let Some(s) = &args.since {
        q.push(("since", get_timestamp("since", s, now)?));
    }
    if let Some(u) = &args.until {
        q.push(("until", get_timestamp("until", u, now)?));
    }
    if let Some(f) = filters_json(&args.filter, &[])? {
        q.push(("filters", f));
    }
    let path = format!("/events{}", query(&q));
    let resp = ctx.client.send(Method::GET, &path, empty(), None).await?;
    let mut body = resp.into_body();
    let mut buf = BytesMut::new();
    while let Some(chunk) = next_chunk(&path, &mut body).await? {
        buf.extend_from_slice(&chunk);
        while let Some(nl) = buf.iter().position(|b| *b == b'\n') {
            let line = buf.split_to(nl + 1);
            let line = line.trim_ascii();
            if line.is_empty() {
                continue;
            }
            let ev: Value = serde_json::from_slice(line).map_err(|source| ClientError::Decode {
                path: path.clone(),
                source,
            })?;
            match &template {
                None if raw => print_out(&format!("{}\n", String::from_utf8_lossy(line))),
                None => print_out(&pretty_line(&ev)),
                Some(t) => print_out(&format!("{}\n", t.render(&ev)?)),
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_line_is_dockers() {
        let ev = serde_json::json!({
            "Type": "container", "Action": "start", "Actor": {"ID": "abc",
            "Attributes": {"name": "x", "image": "busybox"}},
            "time": 1, "timeNano": 1_000_000_005i64
        });
        let line = pretty_line(&ev);
        assert!(
            line.ends_with(" container start abc (image=busybox, name=x)\n"),
            "{line}"
        );
        assert!(line.contains(":01.000000005"), "{line}");
        let bare = serde_json::json!({"Type": "network", "Action": "create",
            "Actor": {"ID": "n", "Attributes": {}}, "timeNano": 0, "time": 0});
        assert_eq!(pretty_line(&bare), "network create n\n");
    }
}
