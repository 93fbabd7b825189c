//! The build context: the request body of `POST /build` (a tar, plain or
//! compressed) unpacked into a private directory under `<data-root>/build`.
//!
//! The tar goes through the layer applier's [`extract`], which resolves every
//! entry inside the context directory (`RESOLVE_IN_ROOT`) and refuses names
//! climbing out of it, so neither `../x` nor a symlink planted by an earlier
//! entry can make an entry land on the host. A second thread reads the same
//! bytes and hashes every regular file's content as it streams past, so the
//! COPY/ADD cache digests ([`super::copy`]) never re-read the files.
//!
//! As moby's `builder/remotecontext`, the Dockerfile (`Dockerfile`, else
//! `dockerfile` when the default name was asked for) is read, then it and
//! `.dockerignore` are removed from the context only when `.dockerignore`
//! itself lists them.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;

use rustix::fs::{Mode, OFlags, ResolveFlags};
use sha2::{Digest, Sha256};

use berth::api::ErrorClass;
use berth::image::ImageError;
use berth::image::apply::{ExtractOptions, clean_components, extract, remove_at};
use berth::image::build::ignore;
use berth::image::snapshot::ChannelReader;
use berth::runtime::rootaccess::ContainerRoot;

/// The file name `dockerfile=` defaults to.
pub const DEFAULT_DOCKERFILE: &str = "Dockerfile";

/// Why a build context could not be received.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// A filesystem operation on the context directory failed.
    #[error("{what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The cause.
        source: io::Error,
    },
    /// The tar was malformed or hostile (an entry escaping the context).
    #[error("unpacking the build context: {0}")]
    Archive(#[source] ImageError),
    /// The compressed body could not be decompressed.
    #[error("decompressing the build context with {tool}: {reason}")]
    Decompress {
        /// The decompressor (`xz`, `bzip2`).
        tool: &'static str,
        /// What went wrong.
        reason: String,
    },
    /// The Dockerfile is not in the context (dockerd's wording).
    #[error("Cannot locate specified Dockerfile: {name}")]
    NoDockerfile {
        /// The name as requested.
        name: String,
    },
    /// The Dockerfile is empty (dockerd's wording).
    #[error("the Dockerfile ({name}) cannot be empty")]
    EmptyDockerfile {
        /// The name as requested.
        name: String,
    },
}

impl ContextError {
    /// The API class of the error.
    pub fn class(&self) -> ErrorClass {
        match self {
            ContextError::Io { .. } => ErrorClass::Internal,
            ContextError::Archive(e) => match e {
                ImageError::Io { .. } => ErrorClass::Internal,
                _ => ErrorClass::InvalidArgument,
            },
            ContextError::Decompress { .. }
            | ContextError::NoDockerfile { .. }
            | ContextError::EmptyDockerfile { .. } => ErrorClass::InvalidArgument,
        }
    }
}

fn io_err(what: impl Into<String>) -> impl FnOnce(io::Error) -> ContextError {
    let what = what.into();
    move |source| ContextError::Io { what, source }
}

fn errno_io(e: rustix::io::Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// A regular file's content digest, recorded while the context was unpacked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileSum {
    /// The content's length.
    pub size: u64,
    /// sha256 of the content.
    pub sha256: [u8; 32],
}

/// A received build context; its directory is removed when it is dropped.
#[derive(Debug)]
pub struct Context {
    /// `<work_dir>/tmp-<random>`, removed on drop.
    dir: PathBuf,
    /// The unpacked tree: `<dir>/context`.
    root: ContainerRoot,
    /// Content digests by context-relative path (`a/b`).
    sums: HashMap<Vec<u8>, FileSum>,
    dockerfile: String,
}

impl Drop for Context {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.dir)
            && e.kind() != io::ErrorKind::NotFound
        {
            tracing::warn!(dir = %self.dir.display(), "removing a build context: {e}");
        }
    }
}

/// Removes the `tmp-*` directories a previous daemon left in `work_dir`
/// (`<data-root>/build`); for daemon start, before any build runs.
pub fn sweep(work_dir: &Path) -> io::Result<usize> {
    let entries = match std::fs::read_dir(work_dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(e),
    };
    let mut removed = 0;
    for entry in entries {
        let entry = entry?;
        if entry.file_name().as_bytes().starts_with(b"tmp-") {
            std::fs::remove_dir_all(entry.path())?;
            removed += 1;
        }
    }
    Ok(removed)
}

impl Context {
    /// Reads the tar request body (plain, gzip, zstd, bzip2 or xz, sniffed as
    /// dockerd does), unpacking it safely into a fresh private directory under
    /// `work_dir` (`<data-root>/build`), and reads the Dockerfile `dockerfile`
    /// (context-relative; empty means `Dockerfile`). Blocking.
    pub fn receive(
        reader: impl Read + Send,
        work_dir: &Path,
        dockerfile: &str,
    ) -> Result<Context, ContextError> {
        berth::fsutil::create_private_dir(work_dir)
            .map_err(io_err(format!("creating {}", work_dir.display())))?;
        let dir = work_dir.join(format!("tmp-{}", &berth::fsutil::random_id()[..16]));
        berth::fsutil::create_private_dir(&dir.join("context"))
            .map_err(io_err(format!("creating {}", dir.display())))?;
        let root_dir = dir.join("context");
        let root = rustix::fs::open(
            &root_dir,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno_io)
        .and_then(ContainerRoot::from_dir)
        .map_err(io_err(format!("opening {}", root_dir.display())));
        // From here on the directory is removed on every exit.
        let mut ctx = Context {
            dir,
            root: match root {
                Ok(r) => r,
                Err(e) => {
                    let _ = std::fs::remove_dir_all(root_dir.parent().unwrap_or(&root_dir));
                    return Err(e);
                }
            },
            sums: HashMap::new(),
            dockerfile: String::new(),
        };
        ctx.sums = unpack(reader, ctx.root.fd(), &root_dir)?;
        let name = if dockerfile.is_empty() {
            DEFAULT_DOCKERFILE
        } else {
            dockerfile
        };
        let (used, text) = ctx.read_dockerfile(name)?;
        ctx.dockerfile = text;
        ctx.remove_ignored_build_files(&used)?;
        Ok(ctx)
    }

    /// The Dockerfile's text.
    pub fn dockerfile_text(&self) -> &str {
        &self.dockerfile
    }

    /// The unpacked tree (every lookup under it stays inside it:
    /// `RESOLVE_IN_ROOT`).
    pub fn root(&self) -> &ContainerRoot {
        &self.root
    }

    /// The build's private scratch directory (`<work_dir>/tmp-<random>`,
    /// beside the unpacked tree), removed with the context.
    pub fn scratch_dir(&self) -> &Path {
        &self.dir
    }

    /// The digest recorded for the regular file at `rel` (context-relative,
    /// `/`-separated, clean), if its size is still `size`.
    pub fn file_sum(&self, rel: &[u8], size: u64) -> Option<[u8; 32]> {
        self.sums
            .get(rel)
            .filter(|s| s.size == size)
            .map(|s| s.sha256)
    }

    /// Opens `rel` inside the context, following symlinks inside it.
    fn open_in(&self, rel: &[u8], flags: OFlags) -> io::Result<OwnedFd> {
        let path = if rel.is_empty() { b"." as &[u8] } else { rel };
        rustix::fs::openat2(
            self.root.fd(),
            OsStr::from_bytes(path),
            flags | OFlags::CLOEXEC,
            Mode::empty(),
            ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS,
        )
        .map_err(errno_io)
    }

    fn read_file(&self, rel: &[u8]) -> io::Result<Vec<u8>> {
        // Checked through an O_PATH descriptor first: opening a device node
        // the client put in its context could have side effects.
        let probe = self.open_in(rel, OFlags::PATH)?;
        let st = rustix::fs::fstat(&probe).map_err(errno_io)?;
        if rustix::fs::FileType::from_raw_mode(st.st_mode) != rustix::fs::FileType::RegularFile {
            return Err(io::Error::from_raw_os_error(libc::EISDIR));
        }
        // The directory is private to this build: nothing swaps the file meanwhile.
        let fd = self.open_in(rel, OFlags::RDONLY | OFlags::NONBLOCK)?;
        let mut buf = Vec::new();
        std::fs::File::from(fd).read_to_end(&mut buf)?;
        Ok(buf)
    }

    /// moby's `withDockerfileFromContext`: the Dockerfile, or `dockerfile`
    /// when the default name is missing. Returns the name used and the text.
    fn read_dockerfile(&self, name: &str) -> Result<(String, String), ContextError> {
        let rel = clean_rel(name.as_bytes());
        let bytes = match self.read_file(&rel) {
            Ok(b) => b,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                if name == DEFAULT_DOCKERFILE {
                    let lower = name.to_lowercase();
                    if let Ok(b) = self.read_file(lower.as_bytes()) {
                        return finish_dockerfile(lower, name, b);
                    }
                }
                return Err(ContextError::NoDockerfile {
                    name: name.to_string(),
                });
            }
            Err(e) => return Err(io_err(format!("reading the Dockerfile {name}"))(e)),
        };
        finish_dockerfile(String::from_utf8_lossy(&rel).into_owned(), name, bytes)
    }

    /// moby's `removeDockerfile`: `.dockerignore` and the Dockerfile leave the
    /// context only when `.dockerignore` lists them.
    fn remove_ignored_build_files(&mut self, dockerfile: &str) -> Result<(), ContextError> {
        let content = match self.read_file(b".dockerignore") {
            Ok(c) => c,
            Err(e) if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) => {
                return Ok(());
            }
            Err(e) => return Err(io_err("reading .dockerignore")(e)),
        };
        let excludes = ignore::read_all(&content);
        for file in [".dockerignore", dockerfile] {
            if !ignore::matches(file, &excludes).unwrap_or(false) {
                continue;
            }
            let rel = clean_rel(file.as_bytes());
            let Some((name, parent)) = split_last(&rel) else {
                continue;
            };
            let removed = self
                .open_in(parent, OFlags::RDONLY | OFlags::DIRECTORY)
                .and_then(|dir| remove_at(&dir, OsStr::from_bytes(name)));
            match removed {
                Ok(()) => {
                    self.sums.remove(&rel);
                }
                // moby logs and goes on.
                Err(e) => tracing::warn!("removing {file} from the build context: {e}"),
            }
        }
        Ok(())
    }
}

fn finish_dockerfile(
    used: String,
    asked: &str,
    bytes: Vec<u8>,
) -> Result<(String, String), ContextError> {
    if bytes.is_empty() {
        return Err(ContextError::EmptyDockerfile {
            name: asked.to_string(),
        });
    }
    Ok((used, String::from_utf8_lossy(&bytes).into_owned()))
}

/// `a/b` for `./a//b/`, `..` clamped at the root.
pub fn clean_rel(path: &[u8]) -> Vec<u8> {
    berth::runtime::rootaccess::components(path).join(&b'/')
}

/// `(last, parent)` of a clean relative path; `None` for the root.
fn split_last(rel: &[u8]) -> Option<(&[u8], &[u8])> {
    if rel.is_empty() {
        return None;
    }
    Some(match rel.iter().rposition(|&b| b == b'/') {
        Some(i) => (&rel[i + 1..], &rel[..i]),
        None => (rel, &[]),
    })
}

/// Compressions a context may come in (moby's `DecompressStream`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Packing {
    Plain,
    Gzip,
    Zstd,
    Bzip2,
    Xz,
}

impl Packing {
    pub(crate) fn detect(head: &[u8]) -> Packing {
        if head.starts_with(&[0x1f, 0x8b, 0x08]) {
            Packing::Gzip
        } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
            Packing::Zstd
        } else if head.starts_with(b"BZh") {
            Packing::Bzip2
        } else if head.starts_with(&[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]) {
            Packing::Xz
        } else {
            Packing::Plain
        }
    }
}

/// Runs `f` over the decompressed form of `reader`. bzip2 and xz go through
/// the system's `bzip2`/`xz` as dockerd runs `xz` (no Rust crate for them
/// here); the others are decoded in process.
pub(crate) fn with_decompressed<T, E>(
    reader: impl Read + Send,
    f: impl FnOnce(&mut dyn Read) -> Result<T, E>,
    wrap: impl Fn(&'static str, String) -> E,
) -> Result<T, E> {
    let mut reader = reader;
    let mut head = Vec::with_capacity(8);
    (&mut reader)
        .take(8)
        .read_to_end(&mut head)
        .map_err(|e| wrap("read", e.to_string()))?;
    let packing = Packing::detect(&head);
    let stream = io::Cursor::new(head).chain(reader);
    let tool = match packing {
        Packing::Plain => return f(&mut { stream }),
        Packing::Gzip => {
            return f(&mut flate2::read::MultiGzDecoder::new(io::BufReader::new(
                stream,
            )));
        }
        Packing::Zstd => {
            let mut d = zstd::stream::read::Decoder::new(stream)
                .map_err(|e| wrap("zstd", e.to_string()))?;
            return f(&mut d);
        }
        Packing::Bzip2 => "bzip2",
        Packing::Xz => "xz",
    };
    let mut child = Command::new(tool)
        .args(["-d", "-c", "-q"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| wrap(tool, format!("running {tool}: {e}")))?;
    let mut stdin = child.stdin.take().expect("piped");
    let mut stdout = child.stdout.take().expect("piped");
    let result = std::thread::scope(|s| {
        let pump = s.spawn(move || {
            let mut stream = stream;
            // A consumer that stops early closes the pipe: not an error here.
            let _ = io::copy(&mut stream, &mut stdin);
        });
        let r = f(&mut stdout);
        // Let the decompressor finish (or fail on a closed pipe) before waiting.
        drop(stdout);
        let _ = pump.join();
        r
    });
    let out = child
        .wait_with_output()
        .map_err(|e| wrap(tool, e.to_string()))?;
    let value = result?;
    if !out.status.success() {
        let msg = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(wrap(tool, format!("{}: {msg}", out.status)));
    }
    Ok(value)
}

/// Unpacks the (possibly compressed) tar into `root`, returning the content
/// digests of its regular files.
fn unpack(
    reader: impl Read + Send,
    root: BorrowedFd<'_>,
    root_path: &Path,
) -> Result<HashMap<Vec<u8>, FileSum>, ContextError> {
    with_decompressed(
        reader,
        |tar| {
            let root = root
                .try_clone_to_owned()
                .map_err(io_err("duplicating a descriptor"))?;
            let (tx, rx) = mpsc::sync_channel::<Vec<u8>>(64);
            std::thread::scope(|s| {
                let hasher = s.spawn(move || hash_entries(ChannelReader::new(rx)));
                let mut repaired = TarRepair::new(tar);
                let tee = Tee {
                    inner: &mut repaired,
                    tx,
                };
                let res = extract(
                    tee,
                    root,
                    root_path,
                    &[],
                    &ExtractOptions {
                        no_overwrite_dir_non_dir: false,
                        owner: None,
                        rebase: None,
                        id_map: None,
                    },
                );
                // `extract` dropped the tee: the hasher sees the end of the stream.
                let sums = hasher.join().unwrap_or_default();
                res.map_err(ContextError::Archive)?;
                Ok(sums)
            })
        },
        |tool, reason| ContextError::Decompress { tool, reason },
    )
}

/// Repairs what Go's tar reader tolerates and the tar crate does not, so
/// that every context dockerd accepts is accepted: numeric header fields
/// left blank (read as 0) and a stream that stops right after the last
/// entry's content, without padding or end blocks (what the docker CLI sends
/// for `-f -`). A stream cut inside a header or inside content is passed on
/// as it is, for the parser to refuse.
struct TarRepair<R> {
    inner: R,
    state: RepairState,
    /// Bytes to hand out before reading on (a header, synthesized zeros).
    pending: Vec<u8>,
    pos: usize,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RepairState {
    /// At a header block.
    Header,
    /// GNU sparse extension blocks follow, then `left` bytes of content.
    SparseExt { left: u64 },
    /// Inside an entry: content bytes left, then padding bytes left.
    Data { left: u64, pad: u64 },
    /// After the end marker (or a synthesized end): pass through.
    Raw,
    /// The repaired stream is over.
    Done,
}

const BLOCK: usize = 512;
/// ustar numeric fields: mode, uid, gid, size, mtime, devmajor, devminor.
const NUMERIC_FIELDS: [(usize, usize); 7] = [
    (100, 8),
    (108, 8),
    (116, 8),
    (124, 12),
    (136, 12),
    (329, 8),
    (337, 8),
];

impl<R: Read> TarRepair<R> {
    fn new(inner: R) -> TarRepair<R> {
        TarRepair {
            inner,
            state: RepairState::Header,
            pending: Vec::new(),
            pos: 0,
        }
    }

    /// Reads up to a whole block; fewer bytes only at the end of the input.
    fn read_block(&mut self) -> io::Result<Vec<u8>> {
        let mut block = vec![0u8; BLOCK];
        let mut got = 0;
        while got < BLOCK {
            match self.inner.read(&mut block[got..]) {
                Ok(0) => break,
                Ok(n) => got += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        block.truncate(got);
        Ok(block)
    }

    /// Ends the stream with the two zero blocks of a tar's end.
    fn finish_with(&mut self, zeros: usize) {
        self.pending = vec![0u8; zeros + 2 * BLOCK];
        self.pos = 0;
        self.state = RepairState::Done;
    }

    fn queue(&mut self, bytes: Vec<u8>) {
        self.pending = bytes;
        self.pos = 0;
    }
}

/// Fills blank numeric fields with zeros and fixes the checksum; returns the
/// entry's content size and whether GNU sparse extension blocks follow.
fn repair_header(block: &mut [u8]) -> (u64, bool) {
    let mut changed = false;
    for (off, len) in NUMERIC_FIELDS {
        let field = &mut block[off..off + len];
        if field.iter().all(|&b| b == 0 || b == b' ') {
            field[..len - 1].fill(b'0');
            field[len - 1] = 0;
            changed = true;
        }
    }
    if changed {
        block[148..156].fill(b' ');
        let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
        block[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }
    let size_field = &block[124..136];
    let size = if size_field[0] & 0x80 != 0 {
        // GNU base-256.
        size_field[1..]
            .iter()
            .fold(0u64, |n, &b| n.wrapping_shl(8) | u64::from(b))
    } else {
        let text: String = size_field
            .iter()
            .take_while(|&&b| b != 0)
            .map(|&b| b as char)
            .collect();
        u64::from_str_radix(text.trim(), 8).unwrap_or(0)
    };
    let sparse_ext = block[156] == b'S' && block[482] != 0;
    (size, sparse_ext)
}

impl<R: Read> Read for TarRepair<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if self.pos < self.pending.len() {
                let n = buf.len().min(self.pending.len() - self.pos);
                buf[..n].copy_from_slice(&self.pending[self.pos..self.pos + n]);
                self.pos += n;
                return Ok(n);
            }
            match self.state {
                RepairState::Done => return Ok(0),
                RepairState::Raw => return self.inner.read(buf),
                RepairState::Header => {
                    let mut block = self.read_block()?;
                    if block.is_empty() {
                        self.finish_with(0);
                        continue;
                    }
                    if block.len() < BLOCK || block.iter().all(|&b| b == 0) {
                        // A cut header (the parser refuses it) or the end marker.
                        self.state = RepairState::Raw;
                        self.queue(block);
                        continue;
                    }
                    let (size, ext) = repair_header(&mut block);
                    self.state = if ext {
                        RepairState::SparseExt { left: size }
                    } else {
                        RepairState::Data {
                            left: size,
                            pad: (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64,
                        }
                    };
                    self.queue(block);
                }
                RepairState::SparseExt { left } => {
                    let block = self.read_block()?;
                    if block.len() == BLOCK && block[504] == 0 {
                        self.state = RepairState::Data {
                            left,
                            pad: (BLOCK as u64 - left % BLOCK as u64) % BLOCK as u64,
                        };
                    } else if block.len() < BLOCK {
                        self.state = RepairState::Raw;
                    }
                    self.queue(block);
                }
                RepairState::Data { left, pad } if left > 0 => {
                    let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
                    let n = self.inner.read(&mut buf[..want])?;
                    if n == 0 {
                        // Cut inside the content: let the parser say so.
                        self.state = RepairState::Done;
                        return Ok(0);
                    }
                    self.state = RepairState::Data {
                        left: left - n as u64,
                        pad,
                    };
                    return Ok(n);
                }
                RepairState::Data { pad, .. } if pad > 0 => {
                    let want = buf.len().min(pad as usize);
                    let n = self.inner.read(&mut buf[..want])?;
                    if n == 0 {
                        // The stream ends right after the content (docker CLI):
                        // pad and end it as Go's reader assumes.
                        self.finish_with(pad as usize);
                        continue;
                    }
                    self.state = RepairState::Data {
                        left: 0,
                        pad: pad - n as u64,
                    };
                    return Ok(n);
                }
                RepairState::Data { .. } => self.state = RepairState::Header,
            }
        }
    }
}

/// Passes the bytes read through to a channel as well.
struct Tee<'a> {
    inner: &'a mut dyn Read,
    tx: mpsc::SyncSender<Vec<u8>>,
}

impl Read for Tee<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 {
            // The hasher stopping (a tar it cannot parse) must not stop the
            // extraction, which reports the error itself.
            let _ = self.tx.send(buf[..n].to_vec());
        }
        Ok(n)
    }
}

/// Hashes every regular file of the tar read from `r`; a hardlink gets its
/// target's digest. Stops quietly on a malformed tar (extraction reports it).
fn hash_entries(r: impl Read) -> HashMap<Vec<u8>, FileSum> {
    let mut sums = HashMap::new();
    let mut archive = tar::Archive::new(r);
    let Ok(entries) = archive.entries() else {
        return sums;
    };
    let mut buf = vec![0u8; 256 * 1024];
    for entry in entries {
        let Ok(mut entry) = entry else { break };
        let Some(name) = clean_components(&entry.path_bytes()).map(|c| c.join(&b'/')) else {
            break;
        };
        match entry.header().entry_type() {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let mut h = Sha256::new();
                let mut size = 0u64;
                loop {
                    match entry.read(&mut buf) {
                        Ok(0) => break,
                        Ok(n) => {
                            h.update(&buf[..n]);
                            size += n as u64;
                        }
                        Err(_) => return sums,
                    }
                }
                sums.insert(
                    name,
                    FileSum {
                        size,
                        sha256: h.finalize().into(),
                    },
                );
            }
            tar::EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .and_then(|t| clean_components(&t))
                    .map(|c| c.join(&b'/'));
                match target.and_then(|t| sums.get(&t).copied()) {
                    Some(sum) => sums.insert(name, sum),
                    None => sums.remove(&name),
                };
            }
            _ => {
                sums.remove(&name);
            }
        }
    }
    // Returning drops the receiver: the tee's sends fail instead of blocking.
    sums
}

/// Writes a tar of `files` (`(name, content, mode)`; a name ending in `/` is a
/// directory, `@link:name->target` a symlink, `@hard:name->target` a hardlink)
/// for tests of this module and [`super::copy`].
#[cfg(test)]
pub(crate) fn test_tar(files: &[(&str, &[u8], u32)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, content, mode) in files {
        let mut h = tar::Header::new_gnu();
        h.set_mode(*mode);
        h.set_mtime(1_600_000_000);
        h.set_uid(0);
        h.set_gid(0);
        if name.contains("..") && !name.starts_with('@') {
            // A hostile name the builder would refuse: written raw.
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(content.len() as u64);
            h.as_old_mut().name[..name.len()].copy_from_slice(name.as_bytes());
            h.set_cksum();
            b.append(&h, *content).unwrap();
        } else if let Some(target) = name.strip_prefix("@hard:") {
            let (n, t) = target.split_once("->").expect("name->target");
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            b.append_link(&mut h, n, t).unwrap();
        } else if let Some(target) = name.strip_prefix("@link:") {
            let (n, t) = target.split_once("->").expect("name->target");
            h.set_entry_type(tar::EntryType::Symlink);
            h.set_size(0);
            b.append_link(&mut h, n, t).unwrap();
        } else if name.ends_with('/') {
            h.set_entry_type(tar::EntryType::Directory);
            h.set_size(0);
            b.append_data(&mut h, name, io::empty()).unwrap();
        } else {
            h.set_entry_type(tar::EntryType::Regular);
            h.set_size(content.len() as u64);
            b.append_data(&mut h, name, *content).unwrap();
        }
    }
    b.into_inner().unwrap()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn sha(b: &[u8]) -> [u8; 32] {
        Sha256::digest(b).into()
    }

    #[test]
    fn receives_plain_and_gzip_with_digests_and_cleans_up() {
        let work = tempfile::tempdir().unwrap();
        let tar = test_tar(&[
            ("Dockerfile", b"FROM scratch\n", 0o644),
            ("dir/", b"", 0o755),
            ("dir/a.txt", b"hello", 0o600),
        ]);
        let dir;
        {
            let ctx = Context::receive(&tar[..], work.path(), "").unwrap();
            assert_eq!(ctx.dockerfile_text(), "FROM scratch\n");
            assert_eq!(ctx.file_sum(b"dir/a.txt", 5), Some(sha(b"hello")));
            assert_eq!(ctx.file_sum(b"dir/a.txt", 4), None);
            dir = ctx.dir.clone();
            let st = std::fs::metadata(dir.join("context/dir/a.txt")).unwrap();
            assert_eq!(
                std::os::unix::fs::PermissionsExt::mode(&st.permissions()) & 0o777,
                0o600
            );
        }
        assert!(!dir.exists(), "the context directory is removed on drop");

        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        let ctx = Context::receive(&gz[..], work.path(), "Dockerfile").unwrap();
        assert_eq!(ctx.file_sum(b"dir/a.txt", 5), Some(sha(b"hello")));

        // A leftover from a crashed daemon is swept; live ones are not ours to keep.
        drop(ctx);
        std::fs::create_dir(work.path().join("tmp-left")).unwrap();
        std::fs::create_dir(work.path().join("cache")).unwrap();
        assert_eq!(sweep(work.path()).unwrap(), 1);
        assert!(work.path().join("cache").exists());
    }

    #[test]
    fn blank_numeric_fields_and_a_missing_end_are_accepted_as_dockerd_does() {
        let work = tempfile::tempdir().unwrap();
        // ustar headers with no uid/gid (what a careless writer leaves).
        let mut b = tar::Builder::new(Vec::new());
        for (name, data) in [("Dockerfile", &b"FROM a\n"[..]), ("f", &b"x"[..])] {
            let mut h = tar::Header::new_ustar();
            h.set_mode(0o644);
            h.set_size(data.len() as u64);
            h.set_mtime(1_700_000_000);
            b.append_data(&mut h, name, data).unwrap();
        }
        let tar = b.into_inner().unwrap();
        let ctx = Context::receive(&tar[..], work.path(), "").unwrap();
        assert_eq!(ctx.dockerfile_text(), "FROM a\n");
        assert_eq!(ctx.file_sum(b"f", 1), Some(sha(b"x")));
        // The docker CLI's `-f -` stream: the last content unpadded, no end blocks.
        let cut = &tar[..512 + 512 + 512 + 1];
        let ctx = Context::receive(cut, work.path(), "").unwrap();
        assert_eq!(ctx.file_sum(b"f", 1), Some(sha(b"x")));
        let cut = &tar[..1024];
        assert!(Context::receive(cut, work.path(), "").is_ok());
        // Cut inside a header or inside content: refused.
        assert!(Context::receive(&tar[..1024 + 100], work.path(), "").is_err());
        assert!(Context::receive(&tar[..512 + 3], work.path(), "").is_err());
    }

    #[test]
    fn xz_and_bzip2_contexts_go_through_the_system_tools() {
        let work = tempfile::tempdir().unwrap();
        let tar = test_tar(&[("Dockerfile", b"FROM busybox\n", 0o644)]);
        for tool in ["xz", "bzip2"] {
            let out = Command::new(tool)
                .args(["-c", "-z"])
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .spawn()
                .and_then(|mut c| {
                    c.stdin.take().unwrap().write_all(&tar)?;
                    c.wait_with_output()
                })
                .unwrap();
            let ctx = Context::receive(&out.stdout[..], work.path(), "").unwrap();
            assert_eq!(ctx.dockerfile_text(), "FROM busybox\n", "{tool}");
        }
    }

    #[test]
    fn dockerfile_lookup_follows_moby() {
        let work = tempfile::tempdir().unwrap();
        let tar = test_tar(&[("dockerfile", b"FROM a\n", 0o644)]);
        let ctx = Context::receive(&tar[..], work.path(), "").unwrap();
        assert_eq!(ctx.dockerfile_text(), "FROM a\n");
        let e = Context::receive(&tar[..], work.path(), "sub/Dockerfile").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Cannot locate specified Dockerfile: sub/Dockerfile"
        );
        let tar = test_tar(&[("Dockerfile", b"", 0o644)]);
        let e = Context::receive(&tar[..], work.path(), "").unwrap_err();
        assert_eq!(e.to_string(), "the Dockerfile (Dockerfile) cannot be empty");
        // Nothing is left behind by the failures.
        drop(ctx);
        assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
    }

    #[test]
    fn ignored_build_files_are_removed_only_when_listed() {
        let work = tempfile::tempdir().unwrap();
        let tar = test_tar(&[
            ("Dockerfile", b"FROM a\n", 0o644),
            (".dockerignore", b"Dockerfile\n.dockerignore\n", 0o644),
            ("keep", b"k", 0o644),
        ]);
        let ctx = Context::receive(&tar[..], work.path(), "").unwrap();
        assert_eq!(ctx.dockerfile_text(), "FROM a\n");
        assert!(ctx.open_in(b"Dockerfile", OFlags::PATH).is_err());
        assert!(ctx.open_in(b".dockerignore", OFlags::PATH).is_err());
        assert!(ctx.open_in(b"keep", OFlags::PATH).is_ok());
        assert_eq!(ctx.file_sum(b"Dockerfile", 7), None);

        let tar = test_tar(&[
            ("Dockerfile", b"FROM a\n", 0o644),
            (".dockerignore", b"other\n", 0o644),
        ]);
        let ctx = Context::receive(&tar[..], work.path(), "").unwrap();
        assert!(ctx.open_in(b"Dockerfile", OFlags::PATH).is_ok());
        assert!(ctx.open_in(b".dockerignore", OFlags::PATH).is_ok());
    }

    #[test]
    fn hostile_context_tars_never_reach_the_host() {
        let work = tempfile::tempdir().unwrap();
        let outside = tempfile::Builder::new()
            .prefix("berth-ctx-outside-")
            .tempdir()
            .unwrap();
        let target = outside.path().to_str().unwrap().to_string();
        // `..` is refused outright.
        let tar = test_tar(&[("Dockerfile", b"FROM a\n", 0o644), ("../x", b"x", 0o644)]);
        let e = Context::receive(&tar[..], work.path(), "").unwrap_err();
        assert_eq!(e.class(), ErrorClass::InvalidArgument, "{e}");
        // An absolute symlink, then a file written through it: lands inside.
        let link = format!("@link:esc->{target}");
        let tar = test_tar(&[
            ("Dockerfile", b"FROM a\n", 0o644),
            (&link, b"", 0o777),
            ("esc/pwned", b"x", 0o644),
        ]);
        let ctx = Context::receive(&tar[..], work.path(), "").unwrap();
        assert!(!outside.path().join("pwned").exists());
        let inside = format!("{}/pwned", target.trim_start_matches('/'));
        assert!(ctx.open_in(inside.as_bytes(), OFlags::PATH).is_ok());
        // The Dockerfile itself as a symlink out of the context resolves inside.
        std::fs::write(outside.path().join("Dockerfile"), "FROM host\n").unwrap();
        let link = format!("@link:Dockerfile->{target}/Dockerfile");
        let tar = test_tar(&[(&link, b"", 0o777)]);
        let e = Context::receive(&tar[..], work.path(), "").unwrap_err();
        assert!(matches!(e, ContextError::NoDockerfile { .. }), "{e}");
        drop(ctx);
        assert_eq!(std::fs::read_dir(work.path()).unwrap().count(), 0);
    }
}
