//! `POST /containers/prune`, `POST /images/prune` and `GET /system/df`, in
//! dockerd 20.10's shapes; sizes are measured on disk like `du`.

use std::collections::HashMap;
use std::path::PathBuf;

use http_body_util::BodyExt;
use hyper::{Response, StatusCode};
use serde_json::{Value, json};

use crate::disk_usage::{Scan, du};
use crate::error::{ApiError, ApiResult};
use crate::http::{Body, Query, json as json_response};
use crate::prune::{PruneFilters, prune_containers, prune_images};
use crate::services::Services;

/// A list as dockerd encodes an empty Go slice in prune reports: `null`.
pub fn list_or_null<T: serde::Serialize>(items: &[T]) -> Value {
    if items.is_empty() {
        Value::Null
    } else {
        json!(items)
    }
}

/// `POST /containers/prune?filters=` (`until`, `label`, `label!`).
pub async fn containers(svc: &Services, q: &Query) -> ApiResult<Response<Body>> {
    let filters = PruneFilters::parse(&q.filters()?, &["until", "label", "label!"])?;
    let pruned = prune_containers(&svc.containers, &filters).await?;
    svc.events.prune("container", pruned.reclaimed);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "ContainersDeleted": list_or_null(&pruned.deleted),
            "SpaceReclaimed": pruned.reclaimed,
        }),
    ))
}

/// `POST /images/prune?filters=` (`dangling`, `until`, `label`, `label!`).
pub async fn images(svc: &Services, q: &Query) -> ApiResult<Response<Body>> {
    let mut raw = q.filters()?;
    let dangling = raw.remove("dangling").unwrap_or_default();
    let dangling_only = match dangling.as_slice() {
        [] => true,
        [v] if v == "true" || v == "1" => true,
        [v] if v == "false" || v == "0" => false,
        other => {
            return Err(ApiError::invalid(format!(
                "Invalid filter 'dangling=[{}]'",
                other.join(" ")
            )));
        }
    };
    let filters = PruneFilters::parse(&raw, &["until", "label", "label!"])?;
    let (images, containers) = (svc.images.clone(), svc.containers.clone());
    let (pruned, known) = tokio::task::spawn_blocking(move || {
        let known = crate::events::image_ids(&images);
        (
            prune_images(&images, &containers, dangling_only, &filters),
            known,
        )
    })
    .await?;
    svc.events.image_prune(&pruned.deleted, &known);
    svc.events.prune("image", pruned.reclaimed);
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "ImagesDeleted": list_or_null(&pruned.deleted),
            "SpaceReclaimed": pruned.reclaimed,
        }),
    ))
}

/// The JSON body of a handler's response.
async fn body_json(resp: Response<Body>) -> ApiResult<Value> {
    let bytes = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| ApiError::internal(format!("reading a listing: {e}")))?
        .to_bytes();
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::internal(format!("decoding a listing: {e}")))
}

/// Images' sizes: each image's `Size` (its layers, config and manifest on
/// disk), `SharedSize` (the part another image uses too), and `LayersSize`
/// (`du` of the store's directories).
struct ImageSizes {
    layers_size: u64,
    size: HashMap<String, (u64, u64)>,
}

fn image_sizes(images: &berth::image::ImageStore) -> ImageSizes {
    let parts: Vec<(String, Vec<PathBuf>)> = images
        .prune_candidates()
        .into_iter()
        .map(|c| {
            let p = images.image_parts(&c.id).unwrap_or_default();
            (c.id, p)
        })
        .collect();
    let mut uses: HashMap<&PathBuf, usize> = HashMap::new();
    for (_, ps) in &parts {
        for p in ps {
            *uses.entry(p).or_default() += 1;
        }
    }
    let part_size: HashMap<&PathBuf, u64> = uses
        .keys()
        .map(|p| (*p, Scan::of([p.as_path()]).total()))
        .collect();
    let size = parts
        .iter()
        .map(|(id, ps)| {
            let total = ps.iter().map(|p| part_size[p]).sum();
            let shared = ps
                .iter()
                .filter(|p| uses[p] > 1)
                .map(|p| part_size[p])
                .sum();
            (id.clone(), (total, shared))
        })
        .collect();
    ImageSizes {
        layers_size: Scan::of(images.data_dirs()).total(),
        size,
    }
}

/// `GET /system/df`.
pub async fn df(svc: &Services) -> ApiResult<Response<Body>> {
    let mut images_json =
        body_json(crate::handlers::images::list(svc, &Query::parse(None)).await?).await?;
    let mut containers_json = body_json(
        crate::handlers::containers::list(svc, &Query::parse(Some("all=1&size=1"))).await?,
    )
    .await?;
    let store = svc.images.clone();
    let containers = svc.containers.all();
    let volumes = svc.containers.volumes().clone();
    let (sizes, container_sizes, volume_list) = tokio::task::spawn_blocking(move || {
        let sizes = image_sizes(&store);
        let container_sizes: HashMap<String, (u64, String)> = containers
            .iter()
            .map(|c| (c.def.id.clone(), (du(&c.state_dir), c.def.image_id.clone())))
            .collect();
        let volume_list: Vec<Value> = volumes
            .list()
            .into_iter()
            .map(|(meta, refs)| {
                let mut v = volumes.to_json(&meta);
                v["UsageData"] = json!({
                    "Size": du(&volumes.mountpoint(&meta.name)),
                    "RefCount": refs,
                });
                v
            })
            .collect();
        (sizes, container_sizes, volume_list)
    })
    .await?;

    let mut per_image: HashMap<String, i64> = HashMap::new();
    for (_, image) in container_sizes.values() {
        *per_image.entry(image.clone()).or_default() += 1;
    }
    for img in images_json.as_array_mut().into_iter().flatten() {
        let id = img["Id"].as_str().unwrap_or_default().to_owned();
        let (size, shared) = sizes.size.get(&id).copied().unwrap_or_default();
        img["Size"] = json!(size);
        img["VirtualSize"] = json!(size);
        img["SharedSize"] = json!(shared);
        img["Containers"] = json!(per_image.get(&id).copied().unwrap_or(0));
    }
    for c in containers_json.as_array_mut().into_iter().flatten() {
        let id = c["Id"].as_str().unwrap_or_default();
        let Some((rw, image)) = container_sizes.get(id) else {
            continue;
        };
        let image_size = sizes.size.get(image).map_or(0, |s| s.0);
        c["SizeRw"] = json!(rw);
        c["SizeRootFs"] = json!(rw + image_size);
    }
    Ok(json_response(
        StatusCode::OK,
        &json!({
            "LayersSize": sizes.layers_size,
            "Images": images_json,
            "Containers": containers_json,
            "Volumes": volume_list,
            // dockerd 20.10 with the classic builder: no BuildKit records
            // (its intermediate images are counted under Images).
            "BuildCache": null,
            "BuilderSize": 0,
        }),
    ))
}
