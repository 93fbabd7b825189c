//! daemon.json validation: every key is checked on its own, so an unknown
//! key or a value of the wrong type is reported with the key's name (serde
//! alone names the expected type but not the key it was reading).
//!
//! The set of keys and their types is [`FileConfig`] itself: a key added
//! there is validated here without further changes.

use std::path::Path;

use serde_json::{Map, Value};

use super::{ConfigError, FileConfig};

/// Log levels dockerd accepts for `log-level` / `--log-level`.
pub const LOG_LEVELS: [&str; 5] = ["debug", "info", "warn", "error", "fatal"];

/// Parses daemon.json: a JSON object whose every key is one berthd knows,
/// holding a value of that key's type.
pub(super) fn parse_file(path: &Path, bytes: &[u8]) -> Result<FileConfig, ConfigError> {
    let parse_err = |message: String| ConfigError::Parse {
        path: path.to_path_buf(),
        message,
    };
    let value: Value = serde_json::from_slice(bytes).map_err(|e| parse_err(e.to_string()))?;
    let Value::Object(map) = value else {
        return Err(parse_err(format!(
            "expected a JSON object at the top level, got {}",
            kind(&value)
        )));
    };
    let mut unknown = Vec::new();
    let mut bad_value = None;
    for (key, value) in &map {
        let one = Value::Object(Map::from_iter([(key.clone(), value.clone())]));
        if let Err(e) = serde_json::from_value::<FileConfig>(one) {
            // With `deny_unknown_fields` and a single key, serde's only
            // error that is not about the value is its unknown-field one.
            if e.to_string().starts_with("unknown field") {
                unknown.push(key.clone());
            } else if bad_value.is_none() {
                bad_value = Some(ConfigError::Value {
                    path: path.to_path_buf(),
                    key: key.clone(),
                    message: e.to_string(),
                });
            }
        }
    }
    // Every unknown key first (often a typo of a key whose value then looks
    // wrong), as dockerd reports them.
    if !unknown.is_empty() {
        return Err(ConfigError::UnknownKeys {
            path: path.to_path_buf(),
            keys: unknown.join(", "),
        });
    }
    if let Some(e) = bad_value {
        return Err(e);
    }
    let file: FileConfig =
        serde_json::from_value(Value::Object(map)).map_err(|e| parse_err(e.to_string()))?;
    if let Some(level) = &file.log_level {
        check_log_level(level).map_err(|_| ConfigError::Value {
            path: path.to_path_buf(),
            key: "log-level".to_owned(),
            message: format!(
                "unknown log level {level:?} (one of {})",
                LOG_LEVELS.join(", ")
            ),
        })?;
    }
    Ok(file)
}

/// Checks a log level is one dockerd knows.
pub(super) fn check_log_level(level: &str) -> Result<(), ConfigError> {
    if LOG_LEVELS.contains(&level) {
        Ok(())
    } else {
        Err(ConfigError::LogLevel(level.to_owned()))
    }
}

/// The tracing filter directive for a dockerd log level (tracing has no
/// fatal level: fatal keeps only errors).
pub fn filter_directive(level: &str) -> &str {
    match level {
        "fatal" => "error",
        other => other,
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<FileConfig, ConfigError> {
        parse_file(Path::new("/etc/berth/daemon.json"), json.as_bytes())
    }

    #[test]
    fn every_known_key_of_the_right_type_is_accepted() {
        let f = parse(
            r#"{"hosts": ["unix:///run/b.sock"], "data-root": "/d", "exec-root": "/e",
                "pidfile": "/p", "group": "g", "debug": true, "log-level": "warn",
                "log-driver": "none", "log-opts": {"max-size": "1m"}, "bridge": "berth1",
                "bip": "10.9.0.1/24", "iptables": false, "ip-forward": false,
                "cgroup-parent": "c", "max-concurrent-downloads": 2,
                "max-concurrent-uploads": 4, "insecure-registries": ["r:5000"],
                "registry-mirrors": ["https://m"]}"#,
        )
        .unwrap();
        assert_eq!(f.log_level.as_deref(), Some("warn"));
        assert_eq!(f.max_concurrent_uploads, Some(4));
    }

    #[test]
    fn unknown_keys_are_all_named() {
        let e = parse(r#"{"data-rooot": "/x", "debug": "yes", "zzz": 1}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to configure the daemon with file /etc/berth/daemon.json: \
             the following directives don't match any configuration option: data-rooot, zzz"
        );
    }

    #[test]
    fn wrong_types_name_the_key() {
        for (json, key, want) in [
            (r#"{"debug": "yes"}"#, "debug", "expected a boolean"),
            (
                r#"{"max-concurrent-downloads": -1}"#,
                "max-concurrent-downloads",
                "-1",
            ),
            (
                r#"{"max-concurrent-uploads": "3"}"#,
                "max-concurrent-uploads",
                "string",
            ),
            (r#"{"log-opts": {"max-size": 10}}"#, "log-opts", "integer"),
            (r#"{"hosts": "unix:///x"}"#, "hosts", "expected a sequence"),
            (r#"{"data-root": 7}"#, "data-root", "integer"),
        ] {
            let e = parse(json).unwrap_err().to_string();
            assert!(
                e.starts_with(&format!(
                    "unable to configure the daemon with file /etc/berth/daemon.json: invalid value for {key:?}: "
                )),
                "{json}: {e}"
            );
            assert!(e.contains(want), "{json}: {e}");
        }
    }

    #[test]
    fn log_level_values_are_checked() {
        let e = parse(r#"{"log-level": "verbose"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("\"log-level\""), "{e}");
        assert!(e.contains("verbose"), "{e}");
        assert!(parse(r#"{"log-level": "fatal"}"#).is_ok());
        assert_eq!(filter_directive("fatal"), "error");
        assert_eq!(filter_directive("debug"), "debug");
    }

    /// Every key FileConfig knows, from serde's unknown-field message
    /// ("unknown field `x`, expected one of `hosts`, `data-root`, ...").
    fn known_keys() -> Vec<String> {
        let msg = serde_json::from_str::<FileConfig>(r#"{"x": 1}"#)
            .unwrap_err()
            .to_string();
        let list = msg
            .split("expected one of ")
            .nth(1)
            .expect("serde lists the fields");
        list.split(", ")
            .map(|k| k.split('`').nth(1).expect("a quoted field name").to_owned())
            .collect()
    }

    #[test]
    fn docs_describe_every_key() {
        let doc = include_str!("../../../docs/daemon-json.md");
        let keys = known_keys();
        assert!(keys.len() >= 20, "{keys:?}");
        for key in keys {
            assert!(
                doc.contains(&format!("\n| `{key}` |")),
                "docs/daemon-json.md has no row for {key}"
            );
        }
    }

    #[test]
    fn the_top_level_must_be_an_object_and_valid_json() {
        let e = parse("[]").unwrap_err().to_string();
        assert!(e.contains("expected a JSON object"), "{e}");
        let e = parse(r#"{"debug": true,}"#).unwrap_err().to_string();
        assert!(e.contains("line 1"), "{e}");
        assert!(parse("{}").is_ok());
    }
}
