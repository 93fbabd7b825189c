//! The API server: connections from [`Listeners`] served with hyper,
//! API-version prefixes stripped and checked, and requests routed to
//! handlers.

use std::convert::Infallible;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response};
use hyper_util::rt::TokioIo;

use berth::api::{API_VERSION, ErrorClass, MIN_API_VERSION};

use crate::error::{ApiError, ApiResult};
use crate::handlers::{
    archive, build, containers, events, exec, images, logs, networks, registry, resources, system,
    volumes,
};
use crate::http::{self, Body, Query, error_response};
use crate::listen::Listeners;
use crate::services::Services;

/// How long a shutdown waits for in-flight requests; streams that never end
/// (`/events`, `logs --follow`, attach) are cut after it.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(5);

/// Serves connections until `shutdown` resolves; then stops accepting, lets
/// every connection finish the request it is serving (idle ones close at
/// once) for up to [`SHUTDOWN_GRACE`], and returns.
pub async fn serve(
    listeners: &Listeners,
    svc: Arc<Services>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let stopping = tokio_util::sync::CancellationToken::new();
    // Each connection holds a sender; all dropped means all connections done.
    let (open_tx, mut open_rx) = tokio::sync::mpsc::channel::<()>(1);
    loop {
        tokio::select! {
            accepted = listeners.accept() => match accepted {
                Ok(conn) => {
                    let svc = svc.clone();
                    let stopping = stopping.clone();
                    let open = open_tx.clone();
                    tokio::spawn(async move {
                        let stream = match conn.establish().await {
                            Ok(s) => s,
                            Err(e) => {
                                tracing::info!(error = %e, "connection refused during the tls handshake");
                                return;
                            }
                        };
                        let service = service_fn(move |req| {
                            let svc = svc.clone();
                            async move { Ok::<_, Infallible>(handle(svc, req).await) }
                        });
                        let conn = http1::Builder::new()
                            .serve_connection(TokioIo::new(stream), service)
                            .with_upgrades();
                        tokio::pin!(conn);
                        let result = tokio::select! {
                            r = conn.as_mut() => r,
                            () = stopping.cancelled() => {
                                conn.as_mut().graceful_shutdown();
                                conn.await
                            }
                        };
                        if let Err(e) = result {
                            tracing::debug!(error = %e, "connection ended with an error");
                        }
                        drop(open);
                    });
                }
                Err(e) => tracing::warn!(error = %e, "accepting a connection"),
            },
            () = &mut shutdown => break,
        }
    }
    // Not accepting any more (new connections wait in the backlog until the
    // sockets are removed at exit).
    stopping.cancel();
    drop(open_tx);
    if tokio::time::timeout(SHUTDOWN_GRACE, open_rx.recv())
        .await
        .is_err()
    {
        tracing::info!("cutting connections still open {SHUTDOWN_GRACE:?} into the shutdown");
    }
}

/// Splits `/v1.41/rest` into the version check and `/rest`.
fn strip_version(path: &str) -> ApiResult<&str> {
    let Some(after) = path.strip_prefix("/v") else {
        return Ok(path);
    };
    let (ver, rest) = after
        .split_once('/')
        .map_or((after, ""), |(v, r)| (v, &path[path.len() - r.len() - 1..]));
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (a, b) = v.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    let Some(requested) = parse(ver) else {
        return Ok(path);
    };
    let min = parse(MIN_API_VERSION).expect("constant parses");
    let max = parse(API_VERSION).expect("constant parses");
    if requested < min {
        return Err(ApiError::invalid(format!(
            "client version {ver} is too old. Minimum supported API version is {MIN_API_VERSION}, please upgrade your client to a newer version"
        )));
    }
    if requested > max {
        return Err(ApiError::invalid(format!(
            "client version {ver} is too new. Maximum supported API version is {API_VERSION}"
        )));
    }
    Ok(if rest.is_empty() { "/" } else { rest })
}

async fn handle(svc: Arc<Services>, req: Request<Incoming>) -> Response<Body> {
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    let result = match strip_version(&path) {
        Ok(rest) => {
            if let Some(resp) = crate::guard::body_too_large(&method, rest, req.headers()) {
                tracing::debug!(%method, %path, "request body over the limit");
                return resp;
            }
            let rest = rest.to_owned();
            route(&svc, req, &rest).await
        }
        Err(e) => Err(e),
    };
    match result {
        Ok(resp) => {
            tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
            resp
        }
        Err(e) => {
            if e.class == ErrorClass::Internal {
                tracing::error!(%method, %path, error = %e.message, "request failed");
            } else {
                tracing::debug!(%method, %path, error = %e.message, "request refused");
            }
            error_response(&e)
        }
    }
}

fn decode(seg: &str) -> String {
    form_urlencoded::parse(format!("x={}", seg.replace('+', "%2B")).as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

async fn route(svc: &Services, req: Request<Incoming>, path: &str) -> ApiResult<Response<Body>> {
    let q = Query::parse(req.uri().query());
    let method = req.method().clone();
    let segs: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect();
    let segs: Vec<&str> = segs.iter().map(String::as_str).collect();
    if let Err(e) = crate::guard::check_path_params(&segs) {
        http::discard(req.into_body()).await;
        return Err(e);
    }
    match (&method, segs.as_slice()) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Ok(system::ping(&method)),
        (&Method::GET, ["version"]) => Ok(system::version()),
        (&Method::GET, ["info"]) => Ok(system::info(svc)),
        (&Method::GET, ["events"]) => events::events(svc, &q).await,

        (&Method::GET, ["images", "json"]) => images::list(svc, &q).await,
        (&Method::POST, ["images", "prune"]) => crate::handlers::prune::images(svc, &q).await,
        (&Method::POST, ["containers", "prune"]) => {
            crate::handlers::prune::containers(svc, &q).await
        }
        (&Method::GET, ["system", "df"]) => crate::handlers::prune::df(svc).await,
        (&Method::POST, ["images", "load"]) => images::load(svc, req.into_body()).await,
        (&Method::GET, ["images", "get"]) => images::save(svc, q.all("names").to_vec()).await,
        (&Method::POST, ["images", "create"]) if q.get("fromImage").is_some() => {
            registry::pull(svc, &q, req).await
        }
        (&Method::POST, ["images", "create"]) => images::create(svc, &q, req.into_body()).await,
        (&Method::POST, ["auth"]) => registry::auth(svc, req.into_body()).await,
        (&Method::DELETE, ["images", name @ ..]) if !name.is_empty() => {
            images::remove(svc, name.join("/"), &q).await
        }
        (&Method::POST, ["images", name @ .., "push"]) if !name.is_empty() => {
            registry::push(svc, name.join("/"), &q, req).await
        }
        (_, ["images", name @ .., action]) if !name.is_empty() => {
            let name = name.join("/");
            match (&method, *action) {
                (&Method::GET, "json") => images::inspect(svc, name).await,
                (&Method::GET, "history") => images::history(svc, name).await,
                (&Method::GET, "get") => images::save(svc, vec![name]).await,
                (&Method::POST, "tag") => images::tag(svc, name, &q).await,
                _ => Err(not_found()),
            }
        }

        (&Method::GET, ["networks"]) => networks::list(svc, &q).await,
        (&Method::POST, ["networks", "create"]) => networks::create(svc, req.into_body()).await,
        (&Method::POST, ["networks", "prune"]) => networks::prune(svc, &q).await,
        (&Method::GET, ["networks", id]) => networks::inspect(svc, id).await,
        (&Method::DELETE, ["networks", id]) => networks::remove(svc, id).await,
        (&Method::POST, ["networks", id, "connect"]) => {
            networks::connect(svc, id, req.into_body()).await
        }
        (&Method::POST, ["networks", id, "disconnect"]) => {
            networks::disconnect(svc, id, req.into_body()).await
        }

        (&Method::GET, ["volumes"]) => volumes::list(svc, &q).await,
        (&Method::POST, ["volumes", "create"]) => volumes::create(svc, req.into_body()).await,
        (&Method::POST, ["volumes", "prune"]) => {
            let requested = req.uri().path().to_owned();
            volumes::prune(svc, &q, &requested).await
        }
        (&Method::GET, ["volumes", name]) => volumes::inspect(svc, name).await,
        (&Method::DELETE, ["volumes", name]) => volumes::remove(svc, name, &q).await,

        (&Method::POST, ["build"]) => build::build(svc, &q, req.into_body()).await,
        (&Method::POST, ["build", "prune"]) => build::prune(svc, &q).await,
        (&Method::POST, ["commit"]) => archive::commit(svc, &q, req.into_body()).await,
        (&Method::POST, ["containers", "create"]) => {
            containers::create(svc, &q, req.into_body()).await
        }
        (&Method::GET, ["containers", "json"]) => containers::list(svc, &q).await,
        (_, ["containers", id, rest @ ..]) => {
            let c = match svc.containers.get(id) {
                Ok(c) => c,
                // dockerd words a kill of an unknown container like any
                // other kill failure.
                Err(e) if method == Method::POST && rest == ["kill"] => {
                    http::discard(req.into_body()).await;
                    return Err(ApiError::new(
                        e.class,
                        format!("Cannot kill container: {id}: {}", e.message),
                    ));
                }
                Err(e) => {
                    http::discard(req.into_body()).await;
                    return Err(e);
                }
            };
            match (&method, rest) {
                (&Method::GET, ["json"]) => containers::inspect(svc, c, &q).await,
                (&Method::GET, ["top"]) => containers::top(c, &q).await,
                (&Method::GET, ["archive"]) => {
                    archive::get(c.clone(), svc.containers.id_mapping(&c), id, &q).await
                }
                (&Method::HEAD, ["archive"]) => archive::head(c, id, &q).await,
                (&Method::PUT, ["archive"]) => {
                    let ids = svc.containers.id_mapping(&c);
                    archive::put(c, ids, id, &q, req.into_body()).await
                }
                (&Method::GET, ["export"]) => {
                    svc.events.container(&c, "export", &[]);
                    let ids = svc.containers.id_mapping(&c);
                    archive::export(c, ids).await
                }
                (&Method::GET, ["logs"]) => logs::logs(c, &q).await,
                (&Method::POST, ["start"]) => containers::start(svc, c).await,
                (&Method::POST, ["stop"]) => containers::stop(svc, c, &q).await,
                (&Method::POST, ["restart"]) => containers::restart(svc, c, &q).await,
                (&Method::POST, ["rename"]) => containers::rename(svc, c, &q).await,
                (&Method::POST, ["resize"]) => containers::resize(c, &q).await,
                (&Method::POST, ["kill"]) => containers::kill(svc, c, id, &q).await,
                (&Method::POST, ["wait"]) => containers::wait(c, &q).await,
                (&Method::POST, ["attach"]) => {
                    svc.events.container(&c, "attach", &[]);
                    containers::attach(c, &q, req).await
                }
                (&Method::POST, ["exec"]) => exec::create(svc, c, id, req.into_body()).await,
                (&Method::POST, ["pause"]) => resources::pause(svc, c).await,
                (&Method::POST, ["unpause"]) => resources::unpause(svc, c).await,
                (&Method::POST, ["update"]) => resources::update(svc, c, req.into_body()).await,
                (&Method::GET, ["stats"]) => resources::stats(svc, c, &q).await,
                (&Method::DELETE, []) => containers::remove(svc, c, &q).await,
                _ => Err(not_found()),
            }
        }
        (_, ["exec", id, rest @ ..]) => {
            let e = exec::lookup(svc, id)?;
            match (&method, rest) {
                (&Method::POST, ["start"]) => exec::start(svc.execs.clone(), e, req).await,
                (&Method::GET, ["json"]) => exec::inspect(e).await,
                (&Method::POST, ["resize"]) => exec::resize(e, &q).await,
                _ => Err(not_found()),
            }
        }
        _ => Err(not_found()),
    }
}

fn not_found() -> ApiError {
    ApiError::not_found("page not found")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_in_range_are_stripped() {
        assert_eq!(
            strip_version("/v1.41/containers/json").unwrap(),
            "/containers/json"
        );
        assert_eq!(strip_version("/v1.24/_ping").unwrap(), "/_ping");
        assert_eq!(strip_version("/_ping").unwrap(), "/_ping");
        assert_eq!(strip_version("/version").unwrap(), "/version");
    }

    #[test]
    fn versions_out_of_range_are_refused_like_dockerd() {
        let e = strip_version("/v1.12/info").unwrap_err();
        assert!(
            e.message.contains("client version 1.12 is too old"),
            "{}",
            e.message
        );
        let e = strip_version("/v1.99/info").unwrap_err();
        assert!(e.message.contains("too new"), "{}", e.message);
    }

    #[test]
    fn segments_are_percent_decoded() {
        assert_eq!(decode("localhost%3A5000"), "localhost:5000");
        assert_eq!(decode("a+b"), "a+b");
    }
}
