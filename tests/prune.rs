//! Container and image prune through the API against a real `berthd`: what
//! each filter keeps and removes, and `SpaceReclaimed` against the measured
//! change of `du` over the data root's parts.

mod common;

use std::path::Path;
use std::process::Command;

use common::TestDaemon;
use serde_json::{Value, json};

/// `du -s --block-size=1` of `paths` together (hardlinks once, like the daemon).
fn du(paths: &[&Path]) -> u64 {
    let out = Command::new("du")
        .args(["-s", "-c", "--block-size=1"])
        .args(paths)
        .output()
        .expect("run du");
    assert!(out.status.success(), "du: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let total = text.lines().last().expect("du prints a total");
    total
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("du output {text:?}"))
}

fn within_5_percent(reported: u64, measured: u64) {
    let (r, m) = (reported as f64, measured as f64);
    assert!(
        (r - m).abs() <= 0.05 * m.max(1.0),
        "SpaceReclaimed {reported} vs measured du change {measured}"
    );
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Creates a container from `image` writing `kib` KiB of random data, runs it
/// to its end and returns its ID.
fn ran(d: &TestDaemon, image: &str, kib: u32, labels: Value) -> String {
    let resp = d.api_post_json(
        "/v1.41/containers/create",
        &json!({
            "Image": image,
            "Cmd": ["sh", "-c", format!("dd if=/dev/urandom of=/data bs=1024 count={kib} 2>/dev/null")],
            "Labels": labels,
        }),
    );
    assert_eq!(resp.status, 201, "create: {}", resp.text());
    let id = resp.json()["Id"].as_str().unwrap().to_owned();
    let start = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
    assert_eq!(start.status, 204, "start: {}", start.text());
    let wait = d.api_post(&format!("/v1.41/containers/{id}/wait"), b"");
    assert_eq!(wait.status, 200, "wait: {}", wait.text());
    assert_eq!(wait.json()["StatusCode"], 0);
    id
}

/// Commits container `id` (as `reference` when given) with `label`; returns the image ID.
fn commit(d: &TestDaemon, id: &str, reference: Option<(&str, &str)>, label: &str) -> String {
    let mut path = format!(
        "/v1.41/commit?container={id}&changes={}",
        urlencode(&format!("LABEL {label}"))
    );
    if let Some((repo, tag)) = reference {
        path.push_str(&format!("&repo={repo}&tag={tag}"));
    }
    let resp = d.api_post(&path, b"{}");
    assert_eq!(resp.status, 201, "commit: {}", resp.text());
    resp.json()["Id"].as_str().unwrap().to_owned()
}

fn image_exists(d: &TestDaemon, name: &str) -> bool {
    d.api_get(&format!("/v1.41/images/{name}/json")).status == 200
}

fn container_exists(d: &TestDaemon, id: &str) -> bool {
    d.api_get(&format!("/v1.41/containers/{id}/json")).status == 200
}

fn prune(d: &TestDaemon, what: &str, filters: Value) -> Value {
    let resp = d.api_post(
        &format!(
            "/v1.41/{what}/prune?filters={}",
            urlencode(&filters.to_string())
        ),
        b"",
    );
    assert_eq!(resp.status, 200, "{what} prune: {}", resp.text());
    resp.json()
}

#[test]
fn container_prune_honours_labels_and_until_and_reports_freed_space() {
    common::require_root();
    let d = TestDaemon::start();
    d.load_busybox("busybox:berth");
    let containers = d.data_root().join("containers");
    let keep = ran(&d, "busybox:berth", 300, json!({"berth.keep": "yes"}));
    let a = ran(&d, "busybox:berth", 700, json!({"berth.team": "a"}));
    let b = ran(&d, "busybox:berth", 500, json!({"berth.team": "b"}));

    // `until` in the past: every container is newer, nothing goes.
    let out = prune(&d, "containers", json!({"until": ["2000-01-01T00:00:00Z"]}));
    assert_eq!(out["ContainersDeleted"], Value::Null, "{out}");
    assert_eq!(out["SpaceReclaimed"], 0);

    // label= selects, label!= protects.
    let before = du(&[&containers]);
    let out = prune(&d, "containers", json!({"label": ["berth.team=a"]}));
    assert_eq!(out["ContainersDeleted"], json!([a]), "{out}");
    let after = du(&[&containers]);
    within_5_percent(out["SpaceReclaimed"].as_u64().unwrap(), before - after);
    assert!(
        out["SpaceReclaimed"].as_u64().unwrap() > 700 * 1024,
        "{out}"
    );
    assert!(!container_exists(&d, &a) && container_exists(&d, &b));

    let before = du(&[&containers]);
    let out = prune(&d, "containers", json!({"label!": ["berth.keep=yes"]}));
    assert_eq!(out["ContainersDeleted"], json!([b]), "{out}");
    let after = du(&[&containers]);
    within_5_percent(out["SpaceReclaimed"].as_u64().unwrap(), before - after);
    assert!(container_exists(&d, &keep));

    // A bad filter key is refused like dockerd does.
    let resp = d.api_post(
        "/v1.41/containers/prune?filters=%7B%22dangling%22%3A%5B%22x%22%5D%7D",
        b"",
    );
    assert_eq!(resp.status, 400);
    assert!(
        resp.text().contains("Invalid filter 'dangling'"),
        "{}",
        resp.text()
    );
}

#[test]
fn image_prune_takes_dangling_then_unused_and_never_a_used_or_shared_layer() {
    common::require_root();
    let d = TestDaemon::start();
    d.load_busybox("busybox:berth");
    let parts = [d.data_root().join("image"), d.data_root().join("snapshots")];
    let parts: Vec<&Path> = parts.iter().map(|p| p.as_path()).collect();

    let c1 = ran(&d, "busybox:berth", 600, json!({}));
    let dangling = commit(&d, &c1, None, "berth.kind=dangling");
    let c2 = ran(&d, "busybox:berth", 800, json!({}));
    let unused = commit(&d, &c2, Some(("berth-unused", "v1")), "berth.kind=unused");
    let c3 = ran(&d, "busybox:berth", 400, json!({}));
    let used = commit(&d, &c3, Some(("berth-used", "v1")), "berth.kind=used");
    // A container of berth-used keeps it (and its layers) whatever the filters.
    let user = d.api_post_json(
        "/v1.41/containers/create",
        &json!({"Image": "berth-used:v1", "Cmd": ["true"]}),
    );
    assert_eq!(user.status, 201, "{}", user.text());
    for c in [&c1, &c2, &c3] {
        assert_eq!(d.api_delete(&format!("/v1.41/containers/{c}")).status, 204);
    }

    // Default: dangling only.
    let before = du(&parts);
    let out = prune(&d, "images", json!({}));
    let after = du(&parts);
    assert_eq!(out["ImagesDeleted"][0]["Deleted"], json!(dangling), "{out}");
    within_5_percent(out["SpaceReclaimed"].as_u64().unwrap(), before - after);
    assert!(
        out["SpaceReclaimed"].as_u64().unwrap() > 600 * 1024,
        "{out}"
    );
    assert!(!image_exists(&d, &dangling));
    assert!(image_exists(&d, "berth-unused:v1") && image_exists(&d, "berth-used:v1"));

    // All unused, filtered by label: only the labelled one goes.
    let out = prune(
        &d,
        "images",
        json!({"dangling": ["false"], "label": ["berth.kind=nothing"]}),
    );
    assert_eq!(out["ImagesDeleted"], Value::Null, "{out}");
    let before = du(&parts);
    let out = prune(
        &d,
        "images",
        json!({"dangling": ["false"], "label": ["berth.kind=unused"]}),
    );
    let after = du(&parts);
    let deleted: Vec<&str> = out["ImagesDeleted"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|r| r["Deleted"].as_str())
        .collect();
    assert!(deleted.contains(&unused.as_str()), "{out}");
    assert!(
        out["ImagesDeleted"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["Untagged"] == "berth-unused:v1"),
        "{out}"
    );
    within_5_percent(out["SpaceReclaimed"].as_u64().unwrap(), before - after);
    assert!(image_exists(&d, "busybox:berth"));

    // Everything unused: the used image stays, and so does busybox's layer
    // (the used image is built on it), though busybox's tag goes.
    let before = du(&parts);
    let out = prune(&d, "images", json!({"dangling": ["false"]}));
    let after = du(&parts);
    within_5_percent(out["SpaceReclaimed"].as_u64().unwrap(), before - after);
    assert!(image_exists(&d, &used) && image_exists(&d, "berth-used:v1"));
    let run = d.api_post(
        &format!(
            "/v1.41/containers/{}/start",
            user.json()["Id"].as_str().unwrap()
        ),
        b"",
    );
    assert_eq!(run.status, 204, "the kept image still runs: {}", run.text());

    let e = d.api_post(
        "/v1.41/images/prune?filters=%7B%22until%22%3A%5B%22soon%22%5D%7D",
        b"",
    );
    assert_eq!(e.status, 400);
    assert!(
        e.text()
            .contains("failed to parse value as time or duration"),
        "{}",
        e.text()
    );
}

/// A build context holding only `dockerfile`.
fn context(dockerfile: &str) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(dockerfile.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, "Dockerfile", dockerfile.as_bytes())
        .unwrap();
    b.into_inner().unwrap()
}

#[test]
fn build_prune_honours_until_and_labels_and_measures_what_it_frees() {
    common::require_root();
    let d = TestDaemon::start();
    d.load_busybox("busybox:berth");
    let r = d.api(
        "POST",
        "/v1.41/build?t=berth-built:1",
        &[("Content-Type", "application/x-tar")],
        &context(
            "FROM busybox:berth\nRUN dd if=/dev/urandom of=/a bs=1024 count=500 2>/dev/null\nLABEL berth.stage=one\nRUN dd if=/dev/urandom of=/b bs=1024 count=300 2>/dev/null\n",
        ),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(!r.text().contains("errorDetail"), "{}", r.text());
    // The built image goes, so its intermediate images are only the cache's.
    assert_eq!(d.api_delete("/v1.41/images/berth-built:1").status, 200);

    let parts = [d.data_root().join("image"), d.data_root().join("snapshots")];
    let parts: Vec<&Path> = parts.iter().map(|p| p.as_path()).collect();
    let out = prune(&d, "build", json!({"label": ["berth.stage=nothing"]}));
    assert_eq!(out["CachesDeleted"], Value::Null, "{out}");
    let out = prune(&d, "build", json!({"until": ["2000-01-01T00:00:00Z"]}));
    assert_eq!(out["SpaceReclaimed"], 0, "{out}");
    assert_eq!(out["CachesDeleted"], Value::Null, "{out}");

    let before = du(&parts);
    let out = prune(&d, "build", json!({}));
    let after = du(&parts);
    assert!(
        !out["CachesDeleted"].as_array().unwrap().is_empty(),
        "{out}"
    );
    within_5_percent(out["SpaceReclaimed"].as_u64().unwrap(), before - after);
    assert!(
        out["SpaceReclaimed"].as_u64().unwrap() > 500 * 1024,
        "{out}"
    );
    assert!(image_exists(&d, "busybox:berth"));

    let e = d.api_post(
        "/v1.41/build/prune?filters=%7B%22bogus%22%3A%5B%22x%22%5D%7D",
        b"",
    );
    assert_eq!(e.status, 400, "{}", e.text());
}

#[test]
fn a_create_racing_image_prune_never_loses_its_image() {
    common::require_root();
    let d = std::sync::Arc::new(TestDaemon::start());
    let image = d.load_busybox("busybox:berthrace");
    let creator = {
        let d = d.clone();
        let image = image.clone();
        std::thread::spawn(move || {
            let mut created = 0;
            for _ in 0..200 {
                let resp = d.api_post_json(
                    "/v1.41/containers/create",
                    &json!({"Image": image, "Cmd": ["true"]}),
                );
                if resp.status == 404 {
                    // Pruned before this create resolved it: a clean refusal.
                    return created;
                }
                assert_eq!(resp.status, 201, "create: {}", resp.text());
                let id = resp.json()["Id"].as_str().unwrap().to_owned();
                // While the container exists its image (and layers) must.
                let img = d.api_get(&format!("/v1.41/images/{image}/json"));
                assert_eq!(img.status, 200, "the image of {id} was pruned");
                let start = d.api_post(&format!("/v1.41/containers/{id}/start"), b"");
                assert_eq!(start.status, 204, "start {id}: {}", start.text());
                let wait = d.api_post(&format!("/v1.41/containers/{id}/wait"), b"");
                assert_eq!(wait.status, 200, "{}", wait.text());
                assert_eq!(d.api_delete(&format!("/v1.41/containers/{id}")).status, 204);
                created += 1;
            }
            created
        })
    };
    let mut prunes = 0;
    while !creator.is_finished() {
        prune(&d, "images", json!({"dangling": ["false"]}));
        prunes += 1;
    }
    let created = creator.join().expect("the creating thread's checks hold");
    assert!(prunes > 0 && created <= 200);
}
