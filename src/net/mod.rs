//! Outgoing HTTP(S) for the few things that fetch from the outside (calendar subscriptions):
//! names resolved with hickory (pure Rust, never libc's resolver in the static binary), TLS
//! with rustls and the webpki roots, HTTP/1.1 through hyper, redirects followed a few times,
//! size and time bounded.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::TokioIo;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("{0:?} is not an http(s) or webcal URL")]
    BadUrl(String),
    #[error("cannot find {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("cannot connect to {0}: {1}")]
    Connect(String, String),
    #[error("the server answered {0}")]
    Status(u16),
    #[error("the answer is larger than {0} bytes")]
    TooLarge(usize),
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("too many redirects")]
    Redirects,
    #[error("{0}")]
    Http(String),
}

struct Url {
    https: bool,
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Url, FetchError> {
    let bad = || FetchError::BadUrl(url.to_owned());
    let (scheme, rest) = url.split_once("://").ok_or_else(bad)?;
    let https = match scheme.to_ascii_lowercase().as_str() {
        "https" | "webcal" | "webcals" => true,
        "http" => false,
        _ => return Err(bad()),
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(i) => (&rest[..i], rest[i..].to_owned()),
        None => (rest, "/".to_owned()),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path
    };
    if authority.contains('@') || authority.is_empty() {
        return Err(bad());
    }
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || authority.starts_with('[') => match p.parse::<u16>() {
            Ok(p) => (h.trim_matches(['[', ']']).to_owned(), p),
            Err(_) => (
                authority.trim_matches(['[', ']']).to_owned(),
                if https { 443 } else { 80 },
            ),
        },
        _ => (
            authority.trim_matches(['[', ']']).to_owned(),
            if https { 443 } else { 80 },
        ),
    };
    Ok(Url {
        https,
        host,
        port,
        path,
    })
}

/// A host name (or literal address) to one IP address, with hickory: the static binary must
/// never call libc's resolver. Also used for the SMTP server (`notify::mail`).
pub async fn resolve(host: &str) -> Result<IpAddr, FetchError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ip);
    }
    let fail = |reason: String| FetchError::Resolve {
        host: host.to_owned(),
        reason,
    };
    let resolver = hickory_resolver::TokioResolver::builder_tokio()
        .map_err(|e| fail(e.to_string()))?
        .build()
        .map_err(|e| fail(e.to_string()))?;
    let ips = resolver
        .lookup_ip(host)
        .await
        .map_err(|e| fail(e.to_string()))?;
    ips.iter().next().ok_or_else(|| fail("no address".into()))
}

async fn get_once(url: &Url, limit: usize) -> Result<(u16, Option<String>, Bytes), FetchError> {
    let ip = resolve(&url.host).await?;
    let addr = std::net::SocketAddr::new(ip, url.port);
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| FetchError::Connect(url.host.clone(), e.to_string()))?;
    let host_header = if (url.https && url.port == 443) || (!url.https && url.port == 80) {
        url.host.clone()
    } else {
        format!("{}:{}", url.host, url.port)
    };
    let req = http::Request::get(&url.path)
        .header(http::header::HOST, host_header)
        .header(
            http::header::USER_AGENT,
            concat!("Hearth/", env!("CARGO_PKG_VERSION")),
        )
        .header(http::header::ACCEPT, "text/calendar, */*;q=0.5")
        .body(Empty::<Bytes>::new())
        .map_err(|e| FetchError::Http(e.to_string()))?;
    let resp = if url.https {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| FetchError::Http(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
        let name = rustls::pki_types::ServerName::try_from(url.host.clone())
            .map_err(|_| FetchError::BadUrl(url.host.clone()))?;
        let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
            .map_err(|e| FetchError::Connect(url.host.clone(), e.to_string()))?;
        send(TokioIo::new(tls), req).await?
    } else {
        send(TokioIo::new(tcp), req).await?
    };
    let status = resp.status().as_u16();
    let location = resp
        .headers()
        .get(http::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    if let Some(n) = resp
        .headers()
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok()?.parse::<usize>().ok())
        && n > limit
    {
        return Err(FetchError::TooLarge(limit));
    }
    let body = Limited::new(resp.into_body(), limit)
        .collect()
        .await
        .map_err(|_| FetchError::TooLarge(limit))?
        .to_bytes();
    Ok((status, location, body))
}

/// One HTTP/1.1 exchange on a connected stream (plain or TLS). Also the ACME client's.
pub(crate) async fn send<T, B>(
    io: TokioIo<T>,
    req: http::Request<B>,
) -> Result<http::Response<hyper::body::Incoming>, FetchError>
where
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    B: hyper::body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| FetchError::Http(e.to_string()))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    sender
        .send_request(req)
        .await
        .map_err(|e| FetchError::Http(e.to_string()))
}

/// GETs `url` (following up to 5 redirects), at most `limit` bytes, within `timeout`.
pub async fn get(url: &str, limit: usize, timeout: Duration) -> Result<Bytes, FetchError> {
    let secs = timeout.as_secs();
    tokio::time::timeout(timeout, async {
        let mut current = url.to_owned();
        for _ in 0..6 {
            let u = parse_url(&current)?;
            let (status, location, body) = get_once(&u, limit).await?;
            match (status, location) {
                (200..=299, _) => return Ok(body),
                (301 | 302 | 303 | 307 | 308, Some(loc)) => {
                    current = if loc.contains("://") {
                        loc
                    } else {
                        format!(
                            "{}://{}:{}{}",
                            if u.https { "https" } else { "http" },
                            u.host,
                            u.port,
                            loc
                        )
                    };
                }
                (s, _) => return Err(FetchError::Status(s)),
            }
        }
        Err(FetchError::Redirects)
    })
    .await
    .map_err(|_| FetchError::Timeout(secs))?
}

#[cfg(test)]
mod tests {
    #[test]
    fn urls() {
        let u = super::parse_url("webcal://example.org/cal.ics?x=1").unwrap();
        assert!(u.https && u.host == "example.org" && u.port == 443 && u.path == "/cal.ics?x=1");
        let u = super::parse_url("http://127.0.0.1:8000").unwrap();
        assert!(!u.https && u.port == 8000 && u.path == "/");
        assert!(super::parse_url("ftp://x/y").is_err());
        assert!(super::parse_url("http://user@host/").is_err());
    }
}
