//! Image archives: reading `docker save` tars (legacy `<id>/layer.tar` and the Docker 25+
//! `blobs/sha256` layout) and OCI image-layout tars, and writing legacy docker-archive tars
//! that every `docker load` accepts.
//!
//! Loading streams the outer tar once: each member is hashed while it is written to a
//! private ingest directory, and members that look like layers are unpacked on worker
//! threads at the same time, so by the end of the stream the layers are already unpacked
//! and their diff IDs known. Only then are the manifests resolved and checked.

use std::collections::{HashMap, VecDeque};
use std::fs;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::mpsc::SyncSender;

use serde::{Deserialize, Serialize};

use crate::image::ImageError;
use crate::image::blobs::{BlobStore, IngestWriter};
use crate::image::config::{ImageConfigFile, host_arch};
use crate::image::digest::{BUF_SIZE, Compression, hex_part, looks_like_layer, sha256_digest};
use crate::image::reference::{Reference, is_sha256_digest};
use crate::image::snapshot::{self, Snapshots, TempSnapshot, UnpackHandle};

/// Members kept in memory rather than in ingest files when they are this small and not layers.
const SMALL: u64 = 1 << 20;
/// Upper bound on a metadata file (manifest.json, index.json, repositories).
const META_MAX: u64 = 64 << 20;

/// `manifest.json` entry of a docker-archive.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DockerManifestEntry {
    /// Archive path of the config blob.
    #[serde(rename = "Config")]
    pub config: String,
    /// Familiar `repo:tag` names.
    #[serde(rename = "RepoTags")]
    pub repo_tags: Option<Vec<String>>,
    /// Archive paths of the layer tars, lowest first.
    #[serde(rename = "Layers")]
    pub layers: Vec<String>,
}

/// Where a member's bytes are.
enum Content {
    Memory(Vec<u8>),
    File(PathBuf),
    /// A plain layer tar streamed only to its unpacker, which keeps it beside the snapshot.
    Unpacked,
}

enum Unpack {
    None,
    Running(UnpackHandle),
    Done(Result<TempSnapshot, ImageError>),
}

struct Member {
    content: Content,
    /// Digest and size of the content (for [`Content::Unpacked`], known once unpacked).
    digest: String,
    size: u64,
    unpack: Unpack,
    /// The digest a `blobs/sha256/<hex>` path announces.
    expected: Option<String>,
    /// The first snapshot unpacked from this member, if it keeps the tar: a second use
    /// of the member unpacks from it.
    kept: Option<(PathBuf, crate::image::apply::LayerStats)>,
}

/// One image found in an archive, with its layers unpacked and verified.
pub struct LoadedImage {
    /// `sha256:` of the config bytes.
    pub id: String,
    /// The config blob, byte-exact.
    pub config_bytes: Vec<u8>,
    /// Its parsed view.
    pub config: ImageConfigFile,
    /// References to put on the image.
    pub tags: Vec<Reference>,
    /// The manifest blob (OCI layouts), digest and bytes.
    pub manifest: Option<(String, Vec<u8>)>,
    /// Layers, lowest first.
    pub layers: Vec<LoadedLayer>,
}

/// A layer of a [`LoadedImage`].
pub struct LoadedLayer {
    /// Blob digest as stored.
    pub digest: String,
    /// Blob media type.
    pub media_type: String,
    /// Blob length.
    pub size: u64,
    /// Where the verified blob waits to be committed (`None` if it is already in the store
    /// or the layer's tar is kept beside its snapshot, see `stats.kept`).
    pub blob: Option<BlobSource>,
    /// The unpacked snapshot (`None` when the chain's snapshot already exists, unless this
    /// one keeps the layer's tar, which the existing snapshot then adopts if it lacks one).
    pub snapshot: Option<TempSnapshot>,
    /// Diff ID, diff size and unpacked size.
    pub stats: crate::image::apply::LayerStats,
}

/// A blob ready to be committed.
pub enum BlobSource {
    /// A verified ingest file.
    File(PathBuf),
    /// Bytes held in memory.
    Memory(Vec<u8>),
}

/// The state of one load: the private ingest directory and the members read so far.
/// Dropping it joins the unpack threads and deletes everything not committed.
pub struct LoadSession {
    work: PathBuf,
    snapshots: Snapshots,
    members: HashMap<String, Member>,
    links: HashMap<String, String>,
    meta: HashMap<String, Vec<u8>>,
    running: VecDeque<String>,
    max_jobs: usize,
}

fn bad(what: &str) -> impl FnOnce(io::Error) -> ImageError + '_ {
    move |e| ImageError::InvalidArchive(format!("{what}: {e}"))
}

/// Lexically cleaned archive path (no leading `./` or `/`); `None` if it climbs out.
fn clean_path(p: &str) -> Option<String> {
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop()?;
            }
            c => out.push(c),
        }
    }
    Some(out.join("/"))
}

/// `blobs/sha256/<hex>` names the digest its content must have.
fn expected_digest(path: &str) -> Option<String> {
    let hex = path.strip_prefix("blobs/sha256/")?;
    let d = format!("sha256:{hex}");
    is_sha256_digest(&d).then_some(d)
}

fn read_full(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// Streams an archive member, starting with its already-read `first` chunk,
/// into the ingest writer (if any) and the unpacker (if any, for as long as it
/// takes chunks: one that stopped on a bad layer reports that if the layer is
/// used).
fn stream_member(
    entry: &mut impl Read,
    first: Vec<u8>,
    what: &str,
    mut ingest: Option<&mut IngestWriter>,
    mut unpacker: Option<SyncSender<Vec<u8>>>,
) -> Result<(), ImageError> {
    let mut chunk = first;
    loop {
        if let Some(w) = ingest.as_deref_mut() {
            w.write_all(&chunk).map_err(ImageError::io(w.path()))?;
        }
        if let Some(t) = &unpacker
            && t.send(chunk).is_err()
        {
            unpacker = None;
        }
        let mut next = vec![0u8; BUF_SIZE];
        let n = read_full(entry, &mut next).map_err(bad(what))?;
        if n == 0 {
            return Ok(());
        }
        next.truncate(n);
        chunk = next;
    }
}

impl LoadSession {
    /// A session writing into a fresh directory under the ingest dir.
    pub fn new(blobs: &BlobStore, snapshots: &Snapshots) -> Result<LoadSession, ImageError> {
        let work = blobs
            .ingest_dir()
            .join(format!("load-{}", crate::fsutil::random_id()));
        fs::create_dir(&work).map_err(ImageError::io(&work))?;
        let max_jobs = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(2)
            .max(2);
        Ok(LoadSession {
            work,
            snapshots: snapshots.clone(),
            members: HashMap::new(),
            links: HashMap::new(),
            meta: HashMap::new(),
            running: VecDeque::new(),
            max_jobs,
        })
    }

    /// Streams the outer tar, ingesting and speculatively unpacking its members.
    pub fn read_archive(&mut self, reader: &mut dyn Read) -> Result<(), ImageError> {
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(bad("reading archive"))? {
            let mut entry = entry.map_err(bad("reading archive"))?;
            let Ok(raw) = String::from_utf8(entry.path_bytes().into_owned()) else {
                continue;
            };
            let Some(path) = clean_path(&raw) else {
                continue;
            };
            match entry.header().entry_type() {
                tar::EntryType::Symlink => {
                    let Some(target) = entry
                        .link_name_bytes()
                        .and_then(|t| String::from_utf8(t.into_owned()).ok())
                    else {
                        continue;
                    };
                    let base = Path::new(&path)
                        .parent()
                        .map(|p| p.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    let joined = if target.starts_with('/') {
                        target
                    } else {
                        format!("{base}/{target}")
                    };
                    if let Some(t) = clean_path(&joined) {
                        self.links.insert(path, t);
                    }
                }
                tar::EntryType::Link => {
                    let Some(target) = entry
                        .link_name_bytes()
                        .and_then(|t| String::from_utf8(t.into_owned()).ok())
                    else {
                        continue;
                    };
                    if let Some(t) = clean_path(&target) {
                        self.links.insert(path, t);
                    }
                }
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    self.ingest(&path, &mut entry)?
                }
                _ => {}
            }
        }
        while let Some(p) = self.running.pop_front() {
            self.reap(&p);
        }
        Ok(())
    }

    fn reap(&mut self, path: &str) {
        // Only a running unpack is taken: replacing a finished one would drop its snapshot.
        if let Some(m) = self.members.get_mut(path)
            && matches!(m.unpack, Unpack::Running(_))
            && let Unpack::Running(h) = std::mem::replace(&mut m.unpack, Unpack::None)
        {
            let mut r = snapshot::join(h);
            if let (Content::Unpacked, Ok(t)) = (&m.content, &r) {
                let stats = t.stats.as_ref().expect("unpacked snapshots carry stats");
                m.digest = stats.diff_id.clone();
                m.size = stats.diff_size;
                if let Some(exp) = &m.expected
                    && *exp != stats.diff_id
                {
                    r = Err(ImageError::DigestMismatch {
                        what: format!("archive member {path}"),
                        expected: exp.clone(),
                        actual: stats.diff_id.clone(),
                    });
                }
            }
            m.unpack = Unpack::Done(r);
        }
    }

    /// Waits for the oldest unpacker when as many run as there are CPUs.
    fn make_room(&mut self) {
        if self.running.len() >= self.max_jobs
            && let Some(oldest) = self.running.pop_front()
        {
            self.reap(&oldest);
        }
    }

    fn ingest(&mut self, path: &str, entry: &mut impl Read) -> Result<(), ImageError> {
        let what = format!("archive member {path}");
        if matches!(
            path,
            "manifest.json" | "index.json" | "repositories" | "oci-layout"
        ) {
            let mut buf = Vec::new();
            entry
                .take(META_MAX)
                .read_to_end(&mut buf)
                .map_err(bad(&what))?;
            self.meta.insert(path.to_string(), buf);
            return Ok(());
        }
        let expected = expected_digest(path);
        let mut first = vec![0u8; BUF_SIZE];
        let n = read_full(entry, &mut first).map_err(bad(&what))?;
        first.truncate(n);
        let layer_like = looks_like_layer(&first);
        if n < BUF_SIZE && (n as u64) < SMALL && !layer_like {
            let digest = sha256_digest(&first);
            if let Some(exp) = expected
                && exp != digest
            {
                return Err(ImageError::DigestMismatch {
                    what,
                    expected: exp,
                    actual: digest,
                });
            }
            let size = first.len() as u64;
            self.members.insert(
                path.to_string(),
                Member {
                    content: Content::Memory(first),
                    digest,
                    size,
                    unpack: Unpack::None,
                    expected: None,
                    kept: None,
                },
            );
            return Ok(());
        }
        if layer_like && Compression::detect(&first) == Compression::None {
            // A plain layer tar is kept beside its snapshot, not as a blob: it goes only to
            // the unpacker, which hashes it (its digest is its diff ID).
            self.make_room();
            let (t, h) = snapshot::spawn_unpack(&self.snapshots)?;
            stream_member(entry, first, &what, None, Some(t))?;
            self.running.push_back(path.to_string());
            self.members.insert(
                path.to_string(),
                Member {
                    content: Content::Unpacked,
                    digest: String::new(),
                    size: 0,
                    unpack: Unpack::Running(h),
                    expected,
                    kept: None,
                },
            );
            return Ok(());
        }
        let mut w = IngestWriter::create(&self.work, expected, &what)?;
        let (tx, handle) = if layer_like {
            self.make_room();
            let (t, h) = snapshot::spawn_unpack(&self.snapshots)?;
            (Some(t), Some(h))
        } else {
            (None, None)
        };
        stream_member(entry, first, &what, Some(&mut w), tx)?;
        let done = w.finish()?;
        let unpack = match handle {
            Some(h) => {
                self.running.push_back(path.to_string());
                Unpack::Running(h)
            }
            None => Unpack::None,
        };
        self.members.insert(
            path.to_string(),
            Member {
                content: Content::File(done.path),
                digest: done.digest,
                size: done.size,
                unpack,
                expected: None,
                kept: None,
            },
        );
        Ok(())
    }

    fn resolve_path(&self, path: &str) -> Result<String, ImageError> {
        let mut p = clean_path(path).ok_or_else(|| {
            ImageError::InvalidArchive(format!("path {path:?} escapes the archive"))
        })?;
        for _ in 0..16 {
            if self.members.contains_key(&p) {
                return Ok(p);
            }
            match self.links.get(&p) {
                Some(t) => p = t.clone(),
                None => break,
            }
        }
        Err(ImageError::InvalidArchive(format!(
            "{path} is referenced by the manifest but missing from the archive"
        )))
    }

    fn bytes_of(&self, path: &str) -> Result<Vec<u8>, ImageError> {
        let p = self.resolve_path(path)?;
        match &self.members[&p].content {
            Content::Memory(b) => Ok(b.clone()),
            Content::File(f) => fs::read(f).map_err(ImageError::io(f)),
            Content::Unpacked => Err(ImageError::InvalidArchive(format!(
                "{path} is a layer tar where a metadata file is expected"
            ))),
        }
    }

    /// Resolves the archive's manifests into images whose layers are unpacked and verified.
    /// `have_snapshot` says whether a chain's snapshot already exists (no unpack needed).
    pub fn images(
        &mut self,
        have_snapshot: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<LoadedImage>, ImageError> {
        struct Plan {
            config_path: String,
            layers: Vec<(String, Option<String>)>,
            tags: Vec<Reference>,
            manifest: Option<(String, Vec<u8>)>,
        }
        let mut plans = Vec::new();
        if let Some(m) = self.meta.get("manifest.json") {
            let entries: Vec<DockerManifestEntry> =
                serde_json::from_slice(m).map_err(|source| ImageError::InvalidJson {
                    what: "manifest.json".into(),
                    source,
                })?;
            for e in entries {
                let mut tags = Vec::new();
                for t in e.repo_tags.unwrap_or_default() {
                    tags.push(Reference::parse(&t)?.with_default_tag());
                }
                plans.push(Plan {
                    config_path: e.config,
                    layers: e.layers.into_iter().map(|l| (l, None)).collect(),
                    tags,
                    manifest: None,
                });
            }
        } else if let Some(idx) = self.meta.get("index.json").cloned() {
            for (desc, tags) in self.oci_manifests(&idx, 0)? {
                let path = format!("blobs/sha256/{}", hex_part(&desc));
                let bytes = self.bytes_of(&path)?;
                let manifest = oci_spec::image::ImageManifest::from_reader(bytes.as_slice())
                    .map_err(|e| ImageError::InvalidArchive(format!("manifest {desc}: {e}")))?;
                let config_path = format!("blobs/sha256/{}", manifest.config().digest().digest());
                let layers = manifest
                    .layers()
                    .iter()
                    .map(|l| {
                        (
                            format!("blobs/sha256/{}", l.digest().digest()),
                            Some(l.media_type().to_string()),
                        )
                    })
                    .collect();
                plans.push(Plan {
                    config_path,
                    layers,
                    tags,
                    manifest: Some((desc, bytes)),
                });
            }
        } else {
            return Err(ImageError::InvalidArchive(
                "no manifest.json or index.json: not a docker-archive or OCI layout tar".into(),
            ));
        }
        if plans.is_empty() {
            return Err(ImageError::InvalidArchive(
                "the archive holds no images".into(),
            ));
        }

        let mut out = Vec::new();
        for plan in plans {
            let config_bytes = self.bytes_of(&plan.config_path)?;
            let id = sha256_digest(&config_bytes);
            let config = ImageConfigFile::parse(&config_bytes, &plan.config_path)?;
            if config.rootfs.diff_ids.len() != plan.layers.len() {
                return Err(ImageError::InvalidArchive(format!(
                    "image {id}: config lists {} layers, manifest {}",
                    config.rootfs.diff_ids.len(),
                    plan.layers.len()
                )));
            }
            let chains = crate::image::digest::chain_ids(&config.rootfs.diff_ids);
            let mut layers = Vec::new();
            for (i, (lpath, media)) in plan.layers.iter().enumerate() {
                let key = self.resolve_path(lpath)?;
                let want = &config.rootfs.diff_ids[i];
                let (snapshot, stats) = self.unpacked(&key, have_snapshot(&chains[i]))?;
                if stats.diff_id != *want {
                    return Err(ImageError::DigestMismatch {
                        what: format!("layer {lpath}"),
                        expected: want.clone(),
                        actual: stats.diff_id,
                    });
                }
                let m = &self.members[&key];
                let blob = match (&m.content, stats.kept) {
                    (_, Some(_)) => None,
                    (Content::File(p), None) => Some(BlobSource::File(p.clone())),
                    (Content::Memory(b), None) => Some(BlobSource::Memory(b.clone())),
                    (Content::Unpacked, None) => {
                        return Err(ImageError::InvalidArchive(format!(
                            "layer {lpath}: its tar was neither stored nor kept"
                        )));
                    }
                };
                layers.push(LoadedLayer {
                    digest: m.digest.clone(),
                    media_type: media
                        .clone()
                        .unwrap_or_else(|| stats.compression.layer_media_type().to_string()),
                    size: m.size,
                    blob,
                    snapshot,
                    stats,
                });
            }
            out.push(LoadedImage {
                id,
                config_bytes,
                config,
                tags: plan.tags,
                manifest: plan.manifest,
                layers,
            });
        }
        Ok(out)
    }

    /// The unpacked snapshot of a member (taking the speculative one, or unpacking now).
    fn unpacked(
        &mut self,
        key: &str,
        have: bool,
    ) -> Result<(Option<TempSnapshot>, crate::image::apply::LayerStats), ImageError> {
        self.reap(key);
        let m = self.members.get_mut(key).expect("resolved member exists");
        if let Unpack::Done(r) = std::mem::replace(&mut m.unpack, Unpack::None) {
            let t = r?;
            return Ok(Self::take_snapshot(m, t, have));
        }
        // Not unpacked yet (not sniffed as a layer, or used twice): unpack it now. Even when
        // the snapshot exists, the diff ID must be computed to verify the blob.
        let t = match &m.content {
            Content::Unpacked => {
                let (dir, st) = m.kept.clone().ok_or_else(|| {
                    ImageError::InvalidArchive(format!("layer {key} could not be unpacked"))
                })?;
                let r = crate::image::tarsplit::open_kept(&dir, &st.diff_id, st.diff_size)
                    .map_err(|e| ImageError::io_at(&dir, e))?;
                snapshot::unpack(&self.snapshots, r)?
            }
            Content::Memory(b) => snapshot::unpack(&self.snapshots, b.as_slice())?,
            Content::File(p) => snapshot::unpack(
                &self.snapshots,
                io::BufReader::with_capacity(
                    BUF_SIZE,
                    fs::File::open(p).map_err(ImageError::io(p))?,
                ),
            )?,
        };
        Ok(Self::take_snapshot(m, t, have))
    }

    /// What a use of `m` gets from its unpacked snapshot `t`: a snapshot keeping its tar is
    /// always passed on (committing it gives an existing snapshot the kept tar it may lack)
    /// and remembered for a second use of the member; others only if the chain is new.
    fn take_snapshot(
        m: &mut Member,
        t: TempSnapshot,
        have: bool,
    ) -> (Option<TempSnapshot>, crate::image::apply::LayerStats) {
        let stats = t.stats.clone().expect("unpacked snapshots carry stats");
        if stats.kept.is_some() {
            if m.kept.is_none() {
                m.kept = Some((t.dir().to_path_buf(), stats.clone()));
            }
            return (Some(t), stats);
        }
        ((!have).then_some(t), stats)
    }

    /// Image manifests named by an OCI index (descending into nested indexes), with tags.
    fn oci_manifests(
        &self,
        index_bytes: &[u8],
        depth: usize,
    ) -> Result<Vec<(String, Vec<Reference>)>, ImageError> {
        if depth > 4 {
            return Err(ImageError::InvalidArchive(
                "image indexes nested too deeply".into(),
            ));
        }
        let index = oci_spec::image::ImageIndex::from_reader(index_bytes)
            .map_err(|e| ImageError::InvalidArchive(format!("index.json: {e}")))?;
        let mut out = Vec::new();
        for d in index.manifests() {
            let digest = d.digest().to_string();
            let mut tags = Vec::new();
            if let Some(a) = d.annotations() {
                let name = a
                    .get("io.containerd.image.name")
                    .or_else(|| a.get(oci_spec::image::ANNOTATION_REF_NAME));
                // A bare ref.name ("latest") carries no repository: the image stays untagged.
                if let Some(n) = name.filter(|n| n.contains('/') || n.contains(':'))
                    && let Ok(r) = Reference::parse(n)
                {
                    tags.push(r.with_default_tag());
                }
            }
            match d.media_type() {
                oci_spec::image::MediaType::ImageIndex => {
                    let nested = self.bytes_of(&format!("blobs/sha256/{}", hex_part(&digest)))?;
                    let mut inner = self.oci_manifests(&nested, depth + 1)?;
                    // Pick the host platform (the first entry if none matches).
                    let pick = inner
                        .iter()
                        .position(|(dg, _)| {
                            self.platform_of(&nested, dg)
                                .is_some_and(|(os, arch)| os == "linux" && arch == host_arch())
                        })
                        .unwrap_or(0);
                    if !inner.is_empty() {
                        let (dg, mut t) = inner.swap_remove(pick);
                        t.extend(tags);
                        out.push((dg, t));
                    }
                }
                oci_spec::image::MediaType::ImageManifest
                | oci_spec::image::MediaType::Other(_) => out.push((digest, tags)),
                _ => {}
            }
        }
        Ok(out)
    }

    fn platform_of(&self, index_bytes: &[u8], digest: &str) -> Option<(String, String)> {
        let index = oci_spec::image::ImageIndex::from_reader(index_bytes).ok()?;
        let d = index
            .manifests()
            .iter()
            .find(|d| d.digest().to_string() == digest)?;
        let p = d.platform().as_ref()?;
        Some((p.os().to_string(), p.architecture().to_string()))
    }
}

impl Drop for LoadSession {
    fn drop(&mut self) {
        // Join unpackers first so their temp snapshots are dropped (deleted) before we go.
        while let Some(p) = self.running.pop_front() {
            self.reap(&p);
        }
        self.members.clear();
        // Best effort: the next start-up sweep removes whatever this misses.
        let _ = fs::remove_dir_all(&self.work);
    }
}

/// One image to write with [`write_docker_archive`].
pub struct SaveImage {
    /// `sha256:` image ID.
    pub id: String,
    /// Config bytes, byte-exact.
    pub config: Vec<u8>,
    /// Familiar `repo:tag` names.
    pub repo_tags: Vec<String>,
    /// Layers lowest first.
    pub layers: Vec<SaveLayer>,
}

/// One layer to write: its chain ID names the legacy layer directory.
pub struct SaveLayer {
    /// Chain ID (unique per position in a layer stack).
    pub chain_id: String,
    /// Uncompressed tar length.
    pub diff_size: u64,
    /// Where the bytes come from.
    pub source: SaveSource,
}

/// Bytes of a layer to save.
pub enum SaveSource {
    /// A blob file, possibly compressed (decompressed while writing).
    Blob(PathBuf),
    /// An uncompressed tar in memory.
    Memory(Vec<u8>),
    /// The tar kept beside a snapshot (`snapshots/<chain>`), regenerated and verified
    /// against the diff ID as it is written.
    Snapshot {
        /// The snapshot directory.
        dir: PathBuf,
        /// The layer's diff ID.
        diff_id: String,
    },
}

fn header(path: &str, size: u64, kind: tar::EntryType) -> io::Result<tar::Header> {
    let mut h = tar::Header::new_ustar();
    h.set_path(path)?;
    h.set_size(size);
    h.set_entry_type(kind);
    h.set_mode(if kind == tar::EntryType::Directory {
        0o755
    } else {
        0o644
    });
    h.set_mtime(0);
    h.set_cksum();
    Ok(h)
}

/// Writes `images` as a legacy docker-archive (`<layer>/layer.tar`, `<layer>/json`,
/// `<layer>/VERSION`, `<config-hex>.json`, `manifest.json`, `repositories`).
pub fn write_docker_archive(w: &mut dyn Write, images: &[SaveImage]) -> io::Result<()> {
    let mut b = tar::Builder::new(w);
    let mut written = std::collections::HashSet::new();
    let mut manifest = Vec::new();
    let mut repositories: std::collections::BTreeMap<
        String,
        std::collections::BTreeMap<String, String>,
    > = Default::default();
    for img in images {
        let mut layer_paths = Vec::new();
        let mut parent: Option<String> = None;
        for l in &img.layers {
            let lid = hex_part(&l.chain_id).to_string();
            if written.insert(lid.clone()) {
                b.append(
                    &header(&format!("{lid}/"), 0, tar::EntryType::Directory)?,
                    io::empty(),
                )?;
                b.append(
                    &header(&format!("{lid}/VERSION"), 3, tar::EntryType::Regular)?,
                    &b"1.0"[..],
                )?;
                let mut json = serde_json::json!({ "id": lid, "created": "1970-01-01T00:00:00Z", "container_config": { "Cmd": null } });
                if let Some(p) = &parent {
                    json["parent"] = serde_json::Value::String(p.clone());
                }
                let json = serde_json::to_vec(&json).expect("json serialises");
                b.append(
                    &header(
                        &format!("{lid}/json"),
                        json.len() as u64,
                        tar::EntryType::Regular,
                    )?,
                    json.as_slice(),
                )?;
                let h = header(
                    &format!("{lid}/layer.tar"),
                    l.diff_size,
                    tar::EntryType::Regular,
                )?;
                match &l.source {
                    SaveSource::Memory(bytes) => b.append(&h, bytes.as_slice())?,
                    SaveSource::Blob(p) => {
                        let mut f = io::BufReader::with_capacity(BUF_SIZE, fs::File::open(p)?);
                        let head = io::BufRead::fill_buf(&mut f)?;
                        let c = Compression::detect(head);
                        let r = c.decoder(f)?;
                        // The recorded size guards against a blob changed behind our back.
                        let mut limited = r.take(l.diff_size);
                        b.append(&h, &mut limited)?;
                    }
                    SaveSource::Snapshot { dir, diff_id } => {
                        let mut r = crate::image::tarsplit::open_kept(dir, diff_id, l.diff_size)?;
                        b.append(&h, &mut r)?;
                    }
                }
            }
            layer_paths.push(format!("{lid}/layer.tar"));
            parent = Some(lid);
        }
        let cfg = format!("{}.json", hex_part(&img.id));
        if written.insert(cfg.clone()) {
            b.append(
                &header(&cfg, img.config.len() as u64, tar::EntryType::Regular)?,
                img.config.as_slice(),
            )?;
        }
        for t in &img.repo_tags {
            if let Some((repo, tag)) = t.rsplit_once(':').filter(|(_, tag)| !tag.contains('/')) {
                repositories
                    .entry(repo.to_string())
                    .or_default()
                    .insert(tag.to_string(), parent.clone().unwrap_or_default());
            }
        }
        manifest.push(DockerManifestEntry {
            config: cfg,
            repo_tags: if img.repo_tags.is_empty() {
                None
            } else {
                Some(img.repo_tags.clone())
            },
            layers: layer_paths,
        });
    }
    let m = serde_json::to_vec(&manifest).expect("manifest serialises");
    b.append(
        &header("manifest.json", m.len() as u64, tar::EntryType::Regular)?,
        m.as_slice(),
    )?;
    if !repositories.is_empty() {
        let r = serde_json::to_vec(&repositories).expect("repositories serialise");
        b.append(
            &header("repositories", r.len() as u64, tar::EntryType::Regular)?,
            r.as_slice(),
        )?;
    }
    b.into_inner()?.flush()
}
