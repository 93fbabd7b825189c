//! COPY and ADD with the classic builder's semantics (moby 20.10
//! `builder/dockerfile/copy.go`, `internals.go`), plus BuildKit's `--chmod`,
//! `--checksum` and heredoc files.
//!
//! [`plan`] resolves the sources — each path relative to the source root (the
//! context, or a `--from` stage/image root), symlinks followed inside it (a
//! context path climbing out with `..` is refused, as dockerd does), wildcards matched like Go's `filepath.Match`
//! against every path of the root — walks them without following symlinks,
//! downloads ADD URLs ([`super::fetch`]) and computes the cache digest. Nothing
//! is written to the image until [`CopyPlan::apply`], which turns the planned
//! nodes into one tar stream per run of sources and unpacks it with the layer
//! applier's [`extract`] into the destination root: every name is resolved
//! there with `RESOLVE_IN_ROOT`, so an image whose `/usr` is a symlink to `/`
//! or `..` keeps the writes inside the image.
//!
//! Docker's rules kept: several sources need a destination ending in `/`; a
//! directory source copies its contents; a relative destination is relative
//! to WORKDIR; a file goes into the destination when that ends in `/` or is an
//! existing directory; missing directories are created 0755 and owned by the
//! `--chown` user (0:0 by default), existing ones are left alone; file modes
//! and mtimes (whole seconds) are kept, owners are the `--chown` user's; a
//! symlink named as a source is followed, symlinks inside a copied directory
//! are copied as symlinks; hardlinks stay hardlinks within one COPY; ADD
//! unpacks local tar archives (plain, gzip, bzip2, xz; owners from the tar, as
//! dockerd's `UntarPath`) but never downloads; downloaded files are 0600 with
//! the mtime of `Last-Modified`.

use std::collections::HashMap;
use std::ffi::OsStr;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;

use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;
use sha2::{Digest, Sha256};

use berth::api::ErrorClass;
use berth::image::ImageError;
use berth::image::apply::{ExtractOptions, extract};
use berth::runtime::rootaccess::{ContainerRoot, components};

use super::context::{Context, with_decompressed};
use super::fetch::{self, FetchError, go_error};

/// The file name of a download whose URL and headers give none (moby's).
const UNNAMED_FILENAME: &str = "__unnamed__";

/// Why a COPY or ADD failed; messages are dockerd's.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    /// A source that is not in the source root.
    #[error(
        "{cmd} failed: file not found in build context or excluded by .dockerignore: stat {path}: file does not exist"
    )]
    NotFound {
        /// `COPY` or `ADD`.
        cmd: &'static str,
        /// The source as cleaned.
        path: String,
    },
    /// A context source climbing out of the context with `..`.
    #[error("{cmd} failed: forbidden path outside the build context: {path} ()")]
    OutsideContext {
        /// `COPY` or `ADD`.
        cmd: &'static str,
        /// The source as written.
        path: String,
    },
    /// No source at all (wildcards matching nothing).
    #[error("{cmd} failed: no source files were specified")]
    NoSources {
        /// `COPY` or `ADD`.
        cmd: &'static str,
    },
    /// A URL given to COPY.
    #[error("COPY failed: source can't be a URL for COPY")]
    UrlForCopy,
    /// Several sources into a destination without a trailing `/`.
    #[error(
        "When using {cmd} with more than one source file, the destination must be a directory and end with a /"
    )]
    DestNotDir {
        /// `COPY` or `ADD`.
        cmd: &'static str,
    },
    /// A download with no file name into a directory destination.
    #[error("ADD failed: cannot determine filename for source {url}")]
    NoFilename {
        /// The URL.
        url: String,
    },
    /// `--checksum` on a source that is not a URL.
    #[error("checksum can't be specified for non-HTTP(S) sources: {source_path}")]
    ChecksumNotUrl {
        /// The offending source.
        source_path: String,
    },
    /// A malformed `--chown` value.
    #[error("invalid chown string format: {0}")]
    ChownFormat(String),
    /// A `--chown` name missing from the destination's passwd or group file.
    #[error(
        "unable to convert uid/gid chown string to host mapping: can't find {what} for {kind} {name}: {reason}"
    )]
    Chown {
        /// `uid` or `gid`.
        what: &'static str,
        /// `user` or `group`.
        kind: &'static str,
        /// The name.
        name: String,
        /// Why (`no such user: x`, a read error).
        reason: String,
    },
    /// A `--chmod` value that is not octal.
    #[error("invalid chmod flag {0}")]
    Chmod(String),
    /// Downloading an ADD URL failed.
    #[error("{cmd} failed: {source}")]
    Fetch {
        /// `ADD`.
        cmd: &'static str,
        /// The cause.
        source: FetchError,
    },
    /// Reading a source failed.
    #[error("{cmd} failed: reading {path}: {source}")]
    Source {
        /// `COPY` or `ADD`.
        cmd: &'static str,
        /// The source path.
        path: String,
        /// The cause.
        source: io::Error,
    },
    /// Writing into the destination failed.
    #[error("failed to copy files: {0}")]
    Write(String),
    /// Unpacking into the destination failed.
    #[error("failed to copy files: {0}")]
    Extract(#[source] ImageError),
}

impl CopyError {
    /// The API class of the error.
    pub fn class(&self) -> ErrorClass {
        match self {
            CopyError::Fetch { source, .. } => source.class(),
            CopyError::Source { .. } | CopyError::Write(_) => ErrorClass::Internal,
            CopyError::Extract(e) => e.class(),
            _ => ErrorClass::InvalidArgument,
        }
    }
}

fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// Where COPY/ADD read from.
#[derive(Debug, Clone, Copy)]
pub enum Source<'a> {
    /// The build context.
    Context(&'a Context),
    /// A `--from` stage's or image's root (read-only overlay).
    Root(&'a ContainerRoot),
}

impl Source<'_> {
    fn root(&self) -> &ContainerRoot {
        match self {
            Source::Context(c) => c.root(),
            Source::Root(r) => r,
        }
    }
}

/// One COPY or ADD, its words already expanded.
#[derive(Debug, Clone, Default)]
pub struct CopyRequest {
    /// The sources as written (paths, wildcards, ADD URLs).
    pub sources: Vec<String>,
    /// The destination as written.
    pub dest: String,
    /// The stage's WORKDIR at this step (`""` is `/`).
    pub workdir: String,
    /// `--chown=user[:group]`.
    pub chown: Option<String>,
    /// `--chmod=<octal>`.
    pub chmod: Option<String>,
    /// ADD rather than COPY.
    pub add: bool,
    /// ADD `--checksum=sha256:<hex>`.
    pub checksum: Option<String>,
    /// Heredoc files: name and (expanded) content.
    pub heredocs: Vec<(String, Vec<u8>)>,
}

/// What a source node is.
#[derive(Debug, Clone, PartialEq, Eq)]
enum NodeKind {
    Dir,
    File { size: u64, sha256: [u8; 32] },
    Symlink(Vec<u8>),
    Fifo,
    Char(u64),
    Block(u64),
}

/// One file, directory or link of a source, as walked.
#[derive(Debug, Clone)]
struct Node {
    /// The path below the item's base; empty for the base itself.
    rel: Vec<Vec<u8>>,
    kind: NodeKind,
    /// Permission bits with set-id and sticky bits.
    mode: u32,
    uid: u32,
    gid: u32,
    mtime: i64,
    /// `(dev, ino)` of a multiply-linked file.
    link_key: Option<(u64, u64)>,
}

/// Where a node's content comes from.
#[derive(Debug)]
enum Body {
    /// A tree in the source root: `base` (resolved) and its nodes; `dir` when
    /// the base is a directory (its contents are copied, not itself).
    Tree {
        base: Vec<Vec<u8>>,
        dir: bool,
        nodes: Vec<Node>,
    },
    /// An ADD archive in the source root, unpacked into the destination.
    Archive {
        base: Vec<Vec<u8>>,
        sha256: [u8; 32],
    },
    /// A heredoc or a download: one regular file.
    File {
        data: FileData,
        mode: u32,
        mtime: i64,
        size: u64,
        sha256: [u8; 32],
    },
}

#[derive(Debug)]
enum FileData {
    Inline(Vec<u8>),
    Host(PathBuf),
}

#[derive(Debug)]
struct Item {
    /// Go's `filepath.Base` of the source as written (the name in a directory destination).
    name: Vec<u8>,
    /// The source as written, for the digest and errors.
    orig: String,
    body: Body,
}

/// A resolved COPY/ADD, ready to be applied to a destination root.
#[derive(Debug)]
pub struct CopyPlan {
    cmd: &'static str,
    /// The destination made absolute (WORKDIR joined), trailing `/` kept.
    dest: String,
    items: Vec<Item>,
    chown: Option<String>,
    chmod: Option<u32>,
    digest: String,
    /// `file:<hex>` / `dir:<hex>` of each item, for [`CopyPlan::source_hash`].
    item_digests: Vec<String>,
    /// Downloaded files live here until the plan is dropped.
    _downloads: Option<tempfile::TempDir>,
}

/// `http://` or `https://`, as moby's `urlutil.IsURL`.
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// moby's `normalizeDest`: a relative destination is joined to WORKDIR, a
/// trailing `/` kept.
pub fn normalize_dest(workdir: &str, dest: &str) -> String {
    if dest.starts_with('/') {
        return dest.to_string();
    }
    let joined = format!("/{workdir}/{dest}");
    let mut out = berth::runtime::rootaccess::absolute(&components(joined.as_bytes()));
    if dest.ends_with('/') && out != b"/" {
        out.push(b'/');
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Resolves wildcards, downloads ADD URLs, and computes the cache digest;
/// blocking; no writes to the image.
pub fn plan(src: &Source<'_>, req: &CopyRequest) -> Result<CopyPlan, CopyError> {
    let cmd = if req.add { "ADD" } else { "COPY" };
    let chmod = req
        .chmod
        .as_deref()
        .map(|s| u32::from_str_radix(s, 8).map_err(|_| CopyError::Chmod(s.to_string())))
        .transpose()?;
    if let Some(c) = &req.chown
        && c.split(':').count() > 2
    {
        return Err(CopyError::ChownFormat(c.clone()));
    }
    if req.checksum.is_some()
        && let Some(s) = req.sources.iter().find(|s| !is_url(s))
    {
        return Err(CopyError::ChecksumNotUrl {
            source_path: s.clone(),
        });
    }
    let mut items = Vec::new();
    let mut downloads: Option<tempfile::TempDir> = None;
    for orig in &req.sources {
        if is_url(orig) {
            if !req.add {
                return Err(CopyError::UrlForCopy);
            }
            let dir = match &downloads {
                Some(d) => d,
                None => {
                    // Beside the context, under the data root (swept at start).
                    let b = tempfile::Builder::new()
                        .prefix("download-")
                        .tempdir_in(match src {
                            Source::Context(c) => c.scratch_dir().to_path_buf(),
                            Source::Root(_) => std::env::temp_dir(),
                        });
                    downloads.insert(
                        b.map_err(|e| CopyError::Write(format!("creating a download dir: {e}")))?,
                    )
                }
            };
            let sub = dir.path().join(items.len().to_string());
            std::fs::create_dir(&sub)
                .map_err(|e| CopyError::Write(format!("creating {}: {e}", sub.display())))?;
            let d = fetch::download(orig, &sub, req.checksum.as_deref())
                .map_err(|source| CopyError::Fetch { cmd, source })?;
            let name = match d.filename.as_deref() {
                Some(n) => n.to_string(),
                None if req.dest.ends_with('/') => {
                    return Err(CopyError::NoFilename { url: orig.clone() });
                }
                None => UNNAMED_FILENAME.to_string(),
            };
            items.push(Item {
                name: name.into_bytes(),
                orig: orig.clone(),
                body: Body::File {
                    data: FileData::Host(d.path),
                    mode: 0o600,
                    mtime: d.mtime,
                    size: d.size,
                    sha256: d.sha256,
                },
            });
            continue;
        }
        items.extend(calc_copy_info(src, cmd, orig, req.add, true)?);
    }
    let now = chrono::Utc::now().timestamp();
    for (name, content) in &req.heredocs {
        items.push(Item {
            name: name.clone().into_bytes(),
            orig: format!("<<{name}"),
            body: Body::File {
                mode: 0o644,
                mtime: now,
                size: content.len() as u64,
                sha256: Sha256::digest(content).into(),
                data: FileData::Inline(content.clone()),
            },
        });
    }
    if items.is_empty() {
        return Err(CopyError::NoSources { cmd });
    }
    if items.len() > 1 && !req.dest.ends_with('/') {
        return Err(CopyError::DestNotDir { cmd });
    }
    let dest = normalize_dest(&req.workdir, &req.dest);
    let mut plan = CopyPlan {
        cmd,
        dest,
        items,
        chown: req.chown.clone(),
        chmod,
        digest: String::new(),
        item_digests: Vec::new(),
        _downloads: downloads,
    };
    plan.compute_digest();
    Ok(plan)
}

/// Strips what moby's `calcCopyInfo` strips: one leading `/`, one leading `./`.
fn trim_source(orig: &str) -> &str {
    let p = if orig.len() > 1 {
        orig.strip_prefix('/').unwrap_or(orig)
    } else {
        orig
    };
    p.strip_prefix("./").unwrap_or(p)
}

/// moby's `containsWildcards`: `*`, `?` or `[` not escaped by `\`.
fn contains_wildcards(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'*' | b'?' | b'[' => return true,
            _ => {}
        }
        i += 1;
    }
    false
}

/// Whether a context-relative source climbs out of the context (Go's
/// `path.Clean` of it starts with `..`), which dockerd refuses.
fn escapes_context(path: &str) -> bool {
    let mut depth: usize = 0;
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => match depth.checked_sub(1) {
                Some(d) => depth = d,
                None => return true,
            },
            _ => depth += 1,
        }
    }
    false
}

/// moby's `calcCopyInfo`: the items a source names.
fn calc_copy_info(
    src: &Source<'_>,
    cmd: &'static str,
    orig: &str,
    add: bool,
    allow_wildcards: bool,
) -> Result<Vec<Item>, CopyError> {
    let path = trim_source(orig);
    if matches!(src, Source::Context(_)) && escapes_context(path) {
        return Err(CopyError::OutsideContext {
            cmd,
            path: path.to_string(),
        });
    }
    if allow_wildcards && contains_wildcards(path) {
        let mut out = Vec::new();
        for rel in wildcard_matches(src, cmd, path)? {
            let rel = String::from_utf8_lossy(&rel).into_owned();
            out.extend(calc_copy_info(src, cmd, &rel, add, false)?);
        }
        return Ok(out);
    }
    let read_err = |source: io::Error| CopyError::Source {
        cmd,
        path: path.to_string(),
        source,
    };
    let not_found = || CopyError::NotFound {
        cmd,
        path: path.to_string(),
    };
    // A missing source (or one behind a dangling or looping link) is "not found".
    let lookup_err = |e: io::Error| match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP) => not_found(),
        _ => read_err(e),
    };
    let base = src
        .root()
        .resolve(path.as_bytes(), true)
        .map_err(lookup_err)?;
    let st = stat_in(src.root(), &base).map_err(lookup_err)?;
    let ft = FileType::from_raw_mode(st.st_mode);
    let name = base_name(path);
    let body = if ft == FileType::Directory {
        let mut nodes = Vec::new();
        walk(src, &base, &mut Vec::new(), &mut nodes).map_err(read_err)?;
        Body::Tree {
            base,
            dir: true,
            nodes,
        }
    } else if add && ft == FileType::RegularFile && is_archive(src, &base) {
        let node = node_of(src, &base, Vec::new(), &st).map_err(read_err)?;
        let sha256 = match node.map(|n| n.kind) {
            Some(NodeKind::File { sha256, .. }) => sha256,
            _ => return Err(not_found()),
        };
        Body::Archive { base, sha256 }
    } else {
        let node = node_of(src, &base, Vec::new(), &st).map_err(read_err)?;
        Body::Tree {
            base,
            dir: false,
            nodes: node.into_iter().collect(),
        }
    };
    Ok(vec![Item {
        name,
        orig: orig.to_string(),
        body,
    }])
}

/// Go's `filepath.Base` of a source path, as bytes.
fn base_name(path: &str) -> Vec<u8> {
    let t = path.trim_end_matches('/');
    if t.is_empty() {
        return if path.is_empty() {
            b".".to_vec()
        } else {
            b"/".to_vec()
        };
    }
    t.rsplit('/').next().unwrap_or(t).as_bytes().to_vec()
}

/// Every path of the source root matching `pattern` (Go's `filepath.Match`),
/// in walk order; only directories that can still match are entered.
fn wildcard_matches(
    src: &Source<'_>,
    cmd: &'static str,
    pattern: &str,
) -> Result<Vec<Vec<u8>>, CopyError> {
    let parts: Vec<&str> = pattern.split('/').collect();
    let mut out = Vec::new();
    let root = src
        .root()
        .open(&[], OFlags::RDONLY | OFlags::DIRECTORY)
        .map_err(|source| CopyError::Source {
            cmd,
            path: ".".into(),
            source,
        })?;
    // Depth-first in name order, as Go's filepath.Walk.
    fn visit(
        dir: &OwnedFd,
        prefix: &[u8],
        depth: usize,
        parts: &[&str],
        pattern: &str,
        out: &mut Vec<Vec<u8>>,
    ) -> io::Result<()> {
        for name in sorted_names(dir)? {
            let mut rel = prefix.to_vec();
            if !rel.is_empty() {
                rel.push(b'/');
            }
            rel.extend_from_slice(&name);
            let rel_s = String::from_utf8_lossy(&rel);
            if go_match(pattern, &rel_s).unwrap_or(false) {
                out.push(rel.clone());
            }
            let comp = String::from_utf8_lossy(&name);
            let may_descend =
                depth + 1 < parts.len() && go_match(parts[depth], &comp).unwrap_or(false);
            if !may_descend {
                continue;
            }
            let child = match rustix::fs::openat(
                dir,
                OsStr::from_bytes(&name),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(c) => c,
                // Not a directory (or a symlink, which Walk does not enter).
                Err(Errno::NOTDIR | Errno::LOOP | Errno::NOENT) => continue,
                Err(e) => return Err(errno_io(e)),
            };
            visit(&child, &rel, depth + 1, parts, pattern, out)?;
        }
        Ok(())
    }
    visit(&root, &[], 0, &parts, pattern, &mut out).map_err(|source| CopyError::Source {
        cmd,
        path: pattern.to_string(),
        source,
    })?;
    Ok(out)
}

fn sorted_names(dir: &OwnedFd) -> io::Result<Vec<Vec<u8>>> {
    let mut names = Vec::new();
    for e in rustix::fs::Dir::read_from(dir).map_err(errno_io)? {
        let e = e.map_err(errno_io)?;
        let n = e.file_name().to_bytes();
        if n != b"." && n != b".." {
            names.push(n.to_vec());
        }
    }
    names.sort();
    Ok(names)
}

/// Walks the directory `base` (resolved, in the source root) below `rel`
/// without following symlinks, appending its nodes in name order.
fn walk(
    src: &Source<'_>,
    base: &[Vec<u8>],
    rel: &mut Vec<Vec<u8>>,
    out: &mut Vec<Node>,
) -> io::Result<()> {
    let path = [base, rel.as_slice()].concat();
    let dir = src
        .root()
        .open(&path, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW)?;
    for name in sorted_names(&dir)? {
        let st = match rustix::fs::statat(&dir, OsStr::from_bytes(&name), AtFlags::SYMLINK_NOFOLLOW)
        {
            Ok(st) => st,
            Err(Errno::NOENT) => continue,
            Err(e) => return Err(errno_io(e)),
        };
        rel.push(name);
        let full = [base, rel.as_slice()].concat();
        if let Some(node) = node_of(src, &full, rel.clone(), &st)? {
            let is_dir = node.kind == NodeKind::Dir;
            out.push(node);
            if is_dir {
                walk(src, base, rel, out)?;
            }
        }
        rel.pop();
    }
    Ok(())
}

/// The node for `full` (its stat `st`), its content hashed (from the
/// context's digests when it has them); `None` for sockets.
fn node_of(
    src: &Source<'_>,
    full: &[Vec<u8>],
    rel: Vec<Vec<u8>>,
    st: &rustix::fs::Stat,
) -> io::Result<Option<Node>> {
    let ft = FileType::from_raw_mode(st.st_mode);
    let kind = match ft {
        FileType::Directory => NodeKind::Dir,
        FileType::RegularFile => {
            let size = st.st_size as u64;
            let known = match src {
                Source::Context(c) => c.file_sum(&full.join(&b'/'), size),
                Source::Root(_) => None,
            };
            let sha256 = match known {
                Some(s) => s,
                None => hash_file(src.root(), full)?,
            };
            NodeKind::File { size, sha256 }
        }
        FileType::Symlink => {
            let (name, parent) = full.split_last().expect("a symlink has a name");
            let pfd = src.root().open(parent, OFlags::PATH | OFlags::DIRECTORY)?;
            let target = rustix::fs::readlinkat(&pfd, OsStr::from_bytes(name), Vec::new())
                .map_err(errno_io)?;
            NodeKind::Symlink(target.into_bytes())
        }
        FileType::Fifo => NodeKind::Fifo,
        FileType::CharacterDevice => NodeKind::Char(st.st_rdev),
        FileType::BlockDevice => NodeKind::Block(st.st_rdev),
        _ => return Ok(None),
    };
    let link_key = (matches!(kind, NodeKind::File { .. }) && st.st_nlink > 1)
        .then_some((st.st_dev, st.st_ino));
    Ok(Some(Node {
        rel,
        kind,
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: st.st_mtime,
        link_key,
    }))
}

fn hash_file(root: &ContainerRoot, full: &[Vec<u8>]) -> io::Result<[u8; 32]> {
    let fd = root.open(full, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK)?;
    let mut file = std::fs::File::from(fd);
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => h.update(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(h.finalize().into())
}

/// moby's `isArchivePath`: the file decompresses and starts with a tar header.
fn is_archive(src: &Source<'_>, base: &[Vec<u8>]) -> bool {
    let Ok(fd) = src
        .root()
        .open(base, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK)
    else {
        return false;
    };
    with_decompressed(
        std::fs::File::from(fd),
        |r| {
            let mut a = tar::Archive::new(r);
            let ok = matches!(a.entries().map(|mut e| e.next()), Ok(Some(Ok(_))));
            Ok::<bool, ()>(ok)
        },
        |_, _| (),
    )
    .unwrap_or(false)
}

fn stat_in(root: &ContainerRoot, parts: &[Vec<u8>]) -> io::Result<rustix::fs::Stat> {
    let fd = root.open(parts, OFlags::PATH | OFlags::NOFOLLOW)?;
    rustix::fs::fstat(&fd).map_err(errno_io)
}

/// Go's `path/filepath.Match` (Unix): `*` and `?` never match `/`.
pub fn go_match(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let mut pattern: &[char] = &pattern.chars().collect::<Vec<_>>();
    let name_v: Vec<char> = name.chars().collect();
    let mut name: &[char] = &name_v;
    'outer: while !pattern.is_empty() {
        let (star, chunk, rest) = scan_chunk(pattern);
        pattern = rest;
        if star && chunk.is_empty() {
            return Ok(!name.contains(&'/'));
        }
        let (t, ok) = match_chunk(chunk, name)?;
        if ok && (t.is_empty() || !pattern.is_empty()) {
            name = t;
            continue;
        }
        if star {
            let mut i = 0;
            while i < name.len() && name[i] != '/' {
                let (t, ok) = match_chunk(chunk, &name[i + 1..])?;
                if ok {
                    if pattern.is_empty() && !t.is_empty() {
                        i += 1;
                        continue;
                    }
                    name = t;
                    continue 'outer;
                }
                i += 1;
            }
        }
        return Ok(false);
    }
    Ok(name.is_empty())
}

/// `filepath.ErrBadPattern`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern")]
pub struct BadPattern;

fn scan_chunk(mut pattern: &[char]) -> (bool, &[char], &[char]) {
    let mut star = false;
    while pattern.first() == Some(&'*') {
        pattern = &pattern[1..];
        star = true;
    }
    let mut in_range = false;
    let mut i = 0;
    while i < pattern.len() {
        match pattern[i] {
            '\\' if i + 1 < pattern.len() => i += 1,
            '[' => in_range = true,
            ']' => in_range = false,
            '*' if !in_range => break,
            _ => {}
        }
        i += 1;
    }
    (star, &pattern[..i], &pattern[i..])
}

fn match_chunk<'n>(
    mut chunk: &[char],
    mut s: &'n [char],
) -> Result<(&'n [char], bool), BadPattern> {
    let mut failed = false;
    while !chunk.is_empty() {
        if !failed && s.is_empty() {
            failed = true;
        }
        match chunk[0] {
            '[' => {
                let mut r = '\0';
                if !failed {
                    r = s[0];
                    s = &s[1..];
                }
                chunk = &chunk[1..];
                let negated = chunk.first() == Some(&'^');
                if negated {
                    chunk = &chunk[1..];
                }
                let mut matched = false;
                let mut nrange = 0;
                loop {
                    if chunk.first() == Some(&']') && nrange > 0 {
                        chunk = &chunk[1..];
                        break;
                    }
                    let (lo, rest) = get_esc(chunk)?;
                    chunk = rest;
                    let mut hi = lo;
                    if chunk.first() == Some(&'-') {
                        let (h, rest) = get_esc(&chunk[1..])?;
                        hi = h;
                        chunk = rest;
                    }
                    if lo <= r && r <= hi {
                        matched = true;
                    }
                    nrange += 1;
                }
                if matched == negated {
                    failed = true;
                }
            }
            '?' => {
                if !failed {
                    if s[0] == '/' {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
            c => {
                let c = if c == '\\' {
                    chunk = &chunk[1..];
                    *chunk.first().ok_or(BadPattern)?
                } else {
                    c
                };
                if !failed {
                    if c != s[0] {
                        failed = true;
                    }
                    s = &s[1..];
                }
                chunk = &chunk[1..];
            }
        }
    }
    if failed {
        Ok((&[], false))
    } else {
        Ok((s, true))
    }
}

fn get_esc(chunk: &[char]) -> Result<(char, &[char]), BadPattern> {
    let mut chunk = chunk;
    match chunk.first() {
        None | Some('-') | Some(']') => return Err(BadPattern),
        Some('\\') => {
            chunk = &chunk[1..];
            if chunk.is_empty() {
                return Err(BadPattern);
            }
        }
        _ => {}
    }
    let r = chunk[0];
    let rest = &chunk[1..];
    if rest.is_empty() {
        return Err(BadPattern);
    }
    Ok((r, rest))
}

/// One entry of the tar written into the destination.
struct Entry<'p> {
    name: Vec<Vec<u8>>,
    what: EntryWhat<'p>,
}

enum EntryWhat<'p> {
    /// A node of a source tree: its full path in the source root.
    Node(&'p Node, Vec<Vec<u8>>),
    /// A heredoc or downloaded file.
    File(&'p Body),
}

impl CopyPlan {
    /// sha256 over every source's relative path, mode, owner, size and
    /// content digest (and URL content), the destination and the flags.
    /// Mtimes are left out, as dockerd's tarsum does: touching a file keeps
    /// the cache.
    pub fn digest(&self) -> String {
        self.digest.clone()
    }

    /// Docker's history form of the sources (`file:<hex>`, `dir:<hex>`, or
    /// `multi:<hex>` over several), for `COPY <hash> in <dest> `.
    pub fn source_hash(&self) -> String {
        match self.item_digests.as_slice() {
            [one] => one.clone(),
            many => {
                let joined = many.join(",");
                format!("multi:{}", hex::encode(Sha256::digest(joined.as_bytes())))
            }
        }
    }

    /// Fills in the per-item digests and the plan's digest.
    fn compute_digest(&mut self) {
        let mut items = Vec::with_capacity(self.items.len());
        for item in &self.items {
            let mut h = Sha256::new();
            let mut field = |b: &[u8]| {
                h.update((b.len() as u64).to_le_bytes());
                h.update(b);
            };
            field(item.orig.as_bytes());
            field(&item.name);
            let kind = match &item.body {
                Body::Tree { base, dir, nodes } => {
                    field(&base.join(&b'/'));
                    for n in nodes {
                        field(&n.rel.join(&b'/'));
                        field(format!("{:o} {} {}", n.mode, n.uid, n.gid).as_bytes());
                        match &n.kind {
                            NodeKind::Dir => field(b"d"),
                            NodeKind::File { size, sha256 } => {
                                field(format!("f {size}").as_bytes());
                                field(sha256);
                            }
                            NodeKind::Symlink(t) => {
                                field(b"l");
                                field(t);
                            }
                            NodeKind::Fifo => field(b"p"),
                            NodeKind::Char(d) => field(format!("c {d}").as_bytes()),
                            NodeKind::Block(d) => field(format!("b {d}").as_bytes()),
                        }
                    }
                    if *dir { "dir" } else { "file" }
                }
                Body::Archive { base, sha256 } => {
                    field(&base.join(&b'/'));
                    field(sha256);
                    "file"
                }
                Body::File {
                    mode, size, sha256, ..
                } => {
                    field(format!("{mode:o} {size}").as_bytes());
                    field(sha256);
                    "file"
                }
            };
            items.push(format!("{kind}:{}", hex::encode(h.finalize())));
        }
        let mut h = Sha256::new();
        for f in [
            self.cmd,
            self.dest.as_str(),
            self.chown.as_deref().unwrap_or(""),
            &format!("{:?}", self.chmod),
        ]
        .into_iter()
        .chain(items.iter().map(String::as_str))
        {
            h.update((f.len() as u64).to_le_bytes());
            h.update(f.as_bytes());
        }
        self.digest = format!("sha256:{}", hex::encode(h.finalize()));
        self.item_digests = items;
    }

    /// Writes the sources into `dest` (the step's writable overlay); `dest` is
    /// also where `--chown` names are looked up. `src` must be the source the
    /// plan was made from.
    pub fn apply(&self, src: &Source<'_>, dest: &ContainerRoot) -> Result<(), CopyError> {
        let owner = match &self.chown {
            Some(spec) => resolve_chown(dest, spec)?,
            None => (0, 0),
        };
        let werr = |what: &str, e: io::Error| CopyError::Write(format!("{what}: {e}"));
        let dest_parts = dest
            .resolve(self.dest.as_bytes(), true)
            .map_err(|e| werr(&format!("resolving {}", self.dest), e))?;
        let dest_is_dir = dest
            .open(&dest_parts, OFlags::PATH)
            .and_then(|fd| rustix::fs::fstat(&fd).map_err(errno_io))
            .map(|st| FileType::from_raw_mode(st.st_mode) == FileType::Directory)
            .unwrap_or(false);
        let into_dir = self.dest.ends_with('/') || dest_is_dir;
        let mut batch: Vec<Entry<'_>> = Vec::new();
        for item in &self.items {
            match &item.body {
                Body::Tree {
                    base,
                    dir: true,
                    nodes,
                } => {
                    mkdir_all_owned(dest, &dest_parts, owner)
                        .map_err(|e| werr(&format!("creating {}", self.dest), e))?;
                    for n in nodes {
                        batch.push(Entry {
                            name: [dest_parts.as_slice(), &n.rel].concat(),
                            what: EntryWhat::Node(n, [base.as_slice(), &n.rel].concat()),
                        });
                    }
                }
                Body::Tree {
                    base,
                    dir: false,
                    nodes,
                } => {
                    let target = self.file_target(&dest_parts, into_dir, &item.name);
                    self.make_parent(dest, &target, owner)?;
                    for n in nodes {
                        batch.push(Entry {
                            name: target.clone(),
                            what: EntryWhat::Node(n, base.clone()),
                        });
                    }
                }
                Body::File { .. } => {
                    let target = self.file_target(&dest_parts, into_dir, &item.name);
                    self.make_parent(dest, &target, owner)?;
                    batch.push(Entry {
                        name: target,
                        what: EntryWhat::File(&item.body),
                    });
                }
                Body::Archive { base, .. } => {
                    self.write_batch(src, dest, std::mem::take(&mut batch), owner)?;
                    mkdir_all_owned(dest, &dest_parts, (0, 0))
                        .map_err(|e| werr(&format!("creating {}", self.dest), e))?;
                    self.untar(src, dest, base, &item.orig, &dest_parts)?;
                }
            }
        }
        self.write_batch(src, dest, batch, owner)
    }

    /// Where a single file goes: into the destination directory under its
    /// source name, or the destination itself.
    fn file_target(&self, dest: &[Vec<u8>], into_dir: bool, name: &[u8]) -> Vec<Vec<u8>> {
        let mut t = dest.to_vec();
        if into_dir || t.is_empty() {
            t.extend(components(name));
        }
        t
    }

    fn make_parent(
        &self,
        dest: &ContainerRoot,
        target: &[Vec<u8>],
        owner: (u32, u32),
    ) -> Result<(), CopyError> {
        let parent = &target[..target.len().saturating_sub(1)];
        mkdir_all_owned(dest, parent, owner).map_err(|e| {
            CopyError::Write(format!(
                "creating {}: {e}",
                String::from_utf8_lossy(&berth::runtime::rootaccess::absolute(parent))
            ))
        })
    }

    /// Unpacks the ADD archive `base` into the directory `dest_parts`.
    fn untar(
        &self,
        src: &Source<'_>,
        dest: &ContainerRoot,
        base: &[Vec<u8>],
        orig: &str,
        dest_parts: &[Vec<u8>],
    ) -> Result<(), CopyError> {
        let serr = |source: io::Error| CopyError::Source {
            cmd: self.cmd,
            path: orig.to_string(),
            source,
        };
        let fd = src
            .root()
            .open(base, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK)
            .map_err(serr)?;
        let root = dest.fd().try_clone_to_owned().map_err(serr)?;
        with_decompressed(
            std::fs::File::from(fd),
            |r| {
                extract(
                    r,
                    root,
                    std::path::Path::new(&self.dest),
                    dest_parts,
                    &ExtractOptions::default(),
                )
                .map(|_| ())
                .map_err(CopyError::Extract)
            },
            |tool, reason| CopyError::Write(format!("decompressing {orig} with {tool}: {reason}")),
        )
    }

    /// Streams `batch` as one tar into the destination root (hardlinks within
    /// the batch stay links), owners forced to `owner`.
    fn write_batch(
        &self,
        src: &Source<'_>,
        dest: &ContainerRoot,
        batch: Vec<Entry<'_>>,
        owner: (u32, u32),
    ) -> Result<(), CopyError> {
        if batch.is_empty() {
            return Ok(());
        }
        let (reader, writer) =
            io::pipe().map_err(|e| CopyError::Write(format!("creating a pipe: {e}")))?;
        let root = dest
            .fd()
            .try_clone_to_owned()
            .map_err(|e| CopyError::Write(format!("duplicating the root descriptor: {e}")))?;
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: false,
            owner: Some(owner),
            rebase: None,
            id_map: None,
        };
        std::thread::scope(|s| {
            let producer = s.spawn(|| self.write_tar(src, &batch, writer));
            let res = extract(reader, root, std::path::Path::new(&self.dest), &[], &opts);
            let produced = producer.join().unwrap_or_else(|_| {
                Err(Some(CopyError::Write(
                    "the tar writer panicked".to_string(),
                )))
            });
            match (produced, res) {
                // The writer's own failure explains a truncated stream.
                (Err(Some(e)), _) => Err(e),
                // A closed pipe: the extraction stopped first and says why.
                (_, r) => r.map(|_| ()).map_err(CopyError::Extract),
            }
        })
    }

    /// Writes the tar of `batch` into `out`; `Err(None)` when the reader
    /// went away (the extraction failed and reports why).
    fn write_tar(
        &self,
        src: &Source<'_>,
        batch: &[Entry<'_>],
        out: io::PipeWriter,
    ) -> Result<(), Option<CopyError>> {
        let werr = |e: io::Error| {
            (e.kind() != io::ErrorKind::BrokenPipe)
                .then(|| CopyError::Write(format!("writing the copy stream: {e}")))
        };
        let mut b = tar::Builder::new(io::BufWriter::with_capacity(256 * 1024, out));
        let mut links: HashMap<(u64, u64), Vec<u8>> = HashMap::new();
        for e in batch {
            let name = e.name.join(&b'/');
            let path = std::path::Path::new(OsStr::from_bytes(&name));
            let mut h = tar::Header::new_gnu();
            h.set_uid(0);
            h.set_gid(0);
            match &e.what {
                EntryWhat::File(Body::File {
                    data,
                    mode,
                    mtime,
                    size,
                    ..
                }) => {
                    h.set_entry_type(tar::EntryType::Regular);
                    h.set_mode(self.chmod.unwrap_or(*mode));
                    h.set_mtime((*mtime).max(0) as u64);
                    h.set_size(*size);
                    match data {
                        FileData::Inline(c) => b.append_data(&mut h, path, &c[..]),
                        FileData::Host(p) => {
                            let f = std::fs::File::open(p).map_err(werr)?;
                            b.append_data(&mut h, path, exact(f, *size))
                        }
                    }
                    .map_err(werr)?;
                }
                EntryWhat::File(_) => {}
                EntryWhat::Node(n, full) => {
                    let mode = match n.kind {
                        NodeKind::Symlink(_) => n.mode,
                        _ => self.chmod.unwrap_or(n.mode),
                    };
                    h.set_mode(mode);
                    h.set_mtime(n.mtime.max(0) as u64);
                    h.set_size(0);
                    match &n.kind {
                        NodeKind::Dir => {
                            h.set_entry_type(tar::EntryType::Directory);
                            b.append_data(&mut h, path, io::empty())
                        }
                        NodeKind::File { size, .. } => {
                            if let Some(first) = n.link_key.and_then(|k| links.get(&k)) {
                                h.set_entry_type(tar::EntryType::Link);
                                b.append_link(&mut h, path, OsStr::from_bytes(first))
                            } else {
                                if let Some(k) = n.link_key {
                                    links.insert(k, name.clone());
                                }
                                let fd = src
                                    .root()
                                    .open(
                                        full,
                                        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK,
                                    )
                                    .map_err(|source| {
                                        Some(CopyError::Source {
                                            cmd: self.cmd,
                                            path: String::from_utf8_lossy(&full.join(&b'/'))
                                                .into_owned(),
                                            source,
                                        })
                                    })?;
                                h.set_entry_type(tar::EntryType::Regular);
                                h.set_size(*size);
                                b.append_data(&mut h, path, exact(std::fs::File::from(fd), *size))
                            }
                        }
                        NodeKind::Symlink(t) => {
                            h.set_entry_type(tar::EntryType::Symlink);
                            b.append_link(&mut h, path, OsStr::from_bytes(t))
                        }
                        NodeKind::Fifo => {
                            h.set_entry_type(tar::EntryType::Fifo);
                            b.append_data(&mut h, path, io::empty())
                        }
                        NodeKind::Char(d) | NodeKind::Block(d) => {
                            h.set_entry_type(if matches!(n.kind, NodeKind::Char(_)) {
                                tar::EntryType::Char
                            } else {
                                tar::EntryType::Block
                            });
                            h.set_device_major(rustix::fs::major(*d)).map_err(werr)?;
                            h.set_device_minor(rustix::fs::minor(*d)).map_err(werr)?;
                            b.append_data(&mut h, path, io::empty())
                        }
                    }
                    .map_err(werr)?;
                }
            }
        }
        b.into_inner()
            .and_then(|mut w| io::Write::flush(&mut w))
            .map_err(werr)
    }
}

/// Exactly `size` bytes of `r`: cut if it grew, zero-padded if it shrank, so
/// the tar stays well-formed.
fn exact(r: impl Read, size: u64) -> impl Read {
    r.take(size).chain(io::repeat(0)).take(size)
}

/// Creates the missing directories of `parts` (resolved) in `root`, 0755 and
/// owned by `owner`, as moby's `MkdirAllAndChownNew`; existing ones are left
/// as they are.
fn mkdir_all_owned(root: &ContainerRoot, parts: &[Vec<u8>], owner: (u32, u32)) -> io::Result<()> {
    for i in 0..parts.len() {
        match root.open(&parts[..=i], OFlags::PATH | OFlags::DIRECTORY) {
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let parent = root.open(&parts[..i], OFlags::PATH | OFlags::DIRECTORY)?;
        let name = OsStr::from_bytes(&parts[i]);
        match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(e) => return Err(errno_io(e)),
        }
        let dir = rustix::fs::openat(
            &parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(errno_io)?;
        rustix::fs::fchown(
            &dir,
            Some(rustix::fs::Uid::from_raw(owner.0)),
            Some(rustix::fs::Gid::from_raw(owner.1)),
        )
        .map_err(errno_io)?;
        rustix::fs::fchmod(&dir, Mode::from_raw_mode(0o755)).map_err(errno_io)?;
    }
    Ok(())
}

/// moby's `parseChownFlag`: `user[:group]`, the user also naming the group
/// when no group is given; numbers are ids, names are looked up in the
/// destination's `/etc/passwd` and `/etc/group`.
fn resolve_chown(root: &ContainerRoot, spec: &str) -> Result<(u32, u32), CopyError> {
    let (user, group) = match spec.split_once(':') {
        Some((u, g)) => (u, g),
        None => (spec, spec),
    };
    let uid = lookup_id(root, user, "/etc/passwd", "uid", "user")?;
    let gid = lookup_id(root, group, "/etc/group", "gid", "group")?;
    Ok((uid, gid))
}

fn lookup_id(
    root: &ContainerRoot,
    name: &str,
    file: &str,
    what: &'static str,
    kind: &'static str,
) -> Result<u32, CopyError> {
    if let Ok(id) = name.parse::<u32>() {
        return Ok(id);
    }
    let err = |reason: String| CopyError::Chown {
        what,
        kind,
        name: name.to_string(),
        reason,
    };
    let mut text = String::new();
    root.open(&components(file.as_bytes()), OFlags::RDONLY)
        .map(std::fs::File::from)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|e| err(format!("open {file}: {}", go_error(&e))))?;
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            (f.len() >= 3 && f[0] == name).then(|| f[2].parse::<u32>().ok())?
        })
        .next()
        .ok_or_else(|| err(format!("no such {kind}: {name}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::build::context::test_tar;
    use crate::build::fetch::TestServer;
    use std::os::unix::fs::MetadataExt;
    use std::path::Path;

    /// An image (one lower layer) with a writable overlay on top, as a COPY step gets.
    struct Image {
        dir: tempfile::TempDir,
        root: Option<ContainerRoot>,
    }

    impl Image {
        fn new(setup: impl FnOnce(&Path)) -> Image {
            let dir = tempfile::Builder::new()
                .prefix("berth-copy-test-")
                .tempdir()
                .unwrap();
            for d in ["lower", "upper", "work"] {
                std::fs::create_dir(dir.path().join(d)).unwrap();
            }
            setup(&dir.path().join("lower"));
            let root = ContainerRoot::overlay(
                &[dir.path().join("lower")],
                &dir.path().join("upper"),
                Some(&dir.path().join("work")),
            )
            .unwrap();
            Image {
                dir,
                root: Some(root),
            }
        }

        fn root(&self) -> &ContainerRoot {
            self.root.as_ref().unwrap()
        }

        fn upper(&self, rel: &str) -> std::path::PathBuf {
            self.dir.path().join("upper").join(rel)
        }
    }

    fn ctx(files: &[(&str, &[u8], u32)]) -> (tempfile::TempDir, Context) {
        let work = tempfile::tempdir().unwrap();
        let mut all: Vec<(&str, &[u8], u32)> = vec![("Dockerfile", b"FROM scratch\n", 0o644)];
        all.extend_from_slice(files);
        let c = Context::receive(&test_tar(&all)[..], work.path(), "").unwrap();
        (work, c)
    }

    fn req(sources: &[&str], dest: &str) -> CopyRequest {
        CopyRequest {
            sources: sources.iter().map(|s| s.to_string()).collect(),
            dest: dest.to_string(),
            ..CopyRequest::default()
        }
    }

    fn copy(c: &Context, img: &Image, r: &CopyRequest) -> Result<String, CopyError> {
        let src = Source::Context(c);
        let p = plan(&src, r)?;
        p.apply(&src, img.root())?;
        Ok(p.digest())
    }

    fn meta(p: &Path) -> std::fs::Metadata {
        std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
    }

    fn etc(lower: &Path) {
        std::fs::create_dir(lower.join("etc")).unwrap();
        std::fs::write(
            lower.join("etc/passwd"),
            "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            lower.join("etc/group"),
            "root:x:0:\napp:x:1001:\nstaff:x:50:app\n",
        )
        .unwrap();
    }

    #[test]
    fn files_and_directories_follow_docker() {
        let (_w, c) = ctx(&[
            ("a.txt", b"alpha", 0o640),
            ("dir/", b"", 0o700),
            ("dir/sub/", b"", 0o711),
            ("dir/sub/b.txt", b"beta", 0o600),
            ("@link:dir/link->../a.txt", b"", 0o777),
            ("@link:alink->a.txt", b"", 0o777),
        ]);
        let img = Image::new(|l| std::fs::create_dir(l.join("existing")).unwrap());
        copy(&c, &img, &req(&["a.txt"], "/dest/")).unwrap();
        let m = meta(&img.upper("dest/a.txt"));
        assert_eq!(std::fs::read(img.upper("dest/a.txt")).unwrap(), b"alpha");
        assert_eq!(
            (m.mode() & 0o7777, m.uid(), m.gid(), m.mtime()),
            (0o640, 0, 0, 1_600_000_000)
        );
        assert_eq!(meta(&img.upper("dest")).mode() & 0o7777, 0o755);
        // No trailing slash: the file is the destination, unless that is a directory.
        copy(&c, &img, &req(&["a.txt"], "/newname")).unwrap();
        assert!(meta(&img.upper("newname")).is_file());
        copy(&c, &img, &req(&["./a.txt"], "/existing")).unwrap();
        assert!(meta(&img.upper("existing/a.txt")).is_file());
        // A directory copies its contents; symlinks inside stay symlinks.
        copy(&c, &img, &req(&["dir"], "/d2")).unwrap();
        assert_eq!(std::fs::read(img.upper("d2/sub/b.txt")).unwrap(), b"beta");
        assert_eq!(meta(&img.upper("d2/sub")).mode() & 0o7777, 0o711);
        assert_eq!(
            std::fs::read_link(img.upper("d2/link")).unwrap(),
            Path::new("../a.txt")
        );
        assert!(!img.upper("d2/dir").exists());
        // A symlink named as a source is followed; the name is the link's.
        copy(&c, &img, &req(&["alink"], "/l/")).unwrap();
        assert!(meta(&img.upper("l/alink")).is_file());
        // Relative to WORKDIR; `..` may not leave the context.
        let mut r = req(&["dir/../a.txt"], "rel/");
        r.workdir = "/wd".into();
        copy(&c, &img, &r).unwrap();
        assert!(meta(&img.upper("wd/rel/a.txt")).is_file());
        let e = copy(&c, &img, &req(&["/../a.txt"], "/x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "COPY failed: forbidden path outside the build context: ../a.txt ()"
        );
        // Docker's errors.
        let e = copy(&c, &img, &req(&["nope"], "/x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "COPY failed: file not found in build context or excluded by .dockerignore: stat nope: file does not exist"
        );
        let e = copy(&c, &img, &req(&["a.txt", "dir"], "/x")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "When using COPY with more than one source file, the destination must be a directory and end with a /"
        );
        let e = copy(&c, &img, &req(&["http://127.0.0.1:1/x"], "/x")).unwrap_err();
        assert_eq!(e.to_string(), "COPY failed: source can't be a URL for COPY");
    }

    #[test]
    fn wildcards_match_like_go() {
        let (_w, c) = ctx(&[
            ("x1.txt", b"1", 0o644),
            ("x2.txt", b"2", 0o644),
            ("y.txt", b"y", 0o644),
            ("sub/x3.txt", b"3", 0o644),
        ]);
        let img = Image::new(|_| {});
        copy(&c, &img, &req(&["x*.txt"], "/w/")).unwrap();
        let mut names: Vec<_> = std::fs::read_dir(img.upper("w"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        names.sort();
        assert_eq!(names, ["x1.txt", "x2.txt"]);
        copy(&c, &img, &req(&["*/x?.txt"], "/w2/")).unwrap();
        assert!(meta(&img.upper("w2/x3.txt")).is_file());
        // Several matches need a directory destination; none is an error.
        let e = copy(&c, &img, &req(&["x*"], "/f")).unwrap_err();
        assert!(matches!(e, CopyError::DestNotDir { .. }), "{e}");
        let e = copy(&c, &img, &req(&["zz*"], "/f/")).unwrap_err();
        assert_eq!(e.to_string(), "COPY failed: no source files were specified");

        assert_eq!(go_match("x[0-9].txt", "x5.txt"), Ok(true));
        assert_eq!(go_match("x[^0-9].txt", "x5.txt"), Ok(false));
        assert_eq!(go_match("*", "a/b"), Ok(false));
        assert_eq!(go_match("a/*", "a/b"), Ok(true));
        assert_eq!(go_match("\\*", "*"), Ok(true));
        assert_eq!(go_match("a?c", "a/c"), Ok(false));
        assert_eq!(go_match("[", "a"), Err(BadPattern));
        assert_eq!(go_match("*x*y", "axbxy"), Ok(true));
    }

    #[test]
    fn chown_by_name_and_id_and_chmod() {
        let (_w, c) = ctx(&[
            ("f", b"data", 0o644),
            ("d/", b"", 0o755),
            ("d/g", b"g", 0o600),
        ]);
        let img = Image::new(etc);
        let mut r = req(&["f"], "/new/deep/");
        r.chown = Some("app".into());
        copy(&c, &img, &r).unwrap();
        let m = meta(&img.upper("new/deep/f"));
        assert_eq!((m.uid(), m.gid()), (1000, 1001));
        let m = meta(&img.upper("new"));
        assert_eq!((m.uid(), m.gid(), m.mode() & 0o7777), (1000, 1001, 0o755));

        let mut r = req(&["d"], "/d");
        r.chown = Some("app:staff".into());
        copy(&c, &img, &r).unwrap();
        for p in ["d", "d/g"] {
            let m = meta(&img.upper(p));
            assert_eq!((m.uid(), m.gid()), (1000, 50), "{p}");
        }
        // Existing directories keep their owner.
        std::os::unix::fs::lchown(img.dir.path().join("lower/etc"), Some(3), Some(4)).unwrap();
        let m = meta(&img.dir.path().join("lower/etc"));
        let mut r = req(&["f"], "/etc/");
        r.chown = Some("7:8".into());
        r.chmod = Some("751".into());
        copy(&c, &img, &r).unwrap();
        let f = meta(&img.upper("etc/f"));
        assert_eq!((f.uid(), f.gid(), f.mode() & 0o7777), (7, 8, 0o751));
        assert_eq!(meta(&img.upper("etc")).uid(), m.uid());

        let mut r = req(&["f"], "/x");
        r.chown = Some("nobody".into());
        let e = copy(&c, &img, &r).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to convert uid/gid chown string to host mapping: can't find uid for user nobody: no such user: nobody"
        );
        r.chown = Some("app:nogroup".into());
        let e = copy(&c, &img, &r).unwrap_err();
        assert!(
            e.to_string()
                .ends_with("can't find gid for group nogroup: no such group: nogroup"),
            "{e}"
        );
        // Without a group, the user's name is looked up as a group too (dockerd 20.10).
        let bare = Image::new(|l| {
            std::fs::create_dir(l.join("etc")).unwrap();
            std::fs::write(l.join("etc/passwd"), "app:x:1000:1001::/:/bin/sh\n").unwrap();
        });
        r.chown = Some("app".into());
        let e = copy(&c, &bare, &r).unwrap_err();
        assert!(
            e.to_string().ends_with(
                "can't find gid for group app: open /etc/group: no such file or directory"
            ),
            "{e}"
        );
        r.chown = Some("a:b:c".into());
        assert!(matches!(
            copy(&c, &img, &r).unwrap_err(),
            CopyError::ChownFormat(_)
        ));
        let mut r = req(&["f"], "/x");
        r.chmod = Some("9z".into());
        assert_eq!(
            copy(&c, &img, &r).unwrap_err().to_string(),
            "invalid chmod flag 9z"
        );
    }

    #[test]
    fn add_extracts_local_archives_but_copy_does_not() {
        let inner = test_tar(&[("inner/", b"", 0o755), ("inner/f", b"in", 0o640)]);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut gz, &inner).unwrap();
        let gz = gz.finish().unwrap();
        let (_w, c) = ctx(&[("a.tar.gz", &gz, 0o644), ("plain.tar", &inner, 0o644)]);
        let img = Image::new(|_| {});
        let mut r = req(&["a.tar.gz"], "/x/");
        r.add = true;
        r.chown = Some("5:5".into());
        copy(&c, &img, &r).unwrap();
        assert_eq!(std::fs::read(img.upper("x/inner/f")).unwrap(), b"in");
        // Owners come from the archive (dockerd's UntarPath ignores --chown).
        assert_eq!(meta(&img.upper("x/inner/f")).uid(), 0);
        let mut r = req(&["plain.tar"], "/y");
        r.add = true;
        copy(&c, &img, &r).unwrap();
        assert!(meta(&img.upper("y/inner/f")).is_file());
        // xz through the system tool, as dockerd does.
        let xz = std::process::Command::new("xz")
            .args(["-z", "-c"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut ch| {
                io::Write::write_all(&mut ch.stdin.take().unwrap(), &inner)?;
                ch.wait_with_output()
            })
            .unwrap()
            .stdout;
        let (_w2, c2) = ctx(&[("a.tar.xz", &xz, 0o644)]);
        let mut r = req(&["a.tar.xz"], "/xz/");
        r.add = true;
        copy(&c2, &img, &r).unwrap();
        assert_eq!(std::fs::read(img.upper("xz/inner/f")).unwrap(), b"in");
        copy(&c, &img, &req(&["a.tar.gz"], "/z/")).unwrap();
        assert_eq!(std::fs::read(img.upper("z/a.tar.gz")).unwrap(), gz);
    }

    #[test]
    fn hostile_destination_symlinks_stay_in_the_image() {
        let name = format!("berth-copy-escape-{}", &berth::fsutil::random_id()[..12]);
        let (_w, c) = ctx(&[("f", b"x", 0o644)]);
        let img = Image::new(|l| {
            std::os::unix::fs::symlink("/", l.join("usr")).unwrap();
            std::os::unix::fs::symlink("../../../../../..", l.join("up")).unwrap();
        });
        copy(&c, &img, &req(&["f"], &format!("/usr/{name}"))).unwrap();
        copy(&c, &img, &req(&["f"], &format!("/up/tmp/{name}/"))).unwrap();
        assert!(!Path::new("/").join(&name).exists());
        assert!(!Path::new("/tmp").join(&name).exists());
        assert!(meta(&img.upper(&name)).is_file());
        assert!(meta(&img.upper(&format!("tmp/{name}/f"))).is_file());
    }

    #[test]
    fn hostile_context_symlinks_never_read_the_host() {
        let (_w, c) = ctx(&[
            ("@link:abs->/etc", b"", 0o777),
            ("@link:rel->../../../../etc", b"", 0o777),
            ("d/", b"", 0o755),
            ("@link:d/out->/etc/passwd", b"", 0o777),
        ]);
        let img = Image::new(|_| {});
        for src in ["abs/passwd", "rel/passwd"] {
            let e = copy(&c, &img, &req(&[src], "/x")).unwrap_err();
            assert!(matches!(e, CopyError::NotFound { .. }), "{src}: {e}");
        }
        copy(&c, &img, &req(&["d"], "/d")).unwrap();
        assert!(meta(&img.upper("d/out")).file_type().is_symlink());
    }

    #[test]
    fn hardlinks_stay_links_within_one_copy() {
        let (_w, c) = ctx(&[
            ("h/", b"", 0o755),
            ("h/one", b"same", 0o644),
            ("@hard:h/two->h/one", b"", 0o644),
        ]);
        let img = Image::new(|_| {});
        copy(&c, &img, &req(&["h"], "/h")).unwrap();
        let (a, b) = (meta(&img.upper("h/one")), meta(&img.upper("h/two")));
        assert_eq!(a.ino(), b.ino());
        assert_eq!(std::fs::read(img.upper("h/two")).unwrap(), b"same");
    }

    #[test]
    fn digest_is_stable_and_sensitive() {
        let digest = |files: &[(&str, &[u8], u32)], mtime_shift: bool| {
            let work = tempfile::tempdir().unwrap();
            let mut all: Vec<(&str, &[u8], u32)> = vec![("Dockerfile", b"FROM a\n", 0o644)];
            all.extend_from_slice(files);
            let mut tar = test_tar(&all);
            if mtime_shift {
                // Re-stamp every entry: same content, other mtimes.
                let mut a = tar::Archive::new(&tar[..]);
                let mut b = tar::Builder::new(Vec::new());
                for e in a.entries().unwrap() {
                    let mut e = e.unwrap();
                    let mut h = e.header().clone();
                    h.set_mtime(1_700_000_000);
                    h.set_cksum();
                    let mut data = Vec::new();
                    e.read_to_end(&mut data).unwrap();
                    b.append(&h, &data[..]).unwrap();
                }
                tar = b.into_inner().unwrap();
            }
            let c = Context::receive(&tar[..], work.path(), "").unwrap();
            let src = Source::Context(&c);
            let p = plan(&src, &req(&["d", "f"], "/x/")).unwrap();
            assert!(p.source_hash().starts_with("multi:"));
            let one = plan(&src, &req(&["f"], "/x/")).unwrap();
            assert!(one.source_hash().starts_with("file:"));
            let dir = plan(&src, &req(&["d"], "/x/")).unwrap();
            assert!(dir.source_hash().starts_with("dir:"));
            assert_ne!(one.digest(), p.digest());
            p.digest()
        };
        let base: &[(&str, &[u8], u32)] = &[
            ("f", b"content", 0o644),
            ("d/", b"", 0o755),
            ("d/g", b"gg", 0o644),
        ];
        let d0 = digest(base, false);
        assert!(d0.starts_with("sha256:") && d0.len() == 71, "{d0}");
        assert_eq!(d0, digest(base, false));
        assert_eq!(d0, digest(base, true), "mtimes do not count");
        let byte: &[(&str, &[u8], u32)] = &[
            ("f", b"content", 0o644),
            ("d/", b"", 0o755),
            ("d/g", b"gh", 0o644),
        ];
        assert_ne!(d0, digest(byte, false));
        let mode: &[(&str, &[u8], u32)] = &[
            ("f", b"content", 0o600),
            ("d/", b"", 0o755),
            ("d/g", b"gg", 0o644),
        ];
        assert_ne!(d0, digest(mode, false));
        let name: &[(&str, &[u8], u32)] = &[
            ("f", b"content", 0o644),
            ("d/", b"", 0o755),
            ("d/h", b"gg", 0o644),
        ];
        assert_ne!(d0, digest(name, false));
    }

    #[test]
    fn from_roots_heredocs_and_downloads() {
        // --from: another image's root, read-only.
        let other = tempfile::Builder::new()
            .prefix("berth-copy-from-")
            .tempdir()
            .unwrap();
        std::fs::create_dir_all(other.path().join("lower/out")).unwrap();
        std::fs::create_dir(other.path().join("upper")).unwrap();
        std::fs::write(other.path().join("lower/out/bin"), b"ELF").unwrap();
        let from = ContainerRoot::overlay(
            &[other.path().join("lower")],
            &other.path().join("upper"),
            None,
        )
        .unwrap();
        let img = Image::new(|_| {});
        let src = Source::Root(&from);
        let p = plan(&src, &req(&["/out/bin"], "/app/bin")).unwrap();
        p.apply(&src, img.root()).unwrap();
        assert_eq!(std::fs::read(img.upper("app/bin")).unwrap(), b"ELF");
        std::fs::write(other.path().join("lower/out/bin"), b"ELG").unwrap();
        let p2 = plan(&src, &req(&["/out/bin"], "/app/bin")).unwrap();
        assert_ne!(p.digest(), p2.digest(), "--from content is hashed");

        // Heredocs.
        let (_w, c) = ctx(&[]);
        let mut r = req(&[], "/h/");
        r.heredocs = vec![("EOF".into(), b"line\n".to_vec())];
        copy(&c, &img, &r).unwrap();
        assert_eq!(std::fs::read(img.upper("h/EOF")).unwrap(), b"line\n");
        assert_eq!(meta(&img.upper("h/EOF")).mode() & 0o777, 0o644);

        // ADD <url>: 0600, Last-Modified, never unpacked.
        let tar = test_tar(&[("t", b"t", 0o644)]);
        let srv = TestServer::start(vec![TestServer::ok(
            "Last-Modified: Wed, 21 Oct 2015 07:28:00 GMT\r\n",
            &tar,
        )]);
        let mut r = req(&[&format!("{}/files/pkg.tar", srv.base)], "/dl/");
        r.add = true;
        r.checksum = Some(format!("sha256:{}", hex::encode(Sha256::digest(&tar))));
        let d = copy(&c, &img, &r).unwrap();
        srv.requests();
        let m = meta(&img.upper("dl/pkg.tar"));
        assert_eq!((m.mode() & 0o777, m.mtime()), (0o600, 1_445_412_480));
        assert_eq!(std::fs::read(img.upper("dl/pkg.tar")).unwrap(), tar);
        assert!(d.starts_with("sha256:"));
        // No name in the URL: fine for a file destination, not for a directory.
        let srv = TestServer::start(vec![TestServer::ok("", b"i"), TestServer::ok("", b"i")]);
        let mut r = req(&[&format!("{}/", srv.base)], "/idx");
        r.add = true;
        copy(&c, &img, &r).unwrap();
        assert_eq!(meta(&img.upper("idx")).mtime(), 0);
        r.dest = "/idx2/".into();
        let e = copy(&c, &img, &r).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!(
                "ADD failed: cannot determine filename for source {}/",
                srv.base
            )
        );
        srv.requests();
        let mut r = req(&["f"], "/x");
        r.add = true;
        r.checksum = Some("sha256:00".into());
        assert!(matches!(
            plan(&Source::Context(&c), &r).unwrap_err(),
            CopyError::ChecksumNotUrl { .. }
        ));
    }
}
