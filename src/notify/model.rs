//! The notification record (`userid_notifid_notification`).

use serde::{Deserialize, Serialize};

use crate::store::Record;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notification {
    pub id: u64,
    /// The app it comes from, as Nextcloud names them (`dav` for calendar reminders).
    pub app: String,
    pub subject: String,
    pub message: String,
    /// What it is about (`calendar-object`), and which one.
    pub object_type: String,
    pub object_id: String,
    /// Unix seconds.
    pub created: i64,
}

impl Record for Notification {}
