//! Volumes and mounts end to end (issue 7, item 3) through a real `berthd`
//! and the `berth` CLI: named volumes that outlive containers, binds (`:ro`
//! included), anonymous volumes from `-v /path` and from an image's
//! `VOLUME` with the image content copied in, tmpfs mounts, `--volumes-from`,
//! `rm -v`, in-use refusal, prune, and hostile symlinks in the image that
//! must not lead a mount onto the host.

mod common;

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use common::{TestDaemon, busybox_rootfs_tar, code, run, run_ok, run_with_stdin, stderr, stdout};

/// A daemon with busybox-static loaded as `busybox:latest`.
fn daemon() -> TestDaemon {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    d
}

/// `berth <args>`, which must succeed; its stdout.
fn ok(d: &TestDaemon, args: &[&str]) -> String {
    run_ok(&mut d.berth(args))
}

/// `berth inspect` of one container as JSON.
fn inspect(d: &TestDaemon, name: &str) -> Value {
    let out = ok(d, &["container", "inspect", name]);
    let v: Value = serde_json::from_str(&out).expect("inspect JSON");
    v[0].clone()
}

/// A directory for host-side files of a test, inside the daemon's test dir
/// (removed with it).
fn host_dir(d: &TestDaemon, name: &str) -> PathBuf {
    let p = d.dir().join(name);
    fs::create_dir_all(&p).expect("create a host dir");
    p
}

/// Imports busybox plus `extra` entries as `reference`, with `changes`.
fn import_image(
    d: &TestDaemon,
    reference: &str,
    changes: &[&str],
    extra: impl FnOnce(&mut tar::Builder<Vec<u8>>),
) {
    let mut base = busybox_rootfs_tar();
    // Drop the end-of-archive blocks and append more entries.
    base.truncate(base.len() - 1024);
    let mut b = tar::Builder::new(base);
    extra(&mut b);
    let tar = b.into_inner().expect("finish the tar");
    let mut args = vec!["import"];
    for c in changes {
        args.extend(["-c", c]);
    }
    args.extend(["-", reference]);
    let out = run_with_stdin(&mut d.berth(&args), Some(&tar));
    assert_eq!(code(&out), 0, "import: {}", stderr(&out));
}

fn header(kind: tar::EntryType, mode: u32, uid: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(mode);
    h.set_uid(uid);
    h.set_gid(uid);
    h.set_mtime(1_700_000_000);
    h.set_size(0);
    h
}

#[test]
fn a_named_volume_written_by_one_container_is_read_by_the_next() {
    let d = daemon();
    ok(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "berthvol:/data",
            "busybox",
            "sh",
            "-c",
            "echo hello > /data/f",
        ],
    );
    assert_eq!(
        ok(
            &d,
            &[
                "run",
                "--rm",
                "-v",
                "berthvol:/data",
                "busybox",
                "cat",
                "/data/f"
            ]
        ),
        "hello\n"
    );
    let on_disk = d.data_root().join("volumes/berthvol/_data/f");
    assert_eq!(fs::read_to_string(on_disk).unwrap(), "hello\n");
    // `--rm` removes a container's anonymous volumes too.
    ok(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "/scratch",
            "busybox",
            "touch",
            "/scratch/x",
        ],
    );
    // `--rm` removed the containers and the anonymous volume, not the named one.
    assert_eq!(
        ok(&d, &["volume", "ls"]),
        "DRIVER    VOLUME NAME\nlocal     berthvol\n"
    );
    let v: Value = serde_json::from_str(&ok(&d, &["volume", "inspect", "berthvol"])).unwrap();
    assert_eq!(v[0]["Name"], "berthvol");
    assert_eq!(v[0]["Driver"], "local");
    assert_eq!(v[0]["Scope"], "local");
    assert_eq!(
        v[0]["Mountpoint"],
        d.data_root()
            .join("volumes/berthvol/_data")
            .display()
            .to_string()
    );
    // The --mount form reaches the same volume.
    assert_eq!(
        ok(
            &d,
            &[
                "run",
                "--rm",
                "--mount",
                "source=berthvol,target=/v",
                "busybox",
                "cat",
                "/v/f"
            ]
        ),
        "hello\n"
    );
}

#[test]
fn a_read_only_bind_rejects_writes_and_a_rw_bind_writes_through() {
    let d = daemon();
    let h = host_dir(&d, "berth-bind");
    fs::write(h.join("from-host"), "host file\n").unwrap();
    let spec_ro = format!("{}:/mnt:ro", h.display());
    let out = run(&mut d.berth(&[
        "run",
        "--rm",
        "-v",
        &spec_ro,
        "busybox",
        "sh",
        "-c",
        "cat /mnt/from-host; echo x > /mnt/new",
    ]));
    assert_eq!(code(&out), 1, "stderr: {}", stderr(&out));
    assert_eq!(stdout(&out), "host file\n");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!h.join("new").exists());

    let spec_rw = format!("{}:/mnt", h.display());
    ok(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            &spec_rw,
            "busybox",
            "sh",
            "-c",
            "echo written > /mnt/new",
        ],
    );
    assert_eq!(fs::read_to_string(h.join("new")).unwrap(), "written\n");

    // A missing host directory is created, as Docker does for -v.
    let missing = d.dir().join("berth-missing/sub");
    let spec = format!("{}:/m", missing.display());
    ok(&d, &["run", "--rm", "-v", &spec, "busybox", "true"]);
    assert!(missing.is_dir());

    // A file can be bound too, and --mount readonly behaves like :ro.
    let file_spec = format!(
        "type=bind,src={},dst=/etc/berth.txt,readonly",
        h.join("from-host").display()
    );
    let out = run(&mut d.berth(&[
        "run",
        "--rm",
        "--mount",
        &file_spec,
        "busybox",
        "sh",
        "-c",
        "cat /etc/berth.txt; echo y >> /etc/berth.txt",
    ]));
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "host file\n");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );

    let out = run(&mut d.berth(&[
        "run",
        "--rm",
        "--mount",
        "type=bind,src=/nonexistent-berth,dst=/x",
        "busybox",
        "true",
    ]));
    assert_eq!(code(&out), 125);
    assert!(
        stderr(&out).contains(
            "invalid mount config for type \"bind\": bind source path does not exist: /nonexistent-berth"
        ),
        "{}",
        stderr(&out)
    );
}

#[test]
fn bind_mounts_show_in_inspect_as_docker_shows_them() {
    let d = daemon();
    let h = host_dir(&d, "berth-insp");
    let spec = format!("{}:/b:ro", h.display());
    ok(
        &d,
        &[
            "create",
            "--name",
            "berth-i",
            "-v",
            &spec,
            "-v",
            "berthnamed:/n",
            "busybox",
            "true",
        ],
    );
    let c = inspect(&d, "berth-i");
    let mounts = c["Mounts"].as_array().unwrap();
    assert_eq!(mounts.len(), 2, "{mounts:?}");
    let bind = mounts.iter().find(|m| m["Type"] == "bind").unwrap();
    assert_eq!(bind["Source"], h.display().to_string());
    assert_eq!(bind["Destination"], "/b");
    assert_eq!(bind["Mode"], "ro");
    assert_eq!(bind["RW"], false);
    assert_eq!(bind["Propagation"], "rprivate");
    assert!(bind.get("Name").is_none());
    let vol = mounts.iter().find(|m| m["Type"] == "volume").unwrap();
    assert_eq!(vol["Name"], "berthnamed");
    assert_eq!(vol["Driver"], "local");
    assert_eq!(vol["Mode"], "z");
    assert_eq!(vol["RW"], true);
    assert_eq!(c["HostConfig"]["Binds"][0], spec);
}

#[test]
fn anonymous_volumes_go_with_rm_v_and_named_ones_stay() {
    let d = daemon();
    ok(
        &d,
        &[
            "create",
            "--name",
            "berth-a",
            "-v",
            "/data",
            "-v",
            "berthkeep:/keep",
            "busybox",
            "true",
        ],
    );
    let c = inspect(&d, "berth-a");
    let anon = c["Mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["Destination"] == "/data")
        .expect("the anonymous volume")["Name"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(anon.len(), 64);
    assert!(anon.chars().all(|c| c.is_ascii_hexdigit()));
    ok(&d, &["start", "-a", "berth-a"]);
    // In use by a stopped container: refused with Docker's message.
    let out = run(&mut d.berth(&["volume", "rm", "berthkeep"]));
    assert_eq!(code(&out), 1);
    let id = c["Id"].as_str().unwrap();
    assert_eq!(
        stderr(&out).trim(),
        format!("Error response from daemon: remove berthkeep: volume is in use - [{id}]")
    );
    let resp = d.api_delete("/v1.41/volumes/berthkeep?force=1");
    assert_eq!(resp.status, 409);
    ok(&d, &["rm", "-v", "berth-a"]);
    let names = ok(&d, &["volume", "ls", "-q"]);
    assert_eq!(names, "berthkeep\n", "the anonymous volume went with rm -v");
    assert!(!d.data_root().join("volumes").join(&anon).exists());
    assert_eq!(ok(&d, &["volume", "rm", "berthkeep"]), "berthkeep\n");

    // Without -v the anonymous volume stays (dangling).
    ok(
        &d,
        &["run", "--name", "berth-b", "-v", "/data", "busybox", "true"],
    );
    ok(&d, &["rm", "berth-b"]);
    let dangling = ok(&d, &["volume", "ls", "-q", "--filter", "dangling=true"]);
    assert_eq!(dangling.lines().count(), 1, "{dangling}");
}

#[test]
fn an_image_volume_is_populated_from_the_image_content() {
    let d = daemon();
    import_image(
        &d,
        "berthtest/vol:1",
        &["VOLUME /data", "CMD [\"sh\"]"],
        |b| {
            b.append_data(
                &mut header(tar::EntryType::Directory, 0o750, 1234),
                "./data/",
                std::io::empty(),
            )
            .unwrap();
            let body = b"image content\n";
            let mut h = header(tar::EntryType::Regular, 0o640, 1234);
            h.set_size(body.len() as u64);
            b.append_data(&mut h, "./data/hello", &body[..]).unwrap();
            let mut l = header(tar::EntryType::Symlink, 0o777, 0);
            b.append_link(&mut l, "./data/link", "hello").unwrap();
        },
    );
    let out = ok(
        &d,
        &[
            "run",
            "--name",
            "berth-img",
            "berthtest/vol:1",
            "sh",
            "-c",
            "cat /data/link; stat -c '%a %u %g' /data /data/hello; echo more > /data/added",
        ],
    );
    assert_eq!(out, "image content\n750 1234 1234\n640 1234 1234\n");
    let c = inspect(&d, "berth-img");
    let m = &c["Mounts"][0];
    assert_eq!(m["Type"], "volume");
    assert_eq!(m["Destination"], "/data");
    let source = PathBuf::from(m["Source"].as_str().unwrap());
    assert_eq!(
        fs::read_to_string(source.join("hello")).unwrap(),
        "image content\n"
    );
    assert_eq!(
        fs::read_link(source.join("link")).unwrap(),
        Path::new("hello")
    );
    assert_eq!(fs::metadata(source.join("hello")).unwrap().uid(), 1234);
    assert_eq!(fs::read_to_string(source.join("added")).unwrap(), "more\n");

    // The copy happens once per container: emptied, the volume stays empty
    // at the next start (but for what the command writes).
    for e in fs::read_dir(&source).unwrap() {
        fs::remove_file(e.unwrap().path()).unwrap();
    }
    ok(&d, &["start", "berth-img"]);
    assert_eq!(ok(&d, &["wait", "berth-img"]), "0\n");
    let left: Vec<_> = fs::read_dir(&source)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(left, ["added"]);
    // With volume-nocopy the volume stays empty.
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--mount",
            "type=volume,dst=/data,volume-nocopy",
            "berthtest/vol:1",
            "ls",
            "-A",
            "/data",
        ],
    );
    assert_eq!(out, "");
    // A named volume that is new and empty gets the content too; -v /path as well.
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "berthpop:/data",
            "berthtest/vol:1",
            "cat",
            "/data/hello",
        ],
    );
    assert_eq!(out, "image content\n");
}

#[test]
fn tmpfs_mounts_get_their_options() {
    let d = daemon();
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--tmpfs",
            "/t:size=1m,mode=755",
            "--mount",
            "type=tmpfs,dst=/u,tmpfs-size=2m",
            "busybox",
            "sh",
            "-c",
            "grep -E ' /(t|u) ' /proc/mounts; stat -c %a /t; echo ok > /t/f && cat /t/f",
        ],
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 4, "{out}");
    let t = lines.iter().find(|l| l.contains(" /t ")).unwrap();
    assert!(
        t.starts_with("tmpfs /t tmpfs rw,nosuid,nodev,noexec"),
        "{t}"
    );
    assert!(t.contains("size=1024k") && t.contains("mode=755"), "{t}");
    let u = lines.iter().find(|l| l.contains(" /u ")).unwrap();
    assert!(u.contains("size=2048k"), "{u}");
    assert_eq!(lines[2..], ["755", "ok"]);
    // A local volume with tmpfs options is a tmpfs where it is used.
    ok(
        &d,
        &[
            "volume",
            "create",
            "--opt",
            "type=tmpfs",
            "--opt",
            "device=tmpfs",
            "--opt",
            "o=size=3m",
            "berthtmp",
        ],
    );
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            "berthtmp:/v",
            "busybox",
            "grep",
            " /v ",
            "/proc/mounts",
        ],
    );
    assert!(
        out.starts_with("tmpfs /v tmpfs") && out.contains("size=3072k"),
        "{out}"
    );
}

#[test]
fn volumes_from_shares_another_containers_mounts() {
    let d = daemon();
    let h = host_dir(&d, "berth-vf");
    let spec = format!("{}:/h", h.display());
    ok(
        &d,
        &[
            "create",
            "--name",
            "berth-src",
            "-v",
            "berthshared:/s",
            "-v",
            &spec,
            "busybox",
            "true",
        ],
    );
    ok(
        &d,
        &[
            "run",
            "--rm",
            "--volumes-from",
            "berth-src",
            "busybox",
            "sh",
            "-c",
            "echo a > /s/f; echo b > /h/f",
        ],
    );
    assert_eq!(fs::read_to_string(h.join("f")).unwrap(), "b\n");
    let out = run(&mut d.berth(&[
        "run",
        "--rm",
        "--volumes-from",
        "berth-src:ro",
        "busybox",
        "sh",
        "-c",
        "cat /s/f; echo c > /s/f",
    ]));
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "a\n");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    // Through the API: a 404 on create sends a client off to pull the image.
    let resp = d.api_post_json(
        "/v1.41/containers/create",
        &serde_json::json!({"Image": "busybox", "HostConfig": {"VolumesFrom": ["berth-nosuch"]}}),
    );
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_message(), "No such container: berth-nosuch");
}

#[test]
fn prune_removes_unused_volumes_only() {
    let d = daemon();
    ok(&d, &["volume", "create", "berthused"]);
    ok(
        &d,
        &["volume", "create", "--label", "keep=1", "berthlabelled"],
    );
    assert_eq!(
        ok(&d, &["volume", "create", "berthunused"]),
        "berthunused\n"
    );
    ok(
        &d,
        &[
            "create",
            "--name",
            "berth-u",
            "-v",
            "berthused:/u",
            "busybox",
            "true",
        ],
    );
    fs::write(
        d.data_root().join("volumes/berthunused/_data/f"),
        vec![b'x'; 2048],
    )
    .unwrap();
    let out = ok(&d, &["volume", "prune", "-f", "--filter", "label!=keep"]);
    // The space is what the disk got back (blocks, as du counts them), so at least
    // the 2048 bytes written plus the volume's directories (issue 10).
    let size = out
        .strip_prefix("Deleted Volumes:\nberthunused\n\nTotal reclaimed space: ")
        .and_then(|r| r.strip_suffix("kB\n"))
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or_else(|| panic!("unexpected prune output {out:?}"));
    assert!((2.048..100.0).contains(&size), "{out}");
    assert_eq!(
        ok(&d, &["volume", "ls", "-q"]),
        "berthlabelled\nberthused\n"
    );
    assert_eq!(
        ok(&d, &["volume", "prune", "-f", "--filter", "label=nope"]),
        "Total reclaimed space: 0B\n"
    );
    let resp = d.api_post("/v1.41/volumes/prune", b"");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.json()["VolumesDeleted"][0], "berthlabelled");
    assert_eq!(
        ok(&d, &["volume", "ls", "--format", "{{.Name}} {{.Driver}}"]),
        "berthused local\n"
    );
}

#[test]
fn volume_api_errors_follow_dockerd() {
    let d = daemon();
    let resp = d.api_get("/v1.41/volumes/berth-nosuch");
    assert_eq!(resp.status, 404);
    assert_eq!(resp.error_message(), "get berth-nosuch: no such volume");
    let resp = d.api_post_json("/v1.41/volumes/create", &serde_json::json!({"Name": "a"}));
    assert_eq!(resp.status, 400);
    let resp = d.api_post_json(
        "/v1.41/volumes/create",
        &serde_json::json!({"Name": "berthx", "Driver": "nfsplug"}),
    );
    assert_eq!(resp.status, 404);
    let resp = d.api_post_json("/v1.41/volumes/create", &serde_json::json!({}));
    assert_eq!(resp.status, 201);
    assert_eq!(resp.json()["Name"].as_str().unwrap().len(), 64);
    assert_eq!(resp.json()["Labels"], Value::Null);
    let resp = d.api_post_json(
        "/v1.41/containers/create",
        &serde_json::json!({"Image": "busybox", "HostConfig": {"Binds": ["/a:/b", "berthv:/b"]}}),
    );
    assert_eq!(resp.status, 400);
    assert_eq!(resp.error_message(), "Duplicate mount point: /b");
    let resp = d.api_post_json(
        "/v1.41/containers/create",
        &serde_json::json!({"Image": "busybox", "HostConfig": {"Binds": ["/a:/b:bogus"]}}),
    );
    assert_eq!(resp.error_message(), "invalid mode: bogus");
    // A failed create leaves no volume behind.
    let listed = d.api_get("/v1.41/volumes").json();
    assert_eq!(listed["Volumes"].as_array().unwrap().len(), 1, "{listed}");
}

#[test]
fn hostile_image_symlinks_cannot_lead_mounts_onto_the_host() {
    let d = daemon();
    let canary = format!("berth-canary-{}", std::process::id());
    import_image(
        &d,
        "berthtest/evil:1",
        &["VOLUME /evilvol", "CMD [\"sh\"]"],
        |b| {
            for (name, target) in [
                ("./evil", "/etc"),
                ("./up", "../../../../../../etc"),
                ("./evilvol", "/etc"),
            ] {
                let mut l = header(tar::EntryType::Symlink, 0o777, 0);
                b.append_link(&mut l, name, target).unwrap();
            }
        },
    );
    let h = host_dir(&d, "berth-evil-src");
    fs::write(h.join("f"), "bound\n").unwrap();
    let a = format!("{}:/evil/{canary}", h.display());
    let b = format!("{}:/up/{canary}-up", h.display());
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "-v",
            &a,
            "-v",
            &b,
            "berthtest/evil:1",
            "sh",
            "-c",
            &format!("cat /etc/{canary}/f /etc/{canary}-up/f; ls /evilvol"),
        ],
    );
    // The mounts landed in the container's /etc, the volume got the image's /etc.
    // Only the image's /etc was copied (no host file such as shadow or
    // os-release), and the mount points were made inside the container.
    let want = format!(
        "bound\nbound\n{canary}\n{canary}-up\ngroup\nhostname\nhosts\npasswd\nresolv.conf\n"
    );
    assert_eq!(out, want);
    assert!(
        !Path::new("/etc").join(&canary).exists(),
        "a mount point was created in the host's /etc"
    );
    assert!(!Path::new("/etc").join(format!("{canary}-up")).exists());
}

#[test]
fn volumes_and_their_users_survive_a_daemon_restart() {
    let d = daemon();
    ok(
        &d,
        &[
            "run",
            "--name",
            "berth-r",
            "-v",
            "berthkept:/k",
            "busybox",
            "sh",
            "-c",
            "echo kept > /k/f",
        ],
    );
    // A half-made volume left by a crash is swept at the next start.
    let half = d.data_root().join("volumes/.new-berthcrash");
    let restarted = d.kill9_and_restart(|| fs::create_dir_all(half.join("_data")).unwrap());
    assert!(!half.exists(), "the leftover was swept");
    let resp = restarted.get("/v1.41/volumes/berthkept");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let resp = restarted.delete("/v1.41/volumes/berthkept");
    assert_eq!(resp.status, 409, "still used by berth-r: {}", resp.text());
    let resp = restarted.delete("/v1.41/containers/berth-r");
    assert_eq!(resp.status, 204, "{}", resp.text());
    let resp = restarted.delete("/v1.41/volumes/berthkept");
    assert_eq!(resp.status, 204, "{}", resp.text());
}

#[test]
fn bind_propagation_is_private_unless_asked() {
    let d = daemon();
    let h = host_dir(&d, "berth-prop");
    let shared = format!(
        "type=bind,src={},dst=/s,bind-propagation=rshared",
        h.display()
    );
    let private = format!("{}:/p", h.display());
    let out = ok(
        &d,
        &[
            "run",
            "--rm",
            "--mount",
            &shared,
            "-v",
            &private,
            "busybox",
            "grep",
            "-E",
            " /(s|p) ",
            "/proc/self/mountinfo",
        ],
    );
    let line = |dest: &str| {
        out.lines()
            .find(|l| l.split(' ').nth(4) == Some(dest))
            .unwrap_or_else(|| panic!("no {dest} in {out}"))
            .to_owned()
    };
    assert!(line("/s").contains(" shared:"), "{out}");
    let p = line("/p");
    assert!(!p.contains(" shared:") && !p.contains(" master:"), "{out}");
}
