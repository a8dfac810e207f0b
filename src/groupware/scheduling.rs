//! Implicit scheduling (RFC 6638, the parts families use): when an organizer stores an event
//! with attendees, attendees who are users of the box find it in their calendar and a
//! `METHOD:REQUEST` copy in their schedule inbox; when an attendee changes their own
//! participation status, the organizer's copy follows and a `METHOD:REPLY` lands in the
//! organizer's inbox. Attendees outside the box are returned as iMIP mails for `notify` to
//! send. Deleting an organized event cancels it for everyone.
//!
//! Only the owner of a calendar schedules from it (no delegation), as the manual says.

use super::content::{self, Comp, write_comp};
use super::{Collection, Conditions, Groupware, GroupwareError, Kind, Result};

/// The schedule inbox's name inside a calendar home.
pub const INBOX: &str = "inbox";
/// The schedule outbox (free-busy requests are POSTed there).
pub const OUTBOX: &str = "outbox";

/// An iMIP message for someone outside the box.
#[derive(Debug, Clone)]
pub struct Outgoing {
    pub to: String,
    pub subject: String,
    pub method: &'static str,
    pub ics: String,
}

/// `mailto:Bob@X` → `bob@x`; principal URLs are kept as paths.
pub fn normalize_address(v: &str) -> String {
    let v = v.trim();
    match v.get(..7) {
        Some(p) if p.eq_ignore_ascii_case("mailto:") => v[7..].to_ascii_lowercase(),
        _ => v.to_ascii_lowercase(),
    }
}

fn main_event(root: &Comp) -> Option<&Comp> {
    let events: Vec<&Comp> = root
        .children
        .iter()
        .filter(|c| matches!(c.name.as_str(), "VEVENT" | "VTODO"))
        .collect();
    events
        .iter()
        .find(|c| c.props_named("RECURRENCE-ID").next().is_none())
        .or(events.first())
        .copied()
}

fn organizer(ev: &Comp) -> Option<String> {
    ev.props_named("ORGANIZER")
        .next()
        .map(|p| normalize_address(&p.value))
}

fn attendees(ev: &Comp) -> Vec<(String, String)> {
    ev.props_named("ATTENDEE")
        .map(|p| {
            let partstat = p
                .params
                .iter()
                .find(|(k, _)| k == "PARTSTAT")
                .map(|(_, v)| v.to_ascii_uppercase())
                .unwrap_or_else(|| "NEEDS-ACTION".into());
            (normalize_address(&p.value), partstat)
        })
        .collect()
}

/// The text with `METHOD` set (or removed with `None`) on the VCALENDAR.
fn with_method(root: &Comp, method: Option<&str>) -> String {
    let mut r = root.clone();
    r.props.retain(|p| p.name != "METHOD");
    if let Some(m) = method {
        r.props.push(content::Prop {
            name: "METHOD".into(),
            params: Vec::new(),
            value: m.into(),
        });
    }
    let mut out = String::new();
    write_comp(&mut out, &r);
    out
}

/// Sets `address`'s PARTSTAT in every component of `root`.
fn set_partstat(root: &mut Comp, address: &str, partstat: &str) {
    for c in root.children.iter_mut() {
        for p in c.props.iter_mut().filter(|p| p.name == "ATTENDEE") {
            if normalize_address(&p.value) == address {
                p.params.retain(|(k, _)| k != "PARTSTAT");
                p.params.push(("PARTSTAT".into(), partstat.into()));
            }
        }
    }
}

/// A new object name derived from a UID.
fn fresh_name(uid: &str) -> String {
    let stem: String = uid
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(80)
        .collect();
    format!("{stem}-{:08x}.ics", rand::random::<u32>())
}

fn summary_of(ev: &Comp) -> String {
    ev.props_named("SUMMARY")
        .next()
        .map(|p| p.text())
        .unwrap_or_else(|| "an event".into())
}

impl Groupware {
    /// The user's schedule inbox, made on first use.
    pub fn inbox(&self, owner: &str) -> Result<Collection> {
        match self.collection(owner, Kind::Calendar, INBOX) {
            Ok(c) => Ok(c),
            Err(GroupwareError::NotFound) => {
                match self.create_collection(owner, Kind::Calendar, INBOX, |c| {
                    c.displayname = "Inbox".into();
                }) {
                    Ok(c) => Ok(c),
                    Err(GroupwareError::AlreadyExists) => {
                        self.collection(owner, Kind::Calendar, INBOX)
                    }
                    Err(e) => Err(e),
                }
            }
            Err(e) => Err(e),
        }
    }

    /// Where a user keeps the object with this UID, if anywhere (inbox excluded).
    fn find_by_uid(&self, owner: &str, uid: &str) -> Result<Option<(Collection, String)>> {
        for c in self.collections(owner, Kind::Calendar)? {
            if c.uri == INBOX {
                continue;
            }
            let key = super::obj_key(c.id, uid);
            if let Some(uri) = self
                .store
                .read(|tx| tx.get(&crate::schema::COLLID_UID_URI, &key))?
            {
                return Ok(Some((c, uri)));
            }
        }
        Ok(None)
    }

    /// Stores `text` as `uid`'s object in the user's calendar (their existing copy, else the
    /// first calendar that takes events), without scheduling again.
    fn deliver_copy(&self, user: &str, uid: &str, uri_hint: &str, text: &str) -> Result<()> {
        let (coll, uri) = match self.find_by_uid(user, uid)? {
            Some(found) => found,
            None => {
                self.ensure_defaults(user)?;
                let coll = self
                    .collections(user, Kind::Calendar)?
                    .into_iter()
                    .filter(|c| c.uri != INBOX)
                    .find(|c| c.components.iter().any(|x| x == "VEVENT"))
                    .ok_or(GroupwareError::NotFound)?;
                let uri = match self.object(&coll, uri_hint)? {
                    None => uri_hint.to_owned(),
                    Some(_) => fresh_name(uid),
                };
                (coll, uri)
            }
        };
        self.put_object(&coll, &uri, text.as_bytes(), &Conditions::default())?;
        Ok(())
    }

    /// Puts an iTIP message into the user's schedule inbox (replacing an older one for the
    /// same UID).
    fn deliver_inbox(&self, user: &str, uid: &str, text: &str) -> Result<()> {
        let inbox = self.inbox(user)?;
        let key = super::obj_key(inbox.id, uid);
        let uri = self
            .store
            .read(|tx| tx.get(&crate::schema::COLLID_UID_URI, &key))?
            .unwrap_or_else(|| fresh_name(uid));
        self.put_object(&inbox, &uri, text.as_bytes(), &Conditions::default())?;
        Ok(())
    }

    /// Runs after the owner of `coll` stored `text` at `uri`. `mine` are the owner's calendar
    /// addresses; `resolve` maps an address to a user of the box.
    pub fn schedule_after_put(
        &self,
        coll: &Collection,
        uri: &str,
        text: &str,
        mine: &[String],
        resolve: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<Outgoing>> {
        if coll.uri == INBOX {
            return Ok(Vec::new());
        }
        let Ok(root) = content::parse(text) else {
            return Ok(Vec::new());
        };
        let Some(ev) = main_event(&root) else {
            return Ok(Vec::new());
        };
        let (Some(org), Some(uid)) = (organizer(ev), ev.props_named("UID").next()) else {
            return Ok(Vec::new());
        };
        let uid = uid.value.trim().to_owned();
        let mut out = Vec::new();
        if mine.contains(&org) {
            let request = with_method(&root, Some("REQUEST"));
            for (addr, _) in attendees(ev) {
                if mine.contains(&addr) {
                    continue;
                }
                match resolve(&addr).filter(|u| *u != coll.owner) {
                    Some(user) => {
                        // Keep the attendee's own answer when the organizer updates the event.
                        let mut copy = root.clone();
                        copy.props.retain(|p| p.name != "METHOD");
                        if let Some((c, u)) = self.find_by_uid(&user, &uid)?
                            && let Some(data) = self.object_data(c.id, &u)?
                            && let Ok(theirs) = content::parse(&String::from_utf8_lossy(&data))
                            && let Some(their_ev) = main_event(&theirs)
                            && let Some((_, ps)) =
                                attendees(their_ev).into_iter().find(|(a, _)| *a == addr)
                        {
                            set_partstat(&mut copy, &addr, &ps);
                        }
                        let mut copy_text = String::new();
                        write_comp(&mut copy_text, &copy);
                        self.deliver_copy(&user, &uid, uri, &copy_text)?;
                        self.deliver_inbox(&user, &uid, &request)?;
                    }
                    None if addr.contains('@') => out.push(Outgoing {
                        to: addr.clone(),
                        subject: format!("Invitation: {}", summary_of(ev)),
                        method: "REQUEST",
                        ics: request.clone(),
                    }),
                    None => {}
                }
            }
        } else if let Some((me, partstat)) =
            attendees(ev).into_iter().find(|(a, _)| mine.contains(a))
        {
            // An attendee answered: carry the answer to the organizer.
            match resolve(&org) {
                Some(org_user) if org_user != coll.owner => {
                    let Some((oc, ouri)) = self.find_by_uid(&org_user, &uid)? else {
                        return Ok(out);
                    };
                    let Some(data) = self.object_data(oc.id, &ouri)? else {
                        return Ok(out);
                    };
                    let Ok(mut theirs) = content::parse(&String::from_utf8_lossy(&data)) else {
                        return Ok(out);
                    };
                    let current = main_event(&theirs)
                        .and_then(|e| attendees(e).into_iter().find(|(a, _)| *a == me))
                        .map(|(_, p)| p);
                    if current.as_deref() == Some(partstat.as_str()) || current.is_none() {
                        return Ok(out);
                    }
                    set_partstat(&mut theirs, &me, &partstat);
                    let mut updated = String::new();
                    write_comp(&mut updated, &theirs);
                    self.put_object(&oc, &ouri, updated.as_bytes(), &Conditions::default())?;
                    self.deliver_inbox(&org_user, &uid, &with_method(&root, Some("REPLY")))?;
                }
                Some(_) => {}
                None if org.contains('@') => out.push(Outgoing {
                    to: org.clone(),
                    subject: format!("{partstat}: {}", summary_of(ev)),
                    method: "REPLY",
                    ics: with_method(&root, Some("REPLY")),
                }),
                None => {}
            }
        }
        Ok(out)
    }

    /// Runs after the owner deleted an object they organized: cancels it for the attendees.
    pub fn schedule_after_delete(
        &self,
        coll: &Collection,
        old_text: &str,
        mine: &[String],
        resolve: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Vec<Outgoing>> {
        let mut out = Vec::new();
        if coll.uri == INBOX {
            return Ok(out);
        }
        let Ok(mut root) = content::parse(old_text) else {
            return Ok(out);
        };
        let Some(ev) = main_event(&root) else {
            return Ok(out);
        };
        let (Some(org), Some(uid)) = (organizer(ev), ev.props_named("UID").next()) else {
            return Ok(out);
        };
        if !mine.contains(&org) {
            return Ok(out);
        }
        let uid = uid.value.trim().to_owned();
        let atts = attendees(ev);
        let summary = summary_of(ev);
        for c in root.children.iter_mut() {
            c.props.retain(|p| p.name != "STATUS");
            c.props.push(content::Prop {
                name: "STATUS".into(),
                params: Vec::new(),
                value: "CANCELLED".into(),
            });
        }
        let cancel = with_method(&root, Some("CANCEL"));
        for (addr, _) in atts {
            if mine.contains(&addr) {
                continue;
            }
            match resolve(&addr).filter(|u| *u != coll.owner) {
                Some(user) => {
                    if let Some((c, u)) = self.find_by_uid(&user, &uid)? {
                        let _ = self.delete_object(&c, &u, &Conditions::default());
                    }
                    self.deliver_inbox(&user, &uid, &cancel)?;
                }
                None if addr.contains('@') => out.push(Outgoing {
                    to: addr,
                    subject: format!("Cancelled: {summary}"),
                    method: "CANCEL",
                    ics: cancel.clone(),
                }),
                None => {}
            }
        }
        Ok(out)
    }
}

impl Groupware {
    /// Busy periods of a user inside `[from, to)`, over all their calendars except the
    /// inbox and read-only mirrors (birthdays, subscriptions), merged.
    pub fn free_busy(&self, user: &str, from: i64, to: i64) -> Result<Vec<(i64, i64)>> {
        let mut periods = Vec::new();
        for c in self.collections(user, Kind::Calendar)? {
            if c.uri != INBOX && !c.generated {
                self.busy_in(&c, from, to, &mut periods)?;
            }
        }
        Ok(super::expand::merge_periods(periods))
    }

    /// Adds the busy periods of one calendar inside `[from, to)` (unmerged; bounded, so a
    /// range over centuries of an endless event stays small).
    pub fn busy_in(
        &self,
        c: &Collection,
        from: i64,
        to: i64,
        periods: &mut Vec<(i64, i64)>,
    ) -> Result<()> {
        const MAX_PERIODS: usize = 20_000;
        self.for_each_object(c.id, |uri, o| {
            if o.component == "VEVENT"
                && super::ical::overlaps(o.start, o.end, from, to)
                && let Some(d) = self.object_data(c.id, uri)?
            {
                super::expand::busy_periods(&String::from_utf8_lossy(&d), from, to, periods);
            }
            Ok(periods.len() <= MAX_PERIODS)
        })
    }
}
