//! Metadata/blob agreement: `hearth fsck` and the orphan sweep.

use std::io::Read;
use std::time::{Duration, SystemTime};

use sha1::{Digest, Sha1};

use super::{BlobError, BlobRef, LocalBlobs};
use crate::store::{self, Store};

#[derive(Debug, Default)]
pub struct FsckReport {
    pub blobs_checked: usize,
    /// Metadata points at a blob that is not on disk.
    pub missing: Vec<(String, String)>,
    /// The blob on disk differs from what metadata recorded (size or SHA-1).
    pub corrupt: Vec<(String, String)>,
    /// Blobs on disk that nothing refers to.
    pub orphans: Vec<String>,
    /// Stale temp files from interrupted writes.
    pub temp_files: usize,
    pub repaired: bool,
}

impl FsckReport {
    pub fn is_clean(&self) -> bool {
        self.missing.is_empty()
            && self.corrupt.is_empty()
            && self.orphans.is_empty()
            && self.temp_files == 0
    }

    pub fn render(&self) -> String {
        let mut s = format!("checked {} blob reference(s)\n", self.blobs_checked);
        for (id, owner) in &self.missing {
            s.push_str(&format!("missing blob {id} (referred to by {owner})\n"));
        }
        for (id, why) in &self.corrupt {
            s.push_str(&format!("damaged blob {id}: {why}\n"));
        }
        for id in &self.orphans {
            s.push_str(&format!("orphan blob {id} (nothing refers to it)\n"));
        }
        if self.temp_files > 0 {
            s.push_str(&format!(
                "{} leftover temp file(s) from interrupted writes\n",
                self.temp_files
            ));
        }
        if self.is_clean() {
            s.push_str("no problems found\n");
        } else if self.repaired {
            s.push_str(
                "repaired: orphans and temp files removed, references to missing blobs dropped\n",
            );
        } else {
            s.push_str("run `hearth fsck --repair` to fix\n");
        }
        s
    }
}

/// Size and SHA-1 of content kept inline (`NotFound` when it is not there).
fn inline_sha1(store: &Store, id: &str) -> std::io::Result<(u64, String)> {
    let found = store
        .read(|tx| {
            tx.open_raw(&store::BLOBID_DATA)?.with(id, |data| {
                let sum: [u8; 20] = Sha1::digest(data).into();
                (
                    data.len() as u64,
                    sum.iter().map(|b| format!("{b:02x}")).collect(),
                )
            })
        })
        .map_err(std::io::Error::other)?;
    found.ok_or_else(|| std::io::ErrorKind::NotFound.into())
}

fn sha1_file(path: &std::path::Path) -> std::io::Result<(u64, String)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Sha1::new();
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        h.update(&buf[..n]);
    }
    Ok((
        size,
        h.finalize().iter().map(|b| format!("{b:02x}")).collect(),
    ))
}

/// Compares every blob reference with the disk, and every blob on disk with the references.
/// With `repair`, removes orphans and temp files and drops references to missing blobs
/// (clearing what pointed at them). Blocking: run it off the async runtime.
pub fn fsck(store: &Store, blobs: &LocalBlobs, repair: bool) -> Result<FsckReport, BlobError> {
    let mut report = FsckReport::default();
    let mut refs: Vec<(String, BlobRef)> = Vec::new();
    store.read(|tx| {
        tx.scan(&store::BLOBID_REF, "", |id, r| {
            refs.push((id.to_owned(), r));
            true
        })
    })?;
    let mut known = std::collections::HashSet::new();
    for (id, r) in &refs {
        report.blobs_checked += 1;
        known.insert(id.clone());
        let checked = if r.inline {
            inline_sha1(store, id)
        } else {
            sha1_file(&blobs.path_of(id)?)
        };
        match checked {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.missing.push((id.clone(), r.owner.clone()))
            }
            Err(e) => return Err(e.into()),
            Ok((size, sum)) if size != r.size || sum != r.sha1 => report.corrupt.push((
                id.clone(),
                format!(
                    "{size} bytes with sha1 {sum}, expected {} bytes with {}",
                    r.size, r.sha1
                ),
            )),
            Ok(_) => {}
        }
    }
    for (id, _) in blobs.ids()? {
        if !known.contains(&id) {
            report.orphans.push(id);
        }
    }
    let temps: Vec<_> = std::fs::read_dir(blobs.tmp_dir())?
        .filter_map(Result::ok)
        .collect();
    report.temp_files = temps.len();
    if repair {
        for id in &report.orphans {
            std::fs::remove_file(blobs.path_of(id)?)?;
        }
        for t in temps {
            let _ = std::fs::remove_file(t.path());
        }
        let missing = report.missing.clone();
        store.write(|tx| -> Result<(), BlobError> {
            for (id, owner) in &missing {
                // A file's lost content cannot be recreated; dropping the file would make sync
                // clients delete the family's local copy. Leave it reported for a restore.
                if owner.starts_with("file:") {
                    continue;
                }
                tx.delete(&store::BLOBID_REF, id)?;
                clear_referrer(tx, owner, id)?;
            }
            Ok(())
        })?;
        report.repaired = true;
    }
    Ok(report)
}

/// Drops the pointer held by a referrer whose blob is gone.
fn clear_referrer(tx: &store::WriteTx, owner: &str, id: &str) -> Result<(), BlobError> {
    if let Some(uid) = owner.strip_prefix("avatar:")
        && let Some(mut u) = tx.get(&store::USERID_USER, uid)?
        && u.avatar_blob.as_deref() == Some(id)
    {
        u.avatar_blob = None;
        tx.put(&store::USERID_USER, uid, &u)?;
    }
    Ok(())
}

/// Removes blobs that nothing refers to and temp files, once older than `grace` (a blob
/// being written right now has no reference yet, so it must not be swept).
pub fn sweep_orphans(
    store: &Store,
    blobs: &LocalBlobs,
    grace: Duration,
) -> Result<usize, BlobError> {
    let now = SystemTime::now();
    let old = |m: &std::fs::Metadata| {
        m.modified()
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .is_some_and(|age| age > grace)
    };
    let mut removed = 0;
    for (id, meta) in blobs.ids()? {
        if old(&meta) && store.read(|tx| tx.get(&store::BLOBID_REF, &id))?.is_none() {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::{BlobStore, LocalBlobs};

    fn put_ref(store: &Store, id: &str, r: &BlobRef) {
        store.write(|tx| tx.put(&store::BLOBID_REF, id, r)).unwrap();
    }

    #[tokio::test]
    async fn finds_missing_damaged_and_orphaned_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.redb")).unwrap();
        let blobs = LocalBlobs::open(&dir.path().join("blobs")).unwrap();
        let good = blobs.put(&b"hello"[..], 1 << 20).await.unwrap();
        let damaged = blobs.put(&b"world"[..], 1 << 20).await.unwrap();
        let gone = blobs.put(&b"gone"[..], 1 << 20).await.unwrap();
        let orphan = blobs.put(&b"orphan"[..], 1 << 20).await.unwrap();
        for w in [&good, &damaged, &gone] {
            let r = BlobRef {
                size: w.size,
                sha1: w.sha1.clone(),
                owner: "avatar:nobody".into(),
                created_ms: 0,
                inline: false,
            };
            put_ref(&store, &w.id, &r);
        }
        std::fs::write(blobs.path_of(&damaged.id).unwrap(), b"w0rld").unwrap();
        std::fs::remove_file(blobs.path_of(&gone.id).unwrap()).unwrap();

        let report = fsck(&store, &blobs, false).unwrap();
        assert_eq!(report.blobs_checked, 3);
        assert_eq!(
            report
                .missing
                .iter()
                .map(|m| m.0.as_str())
                .collect::<Vec<_>>(),
            vec![gone.id.as_str()]
        );
        assert_eq!(report.corrupt.len(), 1);
        assert_eq!(report.orphans, vec![orphan.id.clone()]);
        assert!(!report.is_clean());

        let repaired = fsck(&store, &blobs, true).unwrap();
        assert!(repaired.repaired);
        let after = fsck(&store, &blobs, false).unwrap();
        assert!(after.missing.is_empty() && after.orphans.is_empty());
        // Damage is reported, never "repaired" by deleting the family's data.
        assert_eq!(after.corrupt.len(), 1);
    }

    #[tokio::test]
    async fn a_write_over_the_limit_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(&dir.path().join("blobs")).unwrap();
        let err = blobs.put(&[7u8; 1000][..], 100).await.unwrap_err();
        assert!(matches!(err, crate::blobs::BlobError::TooLarge { .. }));
        assert!(blobs.ids().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(blobs.tmp_dir()).unwrap().count(), 0);
        let store = Store::open(&dir.path().join("db.redb")).unwrap();
        assert_eq!(
            sweep_orphans(&store, &blobs, std::time::Duration::ZERO).unwrap(),
            0
        );
    }
}
