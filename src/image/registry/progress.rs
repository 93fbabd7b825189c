//! Docker's JSON progress messages (`pkg/jsonmessage`), the stream `docker pull` and
//! `docker push` draw their per-layer bars from.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::image::registry::RegistryError;

/// `progressDetail`: byte counts of a transfer (`{}` when it has none).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProgressDetail {
    /// Bytes done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<u64>,
    /// Bytes in all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub total: Option<u64>,
}

/// `errorDetail`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// The error's text.
    pub message: String,
}

/// One line of the stream (`jsonmessage.JSONMessage`, fields in Go's order).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Message {
    /// What happened (`Downloading`, `Pull complete`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<String>,
    /// Byte counts.
    #[serde(
        rename = "progressDetail",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub progress_detail: Option<ProgressDetail>,
    /// The rendered bar (`[==>   ] 1.2MB/3.4MB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    /// The layer (12 hex digits) or tag the line is about.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// A failure, structured.
    #[serde(
        rename = "errorDetail",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub error_detail: Option<ErrorDetail>,
    /// A failure, as text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Side data (push's `{"Tag","Digest","Size"}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aux: Option<serde_json::Value>,
}

impl Message {
    /// A status line, optionally about `id`.
    pub fn status(status: impl Into<String>, id: Option<&str>) -> Message {
        Message {
            status: Some(status.into()),
            id: id.map(str::to_string),
            ..Message::default()
        }
    }

    /// A per-layer step with an empty `progressDetail`, as dockerd sends them.
    pub fn step(status: &str, id: &str) -> Message {
        Message {
            status: Some(status.to_string()),
            progress_detail: Some(ProgressDetail::default()),
            id: Some(id.to_string()),
            ..Message::default()
        }
    }

    /// A transfer's progress: `current` of `total` bytes, started at unix time `start`.
    pub fn transfer(
        status: &str,
        id: &str,
        current: u64,
        total: u64,
        start: i64,
        now: i64,
    ) -> Message {
        Message {
            status: Some(status.to_string()),
            progress_detail: Some(ProgressDetail {
                current: Some(current),
                total: Some(total),
            }),
            progress: Some(render_bar(current, total, start, now)),
            id: Some(id.to_string()),
            ..Message::default()
        }
    }

    /// An error line.
    pub fn error(message: impl Into<String>) -> Message {
        let message = message.into();
        Message {
            error_detail: Some(ErrorDetail {
                message: message.clone(),
            }),
            error: Some(message),
            ..Message::default()
        }
    }

    /// The line as sent: JSON and a newline, with `<`, `>` and `&` escaped as Go's
    /// encoder does (they only occur inside strings, so replacing them is safe).
    pub fn to_line(&self) -> Vec<u8> {
        let v = serde_json::to_vec(self).expect("progress messages serialise");
        let mut out = Vec::with_capacity(v.len() + 16);
        for b in v {
            match b {
                b'<' => out.extend_from_slice(b"\\u003c"),
                b'>' => out.extend_from_slice(b"\\u003e"),
                b'&' => out.extend_from_slice(b"\\u0026"),
                _ => out.push(b),
            }
        }
        out.push(b'\n');
        out
    }
}

/// Go's `%.4g` for a value below 10000, trailing zeros dropped.
fn four_significant(v: f64) -> String {
    let int_digits = if v < 1.0 {
        1
    } else {
        (v.log10().floor() as i32) + 1
    };
    let decimals = (4 - int_digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `units.HumanSize`: decimal units, four significant digits (`1.235MB`, `512B`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", four_significant(v), UNITS[i])
}

/// Go's `time.Duration.String()` for whole seconds (`1h2m3s`, `4m0s`, `5s`).
fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    if h > 0 {
        format!("{h}h{m}m{s}s")
    } else if m > 0 {
        format!("{m}m{s}s")
    } else {
        format!("{s}s")
    }
}

/// `JSONProgress.String()` as dockerd renders it (no terminal, so 200 columns wide):
/// a 50-column bar, the byte counts and the estimated time left.
pub fn render_bar(current: u64, total: u64, start: i64, now: i64) -> String {
    if total == 0 {
        return if current == 0 {
            String::new()
        } else {
            format!("{:>8}", human_size(current))
        };
    }
    let pct = ((current as f64 / total as f64 * 100.0) as u64 / 2).min(50) as usize;
    let mut out = format!("[{}>{}] ", "=".repeat(pct), " ".repeat(50 - pct));
    if current <= total {
        out.push_str(&format!("{:>8}/{}", human_size(current), human_size(total)));
    }
    if current > 0 && start > 0 && pct < 50 && now > start {
        let elapsed = (now - start) as f64;
        let left = (elapsed / current as f64 * (total - current.min(total)) as f64) as u64;
        out.push(' ');
        out.push_str(&go_duration(left));
    }
    out
}

/// Where a pull or push reports to. Cloning shares the channel; once the receiver is
/// gone (the client hung up) every send fails, and the work stops.
#[derive(Debug, Clone)]
pub struct Progress {
    tx: mpsc::UnboundedSender<Message>,
    closed: Arc<AtomicBool>,
}

impl Progress {
    /// A sink and the receiving end the HTTP response is fed from.
    pub fn channel() -> (Progress, mpsc::UnboundedReceiver<Message>) {
        let (tx, rx) = mpsc::unbounded_channel();
        (
            Progress {
                tx,
                closed: Arc::new(AtomicBool::new(false)),
            },
            rx,
        )
    }

    /// Sends a message; fails once the receiver is gone.
    pub fn send(&self, m: Message) -> Result<(), RegistryError> {
        if self.tx.send(m).is_err() {
            self.closed.store(true, Ordering::Relaxed);
            return Err(RegistryError::Cancelled("the client went away".into()));
        }
        Ok(())
    }

    /// Whether the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed) || self.tx.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_render_like_go_units() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(512), "512B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(1_234_567), "1.235MB");
        assert_eq!(human_size(3_400_000), "3.4MB");
        assert_eq!(human_size(772_788), "772.8kB");
        assert_eq!(human_size(2_000_000_000), "2GB");
    }

    #[test]
    fn bars_render_like_dockerd() {
        assert_eq!(
            render_bar(1_200_000, 3_400_000, 0, 0),
            format!("[{}>{}]    1.2MB/3.4MB", "=".repeat(17), " ".repeat(33))
        );
        assert_eq!(
            render_bar(50, 100, 100, 110),
            format!("[{}>{}]      50B/100B 10s", "=".repeat(25), " ".repeat(25))
        );
        assert!(render_bar(100, 100, 1, 2).starts_with(&format!("[{}>]", "=".repeat(50))));
        assert_eq!(render_bar(0, 0, 0, 0), "");
        assert_eq!(go_duration(3723), "1h2m3s");
        assert_eq!(go_duration(120), "2m0s");
    }

    #[test]
    fn messages_serialise_in_dockerds_shape() {
        let line = |m: Message| String::from_utf8(m.to_line()).unwrap();
        assert_eq!(
            line(Message::status(
                "Pulling from library/busybox",
                Some("latest")
            )),
            "{\"status\":\"Pulling from library/busybox\",\"id\":\"latest\"}\n"
        );
        assert_eq!(
            line(Message::step("Pulling fs layer", "0123456789ab")),
            "{\"status\":\"Pulling fs layer\",\"progressDetail\":{},\"id\":\"0123456789ab\"}\n"
        );
        let t = line(Message::transfer(
            "Downloading",
            "0123456789ab",
            5,
            10,
            0,
            0,
        ));
        assert!(t.starts_with("{\"status\":\"Downloading\",\"progressDetail\":{\"current\":5,\"total\":10},\"progress\":\"[="), "{t}");
        // Go's encoder escapes `>`; clients decode it back.
        assert!(t.contains("\\u003e"), "{t}");
        let back: Message = serde_json::from_str(t.trim_end()).unwrap();
        assert!(back.progress.unwrap().contains('>'));
        assert_eq!(
            line(Message::error("boom")),
            "{\"errorDetail\":{\"message\":\"boom\"},\"error\":\"boom\"}\n"
        );
    }

    #[test]
    fn a_closed_receiver_cancels() {
        let (p, rx) = Progress::channel();
        p.send(Message::status("x", None)).unwrap();
        drop(rx);
        assert!(p.send(Message::status("y", None)).is_err());
        assert!(p.is_closed());
    }
}
