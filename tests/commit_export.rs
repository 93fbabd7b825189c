//! `commit` and `export` through `berth`, the real `docker` CLI and the API
//! against a real `berthd`: a commit carries additions, deletions (whiteouts) and
//! replaced directories (opaque) into a new image that runs, saves and keeps its
//! `--change`, `-m` and `-a`; an export lists the container's files and nothing
//! of its kernel filesystems.

mod common;

use std::time::{Duration, Instant};

use common::{TestDaemon, run, run_ok, stderr, stdout};

fn with_busybox() -> TestDaemon {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    d
}

/// Waits until `path` exists in the running container `name`.
fn wait_for(d: &TestDaemon, name: &str, path: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while d
        .api_head(&format!("/v1.41/containers/{name}/archive?path={path}"))
        .status
        != 200
    {
        assert!(Instant::now() < deadline, "{path} never appeared in {name}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn tar_names(bytes: &[u8]) -> Vec<String> {
    let mut a = tar::Archive::new(bytes);
    a.entries()
        .unwrap()
        .map(|e| String::from_utf8_lossy(&e.unwrap().path_bytes()).into_owned())
        .collect()
}

#[test]
fn commit_carries_changes_and_deletions_into_a_runnable_image() {
    let d = with_busybox();
    run_ok(&mut d.berth(&[
        "run",
        "--name",
        "berth-commit-1",
        "busybox",
        "sh",
        "-c",
        "echo added > /added && rm /etc/group && mkdir -p /opq && echo a > /opq/a && echo b > /opq/b",
    ]));
    let id = run_ok(&mut d.berth(&[
        "commit",
        "-m",
        "first commit",
        "-a",
        "berth tests",
        "-c",
        "ENV BERTH_COMMIT=yes",
        "-c",
        "CMD [\"cat\", \"/added\"]",
        "berth-commit-1",
        "berth-committed:v1",
    ]));
    let id = id.trim();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "commit prints the image ID: {id:?}"
    );
    // The image's CMD from --change runs; the deletion and the addition are there.
    let out = run_ok(&mut d.berth(&["run", "--rm", "berth-committed:v1"]));
    assert_eq!(out, "added\n");
    let out = run_ok(&mut d.berth(&[
        "run",
        "--rm",
        "berth-committed:v1",
        "sh",
        "-c",
        "ls /etc/group 2>&1; ls /opq; echo $BERTH_COMMIT",
    ]));
    assert!(out.contains("No such file"), "{out}");
    assert!(out.contains("a\nb\nyes"), "{out}");
    let inspect = |f: &str| {
        run_ok(&mut d.berth(&["image", "inspect", "-f", f, "berth-committed:v1"]))
            .trim()
            .to_string()
    };
    assert_eq!(inspect("{{.Id}}"), id);
    assert_eq!(inspect("{{.Comment}}"), "first commit");
    assert_eq!(inspect("{{.Author}}"), "berth tests");
    assert_eq!(inspect("{{len .RootFS.Layers}}"), "2");

    // A directory replaced in a second commit hides the old content (opaque).
    run_ok(&mut d.berth(&[
        "run",
        "--name",
        "berth-commit-2",
        "berth-committed:v1",
        "sh",
        "-c",
        "rm -rf /opq && mkdir /opq && echo c > /opq/c",
    ]));
    run_ok(&mut d.berth(&["commit", "berth-commit-2", "berth-committed:v2"]));
    let out = run_ok(&mut d.berth(&["run", "--rm", "berth-committed:v2", "ls", "/opq"]));
    assert_eq!(out, "c\n");

    // The committed image saves (its new layer regenerated from the snapshot).
    let saved = run(&mut d.berth(&["save", "berth-committed:v2"]));
    assert!(saved.status.success(), "{}", stderr(&saved));
    let names = tar_names(&saved.stdout);
    assert!(names.iter().any(|n| n == "manifest.json"), "{names:?}");
    assert_eq!(
        names.iter().filter(|n| n.ends_with("layer.tar")).count(),
        3,
        "{names:?}"
    );
}

#[test]
fn commit_of_a_running_container_pauses_and_resumes_it() {
    let d = with_busybox();
    run_ok(&mut d.berth(&[
        "run",
        "-d",
        "--name",
        "berth-commit-run",
        "busybox",
        "sh",
        "-c",
        "echo live > /live && touch /tmp/ready && exec sleep 1000",
    ]));
    wait_for(&d, "berth-commit-run", "/tmp/ready");
    run_ok(&mut d.berth(&["commit", "berth-commit-run", "berth-live"]));
    let st = run_ok(&mut d.berth(&[
        "inspect",
        "-f",
        "{{.State.Status}} {{.State.Paused}}",
        "berth-commit-run",
    ]));
    assert_eq!(st.trim(), "running false");
    let out = run_ok(&mut d.berth(&["run", "--rm", "berth-live", "cat", "/live"]));
    assert_eq!(out, "live\n");
    // And through the real docker CLI.
    let out = run_ok(&mut d.docker(&["commit", "-m", "from docker", "berth-commit-run"]));
    assert!(out.trim().starts_with("sha256:"), "{out}");
    let r = d.api_post("/v1.41/commit?container=nope", b"");
    assert_eq!(r.status, 404);
    assert_eq!(r.error_message(), "No such container: nope");
}

#[test]
fn export_lists_the_container_filesystem() {
    let d = with_busybox();
    run_ok(&mut d.berth(&[
        "run",
        "-d",
        "--name",
        "berth-export",
        "busybox",
        "sh",
        "-c",
        "echo e > /exported && rm /etc/group && touch /tmp/ready && exec sleep 1000",
    ]));
    wait_for(&d, "berth-export", "/tmp/ready");
    let file = d.dir().join("berth-export.tar");
    run_ok(&mut d.berth(&["export", "-o", file.to_str().unwrap(), "berth-export"]));
    let names = tar_names(&std::fs::read(&file).unwrap());
    for want in ["bin/busybox", "exported", "etc/passwd", "tmp/ready"] {
        assert!(names.iter().any(|n| n == want), "{want} missing: {names:?}");
    }
    assert!(
        !names.iter().any(|n| n == "etc/group"),
        "a deleted file was exported"
    );
    assert!(
        !names.iter().any(|n| n.starts_with("proc/") && n.len() > 5),
        "/proc content was exported"
    );
    assert!(!names.iter().any(|n| n.contains(".wh.")), "{names:?}");
    // To stdout, from a stopped container, and with the real docker CLI.
    run_ok(&mut d.berth(&["stop", "-t", "0", "berth-export"]));
    let out = run(&mut d.berth(&["export", "berth-export"]));
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(tar_names(&out.stdout).iter().any(|n| n == "exported"));
    let out = run(&mut d.docker(&["export", "berth-export"]));
    assert!(out.status.success(), "{} {}", stdout(&out), stderr(&out));
    assert!(tar_names(&out.stdout).iter().any(|n| n == "exported"));
}
