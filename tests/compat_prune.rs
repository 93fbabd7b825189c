//! Prune and disk usage through the real `docker` CLI (version 28) against a
//! real `berthd`: `docker system df`, `docker image prune -a -f --filter
//! until=...`, `docker system prune -a --volumes -f`, and `berth`'s own
//! prompts and reports, which must read like docker's.

mod common;

use serde_json::{Value, json};

use common::{TestDaemon, run_ok, run_with_stdin, stdout};

fn ran(d: &TestDaemon, body: Value) -> String {
    let resp = d.api_post_json("/v1.41/containers/create", &body);
    assert_eq!(resp.status, 201, "create: {}", resp.text());
    let id = resp.json()["Id"].as_str().unwrap().to_owned();
    assert_eq!(
        d.api_post(&format!("/v1.41/containers/{id}/start"), b"")
            .status,
        204
    );
    let wait = d.api_post(&format!("/v1.41/containers/{id}/wait"), b"");
    assert_eq!(wait.json()["StatusCode"], 0, "{}", wait.text());
    id
}

/// A stopped container, a committed image, a dangling image, a user network
/// and two unused volumes (one named, one anonymous).
fn litter(d: &TestDaemon) -> (String, String) {
    d.load_busybox("busybox:berth");
    let writer = ran(
        d,
        json!({"Image": "busybox:berth", "Cmd": ["sh", "-c", "dd if=/dev/urandom of=/f bs=1024 count=400 2>/dev/null"]}),
    );
    let commit = d.api_post(
        &format!("/v1.41/commit?container={writer}&repo=berth-compat&tag=v1"),
        b"{}",
    );
    assert_eq!(commit.status, 201, "{}", commit.text());
    let dangling = d.api_post(&format!("/v1.41/commit?container={writer}"), b"{}");
    assert_eq!(dangling.status, 201, "{}", dangling.text());
    let volumes = ran(
        d,
        json!({
            "Image": "busybox:berth",
            "Cmd": ["sh", "-c", "echo x > /named/f && echo y > /anon/f"],
            "Volumes": {"/anon": {}},
            "HostConfig": {"Binds": ["berth-compat-vol:/named"]},
        }),
    );
    run_ok(&mut d.docker(&["network", "create", "berth-compat-net"]));
    (writer, volumes)
}

#[test]
fn docker_system_df_prune_and_filters_work_against_berthd() {
    common::require_root();
    let d = TestDaemon::start();
    let (writer, volumes) = litter(&d);

    // docker's table is berth's table, row for row.
    let docker_df = run_ok(&mut d.docker(&["system", "df"]));
    let berth_df = run_ok(&mut d.berth(&["system", "df"]));
    assert_eq!(docker_df, berth_df);
    let lines: Vec<&str> = docker_df.lines().collect();
    assert!(lines[0].starts_with("TYPE "), "{docker_df}");
    assert!(
        lines[1].starts_with("Images ") && lines[1].contains(" 3 "),
        "{docker_df}"
    );
    assert!(
        lines[2].starts_with("Containers ") && lines[2].contains(" 2 "),
        "{docker_df}"
    );
    assert!(lines[3].starts_with("Local Volumes "), "{docker_df}");
    let docker_v = run_ok(&mut d.docker(&["system", "df", "-v"]));
    assert!(
        docker_v.contains("Images space usage:") && docker_v.contains("berth-compat"),
        "{docker_v}"
    );

    // Everything is newer than 2000: an until filter in the past keeps all.
    let out = run_ok(&mut d.docker(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "until=2000-01-01T00:00:00Z",
    ]));
    assert_eq!(out, "Total reclaimed space: 0B\n");
    let out = run_ok(&mut d.berth(&[
        "image",
        "prune",
        "-a",
        "-f",
        "--filter",
        "until=2000-01-01T00:00:00Z",
    ]));
    assert_eq!(out, "Total reclaimed space: 0B\n");

    // A "no" cancels quietly, the same in both CLIs.
    for cli in [
        d.docker(&["system", "prune"]),
        d.berth(&["system", "prune"]),
    ] {
        let mut cli = cli;
        let out = run_with_stdin(&mut cli, Some(b"n\n"));
        assert!(out.status.success(), "{out:?}");
        assert_eq!(
            stdout(&out),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all dangling images\n  - unused build cache\n\nAre you sure you want to continue? [y/N] "
        );
    }

    let out = run_ok(&mut d.docker(&["system", "prune", "-a", "--volumes", "-f"]));
    assert!(out.starts_with("Deleted Containers:\n"), "{out}");
    for id in [&writer, &volumes] {
        assert!(out.contains(&format!("\n{id}\n")), "{out}");
    }
    assert!(
        out.contains("Deleted Networks:\nberth-compat-net\n\n"),
        "{out}"
    );
    assert!(out.contains("Deleted Volumes:\n"), "{out}");
    assert!(out.contains("Deleted Images:\n"), "{out}");
    assert!(out.contains("untagged: berth-compat:v1\n"), "{out}");
    assert!(out.contains("untagged: busybox:berth\n"), "{out}");
    assert!(out.contains("\nTotal reclaimed space: "), "{out}");
    assert!(!out.ends_with("Total reclaimed space: 0B\n"), "{out}");

    // Nothing is left: no container, image, user network; and API 1.41
    // (which docker 28 negotiates with berthd) prunes named volumes too.
    assert_eq!(run_ok(&mut d.docker(&["ps", "-aq"])), "");
    assert_eq!(run_ok(&mut d.docker(&["images", "-aq"])), "");
    assert_eq!(
        run_ok(&mut d.docker(&["network", "ls", "-q", "--filter", "name=berth-compat"])),
        ""
    );
    assert_eq!(run_ok(&mut d.docker(&["volume", "ls", "-q"])), "");
    let df = d.api_get("/v1.41/system/df").json();
    assert_eq!(df["Images"], json!([]), "{df}");
    assert_eq!(df["Containers"], json!([]), "{df}");

    // berth's report reads like docker's: the same sections and total line.
    d.load_busybox("busybox:berth");
    let again = ran(&d, json!({"Image": "busybox:berth", "Cmd": ["true"]}));
    let out = run_ok(&mut d.berth(&["container", "prune", "-f"]));
    let (head, total) = out.split_once("\nTotal reclaimed space: ").unwrap();
    assert_eq!(head, format!("Deleted Containers:\n{again}\n"));
    assert!(total.ends_with("B\n"), "{out}");
}
