//! `cp`, `export` and `commit`: container filesystems to and from the client.
//!
//! `cp` follows docker/cli's `cp.go` and moby's `pkg/archive/copy.go`: the
//! destination is stat-ed first (following one symlink), and from the kinds of
//! source and destination the client picks the directory to extract into and the
//! name the copied entry gets there (`CopyInfoDestinationPath`,
//! `PrepareArchiveCopy`). Local extraction goes through the same confined
//! applier as the daemon's, rooted at the destination directory.

use std::io::{IsTerminal, Read, Write};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use clap::Args;
use futures_util::TryStreamExt;
use http_body_util::BodyExt;
use hyper::Method;
use serde::Deserialize;

use berth::image::apply::{ExtractOptions, extract};
use berth::image::diff::{TarTree, TreeOptions};
use berth::image::reference::{Reference, split_repo_tag};
use berth::runtime::rootaccess::components;

use super::{Ctx, print_out};
use crate::client::{ClientError, empty, encode_path, json_body, query, reader_body};
use crate::error::CliError;
use crate::humanize::human_size_with_precision;

/// `cp`, `export` and `commit`, the same at the top level and under `container`.
#[derive(Debug, clap::Subcommand)]
pub enum FilesCommand {
    /// Copy files/folders between a container and the local filesystem
    Cp(CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(ExportArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
}

/// Runs one of [`FilesCommand`].
pub async fn dispatch(ctx: &Ctx, command: FilesCommand) -> Result<(), CliError> {
    match command {
        FilesCommand::Cp(a) => cp(ctx, a).await,
        FilesCommand::Export(a) => export(ctx, a).await,
        FilesCommand::Commit(a) => commit(ctx, a).await,
    }
}

/// `berth cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short = 'a', long = "archive")]
    archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    follow_link: bool,
    /// Suppress progress output during copy. Progress output is automatically
    /// suppressed if no terminal is attached
    #[arg(short = 'q', long)]
    quiet: bool,
    /// CONTAINER:SRC_PATH, SRC_PATH or - (a tar stream on stdin)
    #[arg(value_name = "SRC_PATH", allow_hyphen_values = true)]
    source: String,
    /// CONTAINER:DEST_PATH, DEST_PATH or - (a tar stream on stdout)
    #[arg(value_name = "DEST_PATH", allow_hyphen_values = true)]
    destination: String,
}

/// dockerd's `ContainerPathStat` (the `X-Docker-Container-Path-Stat` header).
#[derive(Debug, Clone, Deserialize)]
struct PathStat {
    #[serde(default)]
    mode: u32,
    #[serde(default, rename = "linkTarget")]
    link_target: String,
}

const GO_MODE_DIR: u32 = 1 << 31;
const GO_MODE_SYMLINK: u32 = 1 << 27;

impl PathStat {
    fn is_dir(&self) -> bool {
        self.mode & GO_MODE_DIR != 0
    }

    fn is_symlink(&self) -> bool {
        self.mode & GO_MODE_SYMLINK != 0
    }
}

/// `CONTAINER:PATH` or a local path (absolute, or with a `.`-led part before the colon).
fn split_cp_arg(arg: &str) -> (Option<&str>, &str) {
    if arg.starts_with('/') {
        return (None, arg);
    }
    match arg.split_once(':') {
        Some((c, p)) if !c.starts_with('.') => (Some(c), p),
        _ => (None, arg),
    }
}

fn has_trailing_sep(p: &str) -> bool {
    p.ends_with('/')
}

fn specifies_current_dir(p: &str) -> bool {
    p == "." || p.ends_with("/.")
}

/// Go's `filepath.Clean` for slash paths.
fn clean(p: &str) -> String {
    let abs = p.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in p.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !abs {
                    out.push("..");
                }
            }
            c => out.push(c),
        }
    }
    let joined = out.join("/");
    match (abs, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// moby's `SplitPathDirEntry`: the directory and the entry, `x/.` giving `(x, .)`.
fn split_dir_entry(p: &str) -> (String, String) {
    let mut cleaned = clean(p);
    if specifies_current_dir(p) {
        cleaned.push_str("/.");
    }
    match cleaned.rfind('/') {
        Some(0) if cleaned.len() == 1 => ("/".into(), "/".into()),
        Some(0) => ("/".into(), cleaned[1..].to_owned()),
        Some(i) => (cleaned[..i].to_owned(), cleaned[i + 1..].to_owned()),
        None => (".".into(), cleaned),
    }
}

/// An absolute local path, keeping a trailing `/` or `/.` (moby's
/// `PreserveTrailingDotOrSeparator`).
fn resolve_local_path(p: &str) -> Result<String, CliError> {
    let abs = if p.starts_with('/') {
        clean(p)
    } else {
        let cwd = std::env::current_dir().map_err(|source| CliError::Io {
            op: "getwd",
            path: ".".into(),
            source,
        })?;
        clean(&format!("{}/{p}", cwd.display()))
    };
    Ok(preserve_trailing(abs, p))
}

fn preserve_trailing(mut cleaned: String, original: &str) -> String {
    if specifies_current_dir(original) && !specifies_current_dir(&cleaned) {
        if !cleaned.ends_with('/') {
            cleaned.push('/');
        }
        cleaned.push('.');
    } else if has_trailing_sep(original) && !has_trailing_sep(&cleaned) {
        cleaned.push('/');
    }
    cleaned
}

/// moby's `GetRebaseName`: the resolved path with the original's trailing
/// `/` or `/.`, and the name to rebase to when the last component changed.
fn rebase_name(path: &str, resolved: &str) -> (String, Option<String>) {
    let resolved = preserve_trailing(resolved.to_owned(), path);
    let base = |p: &str| split_dir_entry(p).1;
    let rebase = (base(path) != base(&resolved)).then(|| base(path));
    (resolved, rebase)
}

fn lstat_err(path: &str) -> impl FnOnce(std::io::Error) -> CliError + '_ {
    move |source| CliError::Io {
        op: "lstat",
        path: path.to_owned(),
        source,
    }
}

fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let val = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        } as u32)
    };
    let bytes: Vec<u8> = s.bytes().filter(|&b| b != b'=').collect();
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut n = 0u32;
        for (i, &b) in chunk.iter().enumerate() {
            n |= val(b)? << (18 - 6 * i);
        }
        let keep = chunk.len().saturating_sub(1);
        out.extend_from_slice(&n.to_be_bytes()[1..1 + keep]);
    }
    Some(out)
}

fn parse_stat(value: Option<&hyper::header::HeaderValue>) -> Option<PathStat> {
    let raw = decode_base64(value?.to_str().ok()?)?;
    serde_json::from_slice(&raw).ok()
}

fn archive_path(container: &str, path: &str) -> String {
    format!(
        "/containers/{}/archive{}",
        encode_path(container),
        query(&[("path", path.to_owned())])
    )
}

/// `HEAD .../archive`: the stat of a container path.
async fn stat_path(ctx: &Ctx, container: &str, path: &str) -> Result<PathStat, ClientError> {
    let p = archive_path(container, path);
    let resp = ctx.client.send(Method::HEAD, &p, empty(), None).await?;
    parse_stat(resp.headers().get("X-Docker-Container-Path-Stat")).ok_or_else(|| {
        ClientError::Daemon {
            status: 500,
            message: "unable to decode container path stat header".into(),
        }
    })
}

/// `berth cp`: copy files/folders between a container and the local filesystem.
pub async fn cp(ctx: &Ctx, args: CpArgs) -> Result<(), CliError> {
    let (src_c, src_path) = split_cp_arg(&args.source);
    let (dst_c, dst_path) = split_cp_arg(&args.destination);
    let progress = !args.quiet && std::io::stderr().is_terminal();
    match (src_c, dst_c) {
        (Some(c), None) => copy_from(ctx, c, src_path, dst_path, args.follow_link, progress).await,
        (None, Some(c)) => copy_to(ctx, c, src_path, dst_path, &args, progress).await,
        (Some(_), Some(_)) => Err(CliError::usage(
            "copying between containers is not supported",
        )),
        (None, None) => Err(CliError::usage(
            "must specify at least one container source",
        )),
    }
}

/// Counts bytes going through.
struct Counting<T> {
    inner: T,
    count: Arc<AtomicU64>,
}

impl<T: Read> Read for Counting<T> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

impl<T: Write> Write for Counting<T> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

async fn copy_from(
    ctx: &Ctx,
    container: &str,
    src: &str,
    dst: &str,
    follow: bool,
    progress: bool,
) -> Result<(), CliError> {
    let dst = if dst == "-" {
        dst.to_owned()
    } else {
        resolve_local_path(dst)?
    };
    validate_output_path(&dst)?;
    let mut src = src.to_owned();
    let mut rebase = None;
    if follow
        && let Ok(st) = stat_path(ctx, container, &src).await
        && st.is_symlink()
    {
        let mut target = st.link_target.clone();
        if !target.starts_with('/') {
            target = clean(&format!("{}/{target}", split_dir_entry(&src).0));
        }
        let (resolved, r) = rebase_name(&src, &target);
        src = resolved;
        rebase = r;
    }
    let p = archive_path(container, &src);
    let resp = ctx.client.send(Method::GET, &p, empty(), None).await?;
    let stat = parse_stat(resp.headers().get("X-Docker-Container-Path-Stat"));
    let body = resp
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let reader = tokio_util::io::StreamReader::new(body);
    if dst == "-" {
        let mut reader = reader;
        let mut out = tokio::io::stdout();
        tokio::io::copy(&mut reader, &mut out)
            .await
            .map_err(|source| CliError::Io {
                op: "write",
                path: "/dev/stdout".into(),
                source,
            })?;
        return Ok(());
    }
    let src_is_dir = stat.as_ref().is_some_and(PathStat::is_dir);
    let (_, top_old) = split_dir_entry(&src);
    let (dst_info, exists, dst_is_dir) = copy_info_destination_path(&dst)?;
    let (dst_dir, dst_base) = split_dir_entry(&dst_info);
    let top_cur = rebase.clone().unwrap_or_else(|| top_old.clone());
    let (extract_dir, new_top) = if exists && dst_is_dir {
        (dst_info.clone(), top_cur)
    } else if exists && src_is_dir {
        return Err(CliError::usage("cannot copy directory"));
    } else if !exists
        && !src_is_dir
        && (has_trailing_sep(&dst_info) || specifies_current_dir(&dst_info))
    {
        return Err(CliError::usage("no such directory"));
    } else {
        (dst_dir, dst_base)
    };
    let count = Arc::new(AtomicU64::new(0));
    let bridge = Counting {
        inner: tokio_util::io::SyncIoBridge::new(reader),
        count: count.clone(),
    };
    let dir = PathBuf::from(&extract_dir);
    let old = components(top_old.as_bytes());
    let new = components(new_top.as_bytes());
    tokio::task::spawn_blocking(move || -> Result<(), CliError> {
        let fd = rustix::fs::open(
            &dir,
            rustix::fs::OFlags::RDONLY
                | rustix::fs::OFlags::DIRECTORY
                | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| CliError::Io {
            op: "open",
            path: dir.display().to_string(),
            source: e.into(),
        })?;
        let opts = ExtractOptions {
            no_overwrite_dir_non_dir: true,
            // The client never changes ownership (moby's NoLchown): files are ours.
            owner: Some((
                rustix::process::geteuid().as_raw(),
                rustix::process::getegid().as_raw(),
            )),
            rebase: (old != new).then_some((old, new)),
            id_map: None,
        };
        extract(bridge, fd, &dir, &[], &opts).map_err(CliError::from)?;
        Ok(())
    })
    .await
    .map_err(|e| CliError::usage(format!("copy task failed: {e}")))??;
    if progress {
        eprintln!(
            "Successfully copied {} to {dst}",
            human_size_with_precision(count.load(Ordering::Relaxed) as f64, 3)
        );
    }
    Ok(())
}

/// docker/cli's `ValidateOutputPath`.
fn validate_output_path(path: &str) -> Result<(), CliError> {
    if path == "-" {
        return Ok(());
    }
    let (dir, _) = split_dir_entry(&clean(path));
    if !Path::new(&dir).exists() {
        return Err(CliError::usage(format!(
            "invalid output path: directory {dir:?} does not exist"
        )));
    }
    if let Ok(m) = std::fs::metadata(path)
        && !m.is_dir()
        && !m.is_file()
    {
        return Err(CliError::usage(format!(
            "invalid output path: {path:?} must be a directory or a regular file"
        )));
    }
    Ok(())
}

/// moby's `CopyInfoDestinationPath`: (path, exists, is_dir), symlinks at the end
/// followed (a dangling one names the file to create).
fn copy_info_destination_path(path: &str) -> Result<(String, bool, bool), CliError> {
    let mut path = path.to_owned();
    for _ in 0..=10 {
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.file_type().is_symlink() => {
                let target = std::fs::read_link(&path).map_err(lstat_err(&path))?;
                let target = target.to_string_lossy().into_owned();
                path = if target.starts_with('/') {
                    target
                } else {
                    clean(&format!("{}/{target}", split_dir_entry(&path).0))
                };
            }
            Ok(m) => return Ok((path, true, m.is_dir())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let (parent, _) = split_dir_entry(&path);
                let m = std::fs::metadata(&parent).map_err(|source| CliError::Io {
                    op: "stat",
                    path: parent.clone(),
                    source,
                })?;
                if !m.is_dir() {
                    return Err(CliError::usage("not a directory"));
                }
                return Ok((path, false, false));
            }
            Err(e) => return Err(lstat_err(&path)(e)),
        }
    }
    Err(CliError::usage(format!("too many symlinks in {path}")))
}

async fn copy_to(
    ctx: &Ctx,
    container: &str,
    src: &str,
    dst: &str,
    args: &CpArgs,
    progress: bool,
) -> Result<(), CliError> {
    let mut dst_info = dst.to_owned();
    let mut stat = stat_path(ctx, container, dst).await;
    if let Ok(st) = &stat
        && st.is_symlink()
    {
        let mut target = st.link_target.clone();
        if !target.starts_with('/') {
            target = clean(&format!("{}/{target}", split_dir_entry(dst).0));
        }
        dst_info = target;
        stat = stat_path(ctx, container, &dst_info).await;
    }
    let (exists, dst_is_dir) = match &stat {
        Ok(st) => (true, st.is_dir()),
        Err(_) => (false, false),
    };
    let mut q = vec![("noOverwriteDirNonDir", "true".to_owned())];
    if args.archive {
        q.push(("copyUIDGID", "true".to_owned()));
    }
    let put = |path: &str| {
        let mut q = q.clone();
        q.insert(0, ("path", path.to_owned()));
        format!(
            "/containers/{}/archive{}",
            encode_path(container),
            query(&q)
        )
    };
    if src == "-" {
        if !dst_is_dir {
            return Err(CliError::usage(format!(
                "destination \"{container}:{dst}\" must be a directory"
            )));
        }
        let p = put(&dst_info);
        let resp = ctx
            .client
            .send(
                Method::PUT,
                &p,
                reader_body(tokio::io::stdin()),
                Some("application/x-tar"),
            )
            .await?;
        crate::client::Client::read_all(&p, resp).await?;
        return Ok(());
    }
    let src = resolve_local_path(src)?;
    // moby's ResolveHostSourcePath.
    let (resolved, rebase) = if args.follow_link {
        let real = std::fs::canonicalize(clean(&src)).map_err(lstat_err(&src))?;
        rebase_name(&src, &real.to_string_lossy())
    } else {
        let (dir, base) = split_dir_entry(&src);
        let real = std::fs::canonicalize(&dir).map_err(lstat_err(&src))?;
        let real = real.to_string_lossy();
        let resolved = if real == "/" {
            format!("/{base}")
        } else {
            format!("{real}/{base}")
        };
        let rebase =
            (has_trailing_sep(&src) && split_dir_entry(&src).1 != base).then(|| base.clone());
        (preserve_trailing(resolved, &src), rebase)
    };
    let meta = std::fs::symlink_metadata(clean(&resolved)).map_err(lstat_err(&resolved))?;
    let src_is_dir = meta.is_dir();
    let (src_dir, src_base) = split_dir_entry(&resolved);
    let top = rebase.unwrap_or_else(|| src_base.clone());
    let (dst_dir, dst_base) = split_dir_entry(&dst_info);
    let (extract_dir, name) = if exists && dst_is_dir {
        (dst_info.clone(), top)
    } else if exists && src_is_dir {
        return Err(CliError::usage("cannot copy directory"));
    } else if exists || src_is_dir {
        (dst_dir, dst_base)
    } else if has_trailing_sep(&dst_info) || specifies_current_dir(&dst_info) {
        return Err(CliError::usage("no such directory"));
    } else {
        (dst_dir, dst_base)
    };
    let (reader, writer) = tokio::io::duplex(1 << 20);
    let count = Arc::new(AtomicU64::new(0));
    let out = Counting {
        inner: tokio_util::io::SyncIoBridge::new(writer),
        count: count.clone(),
    };
    let producer = tokio::task::spawn_blocking(move || -> Result<(), CliError> {
        let dir = rustix::fs::open(
            Path::new(&src_dir),
            rustix::fs::OFlags::PATH | rustix::fs::OFlags::DIRECTORY | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        )
        .map_err(|e| lstat_err(&src_dir)(e.into()))?;
        let mut tree = TarTree::new(
            std::io::BufWriter::with_capacity(1 << 20, out),
            TreeOptions::default(),
        );
        tree.add(
            dir.as_fd(),
            std::ffi::OsStr::from_bytes(src_base.as_bytes()),
            name.as_bytes(),
        )?;
        tree.finish()?;
        Ok(())
    });
    let p = put(&extract_dir);
    let sent = ctx
        .client
        .send(
            Method::PUT,
            &p,
            reader_body(reader),
            Some("application/x-tar"),
        )
        .await;
    let produced = producer
        .await
        .map_err(|e| CliError::usage(format!("copy task failed: {e}")))?;
    let resp = sent?;
    crate::client::Client::read_all(&p, resp).await?;
    produced?;
    if progress {
        eprintln!(
            "Successfully copied {} to {container}:{dst_info}",
            human_size_with_precision(count.load(Ordering::Relaxed) as f64, 3)
        );
    }
    Ok(())
}

/// `berth export`.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long)]
    output: Option<String>,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
}

/// `berth export`: the container's filesystem as a tar archive.
pub async fn export(ctx: &Ctx, args: ExportArgs) -> Result<(), CliError> {
    if args.output.is_none() && std::io::stdout().is_terminal() {
        return Err(CliError::usage(
            "cowardly refusing to save to a terminal. Use the -o flag or redirect",
        ));
    }
    let p = format!("/containers/{}/export", encode_path(&args.container));
    let resp = ctx.client.send(Method::GET, &p, empty(), None).await?;
    let body = resp
        .into_body()
        .into_data_stream()
        .map_err(std::io::Error::other);
    let mut reader = tokio_util::io::StreamReader::new(body);
    let (name, result) = match &args.output {
        Some(path) => {
            let mut f = tokio::fs::File::create(path)
                .await
                .map_err(|source| CliError::Io {
                    op: "open",
                    path: path.clone(),
                    source,
                })?;
            let r = tokio::io::copy(&mut reader, &mut f).await;
            let r = match r {
                Ok(_) => tokio::io::AsyncWriteExt::flush(&mut f).await,
                Err(e) => Err(e),
            };
            (path.clone(), r)
        }
        None => {
            let mut out = tokio::io::stdout();
            let r = tokio::io::copy(&mut reader, &mut out).await.map(drop);
            ("/dev/stdout".to_owned(), r)
        }
    };
    result.map_err(|source| CliError::Io {
        op: "write",
        path: name,
        source,
    })
}

/// `berth commit`.
#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change", value_name = "list")]
    change: Vec<String>,
    /// Commit message
    #[arg(short = 'm', long)]
    message: Option<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true", require_equals = true)]
    pause: bool,
    /// The container
    #[arg(value_name = "CONTAINER")]
    container: String,
    /// The name of the new image
    #[arg(value_name = "REPOSITORY[:TAG]")]
    reference: Option<String>,
}

#[derive(Deserialize)]
struct IdResponse {
    #[serde(rename = "Id")]
    id: String,
}

/// `berth commit`: create a new image from a container's changes; prints its ID.
pub async fn commit(ctx: &Ctx, args: CommitArgs) -> Result<(), CliError> {
    let mut q = vec![("container", args.container.clone())];
    if let Some(r) = args.reference.as_deref().filter(|r| !r.is_empty()) {
        Reference::parse(r)?;
        let (repo, tag) = split_repo_tag(r);
        q.push(("repo", repo.to_owned()));
        if let Some(t) = tag {
            q.push(("tag", t.to_owned()));
        }
    }
    if let Some(m) = &args.message {
        q.push(("comment", m.clone()));
    }
    if let Some(a) = &args.author {
        q.push(("author", a.clone()));
    }
    for c in &args.change {
        q.push(("changes", c.clone()));
    }
    if !args.pause {
        q.push(("pause", "0".to_owned()));
    }
    let p = format!("/commit{}", query(&q));
    let resp: IdResponse = ctx
        .client
        .json(Method::POST, &p, json_body(&serde_json::Value::Null))
        .await?;
    print_out(&format!("{}\n", resp.id));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cp_args_split_like_docker() {
        assert_eq!(split_cp_arg("c1:/etc"), (Some("c1"), "/etc"));
        assert_eq!(split_cp_arg("/abs:x"), (None, "/abs:x"));
        assert_eq!(split_cp_arg("./a:b"), (None, "./a:b"));
        assert_eq!(split_cp_arg("file"), (None, "file"));
    }

    #[test]
    fn paths_split_like_moby() {
        assert_eq!(split_dir_entry("/a/b/"), ("/a".into(), "b".into()));
        assert_eq!(split_dir_entry("/a/b/."), ("/a/b".into(), ".".into()));
        assert_eq!(split_dir_entry("/a"), ("/".into(), "a".into()));
        assert_eq!(split_dir_entry("/"), ("/".into(), "/".into()));
        assert_eq!(clean("/a/../../b/./c/"), "/b/c");
        assert_eq!(preserve_trailing("/x/d".into(), "d/."), "/x/d/.");
        assert_eq!(
            rebase_name("/a/link/", "/a/target"),
            ("/a/target/".into(), Some("link".into()))
        );
    }

    #[test]
    fn base64_decodes_dockerd_headers() {
        let v = decode_base64("eyJuYW1lIjoiZiIsInNpemUiOjN9").unwrap();
        assert_eq!(v, br#"{"name":"f","size":3}"#);
        assert_eq!(decode_base64("Zm8=").unwrap(), b"fo");
    }
}
