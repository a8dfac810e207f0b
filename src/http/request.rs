//! Request context and parsing helpers: body with limits and timeouts, parameters merged from
//! query string, form body and JSON body (Nextcloud clients use all three), cookies.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method, StatusCode, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;

use crate::accounts::Actor;
use crate::state::App;

/// Everything a handler needs about one request, after routing and authentication.
pub struct Ctx {
    pub app: Arc<App>,
    pub method: Method,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub peer: IpAddr,
    pub https: bool,
    pub actor: Actor,
    pub body: Option<Incoming>,
}

#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("the request body did not arrive in time")]
    Timeout,
    #[error("the request body is incomplete or malformed")]
    Broken,
}

impl BodyError {
    pub fn status(&self) -> StatusCode {
        match self {
            BodyError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            BodyError::Timeout => StatusCode::REQUEST_TIMEOUT,
            BodyError::Broken => StatusCode::BAD_REQUEST,
        }
    }
}

impl Ctx {
    pub fn header(&self, name: impl header::AsHeaderName) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The externally visible base URL (`scheme://host[:port]`), from the request's Host.
    pub fn base_url(&self) -> String {
        let scheme = if self.https { "https" } else { "http" };
        let host = self
            .header(header::HOST)
            .filter(|h| valid_host(h))
            .unwrap_or("localhost");
        format!("{scheme}://{host}")
    }

    pub fn cookie(&self, name: &str) -> Option<String> {
        cookie(&self.headers, name)
    }

    /// Reads a small (non-file) body whole, bounded by `limits.max_body_bytes` and the body
    /// read timeout.
    pub async fn small_body(&mut self) -> Result<Bytes, BodyError> {
        let limit = self.app.config.limits.max_body_bytes;
        self.body_up_to(limit).await
    }

    /// Reads the body whole, refusing more than `limit` bytes (checked against
    /// Content-Length first, so an oversized upload is refused before it is read).
    pub async fn body_up_to(&mut self, limit: usize) -> Result<Bytes, BodyError> {
        let declared = self
            .header(header::CONTENT_LENGTH)
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(BodyError::TooLarge(limit));
        }
        let Some(body) = self.body.take() else {
            return Ok(Bytes::new());
        };
        let timeout = Duration::from_secs(self.app.config.limits.body_read_timeout_secs);
        match tokio::time::timeout(timeout, Limited::new(body, limit).collect()).await {
            Err(_) => Err(BodyError::Timeout),
            Ok(Ok(c)) => Ok(c.to_bytes()),
            Ok(Err(e)) if e.is::<http_body_util::LengthLimitError>() => {
                Err(BodyError::TooLarge(limit))
            }
            Ok(Err(_)) => Err(BodyError::Broken),
        }
    }

    /// Query string, form body and JSON body merged (later sources win).
    pub async fn params(&mut self) -> Result<Params, BodyError> {
        let mut p = Params::default();
        p.merge_form(self.query.as_bytes());
        let body = self.small_body().await?;
        if body.is_empty() {
            return Ok(p);
        }
        let ctype = self
            .header(header::CONTENT_TYPE)
            .unwrap_or("")
            .to_ascii_lowercase();
        if ctype.starts_with("application/json") {
            let v: serde_json::Value =
                serde_json::from_slice(&body).map_err(|_| BodyError::Broken)?;
            p.merge_json(&v);
        } else {
            p.merge_form(&body);
        }
        Ok(p)
    }
}

/// Parameters by name; `name[]` lists keep every value.
#[derive(Debug, Default)]
pub struct Params {
    map: HashMap<String, Vec<String>>,
}

impl Params {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.map.get(key).and_then(|v| v.last()).map(String::as_str)
    }
    pub fn list(&self, key: &str) -> Vec<String> {
        let mut out = self.map.get(key).cloned().unwrap_or_default();
        out.extend(
            self.map
                .get(&format!("{key}[]"))
                .cloned()
                .unwrap_or_default(),
        );
        out
    }
    fn merge_form(&mut self, bytes: &[u8]) {
        for (k, v) in form_urlencoded::parse(bytes) {
            self.map
                .entry(k.into_owned())
                .or_default()
                .push(v.into_owned());
        }
    }
    fn merge_json(&mut self, v: &serde_json::Value) {
        let Some(obj) = v.as_object() else { return };
        for (k, v) in obj {
            let vals = match v {
                serde_json::Value::Array(a) => a.iter().map(scalar).collect(),
                other => vec![scalar(other)],
            };
            self.map.insert(k.clone(), vals);
        }
    }
}

fn scalar(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        serde_json::Value::Null => String::new(),
        other => other.to_string(),
    }
}

pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

/// A Host header we are willing to echo into URLs: a name or address and an optional port.
pub fn valid_host(h: &str) -> bool {
    !h.is_empty()
        && h.len() <= 255
        && h.bytes().all(|b| {
            b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b':' | b'[' | b']' | b'_')
        })
}
