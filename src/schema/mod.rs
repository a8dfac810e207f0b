//! The single registry of every table, and the migrations between schemas: the typed layer
//! above `store`, which is generic and names no service's type. This layer may import the
//! services' model files (the record types); services import their tables from here.
//! Names follow `key_value`; composite keys join their parts with `\0` in the order the name
//! spells out.
//!
//! The blob tables are declared in `blobs` (storage beside `store`, it keeps its own
//! bookkeeping) and listed here so this stays the one place to read every table from.

mod migrate;

pub use migrate::SCHEMA;

use crate::accounts::model::{AppPassword, Group, Session, User};
pub use crate::blobs::{BLOBID_DATA, BLOBID_REF};
use crate::files::model::{Chunk, Node, Upload};
use crate::groupware::model::Kind;
pub use crate::store::META;
use crate::store::{RawTable, Table};

/// uid → user.
pub const USERID_USER: Table<User> = Table::new("userid_user");
/// gid → group.
pub const GROUPID_GROUP: Table<Group> = Table::new("groupid_group");
/// uid `\0` app-password id → app password (secret stored as a SHA-256 digest).
pub const USERID_APPPWID_APPPW: Table<AppPassword> = Table::new("userid_apppwid_apppw");
/// `uid \0 id`: an app password's key (also the value of `apppwhash_key`).
pub fn app_password_key(uid: &str, id: u64) -> String {
    format!("{uid}\0{id}")
}
/// The prefix of `uid`'s app passwords.
pub fn app_passwords_of(uid: &str) -> String {
    format!("{uid}\0")
}
/// hex SHA-256 of the app password secret → "uid\0id" (the lookup used on every request).
pub const APPPWHASH_KEY: Table<String> = Table::new("apppwhash_key");
/// hex SHA-256 of the session cookie → session.
pub const SESSIONHASH_SESSION: Table<Session> = Table::new("sessionhash_session");

/// parent node id (16 hex) `\0` name → the node (a user's root: parent 0, the uid as name). A
/// folder's children are one key range of whole records, and a path step is one lookup.
pub const PARENTID_NAME_NODE: Table<Node> = Table::new("parentid_name_node");
/// `parent \0 name` in `parentid_name_node`: children of one folder are one contiguous,
/// name-ordered key range.
pub fn child_key(parent: u64, name: &str) -> String {
    format!("{parent:016x}\0{name}")
}

/// The prefix of a folder's children in `parentid_name_node`.
pub fn children_of(parent: u64) -> String {
    format!("{parent:016x}\0")
}

/// Where a node's record lives in `parentid_name_node`: under its parent, by name; a user's
/// root under 0, by uid.
pub fn record_key(node: &Node) -> String {
    if node.parent == 0 {
        child_key(0, &node.owner)
    } else {
        child_key(node.parent, &node.name)
    }
}

/// node id (16 hex) → the node's key in `parentid_name_node` (walks up to the root, file ids).
pub const NODEID_NODEKEY: RawTable = RawTable::new("nodeid_nodekey");

/// A node id as the key of `nodeid_nodekey` and the first part of `nodeid_prop_value`'s.
pub fn node_key(id: u64) -> String {
    format!("{id:016x}")
}
/// node id (16 hex) `\0` Clark name (`{ns}local`) → the property's XML value (dead properties).
pub const NODEID_PROP_VALUE: Table<String> = Table::new("nodeid_prop_value");
/// `node \0 {ns}local`: one dead property of a node.
pub fn prop_key(node: u64, clark: &str) -> String {
    format!("{}\0{clark}", node_key(node))
}
/// The prefix of a node's dead properties.
pub fn props_of(node: u64) -> String {
    format!("{}\0", node_key(node))
}
/// uid `\0` upload id → a chunked upload in progress.
pub const USERID_UPLOADID_UPLOAD: Table<Upload> = Table::new("userid_uploadid_upload");
/// `uid \0 upload id`: one chunked upload.
pub fn upload_key(uid: &str, id: &str) -> String {
    format!("{uid}\0{id}")
}
/// uid `\0` upload id `\0` chunk name → the chunk's blob.
pub const USERID_UPLOADID_CHUNK_BLOB: Table<Chunk> = Table::new("userid_uploadid_chunk_blob");
/// `uid \0 upload id \0 chunk name`: one chunk.
pub fn chunk_key(uid: &str, id: &str, name: &str) -> String {
    format!("{uid}\0{id}\0{name}")
}
/// The prefix of one upload's chunks.
pub fn chunks_of(uid: &str, id: &str) -> String {
    format!("{uid}\0{id}\0")
}

/// uid `\0` kind (`c` calendar, `a` address book) `\0` collection uri → the collection.
pub const USERID_KIND_URI_COLLECTION: Table<crate::groupware::model::Collection> =
    Table::new("userid_kind_uri_collection");
/// `owner \0 kind \0 uri`: one calendar or address book.
pub fn collection_key(owner: &str, kind: Kind, uri: &str) -> String {
    format!("{owner}\0{}\0{uri}", kind.key())
}
/// The prefix of `owner`'s calendars or address books.
pub fn collections_of(owner: &str, kind: Kind) -> String {
    format!("{owner}\0{}\0", kind.key())
}
/// collection id (16 hex) `\0` object uri → what is known about the object (etag, UID, span).
pub const COLLID_URI_OBJECT: Table<crate::groupware::model::Object> =
    Table::new("collid_uri_object");
/// `collection \0 uri`: one object, in `collid_uri_object` and the tables keyed like it
/// (`collid_uri_data`, `collid_uri_cardsearch`, `collid_uri_alarmkeys`).
pub fn object_key(coll: u64, uri: &str) -> String {
    format!("{coll:016x}\0{uri}")
}
/// The prefix of a collection's objects (in every table keyed by `object_key`).
pub fn objects_of(coll: u64) -> String {
    format!("{coll:016x}\0")
}
/// collection id (16 hex) `\0` object uri → the object's iCalendar/vCard text, as sent.
pub const COLLID_URI_DATA: RawTable = RawTable::new("collid_uri_data");
/// collection id (16 hex) `\0` UID → object uri (one UID per collection).
pub const COLLID_UID_URI: Table<String> = Table::new("collid_uid_uri");
/// collection id (16 hex) `\0` change number (16 hex) → which object changed (sync-collection).
pub const COLLID_SEQ_CHANGE: Table<crate::groupware::model::Change> =
    Table::new("collid_seq_change");
/// `collection \0 change number`: one entry of a collection's change log.
pub fn change_key(coll: u64, seq: u64) -> String {
    format!("{coll:016x}\0{seq:016x}")
}
/// uid `\0` notification id (16 hex) → a notification (OCS notifications API).
pub const USERID_NOTIFID_NOTIFICATION: Table<crate::notify::model::Notification> =
    Table::new("userid_notifid_notification");
/// `uid \0 id`: one notification.
pub fn notification_key(uid: &str, id: u64) -> String {
    format!("{uid}\0{id:016x}")
}
/// The prefix of `uid`'s notifications.
pub fn notifications_of(uid: &str) -> String {
    format!("{uid}\0")
}
/// trigger time (16 hex, biased by 2^63) `\0` collection id (16 hex) `\0` object uri `\0` n →
/// a reminder to fire.
pub const ALARMTIME_REMINDER: Table<crate::groupware::model::Reminder> =
    Table::new("alarmtime_reminder");
/// `trigger time \0 object key \0 n`: one reminder (`object_key` of its object).
pub fn reminder_key(at: i64, object: &str, n: usize) -> String {
    format!("{}\0{object}\0{n}", alarm_time(at))
}
/// A trigger time as the first part of `alarmtime_reminder`'s keys: biased by 2^63 so that
/// times before 1970 sort before later ones.
pub fn alarm_time(at: i64) -> String {
    format!("{:016x}", (i128::from(at) - i128::from(i64::MIN)) as u64)
}
/// collection id (16 hex) `\0` object uri → the reminder keys of that object.
pub const COLLID_URI_ALARMKEYS: Table<Vec<String>> = Table::new("collid_uri_alarmkeys");
/// publish token → the published calendar's `userid_kind_uri_collection` key.
pub const PUBLICTOKEN_COLLKEY: Table<String> = Table::new("publictoken_collkey");
/// collection id (16 hex) `\0` card uri → the card's searchable properties, packed as
/// `NAME \x1f raw value \x1e` (addressbook-query reads these instead of the cards).
pub const COLLID_URI_CARDSEARCH: RawTable = RawTable::new("collid_uri_cardsearch");
