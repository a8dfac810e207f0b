//! The two reports that are not about objects: free-busy-query on a calendar (RFC 4791
//! §7.10) and principal-property-search / principal-search-property-set (RFC 3744 §9.4–9.5).

use http::StatusCode;

use super::propfind::{self, Res};
use super::render;
use super::{NS_CAL, principal_href};
use crate::dav::propfind::multistatus;
use crate::dav::props::Want;
use crate::dav::xml::{El, NS_DAV, escape};
use crate::dav::{DavError, DavResult};
use crate::groupware::Collection;
use crate::groupware::expand::utc_stamp;
use crate::http::{Ctx, response};

pub fn free_busy(ctx: &Ctx, c: &Collection, body: &El) -> DavResult {
    let tr = body
        .child(NS_CAL, "time-range")
        .ok_or_else(|| DavError::bad_request("free-busy-query needs a time-range"))?;
    let range = super::report::time_range(tr).map_err(DavError::bad_request)?;
    let mut periods: Vec<(i64, i64)> = Vec::new();
    ctx.app
        .groupware
        .busy_in(c, range.start, range.end, &mut periods)?;
    let merged = crate::groupware::expand::merge_periods(periods);
    let now = crate::clock::now_secs();
    let clamp = |t: i64| t.clamp(-62_135_596_800, 253_402_300_799);
    let mut out = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Hearth//Hearth {}//EN\r\nCALSCALE:GREGORIAN\r\nBEGIN:VFREEBUSY\r\nDTSTAMP:{}\r\nDTSTART:{}\r\nDTEND:{}\r\n",
        env!("CARGO_PKG_VERSION"),
        utc_stamp(now),
        utc_stamp(clamp(range.start)),
        utc_stamp(clamp(range.end)),
    );
    for (s, e) in merged {
        out.push_str(&format!("FREEBUSY:{}/{}\r\n", utc_stamp(s), utc_stamp(e)));
    }
    out.push_str("END:VFREEBUSY\r\nEND:VCALENDAR\r\n");
    Ok(response::with(
        StatusCode::OK,
        "text/calendar; charset=utf-8",
        out,
    ))
}

/// Which principal properties can be searched (RFC 3744 §9.5).
pub fn search_property_set() -> DavResult {
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:principal-search-property-set xmlns:d=\"DAV:\" xmlns:cal=\"urn:ietf:params:xml:ns:caldav\" xmlns:s=\"http://sabredav.org/ns\">",
    );
    for (prop, what) in [
        ("<d:displayname/>", "Display name"),
        ("<s:email-address/>", "Email address"),
        ("<cal:calendar-user-address-set/>", "Calendar address"),
    ] {
        out.push_str(&format!(
            "<d:principal-search-property><d:prop>{prop}</d:prop><d:description xml:lang=\"en\">{what}</d:description></d:principal-search-property>"
        ));
    }
    out.push_str("</d:principal-search-property-set>\n");
    Ok(response::with(
        StatusCode::OK,
        "application/xml; charset=utf-8",
        out,
    ))
}

/// Users of the box whose display name, e-mail or login matches the search.
pub fn principal_search(ctx: &Ctx, me: &str, body: &El) -> DavResult {
    let all_of = body
        .attrs
        .iter()
        .any(|(k, v)| k == "test" && v.eq_ignore_ascii_case("allof"));
    let searches: Vec<String> = body
        .children
        .iter()
        .filter(|c| c.is(NS_DAV, "property-search"))
        .filter_map(|c| c.child(NS_DAV, "match"))
        .map(|m| m.text_content().trim().to_lowercase())
        .collect();
    // Property names come in `d:prop`; some clients (python caldav) also put them directly
    // under the report element, next to an empty `d:prop`.
    let mut names: Vec<String> = body
        .child(NS_DAV, "prop")
        .map(|p| p.children.iter().map(El::clark).collect())
        .unwrap_or_default();
    names.extend(
        body.children
            .iter()
            .filter(|c| {
                !(c.is(NS_DAV, "prop")
                    || c.is(NS_DAV, "property-search")
                    || c.is(NS_DAV, "apply-to-principal-collection-set"))
            })
            .map(El::clark),
    );
    if names.is_empty() {
        names.push(format!("{{{NS_DAV}}}displayname"));
    }
    let want = Want::Props(names);
    let users = ctx
        .app
        .accounts
        .list_users(&ctx.actor, "", 0, Some(1000))
        .map_err(|_| DavError::forbidden("Searching principals needs a login"))?;
    let mut out = String::from(render::OPEN);
    for u in users.iter().filter(|u| u.enabled) {
        let fields = [
            u.display_name.to_lowercase(),
            u.uid.to_lowercase(),
            u.email.clone().unwrap_or_default().to_lowercase(),
        ];
        let hit = |needle: &String| fields.iter().any(|f| f.contains(needle.as_str()));
        let matched = if all_of {
            searches.iter().all(hit)
        } else {
            searches.is_empty() || searches.iter().any(hit)
        };
        if matched {
            propfind::write(
                &ctx.app,
                me,
                &mut out,
                &principal_href(&u.uid),
                &Res::Principal(u),
                &want,
            );
        }
    }
    out.push_str(render::CLOSE);
    Ok(multistatus(response::full(out)))
}

/// POST to the schedule outbox with a `VFREEBUSY` request (RFC 6638 §5): the busy times of
/// each attendee who is a user of the box, as a `schedule-response`.
pub async fn outbox_free_busy(mut ctx: Ctx, me: String) -> DavResult {
    use crate::groupware::content;
    use crate::groupware::expand::parse_utc;
    use crate::groupware::scheduling::normalize_address;
    let body = ctx.small_body().await.map_err(|e| {
        DavError::new(
            e.status(),
            "Sabre\\DAV\\Exception\\BadRequest",
            e.to_string(),
        )
    })?;
    let text = String::from_utf8_lossy(&body);
    let root = content::parse(&text)
        .map_err(|e| DavError::bad_request(format!("the request is not iCalendar: {e}")))?;
    let fb = root
        .children
        .iter()
        .find(|c| c.name == "VFREEBUSY")
        .ok_or_else(|| DavError::bad_request("the outbox takes VFREEBUSY requests only"))?;
    let when = |name: &str| {
        fb.props_named(name)
            .next()
            .and_then(|p| parse_utc(&p.value))
            .ok_or_else(|| DavError::bad_request(format!("VFREEBUSY needs a UTC {name}")))
    };
    let (from, to) = (when("DTSTART")?, when("DTEND")?);
    if to <= from || to - from > 3 * 366 * 86_400 {
        return Err(DavError::bad_request(
            "the free-busy range must be positive and at most three years",
        ));
    }
    let organizer = fb
        .props_named("ORGANIZER")
        .next()
        .map(|p| p.value.clone())
        .unwrap_or_default();
    let uid = fb
        .props_named("UID")
        .next()
        .map(|p| p.value.clone())
        .unwrap_or_default();
    let app = ctx.app.clone();
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<cal:schedule-response xmlns:d=\"DAV:\" xmlns:cal=\"urn:ietf:params:xml:ns:caldav\">",
    );
    for att in fb.props_named("ATTENDEE") {
        let addr = normalize_address(&att.value);
        let user = app.accounts.find_login(&addr).ok().flatten().filter(|u| {
            u.email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(&addr))
        });
        out.push_str(&format!(
            "<cal:response><cal:recipient><d:href>{}</d:href></cal:recipient>",
            escape(&att.value)
        ));
        match user {
            None => {
                out.push_str("<cal:request-status>3.7;Invalid calendar user</cal:request-status>")
            }
            Some(u) => {
                let a = app.clone();
                let uid_user = u.uid.clone();
                let busy =
                    tokio::task::spawn_blocking(move || a.groupware.free_busy(&uid_user, from, to))
                        .await
                        .map_err(|_| DavError::bad_request("free-busy lookup failed"))??;
                let mut ics = format!(
                    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Hearth//Hearth//EN\r\nMETHOD:REPLY\r\nBEGIN:VFREEBUSY\r\nUID:{}\r\nDTSTAMP:{}\r\nDTSTART:{}\r\nDTEND:{}\r\nORGANIZER:{}\r\nATTENDEE:{}\r\n",
                    uid,
                    utc_stamp(from),
                    utc_stamp(from),
                    utc_stamp(to),
                    organizer,
                    att.value
                );
                for (s, e) in busy {
                    ics.push_str(&format!("FREEBUSY:{}/{}\r\n", utc_stamp(s), utc_stamp(e)));
                }
                ics.push_str("END:VFREEBUSY\r\nEND:VCALENDAR\r\n");
                out.push_str(
                    "<cal:request-status>2.0;Success</cal:request-status><cal:calendar-data>",
                );
                out.push_str(&render::text(&ics));
                out.push_str("</cal:calendar-data>");
            }
        }
        out.push_str("</cal:response>");
    }
    out.push_str("</cal:schedule-response>\n");
    let _ = me;
    Ok(response::with(
        StatusCode::OK,
        "application/xml; charset=utf-8",
        out,
    ))
}
