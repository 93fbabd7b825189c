//! Registry credentials in Docker's `config.json` format
//! (`{"auths": {"127.0.0.1:5000": {"auth": "base64(user:password)"}}}`).
//!
//! `berth login` writes `$BERTH_CONFIG/config.json`, else
//! `~/.config/berth/config.json` (mode 0600, atomically, other keys kept);
//! lookups read that file first, then Docker's own (`$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`), so a `docker login` is honoured too.
//! Secrets are never printed or logged: [`Credentials`]'s `Debug` hides them.

use std::io;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use serde_json::{Map, Value, json};

use berth::api::ErrorClass;

/// The key Docker files Docker Hub's credentials under.
pub const INDEX_SERVER: &str = "https://index.docker.io/v1/";

/// Reading or writing a credentials file failed.
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    /// The file exists but cannot be read.
    #[error("read {path}: {source}")]
    Read {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// The file is not Docker's JSON config shape.
    #[error("{path}: not a docker config file: {source}")]
    Parse {
        /// The config file.
        path: PathBuf,
        /// The JSON error (it never quotes the file's content).
        #[source]
        source: serde_json::Error,
    },
    /// An `auth` entry is not base64 of `user:password`.
    #[error("{path}: invalid auth entry for {server}")]
    BadAuth {
        /// The config file.
        path: PathBuf,
        /// The registry the entry is for.
        server: String,
    },
    /// The file or its directory cannot be written.
    #[error("write {path}: {source}")]
    Write {
        /// The config file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: io::Error,
    },
    /// Neither `BERTH_CONFIG` nor `HOME` says where the file is.
    #[error("cannot locate the config file: set BERTH_CONFIG or HOME")]
    NoHome,
}

impl CredentialError {
    /// The error's class.
    pub fn class(&self) -> ErrorClass {
        match self {
            CredentialError::Parse { .. } | CredentialError::BadAuth { .. } => {
                ErrorClass::InvalidArgument
            }
            CredentialError::NoHome => ErrorClass::InvalidArgument,
            CredentialError::Read { .. } | CredentialError::Write { .. } => ErrorClass::Internal,
        }
    }
}

/// One registry's credentials.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// User name.
    pub username: String,
    /// Password; empty when an identity token stands in for it.
    pub password: String,
    /// A refresh token the registry handed out at login.
    pub identity_token: String,
}

// The secret parts never reach a log line, even through `{:?}`.
impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials")
            .field("username", &self.username)
            .field("has_password", &!self.password.is_empty())
            .field("has_identity_token", &!self.identity_token.is_empty())
            .finish()
    }
}

impl Credentials {
    /// The `X-Registry-Auth` header value: base64url of Docker's AuthConfig JSON.
    pub fn registry_auth_header(&self, server: &str) -> String {
        let mut config = Map::new();
        let mut put = |k: &str, v: &str| {
            if !v.is_empty() {
                config.insert(k.to_string(), Value::String(v.to_string()));
            }
        };
        put("username", &self.username);
        put("password", &self.password);
        put("serveraddress", server);
        put("identitytoken", &self.identity_token);
        URL_SAFE.encode(Value::Object(config).to_string())
    }
}

/// The header sent when there are no credentials: Docker's CLI sends `{}`.
pub fn anonymous_auth_header() -> String {
    URL_SAFE.encode(json!({}).to_string())
}

/// Where `berth login` stores credentials.
pub fn berth_config_path() -> Result<PathBuf, CredentialError> {
    if let Some(dir) = std::env::var_os("BERTH_CONFIG").filter(|d| !d.is_empty()) {
        return Ok(PathBuf::from(dir).join("config.json"));
    }
    home()
        .map(|h| h.join(".config/berth/config.json"))
        .ok_or(CredentialError::NoHome)
}

/// Docker's own config file, read as a fallback.
pub fn docker_config_path() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    home().map(|h| h.join(".docker/config.json"))
}

fn home() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// Docker's `ConvertToHostname`: `https://host:port/v2/` is `host:port`.
pub fn convert_to_hostname(server: &str) -> String {
    let s = server
        .strip_prefix("http://")
        .or_else(|| server.strip_prefix("https://"))
        .unwrap_or(server);
    s.split('/').next().unwrap_or(s).to_string()
}

/// The key a `login`/`logout` argument is filed under: Docker Hub's names
/// all map to [`INDEX_SERVER`], every other server to its `host[:port]`.
pub fn normalize_server(server: Option<&str>) -> String {
    match server.map(str::trim) {
        None | Some("") => INDEX_SERVER.to_string(),
        Some(s) => {
            let host = convert_to_hostname(s);
            if is_hub(&host) {
                INDEX_SERVER.to_string()
            } else {
                host
            }
        }
    }
}

/// The key for an image reference's registry (`docker.io` is Hub's).
pub fn server_for_domain(domain: &str) -> String {
    normalize_server(Some(domain))
}

fn is_hub(host: &str) -> bool {
    matches!(
        host,
        "docker.io" | "index.docker.io" | "registry-1.docker.io"
    )
}

/// A parsed config file, every key it had kept for the rewrite.
#[derive(Debug)]
pub struct ConfigFile {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl ConfigFile {
    /// Reads `path`; a missing file is an empty config.
    pub fn load(path: &Path) -> Result<ConfigFile, CredentialError> {
        let doc = match std::fs::read(path) {
            Ok(bytes) if bytes.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(bytes) => {
                serde_json::from_slice(&bytes).map_err(|source| CredentialError::Parse {
                    path: path.to_path_buf(),
                    source,
                })?
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Map::new(),
            Err(source) => {
                return Err(CredentialError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        Ok(ConfigFile {
            path: path.to_path_buf(),
            doc,
        })
    }

    /// The file this config came from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn auths(&self) -> Option<&Map<String, Value>> {
        self.doc.get("auths").and_then(Value::as_object)
    }

    /// The stored key matching `server`: itself, or one that names the same
    /// host with a scheme or path (`http://127.0.0.1:5000`).
    fn key_for(&self, server: &str) -> Option<String> {
        let auths = self.auths()?;
        if auths.contains_key(server) {
            return Some(server.to_string());
        }
        let want = normalize_server(Some(server));
        auths
            .keys()
            .find(|k| normalize_server(Some(k)) == want)
            .cloned()
    }

    /// The credentials stored for `server`, if any.
    pub fn get(&self, server: &str) -> Result<Option<Credentials>, CredentialError> {
        let Some(key) = self.key_for(server) else {
            return Ok(None);
        };
        let entry = &self.auths().expect("key_for found auths")[&key];
        let field = |name: &str| entry.get(name).and_then(Value::as_str).unwrap_or_default();
        let bad = || CredentialError::BadAuth {
            path: self.path.clone(),
            server: key.clone(),
        };
        let mut creds = Credentials {
            username: field("username").to_string(),
            password: field("password").to_string(),
            identity_token: field("identitytoken").to_string(),
        };
        let auth = field("auth");
        if !auth.is_empty() {
            let decoded = STANDARD.decode(auth).map_err(|_| bad())?;
            let text = String::from_utf8(decoded).map_err(|_| bad())?;
            let (user, password) = text.split_once(':').ok_or_else(bad)?;
            creds.username = user.to_string();
            creds.password = password.to_string();
        }
        if creds.username.is_empty() && creds.identity_token.is_empty() {
            return Ok(None);
        }
        Ok(Some(creds))
    }

    /// Stores `creds` for `server` as Docker does (`auth` = base64 of
    /// `user:password`, plus `identitytoken` when there is one).
    pub fn set(&mut self, server: &str, creds: &Credentials) {
        let mut entry = Map::new();
        entry.insert(
            "auth".into(),
            Value::String(STANDARD.encode(format!("{}:{}", creds.username, creds.password))),
        );
        if !creds.identity_token.is_empty() {
            entry.insert(
                "identitytoken".into(),
                Value::String(creds.identity_token.clone()),
            );
        }
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        if let Value::Object(map) = auths {
            map.insert(server.to_string(), Value::Object(entry));
        }
    }

    /// Removes every entry for the host of `server`; whether there was one.
    pub fn remove(&mut self, server: &str) -> bool {
        let mut removed = false;
        while let Some(key) = self.key_for(server) {
            if let Some(Value::Object(map)) = self.doc.get_mut("auths") {
                map.remove(&key);
            }
            removed = true;
        }
        removed
    }

    /// Writes the file atomically with mode 0600, its directory 0700 if new.
    pub fn save(&self) -> Result<(), CredentialError> {
        use std::os::unix::fs::PermissionsExt;
        let err = |source| CredentialError::Write {
            path: self.path.clone(),
            source,
        };
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            berth::fsutil::create_private_dir(dir).map_err(err)?;
        }
        // Serialising a JSON map cannot fail.
        let mut text =
            serde_json::to_vec_pretty(&Value::Object(self.doc.clone())).unwrap_or_default();
        text.push(b'\n');
        // atomic_write's temp file is created 0600, so the secret is never
        // readable by others, not even for a moment; the chmod only repairs
        // a mode changed by hand on an older file being replaced.
        berth::fsutil::atomic_write(&self.path, &text).map_err(err)?;
        std::fs::set_permissions(&self.path, std::fs::Permissions::from_mode(0o600)).map_err(err)
    }
}

/// The credentials for `server` from berth's file, else from Docker's.
pub fn lookup(server: &str) -> Result<Option<Credentials>, CredentialError> {
    let berth = ConfigFile::load(&berth_config_path()?)?;
    if let Some(c) = berth.get(server)? {
        return Ok(Some(c));
    }
    match docker_config_path() {
        Some(p) => ConfigFile::load(&p)?.get(server),
        None => Ok(None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_normalize_like_docker() {
        assert_eq!(normalize_server(None), INDEX_SERVER);
        assert_eq!(normalize_server(Some("docker.io")), INDEX_SERVER);
        assert_eq!(normalize_server(Some(INDEX_SERVER)), INDEX_SERVER);
        assert_eq!(
            normalize_server(Some("http://127.0.0.1:5000/v2/")),
            "127.0.0.1:5000"
        );
        assert_eq!(normalize_server(Some("127.0.0.1:5000")), "127.0.0.1:5000");
        assert_eq!(server_for_domain("docker.io"), INDEX_SERVER);
        assert_eq!(server_for_domain("quay.io"), "quay.io");
    }

    #[test]
    fn round_trip_in_docker_format_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/config.json");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, br#"{"psFormat":"x","auths":{}}"#).unwrap();
        let mut cfg = ConfigFile::load(&path).unwrap();
        let creds = Credentials {
            username: "berth".into(),
            password: "s3cret:with:colons".into(),
            identity_token: String::new(),
        };
        cfg.set("127.0.0.1:5000", &creds);
        cfg.save().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let doc: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(doc["psFormat"], "x", "other keys are kept");
        assert_eq!(
            doc["auths"]["127.0.0.1:5000"]["auth"],
            STANDARD.encode("berth:s3cret:with:colons")
        );
        let again = ConfigFile::load(&path).unwrap();
        assert_eq!(again.get("127.0.0.1:5000").unwrap(), Some(creds.clone()));
        assert_eq!(
            again.get("http://127.0.0.1:5000").unwrap(),
            Some(creds),
            "a scheme names the same host"
        );
        assert_eq!(again.get("127.0.0.1:5001").unwrap(), None);
        let mut again = again;
        assert!(again.remove("127.0.0.1:5000"));
        assert!(!again.remove("127.0.0.1:5000"));
        assert_eq!(again.get("127.0.0.1:5000").unwrap(), None);
    }

    #[test]
    fn missing_file_is_empty_and_bad_entries_do_not_leak() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = ConfigFile::load(&dir.path().join("none.json")).unwrap();
        assert_eq!(cfg.get("x").unwrap(), None);
        let path = dir.path().join("bad.json");
        std::fs::write(&path, br#"{"auths":{"h":{"auth":"!!notbase64-SECRET"}}}"#).unwrap();
        let err = ConfigFile::load(&path).unwrap().get("h").unwrap_err();
        assert!(!err.to_string().contains("SECRET"), "{err}");
    }

    #[test]
    fn header_is_base64url_json_and_debug_hides_secrets() {
        let creds = Credentials {
            username: "u".into(),
            password: "p?>".into(),
            identity_token: String::new(),
        };
        let header = creds.registry_auth_header("127.0.0.1:5000");
        let json: Value = serde_json::from_slice(&URL_SAFE.decode(&header).unwrap()).unwrap();
        assert_eq!(
            json,
            json!({"username": "u", "password": "p?>", "serveraddress": "127.0.0.1:5000"})
        );
        assert!(!format!("{creds:?}").contains("p?>"));
        assert_eq!(anonymous_auth_header(), "e30=");
    }
}
