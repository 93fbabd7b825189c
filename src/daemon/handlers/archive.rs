//! `GET`/`HEAD`/`PUT /containers/{id}/archive` (`cp`), `GET /containers/{id}/export`
//! and `POST /commit`. The filesystem work is in [`crate::archive`].

use std::sync::Arc;

use hyper::body::Incoming;
use hyper::{Response, StatusCode, header};

use berth::api::models::ContainerConfig;
use berth::image::commit::CommitOptions;
use berth::image::diff::write_layer;
use berth::runtime::userns::IdMapping;

use crate::archive::{self, PutRequest};
use crate::containers::{Container, Status};
use crate::error::{ApiError, ApiResult};
use crate::http::{Body, Query, blocking_stream, empty, json};
use crate::services::Services;

const STAT_HEADER: &str = "X-Docker-Container-Path-Stat";

fn path_param(q: &Query) -> ApiResult<String> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .map(str::to_owned)
        .ok_or_else(|| ApiError::invalid("path is required"))
}

/// `HEAD /containers/{id}/archive?path=`: only the stat header.
pub async fn head(c: Arc<Container>, id: &str, q: &Query) -> ApiResult<Response<Body>> {
    let path = path_param(q)?;
    let id = id.to_owned();
    let stat = tokio::task::spawn_blocking(move || {
        let opened = archive::open_root(&c, None, false, false)?;
        archive::stat_path(&opened.root, &path, &id).map(|f| f.stat)
    })
    .await??;
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(STAT_HEADER, stat.header())
        .body(empty())
        .expect("valid headers"))
}

/// `GET /containers/{id}/archive?path=`: the path as a tar, named by its base name.
pub async fn get(
    c: Arc<Container>,
    ids: Option<IdMapping>,
    id: &str,
    q: &Query,
) -> ApiResult<Response<Body>> {
    let path = path_param(q)?;
    let id = id.to_owned();
    let (opened, found) = tokio::task::spawn_blocking(move || {
        let opened = archive::open_root(&c, ids, false, false)?;
        let found = archive::stat_path(&opened.root, &path, &id)?;
        Ok::<_, ApiError>((opened, found))
    })
    .await??;
    let stat = found.stat.header();
    let (mut writer, body) = blocking_stream();
    tokio::task::spawn_blocking(move || {
        let result = archive::write_archive(&opened, &found, &mut writer);
        match result.and_then(|()| {
            std::io::Write::flush(&mut writer).map_err(|e| ApiError::internal(e.to_string()))
        }) {
            Ok(()) => {}
            Err(e) => {
                tracing::warn!(error = %e.message, "archiving a container path");
                writer.fail(std::io::Error::other(e.message));
            }
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-tar")
        .header(STAT_HEADER, stat)
        .body(body)
        .expect("valid headers"))
}

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`.
pub async fn put(
    c: Arc<Container>,
    ids: Option<IdMapping>,
    id: &str,
    q: &Query,
    req_body: Incoming,
) -> ApiResult<Response<Body>> {
    let args = PutArgs {
        id: id.to_owned(),
        path: path_param(q)?,
        no_overwrite: q.flag("noOverwriteDirNonDir"),
        copy_owner: q.flag("copyUIDGID"),
        ids,
    };
    // A stopped container's upper layer is mounted read-write here: hold its op
    // lock so that it cannot start on the same upper meanwhile.
    let op = c.op.lock().await;
    let live = c.state().status == Status::Running;
    if live {
        drop(op);
        let reader = buffered(req_body);
        tokio::task::spawn_blocking(move || put_blocking(&c, &args, reader, true)).await??;
    } else {
        let reader = buffered(req_body);
        let c2 = c.clone();
        tokio::task::spawn_blocking(move || put_blocking(&c2, &args, reader, false)).await??;
        drop(op);
    }
    Ok(Response::builder()
        .status(StatusCode::OK)
        .body(empty())
        .expect("valid headers"))
}

/// What a `PUT .../archive` asks for.
struct PutArgs {
    /// The container as the client named it.
    id: String,
    /// `?path=`.
    path: String,
    /// `?noOverwriteDirNonDir=`.
    no_overwrite: bool,
    /// `?copyUIDGID=`.
    copy_owner: bool,
    /// The container's user-namespace maps.
    ids: Option<IdMapping>,
}

/// Bytes handed to the blocking extraction at a time.
const PUT_CHUNK: usize = 1 << 20;

/// The request body for blocking code, coalesced into chunks of up to
/// [`PUT_CHUNK`]: clients such as the docker CLI send many small HTTP chunks,
/// and waking the blocking thread for each costs more than copying them.
fn buffered(body: Incoming) -> impl std::io::Read + Send + 'static {
    use http_body_util::BodyExt;
    let (tx, rx) = tokio::sync::mpsc::channel::<std::io::Result<bytes::Bytes>>(4);
    tokio::spawn(async move {
        let mut body = body;
        let mut buf = bytes::BytesMut::new();
        loop {
            match body.frame().await {
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        buf.extend_from_slice(&data);
                    }
                    if buf.len() >= PUT_CHUNK && tx.send(Ok(buf.split().freeze())).await.is_err() {
                        return;
                    }
                }
                Some(Err(e)) => {
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    return;
                }
                None => break,
            }
        }
        if !buf.is_empty() {
            let _ = tx.send(Ok(buf.freeze())).await;
        }
    });
    ChunkReader {
        rx,
        cur: bytes::Bytes::new(),
    }
}

/// The blocking end of [`buffered`].
struct ChunkReader {
    rx: tokio::sync::mpsc::Receiver<std::io::Result<bytes::Bytes>>,
    cur: bytes::Bytes,
}

impl std::io::Read for ChunkReader {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(b)) => self.cur = b,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = out.len().min(self.cur.len());
        out[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

fn put_blocking(
    c: &Container,
    args: &PutArgs,
    reader: impl std::io::Read,
    live: bool,
) -> ApiResult<()> {
    let opened = archive::open_root(c, args.ids.clone(), !live, false)?;
    let owner = if args.copy_owner {
        archive::container_owner(&opened.root, c.def.config.user.as_deref().unwrap_or(""))?
    } else {
        None
    };
    let req = PutRequest {
        path: &args.path,
        container: &args.id,
        no_overwrite_dir_non_dir: args.no_overwrite,
        owner,
        readonly_rootfs: c.host_config().readonly_rootfs.unwrap_or(false),
    };
    archive::extract_to(&opened, &req, reader).map(drop)
}

/// `GET /containers/{id}/export`: the container's filesystem as a tar.
pub async fn export(c: Arc<Container>, ids: Option<IdMapping>) -> ApiResult<Response<Body>> {
    let opened =
        tokio::task::spawn_blocking(move || archive::open_root(&c, ids, false, true)).await??;
    let (mut writer, body) = blocking_stream();
    tokio::task::spawn_blocking(move || {
        let result = archive::write_export(&opened, &mut writer).and_then(|()| {
            std::io::Write::flush(&mut writer).map_err(|e| ApiError::internal(e.to_string()))
        });
        if let Err(e) = result {
            tracing::warn!(error = %e.message, "exporting a container");
            writer.fail(std::io::Error::other(e.message));
        }
    });
    Ok(Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "application/x-tar")
        .body(body)
        .expect("valid headers"))
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&changes=&pause=` with an
/// optional `ContainerConfig` body overriding the container's.
pub async fn commit(svc: &Services, q: &Query, body: Incoming) -> ApiResult<Response<Body>> {
    let name = q
        .get("container")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::invalid("container is required"))?;
    let c = svc.containers.get(name)?;
    let user: serde_json::Value = crate::http::read_json(body).await?;
    let mut config = serde_json::to_value(&c.def.config)
        .map_err(|e| ApiError::internal(format!("container config: {e}")))?;
    // Docker's merge: what the request sets wins, the rest is the container's.
    if let (Some(base), Some(over)) = (config.as_object_mut(), user.as_object()) {
        for (k, v) in over {
            let blank = v.is_null()
                || v.as_array().is_some_and(Vec::is_empty)
                || v.as_object().is_some_and(serde_json::Map::is_empty)
                || v.as_str().is_some_and(str::is_empty);
            if !blank {
                base.insert(k.clone(), v.clone());
            }
        }
    }
    let config: ContainerConfig = serde_json::from_value(config)
        .map_err(|e| ApiError::invalid(format!("invalid container config: {e}")))?;
    let reference = match (
        q.get("repo").filter(|r| !r.is_empty()),
        q.get("tag").filter(|t| !t.is_empty()),
    ) {
        (Some(repo), Some(tag)) => Some(format!("{repo}:{tag}")),
        (Some(repo), None) => Some(repo.to_owned()),
        (None, Some(_)) => {
            return Err(ApiError::invalid("tag is specified without a repository"));
        }
        (None, None) => None,
    };
    let opts = CommitOptions {
        reference,
        config,
        changes: q.all("changes").to_vec(),
        comment: q.get("comment").map(str::to_owned),
        author: q.get("author").map(str::to_owned),
        created_by: c.def.config.cmd.clone().unwrap_or_default().join(" "),
    };
    // Docker pauses by default since API 1.13.
    let pause = q.get("pause").is_none_or(|_| q.flag("pause"));
    let st = c.state();
    let freeze = (pause && st.status == Status::Running && !st.paused)
        .then(|| st.cgroup.clone())
        .flatten();
    let tagged = opts.reference.as_deref().map(crate::events::with_tag);
    let images = svc.images.clone();
    let upper = c.state_dir.join("upper");
    let ids = svc.containers.id_mapping(&c);
    let base = c.def.image_id.clone();
    let id = tokio::task::spawn_blocking(move || {
        if let Some(g) = &freeze
            && let Err(e) = g.freeze()
        {
            tracing::warn!(error = %e, "commit: could not pause the container; committing it running");
        }
        let result = images.commit(
            &base,
            |w| write_layer(&upper, ids, w).map(drop),
            &opts,
        );
        if let Some(g) = &freeze
            && let Err(e) = g.thaw()
        {
            tracing::error!(error = %e, "commit: thawing the container");
        }
        result
    })
    .await??;
    if let Some(r) = &tagged {
        svc.events.image(&id, r, "tag");
    }
    let image_ref = tagged.as_deref().unwrap_or("");
    let comment = q.get("comment").unwrap_or("");
    let attrs = [
        ("comment", comment),
        ("imageID", &id),
        ("imageRef", image_ref),
    ];
    svc.events.container(&c, "commit", &attrs);
    Ok(json(StatusCode::CREATED, &serde_json::json!({ "Id": id })))
}
