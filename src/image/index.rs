//! `image/index.json`: the image records and the references pointing at them.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::image::ImageError;

/// Current version of `index.json`.
pub const INDEX_VERSION: u32 = 1;

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
        let index: Index =
            serde_json::from_slice(&bytes).map_err(|source| ImageError::InvalidJson {
                what: path.display().to_string(),
                source,
            })?;
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
