//! `berth container prune`, `image prune`, `system prune` and `system df`,
//! with docker CLI 28's prompts, reports and tables.

use std::io::BufRead;

use clap::Args;
use hyper::Method;
use serde_json::{Value, json};

use super::{Ctx, filters_json, print_out, print_rows};
use crate::client::{empty, query};
use crate::error::CliError;
use crate::format::FormatSpec;
use crate::humanize::human_size;

/// Docker's `prompt.Confirm`: prints `message [y/N] `; only `y`/`Y` confirms.
fn confirm(message: &str) -> bool {
    print_out(&format!("{message} [y/N] "));
    let mut line = String::new();
    if std::io::stdin().lock().read_line(&mut line).is_err() {
        return false;
    }
    line.trim().eq_ignore_ascii_case("y")
}

/// `?filters=...` of `--filter` flags plus `extra` pairs.
fn filter_query(filters: &[String], extra: &[(&str, &str)]) -> Result<String, CliError> {
    Ok(match filters_json(filters, extra)? {
        Some(f) => query(&[("filters", f)]),
        None => String::new(),
    })
}

/// The strings of a report's list field (a `null` list is empty).
fn strings<'a>(v: &'a Value, key: &str) -> Vec<&'a str> {
    v[key]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default()
}

/// `Deleted <what>:` and one line per item, as docker's `RunPrune`s build it
/// (empty when nothing was removed).
fn section(title: &str, items: &[&str]) -> String {
    if items.is_empty() {
        return String::new();
    }
    let mut out = format!("{title}:\n");
    for i in items {
        out.push_str(i);
        out.push('\n');
    }
    out
}

/// Prints a section's output with docker's `Fprintln` (one more newline).
fn print_section(output: &str) {
    if !output.is_empty() {
        print_out(&format!("{output}\n"));
    }
}

fn total_line(space: u64) -> String {
    format!("Total reclaimed space: {}\n", human_size(space as f64))
}

/// One prune call: `(space reclaimed, report text)`.
async fn prune_containers(ctx: &Ctx, filters: &[String]) -> Result<(u64, String), CliError> {
    let q = filter_query(filters, &[])?;
    let v: Value = ctx
        .client
        .json(Method::POST, &format!("/containers/prune{q}"), empty())
        .await?;
    let ids = strings(&v, "ContainersDeleted");
    Ok((
        v["SpaceReclaimed"].as_u64().unwrap_or(0),
        section("Deleted Containers", &ids),
    ))
}

async fn prune_networks(ctx: &Ctx, filters: &[String]) -> Result<(u64, String), CliError> {
    let q = filter_query(filters, &[])?;
    let v: Value = ctx
        .client
        .json(Method::POST, &format!("/networks/prune{q}"), empty())
        .await?;
    Ok((
        0,
        section("Deleted Networks", &strings(&v, "NetworksDeleted")),
    ))
}

async fn prune_volumes(ctx: &Ctx, filters: &[String]) -> Result<(u64, String), CliError> {
    let q = filter_query(filters, &[])?;
    let v: Value = ctx
        .client
        .json(Method::POST, &format!("/volumes/prune{q}"), empty())
        .await?;
    Ok((
        v["SpaceReclaimed"].as_u64().unwrap_or(0),
        section("Deleted Volumes", &strings(&v, "VolumesDeleted")),
    ))
}

async fn prune_images(ctx: &Ctx, all: bool, filters: &[String]) -> Result<(u64, String), CliError> {
    let dangling = if all { "false" } else { "true" };
    let q = filter_query(filters, &[("dangling", dangling)])?;
    let v: Value = ctx
        .client
        .json(Method::POST, &format!("/images/prune{q}"), empty())
        .await?;
    let lines: Vec<String> = v["ImagesDeleted"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| match r["Untagged"].as_str().filter(|s| !s.is_empty()) {
            Some(u) => format!("untagged: {u}"),
            None => format!("deleted: {}", r["Deleted"].as_str().unwrap_or_default()),
        })
        .collect();
    let lines: Vec<&str> = lines.iter().map(String::as_str).collect();
    Ok((
        v["SpaceReclaimed"].as_u64().unwrap_or(0),
        section("Deleted Images", &lines),
    ))
}

async fn prune_build_cache(
    ctx: &Ctx,
    all: bool,
    filters: &[String],
) -> Result<(u64, String), CliError> {
    let mut q = filter_query(filters, &[])?;
    if all {
        q.push_str(if q.is_empty() { "?all=1" } else { "&all=1" });
    }
    let v: Value = ctx
        .client
        .json(Method::POST, &format!("/build/prune{q}"), empty())
        .await?;
    Ok((
        v["SpaceReclaimed"].as_u64().unwrap_or(0),
        section("Deleted build cache objects", &strings(&v, "CachesDeleted")),
    ))
}

/// `berth container prune`.
#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long, value_name = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
}

/// `berth container prune`.
pub async fn container_prune(ctx: &Ctx, args: ContainerPruneArgs) -> Result<(), CliError> {
    // A "no" cancels quietly with status 0, as docker does.
    if !args.force
        && !confirm(
            "WARNING! This will remove all stopped containers.\nAre you sure you want to continue?",
        )
    {
        return Ok(());
    }
    let (space, out) = prune_containers(ctx, &args.filter).await?;
    print_section(&out);
    print_out(&total_line(space));
    Ok(())
}

/// `berth image prune`.
#[derive(Debug, Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Provide filter values (e.g. "until=<timestamp>")
    #[arg(long, value_name = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
}

/// `berth image prune`.
pub async fn image_prune(ctx: &Ctx, args: ImagePruneArgs) -> Result<(), CliError> {
    let warning = if args.all {
        "WARNING! This will remove all images without at least one container associated to them.\nAre you sure you want to continue?"
    } else {
        "WARNING! This will remove all dangling images.\nAre you sure you want to continue?"
    };
    if !args.force && !confirm(warning) {
        return Ok(());
    }
    let (space, out) = prune_images(ctx, args.all, &args.filter).await?;
    print_section(&out);
    print_out(&total_line(space));
    Ok(())
}

/// `berth system prune`.
#[derive(Debug, Args)]
pub struct SystemPruneArgs {
    /// Remove all unused images not just dangling ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long, value_name = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
    /// Prune anonymous volumes
    #[arg(long)]
    volumes: bool,
}

/// docker 28's `system prune` confirmation text.
fn system_warning(args: &SystemPruneArgs) -> String {
    let mut warnings = vec![
        "all stopped containers",
        "all networks not used by at least one container",
    ];
    if args.volumes {
        warnings.push("all anonymous volumes not used by at least one container");
    }
    warnings.push(if args.all {
        "all images without at least one container associated to them"
    } else {
        "all dangling images"
    });
    warnings.push(if args.all {
        "all build cache"
    } else {
        "unused build cache"
    });
    let mut out = "WARNING! This will remove:\n".to_string();
    for w in warnings {
        out.push_str(&format!("  - {w}\n"));
    }
    if !args.filter.is_empty() {
        let mut filters = args.filter.clone();
        filters.sort();
        out.push_str("\n  Items to be pruned will be filtered with:\n");
        for f in filters {
            out.push_str(&format!("  - {f}\n"));
        }
    }
    out.push_str("\nAre you sure you want to continue?");
    out
}

/// `berth system prune`: containers, networks, volumes (with `--volumes`),
/// images, build cache — docker 28's order, one prompt for all.
pub async fn system_prune(ctx: &Ctx, args: SystemPruneArgs) -> Result<(), CliError> {
    if !args.force && !confirm(&system_warning(&args)) {
        return Ok(());
    }
    let mut total = 0;
    for step in 0..5 {
        let (space, out) = match step {
            0 => prune_containers(ctx, &args.filter).await?,
            1 => prune_networks(ctx, &args.filter).await?,
            2 if args.volumes => prune_volumes(ctx, &args.filter).await?,
            3 => prune_images(ctx, args.all, &args.filter).await?,
            4 => prune_build_cache(ctx, args.all, &args.filter).await?,
            _ => continue,
        };
        total += space;
        print_section(&out);
    }
    print_out(&total_line(total));
    Ok(())
}

/// `berth system df`.
#[derive(Debug, Args)]
pub struct DfArgs {
    /// Format output using a custom template
    #[arg(long)]
    format: Option<String>,
    /// Show detailed information on space usage
    #[arg(short = 'v', long)]
    verbose: bool,
}

/// `size (pct%)` as docker's df formatter prints a reclaimable amount.
fn reclaimable(reclaim: i64, total: i64) -> String {
    let text = human_size(reclaim as f64);
    if total > 0 {
        format!("{text} ({}%)", reclaim * 100 / total)
    } else {
        text
    }
}

/// The four rows of `docker system df` (docker CLI's `formatter/disk_usage.go`).
fn df_rows(du: &Value) -> Vec<Value> {
    let list = |k: &str| du[k].as_array().cloned().unwrap_or_default();
    let int = |v: &Value| v.as_i64().unwrap_or(0);

    let images = list("Images");
    let layers = int(&du["LayersSize"]);
    let used: i64 = images
        .iter()
        .filter(|i| int(&i["Containers"]) > 0)
        .map(|i| int(&i["Size"]) - int(&i["SharedSize"]))
        .sum();
    let active_images = images.iter().filter(|i| int(&i["Containers"]) > 0).count();

    let containers = list("Containers");
    let is_active = |c: &Value| matches!(c["State"].as_str(), Some("running" | "paused"));
    let c_size: i64 = containers.iter().map(|c| int(&c["SizeRw"])).sum();
    let c_reclaim: i64 = containers
        .iter()
        .filter(|c| !is_active(c))
        .map(|c| int(&c["SizeRw"]))
        .sum();

    let volumes = list("Volumes");
    let v_size: i64 = volumes
        .iter()
        .map(|v| int(&v["UsageData"]["Size"]).max(0))
        .sum();
    let v_reclaim: i64 = volumes
        .iter()
        .filter(|v| int(&v["UsageData"]["RefCount"]) == 0)
        .map(|v| int(&v["UsageData"]["Size"]).max(0))
        .sum();

    let cache = list("BuildCache");
    let b_size: i64 = cache
        .iter()
        .filter(|b| b["Shared"] != json!(true))
        .map(|b| int(&b["Size"]))
        .sum();
    let b_reclaim: i64 = cache
        .iter()
        .filter(|b| b["InUse"] != json!(true) && b["Shared"] != json!(true))
        .map(|b| int(&b["Size"]))
        .sum();

    let row = |t: &str, total: usize, active: usize, size: i64, reclaim: String| {
        json!({
            "Type": t,
            "TotalCount": total.to_string(),
            "Active": active.to_string(),
            "Size": human_size(size as f64),
            "Reclaimable": reclaim,
        })
    };
    vec![
        row(
            "Images",
            images.len(),
            active_images,
            layers,
            reclaimable(layers - used, layers),
        ),
        row(
            "Containers",
            containers.len(),
            containers.iter().filter(|c| is_active(c)).count(),
            c_size,
            reclaimable(c_reclaim, c_size),
        ),
        row(
            "Local Volumes",
            volumes.len(),
            volumes
                .iter()
                .filter(|v| int(&v["UsageData"]["RefCount"]) > 0)
                .count(),
            v_size,
            reclaimable(v_reclaim, v_size),
        ),
        row(
            "Build Cache",
            cache.len(),
            cache.iter().filter(|b| b["InUse"] == json!(true)).count(),
            b_size,
            human_size(b_reclaim as f64),
        ),
    ]
}

/// `docker system df -v`: one table per kind.
fn df_verbose(du: &Value) -> Result<(), CliError> {
    let list = |k: &str| du[k].as_array().cloned().unwrap_or_default();
    let int = |v: &Value| v.as_i64().unwrap_or(0);
    let now = super::now_unix();
    let ago = |t: i64| {
        format!(
            "{} ago",
            crate::humanize::human_duration(
                std::time::Duration::from_secs((now - t).max(0) as u64)
            )
        )
    };
    print_out("Images space usage:\n\n");
    let images: Vec<Value> = list("Images")
        .iter()
        .map(|i| {
            let tag = i["RepoTags"][0].as_str().unwrap_or("<none>:<none>");
            let (repo, tag) = tag.rsplit_once(':').unwrap_or((tag, "<none>"));
            let id = i["Id"].as_str().unwrap_or_default();
            let short = id.strip_prefix("sha256:").unwrap_or(id);
            json!({
                "Repository": repo,
                "Tag": tag,
                "ID": &short[..short.len().min(12)],
                "CreatedSince": ago(int(&i["Created"])),
                "Size": human_size(int(&i["Size"]) as f64),
                "SharedSize": human_size(int(&i["SharedSize"]) as f64),
                "UniqueSize": human_size((int(&i["Size"]) - int(&i["SharedSize"])) as f64),
                "Containers": int(&i["Containers"]).to_string(),
            })
        })
        .collect();
    let spec = FormatSpec::parse(
        "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}\t{{.SharedSize}}\t{{.UniqueSize}}\t{{.Containers}}",
        "",
    );
    print_rows(
        &spec,
        &[
            ("Repository", "REPOSITORY"),
            ("Tag", "TAG"),
            ("ID", "IMAGE ID"),
            ("CreatedSince", "CREATED"),
            ("Size", "SIZE"),
            ("SharedSize", "SHARED SIZE"),
            ("UniqueSize", "UNIQUE SIZE"),
            ("Containers", "CONTAINERS"),
        ],
        &images,
    )?;
    print_out("\nContainers space usage:\n\n");
    let containers: Vec<Value> = list("Containers")
        .iter()
        .map(|c| {
            let id = c["Id"].as_str().unwrap_or_default();
            let volumes = c["Mounts"]
                .as_array()
                .map_or(0, |m| m.iter().filter(|m| m["Type"] == "volume").count());
            json!({
                "ID": &id[..id.len().min(12)],
                "Image": c["Image"],
                "Command": format!("\"{}\"", c["Command"].as_str().unwrap_or_default()),
                "LocalVolumes": volumes.to_string(),
                "Size": human_size(int(&c["SizeRw"]) as f64),
                "RunningFor": ago(int(&c["Created"])),
                "Status": c["Status"],
                "Names": c["Names"][0].as_str().unwrap_or_default().trim_start_matches('/'),
            })
        })
        .collect();
    let spec = FormatSpec::parse(
        "table {{.ID}}\t{{.Image}}\t{{.Command}}\t{{.LocalVolumes}}\t{{.Size}}\t{{.RunningFor}}\t{{.Status}}\t{{.Names}}",
        "",
    );
    print_rows(
        &spec,
        &[
            ("ID", "CONTAINER ID"),
            ("Image", "IMAGE"),
            ("Command", "COMMAND"),
            ("LocalVolumes", "LOCAL VOLUMES"),
            ("Size", "SIZE"),
            ("RunningFor", "CREATED"),
            ("Status", "STATUS"),
            ("Names", "NAMES"),
        ],
        &containers,
    )?;
    print_out("\nLocal Volumes space usage:\n\n");
    let volumes: Vec<Value> = list("Volumes")
        .iter()
        .map(|v| {
            json!({
                "Name": v["Name"],
                "Links": int(&v["UsageData"]["RefCount"]).to_string(),
                "Size": human_size(int(&v["UsageData"]["Size"]).max(0) as f64),
            })
        })
        .collect();
    let spec = FormatSpec::parse("table {{.Name}}\t{{.Links}}\t{{.Size}}", "");
    print_rows(
        &spec,
        &[
            ("Name", "VOLUME NAME"),
            ("Links", "LINKS"),
            ("Size", "SIZE"),
        ],
        &volumes,
    )?;
    print_out("\nBuild cache usage: 0B\n\n");
    let spec = FormatSpec::parse(
        "table {{.ID}}\t{{.Type}}\t{{.Size}}\t{{.Created}}\t{{.LastUsed}}\t{{.Usage}}\t{{.Shared}}",
        "",
    );
    print_rows(
        &spec,
        &[
            ("ID", "CACHE ID"),
            ("Type", "CACHE TYPE"),
            ("Size", "SIZE"),
            ("Created", "CREATED"),
            ("LastUsed", "LAST USED"),
            ("Usage", "USAGE"),
            ("Shared", "SHARED"),
        ],
        &[],
    )
}

/// `berth system df`.
pub async fn system_df(ctx: &Ctx, args: DfArgs) -> Result<(), CliError> {
    let du: Value = ctx.client.json(Method::GET, "/system/df", empty()).await?;
    if args.verbose && args.format.is_none() {
        return df_verbose(&du);
    }
    let spec = FormatSpec::parse(
        args.format.as_deref().unwrap_or(""),
        "{{.Type}}\t{{.TotalCount}}\t{{.Active}}\t{{.Size}}\t{{.Reclaimable}}",
    );
    print_rows(
        &spec,
        &[
            ("Type", "TYPE"),
            ("TotalCount", "TOTAL"),
            ("Active", "ACTIVE"),
            ("Size", "SIZE"),
            ("Reclaimable", "RECLAIMABLE"),
        ],
        &df_rows(&du),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_prune_warning_is_docker_28s() {
        let args = SystemPruneArgs {
            all: true,
            filter: vec!["until=1h".into(), "label=a".into()],
            force: false,
            volumes: true,
        };
        assert_eq!(
            system_warning(&args),
            "WARNING! This will remove:\n  - all stopped containers\n  - all networks not used by at least one container\n  - all anonymous volumes not used by at least one container\n  - all images without at least one container associated to them\n  - all build cache\n\n  Items to be pruned will be filtered with:\n  - label=a\n  - until=1h\n\nAre you sure you want to continue?"
        );
    }

    #[test]
    fn df_rows_count_and_reclaim_like_docker() {
        let du = json!({
            "LayersSize": 1000,
            "Images": [
                {"Size": 600, "SharedSize": 100, "Containers": 1},
                {"Size": 400, "SharedSize": 100, "Containers": 0}
            ],
            "Containers": [
                {"State": "running", "SizeRw": 300},
                {"State": "exited", "SizeRw": 100}
            ],
            "Volumes": [{"UsageData": {"Size": 50, "RefCount": 0}}],
            "BuildCache": []
        });
        let rows = df_rows(&du);
        assert_eq!(rows[0]["Reclaimable"], "500B (50%)");
        assert_eq!(rows[0]["Active"], "1");
        assert_eq!(rows[1]["Size"], "400B");
        assert_eq!(rows[1]["Reclaimable"], "100B (25%)");
        assert_eq!(rows[2]["Reclaimable"], "50B (100%)");
        assert_eq!(rows[3]["Reclaimable"], "0B");
    }
}
