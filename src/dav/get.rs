//! GET and HEAD: streamed from the blob store, with `Range`, `If-Range` and the conditional
//! headers, and the headers Nextcloud clients check (ETag/OC-ETag, OC-Checksum). No
//! `OC-FileId`: Nextcloud sends it on what creates or writes a file, not on a download, and no
//! client reads it there (the id comes from PROPFIND); every answer's header is parse work
//! for the client.

use http::{StatusCode, header};

use super::props::http_date;
use super::{DavError, DavResult, Req};
use crate::files::Node;
use crate::http::{Ctx, Resp, response};

/// Ranges up to this size are read whole in one step.
const SMALL: u64 = 256 * 1024;

pub async fn handle(ctx: Ctx, req: Req) -> DavResult {
    let (node, inline) = ctx
        .app
        .files
        .lookup_for_read(&ctx.actor, &req.uid, &req.segs)?
        .ok_or_else(|| DavError::not_found("File not found"))?;
    if node.is_dir() {
        return Err(DavError::new(
            StatusCode::NOT_IMPLEMENTED,
            "Sabre\\DAV\\Exception\\NotImplemented",
            "GET is only implemented on files",
        ));
    }
    let etag = format!("\"{}\"", node.etag);
    if let Some(status) = preconditions(&ctx, &node, &etag) {
        let mut r = response::with_room(response::empty(), 8);
        *r.status_mut() = status;
        common_headers(&mut r, &node, &etag);
        return Ok(r);
    }
    let len = node.size;
    let range = if if_range_ok(&ctx, &node, &etag) {
        ctx.header(header::RANGE).map(|r| parse_range(r, len))
    } else {
        None
    };
    let (status, start, count) = match range {
        None | Some(Range::Ignore) => (StatusCode::OK, 0, len),
        Some(Range::Unsatisfiable) => {
            let mut r = DavError::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                "Sabre\\DAV\\Exception\\RequestedRangeNotSatisfiable",
                "The requested range is not satisfiable",
            )
            .into_response();
            response::set_header(&mut r, header::CONTENT_RANGE, &format!("bytes */{len}"));
            return Ok(r);
        }
        Some(Range::Part(a, b)) => (StatusCode::PARTIAL_CONTENT, a, b - a + 1),
    };
    let body = if ctx.method == http::Method::HEAD || count == 0 {
        response::empty()
    } else if let Some(content) = inline.filter(|c| c.len() as u64 == len) {
        let (from, to) = (start as usize, (start + count) as usize);
        response::full(content.slice(from..to))
    } else if count <= SMALL {
        response::full(ctx.app.files.read_small(&node, start, count).await?)
    } else {
        http_body_util::BodyExt::boxed_unsync(crate::http::body::file_range(
            ctx.app.files.blob_path(&node)?,
            start,
            count,
        ))
    };
    // Ours, and those `http::server` adds to every answer.
    let mut r = response::with_room(body, 16);
    *r.status_mut() = status;
    common_headers(&mut r, &node, &etag);
    let h = r.headers_mut();
    h.insert(header::CONTENT_LENGTH, count.into());
    if status == StatusCode::PARTIAL_CONTENT {
        response::set_header(
            &mut r,
            header::CONTENT_RANGE,
            &format!("bytes {start}-{}/{len}", start + count - 1),
        );
    }
    response::set_header(&mut r, header::CONTENT_TYPE, &node.content_type);
    let enc = super::xml::encode_path(&node.name);
    response::set_header(
        &mut r,
        header::CONTENT_DISPOSITION,
        &format!("attachment; filename*=UTF-8''{enc}; filename=\"{enc}\""),
    );
    // Only a checksum Hearth verified: the desktop client fails a download that does not match.
    if let Some(sum) = node.verified_checksum() {
        response::set_header(&mut r, header::HeaderName::from_static("oc-checksum"), &sum);
    }
    Ok(r)
}

fn common_headers(r: &mut Resp, node: &Node, etag: &str) {
    response::set_header(r, header::ETAG, etag);
    response::set_header(r, header::HeaderName::from_static("oc-etag"), etag);
    response::set_header(r, header::LAST_MODIFIED, &http_date(node.mtime));
    response::set_header(r, header::ACCEPT_RANGES, "bytes");
}

pub fn etag_matches(list: &str, etag: &str) -> bool {
    list.split(',').any(|t| {
        let t = t.trim();
        t == "*" || t.trim_start_matches("W/") == etag
    })
}

fn parse_date(s: &str) -> Option<i64> {
    httpdate::parse_http_date(s)
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

/// RFC 9110 §13.2.2 order: If-Match, If-Unmodified-Since, If-None-Match, If-Modified-Since.
fn preconditions(ctx: &Ctx, node: &Node, etag: &str) -> Option<StatusCode> {
    if let Some(m) = ctx.header(header::IF_MATCH) {
        if !etag_matches(m, etag) {
            return Some(StatusCode::PRECONDITION_FAILED);
        }
    } else if let Some(d) = ctx.header(header::IF_UNMODIFIED_SINCE).and_then(parse_date)
        && node.mtime > d
    {
        return Some(StatusCode::PRECONDITION_FAILED);
    }
    if let Some(m) = ctx.header(header::IF_NONE_MATCH) {
        if etag_matches(m, etag) {
            return Some(StatusCode::NOT_MODIFIED);
        }
    } else if let Some(d) = ctx.header(header::IF_MODIFIED_SINCE).and_then(parse_date)
        && node.mtime <= d
    {
        return Some(StatusCode::NOT_MODIFIED);
    }
    None
}

fn if_range_ok(ctx: &Ctx, node: &Node, etag: &str) -> bool {
    match ctx.header(header::IF_RANGE) {
        None => true,
        Some(v) if v.starts_with('"') || v.starts_with("W/") => v == etag,
        Some(v) => parse_date(v).is_some_and(|d| node.mtime <= d),
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Range {
    Part(u64, u64),
    Unsatisfiable,
    /// Malformed or several ranges: serve the whole file (RFC 9110 allows ignoring Range).
    Ignore,
}

fn parse_range(h: &str, len: u64) -> Range {
    let Some(spec) = h.trim().strip_prefix("bytes=") else {
        return Range::Ignore;
    };
    if spec.contains(',') {
        return Range::Ignore;
    }
    let Some((a, b)) = spec.trim().split_once('-') else {
        return Range::Ignore;
    };
    let (a, b) = (a.trim(), b.trim());
    let range = match (a.is_empty(), b.is_empty()) {
        (true, false) => match b.parse::<u64>() {
            Ok(0) => return Range::Unsatisfiable,
            Ok(n) => (len.saturating_sub(n), len.saturating_sub(1)),
            Err(_) => return Range::Ignore,
        },
        (false, _) => {
            let Ok(start) = a.parse::<u64>() else {
                return Range::Ignore;
            };
            let end = if b.is_empty() {
                len.saturating_sub(1)
            } else {
                match b.parse::<u64>() {
                    Ok(e) if e >= start => e.min(len.saturating_sub(1)),
                    _ => return Range::Ignore,
                }
            };
            (start, end)
        }
        (true, true) => return Range::Ignore,
    };
    if len == 0 || range.0 >= len {
        return Range::Unsatisfiable;
    }
    Range::Part(range.0, range.1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges() {
        assert_eq!(parse_range("bytes=0-9", 100), Range::Part(0, 9));
        assert_eq!(parse_range("bytes=90-", 100), Range::Part(90, 99));
        assert_eq!(parse_range("bytes=-10", 100), Range::Part(90, 99));
        assert_eq!(parse_range("bytes=95-200", 100), Range::Part(95, 99));
        assert_eq!(parse_range("bytes=100-", 100), Range::Unsatisfiable);
        assert_eq!(parse_range("bytes=0-1,5-6", 100), Range::Ignore);
        assert_eq!(parse_range("items=0-1", 100), Range::Ignore);
        assert_eq!(parse_range("bytes=5-2", 100), Range::Ignore);
    }
}
