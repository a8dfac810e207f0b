//! Small content kept in the metadata store, next to the node that points at it.
//!
//! A file of a few KiB on disk costs a create, a write and an fsync with a journal commit of
//! its own, before the metadata commit with a second fsync can point at it: with eight clients
//! syncing small files that is two device flushes per file (measured: 2.7 ms per 4 KiB upload
//! on this kind of VM, most of it waiting on flushes). Content up to `MAX` bytes is written
//! into `blobid_data` in the same transaction as its node instead, so the group commit makes
//! content and metadata durable together with one flush for the whole batch, and a crash can
//! never separate them. Garage keeps small objects in its metadata store for the same reason.
//! Reads and deletes go through the same ids as blobs on disk; fsck checks both.

use bytes::Bytes;

use crate::store::{ReadTx, StoreError, WriteTx};

/// Content up to this size is kept inline (four 4 KiB pages).
pub const MAX: u64 = 16 * 1024;

/// An id for inline content: time first, so new content lands at the end of the table's key
/// range (redb rewrites only the last leaves) instead of all over it.
pub fn new_id() -> String {
    let micros = crate::clock::now_micros();
    format!("{micros:016x}{:016x}", rand::random::<u64>())
}

pub fn put(tx: &WriteTx, id: &str, data: &[u8]) -> Result<(), StoreError> {
    tx.put_raw(&crate::blobs::BLOBID_DATA, id, data)
}

pub fn delete(tx: &WriteTx, id: &str) -> Result<(), StoreError> {
    tx.delete_raw(&crate::blobs::BLOBID_DATA, id).map(|_| ())
}

/// `len` bytes from `start` of the content `id` (`None` when there is no such content).
pub fn read(tx: &ReadTx, id: &str, start: u64, len: u64) -> Result<Option<Bytes>, StoreError> {
    let t = tx.open_raw(&crate::blobs::BLOBID_DATA)?;
    t.with(id, |data| {
        let from = usize::try_from(start).unwrap_or(usize::MAX).min(data.len());
        let to = from
            .saturating_add(usize::try_from(len).unwrap_or(usize::MAX))
            .min(data.len());
        Bytes::copy_from_slice(&data[from..to])
    })
}

/// A copy of the content `id` under a new id (COPY gives copies their own content).
pub fn copy(tx: &WriteTx, id: &str) -> Result<Option<String>, StoreError> {
    let Some(data) = tx.get_raw(&crate::blobs::BLOBID_DATA, id)? else {
        return Ok(None);
    };
    let new = new_id();
    put(tx, &new, &data)?;
    Ok(Some(new))
}
