//! SEARCH (RFC 5323 basicsearch) on `/remote.php/dav`, as Nextcloud's Android app and web
//! use it: name, MIME type, times, size, favourite, file id; and/or/not; ordering; limits.
//! Results are kept bounded (the best `offset + limit`), never the whole tree.

use std::cmp::Ordering;

use super::propfind::{multistatus, prop_ctx, render};
use super::props::Want;
use super::xml::{El, MULTISTATUS_CLOSE, MULTISTATUS_OPEN, NS_DAV, NS_NC};
use super::{DavError, DavResult, Req};
use crate::files::Node;
use crate::http::{Ctx, response};

/// Most results one SEARCH returns when the client sets no limit.
const MAX_RESULTS: usize = 10_000;

#[derive(Debug)]
enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Cmp(Op, String, Literal),
    IsCollection,
    True,
}

#[derive(Debug, Clone, Copy)]
enum Op {
    Eq,
    Like,
    Gt,
    Gte,
    Lt,
    Lte,
}

#[derive(Debug)]
enum Literal {
    Text(String),
    Number(i64),
}

fn parse_expr(el: &El) -> Result<Expr, String> {
    let ops = |el: &El| {
        el.children
            .iter()
            .map(parse_expr)
            .collect::<Result<Vec<_>, _>>()
    };
    if el.ns != NS_DAV {
        return Err(format!("unknown operator {}", el.clark()));
    }
    Ok(match el.name.as_str() {
        "and" => Expr::And(ops(el)?),
        "or" => Expr::Or(ops(el)?),
        "not" => Expr::Not(Box::new(parse_expr(
            el.children.first().ok_or("empty not")?,
        )?)),
        "is-collection" => Expr::IsCollection,
        "eq" | "like" | "gt" | "gte" | "lt" | "lte" => {
            let op = match el.name.as_str() {
                "eq" => Op::Eq,
                "like" => Op::Like,
                "gt" => Op::Gt,
                "gte" => Op::Gte,
                "lt" => Op::Lt,
                _ => Op::Lte,
            };
            let prop = el
                .child(NS_DAV, "prop")
                .and_then(|p| p.children.first())
                .ok_or("comparison without a property")?
                .clark();
            let lit = el
                .child(NS_DAV, "literal")
                .map(El::text_content)
                .unwrap_or_default();
            Expr::Cmp(op, prop.clone(), literal(&prop, lit.trim())?)
        }
        other => return Err(format!("unsupported operator {other}")),
    })
}

/// Literals are typed by the property: numbers, times (ISO 8601, RFC 1123 or unix) or text.
fn literal(prop: &str, s: &str) -> Result<Literal, String> {
    Ok(match prop {
        "{DAV:}getlastmodified" | "{DAV:}creationdate" | "{http://nextcloud.org/ns}upload_time" => {
            Literal::Number(parse_time(s).ok_or_else(|| format!("{s:?} is not a date"))?)
        }
        "{http://owncloud.org/ns}size"
        | "{DAV:}getcontentlength"
        | "{http://owncloud.org/ns}favorite" => {
            Literal::Number(s.parse().map_err(|_| format!("{s:?} is not a number"))?)
        }
        // oc:id strings ("00000123ocabc") arrive where a number is meant: take the leading digits.
        "{http://owncloud.org/ns}fileid" => {
            let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
            Literal::Number(
                digits
                    .parse()
                    .map_err(|_| format!("{s:?} is not a file id"))?,
            )
        }
        _ => Literal::Text(s.to_owned()),
    })
}

fn parse_time(s: &str) -> Option<i64> {
    if let Ok(n) = s.parse::<i64>() {
        return Some(n);
    }
    if let Ok(t) = httpdate::parse_http_date(s) {
        return t
            .duration_since(std::time::UNIX_EPOCH)
            .ok()
            .and_then(|d| i64::try_from(d.as_secs()).ok());
    }
    // ISO 8601: YYYY-MM-DDTHH:MM:SS with Z or ±HH:MM.
    let b = s.as_bytes();
    if b.len() < 19 {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d, h, mi, se) = (
        num(0..4)?,
        num(5..7)?,
        num(8..10)?,
        num(11..13)?,
        num(14..16)?,
        num(17..19)?,
    );
    let rest = s[19..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
    let offset = match rest {
        "" | "Z" => 0,
        r if r.len() == 6 => {
            let sign = if r.starts_with('-') { -1 } else { 1 };
            sign * (r.get(1..3)?.parse::<i64>().ok()? * 3600
                + r.get(4..6)?.parse::<i64>().ok()? * 60)
        }
        _ => return None,
    };
    // Days from civil (Howard Hinnant).
    let y2 = if mo <= 2 { y - 1 } else { y };
    let era = y2.div_euclid(400);
    let yoe = y2 - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se - offset)
}

fn value(n: &Node, prop: &str) -> Literal {
    match prop {
        "{DAV:}displayname" => Literal::Text(n.name.clone()),
        "{DAV:}getcontenttype" => Literal::Text(if n.is_dir() {
            "httpd/unix-directory".into()
        } else {
            n.content_type.clone()
        }),
        "{DAV:}getlastmodified" => Literal::Number(n.mtime),
        "{DAV:}creationdate" => Literal::Number(n.ctime),
        "{http://nextcloud.org/ns}upload_time" => Literal::Number(n.upload_time),
        "{http://owncloud.org/ns}size" | "{DAV:}getcontentlength" => {
            Literal::Number(i64::try_from(n.size).unwrap_or(i64::MAX))
        }
        "{http://owncloud.org/ns}favorite" => Literal::Number(i64::from(n.favorite)),
        "{http://owncloud.org/ns}fileid" => {
            Literal::Number(i64::try_from(n.id).unwrap_or(i64::MAX))
        }
        "{http://owncloud.org/ns}owner-id" => Literal::Text(n.owner.clone()),
        _ => Literal::Text(String::new()),
    }
}

fn like(pattern: &str, text: &str) -> bool {
    fn go(p: &[char], t: &[char]) -> bool {
        match p.first() {
            None => t.is_empty(),
            Some('%') => (0..=t.len()).any(|i| go(&p[1..], &t[i..])),
            Some('_') => !t.is_empty() && go(&p[1..], &t[1..]),
            Some(c) => t.first() == Some(c) && go(&p[1..], &t[1..]),
        }
    }
    let p: Vec<char> = pattern.to_lowercase().chars().collect();
    let t: Vec<char> = text.to_lowercase().chars().collect();
    // Bound the backtracking: patterns come from clients.
    p.iter().filter(|c| **c == '%').count() <= 8 && go(&p, &t)
}

fn compare(a: &Literal, b: &Literal) -> Option<Ordering> {
    match (a, b) {
        (Literal::Number(x), Literal::Number(y)) => Some(x.cmp(y)),
        (Literal::Text(x), Literal::Text(y)) => Some(x.to_lowercase().cmp(&y.to_lowercase())),
        _ => None,
    }
}

fn eval(e: &Expr, n: &Node) -> bool {
    match e {
        Expr::True => true,
        Expr::And(v) => v.iter().all(|x| eval(x, n)),
        Expr::Or(v) => v.iter().any(|x| eval(x, n)),
        Expr::Not(x) => !eval(x, n),
        Expr::IsCollection => n.is_dir(),
        Expr::Cmp(op, prop, lit) => {
            let v = value(n, prop);
            match op {
                Op::Like => match (&v, lit) {
                    (Literal::Text(t), Literal::Text(p)) => like(p, t),
                    _ => false,
                },
                Op::Eq => compare(&v, lit) == Some(Ordering::Equal),
                Op::Gt => compare(&v, lit) == Some(Ordering::Greater),
                Op::Gte => matches!(compare(&v, lit), Some(Ordering::Greater | Ordering::Equal)),
                Op::Lt => compare(&v, lit) == Some(Ordering::Less),
                Op::Lte => matches!(compare(&v, lit), Some(Ordering::Less | Ordering::Equal)),
            }
        }
    }
}

pub async fn handle(mut ctx: Ctx, me: String) -> DavResult {
    let body = super::xml_body(&mut ctx)
        .await?
        .ok_or_else(|| DavError::bad_request("SEARCH needs a searchrequest body"))?;
    let basic = body
        .child(NS_DAV, "basicsearch")
        .filter(|_| body.is(NS_DAV, "searchrequest"))
        .ok_or_else(|| DavError::bad_request("Only DAV:basicsearch is supported"))?;
    let want = match basic
        .child(NS_DAV, "select")
        .and_then(|s| s.child(NS_DAV, "prop"))
    {
        Some(p) => Want::Props(p.children.iter().map(El::clark).collect()),
        None => Want::Props(vec![
            "{DAV:}getetag".into(),
            "{http://owncloud.org/ns}fileid".into(),
        ]),
    };
    let scope = basic
        .child(NS_DAV, "from")
        .and_then(|f| f.child(NS_DAV, "scope"))
        .and_then(|s| s.child(NS_DAV, "href"))
        .map(|h| h.text_content().trim().to_owned())
        .ok_or_else(|| DavError::bad_request("SEARCH needs from/scope/href"))?;
    let scope = scope
        .strip_prefix("/remote.php/dav")
        .unwrap_or(&scope)
        .to_owned();
    let scope = percent_encoding::percent_decode_str(&scope)
        .decode_utf8()
        .map_err(|_| DavError::bad_request("scope is not UTF-8"))?
        .into_owned();
    let rest = scope
        .trim_start_matches('/')
        .strip_prefix("files/")
        .ok_or_else(|| DavError::bad_request("the scope must be /files/{user}/…"))?;
    let (user, path) = rest.split_once('/').unwrap_or((rest, ""));
    if user != me {
        return Err(DavError::forbidden("You can only search your own files"));
    }
    let segs = crate::files::names::split(path)?;
    let expr = match basic
        .child(NS_DAV, "where")
        .and_then(|w| w.children.first())
    {
        Some(e) => parse_expr(e).map_err(DavError::bad_request)?,
        None => Expr::True,
    };
    let order: Vec<(String, bool)> = basic
        .child(NS_DAV, "orderby")
        .map(|o| {
            o.children
                .iter()
                .filter(|c| c.is(NS_DAV, "order"))
                .filter_map(|c| {
                    Some((
                        c.child(NS_DAV, "prop")?.children.first()?.clark(),
                        c.child(NS_DAV, "descending").is_none(),
                    ))
                })
                .collect()
        })
        .unwrap_or_default();
    let limit = basic.child(NS_DAV, "limit");
    let nresults = limit
        .and_then(|l| l.child(NS_DAV, "nresults"))
        .and_then(|n| n.text_content().trim().parse::<usize>().ok());
    let offset = limit
        .and_then(|l| l.child(NS_NC, "firstresult"))
        .and_then(|n| n.text_content().trim().parse::<usize>().ok())
        .unwrap_or(0);
    let keep = offset
        .saturating_add(nresults.unwrap_or(MAX_RESULTS))
        .min(MAX_RESULTS + offset);
    let top = ctx
        .app
        .files
        .lookup(&ctx.actor, &me, &segs)?
        .ok_or_else(|| DavError::not_found("The search scope does not exist"))?;
    let cmp = |a: &(Vec<String>, Node), b: &(Vec<String>, Node)| {
        for (prop, asc) in &order {
            let o = compare(&value(&a.1, prop), &value(&b.1, prop)).unwrap_or(Ordering::Equal);
            if o != Ordering::Equal {
                return if *asc { o } else { o.reverse() };
            }
        }
        Ordering::Equal
    };
    let mut hits: Vec<(Vec<String>, Node)> = Vec::new();
    ctx.app.files.descendants(&top, |path, n| {
        if eval(&expr, n) {
            let mut full = segs.clone();
            full.extend_from_slice(path);
            hits.push((full, n.clone()));
            if hits.len() >= keep.saturating_mul(2).max(64) {
                hits.sort_by(cmp);
                hits.truncate(keep);
                // Without an order, the first `keep` matches are the answer.
                return !order.is_empty();
            }
        }
        true
    })?;
    hits.sort_by(cmp);
    hits.truncate(keep);
    let req = Req {
        uid: me.clone(),
        segs: Vec::new(),
        base: format!("/remote.php/dav/files/{}", super::xml::encode_path(&me)),
    };
    let pc = prop_ctx(&ctx, &me)?;
    let mut out = String::from(MULTISTATUS_OPEN);
    for (path, n) in hits.iter().skip(offset) {
        render(&ctx, &req, path, n, &want, &pc, &mut out)?;
    }
    out.push_str(MULTISTATUS_CLOSE);
    Ok(multistatus(response::full(out)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_and_times() {
        assert!(like("test_%", "test_12345_text.txt"));
        assert!(like("%.TXT", "a.txt"));
        assert!(!like("a_c", "abbc"));
        assert_eq!(parse_time("2024-03-05T10:00:00Z"), Some(1_709_632_800));
        assert_eq!(parse_time("2024-03-05T12:00:00+02:00"), Some(1_709_632_800));
        assert_eq!(
            parse_time("Tue, 05 Mar 2024 10:00:00 GMT"),
            Some(1_709_632_800)
        );
        assert_eq!(parse_time("1709632800"), Some(1_709_632_800));
    }
}
