//! A publicly trusted certificate through ACME (Let's Encrypt or any RFC 8555 directory), for
//! a box reachable under a public name. The local CA keeps serving `NAME.local` and the box's
//! addresses; the ACME certificate is served to clients asking for one of its names (SNI).
//!
//! Challenges: HTTP-01 (`/.well-known/acme-challenge/TOKEN` on the plain-HTTP listener, which
//! never redirects that path) and TLS-ALPN-01 (a self-signed certificate with the
//! `acmeIdentifier` extension, served to a client offering only `acme-tls/1`; the connection
//! ends after the handshake). Protocol work is instant-acme's, over our own HTTP client
//! (`http.rs`: hickory, never libc's resolver).
//!
//! Renewal: when less than a third of the certificate's lifetime is left (30 days of Let's
//! Encrypt's 90), checked at least hourly. A failed attempt keeps the old certificate in
//! service, records why (`DATA/tls/acme/state.json`, shown on the system page and logged) and
//! is retried with a doubling delay (from `acme.retry_secs`, at most 6 hours).
//! Files (mode 0600): `DATA/tls/acme/{account.json,current.pem,state.json}`.

mod dns;
mod http;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use instant_acme::{
    Account, AccountCredentials, AuthorizationStatus, ChallengeType, Identifier, NewAccount,
    NewOrder, OrderStatus, RetryPolicy,
};
use rustls::sign::CertifiedKey;
use serde::{Deserialize, Serialize};

use crate::config::AcmeConfig;

pub const ALPN_ACME: &[u8] = b"acme-tls/1";
/// The served certificate chain followed by its key.
const CURRENT: &str = "current.pem";

#[derive(Debug, thiserror::Error)]
pub enum AcmeError {
    #[error("{0}")]
    Settings(String),
    #[error("the ACME server: {0}")]
    Protocol(#[from] instant_acme::Error),
    #[error("the challenge for {name} failed: {why}")]
    Challenge { name: String, why: String },
    #[error("the order ended as {0:?}")]
    Order(OrderStatus),
    #[error("{0}")]
    Files(String),
}

/// What the ACME server must prove, held while an order runs.
#[derive(Default)]
pub struct Challenges {
    /// HTTP-01: token → key authorization.
    http: Mutex<HashMap<String, String>>,
    /// TLS-ALPN-01: name → validation certificate.
    alpn: Mutex<HashMap<String, Arc<CertifiedKey>>>,
    /// Wakes the renewal loop (settings changed, "renew now").
    kick: tokio::sync::Notify,
    force: std::sync::atomic::AtomicBool,
}

impl Challenges {
    /// Asks for a new certificate now (system page), even if the current one is fresh.
    pub fn renew_now(&self) {
        self.force.store(true, std::sync::atomic::Ordering::SeqCst);
        self.kick.notify_one();
    }
    /// Settings changed (or were turned off): look again at once.
    pub fn wake(&self) {
        self.renew_now();
    }
    pub fn http_answer(&self, token: &str) -> Option<String> {
        self.http.lock().ok()?.get(token).cloned()
    }
    pub fn alpn_cert(&self, name: &str) -> Option<Arc<CertifiedKey>> {
        self.alpn.lock().ok()?.get(name).cloned()
    }
    fn clear(&self) {
        if let Ok(mut m) = self.http.lock() {
            m.clear();
        }
        if let Ok(mut m) = self.alpn.lock() {
            m.clear();
        }
    }
}

/// A certificate obtained through ACME, as served.
#[derive(Clone)]
pub struct AcmeCert {
    pub names: Vec<String>,
    pub key: Arc<CertifiedKey>,
    pub not_before: u64,
    pub not_after: u64,
    pub serial: String,
}

impl AcmeCert {
    /// Whether the certificate is valid for `host` (a wildcard covers one label).
    pub fn covers(&self, host: &str) -> bool {
        self.names.iter().any(|n| {
            n.eq_ignore_ascii_case(host)
                || n.strip_prefix("*.").is_some_and(|base| {
                    host.split_once('.').is_some_and(|(first, rest)| {
                        !first.is_empty() && rest.eq_ignore_ascii_case(base)
                    })
                })
        })
    }
    /// When renewal is due: a third of the lifetime before expiry.
    fn renew_at(&self) -> u64 {
        let life = self.not_after.saturating_sub(self.not_before);
        self.not_after.saturating_sub(life / 3)
    }
}

/// The last attempt, for the system page and the log.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AcmeState {
    pub last_attempt: u64,
    pub last_success: u64,
    /// Empty when the last attempt succeeded.
    pub last_error: String,
}

/// ACME as set in `[acme]` of the configuration, or else on the system page (meta
/// `acme_settings`); `None` when off.
pub fn settings(store: &crate::store::Store, from_config: &AcmeConfig) -> Option<AcmeConfig> {
    let s = if from_config.directory.is_empty() {
        let raw = store.read(|tx| tx.meta("acme_settings")).ok()??;
        let mut s = serde_json::from_str::<AcmeConfig>(&raw).ok()?;
        // What only the configuration sets: trust for a private ACME server, the retry pace.
        s.ca_file.clone_from(&from_config.ca_file);
        s.retry_secs = from_config.retry_secs;
        s.dns_wait_secs = from_config.dns_wait_secs;
        s
    } else {
        from_config.clone()
    };
    (!s.directory.is_empty() && !s.domains.is_empty()).then_some(s)
}

pub fn save_settings(
    store: &crate::store::Store,
    s: &AcmeConfig,
) -> Result<(), crate::store::StoreError> {
    let raw = serde_json::to_string(s).unwrap_or_default();
    store.write(|tx| tx.set_meta("acme_settings", &raw))
}

/// Turns ACME off (the settings made on the system page; `[acme]` in the configuration stays).
pub fn clear_settings(store: &crate::store::Store) -> Result<(), crate::store::StoreError> {
    store.write(|tx| tx.set_meta("acme_settings", ""))
}

/// Checks what a person typed; returns the settings with names normalised.
pub fn validate(mut s: AcmeConfig) -> Result<AcmeConfig, String> {
    s.directory = directory_url(s.directory.trim()).to_owned();
    if !s.directory.starts_with("https://") {
        return Err("The ACME directory must be an https:// address.".into());
    }
    let mut names = Vec::new();
    for n in &s.domains {
        let n = n.trim().trim_end_matches('.').to_ascii_lowercase();
        if n.is_empty() {
            continue;
        }
        let label_ok = |l: &str| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        };
        // A wildcard ("*.example.org") can only be proven through DNS.
        let bare = match n.strip_prefix("*.") {
            Some(rest) if s.challenge == "dns-01" => rest,
            _ => n.as_str(),
        };
        // (An address such as 1.2.3.4 is not a name: its last label has no letter.)
        let tld_ok = bare
            .rsplit('.')
            .next()
            .is_some_and(|t| t.bytes().any(|b| b.is_ascii_alphabetic()));
        if bare.len() > 253
            || !tld_ok
            || !bare.contains('.')
            || !bare.split('.').all(label_ok)
            || bare.ends_with(".local")
        {
            return Err(format!(
                "{n:?} is not a public name (like family.example.org)."
            ));
        }
        if !names.contains(&n) {
            names.push(n);
        }
    }
    if names.is_empty() {
        return Err("Enter the public name the certificate is for.".into());
    }
    s.domains = names;
    match s.challenge.as_str() {
        "http-01" | "tls-alpn-01" => {}
        "dns-01" => {
            if s.dns_server.trim().is_empty() || s.dns_key.trim().is_empty() {
                return Err(
                    "DNS-01 needs the DNS server that takes updates and its TSIG key.".into(),
                );
            }
            dns::DnsUpdater::new(&s.dns_server, &s.dns_key).map_err(|e| format!("{e}."))?;
        }
        _ => return Err("The challenge must be http-01, tls-alpn-01 or dns-01.".into()),
    }
    Ok(s)
}

/// "letsencrypt" and "letsencrypt-staging" name Let's Encrypt's directories.
pub fn directory_url(d: &str) -> &str {
    match d {
        "letsencrypt" => "https://acme-v02.api.letsencrypt.org/directory",
        "letsencrypt-staging" => "https://acme-staging-v02.api.letsencrypt.org/directory",
        other => other,
    }
}

fn dir(data: &Path) -> PathBuf {
    data.join("tls").join("acme")
}

fn now() -> u64 {
    crate::clock::now_unix_secs()
}

pub fn state(data: &Path) -> AcmeState {
    std::fs::read_to_string(dir(data).join("state.json"))
        .ok()
        .and_then(|t| serde_json::from_str(&t).ok())
        .unwrap_or_default()
}

fn save_state(data: &Path, st: &AcmeState) {
    let _ = std::fs::create_dir_all(dir(data));
    let _ = crate::appliance::tls::write_private(
        &dir(data).join("state.json"),
        &serde_json::to_string(st).unwrap_or_default(),
    );
}

/// The certificate on disk, if any and readable.
pub fn load(data: &Path) -> Option<AcmeCert> {
    let path = dir(data).join(CURRENT);
    let pem = std::fs::read(&path).ok()?;
    let key = crate::appliance::tls::certified_key(&path, &path).ok()?;
    let (_, first) = x509_parser::pem::parse_x509_pem(&pem).ok()?;
    let cert = first.parse_x509().ok()?;
    let validity = cert.validity();
    let names = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .map(|san| {
            san.value
                .general_names
                .iter()
                .filter_map(|g| match g {
                    x509_parser::extensions::GeneralName::DNSName(n) => {
                        Some(n.to_ascii_lowercase())
                    }
                    _ => None,
                })
                .collect()
        })
        .unwrap_or_default();
    Some(AcmeCert {
        names,
        key,
        not_before: u64::try_from(validity.not_before.timestamp()).unwrap_or(0),
        not_after: u64::try_from(validity.not_after.timestamp()).unwrap_or(0),
        serial: cert.raw_serial_as_string(),
    })
}

async fn account(s: &AcmeConfig, data: &Path) -> Result<Account, AcmeError> {
    let roots = if s.ca_file.is_empty() {
        None
    } else {
        Some(std::fs::read_to_string(&s.ca_file).map_err(|e| {
            AcmeError::Settings(format!("cannot read the ACME CA file {}: {e}", s.ca_file))
        })?)
    };
    let client = || {
        http::AcmeHttp::new(roots.as_deref())
            .map(|c| Account::builder_with_http(Box::new(c)))
            .map_err(AcmeError::Settings)
    };
    let path = dir(data).join("account.json");
    // The account belongs to one directory: another one (staging → production) gets its own.
    #[derive(Serialize, Deserialize)]
    struct Saved {
        directory: String,
        credentials: AccountCredentials,
    }
    if let Some(saved) = std::fs::read_to_string(&path)
        .ok()
        .and_then(|t| serde_json::from_str::<Saved>(&t).ok())
        .filter(|sv| sv.directory == s.directory)
    {
        return Ok(client()?.from_credentials(saved.credentials).await?);
    }
    let contact = if s.email.trim().is_empty() {
        Vec::new()
    } else {
        vec![format!("mailto:{}", s.email.trim())]
    };
    let contact: Vec<&str> = contact.iter().map(String::as_str).collect();
    let (acc, credentials) = client()?
        .create(
            &NewAccount {
                contact: &contact,
                terms_of_service_agreed: true,
                only_return_existing: false,
            },
            s.directory.clone(),
            None,
        )
        .await?;
    let saved = Saved {
        directory: s.directory.clone(),
        credentials,
    };
    std::fs::create_dir_all(dir(data)).map_err(|e| AcmeError::Files(e.to_string()))?;
    crate::appliance::tls::write_private(&path, &serde_json::to_string(&saved).unwrap_or_default())
        .map_err(|e| AcmeError::Files(e.to_string()))?;
    tracing::info!(directory = %s.directory, "created an ACME account");
    Ok(acc)
}

/// The TLS-ALPN-01 validation certificate for `name` (RFC 8737).
fn alpn_cert(name: &str, digest: &[u8]) -> Result<Arc<CertifiedKey>, AcmeError> {
    let fail = |e: rcgen::Error| AcmeError::Files(format!("validation certificate: {e}"));
    let mut p = rcgen::CertificateParams::new(vec![name.to_owned()]).map_err(fail)?;
    p.custom_extensions = vec![rcgen::CustomExtension::new_acme_identifier(digest)];
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).map_err(fail)?;
    let cert = p.self_signed(&key).map_err(fail)?;
    let der = rustls::pki_types::PrivateKeyDer::try_from(key.serialize_der())
        .map_err(|e| AcmeError::Files(e.to_string()))?;
    let signing = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| AcmeError::Files(e.to_string()))?;
    Ok(Arc::new(CertifiedKey::new(
        vec![cert.der().clone()],
        signing,
    )))
}

/// Runs one order for `s.domains` and installs the result in `DATA/tls/acme/`.
pub async fn obtain(
    s: &AcmeConfig,
    data: &Path,
    challenges: &Challenges,
) -> Result<AcmeCert, AcmeError> {
    let mut records = Vec::new();
    let result = obtain_inner(s, data, challenges, &mut records).await;
    challenges.clear();
    // DNS-01 TXT records go once the order is over, whatever its outcome.
    if let Some((updater, _)) = dns_updater(s) {
        for (fqdn, value, zone) in records {
            if let Err(e) = updater.remove_txt(&fqdn, &value, &zone).await {
                tracing::warn!(error = %e, name = %fqdn, "could not remove the DNS-01 record");
            }
        }
    }
    result
}

fn dns_updater(s: &AcmeConfig) -> Option<(dns::DnsUpdater, Duration)> {
    (s.challenge == "dns-01")
        .then(|| dns::DnsUpdater::new(&s.dns_server, &s.dns_key).ok())
        .flatten()
        .map(|u| (u, Duration::from_secs(s.dns_wait_secs)))
}

async fn obtain_inner(
    s: &AcmeConfig,
    data: &Path,
    challenges: &Challenges,
    records: &mut Vec<(String, String, hickory_proto::rr::Name)>,
) -> Result<AcmeCert, AcmeError> {
    let dns = if s.challenge == "dns-01" {
        Some(dns::DnsUpdater::new(&s.dns_server, &s.dns_key).map_err(AcmeError::Settings)?)
    } else {
        None
    };
    let acc = account(s, data).await?;
    let ids: Vec<Identifier> = s.domains.iter().cloned().map(Identifier::Dns).collect();
    let mut order = acc.new_order(&NewOrder::new(&ids)).await?;
    let kind = match s.challenge.as_str() {
        "tls-alpn-01" => ChallengeType::TlsAlpn01,
        "dns-01" => ChallengeType::Dns01,
        _ => ChallengeType::Http01,
    };
    let mut ready = Vec::new();
    let mut authzs = order.authorizations();
    while let Some(a) = authzs.next().await {
        let mut a = a?;
        match a.status {
            AuthorizationStatus::Pending => {}
            AuthorizationStatus::Valid => continue,
            other => {
                return Err(AcmeError::Challenge {
                    name: a.identifier().to_string(),
                    why: format!("the authorization is {other:?}"),
                });
            }
        }
        let name = a.identifier().to_string();
        let Some(mut ch) = a.challenge(kind.clone()) else {
            return Err(AcmeError::Challenge {
                name,
                why: format!("the server does not offer {}", s.challenge),
            });
        };
        let ka = ch.key_authorization();
        match (&kind, &dns) {
            (ChallengeType::Dns01, Some(updater)) => {
                let fqdn = format!("_acme-challenge.{}", name.trim_start_matches("*."));
                let value = ka.dns_value();
                let zone =
                    updater
                        .add_txt(&fqdn, &value)
                        .await
                        .map_err(|why| AcmeError::Challenge {
                            name: name.clone(),
                            why,
                        })?;
                records.push((fqdn, value, zone));
            }
            (ChallengeType::TlsAlpn01, _) => {
                let cert = alpn_cert(&name, ka.digest().as_ref())?;
                if let Ok(mut m) = challenges.alpn.lock() {
                    m.insert(name.to_ascii_lowercase(), cert);
                }
            }
            _ => {
                if let Ok(mut m) = challenges.http.lock() {
                    m.insert(ch.token.clone(), ka.as_str().to_owned());
                }
            }
        }
        ready.push(ch.url.clone());
        tracing::info!(name = %name, challenge = %s.challenge, "ACME challenge ready");
        if dns.is_none() {
            ch.set_ready().await?;
        }
    }
    // DNS-01: every record in place (and given time to spread) before the server looks.
    if dns.is_some() && !ready.is_empty() {
        tokio::time::sleep(Duration::from_secs(s.dns_wait_secs)).await;
        let mut authzs = order.authorizations();
        while let Some(a) = authzs.next().await {
            let mut a = a?;
            if a.status != AuthorizationStatus::Pending {
                continue;
            }
            if let Some(mut ch) = a.challenge(kind.clone())
                && ready.contains(&ch.url)
            {
                ch.set_ready().await?;
            }
        }
    }
    let retry = RetryPolicy::new()
        .initial_delay(Duration::from_millis(500))
        .timeout(Duration::from_secs(90));
    let status = order.poll_ready(&retry).await?;
    if status != OrderStatus::Ready {
        return Err(why_invalid(&mut order, status).await);
    }
    let key_pem = order.finalize().await?;
    let chain = order.poll_certificate(&retry).await?;
    let d = dir(data);
    std::fs::create_dir_all(&d).map_err(|e| AcmeError::Files(e.to_string()))?;
    // Chain and key in one file, replaced by one rename: a crash never pairs a new chain with
    // an old key.
    crate::appliance::tls::write_private(&d.join(CURRENT), &format!("{chain}{key_pem}"))
        .map_err(|e| AcmeError::Files(e.to_string()))?;
    load(data).ok_or_else(|| AcmeError::Files("the new certificate does not load".into()))
}

/// The reason an order failed, from its authorizations' challenge errors.
async fn why_invalid(order: &mut instant_acme::Order, status: OrderStatus) -> AcmeError {
    let mut authzs = order.authorizations();
    while let Some(Ok(a)) = authzs.next().await {
        if a.status == AuthorizationStatus::Valid {
            continue;
        }
        let name = a.identifier().to_string();
        let why = a
            .challenges
            .iter()
            .find_map(|c| c.error.as_ref())
            .map(|p| p.detail.clone().unwrap_or_else(|| format!("{p:?}")))
            .unwrap_or_else(|| format!("the authorization is {:?}", a.status));
        return AcmeError::Challenge { name, why };
    }
    AcmeError::Order(status)
}

/// What the renewal loop works with: the store (settings made on the system page), the
/// configuration's `[acme]`, the data directory (certificate and state files) and the
/// challenges in flight (answered by the listeners).
pub struct AcmeJob {
    pub store: Arc<crate::store::Store>,
    pub config: AcmeConfig,
    pub data_dir: PathBuf,
    pub challenges: Arc<Challenges>,
}

/// Keeps the ACME certificate current and served (`slot`); runs for the life of the server.
pub async fn maintain(job: AcmeJob, slot: Arc<crate::appliance::tls::CertSlot>) {
    let mut backoff = 0u64;
    let mut next_try = 0u64;
    loop {
        let wait = match settings(&job.store, &job.config) {
            None => {
                slot.set_acme(None);
                Duration::from_secs(3600)
            }
            Some(s) => {
                let on_disk = load(&job.data_dir)
                    .filter(|c| s.domains.iter().all(|d| c.covers(d)) && c.not_after > now());
                slot.set_acme(on_disk.clone());
                let due = on_disk.as_ref().map_or(0, AcmeCert::renew_at);
                let t = now();
                let forced = job
                    .challenges
                    .force
                    .swap(false, std::sync::atomic::Ordering::SeqCst);
                if forced || (t >= due && t >= next_try) {
                    let mut st = state(&job.data_dir);
                    st.last_attempt = t;
                    match obtain(&s, &job.data_dir, &job.challenges).await {
                        Ok(c) => {
                            tracing::info!(names = ?c.names, serial = %c.serial, "ACME certificate obtained");
                            st.last_success = now();
                            st.last_error.clear();
                            backoff = 0;
                            next_try = 0;
                            slot.set_acme(Some(c));
                        }
                        Err(e) => {
                            let kept = if on_disk.is_some() {
                                "; the current certificate stays in use"
                            } else {
                                ""
                            };
                            tracing::warn!(error = %e, "ACME certificate not obtained{kept}");
                            st.last_error = e.to_string();
                            backoff = if backoff == 0 {
                                job.config.retry_secs.max(1)
                            } else {
                                (backoff * 2).min(6 * 3600)
                            };
                            next_try = now() + backoff;
                        }
                    }
                    save_state(&job.data_dir, &st);
                    continue;
                }
                let until = due.max(next_try).saturating_sub(t).clamp(1, 3600);
                Duration::from_secs(until)
            }
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = job.challenges.kick.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(domains: &[&str], challenge: &str) -> AcmeConfig {
        AcmeConfig {
            directory: "letsencrypt".into(),
            domains: domains.iter().map(|d| (*d).to_owned()).collect(),
            challenge: challenge.into(),
            ..AcmeConfig::default()
        }
    }

    #[test]
    fn settings_are_checked_and_normalised() {
        let s = validate(typed(
            &["Family.Example.org.", "", "family.example.org"],
            "http-01",
        ))
        .unwrap();
        assert_eq!(s.domains, vec!["family.example.org"]);
        assert_eq!(
            s.directory,
            "https://acme-v02.api.letsencrypt.org/directory"
        );
        for bad in [
            "hearth.local",
            "no_underscore.example",
            "localhost",
            "-x.example.org",
            "192.168.1.10",
            "*.example.org",
        ] {
            assert!(validate(typed(&[bad], "http-01")).is_err(), "{bad}");
        }
        assert!(validate(typed(&[], "http-01")).is_err());
        assert!(validate(typed(&["a.example.org"], "dns-01")).is_err());
        let mut plain = typed(&["a.example.org"], "tls-alpn-01");
        plain.directory = "http://acme.example.org/dir".into();
        assert!(validate(plain).is_err(), "the directory must be https");
    }

    #[test]
    fn validation_certificate_carries_the_acme_identifier() {
        let digest = [7u8; 32];
        let key = alpn_cert("box.example.org", &digest).unwrap();
        let der = key.cert[0].as_ref();
        let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
        let ext = cert
            .extensions()
            .iter()
            .find(|e| e.oid.to_id_string() == "1.3.6.1.5.5.7.1.31")
            .expect("acmeIdentifier extension");
        assert!(ext.critical);
        // An OCTET STRING holding the SHA-256 digest.
        assert_eq!(&ext.value[2..], &digest);
    }
}
