//! Writing a new blob: content streamed from a body into its file, checksummed on the way
//! (CRC32C always, SHA-1 when asked), then made durable. A small blob costs one hop to the
//! blocking pool; a large one runs through a pipeline of steps side by side, each on its own
//! thread: reading the body, writing (and CRC32C), and SHA-1 when asked.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;

use sha1::{Digest, Sha1};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::mpsc;

use super::{BlobError, Hashes};

/// Content moves in batches of this size: large enough that a hop between threads costs
/// nothing against the work on it, small enough that the few batches in flight stay a few MiB.
const BATCH: usize = 1024 * 1024;

/// Each batch goes to the file in writes of this size. The page cache takes a folio as large
/// as the write, and large folios come from the large free blocks, which in a VM are the ones
/// the host has taken back (free page reporting): their first touch traps to the host. With
/// `dd` into a new file after a few idle seconds on the dev VM, 1 MiB writes ran at 780-850
/// MB/s and 64 KiB ones at 2.6-2.8 GB/s; a 1 GiB PUT went from 0.4-0.7 to 1.5-1.6 GB/s.
const WRITE_PIECE: usize = 64 * 1024;

/// How many batches each of the SHA-1 and writing threads may have queued. A short stall
/// in one step (the disk's queue full, the hashing thread descheduled) then does not stop the
/// others; measured: with one batch in flight per step (a lock-step pipeline) both cores of
/// this machine stood idle a quarter of a 1 GiB upload.
const QUEUED: usize = 3;

/// Buffers of one upload: one being read into, QUEUED queued behind the slower step and one
/// being worked on by it.
const BUFFERS: usize = QUEUED + 2;

/// Streams `body` (at most `limit` bytes) into a new file at `dest` and checksums it; yields its
/// size and sums and whether it is durable yet. With `stage`, a small blob (one batch) comes
/// back before its fsync has finished (`Staged`); a large one is always durable. On error the
/// caller removes whatever part of `dest` exists.
pub async fn new_blob(
    mut body: impl AsyncRead + Send + Unpin,
    limit: u64,
    hashes: Hashes,
    stage: bool,
    dest: &Path,
) -> Result<(Sums, Staged), BlobError> {
    let mut buf = Vec::with_capacity(BATCH);
    let mut eof = fill(&mut body, &mut buf).await?;
    let mut size = buf.len() as u64;
    if size > limit {
        return Err(BlobError::TooLarge { limit });
    }
    if eof {
        // One batch: checksummed here (at most 1 MiB), then create, write and fsync in one hop.
        let (crc32c, sha1) = super::sums_of(&buf, hashes);
        let path = dest.to_owned();
        let file = blocking(move || {
            let mut f = create(&path)?;
            write_pieces(&mut f, &buf)?;
            if stage {
                return Ok(Some(f));
            }
            make_durable(&f, &path)?;
            Ok(None)
        })
        .await?;
        let staged = match file {
            None => Staged::Durable,
            Some(f) => {
                let (tx, rx) = std::sync::mpsc::sync_channel(1);
                let dest = dest.to_owned();
                tokio::task::spawn_blocking(move || {
                    let _ = tx.send(make_durable(&f, &dest));
                });
                Staged::Syncing(rx)
            }
        };
        let sums = Sums { size, crc32c, sha1 };
        return Ok((sums, staged));
    }

    // Several batches: this task reads the body, one thread writes (and takes the CRC32C, a
    // few percent of the write's cost), another takes the SHA-1 when asked; each takes every
    // batch in order from its own bounded queue, so reading runs at most QUEUED batches ahead
    // of the slowest step.
    let (write_tx, mut write_rx) = mpsc::channel::<Arc<Batch>>(QUEUED);
    let (hash_tx, hashing) = if hashes.sha1 {
        let (tx, mut rx) = mpsc::channel::<Arc<Batch>>(QUEUED);
        let hashing = tokio::task::spawn_blocking(move || {
            let mut h = Sha1::new();
            while let Some(b) = rx.blocking_recv() {
                h.update(&b.buf);
            }
            h
        });
        (Some(tx), Some(hashing))
    } else {
        (None, None)
    };
    let path = dest.to_owned();
    let writing = tokio::task::spawn_blocking(move || -> std::io::Result<(std::fs::File, u32)> {
        let mut f = create(&path)?;
        let (mut written, mut crc) = (0u64, 0u32);
        while let Some(b) = write_rx.blocking_recv() {
            crc = crc32c::crc32c_append(crc, &b.buf);
            write_pieces(&mut f, &b.buf)?;
            // Start writing this batch to the disk now, so the fsync at the end waits for the
            // last batches only, not for the whole file.
            writeback::start(&f, written, b.buf.len() as u64);
            written += b.buf.len() as u64;
        }
        Ok((f, crc))
    });
    // A fixed set of buffers goes round: a batch both steps are done with comes back for
    // reading (fresh 1 MiB buffers would cost a page fault per 4 KiB).
    let (free_tx, mut free_rx) = mpsc::channel::<Vec<u8>>(BUFFERS);
    let mut buffers = 1;
    let read: Result<(), BlobError> = async {
        loop {
            let batch = Arc::new(Batch {
                buf: std::mem::take(&mut buf),
                back: free_tx.clone(),
            });
            let hashed = match &hash_tx {
                Some(tx) => tx.send(batch.clone()).await.is_ok(),
                None => true,
            };
            if !hashed || write_tx.send(batch.clone()).await.is_err() {
                // A step stopped early: the writer failed, and says why when joined.
                return Ok(());
            }
            drop(batch);
            if eof {
                return Ok(());
            }
            buf = match free_rx.try_recv() {
                Ok(b) => b,
                Err(_) if buffers < BUFFERS => {
                    buffers += 1;
                    Vec::with_capacity(BATCH)
                }
                Err(_) => free_rx.recv().await.unwrap_or_default(),
            };
            buf.clear();
            eof = fill(&mut body, &mut buf).await?;
            size += buf.len() as u64;
            if size > limit {
                return Err(BlobError::TooLarge { limit });
            }
            if eof && buf.is_empty() {
                return Ok(());
            }
        }
    }
    .await;
    drop((hash_tx, write_tx));
    let written = joined(writing.await);
    let hashed = match hashing {
        Some(h) => Some(joined(h.await.map(Ok))),
        None => None,
    };
    read?;
    let (file, crc32c) = written?;
    let sha1 = hashed.transpose()?.map(|h| super::hex(&h.finalize()));
    let dest = dest.to_owned();
    blocking(move || make_durable(&file, &dest)).await?;
    Ok((Sums { size, crc32c, sha1 }, Staged::Durable))
}

/// What was measured of a blob while it was written.
pub struct Sums {
    size: u64,
    crc32c: u32,
    sha1: Option<String>,
}

impl Sums {
    pub fn into_written(self, id: String) -> super::Written {
        super::Written {
            id,
            size: self.size,
            crc32c: self.crc32c,
            sha1: self.sha1,
        }
    }
}

fn write_pieces(f: &mut std::fs::File, buf: &[u8]) -> std::io::Result<()> {
    buf.chunks(WRITE_PIECE)
        .try_for_each(|piece| f.write_all(piece))
}

/// Reads from `body` until `buf` holds a whole batch or the body ends (then true).
async fn fill(body: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>) -> Result<bool, BlobError> {
    while buf.len() < BATCH {
        if body.read_buf(buf).await? == 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

/// One batch on its way through both steps; its buffer goes back to the reader when the
/// slower step drops it.
struct Batch {
    buf: Vec<u8>,
    back: mpsc::Sender<Vec<u8>>,
}

impl Drop for Batch {
    fn drop(&mut self) {
        // The channel holds every buffer there is, so this never finds it full; once the
        // reader has gone the buffer is simply freed.
        let _ = self.back.try_send(std::mem::take(&mut self.buf));
    }
}

fn create(dest: &Path) -> std::io::Result<std::fs::File> {
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dest)
}

/// fsync of a new blob, then of its folder (the new directory entry is durable only once the
/// directory is; after the file's own fsync this is cheap, ext4 has journalled it already).
/// The blob is written at its final name: nothing refers to it until the metadata commit that
/// follows, so a crash leaves at most an orphan, which fsck and the hourly sweep remove. (A temp
/// file and a rename would cost a second journal commit per upload.)
fn make_durable(f: &std::fs::File, dest: &Path) -> std::io::Result<()> {
    f.sync_all()?;
    std::fs::File::open(dest.parent().unwrap_or(Path::new(".")))?.sync_all()
}

async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> std::io::Result<T> + Send + 'static,
) -> Result<T, BlobError> {
    joined(tokio::task::spawn_blocking(f).await)
}

fn joined<T>(r: Result<std::io::Result<T>, tokio::task::JoinError>) -> Result<T, BlobError> {
    r.map_err(|e| BlobError::Io(std::io::Error::other(e.to_string())))?
        .map_err(BlobError::Io)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::blobs::{BlobStore, LocalBlobs, sha1_hex};

    /// Through the one-batch path and the pipeline alike: the CRC32C always, the SHA-1 only
    /// when asked, both of exactly what reached the disk.
    #[tokio::test]
    async fn sums_are_of_what_was_written_and_sha1_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = LocalBlobs::open(dir.path()).unwrap();
        let big: Vec<u8> = (0..3 * BATCH + 4321)
            .map(|i| (i * 31 % 253) as u8)
            .collect();
        for content in [&b"small"[..], &big[..]] {
            for hashes in [Hashes::CRC_ONLY, Hashes::WITH_SHA1] {
                let w = blobs.put(content, u64::MAX, hashes).await.unwrap();
                let on_disk = std::fs::read(blobs.path_of(&w.id).unwrap()).unwrap();
                assert_eq!(on_disk, content);
                assert_eq!(w.size, content.len() as u64);
                assert_eq!(w.crc32c, crc32c::crc32c(content));
                assert_eq!(w.sha1, hashes.sha1.then(|| sha1_hex(content)));
            }
        }
    }
}
