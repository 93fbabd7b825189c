//! `POST /build`: the classic builder. A tar context in, an image out.
//!
//! One build: the context is received ([`context`]), the Dockerfile parsed
//! (`berth::image::build::dockerfile`), the stages the target needs found
//! ([`graph`]) and run — independent stages concurrently, their progress shown
//! in stage order ([`progress`]). Each step makes an intermediate image in the
//! store whose parent is the previous step's, as dockerd's classic builder
//! does: metadata instructions a config-only image ([`stage`]), RUN a
//! container whose upper directory becomes the layer ([`run`]), WORKDIR,
//! COPY and ADD a layer written through a detached overlay. Steps are reused
//! through the cache ([`cache`]).
//!
//! Where Berth differs from dockerd 20.10 on purpose: only the stages the
//! target needs are built (dockerd builds every stage up to the target, so its
//! `Step N/M` counts include unused stages); a failed RUN's container is
//! removed unless `rm=0` (dockerd keeps it unless `forcerm`); `RUN --mount`
//! (`type=cache`, `type=tmpfs`), `COPY --chmod` and heredocs work as in
//! BuildKit; `pull` is ignored (images come from the store).
//!
//! On disk, under `<data-root>/build/`: `cache/<key>` (cache records),
//! `cache-mounts/<id>` (`RUN --mount=type=cache` directories), and `tmp-*`
//! (a build's context and scratch directories, swept at daemon start).

pub mod args;
pub mod cache;
pub mod context;
pub mod copy;
pub mod fetch;
pub mod graph;
pub mod history;
pub mod progress;
mod run;
pub mod stage;

use std::collections::{BTreeMap, HashMap};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use berth::api::ErrorClass;
use berth::api::models::ImageConfig;
use berth::image::build::dockerfile::{self, Dockerfile, Instruction, Kind};
use berth::image::build::expand::expand_word;
use berth::image::store::BuildStep;
use berth::image::{ImageError, ImageStore};

use crate::containers::ContainerService;
use crate::error::ApiError;
use crate::services::Services;

use args::BuildArgs;
use cache::{Cache, CacheKey};
use context::Context;
use progress::{Message, Progress};
use stage::{StageState, Step};

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A mistake in the Dockerfile, its arguments or the request.
    #[error("{0}")]
    Invalid(String),
    /// `--target` names no stage.
    #[error("failed to reach build target {0} in Dockerfile")]
    NoTarget(String),
    /// A base image or `--from` image is not in the store.
    #[error("{0}")]
    NotFound(String),
    /// A RUN exited non-zero (the client exits with `code`).
    #[error("The command '{command}' returned a non-zero code: {code}")]
    RunFailed {
        /// The process, joined with spaces.
        command: String,
        /// Its exit code.
        code: i64,
    },
    /// The client went away.
    #[error("Build cancelled")]
    Cancelled,
    /// The image store failed.
    #[error(transparent)]
    Image(#[from] ImageError),
    /// A container operation failed.
    #[error("{}", .0.message)]
    Container(ApiError),
    /// Local file work (scratch directories, mounts) failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// Where.
        path: PathBuf,
        /// The failure.
        source: std::io::Error,
    },
    /// A COPY or ADD failed.
    #[error(transparent)]
    Copy(#[from] copy::CopyError),
    /// A worker task failed.
    #[error("build worker failed: {0}")]
    Worker(String),
}

impl BuildError {
    /// The API class (HTTP status before the stream starts).
    pub fn class(&self) -> ErrorClass {
        match self {
            BuildError::Invalid(_) | BuildError::NoTarget(_) | BuildError::RunFailed { .. } => {
                ErrorClass::InvalidArgument
            }
            BuildError::NotFound(_) => ErrorClass::NotFound,
            BuildError::Cancelled => ErrorClass::Conflict,
            BuildError::Image(e) => e.class(),
            BuildError::Container(e) => e.class,
            BuildError::Copy(e) => e.class(),
            BuildError::Io { .. } | BuildError::Worker(_) => ErrorClass::Internal,
        }
    }

    /// The exit code a client should use (a failed RUN's), dockerd's `errorDetail.code`.
    pub fn code(&self) -> Option<i64> {
        match self {
            BuildError::RunFailed { code, .. } => Some(*code),
            _ => None,
        }
    }

    fn io(
        what: &'static str,
        path: impl Into<PathBuf>,
    ) -> impl FnOnce(std::io::Error) -> BuildError {
        let path = path.into();
        move |source| BuildError::Io { what, path, source }
    }
}

impl From<ApiError> for BuildError {
    fn from(e: ApiError) -> BuildError {
        BuildError::Container(e)
    }
}

impl From<tokio::task::JoinError> for BuildError {
    fn from(e: tokio::task::JoinError) -> BuildError {
        BuildError::Worker(e.to_string())
    }
}

/// The parameters of one build (`POST /build`'s query).
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// `t`: references to tag the result with.
    pub tags: Vec<String>,
    /// `buildargs`: `--build-arg` values (`None`: no value given).
    pub build_args: BTreeMap<String, Option<String>>,
    /// `target`: the stage to build.
    pub target: Option<String>,
    /// `nocache`.
    pub no_cache: bool,
    /// `rm` (default true): remove RUN containers after a successful step,
    /// and after a failed one too (Berth's choice; dockerd keeps those).
    pub rm: bool,
    /// `forcerm`: remove RUN containers in any case.
    pub force_rm: bool,
    /// `labels`: added to the final image as LABEL steps.
    pub labels: BTreeMap<String, String>,
    /// `q`: only the image ID.
    pub quiet: bool,
    /// `networkmode` of RUN containers (`default`, `host`, `none`, a network).
    pub network_mode: Option<String>,
    /// Settings every RUN container gets (`extrahosts`, `shmsize`, `memory`,
    /// `memswap`, `cpushares`, `cpusetcpus`, `cpusetmems`, `cpuperiod`,
    /// `cpuquota`, `cgroupparent`, `ulimits`), as dockerd's `hostConfigFromOptions`.
    pub run_host: berth::api::models::HostConfig,
}

/// The builder: stateless between builds except for the cache records on disk.
#[derive(Clone)]
pub struct BuildService {
    images: ImageStore,
    containers: Arc<ContainerService>,
    cache: Cache,
    data_root: PathBuf,
}

/// `sha256:0123…` → `0123456789ab` (moby `stringid.TruncateID`).
pub fn short(id: &str) -> &str {
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    &hex[..hex.len().min(12)]
}

/// What every stage task shares.
struct Shared {
    svc: BuildService,
    opts: BuildOptions,
    progress: Arc<Progress>,
    cancel: CancellationToken,
    dockerfile: Dockerfile,
    /// The received build context (COPY and ADD sources).
    context: Arc<Context>,
    /// Each stage's names and references, for `FROM <stage>` and `--from`.
    refs: Vec<graph::StageRefs>,
    /// First step number of each needed stage.
    first_step: HashMap<usize, usize>,
    /// Output slot of each needed stage.
    slot: HashMap<usize, usize>,
    total_steps: usize,
    target: usize,
    /// The store images the build reads (`FROM`, `COPY --from`), pinned until
    /// it ends: a concurrent prune cannot take an image between its resolve
    /// and the commit of the first step on it.
    pins: std::sync::Mutex<Vec<berth::image::store::prune::ImagePin>>,
}

/// The result of one stage: its image (None: an empty scratch stage) and args.
type StageResult = (Option<String>, BuildArgs);

impl BuildService {
    /// The builder of the daemon's services.
    pub fn new(svc: &Services) -> BuildService {
        BuildService {
            images: svc.images.clone(),
            containers: svc.containers.clone(),
            cache: Cache::new(&svc.config.data_root),
            data_root: svc.config.data_root.clone(),
        }
    }

    /// `<data-root>/build`.
    pub fn dir(&self) -> PathBuf {
        self.data_root.join("build")
    }

    /// `POST /build/prune`: drops the cache records of the images `filters`
    /// select (creation time, labels) and the images only they kept.
    pub async fn prune(
        &self,
        filters: crate::prune::PruneFilters,
    ) -> Result<cache::Pruned, BuildError> {
        let (cache, images, containers) = (
            self.cache.clone(),
            self.images.clone(),
            self.containers.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let selected: std::collections::HashSet<String> = images
                .prune_candidates()
                .into_iter()
                .filter(|c| {
                    let created =
                        chrono::DateTime::from_timestamp(c.created, 0).unwrap_or_default();
                    filters.matches(created, &c.labels)
                })
                .map(|c| c.id)
                .collect();
            // An image a create is resolving (pinned) counts as used, as in image prune.
            let users = |id: &str| {
                containers.image_user(id).or_else(|| {
                    images.is_pinned(id).then(|| berth::image::ImageUser {
                        container_id: String::new(),
                        running: true,
                    })
                })
            };
            cache
                .prune(&images, &users, &|id| selected.contains(id))
                .map_err(BuildError::io("pruning the build cache in", "build/cache"))
        })
        .await?
    }

    /// Runs a parsed build to the end, writing progress; returns the image ID
    /// after tagging it. The caller reports a failure (in the stream, or as an
    /// HTTP error while `progress` is untouched).
    pub async fn build(
        &self,
        opts: BuildOptions,
        dockerfile: Dockerfile,
        context: Arc<Context>,
        progress: Arc<Progress>,
        cancel: CancellationToken,
    ) -> Result<String, BuildError> {
        for t in &opts.tags {
            berth::image::reference::Reference::parse(t)?;
        }
        // Meta ARGs first: FROM lines expand with them.
        let mut meta = BuildArgs::new(opts.build_args.clone());
        for m in &dockerfile.meta_args {
            if let Kind::Arg(pairs) = &m.kind {
                let env: Vec<String> = meta
                    .all_allowed()
                    .into_iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                for (k, v) in pairs {
                    let key = expand(&env, k, dockerfile.escape)?;
                    let value = v
                        .as_deref()
                        .map(|v| expand(&env, v, dockerfile.escape))
                        .transpose()?;
                    meta.add_meta_arg(&key, value);
                }
            }
        }
        let refs = stage_refs(&dockerfile, &meta)?;
        let target = match opts.target.as_deref().filter(|t| !t.is_empty()) {
            Some(t) => {
                graph::target_index(&refs, t).ok_or_else(|| BuildError::NoTarget(t.to_owned()))?
            }
            None => dockerfile.stages.len().checked_sub(1).ok_or_else(|| {
                BuildError::Invalid("No image was generated. Is your Dockerfile empty?".to_owned())
            })?,
        };
        let deps = graph::dependencies(&refs);
        let need = graph::needed(&deps, target);
        let order: Vec<usize> = (0..refs.len()).filter(|i| need[*i]).collect();
        let mut step = dockerfile.meta_args.len() + 1;
        let mut first_step = HashMap::new();
        let mut slot = HashMap::new();
        for (n, i) in order.iter().enumerate() {
            first_step.insert(*i, step);
            slot.insert(*i, n + 1);
            step += 1 + dockerfile.stages[*i].instructions.len();
            if *i == target {
                step += opts.labels.len();
            }
        }
        let total_steps = step - 1;
        for (n, m) in dockerfile.meta_args.iter().enumerate() {
            progress.stream(0, format!("Step {}/{total_steps} : {}", n + 1, m.original));
            progress.stream(0, "\n");
        }
        progress.finish(0);
        let epilogue = order.len() + 1;
        let shared = Arc::new(Shared {
            svc: self.clone(),
            opts,
            progress: progress.clone(),
            cancel: cancel.clone(),
            dockerfile,
            context,
            refs,
            first_step,
            slot,
            total_steps,
            target,
            pins: std::sync::Mutex::default(),
        });
        let results = run_stages(&shared, &order, &deps, &meta).await?;
        for (_, args) in results.values() {
            meta.merge_referenced(args);
        }
        let unused = meta.unused();
        if !unused.is_empty() {
            progress.stream(
                epilogue,
                format!(
                    "[Warning] One or more build-args [{}] were not consumed\n",
                    unused.join(" ")
                ),
            );
        }
        let id = results
            .get(&target)
            .and_then(|(id, _)| id.clone())
            .ok_or_else(|| {
                BuildError::Invalid("No image was generated. Is your Dockerfile empty?".to_owned())
            })?;
        progress.stream(epilogue, format!("Successfully built {}\n", short(&id)));
        if !shared.opts.tags.is_empty() {
            let images = self.images.clone();
            let (tid, tags) = (id.clone(), shared.opts.tags.clone());
            let tagged = tokio::task::spawn_blocking(move || images.tag_all(&tid, &tags)).await??;
            for t in tagged {
                progress.stream(epilogue, format!("Successfully tagged {t}\n"));
            }
        }
        Ok(id)
    }
}

fn lookup(env: &[String]) -> impl Fn(&str) -> Option<String> + '_ {
    move |name| {
        env.iter().find_map(|e| match e.split_once('=') {
            Some((k, v)) if k == name => Some(v.to_owned()),
            _ => None,
        })
    }
}

fn expand(env: &[String], word: &str, escape: char) -> Result<String, BuildError> {
    expand_word(word, &lookup(env), escape).map_err(|e| BuildError::Invalid(e.to_string()))
}

/// FROM images (expanded with the meta args) and `--from` values of each stage.
fn stage_refs(df: &Dockerfile, meta: &BuildArgs) -> Result<Vec<graph::StageRefs>, BuildError> {
    let env: Vec<String> = meta
        .all_meta()
        .into_iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    let mut out = Vec::new();
    for s in &df.stages {
        let mut refs = Vec::new();
        if let Kind::From { image, .. } = &s.from.kind {
            refs.push(expand(&env, image, df.escape)?);
        }
        for i in &s.instructions {
            if let Kind::Copy(c) | Kind::Add(c) = &i.kind
                && let Some(f) = &c.from
            {
                // Best effort: a --from using stage variables is resolved when it runs.
                refs.push(expand(&env, f, df.escape).unwrap_or_else(|_| f.clone()));
            }
        }
        out.push(graph::StageRefs {
            name: s.name.clone(),
            refs,
        });
    }
    Ok(out)
}

/// Runs the needed stages, each as soon as the stages it uses are built; on a
/// failure the others are cancelled and waited for (they clean up).
async fn run_stages(
    shared: &Arc<Shared>,
    order: &[usize],
    deps: &[Vec<usize>],
    meta: &BuildArgs,
) -> Result<HashMap<usize, StageResult>, BuildError> {
    let mut results: HashMap<usize, StageResult> = HashMap::new();
    let mut pending: Vec<usize> = order.to_vec();
    let mut tasks: JoinSet<(usize, Result<StageResult, BuildError>)> = JoinSet::new();
    let mut failure: Option<BuildError> = None;
    loop {
        if failure.is_none() {
            let ready: Vec<usize> = pending
                .iter()
                .copied()
                .filter(|i| deps[*i].iter().all(|d| results.contains_key(d)))
                .collect();
            pending.retain(|i| !ready.contains(i));
            for i in ready {
                let built: HashMap<usize, Option<String>> =
                    deps[i].iter().map(|d| (*d, results[d].0.clone())).collect();
                let shared = shared.clone();
                let args = meta.for_stage();
                tasks.spawn(async move { (i, run_stage(shared, i, built, args).await) });
            }
        }
        let Some(joined) = tasks.join_next().await else {
            break;
        };
        match joined {
            Ok((i, Ok(r))) => {
                shared.progress.finish(shared.slot[&i]);
                results.insert(i, r);
            }
            Ok((_, Err(e))) => {
                if failure.is_none() {
                    shared.cancel.cancel();
                    failure = Some(e);
                }
            }
            Err(e) => {
                if failure.is_none() {
                    shared.cancel.cancel();
                    failure = Some(e.into());
                }
            }
        }
    }
    match failure {
        Some(e) => Err(e),
        None => Ok(results),
    }
}

/// Builds stage `index`; `built` holds the images of the stages it uses.
async fn run_stage(
    shared: Arc<Shared>,
    index: usize,
    built: HashMap<usize, Option<String>>,
    args: BuildArgs,
) -> Result<StageResult, BuildError> {
    let df = &shared.dockerfile;
    let stage = &df.stages[index];
    let mut runner = StageRunner {
        shared: &shared,
        slot: shared.slot[&index],
        step: shared.first_step[&index],
        index,
        built,
        cache_busted: shared.opts.no_cache,
    };
    runner.print_step(&stage.from);
    let (image_id, base) = runner.base_image(&stage.from, &args).await?;
    let mut st = StageState::begin(image_id, base, args, df.escape);
    if let Some(triggers) = st.config.on_build.take().filter(|t| !t.is_empty()) {
        let n = triggers.len();
        runner.out(format!(
            "# Executing {n} build trigger{}\n",
            if n > 1 { "s" } else { "" }
        ));
        for t in &triggers {
            let parsed = dockerfile::parse(&format!("FROM scratch\n{t}"))
                .map_err(|e| BuildError::Invalid(e.to_string()))?;
            let Some(instr) = parsed
                .stages
                .into_iter()
                .next()
                .and_then(|s| s.instructions.into_iter().next())
            else {
                return Err(BuildError::Invalid(
                    "onbuild trigger should be a single expression".to_owned(),
                ));
            };
            runner.dispatch(&mut st, &instr.kind).await?;
        }
    }
    runner.out(format!(
        " ---> {}\n",
        st.image_id.as_deref().map(short).unwrap_or("")
    ));
    for instr in &stage.instructions {
        if shared.cancel.is_cancelled() {
            return Err(BuildError::Cancelled);
        }
        runner.print_step(instr);
        runner.dispatch(&mut st, &instr.kind).await?;
        runner.out(format!(
            " ---> {}\n",
            st.image_id.as_deref().map(short).unwrap_or("")
        ));
    }
    if index == shared.target {
        for (k, v) in &shared.opts.labels {
            runner.print_line(&format!("LABEL {k}={v}"));
            st.config
                .labels
                .get_or_insert_with(HashMap::new)
                .insert(k.clone(), v.clone());
            let created_by = history::nop(&st.shell(), &format!("LABEL {k}={v}"));
            runner.commit_metadata(&mut st, created_by).await?;
            runner.out(format!(
                " ---> {}\n",
                st.image_id.as_deref().map(short).unwrap_or("")
            ));
        }
    }
    if let Some(id) = &st.image_id {
        shared.progress.send(runner.slot, Message::Aux(id.clone()));
    }
    Ok((st.image_id, st.args))
}

/// Runs one stage's steps.
struct StageRunner<'a> {
    shared: &'a Shared,
    slot: usize,
    step: usize,
    index: usize,
    built: HashMap<usize, Option<String>>,
    /// A miss (or `nocache`) ends cache lookups for the rest of the stage, as in moby.
    cache_busted: bool,
}

impl StageRunner<'_> {
    fn out(&self, text: String) {
        self.shared.progress.stream(self.slot, text);
    }

    fn print_line(&mut self, line: &str) {
        self.out(format!(
            "Step {}/{} : {line}",
            self.step, self.shared.total_steps
        ));
        self.out("\n".to_owned());
        self.step += 1;
    }

    fn print_step(&mut self, instr: &Instruction) {
        self.print_line(&instr.original);
    }

    /// The image `FROM` names: an earlier stage's, `scratch` (none), or the store's.
    async fn base_image(
        &self,
        from: &Instruction,
        args: &BuildArgs,
    ) -> Result<(Option<String>, Option<ImageConfig>), BuildError> {
        let Kind::From { image, .. } = &from.kind else {
            return Err(BuildError::Invalid(
                "a stage must begin with FROM".to_owned(),
            ));
        };
        let env: Vec<String> = args
            .all_meta()
            .into_iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        let name = expand(&env, image, self.shared.dockerfile.escape)?;
        if name.is_empty() {
            return Err(BuildError::Invalid(format!(
                "base name ({image}) should not be blank"
            )));
        }
        let image_id = match graph::resolve(&self.shared.refs, self.index, &name) {
            Some(dep) => match self.built.get(&dep).cloned().flatten() {
                Some(id) => id,
                None => return Ok((None, None)),
            },
            None if name == "scratch" => return Ok((None, None)),
            None => name,
        };
        self.image_config(&image_id)
            .await
            .map(|(id, c)| (Some(id), Some(c)))
    }

    /// An image's ID and run config.
    async fn image_config(&self, name: &str) -> Result<(String, ImageConfig), BuildError> {
        let images = self.shared.svc.images.clone();
        let name = name.to_owned();
        let (resolved, pin) = tokio::task::spawn_blocking(move || images.resolve_pinned(&name))
            .await?
            .map_err(|e| match e {
                ImageError::NotFound(_) => BuildError::NotFound(e.to_string()),
                e => BuildError::Image(e),
            })?;
        self.shared
            .pins
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(pin);
        let config = to_image_config(&resolved.config)?;
        Ok((resolved.id, config))
    }

    /// The image an `--from` names: an earlier stage's, or one from the store.
    async fn copy_source_image(&self, from: &str) -> Result<Option<String>, BuildError> {
        match graph::resolve(&self.shared.refs, self.index, from) {
            Some(dep) => Ok(self.built.get(&dep).cloned().flatten()),
            None => self.image_config(from).await.map(|(id, _)| Some(id)),
        }
    }

    /// The config the step's image gets: the state's, `Image` = the parent.
    fn step_config(st: &StageState) -> ImageConfig {
        let mut c = st.config.clone();
        c.image = Some(st.image_id.clone().unwrap_or_default());
        c
    }

    fn key(st: &StageState, created_by: &str, extra: &[&str]) -> CacheKey {
        let config = serde_json::to_value(Self::step_config(st))
            .map(|v| v.to_string())
            .unwrap_or_default();
        let mut fields = vec![config.as_str(), st.maintainer.as_deref().unwrap_or("")];
        fields.extend_from_slice(extra);
        CacheKey::new(st.image_id.as_deref(), created_by, &fields)
    }

    /// Looks `key` up unless the cache is off or busted; a hit becomes the state's image.
    async fn probe(&mut self, st: &mut StageState, key: &CacheKey) -> Result<bool, BuildError> {
        if self.cache_busted {
            return Ok(false);
        }
        let (cache, images, k) = (
            self.shared.svc.cache.clone(),
            self.shared.svc.images.clone(),
            key.clone(),
        );
        match tokio::task::spawn_blocking(move || cache.get(&k, &images)).await? {
            Some(id) => {
                self.out(" ---> Using cache\n".to_owned());
                st.image_id = Some(id);
                Ok(true)
            }
            None => {
                self.cache_busted = true;
                Ok(false)
            }
        }
    }

    fn remember(&self, key: &CacheKey, id: &str) {
        if let Err(e) = self.shared.svc.cache.put(key, id) {
            tracing::warn!(error = %e, "recording a build cache entry");
        }
    }

    /// Dockerd runs a container for metadata steps too; its lines are kept
    /// (with an ID that names no container) so output reads the same.
    async fn commit_metadata(
        &mut self,
        st: &mut StageState,
        created_by: String,
    ) -> Result<(), BuildError> {
        let key = Self::key(st, &created_by, &[]);
        if self.probe(st, &key).await? {
            return Ok(());
        }
        let fake = berth::fsutil::random_id();
        self.out(format!(" ---> Running in {}\n", &fake[..12]));
        let step = BuildStep {
            config: Self::step_config(st),
            created_by,
            author: st.maintainer.clone(),
        };
        let images = self.shared.svc.images.clone();
        let parent = st.image_id.clone();
        let id = tokio::task::spawn_blocking(move || {
            images.build_metadata_step(parent.as_deref(), &step)
        })
        .await??;
        self.remember(&key, &id);
        if self.shared.opts.rm || self.shared.opts.force_rm {
            self.out(format!("Removing intermediate container {}\n", &fake[..12]));
        }
        st.image_id = Some(id);
        Ok(())
    }

    /// One instruction on the stage.
    async fn dispatch(&mut self, st: &mut StageState, kind: &Kind) -> Result<(), BuildError> {
        if let Kind::Healthcheck(_) = kind
            && let Some(old) = st.config.healthcheck.as_ref().and_then(|h| h.test.as_ref())
            && old.first().is_some_and(|t| t != "NONE")
        {
            self.out(format!(
                "Note: overriding previous HEALTHCHECK: {}\n",
                history::go_list(old)
            ));
        }
        match st.apply(kind)? {
            Step::Metadata { created_by } => self.commit_metadata(st, created_by).await,
            Step::Workdir { created_by, dir } => {
                let key = Self::key(st, &created_by, &[]);
                if self.probe(st, &key).await? {
                    return Ok(());
                }
                let fake = berth::fsutil::random_id();
                self.out(format!(" ---> Running in {}\n", &fake[..12]));
                let id = run::workdir(self, st, &dir, created_by).await?;
                self.remember(&key, &id);
                if self.shared.opts.rm || self.shared.opts.force_rm {
                    self.out(format!("Removing intermediate container {}\n", &fake[..12]));
                }
                st.image_id = Some(id);
                Ok(())
            }
            Step::Run(r) => {
                let network = r
                    .network
                    .clone()
                    .or_else(|| self.shared.opts.network_mode.clone())
                    .unwrap_or_default();
                let mounts = serde_json::to_string(
                    &r.mounts
                        .iter()
                        .map(|m| (&m.kind, &m.target, &m.id, m.readonly, m.mode, m.uid, m.gid))
                        .collect::<Vec<_>>(),
                )
                .unwrap_or_default();
                let key = Self::key(st, &r.created_by, &[&network, &mounts]);
                if self.probe(st, &key).await? {
                    return Ok(());
                }
                let id = run::run(self, st, &r, &network).await?;
                self.remember(&key, &id);
                st.image_id = Some(id);
                Ok(())
            }
            Step::Copy(c) => run::copy(self, st, &c).await,
        }
    }
}

/// The image view of a run config (both models share Docker's JSON names).
fn to_image_config(c: &berth::api::models::ContainerConfig) -> Result<ImageConfig, BuildError> {
    serde_json::to_value(c)
        .and_then(serde_json::from_value)
        .map_err(|e| BuildError::Invalid(format!("image config: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids() {
        assert_eq!(short("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short(""), "");
    }

    #[test]
    fn run_failures_carry_the_exit_code() {
        let e = BuildError::RunFailed {
            command: "/bin/sh -c exit 3".into(),
            code: 3,
        };
        assert_eq!(
            e.to_string(),
            "The command '/bin/sh -c exit 3' returned a non-zero code: 3"
        );
        assert_eq!(e.code(), Some(3));
        assert_eq!(BuildError::Cancelled.code(), None);
    }
}
