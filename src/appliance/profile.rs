//! The iOS/macOS configuration profile (`.mobileconfig`): the box's certificate authority as
//! a root certificate payload and, for a signed-in user, their CalDAV and CardDAV accounts.
//! An Apple device installs all of it in one step (and still asks for the password and, for
//! the certificate, the separate "full trust" switch). Unsigned: iOS shows it as
//! "Unverified", which is honest for a box's own authority.

use sha2::{Digest, Sha256};

pub struct Profile<'a> {
    /// The box name (`NAME.local`).
    pub box_name: &'a str,
    /// The host the device reached the box by, without a port.
    pub host: &'a str,
    pub https_port: u16,
    /// The CA certificate, DER.
    pub ca_der: &'a [u8],
    /// The signed-in user's login, for the account payloads.
    pub user: Option<&'a str>,
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A stable UUID for `seed`, so a profile downloaded again replaces the installed one
/// instead of adding a second copy.
fn uuid(seed: &str) -> String {
    let h = Sha256::digest(seed.as_bytes());
    let mut b = [0u8; 16];
    b.copy_from_slice(&h[..16]);
    b[6] = (b[6] & 0x0f) | 0x50; // version 5 (name-based, SHA)
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let x: String = b.iter().map(|v| format!("{v:02X}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &x[..8],
        &x[8..12],
        &x[12..16],
        &x[16..20],
        &x[20..]
    )
}

fn common(out: &mut String, id: &str, kind: &str, display: &str) {
    out.push_str(&format!(
        "<key>PayloadDisplayName</key><string>{}</string>\n\
         <key>PayloadIdentifier</key><string>{}</string>\n\
         <key>PayloadType</key><string>{kind}</string>\n\
         <key>PayloadUUID</key><string>{}</string>\n\
         <key>PayloadVersion</key><integer>1</integer>\n",
        esc(display),
        esc(id),
        uuid(id)
    ));
}

/// The profile's XML property list.
pub fn mobileconfig(p: &Profile) -> String {
    use base64::Engine;
    let base = format!("local.hearth.{}", p.box_name);
    let id = match p.user {
        Some(u) => format!("{base}.accounts.{u}"),
        None => format!("{base}.ca"),
    };
    let mut payloads = String::new();
    // The certificate authority.
    payloads.push_str("<dict>\n<key>PayloadCertificateFileName</key><string>hearth-ca.crt</string>\n<key>PayloadContent</key><data>");
    payloads.push_str(&base64::engine::general_purpose::STANDARD.encode(p.ca_der));
    payloads.push_str(&format!(
        "</data>\n<key>PayloadDescription</key><string>Lets this device recognise {}.local as the family's own box.</string>\n",
        esc(p.box_name)
    ));
    common(
        &mut payloads,
        &format!("{base}.ca.root"),
        "com.apple.security.root",
        &format!("{} certificate authority", p.box_name),
    );
    payloads.push_str("</dict>\n");
    if let Some(user) = p.user {
        let principal = format!("/remote.php/dav/principals/users/{user}/");
        for (prefix, kind, what) in [
            ("CalDAV", "com.apple.caldav.account", "calendars"),
            ("CardDAV", "com.apple.carddav.account", "contacts"),
        ] {
            payloads.push_str(&format!(
                "<dict>\n<key>{prefix}AccountDescription</key><string>{} {what}</string>\n\
                 <key>{prefix}HostName</key><string>{}</string>\n\
                 <key>{prefix}Port</key><integer>{}</integer>\n\
                 <key>{prefix}PrincipalURL</key><string>{}</string>\n\
                 <key>{prefix}UseSSL</key><true/>\n\
                 <key>{prefix}Username</key><string>{}</string>\n",
                esc(p.box_name),
                esc(p.host),
                p.https_port,
                esc(&principal),
                esc(user)
            ));
            common(
                &mut payloads,
                &format!("{base}.{}.{user}", prefix.to_ascii_lowercase()),
                kind,
                &format!("{} {what}", p.box_name),
            );
            payloads.push_str("</dict>\n");
        }
    }
    let (display, description) = match p.user {
        Some(u) => (
            format!("{} for {u}", p.box_name),
            format!(
                "Trusts {}.local and adds {u}'s calendars and contacts. Your password is asked for when you install it.",
                p.box_name
            ),
        ),
        None => (
            format!("{} certificate", p.box_name),
            format!(
                "Lets this device trust {}.local. After installing, turn on full trust in Settings → General → About → Certificate Trust Settings.",
                p.box_name
            ),
        ),
    };
    let mut out = String::from(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
         <!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n\
         <plist version=\"1.0\">\n<dict>\n<key>PayloadContent</key>\n<array>\n",
    );
    out.push_str(&payloads);
    out.push_str(&format!(
        "</array>\n<key>PayloadDescription</key><string>{}</string>\n\
         <key>PayloadOrganization</key><string>Hearth</string>\n\
         <key>PayloadRemovalDisallowed</key><false/>\n",
        esc(&description)
    ));
    common(&mut out, &id, "Configuration", &display);
    out.push_str("</dict>\n</plist>\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stable_uuids_and_escaping() {
        assert_eq!(uuid("a"), uuid("a"));
        assert_ne!(uuid("a"), uuid("b"));
        let u = uuid("x");
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "5");
        let p = mobileconfig(&Profile {
            box_name: "home",
            host: "home.local",
            https_port: 443,
            ca_der: b"\x30\x03\x02\x01\x01",
            user: Some("a&b"),
        });
        assert!(p.contains("<string>a&amp;b</string>"));
        assert!(p.contains("com.apple.carddav.account"));
        assert!(p.contains("<key>CalDAVPort</key><integer>443</integer>"));
        assert!(!p.contains("a&b<"));
    }
}
