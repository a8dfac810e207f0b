//! PROPFIND on principals, homes, calendars, address books and their objects. A collection's
//! member listing is streamed page by page, like the files listing.

use std::sync::Arc;

use http_body_util::BodyExt;

use super::render::{self, href};
use super::{GwPath, NS_APPLE, NS_CAL, NS_CARD, NS_CS, collection_href, home_href, principal_href};
use crate::dav::propfind::multistatus;
use crate::dav::props::{Want, http_date, parse_want};
use crate::dav::xml::{NS_DAV, NS_OC, escape, split_clark};
use crate::dav::{DavError, DavResult};
use crate::groupware::{Collection, Kind, Object};
use crate::http::{Ctx, body, response};
use crate::state::App;

const PAGE: usize = 256;

/// A resource whose properties are being rendered.
pub enum Res<'a> {
    Root,
    PrincipalsRoot,
    PrincipalsUsers,
    Principal(&'a crate::accounts::model::User),
    /// A group principal: its id and its members.
    Group(&'a str, &'a [String]),
    HomesRoot,
    Home(Kind, &'a str),
    Collection(&'a Collection),
    Object(&'a Collection, &'a str, &'a Object),
}

fn clark(ns: &str, local: &str) -> String {
    format!("{{{ns}}}{local}")
}

/// The properties `allprop` and `propname` return, per resource.
fn all_names(res: &Res<'_>) -> Vec<String> {
    let mut v = vec![
        clark(NS_DAV, "resourcetype"),
        clark(NS_DAV, "displayname"),
        clark(NS_DAV, "current-user-principal"),
    ];
    match res {
        Res::Principal(_) => v.extend([
            clark(NS_DAV, "principal-URL"),
            clark(NS_CAL, "calendar-home-set"),
            clark(NS_CARD, "addressbook-home-set"),
            clark(NS_CAL, "calendar-user-address-set"),
            clark(NS_CAL, "calendar-user-type"),
            clark(NS_DAV, "group-membership"),
        ]),
        Res::Collection(c) => {
            v.extend([
                clark(NS_DAV, "owner"),
                clark(NS_DAV, "sync-token"),
                clark(NS_CS, "getctag"),
                clark(NS_DAV, "supported-report-set"),
                clark(NS_DAV, "current-user-privilege-set"),
            ]);
            if c.kind == Kind::Calendar {
                v.extend([
                    clark(NS_CAL, "supported-calendar-component-set"),
                    clark(NS_CAL, "calendar-description"),
                    clark(NS_APPLE, "calendar-color"),
                    clark(NS_APPLE, "calendar-order"),
                ]);
            } else {
                v.push(clark(NS_CARD, "addressbook-description"));
            }
            v.extend(c.dead.keys().cloned());
        }
        Res::Object(..) => v.extend([
            clark(NS_DAV, "getetag"),
            clark(NS_DAV, "getcontenttype"),
            clark(NS_DAV, "getcontentlength"),
            clark(NS_DAV, "getlastmodified"),
        ]),
        _ => {}
    }
    v
}

fn privileges(write: bool) -> String {
    let mut names = vec!["read", "read-acl", "read-current-user-privilege-set"];
    // A read-write sharee may change content, not the collection's properties or its ACL.
    if write {
        names.extend([
            "write",
            "write-properties",
            "write-content",
            "bind",
            "unbind",
            "unlock",
            "all",
        ]);
    }
    let mut s: String = names
        .iter()
        .map(|n| format!("<d:privilege><d:{n}/></d:privilege>"))
        .collect();
    s.push_str("<d:privilege><cal:read-free-busy/></d:privilege>");
    s
}

fn reports(kind: Kind) -> String {
    let names: &[(&str, &str)] = match kind {
        Kind::Calendar => &[
            ("cal", "calendar-query"),
            ("cal", "calendar-multiget"),
            ("cal", "free-busy-query"),
            ("d", "sync-collection"),
        ],
        Kind::Addressbook => &[
            ("card", "addressbook-query"),
            ("card", "addressbook-multiget"),
            ("d", "sync-collection"),
        ],
    };
    names
        .iter()
        .map(|(p, n)| {
            format!("<d:supported-report><d:report><{p}:{n}/></d:report></d:supported-report>")
        })
        .collect()
}

pub fn sync_token(c: &Collection) -> String {
    format!("http://sabre.io/ns/sync/{}", c.seq)
}

pub fn content_type(c: &Collection, o: &Object) -> String {
    match c.kind {
        Kind::Calendar => format!(
            "text/calendar; charset=utf-8; component={}",
            o.component.to_ascii_lowercase()
        ),
        Kind::Addressbook => "text/vcard; charset=utf-8".into(),
    }
}

/// The value of one property (inner XML), or `None` when the resource has no such property.
pub fn value(app: &App, me: &str, res: &Res<'_>, name: &str) -> Option<String> {
    let (ns, local) = split_clark(name);
    // Properties every resource has.
    match (ns, local) {
        (NS_DAV, "current-user-principal") => return Some(href(&principal_href(me))),
        (NS_DAV, "principal-collection-set") => {
            return Some(href("/remote.php/dav/principals/"));
        }
        _ => {}
    }
    match res {
        Res::Root | Res::PrincipalsRoot | Res::PrincipalsUsers | Res::HomesRoot => {
            match (ns, local) {
                (NS_DAV, "resourcetype") => Some("<d:collection/>".into()),
                _ => None,
            }
        }
        Res::Home(kind, uid) => match (ns, local) {
            (NS_DAV, "resourcetype") => Some("<d:collection/>".into()),
            (NS_DAV, "owner") => Some(href(&principal_href(uid))),
            (NS_DAV, "current-user-privilege-set") => Some(privileges(true)),
            (NS_DAV, "supported-report-set") => Some(reports(*kind)),
            _ => None,
        },
        Res::Group(gid, members) => match (ns, local) {
            (NS_DAV, "resourcetype") => Some("<d:principal/>".into()),
            (NS_DAV, "displayname") => Some(escape(gid)),
            (NS_DAV, "principal-URL") => Some(href(&format!(
                "/remote.php/dav/principals/groups/{}/",
                crate::dav::xml::encode_path(gid)
            ))),
            (NS_DAV, "group-member-set") => {
                Some(members.iter().map(|m| href(&principal_href(m))).collect())
            }
            (NS_CAL, "calendar-user-type") => Some("GROUP".into()),
            _ => None,
        },
        Res::Principal(u) => {
            match (ns, local) {
                (NS_DAV, "resourcetype") => Some("<d:principal/>".into()),
                (NS_DAV, "displayname") => Some(escape(&u.display_name)),
                (NS_DAV, "principal-URL") => Some(href(&principal_href(&u.uid))),
                (NS_DAV, "alternate-URI-set") => Some(String::new()),
                (NS_DAV, "group-membership") => Some(
                    u.groups
                        .iter()
                        .map(|g| {
                            href(&format!(
                                "/remote.php/dav/principals/groups/{}/",
                                crate::dav::xml::encode_path(g)
                            ))
                        })
                        .collect(),
                ),
                // Shown for everyone (clients expect it on every principal); the homes
                // themselves answer only their owner.
                (NS_CAL, "calendar-home-set") => Some(href(&home_href(Kind::Calendar, &u.uid))),
                (NS_CARD, "addressbook-home-set") => {
                    Some(href(&home_href(Kind::Addressbook, &u.uid)))
                }
                (NS_CAL, "calendar-user-address-set") => {
                    let mut s = String::new();
                    if let Some(e) = u.email.as_deref().filter(|e| !e.is_empty()) {
                        s.push_str(&href(&format!("mailto:{e}")));
                    }
                    s.push_str(&href(&principal_href(&u.uid)));
                    Some(s)
                }
                (NS_CAL, "calendar-user-type") => Some("INDIVIDUAL".into()),
                (NS_CAL, "schedule-inbox-URL") => Some(href(&format!(
                    "{}{}/",
                    home_href(Kind::Calendar, &u.uid),
                    crate::groupware::scheduling::INBOX
                ))),
                (NS_CAL, "schedule-outbox-URL") => Some(href(&format!(
                    "{}{}/",
                    home_href(Kind::Calendar, &u.uid),
                    crate::groupware::scheduling::OUTBOX
                ))),
                ("http://sabredav.org/ns", "email-address") => u.email.as_deref().map(escape),
                _ => None,
            }
        }
        Res::Collection(c) => collection_value(c, ns, local),
        Res::Object(c, uri, o) => match (ns, local) {
            (NS_DAV, "resourcetype") => Some(String::new()),
            (NS_DAV, "getetag") => Some(escape(&format!("\"{}\"", o.etag))),
            (NS_DAV, "getcontenttype") => Some(escape(&content_type(c, o))),
            (NS_DAV, "getcontentlength") => Some(o.size.to_string()),
            (NS_DAV, "getlastmodified") => Some(http_date(o.modified)),
            (NS_DAV, "displayname") => None,
            (NS_CAL, "calendar-data") if c.kind == Kind::Calendar => app
                .groupware
                .object_data(c.id, uri)
                .ok()
                .flatten()
                .map(|d| render::text(&String::from_utf8_lossy(&d))),
            (NS_CARD, "address-data") if c.kind == Kind::Addressbook => app
                .groupware
                .object_data(c.id, uri)
                .ok()
                .flatten()
                .map(|d| render::text(&String::from_utf8_lossy(&d))),
            _ => None,
        },
    }
}

fn collection_value(c: &Collection, ns: &str, local: &str) -> Option<String> {
    let cal = c.kind == Kind::Calendar;
    match (ns, local) {
        (NS_DAV, "resourcetype") if cal && c.uri == crate::groupware::scheduling::INBOX => {
            Some("<d:collection/><cal:schedule-inbox/>".into())
        }
        (NS_DAV, "resourcetype") => Some(if cal {
            "<d:collection/><cal:calendar/>".into()
        } else {
            "<d:collection/><card:addressbook/>".into()
        }),
        (NS_DAV, "displayname") => Some(escape(&c.displayname)),
        (NS_DAV, "owner") => Some(href(&principal_href(&c.owner))),
        (NS_DAV, "sync-token") => Some(sync_token(c)),
        (NS_CS, "getctag") => Some(sync_token(c)),
        (NS_DAV, "supported-report-set") => Some(reports(c.kind)),
        (NS_DAV, "current-user-privilege-set") => Some(privileges(c.writable())),
        (NS_OC, "owner-principal") => Some(href(&principal_href(&c.owner))),
        (NS_CS, "source") => c.source.as_ref().map(|u| href(u)),
        (NS_CS, "publish-url") if !c.is_shared_view() => c
            .publish_token
            .as_ref()
            .map(|t| href(&format!("/remote.php/dav/public-calendars/{t}"))),
        (NS_OC, "read-only") => Some(if c.writable() { "false" } else { "true" }.into()),
        (NS_OC, "invite") if !c.is_shared_view() => Some(
            c.shares
                .iter()
                .map(|s| {
                    format!(
                        "<oc:user><d:href>principal:principals/{}</d:href><oc:invite-accepted/><oc:access>{}</oc:access></oc:user>",
                        escape(&s.sharee),
                        if s.write { "<oc:read-write/>" } else { "<oc:read/>" }
                    )
                })
                .collect(),
        ),
        (NS_CAL, "supported-calendar-component-set") if cal => Some(
            c.components
                .iter()
                .map(|n| format!("<cal:comp name=\"{}\"/>", escape(n)))
                .collect(),
        ),
        (NS_CAL, "supported-calendar-data") if cal => Some(
            "<cal:calendar-data content-type=\"text/calendar\" version=\"2.0\"/>".into(),
        ),
        (NS_CAL, "max-resource-size") | (NS_CARD, "max-resource-size") => {
            Some("10000000".into())
        }
        (NS_CAL, "calendar-description") if cal => Some(escape(&c.description)),
        (NS_CAL, "calendar-timezone") if cal && !c.timezone.is_empty() => {
            Some(render::text(&c.timezone))
        }
        (NS_APPLE, "calendar-color") if cal && !c.color.is_empty() => Some(escape(&c.color)),
        (NS_APPLE, "calendar-order") if cal => Some(c.order.to_string()),
        (NS_CAL, "schedule-calendar-transp") if cal => Some("<cal:opaque/>".into()),
        (NS_CARD, "addressbook-description") if !cal => Some(escape(&c.description)),
        (NS_CARD, "supported-address-data") if !cal => Some(
            "<card:address-data-type content-type=\"text/vcard\" version=\"3.0\"/><card:address-data-type content-type=\"text/vcard\" version=\"4.0\"/>".into(),
        ),
        _ => c.dead.get(&format!("{{{ns}}}{local}")).cloned(),
    }
}

pub fn write(app: &App, me: &str, out: &mut String, href: &str, res: &Res<'_>, want: &Want) {
    let (names, names_only) = match want {
        Want::All => (all_names(res), false),
        Want::Names => (all_names(res), true),
        Want::Props(p) => (p.clone(), false),
    };
    render::response(out, href, &names, names_only, |n| value(app, me, res, n));
}

pub async fn handle(mut ctx: Ctx, me: String, path: GwPath) -> DavResult {
    let depth = match ctx.header("depth").map(str::trim) {
        Some("0") => 0,
        None | Some("1") => 1,
        Some(d) if d.eq_ignore_ascii_case("infinity") => {
            return Err(DavError::forbidden(
                "PROPFIND with Depth: infinity is not supported; use Depth: 1",
            )
            .with_condition("propfind-finite-depth"));
        }
        Some(d) => return Err(DavError::bad_request(format!("Depth: {d:?} is not 0 or 1"))),
    };
    let body = crate::dav::xml_body(&mut ctx).await?;
    let want = parse_want(body.as_ref()).map_err(DavError::bad_request)?;
    let app = ctx.app.clone();
    let gw = &app.groupware;
    let mut out = String::from(render::OPEN);
    match &path {
        GwPath::Root => {
            write(&app, &me, &mut out, "/remote.php/dav/", &Res::Root, &want);
            if depth == 1 {
                for (h, r) in [
                    ("/remote.php/dav/principals/", Res::PrincipalsRoot),
                    ("/remote.php/dav/calendars/", Res::HomesRoot),
                    ("/remote.php/dav/addressbooks/", Res::HomesRoot),
                ] {
                    write(&app, &me, &mut out, h, &r, &want);
                }
            }
        }
        GwPath::PrincipalsRoot => {
            write(
                &app,
                &me,
                &mut out,
                "/remote.php/dav/principals/",
                &Res::PrincipalsRoot,
                &want,
            );
            if depth == 1 {
                let h = "/remote.php/dav/principals/users/";
                write(&app, &me, &mut out, h, &Res::PrincipalsUsers, &want);
            }
        }
        GwPath::PrincipalsUsers => {
            let h = "/remote.php/dav/principals/users/";
            write(&app, &me, &mut out, h, &Res::PrincipalsUsers, &want);
            if depth == 1 {
                // Only the caller: the member list of a family box is not everyone's business.
                let u = app
                    .accounts
                    .user(&me)
                    .map_err(|_| DavError::not_found("No such user"))?;
                write(
                    &app,
                    &me,
                    &mut out,
                    &principal_href(&me),
                    &Res::Principal(&u),
                    &want,
                );
            }
        }
        GwPath::GroupPrincipal(gid) => {
            let members = app
                .accounts
                .group_members(gid)
                .map_err(|_| DavError::not_found("No such group"))?;
            let h = format!(
                "/remote.php/dav/principals/groups/{}/",
                crate::dav::xml::encode_path(gid)
            );
            write(&app, &me, &mut out, &h, &Res::Group(gid, &members), &want);
        }
        GwPath::Principal(uid) => {
            let u = app
                .accounts
                .user(uid)
                .map_err(|_| DavError::not_found("No such principal"))?;
            write(
                &app,
                &me,
                &mut out,
                &principal_href(uid),
                &Res::Principal(&u),
                &want,
            );
        }
        GwPath::HomesRoot(kind) => {
            let h = match kind {
                Kind::Calendar => "/remote.php/dav/calendars/",
                Kind::Addressbook => "/remote.php/dav/addressbooks/users/",
            };
            write(&app, &me, &mut out, h, &Res::HomesRoot, &want);
            if depth == 1 {
                write(
                    &app,
                    &me,
                    &mut out,
                    &home_href(*kind, &me),
                    &Res::Home(*kind, &me),
                    &want,
                );
            }
        }
        GwPath::Home(kind, uid) => {
            gw.ensure_defaults(uid)?;
            write(
                &app,
                &me,
                &mut out,
                &home_href(*kind, uid),
                &Res::Home(*kind, uid),
                &want,
            );
            if depth == 1 {
                let groups = ctx.actor.principal().map(|p| &p.groups[..]).unwrap_or(&[]);
                let shared = gw.shared_with(&me, groups, *kind)?;
                for c in gw.collections(uid, *kind)?.iter().chain(&shared) {
                    let h = collection_href(*kind, uid, c.name());
                    write(&app, &me, &mut out, &h, &Res::Collection(c), &want);
                }
            }
        }
        GwPath::Collection(kind, uid, uri) => {
            gw.ensure_defaults(uid)?;
            let c = super::collection_for(&ctx, &me, *kind, uri)?;
            let h = collection_href(*kind, uid, uri);
            write(&app, &me, &mut out, &h, &Res::Collection(&c), &want);
            if depth == 1 {
                return Ok(stream_members(app.clone(), me, c, out, want));
            }
        }
        GwPath::Object(kind, uid, coll, uri) => {
            let c = super::collection_for(&ctx, &me, *kind, coll)?;
            let o = gw
                .object(&c, uri)?
                .ok_or_else(|| DavError::not_found("No such object"))?;
            let h = super::object_href(*kind, uid, coll, uri);
            write(&app, &me, &mut out, &h, &Res::Object(&c, uri, &o), &want);
        }
    }
    out.push_str(render::CLOSE);
    Ok(multistatus(response::full(out)))
}

/// Streams `head`, then one response per member of the collection, then the closing tag.
fn stream_members(
    app: Arc<App>,
    me: String,
    c: Collection,
    head: String,
    want: Want,
) -> crate::http::Resp {
    let (tx, rx) = body::channel(4);
    tokio::spawn(async move {
        if tx.send(head.into()).await.is_err() {
            return;
        }
        let mut after: Option<String> = None;
        loop {
            let page = match app.groupware.objects(c.id, after.as_deref(), PAGE) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "collection listing failed midway");
                    break;
                }
            };
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            let mut chunk = String::with_capacity(page.len() * 400);
            for (uri, o) in &page {
                let h = super::object_href(c.kind, c.home_user(), c.name(), uri);
                write(&app, &me, &mut chunk, &h, &Res::Object(&c, uri, o), &want);
            }
            if tx.send(chunk.into()).await.is_err() {
                return;
            }
            if page.len() < PAGE {
                break;
            }
        }
        let _ = tx.send(render::CLOSE.into()).await;
    });
    multistatus(rx.boxed_unsync())
}
