//! The real `docker events` (docker 28 client, `/usr/local/bin/docker` or
//! `$BERTH_DOCKER_CLI`) against berthd (issue 10, item 3). The expected
//! sequences were recorded from Debian's dockerd 20.10.24 on this machine
//! for the same commands; `--until` is a time after the operations, so each
//! `docker events` ends by itself.

mod common;

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;

use common::{TestDaemon, run_ok};

fn now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

fn parse(lines: &str) -> Vec<Value> {
    lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

/// The `Action`s of the container events of `id`, in order.
fn container_actions(evs: &[Value], id: &str) -> Vec<String> {
    evs.iter()
        .filter(|e| e["Type"] == "container" && e["Actor"]["ID"] == id)
        .map(|e| e["Action"].as_str().unwrap().to_owned())
        .collect()
}

#[test]
fn docker_events_streams_the_recorded_sequence() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let since = now();
    // `docker run` (attached) of a container that exits 3.
    let out = d
        .docker(&[
            "run",
            "--name",
            "berth-evr",
            "--label",
            "foo=bar",
            "busybox",
            "sh",
            "-c",
            "exit 3",
        ])
        .output()
        .expect("docker run");
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    let runner = run_ok(&mut d.docker(&["inspect", "-f", "{{.Id}}", "berth-evr"]));
    let runner = runner.trim().to_owned();
    // A long-running one with an exec, then removed by force.
    let sleeper = run_ok(&mut d.docker(&[
        "run",
        "-d",
        "--name",
        "berth-evs",
        "busybox",
        "sleep",
        "100",
    ]));
    let sleeper = sleeper.trim().to_owned();
    run_ok(&mut d.docker(&["exec", "berth-evs", "true"]));
    run_ok(&mut d.docker(&["rm", "-f", "berth-evr", "berth-evs"]));
    run_ok(&mut d.docker(&["volume", "create", "berthevv"]));
    run_ok(&mut d.docker(&["volume", "rm", "berthevv"]));
    let until = now();

    let json = run_ok(&mut d.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--format",
        "{{json .}}",
    ]));
    let evs = parse(&json);
    assert_eq!(
        container_actions(&evs, &runner),
        ["create", "attach", "start", "die", "destroy"],
        "{json}"
    );
    assert_eq!(
        container_actions(&evs, &sleeper),
        [
            "create",
            "start",
            "exec_create: true ",
            "exec_start: true ",
            "exec_die",
            "kill",
            "die",
            "destroy"
        ],
        "{json}"
    );
    let die = evs
        .iter()
        .find(|e| e["Action"] == "die" && e["Actor"]["ID"] == runner.as_str())
        .unwrap();
    assert_eq!(die["status"], "die");
    assert_eq!(die["from"], "busybox");
    assert_eq!(die["scope"], "local");
    assert_eq!(
        die["Actor"]["Attributes"],
        serde_json::json!({"exitCode": "3", "foo": "bar", "image": "busybox", "name": "berth-evr"})
    );
    let kill = evs.iter().find(|e| e["Action"] == "kill").unwrap();
    assert_eq!(kill["Actor"]["Attributes"]["signal"], "9");
    let exec_die = evs.iter().find(|e| e["Action"] == "exec_die").unwrap();
    assert_eq!(exec_die["Actor"]["Attributes"]["exitCode"], "0");
    assert!(
        exec_die["Actor"]["Attributes"]["execID"]
            .as_str()
            .unwrap()
            .len()
            == 64
    );
    let vols: Vec<&str> = evs
        .iter()
        .filter(|e| e["Type"] == "volume")
        .map(|e| e["Action"].as_str().unwrap())
        .collect();
    assert_eq!(vols, ["create", "destroy"]);

    // Two filters of different keys must both hold.
    let text = run_ok(&mut d.docker(&[
        "events",
        "--since",
        &since,
        "--until",
        &until,
        "--filter",
        "type=container",
        "--filter",
        "event=die",
    ]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert!(
        lines[0].ends_with(&format!(
            " container die {runner} (exitCode=3, foo=bar, image=busybox, name=berth-evr)"
        )),
        "{text}"
    );
    assert!(
        lines[1].ends_with(&format!(
            " container die {sleeper} (exitCode=137, image=busybox, name=berth-evs)"
        )),
        "{text}"
    );
}
