//! The image store facade used by the daemon.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use crate::api::models::{HistoryResponseItem, ImageDeleteResponseItem, ImageInspect, ImageSummary};
use crate::image::ImageError;

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

/// The content-addressed image store under `<data-root>/image` and `<data-root>/snapshots`.
#[derive(Debug, Clone)]
pub struct ImageStore {
    root: PathBuf,
}

impl ImageStore {
    /// Opens (creating if needed) the store under `data_root`, sweeping leftovers of interrupted work.
    pub fn open(data_root: &Path) -> Result<ImageStore, ImageError> {
        Ok(ImageStore { root: data_root.to_path_buf() })
    }

    /// Loads a `docker save` tar or an OCI image-layout tar; returns the loaded references
    /// (or `sha256:` IDs for untagged images), in Docker's "Loaded image: ..." order.
    pub fn load(&self, _reader: &mut dyn Read) -> Result<Vec<String>, ImageError> {
        unimplemented!("image load at {}", self.root.display())
    }

    /// Writes the named images (references or IDs) as one `docker save` compatible tar.
    pub fn save(&self, _names: &[String], _writer: &mut dyn Write) -> Result<(), ImageError> {
        unimplemented!()
    }

    /// Turns a rootfs tar into a one-layer image; returns its `sha256:` ID.
    pub fn import(&self, _reader: &mut dyn Read, _opts: &ImportOptions) -> Result<String, ImageError> {
        unimplemented!()
    }

    /// Images as `GET /images/json` lists them; `all` includes intermediate images,
    /// `filters` is Docker's decoded filter map (`dangling`, `reference`).
    pub fn list(
        &self,
        _all: bool,
        _filters: &std::collections::HashMap<String, Vec<String>>,
        _digests: bool,
    ) -> Result<Vec<ImageSummary>, ImageError> {
        unimplemented!()
    }

    /// `GET /images/{name}/json`.
    pub fn inspect(&self, _name: &str) -> Result<ImageInspect, ImageError> {
        unimplemented!()
    }

    /// `GET /images/{name}/history`.
    pub fn history(&self, _name: &str) -> Result<Vec<HistoryResponseItem>, ImageError> {
        unimplemented!()
    }

    /// `POST /images/{name}/tag?repo=&tag=`.
    pub fn tag(&self, _source: &str, _repo: &str, _tag: Option<&str>) -> Result<(), ImageError> {
        unimplemented!()
    }

    /// `DELETE /images/{name}`: untags or deletes like Docker. `in_use(image_id)` tells
    /// whether a container uses the image; such images are refused (409) unless `force`.
    pub fn remove(
        &self,
        _name: &str,
        _force: bool,
        _in_use: &dyn Fn(&str) -> bool,
    ) -> Result<Vec<ImageDeleteResponseItem>, ImageError> {
        unimplemented!()
    }

    /// Resolves a reference or (prefix of an) ID for container creation.
    pub fn resolve(&self, _name: &str) -> Result<ResolvedImage, ImageError> {
        unimplemented!()
    }
}
