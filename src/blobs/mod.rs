//! Content storage, addressed by blob id, never by path.
//!
//! A write streams into a temp file in the same file system, is fsynced and renamed into
//! place, and only then may metadata point at it (the caller commits a [`BlobRef`]). A crash
//! at any moment leaves either no blob, or a blob nothing refers to (the orphan sweep removes
//! it later); never metadata pointing at half a file.

pub mod inline;
mod local;
mod mapped;
pub mod read;
mod sweep;
mod write;

use serde::{Deserialize, Serialize};
use tokio::io::AsyncRead;

pub use local::LocalBlobs;
pub use sweep::sweep_orphans;
pub use write::Staged;

use crate::store::{RawTable, Record, Table};

/// blob id → what refers to it (for fsck and the orphan sweep). Listed in `crate::schema`.
pub const BLOBID_REF: Table<BlobRef> = Table::new("blobid_ref");
/// blob id → the content itself, for content small enough to keep inline (`inline`).
pub const BLOBID_DATA: RawTable = RawTable::new("blobid_data");

#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    #[error("blob {0} not found")]
    NotFound(String),
    #[error("invalid blob id")]
    InvalidId,
    #[error("the content is larger than the {limit}-byte limit")]
    TooLarge { limit: u64 },
    #[error("storage I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
}

impl crate::error::Categorized for BlobError {
    fn category(&self) -> crate::error::Category {
        use crate::error::Category;
        match self {
            BlobError::NotFound(_) => Category::NotFound,
            BlobError::InvalidId => Category::BadRequest,
            BlobError::TooLarge { .. } => Category::TooLarge,
            BlobError::Io(_) | BlobError::Store(_) => Category::Internal,
        }
    }
}

/// What metadata says about a blob: enough for fsck to check it against the disk.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BlobRef {
    pub size: u64,
    /// CRC32C of the content: what fsck checks a blob written since schema 7 against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crc32c: Option<u32>,
    /// SHA-1 of the content: what fsck checks a blob written before schema 7 against.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// Who refers to it, e.g. `avatar:alice`; lets fsck --repair clear the referrer.
    pub owner: String,
    pub created_ms: u64,
}
impl Record for BlobRef {}

impl BlobRef {
    /// The reference to a blob just written, for `owner` (e.g. `file:42`).
    pub fn new(w: &Written, owner: String) -> Self {
        BlobRef {
            size: w.size,
            crc32c: Some(w.crc32c),
            sha1: None,
            owner,
            created_ms: crate::clock::now_ms(),
        }
    }
}

/// A blob just written: its id and what was measured while streaming it.
#[derive(Debug, Clone)]
pub struct Written {
    pub id: String,
    pub size: u64,
    /// Our own integrity checksum, always computed (hardware CRC instructions on x86-64 and
    /// ARMv8: a few percent of a core at disk speed).
    pub crc32c: u32,
    /// Computed only when asked for (`Hashes::sha1`): a client announced one to verify.
    pub sha1: Option<String>,
}

/// What a write computes besides our own CRC32C.
///
/// SHA-1 is what Nextcloud clients send in `OC-Checksum` and check downloads against; it costs
/// a core-second per GiB here and several on a Raspberry Pi 4 (no SHA instructions). Like
/// Nextcloud, Hearth keeps the checksum a client sends and reports no SHA-1 it was not given,
/// so it is computed only to verify one a client sent.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hashes {
    pub sha1: bool,
}

impl Hashes {
    pub const CRC_ONLY: Hashes = Hashes { sha1: false };
    pub const WITH_SHA1: Hashes = Hashes { sha1: true };
}

/// The streaming blob engine interface: the encrypting layer and an S3 engine implement the
/// same calls, so services never see where bytes live.
pub trait BlobStore: Send + Sync {
    /// Streams `body` into a new durable blob (at most `limit` bytes).
    fn put(
        &self,
        body: impl AsyncRead + Send + Unpin,
        limit: u64,
        hashes: Hashes,
    ) -> impl Future<Output = Result<Written, BlobError>> + Send;
    /// Opens a blob for reading from `offset`.
    fn open(
        &self,
        id: &str,
        offset: u64,
    ) -> impl Future<Output = Result<(Box<dyn AsyncRead + Send + Unpin>, u64), BlobError>> + Send;
    fn delete(&self, id: &str) -> impl Future<Output = Result<(), BlobError>> + Send;
}

pub fn new_blob_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex(&bytes)
}

/// Lower-case hex of an id or a digest.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// Hex SHA-1 of content held in memory (a small blob, inline content).
pub fn sha1_hex(data: &[u8]) -> String {
    use sha1::Digest;
    hex(&sha1::Sha1::digest(data))
}

/// The sums `hashes` asks for of content held in memory: CRC32C and maybe SHA-1.
pub fn sums_of(data: &[u8], hashes: Hashes) -> (u32, Option<String>) {
    (crc32c::crc32c(data), hashes.sha1.then(|| sha1_hex(data)))
}

pub fn valid_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}
