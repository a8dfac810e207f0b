//! The single registry of every table. Names follow `key_value`; composite keys join their
//! parts with `\0` in the order the name spells out.

use redb::TableDefinition;

use super::{RawTable, Table};
use crate::accounts::model::{AppPassword, Group, Session, User};
use crate::blobs::BlobRef;
use crate::files::Node;

/// Plain string settings: `schema_version`, `instance_id`, `installed`, `box_name`, id counters.
pub const META: TableDefinition<'static, &'static str, &'static str> = TableDefinition::new("meta");

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
/// blob id → what refers to it (for fsck and the orphan sweep).
pub const BLOBID_REF: Table<BlobRef> = Table::new("blobid_ref");
/// blob id → the content itself, for content small enough to keep inline (`blobs::inline`).
pub const BLOBID_DATA: RawTable = RawTable::new("blobid_data");

impl super::Record for String {}

/// parent node id (16 hex) `\0` name → the node (a user's root: parent 0, the uid as name). A
/// folder's children are one key range of whole records, and a path step is one lookup.
pub const PARENTID_NAME_NODE: Table<Node> = Table::new("parentid_name_node");
/// node id (16 hex) → the node's key in `parentid_name_node` (walks up to the root, file ids).
pub const NODEID_NODEKEY: RawTable = RawTable::new("nodeid_nodekey");
/// node id (16 hex) `\0` Clark name (`{ns}local`) → the property's XML value (dead properties).
pub const NODEID_PROP_VALUE: Table<String> = Table::new("nodeid_prop_value");
/// uid `\0` upload id → a chunked upload in progress.
pub const USERID_UPLOADID_UPLOAD: Table<crate::files::Upload> =
    Table::new("userid_uploadid_upload");
/// uid `\0` upload id `\0` chunk name → the chunk's blob.
pub const USERID_UPLOADID_CHUNK_BLOB: Table<crate::files::Chunk> =
    Table::new("userid_uploadid_chunk_blob");

/// uid `\0` kind (`c` calendar, `a` address book) `\0` collection uri → the collection.
pub const USERID_KIND_URI_COLLECTION: Table<crate::groupware::Collection> =
    Table::new("userid_kind_uri_collection");
/// collection id (16 hex) `\0` object uri → what is known about the object (etag, UID, span).
pub const COLLID_URI_OBJECT: Table<crate::groupware::Object> = Table::new("collid_uri_object");
/// collection id (16 hex) `\0` object uri → the object's iCalendar/vCard text, as sent.
pub const COLLID_URI_DATA: RawTable = RawTable::new("collid_uri_data");
/// collection id (16 hex) `\0` UID → object uri (one UID per collection).
pub const COLLID_UID_URI: Table<String> = Table::new("collid_uid_uri");
/// collection id (16 hex) `\0` change number (16 hex) → which object changed (sync-collection).
pub const COLLID_SEQ_CHANGE: Table<crate::groupware::Change> = Table::new("collid_seq_change");
/// uid `\0` notification id (16 hex) → a notification (OCS notifications API).
pub const USERID_NOTIFID_NOTIFICATION: Table<crate::notify::Notification> =
    Table::new("userid_notifid_notification");
/// trigger time (16 hex, biased by 2^63) `\0` collection id (16 hex) `\0` object uri `\0` n →
/// a reminder to fire.
pub const ALARMTIME_REMINDER: Table<crate::groupware::Reminder> = Table::new("alarmtime_reminder");
/// collection id (16 hex) `\0` object uri → the reminder keys of that object.
pub const COLLID_URI_ALARMKEYS: Table<Vec<String>> = Table::new("collid_uri_alarmkeys");

impl super::Record for Vec<String> {}
/// publish token → the published calendar's `userid_kind_uri_collection` key.
pub const PUBLICTOKEN_COLLKEY: Table<String> = Table::new("publictoken_collkey");
/// collection id (16 hex) `\0` card uri → the card's searchable properties, packed as
/// `NAME \x1f raw value \x1e` (addressbook-query reads these instead of the cards).
pub const COLLID_URI_CARDSEARCH: RawTable = RawTable::new("collid_uri_cardsearch");
