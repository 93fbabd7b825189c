//! The store's side of `image prune` and `system df`: which images a prune
//! may consider, where each image's bytes live on disk, and pins that keep an
//! image a container is being created from out of a prune's reach.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use crate::image::ImageError;
use crate::image::index::LayerRecord;
use crate::image::reference::Reference;
use crate::image::store::{ImageStore, Inner, ResolvedImage};

/// An image as `image prune` sees it (moby's `ImagesPrune` candidates).
#[derive(Debug, Clone)]
pub struct PruneCandidate {
    /// `sha256:<hex>` of the config.
    pub id: String,
    /// Creation time, Unix seconds.
    pub created: i64,
    /// The config's labels.
    pub labels: HashMap<String, String>,
    /// Every reference, as stored (`docker.io/library/x:tag`, `x@sha256:...`).
    pub references: Vec<String>,
    /// Whether one of the references carries a tag (not only a digest).
    pub tagged: bool,
    /// Whether another image names this one as its parent.
    pub has_children: bool,
}

/// Keeps image prune away from one image while it lives: taken under the
/// store's lock when a container's image is resolved, dropped once the
/// container is in the container table (which prune consults as well).
#[derive(Debug)]
pub struct ImagePin {
    inner: Arc<Inner>,
    id: String,
}

impl Drop for ImagePin {
    fn drop(&mut self) {
        let mut pins = self.inner.pins.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = pins.get_mut(&self.id) {
            *n -= 1;
            if *n == 0 {
                pins.remove(&self.id);
            }
        }
    }
}

impl ImageStore {
    /// [`ImageStore::resolve`], pinning the image: a removal that consults
    /// [`ImageStore::is_pinned`] in its `users` check cannot take it until the
    /// pin is dropped. Both happen under the store's lock, so a prune either
    /// removed the image before (the resolve fails) or sees the pin.
    pub fn resolve_pinned(&self, name: &str) -> Result<(ResolvedImage, ImagePin), ImageError> {
        let state = self.lock();
        let id = Self::lookup(&state, name)?;
        let rec = Self::record(&state, &id)?;
        let cfg = Self::config_of(&state, &id);
        let resolved = ResolvedImage {
            id: id.clone(),
            config: cfg.container_config(),
            layers: rec
                .layers
                .iter()
                .map(|l| self.inner.snapshots.diff(&l.chain_id))
                .collect(),
        };
        *self
            .inner
            .pins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(id.clone())
            .or_default() += 1;
        drop(state);
        let pin = ImagePin {
            inner: self.inner.clone(),
            id,
        };
        Ok((resolved, pin))
    }

    /// Whether a container is being created from image `id` right now.
    pub fn is_pinned(&self, id: &str) -> bool {
        self.inner
            .pins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(id)
    }

    /// Every image with what `image prune` filters on.
    pub fn prune_candidates(&self) -> Vec<PruneCandidate> {
        let state = self.lock();
        let parents: HashSet<&str> = state
            .index
            .images
            .values()
            .filter_map(|r| r.parent.as_deref())
            .collect();
        state
            .index
            .images
            .keys()
            .map(|id| {
                let cfg = Self::config_of(&state, id);
                let references = state.index.refs_of(id);
                let tagged = references
                    .iter()
                    .filter_map(|r| Reference::parse(r).ok())
                    .any(|r| r.tag.is_some());
                PruneCandidate {
                    id: id.clone(),
                    created: cfg.created_unix(),
                    labels: cfg.labels(),
                    references,
                    tagged,
                    has_children: parents.contains(id.as_str()),
                }
            })
            .collect()
    }

    /// The files and directories holding image `id`'s data: its layers'
    /// snapshot directories and blobs, its config and manifest blobs.
    /// Layers shared with other images appear in their lists too.
    pub fn image_parts(&self, id: &str) -> Result<Vec<PathBuf>, ImageError> {
        let state = self.lock();
        let rec = Self::record(&state, id)?;
        let mut out: Vec<PathBuf> = rec
            .layers
            .iter()
            .map(|l| self.inner.snapshots.path(&l.chain_id))
            .collect();
        out.extend(
            rec.layers
                .iter()
                .filter_map(LayerRecord::blob)
                .chain(std::iter::once(id))
                .chain(rec.manifest_digest.as_deref())
                .map(|d| self.inner.blobs.path(d))
                .filter(|p| p.exists()),
        );
        Ok(out)
    }

    /// The directories the store keeps its data in (`image`, `snapshots`).
    pub fn data_dirs(&self) -> Vec<PathBuf> {
        let image_root = self
            .inner
            .index_path
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default();
        vec![image_root, self.inner.snapshots.dir().to_path_buf()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::fixture::busybox_docker_archive;
    use crate::image::store::ImageUser;

    fn store_with_busybox(reference: &str) -> (tempfile::TempDir, ImageStore) {
        let dir = tempfile::Builder::new()
            .prefix("berth-prune-store-")
            .tempdir()
            .unwrap();
        let store = ImageStore::open(&dir.path().join("root")).unwrap();
        let archive = dir.path().join("busybox.tar");
        busybox_docker_archive(&archive, reference).unwrap();
        store
            .load(&mut std::fs::File::open(&archive).unwrap())
            .unwrap();
        (dir, store)
    }

    #[test]
    fn a_pinned_image_is_refused_until_every_pin_drops() {
        let (_dir, store) = store_with_busybox("busybox:berthpin");
        let users = |id: &str| {
            store.is_pinned(id).then(|| ImageUser {
                container_id: String::new(),
                running: true,
            })
        };
        let (resolved, pin) = store.resolve_pinned("busybox:berthpin").unwrap();
        let (_, pin2) = store.resolve_pinned(&resolved.id).unwrap();
        assert!(store.remove("busybox:berthpin", false, &users).is_err());
        assert!(store.remove(&resolved.id, false, &users).is_err());
        assert!(resolved.layers[0].join("bin").is_dir());
        drop(pin);
        assert!(
            store.is_pinned(&resolved.id),
            "a second create still holds it"
        );
        drop(pin2);
        assert!(!store.is_pinned(&resolved.id));
        store.remove("busybox:berthpin", false, &users).unwrap();
        assert!(!store.exists(&resolved.id));
        assert!(!resolved.layers[0].exists());
    }

    #[test]
    fn candidates_and_parts_describe_what_is_on_disk() {
        let (_dir, store) = store_with_busybox("busybox:berthparts");
        let cands = store.prune_candidates();
        assert_eq!(cands.len(), 1);
        let c = &cands[0];
        assert!(c.tagged && !c.has_children, "{c:?}");
        assert_eq!(c.references, ["docker.io/library/busybox:berthparts"]);
        let parts = store.image_parts(&c.id).unwrap();
        assert!(parts.iter().all(|p| p.exists()), "{parts:?}");
        assert!(
            parts
                .iter()
                .any(|p| p.starts_with(store.inner.snapshots.dir())),
            "{parts:?}"
        );
        let dirs = store.data_dirs();
        assert!(parts.iter().all(|p| dirs.iter().any(|d| p.starts_with(d))));
    }
}
