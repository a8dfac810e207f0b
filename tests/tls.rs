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
    cli_in(
        &s.dir,
        &[
            "setup",
            "--name",
            "family",
            "--admin",
            "admin",
            "--password-stdin",
        ],
        Some(ADMIN_PW),
    )
    .success();
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
