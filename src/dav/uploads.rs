//! `/remote.php/dav/uploads/{user}/{id}/…`: MKCOL starts an upload, PUT stores chunks,
//! PROPFIND lists them (clients resume from it), MOVE of `.file` assembles, DELETE aborts.

use std::time::Duration;

use http::StatusCode;

use super::locks::{check_write, resource_segs};
use super::propfind::multistatus;
use super::props::http_date;
use super::xml::{MULTISTATUS_CLOSE, MULTISTATUS_OPEN, encode_path};
use super::{DavError, DavResult, Req, put};
use crate::files::FilesError;
use crate::http::{Ctx, body::BodyReader, response};

pub async fn handle(mut ctx: Ctx, uid: String, path: &str) -> DavResult {
    let parts: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let base = format!("/remote.php/dav/uploads/{}", encode_path(&uid));
    let files = &ctx.app.files;
    match (ctx.method.as_str(), parts.as_slice()) {
        ("PROPFIND", []) => {
            let body = format!(
                "{MULTISTATUS_OPEN}<d:response><d:href>{base}/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>{MULTISTATUS_CLOSE}"
            );
            Ok(multistatus(response::full(body)))
        }
        ("MKCOL", [id]) => {
            let total = ctx
                .header("oc-total-length")
                .and_then(|v| v.trim().parse::<u64>().ok());
            if let Some(t) = total {
                check_quota(&ctx, &uid, t)?;
            }
            files.upload_create(&ctx.actor, &uid, id, total)?;
            let mut r = response::with_room(response::empty(), 8);
            *r.status_mut() = StatusCode::CREATED;
            Ok(r)
        }
        ("PUT", [id, chunk]) => {
            let limit = available(&ctx, &uid)?;
            let timeout = Duration::from_secs(ctx.app.config.limits.body_read_timeout_secs);
            let body = ctx
                .body
                .take()
                .ok_or_else(|| DavError::bad_request("no body"))?;
            let files = &ctx.app.files;
            match files
                .upload_put_chunk(
                    &ctx.actor,
                    &uid,
                    id,
                    chunk,
                    BodyReader::new(body, timeout),
                    limit,
                )
                .await
            {
                Err(FilesError::NotFound) => {
                    Err(DavError::not_found("No such upload; start it with MKCOL"))
                }
                Err(e) => Err(e.into()),
                Ok(()) => {
                    let mut r = response::with_room(response::empty(), 8);
                    *r.status_mut() = StatusCode::CREATED;
                    Ok(r)
                }
            }
        }
        ("PROPFIND", [id]) => {
            let up = files
                .upload_get(&ctx.actor, &uid, id)?
                .ok_or_else(|| DavError::not_found("No such upload"))?;
            let depth0 = ctx.header("depth").is_some_and(|d| d.trim() == "0");
            let when = http_date(i64::try_from(up.created_ms / 1000).unwrap_or(0));
            let mut out = format!(
                "{MULTISTATUS_OPEN}<d:response><d:href>{base}/{}/</d:href><d:propstat><d:prop><d:resourcetype><d:collection/></d:resourcetype><d:getlastmodified>{when}</d:getlastmodified></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\n",
                encode_path(id)
            );
            if !depth0 {
                for (name, c) in files.upload_chunks(&uid, id)? {
                    out.push_str(&format!(
                        "<d:response><d:href>{base}/{}/{}</d:href><d:propstat><d:prop><d:resourcetype/><d:getcontentlength>{}</d:getcontentlength><d:getetag>\"{}\"</d:getetag><d:getlastmodified>{when}</d:getlastmodified></d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat></d:response>\n",
                        encode_path(id),
                        encode_path(&name),
                        c.size,
                        c.blob
                    ));
                }
            }
            out.push_str(MULTISTATUS_CLOSE);
            Ok(multistatus(response::full(out)))
        }
        ("MOVE", [id, ".file"]) => assemble(ctx, uid, id).await,
        ("DELETE", [id]) => {
            if !files.upload_abort(&ctx.actor, &uid, id).await? {
                return Err(DavError::not_found("No such upload"));
            }
            let mut r = response::with_room(response::empty(), 8);
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(r)
        }
        ("DELETE", [id, chunk]) => {
            if !files
                .upload_delete_chunk(&ctx.actor, &uid, id, chunk)
                .await?
            {
                return Err(DavError::not_found("No such chunk"));
            }
            let mut r = response::with_room(response::empty(), 8);
            *r.status_mut() = StatusCode::NO_CONTENT;
            Ok(r)
        }
        ("MKCOL", []) => Err(DavError::method_not_allowed(
            "The upload area already exists",
        )),
        (m, _) => Err(DavError::method_not_allowed(format!(
            "{m} is not supported in the upload area"
        ))),
    }
}

fn available(ctx: &Ctx, uid: &str) -> DavResult<u64> {
    let user = ctx
        .app
        .accounts
        .user(uid)
        .map_err(|_| DavError::not_found("No such user"))?;
    let root = ctx.app.files.root(&ctx.actor, uid)?;
    Ok(user.quota.map_or(u64::MAX, |q| q.saturating_sub(root.size)))
}

fn check_quota(ctx: &Ctx, uid: &str, want: u64) -> DavResult<()> {
    if want > available(ctx, uid)? {
        return Err(FilesError::QuotaExceeded.into());
    }
    Ok(())
}

async fn assemble(ctx: Ctx, uid: String, id: &str) -> DavResult {
    let dest = ctx
        .header("destination")
        .ok_or_else(|| DavError::bad_request("MOVE of .file needs a Destination header"))?;
    let files_req = Req {
        uid: uid.clone(),
        segs: Vec::new(),
        base: format!("/remote.php/dav/files/{}", encode_path(&uid)),
    };
    let segs = resource_segs(&files_req, dest)
        .ok_or_else(|| DavError::forbidden("The destination is outside your space"))?;
    if segs.is_empty() {
        return Err(DavError::conflict("cannot write to the root folder"));
    }
    let req = Req {
        segs: segs.clone(),
        ..files_req
    };
    check_write(&ctx, &req, &segs, true)?;
    let mut opts = put::put_options(&ctx)?;
    // Content-Length of the MOVE itself is not the file's length.
    opts.expected_length = None;
    let quota = ctx
        .app
        .accounts
        .user(&uid)
        .map_err(|_| DavError::not_found("No such user"))?
        .quota;
    let mtime_sent = opts.mtime.is_some();
    match ctx
        .app
        .files
        .upload_assemble(&ctx.actor, &uid, id, &segs, quota, opts)
        .await
    {
        Err(FilesError::NotFound) => Err(DavError::not_found("No such upload")),
        Err(e) => Err(e.into()),
        Ok(r) => {
            let status = if r.created {
                StatusCode::CREATED
            } else {
                StatusCode::NO_CONTENT
            };
            Ok(put::write_response(
                &ctx, status, &r.node, mtime_sent, false,
            ))
        }
    }
}
