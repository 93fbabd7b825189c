//! `POST /build` (the classic builder protocol) and `POST /build/prune`.
//! The request's context and Dockerfile are checked before the response
//! starts (errors are HTTP errors); after that, progress and failures are
//! messages of the JSON stream, as dockerd does.

use std::collections::BTreeMap;
use std::sync::Arc;

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::{Response, StatusCode, header};
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use berth::api::models::{HostConfig, ResourcesUlimits};
use berth::image::build::dockerfile;

use crate::build::context::Context;
use crate::build::progress::Progress;
use crate::build::{BuildOptions, BuildService};
use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query, async_stream, blocking_reader, json};
use crate::services::Services;

/// The options of a build request, checked like dockerd checks them.
pub fn options(q: &Query) -> ApiResult<BuildOptions> {
    let tags: Vec<String> = q
        .all("t")
        .iter()
        .filter(|t| !t.is_empty())
        .cloned()
        .collect();
    for t in &tags {
        berth::image::reference::Reference::parse(t)
            .map_err(|e| ApiError::invalid(e.to_string()))?;
    }
    let build_args: BTreeMap<String, Option<String>> =
        match q.get("buildargs").filter(|s| !s.is_empty()) {
            Some(raw) => serde_json::from_str(raw)
                .map_err(|e| ApiError::invalid(format!("invalid buildargs: {e}")))?,
            None => BTreeMap::new(),
        };
    let labels: BTreeMap<String, String> = match q.get("labels").filter(|s| !s.is_empty()) {
        Some(raw) => serde_json::from_str(raw)
            .map_err(|e| ApiError::invalid(format!("invalid labels: {e}")))?,
        None => BTreeMap::new(),
    };
    if q.get("remote").is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::invalid(
            "remote build contexts are not supported; send the context as the request body",
        ));
    }
    Ok(BuildOptions {
        tags,
        build_args,
        target: q.get("target").filter(|t| !t.is_empty()).map(str::to_owned),
        no_cache: q.flag("nocache"),
        // dockerd's default for rm is true.
        rm: q.get("rm").is_none_or(|_| q.flag("rm")),
        force_rm: q.flag("forcerm"),
        labels,
        quiet: q.flag("q"),
        network_mode: q
            .get("networkmode")
            .filter(|n| !n.is_empty())
            .map(str::to_owned),
        run_host: run_host(q)?,
    })
}

/// The RUN containers' resources and extra hosts; `0` and `""` mean unset,
/// as the docker CLI always sends them.
fn run_host(q: &Query) -> ApiResult<HostConfig> {
    let int = |key: &str| -> ApiResult<Option<i64>> {
        match q.get(key).filter(|v| !v.is_empty()) {
            None => Ok(None),
            Some(v) => v
                .parse::<i64>()
                .map(|n| (n != 0).then_some(n))
                .map_err(|_| ApiError::invalid(format!("invalid {key}: {v}"))),
        }
    };
    let text = |key: &str| q.get(key).filter(|v| !v.is_empty()).map(str::to_owned);
    let ulimits: Option<Vec<ResourcesUlimits>> = match q.get("ulimits").filter(|v| !v.is_empty()) {
        Some(raw) => serde_json::from_str::<Option<Vec<ResourcesUlimits>>>(raw)
            .map_err(|e| ApiError::invalid(format!("invalid ulimits: {e}")))?
            .filter(|u| !u.is_empty()),
        None => None,
    };
    let hosts = q.all("extrahosts");
    Ok(HostConfig {
        extra_hosts: (!hosts.is_empty()).then(|| hosts.to_vec()),
        shm_size: int("shmsize")?,
        memory: int("memory")?,
        memory_swap: int("memswap")?,
        cpu_shares: int("cpushares")?,
        cpu_period: int("cpuperiod")?,
        cpu_quota: int("cpuquota")?,
        cpuset_cpus: text("cpusetcpus"),
        cpuset_mems: text("cpusetmems"),
        cgroup_parent: text("cgroupparent"),
        ulimits,
        ..HostConfig::default()
    })
}

/// `POST /build`.
pub async fn build(svc: &Services, q: &Query, body: Incoming) -> ApiResult<Response<Body>> {
    let opts = match options(q) {
        Ok(o) => o,
        Err(e) => {
            http::discard(body).await;
            return Err(e);
        }
    };
    let name = q
        .get("dockerfile")
        .filter(|d| !d.is_empty())
        .unwrap_or("Dockerfile")
        .to_owned();
    let builder = BuildService::new(svc);
    let work = builder.dir();
    let reader = blocking_reader(body);
    let context = tokio::task::spawn_blocking(move || {
        std::fs::create_dir_all(&work)
            .map_err(|e| ApiError::internal(format!("creating {}: {e}", work.display())))?;
        Context::receive(reader, &work, &name).map_err(|e| ApiError::new(e.class(), e.to_string()))
    })
    .await??;
    let parsed = dockerfile::parse(context.dockerfile_text())
        .map_err(|e| ApiError::invalid(e.dockerd_message()))?;
    let context = Arc::new(context);
    let quiet = opts.quiet;
    let (progress, mut rx) = Progress::new(quiet);
    let cancel = CancellationToken::new();
    // A client gone before the stream starts cancels the build too.
    let guard = cancel.clone().drop_guard();
    let (early_tx, mut early_rx) = oneshot::channel();
    let task_cancel = cancel.clone();
    let (events, tags) = (svc.events.clone(), opts.tags.clone());
    tokio::spawn(async move {
        match builder
            .build(opts, parsed, context, progress.clone(), task_cancel)
            .await
        {
            Ok(id) => {
                for t in &tags {
                    events.image(&id, &crate::events::with_tag(t), "tag");
                }
                if quiet {
                    progress.final_line(format!("{id}\n"));
                }
            }
            // Nothing written yet: an HTTP error, as dockerd answers then.
            Err(e) if !progress.touched() => {
                let _ = early_tx.send(e);
            }
            Err(e) => {
                tracing::info!(error = %e, "build failed");
                progress.fail(e.code(), e.to_string());
            }
        }
    });
    let first = tokio::select! {
        first = rx.recv() => first,
        early = &mut early_rx => match early {
            Ok(e) => return Err(ApiError::new(e.class(), e.to_string())),
            Err(_) => rx.recv().await,
        },
    };
    if first.is_none()
        && let Ok(e) = early_rx.try_recv()
    {
        return Err(ApiError::new(e.class(), e.to_string()));
    }
    guard.disarm();
    let (tx, body) = async_stream();
    tokio::spawn(forward(first, rx, tx, cancel));
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("static headers are valid"))
}

/// Copies progress into the response body; a client that goes away cancels the build.
async fn forward(
    first: Option<Bytes>,
    mut rx: mpsc::UnboundedReceiver<Bytes>,
    tx: mpsc::Sender<Result<Frame<Bytes>, std::io::Error>>,
    cancel: CancellationToken,
) {
    if let Some(b) = first
        && tx.send(Ok(Frame::data(b))).await.is_err()
    {
        cancel.cancel();
        return;
    }
    loop {
        tokio::select! {
            msg = rx.recv() => match msg {
                Some(b) => {
                    if tx.send(Ok(Frame::data(b))).await.is_err() {
                        cancel.cancel();
                        return;
                    }
                }
                None => return,
            },
            () = tx.closed() => {
                cancel.cancel();
                return;
            }
        }
    }
}

/// `POST /build/prune?filters=` (`until`, `label`, `label!`; `all` and
/// `keep-storage` have no meaning for the classic builder's cache).
pub async fn prune(svc: &Services, q: &Query) -> ApiResult<Response<Body>> {
    let filters = crate::prune::PruneFilters::parse(&q.filters()?, &["until", "label", "label!"])?;
    let pruned = BuildService::new(svc)
        .prune(filters)
        .await
        .map_err(|e| ApiError::new(e.class(), e.to_string()))?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "CachesDeleted": crate::handlers::prune::list_or_null(&pruned.deleted),
            "SpaceReclaimed": pruned.reclaimed,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_follow_dockerd_defaults() {
        let o = options(&Query::parse(Some(
            "t=a:1&t=b&buildargs=%7B%22K%22%3A%22v%22%2C%22N%22%3Anull%7D",
        )))
        .unwrap();
        assert_eq!(o.tags, ["a:1", "b"]);
        assert!(o.rm && !o.force_rm && !o.no_cache && !o.quiet);
        assert_eq!(o.build_args["K"].as_deref(), Some("v"));
        assert_eq!(o.build_args["N"], None);
        let o = options(&Query::parse(Some("rm=0&forcerm=1&q=1&nocache=1"))).unwrap();
        assert!(!o.rm && o.force_rm && o.quiet && o.no_cache);
        assert!(options(&Query::parse(Some("t=UPPER"))).is_err());
        let o = options(&Query::parse(Some(
            "memory=0&cpushares=512&cpusetcpus=&extrahosts=a%3A1.2.3.4&extrahosts=b%3A5.6.7.8&ulimits=null",
        )))
        .unwrap();
        assert_eq!(o.run_host.memory, None);
        assert_eq!(o.run_host.cpu_shares, Some(512));
        assert_eq!(o.run_host.cpuset_cpus, None);
        assert_eq!(o.run_host.extra_hosts.unwrap(), ["a:1.2.3.4", "b:5.6.7.8"]);
        assert!(o.run_host.ulimits.is_none());
        assert!(options(&Query::parse(Some("buildargs=nope"))).is_err());
    }
}
