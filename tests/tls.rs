//! Automatic TLS with the local CA, through real clients (curl, openssl): the downloaded CA
//! verifies the box by its `.local` name and by IP, HTTP redirects once set up, no HSTS.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::process::Command;
use std::time::Duration;

use common::*;

struct TlsServer {
    child: std::process::Child,
    http: String,
    https: String,
    dir: std::path::PathBuf,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start() -> TlsServer {
    let dir = tmp_path();
    let (child, http, https) = serve(
        &dir,
        &["--http", "127.0.0.1:0", "--https", "127.0.0.1:0"],
        &[],
        &Default::default(),
        (true, true),
    );
    let (http, https) = (http.unwrap(), https.unwrap());
    TlsServer {
        child,
        http,
        https,
        dir,
    }
}

/// Sets the box up as `family` with administrator `admin`.
fn set_up(s: &TlsServer) {
    set_up_family(&s.dir);
}

fn curl(args: &[&str]) -> (String, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn local_ca_verifies_the_box_by_name_and_ip() {
    let s = start();
    set_up(&s);
    // The CA is downloadable over plain HTTP (a device must fetch it before trusting HTTPS).
    let ca = s.dir.join("downloaded-ca.crt");
    let (code, _) = curl(&[
        "-o",
        ca.to_str().unwrap(),
        "-w",
        "%{http_code}",
        &format!("http://{}/hearth-ca.crt", s.http),
    ]);
    assert_eq!(code, "200");
    let pem = std::fs::read_to_string(&ca).unwrap();
    assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
    assert_eq!(
        cli_in(&s.dir, &["tls", "ca"], None).success().stdout.trim(),
        pem.trim()
    );
    let port = s.https.rsplit(':').next().unwrap().to_owned();
    // Set-up renamed the box: within 30 s the certificate is re-issued for family.local.
    let by_name = |path: &str| {
        curl(&[
            "--cacert",
            ca.to_str().unwrap(),
            "--resolve",
            &format!("family.local:{port}:127.0.0.1"),
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("https://family.local:{port}{path}"),
        ])
    };
    let mut ok = false;
    for _ in 0..80 {
        if by_name("/status.php").0 == "200" {
            ok = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        ok,
        "family.local never verified: {:?}",
        by_name("/status.php")
    );
    let (code, err) = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("https://127.0.0.1:{port}/status.php"),
    ]);
    assert_eq!(code, "200", "{err}");
    // A name the box does not own is not covered.
    let (_, err) = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "--resolve",
        &format!("bank.example:{port}:127.0.0.1"),
        &format!("https://bank.example:{port}/status.php"),
    ]);
    assert!(err.contains("SSL") || err.contains("certificate"), "{err}");
    // After set-up, HTTP redirects to HTTPS, except the CA download; never HSTS.
    let (head, _) = curl(&["-I", &format!("http://{}/status.php", s.http)]);
    assert!(head.starts_with("HTTP/1.1 308"), "{head}");
    assert!(
        head.to_lowercase()
            .contains(&format!("location: https://127.0.0.1:{port}/status.php")),
        "{head}"
    );
    let (head, _) = curl(&["-I", &format!("http://{}/hearth-ca.crt", s.http)]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    let (head, _) = curl(&[
        "-I",
        "--cacert",
        ca.to_str().unwrap(),
        &format!("https://127.0.0.1:{port}/status.php"),
    ]);
    assert!(
        !head.to_lowercase().contains("strict-transport-security"),
        "{head}"
    );
    // What the certificates say: a constrained CA, a short-lived serverAuth leaf.
    let text = |file: &str| {
        let out = Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(s.dir.join("tls").join(file))
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let ca_text = text("ca.crt");
    assert!(
        ca_text.contains("Name Constraints") && ca_text.contains("DNS:family.local"),
        "{ca_text}"
    );
    assert!(ca_text.contains("ecdsa-with-SHA256"));
    let leaf = text("server.crt");
    assert!(leaf.contains("TLS Web Server Authentication"), "{leaf}");
    assert!(
        leaf.contains("DNS:family.local") && leaf.contains("IP Address:127.0.0.1"),
        "{leaf}"
    );
    use std::os::unix::fs::PermissionsExt;
    for f in ["ca.key", "server.key"] {
        let mode = std::fs::metadata(s.dir.join("tls").join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{f} is {mode:o}");
    }
}

/// The iOS/macOS profile, read with Python's plistlib (the format Apple's own tools write):
/// anyone gets the CA (the same certificate as `/hearth-ca.crt`, over plain HTTP even after
/// set-up); a signed-in user also gets CalDAV and CardDAV accounts for their principal.
#[test]
fn mobileconfig_carries_the_ca_and_the_accounts() {
    let s = start();
    set_up(&s);
    let port = s.https.rsplit(':').next().unwrap().to_owned();
    let read = |file: &str| -> serde_json::Value {
        let out = Command::new("python3")
            .args([
                "-c",
                "import base64, json, plistlib, sys\n\
                 p = plistlib.load(open(sys.argv[1], 'rb'))\n\
                 for c in p['PayloadContent']:\n\
                 \x20   if isinstance(c.get('PayloadContent'), bytes):\n\
                 \x20       c['PayloadContent'] = base64.b64encode(c['PayloadContent']).decode()\n\
                 print(json.dumps(p))",
                file,
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "plistlib: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).unwrap()
    };
    // Anonymous, over plain HTTP after set-up (no redirect): the CA only.
    let anon = s.dir.join("anon.mobileconfig");
    let (head, _) = curl(&[
        "-D",
        "-",
        "-o",
        anon.to_str().unwrap(),
        &format!("http://{}/hearth.mobileconfig", s.http),
    ]);
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert!(
        head.to_lowercase()
            .contains("content-type: application/x-apple-aspen-config"),
        "{head}"
    );
    let p = read(anon.to_str().unwrap());
    assert_eq!(p["PayloadType"], "Configuration");
    let items = p["PayloadContent"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{p}");
    assert_eq!(items[0]["PayloadType"], "com.apple.security.root");
    let pem = cli_in(&s.dir, &["tls", "ca"], None).success().stdout;
    let der_b64: String = pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect::<Vec<_>>()
        .concat();
    assert_eq!(items[0]["PayloadContent"], der_b64.as_str());
    // Signed in (Basic, over HTTPS): the accounts too, for this user at this host and port.
    let ca = s.dir.join("ca.pem");
    std::fs::write(&ca, &pem).unwrap();
    let mine = s.dir.join("admin.mobileconfig");
    let (code, err) = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "-u",
        &format!("admin:{ADMIN_PW}"),
        "-o",
        mine.to_str().unwrap(),
        "-w",
        "%{http_code}",
        &format!("https://127.0.0.1:{port}/hearth.mobileconfig"),
    ]);
    assert_eq!(code, "200", "{err}");
    let p = read(mine.to_str().unwrap());
    let items = p["PayloadContent"].as_array().unwrap();
    let of = |t: &str| {
        items
            .iter()
            .find(|i| i["PayloadType"] == t)
            .unwrap_or_else(|| panic!("no {t} in {p}"))
    };
    let cal = of("com.apple.caldav.account");
    assert_eq!(cal["CalDAVHostName"], "127.0.0.1");
    assert_eq!(cal["CalDAVPort"], port.parse::<u64>().unwrap());
    assert_eq!(cal["CalDAVUseSSL"], true);
    assert_eq!(cal["CalDAVUsername"], "admin");
    assert_eq!(
        cal["CalDAVPrincipalURL"],
        "/remote.php/dav/principals/users/admin/"
    );
    let card = of("com.apple.carddav.account");
    assert_eq!(card["CardDAVUsername"], "admin");
    of("com.apple.security.root");
    // Identifiers and UUIDs are stable: downloading again replaces the installed profile.
    let again = s.dir.join("again.mobileconfig");
    curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "-u",
        &format!("admin:{ADMIN_PW}"),
        "-o",
        again.to_str().unwrap(),
        &format!("https://127.0.0.1:{port}/hearth.mobileconfig"),
    ]);
    assert_eq!(
        read(again.to_str().unwrap())["PayloadUUID"],
        p["PayloadUUID"]
    );
    // The principal the profile names answers for that user.
    let (code, _) = curl(&[
        "--cacert",
        ca.to_str().unwrap(),
        "-u",
        &format!("admin:{ADMIN_PW}"),
        "-X",
        "PROPFIND",
        "-H",
        "Depth: 0",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &format!("https://127.0.0.1:{port}/remote.php/dav/principals/users/admin/"),
    ]);
    assert_eq!(code, "207");
}
