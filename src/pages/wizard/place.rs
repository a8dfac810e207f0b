//! The wizard's "time and storage" page: the time zone, and on the image where the data lives
//! (the SD card, or a USB disk that is formatted for it; `appliance::storage`). Choosing a disk
//! restarts the box, which moves the data before anything uses it; the wizard then resumes.

use http::StatusCode;

use super::{err, form, steps};
use crate::appliance::storage::{self, Disk, Outcome};
use crate::appliance::wizard::Progress;
use crate::http::request::Params;
use crate::http::{Ctx, Resp, response};
use crate::pages::common::{self, esc};

/// Common time zones; the box's clock runs in UTC, this is for calendars and reminders.
pub const ZONES: [&str; 24] = [
    "UTC",
    "Europe/London",
    "Europe/Dublin",
    "Europe/Lisbon",
    "Europe/Paris",
    "Europe/Berlin",
    "Europe/Madrid",
    "Europe/Rome",
    "Europe/Amsterdam",
    "Europe/Stockholm",
    "Europe/Warsaw",
    "Europe/Athens",
    "Europe/Helsinki",
    "Europe/Istanbul",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Los_Angeles",
    "America/Sao_Paulo",
    "Asia/Kolkata",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
];

fn disks() -> Vec<Disk> {
    if storage::supported() {
        storage::candidates()
    } else {
        Vec::new()
    }
}

pub fn page(ctx: &Ctx, p: &Progress, error: Option<&str>) -> (&'static str, String) {
    let options: String = ZONES
        .iter()
        .map(|z| {
            let sel = if *z == p.timezone.as_str() {
                " selected"
            } else {
                ""
            };
            format!("<option{sel}>{z}</option>")
        })
        .collect();
    let disks = disks();
    let storage = if disks.is_empty() {
        format!(
            "<p id=\"storage\">Files are kept in <code>{}</code>. To keep them on a USB disk instead, plug it in and reload this page.</p>",
            esc(&ctx.app.data_dir.display().to_string())
        )
    } else {
        let choices: String = disks
            .iter()
            .map(|d| {
                let warn = if d.partitioned {
                    " — it has data on it now"
                } else {
                    ""
                };
                format!(
                    "<label class=\"check\"><input type=\"radio\" name=\"storage\" id=\"storage-{n}\" value=\"{n}\"> {}{warn}</label>",
                    esc(&d.describe()),
                    n = esc(&d.name)
                )
            })
            .collect();
        format!(
            "<fieldset id=\"storage\"><legend>Where the family's data lives</legend>\
<label class=\"check\"><input type=\"radio\" name=\"storage\" id=\"storage-card\" value=\"card\" checked> On the box's SD card</label>{choices}\
<p class=\"warning\"><b>Choosing a disk erases everything on it.</b> Hearth formats it for the family's data and the box restarts to move what is already here (about a minute; this page comes back by itself). The copy on the SD card stays as it is. Keep the disk plugged in from then on.</p>\
<label class=\"check\"><input type=\"checkbox\" id=\"erase\" name=\"erase\" value=\"1\"> Yes, erase the chosen disk</label></fieldset>"
        )
    };
    (
        "Time and storage",
        format!(
            "{}{}{}",
            steps(4),
            err(error),
            form(
                "place",
                &format!(
                    "<label for=\"timezone\">Time zone</label><select id=\"timezone\" name=\"timezone\">{options}</select>{storage}{}",
                    public_name(p)
                ),
                ("next", "Continue")
            )
        ),
    )
}

/// The optional TLS choice: the box's own certificate authority (default), or a public name
/// with a certificate from Let's Encrypt (`appliance::acme`).
fn public_name(p: &Progress) -> String {
    let a = p.acme.clone().unwrap_or_default();
    let sel = |v: &str| if a.challenge == v { " selected" } else { "" };
    format!(
        "<details id=\"tls\"{}><summary>Reaching the box from outside (optional)</summary>\
<p>At home the box uses its own certificate, which each device trusts once. If the box also has a public name (your router forwards a port to it), Hearth can get a certificate every device trusts from Let's Encrypt. Leave this empty if unsure; the system page can do it later.</p>\
<label for=\"public_name\">Public name</label><input id=\"public_name\" name=\"public_name\" value=\"{}\" placeholder=\"family.example.org\">\
<label for=\"acme_challenge\">Port forwarded to the box</label><select id=\"acme_challenge\" name=\"acme_challenge\">\
<option value=\"http-01\"{}>80 (HTTP)</option><option value=\"tls-alpn-01\"{}>443 (HTTPS)</option></select>\
<label for=\"acme_email\">E-mail for expiry warnings (optional)</label><input id=\"acme_email\" name=\"acme_email\" type=\"email\" value=\"{}\"></details>",
        if p.acme.is_some() { " open" } else { "" },
        esc(&a.domains.join(" ")),
        sel("http-01"),
        sel("tls-alpn-01"),
        esc(&a.email)
    )
}

pub enum Placed {
    /// On to the mail page.
    Next,
    /// A disk was chosen: the box restarts to move the data.
    Restart,
}

pub fn post(ctx: &Ctx, p: &mut Progress, params: &Params) -> Result<Placed, String> {
    let tz = params.get("timezone").unwrap_or("UTC");
    if !ZONES.contains(&tz) {
        return Err("Please pick a time zone from the list.".into());
    }
    p.timezone = tz.to_owned();
    let public = params.get("public_name").unwrap_or("").trim();
    p.acme = if public.is_empty() {
        None
    } else {
        let typed = crate::config::AcmeConfig {
            directory: "letsencrypt".into(),
            domains: public.split([' ', ',']).map(str::to_owned).collect(),
            email: params.get("acme_email").unwrap_or("").trim().to_owned(),
            challenge: params.get("acme_challenge").unwrap_or("http-01").to_owned(),
            ..crate::config::AcmeConfig::default()
        };
        Some(crate::appliance::acme::validate(typed)?)
    };
    let choice = params.get("storage").unwrap_or("card");
    if choice == "card" {
        p.step = 3;
        return Ok(Placed::Next);
    }
    let Some(disk) = disks().into_iter().find(|d| d.name == choice) else {
        return Err(
            "That disk is not available any more (was it unplugged?). Choose again.".into(),
        );
    };
    if params.get("erase") != Some("1") {
        return Err(format!(
            "Tick \"Yes, erase the chosen disk\" to use {}: everything on it will be erased.",
            disk.describe()
        ));
    }
    if let Err(e) = storage::request_move(&ctx.app.data_dir, &disk) {
        tracing::error!(error = %e, "recording the storage choice");
        return Err("The choice could not be saved; the details are in the box's log.".into());
    }
    tracing::info!(disk = %disk.describe(), "data to move to a disk at the next boot");
    p.moving_to = disk.describe();
    Ok(Placed::Restart)
}

/// After the restart: the move's outcome decides whether the wizard goes on (step 3) or shows
/// the page again with the reason. Returns the error to show, if any.
pub fn settle(ctx: &Ctx, p: &mut Progress) -> Option<String> {
    if p.moving_to.is_empty() {
        return None;
    }
    match storage::take_outcome(&ctx.app.data_dir) {
        Some(Outcome::Moved(what)) => {
            p.storage_note = format!("The family's data now lives on the {what}.");
            p.moving_to.clear();
            p.step = 3;
            None
        }
        Some(Outcome::Failed(why)) => {
            p.moving_to.clear();
            Some(format!(
                "The data could not be moved: {why}. It is still on the SD card."
            ))
        }
        // Not restarted yet (or the move request was lost): keep waiting while it is pending.
        None if storage::move_pending(&ctx.app.data_dir) => None,
        None => {
            p.moving_to.clear();
            Some("The box restarted without moving the data; it is still on the SD card.".into())
        }
    }
}

/// The page shown while the box restarts to move the data; it reloads itself.
pub fn moving_page(p: &Progress) -> Resp {
    let body = format!(
        "{}<p id=\"moving\" role=\"status\">The box is restarting to move the family's data to the {}. This takes a minute or two (longer for a big disk); this page comes back by itself. Please do not unplug the box or the disk.</p>",
        steps(4),
        esc(&p.moving_to)
    );
    let html = common::page("Moving the data", &body).replacen(
        "<head>",
        "<head><meta http-equiv=\"refresh\" content=\"10;url=/setup\">",
        1,
    );
    response::html(StatusCode::OK, html)
}
