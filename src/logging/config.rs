//! Per-container log configuration ([`LogConfig`]), validated from Docker's
//! `--log-driver`/`--log-opt` (or daemon.json's `log-driver`/`log-opts`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::LoggingError;

/// The driver name of the json-file logger (Docker's default).
pub const JSON_FILE: &str = "json-file";
/// The driver name that disables logging.
pub const NONE: &str = "none";

/// How the supervisor logs a container's output; part of the runtime spec.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogConfig {
    /// [`JSON_FILE`] or [`NONE`].
    pub driver: String,
    /// Rotate the log before a write would make it larger than this many
    /// bytes; `None` never rotates.
    pub max_size: Option<u64>,
    /// How many files to keep, the current one included (at least 1).
    pub max_file: u32,
    /// Gzip rotated files (`<id>-json.log.1.gz`, ...).
    pub compress: bool,
}

impl Default for LogConfig {
    fn default() -> LogConfig {
        LogConfig {
            driver: JSON_FILE.into(),
            max_size: None,
            max_file: 1,
            compress: false,
        }
    }
}

impl LogConfig {
    /// Validates Docker's driver name and options as dockerd does at create
    /// time. An empty driver name means [`JSON_FILE`].
    pub fn from_docker(
        driver: &str,
        opts: &HashMap<String, String>,
    ) -> Result<LogConfig, LoggingError> {
        let driver = if driver.is_empty() { JSON_FILE } else { driver };
        match driver {
            NONE => {
                if let Some(k) = first_key(opts) {
                    return Err(LoggingError::UnknownOption {
                        option: k.clone(),
                        driver: driver.into(),
                    });
                }
                Ok(LogConfig {
                    driver: NONE.into(),
                    ..LogConfig::default()
                })
            }
            JSON_FILE => json_file(opts),
            other => Err(LoggingError::UnknownDriver {
                driver: other.into(),
            }),
        }
    }

    /// Whether the container's output is written to `<id>-json.log`.
    pub fn is_json_file(&self) -> bool {
        self.driver == JSON_FILE
    }
}

/// The alphabetically first key, so errors do not depend on hash order.
fn first_key(opts: &HashMap<String, String>) -> Option<&String> {
    opts.keys().min()
}

fn json_file(opts: &HashMap<String, String>) -> Result<LogConfig, LoggingError> {
    let mut keys: Vec<&String> = opts.keys().collect();
    keys.sort();
    let mut cfg = LogConfig::default();
    for k in keys {
        let v = &opts[k];
        let invalid = |reason: &str| LoggingError::InvalidOption {
            option: k.clone(),
            value: v.clone(),
            reason: reason.into(),
        };
        match k.as_str() {
            "max-size" => {
                let n = ram_in_bytes(v)?;
                if n <= 0 {
                    return Err(invalid("max-size must be a positive number"));
                }
                cfg.max_size = Some(n as u64);
            }
            "max-file" => {
                let n: i64 = v.trim().parse().map_err(|_| invalid("not an integer"))?;
                if n < 1 {
                    return Err(invalid("max-file cannot be less than 1"));
                }
                cfg.max_file = u32::try_from(n).map_err(|_| invalid("too large"))?;
            }
            "compress" => cfg.compress = parse_bool(v).ok_or_else(|| invalid("not a boolean"))?,
            _ => {
                return Err(LoggingError::UnknownOption {
                    option: k.clone(),
                    driver: JSON_FILE.into(),
                });
            }
        }
    }
    if cfg.compress && (cfg.max_file < 2 || cfg.max_size.is_none()) {
        return Err(LoggingError::InvalidOption {
            option: "compress".into(),
            value: "true".into(),
            reason: "compress cannot be true when max-file is less than 2 or max-size is not set"
                .into(),
        });
    }
    Ok(cfg)
}

/// Go's `strconv.ParseBool`.
fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Docker's `units.RAMInBytes`: a decimal number, an optional space, an
/// optional binary unit `k`/`m`/`g`/`t`/`p` (any case), optionally followed
/// by `i` and/or `b` (`"10m"`, `"1.5 GiB"`, `"512kb"`, `"100"`).
pub fn ram_in_bytes(s: &str) -> Result<i64, LoggingError> {
    let bad = || LoggingError::InvalidSize { value: s.into() };
    let num_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (num, mut rest) = s.split_at(num_end);
    // Go's pattern is `\d+(\.\d+)*`: digits first, no empty parts.
    if num.is_empty() || num.split('.').any(str::is_empty) {
        return Err(bad());
    }
    let value: f64 = num.parse().map_err(|_| bad())?;
    rest = rest.strip_prefix(' ').unwrap_or(rest);
    let mut chars = rest.chars();
    let mul: i64 = match chars.next().map(|c| c.to_ascii_lowercase()) {
        None => 1,
        Some('k') => 1 << 10,
        Some('m') => 1 << 20,
        Some('g') => 1 << 30,
        Some('t') => 1 << 40,
        Some('p') => 1 << 50,
        Some('i' | 'b') => {
            chars = rest.chars();
            1
        }
        Some(_) => return Err(bad()),
    };
    let mut tail = chars.as_str();
    tail = tail
        .strip_prefix('i')
        .or_else(|| tail.strip_prefix('I'))
        .unwrap_or(tail);
    tail = tail
        .strip_prefix('b')
        .or_else(|| tail.strip_prefix('B'))
        .unwrap_or(tail);
    if !tail.is_empty() {
        return Err(bad());
    }
    Ok((value * mul as f64) as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(kv: &[(&str, &str)]) -> HashMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn sizes_parse_like_docker_units() {
        for (s, n) in [
            ("100", 100),
            ("10k", 10 << 10),
            ("10K", 10 << 10),
            ("10m", 10 << 20),
            ("1g", 1 << 30),
            ("1.5m", 3 << 19),
            ("32kb", 32 << 10),
            ("32 KiB", 32 << 10),
            ("2MB", 2 << 20),
            ("7b", 7),
        ] {
            assert_eq!(ram_in_bytes(s).unwrap(), n, "{s}");
        }
        for s in ["", "m", "-1", "10x", "10mm", "1..2", "10 m b c", ".5m"] {
            assert_eq!(
                ram_in_bytes(s).unwrap_err().to_string(),
                format!("invalid size: '{s}'")
            );
        }
    }

    #[test]
    fn json_file_options() {
        let c = LogConfig::from_docker(
            "json-file",
            &opts(&[("max-size", "10m"), ("max-file", "3"), ("compress", "true")]),
        )
        .unwrap();
        assert_eq!(
            c,
            LogConfig {
                driver: "json-file".into(),
                max_size: Some(10 << 20),
                max_file: 3,
                compress: true,
            }
        );
        assert_eq!(
            LogConfig::from_docker("", &HashMap::new()).unwrap(),
            LogConfig::default()
        );
    }

    #[test]
    fn bad_drivers_and_options_are_refused_with_dockers_words() {
        let e = |d: &str, o: &[(&str, &str)]| {
            LogConfig::from_docker(d, &opts(o)).unwrap_err().to_string()
        };
        assert_eq!(
            e("foo", &[]),
            "logger: no log driver named 'foo' is registered"
        );
        for d in ["local", "journald", "syslog"] {
            assert_eq!(
                e(d, &[]),
                format!("logger: no log driver named '{d}' is registered")
            );
        }
        assert_eq!(
            e("json-file", &[("bar", "1")]),
            "unknown log opt 'bar' for json-file log driver"
        );
        assert_eq!(
            e("none", &[("max-size", "1m")]),
            "unknown log opt 'max-size' for none log driver"
        );
        assert_eq!(
            e("json-file", &[("max-size", "ten")]),
            "invalid size: 'ten'"
        );
        assert!(e("json-file", &[("max-file", "0"), ("max-size", "1m")]).contains("less than 1"));
        assert!(e("json-file", &[("compress", "yes")]).contains("'compress'"));
        assert!(e("json-file", &[("compress", "1")]).contains("max-size is not set"));
        let none = LogConfig::from_docker("none", &HashMap::new()).unwrap();
        assert!(!none.is_json_file());
    }
}
