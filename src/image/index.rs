//! `image/index.json`: the image records and the references pointing at them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::image::ImageError;

/// Current version of `index.json`. Version 2 added [`LayerRecord::stored`]; version 1
/// files load as version 2 with every layer kept as a blob (what version 1 meant).
pub const INDEX_VERSION: u32 = 2;

/// The whole index file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Index {
    /// Format version, [`INDEX_VERSION`].
    pub version: u32,
    /// Image records keyed by image ID (`sha256:` of the config blob).
    #[serde(default)]
    pub images: BTreeMap<String, ImageRecord>,
    /// Fully qualified references (`docker.io/library/busybox:latest`, `...@sha256:...`) to image IDs.
    #[serde(default)]
    pub references: BTreeMap<String, String>,
}

/// One image.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct ImageRecord {
    /// Layers, lowest first.
    pub layers: Vec<LayerRecord>,
    /// Digest of the manifest the image came with (OCI layouts), kept as a blob.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_digest: Option<String>,
    /// Parent image ID (images built locally), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// When a tag was last put on the image (RFC 3339), for `Metadata.LastTagTime`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_tag_time: Option<String>,
}

/// One layer of an image.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct LayerRecord {
    /// Digest of the blob as stored (possibly compressed).
    pub digest: String,
    /// Media type of the blob.
    pub media_type: String,
    /// Length of the blob.
    pub size: u64,
    /// `sha256:` of the uncompressed tar.
    pub diff_id: String,
    /// Length of the uncompressed tar.
    pub diff_size: u64,
    /// Chain ID, naming the snapshot directory.
    pub chain_id: String,
    /// Bytes of regular files in the unpacked layer.
    pub unpacked_size: u64,
    /// Where the layer's bytes are kept for `save`.
    #[serde(default)]
    pub stored: LayerStorage,
}

/// Where a layer's bytes are kept.
#[derive(Debug, Clone, Copy, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
pub enum LayerStorage {
    /// The blob as received, under `image/blobs/sha256/<digest>`.
    #[default]
    Blob,
    /// Beside the snapshot: a tar-split record or the whole tar (uncompressed layers only;
    /// `digest` is then the diff ID and no blob exists).
    Snapshot,
}

impl LayerRecord {
    /// The blob this layer keeps in the blob store, if any.
    pub fn blob(&self) -> Option<&str> {
        (self.stored == LayerStorage::Blob).then_some(self.digest.as_str())
    }
}

impl ImageRecord {
    /// Sum of the layers' unpacked sizes (Docker's `Size`).
    pub fn size(&self) -> i64 {
        self.layers.iter().map(|l| l.unpacked_size as i64).sum()
    }
}

impl Index {
    /// Reads the index, or an empty one if the file does not exist.
    pub fn load(path: &Path) -> Result<Index, ImageError> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Index {
                    version: INDEX_VERSION,
                    ..Index::default()
                });
            }
            Err(e) => return Err(ImageError::io_at(path, e)),
        };
        let mut index: Index =
            serde_json::from_slice(&bytes).map_err(|source| ImageError::InvalidJson {
                what: path.display().to_string(),
                source,
            })?;
        if index.version == 1 {
            // Version 1 had no `stored`: its default (blob) is what version 1 did.
            index.version = INDEX_VERSION;
        }
        if index.version != INDEX_VERSION {
            return Err(ImageError::InvalidArchive(format!(
                "{}: unsupported index version {}",
                path.display(),
                index.version
            )));
        }
        Ok(index)
    }

    /// Writes the index atomically.
    pub fn save(&self, path: &Path) -> Result<(), ImageError> {
        let bytes = serde_json::to_vec_pretty(self).expect("the index serialises");
        crate::fsutil::atomic_write(path, &bytes).map_err(ImageError::io(path))
    }

    /// References (fully qualified) pointing at `id`, sorted.
    pub fn refs_of(&self, id: &str) -> Vec<String> {
        self.references
            .iter()
            .filter(|(_, v)| v.as_str() == id)
            .map(|(k, _)| k.clone())
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_1_index_migrates_with_blob_layers() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("index.json");
        let v1 = r#"{"version":1,"images":{"sha256:aa":{"layers":[{"digest":"sha256:bb",
            "media_type":"application/vnd.docker.image.rootfs.diff.tar","size":3,
            "diff_id":"sha256:bb","diff_size":3,"chain_id":"sha256:bb","unpacked_size":0}]}},
            "references":{}}"#;
        std::fs::write(&p, v1).unwrap();
        let idx = Index::load(&p).unwrap();
        assert_eq!(idx.version, INDEX_VERSION);
        let l = &idx.images["sha256:aa"].layers[0];
        assert_eq!(l.stored, LayerStorage::Blob);
        assert_eq!(l.blob(), Some("sha256:bb"));
        idx.save(&p).unwrap();
        let text = std::fs::read_to_string(&p).unwrap();
        assert!(text.contains("\"version\": 2"), "{text}");
        assert!(text.contains("\"stored\": \"blob\""), "{text}");
        std::fs::write(&p, text.replace("\"version\": 2", "\"version\": 3")).unwrap();
        assert!(Index::load(&p).is_err());
    }
}
