//! `GET /system/df` and `berth system df` against a real `berthd`: the sizes
//! agree with `du -s --block-size=1` of the data root's parts within 5%.

mod common;

use std::path::Path;
use std::process::Command;

use common::{TestDaemon, run_ok};
use serde_json::{Value, json};

fn du(paths: &[&Path]) -> u64 {
    let out = Command::new("du")
        .args(["-s", "-c", "--block-size=1"])
        .args(paths)
        .output()
        .expect("run du");
    assert!(out.status.success(), "du: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .last()
        .and_then(|l| l.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("du output {text:?}"))
}

fn close(what: &str, reported: u64, measured: u64) {
    let (r, m) = (reported as f64, measured as f64);
    assert!(
        (r - m).abs() <= 0.05 * m.max(1.0),
        "{what}: df says {reported}, du says {measured}"
    );
}

/// Runs a container to its end; `cmd` is a shell line.
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

#[test]
fn df_agrees_with_du_and_counts_shared_layers_once() {
    common::require_root();
    let d = TestDaemon::start();
    d.load_busybox("busybox:berth");
    let write = |kib: u32, path: &str| {
        format!("dd if=/dev/urandom of={path} bs=1024 count={kib} 2>/dev/null")
    };
    let c1 = ran(
        &d,
        json!({"Image": "busybox:berth", "Cmd": ["sh", "-c", write(900, "/big")]}),
    );
    let commit = d.api_post(
        &format!("/v1.41/commit?container={c1}&repo=berth-df&tag=v1"),
        b"{}",
    );
    assert_eq!(commit.status, 201, "{}", commit.text());
    let committed = commit.json()["Id"].as_str().unwrap().to_owned();
    ran(
        &d,
        json!({
            "Image": "busybox:berth",
            "Cmd": ["sh", "-c", format!("{} && {}", write(700, "/v/data"), write(300, "/rw"))],
            "HostConfig": {"Binds": ["berth-df-vol:/v"]},
        }),
    );

    let df = d.api_get("/v1.41/system/df");
    assert_eq!(df.status, 200, "{}", df.text());
    let df = df.json();
    let root = d.data_root();

    let layers = df["LayersSize"].as_u64().unwrap();
    close(
        "LayersSize",
        layers,
        du(&[&root.join("image"), &root.join("snapshots")]),
    );
    let rw: u64 = df["Containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["SizeRw"].as_u64().unwrap())
        .sum();
    close("containers' SizeRw", rw, du(&[&root.join("containers")]));
    let vol = df["Volumes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["Name"] == "berth-df-vol")
        .unwrap_or_else(|| panic!("volume listed: {df}"));
    assert_eq!(vol["UsageData"]["RefCount"], 1, "{vol}");
    close(
        "volume size",
        vol["UsageData"]["Size"].as_u64().unwrap(),
        du(&[&root.join("volumes")]),
    );
    assert_eq!(
        df["BuildCache"],
        Value::Null,
        "dockerd 20.10's classic builder: {df}"
    );

    // The committed image shares busybox's layer: its unique part is the
    // 900 KiB layer, and the shared part is busybox's size.
    let images = df["Images"].as_array().unwrap();
    let find = |id: &str| {
        images
            .iter()
            .find(|i| i["Id"] == id)
            .unwrap_or_else(|| panic!("{id} in {df}"))
    };
    let busybox_id = d.api_get("/v1.41/images/busybox:berth/json").json()["Id"]
        .as_str()
        .unwrap()
        .to_owned();
    let (bb, mine) = (find(&busybox_id), find(&committed));
    assert_eq!(bb["Containers"], 2, "{bb}");
    assert_eq!(mine["Containers"], 0, "{mine}");
    let unique = mine["Size"].as_u64().unwrap() - mine["SharedSize"].as_u64().unwrap();
    assert!(
        (900 * 1024..1100 * 1024).contains(&unique),
        "unique size of the commit: {unique} ({mine})"
    );
    assert!(mine["SharedSize"].as_u64().unwrap() > 0, "{mine}");
    let sum_unique: u64 = images
        .iter()
        .map(|i| i["Size"].as_u64().unwrap() - i["SharedSize"].as_u64().unwrap())
        .sum();
    assert!(
        sum_unique + bb["SharedSize"].as_u64().unwrap() <= layers + 64 * 1024,
        "shared parts are counted once in LayersSize: {df}"
    );

    // The CLI's table: four rows, docker's headers.
    let out = run_ok(&mut d.berth(&["system", "df"]));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 5, "{out}");
    assert!(
        lines[0].starts_with("TYPE") && lines[0].contains("RECLAIMABLE"),
        "{out}"
    );
    assert!(
        lines[1].starts_with("Images ") && lines[1].contains("2 "),
        "{out}"
    );
    assert!(lines[2].starts_with("Containers "), "{out}");
    assert!(lines[3].starts_with("Local Volumes "), "{out}");
    assert!(lines[4].starts_with("Build Cache "), "{out}");
    let json_out = run_ok(&mut d.berth(&["system", "df", "--format", "{{json .}}"]));
    let first: Value = serde_json::from_str(json_out.lines().next().unwrap()).unwrap();
    assert_eq!(first["Type"], "Images");
    let verbose = run_ok(&mut d.berth(&["system", "df", "-v"]));
    assert!(
        verbose.contains("Images space usage:") && verbose.contains("berth-df"),
        "{verbose}"
    );

    // What df calls reclaimable in containers is what a prune frees.
    let reclaimable = rw;
    let pruned = d.api_post("/v1.41/containers/prune", b"").json();
    close(
        "container prune vs df",
        pruned["SpaceReclaimed"].as_u64().unwrap(),
        reclaimable,
    );
}
