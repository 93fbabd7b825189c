//! The content-addressed blob store: `image/blobs/sha256/<hex>`, written through
//! `image/ingest/` and renamed into place only once the content hashes to its digest.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use crate::image::ImageError;
use crate::image::digest::{finish, hex_part};
use crate::image::reference::is_sha256_digest;

/// Paths of the blob store.
#[derive(Debug, Clone)]
pub struct BlobStore {
    dir: PathBuf,
    ingest: PathBuf,
}

impl BlobStore {
    /// The store under `image_root` (`<data-root>/image`); directories are created.
    pub fn open(image_root: &Path) -> Result<BlobStore, ImageError> {
        let dir = image_root.join("blobs").join("sha256");
        let ingest = image_root.join("ingest");
        for d in [&dir, &ingest] {
            crate::fsutil::create_private_dir(d).map_err(ImageError::io(d))?;
        }
        Ok(BlobStore { dir, ingest })
    }

    /// Where the blob with `digest` lives (whether or not it exists).
    pub fn path(&self, digest: &str) -> PathBuf {
        self.dir.join(hex_part(digest))
    }

    /// Whether the blob is present.
    pub fn contains(&self, digest: &str) -> bool {
        is_sha256_digest(digest) && self.path(digest).is_file()
    }

    /// The ingest directory, where partial writes live.
    pub fn ingest_dir(&self) -> &Path {
        &self.ingest
    }

    /// Removes everything in the ingest directory (interrupted writes).
    pub fn sweep_ingest(&self) -> Result<(), ImageError> {
        for e in fs::read_dir(&self.ingest).map_err(ImageError::io(&self.ingest))? {
            let p = e.map_err(ImageError::io(&self.ingest))?.path();
            let r = if p.is_dir() && !p.is_symlink() {
                fs::remove_dir_all(&p)
            } else {
                fs::remove_file(&p)
            };
            r.map_err(ImageError::io(&p))?;
        }
        Ok(())
    }

    /// Moves a verified ingest file into place as `digest`. Blobs are immutable, so an
    /// existing blob with the same digest simply wins.
    pub fn commit_file(&self, verified: &Path, digest: &str) -> Result<(), ImageError> {
        let dest = self.path(digest);
        if dest.exists() {
            return match fs::remove_file(verified) {
                Err(e) if e.kind() != io::ErrorKind::NotFound => {
                    Err(ImageError::io_at(verified, e))
                }
                _ => Ok(()),
            };
        }
        fs::rename(verified, &dest).map_err(ImageError::io(&dest))
    }

    /// Writes `bytes` as a blob (verified against `expected` if given); returns its digest.
    pub fn write_bytes(&self, bytes: &[u8], expected: Option<&str>) -> Result<String, ImageError> {
        let mut w = IngestWriter::create(&self.ingest, expected.map(str::to_string), "blob")?;
        w.write_all(bytes).map_err(ImageError::io(w.path()))?;
        let done = w.finish()?;
        self.commit_file(&done.path, &done.digest)?;
        Ok(done.digest)
    }

    /// Deletes the blob; a missing blob is not an error.
    pub fn remove(&self, digest: &str) -> Result<(), ImageError> {
        let p = self.path(digest);
        match fs::remove_file(&p) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(ImageError::io_at(p, e)),
            _ => Ok(()),
        }
    }
}

/// A verified ingest file, ready to be committed into the store.
#[derive(Debug)]
pub struct Ingested {
    /// The temp file holding the content.
    pub path: PathBuf,
    /// `sha256:<hex>` of the content.
    pub digest: String,
    /// Length of the content in bytes.
    pub size: u64,
}

/// A temp file in the ingest directory that hashes everything written to it. Dropping it
/// without [`IngestWriter::finish`] deletes the file, so no partial blob survives an error.
pub struct IngestWriter {
    file: Option<File>,
    path: PathBuf,
    hasher: Sha256,
    size: u64,
    expected: Option<String>,
    what: String,
}

impl IngestWriter {
    /// Creates a fresh temp file in `dir`; `expected` is the digest the content must hash to,
    /// `what` names the blob in error messages.
    pub fn create(
        dir: &Path,
        expected: Option<String>,
        what: &str,
    ) -> Result<IngestWriter, ImageError> {
        let path = dir.join(format!("tmp-{}", crate::fsutil::random_id()));
        let file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(ImageError::io(&path))?;
        Ok(IngestWriter {
            file: Some(file),
            path,
            hasher: Sha256::new(),
            size: 0,
            expected,
            what: what.to_string(),
        })
    }

    /// The temp file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Closes the file and checks the digest; on mismatch the file is deleted.
    pub fn finish(mut self) -> Result<Ingested, ImageError> {
        drop(self.file.take());
        let digest = finish(std::mem::take(&mut self.hasher));
        if let Some(expected) = &self.expected
            && *expected != digest
        {
            return Err(ImageError::DigestMismatch {
                what: self.what.clone(),
                expected: expected.clone(),
                actual: digest,
            });
        }
        let path = std::mem::take(&mut self.path);
        Ok(Ingested {
            path,
            digest,
            size: self.size,
        })
    }
}

impl Write for IngestWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let f = self
            .file
            .as_mut()
            .ok_or_else(|| io::Error::other("ingest file already closed"))?;
        let n = f.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.size += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Drop for IngestWriter {
    fn drop(&mut self) {
        // Not finished (or verification failed): the partial blob must not stay behind.
        if !self.path.as_os_str().is_empty() {
            drop(self.file.take());
            // Best effort: a leftover is also removed by the next start-up sweep.
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::image::digest::sha256_digest;

    #[test]
    fn verified_blob_is_committed() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let d = sha256_digest(b"content");
        assert_eq!(store.write_bytes(b"content", Some(&d)).unwrap(), d);
        assert_eq!(fs::read(store.path(&d)).unwrap(), b"content");
        assert_eq!(fs::read_dir(store.ingest_dir()).unwrap().count(), 0);
        // A second write of the same content is a no-op.
        store.write_bytes(b"content", None).unwrap();
        assert!(store.contains(&d));
    }

    #[test]
    fn digest_mismatch_is_refused_and_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let wrong = sha256_digest(b"other");
        let err = store.write_bytes(b"content", Some(&wrong)).unwrap_err();
        assert!(matches!(err, ImageError::DigestMismatch { .. }), "{err}");
        assert!(err.to_string().contains("digest mismatch"));
        assert_eq!(err.class(), crate::api::ErrorClass::InvalidArgument);
        assert!(!store.contains(&wrong));
        assert!(!store.contains(&sha256_digest(b"content")));
        assert_eq!(fs::read_dir(store.ingest_dir()).unwrap().count(), 0);
        assert_eq!(
            fs::read_dir(dir.path().join("blobs/sha256"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn dropped_writer_deletes_partial_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = BlobStore::open(dir.path()).unwrap();
        let mut w = IngestWriter::create(store.ingest_dir(), None, "x").unwrap();
        w.write_all(b"partial").unwrap();
        drop(w);
        assert_eq!(fs::read_dir(store.ingest_dir()).unwrap().count(), 0);
    }
}
