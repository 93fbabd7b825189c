//! The real `docker` CLI (version 28) pushing to and pulling from a real
//! registry (Debian's `docker-registry`, started by the test on 127.0.0.1)
//! through berthd: by tag and by digest, with htpasswd login; and the image
//! berthd pushed, pulled by a reference dockerd, has the same image ID.

mod common;

use common::registry::{TestRegistry, pushed_digest};
use common::{RefDockerd, TestDaemon, code, run, run_ok, run_with_stdin, stderr, stdout};

fn image_id(d: &TestDaemon, name: &str) -> String {
    run_ok(&mut d.docker(&["image", "inspect", "--format", "{{.Id}}", name]))
        .trim()
        .to_string()
}

/// berthd with busybox loaded through `docker load`, tagged `image`.
fn daemon_with(image: &str) -> (TestDaemon, String) {
    let d = TestDaemon::start();
    let (archive, id) = d.busybox_archive("busybox:latest");
    run_ok(&mut d.docker(&["load", "-i", archive.to_str().expect("utf-8 path")]));
    run_ok(&mut d.docker(&["tag", "busybox:latest", image]));
    (d, id)
}

#[test]
fn docker_push_rmi_pull_by_tag_and_digest_through_berthd() {
    let reg = TestRegistry::start();
    let repo = format!("{}/berth/busybox", reg.addr());
    let image = format!("{repo}:v1");
    let (d, id) = daemon_with(&image);

    let out = run_ok(&mut d.docker(&["push", &image]));
    assert!(
        out.starts_with(&format!("The push refers to repository [{repo}]\n")),
        "{out}"
    );
    let digest = pushed_digest(&out, "v1");

    run_ok(&mut d.docker(&["rmi", &image, "busybox:latest"]));
    let out = run_ok(&mut d.docker(&["pull", &image]));
    for expected in [
        "v1: Pulling from berth/busybox\n".to_string(),
        ": Pull complete\n".to_string(),
        format!("Digest: {digest}\n"),
        format!("Status: Downloaded newer image for {image}\n{image}\n"),
    ] {
        assert!(out.contains(&expected), "no {expected:?} in:\n{out}");
    }
    assert_eq!(image_id(&d, &image), id);
    assert_eq!(
        run_ok(&mut d.docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            &image
        ])),
        format!("[\"{repo}@{digest}\"]\n")
    );
    let out = run_ok(&mut d.docker(&["pull", &image]));
    assert!(
        out.contains(&format!("Status: Image is up to date for {image}\n")),
        "{out}"
    );

    run_ok(&mut d.docker(&["rmi", &image]));
    let by_digest = format!("{repo}@{digest}");
    let out = run_ok(&mut d.docker(&["pull", &by_digest]));
    assert!(out.ends_with(&format!("{by_digest}\n")), "{out}");
    assert_eq!(image_id(&d, &by_digest), id);

    // A missing tag: one line from the daemon, exit 1.
    let out = run(&mut d.docker(&["pull", &format!("{repo}:nosuchtag")]));
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("not found: manifest unknown"),
        "{}",
        stderr(&out)
    );

    // The real dockerd pulls what berthd pushed and gets the same image ID.
    let dk = RefDockerd::start();
    run_ok(&mut dk.docker(&["pull", &image]));
    let ref_id = run_ok(&mut dk.docker(&["image", "inspect", "--format", "{{.Id}}", &image]));
    assert_eq!(ref_id.trim(), id);
}

#[test]
fn docker_login_push_pull_logout_through_berthd() {
    const PASSWORD: &str = "berth-Compat-91c2";
    let reg = TestRegistry::start_with_htpasswd("berthuser", PASSWORD);
    let server = reg.addr();
    let image = format!("{server}/berth/private:v1");
    let (d, id) = daemon_with(&image);

    let out = run_with_stdin(
        &mut d.docker(&["login", "-u", "berthuser", "--password-stdin", &server]),
        Some(b"not-the-password\n"),
    );
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("401 Unauthorized"),
        "{}",
        stderr(&out)
    );

    let out = run_with_stdin(
        &mut d.docker(&["login", "-u", "berthuser", "--password-stdin", &server]),
        Some(format!("{PASSWORD}\n").as_bytes()),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(stdout(&out).contains("Login Succeeded"), "{}", stdout(&out));

    let digest = pushed_digest(&run_ok(&mut d.docker(&["push", &image])), "v1");
    run_ok(&mut d.docker(&["rmi", &image]));
    run_ok(&mut d.docker(&["pull", &image]));
    assert_eq!(image_id(&d, &image), id);
    assert_eq!(
        run_ok(&mut d.docker(&[
            "image",
            "inspect",
            "--format",
            "{{json .RepoDigests}}",
            &image
        ])),
        format!("[\"{server}/berth/private@{digest}\"]\n")
    );
    assert!(!d.log_text().contains(PASSWORD), "password in berthd's log");

    run_ok(&mut d.docker(&["logout", &server]));
    run_ok(&mut d.docker(&["rmi", &image]));
    let out = run(&mut d.docker(&["pull", &image]));
    assert_eq!(code(&out), 1, "{}", stdout(&out));
    assert!(
        stderr(&out).contains("no basic auth credentials"),
        "{}",
        stderr(&out)
    );
}
