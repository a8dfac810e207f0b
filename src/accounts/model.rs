//! Account records as stored. Wire shapes (OCS JSON/XML) are built in `ocs`, not derived here.

use serde::{Deserialize, Serialize};

use crate::store::Record;

/// The group whose members administer the box.
pub const ADMIN_GROUP: &str = "admin";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct User {
    pub uid: String,
    pub display_name: String,
    pub email: Option<String>,
    /// Bytes; `None` means unlimited.
    pub quota: Option<u64>,
    pub groups: Vec<String>,
    pub enabled: bool,
    /// PHC-format argon2id hash.
    pub password_hash: String,
    /// Unix milliseconds; 0 = never.
    pub last_login_ms: u64,
    pub created_ms: u64,
    /// Blob id of an uploaded avatar picture.
    pub avatar_blob: Option<String>,
    /// Bumped on every password change, so cached credentials and sessions of the old one die.
    pub credential_epoch: u64,
}
impl Record for User {}

impl User {
    pub fn is_admin(&self) -> bool {
        self.groups.iter().any(|g| g == ADMIN_GROUP)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Group {
    pub gid: String,
    pub display_name: String,
}
impl Record for Group {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AppPassword {
    pub id: u64,
    pub uid: String,
    /// What the client called itself (its User-Agent), shown in the list.
    pub name: String,
    pub created_ms: u64,
    pub last_used_ms: u64,
}
impl Record for AppPassword {}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Session {
    pub uid: String,
    pub csrf_token: String,
    pub created_ms: u64,
    pub expires_ms: u64,
    pub credential_epoch: u64,
}
impl Record for Session {}
