//! Crash recovery at daemon start: what is left of containers whose daemon
//! (and maybe supervisors) died with `kill -9` or a host crash, once
//! [`ContainerService::adopt`] has re-attached the live supervisors and
//! marked the rest exited.
//!
//! For every container that is not running now:
//! - a supervisor still alive (identified by pid **and** start time from
//!   `supervisor.json`, so a reused pid is never killed) is killed: its run
//!   was never recorded (a start cut short by the crash) or it did not answer
//!   adoption, and the recorded state is what clients were told;
//! - its cgroup is thawed, emptied with SIGKILL and removed (a supervisor
//!   killed with `-9` cannot remove it; a paused container's processes
//!   ignore SIGKILL until thawed);
//! - its exec-root dir (socket, spec, pid file, exec dirs) is removed.
//!
//! Then the roots themselves:
//! - `<exec-root>/containers/<id>` of a container not in the table (an
//!   interrupted create or remove) goes the same way;
//! - `<exec-root>/netns/<id>` pinned for no running container and recorded in
//!   no sandbox is unmounted and deleted (recorded sandboxes are torn down,
//!   veths and leases included, by the network service's own adoption);
//! - `<data-root>/containers/.removing-<id>`, an `rm` cut short (see
//!   [`detach_for_removal`]), is deleted;
//! - `<data-root>/containers/<id>` that did not load: when a file in it does
//!   not parse it is moved to `<data-root>/quarantine/containers/` with a
//!   `reason.txt` and reported (state files are written atomically, so this
//!   is real damage and must not be dropped silently); when it only lacks
//!   one of `config.json`, `hostconfig.json` or `state.json` it is what an
//!   interrupted create or `rm` leaves, never acknowledged to a client, and
//!   is removed;
//! - network records and sandboxes (`<data-root>/network/{networks,sandboxes}`)
//!   that do not parse, which the network service skips, are moved to
//!   `<data-root>/quarantine/network/…` with a note and reported;
//! - temp files of [`berth::fsutil::atomic_write`] cut short (`.tmp-*`) in
//!   the dirs of state files are removed (never in layer, rootfs or volume
//!   content, where such a name may be a user's file).
//!
//! Everything is best-effort: every failure is collected and logged, none
//! stops the daemon.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::de::DeserializeOwned;

use berth::api::ErrorClass;
use berth::api::models::{EndpointSettings, HostConfig};
use berth::fsutil::{atomic_write, create_private_dir};
use berth::runtime::cgroups::{CgroupError, CgroupPaths, Hierarchy};
use berth::runtime::state;

use super::{ContainerService, Definition, NETWORKS_FILE, RunState, Status};
use crate::network::NetworkRecord;
use crate::network::sandbox::Sandbox;

/// Where damaged container dirs go, below the data root.
pub const QUARANTINE_DIR: &str = "quarantine/containers";
/// The note written next to a quarantined dir's files.
pub const REASON_FILE: &str = "reason.txt";
/// Prefix a container dir gets while `rm` deletes it.
const REMOVING_PREFIX: &str = ".removing-";
/// Prefix of the temp files [`berth::fsutil::atomic_write`] makes.
const TEMP_PREFIX: &str = ".tmp-";
/// How long a killed process or an emptied cgroup may take to go.
const KILL_WAIT: Duration = Duration::from_secs(5);
/// The pause between two polls of a dying process.
const POLL: Duration = Duration::from_millis(10);

/// A recovery step that failed; recovery goes on with the next one.
#[derive(Debug, thiserror::Error)]
pub enum ReconcileError {
    /// A file or directory operation failed.
    #[error("{op} {}: {source}", path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: io::Error,
    },
    /// A cgroup could not be emptied or removed.
    #[error("cgroup of container {id}: {source}")]
    Cgroup {
        /// The container.
        id: String,
        /// The cause.
        #[source]
        source: CgroupError,
    },
    /// A named netns could not be removed.
    #[error(transparent)]
    Netns(#[from] berth::network::netns::NetnsError),
    /// A process outlived SIGKILL longer than [`KILL_WAIT`].
    #[error("{what} {pid} still alive {KILL_WAIT:?} after SIGKILL")]
    Unkillable {
        /// Which process it is.
        what: String,
        /// Its pid.
        pid: i32,
    },
}

impl ReconcileError {
    fn io(op: &'static str, path: &Path, source: io::Error) -> ReconcileError {
        ReconcileError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }

    /// The class of the failure, as every module's errors have one.
    pub fn class(&self) -> ErrorClass {
        match self {
            ReconcileError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => {
                ErrorClass::NotFound
            }
            ReconcileError::Io { .. } | ReconcileError::Unkillable { .. } => ErrorClass::Internal,
            ReconcileError::Cgroup { source, .. } => source.class(),
            ReconcileError::Netns(e) => e.class(),
        }
    }
}

/// What recovery did, logged as one summary line.
#[derive(Debug, Default)]
pub struct Report {
    /// Supervisors and container processes killed (pid, what).
    pub killed: Vec<(i32, String)>,
    /// Containers whose cgroup was removed.
    pub cgroups: Vec<String>,
    /// Exec-root dirs removed.
    pub run_dirs: Vec<PathBuf>,
    /// Named netns files unpinned.
    pub netns: Vec<PathBuf>,
    /// Remains of interrupted creates or removals deleted.
    pub incomplete: Vec<PathBuf>,
    /// Damaged container dirs moved away: (new place, why).
    pub quarantined: Vec<(PathBuf, String)>,
    /// Temp files of interrupted atomic writes deleted.
    pub temp_files: Vec<PathBuf>,
    /// Steps that failed.
    pub failures: Vec<ReconcileError>,
}

impl Report {
    /// Whether recovery found nothing to do.
    pub fn is_clean(&self) -> bool {
        self.killed.is_empty()
            && self.cgroups.is_empty()
            && self.run_dirs.is_empty()
            && self.netns.is_empty()
            && self.incomplete.is_empty()
            && self.quarantined.is_empty()
            && self.temp_files.is_empty()
            && self.failures.is_empty()
    }

    fn log(&self) {
        for (path, why) in &self.quarantined {
            tracing::error!(path = %path.display(), reason = %why, "quarantined unreadable container state");
        }
        for e in &self.failures {
            tracing::warn!(class = ?e.class(), error = %e, "crash recovery step failed");
        }
        if self.is_clean() {
            tracing::debug!("crash recovery: nothing left over");
            return;
        }
        tracing::info!(
            killed = self.killed.len(),
            cgroups = self.cgroups.len(),
            run_dirs = self.run_dirs.len(),
            netns = self.netns.len(),
            incomplete = self.incomplete.len(),
            quarantined = self.quarantined.len(),
            temp_files = self.temp_files.len(),
            failures = self.failures.len(),
            "crash recovery done"
        );
    }
}

/// What the blocking part needs to know of one container in the table.
struct Known {
    id: String,
    running: bool,
    state_dir: PathBuf,
    run_dir: PathBuf,
    /// The recorded cgroup, else where a start would have made it.
    cgroup: Option<CgroupPaths>,
}

impl ContainerService {
    /// Cleans up after a crash (see the [module doc](self)); call once at
    /// start, after adoption and before the API is served.
    pub(super) async fn reconcile(self: &Arc<Self>) -> Report {
        let known: Vec<Known> = self
            .all()
            .into_iter()
            .map(|c| {
                let st = c.state();
                let cgroup = st.cgroup.clone().or_else(|| {
                    let h = self.cgroups.hierarchy.as_ref().ok()?;
                    h.container(&self.cgroup_parent(&c.host_config()), &c.def.id)
                        .ok()
                });
                Known {
                    id: c.def.id.clone(),
                    running: st.status == Status::Running,
                    state_dir: c.state_dir.clone(),
                    run_dir: c.run_dir.clone(),
                    cgroup,
                }
            })
            .collect();
        let svc = self.clone();
        let report = tokio::task::spawn_blocking(move || svc.reconcile_blocking(&known))
            .await
            .unwrap_or_else(|e| {
                tracing::error!(error = %e, "crash recovery panicked");
                Report::default()
            });
        report.log();
        report
    }

    fn reconcile_blocking(&self, known: &[Known]) -> Report {
        let mut r = Report::default();
        let hierarchy = self.cgroups.hierarchy.as_ref().ok();
        let ids: HashSet<&str> = known.iter().map(|k| k.id.as_str()).collect();
        for k in known {
            sweep_temp_files(&k.state_dir, &mut r);
            if !k.running {
                clean_dead(&k.id, &k.run_dir, k.cgroup.as_ref(), &mut r);
            }
        }
        let default_cgroup =
            |id: &str| hierarchy.and_then(|h| h.container(&self.cgroups.parent, id).ok());
        for (id, path) in entries(&self.data_dir, &mut r) {
            if ids.contains(id.as_str()) {
                continue;
            }
            if id.starts_with(REMOVING_PREFIX) {
                // An `rm` the crash cut short after the container left the
                // table's sight: finish it.
                match std::fs::remove_dir_all(&path) {
                    Ok(()) => r.incomplete.push(path),
                    Err(e) => r.failures.push(ReconcileError::io("removing", &path, e)),
                }
                continue;
            }
            if !is_container_id(&id) {
                // Not a name berthd gives: someone else's; leave it be.
                tracing::warn!(path = %path.display(), "unknown entry among the containers");
                continue;
            }
            let cgroup = cgroup_of_remains(hierarchy, &path, &self.cgroups.parent, &id);
            clean_dead(&id, &self.run_dir.join(&id), cgroup.as_ref(), &mut r);
            self.settle_unloaded(&id, &path, &mut r);
        }
        for (id, path) in entries(&self.run_dir, &mut r) {
            if !ids.contains(id.as_str()) && is_container_id(&id) {
                clean_dead(&id, &path, default_cgroup(&id).as_ref(), &mut r);
            }
        }
        let running: HashSet<&str> = known
            .iter()
            .filter(|k| k.running)
            .map(|k| k.id.as_str())
            .collect();
        let netns_dir = self.run_dir.with_file_name("netns");
        if netns_dir.is_dir() {
            for (id, path) in entries(&netns_dir, &mut r) {
                if !is_container_id(&id)
                    || running.contains(id.as_str())
                    || self.networks.run_id(&id).is_some()
                {
                    continue;
                }
                match berth::network::netns::remove(&path) {
                    Ok(()) => r.netns.push(path),
                    Err(e) => r.failures.push(e.into()),
                }
            }
        }
        let data_root = self.data_dir.parent().unwrap_or(&self.data_dir);
        for dir in record_dirs(data_root) {
            sweep_temp_files(&dir, &mut r);
        }
        // The network service skips these at load; moved aside, they are
        // reported once and kept instead of being skipped at every start.
        quarantine_records::<NetworkRecord>(data_root, "network/networks", &mut r);
        quarantine_records::<Sandbox>(data_root, "network/sandboxes", &mut r);
        r
    }

    /// A container dir that did not load: quarantined when damaged, removed
    /// when it is only the remains of an interrupted create or removal.
    fn settle_unloaded(&self, id: &str, path: &Path, r: &mut Report) {
        match diagnose(path) {
            Diagnosis::Incomplete { missing } => {
                tracing::info!(path = %path.display(), missing, "removing the remains of an interrupted create or rm");
                match std::fs::remove_dir_all(path) {
                    Ok(()) => r.incomplete.push(path.to_path_buf()),
                    Err(e) => r.failures.push(ReconcileError::io("removing", path, e)),
                }
            }
            Diagnosis::Damaged(why) => {
                let data_root = self.data_dir.parent().unwrap_or(&self.data_dir);
                match quarantine(data_root, id, path, &why) {
                    Ok(dest) => r.quarantined.push((dest, why)),
                    Err(e) => r.failures.push(e),
                }
            }
            Diagnosis::Readable => {
                // Loading failed for a reason reading again does not show
                // (a transient I/O error): leave it for the next start.
                r.failures.push(ReconcileError::io(
                    "loading",
                    path,
                    io::Error::other("container state reads fine now but did not load"),
                ));
            }
        }
    }
}

/// Renames a removed container's state dir out of the way before it is
/// deleted, so a crash during the deletion leaves a `.removing-<id>` dir
/// that the next start finishes deleting instead of a half-deleted
/// container. Returns the dir to delete (`state_dir` itself when the rename
/// failed: the deletion then says why). Not fsynced: a process crash sees
/// the rename at once, and after a power loss the container may come
/// back, which a new `rm` removes.
pub(super) fn detach_for_removal(state_dir: &Path) -> PathBuf {
    let Some(name) = state_dir.file_name() else {
        return state_dir.to_path_buf();
    };
    let doomed = state_dir.with_file_name(format!("{REMOVING_PREFIX}{}", name.to_string_lossy()));
    match std::fs::rename(state_dir, &doomed) {
        Ok(()) => doomed,
        Err(_) => state_dir.to_path_buf(),
    }
}

/// Whether `name` is a container ID as berthd makes them (64 lower-case hex).
fn is_container_id(name: &str) -> bool {
    name.len() == 64 && name.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

/// The entries of `dir` as (file name, path); a missing dir has none.
fn entries(dir: &Path, r: &mut Report) -> Vec<(String, PathBuf)> {
    let read = match std::fs::read_dir(dir) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Vec::new(),
        Err(e) => {
            r.failures.push(ReconcileError::io("reading", dir, e));
            return Vec::new();
        }
    };
    read.flatten()
        .filter_map(|e| Some((e.file_name().into_string().ok()?, e.path())))
        .collect()
}

/// The cgroup of a container dir that did not load: its hostconfig's
/// parent when that still reads, else the daemon's.
fn cgroup_of_remains(
    hierarchy: Option<&Hierarchy>,
    dir: &Path,
    default_parent: &str,
    id: &str,
) -> Option<CgroupPaths> {
    let h = hierarchy?;
    let parent = read_json::<HostConfig>(&dir.join("hostconfig.json"))
        .ok()
        .flatten()
        .and_then(|hc| hc.cgroup_parent)
        .filter(|p| !p.is_empty())
        .unwrap_or_else(|| default_parent.to_owned());
    h.container(&parent, id).ok()
}

/// Kills what is left alive of a container that is not running, empties
/// and removes its cgroup and removes its exec-root dir.
fn clean_dead(id: &str, run_dir: &Path, cgroup: Option<&CgroupPaths>, r: &mut Report) {
    let cgroup = cgroup.filter(|p| p.dirs.values().any(|d| d.exists()));
    // A paused container's processes take SIGKILL only once thawed.
    if let Some(paths) = cgroup
        && paths.is_frozen().unwrap_or(false)
        && let Err(source) = paths.thaw()
    {
        r.failures.push(ReconcileError::Cgroup {
            id: id.to_owned(),
            source,
        });
    }
    // Exec supervisors first: they would otherwise see their process die
    // and race us writing into the dir being removed.
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(run_dir.join("execs"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    dirs.push(run_dir.to_path_buf());
    for dir in &dirs {
        if let Some(info) = state::read_supervisor_info(dir) {
            let procs = [
                (
                    Some(info.supervisor_pid),
                    Some(info.supervisor_start_time),
                    "supervisor",
                ),
                (
                    info.container_pid,
                    info.container_start_time,
                    "container process",
                ),
            ];
            for (pid, start, what) in procs {
                if let (Some(pid), Some(start)) = (pid, start) {
                    kill_exact(pid, start, &format!("{what} of {id}"), r);
                }
            }
        }
    }
    if let Some(paths) = cgroup {
        match empty_and_remove(paths) {
            Ok(killed) => {
                r.killed.extend(
                    killed
                        .into_iter()
                        .map(|p| (p, format!("process in the cgroup of {id}"))),
                );
                r.cgroups.push(id.to_owned());
            }
            Err(source) => r.failures.push(ReconcileError::Cgroup {
                id: id.to_owned(),
                source,
            }),
        }
    }
    match std::fs::remove_dir_all(run_dir) {
        Ok(()) => r.run_dirs.push(run_dir.to_path_buf()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => r.failures.push(ReconcileError::io("removing", run_dir, e)),
    }
}

/// SIGKILLs `pid` if it is still the process that started at `start`, and
/// waits until it is gone (or a zombie).
fn kill_exact(pid: i32, start: u64, what: &str, r: &mut Report) {
    if pid <= 0 || state::proc_start_time(pid) != Some(start) {
        return;
    }
    if kill(Pid::from_raw(pid), Signal::SIGKILL).is_err() {
        // ESRCH: it died meanwhile.
        return;
    }
    tracing::info!(pid, "killing the leftover {what}");
    if wait_gone(pid, start) {
        r.killed.push((pid, what.to_owned()));
    } else {
        r.failures.push(ReconcileError::Unkillable {
            what: what.to_owned(),
            pid,
        });
    }
}

/// Whether the process `pid` started at `start` ended within [`KILL_WAIT`].
fn wait_gone(pid: i32, start: u64) -> bool {
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        let alive = std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| {
            let state = s
                .rfind(')')
                .and_then(|i| s[i + 1..].split_whitespace().next());
            state != Some("Z") && state::proc_start_time(pid) == Some(start)
        });
        if !alive {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL);
    }
}

/// SIGKILLs what is in the (thawed) cgroup until it is empty, removes it;
/// returns the pids killed.
fn empty_and_remove(paths: &CgroupPaths) -> Result<Vec<i32>, CgroupError> {
    let mut killed = Vec::new();
    let deadline = Instant::now() + KILL_WAIT;
    loop {
        let pids = match paths.pids() {
            Ok(p) => p,
            // A controller dir already gone holds no process.
            Err(CgroupError::Read { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        if pids.is_empty() || Instant::now() >= deadline {
            break;
        }
        for pid in pids {
            if kill(Pid::from_raw(pid), Signal::SIGKILL).is_ok() && !killed.contains(&pid) {
                killed.push(pid);
            }
        }
        std::thread::sleep(POLL);
    }
    paths.remove()?;
    Ok(killed)
}

/// Deletes the temp files of atomic writes cut short in `dir`.
fn sweep_temp_files(dir: &Path, r: &mut Report) {
    for (name, path) in entries(dir, r) {
        if !name.starts_with(TEMP_PREFIX) {
            continue;
        }
        match std::fs::remove_file(&path) {
            Ok(()) => r.temp_files.push(path),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => r.failures.push(ReconcileError::io("removing", &path, e)),
        }
    }
}

/// The dirs below `data_root` holding state files of
/// [`berth::fsutil::atomic_write`] besides the containers' (never a layer,
/// rootfs or volume content dir, where `.tmp-*` may be a user's file).
fn record_dirs(data_root: &Path) -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = [
        "",
        "image",
        "network/networks",
        "network/sandboxes",
        "network/ipam",
        "build/cache",
    ]
    .iter()
    .map(|d| data_root.join(d))
    .collect();
    // Each volume's own dir holds its metadata; `_data` below is content.
    if let Ok(vols) = std::fs::read_dir(data_root.join("volumes")) {
        dirs.extend(vols.flatten().map(|e| e.path()).filter(|p| p.is_dir()));
    }
    dirs
}

/// Moves the `*.json` records in `data_root/sub` that do not parse as `T`
/// to the same place below `data_root/quarantine`, each with a
/// `<name>.reason.txt`.
fn quarantine_records<T: DeserializeOwned>(data_root: &Path, sub: &str, r: &mut Report) {
    for (name, path) in entries(&data_root.join(sub), r) {
        if !name.ends_with(".json") {
            continue;
        }
        let Err(why) = read_json::<T>(&path) else {
            continue;
        };
        let dir = data_root.join("quarantine").join(sub);
        let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.fZ");
        let dest = dir.join(format!("{name}-{stamp}"));
        let moved = create_private_dir(&dir)
            .map_err(|e| ReconcileError::io("creating", &dir, e))
            .and_then(|()| {
                std::fs::rename(&path, &dest)
                    .map_err(|e| ReconcileError::io("quarantining", &path, e))
            })
            .and_then(|()| {
                let note = dir.join(format!("{name}-{stamp}.reason.txt"));
                let text = format!("moved from {} at daemon start: {why}\n", path.display());
                atomic_write(&note, text.as_bytes())
                    .map_err(|e| ReconcileError::io("writing", &note, e))
            });
        match moved {
            Ok(()) => r.quarantined.push((dest, why)),
            Err(e) => r.failures.push(e),
        }
    }
}

/// What lies in `data_root/quarantine` (left there for a person to look at
/// and remove): each quarantined dir or record with the reason noted when it
/// was moved, sorted by path.
pub fn quarantined(data_root: &Path) -> Vec<(PathBuf, String)> {
    let mut found = Vec::new();
    let mut dirs = vec![data_root.join("quarantine")];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            let name = e.file_name().to_string_lossy().into_owned();
            let what = if name == REASON_FILE {
                // A container dir's note: the dir is what was quarantined.
                dir.clone()
            } else if let Some(record) = name.strip_suffix(".reason.txt") {
                dir.join(record)
            } else {
                if e.file_type().is_ok_and(|t| t.is_dir()) {
                    dirs.push(path);
                }
                continue;
            };
            let reason = std::fs::read_to_string(&path).unwrap_or_default();
            found.push((what, reason.trim().to_owned()));
        }
    }
    found.sort();
    found
}

/// What is wrong with a container dir that did not load.
#[derive(Debug, PartialEq, Eq)]
pub enum Diagnosis {
    /// A file that is there does not parse (the reason names it).
    Damaged(String),
    /// Every file there parses but a required one is missing.
    Incomplete {
        /// The first missing file.
        missing: &'static str,
    },
    /// Everything required is there and parses.
    Readable,
}

/// Reads `path` as JSON: `None` when it does not exist.
fn read_json<T: DeserializeOwned>(path: &Path) -> Result<Option<T>, String> {
    match std::fs::read(path) {
        Ok(b) => serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| format!("{}: {e}", path.display())),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        // A directory where a file belongs, or unreadable: damage too.
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}

/// Checks every state file of the container dir `dir`.
pub fn diagnose(dir: &Path) -> Diagnosis {
    if !dir.is_dir() {
        return Diagnosis::Damaged(format!("{} is not a directory", dir.display()));
    }
    let required = [
        (
            "config.json",
            read_json::<Definition>(&dir.join("config.json")).map(|v| v.is_some()),
        ),
        (
            "hostconfig.json",
            read_json::<HostConfig>(&dir.join("hostconfig.json")).map(|v| v.is_some()),
        ),
        (
            "state.json",
            read_json::<RunState>(&dir.join("state.json")).map(|v| v.is_some()),
        ),
    ];
    let optional = [
        read_json::<BTreeMap<String, EndpointSettings>>(&dir.join(NETWORKS_FILE)).map(drop),
        super::mounts::records(dir).map(drop).map_err(|e| e.message),
        read_json::<serde_json::Value>(&dir.join(state::EXIT_FILE)).map(drop),
    ];
    let damage: Vec<String> = required
        .iter()
        .filter_map(|(_, res)| res.as_ref().err().cloned())
        .chain(optional.into_iter().filter_map(Result::err))
        .collect();
    if !damage.is_empty() {
        return Diagnosis::Damaged(damage.join("; "));
    }
    match required.iter().find(|(_, res)| res == &Ok(false)) {
        Some((name, _)) => Diagnosis::Incomplete { missing: name },
        None => Diagnosis::Readable,
    }
}

/// Moves the damaged dir `path` of container `id` to the quarantine under
/// `data_root`, with a note saying why; returns where it went.
fn quarantine(
    data_root: &Path,
    id: &str,
    path: &Path,
    why: &str,
) -> Result<PathBuf, ReconcileError> {
    let dir = data_root.join(QUARANTINE_DIR);
    create_private_dir(&dir).map_err(|e| ReconcileError::io("creating", &dir, e))?;
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%S%.fZ");
    let dest = dir.join(format!("{id}-{stamp}"));
    std::fs::rename(path, &dest).map_err(|e| ReconcileError::io("quarantining", path, e))?;
    if dest.is_dir() {
        let note = format!("moved from {} at daemon start: {why}\n", path.display());
        let reason = dest.join(REASON_FILE);
        atomic_write(&reason, note.as_bytes())
            .map_err(|e| ReconcileError::io("writing", &reason, e))?;
    }
    Ok(dest)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, name: &str, text: &str) {
        std::fs::write(dir.join(name), text).unwrap();
    }

    /// A container dir as `create` leaves it, from the real types.
    fn complete(dir: &Path) {
        let def = Definition {
            version: 1,
            id: "c".repeat(64),
            name: "berth-test".into(),
            created: chrono::Utc::now(),
            image_id: "sha256:x".into(),
            config: Default::default(),
            path: "/bin/true".into(),
            args: vec![],
            layers: vec![],
        };
        write(dir, "config.json", &serde_json::to_string(&def).unwrap());
        write(dir, "hostconfig.json", "{}");
        write(
            dir,
            "state.json",
            &serde_json::to_string(&RunState::created()).unwrap(),
        );
        write(dir, NETWORKS_FILE, "{}");
    }

    #[test]
    fn a_complete_dir_reads_fine() {
        let d = tempfile::tempdir().unwrap();
        complete(d.path());
        assert_eq!(diagnose(d.path()), Diagnosis::Readable);
    }

    #[test]
    fn a_missing_required_file_is_an_interrupted_create_or_rm() {
        let d = tempfile::tempdir().unwrap();
        complete(d.path());
        std::fs::remove_file(d.path().join("state.json")).unwrap();
        assert_eq!(
            diagnose(d.path()),
            Diagnosis::Incomplete {
                missing: "state.json"
            }
        );
        let empty = tempfile::tempdir().unwrap();
        assert_eq!(
            diagnose(empty.path()),
            Diagnosis::Incomplete {
                missing: "config.json"
            }
        );
    }

    #[test]
    fn a_file_that_does_not_parse_is_damage_even_when_others_are_missing() {
        let d = tempfile::tempdir().unwrap();
        complete(d.path());
        std::fs::remove_file(d.path().join("config.json")).unwrap();
        write(d.path(), "state.json", "{\"version\":1,\"sta");
        let Diagnosis::Damaged(why) = diagnose(d.path()) else {
            panic!("torn state.json not seen as damage");
        };
        assert!(why.contains("state.json"), "{why}");
        let d2 = tempfile::tempdir().unwrap();
        complete(d2.path());
        write(d2.path(), state::EXIT_FILE, "garbage");
        assert!(matches!(diagnose(d2.path()), Diagnosis::Damaged(w) if w.contains("exit.json")));
    }

    #[test]
    fn a_removal_renames_the_dir_out_of_the_tables_sight() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("a".repeat(64));
        std::fs::create_dir(&dir).unwrap();
        complete(&dir);
        let doomed = detach_for_removal(&dir);
        assert!(!dir.exists());
        assert_eq!(
            doomed.file_name().unwrap().to_string_lossy(),
            format!("{REMOVING_PREFIX}{}", "a".repeat(64))
        );
        assert!(doomed.join("state.json").exists());
        // Gone already: the caller's deletion reports it.
        assert_eq!(detach_for_removal(&dir), dir);
    }

    #[test]
    fn only_berthd_ids_count_as_containers() {
        assert!(is_container_id(&"0a".repeat(32)));
        assert!(!is_container_id(&"0A".repeat(32)));
        assert!(!is_container_id("notes"));
        assert!(!is_container_id(&format!(".{}", "a".repeat(63))));
    }

    #[test]
    fn quarantine_moves_the_dir_and_says_why() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("containers").join("abc");
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, "state.json", "nope");
        let dest = quarantine(root.path(), "abc", &dir, "state.json: bad").unwrap();
        assert!(!dir.exists());
        assert!(dest.starts_with(root.path().join(QUARANTINE_DIR)));
        assert_eq!(
            std::fs::read_to_string(dest.join("state.json")).unwrap(),
            "nope"
        );
        let note = std::fs::read_to_string(dest.join(REASON_FILE)).unwrap();
        assert!(note.contains("state.json: bad"), "{note}");
    }

    #[test]
    fn temp_files_of_interrupted_writes_are_swept_and_nothing_else() {
        let d = tempfile::tempdir().unwrap();
        complete(d.path());
        write(d.path(), ".tmp-AbC123", "half");
        let mut r = Report::default();
        sweep_temp_files(d.path(), &mut r);
        assert_eq!(r.temp_files, vec![d.path().join(".tmp-AbC123")]);
        assert!(!d.path().join(".tmp-AbC123").exists());
        assert!(d.path().join("state.json").exists());
        assert_eq!(diagnose(d.path()), Diagnosis::Readable);
    }

    #[test]
    fn torn_records_are_quarantined_and_sound_ones_stay() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("network/sandboxes");
        std::fs::create_dir_all(&dir).unwrap();
        write(&dir, "good.json", "{}");
        write(&dir, "torn.json", "{\"container_id\": \"ab");
        write(&dir, "notes.txt", "not a record");
        let mut r = Report::default();
        quarantine_records::<serde_json::Value>(root.path(), "network/sandboxes", &mut r);
        assert!(r.failures.is_empty(), "{:?}", r.failures);
        assert_eq!(r.quarantined.len(), 1);
        let (dest, why) = &r.quarantined[0];
        assert!(dest.starts_with(root.path().join("quarantine/network/sandboxes")));
        assert!(why.contains("torn.json"), "{why}");
        assert!(!dir.join("torn.json").exists());
        assert!(dir.join("good.json").exists() && dir.join("notes.txt").exists());
        let note = dest.with_file_name(format!(
            "{}.reason.txt",
            dest.file_name().unwrap().to_string_lossy()
        ));
        assert!(std::fs::read_to_string(note).unwrap().contains("torn.json"));
    }

    #[test]
    fn temp_files_in_volume_content_are_never_swept() {
        let root = tempfile::tempdir().unwrap();
        let vol = root.path().join("volumes/berth-v");
        std::fs::create_dir_all(vol.join("_data")).unwrap();
        write(&vol, ".tmp-meta", "half");
        write(&vol.join("_data"), ".tmp-user", "mine");
        let mut r = Report::default();
        for d in record_dirs(root.path()) {
            sweep_temp_files(&d, &mut r);
        }
        assert_eq!(r.temp_files, vec![vol.join(".tmp-meta")]);
        assert!(vol.join("_data/.tmp-user").exists());
    }

    #[test]
    fn a_live_process_with_another_start_time_is_never_killed() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pid = child.id() as i32;
        let start = state::proc_start_time(pid).unwrap();
        let mut r = Report::default();
        kill_exact(pid, start + 1, "test process", &mut r);
        assert!(r.killed.is_empty());
        assert!(
            child.try_wait().unwrap().is_none(),
            "a reused pid was killed"
        );
        kill_exact(pid, start, "test process", &mut r);
        assert_eq!(r.killed, vec![(pid, "test process".to_owned())]);
        assert!(child.wait().unwrap().code().is_none());
    }
}
