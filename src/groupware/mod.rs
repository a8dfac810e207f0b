//! Calendars and address books: collections, their objects, change logs for sync-collection,
//! and the rules (one UID per object and per collection, size limits, supported components).
//! Knows nothing about HTTP; the DAV surface calls it with the owner already checked.

mod birthdays;
pub mod content;
pub mod expand;
mod export;
pub mod filter;
pub mod ical;
pub mod import;
pub mod model;
mod reminders;
pub mod scheduling;
mod sharing;
pub mod subscriptions;
pub mod vcard;

use std::sync::Arc;

use md5::{Digest, Md5};

pub use birthdays::BIRTHDAYS;
pub use model::{CARD_INDEX, Change, Collection, Kind, Object, Reminder, Share, SharedView};

use std::borrow::Cow;

use crate::accounts::Actor;
use crate::accounts::access::{Action, Denial, owner_only};
use crate::error::{Categorized, Category};
use crate::schema::{
    COLLID_SEQ_CHANGE, COLLID_UID_URI, COLLID_URI_CARDSEARCH, COLLID_URI_DATA, COLLID_URI_OBJECT,
    PUBLICTOKEN_COLLKEY, USERID_KIND_URI_COLLECTION,
};
use crate::schema::{collection_key as coll_key, object_key as obj_key};
use crate::store::{Store, StoreError, WriteTx};

/// Calendars and address books of others are hidden (404, as Nextcloud answers for a home
/// that is not yours); a collection shared read-only refuses writes (403).
const NOT_YOUR_HOME: Denial = Denial::Hidden("No calendar or address book of yours is here");
const READ_ONLY: Denial =
    Denial::Forbidden("This calendar or address book is shared with you read-only");

/// The standard precondition a refused object violates (RFC 4791 §5.3.2.1, RFC 6352 §6.3.2.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Precondition {
    ValidCalendarData,
    ValidCalendarObjectResource,
    SupportedCalendarComponent,
    CalendarMaxResourceSize,
    ValidAddressData,
    AddressbookMaxResourceSize,
}

#[derive(Debug, thiserror::Error)]
pub enum GroupwareError {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    #[error("already exists")]
    AlreadyExists,
    #[error("the resource changed since you last saw it")]
    PreconditionFailed,
    #[error("{1}")]
    Invalid(Precondition, String),
    #[error("the UID is already used by {uri} in this collection")]
    UidConflict { kind: Kind, uri: String },
    #[error("{0}")]
    BadRequest(String),
    #[error("the sync token is not valid for this collection")]
    InvalidSyncToken,
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type Result<T, E = GroupwareError> = std::result::Result<T, E>;

impl Categorized for GroupwareError {
    fn category(&self) -> Category {
        match self {
            GroupwareError::NotFound => Category::NotFound,
            GroupwareError::Forbidden(_)
            | GroupwareError::UidConflict { .. }
            | GroupwareError::InvalidSyncToken => Category::Forbidden,
            GroupwareError::Invalid(
                Precondition::CalendarMaxResourceSize | Precondition::AddressbookMaxResourceSize,
                _,
            ) => Category::TooLarge,
            GroupwareError::Invalid(..) => Category::Forbidden,
            GroupwareError::AlreadyExists => Category::AlreadyExists,
            GroupwareError::PreconditionFailed => Category::PreconditionFailed,
            GroupwareError::BadRequest(_) => Category::BadRequest,
            GroupwareError::Store(_) => Category::Internal,
        }
    }

    fn public_message(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            GroupwareError::NotFound => "Not found",
            GroupwareError::AlreadyExists => "The resource you tried to create already exists",
            GroupwareError::PreconditionFailed => "The resource changed since you last saw it",
            GroupwareError::InvalidSyncToken => {
                "The sync token is not valid for this collection; sync again from the start"
            }
            GroupwareError::Forbidden(m)
            | GroupwareError::BadRequest(m)
            | GroupwareError::Invalid(_, m) => m,
            GroupwareError::UidConflict { uri, .. } => {
                return Cow::Owned(format!(
                    "An object with the same UID already exists in this collection ({uri})"
                ));
            }
            GroupwareError::Store(_) => return Cow::Owned(self.to_string()),
        })
    }
}

/// Conditions a write must meet (`If-Match` / `If-None-Match`).
#[derive(Debug, Default, Clone)]
pub struct Conditions {
    /// ETag without quotes, or `*`.
    pub if_match: Option<String>,
    /// Only `*` is meaningful for a PUT: create, never overwrite.
    pub if_none_match_any: bool,
}

pub struct Groupware {
    store: Arc<Store>,
    /// Largest object accepted, in bytes.
    pub max_object_bytes: usize,
    /// Raised when a calendar object's reminders were indexed anew, so the reminder job can
    /// sleep until the next one is due instead of polling.
    pub reminders_changed: tokio::sync::Notify,
}

/// A collection or object name: one path segment, printable, at most 255 bytes.
pub fn valid_name(uri: &str) -> bool {
    !uri.is_empty()
        && uri.len() <= 255
        && uri != "."
        && uri != ".."
        && !uri.contains(['/', '\\'])
        && !uri.chars().any(char::is_control)
}

impl Groupware {
    /// Whether `actor` may reach `owner`'s homes and what is in them: only the owner does
    /// (shared collections are reached through the sharee's own home, `resolve`).
    pub fn authorize_home(&self, actor: &Actor, owner: &str) -> std::result::Result<(), Denial> {
        owner_only(actor, owner, NOT_YOUR_HOME).map(|_| ())
    }

    /// Whether `action` may be done to a collection as it was resolved for the asking user
    /// (their own, or shared with them read-only or read-write; generated ones are read-only).
    pub fn authorize(&self, c: &Collection, action: Action) -> std::result::Result<(), Denial> {
        match action {
            Action::Read => Ok(()),
            _ if c.writable() => Ok(()),
            _ => Err(READ_ONLY),
        }
    }

    pub fn new(store: Arc<Store>, max_object_bytes: usize) -> Groupware {
        Groupware {
            store,
            max_object_bytes,
            reminders_changed: tokio::sync::Notify::new(),
        }
    }

    /// Creates the default calendar ("personal") and address book ("contacts") the first
    /// time a user's homes are looked at, as Nextcloud does.
    pub fn ensure_defaults(&self, owner: &str) -> Result<()> {
        // A meta key: `groupware_defaults \0 owner`.
        let marker = format!("groupware_defaults\0{owner}");
        if self.store.read(|tx| tx.meta(&marker))?.is_some() {
            return Ok(());
        }
        let missing = |kind: Kind| -> Result<bool> {
            let mut any = false;
            self.store.read(|tx| {
                tx.scan(
                    &USERID_KIND_URI_COLLECTION,
                    &crate::schema::collections_of(owner, kind),
                    |_, _| {
                        any = true;
                        false
                    },
                )
            })?;
            Ok(!any)
        };
        let need_cal = missing(Kind::Calendar)?;
        let need_book = missing(Kind::Addressbook)?;
        self.store.write(|tx| -> Result<()> {
            if tx.meta(&marker)?.is_some() {
                return Ok(());
            }
            if need_cal {
                let mut c = new_collection(tx, owner, Kind::Calendar, "personal", "Personal")?;
                c.color = "#0082c9".into();
                c.components = vec!["VEVENT".into(), "VTODO".into()];
                tx.put(
                    &USERID_KIND_URI_COLLECTION,
                    &coll_key(owner, c.kind, &c.uri),
                    &c,
                )?;
            }
            if need_book {
                let c = new_collection(tx, owner, Kind::Addressbook, "contacts", "Contacts")?;
                tx.put(
                    &USERID_KIND_URI_COLLECTION,
                    &coll_key(owner, c.kind, &c.uri),
                    &c,
                )?;
            }
            // Created once: a user who deletes them later is not given new ones behind their back.
            tx.set_meta(&marker, "1")?;
            Ok(())
        })
    }

    pub fn collections(&self, owner: &str, kind: Kind) -> Result<Vec<Collection>> {
        let mut out = Vec::new();
        self.store.read(|tx| {
            tx.scan(
                &USERID_KIND_URI_COLLECTION,
                &crate::schema::collections_of(owner, kind),
                |_, c| {
                    out.push(c);
                    true
                },
            )
        })?;
        Ok(out)
    }

    pub fn collection(&self, owner: &str, kind: Kind, uri: &str) -> Result<Collection> {
        self.store
            .read(|tx| tx.get(&USERID_KIND_URI_COLLECTION, &coll_key(owner, kind, uri)))?
            .ok_or(GroupwareError::NotFound)
    }

    /// Creates a collection; `setup` fills in the properties sent with MKCALENDAR/MKCOL.
    pub fn create_collection(
        &self,
        owner: &str,
        kind: Kind,
        uri: &str,
        setup: impl FnOnce(&mut Collection),
    ) -> Result<Collection> {
        if !valid_name(uri) {
            return Err(GroupwareError::BadRequest(format!(
                "{uri:?} cannot be a collection name"
            )));
        }
        self.store.write(|tx| {
            let key = coll_key(owner, kind, uri);
            if tx.get(&USERID_KIND_URI_COLLECTION, &key)?.is_some() {
                return Err(GroupwareError::AlreadyExists);
            }
            let mut c = new_collection(tx, owner, kind, uri, uri)?;
            if kind == Kind::Calendar {
                c.components = vec!["VEVENT".into(), "VTODO".into(), "VJOURNAL".into()];
            }
            setup(&mut c);
            tx.put(&USERID_KIND_URI_COLLECTION, &key, &c)?;
            Ok(c)
        })
    }

    /// Changes a collection's properties (PROPPATCH).
    pub fn update_collection(
        &self,
        owner: &str,
        kind: Kind,
        uri: &str,
        change: impl FnOnce(&mut Collection),
    ) -> Result<Collection> {
        self.store.write(|tx| {
            let key = coll_key(owner, kind, uri);
            let mut c = tx
                .get(&USERID_KIND_URI_COLLECTION, &key)?
                .ok_or(GroupwareError::NotFound)?;
            change(&mut c);
            tx.put(&USERID_KIND_URI_COLLECTION, &key, &c)?;
            Ok(c)
        })
    }

    /// Deletes a collection with everything in it.
    pub fn delete_collection(&self, owner: &str, kind: Kind, uri: &str) -> Result<()> {
        if kind == Kind::Addressbook
            && let Ok(book) = self.collection(owner, kind, uri)
        {
            self.book_deleted(&book);
        }
        self.store.write(|tx| {
            let key = coll_key(owner, kind, uri);
            let c = tx
                .get(&USERID_KIND_URI_COLLECTION, &key)?
                .ok_or(GroupwareError::NotFound)?;
            let prefix = crate::schema::objects_of(c.id);
            tx.delete_prefix(&COLLID_URI_OBJECT, &prefix)?;
            tx.delete_prefix_raw(&COLLID_URI_DATA, &prefix)?;
            tx.delete_prefix_raw(&COLLID_URI_CARDSEARCH, &prefix)?;
            tx.delete_prefix(&COLLID_UID_URI, &prefix)?;
            tx.delete_prefix(&COLLID_SEQ_CHANGE, &prefix)?;
            reminders::drop_collection(tx, c.id)?;
            if let Some(t) = &c.publish_token {
                tx.delete(&PUBLICTOKEN_COLLKEY, t)?;
            }
            tx.delete(&USERID_KIND_URI_COLLECTION, &key)?;
            Ok(())
        })
    }

    pub fn object(&self, coll: &Collection, uri: &str) -> Result<Option<Object>> {
        Ok(self
            .store
            .read(|tx| tx.get(&COLLID_URI_OBJECT, &obj_key(coll.id, uri)))?)
    }

    /// An object's metadata and (when `with_data`) its text, read in one transaction.
    pub fn object_with_data(
        &self,
        coll: &Collection,
        uri: &str,
        with_data: bool,
    ) -> Result<Option<(Object, Option<Vec<u8>>)>> {
        let key = obj_key(coll.id, uri);
        Ok(self.store.read(|tx| {
            let Some(o) = tx.get(&COLLID_URI_OBJECT, &key)? else {
                return Ok(None);
            };
            let data = if with_data {
                tx.get_raw(&COLLID_URI_DATA, &key)?
            } else {
                None
            };
            Ok(Some((o, data)))
        })?)
    }

    pub fn object_data(&self, coll_id: u64, uri: &str) -> Result<Option<Vec<u8>>> {
        Ok(self
            .store
            .read(|tx| tx.get_raw(&COLLID_URI_DATA, &obj_key(coll_id, uri)))?)
    }

    /// One page of a collection's objects in name order, starting after `after`.
    pub fn objects(
        &self,
        coll_id: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, Object)>> {
        let prefix = crate::schema::objects_of(coll_id);
        let mut out = Vec::with_capacity(limit.min(1024));
        let mut visit = |k: &str, o: Object| {
            out.push((k[prefix.len()..].to_owned(), o));
            out.len() < limit
        };
        self.store.read(|tx| match after {
            Some(a) => tx.scan_after(
                &COLLID_URI_OBJECT,
                &prefix,
                &obj_key(coll_id, a),
                &mut visit,
            ),
            None => tx.scan(&COLLID_URI_OBJECT, &prefix, &mut visit),
        })?;
        Ok(out)
    }

    /// One page of an addressbook-query, in one read transaction: walks the card search
    /// entries (`uri`, packed properties) after `after` and, for each card `accept` takes,
    /// hands its metadata and (when `with_data`) its text to `emit`, lent, not copied. Stops
    /// early when `emit` returns false. Returns where the next page starts, if there is one.
    pub fn card_query_page(
        &self,
        coll_id: u64,
        after: Option<&str>,
        limit: usize,
        with_data: bool,
        mut accept: impl FnMut(&[u8]) -> bool,
        mut emit: impl FnMut(&str, &Object, Option<&[u8]>) -> bool,
    ) -> Result<Option<String>> {
        let prefix = crate::schema::objects_of(coll_id);
        let after_key = after.map(|a| obj_key(coll_id, a));
        let mut n = 0;
        let mut last = None;
        self.store.read(|tx| {
            let search = tx.open_raw(&COLLID_URI_CARDSEARCH)?;
            let objects = tx.open(&COLLID_URI_OBJECT)?;
            let data = tx.open_raw(&COLLID_URI_DATA)?;
            search.scan(&prefix, after_key.as_deref(), |key, packed| {
                let uri = &key[prefix.len()..];
                n += 1;
                if n == limit {
                    last = Some(uri.to_owned()); // where the next page starts
                }
                if accept(packed)
                    && let Some(o) = objects.get(key)?
                {
                    let go_on = if with_data {
                        data.with(key, |d| emit(uri, &o, Some(d)))?.unwrap_or(true)
                    } else {
                        emit(uri, &o, None)
                    };
                    if !go_on {
                        n = 0; // stopped by the caller: no next page
                        return Ok(false);
                    }
                }
                Ok(n < limit)
            })
        })?;
        Ok(if n < limit { None } else { last })
    }

    /// Visits every object of a collection in name order, one page (one read transaction) at
    /// a time, until `f` returns false.
    pub fn for_each_object(
        &self,
        coll_id: u64,
        mut f: impl FnMut(&str, &Object) -> Result<bool>,
    ) -> Result<()> {
        const PAGE: usize = 256;
        let mut after: Option<String> = None;
        loop {
            let page = self.objects(coll_id, after.as_deref(), PAGE)?;
            for (uri, o) in &page {
                if !f(uri, o)? {
                    return Ok(());
                }
            }
            match page.last() {
                Some((last, _)) if page.len() == PAGE => after = Some(last.clone()),
                _ => return Ok(()),
            }
        }
    }

    /// Stores a calendar object or vCard. Returns whether it was created, and its ETag.
    pub fn put_object(
        &self,
        coll: &Collection,
        uri: &str,
        data: &[u8],
        cond: &Conditions,
    ) -> Result<(bool, String)> {
        if !valid_name(uri) {
            return Err(GroupwareError::BadRequest(format!(
                "{uri:?} cannot be an object name"
            )));
        }
        let text = std::str::from_utf8(data).map_err(|_| {
            GroupwareError::Invalid(
                match coll.kind {
                    Kind::Calendar => Precondition::ValidCalendarData,
                    Kind::Addressbook => Precondition::ValidAddressData,
                },
                "The data is not UTF-8".into(),
            )
        })?;
        let (uid, component, start, end, recurring, search) = match coll.kind {
            Kind::Calendar => {
                let a = ical::analyze(text, &coll.components)?;
                (a.uid, a.component, a.start, a.end, a.recurring, None)
            }
            Kind::Addressbook => {
                let uid = vcard::analyze(text)?.unwrap_or_else(|| uri.to_owned());
                let search = vcard::packed_index(text);
                (
                    uid,
                    "VCARD".to_owned(),
                    i64::MIN,
                    i64::MAX,
                    false,
                    Some(search),
                )
            }
        };
        let etag = hex(&Md5::digest(data));
        let key = obj_key(coll.id, uri);
        let created = self.store.write(|tx| {
            let old = tx.get(&COLLID_URI_OBJECT, &key)?;
            check(old.as_ref(), cond)?;
            let uid_key = obj_key(coll.id, &uid);
            if let Some(holder) = tx.get(&COLLID_UID_URI, &uid_key)?
                && holder != uri
            {
                return Err(GroupwareError::UidConflict {
                    kind: coll.kind,
                    uri: holder,
                });
            }
            if let Some(o) = &old
                && o.uid != uid
            {
                tx.delete(&COLLID_UID_URI, &obj_key(coll.id, &o.uid))?;
            }
            tx.put(&COLLID_UID_URI, &uid_key, &uri.to_owned())?;
            let obj = Object {
                etag: etag.clone(),
                size: data.len() as u64,
                uid: uid.clone(),
                component: component.clone(),
                start,
                end,
                recurring,
                modified: crate::clock::now_secs(),
            };
            tx.put(&COLLID_URI_OBJECT, &key, &obj)?;
            tx.put_raw(&COLLID_URI_DATA, &key, data)?;
            if let Some(packed) = &search {
                tx.put_raw(&COLLID_URI_CARDSEARCH, &key, packed)?;
            }
            if coll.kind == Kind::Calendar {
                reminders::reindex(tx, coll, uri, Some(text), crate::clock::now_secs())?;
            }
            record_change(tx, coll, uri, false)?;
            Ok::<_, GroupwareError>(old.is_none())
        })?;
        match coll.kind {
            Kind::Addressbook => self.card_changed(coll, uri, Some(text)),
            Kind::Calendar => self.reminders_changed.notify_one(),
        }
        Ok((created, etag))
    }

    pub fn delete_object(&self, coll: &Collection, uri: &str, cond: &Conditions) -> Result<()> {
        let key = obj_key(coll.id, uri);
        self.store.write(|tx| {
            let old = tx
                .get(&COLLID_URI_OBJECT, &key)?
                .ok_or(GroupwareError::NotFound)?;
            check(Some(&old), cond)?;
            tx.delete(&COLLID_URI_OBJECT, &key)?;
            tx.delete_raw(&COLLID_URI_DATA, &key)?;
            tx.delete_raw(&COLLID_URI_CARDSEARCH, &key)?;
            tx.delete(&COLLID_UID_URI, &obj_key(coll.id, &old.uid))?;
            reminders::reindex(tx, coll, uri, None, 0)?;
            record_change(tx, coll, uri, true)?;
            Ok::<_, GroupwareError>(())
        })?;
        if coll.kind == Kind::Addressbook {
            self.card_changed(coll, uri, None);
        }
        Ok(())
    }

    /// What changed after change number `since`: each object once, with its last state
    /// (`deleted`), in change order, at most `limit`; and the number to resume from.
    pub fn changes_since(
        &self,
        coll: &Collection,
        since: u64,
        limit: usize,
    ) -> Result<(Vec<Change>, u64, bool)> {
        if since > coll.seq {
            return Err(GroupwareError::InvalidSyncToken);
        }
        let prefix = crate::schema::objects_of(coll.id);
        let mut out: Vec<Change> = Vec::new();
        let mut seen = std::collections::HashMap::<String, usize>::new();
        let mut last = since;
        let mut truncated = false;
        self.store.read(|tx| {
            tx.scan_after(
                &COLLID_SEQ_CHANGE,
                &prefix,
                &format!("{prefix}{since:016x}"),
                |k, ch: Change| {
                    let n = u64::from_str_radix(&k[prefix.len()..], 16).unwrap_or(last);
                    match seen.get(&ch.uri) {
                        Some(&i) => out[i] = ch,
                        None => {
                            if out.len() >= limit {
                                truncated = true;
                                return false;
                            }
                            seen.insert(ch.uri.clone(), out.len());
                            out.push(ch);
                        }
                    }
                    last = n;
                    true
                },
            )
        })?;
        if !truncated {
            last = coll.seq.max(last);
        }
        Ok((out, last, truncated))
    }
}

impl Groupware {
    /// Publishes a calendar as a read-only link; returns its token (the same one if it was
    /// published already).
    pub fn publish(&self, c: &Collection) -> Result<String> {
        self.store.write(|tx| {
            let key = coll_key(&c.owner, c.kind, &c.uri);
            let mut stored = tx
                .get(&USERID_KIND_URI_COLLECTION, &key)?
                .ok_or(GroupwareError::NotFound)?;
            if let Some(t) = &stored.publish_token {
                return Ok(t.clone());
            }
            use rand::Rng;
            let token: String = rand::thread_rng()
                .sample_iter(&rand::distributions::Alphanumeric)
                .take(24)
                .map(char::from)
                .collect();
            stored.publish_token = Some(token.clone());
            tx.put(&USERID_KIND_URI_COLLECTION, &key, &stored)?;
            tx.put(&PUBLICTOKEN_COLLKEY, &token, &key)?;
            Ok(token)
        })
    }

    pub fn unpublish(&self, c: &Collection) -> Result<()> {
        self.store.write(|tx| {
            let key = coll_key(&c.owner, c.kind, &c.uri);
            let mut stored = tx
                .get(&USERID_KIND_URI_COLLECTION, &key)?
                .ok_or(GroupwareError::NotFound)?;
            if let Some(t) = stored.publish_token.take() {
                tx.delete(&PUBLICTOKEN_COLLKEY, &t)?;
                tx.put(&USERID_KIND_URI_COLLECTION, &key, &stored)?;
            }
            Ok(())
        })
    }

    /// The calendar published under `token`.
    pub fn published(&self, token: &str) -> Result<Option<Collection>> {
        Ok(self
            .store
            .read(|tx| match tx.get(&PUBLICTOKEN_COLLKEY, token)? {
                Some(key) => tx.get(&USERID_KIND_URI_COLLECTION, &key),
                None => Ok(None),
            })?)
    }
}

fn new_collection(
    tx: &WriteTx,
    owner: &str,
    kind: Kind,
    uri: &str,
    name: &str,
) -> Result<Collection> {
    Ok(Collection {
        id: tx.next_id("collection_seq")?,
        owner: owner.to_owned(),
        kind,
        uri: uri.to_owned(),
        displayname: name.to_owned(),
        description: String::new(),
        color: String::new(),
        order: 0,
        components: Vec::new(),
        timezone: String::new(),
        seq: 0,
        dead: Default::default(),
        created: crate::clock::now_secs(),
        shares: Vec::new(),
        declined: Vec::new(),
        publish_token: None,
        generated: false,
        source: None,
        refreshed: 0,
        refresh_error: None,
        view: None,
    })
}

/// Appends to the collection's change log and advances its sync token, in the caller's
/// transaction (the collection is re-read there, so concurrent writers serialize on it).
fn record_change(tx: &WriteTx, coll: &Collection, uri: &str, deleted: bool) -> Result<()> {
    let key = coll_key(&coll.owner, coll.kind, &coll.uri);
    let mut c = tx
        .get(&USERID_KIND_URI_COLLECTION, &key)?
        .ok_or(GroupwareError::NotFound)?;
    c.seq += 1;
    tx.put(
        &COLLID_SEQ_CHANGE,
        &crate::schema::change_key(c.id, c.seq),
        &Change {
            uri: uri.to_owned(),
            deleted,
        },
    )?;
    tx.put(&USERID_KIND_URI_COLLECTION, &key, &c)?;
    Ok(())
}

fn check(old: Option<&Object>, cond: &Conditions) -> Result<()> {
    if cond.if_none_match_any && old.is_some() {
        return Err(GroupwareError::PreconditionFailed);
    }
    if let Some(want) = &cond.if_match {
        match old {
            None => return Err(GroupwareError::PreconditionFailed),
            Some(o) if want != "*" && *want != o.etag => {
                return Err(GroupwareError::PreconditionFailed);
            }
            _ => {}
        }
    }
    Ok(())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(32), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}
