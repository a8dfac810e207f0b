//! Users and groups: creation, edits, membership, listing. Admin-only operations check the
//! actor here, so the OCS provisioning API and the CLI share one rule.

use super::{
    ADMIN_GROUP, Accounts, AccountsError, Actor, Group, Result, User, model::AppPassword,
    remove_app_hash,
};
use crate::schema;
use crate::store::WriteTx;

pub struct NewUser {
    pub uid: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub quota: Option<u64>,
    pub groups: Vec<String>,
}

/// Fields the provisioning API edits (`PUT /cloud/users/{uid}` with `key`/`value`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    DisplayName,
    Email,
    Quota,
    Password,
}

impl UserField {
    pub fn parse(key: &str) -> Option<Self> {
        Some(match key {
            "displayname" | "display" | "display-name" | "displayName" => Self::DisplayName,
            "email" => Self::Email,
            "quota" => Self::Quota,
            "password" => Self::Password,
            _ => return None,
        })
    }
}

pub fn validate_uid(uid: &str) -> Result<()> {
    let ok = !uid.is_empty()
        && uid.len() <= 64
        && uid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-' | '@'))
        && uid != "."
        && uid != "..";
    if ok {
        Ok(())
    } else {
        Err(AccountsError::InvalidInput(
            "a login name is 1–64 characters: letters, digits, '_', '.', '-' or '@'".into(),
        ))
    }
}

fn validate_gid(gid: &str) -> Result<()> {
    if gid.is_empty() || gid.len() > 64 || gid.contains(['/', '\0']) {
        return Err(AccountsError::InvalidInput(
            "a group name is 1–64 characters and has no '/'".into(),
        ));
    }
    Ok(())
}

pub fn validate_password(pw: &str) -> Result<()> {
    if pw.chars().count() < 8 {
        return Err(AccountsError::InvalidInput(
            "the password must have at least 8 characters".into(),
        ));
    }
    if pw.len() > 1024 {
        return Err(AccountsError::InvalidInput(
            "the password is too long".into(),
        ));
    }
    Ok(())
}

fn validate_email(email: &str) -> Result<()> {
    let ok = email.len() <= 254
        && email.split_once('@').is_some_and(|(a, b)| {
            !a.is_empty() && b.contains('.') && !email.contains(char::is_whitespace)
        });
    if ok {
        Ok(())
    } else {
        Err(AccountsError::InvalidInput(format!(
            "{email:?} is not an e-mail address"
        )))
    }
}

/// Parses quotas as people and Nextcloud write them: `10GB`, `512 MB`, `none`, bytes.
pub fn parse_quota(s: &str) -> Result<Option<u64>> {
    let t = s.trim().to_ascii_lowercase().replace(' ', "");
    if matches!(t.as_str(), "none" | "unlimited" | "default" | "-3" | "") {
        return Ok(None);
    }
    let split = t
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| AccountsError::InvalidInput(format!("{s:?} is not a quota like 10GB")))?;
    let mult: f64 = match unit {
        "" | "b" => 1.0,
        "k" | "kb" | "kib" => 1024.0,
        "m" | "mb" | "mib" => 1024.0 * 1024.0,
        "g" | "gb" | "gib" => 1024.0 * 1024.0 * 1024.0,
        "t" | "tb" | "tib" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(AccountsError::InvalidInput(format!(
                "{s:?}: unknown unit {unit:?}"
            )));
        }
    };
    if !(0.0..1e18).contains(&(n * mult)) {
        return Err(AccountsError::InvalidInput(format!(
            "{s:?} is out of range"
        )));
    }
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    Ok(Some((n * mult) as u64))
}

pub(super) fn ensure_group(tx: &WriteTx, gid: &str) -> Result<()> {
    if tx.get(&schema::GROUPID_GROUP, gid)?.is_none() {
        tx.put(
            &schema::GROUPID_GROUP,
            gid,
            &Group {
                gid: gid.to_owned(),
                display_name: gid.to_owned(),
            },
        )?;
    }
    Ok(())
}

pub(super) fn insert_user(tx: &WriteTx, new: NewUser, password_hash: String) -> Result<User> {
    validate_uid(&new.uid)?;
    if let Some(e) = &new.email {
        validate_email(e)?;
    }
    if tx.get(&schema::USERID_USER, &new.uid)?.is_some() || user_key_ci(tx, &new.uid)?.is_some() {
        return Err(AccountsError::AlreadyExists(format!("user {:?}", new.uid)));
    }
    let mut groups = Vec::new();
    for g in new.groups {
        if tx.get(&schema::GROUPID_GROUP, &g)?.is_none() {
            return Err(AccountsError::NoSuchGroup);
        }
        if !groups.contains(&g) {
            groups.push(g);
        }
    }
    let user = User {
        display_name: new
            .display_name
            .filter(|d| !d.trim().is_empty())
            .unwrap_or_else(|| new.uid.clone()),
        uid: new.uid,
        email: new.email,
        quota: new.quota,
        groups,
        enabled: true,
        password_hash,
        last_login_ms: 0,
        created_ms: crate::clock::now_ms(),
        avatar_blob: None,
        credential_epoch: 1,
    };
    tx.put(&schema::USERID_USER, &user.uid, &user)?;
    Ok(user)
}

/// Logins are case-insensitive, as in Nextcloud: finds the stored key for `login`.
fn user_key_ci(tx: &WriteTx, login: &str) -> Result<Option<String>> {
    Ok(tx
        .keys(&schema::USERID_USER, "")?
        .into_iter()
        .find(|k| k.eq_ignore_ascii_case(login)))
}

impl Accounts {
    pub fn user(&self, uid: &str) -> Result<User> {
        self.store
            .read(|tx| tx.get(&schema::USERID_USER, uid))?
            .ok_or(AccountsError::NoSuchUser)
    }

    /// Finds the account for a login name: the uid (any case) or the e-mail address.
    pub fn find_login(&self, login: &str) -> Result<Option<User>> {
        if let Some(u) = self.store.read(|tx| tx.get(&schema::USERID_USER, login))? {
            return Ok(Some(u));
        }
        let mut found = None;
        self.store.read(|tx| {
            tx.scan(&schema::USERID_USER, "", |_, u: User| {
                let hit = u.uid.eq_ignore_ascii_case(login)
                    || u.email
                        .as_deref()
                        .is_some_and(|e| e.eq_ignore_ascii_case(login));
                if hit {
                    found = Some(u);
                }
                !hit
            })
        })?;
        Ok(found)
    }

    pub async fn create_user(
        &self,
        actor: &Actor,
        new: NewUser,
        password: Option<String>,
    ) -> Result<User> {
        actor.require_admin()?;
        validate_uid(&new.uid)?;
        // An account created by e-mail invitation gets an unusable random password until set.
        let password = match password {
            Some(p) => {
                validate_password(&p)?;
                p
            }
            None if new.email.is_some() => super::random_token(32),
            None => {
                return Err(AccountsError::InvalidInput(
                    "a new user needs a password or an e-mail address".into(),
                ));
            }
        };
        let hash = self.hasher.hash(password).await?;
        self.store.write(|tx| insert_user(tx, new, hash))
    }

    pub async fn set_password(&self, actor: &Actor, uid: &str, password: String) -> Result<()> {
        self.may_edit(actor, uid)?;
        validate_password(&password)?;
        let hash = self.hasher.hash(password).await?;
        self.store.write(|tx| {
            let mut u = tx
                .get(&schema::USERID_USER, uid)?
                .ok_or(AccountsError::NoSuchUser)?;
            u.password_hash = hash;
            u.credential_epoch += 1;
            tx.put(&schema::USERID_USER, uid, &u)?;
            Ok::<(), AccountsError>(())
        })?;
        self.cache.forget_user(uid);
        Ok(())
    }

    fn may_edit(&self, actor: &Actor, uid: &str) -> Result<()> {
        match actor {
            Actor::User(p) if p.is_admin || p.uid == uid => Ok(()),
            _ => Err(AccountsError::NotAdmin),
        }
    }

    /// Edits one field; users may edit their own display name, e-mail and password, only
    /// admins may set quotas or edit others.
    pub async fn edit_user(
        &self,
        actor: &Actor,
        uid: &str,
        field: UserField,
        value: &str,
    ) -> Result<()> {
        self.may_edit(actor, uid)?;
        if field == UserField::Password {
            return self.set_password(actor, uid, value.to_owned()).await;
        }
        if field == UserField::Quota {
            actor.require_admin()?;
        }
        let quota = if field == UserField::Quota {
            parse_quota(value)?
        } else {
            None
        };
        self.store.write(|tx| {
            let mut u = tx
                .get(&schema::USERID_USER, uid)?
                .ok_or(AccountsError::NoSuchUser)?;
            match field {
                UserField::DisplayName => {
                    let v = value.trim();
                    if v.chars().count() > 64 {
                        return Err(AccountsError::InvalidInput(
                            "the display name is too long".into(),
                        ));
                    }
                    u.display_name = if v.is_empty() {
                        u.uid.clone()
                    } else {
                        v.to_owned()
                    };
                }
                UserField::Email => {
                    let v = value.trim();
                    if v.is_empty() {
                        u.email = None;
                    } else {
                        validate_email(v)?;
                        u.email = Some(v.to_owned());
                    }
                }
                UserField::Quota => u.quota = quota,
                UserField::Password => {}
            }
            tx.put(&schema::USERID_USER, uid, &u)?;
            Ok(())
        })
    }

    pub fn set_enabled(&self, actor: &Actor, uid: &str, enabled: bool) -> Result<()> {
        let me = actor.require_admin()?;
        if !enabled && me.uid == uid {
            return Err(AccountsError::InvalidInput(
                "you cannot disable your own account".into(),
            ));
        }
        self.store.write(|tx| {
            let mut u = tx
                .get(&schema::USERID_USER, uid)?
                .ok_or(AccountsError::NoSuchUser)?;
            u.enabled = enabled;
            tx.put(&schema::USERID_USER, uid, &u)?;
            Ok::<(), AccountsError>(())
        })?;
        self.cache.forget_user(uid);
        Ok(())
    }

    pub fn delete_user(&self, actor: &Actor, uid: &str) -> Result<()> {
        let me = actor.require_admin()?;
        if me.uid == uid {
            return Err(AccountsError::InvalidInput(
                "you cannot delete your own account".into(),
            ));
        }
        self.store.write(|tx| {
            let u = tx
                .get(&schema::USERID_USER, uid)?
                .ok_or(AccountsError::NoSuchUser)?;
            if u.is_admin() && self.count_admins(tx)? <= 1 {
                return Err(AccountsError::InvalidInput(
                    "the last administrator cannot be deleted".into(),
                ));
            }
            tx.delete(&schema::USERID_USER, uid)?;
            for key in tx.keys(
                &schema::USERID_APPPWID_APPPW,
                &schema::app_passwords_of(uid),
            )? {
                tx.delete::<AppPassword>(&schema::USERID_APPPWID_APPPW, &key)?;
                remove_app_hash(tx, &key)?;
            }
            Ok::<(), AccountsError>(())
        })?;
        self.cache.forget_user(uid);
        Ok(())
    }

    fn count_admins(&self, tx: &WriteTx) -> Result<usize> {
        let mut n = 0;
        for k in tx.keys(&schema::USERID_USER, "")? {
            if tx
                .get(&schema::USERID_USER, &k)?
                .is_some_and(|u| u.is_admin())
            {
                n += 1;
            }
        }
        Ok(n)
    }

    /// Lists uids in a stable order, filtered by a case-insensitive search on uid, display
    /// name and e-mail. Users may list (to share with family); only admins see details.
    pub fn list_users(
        &self,
        actor: &Actor,
        search: &str,
        offset: usize,
        limit: Option<usize>,
    ) -> Result<Vec<User>> {
        if actor.principal().is_none() {
            return Err(AccountsError::NotAdmin);
        }
        let needle = search.to_lowercase();
        let mut out = Vec::new();
        let mut skipped = 0;
        self.store.read(|tx| {
            tx.scan(&schema::USERID_USER, "", |_, u: User| {
                let hit = needle.is_empty()
                    || u.uid.to_lowercase().contains(&needle)
                    || u.display_name.to_lowercase().contains(&needle)
                    || u.email
                        .as_deref()
                        .is_some_and(|e| e.to_lowercase().contains(&needle));
                if hit {
                    if skipped < offset {
                        skipped += 1;
                    } else {
                        out.push(u);
                    }
                }
                limit.is_none_or(|l| out.len() < l)
            })
        })?;
        Ok(out)
    }

    pub fn groups(&self, search: &str, offset: usize, limit: Option<usize>) -> Result<Vec<Group>> {
        let needle = search.to_lowercase();
        let mut out = Vec::new();
        let mut skipped = 0;
        self.store.read(|tx| {
            tx.scan(&schema::GROUPID_GROUP, "", |_, g: Group| {
                if needle.is_empty()
                    || g.gid.to_lowercase().contains(&needle)
                    || g.display_name.to_lowercase().contains(&needle)
                {
                    if skipped < offset {
                        skipped += 1;
                    } else {
                        out.push(g);
                    }
                }
                limit.is_none_or(|l| out.len() < l)
            })
        })?;
        Ok(out)
    }

    pub fn group(&self, gid: &str) -> Result<Group> {
        self.store
            .read(|tx| tx.get(&schema::GROUPID_GROUP, gid))?
            .ok_or(AccountsError::NoSuchGroup)
    }

    pub fn group_members(&self, gid: &str) -> Result<Vec<String>> {
        self.group(gid)?;
        let mut out = Vec::new();
        self.store.read(|tx| {
            tx.scan(&schema::USERID_USER, "", |_, u: User| {
                if u.groups.iter().any(|g| g == gid) {
                    out.push(u.uid);
                }
                true
            })
        })?;
        Ok(out)
    }

    pub fn create_group(
        &self,
        actor: &Actor,
        gid: &str,
        display_name: Option<&str>,
    ) -> Result<Group> {
        actor.require_admin()?;
        validate_gid(gid)?;
        self.store.write(|tx| {
            if tx.get(&schema::GROUPID_GROUP, gid)?.is_some() {
                return Err(AccountsError::AlreadyExists(format!("group {gid:?}")));
            }
            let g = Group {
                gid: gid.to_owned(),
                display_name: display_name
                    .filter(|d| !d.is_empty())
                    .unwrap_or(gid)
                    .to_owned(),
            };
            tx.put(&schema::GROUPID_GROUP, gid, &g)?;
            Ok(g)
        })
    }

    pub fn rename_group(&self, actor: &Actor, gid: &str, display_name: &str) -> Result<()> {
        actor.require_admin()?;
        self.store.write(|tx| {
            let mut g = tx
                .get(&schema::GROUPID_GROUP, gid)?
                .ok_or(AccountsError::NoSuchGroup)?;
            g.display_name = display_name.to_owned();
            tx.put(&schema::GROUPID_GROUP, gid, &g)?;
            Ok(())
        })
    }

    pub fn delete_group(&self, actor: &Actor, gid: &str) -> Result<()> {
        actor.require_admin()?;
        if gid == ADMIN_GROUP {
            return Err(AccountsError::InvalidInput(
                "the admin group cannot be deleted".into(),
            ));
        }
        let members = self.store.write(|tx| {
            if !tx.delete(&schema::GROUPID_GROUP, gid)? {
                return Err(AccountsError::NoSuchGroup);
            }
            let mut members = Vec::new();
            for k in tx.keys(&schema::USERID_USER, "")? {
                if let Some(mut u) = tx.get(&schema::USERID_USER, &k)?
                    && u.groups.iter().any(|g| g == gid)
                {
                    u.groups.retain(|g| g != gid);
                    tx.put(&schema::USERID_USER, &k, &u)?;
                    members.push(k);
                }
            }
            Ok(members)
        })?;
        // A signed-in principal carries its groups: its cached credentials must go too.
        for uid in &members {
            self.cache.forget_user(uid);
        }
        Ok(())
    }

    pub fn set_membership(&self, actor: &Actor, uid: &str, gid: &str, member: bool) -> Result<()> {
        let me = actor.require_admin()?;
        if !member && gid == ADMIN_GROUP && me.uid == uid {
            return Err(AccountsError::InvalidInput(
                "you cannot remove yourself from the admin group".into(),
            ));
        }
        self.store.write(|tx| {
            if tx.get(&schema::GROUPID_GROUP, gid)?.is_none() {
                return Err(AccountsError::NoSuchGroup);
            }
            let mut u = tx
                .get(&schema::USERID_USER, uid)?
                .ok_or(AccountsError::NoSuchUser)?;
            let has = u.groups.iter().any(|g| g == gid);
            if member && !has {
                u.groups.push(gid.to_owned());
            } else if !member && has {
                if gid == ADMIN_GROUP && self.count_admins(tx)? <= 1 {
                    return Err(AccountsError::InvalidInput(
                        "the last administrator cannot leave the admin group".into(),
                    ));
                }
                u.groups.retain(|g| g != gid);
            }
            tx.put(&schema::USERID_USER, uid, &u)?;
            Ok::<(), AccountsError>(())
        })?;
        self.cache.forget_user(uid);
        Ok(())
    }
}
