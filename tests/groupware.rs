//! CalDAV/CardDAV against the real binary: discovery shapes (golden fixtures), object
//! preconditions, sync-collection, persistence, and who may see what.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const CAL: &str = "/remote.php/dav/calendars/admin/personal";
const BOOK: &str = "/remote.php/dav/addressbooks/users/admin/contacts";

fn dav(s: &Server, method: &str, path: &str) -> Req {
    s.req(method, path).basic("admin", ADMIN_PW)
}

fn event(uid: &str, start: &str, summary: &str) -> String {
    format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDURATION:PT1H\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
}

/// Replaces volatile values (etags, dates) so shapes can be compared.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(i) = rest.find("<d:getetag>") {
        out.push_str(&rest[..i + "<d:getetag>".len()]);
        rest = &rest[i + "<d:getetag>".len()..];
        let end = rest.find('<').unwrap();
        out.push_str("ETAG");
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

const DISCOVERY: &str = r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:current-user-principal/><d:resourcetype/><d:displayname/><c:calendar-home-set/><card:addressbook-home-set/><c:calendar-user-address-set/><d:principal-URL/></d:prop></d:propfind>"#;

const DAVX5_COLLECTIONS: &str = r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav" xmlns:cs="http://calendarserver.org/ns/" xmlns:x1="http://apple.com/ns/ical/"><d:prop><d:resourcetype/><d:displayname/><x1:calendar-color/><c:calendar-description/><c:supported-calendar-component-set/><d:current-user-privilege-set/><cs:getctag/><d:sync-token/><c:calendar-timezone/></d:prop></d:propfind>"#;

#[test]
fn discovery_shapes_match_fixtures() {
    let s = Server::installed();
    for wk in ["/.well-known/caldav", "/.well-known/carddav"] {
        let r = s.req("PROPFIND", wk).send();
        assert_eq!(r.status, 301, "{wk}");
        assert_eq!(r.header("location"), Some("/remote.php/dav/"));
    }
    let r = dav(&s, "PROPFIND", "/remote.php/dav/")
        .header("Depth", "0")
        .body(DISCOVERY)
        .send();
    assert_eq!(r.status, 207);
    golden::check("groupware/propfind-root.xml", &r.text());
    let r = dav(&s, "PROPFIND", "/remote.php/dav/principals/users/admin/")
        .header("Depth", "0")
        .body(DISCOVERY)
        .send();
    assert_eq!(r.status, 207);
    golden::check("groupware/propfind-principal.xml", &r.text());
    let r = dav(&s, "PROPFIND", "/remote.php/dav/calendars/admin/")
        .header("Depth", "1")
        .body(DAVX5_COLLECTIONS)
        .send();
    assert_eq!(r.status, 207);
    golden::check("groupware/propfind-calendar-home.xml", &r.text());
    let r = s.req("OPTIONS", "/remote.php/dav/calendars/admin/").send();
    let dav_header = r.header("dav").unwrap();
    assert!(dav_header.contains("calendar-access") && dav_header.contains("addressbook"));
}

#[test]
fn objects_keep_their_preconditions() {
    let s = Server::installed();
    let url = format!("{CAL}/a.ics");
    let put = |body: &str, hdr: Option<(&str, &str)>| {
        let mut r = dav(&s, "PUT", &url).body(body.to_owned());
        if let Some((k, v)) = hdr {
            r = r.header(k, v);
        }
        r.send()
    };
    let first = put(
        &event("a", "20260105T100000Z", "A"),
        Some(("If-None-Match", "*")),
    );
    assert_eq!(first.status, 201);
    let etag = first.header("etag").unwrap().to_owned();
    assert_eq!(
        put(
            &event("a", "20260105T100000Z", "A"),
            Some(("If-None-Match", "*"))
        )
        .status,
        412,
        "If-None-Match: * never overwrites"
    );
    assert_eq!(
        put(
            &event("a", "20260105T100000Z", "B"),
            Some(("If-Match", "\"nope\""))
        )
        .status,
        412
    );
    let got = dav(&s, "GET", &url).send();
    assert_eq!(got.header("etag"), Some(etag.as_str()));
    assert!(
        got.header("content-type")
            .unwrap()
            .starts_with("text/calendar")
    );
    let upd = put(
        &event("a", "20260106T100000Z", "B"),
        Some(("If-Match", &etag)),
    );
    assert_eq!(upd.status, 204);
    // The same UID under another name is refused with the standard precondition.
    let dup = dav(&s, "PUT", &format!("{CAL}/other.ics"))
        .body(event("a", "20260105T100000Z", "dup"))
        .send();
    assert_eq!(dup.status, 403);
    assert!(dup.text().contains("no-uid-conflict") && dup.text().contains("a.ics"));
    let bad = dav(&s, "PUT", &format!("{CAL}/bad.ics"))
        .body("BEGIN:VCALENDAR\r\n")
        .send();
    assert_eq!(bad.status, 403);
    assert!(bad.text().contains("valid-calendar-data"));
    // A vCard in a calendar, an event in an address book: refused.
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:c1\r\nFN:Ann\r\nEND:VCARD\r\n";
    assert_eq!(
        dav(&s, "PUT", &format!("{CAL}/c.ics"))
            .body(card)
            .send()
            .status,
        403
    );
    assert_eq!(
        dav(&s, "PUT", &format!("{BOOK}/e.vcf"))
            .body(event("e", "20260105T100000Z", "x"))
            .send()
            .status,
        403
    );
    assert_eq!(
        dav(&s, "PUT", &format!("{BOOK}/c1.vcf"))
            .body(card)
            .send()
            .status,
        201
    );
    // Deleting with a stale etag fails; with the right one succeeds.
    let etag2 = dav(&s, "GET", &url)
        .send()
        .header("etag")
        .unwrap()
        .to_owned();
    assert_eq!(
        dav(&s, "DELETE", &url)
            .header("If-Match", &etag)
            .send()
            .status,
        412
    );
    assert_eq!(
        dav(&s, "DELETE", &url)
            .header("If-Match", &etag2)
            .send()
            .status,
        204
    );
    assert_eq!(dav(&s, "GET", &url).send().status, 404);
}

const SYNC: &str = r#"<?xml version="1.0"?><d:sync-collection xmlns:d="DAV:"><d:sync-token>TOKEN</d:sync-token><d:sync-level>1</d:sync-level><d:prop><d:getetag/></d:prop></d:sync-collection>"#;

#[test]
fn sync_collection_reports_changes_and_deletions() {
    let s = Server::installed();
    let report = |token: &str| {
        dav(&s, "REPORT", &format!("{CAL}/"))
            .body(SYNC.replace("TOKEN", token))
            .send()
    };
    let r = report("");
    assert_eq!(r.status, 207);
    assert!(
        r.text()
            .contains("<d:sync-token>http://sabre.io/ns/sync/0</d:sync-token>")
    );
    for (n, uid) in ["one", "two", "three"].iter().enumerate() {
        let r = dav(&s, "PUT", &format!("{CAL}/{uid}.ics"))
            .body(event(uid, &format!("2026010{}T100000Z", n + 1), uid))
            .send();
        assert_eq!(r.status, 201);
    }
    let r = report("http://sabre.io/ns/sync/0");
    assert_eq!(r.text().matches("<d:response>").count(), 3);
    dav(&s, "DELETE", &format!("{CAL}/two.ics")).send();
    dav(&s, "PUT", &format!("{CAL}/three.ics"))
        .body(event("three", "20260110T100000Z", "moved"))
        .send();
    let r = report("http://sabre.io/ns/sync/3");
    assert_eq!(r.status, 207);
    golden::check(
        "groupware/sync-collection-changes.xml",
        &normalize(&r.text()),
    );
    let r = report("http://sabre.io/ns/sync/99");
    assert_eq!(r.status, 403);
    assert!(r.text().contains("valid-sync-token"));
    assert_eq!(report("not-a-token").status, 403);
}

#[test]
fn data_survives_a_restart_and_stays_private() {
    let mut s = Server::installed();
    s.add_user("bob", "bob-password-1", &[]);
    let r = dav(&s, "PUT", &format!("{CAL}/keep.ics"))
        .body(event("keep", "20260105T100000Z", "Keep me"))
        .send();
    assert_eq!(r.status, 201);
    let mk = dav(&s, "MKCALENDAR", "/remote.php/dav/calendars/admin/work/")
        .body(r#"<?xml version="1.0"?><c:mkcalendar xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:set><d:prop><d:displayname>Work</d:displayname></d:prop></d:set></c:mkcalendar>"#)
        .send();
    assert_eq!(mk.status, 201);
    s.terminate();
    s.spawn();
    let got = dav(&s, "GET", &format!("{CAL}/keep.ics")).send();
    assert_eq!(got.status, 200);
    assert!(got.text().contains("Keep me"));
    let home = dav(&s, "PROPFIND", "/remote.php/dav/calendars/admin/")
        .header("Depth", "1")
        .send();
    assert!(home.text().contains("<d:displayname>Work</d:displayname>"));
    for path in [
        format!("{CAL}/keep.ics"),
        format!("{CAL}/"),
        "/remote.php/dav/calendars/admin/".to_owned(),
        format!("{BOOK}/"),
    ] {
        for method in ["GET", "PROPFIND", "DELETE", "PUT"] {
            let r = s
                .req(method, &path)
                .basic("bob", "bob-password-1")
                .body("x")
                .send();
            assert_eq!(r.status, 404, "bob {method} {path}");
        }
        assert_eq!(
            s.req("PROPFIND", &path).send().status,
            401,
            "anonymous {path}"
        );
    }
    assert_eq!(
        dav(&s, "GET", &format!("{CAL}/keep.ics")).send().status,
        200
    );
}

#[path = "common/golden.rs"]
mod golden;

fn share_body(sharee: &str, write: bool) -> String {
    format!(
        r#"<?xml version="1.0"?><o:share xmlns:d="DAV:" xmlns:o="http://owncloud.org/ns"><o:set><d:href>{sharee}</d:href>{}</o:set></o:share>"#,
        if write { "<o:read-write/>" } else { "" }
    )
}

#[test]
fn sharing_with_users_and_groups() {
    let s = Server::installed();
    s.add_user("bob", "bob-password-1", &["--group", "family"]);
    s.add_user("eve", "eve-password-1", &[]);
    let bob = |m: &str, p: &str| s.req(m, p).basic("bob", "bob-password-1");
    dav(&s, "PUT", &format!("{CAL}/e.ics"))
        .body(event("e", "20260105T100000Z", "Shared"))
        .send();
    let mk = dav(&s, "MKCALENDAR", "/remote.php/dav/calendars/admin/family/").send();
    assert_eq!(mk.status, 201);
    // Read-only to bob directly, read-write to the group "family".
    let r = dav(&s, "POST", &format!("{CAL}/"))
        .header("Content-Type", "application/xml")
        .body(share_body("principal:principals/users/bob", false))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let r = dav(&s, "POST", "/remote.php/dav/calendars/admin/family/")
        .body(share_body("principal:principals/groups/family", true))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let bad = dav(&s, "POST", &format!("{CAL}/"))
        .body(share_body("principal:principals/users/nobody", false))
        .send();
    assert_eq!(bad.status, 400);
    let invite = dav(&s, "PROPFIND", &format!("{CAL}/"))
        .header("Depth", "0")
        .body(r#"<d:propfind xmlns:d="DAV:" xmlns:o="http://owncloud.org/ns"><d:prop><o:invite/></d:prop></d:propfind>"#)
        .send();
    assert!(invite.text().contains("principal:principals/users/bob"));
    // bob sees both in his home, with the right privileges.
    let home = bob("PROPFIND", "/remote.php/dav/calendars/bob/")
        .header("Depth", "1")
        .body(r#"<d:propfind xmlns:d="DAV:" xmlns:o="http://owncloud.org/ns"><d:prop><d:displayname/><d:current-user-privilege-set/><o:owner-principal/><o:read-only/></d:prop></d:propfind>"#)
        .send();
    let t = home.text();
    assert!(
        t.contains("/remote.php/dav/calendars/bob/personal_shared_by_admin/"),
        "{t}"
    );
    assert!(
        t.contains("/remote.php/dav/calendars/bob/family_shared_by_admin/"),
        "{t}"
    );
    let ro = "/remote.php/dav/calendars/bob/personal_shared_by_admin";
    let rw = "/remote.php/dav/calendars/bob/family_shared_by_admin";
    let got = bob("GET", &format!("{ro}/e.ics")).send();
    assert_eq!(got.status, 200);
    assert!(got.text().contains("Shared"));
    let q = bob("REPORT", &format!("{ro}/"))
        .header("Depth", "1")
        .body(r#"<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><d:getetag/></d:prop><c:filter><c:comp-filter name="VCALENDAR"/></c:filter></c:calendar-query>"#)
        .send();
    assert!(
        q.text().contains(&format!("{ro}/e.ics")),
        "hrefs stay in bob's home: {}",
        q.text()
    );
    assert_eq!(
        bob("PUT", &format!("{ro}/x.ics"))
            .body(event("x", "20260105T100000Z", "x"))
            .send()
            .status,
        403,
        "read-only share refuses writes"
    );
    assert_eq!(bob("DELETE", &format!("{ro}/e.ics")).send().status, 403);
    assert_eq!(
        bob("PUT", &format!("{rw}/b.ics"))
            .body(event("b", "20260105T100000Z", "From bob"))
            .send()
            .status,
        201
    );
    let seen = dav(&s, "GET", "/remote.php/dav/calendars/admin/family/b.ics").send();
    assert!(seen.text().contains("From bob"));
    // The group principal that bob's group-membership points at.
    let g = bob("PROPFIND", "/remote.php/dav/principals/groups/family/")
        .header("Depth", "0")
        .body(r#"<d:propfind xmlns:d="DAV:"><d:prop><d:resourcetype/><d:group-member-set/></d:prop></d:propfind>"#)
        .send();
    assert_eq!(g.status, 207);
    assert!(g.text().contains("<d:principal/>") && g.text().contains("/principals/users/bob/"));
    // eve sees nothing; bob's "Unshare from me" hides it from him only.
    let eve = s
        .req("PROPFIND", "/remote.php/dav/calendars/eve/")
        .basic("eve", "eve-password-1")
        .header("Depth", "1")
        .send();
    assert!(!eve.text().contains("shared_by"));
    assert_eq!(
        s.req("GET", &format!("{ro}/e.ics"))
            .basic("eve", "eve-password-1")
            .send()
            .status,
        404
    );
    assert_eq!(bob("DELETE", &format!("{rw}/")).send().status, 204);
    let home = bob("PROPFIND", "/remote.php/dav/calendars/bob/")
        .header("Depth", "1")
        .send();
    assert!(!home.text().contains("family_shared_by_admin"));
    assert_eq!(
        dav(&s, "GET", "/remote.php/dav/calendars/admin/family/b.ics")
            .send()
            .status,
        200
    );
}

#[test]
fn publishing_a_calendar_as_a_link() {
    let s = Server::installed();
    dav(&s, "PUT", &format!("{CAL}/p.ics"))
        .body(event("p", "20260105T100000Z", "Football match"))
        .send();
    let r = dav(&s, "POST", &format!("{CAL}/"))
        .body(r#"<cs:publish-calendar xmlns:cs="http://calendarserver.org/ns/"/>"#)
        .send();
    assert_eq!(r.status, 202, "{}", r.text());
    let p = dav(&s, "PROPFIND", &format!("{CAL}/"))
        .header("Depth", "0")
        .body(r#"<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:publish-url/></d:prop></d:propfind>"#)
        .send()
        .text();
    let start = p
        .find("/remote.php/dav/public-calendars/")
        .expect("publish-url");
    let link = &p[start..start + p[start..].find('<').unwrap()];
    // Anyone with the link reads the calendar, without a login; nobody writes through it.
    let ics = s.req("GET", link).send();
    assert_eq!(ics.status, 200);
    assert!(
        ics.header("content-type")
            .unwrap()
            .starts_with("text/calendar")
    );
    assert!(ics.text().contains("Football match") && ics.text().starts_with("BEGIN:VCALENDAR"));
    assert_eq!(s.req("GET", &format!("{link}?export")).send().status, 200);
    assert_eq!(
        s.req("PUT", &format!("{link}/x.ics"))
            .body("x")
            .send()
            .status,
        404
    );
    assert_eq!(s.req("DELETE", link).send().status, 405);
    assert_eq!(
        s.req("GET", "/remote.php/dav/public-calendars/guessing")
            .send()
            .status,
        404
    );
    let r = dav(&s, "POST", &format!("{CAL}/"))
        .body(r#"<cs:unpublish-calendar xmlns:cs="http://calendarserver.org/ns/"/>"#)
        .send();
    assert_eq!(r.status, 202);
    assert_eq!(s.req("GET", link).send().status, 404);
}

#[test]
fn import_reports_every_item() {
    let s = Server::installed();
    let mut ics = String::from(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Berlin\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\n",
    );
    for i in 0..2000 {
        ics.push_str(&format!(
            "BEGIN:VEVENT\r\nUID:imp-{i}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;TZID=Europe/Berlin:2026{:02}{:02}T100000\r\nDURATION:PT1H\r\nSUMMARY:Event {i}\r\nEND:VEVENT\r\n",
            i % 12 + 1,
            i % 28 + 1
        ));
    }
    // A broken one (no DTSTART is fine for tasks, not garbage), and a repeated UID.
    ics.push_str("BEGIN:VEVENT\r\nUID:broken\r\nDTSTART:not-a-date\r\nEND:VEVENT\r\n");
    ics.push_str("BEGIN:VEVENT\r\nUID:imp-7\r\nDTSTART:20260101T000000Z\r\nEND:VEVENT\r\n");
    ics.push_str("END:VCALENDAR\r\n");
    let r = dav(&s, "POST", &format!("{CAL}/?import"))
        .header("Content-Type", "text/calendar")
        .body(ics)
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let report = r.json();
    assert_eq!(report["imported"], 2000, "{report}");
    let skipped = report["skipped"].as_array().unwrap();
    assert_eq!(skipped.len(), 2, "{report}");
    assert!(skipped.iter().any(|s| s["uid"] == "imp-7"));
    let got = dav(&s, "GET", &format!("{CAL}/imp-42.ics")).send();
    assert_eq!(got.status, 200);
    assert!(got.text().contains("BEGIN:VTIMEZONE") && got.text().contains("Event 42"));
    // Importing the same file again updates instead of duplicating.
    let again = dav(&s, "POST", &format!("{CAL}/?import"))
        .body("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:imp-1\r\nDTSTART:20260101T000000Z\r\nSUMMARY:changed\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n")
        .send()
        .json();
    assert_eq!(
        (again["imported"].as_u64(), again["updated"].as_u64()),
        (Some(0), Some(1))
    );
    let mut vcf = String::new();
    for i in 0..300 {
        vcf.push_str(&format!(
            "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:card-{i}\r\nFN:Person {i}\r\nEND:VCARD\r\n"
        ));
    }
    let r = dav(&s, "POST", &format!("{BOOK}/?import"))
        .body(vcf)
        .send()
        .json();
    assert_eq!(r["imported"], 300, "{r}");
    let export = dav(&s, "GET", &format!("{BOOK}/?export")).send().text();
    assert_eq!(export.matches("BEGIN:VCARD").count(), 300);
    // addressbook-query: FN contains "person 12" (index only), and a TYPE parameter filter
    // (parses the cards), with a result limit.
    let q = |filter: &str, limit: &str| {
        dav(&s, "REPORT", &format!("{BOOK}/"))
            .header("Depth", "1")
            .body(format!(r#"<card:addressbook-query xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><card:address-data/></d:prop><card:filter>{filter}</card:filter>{limit}</card:addressbook-query>"#))
            .send()
            .text()
    };
    let fnq = q(
        r#"<card:prop-filter name="FN"><card:text-match collation="i;unicode-casemap" match-type="contains">person 12</card:text-match></card:prop-filter>"#,
        "",
    );
    assert_eq!(
        fnq.matches("<d:response>").count(),
        11,
        "Person 12, 120..129: {fnq}"
    );
    assert!(fnq.contains("FN:Person 125"));
    let limited = q(
        r#"<card:prop-filter name="FN"><card:text-match>person</card:text-match></card:prop-filter>"#,
        "<card:limit><card:nresults>5</card:nresults></card:limit>",
    );
    assert_eq!(
        limited.matches("<d:response>").count(),
        6,
        "5 cards and the 507 marker"
    );
    assert!(limited.contains("507 Insufficient Storage"));
    let typed = q(
        r#"<card:prop-filter name="FN"><card:param-filter name="TYPE"><card:is-not-defined/></card:param-filter></card:prop-filter>"#,
        "",
    );
    assert_eq!(typed.matches("<d:response>").count(), 300);
}

#[test]
fn birthday_calendar_follows_contacts() {
    let s = Server::installed();
    let card = |name: &str| {
        format!(
            "BEGIN:VCARD\r\nVERSION:4.0\r\nUID:gran\r\nFN:{name}\r\nBDAY:19400312\r\nEND:VCARD\r\n"
        )
    };
    assert_eq!(
        dav(&s, "PUT", &format!("{BOOK}/gran.vcf"))
            .body(card("Granny"))
            .send()
            .status,
        201
    );
    let bdays = "/remote.php/dav/calendars/admin/contact_birthdays";
    let q = r#"<c:calendar-query xmlns:d="DAV:" xmlns:c="urn:ietf:params:xml:ns:caldav"><d:prop><c:calendar-data/></d:prop><c:filter><c:comp-filter name="VCALENDAR"><c:comp-filter name="VEVENT"><c:time-range start="20260312T000000Z" end="20260313T000000Z"/></c:comp-filter></c:comp-filter></c:filter></c:calendar-query>"#;
    let r = dav(&s, "REPORT", &format!("{bdays}/"))
        .header("Depth", "1")
        .body(q)
        .send();
    assert_eq!(r.status, 207);
    assert!(r.text().contains("Granny (1940)"), "{}", r.text());
    dav(&s, "PUT", &format!("{BOOK}/gran.vcf"))
        .body(card("Grandma Rose"))
        .send();
    let r = dav(&s, "REPORT", &format!("{bdays}/"))
        .header("Depth", "1")
        .body(q)
        .send();
    assert!(r.text().contains("Grandma Rose") && !r.text().contains("Granny"));
    // Read-only to its owner too, and not deletable.
    let put = dav(&s, "PUT", &format!("{bdays}/x.ics"))
        .body(event("x", "20260105T100000Z", "x"))
        .send();
    assert_eq!(put.status, 403);
    assert_eq!(dav(&s, "DELETE", &format!("{bdays}/")).send().status, 403);
    dav(&s, "DELETE", &format!("{BOOK}/gran.vcf")).send();
    let r = dav(&s, "REPORT", &format!("{bdays}/"))
        .header("Depth", "1")
        .body(q)
        .send();
    assert!(!r.text().contains("Grandma"));
}

#[test]
fn vcards_served_in_the_version_asked_for() {
    let s = Server::installed();
    let v3 = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:v3\r\nFN:Old Phone\r\nN:Phone;Old;;;\r\nTEL;TYPE=CELL:+441234\r\nEND:VCARD\r\n";
    dav(&s, "PUT", &format!("{BOOK}/v3.vcf")).body(v3).send();
    let same = dav(&s, "GET", &format!("{BOOK}/v3.vcf")).send();
    assert_eq!(same.text(), v3, "stored as sent");
    let four = dav(&s, "GET", &format!("{BOOK}/v3.vcf"))
        .header("Accept", "text/vcard; version=4.0")
        .send();
    assert!(four.text().contains("VERSION:4.0") && four.text().contains("Old Phone"));
    let multiget = r#"<card:addressbook-multiget xmlns:d="DAV:" xmlns:card="urn:ietf:params:xml:ns:carddav"><d:prop><d:getetag/><card:address-data content-type="text/vcard" version="4.0"/></d:prop><d:href>/remote.php/dav/addressbooks/users/admin/contacts/v3.vcf</d:href></card:addressbook-multiget>"#;
    let r = dav(&s, "REPORT", &format!("{BOOK}/")).body(multiget).send();
    assert_eq!(r.status, 207);
    assert!(r.text().contains("VERSION:4.0"), "{}", r.text());
}

/// A one-route HTTP server on loopback serving whatever `feed` holds (an outside calendar).
fn feed_server(feed: std::sync::Arc<std::sync::Mutex<String>>) -> u16 {
    use std::io::{Read, Write};
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in l.incoming().take(200) {
            let Ok(mut c) = conn else { continue };
            let mut buf = [0u8; 4096];
            let _ = c.read(&mut buf);
            let body = feed.lock().unwrap().clone();
            let _ = write!(
                c,
                "HTTP/1.1 200 OK\r\nContent-Type: text/calendar\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn subscriptions_mirror_an_outside_calendar() {
    let s = Server::start_with(&[("HEARTH_GROUPWARE_SUBSCRIPTION_REFRESH_SECS", "2")]);
    s.set_up();
    let cal = |events: &[(&str, &str)]| {
        let mut t = String::from("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//school//EN\r\n");
        for (uid, summary) in events {
            t.push_str(&format!("BEGIN:VEVENT\r\nUID:{uid}\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260310\r\nSUMMARY:{summary}\r\nEND:VEVENT\r\n"));
        }
        t.push_str("END:VCALENDAR\r\n");
        t
    };
    let feed = std::sync::Arc::new(std::sync::Mutex::new(cal(&[
        ("t1", "Term starts"),
        ("t2", "Sports day"),
    ])));
    let port = feed_server(feed.clone());
    let body = format!(
        r#"<d:mkcol xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:set><d:prop><d:resourcetype><d:collection/><cs:subscribed/></d:resourcetype><d:displayname>School</d:displayname><cs:source><d:href>http://127.0.0.1:{port}/school.ics</d:href></cs:source></d:prop></d:set></d:mkcol>"#
    );
    let sub = "/remote.php/dav/calendars/admin/school";
    assert_eq!(
        dav(&s, "MKCOL", &format!("{sub}/"))
            .body(body)
            .send()
            .status,
        201
    );
    let list = |s: &Server| dav(s, "GET", &format!("{sub}/?export")).send().text();
    let mut text = String::new();
    for _ in 0..50 {
        text = list(&s);
        if text.contains("Sports day") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        text.contains("Term starts") && text.contains("Sports day"),
        "{text}"
    );
    assert_eq!(
        dav(&s, "PUT", &format!("{sub}/x.ics"))
            .body(event("x", "20260105T100000Z", "x"))
            .send()
            .status,
        403,
        "subscriptions are read-only"
    );
    *feed.lock().unwrap() = cal(&[("t1", "Term starts (moved)")]);
    for _ in 0..50 {
        text = list(&s);
        if text.contains("moved") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    assert!(
        text.contains("Term starts (moved)") && !text.contains("Sports day"),
        "{text}"
    );
    let props = dav(&s, "PROPFIND", &format!("{sub}/"))
        .header("Depth", "0")
        .body(r#"<d:propfind xmlns:d="DAV:" xmlns:cs="http://calendarserver.org/ns/"><d:prop><cs:source/><d:displayname/></d:prop></d:propfind>"#)
        .send()
        .text();
    assert!(
        props.contains(&format!("http://127.0.0.1:{port}/school.ics")) && props.contains("School")
    );
}

/// Unix seconds → `YYYYMMDDTHHMMSSZ`.
fn utc(secs: u64) -> String {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn reminders_reach_the_owner_and_read_write_sharees_once() {
    let s = Server::installed();
    s.add_user("bob", "bob-password-1", &[]);
    s.add_user("eve", "eve-password-1", &[]);
    for (who, write) in [("bob", true), ("eve", false)] {
        let r = dav(&s, "POST", &format!("{CAL}/"))
            .body(share_body(
                &format!("principal:principals/users/{who}"),
                write,
            ))
            .send();
        assert_eq!(r.status, 200);
    }
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = utc(now + 600 + 2);
    let ev = format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:r1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:{start}\r\nDURATION:PT1H\r\nSUMMARY:Piano\r\nBEGIN:VALARM\r\nACTION:DISPLAY\r\nDESCRIPTION:Piano\r\nTRIGGER:-PT10M\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    );
    assert_eq!(
        dav(&s, "PUT", &format!("{CAL}/r1.ics"))
            .body(ev)
            .send()
            .status,
        201
    );
    let count = |user: &str, pw: &str| {
        let r = s
            .req(
                "GET",
                "/ocs/v2.php/apps/notifications/api/v2/notifications?format=json",
            )
            .basic(user, pw)
            .header("OCS-APIRequest", "true")
            .send();
        r.text().matches("Reminder: Piano").count()
    };
    for _ in 0..40 {
        if count("admin", ADMIN_PW) > 0 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(250));
    }
    std::thread::sleep(std::time::Duration::from_secs(4));
    assert_eq!(count("admin", ADMIN_PW), 1, "owner, exactly once");
    assert_eq!(count("bob", "bob-password-1"), 1, "read-write sharee");
    assert_eq!(
        count("eve", "eve-password-1"),
        0,
        "read-only sharee is not reminded"
    );
}

/// `hearth export DEST` on a stopped box's data directory: every user's files (names, nested
/// folders, contents and modification times), calendars as `.ics` and address books as `.vcf`
/// that other tools read. It refuses while a server holds the data directory, and a
/// non-empty destination.
#[test]
fn export_writes_plain_files_calendars_and_contacts() {
    let mut s = Server::installed();
    s.add_user("bob", "bob-password-1", &[]);
    let files = "/remote.php/dav/files/admin";
    assert_eq!(
        dav(&s, "MKCOL", &format!("{files}/Photos")).send().status,
        201
    );
    assert_eq!(
        dav(&s, "MKCOL", &format!("{files}/Photos/%C3%89t%C3%A9%202026"))
            .send()
            .status,
        201
    );
    let photo = vec![7u8; 300_000];
    let r = dav(
        &s,
        "PUT",
        &format!("{files}/Photos/%C3%89t%C3%A9%202026/beach.jpg"),
    )
    .header("X-OC-MTime", "1700000000")
    .body(photo.clone())
    .send();
    assert_eq!(r.status, 201);
    assert_eq!(
        dav(&s, "PUT", &format!("{files}/empty.txt"))
            .body("")
            .send()
            .status,
        201
    );
    let r = s
        .req("PUT", "/remote.php/dav/files/bob/notes.txt")
        .basic("bob", "bob-password-1")
        .body("bob's notes")
        .send();
    assert_eq!(r.status, 201);
    for (uid, start) in [("a", "20260105T100000Z"), ("b", "20260106T100000Z")] {
        let r = dav(&s, "PUT", &format!("{CAL}/{uid}.ics"))
            .body(event(uid, start, &format!("Event {uid}")))
            .send();
        assert_eq!(r.status, 201);
    }
    let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:ann\r\nFN:Ann Example\r\nEND:VCARD\r\n";
    assert_eq!(
        dav(&s, "PUT", &format!("{BOOK}/ann.vcf"))
            .body(card)
            .send()
            .status,
        201
    );
    let dest = s.data().join("export");
    // While the server runs, the export refuses (redb allows one process).
    let out = s.cli(&["export", dest.to_str().unwrap()], None);
    assert!(
        !out.status.success() && out.stderr.contains("stop it"),
        "{}",
        out.stderr
    );
    s.terminate();
    let out = s.cli(&["export", dest.to_str().unwrap()], None);
    assert!(out.status.success(), "{}", out.stderr);
    assert!(out.stdout.contains("exported 2 user(s)"), "{}", out.stdout);
    let beach = dest.join("admin/files/Photos/Été 2026/beach.jpg");
    assert_eq!(std::fs::read(&beach).unwrap(), photo);
    let mtime = std::fs::metadata(&beach).unwrap().modified().unwrap();
    assert_eq!(
        mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs(),
        1_700_000_000
    );
    assert_eq!(
        std::fs::read(dest.join("admin/files/empty.txt"))
            .unwrap()
            .len(),
        0
    );
    assert_eq!(
        std::fs::read_to_string(dest.join("bob/files/notes.txt")).unwrap(),
        "bob's notes"
    );
    let ics = std::fs::read_to_string(dest.join("admin/calendars/personal.ics")).unwrap();
    assert!(ics.starts_with("BEGIN:VCALENDAR\r\n") && ics.trim_end().ends_with("END:VCALENDAR"));
    assert_eq!(ics.matches("BEGIN:VEVENT").count(), 2, "{ics}");
    let vcf = std::fs::read_to_string(dest.join("admin/contacts/contacts.vcf")).unwrap();
    assert!(vcf.contains("FN:Ann Example"), "{vcf}");
    // A second export into the same place is refused rather than mixed in.
    let again = s.cli(&["export", dest.to_str().unwrap()], None);
    assert!(
        !again.status.success() && again.stderr.contains("not empty"),
        "{}",
        again.stderr
    );
}

/// A calendar shared with a group stops reaching its members the moment the group is deleted,
/// also for a client whose credentials are cached (the principal carries its groups).
#[test]
fn deleting_a_group_ends_its_shares_at_once() {
    let s = Server::installed();
    s.add_user("bob", "bob-password-1", &["--group", "family"]);
    let mk = dav(&s, "MKCALENDAR", "/remote.php/dav/calendars/admin/family/").send();
    assert_eq!(mk.status, 201);
    let r = dav(&s, "POST", "/remote.php/dav/calendars/admin/family/")
        .body(share_body("principal:principals/groups/family", true))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let shared = "/remote.php/dav/calendars/bob/family_shared_by_admin/";
    let bob = || {
        s.req("PROPFIND", shared)
            .basic("bob", "bob-password-1")
            .header("Depth", "0")
            .send()
            .status
    };
    // Twice: the second is answered from the credential cache.
    assert_eq!(bob(), 207);
    assert_eq!(bob(), 207);
    let del = s
        .req("DELETE", "/ocs/v2.php/cloud/groups/family?format=json")
        .basic("admin", ADMIN_PW)
        .ocs()
        .send();
    assert_eq!(del.status, 200, "{}", del.text());
    assert_eq!(bob(), 404, "the share outlived the group");
}
