//! The image store facade used by the daemon.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::api::models::{
    DriverData, HistoryResponseItem, ImageConfig, ImageDeleteResponseItem, ImageInspect,
    ImageInspectMetadata, ImageInspectRootFs, ImageSummary,
};
use crate::image::ImageError;
use crate::image::archive::{
    BlobSource, LoadSession, LoadedImage, LoadedLayer, SaveImage, SaveLayer, SaveSource,
    write_docker_archive,
};
use crate::image::blobs::{BlobStore, IngestWriter};
use crate::image::config::{
    History, ImageConfigFile, RootFs, apply_changes, docker_time, go_time, host_arch,
};
use crate::image::digest::{BUF_SIZE, Compression, chain_ids, hex_part, sha256_digest, short_id};
use crate::image::index::{ImageRecord, Index, LayerRecord, LayerStorage};
use crate::image::reference::{AnyReference, Reference, glob_match, valid_tag};
use crate::image::snapshot::{self, Snapshots, TempSnapshot, remove_tree};

/// Options of `import`: a rootfs tar becoming a one-layer image.
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `repo[:tag]` to tag the result with, if any.
    pub reference: Option<String>,
    /// Dockerfile-style `--change` lines (`CMD ["sh"]`, `ENV A=b`, ...).
    pub changes: Vec<String>,
    /// The commit message recorded in the image history.
    pub message: Option<String>,
}

/// What a Dockerfile build step records on top of its parent image
/// ([`ImageStore::build_metadata_step`], [`ImageStore::build_layer_step`]).
#[derive(Debug, Clone, Default)]
pub struct BuildStep {
    /// The image's whole run configuration (not merged with the parent's).
    pub config: ImageConfig,
    /// The history entry's `created_by` (`/bin/sh -c #(nop)  ENV A=b`, ...).
    pub created_by: String,
    /// `MAINTAINER`: the image's and the history entry's author.
    pub author: Option<String>,
}

/// Diff ID of a tar with no entries (1024 zero bytes); a build step whose layer
/// is this adds no layer, as in dockerd (`layer.IsEmpty`).
pub const EMPTY_TAR_DIFF_ID: &str =
    "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";

/// What the runtime needs of an image to create a container from it.
#[derive(Debug, Clone)]
pub struct ResolvedImage {
    /// `sha256:<hex>` of the image config.
    pub id: String,
    /// The image's Docker config (`Env`, `Cmd`, `Entrypoint`, `WorkingDir`, `User`, ...).
    pub config: crate::api::models::ContainerConfig,
    /// Snapshot diff directories, lowest layer first, ready to be overlay lowerdirs.
    pub layers: Vec<PathBuf>,
}

/// A container using an image, as `remove` needs to know it.
#[derive(Debug, Clone)]
pub struct ImageUser {
    /// The container's ID (shortened in messages).
    pub container_id: String,
    /// Whether it is running (running containers block removal even with force).
    pub running: bool,
}

#[derive(Debug)]
struct State {
    index: Index,
    configs: HashMap<String, Arc<ImageConfigFile>>,
}

#[derive(Debug)]
struct Inner {
    index_path: PathBuf,
    blobs: BlobStore,
    snapshots: Snapshots,
    state: Mutex<State>,
    /// Image ID → containers being created from it ([`prune::ImagePin`]).
    pins: Mutex<HashMap<String, usize>>,
}

/// The content-addressed image store under `<data-root>/image` and `<data-root>/snapshots`.
#[derive(Debug, Clone)]
pub struct ImageStore {
    inner: Arc<Inner>,
}

/// What a conflict check found, mirroring dockerd's `imageDeleteConflict`.
struct DeleteConflict {
    hard: bool,
    used: bool,
    message: String,
}

fn container_phrase(u: &ImageUser) -> String {
    if u.container_id.is_empty() {
        String::new()
    } else {
        format!(" {}", short_id(&u.container_id))
    }
}

impl ImageStore {
    /// Opens (creating if needed) the store under `data_root`, sweeping leftovers of interrupted work.
    pub fn open(data_root: &Path) -> Result<ImageStore, ImageError> {
        let image_root = data_root.join("image");
        let blobs = BlobStore::open(&image_root)?;
        let snapshots = Snapshots::open(data_root.join("snapshots"))?;
        blobs.sweep_ingest()?;
        snapshots.sweep()?;
        let index_path = image_root.join("index.json");
        let index = Index::load(&index_path)?;
        let mut configs = HashMap::new();
        for id in index.images.keys() {
            let p = blobs.path(id);
            match fs::read(&p) {
                Ok(bytes) => match ImageConfigFile::parse(&bytes, &p.display().to_string()) {
                    Ok(c) => {
                        configs.insert(id.clone(), Arc::new(c));
                    }
                    // One bad config must not keep the daemon from starting.
                    Err(e) => {
                        tracing::warn!(image = %id, error = %e, "image config blob does not parse")
                    }
                },
                Err(e) => tracing::warn!(image = %id, error = %e, "image config blob is missing"),
            }
        }
        Ok(ImageStore {
            inner: Arc::new(Inner {
                index_path,
                blobs,
                snapshots,
                state: Mutex::new(State { index, configs }),
                pins: Mutex::new(HashMap::new()),
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves the in-memory index as consistent as the file.
        self.inner.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Loads a `docker save` tar or an OCI image-layout tar; returns the loaded references
    /// (or `sha256:` IDs for untagged images), in Docker's "Loaded image: ..." order.
    pub fn load(&self, reader: &mut dyn Read) -> Result<Vec<String>, ImageError> {
        let started = std::time::Instant::now();
        let mut session = LoadSession::new(&self.inner.blobs, &self.inner.snapshots)?;
        session.read_archive(reader)?;
        let streamed = started.elapsed();
        let snaps = self.inner.snapshots.clone();
        let images = session.images(&|chain| snaps.exists(chain))?;
        let resolved = started.elapsed();
        self.sync()?;
        tracing::debug!(?streamed, ?resolved, synced = ?started.elapsed(), "image load: archive read, layers verified, data synced");
        let mut out = Vec::new();
        let mut state = self.lock();
        for img in images {
            let names: Vec<String> = img.tags.iter().map(Reference::familiar).collect();
            let id = img.id.clone();
            self.commit_image(&mut state, img, None)?;
            if names.is_empty() {
                out.push(id)
            } else {
                out.extend(names)
            }
        }
        state.index.save(&self.inner.index_path)?;
        Ok(out)
    }

    /// One `syncfs` for everything written, instead of an fsync per file.
    fn sync(&self) -> Result<(), ImageError> {
        let dir = self.inner.snapshots.dir();
        let f = fs::File::open(dir).map_err(ImageError::io(dir))?;
        rustix::fs::syncfs(&f).map_err(|e| {
            ImageError::io_at(dir, std::io::Error::from_raw_os_error(e.raw_os_error()))
        })
    }

    /// Puts a loaded image's snapshots and blobs in place and records it (index saved by caller).
    fn commit_image(
        &self,
        state: &mut State,
        img: LoadedImage,
        parent: Option<String>,
    ) -> Result<(), ImageError> {
        let diff_ids: Vec<String> = img.layers.iter().map(|l| l.stats.diff_id.clone()).collect();
        let chains = chain_ids(&diff_ids);
        let mut records = Vec::new();
        for (i, layer) in img.layers.into_iter().enumerate() {
            let LoadedLayer {
                digest,
                media_type,
                size,
                blob,
                snapshot,
                stats,
            } = layer;
            if let Some(t) = snapshot {
                self.inner.snapshots.commit(
                    t,
                    &chains[i],
                    i.checked_sub(1).map(|p| chains[p].as_str()),
                )?;
            }
            match blob {
                Some(BlobSource::File(p)) => self.inner.blobs.commit_file(&p, &digest)?,
                Some(BlobSource::Memory(b)) => {
                    self.inner.blobs.write_bytes(&b, Some(&digest))?;
                }
                None => {}
            }
            records.push(LayerRecord {
                digest,
                media_type,
                size,
                diff_id: stats.diff_id,
                diff_size: stats.diff_size,
                chain_id: chains[i].clone(),
                unpacked_size: stats.unpacked_size,
                stored: if stats.kept.is_some() {
                    LayerStorage::Snapshot
                } else {
                    LayerStorage::Blob
                },
            });
        }
        self.inner
            .blobs
            .write_bytes(&img.config_bytes, Some(&img.id))?;
        let manifest_digest = match &img.manifest {
            Some((d, bytes)) => Some(self.inner.blobs.write_bytes(bytes, Some(d))?),
            None => None,
        };
        let last_tag_time = state
            .index
            .images
            .get(&img.id)
            .and_then(|r| r.last_tag_time.clone());
        state.index.images.insert(
            img.id.clone(),
            ImageRecord {
                layers: records,
                manifest_digest,
                parent,
                last_tag_time,
            },
        );
        for t in &img.tags {
            state.index.references.insert(t.to_string(), img.id.clone());
        }
        state.configs.insert(img.id.clone(), Arc::new(img.config));
        Ok(())
    }

    /// Finds the image ID `name` designates (Docker's `GetImage`): a full ID, a reference,
    /// or a unique prefix of an ID.
    fn lookup(state: &State, name: &str) -> Result<String, ImageError> {
        let not_found = |r: &AnyReference| match r {
            AnyReference::Id(id) => ImageError::NotFound(id.clone()),
            AnyReference::Named(n) => ImageError::NotFound(n.clone().with_default_tag().familiar()),
        };
        let any = match Reference::parse_any(name) {
            Ok(a) => a,
            // Short IDs with upper-case letters and the like still get a prefix search.
            Err(e) => return Self::search_prefix(state, name).ok_or(e),
        };
        match &any {
            AnyReference::Id(id) => state
                .index
                .images
                .contains_key(id)
                .then(|| id.clone())
                .ok_or_else(|| not_found(&any)),
            AnyReference::Named(r) => {
                let key = r.clone().with_default_tag().to_string();
                if let Some(id) = state.index.references.get(&key)
                    && state.index.images.contains_key(id)
                {
                    return Ok(id.clone());
                }
                Self::search_prefix(state, name).ok_or_else(|| not_found(&any))
            }
        }
    }

    fn search_prefix(state: &State, name: &str) -> Option<String> {
        let prefix = name.strip_prefix("sha256:").unwrap_or(name);
        if prefix.is_empty()
            || !prefix
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        {
            return None;
        }
        let mut hits = state
            .index
            .images
            .keys()
            .filter(|id| hex_part(id).starts_with(prefix));
        let first = hits.next()?;
        // An ambiguous prefix designates nothing.
        hits.next().is_none().then(|| first.clone())
    }

    fn record<'a>(state: &'a State, id: &str) -> Result<&'a ImageRecord, ImageError> {
        state
            .index
            .images
            .get(id)
            .ok_or_else(|| ImageError::NotFound(id.to_string()))
    }

    fn config_of(state: &State, id: &str) -> Arc<ImageConfigFile> {
        state.configs.get(id).cloned().unwrap_or_default()
    }

    /// Familiar tags and digests of an image, sorted.
    fn names_of(state: &State, id: &str) -> (Vec<String>, Vec<String>) {
        let mut tags = Vec::new();
        let mut digests = Vec::new();
        for r in state.index.refs_of(id) {
            if let Ok(p) = Reference::parse(&r) {
                if p.digest.is_some() {
                    digests.push(p.familiar())
                } else {
                    tags.push(p.familiar())
                }
            }
        }
        (tags, digests)
    }

    /// Whether `name` designates an image.
    pub fn exists(&self, name: &str) -> bool {
        Self::lookup(&self.lock(), name).is_ok()
    }

    /// Writes the named images (references or IDs) as one `docker save` compatible tar.
    pub fn save(&self, names: &[String], writer: &mut dyn Write) -> Result<(), ImageError> {
        let mut images: Vec<SaveImage> = Vec::new();
        {
            let state = self.lock();
            let mut wanted: Vec<(String, Option<String>)> = Vec::new();
            for name in names {
                let parsed = Reference::parse_any(name);
                // `docker save busybox` saves every tag of the repository; `busybox:1` only that one.
                if let Ok(AnyReference::Named(r)) = &parsed
                    && r.is_name_only()
                {
                    let repo: Vec<(String, Option<String>)> = state
                        .index
                        .references
                        .iter()
                        .filter_map(|(k, v)| Reference::parse(k).ok().map(|p| (p, v)))
                        .filter(|(p, _)| p.name() == r.name() && p.tag.is_some())
                        .map(|(p, v)| (v.clone(), Some(p.familiar())))
                        .collect();
                    if !repo.is_empty() {
                        wanted.extend(repo);
                        continue;
                    }
                }
                let id = Self::lookup(&state, name)?;
                let tag = match parsed {
                    Ok(AnyReference::Named(r)) => {
                        let r = r.with_default_tag();
                        (r.tag.is_some() && state.index.references.get(&r.to_string()) == Some(&id))
                            .then(|| r.familiar())
                    }
                    _ => None,
                };
                wanted.push((id, tag));
            }
            for (id, tag) in wanted {
                let tags: Vec<String> = tag.into_iter().collect();
                if let Some(existing) = images.iter_mut().find(|i| i.id == id) {
                    for t in tags {
                        if !existing.repo_tags.contains(&t) {
                            existing.repo_tags.push(t);
                        }
                    }
                    continue;
                }
                let rec = Self::record(&state, &id)?;
                let layers = rec
                    .layers
                    .iter()
                    .map(|l| SaveLayer {
                        chain_id: l.chain_id.clone(),
                        diff_size: l.diff_size,
                        source: match l.stored {
                            LayerStorage::Blob => {
                                SaveSource::Blob(self.inner.blobs.path(&l.digest))
                            }
                            LayerStorage::Snapshot => SaveSource::Snapshot {
                                dir: self.inner.snapshots.path(&l.chain_id),
                                diff_id: l.diff_id.clone(),
                            },
                        },
                    })
                    .collect();
                images.push(SaveImage {
                    id: id.clone(),
                    config: Vec::new(),
                    repo_tags: tags,
                    layers,
                });
            }
        }
        for img in &mut images {
            let p = self.inner.blobs.path(&img.id);
            img.config = fs::read(&p).map_err(ImageError::io(&p))?;
        }
        write_docker_archive(writer, &images).map_err(|e| ImageError::io_at("<save stream>", e))
    }

    /// Turns a rootfs tar into a one-layer image; returns its `sha256:` ID.
    pub fn import(
        &self,
        reader: &mut dyn Read,
        opts: &ImportOptions,
    ) -> Result<String, ImageError> {
        let reference = match &opts.reference {
            Some(r) if !r.is_empty() => {
                let parsed = Reference::parse(r)?;
                if parsed.digest.is_some() {
                    return Err(ImageError::InvalidArgument(format!(
                        "refusing to create a tag with a digest reference: {r}"
                    )));
                }
                Some(parsed.with_default_tag())
            }
            _ => None,
        };
        let mut run_config = ImageConfig::default();
        apply_changes(&mut run_config, &opts.changes)?;

        // A worker unpacks the stream; a plain tar is kept beside the snapshot by it, a
        // compressed one is also streamed to an ingest file that becomes the layer's blob.
        let work = self.inner.blobs.ingest_dir();
        let mut w: Option<IngestWriter> = None;
        let mut sniffed = false;
        let (tx, handle) = snapshot::spawn_unpack(&self.inner.snapshots)?;
        let mut tx = Some(tx);
        let stream_result = (|| -> Result<(), ImageError> {
            loop {
                let mut buf = vec![0u8; BUF_SIZE];
                // The first chunk must hold the compression magic (or the whole stream).
                let want = if sniffed { 1 } else { 4 };
                let mut n = 0;
                while n < want {
                    match reader.read(&mut buf[n..]) {
                        Ok(0) => break,
                        Ok(k) => n += k,
                        Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                        Err(e) => {
                            return Err(ImageError::InvalidArchive(format!(
                                "reading rootfs tar: {e}"
                            )));
                        }
                    }
                }
                if n == 0 {
                    return Ok(());
                }
                buf.truncate(n);
                if !sniffed {
                    sniffed = true;
                    if Compression::detect(&buf) != Compression::None {
                        w = Some(IngestWriter::create(work, None, "imported rootfs")?);
                    }
                }
                if let Some(w) = &mut w {
                    w.write_all(&buf).map_err(ImageError::io(w.path()))?;
                }
                if let Some(t) = &tx
                    && t.send(buf).is_err()
                {
                    tx = None;
                }
            }
        })();
        drop(tx);
        let unpacked = snapshot::join(handle);
        stream_result?;
        let temp: TempSnapshot = unpacked?;
        let stats = temp.stats.clone().expect("unpacked snapshots carry stats");
        let (digest, size, blob) = match w {
            Some(w) => {
                let b = w.finish()?;
                (b.digest, b.size, Some(BlobSource::File(b.path)))
            }
            None if stats.kept.is_some() => (stats.diff_id.clone(), stats.diff_size, None),
            None => {
                return Err(ImageError::InvalidArchive(
                    "rootfs tar was neither stored nor kept".into(),
                ));
            }
        };

        let now = go_time(chrono::Utc::now());
        let msg = opts
            .message
            .clone()
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "Imported from -".to_string());
        let config = ImageConfigFile {
            architecture: Some(host_arch().to_string()),
            comment: Some(msg.clone()),
            config: Some(run_config),
            created: Some(now.clone()),
            os: Some("linux".to_string()),
            rootfs: RootFs {
                typ: "layers".into(),
                diff_ids: vec![stats.diff_id.clone()],
            },
            history: vec![History {
                created: Some(now),
                comment: Some(msg),
                ..History::default()
            }],
            ..ImageConfigFile::default()
        };
        let config_bytes = serde_json::to_vec(&config).expect("config serialises");
        let id = sha256_digest(&config_bytes);
        self.sync()?;
        let have = self.inner.snapshots.exists(&stats.diff_id);
        let img = LoadedImage {
            id: id.clone(),
            config_bytes,
            config,
            tags: reference.into_iter().collect(),
            manifest: None,
            layers: vec![LoadedLayer {
                digest,
                media_type: stats.compression.layer_media_type().to_string(),
                size,
                blob,
                snapshot: (!have || stats.kept.is_some()).then_some(temp),
                stats,
            }],
        };
        let mut state = self.lock();
        self.commit_image(&mut state, img, None)?;
        state.index.save(&self.inner.index_path)?;
        Ok(id)
    }

    /// `commit`: a new image of `base`'s layers plus the layer `write_layer` writes
    /// (a plain tar, e.g. [`crate::image::diff::write_layer`]); returns its `sha256:` ID.
    pub fn commit(
        &self,
        base: &str,
        write_layer: impl FnOnce(&mut dyn Write) -> Result<(), ImageError>,
        opts: &crate::image::commit::CommitOptions,
    ) -> Result<String, ImageError> {
        let reference = match &opts.reference {
            Some(r) if !r.is_empty() => Some(Reference::parse(r)?.with_default_tag()),
            _ => None,
        };
        let (base_id, base_config) = {
            let state = self.lock();
            let id = Self::lookup(&state, base)?;
            Self::record(&state, &id)?;
            (id.clone(), Self::config_of(&state, &id))
        };
        let temp = self.unpack_layer(write_layer)?;
        let stats = temp.stats.clone().expect("unpacked snapshots carry stats");
        if stats.kept.is_none() {
            return Err(ImageError::InvalidArchive(
                "committed layer was not kept".into(),
            ));
        }
        let config = crate::image::commit::new_config(&base_config, &stats.diff_id, opts)?;
        let config_bytes = serde_json::to_vec(&config).expect("config serialises");
        let id = sha256_digest(&config_bytes);
        self.sync()?;
        let mut state = self.lock();
        // The base may have been removed meanwhile; its layers must still be there.
        let mut layers = Self::record(&state, &base_id)?.layers.clone();
        self.push_snapshot_layer(&mut layers, temp, &config.rootfs.diff_ids)?;
        let record = ImageRecord {
            layers,
            manifest_digest: None,
            parent: Some(base_id),
            last_tag_time: None,
        };
        let reference = reference.map(|r| r.to_string());
        self.insert_local_image(&mut state, &id, config, &config_bytes, record, reference)?;
        Ok(id)
    }

    /// A build step's image without a new layer (`ENV`, `CMD`, ...): `parent`'s
    /// layers (none for `FROM scratch`), `step`'s config, one `empty_layer` history
    /// entry; returns its `sha256:` ID.
    pub fn build_metadata_step(
        &self,
        parent: Option<&str>,
        step: &BuildStep,
    ) -> Result<String, ImageError> {
        self.add_build_image(parent, None, step)
    }

    /// A build step's image with the layer `write_layer` writes (a plain tar, e.g.
    /// [`crate::image::diff::write_layer`] of a `RUN` container's upper dir) on top of
    /// `parent`'s layers (none for `FROM scratch`). A layer with no entries is not
    /// added and its history entry is `empty_layer`, as dockerd does. Returns the
    /// `sha256:` ID.
    pub fn build_layer_step(
        &self,
        parent: Option<&str>,
        write_layer: impl FnOnce(&mut dyn Write) -> Result<(), ImageError>,
        step: &BuildStep,
    ) -> Result<String, ImageError> {
        let temp = self.unpack_layer(write_layer)?;
        let stats = temp.stats.clone().expect("unpacked snapshots carry stats");
        if stats.diff_id == EMPTY_TAR_DIFF_ID {
            return self.add_build_image(parent, None, step);
        }
        if stats.kept.is_none() {
            return Err(ImageError::InvalidArchive(
                "build layer was not kept".into(),
            ));
        }
        self.sync()?;
        self.add_build_image(parent, Some(temp), step)
    }

    fn add_build_image(
        &self,
        parent: Option<&str>,
        layer: Option<TempSnapshot>,
        step: &BuildStep,
    ) -> Result<String, ImageError> {
        let mut state = self.lock();
        let (parent_id, base, mut layers) = match parent {
            Some(p) => {
                let id = Self::lookup(&state, p)?;
                let layers = Self::record(&state, &id)?.layers.clone();
                (Some(id.clone()), Self::config_of(&state, &id), layers)
            }
            None => (None, Arc::default(), Vec::new()),
        };
        let diff_id = layer.as_ref().map(|t| {
            let stats = t.stats.as_ref().expect("unpacked snapshots carry stats");
            stats.diff_id.as_str()
        });
        let config = crate::image::commit::child_config(
            &base,
            step.config.clone(),
            &step.created_by,
            step.author.clone(),
            None,
            diff_id,
        );
        let config_bytes = serde_json::to_vec(&config).expect("config serialises");
        let id = sha256_digest(&config_bytes);
        if let Some(temp) = layer {
            self.push_snapshot_layer(&mut layers, temp, &config.rootfs.diff_ids)?;
        }
        let record = ImageRecord {
            layers,
            manifest_digest: None,
            parent: parent_id,
            last_tag_time: None,
        };
        self.insert_local_image(&mut state, &id, config, &config_bytes, record, None)?;
        Ok(id)
    }

    /// Unpacks the plain tar `write_layer` writes into a temporary snapshot (with stats), the
    /// writer and the unpacking thread running side by side.
    fn unpack_layer(
        &self,
        write_layer: impl FnOnce(&mut dyn Write) -> Result<(), ImageError>,
    ) -> Result<TempSnapshot, ImageError> {
        let (tx, handle) = snapshot::spawn_unpack(&self.inner.snapshots)?;
        let mut w = crate::image::commit::ChunkWriter::new(tx);
        let written = write_layer(&mut w).and_then(|()| {
            w.flush()
                .map_err(|e| ImageError::io_at("<layer stream>", e))
        });
        drop(w);
        let unpacked = snapshot::join(handle);
        written?;
        unpacked
    }

    /// Commits the unpacked layer `temp` as the snapshot of the last of `diff_ids` (the new
    /// image's whole rootfs) on top of `layers`, and appends its record to `layers`.
    fn push_snapshot_layer(
        &self,
        layers: &mut Vec<LayerRecord>,
        temp: TempSnapshot,
        diff_ids: &[String],
    ) -> Result<(), ImageError> {
        let stats = temp.stats.clone().expect("unpacked snapshots carry stats");
        let chains = chain_ids(diff_ids);
        let chain = chains.last().expect("one layer at least").clone();
        let parent_chain = layers.last().map(|l| l.chain_id.clone());
        self.inner
            .snapshots
            .commit(temp, &chain, parent_chain.as_deref())?;
        layers.push(LayerRecord {
            digest: stats.diff_id.clone(),
            media_type: Compression::None.layer_media_type().to_string(),
            size: stats.diff_size,
            diff_id: stats.diff_id,
            diff_size: stats.diff_size,
            chain_id: chain,
            unpacked_size: stats.unpacked_size,
            stored: LayerStorage::Snapshot,
        });
        Ok(())
    }

    /// Records a locally made image (commit, build step): its config blob, index entry,
    /// `reference` (if any) and cached config, then saves the index.
    fn insert_local_image(
        &self,
        state: &mut State,
        id: &str,
        config: ImageConfigFile,
        config_bytes: &[u8],
        record: ImageRecord,
        reference: Option<String>,
    ) -> Result<(), ImageError> {
        self.inner.blobs.write_bytes(config_bytes, Some(id))?;
        state.index.images.insert(id.to_owned(), record);
        if let Some(r) = reference {
            state.index.references.insert(r, id.to_owned());
        }
        state.configs.insert(id.to_owned(), Arc::new(config));
        state.index.save(&self.inner.index_path)?;
        Ok(())
    }

    /// Tags image `id` with every reference in `references` (each `name[:tag]`,
    /// default tag `latest`) in one index update; all are checked before any is
    /// set. Returns their familiar forms, in order.
    pub fn tag_all(&self, id: &str, references: &[String]) -> Result<Vec<String>, ImageError> {
        let mut parsed = Vec::new();
        for r in references {
            let p = Reference::parse(r)?;
            if p.digest.is_some() {
                return Err(ImageError::InvalidArgument(format!(
                    "refusing to create a tag with a digest reference: {r}"
                )));
            }
            parsed.push(p.with_default_tag());
        }
        let mut state = self.lock();
        let id = Self::lookup(&state, id)?;
        for p in &parsed {
            state.index.references.insert(p.to_string(), id.clone());
        }
        if let Some(rec) = state.index.images.get_mut(&id) {
            rec.last_tag_time = Some(go_time(chrono::Utc::now()));
        }
        state.index.save(&self.inner.index_path)?;
        Ok(parsed.iter().map(Reference::familiar).collect())
    }

    /// Images as `GET /images/json` lists them; `all` includes intermediate images,
    /// `filters` is Docker's decoded filter map (`dangling`, `reference`, `label`, `before`, `since`).
    pub fn list(
        &self,
        all: bool,
        filters: &std::collections::HashMap<String, Vec<String>>,
        _digests: bool,
    ) -> Result<Vec<ImageSummary>, ImageError> {
        let state = self.lock();
        for k in filters.keys() {
            if !matches!(
                k.as_str(),
                "dangling" | "reference" | "label" | "before" | "since"
            ) {
                return Err(ImageError::InvalidArgument(format!("invalid filter '{k}'")));
            }
        }
        let dangling = match filters.get("dangling").map(|v| v.as_slice()) {
            None | Some([]) => None,
            Some([v]) => match v.to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => {
                    return Err(ImageError::InvalidArgument(format!(
                        "invalid filter 'dangling={v}'"
                    )));
                }
            },
            Some(_) => {
                return Err(ImageError::InvalidArgument(
                    "invalid filter 'dangling': give one value".into(),
                ));
            }
        };
        let created_of = |name: &str| -> Result<i64, ImageError> {
            let id = Self::lookup(&state, name)?;
            Ok(Self::config_of(&state, &id).created_unix())
        };
        let before = filters
            .get("before")
            .map(|v| {
                v.iter()
                    .map(|n| created_of(n))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let since = filters
            .get("since")
            .map(|v| {
                v.iter()
                    .map(|n| created_of(n))
                    .collect::<Result<Vec<_>, _>>()
            })
            .transpose()?;
        let has_children: HashSet<&str> = state
            .index
            .images
            .values()
            .filter_map(|r| r.parent.as_deref())
            .collect();

        let mut out = Vec::new();
        for (id, rec) in &state.index.images {
            let cfg = Self::config_of(&state, id);
            let created = cfg.created_unix();
            if before
                .as_ref()
                .is_some_and(|b| b.iter().any(|t| created >= *t))
                || since
                    .as_ref()
                    .is_some_and(|s| s.iter().any(|t| created <= *t))
            {
                continue;
            }
            let labels = cfg.labels();
            if let Some(wanted) = filters.get("label")
                && !wanted.iter().all(|w| match w.split_once('=') {
                    Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                    None => labels.contains_key(w),
                })
            {
                continue;
            }
            let (mut tags, mut digests) = Self::names_of(&state, id);
            if let Some(patterns) = filters.get("reference") {
                let matches = |familiar: &str| {
                    let name = Reference::parse(familiar)
                        .map(|r| r.familiar_name())
                        .unwrap_or_default();
                    patterns
                        .iter()
                        .any(|p| glob_match(p, familiar) || glob_match(p, &name))
                };
                tags.retain(|t| matches(t));
                digests.retain(|d| matches(d));
                if tags.is_empty() && digests.is_empty() {
                    continue;
                }
            }
            if tags.is_empty() && digests.is_empty() {
                if dangling == Some(false) {
                    continue;
                }
                if !all && has_children.contains(id.as_str()) {
                    continue;
                }
                // API 1.41 (dockerd 20.10) shows untagged images this way.
                tags = vec!["<none>:<none>".to_string()];
                digests = vec!["<none>@<none>".to_string()];
            } else if dangling == Some(true) {
                continue;
            }
            let size = rec.size();
            out.push(ImageSummary {
                id: id.clone(),
                parent_id: rec.parent.clone().unwrap_or_default(),
                repo_tags: tags,
                repo_digests: digests,
                created,
                size,
                shared_size: -1,
                virtual_size: Some(size),
                labels,
                containers: -1,
                manifests: None,
            });
        }
        out.sort_by(|a, b| b.created.cmp(&a.created).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// `GET /images/{name}/json`.
    pub fn inspect(&self, name: &str) -> Result<ImageInspect, ImageError> {
        let state = self.lock();
        let id = Self::lookup(&state, name)?;
        let rec = Self::record(&state, &id)?;
        let cfg = Self::config_of(&state, &id);
        let (tags, digests) = Self::names_of(&state, &id);
        let diffs: Vec<String> = rec
            .layers
            .iter()
            .map(|l| self.inner.snapshots.diff(&l.chain_id).display().to_string())
            .collect();
        let mut data = HashMap::new();
        if let Some((top, lower)) = rec.layers.split_last() {
            let top_dir = self.inner.snapshots.path(&top.chain_id);
            data.insert(
                "UpperDir".to_string(),
                top_dir.join("diff").display().to_string(),
            );
            data.insert(
                "MergedDir".to_string(),
                top_dir.join("merged").display().to_string(),
            );
            data.insert(
                "WorkDir".to_string(),
                top_dir.join("work").display().to_string(),
            );
            if !lower.is_empty() {
                let lowers: Vec<&str> = diffs[..diffs.len() - 1]
                    .iter()
                    .rev()
                    .map(String::as_str)
                    .collect();
                data.insert("LowerDir".to_string(), lowers.join(":"));
            }
        }
        let size = rec.size();
        let mut run_config = cfg.config.clone().unwrap_or_default();
        // Docker always fills the string fields of Config.
        for f in [
            &mut run_config.hostname,
            &mut run_config.domainname,
            &mut run_config.user,
            &mut run_config.image,
            &mut run_config.working_dir,
        ] {
            f.get_or_insert_with(String::new);
        }
        for f in [
            &mut run_config.attach_stdin,
            &mut run_config.attach_stdout,
            &mut run_config.attach_stderr,
            &mut run_config.tty,
            &mut run_config.open_stdin,
            &mut run_config.stdin_once,
        ] {
            f.get_or_insert(false);
        }
        Ok(ImageInspect {
            id: Some(id.clone()),
            repo_tags: Some(tags),
            repo_digests: Some(digests),
            parent: Some(rec.parent.clone().unwrap_or_default()),
            comment: Some(cfg.comment.clone().unwrap_or_default()),
            created: Some(docker_time(cfg.created.as_deref())),
            docker_version: Some(cfg.docker_version.clone().unwrap_or_default()),
            author: Some(cfg.author.clone().unwrap_or_default()),
            config: Some(run_config),
            architecture: Some(cfg.architecture.clone().unwrap_or_default()),
            variant: cfg.variant.clone().filter(|v| !v.is_empty()),
            os: Some(cfg.os.clone().unwrap_or_default()),
            os_version: cfg.os_version.clone().filter(|v| !v.is_empty()),
            size: Some(size),
            virtual_size: Some(size),
            graph_driver: Some(DriverData {
                name: "overlay2".into(),
                data,
            }),
            root_fs: Some(ImageInspectRootFs {
                typ: "layers".into(),
                layers: Some(rec.layers.iter().map(|l| l.diff_id.clone()).collect()),
            }),
            metadata: Some(ImageInspectMetadata {
                last_tag_time: Some(
                    rec.last_tag_time
                        .clone()
                        .unwrap_or_else(|| crate::image::config::ZERO_TIME.to_string()),
                ),
            }),
        })
    }

    /// `GET /images/{name}/history`.
    pub fn history(&self, name: &str) -> Result<Vec<HistoryResponseItem>, ImageError> {
        let state = self.lock();
        let id = Self::lookup(&state, name)?;
        let rec = Self::record(&state, &id)?;
        let cfg = Self::config_of(&state, &id);
        let mut layer = 0;
        let mut out = Vec::new();
        for h in &cfg.history {
            let mut size = 0;
            if !h.empty_layer.unwrap_or(false) {
                let l = rec.layers.get(layer).ok_or_else(|| {
                    ImageError::InvalidArgument(
                        "too many non-empty layers in History section".into(),
                    )
                })?;
                size = l.unpacked_size as i64;
                layer += 1;
            }
            out.push(HistoryResponseItem {
                id: "<missing>".into(),
                created: h
                    .created
                    .as_deref()
                    .and_then(crate::image::config::parse_time)
                    .map(|t| t.timestamp())
                    .unwrap_or(0),
                created_by: h.created_by.clone().unwrap_or_default(),
                tags: Vec::new(),
                size,
                comment: h.comment.clone().unwrap_or_default(),
            });
        }
        out.reverse();
        if let Some(top) = out.first_mut() {
            top.id = id.clone();
            top.tags = Self::names_of(&state, &id).0;
        }
        Ok(out)
    }

    /// `POST /images/{name}/tag?repo=&tag=`.
    pub fn tag(&self, source: &str, repo: &str, tag: Option<&str>) -> Result<(), ImageError> {
        let mut r = Reference::parse(repo)?;
        if r.digest.is_some() {
            return Err(ImageError::InvalidArgument(
                "refusing to create a tag with a digest reference".into(),
            ));
        }
        if let Some(t) = tag.filter(|t| !t.is_empty()) {
            if !valid_tag(t) {
                return Err(ImageError::InvalidReference {
                    input: t.to_string(),
                    reason: "invalid tag format".into(),
                });
            }
            r.tag = Some(t.to_string());
        }
        let r = r.with_default_tag();
        let mut state = self.lock();
        let id = Self::lookup(&state, source)?;
        state.index.references.insert(r.to_string(), id.clone());
        if let Some(rec) = state.index.images.get_mut(&id) {
            rec.last_tag_time = Some(go_time(chrono::Utc::now()));
        }
        state.index.save(&self.inner.index_path)
    }

    /// The references pointing at image `id`, parsed.
    fn parsed_refs(state: &State, id: &str) -> Vec<Reference> {
        state
            .index
            .refs_of(id)
            .iter()
            .filter_map(|r| Reference::parse(r).ok())
            .collect()
    }

    /// Whether `name` is (a prefix of) the image ID `id`, with or without `sha256:`.
    fn is_id_prefix(id: &str, name: &str) -> bool {
        id.starts_with(name)
            || id
                .split_once(':')
                .is_some_and(|(_, hex)| hex.starts_with(name))
    }

    /// dockerd's `isSingleReference`: every reference is in one repository and
    /// at most one of them is a tag. False for no references.
    fn is_single_reference(refs: &[Reference]) -> bool {
        if refs.len() <= 1 {
            return refs.len() == 1;
        }
        let mut names = BTreeSet::new();
        let mut single: Option<&Reference> = None;
        for r in refs {
            if r.digest.is_some() {
                names.insert(r.name());
            } else if single.is_none() {
                names.insert(r.name());
                single = Some(r);
            } else {
                return false;
            }
        }
        let single = single.unwrap_or(&refs[0]);
        names.len() == 1 && names.contains(&single.name())
    }

    /// `DELETE /images/{name}`: untags or deletes like dockerd. `users(image_id)`
    /// names a container using the image: a stopped one blocks removal unless
    /// `force`, a running one even with it.
    pub fn remove(
        &self,
        name: &str,
        force: bool,
        users: &dyn Fn(&str) -> Option<ImageUser>,
    ) -> Result<Vec<ImageDeleteResponseItem>, ImageError> {
        let mut state = self.lock();
        let id = Self::lookup(&state, name)?;
        let user = users(&id);
        let untagged = |r: &Reference| ImageDeleteResponseItem {
            untagged: Some(r.familiar()),
            deleted: None,
        };
        let mut records = Vec::new();
        let mut refs = Self::parsed_refs(&state, &id);
        let mut removed_repository_ref = false;
        if !Self::is_id_prefix(&id, name) {
            let parsed = Reference::parse(name)?.with_default_tag();
            if !force
                && Self::is_single_reference(&refs)
                && let Some(u) = &user
            {
                let who = if u.container_id.is_empty() {
                    "a container".to_string()
                } else {
                    format!("container{}", container_phrase(u))
                };
                return Err(ImageError::Conflict(format!(
                    "conflict: unable to remove repository reference \"{name}\" (must force) - {who} is using its referenced image {}",
                    short_id(&id)
                )));
            }
            if state.index.references.remove(&parsed.to_string()).is_none() {
                return Err(ImageError::NotFound(parsed.familiar()));
            }
            records.push(untagged(&parsed));
            refs = Self::parsed_refs(&state, &id);
            if parsed.digest.is_none()
                && !refs
                    .iter()
                    .any(|r| r.digest.is_none() && r.name() == parsed.name())
            {
                // The last tag of a repository takes that repository's digest references with it.
                for r in refs
                    .iter()
                    .filter(|r| r.digest.is_some() && r.name() == parsed.name())
                {
                    state.index.references.remove(&r.to_string());
                    records.push(untagged(r));
                }
                refs = Self::parsed_refs(&state, &id);
            }
            if !refs.is_empty() {
                state.index.save(&self.inner.index_path)?;
                return Ok(records);
            }
            removed_repository_ref = true;
        } else if Self::is_single_reference(&refs) {
            if let Some(c) = Self::delete_conflict(&state, &id, user.as_ref(), force, true) {
                return Err(Self::conflict_error(&id, c));
            }
            for r in &refs {
                state.index.references.remove(&r.to_string());
                records.push(untagged(r));
            }
        }

        if let Some(c) = Self::delete_conflict(&state, &id, user.as_ref(), force, false) {
            let dangling = Self::parsed_refs(&state, &id).is_empty();
            if removed_repository_ref && (!dangling || c.used) {
                // The untag alone was asked for; the image stays (used by a container).
                state.index.save(&self.inner.index_path)?;
                return Ok(records);
            }
            return Err(Self::conflict_error(&id, c));
        }
        for r in Self::parsed_refs(&state, &id) {
            state.index.references.remove(&r.to_string());
            records.push(untagged(&r));
        }
        let rec = state
            .index
            .images
            .remove(&id)
            .expect("looked-up image exists");
        state.configs.remove(&id);
        records.push(ImageDeleteResponseItem {
            untagged: None,
            deleted: Some(id.clone()),
        });

        // Data still referenced by other images (or by the containers using this one) stays.
        let mut detached = Vec::new();
        let mut dead_blobs = Vec::new();
        if user.is_none() {
            let live_chains: HashSet<&str> = state
                .index
                .images
                .values()
                .flat_map(|r| r.layers.iter().map(|l| l.chain_id.as_str()))
                .collect();
            let mut live_blobs: HashSet<&str> =
                state.index.images.keys().map(String::as_str).collect();
            for r in state.index.images.values() {
                live_blobs.extend(r.layers.iter().filter_map(LayerRecord::blob));
                live_blobs.extend(r.manifest_digest.as_deref());
            }
            for l in rec.layers.iter().rev() {
                if !live_chains.contains(l.chain_id.as_str()) {
                    if let Some(p) = self.inner.snapshots.detach(&l.chain_id)? {
                        detached.push(p);
                    }
                    records.push(ImageDeleteResponseItem {
                        untagged: None,
                        deleted: Some(l.chain_id.clone()),
                    });
                }
                if let Some(d) = l.blob()
                    && !live_blobs.contains(d)
                {
                    dead_blobs.push(d.to_string());
                }
            }
            if !live_blobs.contains(id.as_str()) {
                dead_blobs.push(id.clone());
            }
            dead_blobs.extend(
                rec.manifest_digest
                    .iter()
                    .filter(|d| !live_blobs.contains(d.as_str()))
                    .cloned(),
            );
            for d in &dead_blobs {
                self.inner.blobs.remove(d)?;
            }
        }
        state.index.save(&self.inner.index_path)?;
        drop(state);
        // Teardown is best effort: report every failure, after trying all.
        let mut failures = Vec::new();
        for p in detached {
            if let Err(e) = remove_tree(&p) {
                failures.push(e.to_string());
            }
        }
        if !failures.is_empty() {
            tracing::warn!(image = %id, failures = ?failures, "removing snapshot directories failed; the next start sweeps them");
        }
        Ok(records)
    }

    /// Docker's `checkImageDeleteConflict`. `by_id_untag` is the pre-check of `rmi <id>`,
    /// which ignores the "referenced in multiple repositories" case.
    fn delete_conflict(
        state: &State,
        id: &str,
        user: Option<&ImageUser>,
        force: bool,
        by_id_untag: bool,
    ) -> Option<DeleteConflict> {
        if state
            .index
            .images
            .values()
            .any(|r| r.parent.as_deref() == Some(id))
        {
            return Some(DeleteConflict {
                hard: true,
                used: false,
                message: "image has dependent child images".into(),
            });
        }
        if let Some(u) = user.filter(|u| u.running) {
            return Some(DeleteConflict {
                hard: true,
                used: true,
                message: format!(
                    "image is being used by running container{}",
                    container_phrase(u)
                ),
            });
        }
        if force {
            return None;
        }
        if !by_id_untag && !state.index.refs_of(id).is_empty() {
            return Some(DeleteConflict {
                hard: false,
                used: false,
                message: "image is referenced in multiple repositories".into(),
            });
        }
        user.map(|u| DeleteConflict {
            hard: false,
            used: true,
            message: format!(
                "image is being used by stopped container{}",
                container_phrase(u)
            ),
        })
    }

    fn conflict_error(id: &str, c: DeleteConflict) -> ImageError {
        let force = if c.hard {
            "cannot be forced"
        } else {
            "must be forced"
        };
        ImageError::Conflict(format!(
            "conflict: unable to delete {} ({force}) - {}",
            short_id(id),
            c.message
        ))
    }

    /// Resolves a reference or (prefix of an) ID for container creation.
    pub fn resolve(&self, name: &str) -> Result<ResolvedImage, ImageError> {
        let state = self.lock();
        let id = Self::lookup(&state, name)?;
        let rec = Self::record(&state, &id)?;
        let cfg = Self::config_of(&state, &id);
        Ok(ResolvedImage {
            id: id.clone(),
            config: cfg.container_config(),
            layers: rec
                .layers
                .iter()
                .map(|l| self.inner.snapshots.diff(&l.chain_id))
                .collect(),
        })
    }
}

pub mod distribution;
pub mod prune;

#[cfg(test)]
mod tests;
