//! Sharing calendars and address books with users and groups of the box, read-only or
//! read-write (the Nextcloud/CalendarServer sharing extension is parsed in `dav::gw`). A
//! sharee sees the collection in their own home as `{uri}_shared_by_{owner}`.

use super::{Collection, Groupware, GroupwareError, Kind, Result, Share, SharedView};
use crate::schema::USERID_KIND_URI_COLLECTION;

const SEP: &str = "_shared_by_";

fn reaches(share: &Share, uid: &str, groups: &[String]) -> bool {
    match share.sharee.split_once('/') {
        Some(("users", u)) => u == uid,
        Some(("groups", g)) => groups.iter().any(|x| x == g),
        _ => false,
    }
}

impl Groupware {
    /// The collection `name` in `me`'s home: their own, or one shared with them.
    pub fn resolve(
        &self,
        me: &str,
        groups: &[String],
        kind: Kind,
        name: &str,
    ) -> Result<Collection> {
        match self.collection(me, kind, name) {
            Err(GroupwareError::NotFound) => {}
            other => return other,
        }
        let (uri, owner) = name.rsplit_once(SEP).ok_or(GroupwareError::NotFound)?;
        if owner == me {
            return Err(GroupwareError::NotFound);
        }
        let mut c = self.collection(owner, kind, uri)?;
        let write = self
            .access(&c, me, groups)
            .ok_or(GroupwareError::NotFound)?;
        c.view = Some(SharedView {
            home: me.to_owned(),
            name: name.to_owned(),
            write,
        });
        Ok(c)
    }

    /// `Some(write)` when the collection is shared with the user (directly or by a group).
    fn access(&self, c: &Collection, uid: &str, groups: &[String]) -> Option<bool> {
        if c.declined.iter().any(|d| d == uid) {
            return None;
        }
        let mut found = None;
        for s in c.shares.iter().filter(|s| reaches(s, uid, groups)) {
            found = Some(found.unwrap_or(false) || s.write);
        }
        found
    }

    /// Collections of others shared with the user, as they appear in the user's home.
    pub fn shared_with(&self, me: &str, groups: &[String], kind: Kind) -> Result<Vec<Collection>> {
        let mut out = Vec::new();
        self.store.read(|tx| {
            tx.scan(&USERID_KIND_URI_COLLECTION, "", |_, c: Collection| {
                if c.kind == kind && c.owner != me && !c.shares.is_empty() {
                    out.push(c);
                }
                true
            })
        })?;
        Ok(out
            .into_iter()
            .filter_map(|mut c| {
                let write = self.access(&c, me, groups)?;
                c.view = Some(SharedView {
                    home: me.to_owned(),
                    name: format!("{}{SEP}{}", c.uri, c.owner),
                    write,
                });
                Some(c)
            })
            .collect())
    }

    /// Adds or changes shares (`set`) and removes others (`remove`); sharees are
    /// `users/{uid}` or `groups/{gid}`.
    pub fn share(&self, c: &Collection, set: &[Share], remove: &[String]) -> Result<Collection> {
        self.update_collection(&c.owner, c.kind, &c.uri, |stored| {
            stored.shares.retain(|s| !remove.contains(&s.sharee));
            for s in set {
                stored.shares.retain(|x| x.sharee != s.sharee);
                stored.shares.push(s.clone());
                // Sharing again with someone who had declined shows it to them again.
                if let Some(u) = s.sharee.strip_prefix("users/") {
                    stored.declined.retain(|d| d != u);
                }
            }
        })
    }

    /// "Unshare from me": the sharee no longer sees the collection.
    pub fn unshare_from_me(&self, c: &Collection, me: &str) -> Result<()> {
        let me_share = format!("users/{me}");
        self.update_collection(&c.owner, c.kind, &c.uri, |stored| {
            stored.shares.retain(|s| s.sharee != me_share);
            if !stored.declined.iter().any(|d| d == me) {
                stored.declined.push(me.to_owned());
            }
        })?;
        Ok(())
    }
}
