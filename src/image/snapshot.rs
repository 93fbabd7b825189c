//! Snapshots: one overlay-ready directory per chain ID, `snapshots/<chain-hex>/{diff/,meta.json}`
//! plus, for layers that came as plain tars, `tar-split.gz` or `layer.tar`,
//! built under `snapshots/tmp-*` and renamed into place; layer unpacking runs on its own
//! threads fed through bounded channels so several layers unpack while the archive streams.

use std::fs;
use std::io::{self, Read};
use std::path::{Path, PathBuf};
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::JoinHandle;

use serde::{Deserialize, Serialize};

use crate::image::ImageError;
use crate::image::apply::{LayerStats, apply_layer_keeping};
use crate::image::digest::hex_part;

const TEMP_PREFIX: &str = "tmp-";
const DELETE_PREFIX: &str = "del-";
/// Chunks in flight per unpacking layer (each up to [`crate::image::digest::BUF_SIZE`]).
const CHANNEL_DEPTH: usize = 8;

/// `snapshots/<chain>/meta.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SnapshotMeta {
    /// Format version (1).
    pub version: u32,
    /// The chain ID naming the snapshot.
    pub chain_id: String,
    /// The layer's diff ID.
    pub diff_id: String,
    /// The parent chain ID, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
    /// Bytes of regular files in the layer.
    pub unpacked_size: u64,
}

/// The snapshot directory tree.
#[derive(Debug, Clone)]
pub struct Snapshots {
    dir: PathBuf,
}

impl Snapshots {
    /// `<data-root>/snapshots`, created if needed.
    pub fn open(dir: PathBuf) -> Result<Snapshots, ImageError> {
        crate::fsutil::create_private_dir(&dir).map_err(ImageError::io(&dir))?;
        Ok(Snapshots { dir })
    }

    /// The snapshot root directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// `snapshots/<chain-hex>`.
    pub fn path(&self, chain_id: &str) -> PathBuf {
        self.dir.join(hex_part(chain_id))
    }

    /// `snapshots/<chain-hex>/diff`, the overlay lowerdir.
    pub fn diff(&self, chain_id: &str) -> PathBuf {
        self.path(chain_id).join("diff")
    }

    /// Whether the chain's snapshot is in place.
    pub fn exists(&self, chain_id: &str) -> bool {
        self.path(chain_id).join("meta.json").is_file()
    }

    /// Removes temp and half-deleted snapshots left by interrupted work.
    pub fn sweep(&self) -> Result<(), ImageError> {
        for e in fs::read_dir(&self.dir).map_err(ImageError::io(&self.dir))? {
            let e = e.map_err(ImageError::io(&self.dir))?;
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name.starts_with(TEMP_PREFIX) || name.starts_with(DELETE_PREFIX) {
                fs::remove_dir_all(e.path()).map_err(ImageError::io(e.path()))?;
            }
        }
        Ok(())
    }

    /// A fresh temp snapshot with an empty `diff/`.
    pub fn temp(&self) -> Result<TempSnapshot, ImageError> {
        let dir = self
            .dir
            .join(format!("{TEMP_PREFIX}{}", crate::fsutil::random_id()));
        fs::create_dir(&dir).map_err(ImageError::io(&dir))?;
        let t = TempSnapshot { dir, stats: None };
        // 0755 like Docker's diff dirs: the container's root inherits traversal from it.
        fs::create_dir(t.diff()).map_err(ImageError::io(t.diff()))?;
        Ok(t)
    }

    /// Puts `temp` in place as `chain_id`; if the chain already exists the temp is discarded,
    /// after giving the existing snapshot the temp's kept tar if it has none.
    /// Callers serialise this with removals (the store holds its index lock).
    pub fn commit(
        &self,
        mut temp: TempSnapshot,
        chain_id: &str,
        parent: Option<&str>,
    ) -> Result<(), ImageError> {
        if self.exists(chain_id) {
            return crate::image::tarsplit::adopt(&temp.dir, &self.path(chain_id));
        }
        let stats = temp
            .stats
            .clone()
            .ok_or_else(|| ImageError::InvalidArchive("layer was not unpacked".into()))?;
        let meta = SnapshotMeta {
            version: 1,
            chain_id: chain_id.to_string(),
            diff_id: stats.diff_id,
            parent: parent.map(str::to_string),
            unpacked_size: stats.unpacked_size,
        };
        let meta_path = temp.dir.join("meta.json");
        fs::write(
            &meta_path,
            serde_json::to_vec(&meta).expect("meta serialises"),
        )
        .map_err(ImageError::io(&meta_path))?;
        let dest = self.path(chain_id);
        if dest.exists() {
            // A directory without meta.json is an interrupted commit: replace it.
            fs::remove_dir_all(&dest).map_err(ImageError::io(&dest))?;
        }
        fs::rename(&temp.dir, &dest).map_err(ImageError::io(&dest))?;
        temp.dir = PathBuf::new();
        Ok(())
    }

    /// Moves a snapshot out of the way (cheap, under the lock); the returned path is deleted
    /// later with [`remove_tree`].
    pub fn detach(&self, chain_id: &str) -> Result<Option<PathBuf>, ImageError> {
        let src = self.path(chain_id);
        let dest = self
            .dir
            .join(format!("{DELETE_PREFIX}{}", crate::fsutil::random_id()));
        match fs::rename(&src, &dest) {
            Ok(()) => Ok(Some(dest)),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ImageError::io_at(src, e)),
        }
    }
}

/// Deletes a detached snapshot tree.
pub fn remove_tree(path: &Path) -> Result<(), ImageError> {
    match fs::remove_dir_all(path) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ImageError::io_at(path, e)),
        _ => Ok(()),
    }
}

/// A snapshot being built; deleted on drop unless committed.
#[derive(Debug)]
pub struct TempSnapshot {
    dir: PathBuf,
    /// What unpacking produced, once it has run.
    pub stats: Option<LayerStats>,
}

impl TempSnapshot {
    /// The temp snapshot's directory (holding `diff/` and any kept tar).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The diff directory to unpack into.
    pub fn diff(&self) -> PathBuf {
        self.dir.join("diff")
    }
}

impl Drop for TempSnapshot {
    fn drop(&mut self) {
        if !self.dir.as_os_str().is_empty() {
            // Best effort: the start-up sweep removes what this misses.
            let _ = fs::remove_dir_all(&self.dir);
        }
    }
}

/// Unpacks a layer blob read from `blob` into a new temp snapshot; a plain tar is kept
/// beside it (see [`crate::image::tarsplit`]).
pub fn unpack(snapshots: &Snapshots, blob: impl Read + Send) -> Result<TempSnapshot, ImageError> {
    let mut t = snapshots.temp()?;
    t.stats = Some(apply_layer_keeping(blob, &t.diff(), Some(&t.dir))?);
    Ok(t)
}

/// A layer unpacking on its own thread; feed it chunks, then drop the sender and join.
pub type UnpackHandle = JoinHandle<Result<TempSnapshot, ImageError>>;

/// Starts unpacking a layer whose bytes will arrive through the returned sender.
pub fn spawn_unpack(
    snapshots: &Snapshots,
) -> Result<(SyncSender<Vec<u8>>, UnpackHandle), ImageError> {
    let (tx, rx) = sync_channel::<Vec<u8>>(CHANNEL_DEPTH);
    let snaps = snapshots.clone();
    let handle = std::thread::Builder::new()
        .name("berth-unpack".into())
        .spawn(move || unpack(&snaps, ChannelReader::new(rx)))
        .map_err(ImageError::io(snapshots.dir()))?;
    Ok((tx, handle))
}

/// Joins an unpack thread, turning a panic into an error.
pub fn join(handle: UnpackHandle) -> Result<TempSnapshot, ImageError> {
    handle.join().unwrap_or_else(|_| {
        Err(ImageError::InvalidArchive(
            "layer unpacking thread panicked".into(),
        ))
    })
}

/// Reads, as one byte stream, the chunks sent on a channel until every sender is gone.
pub struct ChannelReader {
    rx: Receiver<Vec<u8>>,
    cur: Vec<u8>,
    pos: usize,
}

impl ChannelReader {
    /// A reader of the chunks that arrive on `rx`.
    pub fn new(rx: Receiver<Vec<u8>>) -> ChannelReader {
        ChannelReader {
            rx,
            cur: Vec::new(),
            pos: 0,
        }
    }
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.cur.len() {
            match self.rx.recv() {
                Ok(chunk) => {
                    self.cur = chunk;
                    self.pos = 0;
                }
                // All senders gone: end of the layer.
                Err(_) => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len() - self.pos);
        buf[..n].copy_from_slice(&self.cur[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
