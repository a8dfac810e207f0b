//! PROPPATCH: all or nothing. Dead properties are kept as given; the live properties clients
//! set (`oc:favorite`, `d:lastmodified`, `nc:creation_time`) are applied; protected ones get
//! 403 and every other property in the request 424.

use http::StatusCode;

use super::locks::check_write;
use super::propfind::multistatus;
use super::props::is_live;
use super::xml::{El, MULTISTATUS_CLOSE, MULTISTATUS_OPEN, NS_DAV, open_tag};
use super::{DavError, DavResult, Req};
use crate::http::{Ctx, response};

enum Op {
    Favorite(bool),
    Mtime(i64),
    Dead(String, Option<String>),
    Ignore,
}

pub async fn handle(mut ctx: Ctx, req: Req) -> DavResult {
    let body = super::xml_body(&mut ctx)
        .await?
        .ok_or_else(|| DavError::bad_request("PROPPATCH needs a propertyupdate body"))?;
    if !body.is(NS_DAV, "propertyupdate") {
        return Err(DavError::bad_request(
            "The body must be a DAV:propertyupdate element",
        ));
    }
    let node = ctx
        .app
        .files
        .lookup(&ctx.actor, &req.uid, &req.segs)?
        .ok_or_else(|| DavError::not_found("File not found"))?;
    check_write(&ctx, &req, &req.segs, false)?;
    let mut ops: Vec<(String, Result<Op, StatusCode>)> = Vec::new();
    for action in &body.children {
        let set = if action.is(NS_DAV, "set") {
            true
        } else if action.is(NS_DAV, "remove") {
            false
        } else {
            continue;
        };
        for prop in action
            .child(NS_DAV, "prop")
            .map(|p| p.children.as_slice())
            .unwrap_or_default()
        {
            ops.push((prop.clark(), plan(prop, set)));
        }
    }
    let failed = ops.iter().any(|(_, r)| r.is_err());
    if !failed {
        let mut dead = Vec::new();
        for (_, op) in &ops {
            match op {
                Ok(Op::Favorite(f)) => ctx.app.files.set_favorite(node.id, *f)?,
                Ok(Op::Mtime(t)) => ctx.app.files.set_mtime(node.id, *t)?,
                Ok(Op::Dead(name, value)) => dead.push((name.clone(), value.clone())),
                _ => {}
            }
        }
        ctx.app.files.patch_dead_props(node.id, &dead)?;
    }
    let mut out = String::from(MULTISTATUS_OPEN);
    out.push_str("<d:response><d:href>");
    out.push_str(&req.href(&req.segs, node.is_dir()));
    out.push_str("</d:href>");
    let mut groups: Vec<(StatusCode, String)> = Vec::new();
    for (clark, r) in &ops {
        let status = match r {
            Err(s) => *s,
            Ok(_) if failed => StatusCode::FAILED_DEPENDENCY,
            Ok(_) => StatusCode::OK,
        };
        let (tag, decl) = open_tag(clark);
        let el = format!("<{tag}{decl}/>");
        match groups.iter_mut().find(|(s, _)| *s == status) {
            Some((_, s)) => s.push_str(&el),
            None => groups.push((status, el)),
        }
    }
    for (status, props) in groups {
        out.push_str(&format!(
            "<d:propstat><d:prop>{props}</d:prop><d:status>HTTP/1.1 {} {}</d:status></d:propstat>",
            status.as_u16(),
            status.canonical_reason().unwrap_or("")
        ));
    }
    out.push_str("</d:response>");
    out.push_str(MULTISTATUS_CLOSE);
    Ok(multistatus(response::full(out)))
}

fn plan(prop: &El, set: bool) -> Result<Op, StatusCode> {
    let clark = prop.clark();
    match clark.as_str() {
        "{http://owncloud.org/ns}favorite" => Ok(Op::Favorite(
            set && matches!(prop.text_content().trim(), "1" | "true"),
        )),
        "{DAV:}lastmodified" | "{DAV:}getlastmodified" if set => {
            let v = prop.text_content();
            let v = v.trim();
            v.parse::<i64>()
                .ok()
                .or_else(|| {
                    httpdate::parse_http_date(v)
                        .ok()
                        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
                        .and_then(|d| i64::try_from(d.as_secs()).ok())
                })
                .map(Op::Mtime)
                .ok_or(StatusCode::BAD_REQUEST)
        }
        "{http://nextcloud.org/ns}creation_time" => Ok(Op::Ignore),
        c if is_live(c) => Err(StatusCode::FORBIDDEN),
        _ => Ok(Op::Dead(clark.clone(), set.then(|| prop.inner_xml()))),
    }
}
