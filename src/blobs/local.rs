//! The local-disk engine: `DATA/blobs/ab/abcdef…`, each blob written once at its final name
//! and never changed (`DATA/blobs/tmp` only holds leftovers of older versions).

use std::path::{Path, PathBuf};

use tokio::io::{AsyncRead, AsyncSeekExt};

use super::write::{self, Staged};
use super::{BlobError, BlobStore, Hashes, Written, new_blob_id, valid_id};

pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    pub fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("tmp"))?;
        // All 256 shard folders up front: a write then never needs a mkdir.
        for shard in 0..=255u8 {
            let dir = root.join(format!("{shard:02x}"));
            if !dir.is_dir() {
                std::fs::create_dir_all(&dir)?;
            }
        }
        Ok(LocalBlobs {
            root: root.to_owned(),
        })
    }

    pub fn path_of(&self, id: &str) -> Result<PathBuf, BlobError> {
        if !valid_id(id) {
            return Err(BlobError::InvalidId);
        }
        Ok(self.root.join(&id[..2]).join(id))
    }

    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Every blob id on disk, for fsck and the sweep (a directory walk, not a held listing
    /// of metadata).
    pub fn ids(&self) -> std::io::Result<Vec<(String, std::fs::Metadata)>> {
        let mut out = Vec::new();
        for shard in std::fs::read_dir(&self.root)? {
            let shard = shard?;
            let name = shard.file_name();
            if name == "tmp" || !shard.file_type()?.is_dir() {
                continue;
            }
            for f in std::fs::read_dir(shard.path())? {
                let f = f?;
                if let Some(id) = f.file_name().to_str()
                    && valid_id(id)
                {
                    out.push((id.to_owned(), f.metadata()?));
                }
            }
        }
        Ok(out)
    }
}

impl LocalBlobs {
    /// A new blob with the same content (COPY gives the copy its own content and id).
    pub async fn copy(&self, id: &str) -> Result<Written, BlobError> {
        let (reader, _) = self.open(id, 0).await?;
        self.put(reader, u64::MAX, Hashes::CRC_ONLY).await
    }
}

impl LocalBlobs {
    /// Like `put`, but a small blob (one batch) comes back before its fsync has finished:
    /// `Staged::wait` waits for it. The caller must not let metadata that points at the blob
    /// become durable before that (`Store::write_queued_after`). Waiting for the fsync there
    /// lets the fsyncs of concurrent small uploads run together and the uploads' metadata
    /// commits share one fsync of their own.
    pub async fn put_staged(
        &self,
        body: impl AsyncRead + Send + Unpin,
        limit: u64,
        hashes: Hashes,
    ) -> Result<(Written, Staged), BlobError> {
        self.write_blob(body, limit, hashes, true).await
    }

    async fn write_blob(
        &self,
        body: impl AsyncRead + Send + Unpin,
        limit: u64,
        hashes: Hashes,
        stage: bool,
    ) -> Result<(Written, Staged), BlobError> {
        let id = new_blob_id();
        let dest = self.path_of(&id)?;
        match write::new_blob(body, limit, hashes, stage, &dest).await {
            Ok((s, staged)) => Ok((s.into_written(id), staged)),
            Err(e) => {
                // Nothing refers to the blob yet: whatever part of it exists goes.
                let _ = tokio::fs::remove_file(&dest).await;
                Err(e)
            }
        }
    }
}

impl BlobStore for LocalBlobs {
    async fn put(
        &self,
        body: impl AsyncRead + Send + Unpin,
        limit: u64,
        hashes: Hashes,
    ) -> Result<Written, BlobError> {
        Ok(self.write_blob(body, limit, hashes, false).await?.0)
    }

    async fn open(
        &self,
        id: &str,
        offset: u64,
    ) -> Result<(Box<dyn AsyncRead + Send + Unpin>, u64), BlobError> {
        let path = self.path_of(id)?;
        let mut f = match tokio::fs::File::open(&path).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(BlobError::NotFound(id.to_owned()));
            }
            Err(e) => return Err(e.into()),
        };
        let len = f.metadata().await?.len();
        if offset > 0 {
            f.seek(std::io::SeekFrom::Start(offset.min(len))).await?;
        }
        Ok((Box::new(f), len))
    }

    async fn delete(&self, id: &str) -> Result<(), BlobError> {
        match tokio::fs::remove_file(self.path_of(id)?).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}
