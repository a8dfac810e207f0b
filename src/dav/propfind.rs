//! PROPFIND, streamed: the answer for a folder of 100,000 entries is written in batches while
//! the client reads it, so memory stays flat.

use http::{StatusCode, header};

use super::props::{self, PropCtx, Want};
use super::xml::{MULTISTATUS_CLOSE, MULTISTATUS_OPEN, push_encoded_path};
use super::{DavError, DavResult, Req};
use crate::bufpool::BufPool;
use crate::files::Node;
use crate::http::{Ctx, Resp, body, response};
use http_body_util::BodyExt;

/// Entries per page (one read, one chunk of ~100 KB). With two pages queued for the socket and
/// two buffers kept for reuse, a listing of any length holds well under 1 MiB.
const BATCH: usize = 128;

pub async fn handle(mut ctx: Ctx, req: Req) -> DavResult {
    let depth = match ctx.header("depth").map(str::trim) {
        None | Some("1") => 1,
        Some("0") => 0,
        Some(d) if d.eq_ignore_ascii_case("infinity") => {
            return Err(DavError::forbidden(
                "PROPFIND with Depth: infinity is not supported; use Depth: 1",
            )
            .with_condition("propfind-finite-depth"));
        }
        Some(d) => {
            return Err(DavError::bad_request(format!(
                "Depth: {d:?} is not 0, 1 or infinity"
            )));
        }
    };
    let body = super::xml_body(&mut ctx).await?;
    let want = props::parse_want(body.as_ref()).map_err(DavError::bad_request)?;
    let app = ctx.app.clone();
    let node = app
        .files
        .lookup(&ctx.actor, &req.uid, &req.segs)?
        .ok_or_else(|| DavError::not_found("File not found"))?;
    let pc = prop_ctx(&ctx, &req.uid)?;
    let mut head = String::from(MULTISTATUS_OPEN);
    head.push('\n');
    render(&ctx, &req, &req.segs, &node, &want, &pc, &mut head)?;
    if depth == 0 || !node.is_dir() {
        head.push_str(MULTISTATUS_CLOSE);
        return Ok(multistatus(response::full(head)));
    }
    let (tx, rx) = body::channel(2);
    let app = ctx.app.clone();
    let parent_segs = req.segs.clone();
    // Every child's href is the folder's href plus its name: encoded once here.
    let base = req.href(&req.segs, true);
    let (needs_dead, needs_locks) = (want.needs_dead(), want.needs_locks());
    tokio::spawn(async move {
        if tx.send(head.into()).await.is_err() {
            return;
        }
        let prepared = props::Prepared::new(&want);
        let pool = BufPool::new(2);
        let mut href = String::with_capacity(base.len() + 64);
        let mut after: Option<String> = None;
        loop {
            let mut chunk = pool
                .take()
                .and_then(|mut b| {
                    b.clear();
                    String::from_utf8(b).ok()
                })
                .unwrap_or_else(|| String::with_capacity(BATCH * 768));
            // Each page is rendered straight from the stored records, inside one read
            // transaction; nothing of it is copied into a node first.
            let page = app
                .files
                .visit_children(node.id, after.as_deref(), BATCH, |child| {
                    href.clear();
                    href.push_str(&base);
                    push_encoded_path(&mut href, child.name);
                    if child.is_dir() {
                        href.push('/');
                    }
                    let dead = if needs_dead {
                        app.files.dead_props(child.id).unwrap_or_default()
                    } else {
                        Vec::new()
                    };
                    let locks = if needs_locks {
                        let mut segs = parent_segs.clone();
                        segs.push(child.name.to_owned());
                        super::locks::discovery(app.files.locks(), &req.uid, &segs)
                    } else {
                        String::new()
                    };
                    match &prepared {
                        Some(p) => {
                            props::write_prepared(&mut chunk, &href, child, p, &pc, &dead, &locks)
                        }
                        None => props::write_response(
                            &mut chunk, &href, child, &want, &pc, &dead, &locks,
                        ),
                    }
                });
            match page {
                Ok(Some(last)) => after = Some(last),
                Ok(None) => break,
                Err(e) => {
                    // The status line is gone already; end the document so the client sees
                    // a truncated listing rather than hanging.
                    tracing::error!(error = %e, "PROPFIND listing failed midway");
                    break;
                }
            }
            let len = chunk.len();
            if tx.send(pool.freeze(chunk.into_bytes(), len)).await.is_err() {
                return;
            }
        }
        let _ = tx.send(MULTISTATUS_CLOSE.into()).await;
    });
    Ok(multistatus(rx.boxed_unsync()))
}

pub fn multistatus(body: crate::http::Body) -> Resp {
    let mut r = response::with_room(body, 4);
    *r.status_mut() = StatusCode::MULTI_STATUS;
    // Exactly this string: the desktop client 3.7 accepts no other (protocol notes, trap 1).
    response::set_header(
        &mut r,
        header::CONTENT_TYPE,
        "application/xml; charset=utf-8",
    );
    r
}

pub fn prop_ctx(ctx: &Ctx, uid: &str) -> DavResult<PropCtx> {
    let user = ctx
        .app
        .accounts
        .user(uid)
        .map_err(|_| DavError::not_found("No such user"))?;
    let root = ctx.app.files.root(&ctx.actor, uid)?;
    Ok(PropCtx {
        instance: ctx.app.accounts.instance_id().unwrap_or_default(),
        owner_display: user.display_name,
        quota: user.quota,
        used: root.size,
        root_id: root.id,
    })
}

pub fn render(
    ctx: &Ctx,
    req: &Req,
    segs: &[String],
    node: &Node,
    want: &Want,
    pc: &PropCtx,
    out: &mut String,
) -> DavResult<()> {
    let dead = if want.needs_dead() {
        ctx.app.files.dead_props(node.id)?
    } else {
        Vec::new()
    };
    let locks = if want.needs_locks() {
        super::locks::discovery(ctx.app.files.locks(), &req.uid, segs)
    } else {
        String::new()
    };
    props::write_response(
        out,
        &req.href(segs, node.is_dir()),
        &node.view(),
        want,
        pc,
        &dead,
        &locks,
    );
    Ok(())
}
