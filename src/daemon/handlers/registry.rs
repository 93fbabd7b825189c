//! Registry endpoints: `POST /images/create?fromImage=` (pull), `POST /images/{name}/push`
//! and `POST /auth`. Credentials come in `X-Registry-Auth` (base64url JSON) or, for
//! `/auth`, as the JSON body; they are never logged.
//!
//! Like dockerd, failures found before any progress is due (bad reference, unknown
//! manifest, refused connection, no such local image) are plain HTTP errors; later ones
//! end the JSON progress stream with an `error` line.

use bytes::Bytes;
use hyper::body::{Frame, Incoming};
use hyper::{HeaderMap, Request, Response, StatusCode, header};

use berth::image::registry::progress::{Message, Progress};
use berth::image::registry::{AuthConfig, Client, Platform, RegistryError, pull, push};

use crate::error::{ApiError, ApiResult};
use crate::http::{self, Body, Query, json};
use crate::services::Services;

fn api(e: RegistryError) -> ApiError {
    ApiError::new(e.class(), e.to_string())
}

fn registry_auth(headers: &HeaderMap) -> AuthConfig {
    headers
        .get("x-registry-auth")
        .and_then(|v| v.to_str().ok())
        .map(AuthConfig::from_header)
        .unwrap_or_default()
}

/// A JSON progress response fed by `work`, which reports through the [`Progress`] it is
/// given; its error, if any, becomes the stream's last line. When the client hangs up,
/// the sink closes and the work stops at its next report.
fn stream<F, Fut>(work: F) -> Response<Body>
where
    F: FnOnce(Progress) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Result<(), RegistryError>> + Send + 'static,
{
    let (progress, mut rx) = Progress::channel();
    let (tx, body) = http::async_stream();
    tokio::spawn(async move {
        while let Some(m) = rx.recv().await {
            if tx
                .send(Ok(Frame::data(Bytes::from(m.to_line()))))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    tokio::spawn(async move {
        let sink = progress.clone();
        if let Err(e) = work(progress).await {
            if !matches!(e, RegistryError::Cancelled(_)) || !sink.is_closed() {
                tracing::info!(error = %e, "registry transfer failed");
            }
            let _ = sink.send(Message::error(e.to_string()));
        }
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(body)
        .expect("static headers are valid")
}

/// `POST /images/create?fromImage=&tag=&platform=`.
pub async fn pull(svc: &Services, q: &Query, req: Request<Incoming>) -> ApiResult<Response<Body>> {
    let auth = registry_auth(req.headers());
    http::discard(req.into_body()).await;
    let from = q.get("fromImage").unwrap_or_default();
    let tag = q.get("tag").filter(|t| !t.is_empty());
    let reference = pull::reference_from_query(from, tag).map_err(api)?;
    let platform = q
        .get("platform")
        .filter(|p| !p.is_empty())
        .map(Platform::parse)
        .transpose()
        .map_err(api)?;
    let client = Client::new(svc.live.get().registry);
    let store = svc.images.clone();
    let max = svc.live.get().max_concurrent_downloads;
    if reference.is_name_only() {
        // `docker pull -a`: every tag of the repository, one after the other.
        let session = client
            .session(&reference.domain, &reference.path, &auth, false)
            .await
            .map_err(api)?;
        let mut tags = session.tags().await.map_err(api)?;
        tags.sort();
        if tags.is_empty() {
            return Err(ApiError::not_found(format!(
                "repository {} has no tags",
                reference.familiar_name()
            )));
        }
        let events = svc.events.clone();
        return Ok(stream(move |progress| async move {
            for t in tags {
                let req = pull::PullRequest {
                    reference: berth::image::reference::Reference {
                        tag: Some(t),
                        ..reference.clone()
                    },
                    platform: platform.clone(),
                    auth: auth.clone(),
                };
                let prepared = pull::prepare(&client, &req).await?;
                pull::run(&store, prepared, max, &progress).await?;
                events.image(&req.reference.familiar(), &req.reference.familiar(), "pull");
            }
            Ok(())
        }));
    }
    let req = pull::PullRequest {
        reference,
        platform,
        auth,
    };
    let prepared = pull::prepare(&client, &req).await.map_err(api)?;
    let (events, pulled) = (svc.events.clone(), req.reference.familiar());
    Ok(stream(move |progress| async move {
        pull::run(&store, prepared, max, &progress).await?;
        events.image(&pulled, &pulled, "pull");
        Ok(())
    }))
}

/// `POST /images/{name}/push?tag=`.
pub async fn push(
    svc: &Services,
    name: String,
    q: &Query,
    req: Request<Incoming>,
) -> ApiResult<Response<Body>> {
    let auth = registry_auth(req.headers());
    http::discard(req.into_body()).await;
    let client = Client::new(svc.live.get().registry);
    let store = svc.images.clone();
    let max = svc.live.get().max_concurrent_uploads;
    let pushed = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => name.clone(),
    };
    let prepared = push::prepare(&client, &store, &name, q.get("tag"), &auth)
        .await
        .map_err(api)?;
    let events = svc.events.clone();
    Ok(stream(move |progress| async move {
        push::run(&store, prepared, max, &progress).await?;
        events.image(&pushed, &pushed, "push");
        Ok(())
    }))
}

/// `POST /auth`: checks the credentials against the registry.
pub async fn auth(svc: &Services, body: Incoming) -> ApiResult<Response<Body>> {
    let auth: AuthConfig = http::read_json::<AuthConfig>(body).await?.normalized();
    let client = Client::new(svc.live.get().registry);
    client.login(&auth).await.map_err(api)?;
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"Status": "Login Succeeded", "IdentityToken": ""}),
    ))
}
