//! The one authentication step: turns the request's credentials into an [`Actor`].

use std::net::IpAddr;

use base64::Engine;
use http::{HeaderMap, Method, header};

use super::request::cookie;
use crate::accounts::{AccountsError, Actor, Principal};
use crate::state::App;

pub const SESSION_COOKIE: &str = "hearth_session";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the Authorization header is malformed")]
    Malformed,
    #[error("wrong login or password")]
    Wrong,
    #[error("too many failed logins from this address; try again later")]
    Throttled { retry_after_secs: u64 },
    #[error("CSRF check failed")]
    Csrf,
    #[error("internal error")]
    Internal,
}

/// Splits `Basic base64(login:secret)`; `Ok(None)` when there is no Basic header.
pub fn basic_credentials(headers: &HeaderMap) -> Result<Option<(String, String)>, AuthError> {
    let Some(v) = headers.get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let v = v.to_str().map_err(|_| AuthError::Malformed)?;
    let (scheme, rest) = v.trim().split_once(' ').ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("basic") {
        // Bearer tokens (OAuth) arrive with a later issue; until then they cannot authenticate.
        return Err(AuthError::Wrong);
    }
    let raw = base64::engine::general_purpose::STANDARD
        .decode(rest.trim())
        .map_err(|_| AuthError::Malformed)?;
    let text = String::from_utf8(raw).map_err(|_| AuthError::Malformed)?;
    let (login, secret) = text.split_once(':').ok_or(AuthError::Malformed)?;
    if login.is_empty() || login.len() > 256 || secret.len() > 1024 {
        return Err(AuthError::Malformed);
    }
    Ok(Some((login.to_owned(), secret.to_owned())))
}

/// Resolves the actor: Basic credentials first, then the session cookie, else anonymous.
/// Session-authenticated state changes on OCS need `OCS-APIRequest: true` or the CSRF token.
pub async fn resolve(
    app: &App,
    headers: &HeaderMap,
    method: &Method,
    ip: IpAddr,
    csrf_by_header: bool,
) -> Result<Actor, AuthError> {
    if let Some((login, secret)) = basic_credentials(headers)? {
        return match app.accounts.authenticate(&login, &secret, ip).await {
            Ok(p) => Ok(Actor::User(p)),
            Err(AccountsError::Throttled { retry_after }) => Err(AuthError::Throttled {
                retry_after_secs: retry_after.as_secs(),
            }),
            Err(
                AccountsError::WrongCredentials
                | AccountsError::Disabled
                | AccountsError::NoSuchUser,
            ) => Err(AuthError::Wrong),
            Err(e) => {
                tracing::error!(error = %e, "authentication failed internally");
                Err(AuthError::Internal)
            }
        };
    }
    if let Some(c) = cookie(headers, SESSION_COOKIE) {
        match app.accounts.session(&c) {
            Ok(Some((p, s))) => {
                let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
                if csrf_by_header && !safe {
                    let api = headers
                        .get("ocs-apirequest")
                        .and_then(|v| v.to_str().ok())
                        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
                    let token = headers.get("requesttoken").and_then(|v| v.to_str().ok());
                    if !api && token != Some(s.csrf_token.as_str()) {
                        return Err(AuthError::Csrf);
                    }
                }
                return Ok(Actor::User(p));
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, "session lookup failed");
                return Err(AuthError::Internal);
            }
        }
    }
    Ok(Actor::Anonymous)
}

pub fn principal_name(actor: &Actor) -> &str {
    actor
        .principal()
        .map_or("-", |p: &Principal| p.uid.as_str())
}
