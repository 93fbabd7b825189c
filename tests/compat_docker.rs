//! The real `docker` CLI (version 28, `/usr/local/bin/docker` or
//! `$BERTH_DOCKER_CLI`) against a real `berthd` via `DOCKER_HOST`. Every
//! expected output and exit code was recorded from the same client against
//! dockerd 20.10 (Debian docker.io); the round trip loads what berthd saves
//! into a real dockerd and compares image IDs.

mod common;

use common::{RefDockerd, TestDaemon, code, run, run_ok, stderr, stdout};
use serde_json::Value;

fn short(id: &str) -> &str {
    &id.trim_start_matches("sha256:")[..12]
}

/// A daemon with busybox-static loaded through `docker load`; returns the image ID too.
fn with_busybox() -> (TestDaemon, String) {
    let d = TestDaemon::start();
    let (archive, id) = d.busybox_archive("busybox:latest");
    let out = run_ok(&mut d.docker(&["load", "-i", archive.to_str().expect("utf-8 path")]));
    assert_eq!(out, "Loaded image: busybox:latest\n");
    (d, id)
}

#[test]
fn docker_version_negotiates_api_1_41() {
    let d = TestDaemon::start();
    let out = run_ok(&mut d.docker(&["version"]));
    let server = out
        .split_once("Server:")
        .map(|(_, s)| s)
        .unwrap_or_else(|| panic!("no Server section:\n{out}"));
    assert!(
        server
            .lines()
            .any(|l| l.trim() == "API version:      1.41 (minimum version 1.24)"),
        "{out}"
    );
    assert!(
        out.lines()
            .any(|l| l.trim().starts_with("API version:") && l.contains("1.41 (downgraded from")),
        "the client negotiates down to 1.41:\n{out}"
    );
    assert_eq!(
        run_ok(&mut d.docker(&[
            "version",
            "--format",
            "{{.Server.APIVersion}} {{.Server.Os}}/{{.Server.Arch}}"
        ])),
        "1.41 linux/amd64\n"
    );
}

#[test]
fn docker_info_reports_the_server() {
    let (d, _) = with_busybox();
    let out = run(&mut d.docker(&["info"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert!(!stderr(&out).contains("ERROR"), "{}", stderr(&out));
    let text = stdout(&out);
    for line in [
        "Containers: 0",
        "Images: 1",
        "OSType: linux",
        "Architecture: x86_64",
    ] {
        assert!(
            text.lines().any(|l| l.trim() == line),
            "no {line:?} line in:\n{text}"
        );
    }
    assert_eq!(
        run_ok(&mut d.docker(&["info", "--format", "{{.Images}} {{.OSType}}"])),
        "1 linux\n"
    );
}

#[test]
fn docker_load_images_tag_inspect_save_rmi() {
    let (d, id) = with_busybox();

    let table = run_ok(&mut d.docker(&["images"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "{table}"
    );
    assert!(lines[0].ends_with("SIZE"), "{table}");
    assert!(
        lines[1].starts_with(&format!("busybox      latest    {}   ", short(&id))),
        "{table}"
    );
    assert!(lines[1].ends_with("MB"), "busybox is ~2MB: {table}");
    assert_eq!(
        run_ok(&mut d.docker(&["images", "-q"])),
        format!("{}\n", short(&id))
    );
    assert_eq!(
        run_ok(&mut d.docker(&[
            "images",
            "--no-trunc",
            "--format",
            "{{.Repository}}:{{.Tag}} {{.ID}}"
        ])),
        format!("busybox:latest {id}\n")
    );

    assert_eq!(
        run_ok(&mut d.docker(&["tag", "busybox:latest", "berthtest/bb:v1"])),
        ""
    );
    assert_eq!(
        run_ok(&mut d.docker(&["tag", id.as_str(), "berthtest/bb:v2"])),
        ""
    );
    let refs = run_ok(&mut d.docker(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    let mut refs: Vec<&str> = refs.lines().collect();
    refs.sort();
    assert_eq!(
        refs,
        ["berthtest/bb:v1", "berthtest/bb:v2", "busybox:latest"]
    );

    let inspect: Value = serde_json::from_str(&run_ok(&mut d.docker(&[
        "image",
        "inspect",
        "berthtest/bb:v1",
    ])))
    .expect("JSON");
    let img = &inspect.as_array().expect("an array")[0];
    assert_eq!(img["Id"], id.as_str());
    let mut tags: Vec<String> = serde_json::from_value(img["RepoTags"].clone()).expect("RepoTags");
    tags.sort();
    assert_eq!(
        tags,
        ["berthtest/bb:v1", "berthtest/bb:v2", "busybox:latest"]
    );
    assert_eq!(img["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(img["Os"], "linux");
    assert_eq!(
        run_ok(&mut d.docker(&[
            "image",
            "inspect",
            "-f",
            "{{.Id}} {{.Architecture}}",
            "busybox"
        ])),
        format!("{id} amd64\n")
    );
    let missing = run(&mut d.docker(&["image", "inspect", "berth-no-such-image"]));
    assert_eq!(code(&missing), 1);
    assert_eq!(stdout(&missing), "[]\n");
    assert!(
        stderr(&missing).starts_with("Error response from daemon: "),
        "{}",
        stderr(&missing)
    );
    assert!(
        stderr(&missing).to_lowercase().contains("no such image"),
        "{}",
        stderr(&missing)
    );

    let history = run_ok(&mut d.docker(&["history", "busybox"]));
    assert!(history.starts_with("IMAGE          CREATED"), "{history}");
    assert!(
        history
            .lines()
            .nth(1)
            .is_some_and(|l| l.starts_with(short(&id))),
        "{history}"
    );

    let saved = d.dir().join("berth-docker-saved.tar");
    assert_eq!(
        run_ok(&mut d.docker(&[
            "save",
            "-o",
            saved.to_str().expect("utf-8"),
            "busybox:latest"
        ])),
        ""
    );
    assert!(std::fs::metadata(&saved).expect("saved tar").len() > 1_000_000);

    assert_eq!(
        run_ok(&mut d.docker(&["rmi", "berthtest/bb:v1"])),
        "Untagged: berthtest/bb:v1\n"
    );
    assert_eq!(
        run_ok(&mut d.docker(&["rmi", "berthtest/bb:v2"])),
        "Untagged: berthtest/bb:v2\n"
    );
    let out = run_ok(&mut d.docker(&["rmi", "busybox:latest"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Untagged: busybox:latest", "{out}");
    assert_eq!(lines[1], format!("Deleted: {id}"), "{out}");
    assert_eq!(run_ok(&mut d.docker(&["images", "-q"])), "");
    let gone = run(&mut d.docker(&["rmi", "busybox:latest"]));
    assert_eq!(code(&gone), 1);
    assert_eq!(
        stderr(&gone),
        "Error response from daemon: No such image: busybox:latest\n"
    );

    // What berthd saved loads back with the same ID.
    assert_eq!(
        run_ok(&mut d.docker(&["load", "-i", saved.to_str().expect("utf-8")])),
        "Loaded image: busybox:latest\n"
    );
    assert_eq!(
        run_ok(&mut d.docker(&["images", "-q", "--no-trunc"])),
        format!("{id}\n")
    );
}

#[test]
fn docker_run_output_and_exit_codes_match_dockerd() {
    let (d, _) = with_busybox();
    let out = run(&mut d.docker(&["run", "--rm", "busybox", "echo", "hi"]));
    assert_eq!(
        (code(&out), stdout(&out).as_str(), stderr(&out).as_str()),
        (0, "hi\n", "")
    );

    let out = run(&mut d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "echo out; echo err >&2; exit 3",
    ]));
    assert_eq!(
        (code(&out), stdout(&out).as_str(), stderr(&out).as_str()),
        (3, "out\n", "err\n")
    );

    let out = run(&mut d.docker(&["run", "--rm", "busybox", "nonexistent"]));
    assert_eq!(code(&out), 127, "{}", stderr(&out));
    assert!(
        stderr(&out).starts_with("docker: Error response from daemon: "),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).contains("\"nonexistent\": executable file not found in $PATH"),
        "{}",
        stderr(&out)
    );
    assert!(
        stderr(&out).ends_with("\n\nRun 'docker run --help' for more information\n"),
        "{}",
        stderr(&out)
    );

    let out = run(&mut d.docker(&["run", "--rm", "busybox", "/etc"]));
    assert_eq!(code(&out), 126, "{}", stderr(&out));
    assert!(
        stderr(&out).contains("\"/etc\": permission denied"),
        "{}",
        stderr(&out)
    );

    // PID 1 ignores a SIGKILL from inside its namespace (dockerd: exit 0) ...
    let out = run(&mut d.docker(&["run", "--rm", "busybox", "sh", "-c", "kill -9 $$"]));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    // ... while a killed child makes the shell exit 128 + 9.
    let out = run(&mut d.docker(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "sh -c 'kill -9 $$'; exit $?",
    ]));
    assert_eq!((code(&out), stderr(&out).as_str()), (137, "Killed\n"));

    assert_eq!(
        run_ok(&mut d.docker(&[
            "run",
            "--rm",
            "-u",
            "nobody",
            "-e",
            "FOO=bar",
            "-w",
            "/tmp",
            "busybox",
            "sh",
            "-c",
            "echo $FOO; pwd; id -u"
        ])),
        "bar\n/tmp\n65534\n"
    );
    assert_eq!(
        run_ok(&mut d.docker(&["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"])),
        "a b\n"
    );

    // --rm leaves nothing behind, even for containers that never started.
    assert_eq!(run_ok(&mut d.docker(&["ps", "-aq"])), "");
}

#[test]
fn docker_run_killed_from_outside_exits_137() {
    let (d, _) = with_busybox();
    let mut runner = d.docker(&[
        "run",
        "--rm",
        "--name",
        "berth-killed",
        "busybox",
        "sleep",
        "1000",
    ]);
    let handle = std::thread::spawn(move || run(&mut runner));
    // Wait (bounded) until the container runs, then kill it.
    let deadline = std::time::Instant::now() + common::COMMAND_BOUND;
    loop {
        let state = run(&mut d.docker(&["inspect", "-f", "{{.State.Running}}", "berth-killed"]));
        if stdout(&state) == "true\n" {
            break;
        }
        if handle.is_finished() {
            let out = handle.join().expect("the run thread");
            panic!(
                "docker run ended before it could be killed ({}): {}",
                out.status,
                stderr(&out)
            );
        }
        assert!(
            std::time::Instant::now() < deadline,
            "berth-killed never ran: {}",
            stderr(&state)
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(
        run_ok(&mut d.docker(&["kill", "berth-killed"])),
        "berth-killed\n"
    );
    let out = handle.join().expect("the run thread");
    assert_eq!(code(&out), 137, "{}", stderr(&out));
    // The client waits for --rm's removal before it exits.
    assert_eq!(run_ok(&mut d.docker(&["ps", "-aq"])), "");
}

#[test]
fn image_saved_by_berthd_loads_into_dockerd_with_the_same_id() {
    let (d, id) = with_busybox();
    let saved = d.dir().join("berth-roundtrip.tar");
    run_ok(&mut d.docker(&[
        "save",
        "-o",
        saved.to_str().expect("utf-8"),
        "busybox:latest",
    ]));

    let dockerd = RefDockerd::start();
    assert_eq!(
        run_ok(&mut dockerd.docker(&["load", "-i", saved.to_str().expect("utf-8")])),
        "Loaded image: busybox:latest\n"
    );
    assert_eq!(
        run_ok(&mut dockerd.docker(&["image", "inspect", "-f", "{{.Id}}", "busybox:latest"])),
        format!("{id}\n")
    );
    // And the image works there.
    assert_eq!(
        run_ok(&mut dockerd.docker(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "echo",
            "from-berth"
        ])),
        "from-berth\n"
    );
}
