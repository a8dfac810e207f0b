//! REPORT `oc:filter-files`: favourites below a folder (Android, iOS and the desktop use it).

use http::StatusCode;

use super::propfind::{multistatus, prop_ctx, render};
use super::props::Want;
use super::xml::{MULTISTATUS_CLOSE, MULTISTATUS_OPEN, NS_DAV, NS_OC};
use super::{DavError, DavResult, Req};
use crate::http::{Ctx, response};

/// Most results one report returns.
const LIMIT: usize = 10_000;

pub async fn handle(mut ctx: Ctx, req: Req) -> DavResult {
    let body = super::xml_body(&mut ctx)
        .await?
        .ok_or_else(|| DavError::bad_request("REPORT needs a body"))?;
    if !body.is(NS_OC, "filter-files") {
        return Err(DavError::new(
            StatusCode::FORBIDDEN,
            "Sabre\\DAV\\Exception\\ReportNotSupported",
            "This report is not supported here",
        )
        .with_condition("supported-report"));
    }
    let rules = body
        .child(NS_OC, "filter-rules")
        .ok_or_else(|| DavError::bad_request("filter-files needs filter-rules"))?;
    let favorite = rules
        .child(NS_OC, "favorite")
        .map(|f| f.text_content().trim() == "1");
    if rules.child(NS_OC, "systemtag").is_some() {
        return Err(DavError::bad_request("Tags are not supported yet"));
    }
    let want = match body.child(NS_DAV, "prop") {
        Some(p) => Want::Props(p.children.iter().map(super::xml::El::clark).collect()),
        None => Want::Props(vec![
            "{DAV:}resourcetype".into(),
            "{DAV:}getetag".into(),
            "{http://owncloud.org/ns}fileid".into(),
        ]),
    };
    let top = ctx
        .app
        .files
        .lookup(&ctx.actor, &req.uid, &req.segs)?
        .ok_or_else(|| DavError::not_found("File not found"))?;
    let pc = prop_ctx(&ctx, &req.uid)?;
    let mut hits = Vec::new();
    ctx.app.files.descendants(&top, |path, n| {
        if favorite.is_none_or(|f| n.favorite == f) {
            let mut segs = req.segs.clone();
            segs.extend_from_slice(path);
            hits.push((segs, n.clone()));
        }
        hits.len() < LIMIT
    })?;
    let mut out = String::from(MULTISTATUS_OPEN);
    for (segs, n) in &hits {
        render(&ctx, &req, segs, n, &want, &pc, &mut out)?;
    }
    out.push_str(MULTISTATUS_CLOSE);
    Ok(multistatus(response::full(out)))
}
