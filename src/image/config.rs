//! Image configs: the Docker-shaped view parsed from a config blob (whose raw bytes are
//! kept untouched, since they define the image ID), and `import --change` handling.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::api::models::{ContainerConfig, ImageConfig};
use crate::image::ImageError;

/// An image config blob (`application/vnd.docker.container.image.v1+json` / OCI config).
/// Fields Berth does not use are ignored when parsing; the blob's bytes stay authoritative.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ImageConfigFile {
    /// CPU architecture in GOARCH naming.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
    /// Free-form comment (`import` records "Imported from -").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// The default run configuration.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ImageConfig>,
    /// RFC 3339 creation time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// Image author.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Version of the engine that built the image.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker_version: Option<String>,
    /// Layer history, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub history: Vec<History>,
    /// Operating system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// OS version (Windows images).
    #[serde(
        default,
        rename = "os.version",
        skip_serializing_if = "Option::is_none"
    )]
    pub os_version: Option<String>,
    /// The layer stack.
    #[serde(default)]
    pub rootfs: RootFs,
    /// CPU variant (`v8` for arm64).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// `rootfs` of an image config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RootFs {
    /// Always `layers`.
    #[serde(rename = "type", default)]
    pub typ: String,
    /// Uncompressed layer digests, lowest first.
    #[serde(default)]
    pub diff_ids: Vec<String>,
}

/// One entry of an image's history.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct History {
    /// RFC 3339 time of the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created: Option<String>,
    /// The command that made the step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_by: Option<String>,
    /// Who made it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author: Option<String>,
    /// Free-form comment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Whether the step produced no layer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_layer: Option<bool>,
}

impl ImageConfigFile {
    /// Parses a config blob; `what` names it in errors.
    pub fn parse(bytes: &[u8], what: &str) -> Result<ImageConfigFile, ImageError> {
        serde_json::from_slice(bytes).map_err(|source| ImageError::InvalidJson {
            what: what.to_string(),
            source,
        })
    }

    /// The run configuration as the runtime consumes it.
    pub fn container_config(&self) -> ContainerConfig {
        let c = self.config.clone().unwrap_or_default();
        ContainerConfig {
            hostname: c.hostname,
            domainname: c.domainname,
            user: c.user,
            attach_stdin: c.attach_stdin,
            attach_stdout: c.attach_stdout,
            attach_stderr: c.attach_stderr,
            exposed_ports: c.exposed_ports,
            tty: c.tty,
            open_stdin: c.open_stdin,
            stdin_once: c.stdin_once,
            env: c.env,
            cmd: c.cmd,
            healthcheck: c.healthcheck,
            args_escaped: c.args_escaped,
            image: c.image,
            volumes: c.volumes,
            working_dir: c.working_dir,
            entrypoint: c.entrypoint,
            network_disabled: c.network_disabled,
            mac_address: c.mac_address,
            on_build: c.on_build,
            labels: c.labels,
            stop_signal: c.stop_signal,
            stop_timeout: c.stop_timeout,
            shell: c.shell,
        }
    }

    /// The config's labels (empty if none).
    pub fn labels(&self) -> HashMap<String, String> {
        self.config
            .as_ref()
            .and_then(|c| c.labels.clone())
            .unwrap_or_default()
    }

    /// Creation time in Unix seconds (0 if absent or unparsable).
    pub fn created_unix(&self) -> i64 {
        self.created
            .as_deref()
            .and_then(parse_time)
            .map(|t| t.timestamp())
            .unwrap_or(0)
    }
}

/// Parses an RFC 3339 time as Go writes it.
pub fn parse_time(s: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&chrono::Utc))
}

/// Formats a time like Go's `time.RFC3339Nano` in UTC (trailing zeros of the fraction dropped).
pub fn go_time(t: chrono::DateTime<chrono::Utc>) -> String {
    let base = t.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = t.timestamp_subsec_nanos();
    if nanos == 0 {
        return format!("{base}Z");
    }
    let frac = format!("{nanos:09}");
    format!("{base}.{}Z", frac.trim_end_matches('0'))
}

/// Go's zero time as Docker prints it for "never".
pub const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// Normalises a config's `created` to Docker's output format; unparsable strings pass through.
pub fn docker_time(s: Option<&str>) -> String {
    match s {
        None => ZERO_TIME.to_string(),
        Some(s) => parse_time(s).map(go_time).unwrap_or_else(|| s.to_string()),
    }
}

/// Host architecture in Go's GOARCH naming.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        "arm" => "arm",
        "s390x" => "s390x",
        "riscv64" => "riscv64",
        other => other,
    }
}

fn change_err(line: &str, reason: impl Into<String>) -> ImageError {
    ImageError::InvalidChange {
        line: line.to_string(),
        reason: reason.into(),
    }
}

/// JSON array form (`["a","b"]`) or `None` for shell form.
fn json_array(rest: &str) -> Option<Vec<String>> {
    let t = rest.trim();
    if t.starts_with('[') {
        serde_json::from_str::<Vec<String>>(t).ok()
    } else {
        None
    }
}

/// Splits `k=v k2="v 2"` pairs (Dockerfile `ENV`/`LABEL` syntax with quotes and `\` escapes).
fn key_values(line: &str, rest: &str) -> Result<Vec<(String, String)>, ImageError> {
    let words = shell_words(rest).ok_or_else(|| change_err(line, "unterminated quote"))?;
    if words.is_empty() {
        return Err(change_err(line, "missing arguments"));
    }
    if !words[0].contains('=') {
        // Legacy `ENV key value with spaces`.
        let (k, v) = rest
            .trim()
            .split_once(char::is_whitespace)
            .ok_or_else(|| change_err(line, "missing value"))?;
        return Ok(vec![(k.to_string(), v.trim().to_string())]);
    }
    words
        .into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(change_err(line, format!("{w:?} is not key=value"))),
        })
        .collect()
}

/// Whitespace-separated words with `"..."`, `'...'` and `\` handling; `None` on an open quote.
fn shell_words(s: &str) -> Option<Vec<String>> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = s.chars();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') => cur.push(chars.next()?),
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '\\') => {
                cur.push(chars.next()?);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return None;
    }
    if in_word {
        out.push(cur);
    }
    Some(out)
}

/// Applies Dockerfile-style `--change` lines to a run configuration, as `docker import` does
/// (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, STOPSIGNAL, USER, VOLUME, WORKDIR).
pub fn apply_changes(config: &mut ImageConfig, changes: &[String]) -> Result<(), ImageError> {
    for line in changes {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            continue;
        }
        let (instr, rest) = trimmed
            .split_once(char::is_whitespace)
            .unwrap_or((trimmed, ""));
        let rest = rest.trim();
        let need_arg = || {
            if rest.is_empty() {
                Err(change_err(line, "missing arguments"))
            } else {
                Ok(())
            }
        };
        match instr.to_ascii_uppercase().as_str() {
            "CMD" | "ENTRYPOINT" => {
                need_arg()?;
                let argv = json_array(rest)
                    .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into(), rest.to_string()]);
                if instr.eq_ignore_ascii_case("CMD") {
                    config.cmd = Some(argv);
                } else {
                    config.entrypoint = Some(argv);
                }
            }
            "ENV" => {
                need_arg()?;
                let env = config.env.get_or_insert_with(Vec::new);
                for (k, v) in key_values(line, rest)? {
                    env.retain(|e| e.split_once('=').map_or(e.as_str(), |(ek, _)| ek) != k);
                    env.push(format!("{k}={v}"));
                }
            }
            "LABEL" => {
                need_arg()?;
                let labels = config.labels.get_or_insert_with(HashMap::new);
                for (k, v) in key_values(line, rest)? {
                    labels.insert(k, v);
                }
            }
            "EXPOSE" => {
                need_arg()?;
                let ports = config.exposed_ports.get_or_insert_with(HashMap::new);
                for p in rest.split_whitespace() {
                    let (num, proto) = p.split_once('/').unwrap_or((p, "tcp"));
                    let valid_num = num.split('-').all(|n| n.parse::<u16>().is_ok());
                    if !valid_num
                        || !matches!(proto.to_ascii_lowercase().as_str(), "tcp" | "udp" | "sctp")
                    {
                        return Err(change_err(line, format!("invalid port {p:?}")));
                    }
                    ports.insert(
                        format!("{num}/{}", proto.to_ascii_lowercase()),
                        HashMap::new(),
                    );
                }
            }
            "VOLUME" => {
                need_arg()?;
                let vols = json_array(rest)
                    .unwrap_or_else(|| rest.split_whitespace().map(str::to_string).collect());
                let map = config.volumes.get_or_insert_with(HashMap::new);
                for v in vols {
                    if v.is_empty() {
                        return Err(change_err(line, "empty volume path"));
                    }
                    map.insert(v, HashMap::new());
                }
            }
            "WORKDIR" => {
                need_arg()?;
                let wd = match config.working_dir.as_deref() {
                    Some(cur) if !rest.starts_with('/') && !cur.is_empty() => {
                        format!("{}/{rest}", cur.trim_end_matches('/'))
                    }
                    _ if !rest.starts_with('/') => format!("/{rest}"),
                    _ => rest.to_string(),
                };
                config.working_dir = Some(wd);
            }
            "USER" => {
                need_arg()?;
                config.user = Some(rest.to_string());
            }
            "STOPSIGNAL" => {
                need_arg()?;
                config.stop_signal = Some(rest.to_string());
            }
            "ONBUILD" => {
                need_arg()?;
                config
                    .on_build
                    .get_or_insert_with(Vec::new)
                    .push(rest.to_string());
            }
            other => {
                return Err(change_err(
                    line,
                    format!("{other} is not a valid change command"),
                ));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn changed(lines: &[&str]) -> Result<ImageConfig, ImageError> {
        let mut c = ImageConfig::default();
        apply_changes(
            &mut c,
            &lines.iter().map(|s| s.to_string()).collect::<Vec<_>>(),
        )?;
        Ok(c)
    }

    #[test]
    fn changes_follow_dockerfile_forms() {
        let c = changed(&[
            r#"CMD ["sh"]"#,
            "ENTRYPOINT echo hi",
            "ENV A=1 B=\"two words\"",
            "ENV C legacy form",
            "ENV A=3",
            "WORKDIR /srv",
            "WORKDIR app",
            "USER nobody",
            "LABEL a=b \"c d\"=e",
            "EXPOSE 80 53/udp",
            "VOLUME /data /cache",
            "STOPSIGNAL SIGINT",
        ])
        .unwrap();
        assert_eq!(c.cmd.unwrap(), vec!["sh"]);
        assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "echo hi"]);
        assert_eq!(c.env.unwrap(), vec!["B=two words", "C=legacy form", "A=3"]);
        assert_eq!(c.working_dir.unwrap(), "/srv/app");
        assert_eq!(c.user.unwrap(), "nobody");
        let labels = c.labels.unwrap();
        assert_eq!((labels["a"].as_str(), labels["c d"].as_str()), ("b", "e"));
        let ports = c.exposed_ports.unwrap();
        assert!(ports.contains_key("80/tcp") && ports.contains_key("53/udp"));
        assert!(c.volumes.unwrap().contains_key("/cache"));
        assert_eq!(c.stop_signal.unwrap(), "SIGINT");
    }

    #[test]
    fn bad_changes_are_refused_with_the_line() {
        for bad in ["RUN echo", "CMD", "EXPOSE 99999", "ENV \"open", "COPY a b"] {
            let e = changed(&[bad]).unwrap_err();
            assert_eq!(e.class(), crate::api::ErrorClass::InvalidArgument);
            assert!(e.to_string().contains(bad), "{e}");
        }
    }

    #[test]
    fn times_print_like_go() {
        let t = parse_time("2024-01-02T03:04:05.120000000Z").unwrap();
        assert_eq!(go_time(t), "2024-01-02T03:04:05.12Z");
        assert_eq!(
            docker_time(Some("2024-01-02T03:04:05+01:00")),
            "2024-01-02T02:04:05Z"
        );
        assert_eq!(docker_time(None), ZERO_TIME);
    }
}
