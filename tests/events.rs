//! `GET /events` and `berth events` (issue 10, item 3): a recorded window of
//! operations (`since` before them, `until` after them, so every stream ends
//! by itself) replayed in dockerd 20.10's JSON shape, with filters and the
//! CLI's `--since/--until/--filter/--format`.
//!
//! The expected sequences and attribute sets were recorded from Debian's
//! dockerd 20.10.24 on this machine (started like the harness's RefDockerd)
//! with `curl --unix-socket S 'http://x/v1.41/events?since=…&until=…'`.

mod common;

use std::io::{Read, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use common::{TestDaemon, run_ok};

/// Now as dockerd's `seconds.nanoseconds` timestamp.
fn now() -> String {
    let d = SystemTime::now().duration_since(UNIX_EPOCH).unwrap();
    format!("{}.{:09}", d.as_secs(), d.subsec_nanos())
}

fn events(d: &TestDaemon, query: &str) -> Vec<Value> {
    let resp = d.api_get(&format!("/v1.41/events?{query}"));
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(resp.header("content-type"), Some("application/json"));
    resp.text()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l}: {e}")))
        .collect()
}

fn enc(filters: &Value) -> String {
    form_urlencoded::byte_serialize(filters.to_string().as_bytes()).collect()
}

/// `(Type, Action)` of each event concerning actor `id`.
fn actions_of(evs: &[Value], id: &str) -> Vec<(String, String)> {
    evs.iter()
        .filter(|e| e["Actor"]["ID"] == id)
        .map(|e| {
            (
                e["Type"].as_str().unwrap().to_owned(),
                e["Action"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

struct Recorded {
    since: String,
    until: String,
    container: String,
    image: String,
    network: String,
}

/// Runs the operations the issue lists and returns the window they fall in.
fn record(d: &TestDaemon) -> Recorded {
    let image = d.load_busybox("busybox:latest");
    let since = now();
    let resp = d.api_post_json(
        "/v1.41/containers/create?name=berth-ev1",
        &json!({"Image": "busybox", "Cmd": ["sh", "-c", "exit 3"], "Labels": {"foo": "bar"}}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    let container = resp.json()["Id"].as_str().unwrap().to_owned();
    let start = d.api_post(&format!("/v1.41/containers/{container}/start"), b"");
    assert_eq!(start.status, 204, "{}", start.text());
    let wait = d.api_post(&format!("/v1.41/containers/{container}/wait"), b"");
    assert_eq!(wait.json()["StatusCode"], 3);
    let rm = d.api_delete(&format!("/v1.41/containers/{container}"));
    assert_eq!(rm.status, 204, "{}", rm.text());
    let tag = d.api_post("/v1.41/images/busybox/tag?repo=berthev&tag=t2", b"");
    assert_eq!(tag.status, 201, "{}", tag.text());
    let untag = d.api_delete("/v1.41/images/berthev:t2");
    assert_eq!(untag.status, 200, "{}", untag.text());
    let vol = d.api_post_json("/v1.41/volumes/create", &json!({"Name": "berthevvol"}));
    assert_eq!(vol.status, 201, "{}", vol.text());
    assert_eq!(d.api_delete("/v1.41/volumes/berthevvol").status, 204);
    let net = d.api_post_json("/v1.41/networks/create", &json!({"Name": "berthevnet"}));
    assert_eq!(net.status, 201, "{}", net.text());
    let network = net.json()["Id"].as_str().unwrap().to_owned();
    assert_eq!(d.api_delete("/v1.41/networks/berthevnet").status, 204);
    Recorded {
        since,
        until: now(),
        container,
        image,
        network,
    }
}

#[test]
fn api_replays_a_window_in_dockerd_shape_with_filters() {
    let d = TestDaemon::start();
    let r = record(&d);
    let all = events(&d, &format!("since={}&until={}", r.since, r.until));
    assert_eq!(
        actions_of(&all, &r.container),
        pairs(&[
            ("container", "create"),
            ("container", "start"),
            ("container", "die"),
            ("container", "destroy"),
        ]),
        "{all:#?}"
    );
    let die = all
        .iter()
        .find(|e| e["Action"] == "die")
        .expect("a die event");
    // Field for field what dockerd 20.10 sends (time aside).
    let mut shape = die.clone();
    let t = shape.as_object_mut().unwrap();
    assert!(t.remove("time").unwrap().as_i64().unwrap() > 0);
    assert!(t.remove("timeNano").unwrap().as_i64().unwrap() > 0);
    assert_eq!(
        shape,
        json!({"status": "die", "id": r.container, "from": "busybox", "Type": "container",
            "Action": "die", "Actor": {"ID": r.container, "Attributes":
            {"exitCode": "3", "foo": "bar", "image": "busybox", "name": "berth-ev1"}},
            "scope": "local"})
    );
    assert_eq!(
        actions_of(&all, &r.image),
        pairs(&[("image", "tag"), ("image", "untag")])
    );
    let tag = all.iter().find(|e| e["Action"] == "tag").unwrap();
    assert_eq!(tag["Actor"]["Attributes"], json!({"name": "berthev:t2"}));
    assert!(tag.get("from").is_none());
    assert_eq!(
        actions_of(&all, "berthevvol"),
        pairs(&[("volume", "create"), ("volume", "destroy")])
    );
    let vol = all.iter().find(|e| e["Type"] == "volume").unwrap();
    assert_eq!(vol["Actor"]["Attributes"], json!({"driver": "local"}));
    assert!(vol.get("status").is_none() && vol.get("id").is_none());
    assert_eq!(
        actions_of(&all, &r.network),
        pairs(&[("network", "create"), ("network", "destroy")])
    );
    let net = all
        .iter()
        .find(|e| e["Actor"]["ID"] == r.network.as_str())
        .unwrap();
    assert_eq!(
        net["Actor"]["Attributes"],
        json!({"name": "berthevnet", "type": "bridge"})
    );
    // The default bridge: connect at start, disconnect after the exit.
    let bridge: Vec<&Value> = all
        .iter()
        .filter(|e| e["Type"] == "network" && e["Actor"]["Attributes"]["name"] == "bridge")
        .collect();
    assert_eq!(bridge.len(), 2, "{bridge:#?}");
    assert_eq!(bridge[0]["Action"], "connect");
    assert_eq!(bridge[1]["Action"], "disconnect");
    assert_eq!(
        bridge[0]["Actor"]["Attributes"]["container"],
        r.container.as_str()
    );
    // Times are ordered and inside the window.
    let nanos: Vec<i64> = all
        .iter()
        .map(|e| e["timeNano"].as_i64().unwrap())
        .collect();
    assert!(nanos.windows(2).all(|w| w[0] <= w[1]));

    let window = format!("since={}&until={}", r.since, r.until);
    let f = enc(&json!({"type": ["container"], "event": ["die"]}));
    let dies = events(&d, &format!("{window}&filters={f}"));
    assert_eq!(dies.len(), 1, "{dies:#?}");
    assert_eq!(dies[0]["Actor"]["Attributes"]["exitCode"], "3");
    let f = enc(&json!({"label": ["foo=bar"]}));
    let labelled = events(&d, &format!("{window}&filters={f}"));
    assert_eq!(labelled.len(), 4);
    let f = enc(&json!({"container": ["berth-ev"]}));
    assert_eq!(events(&d, &format!("{window}&filters={f}")).len(), 4);
    let f = enc(&json!({"type": ["volume", "network"]}));
    assert!(
        events(&d, &format!("{window}&filters={f}"))
            .iter()
            .all(|e| e["Type"] == "volume" || e["Type"] == "network")
    );
    let f = enc(&json!({"image": ["busybox"], "type": ["container"]}));
    assert_eq!(events(&d, &format!("{window}&filters={f}")).len(), 4);

    // An `until` before `since` is dockerd's 400; a bad timestamp too.
    let bad = d.api_get(&format!(
        "/v1.41/events?since={}&until={}",
        r.until, r.since
    ));
    assert_eq!(bad.status, 400);
    assert!(bad.error_message().contains("cannot be after `until` time"));
    let bad = d.api_get("/v1.41/events?since=5&until=3");
    assert_eq!(
        bad.error_message(),
        "`since` time (5) cannot be after `until` time (3)"
    );
    // `until` alone replays what came before it, as dockerd does.
    let before = events(&d, &format!("until={}", r.until));
    assert_eq!(
        actions_of(&before, &r.container),
        actions_of(&all, &r.container)
    );
    let bad = d.api_get("/v1.41/events?since=abc&until=1");
    assert_eq!(bad.status, 400);
    assert_eq!(
        bad.error_message(),
        "strconv.ParseInt: parsing \"abc\": invalid syntax"
    );
}

#[test]
fn cli_prints_dockers_lines_and_templates() {
    let d = TestDaemon::start();
    let r = record(&d);
    let window = ["--since", r.since.as_str(), "--until", r.until.as_str()];
    let json_lines =
        run_ok(&mut d.berth(&[&["events"][..], &window, &["--format", "{{json .}}"]].concat()));
    let api = d
        .api_get(&format!(
            "/v1.41/events?since={}&until={}",
            r.since, r.until
        ))
        .text();
    assert_eq!(json_lines, api);

    let text =
        run_ok(&mut d.berth(&[&["events"][..], &window, &["--filter", "event=die"]].concat()));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "{text}");
    let expected_tail = format!(
        " container die {} (exitCode=3, foo=bar, image=busybox, name=berth-ev1)",
        r.container
    );
    assert!(lines[0].ends_with(&expected_tail), "{text}");
    // `2026-11-22T07:00:00.123456789Z` (or a local offset): nanoseconds always.
    let stamp = lines[0].split(' ').next().unwrap();
    assert_eq!(
        stamp.split('.').nth(1).map(|f| f[..9].len()),
        Some(9),
        "{stamp}"
    );
    assert!(
        chrono::DateTime::parse_from_rfc3339(stamp).is_ok(),
        "{stamp}"
    );

    let ids = run_ok(
        &mut d.berth(
            &[
                &["events"][..],
                &window,
                &[
                    "--filter",
                    "type=volume",
                    "--format",
                    "{{.Type}} {{.Action}} {{.Actor.ID}}",
                ],
            ]
            .concat(),
        ),
    );
    assert_eq!(ids, "volume create berthevvol\nvolume destroy berthevvol\n");
}

#[test]
fn volume_mounts_and_the_live_stream() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    // Live: subscribed before the operation, no `until`; read until the
    // event arrives, then hang up.
    let mut live = std::os::unix::net::UnixStream::connect(d.socket_path()).unwrap();
    let f = enc(&json!({"type": ["volume"], "volume": ["berthlive"]}));
    write!(
        live,
        "GET /v1.41/events?filters={f} HTTP/1.1\r\nHost: berth\r\n\r\n"
    )
    .unwrap();
    // The headers arrive first: the subscription exists once they do.
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !got.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = live.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "stream closed early: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    let since = now();
    let resp = d.api_post_json(
        "/v1.41/containers/create?name=berth-evm",
        &json!({"Image": "busybox", "Cmd": ["true"], "HostConfig": {"Binds": ["berthlive:/v:ro"]}}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    let id = resp.json()["Id"].as_str().unwrap().to_owned();
    live.set_read_timeout(Some(std::time::Duration::from_secs(60)))
        .unwrap();
    while !String::from_utf8_lossy(&got).contains("\"Action\":\"create\"") {
        let n = live.read(&mut buf).expect("the live event within a minute");
        assert!(n > 0, "stream closed: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&buf[..n]);
    }
    drop(live);
    assert_eq!(
        d.api_post(&format!("/v1.41/containers/{id}/start"), b"")
            .status,
        204
    );
    let wait = d.api_post(&format!("/v1.41/containers/{id}/wait"), b"");
    assert_eq!(wait.json()["StatusCode"], 0);
    let until = now();
    let f = enc(&json!({"type": ["volume"]}));
    let vols = events(&d, &format!("since={since}&until={until}&filters={f}"));
    let seen: Vec<(&str, &Value)> = vols
        .iter()
        .map(|e| (e["Action"].as_str().unwrap(), &e["Actor"]["Attributes"]))
        .collect();
    assert_eq!(
        seen,
        [
            ("create", &json!({"driver": "local"})),
            (
                "mount",
                &json!({"container": id, "destination": "/v", "driver": "local",
                    "propagation": "", "read/write": "false"})
            ),
            ("unmount", &json!({"container": id, "driver": "local"})),
        ],
        "{vols:#?}"
    );
}

#[test]
fn prunes_publish_what_dockerd_20_10_publishes() {
    let d = TestDaemon::start();
    let image = d.load_busybox("busybox:latest");
    let resp = d.api_post_json(
        "/v1.41/containers/create?name=berth-evp",
        &json!({"Image": "busybox", "Cmd": ["true"]}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    let container = resp.json()["Id"].as_str().unwrap().to_owned();
    let net = d.api_post_json("/v1.41/networks/create", &json!({"Name": "berthevpn"}));
    let network = net.json()["Id"].as_str().unwrap().to_owned();
    let since = now();
    for path in [
        "/v1.41/containers/prune",
        "/v1.41/images/prune?filters=%7B%22dangling%22%3A%5B%22false%22%5D%7D",
        "/v1.41/volumes/prune",
        "/v1.41/networks/prune",
    ] {
        let r = d.api_post(path, b"");
        assert_eq!(r.status, 200, "{path}: {}", r.text());
    }
    let evs = events(&d, &format!("since={since}&until={}", now()));
    let seen: Vec<(&str, &str, &str)> = evs
        .iter()
        .map(|e| {
            (
                e["Type"].as_str().unwrap(),
                e["Action"].as_str().unwrap(),
                e["Actor"]["ID"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        seen,
        [
            ("container", "destroy", container.as_str()),
            ("container", "prune", ""),
            ("image", "untag", image.as_str()),
            ("image", "delete", image.as_str()),
            ("image", "prune", ""),
            ("volume", "prune", ""),
            ("network", "destroy", network.as_str()),
            ("network", "prune", ""),
        ],
        "{evs:#?}"
    );
    let prune = &evs[1];
    assert_eq!(prune["status"], "prune");
    assert!(prune.get("id").is_none());
    assert!(
        prune["Actor"]["Attributes"]["reclaimed"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .is_ok()
    );
    let reclaimed: u64 = evs[4]["Actor"]["Attributes"]["reclaimed"]
        .as_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(reclaimed > 0, "{:?}", evs[4]);
}

#[test]
fn lifecycle_actions_carry_dockerds_attributes() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let since = now();
    let resp = d.api_post_json(
        "/v1.41/containers/create?name=berth-evl",
        &json!({"Image": "busybox", "Cmd": ["sleep", "100"], "Labels": {"a": "b"}}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    let id = resp.json()["Id"].as_str().unwrap().to_owned();
    let post = |what: &str, want: u16| {
        let r = d.api_post(&format!("/v1.41/containers/{id}/{what}"), b"");
        assert_eq!(r.status, want, "{what}: {}", r.text());
    };
    post("start", 204);
    post("pause", 204);
    post("unpause", 204);
    post("rename?name=berth-evl2", 204);
    // PID 1 without a handler ignores SIGUSR1 and SIGTERM: the restart's
    // stop ends with SIGKILL after its one second.
    post("kill?signal=USR1", 204);
    post("restart?t=1", 204);
    let rm = d.api_delete(&format!("/v1.41/containers/{id}?force=1"));
    assert_eq!(rm.status, 204, "{}", rm.text());
    let f = enc(&json!({"type": ["container"]}));
    let evs = events(&d, &format!("since={since}&until={}&filters={f}", now()));
    let seen: Vec<String> = evs
        .iter()
        .map(|e| {
            let a = &e["Actor"]["Attributes"];
            let mut s = e["Action"].as_str().unwrap().to_owned();
            for k in ["signal", "exitCode", "oldName"] {
                if let Some(v) = a[k].as_str() {
                    s.push_str(&format!(" {k}={v}"));
                }
            }
            s
        })
        .collect();
    assert_eq!(
        seen,
        [
            "create",
            "start",
            "pause",
            "unpause",
            "rename oldName=/berth-evl",
            "kill signal=10",
            "kill signal=15",
            "kill signal=9",
            "die exitCode=137",
            "stop",
            "start",
            "restart",
            "kill signal=9",
            "die exitCode=137",
            "destroy",
        ],
        "{evs:#?}"
    );
    // Every event carries the labels, the image and the current name.
    for e in &evs[4..] {
        assert_eq!(e["Actor"]["Attributes"]["name"], "berth-evl2");
        assert_eq!(e["Actor"]["Attributes"]["a"], "b");
        assert_eq!(e["from"], "busybox");
    }
}

#[test]
fn commit_publishes_tag_and_commit_with_the_image_labels() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let resp = d.api_post_json(
        "/v1.41/containers/create?name=berth-evc",
        &json!({"Image": "busybox", "Cmd": ["true"]}),
    );
    let id = resp.json()["Id"].as_str().unwrap().to_owned();
    let since = now();
    let commit = d.api_post(
        &format!(
            "/v1.41/commit?container={id}&repo=berthlab&comment=hi&changes=LABEL%20berth%3Dev"
        ),
        b"",
    );
    assert_eq!(commit.status, 201, "{}", commit.text());
    let image = commit.json()["Id"].as_str().unwrap().to_owned();
    let window = format!("since={since}&until={}", now());
    let evs = events(&d, &window);
    assert_eq!(evs.len(), 2, "{evs:#?}");
    assert_eq!(evs[0]["Type"], "image");
    assert_eq!(evs[0]["Action"], "tag");
    assert_eq!(evs[0]["id"], image.as_str());
    assert_eq!(
        evs[0]["Actor"]["Attributes"],
        json!({"berth": "ev", "name": "berthlab:latest"})
    );
    assert_eq!(evs[1]["Action"], "commit");
    assert_eq!(
        evs[1]["Actor"]["Attributes"],
        json!({"comment": "hi", "imageID": image, "imageRef": "berthlab:latest",
            "image": "busybox", "name": "berth-evc"})
    );
    let f = enc(&json!({"label": ["berth=ev"]}));
    let labelled = events(&d, &format!("{window}&filters={f}"));
    assert_eq!(labelled.len(), 1);
    assert_eq!(labelled[0]["Action"], "tag");
}

#[test]
fn an_oom_kill_publishes_oom_before_die() {
    let d = TestDaemon::start();
    d.load_busybox("busybox:latest");
    let since = now();
    let resp = d.api_post_json(
        "/v1.41/containers/create?name=berth-evoom",
        &json!({"Image": "busybox",
            "Cmd": ["busybox", "dd", "if=/dev/zero", "bs=64M", "count=1", "of=/dev/null"],
            "HostConfig": {"Memory": 32 << 20}}),
    );
    assert_eq!(resp.status, 201, "{}", resp.text());
    let id = resp.json()["Id"].as_str().unwrap().to_owned();
    assert_eq!(
        d.api_post(&format!("/v1.41/containers/{id}/start"), b"")
            .status,
        204
    );
    let wait = d.api_post(&format!("/v1.41/containers/{id}/wait"), b"");
    assert_eq!(wait.json()["StatusCode"], 137);
    let f = enc(&json!({"type": ["container"]}));
    let evs = events(&d, &format!("since={since}&until={}&filters={f}", now()));
    let actions: Vec<&str> = evs.iter().map(|e| e["Action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["create", "start", "oom", "die"], "{evs:#?}");
    assert_eq!(evs[3]["Actor"]["Attributes"]["exitCode"], "137");
}
