//! A real registry for the pull/push tests: Debian's `docker-registry` (the
//! distribution project's registry 2.8) serving on `127.0.0.1:<free port>`
//! from a storage directory of its own, optionally behind htpasswd basic
//! auth, plus [`CutProxy`], a TCP relay that can cut every connection after
//! a number of bytes to interrupt a pull half-way.
//!
//! Everything lives in a `/tmp/berth-registry-*` directory; dropping the
//! [`TestRegistry`] kills the registry and removes that directory, on
//! failure too.

use std::fs;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use super::{berth_tempdir, require_root, run_ok};

/// Where Debian's package installs the registry.
pub const REGISTRY_BIN: &str = "/usr/bin/docker-registry";
/// How long the registry may take to answer `/v2/`.
const READY_BOUND: Duration = Duration::from_secs(30);

/// A port nobody listens on right now (the kernel's pick for an ephemeral
/// bind, released at once). Also what the "connection refused" tests aim at.
pub fn free_port() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind an ephemeral port on 127.0.0.1");
    l.local_addr().expect("local address").port()
}

/// A running `docker-registry serve` with its own config, storage and log.
pub struct TestRegistry {
    dir: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl TestRegistry {
    /// A registry without authentication.
    pub fn start() -> TestRegistry {
        TestRegistry::spawn(None)
    }

    /// A registry that requires `user`/`password` (htpasswd, bcrypt) for
    /// every request.
    pub fn start_with_htpasswd(user: &str, password: &str) -> TestRegistry {
        TestRegistry::spawn(Some((user, password)))
    }

    fn spawn(credentials: Option<(&str, &str)>) -> TestRegistry {
        require_root();
        assert!(
            Path::new(REGISTRY_BIN).is_file(),
            "{REGISTRY_BIN} is missing: apt-get install docker-registry apache2-utils (scripts/deps.sh does)"
        );
        let dir = berth_tempdir("registry");
        let port = free_port();
        let mut reg = TestRegistry {
            dir,
            port,
            child: None,
        };
        let storage = reg.storage();
        fs::create_dir(&storage).expect("create the registry storage dir");
        let auth = match credentials {
            None => String::new(),
            Some((user, password)) => {
                let line = run_ok(Command::new("htpasswd").args(["-Bbn", user, password]));
                let file = reg.dir.join("htpasswd");
                fs::write(&file, line.trim_end().as_bytes()).expect("write the htpasswd file");
                format!(
                    "auth:\n  htpasswd:\n    realm: berth-test\n    path: {}\n",
                    file.display()
                )
            }
        };
        // No blob-descriptor cache: a test that corrupts a blob on disk must
        // see the registry serve exactly what is there.
        let config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n  maintenance:\n    uploadpurging:\n      enabled: false\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: berth-test-{port}\n{auth}",
            storage.display()
        );
        let config_file = reg.dir.join("config.yml");
        fs::write(&config_file, config).expect("write the registry config");
        let log = fs::File::create(reg.log_path()).expect("create the registry log");
        let child = Command::new(REGISTRY_BIN)
            .arg("serve")
            .arg(&config_file)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {REGISTRY_BIN}: {e}"));
        reg.child = Some(child);
        reg.wait_ready();
        reg
    }

    /// Waits until `GET /v2/` gets any HTTP answer (401 with auth).
    fn wait_ready(&mut self) {
        let deadline = Instant::now() + READY_BOUND;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("poll the registry"))
            {
                panic!(
                    "the registry exited early ({status}); log:\n{}",
                    self.log_text()
                );
            }
            if let Some(status) = http_status(self.port, "/v2/") {
                assert!(status == 200 || status == 401, "GET /v2/ answered {status}");
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the registry did not answer /v2/ within {READY_BOUND:?}; log:\n{}",
                self.log_text()
            );
            thread::sleep(Duration::from_millis(50));
        }
    }

    /// `127.0.0.1:<port>`, the registry part of image references.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The storage root (`storage.filesystem.rootdirectory`).
    pub fn storage(&self) -> PathBuf {
        self.dir.join("storage")
    }

    /// The file holding blob `digest` (`sha256:<hex>`) in the storage.
    pub fn blob_data_path(&self, digest: &str) -> PathBuf {
        let hex = digest
            .strip_prefix("sha256:")
            .unwrap_or_else(|| panic!("not a sha256 digest: {digest}"));
        self.storage()
            .join("docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// The digests of all blobs stored, with their sizes.
    pub fn blobs(&self) -> Vec<(String, u64)> {
        let root = self.storage().join("docker/registry/v2/blobs/sha256");
        let mut out = Vec::new();
        for prefix in fs::read_dir(&root).into_iter().flatten().flatten() {
            for blob in fs::read_dir(prefix.path()).into_iter().flatten().flatten() {
                let data = blob.path().join("data");
                if let Ok(meta) = fs::metadata(&data) {
                    out.push((
                        format!("sha256:{}", blob.file_name().to_string_lossy()),
                        meta.len(),
                    ));
                }
            }
        }
        out
    }

    /// The image manifest of `repo:reference` as the registry serves it
    /// (registry without auth; Docker schema 2 or OCI).
    pub fn manifest(&self, repo: &str, reference: &str) -> serde_json::Value {
        let mut s = TcpStream::connect(("127.0.0.1", self.port)).expect("connect to the registry");
        write!(
            s,
            "GET /v2/{repo}/manifests/{reference} HTTP/1.1\r\nHost: {}\r\nAccept: application/vnd.docker.distribution.manifest.v2+json, application/vnd.oci.image.manifest.v1+json\r\nConnection: close\r\n\r\n",
            self.addr()
        )
        .expect("send the manifest request");
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).expect("read the manifest answer");
        let text = String::from_utf8_lossy(&raw);
        let (head, body) = text
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no HTTP answer: {text}"));
        assert!(
            head.starts_with("HTTP/1.1 200"),
            "GET manifest {repo}:{reference}: {head}\n{body}"
        );
        serde_json::from_str(body).unwrap_or_else(|e| panic!("manifest is no JSON ({e}): {body}"))
    }

    fn log_path(&self) -> PathBuf {
        self.dir.join("registry.log")
    }

    /// The registry's log so far.
    pub fn log_text(&self) -> String {
        fs::read(self.log_path())
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for TestRegistry {
    fn drop(&mut self) {
        let panicking = thread::panicking();
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if panicking {
            eprintln!(
                "---- registry log ----\n{}---- end of registry log ----",
                self.log_text()
            );
        }
        if let Err(e) = fs::remove_dir_all(&self.dir) {
            let msg = format!("remove {}: {e}", self.dir.display());
            if panicking {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// The status code of `GET path` on 127.0.0.1:`port`, or `None` when
/// nothing answers.
fn http_status(port: u16, path: &str) -> Option<u16> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// A TCP relay on 127.0.0.1 in front of a registry. While a limit is set,
/// every connection is cut (both ways) once that many bytes have gone from
/// the registry to the client, which interrupts a blob download half-way
/// while small answers (manifests, configs) still get through.
pub struct CutProxy {
    port: u16,
    limit: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
    acceptor: Option<thread::JoinHandle<()>>,
}

impl CutProxy {
    /// Relays to 127.0.0.1:`upstream`, cutting connections after `limit`
    /// bytes (`usize::MAX`: never).
    pub fn start(upstream: u16, limit: usize) -> CutProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let limit = Arc::new(AtomicUsize::new(limit));
        let stop = Arc::new(AtomicBool::new(false));
        let (l, s) = (limit.clone(), stop.clone());
        let acceptor = thread::spawn(move || {
            for conn in listener.incoming() {
                if s.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = conn else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream)) else {
                    continue;
                };
                relay(client, server, l.load(Ordering::SeqCst));
            }
        });
        CutProxy {
            port,
            limit,
            stop,
            acceptor: Some(acceptor),
        }
    }

    /// `127.0.0.1:<port>` of the proxy.
    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Changes the cut-off for connections accepted from now on.
    pub fn set_limit(&self, limit: usize) {
        self.limit.store(limit, Ordering::SeqCst);
    }
}

impl Drop for CutProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the acceptor so it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(t) = self.acceptor.take() {
            let _ = t.join();
        }
    }
}

/// Copies both ways between `client` and `server` on two threads; the
/// server-to-client direction stops after `limit` bytes and shuts both down.
fn relay(client: TcpStream, server: TcpStream, limit: usize) {
    let (Ok(mut c_read), Ok(mut s_write)) = (client.try_clone(), server.try_clone()) else {
        return;
    };
    thread::spawn(move || {
        let _ = std::io::copy(&mut c_read, &mut s_write);
        let _ = s_write.shutdown(Shutdown::Write);
    });
    thread::spawn(move || {
        let (mut server, mut client) = (server, client);
        let mut buf = vec![0u8; 16 * 1024];
        let mut sent = 0usize;
        loop {
            let room = limit.saturating_sub(sent).min(buf.len());
            if room == 0 {
                break;
            }
            match server.read(&mut buf[..room]) {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if client.write_all(&buf[..n]).is_err() {
                        break;
                    }
                    sent += n;
                }
            }
        }
        let _ = client.shutdown(Shutdown::Both);
        let _ = server.shutdown(Shutdown::Both);
    });
}

/// The `<tag>: digest: sha256:… size: N` line of a push (`docker push`, `berth push`);
/// returns the digest.
pub fn pushed_digest(out: &str, tag: &str) -> String {
    let line = out
        .lines()
        .find(|l| l.starts_with(&format!("{tag}: digest: sha256:")))
        .unwrap_or_else(|| panic!("no digest line for {tag} in:\n{out}"));
    line.split_whitespace().nth(2).expect("digest").to_string()
}
