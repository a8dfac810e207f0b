//! WebDAV (RFC 4918 classes 1–3) for files, with Nextcloud's properties and headers, under
//! `/remote.php/dav/files/{user}/`, the legacy `/remote.php/webdav/`, and chunked uploads under
//! `/remote.php/dav/uploads/{user}/`. Parses and renders; the rules live in `files`.

mod bulk;
mod edit;
mod error;
mod get;
pub mod gw;
mod ifheader;
mod locks;
mod propfind;
mod proppatch;
pub mod props;
mod put;
mod report;
mod search;
mod uploads;
pub mod xml;

use http::{Method, StatusCode, header};

pub use error::{DavError, DavResult};

use crate::files::names;
use crate::http::{Ctx, Resp, response};

/// Which DAV tree a request addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Tree {
    /// `/remote.php/dav/files/{user}` or `/remote.php/webdav` (user = the caller).
    Files { user: Option<String>, legacy: bool },
    /// `/remote.php/dav/uploads/{user}`.
    Uploads { user: String },
    /// `/remote.php/dav` itself (OPTIONS, SEARCH, discovery).
    Root,
    /// `/remote.php/dav/bulk`.
    Bulk,
    /// Principals, calendars and address books.
    Groupware(gw::GwPath),
    /// `/remote.php/dav/public-calendars/{token}`: a published calendar, no login.
    PublicCalendar(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub tree: Tree,
    /// The decoded path below the tree's base, starting with `/` (or empty).
    pub path: String,
}

/// Maps a decoded request path to a DAV target, if it is one.
pub fn parse_target(path: &str) -> Option<Target> {
    if let Some(rest) = path.strip_prefix("/remote.php/webdav") {
        if rest.is_empty() || rest.starts_with('/') {
            return Some(Target {
                tree: Tree::Files {
                    user: None,
                    legacy: true,
                },
                path: rest.to_owned(),
            });
        }
        return None;
    }
    let rest = path.strip_prefix("/remote.php/dav")?;
    if rest.is_empty() || rest == "/" {
        return Some(Target {
            tree: Tree::Root,
            path: String::new(),
        });
    }
    let rest = rest.strip_prefix('/')?;
    let (area, rest) = rest.split_once('/').unwrap_or((rest, ""));
    let (user, below) = rest
        .split_once('/')
        .map_or((rest, String::new()), |(u, b)| (u, format!("/{b}")));
    if area == "bulk" && rest.is_empty() {
        return Some(Target {
            tree: Tree::Bulk,
            path: String::new(),
        });
    }
    if area == "public-calendars" && !user.is_empty() && below.trim_matches('/').is_empty() {
        return Some(Target {
            tree: Tree::PublicCalendar(user.to_owned()),
            path: String::new(),
        });
    }
    if let Some(p) = gw::GwPath::parse(area, rest) {
        return Some(Target {
            tree: Tree::Groupware(p),
            path: String::new(),
        });
    }
    match area {
        "files" if !user.is_empty() => Some(Target {
            tree: Tree::Files {
                user: Some(user.to_owned()),
                legacy: false,
            },
            path: below,
        }),
        "uploads" if !user.is_empty() => Some(Target {
            tree: Tree::Uploads {
                user: user.to_owned(),
            },
            path: below,
        }),
        _ => None,
    }
}

/// The request context a DAV method needs beyond `Ctx`.
pub struct Req {
    /// The space owner.
    pub uid: String,
    /// Path segments below the root, validated.
    pub segs: Vec<String>,
    /// Encoded href prefix of the tree root, without a trailing slash.
    pub base: String,
}

impl Req {
    pub fn href(&self, segs: &[String], dir: bool) -> String {
        let mut p = String::new();
        for s in segs {
            p.push('/');
            p.push_str(s);
        }
        let mut h = format!("{}{}", self.base, xml::encode_path(&p));
        if dir && !h.ends_with('/') {
            h.push('/');
        }
        h
    }
}

pub const DAV_METHODS: &str = "OPTIONS, GET, HEAD, DELETE, PROPFIND, PUT, PROPPATCH, COPY, MOVE, REPORT, SEARCH, MKCOL, LOCK, UNLOCK";

pub async fn handle(ctx: Ctx, target: Target) -> Resp {
    match dispatch(ctx, target).await {
        Ok(r) => r,
        Err(e) => e.into_response(),
    }
}

async fn dispatch(ctx: Ctx, target: Target) -> DavResult {
    if ctx.method == Method::OPTIONS {
        return Ok(options());
    }
    if let Tree::PublicCalendar(token) = &target.tree {
        return gw::public_calendar(ctx, token).await;
    }
    let Some(me) = ctx.actor.principal().map(|p| p.uid.clone()) else {
        return Err(DavError::new(
            StatusCode::UNAUTHORIZED,
            "Sabre\\DAV\\Exception\\NotAuthenticated",
            "No public access to this resource.",
        ));
    };
    match &target.tree {
        Tree::Root if ctx.method.as_str() == "SEARCH" => search::handle(ctx, me).await,
        Tree::Bulk => bulk::handle(ctx, me).await,
        Tree::Root => gw::handle(ctx, me, gw::GwPath::Root).await,
        Tree::Groupware(p) => gw::handle(ctx, me, p.clone()).await,
        Tree::PublicCalendar(token) => gw::public_calendar(ctx, token).await,
        Tree::Uploads { user } => {
            ctx.app
                .files
                .authorize_uploads(&ctx.actor, user)
                .map_err(DavError::denied)?;
            uploads::handle(ctx, user.clone(), &target.path).await
        }
        Tree::Files { user, legacy } => {
            let uid = user.clone().unwrap_or_else(|| me.clone());
            ctx.app
                .files
                .authorize_space(&ctx.actor, &uid)
                .map_err(DavError::denied)?;
            let segs = names::split(&target.path)?;
            let base = if *legacy {
                "/remote.php/webdav".to_owned()
            } else {
                format!("/remote.php/dav/files/{}", xml::encode_path(&uid))
            };
            let req = Req { uid, segs, base };
            files_method(ctx, req).await
        }
    }
}

async fn files_method(ctx: Ctx, req: Req) -> DavResult {
    match ctx.method.as_str() {
        "PROPFIND" => propfind::handle(ctx, req).await,
        "PROPPATCH" => proppatch::handle(ctx, req).await,
        "GET" | "HEAD" => get::handle(ctx, req).await,
        "PUT" => put::handle(ctx, req).await,
        "MKCOL" => edit::mkcol(ctx, req).await,
        "DELETE" => edit::delete(ctx, req).await,
        "COPY" | "MOVE" => edit::copy_move(ctx, req).await,
        "LOCK" => locks::lock(ctx, req).await,
        "UNLOCK" => locks::unlock(ctx, req).await,
        "REPORT" => report::handle(ctx, req).await,
        "POST" => Err(DavError::method_not_allowed("POST is not supported here")),
        _ => {
            let mut r = DavError::new(
                StatusCode::NOT_IMPLEMENTED,
                "Sabre\\DAV\\Exception\\NotImplemented",
                format!("{} is not supported", ctx.method),
            )
            .into_response();
            response::set_header(&mut r, header::ALLOW, DAV_METHODS);
            Ok(r)
        }
    }
}

/// OPTIONS, answered without authentication (Windows and Office probe this way).
fn options() -> Resp {
    let mut r = response::with(StatusCode::OK, "text/plain; charset=utf-8", "");
    for (k, v) in [
        (
            "dav",
            "1, 2, 3, extended-mkcol, access-control, calendar-access, calendar-auto-schedule, addressbook",
        ),
        ("ms-author-via", "DAV"),
        ("accept-ranges", "bytes"),
        ("allow", DAV_METHODS),
    ] {
        response::set_header(&mut r, header::HeaderName::from_static(k), v);
    }
    r
}

/// Reads a small XML request body; empty bodies give `None`.
pub async fn xml_body(ctx: &mut Ctx) -> DavResult<Option<xml::El>> {
    let body = ctx.small_body().await.map_err(|e| {
        DavError::new(
            e.status(),
            "Sabre\\DAV\\Exception\\BadRequest",
            e.to_string(),
        )
    })?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    xml::parse(&body).map(Some).map_err(DavError::bad_request)
}

/// `oc:id`: the file id padded to 8 digits followed by the instance id.
pub fn oc_id(id: u64, instance: &str) -> String {
    format!("{id:08}{instance}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets() {
        let t = parse_target("/remote.php/dav/files/alice/a b/c").unwrap();
        assert_eq!(
            t.tree,
            Tree::Files {
                user: Some("alice".into()),
                legacy: false
            }
        );
        assert_eq!(t.path, "/a b/c");
        assert_eq!(
            parse_target("/remote.php/dav/files/alice").unwrap().path,
            ""
        );
        assert_eq!(
            parse_target("/remote.php/webdav/x").unwrap().tree,
            Tree::Files {
                user: None,
                legacy: true
            }
        );
        assert_eq!(parse_target("/remote.php/dav/").unwrap().tree, Tree::Root);
        assert_eq!(
            parse_target("/remote.php/dav/uploads/bob/123/00001")
                .unwrap()
                .path,
            "/123/00001"
        );
        assert!(parse_target("/remote.php/webdavx").is_none());
        assert!(parse_target("/remote.php/dav/nope/x").is_none());
    }
}
