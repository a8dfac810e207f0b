//! Automatic TLS with a local certificate authority.
//!
//! On first HTTPS start Hearth creates its own CA (ECDSA P-256, ten years) whose X.509 name
//! constraints permit only the box's names and private/link-local/loopback addresses, so a
//! family that trusts it trusts nothing else by accident. The server certificate (SANs: the
//! box's `.local` names, its current IP addresses, `localhost`; EKU serverAuth; 390 days, under
//! Apple's 397-day limit) is re-issued before it expires and whenever the names or addresses
//! change, and swapped into the running listener without a restart. Keys are files with mode
//! 0600 under `DATA/tls/`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rcgen::{
    BasicConstraints, CertificateParams, CidrSubnet, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, GeneralSubtree, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    NameConstraints,
};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("certificate generation: {0}")]
    Rcgen(#[from] rcgen::Error),
    #[error("TLS files in {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Rustls(String),
}

/// Server certificates live this long (Apple and browsers refuse more than 397 days).
const SERVER_DAYS: i64 = 390;
/// Renew this long before expiry.
const RENEW_BEFORE: Duration = Duration::from_secs(30 * 24 * 3600);
const CA_DAYS: i64 = 3650;

/// What a server certificate was issued for, kept beside it to notice changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Issued {
    pub names: Vec<String>,
    pub not_after: u64,
}

pub struct LocalCa {
    dir: PathBuf,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> TlsError + '_ {
    move |source| TlsError::Io {
        path: path.display().to_string(),
        source,
    }
}

/// Writes a file readable by the owner only, atomically (temp file, fsync, rename).
pub(crate) fn write_private(path: &Path, data: &str) -> Result<(), TlsError> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(io(&tmp))?;
    f.write_all(data.as_bytes()).map_err(io(&tmp))?;
    f.sync_all().map_err(io(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io(path))
}

/// The box's own names: `NAME.local`, its stable fallback name, `localhost`, extra names.
pub fn box_names(box_name: &str, extra: &[String]) -> Vec<String> {
    let mut names = vec![format!("{box_name}.local"), "localhost".to_owned()];
    names.extend(extra.iter().cloned());
    names.sort();
    names.dedup();
    names
}

/// Every address of this machine's interfaces (loopback included, for local access).
pub fn local_addresses() -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|v| v.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    ips.push(IpAddr::from([127, 0, 0, 1]));
    ips.sort();
    ips.dedup();
    ips
}

fn ca_params(box_name: &str) -> Result<CertificateParams, TlsError> {
    let mut p = CertificateParams::new(Vec::<String>::new())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("Hearth local CA ({box_name})"));
    dn.push(DnType::OrganizationName, "Hearth");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let v4 = |a: [u8; 4], m: [u8; 4]| GeneralSubtree::IpAddress(CidrSubnet::V4(a, m));
    let v6 = |a: [u8; 16], bits: u8| {
        let mut mask = [0u8; 16];
        for (i, b) in mask.iter_mut().enumerate() {
            let left = i32::from(bits) - 8 * i32::try_from(i).unwrap_or(0);
            *b = if left >= 8 {
                0xff
            } else if left <= 0 {
                0
            } else {
                0xffu8 << (8 - left)
            };
        }
        GeneralSubtree::IpAddress(CidrSubnet::V6(a, mask))
    };
    let mut fe80 = [0u8; 16];
    fe80[0] = 0xfe;
    fe80[1] = 0x80;
    let mut fc00 = [0u8; 16];
    fc00[0] = 0xfc;
    let mut lo6 = [0u8; 16];
    lo6[15] = 1;
    p.name_constraints = Some(NameConstraints {
        permitted_subtrees: vec![
            GeneralSubtree::DnsName(format!("{box_name}.local")),
            GeneralSubtree::DnsName("localhost".into()),
            v4([10, 0, 0, 0], [255, 0, 0, 0]),
            v4([172, 16, 0, 0], [255, 240, 0, 0]),
            v4([192, 168, 0, 0], [255, 255, 0, 0]),
            v4([169, 254, 0, 0], [255, 255, 0, 0]),
            v4([100, 64, 0, 0], [255, 192, 0, 0]),
            v4([127, 0, 0, 0], [255, 0, 0, 0]),
            v6(fe80, 10),
            v6(fc00, 7),
            v6(lo6, 128),
        ],
        excluded_subtrees: vec![],
    });
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(CA_DAYS);
    Ok(p)
}

impl LocalCa {
    pub fn new(data_dir: &Path) -> Self {
        LocalCa {
            dir: data_dir.join("tls"),
        }
    }

    fn path(&self, f: &str) -> PathBuf {
        self.dir.join(f)
    }

    /// The CA certificate (PEM), creating the CA on first use.
    pub fn ensure_ca(&self, box_name: &str) -> Result<String, TlsError> {
        let (cert, key) = (self.path("ca.crt"), self.path("ca.key"));
        if let (Ok(c), true) = (std::fs::read_to_string(&cert), key.exists()) {
            return Ok(c);
        }
        std::fs::create_dir_all(&self.dir).map_err(io(&self.dir))?;
        let key_pair = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let params = ca_params(box_name)?;
        let ca = params.self_signed(&key_pair)?;
        write_private(&key, &key_pair.serialize_pem())?;
        write_private(&self.path("ca.name"), box_name)?;
        std::fs::write(&cert, ca.pem()).map_err(io(&cert))?;
        tracing::info!("created the local certificate authority");
        Ok(ca.pem())
    }

    /// What the current server certificate covers, if there is one.
    pub fn issued(&self) -> Option<Issued> {
        let text = std::fs::read_to_string(self.path("server.json")).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Whether the server certificate must be (re-)issued for `names`.
    pub fn needs_issue(&self, names: &[String]) -> bool {
        let now = crate::clock::now_unix_secs();
        match self.issued() {
            Some(i) => {
                i.names != names
                    || i.not_after <= now + RENEW_BEFORE.as_secs()
                    || !self.path("server.key").exists()
            }
            None => true,
        }
    }

    /// Issues a server certificate for `names` (DNS names and IP addresses) from the CA.
    pub fn issue_server(&self, box_name: &str, names: &[String]) -> Result<(), TlsError> {
        // The CA's name constraints name the box: a renamed box (first set-up names it) gets a
        // new CA, which devices then trust instead. After set-up the name does not change.
        let made_for = std::fs::read_to_string(self.path("ca.name")).ok();
        if made_for.as_deref().is_some_and(|n| n.trim() != box_name) {
            let _ = std::fs::remove_file(self.path("ca.crt"));
            let _ = std::fs::remove_file(self.path("ca.key"));
        }
        self.ensure_ca(box_name)?;
        let ca_key_pem =
            std::fs::read_to_string(self.path("ca.key")).map_err(io(&self.path("ca.key")))?;
        let ca_key = KeyPair::from_pem(&ca_key_pem)?;
        // The CA was made for the name it had then; its constraints must cover today's names.
        let ca_name =
            std::fs::read_to_string(self.path("ca.name")).unwrap_or_else(|_| box_name.to_owned());
        let issuer = Issuer::new(ca_params(ca_name.trim())?, ca_key);
        let mut p = CertificateParams::new(names.to_vec())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, format!("{box_name}.local"));
        p.distinguished_name = dn;
        p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        p.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let now = time::OffsetDateTime::now_utc();
        p.not_before = now - time::Duration::hours(1);
        p.not_after = now + time::Duration::days(SERVER_DAYS);
        let key = KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
        let cert = p.signed_by(&key, &issuer)?;
        write_private(&self.path("server.key"), &key.serialize_pem())?;
        let chain = format!(
            "{}{}",
            cert.pem(),
            std::fs::read_to_string(self.path("ca.crt")).unwrap_or_default()
        );
        write_private(&self.path("server.crt"), &chain)?;
        let issued = Issued {
            names: names.to_vec(),
            not_after: u64::try_from(p.not_after.unix_timestamp()).unwrap_or(0),
        };
        write_private(
            &self.path("server.json"),
            &serde_json::to_string(&issued).unwrap_or_default(),
        )?;
        tracing::info!(names = ?names, "issued the server certificate");
        Ok(())
    }

    pub fn certified_key(&self) -> Result<Arc<CertifiedKey>, TlsError> {
        certified_key(&self.path("server.crt"), &self.path("server.key"))
    }

    /// The CA's certificate PEM, if the CA exists.
    pub fn ca_pem(&self) -> Option<String> {
        std::fs::read_to_string(self.path("ca.crt")).ok()
    }
}

/// Loads a PEM chain and key into what rustls serves.
pub fn certified_key(cert: &Path, key: &Path) -> Result<Arc<CertifiedKey>, TlsError> {
    let certs = rustls_pemfile::certs(&mut std::fs::read(cert).map_err(io(cert))?.as_slice())
        .collect::<Result<Vec<_>, _>>()
        .map_err(io(cert))?;
    let key_der = rustls_pemfile::private_key(&mut std::fs::read(key).map_err(io(key))?.as_slice())
        .map_err(io(key))?
        .ok_or_else(|| TlsError::Rustls(format!("{}: no private key found", key.display())))?;
    let provider = rustls::crypto::ring::default_provider();
    let signing = provider
        .key_provider
        .load_private_key(key_der)
        .map_err(|e| TlsError::Rustls(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(certs, signing)))
}

/// Serves whatever certificate is current; renewal swaps it in place. A client asking (SNI) for
/// a name of the ACME certificate gets that one; a TLS-ALPN-01 validation gets its challenge
/// certificate; everyone else the local CA's (or the configured) certificate.
pub struct CertSlot {
    current: RwLock<Arc<CertifiedKey>>,
    acme: RwLock<Option<crate::appliance::acme::AcmeCert>>,
    challenges: Arc<crate::appliance::acme::Challenges>,
}

impl std::fmt::Debug for CertSlot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CertSlot")
    }
}

impl CertSlot {
    pub fn new(
        key: Arc<CertifiedKey>,
        challenges: Arc<crate::appliance::acme::Challenges>,
    ) -> Self {
        CertSlot {
            current: RwLock::new(key),
            acme: RwLock::new(None),
            challenges,
        }
    }
    pub fn replace(&self, key: Arc<CertifiedKey>) {
        if let Ok(mut g) = self.current.write() {
            *g = key;
        }
    }
    pub fn set_acme(&self, cert: Option<crate::appliance::acme::AcmeCert>) {
        if let Ok(mut g) = self.acme.write() {
            *g = cert;
        }
    }
    /// The ACME certificate being served, if any.
    pub fn acme(&self) -> Option<crate::appliance::acme::AcmeCert> {
        self.acme.read().ok()?.clone()
    }
    /// Whether `host` is answered with the publicly trusted (ACME) certificate: only then may
    /// HSTS be sent.
    pub fn publicly_trusted(&self, host: &str) -> bool {
        self.acme
            .read()
            .ok()
            .is_some_and(|g| g.as_ref().is_some_and(|c| c.covers(host)))
    }
}

impl ResolvesServerCert for CertSlot {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let sni = hello.server_name().map(str::to_ascii_lowercase);
        if hello
            .alpn()
            .is_some_and(|mut a| a.any(|p| p == crate::appliance::acme::ALPN_ACME))
        {
            return sni.and_then(|n| self.challenges.alpn_cert(&n));
        }
        if let Some(name) = &sni
            && let Ok(g) = self.acme.read()
            && let Some(c) = g.as_ref()
            && c.covers(name)
        {
            return Some(c.key.clone());
        }
        self.current.read().ok().map(|g| g.clone())
    }
}

/// Addresses the CA's name constraints allow: private, CGNAT, link-local and loopback IPv4;
/// loopback, link-local and unique-local IPv6. A home box is reached by these (or by name);
/// a public address is left out of the certificate rather than widening what the CA may vouch
/// for.
pub fn permitted_ip(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_private()
                || v4.is_loopback()
                || v4.is_link_local()
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            v6.is_loopback() || (s[0] & 0xffc0) == 0xfe80 || (s[0] & 0xfe00) == 0xfc00
        }
    }
}

/// The names and addresses the certificate should cover right now.
pub fn wanted_names(box_name: &str, extra: &[String]) -> Vec<String> {
    let mut names = box_names(box_name, extra);
    names.extend(
        local_addresses()
            .into_iter()
            .filter(permitted_ip)
            .map(|ip| ip.to_string()),
    );
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_home_addresses_go_into_the_certificate() {
        for ok in [
            "192.168.1.20",
            "10.0.0.5",
            "172.20.1.1",
            "100.100.1.1",
            "169.254.3.4",
            "127.0.0.1",
            "::1",
            "fe80::1",
            "fd00::2",
        ] {
            assert!(permitted_ip(&ok.parse().unwrap()), "{ok}");
        }
        for no in ["192.0.2.2", "8.8.8.8", "2001:db8::1", "172.32.0.1"] {
            assert!(!permitted_ip(&no.parse().unwrap()), "{no}");
        }
    }

    #[test]
    fn issues_and_notices_changes() {
        let dir = tempfile::tempdir().unwrap();
        let ca = LocalCa::new(dir.path());
        let names = vec!["family.local".to_owned(), "127.0.0.1".to_owned()];
        assert!(ca.needs_issue(&names));
        ca.issue_server("family", &names).unwrap();
        assert!(!ca.needs_issue(&names));
        assert!(ca.needs_issue(&["family.local".to_owned(), "192.168.1.7".to_owned()]));
        ca.certified_key().unwrap();
        use std::os::unix::fs::PermissionsExt;
        for f in ["ca.key", "server.key"] {
            let mode = std::fs::metadata(dir.path().join("tls").join(f))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "{f}: {mode:o}");
        }
        let issued = ca.issued().unwrap();
        let days = (issued.not_after - crate::clock::now_unix_secs()) / 86_400;
        assert!(days <= 397, "{days}");
    }
}
