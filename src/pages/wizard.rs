//! The setup wizard: six plain pages, no JavaScript, resumable after a reload or a reboot.
//! claim → name and administrator → family → time and storage (`place.rs`) → mail (`mail.rs`)
//! → done.

mod mail;
mod place;

use http::{StatusCode, header};

use super::common::{alert as err, cookie_attrs, error_page, esc, page};
use crate::accounts::{AccountsError, Actor, NewUser, Verdict};
use crate::appliance::wizard::{self, Progress};
use crate::http::auth::SESSION_COOKIE;
use crate::http::{Ctx, Resp, response};

const COOKIE: &str = "hearth_setup";

fn refused(ctx: &Ctx) -> Option<Resp> {
    if ctx.app.accounts.is_installed().unwrap_or(false) {
        return Some(error_page(
            StatusCode::FORBIDDEN,
            "Already set up",
            "This box is already set up. Sign in instead.",
        ));
    }
    if !wizard::is_local(ctx.peer) {
        return Some(error_page(
            StatusCode::FORBIDDEN,
            "Set-up",
            "The box can only be set up from your home network.",
        ));
    }
    None
}

fn claimed(ctx: &Ctx) -> bool {
    ctx.cookie(COOKIE)
        .is_some_and(|t| wizard::session_valid(&ctx.app.store, &t))
}

fn form(action: &str, fields: &str, button: (&str, &str)) -> String {
    format!(
        "<form method=\"post\" action=\"/setup/{action}\">{fields}<button id=\"{}\" type=\"submit\">{}</button></form>",
        button.0, button.1
    )
}

fn field(id: &str, label: &str, kind: &str, value: &str, extra: &str) -> String {
    format!(
        "<label for=\"{id}\">{label}</label><input id=\"{id}\" name=\"{id}\" type=\"{kind}\" value=\"{}\" {extra}>",
        esc(value)
    )
}

fn steps(n: u8) -> String {
    format!("<p class=\"step\">Step {n} of 6</p>")
}

pub fn show(ctx: &Ctx) -> Resp {
    if let Some(r) = refused(ctx) {
        return r;
    }
    if !claimed(ctx) {
        return claim_page(None, StatusCode::OK);
    }
    let mut p = wizard::progress(&ctx.app.store)
        .ok()
        .flatten()
        .unwrap_or_default();
    if p.step == 2 && !p.moving_to.is_empty() {
        let error = place::settle(ctx, &mut p);
        if !p.moving_to.is_empty() {
            return place::moving_page(&p);
        }
        let _ = wizard::save_progress(&ctx.app.store, &p);
        return step_page(ctx, &p, error.as_deref());
    }
    step_page(ctx, &p, None)
}

fn claim_page(error: Option<&str>, status: StatusCode) -> Resp {
    let body = format!(
        "{}<p>Welcome! To make sure it is you setting up this box, type the <b>claim code</b>. You find it on the screen connected to the box, in the file <code>claim-code</code> on its SD card, or by running <code>hearth claim-code</code>.</p>{}{}",
        steps(1),
        err(error),
        form(
            "claim",
            &field(
                "code",
                "Claim code",
                "text",
                "",
                "autocomplete=\"off\" autocapitalize=\"characters\" required autofocus"
            ),
            ("claim", "Continue")
        )
    );
    response::html(status, page("Set up your Hearth", &body))
}

fn step_page(ctx: &Ctx, p: &Progress, error: Option<&str>) -> Resp {
    let status = if error.is_some() {
        StatusCode::BAD_REQUEST
    } else {
        StatusCode::OK
    };
    let (title, body) = match p.step {
        0 => (
            "Name and administrator",
            format!(
                "{}<p>Give the box a name (it will answer as <i>name</i>.local) and create the administrator's account.</p>{}{}",
                steps(2),
                err(error),
                form(
                    "admin",
                    &[
                        field(
                            "box_name",
                            "Box name",
                            "text",
                            if p.box_name.is_empty() {
                                "hearth"
                            } else {
                                &p.box_name
                            },
                            "required pattern=\"[A-Za-z0-9-]{1,63}\""
                        ),
                        field(
                            "admin",
                            "Administrator's login name",
                            "text",
                            &p.admin,
                            "autocomplete=\"username\" required"
                        ),
                        field(
                            "password",
                            "Password (at least 8 characters)",
                            "password",
                            "",
                            "autocomplete=\"new-password\" required minlength=\"8\""
                        ),
                        field(
                            "password2",
                            "The same password again",
                            "password",
                            "",
                            "autocomplete=\"new-password\" required minlength=\"8\""
                        ),
                    ]
                    .concat(),
                    ("next", "Continue"),
                )
            ),
        ),
        1 => {
            let list: String = p
                .family
                .iter()
                .map(|u| format!("<li>{}{}</li>", esc(u), invite_note(p, u)))
                .collect();
            let list = if list.is_empty() {
                "<p>No family accounts yet.</p>".to_owned()
            } else {
                format!("<ul id=\"family\">{list}</ul>")
            };
            (
                "Family accounts",
                format!(
                    "{}<p>Add an account for each family member: type a password for them (they can change it later), or tick \"invite link\" and send them the link, with which they choose their own.</p>{list}{}{}{}",
                    steps(3),
                    err(error),
                    form(
                        "family",
                        &[
                            field("login", "Login name", "text", "", "required"),
                            field("display", "Name shown to others", "text", "", ""),
                            field(
                                "password",
                                "Password (at least 8 characters)",
                                "password",
                                "",
                                "autocomplete=\"new-password\" minlength=\"8\""
                            ),
                            "<label class=\"check\"><input type=\"checkbox\" id=\"invite\" name=\"invite\" value=\"1\"> No password: make a one-time invite link (valid for 7 days)</label>".to_owned(),
                        ]
                        .concat(),
                        ("add", "Add this person"),
                    ),
                    form("family-done", "", ("family-done", "Continue"))
                ),
            )
        }
        3 => {
            let (t, b) = mail::page(ctx, p, error);
            let note = if p.storage_note.is_empty() {
                String::new()
            } else {
                format!(
                    "<p id=\"storage-note\" role=\"status\">{}</p>",
                    esc(&p.storage_note)
                )
            };
            (t, format!("{note}{b}"))
        }
        _ => place::page(ctx, p, error),
    };
    response::html(status, page(title, &body))
}

pub async fn post(mut ctx: Ctx, action: &str) -> Resp {
    if let Some(r) = refused(&ctx) {
        return r;
    }
    let params = match ctx.params().await {
        Ok(p) => p,
        Err(e) => return error_page(e.status(), "Set-up", &e.to_string()),
    };
    if action == "claim" {
        return claim(&ctx, params.get("code").unwrap_or(""));
    }
    if !claimed(&ctx) {
        return claim_page(None, StatusCode::FORBIDDEN);
    }
    let store = ctx.app.store.clone();
    let mut p = wizard::progress(&store).ok().flatten().unwrap_or_default();
    let acc = &ctx.app.accounts;
    let outcome: Result<(), String> = match (action, p.step) {
        ("admin", 0) => {
            let (name, admin) = (
                params.get("box_name").unwrap_or("").trim().to_lowercase(),
                params.get("admin").unwrap_or("").trim().to_owned(),
            );
            let (pw, pw2) = (
                params.get("password").unwrap_or(""),
                params.get("password2").unwrap_or(""),
            );
            p.box_name.clone_from(&name);
            p.admin.clone_from(&admin);
            if pw != pw2 {
                Err("The two passwords are not the same.".into())
            } else {
                match acc.create_first_admin(&name, &admin, pw.to_owned()).await {
                    Ok(()) => {
                        p.step = 1;
                        Ok(())
                    }
                    Err(e) => Err(person_message(&e)),
                }
            }
        }
        ("family", 1) => {
            let login = params.get("login").unwrap_or("").trim().to_owned();
            let invite = params.get("invite") == Some("1");
            // An invited person chooses their password with the link; until then the account
            // has a random one nobody knows.
            let password = if invite {
                crate::accounts::random_token(40)
            } else {
                params.get("password").unwrap_or("").to_owned()
            };
            let new = NewUser {
                uid: login.clone(),
                display_name: params.get("display").map(str::to_owned),
                email: None,
                quota: None,
                groups: Vec::new(),
            };
            match acc
                .create_user(&Actor::console(), new, Some(password))
                .await
            {
                Ok(_) if invite => match acc.create_invite(&Actor::console(), &login) {
                    Ok(token) => {
                        p.invites
                            .push((login.clone(), format!("{}/invite/{token}", ctx.base_url())));
                        p.family.push(login);
                        Ok(())
                    }
                    Err(e) => Err(person_message(&e)),
                },
                Ok(_) => {
                    p.family.push(login);
                    Ok(())
                }
                Err(e) => Err(person_message(&e)),
            }
        }
        ("family-done", 1) => {
            p.step = 2;
            Ok(())
        }
        ("place", 2) if p.moving_to.is_empty() => match place::post(&ctx, &mut p, &params) {
            Ok(place::Placed::Next) => Ok(()),
            Ok(place::Placed::Restart) => {
                let _ = wizard::save_progress(&store, &p);
                // Answer first, then restart (the page reloads itself until the box is back).
                let data = ctx.app.data_dir.clone();
                std::thread::spawn(move || {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    if !crate::appliance::update::request_reboot() {
                        tracing::error!("could not restart the box to move the data");
                        crate::appliance::storage::cancel_move(
                            &data,
                            "the box could not restart itself to do it",
                        );
                    }
                });
                return place::moving_page(&p);
            }
            Err(m) => Err(m),
        },
        ("mail", 3) => match mail::post(&ctx, &mut p, &params).await {
            Ok(true) => return finish(&ctx, &p).await,
            Ok(false) => Ok(()),
            Err(m) => Err(m),
        },
        ("mail-skip", 3) => {
            p.mail = crate::config::MailConfig::default();
            return finish(&ctx, &p).await;
        }
        // A reload of an earlier step's form: just show where we are.
        _ => Ok(()),
    };
    let _ = wizard::save_progress(&store, &p);
    match outcome {
        // Post/redirect/get: a reload never re-submits.
        Ok(()) => response::redirect(StatusCode::SEE_OTHER, "/setup"),
        Err(m) => step_page(&ctx, &p, Some(&m)),
    }
}

/// " — invite link: …" after a family member who was invited rather than given a password.
fn invite_note(p: &Progress, login: &str) -> String {
    p.invites
        .iter()
        .find(|(l, _)| l == login)
        .map(|(l, link)| {
            format!(
                " — invite link: <a class=\"invite-link\" id=\"invite-{}\" href=\"{}\">{}</a>",
                esc(l),
                esc(link),
                esc(link)
            )
        })
        .unwrap_or_default()
}

fn person_message(e: &AccountsError) -> String {
    match e {
        AccountsError::InvalidInput(m) => {
            let mut s = m.clone();
            if let Some(c) = s.get_mut(0..1) {
                c.make_ascii_uppercase();
            }
            format!("{s}.")
        }
        AccountsError::AlreadyExists(what) => format!("There is already a {what}."),
        other => {
            tracing::error!(error = %other, "set-up step failed");
            "Something went wrong; the details are in the box's log.".into()
        }
    }
}

fn claim(ctx: &Ctx, typed: &str) -> Resp {
    let acc = &ctx.app.accounts;
    if let Verdict::Refuse { retry_after } = acc.throttle_check(ctx.peer, "claim-code") {
        let mut r = claim_page(
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
    let code = match wizard::claim_code(&ctx.app.data_dir) {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "claim code unavailable");
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Set-up",
                "The claim code could not be read; see the box's log.",
            );
        }
    };
    if !wizard::code_matches(typed, &code) {
        acc.throttle_failed(ctx.peer, "claim-code");
        return claim_page(
            Some("That is not the claim code. Check it and try again."),
            StatusCode::FORBIDDEN,
        );
    }
    let token = match wizard::start_session(&ctx.app.store) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "wizard session");
            return error_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Set-up",
                "Something went wrong; see the box's log.",
            );
        }
    };
    let mut r = response::redirect(StatusCode::SEE_OTHER, "/setup");
    response::set_header(
        &mut r,
        header::SET_COOKIE,
        &format!("{COOKIE}={token}; Path=/{}", cookie_attrs(ctx)),
    );
    r
}

async fn finish(ctx: &Ctx, p: &Progress) -> Resp {
    let acc = &ctx.app.accounts;
    let store = &ctx.app.store;
    if let Err(e) = store.write(|tx| tx.set_meta("timezone", &p.timezone)) {
        tracing::error!(error = %e, "saving the time zone");
    }
    if let Err(e) = acc.mark_installed() {
        return error_page(StatusCode::FORBIDDEN, "Already set up", &person_message(&e));
    }
    if let Some(a) = &p.acme {
        match crate::appliance::acme::save_settings(&ctx.app.store, a) {
            Ok(()) => ctx.app.acme.renew_now(),
            Err(e) => tracing::error!(error = %e, "saving the ACME settings"),
        }
    }
    let _ = wizard::finish(store, &ctx.app.data_dir);
    // The administrator is signed in, and gets a code to connect a phone at once.
    let session = acc.create_session(&p.admin).ok();
    let base = ctx.base_url();
    let qr = acc
        .create_app_password(&p.admin, "Phone (set-up QR code)")
        .ok()
        .and_then(|(_, secret)| {
            let enc =
                |s: &str| -> String { form_urlencoded::byte_serialize(s.as_bytes()).collect() };
            let uri = format!(
                "nc://login/user:{}&password:{}&server:{}",
                enc(&p.admin),
                enc(&secret),
                base
            );
            qrcode::QrCode::new(uri.as_bytes()).ok().map(|c| {
                c.render::<qrcode::render::svg::Color<'_>>()
                    .min_dimensions(200, 200)
                    .build()
            })
        });
    let name = acc.box_name().unwrap_or_else(|_| p.box_name.clone());
    let body = format!(
        "{}<p id=\"ready\">Your box <b>{}</b> is ready. Everyone can now sign in at <b>{}</b> (or <b>{}.local</b>).</p>\
<h2>Phones</h2><p><b>Android:</b> install the Nextcloud app (files and photos) and DAVx⁵ (calendars, contacts); enter the address above. \
<b>iPhone and iPad:</b> install the Nextcloud app; for calendars and contacts open <a href=\"/hearth.mobileconfig\">the configuration profile</a> on the device (Settings → Profile Downloaded → Install; it asks for your password).</p>{}\
{}\
<h2>Computers</h2><p>Install the Nextcloud desktop app, choose \"Log in\", enter the address above and grant access in the page that opens.</p>{}\
<p><a href=\"/\">Go to your Hearth</a></p>",
        steps(6),
        esc(&name),
        esc(&base),
        esc(&name),
        if crate::appliance::tls::LocalCa::new(&ctx.app.data_dir).ca_pem().is_some() {
            "<p>To trust the box's secure connection, download <a href=\"/hearth-ca.crt\">the box's certificate</a> on each device and allow it (iPhone, iPad and Mac: the configuration profile above carries it; after installing, turn on full trust in Settings → General → About → Certificate Trust Settings; Android 11+: Settings → Security → Encryption &amp; credentials → Install a certificate → CA certificate; Windows: open it → Install Certificate → Local Machine → Trusted Root Certification Authorities).</p>"
        } else {
            ""
        },
        qr.map(|svg| format!("<h2>Connect {}'s phone now</h2><p>In the Nextcloud app, choose to scan a code and point it here:</p><div id=\"qr\">{svg}</div>", esc(&p.admin))).unwrap_or_default(),
        if p.invites.is_empty() {
            String::new()
        } else {
            let items: String = p
                .invites
                .iter()
                .map(|(l, _)| format!("<li>{}{}</li>", esc(l), invite_note(p, l)))
                .collect();
            format!("<h2>Invite links</h2><p>Send each person their link (by message or e-mail): with it they choose their own password. Each works once, for 7 days.</p><ul id=\"invites\">{items}</ul>")
        }
    );
    let mut r = response::html(StatusCode::OK, page("All set", &body));
    response::set_header(
        &mut r,
        header::SET_COOKIE,
        &format!("{COOKIE}=; Path=/; Max-Age=0{}", cookie_attrs(ctx)),
    );
    if let Some((cookie, _)) = session
        && let Ok(v) = header::HeaderValue::from_str(&format!(
            "{SESSION_COOKIE}={cookie}; Path=/{}",
            cookie_attrs(ctx)
        ))
    {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r
}
