//! The layer applier: unpacks one layer tar into an overlay-ready diff directory.
//!
//! Every path is resolved with `openat2(RESOLVE_IN_ROOT)` from a descriptor of the diff
//! directory, so symlinks planted by earlier entries are followed *inside* the snapshot
//! and nothing is ever written outside it; the final component is created with `*at`
//! calls that never follow it. Names escaping the root with `..` are refused outright.
//! OCI/Docker whiteouts become overlayfs whiteouts (0/0 character devices and the
//! `trusted.overlay.opaque` xattr). The uncompressed stream is hashed while it is
//! unpacked, giving the layer's diff ID in the same pass; a plain tar can be recorded in
//! the same pass too, so that it need not be stored ([`crate::image::tarsplit`]).

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{AtFlags, FileType, Mode, OFlags, ResolveFlags, Timespec, Timestamps, XattrFlags};
use rustix::io::Errno;
use tar::EntryType;

use crate::image::ImageError;
use crate::image::digest::{BUF_SIZE, Compression, HashingReader};
use crate::image::tarsplit::{Kept, Recorder, RecordingReader, SharedRecorder};
use crate::runtime::userns::IdMapping;

/// What unpacking a layer produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerStats {
    /// `sha256:` of the uncompressed tar stream.
    pub diff_id: String,
    /// Length of the uncompressed tar stream.
    pub diff_size: u64,
    /// Sum of the regular files' sizes (the layer's share of the image size).
    pub unpacked_size: u64,
    /// The compression the blob used.
    pub compression: Compression,
    /// How the tar is kept beside the snapshot (plain tars unpacked with a keep directory).
    pub kept: Option<Kept>,
}

const WHITEOUT_PREFIX: &[u8] = b".wh.";
const OPAQUE_MARKER: &[u8] = b".wh..wh..opq";
const MAX_SYMLINK_HOPS: usize = 40;

/// Unpacks the layer blob read from `blob` (plain, gzip or zstd tar) into `dest`, an
/// existing empty directory. Returns the diff ID and sizes.
pub fn apply_layer(blob: impl Read + Send, dest: &Path) -> Result<LayerStats, ImageError> {
    apply_layer_keeping(blob, dest, None)
}

/// Like [`apply_layer`]; if the blob is a plain tar and `keep_dir` is given, the tar is
/// also kept there as a tar-split record (or whole), see [`crate::image::tarsplit`].
pub fn apply_layer_keeping(
    blob: impl Read + Send,
    dest: &Path,
    keep_dir: Option<&Path>,
) -> Result<LayerStats, ImageError> {
    let mut blob = blob;
    let mut head = Vec::with_capacity(512);
    (&mut blob)
        .take(512)
        .read_to_end(&mut head)
        .map_err(archive_err)?;
    let compression = Compression::detect(&head);
    let stream = io::Cursor::new(head).chain(blob);
    let rec = keep_dir
        .filter(|_| compression == Compression::None)
        .map(Recorder::shared);
    let mut hashed = HashingReader::new(RecordingReader::new(
        compression.decoder(stream).map_err(archive_err)?,
        rec.clone(),
    ));
    let unpacked_size = {
        let mut applier = Applier::new(dest)?;
        applier.rec = rec.clone();
        let mut archive = tar::Archive::new(&mut hashed);
        let entries = archive.entries().map_err(archive_err)?;
        for entry in entries {
            let mut entry = entry.map_err(archive_err)?;
            applier.apply_entry(&mut entry)?;
        }
        applier.finish()?;
        applier.size
    };
    // The tar's trailing zero blocks (and anything after them) are part of the diff ID.
    let (diff_id, diff_size) = hashed.drain().map_err(archive_err)?;
    let kept = rec.map(|r| r.borrow_mut().finish()).transpose()?;
    Ok(LayerStats {
        diff_id,
        diff_size,
        unpacked_size,
        compression,
        kept,
    })
}

/// Options of [`extract`]: a tar unpacked into a directory of a container, as `cp` does.
#[derive(Debug, Clone, Default)]
pub struct ExtractOptions {
    /// Refuse to replace a directory with a non-directory or the reverse (Docker's
    /// `noOverwriteDirNonDir`).
    pub no_overwrite_dir_non_dir: bool,
    /// Owner of every extracted node instead of the tar's (`copyUIDGID`).
    pub owner: Option<(u32, u32)>,
    /// Entries (and hardlink targets) under the first components are put under the
    /// second instead (the client side of `cp` renaming the copied tree).
    pub rebase: Option<Rebase>,
    /// Owners are a user-namespaced container's: stored as the host ids
    /// they map to ([`IdMapping::to_host`]); an id outside the maps fails
    /// the entry, as dockerd's idtools does.
    pub id_map: Option<IdMapping>,
}

/// A path prefix replaced by another, as components: `(old, new)`.
pub type Rebase = (Vec<Vec<u8>>, Vec<Vec<u8>>);

/// Unpacks the plain tar `stream` into the directory `dest` (components relative to
/// `root`, symlinks already evaluated) as dockerd's `cp` does: every entry and its
/// parents are resolved inside `root` (a container root), so symlinks in the
/// container or in the tar never lead outside it; names climbing above `dest` are
/// refused; `.wh.` names are ordinary files; a `./` entry leaves `dest` as it is.
/// `what` names the root in errors. Returns the bytes of file content written.
pub fn extract(
    stream: impl Read,
    root: OwnedFd,
    what: &Path,
    dest: &[Vec<u8>],
    opts: &ExtractOptions,
) -> Result<u64, ImageError> {
    let mut applier = Applier::at(Arc::new(root), what.to_path_buf());
    applier.prefix = dest.to_vec();
    applier.whiteouts = false;
    applier.owner = opts.owner;
    applier.id_map = opts.id_map.clone();
    applier.no_overwrite_dir_non_dir = opts.no_overwrite_dir_non_dir;
    applier.rebase = opts.rebase.clone();
    let mut archive = tar::Archive::new(stream);
    for entry in archive.entries().map_err(archive_err)? {
        let mut entry = entry.map_err(archive_err)?;
        applier.apply_entry(&mut entry)?;
    }
    applier.finish()?;
    Ok(applier.size)
}

fn archive_err(e: io::Error) -> ImageError {
    ImageError::InvalidArchive(format!("reading layer tar: {e}"))
}

fn entry_err(name: &[u8], reason: impl Into<String>) -> ImageError {
    ImageError::InvalidLayerEntry {
        entry: String::from_utf8_lossy(name).into_owned(),
        reason: reason.into(),
    }
}

fn errno_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e.raw_os_error())
}

/// Lexically cleans a tar name into components; `None` if `..` would climb above the root.
/// A leading `/` is ignored (absolute names are confined to the root).
pub fn clean_components(name: &[u8]) -> Option<Vec<Vec<u8>>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in name.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop()?;
            }
            c => out.push(c.to_vec()),
        }
    }
    Some(out)
}

/// Like [`clean_components`] but `..` at the root stays at the root, as the kernel does
/// for `RESOLVE_IN_ROOT`.
fn clean_clamped(parts: impl IntoIterator<Item = Vec<u8>>) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for c in parts {
        match c.as_slice() {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            _ => out.push(c),
        }
    }
    out
}

fn join(parts: &[Vec<u8>]) -> OsString {
    OsString::from_vec(parts.join(&b'/'))
}

struct Meta {
    uid: u32,
    gid: u32,
    mode: u32,
    mtime: Timespec,
    xattrs: Vec<(OsString, Vec<u8>)>,
}

struct Applier {
    root: Arc<OwnedFd>,
    root_path: PathBuf,
    /// The last parent directory resolved: most tars list a directory's files together.
    cache: Option<(Vec<Vec<u8>>, Arc<OwnedFd>)>,
    dir_times: Vec<(Vec<Vec<u8>>, Timespec)>,
    buf: Vec<u8>,
    size: u64,
    /// Records the tar for keeping it as a tar-split (plain tars only).
    rec: Option<SharedRecorder>,
    /// Where entries go below the root ([`extract`]); empty for layers.
    prefix: Vec<Vec<u8>>,
    /// `.wh.` entries are whiteouts (layers) rather than plain files (`cp`).
    whiteouts: bool,
    /// Owner forced on every node.
    owner: Option<(u32, u32)>,
    /// Container owners stored as host owners.
    id_map: Option<IdMapping>,
    no_overwrite_dir_non_dir: bool,
    rebase: Option<Rebase>,
}

impl Applier {
    fn new(dest: &Path) -> Result<Applier, ImageError> {
        let root = rustix::fs::open(
            dest,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| ImageError::io_at(dest, errno_io(e)))?;
        Ok(Applier::at(Arc::new(root), dest.to_path_buf()))
    }

    fn at(root: Arc<OwnedFd>, root_path: PathBuf) -> Applier {
        Applier {
            root,
            root_path,
            cache: None,
            dir_times: Vec::new(),
            buf: vec![0u8; BUF_SIZE],
            size: 0,
            rec: None,
            prefix: Vec::new(),
            whiteouts: true,
            owner: None,
            id_map: None,
            no_overwrite_dir_non_dir: false,
            rebase: None,
        }
    }

    fn apply_entry<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), ImageError> {
        let raw_name = entry.path_bytes().into_owned();
        let kind = entry.header().entry_type();
        if matches!(
            kind,
            EntryType::XGlobalHeader
                | EntryType::XHeader
                | EntryType::GNULongName
                | EntryType::GNULongLink
        ) {
            return Ok(());
        }
        let comps = clean_components(&raw_name)
            .ok_or_else(|| entry_err(&raw_name, "path escapes the layer root"))?;
        let comps = self.rebased(comps);
        if !self.whiteouts && comps.is_empty() {
            // `./` of a `cp` tar: the destination directory stays as it is.
            return Ok(());
        }
        let comps = [self.prefix.clone(), comps].concat();
        let mut meta = read_meta(entry, &raw_name)?;
        if let Some((uid, gid)) = self.owner {
            meta.uid = uid;
            meta.gid = gid;
        }
        if let Some(m) = &self.id_map {
            (meta.uid, meta.gid) = m.to_host(meta.uid, meta.gid).ok_or_else(|| {
                entry_err(
                    &raw_name,
                    format!(
                        "container ids {}:{} cannot be mapped to host ids",
                        meta.uid, meta.gid
                    ),
                )
            })?;
        }
        let io_err = |e: io::Error| ImageError::Apply {
            entry: String::from_utf8_lossy(&raw_name).into_owned(),
            source: e,
        };

        let Some((name, parent)) = comps.split_last() else {
            // The root itself ("./"): only its metadata can be applied.
            if kind != EntryType::Directory {
                return Err(entry_err(&raw_name, "the layer root must be a directory"));
            }
            let root = self.root.clone();
            set_fd_meta(root.as_fd(), &meta).map_err(io_err)?;
            self.dir_times.push((Vec::new(), meta.mtime));
            return Ok(());
        };

        // Whiteouts.
        if let Some(target) = name.strip_prefix(WHITEOUT_PREFIX)
            && self.whiteouts
        {
            if name.as_slice() == OPAQUE_MARKER {
                let dir = self.open_dir(parent, OFlags::RDONLY).map_err(io_err)?;
                rustix::fs::fsetxattr(&dir, "trusted.overlay.opaque", b"y", XattrFlags::empty())
                    .map_err(|e| io_err(errno_io(e)))?;
                return Ok(());
            }
            if target.starts_with(WHITEOUT_PREFIX) {
                // Other AUFS metadata (`.wh..wh.plnk`, ...) has no overlay meaning.
                return Ok(());
            }
            if target.is_empty() || target == b"." || target == b".." {
                return Err(entry_err(&raw_name, "whiteout names no file"));
            }
            let pfd = self.parent_fd(parent).map_err(io_err)?;
            let target = OsStr::from_bytes(target);
            self.remove_existing(&pfd, target).map_err(io_err)?;
            rustix::fs::mknodat(
                &*pfd,
                target,
                FileType::CharacterDevice,
                Mode::empty(),
                rustix::fs::makedev(0, 0),
            )
            .map_err(|e| io_err(errno_io(e)))?;
            chown_at(&pfd, target, &meta).map_err(io_err)?;
            return Ok(());
        }

        let pfd = self.parent_fd(parent).map_err(io_err)?;
        let name_os = OsStr::from_bytes(name);
        if self.no_overwrite_dir_non_dir
            && let Ok(st) = rustix::fs::statat(&*pfd, name_os, AtFlags::SYMLINK_NOFOLLOW)
        {
            let is_dir = FileType::from_raw_mode(st.st_mode) == FileType::Directory;
            let path =
                String::from_utf8_lossy(&[b"/".to_vec(), comps.join(&b'/')].concat()).into_owned();
            let name = String::from_utf8_lossy(&raw_name).into_owned();
            if is_dir && kind != EntryType::Directory {
                return Err(ImageError::InvalidArgument(format!(
                    "cannot overwrite directory {path:?} with non-directory {name:?}"
                )));
            }
            if !is_dir && kind == EntryType::Directory {
                return Err(ImageError::InvalidArgument(format!(
                    "cannot overwrite non-directory {path:?} with directory {name:?}"
                )));
            }
        }
        match kind {
            EntryType::Directory => {
                match rustix::fs::mkdirat(&*pfd, name_os, Mode::from_raw_mode(0o700)) {
                    Ok(()) => {}
                    Err(Errno::EXIST) => {
                        let st = rustix::fs::statat(&*pfd, name_os, AtFlags::SYMLINK_NOFOLLOW)
                            .map_err(|e| io_err(errno_io(e)))?;
                        if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
                            self.remove_existing(&pfd, name_os).map_err(io_err)?;
                            rustix::fs::mkdirat(&*pfd, name_os, Mode::from_raw_mode(0o700))
                                .map_err(|e| io_err(errno_io(e)))?;
                        }
                    }
                    Err(e) => return Err(io_err(errno_io(e))),
                }
                let dir = rustix::fs::openat(
                    &*pfd,
                    name_os,
                    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .map_err(|e| io_err(errno_io(e)))?;
                set_fd_meta(dir.as_fd(), &meta).map_err(io_err)?;
                self.dir_times.push((comps.clone(), meta.mtime));
            }
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => {
                let flags = OFlags::WRONLY
                    | OFlags::CREATE
                    | OFlags::EXCL
                    | OFlags::NOFOLLOW
                    | OFlags::CLOEXEC;
                let mode = Mode::from_raw_mode(0o600);
                let fd = match rustix::fs::openat(&*pfd, name_os, flags, mode) {
                    Err(Errno::EXIST) => {
                        self.remove_existing(&pfd, name_os).map_err(io_err)?;
                        rustix::fs::openat(&*pfd, name_os, flags, mode)
                    }
                    r => r,
                }
                .map_err(|e| io_err(errno_io(e)))?;
                let mut file = File::from(fd);
                if let Some(r) = &self.rec {
                    let mut r = r.borrow_mut();
                    if kind == EntryType::GNUSparse {
                        // The file on disk holds the expanded content, not the tar's bytes.
                        r.go_raw(&self.root, &self.root_path).map_err(io_err)?;
                    } else {
                        r.file(
                            &self.root,
                            &self.root_path,
                            comps.join(&b'/'),
                            entry.size(),
                            entry.raw_file_position(),
                        )
                        .map_err(io_err)?;
                    }
                }
                loop {
                    let n = match entry.read(&mut self.buf) {
                        Ok(0) => break,
                        Ok(n) => n,
                        Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                        Err(e) => return Err(archive_err(e)),
                    };
                    file.write_all(&self.buf[..n]).map_err(io_err)?;
                    self.size += n as u64;
                }
                set_fd_meta(file.as_fd(), &meta).map_err(io_err)?;
                rustix::fs::futimens(&file, &times(meta.mtime)).map_err(|e| io_err(errno_io(e)))?;
            }
            EntryType::Symlink => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| entry_err(&raw_name, "symlink without a target"))?
                    .into_owned();
                let target = OsStr::from_bytes(&target);
                if let Err(Errno::EXIST) = rustix::fs::symlinkat(target, &*pfd, name_os) {
                    self.remove_existing(&pfd, name_os).map_err(io_err)?;
                    rustix::fs::symlinkat(target, &*pfd, name_os)
                        .map_err(|e| io_err(errno_io(e)))?;
                }
                // A new symlink changes how later names resolve.
                self.cache = None;
                self.finish_at(&pfd, name_os, &meta).map_err(io_err)?;
            }
            EntryType::Link => {
                let target = entry
                    .link_name_bytes()
                    .ok_or_else(|| entry_err(&raw_name, "hardlink without a target"))?
                    .into_owned();
                let tcomps = clean_components(&target).ok_or_else(|| {
                    entry_err(&raw_name, "hardlink target escapes the layer root")
                })?;
                let tcomps = [self.prefix.clone(), self.rebased(tcomps)].concat();
                let Some((tname, tparent)) = tcomps.split_last() else {
                    return Err(entry_err(&raw_name, "hardlink to the layer root"));
                };
                if tcomps == comps {
                    return Ok(());
                }
                let tfd = self.lookup_dir(tparent).map_err(io_err)?;
                let tname = OsStr::from_bytes(tname);
                let link = || rustix::fs::linkat(&*tfd, tname, &*pfd, name_os, AtFlags::empty());
                if let Err(Errno::EXIST) = link() {
                    self.remove_existing(&pfd, name_os).map_err(io_err)?;
                    link().map_err(|e| io_err(errno_io(e)))?;
                }
            }
            EntryType::Char | EntryType::Block | EntryType::Fifo => {
                let (ft, dev) = match kind {
                    EntryType::Char | EntryType::Block => {
                        let major = entry.header().device_major().ok().flatten().unwrap_or(0);
                        let minor = entry.header().device_minor().ok().flatten().unwrap_or(0);
                        let ft = if kind == EntryType::Char {
                            FileType::CharacterDevice
                        } else {
                            FileType::BlockDevice
                        };
                        (ft, rustix::fs::makedev(major, minor))
                    }
                    _ => (FileType::Fifo, 0),
                };
                let mode = Mode::from_raw_mode(meta.mode & 0o777);
                if let Err(Errno::EXIST) = rustix::fs::mknodat(&*pfd, name_os, ft, mode, dev) {
                    self.remove_existing(&pfd, name_os).map_err(io_err)?;
                    rustix::fs::mknodat(&*pfd, name_os, ft, mode, dev)
                        .map_err(|e| io_err(errno_io(e)))?;
                }
                chown_at(&pfd, name_os, &meta).map_err(io_err)?;
                // mknod honours the umask; the node is ours and not a symlink, so chmodat is exact.
                rustix::fs::chmodat(
                    &*pfd,
                    name_os,
                    Mode::from_raw_mode(meta.mode & 0o7777),
                    AtFlags::empty(),
                )
                .map_err(|e| io_err(errno_io(e)))?;
                self.finish_at(&pfd, name_os, &meta).map_err(io_err)?;
            }
            other => {
                return Err(entry_err(
                    &raw_name,
                    format!("unsupported tar entry type {other:?}"),
                ));
            }
        }
        Ok(())
    }

    /// `comps` with the [`ExtractOptions::rebase`] prefix swapped.
    fn rebased(&self, comps: Vec<Vec<u8>>) -> Vec<Vec<u8>> {
        match &self.rebase {
            Some((old, new)) if comps.starts_with(old) => {
                [new.clone(), comps[old.len()..].to_vec()].concat()
            }
            _ => comps,
        }
    }

    /// Ownership (for symlinks), xattrs and mtime of a node that cannot be opened for writing.
    fn finish_at(&self, pfd: &OwnedFd, name: &OsStr, meta: &Meta) -> io::Result<()> {
        chown_at(pfd, name, meta)?;
        if !meta.xattrs.is_empty() {
            // The parent was resolved safely; l*xattr does not follow the final component.
            let mut p = OsString::from(format!("/proc/self/fd/{}/", pfd.as_raw_fd()));
            p.push(name);
            for (k, v) in &meta.xattrs {
                rustix::fs::lsetxattr(Path::new(&p), k.as_os_str(), v, XattrFlags::empty())
                    .map_err(errno_io)?;
            }
        }
        rustix::fs::utimensat(pfd, name, &times(meta.mtime), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(errno_io)
    }

    /// Deletes whatever `name` is in the parent (recursively for directories).
    fn remove_existing(&mut self, pfd: &OwnedFd, name: &OsStr) -> io::Result<()> {
        self.cache = None;
        if let Some(r) = &self.rec
            && rustix::fs::statat(pfd, name, AtFlags::SYMLINK_NOFOLLOW).is_ok()
        {
            // The removal may destroy content a tar-split would refer to: keep the tar.
            r.borrow_mut().go_raw(&self.root, &self.root_path)?;
        }
        remove_at(pfd, name)
    }

    /// The parent directory of an entry, resolved inside the root, created (0755) if missing.
    fn parent_fd(&mut self, parent: &[Vec<u8>]) -> io::Result<Arc<OwnedFd>> {
        if parent.is_empty() {
            return Ok(self.root.clone());
        }
        if let Some((p, fd)) = &self.cache
            && p.as_slice() == parent
        {
            return Ok(fd.clone());
        }
        let fd = match self.resolve(&join(parent), OFlags::PATH) {
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                self.mkdir_all(parent)?;
                self.resolve(&join(parent), OFlags::PATH)?
            }
            r => r?,
        };
        let fd = Arc::new(fd);
        self.cache = Some((parent.to_vec(), fd.clone()));
        Ok(fd)
    }

    /// An existing directory (a hardlink target's parent), resolved inside the root.
    fn lookup_dir(&self, dir: &[Vec<u8>]) -> io::Result<Arc<OwnedFd>> {
        if dir.is_empty() {
            return Ok(self.root.clone());
        }
        self.resolve(&join(dir), OFlags::PATH).map(Arc::new)
    }

    /// Opens a directory (creating it if missing) with `flags` (e.g. `RDONLY` for xattrs).
    fn open_dir(&mut self, dir: &[Vec<u8>], flags: OFlags) -> io::Result<OwnedFd> {
        if dir.is_empty() {
            return rustix::fs::openat(
                &*self.root,
                ".",
                flags | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno_io);
        }
        self.parent_fd(dir)?;
        self.resolve(&join(dir), flags)
    }

    fn resolve(&self, path: &OsStr, flags: OFlags) -> io::Result<OwnedFd> {
        let how = ResolveFlags::IN_ROOT | ResolveFlags::NO_MAGICLINKS;
        let flags = flags | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let mut tries = 0;
        loop {
            match rustix::fs::openat2(&*self.root, path, flags, Mode::empty(), how) {
                // The kernel asks for a retry when a rename raced the lookup.
                Err(Errno::AGAIN) if tries < 8 => tries += 1,
                r => return r.map_err(errno_io),
            }
        }
    }

    /// Creates the missing directories of `path` the way Docker's `MkdirAll` would, but with
    /// every step resolved inside the root: a dangling symlink on the way is followed (its
    /// target is interpreted inside the root) rather than replaced.
    fn mkdir_all(&mut self, path: &[Vec<u8>]) -> io::Result<()> {
        let mut path: Vec<Vec<u8>> = path.to_vec();
        let mut i = 0;
        let mut hops = 0;
        while i < path.len() {
            match self.resolve(&join(&path[..=i]), OFlags::PATH) {
                Ok(_) => i += 1,
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    let parent = if i == 0 {
                        self.root.clone()
                    } else {
                        Arc::new(self.resolve(&join(&path[..i]), OFlags::PATH)?)
                    };
                    let name = OsStr::from_bytes(&path[i]);
                    match rustix::fs::statat(&*parent, name, AtFlags::SYMLINK_NOFOLLOW) {
                        Err(Errno::NOENT) => {
                            rustix::fs::mkdirat(&*parent, name, Mode::from_raw_mode(0o755))
                                .map_err(errno_io)?;
                            i += 1;
                        }
                        Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Symlink => {
                            hops += 1;
                            if hops > MAX_SYMLINK_HOPS {
                                return Err(io::Error::from_raw_os_error(libc::ELOOP));
                            }
                            let target = rustix::fs::readlinkat(&*parent, name, Vec::new())
                                .map_err(errno_io)?
                                .into_bytes();
                            let base: Vec<Vec<u8>> = if target.starts_with(b"/") {
                                Vec::new()
                            } else {
                                path[..i].to_vec()
                            };
                            let rest = path[i + 1..].to_vec();
                            let target_parts = target.split(|&b| b == b'/').map(<[u8]>::to_vec);
                            path = clean_clamped(base.into_iter().chain(target_parts).chain(rest));
                            i = 0;
                        }
                        Ok(_) => return Err(io::Error::from_raw_os_error(libc::ENOTDIR)),
                        Err(e) => return Err(errno_io(e)),
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Ok(())
    }

    /// Directory mtimes last: creating their children changed them.
    fn finish(&mut self) -> Result<(), ImageError> {
        let dirs = std::mem::take(&mut self.dir_times);
        for (comps, mtime) in dirs {
            let io_err = |e: io::Error| ImageError::Apply {
                entry: String::from_utf8_lossy(&comps.join(&b'/')).into_owned(),
                source: e,
            };
            match comps.split_last() {
                None => rustix::fs::futimens(&*self.root, &times(mtime))
                    .map_err(|e| io_err(errno_io(e)))?,
                Some((name, parent)) => {
                    let pfd = match self.lookup_dir(parent) {
                        Ok(fd) => fd,
                        // Removed or replaced by a later entry: nothing to stamp.
                        Err(e)
                            if matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR)) =>
                        {
                            continue;
                        }
                        Err(e) => return Err(io_err(e)),
                    };
                    match rustix::fs::utimensat(
                        &*pfd,
                        OsStr::from_bytes(name),
                        &times(mtime),
                        AtFlags::SYMLINK_NOFOLLOW,
                    ) {
                        Ok(()) | Err(Errno::NOENT) => {}
                        Err(e) => return Err(io_err(errno_io(e))),
                    }
                }
            }
        }
        tracing::trace!(dest = %self.root_path.display(), "layer applied");
        Ok(())
    }
}

fn times(mtime: Timespec) -> Timestamps {
    Timestamps {
        last_access: mtime,
        last_modification: mtime,
    }
}

fn chown_at(pfd: &OwnedFd, name: &OsStr, meta: &Meta) -> io::Result<()> {
    rustix::fs::chownat(
        pfd,
        name,
        Some(rustix::fs::Uid::from_raw(meta.uid)),
        Some(rustix::fs::Gid::from_raw(meta.gid)),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(errno_io)
}

/// Owner, then mode (chown clears set-id bits), then xattrs, on an open file or directory.
fn set_fd_meta(fd: std::os::fd::BorrowedFd<'_>, meta: &Meta) -> io::Result<()> {
    rustix::fs::fchown(
        fd,
        Some(rustix::fs::Uid::from_raw(meta.uid)),
        Some(rustix::fs::Gid::from_raw(meta.gid)),
    )
    .map_err(errno_io)?;
    rustix::fs::fchmod(fd, Mode::from_raw_mode(meta.mode & 0o7777)).map_err(errno_io)?;
    for (k, v) in &meta.xattrs {
        rustix::fs::fsetxattr(fd, k.as_os_str(), v, XattrFlags::empty()).map_err(errno_io)?;
    }
    Ok(())
}

fn read_meta<R: Read>(entry: &mut tar::Entry<'_, R>, raw_name: &[u8]) -> Result<Meta, ImageError> {
    let h = entry.header();
    let bad = |what: &str, e: io::Error| entry_err(raw_name, format!("bad {what}: {e}"));
    let mut uid = u32::try_from(h.uid().map_err(|e| bad("uid", e))?)
        .map_err(|_| entry_err(raw_name, "uid out of range"))?;
    let mut gid = u32::try_from(h.gid().map_err(|e| bad("gid", e))?)
        .map_err(|_| entry_err(raw_name, "gid out of range"))?;
    let mode = h.mode().map_err(|e| bad("mode", e))?;
    let mut mtime = Timespec {
        tv_sec: h.mtime().map_err(|e| bad("mtime", e))? as i64,
        tv_nsec: 0,
    };
    let mut xattrs = Vec::new();
    if let Some(exts) = entry.pax_extensions().map_err(|e| bad("pax header", e))? {
        for ext in exts {
            let ext = ext.map_err(|e| bad("pax header", e))?;
            let Ok(key) = ext.key() else { continue };
            let value = ext.value_bytes();
            let num = || {
                std::str::from_utf8(value)
                    .ok()
                    .and_then(|v| v.parse::<u32>().ok())
            };
            match key {
                "uid" => uid = num().ok_or_else(|| entry_err(raw_name, "bad pax uid"))?,
                "gid" => gid = num().ok_or_else(|| entry_err(raw_name, "bad pax gid"))?,
                "mtime" => {
                    if let Some(t) = std::str::from_utf8(value).ok().and_then(parse_pax_time) {
                        mtime = t;
                    }
                }
                k => {
                    if let Some(x) = k.strip_prefix("SCHILY.xattr.") {
                        // Overlay's own xattrs come only from whiteout markers, never from content:
                        // a layer must not redirect or make directories opaque behind our back.
                        if !x.starts_with("trusted.overlay.") {
                            xattrs.push((OsString::from(x), value.to_vec()));
                        }
                    }
                }
            }
        }
    }
    Ok(Meta {
        uid,
        gid,
        mode,
        mtime,
        xattrs,
    })
}

fn parse_pax_time(s: &str) -> Option<Timespec> {
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let tv_sec: i64 = secs.parse().ok()?;
    let mut digits: String = frac.chars().take(9).collect();
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    while digits.len() < 9 {
        digits.push('0');
    }
    let tv_nsec = if frac.is_empty() {
        0
    } else {
        digits.parse().ok()?
    };
    Some(Timespec { tv_sec, tv_nsec })
}

/// Removes `name` under `dirfd`, recursing into directories without following symlinks.
pub fn remove_at(dirfd: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match rustix::fs::unlinkat(dirfd, name, AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => Ok(()),
        Err(Errno::ISDIR) | Err(Errno::PERM) => {
            let dir = rustix::fs::openat(
                dirfd,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .map_err(errno_io)?;
            let mut names = Vec::new();
            for e in rustix::fs::Dir::read_from(&dir).map_err(errno_io)? {
                let e = e.map_err(errno_io)?;
                let n = e.file_name().to_bytes();
                if n != b"." && n != b".." {
                    names.push(OsString::from_vec(n.to_vec()));
                }
            }
            for n in names {
                remove_at(&dir, &n)?;
            }
            rustix::fs::unlinkat(dirfd, name, AtFlags::REMOVEDIR).map_err(errno_io)
        }
        Err(e) => Err(errno_io(e)),
    }
}

#[cfg(test)]
mod tests;
