//! `commit`: a container's changes (its overlay upper directory, written as a layer
//! tar by [`crate::image::diff`]) become a new image on top of the container's image,
//! through the store's snapshot and index (see [`crate::image::ImageStore::commit`]),
//! so the image ID is the digest of its config as Docker computes it and `save` can
//! regenerate the layer.

use std::io::{self, Write};
use std::sync::mpsc::SyncSender;

use crate::api::models::{ContainerConfig, ImageConfig};
use crate::image::ImageError;
use crate::image::config::{History, ImageConfigFile, RootFs, apply_changes, go_time, host_arch};
use crate::image::digest::BUF_SIZE;

/// What `commit` records besides the layer.
#[derive(Debug, Clone, Default)]
pub struct CommitOptions {
    /// `repo[:tag]` to tag the result with, if any.
    pub reference: Option<String>,
    /// The run configuration of the new image, before `changes`.
    pub config: ContainerConfig,
    /// Dockerfile-style `--change` lines, as `import` takes them.
    pub changes: Vec<String>,
    /// `-m`: the commit message.
    pub comment: Option<String>,
    /// `-a`: the author.
    pub author: Option<String>,
    /// The container's command, recorded as the history step's `created_by`.
    pub created_by: String,
}

/// The config of an image made of `base` plus one layer `diff_id`.
pub(crate) fn new_config(
    base: &ImageConfigFile,
    diff_id: &str,
    opts: &CommitOptions,
) -> Result<ImageConfigFile, ImageError> {
    // The two models share Docker's JSON names; ImageConfig is the image's view.
    let value = serde_json::to_value(&opts.config).map_err(|source| ImageError::InvalidJson {
        what: "container config".into(),
        source,
    })?;
    let mut run: ImageConfig =
        serde_json::from_value(value).map_err(|source| ImageError::InvalidJson {
            what: "container config".into(),
            source,
        })?;
    apply_changes(&mut run, &opts.changes)?;
    let comment = opts.comment.clone().filter(|c| !c.is_empty());
    let author = opts.author.clone().filter(|a| !a.is_empty());
    Ok(child_config(
        base,
        run,
        &opts.created_by,
        author,
        comment,
        Some(diff_id),
    ))
}

/// The config of an image made from `base` by one step (a commit, a build step): `run` as
/// its container config, a history entry for `created_by` (`empty_layer` when `diff_id` is
/// `None`), `diff_id` appended to the rootfs, platform fields inherited (the host's when the
/// base has none, as for `FROM scratch`), created now.
pub(crate) fn child_config(
    base: &ImageConfigFile,
    run: ImageConfig,
    created_by: &str,
    author: Option<String>,
    comment: Option<String>,
    diff_id: Option<&str>,
) -> ImageConfigFile {
    let now = go_time(chrono::Utc::now());
    let mut history = base.history.clone();
    history.push(History {
        created: Some(now.clone()),
        created_by: Some(created_by.to_owned()),
        author: author.clone(),
        comment: comment.clone(),
        empty_layer: diff_id.is_none().then_some(true),
    });
    let mut diff_ids = base.rootfs.diff_ids.clone();
    diff_ids.extend(diff_id.map(str::to_owned));
    ImageConfigFile {
        architecture: base
            .architecture
            .clone()
            .or_else(|| Some(host_arch().to_owned())),
        comment,
        config: Some(run),
        created: Some(now),
        author,
        docker_version: None,
        history,
        os: base.os.clone().or_else(|| Some("linux".to_owned())),
        os_version: base.os_version.clone(),
        rootfs: RootFs {
            typ: "layers".into(),
            diff_ids,
        },
        variant: base.variant.clone(),
    }
}

/// A writer whose bytes go, in chunks, to a layer-unpacking thread.
pub(crate) struct ChunkWriter {
    tx: SyncSender<Vec<u8>>,
    buf: Vec<u8>,
}

impl ChunkWriter {
    pub(crate) fn new(tx: SyncSender<Vec<u8>>) -> ChunkWriter {
        ChunkWriter {
            tx,
            buf: Vec::with_capacity(BUF_SIZE),
        }
    }
}

impl Write for ChunkWriter {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= BUF_SIZE {
            self.flush()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(BUF_SIZE));
        self.tx
            .send(chunk)
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "layer unpacking stopped"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn new_config_appends_layer_history_and_changes() {
        let base = ImageConfigFile {
            rootfs: RootFs {
                typ: "layers".into(),
                diff_ids: vec!["sha256:aa".into()],
            },
            history: vec![History::default()],
            ..ImageConfigFile::default()
        };
        let opts = CommitOptions {
            config: ContainerConfig {
                cmd: Some(vec!["sh".into()]),
                ..ContainerConfig::default()
            },
            changes: vec!["ENV A=b".into()],
            comment: Some("msg".into()),
            author: Some("me".into()),
            created_by: "sh -c true".into(),
            ..CommitOptions::default()
        };
        let c = new_config(&base, "sha256:bb", &opts).unwrap();
        assert_eq!(c.rootfs.diff_ids, vec!["sha256:aa", "sha256:bb"]);
        assert_eq!(c.history.len(), 2);
        assert_eq!(c.history[1].created_by.as_deref(), Some("sh -c true"));
        let run = c.config.unwrap();
        assert_eq!(run.cmd, Some(vec!["sh".to_string()]));
        assert!(run.env.unwrap().contains(&"A=b".to_string()));
        assert_eq!(c.comment.as_deref(), Some("msg"));
        assert_eq!(c.author.as_deref(), Some("me"));
    }
}
