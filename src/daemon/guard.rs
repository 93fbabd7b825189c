//! Checks every request passes before routing: a bound on JSON bodies
//! (image archives, build contexts and `cp` tars stream and are unbounded)
//! and path parameters that cannot name anything outside the data root.

use hyper::{HeaderMap, Method, Response, StatusCode, header};

use crate::error::{ApiError, ApiResult};
use crate::http::{Body, MAX_JSON_BODY, full};

/// Routes whose body is a stream (tar archives, build contexts) rather than
/// a JSON document; `path` is the API path without its version prefix.
fn streams_body(method: &Method, path: &str) -> bool {
    match *method {
        Method::POST => matches!(path, "/images/load" | "/images/create" | "/build"),
        Method::PUT => path.starts_with("/containers/") && path.ends_with("/archive"),
        _ => false,
    }
}

/// A 413 response with Docker's error body when the request declares a
/// JSON body over [`MAX_JSON_BODY`]: refused before any of it is read.
pub fn body_too_large(method: &Method, path: &str, headers: &HeaderMap) -> Option<Response<Body>> {
    if streams_body(method, path) {
        return None;
    }
    let declared: u64 = headers
        .get(header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    if declared <= MAX_JSON_BODY as u64 {
        return None;
    }
    let body = serde_json::to_vec(&berth::api::ErrorResponse {
        message: format!(
            "request body of {declared} bytes is larger than the limit of {MAX_JSON_BODY} bytes"
        ),
    })
    .unwrap_or_default();
    Some(
        Response::builder()
            .status(StatusCode::PAYLOAD_TOO_LARGE)
            .header(header::CONTENT_TYPE, "application/json")
            // The body is not read: the connection cannot be reused.
            .header(header::CONNECTION, "close")
            .body(full(body))
            .expect("static headers are valid"),
    )
}

/// Refuses decoded path segments that could step out of the directory an
/// ID or name is joined to: `.`, `..`, NUL, and `/` (a `%2F`) anywhere but
/// in image references, which are `/`-separated by nature, and at the start
/// of a container name (`/name`, as dockerd names containers).
pub fn check_path_params(segs: &[&str]) -> ApiResult<()> {
    let slash_ok = segs.first() == Some(&"images");
    for (i, seg) in segs.iter().enumerate().skip(1) {
        let seg = match (segs[0], i) {
            ("containers", 1) => seg.strip_prefix('/').unwrap_or(seg),
            _ => seg,
        };
        if seg == "." || seg == ".." || seg.contains('\0') || (!slash_ok && seg.contains('/')) {
            return Err(ApiError::invalid(format!(
                "invalid path parameter {seg:?}: names and IDs cannot contain '/', NUL or be '.' or '..'"
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(n: u64) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, n.to_string().parse().unwrap());
        h
    }

    #[test]
    fn json_bodies_are_bounded_and_streams_are_not() {
        let big = len(MAX_JSON_BODY as u64 + 1);
        let resp = body_too_large(&Method::POST, "/containers/create", &big).unwrap();
        assert_eq!(resp.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(body_too_large(&Method::POST, "/containers/create", &len(100)).is_none());
        assert!(body_too_large(&Method::POST, "/containers/create", &HeaderMap::new()).is_none());
        for (m, p) in [
            (Method::POST, "/images/load"),
            (Method::POST, "/images/create"),
            (Method::POST, "/build"),
            (Method::PUT, "/containers/abc/archive"),
        ] {
            assert!(body_too_large(&m, p, &big).is_none(), "{m} {p}");
        }
    }

    #[test]
    fn escaping_segments_are_refused() {
        check_path_params(&["containers", "abc", "json"]).unwrap();
        check_path_params(&["volumes", "berth..vol"]).unwrap();
        check_path_params(&["images", "localhost:5000/a/b", "json"]).unwrap();
        check_path_params(&["containers", "/berthweb", "json"]).unwrap();
        for bad in [
            &["volumes", ".."][..],
            &["containers", "..", "json"],
            &["volumes", "a/../../etc"],
            &["networks", "a\0b"],
            &["images", "..", "json"],
            &["exec", "."],
            &["containers", "/..", "json"],
            &["containers", "//etc", "json"],
            &["volumes", "/etc"],
        ] {
            let e = check_path_params(bad).unwrap_err();
            assert_eq!(e.class, berth::api::ErrorClass::InvalidArgument, "{bad:?}");
        }
    }
}
