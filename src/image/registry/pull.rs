//! `docker pull`: resolve the reference to a manifest (choosing a platform from an index),
//! fetch the config, then download the missing layers concurrently, each hashed and
//! unpacked as it streams in; the image is recorded only once every layer is verified.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use http_body_util::BodyExt;

use crate::image::ImageStore;
use crate::image::config::ImageConfigFile;
use crate::image::digest::{BUF_SIZE, short_id};
use crate::image::index::LayerRecord;
use crate::image::reference::Reference;
use crate::image::registry::manifest::{self, Descriptor, Fetched, Manifest, Platform};
use crate::image::registry::progress::{Message, Progress};
use crate::image::registry::{AuthConfig, Client, RegistryError, Session, xfer};
use crate::image::store::distribution::{PulledImage, PulledLayer, PulledSlot};

/// A layer download that receives nothing for this long has failed (a dead connection
/// would otherwise hang the pull forever).
const STALL_TIMEOUT: Duration = Duration::from_secs(120);

/// How often a layer's `Downloading` line is refreshed.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// What to pull.
#[derive(Debug, Clone)]
pub struct PullRequest {
    /// `name:tag` or `name@digest` (a bare name means `:latest`).
    pub reference: Reference,
    /// The platform wanted (`--platform`); the host's when `None`.
    pub platform: Option<Platform>,
    /// Credentials for the registry.
    pub auth: AuthConfig,
}

/// A pull whose manifest and config are fetched: what can fail before any progress is
/// shown has failed by now (dockerd answers those with a plain HTTP error).
pub struct PreparedPull {
    session: Session,
    reference: Reference,
    /// Digest of the manifest (or index) the reference resolved to.
    top_digest: String,
    top_bytes: Vec<u8>,
    manifest: Manifest,
    config_bytes: Vec<u8>,
    diff_ids: Vec<String>,
}

/// How a finished pull went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullOutcome {
    /// The image ID.
    pub id: String,
    /// The manifest digest recorded in `RepoDigests`.
    pub digest: String,
    /// Whether a reference was added or moved.
    pub updated: bool,
}

fn now_unix() -> i64 {
    chrono::Utc::now().timestamp()
}

/// Resolves the reference: session, manifest (index → platform), config. Endpoints are
/// tried in order: a mirror that fails in any way, or an insecure registry's HTTPS that
/// cannot connect, hands over to the next one.
pub async fn prepare(client: &Client, req: &PullRequest) -> Result<PreparedPull, RegistryError> {
    let reference = req.reference.clone().with_default_tag();
    let mut last = None;
    for ep in client.endpoints(&reference.domain, false) {
        let attempt = match client.open(&ep, &reference.path, &req.auth, false).await {
            Ok(session) => prepare_on(session, &reference, req).await,
            Err(e) => Err(e),
        };
        match attempt {
            Err(e) if ep.falls_back_on(&e) => {
                tracing::debug!(endpoint = %ep.base, error = %e, "registry endpoint failed; trying the next one");
                last = Some(e);
            }
            done => return done,
        }
    }
    Err(last
        .unwrap_or_else(|| RegistryError::Invalid(format!("no endpoint for {}", reference.domain))))
}

async fn prepare_on(
    session: Session,
    reference: &Reference,
    req: &PullRequest,
) -> Result<PreparedPull, RegistryError> {
    let reference = reference.clone();
    let wanted = reference
        .digest
        .clone()
        .or_else(|| reference.tag.clone())
        .expect("a default tag was set");
    let not_found = |e: RegistryError| match e {
        RegistryError::Status {
            status: 404,
            message,
        } => RegistryError::NotFound(format!(
            "manifest for {} not found: {message}",
            familiar_full(&reference)
        )),
        e => e,
    };
    let (top_bytes, ct, top_digest) = session.manifest(&wanted).await.map_err(not_found)?;
    let platform = req.platform.clone().unwrap_or_else(Platform::host);
    let manifest = match manifest::parse(&ct, &top_bytes)? {
        Fetched::Image(m) => *m,
        Fetched::Index(idx) => {
            let d = manifest::select(&idx, &platform)?;
            let (bytes, ct, _) = session.manifest(&d.digest).await.map_err(not_found)?;
            match manifest::parse(&ct, &bytes)? {
                Fetched::Image(m) => *m,
                Fetched::Index(_) => {
                    return Err(RegistryError::Invalid(format!(
                        "manifest list entry {} is itself a list",
                        d.digest
                    )));
                }
            }
        }
    };
    if let Some(d) = manifest
        .layers
        .iter()
        .find(|d| !d.urls.is_empty() || d.media_type.contains("foreign"))
    {
        return Err(RegistryError::Invalid(format!(
            "layer {} is a foreign layer; berth pulls only layers the registry serves",
            d.digest
        )));
    }
    let config_bytes = session.blob_bytes(&manifest.config.digest).await?;
    let config = ImageConfigFile::parse(
        &config_bytes,
        &format!("image config {}", manifest.config.digest),
    )?;
    if let Some(p) = &req.platform {
        let actual = Platform {
            architecture: config.architecture.clone().unwrap_or_default(),
            os: config.os.clone().unwrap_or_default(),
            variant: config.variant.clone(),
            os_version: None,
        };
        if !p.matches(&actual) {
            return Err(RegistryError::NotFound(format!(
                "image with reference {} was found but does not match the specified platform: wanted {p}, actual: {actual}",
                familiar_full(&reference)
            )));
        }
    }
    let diff_ids = config.rootfs.diff_ids.clone();
    if diff_ids.len() != manifest.layers.len() {
        return Err(RegistryError::Invalid(format!(
            "image {}: the manifest has {} layers, the config {}",
            manifest.config.digest,
            manifest.layers.len(),
            diff_ids.len()
        )));
    }
    Ok(PreparedPull {
        session,
        reference,
        top_digest,
        top_bytes,
        manifest,
        config_bytes,
        diff_ids,
    })
}

/// `127.0.0.1:5000/x:latest`, `busybox:latest`: the reference as dockerd's messages show it.
fn familiar_full(r: &Reference) -> String {
    r.familiar()
}

/// Downloads what is missing and records the image, reporting to `progress`.
pub async fn run(
    store: &ImageStore,
    prepared: PreparedPull,
    max_downloads: usize,
    progress: &Progress,
) -> Result<PullOutcome, RegistryError> {
    let PreparedPull {
        session,
        reference,
        top_digest,
        top_bytes,
        manifest,
        config_bytes,
        diff_ids,
    } = prepared;
    let shown = reference
        .digest
        .clone()
        .or_else(|| reference.tag.clone())
        .unwrap_or_default();
    progress.send(Message::status(
        format!("Pulling from {}", reference.path),
        Some(&shown),
    ))?;
    let id = manifest.config.digest.clone();
    let current = store.is_current(&reference, &id);
    let existing = {
        let (s, d) = (store.clone(), diff_ids.clone());
        tokio::task::spawn_blocking(move || s.existing_layers(&d))
            .await
            .map_err(|e| RegistryError::Cancelled(format!("layer lookup: {e}")))?
    };
    for (d, have) in manifest.layers.iter().zip(&existing) {
        let status = if have.is_some() {
            "Already exists"
        } else {
            "Pulling fs layer"
        };
        progress.send(Message::step(status, short_id(&d.digest)))?;
    }
    let started = Instant::now();
    let slots = download_all(
        store,
        &session,
        &manifest.layers,
        &diff_ids,
        existing,
        max_downloads.max(1),
        progress,
    )
    .await?;
    let mut references = Vec::new();
    if reference.tag.is_some() {
        references.push(reference.clone());
    }
    references.push(Reference {
        tag: None,
        digest: Some(top_digest.clone()),
        ..reference.clone()
    });
    let img = PulledImage {
        config_bytes,
        manifest: (top_digest.clone(), top_bytes),
        layers: slots,
        references,
        source_repo: reference.name(),
    };
    let s = store.clone();
    let downloaded = started.elapsed();
    let (got, updated) = tokio::task::spawn_blocking(move || s.commit_pulled(img))
        .await
        .map_err(|e| RegistryError::Cancelled(format!("recording the image: {e}")))??;
    tracing::debug!(image = %got, ?downloaded, recorded = ?started.elapsed(), "image pull: layers downloaded and unpacked, data synced and recorded");
    progress.send(Message::status(format!("Digest: {top_digest}"), None))?;
    let what = if updated || !current {
        "Downloaded newer image for"
    } else {
        "Image is up to date for"
    };
    progress.send(Message::status(
        format!("Status: {what} {}", familiar_full(&reference)),
        None,
    ))?;
    Ok(PullOutcome {
        id: got,
        digest: top_digest,
        updated,
    })
}

/// Runs the downloads, at most `max` at once; the first failure stops the rest (their
/// partial files and snapshots are deleted as they drop).
async fn download_all(
    store: &ImageStore,
    session: &Session,
    layers: &[Descriptor],
    diff_ids: &[String],
    existing: Vec<Option<LayerRecord>>,
    max: usize,
    progress: &Progress,
) -> Result<Vec<PulledSlot>, RegistryError> {
    let cancel = Arc::new(AtomicBool::new(false));
    let mut slots: Vec<Option<PulledSlot>> = Vec::new();
    let mut jobs = Vec::new();
    let mut ids = Vec::new();
    for (i, (desc, have)) in layers.iter().zip(existing).enumerate() {
        match have {
            Some(r) => slots.push(Some(PulledSlot::Existing(r))),
            None => {
                slots.push(None);
                ids.push(short_id(&desc.digest).to_string());
                let (store, session, progress) = (store.clone(), session.clone(), progress.clone());
                let (desc, diff_id, cancel) = (desc.clone(), diff_ids[i].clone(), cancel.clone());
                jobs.push(async move {
                    download(store, session, desc, diff_id, progress, cancel)
                        .await
                        .map(|l| (i, l))
                });
            }
        }
    }
    let done = xfer::run_bounded(jobs, max, cancel, |k| {
        progress.send(Message::step("Waiting", &ids[k]))
    })
    .await?;
    for (i, l) in done {
        slots[i] = Some(PulledSlot::Downloaded(l));
    }
    Ok(slots
        .into_iter()
        .map(|s| s.expect("every layer was downloaded"))
        .collect())
}

/// One layer: streamed from the registry into the store's ingest (hash + unpack) on a
/// blocking thread, so slow disks never stall the async workers.
async fn download(
    store: ImageStore,
    session: Session,
    desc: Descriptor,
    diff_id: String,
    progress: Progress,
    cancel: Arc<AtomicBool>,
) -> Result<PulledLayer, RegistryError> {
    let short = short_id(&desc.digest).to_string();
    let resp = session.blob(&desc.digest).await?;
    let total = desc.size;
    let handle = tokio::runtime::Handle::current();
    let job = tokio::task::spawn_blocking(move || -> Result<PulledLayer, RegistryError> {
        let mut ingest = store.ingest_layer(&desc.digest, &diff_id)?;
        let mut body = resp.into_body();
        let start = now_unix();
        let mut done: u64 = 0;
        let mut last: Option<Instant> = None;
        let mut buf: Vec<u8> = Vec::with_capacity(BUF_SIZE / 4);
        loop {
            if progress.is_closed() || cancel.load(Ordering::Relaxed) {
                return Err(RegistryError::Cancelled("the pull was cancelled".into()));
            }
            let next = handle.block_on(tokio::time::timeout(STALL_TIMEOUT, body.frame()));
            let frame = match next {
                Err(_) => {
                    return Err(RegistryError::Invalid(format!(
                        "reading layer {}: no data for {}s",
                        desc.digest,
                        STALL_TIMEOUT.as_secs()
                    )));
                }
                Ok(None) => break,
                Ok(Some(Ok(f))) => f,
                Ok(Some(Err(e))) => {
                    return Err(RegistryError::Invalid(format!(
                        "reading layer {}: {e}",
                        desc.digest
                    )));
                }
            };
            let Ok(data) = frame.into_data() else {
                continue;
            };
            done += data.len() as u64;
            buf.extend_from_slice(&data);
            if buf.len() >= BUF_SIZE / 4 {
                ingest.write(&buf)?;
                buf.clear();
            }
            if last.is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL) {
                last = Some(Instant::now());
                progress.send(Message::transfer(
                    "Downloading",
                    &short,
                    done,
                    total,
                    start,
                    now_unix(),
                ))?;
            }
        }
        if !buf.is_empty() {
            ingest.write(&buf)?;
        }
        progress.send(Message::step("Verifying Checksum", &short))?;
        let layer = ingest.finish(&desc.media_type)?;
        progress.send(Message::step("Download complete", &short))?;
        progress.send(Message::transfer(
            "Extracting",
            &short,
            total,
            total,
            start,
            now_unix(),
        ))?;
        progress.send(Message::step("Pull complete", &short))?;
        Ok(layer)
    });
    job.await
        .map_err(|e| RegistryError::Cancelled(format!("layer download: {e}")))?
}

/// A `name:tag`, `name@digest` or `name` (all tags in `tags` mode) from `fromImage` and `tag`
/// as dockerd combines them (`tag` may also hold a digest).
pub fn reference_from_query(
    from_image: &str,
    tag: Option<&str>,
) -> Result<Reference, RegistryError> {
    let combined = match tag.filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => format!("{from_image}@{t}"),
        Some(t) => format!("{from_image}:{t}"),
        None => from_image.to_string(),
    };
    Reference::parse(&combined).map_err(|e| RegistryError::InvalidArgument(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_references_combine_like_dockerd() {
        let r = reference_from_query("127.0.0.1:5000/x", Some("v1")).unwrap();
        assert_eq!(r.to_string(), "127.0.0.1:5000/x:v1");
        let d = format!("sha256:{}", "a".repeat(64));
        let r = reference_from_query("busybox", Some(&d)).unwrap();
        assert_eq!(r.digest.as_deref(), Some(d.as_str()));
        assert_eq!(r.path, "library/busybox");
        let r = reference_from_query("busybox:1", None).unwrap();
        assert_eq!(r.tag.as_deref(), Some("1"));
        assert!(reference_from_query("UPPER", None).is_err());
    }
}
