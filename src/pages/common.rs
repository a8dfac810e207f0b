//! Server-rendered pages: plain HTML, one small stylesheet, no JavaScript needed.

use http::{StatusCode, header};

use crate::accounts::{AccountsError, Principal};
use crate::error::{Categorized, Category};
use crate::http::auth::SESSION_COOKIE;
use crate::http::{Ctx, Resp, response};
/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            '"' => o.push_str("&quot;"),
            '\'' => o.push_str("&#39;"),
            c => o.push(c),
        }
    }
    o
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:32rem;margin:3rem auto;padding:0 1rem;color:#222}\
h1{color:#b5452b}label{display:block;margin:.8rem 0 .2rem}input{width:100%;padding:.5rem;font-size:1rem;box-sizing:border-box}\
button{margin-top:1rem;padding:.6rem 1.2rem;font-size:1rem;background:#b5452b;color:#fff;border:0;border-radius:4px}\
.err{color:#a00}table{width:100%;border-collapse:collapse}td{padding:.3rem;border-bottom:1px solid #ddd}";

pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
<title>{t} – Hearth</title><style>{STYLE}</style></head><body><h1>{t}</h1>{body}</body></html>",
        t = esc(title)
    )
}

pub fn error_page(status: StatusCode, title: &str, message: &str) -> Resp {
    response::html(
        status,
        page(title, &format!("<p class=\"err\">{}</p>", esc(message))),
    )
}

/// A form's error line, or nothing.
pub fn alert(msg: Option<&str>) -> String {
    msg.map(|m| format!("<p class=\"err\" role=\"alert\">{}</p>", esc(m)))
        .unwrap_or_default()
}

/// The signed-in user of a browser session, with its CSRF token.
pub fn session(ctx: &Ctx) -> Option<(Principal, String)> {
    let c = ctx.cookie(SESSION_COOKIE)?;
    ctx.app
        .accounts
        .session(&c)
        .ok()
        .flatten()
        .map(|(p, s)| (p, s.csrf_token))
}

pub fn cookie_attrs(ctx: &Ctx) -> &'static str {
    if ctx.https {
        "; HttpOnly; SameSite=Lax; Secure"
    } else {
        "; HttpOnly; SameSite=Lax"
    }
}

/// Only local paths may be redirect targets (no open redirects).
pub fn safe_redirect(target: Option<&str>) -> String {
    match target {
        Some(t) if t.starts_with('/') && !t.starts_with("//") && !t.contains('\\') => t.to_owned(),
        _ => "/".to_owned(),
    }
}

pub fn login_form(ctx: &Ctx, redirect: &str, error: Option<&str>) -> Resp {
    let err = error
        .map(|e| format!("<p class=\"err\" role=\"alert\">{}</p>", esc(e)))
        .unwrap_or_default();
    let name = ctx
        .app
        .accounts
        .box_name()
        .unwrap_or_else(|_| "hearth".into());
    let body = format!(
        "<p>Sign in to <b>{}</b>.</p>{err}<form method=\"post\" action=\"/index.php/login\">\
<label for=\"user\">Login name or e-mail</label><input id=\"user\" name=\"user\" autocomplete=\"username\" required autofocus>\
<label for=\"password\">Password</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required>\
<input type=\"hidden\" name=\"redirect_url\" value=\"{}\"><button id=\"submit\" type=\"submit\">Log in</button></form>",
        esc(&name),
        esc(redirect)
    );
    let status = if error.is_some() {
        StatusCode::UNAUTHORIZED
    } else {
        StatusCode::OK
    };
    response::html(status, page("Log in", &body))
}

pub fn login_page(ctx: &Ctx) -> Resp {
    let redirect: Option<String> = form_urlencoded::parse(ctx.query.as_bytes())
        .find(|(k, _)| k == "redirect_url")
        .map(|(_, v)| v.into_owned());
    login_form(ctx, &safe_redirect(redirect.as_deref()), None)
}

pub async fn login_submit(mut ctx: Ctx) -> Resp {
    let p = match ctx.params().await {
        Ok(p) => p,
        Err(e) => return error_page(e.status(), "Log in", &e.to_string()),
    };
    let redirect = safe_redirect(p.get("redirect_url"));
    let (Some(user), Some(password)) = (p.get("user"), p.get("password")) else {
        return login_form(
            &ctx,
            &redirect,
            Some("Please enter your login name and password."),
        );
    };
    match ctx.app.accounts.login_form(user, password, ctx.peer).await {
        Ok(principal) => match ctx.app.accounts.create_session(&principal.uid) {
            Ok((cookie, _)) => {
                let mut r = response::redirect(StatusCode::SEE_OTHER, &redirect);
                response::set_header(
                    &mut r,
                    header::SET_COOKIE,
                    &format!("{SESSION_COOKIE}={cookie}; Path=/{}", cookie_attrs(&ctx)),
                );
                r
            }
            Err(e) => failure("Log in", &e),
        },
        Err(AccountsError::Throttled { retry_after }) => {
            let mut r = login_form(
                &ctx,
                &redirect,
                Some("Too many failed logins from this address. Please wait and try again."),
            );
            *r.status_mut() = StatusCode::TOO_MANY_REQUESTS;
            response::set_header(
                &mut r,
                header::RETRY_AFTER,
                &retry_after.as_secs().to_string(),
            );
            r
        }
        Err(AccountsError::Disabled) => {
            login_form(&ctx, &redirect, Some("This account is disabled."))
        }
        Err(AccountsError::WrongCredentials) => {
            login_form(&ctx, &redirect, Some("Wrong login name or password."))
        }
        Err(e) => failure("Log in", &e),
    }
}

pub fn internal(e: &(impl std::fmt::Display + ?Sized)) -> Resp {
    tracing::error!(error = %e, "page failed");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "Hearth could not complete this request. The details are in its log.",
    )
}

/// Any service's error as a page titled `title`: the category gives the status, the service
/// the words; an internal error is logged and shown without its details. A page that has
/// better words for a case in its context says them before falling back to this.
pub fn failure(title: &str, e: &(impl Categorized + ?Sized)) -> Resp {
    let status = match e.category() {
        Category::BadRequest => StatusCode::BAD_REQUEST,
        Category::Unauthenticated => StatusCode::UNAUTHORIZED,
        Category::Forbidden => StatusCode::FORBIDDEN,
        Category::NotFound => StatusCode::NOT_FOUND,
        Category::AlreadyExists | Category::Conflict => StatusCode::CONFLICT,
        Category::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        Category::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        Category::Quota => StatusCode::INSUFFICIENT_STORAGE,
        Category::Locked => StatusCode::LOCKED,
        Category::Throttled => StatusCode::TOO_MANY_REQUESTS,
        Category::Internal => return internal(e),
    };
    error_page(status, title, &e.public_message())
}

pub fn logout(ctx: &Ctx) -> Resp {
    if let Some(c) = ctx.cookie(SESSION_COOKIE) {
        let _ = ctx.app.accounts.end_session(&c);
    }
    let mut r = response::redirect(StatusCode::SEE_OTHER, "/");
    response::set_header(
        &mut r,
        header::SET_COOKIE,
        &format!("{SESSION_COOKIE}=; Path=/; Max-Age=0{}", cookie_attrs(ctx)),
    );
    r
}

pub fn home(ctx: &Ctx) -> Resp {
    let installed = ctx.app.accounts.is_installed().unwrap_or(false);
    if !installed {
        return response::html(
            StatusCode::OK,
            page(
                "Welcome to Hearth",
                "<p>This box is not set up yet.</p><p>On the machine running Hearth, run <code>hearth setup --name NAME --admin NAME --password-stdin</code>.</p>",
            ),
        );
    }
    let Some((p, csrf)) = session(ctx) else {
        return login_form(ctx, "/", None);
    };
    let rows: String = ctx
        .app
        .accounts
        .list_app_passwords(&p.uid)
        .unwrap_or_default()
        .iter()
        .map(|a| {
            format!(
                "<tr><td>{}</td><td>{}</td><td><form method=\"post\" action=\"/index.php/settings/apppasswords/{}/revoke\"><input type=\"hidden\" name=\"requesttoken\" value=\"{}\"><button type=\"submit\">Revoke</button></form></td></tr>",
                esc(&a.name),
                if a.last_used_ms == 0 {
                    "never used".to_owned()
                } else {
                    httpdate::fmt_http_date(
                        std::time::UNIX_EPOCH + std::time::Duration::from_millis(a.last_used_ms),
                    )
                },
                a.id,
                esc(&csrf)
            )
        })
        .collect();
    response::html(
        StatusCode::OK,
        page(
            "Hearth",
            &format!(
                "<p>Signed in as <b>{}</b>. <a href=\"/index.php/logout\">Log out</a></p><h2>Connected devices</h2><table>{rows}</table>",
                esc(&p.uid)
            ),
        ),
    )
}

/// Revokes one of the signed-in user's app passwords from the home page.
pub async fn revoke_app_password(mut ctx: Ctx, id: u64) -> Resp {
    let params = match ctx.params().await {
        Ok(p) => p,
        Err(e) => return error_page(e.status(), "Revoke", &e.to_string()),
    };
    let Some((p, csrf)) = session(&ctx) else {
        return error_page(
            StatusCode::FORBIDDEN,
            "Access forbidden",
            "Please log in first.",
        );
    };
    if params.get("requesttoken") != Some(csrf.as_str()) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Access forbidden",
            "State token does not match. Reload the page and try again.",
        );
    }
    match ctx.app.accounts.revoke_app_password(&p.uid, id) {
        Ok(()) => response::redirect(StatusCode::SEE_OTHER, "/"),
        Err(AccountsError::NotFound) => {
            error_page(StatusCode::NOT_FOUND, "Revoke", "There is no such device.")
        }
        Err(e) => failure("Revoke", &e),
    }
}
