//! Login Flow v2 (desktop, iOS, nc-py-api) and the legacy `nc://login` flow (mobile WebViews).
//! Shapes follow nextcloud/server core/Controller/ClientFlowLoginV2Controller.php and
//! ClientFlowLoginController.php; see the protocol notes §4.2–4.3.

use http::{StatusCode, header};
use serde_json::json;

use super::common::{cookie_attrs, error_page, esc, login_form, page, session};
use crate::accounts::login_flow::Granted;
use crate::http::{Ctx, Resp, response};

const FLOW_COOKIE: &str = "hearth_flow";
const LEGACY_COOKIE: &str = "hearth_legacy_flow";

pub fn start(ctx: &Ctx) -> Resp {
    let client = ctx.header(header::USER_AGENT).unwrap_or("unknown client");
    let Some(s) = ctx.app.accounts.login_flows.start(client) else {
        return response::plain_error(
            StatusCode::TOO_MANY_REQUESTS,
            "Too many logins are waiting; try again later.",
            true,
        );
    };
    let base = ctx.base_url();
    response::json(
        StatusCode::OK,
        &json!({
            "poll": {"token": s.poll_token, "endpoint": format!("{base}/index.php/login/v2/poll")},
            "login": format!("{base}/index.php/login/v2/flow/{}", s.login_token),
        }),
    )
}

pub async fn poll(mut ctx: Ctx) -> Resp {
    let token = match ctx.params().await {
        Ok(p) => p.get("token").unwrap_or("").to_owned(),
        Err(e) => return response::plain_error(e.status(), &e.to_string(), true),
    };
    match ctx.app.accounts.login_flows.poll(&token) {
        Some(g) => response::json(
            StatusCode::OK,
            &json!({"server": ctx.base_url(), "loginName": g.login_name, "appPassword": g.app_password}),
        ),
        None => response::json(StatusCode::NOT_FOUND, &json!([])),
    }
}

pub fn open(ctx: &Ctx, token: &str) -> Resp {
    if ctx.app.accounts.login_flows.client_name(token).is_none() {
        return error_page(
            StatusCode::FORBIDDEN,
            "Access forbidden",
            "Your login token is invalid or has expired.",
        );
    }
    let mut r = response::redirect(StatusCode::SEE_OTHER, "/index.php/login/v2/flow");
    response::set_header(
        &mut r,
        header::SET_COOKIE,
        &format!("{FLOW_COOKIE}={token}; Path=/{}", cookie_attrs(ctx)),
    );
    r
}

pub fn flow_page(ctx: &Ctx) -> Resp {
    let Some(token) = ctx.cookie(FLOW_COOKIE) else {
        return error_page(
            StatusCode::FORBIDDEN,
            "Access forbidden",
            "State token missing. Start again from your app.",
        );
    };
    let Some(client) = ctx.app.accounts.login_flows.client_name(&token) else {
        return error_page(
            StatusCode::FORBIDDEN,
            "Access forbidden",
            "Your login token is invalid or has expired.",
        );
    };
    grant_or_login(
        ctx,
        &client,
        "/index.php/login/v2/grant",
        "/index.php/login/v2/flow",
    )
}

fn grant_or_login(ctx: &Ctx, client: &str, action: &str, back: &str) -> Resp {
    let Some((p, csrf)) = session(ctx) else {
        return login_form(ctx, back, None);
    };
    let body = format!(
        "<p>You are about to grant <b>{}</b> access to your account <b>{}</b>.</p>\
<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"requesttoken\" value=\"{}\">\
<button id=\"grant\" type=\"submit\">Grant access</button></form>\
<p>If you did not start this, close this window.</p>",
        esc(client),
        esc(&p.uid),
        esc(&csrf)
    );
    response::html(StatusCode::OK, page("Connect to your account", &body))
}

/// Checks the session and its CSRF token for a grant; returns the uid.
async fn grant_check(ctx: &mut Ctx) -> Result<String, Resp> {
    let p = ctx
        .params()
        .await
        .map_err(|e| error_page(e.status(), "Access forbidden", &e.to_string()))?;
    let Some((principal, csrf)) = session(ctx) else {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "Access forbidden",
            "Please log in first.",
        ));
    };
    if p.get("requesttoken") != Some(csrf.as_str()) {
        return Err(error_page(
            StatusCode::FORBIDDEN,
            "Access forbidden",
            "State token does not match. Reload the page and try again.",
        ));
    }
    Ok(principal.uid)
}

pub async fn grant(mut ctx: Ctx) -> Resp {
    let uid = match grant_check(&mut ctx).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(token) = ctx.cookie(FLOW_COOKIE) else {
        return error_page(
            StatusCode::FORBIDDEN,
            "Access forbidden",
            "State token missing. Start again from your app.",
        );
    };
    let accounts = &ctx.app.accounts;
    let granted = accounts.login_flows.grant(&token, |client| {
        let (_, secret) = accounts.create_app_password(&uid, client).ok()?;
        Some(Granted {
            login_name: uid.clone(),
            app_password: secret,
        })
    });
    if !granted {
        return error_page(
            StatusCode::FORBIDDEN,
            "Access forbidden",
            "Your login token is invalid or has expired.",
        );
    }
    let mut r = response::html(
        StatusCode::OK,
        page(
            "Account connected",
            "<p id=\"done\">Your app is now connected. You can close this window.</p>",
        ),
    );
    response::set_header(
        &mut r,
        header::SET_COOKIE,
        &format!("{FLOW_COOKIE}=; Path=/; Max-Age=0{}", cookie_attrs(&ctx)),
    );
    r
}

/// `GET /login/flow`: the mobile apps' WebView. Nextcloud refuses it without the
/// `OCS-APIREQUEST: true` header; once the flow has begun a cookie carries it.
pub fn legacy_page(ctx: &Ctx) -> Resp {
    let api = ctx
        .header("ocs-apirequest")
        .is_some_and(|v| v.eq_ignore_ascii_case("true"));
    let existing = ctx.cookie(LEGACY_COOKIE);
    let client = match (&existing, api) {
        (Some(c), _) => percent_encoding::percent_decode_str(c)
            .decode_utf8_lossy()
            .into_owned(),
        (None, true) => ctx
            .header(header::USER_AGENT)
            .unwrap_or("unknown client")
            .to_owned(),
        (None, false) => {
            return error_page(StatusCode::FORBIDDEN, "Access forbidden", "Invalid request");
        }
    };
    let mut r = grant_or_login(
        ctx,
        &client,
        "/index.php/login/flow",
        "/index.php/login/flow",
    );
    if existing.is_none() {
        let v: String =
            percent_encoding::utf8_percent_encode(&client, percent_encoding::NON_ALPHANUMERIC)
                .collect();
        response::set_header(
            &mut r,
            header::SET_COOKIE,
            &format!("{LEGACY_COOKIE}={v}; Path=/{}", cookie_attrs(ctx)),
        );
    }
    r
}

pub async fn legacy_grant(mut ctx: Ctx) -> Resp {
    let uid = match grant_check(&mut ctx).await {
        Ok(u) => u,
        Err(r) => return r,
    };
    let Some(client) = ctx.cookie(LEGACY_COOKIE) else {
        return error_page(
            StatusCode::FORBIDDEN,
            "Access forbidden",
            "State token missing. Start again from your app.",
        );
    };
    let client = percent_encoding::percent_decode_str(&client)
        .decode_utf8_lossy()
        .into_owned();
    let secret = match ctx.app.accounts.create_app_password(&uid, &client) {
        Ok((_, s)) => s,
        Err(e) => return super::common::failure("Log in", &e),
    };
    let enc = |s: &str| -> String { form_urlencoded::byte_serialize(s.as_bytes()).collect() };
    let target = format!(
        "nc://login/server:{}&user:{}&password:{}",
        ctx.base_url(),
        enc(&uid),
        enc(&secret)
    );
    let mut r = response::redirect(StatusCode::FOUND, &target);
    response::set_header(
        &mut r,
        header::SET_COOKIE,
        &format!("{LEGACY_COOKIE}=; Path=/; Max-Age=0{}", cookie_attrs(&ctx)),
    );
    r
}
