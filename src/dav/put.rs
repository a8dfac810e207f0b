//! PUT: the body streams into the blob store (never buffered whole) with its SHA-1 computed on
//! the way; quota and preconditions are checked before and after.

use std::time::Duration;

use http::{StatusCode, header};

use super::{DavError, DavResult, Req, locks};
use crate::files::{FilesError, PutOptions};
use crate::http::{Ctx, Resp, body::BodyReader, response};

pub fn parse_unix(header_name: &str, v: Option<&str>) -> DavResult<Option<i64>> {
    match v {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|f| f.is_finite() && *f >= 0.0 && *f < 1e13)
            .map(|f| {
                #[allow(clippy::cast_possible_truncation)]
                Some(f as i64)
            })
            .ok_or_else(|| {
                DavError::bad_request(format!("{header_name}: {s:?} is not a unix time"))
            }),
    }
}

pub fn put_options(ctx: &Ctx) -> DavResult<PutOptions> {
    let num = |name: &str| -> DavResult<Option<u64>> {
        match ctx.header(name) {
            None => Ok(None),
            Some(v) => v
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| DavError::bad_request(format!("{name}: {v:?} is not a number"))),
        }
    };
    let total = num("oc-total-length")?;
    Ok(PutOptions {
        mtime: parse_unix("X-OC-MTime", ctx.header("x-oc-mtime"))?,
        ctime: parse_unix("X-OC-CTime", ctx.header("x-oc-ctime"))?,
        checksum: ctx.header("oc-checksum").map(str::to_owned),
        expected_length: total.or(num("content-length")?),
        total_length: total,
        if_match: ctx.header(header::IF_MATCH).map(str::to_owned),
        if_none_match_any: ctx
            .header(header::IF_NONE_MATCH)
            .is_some_and(|v| v.trim() == "*"),
        md5: None,
        held: super::locks::held(ctx),
    })
}

pub async fn handle(mut ctx: Ctx, req: Req) -> DavResult {
    if req.segs.is_empty() {
        return Err(DavError::method_not_allowed(
            "The root folder cannot be replaced by a file",
        ));
    }
    if ctx.header(header::CONTENT_RANGE).is_some() {
        return Err(DavError::bad_request(
            "Partial PUT with Content-Range is not supported",
        ));
    }
    let opts = put_options(&ctx)?;
    locks::check_write(&ctx, &req, &req.segs, true)?;
    let held = locks::held(&ctx);
    if ctx.header("x-nc-webdav-automkcol") == Some("1") {
        for i in 1..req.segs.len() {
            match ctx
                .app
                .files
                .mkdir(&ctx.actor, &req.uid, &req.segs[..i], None, &held)
            {
                Ok(_) | Err(FilesError::AlreadyExists) => {}
                Err(e) => return Err(e.into()),
            }
        }
    }
    let quota = ctx
        .app
        .accounts
        .user(&req.uid)
        .map_err(|_| DavError::not_found("No such user"))?
        .quota;
    let timeout = Duration::from_secs(ctx.app.config.limits.body_read_timeout_secs);
    let Some(body) = ctx.body.take() else {
        return Err(DavError::bad_request("no body"));
    };
    let reader = BodyReader::new(body, timeout);
    let mtime_sent = opts.mtime.is_some();
    let ctime_sent = opts.ctime.is_some();
    let r = ctx
        .app
        .files
        .put(&ctx.actor, &req.uid, &req.segs, quota, reader, opts)
        .await?;
    let status = if r.created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    };
    Ok(write_response(
        &ctx, status, &r.node, mtime_sent, ctime_sent,
    ))
}

/// The headers every upload-type answer carries (protocol notes, trap 6).
pub fn write_response(
    ctx: &Ctx,
    status: StatusCode,
    node: &crate::files::Node,
    mtime_sent: bool,
    ctime_sent: bool,
) -> Resp {
    let mut r = response::with_room(response::empty(), 8);
    *r.status_mut() = status;
    let etag = format!("\"{}\"", node.etag);
    response::set_header(&mut r, header::ETAG, &etag);
    response::set_header(&mut r, header::HeaderName::from_static("oc-etag"), &etag);
    let id = super::oc_id(node.id, &ctx.app.accounts.instance_id().unwrap_or_default());
    response::set_header(&mut r, header::HeaderName::from_static("oc-fileid"), &id);
    if mtime_sent {
        response::set_header(
            &mut r,
            header::HeaderName::from_static("x-oc-mtime"),
            "accepted",
        );
    }
    if ctime_sent {
        response::set_header(
            &mut r,
            header::HeaderName::from_static("x-oc-ctime"),
            "accepted",
        );
    }
    r.headers_mut().insert(header::CONTENT_LENGTH, 0.into());
    r
}
