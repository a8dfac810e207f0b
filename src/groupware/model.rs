//! What the store keeps about calendars, address books and their objects.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::Record;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Calendar,
    Addressbook,
}

impl Kind {
    /// The kind's letter in store keys.
    pub fn key(self) -> &'static str {
        match self {
            Kind::Calendar => "c",
            Kind::Addressbook => "a",
        }
    }
}

/// A calendar or an address book.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Collection {
    pub id: u64,
    pub owner: String,
    pub kind: Kind,
    pub uri: String,
    pub displayname: String,
    #[serde(default)]
    pub description: String,
    /// `apple:calendar-color`, e.g. `#0082c9`.
    #[serde(default)]
    pub color: String,
    /// `apple:calendar-order`.
    #[serde(default)]
    pub order: i64,
    /// Supported components of a calendar (`VEVENT`, `VTODO`, `VJOURNAL`).
    #[serde(default)]
    pub components: Vec<String>,
    /// `cal:calendar-timezone`: a VCALENDAR with one VTIMEZONE, as the client sent it.
    #[serde(default)]
    pub timezone: String,
    /// The number of the last change: the sync token and the CTag.
    pub seq: u64,
    /// Dead properties set with PROPPATCH: Clark name → XML fragment.
    #[serde(default)]
    pub dead: BTreeMap<String, String>,
    pub created: i64,
    /// Who else sees it: `users/{uid}` or `groups/{gid}`, read-only or read-write.
    #[serde(default)]
    pub shares: Vec<Share>,
    /// Users who chose "Unshare from me" on a group share.
    #[serde(default)]
    pub declined: Vec<String>,
    /// Made and kept by Hearth (the birthday calendar): read-only to everyone.
    #[serde(default)]
    pub generated: bool,
    /// A subscription: the outside iCal URL it mirrors (read-only), when it was last fetched
    /// (Unix seconds) and why the last fetch failed, if it did.
    #[serde(default)]
    pub source: Option<String>,
    #[serde(default)]
    pub refreshed: i64,
    #[serde(default)]
    pub refresh_error: Option<String>,
    /// The secret of its public read-only link, when published.
    #[serde(default)]
    pub publish_token: Option<String>,
    /// How the caller sees it (not stored): set when a sharee reaches it under their home.
    #[serde(skip)]
    pub view: Option<SharedView>,
}

impl Record for Collection {}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Share {
    pub sharee: String,
    pub write: bool,
}

/// A shared collection as one sharee sees it: in their own home, under
/// `{uri}_shared_by_{owner}` (Nextcloud's naming).
#[derive(Debug, Clone)]
pub struct SharedView {
    pub home: String,
    pub name: String,
    pub write: bool,
}

impl Collection {
    /// The user whose home the caller reached it through.
    pub fn home_user(&self) -> &str {
        self.view.as_ref().map_or(&self.owner, |v| &v.home)
    }
    /// Its name in that home.
    pub fn name(&self) -> &str {
        self.view.as_ref().map_or(&self.uri, |v| &v.name)
    }
    pub fn writable(&self) -> bool {
        !self.generated && self.view.as_ref().is_none_or(|v| v.write)
    }
    pub fn is_shared_view(&self) -> bool {
        self.view.is_some()
    }
}

/// A calendar object resource or a vCard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Object {
    /// Hex MD5 of the content (the ETag without quotes).
    pub etag: String,
    pub size: u64,
    pub uid: String,
    /// `VEVENT`, `VTODO`, `VJOURNAL`, `VFREEBUSY` or `VCARD`.
    pub component: String,
    /// UTC seconds spanning every instance (`i64::MIN`/`i64::MAX` when open-ended): a
    /// time-range query skips objects outside it without parsing them.
    pub start: i64,
    pub end: i64,
    /// Has RRULE/RDATE or overrides: a span overlap must be confirmed by expanding.
    pub recurring: bool,
    pub modified: i64,
}

impl Record for Object {}

/// The vCard properties kept in the card search table (what contact searches look at).
pub const CARD_INDEX: &[&str] = &[
    "FN",
    "N",
    "NICKNAME",
    "EMAIL",
    "TEL",
    "ORG",
    "UID",
    "CATEGORIES",
    "TITLE",
];

/// One entry of a collection's change log (sync-collection).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub uri: String,
    pub deleted: bool,
}

impl Record for Change {}
/// A reminder to fire (`alarmtime_reminder`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Reminder {
    pub owner: String,
    pub coll_id: u64,
    pub calendar: String,
    pub uri: String,
    pub summary: String,
    /// When the instance starts (Unix seconds).
    pub start: i64,
    pub at: i64,
    pub action: String,
}

impl crate::store::Record for Reminder {}

/// The searchable properties of a card ([`CARD_INDEX`]), packed for the search table:
/// `NAME \x1f raw value \x1e` per property.
pub fn packed_index(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    if let Ok(card) = super::content::parse(text) {
        for p in card
            .props
            .iter()
            .filter(|p| CARD_INDEX.contains(&p.name.as_str()))
        {
            out.extend_from_slice(p.name.as_bytes());
            out.push(0x1f);
            out.extend_from_slice(p.value.replace(['\x1e', '\x1f'], " ").as_bytes());
            out.push(0x1e);
        }
    }
    out
}
