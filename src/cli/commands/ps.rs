//! `berth ps` / `berth container ls`: Docker's container list, with the same
//! query (`all`, `limit`, `size`, `filters`), the same row fields as Docker's
//! `ContainerContext` and the same truncation rules.

use std::collections::BTreeMap;

use clap::Args;
use serde_json::{Map, Value};

use berth::api::models::{ContainerSummary, Port};
use berth::image::reference::{Reference, familiar_name};

use super::image::{ellipsis, go_time_string, truncate_id};
use super::{Ctx, filters_json, now_unix, print_rows};
use crate::client::query;
use crate::error::{CliError, flag_error};
use crate::format::FormatSpec;
use crate::humanize::{human_size_with_precision, time_ago};

/// `berth ps` / `berth container ls|list|ps`.
#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    all: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or 'TEMPLATE'
    #[arg(long, value_name = "string")]
    format: Option<String>,
    /// Show n last created containers (includes all states)
    #[arg(
        short = 'n',
        long = "last",
        value_name = "int",
        default_value_t = -1,
        allow_negative_numbers = true
    )]
    last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    latest: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    size: bool,
}

/// Docker's default `ps` table.
const DEFAULT_TABLE: &str =
    "{{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}";

/// Column titles of Docker's container formatter.
const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Image", "IMAGE"),
    ("Command", "COMMAND"),
    ("CreatedAt", "CREATED AT"),
    ("RunningFor", "CREATED"),
    ("Ports", "PORTS"),
    ("State", "STATE"),
    ("Status", "STATUS"),
    ("Size", "SIZE"),
    ("Names", "NAMES"),
    ("Labels", "LABELS"),
    ("Mounts", "MOUNTS"),
    ("LocalVolumes", "LOCAL VOLUMES"),
    ("Networks", "NETWORKS"),
    ("Platform", "PLATFORM"),
];

/// Docker's `NewContainerFormat`: the format to render, after `--quiet` and
/// `--size` are taken into account.
pub fn ps_format(format: Option<&str>, quiet: bool, size: bool) -> FormatSpec {
    match format.map(str::trim) {
        None | Some("") | Some("table") => {
            if quiet {
                FormatSpec::parse("{{.ID}}", "")
            } else if size {
                FormatSpec::parse("", &format!("{DEFAULT_TABLE}\\t{{{{.Size}}}}"))
            } else {
                FormatSpec::parse("", DEFAULT_TABLE)
            }
        }
        Some(_) if quiet => FormatSpec::parse("{{.ID}}", ""),
        Some(_) => FormatSpec::parse(format.unwrap_or_default(), DEFAULT_TABLE),
    }
}

/// The `/containers/json` query for these flags, as Docker's
/// `buildContainerListOptions` and API client build it. The size is also
/// requested when a custom template uses `.Size`. `command` is the command
/// path for the usage line of a flag error (`ps`, `container ls`).
pub fn list_query(args: &PsArgs, command: &str) -> Result<String, CliError> {
    if let Some(bad) = args.filter.iter().find(|f| !f.contains('=')) {
        return Err(flag_error(
            &format!(
                "invalid argument {bad:?} for \"-f, --filter\" flag: bad format of filter (expected name=value)"
            ),
            &format!("{command} [OPTIONS]"),
            command,
        ));
    }
    let mut limit = args.last;
    if args.latest && limit == -1 {
        limit = 1;
    }
    let custom = args.format.as_deref().filter(|f| !f.trim().is_empty());
    let wants_size = args.size || (!args.quiet && custom.is_some_and(|f| f.contains(".Size")));
    let mut q: Vec<(&str, String)> = Vec::new();
    if args.all {
        q.push(("all", "1".into()));
    }
    if limit > 0 {
        q.push(("limit", limit.to_string()));
    }
    if wants_size {
        q.push(("size", "1".into()));
    }
    if let Some(f) = filters_json(&args.filter, &[])? {
        q.push(("filters", f));
    }
    Ok(query(&q))
}

/// Go's `strconv.Quote`: double quotes, Go escapes for control characters,
/// printable Unicode kept as is.
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// Docker's `ContainerContext.Image`: with truncation, an image given by ID
/// shows as the short ID and a digest is dropped from a named reference.
fn image_field(image: &str, image_id: &str, trunc: bool) -> String {
    if image.is_empty() {
        return "<no image>".to_string();
    }
    if !trunc {
        return image.to_string();
    }
    let short = truncate_id(image_id);
    if !short.is_empty() && short == truncate_id(image) {
        return short;
    }
    match Reference::parse(image) {
        Ok(r) => {
            let mut s = familiar_name(&r.name());
            if let Some(t) = &r.tag {
                s.push(':');
                s.push_str(t);
            }
            s
        }
        Err(_) => image.to_string(),
    }
}

/// Docker's `ContainerContext.Names`: leading `/` stripped; with truncation
/// only the container's own name (not link aliases such as `/a/b`).
fn names_field(names: &[String], trunc: bool) -> String {
    let stripped: Vec<&str> = names
        .iter()
        .map(|n| n.strip_prefix('/').unwrap_or(n))
        .collect();
    if trunc && let Some(own) = stripped.iter().find(|n| !n.contains('/')) {
        return own.to_string();
    }
    stripped.join(",")
}

/// Go's `net.JoinHostPort`: brackets around IPv6 hosts.
fn join_host_port(host: &str, port: &str) -> String {
    if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    }
}

/// Docker's `DisplayablePorts`: consecutive ports with the same IP and
/// protocol grouped into ranges (`0.0.0.0:80-81->80-81/tcp`, `22/tcp`),
/// mappings to a different host port listed after them.
fn ports_field(ports: &[Port]) -> String {
    let typ = |p: &Port| p.typ.map(|t| t.to_string()).unwrap_or_default();
    let mut sorted: Vec<&Port> = ports.iter().collect();
    sorted.sort_by(|a, b| {
        (
            a.private_port,
            a.ip.as_deref().unwrap_or(""),
            a.public_port.unwrap_or(0),
            typ(a),
        )
            .cmp(&(
                b.private_port,
                b.ip.as_deref().unwrap_or(""),
                b.public_port.unwrap_or(0),
                typ(b),
            ))
    });
    let form_group = |key: &str, first: u16, last: u16| {
        let (ip, proto) = match key.rsplit_once('/') {
            Some((ip, proto)) => (Some(ip), proto),
            None => (None, key),
        };
        let mut group = first.to_string();
        if first != last {
            group = format!("{group}-{last}");
        }
        if let Some(ip) = ip {
            group = format!("{}{group}->{group}", join_host_port(ip, ""));
        }
        format!("{group}/{proto}")
    };
    let mut groups: Vec<(String, u16, u16)> = Vec::new();
    let mut result = Vec::new();
    let mut host_mappings = Vec::new();
    for p in sorted {
        let current = p.private_port;
        let mut key = typ(p);
        if let Some(ip) = p.ip.as_deref().filter(|ip| !ip.is_empty()) {
            let public = p.public_port.unwrap_or(0);
            if public != current {
                host_mappings.push(format!(
                    "{}->{current}/{key}",
                    join_host_port(ip, &public.to_string())
                ));
                continue;
            }
            key = format!("{ip}/{key}");
        }
        match groups.iter_mut().find(|(k, _, _)| *k == key) {
            None => groups.push((key, current, current)),
            Some(group) if current == group.2.wrapping_add(1) => group.2 = current,
            Some(group) => {
                result.push(form_group(&group.0, group.1, group.2));
                (group.1, group.2) = (current, current);
            }
        }
    }
    result.extend(groups.iter().map(|(k, f, l)| form_group(k, *f, *l)));
    result.extend(host_mappings);
    result.join(", ")
}

/// One row with the string fields of Docker's `ContainerContext`.
pub fn ps_row(c: &ContainerSummary, trunc: bool, now: i64) -> Value {
    let id = c.id.clone().unwrap_or_default();
    let command = c.command.clone().unwrap_or_default();
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let created = c.created.unwrap_or_default();
    let size = {
        let rw = human_size_with_precision(c.size_rw.unwrap_or_default() as f64, 3);
        match c.size_root_fs.unwrap_or_default() {
            0 => rw,
            root => format!(
                "{rw} (virtual {})",
                human_size_with_precision(root as f64, 3)
            ),
        }
    };
    let labels: BTreeMap<&String, &String> = c.labels.iter().flatten().collect();
    let labels: Vec<String> = labels
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mounts = c.mounts.as_deref().unwrap_or_default();
    let mount_names: Vec<String> = mounts
        .iter()
        .map(|m| {
            let name = m
                .name
                .clone()
                .filter(|n| !n.is_empty())
                .or_else(|| m.source.clone())
                .unwrap_or_default();
            if trunc { ellipsis(&name, 15) } else { name }
        })
        .collect();
    let local_volumes = mounts
        .iter()
        .filter(|m| m.driver.as_deref() == Some("local"))
        .count();
    let networks: Vec<&String> = c
        .network_settings
        .as_ref()
        .and_then(|n| n.networks.as_ref())
        .map(|n| {
            let mut keys: Vec<&String> = n.keys().collect();
            keys.sort();
            keys
        })
        .unwrap_or_default();
    let fields = [
        ("ID", if trunc { truncate_id(&id) } else { id.clone() }),
        (
            "Image",
            image_field(
                c.image.as_deref().unwrap_or_default(),
                c.image_id.as_deref().unwrap_or_default(),
                trunc,
            ),
        ),
        ("Command", go_quote(&command)),
        ("CreatedAt", go_time_string(created)),
        ("RunningFor", time_ago(created, now)),
        ("Ports", ports_field(c.ports.as_deref().unwrap_or_default())),
        ("State", c.state.clone().unwrap_or_default()),
        ("Status", c.status.clone().unwrap_or_default()),
        ("Size", size),
        (
            "Names",
            names_field(c.names.as_deref().unwrap_or_default(), trunc),
        ),
        ("Labels", labels.join(",")),
        ("Mounts", mount_names.join(",")),
        ("LocalVolumes", local_volumes.to_string()),
        (
            "Networks",
            networks
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(","),
        ),
    ];
    let mut map: Map<String, Value> = fields
        .into_iter()
        .map(|(k, v)| (k.to_string(), Value::String(v)))
        .collect();
    // Docker 28 lists the (unset) platform in `--format json`.
    map.insert("Platform".to_string(), Value::Null);
    Value::Object(map)
}

/// `berth ps` (`command` is the path the user typed, for messages).
pub async fn ps(ctx: &Ctx, args: PsArgs, command: &str) -> Result<(), CliError> {
    let custom = args.format.as_deref().is_some_and(|f| !f.is_empty());
    if custom && args.quiet {
        eprintln!("WARNING: Ignoring custom format, because both --format and --quiet are set.");
    }
    let q = list_query(&args, command)?;
    let spec = ps_format(args.format.as_deref(), args.quiet, q.contains("size=1"));
    let mut list: Vec<ContainerSummary> = ctx.client.get(&format!("/containers/json{q}")).await?;
    // The daemon applies `limit`; applying it again costs nothing and keeps
    // the promise with a daemon that does not.
    let limit = if args.latest && args.last == -1 {
        1
    } else {
        args.last
    };
    if limit > 0 {
        list.truncate(usize::try_from(limit).unwrap_or(usize::MAX));
    }
    let now = now_unix();
    let rows: Vec<Value> = list
        .iter()
        .map(|c| ps_row(c, !args.no_trunc, now))
        .collect();
    print_rows(&spec, HEADERS, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::collections::HashMap;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(flatten)]
        ps: PsArgs,
    }

    fn parse(argv: &[&str]) -> PsArgs {
        let mut full = vec!["ps"];
        full.extend_from_slice(argv);
        Wrap::try_parse_from(full).unwrap().ps
    }

    fn summary() -> ContainerSummary {
        ContainerSummary {
            id: Some("0123456789abcdef".repeat(4)),
            names: Some(vec!["/berth-web".into()]),
            image: Some("busybox".into()),
            image_id: Some(format!("sha256:{}", "f".repeat(64))),
            command: Some("sh -c 'while true; do sleep 1; done'".into()),
            created: Some(1_000),
            ports: Some(vec![]),
            labels: Some(HashMap::from([
                ("b".to_string(), "2".to_string()),
                ("a".to_string(), "1".to_string()),
            ])),
            state: Some("running".into()),
            status: Some("Up 2 seconds".into()),
            mounts: Some(vec![]),
            ..Default::default()
        }
    }

    #[test]
    fn default_table_matches_docker() {
        let rows = vec![ps_row(&summary(), true, 1_002)];
        let spec = ps_format(None, false, false);
        let out = crate::table::render(&spec, HEADERS, &rows).unwrap();
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(
            lines[0],
            "CONTAINER ID   IMAGE     COMMAND                  CREATED         STATUS         PORTS     NAMES"
        );
        assert_eq!(
            lines[1],
            "0123456789ab   busybox   \"sh -c 'while true; …\"   2 seconds ago   Up 2 seconds             berth-web"
        );
    }

    #[test]
    fn empty_table_is_docker_header() {
        let out =
            crate::table::render(&ps_format(Some("table"), false, false), HEADERS, &[]).unwrap();
        assert_eq!(
            out,
            "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES\n"
        );
        let out = crate::table::render(&ps_format(None, false, true), HEADERS, &[]).unwrap();
        assert!(out.ends_with("NAMES     SIZE\n"), "{out:?}");
    }

    #[test]
    fn fields_truncate_like_docker() {
        let c = summary();
        let row = ps_row(&c, true, 1_000 + 3 * 3600);
        assert_eq!(row["ID"], "0123456789ab");
        assert_eq!(row["Command"], "\"sh -c 'while true; …\"");
        assert_eq!(row["RunningFor"], "3 hours ago");
        assert_eq!(row["Labels"], "a=1,b=2");
        assert_eq!(row["Size"], "0B");
        assert_eq!(row["LocalVolumes"], "0");
        let full = ps_row(&c, false, 1_000);
        assert_eq!(full["ID"].as_str().unwrap().len(), 64);
        assert_eq!(full["Command"], "\"sh -c 'while true; do sleep 1; done'\"");
        // Short commands are quoted but kept whole.
        let mut short = summary();
        short.command = Some("sleep 1000".into());
        assert_eq!(ps_row(&short, true, 0)["Command"], "\"sleep 1000\"");
    }

    #[test]
    fn sizes_read_like_docker() {
        let mut c = summary();
        c.size_rw = Some(12_345);
        assert_eq!(ps_row(&c, true, 0)["Size"], "12.3kB");
        c.size_root_fs = Some(4_261_234);
        assert_eq!(ps_row(&c, true, 0)["Size"], "12.3kB (virtual 4.26MB)");
        // The status text is the daemon's, shown as is.
        c.status = Some("Exited (137) 5 minutes ago".into());
        assert_eq!(ps_row(&c, true, 0)["Status"], "Exited (137) 5 minutes ago");
    }

    #[test]
    fn image_names_and_ports() {
        let id = format!("sha256:{}", "f".repeat(64));
        assert_eq!(image_field(&id, &id, true), "ffffffffffff");
        assert_eq!(image_field(&id, &id, false), id);
        let digest = format!("busybox:1@sha256:{}", "a".repeat(64));
        assert_eq!(image_field(&digest, &id, true), "busybox:1");
        assert_eq!(image_field("", &id, true), "<no image>");
        assert_eq!(
            names_field(&["/web".into(), "/other/alias".into()], true),
            "web"
        );
        assert_eq!(
            names_field(&["/web".into(), "/other/alias".into()], false),
            "web,other/alias"
        );
        let p = |private, public: Option<u16>| Port {
            ip: public.map(|_| "0.0.0.0".to_string()),
            private_port: private,
            public_port: public,
            typ: Some(berth::api::models::PortTypeEnum::TCP),
        };
        assert_eq!(
            ports_field(&[p(80, Some(8080)), p(22, None)]),
            "22/tcp, 0.0.0.0:8080->80/tcp"
        );
        assert_eq!(
            ports_field(&[
                p(81, Some(81)),
                p(80, Some(80)),
                p(90, None),
                p(91, None),
                p(93, None)
            ]),
            // Docker's order: ranges closed early come first.
            "90-91/tcp, 0.0.0.0:80-81->80-81/tcp, 93/tcp"
        );
        let v6 = Port {
            ip: Some("::".into()),
            private_port: 80,
            public_port: Some(80),
            typ: Some(berth::api::models::PortTypeEnum::TCP),
        };
        assert_eq!(ports_field(&[v6]), "[::]:80->80/tcp");
        assert_eq!(ports_field(&[]), "");
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(
            go_quote("a \"b\"\\\n\t\x01é…"),
            "\"a \\\"b\\\"\\\\\\n\\t\\x01é…\""
        );
    }

    #[test]
    fn flags_become_the_list_query() {
        assert_eq!(list_query(&parse(&[]), "ps").unwrap(), "");
        assert_eq!(list_query(&parse(&["-a"]), "ps").unwrap(), "?all=1");
        assert_eq!(list_query(&parse(&["-n", "2"]), "ps").unwrap(), "?limit=2");
        assert_eq!(list_query(&parse(&["-l"]), "ps").unwrap(), "?limit=1");
        assert_eq!(list_query(&parse(&["-as"]), "ps").unwrap(), "?all=1&size=1");
        assert_eq!(
            list_query(&parse(&["--format", "{{.Names}} {{.Size}}"]), "ps").unwrap(),
            "?size=1"
        );
        assert_eq!(
            list_query(&parse(&["-q", "--format", "{{.Size}}"]), "ps").unwrap(),
            ""
        );
        assert_eq!(
            list_query(
                &parse(&[
                    "-a",
                    "--filter",
                    "status=exited",
                    "-f",
                    "name=berth",
                    "-f",
                    "label=a=b",
                    "-f",
                    "status=created"
                ]),
                "ps"
            )
            .unwrap(),
            format!(
                "?all=1&filters={}",
                crate::client::encode_query_value(
                    r#"{"label":{"a=b":true},"name":{"berth":true},"status":{"created":true,"exited":true}}"#
                )
            )
        );
        let ls = list_query(&parse(&["-f", "x"]), "container ls").unwrap_err();
        assert!(
            ls.to_string().contains(
                "Usage:  berth container ls [OPTIONS]\n\nRun 'berth container ls --help'"
            ),
            "{ls}"
        );
        let bad = list_query(&parse(&["-f", "nonsense"]), "ps").unwrap_err();
        assert_eq!(bad.exit_code(), 125);
        assert_eq!(
            bad.to_string(),
            "invalid argument \"nonsense\" for \"-f, --filter\" flag: bad format of filter (expected name=value)\n\nUsage:  berth ps [OPTIONS]\n\nRun 'berth ps --help' for more information"
        );
    }

    #[test]
    fn formats_follow_quiet_and_size() {
        assert_eq!(
            ps_format(None, true, false),
            FormatSpec::parse("{{.ID}}", "")
        );
        assert_eq!(
            ps_format(Some("{{.Names}}"), true, false),
            FormatSpec::parse("{{.ID}}", "")
        );
        let custom = ps_format(Some("table {{.ID}}\\t{{.Names}}"), false, false);
        assert!(custom.table);
        assert_eq!(custom.template, "{{.ID}}\t{{.Names}}");
        let rows = vec![ps_row(&summary(), true, 1_000)];
        let out = crate::table::render(&custom, HEADERS, &rows).unwrap();
        assert_eq!(out, "CONTAINER ID   NAMES\n0123456789ab   berth-web\n");
        let json = ps_format(Some("json"), false, false);
        let out = crate::table::render(&json, HEADERS, &rows).unwrap();
        let v: Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["Names"], "berth-web");
        assert_eq!(v["State"], "running");
    }
}
