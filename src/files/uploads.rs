//! Chunked uploads (Nextcloud chunking v1 "NG" and v2): a session per upload id, chunks as
//! blobs, assembly streamed chunk after chunk into the final file.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, ReadBuf};

use super::{Chunk, Files, FilesError, PutOptions, PutResult, Result, Upload, check_owner};
use crate::accounts::Actor;
use crate::blobs::{BlobError, BlobRef, BlobStore, Hashes, LocalBlobs};
use crate::clock::now_ms;
use crate::schema;
use crate::schema::{chunk_key, chunks_of, upload_key as key};

/// Most chunks in one upload (Nextcloud's documented limit).
pub const MAX_CHUNKS: usize = 10_000;

/// Upload ids and chunk names: what the clients use (digits, `%015d-%015d` ranges,
/// `rclone-chunked-upload-<md5>`, desktop transfer ids), nothing that could be a path.
pub fn valid_part(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 160
        && s != "."
        && s != ".."
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

impl Files {
    pub fn upload_create(
        &self,
        actor: &Actor,
        uid: &str,
        id: &str,
        total_length: Option<u64>,
    ) -> Result<()> {
        check_owner(actor, uid)?;
        if !valid_part(id) {
            return Err(FilesError::BadName(format!(
                "{id:?} is not a valid upload id"
            )));
        }
        self.store.write(|tx| {
            if tx
                .get(&schema::USERID_UPLOADID_UPLOAD, &key(uid, id))?
                .is_some()
            {
                return Err(FilesError::AlreadyExists);
            }
            tx.put(
                &schema::USERID_UPLOADID_UPLOAD,
                &key(uid, id),
                &Upload {
                    created_ms: now_ms(),
                    total_length,
                },
            )?;
            Ok(())
        })
    }

    pub fn upload_get(&self, actor: &Actor, uid: &str, id: &str) -> Result<Option<Upload>> {
        check_owner(actor, uid)?;
        Ok(self
            .store
            .read(|tx| tx.get(&schema::USERID_UPLOADID_UPLOAD, &key(uid, id)))?)
    }

    /// Chunks of an upload in assembly order: numerically when every name is a number,
    /// otherwise by name (byte-range names sort correctly as text).
    pub fn upload_chunks(&self, uid: &str, id: &str) -> Result<Vec<(String, Chunk)>> {
        let prefix = chunks_of(uid, id);
        let mut out = Vec::new();
        self.store.read(|tx| {
            tx.scan(&schema::USERID_UPLOADID_CHUNK_BLOB, &prefix, |k, c| {
                out.push((k[prefix.len()..].to_owned(), c));
                true
            })
        })?;
        if out.iter().all(|(n, _)| n.parse::<u64>().is_ok()) {
            out.sort_by_key(|(n, _)| n.parse::<u64>().unwrap_or(0));
        }
        Ok(out)
    }

    pub async fn upload_put_chunk(
        &self,
        actor: &Actor,
        uid: &str,
        id: &str,
        name: &str,
        body: impl AsyncRead + Send + Unpin,
        limit: u64,
    ) -> Result<()> {
        check_owner(actor, uid)?;
        if !valid_part(name) || name == ".file" {
            return Err(FilesError::BadName(format!(
                "{name:?} is not a valid chunk name"
            )));
        }
        if self.upload_get(actor, uid, id)?.is_none() {
            return Err(FilesError::NotFound);
        }
        // A chunk gets our own CRC32C only: a client's SHA-1 is of the whole file, checked
        // when the chunks are put together.
        let written = match self.blobs.put(body, limit, Hashes::CRC_ONLY).await {
            Ok(w) => w,
            Err(BlobError::TooLarge { .. }) => return Err(FilesError::QuotaExceeded),
            Err(e) => return Err(e.into()),
        };
        let r = BlobRef::new(&written, format!("upload:{uid}/{id}"));
        let ck = chunk_key(uid, id, name);
        let old = self.store.write(|tx| {
            if tx
                .get(&schema::USERID_UPLOADID_UPLOAD, &key(uid, id))?
                .is_none()
            {
                return Err(FilesError::NotFound);
            }
            if tx
                .keys(&schema::USERID_UPLOADID_CHUNK_BLOB, &chunks_of(uid, id))?
                .len()
                >= MAX_CHUNKS
            {
                return Err(FilesError::BadRequest(format!(
                    "an upload has at most {MAX_CHUNKS} chunks"
                )));
            }
            let old = tx.get(&schema::USERID_UPLOADID_CHUNK_BLOB, &ck)?;
            tx.put(
                &schema::USERID_UPLOADID_CHUNK_BLOB,
                &ck,
                &Chunk {
                    blob: written.id.clone(),
                    size: written.size,
                },
            )?;
            tx.put(&schema::BLOBID_REF, &written.id, &r)?;
            if let Some(o) = &old {
                tx.delete(&schema::BLOBID_REF, &o.blob)?;
            }
            Ok(old)
        });
        match old {
            Ok(old) => {
                if let Some(o) = old {
                    let _ = self.blobs.delete(&o.blob).await;
                }
                Ok(())
            }
            Err(e) => {
                let _ = self.blobs.delete(&written.id).await;
                Err(e)
            }
        }
    }

    /// Deletes one chunk (the desktop client removes stray chunks before resuming); returns
    /// whether it existed.
    pub async fn upload_delete_chunk(
        &self,
        actor: &Actor,
        uid: &str,
        id: &str,
        name: &str,
    ) -> Result<bool> {
        check_owner(actor, uid)?;
        let ck = chunk_key(uid, id, name);
        let gone = self.store.write(|tx| {
            let old = tx.get(&schema::USERID_UPLOADID_CHUNK_BLOB, &ck)?;
            if let Some(c) = &old {
                tx.delete(&schema::USERID_UPLOADID_CHUNK_BLOB, &ck)?;
                tx.delete(&schema::BLOBID_REF, &c.blob)?;
            }
            Ok::<_, FilesError>(old)
        })?;
        match gone {
            Some(c) => {
                let _ = self.blobs.delete(&c.blob).await;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Streams the chunks, in order, into the file at `dest`, then removes the upload.
    pub async fn upload_assemble(
        &self,
        actor: &Actor,
        uid: &str,
        id: &str,
        dest: &[String],
        quota: Option<u64>,
        mut opts: PutOptions,
    ) -> Result<PutResult> {
        let upload = self
            .upload_get(actor, uid, id)?
            .ok_or(FilesError::NotFound)?;
        let chunks = self.upload_chunks(uid, id)?;
        let total: u64 = chunks.iter().map(|(_, c)| c.size).sum();
        if let Some(t) = opts.total_length.or(upload.total_length)
            && t != total
        {
            return Err(FilesError::BadRequest(format!(
                "the chunks add up to {total} bytes, not the announced {t}"
            )));
        }
        opts.expected_length = Some(total);
        opts.total_length = Some(total);
        let reader = ChainReader {
            blobs: self.blobs.clone(),
            ids: chunks.iter().map(|(_, c)| c.blob.clone()).collect(),
            next: 0,
            current: None,
        };
        let result = self.put(actor, uid, dest, quota, reader, opts).await?;
        self.upload_abort(actor, uid, id).await?;
        Ok(result)
    }

    /// Deletes an upload and its chunks; returns whether it existed.
    pub async fn upload_abort(&self, actor: &Actor, uid: &str, id: &str) -> Result<bool> {
        check_owner(actor, uid)?;
        self.remove_upload(uid, id).await
    }

    async fn remove_upload(&self, uid: &str, id: &str) -> Result<bool> {
        let prefix = chunks_of(uid, id);
        let (existed, blobs) = self.store.write(|tx| {
            let existed = tx.delete(&schema::USERID_UPLOADID_UPLOAD, &key(uid, id))?;
            let mut blobs = Vec::new();
            for k in tx.keys(&schema::USERID_UPLOADID_CHUNK_BLOB, &prefix)? {
                if let Some(c) = tx.get(&schema::USERID_UPLOADID_CHUNK_BLOB, &k)? {
                    tx.delete(&schema::BLOBID_REF, &c.blob)?;
                    blobs.push(c.blob);
                }
                tx.delete(&schema::USERID_UPLOADID_CHUNK_BLOB, &k)?;
            }
            Ok::<_, FilesError>((existed, blobs))
        })?;
        for b in blobs {
            let _ = self.blobs.delete(&b).await;
        }
        Ok(existed)
    }

    /// Removes uploads abandoned for longer than `max_age_ms` (Nextcloud: 24 hours).
    pub async fn expire_uploads(&self, max_age_ms: u64) -> Result<usize> {
        let cutoff = now_ms().saturating_sub(max_age_ms);
        let mut stale = Vec::new();
        self.store.read(|tx| {
            tx.scan(&schema::USERID_UPLOADID_UPLOAD, "", |k, u: Upload| {
                if u.created_ms < cutoff {
                    stale.push(k.to_owned());
                }
                true
            })
        })?;
        for k in &stale {
            if let Some((uid, id)) = k.split_once('\0') {
                self.remove_upload(uid, id).await?;
            }
        }
        Ok(stale.len())
    }
}

/// Reads several blobs one after another, opening each only when the previous one ends.
struct ChainReader {
    blobs: Arc<LocalBlobs>,
    ids: Vec<String>,
    next: usize,
    current: Option<tokio::fs::File>,
}

impl AsyncRead for ChainReader {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if self.current.is_none() {
                let Some(id) = self.ids.get(self.next).cloned() else {
                    return Poll::Ready(Ok(()));
                };
                self.next += 1;
                let path = self
                    .blobs
                    .path_of(&id)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
                // Opening a local file is a single quick syscall.
                self.current = Some(tokio::fs::File::from_std(std::fs::File::open(path)?));
            }
            let before = buf.filled().len();
            let Some(f) = self.current.as_mut() else {
                continue;
            };
            match Pin::new(f).poll_read(cx, buf) {
                Poll::Ready(Ok(())) if buf.filled().len() == before => self.current = None,
                other => return other,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounts::{AuthMethod, Principal};
    use crate::store::Store;

    #[tokio::test]
    async fn abandoned_uploads_expire_with_their_chunks() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(Store::open(&dir.path().join("db.redb"), &crate::schema::SCHEMA).unwrap());
        let blobs = Arc::new(LocalBlobs::open(&dir.path().join("blobs")).unwrap());
        let files = Files::new(store, blobs.clone());
        let alice = Actor::User(Principal {
            uid: "alice".into(),
            is_admin: false,
            via: AuthMethod::Password,
            groups: Default::default(),
        });
        files.upload_create(&alice, "alice", "u1", None).unwrap();
        files
            .upload_put_chunk(&alice, "alice", "u1", "1", &b"abc"[..], u64::MAX)
            .await
            .unwrap();
        assert_eq!(blobs.ids().unwrap().len(), 1);
        assert_eq!(
            files.expire_uploads(3_600_000).await.unwrap(),
            0,
            "a fresh upload stays"
        );
        // Same-millisecond timestamps must not make this flaky.
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        assert_eq!(files.expire_uploads(0).await.unwrap(), 1);
        assert!(files.upload_get(&alice, "alice", "u1").unwrap().is_none());
        assert!(
            blobs.ids().unwrap().is_empty(),
            "chunk blobs go with the upload"
        );
        assert!(
            !valid_part("../x") && !valid_part("a/b") && valid_part("rclone-chunked-upload-0f3a")
        );
    }
}
