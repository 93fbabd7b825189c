//! A `berthd` started the way a service manager starts it (under
//! `systemd-socket-activate`, with `NOTIFY_SOCKET`, with hosts of the test's
//! choosing), and a fake `NOTIFY_SOCKET` that records what berthd reports.
//! Everything is torn down on drop, on failure too.

use std::ffi::OsString;
use std::fs;
use std::os::unix::net::UnixDatagram;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use super::{TestNet, berth_tempdir, remove_cgroup_trees, run, stderr, teardown_dir};

/// How long a daemon may take to start, report or exit (a hang guard only).
pub const BOUND: Duration = Duration::from_secs(60);

/// Directories and config of one daemon under `/tmp/berth-<what>-*`, and
/// the daemon once spawned.
pub struct ServiceDaemon {
    /// The test's private directory.
    pub dir: PathBuf,
    /// `<dir>/berth.sock`.
    pub socket: PathBuf,
    /// `--data-root`.
    pub data_root: PathBuf,
    /// `--exec-root`.
    pub exec_root: PathBuf,
    /// The daemon's stdout and stderr.
    pub log: PathBuf,
    net: TestNet,
    cgroup_parent: String,
    child: Option<Child>,
}

impl ServiceDaemon {
    /// Creates the directory and a daemon.json with a cgroup parent of the
    /// test's own; starts nothing.
    pub fn prepare(what: &str) -> ServiceDaemon {
        super::require_root();
        let dir = berth_tempdir(what);
        let cgroup_parent = dir
            .file_name()
            .expect("a test dir has a name")
            .to_string_lossy()
            .into_owned();
        fs::write(
            dir.join("daemon.json"),
            serde_json::json!({ "cgroup-parent": cgroup_parent }).to_string(),
        )
        .expect("write daemon.json");
        ServiceDaemon {
            socket: dir.join("berth.sock"),
            data_root: dir.join("data"),
            exec_root: dir.join("exec"),
            log: dir.join("berthd.log"),
            net: TestNet::pick(),
            cgroup_parent,
            dir,
            child: None,
        }
    }

    /// berthd's arguments other than `-H`: this daemon's directories,
    /// config file, bridge and `--debug`.
    pub fn args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = super::state_args(
            &self.data_root,
            &self.exec_root,
            &self.dir.join("berthd.pid"),
            &self.dir.join("daemon.json"),
        )
        .into();
        args.push("--debug".into());
        args.extend(self.net.args().map(OsString::from));
        args
    }

    /// Spawns `cmd` (berthd, or a launcher that execs it) with its output
    /// in [`ServiceDaemon::log`].
    pub fn spawn(&mut self, mut cmd: Command) {
        assert!(self.child.is_none(), "a daemon is already running");
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("open the daemon log");
        let child = cmd
            .env_remove("DOCKER_HOST")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("LISTEN_FDS")
            .env_remove("LISTEN_PID")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log handle"))
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("spawn {cmd:?}: {e}"));
        self.child = Some(child);
    }

    /// A `berthd` command with `hosts` as its `-H` values and [`Self::args`].
    pub fn berthd(&self, hosts: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berthd"));
        for h in hosts {
            cmd.arg("-H").arg(h);
        }
        cmd.args(self.args());
        cmd
    }

    /// The spawned process' pid.
    pub fn pid(&self) -> Pid {
        Pid::from_raw(self.child.as_ref().expect("a daemon was spawned").id() as i32)
    }

    /// Whether the spawned process has exited (reaping it if so).
    pub fn exited(&mut self) -> Option<ExitStatus> {
        let child = self.child.as_mut().expect("a daemon was spawned");
        child.try_wait().expect("poll the daemon")
    }

    /// Waits (bounded) for the daemon to exit on its own.
    pub fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + BOUND;
        loop {
            if let Some(status) = self.exited() {
                self.child = None;
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "berthd still runs after {BOUND:?}; log:\n{}",
                self.log_text()
            );
            thread::sleep(Duration::from_millis(20));
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit.
    pub fn terminate(&mut self) -> ExitStatus {
        kill(self.pid(), Signal::SIGTERM).expect("SIGTERM berthd");
        self.wait_exit()
    }

    /// The daemon's output so far.
    pub fn log_text(&self) -> String {
        fs::read(&self.log)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_default()
    }
}

impl Drop for ServiceDaemon {
    fn drop(&mut self) {
        let panicking = thread::panicking();
        if panicking {
            eprintln!("---- berthd log ----\n{}---- end ----", self.log_text());
        }
        let mut problems = Vec::new();
        if let Some(mut child) = self.child.take() {
            let _ = kill(Pid::from_raw(child.id() as i32), Signal::SIGTERM);
            let deadline = Instant::now() + BOUND;
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                thread::sleep(Duration::from_millis(20));
            }
            if child.try_wait().ok().flatten().is_none() {
                problems.push("berthd ignored SIGTERM; killed it".to_owned());
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        problems.extend(self.net.teardown_daemon(&self.data_root));
        problems.extend(teardown_dir(&self.dir));
        problems.extend(remove_cgroup_trees(&self.cgroup_parent));
        if !problems.is_empty() {
            let msg = format!("cleanup left problems:\n  {}", problems.join("\n  "));
            if panicking {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// A fake `NOTIFY_SOCKET`: a unix datagram socket the test binds.
pub struct NotifySocket {
    sock: UnixDatagram,
    /// Its path, the value for `NOTIFY_SOCKET`.
    pub path: PathBuf,
}

impl NotifySocket {
    /// Binds `<dir>/notify.sock` (removed with `dir`).
    pub fn bind(dir: &Path) -> NotifySocket {
        let path = dir.join("notify.sock");
        let sock = UnixDatagram::bind(&path).expect("bind the notify socket");
        NotifySocket { sock, path }
    }

    /// The next datagram, waiting at most [`BOUND`]; fails the test on
    /// timeout.
    pub fn recv(&self) -> String {
        self.sock
            .set_read_timeout(Some(BOUND))
            .expect("set a read timeout");
        let mut buf = [0u8; 4096];
        let n = self
            .sock
            .recv(&mut buf)
            .unwrap_or_else(|e| panic!("no sd_notify message within {BOUND:?}: {e}"));
        String::from_utf8_lossy(&buf[..n]).into_owned()
    }

    /// Messages up to and including the first one with the line `line`.
    pub fn until(&self, line: &str) -> Vec<String> {
        let mut seen = Vec::new();
        loop {
            let m = self.recv();
            let done = m.lines().any(|l| l == line);
            seen.push(m);
            if done {
                return seen;
            }
        }
    }
}

/// Certificates made with `openssl` in a temp dir: a CA, the daemon's
/// certificate for 127.0.0.1, a client of that CA, and a client of
/// another CA.
pub struct Pki {
    dir: tempfile::TempDir,
}

impl Pki {
    /// Makes every certificate and key.
    pub fn new() -> Pki {
        let pki = Pki {
            dir: tempfile::Builder::new()
                .prefix("berth-pki-")
                .tempdir()
                .unwrap(),
        };
        pki.ca("ca");
        pki.ca("other-ca");
        pki.leaf(
            "server",
            "ca",
            "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth",
        );
        pki.leaf("client", "ca", "extendedKeyUsage=clientAuth");
        pki.leaf("stranger", "other-ca", "extendedKeyUsage=clientAuth");
        pki
    }

    /// `<name>.pem` or `<name>-key.pem` in the temp dir.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn openssl(&self, args: &[&str]) {
        let out = run(Command::new("openssl")
            .args(args)
            .current_dir(self.dir.path()));
        assert!(out.status.success(), "openssl {args:?}: {}", stderr(&out));
    }

    fn key(&self, name: &str) {
        self.openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            &format!("{name}-key.pem"),
        ]);
    }

    fn ca(&self, name: &str) {
        self.key(name);
        self.openssl(&[
            "req",
            "-x509",
            "-new",
            "-key",
            &format!("{name}-key.pem"),
            "-subj",
            &format!("/CN=berth-test-{name}"),
            "-days",
            "2",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
            "-out",
            &format!("{name}.pem"),
        ]);
    }

    fn leaf(&self, name: &str, ca: &str, ext: &str) {
        self.key(name);
        let ext_file = format!("{name}.ext");
        fs::write(
            self.path(&ext_file),
            format!("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n{ext}\n"),
        )
        .unwrap();
        self.openssl(&[
            "req",
            "-new",
            "-key",
            &format!("{name}-key.pem"),
            "-subj",
            &format!("/CN=berth-test-{name}"),
            "-out",
            &format!("{name}.csr"),
        ]);
        self.openssl(&[
            "x509",
            "-req",
            "-in",
            &format!("{name}.csr"),
            "-CA",
            &format!("{ca}.pem"),
            "-CAkey",
            &format!("{ca}-key.pem"),
            "-set_serial",
            "7",
            "-days",
            "2",
            "-extfile",
            &ext_file,
            "-out",
            &format!("{name}.pem"),
        ]);
    }
}

/// `curl https://127.0.0.1:port/version` with the CA and, if given, a
/// client certificate.
pub fn curl_version(pki: &Pki, port: u16, client: Option<&str>) -> std::process::Output {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "--fail", "--max-time", "60", "--cacert"])
        .arg(pki.path("ca.pem"));
    if let Some(c) = client {
        cmd.arg("--cert")
            .arg(pki.path(&format!("{c}.pem")))
            .arg("--key")
            .arg(pki.path(&format!("{c}-key.pem")));
    }
    cmd.arg(format!("https://127.0.0.1:{port}/v1.41/version"));
    run(&mut cmd)
}

/// A loopback port nothing listens on right now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind a loopback port")
        .local_addr()
        .expect("its address")
        .port()
}
