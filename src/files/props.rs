//! What a node carries besides its content: the favourite flag, the modification time a
//! client sets, and dead properties (PROPPATCH), kept as self-contained XML.

use super::tree::{self, Tx};
use super::{Files, FilesError, Node, Result};
use crate::schema;

impl Files {
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
}
