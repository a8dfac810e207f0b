//! Small response builders. Every response body is a boxed stream of `Bytes`.

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};
use http_body_util::{BodyExt, Empty, Full, combinators::UnsyncBoxBody};

pub type Body = UnsyncBoxBody<Bytes, std::io::Error>;
pub type Resp = Response<Body>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

pub fn empty() -> Body {
    Empty::new().map_err(|never| match never {}).boxed_unsync()
}

pub fn with(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Resp {
    let mut r = with_room(full(body), 6);
    *r.status_mut() = status;
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    r
}

pub fn json(status: StatusCode, value: &serde_json::Value) -> Resp {
    with(status, "application/json; charset=utf-8", value.to_string())
}

pub fn html(status: StatusCode, page: String) -> Resp {
    let mut r = with(status, "text/html; charset=utf-8", page);
    // Our pages never need to be framed or run foreign scripts.
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; style-src 'self' 'unsafe-inline'; frame-ancestors 'none'; form-action 'self' nc:",
        ),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // Links on our pages must not tell other sites where they came from (tokens in paths).
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

pub fn redirect(status: StatusCode, location: &str) -> Resp {
    let mut r = Response::new(empty());
    *r.status_mut() = status;
    if let Ok(v) = HeaderValue::from_str(location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    r.headers_mut().insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    r
}

/// A plain error for people and generic clients: JSON when they asked for it, text otherwise.
pub fn plain_error(status: StatusCode, message: &str, wants_json: bool) -> Resp {
    if wants_json {
        json(status, &serde_json::json!({ "message": message }))
    } else {
        with(status, "text/plain; charset=utf-8", format!("{message}\n"))
    }
}

/// A response with room for `headers` headers: a HeaderMap grown one insert at a time
/// reallocates several times (perf: a tenth of a small GET).
pub fn with_room(body: Body, headers: usize) -> Resp {
    let mut r = Response::new(body);
    r.headers_mut().reserve(headers);
    r
}

pub fn set_header(r: &mut Resp, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        r.headers_mut().insert(name, v);
    }
}
