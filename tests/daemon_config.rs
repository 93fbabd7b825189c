//! daemon.json against a real berthd: a bad file stops startup with the key
//! named, and `SIGHUP` reloads the log level (a bad file on reload is logged
//! and the running configuration kept).

mod common;

use std::fs;
use std::path::Path;

use nix::sys::signal::{Signal, kill};

use common::svc::RawDaemon;

fn berthd() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_berthd"))
}

#[test]
fn a_bad_daemon_json_stops_startup_naming_the_key() {
    for (json, args, key) in [
        (r#"{"log-levle": "debug"}"#, &[][..], "log-levle"),
        (
            r#"{"max-concurrent-downloads": "3"}"#,
            &[][..],
            "max-concurrent-downloads",
        ),
        (r#"{"debug": "yes"}"#, &[][..], "\"debug\""),
        (r#"{"log-level": "loud"}"#, &[][..], "log-level"),
        (
            r#"{"log-level": "warn"}"#,
            &["--log-level", "info"][..],
            "log-level",
        ),
    ] {
        let args: Vec<String> = args.iter().map(|s| (*s).to_owned()).collect();
        let mut d = RawDaemon::spawn(berthd(), &args, json);
        let status = d.wait_exit();
        let log = d.log_text();
        assert!(
            !status.success(),
            "{json} {args:?}: berthd started; log:\n{log}"
        );
        assert!(
            log.contains(key),
            "{json} {args:?}: {key} not named:\n{log}"
        );
        assert!(log.starts_with("berthd: "), "{json}: {log}");
    }
}

#[test]
fn flag_and_file_clash_uses_dockerds_wording() {
    let args = vec!["--log-level".to_owned(), "info".to_owned()];
    let mut d = RawDaemon::spawn(berthd(), &args, r#"{"log-level": "warn"}"#);
    assert!(!d.wait_exit().success());
    let log = d.log_text();
    assert!(
        log.contains(
            "the following directives are specified both as a flag and in the configuration file: log-level: (from flag: info, from file: warn)"
        ),
        "{log}"
    );
}

#[test]
fn sighup_reloads_the_log_level_and_ignores_a_bad_file() {
    let mut d = RawDaemon::spawn(berthd(), &[], r#"{"log-level": "info"}"#);
    d.wait_ready();
    let info = d.get("/v1.41/info").json();
    assert_eq!(info["Debug"], false);
    // `berth info` says which daemon.json the daemon loaded and where it serves.
    let config = d.config_file.display().to_string();
    assert_eq!(info["BerthConfigFile"], config.as_str());
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_berth"))
        .args(["-H", &d.host(), "info"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(
        text.contains(&format!(" Config File: {config}\n")),
        "{text}"
    );
    assert!(
        text.contains(&format!(" Socket:      {}\n", d.socket.display())),
        "{text}"
    );
    assert!(
        text.contains(&format!(" Hosts:       {}\n", d.host())),
        "{text}"
    );
    assert_eq!(d.get("/_ping").status, 200);
    let at = d.wait_log("berthd is serving", 0);
    assert!(
        !d.log_text().contains(" DEBUG "),
        "debug lines at log-level info:\n{}",
        d.log_text()
    );

    fs::write(&d.config_file, r#"{"log-level": "debug"}"#).unwrap();
    kill(d.pid(), Signal::SIGHUP).unwrap();
    let at = d.wait_log("log-level: info -> debug", at);
    assert_eq!(d.get("/_ping").status, 200);
    let at = d.wait_log(" DEBUG ", at);
    assert_eq!(d.get("/v1.41/info").json()["Debug"], true);
    // dockerd's `daemon reload` event, with the options now in force.
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    let events = d
        .get(&format!(
            "/v1.41/events?since=0&until={}.{:09}&filters=%7B%22type%22%3A%5B%22daemon%22%5D%7D",
            now.as_secs(),
            now.subsec_nanos()
        ))
        .text();
    let reloads: Vec<serde_json::Value> = events
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(reloads.len(), 1, "{events}");
    assert_eq!(reloads[0]["Type"], "daemon");
    assert_eq!(reloads[0]["Action"], "reload");
    assert_eq!(reloads[0]["Actor"]["Attributes"]["debug"], "true");
    assert_eq!(
        reloads[0]["Actor"]["Attributes"]["max-concurrent-downloads"],
        "3"
    );

    // A bad file is reported and changes nothing.
    fs::write(&d.config_file, r#"{"log-level": "info", "bogus-key": 1}"#).unwrap();
    kill(d.pid(), Signal::SIGHUP).unwrap();
    let at = d.wait_log("configuration not reloaded", at);
    let line_end = d.log_text()[at..]
        .find('\n')
        .map_or(d.log_text().len(), |n| at + n);
    assert!(
        d.log_text()[at..line_end].contains("bogus-key"),
        "the error names the key:\n{}",
        d.log_text()
    );
    assert_eq!(d.get("/v1.41/info").json()["Debug"], true);
    assert_eq!(d.get("/_ping").status, 200);
    d.wait_log(" DEBUG ", at);

    // And back to info: debug lines stop; registry settings apply too.
    fs::write(
        &d.config_file,
        r#"{"log-level": "info", "insecure-registries": ["reg.berth.test:5000"]}"#,
    )
    .unwrap();
    kill(d.pid(), Signal::SIGHUP).unwrap();
    let at = d.wait_log("log-level: debug -> info", at);
    let info = d.get("/v1.41/info").json();
    assert_eq!(info["Debug"], false);
    assert_eq!(
        info["RegistryConfig"]["IndexConfigs"]["reg.berth.test:5000"]["Secure"], false,
        "{info}"
    );
    assert_eq!(d.get("/_ping").status, 200);
    // Only the request made after the switch is checked: it must not log.
    assert!(
        !d.log_text()[at..].contains("path=/_ping"),
        "debug lines after switching back to info:\n{}",
        d.log_text()
    );
}
