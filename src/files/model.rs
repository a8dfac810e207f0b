//! File-tree records as stored.

use serde::{Deserialize, Serialize};

use crate::store::Record;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    File,
    Dir,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    /// Monotonic, never reused; survives renames and moves (clients track files by it).
    pub id: u64,
    /// 0 for a user's root.
    pub parent: u64,
    pub owner: String,
    pub name: String,
    pub kind: Kind,
    /// Files: content length. Folders: the recursive total of everything below.
    pub size: u64,
    /// Unix seconds.
    pub mtime: i64,
    /// Unix seconds the node was created here (0 = unknown).
    pub ctime: i64,
    pub upload_time: i64,
    /// Changes whenever this node or anything below it changes.
    pub etag: String,
    pub blob: Option<String>,
    /// SHA-1 of the content, computed while it streamed in.
    pub sha1: Option<String>,
    /// A checksum the client sent (`OC-Checksum`), kept as given when it is not SHA-1.
    pub client_checksum: Option<String>,
    pub content_type: String,
    pub favorite: bool,
}
impl Record for Node {}

impl Node {
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
}

impl Record for u64 {}
