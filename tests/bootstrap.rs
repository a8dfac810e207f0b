//! The Nextcloud bootstrap surface against the real binary: status.php, OCS envelope and
//! shapes (golden fixtures), well-known redirects, error shapes, request ids, shutdown.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "common/golden.rs"]
mod golden;

use common::*;

/// Replaces what legitimately varies between runs (port, temp dir, times) with placeholders.
fn normalize(s: &Server, text: &str) -> String {
    let data = std::fs::canonicalize(s.data())
        .unwrap()
        .display()
        .to_string();
    let mut t = text
        .replace(&s.addr.to_string(), "HOST")
        .replace(&data, "/DATA");
    for key in ["lastLogin"] {
        for (open, close) in [(format!("\"{key}\":"), ","), (format!("<{key}>"), "<")] {
            if let Some(i) = t.find(&open) {
                let start = i + open.len();
                let end = start + t[start..].find(close).unwrap();
                t.replace_range(start..end, "0");
            }
        }
    }
    t
}

#[test]
fn status_says_whether_setup_is_done() {
    let s = Server::start();
    let r = s.req("GET", "/status.php").send();
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("application/json; charset=utf-8")
    );
    let j = r.json();
    assert_eq!(j["installed"], false);
    assert_eq!(j["maintenance"], false);
    assert_eq!(j["extendedSupport"], false);
    s.set_up();
    let j = s.req("GET", "/status.php").send().json();
    assert_eq!(j["installed"], true);
    golden::check(
        "status.json",
        &normalize(&s, &s.req("GET", "/status.php").send().text()),
    );
    // Setup happens once.
    let again = s.cli(
        &[
            "setup",
            "--name",
            "other",
            "--admin",
            "eve",
            "--password-stdin",
        ],
        Some(ADMIN_PW),
    );
    assert!(!again.status.success());
    assert!(again.stderr.contains("already set up"), "{}", again.stderr);
}

#[test]
fn ocs_shapes_match_fixtures() {
    let s = Server::installed();
    for (v, fmt) in [("v1", "xml"), ("v1", "json"), ("v2", "xml"), ("v2", "json")] {
        let q = if fmt == "json" { "?format=json" } else { "" };
        let caps = s
            .req("GET", &format!("/ocs/{v}.php/cloud/capabilities{q}"))
            .send();
        assert_eq!(caps.status, 200);
        let ctype = if fmt == "json" {
            "application/json; charset=utf-8"
        } else {
            "application/xml; charset=utf-8"
        };
        assert_eq!(caps.header("content-type"), Some(ctype));
        golden::check(
            &format!("ocs/capabilities.{v}.{fmt}"),
            &normalize(&s, &caps.text()),
        );
        let user = s
            .req("GET", &format!("/ocs/{v}.php/cloud/user{q}"))
            .basic("admin", ADMIN_PW)
            .ocs()
            .send();
        assert_eq!(user.status, 200);
        golden::check(&format!("ocs/user.{v}.{fmt}"), &normalize(&s, &user.text()));
        let missing = s
            .req("GET", &format!("/ocs/{v}.php/cloud/users/nobody{q}"))
            .basic("admin", ADMIN_PW)
            .ocs()
            .send();
        golden::check(
            &format!("ocs/user-missing.{v}.{fmt}"),
            &normalize(&s, &missing.text()),
        );
        assert_eq!(missing.status, if v == "v1" { 200 } else { 404 });
        let anon = s
            .req("GET", &format!("/ocs/{v}.php/cloud/user{q}"))
            .ocs()
            .send();
        assert_eq!(anon.status, 401);
        golden::check(
            &format!("ocs/unauthorized.{v}.{fmt}"),
            &normalize(&s, &anon.text()),
        );
    }
    // Accept: application/json selects JSON as well.
    let r = s
        .req("GET", "/ocs/v2.php/cloud/capabilities")
        .header("Accept", "application/json")
        .send();
    assert_eq!(r.json()["ocs"]["meta"]["statuscode"], 200);
}

#[test]
fn well_known_and_unknown_paths() {
    let s = Server::installed();
    for p in ["/.well-known/caldav", "/.well-known/carddav"] {
        for m in ["GET", "PROPFIND"] {
            let r = s.req(m, p).send();
            assert_eq!(r.status, 301, "{m} {p}");
            assert_eq!(r.header("location"), Some("/remote.php/dav/"));
        }
    }
    let r = s
        .req("GET", "/no/such/thing")
        .header("Accept", "application/json")
        .send();
    assert_eq!(r.status, 404);
    assert!(r.json()["message"].is_string());
    let r = s
        .req("GET", "/no/such/thing")
        .header("Accept", "application/xml")
        .send();
    assert_eq!(r.status, 404);
    assert!(
        r.text()
            .contains("<s:exception>Sabre\\DAV\\Exception\\NotFound</s:exception>"),
        "{}",
        r.text()
    );
    let r = s.req("DELETE", "/status.php").send();
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), Some("GET, HEAD"));
    let r = s
        .req("GET", "/ocs/v1.php/no/such/api")
        .basic("admin", ADMIN_PW)
        .send();
    assert_eq!(r.status, 200, "OCS v1 reports errors inside a 200");
    assert!(r.text().contains("<statuscode>998</statuscode>"));
    let r = s
        .req("GET", "/ocs/v2.php/no/such/api?format=json")
        .basic("admin", ADMIN_PW)
        .send();
    assert_eq!(r.status, 404);
}

#[test]
fn every_response_has_its_own_request_id() {
    let s = Server::start();
    let a = s.req("GET", "/status.php").send();
    let b = s.req("GET", "/nothing").send();
    let (a, b) = (
        a.header("x-request-id").unwrap().to_owned(),
        b.header("x-request-id").unwrap().to_owned(),
    );
    assert!(a.len() >= 16 && a != b);
    // One log line per request, carrying the same id.
    s.wait_for_log_line(|l| {
        l.contains(&a) && l.contains("/status.php") && l.contains("status=200")
    });
    s.wait_for_log_line(|l| l.contains(&b) && l.contains("/nothing"));
}

#[test]
fn avatar_is_a_png_with_initials() {
    let s = Server::installed();
    let r = s
        .req("GET", "/index.php/avatar/admin/64")
        .basic("admin", ADMIN_PW)
        .send();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("image/png"));
    assert_eq!(r.header("x-nc-iscustomavatar"), Some("0"));
    assert_eq!(&r.body[..8], b"\x89PNG\r\n\x1a\n");
    // Width and height in IHDR.
    assert_eq!(u32::from_be_bytes(r.body[16..20].try_into().unwrap()), 64);
    let anon = s.req("GET", "/index.php/avatar/admin/64").send();
    assert_eq!(anon.status, 401, "avatars are for signed-in family members");
}

#[test]
fn sigterm_stops_gracefully() {
    let mut s = Server::installed();
    let st = s.terminate().expect("did not stop within 15 s");
    assert!(st.success(), "{st:?}");
    assert!(s.log_text().contains("stopped"));
    assert!(!s.data().join("control.sock").exists());
}

#[test]
fn invalid_config_refuses_to_start_naming_key_and_line() {
    let dir = tmp_path();
    std::fs::write(
        dir.join("hearth.toml"),
        "[server]\nhttp = \"127.0.0.1:0\"\n\n[limits]\nmax_body_bytes = \"lots\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["serve", "--data"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("max_body_bytes") && err.contains("line 5"),
        "{err}"
    );
    std::fs::write(
        dir.join("hearth.toml"),
        "[server]\nhttp = \"not an address\"\n",
    )
    .unwrap();
    let out = std::process::Command::new(BIN)
        .args(["serve", "--data"])
        .arg(&dir)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("server.http"));
    let out = std::process::Command::new(BIN)
        .args(["serve", "--data"])
        .arg(&dir)
        .env("HEARTH_LIMITS_NOPE", "1")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("HEARTH_LIMITS_NOPE"));
}

#[test]
fn version_flag() {
    let out = std::process::Command::new(BIN)
        .arg("--version")
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("hearth "));
}

#[test]
fn https_speaks_http2_and_http11_by_alpn() {
    let dir = tmp_path();
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let ok = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(ok.success());
    std::fs::write(
        dir.join("hearth.toml"),
        format!(
            "[server]\nhttp = \"\"\nhttps = \"127.0.0.1:0\"\ntls_cert = \"{}\"\ntls_key = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let (mut child, _, addr) = serve(&dir, &[], &[], &Default::default(), (false, true));
    let addr = addr.unwrap();
    let curl = |flag: &str| {
        let out = std::process::Command::new("curl")
            .args(["-sS", "--max-time", "10", flag, "--cacert"])
            .arg(&cert)
            .args(["-o", "/dev/null", "-w", "%{http_version} %{http_code}"])
            .arg(format!("https://{addr}/status.php"))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let h2 = curl("--http2");
    let h1 = curl("--http1.1");
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(h2, "2 200");
    assert_eq!(h1, "1.1 200");
}

fn multipart(file: &[u8]) -> (String, Vec<u8>) {
    let boundary = "----hearthtestboundary";
    let mut body = format!("--{boundary}\r\nContent-Disposition: form-data; name=\"files[]\"; filename=\"me.png\"\r\nContent-Type: image/png\r\n\r\n").into_bytes();
    body.extend_from_slice(file);
    body.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

#[test]
fn uploaded_avatar_is_served_replaced_and_removed() {
    let s = Server::installed();
    // Any real PNG will do: take the generated one of another size.
    let png = s
        .req("GET", "/index.php/avatar/admin/32")
        .basic("admin", ADMIN_PW)
        .send()
        .body;
    let (ctype, body) = multipart(&png);
    let r = s
        .req("POST", "/index.php/avatar/")
        .basic("admin", ADMIN_PW)
        .header("Content-Type", &ctype)
        .body(body)
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let got = s
        .req("GET", "/index.php/avatar/admin/64")
        .basic("admin", ADMIN_PW)
        .send();
    assert_eq!(got.header("x-nc-iscustomavatar"), Some("1"));
    assert_eq!(got.body, png);
    assert!(
        s.cli(&["fsck"], None)
            .success()
            .stdout
            .contains("checked 1 blob reference(s)")
    );
    // Replacing keeps exactly one blob; the old one is gone.
    let png2 = s
        .req("GET", "/index.php/avatar/admin/48")
        .basic("admin", ADMIN_PW)
        .send()
        .body;
    let r = s
        .req("POST", "/index.php/avatar/")
        .basic("admin", ADMIN_PW)
        .header("Content-Type", "image/png")
        .body(png2.clone())
        .send();
    assert_eq!(r.status, 200);
    assert_eq!(
        s.req("GET", "/index.php/avatar/admin/64")
            .basic("admin", ADMIN_PW)
            .send()
            .body,
        png2
    );
    let fsck = s.cli(&["fsck"], None).success().stdout;
    assert!(
        fsck.contains("checked 1 blob reference(s)") && fsck.contains("no problems found"),
        "{fsck}"
    );
    // Not an image: a clear 400.
    let r = s
        .req("POST", "/index.php/avatar/")
        .basic("admin", ADMIN_PW)
        .header("Content-Type", "image/png")
        .body("<?php evil(); ?>")
        .send();
    assert_eq!(r.status, 400);
    assert!(r.text().contains("PNG or JPEG"));
    // A cookie session needs the CSRF header for this.
    let cookie = s.login_cookie("admin", ADMIN_PW);
    let r = s
        .req("DELETE", "/index.php/avatar/")
        .header("Cookie", &cookie)
        .send();
    assert_eq!(r.status, 412);
    let r = s
        .req("DELETE", "/index.php/avatar/")
        .header("Cookie", &cookie)
        .header("OCS-APIRequest", "true")
        .send();
    assert_eq!(r.status, 200);
    let got = s
        .req("GET", "/index.php/avatar/admin/64")
        .basic("admin", ADMIN_PW)
        .send();
    assert_eq!(got.header("x-nc-iscustomavatar"), Some("0"));
    assert!(
        s.cli(&["fsck"], None)
            .success()
            .stdout
            .contains("checked 0 blob reference(s)")
    );
}

#[test]
fn devices_are_listed_and_revoked_from_the_home_page() {
    let s = Server::installed();
    let r = s
        .req("GET", "/ocs/v2.php/core/getapppassword?format=json")
        .basic("admin", ADMIN_PW)
        .ocs()
        .header("User-Agent", "Grandma's phone")
        .send();
    let app = r.json()["ocs"]["data"]["apppassword"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        s.req("GET", "/ocs/v2.php/cloud/user")
            .basic("admin", &app)
            .ocs()
            .send()
            .status,
        200
    );
    let cookie = s.login_cookie("admin", ADMIN_PW);
    let home = s.req("GET", "/").header("Cookie", &cookie).send().text();
    assert!(home.contains("Grandma&#39;s phone"), "{home}");
    assert!(
        !home.contains("never used"),
        "the app password was used once: {home}"
    );
    let action = home
        .split("action=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let csrf = home
        .split("name=\"requesttoken\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    let r = s
        .req("POST", &action)
        .header("Cookie", &cookie)
        .form(&[("requesttoken", "nope")])
        .send();
    assert_eq!(r.status, 403);
    let r = s
        .req("POST", &action)
        .header("Cookie", &cookie)
        .form(&[("requesttoken", &csrf)])
        .send();
    assert_eq!(r.status, 303);
    assert_eq!(
        s.req("GET", "/ocs/v2.php/cloud/user")
            .basic("admin", &app)
            .ocs()
            .send()
            .status,
        401
    );
}

#[test]
fn system_page_for_admins_and_a_public_health_check() {
    let s = Server::installed();
    s.add_user("kid", "kid-password-1", &[]);
    let h = s.req("GET", "/health").send();
    assert_eq!((h.status, h.json()["status"].as_str()), (200, Some("ok")));
    assert_eq!(
        h.json().as_object().unwrap().len(),
        1,
        "the health check reveals nothing else"
    );
    let r = s
        .req("GET", "/settings/system")
        .basic("admin", ADMIN_PW)
        .send();
    assert_eq!(r.status, 200);
    let t = r.text();
    for must in [
        "version 0.",
        "Memory",
        "Hearth itself",
        "Storage",
        "<table id=\"disks\"><tr",
        "Recent problems",
        "Name on the network",
    ] {
        assert!(t.contains(must), "{must} missing: {t}");
    }
    assert_eq!(
        s.req("GET", "/settings/system")
            .basic("kid", "kid-password-1")
            .send()
            .status,
        403
    );
    assert_eq!(s.req("GET", "/settings/system").send().status, 401);
    // Every administrator's endpoint refuses a family member the same way, in its own words
    // (the requirement is declared once per endpoint and checked before any handler).
    for (path, words) in [
        (
            "/settings/system",
            "Only an administrator can see the system page.",
        ),
        (
            "/settings/system/certificate",
            "Only an administrator can change the certificate.",
        ),
        (
            "/settings/system/update",
            "Only an administrator can update the box.",
        ),
    ] {
        let method = if path == "/settings/system" {
            "GET"
        } else {
            "POST"
        };
        let r = s.req(method, path).basic("kid", "kid-password-1").send();
        assert_eq!(r.status, 403, "{path}");
        assert!(r.text().contains(words), "{path}: {}", r.text());
    }
}

/// Low-memory mode: a 32 MiB budget gives one async worker, one password hash at a time and
/// 128 connections, says so in the log, and the box still answers.
#[test]
fn a_small_memory_budget_bounds_threads_and_connections() {
    let dir = tempfile::tempdir().unwrap();
    let log = std::sync::Arc::<Log>::default();
    let (mut child, http, _) = serve(
        dir.path(),
        &["--http", "127.0.0.1:0"],
        &[("HEARTH_LIMITS_MEMORY_MIB".into(), "32".into())],
        &log,
        (true, false),
    );
    let addr: std::net::SocketAddr = http.unwrap().parse().unwrap();
    let r = send_raw(
        addr,
        b"GET /status.php HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    let threads: usize = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    log.wait_ended(std::time::Duration::from_secs(5));
    assert_eq!(r.status, 200);
    let text = log.text();
    let line = text
        .lines()
        .find(|l| l.contains("memory budget"))
        .unwrap_or_default();
    assert!(
        line.contains("memory budget 32 MiB")
            && line.contains("1 worker thread,")
            && line.contains("1 password hash at once")
            && line.contains("128 connections"),
        "{line}"
    );
    // main + one worker + at most two blocking threads + the log writer and mDNS/TLS helpers.
    assert!(threads <= 8, "{threads} threads");
}
