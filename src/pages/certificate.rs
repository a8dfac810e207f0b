//! The system page's "public certificate" section: ACME settings, the certificate's state and
//! the last failure; `POST /settings/system/certificate` saves, renews now, or turns it off.

use http::StatusCode;

use super::common::{error_page, esc};
use crate::appliance::acme;
use crate::config::AcmeConfig;
use crate::http::{Ctx, Resp, response};

fn when(secs: u64) -> String {
    let now = crate::clock::now_unix_secs();
    if secs == 0 {
        return "never".into();
    }
    let (d, future) = if secs >= now {
        (secs - now, true)
    } else {
        (now - secs, false)
    };
    let span = match d {
        0..=119 => format!("{d} s"),
        120..=7199 => format!("{} min", d / 60),
        7200..=172_799 => format!("{} h", d / 3600),
        _ => format!("{} days", d / 86400),
    };
    if future {
        format!("in {span}")
    } else {
        format!("{span} ago")
    }
}

/// The section's HTML (`csrf`: the session's token for the form, if signed in by cookie).
pub fn section(ctx: &Ctx, csrf: Option<&str>) -> String {
    let app = &ctx.app;
    let configured = acme::settings(&app.store, &app.config.acme);
    let from_file = !app.config.acme.directory.is_empty();
    let st = acme::state(&app.data_dir);
    let served = app.tls_slot.get().and_then(|s| s.acme());
    let status = match (&configured, &served) {
        (None, _) => "Off: the box's own certificate authority is used.".to_owned(),
        (Some(_), Some(c)) => format!(
            "<span id=\"acme-cert\">Serving a certificate for {} (serial {}), valid until {}; renewed {}.</span>",
            esc(&c.names.join(", ")),
            esc(&c.serial),
            when(c.not_after),
            when(c.not_after - (c.not_after.saturating_sub(c.not_before)) / 3)
        ),
        (Some(_), None) => "No certificate yet.".to_owned(),
    };
    let error = if st.last_error.is_empty() {
        String::new()
    } else {
        format!(
            "<p class=\"warn\" id=\"acme-error\">Last attempt ({}) failed: {}</p>",
            when(st.last_attempt),
            esc(&st.last_error)
        )
    };
    let s = configured.clone().unwrap_or_default();
    let token = csrf.map_or(String::new(), |t| {
        format!(
            "<input type=\"hidden\" name=\"requesttoken\" value=\"{}\">",
            esc(t)
        )
    });
    let option = |v: &str, label: &str| {
        format!(
            "<option value=\"{v}\"{}>{label}</option>",
            if s.challenge == v { " selected" } else { "" }
        )
    };
    let form = if from_file {
        "<p>Set in the configuration file (<code>[acme]</code>).</p>".to_owned()
    } else {
        format!(
            "<form method=\"post\" action=\"/settings/system/certificate\">{token}\
<label for=\"acme-domains\">Public name (it must reach this box)</label><input id=\"acme-domains\" name=\"domains\" value=\"{}\" placeholder=\"family.example.org\">\
<label for=\"acme-directory\">Certificate authority (ACME directory)</label><input id=\"acme-directory\" name=\"directory\" value=\"{}\">\
<label for=\"acme-email\">E-mail for expiry warnings (optional)</label><input id=\"acme-email\" name=\"email\" type=\"email\" value=\"{}\">\
<label for=\"acme-challenge\">Proof of control</label><select id=\"acme-challenge\" name=\"challenge\">{}{}{}</select>\
<label for=\"acme-dns-server\">DNS-01: DNS server taking dynamic updates (RFC 2136)</label><input id=\"acme-dns-server\" name=\"dns_server\" value=\"{}\" placeholder=\"ns1.example.org\">\
<label for=\"acme-dns-key\">DNS-01: TSIG key (hmac-sha256:NAME:SECRET; empty keeps the saved one)</label><input id=\"acme-dns-key\" name=\"dns_key\" type=\"password\" autocomplete=\"off\" value=\"\">\
<button type=\"submit\" name=\"do\" value=\"save\">Save and get a certificate</button> \
<button type=\"submit\" name=\"do\" value=\"renew\">Renew now</button> \
<button type=\"submit\" name=\"do\" value=\"off\">Turn off</button></form>",
            esc(&s.domains.join(" ")),
            esc(if s.directory.is_empty() {
                "letsencrypt"
            } else {
                &s.directory
            }),
            esc(&s.email),
            option("http-01", "HTTP-01: port 80 forwarded to the box"),
            option("tls-alpn-01", "TLS-ALPN-01: port 443 forwarded to the box"),
            option("dns-01", "DNS-01: a DNS record, no open port"),
            esc(&s.dns_server),
        )
    };
    format!(
        "<h2>Public certificate</h2><p>For reaching the box from outside under a public name, with a certificate every device trusts (Let's Encrypt). At home the box's own certificate keeps working.</p><p id=\"acme-status\">{status}</p>{error}{form}"
    )
}

pub async fn post(mut ctx: Ctx) -> Resp {
    let params = match ctx.params().await {
        Ok(p) => p,
        Err(e) => return error_page(e.status(), "Certificate", &e.to_string()),
    };
    // A form from another site must not change this: a cookie session needs its token, other
    // sign-ins the OCS-APIRequest header (which a plain form cannot send).
    let allowed = match super::common::session(&ctx) {
        Some((_, csrf)) => params.get("requesttoken") == Some(csrf.as_str()),
        None => ctx
            .header("ocs-apirequest")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
    };
    if !allowed {
        return error_page(
            StatusCode::FORBIDDEN,
            "Certificate",
            "State token does not match. Reload the page and try again.",
        );
    }
    let app = &ctx.app;
    if !app.config.acme.directory.is_empty() {
        if params.get("do") == Some("renew") {
            app.acme.renew_now();
            return response::redirect(StatusCode::SEE_OTHER, "/settings/system");
        }
        return error_page(
            StatusCode::CONFLICT,
            "Certificate",
            "The certificate is set in the configuration file; change it there.",
        );
    }
    if app.tls_slot.get().is_none() {
        return error_page(
            StatusCode::CONFLICT,
            "Certificate",
            "HTTPS is off, or uses a certificate from the configuration file.",
        );
    }
    match params.get("do").unwrap_or("save") {
        "off" => {
            let _ = acme::clear_settings(&app.store);
            app.acme.wake();
        }
        "renew" => app.acme.renew_now(),
        _ => {
            let typed = AcmeConfig {
                directory: params.get("directory").unwrap_or("").to_owned(),
                domains: params
                    .get("domains")
                    .unwrap_or("")
                    .split([' ', ','])
                    .map(str::to_owned)
                    .collect(),
                email: params.get("email").unwrap_or("").trim().to_owned(),
                challenge: params.get("challenge").unwrap_or("http-01").to_owned(),
                dns_server: params.get("dns_server").unwrap_or("").trim().to_owned(),
                // The key is never shown back: an empty field keeps the saved one.
                dns_key: match params.get("dns_key").map(str::trim) {
                    Some(k) if !k.is_empty() => k.to_owned(),
                    _ => acme::settings(&app.store, &app.config.acme)
                        .map(|s| s.dns_key)
                        .unwrap_or_default(),
                },
                ..AcmeConfig::default()
            };
            let s = match acme::validate(typed) {
                Ok(s) => s,
                Err(m) => return error_page(StatusCode::BAD_REQUEST, "Certificate", &m),
            };
            if let Err(e) = acme::save_settings(&app.store, &s) {
                tracing::error!(error = %e, "saving the ACME settings");
                return error_page(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Certificate",
                    "The settings could not be saved.",
                );
            }
            app.acme.renew_now();
        }
    }
    response::redirect(StatusCode::SEE_OTHER, "/settings/system")
}
