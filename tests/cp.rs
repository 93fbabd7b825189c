//! `cp` through `berth`, the real `docker` CLI and the archive API against a real
//! `berthd`: both directions on running and stopped containers, Docker's
//! trailing-slash and `/.` rules, `-` tar streams, `-a` ownership, `-L`, and
//! hostile symlinks in the container (to `/etc/shadow`, `../../..`, an absolute
//! host path next to the data root), including a racing dir/symlink swap, which
//! must never read or write the host.

mod common;

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{TestDaemon, code, run, run_ok, run_with_stdin, stderr, stdout};

/// A daemon with busybox loaded and a scratch directory for host files.
struct Fixture {
    d: TestDaemon,
    host: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let d = TestDaemon::start();
        d.load_busybox("busybox:latest");
        let host = d.dir().join("host-files");
        fs::create_dir(&host).unwrap();
        Fixture { d, host }
    }

    fn berth(&self, args: &[&str]) -> std::process::Command {
        let mut c = self.d.berth(args);
        c.current_dir(&self.host);
        c
    }

    /// Runs `script` then `touch /tmp/ready; sleep` in a new container; waits for
    /// `/tmp/ready`.
    fn running(&self, name: &str, extra: &[&str], script: &str) {
        let full = format!("{script}\ntouch /tmp/ready\nexec sleep 1000");
        let mut args = vec!["run", "-d", "--name", name];
        args.extend_from_slice(extra);
        args.extend_from_slice(&["busybox", "sh", "-c", &full]);
        run_ok(&mut self.berth(&args));
        self.wait_for(name, "/tmp/ready");
    }

    fn wait_for(&self, name: &str, path: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let r = self
                .d
                .api_head(&format!("/v1.41/containers/{name}/archive?path={path}"));
            if r.status == 200 {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{path} never appeared in {name}: {}",
                r.status
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The content of a file in a container, through `GET .../archive`.
    fn read(&self, name: &str, path: &str) -> Vec<u8> {
        let r = self
            .d
            .api_get(&format!("/v1.41/containers/{name}/archive?path={path}"));
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        let mut a = tar::Archive::new(&r.body[..]);
        let mut e = a.entries().unwrap().next().expect("one entry").unwrap();
        let mut out = Vec::new();
        std::io::Read::read_to_end(&mut e, &mut out).unwrap();
        out
    }

    /// Entry names, types and uids of `GET .../archive?path=`.
    fn list(&self, name: &str, path: &str) -> Vec<(String, tar::EntryType, u64, Vec<u8>)> {
        let r = self
            .d
            .api_get(&format!("/v1.41/containers/{name}/archive?path={path}"));
        assert_eq!(r.status, 200, "GET {path}: {}", r.text());
        tar_entries(&r.body)
    }

    fn stat(&self, name: &str, path: &str) -> (u16, Option<serde_json::Value>) {
        let r = self
            .d
            .api_head(&format!("/v1.41/containers/{name}/archive?path={path}"));
        let v = r.header("X-Docker-Container-Path-Stat").map(|h| {
            let raw = base64_decode(h);
            serde_json::from_slice(&raw).unwrap()
        });
        (r.status, v)
    }
}

fn tar_entries(bytes: &[u8]) -> Vec<(String, tar::EntryType, u64, Vec<u8>)> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| {
            let mut e = e.unwrap();
            let name = String::from_utf8_lossy(&e.path_bytes()).into_owned();
            let kind = e.header().entry_type();
            let uid = e.header().uid().unwrap();
            let mut data = Vec::new();
            if kind == tar::EntryType::Symlink {
                data = e.link_name_bytes().unwrap().into_owned();
            } else {
                std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            }
            (name, kind, uid, data)
        })
        .collect()
}

fn base64_decode(s: &str) -> Vec<u8> {
    let val = |c: u8| match c {
        b'A'..=b'Z' => c - b'A',
        b'a'..=b'z' => c - b'a' + 26,
        b'0'..=b'9' => c - b'0' + 52,
        b'+' => 62,
        _ => 63,
    } as u32;
    let b: Vec<u8> = s.trim().bytes().filter(|&c| c != b'=').collect();
    let mut out = Vec::new();
    for chunk in b.chunks(4) {
        let mut n = 0;
        for (i, &c) in chunk.iter().enumerate() {
            n |= val(c) << (18 - 6 * i);
        }
        out.extend_from_slice(&n.to_be_bytes()[1..chunk.len()]);
    }
    out
}

fn assert_fails(out: &std::process::Output, needle: &str) {
    assert_ne!(
        code(out),
        0,
        "stdout: {} stderr: {}",
        stdout(out),
        stderr(out)
    );
    assert!(
        stderr(out).contains(needle),
        "expected {needle:?} in stderr: {}",
        stderr(out)
    );
}

fn write(path: &Path, data: &str) {
    if let Some(p) = path.parent() {
        fs::create_dir_all(p).unwrap();
    }
    fs::write(path, data).unwrap();
}

#[test]
fn cp_into_and_out_of_running_and_stopped_containers() {
    let f = Fixture::new();
    write(&f.host.join("src/a"), "file a\n");
    write(&f.host.join("src/sub/b"), "file b\n");
    f.running(
        "berth-cp-run",
        &[],
        "mkdir -p /data/d && echo in-ctr > /data/d/f && ln -s d /data/dl",
    );
    run_ok(&mut f.berth(&["create", "--name", "berth-cp-stopped", "busybox", "true"]));

    for c in ["berth-cp-run", "berth-cp-stopped"] {
        // SRC dir into an existing dir: copied as a subdirectory.
        run_ok(&mut f.berth(&["cp", "src", &format!("{c}:/tmp")]));
        assert_eq!(f.read(c, "/tmp/src/a"), b"file a\n");
        assert_eq!(f.read(c, "/tmp/src/sub/b"), b"file b\n");
        // SRC/. into a new dir: its content, under the new name.
        run_ok(&mut f.berth(&["cp", "src/.", &format!("{c}:/tmp/newdir")]));
        assert_eq!(f.read(c, "/tmp/newdir/sub/b"), b"file b\n");
        // A file to a new name.
        run_ok(&mut f.berth(&["cp", "src/a", &format!("{c}:/tmp/renamed")]));
        assert_eq!(f.read(c, "/tmp/renamed"), b"file a\n");
        // A file to a directory that does not exist, asserted by the slash.
        let out = run(&mut f.berth(&["cp", "src/a", &format!("{c}:/tmp/missing/")]));
        assert_fails(&out, "no such directory");
        // A directory over a file.
        let out = run(&mut f.berth(&["cp", "src", &format!("{c}:/tmp/renamed")]));
        assert_fails(&out, "cannot copy directory");

        // Out again.
        let out_dir = f.host.join(format!("out-{c}"));
        fs::create_dir(&out_dir).unwrap();
        run_ok(&mut f.berth(&["cp", &format!("{c}:/tmp/src"), out_dir.to_str().unwrap()]));
        assert_eq!(fs::read(out_dir.join("src/sub/b")).unwrap(), b"file b\n");
        run_ok(&mut f.berth(&[
            "cp",
            &format!("{c}:/tmp/newdir/."),
            out_dir.join("contents").to_str().unwrap(),
        ]));
        assert_eq!(fs::read(out_dir.join("contents/a")).unwrap(), b"file a\n");
        run_ok(&mut f.berth(&[
            "cp",
            &format!("{c}:/tmp/renamed"),
            out_dir.join("file-out").to_str().unwrap(),
        ]));
        assert_eq!(fs::read(out_dir.join("file-out")).unwrap(), b"file a\n");
        let out = run(&mut f.berth(&["cp", &format!("{c}:/nope"), out_dir.to_str().unwrap()]));
        assert_fails(
            &out,
            &format!("Error response from daemon: Could not find the file /nope in container {c}"),
        );
    }

    // -L follows a symlink in the source; without it the link itself is copied.
    let o = f.host.join("links");
    fs::create_dir(&o).unwrap();
    run_ok(&mut f.berth(&[
        "cp",
        "berth-cp-run:/data/dl",
        o.join("plain").to_str().unwrap(),
    ]));
    assert_eq!(fs::read_link(o.join("plain")).unwrap(), Path::new("d"));
    run_ok(&mut f.berth(&[
        "cp",
        "-L",
        "berth-cp-run:/data/dl",
        o.join("followed").to_str().unwrap(),
    ]));
    assert_eq!(fs::read(o.join("followed/f")).unwrap(), b"in-ctr\n");

    // The stopped container, started, sees what was copied while it was stopped.
    run_ok(&mut f.berth(&["start", "-a", "berth-cp-stopped"]));
    assert_eq!(f.read("berth-cp-stopped", "/tmp/newdir/a"), b"file a\n");

    // The real docker CLI, both ways.
    write(&f.host.join("dk/x"), "docker\n");
    let mut dk = f.d.docker(&["cp", "dk", "berth-cp-run:/tmp/"]);
    dk.current_dir(&f.host);
    run_ok(&mut dk);
    assert_eq!(f.read("berth-cp-run", "/tmp/dk/x"), b"docker\n");
    let mut dk = f.d.docker(&["cp", "berth-cp-run:/data/d", "dk-out"]);
    dk.current_dir(&f.host);
    run_ok(&mut dk);
    assert_eq!(fs::read(f.host.join("dk-out/f")).unwrap(), b"in-ctr\n");
}

#[test]
fn cp_tar_streams_ownership_and_errors() {
    let f = Fixture::new();
    f.running(
        "berth-cp-tar",
        &["--user", "65534:65534"],
        "mkdir -p /tmp/d && echo x > /tmp/d/f",
    );
    // `-` as the destination: the tar stream itself, named by the base name.
    let out = run_ok(&mut f.berth(&["cp", "berth-cp-tar:/tmp/d", "-"]));
    let names: Vec<String> = tar_entries(out.as_bytes())
        .into_iter()
        .map(|e| e.0)
        .collect();
    assert_eq!(names, vec!["d/", "d/f"]);
    // `-` as the source: a tar on stdin extracted into a directory.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(3);
    h.set_mode(0o644);
    h.set_uid(1234);
    h.set_gid(4321);
    b.append_data(&mut h, "streamed", &b"abc"[..]).unwrap();
    let tarball = b.into_inner().unwrap();
    let o = run_with_stdin(
        &mut f.berth(&["cp", "-", "berth-cp-tar:/tmp"]),
        Some(&tarball),
    );
    assert_eq!(code(&o), 0, "{}", stderr(&o));
    let e = f.list("berth-cp-tar", "/tmp/streamed");
    assert_eq!(e[0].3, b"abc");
    assert_eq!(e[0].2, 1234, "the tar's owner is kept without -a");
    let o = run_with_stdin(
        &mut f.berth(&["cp", "-", "berth-cp-tar:/tmp/streamed"]),
        Some(&tarball),
    );
    assert_fails(
        &o,
        "destination \"berth-cp-tar:/tmp/streamed\" must be a directory",
    );

    // -a: owned by the container's user.
    write(&f.host.join("owned"), "o\n");
    std::os::unix::fs::chown(f.host.join("owned"), Some(1234), Some(4321)).unwrap();
    run_ok(&mut f.berth(&["cp", "-a", "owned", "berth-cp-tar:/tmp/owned-a"]));
    let e = f.list("berth-cp-tar", "/tmp/owned-a");
    assert_eq!(e[0].2, 65534);
    run_ok(&mut f.berth(&["cp", "owned", "berth-cp-tar:/tmp/owned-plain"]));
    assert_eq!(f.list("berth-cp-tar", "/tmp/owned-plain")[0].2, 1234);

    // Docker's refusals.
    let o = run(&mut f.berth(&["cp", "owned", "other"]));
    assert_fails(&o, "must specify at least one container source");
    let o = run(&mut f.berth(&["cp", "a:/x", "b:/y"]));
    assert_fails(&o, "copying between containers is not supported");
    let r = f.d.api(
        "PUT",
        "/v1.41/containers/berth-cp-tar/archive?path=/tmp/streamed",
        &[],
        &tarball,
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.error_message(), "extraction point is not a directory");
    let r = f.d.api(
        "PUT",
        "/v1.41/containers/berth-cp-tar/archive?path=/nope",
        &[],
        &tarball,
    );
    assert_eq!(r.status, 404);
    assert_eq!(
        r.error_message(),
        "Could not find the file /nope in container berth-cp-tar"
    );

    // A read-only root refuses, as dockerd does.
    run_ok(&mut f.berth(&[
        "run",
        "-d",
        "--read-only",
        "--name",
        "berth-cp-ro",
        "busybox",
        "sleep",
        "1000",
    ]));
    let r = f.d.api(
        "PUT",
        "/v1.41/containers/berth-cp-ro/archive?path=/tmp",
        &[],
        &tarball,
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_message(), "container rootfs is marked read-only");

    // HEAD: Go's FileMode bits and the link target evaluated in the container.
    let (status, st) = f.stat("berth-cp-tar", "/tmp/d");
    assert_eq!(status, 200);
    let st = st.unwrap();
    assert_eq!(st["name"], "d");
    assert_eq!(st["mode"], (1u64 << 31) | 0o755);
    let (status, _) = f.stat("berth-cp-tar", "/nope");
    assert_eq!(status, 404);
}

/// A host canary beside the daemon's data root, and its directory's listing.
struct Canary {
    dir: PathBuf,
    file: PathBuf,
}

impl Canary {
    fn new(d: &TestDaemon) -> Canary {
        let dir = d.dir().join("berth-canary");
        fs::create_dir(&dir).unwrap();
        let file = dir.join("canary");
        fs::write(&file, "host-canary\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o644)).unwrap();
        Canary { dir, file }
    }

    fn assert_untouched(&self) {
        assert_eq!(fs::read(&self.file).unwrap(), b"host-canary\n");
        let names: Vec<_> = fs::read_dir(&self.dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("canary")], "{names:?}");
        assert_eq!(fs::metadata(&self.file).unwrap().uid(), 0);
    }
}

#[test]
fn hostile_symlinks_never_reach_the_host() {
    let f = Fixture::new();
    let canary = Canary::new(&f.d);
    let host_shadow = fs::read("/etc/shadow").unwrap_or_default();
    let escape = format!("berth-cp-escape-{}", std::process::id());
    let script = format!(
        "echo container-shadow > /etc/shadow && mkdir -p /data && \
         ln -s /etc/shadow /data/shadow && ln -s ../../../../../.. /data/up && \
         ln -s {cdir} /data/hostdir && ln -s {cfile} /data/hostfile",
        cdir = canary.dir.display(),
        cfile = canary.file.display()
    );
    f.running("berth-cp-evil", &[], &script);

    // GET: a symlink is archived as itself; following it stays in the container.
    let e = f.list("berth-cp-evil", "/data/shadow");
    assert_eq!(e[0].1, tar::EntryType::Symlink);
    assert_eq!(e[0].3, b"/etc/shadow");
    let out = f.host.join("evil-out");
    fs::create_dir(&out).unwrap();
    run_ok(&mut f.berth(&[
        "cp",
        "-L",
        "berth-cp-evil:/data/shadow",
        out.join("s").to_str().unwrap(),
    ]));
    assert_eq!(fs::read(out.join("s")).unwrap(), b"container-shadow\n");
    assert_eq!(
        f.read("berth-cp-evil", "/data/up/etc/shadow"),
        b"container-shadow\n"
    );
    assert_eq!(
        f.stat("berth-cp-evil", "/data/up").1.unwrap()["linkTarget"],
        "/"
    );
    for p in [
        "/data/hostfile/",
        "/data/hostdir/canary",
        "/data/up/../../etc/shadow/",
    ] {
        let r =
            f.d.api_get(&format!("/v1.41/containers/berth-cp-evil/archive?path={p}"));
        assert!(
            !String::from_utf8_lossy(&r.body).contains("host-canary"),
            "{p} read the host canary"
        );
        if !host_shadow.is_empty() {
            assert!(
                !r.body
                    .windows(host_shadow.len())
                    .any(|w| w == host_shadow.as_slice()),
                "{p} read the host's /etc/shadow"
            );
        }
    }
    let o = run(&mut f.berth(&[
        "cp",
        "-L",
        "berth-cp-evil:/data/hostfile",
        out.join("c").to_str().unwrap(),
    ]));
    assert_ne!(code(&o), 0, "the host canary is not in the container");

    // PUT through the same links lands in the container.
    write(&f.host.join(&escape), "escaped?\n");
    run_ok(&mut f.berth(&["cp", &escape, "berth-cp-evil:/data/up/"]));
    assert!(
        !Path::new("/").join(&escape).exists(),
        "wrote into the host's /"
    );
    assert_eq!(
        f.read("berth-cp-evil", &format!("/{escape}")),
        b"escaped?\n"
    );
    run_ok(&mut f.berth(&["cp", &escape, "berth-cp-evil:/data/shadow"]));
    assert_eq!(f.read("berth-cp-evil", "/etc/shadow"), b"escaped?\n");
    let o = run(&mut f.berth(&["cp", &escape, "berth-cp-evil:/data/hostdir/"]));
    assert_ne!(
        code(&o),
        0,
        "the canary dir does not exist in the container"
    );
    // The link's target does not exist in the container, nor its directory.
    let o = run(&mut f.berth(&["cp", &escape, "berth-cp-evil:/data/hostfile"]));
    assert_ne!(code(&o), 0);
    // A tar whose own symlink points out, then a file through it.
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    h.set_mode(0o777);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_link(&mut h, "out", canary.dir.to_str().unwrap())
        .unwrap();
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, "out/canary", &b"pwn\n"[..]).unwrap();
    // The tar crate refuses to write `..`: the name goes into the header by hand.
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    let name = b"../../../../escape-dotdot";
    h.as_old_mut().name[..name.len()].copy_from_slice(name);
    h.set_cksum();
    b.append(&h, &b"pwn\n"[..]).unwrap();
    let r = f.d.api(
        "PUT",
        "/v1.41/containers/berth-cp-evil/archive?path=/data",
        &[],
        &b.into_inner().unwrap(),
    );
    assert_ne!(
        r.status, 200,
        "a name climbing out of the destination is refused"
    );
    canary.assert_untouched();
    assert!(!Path::new("/escape-dotdot").exists());

    // The same on the stopped container (its overlay mounted by the daemon).
    run_ok(&mut f.berth(&["stop", "-t", "0", "berth-cp-evil"]));
    assert_eq!(
        f.read("berth-cp-evil", "/data/up/etc/shadow"),
        b"escaped?\n"
    );
    run_ok(&mut f.berth(&["cp", &escape, "berth-cp-evil:/data/up/tmp/"]));
    assert!(!Path::new("/tmp").join(&escape).exists());
    // The tar's own `out` link made that directory inside the container: the copy
    // lands there, not in the host directory of the same name.
    run_ok(&mut f.berth(&["cp", &escape, "berth-cp-evil:/data/hostdir/"]));
    assert_eq!(
        f.read(
            "berth-cp-evil",
            &format!("{}/{escape}", canary.dir.display())
        ),
        b"escaped?\n"
    );
    canary.assert_untouched();
}

#[test]
fn racing_symlink_swap_never_escapes() {
    let f = Fixture::new();
    let canary = Canary::new(&f.d);
    // /race/x flips between a directory and a symlink to the host canary's
    // directory (a path that means nothing inside the container).
    let script = format!(
        "mkdir -p /race && (while :; do rm -rf /race/x; mkdir /race/x; echo in > /race/x/canary; \
         rm -rf /race/x; ln -s {dir} /race/x; done) &",
        dir = canary.dir.display()
    );
    f.running("berth-cp-race", &[], &script);
    write(&f.host.join("payload/canary"), "pwn\n");
    for _ in 0..40 {
        let r =
            f.d.api_get("/v1.41/containers/berth-cp-race/archive?path=/race/x/canary");
        assert!(
            !String::from_utf8_lossy(&r.body).contains("host-canary"),
            "GET read the host canary through the swap"
        );
        // Each copy may land in the container or fail as the swap goes; never on the host.
        run(&mut f.berth(&["cp", "payload/.", "berth-cp-race:/race/x/"]));
        run(&mut f.berth(&["cp", "payload/canary", "berth-cp-race:/race/x"]));
        let r = f.d.api(
            "PUT",
            "/v1.41/containers/berth-cp-race/archive?path=/race/x",
            &[],
            &payload_tar(),
        );
        assert!(
            matches!(r.status, 200 | 400 | 404),
            "{} {}",
            r.status,
            r.text()
        );
        canary.assert_untouched();
    }
}

/// A tar holding `canary` (the name of the host canary file).
fn payload_tar() -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(4);
    h.set_mode(0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(0);
    b.append_data(&mut h, "canary", &b"pwn\n"[..]).unwrap();
    b.into_inner().unwrap()
}

#[test]
fn cp_goes_through_bind_mounts_of_a_running_container() {
    let f = Fixture::new();
    let bind = f.host.join("bind");
    let robind = f.host.join("robind");
    fs::create_dir(&bind).unwrap();
    fs::create_dir(&robind).unwrap();
    write(&bind.join("from-host"), "host side\n");
    write(&f.host.join("to-vol"), "into the volume\n");
    f.running(
        "berth-cp-vol",
        &[
            "-v",
            &format!("{}:/vol", bind.display()),
            "-v",
            &format!("{}:/rovol:ro", robind.display()),
        ],
        "true",
    );
    // Into the bind mount: the host directory gets it, as with dockerd.
    run_ok(&mut f.berth(&["cp", "to-vol", "berth-cp-vol:/vol/"]));
    assert_eq!(fs::read(bind.join("to-vol")).unwrap(), b"into the volume\n");
    assert_eq!(f.read("berth-cp-vol", "/vol/from-host"), b"host side\n");
    // A read-only one refuses.
    let r = f.d.api(
        "PUT",
        "/v1.41/containers/berth-cp-vol/archive?path=/rovol",
        &[],
        &payload_tar(),
    );
    assert_eq!(r.status, 403, "{}", r.text());
    assert_eq!(r.error_message(), "mounted volume is marked read-only");
    assert!(fs::read_dir(&robind).unwrap().next().is_none());
}
