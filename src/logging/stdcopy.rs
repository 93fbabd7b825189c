//! Docker's multiplexed stream framing ("stdcopy"), used by attach and logs
//! when the container has no TTY: each chunk is preceded by an 8-byte header
//! `[stream, 0, 0, 0, len (u32 big-endian)]`.

/// The stream a framed chunk belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum StdStream {
    /// Standard input (only echoed in some modes).
    Stdin = 0,
    /// Standard output.
    Stdout = 1,
    /// Standard error.
    Stderr = 2,
    /// Docker's "system error" stream, used to report failures mid-stream.
    System = 3,
}

/// Length of a frame header.
pub const HEADER_LEN: usize = 8;

/// The header announcing `len` bytes of `stream`.
pub fn frame_header(stream: StdStream, len: u32) -> [u8; HEADER_LEN] {
    let l = len.to_be_bytes();
    [stream as u8, 0, 0, 0, l[0], l[1], l[2], l[3]]
}

/// Splits framed data: returns the stream, the payload range and the bytes
/// consumed, or `None` when `buf` does not yet hold a whole frame.
pub fn parse_frame(buf: &[u8]) -> Option<(StdStream, std::ops::Range<usize>, usize)> {
    if buf.len() < HEADER_LEN {
        return None;
    }
    let stream = match buf[0] {
        0 => StdStream::Stdin,
        1 => StdStream::Stdout,
        2 => StdStream::Stderr,
        _ => StdStream::System,
    };
    let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    let end = HEADER_LEN + len;
    (buf.len() >= end).then_some((stream, HEADER_LEN..end, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_round_trip() {
        let mut buf = frame_header(StdStream::Stderr, 3).to_vec();
        buf.extend_from_slice(b"abc");
        buf.extend_from_slice(&frame_header(StdStream::Stdout, 0));
        let (s, r, used) = parse_frame(&buf).unwrap();
        assert_eq!((s, &buf[r], used), (StdStream::Stderr, &b"abc"[..], 11));
        let (s, r, used) = parse_frame(&buf[used..]).unwrap();
        assert_eq!((s, r.len(), used), (StdStream::Stdout, 0, 8));
        assert!(parse_frame(&buf[..10]).is_none());
    }

    #[test]
    fn header_is_big_endian() {
        assert_eq!(
            frame_header(StdStream::Stdout, 0x0102_0304),
            [1, 0, 0, 0, 1, 2, 3, 4]
        );
    }
}
