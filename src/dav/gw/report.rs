//! REPORTs: calendar-query and calendar-multiget (RFC 4791 §7.8–7.9), addressbook-query and
//! addressbook-multiget (RFC 6352 §8.6–8.7), sync-collection (RFC 6578); and `?export`.
//! Answers over a collection are streamed a page at a time: memory stays flat whatever its size.

use std::sync::Arc;

use http_body_util::BodyExt;

use super::propfind::{self, Res, sync_token};
use super::render;
use super::{GwPath, NS_CAL, NS_CARD, object_href};
use crate::dav::propfind::multistatus;
use crate::dav::props::Want;
use crate::dav::xml::{El, NS_DAV};
use crate::dav::{DavError, DavResult};
use crate::groupware::filter::{
    CardFilter, Collation, CompFilter, MatchType, ParamFilter, PropFilter, TextMatch, TimeRange,
};
use crate::groupware::{Collection, Kind, Object, filter};
use crate::http::{Ctx, Resp, body, response};
use crate::state::App;

const PAGE: usize = 256;

pub async fn handle(mut ctx: Ctx, me: String, path: GwPath) -> DavResult {
    let body = crate::dav::xml_body(&mut ctx)
        .await?
        .ok_or_else(|| DavError::bad_request("REPORT needs a body"))?;
    let app = ctx.app.clone();
    if body.is(NS_DAV, "principal-property-search") {
        return super::search::principal_search(&ctx, &me, &body);
    }
    if body.is(NS_DAV, "principal-search-property-set") {
        return super::search::search_property_set();
    }
    let (kind, _, coll) = match &path {
        GwPath::Collection(k, u, c) => (*k, u.as_str(), c.as_str()),
        GwPath::Object(k, u, c, _) => (*k, u.as_str(), c.as_str()),
        _ => {
            return Err(
                DavError::forbidden("Reports run on a calendar or an address book")
                    .with_condition("supported-report"),
            );
        }
    };
    let c = super::collection_for(&ctx, &me, kind, coll)?;
    let want = shape_of(&body).map_err(DavError::bad_request)?;
    match (body.ns.as_str(), body.name.as_str(), kind) {
        (NS_CAL, "calendar-multiget", Kind::Calendar)
        | (NS_CARD, "addressbook-multiget", Kind::Addressbook) => {
            multiget(&app, &me, &c, &body, &want)
        }
        (NS_CAL, "calendar-query", Kind::Calendar) => {
            let f = body
                .child(NS_CAL, "filter")
                .and_then(|f| f.child(NS_CAL, "comp-filter"))
                .map(parse_comp_filter)
                .transpose()
                .map_err(DavError::bad_request)?
                .ok_or_else(|| {
                    DavError::bad_request("calendar-query needs a filter with a comp-filter")
                        .with_condition_xml(format!("<x:valid-filter xmlns:x=\"{NS_CAL}\"/>"))
                })?;
            Ok(query(app, me, c, want, Query::Calendar(f), usize::MAX))
        }
        (NS_CARD, "addressbook-query", Kind::Addressbook) => {
            let f = body.child(NS_CARD, "filter");
            let filter = CardFilter {
                all_of: f
                    .and_then(|f| attr(f, "test"))
                    .is_some_and(|t| t.eq_ignore_ascii_case("allof")),
                props: f
                    .map(|f| {
                        f.children
                            .iter()
                            .filter(|p| p.is(NS_CARD, "prop-filter"))
                            .map(|p| parse_prop_filter(p, NS_CARD))
                            .collect::<Result<Vec<_>, _>>()
                    })
                    .transpose()
                    .map_err(DavError::bad_request)?
                    .unwrap_or_default(),
            };
            let limit = body
                .child(NS_CARD, "limit")
                .and_then(|l| l.child(NS_CARD, "nresults"))
                .and_then(|n| n.text_content().trim().parse::<usize>().ok())
                .unwrap_or(usize::MAX);
            if filter.uses_index_only() {
                return Ok(card_query(app, me, c, want, filter, limit));
            }
            Ok(query(app, me, c, want, Query::Card(filter), limit))
        }
        (NS_CAL, "free-busy-query", Kind::Calendar) => super::search::free_busy(&ctx, &c, &body),
        (NS_DAV, "sync-collection", _) => sync_collection(app, me, c, &body, want),
        _ => Err(
            DavError::forbidden(format!("The {} report is not supported here", body.name))
                .with_condition("supported-report"),
        ),
    }
}

fn attr<'a>(el: &'a El, name: &str) -> Option<&'a str> {
    el.attrs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// What each response carries: the properties, and whether calendar-data is expanded.
pub struct Shape {
    pub want: Want,
    pub expand: Option<TimeRange>,
    /// `card:address-data version="…"`: the vCard version the client asked for.
    pub card_version: Option<String>,
}

fn shape_of(body: &El) -> Result<Shape, String> {
    let expand = body
        .child(NS_DAV, "prop")
        .and_then(|p| p.child(NS_CAL, "calendar-data"))
        .and_then(|d| d.child(NS_CAL, "expand"))
        .map(time_range)
        .transpose()?;
    let card_version = body
        .child(NS_DAV, "prop")
        .and_then(|p| p.child(NS_CARD, "address-data"))
        .and_then(|d| attr(d, "version"))
        .map(str::to_owned);
    Ok(Shape {
        want: want_of(body),
        expand,
        card_version,
    })
}

fn want_of(body: &El) -> Want {
    if body.child(NS_DAV, "allprop").is_some() {
        return Want::All;
    }
    match body.child(NS_DAV, "prop") {
        Some(p) => Want::Props(p.children.iter().map(El::clark).collect()),
        None => Want::Props(vec![format!("{{{NS_DAV}}}getetag")]),
    }
}

pub use crate::groupware::expand::parse_utc;

pub(super) fn time_range(el: &El) -> Result<TimeRange, String> {
    let get = |n: &str| -> Result<Option<i64>, String> {
        match attr(el, n) {
            None => Ok(None),
            Some(v) => parse_utc(v).map(Some).ok_or_else(|| {
                format!("time-range {n}={v:?} is not a UTC date-time like 20260101T000000Z")
            }),
        }
    };
    let (start, end) = (get("start")?, get("end")?);
    if start.is_none() && end.is_none() {
        return Err("a time-range needs start or end".into());
    }
    let r = TimeRange {
        start: start.unwrap_or(i64::MIN),
        end: end.unwrap_or(i64::MAX),
    };
    if r.end <= r.start {
        return Err("a time-range must end after it starts".into());
    }
    Ok(r)
}

fn text_match(el: &El, default: Collation) -> TextMatch {
    TextMatch {
        value: el.text_content(),
        negate: attr(el, "negate-condition").is_some_and(|v| v == "yes"),
        collation: match attr(el, "collation") {
            Some("i;octet") => Collation::Octet,
            Some(_) => Collation::CaseMap,
            None => default,
        },
        match_type: match attr(el, "match-type") {
            Some("equals") => MatchType::Equals,
            Some("starts-with") => MatchType::StartsWith,
            Some("ends-with") => MatchType::EndsWith,
            _ => MatchType::Contains,
        },
        folded: Default::default(),
    }
}

fn name_attr(el: &El) -> Result<String, String> {
    attr(el, "name")
        .map(str::to_owned)
        .ok_or_else(|| format!("{} needs a name attribute", el.name))
}

fn parse_comp_filter(el: &El) -> Result<CompFilter, String> {
    let mut f = CompFilter {
        name: name_attr(el)?,
        ..CompFilter::default()
    };
    for c in &el.children {
        match (c.ns.as_str(), c.name.as_str()) {
            (NS_CAL, "is-not-defined") => f.is_not_defined = true,
            (NS_CAL, "time-range") => f.time_range = Some(time_range(c)?),
            (NS_CAL, "prop-filter") => f.props.push(parse_prop_filter(c, NS_CAL)?),
            (NS_CAL, "comp-filter") => f.comps.push(parse_comp_filter(c)?),
            _ => {}
        }
    }
    Ok(f)
}

fn parse_prop_filter(el: &El, ns: &str) -> Result<PropFilter, String> {
    let cal = ns == NS_CAL;
    // i;ascii-casemap (CalDAV's default) and i;unicode-casemap (CardDAV's) both fold case.
    let default = Collation::CaseMap;
    let mut f = PropFilter {
        name: name_attr(el)?,
        all_of: cal || attr(el, "test").is_some_and(|t| t.eq_ignore_ascii_case("allof")),
        ..PropFilter::default()
    };
    for c in &el.children {
        if c.ns != ns {
            continue;
        }
        match c.name.as_str() {
            "is-not-defined" => f.is_not_defined = true,
            "time-range" => f.time_range = Some(time_range(c)?),
            "text-match" => f.text.push(text_match(c, default)),
            "param-filter" => {
                let mut p = ParamFilter {
                    name: name_attr(c)?,
                    ..ParamFilter::default()
                };
                for pc in &c.children {
                    if pc.is(ns, "is-not-defined") {
                        p.is_not_defined = true;
                    } else if pc.is(ns, "text-match") {
                        p.text = Some(text_match(pc, default));
                    }
                }
                f.params.push(p);
            }
            _ => {}
        }
    }
    Ok(f)
}

/// Writes one object's response, using `data` for calendar-data/address-data when loaded.
/// Whether the Clark-notation name `n` is `{ns}local`, without building that string.
fn is_name(n: &str, ns: &str, local: &str) -> bool {
    n.strip_prefix('{')
        .and_then(|r| r.strip_suffix(local))
        .and_then(|r| r.strip_suffix('}'))
        == Some(ns)
}

fn write_object(
    app: &App,
    me: &str,
    out: &mut String,
    c: &Collection,
    (uri, o): (&str, &Object),
    shape: &Shape,
    data: Option<&[u8]>,
) {
    let h = object_href(c.kind, c.home_user(), c.name(), uri);
    let res = Res::Object(c, uri, o);
    let fallback;
    let names: &[String] = match &shape.want {
        Want::Props(p) => p,
        _ => {
            fallback = [format!("{{{NS_DAV}}}getetag")];
            &fallback
        }
    };
    render::response(out, &h, names, false, |n| {
        let is_data = is_name(n, NS_CAL, "calendar-data") || is_name(n, NS_CARD, "address-data");
        match data {
            Some(d) if is_data => {
                let text = String::from_utf8_lossy(d);
                match (shape.expand, &shape.card_version) {
                    (Some(r), _) if c.kind == Kind::Calendar => {
                        crate::groupware::expand::expand(&text, r.start, r.end)
                            .map(|x| render::text(&x))
                    }
                    (_, Some(v)) if c.kind == Kind::Addressbook => Some(render::text(
                        &crate::groupware::vcard::convert(&text, v)
                            .unwrap_or_else(|| text.into_owned()),
                    )),
                    _ => Some(render::text(&text)),
                }
            }
            _ => propfind::value(app, me, &res, n),
        }
    });
}

fn multiget(app: &Arc<App>, me: &str, c: &Collection, body: &El, want: &Shape) -> DavResult {
    let base = super::collection_href(c.kind, c.home_user(), c.name());
    let mut out = String::from(render::OPEN);
    let hrefs: Vec<&El> = body
        .children
        .iter()
        .filter(|h| h.is(NS_DAV, "href"))
        .collect();
    if hrefs.len() > 10_000 {
        return Err(DavError::forbidden("At most 10,000 hrefs per multiget"));
    }
    for h in hrefs {
        let raw = h.text_content();
        let raw = raw.trim();
        let path = raw
            .find("://")
            .and_then(|i| raw[i + 3..].find('/').map(|j| &raw[i + 3 + j..]))
            .unwrap_or(raw);
        let decoded = percent_encoding::percent_decode_str(path).decode_utf8_lossy();
        let enc_base = percent_encoding::percent_decode_str(&base).decode_utf8_lossy();
        let name = decoded
            .strip_prefix(enc_base.as_ref())
            .filter(|n| !n.is_empty() && !n.contains('/'));
        let found = match name {
            Some(n) => app.groupware.object(c, n)?.map(|o| (n.to_owned(), o)),
            None => None,
        };
        match found {
            Some((n, o)) => {
                let data = app.groupware.object_data(c.id, &n)?;
                write_object(app, me, &mut out, c, (&n, &o), want, data.as_deref());
            }
            None => render::status_response(&mut out, raw, "404 Not Found"),
        }
    }
    out.push_str(render::CLOSE);
    Ok(multistatus(response::full(out)))
}

enum Query {
    Calendar(CompFilter),
    Card(CardFilter),
}

impl Query {
    /// Decides on the stored span alone when it can; `None` means "parse and look".
    fn quick(&self, o: &Object) -> Option<bool> {
        let Query::Calendar(f) = self else {
            return None;
        };
        if let Some(r) = f.outer_time_range()
            && !crate::groupware::ical::overlaps(o.start, o.end, r.start, r.end)
        {
            return Some(false);
        }
        if let Some(name) = f.comps.first().map(|c| c.name.as_str())
            && f.comps.len() == 1
            && !name.eq_ignore_ascii_case(&o.component)
            && !f.comps[0].is_not_defined
        {
            return Some(false);
        }
        match f.simple_time_range() {
            Some(_) if !o.recurring => Some(true),
            _ => None,
        }
    }

    fn matches(&self, data: &[u8]) -> bool {
        let text = String::from_utf8_lossy(data);
        match self {
            Query::Calendar(f) => filter::calendar_matches(&text, f),
            Query::Card(f) => filter::card_matches(&text, f),
        }
    }
}

/// The end of a query's multistatus: a 507 for the collection when the answer was cut at the
/// client's limit (RFC 6352 §8.6.1), then the closing tag.
fn closing(c: &Collection, truncated: bool) -> String {
    let mut tail = String::new();
    if truncated {
        let h = super::collection_href(c.kind, c.home_user(), c.name());
        render::status_response(&mut tail, &h, "507 Insufficient Storage");
    }
    tail.push_str(render::CLOSE);
    tail
}

/// Streams the cards that match an index-only filter, reading the search table instead of
/// the cards themselves.
fn card_query(
    app: Arc<App>,
    me: String,
    c: Collection,
    want: Shape,
    f: CardFilter,
    limit: usize,
) -> Resp {
    let wants_data =
        matches!(&want.want, Want::Props(p) if p.iter().any(|n| n.ends_with("}address-data")));
    let (tx, rx) = body::channel(4);
    tokio::task::spawn_blocking(move || {
        if tx.blocking_send(render::OPEN.into()).is_err() {
            return;
        }
        let mut after: Option<String> = None;
        let mut sent = 0usize;
        let mut truncated = false;
        loop {
            let mut chunk = String::new();
            let next = app.groupware.card_query_page(
                c.id,
                after.as_deref(),
                PAGE,
                wants_data,
                |packed| filter::card_matches_packed(packed, &f),
                |uri, o, data| {
                    if sent >= limit {
                        truncated = true;
                        return false;
                    }
                    sent += 1;
                    write_object(&app, &me, &mut chunk, &c, (uri, o), &want, data);
                    true
                },
            );
            let next = match next {
                Ok(n) => n,
                Err(e) => {
                    tracing::error!(error = %e, "card query failed midway");
                    break;
                }
            };
            if !chunk.is_empty() && tx.blocking_send(chunk.into()).is_err() {
                return;
            }
            match next {
                Some(n) => after = Some(n),
                None => break,
            }
        }
        let _ = tx.blocking_send(closing(&c, truncated).into());
    });
    multistatus(rx.boxed_unsync())
}

/// Streams the members of `c` that match `q`.
fn query(app: Arc<App>, me: String, c: Collection, want: Shape, q: Query, limit: usize) -> Resp {
    let wants_data = matches!(&want.want, Want::Props(p) if p.iter().any(|n| n.ends_with("}calendar-data") || n.ends_with("}address-data")));
    let (tx, rx) = body::channel(4);
    tokio::task::spawn_blocking(move || {
        if tx.blocking_send(render::OPEN.into()).is_err() {
            return;
        }
        let mut after: Option<String> = None;
        let mut sent = 0usize;
        let mut truncated = false;
        'pages: loop {
            let page = match app.groupware.objects(c.id, after.as_deref(), PAGE) {
                Ok(p) => p,
                Err(e) => {
                    tracing::error!(error = %e, "query failed midway");
                    break;
                }
            };
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            let mut chunk = String::new();
            for (uri, o) in &page {
                let quick = q.quick(o);
                if quick == Some(false) {
                    continue;
                }
                let data = if quick.is_none() || wants_data {
                    match app.groupware.object_data(c.id, uri) {
                        Ok(Some(d)) => Some(d),
                        _ => continue,
                    }
                } else {
                    None
                };
                if quick.is_none() && !data.as_deref().is_some_and(|d| q.matches(d)) {
                    continue;
                }
                if sent >= limit {
                    truncated = true;
                    break 'pages;
                }
                sent += 1;
                write_object(&app, &me, &mut chunk, &c, (uri, o), &want, data.as_deref());
            }
            if !chunk.is_empty() && tx.blocking_send(chunk.into()).is_err() {
                return;
            }
            if page.len() < PAGE {
                break;
            }
        }
        let _ = tx.blocking_send(closing(&c, truncated).into());
    });
    multistatus(rx.boxed_unsync())
}

fn sync_collection(app: Arc<App>, me: String, c: Collection, body: &El, want: Shape) -> DavResult {
    let token = body
        .child(NS_DAV, "sync-token")
        .map(|t| t.text_content().trim().to_owned())
        .unwrap_or_default();
    let limit = body
        .child(NS_DAV, "limit")
        .and_then(|l| l.child(NS_DAV, "nresults"))
        .and_then(|n| n.text_content().trim().parse::<usize>().ok())
        .unwrap_or(100_000);
    if token.is_empty() {
        // Initial sync: every member, then the current token.
        let final_token = sync_token(&c);
        let (tx, rx) = body::channel(4);
        tokio::task::spawn_blocking(move || {
            if tx.blocking_send(render::OPEN.into()).is_err() {
                return;
            }
            let mut after: Option<String> = None;
            loop {
                let Ok(page) = app.groupware.objects(c.id, after.as_deref(), PAGE) else {
                    break;
                };
                let Some((last, _)) = page.last() else { break };
                after = Some(last.clone());
                let mut chunk = String::new();
                for (uri, o) in &page {
                    write_object(&app, &me, &mut chunk, &c, (uri, o), &want, None);
                }
                if tx.blocking_send(chunk.into()).is_err() {
                    return;
                }
                if page.len() < PAGE {
                    break;
                }
            }
            let tail = format!(
                "<d:sync-token>{final_token}</d:sync-token>\n{}",
                render::CLOSE
            );
            let _ = tx.blocking_send(tail.into());
        });
        return Ok(multistatus(rx.boxed_unsync()));
    }
    let since = token
        .strip_prefix("http://sabre.io/ns/sync/")
        .and_then(|n| n.parse::<u64>().ok())
        .ok_or(crate::groupware::GroupwareError::InvalidSyncToken)?;
    let (changes, upto, truncated) = app.groupware.changes_since(&c, since, limit)?;
    let mut out = String::from(render::OPEN);
    for ch in &changes {
        let h = object_href(c.kind, c.home_user(), c.name(), &ch.uri);
        match (ch.deleted, app.groupware.object(&c, &ch.uri)?) {
            (false, Some(o)) => write_object(&app, &me, &mut out, &c, (&ch.uri, &o), &want, None),
            _ => render::status_response(&mut out, &h, "404 Not Found"),
        }
    }
    if truncated {
        let h = super::collection_href(c.kind, c.home_user(), c.name());
        render::status_response(&mut out, &h, "507 Insufficient Storage");
    }
    out.push_str(&format!(
        "<d:sync-token>http://sabre.io/ns/sync/{upto}</d:sync-token>\n"
    ));
    out.push_str(render::CLOSE);
    Ok(multistatus(response::full(out)))
}

/// `GET …/calendar/?export`: the whole calendar as one `.ics` (time zones once each), or the
/// whole address book as one `.vcf`, streamed.
pub fn export(app: Arc<App>, c: Collection) -> DavResult {
    let kind = c.kind;
    let (tx, rx) = body::channel(4);
    let filename = format!(
        "{}.{}",
        c.uri.replace(['"', '\\'], ""),
        if kind == Kind::Calendar { "ics" } else { "vcf" }
    );
    tokio::task::spawn_blocking(move || {
        app.groupware
            .export(&c, |chunk| tx.blocking_send(chunk.into()).is_ok());
    });
    let mut r = http::Response::new(rx.boxed_unsync());
    let ctype = if kind == Kind::Calendar {
        "text/calendar; charset=utf-8"
    } else {
        "text/vcard; charset=utf-8"
    };
    response::set_header(&mut r, http::header::CONTENT_TYPE, ctype);
    response::set_header(
        &mut r,
        http::header::CONTENT_DISPOSITION,
        &format!("attachment; filename=\"{filename}\""),
    );
    Ok(r)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::parse_utc("19700101T000000Z"), Some(0));
        assert_eq!(super::parse_utc("20260105T100000Z"), Some(1_767_607_200));
        assert_eq!(super::parse_utc("20260105T100000"), None);
        assert_eq!(super::parse_utc("99991231T235959Z"), Some(253_402_300_799));
    }
}
