//! The `berth` binary against a real `berthd`. Expected outputs and exit codes
//! are the docker CLI's against dockerd, recorded on Debian's docker.io 20.10
//! with the docker 28 client (Berth's CLI promises the same).

mod common;

use std::fs;

use common::{TestDaemon, code, run, run_ok, run_with_stdin, stderr, stdout};
use serde_json::Value;

/// The 12-hex-digit short form of `sha256:<hex>`.
fn short(id: &str) -> &str {
    &id.trim_start_matches("sha256:")[..12]
}

/// A daemon with busybox-static loaded as `busybox:latest`; returns its image ID too.
fn with_busybox() -> (TestDaemon, String) {
    let d = TestDaemon::start();
    let id = d.load_busybox("busybox:latest");
    (d, id)
}

#[test]
fn version_shows_client_and_server_api_versions() {
    let d = TestDaemon::start();
    let out = run_ok(&mut d.berth(&["version"]));
    assert!(out.contains("Client:"), "{out}");
    assert!(out.contains("Server:"), "{out}");
    let api_lines: Vec<&str> = out
        .lines()
        .filter(|l| l.trim_start().starts_with("API version:"))
        .collect();
    assert_eq!(
        api_lines.len(),
        2,
        "client and server API version lines: {out}"
    );
    assert!(api_lines.iter().all(|l| l.contains("1.41")), "{out}");
}

#[test]
fn info_counts_images_and_containers() {
    let (d, _) = with_busybox();
    let out = run_ok(&mut d.berth(&["info"]));
    for line in [
        "Containers: 0",
        "Images: 1",
        "OSType: linux",
        "Architecture: x86_64",
    ] {
        assert!(
            out.lines().any(|l| l.trim() == line),
            "no {line:?} line in:\n{out}"
        );
    }
    assert!(out.contains("Server Version:"), "{out}");
}

#[test]
fn load_images_tag_inspect_and_history() {
    let d = TestDaemon::start();
    let (archive, id) = d.busybox_archive("busybox:latest");
    let loaded = run_ok(&mut d.berth(&["load", "-i", archive.to_str().expect("utf-8 path")]));
    assert_eq!(loaded, "Loaded image: busybox:latest\n");

    let table = run_ok(&mut d.berth(&["images"]));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 2, "{table}");
    // Docker's tabwriter: minimum width 10, padding 3.
    assert!(
        lines[0].starts_with("REPOSITORY   TAG       IMAGE ID       CREATED"),
        "header: {:?}",
        lines[0]
    );
    assert!(lines[0].ends_with("SIZE"), "header: {:?}", lines[0]);
    let row_start = format!("busybox      latest    {}   ", short(&id));
    assert!(
        lines[1].starts_with(&row_start),
        "row {:?} should start {row_start:?}",
        lines[1]
    );
    let size = lines[1].split_whitespace().last().unwrap_or_default();
    assert!(size.ends_with("MB"), "busybox is ~2MB: {size:?}");
    // CREATED starts in the column under its header.
    let created_col = lines[0].find("CREATED").expect("CREATED column");
    assert_ne!(lines[1].as_bytes()[created_col], b' ', "{table}");

    assert_eq!(
        run_ok(&mut d.berth(&["images", "-q"])),
        format!("{}\n", short(&id))
    );
    assert_eq!(
        run_ok(&mut d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"])),
        format!("busybox:latest {}\n", short(&id))
    );

    assert_eq!(
        run_ok(&mut d.berth(&["tag", "busybox:latest", "berthtest/bb:v1"])),
        ""
    );
    let table = run_ok(&mut d.berth(&["images", "--format", "{{.Repository}}:{{.Tag}}"]));
    let mut refs: Vec<&str> = table.lines().collect();
    refs.sort();
    assert_eq!(refs, ["berthtest/bb:v1", "busybox:latest"]);

    let inspect: Value = serde_json::from_str(&run_ok(&mut d.berth(&[
        "image",
        "inspect",
        "berthtest/bb:v1",
    ])))
    .expect("image inspect prints JSON");
    let arr = inspect.as_array().expect("a JSON array");
    assert_eq!(arr.len(), 1);
    assert_eq!(arr[0]["Id"], id.as_str());
    assert_eq!(arr[0]["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(
        run_ok(&mut d.berth(&["image", "inspect", "-f", "{{.Id}}", "busybox"])),
        format!("{id}\n")
    );

    let missing = run(&mut d.berth(&["image", "inspect", "berth-no-such-image"]));
    assert_eq!(code(&missing), 1);
    assert_eq!(stdout(&missing), "[]\n");
    assert!(
        stderr(&missing).to_lowercase().contains("no such image"),
        "{}",
        stderr(&missing)
    );

    let history = run_ok(&mut d.berth(&["history", "busybox"]));
    let lines: Vec<&str> = history.lines().collect();
    assert!(lines.len() >= 2, "{history}");
    assert_eq!(
        lines[0].split_whitespace().collect::<Vec<_>>(),
        ["IMAGE", "CREATED", "CREATED", "BY", "SIZE", "COMMENT"],
        "{history}"
    );
    assert!(
        lines[1].starts_with(short(&id)),
        "newest entry carries the image ID: {history}"
    );
}

#[test]
fn save_then_load_into_a_fresh_daemon_keeps_the_image_id() {
    let (d, id) = with_busybox();
    let saved = d.dir().join("berth-saved.tar");
    let saved_str = saved.to_str().expect("utf-8 path");
    assert_eq!(
        run_ok(&mut d.berth(&["save", "-o", saved_str, "busybox:latest"])),
        ""
    );
    assert!(fs::metadata(&saved).expect("save wrote the file").len() > 1_000_000);

    let fresh = TestDaemon::start();
    assert_eq!(
        run_ok(&mut fresh.berth(&["load", "-i", saved_str])),
        "Loaded image: busybox:latest\n"
    );
    assert_eq!(
        run_ok(&mut fresh.berth(&["image", "inspect", "-f", "{{.Id}}", "busybox:latest"])),
        format!("{id}\n")
    );
    // `save` to stdout and `load` from stdin work too.
    let piped = run(&mut d.berth(&["save", "busybox:latest"]));
    assert_eq!(code(&piped), 0, "{}", stderr(&piped));
    run_ok(&mut fresh.berth(&["rmi", "busybox:latest"]));
    let out = run_with_stdin(&mut fresh.berth(&["load"]), Some(&piped.stdout));
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "Loaded image: busybox:latest\n");
}

#[test]
fn import_a_rootfs_from_stdin_with_a_cmd_change() {
    let d = TestDaemon::start();
    let tar = common::busybox_rootfs_tar();
    let out = run_with_stdin(
        &mut d.berth(&["import", "-c", "CMD [\"sh\"]", "-", "berthtest/imported:1"]),
        Some(&tar),
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    assert!(
        id.starts_with("sha256:") && id.len() == 71,
        "import prints the image ID: {id:?}"
    );
    let inspect: Value = serde_json::from_str(&run_ok(&mut d.berth(&[
        "image",
        "inspect",
        "berthtest/imported:1",
    ])))
    .expect("JSON");
    assert_eq!(inspect[0]["Id"], id.as_str());
    assert_eq!(inspect[0]["Config"]["Cmd"], serde_json::json!(["sh"]));
    assert_eq!(
        run_ok(&mut d.berth(&["run", "--rm", "berthtest/imported:1", "echo", "imported"])),
        "imported\n"
    );
}

#[test]
fn rmi_untags_then_deletes() {
    let (d, id) = with_busybox();
    run_ok(&mut d.berth(&["tag", "busybox:latest", "berthtest/bb:v1"]));
    assert_eq!(
        run_ok(&mut d.berth(&["rmi", "berthtest/bb:v1"])),
        "Untagged: berthtest/bb:v1\n"
    );
    assert_eq!(
        run_ok(&mut d.berth(&["images", "-q"])),
        format!("{}\n", short(&id))
    );

    let out = run_ok(&mut d.berth(&["rmi", "busybox:latest"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "Untagged: busybox:latest", "{out}");
    assert_eq!(lines[1], format!("Deleted: {id}"), "{out}");
    assert!(
        lines[2..].iter().all(|l| l.starts_with("Deleted: sha256:")),
        "{out}"
    );
    assert_eq!(run_ok(&mut d.berth(&["images", "-q"])), "");

    let again = run(&mut d.berth(&["rmi", "busybox:latest"]));
    assert_eq!(code(&again), 1);
    assert!(
        stderr(&again).contains("No such image: busybox:latest"),
        "{}",
        stderr(&again)
    );
}

#[test]
fn rmi_refuses_an_image_a_container_uses_unless_forced() {
    let (d, id) = with_busybox();
    let create = d.api_post_json(
        "/v1.41/containers/create",
        &serde_json::json!({"Image": "busybox:latest", "Cmd": ["true"]}),
    );
    assert_eq!(create.status, 201, "{}", create.text());
    let cid = create.json()["Id"].as_str().expect("Id").to_string();
    let refused = run(&mut d.berth(&["rmi", "busybox"]));
    assert_eq!(code(&refused), 1);
    let expected = format!(
        "conflict: unable to remove repository reference \"busybox\" (must force) - container {} is using its referenced image {}",
        &cid[..12],
        short(&id)
    );
    assert!(stderr(&refused).contains(&expected), "{}", stderr(&refused));
    let forced = run_ok(&mut d.berth(&["rmi", "-f", "busybox"]));
    assert!(forced.starts_with("Untagged: busybox:latest\n"), "{forced}");
    assert_eq!(
        d.api_delete(&format!("/v1.41/containers/{cid}")).status,
        204
    );
}

#[test]
fn run_prints_output_and_exits_zero() {
    let (d, _) = with_busybox();
    let out = run(&mut d.berth(&["run", "--rm", "busybox", "echo", "hi"]));
    assert_eq!(
        (code(&out), stdout(&out).as_str(), stderr(&out).as_str()),
        (0, "hi\n", "")
    );
}

#[test]
fn run_splits_stdout_and_stderr_and_passes_the_exit_code() {
    let (d, _) = with_busybox();
    let out = run(&mut d.berth(&[
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
}

#[test]
fn run_of_a_missing_or_unexecutable_command_exits_127_or_126() {
    let (d, _) = with_busybox();
    let missing = run(&mut d.berth(&["run", "--rm", "busybox", "nonexistent"]));
    assert_eq!(code(&missing), 127, "{}", stderr(&missing));
    assert!(
        stderr(&missing).contains("\"nonexistent\": executable file not found in $PATH"),
        "{}",
        stderr(&missing)
    );
    assert_eq!(stdout(&missing), "");
    let dir = run(&mut d.berth(&["run", "--rm", "busybox", "/etc"]));
    assert_eq!(code(&dir), 126, "{}", stderr(&dir));
    assert!(
        stderr(&dir).contains("\"/etc\": permission denied"),
        "{}",
        stderr(&dir)
    );
    // --rm removed both containers even though they never ran.
    assert_eq!(
        d.api_get("/v1.41/containers/json?all=1").json(),
        serde_json::json!([])
    );
}

#[test]
fn run_exit_codes_for_signals_match_dockerd() {
    let (d, _) = with_busybox();
    // PID 1 of a PID namespace ignores SIGKILL sent from inside it: dockerd exits 0 here.
    let init = run(&mut d.berth(&["run", "--rm", "busybox", "sh", "-c", "kill -9 $$"]));
    assert_eq!(code(&init), 0, "{}", stderr(&init));
    // A child killed by SIGKILL: the shell reports 128 + 9 and exits with it.
    let child = run(&mut d.berth(&[
        "run",
        "--rm",
        "busybox",
        "sh",
        "-c",
        "sh -c 'kill -9 $$'; exit $?",
    ]));
    assert_eq!(code(&child), 137, "{}", stderr(&child));
}

#[test]
fn run_applies_env_workdir_user_and_entrypoint() {
    let (d, _) = with_busybox();
    assert_eq!(
        run_ok(&mut d.berth(&[
            "run",
            "--rm",
            "-e",
            "FOO=bar",
            "-w",
            "/tmp",
            "busybox",
            "sh",
            "-c",
            "echo $FOO; pwd"
        ])),
        "bar\n/tmp\n"
    );
    assert_eq!(
        run_ok(&mut d.berth(&["run", "--rm", "-u", "nobody", "busybox", "id", "-u"])),
        "65534\n"
    );
    assert_eq!(
        run_ok(&mut d.berth(&["run", "--rm", "--entrypoint", "echo", "busybox", "a", "b"])),
        "a b\n"
    );
    // The image's Cmd (["sh"]) with stdin closed: sh reads EOF and exits 0.
    let out = run(&mut d.berth(&["run", "--rm", "busybox"]));
    assert_eq!(
        (code(&out), stdout(&out).as_str()),
        (0, ""),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_daemon_that_is_not_running_is_one_line_and_exit_1() {
    let d = TestDaemon::start();
    let sock = d.dir().join("berth-not-running.sock");
    let host = format!("unix://{}", sock.display());
    let mut cmd = std::process::Command::new(common::berth_cli());
    cmd.args(["-H", &host, "images"])
        .env_remove("DOCKER_HOST")
        .env_remove("BERTH_HOST");
    let out = run(&mut cmd);
    assert_eq!(code(&out), 1);
    assert_eq!(stdout(&out), "");
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err:?}");
    assert!(
        lines[0].contains(sock.to_str().expect("utf-8 path")),
        "the line names the socket: {err:?}"
    );
}
