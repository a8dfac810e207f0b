//! `/recover`: a new password for an administrator who forgot theirs, with the recovery code
//! only someone holding the box can get (docs/security.md): `reset-password.txt` on the boot
//! partition makes the image create one (shown on the screen and in `recovery-code.txt`), or
//! `hearth recovery-code` on the box's data directory. From the home network only; wrong codes
//! are throttled like the claim code; the code works once and for a day.

use http::{StatusCode, header};

use super::common::{alert, error_page, esc, page};
use crate::accounts::{Actor, Verdict};
use crate::appliance::wizard;
use crate::http::{Ctx, Resp, response};

fn form(error: Option<&str>, status: StatusCode) -> Resp {
    let err = alert(error);
    response::html(
        status,
        page(
            "New administrator password",
            &format!(
                "<p>Enter the recovery code from the box (its screen, or <code>recovery-code.txt</code> on the card's boot partition), the administrator's login name and a new password.</p>{err}\
<form method=\"post\" action=\"/recover\">\
<label for=\"code\">Recovery code</label><input id=\"code\" name=\"code\" autocomplete=\"off\" required>\
<label for=\"login\">Administrator's login name</label><input id=\"login\" name=\"login\" autocomplete=\"username\" required>\
<label for=\"password\">New password (at least 8 characters)</label><input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"new-password\" required minlength=\"8\">\
<label for=\"password2\">The same password again</label><input id=\"password2\" name=\"password2\" type=\"password\" autocomplete=\"new-password\" required minlength=\"8\">\
<button id=\"recover\" type=\"submit\">Set the new password</button></form>"
            ),
        ),
    )
}

fn how_to() -> Resp {
    response::html(
        StatusCode::OK,
        page(
            "Forgotten administrator password",
            "<p id=\"how\">To give an administrator a new password: shut the box down, put its card in a computer, \
create an empty file named <code>reset-password.txt</code> on the partition called HEARTHBOOT, put the card back and start the box. \
A recovery code then appears on the box's screen and in <code>recovery-code.txt</code> on that partition; come back to this page with it.</p>",
        ),
    )
}

pub async fn handle(mut ctx: Ctx) -> Resp {
    if !ctx.app.accounts.is_installed().unwrap_or(false) {
        return response::redirect(StatusCode::SEE_OTHER, "/setup");
    }
    if !wizard::is_local(ctx.peer) {
        return error_page(
            StatusCode::FORBIDDEN,
            "Recovery",
            "A password can only be recovered from your home network.",
        );
    }
    let Some(code) = wizard::recovery_code(&ctx.app.data_dir) else {
        return how_to();
    };
    if ctx.method != http::Method::POST {
        return form(None, StatusCode::OK);
    }
    let app = ctx.app.clone();
    let acc = &app.accounts;
    if let Verdict::Refuse { retry_after } = acc.throttle_check(ctx.peer, "recovery-code") {
        let mut r = form(
            Some("Too many wrong codes from this device. Please wait a few minutes."),
            StatusCode::TOO_MANY_REQUESTS,
        );
        response::set_header(
            &mut r,
            header::RETRY_AFTER,
            &retry_after.as_secs().to_string(),
        );
        return r;
    }
    let params = match ctx.params().await {
        Ok(p) => p,
        Err(e) => return error_page(e.status(), "Recovery", &e.to_string()),
    };
    if !wizard::code_matches(params.get("code").unwrap_or(""), &code) {
        acc.throttle_failed(ctx.peer, "recovery-code");
        return form(
            Some("That is not the recovery code. Check it and try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let login = params.get("login").unwrap_or("").trim().to_owned();
    let is_admin = acc.user(&login).is_ok_and(|u| u.is_admin());
    if !is_admin {
        return form(
            Some("There is no administrator with that login name."),
            StatusCode::BAD_REQUEST,
        );
    }
    let (pw, pw2) = (
        params.get("password").unwrap_or(""),
        params.get("password2").unwrap_or(""),
    );
    if pw != pw2 {
        return form(
            Some("The two passwords are not the same."),
            StatusCode::BAD_REQUEST,
        );
    }
    match acc
        .set_password(&Actor::console(), &login, pw.to_owned())
        .await
    {
        Ok(()) => {
            let _ = std::fs::remove_file(wizard::recovery_code_path(&ctx.app.data_dir));
            tracing::warn!(user = %login, peer = %ctx.peer, "administrator password reset with the recovery code");
            response::html(
                StatusCode::OK,
                page(
                    "Password changed",
                    &format!(
                        "<p id=\"recovered\">{} has a new password. The recovery code is used up. <a href=\"/login\">Sign in</a>.</p>",
                        esc(&login)
                    ),
                ),
            )
        }
        Err(crate::accounts::AccountsError::InvalidInput(m)) => {
            form(Some(&m), StatusCode::BAD_REQUEST)
        }
        Err(e) => {
            tracing::error!(error = %e, "password recovery failed");
            error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Recovery",
                "The password could not be changed; see the box's log.",
            )
        }
    }
}
