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

/// Content kept inline (`inline`) against the nodes that point at it: each such node's
/// content must be there with its size and SHA-1; content no node points at is returned (fsck
/// reports it with the orphans, `--repair` removes it). Node and content are written in one
/// transaction, so either finding means a bug or a damaged store, never an interrupted write.
fn check_inline(store: &Store, report: &mut FsckReport) -> Result<Vec<String>, BlobError> {
    let mut pointed = std::collections::HashSet::new();
    store.read(|tx| {
        let data = tx.open_raw(&store::BLOBID_DATA)?;
        let mut failed = None;
        tx.scan(
            &store::PARENTID_NAME_NODE,
            "",
            |_, n: crate::files::Node| {
                let Some(id) = n.blob.as_deref().filter(|_| n.inline) else {
                    return true;
                };
                report.blobs_checked += 1;
                pointed.insert(id.to_owned());
                let found = data.with(id, |d| (d.len() as u64, super::sha1_hex(d)));
                match found {
                    Err(e) => {
                        failed = Some(e);
                        return false;
                    }
                    Ok(None) => report
                        .missing
                        .push((id.to_owned(), format!("file:{}", n.id))),
                    Ok(Some((size, sum))) if size != n.size || Some(&sum) != n.sha1.as_ref() => {
                        report.corrupt.push((
                            id.to_owned(),
                            format!("{size} bytes with sha1 {sum}, expected {} bytes", n.size),
                        ));
                    }
                    Ok(Some(_)) => {}
                }
                true
            },
        )?;
        failed.map_or(Ok(()), Err)
    })?;
    let mut stray = Vec::new();
    store.read(|tx| {
        tx.scan_raw(&store::BLOBID_DATA, "", None, |id, _| {
            if !pointed.contains(id) {
                stray.push(id.to_owned());
            }
            true
        })
    })?;
    Ok(stray)
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
    Ok((size, super::hex(&h.finalize())))
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
        match sha1_file(&blobs.path_of(id)?) {
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
    let disk_orphans = report.orphans.len();
    let stray_inline = check_inline(store, &mut report)?;
    report.orphans.extend(stray_inline.iter().cloned());
    let temps: Vec<_> = std::fs::read_dir(blobs.tmp_dir())?
        .filter_map(Result::ok)
        .collect();
    report.temp_files = temps.len();
    if repair {
        for id in &report.orphans[..disk_orphans] {
            std::fs::remove_file(blobs.path_of(id)?)?;
        }
        store.write(|tx| {
            for id in &stray_inline {
                super::inline::delete(tx, id)?;
            }
            Ok::<_, BlobError>(())
        })?;
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

    /// Content kept inline is checked against its node; content nothing points at is an
    /// orphan that `--repair` removes.
    #[tokio::test]
    async fn checks_inline_content_against_its_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(Store::open(&dir.path().join("db.redb")).unwrap());
        let blobs = std::sync::Arc::new(LocalBlobs::open(&dir.path().join("blobs")).unwrap());
        let files = crate::files::Files::new(store.clone(), blobs.clone());
        let alice = crate::accounts::Actor::User(crate::accounts::Principal {
            uid: "alice".into(),
            is_admin: false,
            via: crate::accounts::AuthMethod::Password,
        });
        let opts = crate::files::PutOptions {
            expected_length: Some(5),
            ..Default::default()
        };
        let put = files
            .put(
                &alice,
                "alice",
                &["a.txt".into()],
                None,
                &b"hello"[..],
                opts,
            )
            .await
            .unwrap();
        assert!(put.node.inline);
        let clean = fsck(&store, &blobs, false).unwrap();
        assert!(
            clean.is_clean() && clean.blobs_checked == 1,
            "{}",
            clean.render()
        );

        let id = put.node.blob.clone().unwrap();
        store
            .write(|tx| {
                super::super::inline::put(tx, &id, b"jello")?;
                super::super::inline::put(tx, "0123456789abcdef0123456789abcdef", b"stray")
            })
            .unwrap();
        let report = fsck(&store, &blobs, false).unwrap();
        assert_eq!(report.corrupt.len(), 1, "{}", report.render());
        assert_eq!(
            report.orphans,
            vec!["0123456789abcdef0123456789abcdef".to_owned()]
        );
        fsck(&store, &blobs, true).unwrap();
        let after = fsck(&store, &blobs, false).unwrap();
        assert!(after.orphans.is_empty() && after.corrupt.len() == 1);
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
