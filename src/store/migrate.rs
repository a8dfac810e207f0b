//! Schema bookkeeping: forward migrations run at start, before any service touches the store.

use super::{Result, Store, StoreError, tables};

/// The schema this build writes. Bump it and append a step to `STEPS` for every change.
pub const SCHEMA_VERSION: u32 = 5;

type Step = fn(&super::WriteTx) -> Result<()>;

/// `STEPS[n]` migrates schema `n` to `n + 1`.
const STEPS: [Step; 5] = [v0_to_v1, v1_to_v2, v2_to_v3, v3_to_v4, v4_to_v5];

fn v0_to_v1(tx: &super::WriteTx) -> Result<()> {
    // Creating every table up front means read transactions never meet a missing table.
    let t = &tx.0;
    t.open_table(tables::META)?;
    t.open_table(tables::USERID_USER.def)?;
    t.open_table(tables::GROUPID_GROUP.def)?;
    t.open_table(tables::USERID_APPPWID_APPPW.def)?;
    t.open_table(tables::APPPWHASH_KEY.def)?;
    t.open_table(tables::SESSIONHASH_SESSION.def)?;
    t.open_table(tables::BLOBID_REF.def)?;
    let instance: String = (0..10)
        .map(|_| char::from(b"abcdefghijklmnopqrstuvwxyz0123456789"[rand::random::<usize>() % 36]))
        .collect();
    tx.set_meta("instance_id", &format!("oc{instance}"))?;
    Ok(())
}

/// The file tree and chunked uploads.
fn v1_to_v2(tx: &super::WriteTx) -> Result<()> {
    let t = &tx.0;
    t.open_table(tables::USERID_ROOTID.def)?;
    t.open_table(tables::NODEID_NODE.def)?;
    t.open_table(tables::PARENTID_NAME_NODEID.def)?;
    t.open_table(tables::NODEID_PROP_VALUE.def)?;
    t.open_table(tables::USERID_UPLOADID_UPLOAD.def)?;
    t.open_table(tables::USERID_UPLOADID_CHUNK_BLOB.def)?;
    Ok(())
}

/// Calendars and address books.
fn v2_to_v3(tx: &super::WriteTx) -> Result<()> {
    let t = &tx.0;
    t.open_table(tables::USERID_KIND_URI_COLLECTION.def)?;
    t.open_table(tables::COLLID_URI_OBJECT.def)?;
    t.open_table(tables::COLLID_URI_DATA.def)?;
    t.open_table(tables::COLLID_UID_URI.def)?;
    t.open_table(tables::COLLID_SEQ_CHANGE.def)?;
    Ok(())
}

/// Notifications and calendar reminders.
fn v3_to_v4(tx: &super::WriteTx) -> Result<()> {
    let t = &tx.0;
    t.open_table(tables::USERID_NOTIFID_NOTIFICATION.def)?;
    t.open_table(tables::ALARMTIME_REMINDER.def)?;
    t.open_table(tables::COLLID_URI_ALARMKEYS.def)?;
    t.open_table(tables::PUBLICTOKEN_COLLKEY.def)?;
    Ok(())
}

/// The card search index, filled from the cards already stored.
fn v4_to_v5(tx: &super::WriteTx) -> Result<()> {
    tx.0.open_table(tables::COLLID_URI_CARDSEARCH.def)?;
    let mut cards = Vec::new();
    {
        use redb::ReadableTable;
        let objects = tx.0.open_table(tables::COLLID_URI_OBJECT.def)?;
        let data = tx.0.open_table(tables::COLLID_URI_DATA.def)?;
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
        let packed = crate::groupware::vcard::packed_index(&text);
        tx.put_raw(&tables::COLLID_URI_CARDSEARCH, &key, &packed)?;
    }
    Ok(())
}

pub(super) fn run(store: &Store) -> Result<()> {
    store.write(|tx| {
        let found = match tx.0.open_table(tables::META) {
            Ok(t) => {
                use redb::ReadableTable;
                let v = t.get("schema_version")?.map(|v| v.value().to_owned());
                v.and_then(|s| s.parse::<u32>().ok()).unwrap_or(0)
            }
            Err(e) => return Err(StoreError::from(e)),
        };
        if found > SCHEMA_VERSION {
            return Err(StoreError::TooNew {
                found,
                known: SCHEMA_VERSION,
            });
        }
        for (from, step) in STEPS.iter().enumerate().skip(found as usize) {
            step(tx)?;
            tracing::info!(from, to = from + 1, "store schema migrated");
        }
        tx.set_meta("schema_version", &SCHEMA_VERSION.to_string())
    })
}
