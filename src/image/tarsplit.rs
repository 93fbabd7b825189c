//! Tar-split records: how an uncompressed layer tar is kept without storing it twice.
//!
//! While a plain layer tar is unpacked, every byte that is not regular-file content
//! (headers, PAX/GNU extension blocks, padding, the end-of-archive trailer, and the
//! content of entries that are not written as files, such as whiteouts) is recorded
//! verbatim, and each regular file's content is replaced by a reference (its cleaned path
//! in the diff directory and its size). `save` interleaves the two again and gets the
//! original tar byte for byte; the stream is hashed and must match the layer's diff ID.
//!
//! The record lives beside the snapshot as [`TAR_SPLIT_FILE`]. When a layer cannot be
//! described this way (an entry replaces or removes a file the layer wrote earlier, or a
//! GNU sparse file, whose content on disk differs from its bytes in the tar), the
//! recorder switches, before the destructive step, to keeping the whole tar as
//! [`RAW_TAR_FILE`]: the prefix is regenerated from what is still intact and the rest is
//! appended as it streams by.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use sha2::{Digest as _, Sha256};

use crate::image::ImageError;
use crate::image::apply::clean_components;
use crate::image::digest::{BUF_SIZE, finish};

/// The tar-split record of a snapshot, `snapshots/<chain>/tar-split.gz`.
pub const TAR_SPLIT_FILE: &str = "tar-split.gz";
/// The whole layer tar, kept when a tar-split cannot describe it, `snapshots/<chain>/layer.tar`.
pub const RAW_TAR_FILE: &str = "layer.tar";
const MAGIC: &[u8] = b"berth-tar-split-1\n";
const TAG_RAW: u8 = b'R';
const TAG_FILE: u8 = b'F';
const TAG_END: u8 = b'E';

/// How a layer's tar is kept beside its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kept {
    /// A tar-split record ([`TAR_SPLIT_FILE`]).
    Split,
    /// The whole tar ([`RAW_TAR_FILE`]).
    Raw,
}

/// One piece of a recorded tar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// Bytes copied verbatim.
    Raw(Vec<u8>),
    /// The content of a regular file of the diff directory.
    File {
        /// Cleaned path inside the diff directory.
        path: Vec<u8>,
        /// Its length in the tar.
        size: u64,
    },
}

/// Writes a tar-split record (gzip) to `path`; the caller makes it durable and atomic
/// (it is written inside a temp snapshot).
pub fn write_record(items: &[Item], path: &Path) -> Result<(), ImageError> {
    let file = File::create(path).map_err(ImageError::io(path))?;
    let mut w = flate2::write::GzEncoder::new(BufWriter::new(file), flate2::Compression::fast());
    let mut put = || -> io::Result<()> {
        w.write_all(MAGIC)?;
        for item in items {
            match item {
                Item::Raw(b) => {
                    w.write_all(&[TAG_RAW])?;
                    w.write_all(&(b.len() as u64).to_le_bytes())?;
                    w.write_all(b)?;
                }
                Item::File { path, size } => {
                    w.write_all(&[TAG_FILE])?;
                    w.write_all(&(path.len() as u32).to_le_bytes())?;
                    w.write_all(path)?;
                    w.write_all(&size.to_le_bytes())?;
                }
            }
        }
        w.write_all(&[TAG_END])?;
        Ok(())
    };
    put().map_err(ImageError::io(path))?;
    w.finish()
        .and_then(|mut b| b.flush())
        .map_err(ImageError::io(path))
}

/// Reads a tar-split record written by [`write_record`].
pub fn read_record(path: &Path) -> io::Result<Vec<Item>> {
    let file = File::open(path)?;
    let mut r = BufReader::new(flate2::read::GzDecoder::new(BufReader::new(file)));
    let corrupt = |what: &str| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: corrupt tar-split record: {what}", path.display()),
        )
    };
    let mut magic = vec![0u8; MAGIC.len()];
    r.read_exact(&mut magic)?;
    if magic != MAGIC {
        return Err(corrupt("bad magic"));
    }
    let mut items = Vec::new();
    loop {
        let mut tag = [0u8; 1];
        r.read_exact(&mut tag).map_err(|_| corrupt("truncated"))?;
        match tag[0] {
            TAG_END => return Ok(items),
            TAG_RAW => {
                let mut len = [0u8; 8];
                r.read_exact(&mut len)?;
                let len = u64::from_le_bytes(len);
                let mut b = Vec::new();
                (&mut r).take(len).read_to_end(&mut b)?;
                if b.len() as u64 != len {
                    return Err(corrupt("truncated"));
                }
                items.push(Item::Raw(b));
            }
            TAG_FILE => {
                let mut len = [0u8; 4];
                r.read_exact(&mut len)?;
                let mut p = vec![0u8; u32::from_le_bytes(len) as usize];
                r.read_exact(&mut p)?;
                let mut size = [0u8; 8];
                r.read_exact(&mut size)?;
                items.push(Item::File {
                    path: p,
                    size: u64::from_le_bytes(size),
                });
            }
            _ => return Err(corrupt("unknown item")),
        }
    }
}

fn errno_io(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// Opens a regular file of the diff directory for reading, resolving its parent inside
/// the root exactly as the applier did and never following the final component.
fn open_in_root(root: &OwnedFd, path: &[u8]) -> io::Result<File> {
    let comps =
        clean_components(path).ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))?;
    let Some((name, parent)) = comps.split_last() else {
        return Err(io::Error::from_raw_os_error(libc::EISDIR));
    };
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    let fd = if parent.is_empty() {
        rustix::fs::openat(root, OsStr::from_bytes(name), flags, Mode::empty())
    } else {
        let dir = rustix::fs::openat2(
            root,
            OsStr::from_bytes(&parent.join(&b'/')),
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(errno_io)?;
        rustix::fs::openat(&dir, OsStr::from_bytes(name), flags, Mode::empty())
    }
    .map_err(errno_io)?;
    Ok(File::from(fd))
}

enum Cur {
    Idle,
    Raw(Vec<u8>, usize),
    File { f: File, left: u64, path: Vec<u8> },
}

/// Regenerates a tar from its record and the diff directory (`root`).
pub struct SplitReader {
    root: Arc<OwnedFd>,
    root_path: PathBuf,
    items: std::vec::IntoIter<Item>,
    cur: Cur,
}

impl SplitReader {
    /// A reader over `items`, reading file contents under `root` (named `root_path` in errors).
    pub fn new(root: Arc<OwnedFd>, root_path: PathBuf, items: Vec<Item>) -> SplitReader {
        SplitReader {
            root,
            root_path,
            items: items.into_iter(),
            cur: Cur::Idle,
        }
    }

    fn changed(&self, path: &[u8], what: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!(
                "snapshot file {}/{}: {what}: the snapshot was modified after the layer was stored",
                self.root_path.display(),
                String::from_utf8_lossy(path)
            ),
        )
    }
}

impl Read for SplitReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match &mut self.cur {
                Cur::Idle => match self.items.next() {
                    None => return Ok(0),
                    Some(Item::Raw(b)) => self.cur = Cur::Raw(b, 0),
                    Some(Item::File { path, size }) => {
                        let f = open_in_root(&self.root, &path)
                            .map_err(|e| self.changed(&path, format!("cannot open: {e}")))?;
                        let md = f.metadata()?;
                        if !md.is_file() || md.len() != size {
                            let e = format!(
                                "expected a regular file of {size} bytes, found {} bytes",
                                md.len()
                            );
                            return Err(self.changed(&path, e));
                        }
                        self.cur = Cur::File {
                            f,
                            left: size,
                            path,
                        };
                    }
                },
                Cur::Raw(b, pos) => {
                    if *pos == b.len() {
                        self.cur = Cur::Idle;
                        continue;
                    }
                    let n = buf.len().min(b.len() - *pos);
                    buf[..n].copy_from_slice(&b[*pos..*pos + n]);
                    *pos += n;
                    return Ok(n);
                }
                Cur::File { f, left, path } => {
                    if *left == 0 {
                        self.cur = Cur::Idle;
                        continue;
                    }
                    let want = buf.len().min(usize::try_from(*left).unwrap_or(usize::MAX));
                    let n = f.read(&mut buf[..want])?;
                    if n == 0 {
                        let path = path.clone();
                        return Err(self.changed(&path, "shorter than recorded".into()));
                    }
                    *left -= n as u64;
                    return Ok(n);
                }
            }
        }
    }
}

/// A reader that fails unless its stream is exactly `size` bytes hashing to `digest`; the
/// check runs as the last byte is read, so a caller limiting itself to `size` bytes still
/// gets the error instead of the last chunk.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: Option<Sha256>,
    count: u64,
    size: u64,
    digest: String,
    what: String,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`; `what` names the stream in errors.
    pub fn new(inner: R, digest: &str, size: u64, what: String) -> Self {
        VerifyingReader {
            inner,
            hasher: Some(Sha256::new()),
            count: 0,
            size,
            digest: digest.to_string(),
            what,
        }
    }

    fn mismatch(&self, why: String) -> io::Error {
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}: regenerated layer tar {why}", self.what),
        )
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let Some(hasher) = self.hasher.as_mut() else {
            return Ok(0);
        };
        let n = self.inner.read(buf)?;
        hasher.update(&buf[..n]);
        self.count += n as u64;
        if self.count > self.size || (n == 0 && self.count < self.size) {
            return Err(self.mismatch(format!(
                "has a different length than the recorded {} bytes",
                self.size
            )));
        }
        if self.count == self.size {
            let actual = finish(self.hasher.take().expect("hasher present"));
            if actual != self.digest {
                return Err(self.mismatch(format!(
                    "hashes to {actual}, not its diff ID {}",
                    self.digest
                )));
            }
        }
        Ok(n)
    }
}

/// Whether and how a snapshot directory keeps its layer tar.
pub fn kept_in(dir: &Path) -> Option<Kept> {
    if dir.join(TAR_SPLIT_FILE).is_file() {
        Some(Kept::Split)
    } else if dir.join(RAW_TAR_FILE).is_file() {
        Some(Kept::Raw)
    } else {
        None
    }
}

/// The layer tar kept beside the snapshot in `dir` (a snapshot with `diff/`), verified to
/// be `diff_size` bytes hashing to `diff_id` as it is read.
pub fn open_kept(
    dir: &Path,
    diff_id: &str,
    diff_size: u64,
) -> io::Result<VerifyingReader<Box<dyn Read + Send>>> {
    let what = format!("layer {diff_id} in {}", dir.display());
    let inner: Box<dyn Read + Send> = match kept_in(dir) {
        Some(Kept::Split) => {
            let rec = dir.join(TAR_SPLIT_FILE);
            let items = read_record(&rec)
                .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", rec.display())))?;
            let diff = dir.join("diff");
            let root = rustix::fs::open(
                &diff,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(|e| {
                io::Error::new(
                    io::ErrorKind::NotFound,
                    format!("{}: {}", diff.display(), errno_io(e)),
                )
            })?;
            Box::new(io::BufReader::with_capacity(
                BUF_SIZE,
                SplitReader::new(Arc::new(root), diff, items),
            ))
        }
        Some(Kept::Raw) => Box::new(io::BufReader::with_capacity(
            BUF_SIZE,
            File::open(dir.join(RAW_TAR_FILE))?,
        )),
        None => {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("{what}: neither {TAR_SPLIT_FILE} nor {RAW_TAR_FILE} is present"),
            ));
        }
    };
    Ok(VerifyingReader::new(inner, diff_id, diff_size, what))
}

/// Records a plain layer tar as it is read (see the module docs).
pub(crate) struct Recorder {
    out_dir: PathBuf,
    pos: u64,
    /// File content bytes still to leave out of the record.
    skip: u64,
    pending: Vec<u8>,
    items: Vec<Item>,
    /// Raw mode: every further byte is appended here.
    raw: Option<BufWriter<File>>,
}

/// Shared between the reader feeding the tar parser and the applier.
pub(crate) type SharedRecorder = Rc<RefCell<Recorder>>;

impl Recorder {
    /// A recorder writing its result into `out_dir`.
    pub(crate) fn shared(out_dir: &Path) -> SharedRecorder {
        Rc::new(RefCell::new(Recorder {
            out_dir: out_dir.to_path_buf(),
            pos: 0,
            skip: 0,
            pending: Vec::new(),
            items: Vec::new(),
            raw: None,
        }))
    }

    fn observe(&mut self, mut data: &[u8]) -> io::Result<()> {
        self.pos += data.len() as u64;
        if let Some(w) = &mut self.raw {
            return w.write_all(data);
        }
        let k = (self.skip.min(data.len() as u64)) as usize;
        self.skip -= k as u64;
        data = &data[k..];
        self.pending.extend_from_slice(data);
        Ok(())
    }

    /// A regular file's content (`size` bytes, starting at stream offset `data_pos`) is
    /// about to be read and written to `path` (cleaned) in the diff directory.
    pub(crate) fn file(
        &mut self,
        root: &Arc<OwnedFd>,
        root_path: &Path,
        path: Vec<u8>,
        size: u64,
        data_pos: u64,
    ) -> io::Result<()> {
        if self.raw.is_some() {
            return Ok(());
        }
        if data_pos != self.pos || self.skip != 0 {
            // Not where the content should start: keep the bytes themselves.
            return self.go_raw(root, root_path);
        }
        if !self.pending.is_empty() {
            self.items
                .push(Item::Raw(std::mem::take(&mut self.pending)));
        }
        self.items.push(Item::File { path, size });
        self.skip = size;
        Ok(())
    }

    /// Switches to keeping the whole tar; must be called before anything the record
    /// references is changed.
    pub(crate) fn go_raw(&mut self, root: &Arc<OwnedFd>, root_path: &Path) -> io::Result<()> {
        if self.raw.is_some() {
            return Ok(());
        }
        if self.skip != 0 {
            return Err(io::Error::other(
                "tar-split: cannot switch to a raw tar inside file content",
            ));
        }
        let path = self.out_dir.join(RAW_TAR_FILE);
        let mut w = BufWriter::with_capacity(BUF_SIZE, File::create_new(&path)?);
        let items = std::mem::take(&mut self.items);
        let mut prefix = SplitReader::new(root.clone(), root_path.to_path_buf(), items);
        io::copy(&mut prefix, &mut w)?;
        w.write_all(&std::mem::take(&mut self.pending))?;
        self.raw = Some(w);
        tracing::debug!(dir = %self.out_dir.display(), "layer not expressible as a tar-split: keeping the tar");
        Ok(())
    }

    /// Writes the result once the whole stream (trailer included) has been read.
    pub(crate) fn finish(&mut self) -> Result<Kept, ImageError> {
        if let Some(w) = self.raw.take() {
            let path = self.out_dir.join(RAW_TAR_FILE);
            w.into_inner()
                .map_err(|e| ImageError::io_at(&path, e.into_error()))?;
            return Ok(Kept::Raw);
        }
        if !self.pending.is_empty() {
            self.items
                .push(Item::Raw(std::mem::take(&mut self.pending)));
        }
        write_record(&self.items, &self.out_dir.join(TAR_SPLIT_FILE))?;
        Ok(Kept::Split)
    }
}

/// A reader that shows every byte it passes to a [`Recorder`] (when there is one).
pub(crate) struct RecordingReader<R> {
    inner: R,
    rec: Option<SharedRecorder>,
}

impl<R> RecordingReader<R> {
    /// Wraps `inner`.
    pub(crate) fn new(inner: R, rec: Option<SharedRecorder>) -> Self {
        RecordingReader { inner, rec }
    }
}

impl<R: Read> Read for RecordingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if let Some(r) = &self.rec {
            r.borrow_mut().observe(&buf[..n])?;
        }
        Ok(n)
    }
}

/// Moves the kept tar of temp snapshot `from` into the existing snapshot `to` if `to`
/// keeps none (it was unpacked from a compressed blob, or by an older Berth).
pub fn adopt(from: &Path, to: &Path) -> Result<(), ImageError> {
    if kept_in(to).is_some() {
        return Ok(());
    }
    let name = match kept_in(from) {
        Some(Kept::Split) => TAR_SPLIT_FILE,
        Some(Kept::Raw) => RAW_TAR_FILE,
        None => return Ok(()),
    };
    let dest = to.join(name);
    fs::rename(from.join(name), &dest).map_err(ImageError::io(&dest))?;
    // The content was synced with the load; the rename must be durable before the index
    // (written next) says the layer lives here.
    File::open(to)
        .and_then(|d| d.sync_all())
        .map_err(ImageError::io(to))
}
