//! WebDAV against the real binary: Nextcloud properties and headers, etag propagation,
//! quota, chunked uploads, names, and hostile requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

const ROOT: &str = "/remote.php/dav/files/admin";

fn dav(s: &Server, method: &str, path: &str) -> Req {
    s.req(method, &format!("{ROOT}{path}"))
        .basic("admin", ADMIN_PW)
}

/// The value of the first `<tag>` element in a multistatus body (after `skip` matches).
fn prop(body: &str, tag: &str) -> String {
    let open = format!("<{tag}>");
    let start = body
        .find(&open)
        .unwrap_or_else(|| panic!("no {tag} in {body}"))
        + open.len();
    body[start..start + body[start..].find('<').unwrap()].to_owned()
}

const NC_PROPS: &str = r#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns"><d:prop><d:resourcetype/><d:getlastmodified/><d:getcontentlength/><d:getetag/><oc:size/><oc:id/><oc:fileid/><oc:downloadURL/><oc:dDC/><oc:permissions/><oc:checksums/><oc:share-types/><oc:data-fingerprint/><nc:is-mount-root/></d:prop></d:propfind>"#;

fn etag_of(s: &Server, path: &str) -> String {
    let r = dav(s, "PROPFIND", path)
        .header("Depth", "0")
        .body(NC_PROPS)
        .send();
    assert_eq!(r.status, 207, "{path}: {}", r.text());
    prop(&r.text(), "d:getetag")
}

#[test]
fn folder_etags_and_sizes_follow_every_change_below() {
    let s = Server::installed();
    assert_eq!(dav(&s, "MKCOL", "/a").send().status, 201);
    assert_eq!(dav(&s, "MKCOL", "/a/b").send().status, 201);
    let (root0, a0, b0) = (etag_of(&s, "/"), etag_of(&s, "/a"), etag_of(&s, "/a/b"));
    let r = dav(&s, "PUT", "/a/b/f.txt").body("12345").send();
    assert_eq!(r.status, 201);
    for h in ["oc-fileid", "etag", "oc-etag"] {
        assert!(r.header(h).is_some(), "PUT answer lacks {h}");
    }
    let put_etag = r.header("etag").unwrap().to_owned();
    assert_eq!(
        etag_of(&s, "/a/b/f.txt"),
        put_etag,
        "PUT etag must equal PROPFIND getetag"
    );
    let (root1, a1, b1) = (etag_of(&s, "/"), etag_of(&s, "/a"), etag_of(&s, "/a/b"));
    assert!(root1 != root0 && a1 != a0 && b1 != b0);
    let body = dav(&s, "PROPFIND", "/a")
        .header("Depth", "0")
        .body(NC_PROPS)
        .send()
        .text();
    assert_eq!(prop(&body, "oc:size"), "5");
    assert_eq!(prop(&body, "oc:permissions"), "RGDNVCK");
    // A rename deep down changes every folder above, old and new.
    let r = dav(&s, "MOVE", "/a/b/f.txt")
        .header("Destination", &format!("http://{}{ROOT}/g.txt", s.addr))
        .send();
    assert_eq!(r.status, 201);
    assert!(r.header("oc-fileid").is_some());
    let (root2, a2) = (etag_of(&s, "/"), etag_of(&s, "/a"));
    assert!(root2 != root1 && a2 != a1);
    // The moved file keeps its etag: the desktop recognises a rename by id *and* etag.
    assert_eq!(etag_of(&s, "/g.txt"), put_etag);
    let body = dav(&s, "PROPFIND", "/a")
        .header("Depth", "0")
        .body(NC_PROPS)
        .send()
        .text();
    assert_eq!(prop(&body, "oc:size"), "0");
    // A favourite is not content: no etag change (as Nextcloud).
    let fav = r#"<d:propertyupdate xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:set><d:prop><oc:favorite>1</oc:favorite></d:prop></d:set></d:propertyupdate>"#;
    let before = etag_of(&s, "/g.txt");
    assert_eq!(dav(&s, "PROPPATCH", "/g.txt").body(fav).send().status, 207);
    assert_eq!(etag_of(&s, "/g.txt"), before);
    let report = r#"<oc:filter-files xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><oc:fileid/><oc:favorite/></d:prop><oc:filter-rules><oc:favorite>1</oc:favorite></oc:filter-rules></oc:filter-files>"#;
    let r = dav(&s, "REPORT", "/").body(report).send();
    assert_eq!(r.status, 207);
    assert_eq!(r.text().matches("<d:response>").count(), 1, "{}", r.text());
    assert!(r.text().contains("/g.txt</d:href>"));
    // Delete: gone, and the root's etag moves again.
    assert_eq!(dav(&s, "DELETE", "/a").send().status, 204);
    assert_eq!(
        dav(&s, "PROPFIND", "/a").header("Depth", "0").send().status,
        404
    );
    assert_ne!(etag_of(&s, "/"), root2);
}

#[test]
fn listing_has_what_the_desktop_client_requires() {
    let s = Server::installed();
    dav(&s, "MKCOL", "/dir").send();
    dav(&s, "PUT", "/dir/one%20two%233%25.txt").body("x").send();
    dav(&s, "PUT", "/dir/%C3%BCn%C3%AF%20%F0%9F%94%A5.bin")
        .body("")
        .send();
    let r = dav(&s, "PROPFIND", "/dir/")
        .header("Depth", "1")
        .body(NC_PROPS)
        .send();
    assert_eq!(r.status, 207);
    assert_eq!(
        r.header("content-type"),
        Some("application/xml; charset=utf-8")
    );
    let t = r.text();
    assert!(t.contains("<d:multistatus xmlns:d=\"DAV:\""), "{t}");
    assert_eq!(t.matches("<d:response>").count(), 3);
    assert!(
        t.contains("<d:href>/remote.php/dav/files/admin/dir/one%20two%233%25.txt</d:href>"),
        "{t}"
    );
    assert!(
        t.contains("/dir/%C3%BCn%C3%AF%20%F0%9F%94%A5.bin</d:href>"),
        "{t}"
    );
    for resp in t.split("<d:response>").skip(1) {
        let ok = resp.split("HTTP/1.1 200 OK").next().unwrap();
        for must in ["<d:getetag>", "<oc:id>", "<oc:fileid>", "<oc:permissions>"] {
            assert!(ok.contains(must), "{must} missing in {resp}");
        }
        if !resp.contains("<d:collection/>") {
            assert!(ok.contains("<d:getcontentlength>"), "{resp}");
        }
        // The 200 propstat comes first, 404s after (iOS reads only the first).
        assert!(resp.find("200 OK").unwrap() < resp.find("404 Not Found").unwrap_or(usize::MAX));
    }
    // Depth: infinity is refused with the standard precondition.
    let r = dav(&s, "PROPFIND", "/").header("Depth", "infinity").send();
    assert_eq!(r.status, 403);
    assert!(r.text().contains("<d:propfind-finite-depth/>"));
}

#[test]
fn get_supports_ranges_and_conditions() {
    let s = Server::installed();
    let r = dav(&s, "PUT", "/f.bin")
        .body("0123456789")
        .header("X-OC-Mtime", "1700000000")
        .header(
            "OC-Checksum",
            "SHA1:87acec17cd9dcd20a716cc2cf67417b71c8a7016",
        )
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    assert_eq!(r.header("x-oc-mtime"), Some("accepted"));
    let etag = r.header("etag").unwrap().to_owned();
    let g = dav(&s, "GET", "/f.bin").send();
    assert_eq!(g.text(), "0123456789");
    assert_eq!(g.header("etag"), Some(etag.as_str()));
    // The desktop client takes OC-ETag first; Nextcloud copies ETag into it on every answer.
    assert_eq!(g.header("oc-etag"), Some(etag.as_str()));
    // The file id is for what creates or writes a file (Nextcloud sends none on a GET).
    assert_eq!(g.header("oc-fileid"), None);
    assert_eq!(
        g.header("last-modified"),
        Some("Tue, 14 Nov 2023 22:13:20 GMT")
    );
    assert_eq!(
        g.header("oc-checksum"),
        Some("SHA1:87acec17cd9dcd20a716cc2cf67417b71c8a7016")
    );
    let p = dav(&s, "GET", "/f.bin").header("Range", "bytes=2-4").send();
    assert_eq!((p.status, p.text().as_str()), (206, "234"));
    assert_eq!(p.header("content-range"), Some("bytes 2-4/10"));
    assert_eq!(
        dav(&s, "GET", "/f.bin")
            .header("Range", "bytes=-3")
            .send()
            .text(),
        "789"
    );
    assert_eq!(
        dav(&s, "GET", "/f.bin")
            .header("Range", "bytes=20-")
            .send()
            .status,
        416
    );
    assert_eq!(
        dav(&s, "GET", "/f.bin")
            .header("If-None-Match", &etag)
            .send()
            .status,
        304
    );
    assert_eq!(
        dav(&s, "GET", "/f.bin")
            .header("If-Match", "\"nope\"")
            .send()
            .status,
        412
    );
    let h = dav(&s, "HEAD", "/f.bin").send();
    assert_eq!(
        (h.status, h.header("content-length"), h.body.len()),
        (200, Some("10"), 0)
    );
    // A wrong SHA1 is refused and leaves the old content.
    let r = dav(&s, "PUT", "/f.bin")
        .body("xx")
        .header(
            "OC-Checksum",
            "SHA1:0000000000000000000000000000000000000000",
        )
        .send();
    assert_eq!(r.status, 400);
    assert_eq!(dav(&s, "GET", "/f.bin").send().text(), "0123456789");
    // If-Match on PUT: the desktop's overwrite guard.
    assert_eq!(
        dav(&s, "PUT", "/f.bin")
            .body("new")
            .header("If-Match", "\"stale\"")
            .send()
            .status,
        412
    );
    assert_eq!(
        dav(&s, "PUT", "/f.bin")
            .body("new")
            .header("If-Match", &etag)
            .send()
            .status,
        204
    );
}

#[test]
fn quota_is_enforced_before_and_during_upload() {
    let s = Server::installed();
    s.add_user("kid", "kid-password-1", &["--quota", "1KB"]);
    let kid = |m: &str, p: &str| {
        s.req(m, &format!("/remote.php/dav/files/kid{p}"))
            .basic("kid", "kid-password-1")
    };
    assert_eq!(kid("PUT", "/small").body(vec![1u8; 600]).send().status, 201);
    // Declared too big: refused before reading.
    let r = kid("PUT", "/big").body(vec![1u8; 600]).send();
    assert_eq!(r.status, 507, "{}", r.text());
    assert!(r.text().contains("quota"));
    // Undeclared (chunked transfer encoding): refused while streaming, nothing left behind.
    let mut raw = format!("PUT /remote.php/dav/files/kid/sneaky HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nAuthorization: Basic {}\r\n\r\n", b64("kid:kid-password-1")).into_bytes();
    for _ in 0..4 {
        raw.extend_from_slice(b"100\r\n");
        raw.extend_from_slice(&[7u8; 256]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    assert_eq!(send_raw(s.addr, &raw).status, 507);
    assert_eq!(
        kid("PROPFIND", "/sneaky")
            .header("Depth", "0")
            .send()
            .status,
        404
    );
    let r = kid("PROPFIND", "/").header("Depth", "0").body(r#"<d:propfind xmlns:d="DAV:"><d:prop><d:quota-used-bytes/><d:quota-available-bytes/></d:prop></d:propfind>"#).send();
    let t = r.text();
    assert_eq!(prop(&t, "d:quota-used-bytes"), "600");
    assert_eq!(prop(&t, "d:quota-available-bytes"), "424");
    assert!(
        s.cli(&["fsck"], None)
            .success()
            .stdout
            .contains("no problems found")
    );
    // OCS reports the same.
    let me = s
        .req("GET", "/ocs/v2.php/cloud/user?format=json")
        .basic("kid", "kid-password-1")
        .ocs()
        .send()
        .json();
    assert_eq!(me["ocs"]["data"]["quota"]["total"], 1024);
}

fn b64(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(s)
}

#[test]
fn chunked_upload_v2_assembles_in_numeric_order() {
    let s = Server::installed();
    let up = |m: &str, p: &str| {
        s.req(m, &format!("/remote.php/dav/uploads/admin{p}"))
            .basic("admin", ADMIN_PW)
    };
    let dest = format!("http://{}{ROOT}/big.bin", s.addr);
    assert_eq!(
        up("MKCOL", "/web-file-upload-1")
            .header("Destination", &dest)
            .send()
            .status,
        201
    );
    for (name, byte) in [("1", b'a'), ("2", b'b'), ("10", b'c')] {
        let r = up("PUT", &format!("/web-file-upload-1/{name}"))
            .header("Destination", &dest)
            .body(vec![byte; 3])
            .send();
        assert_eq!(r.status, 201);
    }
    let list = up("PROPFIND", "/web-file-upload-1")
        .header("Depth", "1")
        .send();
    assert_eq!(list.status, 207);
    assert_eq!(list.text().matches("<d:response>").count(), 4);
    let r = up("MOVE", "/web-file-upload-1/.file")
        .header("Destination", &dest)
        .header("OC-Total-Length", "9")
        .header("X-OC-Mtime", "1600000000")
        .send();
    assert_eq!(r.status, 201, "{}", r.text());
    for h in ["oc-fileid", "etag", "oc-etag"] {
        assert!(r.header(h).is_some(), "{h}");
    }
    assert_eq!(r.header("x-oc-mtime"), Some("accepted"));
    assert_eq!(dav(&s, "GET", "/big.bin").send().text(), "aaabbbccc");
    assert_eq!(
        up("PROPFIND", "/web-file-upload-1")
            .header("Depth", "0")
            .send()
            .status,
        404,
        "upload removed after assembly"
    );
    // Zero chunks: an empty file. A length mismatch: 400.
    up("MKCOL", "/empty").send();
    assert_eq!(
        up("MOVE", "/empty/.file")
            .header("Destination", &format!("http://{}{ROOT}/empty.txt", s.addr))
            .send()
            .status,
        201
    );
    assert_eq!(dav(&s, "GET", "/empty.txt").send().body.len(), 0);
    up("MKCOL", "/bad").send();
    up("PUT", "/bad/00000000").body("abc").send();
    // A stray chunk can be removed (the desktop does before resuming), once.
    up("PUT", "/bad/00000001").body("stray").send();
    assert_eq!(up("DELETE", "/bad/00000001").send().status, 204);
    assert_eq!(up("DELETE", "/bad/00000001").send().status, 404);
    assert_eq!(
        up("PROPFIND", "/bad")
            .header("Depth", "1")
            .send()
            .text()
            .matches("<d:response>")
            .count(),
        2
    );
    assert_eq!(
        up("MOVE", "/bad/.file")
            .header("Destination", &dest)
            .header("OC-Total-Length", "99")
            .send()
            .status,
        400
    );
    assert_eq!(up("DELETE", "/bad").send().status, 204);
    // Someone else's upload area is off limits.
    s.add_user("eve", "eve-password-1", &[]);
    assert_eq!(
        s.req("MKCOL", "/remote.php/dav/uploads/admin/x")
            .basic("eve", "eve-password-1")
            .send()
            .status,
        403
    );
    assert!(
        s.cli(&["fsck"], None)
            .success()
            .stdout
            .contains("no problems found")
    );
}

#[test]
fn names_are_checked_and_normalised() {
    let s = Server::installed();
    // NFD in, NFC stored: one file, not two.
    assert_eq!(
        dav(&s, "PUT", "/e%CC%81te%CC%81.txt")
            .body("nfd")
            .send()
            .status,
        201
    );
    assert_eq!(
        dav(&s, "PUT", "/%C3%A9t%C3%A9.txt")
            .body("nfc")
            .send()
            .status,
        204
    );
    for bad in [
        "/.htaccess",
        "/a%2F..%2Fb",
        "/%2E%2E",
        &format!("/{}", "x".repeat(256)),
    ] {
        let r = dav(&s, "PUT", bad).body("x").send();
        assert_eq!(r.status, 400, "{bad}: {}", r.text());
    }
    assert_eq!(
        dav(&s, "PUT", &format!("/{}", "y".repeat(255)))
            .body("ok")
            .send()
            .status,
        201
    );
}

#[test]
fn hostile_requests_are_refused_cleanly() {
    let mut s = Server::installed();
    s.add_user("bob", "bob-password-1", &[]);
    dav(&s, "MKCOL", "/keep").send();
    dav(&s, "PUT", "/keep/file").body("precious").send();
    // Malformed XML, an entity bomb, and a huge property value.
    assert_eq!(
        dav(&s, "PROPFIND", "/")
            .header("Depth", "0")
            .body("<d:propfind xmlns:d=\"DAV:\"><d:prop>")
            .send()
            .status,
        400
    );
    let bomb = r#"<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">]><d:propfind xmlns:d="DAV:"><d:prop><d:getetag>&c;</d:getetag></d:prop></d:propfind>"#;
    assert_eq!(
        dav(&s, "PROPFIND", "/")
            .header("Depth", "0")
            .body(bomb)
            .send()
            .status,
        400
    );
    let huge = format!(
        r#"<d:propertyupdate xmlns:d="DAV:"><d:set><d:prop><x:big xmlns:x="urn:x">{}</x:big></d:prop></d:set></d:propertyupdate>"#,
        "v".repeat(10 * 1024 * 1024)
    );
    assert_eq!(
        dav(&s, "PROPPATCH", "/keep/file").body(huge).send().status,
        413
    );
    // Destinations outside the space, into someone else's, and a folder into itself.
    // (A Destination's host is ignored, as Sabre does: clients send other forms of our name.)
    for dest in [
        "/remote.php/dav/files/bob/stolen",
        "http://elsewhere.example/remote.php/dav/files/bob/x",
        "/remote.php/dav/files/admin/../bob/x",
        "/etc/passwd",
    ] {
        let r = dav(&s, "MOVE", "/keep/file")
            .header("Destination", dest)
            .send();
        assert!(matches!(r.status, 400 | 403), "{dest}: {}", r.status);
    }
    assert_eq!(
        dav(&s, "MOVE", "/keep")
            .header("Destination", &format!("{ROOT}/keep/inside"))
            .send()
            .status,
        403
    );
    // Another user's space.
    assert_eq!(
        s.req("PROPFIND", &format!("{ROOT}/keep"))
            .basic("bob", "bob-password-1")
            .header("Depth", "0")
            .send()
            .status,
        403
    );
    assert_eq!(
        s.req("DELETE", &format!("{ROOT}/keep"))
            .basic("bob", "bob-password-1")
            .send()
            .status,
        403
    );
    // A lock: writes without its token are refused.
    let lock = r#"<d:lockinfo xmlns:d="DAV:"><d:lockscope><d:exclusive/></d:lockscope><d:locktype><d:write/></d:locktype><d:owner>me</d:owner></d:lockinfo>"#;
    let r = dav(&s, "LOCK", "/keep/file").body(lock).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.header("lock-token").unwrap().to_owned();
    assert_eq!(
        dav(&s, "PUT", "/keep/file").body("overwrite").send().status,
        423
    );
    assert_eq!(dav(&s, "DELETE", "/keep").send().status, 423);
    assert_eq!(
        dav(&s, "PUT", "/keep/file")
            .header("If", &format!("({token})"))
            .body("mine")
            .send()
            .status,
        204
    );
    assert_eq!(
        dav(&s, "UNLOCK", "/keep/file")
            .header("Lock-Token", &token)
            .send()
            .status,
        204
    );
    // Nothing was lost or leaked.
    assert_eq!(dav(&s, "GET", "/keep/file").send().text(), "mine");
    assert!(s.is_running());
    s.settle_log();
    assert!(!s.log_text().contains("panicked"));
}

#[test]
fn options_is_anonymous_and_everything_else_needs_a_login() {
    let s = Server::installed();
    let r = s.req("OPTIONS", "/remote.php/dav/files/admin/").send();
    assert_eq!(r.status, 200);
    assert!(r.header("dav").unwrap().starts_with("1, 2, 3"));
    let r = s.req("PROPFIND", "/remote.php/dav/files/admin/").send();
    assert_eq!(r.status, 401);
    assert!(r.header("www-authenticate").unwrap().starts_with("Basic"));
    // The legacy root maps to the caller's space.
    dav(&s, "PUT", "/legacy.txt").body("L").send();
    let r = s
        .req("GET", "/remote.php/webdav/legacy.txt")
        .basic("admin", ADMIN_PW)
        .send();
    assert_eq!(r.text(), "L");
}

fn search_body(scope: &str, where_: &str, extra: &str) -> String {
    format!(
        r#"<?xml version="1.0"?><d:searchrequest xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns" xmlns:nc="http://nextcloud.org/ns"><d:basicsearch><d:select><d:prop><d:displayname/><oc:fileid/><oc:size/></d:prop></d:select><d:from><d:scope><d:href>{scope}</d:href><d:depth>infinity</d:depth></d:scope></d:from><d:where>{where_}</d:where>{extra}</d:basicsearch></d:searchrequest>"#
    )
}

#[test]
fn search_finds_by_name_type_size_and_id() {
    let s = Server::installed();
    dav(&s, "MKCOL", "/test_dir").send();
    dav(&s, "MKCOL", "/test_dir/test_sub").send();
    for (p, body) in [
        ("/test_dir/test_a.txt", "aaaaa"),
        ("/test_dir/test_sub/test_b.txt", "bb"),
        ("/test_dir/pic.png", "png!"),
        ("/test_dir/empty.png", ""),
        ("/outside.txt", "x"),
    ] {
        assert_eq!(dav(&s, "PUT", p).body(body).send().status, 201);
    }
    let run = |where_: &str, extra: &str| {
        let r = s
            .req("SEARCH", "/remote.php/dav/")
            .basic("admin", ADMIN_PW)
            .header("Content-Type", "text/xml")
            .body(search_body("/files/admin/test_dir", where_, extra))
            .send();
        assert_eq!(r.status, 207, "{}", r.text());
        r.text()
    };
    let names = |t: &str| -> Vec<String> {
        t.split("<d:displayname>")
            .skip(1)
            .map(|x| x.split('<').next().unwrap().to_owned())
            .collect()
    };
    let t = run(
        r#"<d:like><d:prop><d:displayname/></d:prop><d:literal>test_%</d:literal></d:like>"#,
        "",
    );
    let mut n = names(&t);
    n.sort();
    assert_eq!(
        n,
        vec!["test_a.txt", "test_b.txt", "test_sub"],
        "the scope itself is excluded, folders included"
    );
    let t = run(
        r#"<d:like><d:prop><d:getcontenttype/></d:prop><d:literal>text/%</d:literal></d:like>"#,
        "",
    );
    assert_eq!(names(&t).len(), 2);
    let t = run(
        r#"<d:or><d:and><d:gt><d:prop><oc:size/></d:prop><d:literal>0</d:literal></d:gt><d:like><d:prop><d:getcontenttype/></d:prop><d:literal>image/%</d:literal></d:like></d:and><d:like><d:prop><d:getcontenttype/></d:prop><d:literal>text/%</d:literal></d:like></d:or>"#,
        "",
    );
    assert_eq!(names(&t).len(), 3, "{t}");
    let t = run(
        r#"<d:not><d:is-collection/></d:not>"#,
        r#"<d:orderby><d:order><d:prop><oc:size/></d:prop><d:descending/></d:order></d:orderby><d:limit><d:nresults>2</d:nresults></d:limit>"#,
    );
    assert_eq!(names(&t), vec!["test_a.txt", "pic.png"]);
    // An oc:id string where a file id is meant (nc-py-api does this).
    let id = prop(
        &dav(&s, "PROPFIND", "/test_dir/pic.png")
            .header("Depth", "0")
            .body(NC_PROPS)
            .send()
            .text(),
        "oc:id",
    );
    let t = run(
        &format!("<d:eq><d:prop><oc:fileid/></d:prop><d:literal>{id}</d:literal></d:eq>"),
        "",
    );
    assert_eq!(names(&t), vec!["pic.png"]);
    // Someone else's files are not searchable.
    let r = s
        .req("SEARCH", "/remote.php/dav/")
        .basic("admin", ADMIN_PW)
        .body(search_body("/files/bob", "<d:is-collection/>", ""))
        .send();
    assert_eq!(r.status, 403);
    let r = s.req("SEARCH", "/remote.php/dav/").basic("admin", ADMIN_PW).body("<d:searchrequest xmlns:d=\"DAV:\"><d:basicsearch><d:where><d:bogus/></d:where></d:basicsearch></d:searchrequest>").send();
    assert_eq!(r.status, 400);
}

#[test]
fn bulk_upload_stores_each_part_and_reports_per_file() {
    let s = Server::installed();
    dav(&s, "MKCOL", "/b").send();
    let md5 = |d: &[u8]| -> String {
        use md5::Digest;
        md5::Md5::digest(d)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let parts: [(&str, &[u8], String); 4] = [
        ("/b/one.txt", b"first file", md5(b"first file")),
        ("/b/two.bin", b"", md5(b"")),
        (
            "/b/bad.txt",
            b"corrupted",
            "00000000000000000000000000000000".into(),
        ),
        ("/missing/three.txt", b"orphan", md5(b"orphan")),
    ];
    let mut body = Vec::new();
    for (path, data, sum) in &parts {
        body.extend_from_slice(format!("--xyz\r\nContent-Length: {}\r\nX-File-Path: {path}\r\nX-File-MD5: {sum}\r\nX-File-Mtime: 1600000000\r\n\r\n", data.len()).as_bytes());
        body.extend_from_slice(data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(b"--xyz--\r\n");
    let r = s
        .req("POST", "/remote.php/dav/bulk")
        .basic("admin", ADMIN_PW)
        .header("Content-Type", "multipart/related; boundary=xyz")
        .body(body)
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let j = r.json();
    assert_eq!(j["/b/one.txt"]["error"], false);
    assert_eq!(j["/b/one.txt"]["permissions"], "RGDNVW");
    let etag = j["/b/one.txt"]["etag"].as_str().unwrap().to_owned();
    assert_eq!(etag_of(&s, "/b/one.txt"), etag);
    assert_eq!(j["/b/two.bin"]["error"], false);
    assert_eq!(j["/b/bad.txt"]["error"], true);
    assert_eq!(j["/missing/three.txt"]["error"], true);
    let one = dav(&s, "GET", "/b/one.txt").send();
    assert_eq!(one.text(), "first file");
    assert_eq!(
        one.header("last-modified"),
        Some("Sun, 13 Sep 2020 12:26:40 GMT")
    );
    // The verified MD5 is the file's checksum: the desktop checks the download against it.
    let want = format!("MD5:{}", md5(b"first file"));
    assert_eq!(one.header("oc-checksum"), Some(want.as_str()));
    assert_eq!(
        dav(&s, "GET", "/b/bad.txt").send().status,
        404,
        "a part with a wrong MD5 leaves nothing"
    );
    // Malformed multipart: a clear 400.
    let r = s
        .req("POST", "/remote.php/dav/bulk")
        .basic("admin", ADMIN_PW)
        .header("Content-Type", "multipart/related; boundary=xyz")
        .body("--xyz\r\nX-File-Path: /b/x\r\n\r\nno length\r\n--xyz--\r\n")
        .send();
    assert_eq!(r.status, 400);
    assert!(
        s.cli(&["fsck"], None)
            .success()
            .stdout
            .contains("no problems found")
    );
}

/// An `OC-Checksum` of a type Hearth can compute (SHA1, MD5) is verified before anything is
/// committed, then reported; one it cannot (here ADLER32) is kept as sent but never put on a
/// download, which the desktop client would fail if it were wrong.
#[test]
fn client_checksums_are_verified_then_reported() {
    let s = Server::installed();
    let md5 = "9a0364b9e99bb480dd25e1f0284c8555"; // MD5 of "content"
    let put = |name: &str, sum: &str| {
        dav(&s, "PUT", name)
            .header("OC-Checksum", sum)
            .body("content")
            .send()
    };
    assert_eq!(put("/m.txt", &format!("MD5:{md5}")).status, 201);
    let g = dav(&s, "GET", "/m.txt").send();
    assert_eq!(g.header("oc-checksum"), Some(format!("MD5:{md5}").as_str()));
    let wrong = put("/w.txt", &format!("MD5:{}", "0".repeat(32)));
    assert_eq!(wrong.status, 400, "{}", wrong.text());
    assert_eq!(dav(&s, "GET", "/w.txt").send().status, 404);
    assert_eq!(put("/a.txt", "ADLER32:0bd602f2").status, 201);
    assert_eq!(dav(&s, "GET", "/a.txt").send().header("oc-checksum"), None);
    let r = dav(&s, "PROPFIND", "/a.txt")
        .header("Depth", "0")
        .body(NC_PROPS)
        .send();
    assert!(r.text().contains("ADLER32:0bd602f2"), "{}", r.text());
}

#[path = "common/golden.rs"]
mod golden;

/// Replaces what changes between runs: etags, file ids, instance id, times.
fn normalize(text: &str) -> String {
    let mut out = String::new();
    let mut rest = text;
    let rules: [(&str, &str); 6] = [
        ("<d:getetag>", "\"ETAG\""),
        ("<oc:id>", "ID"),
        ("<oc:fileid>", "N"),
        ("<d:getlastmodified>", "DATE"),
        ("<d:creationdate>", "DATE"),
        ("<nc:upload_time>", "T"),
    ];
    'outer: while !rest.is_empty() {
        for (open, with) in rules {
            if rest.starts_with(open) {
                out.push_str(open);
                let end = rest[open.len()..]
                    .find('<')
                    .map_or(rest.len(), |i| i + open.len());
                out.push_str(with);
                rest = &rest[end..];
                continue 'outer;
            }
        }
        let c = rest.chars().next().unwrap();
        out.push(c);
        rest = &rest[c.len_utf8()..];
    }
    out
}

#[test]
fn desktop_propfind_shape_matches_fixture() {
    let s = Server::installed();
    dav(&s, "MKCOL", "/Photos").send();
    dav(&s, "PUT", "/Photos/beach%20day.jpg")
        .body("jpeg bytes")
        .send();
    // As the desktop client uploads: with the SHA-1 it then finds in oc:checksums.
    dav(&s, "PUT", "/notes.txt")
        .header(
            "OC-Checksum",
            "SHA1:aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
        )
        .body("hello")
        .send();
    let r = dav(&s, "PROPFIND", "/")
        .header("Depth", "1")
        .body(NC_PROPS)
        .send();
    assert_eq!(r.status, 207);
    golden::check("dav/propfind-desktop-depth1.xml", &normalize(&r.text()));
    let r = dav(&s, "PROPFIND", "/notes.txt")
        .header("Depth", "0")
        .send();
    golden::check("dav/propfind-allprop-file.xml", &normalize(&r.text()));
    let r = dav(&s, "GET", "/nope.txt").send();
    golden::check("dav/error-not-found.xml", &r.text());
}

/// Blob files below the data directory (content kept inline in the store has none).
fn blob_files(s: &Server) -> usize {
    let mut n = 0;
    for shard in std::fs::read_dir(s.data().join("blobs")).unwrap() {
        let shard = shard.unwrap();
        if shard.file_name() != "tmp" && shard.file_type().unwrap().is_dir() {
            n += std::fs::read_dir(shard.path()).unwrap().count();
        }
    }
    n
}

/// Small contents are kept in the metadata store and larger ones in blob files (see
/// blobs::inline); a client cannot tell: ranges, copies, moves, overwrites from one kind to the
/// other and deletes all behave alike, and fsck finds nothing wrong afterwards.
#[test]
fn small_and_large_contents_behave_alike() {
    let s = Server::installed();
    let small: Vec<u8> = b"0123456789".repeat(400);
    let large: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let get = |p: &str| {
        let r = dav(&s, "GET", p).send();
        assert_eq!(r.status, 200, "GET {p}");
        r.body
    };
    let files0 = blob_files(&s);
    assert_eq!(
        dav(&s, "PUT", "/s.txt").body(small.clone()).send().status,
        201
    );
    assert_eq!(blob_files(&s), files0, "4,000 bytes are kept inline");
    assert_eq!(get("/s.txt"), small);
    let r = dav(&s, "GET", "/s.txt")
        .header("Range", "bytes=10-19")
        .send();
    assert_eq!((r.status, r.body.as_slice()), (206, &small[10..20]));
    assert_eq!(
        dav(&s, "HEAD", "/s.txt").send().header("content-length"),
        Some("4000")
    );
    assert_eq!(
        dav(&s, "PUT", "/l.bin").body(large.clone()).send().status,
        201
    );
    assert_eq!(blob_files(&s), files0 + 1, "100 KB go into a blob file");

    // A copy has content of its own.
    let r = dav(&s, "COPY", "/s.txt")
        .header("Destination", &format!("{ROOT}/s2.txt"))
        .send();
    assert_eq!(r.status, 201);
    assert_eq!(dav(&s, "DELETE", "/s.txt").send().status, 204);
    assert_eq!(get("/s2.txt"), small);
    // Overwrites from inline to a file and back.
    assert_eq!(
        dav(&s, "PUT", "/s2.txt").body(large.clone()).send().status,
        204
    );
    assert_eq!(get("/s2.txt"), large);
    assert_eq!(
        dav(&s, "PUT", "/l.bin").body(small.clone()).send().status,
        204
    );
    assert_eq!(get("/l.bin"), small);
    assert_eq!(
        blob_files(&s),
        files0 + 1,
        "the replaced file's blob is gone"
    );
    let r = dav(&s, "MOVE", "/l.bin")
        .header("Destination", &format!("{ROOT}/moved.bin"))
        .send();
    assert_eq!(r.status, 201);
    assert_eq!(get("/moved.bin"), small);
    // Folders with both kinds, copied deep, then the original deleted.
    assert_eq!(dav(&s, "MKCOL", "/d").send().status, 201);
    assert_eq!(
        dav(&s, "PUT", "/d/a").body(small.clone()).send().status,
        201
    );
    assert_eq!(
        dav(&s, "PUT", "/d/b").body(large.clone()).send().status,
        201
    );
    let r = dav(&s, "COPY", "/d")
        .header("Destination", &format!("{ROOT}/d2"))
        .send();
    assert_eq!(r.status, 201);
    assert_eq!(dav(&s, "DELETE", "/d").send().status, 204);
    assert_eq!((get("/d2/a"), get("/d2/b")), (small.clone(), large.clone()));
    let out = s.cli(&["fsck"], None).success().stdout;
    assert!(out.contains("no problems found"), "{out}");
    // Sizes add up the same way for both kinds.
    let body = dav(&s, "PROPFIND", "/")
        .header("Depth", "0")
        .body(NC_PROPS)
        .send()
        .text();
    let used = 2 * small.len() + 2 * large.len();
    assert_eq!(prop(&body, "oc:size"), used.to_string());
}

/// Concurrent writes are committed together, but each succeeds or fails on its own: of many
/// clients creating the same file with `If-None-Match: *` exactly one wins, while the uploads
/// of others to their own names all land.
#[test]
fn concurrent_uploads_succeed_or_fail_on_their_own() {
    let s = Server::installed();
    assert_eq!(dav(&s, "MKCOL", "/many").send().status, 201);
    let statuses: Vec<(u16, u16)> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..16)
            .map(|i| {
                let s = &s;
                sc.spawn(move || {
                    let race = dav(s, "PUT", "/race.txt")
                        .header("If-None-Match", "*")
                        .body(format!("thread {i}"))
                        .send()
                        .status;
                    let own = dav(s, "PUT", &format!("/many/f{i:02}"))
                        .body(vec![b'x'; 100 + i])
                        .send()
                        .status;
                    (race, own)
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let won = statuses.iter().filter(|(r, _)| *r == 201).count();
    assert_eq!(won, 1, "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|(r, o)| (*r == 201 || *r == 412) && *o == 201),
        "{statuses:?}"
    );
    let body = dav(&s, "PROPFIND", "/many")
        .header("Depth", "1")
        .body(NC_PROPS)
        .send()
        .text();
    assert_eq!(body.matches("<d:response>").count(), 17);
    let want: usize = (0..16).map(|i| 100 + i).sum();
    assert_eq!(prop(&body, "oc:size"), want.to_string());
    assert!(
        dav(&s, "GET", "/race.txt")
            .send()
            .text()
            .starts_with("thread ")
    );
}

/// Uploads that each fit the quota on their own, sent at once, may not overrun it together:
/// the quota is checked again when each is committed.
#[test]
fn concurrent_uploads_cannot_overrun_the_quota() {
    let s = Server::installed();
    s.add_user("kid", "kid-password-1", &["--quota", "1KB"]);
    let statuses: Vec<u16> = std::thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|i| {
                let s = &s;
                sc.spawn(move || {
                    s.req("PUT", &format!("/remote.php/dav/files/kid/f{i}"))
                        .basic("kid", "kid-password-1")
                        .body(vec![1u8; 400])
                        .send()
                        .status
                })
            })
            .collect();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let ok = statuses.iter().filter(|&&st| st == 201).count();
    assert_eq!(ok, 2, "two fit in 1 KB, two do not: {statuses:?}");
    assert!(
        statuses.iter().all(|&st| st == 201 || st == 507),
        "{statuses:?}"
    );
    let r = s
        .req("PROPFIND", "/remote.php/dav/files/kid/")
        .basic("kid", "kid-password-1")
        .header("Depth", "0")
        .body(r#"<d:propfind xmlns:d="DAV:"><d:prop><d:quota-used-bytes/></d:prop></d:propfind>"#)
        .send();
    assert_eq!(prop(&r.text(), "d:quota-used-bytes"), "800");
}

/// Uploads large enough to run through the blob pipeline (several 1 MiB batches hashed and
/// written side by side) that fail midway — past the quota while streaming, or the client
/// gone, a wrong SHA-1 — leave no file and no blob file behind; one that completes has its
/// exact content, and the SHA-1 its client sent.
#[test]
fn large_uploads_failing_midway_leave_nothing_behind() {
    use sha1::Digest;
    use std::io::Write;
    let s = Server::installed();
    s.add_user("kid", "kid-password-1", &["--quota", "3MB"]);
    let exists = |user: &str, pw: &str, name: &str| {
        s.req("PROPFIND", &format!("/remote.php/dav/files/{user}/{name}"))
            .basic(user, pw)
            .header("Depth", "0")
            .send()
            .status
    };
    // Undeclared length (chunked), 5 MiB: refused once past the quota. The body is sent from a
    // second thread while this one reads the answer, which comes before the body ends.
    let mut raw = format!("PUT /remote.php/dav/files/kid/over HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nAuthorization: Basic {}\r\n\r\n", b64("kid:kid-password-1")).into_bytes();
    for i in 0..80u8 {
        raw.extend_from_slice(b"10000\r\n");
        raw.extend_from_slice(&[i; 65536]);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    let mut conn = connect(s.addr);
    let mut w = conn.try_clone().unwrap();
    let sender = std::thread::spawn(move || {
        let _ = w.write_all(&raw);
    });
    assert_eq!(read_response(&mut conn).status, 507);
    drop(conn);
    sender.join().unwrap();
    assert_eq!(exists("kid", "kid-password-1", "over"), 404);

    // Declared 4 MiB, the connection gone after 2.5 MiB.
    let mut c = connect(s.addr);
    let head = format!(
        "PUT {ROOT}/gone HTTP/1.1\r\nHost: x\r\nContent-Length: 4194304\r\nAuthorization: Basic {}\r\n\r\n",
        b64(&format!("admin:{ADMIN_PW}"))
    );
    c.write_all(head.as_bytes()).unwrap();
    c.write_all(&vec![9u8; 5 * 512 * 1024]).unwrap();
    let _ = c.shutdown(std::net::Shutdown::Both);
    drop(c);
    // The request's log line is written once the server has given up on it.
    s.wait_for_log_line(|l| l.contains("PUT") && l.contains("/gone"));
    assert_eq!(exists("admin", ADMIN_PW, "gone"), 404);

    // 2.5 MiB plus a bit (not a whole number of batches), within the quota: stored exactly.
    let body: Vec<u8> = (0..5 * 512 * 1024 + 4321)
        .map(|i| (i * 7 % 251) as u8)
        .collect();
    let sum: String = sha1::Sha1::digest(&body)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let kid = |m: &str, p: &str| {
        s.req(m, &format!("/remote.php/dav/files/kid{p}"))
            .basic("kid", "kid-password-1")
    };
    // A wrong SHA-1 is caught at the end of the pipeline too, and leaves nothing behind.
    let wrong = kid("PUT", "/fits")
        .header("OC-Checksum", &format!("SHA1:{}", "0".repeat(40)))
        .body(body.clone())
        .send();
    assert_eq!(wrong.status, 400, "{}", wrong.text());
    assert_eq!(exists("kid", "kid-password-1", "fits"), 404);
    // As the desktop client uploads: with the SHA-1 to verify, which downloads then carry.
    let put = kid("PUT", "/fits")
        .header("OC-Checksum", &format!("SHA1:{sum}"))
        .body(body.clone())
        .send();
    assert_eq!(put.status, 201);
    let got = kid("GET", "/fits").send();
    assert_eq!(
        got.header("OC-Checksum"),
        Some(format!("SHA1:{sum}").as_str())
    );
    assert!(got.body == body, "the content came back changed");
    let r = kid("PROPFIND", "/fits")
        .header("Depth", "0")
        .body(NC_PROPS)
        .send();
    assert!(r.text().contains(&format!("SHA1:{sum}")), "{}", r.text());
    // Without one, like Nextcloud: no checksum is claimed (our own CRC32C stays internal).
    let admin = |m: &str, p: &str| s.req(m, &format!("{ROOT}{p}")).basic("admin", ADMIN_PW);
    assert_eq!(admin("PUT", "/plain").body(body.clone()).send().status, 201);
    let got = admin("GET", "/plain").send();
    assert!(got.body == body, "the content came back changed");
    assert_eq!(got.header("OC-Checksum"), None);
    let r = admin("PROPFIND", "/plain")
        .header("Depth", "0")
        .body(NC_PROPS)
        .send();
    assert!(!r.text().contains("SHA1:"), "{}", r.text());
    // No blob file is left from the three that failed.
    let out = s.cli(&["fsck"], None).success().stdout;
    assert!(out.contains("no problems found"), "{out}");
}

/// Locks are the files service's: a bulk upload answers to them like a PUT does. A file locked
/// through WebDAV cannot be replaced by a bulk upload without the lock's token, and can with
/// it (in the `If` header).
#[test]
fn bulk_upload_answers_to_the_same_locks() {
    let s = Server::installed();
    dav(&s, "MKCOL", "/b").send();
    dav(&s, "PUT", "/b/held.txt").body("before").send();
    let lock = "<?xml version=\"1.0\"?><d:lockinfo xmlns:d=\"DAV:\"><d:lockscope><d:exclusive/></d:lockscope><d:locktype><d:write/></d:locktype></d:lockinfo>";
    let r = dav(&s, "LOCK", "/b/held.txt").body(lock).send();
    assert_eq!(r.status, 200, "{}", r.text());
    let token = r.header("lock-token").unwrap().to_owned();
    let bulk = |if_header: Option<&str>| {
        let mut body = Vec::new();
        body.extend_from_slice(b"--xyz\r\nContent-Length: 5\r\nX-File-Path: /b/held.txt\r\nX-File-Mtime: 1600000000\r\n\r\nafter\r\n--xyz--\r\n");
        let mut req = s
            .req("POST", "/remote.php/dav/bulk")
            .basic("admin", ADMIN_PW)
            .header("Content-Type", "multipart/related; boundary=xyz");
        if let Some(h) = if_header {
            req = req.header("If", h);
        }
        let r = req.body(body).send();
        assert_eq!(r.status, 200, "{}", r.text());
        r.json()["/b/held.txt"]["error"].clone()
    };
    assert_eq!(bulk(None), true, "replaced a locked file without its token");
    assert_eq!(dav(&s, "GET", "/b/held.txt").send().text(), "before");
    assert_eq!(bulk(Some(&format!("({token})"))), false);
    assert_eq!(dav(&s, "GET", "/b/held.txt").send().text(), "after");
}
