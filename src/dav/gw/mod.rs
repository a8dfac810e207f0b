//! CalDAV (RFC 4791) and CardDAV (RFC 6352) under `/remote.php/dav/`: principals, calendar and
//! address-book homes, collections and their objects, laid out as Nextcloud lays them out
//! so DAVx5, iOS/macOS, Thunderbird and the Nextcloud apps find them. Parses and renders;
//! the rules live in `groupware`.

mod collections;
mod objects;
mod propfind;
mod render;
mod report;
mod search;

use http::StatusCode;

use super::{DavError, DavResult};
use crate::groupware::{GroupwareError, Kind, Precondition};
use crate::http::Ctx;

pub const NS_CAL: &str = "urn:ietf:params:xml:ns:caldav";
pub const NS_CARD: &str = "urn:ietf:params:xml:ns:carddav";
pub const NS_CS: &str = "http://calendarserver.org/ns/";
pub const NS_APPLE: &str = "http://apple.com/ns/ical/";

/// A groupware resource, from the path below `/remote.php/dav/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GwPath {
    /// `/remote.php/dav/` itself.
    Root,
    /// `principals/` and `principals/users/`.
    PrincipalsRoot,
    PrincipalsUsers,
    /// `principals/users/{uid}/`.
    Principal(String),
    /// `principals/groups/{gid}/` (what `group-membership` points at).
    GroupPrincipal(String),
    /// `calendars/` and `addressbooks/` (and `addressbooks/users/`).
    HomesRoot(Kind),
    /// `calendars/{uid}/`, `addressbooks/users/{uid}/`.
    Home(Kind, String),
    /// A calendar or an address book.
    Collection(Kind, String, String),
    /// An object in one.
    Object(Kind, String, String, String),
}

impl GwPath {
    /// `area` is the first segment below `/remote.php/dav/`, `rest` the decoded remainder
    /// (without a leading slash).
    pub fn parse(area: &str, rest: &str) -> Option<GwPath> {
        let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
        let owned = |s: &&str| (*s).to_owned();
        match (area, segs.as_slice()) {
            ("principals", []) => Some(GwPath::PrincipalsRoot),
            ("principals", ["users"]) => Some(GwPath::PrincipalsUsers),
            ("principals", ["users", u]) => Some(GwPath::Principal(owned(u))),
            ("principals", ["groups", g]) => Some(GwPath::GroupPrincipal(owned(g))),
            ("calendars", []) => Some(GwPath::HomesRoot(Kind::Calendar)),
            ("calendars", [u]) => Some(GwPath::Home(Kind::Calendar, owned(u))),
            ("calendars", [u, c]) => Some(GwPath::Collection(Kind::Calendar, owned(u), owned(c))),
            ("calendars", [u, c, o]) => {
                Some(GwPath::Object(Kind::Calendar, owned(u), owned(c), owned(o)))
            }
            ("addressbooks", [] | ["users"]) => Some(GwPath::HomesRoot(Kind::Addressbook)),
            ("addressbooks", ["users", u]) => Some(GwPath::Home(Kind::Addressbook, owned(u))),
            ("addressbooks", ["users", u, c]) => {
                Some(GwPath::Collection(Kind::Addressbook, owned(u), owned(c)))
            }
            ("addressbooks", ["users", u, c, o]) => Some(GwPath::Object(
                Kind::Addressbook,
                owned(u),
                owned(c),
                owned(o),
            )),
            _ => None,
        }
    }

    /// The user whose data this is, if any.
    pub fn owner(&self) -> Option<&str> {
        match self {
            GwPath::Home(_, u) | GwPath::Collection(_, u, _) | GwPath::Object(_, u, _, _) => {
                Some(u)
            }
            _ => None,
        }
    }
}

/// A collection in the caller's home: their own, or one shared with them.
pub fn collection_for(
    ctx: &Ctx,
    me: &str,
    kind: Kind,
    name: &str,
) -> Result<crate::groupware::Collection, DavError> {
    let groups = ctx.actor.principal().map(|p| &p.groups[..]).unwrap_or(&[]);
    Ok(ctx.app.groupware.resolve(me, groups, kind, name)?)
}

/// A published calendar: `GET` gives the whole calendar as `.ics` (what subscribing apps
/// fetch), to anyone holding the link. Nothing else is allowed there.
pub async fn public_calendar(ctx: Ctx, token: &str) -> DavResult {
    if !matches!(ctx.method.as_str(), "GET" | "HEAD") {
        return Err(DavError::method_not_allowed(
            "A published calendar can only be read (GET)",
        ));
    }
    let c = ctx
        .app
        .groupware
        .published(token)?
        .ok_or_else(|| DavError::not_found("No calendar is published under this link"))?;
    report::export(ctx.app.clone(), c)
}

pub fn principal_href(uid: &str) -> String {
    format!(
        "/remote.php/dav/principals/users/{}/",
        super::xml::encode_path(uid)
    )
}

pub fn home_href(kind: Kind, uid: &str) -> String {
    match kind {
        Kind::Calendar => format!(
            "/remote.php/dav/calendars/{}/",
            super::xml::encode_path(uid)
        ),
        Kind::Addressbook => format!(
            "/remote.php/dav/addressbooks/users/{}/",
            super::xml::encode_path(uid)
        ),
    }
}

pub fn collection_href(kind: Kind, uid: &str, uri: &str) -> String {
    format!("{}{}/", home_href(kind, uid), super::xml::encode_path(uri))
}

pub fn object_href(kind: Kind, uid: &str, coll: &str, uri: &str) -> String {
    format!(
        "{}{}",
        collection_href(kind, uid, coll),
        super::xml::encode_path(uri)
    )
}

pub async fn handle(ctx: Ctx, me: String, path: GwPath) -> DavResult {
    // Only the owner reaches a home, a collection or an object (sharing comes later);
    // principals are readable by every user of the box, as in Nextcloud.
    if let Some(owner) = path.owner() {
        ctx.app
            .groupware
            .authorize_home(&ctx.actor, owner)
            .map_err(DavError::denied)?;
    }
    if path.owner().is_some() {
        ctx.app.groupware.ensure_defaults(&me)?;
    }
    match ctx.method.as_str() {
        "PROPFIND" => propfind::handle(ctx, me, path).await,
        "PROPPATCH" => collections::proppatch(ctx, me, path).await,
        "REPORT" => report::handle(ctx, me, path).await,
        "MKCALENDAR" | "MKCOL" => collections::make(ctx, path).await,
        "DELETE" => match path {
            GwPath::Collection(..) => collections::delete(ctx, me, path).await,
            GwPath::Object(..) => objects::delete(ctx, me, path).await,
            _ => Err(DavError::forbidden("This cannot be deleted")),
        },
        "GET" | "HEAD" => objects::get(ctx, me, path).await,
        "PUT" => objects::put(ctx, me, path).await,
        "POST" if matches!(&path, GwPath::Collection(Kind::Calendar, _, c) if c == crate::groupware::scheduling::OUTBOX) => {
            search::outbox_free_busy(ctx, me).await
        }
        "POST" => collections::post(ctx, me, path).await,
        other => Err(DavError::method_not_allowed(format!(
            "{other} is not supported on calendars and address books"
        ))),
    }
}

impl From<GroupwareError> for DavError {
    fn from(e: GroupwareError) -> Self {
        match &e {
            // CalDAV's and CardDAV's preconditions (RFC 4791 §5.3.2.1, RFC 6352 §6.3.2.1).
            GroupwareError::Invalid(p, m) => {
                let (ns, name) = match p {
                    Precondition::ValidCalendarData => (NS_CAL, "valid-calendar-data"),
                    Precondition::ValidCalendarObjectResource => {
                        (NS_CAL, "valid-calendar-object-resource")
                    }
                    Precondition::SupportedCalendarComponent => {
                        (NS_CAL, "supported-calendar-component")
                    }
                    Precondition::CalendarMaxResourceSize => (NS_CAL, "max-resource-size"),
                    Precondition::ValidAddressData => (NS_CARD, "valid-address-data"),
                    Precondition::AddressbookMaxResourceSize => (NS_CARD, "max-resource-size"),
                };
                let status = if matches!(
                    p,
                    Precondition::CalendarMaxResourceSize
                        | Precondition::AddressbookMaxResourceSize
                ) {
                    StatusCode::PAYLOAD_TOO_LARGE
                } else {
                    StatusCode::FORBIDDEN
                };
                DavError::new(status, "Sabre\\DAV\\Exception\\Forbidden", m.clone())
                    .with_condition_xml(format!("<x:{name} xmlns:x=\"{ns}\"/>"))
            }
            GroupwareError::UidConflict { kind, uri } => {
                let ns = match kind {
                    Kind::Calendar => NS_CAL,
                    Kind::Addressbook => NS_CARD,
                };
                DavError::service(&e).with_condition_xml(format!(
                    "<x:no-uid-conflict xmlns:x=\"{ns}\"><d:href>{}</d:href></x:no-uid-conflict>",
                    super::xml::escape(uri)
                ))
            }
            // RFC 6578's precondition.
            GroupwareError::InvalidSyncToken => {
                DavError::service(&e).with_condition("valid-sync-token")
            }
            _ => DavError::service(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths() {
        assert_eq!(
            GwPath::parse("principals", "users/alice/"),
            Some(GwPath::Principal("alice".into()))
        );
        assert_eq!(
            GwPath::parse("calendars", "alice/personal/x.ics"),
            Some(GwPath::Object(
                Kind::Calendar,
                "alice".into(),
                "personal".into(),
                "x.ics".into()
            ))
        );
        assert_eq!(
            GwPath::parse("addressbooks", "users/alice/contacts/"),
            Some(GwPath::Collection(
                Kind::Addressbook,
                "alice".into(),
                "contacts".into()
            ))
        );
        assert_eq!(GwPath::parse("calendars", "a/b/c/d"), None);
        assert_eq!(
            object_href(Kind::Calendar, "a b", "c", "x y.ics"),
            "/remote.php/dav/calendars/a%20b/c/x%20y.ics"
        );
    }
}
