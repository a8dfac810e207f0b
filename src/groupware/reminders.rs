//! Calendar reminders: the next alarm triggers of every object are indexed by time when it is
//! stored; a background job takes the due ones (each exactly once) and hands them to `notify`.
//! A recurring object keeps at most [`PER_OBJECT`] future triggers; when its last one fires,
//! the next batch is computed, so an endless series keeps reminding.

use super::expand::triggers;
use super::{Collection, Groupware, Reminder, Result, obj_key};
use crate::schema::alarm_time as time_key;
use crate::schema::{
    ALARMTIME_REMINDER, COLLID_URI_ALARMKEYS, COLLID_URI_DATA, COLLID_URI_OBJECT,
    USERID_KIND_URI_COLLECTION,
};
use crate::store::WriteTx;

/// Future triggers kept per object.
const PER_OBJECT: usize = 16;

/// Replaces the indexed reminders of one object (none when `text` is `None`: deleted).
pub(super) fn reindex(
    tx: &WriteTx,
    coll: &Collection,
    uri: &str,
    text: Option<&str>,
    from: i64,
) -> Result<()> {
    let okey = obj_key(coll.id, uri);
    if let Some(old) = tx.get(&COLLID_URI_ALARMKEYS, &okey)? {
        for k in old {
            tx.delete(&ALARMTIME_REMINDER, &k)?;
        }
        tx.delete(&COLLID_URI_ALARMKEYS, &okey)?;
    }
    let Some(text) = text else { return Ok(()) };
    let mut keys = Vec::new();
    for (n, t) in triggers(text, from, PER_OBJECT).into_iter().enumerate() {
        let key = crate::schema::reminder_key(t.at, &okey, n);
        tx.put(
            &ALARMTIME_REMINDER,
            &key,
            &Reminder {
                owner: coll.owner.clone(),
                coll_id: coll.id,
                calendar: coll.uri.clone(),
                uri: uri.to_owned(),
                summary: t.summary,
                start: t.start,
                at: t.at,
                action: t.action,
            },
        )?;
        keys.push(key);
    }
    if !keys.is_empty() {
        tx.put(&COLLID_URI_ALARMKEYS, &okey, &keys)?;
    }
    Ok(())
}

/// Drops the reminders of every object of a collection.
pub(super) fn drop_collection(tx: &WriteTx, coll_id: u64) -> Result<()> {
    let prefix = crate::schema::objects_of(coll_id);
    for okey in tx.keys(&COLLID_URI_ALARMKEYS, &prefix)? {
        if let Some(keys) = tx.get(&COLLID_URI_ALARMKEYS, &okey)? {
            for k in keys {
                tx.delete(&ALARMTIME_REMINDER, &k)?;
            }
        }
        tx.delete(&COLLID_URI_ALARMKEYS, &okey)?;
    }
    Ok(())
}

impl Groupware {
    /// Removes and returns the reminders due at `now` (at most `limit`), in one transaction:
    /// a reminder is handed out once, even if the process dies right after.
    pub fn take_due_reminders(&self, now: i64, limit: usize) -> Result<Vec<Reminder>> {
        let end = time_key(now.saturating_add(1));
        let mut due: Vec<(String, Reminder)> = Vec::new();
        self.store.read(|tx| {
            tx.scan(&ALARMTIME_REMINDER, "", |k, r| {
                if k >= end.as_str() || due.len() >= limit {
                    return false;
                }
                due.push((k.to_owned(), r));
                true
            })
        })?;
        if due.is_empty() {
            return Ok(Vec::new());
        }
        self.store.write(|tx| {
            let mut out = Vec::new();
            for (key, r) in due {
                if !tx.delete(&ALARMTIME_REMINDER, &key)? {
                    continue; // taken by a concurrent run, or the object changed meanwhile
                }
                let okey = obj_key(r.coll_id, &r.uri);
                let mut left = tx.get(&COLLID_URI_ALARMKEYS, &okey)?.unwrap_or_default();
                left.retain(|k| *k != key);
                if left.is_empty() {
                    tx.delete(&COLLID_URI_ALARMKEYS, &okey)?;
                    refill(tx, &r, now)?;
                } else {
                    tx.put(&COLLID_URI_ALARMKEYS, &okey, &left)?;
                }
                out.push(r);
            }
            Ok(out)
        })
    }

    /// When the next indexed reminder is due (Unix seconds), if there is one.
    pub fn next_reminder_at(&self) -> Result<Option<i64>> {
        let mut next = None;
        self.store.read(|tx| {
            tx.scan(&ALARMTIME_REMINDER, "", |_, r: Reminder| {
                next = Some(r.at);
                false
            })
        })?;
        Ok(next)
    }
}

/// Indexes the next triggers of an object whose indexed ones are all spent (recurring ones).
fn refill(tx: &WriteTx, r: &Reminder, now: i64) -> Result<()> {
    let okey = obj_key(r.coll_id, &r.uri);
    let recurring = tx
        .get(&COLLID_URI_OBJECT, &okey)?
        .is_some_and(|o| o.recurring);
    if !recurring {
        return Ok(());
    }
    let Some(coll) = tx.get(
        &USERID_KIND_URI_COLLECTION,
        &crate::schema::collection_key(&r.owner, super::Kind::Calendar, &r.calendar),
    )?
    else {
        return Ok(());
    };
    let Some(data) = tx.get_raw(&COLLID_URI_DATA, &okey)? else {
        return Ok(());
    };
    reindex(
        tx,
        &coll,
        &r.uri,
        Some(&String::from_utf8_lossy(&data)),
        now + 1,
    )
}
