//! The local-disk engine: `DATA/blobs/ab/abcdef…`, each blob written once at its final name
//! and never changed (`DATA/blobs/tmp` only holds leftovers of older versions).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt};

use super::{BlobError, BlobStore, Written, new_blob_id, valid_id};

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
        self.put(reader, u64::MAX).await
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
    ) -> Result<(Written, Staged), BlobError> {
        self.write_blob(body, limit, true).await
    }

    async fn write_blob(
        &self,
        mut body: impl AsyncRead + Send + Unpin,
        limit: u64,
        stage: bool,
    ) -> Result<(Written, Staged), BlobError> {
        // Content is gathered in 1 MiB batches; each is hashed and written off the runtime, by
        // two blocking steps side by side, while the next batch is read: reading, hashing and
        // writing then overlap (measured: hashing and writing in one step, or hashing on the
        // async worker, made that step the bottleneck of a large upload). A small upload (one
        // batch) is hashed here and costs exactly one hop: create, write, fsync.
        const BATCH: usize = 1024 * 1024;
        let id = new_blob_id();
        let dest = self.path_of(&id)?;
        let mut size = 0u64;
        let mut pending: Option<InFlight> = None;
        let mut state: Option<WriteState> = None;
        let mut hasher = Some(Sha1::new());
        let mut spare: Vec<u8> = Vec::with_capacity(BATCH);
        let result: Result<WriteState, BlobError> = async {
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
                let first = state.is_none() && pending.is_none();
                if let Some(p) = pending.take() {
                    let (st, h, emptied) = p.finish().await?;
                    (state, hasher) = (Some(st), Some(h));
                    spare = emptied.unwrap_or_default();
                }
                let end = match (eof, stage && first) {
                    (false, _) => End::No,
                    (true, true) => End::Later,
                    (true, false) => End::Sync,
                };
                let mut h = hasher.take().unwrap_or_default();
                if eof && first {
                    h.update(&buf);
                    hasher = Some(h);
                    return joined(
                        write_batch(state.take(), Arc::new(buf), dest.clone(), end).await,
                    );
                }
                let buf = Arc::new(buf);
                let shared = buf.clone();
                let hash = tokio::task::spawn_blocking(move || {
                    h.update(&shared[..]);
                    h
                });
                let write = write_batch(state.take(), buf.clone(), dest.clone(), end);
                let job = InFlight { write, hash, buf };
                if eof {
                    let (st, h, _) = job.finish().await?;
                    hasher = Some(h);
                    return Ok(st);
                }
                pending = Some(job);
                if spare.capacity() == 0 {
                    spare = Vec::with_capacity(BATCH);
                }
            }
        }
        .await;
        let done = match result {
            Ok(st) => st,
            Err(e) => {
                if let Some(p) = pending.take() {
                    let _ = p.finish().await;
                }
                drop(state);
                // Nothing refers to the blob yet: whatever part of it exists goes.
                let _ = tokio::fs::remove_file(&dest).await;
                return Err(e);
            }
        };
        let WriteState { file, .. } = done;
        let sha1 = hasher
            .unwrap_or_default()
            .finalize()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let staged = match file {
            None => Staged::Durable,
            Some(f) => {
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                let shard = dest.parent().map(Path::to_owned).unwrap_or_default();
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(make_durable(&f, &shard));
                });
                Staged::Syncing(rx)
            }
        };
        Ok((Written { id, size, sha1 }, staged))
    }
}

/// Whether a blob just written is durable yet.
pub enum Staged {
    Durable,
    /// Its fsync runs on the blocking pool.
    Syncing(std::sync::mpsc::Receiver<std::io::Result<()>>),
}

impl Staged {
    /// Waits (blocking) until the blob is durable.
    pub fn wait(self) -> std::io::Result<()> {
        match self {
            Staged::Durable => Ok(()),
            Staged::Syncing(rx) => rx
                .recv()
                .unwrap_or_else(|_| Err(std::io::Error::other("the blob's fsync did not run"))),
        }
    }
}

impl BlobStore for LocalBlobs {
    async fn put(
        &self,
        body: impl AsyncRead + Send + Unpin,
        limit: u64,
    ) -> Result<Written, BlobError> {
        Ok(self.write_blob(body, limit, false).await?.0)
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

/// A blob being written: its file (`None` once durable and closed) and how much is written.
struct WriteState {
    file: Option<std::fs::File>,
    written: u64,
}

/// What the batch being written does after writing.
#[derive(Clone, Copy, PartialEq, Eq)]
enum End {
    /// More batches follow.
    No,
    /// The last batch: make the blob durable.
    Sync,
    /// The last batch; the caller makes it durable (`Staged`).
    Later,
}

/// fsync of a new blob, then of its folder (the new directory entry is durable only once the
/// directory is; after the file's own fsync this is cheap, ext4 has journalled it already).
fn make_durable(f: &std::fs::File, shard: &Path) -> std::io::Result<()> {
    f.sync_all()?;
    std::fs::File::open(shard)?.sync_all()
}

/// A batch being written.
type BatchJob = tokio::task::JoinHandle<std::io::Result<WriteState>>;

fn joined(
    r: Result<std::io::Result<WriteState>, tokio::task::JoinError>,
) -> Result<WriteState, BlobError> {
    r.map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?
        .map_err(BlobError::Io)
}

/// A batch being hashed and written side by side.
struct InFlight {
    write: BatchJob,
    hash: tokio::task::JoinHandle<Sha1>,
    buf: Arc<Vec<u8>>,
}

impl InFlight {
    /// Waits for both steps; yields the state, the hash so far and the buffer for reuse.
    async fn finish(self) -> Result<(WriteState, Sha1, Option<Vec<u8>>), BlobError> {
        let written = joined(self.write.await);
        let hashed = self
            .hash
            .await
            .map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())));
        let (st, h) = (written?, hashed?);
        let buf = Arc::try_unwrap(self.buf).ok().map(|mut b| {
            b.clear();
            b
        });
        Ok((st, h, buf))
    }
}

/// Writes one batch off the runtime (creating the blob's file with the first);
/// with `finish`, also makes it durable. The blob is written at its final name: nothing refers
/// to it until the metadata commit that follows, so a crash leaves at most an orphan, which
/// fsck and the hourly sweep remove. (A temp file and a rename would cost a second journal
/// commit per upload.)
fn write_batch(
    state: Option<WriteState>,
    buf: Arc<Vec<u8>>,
    dest: std::path::PathBuf,
    end: End,
) -> BatchJob {
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut st = match state {
            Some(s) => s,
            None => WriteState {
                file: Some(
                    std::fs::OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .open(&dest)?,
                ),
                written: 0,
            },
        };
        let Some(file) = st.file.as_mut() else {
            return Err(std::io::Error::other("blob already closed"));
        };
        file.write_all(&buf)?;
        if end == End::No {
            // Start writing this batch to the disk now, so the fsync at the end of a large
            // upload waits for the last batches only, not for the whole file.
            writeback::start(file, st.written, buf.len() as u64);
        }
        st.written += buf.len() as u64;
        if end == End::Sync
            && let Some(f) = st.file.take()
        {
            make_durable(&f, dest.parent().unwrap_or(Path::new(".")))?;
        }
        Ok(st)
    })
}

mod writeback {
    /// Asks the kernel to start writing a range of `f` to the disk, without waiting
    /// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`; best effort, errors ignored: the final
    /// fsync is what makes the content durable).
    #[cfg(target_os = "linux")]
    #[allow(unsafe_code)]
    pub fn start(f: &std::fs::File, offset: u64, len: u64) {
        use std::os::fd::AsRawFd;
        let (Ok(offset), Ok(len)) = (i64::try_from(offset), i64::try_from(len)) else {
            return;
        };
        // SAFETY: a plain system call on a descriptor that `f` keeps open for its duration;
        // it takes no pointers, and its only effect is to start write-out of dirty pages.
        unsafe {
            libc::sync_file_range(f.as_raw_fd(), offset, len, libc::SYNC_FILE_RANGE_WRITE);
        }
    }

    #[cfg(not(target_os = "linux"))]
    pub fn start(_f: &std::fs::File, _offset: u64, _len: u64) {}
}
