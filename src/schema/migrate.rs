//! The data steps of the schema's forward migrations; `store` runs them at open (the version
//! bookkeeping is its generic half, `store::Schema`).

use crate::schema as tables;
use crate::store::{Result, Schema, Step, Table, WriteTx};

/// The schema this build writes: `STEPS[n]` migrates schema `n` to `n + 1`. Append a step for
/// every change.
pub const SCHEMA: Schema = Schema { steps: &STEPS };

const STEPS: [Step; 7] = [
    v0_to_v1, v1_to_v2, v2_to_v3, v3_to_v4, v4_to_v5, v5_to_v6, v6_to_v7,
];

/// The file tree before schema 6: node records by id, children as name → id.
const OLD_USERID_ROOTID: Table<u64> = Table::new("userid_rootid");
const OLD_NODEID_NODE: Table<crate::files::model::Node> = Table::new("nodeid_node");
const OLD_PARENTID_NAME_NODEID: Table<u64> = Table::new("parentid_name_nodeid");

fn v0_to_v1(tx: &WriteTx) -> Result<()> {
    // Creating every table up front means read transactions never meet a missing table.
    let t = tx.redb();
    t.open_table(tables::META)?;
    t.open_table(tables::USERID_USER.definition())?;
    t.open_table(tables::GROUPID_GROUP.definition())?;
    t.open_table(tables::USERID_APPPWID_APPPW.definition())?;
    t.open_table(tables::APPPWHASH_KEY.definition())?;
    t.open_table(tables::SESSIONHASH_SESSION.definition())?;
    t.open_table(tables::BLOBID_REF.definition())?;
    let instance: String = (0..10)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::random::<usize>() % 36]))
        .collect();
    tx.set_meta("instance_id", &format!("oc{instance}"))?;
    Ok(())
}

/// The file tree and chunked uploads.
fn v1_to_v2(tx: &WriteTx) -> Result<()> {
    let t = tx.redb();
    t.open_table(OLD_USERID_ROOTID.definition())?;
    t.open_table(OLD_NODEID_NODE.definition())?;
    t.open_table(OLD_PARENTID_NAME_NODEID.definition())?;
    t.open_table(tables::NODEID_PROP_VALUE.definition())?;
    t.open_table(tables::USERID_UPLOADID_UPLOAD.definition())?;
    t.open_table(tables::USERID_UPLOADID_CHUNK_BLOB.definition())?;
    Ok(())
}

/// Calendars and address books.
fn v2_to_v3(tx: &WriteTx) -> Result<()> {
    let t = tx.redb();
    t.open_table(tables::USERID_KIND_URI_COLLECTION.definition())?;
    t.open_table(tables::COLLID_URI_OBJECT.definition())?;
    t.open_table(tables::COLLID_URI_DATA.definition())?;
    t.open_table(tables::COLLID_UID_URI.definition())?;
    t.open_table(tables::COLLID_SEQ_CHANGE.definition())?;
    Ok(())
}

/// Notifications and calendar reminders.
fn v3_to_v4(tx: &WriteTx) -> Result<()> {
    let t = tx.redb();
    t.open_table(tables::USERID_NOTIFID_NOTIFICATION.definition())?;
    t.open_table(tables::ALARMTIME_REMINDER.definition())?;
    t.open_table(tables::COLLID_URI_ALARMKEYS.definition())?;
    t.open_table(tables::PUBLICTOKEN_COLLKEY.definition())?;
    Ok(())
}

/// The card search index, filled from the cards already stored.
fn v4_to_v5(tx: &WriteTx) -> Result<()> {
    tx.redb()
        .open_table(tables::COLLID_URI_CARDSEARCH.definition())?;
    let mut cards = Vec::new();
    {
        use redb::ReadableTable;
        let objects = tx
            .redb()
            .open_table(tables::COLLID_URI_OBJECT.definition())?;
        let data = tx.redb().open_table(tables::COLLID_URI_DATA.definition())?;
        for entry in objects.iter()? {
            let (k, v) = entry?;
            // Only vCards: their metadata names the component.
            if String::from_utf8_lossy(v.value()).contains("\"component\":\"VCARD\"")
                && let Some(d) = data.get(k.value())?
            {
                cards.push((
                    k.value().to_owned(),
                    String::from_utf8_lossy(d.value()).into_owned(),
                ));
            }
        }
    }
    for (key, text) in cards {
        let packed = crate::groupware::model::packed_index(&text);
        tx.put_raw(&tables::COLLID_URI_CARDSEARCH, &key, &packed)?;
    }
    Ok(())
}

/// File nodes move under their parent: `parentid_name_node` holds whole records (in the binary
/// form), `nodeid_nodekey` finds them by id, and the id-keyed tables go; `blobid_data` (small
/// content kept inline) is new. A listing is then one
/// key range instead of a random lookup per entry. Ids, etags and everything else are kept.
fn v5_to_v6(tx: &WriteTx) -> Result<()> {
    use redb::ReadableTable;
    tx.redb().open_table(tables::BLOBID_DATA.definition())?;
    {
        let old = tx.redb().open_table(OLD_NODEID_NODE.definition())?;
        let mut nodes = tx
            .redb()
            .open_table(tables::PARENTID_NAME_NODE.definition())?;
        let mut keys = tx.redb().open_table(tables::NODEID_NODEKEY.definition())?;
        for entry in old.iter()? {
            let (k, v) = entry?;
            let node = OLD_NODEID_NODE.decode(k.value(), v.value())?;
            let key = super::record_key(&node);
            nodes.insert(key.as_str(), Table::encode(&node).as_slice())?;
            keys.insert(k.value(), key.as_bytes())?;
        }
    }
    for name in [
        OLD_NODEID_NODE.name(),
        OLD_PARENTID_NAME_NODEID.name(),
        OLD_USERID_ROOTID.name(),
    ] {
        let def: redb::TableDefinition<'_, &str, &[u8]> = redb::TableDefinition::new(name);
        tx.redb().delete_table(def)?;
    }
    Ok(())
}

/// Schema 7: new content carries a CRC32C instead of a SHA-1 (node records version 3, blob
/// references with `crc32c`). Older records are read as they are, so nothing is rewritten;
/// the version moves on so that an older Hearth refuses this database instead of meeting
/// records it cannot read.
fn v6_to_v7(_tx: &WriteTx) -> Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::{Kind, Node};
    use crate::store::Store;

    fn node(id: u64, parent: u64, name: &str, kind: Kind, size: u64) -> Node {
        Node {
            id,
            parent,
            owner: "alice".into(),
            name: name.into(),
            kind,
            size,
            mtime: 1_700_000_000 + id as i64,
            ctime: 0,
            upload_time: 0,
            etag: format!("etag{id}"),
            blob: (kind == Kind::File).then(|| format!("{id:032x}")),
            crc32c: None,
            sha1: None,
            client_checksum: None,
            content_type: "text/plain".into(),
            favorite: id == 3,
            inline: false,
        }
    }

    /// A schema-5 data directory (nodes by id as JSON, children as name → id) opens with every
    /// node, id, etag and size where it was.
    #[test]
    fn schema_5_file_trees_move_under_their_parents() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("hearth.redb");
        let nodes = [
            node(1, 0, "", Kind::Dir, 30),
            node(2, 1, "Photos", Kind::Dir, 20),
            node(3, 2, "a.txt", Kind::File, 20),
            node(4, 1, "b.txt", Kind::File, 10),
        ];
        {
            let db = redb::Database::create(&path).unwrap();
            let tx = db.begin_write().unwrap();
            {
                let mut meta = tx.open_table(tables::META).unwrap();
                meta.insert("schema_version", "5").unwrap();
                meta.insert("next_node_id", "4").unwrap();
                let mut roots = tx.open_table(OLD_USERID_ROOTID.definition()).unwrap();
                roots
                    .insert("alice", Table::encode(&1u64).as_slice())
                    .unwrap();
                let mut by_id = tx.open_table(OLD_NODEID_NODE.definition()).unwrap();
                let mut names = tx
                    .open_table(OLD_PARENTID_NAME_NODEID.definition())
                    .unwrap();
                for n in &nodes {
                    // Version 1: JSON, as schema 5 wrote it.
                    let mut v = vec![1u8];
                    v.extend(serde_json::to_vec(n).unwrap());
                    by_id
                        .insert(format!("{:016x}", n.id).as_str(), v.as_slice())
                        .unwrap();
                    if n.parent != 0 {
                        let k = format!("{:016x}\0{}", n.parent, n.name);
                        let id = Table::encode(&n.id);
                        names.insert(k.as_str(), id.as_slice()).unwrap();
                    }
                }
            }
            tx.commit().unwrap();
        }
        let store = std::sync::Arc::new(Store::open(&path, &SCHEMA).unwrap());
        let blobs =
            std::sync::Arc::new(crate::blobs::LocalBlobs::open(&dir.path().join("blobs")).unwrap());
        let files = crate::files::Files::new(store.clone(), blobs);
        let alice = crate::accounts::Actor::User(crate::accounts::Principal {
            uid: "alice".into(),
            is_admin: false,
            via: crate::accounts::AuthMethod::Password,
            groups: Default::default(),
        });
        let root = files.root(&alice, "alice").unwrap();
        assert_eq!((root.id, root.size, root.etag.as_str()), (1, 30, "etag1"));
        let listed: Vec<_> = files
            .children(1, None, 10)
            .unwrap()
            .into_iter()
            .map(|n| (n.name, n.id))
            .collect();
        assert_eq!(listed, [("Photos".to_owned(), 2), ("b.txt".to_owned(), 4)]);
        let a = files
            .lookup(&alice, "alice", &["Photos".into(), "a.txt".into()])
            .unwrap()
            .unwrap();
        assert_eq!(
            (a.id, a.size, a.favorite, a.etag.as_str()),
            (3, 20, true, "etag3")
        );
        assert_eq!(files.node(3).unwrap().name, "a.txt");
        store
            .read(|tx| {
                assert!(tx.meta("schema_version")?.as_deref() == Some("7"));
                Ok(())
            })
            .unwrap();
        // New ids continue after the old ones.
        let d = files
            .mkdir(
                &alice,
                "alice",
                &["New".into()],
                None,
                &crate::files::locks::Held::none(),
            )
            .unwrap();
        assert!(d.id > 4);
    }
}
