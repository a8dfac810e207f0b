//! The file tree: metadata in redb, content in the blob store.
//!
//! Rules kept here: names are valid NFC; a folder's etag and size change in the same
//! transaction as anything below it; content is durable before metadata points at it; quota is
//! checked before and while content streams in; only the owner reaches a space (shares come
//! later, through this service).

mod edit;
pub mod locks;
pub mod model;
pub mod names;
mod props;
mod put;
mod tree;
mod uploads;

use std::borrow::Cow;
use std::sync::Arc;

use crate::accounts::Actor;
use crate::accounts::access::{Denial, owner_only};
use crate::blobs::{BlobError, LocalBlobs, inline};
use crate::clock::now_secs;
use crate::error::{Categorized, Category};
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
    #[error("the resource is locked")]
    Locked,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("storage: {0}")]
    Blob(#[from] BlobError),
    #[error("internal error: {0}")]
    Internal(String),
}

pub type Result<T, E = FilesError> = std::result::Result<T, E>;

impl Categorized for FilesError {
    fn category(&self) -> Category {
        match self {
            FilesError::NotFound => Category::NotFound,
            FilesError::ParentMissing | FilesError::Conflict(_) => Category::Conflict,
            FilesError::AlreadyExists => Category::AlreadyExists,
            FilesError::BadName(_) | FilesError::BadRequest(_) => Category::BadRequest,
            FilesError::Forbidden(_) => Category::Forbidden,
            FilesError::PreconditionFailed => Category::PreconditionFailed,
            FilesError::QuotaExceeded => Category::Quota,
            FilesError::Locked => Category::Locked,
            FilesError::Store(_) | FilesError::Blob(_) | FilesError::Internal(_) => {
                Category::Internal
            }
        }
    }

    fn public_message(&self) -> Cow<'_, str> {
        Cow::Borrowed(match self {
            FilesError::NotFound => "File not found",
            FilesError::ParentMissing => "The parent folder does not exist",
            FilesError::AlreadyExists => "The resource you tried to create already exists",
            FilesError::PreconditionFailed => "The resource changed since you last saw it",
            FilesError::QuotaExceeded => "Insufficient space in your quota",
            FilesError::Conflict(m) | FilesError::BadRequest(m) | FilesError::Forbidden(m) => {
                return Cow::Borrowed(m);
            }
            FilesError::BadName(m) => return Cow::Owned(format!("Invalid name: {m}")),
            _ => return Cow::Owned(self.to_string()),
        })
    }
}

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
    /// The lock tokens the writer holds (the `If` header's).
    pub held: locks::Held,
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

/// Another user's files are refused, not hidden (403, as the WebDAV surface has answered).
const NOT_YOUR_SPACE: Denial = Denial::Forbidden("This is not your space");
const NOT_YOUR_UPLOADS: Denial = Denial::Forbidden("This is not your upload area");

/// Who may touch `uid`'s space: the owner (shares arrive with the sharing service, as grants
/// in `authorize_space`).
fn check_owner(actor: &Actor, uid: &str) -> Result<()> {
    Ok(owner_only(actor, uid, NOT_YOUR_SPACE).map(|_| ())?)
}

impl From<Denial> for FilesError {
    fn from(d: Denial) -> Self {
        match d {
            Denial::Forbidden(m) => FilesError::Forbidden(m.into()),
            Denial::Hidden(_) => FilesError::NotFound,
        }
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

    /// Whether `actor` may reach `uid`'s files (the decision every surface asks for first).
    pub fn authorize_space(&self, actor: &Actor, uid: &str) -> Result<(), Denial> {
        owner_only(actor, uid, NOT_YOUR_SPACE).map(|_| ())
    }

    /// Whether `actor` may reach `uid`'s area of chunked uploads.
    pub fn authorize_uploads(&self, actor: &Actor, uid: &str) -> Result<(), Denial> {
        owner_only(actor, uid, NOT_YOUR_UPLOADS).map(|_| ())
    }

    /// The write locks on every space's files (taken through WebDAV today).
    pub fn locks(&self) -> &locks::LockManager {
        &self.locks
    }

    /// The lock rule for a write by `actor` to `segs` of `uid`'s space (with `membership`, the
    /// change to its parent's members; with `subtree`, everything below it too).
    fn check_locks(
        &self,
        actor: &Actor,
        uid: &str,
        segs: &[String],
        membership: bool,
        subtree: bool,
        held: &locks::Held,
    ) -> Result<()> {
        let me = actor.principal().map_or("", |p| p.uid.as_str());
        let tokens: Vec<&str> = held.0.iter().map(String::as_str).collect();
        self.locks
            .check_write(me, uid, segs, membership, subtree, &tokens)
            .map_err(|_| FilesError::Locked)
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
        held: &locks::Held,
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
            // Only a folder that is created changes its parent's members (what a lock guards).
            self.check_locks(actor, uid, segs, true, false, held)?;
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
