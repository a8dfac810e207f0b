//! The hourly orphan sweep: blob files nothing refers to, and temp files left by interrupted
//! writes, once they are old enough. Only the blob tables are consulted (`hearth fsck`, which
//! also checks the file tree's inline content and users' avatars, is `appliance::fsck`).

use std::time::{Duration, SystemTime};

use super::{BLOBID_REF, BlobError, LocalBlobs};
use crate::store::Store;

/// Removes blobs that nothing refers to and temp files, once older than `grace` (a blob
/// being written right now has no reference yet, so it must not be swept).
pub fn sweep_orphans(
    store: &Store,
    blobs: &LocalBlobs,
    grace: Duration,
) -> Result<usize, BlobError> {
    // The real clock, not `clock::now`: it is compared with the file system's times.
    let now = SystemTime::now();
    let old = |m: &std::fs::Metadata| {
        m.modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > grace)
    };
    let mut removed = 0;
    for (id, meta) in blobs.ids()? {
        if old(&meta) && store.read(|tx| tx.get(&BLOBID_REF, &id))?.is_none() {
            std::fs::remove_file(blobs.path_of(&id)?)?;
            removed += 1;
        }
    }
    for t in std::fs::read_dir(blobs.tmp_dir())?.filter_map(Result::ok) {
        if t.metadata().is_ok_and(|m| old(&m)) {
            let _ = std::fs::remove_file(t.path());
            removed += 1;
        }
    }
    Ok(removed)
}
