//! Bulk upload (`POST /remote.php/dav/bulk`): many small files in one `multipart/related`
//! request, as the desktop client sends them when `dav.bulkupload` is advertised. Parts are
//! streamed one after another into the file tree; nothing holds the whole request.
//! Shape: nextcloud/documentation developer_manual/client_apis/WebDAV/bulkupload.rst.

use std::time::Duration;

use http::{StatusCode, header};
use serde_json::{Map, Value, json};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, BufReader};

use super::put::parse_unix;
use super::{DavError, DavResult, props};
use crate::files::PutOptions;
use crate::http::{Ctx, body::BodyReader, response};

/// Longest header line or boundary line accepted.
const MAX_LINE: usize = 8 * 1024;
/// Most parts in one request.
const MAX_PARTS: usize = 10_000;

pub async fn handle(mut ctx: Ctx, uid: String) -> DavResult {
    if ctx.method != http::Method::POST {
        return Err(DavError::method_not_allowed("Bulk upload takes POST"));
    }
    let ctype = ctx.header(header::CONTENT_TYPE).unwrap_or("").to_owned();
    // Bulk uploads answer to the same locks as every write (the tokens of an `If` header).
    let held = super::locks::held(&ctx);
    if !ctype.to_ascii_lowercase().starts_with("multipart/related") {
        return Err(DavError::bad_request(
            "Bulk upload needs Content-Type: multipart/related",
        ));
    }
    let boundary = ctype
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .filter(|b| !b.is_empty() && b.len() <= 200)
        .ok_or_else(|| DavError::bad_request("multipart/related without a boundary"))?;
    let timeout = Duration::from_secs(ctx.app.config.limits.body_read_timeout_secs);
    let body = ctx
        .body
        .take()
        .ok_or_else(|| DavError::bad_request("no body"))?;
    let mut r = BufReader::with_capacity(64 * 1024, BodyReader::new(body, timeout));
    let delim = format!("--{boundary}");
    // Skip any preamble up to the first boundary.
    loop {
        let line = read_line(&mut r)
            .await?
            .ok_or_else(|| DavError::bad_request("multipart body without a boundary"))?;
        if line.trim_end() == delim {
            break;
        }
    }
    let quota = ctx
        .app
        .accounts
        .user(&uid)
        .map_err(|_| DavError::not_found("No such user"))?
        .quota;
    let instance = ctx.app.accounts.instance_id().unwrap_or_default();
    let mut results = Map::new();
    for _ in 0..MAX_PARTS {
        let mut headers: Vec<(String, String)> = Vec::new();
        loop {
            let line = read_line(&mut r)
                .await?
                .ok_or_else(|| DavError::bad_request("multipart part ends inside its headers"))?;
            let line = line.trim_end_matches(['\r', '\n']);
            if line.is_empty() {
                break;
            }
            let (k, v) = line
                .split_once(':')
                .ok_or_else(|| DavError::bad_request(format!("malformed part header {line:?}")))?;
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
        let get = |k: &str| {
            headers
                .iter()
                .find(|(n, _)| n == k)
                .map(|(_, v)| v.as_str())
        };
        let len: u64 = get("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| DavError::bad_request("every part needs a Content-Length"))?;
        let path = get("x-file-path")
            .ok_or_else(|| DavError::bad_request("every part needs X-File-Path"))?
            .to_owned();
        let opts = PutOptions {
            mtime: parse_unix("X-File-Mtime", get("x-file-mtime").or(get("x-oc-mtime")))?,
            checksum: get("oc-checksum").map(str::to_owned),
            md5: get("x-file-md5").map(str::to_owned),
            expected_length: Some(len),
            total_length: Some(len),
            held: held.clone(),
            ..PutOptions::default()
        };
        let outcome = match crate::files::names::split(&path) {
            Err(e) => Err(e.to_string()),
            Ok(segs) => {
                let mut part = (&mut r).take(len);
                let res = ctx
                    .app
                    .files
                    .put(&ctx.actor, &uid, &segs, quota, &mut part, opts)
                    .await;
                // Whatever happened, the rest of this part must be consumed to reach the next.
                tokio::io::copy(&mut part, &mut tokio::io::sink())
                    .await
                    .map_err(|e| DavError::bad_request(format!("the upload broke off: {e}")))?;
                if part.limit() > 0 {
                    return Err(DavError::bad_request(
                        "a part is shorter than its Content-Length",
                    ));
                }
                res.map_err(|e| e.to_string())
            }
        };
        results.insert(
            path,
            match outcome {
                Ok(p) => json!({
                    "error": false,
                    "etag": format!("\"{}\"", p.node.etag),
                    "fileid": super::oc_id(p.node.id, &instance),
                    "permissions": props::permissions(p.node.is_dir()),
                }),
                Err(message) => json!({"error": true, "message": message}),
            },
        );
        // After the content: CRLF, then the next boundary or the closing one.
        let mut end = read_line(&mut r).await?.unwrap_or_default();
        if end.trim_end().is_empty() {
            end = read_line(&mut r).await?.unwrap_or_default();
        }
        let end = end.trim_end();
        if end == format!("{delim}--") {
            return Ok(response::json(StatusCode::OK, &Value::Object(results)));
        }
        if end != delim {
            return Err(DavError::bad_request(
                "a part is not followed by the boundary",
            ));
        }
    }
    Err(DavError::bad_request(format!(
        "at most {MAX_PARTS} files per bulk upload"
    )))
}

async fn read_line<R: tokio::io::AsyncBufRead + Unpin>(r: &mut R) -> DavResult<Option<String>> {
    let mut buf = Vec::new();
    let n = (&mut *r)
        .take(MAX_LINE as u64)
        .read_until(b'\n', &mut buf)
        .await
        .map_err(|e| DavError::bad_request(format!("the upload broke off: {e}")))?;
    if n == 0 {
        return Ok(None);
    }
    if !buf.ends_with(b"\n") && n >= MAX_LINE {
        return Err(DavError::bad_request("a multipart header line is too long"));
    }
    Ok(Some(String::from_utf8_lossy(&buf).into_owned()))
}
