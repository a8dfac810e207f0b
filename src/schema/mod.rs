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
pub use crate::store::META;
use crate::store::{RawTable, Table};

/// uid → user.
pub const USERID_USER: Table<User> = Table::new("userid_user");
/// gid → group.
pub const GROUPID_GROUP: Table<Group> = Table::new("groupid_group");
/// uid `\0` app-password id → app password (secret stored as a SHA-256 digest).
pub const USERID_APPPWID_APPPW: Table<AppPassword> = Table::new("userid_apppwid_apppw");
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
/// uid `\0` upload id → a chunked upload in progress.
pub const USERID_UPLOADID_UPLOAD: Table<Upload> = Table::new("userid_uploadid_upload");
/// uid `\0` upload id `\0` chunk name → the chunk's blob.
pub const USERID_UPLOADID_CHUNK_BLOB: Table<Chunk> = Table::new("userid_uploadid_chunk_blob");

/// uid `\0` kind (`c` calendar, `a` address book) `\0` collection uri → the collection.
pub const USERID_KIND_URI_COLLECTION: Table<crate::groupware::model::Collection> =
    Table::new("userid_kind_uri_collection");
/// collection id (16 hex) `\0` object uri → what is known about the object (etag, UID, span).
pub const COLLID_URI_OBJECT: Table<crate::groupware::model::Object> =
    Table::new("collid_uri_object");
/// collection id (16 hex) `\0` object uri → the object's iCalendar/vCard text, as sent.
pub const COLLID_URI_DATA: RawTable = RawTable::new("collid_uri_data");
/// collection id (16 hex) `\0` UID → object uri (one UID per collection).
pub const COLLID_UID_URI: Table<String> = Table::new("collid_uid_uri");
/// collection id (16 hex) `\0` change number (16 hex) → which object changed (sync-collection).
pub const COLLID_SEQ_CHANGE: Table<crate::groupware::model::Change> =
    Table::new("collid_seq_change");
/// uid `\0` notification id (16 hex) → a notification (OCS notifications API).
pub const USERID_NOTIFID_NOTIFICATION: Table<crate::notify::model::Notification> =
    Table::new("userid_notifid_notification");
/// trigger time (16 hex, biased by 2^63) `\0` collection id (16 hex) `\0` object uri `\0` n →
/// a reminder to fire.
pub const ALARMTIME_REMINDER: Table<crate::groupware::model::Reminder> =
    Table::new("alarmtime_reminder");
/// collection id (16 hex) `\0` object uri → the reminder keys of that object.
pub const COLLID_URI_ALARMKEYS: Table<Vec<String>> = Table::new("collid_uri_alarmkeys");
/// publish token → the published calendar's `userid_kind_uri_collection` key.
pub const PUBLICTOKEN_COLLKEY: Table<String> = Table::new("publictoken_collkey");
/// collection id (16 hex) `\0` card uri → the card's searchable properties, packed as
/// `NAME \x1f raw value \x1e` (addressbook-query reads these instead of the cards).
pub const COLLID_URI_CARDSEARCH: RawTable = RawTable::new("collid_uri_cardsearch");
