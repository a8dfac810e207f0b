//! Metadata/blob agreement, `hearth fsck`: every blob reference against the disk, every blob
//! on disk against the references, and the file tree's inline content against its nodes. A
//! box-level check across services (files, users' avatars), so it sits above `blobs`; the
//! hourly orphan sweep, which needs only the blob tables, is `blobs::sweep_orphans`.

use std::io::Read;

use sha1::{Digest, Sha1};

use crate::blobs::{BlobError, BlobRef, LocalBlobs};
use crate::schema;
use crate::store::{self, Store};

#[derive(Debug, Default)]
pub struct FsckReport {
    pub blobs_checked: usize,
    /// Metadata points at a blob that is not on disk.
    pub missing: Vec<(String, String)>,
    /// The blob on disk differs from what metadata recorded (size or checksum).
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
/// content must be there with its size and checksum; content no node points at is returned (fsck
/// reports it with the orphans, `--repair` removes it). Node and content are written in one
/// transaction, so either finding means a bug or a damaged store, never an interrupted write.
fn check_inline(store: &Store, report: &mut FsckReport) -> Result<Vec<String>, BlobError> {
    let mut pointed = std::collections::HashSet::new();
    store.read(|tx| {
        let data = tx.open_raw(&schema::BLOBID_DATA)?;
        let mut failed = None;
        tx.scan(
            &schema::PARENTID_NAME_NODE,
            "",
            |_, n: crate::files::Node| {
                let Some(id) = n.blob.as_deref().filter(|_| n.inline) else {
                    return true;
                };
                report.blobs_checked += 1;
                pointed.insert(id.to_owned());
                let want = Expected {
                    size: n.size,
                    crc32c: n.crc32c,
                    sha1: n.sha1.as_deref(),
                };
                match data.with(id, |d| mismatch(d, &want)) {
                    Err(e) => {
                        failed = Some(e);
                        return false;
                    }
                    Ok(None) => report
                        .missing
                        .push((id.to_owned(), format!("file:{}", n.id))),
                    Ok(Some(Ok(Some(why)))) => report.corrupt.push((id.to_owned(), why)),
                    Ok(Some(_)) => {}
                }
                true
            },
        )?;
        failed.map_or(Ok(()), Err)
    })?;
    let mut stray = Vec::new();
    store.read(|tx| {
        tx.scan_raw(&schema::BLOBID_DATA, "", None, |id, _| {
            if !pointed.contains(id) {
                stray.push(id.to_owned());
            }
            true
        })
    })?;
    Ok(stray)
}

/// What metadata recorded of some content when it was written.
struct Expected<'a> {
    size: u64,
    /// Content written since schema 7.
    crc32c: Option<u32>,
    /// Content written before schema 7 (or whose SHA-1 a client sent), checked only when there
    /// is no CRC32C: SHA-1 costs about twenty times as much.
    sha1: Option<&'a str>,
}

/// Why the content read from `r` is not what was recorded; `None` when it is.
fn mismatch(mut r: impl Read, want: &Expected<'_>) -> std::io::Result<Option<String>> {
    let mut sha1 = (want.crc32c.is_none() && want.sha1.is_some()).then(Sha1::new);
    let (mut crc, mut size) = (0u32, 0u64);
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = r.read(&mut buf)?;
        if n == 0 {
            break;
        }
        size += n as u64;
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        if let Some(h) = sha1.as_mut() {
            h.update(&buf[..n]);
        }
    }
    if size != want.size {
        return Ok(Some(format!("{size} bytes, expected {}", want.size)));
    }
    if let Some(c) = want.crc32c.filter(|&c| c != crc) {
        return Ok(Some(format!("crc32c {crc:08x}, expected {c:08x}")));
    }
    if let (Some(h), Some(w)) = (sha1, want.sha1) {
        let got = crate::blobs::hex(&h.finalize());
        if !got.eq_ignore_ascii_case(w) {
            return Ok(Some(format!("sha1 {got}, expected {w}")));
        }
    }
    Ok(None)
}

/// Compares every blob reference with the disk, and every blob on disk with the references.
/// With `repair`, removes orphans and temp files and drops references to missing blobs
/// (clearing what pointed at them). Blocking: run it off the async runtime.
pub fn fsck(store: &Store, blobs: &LocalBlobs, repair: bool) -> Result<FsckReport, BlobError> {
    let mut report = FsckReport::default();
    let mut refs: Vec<(String, BlobRef)> = Vec::new();
    store.read(|tx| {
        tx.scan(&schema::BLOBID_REF, "", |id, r| {
            refs.push((id.to_owned(), r));
            true
        })
    })?;
    let mut known = std::collections::HashSet::new();
    for (id, r) in &refs {
        report.blobs_checked += 1;
        known.insert(id.clone());
        let want = Expected {
            size: r.size,
            crc32c: r.crc32c,
            sha1: r.sha1.as_deref(),
        };
        match std::fs::File::open(blobs.path_of(id)?).and_then(|f| mismatch(f, &want)) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                report.missing.push((id.clone(), r.owner.clone()))
            }
            Err(e) => return Err(e.into()),
            Ok(Some(why)) => report.corrupt.push((id.clone(), why)),
            Ok(None) => {}
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
                crate::blobs::inline::delete(tx, id)?;
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
                tx.delete(&schema::BLOBID_REF, id)?;
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
        && let Some(mut u) = tx.get(&schema::USERID_USER, uid)?
        && u.avatar_blob.as_deref() == Some(id)
    {
        u.avatar_blob = None;
        tx.put(&schema::USERID_USER, uid, &u)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::{BlobStore, Hashes, LocalBlobs, sweep_orphans};

    fn put_ref(store: &Store, id: &str, r: &BlobRef) {
        store
            .write(|tx| tx.put(&schema::BLOBID_REF, id, r))
            .unwrap();
    }

    #[tokio::test]
    async fn finds_missing_damaged_and_orphaned_blobs() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.redb"), &crate::schema::SCHEMA).unwrap();
        let blobs = LocalBlobs::open(&dir.path().join("blobs")).unwrap();
        let mut written = Vec::new();
        for content in [&b"hello"[..], b"world", b"gone", b"orphan"] {
            written.push(blobs.put(content, 1 << 20, Hashes::CRC_ONLY).await.unwrap());
        }
        let [good, damaged, gone, orphan] = <[_; 4]>::try_from(written).unwrap();
        for w in [&good, &damaged, &gone] {
            let r = BlobRef::new(w, "avatar:nobody".into());
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

    /// A blob written before schema 7 has only a SHA-1 in its reference: fsck still checks it.
    #[tokio::test]
    async fn checks_older_blobs_against_their_sha1() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.redb"), &crate::schema::SCHEMA).unwrap();
        let blobs = LocalBlobs::open(&dir.path().join("blobs")).unwrap();
        let mut refs = Vec::new();
        for content in [&b"kept"[..], &b"rotted"[..]] {
            let w = blobs.put(content, 1 << 20, Hashes::CRC_ONLY).await.unwrap();
            let r = BlobRef {
                crc32c: None,
                sha1: Some(crate::blobs::sha1_hex(content)),
                ..BlobRef::new(&w, "avatar:nobody".into())
            };
            put_ref(&store, &w.id, &r);
            refs.push(w.id);
        }
        std::fs::write(blobs.path_of(&refs[1]).unwrap(), b"rotten").unwrap();
        let report = fsck(&store, &blobs, false).unwrap();
        assert_eq!(report.blobs_checked, 2);
        assert_eq!(report.corrupt.len(), 1, "{}", report.render());
        assert_eq!(report.corrupt[0].0, refs[1]);
        assert!(report.corrupt[0].1.contains("sha1"), "{}", report.render());
    }

    /// Content kept inline is checked against its node; content nothing points at is an
    /// orphan that `--repair` removes.
    #[tokio::test]
    async fn checks_inline_content_against_its_nodes() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(
            Store::open(&dir.path().join("db.redb"), &crate::schema::SCHEMA).unwrap(),
        );
        let blobs = std::sync::Arc::new(LocalBlobs::open(&dir.path().join("blobs")).unwrap());
        let files = crate::files::Files::new(store.clone(), blobs.clone());
        let alice = crate::accounts::Actor::User(crate::accounts::Principal {
            uid: "alice".into(),
            is_admin: false,
            via: crate::accounts::AuthMethod::Password,
            groups: Default::default(),
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
                crate::blobs::inline::put(tx, &id, b"jello")?;
                crate::blobs::inline::put(tx, "0123456789abcdef0123456789abcdef", b"stray")
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
        let err = blobs
            .put(&[7u8; 1000][..], 100, Hashes::CRC_ONLY)
            .await
            .unwrap_err();
        assert!(matches!(err, crate::blobs::BlobError::TooLarge { .. }));
        assert!(blobs.ids().unwrap().is_empty());
        assert_eq!(std::fs::read_dir(blobs.tmp_dir()).unwrap().count(), 0);
        let store = Store::open(&dir.path().join("db.redb"), &crate::schema::SCHEMA).unwrap();
        assert_eq!(
            sweep_orphans(&store, &blobs, std::time::Duration::ZERO).unwrap(),
            0
        );
    }
}
