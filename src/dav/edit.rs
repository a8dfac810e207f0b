//! MKCOL, DELETE, COPY and MOVE.

use http::StatusCode;

use super::locks::{check_write, check_write_tree, held, resource_segs};
use super::{DavError, DavResult, Req, put};
use crate::http::{Ctx, response};

pub async fn mkcol(mut ctx: Ctx, req: Req) -> DavResult {
    let body = ctx.small_body().await.map_err(|e| {
        DavError::new(
            e.status(),
            "Sabre\\DAV\\Exception\\BadRequest",
            e.to_string(),
        )
    })?;
    if !body.is_empty() {
        return Err(DavError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Sabre\\DAV\\Exception\\UnsupportedMediaType",
            "MKCOL with a body is not supported for files",
        ));
    }
    if req.segs.is_empty() {
        return Err(DavError::method_not_allowed(
            "The resource you tried to create already exists",
        ));
    }
    check_write(&ctx, &req, &req.segs, true)?;
    let mtime = put::parse_unix("X-OC-MTime", ctx.header("x-oc-mtime"))?;
    let node = ctx
        .app
        .files
        .mkdir(&ctx.actor, &req.uid, &req.segs, mtime, &held(&ctx))?;
    Ok(put::write_response(
        &ctx,
        StatusCode::CREATED,
        &node,
        mtime.is_some(),
        false,
    ))
}

pub async fn delete(ctx: Ctx, req: Req) -> DavResult {
    let node = ctx
        .app
        .files
        .lookup(&ctx.actor, &req.uid, &req.segs)?
        .ok_or_else(|| DavError::not_found("File not found"))?;
    if node.is_dir()
        && let Some(d) = ctx.header("depth")
        && !d.trim().eq_ignore_ascii_case("infinity")
    {
        return Err(DavError::bad_request(
            "DELETE of a folder needs Depth: infinity",
        ));
    }
    check_write_tree(&ctx, &req, &req.segs, true, true)?;
    ctx.app
        .files
        .delete(&ctx.actor, &req.uid, &req.segs, &held(&ctx))
        .await?;
    ctx.app.files.locks().forget_subtree(&req.uid, &req.segs);
    let mut r = response::with_room(response::empty(), 8);
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

pub async fn copy_move(ctx: Ctx, req: Req) -> DavResult {
    let is_move = ctx.method.as_str() == "MOVE";
    let dest = ctx
        .header("destination")
        .ok_or_else(|| DavError::bad_request("COPY and MOVE need a Destination header"))?;
    let to = resource_segs(&req, dest).ok_or_else(|| {
        DavError::forbidden("The destination is outside your space or not a valid path")
    })?;
    let overwrite = match ctx.header("overwrite").map(str::trim) {
        None | Some("T" | "t") => true,
        Some("F" | "f") => false,
        Some(o) => {
            return Err(DavError::bad_request(format!(
                "Overwrite: {o:?} is not T or F"
            )));
        }
    };
    let src = ctx
        .app
        .files
        .lookup(&ctx.actor, &req.uid, &req.segs)?
        .ok_or_else(|| DavError::not_found("File not found"))?;
    let deep = match ctx.header("depth").map(str::trim) {
        None => true,
        Some(d) if d.eq_ignore_ascii_case("infinity") => true,
        Some("0") if !is_move => false,
        Some(d) => {
            return Err(DavError::bad_request(format!(
                "Depth: {d:?} is not valid for {}",
                ctx.method
            )));
        }
    };
    if req.segs == to {
        return Err(DavError::forbidden("Source and destination are the same"));
    }
    if is_move {
        check_write_tree(&ctx, &req, &req.segs, true, true)?;
    }
    check_write_tree(&ctx, &req, &to, true, true)?;
    let quota = ctx
        .app
        .accounts
        .user(&req.uid)
        .map_err(|_| DavError::not_found("No such user"))?
        .quota;
    let (node, replaced) = if is_move {
        let r = ctx
            .app
            .files
            .rename(&ctx.actor, &req.uid, &req.segs, &to, overwrite, &held(&ctx))
            .await?;
        ctx.app.files.locks().forget_subtree(&req.uid, &req.segs);
        r
    } else {
        ctx.app
            .files
            .copy(
                &ctx.actor,
                &req.uid,
                &req.segs,
                &to,
                overwrite,
                deep || !src.is_dir(),
                quota,
                &held(&ctx),
            )
            .await?
    };
    let status = if replaced {
        StatusCode::NO_CONTENT
    } else {
        StatusCode::CREATED
    };
    Ok(put::write_response(&ctx, status, &node, false, false))
}
