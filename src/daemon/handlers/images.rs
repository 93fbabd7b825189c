//! `/images/...`: list, load, save, import, inspect, history, tag, remove.

use hyper::body::Incoming;
use hyper::{Response, StatusCode, header};

use berth::api::models::ProgressLine;
use berth::image::{ImageStore, ImportOptions};

use crate::error::{ApiError, ApiResult};
use crate::http::{Body, Query, blocking_reader, blocking_stream, full, json};
use crate::services::Services;

/// Runs blocking image-store work off the async threads.
async fn blocking<T: Send + 'static>(
    images: &ImageStore,
    f: impl FnOnce(ImageStore) -> Result<T, berth::image::ImageError> + Send + 'static,
) -> ApiResult<T> {
    let images = images.clone();
    Ok(tokio::task::spawn_blocking(move || f(images)).await??)
}

/// Docker's streamed JSON progress body, here sent whole once the work is done.
fn progress(lines: impl IntoIterator<Item = ProgressLine>) -> Response<Body> {
    let mut out = Vec::new();
    for l in lines {
        serde_json::to_writer(&mut out, &l).expect("progress lines serialise");
        out.push(b'\n');
    }
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/json")
        .body(full(out))
        .expect("static headers are valid")
}

/// `GET /images/json`.
pub async fn list(svc: &Services, q: &Query) -> ApiResult<Response<Body>> {
    let filters = q.filters()?;
    let (all, digests) = (q.flag("all"), q.flag("digests"));
    let list = blocking(&svc.images, move |s| s.list(all, &filters, digests)).await?;
    Ok(json(StatusCode::OK, &list))
}

/// `POST /images/load`.
pub async fn load(svc: &Services, body: Incoming) -> ApiResult<Response<Body>> {
    let mut reader = blocking_reader(body);
    let loaded = blocking(&svc.images, move |s| s.load(&mut reader)).await?;
    svc.events.images_by_name(&svc.images, &loaded, "load");
    Ok(progress(loaded.into_iter().map(|name| ProgressLine {
        stream: Some(if name.starts_with("sha256:") {
            format!("Loaded image ID: {name}\n")
        } else {
            format!("Loaded image: {name}\n")
        }),
        ..Default::default()
    })))
}

/// `GET /images/get?names=...` and `GET /images/{name}/get`.
pub async fn save(svc: &Services, names: Vec<String>) -> ApiResult<Response<Body>> {
    if names.is_empty() {
        return Err(ApiError::invalid("no images named to save"));
    }
    // Unknown names are refused before the tar stream starts, so the client
    // gets a proper 404 instead of a truncated archive.
    let check = names.clone();
    blocking(&svc.images, move |s| {
        check.iter().try_for_each(|n| s.inspect(n).map(drop))
    })
    .await?;
    svc.events.images_by_name(&svc.images, &names, "save");
    let (mut writer, body) = blocking_stream();
    let images = svc.images.clone();
    tokio::task::spawn_blocking(move || {
        let result = images
            .save(&names, &mut writer)
            .map_err(std::io::Error::other);
        match result.and_then(|()| std::io::Write::flush(&mut writer)) {
            Ok(()) => {}
            Err(e) => {
                tracing::error!(error = %e, "saving images");
                writer.fail(e);
            }
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-tar")
        .body(body)
        .expect("static headers are valid"))
}

/// `POST /images/create?fromSrc=-`: imports the body as a rootfs (pulls, `fromImage`, are
/// routed to [`crate::handlers::registry::pull`]).
pub async fn create(svc: &Services, q: &Query, body: Incoming) -> ApiResult<Response<Body>> {
    match q.get("fromSrc") {
        Some("-") => {}
        Some(other) => {
            return Err(ApiError::invalid(format!(
                "importing from {other} is not supported; send the tar in the request body (fromSrc=-)"
            )));
        }
        None => return Err(ApiError::invalid("one of fromImage or fromSrc is required")),
    }
    let reference = match (
        q.get("repo").filter(|r| !r.is_empty()),
        q.get("tag").filter(|t| !t.is_empty()),
    ) {
        (Some(repo), Some(tag)) => Some(format!("{repo}:{tag}")),
        (Some(repo), None) => Some(repo.to_owned()),
        (None, _) => None,
    };
    let opts = ImportOptions {
        reference,
        changes: q.all("changes").to_vec(),
        message: q
            .get("message")
            .filter(|m| !m.is_empty())
            .map(str::to_owned),
    };
    let mut reader = blocking_reader(body);
    let tagged = opts.reference.clone();
    let id = blocking(&svc.images, move |s| s.import(&mut reader, &opts)).await?;
    if let Some(r) = tagged {
        svc.events.image(&id, &crate::events::with_tag(&r), "tag");
    }
    svc.events.image(&id, &id, "import");
    Ok(progress([ProgressLine {
        status: Some(id),
        ..Default::default()
    }]))
}

/// `GET /images/{name}/json`.
pub async fn inspect(svc: &Services, name: String) -> ApiResult<Response<Body>> {
    let img = blocking(&svc.images, move |s| s.inspect(&name)).await?;
    Ok(json(StatusCode::OK, &img))
}

/// `GET /images/{name}/history`.
pub async fn history(svc: &Services, name: String) -> ApiResult<Response<Body>> {
    let h = blocking(&svc.images, move |s| s.history(&name)).await?;
    Ok(json(StatusCode::OK, &h))
}

/// `POST /images/{name}/tag?repo=&tag=`.
pub async fn tag(svc: &Services, name: String, q: &Query) -> ApiResult<Response<Body>> {
    let repo = q
        .get("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::invalid("repository name must have at least one component"))?
        .to_owned();
    let tag = q.get("tag").filter(|t| !t.is_empty()).map(str::to_owned);
    let reference = format!("{repo}:{}", tag.as_deref().unwrap_or("latest"));
    let id = blocking(&svc.images, move |s| {
        s.tag(&name, &repo, tag.as_deref())?;
        s.resolve(&name).map(|r| r.id)
    })
    .await?;
    svc.events.image(&id, &reference, "tag");
    Ok(crate::http::no_content(StatusCode::CREATED))
}

/// `DELETE /images/{name}?force=`.
pub async fn remove(svc: &Services, name: String, q: &Query) -> ApiResult<Response<Body>> {
    let force = q.flag("force");
    let containers = svc.containers.clone();
    let (id, deleted) = blocking(&svc.images, move |s| {
        let id = s.resolve(&name)?.id;
        Ok((id, s.remove(&name, force, &|id| containers.image_user(id))?))
    })
    .await?;
    svc.events.image_removal(&id, &deleted);
    Ok(json(StatusCode::OK, &deleted))
}
