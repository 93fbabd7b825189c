//! The json-file driver's writer: Docker's line format, 16 KiB partial
//! lines, and moby's rotation (`max-size`, `max-file`, `compress`).
//!
//! Rotation happens before a write that would take the file past
//! `max-size`, between whole entries: the current file becomes `.1`, `.1`
//! becomes `.2`, ..., the oldest is dropped, so at most `max-file` files of
//! at most `max-size` bytes each exist (a single entry larger than
//! `max-size` gets a file of its own). With `compress`, `.1` is gzipped to
//! `.1.gz` in steps of [`COMPRESS_STEP`] bytes that the caller runs when it
//! is idle ([`JsonFileWriter::background_step`]): the supervisor can start
//! neither threads (it unshared its pid namespace) nor helper processes
//! (they would land in the container's pid namespace). The gzip goes to
//! `.1.gz.tmp`, is renamed, then `.1` is removed, so a reader always finds
//! one of them complete; the gzip header's comment records the source
//! file's device and inode ([`gzip_source_comment`]) so a follower can place
//! it. A rotation first finishes the previous compression.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Timelike, Utc};

use super::{LogConfig, LoggingError, Stream, io_err};

/// Longest piece of a line one entry holds, newline included (Docker's
/// copier buffer); longer lines become several partial entries.
pub const MAX_LINE: usize = 16 * 1024;
/// Bytes of a rotated file compressed per [`JsonFileWriter::background_step`].
pub const COMPRESS_STEP: usize = 256 * 1024;
/// Encoded bytes gathered before they are written out.
const OUT_FLUSH: usize = 256 * 1024;

/// `<state_dir>/<id>-json.log`.
pub fn log_path(state_dir: &Path, id: &str) -> PathBuf {
    state_dir.join(format!("{id}-json.log"))
}

/// The rotated file number `n` (1 is the newest), plain or gzipped.
pub fn rotated_path(state_dir: &Path, id: &str, n: u32, gz: bool) -> PathBuf {
    let ext = if gz { ".gz" } else { "" };
    state_dir.join(format!("{id}-json.log.{n}{ext}"))
}

/// The gzip header comment naming the file a `.gz` was made from.
pub fn gzip_source_comment(dev: u64, ino: u64) -> String {
    format!("berth-source={dev}:{ino}")
}

/// Go's `time.RFC3339Nano` in UTC: fractional seconds with trailing zeros
/// trimmed, none at all on a whole second.
pub fn format_time(t: DateTime<Utc>) -> String {
    let mut s = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.nanosecond() % 1_000_000_000;
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Appends `s` as a JSON string the way Docker's jsonlog does (Go's
/// encoding): `\"`, `\\`, `\n`, `\r`, other control bytes and the
/// HTML-sensitive `<`, `>`, `&` as `\u00XX`, U+2028/U+2029 escaped, and
/// each byte that does not start a valid UTF-8 sequence as `\ufffd`.
pub fn encode_json_string(out: &mut Vec<u8>, s: &[u8]) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.push(b'"');
    let mut rest = s;
    while !rest.is_empty() {
        let (valid, bad) = match std::str::from_utf8(rest) {
            Ok(v) => (v, false),
            Err(e) => (
                std::str::from_utf8(&rest[..e.valid_up_to()]).expect("valid prefix"),
                true,
            ),
        };
        let bytes = valid.as_bytes();
        let mut start = 0;
        for (i, c) in valid.char_indices() {
            let esc: Option<&[u8]> = match c {
                '"' => Some(b"\\\""),
                '\\' => Some(b"\\\\"),
                '\n' => Some(b"\\n"),
                '\r' => Some(b"\\r"),
                '\u{2028}' => Some(b"\\u2028"),
                '\u{2029}' => Some(b"\\u2029"),
                c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => None,
                _ => continue,
            };
            out.extend_from_slice(&bytes[start..i]);
            match esc {
                Some(e) => out.extend_from_slice(e),
                None => {
                    let b = c as u8;
                    out.extend_from_slice(b"\\u00");
                    out.push(HEX[(b >> 4) as usize]);
                    out.push(HEX[(b & 0xf) as usize]);
                }
            }
            start = i + c.len_utf8();
        }
        out.extend_from_slice(&bytes[start..]);
        rest = &rest[bytes.len()..];
        if bad {
            // Go's utf8.DecodeRune yields (RuneError, 1): one byte at a time.
            out.extend_from_slice(b"\\ufffd");
            rest = &rest[1..];
        }
    }
    out.push(b'"');
}

/// Appends one log line: `{"log":…,"stream":…,"time":…}\n`.
pub fn encode_entry(out: &mut Vec<u8>, log: &[u8], stream: Stream, time: DateTime<Utc>) {
    encode_entry_at(out, log, stream, &format_time(time));
}

/// [`encode_entry`] with the time already formatted by [`format_time`]
/// (one chunk's lines share it).
fn encode_entry_at(out: &mut Vec<u8>, log: &[u8], stream: Stream, time: &str) {
    out.extend_from_slice(b"{\"log\":");
    encode_json_string(out, log);
    out.extend_from_slice(b",\"stream\":\"");
    out.extend_from_slice(stream.as_str().as_bytes());
    out.extend_from_slice(b"\",\"time\":\"");
    out.extend_from_slice(time.as_bytes());
    out.extend_from_slice(b"\"}\n");
}

/// Writes a container's output to its json-file log, rotating as configured.
/// Memory is bounded: at most [`MAX_LINE`] bytes of unterminated line per
/// stream plus one chunk's encoding; every chunk is written before
/// [`write`](Self::write) returns, so a slow disk slows the caller (which
/// then stops reading the container's pipes).
pub struct JsonFileWriter {
    dir: PathBuf,
    id: String,
    path: PathBuf,
    file: File,
    size: u64,
    max_size: Option<u64>,
    max_file: u32,
    compress: bool,
    pending: [Vec<u8>; 2],
    out: Vec<u8>,
    entry: Vec<u8>,
    compressor: Option<Compression>,
}

/// A rotated file being gzipped, step by step.
struct Compression {
    src: PathBuf,
    dst: PathBuf,
    tmp: PathBuf,
    input: File,
    gz: flate2::write::GzEncoder<io::BufWriter<File>>,
    buf: Vec<u8>,
}

impl Compression {
    fn start(src: PathBuf, dst: PathBuf) -> Result<Compression, LoggingError> {
        let input = File::open(&src).map_err(io_err(&src))?;
        let meta = input.metadata().map_err(io_err(&src))?;
        let mut tmp = dst.as_os_str().to_owned();
        tmp.push(".tmp");
        let tmp = PathBuf::from(tmp);
        let out = File::options()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o640)
            .open(&tmp)
            .map_err(io_err(&tmp))?;
        let gz = flate2::GzBuilder::new()
            .comment(gzip_source_comment(meta.dev(), meta.ino()))
            .write(io::BufWriter::new(out), flate2::Compression::default());
        Ok(Compression {
            src,
            dst,
            tmp,
            input,
            gz,
            buf: Vec::new(),
        })
    }

    /// Compresses up to [`COMPRESS_STEP`] bytes; true once finished.
    fn step(&mut self) -> Result<bool, LoggingError> {
        self.buf.resize(COMPRESS_STEP, 0);
        let n = loop {
            match self.input.read(&mut self.buf) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(&self.src)(e)),
            }
        };
        if n > 0 {
            self.gz
                .write_all(&self.buf[..n])
                .map_err(io_err(&self.tmp))?;
            return Ok(false);
        }
        self.gz.try_finish().map_err(io_err(&self.tmp))?;
        let out = self.gz.get_mut();
        out.flush().map_err(io_err(&self.tmp))?;
        out.get_ref().sync_all().map_err(io_err(&self.tmp))?;
        std::fs::rename(&self.tmp, &self.dst).map_err(io_err(&self.tmp))?;
        std::fs::remove_file(&self.src).map_err(io_err(&self.src))?;
        Ok(true)
    }

    fn abandon(self) {
        // Best effort: the plain rotated file stays, and readers take it.
        let _ = std::fs::remove_file(&self.tmp);
    }
}

fn idx(s: Stream) -> usize {
    match s {
        Stream::Stdout => 0,
        Stream::Stderr => 1,
    }
}

fn open_log(path: &Path) -> Result<File, LoggingError> {
    File::options()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(io_err(path))
}

impl JsonFileWriter {
    /// Opens (appending to) `<state_dir>/<id>-json.log`.
    pub fn open(state_dir: &Path, id: &str, config: &LogConfig) -> Result<Self, LoggingError> {
        let path = log_path(state_dir, id);
        let file = open_log(&path)?;
        let size = file.metadata().map_err(io_err(&path))?.len();
        Ok(JsonFileWriter {
            dir: state_dir.to_owned(),
            id: id.to_owned(),
            path,
            file,
            size,
            max_size: config.max_size,
            max_file: config.max_file.max(1),
            compress: config.compress && config.max_file > 1,
            pending: [Vec::new(), Vec::new()],
            out: Vec::new(),
            entry: Vec::new(),
            compressor: None,
        })
    }

    /// Logs a chunk of `stream`'s output: whole lines become entries, a
    /// line's unterminated end waits for more (up to [`MAX_LINE`] bytes).
    pub fn write(&mut self, stream: Stream, data: &[u8]) -> Result<(), LoggingError> {
        let now = format_time(Utc::now());
        let mut rest = data;
        let i = idx(stream);
        while !rest.is_empty() {
            let room = MAX_LINE - self.pending[i].len();
            let take = room.min(rest.len());
            // A full buffer without a newline is logged as a partial entry.
            let piece = match rest[..take].iter().position(|&b| b == b'\n') {
                Some(nl) => nl + 1,
                None if take == room => take,
                None => {
                    self.pending[i].extend_from_slice(rest);
                    break;
                }
            };
            let mut line = std::mem::take(&mut self.pending[i]);
            let result = if line.is_empty() {
                self.emit(&rest[..piece], stream, &now)
            } else {
                line.extend_from_slice(&rest[..piece]);
                self.emit(&line, stream, &now)
            };
            line.clear();
            self.pending[i] = line;
            result?;
            rest = &rest[piece..];
        }
        self.flush_out()
    }

    /// Logs what is left of `stream`'s last line (its output ended without
    /// a newline) as a partial entry.
    pub fn finish_stream(&mut self, stream: Stream) -> Result<(), LoggingError> {
        let line = std::mem::take(&mut self.pending[idx(stream)]);
        if !line.is_empty() {
            self.emit(&line, stream, &format_time(Utc::now()))?;
        }
        self.flush_out()
    }

    /// Ends both streams and finishes a pending compression.
    pub fn close(mut self) -> Result<(), LoggingError> {
        self.finish_stream(Stream::Stdout)?;
        self.finish_stream(Stream::Stderr)?;
        self.finish_compression()
    }

    /// Whether [`background_step`](Self::background_step) has work to do.
    pub fn has_background_work(&self) -> bool {
        self.compressor.is_some()
    }

    /// Runs one bounded step of pending work (compressing a rotated file).
    pub fn background_step(&mut self) -> Result<(), LoggingError> {
        let Some(c) = self.compressor.as_mut() else {
            return Ok(());
        };
        match c.step() {
            Ok(false) => Ok(()),
            Ok(true) => {
                self.compressor = None;
                Ok(())
            }
            Err(e) => {
                if let Some(c) = self.compressor.take() {
                    c.abandon();
                }
                Err(e)
            }
        }
    }

    fn finish_compression(&mut self) -> Result<(), LoggingError> {
        while self.has_background_work() {
            self.background_step()?;
        }
        Ok(())
    }

    fn emit(&mut self, log: &[u8], stream: Stream, now: &str) -> Result<(), LoggingError> {
        self.entry.clear();
        encode_entry_at(&mut self.entry, log, stream, now);
        let len = self.entry.len() as u64;
        if let Some(max) = self.max_size {
            let used = self.size + self.out.len() as u64;
            if used > 0 && used + len > max {
                self.flush_out()?;
                self.rotate()?;
            }
        }
        self.out.extend_from_slice(&self.entry);
        if self.out.len() >= OUT_FLUSH {
            self.flush_out()?;
        }
        Ok(())
    }

    fn flush_out(&mut self) -> Result<(), LoggingError> {
        if self.out.is_empty() {
            return Ok(());
        }
        let res = self.file.write_all(&self.out);
        self.size = match res {
            Ok(()) => self.size + self.out.len() as u64,
            // Part of it may be written: that counts toward the size too.
            Err(_) => self.file.metadata().map_or(self.size, |m| m.len()),
        };
        self.out.clear();
        self.out.shrink_to(OUT_FLUSH * 2);
        res.map_err(io_err(&self.path))
    }

    /// moby's rotate: drop the oldest, shift the rest up by one, the current
    /// file becomes `.1`, a new current file starts empty.
    fn rotate(&mut self) -> Result<(), LoggingError> {
        // A failed earlier compression leaves `.1` plain, which readers take.
        let compressed = self.finish_compression();
        let (dir, id) = (&self.dir, self.id.as_str());
        if self.max_file > 1 {
            let last = self.max_file - 1;
            for gz in [false, true] {
                remove_if_exists(&rotated_path(dir, id, last, gz))?;
            }
            for n in (1..last).rev() {
                for gz in [false, true] {
                    rename_if_exists(
                        &rotated_path(dir, id, n, gz),
                        &rotated_path(dir, id, n + 1, gz),
                    )?;
                }
            }
            let first = rotated_path(dir, id, 1, false);
            std::fs::rename(&self.path, &first).map_err(io_err(&self.path))?;
        } else {
            // A new inode rather than a truncation, so followers notice.
            remove_if_exists(&self.path)?;
        }
        self.file = open_log(&self.path)?;
        self.size = 0;
        if self.compress {
            let src = rotated_path(dir, id, 1, false);
            let dst = rotated_path(dir, id, 1, true);
            self.compressor = Some(Compression::start(src, dst)?);
        }
        compressed
    }
}

fn remove_if_exists(p: &Path) -> Result<(), LoggingError> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(p)(e)),
        _ => Ok(()),
    }
}

fn rename_if_exists(from: &Path, to: &Path) -> Result<(), LoggingError> {
    match std::fs::rename(from, to) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(io_err(from)(e)),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(nanos: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 21, 12, 34, 56).unwrap()
            + chrono::Duration::nanoseconds(nanos as i64)
    }

    #[test]
    fn time_is_rfc3339nano_like_go() {
        assert_eq!(
            format_time(t(123_456_789)),
            "2026-11-21T12:34:56.123456789Z"
        );
        assert_eq!(format_time(t(120_000_000)), "2026-11-21T12:34:56.12Z");
        assert_eq!(format_time(t(100)), "2026-11-21T12:34:56.0000001Z");
        assert_eq!(format_time(t(0)), "2026-11-21T12:34:56Z");
    }

    fn line(log: &[u8]) -> String {
        let mut out = Vec::new();
        encode_entry(&mut out, log, Stream::Stdout, t(123_456_789));
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn entries_match_dockers_bytes() {
        // Lines as dockerd 20.10 writes them for the same output.
        assert_eq!(
            line(b"hello world\n"),
            "{\"log\":\"hello world\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-21T12:34:56.123456789Z\"}\n"
        );
        assert_eq!(
            line(b"<a href=\"x\">&amp;</a>\n"),
            r#"{"log":"\u003ca href=\"x\"\u003e\u0026amp;\u003c/a\u003e\n","stream":"stdout","time":"2026-11-21T12:34:56.123456789Z"}"#.to_owned() + "\n"
        );
        assert_eq!(
            line(b"tab\there\r\n\x1b[0m\x00\\"),
            r#"{"log":"tab\u0009here\r\n\u001b[0m\u0000\\","stream":"stdout","time":"2026-11-21T12:34:56.123456789Z"}"#.to_owned() + "\n"
        );
        assert_eq!(
            line("é ☃ 😀 \u{2028}\u{2029}\n".as_bytes()),
            "{\"log\":\"é ☃ 😀 \\u2028\\u2029\\n\",\"stream\":\"stdout\",\"time\":\"2026-11-21T12:34:56.123456789Z\"}\n"
        );
    }

    #[test]
    fn invalid_utf8_becomes_one_replacement_per_byte_like_go() {
        let enc = |b: &[u8]| {
            let mut o = Vec::new();
            encode_json_string(&mut o, b);
            String::from_utf8(o).unwrap()
        };
        assert_eq!(enc(b"a\xffb"), r#""a\ufffdb""#);
        // A truncated 3-byte sequence: Go decodes each byte as RuneError.
        assert_eq!(enc(b"\xe2\x82A"), r#""\ufffd\ufffdA""#);
        assert_eq!(enc(b"x\xe2\x82"), r#""x\ufffd\ufffd""#);
        // Surrogates and overlong forms are invalid in Go too.
        assert_eq!(enc(b"\xed\xa0\x80"), r#""\ufffd\ufffd\ufffd""#);
        assert_eq!(enc(b"\xc0\xaf"), r#""\ufffd\ufffd""#);
        assert_eq!(enc("€".as_bytes()), "\"€\"");
        // DEL is not a control byte to Go's encoder.
        assert_eq!(enc(b"\x7f"), "\"\x7f\"");
    }

    fn read_lines(p: &Path) -> Vec<serde_json::Value> {
        std::fs::read_to_string(p)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    #[test]
    fn lines_split_partials_and_streams_apart() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JsonFileWriter::open(dir.path(), "c1", &LogConfig::default()).unwrap();
        w.write(Stream::Stdout, b"one\ntw").unwrap();
        w.write(Stream::Stderr, b"err").unwrap();
        w.write(Stream::Stdout, b"o\n").unwrap();
        w.write(Stream::Stderr, b"or\n").unwrap();
        let long = vec![b'x'; MAX_LINE * 2 + 10];
        w.write(Stream::Stdout, &long).unwrap();
        w.write(Stream::Stdout, b"\n").unwrap();
        // Exactly MAX_LINE bytes with the newline fit one entry.
        let mut fits = vec![b'y'; MAX_LINE - 1];
        fits.push(b'\n');
        w.write(Stream::Stdout, &fits).unwrap();
        w.write(Stream::Stderr, b"no newline").unwrap();
        w.close().unwrap();
        let v = read_lines(&log_path(dir.path(), "c1"));
        let logs: Vec<(&str, &str)> = v
            .iter()
            .map(|e| (e["stream"].as_str().unwrap(), e["log"].as_str().unwrap()))
            .collect();
        let x16 = "x".repeat(MAX_LINE);
        let y = format!("{}\n", "y".repeat(MAX_LINE - 1));
        let x_end = format!("{}\n", "x".repeat(10));
        assert_eq!(
            logs,
            vec![
                ("stdout", "one\n"),
                ("stdout", "two\n"),
                ("stderr", "error\n"),
                ("stdout", x16.as_str()),
                ("stdout", x16.as_str()),
                ("stdout", x_end.as_str()),
                ("stdout", y.as_str()),
                ("stderr", "no newline"),
            ]
        );
    }

    fn numbered(w: &mut JsonFileWriter, range: std::ops::Range<usize>) {
        for i in range {
            w.write(Stream::Stdout, format!("line {i:06}\n").as_bytes())
                .unwrap();
        }
    }

    #[test]
    fn rotation_keeps_max_file_files_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            max_size: Some(1000),
            max_file: 3,
            ..LogConfig::default()
        };
        let mut w = JsonFileWriter::open(dir.path(), "c", &cfg).unwrap();
        numbered(&mut w, 0..200);
        w.close().unwrap();
        let mut all = Vec::new();
        for p in [
            rotated_path(dir.path(), "c", 2, false),
            rotated_path(dir.path(), "c", 1, false),
            log_path(dir.path(), "c"),
        ] {
            assert!(
                std::fs::metadata(&p).unwrap().len() <= 1000,
                "{}",
                p.display()
            );
            all.extend(read_lines(&p));
        }
        assert!(!rotated_path(dir.path(), "c", 3, false).exists());
        let nums: Vec<usize> = all
            .iter()
            .map(|e| e["log"].as_str().unwrap()[5..11].parse().unwrap())
            .collect();
        assert_eq!(*nums.last().unwrap(), 199);
        for w in nums.windows(2) {
            assert_eq!(w[1], w[0] + 1);
        }
    }

    #[test]
    fn rotated_files_are_gzipped_with_their_source() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            max_size: Some(1000),
            max_file: 4,
            compress: true,
            ..LogConfig::default()
        };
        let mut w = JsonFileWriter::open(dir.path(), "c", &cfg).unwrap();
        numbered(&mut w, 0..12);
        let ino = std::fs::metadata(log_path(dir.path(), "c")).unwrap();
        numbered(&mut w, 12..200);
        w.close().unwrap();
        let mut names: Vec<String> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "c-json.log",
                "c-json.log.1.gz",
                "c-json.log.2.gz",
                "c-json.log.3.gz"
            ]
        );
        for n in 1..=3 {
            let f = File::open(rotated_path(dir.path(), "c", n, true)).unwrap();
            let mut d = flate2::read::GzDecoder::new(f);
            let mut s = String::new();
            d.read_to_string(&mut s).unwrap();
            assert!(s.len() <= 1000 && s.ends_with("\"}\n"));
            let comment = d.header().unwrap().comment().unwrap().to_vec();
            assert!(
                String::from_utf8(comment)
                    .unwrap()
                    .starts_with("berth-source=")
            );
        }
        // The first file written was dropped long ago.
        let _ = ino;
    }

    #[test]
    fn max_file_one_starts_over() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = LogConfig {
            max_size: Some(500),
            ..LogConfig::default()
        };
        let mut w = JsonFileWriter::open(dir.path(), "c", &cfg).unwrap();
        numbered(&mut w, 0..100);
        w.close().unwrap();
        let p = log_path(dir.path(), "c");
        assert!(std::fs::metadata(&p).unwrap().len() <= 500);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        assert!(std::fs::read_to_string(&p).unwrap().contains("line 000099"));
    }
}
