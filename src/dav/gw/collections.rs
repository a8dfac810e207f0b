//! Creating (MKCALENDAR, extended MKCOL), changing (PROPPATCH) and deleting calendars and
//! address books.

use http::StatusCode;

use super::render;
use super::{GwPath, NS_APPLE, NS_CAL, NS_CARD};
use crate::dav::propfind::multistatus;
use crate::dav::xml::{El, NS_DAV, NS_OC};
use crate::dav::{DavError, DavResult};
use crate::groupware::{Collection, Kind, Share};
use crate::http::{Ctx, response};

/// Applies one property from a `set`; returns an error message when its value is refused.
fn set_prop(c: &mut Collection, el: &El, creating: bool) -> Result<(), String> {
    let cal = c.kind == Kind::Calendar;
    match (el.ns.as_str(), el.name.as_str()) {
        (NS_DAV, "displayname") => c.displayname = el.text_content().trim().to_owned(),
        (NS_CAL, "calendar-description") if cal => c.description = el.text_content(),
        (NS_CARD, "addressbook-description") if !cal => c.description = el.text_content(),
        (NS_CAL, "calendar-timezone") if cal => c.timezone = el.text_content(),
        (NS_APPLE, "calendar-color") if cal => {
            // Clients send #RRGGBB, #RRGGBBAA or a colour name; kept as sent.
            let v = el.text_content().trim().to_owned();
            if v.is_empty() || v.len() > 64 || v.chars().any(char::is_control) {
                return Err(format!("{v:?} is not a colour like #0082c9"));
            }
            c.color = v;
        }
        (NS_APPLE, "calendar-order") if cal => {
            c.order = el
                .text_content()
                .trim()
                .parse()
                .map_err(|_| "calendar-order must be a whole number".to_string())?;
        }
        (NS_CAL, "supported-calendar-component-set") if cal => {
            if !creating {
                return Err("the supported components are fixed once a calendar exists".into());
            }
            let comps: Vec<String> = el
                .children
                .iter()
                .filter(|x| x.is(NS_CAL, "comp"))
                .filter_map(|x| {
                    x.attrs
                        .iter()
                        .find(|(k, _)| k == "name")
                        .map(|(_, v)| v.to_ascii_uppercase())
                })
                .collect();
            if comps.is_empty()
                || comps
                    .iter()
                    .any(|n| !matches!(n.as_str(), "VEVENT" | "VTODO" | "VJOURNAL"))
            {
                return Err("supported components are VEVENT, VTODO and VJOURNAL".into());
            }
            c.components = comps;
        }
        (NS_DAV, "resourcetype") if creating => {}
        (NS_DAV, "resourcetype" | "getetag" | "sync-token" | "owner") => {
            return Err("this property is protected".into());
        }
        _ => {
            let xml = el.inner_xml();
            if xml.len() > 64 * 1024 {
                return Err("a property value may be at most 64 KiB".into());
            }
            c.dead.insert(el.clark(), xml);
        }
    }
    Ok(())
}

fn remove_prop(c: &mut Collection, el: &El) {
    match (el.ns.as_str(), el.name.as_str()) {
        (NS_CAL, "calendar-description") | (NS_CARD, "addressbook-description") => {
            c.description.clear()
        }
        (NS_CAL, "calendar-timezone") => c.timezone.clear(),
        (NS_APPLE, "calendar-color") => c.color.clear(),
        (NS_APPLE, "calendar-order") => c.order = 0,
        _ => {
            c.dead.remove(&el.clark());
        }
    }
}

/// The property elements under `set/prop` (or `remove/prop`) of a request body.
fn props_of<'a>(body: &'a El, op: &str) -> impl Iterator<Item = &'a El> + 'a {
    let op = op.to_owned();
    body.children
        .iter()
        .filter(move |x| x.is(NS_DAV, &op))
        .flat_map(|x| x.children.iter().filter(|p| p.is(NS_DAV, "prop")))
        .flat_map(|p| p.children.iter())
}

pub async fn make(mut ctx: Ctx, path: GwPath) -> DavResult {
    let GwPath::Collection(kind, uid, uri) = &path else {
        return Err(DavError::forbidden(
            "Calendars are made in /remote.php/dav/calendars/{user}/, address books in /remote.php/dav/addressbooks/users/{user}/",
        ));
    };
    if *kind == Kind::Calendar && uri == crate::groupware::scheduling::INBOX {
        return Err(DavError::method_not_allowed(
            "\"inbox\" is the schedule inbox",
        ));
    }
    let body = crate::dav::xml_body(&mut ctx).await?;
    let mkcalendar = ctx.method.as_str() == "MKCALENDAR";
    if mkcalendar && *kind != Kind::Calendar {
        return Err(DavError::forbidden(
            "MKCALENDAR works only under calendars/",
        ));
    }
    if let Some(b) = &body {
        let ok = if mkcalendar {
            b.is(NS_CAL, "mkcalendar")
        } else {
            b.is(NS_DAV, "mkcol")
        };
        if !ok {
            return Err(DavError::bad_request(
                "the body must be a mkcalendar (RFC 4791) or mkcol (RFC 5689) element",
            ));
        }
        if !mkcalendar {
            // Extended MKCOL must ask for the right kind of collection.
            let rt = props_of(b, "set").find(|p| p.is(NS_DAV, "resourcetype"));
            let wants = |ns: &str, name: &str| rt.is_some_and(|r| r.child(ns, name).is_some());
            if *kind == Kind::Calendar && wants(super::NS_CS, "subscribed") {
                // A subscription to an outside calendar (Nextcloud's shape).
                let url = props_of(b, "set")
                    .find(|p| p.is(super::NS_CS, "source"))
                    .map(|p| {
                        p.child(NS_DAV, "href")
                            .map_or_else(|| p.text_content(), El::text_content)
                    })
                    .map(|u| u.trim().to_owned())
                    .filter(|u| !u.is_empty())
                    .ok_or_else(|| DavError::bad_request("a subscription needs cs:source"))?;
                let name = props_of(b, "set")
                    .find(|p| p.is(NS_DAV, "displayname"))
                    .map(|p| p.text_content().trim().to_owned())
                    .unwrap_or_default();
                ctx.app.groupware.subscribe(uid, uri, &url, &name)?;
                return Ok(response::with(
                    StatusCode::CREATED,
                    "text/plain; charset=utf-8",
                    "",
                ));
            }
            let right = match kind {
                Kind::Calendar => wants(NS_CAL, "calendar"),
                Kind::Addressbook => wants(NS_CARD, "addressbook"),
            };
            if !right {
                return Err(DavError::forbidden(
                    "Only calendars (under calendars/) and address books (under addressbooks/) can be made here",
                )
                .with_condition("valid-resourcetype"));
            }
        }
    } else if !mkcalendar && *kind == Kind::Calendar {
        return Err(DavError::forbidden("Use MKCALENDAR to make a calendar"));
    }
    let mut refused: Option<String> = None;
    ctx.app
        .groupware
        .create_collection(uid, *kind, uri, |c| {
            if let Some(b) = &body {
                for p in props_of(b, "set") {
                    if let Err(m) = set_prop(c, p, true) {
                        refused.get_or_insert(m);
                    }
                }
            }
        })
        .and_then(|c| match &refused {
            // Nothing half-made: a refused property undoes the creation.
            Some(_) => ctx.app.groupware.delete_collection(uid, *kind, &c.uri),
            None => Ok(()),
        })?;
    if let Some(m) = refused {
        return Err(DavError::forbidden(m));
    }
    let mut r = response::with(StatusCode::CREATED, "text/plain; charset=utf-8", "");
    response::set_header(&mut r, http::header::CACHE_CONTROL, "no-store");
    Ok(r)
}

pub async fn proppatch(mut ctx: Ctx, me: String, path: GwPath) -> DavResult {
    let GwPath::Collection(kind, uid, uri) = &path else {
        return Err(DavError::forbidden(
            "Only calendars and address books take PROPPATCH here",
        ));
    };
    let body = crate::dav::xml_body(&mut ctx)
        .await?
        .ok_or_else(|| DavError::bad_request("PROPPATCH needs a propertyupdate body"))?;
    if !body.is(NS_DAV, "propertyupdate") {
        return Err(DavError::bad_request(
            "the body must be a propertyupdate element",
        ));
    }
    let mut results: Vec<(String, Option<String>)> = Vec::new();
    let gw = &ctx.app.groupware;
    // All or nothing (RFC 4918 §9.2): try on a copy, store only if every change is accepted.
    let mut c = super::collection_for(&ctx, &me, *kind, uri)?;
    if c.is_shared_view() {
        return Err(DavError::forbidden(
            "Only the owner changes the properties of a shared calendar or address book",
        )
        .with_condition("need-privileges"));
    }
    for op in &body.children {
        let set = op.is(NS_DAV, "set");
        if !set && !op.is(NS_DAV, "remove") {
            continue;
        }
        for p in op
            .children
            .iter()
            .filter(|p| p.is(NS_DAV, "prop"))
            .flat_map(|p| &p.children)
        {
            if set {
                results.push((p.clark(), set_prop(&mut c, p, false).err()));
            } else {
                remove_prop(&mut c, p);
                results.push((p.clark(), None));
            }
        }
    }
    let failed = results.iter().any(|(_, e)| e.is_some());
    if !failed {
        let newc = c.clone();
        gw.update_collection(uid, *kind, uri, move |stored| {
            let (id, seq, created) = (stored.id, stored.seq, stored.created);
            *stored = newc;
            stored.id = id;
            stored.seq = seq;
            stored.created = created;
        })?;
    }
    let mut out = String::from(render::OPEN);
    out.push_str("<d:response><d:href>");
    out.push_str(&crate::dav::xml::escape(&super::collection_href(
        *kind, uid, uri,
    )));
    out.push_str("</d:href>");
    for (name, err) in &results {
        let status = match (err, failed) {
            (Some(_), _) => "403 Forbidden",
            (None, true) => "424 Failed Dependency",
            (None, false) => "200 OK",
        };
        let (tag, decl) = render::tag(name);
        out.push_str(&format!(
            "<d:propstat><d:prop><{tag}{decl}/></d:prop><d:status>HTTP/1.1 {status}</d:status>"
        ));
        if let Some(m) = err {
            out.push_str(&format!(
                "<d:responsedescription>{}</d:responsedescription>",
                crate::dav::xml::escape(m)
            ));
        }
        out.push_str("</d:propstat>");
    }
    out.push_str("</d:response>\n");
    out.push_str(render::CLOSE);
    Ok(multistatus(response::full(out)))
}

pub async fn delete(ctx: Ctx, me: String, path: GwPath) -> DavResult {
    let GwPath::Collection(kind, uid, uri) = &path else {
        return Err(DavError::forbidden("This cannot be deleted"));
    };
    let c = super::collection_for(&ctx, &me, *kind, uri)?;
    if c.generated {
        return Err(DavError::forbidden(
            "The birthday calendar follows your contacts; it cannot be deleted",
        ));
    }
    if c.is_shared_view() {
        // A sharee deleting a shared collection means "Unshare from me".
        ctx.app.groupware.unshare_from_me(&c, &me)?;
    } else {
        ctx.app.groupware.delete_collection(uid, *kind, uri)?;
    }
    Ok(response::with(
        StatusCode::NO_CONTENT,
        "text/plain; charset=utf-8",
        "",
    ))
}

/// POST on a collection: the sharing request of Nextcloud's apps and DAVx5
/// (`<oc:share><oc:set><d:href>principal:principals/users/bob</d:href><oc:read-write/>…`).
pub async fn post(mut ctx: Ctx, me: String, path: GwPath) -> DavResult {
    let GwPath::Collection(kind, _, uri) = &path else {
        return Err(DavError::method_not_allowed(
            "POST works on a calendar or an address book",
        ));
    };
    if ctx.query.split('&').any(|p| p == "import") {
        return import(ctx, me, *kind, uri).await;
    }
    let body = crate::dav::xml_body(&mut ctx)
        .await?
        .ok_or_else(|| DavError::bad_request("POST needs a share body"))?;
    let c = super::collection_for(&ctx, &me, *kind, uri)?;
    if c.is_shared_view() {
        return Err(DavError::forbidden(
            "Only the owner shares or publishes a calendar or address book",
        )
        .with_condition("need-privileges"));
    }
    let publish = body.is(super::NS_CS, "publish-calendar");
    if (publish || body.is(super::NS_CS, "unpublish-calendar")) && *kind == Kind::Calendar {
        if publish {
            ctx.app.groupware.publish(&c)?;
        } else {
            ctx.app.groupware.unpublish(&c)?;
        }
        return Ok(response::with(
            StatusCode::ACCEPTED,
            "text/plain; charset=utf-8",
            "",
        ));
    }
    if !body.is(NS_OC, "share") {
        return Err(DavError::bad_request(
            "the body must be oc:share, cs:publish-calendar or cs:unpublish-calendar",
        ));
    }
    let mut set = Vec::new();
    let mut remove = Vec::new();
    for op in &body.children {
        let Some(h) = op.child(NS_DAV, "href") else {
            continue;
        };
        let sharee = sharee_of(&ctx, &h.text_content()).ok_or_else(|| {
            DavError::bad_request(format!(
                "{:?} is not a user or group of this box",
                h.text_content().trim()
            ))
        })?;
        if sharee == format!("users/{me}") {
            continue;
        }
        if op.is(NS_OC, "set") {
            set.push(Share {
                sharee,
                write: op.child(NS_OC, "read-write").is_some(),
            });
        } else if op.is(NS_OC, "remove") {
            remove.push(sharee);
        }
    }
    ctx.app.groupware.share(&c, &set, &remove)?;
    Ok(response::with(
        StatusCode::OK,
        "text/plain; charset=utf-8",
        "",
    ))
}

/// `principal:principals/users/bob`, `/remote.php/dav/principals/groups/family/`,
/// `mailto:bob@example.org` → `users/bob` / `groups/family`, if that user or group exists.
fn sharee_of(ctx: &Ctx, href: &str) -> Option<String> {
    let h = href.trim();
    if let Some(mail) = h.strip_prefix("mailto:") {
        let u = ctx.app.accounts.find_login(mail).ok().flatten()?;
        return Some(format!("users/{}", u.uid));
    }
    let h = h.strip_prefix("principal:").unwrap_or(h);
    let h = h.strip_prefix("/remote.php/dav/").unwrap_or(h);
    let h = h.trim_matches('/');
    let h = percent_encoding::percent_decode_str(h).decode_utf8().ok()?;
    match h.strip_prefix("principals/")?.split_once('/')? {
        ("users", u) if ctx.app.accounts.user(u).is_ok() => Some(format!("users/{u}")),
        ("groups", g) if ctx.app.accounts.group(g).is_ok() => Some(format!("groups/{g}")),
        _ => None,
    }
}

/// `POST …/{collection}/?import` with a `.ics` or `.vcf` body: every item stored on its own,
/// the answer a JSON report (`imported`, `updated`, `skipped` with the reason for each).
async fn import(mut ctx: Ctx, me: String, kind: Kind, uri: &str) -> DavResult {
    use tokio::io::AsyncBufReadExt;
    use tokio::io::AsyncReadExt;
    let c = super::collection_for(&ctx, &me, kind, uri)?;
    ctx.app
        .groupware
        .authorize(&c, crate::accounts::access::Action::Write)
        .map_err(|_| {
            DavError::forbidden("This collection is shared with you read-only")
                .with_condition("need-privileges")
        })?;
    let Some(body) = ctx.body.take() else {
        return Err(DavError::bad_request(
            "POST ?import needs the file as its body",
        ));
    };
    let timeout = std::time::Duration::from_secs(ctx.app.config.limits.body_read_timeout_secs);
    let mut reader = tokio::io::BufReader::new(crate::http::body::BodyReader::new(body, timeout));
    let limit = ctx.app.groupware.max_object_bytes;
    let mut splitter = crate::groupware::import::Splitter::new(kind, limit);
    let mut report = crate::groupware::import::Report::default();
    let mut seen = std::collections::HashSet::new();
    let mut line = Vec::with_capacity(256);
    let app = ctx.app.clone();
    loop {
        line.clear();
        let n = (&mut reader)
            .take(limit as u64 + 2)
            .read_until(b'\n', &mut line)
            .await
            .map_err(|e| DavError::bad_request(format!("the upload broke off: {e}")))?;
        let items = if n == 0 {
            splitter.finish()
        } else {
            let text = String::from_utf8_lossy(&line);
            splitter.push(text.trim_end_matches('\n'))
        };
        for item in items {
            // One short write transaction per item; keep it off the I/O threads.
            tokio::task::block_in_place(|| {
                app.groupware.import_item(&c, item, &mut seen, &mut report)
            });
        }
        if n == 0 {
            break;
        }
    }
    tracing::info!(
        imported = report.imported,
        updated = report.updated,
        skipped = report.skipped.len(),
        collection = %c.uri,
        "import"
    );
    let json = serde_json::to_value(&report).unwrap_or_default();
    Ok(response::json(StatusCode::OK, &json))
}
