//! A container's mounts: HostConfig `Binds`, `Mounts`, `Tmpfs`,
//! `VolumesFrom` and the `Volumes` of Config and image, checked at create
//! with dockerd's messages, resolved into mount points (creating and
//! referencing volumes), recorded in `<state-dir>/mounts.json`, turned into
//! the runtime's [`MountSpec`]s at start, shown as Docker's `Mounts`, and
//! released at removal (`rm -v` also removes the anonymous volumes).

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use berth::api::models::{
    ContainerConfig, HostConfig, Mount, MountPoint, MountPointTypeEnum, MountTypeEnum,
};
use berth::fsutil::atomic_write;
use berth::runtime::mounts::{MountKind, MountSpec, Propagation};

use super::{Container, ContainerService};
use crate::error::{ApiError, ApiResult};
use crate::volumes::{CreateOptions, LOCAL, VolumeService};

/// The record of a container's mount points.
pub const MOUNTS_FILE: &str = "mounts.json";
/// Version of [`MOUNTS_FILE`].
pub const MOUNTS_VERSION: u32 = 1;

/// What a mount point is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A host path.
    Bind,
    /// A local volume.
    Volume,
    /// A tmpfs from `--mount type=tmpfs`.
    Tmpfs,
}

/// One mount point of a container, as dockerd's `MountPoint` records it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountPointRecord {
    /// Bind, volume or tmpfs.
    pub kind: Kind,
    /// The volume's name ("" otherwise).
    pub name: String,
    /// Host path (the volume's `_data` for volumes; "" for tmpfs).
    pub source: String,
    /// Absolute, cleaned path in the container.
    pub destination: String,
    /// `local` for volumes, "" otherwise.
    pub driver: String,
    /// The mode string as given (`ro`, `z`, `rw,rshared`...).
    pub mode: String,
    /// Writable.
    pub rw: bool,
    /// Propagation of binds (`rprivate` unless given), "" otherwise.
    pub propagation: String,
    /// Copy the image's content into the volume while it is empty.
    pub copy_data: bool,
    /// Create a missing bind source as a directory at start (`-v`, as Docker does).
    pub create_source: bool,
    /// tmpfs option string (`size=64m,mode=1777`).
    pub tmpfs_options: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct MountsFile {
    version: u32,
    mounts: Vec<MountPointRecord>,
}

/// Reads a container's mount points; none when it has no record (made
/// before berthd had volumes).
pub fn records(state_dir: &Path) -> ApiResult<Vec<MountPointRecord>> {
    let path = state_dir.join(MOUNTS_FILE);
    match std::fs::read(&path) {
        Ok(b) => serde_json::from_slice::<MountsFile>(&b)
            .map(|f| f.mounts)
            .map_err(|e| ApiError::internal(format!("reading {}: {e}", path.display()))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(ApiError::internal(format!(
            "reading {}: {e}",
            path.display()
        ))),
    }
}

fn write_records(state_dir: &Path, mounts: Vec<MountPointRecord>) -> ApiResult<()> {
    let path = state_dir.join(MOUNTS_FILE);
    let file = MountsFile {
        version: MOUNTS_VERSION,
        mounts,
    };
    let bytes = serde_json::to_vec(&file)
        .map_err(|e| ApiError::internal(format!("encoding {}: {e}", path.display())))?;
    atomic_write(&path, &bytes)
        .map_err(|e| ApiError::internal(format!("writing {}: {e}", path.display())))
}

/// Docker's `Mounts` of a container (inspect and list).
pub fn mount_points(c: &Container) -> Vec<MountPoint> {
    let mut recs = records(&c.state_dir).unwrap_or_else(|e| {
        tracing::warn!(id = %c.def.id, error = %e, "reading mount points");
        Vec::new()
    });
    // dockerd lists them by destination.
    recs.sort_by(|a, b| a.destination.cmp(&b.destination));
    recs.iter()
        .map(|r| {
            let volume = r.kind == Kind::Volume;
            MountPoint {
                typ: Some(match r.kind {
                    Kind::Bind => MountPointTypeEnum::BIND,
                    Kind::Volume => MountPointTypeEnum::VOLUME,
                    Kind::Tmpfs => MountPointTypeEnum::TMPFS,
                }),
                name: volume.then(|| r.name.clone()),
                source: Some(r.source.clone()),
                destination: Some(r.destination.clone()),
                driver: volume.then(|| r.driver.clone()),
                mode: Some(r.mode.clone()),
                rw: Some(r.rw),
                propagation: Some(r.propagation.clone()),
            }
        })
        .collect()
}

const RW_MODES: &[&str] = &["rw", "ro"];
const LABEL_MODES: &[&str] = &["z", "Z"];
const PROPAGATION_MODES: &[&str] = &[
    "private", "rprivate", "shared", "rshared", "slave", "rslave",
];
const COPY_MODES: &[&str] = &["nocopy"];
const CONSISTENCY_MODES: &[&str] = &["consistent", "cached", "delegated"];

/// dockerd's `ValidMountMode`: comma-separated, at most one of each group.
fn valid_mode(mode: &str) -> bool {
    if mode.is_empty() {
        return true;
    }
    let mut counts = [0usize; 5];
    for m in mode.split(',') {
        let group = [
            RW_MODES,
            LABEL_MODES,
            PROPAGATION_MODES,
            COPY_MODES,
            CONSISTENCY_MODES,
        ]
        .iter()
        .position(|g| g.contains(&m));
        match group {
            Some(i) => counts[i] += 1,
            None => return false,
        }
    }
    counts.iter().all(|c| *c <= 1)
}

fn mode_has<'a>(mode: &'a str, group: &[&str]) -> Option<&'a str> {
    mode.split(',').find(|m| group.contains(m))
}

/// `path.Clean` of a container path.
fn clean(p: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    if p.starts_with('/') {
        format!("/{}", parts.join("/"))
    } else {
        parts.join("/")
    }
}

fn mount_config_err(typ: &str, msg: impl std::fmt::Display) -> ApiError {
    ApiError::invalid(format!("invalid mount config for type \"{typ}\": {msg}"))
}

/// dockerd's checks of a target: set, not `/`, absolute.
fn check_target(typ: &str, target: &str) -> ApiResult<()> {
    if target.is_empty() {
        return Err(mount_config_err(typ, "field Target must not be empty"));
    }
    if clean(target) == "/" {
        return Err(mount_config_err(
            typ,
            "invalid specification: destination can't be '/'",
        ));
    }
    if !target.starts_with('/') {
        return Err(mount_config_err(
            typ,
            format!("invalid mount path: '{target}' mount path must be absolute"),
        ));
    }
    Ok(())
}

/// A mount asked for, before volumes are resolved.
#[derive(Debug, Clone)]
struct Wanted {
    record: MountPointRecord,
    /// For volumes: how to create it if missing.
    create: Option<CreateOptions>,
}

/// dockerd's `ParseMountRaw` for one `Binds` entry.
fn parse_bind(raw: &str) -> ApiResult<Wanted> {
    let invalid_spec = || ApiError::invalid(format!("invalid volume specification: '{raw}'"));
    let arr: Vec<&str> = raw.splitn(4, ':').collect();
    if arr[0].is_empty() {
        return Err(invalid_spec());
    }
    let (source, target, mode) = match arr.as_slice() {
        [t] => ("", *t, ""),
        [_, m] if valid_mode(m) => return Err(invalid_spec()),
        [s, t] => (*s, *t, ""),
        [s, t, m] => (*s, *t, *m),
        _ => return Err(invalid_spec()),
    };
    if !valid_mode(mode) {
        return Err(ApiError::invalid(format!("invalid mode: {mode}")));
    }
    let wrap = |e: ApiError| {
        ApiError::new(
            e.class,
            format!("{}: {}", invalid_spec().message, e.message),
        )
    };
    let bind = source.starts_with('/');
    let typ = if bind { "bind" } else { "volume" };
    check_target(typ, target).map_err(wrap)?;
    let rw = mode_has(mode, RW_MODES) != Some("ro");
    let mut record = MountPointRecord {
        kind: if bind { Kind::Bind } else { Kind::Volume },
        name: String::new(),
        source: String::new(),
        destination: clean(target),
        driver: String::new(),
        mode: mode.to_owned(),
        rw,
        propagation: String::new(),
        copy_data: false,
        create_source: bind,
        tmpfs_options: String::new(),
    };
    if bind {
        record.source = clean(source);
        record.propagation = mode_has(mode, PROPAGATION_MODES)
            .unwrap_or("rprivate")
            .to_owned();
        return Ok(Wanted {
            record,
            create: None,
        });
    }
    if source.is_empty() && !rw {
        return Err(wrap(mount_config_err(
            "volume",
            "must not set ReadOnly mode when using anonymous volumes",
        )));
    }
    record.copy_data = mode_has(mode, COPY_MODES).is_none();
    if record.mode.is_empty() {
        // dockerd's setBindModeIfNull for local volumes.
        record.mode = "z".to_owned();
    }
    Ok(Wanted {
        record,
        create: Some(CreateOptions {
            name: (!source.is_empty()).then(|| source.to_owned()),
            anonymous: source.is_empty(),
            ..Default::default()
        }),
    })
}

/// dockerd's `ConvertTmpfsOptions` for `--mount type=tmpfs`.
fn tmpfs_options(m: &Mount) -> String {
    let mut raw = Vec::new();
    if m.read_only == Some(true) {
        raw.push("ro".to_owned());
    }
    if let Some(o) = &m.tmpfs_options {
        if let Some(mode) = o.mode.filter(|m| *m != 0) {
            raw.push(format!("mode={mode:o}"));
        }
        if let Some(size) = o.size_bytes.filter(|s| *s != 0) {
            let (n, suffix) = [("g", 1i64 << 30), ("m", 1 << 20), ("k", 1 << 10)]
                .iter()
                .find(|(_, d)| size % d == 0)
                .map_or((size, ""), |(s, d)| (size / d, *s));
            raw.push(format!("size={n}{suffix}"));
        }
    }
    raw.join(",")
}

/// dockerd's `parseMountSpec` for one `Mounts` entry (`--mount`).
fn parse_mount(m: &Mount) -> ApiResult<Wanted> {
    let typ = m.typ.map(|t| t.as_ref().to_owned()).unwrap_or_default();
    let target = m.target.clone().unwrap_or_default();
    let source = m.source.clone().unwrap_or_default();
    let ro = m.read_only == Some(true);
    check_target(&typ, &target)?;
    let mut record = MountPointRecord {
        kind: Kind::Bind,
        name: String::new(),
        source: String::new(),
        destination: clean(&target),
        driver: String::new(),
        mode: String::new(),
        rw: !ro,
        propagation: String::new(),
        copy_data: false,
        create_source: false,
        tmpfs_options: String::new(),
    };
    let extra = |f: &str| mount_config_err(&typ, format!("field {f} must not be specified"));
    match m.typ {
        Some(MountTypeEnum::BIND) => {
            if source.is_empty() {
                return Err(mount_config_err(&typ, "field Source must not be empty"));
            }
            if m.volume_options.is_some() {
                return Err(extra("VolumeOptions"));
            }
            if m.tmpfs_options.is_some() {
                return Err(extra("TmpfsOptions"));
            }
            if !source.starts_with('/') {
                return Err(mount_config_err(
                    &typ,
                    format!("invalid mount path: '{source}' mount path must be absolute"),
                ));
            }
            let prop = m
                .bind_options
                .as_ref()
                .and_then(|b| b.propagation)
                .map(|p| p.as_ref().to_owned())
                .filter(|p| !p.is_empty());
            if let Some(p) = &prop
                && Propagation::parse(p).is_none()
            {
                return Err(mount_config_err(
                    &typ,
                    format!("invalid propagation mode: {p}"),
                ));
            }
            if std::fs::symlink_metadata(&source).is_err() {
                return Err(mount_config_err(
                    &typ,
                    format!("bind source path does not exist: {source}"),
                ));
            }
            record.source = clean(&source);
            record.propagation = prop.unwrap_or_else(|| "rprivate".to_owned());
            Ok(Wanted {
                record,
                create: None,
            })
        }
        Some(MountTypeEnum::VOLUME) => {
            if m.bind_options.is_some() {
                return Err(extra("BindOptions"));
            }
            if m.tmpfs_options.is_some() {
                return Err(extra("TmpfsOptions"));
            }
            if source.is_empty() && ro {
                return Err(mount_config_err(
                    &typ,
                    "must not set ReadOnly mode when using anonymous volumes",
                ));
            }
            let vo = m.volume_options.clone().unwrap_or_default();
            let driver = vo.driver_config.as_ref().and_then(|d| d.name.clone());
            let opts = vo.driver_config.and_then(|d| d.options);
            record.kind = Kind::Volume;
            record.copy_data = vo.no_copy != Some(true);
            record.mode = "z".to_owned();
            Ok(Wanted {
                record,
                create: Some(CreateOptions {
                    name: (!source.is_empty()).then_some(source),
                    driver,
                    driver_opts: opts,
                    labels: vo.labels,
                    anonymous: m.source.as_deref().is_none_or(str::is_empty),
                }),
            })
        }
        Some(MountTypeEnum::TMPFS) => {
            if m.bind_options.is_some() {
                return Err(extra("BindOptions"));
            }
            if !source.is_empty() {
                return Err(extra("Source"));
            }
            record.kind = Kind::Tmpfs;
            record.tmpfs_options = tmpfs_options(m);
            Ok(Wanted {
                record,
                create: None,
            })
        }
        _ => Err(mount_config_err(&typ, "mount type unknown")),
    }
}

/// `VolumesFrom` entry: `container[:ro|rw]`.
fn parse_volumes_from(spec: &str) -> ApiResult<(&str, bool)> {
    let (id, mode) = spec.split_once(':').unwrap_or((spec, ""));
    if !valid_mode(mode) {
        return Err(ApiError::invalid(format!("invalid mode: {mode}")));
    }
    Ok((id, mode_has(mode, RW_MODES) != Some("ro")))
}

fn duplicate(dest: &str) -> ApiError {
    ApiError::invalid(format!("Duplicate mount point: {dest}"))
}

/// Checks the Tmpfs map's targets and options.
fn check_tmpfs(host: &HostConfig) -> ApiResult<()> {
    for dest in host.tmpfs.iter().flatten().map(|(d, _)| d) {
        check_target("tmpfs", dest)?;
    }
    Ok(())
}

/// Mount points resolved at create, with the volume references taken;
/// [`PreparedMounts::save`] records them, [`PreparedMounts::abort`] gives them back.
pub struct PreparedMounts {
    volumes: Arc<VolumeService>,
    id: String,
    records: Vec<MountPointRecord>,
}

impl PreparedMounts {
    /// Writes `mounts.json` into the new container's state dir.
    pub fn save(&self, state_dir: &Path) -> ApiResult<()> {
        write_records(state_dir, self.records.clone())
    }

    /// Undoes a create that failed: drops the references and the anonymous
    /// volumes made for it.
    pub fn abort(self) {
        let names = volume_names(&self.records);
        for f in self.volumes.release(&self.id, &names) {
            tracing::warn!(id = %self.id, error = %f, "removing a volume of a failed create");
        }
    }
}

fn volume_names(records: &[MountPointRecord]) -> Vec<String> {
    records
        .iter()
        .filter(|r| r.kind == Kind::Volume)
        .map(|r| r.name.clone())
        .collect()
}

impl ContainerService {
    /// The volume store.
    pub fn volumes(&self) -> &Arc<VolumeService> {
        &self.volumes
    }

    /// Re-registers a loaded container's volume references.
    pub(super) fn register_mounts(&self, c: &Container) {
        match records(&c.state_dir) {
            Ok(recs) => {
                for name in volume_names(&recs) {
                    if let Err(e) = self.volumes.add_ref(&name, &c.def.id) {
                        tracing::warn!(id = %c.def.id, error = %e, "a container's volume is gone");
                    }
                }
            }
            Err(e) => tracing::warn!(id = %c.def.id, error = %e, "reading mount points"),
        }
    }

    /// Checks and resolves the mounts of a create request (dockerd's
    /// `registerMountPoints` and image volumes), creating named volumes on
    /// demand and anonymous ones, with `id` recorded as their user.
    pub(super) fn prepare_mounts(
        &self,
        id: &str,
        host: &HostConfig,
        config: &ContainerConfig,
        image: &ContainerConfig,
    ) -> ApiResult<PreparedMounts> {
        check_tmpfs(host)?;
        // Everything is parsed before any volume is touched.
        let mut wanted: Vec<Wanted> = Vec::new();
        for spec in host.volumes_from.iter().flatten() {
            let (name, rw) = parse_volumes_from(spec)?;
            let other = self.get(name)?;
            for mut r in records(&other.state_dir)? {
                r.rw = r.rw && rw;
                r.copy_data = false;
                r.mode = String::new();
                let create = (r.kind == Kind::Volume).then(|| CreateOptions {
                    name: Some(r.name.clone()),
                    ..Default::default()
                });
                wanted.retain(|w| w.record.destination != r.destination);
                wanted.push(Wanted { record: r, create });
            }
        }
        let mut seen = HashSet::new();
        for raw in host.binds.iter().flatten() {
            let w = parse_bind(raw)?;
            if !seen.insert(w.record.destination.clone()) {
                return Err(duplicate(&w.record.destination));
            }
            wanted.retain(|o| o.record.destination != w.record.destination);
            wanted.push(w);
        }
        for m in host.mounts.iter().flatten() {
            let w = parse_mount(m)?;
            if !seen.insert(w.record.destination.clone()) {
                return Err(duplicate(&w.record.destination));
            }
            wanted.retain(|o| o.record.destination != w.record.destination);
            wanted.push(w);
        }
        for dest in host.tmpfs.iter().flatten().map(|(d, _)| clean(d)) {
            if wanted.iter().any(|w| w.record.destination == dest) {
                return Err(duplicate(&dest));
            }
        }
        let tmpfs: HashSet<String> = host.tmpfs.iter().flatten().map(|(d, _)| clean(d)).collect();
        let mut image_volumes: Vec<String> = config
            .volumes
            .iter()
            .chain(image.volumes.iter())
            .flat_map(|v| v.keys())
            .map(|d| clean(d))
            .collect();
        image_volumes.sort();
        image_volumes.dedup();
        for dest in image_volumes {
            check_target("volume", &dest)?;
            if tmpfs.contains(&dest) || wanted.iter().any(|w| w.record.destination == dest) {
                continue;
            }
            wanted.push(Wanted {
                record: MountPointRecord {
                    kind: Kind::Volume,
                    name: String::new(),
                    source: String::new(),
                    destination: dest,
                    driver: String::new(),
                    mode: String::new(),
                    rw: true,
                    propagation: String::new(),
                    copy_data: true,
                    create_source: false,
                    tmpfs_options: String::new(),
                },
                create: Some(CreateOptions {
                    anonymous: true,
                    ..Default::default()
                }),
            });
        }
        let mut prepared = PreparedMounts {
            volumes: self.volumes.clone(),
            id: id.to_owned(),
            records: Vec::new(),
        };
        for w in wanted {
            let mut r = w.record;
            if let Some(opts) = w.create {
                match self.volumes.acquire(opts, id) {
                    Ok(meta) => {
                        self.events.volume(&meta.name, "create", &[]);
                        r.source = self.volumes.mountpoint(&meta.name).display().to_string();
                        r.name = meta.name;
                        r.driver = LOCAL.to_owned();
                    }
                    Err(e) => {
                        prepared.abort();
                        return Err(e.into());
                    }
                }
            }
            prepared.records.push(r);
        }
        Ok(prepared)
    }

    /// The runtime mounts of a container about to start: its mount points
    /// (bind sources of `-v` created when missing, as dockerd does) and its
    /// `Tmpfs` map.
    pub(super) fn spec_mounts(
        &self,
        c: &Container,
        host: &HostConfig,
    ) -> ApiResult<Vec<MountSpec>> {
        let mut out = Vec::new();
        for r in records(&c.state_dir)? {
            let kind = match r.kind {
                Kind::Bind => {
                    let source = PathBuf::from(&r.source);
                    if r.create_source && std::fs::symlink_metadata(&source).is_err() {
                        std::fs::create_dir_all(&source).map_err(|e| {
                            ApiError::internal(format!(
                                "error while creating mount source path '{}': {e}",
                                r.source
                            ))
                        })?;
                    }
                    MountKind::Bind {
                        source,
                        propagation: Propagation::parse(&r.propagation).unwrap_or_default(),
                        copy_up: false,
                    }
                }
                Kind::Volume => {
                    let meta = self.volumes.get(&r.name)?;
                    self.events.volume_mount(&r, &c.def.id);
                    match meta.fs_mount() {
                        Some((fstype, device, options)) => MountKind::Fs {
                            fstype,
                            device,
                            options,
                        },
                        None => MountKind::Bind {
                            source: self.volumes.mountpoint(&r.name),
                            propagation: Propagation::Rprivate,
                            copy_up: r.copy_data,
                        },
                    }
                }
                Kind::Tmpfs => MountKind::Tmpfs {
                    options: r.tmpfs_options.clone(),
                },
            };
            out.push(MountSpec {
                target: r.destination,
                readonly: !r.rw,
                kind,
            });
        }
        let mut tmpfs: Vec<(&String, &String)> = host.tmpfs.iter().flatten().collect();
        tmpfs.sort();
        for (dest, options) in tmpfs {
            out.push(MountSpec {
                target: clean(dest),
                readonly: false,
                kind: MountKind::Tmpfs {
                    options: options.clone(),
                },
            });
        }
        Ok(out)
    }

    /// After a start that copied image content into empty volumes: later
    /// starts leave those volumes alone, as dockerd copies only for a new
    /// container (best-effort: a failure only means another copy attempt,
    /// which an emptied volume would get).
    pub(super) fn copied_up(&self, c: &Container) {
        let result = records(&c.state_dir).and_then(|mut recs| {
            if !recs.iter().any(|r| r.copy_data) {
                return Ok(());
            }
            for r in &mut recs {
                r.copy_data = false;
            }
            write_records(&c.state_dir, recs)
        });
        if let Err(e) = result {
            tracing::warn!(id = %c.def.id, error = %e, "recording the volume copy-up");
        }
    }

    /// Publishes `unmount` for each volume of `c` after its process ended.
    pub(super) fn unmounted(&self, c: &Container) {
        for name in records(&c.state_dir)
            .map(|r| volume_names(&r))
            .unwrap_or_default()
        {
            self.events
                .volume(&name, "unmount", &[("container", &c.def.id)]);
        }
    }

    /// Drops a removed container's volume references; with `remove_volumes`
    /// (`rm -v`, `--rm`) its anonymous volumes go too. Returns failures.
    pub(super) fn release_mounts(&self, c: &Container, remove_volumes: bool) -> Vec<String> {
        let names = match records(&c.state_dir) {
            Ok(r) if remove_volumes => volume_names(&r),
            Ok(_) => Vec::new(),
            Err(e) => vec![e.message],
        };
        self.volumes.release(&c.def.id, &names)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth::api::models::{MountBindOptions, MountTmpfsOptions, MountVolumeOptions};

    #[test]
    fn binds_parse_like_dockerd() {
        let w = parse_bind("/host/../src:/data/:ro,rshared").unwrap();
        assert_eq!(w.record.kind, Kind::Bind);
        assert_eq!(w.record.source, "/src");
        assert_eq!(w.record.destination, "/data");
        assert_eq!(w.record.mode, "ro,rshared");
        assert!(!w.record.rw);
        assert_eq!(w.record.propagation, "rshared");
        assert!(w.create.is_none());

        let w = parse_bind("berthvol:/v").unwrap();
        assert_eq!(w.record.kind, Kind::Volume);
        assert_eq!(w.record.mode, "z");
        assert!(w.record.copy_data && w.record.rw);
        assert_eq!(w.create.unwrap().name.as_deref(), Some("berthvol"));

        let w = parse_bind("berthvol:/v:nocopy").unwrap();
        assert!(!w.record.copy_data);
        let w = parse_bind("/anon").unwrap();
        assert!(w.create.unwrap().anonymous);

        for (raw, msg) in [
            ("/a:ro", "invalid volume specification: '/a:ro'"),
            (":/x", "invalid volume specification: ':/x'"),
            ("/a:/b:xx", "invalid mode: xx"),
            ("/a:/b:ro,rw", "invalid mode: ro,rw"),
            ("/a:/b:c:d", "invalid volume specification: '/a:/b:c:d'"),
            (
                "/a:rel",
                "invalid volume specification: '/a:rel': invalid mount config for type \"bind\": invalid mount path: 'rel' mount path must be absolute",
            ),
            (
                "/a:/",
                "invalid volume specification: '/a:/': invalid mount config for type \"bind\": invalid specification: destination can't be '/'",
            ),
        ] {
            assert_eq!(parse_bind(raw).unwrap_err().message, msg, "{raw}");
        }
    }

    #[test]
    fn mounts_parse_like_dockerd() {
        let m = Mount {
            typ: Some(MountTypeEnum::BIND),
            source: Some("/nonexistent-berth".into()),
            target: Some("/x".into()),
            ..Default::default()
        };
        assert_eq!(
            parse_mount(&m).unwrap_err().message,
            "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-berth"
        );
        let m = Mount {
            typ: Some(MountTypeEnum::BIND),
            source: Some("/tmp".into()),
            target: Some("/x".into()),
            read_only: Some(true),
            bind_options: Some(MountBindOptions {
                propagation: Some(berth::api::models::MountBindOptionsPropagationEnum::SLAVE),
                ..Default::default()
            }),
            ..Default::default()
        };
        let w = parse_mount(&m).unwrap();
        assert_eq!(
            (w.record.rw, w.record.propagation.as_str()),
            (false, "slave")
        );
        assert_eq!(w.record.mode, "");

        let m = Mount {
            typ: Some(MountTypeEnum::VOLUME),
            target: Some("/v".into()),
            volume_options: Some(MountVolumeOptions {
                no_copy: Some(true),
                ..Default::default()
            }),
            ..Default::default()
        };
        let w = parse_mount(&m).unwrap();
        assert!(!w.record.copy_data);
        assert!(w.create.unwrap().anonymous);

        let m = Mount {
            typ: Some(MountTypeEnum::TMPFS),
            target: Some("/t".into()),
            tmpfs_options: Some(MountTmpfsOptions {
                size_bytes: Some(64 << 20),
                mode: Some(0o1777),
                options: None,
            }),
            ..Default::default()
        };
        assert_eq!(
            parse_mount(&m).unwrap().record.tmpfs_options,
            "mode=1777,size=64m"
        );
        let m = Mount {
            typ: Some(MountTypeEnum::TMPFS),
            source: Some("x".into()),
            target: Some("/t".into()),
            ..Default::default()
        };
        assert_eq!(
            parse_mount(&m).unwrap_err().message,
            "invalid mount config for type \"tmpfs\": field Source must not be specified"
        );
        let m = Mount {
            typ: Some(MountTypeEnum::VOLUME),
            ..Default::default()
        };
        assert_eq!(
            parse_mount(&m).unwrap_err().message,
            "invalid mount config for type \"volume\": field Target must not be empty"
        );
    }

    #[test]
    fn modes_and_volumes_from() {
        assert!(valid_mode("ro,Z,rslave,nocopy,cached"));
        assert!(!valid_mode("ro,ro"));
        assert!(!valid_mode("rx"));
        assert_eq!(parse_volumes_from("c1:ro").unwrap(), ("c1", false));
        assert_eq!(parse_volumes_from("c1").unwrap(), ("c1", true));
        assert_eq!(
            parse_volumes_from("c1:bad").unwrap_err().message,
            "invalid mode: bad"
        );
        assert_eq!(clean("/a/./b/../c/"), "/a/c");
    }
}
