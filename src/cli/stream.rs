//! Docker's multiplexed stream framing for attach and logs without a TTY:
//! each frame is `[type, 0, 0, 0, len as big-endian u32]` followed by `len`
//! bytes, where type 0 or 1 is stdout, 2 is stderr and 3 a daemon error.

use bytes::{Buf, Bytes, BytesMut};

/// Where a frame's payload goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamKind {
    /// Standard output (Docker also routes type 0, stdin, here).
    Stdout,
    /// Standard error.
    Stderr,
    /// A message from the daemon about the stream itself.
    SystemErr,
}

/// A frame header that is not Docker's.
#[derive(Debug, thiserror::Error)]
pub enum StreamError {
    /// The type byte is none of 0..=3.
    #[error("unrecognized input header: {kind}")]
    BadHeader {
        /// The offending type byte.
        kind: u8,
    },
    /// The daemon reported an error inside the stream.
    #[error("error from daemon in stream: {message}")]
    Daemon {
        /// The daemon's text.
        message: String,
    },
}

impl StreamError {
    /// A broken stream is a daemon-side failure.
    pub fn class(&self) -> berth::api::ErrorClass {
        berth::api::ErrorClass::Internal
    }
}

const HEADER_LEN: usize = 8;

/// Splits a byte stream into frames, however the bytes were chunked.
#[derive(Debug, Default)]
pub struct Demuxer {
    buf: BytesMut,
}

impl Demuxer {
    /// Appends bytes read from the connection.
    pub fn push(&mut self, data: &[u8]) {
        self.buf.extend_from_slice(data);
    }

    /// The next complete frame, if all of it has arrived.
    pub fn next_frame(&mut self) -> Result<Option<(StreamKind, Bytes)>, StreamError> {
        if self.buf.len() < HEADER_LEN {
            return Ok(None);
        }
        let kind = match self.buf[0] {
            0 | 1 => StreamKind::Stdout,
            2 => StreamKind::Stderr,
            3 => StreamKind::SystemErr,
            kind => return Err(StreamError::BadHeader { kind }),
        };
        let len = u32::from_be_bytes([self.buf[4], self.buf[5], self.buf[6], self.buf[7]]) as usize;
        if self.buf.len() < HEADER_LEN + len {
            return Ok(None);
        }
        self.buf.advance(HEADER_LEN);
        Ok(Some((kind, self.buf.split_to(len).freeze())))
    }

    /// Whether bytes of an unfinished frame are still buffered.
    pub fn has_partial(&self) -> bool {
        !self.buf.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Encodes one frame as the daemon would.
    fn encode_frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut out = vec![kind, 0, 0, 0];
        out.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn frames_split_across_reads() {
        let mut wire = encode_frame(1, b"hello\n");
        wire.extend(encode_frame(2, b"oops\n"));
        wire.extend(encode_frame(0, b""));
        wire.extend(encode_frame(1, b"bye"));
        // Feed one byte at a time: frames must come out whole and in order.
        let mut d = Demuxer::default();
        let mut got = Vec::new();
        for b in &wire {
            d.push(&[*b]);
            while let Some(f) = d.next_frame().unwrap() {
                got.push(f);
            }
        }
        assert!(!d.has_partial());
        assert_eq!(
            got,
            vec![
                (StreamKind::Stdout, Bytes::from_static(b"hello\n")),
                (StreamKind::Stderr, Bytes::from_static(b"oops\n")),
                (StreamKind::Stdout, Bytes::new()),
                (StreamKind::Stdout, Bytes::from_static(b"bye")),
            ]
        );
    }

    #[test]
    fn bad_header_is_an_error() {
        let mut d = Demuxer::default();
        d.push(&[9, 0, 0, 0, 0, 0, 0, 1, b'x']);
        assert!(matches!(
            d.next_frame(),
            Err(StreamError::BadHeader { kind: 9 })
        ));
    }

    #[test]
    fn partial_frame_waits() {
        let mut d = Demuxer::default();
        d.push(&encode_frame(2, b"abcdef")[..10]);
        assert!(d.next_frame().unwrap().is_none());
        assert!(d.has_partial());
    }
}
