//! GET, PUT and DELETE of calendar objects and vCards.

use http::{StatusCode, header};

use super::GwPath;
use super::propfind::content_type;
use crate::accounts::access::{Action, Denial};
use crate::dav::props::http_date;
use crate::dav::{DavError, DavResult};
use std::sync::Arc;

use crate::groupware::scheduling::Outgoing;
use crate::groupware::{Conditions, GroupwareError, Kind, Precondition};
use crate::http::{BodyError, Ctx, response};
use crate::state::App;

fn object_path(path: &GwPath) -> Result<(Kind, &str, &str, &str), DavError> {
    match path {
        GwPath::Object(k, u, c, o) => Ok((*k, u, c, o)),
        _ => Err(DavError::method_not_allowed(
            "Only calendar objects and vCards can be read or written here",
        )),
    }
}

/// `If-Match` / `If-None-Match: *` as the service understands them.
fn conditions(ctx: &Ctx) -> Conditions {
    let strip = |v: &str| {
        let v = v.trim();
        let v = v.strip_prefix("W/").unwrap_or(v);
        v.trim_matches('"').to_owned()
    };
    Conditions {
        if_match: ctx
            .header(header::IF_MATCH)
            .map(|v| strip(v.split(',').next().unwrap_or(v))),
        if_none_match_any: ctx
            .header(header::IF_NONE_MATCH)
            .is_some_and(|v| v.trim() == "*"),
    }
}

pub async fn get(ctx: Ctx, me: String, path: GwPath) -> DavResult {
    let (kind, _, coll, uri) = match &path {
        GwPath::Collection(k, _, c) if ctx.query.split('&').any(|p| p == "export") => {
            let coll = super::collection_for(&ctx, &me, *k, c)?;
            return super::report::export(ctx.app.clone(), coll);
        }
        p => object_path(p)?,
    };
    let gw = &ctx.app.groupware;
    let c = super::collection_for(&ctx, &me, kind, coll)?;
    let o = gw
        .object(&c, uri)?
        .ok_or_else(|| DavError::not_found("No such object"))?;
    let etag = format!("\"{}\"", o.etag);
    if ctx
        .header(header::IF_NONE_MATCH)
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"))
    {
        let mut r = response::with(StatusCode::NOT_MODIFIED, "text/plain", "");
        response::set_header(&mut r, header::ETAG, &etag);
        return Ok(r);
    }
    let mut data = gw
        .object_data(c.id, uri)?
        .ok_or_else(|| DavError::not_found("No such object"))?;
    // `Accept: text/vcard; version=4.0` (or 3.0) converts a card stored in the other version.
    let mut converted = false;
    if kind == Kind::Addressbook
        && let Some(v) = ctx
            .header(header::ACCEPT)
            .and_then(|a| a.split(';').find_map(|p| p.trim().strip_prefix("version=")))
        && let Some(conv) =
            crate::groupware::vcard::convert(&String::from_utf8_lossy(&data), v.trim_matches('"'))
    {
        data = conv.into_bytes();
        converted = true;
    }
    let data_len = data.len();
    let mut r = http::Response::new(if ctx.method == http::Method::HEAD {
        response::empty()
    } else {
        response::full(data)
    });
    response::set_header(&mut r, header::CONTENT_TYPE, &content_type(&c, &o));
    response::set_header(&mut r, header::CONTENT_LENGTH, &data_len.to_string());
    if !converted {
        response::set_header(&mut r, header::ETAG, &etag);
    }
    response::set_header(&mut r, header::LAST_MODIFIED, &http_date(o.modified));
    Ok(r)
}

pub async fn put(mut ctx: Ctx, me: String, path: GwPath) -> DavResult {
    let (kind, _, coll, uri) = object_path(&path)?;
    let app = ctx.app.clone();
    let gw = &app.groupware;
    let c = super::collection_for(&ctx, &me, kind, coll)?;
    gw.authorize(&c, Action::Write).map_err(read_only)?;
    let limit = gw.max_object_bytes;
    let data = match ctx.body_up_to(limit).await {
        Ok(d) => d,
        Err(BodyError::TooLarge(_)) => {
            return Err(GroupwareError::Invalid(
                match kind {
                    Kind::Calendar => Precondition::CalendarMaxResourceSize,
                    Kind::Addressbook => Precondition::AddressbookMaxResourceSize,
                },
                format!("An object may be at most {limit} bytes"),
            )
            .into());
        }
        Err(e) => {
            return Err(DavError::new(
                e.status(),
                "Sabre\\DAV\\Exception\\BadRequest",
                e.to_string(),
            ));
        }
    };
    let cond = conditions(&ctx);
    let owned_uri = uri.to_owned();
    // Parsing and recurrence expansion are CPU work: keep them off the I/O threads.
    let app2 = app.clone();
    let (created, etag, outgoing) = tokio::task::spawn_blocking(move || {
        let (created, etag) = app2.groupware.put_object(&c, &owned_uri, &data, &cond)?;
        // Only the owner of a calendar sends invitations from it.
        let outgoing = if c.kind == Kind::Calendar && !c.is_shared_view() {
            let text = String::from_utf8_lossy(&data);
            let (mine, resolve) = addresses(&app2, &c.owner);
            app2.groupware
                .schedule_after_put(&c, &owned_uri, &text, &mine, &resolve)
                .unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "scheduling after PUT failed");
                    Vec::new()
                })
        } else {
            Vec::new()
        };
        Ok::<_, GroupwareError>((created, etag, outgoing))
    })
    .await
    .map_err(|_| DavError::bad_request("the object could not be processed"))??;
    send_imip(&app, outgoing);
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::NO_CONTENT
    };
    let mut r = response::with(status, "text/plain; charset=utf-8", "");
    response::set_header(&mut r, header::ETAG, &format!("\"{etag}\""));
    Ok(r)
}

pub async fn delete(ctx: Ctx, me: String, path: GwPath) -> DavResult {
    let (kind, _, coll, uri) = object_path(&path)?;
    let gw = &ctx.app.groupware;
    let c = super::collection_for(&ctx, &me, kind, coll)?;
    gw.authorize(&c, Action::Write).map_err(read_only)?;
    let old = gw.object_data(c.id, uri)?;
    gw.delete_object(&c, uri, &conditions(&ctx))?;
    if let (Kind::Calendar, Some(old), false) = (kind, old, c.is_shared_view()) {
        let (mine, resolve) = addresses(&ctx.app, &c.owner);
        match gw.schedule_after_delete(&c, &String::from_utf8_lossy(&old), &mine, &resolve) {
            Ok(out) => send_imip(&ctx.app, out),
            Err(e) => tracing::warn!(error = %e, "scheduling after DELETE failed"),
        }
    }
    Ok(response::with(
        StatusCode::NO_CONTENT,
        "text/plain; charset=utf-8",
        "",
    ))
}

/// The owner's calendar addresses, and a lookup from an address to a user of the box.
fn addresses(
    app: &Arc<App>,
    owner: &str,
) -> (Vec<String>, impl Fn(&str) -> Option<String> + use<>) {
    let mut mine = vec![super::principal_href(owner).to_ascii_lowercase()];
    if let Some(e) = app.accounts.user(owner).ok().and_then(|u| u.email) {
        mine.push(e.to_ascii_lowercase());
    }
    let app = app.clone();
    let resolve = move |addr: &str| -> Option<String> {
        if let Some(rest) = addr.strip_prefix("/remote.php/dav/principals/users/") {
            let uid = rest.trim_end_matches('/');
            return app.accounts.user(uid).ok().map(|u| u.uid);
        }
        if !addr.contains('@') {
            return None;
        }
        app.accounts
            .find_login(addr)
            .ok()
            .flatten()
            .filter(|u| {
                u.email
                    .as_deref()
                    .is_some_and(|e| e.eq_ignore_ascii_case(addr))
            })
            .map(|u| u.uid)
    };
    (mine, resolve)
}

/// Sends iMIP mails in the background (a slow mail server never holds up a PUT).
fn send_imip(app: &Arc<App>, out: Vec<Outgoing>) {
    for m in out {
        let app = app.clone();
        tokio::spawn(async move {
            let text = format!(
                "{}\n\nThe invitation is attached; open it with your calendar app.",
                m.subject
            );
            let cal = crate::notify::mail::Calendar {
                method: m.method.to_owned(),
                text: m.ics,
            };
            match crate::notify::mail::send(&app.notify.mail(), &m.to, &m.subject, &text, Some(cal))
                .await
            {
                Ok(()) => tracing::info!(to = %m.to, method = m.method, "iMIP mail sent"),
                Err(e) => tracing::warn!(to = %m.to, error = %e, "iMIP mail not sent"),
            }
        });
    }
}

fn read_only(d: Denial) -> DavError {
    DavError::denied(d).with_condition("need-privileges")
}
