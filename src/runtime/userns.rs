//! User namespaces (Docker's `--userns-remap`): the id maps of a remapped
//! container, `/etc/subuid` and `/etc/subgid`, and the kernel work.
//!
//! How a remapped container starts (see [`super::supervisor`] and [`super::init`]):
//! 1. The supervisor, still host root and before it unshares the pid
//!    namespace, [`create`]s the container's user namespace: a short-lived
//!    child clones itself into a new one, the supervisor writes its
//!    `uid_map`/`gid_map` and keeps `/proc/<child>/ns/user` open.
//! 2. The init gets that fd (at [`super::init::USERNS_FD`]) and, still host
//!    root in its own mount namespace, replaces every image layer with an
//!    idmapped mount of itself ([`idmap_in_place`]), so the shared, unchowned
//!    layers show host uid 0 as the namespace's root. The upper dir is not
//!    idmapped: what the container writes lands on disk as the mapped host
//!    ids, as with dockerd. The container's own dirs (upper root, volume
//!    roots, the generated `/etc` files, a working dir it creates) are
//!    [`chown_to_root`]ed to the namespace's root.
//! 3. After every mount, `pivot_root`, hostname and rlimits, the init
//!    [`enter`]s the user namespace (giving it the `-t` terminal first),
//!    becomes its root, and only then drops capabilities and switches to
//!    the container's user.
//!
//! The other namespaces stay owned by the host's user namespace: root in
//! the container has its capabilities over its own files and processes only
//! (no mounts, no network configuration, no hostname changes), which is
//! stricter than dockerd, where runc creates them inside the user namespace.
//! Binding low ports and ICMP echo sockets still work through dockerd's
//! default sysctls ([`unprivileged_net_sysctls`], set for every container
//! with a network namespace of its own).
//!
//! An exec joins the init's user namespace last ([`open_foreign`], [`enter`]).

use std::fs;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// Most lines the kernel takes in one `uid_map` or `gid_map`.
pub const MAX_MAP_LINES: usize = 340;

/// One line of a `uid_map`/`gid_map`: `size` ids from `container_id` inside
/// map to `host_id` onwards outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMap {
    /// First id inside the container.
    pub container_id: u32,
    /// The host id `container_id` maps to.
    pub host_id: u32,
    /// How many consecutive ids the line maps.
    pub size: u32,
}

/// The uid and gid maps of a remapped container.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct IdMapping {
    /// Lines of `uid_map`.
    pub uids: Vec<IdMap>,
    /// Lines of `gid_map`.
    pub gids: Vec<IdMap>,
}

/// One range of `/etc/subuid` or `/etc/subgid`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubordinateRange {
    /// First host id of the range.
    pub start: u32,
    /// Number of ids.
    pub count: u32,
}

/// Why a user namespace could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum UsernsError {
    /// The maps are not something the kernel takes.
    #[error("invalid id mapping: {0}")]
    InvalidMapping(String),
    /// A system call or file operation failed.
    #[error("{op} {path}: {source}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file or namespace it was done to.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
}

impl UsernsError {
    /// The class the daemon maps to an HTTP status.
    pub fn class(&self) -> crate::api::ErrorClass {
        match self {
            UsernsError::InvalidMapping(_) => crate::api::ErrorClass::InvalidArgument,
            UsernsError::Io { .. } => crate::api::ErrorClass::Internal,
        }
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> UsernsError + 'a {
    move |source| UsernsError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// The ranges of `/etc/subuid` or `/etc/subgid` text that belong to the
/// user or group `name` or its numeric id `id`, lowest start first (the
/// order dockerd maps them in). Malformed lines are skipped, as shadow does.
pub fn parse_subordinate(text: &str, name: &str, id: u32) -> Vec<SubordinateRange> {
    let id = id.to_string();
    let mut ranges: Vec<SubordinateRange> = text
        .lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                return None;
            }
            let mut f = line.split(':');
            let (owner, start, count) = (f.next()?, f.next()?, f.next()?);
            if f.next().is_some() || (owner != name && owner != id) {
                return None;
            }
            let range = SubordinateRange {
                start: start.parse().ok()?,
                count: count.parse().ok()?,
            };
            (range.count > 0).then_some(range)
        })
        .collect();
    ranges.sort_by_key(|r| r.start);
    ranges.dedup();
    ranges
}

/// Map lines for `ranges` laid end to end: container ids from 0 onwards take
/// the first range, then the next (dockerd's `createIDMap`).
pub fn maps_from_ranges(ranges: &[SubordinateRange]) -> Vec<IdMap> {
    let mut next = 0u32;
    let mut maps = Vec::with_capacity(ranges.len());
    for r in ranges {
        maps.push(IdMap {
            container_id: next,
            host_id: r.start,
            size: r.count,
        });
        next = next.saturating_add(r.count);
    }
    maps
}

fn validate_maps(what: &str, maps: &[IdMap]) -> Result<(), String> {
    if maps.is_empty() {
        return Err(format!("no {what} ranges"));
    }
    if maps.len() > MAX_MAP_LINES {
        return Err(format!(
            "{} {what} ranges, the kernel takes at most {MAX_MAP_LINES}",
            maps.len()
        ));
    }
    let end = |start: u32, size: u32| u64::from(start) + u64::from(size);
    for m in maps {
        if m.size == 0 {
            return Err(format!("empty {what} range at {}", m.container_id));
        }
        if end(m.container_id, m.size) > 1 << 32 || end(m.host_id, m.size) > 1 << 32 {
            return Err(format!(
                "{what} range {}:{}:{} overflows 32 bits",
                m.container_id, m.host_id, m.size
            ));
        }
    }
    let overlap = |key: fn(&IdMap) -> u32| {
        let mut sorted: Vec<&IdMap> = maps.iter().collect();
        sorted.sort_by_key(|m| key(m));
        sorted
            .windows(2)
            .any(|w| end(key(w[0]), w[0].size) > u64::from(key(w[1])))
    };
    if overlap(|m| m.container_id) || overlap(|m| m.host_id) {
        return Err(format!("overlapping {what} ranges"));
    }
    if map_id(maps, 0).is_none() {
        return Err(format!("{what} 0 is not mapped"));
    }
    Ok(())
}

fn map_id(maps: &[IdMap], id: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        let offset = id.checked_sub(m.container_id)?;
        (offset < m.size).then(|| m.host_id + offset)
    })
}

fn unmap_id(maps: &[IdMap], id: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        let offset = id.checked_sub(m.host_id)?;
        (offset < m.size).then(|| m.container_id + offset)
    })
}

fn map_text(maps: &[IdMap]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id, m.host_id, m.size))
        .collect()
}

impl IdMapping {
    /// Checks what the kernel requires (and that root is mapped).
    pub fn validate(&self) -> Result<(), String> {
        validate_maps("uid", &self.uids)?;
        validate_maps("gid", &self.gids)
    }

    /// The host uid and gid of the container's root.
    pub fn root(&self) -> Option<(u32, u32)> {
        Some((self.host_uid(0)?, self.host_gid(0)?))
    }

    /// The host uid container uid `uid` maps to.
    pub fn host_uid(&self, uid: u32) -> Option<u32> {
        map_id(&self.uids, uid)
    }

    /// The host gid container gid `gid` maps to.
    pub fn host_gid(&self, gid: u32) -> Option<u32> {
        map_id(&self.gids, gid)
    }

    /// A container's owner as the host stores it (`cp` into the
    /// container); `None` when either id is outside the maps.
    pub fn to_host(&self, uid: u32, gid: u32) -> Option<(u32, u32)> {
        Some((self.host_uid(uid)?, self.host_gid(gid)?))
    }

    /// A host owner as the container sees it (`cp` out, `export`,
    /// `commit`). An id outside the maps is kept: in a stopped container's
    /// overlay seen from the host only the upper layer holds shifted ids,
    /// while image layers keep the ids of the image.
    pub fn to_container(&self, uid: u32, gid: u32) -> (u32, u32) {
        (
            unmap_id(&self.uids, uid).unwrap_or(uid),
            unmap_id(&self.gids, gid).unwrap_or(gid),
        )
    }

    /// The text written to `/proc/<pid>/uid_map`.
    pub fn uid_map_text(&self) -> String {
        map_text(&self.uids)
    }

    /// The text written to `/proc/<pid>/gid_map`.
    pub fn gid_map_text(&self) -> String {
        map_text(&self.gids)
    }
}

/// Creates a user namespace with `mapping` and returns an fd holding it.
/// The process that created it exits before this returns.
///
/// The caller must be single-threaded (the supervisor is) and privileged in
/// its user namespace, and must call this before unsharing a pid namespace
/// (the helper would otherwise become that namespace's init).
pub fn create(mapping: &IdMapping) -> Result<OwnedFd, UsernsError> {
    mapping.validate().map_err(UsernsError::InvalidMapping)?;
    let (release_r, release_w) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)
        .map_err(|e| io_err("create pipe for", Path::new("userns"))(e.into()))?;
    let (r_raw, w_raw) = (release_r.as_raw_fd(), release_w.as_raw_fd());
    let flags = (libc::CLONE_NEWUSER | libc::SIGCHLD) as libc::c_ulong;
    // SAFETY: without CLONE_VM, clone with a null stack behaves like fork:
    // the child runs on a copy of this address space. The caller is
    // single-threaded, and the child only makes raw system calls on fds it
    // inherited, then `_exit`s, so no lock or Rust object is shared.
    let pid = unsafe { libc::syscall(libc::SYS_clone, flags, 0usize, 0usize, 0usize, 0usize) };
    if pid == 0 {
        // SAFETY: the child closes its copy of the write end (so the read
        // sees EOF once the parent closes its own), waits, and exits.
        unsafe {
            libc::close(w_raw);
            let mut b = 0u8;
            libc::read(r_raw, (&raw mut b).cast(), 1);
            libc::_exit(0)
        }
    }
    if pid < 0 {
        return Err(io_err("clone a new", Path::new("user namespace"))(
            io::Error::last_os_error(),
        ));
    }
    drop(release_r);
    let pid = pid as i32;
    let proc_dir = PathBuf::from(format!("/proc/{pid}"));
    let result = (|| {
        let uid_map = proc_dir.join("uid_map");
        fs::write(&uid_map, mapping.uid_map_text()).map_err(io_err("write", &uid_map))?;
        let gid_map = proc_dir.join("gid_map");
        fs::write(&gid_map, mapping.gid_map_text()).map_err(io_err("write", &gid_map))?;
        let ns = proc_dir.join("ns/user");
        fs::File::open(&ns)
            .map(OwnedFd::from)
            .map_err(io_err("open", &ns))
    })();
    drop(release_w);
    // The child exits as soon as the pipe closes; reaping cannot fail
    // unless it was reaped already, which nothing else here does.
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    result
}

/// Joins the user namespace `userns` (whose maps are `mapping`) and becomes
/// its root (uid and gid 0, every capability in it), first giving it the
/// terminal on stdin if there is one ([`give_terminal`]). Capabilities over
/// the other namespaces, all owned by the host's user namespace, are gone
/// from here on.
pub fn enter(userns: BorrowedFd<'_>, mapping: &IdMapping) -> io::Result<()> {
    give_terminal(mapping)?;
    nix::sched::setns(userns, nix::sched::CloneFlags::CLONE_NEWUSER)?;
    // Our host ids are unmapped in there until we switch to its root.
    nix::unistd::setresgid(0.into(), 0.into(), 0.into())?;
    nix::unistd::setresuid(0.into(), 0.into(), 0.into())?;
    Ok(())
}

/// The maps of process `pid`'s user namespace as `/proc/<pid>/uid_map` and
/// `gid_map` show them to the caller (an exec reads the init's).
pub fn mapping_of(pid: i32) -> io::Result<IdMapping> {
    let read = |name: &str| -> io::Result<Vec<IdMap>> {
        let text = fs::read_to_string(format!("/proc/{pid}/{name}"))?;
        text.lines()
            .map(|l| {
                let n: Vec<u32> = l
                    .split_whitespace()
                    .filter_map(|f| f.parse().ok())
                    .collect();
                match n[..] {
                    [container_id, host_id, size] => Ok(IdMap {
                        container_id,
                        host_id,
                        size,
                    }),
                    _ => Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("bad line in /proc/{pid}/{name}: {l:?}"),
                    )),
                }
            })
            .collect()
    };
    Ok(IdMapping {
        uids: read("uid_map")?,
        gids: read("gid_map")?,
    })
}

/// The group devpts gives terminals (`tty`), as in Docker's `/dev/pts` options.
const TTY_GID: u32 = 5;

/// When stdin is a terminal made for the container (as host root, before it
/// enters its user namespace), gives it to the namespace's root and `tty`
/// group, as runc's terminal created inside the namespace is; it would
/// otherwise show as `nobody`'s.
pub fn give_terminal(mapping: &IdMapping) -> io::Result<()> {
    let stdin = io::stdin();
    if !rustix::termios::isatty(&stdin) {
        return Ok(());
    }
    let uid = mapping.host_uid(0).map(rustix::fs::Uid::from_raw);
    let gid = mapping
        .host_gid(TTY_GID)
        .or_else(|| mapping.host_gid(0))
        .map(rustix::fs::Gid::from_raw);
    rustix::fs::fchown(&stdin, uid, gid)?;
    Ok(())
}

/// The user namespace of process `pid` when it is not the caller's own
/// (an exec into a remapped container), else `None`.
pub fn open_foreign(pid: i32) -> io::Result<Option<OwnedFd>> {
    let theirs = fs::File::open(format!("/proc/{pid}/ns/user"))?;
    let ours = fs::metadata("/proc/self/ns/user")?;
    let m = theirs.metadata()?;
    if (m.dev(), m.ino()) == (ours.dev(), ours.ino()) {
        Ok(None)
    } else {
        Ok(Some(OwnedFd::from(theirs)))
    }
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// Covers `dir` with an idmapped mount of itself that shows files through
/// the maps of `userns` (host id 0 as the namespace's root, ...). Call it in
/// a private mount namespace: the mount must not propagate to the host.
pub fn idmap_in_place(dir: &Path, userns: BorrowedFd<'_>) -> Result<(), UsernsError> {
    use rustix::mount::{MoveMountFlags, OpenTreeFlags, move_mount, open_tree};
    let tree = open_tree(
        rustix::fs::CWD,
        dir,
        OpenTreeFlags::OPEN_TREE_CLONE | OpenTreeFlags::OPEN_TREE_CLOEXEC,
    )
    .map_err(|e| io_err("clone mount of", dir)(e.into()))?;
    let attr = MountAttr {
        attr_set: libc::MOUNT_ATTR_IDMAP,
        attr_clr: 0,
        propagation: 0,
        userns_fd: userns.as_raw_fd() as u64,
    };
    // SAFETY: mount_setattr reads `attr` (a valid struct of the size passed)
    // and acts on the detached mount `tree` only; the path is a valid C string.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            tree.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &raw const attr,
            std::mem::size_of::<MountAttr>(),
        )
    };
    if rc < 0 {
        return Err(io_err("idmap mount of", dir)(io::Error::last_os_error()));
    }
    move_mount(
        tree.as_fd(),
        "",
        rustix::fs::CWD,
        dir,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| io_err("attach idmapped mount on", dir)(e.into()))
}

/// Gives `path` to the container's root (`root` = host uid and gid) when it
/// still belongs to host root, as dockerd's remapped dirs do; anything else
/// (already remapped, or chowned on purpose) is left alone.
pub fn chown_to_root(path: &Path, root: (u32, u32)) -> Result<(), UsernsError> {
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(io_err("stat", path)(e)),
    };
    if (meta.uid(), meta.gid()) != (0, 0) || meta.file_type().is_symlink() {
        return Ok(());
    }
    std::os::unix::fs::chown(path, Some(root.0), Some(root.1)).map_err(io_err("chown", path))
}

/// dockerd 20.10's default sysctls for a container's own network namespace:
/// any port may be bound and any group may open ICMP echo sockets without
/// `CAP_NET_BIND_SERVICE`/`CAP_NET_RAW`. A remapped root needs them: its
/// capabilities do not reach a network namespace owned by the host's user
/// namespace. Writes through `/proc/sys/net`, which shows the caller's
/// network namespace, so call it in the container's, before `pivot_root`.
pub fn unprivileged_net_sysctls() -> Result<(), UsernsError> {
    for (key, value) in [
        ("ip_unprivileged_port_start", "0"),
        ("ping_group_range", "0 2147483647"),
    ] {
        let path = Path::new("/proc/sys/net/ipv4").join(key);
        fs::write(&path, value).map_err(io_err("write", &path))?;
    }
    Ok(())
}

/// For a remapped container (`mapping` set): the dirs of `path` that do not
/// exist yet, outermost first, i.e. what creating the working dir will make.
pub fn missing_dirs(mapping: Option<&IdMapping>, path: &Path) -> Vec<PathBuf> {
    if mapping.is_none() {
        return Vec::new();
    }
    let mut missing: Vec<PathBuf> = path
        .ancestors()
        .take_while(|p| fs::symlink_metadata(p).is_err())
        .map(Path::to_path_buf)
        .collect();
    missing.reverse();
    missing
}

/// Gives `paths` (made by the init, as host root) to the container's root,
/// as dockerd creates a remapped container's working dir.
pub fn give_to_root(mapping: Option<&IdMapping>, paths: &[PathBuf]) -> Result<(), UsernsError> {
    let Some(root) = mapping.and_then(IdMapping::root) else {
        return Ok(());
    };
    paths.iter().try_for_each(|p| chown_to_root(p, root))
}

/// What the init does for a remapped container before its overlay is
/// mounted (in its own mount namespace, still host root): idmaps every
/// lower layer in place and gives the upper dir's root, the volumes' roots
/// and the generated `/etc` files to the namespace's root.
pub fn remap_container_files(
    spec: &super::spec::ContainerSpec,
    mapping: &IdMapping,
    layers: &[PathBuf],
    userns: BorrowedFd<'_>,
) -> Result<(), UsernsError> {
    let root = mapping
        .root()
        .ok_or_else(|| UsernsError::InvalidMapping("root is not mapped".into()))?;
    for layer in layers {
        idmap_in_place(layer, userns)?;
    }
    chown_to_root(&spec.upper, root)?;
    for m in &spec.mounts {
        if let super::mounts::MountKind::Bind {
            source,
            copy_up: true,
            ..
        } = &m.kind
        {
            chown_to_root(source, root)?;
        }
    }
    for f in super::etc::FILES {
        chown_to_root(&spec.run_dir.join(f), root)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(container_id: u32, host_id: u32, size: u32) -> IdMap {
        IdMap {
            container_id,
            host_id,
            size,
        }
    }

    #[test]
    fn owners_cross_the_maps_both_ways() {
        // Two ranges laid end to end from container id 0, as remap builds them.
        let ids = IdMapping {
            uids: vec![m(0, 100_000, 10), m(10, 300_000, 5)],
            gids: vec![m(0, 200_000, 15)],
        };
        assert_eq!(ids.to_host(0, 0), Some((100_000, 200_000)));
        assert_eq!(ids.to_host(12, 12), Some((300_002, 200_012)));
        assert_eq!(ids.to_host(15, 0), None, "uid past the maps");
        assert_eq!(ids.to_host(0, 15), None, "gid past the maps");
        assert_eq!(ids.to_container(300_002, 200_012), (12, 12));
        // Unmapped host ids (an image layer seen from the host) stay.
        assert_eq!(ids.to_container(0, 5), (0, 5));
        assert_eq!(ids.to_container(100_010, 1), (100_010, 1));
    }

    #[test]
    fn subordinate_ranges_match_name_or_id_in_start_order() {
        let text = "# comment\nalice:100000:65536\nberth:300000:1000\n1001:200000:5\nbad line\nberth:x:1\nberth:400000:0\nberth:250000:10\n";
        assert_eq!(
            parse_subordinate(text, "berth", 1001),
            vec![
                SubordinateRange {
                    start: 200000,
                    count: 5
                },
                SubordinateRange {
                    start: 250000,
                    count: 10
                },
                SubordinateRange {
                    start: 300000,
                    count: 1000
                },
            ]
        );
        assert!(parse_subordinate(text, "nobody", 9).is_empty());
    }

    #[test]
    fn ranges_are_laid_end_to_end_from_container_id_zero() {
        let maps = maps_from_ranges(&[
            SubordinateRange {
                start: 200000,
                count: 5,
            },
            SubordinateRange {
                start: 300000,
                count: 10,
            },
        ]);
        assert_eq!(maps, vec![m(0, 200000, 5), m(5, 300000, 10)]);
        let mapping = IdMapping {
            uids: maps.clone(),
            gids: maps,
        };
        mapping.validate().unwrap();
        assert_eq!(mapping.root(), Some((200000, 200000)));
        assert_eq!(mapping.host_uid(4), Some(200004));
        assert_eq!(mapping.host_uid(5), Some(300000));
        assert_eq!(mapping.host_uid(15), None);
        assert_eq!(mapping.uid_map_text(), "0 200000 5\n5 300000 10\n");
    }

    #[test]
    fn bad_mappings_say_why() {
        let ok = vec![m(0, 100000, 65536)];
        let check = |uids: Vec<IdMap>| {
            IdMapping {
                uids,
                gids: ok.clone(),
            }
            .validate()
            .unwrap_err()
        };
        assert_eq!(check(vec![]), "no uid ranges");
        assert_eq!(check(vec![m(1, 100000, 10)]), "uid 0 is not mapped");
        assert_eq!(
            check(vec![m(0, 100000, 10), m(5, 200000, 10)]),
            "overlapping uid ranges"
        );
        assert_eq!(
            check(vec![m(0, 100000, 10), m(10, 100005, 10)]),
            "overlapping uid ranges"
        );
        assert_eq!(
            check(vec![m(0, u32::MAX, 2)]),
            "uid range 0:4294967295:2 overflows 32 bits"
        );
        assert_eq!(check(vec![m(0, 1, 0)]), "empty uid range at 0");
        let many = (0..341).map(|i| m(i * 10, 100000 + i * 10, 10)).collect();
        assert_eq!(check(many), "341 uid ranges, the kernel takes at most 340");
    }

    #[test]
    fn the_callers_own_maps_read_as_identity() {
        let own = mapping_of(std::process::id() as i32).unwrap();
        let full = vec![m(0, 0, u32::MAX)];
        assert_eq!(
            own,
            IdMapping {
                uids: full.clone(),
                gids: full
            }
        );
    }

    #[test]
    fn mapping_round_trips_as_json() {
        let mapping = IdMapping {
            uids: vec![m(0, 100000, 65536)],
            gids: vec![m(0, 100000, 65536)],
        };
        let json = serde_json::to_string(&mapping).unwrap();
        assert_eq!(serde_json::from_str::<IdMapping>(&json).unwrap(), mapping);
    }
}
