//! The local-disk engine: `DATA/blobs/ab/abcdef…` with temp files in `DATA/blobs/tmp`.

use std::path::{Path, PathBuf};

use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

use super::{BlobError, BlobStore, Written, new_blob_id, valid_id};

pub struct LocalBlobs {
    root: PathBuf,
}

impl LocalBlobs {
    pub fn open(root: &Path) -> std::io::Result<Self> {
        std::fs::create_dir_all(root.join("tmp"))?;
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
        self.put(reader, u64::MAX).await
    }
}

impl BlobStore for LocalBlobs {
    async fn put(
        &self,
        mut body: impl AsyncRead + Send + Unpin,
        limit: u64,
    ) -> Result<Written, BlobError> {
        // Content is gathered in 1 MiB batches and each batch written in one blocking step, so
        // a large upload costs a thread hop per MiB (not per 64 KiB), and a small one exactly
        // one: create, write, fsync, rename, fsync the directory.
        const BATCH: usize = 1024 * 1024;
        let id = new_blob_id();
        let tmp = self.tmp_dir().join(format!("{id}.part"));
        let dest = self.path_of(&id)?;
        let mut hasher = Sha1::new();
        let mut size = 0u64;
        // Two buffers: while one is written (off the runtime), the next is read and hashed.
        let mut pending: Option<BatchJob> = None;
        let mut file: Option<std::fs::File> = None;
        let mut spare: Vec<u8> = Vec::with_capacity(BATCH);
        let result: Result<(), BlobError> = async {
            loop {
                let mut buf = std::mem::take(&mut spare);
                let mut eof = false;
                while buf.len() < BATCH {
                    if body.read_buf(&mut buf).await? == 0 {
                        eof = true;
                        break;
                    }
                }
                size += buf.len() as u64;
                if size > limit {
                    return Err(BlobError::TooLarge { limit });
                }
                hasher.update(&buf);
                if let Some(p) = pending.take() {
                    let (f, emptied) = p
                        .await
                        .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))??;
                    file = f;
                    spare = emptied;
                }
                let job = write_batch(file.take(), buf, tmp.clone(), eof.then(|| dest.clone()));
                if eof {
                    job.await
                        .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))??;
                    return Ok(());
                }
                pending = Some(job);
                if spare.capacity() == 0 {
                    spare = Vec::with_capacity(BATCH);
                }
            }
        }
        .await;
        if let Err(e) = result {
            if let Some(p) = pending.take() {
                let _ = p.await;
            }
            drop(file);
            let _ = tokio::fs::remove_file(&tmp).await;
            return Err(e);
        }
        let sha1 = hasher
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        Ok(Written { id, size, sha1 })
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

/// A batch being written: yields the open file and the emptied buffer.
type BatchJob = tokio::task::JoinHandle<std::io::Result<(Option<std::fs::File>, Vec<u8>)>>;

/// Writes one batch off the runtime (creating the temp file on the first); with `finish`,
/// also makes it durable and moves it into place. Yields the open file and the emptied
/// buffer for reuse.
fn write_batch(
    file: Option<std::fs::File>,
    mut buf: Vec<u8>,
    tmp: std::path::PathBuf,
    finish: Option<std::path::PathBuf>,
) -> BatchJob {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut f = match file {
            Some(f) => f,
            None => std::fs::File::create(&tmp)?,
        };
        f.write_all(&buf)?;
        buf.clear();
        let Some(dest) = finish else {
            return Ok((Some(f), buf));
        };
        f.sync_all()?;
        drop(f);
        let shard = dest.parent().map(Path::to_owned).unwrap_or_default();
        std::fs::create_dir_all(&shard)?;
        std::fs::rename(&tmp, &dest)?;
        // The rename is durable only once the directory entry is.
        std::fs::File::open(&shard)?.sync_all()?;
        Ok((None, buf))
    })
}
