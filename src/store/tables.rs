//! The single registry of every table. Names follow `key_value`; composite keys join their
//! parts with `\0` in the order the name spells out.

use redb::TableDefinition;

use super::Table;
use crate::accounts::model::{AppPassword, Group, Session, User};
use crate::blobs::BlobRef;

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

impl super::Record for String {}
