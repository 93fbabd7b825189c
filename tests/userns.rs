//! User namespaces end to end (issue 12, item 3) through a real `berthd`
//! started with `--userns-remap`: root in a container is a subordinate uid
//! on the host, image files still belong to the container's root (idmapped
//! layers), what the container writes lands on disk as the mapped ids,
//! volumes belong to the mapped root, `--userns=host` opts out, and a
//! daemon without remapping is unchanged.
//!
//! Every test makes its own host user `berthu…` with its own subordinate
//! ranges (`useradd`, `usermod --add-subuids`) and removes both afterwards,
//! also on failure ([`SubUser`]'s `Drop`).

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use common::{TestDaemon, berth_tempdir, berthd_command, code, run, run_ok, stderr, stdout};

/// Size of each test user's range (dockerd's default too).
const RANGE: u32 = 65536;

/// A host user and group `berthu<hex>` with one subordinate uid and gid
/// range each, removed (ranges, user and group) on drop.
struct SubUser {
    name: String,
    start: u32,
}

/// Runs a shadow tool, retrying while another one holds the passwd locks
/// (tests run in parallel); the tool's stderr on any other failure.
fn try_shadow(args: &[&str]) -> Result<(), String> {
    for _ in 0..100 {
        let out = run(Command::new(args[0]).args(&args[1..]));
        if out.status.success() {
            return Ok(());
        }
        let err = stderr(&out);
        if !(err.contains("lock") || err.contains("try again")) {
            return Err(format!("{args:?} failed: {err}"));
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    Err(format!("{args:?}: the passwd files stayed locked"))
}

/// [`try_shadow`], which must succeed.
fn shadow(args: &[&str]) {
    if let Err(e) = try_shadow(args) {
        panic!("{e}");
    }
}

impl SubUser {
    /// Creates the user and gives it a range no other test picks (start
    /// above dockerd's and berthd's default ranges, random per test).
    fn create() -> SubUser {
        let mut rnd = [0u8; 4];
        getrandom::fill(&mut rnd).expect("random bytes");
        let n = u32::from_le_bytes(rnd);
        let name = format!("berthu{:06x}", n & 0xff_ffff);
        // 1000 slots of 65536 ids from 10M: far from 100000, where `default` goes.
        let start = 10_000_000 + (n % 1000) * RANGE;
        shadow(&[
            "useradd",
            "--system",
            "--user-group",
            "--no-create-home",
            "--shell",
            "/bin/false",
            &name,
        ]);
        let user = SubUser { name, start };
        let range = user.range();
        shadow(&[
            "usermod",
            "--add-subuids",
            &range,
            "--add-subgids",
            &range,
            &user.name,
        ]);
        user
    }

    fn range(&self) -> String {
        format!("{}-{}", self.start, self.start + RANGE - 1)
    }
}

impl Drop for SubUser {
    fn drop(&mut self) {
        let range = self.range();
        let steps: [&[&str]; 2] = [
            &[
                "usermod",
                "--del-subuids",
                &range,
                "--del-subgids",
                &range,
                &self.name,
            ],
            &["userdel", &self.name],
        ];
        let mut problems = Vec::new();
        for args in steps {
            if let Err(e) = try_shadow(args) {
                problems.push(e);
            }
        }
        for file in ["/etc/subuid", "/etc/subgid", "/etc/passwd", "/etc/group"] {
            let text = fs::read_to_string(file).unwrap_or_default();
            if text
                .lines()
                .any(|l| l.starts_with(&format!("{}:", self.name)))
            {
                problems.push(format!("{file} still names {}", self.name));
            }
        }
        if !problems.is_empty() {
            let msg = format!("removing test user left problems: {problems:?}");
            if std::thread::panicking() {
                eprintln!("{msg}");
            } else {
                panic!("{msg}");
            }
        }
    }
}

/// A daemon remapping to `user`, with busybox loaded.
fn remapped(user: &SubUser) -> TestDaemon {
    let d = TestDaemon::start_with("{}", &["--userns-remap", &user.name]);
    d.load_busybox("busybox:latest");
    d
}

fn ok(d: &TestDaemon, args: &[&str]) -> String {
    run_ok(&mut d.berth(args))
}

/// The numbers of a `uid_map`/`gid_map`, one line as a vector each.
fn map_lines(text: &str) -> Vec<Vec<u64>> {
    text.lines()
        .map(|l| l.split_whitespace().map(|n| n.parse().unwrap()).collect())
        .collect()
}

/// The four ids of the `Uid:` or `Gid:` line of `/proc/<pid>/status`.
fn status_ids(pid: i64, key: &str) -> Vec<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"));
    line.split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect()
}

fn inspect(d: &TestDaemon, name: &str) -> Value {
    let out = ok(d, &["container", "inspect", name]);
    serde_json::from_str::<Value>(&out).unwrap()[0].clone()
}

fn owner(path: &Path) -> (u32, u32) {
    let m = fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.gid())
}

#[test]
fn remapped_root_is_a_subordinate_uid_on_the_host() {
    let user = SubUser::create();
    let d = remapped(&user);
    let s = u64::from(user.start);

    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "id -u; id -g; cat /proc/self/uid_map; cat /proc/self/gid_map",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(&lines[..2], ["0", "0"], "{out}");
    assert_eq!(map_lines(lines[2]), vec![vec![0, s, 65536]], "{out}");
    assert_eq!(map_lines(lines[3]), vec![vec![0, s, 65536]], "{out}");

    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "berthu-top",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let c = inspect(&d, "berthu-top");
    let pid = c["State"]["Pid"].as_i64().unwrap();
    assert!(pid > 0, "{c}");
    let ns = format!("--net=/proc/{pid}/ns/net");
    let range = run_ok(Command::new("nsenter").args([
        ns.as_str(),
        "cat",
        "/proc/sys/net/ipv4/ping_group_range",
    ]));
    assert_eq!(range, "0\t2147483647\n");
    // The container's pid 1, seen from the host, runs as the range's start.
    assert_eq!(status_ids(pid, "Uid:"), vec![user.start; 4]);
    assert_eq!(status_ids(pid, "Gid:"), vec![user.start; 4]);

    // An exec joins the same user namespace.
    let out = ok(
        &d,
        &[
            "exec",
            "berthu-top",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(map_lines(lines[1]), vec![vec![0, s, 65536]], "{out}");
    let out = ok(&d, &["exec", "-u", "1000", "berthu-top", "id", "-u"]);
    assert_eq!(out.trim(), "1000");

    // Image files (host uid 0 on disk, shared with every other container)
    // belong to the container's root through the idmapped layers; what the
    // container writes is stored as the mapped ids.
    let script = "stat -c %u:%g /bin/busybox /etc/passwd /; \
                  echo x >> /etc/passwd && echo made > /berth-made && \
                  chown 1000:1000 /berth-made && stat -c %u:%g /etc/passwd /berth-made";
    let out = ok(&d, &["exec", "berthu-top", "sh", "-c", script]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["0:0", "0:0", "0:0", "0:0", "1000:1000"],
        "{out}"
    );
    let id = c["Id"].as_str().unwrap();
    let upper = d.data_root().join("containers").join(id).join("upper");
    assert_eq!(owner(&upper), (user.start, user.start));
    assert_eq!(
        owner(&upper.join("etc/passwd")),
        (user.start, user.start),
        "a copied-up image file keeps its (mapped) owner"
    );
    assert_eq!(
        owner(&upper.join("berth-made")),
        (user.start + 1000, user.start + 1000)
    );
    // The image's own layer files are untouched.
    let layer_busybox = layer_file(d.data_root(), "bin/busybox");
    assert_eq!(owner(&layer_busybox), (0, 0));

    // Root still binds ports below 1024 (dockerd 20.10's default sysctls),
    // although the network namespace is not its own; ICMP echo sockets are
    // open to every group (busybox ping uses a raw socket, which is not).
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "busybox",
            "sh",
            "-c",
            "httpd -p 80 && echo bound",
        ],
    );
    assert_eq!(out, "bound\n");

    // A working dir the init creates belongs to the container's root too.
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "-w",
            "/berth-wd/sub",
            "busybox",
            "sh",
            "-c",
            "stat -c %u:%g /berth-wd /berth-wd/sub && touch x && echo wrote",
        ],
    );
    assert_eq!(out, "0:0\n0:0\nwrote\n");

    // Terminals belong to the container's root and tty group, for the init
    // and an exec.
    let tty_owner = "stat -L -c %u:%g /proc/self/fd/0";
    let out = ok(&d, &["run", "--rm", "-t", "busybox", "sh", "-c", tty_owner]);
    assert_eq!(out.trim(), "0:5");
    let out = ok(&d, &["exec", "-t", "berthu-top", "sh", "-c", tty_owner]);
    assert_eq!(out.trim(), "0:5");

    // A restart makes a new user namespace with the same maps over the
    // same, already remapped, upper dir.
    ok(&d, &["restart", "-t", "0", "berthu-top"]);
    let out = ok(
        &d,
        &["exec", "berthu-top", "sh", "-c", "id -u; cat /berth-made"],
    );
    assert_eq!(out, "0\nmade\n");
    let pid = inspect(&d, "berthu-top")["State"]["Pid"].as_i64().unwrap();
    assert_eq!(status_ids(pid, "Uid:"), vec![user.start; 4]);

    ok(&d, &["rm", "-f", "berthu-top"]);
}

/// The busybox layer's copy of `rel` under the daemon's snapshots.
fn layer_file(data_root: &Path, rel: &str) -> PathBuf {
    let snapshots = data_root.join("snapshots");
    fs::read_dir(&snapshots)
        .unwrap()
        .map(|e| e.unwrap().path().join("diff").join(rel))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no snapshot under {} has {rel}", snapshots.display()))
}

#[test]
fn volume_files_belong_to_the_mapped_ids_and_binds_keep_host_owners() {
    let user = SubUser::create();
    let d = remapped(&user);
    let host = d.dir().join("berthu-bind");
    fs::create_dir(&host).unwrap();
    let bind = format!("{}:/host", host.display());
    let script = "touch /data/f && chown 7:8 /data/f && stat -c %u:%g /data /data/f /host; \
                  touch /host/x 2>/dev/null && echo wrote || echo denied";
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "berthu-vol:/data",
            "-v",
            &bind,
            "busybox",
            "sh",
            "-c",
            script,
        ],
    );
    // The bind's host root owner is unmapped in there: nobody, read-only to
    // the container's root, as with dockerd.
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["0:0", "7:8", "65534:65534", "denied"],
        "{out}"
    );
    let data = d.data_root().join("volumes/berthu-vol/_data");
    assert_eq!(owner(&data), (user.start, user.start));
    assert_eq!(owner(&data.join("f")), (user.start + 7, user.start + 8));
    assert!(!host.join("x").exists());
    ok(&d, &["volume", "rm", "berthu-vol"]);
}

#[test]
fn userns_host_and_privileged_follow_dockerd() {
    let user = SubUser::create();
    let d = remapped(&user);
    let out = run_ok(&mut d.docker(&[
        "run",
        "--rm",
        "--userns=host",
        "busybox",
        "cat",
        "/proc/self/uid_map",
    ]));
    assert_eq!(map_lines(&out), vec![vec![0, 0, 4294967295]]);
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--userns=host",
            "busybox",
            "sh",
            "-c",
            "cat /proc/self/uid_map; stat -c %u /bin/busybox",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(map_lines(lines[0]), vec![vec![0, 0, 4294967295]], "{out}");
    assert_eq!(lines[1], "0", "{out}");
    let out = run(&mut d.berth(&["run", "--rm", "--userns=private", "busybox", "true"]));
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains("--userns: invalid USER mode"),
        "{}",
        stderr(&out)
    );

    // The mount namespace belongs to the host's user namespace: even
    // CAP_SYS_ADMIN in the container's cannot mount there.
    let try_mount = "mkdir /berth-m || exit 3; mount -t tmpfs berth /berth-m 2>/dev/null && echo mounted || echo refused";
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--cap-add",
            "SYS_ADMIN",
            "busybox",
            "sh",
            "-c",
            try_mount,
        ],
    );
    assert_eq!(out, "refused\n");
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--userns=host",
            "--cap-add",
            "SYS_ADMIN",
            "busybox",
            "sh",
            "-c",
            try_mount,
        ],
    );
    assert_eq!(out, "mounted\n");

    let out = run(&mut d.docker(&["run", "--rm", "--privileged", "busybox", "true"]));
    assert_ne!(code(&out), 0);
    assert!(
        stderr(&out).contains(
            "privileged mode is incompatible with user namespaces.  You must run the container in the host namespace when running privileged mode"
        ),
        "{}",
        stderr(&out)
    );
    let out = run(&mut d.docker(&["run", "--rm", "--network", "host", "busybox", "true"]));
    assert!(
        stderr(&out)
            .contains("cannot share the host's network namespace when user namespaces are enabled"),
        "{}",
        stderr(&out)
    );
    let out = run_ok(&mut d.docker(&[
        "run",
        "--rm",
        "--privileged",
        "--userns=host",
        "busybox",
        "id",
        "-u",
    ]));
    assert_eq!(out.trim(), "0");

    let info = d.api_get("/v1.41/info").json();
    let opts: Vec<&str> = info["SecurityOptions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(opts.contains(&"name=userns"), "{opts:?}");
}

#[test]
fn without_remap_containers_keep_the_hosts_user_namespace() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let out = ok(&d, &["run", "--rm", "busybox", "cat", "/proc/self/uid_map"]);
    assert_eq!(map_lines(&out), vec![vec![0, 0, 4294967295]]);
    let info = d.api_get("/v1.41/info").json();
    assert!(
        !info["SecurityOptions"]
            .as_array()
            .unwrap()
            .contains(&Value::from("name=userns")),
        "{info}"
    );
}

#[test]
fn remapping_to_a_missing_user_or_range_refuses_to_start() {
    common::require_root();
    let dir = berth_tempdir("userns");
    let user = SubUser::create();
    // A user without ranges of its own.
    shadow(&[
        "usermod",
        "--del-subuids",
        &user.range(),
        "--del-subgids",
        &user.range(),
        &user.name,
    ]);
    let cases = [
        (
            "berth-no-such-user".to_owned(),
            "no such user for userns-remap: \"berth-no-such-user\"".to_owned(),
        ),
        (
            user.name.clone(),
            format!("no subordinate ranges for \"{}\" in /etc/subuid", user.name),
        ),
        (
            "a:b:c".to_owned(),
            "invalid userns-remap value \"a:b:c\"".to_owned(),
        ),
    ];
    for (value, want) in cases {
        let config = dir.join("daemon.json");
        fs::write(&config, "{}").unwrap();
        let out = run(berthd_command(
            &dir.join("berth.sock"),
            &dir.join("data"),
            &dir.join("exec"),
            &dir.join("berthd.pid"),
            &config,
        )
        .args(["--userns-remap", &value]));
        assert_ne!(code(&out), 0, "berthd started with --userns-remap {value}");
        let text = format!("{}{}", stdout(&out), stderr(&out));
        assert!(text.contains(&want), "want {want:?} in: {text}");
    }
    // Put the ranges back so the guard's removal has them to delete.
    shadow(&[
        "usermod",
        "--add-subuids",
        &user.range(),
        "--add-subgids",
        &user.range(),
        &user.name,
    ]);
    fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn default_remaps_to_berthremap_created_on_demand() {
    let existed = Command::new("id")
        .arg("berthremap")
        .output()
        .unwrap()
        .status
        .success();
    let guard = DefaultUserGuard { existed };
    let d = TestDaemon::start_with(r#"{"userns-remap": "default"}"#, &[]);
    d.load_busybox("busybox:latest");
    let subuid = fs::read_to_string("/etc/subuid").unwrap();
    let start: u64 = subuid
        .lines()
        .find_map(|l| l.strip_prefix("berthremap:"))
        .and_then(|r| r.split(':').next())
        .expect("berthremap has a subordinate uid range")
        .parse()
        .unwrap();
    let out = ok(&d, &["run", "--rm", "busybox", "cat", "/proc/self/uid_map"]);
    assert_eq!(map_lines(&out), vec![vec![0, start, 65536]]);
    drop(d);
    drop(guard);
}

/// Removes `berthremap` (and its ranges) after the test unless it existed before.
struct DefaultUserGuard {
    existed: bool,
}

impl Drop for DefaultUserGuard {
    fn drop(&mut self) {
        if self.existed {
            return;
        }
        for file in ["/etc/subuid", "/etc/subgid"] {
            let text = fs::read_to_string(file).unwrap_or_default();
            for range in text.lines().filter_map(|l| l.strip_prefix("berthremap:")) {
                let mut f = range.split(':');
                let (Some(a), Some(n)) = (f.next(), f.next()) else {
                    continue;
                };
                let (a, n): (u64, u64) = (a.parse().unwrap_or(0), n.parse().unwrap_or(1));
                let flag = if file.ends_with("subuid") {
                    "--del-subuids"
                } else {
                    "--del-subgids"
                };
                let r = format!("{a}-{}", a + n - 1);
                if let Err(e) = try_shadow(&["usermod", flag, &r, "berthremap"]) {
                    eprintln!("{e}");
                }
            }
        }
        if let Err(e) = try_shadow(&["userdel", "berthremap"])
            && !std::thread::panicking()
        {
            panic!("{e}");
        }
    }
}

#[test]
fn a_restarted_daemon_adopts_remapped_containers() {
    let user = SubUser::create();
    // daemon.json this time, which the restarted daemon reads again.
    let d = TestDaemon::start_with(&format!(r#"{{"userns-remap": "{}"}}"#, user.name), &[]);
    d.load_busybox("busybox:latest");
    ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            "berthu-kept",
            "busybox",
            "sleep",
            "1000",
        ],
    );
    let pid = inspect(&d, "berthu-kept")["State"]["Pid"].as_i64().unwrap();
    let restarted = d.kill9_and_restart(|| {});
    assert_eq!(
        inspect(&d, "berthu-kept")["State"]["Pid"].as_i64(),
        Some(pid)
    );
    let out = ok(
        &d,
        &[
            "exec",
            "berthu-kept",
            "sh",
            "-c",
            "id -u; cat /proc/self/uid_map",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "0", "{out}");
    assert_eq!(
        map_lines(lines[1]),
        vec![vec![0, u64::from(user.start), 65536]],
        "{out}"
    );
    ok(&d, &["rm", "-f", "berthu-kept"]);
    drop(restarted);
}

/// The owners of a tar's entries, by name without a leading `./` or `/`.
fn tar_owners(tar: &[u8]) -> std::collections::BTreeMap<String, (u64, u64)> {
    let mut a = tar::Archive::new(tar);
    a.entries()
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let name = name.trim_start_matches("./").trim_start_matches('/');
            let h = e.header();
            (
                name.trim_end_matches('/').to_owned(),
                (h.uid().unwrap(), h.gid().unwrap()),
            )
        })
        .collect()
}

/// `cp`, `export` and `commit` cross the mapping as with dockerd: what the
/// container's root owns is 0:0 in every tar and in the committed image,
/// and a file copied in as 0:0 belongs to the remapped root on the host.
#[test]
fn cp_export_and_commit_show_the_containers_own_ids() {
    let user = SubUser::create();
    let d = remapped(&user);
    let start = user.start;
    let name = "berthu-cp";
    let id = ok(
        &d,
        &[
            "run",
            "-d",
            "--name",
            name,
            "busybox",
            "sh",
            "-c",
            "echo made > /made && chown 7:8 /made && touch /ready && sleep 1000",
        ],
    )
    .trim()
    .to_owned();
    common::poll(
        "the container to make its files",
        common::COMMAND_BOUND,
        || {
            code(&run(&mut d.berth(&["exec", name, "test", "-e", "/ready"])))
                .eq(&0)
                .then_some(())
        },
    );
    let upper = d.data_root().join("containers").join(&id).join("upper");
    // In, running: owned by the container's root in there, shifted on the host.
    let local = d.dir().join("berthu-in.txt");
    fs::write(&local, "in\n").unwrap();
    ok(
        &d,
        &["cp", local.to_str().unwrap(), &format!("{name}:/in.txt")],
    );
    assert_eq!(
        ok(&d, &["exec", name, "sh", "-c", "stat -c %u:%g /in.txt"]).trim(),
        "0:0"
    );
    assert_eq!(owner(&upper.join("in.txt")), (start, start));
    // Out, running: the container's ids, for its own files and the image's.
    for (path, want) in [("/made", (7, 8)), ("/bin/busybox", (0, 0))] {
        let out = run(&mut d.berth(&["cp", &format!("{name}:{path}"), "-"]));
        assert_eq!(code(&out), 0, "cp {path}: {}", stderr(&out));
        let owners = tar_owners(&out.stdout);
        let base = path.rsplit('/').next().unwrap();
        assert_eq!(owners.get(base), Some(&want), "{path}: {owners:?}");
    }
    ok(&d, &["stop", "-t", "0", name]);
    // In, stopped (the overlay seen from the host): the same shift.
    ok(
        &d,
        &["cp", local.to_str().unwrap(), &format!("{name}:/in2.txt")],
    );
    assert_eq!(owner(&upper.join("in2.txt")), (start, start));
    // export and commit of the stopped container.
    let out = run(&mut d.berth(&["export", name]));
    assert_eq!(code(&out), 0, "export: {}", stderr(&out));
    let owners = tar_owners(&out.stdout);
    for (file, want) in [
        ("made", (7, 8)),
        ("in.txt", (0, 0)),
        ("in2.txt", (0, 0)),
        ("bin/busybox", (0, 0)),
    ] {
        assert_eq!(owners.get(file), Some(&want), "export {file}");
    }
    ok(&d, &["commit", name, "berthu-committed:1"]);
    // Run without remapping, the image shows what the container saw.
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--userns=host",
            "berthu-committed:1",
            "sh",
            "-c",
            "stat -c %u:%g /made /in.txt /in2.txt",
        ],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        ["7:8", "0:0", "0:0"],
        "{out}"
    );
    ok(&d, &["rm", name]);
    ok(&d, &["rmi", "berthu-committed:1"]);
}

/// A build's RUN steps run remapped, and their layers carry the ids the
/// step saw.
#[test]
fn build_run_layers_carry_container_ids() {
    let user = SubUser::create();
    let d = remapped(&user);
    let ctx = d.dir().join("berth-ctx");
    fs::create_dir(&ctx).unwrap();
    fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nRUN echo made > /berth-made && chown 7:8 /berth-made && mkdir /berth-dir \
         && cat /proc/self/uid_map > /berth-map\n",
    )
    .unwrap();
    ok(
        &d,
        &["build", "-q", "-t", "berthu-built:1", ctx.to_str().unwrap()],
    );
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--userns=host",
            "berthu-built:1",
            "sh",
            "-c",
            "stat -c %u:%g /berth-made /berth-dir && cat /berth-map",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.get(..2), Some(&["7:8", "0:0"][..]), "{out}");
    // The RUN step did run remapped: its layer's ids were mapped back.
    assert_eq!(
        map_lines(&lines[2..].join("\n")),
        vec![vec![0, u64::from(user.start), 65536]],
        "{out}"
    );
}
