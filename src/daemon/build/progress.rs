//! The build's progress stream: dockerd's JSON messages (`{"stream":...}`,
//! `{"aux":{"ID":...}}`, `{"errorDetail":...,"error":...}`), each followed by
//! `\r\n`. Stages may run concurrently; their output is shown in stage order
//! (a later stage's lines wait until the earlier ones are done), so the stream
//! reads like the classic builder's sequential one.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use tokio::sync::mpsc;

/// One message of the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// Text for the client's stdout.
    Stream(String),
    /// The ID of a built stage's image (`{"aux":{"ID":"sha256:..."}}`).
    Aux(String),
    /// The build failed; `code` is a failed RUN's exit code.
    Error {
        /// Exit code of the failed RUN, if that is what failed.
        code: Option<i64>,
        /// dockerd's message.
        message: String,
    },
}

impl Message {
    /// The wire form: JSON with `<`, `>` and `&` escaped as Go's encoder does, then `\r\n`.
    pub fn encode(&self) -> Bytes {
        let q = |s: &str| serde_json::Value::from(s).to_string();
        // Written by hand: dockerd's key order (errorDetail before error).
        let text = match self {
            Message::Stream(s) => format!("{{\"stream\":{}}}", q(s)),
            Message::Aux(id) => format!("{{\"aux\":{{\"ID\":{}}}}}", q(id)),
            Message::Error { code, message } => {
                let code = code.map(|c| format!("\"code\":{c},")).unwrap_or_default();
                format!(
                    "{{\"errorDetail\":{{{code}\"message\":{m}}},\"error\":{m}}}",
                    m = q(message)
                )
            }
        };
        let text = text
            .replace('<', "\\u003c")
            .replace('>', "\\u003e")
            .replace('&', "\\u0026");
        let mut out = text.into_bytes();
        out.extend_from_slice(b"\r\n");
        Bytes::from(out)
    }
}

#[derive(Debug, Default)]
struct Slot {
    held: Vec<Message>,
    done: bool,
}

#[derive(Debug)]
struct Inner {
    /// `q=1`: stream text is kept and only shown if the build fails.
    quiet: bool,
    quiet_held: Vec<Message>,
    /// The slot whose messages go out as they come.
    current: usize,
    slots: Vec<Slot>,
}

/// The ordered progress writer of one build.
#[derive(Debug)]
pub struct Progress {
    inner: Mutex<Inner>,
    tx: mpsc::UnboundedSender<Bytes>,
    /// Something was written (shown or held): a failure now belongs in the
    /// stream, not in an HTTP error (dockerd's `output.Flushed()`).
    touched: AtomicBool,
}

impl Progress {
    /// A writer with ordered output slots (0 first; a build uses a prologue,
    /// one per stage and an epilogue) and the receiver of its encoded messages.
    pub fn new(quiet: bool) -> (Arc<Progress>, mpsc::UnboundedReceiver<Bytes>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let p = Progress {
            inner: Mutex::new(Inner {
                quiet,
                quiet_held: Vec::new(),
                current: 0,
                slots: Vec::new(),
            }),
            tx,
            touched: AtomicBool::new(false),
        };
        (Arc::new(p), rx)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn emit(&self, inner: &mut Inner, msg: Message) {
        // dockerd's `q=1` body is the final ID line alone: no aux either.
        if inner.quiet && matches!(msg, Message::Stream(_) | Message::Aux(_)) {
            inner.quiet_held.push(msg);
            return;
        }
        // A client that went away is noticed by the forwarder; nothing to do here.
        let _ = self.tx.send(msg.encode());
    }

    /// Writes `msg` in `slot`: now if the slot is current, else when its turn comes.
    pub fn send(&self, slot: usize, msg: Message) {
        self.touched.store(true, Ordering::Relaxed);
        let mut inner = self.lock();
        if inner.slots.len() <= slot {
            inner.slots.resize_with(slot + 1, Slot::default);
        }
        // After `fail`/`final_line` (current = MAX) nothing waits any more.
        if slot == inner.current || inner.current == usize::MAX {
            self.emit(&mut inner, msg);
        } else {
            inner.slots[slot].held.push(msg);
        }
    }

    /// Text in `slot`.
    pub fn stream(&self, slot: usize, text: impl Into<String>) {
        self.send(slot, Message::Stream(text.into()));
    }

    /// Whether anything was written yet.
    pub fn touched(&self) -> bool {
        self.touched.load(Ordering::Relaxed)
    }

    /// Marks `slot` complete; the next slots' held messages go out.
    pub fn finish(&self, slot: usize) {
        let mut inner = self.lock();
        if inner.slots.len() <= slot {
            inner.slots.resize_with(slot + 1, Slot::default);
        }
        inner.slots[slot].done = true;
        while inner.current < inner.slots.len() && inner.slots[inner.current].done {
            inner.current += 1;
            if inner.current < inner.slots.len() {
                let cur = inner.current;
                let held = std::mem::take(&mut inner.slots[cur].held);
                for m in held {
                    self.emit(&mut inner, m);
                }
            }
        }
    }

    /// Ends a failed build: everything held goes out in order (with `q=1` the
    /// whole hidden output too), then the error.
    pub fn fail(&self, code: Option<i64>, message: String) {
        let mut inner = self.lock();
        self.flush_held(&mut inner);
        inner.quiet = false;
        for m in std::mem::take(&mut inner.quiet_held) {
            self.emit(&mut inner, m);
        }
        self.emit(&mut inner, Message::Error { code, message });
    }

    /// Sends text even in quiet mode (`q=1`'s final image ID), after everything held.
    pub fn final_line(&self, text: String) {
        let mut inner = self.lock();
        self.flush_held(&mut inner);
        let _ = self.tx.send(Message::Stream(text).encode());
    }

    /// Sends every stage's held messages in stage order, and ends stage holding (the build
    /// is over).
    fn flush_held(&self, inner: &mut Inner) {
        let held: Vec<Message> = inner
            .slots
            .iter_mut()
            .flat_map(|s| std::mem::take(&mut s.held))
            .collect();
        inner.current = usize::MAX;
        for m in held {
            self.emit(inner, m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(rx: &mut mpsc::UnboundedReceiver<Bytes>) -> String {
        let mut out = String::new();
        while let Ok(b) = rx.try_recv() {
            out.push_str(std::str::from_utf8(&b).unwrap());
        }
        out
    }

    #[test]
    fn messages_encode_like_dockerd() {
        assert_eq!(
            Message::Stream(" ---> abc\n".into()).encode(),
            Bytes::from("{\"stream\":\" ---\\u003e abc\\n\"}\r\n")
        );
        let e = Message::Error {
            code: Some(3),
            message: "boom".into(),
        }
        .encode();
        assert_eq!(
            e,
            Bytes::from(
                "{\"errorDetail\":{\"code\":3,\"message\":\"boom\"},\"error\":\"boom\"}\r\n"
            )
        );
        assert_eq!(
            Message::Aux("sha256:a".into()).encode(),
            Bytes::from("{\"aux\":{\"ID\":\"sha256:a\"}}\r\n")
        );
    }

    #[test]
    fn later_slots_wait_for_earlier_ones() {
        let (p, mut rx) = Progress::new(false);
        p.stream(1, "b1");
        p.stream(0, "a1");
        assert_eq!(drain(&mut rx), "{\"stream\":\"a1\"}\r\n");
        p.stream(2, "c1");
        p.finish(0);
        p.stream(1, "b2");
        assert_eq!(
            drain(&mut rx),
            "{\"stream\":\"b1\"}\r\n{\"stream\":\"b2\"}\r\n"
        );
        p.finish(1);
        assert_eq!(drain(&mut rx), "{\"stream\":\"c1\"}\r\n");
    }

    #[test]
    fn quiet_hides_stream_until_failure() {
        let (p, mut rx) = Progress::new(true);
        p.stream(0, "step");
        p.send(0, Message::Aux("sha256:x".into()));
        assert_eq!(drain(&mut rx), "");
        p.fail(None, "bad".into());
        let out = drain(&mut rx);
        assert!(out.starts_with("{\"stream\":\"step\"}"), "{out}");
        assert!(out.contains("\"error\":\"bad\""), "{out}");
    }
}
