//! Container filesystems over the API, the blocking half: `cp` (`GET`/`HEAD`/`PUT
//! /containers/{id}/archive`), `export` and `commit`. The HTTP half is
//! [`crate::handlers::archive`].
//!
//! Paths follow dockerd's rules (`container.ResolvePath`, `StatPath`,
//! `ContainerExtractToDir`): a path is taken as absolute in the container; for
//! `GET`/`HEAD` every component but the last is a symlink followed inside the
//! container, and the last one too when the path ends in `/` or `/.`; `PUT`
//! follows all of them. The root comes from [`berth::runtime::rootaccess`], so no
//! container path is ever looked up on the host.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, OFlags};
use serde::Serialize;

use berth::image::apply::{ExtractOptions, extract};
use berth::image::diff::{TarTree, TreeOptions};
use berth::runtime::rootaccess::{ContainerRoot, RootAccessError, absolute, components};
use berth::runtime::userns::IdMapping;

use crate::containers::{Container, Status};
use crate::error::{ApiError, ApiResult};

impl From<RootAccessError> for ApiError {
    fn from(e: RootAccessError) -> ApiError {
        ApiError::new(e.class(), e.to_string())
    }
}

/// A container root opened for one request, with what must live as long as it.
pub struct Opened {
    /// The root.
    pub root: ContainerRoot,
    /// The container's user-namespace maps (`--userns-remap`): owners
    /// cross between its view and the host's through them.
    pub ids: Option<IdMapping>,
    /// An empty lower layer for a layerless image's overlay.
    _empty: Option<tempfile::TempDir>,
}

/// Opens the root of `c`: the live root of a running container (unless
/// `snapshot`), else its overlay; `writable` mounts the upper layer read-write (the
/// caller holds the container's op lock, so it cannot start meanwhile).
pub fn open_root(
    c: &Container,
    ids: Option<IdMapping>,
    writable: bool,
    snapshot: bool,
) -> ApiResult<Opened> {
    let st = c.state();
    if st.status == Status::Running && !snapshot {
        let info = berth::runtime::state::read_supervisor_info(&c.run_dir);
        let (pid, start) = info
            .and_then(|i| Some((i.container_pid?, i.container_start_time?)))
            .ok_or_else(|| crate::containers::not_running(&c.def.id))?;
        return Ok(Opened {
            root: ContainerRoot::of_process(pid, start)?,
            ids,
            _empty: None,
        });
    }
    let upper = c.state_dir.join("upper");
    let work = c.state_dir.join("work");
    let mut empty = None;
    let mut layers = c.def.layers.clone();
    if layers.is_empty() {
        let dir = tempfile::Builder::new()
            .prefix("berth-empty-")
            .tempdir()
            .map_err(|e| ApiError::internal(format!("creating an empty layer: {e}")))?;
        layers.push(dir.path().to_path_buf());
        empty = Some(dir);
    }
    let root = ContainerRoot::overlay(&layers, &upper, writable.then_some(work.as_path()))?;
    Ok(Opened {
        root,
        ids,
        _empty: empty,
    })
}

/// A path of a `cp` request, split the way dockerd splits it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CpPath {
    /// The directory part, symlinks to be followed.
    pub dir: Vec<Vec<u8>>,
    /// The last component, not followed; `None` when the path names its
    /// directory itself (`/`, `x/`, `x/.`).
    pub base: Option<Vec<u8>>,
    /// Go's `filepath.Base` of the path: the stat name and the archive's top entry.
    pub name: Vec<u8>,
}

impl CpPath {
    /// Splits `path` (absolute in the container, `..` clamped at its root).
    pub fn parse(path: &str) -> CpPath {
        let raw = path.as_bytes();
        let mut comps = components(raw);
        let dot = raw == b"." || raw.ends_with(b"/.");
        let slash = raw.ends_with(b"/");
        if dot || slash || comps.is_empty() {
            let name = if dot {
                b".".to_vec()
            } else {
                comps.last().cloned().unwrap_or_else(|| b"/".to_vec())
            };
            return CpPath {
                dir: comps,
                base: None,
                name,
            };
        }
        let base = comps.pop().expect("not empty");
        CpPath {
            dir: comps,
            name: base.clone(),
            base: Some(base),
        }
    }
}

/// `X-Docker-Container-Path-Stat`: dockerd's `ContainerPathStat`.
#[derive(Debug, Clone, Serialize)]
pub struct PathStat {
    /// The path's base name.
    pub name: String,
    /// `st_size`.
    pub size: i64,
    /// Go's `os.FileMode` bits.
    pub mode: u32,
    /// RFC 3339 with nanoseconds, as Go's `time.Time` marshals.
    pub mtime: String,
    /// For a symlink, its target fully evaluated in the container; else empty.
    #[serde(rename = "linkTarget")]
    pub link_target: String,
}

impl PathStat {
    /// The header value: base64 of the JSON.
    pub fn header(&self) -> String {
        let json = serde_json::to_vec(self).expect("stat serialises");
        base64(&json)
    }
}

/// Standard base64 with padding (Go's `base64.StdEncoding`).
fn base64(data: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Go's `os.FileMode` of a `st_mode`.
pub fn go_mode(st_mode: u32) -> u32 {
    let mut m = st_mode & 0o777;
    m |= match FileType::from_raw_mode(st_mode) {
        FileType::Directory => 1 << 31,
        FileType::Symlink => 1 << 27,
        FileType::Fifo => 1 << 25,
        FileType::Socket => 1 << 24,
        FileType::CharacterDevice => (1 << 26) | (1 << 21),
        FileType::BlockDevice => 1 << 26,
        _ => 0,
    };
    if st_mode & 0o4000 != 0 {
        m |= 1 << 23;
    }
    if st_mode & 0o2000 != 0 {
        m |= 1 << 22;
    }
    if st_mode & 0o1000 != 0 {
        m |= 1 << 20;
    }
    m
}

/// Go's RFC 3339 "nano" format: trailing zeros of the fraction dropped.
fn go_time(secs: i64, nanos: i64) -> String {
    let t = chrono::DateTime::from_timestamp(secs, nanos.clamp(0, 999_999_999) as u32)
        .unwrap_or_default();
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    if nanos <= 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

fn not_found(path: &str, container: &str) -> ApiError {
    ApiError::not_found(format!(
        "Could not find the file {path} in container {container}"
    ))
}

fn io_api(what: &str, e: std::io::Error) -> ApiError {
    ApiError::internal(format!("{what}: {e}"))
}

/// What a `GET`/`HEAD` found: the stat and where the tree is.
pub struct Found {
    /// For the header.
    pub stat: PathStat,
    /// The directory holding the path (the root itself for `/`), opened once so
    /// that the archive is of what was stat-ed even if names are swapped meanwhile.
    parent: Option<std::os::fd::OwnedFd>,
    /// The path's last resolved component (`.` for the root).
    last: Vec<u8>,
    /// The top entry's name in the archive.
    pub name: Vec<u8>,
}

/// Resolves and stats `path` in `root` (`container` names it in errors).
pub fn stat_path(root: &ContainerRoot, path: &str, container: &str) -> ApiResult<Found> {
    let p = CpPath::parse(path);
    let nf = || not_found(path, container);
    let map = |e: std::io::Error| match e.raw_os_error() {
        Some(libc::ENOENT | libc::ENOTDIR | libc::ELOOP) => nf(),
        _ => io_api(&format!("resolving {path}"), e),
    };
    let dir = root.resolve(&absolute(&p.dir), true).map_err(map)?;
    let target = match &p.base {
        Some(b) => [dir, vec![b.clone()]].concat(),
        None => dir,
    };
    let (parent, last) = match target.split_last() {
        Some((last, parent)) => {
            let pfd = root
                .open(parent, OFlags::PATH | OFlags::DIRECTORY)
                .map_err(map)?;
            (Some(pfd), last.clone())
        }
        None => (None, b".".to_vec()),
    };
    let st = rustix::fs::statat(
        parent.as_ref().map_or(root.fd(), |p| p.as_fd()),
        std::ffi::OsStr::from_bytes(&last),
        AtFlags::SYMLINK_NOFOLLOW,
    )
    .map_err(|e| map(std::io::Error::from_raw_os_error(e.raw_os_error())))?;
    let link_target = if FileType::from_raw_mode(st.st_mode) == FileType::Symlink {
        let full = [p.dir.clone(), p.base.clone().into_iter().collect()].concat();
        let resolved = root.resolve(&absolute(&full), true).map_err(map)?;
        String::from_utf8_lossy(&absolute(&resolved)).into_owned()
    } else {
        String::new()
    };
    Ok(Found {
        stat: PathStat {
            name: String::from_utf8_lossy(&p.name).into_owned(),
            size: st.st_size,
            mode: go_mode(st.st_mode),
            mtime: go_time(st.st_mtime, st.st_mtime_nsec as i64),
            link_target,
        },
        parent,
        last,
        name: p.name,
    })
}

/// Writes the tree at `found` as a tar into `out` (the `GET` body).
pub fn write_archive(opened: &Opened, found: &Found, out: impl Write) -> ApiResult<()> {
    let root = &opened.root;
    let opts = TreeOptions {
        overlay_whiteouts: false,
        skip_pseudo_fs: true,
        id_map: opened.ids.clone(),
    };
    let mut tree = TarTree::new(out, opts);
    let parent = found.parent.as_ref().map_or(root.fd(), |p| p.as_fd());
    match tree.add(
        parent,
        std::ffi::OsStr::from_bytes(&found.last),
        &found.name,
    ) {
        // Removed since the stat: an empty archive, as if it had never been there.
        Err(berth::image::ImageError::Io { source, .. })
            if source.raw_os_error() == Some(libc::ENOENT) => {}
        r => r?,
    }
    tree.finish()?;
    Ok(())
}

/// `PUT`: what to extract where.
pub struct PutRequest<'a> {
    /// `?path=`.
    pub path: &'a str,
    /// The container as the client named it.
    pub container: &'a str,
    /// `?noOverwriteDirNonDir=`.
    pub no_overwrite_dir_non_dir: bool,
    /// `?copyUIDGID=`: the container user's ids, when it has a user.
    pub owner: Option<(u32, u32)>,
    /// The container's `HostConfig.ReadonlyRootfs`.
    pub readonly_rootfs: bool,
}

/// Checks the destination of a `PUT` and extracts `tar` into it.
pub fn extract_to(opened: &Opened, req: &PutRequest<'_>, tar: impl Read) -> ApiResult<u64> {
    let root = &opened.root;
    let nf = || not_found(req.path, req.container);
    let map = |e: std::io::Error| match e.raw_os_error() {
        Some(libc::ENOENT | libc::ELOOP) => nf(),
        _ => io_api(&format!("resolving {}", req.path), e),
    };
    let dest = root.resolve(req.path.as_bytes(), true).map_err(map)?;
    let fd = root
        .open(&dest, OFlags::PATH)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ENOTDIR) => ApiError::invalid("extraction point is not a directory"),
            _ => map(e),
        })?;
    let st = rustix::fs::fstat(&fd).map_err(|e| map(e.into()))?;
    if FileType::from_raw_mode(st.st_mode) != FileType::Directory {
        return Err(ApiError::invalid("extraction point is not a directory"));
    }
    // A volume (another mount) stays writable under a read-only root; a
    // read-only volume refuses, as dockerd's `checkIfPathIsInAVolume`.
    let on_root = berth::runtime::rootaccess::mount_id(fd.as_fd())
        .map_err(|e| io_api("stat of the destination", e))?
        == root.mount_id();
    let ro_mount = rustix::fs::fstatvfs(&fd)
        .map(|v| v.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY))
        .unwrap_or(false);
    if on_root && (req.readonly_rootfs || ro_mount) {
        return Err(ApiError::new(
            berth::api::ErrorClass::Forbidden,
            "container rootfs is marked read-only",
        ));
    }
    if !on_root && ro_mount {
        return Err(ApiError::new(
            berth::api::ErrorClass::Forbidden,
            "mounted volume is marked read-only",
        ));
    }
    let root_fd = root
        .fd()
        .try_clone_to_owned()
        .map_err(|e| io_api("duplicating the root descriptor", e))?;
    let opts = ExtractOptions {
        no_overwrite_dir_non_dir: req.no_overwrite_dir_non_dir,
        owner: req.owner,
        rebase: None,
        id_map: opened.ids.clone(),
    };
    Ok(extract(
        tar,
        root_fd,
        Path::new(req.container),
        &dest,
        &opts,
    )?)
}

/// The container user's uid and gid for `copyUIDGID`, looked up in the
/// container's own `/etc/passwd` and `/etc/group`; `None` without a user.
pub fn container_owner(root: &ContainerRoot, user: &str) -> ApiResult<Option<(u32, u32)>> {
    if user.is_empty() {
        return Ok(None);
    }
    let read = |name: &str| -> Option<String> {
        let fd = root
            .open(&components(name.as_bytes()), OFlags::RDONLY)
            .ok()?;
        let mut s = String::new();
        std::fs::File::from(fd).read_to_string(&mut s).ok()?;
        Some(s)
    };
    let passwd = read("/etc/passwd");
    let group = read("/etc/group");
    let u = berth::runtime::user::resolve(user, passwd.as_deref(), group.as_deref())
        .map_err(ApiError::invalid)?;
    Ok(Some((u.uid, u.gid)))
}

/// `export`: the container's whole filesystem (its overlay, without volumes or
/// kernel filesystems) as a tar into `out`.
pub fn write_export(opened: &Opened, out: impl Write) -> ApiResult<()> {
    let opts = TreeOptions {
        id_map: opened.ids.clone(),
        ..TreeOptions::default()
    };
    let mut tree = TarTree::new(out, opts);
    tree.add_children(opened.root.fd(), b"")?;
    tree.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(v: &[&str]) -> Vec<Vec<u8>> {
        v.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[test]
    fn paths_split_like_dockerd() {
        let p = CpPath::parse("/tmp/d/");
        assert_eq!(
            (p.dir, p.base, p.name),
            (parts(&["tmp", "d"]), None, b"d".to_vec())
        );
        let p = CpPath::parse("tmp/d/.");
        assert_eq!(
            (p.dir, p.base, p.name),
            (parts(&["tmp", "d"]), None, b".".to_vec())
        );
        let p = CpPath::parse("/");
        assert_eq!((p.dir, p.base, p.name), (vec![], None, b"/".to_vec()));
        let p = CpPath::parse("/../etc/../etc/shadow");
        assert_eq!(
            (p.dir, p.base, p.name),
            (
                parts(&["etc"]),
                Some(b"shadow".to_vec()),
                b"shadow".to_vec()
            )
        );
    }

    #[test]
    fn base64_matches_go() {
        assert_eq!(base64(b""), "");
        assert_eq!(base64(b"f"), "Zg==");
        assert_eq!(base64(b"fo"), "Zm8=");
        assert_eq!(base64(b"foo"), "Zm9v");
        assert_eq!(base64(b"{\"name\":\"f\"}"), "eyJuYW1lIjoiZiJ9");
    }

    #[test]
    fn modes_and_times_match_go() {
        assert_eq!(go_mode(libc::S_IFDIR | 0o755), 2147484141);
        assert_eq!(go_mode(libc::S_IFLNK | 0o777), 134218239);
        assert_eq!(go_mode(libc::S_IFREG | 0o644), 420);
        assert_eq!(go_time(0, 144_958_887), "1970-01-01T00:00:00.144958887Z");
        assert_eq!(go_time(0, 500_000_000), "1970-01-01T00:00:00.5Z");
        assert_eq!(go_time(0, 0), "1970-01-01T00:00:00Z");
    }
}
