//! Accounts through their real surfaces: the provisioning API, app passwords, Login Flow v2
//! polling and the legacy flow, throttling from two addresses, the CLI with and without a
//! running server.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::json;

fn ocs_json(r: &Resp) -> serde_json::Value {
    r.json()["ocs"].clone()
}

#[test]
fn provisioning_api_manages_users_and_groups() {
    let s = Server::installed();
    let admin = |m: &str, p: &str| s.req(m, p).basic("admin", ADMIN_PW).ocs();
    // Groups by query string (nc-py-api), users by JSON body (nc-py-api) and form (Android).
    assert_eq!(
        ocs_json(&admin("POST", "/ocs/v1.php/cloud/groups?groupid=kids&format=json").send())["meta"]
            ["statuscode"],
        100
    );
    let r = admin("POST", "/ocs/v2.php/cloud/users?format=json")
        .json(&json!({"userid": "bob", "password": "bob-password-1", "email": "bob@example.org", "groups": ["kids"], "displayName": "Bob B"}))
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(ocs_json(&r)["data"]["id"], "bob");
    let r = admin("POST", "/ocs/v1.php/cloud/users?format=json")
        .form(&[("userid", "carol"), ("password", "carol-password-1")])
        .send();
    assert_eq!(ocs_json(&r)["meta"]["statuscode"], 100, "{}", r.text());
    // Duplicate: v1 keeps HTTP 200 with statuscode 102; v2 answers 400.
    let r = admin("POST", "/ocs/v1.php/cloud/users?format=json")
        .form(&[("userid", "carol"), ("password", "carol-password-1")])
        .send();
    assert_eq!(
        (r.status, ocs_json(&r)["meta"]["statuscode"].as_u64()),
        (200, Some(102))
    );
    let r = admin("POST", "/ocs/v2.php/cloud/users?format=json")
        .form(&[("userid", "carol"), ("password", "carol-password-1")])
        .send();
    assert_eq!(r.status, 400);
    // Too-short password is refused with a message a person understands.
    let r = admin("POST", "/ocs/v2.php/cloud/users?format=json")
        .form(&[("userid", "dave"), ("password", "short")])
        .send();
    assert_eq!(r.status, 400);
    assert!(
        ocs_json(&r)["meta"]["message"]
            .as_str()
            .unwrap()
            .contains("at least 8")
    );
    // List, search, paging with a stable order.
    let list = ocs_json(&admin("GET", "/ocs/v1.php/cloud/users?format=json").send());
    assert_eq!(list["data"]["users"], json!(["admin", "bob", "carol"]));
    let list = ocs_json(
        &admin(
            "GET",
            "/ocs/v1.php/cloud/users?format=json&search=b&limit=5",
        )
        .send(),
    );
    assert_eq!(list["data"]["users"], json!(["bob"]));
    let list = ocs_json(
        &admin(
            "GET",
            "/ocs/v1.php/cloud/users?format=json&offset=1&limit=1",
        )
        .send(),
    );
    assert_eq!(list["data"]["users"], json!(["bob"]));
    // Edit fields by query string.
    let r = admin(
        "PUT",
        "/ocs/v1.php/cloud/users/bob?format=json&key=quota&value=1GB",
    )
    .send();
    assert_eq!(ocs_json(&r)["meta"]["statuscode"], 100);
    let bob = ocs_json(&admin("GET", "/ocs/v1.php/cloud/users/bob?format=json").send());
    assert_eq!(bob["data"]["quota"]["quota"], 1_073_741_824u64);
    assert_eq!(bob["data"]["displayname"], "Bob B");
    assert_eq!(bob["data"]["email"], "bob@example.org");
    assert_eq!(bob["data"]["groups"], json!(["kids"]));
    // Group membership and group listings.
    admin("POST", "/ocs/v1.php/cloud/users/carol/groups?groupid=kids").send();
    let members = ocs_json(&admin("GET", "/ocs/v1.php/cloud/groups/kids?format=json").send());
    assert_eq!(members["data"]["users"], json!(["bob", "carol"]));
    let details = ocs_json(&admin("GET", "/ocs/v1.php/cloud/groups/details?format=json").send());
    assert_eq!(details["data"]["groups"][1]["usercount"], 2);
    admin(
        "DELETE",
        "/ocs/v1.php/cloud/users/carol/groups?groupid=kids",
    )
    .send();
    let groups = ocs_json(&admin("GET", "/ocs/v1.php/cloud/users/carol/groups?format=json").send());
    assert_eq!(groups["data"]["groups"], json!([]));
    // A member is not an admin.
    let r = s
        .req("GET", "/ocs/v1.php/cloud/users?format=json")
        .basic("bob", "bob-password-1")
        .ocs()
        .send();
    assert_eq!(ocs_json(&r)["meta"]["statuscode"], 403);
    let r = s
        .req("POST", "/ocs/v2.php/cloud/users?format=json")
        .basic("bob", "bob-password-1")
        .ocs()
        .form(&[("userid", "x"), ("password", "12345678x")])
        .send();
    assert_eq!(r.status, 403);
    // …but edits their own display name.
    let r = s
        .req("PUT", "/ocs/v2.php/cloud/users/bob?format=json")
        .basic("bob", "bob-password-1")
        .ocs()
        .form(&[("key", "displayname"), ("value", "Bobby")])
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    // Disable: Bob's password stops working at once (no stale credential cache).
    admin("PUT", "/ocs/v1.php/cloud/users/bob/disable").send();
    assert_eq!(
        s.req("GET", "/ocs/v2.php/cloud/user")
            .basic("bob", "bob-password-1")
            .ocs()
            .send()
            .status,
        401
    );
    admin("PUT", "/ocs/v1.php/cloud/users/bob/enable").send();
    assert_eq!(
        s.req("GET", "/ocs/v2.php/cloud/user")
            .basic("bob", "bob-password-1")
            .ocs()
            .send()
            .status,
        200
    );
    // Login by e-mail address works too.
    assert_eq!(
        s.req("GET", "/ocs/v2.php/cloud/user")
            .basic("bob@example.org", "bob-password-1")
            .ocs()
            .send()
            .status,
        200
    );
    // Delete, then it is gone (v1: 998 inside a 200).
    let r = admin("DELETE", "/ocs/v1.php/cloud/users/bob?format=json").send();
    assert_eq!(ocs_json(&r)["meta"]["statuscode"], 100);
    let r = admin("DELETE", "/ocs/v1.php/cloud/users/bob?format=json").send();
    assert_eq!(
        (r.status, ocs_json(&r)["meta"]["statuscode"].as_u64()),
        (200, Some(998))
    );
    assert_eq!(
        s.req("GET", "/ocs/v2.php/cloud/user")
            .basic("bob", "bob-password-1")
            .ocs()
            .send()
            .status,
        401
    );
    // The last admin cannot be removed.
    let r = admin("DELETE", "/ocs/v2.php/cloud/users/admin?format=json").send();
    assert_eq!(r.status, 400);
    let r = admin("DELETE", "/ocs/v2.php/cloud/groups/kids?format=json").send();
    assert_eq!(r.status, 200);
}

#[test]
fn app_passwords_authenticate_and_die_when_revoked() {
    let s = Server::installed();
    let r = s
        .req("GET", "/ocs/v2.php/core/getapppassword?format=json")
        .basic("admin", ADMIN_PW)
        .ocs()
        .header("User-Agent", "Test client")
        .send();
    assert_eq!(r.status, 200, "{}", r.text());
    let app = ocs_json(&r)["data"]["apppassword"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(app.len(), 72);
    let me = s
        .req("GET", "/ocs/v2.php/cloud/user?format=json")
        .basic("admin", &app)
        .ocs()
        .send();
    assert_eq!(me.status, 200);
    // An app password cannot mint another.
    let r = s
        .req("GET", "/ocs/v2.php/core/getapppassword?format=json")
        .basic("admin", &app)
        .ocs()
        .send();
    assert_eq!(r.status, 403);
    let r = s
        .req("DELETE", "/ocs/v2.php/core/apppassword?format=json")
        .basic("admin", &app)
        .ocs()
        .send();
    assert_eq!(r.status, 200);
    let r = s
        .req("GET", "/ocs/v2.php/cloud/user?format=json")
        .basic("admin", &app)
        .ocs()
        .send();
    assert_eq!(r.status, 401);
    // A password change ends cached logins with the old one.
    assert_eq!(
        s.req("GET", "/ocs/v2.php/cloud/user")
            .basic("admin", ADMIN_PW)
            .ocs()
            .send()
            .status,
        200
    );
    s.cli(
        &["user", "passwd", "admin", "--password-stdin"],
        Some("a-new-password-2"),
    )
    .success();
    assert_eq!(
        s.req("GET", "/ocs/v2.php/cloud/user")
            .basic("admin", ADMIN_PW)
            .ocs()
            .send()
            .status,
        401
    );
    assert_eq!(
        s.req("GET", "/ocs/v2.php/cloud/user")
            .basic("admin", "a-new-password-2")
            .ocs()
            .send()
            .status,
        200
    );
}

#[test]
fn login_flow_v2_poll_is_404_until_granted() {
    let s = Server::installed();
    // nc-py-api sends Basic credentials along; the endpoint must not mind.
    let r = s
        .req("POST", "/index.php/login/v2")
        .basic("admin", ADMIN_PW)
        .header("User-Agent", "nc-py-api")
        .send();
    assert_eq!(r.status, 200);
    let j = r.json();
    let base = format!("http://{}", s.addr);
    assert_eq!(
        j["poll"]["endpoint"],
        format!("{base}/index.php/login/v2/poll")
    );
    assert!(
        j["login"]
            .as_str()
            .unwrap()
            .starts_with(&format!("{base}/index.php/login/v2/flow/"))
    );
    let token = j["poll"]["token"].as_str().unwrap();
    let p = s
        .req("POST", "/index.php/login/v2/poll")
        .form(&[("token", token)])
        .send();
    assert_eq!((p.status, p.text().as_str()), (404, "[]"));
    let p = s
        .req("POST", "/index.php/login/v2/poll")
        .form(&[("token", "made-up")])
        .send();
    assert_eq!(p.status, 404);
    // The browser side with a bad token is a 403 page.
    let r = s.req("GET", "/index.php/login/v2/flow/not-a-token").send();
    assert_eq!(r.status, 403);
    assert!(r.text().contains("invalid or has expired"));
}

#[test]
fn legacy_flow_needs_the_api_header_and_ends_in_nc_url() {
    let s = Server::installed();
    let r = s.req("GET", "/index.php/login/flow").send();
    assert_eq!(r.status, 403);
    let r = s
        .req("GET", "/index.php/login/flow")
        .header("OCS-APIREQUEST", "true")
        .header("User-Agent", "Nextcloud-android")
        .send();
    assert_eq!(r.status, 200);
    let flow_cookie = r.set_cookie();
    // Log in through the form.
    let r = s
        .req("POST", "/index.php/login")
        .form(&[
            ("user", "admin"),
            ("password", ADMIN_PW),
            ("redirect_url", "/index.php/login/flow"),
        ])
        .send();
    assert_eq!(r.status, 303);
    assert_eq!(r.header("location"), Some("/index.php/login/flow"));
    let session = r.set_cookie();
    let cookies = format!("{flow_cookie}; {session}");
    let page = s
        .req("GET", "/index.php/login/flow")
        .header("Cookie", &cookies)
        .send();
    assert_eq!(page.status, 200);
    let html = page.text();
    let csrf = html
        .split("name=\"requesttoken\" value=\"")
        .nth(1)
        .unwrap()
        .split('"')
        .next()
        .unwrap()
        .to_owned();
    // Without the CSRF token the grant is refused.
    let r = s
        .req("POST", "/index.php/login/flow")
        .header("Cookie", &cookies)
        .form(&[("requesttoken", "wrong")])
        .send();
    assert_eq!(r.status, 403);
    let r = s
        .req("POST", "/index.php/login/flow")
        .header("Cookie", &cookies)
        .form(&[("requesttoken", &csrf)])
        .send();
    assert_eq!(r.status, 302);
    let loc = r.header("location").unwrap();
    let prefix = format!("nc://login/server:http://{}&user:admin&password:", s.addr);
    assert!(loc.starts_with(&prefix), "{loc}");
    let pw = &loc[prefix.len()..];
    assert_eq!(
        s.req("GET", "/ocs/v2.php/cloud/user")
            .basic("admin", pw)
            .ocs()
            .send()
            .status,
        200
    );
}

#[test]
fn throttling_slows_an_attacker_but_not_the_family() {
    let s = Server::installed();
    let started = std::time::Instant::now();
    let mut statuses = Vec::new();
    for _ in 0..30 {
        let r = s
            .req("GET", "/ocs/v2.php/cloud/user")
            .basic("admin", "guess")
            .ocs()
            .source_ip("127.0.0.1")
            .send();
        statuses.push(r.status);
    }
    let refused = statuses.iter().filter(|&&st| st == 429).count();
    assert!(
        refused >= 15,
        "30 wrong passwords should be refused after a few: {statuses:?}"
    );
    assert!(statuses[..4].iter().all(|&st| st == 401), "{statuses:?}");
    // Even the right password is refused from the guessing address for now…
    let r = s
        .req("GET", "/ocs/v2.php/cloud/user")
        .basic("admin", ADMIN_PW)
        .ocs()
        .source_ip("127.0.0.1")
        .send();
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    // …while the real user gets straight in from another address.
    let t = std::time::Instant::now();
    let r = s
        .req("GET", "/ocs/v2.php/cloud/user")
        .basic("admin", ADMIN_PW)
        .ocs()
        .source_ip("127.0.0.2")
        .send();
    assert_eq!(r.status, 200);
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
    assert!(started.elapsed() < std::time::Duration::from_secs(60));
    // The browser login form shares the throttle.
    let r = s
        .req("POST", "/index.php/login")
        .form(&[("user", "admin"), ("password", "guess")])
        .send();
    assert_eq!(r.status, 429);
}

#[test]
fn cli_works_with_and_without_a_running_server() {
    let mut s = Server::installed();
    s.add_user(
        "erin",
        "erin-password-1",
        &[
            "--display-name",
            "Erin",
            "--email",
            "erin@example.org",
            "--quota",
            "10GB",
            "--group",
            "parents",
        ],
    );
    let list = s.cli(&["user", "list"], None).success().stdout;
    assert!(
        list.contains(
            "erin\tErin\terin@example.org\tenabled\tquota 10737418240 bytes\tgroups parents"
        ),
        "{list}"
    );
    // The server saw it at once (it made the change itself).
    assert_eq!(
        s.req("GET", "/ocs/v2.php/cloud/user")
            .basic("erin", "erin-password-1")
            .ocs()
            .send()
            .status,
        200
    );
    s.terminate();
    // Offline: the command opens the store itself.
    s.cli(&["group", "add", "grandparents"], None).success();
    assert!(
        s.cli(&["group", "list"], None)
            .success()
            .stdout
            .contains("grandparents")
    );
    s.cli(&["user", "delete", "erin"], None).success();
    let bad = s.cli(
        &["user", "add", "bad/name", "--password-stdin"],
        Some("long-enough-pw"),
    );
    assert!(!bad.status.success());
    assert!(bad.stderr.contains("login name"), "{}", bad.stderr);
    s.spawn();
    assert_eq!(
        s.req("GET", "/ocs/v2.php/cloud/user")
            .basic("erin", "erin-password-1")
            .ocs()
            .send()
            .status,
        401
    );
    // The control socket is owner-only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(s.data().join("control.sock"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o077, 0, "{mode:o}");
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = status.lines().find(|l| l.starts_with("VmRSS:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

#[test]
fn password_hashing_memory_goes_back_to_the_system() {
    // Every request costs an argon2 run (19 MiB) with the cache off; before the allocator was
    // tuned, freed blocks stayed in per-thread arenas and RSS grew by ~78 MiB per thread.
    let s = Server::start_with(&[("HEARTH_AUTH_CREDENTIAL_CACHE", "false")]);
    s.set_up();
    for _ in 0..24 {
        assert_eq!(
            s.req("GET", "/ocs/v2.php/cloud/user")
                .basic("admin", ADMIN_PW)
                .ocs()
                .send()
                .status,
            200
        );
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
    let rss = rss_kib(s.pid());
    assert!(rss < 40 * 1024, "RSS after 24 password checks is {rss} KiB");
}

/// A forgotten administrator password: `hearth recovery-code` (what the image runs when
/// `reset-password.txt` is on the boot partition) makes a one-time code; `/recover` takes it,
/// for administrators only, and the old password stops working.
#[test]
fn recovery_code_resets_an_administrator_password_once() {
    let s = Server::installed();
    s.add_user("kid", "kid-password-1", &[]);
    let page = s.req("GET", "/recover").send();
    assert_eq!(page.status, 200);
    assert!(page.text().contains("id=\"how\""), "{}", page.text());
    let code = s
        .cli(&["recovery-code"], None)
        .success()
        .stdout
        .trim()
        .to_owned();
    assert_eq!(code.len(), 9, "{code}");
    assert!(
        s.req("GET", "/recover")
            .send()
            .text()
            .contains("id=\"recover\"")
    );
    let post = |code: &str, login: &str, pw: &str, pw2: &str| {
        s.req("POST", "/recover")
            .form(&[
                ("code", code),
                ("login", login),
                ("password", pw),
                ("password2", pw2),
            ])
            .send()
    };
    assert_eq!(
        post("AAAA-AAAA", "admin", "new-password-1", "new-password-1").status,
        403
    );
    let r = post(&code, "kid", "new-password-1", "new-password-1");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("no administrator"), "{}", r.text());
    assert_eq!(
        post(&code, "admin", "new-password-1", "other-password-1").status,
        400
    );
    let r = post(
        &code.to_lowercase(),
        "admin",
        "new-password-1",
        "new-password-1",
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.text().contains("id=\"recovered\""));
    let me = |pw: &str| {
        s.req("GET", "/ocs/v2.php/cloud/user?format=json")
            .basic("admin", pw)
            .ocs()
            .send()
            .status
    };
    assert_eq!(me("new-password-1"), 200);
    assert_eq!(me(ADMIN_PW), 401);
    // Used up: the page explains how to get a new code again, and the code no longer works.
    assert!(
        s.req("GET", "/recover")
            .send()
            .text()
            .contains("id=\"how\"")
    );
    let again = post(&code, "admin", "third-password-1", "third-password-1");
    assert_eq!(again.status, 200);
    assert!(again.text().contains("id=\"how\""));
    assert_eq!(me("new-password-1"), 200);
}

/// The clock seam, driven from outside: a browser session lives 14 days. The same cookie
/// works, and no longer works once the box's clock has moved 15 days on (debug builds take
/// `HEARTH_TEST_CLOCK_OFFSET_SECS`; release builds have no settable clock).
#[test]
fn a_session_expires_when_the_clock_moves_past_its_lifetime() {
    let mut s = Server::installed();
    let cookie = s.login_cookie("admin", ADMIN_PW);
    let me = |s: &Server| {
        s.req("GET", "/ocs/v2.php/cloud/user?format=json")
            .header("Cookie", &cookie)
            .ocs()
            .send()
            .status
    };
    assert_eq!(me(&s), 200);
    s.restart_with(&[("HEARTH_TEST_CLOCK_OFFSET_SECS", "86400")]);
    assert_eq!(me(&s), 200, "one day on, the session still works");
    s.restart_with(&[("HEARTH_TEST_CLOCK_OFFSET_SECS", &(15 * 86_400).to_string())]);
    assert_eq!(me(&s), 401, "15 days on, the session has expired");
    s.wait_for_log_line(|l| l.contains("HEARTH_TEST_CLOCK_OFFSET_SECS"));
}
