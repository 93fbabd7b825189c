//! The volume store: local-driver volumes under `<data-root>/volumes/`, the
//! containers that use each one, and Docker's JSON for them.
//!
//! On disk, per volume: `volumes/<name>/_data` (the content, bound into
//! containers) and `volumes/<name>/volume.json` ([`VolumeMeta`], written
//! atomically). A volume is built as `volumes/.new-<random>/` and renamed into
//! place; removal renames it to `volumes/.gone-<random>/` first. Names never
//! start with `.`, so anything hidden there is a leftover of a crash and is
//! swept at start.
//!
//! References (which containers use which volume) live in memory only: the
//! container table records each container's mounts and re-registers them
//! when it loads ([`VolumeService::add_ref`]).

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use berth::api::ErrorClass;
use berth::fsutil::{atomic_write, create_private_dir, random_id};

use crate::error::ApiError;

/// Version of `volume.json`.
pub const META_VERSION: u32 = 1;
/// The volume's metadata file, next to `_data`.
pub const META_FILE: &str = "volume.json";
/// The volume's content directory.
pub const DATA_DIR: &str = "_data";
/// The only driver there is.
pub const LOCAL: &str = "local";
/// Options the local driver accepts (`mount -t type -o o device`).
const LOCAL_OPTS: &[&str] = &["type", "device", "o"];

/// A failed volume operation.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    /// No volume by that name.
    #[error("get {0}: no such volume")]
    NotFound(String),
    /// A name the local driver refuses.
    #[error(
        "create {0}: \"{0}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )]
    InvalidName(String),
    /// A one-character name.
    #[error(
        "create {0}: volume name is too short, names should be at least two alphanumeric characters"
    )]
    NameTooShort(String),
    /// A driver other than `local`.
    #[error("error looking up volume plugin {0}: plugin \"{0}\" not found")]
    NoDriver(String),
    /// A local-driver option it does not know.
    #[error("invalid option key: {0:?}")]
    InvalidOption(String),
    /// Removal of a volume some containers use.
    #[error("remove {name}: volume is in use - [{}]", .users.join(", "))]
    InUse {
        /// The volume.
        name: String,
        /// IDs of the containers using it.
        users: Vec<String>,
    },
    /// A file system failure.
    #[error("{op} {}: {source}", .path.display())]
    Io {
        /// What was being done.
        op: &'static str,
        /// To which path.
        path: PathBuf,
        /// Why it failed.
        #[source]
        source: io::Error,
    },
}

impl VolumeError {
    /// The class the API maps to a status.
    pub fn class(&self) -> ErrorClass {
        match self {
            VolumeError::NotFound(_) | VolumeError::NoDriver(_) => ErrorClass::NotFound,
            VolumeError::InvalidName(_)
            | VolumeError::NameTooShort(_)
            | VolumeError::InvalidOption(_) => ErrorClass::InvalidArgument,
            VolumeError::InUse { .. } => ErrorClass::Conflict,
            VolumeError::Io { .. } => ErrorClass::Internal,
        }
    }
}

impl From<VolumeError> for ApiError {
    fn from(e: VolumeError) -> ApiError {
        ApiError::new(e.class(), e.to_string())
    }
}

fn io_err<'a>(op: &'static str, path: &'a Path) -> impl FnOnce(io::Error) -> VolumeError + 'a {
    move |source| VolumeError::Io {
        op,
        path: path.to_owned(),
        source,
    }
}

/// A volume as recorded in `volume.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeMeta {
    /// [`META_VERSION`].
    pub version: u32,
    /// The name (64 hex digits for an anonymous volume).
    pub name: String,
    /// Always [`LOCAL`].
    pub driver: String,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Labels as given (`None` when the request had none, which Docker shows as `null`).
    pub labels: Option<HashMap<String, String>>,
    /// Driver options as given (`type`, `device`, `o`).
    pub options: Option<HashMap<String, String>>,
    /// Made for a container (`-v /path`, image `VOLUME`) rather than by name.
    pub anonymous: bool,
}

impl VolumeMeta {
    /// The filesystem mount its options ask for, as `(type, device, o)`:
    /// made where the volume is used instead of a bind of `_data`.
    pub fn fs_mount(&self) -> Option<(String, String, String)> {
        let opts = self.options.as_ref()?;
        let fstype = opts.get("type").filter(|t| !t.is_empty())?;
        let get = |k: &str| opts.get(k).cloned().unwrap_or_default();
        Some((fstype.clone(), get("device"), get("o")))
    }
}

/// What `POST /volumes/create` (or a mount naming a new volume) asks for.
#[derive(Debug, Clone, Default)]
pub struct CreateOptions {
    /// The name; `None` or empty makes an anonymous-style 64-hex name.
    pub name: Option<String>,
    /// `local` or empty.
    pub driver: Option<String>,
    /// Local driver options.
    pub driver_opts: Option<HashMap<String, String>>,
    /// Labels.
    pub labels: Option<HashMap<String, String>>,
    /// Whether it is an anonymous volume of a container.
    pub anonymous: bool,
}

/// Docker's volume name rule: `[a-zA-Z0-9][a-zA-Z0-9_.-]+`.
pub fn is_valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The volumes and their users.
pub struct VolumeService {
    dir: PathBuf,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    volumes: HashMap<String, VolumeMeta>,
    /// Volume name → IDs of the containers that use it.
    refs: HashMap<String, BTreeSet<String>>,
}

/// What a `prune` keeps or removes.
#[derive(Debug, Clone, Default)]
pub struct PruneFilter {
    /// Named volumes too, not only anonymous ones.
    pub all: bool,
    /// `label=k[=v]`: every one must hold.
    pub labels: Vec<String>,
    /// `label!=k[=v]`: none may hold.
    pub not_labels: Vec<String>,
}

/// Docker's `MatchKVList`: `key` or `key=value` against labels.
pub fn label_matches(filter: &str, labels: Option<&HashMap<String, String>>) -> bool {
    let Some(labels) = labels else {
        return false;
    };
    match filter.split_once('=') {
        Some((k, v)) => labels.get(k).is_some_and(|l| l == v),
        None => labels.contains_key(filter),
    }
}

impl VolumeService {
    /// Opens `<data_root>/volumes`, loading every volume and sweeping leftovers.
    pub fn open(data_root: &Path) -> io::Result<VolumeService> {
        let dir = data_root.join("volumes");
        create_private_dir(&dir)?;
        let mut inner = Inner::default();
        for entry in std::fs::read_dir(&dir)? {
            let entry = entry?;
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                if let Err(e) = std::fs::remove_dir_all(&path) {
                    tracing::warn!(path = %path.display(), error = %e, "removing a half-made volume");
                }
                continue;
            }
            let meta = std::fs::read(path.join(META_FILE))
                .and_then(|b| serde_json::from_slice::<VolumeMeta>(&b).map_err(io::Error::from));
            match meta {
                Ok(m) if m.name == name => {
                    inner.volumes.insert(name, m);
                }
                Ok(m) => {
                    tracing::warn!(path = %path.display(), recorded = %m.name, "skipping a volume whose name does not match its directory")
                }
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping unreadable volume")
                }
            }
        }
        Ok(VolumeService {
            dir,
            inner: Mutex::new(inner),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().expect("volume lock")
    }

    /// `<data-root>/volumes/<name>/_data`.
    pub fn mountpoint(&self, name: &str) -> PathBuf {
        self.dir.join(name).join(DATA_DIR)
    }

    /// Creates a volume, or returns the existing one of that name.
    pub fn create(&self, opts: CreateOptions) -> Result<VolumeMeta, VolumeError> {
        let mut inner = self.lock();
        self.create_locked(&mut inner, opts)
    }

    /// Gets (or creates) the volume `opts` names and records `container` as
    /// its user, in one step so no removal can come in between.
    pub fn acquire(&self, opts: CreateOptions, container: &str) -> Result<VolumeMeta, VolumeError> {
        let mut inner = self.lock();
        let meta = self.create_locked(&mut inner, opts)?;
        inner
            .refs
            .entry(meta.name.clone())
            .or_default()
            .insert(container.to_owned());
        Ok(meta)
    }

    /// Records `container` as a user of an existing volume (at load).
    pub fn add_ref(&self, name: &str, container: &str) -> Result<VolumeMeta, VolumeError> {
        let mut inner = self.lock();
        let meta = inner
            .volumes
            .get(name)
            .cloned()
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))?;
        inner
            .refs
            .entry(name.to_owned())
            .or_default()
            .insert(container.to_owned());
        Ok(meta)
    }

    /// Forgets `container` as a user of every volume; then removes those of
    /// `remove` that are anonymous and no longer used (`rm -v`). Returns the
    /// removal failures (best-effort teardown).
    pub fn release(&self, container: &str, remove: &[String]) -> Vec<String> {
        let mut inner = self.lock();
        for users in inner.refs.values_mut() {
            users.remove(container);
        }
        inner.refs.retain(|_, users| !users.is_empty());
        let mut failures = Vec::new();
        for name in remove {
            let anonymous = inner.volumes.get(name).is_some_and(|m| m.anonymous);
            if anonymous
                && !inner.refs.contains_key(name)
                && let Err(e) = self.remove_locked(&mut inner, name)
            {
                failures.push(e.to_string());
            }
        }
        failures
    }

    fn create_locked(
        &self,
        inner: &mut Inner,
        opts: CreateOptions,
    ) -> Result<VolumeMeta, VolumeError> {
        let driver = opts.driver.filter(|d| !d.is_empty());
        if let Some(d) = driver.as_deref().filter(|d| *d != LOCAL) {
            return Err(VolumeError::NoDriver(d.to_owned()));
        }
        let name = match opts.name.filter(|n| !n.is_empty()) {
            Some(n) => {
                if let Some(existing) = inner.volumes.get(&n) {
                    return Ok(existing.clone());
                }
                if n.chars().count() == 1 {
                    return Err(VolumeError::NameTooShort(n));
                }
                if !is_valid_name(&n) {
                    return Err(VolumeError::InvalidName(n));
                }
                n
            }
            None => random_id(),
        };
        if let Some(bad) = opts
            .driver_opts
            .iter()
            .flatten()
            .map(|(k, _)| k)
            .find(|k| !LOCAL_OPTS.contains(&k.as_str()))
        {
            return Err(VolumeError::InvalidOption(bad.clone()));
        }
        let meta = VolumeMeta {
            version: META_VERSION,
            name: name.clone(),
            driver: LOCAL.to_owned(),
            created_at: Utc::now(),
            // dockerd shows an empty map as null.
            labels: opts.labels.filter(|l| !l.is_empty()),
            options: opts.driver_opts.filter(|o| !o.is_empty()),
            anonymous: opts.anonymous,
        };
        let tmp = self.dir.join(format!(".new-{}", random_id()));
        let built = (|| {
            create_private_dir(&tmp).map_err(io_err("create", &tmp))?;
            let data = tmp.join(DATA_DIR);
            std::fs::create_dir(&data).map_err(io_err("create", &data))?;
            let bytes = serde_json::to_vec(&meta).map_err(|e| VolumeError::Io {
                op: "encode",
                path: tmp.join(META_FILE),
                source: e.into(),
            })?;
            atomic_write(&tmp.join(META_FILE), &bytes).map_err(io_err("write", &tmp))?;
            let dest = self.dir.join(&name);
            std::fs::rename(&tmp, &dest).map_err(io_err("rename into place", &dest))
        })();
        if let Err(e) = built {
            let _ = std::fs::remove_dir_all(&tmp);
            return Err(e);
        }
        inner.volumes.insert(name, meta.clone());
        tracing::info!(volume = %meta.name, "volume created");
        Ok(meta)
    }

    /// One volume.
    pub fn get(&self, name: &str) -> Result<VolumeMeta, VolumeError> {
        self.lock()
            .volumes
            .get(name)
            .cloned()
            .ok_or_else(|| VolumeError::NotFound(name.to_owned()))
    }

    /// Every volume with the number of containers using it, sorted by name.
    pub fn list(&self) -> Vec<(VolumeMeta, usize)> {
        let inner = self.lock();
        let mut out: Vec<(VolumeMeta, usize)> = inner
            .volumes
            .values()
            .map(|m| (m.clone(), inner.refs.get(&m.name).map_or(0, BTreeSet::len)))
            .collect();
        out.sort_by(|a, b| a.0.name.cmp(&b.0.name));
        out
    }

    /// `DELETE /volumes/{name}`: refuses a volume in use; `force` makes a
    /// missing volume a success.
    pub fn remove(&self, name: &str, force: bool) -> Result<(), VolumeError> {
        let mut inner = self.lock();
        if !inner.volumes.contains_key(name) {
            return if force {
                Ok(())
            } else {
                Err(VolumeError::NotFound(name.to_owned()))
            };
        }
        if let Some(users) = inner.refs.get(name) {
            return Err(VolumeError::InUse {
                name: name.to_owned(),
                users: users.iter().cloned().collect(),
            });
        }
        self.remove_locked(&mut inner, name)
    }

    fn remove_locked(&self, inner: &mut Inner, name: &str) -> Result<(), VolumeError> {
        let path = self.dir.join(name);
        let gone = self.dir.join(format!(".gone-{}", random_id()));
        std::fs::rename(&path, &gone).map_err(io_err("remove", &path))?;
        inner.volumes.remove(name);
        if let Err(e) = std::fs::remove_dir_all(&gone) {
            tracing::warn!(path = %gone.display(), error = %e, "removing a volume's files (swept at the next start)");
        }
        tracing::info!(volume = %name, "volume removed");
        Ok(())
    }

    /// `POST /volumes/prune`: removes unused volumes the filter selects;
    /// returns their names and the bytes freed.
    pub fn prune(&self, filter: &PruneFilter) -> (Vec<String>, u64) {
        let mut inner = self.lock();
        let mut names: Vec<String> = inner
            .volumes
            .values()
            .filter(|m| !inner.refs.contains_key(&m.name))
            .filter(|m| filter.all || m.anonymous)
            .filter(|m| {
                filter
                    .labels
                    .iter()
                    .all(|l| label_matches(l, m.labels.as_ref()))
                    && !filter
                        .not_labels
                        .iter()
                        .any(|l| label_matches(l, m.labels.as_ref()))
            })
            .map(|m| m.name.clone())
            .collect();
        names.sort();
        let mut deleted = Vec::new();
        let mut space = 0;
        for name in names {
            // Measured like `du`: the blocks the removal frees.
            let size = crate::disk_usage::du(&self.dir.join(&name));
            match self.remove_locked(&mut inner, &name) {
                Ok(()) => {
                    space += size;
                    deleted.push(name);
                }
                Err(e) => tracing::warn!(volume = %name, error = %e, "pruning a volume"),
            }
        }
        (deleted, space)
    }

    /// Docker's JSON for a volume.
    pub fn to_json(&self, m: &VolumeMeta) -> serde_json::Value {
        serde_json::json!({
            "CreatedAt": m.created_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            "Driver": m.driver,
            "Labels": m.labels,
            "Mountpoint": self.mountpoint(&m.name).display().to_string(),
            "Name": m.name,
            "Options": m.options,
            "Scope": "local",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn named(name: &str) -> CreateOptions {
        CreateOptions {
            name: Some(name.into()),
            ..Default::default()
        }
    }

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["ab", "a.b-c_d", "0x"] {
            assert!(is_valid_name(ok), "{ok}");
        }
        for bad in ["a", "", "-ab", ".ab", "a/b", "a b", "/abs"] {
            assert!(!is_valid_name(bad), "{bad}");
        }
    }

    #[test]
    fn create_get_list_remove_round_trip_on_disk() {
        let d = tempfile::tempdir().unwrap();
        let svc = VolumeService::open(d.path()).unwrap();
        let v = svc
            .create(CreateOptions {
                labels: Some(HashMap::from([("a".into(), "1".into())])),
                ..named("berthvol")
            })
            .unwrap();
        assert!(svc.mountpoint("berthvol").is_dir());
        // The same name again is the same volume.
        assert_eq!(svc.create(named("berthvol")).unwrap(), v);
        let anon = svc
            .create(CreateOptions {
                anonymous: true,
                ..Default::default()
            })
            .unwrap();
        assert_eq!(anon.name.len(), 64);
        // A half-made volume from a crash is swept; the others reload.
        std::fs::create_dir_all(d.path().join("volumes/.new-x/_data")).unwrap();
        let svc = VolumeService::open(d.path()).unwrap();
        assert!(!d.path().join("volumes/.new-x").exists());
        assert_eq!(svc.get("berthvol").unwrap(), v);
        assert_eq!(svc.list().len(), 2);
        let j = svc.to_json(&v);
        assert_eq!(j["Labels"]["a"], "1");
        assert_eq!(j["Options"], serde_json::Value::Null);
        assert_eq!(j["Scope"], "local");
        svc.remove("berthvol", false).unwrap();
        assert!(!d.path().join("volumes/berthvol").exists());
        assert_eq!(
            svc.remove("berthvol", false).unwrap_err().to_string(),
            "get berthvol: no such volume"
        );
        svc.remove("berthvol", true).unwrap();
    }

    #[test]
    fn bad_requests_get_dockers_errors() {
        let d = tempfile::tempdir().unwrap();
        let svc = VolumeService::open(d.path()).unwrap();
        let e = svc.create(named("a")).unwrap_err();
        assert_eq!(e.class(), ErrorClass::InvalidArgument);
        assert_eq!(
            e.to_string(),
            "create a: volume name is too short, names should be at least two alphanumeric characters"
        );
        let e = svc.create(named("a/b")).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("create a/b: \"a/b\" includes invalid characters")
        );
        let e = svc
            .create(CreateOptions {
                driver: Some("nfsplug".into()),
                ..named("ab")
            })
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "error looking up volume plugin nfsplug: plugin \"nfsplug\" not found"
        );
        let e = svc
            .create(CreateOptions {
                driver_opts: Some(HashMap::from([("size".into(), "1".into())])),
                ..named("ab")
            })
            .unwrap_err();
        assert_eq!(e.to_string(), "invalid option key: \"size\"");
    }

    #[test]
    fn used_volumes_are_kept_and_anonymous_ones_go_with_rm_v() {
        let d = tempfile::tempdir().unwrap();
        let svc = VolumeService::open(d.path()).unwrap();
        svc.acquire(named("berthkeep"), "c1").unwrap();
        let anon = svc
            .acquire(
                CreateOptions {
                    anonymous: true,
                    ..Default::default()
                },
                "c1",
            )
            .unwrap();
        svc.add_ref("berthkeep", "c2").unwrap();
        let e = svc.remove("berthkeep", true).unwrap_err();
        assert_eq!(e.class(), ErrorClass::Conflict);
        assert_eq!(
            e.to_string(),
            "remove berthkeep: volume is in use - [c1, c2]"
        );
        let all = [anon.name.clone(), "berthkeep".to_owned()];
        assert!(svc.release("c1", &all).is_empty());
        assert!(svc.get(&anon.name).is_err(), "anonymous volume removed");
        assert!(svc.get("berthkeep").is_ok(), "named volume kept");
        assert!(svc.remove("berthkeep", false).is_err(), "c2 still uses it");
        svc.release("c2", &[]);
        svc.remove("berthkeep", false).unwrap();
    }

    #[test]
    fn prune_takes_unused_anonymous_volumes_unless_all() {
        let d = tempfile::tempdir().unwrap();
        let svc = VolumeService::open(d.path()).unwrap();
        let anon = |svc: &VolumeService| {
            svc.create(CreateOptions {
                anonymous: true,
                ..Default::default()
            })
            .unwrap()
            .name
        };
        let a = anon(&svc);
        std::fs::write(svc.mountpoint(&a).join("f"), b"12345").unwrap();
        let used = anon(&svc);
        svc.add_ref(&used, "c").unwrap();
        svc.create(CreateOptions {
            labels: Some(HashMap::from([("keep".into(), "yes".into())])),
            ..named("berthkept")
        })
        .unwrap();
        svc.create(named("berthnamed")).unwrap();
        let on_disk = crate::disk_usage::du(svc.mountpoint(&a).parent().unwrap());
        assert_eq!(svc.prune(&PruneFilter::default()), (vec![a], on_disk));
        let f = PruneFilter {
            all: true,
            not_labels: vec!["keep".into()],
            ..Default::default()
        };
        assert_eq!(svc.prune(&f).0, ["berthnamed"]);
        let f = PruneFilter {
            all: true,
            labels: vec!["keep=yes".into()],
            ..Default::default()
        };
        assert_eq!(svc.prune(&f).0, ["berthkept"]);
        assert_eq!(svc.list().len(), 1);
    }
}
