//! Image commands: `images`/`image ls`, `load`, `save`, `import`, `tag`,
//! `rmi`/`image rm`, `image inspect`, `inspect` and `history`.

use std::io::{IsTerminal, Write};
use std::path::Path;

use bytes::Bytes;
use clap::Args;
use hyper::Method;
use serde::Deserialize;
use serde_json::{Value, json};

use berth::api::models::{HistoryResponseItem, ImageSummary};
use berth::image::reference::{Reference, familiar_name, split_repo_tag};

use super::{Ctx, display_json_messages, filters_json, now_unix, print_out, print_rows};
use crate::client::{ClientError, empty, encode_path, next_chunk, query, reader_body};
use crate::error::CliError;
use crate::format::{FormatError, FormatSpec, Template, indent_json};
use crate::humanize::{human_size, human_size_with_precision, time_ago};

/// Docker's `stringid.TruncateID`: drop the algorithm, keep 12 characters.
pub fn truncate_id(id: &str) -> String {
    let id = id.split_once(':').map_or(id, |(_, hex)| hex);
    id.chars().take(12).collect()
}

/// Go's `time.Time.String()` in local time: `2024-01-02 15:04:05 +0000 UTC`.
pub(crate) fn go_time_string(secs: i64) -> String {
    use chrono::TimeZone;
    match chrono::Local.timestamp_opt(secs, 0).single() {
        Some(t) => {
            let offset = t.format("%z").to_string();
            let zone = if offset == "+0000" {
                "UTC".to_string()
            } else {
                offset.clone()
            };
            format!("{} {offset} {zone}", t.format("%Y-%m-%d %H:%M:%S"))
        }
        None => String::new(),
    }
}

/// RFC 3339 in local time, as Go's `time.RFC3339` prints it.
fn rfc3339(secs: i64) -> String {
    use chrono::TimeZone;
    chrono::Local
        .timestamp_opt(secs, 0)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default()
}

/// Docker's `formatter.Ellipsis` for plain text: cut to `max` characters ending in `…`.
pub(crate) fn ellipsis(s: &str, max: usize) -> String {
    let count = s.chars().count();
    if count <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

// ---------------------------------------------------------------- images

/// `berth images` / `berth image ls`.
#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    all: bool,
    /// Show digests
    #[arg(long)]
    digests: bool,
    /// Filter output based on conditions provided
    #[arg(short = 'f', long = "filter", value_name = "filter")]
    filter: Vec<String>,
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Only list images of this repository (and tag)
    #[arg(value_name = "REPOSITORY[:TAG]")]
    repository: Option<String>,
}

const IMAGE_TABLE: &str = "{{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";
const IMAGE_TABLE_DIGEST: &str =
    "{{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}";

const IMAGE_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE ID"),
    ("Repository", "REPOSITORY"),
    ("Tag", "TAG"),
    ("Digest", "DIGEST"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("Size", "SIZE"),
    ("Containers", "CONTAINERS"),
    ("VirtualSize", "SIZE"),
    ("SharedSize", "SHARED SIZE"),
    ("UniqueSize", "UNIQUE SIZE"),
];

/// Docker's `NewImageFormat`: the format after `-q`, `--digests` and keywords.
fn image_format(format: Option<&str>, quiet: bool, digests: bool) -> FormatSpec {
    let source = format.unwrap_or("table");
    if source.trim() == "table" {
        if quiet {
            return FormatSpec::parse("{{.ID}}", "");
        }
        return FormatSpec::parse(
            "",
            if digests {
                IMAGE_TABLE_DIGEST
            } else {
                IMAGE_TABLE
            },
        );
    }
    let mut spec = FormatSpec::parse(source, IMAGE_TABLE);
    if spec.table && digests && !spec.template.contains("{{.Digest}}") {
        spec.template.push_str("\t{{.Digest}}");
    }
    spec
}

/// One row of the images table, with every field Docker's image context offers.
fn image_row(
    img: &ImageSummary,
    repo: &str,
    tag: &str,
    digest: &str,
    trunc: bool,
    now: i64,
) -> Value {
    let na = |n: i64, f: &dyn Fn(i64) -> String| if n == -1 { "N/A".to_string() } else { f(n) };
    let id = if trunc {
        truncate_id(&img.id)
    } else {
        img.id.clone()
    };
    json!({
        "Containers": na(img.containers, &|n| n.to_string()),
        "CreatedAt": go_time_string(img.created),
        "CreatedSince": time_ago(img.created, now),
        "Digest": digest,
        "ID": id,
        "Repository": repo,
        "SharedSize": na(img.shared_size, &|n| human_size(n as f64)),
        "Size": human_size_with_precision(img.size as f64, 3),
        "Tag": tag,
        "UniqueSize": if img.size == -1 || img.shared_size == -1 {
            "N/A".to_string()
        } else {
            human_size((img.size - img.shared_size) as f64)
        },
        "VirtualSize": human_size(img.size as f64),
    })
}

/// Expands images into rows like Docker's `imageFormat`: a row per repository
/// tag (per digest with `--digests`), digest-only rows, or `<none>`.
fn image_rows(images: &[ImageSummary], show_digests: bool, trunc: bool, now: i64) -> Vec<Value> {
    let mut rows = Vec::new();
    for img in images {
        // Insertion-ordered groups, where Docker uses (randomly ordered) maps.
        let mut tags: Vec<(String, Vec<String>)> = Vec::new();
        let mut digests: Vec<(String, Vec<String>)> = Vec::new();
        for rt in &img.repo_tags {
            if let (repo, Some(tag)) = split_repo_tag(rt)
                && !rt.contains('@')
            {
                push_group(&mut tags, familiar_name(repo), tag.to_string());
            }
        }
        for rd in &img.repo_digests {
            if let Some((repo, digest)) = rd.split_once('@') {
                push_group(&mut digests, familiar_name(repo), digest.to_string());
            }
        }
        let before = rows.len();
        for (repo, repo_tags) in &tags {
            let repo_digests = match digests.iter().position(|(r, _)| r == repo) {
                Some(i) => digests.remove(i).1,
                None => Vec::new(),
            };
            for tag in repo_tags {
                if !show_digests || repo_digests.is_empty() {
                    rows.push(image_row(img, repo, tag, "<none>", trunc, now));
                } else {
                    for d in &repo_digests {
                        rows.push(image_row(img, repo, tag, d, trunc, now));
                    }
                }
            }
        }
        for (repo, repo_digests) in &digests {
            if show_digests {
                for d in repo_digests {
                    rows.push(image_row(img, repo, "<none>", d, trunc, now));
                }
            } else {
                rows.push(image_row(img, repo, "<none>", "", trunc, now));
            }
        }
        if rows.len() == before {
            rows.push(image_row(img, "<none>", "<none>", "<none>", trunc, now));
        }
    }
    rows
}

fn push_group(groups: &mut Vec<(String, Vec<String>)>, key: String, value: String) {
    match groups.iter_mut().find(|(k, _)| *k == key) {
        Some((_, values)) => values.push(value),
        None => groups.push((key, vec![value])),
    }
}

/// `berth images`: list images.
pub async fn images(ctx: &Ctx, args: ImagesArgs) -> Result<(), CliError> {
    let spec = image_format(args.format.as_deref(), args.quiet, args.digests);
    // Fail on a bad template before asking the daemon anything.
    Template::parse(&spec.template)?;
    let extra: Vec<(&str, &str)> = args
        .repository
        .iter()
        .map(|r| ("reference", r.as_str()))
        .collect();
    let mut q = Vec::new();
    if args.all {
        q.push(("all", "1".to_string()));
    }
    if let Some(f) = filters_json(&args.filter, &extra)? {
        q.push(("filters", f));
    }
    let images: Vec<ImageSummary> = ctx
        .client
        .get(&format!("/images/json{}", query(&q)))
        .await?;
    let rows = image_rows(&images, args.digests, !args.no_trunc, now_unix());
    print_rows(&spec, IMAGE_HEADERS, &rows)
}

// ---------------------------------------------------------------- load / save / import

/// `berth load`.
#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long)]
    input: Option<String>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    quiet: bool,
}

fn open_err(path: &str) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        op: "open",
        path: path.to_string(),
        source,
    }
}

/// `berth load`: load images from a tar archive (file or stdin), streamed.
pub async fn load(ctx: &Ctx, args: LoadArgs) -> Result<(), CliError> {
    let body = match &args.input {
        Some(path) => reader_body(tokio::fs::File::open(path).await.map_err(open_err(path))?),
        None => {
            // Docker refuses rather than waiting forever on a terminal.
            if std::io::stdin().is_terminal() {
                return Err(CliError::usage(
                    "requested load from stdin, but stdin is empty",
                ));
            }
            reader_body(tokio::io::stdin())
        }
    };
    let quiet = args.quiet || !std::io::stdout().is_terminal();
    let path = format!(
        "/images/load{}",
        query(&[("quiet", if quiet { "1" } else { "0" }.to_string())])
    );
    let resp = ctx
        .client
        .send(Method::POST, &path, body, Some("application/x-tar"))
        .await?;
    let is_json = resp
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return display_json_messages(&path, resp, &mut std::io::stdout()).await;
    }
    let body = crate::client::Client::read_all(&path, resp).await?;
    print_out(&String::from_utf8_lossy(&body));
    Ok(())
}

/// `berth save`.
#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    output: Option<String>,
    /// The images to save
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

/// `berth save`: stream a tar archive of images to a file or stdout.
pub async fn save(ctx: &Ctx, args: SaveArgs) -> Result<(), CliError> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::usage(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    if let Some(out) = &args.output {
        validate_output_path(out)?;
    }
    let q: Vec<(&str, String)> = args.images.iter().map(|n| ("names", n.clone())).collect();
    let path = format!("/images/get{}", query(&q));
    let resp = ctx.client.send(Method::GET, &path, empty(), None).await?;
    let mut body = resp.into_body();
    match &args.output {
        None => {
            let mut out = std::io::stdout().lock();
            while let Some(chunk) = next_chunk(&path, &mut body).await? {
                out.write_all(&chunk).map_err(|source| CliError::Io {
                    op: "write",
                    path: "/dev/stdout".into(),
                    source,
                })?;
            }
            out.flush().map_err(|source| CliError::Io {
                op: "write",
                path: "/dev/stdout".into(),
                source,
            })?;
        }
        Some(out) => {
            // Like Docker's CopyToFile: a temp file beside the target, renamed
            // into place only once the whole archive has arrived.
            let target = Path::new(out);
            let dir = match target.parent() {
                Some(d) if !d.as_os_str().is_empty() => d,
                _ => Path::new("."),
            };
            let io_err = |op: &'static str| {
                move |source| CliError::Io {
                    op,
                    path: out.clone(),
                    source,
                }
            };
            let mut tmp = tempfile::Builder::new()
                .prefix(".berth_temp_")
                .tempfile_in(dir)
                .map_err(io_err("create"))?;
            while let Some(chunk) = next_chunk(&path, &mut body).await? {
                tmp.write_all(&chunk).map_err(io_err("write"))?;
            }
            tmp.as_file().sync_all().map_err(io_err("sync"))?;
            tmp.persist(target).map_err(|e| CliError::Io {
                op: "rename",
                path: out.clone(),
                source: e.error,
            })?;
        }
    }
    Ok(())
}

/// Docker's `ValidateOutputPath`: the directory must exist, and an existing
/// target must not be a directory.
fn validate_output_path(out: &str) -> Result<(), CliError> {
    let p = Path::new(out);
    let dir = match p.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    if !dir.is_dir() {
        return Err(CliError::usage(format!(
            "failed to save image: invalid output path: directory {:?} does not exist",
            dir.display().to_string()
        )));
    }
    if p.is_dir() {
        return Err(CliError::usage(format!(
            "failed to save image: invalid output path: {out:?} must be a directory or a regular file"
        )));
    }
    Ok(())
}

/// `berth import`.
#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    change: Vec<String>,
    /// Set commit message for imported image
    #[arg(short = 'm', long)]
    message: Option<String>,
    /// A tar archive (optionally compressed), or - for STDIN
    #[arg(value_name = "file|URL|-")]
    source: String,
    /// The name to give the image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

/// `berth import`: create an image from a filesystem tarball, streamed.
pub async fn import(ctx: &Ctx, args: ImportArgs) -> Result<(), CliError> {
    if args.source.starts_with("http://") || args.source.starts_with("https://") {
        return Err(CliError::usage(format!(
            "importing from a URL is not supported: {}",
            args.source
        )));
    }
    if let Some(r) = &args.reference {
        Reference::parse(r)?;
    }
    let body = if args.source == "-" {
        reader_body(tokio::io::stdin())
    } else {
        reader_body(
            tokio::fs::File::open(&args.source)
                .await
                .map_err(open_err(&args.source))?,
        )
    };
    let mut q = vec![("fromSrc", "-".to_string())];
    if let Some(r) = &args.reference {
        q.push(("repo", r.clone()));
    }
    if let Some(m) = &args.message {
        q.push(("message", m.clone()));
    }
    for c in &args.change {
        q.push(("changes", c.clone()));
    }
    let path = format!("/images/create{}", query(&q));
    let resp = ctx
        .client
        .send(Method::POST, &path, body, Some("application/x-tar"))
        .await?;
    display_json_messages(&path, resp, &mut std::io::stdout()).await
}

// ---------------------------------------------------------------- tag / rmi

/// `berth tag`.
#[derive(Debug, Args)]
pub struct TagArgs {
    /// The image to tag
    #[arg(value_name = "SOURCE_IMAGE[:TAG]")]
    source: String,
    /// The new name
    #[arg(value_name = "TARGET_IMAGE[:TAG]")]
    target: String,
}

/// `berth tag`: add a name to an image.
pub async fn tag(ctx: &Ctx, args: TagArgs) -> Result<(), CliError> {
    let target = Reference::parse(&args.target).map_err(|e| {
        CliError::usage(format!(
            "Error parsing reference: {:?} is not a valid repository/tag: {e}",
            args.target
        ))
    })?;
    if target.digest.is_some() {
        return Err(CliError::usage(
            "refusing to create a tag with a digest reference",
        ));
    }
    let q = [
        ("repo", target.name()),
        ("tag", target.tag.unwrap_or_else(|| "latest".to_string())),
    ];
    let path = format!("/images/{}/tag{}", encode_path(&args.source), query(&q));
    ctx.client.bytes(Method::POST, &path, empty()).await?;
    Ok(())
}

/// `berth rmi` / `berth image rm`.
#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    force: bool,
    /// Do not delete untagged parents
    #[arg(long)]
    no_prune: bool,
    /// The images to remove
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

/// One entry of `DELETE /images/{name}`'s answer.
#[derive(Debug, Deserialize)]
struct DeleteItem {
    #[serde(rename = "Untagged", default)]
    untagged: Option<String>,
    #[serde(rename = "Deleted", default)]
    deleted: Option<String>,
}

/// `berth rmi`: remove images, reporting each failure and going on.
pub async fn rmi(ctx: &Ctx, args: RmiArgs) -> Result<(), CliError> {
    let mut q = Vec::new();
    if args.force {
        q.push(("force", "1".to_string()));
    }
    if args.no_prune {
        q.push(("noprune", "1".to_string()));
    }
    let mut errors = Vec::new();
    for name in &args.images {
        let path = format!("/images/{}{}", encode_path(name), query(&q));
        match ctx
            .client
            .json::<Vec<DeleteItem>>(Method::DELETE, &path, empty())
            .await
        {
            Ok(items) => {
                let mut out = String::new();
                for item in items {
                    match (item.deleted.filter(|d| !d.is_empty()), item.untagged) {
                        (Some(d), _) => out.push_str(&format!("Deleted: {d}\n")),
                        (None, Some(u)) => out.push_str(&format!("Untagged: {u}\n")),
                        (None, None) => {}
                    }
                }
                print_out(&out);
            }
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            // `rmi -f` of something already gone is success, as in Docker.
            Err(e) if args.force && e.is_not_found() => {}
            Err(e) => errors.push(e.to_string()),
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(CliError::Status {
            code: 1,
            message: errors.join("\n"),
        })
    }
}

// ---------------------------------------------------------------- inspect

/// Collects inspect results like Docker's inspector: a JSON array indented
/// with four spaces, or one template rendering per object; errors are
/// gathered and reported after the output.
pub(crate) struct Inspector {
    template: Option<Template>,
    raws: Vec<Bytes>,
    rendered: String,
    /// Errors to report after the output.
    pub(crate) errors: Vec<String>,
}

impl Inspector {
    /// An inspector for `--format` (none: the JSON array).
    pub(crate) fn new(format: Option<&str>) -> Result<Inspector, CliError> {
        let template = match format.filter(|f| !f.is_empty()) {
            None => None,
            Some(f) => {
                let f = if f.trim() == "json" { "{{json .}}" } else { f };
                // Docker exits 64 (usage) for an unparsable inspect template.
                Some(
                    Template::parse(f).map_err(|e: FormatError| CliError::Status {
                        code: 64,
                        message: e.to_string(),
                    })?,
                )
            }
        };
        Ok(Inspector {
            template,
            raws: Vec::new(),
            rendered: String::new(),
            errors: Vec::new(),
        })
    }

    /// Adds one object's raw JSON, fetched from `path`.
    pub(crate) fn add(&mut self, path: &str, raw: Bytes) -> Result<(), CliError> {
        match &self.template {
            None => self.raws.push(raw),
            Some(t) => {
                let v: Value =
                    serde_json::from_slice(&raw).map_err(|source| ClientError::Decode {
                        path: path.to_string(),
                        source,
                    })?;
                match t.render(&v) {
                    Ok(s) => {
                        self.rendered.push_str(&s);
                        self.rendered.push('\n');
                    }
                    Err(e) => self.errors.push(e.to_string()),
                }
            }
        }
        Ok(())
    }

    /// Prints the output, then fails with the gathered errors if any.
    pub(crate) fn finish(self) -> Result<(), CliError> {
        let out = match &self.template {
            None if self.raws.is_empty() => "[]\n".to_string(),
            None => {
                let joined: Vec<String> = self
                    .raws
                    .iter()
                    .map(|r| String::from_utf8_lossy(r).trim().to_string())
                    .collect();
                format!("{}\n", indent_json(&format!("[{}]", joined.join(","))))
            }
            Some(_) if self.rendered.is_empty() => "\n".to_string(),
            Some(_) => self.rendered,
        };
        print_out(&out);
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(CliError::Status {
                code: 1,
                message: self.errors.join("\n"),
            })
        }
    }
}

/// `berth image inspect`.
#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Format output using a custom template: 'json' or a Go template
    #[arg(short = 'f', long)]
    format: Option<String>,
    /// The images to inspect
    #[arg(required = true, value_name = "IMAGE")]
    images: Vec<String>,
}

/// `berth container inspect`.
#[derive(Debug, Args)]
pub struct ContainerInspectArgs {
    /// Format output using a custom template: 'json' or a Go template
    #[arg(short = 'f', long)]
    format: Option<String>,
    /// Display total file sizes
    #[arg(short = 's', long)]
    size: bool,
    /// The containers to inspect
    #[arg(required = true, value_name = "CONTAINER")]
    containers: Vec<String>,
}

/// `berth container inspect`: the daemon's JSON for each container.
pub async fn container_inspect(ctx: &Ctx, args: ContainerInspectArgs) -> Result<(), CliError> {
    let mut inspector = Inspector::new(args.format.as_deref())?;
    for name in &args.containers {
        let path = format!(
            "/containers/{}/json{}",
            encode_path(name),
            if args.size { "?size=1" } else { "" }
        );
        match ctx.client.bytes(Method::GET, &path, empty()).await {
            Ok(raw) => inspector.add(&path, raw)?,
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(e) => inspector.errors.push(e.to_string()),
        }
    }
    inspector.finish()
}

/// `berth image inspect`: the daemon's JSON for each image.
pub async fn image_inspect(ctx: &Ctx, args: ImageInspectArgs) -> Result<(), CliError> {
    let mut inspector = Inspector::new(args.format.as_deref())?;
    for name in &args.images {
        let path = format!("/images/{}/json", encode_path(name));
        match ctx.client.bytes(Method::GET, &path, empty()).await {
            Ok(raw) => inspector.add(&path, raw)?,
            Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
            Err(e) => inspector.errors.push(e.to_string()),
        }
    }
    inspector.finish()
}

/// `berth inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output using a custom template: 'json' or a Go template
    #[arg(short = 'f', long)]
    format: Option<String>,
    /// Display total file sizes if the type is container
    #[arg(short = 's', long)]
    size: bool,
    /// Only inspect objects of the given type (container, image or network)
    #[arg(long = "type", value_name = "string")]
    kind: Option<String>,
    /// The objects to inspect
    #[arg(required = true, value_name = "NAME|ID")]
    names: Vec<String>,
}

/// `berth inspect`: containers first, then images, then networks, as Docker tries them.
pub async fn inspect(ctx: &Ctx, args: InspectArgs) -> Result<(), CliError> {
    let kinds: &[&str] = match args.kind.as_deref() {
        None | Some("") => &["container", "image", "network"],
        Some("container") => &["container"],
        Some("image") => &["image"],
        Some("network") => &["network"],
        Some(other) => {
            return Err(CliError::usage(format!(
                "{other:?} is not a valid value for --type"
            )));
        }
    };
    let mut inspector = Inspector::new(args.format.as_deref())?;
    'names: for name in &args.names {
        let mut last_err = None;
        for kind in kinds {
            let path = match *kind {
                "container" => format!(
                    "/containers/{}/json{}",
                    encode_path(name),
                    if args.size { "?size=1" } else { "" }
                ),
                "image" => format!("/images/{}/json", encode_path(name)),
                _ => format!("/networks/{}", encode_path(name)),
            };
            match ctx.client.bytes(Method::GET, &path, empty()).await {
                Ok(raw) => {
                    inspector.add(&path, raw)?;
                    continue 'names;
                }
                Err(e @ ClientError::Connect { .. }) => return Err(e.into()),
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    last_err = Some(e.to_string());
                    break;
                }
            }
        }
        inspector
            .errors
            .push(last_err.unwrap_or_else(|| match args.kind.as_deref() {
                Some(k) if !k.is_empty() => format!("Error: No such {k}: {name}"),
                _ => format!("Error: No such object: {name}"),
            }));
    }
    inspector.finish()
}

// ---------------------------------------------------------------- history

/// `berth history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Format output using a custom template: 'table', 'table TEMPLATE', 'json' or a Go template
    #[arg(long)]
    format: Option<String>,
    /// Print sizes and dates in human readable format
    #[arg(short = 'H', long, num_args = 0..=1, require_equals = true, default_value_t = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    human: bool,
    /// Don't truncate output
    #[arg(long)]
    no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    quiet: bool,
    /// The image
    #[arg(value_name = "IMAGE")]
    image: String,
}

const HISTORY_TABLE: &str = "{{.ID}}\t{{.CreatedSince}}\t{{.CreatedBy}}\t{{.Size}}\t{{.Comment}}";

const HISTORY_HEADERS: &[(&str, &str)] = &[
    ("ID", "IMAGE"),
    ("CreatedSince", "CREATED"),
    ("CreatedAt", "CREATED AT"),
    ("CreatedBy", "CREATED BY"),
    ("Size", "SIZE"),
    ("Comment", "COMMENT"),
];

/// One history row with Docker's history-context fields.
fn history_row(h: &HistoryResponseItem, human: bool, trunc: bool, now: i64) -> Value {
    let created_by = h.created_by.replace('\t', " ");
    json!({
        "Comment": h.comment,
        "CreatedAt": rfc3339(h.created),
        "CreatedBy": if trunc { ellipsis(&created_by, 45) } else { created_by },
        "CreatedSince": if human { time_ago(h.created, now) } else { rfc3339(h.created) },
        "ID": if trunc { truncate_id(&h.id) } else { h.id.clone() },
        "Size": if human { human_size_with_precision(h.size as f64, 3) } else { h.size.to_string() },
    })
}

/// `berth history`: the layers of an image.
pub async fn history(ctx: &Ctx, args: HistoryArgs) -> Result<(), CliError> {
    let spec = match args.format.as_deref().unwrap_or("table").trim() {
        "table" if args.quiet => FormatSpec::parse("{{.ID}}", ""),
        f => FormatSpec::parse(f, HISTORY_TABLE),
    };
    Template::parse(&spec.template)?;
    let items: Vec<HistoryResponseItem> = ctx
        .client
        .get(&format!("/images/{}/history", encode_path(&args.image)))
        .await?;
    let now = now_unix();
    let rows: Vec<Value> = items
        .iter()
        .map(|h| history_row(h, args.human, !args.no_trunc, now))
        .collect();
    print_rows(&spec, HISTORY_HEADERS, &rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(id: &str, tags: &[&str], digests: &[&str]) -> ImageSummary {
        ImageSummary {
            id: id.to_string(),
            repo_tags: tags.iter().map(|s| s.to_string()).collect(),
            repo_digests: digests.iter().map(|s| s.to_string()).collect(),
            created: 1000,
            size: 4_261_234,
            shared_size: -1,
            containers: -1,
            ..Default::default()
        }
    }

    #[test]
    fn rows_per_tag_digest_and_none() {
        let id = format!("sha256:{}", "ab".repeat(32));
        let d = format!("sha256:{}", "cd".repeat(32));
        let imgs = vec![
            summary(
                &id,
                &["busybox:latest", "docker.io/library/busybox:1"],
                &[&format!("busybox@{d}")],
            ),
            summary(&id, &[], &[]),
            summary(&id, &[], &[&format!("localhost:5000/berth@{d}")]),
        ];
        let rows = image_rows(&imgs, false, true, 1000 + 7200);
        let cols: Vec<(String, String, String)> = rows
            .iter()
            .map(|r| {
                (
                    r["Repository"].as_str().unwrap().into(),
                    r["Tag"].as_str().unwrap().into(),
                    r["Digest"].as_str().unwrap().into(),
                )
            })
            .collect();
        assert_eq!(
            cols,
            vec![
                ("busybox".into(), "latest".into(), "<none>".into()),
                ("busybox".into(), "1".into(), "<none>".into()),
                ("<none>".into(), "<none>".into(), "<none>".into()),
                ("localhost:5000/berth".into(), "<none>".into(), "".into()),
            ]
        );
        assert_eq!(rows[0]["ID"], "abababababab");
        assert_eq!(rows[0]["Size"], "4.26MB");
        assert_eq!(rows[0]["CreatedSince"], "2 hours ago");
        assert_eq!(rows[0]["Containers"], "N/A");
        let with_digests = image_rows(&imgs, true, false, 2000);
        assert_eq!(with_digests[0]["Digest"], d.as_str());
        assert_eq!(with_digests[0]["ID"], id.as_str());
        assert_eq!(with_digests[3]["Digest"], d.as_str());
    }

    #[test]
    fn image_format_rules() {
        assert_eq!(image_format(None, true, false).template, "{{.ID}}");
        assert!(!image_format(None, true, false).table);
        assert!(
            image_format(None, false, true)
                .template
                .contains("{{.Digest}}")
        );
        let f = image_format(Some("table {{.ID}}"), false, true);
        assert_eq!(f.template, "{{.ID}}\t{{.Digest}}");
        assert_eq!(
            image_format(Some("{{.ID}}"), true, false).template,
            "{{.ID}}"
        );
    }

    #[test]
    fn history_fields() {
        let h = HistoryResponseItem {
            id: "<missing>".into(),
            created: 0,
            created_by: format!("/bin/sh -c #(nop)\tCMD [\"sh\"] {}", "x".repeat(40)),
            tags: vec![],
            size: 1_210_000,
            comment: "c".into(),
        };
        let row = history_row(&h, true, true, 3600 * 24 * 365 * 3);
        assert_eq!(row["ID"], "<missing>");
        assert_eq!(row["Size"], "1.21MB");
        assert_eq!(row["CreatedSince"], "3 years ago");
        let by = row["CreatedBy"].as_str().unwrap();
        assert_eq!(by.chars().count(), 45);
        assert!(by.starts_with("/bin/sh -c #(nop) CMD"));
        assert!(by.ends_with('…'));
        let raw = history_row(&h, false, false, 0);
        assert_eq!(raw["Size"], "1210000");
    }

    #[test]
    fn ids_truncate_like_docker() {
        assert_eq!(truncate_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(truncate_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(truncate_id("<missing>"), "<missing>");
    }
}
