//! Uploaded avatar pictures: content in the blob store, the pointer on the user record.

use super::{Accounts, AccountsError, Actor, Result};
use crate::blobs::{BlobRef, BlobStore};
use crate::schema;

/// What an avatar picture may be: checked by its first bytes, not by what the client claims.
pub fn image_type(bytes: &[u8]) -> Option<&'static str> {
    if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
        Some("image/png")
    } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
        Some("image/jpeg")
    } else {
        None
    }
}

impl Accounts {
    /// Replaces `uid`'s avatar. The blob is durable before the user record points at it; the
    /// old blob is removed only after the new pointer is committed.
    pub async fn set_avatar(&self, actor: &Actor, uid: &str, image: &[u8]) -> Result<()> {
        self.may_change_avatar(actor, uid)?;
        if image_type(image).is_none() {
            return Err(AccountsError::InvalidInput(
                "the picture must be a PNG or JPEG image".into(),
            ));
        }
        let written = self
            .blobs
            .put(image, 8 * 1024 * 1024, crate::blobs::Hashes::CRC_ONLY)
            .await
            .map_err(|e| AccountsError::Internal(e.to_string()))?;
        let r = BlobRef::new(&written, format!("avatar:{uid}"));
        let old = self.store.write(|tx| {
            let mut u = tx
                .get(&schema::USERID_USER, uid)?
                .ok_or(AccountsError::NoSuchUser)?;
            let old = u.avatar_blob.replace(written.id.clone());
            tx.put(&schema::USERID_USER, uid, &u)?;
            tx.put(&schema::BLOBID_REF, &written.id, &r)?;
            if let Some(o) = &old {
                tx.delete(&schema::BLOBID_REF, o)?;
            }
            Ok::<_, AccountsError>(old)
        });
        match old {
            Ok(old) => {
                if let Some(o) = old {
                    let _ = self.blobs.delete(&o).await;
                }
                Ok(())
            }
            Err(e) => {
                let _ = self.blobs.delete(&written.id).await;
                Err(e)
            }
        }
    }

    pub async fn delete_avatar(&self, actor: &Actor, uid: &str) -> Result<()> {
        self.may_change_avatar(actor, uid)?;
        let old = self.store.write(|tx| {
            let mut u = tx
                .get(&schema::USERID_USER, uid)?
                .ok_or(AccountsError::NoSuchUser)?;
            let old = u.avatar_blob.take();
            tx.put(&schema::USERID_USER, uid, &u)?;
            if let Some(o) = &old {
                tx.delete(&schema::BLOBID_REF, o)?;
            }
            Ok::<_, AccountsError>(old)
        })?;
        if let Some(o) = old {
            let _ = self.blobs.delete(&o).await;
        }
        Ok(())
    }

    fn may_change_avatar(&self, actor: &Actor, uid: &str) -> Result<()> {
        match actor {
            Actor::User(p) if p.is_admin || p.uid == uid => Ok(()),
            _ => Err(AccountsError::NotAdmin),
        }
    }
}
