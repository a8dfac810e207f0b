//! Subscriptions to outside calendars (an iCal/webcal link): kept as a read-only calendar
//! whose objects are replaced by what the link serves at each refresh (weekly by default).
//! Fetching is done by the caller (`net`), so this stays free of I/O other than the store.

use std::collections::HashSet;

use super::import::{Report, Splitter};
use super::{Collection, Conditions, Groupware, GroupwareError, Kind, Result};
use crate::schema::USERID_KIND_URI_COLLECTION;

impl Groupware {
    /// Creates a subscription calendar for `url`.
    pub fn subscribe(&self, owner: &str, uri: &str, url: &str, name: &str) -> Result<Collection> {
        let lower = url.to_ascii_lowercase();
        if !["http://", "https://", "webcal://", "webcals://"]
            .iter()
            .any(|p| lower.starts_with(p))
        {
            return Err(GroupwareError::BadRequest(format!(
                "{url:?} is not an http(s) or webcal link"
            )));
        }
        self.create_collection(owner, Kind::Calendar, uri, |c| {
            c.displayname = if name.is_empty() {
                uri.to_owned()
            } else {
                name.to_owned()
            };
            c.source = Some(url.to_owned());
            c.generated = true;
            c.components = vec!["VEVENT".into(), "VTODO".into(), "VJOURNAL".into()];
        })
    }

    /// Subscriptions whose refresh is due at `now`.
    pub fn subscriptions_due(&self, now: i64, every: i64) -> Result<Vec<Collection>> {
        let mut out = Vec::new();
        self.store.read(|tx| {
            tx.scan(&USERID_KIND_URI_COLLECTION, "", |_, c: Collection| {
                if c.source.is_some() && c.refreshed.saturating_add(every) <= now {
                    out.push(c);
                }
                true
            })
        })?;
        Ok(out)
    }

    /// Replaces the subscription's objects with the fetched `.ics` (or records why the fetch
    /// failed; a failed fetch keeps the last good copy and is retried within the hour).
    pub fn refresh_subscription(
        &self,
        c: &Collection,
        fetched: std::result::Result<&str, String>,
        now: i64,
        every: i64,
    ) -> Result<Report> {
        let mut report = Report::default();
        let outcome = match fetched {
            Err(e) => Err(e),
            Ok(text) if !text.trim_start().starts_with("BEGIN:VCALENDAR") => {
                Err("the link did not answer with an iCalendar file".into())
            }
            Ok(text) => {
                let mut splitter = Splitter::new(Kind::Calendar, self.max_object_bytes);
                let mut seen = HashSet::new();
                for line in text.split('\n') {
                    for item in splitter.push(line) {
                        self.import_item(c, item, &mut seen, &mut report);
                    }
                }
                for item in splitter.finish() {
                    self.import_item(c, item, &mut seen, &mut report);
                }
                // What the link no longer serves goes.
                let keep: HashSet<String> = seen
                    .iter()
                    .filter_map(|uid| {
                        self.store
                            .read(|tx| {
                                tx.get(&crate::schema::COLLID_UID_URI, &super::obj_key(c.id, uid))
                            })
                            .ok()
                            .flatten()
                    })
                    .collect();
                let mut gone = Vec::new();
                self.for_each_object(c.id, |u, _| {
                    if !keep.contains(u) {
                        gone.push(u.to_owned());
                    }
                    Ok(true)
                })?;
                for u in gone {
                    let _ = self.delete_object(c, &u, &Conditions::default());
                }
                Ok(())
            }
        };
        self.update_collection(&c.owner, c.kind, &c.uri, |stored| match &outcome {
            Ok(()) => {
                stored.refreshed = now;
                stored.refresh_error = None;
            }
            Err(e) => {
                stored.refreshed = now - every + 3600.min(every);
                stored.refresh_error = Some(e.clone());
            }
        })?;
        Ok(report)
    }
}
