//! The wizard's mail page: the SMTP server reminders, invitations and notifications go out
//! through, with a "send a test mail" button, or "no mail" to skip.

use super::{err, field, steps};
use crate::appliance::wizard::Progress;
use crate::config::MailConfig;
use crate::http::Ctx;
use crate::http::request::Params;
use crate::pages::common::esc;

pub fn page_body(ctx: &Ctx, p: &Progress, error: Option<&str>) -> String {
    let m = &p.mail;
    let security = |v: &str, label: &str| {
        format!(
            "<option value=\"{v}\"{}>{label}</option>",
            if m.security == v { " selected" } else { "" }
        )
    };
    let note = if p.mail_note.is_empty() {
        String::new()
    } else {
        format!(
            "<p id=\"mail-note\" role=\"status\">{}</p>",
            esc(&p.mail_note)
        )
    };
    let fixed = if ctx.app.notify.mail_from_config {
        "<p>The configuration file already names a mail server; it is used whatever you enter here.</p>"
    } else {
        ""
    };
    format!(
        "{}<p>Hearth can send reminders, invitations to people outside the family, and password help by e-mail. \
Enter the outgoing (SMTP) server of your e-mail provider, or skip this: everything else works without mail.</p>{fixed}{}{note}\
<form method=\"post\" action=\"/setup/mail\">{}{}\
<label for=\"security\">Security</label><select id=\"security\" name=\"security\">{}{}{}</select>{}{}{}{}\
<button id=\"mail-test\" type=\"submit\" name=\"do\" value=\"test\">Send a test mail</button> \
<button id=\"next\" type=\"submit\" name=\"do\" value=\"save\">Continue</button></form>\
<form method=\"post\" action=\"/setup/mail-skip\"><button id=\"mail-skip\" type=\"submit\">Skip: no e-mail</button></form>",
        steps(5),
        err(error),
        field(
            "host",
            "Mail server (e.g. smtp.example.org)",
            "text",
            &m.host,
            ""
        ),
        field(
            "port",
            "Port",
            "number",
            &m.port.to_string(),
            "min=\"1\" max=\"65535\""
        ),
        security("starttls", "STARTTLS (usually port 587)"),
        security("tls", "TLS (usually port 465)"),
        security("none", "None (only a relay on this network)"),
        field(
            "username",
            "User name (often your e-mail address)",
            "text",
            &m.username,
            "autocomplete=\"off\""
        ),
        field(
            "password",
            if m.password.is_empty() {
                "Password (kept on the box only)"
            } else {
                "Password (kept on the box only; leave empty to keep the one entered)"
            },
            "password",
            "",
            "autocomplete=\"off\""
        ),
        field(
            "from",
            "Send as (e.g. Hearth &lt;family@example.org&gt;)",
            "text",
            &m.from,
            ""
        ),
        field(
            "test_to",
            "Send the test mail to",
            "email",
            &p.mail_test_to,
            ""
        ),
    )
}

pub fn page(ctx: &Ctx, p: &Progress, error: Option<&str>) -> (&'static str, String) {
    ("E-mail", page_body(ctx, p, error))
}

fn from_params(params: &Params, old: &MailConfig) -> Result<MailConfig, String> {
    let host = params.get("host").unwrap_or("").trim().to_owned();
    let port = params.get("port").unwrap_or("").trim();
    let security = params.get("security").unwrap_or("starttls").to_owned();
    if !["starttls", "tls", "none"].contains(&security.as_str()) {
        return Err("Please choose the security from the list.".into());
    }
    let port: u16 = match port.parse() {
        Ok(p) if p > 0 => p,
        _ if port.is_empty() => match security.as_str() {
            "tls" => 465,
            "none" => 25,
            _ => 587,
        },
        _ => return Err(format!("{port:?} is not a port number (1–65535).")),
    };
    // An empty password field keeps the one typed before (browsers do not refill it).
    let password = match params.get("password").unwrap_or("") {
        "" => old.password.clone(),
        pw => pw.to_owned(),
    };
    let m = MailConfig {
        host,
        port,
        security,
        username: params.get("username").unwrap_or("").trim().to_owned(),
        password,
        from: params.get("from").unwrap_or("").trim().to_owned(),
    };
    Ok(m)
}

fn check(m: &MailConfig) -> Result<(), String> {
    if m.host.is_empty() {
        return Err("Enter the mail server's name, or choose \"Skip: no e-mail\".".into());
    }
    if m.from.parse::<lettre::message::Mailbox>().is_err() {
        return Err(format!(
            "{:?} is not an address mail can be sent as (e.g. family@example.org).",
            m.from
        ));
    }
    Ok(())
}

/// Handles the mail form. `Ok(true)`: saved, finish set-up; `Ok(false)`: show the page again
/// (a test mail was sent or failed, see `p.mail_note`).
pub async fn post(ctx: &Ctx, p: &mut Progress, params: &Params) -> Result<bool, String> {
    let m = from_params(params, &p.mail)?;
    p.mail = m.clone();
    p.mail_test_to = params.get("test_to").unwrap_or("").trim().to_owned();
    check(&m)?;
    if params.get("do") == Some("test") {
        if p.mail_test_to.is_empty() {
            return Err("Enter the address the test mail should go to.".into());
        }
        let name = ctx
            .app
            .accounts
            .box_name()
            .unwrap_or_else(|_| p.box_name.clone());
        let sent = crate::notify::mail::send(
            &m,
            &p.mail_test_to,
            &format!("Test mail from {name}"),
            &format!(
                "This is the test mail from your Hearth box {name}.local. If you can read it, reminders and invitations will reach you too."
            ),
            None,
        )
        .await;
        p.mail_note = match sent {
            Ok(()) => format!(
                "A test mail went to {}. Check that it arrived (and the spam folder), then continue.",
                p.mail_test_to
            ),
            Err(e) => format!("The test mail could not be sent: {e}"),
        };
        return Ok(false);
    }
    ctx.app
        .notify
        .set_mail(m)
        .map_err(|e| format!("The settings could not be saved: {e}"))?;
    Ok(true)
}
