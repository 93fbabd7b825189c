//! The build cache: a step is reused when its parent image, its instruction
//! (after variable expansion, with the build args RUN sees) and, for COPY/ADD,
//! the digest of its sources are unchanged. Records live one per key in
//! `<data-root>/build/cache/<key>` (the image ID, written atomically), so
//! concurrent builds need no shared lock; a record whose image is gone is ignored.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use berth::fsutil::atomic_write;
use berth::image::{ImageStore, ImageUser};

use crate::disk_usage::{freed_of_gone, scan_each};

/// What makes a step's result reusable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKey(String);

impl CacheKey {
    /// The key of a step on `parent` (None: `FROM scratch`) recorded as
    /// `created_by`, with `extra` for what `created_by` does not show (COPY
    /// source digests, RUN mounts and network, the maintainer).
    pub fn new(parent: Option<&str>, created_by: &str, extra: &[&str]) -> CacheKey {
        let mut h = Sha256::new();
        // Length-prefixed fields: no two field lists hash alike.
        for f in [parent.unwrap_or(""), created_by].iter().chain(extra) {
            h.update((f.len() as u64).to_le_bytes());
            h.update(f.as_bytes());
        }
        CacheKey(hex::encode(h.finalize()))
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The cache records of a daemon.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

/// What `POST /build/prune` removed.
#[derive(Debug, Default)]
pub struct Pruned {
    /// IDs of the removed cache images.
    pub deleted: Vec<String>,
    /// Bytes of layers removed with them.
    pub reclaimed: u64,
}

impl Cache {
    /// The records under `<data_root>/build/cache`.
    pub fn new(data_root: &Path) -> Cache {
        Cache {
            dir: data_root.join("build").join("cache"),
        }
    }

    /// The image a step made before, if it still exists.
    pub fn get(&self, key: &CacheKey, images: &ImageStore) -> Option<String> {
        let id = std::fs::read_to_string(self.dir.join(key.as_str())).ok()?;
        let id = id.trim();
        (id.starts_with("sha256:") && images.exists(id)).then(|| id.to_owned())
    }

    /// Records that `key` made image `id`.
    pub fn put(&self, key: &CacheKey, id: &str) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        atomic_write(&self.dir.join(key.as_str()), id.as_bytes())
    }

    /// Drops the records of the images `select` picks (`/build/prune`'s
    /// filters) and removes those images when nothing else needs them
    /// (untagged, no child image, no container), leaves first. The space
    /// reported is measured on disk, like `du`.
    pub fn prune(
        &self,
        images: &ImageStore,
        users: &dyn Fn(&str) -> Option<ImageUser>,
        select: &dyn Fn(&str) -> bool,
    ) -> std::io::Result<Pruned> {
        let mut ids = Vec::new();
        let entries = match std::fs::read_dir(&self.dir) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Pruned::default()),
            Err(e) => return Err(e),
        };
        for entry in entries {
            let path = entry?.path();
            if let Ok(id) = std::fs::read_to_string(&path) {
                let id = id.trim().to_owned();
                if images.exists(&id) && !select(&id) {
                    continue;
                }
                ids.push(id);
            }
            match std::fs::remove_file(&path) {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
                _ => {}
            }
        }
        ids.sort();
        ids.dedup();
        let mut out = Pruned::default();
        // A parent goes only once its children went: repeat while that helps.
        loop {
            let mut progress = false;
            ids.retain(|id| {
                let Ok(img) = images.inspect(id) else {
                    return false;
                };
                if img.repo_tags.as_ref().is_some_and(|t| !t.is_empty()) {
                    return false;
                }
                let scans = scan_each(images.image_parts(id).unwrap_or_default());
                match images.remove(id, false, users) {
                    Ok(_) => {
                        progress = true;
                        out.reclaimed += freed_of_gone(scans);
                        out.deleted.push(id.clone());
                        false
                    }
                    // Still needed (a child image, a container): kept.
                    Err(_) => true,
                }
            });
            if !progress || ids.is_empty() {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_depend_on_every_field() {
        let base = CacheKey::new(Some("sha256:a"), "/bin/sh -c echo", &[]);
        assert_eq!(
            base,
            CacheKey::new(Some("sha256:a"), "/bin/sh -c echo", &[])
        );
        assert_ne!(
            base,
            CacheKey::new(Some("sha256:b"), "/bin/sh -c echo", &[])
        );
        assert_ne!(
            base,
            CacheKey::new(Some("sha256:a"), "/bin/sh -c echo2", &[])
        );
        assert_ne!(
            base,
            CacheKey::new(Some("sha256:a"), "/bin/sh -c echo", &["x"])
        );
        assert_ne!(base, CacheKey::new(None, "/bin/sh -c echo", &[]));
        // Field boundaries matter.
        assert_ne!(
            CacheKey::new(None, "ab", &["c"]),
            CacheKey::new(None, "a", &["bc"])
        );
        assert_eq!(base.as_str().len(), 64);
    }

    fn step(created_by: &str) -> berth::image::store::BuildStep {
        berth::image::store::BuildStep {
            created_by: created_by.to_owned(),
            ..Default::default()
        }
    }

    /// A one-file layer tar.
    fn one_file_tar(w: &mut dyn std::io::Write) -> Result<(), berth::image::ImageError> {
        let mut b = tar::Builder::new(w);
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_uid(0);
        h.set_gid(0);
        h.set_mtime(0);
        h.set_cksum();
        b.append_data(&mut h, "f.txt", &b"hi"[..])
            .and_then(|()| b.finish())
            .map_err(|e| berth::image::ImageError::InvalidArchive(e.to_string()))
    }

    /// An image store and a build cache in a fresh directory (removed with the guard).
    fn store_and_cache() -> (tempfile::TempDir, ImageStore, Cache) {
        let dir = tempfile::Builder::new()
            .prefix("berth-cache-")
            .tempdir()
            .unwrap();
        let images = ImageStore::open(dir.path()).unwrap();
        let cache = Cache::new(dir.path());
        (dir, images, cache)
    }

    #[test]
    fn build_steps_chain_and_prune_keeps_what_is_tagged() {
        let (_dir, images, cache) = store_and_cache();
        // FROM scratch, a metadata step, an empty layer, a real layer.
        let meta = images.build_metadata_step(None, &step("meta")).unwrap();
        let empty = images
            .build_layer_step(
                Some(&meta),
                |w| {
                    w.write_all(&[0; 1024])
                        .map_err(|e| berth::image::ImageError::InvalidArchive(e.to_string()))
                },
                &step("empty"),
            )
            .unwrap();
        let layer = images
            .build_layer_step(Some(&empty), one_file_tar, &step("layer"))
            .unwrap();
        let hist = images.history(&layer).unwrap();
        let by: Vec<&str> = hist.iter().map(|h| h.created_by.as_str()).collect();
        assert_eq!(by, ["layer", "empty", "meta"]);
        let img = images.inspect(&layer).unwrap();
        assert_eq!(img.parent.as_deref(), Some(empty.as_str()));
        assert_eq!(img.root_fs.unwrap().layers.unwrap().len(), 1);
        assert_eq!(
            images
                .inspect(&empty)
                .unwrap()
                .root_fs
                .unwrap()
                .layers
                .unwrap()
                .len(),
            0
        );
        for (i, id) in [&meta, &empty, &layer].into_iter().enumerate() {
            let key = CacheKey::new(None, &i.to_string(), &[]);
            cache.put(&key, id).unwrap();
            assert_eq!(cache.get(&key, &images).as_deref(), Some(id.as_str()));
        }
        assert_eq!(
            images
                .tag_all(&empty, &["berth-t:1".into(), "berth-u".into()])
                .unwrap(),
            ["berth-t:1", "berth-u:latest"]
        );
        let pruned = cache.prune(&images, &|_| None, &|_| true).unwrap();
        // The tagged image and its parent stay; the leaf above it goes.
        assert_eq!(pruned.deleted, vec![layer.clone()]);
        assert!(pruned.reclaimed > 0);
        assert!(images.exists(&empty) && images.exists(&meta) && !images.exists(&layer));
        assert_eq!(cache.get(&CacheKey::new(None, "0", &[]), &images), None);
    }

    #[test]
    fn records_of_missing_images_are_ignored() {
        let (_dir, images, cache) = store_and_cache();
        let key = CacheKey::new(None, "x", &[]);
        assert_eq!(cache.get(&key, &images), None);
        cache.put(&key, "sha256:0000").unwrap();
        assert_eq!(cache.get(&key, &images), None);
        let pruned = cache.prune(&images, &|_| None, &|_| true).unwrap();
        assert!(pruned.deleted.is_empty());
        assert_eq!(cache.get(&key, &images), None);
    }
}
