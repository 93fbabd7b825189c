//! One module per Docker command group; each exposes clap argument structs and
//! async functions taking the shared [`Ctx`].

pub mod attach;
pub mod build;
pub mod container;
pub mod cp;
pub mod credentials;
pub mod events;
pub mod exec;
pub mod healthflags;
pub mod image;
pub mod lifecycle;
pub mod logs;
pub mod mountflags;
pub mod network;
pub mod prune;
pub mod ps;
pub mod registry;
pub mod resources;
pub mod stats;
pub mod system;
pub mod volume;

use std::io::Write;

use hyper::Response;
use hyper::body::Incoming;
use serde_json::Value;

use berth::api::models::ProgressLine;

use crate::client::{Client, next_chunk};
use crate::error::CliError;
use crate::format::FormatSpec;

/// What every command needs: the daemon client.
pub struct Ctx {
    /// The connection factory for berthd.
    pub client: Client,
}

/// Seconds since the Unix epoch, for "2 hours ago".
pub fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Writes `text` to stdout; a closed pipe is not worth an error message.
pub fn print_out(text: &str) {
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(text.as_bytes());
    let _ = out.flush();
}

/// Renders rows with `--format` (or the command's default table) and prints them.
pub fn print_rows(
    spec: &FormatSpec,
    headers: &[(&str, &str)],
    rows: &[Value],
) -> Result<(), CliError> {
    print_out(&crate::table::render(spec, headers, rows)?);
    Ok(())
}

/// Docker's `--filter key=value` flags as the API's `filters` JSON
/// (`{"key":{"value":true}}`), or `None` when there are none.
pub fn filters_json(
    filters: &[String],
    extra: &[(&str, &str)],
) -> Result<Option<String>, CliError> {
    let mut map = serde_json::Map::new();
    let pairs = filters
        .iter()
        .map(|f| {
            f.split_once('=')
                .map(|(k, v)| (k.trim().to_lowercase(), v.to_string()))
                .ok_or_else(|| {
                    CliError::usage(format!("bad format of filter (expected name=value): {f}"))
                })
        })
        .chain(
            extra
                .iter()
                .map(|(k, v)| Ok((k.to_string(), v.to_string()))),
        );
    for pair in pairs {
        let (k, v) = pair?;
        let entry = map
            .entry(k)
            .or_insert_with(|| Value::Object(serde_json::Map::new()));
        if let Value::Object(values) = entry {
            values.insert(v, Value::Bool(true));
        }
    }
    if map.is_empty() {
        return Ok(None);
    }
    Ok(Some(Value::Object(map).to_string()))
}

/// Prints Docker's JSON progress stream like `jsonmessage.DisplayJSONMessagesToStream`
/// without a terminal: `stream` text as is, `status` lines with a newline; the
/// first `error` ends the command with that message.
pub async fn display_json_messages(
    path: &str,
    resp: Response<Incoming>,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    let mut body = resp.into_body();
    read_json_messages(path, &mut body, |msg: &ProgressLine| show_message(msg, out)).await?;
    let _ = out.flush();
    Ok(())
}

/// Feeds each complete message of a concatenated-JSON body (a progress stream) to `each`,
/// as its bytes arrive; the first error (undecodable JSON, or `each`'s) ends the reading.
pub async fn read_json_messages<T: serde::de::DeserializeOwned>(
    path: &str,
    body: &mut Incoming,
    mut each: impl FnMut(&T) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let chunk = next_chunk(path, body).await?;
        let done = chunk.is_none();
        if let Some(c) = chunk {
            buf.extend_from_slice(&c);
        }
        let mut stream = serde_json::Deserializer::from_slice(&buf).into_iter::<T>();
        let mut consumed = 0;
        loop {
            match stream.next() {
                Some(Ok(msg)) => {
                    consumed = stream.byte_offset();
                    each(&msg)?;
                }
                // An incomplete message waits for more bytes.
                Some(Err(e)) if e.is_eof() && !done => break,
                Some(Err(source)) => {
                    return Err(crate::client::ClientError::Decode {
                        path: path.to_string(),
                        source,
                    }
                    .into());
                }
                None => break,
            }
        }
        buf.drain(..consumed);
        if done {
            return Ok(());
        }
    }
}

fn show_message(msg: &ProgressLine, out: &mut dyn Write) -> Result<(), CliError> {
    if let Some(error) = &msg.error {
        let _ = out.flush();
        return Err(CliError::Status {
            code: 1,
            message: error.clone(),
        });
    }
    let text = match (&msg.stream, &msg.status) {
        (Some(stream), _) => stream.clone(),
        (None, Some(status)) => format!("{status}\n"),
        (None, None) => return Ok(()),
    };
    let _ = out.write_all(text.as_bytes());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_encode_like_docker() {
        assert_eq!(filters_json(&[], &[]).unwrap(), None);
        let f = filters_json(&["dangling=true".into()], &[("reference", "busybox")]).unwrap();
        assert_eq!(
            f.as_deref(),
            Some(r#"{"dangling":{"true":true},"reference":{"busybox":true}}"#)
        );
        assert!(filters_json(&["nope".into()], &[]).is_err());
    }
}
