//! Bad input: each gets a clear 4xx (or a closed connection where HTTP has no answer), never a
//! panic or a hang, and the server keeps serving afterwards.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;

#[test]
fn malformed_requests_get_clear_errors() {
    let mut s = Server::installed();
    for auth in [
        "Basic",
        "Basic !!!not-base64!!!",
        "Basic bm9jb2xvbg==",
        "Basic //79/g==",
        "Basic Og==",
    ] {
        let r = s
            .req("GET", "/ocs/v2.php/cloud/user")
            .header("Authorization", auth)
            .ocs()
            .send();
        assert_eq!(r.status, 400, "{auth}: {}", r.text());
        assert!(
            r.text().contains("Authorization header is malformed"),
            "{}",
            r.text()
        );
    }
    // A bearer token we do not know is a plain 401.
    let r = s
        .req("GET", "/ocs/v2.php/cloud/user")
        .header("Authorization", "Bearer abc")
        .ocs()
        .send();
    assert_eq!(r.status, 401);
    // Invalid UTF-8 and NUL in the path.
    let r = s.req("GET", "/%FF%FE/status.php").send();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("not valid UTF-8"));
    let r = s.req("GET", "/a%00b").send();
    assert_eq!(r.status, 400);
    // Unknown methods.
    let r = s.req("BREW", "/status.php").send();
    assert_eq!(r.status, 405);
    // A header block far over the limit.
    let big = "x".repeat(200 * 1024);
    let r = s.req("GET", "/status.php").header("X-Big", &big).send();
    assert_eq!(r.status, 431);
    // A body over the limit on a form endpoint.
    let r = s
        .req("POST", "/ocs/v2.php/cloud/users")
        .basic("admin", ADMIN_PW)
        .ocs()
        .form(&[("userid", &"u".repeat(2 * 1024 * 1024))])
        .send();
    assert_eq!(r.status, 413);
    // Broken JSON.
    let r = s
        .req("POST", "/ocs/v2.php/cloud/users?format=json")
        .basic("admin", ADMIN_PW)
        .ocs()
        .header("Content-Type", "application/json")
        .body("{\"userid\": ")
        .send();
    assert_eq!(r.status, 400);
    // Garbage that is not HTTP at all, and a request line with a broken target.
    let r = send_raw(
        s.addr,
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03garbage\r\n\r\n",
    );
    assert_eq!(r.status, 400);
    let r = send_raw(s.addr, b"GET /a b c HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 400);
    // A truncated body: the client promises 1000 bytes, sends 10 and stops writing.
    let mut c = connect(s.addr);
    c.write_all(b"POST /index.php/login/v2/poll HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 1000\r\n\r\ntoken=abcd").unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    if !raw.is_empty() {
        let r = parse_response(&raw);
        assert!((400..500).contains(&r.status), "{}", r.status);
    }
    assert!(s.is_running(), "the server died");
    assert_eq!(s.req("GET", "/status.php").send().status, 200);
    s.settle_log();
    assert!(!s.log_text().contains("panicked"), "{}", s.log_text());
}

#[test]
fn slow_and_idle_clients_are_cut_off() {
    let mut s = Server::start_with(&[
        ("HEARTH_LIMITS_HEADER_READ_TIMEOUT_SECS", "1"),
        ("HEARTH_LIMITS_IDLE_TIMEOUT_SECS", "2"),
    ]);
    // Slow loris: a header byte every 200 ms never completes a request head in time.
    let mut c = connect(s.addr);
    c.set_read_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    c.write_all(b"GET /status.php HTTP/1.1\r\nHost: x\r\nX-Slow: ")
        .unwrap();
    let t = Instant::now();
    let mut closed = false;
    while t.elapsed() < Duration::from_secs(6) {
        if c.write_all(b"a").is_err() {
            closed = true;
            break;
        }
        let mut buf = [0u8; 512];
        match c.read(&mut buf) {
            Ok(0) => {
                closed = true;
                break;
            }
            Ok(_) => {} // a 408 answer; the close follows
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "a slow-loris connection stayed open");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    // Idle keep-alive: a finished request's connection is closed after the idle timeout.
    let mut c = connect(s.addr);
    c.write_all(b"GET /status.php HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let t = Instant::now();
    let mut raw = Vec::new();
    let _ = c.read_to_end(&mut raw);
    assert!(raw.starts_with(b"HTTP/1.1 200"));
    assert!(
        t.elapsed() < Duration::from_secs(6),
        "idle connection lingered {:?}",
        t.elapsed()
    );
    assert!(s.is_running());
}

#[test]
fn pages_escape_what_they_echo() {
    let s = Server::installed();
    let r = s
        .req(
            "GET",
            "/index.php/login?redirect_url=/%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
        )
        .send();
    assert_eq!(r.status, 200);
    let html = r.text();
    assert!(!html.contains("<script>"), "{html}");
    assert!(html.contains("&quot;&gt;&lt;script&gt;"), "{html}");
    // Off-site redirect targets are replaced by the home page.
    let r = s
        .req("POST", "/index.php/login")
        .form(&[
            ("user", "admin"),
            ("password", ADMIN_PW),
            ("redirect_url", "//evil.example/"),
        ])
        .send();
    assert_eq!(r.header("location"), Some("/"));
}

/// The update upload checks who is asking before anything else, and a box that cannot install
/// updates (a developer's machine: no boot slots, no update key in a plain build) says so
/// instead of half-trying. The checks of the bundle itself are unit tests
/// (src/appliance/update/tests.rs) and the image's boot test.
#[test]
fn update_upload_is_for_administrators_of_an_image_only() {
    let s = Server::installed();
    s.add_user("kid", "kid-password-1", &[]);
    let bundle = vec![0u8; 4096];
    let r = s
        .req("POST", "/settings/system/update")
        .body(bundle.clone())
        .send();
    assert_eq!(r.status, 401, "{}", r.text());
    let r = s
        .req("POST", "/settings/system/update")
        .basic("kid", "kid-password-1")
        .body(bundle.clone())
        .send();
    assert_eq!(r.status, 403, "{}", r.text());
    // A browser session without its CSRF token is refused too.
    let cookie = s.login_cookie("admin", ADMIN_PW);
    let r = s
        .req("POST", "/settings/system/update")
        .header("Cookie", &cookie)
        .body(bundle.clone())
        .send();
    assert_eq!(r.status, 412, "{}", r.text()); // Nextcloud's answer to a failed CSRF check
    let r = s
        .req("POST", "/settings/system/update")
        .basic("admin", ADMIN_PW)
        .body(bundle)
        .send();
    assert_eq!(r.status, 409, "{}", r.text());
    let msg = r.json()["message"].as_str().unwrap_or("").to_owned();
    assert!(
        msg.contains("update key") || msg.contains("boot slots"),
        "{msg}"
    );
    let r = s
        .req("GET", "/settings/system/update")
        .basic("admin", ADMIN_PW)
        .send();
    assert_eq!(r.status, 405);
    // The system page shows the update section, without an upload form off the image.
    let page = s
        .req("GET", "/settings/system")
        .basic("admin", ADMIN_PW)
        .send()
        .text();
    assert!(page.contains("id=\"update-state\">none yet<"), "{page}");
    assert!(!page.contains("update-form"), "{page}");
    // `hearth update` off the image refuses with a message and a non-zero status.
    let f = s.data().join("x.bundle");
    std::fs::write(&f, b"not a bundle").unwrap();
    let out = s.cli(&["update", f.to_str().unwrap(), "--no-reboot"], None);
    assert!(!out.status.success());
    assert!(
        out.stderr.contains("update key") || out.stderr.contains("boot slots"),
        "{}",
        out.stderr
    );
}
