//! The ACME client's HTTP: instant-acme's default client would resolve names with libc (through
//! hyper-util's `GaiResolver`), which the static binary must never do. This one resolves with
//! hickory (`net::resolve`), speaks HTTP/1.1 over rustls, trusts the webpki roots plus an
//! optional PEM file (a private ACME server; pebble in the tests), and bounds time and size.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper_util::rt::TokioIo;
use instant_acme::{BodyWrapper, BytesResponse, Error, HttpClient};

/// ACME answers are small JSON documents and certificate chains.
const MAX_ANSWER: usize = 1 << 20;
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct AcmeHttp {
    tls: Arc<rustls::ClientConfig>,
}

fn other(msg: String) -> Error {
    Error::Other(msg.into())
}

impl AcmeHttp {
    /// `extra_roots`: PEM certificates trusted besides the public roots.
    pub fn new(extra_roots: Option<&str>) -> Result<AcmeHttp, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        if let Some(pem) = extra_roots {
            let mut n = 0;
            for cert in rustls_pemfile::certs(&mut pem.as_bytes()) {
                let cert = cert.map_err(|e| format!("the ACME CA file: {e}"))?;
                roots
                    .add(cert)
                    .map_err(|e| format!("the ACME CA file: {e}"))?;
                n += 1;
            }
            if n == 0 {
                return Err("the ACME CA file holds no certificate".into());
            }
        }
        let tls = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
        Ok(AcmeHttp { tls: Arc::new(tls) })
    }
}

async fn send(
    tls: Arc<rustls::ClientConfig>,
    req: http::Request<BodyWrapper<Bytes>>,
) -> Result<BytesResponse, Error> {
    let uri = req.uri().clone();
    let host = uri
        .host()
        .ok_or_else(|| other(format!("no host in {uri}")))?
        .trim_matches(['[', ']'])
        .to_owned();
    let https = uri.scheme_str() == Some("https");
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let ip = crate::net::resolve(&host)
        .await
        .map_err(|e| other(e.to_string()))?;
    let tcp = tokio::net::TcpStream::connect((ip, port))
        .await
        .map_err(|e| other(format!("cannot connect to {host}:{port}: {e}")))?;
    let (mut parts, body) = req.into_parts();
    let body = body
        .collect()
        .await
        .map_err(|e| other(e.to_string()))?
        .to_bytes();
    parts.uri = uri
        .path_and_query()
        .map_or("/", |p| p.as_str())
        .parse()
        .map_err(|e: http::uri::InvalidUri| other(e.to_string()))?;
    let authority = uri.authority().map_or(host.clone(), |a| a.to_string());
    parts.headers.insert(
        http::header::HOST,
        http::HeaderValue::from_str(&authority).map_err(|e| other(e.to_string()))?,
    );
    parts.headers.insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static(concat!("Hearth/", env!("CARGO_PKG_VERSION"))),
    );
    let req = http::Request::from_parts(parts, Full::new(body));
    let resp = if https {
        let name = rustls::pki_types::ServerName::try_from(host.clone())
            .map_err(|_| other(format!("bad host name {host}")))?;
        let stream = tokio_rustls::TlsConnector::from(tls)
            .connect(name, tcp)
            .await
            .map_err(|e| other(format!("TLS with {host}: {e}")))?;
        crate::net::send(TokioIo::new(stream), req)
            .await
            .map_err(|e| other(e.to_string()))?
    } else {
        crate::net::send(TokioIo::new(tcp), req)
            .await
            .map_err(|e| other(e.to_string()))?
    };
    let (parts, body) = resp.into_parts();
    let body = Limited::new(body, MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| other(format!("reading the ACME server's answer: {e}")))?
        .to_bytes();
    Ok(BytesResponse::from(http::Response::from_parts(
        parts,
        Full::new(body),
    )))
}

impl HttpClient for AcmeHttp {
    fn request(
        &self,
        req: http::Request<BodyWrapper<Bytes>>,
    ) -> Pin<Box<dyn Future<Output = Result<BytesResponse, Error>> + Send>> {
        let tls = self.tls.clone();
        Box::pin(async move {
            tokio::time::timeout(TIMEOUT, send(tls, req))
                .await
                .map_err(|_| other("the ACME server did not answer within 30 s".into()))?
        })
    }
}
