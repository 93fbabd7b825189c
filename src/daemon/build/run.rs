//! Steps that change the filesystem without COPY: RUN (a container through
//! the container service, its output streamed, its upper directory committed
//! as the layer) and WORKDIR (the directory made in a detached overlay of the
//! current image, the upper directory committed).

use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags};

use berth::api::models::{ContainerConfig, HealthConfig, HostConfig};
use berth::image::ResolvedImage;
use berth::image::diff::write_layer;
use berth::image::store::{BuildStep, ImageStore};
use berth::runtime::rootaccess::{ContainerRoot, components};

use super::context::Context;
use super::copy::{self, CopyRequest, Source};
use super::stage::{CopyStep, RunStep, StageState};
use super::{BuildError, StageRunner, history, short};
use crate::containers::{Container, CreateRequest, Stream};

/// The image a step's container or overlay starts from: layers and config
/// (none for `FROM scratch`).
async fn current_image(r: &StageRunner<'_>, st: &StageState) -> Result<ResolvedImage, BuildError> {
    match &st.image_id {
        Some(id) => {
            let images = r.shared.svc.images.clone();
            let id = id.clone();
            Ok(tokio::task::spawn_blocking(move || images.resolve(&id)).await??)
        }
        None => Ok(ResolvedImage {
            id: String::new(),
            config: ContainerConfig::default(),
            layers: Vec::new(),
        }),
    }
}

/// A scratch directory under `<data-root>/build/tmp-*` (swept at start),
/// removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new(build_dir: &Path) -> Result<Scratch, BuildError> {
        std::fs::create_dir_all(build_dir).map_err(BuildError::io("creating", build_dir))?;
        let dir = build_dir.join(format!("tmp-step-{}", berth::fsutil::random_id()));
        std::fs::create_dir(&dir).map_err(BuildError::io("creating", &dir))?;
        Ok(Scratch(dir))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0)
            && e.kind() != std::io::ErrorKind::NotFound
        {
            tracing::warn!(path = %self.0.display(), error = %e, "removing a build scratch directory");
        }
    }
}

/// `WORKDIR`: creates `dir` (and its parents, root-owned 0755) in the current
/// image and commits what that changed (nothing if it existed: an empty layer).
pub(super) async fn workdir(
    r: &StageRunner<'_>,
    st: &StageState,
    dir: &str,
    created_by: String,
) -> Result<String, BuildError> {
    let image = current_image(r, st).await?;
    let scratch = Scratch::new(&r.shared.svc.dir())?;
    let step = BuildStep {
        config: StageRunner::step_config(st),
        created_by,
        author: st.maintainer.clone(),
    };
    let images = r.shared.svc.images.clone();
    let parent = st.image_id.clone();
    let dir = dir.to_owned();
    let id = tokio::task::spawn_blocking(move || {
        commit_change(scratch, &images, &image.layers, parent, &step, |root| {
            mkdir_all(root, &dir)
        })
    })
    .await??;
    Ok(id)
}

/// Applies `change` to a writable overlay of `layers` in `scratch` and commits what it
/// changed (the overlay's upper directory) as a build step's image on `parent`. Blocking.
fn commit_change(
    scratch: Scratch,
    images: &ImageStore,
    layers: &[PathBuf],
    parent: Option<String>,
    step: &BuildStep,
    change: impl FnOnce(&ContainerRoot) -> Result<(), BuildError>,
) -> Result<String, BuildError> {
    let upper = scratch.0.join("upper");
    {
        let root = writable_overlay(&scratch.0, layers)?;
        change(&root)?;
    }
    let id = images.build_layer_step(
        parent.as_deref(),
        |w| write_layer(&upper, None, w).map(drop),
        step,
    )?;
    drop(scratch);
    Ok(id)
}

/// Mounts `layers` (an empty one when there are none) under a fresh upper
/// directory `<scratch>/upper` as a writable detached overlay.
fn writable_overlay(scratch: &Path, layers: &[PathBuf]) -> Result<ContainerRoot, BuildError> {
    let (upper, work, empty) = (
        scratch.join("upper"),
        scratch.join("work"),
        scratch.join("empty"),
    );
    for d in [&upper, &work, &empty] {
        std::fs::create_dir(d).map_err(BuildError::io("creating", d))?;
    }
    let mut lower = layers.to_vec();
    if lower.is_empty() {
        lower.push(empty);
    }
    ContainerRoot::overlay(&lower, &upper, Some(&work))
        .map_err(|e| BuildError::Worker(e.to_string()))
}

/// `mkdir -p dir` inside `root`, every component resolved in the root.
fn mkdir_all(root: &ContainerRoot, dir: &str) -> Result<(), BuildError> {
    let parts = components(dir.as_bytes());
    for i in 0..parts.len() {
        let here = &parts[..=i];
        match root.open(here, OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC) {
            Ok(_) => continue,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => {
                return Err(BuildError::Invalid(format!("mkdir {dir}: {e}")));
            }
        }
        let parent = root
            .open(
                &parts[..i],
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            )
            .map_err(|e| BuildError::Invalid(format!("mkdir {dir}: {e}")))?;
        let name = std::ffi::OsStr::from_bytes(&parts[i]);
        match rustix::fs::mkdirat(&parent, name, Mode::from_raw_mode(0o755)) {
            Ok(()) | Err(rustix::io::Errno::EXIST) => {}
            Err(e) => {
                return Err(BuildError::Invalid(format!(
                    "mkdir {dir}: {}",
                    std::io::Error::from_raw_os_error(e.raw_os_error())
                )));
            }
        }
    }
    Ok(())
}

/// The directory of a `RUN --mount=type=cache` mount, made on first use.
fn cache_mount_dir(
    build_dir: &Path,
    m: &berth::image::build::dockerfile::RunMount,
) -> Result<PathBuf, BuildError> {
    use sha2::Digest;
    let id = m.id.clone().unwrap_or_else(|| m.target.clone());
    let dir = build_dir
        .join("cache-mounts")
        .join(hex::encode(sha2::Sha256::digest(id.as_bytes())));
    if !dir.exists() {
        std::fs::create_dir_all(&dir).map_err(BuildError::io("creating", &dir))?;
        let mode = m.mode.unwrap_or(0o755);
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(mode))
            .map_err(BuildError::io("setting the mode of", &dir))?;
        std::os::unix::fs::chown(&dir, Some(m.uid.unwrap_or(0)), Some(m.gid.unwrap_or(0)))
            .map_err(BuildError::io("setting the owner of", &dir))?;
    }
    Ok(dir)
}

/// Decodes container output as text, keeping a multi-byte character split
/// across chunks for the next one.
#[derive(Default)]
struct Utf8Carry(Vec<u8>);

impl Utf8Carry {
    fn push(&mut self, data: &[u8]) -> String {
        self.0.extend_from_slice(data);
        let valid = match std::str::from_utf8(&self.0) {
            Ok(_) => self.0.len(),
            // An incomplete character at the end waits; anything else is replaced.
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.0.len(),
        };
        let rest = self.0.split_off(valid);
        let text = String::from_utf8_lossy(&self.0).into_owned();
        self.0 = rest;
        text
    }

    fn finish(&mut self) -> String {
        let text = String::from_utf8_lossy(&self.0).into_owned();
        self.0.clear();
        text
    }
}

/// Where a COPY reads from, owning what the borrowed [`Source`] needs.
enum SourceHolder {
    Context(Arc<Context>),
    /// A `--from` image's read-only overlay (unmounted before its scratch
    /// directory goes: fields drop in order).
    Image {
        root: ContainerRoot,
        _scratch: Scratch,
    },
}

impl SourceHolder {
    fn source(&self) -> Source<'_> {
        match self {
            SourceHolder::Context(c) => Source::Context(c),
            SourceHolder::Image { root, .. } => Source::Root(root),
        }
    }
}

/// A read-only overlay of `layers` (an image's root for `COPY --from`);
/// empty layers under it make any layer count mountable.
fn readonly_overlay(
    build_dir: &Path,
    layers: &[PathBuf],
) -> Result<(ContainerRoot, Scratch), BuildError> {
    let scratch = Scratch::new(build_dir)?;
    let (e1, e2) = (scratch.0.join("empty1"), scratch.0.join("empty2"));
    for d in [&e1, &e2] {
        std::fs::create_dir(d).map_err(BuildError::io("creating", d))?;
    }
    let mut lower = vec![e1];
    lower.extend(layers.iter().cloned());
    let top = if layers.is_empty() {
        e2
    } else {
        lower.pop().expect("a layer")
    };
    let root = ContainerRoot::overlay(&lower, &top, None)
        .map_err(|e| BuildError::Worker(e.to_string()))?;
    Ok((root, scratch))
}

/// `COPY`/`ADD`: the sources planned (cache digest) and, unless the cache has
/// the step, written into a writable overlay of the current image whose upper
/// directory becomes the layer. Returns the step's image.
pub(super) async fn copy(
    r: &mut StageRunner<'_>,
    st: &mut StageState,
    c: &CopyStep,
) -> Result<(), BuildError> {
    let build_dir = r.shared.svc.dir();
    let holder = match &c.from {
        None => SourceHolder::Context(r.shared.context.clone()),
        Some(f) => {
            let id = r
                .copy_source_image(f)
                .await
                .map_err(|e| BuildError::Invalid(format!("invalid from flag value {f}: {e}")))?;
            let layers = match id {
                Some(id) => {
                    let images = r.shared.svc.images.clone();
                    tokio::task::spawn_blocking(move || images.resolve(&id))
                        .await??
                        .layers
                }
                None => Vec::new(),
            };
            let dir = build_dir.clone();
            let (root, scratch) =
                tokio::task::spawn_blocking(move || readonly_overlay(&dir, &layers)).await??;
            SourceHolder::Image {
                root,
                _scratch: scratch,
            }
        }
    };
    let req = CopyRequest {
        sources: c.sources.clone(),
        dest: c.dest.clone(),
        workdir: st.config.working_dir.clone().unwrap_or_default(),
        chown: c.chown.clone(),
        chmod: c.chmod.clone(),
        add: c.add,
        checksum: c.checksum.clone(),
        heredocs: c.heredocs.clone(),
    };
    let (holder, plan) = tokio::task::spawn_blocking(move || {
        let plan = copy::plan(&holder.source(), &req);
        (holder, plan)
    })
    .await?;
    let plan = plan?;
    let cmd = if c.add { "ADD" } else { "COPY" };
    let chown = c
        .chown
        .as_deref()
        .map(|o| format!("--chown={o}"))
        .unwrap_or_default();
    // moby: "COPY <chown><source hash> in <dest> ", one-word comment.
    let created_by = history::nop_single(
        &st.shell(),
        &format!("{cmd} {chown}{} in {} ", plan.source_hash(), c.dest),
    );
    let key = StageRunner::key(st, &created_by, &[&plan.digest()]);
    if r.probe(st, &key).await? {
        return Ok(());
    }
    let image = current_image(r, st).await?;
    let step = BuildStep {
        config: StageRunner::step_config(st),
        created_by,
        author: st.maintainer.clone(),
    };
    let images = r.shared.svc.images.clone();
    let parent = st.image_id.clone();
    let id = tokio::task::spawn_blocking(move || {
        let scratch = Scratch::new(&build_dir)?;
        commit_change(scratch, &images, &image.layers, parent, &step, |root| {
            // The source (a `--from` root) is released with this closure, before the commit.
            plan.apply(&holder.source(), root)?;
            drop(holder);
            Ok(())
        })
    })
    .await??;
    r.remember(&key, &id);
    st.image_id = Some(id);
    Ok(())
}

/// Removes a step container, best effort, saying so like dockerd.
async fn remove(r: &StageRunner<'_>, c: &Arc<Container>, announce: bool) {
    if announce {
        r.out(format!(
            "Removing intermediate container {}\n",
            short(&c.def.id)
        ));
    }
    if let Err(e) = r.shared.svc.containers.remove(c, true, true).await {
        r.out(format!(
            "Error removing intermediate container {}: {}\n",
            short(&c.def.id),
            e.message
        ));
    }
}

/// `RUN`: the command in a container of the current image, then its changes
/// as the step's layer.
pub(super) async fn run(
    r: &StageRunner<'_>,
    st: &StageState,
    step: &RunStep,
    network: &str,
) -> Result<String, BuildError> {
    let image = current_image(r, st).await?;
    let mut config: ContainerConfig = serde_json::to_value(&st.config)
        .and_then(serde_json::from_value)
        .map_err(|e| BuildError::Invalid(format!("run config: {e}")))?;
    config.cmd = Some(step.argv.clone());
    // [""] clears the image's entrypoint (moby `withEntrypointOverride`).
    config.entrypoint = Some(vec![String::new()]);
    let mut env = st.config.env.clone().unwrap_or_default();
    env.extend(step.arg_env.iter().cloned());
    config.env = Some(env);
    config.healthcheck = Some(HealthConfig {
        test: Some(vec!["NONE".to_owned()]),
        ..HealthConfig::default()
    });
    config.image = Some(image.id.clone());
    config.attach_stdout = Some(true);
    config.attach_stderr = Some(true);
    config.tty = Some(false);
    config.open_stdin = Some(false);
    let mut binds = Vec::new();
    let mut tmpfs = std::collections::HashMap::new();
    for m in &step.mounts {
        match m.kind.as_str() {
            "cache" if m.from.is_none() && m.source.is_none() => {
                let dir = cache_mount_dir(&r.shared.svc.dir(), m)?;
                let ro = if m.readonly { ":ro" } else { "" };
                binds.push(format!("{}:{}{ro}", dir.display(), m.target));
            }
            "tmpfs" => {
                tmpfs.insert(m.target.clone(), String::new());
            }
            kind => {
                return Err(BuildError::Invalid(format!(
                    "RUN --mount=type={kind} is not supported (type=cache without from/source, and type=tmpfs are)"
                )));
            }
        }
    }
    let host_config = HostConfig {
        network_mode: Some(match network {
            "" | "default" => "bridge".to_owned(),
            n => n.to_owned(),
        }),
        binds: (!binds.is_empty()).then_some(binds),
        tmpfs: (!tmpfs.is_empty()).then_some(tmpfs),
        ..r.shared.opts.run_host.clone()
    };
    let containers = r.shared.svc.containers.clone();
    let (c, warnings) = containers.create(
        CreateRequest {
            name: None,
            config,
            host_config,
            networking: None,
        },
        image,
    )?;
    for w in warnings {
        r.out(format!(" ---> [Warning] {w}\n"));
    }
    r.out(format!(" ---> Running in {}\n", short(&c.def.id)));
    let cleanup = r.shared.opts.rm || r.shared.opts.force_rm;
    let mut output = c.attach();
    if let Err(e) = containers.start(&c).await {
        if cleanup {
            remove(r, &c, false).await;
        }
        return Err(e.into());
    }
    let (mut text, mut err_text) = (Utf8Carry::default(), Utf8Carry::default());
    loop {
        tokio::select! {
            chunk = output.recv() => match chunk {
                Some((Stream::Stdout, data)) => {
                    let s = text.push(&data);
                    if !s.is_empty() {
                        r.out(s);
                    }
                }
                // dockerd paints stderr red (its StderrFormatter), chunk by chunk.
                Some((Stream::Stderr, data)) => {
                    let s = err_text.push(&data);
                    if !s.is_empty() {
                        r.out(format!("\u{1b}[91m{s}\u{1b}[0m"));
                    }
                }
                None => break,
            },
            () = r.shared.cancel.cancelled() => {
                remove(r, &c, false).await;
                return Err(BuildError::Cancelled);
            }
        }
    }
    let rest = text.finish();
    if !rest.is_empty() {
        r.out(rest);
    }
    let rest = err_text.finish();
    if !rest.is_empty() {
        r.out(format!("\u{1b}[91m{rest}\u{1b}[0m"));
    }
    let code = c.state().exit_code;
    if code != 0 {
        if cleanup {
            remove(r, &c, false).await;
        }
        return Err(BuildError::RunFailed {
            command: step.argv.join(" "),
            code,
        });
    }
    let build_step = BuildStep {
        config: StageRunner::step_config(st),
        created_by: step.created_by.clone(),
        author: st.maintainer.clone(),
    };
    let images = r.shared.svc.images.clone();
    let parent = st.image_id.clone();
    let upper = c.state_dir.join("upper");
    // A RUN step's container runs remapped like any other: its layer carries
    // the ids it saw.
    let ids = r.shared.svc.containers.id_mapping(&c);
    let committed = tokio::task::spawn_blocking(move || {
        images.build_layer_step(
            parent.as_deref(),
            |w| write_layer(&upper, ids, w).map(drop),
            &build_step,
        )
    })
    .await;
    if cleanup {
        remove(r, &c, true).await;
    }
    Ok(committed??)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_characters_wait_for_their_rest() {
        let mut c = Utf8Carry::default();
        let bytes = "é!".as_bytes();
        assert_eq!(c.push(&bytes[..1]), "");
        assert_eq!(c.push(&bytes[1..]), "é!");
        assert_eq!(c.push(b"\xffa"), "\u{fffd}a");
        assert_eq!(c.push(&bytes[..1]), "");
        assert_eq!(c.finish(), "\u{fffd}");
    }
}
