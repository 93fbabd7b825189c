//! The registry client: a [`Client`] holds the daemon's registry settings; a [`Session`]
//! is authenticated on one repository and speaks the distribution API to it.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode, header};
use serde::Deserialize;

use crate::image::digest::sha256_digest;
use crate::image::reference::is_sha256_digest;
use crate::image::registry::auth::{AuthConfig, TokenResponse, parse_challenges};
use crate::image::registry::endpoint::{self, Endpoint};
use crate::image::registry::transport::{self, ReqBody, Transport};
use crate::image::registry::{RegistryConfig, RegistryError, manifest};

/// Largest manifest, config or token answer read into memory.
const MAX_SMALL_BODY: usize = 8 << 20;
/// Blobs up to this size are uploaded in one `PUT`; larger ones in `PATCH` chunks of it.
pub const UPLOAD_CHUNK: u64 = 32 << 20;
/// Redirects followed for one blob request (registries hand blobs to storage this way).
const MAX_REDIRECTS: usize = 5;

/// The daemon's registry client: settings plus the shared transport.
#[derive(Debug, Clone)]
pub struct Client {
    config: RegistryConfig,
    transport: Transport,
}

/// An authenticated conversation with one repository of one registry.
#[derive(Debug, Clone)]
pub struct Session {
    transport: Transport,
    base: String,
    repo: String,
    /// Shared by the clones a pull hands its layer downloads, so a renewed token serves all.
    authorization: Arc<Mutex<Option<String>>>,
    renew: Option<Arc<Renewal>>,
    has_credentials: bool,
}

/// What it takes to fetch a fresh bearer token when the one in use expires (Docker Hub's
/// last a few minutes; a long pull outlives them).
#[derive(Debug)]
struct Renewal {
    client: Client,
    challenge: crate::image::registry::auth::Challenge,
    scope: String,
    auth: AuthConfig,
}

/// What a cross-repository mount request did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    /// The registry linked the blob into the repository.
    Mounted,
    /// It did not, but started an upload at this location instead.
    Upload(String),
}

#[derive(Deserialize)]
struct ErrorBody {
    #[serde(default)]
    errors: Vec<ErrorEntry>,
}

#[derive(Deserialize)]
struct ErrorEntry {
    #[serde(default)]
    code: String,
    #[serde(default)]
    message: String,
}

/// The registry's error codes as distribution's `errcode.Error` prints them
/// (`manifest unknown: manifest unknown`), or the status line when the body has none.
pub fn error_text(status: StatusCode, body: &[u8]) -> String {
    let parsed: Option<ErrorBody> = serde_json::from_slice(body).ok();
    let entries: Vec<String> = parsed
        .map(|b| b.errors)
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let code = e.code.to_ascii_lowercase().replace('_', " ");
            match (code.is_empty(), e.message.is_empty()) {
                (false, false) => format!("{code}: {}", e.message),
                (false, true) => code,
                _ => e.message,
            }
        })
        .collect();
    if entries.is_empty() {
        let text = String::from_utf8_lossy(body).trim().to_string();
        if text.is_empty() || text.len() > 200 || text.starts_with('<') {
            format!(
                "unexpected status {} {}",
                status.as_u16(),
                status.canonical_reason().unwrap_or("")
            )
            .trim_end()
            .to_string()
        } else {
            text
        }
    } else {
        entries.join("; ")
    }
}

/// Reads a small body whole.
async fn read_small(resp: Response<Incoming>, what: &str) -> Result<Vec<u8>, RegistryError> {
    Limited::new(resp.into_body(), MAX_SMALL_BODY)
        .collect()
        .await
        .map(|c| c.to_bytes().to_vec())
        .map_err(|e| RegistryError::Invalid(format!("reading {what}: {e}")))
}

/// Reads an error response's body (bounded) into a [`RegistryError::Status`].
async fn status_error(resp: Response<Incoming>) -> RegistryError {
    let status = resp.status();
    let body = read_small(resp, "error body").await.unwrap_or_default();
    RegistryError::Status {
        status: status.as_u16(),
        message: error_text(status, &body),
    }
}

fn header_str(resp: &Response<Incoming>, name: header::HeaderName) -> Option<String> {
    resp.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Percent-encodes a query value.
fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Client {
    /// A client with the daemon's registry settings.
    pub fn new(config: RegistryConfig) -> Client {
        Client {
            config,
            transport: Transport::shared(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &RegistryConfig {
        &self.config
    }

    /// Opens a session on `domain`/`repo`, with pull (and, if `push`, push) access: pings
    /// `/v2/` and answers its challenge. For Docker Hub pulls, mirrors that cannot be
    /// reached are skipped.
    pub async fn session(
        &self,
        domain: &str,
        repo: &str,
        auth: &AuthConfig,
        push: bool,
    ) -> Result<Session, RegistryError> {
        let endpoints = self.endpoints(domain, push);
        let mut last = None;
        for ep in endpoints {
            match self.open(&ep, repo, auth, push).await {
                Ok(s) => return Ok(s),
                Err(e) if ep.falls_back_on(&e) => {
                    tracing::debug!(endpoint = %ep.base, error = %e, "registry endpoint failed; trying the next one");
                    last = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Invalid(format!("no endpoint for {domain}"))))
    }

    /// The endpoints to try for `domain`, in order (see [`endpoint::endpoints`]).
    pub fn endpoints(&self, domain: &str, push: bool) -> Vec<Endpoint> {
        endpoint::endpoints(domain, &self.config, push)
    }

    /// `POST /auth`: checks `auth` against its `serveraddress` (Docker Hub if empty).
    pub async fn login(&self, auth: &AuthConfig) -> Result<(), RegistryError> {
        let domain = endpoint::normalize_registry_name(&auth.serveraddress);
        let mut last = None;
        for ep in self.endpoints(&domain, true) {
            match self.login_at(&ep, auth).await {
                Err(e) if ep.falls_back_on(&e) => last = Some(e),
                done => return done,
            }
        }
        Err(last.unwrap_or_else(|| RegistryError::Invalid(format!("no endpoint for {domain}"))))
    }

    async fn login_at(&self, ep: &Endpoint, auth: &AuthConfig) -> Result<(), RegistryError> {
        let transport = if ep.verify_tls {
            self.transport.clone()
        } else {
            Transport::insecure()
        };
        let url = format!("{}/v2/", ep.base);
        let resp = transport.send(get(&url, None)?).await?;
        if resp.status().is_success() {
            return Ok(());
        }
        if resp.status() != StatusCode::UNAUTHORIZED {
            return Err(status_error(resp).await);
        }
        let challenges =
            parse_challenges(&header_str(&resp, header::WWW_AUTHENTICATE).unwrap_or_default());
        let failed = || {
            RegistryError::Unauthorized(format!(
                "login attempt to {url} failed with status: 401 Unauthorized"
            ))
        };
        let Some(c) = challenges.first() else {
            return Err(failed());
        };
        let authorization = match c.scheme.as_str() {
            "bearer" => {
                let token = self.token(c, None, auth).await?;
                format!("Bearer {token}")
            }
            _ => auth.basic_header().ok_or_else(failed)?,
        };
        let resp = transport.send(get(&url, Some(&authorization))?).await?;
        if resp.status().is_success() {
            Ok(())
        } else if resp.status() == StatusCode::UNAUTHORIZED {
            Err(failed())
        } else {
            Err(status_error(resp).await)
        }
    }

    /// Opens a session on one endpoint: pings `/v2/` and answers its challenge.
    pub async fn open(
        &self,
        ep: &Endpoint,
        repo: &str,
        auth: &AuthConfig,
        push: bool,
    ) -> Result<Session, RegistryError> {
        let url = format!("{}/v2/", ep.base);
        let transport = if ep.verify_tls {
            self.transport.clone()
        } else {
            Transport::insecure()
        };
        let resp = transport.send(get(&url, None)?).await?;
        let mut session = Session {
            transport,
            base: ep.base.clone(),
            repo: repo.to_string(),
            authorization: Arc::new(Mutex::new(None)),
            renew: None,
            has_credentials: auth.has_secret(),
        };
        if resp.status() != StatusCode::UNAUTHORIZED {
            // Some registries answer /v2/ with 404 and still serve the API; only 401 matters.
            return Ok(session);
        }
        let challenges =
            parse_challenges(&header_str(&resp, header::WWW_AUTHENTICATE).unwrap_or_default());
        let actions = if push { "pull,push" } else { "pull" };
        let scope = format!("repository:{repo}:{actions}");
        let authorization = if let Some(c) = challenges.iter().find(|c| c.scheme == "bearer") {
            let token = if auth.registrytoken.is_empty() {
                session.renew = Some(Arc::new(Renewal {
                    client: self.clone(),
                    challenge: c.clone(),
                    scope: scope.clone(),
                    auth: auth.clone(),
                }));
                self.token(c, Some(&scope), auth).await?
            } else {
                auth.registrytoken.clone()
            };
            Some(format!("Bearer {token}"))
        } else if challenges.iter().any(|c| c.scheme == "basic") {
            auth.basic_header()
        } else {
            None
        };
        session.authorization = Arc::new(Mutex::new(authorization));
        Ok(session)
    }

    /// Fetches a bearer token from the challenge's realm (anonymously without credentials).
    async fn token(
        &self,
        c: &crate::image::registry::auth::Challenge,
        scope: Option<&str>,
        auth: &AuthConfig,
    ) -> Result<String, RegistryError> {
        let realm = c
            .param("realm")
            .ok_or_else(|| RegistryError::Invalid("bearer challenge without a realm".into()))?;
        let mut url = realm.to_string();
        let mut sep = if url.contains('?') { '&' } else { '?' };
        let mut add = |k: &str, v: &str| {
            url.push(sep);
            url.push_str(k);
            url.push('=');
            url.push_str(&enc(v));
            sep = '&';
        };
        if let Some(s) = c.param("service") {
            add("service", s);
        }
        if let Some(s) = scope {
            add("scope", s);
        }
        if !auth.username.is_empty() {
            add("account", &auth.username);
        }
        let basic = auth.basic_header();
        let resp = self.transport.send(get(&url, basic.as_deref())?).await?;
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            let body = read_small(resp, "token response").await.unwrap_or_default();
            let text = error_text(status, &body);
            return Err(RegistryError::Unauthorized(format!(
                "Get \"{realm}\": unauthorized: {}",
                if text.starts_with("unexpected status") {
                    "incorrect username or password".to_string()
                } else {
                    text
                }
            )));
        }
        if !status.is_success() {
            return Err(status_error(resp).await);
        }
        let body = read_small(resp, "token response").await?;
        let t: TokenResponse = serde_json::from_slice(&body).map_err(|e| {
            RegistryError::Invalid(format!("invalid token response from {realm}: {e}"))
        })?;
        t.bearer().ok_or_else(|| {
            RegistryError::Invalid(format!("token response from {realm} has no token"))
        })
    }
}

fn get(url: &str, authorization: Option<&str>) -> Result<Request<ReqBody>, RegistryError> {
    build(Method::GET, url, authorization, &[], transport::empty())
}

fn build(
    method: Method,
    url: &str,
    authorization: Option<&str>,
    headers: &[(header::HeaderName, String)],
    body: ReqBody,
) -> Result<Request<ReqBody>, RegistryError> {
    let mut b = Request::builder().method(method).uri(url);
    if let Some(a) = authorization {
        b = b.header(header::AUTHORIZATION, a);
    }
    for (k, v) in headers {
        b = b.header(k, v);
    }
    b.body(body)
        .map_err(|e| RegistryError::InvalidArgument(format!("invalid request to {url}: {e}")))
}

impl Session {
    /// The repository path (`library/busybox`).
    pub fn repo(&self) -> &str {
        &self.repo
    }

    /// `https://host[:port]` this session talks to.
    pub fn base(&self) -> &str {
        &self.base
    }

    fn url(&self, rest: &str) -> String {
        format!("{}/v2/{}/{rest}", self.base, self.repo)
    }

    /// Resolves an upload `Location` (absolute or relative to the registry).
    fn absolute(&self, location: &str) -> String {
        if location.starts_with("http://") || location.starts_with("https://") {
            location.to_string()
        } else {
            format!("{}{}", self.base, location)
        }
    }

    /// [`send`](Self::send), with any status but `want` turned into the registry's error.
    async fn send_expecting(
        &self,
        want: StatusCode,
        method: Method,
        url: &str,
        headers: &[(header::HeaderName, String)],
        body: ReqBody,
    ) -> Result<Response<Incoming>, RegistryError> {
        let resp = self.send(method, url, headers, body).await?;
        if resp.status() != want {
            return Err(status_error(resp).await);
        }
        Ok(resp)
    }

    async fn send(
        &self,
        method: Method,
        url: &str,
        headers: &[(header::HeaderName, String)],
        body: ReqBody,
    ) -> Result<Response<Incoming>, RegistryError> {
        let m = method.clone();
        let current = || {
            self.authorization
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
        };
        let mut resp = self
            .transport
            .send(build(method, url, current().as_deref(), headers, body)?)
            .await?;
        // An expired token is renewed once; only bodiless requests can simply be sent again.
        if resp.status() == StatusCode::UNAUTHORIZED
            && matches!(m, Method::GET | Method::HEAD)
            && let Some(r) = &self.renew
        {
            let token = r
                .client
                .token(&r.challenge, Some(&r.scope), &r.auth)
                .await?;
            *self.authorization.lock().unwrap_or_else(|p| p.into_inner()) =
                Some(format!("Bearer {token}"));
            resp = self
                .transport
                .send(build(
                    m.clone(),
                    url,
                    current().as_deref(),
                    headers,
                    transport::empty(),
                )?)
                .await?;
        }
        if resp.status() == StatusCode::UNAUTHORIZED {
            let what = format!("{} \"{url}\"", transport::go_method(&m));
            if !self.has_credentials {
                return Err(RegistryError::Unauthorized(format!(
                    "{what}: no basic auth credentials"
                )));
            }
            let body = read_small(resp, "error body").await.unwrap_or_default();
            return Err(RegistryError::Unauthorized(format!(
                "{what}: {}",
                error_text(StatusCode::UNAUTHORIZED, &body)
            )));
        }
        Ok(resp)
    }

    /// `GET /v2/<repo>/manifests/<tag-or-digest>`: the bytes, their media type and digest
    /// (checked against the reference when that is a digest).
    pub async fn manifest(
        &self,
        reference: &str,
    ) -> Result<(Vec<u8>, String, String), RegistryError> {
        let url = self.url(&format!("manifests/{reference}"));
        let resp = self
            .send(
                Method::GET,
                &url,
                &[(header::ACCEPT, manifest::ACCEPT.to_string())],
                transport::empty(),
            )
            .await?;
        if !resp.status().is_success() {
            return Err(status_error(resp).await);
        }
        let ct = header_str(&resp, header::CONTENT_TYPE).unwrap_or_default();
        let bytes = read_small(resp, "manifest").await?;
        let digest = sha256_digest(&bytes);
        if is_sha256_digest(reference) && digest != reference {
            return Err(RegistryError::DigestMismatch {
                what: format!("manifest {reference}"),
                expected: reference.to_string(),
                actual: digest,
            });
        }
        Ok((bytes, ct, digest))
    }

    /// `GET /v2/<repo>/blobs/<digest>`, redirects followed; the response's body streams.
    pub async fn blob(&self, digest: &str) -> Result<Response<Incoming>, RegistryError> {
        let mut url = self.url(&format!("blobs/{digest}"));
        let mut authorized = true;
        for _ in 0..=MAX_REDIRECTS {
            let resp = if authorized {
                self.send(Method::GET, &url, &[], transport::empty())
                    .await?
            } else {
                // Storage behind a redirect gets no registry credentials.
                self.transport.send(get(&url, None)?).await?
            };
            if resp.status().is_redirection() {
                let loc = header_str(&resp, header::LOCATION).ok_or_else(|| {
                    RegistryError::Invalid(format!("redirect from {url} without a location"))
                })?;
                let next = self.absolute(&loc);
                authorized = authorized && next.starts_with(&self.base);
                url = next;
                continue;
            }
            if !resp.status().is_success() {
                return Err(status_error(resp).await);
            }
            return Ok(resp);
        }
        Err(RegistryError::Invalid(format!(
            "too many redirects fetching {digest}"
        )))
    }

    /// A small blob (an image config) read whole and verified against `digest`.
    pub async fn blob_bytes(&self, digest: &str) -> Result<Vec<u8>, RegistryError> {
        let resp = self.blob(digest).await?;
        let bytes = read_small(resp, "blob").await?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                what: format!("blob {digest}"),
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(bytes)
    }

    /// `HEAD /v2/<repo>/blobs/<digest>`: the blob's size if the repository has it.
    pub async fn blob_exists(&self, digest: &str) -> Result<Option<u64>, RegistryError> {
        let url = self.url(&format!("blobs/{digest}"));
        let resp = self
            .send(Method::HEAD, &url, &[], transport::empty())
            .await?;
        match resp.status() {
            s if s.is_success() => Ok(Some(
                header_str(&resp, header::CONTENT_LENGTH)
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
            )),
            StatusCode::NOT_FOUND => Ok(None),
            _ => Err(status_error(resp).await),
        }
    }

    /// Asks the registry to link `digest` from repository `from` (same registry).
    pub async fn mount(&self, digest: &str, from: &str) -> Result<Mount, RegistryError> {
        let url = format!(
            "{}/v2/{}/blobs/uploads/?mount={}&from={}",
            self.base,
            self.repo,
            enc(digest),
            enc(from)
        );
        let resp = self
            .send(
                Method::POST,
                &url,
                &[(header::CONTENT_LENGTH, "0".into())],
                transport::empty(),
            )
            .await?;
        match resp.status() {
            StatusCode::CREATED => Ok(Mount::Mounted),
            StatusCode::ACCEPTED => Ok(Mount::Upload(self.location(&resp, &url)?)),
            _ => Err(status_error(resp).await),
        }
    }

    fn location(&self, resp: &Response<Incoming>, url: &str) -> Result<String, RegistryError> {
        header_str(resp, header::LOCATION)
            .map(|l| self.absolute(&l))
            .ok_or_else(|| {
                RegistryError::Invalid(format!("{url}: upload answer without a location"))
            })
    }

    /// `POST /v2/<repo>/blobs/uploads/`: starts an upload, returns its location.
    pub async fn start_upload(&self) -> Result<String, RegistryError> {
        let url = self.url("blobs/uploads/");
        let resp = self
            .send_expecting(
                StatusCode::ACCEPTED,
                Method::POST,
                &url,
                &[(header::CONTENT_LENGTH, "0".into())],
                transport::empty(),
            )
            .await?;
        self.location(&resp, &url)
    }

    /// Uploads `size` bytes of the file at `path` as `digest` to the upload at `location`:
    /// in one `PUT ?digest=` when small, else in `PATCH` chunks and a closing `PUT`.
    /// `sent` is told the length of every chunk sent.
    pub async fn upload(
        &self,
        mut location: String,
        path: &std::path::Path,
        digest: &str,
        size: u64,
        sent: transport::SentFn,
    ) -> Result<(), RegistryError> {
        let open = || async {
            tokio::fs::File::open(path)
                .await
                .map_err(|e| RegistryError::from(crate::image::ImageError::io_at(path, e)))
        };
        let octet = (header::CONTENT_TYPE, "application/octet-stream".to_string());
        if size <= UPLOAD_CHUNK {
            let f: tokio::fs::File = open().await?;
            let url = with_digest(&location, digest);
            self.send_expecting(
                StatusCode::CREATED,
                Method::PUT,
                &url,
                &[octet, (header::CONTENT_LENGTH, size.to_string())],
                transport::file(f, size, Some(sent)),
            )
            .await?;
            return Ok(());
        }
        let mut offset = 0u64;
        while offset < size {
            let len = UPLOAD_CHUNK.min(size - offset);
            let mut f: tokio::fs::File = open().await?;
            tokio::io::AsyncSeekExt::seek(&mut f, std::io::SeekFrom::Start(offset))
                .await
                .map_err(|e| crate::image::ImageError::io_at(path, e))?;
            let resp = self
                .send_expecting(
                    StatusCode::ACCEPTED,
                    Method::PATCH,
                    &location,
                    &[
                        octet.clone(),
                        (header::CONTENT_LENGTH, len.to_string()),
                        (
                            header::CONTENT_RANGE,
                            format!("{offset}-{}", offset + len - 1),
                        ),
                    ],
                    transport::file(f, len, Some(sent.clone())),
                )
                .await?;
            location = self.location(&resp, &location)?;
            offset += len;
        }
        let url = with_digest(&location, digest);
        self.send_expecting(
            StatusCode::CREATED,
            Method::PUT,
            &url,
            &[(header::CONTENT_LENGTH, "0".into())],
            transport::empty(),
        )
        .await?;
        Ok(())
    }

    /// Uploads a small blob held in memory (an image config) unless the registry has it.
    pub async fn put_small_blob(&self, digest: &str, bytes: Vec<u8>) -> Result<(), RegistryError> {
        if self.blob_exists(digest).await?.is_some() {
            return Ok(());
        }
        let location = self.start_upload().await?;
        let url = with_digest(&location, digest);
        let len = bytes.len();
        self.send_expecting(
            StatusCode::CREATED,
            Method::PUT,
            &url,
            &[
                (header::CONTENT_TYPE, "application/octet-stream".into()),
                (header::CONTENT_LENGTH, len.to_string()),
            ],
            transport::bytes(Bytes::from(bytes)),
        )
        .await?;
        Ok(())
    }

    /// `PUT /v2/<repo>/manifests/<tag>`; returns the manifest's digest.
    pub async fn put_manifest(
        &self,
        tag: &str,
        media_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, RegistryError> {
        let url = self.url(&format!("manifests/{tag}"));
        let computed = sha256_digest(&bytes);
        let len = bytes.len();
        let resp = self
            .send_expecting(
                StatusCode::CREATED,
                Method::PUT,
                &url,
                &[
                    (header::CONTENT_TYPE, media_type.to_string()),
                    (header::CONTENT_LENGTH, len.to_string()),
                ],
                transport::bytes(Bytes::from(bytes)),
            )
            .await?;
        Ok(resp
            .headers()
            .get("docker-content-digest")
            .and_then(|v| v.to_str().ok())
            .filter(|d| is_sha256_digest(d))
            .map(str::to_string)
            .unwrap_or(computed))
    }

    /// `GET /v2/<repo>/tags/list`.
    pub async fn tags(&self) -> Result<Vec<String>, RegistryError> {
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            tags: Option<Vec<String>>,
        }
        let url = self.url("tags/list");
        let resp = self
            .send(Method::GET, &url, &[], transport::empty())
            .await?;
        if !resp.status().is_success() {
            return Err(status_error(resp).await);
        }
        let body = read_small(resp, "tag list").await?;
        let t: Tags = serde_json::from_slice(&body)
            .map_err(|e| RegistryError::Invalid(format!("invalid tag list: {e}")))?;
        Ok(t.tags.unwrap_or_default())
    }
}

/// `location` (an upload's URL) with `digest=` added to its query: the closing `PUT`.
fn with_digest(location: &str, digest: &str) -> String {
    let sep = if location.contains('?') { '&' } else { '?' };
    format!("{location}{sep}digest={}", enc(digest))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    use base64::Engine as _;
    use http_body_util::Full;

    const MANIFEST: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.docker.distribution.manifest.v2+json","config":{"mediaType":"application/vnd.docker.container.image.v1+json","size":2,"digest":"sha256:c"},"layers":[]}"#;

    /// A registry on loopback that wants a bearer token from its own `/token`, which
    /// hands one out for `u`/`p` only (each new token expires the ones before it);
    /// records the token requests' query strings.
    async fn fake_registry() -> (String, Arc<Mutex<Vec<String>>>) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let host = format!("127.0.0.1:{}", listener.local_addr().unwrap().port());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let issued = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (h, log) = (host.clone(), seen.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let (h, log, issued) = (h.clone(), log.clone(), issued.clone());
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req: Request<Incoming>| {
                        let (h, log, issued) = (h.clone(), log.clone(), issued.clone());
                        async move {
                            let authz = req
                                .headers()
                                .get(header::AUTHORIZATION)
                                .and_then(|v| v.to_str().ok())
                                .unwrap_or("")
                                .to_string();
                            let basic = format!("Basic {}", STANDARD.encode("u:p"));
                            let reply = |status: u16, body: &str| {
                                Response::builder()
                                    .status(status)
                                    .header(header::CONTENT_TYPE, manifest::DOCKER_MANIFEST)
                                    .header(
                                        header::WWW_AUTHENTICATE,
                                        format!(
                                            "Bearer realm=\"http://{h}/token\",service=\"fake\""
                                        ),
                                    )
                                    .body(Full::new(Bytes::from(body.to_string())))
                                    .unwrap()
                            };
                            let resp = match req.uri().path() {
                                "/token" => {
                                    log.lock()
                                        .unwrap()
                                        .push(req.uri().query().unwrap_or("").to_string());
                                    if authz == basic {
                                        let n = issued
                                            .fetch_add(1, std::sync::atomic::Ordering::SeqCst)
                                            + 1;
                                        reply(200, &format!(r#"{{"token":"tok{n}"}}"#))
                                    } else {
                                        reply(401, "")
                                    }
                                }
                                _ if authz
                                    != format!(
                                        "Bearer tok{}",
                                        issued.load(std::sync::atomic::Ordering::SeqCst)
                                    ) =>
                                {
                                    reply(
                                        401,
                                        r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
                                    )
                                }
                                "/v2/" => reply(200, "{}"),
                                "/v2/a/b/manifests/t" => reply(200, MANIFEST),
                                _ => reply(
                                    404,
                                    r#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#,
                                ),
                            };
                            Ok::<_, std::convert::Infallible>(resp)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(hyper_util::rt::TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (host, seen)
    }

    use base64::engine::general_purpose::STANDARD;

    #[tokio::test]
    async fn bearer_challenge_flow_gets_a_scoped_token_with_credentials() {
        let (host, seen) = fake_registry().await;
        let client = Client::new(RegistryConfig::default());
        let auth = AuthConfig {
            username: "u".into(),
            password: "p".into(),
            ..Default::default()
        };
        let session = client.session(&host, "a/b", &auth, false).await.unwrap();
        assert_eq!(session.base(), format!("http://{host}"));
        let (bytes, ct, digest) = session.manifest("t").await.unwrap();
        assert_eq!(bytes, MANIFEST.as_bytes());
        assert_eq!(ct, manifest::DOCKER_MANIFEST);
        assert_eq!(digest, sha256_digest(MANIFEST.as_bytes()));
        let q = seen.lock().unwrap().clone();
        assert_eq!(
            q,
            ["service=fake&scope=repository%3Aa%2Fb%3Apull&account=u"]
        );
        // Another session's token expires this one's: it is renewed, once, transparently.
        let other = client.session(&host, "a/b", &auth, false).await.unwrap();
        other.manifest("t").await.unwrap();
        session.manifest("t").await.unwrap();
        assert_eq!(seen.lock().unwrap().len(), 3);
        seen.lock().unwrap().truncate(1);
        let e = session.manifest("missing").await.unwrap_err();
        assert_eq!(e.to_string(), "manifest unknown: manifest unknown");
        assert_eq!(e.class(), crate::api::ErrorClass::NotFound);
        let wrong = format!("sha256:{}", "0".repeat(64));
        assert!(session.manifest(&wrong).await.is_err());

        // Push sessions ask for both actions.
        client.session(&host, "a/b", &auth, true).await.unwrap();
        assert!(seen.lock().unwrap()[1].contains("scope=repository%3Aa%2Fb%3Apull%2Cpush"));

        let bad = AuthConfig {
            username: "u".into(),
            password: "nope".into(),
            ..Default::default()
        };
        let e = client.session(&host, "a/b", &bad, false).await.unwrap_err();
        assert!(matches!(e, RegistryError::Unauthorized(_)), "{e}");
        assert!(e.to_string().contains("unauthorized"), "{e}");
        // Anonymous: the token server refuses, which is a clear unauthorized error too.
        let e = client
            .session(&host, "a/b", &AuthConfig::default(), false)
            .await
            .unwrap_err();
        assert_eq!(e.class(), crate::api::ErrorClass::Internal);

        let login = AuthConfig {
            serveraddress: format!("http://{host}"),
            ..auth.clone()
        };
        client.login(&login).await.unwrap();
        let e = client
            .login(&AuthConfig {
                serveraddress: host.clone(),
                ..bad
            })
            .await
            .unwrap_err();
        assert_eq!(e.class(), crate::api::ErrorClass::Internal);
    }

    #[test]
    fn registry_errors_read_like_distributions() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown","detail":{"Tag":"x"}}]}"#;
        assert_eq!(
            error_text(StatusCode::NOT_FOUND, body),
            "manifest unknown: manifest unknown"
        );
        let body = br#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"},{"code":"DENIED","message":"no"}]}"#;
        assert_eq!(
            error_text(StatusCode::UNAUTHORIZED, body),
            "unauthorized: authentication required; denied: no"
        );
        assert_eq!(
            error_text(StatusCode::BAD_GATEWAY, b"<html>"),
            "unexpected status 502 Bad Gateway"
        );
        assert_eq!(
            error_text(StatusCode::BAD_REQUEST, b"plain words\n"),
            "plain words"
        );
    }
}
