//! `docker push`: every layer as a gzip blob (skipped when the repository has it, mounted
//! from another repository of the registry when one is known to have it, uploaded
//! otherwise; at most `max-concurrent-uploads` at once), the config byte for byte, then a
//! Docker v2 schema 2 manifest under the tag.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::image::ImageStore;
use crate::image::digest::short_id;
use crate::image::index::LayerRecord;
use crate::image::reference::Reference;
use crate::image::registry::client::Mount;
use crate::image::registry::manifest::{self, Descriptor, Manifest};
use crate::image::registry::progress::{Message, Progress};
use crate::image::registry::{AuthConfig, Client, RegistryError, Session, xfer};
use crate::image::store::distribution::PushImage;

/// How often a layer's `Pushing` line is refreshed.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(100);

/// A push whose images are found and whose registry session is open.
pub struct PreparedPush {
    session: Session,
    repository: Reference,
    images: Vec<(Reference, PushImage)>,
}

/// Finds what to push (`tag`, or every tag of the repository when `None`) and opens a
/// push session. Fails before any progress is due, like dockerd's early errors.
pub async fn prepare(
    client: &Client,
    store: &ImageStore,
    name: &str,
    tag: Option<&str>,
    auth: &AuthConfig,
) -> Result<PreparedPush, RegistryError> {
    let repository =
        Reference::parse(name).map_err(|e| RegistryError::InvalidArgument(e.to_string()))?;
    if repository.digest.is_some() {
        return Err(RegistryError::InvalidArgument(format!(
            "cannot push a digest reference: {name}"
        )));
    }
    let tag = tag
        .filter(|t| !t.is_empty())
        .map(str::to_string)
        .or(repository.tag.clone());
    let repository = Reference {
        tag: None,
        ..repository
    };
    let refs = match &tag {
        Some(t) => vec![Reference {
            tag: Some(t.clone()),
            ..repository.clone()
        }],
        None => store.repository_tags(&repository.name()),
    };
    let missing = || {
        RegistryError::NotFound(format!(
            "An image does not exist locally with the tag: {}",
            repository.familiar_name()
        ))
    };
    if refs.is_empty() {
        return Err(missing());
    }
    let mut images = Vec::new();
    for r in refs {
        let s = store.clone();
        let key = r.to_string();
        let img = tokio::task::spawn_blocking(move || s.push_image(&key))
            .await
            .map_err(|e| RegistryError::Cancelled(format!("reading the image: {e}")))?
            .map_err(|e| match e {
                crate::image::ImageError::NotFound(_) => missing(),
                e => e.into(),
            })?;
        images.push((r, img));
    }
    let session = client
        .session(&repository.domain, &repository.path, auth, true)
        .await?;
    Ok(PreparedPush {
        session,
        repository,
        images,
    })
}

/// Pushes the prepared tags, reporting to `progress`; returns each tag's manifest digest.
pub async fn run(
    store: &ImageStore,
    prepared: PreparedPush,
    max_uploads: usize,
    progress: &Progress,
) -> Result<Vec<(String, String)>, RegistryError> {
    let PreparedPush {
        session,
        repository,
        images,
    } = prepared;
    progress.send(Message::status(
        format!(
            "The push refers to repository [{}]",
            repository.familiar_name()
        ),
        None,
    ))?;
    let mut out = Vec::new();
    for (r, img) in images {
        let tag = r.tag.clone().unwrap_or_else(|| "latest".into());
        let layers = push_layers(
            store,
            &session,
            &repository,
            &img.layers,
            max_uploads.max(1),
            progress,
        )
        .await?;
        session
            .put_small_blob(&img.id, img.config_bytes.clone())
            .await?;
        let config = Descriptor {
            media_type: manifest::DOCKER_CONFIG.into(),
            size: img.config_bytes.len() as u64,
            digest: img.id.clone(),
            urls: Vec::new(),
            platform: None,
        };
        let bytes = Manifest::docker_v2(config, layers);
        let size = bytes.len();
        let digest = session
            .put_manifest(&tag, manifest::DOCKER_MANIFEST, bytes)
            .await?;
        progress.send(Message::status(
            format!("{tag}: digest: {digest} size: {size}"),
            None,
        ))?;
        progress.send(Message {
            progress_detail: Some(Default::default()),
            aux: Some(serde_json::json!({"Tag": tag, "Digest": digest, "Size": size})),
            ..Message::default()
        })?;
        out.push((tag, digest));
    }
    Ok(out)
}

/// Pushes the layers (shown top first, as dockerd does), at most `max` at once.
async fn push_layers(
    store: &ImageStore,
    session: &Session,
    repository: &Reference,
    layers: &[LayerRecord],
    max: usize,
    progress: &Progress,
) -> Result<Vec<Descriptor>, RegistryError> {
    for l in layers.iter().rev() {
        progress.send(Message::step("Preparing", short_id(&l.diff_id)))?;
    }
    // Top layer first, as they are listed.
    let order: Vec<usize> = (0..layers.len()).rev().collect();
    let jobs: Vec<_> = order
        .iter()
        .map(|&i| {
            let (store, session, progress) = (store.clone(), session.clone(), progress.clone());
            let (layer, repo) = (layers[i].clone(), repository.clone());
            async move { push_layer(&store, &session, &repo, &layer, &progress).await }
        })
        .collect();
    let cancel = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let mut pushed = xfer::run_bounded(jobs, max, cancel, |k| {
        progress.send(Message::step(
            "Waiting",
            short_id(&layers[order[k]].diff_id),
        ))
    })
    .await?;
    pushed.reverse();
    Ok(pushed)
}

async fn push_layer(
    store: &ImageStore,
    session: &Session,
    repository: &Reference,
    layer: &LayerRecord,
    progress: &Progress,
) -> Result<Descriptor, RegistryError> {
    let short = short_id(&layer.diff_id).to_string();
    let s = store.clone();
    let l = layer.clone();
    let blob = tokio::task::spawn_blocking(move || s.compressed_layer(&l))
        .await
        .map_err(|e| RegistryError::Cancelled(format!("compressing a layer: {e}")))??;
    let desc = Descriptor {
        media_type: manifest::DOCKER_LAYER_GZIP.into(),
        size: blob.size,
        digest: blob.digest.clone(),
        urls: Vec::new(),
        platform: None,
    };
    let here = repository.name();
    let note = |store: &ImageStore| {
        if let Err(e) = store.note_pushed(&layer.diff_id, &blob.digest, blob.size, &here) {
            tracing::warn!(error = %e, "recording a pushed layer");
        }
    };
    if session.blob_exists(&blob.digest).await?.is_some() {
        progress.send(Message::step("Layer already exists", &short))?;
        note(store);
        return Ok(desc);
    }
    // A repository of the same registry known to hold the blob lends it without an upload.
    let prefix = format!("{}/", repository.domain);
    let mut location = None;
    for other in blob.repos.iter().filter(|r| **r != here) {
        let Some(path) = other.strip_prefix(&prefix) else {
            continue;
        };
        match session.mount(&blob.digest, path).await {
            Ok(Mount::Mounted) => {
                let from = crate::image::reference::familiar_name(other);
                let from = from.strip_prefix(&prefix).unwrap_or(&from).to_string();
                progress.send(Message::step(&format!("Mounted from {from}"), &short))?;
                note(store);
                return Ok(desc);
            }
            Ok(Mount::Upload(loc)) => {
                location = Some(loc);
                break;
            }
            Err(e) => tracing::debug!(error = %e, from = %other, "cross-repository mount failed"),
        }
    }
    let location = match location {
        Some(l) => l,
        None => session.start_upload().await?,
    };
    let total = blob.size;
    let start = chrono::Utc::now().timestamp();
    let sent = Arc::new(AtomicU64::new(0));
    let last = Arc::new(std::sync::Mutex::new(None::<Instant>));
    let on_sent = {
        let (sent, last, progress, short) =
            (sent.clone(), last.clone(), progress.clone(), short.clone());
        Arc::new(move |n: u64| {
            let done = sent.fetch_add(n, Ordering::Relaxed) + n;
            let mut last = last.lock().unwrap_or_else(|p| p.into_inner());
            if last.is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL) || done == total {
                *last = Some(Instant::now());
                let now = chrono::Utc::now().timestamp();
                // A gone client is noticed by the next send outside the body stream.
                let _ = progress.send(Message::transfer(
                    "Pushing", &short, done, total, start, now,
                ));
            }
        })
    };
    session
        .upload(location, &blob.path, &blob.digest, total, on_sent)
        .await?;
    progress.send(Message::step("Pushed", &short))?;
    note(store);
    Ok(desc)
}
