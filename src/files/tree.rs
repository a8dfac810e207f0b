//! Tree operations inside one write (or read) transaction: lookups, inserts, removal of
//! subtrees, and the propagation of sizes and etags to every ancestor.

use super::{Files, FilesError, Kind, Node, NodeView, Result};
use crate::blobs::{BlobRef, Written, inline};
use crate::schema;
use crate::store::{self, ReadTx, StoreError, WriteTx};

pub use crate::schema::{child_key, node_key, record_key};

/// A fresh etag: time in microseconds plus randomness, so two changes in the same instant
/// still differ.
pub fn new_etag() -> String {
    let micros = crate::clock::now_micros();
    format!("{micros:x}{:04x}", rand::random::<u16>())
}

/// Reads that work in both transaction kinds.
pub trait Tx {
    fn record(&self, key: &str) -> Result<Option<Node>, StoreError>;
    fn key_of(&self, id: u64) -> Result<Option<String>, StoreError>;

    fn node(&self, id: u64) -> Result<Option<Node>, StoreError> {
        match self.key_of(id)? {
            Some(k) => self.record(&k),
            None => Ok(None),
        }
    }
    fn child(&self, parent: u64, name: &str) -> Result<Option<Node>, StoreError> {
        self.record(&child_key(parent, name))
    }
    fn root_of(&self, uid: &str) -> Result<Option<Node>, StoreError> {
        self.record(&child_key(0, uid))
    }
}

fn key_from(raw: Option<Vec<u8>>) -> Option<String> {
    raw.and_then(|k| String::from_utf8(k).ok())
}

impl Tx for WriteTx<'_> {
    fn record(&self, key: &str) -> Result<Option<Node>, StoreError> {
        self.get(&schema::PARENTID_NAME_NODE, key)
    }
    fn key_of(&self, id: u64) -> Result<Option<String>, StoreError> {
        Ok(key_from(
            self.get_raw(&schema::NODEID_NODEKEY, &node_key(id))?,
        ))
    }
}

/// The tree's tables opened once in a read transaction, for the several lookups of a walk
/// or a listing.
pub struct Reader<'a> {
    tx: &'a ReadTx,
    nodes: store::Opened<'static, Node>,
    /// Opened on first use: path walks and listings never need it.
    keys: std::cell::RefCell<Option<store::OpenedRaw>>,
}

impl<'a> Reader<'a> {
    pub fn new(tx: &'a ReadTx) -> Result<Reader<'a>, StoreError> {
        Ok(Reader {
            tx,
            nodes: tx.open(&schema::PARENTID_NAME_NODE)?,
            keys: std::cell::RefCell::new(None),
        })
    }

    /// Up to `limit` children of `parent` after the name `after`, in name order: one key range.
    pub fn children(
        &self,
        parent: u64,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Node>, StoreError> {
        let prefix = schema::children_of(parent);
        let after = after.map(|a| format!("{prefix}{a}"));
        let mut out = Vec::with_capacity(limit.min(1024));
        self.nodes.scan(&prefix, after.as_deref(), |_, n| {
            out.push(n);
            out.len() < limit
        })?;
        Ok(out)
    }
}

impl Reader<'_> {
    /// Visits up to `limit` children of `parent` after the name `after`, in name order,
    /// reading each record in place; returns the last name visited (to page on from).
    pub fn visit_children(
        &self,
        parent: u64,
        after: Option<&str>,
        limit: usize,
        mut f: impl FnMut(&NodeView<'_>),
    ) -> Result<Option<String>, StoreError> {
        let prefix = schema::children_of(parent);
        let after = after.map(|a| format!("{prefix}{a}"));
        let (mut seen, mut last) = (0, None::<String>);
        self.nodes
            .scan_bytes(&prefix, after.as_deref(), |key, bytes| {
                let name = &key[prefix.len()..];
                match bytes.split_first() {
                    Some((&v, body)) if super::model::is_binary_version(v) => {
                        match NodeView::parse(body) {
                            Some(v) => f(&v),
                            None => {
                                return Err(StoreError::Corrupt {
                                    table: "parentid_name_node",
                                    key: key.to_owned(),
                                    reason: "malformed node record".into(),
                                });
                            }
                        }
                    }
                    // An older record version: decoded the slow way.
                    _ => f(&self.nodes.decode(key, bytes)?.view()),
                }
                last = Some(name.to_owned());
                seen += 1;
                Ok(seen < limit)
            })?;
        Ok(last)
    }
}

impl Tx for Reader<'_> {
    fn record(&self, key: &str) -> Result<Option<Node>, StoreError> {
        self.nodes.get(key)
    }
    fn key_of(&self, id: u64) -> Result<Option<String>, StoreError> {
        let mut keys = self.keys.borrow_mut();
        if keys.is_none() {
            *keys = Some(self.tx.open_raw(&schema::NODEID_NODEKEY)?);
        }
        let Some(k) = keys.as_ref() else {
            return Ok(None);
        };
        Ok(k.with(&node_key(id), |k| {
            std::str::from_utf8(k).ok().map(str::to_owned)
        })?
        .flatten())
    }
}

pub fn walk(tx: &impl Tx, root: Node, segs: &[String]) -> Result<Option<Node>, StoreError> {
    let mut cur = root;
    for s in segs {
        if !cur.is_dir() {
            return Ok(None);
        }
        match tx.child(cur.id, s)? {
            Some(n) => cur = n,
            None => return Ok(None),
        }
    }
    Ok(Some(cur))
}

/// Writes `node` at its place (its key must not have changed; a move removes the old key).
pub fn put_node(tx: &WriteTx, node: &Node) -> Result<(), StoreError> {
    tx.put(&schema::PARENTID_NAME_NODE, &record_key(node), node)
}

pub fn ensure_root(tx: &WriteTx, uid: &str) -> Result<Node> {
    if let Some(root) = tx.root_of(uid)? {
        return Ok(root);
    }
    let id = tx.next_id("next_node_id")?;
    let now = crate::clock::now_secs();
    let root = Node {
        id,
        parent: 0,
        owner: uid.to_owned(),
        name: String::new(),
        kind: Kind::Dir,
        size: 0,
        mtime: now,
        ctime: now,
        upload_time: 0,
        etag: new_etag(),
        blob: None,
        crc32c: None,
        sha1: None,
        client_checksum: None,
        content_type: "httpd/unix-directory".into(),
        favorite: false,
        inline: false,
    };
    put_node(tx, &root)?;
    tx.put_raw(
        &schema::NODEID_NODEKEY,
        &node_key(id),
        record_key(&root).as_bytes(),
    )?;
    Ok(root)
}

#[allow(clippy::too_many_arguments)]
pub fn insert(
    tx: &WriteTx,
    parent: &Node,
    owner: &str,
    name: &str,
    kind: Kind,
    size: u64,
    blob: Option<String>,
    mtime: i64,
) -> Result<Node> {
    let id = tx.next_id("next_node_id")?;
    let now = crate::clock::now_secs();
    let node = Node {
        id,
        parent: parent.id,
        owner: owner.to_owned(),
        name: name.to_owned(),
        kind,
        size,
        mtime,
        ctime: now,
        upload_time: if kind == Kind::File { now } else { 0 },
        etag: new_etag(),
        blob,
        crc32c: None,
        sha1: None,
        client_checksum: None,
        content_type: if kind == Kind::Dir {
            "httpd/unix-directory".into()
        } else {
            super::names::content_type(name).into()
        },
        favorite: false,
        inline: false,
    };
    put_node(tx, &node)?;
    tx.put_raw(
        &schema::NODEID_NODEKEY,
        &node_key(id),
        record_key(&node).as_bytes(),
    )?;
    Ok(node)
}

/// Gives `start` and every folder above it a new etag (the desktop client only looks into
/// folders whose etag changed).
pub fn touch_ancestors(tx: &WriteTx, start: u64) -> Result<()> {
    changed_below(tx, start, 0)
}

/// Adds `delta` bytes to the recursive size of `start` and every folder above it.
pub fn add_size(tx: &WriteTx, start: u64, delta: i128) -> Result<()> {
    if delta == 0 {
        return Ok(());
    }
    walk_up(tx, start, |n| {
        n.size = u64::try_from((i128::from(n.size) + delta).max(0)).unwrap_or(0);
    })
}

/// Something below `start` changed by `delta` bytes: `start` and every folder above it get
/// the new size and a new etag, in one walk up.
pub fn changed_below(tx: &WriteTx, start: u64, delta: i128) -> Result<()> {
    walk_up(tx, start, |n| {
        n.size = u64::try_from((i128::from(n.size) + delta).max(0)).unwrap_or(0);
        n.etag = new_etag();
    })
}

fn walk_up(tx: &WriteTx, start: u64, mut f: impl FnMut(&mut Node)) -> Result<()> {
    let mut id = start;
    while id != 0 {
        let Some(key) = tx.key_of(id)? else { break };
        let Some(mut n) = tx.record(&key)? else { break };
        f(&mut n);
        tx.put(&schema::PARENTID_NAME_NODE, &key, &n)?;
        id = n.parent;
    }
    Ok(())
}

/// Removes `top` and everything below it (nodes, name entries, dead properties, blob
/// references); returns the blob ids to delete once the transaction has committed.
pub fn remove_subtree(tx: &WriteTx, top: &Node) -> Result<Vec<String>> {
    let mut blobs = Vec::new();
    let mut stack = vec![top.clone()];
    while let Some(n) = stack.pop() {
        if n.is_dir() {
            let prefix = schema::children_of(n.id);
            for (k, c) in tx.records(&schema::PARENTID_NAME_NODE, &prefix)? {
                tx.delete(&schema::PARENTID_NAME_NODE, &k)?;
                stack.push(c);
            }
        }
        for k in tx.keys(&schema::NODEID_PROP_VALUE, &schema::props_of(n.id))? {
            tx.delete(&schema::NODEID_PROP_VALUE, &k)?;
        }
        if let Some(b) = &n.blob {
            if n.inline {
                inline::delete(tx, b)?;
            } else {
                tx.delete(&schema::BLOBID_REF, b)?;
                blobs.push(b.clone());
            }
        }
        tx.delete_raw(&schema::NODEID_NODEKEY, &node_key(n.id))?;
    }
    tx.delete(&schema::PARENTID_NAME_NODE, &record_key(top))?;
    Ok(blobs)
}

/// Makes room for a COPY or MOVE onto `name` in `parent`: refused without Overwrite, otherwise
/// whatever is there is removed. Returns whether something was replaced, and the blobs to
/// delete once the transaction has committed.
pub fn clear_destination(
    tx: &WriteTx,
    parent: u64,
    name: &str,
    overwrite: bool,
) -> Result<(bool, Vec<String>)> {
    let Some(existing) = tx.child(parent, name)? else {
        return Ok((false, Vec::new()));
    };
    if !overwrite {
        return Err(FilesError::PreconditionFailed);
    }
    let blobs = remove_subtree(tx, &existing)?;
    add_size(tx, parent, -i128::from(existing.size))?;
    Ok((true, blobs))
}

/// The nodes a copy will create, parents before children: (source node, index of the new
/// parent in the plan, or None for the top).
pub fn plan_copy(files: &Files, src: &Node, deep: bool) -> Result<Vec<(Node, Option<usize>)>> {
    let mut plan = vec![(src.clone(), None)];
    if !src.is_dir() || !deep {
        return Ok(plan);
    }
    let mut i = 0;
    while i < plan.len() {
        if plan[i].0.is_dir() {
            let mut after: Option<String> = None;
            loop {
                let batch = files.children(plan[i].0.id, after.as_deref(), 256)?;
                let Some(last) = batch.last() else { break };
                after = Some(last.name.clone());
                plan.extend(batch.into_iter().map(|c| (c, Some(i))));
            }
        }
        i += 1;
    }
    Ok(plan)
}

/// Inserts the planned copies under `dest_parent` (the top gets `name`); returns the top.
pub fn apply_copy(
    tx: &WriteTx,
    plan: &[(Node, Option<usize>)],
    copies: &[Option<Written>],
    dest_parent: &Node,
    name: &str,
    owner: &str,
) -> Result<Node> {
    let mut created: Vec<Node> = Vec::with_capacity(plan.len());
    for ((src, parent_idx), copy) in plan.iter().zip(copies) {
        let (parent, node_name) = match parent_idx {
            Some(i) => (&created[*i], src.name.as_str()),
            None => (dest_parent, name),
        };
        let size = if src.is_dir() { 0 } else { src.size };
        // Inline content is copied here, in the transaction; a file was copied before it.
        let inline_copy = match (&src.blob, src.inline) {
            (Some(b), true) => Some(inline::copy(tx, b)?.ok_or_else(|| {
                FilesError::Internal(format!("the content of {:?} is missing", src.name))
            })?),
            _ => None,
        };
        let mut n = insert(
            tx,
            parent,
            owner,
            node_name,
            src.kind,
            size,
            inline_copy
                .clone()
                .or_else(|| copy.as_ref().map(|w| w.id.clone())),
            src.mtime,
        )?;
        // The copy's content is the source's: the client's checksums carry over. A new blob
        // file has its own CRC32C (in its reference); inline content is the same bytes.
        n.crc32c = copy.as_ref().map_or(src.crc32c, |w| Some(w.crc32c));
        n.sha1.clone_from(&src.sha1);
        n.client_checksum.clone_from(&src.client_checksum);
        n.inline = inline_copy.is_some();
        put_node(tx, &n)?;
        if let Some(w) = copy {
            tx.put(
                &schema::BLOBID_REF,
                &w.id,
                &BlobRef::new(w, format!("file:{}", n.id)),
            )?;
        }
        let prefix = schema::props_of(src.id);
        for k in tx.keys(&schema::NODEID_PROP_VALUE, &prefix)? {
            if let Some(v) = tx.get(&schema::NODEID_PROP_VALUE, &k)? {
                tx.put(
                    &schema::NODEID_PROP_VALUE,
                    &schema::prop_key(n.id, &k[prefix.len()..]),
                    &v,
                )?;
            }
        }
        created.push(n);
    }
    // Folder sizes: add each file's size to its new ancestors inside the copy.
    for (i, (src, parent_idx)) in plan.iter().enumerate() {
        if !src.is_dir() && parent_idx.is_some() {
            add_size(tx, created[i].parent, i128::from(src.size))?;
        }
    }
    // add_size walked up past the top into the destination; undo that part, the caller adds
    // the whole copy once.
    let top = tx.node(created[0].id)?.ok_or(FilesError::NotFound)?;
    let inner: i128 = plan
        .iter()
        .filter(|(s, p)| !s.is_dir() && p.is_some())
        .map(|(s, _)| i128::from(s.size))
        .sum();
    add_size(tx, dest_parent.id, -inner)?;
    Ok(top)
}
