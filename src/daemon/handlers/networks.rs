//! `/networks` endpoints: list, inspect, create, remove, connect,
//! disconnect, prune, in dockerd's shapes and with its messages.

use std::collections::HashMap;

use hyper::body::Incoming;
use hyper::{Response, StatusCode};

use berth::api::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkCreateResponse, NetworkDisconnectRequest,
    NetworkPruneResponse,
};

use crate::error::{ApiError, ApiResult};
use crate::http::{Body, Query, json, no_content, read_json};
use crate::network::{CreateNetwork, Driver, NetworkRecord, to_json};
use crate::services::Services;

/// dockerd's network filters; `used` says whether a container is attached.
fn matches_filters(
    n: &NetworkRecord,
    used: bool,
    filters: &HashMap<String, Vec<String>>,
) -> ApiResult<bool> {
    for (key, values) in filters {
        if values.is_empty() {
            continue;
        }
        let hit = match key.as_str() {
            "name" => values.iter().any(|v| n.name.contains(v.as_str())),
            "id" => values.iter().any(|v| n.id.starts_with(v.as_str())),
            "driver" => values.iter().any(|v| v == n.driver.as_str()),
            "scope" => values.iter().any(|v| v == "local"),
            "type" => {
                for v in values {
                    if v != "custom" && v != "builtin" {
                        return Err(ApiError::invalid(format!("invalid filter: 'type'='{v}'")));
                    }
                }
                values.iter().any(|v| (v == "builtin") == n.predefined)
            }
            "label" => values.iter().any(|v| match v.split_once('=') {
                Some((k, val)) => n.labels.get(k).is_some_and(|x| x == val),
                None => n.labels.contains_key(v.as_str()),
            }),
            "dangling" => {
                let dangling = !used && !n.predefined;
                values.iter().any(|v| match v.as_str() {
                    "true" | "1" => dangling,
                    "false" | "0" => !dangling,
                    _ => false,
                })
            }
            other => return Err(ApiError::invalid(format!("invalid filter '{other}'"))),
        };
        if !hit {
            return Ok(false);
        }
    }
    Ok(true)
}

/// `GET /networks?filters=`.
pub async fn list(svc: &Services, q: &Query) -> ApiResult<Response<Body>> {
    let filters = q.filters()?;
    let mut out = Vec::new();
    for n in svc.networks.all() {
        let used = !svc.networks.endpoints(&n.id).is_empty();
        if matches_filters(&n, used, &filters)? {
            out.push(to_json(&n, &[]));
        }
    }
    Ok(json(StatusCode::OK, &out))
}

/// `GET /networks/{id}`.
pub async fn inspect(svc: &Services, key: &str) -> ApiResult<Response<Body>> {
    let n = svc.networks.get(key)?;
    let eps = svc.networks.endpoints(&n.id);
    Ok(json(StatusCode::OK, &to_json(&n, &eps)))
}

/// `POST /networks/create`: the record, then its bridge and rules.
pub async fn create(svc: &Services, body: Incoming) -> ApiResult<Response<Body>> {
    let req: NetworkCreateRequest = read_json(body).await?;
    let req = CreateNetwork::from_request(req)?;
    let host_nets = svc.networks.host_networks().await;
    let rec = svc.networks.create(req, &host_nets)?;
    if let Err(e) = svc.networks.ensure_network(&rec).await {
        // Leave nothing behind: the network did not come up.
        let _ = svc.networks.remove_network_kernel(&rec).await;
        svc.networks.forget(&rec.id)?;
        return Err(e.into());
    }
    tracing::info!(id = %rec.id, name = %rec.name, bridge = %rec.bridge, "network created");
    svc.events.network(&rec, "create", None);
    Ok(json(
        StatusCode::CREATED,
        &NetworkCreateResponse {
            id: rec.id,
            warning: String::new(),
        },
    ))
}

/// Refuses to remove a network running containers are attached to (rm),
/// or (prune) that any container is configured with.
fn check_unused(svc: &Services, n: &NetworkRecord, configured_too: bool) -> ApiResult<()> {
    let in_use = !svc.networks.endpoints(&n.id).is_empty()
        || (configured_too
            && svc
                .containers
                .all()
                .iter()
                .any(|c| c.networks().contains_key(&n.name)));
    if in_use {
        return Err(ApiError::new(
            berth::api::ErrorClass::Forbidden,
            format!(
                "error while removing network: network {} id {} has active endpoints",
                n.name, n.id
            ),
        ));
    }
    Ok(())
}

/// `DELETE /networks/{id}`.
pub async fn remove(svc: &Services, key: &str) -> ApiResult<Response<Body>> {
    let n = svc.networks.removable(key)?;
    check_unused(svc, &n, false)?;
    svc.networks.remove_network_kernel(&n).await?;
    svc.networks.forget(&n.id)?;
    svc.events.network(&n, "destroy", None);
    tracing::info!(id = %n.id, name = %n.name, "network removed");
    Ok(no_content(StatusCode::NO_CONTENT))
}

/// `POST /networks/prune`: removes unused user networks.
pub async fn prune(svc: &Services, q: &Query) -> ApiResult<Response<Body>> {
    let filters = crate::prune::PruneFilters::parse(&q.filters()?, &["until", "label", "label!"])?;
    let mut deleted = Vec::new();
    for n in svc.networks.all() {
        if n.predefined || n.driver != Driver::Bridge {
            continue;
        }
        let labels: HashMap<String, String> = n.labels.clone().into_iter().collect();
        if !filters.matches(n.created, &labels) || check_unused(svc, &n, true).is_err() {
            continue;
        }
        match svc.networks.remove_network_kernel(&n).await {
            Ok(()) => {
                svc.networks.forget(&n.id)?;
                svc.events.network(&n, "destroy", None);
                deleted.push(n.name.clone());
            }
            Err(e) => tracing::warn!(name = %n.name, error = %e, "pruning network"),
        }
    }
    svc.events.prune("network", 0);
    Ok(json(
        StatusCode::OK,
        &NetworkPruneResponse {
            networks_deleted: Some(deleted),
        },
    ))
}

/// `POST /networks/{id}/connect`.
pub async fn connect(svc: &Services, key: &str, body: Incoming) -> ApiResult<Response<Body>> {
    let req: NetworkConnectRequest = read_json(body).await?;
    let n = svc.networks.get(key)?;
    let name = req.container.unwrap_or_default();
    let c = svc.containers.get(&name)?;
    svc.containers
        .connect(&c, &n, req.endpoint_config.unwrap_or_default())
        .await?;
    Ok(no_content(StatusCode::OK))
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(svc: &Services, key: &str, body: Incoming) -> ApiResult<Response<Body>> {
    let req: NetworkDisconnectRequest = read_json(body).await?;
    let n = svc.networks.get(key)?;
    let name = req.container.unwrap_or_default();
    let c = svc.containers.get(&name)?;
    svc.containers
        .disconnect(&c, &n, req.force.unwrap_or(false))
        .await?;
    Ok(no_content(StatusCode::OK))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn rec(name: &str, predefined: bool) -> NetworkRecord {
        NetworkRecord {
            version: 1,
            id: "ab".repeat(32),
            name: name.into(),
            driver: Driver::Bridge,
            created: chrono::Utc::now(),
            predefined,
            internal: false,
            labels: BTreeMap::from([("team".into(), "a".into())]),
            options: BTreeMap::new(),
            bridge: "br-x".into(),
            subnet: None,
            gateway: None,
            user_ipam: false,
        }
    }

    #[test]
    fn filters_match_like_dockerd() {
        let f = |k: &str, v: &str| HashMap::from([(k.to_owned(), vec![v.to_owned()])]);
        let n = rec("berth-web", false);
        assert!(matches_filters(&n, false, &f("name", "web")).unwrap());
        assert!(!matches_filters(&n, false, &f("name", "db")).unwrap());
        assert!(matches_filters(&n, false, &f("id", "abab")).unwrap());
        assert!(matches_filters(&n, false, &f("type", "custom")).unwrap());
        assert!(!matches_filters(&rec("bridge", true), false, &f("type", "custom")).unwrap());
        assert!(matches_filters(&n, false, &f("label", "team=a")).unwrap());
        assert!(!matches_filters(&n, false, &f("label", "team=b")).unwrap());
        assert!(matches_filters(&n, false, &f("driver", "bridge")).unwrap());
        assert!(matches_filters(&n, false, &f("dangling", "true")).unwrap());
        assert!(!matches_filters(&n, true, &f("dangling", "true")).unwrap());
        assert!(!matches_filters(&rec("bridge", true), false, &f("dangling", "true")).unwrap());
        assert_eq!(
            matches_filters(&n, false, &f("type", "x"))
                .unwrap_err()
                .message,
            "invalid filter: 'type'='x'"
        );
    }
}
