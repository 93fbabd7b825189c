//! `/containers/{id}/pause`, `/unpause`, `/update` and `/stats`.

use std::sync::Arc;

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::{Response, StatusCode, header};

use berth::api::models::{ContainerUpdateBody, ContainerUpdateResponse, StatsJson};

use crate::containers::{Container, Status};
use crate::error::{ApiError, ApiResult};
use crate::http::{Body, Query, async_stream, full, json, no_content, read_json};
use crate::services::Services;
use crate::stats::{Collector, INTERVAL};

/// `POST /containers/{id}/pause`.
pub async fn pause(svc: &Services, c: Arc<Container>) -> ApiResult<Response<Body>> {
    svc.containers.pause(&c).await?;
    Ok(no_content(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/unpause`.
pub async fn unpause(svc: &Services, c: Arc<Container>) -> ApiResult<Response<Body>> {
    svc.containers.unpause(&c).await?;
    Ok(no_content(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/update`: `{"Warnings": [...]}`.
pub async fn update(
    svc: &Services,
    c: Arc<Container>,
    body: Incoming,
) -> ApiResult<Response<Body>> {
    let body: ContainerUpdateBody = read_json(body).await?;
    let warnings = svc.containers.update(&c, &body).await?;
    Ok(json(
        StatusCode::OK,
        &ContainerUpdateResponse {
            warnings: Some(warnings),
        },
    ))
}

/// httputils' `BoolValueOrDefault`: absent or empty means `default`.
fn bool_param(q: &Query, key: &str, default: bool) -> bool {
    match q.get(key) {
        None | Some("") => default,
        Some(v) => !matches!(
            v.to_ascii_lowercase().as_str(),
            "0" | "no" | "false" | "none"
        ),
    }
}

fn frame(s: &StatsJson) -> ApiResult<Bytes> {
    let mut bytes = serde_json::to_vec(s)
        .map_err(|e| ApiError::internal(format!("encoding stats of {}: {e}", s.id)))?;
    bytes.push(b'\n');
    Ok(Bytes::from(bytes))
}

/// A sample of `c`, or dockerd's zero frame when it does not run (or has
/// no cgroup to read). `pair` waits for a `precpu_stats` as `stream=false` does.
async fn sample(
    collector: &Arc<Collector>,
    c: &Arc<Container>,
    pair: bool,
) -> ApiResult<StatsJson> {
    let st = c.state();
    let name = c.name();
    let Some(paths) = st.cgroup.filter(|_| st.status == Status::Running) else {
        return Ok(StatsJson::empty(format!("/{name}"), c.def.id.clone()));
    };
    let (collector, id) = (collector.clone(), c.def.id.clone());
    let result = tokio::task::spawn_blocking(move || {
        if pair {
            collector.sample_pair(&id, &name, &paths, st.pid)
        } else {
            collector
                .sample(&id, &name, &paths, st.pid, INTERVAL * 2)
                .map(|(s, _)| s)
        }
    })
    .await?;
    match result {
        Ok(s) => Ok(s),
        // The container exited while we read its cgroup.
        Err(_) if c.state().status != Status::Running => {
            Ok(StatsJson::empty(format!("/{}", c.name()), c.def.id.clone()))
        }
        Err(e) => Err(ApiError::new(e.class(), e.to_string())),
    }
}

/// `GET /containers/{id}/stats?stream=&one-shot=`: one frame per second,
/// or (`stream=false`) one frame with `precpu_stats` filled (`one-shot`: no
/// wait for it).
pub async fn stats(svc: &Services, c: Arc<Container>, q: &Query) -> ApiResult<Response<Body>> {
    let stream = bool_param(q, "stream", true);
    let one_shot = bool_param(q, "one-shot", false);
    if stream && one_shot {
        return Err(ApiError::invalid(
            "cannot have stream=true and one-shot=true",
        ));
    }
    let response = |body: Body| {
        Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body)
            .expect("static headers are valid")
    };
    if !stream {
        let s = sample(&svc.stats, &c, !one_shot).await?;
        return Ok(response(full(frame(&s)?)));
    }
    let (tx, body) = async_stream();
    let collector = svc.stats.clone();
    let containers = svc.containers.clone();
    tokio::spawn(async move {
        let mut ticker = tokio::time::interval(INTERVAL);
        loop {
            ticker.tick().await;
            // dockerd ends the stream when the container is removed.
            if !containers.contains(&c) {
                return;
            }
            let next = sample(&collector, &c, false).await.and_then(|s| frame(&s));
            let msg = next.map(Frame::data).map_err(std::io::Error::other);
            let failed = msg.is_err();
            if tx.send(msg).await.is_err() || failed {
                return;
            }
        }
    });
    Ok(response(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bool_params_default_when_absent() {
        let q = Query::parse(Some("stream=0&one-shot=1&x="));
        assert!(!bool_param(&q, "stream", true));
        assert!(bool_param(&q, "one-shot", false));
        assert!(bool_param(&q, "x", true));
        assert!(bool_param(&q, "missing", true));
        assert!(!bool_param(
            &Query::parse(Some("stream=none")),
            "stream",
            true
        ));
    }
}
