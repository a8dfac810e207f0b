//! Writing a file: the content streams in first (up to 16 KiB kept inline, anything larger
//! into a blob file), then one short metadata transaction re-checks the preconditions and the
//! quota and points the tree at it. Checksums the client sent are verified on the way.

use tokio::io::{AsyncRead, AsyncReadExt};

use super::tree::{self, Reader, Tx};
use super::{Files, FilesError, Kind, Node, PutOptions, PutResult, Result, names};
use crate::accounts::Actor;
use crate::blobs::{BlobError, BlobRef, BlobStore, Hashes, Staged, Written, inline};
use crate::clock::now_secs;
use crate::schema;

impl Files {
    /// Streams `body` into a file at `segs`, creating or replacing it. Nothing is visible
    /// until the content is durable; a failed or over-quota upload leaves nothing behind.
    pub async fn put(
        &self,
        actor: &Actor,
        uid: &str,
        segs: &[String],
        quota: Option<u64>,
        body: impl AsyncRead + Send + Unpin,
        opts: PutOptions,
    ) -> Result<PutResult> {
        let root = self.root(actor, uid)?;
        self.check_locks(actor, uid, segs, true, false, &opts.held)?;
        let (name, parent_segs) = segs
            .split_last()
            .ok_or_else(|| FilesError::Conflict("cannot write to the root folder".into()))?;
        let (parent, existing) = self.store.read(|tx| {
            let r = Reader::new(tx)?;
            let parent = tree::walk(&r, root.clone(), parent_segs)?;
            let existing = match &parent {
                Some(p) => r.child(p.id, name)?,
                None => None,
            };
            Ok((parent, existing))
        })?;
        let parent = parent
            .filter(Node::is_dir)
            .ok_or(FilesError::ParentMissing)?;
        check_preconditions(existing.as_ref(), &opts)?;
        if existing.as_ref().is_some_and(Node::is_dir) {
            return Err(FilesError::Conflict(format!("{name:?} is a folder")));
        }
        let replaced = existing.as_ref().map_or(0, |n| n.size);
        let available = quota.map(|q| q.saturating_sub(root.size).saturating_add(replaced));
        if let (Some(avail), Some(len)) = (available, opts.expected_length)
            && len > avail
        {
            return Err(FilesError::QuotaExceeded);
        }
        // A small upload is a few hundred microseconds from its metadata commit: tell the
        // commit queue, so that concurrent small uploads share one commit.
        let expected = opts
            .expected_length
            .is_some_and(|l| l <= 256 * 1024)
            .then(|| self.store.expect_write())
            .flatten();
        let mut body = Md5Reader {
            inner: body,
            md5: (opts.md5.is_some() || announced(opts.checksum.as_deref(), "MD5"))
                .then(md5::Md5::default),
        };
        let limit = available.unwrap_or(u64::MAX);
        // SHA-1 only to verify one the client sent (see `Hashes`).
        let hashes = Hashes {
            sha1: announced(opts.checksum.as_deref(), "SHA1"),
        };
        // Small content is kept inline (`blobs::inline`): read whole (at most 16 KiB) and
        // committed with its node; anything larger streams into a blob file.
        let mut small = None;
        let (written, staged) = if opts.expected_length.is_some_and(|l| l <= inline::MAX) {
            let mut buf = Vec::with_capacity(opts.expected_length.map_or(0, |l| l as usize));
            (&mut body)
                .take(inline::MAX + 1)
                .read_to_end(&mut buf)
                .await
                .map_err(|e| FilesError::Blob(BlobError::Io(e)))?;
            if buf.len() as u64 <= inline::MAX {
                if buf.len() as u64 > limit {
                    return Err(FilesError::QuotaExceeded);
                }
                let (crc32c, sha1) = crate::blobs::sums_of(&buf, hashes);
                let w = Written {
                    id: inline::new_id(),
                    size: buf.len() as u64,
                    crc32c,
                    sha1,
                };
                small = Some(bytes::Bytes::from(buf));
                (w, Staged::Durable)
            } else {
                // More than announced: stream it like any large upload.
                let rest = std::io::Cursor::new(buf).chain(&mut body);
                self.stream_blob(rest, limit, hashes).await?
            }
        } else {
            self.stream_blob(&mut body, limit, hashes).await?
        };
        let is_inline = small.is_some();
        let cleanup = |e: FilesError| async {
            if !is_inline {
                let _ = self.blobs.delete(&written.id).await;
            }
            Err(e)
        };
        if let Some(total) = opts.total_length
            && total != written.size
        {
            return cleanup(FilesError::BadRequest(format!(
                "the upload has {} bytes but OC-Total-Length says {total}",
                written.size
            )))
            .await;
        }
        let md5 = body.md5.take().map(|h| {
            use md5::Digest;
            crate::blobs::hex(&h.finalize())
        });
        if let (Some(want), Some(got)) = (&opts.md5, &md5)
            && !want.trim().eq_ignore_ascii_case(got)
        {
            return cleanup(FilesError::BadRequest(
                "Computed md5 hash is incorrect".into(),
            ))
            .await;
        }
        let sums = Computed {
            sha1: written.sha1.as_deref(),
            md5: md5.as_deref(),
        };
        let client_checksum = match verify_checksum(opts.checksum.as_deref(), sums) {
            // A bulk upload's `X-File-MD5` (desktop 3.7 sends no `OC-Checksum` there) is the
            // file's checksum when there is no other: the desktop checks downloads against it.
            Ok(None) if opts.checksum.is_none() && opts.md5.is_some() => {
                md5.map(|m| format!("MD5:{m}"))
            }
            Ok(c) => c,
            Err(e) => return cleanup(e).await,
        };
        let mtime = opts.mtime.unwrap_or_else(now_secs);
        let content_type = names::content_type(name).to_owned();
        // The metadata commit goes through the group-commit queue once the content is durable:
        // concurrent uploads share one fsync, and no async worker waits for it. Inline content
        // is written in the same transaction.
        let (parent_id, name, uid) = (parent.id, name.clone(), uid.to_owned());
        let written_c = written.clone();
        let content_durable = move || staged.wait().map_err(|e| FilesError::Blob(e.into()));
        let committed = self
            .store
            .write_queued_after(expected, content_durable, move |tx| {
                let (written, name, uid) = (&written_c, name.as_str(), uid.as_str());
                let parent = tx.node(parent_id)?.ok_or(FilesError::ParentMissing)?;
                let current = tx.child(parent.id, name)?;
                // Another upload may have landed while ours streamed: re-check, the quota too
                // (concurrent uploads each passed the check before streaming).
                check_preconditions(current.as_ref(), &opts)?;
                if let Some(q) = quota {
                    let used = tx.root_of(uid)?.map_or(0, |r| r.size);
                    let replaced = current
                        .as_ref()
                        .filter(|n| !n.is_dir())
                        .map_or(0, |n| n.size);
                    if used.saturating_sub(replaced).saturating_add(written.size) > q {
                        return Err(FilesError::QuotaExceeded);
                    }
                }
                if let Some(data) = &small {
                    inline::put(tx, &written.id, data)?;
                }
                let (node, old_blob, created) = match current {
                    Some(mut n) if !n.is_dir() => {
                        let old = n.blob.replace(written.id.clone()).map(|b| (b, n.inline));
                        let delta = i128::from(written.size) - i128::from(n.size);
                        n.size = written.size;
                        n.mtime = mtime;
                        n.upload_time = now_secs();
                        n.crc32c = Some(written.crc32c);
                        n.sha1.clone_from(&written.sha1);
                        n.client_checksum.clone_from(&client_checksum);
                        n.content_type = content_type.clone();
                        n.etag = tree::new_etag();
                        n.inline = small.is_some();
                        tree::put_node(tx, &n)?;
                        tree::changed_below(tx, parent.id, delta)?;
                        (n, old, false)
                    }
                    Some(_) => return Err(FilesError::Conflict(format!("{name:?} is a folder"))),
                    None => {
                        let mut n = tree::insert(
                            tx,
                            &parent,
                            uid,
                            name,
                            Kind::File,
                            written.size,
                            Some(written.id.clone()),
                            mtime,
                        )?;
                        n.crc32c = Some(written.crc32c);
                        n.sha1.clone_from(&written.sha1);
                        n.client_checksum.clone_from(&client_checksum);
                        n.ctime = opts.ctime.unwrap_or(n.ctime);
                        n.inline = small.is_some();
                        tree::put_node(tx, &n)?;
                        tree::changed_below(tx, parent.id, i128::from(written.size))?;
                        (n, None, true)
                    }
                };
                // Blob files have a reference for fsck and the orphan sweep; inline content
                // lives and dies with its node in the same transactions.
                if small.is_none() {
                    tx.put(
                        &schema::BLOBID_REF,
                        &written.id,
                        &BlobRef::new(written, format!("file:{}", node.id)),
                    )?;
                }
                // Replaced content: inline content goes with this transaction, a file after it.
                let old_file = match old_blob {
                    Some((old, true)) => {
                        inline::delete(tx, &old)?;
                        None
                    }
                    Some((old, false)) => {
                        tx.delete(&schema::BLOBID_REF, &old)?;
                        Some(old)
                    }
                    None => None,
                };
                Ok((node, old_file, created))
            })
            .await;
        match committed {
            Ok((node, old_file, created)) => {
                if let Some(old) = old_file {
                    let _ = self.blobs.delete(&old).await;
                }
                Ok(PutResult { node, created })
            }
            Err(e) => cleanup(e).await,
        }
    }

    /// Streams content into a new blob file (durable, or for a small one `Staged`).
    async fn stream_blob(
        &self,
        body: impl AsyncRead + Send + Unpin,
        limit: u64,
        hashes: Hashes,
    ) -> Result<(Written, Staged)> {
        match self.blobs.put_staged(body, limit, hashes).await {
            Ok(w) => Ok(w),
            Err(BlobError::TooLarge { .. }) => Err(FilesError::QuotaExceeded),
            Err(e) => Err(e.into()),
        }
    }
}

fn check_preconditions(existing: Option<&Node>, opts: &PutOptions) -> Result<()> {
    if opts.if_none_match_any && existing.is_some() {
        return Err(FilesError::PreconditionFailed);
    }
    if let Some(want) = &opts.if_match {
        let ok = match existing {
            Some(n) => {
                want == "*"
                    || want
                        .split(',')
                        .any(|w| w.trim().trim_start_matches("W/").trim_matches('"') == n.etag)
            }
            None => false,
        };
        if !ok {
            return Err(FilesError::PreconditionFailed);
        }
    }
    Ok(())
}

/// Whether an `OC-Checksum` header announces a checksum of type `kind` (`SHA1`, `MD5`).
fn announced(header: Option<&str>, kind: &str) -> bool {
    header
        .and_then(|h| h.trim().split_once(':'))
        .is_some_and(|(k, _)| k.eq_ignore_ascii_case(kind))
}

/// What was computed of an upload's content because the client announced it.
#[derive(Clone, Copy)]
struct Computed<'a> {
    sha1: Option<&'a str>,
    md5: Option<&'a str>,
}

/// `OC-Checksum` of type SHA1 or MD5 is verified against what arrived (computed because it was
/// `announced`); other types are kept as sent. A SHA-1 is kept in the node's `sha1`; anything
/// else comes back to be kept as the client's checksum.
fn verify_checksum(header: Option<&str>, computed: Computed<'_>) -> Result<Option<String>> {
    let Some(h) = header.map(str::trim).filter(|h| !h.is_empty()) else {
        return Ok(None);
    };
    let (kind, value) = h
        .split_once(':')
        .ok_or_else(|| FilesError::BadRequest(format!("OC-Checksum {h:?} is not TYPE:VALUE")))?;
    let (kind, value) = (kind.to_ascii_uppercase(), value.trim().to_ascii_lowercase());
    let got = match kind.as_str() {
        "SHA1" => computed.sha1,
        "MD5" => computed.md5,
        _ => return Ok(Some(format!("{kind}:{value}"))),
    };
    let Some(got) = got else {
        return Err(FilesError::Internal(format!("the {kind} was not computed")));
    };
    if value != got {
        return Err(FilesError::BadRequest(format!(
            "the content does not match its OC-Checksum ({kind})"
        )));
    }
    Ok((kind != "SHA1").then(|| format!("{kind}:{value}")))
}

/// Passes bytes through, computing their MD5 when asked to.
struct Md5Reader<R> {
    inner: R,
    md5: Option<md5::Md5>,
}

impl<R: AsyncRead + Unpin> AsyncRead for Md5Reader<R> {
    fn poll_read(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
        buf: &mut tokio::io::ReadBuf<'_>,
    ) -> std::task::Poll<std::io::Result<()>> {
        use md5::Digest;
        let before = buf.filled().len();
        let r = std::pin::Pin::new(&mut self.inner).poll_read(cx, buf);
        if let (std::task::Poll::Ready(Ok(())), Some(h)) = (&r, self.md5.as_mut()) {
            h.update(&buf.filled()[before..]);
        }
        r
    }
}
