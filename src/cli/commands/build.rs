//! `berth build` / `berth image build` (docker's classic-builder client:
//! pack the context honouring `.dockerignore`, stream it to `POST /build`,
//! show the progress) and `berth builder prune`.

use std::collections::{BTreeMap, HashMap};
use std::io::{IsTerminal, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::{Args, Subcommand};
use http_body_util::BodyExt;
use hyper::Method;
use hyper::body::{Body, Frame};
use serde::Deserialize;
use tokio::sync::mpsc;

use berth::image::build::ignore::{self, ContextEntry, PatternMatcher};
use berth::image::reference::Reference;

use super::{Ctx, filters_json, print_out};
use crate::buildprogress::{JsonMessage, LiveDisplay, MessageDecoder, sending_line};
use crate::client::{ClientError, ReqBody, empty, next_chunk, query};
use crate::error::{CliError, flag_error, go_io_error};
use crate::humanize::human_size;

/// docker's usage line for `build`.
pub const USAGE: &str = "[OPTIONS] PATH | URL | -";

/// `berth build` options, docker's names.
#[derive(Debug, Args)]
pub struct BuildArgs {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short = 't', long = "tag", value_name = "list")]
    tags: Vec<String>,
    /// Name of the Dockerfile (Default is 'PATH/Dockerfile')
    #[arg(short = 'f', long = "file", value_name = "string")]
    file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "list")]
    build_args: Vec<String>,
    /// Set the target build stage to build.
    #[arg(long, value_name = "string")]
    target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pull: bool,
    /// Remove intermediate containers after a successful build
    #[arg(long, num_args = 0..=1, require_equals = true, default_value_t = true,
          default_missing_value = "true", action = clap::ArgAction::Set)]
    rm: bool,
    /// Always remove intermediate containers
    #[arg(long)]
    force_rm: bool,
    /// Set metadata for an image
    #[arg(long = "label", value_name = "list")]
    labels: Vec<String>,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    quiet: bool,
    /// Write the image ID to the file
    #[arg(long, value_name = "string")]
    iidfile: Option<String>,
    /// Set the networking mode for the RUN instructions during build
    #[arg(long, value_name = "string", default_value = "default")]
    network: String,
    /// Set platform if server is multi-platform capable
    #[arg(long, value_name = "string", env = "DOCKER_DEFAULT_PLATFORM")]
    platform: Option<String>,
    /// Images to consider as cache sources
    #[arg(long = "cache-from", value_name = "strings", value_delimiter = ',')]
    cache_from: Vec<String>,
    /// Compress the build context using gzip
    #[arg(long)]
    compress: bool,
    /// Set type of progress output (auto, plain, tty). Use plain to show container output
    #[arg(long, value_name = "string", default_value = "auto")]
    progress: String,
    /// The build context: a directory, or - for a tar (or a lone Dockerfile) on stdin
    #[arg(value_name = "PATH | URL | -")]
    context: String,
}

/// How the build's progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// `-q`: nothing until the image ID.
    Quiet,
    /// The stream's text as docker prints it.
    Plain,
    /// The live terminal display.
    Live,
}

/// A Dockerfile sent under a name of its own (from stdin, or from outside
/// the context), as docker's `AddDockerfileToBuildContext` does.
#[derive(Debug)]
struct ExtraDockerfile {
    name: String,
    content: Vec<u8>,
}

/// What goes into the context tar of a directory context.
#[derive(Debug)]
pub struct PackPlan {
    entries: Vec<ContextEntry>,
    extra: Option<ExtraDockerfile>,
    /// The `.dockerignore` to send instead of the file's own content: with an
    /// extra Dockerfile, it also names that one, so the daemon drops it.
    dockerignore: Option<Vec<u8>>,
    /// Whether `entries` hold a `.dockerignore` (else one is added).
    has_dockerignore: bool,
}

/// `unable to prepare context: ...`, docker's wording (exit 1).
fn prepare_error(message: impl std::fmt::Display) -> CliError {
    CliError::usage(format!("unable to prepare context: {message}"))
}

/// docker's `filepath.Rel` for two clean absolute paths.
fn relative(base: &Path, target: &Path) -> PathBuf {
    let b: Vec<Component> = base.components().collect();
    let t: Vec<Component> = target.components().collect();
    let common = b.iter().zip(&t).take_while(|(x, y)| x == y).count();
    let mut out = PathBuf::new();
    for _ in common..b.len() {
        out.push("..");
    }
    for c in &t[common..] {
        out.push(c);
    }
    if out.as_os_str().is_empty() {
        out.push(".");
    }
    out
}

/// docker's `GetContextFromLocalDir` + the directory half of `runBuild`:
/// resolves the context and the Dockerfile, reads `.dockerignore`, and lists
/// what to send. `file` is `-f` (relative to the working directory);
/// `stdin_dockerfile` is the Dockerfile read for `-f -`. Returns the plan and
/// the Dockerfile's name inside the context.
pub fn prepare_dir(
    dir: &str,
    file: Option<&str>,
    stdin_dockerfile: Option<Vec<u8>>,
) -> Result<(PackPlan, String), CliError> {
    let abs = std::path::absolute(dir).map_err(|e| {
        prepare_error(format!(
            "unable to get absolute context directory of given context directory {dir:?}: {}",
            go_io_error(&e)
        ))
    })?;
    let root = abs.canonicalize().map_err(|e| {
        prepare_error(format!(
            "unable to evaluate symlinks in context path: lstat {}: {}",
            abs.display(),
            go_io_error(&e)
        ))
    })?;
    if !root.is_dir() {
        return Err(prepare_error(format!(
            "context must be a directory: {}",
            root.display()
        )));
    }
    let from_stdin = stdin_dockerfile.is_some();
    let (rel, outside) = if from_stdin {
        ("-".to_string(), None)
    } else {
        let given = match file {
            Some(f) => std::path::absolute(f).unwrap_or_else(|_| PathBuf::from(f)),
            None => {
                // docker also accepts a lower-case `dockerfile`.
                let upper = root.join("Dockerfile");
                let lower = root.join("dockerfile");
                if upper.symlink_metadata().is_err() && lower.symlink_metadata().is_ok() {
                    lower
                } else {
                    upper
                }
            }
        };
        let resolved = given.canonicalize().map_err(|e| {
            prepare_error(format!(
                "unable to evaluate symlinks in Dockerfile path: lstat {}: {}",
                given.display(),
                go_io_error(&e)
            ))
        })?;
        let rel = relative(&root, &resolved);
        let rel_str = rel.to_string_lossy().into_owned();
        if rel_str.starts_with("../") {
            let content = std::fs::read(&given).map_err(|e| {
                CliError::usage(format!("unable to open Dockerfile: {}", go_io_error(&e)))
            })?;
            (rel_str, Some(content))
        } else {
            (rel_str, None)
        }
    };
    let ignore_path = root.join(".dockerignore");
    let ignore_content = match std::fs::read(&ignore_path) {
        Ok(c) => Some(c),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
        Err(source) => {
            return Err(CliError::Io {
                op: "open",
                path: ignore_path.display().to_string(),
                source,
            });
        }
    };
    let excludes = ignore_content
        .as_deref()
        .map(ignore::read_all)
        .unwrap_or_default();
    let context_error =
        |e: ignore::IgnoreError| CliError::usage(format!("error checking context: {e}"));
    let excludes = ignore::keep_build_files(excludes, &rel, from_stdin);
    let matcher = PatternMatcher::new(&excludes).map_err(context_error)?;
    let entries = ignore::walk_context(&root, &matcher).map_err(context_error)?;
    // docker's ValidateContextDirectory: refuse unreadable files up front.
    for e in entries.iter().filter(|e| e.metadata.is_file()) {
        if let Err(err) = std::fs::File::open(&e.path)
            && err.kind() == std::io::ErrorKind::PermissionDenied
        {
            return Err(CliError::usage(format!(
                "error checking context: no permission to read from '{}'",
                e.path.display()
            )));
        }
    }
    let has_dockerignore = entries.iter().any(|e| e.rel == Path::new(".dockerignore"));
    let (extra, dockerignore, rel) = match stdin_dockerfile.or(outside) {
        Some(content) => {
            let name = format!(".dockerfile.{}", &berth::fsutil::random_id()[..20]);
            let mut ignore = match ignore_content.filter(|_| has_dockerignore) {
                Some(c) => c,
                None => b".dockerignore".to_vec(),
            };
            ignore.extend_from_slice(format!("\n{name}\n").as_bytes());
            (
                Some(ExtraDockerfile {
                    name: name.clone(),
                    content,
                }),
                Some(ignore),
                name,
            )
        }
        None => (None, None, rel),
    };
    Ok((
        PackPlan {
            entries,
            extra,
            dockerignore,
            has_dockerignore,
        },
        rel,
    ))
}

/// A failure packing one file of the context.
type PackError = (PathBuf, std::io::Error);

/// Writes the context tar as docker's `TarWithOptions` does: headers from
/// `lstat` (owner 0:0 as the docker CLI forces, mtime, mode with its file
/// type bits, symlinks as links, hard links after their first name, devices
/// and fifos), then the extra Dockerfile and a `.dockerignore` if needed.
pub fn write_context_tar<W: Write>(plan: &PackPlan, w: W) -> Result<W, PackError> {
    let mut b = tar::Builder::new(w);
    let mut seen: HashMap<(u64, u64), PathBuf> = HashMap::new();
    for e in &plan.entries {
        append_entry(&mut b, e, plan, &mut seen).map_err(|err| (e.path.clone(), err))?;
    }
    let at_end = |err| (PathBuf::from("<build context>"), err);
    if let Some(extra) = &plan.extra {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut append = |name: &str, content: &[u8]| {
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Regular);
            h.set_mode(0o600);
            h.set_uid(0);
            h.set_gid(0);
            h.set_mtime(now);
            h.set_size(content.len() as u64);
            b.append_data(&mut h, name, content)
        };
        append(&extra.name, &extra.content).map_err(at_end)?;
        if !plan.has_dockerignore
            && let Some(ignore) = &plan.dockerignore
        {
            append(".dockerignore", ignore).map_err(at_end)?;
        }
    }
    b.into_inner().map_err(at_end)
}

/// The `st_mode` file-type bits docker keeps in tar headers (`fillGo18FileTypeBits`).
const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFBLK: u32 = 0o060000;
const S_IFCHR: u32 = 0o020000;
const S_IFIFO: u32 = 0o010000;

fn append_entry<W: Write>(
    b: &mut tar::Builder<W>,
    e: &ContextEntry,
    plan: &PackPlan,
    seen: &mut HashMap<(u64, u64), PathBuf>,
) -> std::io::Result<()> {
    let md = &e.metadata;
    let ft = md.file_type();
    let perm = md.mode() & 0o7777;
    let mut h = tar::Header::new_gnu();
    h.set_mtime(md.mtime().max(0) as u64);
    h.set_uid(0);
    h.set_gid(0);
    h.set_size(0);
    if ft.is_dir() {
        h.set_entry_type(tar::EntryType::Directory);
        h.set_mode(S_IFDIR | perm);
        b.append_data(&mut h, &e.rel, std::io::empty())
    } else if ft.is_symlink() {
        let target = std::fs::read_link(&e.path)?;
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_mode(S_IFLNK | perm);
        b.append_link(&mut h, &e.rel, target)
    } else if ft.is_file() {
        h.set_mode(S_IFREG | perm);
        if md.nlink() > 1 {
            let key = (md.dev(), md.ino());
            if let Some(first) = seen.get(&key) {
                h.set_entry_type(tar::EntryType::Link);
                return b.append_link(&mut h, &e.rel, first);
            }
            seen.insert(key, e.rel.clone());
        }
        h.set_entry_type(tar::EntryType::Regular);
        if e.rel == Path::new(".dockerignore")
            && let Some(content) = &plan.dockerignore
        {
            h.set_size(content.len() as u64);
            return b.append_data(&mut h, &e.rel, content.as_slice());
        }
        let size = md.len();
        h.set_size(size);
        // A file that changes size while being sent must not break the
        // archive: exactly `size` bytes go out, zero-padded if it shrank.
        let file = std::fs::File::open(&e.path)?;
        let data = file.take(size).chain(std::io::repeat(0)).take(size);
        b.append_data(&mut h, &e.rel, data)
    } else if ft.is_char_device() || ft.is_block_device() || ft.is_fifo() {
        let (kind, bits) = if ft.is_char_device() {
            (tar::EntryType::Char, S_IFCHR)
        } else if ft.is_block_device() {
            (tar::EntryType::Block, S_IFBLK)
        } else {
            (tar::EntryType::Fifo, S_IFIFO)
        };
        h.set_entry_type(kind);
        h.set_mode(bits | perm);
        if !ft.is_fifo() {
            let rdev = md.rdev();
            h.set_device_major(libc::major(rdev))?;
            h.set_device_minor(libc::minor(rdev))?;
        }
        b.append_data(&mut h, &e.rel, std::io::empty())
    } else {
        // Sockets cannot be archived; docker skips them too.
        Ok(())
    }
}

/// A `Write` handing 256 KiB chunks to the request body, counting what it sent.
struct ChannelWriter {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    buf: Vec<u8>,
    sent: Arc<AtomicU64>,
}

const CHUNK: usize = 256 * 1024;

impl ChannelWriter {
    fn send(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        let len = chunk.len() as u64;
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the daemon stopped reading the build context",
            )
        })?;
        self.sent.fetch_add(len, Ordering::Relaxed);
        Ok(())
    }
}

impl Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(data);
        if self.buf.len() >= CHUNK {
            self.send()?;
        }
        Ok(data.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()
    }
}

/// The request body fed by a [`ChannelWriter`]; an error from the producer
/// aborts the request rather than sending a truncated context.
struct ChannelBody {
    rx: mpsc::Receiver<std::io::Result<Bytes>>,
}

impl Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        self.rx
            .poll_recv(cx)
            .map(|item| item.map(|r| r.map(Frame::data)))
    }
}

/// A context being produced on a blocking thread while it is uploaded.
struct Upload {
    body: ReqBody,
    sent: Arc<AtomicU64>,
    producer: tokio::task::JoinHandle<Result<(), PackError>>,
}

/// Starts `produce` on a blocking thread writing into the request body
/// (gzip-compressed with `compress`).
fn upload<F>(compress: bool, produce: F) -> Upload
where
    F: FnOnce(&mut dyn Write) -> Result<(), PackError> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(8);
    let sent = Arc::new(AtomicU64::new(0));
    let mut writer = ChannelWriter {
        tx: tx.clone(),
        buf: Vec::with_capacity(CHUNK),
        sent: sent.clone(),
    };
    let producer = tokio::task::spawn_blocking(move || {
        let flushed = |e| (PathBuf::from("<build context>"), e);
        let result = if compress {
            let mut gz = flate2::write::GzEncoder::new(&mut writer, flate2::Compression::default());
            produce(&mut gz).and_then(|()| gz.finish().map(|_| ()).map_err(flushed))
        } else {
            produce(&mut writer)
        };
        let result = result.and_then(|()| writer.flush().map_err(flushed));
        if let Err((path, e)) = &result {
            let _ = tx.blocking_send(Err(std::io::Error::new(
                e.kind(),
                format!("{}: {e}", path.display()),
            )));
        }
        result
    });
    Upload {
        body: ChannelBody { rx }.boxed_unsync(),
        sent,
        producer,
    }
}

/// docker's `IsArchive`: a compression magic number or a valid tar header.
fn is_archive(head: &[u8]) -> bool {
    const MAGICS: [&[u8]; 4] = [
        &[0x1f, 0x8b, 0x08],
        b"BZh",
        &[0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00],
        &[0x28, 0xb5, 0x2f, 0xfd],
    ];
    if MAGICS.iter().any(|m| head.starts_with(m)) {
        return true;
    }
    let Some(block) = head.get(..512) else {
        return false;
    };
    let field = String::from_utf8_lossy(&block[148..156]);
    let Ok(stored) = u32::from_str_radix(field.trim_matches(|c: char| c == '\0' || c == ' '), 8)
    else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == stored
}

/// Reads up to `n` bytes of stdin (fewer at its end).
fn read_stdin_head(n: usize) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    std::io::stdin()
        .lock()
        .take(n as u64)
        .read_to_end(&mut head)?;
    Ok(head)
}

/// A one-file tar holding `content` as `Dockerfile` (docker's `GetContextFromReader`
/// for a Dockerfile piped in as the whole context).
fn dockerfile_tar(content: &[u8]) -> std::io::Result<Vec<u8>> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Regular);
    h.set_mode(S_IFREG | 0o644);
    h.set_uid(0);
    h.set_gid(0);
    h.set_mtime(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs()),
    );
    h.set_size(content.len() as u64);
    b.append_data(&mut h, "Dockerfile", content)?;
    b.into_inner()
}

fn stdin_error(e: std::io::Error) -> CliError {
    CliError::Io {
        op: "read",
        path: "stdin".into(),
        source: e,
    }
}

/// docker's `ValidateEnv` + `ConvertKVStringsToMapWithNil`: `K=V`, or `K`
/// taking its value from the environment (`null` when unset).
fn build_arg_map(
    args: &[String],
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, Option<String>>, String> {
    let mut map = BTreeMap::new();
    for a in args {
        let (k, v) = match a.split_once('=') {
            Some((k, v)) => (k, Some(v.to_string())),
            None => (a.as_str(), env(a)),
        };
        if k.is_empty() {
            return Err(format!(
                "invalid argument {a:?} for \"--build-arg\" flag: invalid environment variable: {a}"
            ));
        }
        map.insert(k.to_string(), v);
    }
    Ok(map)
}

/// docker's `ValidateLabel` + `ConvertKVStringsToMap`.
fn label_map(labels: &[String]) -> Result<BTreeMap<String, String>, String> {
    let mut map = BTreeMap::new();
    for l in labels {
        let (k, v) = l.split_once('=').unwrap_or((l, ""));
        let key = k.trim_start_matches([' ', '\t']);
        if key.is_empty() {
            return Err(format!(
                "invalid argument {l:?} for \"--label\" flag: invalid label '{l}': empty name"
            ));
        }
        if key.contains([' ', '\t']) {
            return Err(format!(
                "invalid argument {l:?} for \"--label\" flag: label '{key}' contains whitespaces"
            ));
        }
        map.insert(k.to_string(), v.to_string());
    }
    Ok(map)
}

/// The `POST /build` query, as docker's client builds it for the classic builder.
fn build_query(
    args: &BuildArgs,
    dockerfile: &str,
    build_args: &BTreeMap<String, Option<String>>,
    labels: &BTreeMap<String, String>,
) -> String {
    let mut q: Vec<(&str, String)> = args.tags.iter().map(|t| ("t", t.clone())).collect();
    let flag = |on: bool| if on { "1" } else { "0" }.to_string();
    if args.quiet {
        q.push(("q", flag(true)));
    }
    if args.no_cache {
        q.push(("nocache", flag(true)));
    }
    q.push(("rm", flag(args.rm)));
    if args.force_rm {
        q.push(("forcerm", flag(true)));
    }
    if args.pull {
        q.push(("pull", flag(true)));
    }
    q.push(("networkmode", args.network.clone()));
    if !dockerfile.is_empty() {
        q.push(("dockerfile", dockerfile.to_string()));
    }
    if let Some(target) = args.target.as_deref().filter(|t| !t.is_empty()) {
        q.push(("target", target.to_string()));
    }
    q.push((
        "buildargs",
        serde_json::to_string(build_args).unwrap_or_default(),
    ));
    q.push(("labels", serde_json::to_string(labels).unwrap_or_default()));
    q.push((
        "cachefrom",
        serde_json::to_string(&args.cache_from).unwrap_or_default(),
    ));
    if let Some(p) = args.platform.as_deref().filter(|p| !p.is_empty()) {
        q.push(("platform", p.to_lowercase()));
    }
    q.push(("version", "1".to_string()));
    query(&q)
}

/// `dockerfile parse error line 3: unknown instruction: FOO` → `Dockerfile:3: unknown instruction: FOO`.
fn parse_error_line(message: &str, dockerfile: &str) -> Option<String> {
    let rest = message.strip_prefix("dockerfile parse error line ")?;
    let (line, what) = rest.split_once(": ")?;
    line.parse::<usize>().ok()?;
    Some(format!("{dockerfile}:{line}: {what}"))
}

/// `berth build`: `command` is `build` or `image build`, for error hints.
pub async fn build(ctx: &Ctx, args: BuildArgs, command: &str) -> Result<(), CliError> {
    let usage = format!("{command} {USAGE}");
    let bad_flag = |message: String| flag_error(&message, &usage, command);
    for tag in &args.tags {
        if let Err(e) = Reference::parse(tag) {
            // docker words it as for any reference the CLI rejects.
            let reason = CliError::from(e).to_string();
            return Err(bad_flag(format!(
                "invalid argument {tag:?} for \"-t, --tag\" flag: {reason}"
            )));
        }
    }
    let build_args =
        build_arg_map(&args.build_args, &|k| std::env::var(k).ok()).map_err(bad_flag)?;
    let labels = label_map(&args.labels).map_err(bad_flag)?;
    let mode = match args.progress.as_str() {
        _ if args.quiet => Mode::Quiet,
        "plain" => Mode::Plain,
        "tty" => Mode::Live,
        "auto" if std::io::stdout().is_terminal() => Mode::Live,
        "auto" => Mode::Plain,
        other => {
            return Err(bad_flag(format!(
                "invalid argument {other:?} for \"--progress\" flag: use auto, plain or tty"
            )));
        }
    };
    let dockerfile_from_stdin = args.file.as_deref() == Some("-");
    if dockerfile_from_stdin && args.context == "-" {
        return Err(CliError::usage(
            "invalid argument: can't use stdin for both build context and dockerfile",
        ));
    }
    if let Some(iid) = &args.iidfile
        && let Err(e) = std::fs::remove_file(iid)
        && e.kind() != std::io::ErrorKind::NotFound
    {
        return Err(CliError::usage(format!(
            "Removing image ID file: remove {iid}: {}",
            go_io_error(&e)
        )));
    }

    let (up, dockerfile) = if args.context == "-" {
        stdin_context(&args).await?
    } else if Path::new(&args.context).exists() {
        let stdin_dockerfile = if dockerfile_from_stdin {
            let content = tokio::task::spawn_blocking(|| {
                let mut buf = Vec::new();
                std::io::stdin().lock().read_to_end(&mut buf).map(|_| buf)
            })
            .await
            .map_err(|e| CliError::usage(format!("reading the Dockerfile from stdin: {e}")))?
            .map_err(stdin_error)?;
            Some(content)
        } else {
            None
        };
        let context = args.context.clone();
        let file = args.file.clone().filter(|f| f != "-");
        let (plan, rel) = tokio::task::spawn_blocking(move || {
            prepare_dir(&context, file.as_deref(), stdin_dockerfile)
        })
        .await
        .map_err(|e| CliError::usage(format!("preparing the build context: {e}")))??;
        let up = upload(args.compress, move |w| {
            write_context_tar(&plan, w).map(|_| ())
        });
        (up, rel)
    } else if ["http://", "https://", "git://", "git@", "github.com/"]
        .iter()
        .any(|p| args.context.starts_with(p))
    {
        return Err(prepare_error(format!(
            "remote build contexts are not supported by berth: {}",
            args.context
        )));
    } else {
        return Err(prepare_error(format!("path {:?} not found", args.context)));
    };

    // The name to show in parse errors: what the user called the Dockerfile.
    let shown_name = match args.file.as_deref() {
        Some(f) if f != "-" => f.to_string(),
        _ if dockerfile.starts_with(".dockerfile.") || dockerfile.is_empty() => {
            "Dockerfile".to_string()
        }
        _ => dockerfile.clone(),
    };
    let path = format!(
        "/build{}",
        build_query(&args, &dockerfile, &build_args, &labels)
    );
    let mut run = Run::new(mode);
    let Upload {
        body,
        sent,
        producer,
    } = up;
    let request = ctx
        .client
        .send(Method::POST, &path, body, Some("application/x-tar"));
    tokio::pin!(request);
    let mut ticker = tokio::time::interval(Duration::from_millis(100));
    let response = loop {
        tokio::select! {
            r = &mut request => break r,
            _ = ticker.tick() => run.tick(sent.load(Ordering::Relaxed)),
        }
    };
    let sent_now = || sent.load(Ordering::Relaxed);
    let response = match response {
        Ok(r) => r,
        Err(e) => {
            // A failure to read the context is the real cause of a broken
            // request. The failed request has dropped the body, so the
            // producer ends at once; the bound only guards against a stuck read.
            if let Ok(Ok(Err((path, source)))) =
                tokio::time::timeout(Duration::from_secs(1), producer).await
                && source.kind() != std::io::ErrorKind::BrokenPipe
            {
                run.abort();
                return Err(CliError::Io {
                    op: "read",
                    path: path.display().to_string(),
                    source,
                });
            }
            run.context_done(sent_now());
            run.abort();
            return Err(match e {
                ClientError::Daemon {
                    status: 400,
                    ref message,
                } => match parse_error_line(message, &shown_name) {
                    Some(line) => CliError::Status {
                        code: 1,
                        message: line,
                    },
                    None => e.into(),
                },
                e => e.into(),
            });
        }
    };
    let mut body = response.into_body();
    let mut decoder = MessageDecoder::default();
    let mut first = true;
    loop {
        let chunk = tokio::select! {
            c = next_chunk(&path, &mut body) => c?,
            _ = ticker.tick() => {
                run.tick(sent_now());
                continue;
            }
        };
        let done = chunk.is_none();
        let messages = decoder
            .push(chunk.as_deref().unwrap_or_default(), done)
            .map_err(|source| ClientError::Decode {
                path: path.clone(),
                source,
            })?;
        for msg in messages {
            if first {
                first = false;
                run.context_done(sent_now());
            }
            if let Some((code, message)) = msg.failure() {
                run.fail();
                return Err(CliError::Status { code, message });
            }
            run.message(&msg);
        }
        if done {
            break;
        }
    }
    if first {
        run.context_done(sent_now());
    }
    let image_id = run.finish();
    if let Some(iid) = &args.iidfile {
        if image_id.is_empty() {
            return Err(CliError::usage(format!(
                "Server did not provide an image ID. Cannot write {iid}"
            )));
        }
        std::fs::write(iid, &image_id).map_err(|source| CliError::Io {
            op: "write",
            path: iid.clone(),
            source,
        })?;
    }
    Ok(())
}

/// The context from stdin: a tar (possibly compressed) passed through as
/// it is read, or a Dockerfile alone, sent as a one-file context.
async fn stdin_context(args: &BuildArgs) -> Result<(Upload, String), CliError> {
    let head = tokio::task::spawn_blocking(|| read_stdin_head(1024))
        .await
        .map_err(|e| CliError::usage(format!("reading the context from stdin: {e}")))?
        .map_err(|e| {
            CliError::usage(format!(
                "unable to prepare context: failed to peek context header from STDIN: {}",
                go_io_error(&e)
            ))
        })?;
    if is_archive(&head) {
        let up = upload(args.compress, move |w| {
            let stdin_err = |e| (PathBuf::from("stdin"), e);
            w.write_all(&head).map_err(stdin_err)?;
            std::io::copy(&mut std::io::stdin().lock(), w)
                .map(|_| ())
                .map_err(stdin_err)
        });
        return Ok((up, args.file.clone().unwrap_or_default()));
    }
    let content = tokio::task::spawn_blocking(move || {
        let mut content = head;
        std::io::stdin()
            .lock()
            .read_to_end(&mut content)
            .map(|_| content)
    })
    .await
    .map_err(|e| CliError::usage(format!("reading the Dockerfile from stdin: {e}")))?
    .map_err(stdin_error)?;
    let tar = dockerfile_tar(&content).map_err(stdin_error)?;
    let up = upload(args.compress, move |w| {
        w.write_all(&tar).map_err(|e| (PathBuf::from("stdin"), e))
    });
    Ok((up, "Dockerfile".to_string()))
}

/// The output side of one build, in one of the three [`Mode`]s.
struct Run {
    mode: Mode,
    live: Option<LiveDisplay>,
    /// `-q`: what docker keeps to print on failure (progress + stream text).
    quiet_progress: String,
    quiet_stream: String,
    context_shown: bool,
    image_id: String,
}

impl Run {
    fn new(mode: Mode) -> Run {
        let live = (mode == Mode::Live).then(|| {
            let width = crate::tty::stdout_size().map_or(80, |(_, w)| usize::from(w));
            LiveDisplay::new(Instant::now(), width)
        });
        Run {
            mode,
            live,
            quiet_progress: String::new(),
            quiet_stream: String::new(),
            context_shown: false,
            image_id: String::new(),
        }
    }

    /// A redraw of the live display.
    fn tick(&mut self, sent: u64) {
        if let Some(live) = &mut self.live {
            if !self.context_shown {
                live.context_sent(sent);
            }
            live.draw(&mut std::io::stdout().lock(), Instant::now());
        }
    }

    /// The context is sent: docker prints its size once (`\r\r\n` and all,
    /// as the docker CLI does without a terminal).
    fn context_done(&mut self, sent: u64) {
        if self.context_shown {
            return;
        }
        self.context_shown = true;
        let line = format!("{}\r\r\n", sending_line(sent));
        match self.mode {
            Mode::Quiet => self.quiet_progress.push_str(&line),
            Mode::Plain => print_out(&line),
            Mode::Live => {
                if let Some(live) = &mut self.live {
                    live.context_sent(sent);
                }
            }
        }
    }

    fn message(&mut self, msg: &JsonMessage) {
        if msg.aux.is_some() {
            if let Some(id) = msg.aux_id() {
                self.image_id = id;
            }
            return;
        }
        match self.mode {
            Mode::Quiet => self.quiet_stream.push_str(&msg.plain_text()),
            Mode::Plain => print_out(&msg.plain_text()),
            Mode::Live => {
                if let Some(live) = &mut self.live {
                    live.message(msg, Instant::now());
                }
            }
        }
    }

    /// The build failed: close the display; `-q` shows what it held back.
    fn fail(&mut self) {
        match self.mode {
            Mode::Quiet => {
                let mut err = std::io::stderr().lock();
                let _ = write!(err, "{}{}", self.quiet_progress, self.quiet_stream);
            }
            Mode::Plain => {}
            Mode::Live => {
                if let Some(live) = &mut self.live {
                    live.finish(&mut std::io::stdout().lock(), Instant::now(), true);
                }
            }
        }
    }

    /// The request failed before any build output.
    fn abort(&mut self) {
        if let Some(live) = &mut self.live {
            live.finish(&mut std::io::stdout().lock(), Instant::now(), true);
        } else if self.mode == Mode::Quiet {
            eprint!("{}", self.quiet_progress);
        }
    }

    /// The build succeeded: the image ID (for `--iidfile`), after printing
    /// it for `-q` (docker prints the daemon's quiet output, the ID and a newline).
    fn finish(&mut self) -> String {
        match self.mode {
            Mode::Quiet => {
                print_out(&self.quiet_stream);
                self.image_id = std::mem::take(&mut self.quiet_stream);
            }
            Mode::Plain => {}
            Mode::Live => {
                if let Some(live) = &mut self.live {
                    live.finish(&mut std::io::stdout().lock(), Instant::now(), false);
                }
            }
        }
        std::mem::take(&mut self.image_id)
    }
}

// ---------------------------------------------------------------- builder prune

/// `berth builder`.
#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Remove build cache
    Prune(PruneArgs),
}

/// `berth builder prune`.
#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Remove all unused build cache, not just dangling ones
    #[arg(short = 'a', long)]
    all: bool,
    /// Provide filter values (e.g. 'until=24h')
    #[arg(long, value_name = "filter")]
    filter: Vec<String>,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    force: bool,
    /// Amount of disk space to keep for cache
    #[arg(long = "keep-storage", value_name = "bytes",
          value_parser = crate::commands::resources::ram_in_bytes)]
    keep_storage: Option<i64>,
}

/// `POST /build/prune`'s answer.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct PruneReport {
    #[serde(default)]
    caches_deleted: Option<Vec<String>>,
    #[serde(default)]
    space_reclaimed: u64,
}

const PRUNE_WARNING: &str =
    "WARNING! This will remove all dangling build cache. Are you sure you want to continue?";
const PRUNE_ALL_WARNING: &str =
    "WARNING! This will remove all build cache. Are you sure you want to continue?";

/// docker's `prompt.Confirm`: only `y`/`Y` confirms.
fn confirm(message: &str) -> bool {
    print_out(&format!("{message} [y/N] "));
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    line.trim().eq_ignore_ascii_case("y")
}

/// The report as docker prints it.
fn prune_output(report: &PruneReport) -> String {
    let mut out = String::new();
    let deleted = report.caches_deleted.as_deref().unwrap_or_default();
    if !deleted.is_empty() {
        out.push_str("Deleted build cache objects:\n");
        for id in deleted {
            out.push_str(id);
            out.push('\n');
        }
        // docker prints the list with Fprintln: one more newline.
        out.push('\n');
    }
    out.push_str(&format!(
        "Total reclaimed space: {}\n",
        human_size(report.space_reclaimed as f64)
    ));
    out
}

/// `berth builder ...`.
pub async fn builder(ctx: &Ctx, command: BuilderCommand) -> Result<(), CliError> {
    match command {
        BuilderCommand::Prune(args) => prune(ctx, args).await,
    }
}

async fn prune(ctx: &Ctx, args: PruneArgs) -> Result<(), CliError> {
    let mut q = Vec::new();
    if args.all {
        q.push(("all", "1".to_string()));
    }
    if let Some(keep) = args.keep_storage {
        q.push(("keep-storage", keep.to_string()));
    }
    if let Some(f) = filters_json(&args.filter, &[])? {
        q.push(("filters", f));
    }
    let warning = if args.all {
        PRUNE_ALL_WARNING
    } else {
        PRUNE_WARNING
    };
    if !args.force && !confirm(warning) {
        return Ok(());
    }
    let path = format!("/build/prune{}", query(&q));
    let report: PruneReport = ctx.client.json(Method::POST, &path, empty()).await?;
    print_out(&prune_output(&report));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, Parser)]
    struct Wrap {
        #[command(flatten)]
        args: BuildArgs,
    }

    fn parse(argv: &[&str]) -> BuildArgs {
        let mut full = vec!["build"];
        full.extend_from_slice(argv);
        Wrap::try_parse_from(full).unwrap().args
    }

    #[test]
    fn flags_parse_like_docker() {
        let a = parse(&[
            "-t",
            "a:1",
            "--tag",
            "b",
            "-f",
            "-",
            "--build-arg",
            "X=1",
            "--build-arg",
            "Y",
            "--rm=false",
            "--force-rm",
            "--no-cache",
            "--pull",
            "--label",
            "l=v",
            "-q",
            "--iidfile",
            "/tmp/id",
            "--network",
            "host",
            "--target",
            "build",
            "--progress",
            "plain",
            "--platform",
            "linux/amd64",
            ".",
        ]);
        assert_eq!(a.tags, ["a:1", "b"]);
        assert_eq!(a.file.as_deref(), Some("-"));
        assert!(!a.rm && a.force_rm && a.no_cache && a.pull && a.quiet);
        assert_eq!(a.network, "host");
        assert_eq!(a.context, ".");
        let d = parse(&["."]);
        assert!(d.rm);
        assert_eq!(d.network, "default");
        assert_eq!(d.progress, "auto");
        assert!(Wrap::try_parse_from(["build"]).is_err());
        assert!(Wrap::try_parse_from(["build", "a", "b"]).is_err());
    }

    #[test]
    fn query_matches_dockers_client() {
        let a = parse(&[
            "-t",
            "a:1",
            "-t",
            "b",
            "--build-arg",
            "X=1",
            "--label",
            "k=v",
            "--target",
            "t",
            ".",
        ]);
        let ba = build_arg_map(&a.build_args, &|_| None).unwrap();
        let labels = label_map(&a.labels).unwrap();
        assert_eq!(
            build_query(&a, "Dockerfile", &ba, &labels),
            "?t=a%3A1&t=b&rm=1&networkmode=default&dockerfile=Dockerfile&target=t\
             &buildargs=%7B%22X%22%3A%221%22%7D&labels=%7B%22k%22%3A%22v%22%7D&cachefrom=%5B%5D&version=1"
        );
        let q = parse(&[
            "-q",
            "--no-cache",
            "--rm=false",
            "--pull",
            "--force-rm",
            "-",
        ]);
        let s = build_query(&q, "", &BTreeMap::new(), &BTreeMap::new());
        assert!(
            s.starts_with("?q=1&nocache=1&rm=0&forcerm=1&pull=1&networkmode=default&buildargs="),
            "{s}"
        );
        assert!(!s.contains("dockerfile="), "{s}");
    }

    #[test]
    fn build_args_and_labels_like_docker() {
        let env = |k: &str| (k == "FROM_ENV").then(|| "v".to_string());
        let m = build_arg_map(
            &[
                "A=1".into(),
                "B=".into(),
                "FROM_ENV".into(),
                "UNSET".into(),
                "C=x=y".into(),
            ],
            &env,
        )
        .unwrap();
        assert_eq!(
            serde_json::to_string(&m).unwrap(),
            r#"{"A":"1","B":"","C":"x=y","FROM_ENV":"v","UNSET":null}"#
        );
        assert_eq!(
            build_arg_map(&["=x".into()], &env).unwrap_err(),
            "invalid argument \"=x\" for \"--build-arg\" flag: invalid environment variable: =x"
        );
        let l = label_map(&["a=b".into(), "c".into()]).unwrap();
        assert_eq!(serde_json::to_string(&l).unwrap(), r#"{"a":"b","c":""}"#);
        assert!(
            label_map(&["=b".into()])
                .unwrap_err()
                .contains("empty name")
        );
        assert!(
            label_map(&["a b=c".into()])
                .unwrap_err()
                .contains("contains whitespaces")
        );
    }

    #[test]
    fn parse_errors_name_the_dockerfile() {
        assert_eq!(
            parse_error_line(
                "dockerfile parse error line 3: unknown instruction: FOO",
                "Dockerfile"
            ),
            Some("Dockerfile:3: unknown instruction: FOO".to_string())
        );
        assert_eq!(parse_error_line("no such image", "Dockerfile"), None);
    }

    #[test]
    fn archives_are_detected() {
        let tar = dockerfile_tar(b"FROM scratch\n").unwrap();
        assert!(is_archive(&tar[..1024]));
        assert!(is_archive(&[0x1f, 0x8b, 0x08, 0]));
        assert!(!is_archive(b"FROM busybox\nRUN true\n"));
        assert!(!is_archive(&[0u8; 1024]));
    }

    fn tar_entries(bytes: &[u8]) -> Vec<(String, tar::EntryType, u32, Vec<u8>)> {
        let mut out = Vec::new();
        let mut ar = tar::Archive::new(bytes);
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let path = e.path().unwrap().to_string_lossy().into_owned();
            let kind = e.header().entry_type();
            let mode = e.header().mode().unwrap();
            assert_eq!(e.header().uid().unwrap(), 0);
            let mut data = Vec::new();
            e.read_to_end(&mut data).unwrap();
            out.push((path, kind, mode, data));
        }
        out
    }

    fn context_dir() -> tempfile::TempDir {
        let dir = tempfile::Builder::new()
            .prefix("berth-buildctx")
            .tempdir()
            .unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("src/deep")).unwrap();
        std::fs::create_dir_all(root.join("node_modules/x")).unwrap();
        std::fs::write(root.join("Dockerfile"), "FROM busybox\n").unwrap();
        std::fs::write(root.join("src/main.c"), "int main;").unwrap();
        std::fs::write(root.join("src/deep/a.log"), "log").unwrap();
        std::fs::write(root.join("node_modules/x/i.js"), "js").unwrap();
        std::fs::write(root.join("secret.env"), "k").unwrap();
        std::fs::write(root.join("keep.env"), "k").unwrap();
        std::fs::hard_link(root.join("src/main.c"), root.join("src/hard.c")).unwrap();
        std::os::unix::fs::symlink("main.c", root.join("src/link")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            root.join("src/main.c"),
            std::fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        dir
    }

    #[test]
    fn packs_what_dockerignore_allows() {
        let dir = context_dir();
        let root = dir.path();
        std::fs::write(
            root.join(".dockerignore"),
            "# build files\nDockerfile\n.dockerignore\nnode_modules\n**/*.log\n*.env\n!keep.env\n",
        )
        .unwrap();
        let (plan, rel) = prepare_dir(root.to_str().unwrap(), None, None).unwrap();
        assert_eq!(rel, "Dockerfile");
        let tar = write_context_tar(&plan, Vec::new()).unwrap();
        let entries = tar_entries(&tar);
        let names: Vec<&str> = entries.iter().map(|e| e.0.as_str()).collect();
        // The Dockerfile and .dockerignore are sent although the patterns exclude them.
        assert_eq!(
            names,
            [
                ".dockerignore",
                "Dockerfile",
                "keep.env",
                "src",
                "src/deep",
                "src/hard.c",
                "src/link",
                "src/main.c"
            ]
        );
        let get = |n: &str| entries.iter().find(|e| e.0 == n).unwrap();
        assert_eq!(get("src").1, tar::EntryType::Directory);
        assert_eq!(get("src").2 & 0o170000, 0o40000);
        assert_eq!(get("Dockerfile").2 & 0o170000, 0o100000);
        assert_eq!(get("src/hard.c").2, 0o100750);
        assert_eq!(get("src/hard.c").1, tar::EntryType::Regular);
        assert_eq!(get("src/hard.c").3, b"int main;");
        assert_eq!(get("src/main.c").1, tar::EntryType::Link);
        assert_eq!(get("src/link").1, tar::EntryType::Symlink);
        assert_eq!(get("Dockerfile").3, b"FROM busybox\n");
    }

    #[test]
    fn packs_long_names_fifos_and_odd_bytes() {
        use std::os::unix::ffi::OsStrExt;
        let dir = tempfile::Builder::new()
            .prefix("berth-buildctx")
            .tempdir()
            .unwrap();
        let root = dir.path();
        std::fs::write(root.join("Dockerfile"), "FROM x\n").unwrap();
        let long = format!("{}/{}", "d".repeat(120), "f".repeat(150));
        std::fs::create_dir(root.join("d".repeat(120))).unwrap();
        std::fs::write(root.join(&long), "long").unwrap();
        nix::unistd::mkfifo(
            &root.join("pipe"),
            nix::sys::stat::Mode::from_bits_truncate(0o640),
        )
        .unwrap();
        let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
        let odd = std::ffi::OsStr::from_bytes(b"caf\xe9");
        std::fs::write(root.join(odd), "odd").unwrap();
        let (plan, _) = prepare_dir(root.to_str().unwrap(), None, None).unwrap();
        let tar = write_context_tar(&plan, Vec::new()).unwrap();
        let mut ar = tar::Archive::new(tar.as_slice());
        let mut got = Vec::new();
        for e in ar.entries().unwrap() {
            let e = e.unwrap();
            got.push((e.path_bytes().into_owned(), e.header().entry_type()));
        }
        let names: Vec<&[u8]> = got.iter().map(|(n, _)| n.as_slice()).collect();
        assert_eq!(
            names,
            [
                b"Dockerfile".as_slice(),
                b"caf\xe9".as_slice(),
                "d".repeat(120).as_bytes(),
                long.as_bytes(),
                b"pipe".as_slice(),
            ]
        );
        assert_eq!(got[4].1, tar::EntryType::Fifo);
    }

    #[test]
    fn dockerfile_from_stdin_gets_a_random_name() {
        let dir = context_dir();
        let root = dir.path();
        let (plan, rel) = prepare_dir(
            root.to_str().unwrap(),
            None,
            Some(b"FROM scratch\n".to_vec()),
        )
        .unwrap();
        assert!(
            rel.starts_with(".dockerfile.") && rel.len() == ".dockerfile.".len() + 20,
            "{rel}"
        );
        let entries = tar_entries(&write_context_tar(&plan, Vec::new()).unwrap());
        let n = entries.len();
        assert_eq!(entries[n - 2].0, rel);
        assert_eq!(entries[n - 2].3, b"FROM scratch\n");
        assert_eq!(entries[n - 2].2, 0o600);
        assert_eq!(entries[n - 1].0, ".dockerignore");
        assert_eq!(
            entries[n - 1].3,
            format!(".dockerignore\n{rel}\n").as_bytes()
        );
        // With a .dockerignore of its own, the name is appended to it in place.
        std::fs::write(root.join(".dockerignore"), "*.log").unwrap();
        let (plan, rel) = prepare_dir(
            root.to_str().unwrap(),
            None,
            Some(b"FROM scratch\n".to_vec()),
        )
        .unwrap();
        let entries = tar_entries(&write_context_tar(&plan, Vec::new()).unwrap());
        assert_eq!(entries[0].0, ".dockerignore");
        assert_eq!(entries[0].3, format!("*.log\n{rel}\n").as_bytes());
        assert_eq!(entries.iter().filter(|e| e.0 == ".dockerignore").count(), 1);
    }

    #[test]
    fn dockerfile_outside_the_context_is_added() {
        let outer = tempfile::Builder::new()
            .prefix("berth-buildctx")
            .tempdir()
            .unwrap();
        let ctx = outer.path().join("ctx");
        std::fs::create_dir(&ctx).unwrap();
        std::fs::write(ctx.join("a"), "a").unwrap();
        let df = outer.path().join("Other.Dockerfile");
        std::fs::write(&df, "FROM busybox\n").unwrap();
        let (plan, rel) = prepare_dir(ctx.to_str().unwrap(), df.to_str(), None).unwrap();
        assert!(rel.starts_with(".dockerfile."), "{rel}");
        let names: Vec<String> = tar_entries(&write_context_tar(&plan, Vec::new()).unwrap())
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert_eq!(names, ["a".to_string(), rel, ".dockerignore".to_string()]);
        // Inside the context, -f names the file relative to the context.
        std::fs::create_dir(ctx.join("sub")).unwrap();
        std::fs::write(ctx.join("sub/Dockerfile.dev"), "FROM busybox\n").unwrap();
        let f = ctx.join("sub/Dockerfile.dev");
        let (_, rel) = prepare_dir(ctx.to_str().unwrap(), f.to_str(), None).unwrap();
        assert_eq!(rel, "sub/Dockerfile.dev");
    }

    #[test]
    fn missing_dockerfile_and_context_errors() {
        let dir = tempfile::Builder::new()
            .prefix("berth-buildctx")
            .tempdir()
            .unwrap();
        let e = prepare_dir(dir.path().to_str().unwrap(), None, None).unwrap_err();
        assert!(
            e.to_string().starts_with(
                "unable to prepare context: unable to evaluate symlinks in Dockerfile path: lstat "
            ),
            "{e}"
        );
        assert!(
            e.to_string()
                .ends_with("/Dockerfile: no such file or directory"),
            "{e}"
        );
        // A lower-case dockerfile is found too.
        std::fs::write(dir.path().join("dockerfile"), "FROM x\n").unwrap();
        let (_, rel) = prepare_dir(dir.path().to_str().unwrap(), None, None).unwrap();
        assert_eq!(rel, "dockerfile");
        std::fs::write(dir.path().join(".dockerignore"), "[").unwrap();
        let e = prepare_dir(dir.path().to_str().unwrap(), None, None).unwrap_err();
        assert_eq!(
            e.to_string(),
            "error checking context: syntax error in pattern \"[\""
        );
    }

    #[test]
    fn relative_paths_like_go() {
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/b/c/d")),
            Path::new("c/d")
        );
        assert_eq!(
            relative(Path::new("/a/b"), Path::new("/a/x")),
            Path::new("../x")
        );
        assert_eq!(relative(Path::new("/a"), Path::new("/a")), Path::new("."));
    }

    #[test]
    fn prune_report_like_docker() {
        let r = PruneReport {
            caches_deleted: Some(vec!["sha256:ab".into()]),
            space_reclaimed: 2048,
        };
        assert_eq!(
            prune_output(&r),
            "Deleted build cache objects:\nsha256:ab\n\nTotal reclaimed space: 2.048kB\n"
        );
        assert_eq!(
            prune_output(&PruneReport::default()),
            "Total reclaimed space: 0B\n"
        );
    }

    /// A fake daemon answering each request with the next canned reply and
    /// recording what it received (URI and body).
    /// What the fake daemon received: (URI, body) per request.
    type Seen = Arc<std::sync::Mutex<Vec<(String, Vec<u8>)>>>;

    struct FakeDaemon {
        socket: PathBuf,
        seen: Seen,
        _dir: tempfile::TempDir,
        server: tokio::task::JoinHandle<()>,
    }

    impl Drop for FakeDaemon {
        fn drop(&mut self) {
            self.server.abort();
        }
    }

    fn fake_daemon(replies: Vec<(u16, &'static str)>) -> FakeDaemon {
        use hyper::service::service_fn;
        let dir = tempfile::Builder::new()
            .prefix("berth-fakebuild")
            .tempdir()
            .unwrap();
        let socket = dir.path().join("d.sock");
        let listener = tokio::net::UnixListener::bind(&socket).unwrap();
        let seen: Seen = Arc::new(std::sync::Mutex::new(Vec::new()));
        let replies = Arc::new(std::sync::Mutex::new(replies));
        let (seen2, replies2) = (seen.clone(), replies.clone());
        let server = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (seen, replies) = (seen2.clone(), replies2.clone());
                let svc = service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let (seen, replies) = (seen.clone(), replies.clone());
                    async move {
                        let uri = req.uri().to_string();
                        let body = req.into_body().collect().await?.to_bytes().to_vec();
                        seen.lock().unwrap().push((uri, body));
                        let (status, text) = replies.lock().unwrap().remove(0);
                        Ok::<_, hyper::Error>(
                            hyper::Response::builder()
                                .status(status)
                                .body(http_body_util::Full::new(Bytes::from(text)))
                                .unwrap(),
                        )
                    }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc),
                );
            }
        });
        FakeDaemon {
            socket,
            seen,
            _dir: dir,
            server,
        }
    }

    fn ctx_for(d: &FakeDaemon) -> Ctx {
        Ctx {
            client: crate::client::Client::new(crate::client::Host::Unix(d.socket.clone())),
        }
    }

    #[tokio::test]
    async fn build_sends_the_context_and_writes_the_iidfile() {
        let d = fake_daemon(vec![(
            200,
            "{\"stream\":\"Step 1/1 : FROM busybox\"}\r\n{\"stream\":\"\\n\"}\r\n{\"aux\":{\"ID\":\"sha256:abc\"}}\r\n{\"stream\":\"Successfully built abc\\n\"}\r\n",
        )]);
        let dir = context_dir();
        std::fs::write(dir.path().join(".dockerignore"), "*.env\n").unwrap();
        let iid = dir.path().join("iid");
        let args = parse(&[
            "-t",
            "x:1",
            "--progress",
            "plain",
            "--iidfile",
            iid.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ]);
        build(&ctx_for(&d), args, "build").await.unwrap();
        assert_eq!(std::fs::read_to_string(&iid).unwrap(), "sha256:abc");
        let seen = d.seen.lock().unwrap();
        let (uri, body) = &seen[0];
        assert!(uri.starts_with("/v1.41/build?t=x%3A1&rm=1&"), "{uri}");
        assert!(uri.contains("&dockerfile=Dockerfile&"), "{uri}");
        let names: Vec<String> = tar_entries(body).into_iter().map(|e| e.0).collect();
        assert!(names.contains(&"Dockerfile".to_string()), "{names:?}");
        assert!(names.contains(&"src/main.c".to_string()), "{names:?}");
        assert!(!names.iter().any(|n| n.ends_with(".env")), "{names:?}");
    }

    #[tokio::test]
    async fn build_failures_map_to_dockers_exit_codes() {
        let d = fake_daemon(vec![
            (
                200,
                "{\"stream\":\"Step 1/2 : RUN exit 3\\n\"}\r\n{\"errorDetail\":{\"code\":3,\"message\":\"The command '/bin/sh -c exit 3' returned a non-zero code: 3\"},\"error\":\"The command '/bin/sh -c exit 3' returned a non-zero code: 3\"}\r\n",
            ),
            (
                400,
                "{\"message\":\"dockerfile parse error line 2: unknown instruction: FOO\"}",
            ),
            (200, "{\"error\":\"no build stage in current context\"}\r\n"),
        ]);
        let dir = context_dir();
        let path = dir.path().to_str().unwrap();
        let iid = dir.path().join("iid");
        std::fs::write(&iid, "stale").unwrap();
        let e = build(
            &ctx_for(&d),
            parse(&[
                "--progress",
                "plain",
                "--iidfile",
                iid.to_str().unwrap(),
                path,
            ]),
            "build",
        )
        .await
        .unwrap_err();
        assert_eq!(e.exit_code(), 3);
        assert_eq!(
            e.to_string(),
            "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
        );
        // A failed build leaves no ID file, not even an old one.
        assert!(!iid.exists());
        let e = build(&ctx_for(&d), parse(&["-q", path]), "build")
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "Dockerfile:2: unknown instruction: FOO");
        let e = build(&ctx_for(&d), parse(&["--progress", "plain", path]), "build")
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert_eq!(e.to_string(), "no build stage in current context");
    }

    #[tokio::test]
    async fn a_failing_producer_aborts_the_body() {
        let up = upload(false, |w| {
            w.write_all(&[7u8; 300 * 1024])
                .map_err(|e| (PathBuf::from("x"), e))?;
            Err((
                PathBuf::from("/ctx/gone"),
                std::io::Error::from(std::io::ErrorKind::NotFound),
            ))
        });
        let err = up.body.collect().await.unwrap_err();
        assert!(err.to_string().starts_with("/ctx/gone: "), "{err}");
        assert!(up.producer.await.unwrap().is_err());
        assert_eq!(up.sent.load(Ordering::Relaxed), 300 * 1024);
        // Compressed, what arrives is a gzip stream of what was written.
        let up = upload(true, |w| {
            w.write_all(b"hello").map_err(|e| (PathBuf::new(), e))
        });
        let body = up.body.collect().await.unwrap().to_bytes();
        let mut text = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut text)
            .unwrap();
        assert_eq!(text, "hello");
    }

    #[tokio::test]
    async fn bad_flags_fail_before_sending() {
        let d = fake_daemon(vec![]);
        let ctx = ctx_for(&d);
        let e = build(&ctx, parse(&["-t", "BAD", "."]), "build")
            .await
            .unwrap_err();
        assert_eq!(e.exit_code(), 125);
        assert!(
            e.to_string().starts_with(
                "invalid argument \"BAD\" for \"-t, --tag\" flag: invalid reference format: repository name (library/BAD) must be lowercase\n\nUsage:  berth build [OPTIONS] PATH | URL | -"
            ),
            "{e}"
        );
        let e = build(&ctx, parse(&["-f", "-", "-"]), "build")
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "invalid argument: can't use stdin for both build context and dockerfile"
        );
        let e = build(&ctx, parse(&["/nonexistent/berth-ctx"]), "build")
            .await
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "unable to prepare context: path \"/nonexistent/berth-ctx\" not found"
        );
        assert!(d.seen.lock().unwrap().is_empty());
    }
}
