//! `/volumes/...`: list, create, inspect, remove, prune.

use std::collections::HashMap;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Response, StatusCode};

use berth::api::API_VERSION;
use berth::api::models::VolumeCreateOptions;

use crate::error::{ApiError, ApiResult};
use crate::http::{Body, Query, json, no_content, read_json};
use crate::services::Services;
use crate::volumes::{CreateOptions, PruneFilter, VolumeService, label_matches};

fn volumes(svc: &Services) -> Arc<VolumeService> {
    svc.containers.volumes().clone()
}

/// Runs a volume-store call off the async threads (it touches the disk).
async fn blocking<T: Send + 'static>(
    svc: &Services,
    f: impl FnOnce(&VolumeService) -> T + Send + 'static,
) -> ApiResult<T> {
    let v = volumes(svc);
    Ok(tokio::task::spawn_blocking(move || f(&v)).await?)
}

/// Go's `strconv.ParseBool`, with dockerd's error for a filter value.
fn filter_bool(key: &str, value: &str) -> ApiResult<bool> {
    match value {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(ApiError::invalid(format!("invalid filter '{key}={value}'"))),
    }
}

/// dockerd's `filters.Args.Match`: exact, or an unanchored regular expression.
fn matches_any(values: &[String], source: &str) -> bool {
    values.is_empty()
        || values
            .iter()
            .any(|v| v == source || regex::Regex::new(v).is_ok_and(|re| re.is_match(source)))
}

/// `GET /volumes?filters=` (`dangling`, `name`, `label`, `driver`).
pub async fn list(svc: &Services, q: &Query) -> ApiResult<Response<Body>> {
    let filters = q.filters()?;
    if let Some(bad) = filters
        .keys()
        .find(|k| !["dangling", "name", "label", "driver"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!("Invalid filter '{bad}'")));
    }
    let none = Vec::new();
    let get = |k: &str| filters.get(k).unwrap_or(&none);
    let dangling = get("dangling")
        .iter()
        .map(|v| filter_bool("dangling", v))
        .collect::<ApiResult<Vec<bool>>>()?;
    let v = volumes(svc);
    let out: Vec<serde_json::Value> = v
        .list()
        .into_iter()
        .filter(|(m, users)| {
            dangling.iter().all(|d| *d == (*users == 0))
                && matches_any(get("name"), &m.name)
                && (get("driver").is_empty() || get("driver").contains(&m.driver))
                && get("label")
                    .iter()
                    .all(|l| label_matches(l, m.labels.as_ref()))
        })
        .map(|(m, _)| v.to_json(&m))
        .collect();
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({"Volumes": out, "Warnings": null}),
    ))
}

/// `POST /volumes/create`: 201 with the volume (an existing one of that name as is).
pub async fn create(svc: &Services, body: Incoming) -> ApiResult<Response<Body>> {
    let body: VolumeCreateOptions = read_json(body).await?;
    let opts = CreateOptions {
        name: body.name,
        driver: body.driver,
        driver_opts: body.driver_opts,
        labels: body.labels,
        anonymous: false,
    };
    let v = volumes(svc);
    let meta = blocking(svc, move |v| v.create(opts)).await??;
    svc.events.volume(&meta.name, "create", &[]);
    Ok(json(StatusCode::CREATED, &v.to_json(&meta)))
}

/// `GET /volumes/{name}`.
pub async fn inspect(svc: &Services, name: &str) -> ApiResult<Response<Body>> {
    let v = volumes(svc);
    let meta = v.get(name)?;
    Ok(json(StatusCode::OK, &v.to_json(&meta)))
}

/// `DELETE /volumes/{name}?force=`.
pub async fn remove(svc: &Services, name: &str, q: &Query) -> ApiResult<Response<Body>> {
    let name = name.to_owned();
    let force = q.flag("force");
    let gone = name.clone();
    blocking(svc, move |v| v.remove(&name, force)).await??;
    svc.events.volume(&gone, "destroy", &[]);
    Ok(no_content(StatusCode::NO_CONTENT))
}

/// The `vX.Y` a request path starts with, else the version we serve.
fn request_version(path: &str) -> (u32, u32) {
    let parse = |v: &str| -> Option<(u32, u32)> {
        let (a, b) = v.split_once('.')?;
        Some((a.parse().ok()?, b.parse().ok()?))
    };
    path.strip_prefix("/v")
        .and_then(|rest| rest.split('/').next())
        .and_then(parse)
        .or_else(|| parse(API_VERSION))
        .unwrap_or((1, 41))
}

/// `POST /volumes/prune?filters=` (`label`, `label!`, `all`): unused
/// anonymous volumes, or all unused ones with `all=true`. As dockerd ≥ 23
/// does, requests of API versions before 1.42 prune named volumes too (what
/// those versions always did), so clients of 1.41 see dockerd 20.10's behaviour.
pub async fn prune(svc: &Services, q: &Query, path: &str) -> ApiResult<Response<Body>> {
    let filters: HashMap<String, Vec<String>> = q.filters()?;
    if let Some(bad) = filters
        .keys()
        .find(|k| !["label", "label!", "all"].contains(&k.as_str()))
    {
        return Err(ApiError::invalid(format!("invalid filter '{bad}'")));
    }
    let mut all = request_version(path) < (1, 42);
    for v in filters.get("all").into_iter().flatten() {
        all |= filter_bool("all", v)?;
    }
    let filter = PruneFilter {
        all,
        labels: filters.get("label").cloned().unwrap_or_default(),
        not_labels: filters.get("label!").cloned().unwrap_or_default(),
    };
    let (deleted, space) = blocking(svc, move |v| v.prune(&filter)).await?;
    // dockerd 20.10 sends no destroy for pruned volumes, only this.
    svc.events.prune("volume", space);
    Ok(json(
        StatusCode::OK,
        &serde_json::json!({
            "VolumesDeleted": deleted,
            "SpaceReclaimed": space,
        }),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_versions_default_to_ours() {
        assert_eq!(request_version("/v1.43/volumes/prune"), (1, 43));
        assert_eq!(request_version("/v1.24/volumes/prune"), (1, 24));
        assert_eq!(request_version("/volumes/prune"), (1, 41));
    }

    #[test]
    fn filter_values_parse_like_go() {
        assert!(filter_bool("dangling", "true").unwrap());
        assert!(!filter_bool("dangling", "0").unwrap());
        assert_eq!(
            filter_bool("dangling", "maybe").unwrap_err().message,
            "invalid filter 'dangling=maybe'"
        );
        assert!(matches_any(&[], "x"));
        assert!(matches_any(&["ber".into()], "berthvol"));
        assert!(!matches_any(&["^vol".into()], "berthvol"));
    }
}
