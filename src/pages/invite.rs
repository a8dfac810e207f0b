//! `/invite/TOKEN`: a family member invited with a one-time link chooses their password
//! (accounts/invites.rs). The token is the only credential: no session, no CSRF token needed.

use http::StatusCode;

use super::common::{alert, error_page, esc, page};
use crate::http::{Ctx, Resp, response};

fn form(token: &str, uid: &str, error: Option<&str>, status: StatusCode) -> Resp {
    let err = alert(error);
    response::html(
        status,
        page(
            "Welcome",
            &format!(
                "<p>Choose the password for your account <b id=\"invited\">{}</b>.</p>{err}\
<form method=\"post\" action=\"/invite/{}\">\
<label for=\"password\">Password (at least 8 characters)</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required minlength=\"8\">\
<label for=\"password2\">The same password again</label><input id=\"password2\" name=\"password2\" type=\"password\" autocomplete=\"new-password\" required minlength=\"8\">\
<button id=\"accept\" type=\"submit\">Set my password</button></form>",
                esc(uid),
                esc(token)
            ),
        ),
    )
}

pub async fn handle(mut ctx: Ctx, token: &str) -> Resp {
    let app = ctx.app.clone();
    let Some(uid) = app.accounts.invite_user(token) else {
        return error_page(
            StatusCode::NOT_FOUND,
            "Invite link",
            "This invite link is used up or has expired. Ask whoever set up the box for a new one.",
        );
    };
    if ctx.method != http::Method::POST {
        return form(token, &uid, None, StatusCode::OK);
    }
    let params = match ctx.params().await {
        Ok(p) => p,
        Err(e) => return error_page(e.status(), "Invite link", &e.to_string()),
    };
    let (pw, pw2) = (
        params.get("password").unwrap_or(""),
        params.get("password2").unwrap_or(""),
    );
    if pw != pw2 {
        return form(
            token,
            &uid,
            Some("The two passwords are not the same."),
            StatusCode::BAD_REQUEST,
        );
    }
    match app.accounts.accept_invite(token, pw.to_owned()).await {
        Ok(uid) => response::html(
            StatusCode::OK,
            page(
                "Welcome",
                &format!(
                    "<p id=\"welcome\">Your password is set, {}. <a href=\"/login\">Sign in</a>, then connect your phone and computer.</p>",
                    esc(&uid)
                ),
            ),
        ),
        Err(crate::accounts::AccountsError::InvalidInput(m)) => {
            form(token, &uid, Some(&m), StatusCode::BAD_REQUEST)
        }
        Err(e) => {
            tracing::error!(error = %e, "accepting an invite failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Invite link",
                "The password could not be set; see the box's log.",
            )
        }
    }
}
