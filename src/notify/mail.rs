//! Sending mail with lettre over rustls. The SMTP host is resolved with hickory (pure Rust),
//! then lettre connects to the address and checks the certificate against the host name.

use std::net::IpAddr;
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

use crate::config::MailConfig;

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("no mail server is configured (set [mail] host and from)")]
    NotConfigured,
    #[error("{0:?} is not a valid address")]
    BadAddress(String),
    #[error("cannot find the mail server {host}: {reason}")]
    Resolve { host: String, reason: String },
    #[error("the mail server refused or failed: {0}")]
    Smtp(String),
}

/// An iCalendar part (invitations: `METHOD:REQUEST` and friends).
pub struct Calendar {
    pub method: String,
    pub text: String,
}

async fn resolve(host: &str) -> Result<IpAddr, MailError> {
    crate::net::resolve(host.trim_matches(['[', ']']))
        .await
        .map_err(|e| MailError::Resolve {
            host: host.to_owned(),
            reason: match e {
                crate::net::FetchError::Resolve { reason, .. } => reason,
                other => other.to_string(),
            },
        })
}

pub async fn send(
    cfg: &MailConfig,
    to: &str,
    subject: &str,
    text: &str,
    calendar: Option<Calendar>,
) -> Result<(), MailError> {
    if cfg.host.is_empty() || cfg.from.is_empty() {
        return Err(MailError::NotConfigured);
    }
    let from: Mailbox = cfg
        .from
        .parse()
        .map_err(|_| MailError::BadAddress(cfg.from.clone()))?;
    let to_box: Mailbox = to
        .parse()
        .map_err(|_| MailError::BadAddress(to.to_owned()))?;
    let builder = Message::builder().from(from).to(to_box).subject(subject);
    let message = match calendar {
        None => builder.singlepart(SinglePart::plain(text.to_owned())),
        Some(cal) => {
            let ctype = format!("text/calendar; charset=utf-8; method={}", cal.method);
            let ct = ContentType::parse(&ctype).map_err(|e| MailError::Smtp(e.to_string()))?;
            builder.multipart(
                MultiPart::mixed()
                    .singlepart(SinglePart::plain(text.to_owned()))
                    .singlepart(
                        SinglePart::builder()
                            .header(ct.clone())
                            .body(cal.text.clone()),
                    )
                    .singlepart(Attachment::new("invite.ics".into()).body(cal.text, ct)),
            )
        }
    }
    .map_err(|e| MailError::Smtp(e.to_string()))?;
    let ip = resolve(&cfg.host).await?;
    let tls_params =
        || TlsParameters::new(cfg.host.clone()).map_err(|e| MailError::Smtp(e.to_string()));
    let tls = match cfg.security.as_str() {
        "none" => Tls::None,
        "tls" => Tls::Wrapper(tls_params()?),
        _ => Tls::Required(tls_params()?),
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(ip.to_string())
        .port(cfg.port)
        .tls(tls)
        .timeout(Some(Duration::from_secs(20)));
    if !cfg.username.is_empty() {
        transport =
            transport.credentials(Credentials::new(cfg.username.clone(), cfg.password.clone()));
    }
    transport
        .build()
        .send(message)
        .await
        .map(|_| ())
        .map_err(|e| MailError::Smtp(e.to_string()))
}
