//! Browser-facing pages and the public bootstrap endpoints: `status.php`, the well-known
//! redirects, the login form, Login Flow v2 and the legacy `nc://` flow, avatars.

mod avatar;
mod certificate;
mod common;
mod invite;
mod login_flow;
mod recover;
mod system;
mod update;
mod wizard;

use http::{StatusCode, header};
use serde_json::json;

use crate::http::router::Endpoint;
use crate::http::{Ctx, Resp, response};
use crate::ocs::capabilities_version;

/// The answer to a signed-in user who is not an administrator, for the pages that require one
/// (`Endpoint::requires`): each in the form that page speaks.
pub fn not_admin(endpoint: &Endpoint) -> Resp {
    match endpoint {
        Endpoint::SystemCertificate => common::error_page(
            StatusCode::FORBIDDEN,
            "Certificate",
            "Only an administrator can change the certificate.",
        ),
        Endpoint::SystemUpdate => update::refuse(
            StatusCode::FORBIDDEN,
            "Only an administrator can update the box.",
        ),
        _ => common::error_page(
            StatusCode::FORBIDDEN,
            "System",
            "Only an administrator can see the system page.",
        ),
    }
}

pub async fn handle(ctx: Ctx, endpoint: Endpoint) -> Resp {
    use Endpoint::*;
    // Until the box is set up, every page for people leads to the wizard.
    let page_for_people = matches!(
        endpoint,
        Home | LoginPage
            | LoginSubmit
            | Logout
            | LoginFlowV2Open(_)
            | LoginFlowV2Page
            | LoginFlowV2Grant
            | LoginFlowLegacyPage
            | LoginFlowLegacyGrant
    );
    if page_for_people && !ctx.app.accounts.is_installed().unwrap_or(true) {
        return response::redirect(StatusCode::SEE_OTHER, "/setup");
    }
    match endpoint {
        SetupPage => wizard::show(&ctx),
        SystemPage => system::system_page(&ctx).await,
        Health => system::health(&ctx),
        SetupPost(action) => wizard::post(ctx, &action).await,
        Status => status(&ctx),
        WellKnownDav => response::redirect(StatusCode::MOVED_PERMANENTLY, "/remote.php/dav/"),
        Home => common::home(&ctx),
        LoginPage => common::login_page(&ctx),
        LoginSubmit => common::login_submit(ctx).await,
        Logout => common::logout(&ctx),
        LoginFlowV2Start => login_flow::start(&ctx),
        LoginFlowV2Poll => login_flow::poll(ctx).await,
        LoginFlowV2Open(token) => login_flow::open(&ctx, &token),
        LoginFlowV2Page => login_flow::flow_page(&ctx),
        LoginFlowV2Grant => login_flow::grant(ctx).await,
        LoginFlowLegacyPage => login_flow::legacy_page(&ctx),
        LoginFlowLegacyGrant => login_flow::legacy_grant(ctx).await,
        Avatar { uid, size } => avatar::handle(&ctx, &uid, size).await,
        AvatarUpload => avatar::upload(ctx).await,
        SystemUpdate => update::upload(ctx).await,
        SystemCertificate => certificate::post(ctx).await,
        AvatarDelete => avatar::delete(&ctx).await,
        AppPasswordRevoke(id) => common::revoke_app_password(ctx, id).await,
        CaCert => match crate::appliance::tls::LocalCa::new(&ctx.app.data_dir).ca_pem() {
            Some(pem) => {
                let mut r = response::with(StatusCode::OK, "application/x-x509-ca-cert", pem);
                response::set_header(
                    &mut r,
                    header::CONTENT_DISPOSITION,
                    "attachment; filename=\"hearth-ca.crt\"",
                );
                r
            }
            None => not_found_like(
                &ctx,
                StatusCode::NOT_FOUND,
                "This box has no local certificate authority (HTTPS is off or uses its own certificate).",
            ),
        },
        MobileConfig => mobileconfig(&ctx),
        Recover => recover::handle(ctx).await,
        Invite(token) => invite::handle(ctx, &token).await,
        Logo => {
            let mut r = response::with(StatusCode::OK, "image/svg+xml", LOGO_SVG);
            response::set_header(&mut r, header::CACHE_CONTROL, "max-age=86400");
            r
        }
        MethodNotAllowed(allow) => {
            let mut r = not_found_like(
                &ctx,
                StatusCode::METHOD_NOT_ALLOWED,
                "This method is not allowed here.",
            );
            response::set_header(&mut r, header::ALLOW, allow);
            r
        }
        _ => not_found_like(
            &ctx,
            StatusCode::NOT_FOUND,
            "There is nothing at this address.",
        ),
    }
}

/// The theming logo: a hearth flame, public so clients can show it before login.
const LOGO_SVG: &str = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 64 64\"><rect width=\"64\" height=\"64\" rx=\"12\" fill=\"#b5452b\"/><path d=\"M32 10c6 10 14 16 14 28a14 14 0 0 1-28 0c0-7 4-12 7-15 0 6 3 9 5 9-2-8 0-15 2-22z\" fill=\"#fff\"/></svg>";

/// 404/405 in the shape the client asked for: JSON, XML or text.
fn not_found_like(ctx: &Ctx, status: StatusCode, message: &str) -> Resp {
    let accept = ctx.header(header::ACCEPT).unwrap_or("");
    if accept.contains("application/json") {
        response::json(status, &json!({"message": message}))
    } else if accept.contains("xml") {
        response::with(
            status,
            "application/xml; charset=utf-8",
            format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:error xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\">\n  <s:exception>{}</s:exception>\n  <s:message>{}</s:message>\n</d:error>\n",
                if status == StatusCode::NOT_FOUND {
                    "Sabre\\DAV\\Exception\\NotFound"
                } else {
                    "Sabre\\DAV\\Exception\\MethodNotAllowed"
                },
                crate::ocs::escape_xml(message)
            ),
        )
    } else {
        response::plain_error(status, message, false)
    }
}

/// `/status.php`: what every client probes first. Booleans are JSON booleans (Android).
fn status(ctx: &Ctx) -> Resp {
    let installed = ctx.app.accounts.is_installed().unwrap_or(false);
    let (a, b, c, d) = capabilities_version();
    let mut r = response::json(
        StatusCode::OK,
        &json!({
            "installed": installed,
            "maintenance": false,
            "needsDbUpgrade": false,
            "version": format!("{a}.{b}.{c}.{d}"),
            "versionstring": format!("{a}.{b}.{c}"),
            "edition": "",
            "productname": "Hearth",
            "extendedSupport": false,
        }),
    );
    response::set_header(&mut r, header::ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    r
}

/// `/hearth.mobileconfig`: the CA for anyone (like `/hearth-ca.crt`), plus CalDAV and CardDAV
/// accounts for a signed-in user (crate::appliance::profile).
fn mobileconfig(ctx: &Ctx) -> Resp {
    let Some(pem) = crate::appliance::tls::LocalCa::new(&ctx.app.data_dir).ca_pem() else {
        return not_found_like(
            ctx,
            StatusCode::NOT_FOUND,
            "This box has no local certificate authority (HTTPS is off or uses its own certificate).",
        );
    };
    let Some(Ok(der)) = rustls_pemfile::certs(&mut pem.as_bytes()).next() else {
        return not_found_like(
            ctx,
            StatusCode::INTERNAL_SERVER_ERROR,
            "The box's certificate could not be read.",
        );
    };
    let box_name = ctx
        .app
        .accounts
        .box_name()
        .unwrap_or_else(|_| "hearth".into());
    let host_header = ctx
        .header(header::HOST)
        .filter(|h| crate::http::request::valid_host(h))
        .map(str::to_owned)
        .unwrap_or_else(|| format!("{box_name}.local"));
    let host = match host_header.rsplit_once(':') {
        Some((h, p)) if p.chars().all(|c| c.is_ascii_digit()) && !h.ends_with(':') => h,
        _ => host_header.as_str(),
    };
    let user = ctx.actor.principal().map(|p| p.uid.clone());
    let body = crate::appliance::profile::mobileconfig(&crate::appliance::profile::Profile {
        box_name: &box_name,
        host,
        https_port: ctx.app.https_port.get().copied().unwrap_or(443),
        ca_der: der.as_ref(),
        user: user.as_deref(),
    });
    let mut r = response::with(StatusCode::OK, "application/x-apple-aspen-config", body);
    response::set_header(
        &mut r,
        header::CONTENT_DISPOSITION,
        "attachment; filename=\"hearth.mobileconfig\"",
    );
    r
}
