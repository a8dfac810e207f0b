//! Listeners and connections: HTTP/1.1 and HTTP/2 (ALPN over rustls), connection cap,
//! header-read and idle timeouts, graceful shutdown, one log line and an `X-Request-Id` per
//! request.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{HeaderValue, Request, StatusCode, header};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};
use tokio_rustls::TlsAcceptor;

use crate::appliance::tls::{CertSlot, LocalCa, certified_key, wanted_names};
use std::path::Path;

use super::auth::{self, AuthError};
use super::request::Ctx;
use super::response::{self, Resp};
use super::router::{self, Endpoint};
use crate::accounts::{Actor, random_token};
use crate::ocs;
use crate::state::App;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
}

pub struct Listeners {
    pub http: Option<TcpListener>,
    pub https: Option<(TcpListener, TlsAcceptor)>,
    /// Set when the certificate comes from the local CA (it is then renewed in place).
    pub local_ca: Option<Arc<CertSlot>>,
}

impl Listeners {
    pub async fn bind(app: &App) -> Result<Listeners, ServerError> {
        let bind = |addr: SocketAddr| async move {
            TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind { addr, source })
        };
        let http = match app.config.http_addr() {
            Some(a) => Some(bind(a).await?),
            None => None,
        };
        let (mut https, mut local_ca) = (None, None);
        if let Some(a) = app.config.https_addr() {
            let server = &app.config.server;
            let key = if server.tls_cert.is_empty() {
                local_ca_key(app).map_err(|e| ServerError::Tls(e.to_string()))?
            } else {
                certified_key(Path::new(&server.tls_cert), Path::new(&server.tls_key))
                    .map_err(|e| ServerError::Tls(e.to_string()))?
            };
            let slot = Arc::new(CertSlot::new(key, app.acme.clone()));
            if server.tls_cert.is_empty() {
                local_ca = Some(slot.clone());
                let _ = app.tls_slot.set(slot.clone());
            }
            let listener = bind(a).await?;
            if let Ok(addr) = listener.local_addr() {
                let _ = app.https_port.set(addr.port());
            }
            https = Some((listener, tls_acceptor(slot)?));
        }
        Ok(Listeners {
            http,
            https,
            local_ca,
        })
    }
}

/// The local CA's current server certificate, issued first if needed.
fn local_ca_key(
    app: &App,
) -> Result<Arc<rustls::sign::CertifiedKey>, crate::appliance::tls::TlsError> {
    let ca = LocalCa::new(&app.data_dir);
    let name = app.accounts.box_name().unwrap_or_else(|_| "hearth".into());
    let names = wanted_names(&name, &app.config.server.tls_extra_names);
    if ca.needs_issue(&names) {
        ca.issue_server(&name, &names)?;
    }
    ca.certified_key()
}

/// Keeps the local-CA certificate current: re-issued before expiry and whenever the box's
/// names or addresses change (a new DHCP lease, the first set-up naming the box).
pub async fn maintain_local_ca(app: Arc<App>, slot: Arc<CertSlot>) {
    let mut loaded = LocalCa::new(&app.data_dir).issued();
    loop {
        tokio::time::sleep(Duration::from_secs(10)).await;
        let app2 = app.clone();
        let seen = loaded.clone();
        let fresh = tokio::task::spawn_blocking(move || {
            let ca = LocalCa::new(&app2.data_dir);
            let name = app2.accounts.box_name().unwrap_or_else(|_| "hearth".into());
            let names = wanted_names(&name, &app2.config.server.tls_extra_names);
            if ca.needs_issue(&names) {
                ca.issue_server(&name, &names)?;
            }
            // Also pick up a certificate issued by someone else (set-up, `hearth tls`).
            let now = ca.issued();
            if now == seen {
                return Ok(None);
            }
            ca.certified_key().map(|k| Some((k, now)))
        })
        .await;
        match fresh {
            Ok(Ok(Some((key, issued)))) => {
                slot.replace(key);
                loaded = issued;
            }
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "certificate renewal failed; the old one stays in use")
            }
            _ => {}
        }
    }
}

fn tls_acceptor(slot: Arc<CertSlot>) -> Result<TlsAcceptor, ServerError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| ServerError::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(slot);
    // acme-tls/1 last: only an ACME server's validation offers it (alone).
    cfg.alpn_protocols = vec![
        b"h2".to_vec(),
        b"http/1.1".to_vec(),
        crate::appliance::acme::ALPN_ACME.to_vec(),
    ];
    Ok(TlsAcceptor::from(Arc::new(cfg)))
}

/// Serves until `shutdown` flips to true, then lets running requests finish (bounded by
/// `server.shutdown_grace_secs`).
pub async fn serve(app: Arc<App>, listeners: Listeners, mut shutdown: watch::Receiver<bool>) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(Semaphore::new(app.config.limits.max_connections));
    let (http, https) = (listeners.http, listeners.https);
    loop {
        let accepted = tokio::select! {
            _ = shutdown.changed() => break,
            r = accept(http.as_ref()) => r.map(|(s, p)| (s, p, None)),
            r = accept(https.as_ref().map(|(l, _)| l)) => r.map(|(s, p)| (s, p, https.as_ref().map(|(_, a)| a.clone()))),
        };
        let (stream, peer, tls) = match accepted {
            Ok(x) => x,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(permit) = slots.clone().acquire_owned().await else {
            break;
        };
        let app = app.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let _permit = permit;
            let _ = stream.set_nodelay(true);
            let limits = &app.config.limits;
            let mut builder = auto::Builder::new(TokioExecutor::new());
            builder
                .http1()
                .timer(TokioTimer::new())
                .header_read_timeout(Duration::from_secs(limits.header_read_timeout_secs))
                .max_buf_size(limits.max_header_bytes)
                .keep_alive(true);
            builder
                .http2()
                .timer(TokioTimer::new())
                .max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX))
                .keep_alive_interval(Some(Duration::from_secs(limits.idle_timeout_secs)))
                .keep_alive_timeout(Duration::from_secs(20));
            let is_tls = tls.is_some();
            let svc_app = app.clone();
            let svc = service_fn(move |req| {
                let app = svc_app.clone();
                async move { Ok::<_, Infallible>(handle(app, peer.ip(), is_tls, req).await) }
            });
            let idle = Duration::from_secs(limits.idle_timeout_secs);
            match tls {
                Some(acceptor) => {
                    let hs = Duration::from_secs(limits.header_read_timeout_secs);
                    let Ok(Ok(tls_stream)) =
                        tokio::time::timeout(hs, acceptor.accept(stream)).await
                    else {
                        return;
                    };
                    // A TLS-ALPN-01 validation ends with the handshake (RFC 8737).
                    if tls_stream.get_ref().1.alpn_protocol()
                        == Some(crate::appliance::acme::ALPN_ACME)
                    {
                        tracing::info!(%peer, "answered a TLS-ALPN-01 validation");
                        let mut s = tls_stream;
                        let _ = tokio::io::AsyncWriteExt::shutdown(&mut s).await;
                        return;
                    }
                    let io = IdleIo::new(tls_stream, idle);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
                None => {
                    let io = IdleIo::new(stream, idle);
                    let conn = builder.serve_connection_with_upgrades(TokioIo::new(io), svc);
                    let _ = watcher.watch(conn.into_owned()).await;
                }
            }
        });
    }
    drop(http);
    drop(https);
    let grace = Duration::from_secs(app.config.server.shutdown_grace_secs);
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("all connections closed"),
        () = tokio::time::sleep(grace) => tracing::warn!("shutdown grace period over; closing remaining connections"),
    }
}

async fn accept(l: Option<&TcpListener>) -> std::io::Result<(TcpStream, SocketAddr)> {
    match l {
        Some(l) => l.accept().await,
        None => std::future::pending().await,
    }
}

mod idle;
mod logged;
use idle::IdleIo;

/// One request: decode the path, route, authenticate, dispatch, and log one line.
async fn handle(app: Arc<App>, peer: IpAddr, https: bool, mut req: Request<Incoming>) -> Resp {
    // HTTP/2 carries the host as the `:authority` of the URI, not as a Host header: give every
    // handler (base URLs, profiles, redirects) the same view under both protocols.
    if !req.headers().contains_key(header::HOST)
        && let Some(v) = req
            .uri()
            .authority()
            .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
    {
        req.headers_mut().insert(header::HOST, v);
    }
    let app_json_log = app.config.log.format == "json";
    let started = Instant::now();
    let request_id = random_token(20);
    let method = req.method().clone();
    let raw_path = req.uri().path().to_owned();
    // HSTS only for a name served with the publicly trusted (ACME) certificate: recent desktop
    // clients refuse a self-signed server that once sent it.
    let hsts = https
        && app.tls_slot.get().is_some_and(|slot| {
            req.headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .is_some_and(|h| slot.publicly_trusted(host_only(h)))
        });
    let mut user = String::from("-");
    let mut resp = match percent_encoding::percent_decode_str(&raw_path).decode_utf8() {
        Err(_) => response::plain_error(
            StatusCode::BAD_REQUEST,
            "The path is not valid UTF-8.",
            false,
        ),
        Ok(path) if path.contains('\0') => response::plain_error(
            StatusCode::BAD_REQUEST,
            "The path contains a NUL character.",
            false,
        ),
        Ok(path) => {
            let path = path.into_owned();
            dispatch(app, peer, https, req, path, &mut user).await
        }
    };
    let has_body = !http_body::Body::is_end_stream(resp.body());
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&request_id) {
        h.insert("x-request-id", v);
    }
    // Never let a browser guess a type for content we send (uploaded files above all); an
    // answer without a body has nothing to guess. (Referrer-Policy goes with HTML pages only,
    // `response::html`: nothing else has links.)
    if has_body {
        h.insert(
            "x-content-type-options",
            HeaderValue::from_static("nosniff"),
        );
    }
    if hsts {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            // A week, not a year: should the public name ever lose its certificate (ACME
            // turned off), browsers recover soon.
            HeaderValue::from_static("max-age=604800"),
        );
    }
    let line = logged::RequestLine {
        id: request_id,
        peer,
        user,
        method,
        path: redact_path(&raw_path),
        status: resp.status().as_u16(),
        started,
        json: app_json_log,
    };
    resp.map(|b| logged::LoggedBody::new(b, line).boxed_unsync())
}

/// "name" from "name:port" or "[v6]:port".
fn host_only(h: &str) -> &str {
    match h.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.contains(':') => {
            name
        }
        _ => h,
    }
}

/// Login-flow tokens in paths are secrets: keep them out of logs.
fn redact_path(p: &str) -> String {
    match p.find("/login/v2/flow/") {
        Some(i) => format!("{}/login/v2/flow/***", &p[..i]),
        None => p.to_owned(),
    }
}

async fn dispatch(
    app: Arc<App>,
    peer: IpAddr,
    https: bool,
    req: Request<Incoming>,
    path: String,
    user: &mut String,
) -> Resp {
    // The box's own supervisor checks `/health` over loopback HTTP (image/init): answered here.
    // ACME HTTP-01: answered on either listener, before any redirect or authentication.
    if let Some(token) = path.strip_prefix("/.well-known/acme-challenge/") {
        return match app.acme.http_answer(token) {
            Some(answer) => response::with(StatusCode::OK, "application/octet-stream", answer),
            None => response::plain_error(StatusCode::NOT_FOUND, "No such challenge.", false),
        };
    }
    let local_health = path == "/health" && peer.is_loopback();
    if !https
        && !local_health
        && let Some(r) = https_redirect(&app, &req, &path)
    {
        return r;
    }
    let (parts, body) = req.into_parts();
    let endpoint = router::route(&parts.method, &path);
    let ocs_version = endpoint.ocs_version();
    let wants_json = ocs::wants_json(&parts.headers, parts.uri.query().unwrap_or(""));
    let actor = match auth::resolve(
        &app,
        &parts.headers,
        &parts.method,
        peer,
        endpoint.csrf_by_header(),
    )
    .await
    {
        Ok(a) => a,
        Err(AuthError::Wrong)
            if !endpoint.needs_user() && !matches!(endpoint, Endpoint::LoginFlowV2Start) =>
        {
            Actor::Anonymous
        }
        Err(e) => return auth_failure(&e, ocs_version, wants_json, &parts.headers),
    };
    *user = auth::principal_name(&actor).to_owned();
    if endpoint.needs_user() && actor.principal().is_none() {
        return auth_failure(&AuthError::Wrong, ocs_version, wants_json, &parts.headers);
    }
    if !endpoint.requires().met_by(&actor) {
        // Signed in, but not an administrator: only pages require that of the whole endpoint.
        return crate::pages::not_admin(&endpoint);
    }
    let ctx = Ctx {
        app,
        method: parts.method,
        path,
        query: parts.uri.query().unwrap_or("").to_owned(),
        headers: parts.headers,
        peer,
        https,
        actor,
        body: Some(body),
    };
    if let Endpoint::Dav(t) | Endpoint::DavOptions(t) = endpoint {
        return crate::dav::handle(ctx, t).await;
    }
    if ocs_version.is_some() {
        ocs::handle(ctx, endpoint).await
    } else {
        crate::pages::handle(ctx, endpoint).await
    }
}

fn auth_failure(
    e: &AuthError,
    ocs: Option<router::OcsVersion>,
    wants_json: bool,
    headers: &http::HeaderMap,
) -> Resp {
    let mut r = match (e, ocs) {
        (AuthError::Malformed, _) => {
            response::plain_error(StatusCode::BAD_REQUEST, &e.to_string(), wants_json)
        }
        (AuthError::Throttled { retry_after_secs }, _) => {
            let mut r =
                response::plain_error(StatusCode::TOO_MANY_REQUESTS, &e.to_string(), wants_json);
            response::set_header(&mut r, header::RETRY_AFTER, &retry_after_secs.to_string());
            r
        }
        (AuthError::Csrf, _) => {
            response::plain_error(StatusCode::PRECONDITION_FAILED, "CSRF check failed", true)
        }
        (AuthError::Internal, _) => response::plain_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "Internal error",
            wants_json,
        ),
        (AuthError::Wrong, Some(v)) => ocs::unauthorized(v, wants_json),
        (AuthError::Wrong, None) => response::plain_error(
            StatusCode::UNAUTHORIZED,
            "Wrong login or password.",
            wants_json,
        ),
    };
    // Browsers' own XHRs do not want a password dialog (Nextcloud does the same).
    let xhr = headers
        .get("x-requested-with")
        .is_some_and(|v| v == "XMLHttpRequest");
    if r.status() == StatusCode::UNAUTHORIZED && !xhr {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"Hearth\", charset=\"UTF-8\""),
        );
    }
    r
}

/// Once the box is set up and serves HTTPS, plain HTTP only redirects there, except for what
/// must stay reachable without trusting the certificate yet: the CA download and ACME
/// challenges. (No HSTS is ever sent for the local CA: recent desktop clients refuse a
/// self-signed server that sent it.)
fn https_redirect(app: &App, req: &Request<Incoming>, path: &str) -> Option<Resp> {
    let port = *app.https_port.get()?;
    if path == "/hearth-ca.crt"
        || path == "/hearth.mobileconfig"
        || path.starts_with("/.well-known/acme-challenge/")
        || !app.accounts.is_installed().unwrap_or(false)
    {
        return None;
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| super::request::valid_host(h))?;
    // Drop a ":port" (but not the colons inside an IPv6 literal such as "[::1]").
    let bare = match host.rsplit_once(':') {
        Some((h, p))
            if p.chars().all(|c| c.is_ascii_digit())
                && (!host.starts_with('[') || h.ends_with(']')) =>
        {
            h
        }
        _ => host,
    };
    let authority = if port == 443 {
        bare.to_owned()
    } else {
        format!("{bare}:{port}")
    };
    let pq = req.uri().path_and_query().map_or("/", |p| p.as_str());
    Some(response::redirect(
        StatusCode::PERMANENT_REDIRECT,
        &format!("https://{authority}{pq}"),
    ))
}
