//! WebDAV locks (class 2): exclusive and shared write locks, depth 0 or infinity, with
//! timeouts, held in memory (a restart releases them, as a crash of any lock holder would).
//! Writes to a locked resource need its token in the `If` header; the `If` header itself is
//! evaluated against etags and live locks (412 when false).

use std::sync::Mutex;
use std::time::{Duration, Instant};

use http::{StatusCode, header};

use super::ifheader::{self, Cond};
use super::xml::{El, NS_DAV, escape};
use super::{DavError, DavResult, Req};
use crate::http::{Ctx, Resp, response};

const MAX_TIMEOUT: Duration = Duration::from_secs(3600);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);
/// Bounds memory: a client cannot pile up locks without limit.
const MAX_LOCKS: usize = 10_000;

#[derive(Debug, Clone)]
pub struct Lock {
    pub token: String,
    /// Who took it (tokens of another user are never accepted).
    pub principal: String,
    /// The space (owner uid) and the locked path in it.
    pub space: String,
    pub root: Vec<String>,
    pub infinite: bool,
    pub exclusive: bool,
    pub owner_xml: String,
    pub timeout: Duration,
    pub expires: Instant,
}

#[derive(Default)]
pub struct LockManager {
    locks: Mutex<Vec<Lock>>,
}

fn is_prefix(a: &[String], b: &[String]) -> bool {
    a.len() <= b.len() && a == &b[..a.len()]
}

impl Lock {
    /// Whether this lock covers the resource at `segs` (itself, or below a depth-infinity lock).
    fn covers(&self, space: &str, segs: &[String]) -> bool {
        self.space == space && (self.root == segs || (self.infinite && is_prefix(&self.root, segs)))
    }

    fn discovery_xml(&self) -> String {
        let secs = self
            .expires
            .saturating_duration_since(Instant::now())
            .as_secs()
            .max(1);
        format!(
            "<d:activelock><d:locktype><d:write/></d:locktype><d:lockscope><d:{}/></d:lockscope><d:depth>{}</d:depth>{}<d:timeout>Second-{secs}</d:timeout><d:locktoken><d:href>{}</d:href></d:locktoken></d:activelock>",
            if self.exclusive {
                "exclusive"
            } else {
                "shared"
            },
            if self.infinite { "infinity" } else { "0" },
            if self.owner_xml.is_empty() {
                String::new()
            } else {
                format!("<d:owner>{}</d:owner>", self.owner_xml)
            },
            escape(&self.token)
        )
    }
}

impl LockManager {
    fn live(&self) -> std::sync::MutexGuard<'_, Vec<Lock>> {
        let mut g = self
            .locks
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let now = Instant::now();
        g.retain(|l| l.expires > now);
        g
    }

    /// `<d:activelock>` elements for the locks covering a resource.
    pub fn discovery(&self, space: &str, segs: &[String]) -> String {
        self.live()
            .iter()
            .filter(|l| l.covers(space, segs))
            .map(Lock::discovery_xml)
            .collect()
    }

    fn covering(&self, space: &str, segs: &[String]) -> Vec<Lock> {
        self.live()
            .iter()
            .filter(|l| l.covers(space, segs))
            .cloned()
            .collect()
    }

    /// Locks on `segs` itself, above it, or (for a collection) anywhere below it.
    fn touching_subtree(&self, space: &str, segs: &[String]) -> Vec<Lock> {
        self.live()
            .iter()
            .filter(|l| l.space == space && (l.covers(space, segs) || is_prefix(segs, &l.root)))
            .cloned()
            .collect()
    }

    pub fn has_token(&self, space: &str, segs: &[String], token: &str) -> bool {
        self.live()
            .iter()
            .any(|l| l.token == token && l.covers(space, segs))
    }

    /// Moves or removes locks when their resource moves away or is deleted.
    pub fn forget_subtree(&self, space: &str, segs: &[String]) {
        self.live()
            .retain(|l| !(l.space == space && is_prefix(segs, &l.root)));
    }
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
    let mut involved = if subtree {
        app.locks.touching_subtree(&req.uid, segs)
    } else {
        app.locks.covering(&req.uid, segs)
    };
    if membership && !segs.is_empty() {
        // A lock on the parent folder protects its list of members (RFC 4918 §7.5).
        let parent = &segs[..segs.len() - 1];
        involved.extend(app.locks.covering(&req.uid, parent));
    }
    for l in involved {
        if !(l.principal == me && submitted.contains(&l.token.as_str())) {
            return Err(DavError::locked());
        }
    }
    Ok(())
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
                Cond::Token(t) => ctx.app.locks.has_token(&req.uid, &target, t),
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
        lock.discovery_xml()
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
        let mut g = ctx.app.locks.live();
        let Some(l) = g.iter_mut().find(|l| {
            tokens.contains(&l.token.as_str()) && l.covers(&req.uid, &req.segs) && l.principal == me
        }) else {
            return Err(DavError::precondition("No matching lock to refresh")
                .with_condition("lock-token-matches-request-uri"));
        };
        l.timeout = timeout;
        l.expires = Instant::now() + timeout;
        let l = l.clone();
        drop(g);
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
    {
        let g = ctx.app.locks.live();
        if g.len() >= MAX_LOCKS {
            return Err(DavError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "Sabre\\DAV\\Exception\\ServiceUnavailable",
                "Too many locks",
            ));
        }
        let conflict = g.iter().any(|l| {
            l.space == req.uid
                && (l.covers(&req.uid, &req.segs) || (infinite && is_prefix(&req.segs, &l.root)))
                && (l.exclusive || exclusive)
        });
        if conflict {
            return Err(DavError::locked().with_condition("no-conflicting-lock"));
        }
    }
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
                crate::files::PutOptions::default(),
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
        expires: Instant::now() + timeout,
    };
    let resp = lock_response(status, &l, true);
    // Re-check under the lock table's mutex: another LOCK may have won meanwhile.
    let mut g = ctx.app.locks.live();
    if g.iter().any(|o| {
        o.space == l.space
            && (o.covers(&l.space, &l.root) || (infinite && is_prefix(&l.root, &o.root)))
            && (o.exclusive || exclusive)
    }) {
        return Err(DavError::locked().with_condition("no-conflicting-lock"));
    }
    g.push(l);
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
    let mut g = ctx.app.locks.live();
    let Some(i) = g
        .iter()
        .position(|l| l.token == token && l.covers(&req.uid, &req.segs))
    else {
        return Err(
            DavError::conflict("The lock token does not match this resource")
                .with_condition("lock-token-matches-request-uri"),
        );
    };
    if g[i].principal != me {
        return Err(DavError::forbidden("This lock belongs to someone else"));
    }
    g.remove(i);
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
