//! DNS-01 through dynamic DNS updates (RFC 2136) signed with a TSIG key (RFC 8945): the
//! standard "dynamic DNS" API of BIND, Knot, PowerDNS and the DNS hosts built on them. With
//! it a box gets a trusted certificate with no port open to the Internet. Messages are built
//! and signed with hickory-proto and sent over UDP; the answer's TSIG is checked before a
//! success is believed.

use std::net::SocketAddr;
use std::time::Duration;

use hickory_proto::op::{Message, ResponseCode, update_message};
use hickory_proto::rr::TSigner;
use hickory_proto::rr::rdata::TXT;
use hickory_proto::rr::rdata::tsig::TsigAlgorithm;
use hickory_proto::rr::{Name, RData, RecordSet, RecordType};

/// Answers to updates are small; one UDP datagram.
const MAX_ANSWER: usize = 4096;
const TRIES: u32 = 3;
const WAIT: Duration = Duration::from_secs(4);

pub struct DnsUpdater {
    /// "host:port" of the primary server (resolved at each update).
    server: String,
    signer: TSigner,
}

/// "hmac-sha256:NAME:BASE64SECRET" (the form `nsupdate -y` takes).
pub fn parse_key(key: &str) -> Result<(TsigAlgorithm, Name, Vec<u8>), String> {
    let bad = |why: &str| {
        format!(
            "the TSIG key {why} (expected ALGORITHM:NAME:SECRET, e.g. hmac-sha256:hearth:c2VjcmV0…)"
        )
    };
    let mut parts = key.trim().splitn(3, ':');
    let (Some(alg), Some(name), Some(secret)) = (parts.next(), parts.next(), parts.next()) else {
        return Err(bad("is incomplete"));
    };
    let algorithm = match alg.to_ascii_lowercase().as_str() {
        "hmac-sha256" => TsigAlgorithm::HmacSha256,
        "hmac-sha384" => TsigAlgorithm::HmacSha384,
        "hmac-sha512" => TsigAlgorithm::HmacSha512,
        _ => return Err(bad("has an algorithm other than hmac-sha256/384/512")),
    };
    let name = Name::from_ascii(name).map_err(|_| bad("has a bad name"))?;
    use base64::Engine as _;
    let secret = base64::engine::general_purpose::STANDARD
        .decode(secret.trim())
        .map_err(|_| bad("secret is not base64"))?;
    if secret.is_empty() {
        return Err(bad("secret is empty"));
    }
    Ok((algorithm, name, secret))
}

/// "host" or "host:port" (port 53 by default; IPv6 literals in brackets).
fn split_server(server: &str) -> Result<(String, u16), String> {
    let s = server.trim();
    if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = rest
            .split_once(']')
            .ok_or_else(|| format!("bad DNS server address {s:?}"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("bad port in {s:?}"))?,
            None => 53,
        };
        return Ok((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Ok((
            h.to_owned(),
            p.parse().map_err(|_| format!("bad port in {s:?}"))?,
        )),
        _ if !s.is_empty() => Ok((s.to_owned(), 53)),
        _ => Err("no DNS server given".into()),
    }
}

fn now() -> u64 {
    crate::clock::now_unix_secs()
}

impl DnsUpdater {
    pub fn new(server: &str, key: &str) -> Result<DnsUpdater, String> {
        split_server(server)?;
        let (algorithm, name, secret) = parse_key(key)?;
        let signer =
            TSigner::new(secret, algorithm, name, 300).map_err(|e| format!("the TSIG key: {e}"))?;
        Ok(DnsUpdater {
            server: server.trim().to_owned(),
            signer,
        })
    }

    async fn address(&self) -> Result<SocketAddr, String> {
        let (host, port) = split_server(&self.server)?;
        let ip = crate::net::resolve(&host)
            .await
            .map_err(|e| e.to_string())?;
        Ok(SocketAddr::new(ip, port))
    }

    /// Sends one signed update; the server's answer code, once its signature checks out.
    async fn exchange(&self, mut msg: Message) -> Result<ResponseCode, String> {
        let mut verifier = msg
            .finalize(&self.signer, now())
            .map_err(|e| format!("signing the update: {e}"))?;
        let bytes = msg.to_vec().map_err(|e| e.to_string())?;
        let addr = self.address().await?;
        let bind: SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = tokio::net::UdpSocket::bind(bind)
            .await
            .map_err(|e| e.to_string())?;
        sock.connect(addr)
            .await
            .map_err(|e| format!("cannot reach the DNS server {addr}: {e}"))?;
        let mut buf = vec![0u8; MAX_ANSWER];
        for _ in 0..TRIES {
            sock.send(&bytes)
                .await
                .map_err(|e| format!("cannot reach the DNS server {addr}: {e}"))?;
            let n = match tokio::time::timeout(WAIT, sock.recv(&mut buf)).await {
                Err(_) => continue,
                Ok(r) => r.map_err(|e| format!("the DNS server {addr}: {e}"))?,
            };
            let answer = &buf[..n];
            let Ok(plain) = Message::from_vec(answer) else {
                continue; // not a DNS message: wait for the real one
            };
            if plain.id != msg.id {
                continue;
            }
            return match verifier {
                Some(ref mut v) => match v.verify(answer) {
                    Ok(resp) => Ok(resp.response_code),
                    // A refused key comes back unsigned (NOTAUTH with a TSIG error); anything
                    // else unsigned is not the server's answer: keep waiting for it.
                    Err(e) if plain.response_code != ResponseCode::NotAuth => {
                        tracing::debug!(error = %e, "unsigned DNS answer ignored");
                        continue;
                    }
                    Err(e) => {
                        tracing::debug!(error = %e, "TSIG check of the DNS answer");
                        Err(format!(
                            "the DNS server {addr} did not accept the TSIG key (it answered \"{}\"): check the key's name and secret",
                            plain.response_code
                        ))
                    }
                },
                None => Ok(plain.response_code),
            };
        }
        Err(format!("the DNS server {addr} did not answer"))
    }

    /// Adds a TXT record `value` at `fqdn`; the zone is found by trying the name's ancestors
    /// (a server answers NOTAUTH or NOTZONE for a zone it does not hold). Returns the zone.
    pub async fn add_txt(&self, fqdn: &str, value: &str) -> Result<Name, String> {
        let name = Name::from_ascii(format!("{}.", fqdn.trim_end_matches('.')))
            .map_err(|e| format!("bad name {fqdn}: {e}"))?;
        // The record's own name first: a zone made just for `_acme-challenge.NAME` (with a key
        // that may update only it) is a common set-up.
        let mut zone = name.clone();
        while !zone.is_root() {
            let msg = update_message::append(txt_set(&name, value, 60), zone.clone(), false, false);
            match self.exchange(msg).await? {
                ResponseCode::NoError => return Ok(zone),
                ResponseCode::NotAuth | ResponseCode::NotZone => zone = zone.base_name(),
                ResponseCode::Refused => {
                    return Err(format!(
                        "the DNS server refused the update for {zone} (is the key allowed to update it?)"
                    ));
                }
                other => return Err(format!("the DNS server answered {other} for {zone}")),
            }
        }
        Err(format!(
            "the DNS server holds no zone for {fqdn} that this key may update"
        ))
    }

    /// Removes what `add_txt` added (best effort: a leftover record is harmless).
    pub async fn remove_txt(&self, fqdn: &str, value: &str, zone: &Name) -> Result<(), String> {
        let name = Name::from_ascii(format!("{}.", fqdn.trim_end_matches('.')))
            .map_err(|e| e.to_string())?;
        let msg = update_message::delete_by_rdata(txt_set(&name, value, 0), zone.clone(), false);
        match self.exchange(msg).await? {
            ResponseCode::NoError => Ok(()),
            other => Err(format!("the DNS server answered {other}")),
        }
    }
}

fn txt_set(name: &Name, value: &str, ttl: u32) -> RecordSet {
    let mut set = RecordSet::with_ttl(name.clone(), RecordType::TXT, ttl);
    set.add_rdata(RData::TXT(TXT::new(vec![value.to_owned()])));
    set
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_and_servers() {
        let (alg, name, secret) = parse_key("hmac-sha256:hearth-acme:c2VjcmV0").unwrap();
        assert_eq!(alg, TsigAlgorithm::HmacSha256);
        assert_eq!(name.to_ascii(), "hearth-acme");
        assert_eq!(secret, b"secret");
        for bad in [
            "",
            "hmac-sha256:x",
            "hmac-md5:x:c2VjcmV0",
            "hmac-sha256:x:***",
        ] {
            assert!(parse_key(bad).is_err(), "{bad}");
        }
        assert_eq!(
            split_server("ns1.example.org").unwrap(),
            ("ns1.example.org".into(), 53)
        );
        assert_eq!(
            split_server("127.0.0.1:5353").unwrap(),
            ("127.0.0.1".into(), 5353)
        );
        assert_eq!(split_server("[::1]:54").unwrap(), ("::1".into(), 54));
        assert_eq!(split_server("::1").unwrap(), ("::1".into(), 53));
        assert!(split_server("").is_err());
    }
}
