//! Changing the tree's shape: delete (a file, or a folder with everything below it), rename
//! (metadata only, ids kept) and copy (content copied outside the transaction).

use super::locks::Held;
use super::tree::{self, Reader, Tx};
use super::{Files, FilesError, Node, Result, names, record_key};
use crate::accounts::Actor;
use crate::blobs::BlobStore;
use crate::schema;

impl Files {
    /// Deletes a file or a folder with everything below it.
    pub async fn delete(
        &self,
        actor: &Actor,
        uid: &str,
        segs: &[String],
        held: &Held,
    ) -> Result<()> {
        let root = self.root(actor, uid)?;
        self.check_locks(actor, uid, segs, true, true, held)?;
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
        held: &Held,
    ) -> Result<(Node, bool)> {
        let root = self.root(actor, uid)?;
        self.check_locks(actor, uid, from, true, true, held)?;
        self.check_locks(actor, uid, to, true, true, held)?;
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
        held: &Held,
    ) -> Result<(Node, bool)> {
        let root = self.root(actor, uid)?;
        self.check_locks(actor, uid, to, true, true, held)?;
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
}
