//! One-time invite links: a family member gets a link instead of a password typed for them,
//! and chooses their own. The link's token is kept as a digest (store meta
//! `invite:<sha256>`), works once, and for seven days.

use serde::{Deserialize, Serialize};

use super::{Accounts, AccountsError, Actor, Result, random_token, sha256_hex};
use crate::clock::now_ms;

const VALID_MS: u64 = 7 * 24 * 3600 * 1000;

#[derive(Serialize, Deserialize)]
struct Invite {
    uid: String,
    expires_ms: u64,
}

fn key(token: &str) -> String {
    format!("invite:{}", sha256_hex(token))
}

impl Accounts {
    /// A new invite token for `uid` (an administrator's act). The token is returned once and
    /// kept only as a digest.
    pub fn create_invite(&self, actor: &Actor, uid: &str) -> Result<String> {
        actor.require_admin()?;
        self.user(uid)?;
        let token = random_token(40);
        let invite = Invite {
            uid: uid.to_owned(),
            expires_ms: now_ms() + VALID_MS,
        };
        let raw = serde_json::to_string(&invite).unwrap_or_default();
        self.store.write(|tx| tx.set_meta(&key(&token), &raw))?;
        Ok(token)
    }

    /// Whom a still valid invite token is for.
    pub fn invite_user(&self, token: &str) -> Option<String> {
        if token.len() != 40 || !token.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return None;
        }
        let raw = self.store.read(|tx| tx.meta(&key(token))).ok().flatten()?;
        let invite: Invite = serde_json::from_str(&raw).ok()?;
        (invite.expires_ms > now_ms()).then_some(invite.uid)
    }

    /// Sets the invited person's password and uses the invite up.
    pub async fn accept_invite(&self, token: &str, password: String) -> Result<String> {
        let uid = self.invite_user(token).ok_or_else(|| {
            AccountsError::InvalidInput(
                "This invite link is used up or has expired; ask for a new one.".into(),
            )
        })?;
        self.set_password(&Actor::console(), &uid, password).await?;
        self.store.write(|tx| tx.set_meta(&key(token), ""))?;
        Ok(uid)
    }
}
