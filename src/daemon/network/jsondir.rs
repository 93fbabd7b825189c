//! A directory of JSON records named `<id>.json`, each written atomically:
//! the on-disk shape of both network records and sandboxes.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;

use berth::fsutil::{atomic_write, create_private_dir};

use super::NetworkError;

/// `<root>/<name>/<id>.json` files.
#[derive(Debug, Clone)]
pub struct JsonDir {
    dir: PathBuf,
}

impl JsonDir {
    /// Opens (creating) `<root>/<name>`.
    pub fn open(root: &Path, name: &str) -> Result<JsonDir, NetworkError> {
        let dir = root.join(name);
        create_private_dir(&dir).map_err(|e| NetworkError::io("creating", &dir, e))?;
        Ok(JsonDir { dir })
    }

    fn path(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Every readable record; unreadable ones are logged (as `what`) and skipped.
    pub fn load<T: DeserializeOwned>(&self, what: &str) -> Result<Vec<T>, NetworkError> {
        let entries =
            std::fs::read_dir(&self.dir).map_err(|e| NetworkError::io("reading", &self.dir, e))?;
        let mut out = Vec::new();
        for entry in entries {
            let path = entry
                .map_err(|e| NetworkError::io("reading", &self.dir, e))?
                .path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            match std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
            {
                Ok(rec) => out.push(rec),
                Err(e) => {
                    tracing::warn!(path = %path.display(), error = %e, "skipping unreadable {what}")
                }
            }
        }
        Ok(out)
    }

    /// Writes the record `id` atomically.
    pub fn save<T: Serialize>(&self, id: &str, rec: &T) -> Result<(), NetworkError> {
        let path = self.path(id);
        let bytes = serde_json::to_vec_pretty(rec)
            .map_err(|e| NetworkError::io("encoding", &path, std::io::Error::other(e)))?;
        atomic_write(&path, &bytes).map_err(|e| NetworkError::io("writing", &path, e))
    }

    /// Deletes the record `id`; a missing file is fine.
    pub fn delete(&self, id: &str) -> Result<(), NetworkError> {
        let path = self.path(id);
        match std::fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(NetworkError::io("removing", &path, e)),
        }
    }
}
