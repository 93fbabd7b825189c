//! Reading json-file logs: [`read_logs`] (a snapshot, with a fast `tail`)
//! and [`follow`] (keeps reading as the supervisor writes and rotates).
//!
//! Both take a consistent snapshot of the files first: the current file is
//! opened, then every rotated file, then the listing, every rotated path and
//! the current path are checked to still name the files opened (else a
//! rotation ran meanwhile and the snapshot is retried). Open descriptors
//! keep their data readable even if the writer renames, compresses or drops
//! the files afterwards.

use std::collections::VecDeque;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read, Seek, SeekFrom};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::Deserialize;

use super::jsonfile::{gzip_source_comment, log_path};
use super::{LogEntry, LoggingError, ReadOptions, Stream, io_err};

/// How often a [`Follower`] looks for new data once it has read everything.
pub const POLL: Duration = Duration::from_millis(100);
/// Bytes read per step when `tail` scans backwards.
const TAIL_BLOCK: usize = 64 * 1024;

/// A file's identity: device and inode.
type Ident = (u64, u64);

fn ident(m: &std::fs::Metadata) -> Ident {
    (m.dev(), m.ino())
}

/// An open log file of a snapshot.
struct Opened {
    path: PathBuf,
    file: File,
    gz: bool,
    /// This file's own identity.
    own: Ident,
    /// The file this one holds the lines of (a `.gz`'s source), when known.
    ident: Option<Ident>,
}

/// Where reading a file starts.
#[derive(Clone, Copy)]
enum Start {
    Offset(u64),
    SkipLines(usize),
}

struct Snapshot {
    /// Rotated files, oldest first.
    rotated: Vec<Opened>,
    current: Option<Opened>,
}

fn stat_ident(path: &Path) -> Result<Option<Ident>, LoggingError> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(Some(ident(&m))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

fn open_opt(path: &Path) -> Result<Option<File>, LoggingError> {
    match File::open(path) {
        Ok(f) => Ok(Some(f)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err(path)(e)),
    }
}

/// The source identity a `.gz` file's header records, if any.
fn gz_source(file: &File) -> Option<Ident> {
    let mut f = file;
    let mut d = flate2::read::GzDecoder::new(&mut f);
    // The header is parsed on the first read. Readers seek back to 0.
    let _header_parsed: usize = d.read(&mut [0u8; 1]).ok()?;
    let comment = d.header()?.comment()?.to_vec();
    let text = String::from_utf8(comment).ok()?;
    let (dev, ino) = text.strip_prefix("berth-source=")?.split_once(':')?;
    let id = (dev.parse().ok()?, ino.parse().ok()?);
    debug_assert_eq!(gzip_source_comment(id.0, id.1), text);
    Some(id)
}

/// Rotated file numbers present in `dir` for `id`, newest (1) first.
fn rotated_numbers(dir: &Path, id: &str) -> Result<Vec<u32>, LoggingError> {
    let prefix = format!("{id}-json.log.");
    let mut nums = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(nums),
        Err(e) => return Err(io_err(dir)(e)),
    };
    for e in entries {
        let e = e.map_err(io_err(dir))?;
        let name = e.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(&prefix)) else {
            continue;
        };
        let num = rest.strip_suffix(".gz").unwrap_or(rest);
        if let Ok(n) = num.parse::<u32>()
            && n > 0
            && !nums.contains(&n)
        {
            nums.push(n);
        }
    }
    nums.sort_unstable();
    Ok(nums)
}

/// A test hook, given the number of the rotated file just opened.
#[cfg(test)]
type OpenHook = Option<Box<dyn FnMut(u32)>>;

#[cfg(test)]
thread_local! {
    /// Runs after [`snapshot`] opened each rotated file, so a test can
    /// replay a rotation that races with the snapshot.
    static AFTER_ROTATED_OPEN: std::cell::RefCell<OpenHook> =
        const { std::cell::RefCell::new(None) };
}

/// Opens rotated file number `n` (the plain file wins: a `.gz` beside it
/// may still be written).
fn open_rotated(dir: &Path, id: &str, n: u32) -> Result<Option<Opened>, LoggingError> {
    let plain = super::jsonfile::rotated_path(dir, id, n, false);
    let gz = super::jsonfile::rotated_path(dir, id, n, true);
    let (path, file, is_gz) = match open_opt(&plain)? {
        Some(file) => (plain, file, false),
        None => match open_opt(&gz)? {
            Some(file) => (gz, file, true),
            None => return Ok(None),
        },
    };
    let own = ident(&file.metadata().map_err(io_err(&path))?);
    let source = if is_gz { gz_source(&file) } else { Some(own) };
    Ok(Some(Opened {
        path,
        file,
        gz: is_gz,
        own,
        ident: source,
    }))
}

fn snapshot(dir: &Path, id: &str) -> Result<Snapshot, LoggingError> {
    let path = log_path(dir, id);
    loop {
        let current = match open_opt(&path)? {
            Some(file) => {
                let own = ident(&file.metadata().map_err(io_err(&path))?);
                Some(Opened {
                    path: path.clone(),
                    file,
                    gz: false,
                    own,
                    ident: Some(own),
                })
            }
            None => None,
        };
        let numbers = rotated_numbers(dir, id)?;
        let mut rotated = Vec::new();
        let mut raced = false;
        for &n in &numbers {
            match open_rotated(dir, id, n)? {
                Some(o) => rotated.push(o),
                None => raced = true,
            }
            #[cfg(test)]
            AFTER_ROTATED_OPEN.with_borrow_mut(|hook| {
                if let Some(hook) = hook {
                    hook(n);
                }
            });
        }
        // A rotation first shifts `.n` to `.n+1`, oldest first, and only
        // then renames the current file: opens that overlap the shift can
        // see a file twice (at `.n`, then moved to `.n+1`) and miss another
        // while the current file looks unchanged. So every path must still
        // name what was opened from it, and the listing must be the same.
        if raced || rotated_numbers(dir, id)? != numbers {
            continue;
        }
        let mut moved = false;
        for o in &rotated {
            if stat_ident(&o.path)? != Some(o.own) {
                moved = true;
                break;
            }
        }
        rotated.reverse();
        let now = stat_ident(&path)?;
        if !moved && now == current.as_ref().map(|c| c.own) {
            return Ok(Snapshot { rotated, current });
        }
    }
}

/// Where the last `n` whole lines of `file` start, or how many whole lines
/// it has when fewer (they then start at 0). Reads backwards in blocks, so
/// the cost depends on `n`, not on the file's size.
fn tail_start(file: &File, n: usize, path: &Path) -> Result<Result<u64, usize>, LoggingError> {
    let len = file.metadata().map_err(io_err(path))?.len();
    let mut buf = vec![0u8; TAIL_BLOCK];
    let mut pos = len;
    // Whether the last newline (the end of the last whole line) was seen.
    let mut end_seen = false;
    let mut found = 0usize;
    while pos > 0 {
        let step = (pos as usize).min(TAIL_BLOCK);
        pos -= step as u64;
        file.read_exact_at(&mut buf[..step], pos)
            .map_err(io_err(path))?;
        for i in (0..step).rev() {
            if buf[i] != b'\n' {
                continue;
            }
            if !end_seen {
                end_seen = true;
                if n == 0 {
                    return Ok(Ok(pos + i as u64 + 1));
                }
                continue;
            }
            found += 1;
            if found == n {
                return Ok(Ok(pos + i as u64 + 1));
            }
        }
    }
    if end_seen {
        found += 1;
    }
    if n > 0 && found == n {
        return Ok(Ok(0));
    }
    Ok(Err(found))
}

/// Whole lines in a gzipped log.
fn gz_line_count(file: &mut File, path: &Path) -> Result<usize, LoggingError> {
    file.seek(SeekFrom::Start(0)).map_err(io_err(path))?;
    let mut d = flate2::read::GzDecoder::new(&mut *file);
    let mut buf = vec![0u8; TAIL_BLOCK];
    let mut count = 0;
    loop {
        match d.read(&mut buf) {
            Ok(0) => return Ok(count),
            Ok(k) => count += buf[..k].iter().filter(|&&b| b == b'\n').count(),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(io_err(path)(e)),
        }
    }
}

/// A log file being read line by line.
struct Segment {
    path: PathBuf,
    reader: Box<dyn BufRead + Send>,
    skip: usize,
}

impl Segment {
    fn new(mut o: Opened, start: Start) -> Result<Segment, LoggingError> {
        let (offset, skip) = match start {
            Start::Offset(off) => (off, 0),
            Start::SkipLines(n) => (0, n),
        };
        o.file
            .seek(SeekFrom::Start(offset))
            .map_err(io_err(&o.path))?;
        let reader: Box<dyn BufRead + Send> = if o.gz {
            Box::new(BufReader::new(flate2::read::GzDecoder::new(o.file)))
        } else {
            Box::new(BufReader::new(o.file))
        };
        Ok(Segment {
            path: o.path,
            reader,
            skip,
        })
    }

    /// The next whole line, or `None` at the end (an unterminated last line,
    /// still being written, is not returned).
    fn next_line(&mut self) -> Result<Option<Vec<u8>>, LoggingError> {
        loop {
            let mut line = Vec::new();
            let n = self
                .reader
                .read_until(b'\n', &mut line)
                .map_err(io_err(&self.path))?;
            if n == 0 || line.last() != Some(&b'\n') {
                return Ok(None);
            }
            if self.skip > 0 {
                self.skip -= 1;
                continue;
            }
            return Ok(Some(line));
        }
    }
}

#[derive(Deserialize)]
struct RawEntry {
    log: String,
    stream: String,
    time: DateTime<Utc>,
}

/// Decodes one line of a json-file log.
pub fn parse_line(path: &Path, line: &[u8]) -> Result<LogEntry, LoggingError> {
    let corrupt = |detail: String| LoggingError::Corrupt {
        path: path.to_owned(),
        detail,
    };
    let raw: RawEntry = serde_json::from_slice(line).map_err(|e| corrupt(e.to_string()))?;
    let stream = match raw.stream.as_str() {
        "stdout" => Stream::Stdout,
        "stderr" => Stream::Stderr,
        other => return Err(corrupt(format!("unknown stream {other:?}"))),
    };
    let partial = !raw.log.ends_with('\n');
    Ok(LogEntry {
        stream,
        time: raw.time,
        line: raw.log.into_bytes(),
        partial,
    })
}

enum Verdict {
    Take,
    Skip,
    Stop,
}

fn judge(opts: &ReadOptions, e: &LogEntry) -> Verdict {
    if opts.until.is_some_and(|u| e.time > u) {
        return Verdict::Stop;
    }
    if opts.since.is_some_and(|s| e.time < s) {
        return Verdict::Skip;
    }
    let wanted = match e.stream {
        Stream::Stdout => opts.stdout,
        Stream::Stderr => opts.stderr,
    };
    if wanted { Verdict::Take } else { Verdict::Skip }
}

/// Where reading starts in each file of a snapshot, honouring `tail`:
/// the rotated files to read (oldest first) and the current file with the
/// offset to start at.
type Plan = (Vec<Segment>, Option<(Opened, u64)>);

fn plan(snap: Snapshot, tail: Option<usize>) -> Result<Plan, LoggingError> {
    let mut rotated = snap.rotated;
    let mut cur_start = 0;
    let mut first = 0;
    let mut starts = vec![Start::Offset(0); rotated.len()];
    if let Some(tail) = tail {
        let mut want = tail;
        first = rotated.len();
        if let Some(c) = &snap.current {
            match tail_start(&c.file, want, &c.path)? {
                Ok(off) => {
                    cur_start = off;
                    want = 0;
                }
                Err(count) => want -= count,
            }
        }
        for (i, f) in rotated.iter_mut().enumerate().rev() {
            if want == 0 {
                break;
            }
            first = i;
            if f.gz {
                let count = gz_line_count(&mut f.file, &f.path)?;
                if count >= want {
                    starts[i] = Start::SkipLines(count - want);
                    want = 0;
                } else {
                    want -= count;
                }
            } else {
                match tail_start(&f.file, want, &f.path)? {
                    Ok(off) => {
                        starts[i] = Start::Offset(off);
                        want = 0;
                    }
                    Err(count) => want -= count,
                }
            }
        }
    }
    let segs = rotated
        .drain(..)
        .zip(starts)
        .skip(first)
        .map(|(f, s)| Segment::new(f, s))
        .collect::<Result<Vec<_>, _>>()?;
    Ok((segs, snap.current.map(|c| (c, cur_start))))
}

/// The entries of a log as it is now (see [`read_logs`]).
pub struct LogReader {
    segments: VecDeque<Segment>,
    opts: ReadOptions,
    done: bool,
}

/// Reads the container's log: rotated files oldest first (gzipped ones
/// included), then the current file; the last `opts.tail` lines only when
/// set. Returns an empty reader when the container has no log file yet.
pub fn read_logs(
    state_dir: &Path,
    id: &str,
    opts: &ReadOptions,
) -> Result<LogReader, LoggingError> {
    let (mut segs, current) = plan(snapshot(state_dir, id)?, opts.tail)?;
    if let Some((c, start)) = current {
        segs.push(Segment::new(c, Start::Offset(start))?);
    }
    Ok(LogReader {
        segments: segs.into(),
        opts: opts.clone(),
        done: false,
    })
}

impl Iterator for LogReader {
    type Item = Result<LogEntry, LoggingError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let seg = self.segments.front_mut()?;
            let line = match seg.next_line() {
                Ok(Some(l)) => l,
                Ok(None) => {
                    self.segments.pop_front();
                    continue;
                }
                Err(e) => {
                    self.segments.pop_front();
                    return Some(Err(e));
                }
            };
            match parse_line(&seg.path, &line) {
                Err(e) => return Some(Err(e)),
                Ok(entry) => match judge(&self.opts, &entry) {
                    Verdict::Take => return Some(Ok(entry)),
                    Verdict::Skip => {}
                    Verdict::Stop => self.done = true,
                },
            }
        }
        None
    }
}

/// The current file a [`Follower`] reads as it grows.
struct Live {
    path: PathBuf,
    reader: BufReader<File>,
    ident: Ident,
    buf: Vec<u8>,
}

impl Live {
    fn new(mut o: Opened, start: u64) -> Result<Live, LoggingError> {
        o.file
            .seek(SeekFrom::Start(start))
            .map_err(io_err(&o.path))?;
        Ok(Live {
            path: o.path,
            reader: BufReader::new(o.file),
            ident: o.own,
            buf: Vec::new(),
        })
    }

    /// The next whole line written so far; keeps a partly written one.
    fn next_line(&mut self) -> Result<Option<Vec<u8>>, LoggingError> {
        self.reader
            .read_until(b'\n', &mut self.buf)
            .map_err(io_err(&self.path))?;
        if self.buf.last() == Some(&b'\n') {
            Ok(Some(std::mem::take(&mut self.buf)))
        } else {
            Ok(None)
        }
    }
}

/// Follows a container's log (see [`follow`]); each `next()` blocks until an
/// entry arrives or the log ends.
pub struct Follower {
    dir: PathBuf,
    id: String,
    opts: ReadOptions,
    stopped: Box<dyn FnMut() -> bool + Send>,
    queue: VecDeque<Segment>,
    live: Option<Live>,
    /// The newest rotated file already read or queued: when there is no
    /// live file (the writer renamed it and has not created the next one
    /// yet), the next switch must not queue that file or older ones again.
    last_rotated: Option<Mark>,
    rotated_seen: bool,
    done: bool,
}

/// A file a [`Follower`] has read or queued, held open: its inode cannot be
/// freed and reused by a newer file (the writer removes a rotated file once
/// gzipped) while the follower places files by it.
struct Mark {
    /// The file's own identity; `.gz` files made from it name it as source.
    ident: Ident,
    _held: File,
}

impl Mark {
    fn of(o: &Opened) -> Result<Mark, LoggingError> {
        Ok(Mark {
            ident: o.own,
            _held: o.file.try_clone().map_err(io_err(&o.path))?,
        })
    }
}

/// Reads the log like [`read_logs`], then keeps waiting for new entries,
/// following rotations (by the current file's inode changing: the old file
/// is read to its end, then the files rotated after it, then the new one)
/// without losing or repeating a line. Ends once `stopped()` returned true
/// and everything written by then was read (call it with the container's
/// "has exited" flag), or at an entry later than `opts.until`.
pub fn follow(
    state_dir: &Path,
    id: &str,
    opts: &ReadOptions,
    stopped: impl FnMut() -> bool + Send + 'static,
) -> Result<Follower, LoggingError> {
    let snap = snapshot(state_dir, id)?;
    let last_rotated = snap.rotated.last().map(Mark::of).transpose()?;
    let (segs, current) = plan(snap, opts.tail)?;
    Ok(Follower {
        dir: state_dir.to_owned(),
        id: id.to_owned(),
        opts: opts.clone(),
        stopped: Box::new(stopped),
        queue: segs.into(),
        live: current.map(|(c, start)| Live::new(c, start)).transpose()?,
        last_rotated,
        rotated_seen: false,
        done: false,
    })
}

impl Follower {
    /// Moves on from the live file, which was rotated away and read to its
    /// end: queues the files rotated after it, then goes live on the new one.
    fn switch(&mut self) -> Result<(), LoggingError> {
        // The old file (live or marked) is held open, so no file newer
        // than it can carry its identity, as itself or as a `.gz`'s source;
        // older `.gz` files may name the same inode (freed and reused
        // before it): take the newest.
        let old = match (&self.live, &self.last_rotated) {
            (Some(l), _) => Some(l.ident),
            (None, m) => m.as_ref().map(|m| m.ident),
        };
        let mut snap = snapshot(&self.dir, &self.id)?;
        // Files older than (and including) ours were read already; if ours
        // is gone (dropped as the oldest), every rotated file is newer.
        let newer = match old.and_then(|old| {
            snap.rotated
                .iter()
                .rposition(|o| o.own == old || o.ident == Some(old))
        }) {
            Some(i) => i + 1,
            None => 0,
        };
        let newer = snap.rotated.split_off(newer);
        // The newest file read or queued becomes the mark.
        let old_live = self.live.take();
        if let Some(o) = newer.last() {
            self.last_rotated = Some(Mark::of(o)?);
        } else if let Some(l) = old_live {
            self.last_rotated = Some(Mark {
                ident: l.ident,
                _held: l.reader.into_inner(),
            });
        }
        for o in newer {
            self.queue.push_back(Segment::new(o, Start::Offset(0))?);
        }
        self.live = snap.current.map(|c| Live::new(c, 0)).transpose()?;
        Ok(())
    }

    /// The next whole line from the queue or the live file; `None` when
    /// the log ended.
    fn next_line(&mut self) -> Result<Option<(PathBuf, Vec<u8>)>, LoggingError> {
        loop {
            if let Some(seg) = self.queue.front_mut() {
                match seg.next_line() {
                    Ok(Some(l)) => return Ok(Some((seg.path.clone(), l))),
                    Ok(None) => {
                        self.queue.pop_front();
                        continue;
                    }
                    Err(e) => {
                        self.queue.pop_front();
                        return Err(e);
                    }
                }
            }
            // Sampled before reading: once the container has stopped, one
            // more read to the end gets everything it wrote.
            let was_stopped = (self.stopped)();
            let path = log_path(&self.dir, &self.id);
            let Some(live) = self.live.as_mut() else {
                if stat_ident(&path)?.is_some() {
                    self.switch()?;
                    continue;
                }
                if was_stopped {
                    return Ok(None);
                }
                std::thread::sleep(POLL);
                continue;
            };
            if let Some(l) = live.next_line()? {
                return Ok(Some((live.path.clone(), l)));
            }
            if self.rotated_seen {
                // The old file was read to its end after the rotation was
                // seen, and the writer no longer writes it.
                self.rotated_seen = false;
                self.switch()?;
                continue;
            }
            match stat_ident(&path)? {
                Some(now) if now != live.ident => {
                    self.rotated_seen = true;
                    continue;
                }
                Some(_) if was_stopped => return Ok(None),
                None if was_stopped => return Ok(None),
                _ => std::thread::sleep(POLL),
            }
        }
    }
}

impl Iterator for Follower {
    type Item = Result<LogEntry, LoggingError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let (path, line) = match self.next_line() {
                Ok(Some(x)) => x,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err(e) => return Some(Err(e)),
            };
            match parse_line(&path, &line) {
                Err(e) => return Some(Err(e)),
                Ok(entry) => match judge(&self.opts, &entry) {
                    Verdict::Take => return Some(Ok(entry)),
                    Verdict::Skip => {}
                    Verdict::Stop => self.done = true,
                },
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::logging::LogConfig;
    use crate::logging::jsonfile::JsonFileWriter;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    fn write_numbered(w: &mut JsonFileWriter, range: std::ops::Range<usize>) {
        for i in range {
            let s = if i % 7 == 3 {
                Stream::Stderr
            } else {
                Stream::Stdout
            };
            w.write(s, format!("line {i:07}\n").as_bytes()).unwrap();
        }
    }

    fn numbers(entries: impl Iterator<Item = Result<LogEntry, LoggingError>>) -> Vec<usize> {
        entries
            .map(|e| {
                let e = e.unwrap();
                std::str::from_utf8(&e.line[5..12])
                    .unwrap()
                    .parse()
                    .unwrap()
            })
            .collect()
    }

    /// `got` as runs of consecutive numbers ("45-650 628-3049"), so a
    /// failure shows what was lost, repeated or reordered.
    fn runs(got: &[usize]) -> String {
        let mut out = Vec::new();
        let mut start = 0;
        for i in 1..=got.len() {
            if i == got.len() || got[i] != got[i - 1] + 1 {
                out.push(format!("{}-{}", got[start], got[i - 1]));
                start = i;
            }
        }
        out.join(" ")
    }

    fn opts(tail: Option<usize>) -> ReadOptions {
        ReadOptions {
            tail,
            ..ReadOptions::default()
        }
    }

    fn rotating(max_size: u64, max_file: u32, compress: bool) -> LogConfig {
        LogConfig {
            max_size: Some(max_size),
            max_file,
            compress,
            ..LogConfig::default()
        }
    }

    #[test]
    fn tail_reads_the_end_of_a_big_file() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JsonFileWriter::open(dir.path(), "c", &LogConfig::default()).unwrap();
        write_numbered(&mut w, 0..100_000);
        w.close().unwrap();
        let read = |t| numbers(read_logs(dir.path(), "c", &opts(t)).unwrap());
        assert_eq!(read(Some(100)), (99_900..100_000).collect::<Vec<_>>());
        assert_eq!(read(Some(1)), vec![99_999]);
        assert_eq!(read(Some(0)), Vec::<usize>::new());
        assert_eq!(read(Some(100_000)).len(), 100_000);
        assert_eq!(read(Some(5_000_000)).len(), 100_000);
        assert_eq!(read(None), (0..100_000).collect::<Vec<_>>());
    }

    #[test]
    fn tail_start_edges() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("f");
        let at = |content: &[u8], n| {
            std::fs::write(&p, content).unwrap();
            tail_start(&File::open(&p).unwrap(), n, &p).unwrap()
        };
        assert_eq!(at(b"", 3), Err(0));
        assert_eq!(at(b"a\nb\nc\n", 2), Ok(2));
        assert_eq!(at(b"a\nb\nc\n", 3), Ok(0));
        assert_eq!(at(b"a\nb\nc\n", 4), Err(3));
        // A line still being written is not counted.
        assert_eq!(at(b"a\nb\npart", 1), Ok(2));
        assert_eq!(at(b"a\nb\npart", 0), Ok(4));
        assert_eq!(at(b"part", 1), Err(0));
    }

    #[test]
    fn rotated_and_compressed_files_read_in_order() {
        for compress in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let mut w =
                JsonFileWriter::open(dir.path(), "c", &rotating(3000, 5, compress)).unwrap();
            write_numbered(&mut w, 0..400);
            w.close().unwrap();
            let all = numbers(read_logs(dir.path(), "c", &opts(None)).unwrap());
            assert_eq!(*all.last().unwrap(), 399);
            assert!(all.len() > 100 && all.len() < 400, "{}", all.len());
            assert_eq!(all, (all[0]..400).collect::<Vec<_>>());
            // Tails that span one, two and every file.
            for t in [10, 60, 150, all.len(), all.len() + 5] {
                let got = numbers(read_logs(dir.path(), "c", &opts(Some(t))).unwrap());
                let want = t.min(all.len());
                assert_eq!(got, all[all.len() - want..].to_vec(), "tail {t} {compress}");
            }
        }
    }

    #[test]
    fn filters_by_stream_and_time_and_decodes() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JsonFileWriter::open(dir.path(), "c", &LogConfig::default()).unwrap();
        write_numbered(&mut w, 0..20);
        w.write(Stream::Stdout, b"bad \xff <&>\n").unwrap();
        w.write(Stream::Stdout, b"no end").unwrap();
        w.close().unwrap();
        let all: Vec<LogEntry> = read_logs(dir.path(), "c", &opts(None))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(all.len(), 22);
        assert_eq!(all[20].line, "bad \u{fffd} <&>\n".as_bytes());
        assert!(!all[20].partial);
        assert_eq!(
            (all[21].line.as_slice(), all[21].partial),
            (&b"no end"[..], true)
        );
        let errs = ReadOptions {
            stdout: false,
            ..ReadOptions::default()
        };
        let e = numbers(read_logs(dir.path(), "c", &errs).unwrap());
        assert_eq!(e, vec![3, 10, 17]);
        let mid = all[10].time;
        let since = ReadOptions {
            since: Some(mid),
            ..ReadOptions::default()
        };
        let got: Vec<_> = read_logs(dir.path(), "c", &since)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(got.iter().all(|e| e.time >= mid) && got.len() >= 12);
        let until = ReadOptions {
            until: Some(mid),
            ..ReadOptions::default()
        };
        let got: Vec<_> = read_logs(dir.path(), "c", &until)
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert!(got.iter().all(|e| e.time <= mid) && got.len() >= 11);
        assert_eq!(
            read_logs(dir.path(), "nope", &opts(None)).unwrap().count(),
            0
        );
    }

    #[test]
    fn follow_across_rotations_loses_and_repeats_nothing() {
        for compress in [false, true] {
            let dir = tempfile::tempdir().unwrap();
            let cfg = rotating(2000, 1000, compress);
            let mut w = JsonFileWriter::open(dir.path(), "c", &cfg).unwrap();
            write_numbered(&mut w, 0..50);
            let stopped = Arc::new(AtomicBool::new(false));
            let flag = stopped.clone();
            let f = follow(dir.path(), "c", &opts(Some(5)), move || {
                flag.load(Ordering::SeqCst)
            })
            .unwrap();
            let writer = std::thread::spawn(move || {
                for chunk in 0..30 {
                    write_numbered(&mut w, 50 + chunk * 100..150 + chunk * 100);
                    std::thread::yield_now();
                }
                w.close().unwrap();
                stopped.store(true, Ordering::SeqCst);
            });
            let got = numbers(f);
            writer.join().unwrap();
            let want: Vec<usize> = (45..3050).collect();
            assert!(got == want, "compress {compress}: got {}", runs(&got));
        }
    }

    #[test]
    fn follow_never_rereads_files_when_the_current_log_is_briefly_missing() {
        // The writer renames the current file and creates the next one in
        // two steps; a follower switching in between sees no current file.
        // `stopped` runs once per poll of the follower, so it replays that
        // moment deterministically.
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_owned();
        let put = |path: &Path, i: usize| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            writeln!(
                f,
                r#"{{"log":"line {i:07}\n","stream":"stdout","time":"2026-01-01T00:00:00.000000000Z"}}"#
            )
            .unwrap();
        };
        let cur = log_path(&d, "c");
        let rot = |n| super::super::jsonfile::rotated_path(&d, "c", n, false);
        put(&cur, 0);
        let mut polls = 0;
        let (d2, cur2) = (d.clone(), cur.clone());
        let mut f = follow(&d, "c", &opts(None), move || {
            polls += 1;
            let rot = |n| super::super::jsonfile::rotated_path(&d2, "c", n, false);
            match polls {
                // The rotation was seen: B goes away too, before C exists.
                3 => {
                    std::fs::rename(rot(1), rot(2)).unwrap();
                    std::fs::rename(&cur2, rot(1)).unwrap();
                }
                4 => put(&cur2, 2),
                _ => {}
            }
            polls >= 6
        })
        .unwrap();
        let mut next = || numbers(f.by_ref().take(1));
        assert_eq!(next(), [0]);
        std::fs::rename(&cur, rot(1)).unwrap();
        put(&cur, 1);
        assert_eq!(next(), [1]);
        assert_eq!(next(), [2]);
        assert_eq!(next(), Vec::<usize>::new());
    }

    #[test]
    fn follow_switching_while_the_writer_shifts_rotated_files_reads_each_once() {
        // A lagging follower switches while a rotation shifts `.n` to
        // `.n+1` (oldest first) and has not renamed the current file yet.
        // The snapshot hook replays the shift between opening `.2` and
        // `.3`: read at face value, `.2` and `.3` are the same file and the
        // follower's old file is missing (CI saw a file repeated or lost).
        use std::io::Write as _;
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().to_owned();
        let put = |path: &Path, i: usize| {
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(path)
                .unwrap();
            writeln!(
                f,
                r#"{{"log":"line {i:07}\n","stream":"stdout","time":"2026-01-01T00:00:00.000000000Z"}}"#
            )
            .unwrap();
        };
        let cur = log_path(&d, "c");
        let rot = |n| super::super::jsonfile::rotated_path(&d, "c", n, false);
        let shift = |top: u32| {
            for n in (1..=top).rev() {
                std::fs::rename(rot(n), rot(n + 1)).unwrap();
            }
        };
        put(&cur, 0);
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = stopped.clone();
        let mut f = follow(&d, "c", &opts(None), move || flag.load(Ordering::SeqCst)).unwrap();
        let mut next = || numbers(f.by_ref().take(1));
        assert_eq!(next(), [0]);
        // Three rotations while the follower is away: `.3` is the file it
        // reads (line 0), then `.2` (1), `.1` (2) and the current file (3).
        for (i, top) in [(1, 0), (2, 1), (3, 2)] {
            shift(top);
            std::fs::rename(&cur, rot(1)).unwrap();
            put(&cur, i);
        }
        let (d2, mut fired) = (d.clone(), false);
        AFTER_ROTATED_OPEN.set(Some(Box::new(move |n| {
            if n == 2 && !fired {
                fired = true;
                for n in (1..=3).rev() {
                    let rot = |n| super::super::jsonfile::rotated_path(&d2, "c", n, false);
                    std::fs::rename(rot(n), rot(n + 1)).unwrap();
                }
            }
        })));
        assert_eq!(next(), [1]);
        assert_eq!(next(), [2]);
        assert_eq!(next(), [3]);
        AFTER_ROTATED_OPEN.set(None);
        // The writer finishes that rotation.
        std::fs::rename(&cur, rot(1)).unwrap();
        put(&cur, 4);
        stopped.store(true, Ordering::SeqCst);
        assert_eq!(next(), [4]);
        assert_eq!(next(), Vec::<usize>::new());
    }

    #[test]
    fn follow_waits_for_a_log_that_does_not_exist_yet() {
        let dir = tempfile::tempdir().unwrap();
        let stopped = Arc::new(AtomicBool::new(false));
        let flag = stopped.clone();
        let f = follow(dir.path(), "c", &opts(None), move || {
            flag.load(Ordering::SeqCst)
        })
        .unwrap();
        let path = dir.path().to_owned();
        let writer = std::thread::spawn(move || {
            let mut w = JsonFileWriter::open(&path, "c", &rotating(500, 100, false)).unwrap();
            write_numbered(&mut w, 0..100);
            w.close().unwrap();
            stopped.store(true, Ordering::SeqCst);
        });
        let got = numbers(f);
        writer.join().unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    }
}
