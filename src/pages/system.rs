//! The system page for administrators, and the public health check.

use http::StatusCode;
use serde_json::json;

use super::common::{error_page, esc, page};
use crate::http::{Ctx, Resp, response};

fn bytes(n: u64) -> String {
    #[allow(clippy::cast_precision_loss)]
    let f = n as f64;
    match n {
        0..=1_048_575 => format!("{:.0} KiB", f / 1024.0),
        1_048_576..=1_073_741_823 => format!("{:.0} MiB", f / 1_048_576.0),
        _ => format!("{:.1} GiB", f / 1_073_741_824.0),
    }
}

pub async fn system_page(ctx: &Ctx) -> Resp {
    let dir = ctx.app.data_dir.clone();
    let Ok(s) = tokio::task::spawn_blocking(move || crate::appliance::system::snapshot(&dir)).await
    else {
        return error_page(
            StatusCode::INTERNAL_SERVER_ERROR,
            "System",
            "The figures could not be read.",
        );
    };
    let mdns = ctx
        .app
        .mdns
        .get()
        .and_then(|m| {
            m.lock()
                .ok()
                .and_then(|g| g.as_ref().map(|m| m.current_name()))
        })
        .unwrap_or_else(|| "not announced (mDNS is off)".into());
    let disks: String = s
        .disks
        .iter()
        .map(|d| {
            format!(
                "<tr{}><td>{}</td><td>{} of {} used ({} %)</td><td>{}</td></tr>",
                if d.warning().is_some() {
                    " class=\"warn\""
                } else {
                    ""
                },
                esc(&d.mount),
                bytes(d.used),
                bytes(d.total),
                d.percent(),
                d.warning().unwrap_or("")
            )
        })
        .collect();
    let errors = ctx.app.recent_errors.lines();
    let errors = if errors.is_empty() {
        "<p>None since the last start.</p>".to_owned()
    } else {
        format!("<pre id=\"errors\">{}</pre>", esc(&errors.join("\n")))
    };
    let csrf = super::common::session(ctx).map(|(_, t)| t);
    let updates = super::update::section(&ctx.app.data_dir, csrf.as_deref());
    let public_cert = super::certificate::section(ctx, csrf.as_deref());
    let cert = match s.certificate_days_left {
        Some(d) => format!("expires in {d} days (renewed automatically 30 days before)"),
        None => "no certificate from the box's own authority".into(),
    };
    let body = format!(
        "<table id=\"system\">\
<tr><td>Hearth</td><td>version {}</td></tr>\
<tr><td>Running for</td><td>{} h {} min</td></tr>\
<tr><td>Processor</td><td>{:.0} % busy; load {:.2} {:.2} {:.2}</td></tr>\
<tr><td>Temperature</td><td>{}</td></tr>\
<tr><td>Memory</td><td>{} of {} used; Hearth itself {}</td></tr>\
<tr><td>Name on the network</td><td>{}</td></tr>\
<tr><td>Certificate</td><td>{}</td></tr></table>\
<h2>Storage</h2><table id=\"disks\">{disks}</table>{public_cert}{updates}<h2>Recent problems</h2>{errors}",
        s.version,
        s.uptime_secs / 3600,
        s.uptime_secs % 3600 / 60,
        s.cpu_percent,
        s.load.0,
        s.load.1,
        s.load.2,
        s.temperature_c
            .map_or_else(|| "no sensor".to_owned(), |t| format!("{t:.0} °C")),
        bytes(s.memory_used),
        bytes(s.memory_total),
        s.hearth_rss.map_or_else(|| "?".into(), bytes),
        esc(&mdns),
        cert
    );
    response::html(StatusCode::OK, page("System", &body))
}

/// `/health`: for monitors and the image's supervisor; says whether the store answers and
/// nothing else.
pub fn health(ctx: &Ctx) -> Resp {
    match ctx.app.accounts.is_installed() {
        Ok(_) => response::json(StatusCode::OK, &json!({"status": "ok"})),
        Err(e) => {
            tracing::error!(error = %e, "health check: the store does not answer");
            response::json(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({"status": "unavailable"}),
            )
        }
    }
}
