//! `berth volume create|ls|inspect|rm|prune` with Docker's flags and output.

use std::collections::HashMap;
use std::io::{BufRead, Write};

use clap::{Args, Subcommand};
use hyper::Method;
use serde_json::{Value, json};

use super::{Ctx, filters_json, print_out, print_rows};
use crate::client::{ClientError, empty, encode_path, json_body, query};
use crate::error::CliError;
use crate::format::{FormatSpec, Template, indent_json};
use crate::humanize::human_size;

/// `berth volume ...`.
#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(visible_alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove unused local volumes
    Prune(PruneArgs),
}

/// `berth volume create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume driver name
    #[arg(short = 'd', long, value_name = "string", default_value = "local")]
    driver: String,
    /// Set metadata for a volume
    #[arg(long = "label", value_name = "list")]
    label: Vec<String>,
    /// Set driver specific options
    #[arg(short = 'o', long = "opt", value_name = "map")]
    opt: Vec<String>,
    /// Specify volume name
    #[arg(long, value_name = "string", hide = true)]
    name: Option<String>,
    /// The volume's name
    #[arg(value_name = "VOLUME")]
    volume: Option<String>,
}

/// `berth volume ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Provide filter values (e.g. "dangling=true")
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template
    #[arg(long, value_name = "string")]
    format: Option<String>,
}

/// `berth volume inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template
    #[arg(short = 'f', long, value_name = "string")]
    format: Option<String>,
    /// The volumes
    #[arg(required = true, value_name = "VOLUME")]
    volumes: Vec<String>,
}

/// `berth volume rm`.
#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of one or more volumes
    #[arg(short = 'f', long)]
    force: bool,
    /// The volumes
    #[arg(required = true, value_name = "VOLUME")]
    volumes: Vec<String>,
}

/// `berth volume prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused volumes, not just anonymous ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Provide filter values (e.g. "label=<label>")
    #[arg(long = "filter", value_name = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
}

/// Runs one `volume` subcommand.
pub async fn volume(ctx: &Ctx, command: VolumeCommand) -> Result<(), CliError> {
    match command {
        VolumeCommand::Create(a) => create(ctx, a).await,
        VolumeCommand::Ls(a) => ls(ctx, a).await,
        VolumeCommand::Inspect(a) => inspect(ctx, a).await,
        VolumeCommand::Rm(a) => rm(ctx, a).await,
        VolumeCommand::Prune(a) => prune(ctx, a).await,
    }
}

/// Docker's `MapOpts`: `k=v`, or `k` for an empty value.
fn map_of(items: &[String]) -> HashMap<String, String> {
    items
        .iter()
        .map(|i| match i.split_once('=') {
            Some((k, v)) => (k.to_owned(), v.to_owned()),
            None => (i.clone(), String::new()),
        })
        .collect()
}

async fn create(ctx: &Ctx, args: CreateArgs) -> Result<(), CliError> {
    if let (Some(flag), Some(arg)) = (&args.name, &args.volume)
        && flag != arg
    {
        return Err(CliError::usage(
            "conflicting options: either specify --name or provide positional arg, not both",
        ));
    }
    let name = args.volume.or(args.name).unwrap_or_default();
    let body = json!({
        "Driver": args.driver,
        "DriverOpts": map_of(&args.opt),
        "Labels": map_of(&args.label),
        "Name": name,
    });
    let v: Value = ctx
        .client
        .json(Method::POST, "/volumes/create", json_body(&body))
        .await?;
    print_out(&format!("{}\n", v["Name"].as_str().unwrap_or_default()));
    Ok(())
}

const HEADERS: &[(&str, &str)] = &[
    ("Driver", "DRIVER"),
    ("Name", "VOLUME NAME"),
    ("Scope", "SCOPE"),
    ("Mountpoint", "MOUNTPOINT"),
    ("Labels", "LABELS"),
    ("Links", "LINKS"),
    ("Size", "SIZE"),
    ("Group", "GROUP"),
    ("Availability", "AVAILABILITY"),
    ("Status", "STATUS"),
];

/// The fields Docker's volume formatter offers for one volume.
fn row(v: &Value) -> Value {
    let s = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
    let mut labels: Vec<String> = v["Labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, x)| format!("{k}={}", x.as_str().unwrap_or_default()))
                .collect()
        })
        .unwrap_or_default();
    labels.sort();
    json!({
        "Availability": "N/A",
        "Driver": s("Driver"),
        "Group": "N/A",
        "Labels": labels.join(","),
        "Links": "N/A",
        "Mountpoint": s("Mountpoint"),
        "Name": s("Name"),
        "Scope": s("Scope"),
        "Size": "N/A",
        "Status": "N/A",
    })
}

async fn ls(ctx: &Ctx, args: LsArgs) -> Result<(), CliError> {
    let default_table = "{{.Driver}}\t{{.Name}}";
    let spec = match args.format.as_deref().filter(|f| !f.trim().is_empty()) {
        _ if args.quiet => FormatSpec::parse("{{.Name}}", ""),
        Some(f) => FormatSpec::parse(f, default_table),
        None => FormatSpec::parse("", default_table),
    };
    Template::parse(&spec.template)?;
    let mut q = Vec::new();
    if let Some(f) = filters_json(&args.filter, &[])? {
        q.push(("filters", f));
    }
    let resp: Value = ctx.client.get(&format!("/volumes{}", query(&q))).await?;
    let mut rows: Vec<Value> = resp["Volumes"]
        .as_array()
        .map(|a| a.iter().map(row).collect())
        .unwrap_or_default();
    rows.sort_by(|a, b| a["Name"].as_str().cmp(&b["Name"].as_str()));
    print_rows(&spec, HEADERS, &rows)
}

async fn inspect(ctx: &Ctx, args: InspectArgs) -> Result<(), CliError> {
    let template = match args.format.as_deref().filter(|f| !f.is_empty()) {
        None => None,
        Some(f) => {
            let f = if f.trim() == "json" { "{{json .}}" } else { f };
            Some(Template::parse(f).map_err(|e| CliError::Status {
                code: 64,
                message: e.to_string(),
            })?)
        }
    };
    let mut found = Vec::new();
    let mut errors = Vec::new();
    for name in &args.volumes {
        let path = format!("/volumes/{}", encode_path(name));
        match ctx.client.bytes(Method::GET, &path, empty()).await {
            Ok(raw) => found.push((path, raw)),
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    let out = match &template {
        None => {
            let joined: Vec<String> = found
                .iter()
                .map(|(_, r)| String::from_utf8_lossy(r).trim().to_owned())
                .collect();
            format!("{}\n", indent_json(&format!("[{}]", joined.join(","))))
        }
        Some(t) => {
            let mut s = String::new();
            for (path, raw) in &found {
                let v: Value =
                    serde_json::from_slice(raw).map_err(|source| ClientError::Decode {
                        path: path.clone(),
                        source,
                    })?;
                match t.render(&v) {
                    Ok(r) => {
                        s.push_str(&r);
                        s.push('\n');
                    }
                    Err(e) => errors.push(e.to_string()),
                }
            }
            s
        }
    };
    print_out(&out);
    failed(errors)
}

fn failed(errors: Vec<String>) -> Result<(), CliError> {
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Status {
            code: 1,
            message: errors.join("\n"),
        })
    }
}

async fn rm(ctx: &Ctx, args: RmArgs) -> Result<(), CliError> {
    let q = if args.force { "?force=1" } else { "" };
    let mut errors = Vec::new();
    for name in &args.volumes {
        let path = format!("/volumes/{}{q}", encode_path(name));
        match ctx.client.bytes(Method::DELETE, &path, empty()).await {
            Ok(_) => print_out(&format!("{name}\n")),
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(e) => errors.push(e.to_string()),
        }
    }
    failed(errors)
}

/// Asks Docker's question on stdout; true for `y`/`Y`.
fn confirm(question: &str) -> bool {
    let mut out = std::io::stdout().lock();
    let _ = write!(out, "{question} [y/N] ");
    let _ = out.flush();
    let mut answer = String::new();
    if std::io::stdin().lock().read_line(&mut answer).is_err() {
        return false;
    }
    matches!(answer.trim(), "y" | "Y")
}

async fn prune(ctx: &Ctx, args: PruneArgs) -> Result<(), CliError> {
    let extra: Vec<(&str, &str)> = if args.all {
        vec![("all", "true")]
    } else {
        Vec::new()
    };
    let filters = filters_json(&args.filter, &extra)?;
    // API 1.41 prunes named volumes too, so Docker's CLI warns about all of them.
    if !args.force
        && !confirm(
            "WARNING! This will remove all local volumes not used by at least one container.\nAre you sure you want to continue?",
        )
    {
        return Ok(());
    }
    let mut q = Vec::new();
    if let Some(f) = filters {
        q.push(("filters", f));
    }
    let resp: Value = ctx
        .client
        .json(
            Method::POST,
            &format!("/volumes/prune{}", query(&q)),
            empty(),
        )
        .await?;
    let mut out = String::new();
    let deleted: Vec<&str> = resp["VolumesDeleted"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    if !deleted.is_empty() {
        out.push_str("Deleted Volumes:\n");
        for d in deleted {
            out.push_str(d);
            out.push('\n');
        }
        out.push('\n');
    }
    let space = resp["SpaceReclaimed"].as_u64().unwrap_or(0);
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(space as f64)
    ));
    print_out(&out);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_carry_dockers_fields() {
        let v = json!({"Name": "x", "Driver": "local", "Scope": "local",
            "Mountpoint": "/m", "Labels": {"b": "2", "a": "1"}});
        let r = row(&v);
        assert_eq!(r["Labels"], "a=1,b=2");
        assert_eq!(r["Links"], "N/A");
        let spec = FormatSpec::parse("", "{{.Driver}}\t{{.Name}}");
        let text = crate::table::render(&spec, HEADERS, &[r]).unwrap();
        assert_eq!(text, "DRIVER    VOLUME NAME\nlocal     x\n");
        assert_eq!(map_of(&["a=b=c".into(), "k".into()])["a"], "b=c");
    }
}
