//! The file tree: metadata in redb, content in the blob store.
//!
//! Rules kept here: names are valid NFC; a folder's etag and size change in the same
//! transaction as anything below it; content is durable before metadata points at it; quota is
//! checked before and while content streams in; only the owner reaches a space (shares come
//! later, through this service).

pub mod locks;
pub mod model;
pub mod names;
mod tree;
mod uploads;

use std::sync::Arc;

use tokio::io::{AsyncRead, AsyncReadExt};

use crate::accounts::Actor;
use crate::blobs::{BlobError, BlobRef, BlobStore, Hashes, LocalBlobs, Staged, Written, inline};
use crate::clock::now_secs;
use crate::schema;
use crate::store::{Store, StoreError};
pub use model::{Chunk, Kind, Node, NodeView, Upload};
pub use tree::record_key;
use tree::{Reader, Tx};

#[derive(Debug, thiserror::Error)]
pub enum FilesError {
    #[error("not found")]
    NotFound,
    #[error("the parent folder does not exist")]
    ParentMissing,
    #[error("something with this name already exists")]
    AlreadyExists,
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    BadName(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("the resource changed since you last saw it")]
    PreconditionFailed,
    #[error("not enough space left in your quota")]
    QuotaExceeded,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("storage: {0}")]
    Blob(#[from] BlobError),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = FilesError> = std::result::Result<T, E>;

/// Options a client sends along with content (`X-OC-MTime`, `OC-Checksum`, preconditions).
#[derive(Debug, Default, Clone)]
pub struct PutOptions {
    pub mtime: Option<i64>,
    pub ctime: Option<i64>,
    /// `OC-Checksum`, e.g. `SHA1:abc…`.
    pub checksum: Option<String>,
    /// `OC-Total-Length` or `Content-Length`, checked against the quota before reading.
    pub expected_length: Option<u64>,
    /// `OC-Total-Length` only: the stored size must equal it.
    pub total_length: Option<u64>,
    pub if_match: Option<String>,
    pub if_none_match_any: bool,
    /// `X-File-MD5` (bulk upload): checked before anything is committed.
    pub md5: Option<String>,
}

pub struct PutResult {
    pub node: Node,
    pub created: bool,
}

pub struct Files {
    store: Arc<Store>,
    blobs: Arc<LocalBlobs>,
    locks: locks::LockManager,
}

/// Who may touch `uid`'s space: the owner (shares arrive with the sharing service).
fn check_owner(actor: &Actor, uid: &str) -> Result<()> {
    match actor.principal() {
        Some(p) if p.uid == uid => Ok(()),
        _ => Err(FilesError::Forbidden("this is not your space".into())),
    }
}

impl Files {
    pub fn new(store: Arc<Store>, blobs: Arc<LocalBlobs>) -> Self {
        Files {
            store,
            blobs,
            locks: locks::LockManager::default(),
        }
    }

    /// The write locks on every space's files (taken through WebDAV today).
    pub fn locks(&self) -> &locks::LockManager {
        &self.locks
    }

    /// The root folder of `uid`, created on first use.
    pub fn root(&self, actor: &Actor, uid: &str) -> Result<Node> {
        check_owner(actor, uid)?;
        if let Some(root) = self.store.read(|tx| Reader::new(tx)?.root_of(uid))? {
            return Ok(root);
        }
        self.store.write(|tx| tree::ensure_root(tx, uid))
    }

    pub fn node(&self, id: u64) -> Result<Node> {
        self.store
            .read(|tx| Reader::new(tx)?.node(id))?
            .ok_or(FilesError::NotFound)
    }

    /// Resolves a path (already split and validated) under `uid`'s root, in one read
    /// transaction (this runs on every request).
    pub fn lookup(&self, actor: &Actor, uid: &str, segs: &[String]) -> Result<Option<Node>> {
        check_owner(actor, uid)?;
        let found = self.store.read(|tx| {
            let r = Reader::new(tx)?;
            let Some(root) = r.root_of(uid)? else {
                return Ok(None);
            };
            tree::walk(&r, root, segs).map(Some)
        })?;
        match found {
            Some(n) => Ok(n),
            None => {
                let root = self.root(actor, uid)?;
                Ok(self
                    .store
                    .read(|tx| tree::walk(&Reader::new(tx)?, root, segs))?)
            }
        }
    }

    /// `lookup` for a download: a file kept inline comes with its content, read in the same
    /// transaction (a 4 KiB GET then costs one read transaction, not two).
    pub fn lookup_for_read(
        &self,
        actor: &Actor,
        uid: &str,
        segs: &[String],
    ) -> Result<Option<(Node, Option<bytes::Bytes>)>> {
        check_owner(actor, uid)?;
        let found = self.store.read(|tx| {
            let r = Reader::new(tx)?;
            let Some(root) = r.root_of(uid)? else {
                return Ok(None);
            };
            let Some(node) = tree::walk(&r, root, segs)? else {
                return Ok(Some(None));
            };
            let content = match node.blob.as_deref() {
                Some(b) if node.inline => inline::read(tx, b, 0, node.size)?,
                _ => None,
            };
            Ok(Some(Some((node, content))))
        })?;
        match found {
            Some(n) => Ok(n),
            // No root yet: made on first use, and it has nothing in it.
            None => Ok(self.lookup(actor, uid, segs)?.map(|n| (n, None))),
        }
    }

    /// Reads a small range whole (from the page cache without a thread hop when it is there).
    pub async fn read_small(&self, node: &Node, start: u64, count: u64) -> Result<bytes::Bytes> {
        let blob = node.blob.as_deref().ok_or(FilesError::NotFound)?;
        if node.inline {
            return self.read_inline_range(node, blob, start, count);
        }
        let path = self.blobs.path_of(blob)?;
        let len =
            usize::try_from(count).map_err(|_| FilesError::Internal("range too large".into()))?;
        crate::blobs::read::read_range(path, start, len)
            .await
            .map_err(|e| FilesError::Blob(BlobError::Io(e)))
    }

    /// Up to `limit` children of `parent` after the name `after`, in name order. Listings are
    /// read in batches like this so a folder of 100,000 entries never sits in memory.
    pub fn children(&self, parent: u64, after: Option<&str>, limit: usize) -> Result<Vec<Node>> {
        Ok(self
            .store
            .read(|tx| Reader::new(tx)?.children(parent, after, limit))?)
    }

    /// Visits up to `limit` children of `parent` after the name `after`, in name order, each
    /// read in place inside one read transaction (keep `f` quick: it holds the transaction);
    /// returns the last name visited, to page on from.
    pub fn visit_children(
        &self,
        parent: u64,
        after: Option<&str>,
        limit: usize,
        f: impl FnMut(&NodeView<'_>),
    ) -> Result<Option<String>> {
        Ok(self
            .store
            .read(|tx| Reader::new(tx)?.visit_children(parent, after, limit, f))?)
    }

    /// Quota of `uid`: (used bytes, available bytes or None when unlimited).
    pub fn quota(&self, root: &Node, quota: Option<u64>) -> (u64, Option<u64>) {
        (root.size, quota.map(|q| q.saturating_sub(root.size)))
    }

    pub fn mkdir(
        &self,
        actor: &Actor,
        uid: &str,
        segs: &[String],
        mtime: Option<i64>,
    ) -> Result<Node> {
        let root = self.root(actor, uid)?;
        let (name, parent_segs) = segs.split_last().ok_or(FilesError::AlreadyExists)?;
        self.store.write(|tx| {
            let parent = tree::walk(tx, root, parent_segs)?.ok_or(FilesError::ParentMissing)?;
            if !parent.is_dir() {
                return Err(FilesError::ParentMissing);
            }
            if tx.child(parent.id, name)?.is_some() {
                return Err(FilesError::AlreadyExists);
            }
            let node = tree::insert(
                tx,
                &parent,
                uid,
                name,
                Kind::Dir,
                0,
                None,
                mtime.unwrap_or_else(now_secs),
            )?;
            tree::touch_ancestors(tx, parent.id)?;
            Ok(node)
        })
    }

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

    /// The whole content of a file kept inline.
    pub fn read_inline(&self, node: &Node) -> Result<bytes::Bytes> {
        let blob = node.blob.as_deref().ok_or(FilesError::NotFound)?;
        self.read_inline_range(node, blob, 0, node.size)
    }

    fn read_inline_range(
        &self,
        node: &Node,
        blob: &str,
        start: u64,
        count: u64,
    ) -> Result<bytes::Bytes> {
        self.store
            .read(|tx| inline::read(tx, blob, start, count))?
            .ok_or_else(|| {
                FilesError::Internal(format!("the content of {:?} is missing", node.name))
            })
    }

    /// Where a file's content lies (for streaming it out); content kept inline has no path
    /// (it is at most `blobs::inline::MAX` bytes: read it with `read_small`).
    pub fn blob_path(&self, node: &Node) -> Result<std::path::PathBuf> {
        let blob = node.blob.as_deref().ok_or(FilesError::NotFound)?;
        if node.inline {
            return Err(FilesError::Internal("inline content has no file".into()));
        }
        Ok(self.blobs.path_of(blob)?)
    }

    /// Deletes a file or a folder with everything below it.
    pub async fn delete(&self, actor: &Actor, uid: &str, segs: &[String]) -> Result<()> {
        let root = self.root(actor, uid)?;
        if segs.is_empty() {
            return Err(FilesError::Forbidden(
                "the root folder cannot be deleted".into(),
            ));
        }
        let blobs = self.store.write(|tx| {
            let node = tree::walk(tx, root, segs)?.ok_or(FilesError::NotFound)?;
            let blobs = tree::remove_subtree(tx, &node)?;
            tree::changed_below(tx, node.parent, -i128::from(node.size))?;
            Ok::<_, FilesError>(blobs)
        })?;
        for b in blobs {
            let _ = self.blobs.delete(&b).await;
        }
        Ok(())
    }

    /// Moves (renames) `from` to `to`: metadata only, the file id stays. Returns the moved
    /// node and whether `to` existed (and was replaced).
    pub async fn rename(
        &self,
        actor: &Actor,
        uid: &str,
        from: &[String],
        to: &[String],
        overwrite: bool,
    ) -> Result<(Node, bool)> {
        let root = self.root(actor, uid)?;
        if from.is_empty() || to.is_empty() {
            return Err(FilesError::Forbidden(
                "the root folder cannot be moved".into(),
            ));
        }
        if to.len() > from.len() && to[..from.len()] == *from {
            return Err(FilesError::Forbidden(
                "a folder cannot be moved into itself".into(),
            ));
        }
        if from == to {
            return Err(FilesError::Forbidden(
                "source and destination are the same".into(),
            ));
        }
        let (name, to_parent) = to.split_last().ok_or(FilesError::ParentMissing)?;
        let (node, replaced, blobs) = self.store.write(|tx| {
            let mut node = tree::walk(tx, root.clone(), from)?.ok_or(FilesError::NotFound)?;
            let dest_parent = tree::walk(tx, root.clone(), to_parent)?
                .filter(Node::is_dir)
                .ok_or(FilesError::ParentMissing)?;
            let (replaced, blobs) = tree::clear_destination(tx, dest_parent.id, name, overwrite)?;
            let old_parent = node.parent;
            tx.delete(&schema::PARENTID_NAME_NODE, &record_key(&node))?;
            tree::changed_below(tx, old_parent, -i128::from(node.size))?;
            node.parent = dest_parent.id;
            node.name.clone_from(name);
            // The moved node keeps its etag (only the folders above change): the desktop
            // client recognises a server-side rename by an unchanged file id *and* etag, and
            // would otherwise delete and download the file again.
            if !node.is_dir() {
                node.content_type = names::content_type(name).to_owned();
            }
            tree::put_node(tx, &node)?;
            tx.put_raw(
                &schema::NODEID_NODEKEY,
                &tree::node_key(node.id),
                record_key(&node).as_bytes(),
            )?;
            tree::changed_below(tx, dest_parent.id, i128::from(node.size))?;
            Ok::<_, FilesError>((node, replaced, blobs))
        })?;
        for b in blobs {
            let _ = self.blobs.delete(&b).await;
        }
        Ok((node, replaced))
    }

    /// Copies `from` to `to` (folders recursively when `deep`); copies get new ids and their
    /// own content. Returns the new top node and whether `to` existed.
    #[allow(clippy::too_many_arguments)] // one call site; a struct would only rename them
    pub async fn copy(
        &self,
        actor: &Actor,
        uid: &str,
        from: &[String],
        to: &[String],
        overwrite: bool,
        deep: bool,
        quota: Option<u64>,
    ) -> Result<(Node, bool)> {
        let root = self.root(actor, uid)?;
        if to.is_empty() {
            return Err(FilesError::Forbidden(
                "the root folder cannot be replaced".into(),
            ));
        }
        if to.len() >= from.len() && to[..from.len()] == *from {
            return Err(FilesError::Forbidden(
                "a folder cannot be copied into itself".into(),
            ));
        }
        let (name, to_parent) = to.split_last().ok_or(FilesError::ParentMissing)?;
        let src = self.lookup(actor, uid, from)?.ok_or(FilesError::NotFound)?;
        let dest_parent = self
            .lookup(actor, uid, to_parent)?
            .filter(Node::is_dir)
            .ok_or(FilesError::ParentMissing)?;
        let existing = self
            .store
            .read(|tx| Reader::new(tx)?.child(dest_parent.id, name))?;
        if existing.is_some() && !overwrite {
            return Err(FilesError::PreconditionFailed);
        }
        let add = if deep || !src.is_dir() { src.size } else { 0 };
        if let Some(q) = quota {
            let freed = existing.as_ref().map_or(0, |e| e.size);
            if root.size.saturating_sub(freed).saturating_add(add) > q {
                return Err(FilesError::QuotaExceeded);
            }
        }
        // Content first (outside any transaction), then one transaction for the metadata.
        let plan = tree::plan_copy(self, &src, deep)?;
        let mut copies = Vec::with_capacity(plan.len());
        for (old, _) in &plan {
            match &old.blob {
                // Inline content is copied inside the transaction below.
                Some(_) if old.inline => copies.push(None),
                Some(b) => match self.blobs.copy(b).await {
                    Ok(w) => copies.push(Some(w)),
                    Err(e) => {
                        for w in copies.into_iter().flatten() {
                            let _ = self.blobs.delete(&w.id).await;
                        }
                        return Err(e.into());
                    }
                },
                None => copies.push(None),
            }
        }
        let new_blob_ids: Vec<String> = copies.iter().flatten().map(|w| w.id.clone()).collect();
        let result = self.store.write(|tx| {
            let dest_parent = tx.node(dest_parent.id)?.ok_or(FilesError::ParentMissing)?;
            let (replaced, freed) = tree::clear_destination(tx, dest_parent.id, name, overwrite)?;
            let top = tree::apply_copy(tx, &plan, &copies, &dest_parent, name, uid)?;
            tree::add_size(tx, dest_parent.id, i128::from(top.size))?;
            tree::touch_ancestors(tx, dest_parent.id)?;
            Ok::<_, FilesError>((top, replaced, freed))
        });
        match result {
            Ok((top, replaced, freed)) => {
                for b in freed {
                    let _ = self.blobs.delete(&b).await;
                }
                Ok((top, replaced))
            }
            Err(e) => {
                for b in new_blob_ids {
                    let _ = self.blobs.delete(&b).await;
                }
                Err(e)
            }
        }
    }

    /// Sets the favourite flag (no etag change, as in Nextcloud: it is not content).
    pub fn set_favorite(&self, node_id: u64, favorite: bool) -> Result<()> {
        self.update(node_id, false, |n| n.favorite = favorite)
    }

    pub fn set_mtime(&self, node_id: u64, mtime: i64) -> Result<()> {
        self.update(node_id, true, |n| n.mtime = mtime)
    }

    fn update(&self, node_id: u64, new_etag: bool, f: impl FnOnce(&mut Node)) -> Result<()> {
        self.store.write(|tx| {
            let mut n = tx.node(node_id)?.ok_or(FilesError::NotFound)?;
            f(&mut n);
            if new_etag {
                n.etag = tree::new_etag();
                tree::touch_ancestors(tx, n.parent)?;
            }
            tree::put_node(tx, &n)?;
            Ok(())
        })
    }

    /// Dead properties: (Clark name → XML value) kept for a node.
    pub fn dead_props(&self, node_id: u64) -> Result<Vec<(String, String)>> {
        let mut out = Vec::new();
        let prefix = schema::props_of(node_id);
        self.store.read(|tx| {
            tx.scan(&schema::NODEID_PROP_VALUE, &prefix, |k, v: String| {
                out.push((k[prefix.len()..].to_owned(), v));
                true
            })
        })?;
        Ok(out)
    }

    /// Applies dead-property sets (`Some`) and removals (`None`) in one transaction.
    pub fn patch_dead_props(
        &self,
        node_id: u64,
        changes: &[(String, Option<String>)],
    ) -> Result<()> {
        self.store.write(|tx| {
            for (name, value) in changes {
                let key = schema::prop_key(node_id, name);
                match value {
                    Some(v) => tx.put(&schema::NODEID_PROP_VALUE, &key, v)?,
                    None => {
                        tx.delete(&schema::NODEID_PROP_VALUE, &key)?;
                    }
                }
            }
            Ok(())
        })
    }

    /// Every node below `top` (depth-first, in batches), for REPORT and SEARCH.
    pub fn descendants(
        &self,
        top: &Node,
        mut visit: impl FnMut(&[String], &Node) -> bool,
    ) -> Result<()> {
        let mut stack: Vec<(Vec<String>, u64)> = vec![(Vec::new(), top.id)];
        while let Some((path, id)) = stack.pop() {
            let mut after: Option<String> = None;
            loop {
                let batch = self.children(id, after.as_deref(), 256)?;
                let Some(last) = batch.last() else { break };
                after = Some(last.name.clone());
                for n in batch {
                    let mut p = path.clone();
                    p.push(n.name.clone());
                    if !visit(&p, &n) {
                        return Ok(());
                    }
                    if n.is_dir() {
                        stack.push((p, n.id));
                    }
                }
            }
        }
        Ok(())
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
