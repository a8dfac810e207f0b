//! Notifications (the OCS notifications API the mobile apps and the web poll) and mail through
//! the configured SMTP server. Services call [`Notify::notify`]; nothing here knows HTTP.

pub mod mail;
pub mod model;

pub use model::Notification;

use std::sync::Arc;

use crate::config::MailConfig;
use crate::schema::USERID_NOTIFID_NOTIFICATION;
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("no such notification")]
    NotFound,
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl crate::error::Categorized for NotifyError {
    fn category(&self) -> crate::error::Category {
        match self {
            NotifyError::NotFound => crate::error::Category::NotFound,
            NotifyError::Store(_) => crate::error::Category::Internal,
        }
    }
}

pub struct Notify {
    store: Arc<Store>,
    mail: std::sync::RwLock<MailConfig>,
    /// The configuration file (or environment) names a mail server: it wins over what the
    /// wizard saved, and the wizard says so.
    pub mail_from_config: bool,
}

/// Where the wizard's mail settings are kept (store meta, JSON).
const MAIL_SETTINGS: &str = "mail_settings";

/// Most notifications kept per user; the oldest go first.
const KEEP: usize = 500;

impl Notify {
    pub fn new(store: Arc<Store>, mail: MailConfig) -> Notify {
        let mail_from_config = !mail.host.is_empty();
        let mail = if mail_from_config {
            mail
        } else {
            store
                .read(|tx| tx.meta(MAIL_SETTINGS))
                .ok()
                .flatten()
                .and_then(|raw| serde_json::from_str(&raw).ok())
                .unwrap_or(mail)
        };
        Notify {
            store,
            mail: std::sync::RwLock::new(mail),
            mail_from_config,
        }
    }

    /// The mail server in use now.
    pub fn mail(&self) -> MailConfig {
        self.mail.read().map(|m| m.clone()).unwrap_or_default()
    }

    /// Saves mail settings made in the wizard and uses them from now on (unless the
    /// configuration file names a server, which wins).
    pub fn set_mail(&self, m: MailConfig) -> Result<(), crate::store::StoreError> {
        let raw = serde_json::to_string(&m).unwrap_or_default();
        self.store.write(|tx| tx.set_meta(MAIL_SETTINGS, &raw))?;
        if !self.mail_from_config
            && let Ok(mut g) = self.mail.write()
        {
            *g = m;
        }
        Ok(())
    }

    pub fn notify(
        &self,
        uid: &str,
        app: &str,
        subject: &str,
        message: &str,
        object: (&str, &str),
    ) -> Result<u64, NotifyError> {
        let created = crate::clock::now_secs();
        self.store.write(|tx| {
            let id = tx.next_id("notification_seq")?;
            tx.put(
                &USERID_NOTIFID_NOTIFICATION,
                &crate::schema::notification_key(uid, id),
                &Notification {
                    id,
                    app: app.to_owned(),
                    subject: subject.to_owned(),
                    message: message.to_owned(),
                    object_type: object.0.to_owned(),
                    object_id: object.1.to_owned(),
                    created,
                },
            )?;
            let keys = tx.keys(
                &USERID_NOTIFID_NOTIFICATION,
                &crate::schema::notifications_of(uid),
            )?;
            for old in keys.iter().take(keys.len().saturating_sub(KEEP)) {
                tx.delete(&USERID_NOTIFID_NOTIFICATION, old)?;
            }
            Ok::<_, NotifyError>(id)
        })
    }

    /// A user's notifications, newest first.
    pub fn list(&self, uid: &str) -> Result<Vec<Notification>, NotifyError> {
        let mut out = Vec::new();
        self.store.read(|tx| {
            tx.scan(
                &USERID_NOTIFID_NOTIFICATION,
                &crate::schema::notifications_of(uid),
                |_, n| {
                    out.push(n);
                    true
                },
            )
        })?;
        out.reverse();
        Ok(out)
    }

    pub fn dismiss(&self, uid: &str, id: u64) -> Result<(), NotifyError> {
        self.store.write(|tx| {
            if tx.delete(
                &USERID_NOTIFID_NOTIFICATION,
                &crate::schema::notification_key(uid, id),
            )? {
                Ok(())
            } else {
                Err(NotifyError::NotFound)
            }
        })
    }

    pub fn dismiss_all(&self, uid: &str) -> Result<(), NotifyError> {
        self.store.write(|tx| {
            tx.delete_prefix(
                &USERID_NOTIFID_NOTIFICATION,
                &crate::schema::notifications_of(uid),
            )?;
            Ok(())
        })
    }
}

/// What the reminder job uses: the calendars it reads, the accounts it mails, and the
/// notifications it writes.
pub struct ReminderJob {
    pub groupware: Arc<crate::groupware::Groupware>,
    pub accounts: Arc<crate::accounts::Accounts>,
    pub notify: Arc<Notify>,
}

/// Fires calendar reminders: the due ones become a notification for the calendar's owner
/// and, for EMAIL alarms or when the owner has an address and mail is set up, an e-mail.
/// Each reminder is taken out of the index before it is delivered (at most once; a crash in
/// between loses one reminder rather than repeating it).
///
/// Between runs the job sleeps until the next reminder is due or a calendar object changes,
/// but never longer than [`REMINDER_RECHECK`]: the wall clock can jump (a box that booted
/// with its RTC at 2000 sets it from the network), and a sleep is measured on the monotonic
/// clock.
pub async fn reminder_loop(job: Arc<ReminderJob>) {
    const BATCH: usize = 100;
    loop {
        let a = job.clone();
        let taken = tokio::task::spawn_blocking(move || {
            let due = a
                .groupware
                .take_due_reminders(crate::clock::now_secs(), BATCH)?;
            Ok::<_, crate::groupware::GroupwareError>((due, a.groupware.next_reminder_at()?))
        })
        .await;
        let (due, next) = match taken {
            Ok(Ok(t)) => t,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "reminders: index unreadable");
                (Vec::new(), None)
            }
            Err(_) => (Vec::new(), None),
        };
        let more = due.len() == BATCH;
        for r in due {
            deliver(&job, r).await;
        }
        if more {
            continue;
        }
        let wait = next.map_or(REMINDER_RECHECK.as_secs(), |at| {
            at.saturating_sub(crate::clock::now_secs())
                .clamp(1, REMINDER_RECHECK.as_secs() as i64) as u64
        });
        tokio::select! {
            _ = tokio::time::sleep(std::time::Duration::from_secs(wait)) => {}
            _ = job.groupware.reminders_changed.notified() => {}
        }
    }
}

/// The longest the reminder job sleeps without looking at the index again.
const REMINDER_RECHECK: std::time::Duration = std::time::Duration::from_secs(60);

async fn deliver(job: &ReminderJob, r: crate::groupware::Reminder) {
    let when = crate::groupware::expand::utc_stamp(r.start);
    let when = format!(
        "{}-{}-{} {}:{} UTC",
        &when[0..4],
        &when[4..6],
        &when[6..8],
        &when[9..11],
        &when[11..13]
    );
    let subject = format!(
        "Reminder: {}",
        if r.summary.is_empty() {
            "(untitled)"
        } else {
            &r.summary
        }
    );
    let message = format!(
        "{} starts at {when}.",
        if r.summary.is_empty() {
            "An event"
        } else {
            &r.summary
        }
    );
    let object = format!("{}/{}", r.calendar, r.uri);
    for user in recipients(job, &r) {
        if let Err(e) = job.notify.notify(
            &user,
            "dav",
            &subject,
            &message,
            ("calendar-object", &object),
        ) {
            tracing::warn!(error = %e, user = %user, "reminder notification failed");
        }
        let email = job
            .accounts
            .user(&user)
            .ok()
            .and_then(|u| u.email)
            .filter(|e| !e.is_empty());
        let server = job.notify.mail();
        if let (Some(to), false) = (email, server.host.is_empty()) {
            match mail::send(&server, &to, &subject, &message, None).await {
                Ok(()) => tracing::info!(user = %user, summary = %r.summary, "reminder mailed"),
                Err(e) => tracing::warn!(error = %e, user = %user, "reminder mail failed"),
            }
        }
    }
    tracing::info!(user = %r.owner, summary = %r.summary, action = %r.action, "reminder fired");
}

/// Who is reminded: the calendar's owner and everyone it is shared with read-write (directly
/// or through a group); read-only sharees are not (as in Nextcloud).
fn recipients(job: &ReminderJob, r: &crate::groupware::Reminder) -> Vec<String> {
    let mut out = vec![r.owner.clone()];
    let Ok(c) = job
        .groupware
        .collection(&r.owner, crate::groupware::Kind::Calendar, &r.calendar)
    else {
        return out;
    };
    for share in c.shares.iter().filter(|s| s.write) {
        let users = match share.sharee.split_once('/') {
            Some(("users", u)) => vec![u.to_owned()],
            Some(("groups", g)) => job.accounts.group_members(g).unwrap_or_default(),
            _ => Vec::new(),
        };
        for u in users {
            if !c.declined.contains(&u) && !out.contains(&u) {
                out.push(u);
            }
        }
    }
    out
}
