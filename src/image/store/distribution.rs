//! The store's side of pull and push: layers streamed in from a registry (hashed and
//! unpacked as they arrive, committed only once the whole image is verified), pulled
//! images recorded with their `RepoDigests`, and compressed blobs for pushing.
//!
//! `image/distribution.json` remembers, per diff ID, the compressed blobs known for the
//! layer and the repositories they were pulled from or pushed to (moby's
//! `V2MetadataService`): a push reuses a gzip made once, skips what a repository has, and
//! mounts a blob from another repository of the same registry.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::mpsc::SyncSender;

use serde::{Deserialize, Serialize};

use crate::image::ImageError;
use crate::image::apply::LayerStats;
use crate::image::blobs::{IngestWriter, Ingested};
use crate::image::config::ImageConfigFile;
use crate::image::digest::{BUF_SIZE, Compression, chain_ids, hex_part};
use crate::image::index::{ImageRecord, LayerRecord, LayerStorage};
use crate::image::reference::Reference;
use crate::image::snapshot::{self, TempSnapshot, UnpackHandle};
use crate::image::store::ImageStore;

const META_FILE: &str = "distribution.json";
const META_VERSION: u32 = 1;
/// `snapshots/<chain>/push-<hex>.gz`: a gzip made for pushing a layer that has no blob.
const PUSH_GZIP_PREFIX: &str = "push-";

/// A compressed blob known for a layer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobSource {
    /// `sha256:` of the compressed blob.
    pub digest: String,
    /// Its length.
    pub size: u64,
    /// Its media type.
    pub media_type: String,
    /// Repositories (`registry/path`) known to have it.
    #[serde(default)]
    pub repos: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Meta {
    version: u32,
    #[serde(default)]
    layers: BTreeMap<String, Vec<BlobSource>>,
}

/// A layer blob being downloaded: every chunk is hashed into an ingest file and fed to
/// an unpacking thread. Dropping it unfinished deletes both.
pub struct LayerIngest {
    what: String,
    diff_id: String,
    blob: Option<IngestWriter>,
    tx: Option<SyncSender<Vec<u8>>>,
    handle: Option<UnpackHandle>,
}

/// A verified ingest file; deleted on drop unless taken for committing.
struct PendingBlob(Option<Ingested>);

impl Drop for PendingBlob {
    fn drop(&mut self) {
        if let Some(b) = self.0.take() {
            // Best effort: the start-up sweep of the ingest directory removes leftovers.
            let _ = std::fs::remove_file(&b.path);
        }
    }
}

/// A downloaded, verified layer waiting for its image to be committed; dropping it
/// deletes its blob and temp snapshot.
pub struct PulledLayer {
    digest: String,
    media_type: String,
    blob: PendingBlob,
    temp: TempSnapshot,
    stats: LayerStats,
}

/// One layer of a pulled image.
pub enum PulledSlot {
    /// The store had it (`Already exists`): the record to copy.
    Existing(LayerRecord),
    /// Downloaded now.
    Downloaded(PulledLayer),
}

/// A pulled image, ready to be recorded.
pub struct PulledImage {
    /// The config blob, byte-exact (its digest is the image ID).
    pub config_bytes: Vec<u8>,
    /// The manifest the reference resolved to (an index's, when it was one): digest, bytes.
    pub manifest: (String, Vec<u8>),
    /// Layers, lowest first.
    pub layers: Vec<PulledSlot>,
    /// References to point at the image: the tag and `repo@digest`.
    pub references: Vec<Reference>,
    /// The repository it came from (`registry/path`), remembered for pushes.
    pub source_repo: String,
}

/// An image as a push needs it.
#[derive(Debug, Clone)]
pub struct PushImage {
    /// `sha256:` image ID.
    pub id: String,
    /// The config blob, byte-exact.
    pub config_bytes: Vec<u8>,
    /// Layers, lowest first.
    pub layers: Vec<LayerRecord>,
}

/// A gzip blob of a layer, in the blob store.
#[derive(Debug, Clone)]
pub struct CompressedLayer {
    /// `sha256:` of the blob.
    pub digest: String,
    /// Its length.
    pub size: u64,
    /// Where it is.
    pub path: PathBuf,
    /// Repositories known to have it.
    pub repos: Vec<String>,
}

impl LayerIngest {
    /// Feeds a chunk of the blob. Once unpacking has failed, chunks are only hashed, so
    /// a corrupted blob is reported as a digest mismatch rather than as bad tar data.
    pub fn write(&mut self, chunk: &[u8]) -> Result<(), ImageError> {
        let blob = self.blob.as_mut().expect("written before finish");
        blob.write_all(chunk).map_err(ImageError::io(blob.path()))?;
        if let Some(tx) = &self.tx
            && tx.send(chunk.to_vec()).is_err()
        {
            self.tx = None;
        }
        Ok(())
    }

    /// Ends the blob: checks its digest, waits for unpacking, checks the diff ID.
    pub fn finish(mut self, media_type: &str) -> Result<PulledLayer, ImageError> {
        drop(self.tx.take());
        let unpacked = snapshot::join(self.handle.take().expect("joined once"));
        let blob = self.blob.take().expect("finished once").finish()?;
        let temp = unpacked?;
        let stats = temp.stats.clone().expect("unpacked snapshots carry stats");
        if stats.diff_id != self.diff_id {
            return Err(ImageError::DigestMismatch {
                what: format!("uncompressed {}", self.what),
                expected: self.diff_id.clone(),
                actual: stats.diff_id,
            });
        }
        let keep_blob = stats.compression != Compression::None;
        let blob_path = blob.path.clone();
        let digest = blob.digest.clone();
        let blob = if keep_blob {
            PendingBlob(Some(blob))
        } else {
            // A plain tar is kept beside the snapshot; the blob copy is not needed.
            let _ = std::fs::remove_file(&blob_path);
            PendingBlob(None)
        };
        Ok(PulledLayer {
            digest,
            media_type: media_type.to_string(),
            blob,
            temp,
            stats,
        })
    }
}

impl Drop for LayerIngest {
    fn drop(&mut self) {
        drop(self.tx.take());
        if let Some(h) = self.handle.take() {
            // The temp snapshot it built is deleted as it drops.
            let _ = snapshot::join(h);
        }
    }
}

impl ImageStore {
    fn meta_path(&self) -> PathBuf {
        self.inner
            .index_path
            .parent()
            .expect("the index lives in a directory")
            .join(META_FILE)
    }

    fn read_meta(&self) -> Meta {
        let p = self.meta_path();
        match std::fs::read(&p) {
            Ok(b) => serde_json::from_slice(&b).unwrap_or_else(|e| {
                tracing::warn!(path = %p.display(), error = %e, "distribution metadata does not parse; starting afresh");
                Meta::default()
            }),
            Err(_) => Meta::default(),
        }
    }

    /// Records that `source.digest` is a compressed form of `diff_id`, held by `source.repos`.
    /// Called with the index lock held, which serialises the file's updates.
    fn note_source(&self, diff_id: &str, source: BlobSource) -> Result<(), ImageError> {
        let mut meta = self.read_meta();
        meta.version = META_VERSION;
        let list = meta.layers.entry(diff_id.to_string()).or_default();
        match list.iter_mut().find(|s| s.digest == source.digest) {
            Some(s) => {
                for r in source.repos {
                    if !s.repos.contains(&r) {
                        s.repos.push(r);
                    }
                }
            }
            None => list.push(source),
        }
        let p = self.meta_path();
        let bytes = serde_json::to_vec_pretty(&meta).expect("metadata serialises");
        crate::fsutil::atomic_write(&p, &bytes).map_err(ImageError::io(&p))
    }

    /// Records that `repo` has the blob `digest` of layer `diff_id` (after a push).
    pub fn note_pushed(
        &self,
        diff_id: &str,
        digest: &str,
        size: u64,
        repo: &str,
    ) -> Result<(), ImageError> {
        let _state = self.lock();
        self.note_source(
            diff_id,
            BlobSource {
                digest: digest.to_string(),
                size,
                media_type: crate::image::registry::manifest::DOCKER_LAYER_GZIP.to_string(),
                repos: vec![repo.to_string()],
            },
        )
    }

    /// For each layer of a stack given by its diff IDs: the record of a layer already in
    /// the store at that chain position (`Already exists`), or `None` to download it.
    pub fn existing_layers(&self, diff_ids: &[String]) -> Vec<Option<LayerRecord>> {
        let chains = chain_ids(diff_ids);
        let state = self.lock();
        chains
            .iter()
            .map(|c| {
                if !self.inner.snapshots.exists(c) {
                    return None;
                }
                state
                    .index
                    .images
                    .values()
                    .flat_map(|r| r.layers.iter())
                    .find(|l| &l.chain_id == c)
                    .cloned()
            })
            .collect()
    }

    /// Whether `reference` already names the image `id` with every layer in place.
    pub fn is_current(&self, reference: &Reference, id: &str) -> bool {
        let state = self.lock();
        state
            .index
            .references
            .get(&reference.to_string())
            .map(String::as_str)
            == Some(id)
            && state.index.images.get(id).is_some_and(|r| {
                r.layers
                    .iter()
                    .all(|l| self.inner.snapshots.exists(&l.chain_id))
            })
    }

    /// Starts receiving the blob `digest` of a layer whose uncompressed tar must hash to
    /// `diff_id`.
    pub fn ingest_layer(&self, digest: &str, diff_id: &str) -> Result<LayerIngest, ImageError> {
        let what = format!("layer {digest}");
        let blob = IngestWriter::create(
            self.inner.blobs.ingest_dir(),
            Some(digest.to_string()),
            &what,
        )?;
        let (tx, handle) = snapshot::spawn_unpack(&self.inner.snapshots)?;
        Ok(LayerIngest {
            what,
            diff_id: diff_id.to_string(),
            blob: Some(blob),
            tx: Some(tx),
            handle: Some(handle),
        })
    }

    /// Records a pulled image: snapshots and blobs put in place, then the index, in one
    /// step (nothing of a failed pull is recorded). Returns the image ID and whether a
    /// reference was added or moved (dockerd's "Downloaded newer image").
    pub fn commit_pulled(&self, img: PulledImage) -> Result<(String, bool), ImageError> {
        let id = crate::image::digest::sha256_digest(&img.config_bytes);
        let config = ImageConfigFile::parse(&img.config_bytes, &format!("image config {id}"))?;
        let diff_ids = config.rootfs.diff_ids.clone();
        if diff_ids.len() != img.layers.len() {
            return Err(ImageError::InvalidArchive(format!(
                "image {id}: the manifest has {} layers, the config {}",
                img.layers.len(),
                diff_ids.len()
            )));
        }
        let chains = chain_ids(&diff_ids);
        self.sync()?;
        let mut state = self.lock();
        let mut records = Vec::with_capacity(img.layers.len());
        let mut sources = Vec::new();
        for (i, slot) in img.layers.into_iter().enumerate() {
            let parent = i.checked_sub(1).map(|p| chains[p].as_str());
            let rec = match slot {
                PulledSlot::Existing(mut r) => {
                    if !self.inner.snapshots.exists(&chains[i]) {
                        return Err(ImageError::Conflict(format!(
                            "layer {} was removed during the pull; pull again",
                            r.diff_id
                        )));
                    }
                    r.chain_id = chains[i].clone();
                    r
                }
                PulledSlot::Downloaded(l) => {
                    let PulledLayer {
                        digest,
                        media_type,
                        mut blob,
                        temp,
                        stats,
                    } = l;
                    self.inner.snapshots.commit(temp, &chains[i], parent)?;
                    let stored = match blob.0.take() {
                        Some(b) => {
                            self.inner.blobs.commit_file(&b.path, &digest)?;
                            sources.push((
                                stats.diff_id.clone(),
                                BlobSource {
                                    digest: digest.clone(),
                                    size: b.size,
                                    media_type: media_type.clone(),
                                    repos: vec![img.source_repo.clone()],
                                },
                            ));
                            LayerStorage::Blob
                        }
                        None => LayerStorage::Snapshot,
                    };
                    let size = match stored {
                        LayerStorage::Blob => std::fs::metadata(self.inner.blobs.path(&digest))
                            .map(|m| m.len())
                            .unwrap_or(0),
                        LayerStorage::Snapshot => stats.diff_size,
                    };
                    LayerRecord {
                        digest: if stored == LayerStorage::Blob {
                            digest
                        } else {
                            stats.diff_id.clone()
                        },
                        media_type,
                        size,
                        diff_id: stats.diff_id,
                        diff_size: stats.diff_size,
                        chain_id: chains[i].clone(),
                        unpacked_size: stats.unpacked_size,
                        stored,
                    }
                }
            };
            records.push(rec);
        }
        self.inner.blobs.write_bytes(&img.config_bytes, Some(&id))?;
        let (mdigest, mbytes) = &img.manifest;
        let manifest_digest = Some(self.inner.blobs.write_bytes(mbytes, Some(mdigest))?);
        let prev = state.index.images.get(&id).cloned();
        state.index.images.insert(
            id.clone(),
            ImageRecord {
                layers: records,
                manifest_digest: manifest_digest
                    .or(prev.as_ref().and_then(|p| p.manifest_digest.clone())),
                parent: prev.as_ref().and_then(|p| p.parent.clone()),
                last_tag_time: prev.and_then(|p| p.last_tag_time),
            },
        );
        let mut updated = false;
        for r in &img.references {
            let old = state.index.references.insert(r.to_string(), id.clone());
            updated |= old.as_deref() != Some(id.as_str());
        }
        state.configs.insert(id.clone(), Arc::new(config));
        state.index.save(&self.inner.index_path)?;
        for (diff_id, s) in sources {
            // The metadata only speeds up later pushes: failing to record it fails nothing.
            if let Err(e) = self.note_source(&diff_id, s) {
                tracing::warn!(error = %e, "recording a pulled layer's source");
            }
        }
        Ok((id, updated))
    }

    /// The image `name` designates, as a push needs it.
    pub fn push_image(&self, name: &str) -> Result<PushImage, ImageError> {
        let (id, layers) = {
            let state = self.lock();
            let id = Self::lookup(&state, name)?;
            (id.clone(), Self::record(&state, &id)?.layers.clone())
        };
        let p = self.inner.blobs.path(&id);
        let config_bytes = std::fs::read(&p).map_err(ImageError::io(&p))?;
        Ok(PushImage {
            id,
            config_bytes,
            layers,
        })
    }

    /// Tags (`repo:tag`, fully qualified) of the repository `name` (`registry/path`), sorted.
    pub fn repository_tags(&self, name: &str) -> Vec<Reference> {
        let state = self.lock();
        state
            .index
            .references
            .keys()
            .filter_map(|k| Reference::parse(k).ok())
            .filter(|r| r.tag.is_some() && r.name() == name)
            .collect()
    }

    /// A gzip blob of `layer` for pushing: a known one that is still in the blob store,
    /// the layer's own blob when it is gzip, or one made now from the layer's tar (kept
    /// beside the layer's snapshot and remembered, so the next push reuses it).
    pub fn compressed_layer(&self, layer: &LayerRecord) -> Result<CompressedLayer, ImageError> {
        let gzip_types = [
            crate::image::registry::manifest::DOCKER_LAYER_GZIP,
            "application/vnd.oci.image.layer.v1.tar+gzip",
        ];
        let known = {
            let _state = self.lock();
            self.read_meta()
                .layers
                .get(&layer.diff_id)
                .cloned()
                .unwrap_or_default()
        };
        let beside = |digest: &str| {
            self.inner
                .snapshots
                .path(&layer.chain_id)
                .join(format!("{PUSH_GZIP_PREFIX}{}.gz", hex_part(digest)))
        };
        let found = |digest: &str| -> Option<CompressedLayer> {
            let (path, size) = [self.inner.blobs.path(digest), beside(digest)]
                .into_iter()
                .find_map(|p| std::fs::metadata(&p).ok().map(|m| (p, m.len())))?;
            Some(CompressedLayer {
                digest: digest.to_string(),
                size,
                path,
                repos: known
                    .iter()
                    .filter(|s| s.digest == digest)
                    .flat_map(|s| s.repos.clone())
                    .collect(),
            })
        };
        for s in known
            .iter()
            .filter(|s| gzip_types.contains(&s.media_type.as_str()))
        {
            if let Some(c) = found(&s.digest) {
                return Ok(c);
            }
        }
        let own_blob = layer.blob().map(|d| self.inner.blobs.path(d));
        if let Some(p) = &own_blob {
            let mut head = [0u8; 4];
            let n = std::fs::File::open(p)
                .and_then(|mut f| f.read(&mut head))
                .unwrap_or(0);
            if Compression::detect(&head[..n]) == Compression::Gzip
                && let Some(c) = found(&layer.digest)
            {
                return Ok(c);
            }
        }
        // Make one: the layer's tar, from its blob or as kept beside its snapshot.
        let tar: Box<dyn Read + Send> = match &own_blob {
            Some(p) => {
                let mut f = std::fs::File::open(p).map_err(ImageError::io(p))?;
                let mut head = [0u8; 4];
                let n = f.read(&mut head).map_err(ImageError::io(p))?;
                let f = std::fs::File::open(p).map_err(ImageError::io(p))?;
                Compression::detect(&head[..n])
                    .decoder(f)
                    .map_err(ImageError::io(p))?
            }
            None => {
                let dir = self.inner.snapshots.path(&layer.chain_id);
                Box::new(
                    crate::image::tarsplit::open_kept(&dir, &layer.diff_id, layer.diff_size)
                        .map_err(ImageError::io(&dir))?,
                )
            }
        };
        let what = format!("gzip of layer {}", layer.diff_id);
        let w = IngestWriter::create(self.inner.blobs.ingest_dir(), None, &what)?;
        let mut gz = flate2::write::GzEncoder::new(
            std::io::BufWriter::with_capacity(BUF_SIZE, w),
            flate2::Compression::default(),
        );
        let mut tar = tar;
        std::io::copy(&mut tar, &mut gz).map_err(|e| ImageError::io_at(&what, e))?;
        let w = gz
            .finish()
            .and_then(|b| b.into_inner().map_err(|e| e.into_error()))
            .map_err(|e| ImageError::io_at(&what, e))?;
        let done = w.finish()?;
        // Kept beside the snapshot, so it goes with it on `rmi`; gzip output is the same
        // for the same tar, so a concurrent push writing the same file is harmless.
        let path = beside(&done.digest);
        std::fs::rename(&done.path, &path).map_err(ImageError::io(&path))?;
        {
            let _state = self.lock();
            self.note_source(
                &layer.diff_id,
                BlobSource {
                    digest: done.digest.clone(),
                    size: done.size,
                    media_type: crate::image::registry::manifest::DOCKER_LAYER_GZIP.into(),
                    repos: Vec::new(),
                },
            )?;
        }
        Ok(CompressedLayer {
            path,
            digest: done.digest,
            size: done.size,
            repos: Vec::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;
    use crate::image::digest::sha256_digest;
    use crate::image::testutil::{RawTar, gzip};

    fn store() -> (tempfile::TempDir, ImageStore) {
        assert!(
            rustix::process::geteuid().is_root(),
            "image store tests need root (layer ownership)"
        );
        let dir = tempfile::Builder::new()
            .prefix("berth-dist-")
            .tempdir()
            .unwrap();
        let s = ImageStore::open(dir.path()).unwrap();
        (dir, s)
    }

    fn layer_tar() -> Vec<u8> {
        RawTar::new()
            .file("etc/hello", b"hello from a registry")
            .finish()
    }

    fn config_for(diff_id: &str) -> Vec<u8> {
        serde_json::to_vec(&serde_json::json!({
            "architecture": "amd64", "os": "linux", "config": {"Cmd": ["sh"]},
            "rootfs": {"type": "layers", "diff_ids": [diff_id]},
            "history": [{"created_by": "test"}]
        }))
        .unwrap()
    }

    fn leftovers(dir: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        for d in ["image/ingest", "snapshots"] {
            for e in std::fs::read_dir(dir.join(d)).unwrap() {
                let name = e.unwrap().file_name().to_string_lossy().into_owned();
                if d == "image/ingest" || name.starts_with("tmp-") {
                    out.push(format!("{d}/{name}"));
                }
            }
        }
        out
    }

    #[test]
    fn pulled_layers_stream_in_and_the_image_gets_its_repo_digest() {
        let (dir, s) = store();
        let tar = layer_tar();
        let diff_id = sha256_digest(&tar);
        let blob = gzip(&tar);
        let digest = sha256_digest(&blob);
        let config = config_for(&diff_id);
        let id = sha256_digest(&config);
        assert!(s.existing_layers(std::slice::from_ref(&diff_id))[0].is_none());

        let mut ingest = s.ingest_layer(&digest, &diff_id).unwrap();
        let (a, b) = blob.split_at(blob.len() / 2);
        ingest.write(a).unwrap();
        ingest.write(b).unwrap();
        let layer = ingest
            .finish(crate::image::registry::manifest::DOCKER_LAYER_GZIP)
            .unwrap();
        let manifest = b"{\"schemaVersion\":2}".to_vec();
        let mdigest = sha256_digest(&manifest);
        let tag = Reference::parse("127.0.0.1:5000/x:v1").unwrap();
        let by_digest = Reference {
            tag: None,
            digest: Some(mdigest.clone()),
            ..tag.clone()
        };
        let (got, updated) = s
            .commit_pulled(PulledImage {
                config_bytes: config.clone(),
                manifest: (mdigest.clone(), manifest),
                layers: vec![PulledSlot::Downloaded(layer)],
                references: vec![tag.clone(), by_digest],
                source_repo: tag.name(),
            })
            .unwrap();
        assert_eq!((got.as_str(), updated), (id.as_str(), true));
        let info = s.inspect("127.0.0.1:5000/x:v1").unwrap();
        assert_eq!(info.id.as_deref(), Some(id.as_str()));
        assert_eq!(
            info.repo_digests.unwrap(),
            [format!("127.0.0.1:5000/x@{mdigest}")]
        );
        let resolved = s.resolve(&id).unwrap();
        assert_eq!(
            std::fs::read(resolved.layers[0].join("etc/hello")).unwrap(),
            b"hello from a registry"
        );
        assert!(s.is_current(&tag, &id));
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );

        // A second pull finds the layer, and a push reuses the blob it came as.
        let have = s.existing_layers(std::slice::from_ref(&diff_id));
        let rec = have[0].clone().expect("the layer is present");
        let c = s.compressed_layer(&rec).unwrap();
        assert_eq!(c.digest, digest);
        assert_eq!(c.repos, [tag.name()]);
        let (_, updated) = s
            .commit_pulled(PulledImage {
                config_bytes: config,
                manifest: (mdigest.clone(), b"{\"schemaVersion\":2}".to_vec()),
                layers: vec![PulledSlot::Existing(rec)],
                references: vec![tag.clone()],
                source_repo: tag.name(),
            })
            .unwrap();
        assert!(!updated);
    }

    #[test]
    fn a_corrupted_layer_is_a_digest_mismatch_and_leaves_nothing() {
        let (dir, s) = store();
        let tar = layer_tar();
        let diff_id = sha256_digest(&tar);
        let mut blob = gzip(&tar);
        let digest = sha256_digest(&blob);
        let mid = blob.len() / 2;
        blob[mid] ^= 0xff;
        let mut ingest = s.ingest_layer(&digest, &diff_id).unwrap();
        ingest.write(&blob).unwrap();
        let err = match ingest.finish("x") {
            Err(e) => e,
            Ok(_) => panic!("a corrupted layer was accepted"),
        };
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(err.to_string().contains(&digest), "{err}");
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
        // Dropped half-way: nothing stays either.
        let mut ingest = s.ingest_layer(&digest, &diff_id).unwrap();
        ingest.write(&blob[..10]).unwrap();
        drop(ingest);
        assert!(
            leftovers(dir.path()).is_empty(),
            "{:?}",
            leftovers(dir.path())
        );
        assert!(
            s.list(false, &Default::default(), false)
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn a_plain_layer_is_gzipped_once_for_pushing() {
        let (_dir, s) = store();
        let tar = layer_tar();
        let id = s
            .import(&mut &tar[..], &crate::image::ImportOptions::default())
            .unwrap();
        let img = s.push_image(&id).unwrap();
        assert_eq!(sha256_digest(&img.config_bytes), id);
        let layer = &img.layers[0];
        assert_eq!(layer.stored, LayerStorage::Snapshot);
        let c = s.compressed_layer(layer).unwrap();
        let mut unzipped = Vec::new();
        flate2::read::GzDecoder::new(std::fs::File::open(&c.path).unwrap())
            .read_to_end(&mut unzipped)
            .unwrap();
        assert_eq!(unzipped, tar);
        assert_eq!(c.size, std::fs::metadata(&c.path).unwrap().len());
        assert!(
            c.path.starts_with(_dir.path().join("snapshots")),
            "{}",
            c.path.display()
        );
        assert_eq!(s.compressed_layer(layer).unwrap().digest, c.digest);
        s.note_pushed(&layer.diff_id, &c.digest, c.size, "127.0.0.1:5000/y")
            .unwrap();
        assert_eq!(
            s.compressed_layer(layer).unwrap().repos,
            ["127.0.0.1:5000/y"]
        );
        assert!(s.repository_tags("127.0.0.1:5000/y").is_empty());
        s.tag(&id, "127.0.0.1:5000/y", Some("t")).unwrap();
        assert_eq!(
            s.repository_tags("127.0.0.1:5000/y")[0].to_string(),
            "127.0.0.1:5000/y:t"
        );
        // The gzip goes with the layer.
        s.remove(&id, true, &|_| None).unwrap();
        assert!(!c.path.exists());
    }
}
