//! WebDAV locks (class 2), the protocol half: LOCK and UNLOCK, `lockdiscovery`, and the `If`
//! header, evaluated against etags and live locks (412 when false). The locks themselves and
//! the rule that a write needs the tokens of the locks it touches are the files service's
//! (`files::locks`), so every surface that writes a file answers to the same locks.

use std::time::Duration;

use http::{StatusCode, header};

use super::ifheader::{self, Cond};
use super::xml::{El, NS_DAV, escape};
use super::{DavError, DavResult, Req};
use crate::files::locks::{Held, Lock, LockManager, NotReleased, Refused};
use crate::http::{Ctx, Resp, response};

const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// `<d:activelock>` for one lock.
fn discovery_xml(lock: &Lock) -> String {
    let secs = lock
        .expires
        .saturating_duration_since(crate::clock::instant())
        .as_secs()
        .max(1);
    format!(
        "<d:activelock><d:locktype><d:write/></d:locktype><d:lockscope><d:{}/></d:lockscope><d:depth>{}</d:depth>{}<d:timeout>Second-{secs}</d:timeout><d:locktoken><d:href>{}</d:href></d:locktoken></d:activelock>",
        if lock.exclusive {
            "exclusive"
        } else {
            "shared"
        },
        if lock.infinite { "infinity" } else { "0" },
        if lock.owner_xml.is_empty() {
            String::new()
        } else {
            format!("<d:owner>{}</d:owner>", lock.owner_xml)
        },
        escape(&lock.token)
    )
}

/// `<d:activelock>` elements for the locks covering a resource.
pub fn discovery(locks: &LockManager, space: &str, segs: &[String]) -> String {
    locks
        .covering(space, segs)
        .iter()
        .map(discovery_xml)
        .collect()
}

/// Checks a write to `segs` (and, when `membership`, the change to its parent folder's
/// members): the `If` header must hold (else 412) and every lock involved must have its token
/// submitted by its holder (else 423).
pub fn check_write(ctx: &Ctx, req: &Req, segs: &[String], membership: bool) -> DavResult<()> {
    check_write_tree(ctx, req, segs, membership, false)
}

pub fn check_write_tree(
    ctx: &Ctx,
    req: &Req,
    segs: &[String],
    membership: bool,
    subtree: bool,
) -> DavResult<()> {
    let app = &ctx.app;
    let me = ctx
        .actor
        .principal()
        .map(|p| p.uid.clone())
        .unwrap_or_default();
    let lists = match ctx.header("if") {
        Some(h) => Some(ifheader::parse(h).map_err(DavError::bad_request)?),
        None => None,
    };
    if let Some(lists) = &lists
        && !evaluate(ctx, req, segs, lists)
    {
        return Err(DavError::precondition("The If header did not match"));
    }
    let submitted: Vec<&str> = lists.as_deref().map(ifheader::tokens).unwrap_or_default();
    app.files
        .locks()
        .check_write(&me, &req.uid, segs, membership, subtree, &submitted)
        .map_err(|_| DavError::locked())
}

/// The lock tokens the request holds (named in its `If` header), for the files service,
/// which checks every write against them. A malformed `If` header holds none (the checks
/// above have refused it already).
pub fn held(ctx: &Ctx) -> Held {
    let lists = ctx.header("if").and_then(|h| ifheader::parse(h).ok());
    Held(
        lists
            .as_deref()
            .map(ifheader::tokens)
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect(),
    )
}

/// True when any list holds: all its conditions hold for its resource.
fn evaluate(ctx: &Ctx, req: &Req, segs: &[String], lists: &[ifheader::List]) -> bool {
    lists.iter().any(|list| {
        let target: Vec<String> = match &list.resource {
            None => segs.to_vec(),
            Some(url) => match resource_segs(req, url) {
                Some(s) => s,
                None => return false,
            },
        };
        let node = ctx
            .app
            .files
            .lookup(&ctx.actor, &req.uid, &target)
            .ok()
            .flatten();
        let etag = node.as_ref().map(|n| format!("\"{}\"", n.etag));
        list.conditions.iter().all(|c| {
            let holds = match &c.cond {
                Cond::Token(t) => ctx.app.files.locks().has_token(&req.uid, &target, t),
                Cond::Etag(e) => etag
                    .as_deref()
                    .is_some_and(|cur| cur == e.trim_start_matches("W/")),
            };
            holds != c.not
        })
    })
}

/// Maps a URL or absolute path from `If`/`Destination` into path segments of this space.
pub fn resource_segs(req: &Req, url: &str) -> Option<Vec<String>> {
    let path = match url.find("://") {
        Some(i) => {
            let after = &url[i + 3..];
            &after[after.find('/')?..]
        }
        None => url,
    };
    let decoded = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .ok()?;
    let base = percent_encoding::percent_decode_str(&req.base)
        .decode_utf8()
        .ok()?;
    let rest = decoded.strip_prefix(base.as_ref())?;
    if !(rest.is_empty() || rest.starts_with('/')) {
        return None;
    }
    crate::files::names::split(rest).ok()
}

fn parse_timeout(h: Option<&str>) -> Duration {
    let Some(h) = h else { return DEFAULT_TIMEOUT };
    for part in h.split(',') {
        let p = part.trim();
        if p.eq_ignore_ascii_case("infinite") {
            return MAX_TIMEOUT;
        }
        if let Some(n) = p
            .strip_prefix("Second-")
            .and_then(|n| n.parse::<u64>().ok())
        {
            return Duration::from_secs(n.clamp(1, MAX_TIMEOUT.as_secs()));
        }
    }
    DEFAULT_TIMEOUT
}

fn lock_response(status: StatusCode, lock: &Lock, new_token: bool) -> Resp {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:prop xmlns:d=\"DAV:\"><d:lockdiscovery>{}</d:lockdiscovery></d:prop>\n",
        discovery_xml(lock)
    );
    let mut r = response::with(status, "application/xml; charset=utf-8", body);
    if new_token {
        response::set_header(
            &mut r,
            header::HeaderName::from_static("lock-token"),
            &format!("<{}>", lock.token),
        );
    }
    r
}

pub async fn lock(mut ctx: Ctx, req: Req) -> DavResult {
    let body = super::xml_body(&mut ctx).await?;
    let timeout = parse_timeout(ctx.header("timeout"));
    let me = ctx
        .actor
        .principal()
        .map(|p| p.uid.clone())
        .unwrap_or_default();
    let Some(info) = body else {
        // Refresh: the token comes in the If header.
        let lists = ctx
            .header("if")
            .map(ifheader::parse)
            .transpose()
            .map_err(DavError::bad_request)?
            .ok_or_else(|| {
                DavError::bad_request(
                    "A LOCK without a body refreshes a lock and needs an If header",
                )
            })?;
        let tokens = ifheader::tokens(&lists);
        let Some(l) = ctx
            .app
            .files
            .locks()
            .refresh(&me, &req.uid, &req.segs, &tokens, timeout)
        else {
            return Err(DavError::precondition("No matching lock to refresh")
                .with_condition("lock-token-matches-request-uri"));
        };
        return Ok(lock_response(StatusCode::OK, &l, false));
    };
    if !info.is(NS_DAV, "lockinfo") {
        return Err(DavError::bad_request(
            "The LOCK body must be a DAV:lockinfo element",
        ));
    }
    let exclusive = match info.child(NS_DAV, "lockscope") {
        Some(s) if s.child(NS_DAV, "exclusive").is_some() => true,
        Some(s) if s.child(NS_DAV, "shared").is_some() => false,
        _ => {
            return Err(DavError::bad_request(
                "lockscope must be exclusive or shared",
            ));
        }
    };
    if info
        .child(NS_DAV, "locktype")
        .and_then(|t| t.child(NS_DAV, "write"))
        .is_none()
    {
        return Err(DavError::bad_request("only write locks exist"));
    }
    let owner_xml = info
        .child(NS_DAV, "owner")
        .map(El::inner_xml)
        .unwrap_or_default();
    let infinite = match ctx.header("depth").map(str::trim) {
        None => true,
        Some("0") => false,
        Some(d) if d.eq_ignore_ascii_case("infinity") => true,
        Some(d) => {
            return Err(DavError::bad_request(format!(
                "Depth: {d:?} is not valid for LOCK"
            )));
        }
    };
    // Creating a lock on an unmapped URL creates an empty file (RFC 4918 §9.10.4).
    let existing = ctx.app.files.lookup(&ctx.actor, &req.uid, &req.segs)?;
    let refused = |r: Refused| match r {
        Refused::TooMany => DavError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sabre\\DAV\\Exception\\ServiceUnavailable",
            "Too many locks",
        ),
        Refused::Conflict => DavError::locked().with_condition("no-conflicting-lock"),
    };
    ctx.app
        .files
        .locks()
        .can_take(&req.uid, &req.segs, infinite, exclusive)
        .map_err(refused)?;
    let mut status = StatusCode::OK;
    if existing.is_none() {
        check_write(&ctx, &req, &req.segs, true)?;
        let quota = ctx
            .app
            .accounts
            .user(&req.uid)
            .map_err(|_| DavError::not_found("No such user"))?
            .quota;
        ctx.app
            .files
            .put(
                &ctx.actor,
                &req.uid,
                &req.segs,
                quota,
                tokio::io::empty(),
                crate::files::PutOptions {
                    held: held(&ctx),
                    ..Default::default()
                },
            )
            .await?;
        status = StatusCode::CREATED;
    }
    let token = format!("opaquelocktoken:{}", uuid_like());
    let l = Lock {
        token,
        principal: me,
        space: req.uid.clone(),
        root: req.segs.clone(),
        infinite,
        exclusive,
        owner_xml,
        timeout,
        expires: crate::clock::instant() + timeout,
    };
    let resp = lock_response(status, &l, true);
    // Checked again as it is taken: another LOCK may have won meanwhile.
    ctx.app.files.locks().take(l).map_err(refused)?;
    Ok(resp)
}

pub async fn unlock(ctx: Ctx, req: Req) -> DavResult {
    let token = ctx
        .header("lock-token")
        .map(|t| {
            t.trim()
                .trim_start_matches('<')
                .trim_end_matches('>')
                .to_owned()
        })
        .ok_or_else(|| DavError::bad_request("UNLOCK needs a Lock-Token header"))?;
    let me = ctx
        .actor
        .principal()
        .map(|p| p.uid.clone())
        .unwrap_or_default();
    match ctx
        .app
        .files
        .locks()
        .release(&me, &req.uid, &req.segs, &token)
    {
        Ok(()) => {}
        Err(NotReleased::NoMatch) => {
            return Err(
                DavError::conflict("The lock token does not match this resource")
                    .with_condition("lock-token-matches-request-uri"),
            );
        }
        Err(NotReleased::NotYours) => {
            return Err(DavError::forbidden("This lock belongs to someone else"));
        }
    }
    let mut r = response::with_room(response::empty(), 8);
    *r.status_mut() = StatusCode::NO_CONTENT;
    Ok(r)
}

fn uuid_like() -> String {
    let b: [u8; 16] = rand::random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    )
}
