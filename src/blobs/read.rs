//! Reading blob content, on the runtime when the kernel already holds it.
//!
//! A hop to the blocking pool costs two thread wake-ups, more than reading 4 KiB from the page
//! cache (measured with perf under `wrk`: futex wake/wait was the largest item of a small
//! GET). So a read first tries `openat2(RESOLVE_CACHED)` and `preadv2(RWF_NOWAIT)`, which
//! answer EAGAIN instead of waiting for the disk, and only then moves to the blocking pool.
//! A cold file on an SD card therefore never stalls an async worker, and a warm one costs no
//! thread switch. Kernels without these calls (older than 5.12) take the blocking path.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use rustix::fs::{Mode, OFlags, ResolveFlags};
use rustix::io::{Errno, ReadWriteFlags};
use tokio::task::JoinHandle;

use crate::bufpool::BufPool;

/// Opens `path` for reading if that needs no disk access; `None` otherwise (or when the kernel
/// does not know `RESOLVE_CACHED`).
fn open_cached(path: &Path) -> Option<File> {
    rustix::fs::openat2(
        rustix::fs::CWD,
        path,
        OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
        ResolveFlags::CACHED,
    )
    .ok()
    .map(File::from)
}

enum Cached {
    Read(usize),
    /// Some of the range is not in memory (or the file system cannot say): read it blocking.
    WouldBlock,
    Failed(io::Error),
}

/// Reads what the page cache holds of `buf.len()` bytes at `offset`, without waiting.
fn read_cached(file: &File, buf: &mut [u8], offset: u64) -> Cached {
    let mut slices = [io::IoSliceMut::new(buf)];
    match rustix::io::preadv2(file, &mut slices, offset, ReadWriteFlags::NOWAIT) {
        Ok(n) => Cached::Read(n),
        Err(Errno::AGAIN | Errno::OPNOTSUPP | Errno::NOSYS | Errno::INVAL) => Cached::WouldBlock,
        Err(e) => Cached::Failed(e.into()),
    }
}

/// Fills `buf` from `offset` (blocking); a file shorter than that is an error.
fn read_full(file: &File, buf: &mut [u8], offset: u64) -> io::Result<()> {
    file.read_exact_at(buf, offset)
}

/// Reads `len` bytes at `start` of the file at `path` whole: for small ranges (a 4 KiB GET).
pub async fn read_range(path: PathBuf, start: u64, len: usize) -> io::Result<Bytes> {
    let mut buf = vec![0u8; len];
    let mut done = 0;
    let file = open_cached(&path);
    if let Some(f) = &file {
        while done < len {
            match read_cached(f, &mut buf[done..], start + done as u64) {
                Cached::Read(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
                Cached::Read(n) => done += n,
                Cached::WouldBlock => break,
                Cached::Failed(e) => return Err(e),
            }
        }
        if done == len {
            return Ok(buf.into());
        }
    }
    let read = tokio::task::spawn_blocking(move || -> io::Result<Vec<u8>> {
        let f = match file {
            Some(f) => f,
            None => File::open(&path)?,
        };
        read_full(&f, &mut buf[done..], start + done as u64)?;
        Ok(buf)
    })
    .await
    .map_err(io::Error::other)??;
    Ok(read.into())
}

/// Chunks of a large range, read as the client takes them. A chunk the page cache holds whole
/// goes out mapped, without a copy (`mapped`, `MAPPED` bytes at a time); any other is read into
/// a buffer, and buffers come back to a small pool (`bufpool`) once the connection has sent
/// them, so a download reuses the same few. Memory per download: at most `(POOL + 1) × CHUNK`,
/// 1.25 MiB, plus the mapped chunk in flight.
pub struct RangeStream {
    path: PathBuf,
    file: Option<File>,
    opened: bool,
    pos: u64,
    left: u64,
    pool: BufPool,
    blocking: Option<BlockingRead>,
}

type BlockingRead = JoinHandle<io::Result<(File, Vec<u8>, usize)>>;

const CHUNK: usize = 256 * 1024;
const POOL: usize = 4;
/// A mapped chunk costs a map, a residency check and an unmap, whatever its size: a larger one
/// spreads that over more bytes.
const MAPPED: usize = 1024 * 1024;

impl RangeStream {
    pub fn new(path: PathBuf, start: u64, len: u64) -> Self {
        RangeStream {
            path,
            file: None,
            opened: false,
            pos: start,
            left: len,
            pool: BufPool::new(POOL),
            blocking: None,
        }
    }

    fn buffer(&self) -> Vec<u8> {
        self.pool.take().unwrap_or_else(|| vec![0u8; CHUNK])
    }

    fn chunk(&mut self, buf: Vec<u8>, len: usize) -> Bytes {
        self.pos += len as u64;
        self.left -= len as u64;
        self.pool.freeze(buf, len)
    }

    /// The next chunk; `None` at the end of the range. An error ends the body early (the
    /// client sees a short answer, never wrong bytes).
    pub fn poll_chunk(&mut self, cx: &mut Context<'_>) -> Poll<Option<io::Result<Bytes>>> {
        if let Some(job) = self.blocking.as_mut() {
            let done = ready!(Pin::new(job).poll(cx));
            self.blocking = None;
            return Poll::Ready(Some(match done {
                Ok(Ok((file, buf, n))) => {
                    self.file = Some(file);
                    Ok(self.chunk(buf, n))
                }
                Ok(Err(e)) => Err(e),
                Err(e) => Err(io::Error::other(e)),
            }));
        }
        if self.left == 0 {
            return Poll::Ready(None);
        }
        if !self.opened {
            self.opened = true;
            self.file = open_cached(&self.path);
            if let Some(f) = &self.file {
                // Doubles the kernel's read-ahead window: the next chunks are then in memory
                // by the time they are asked for.
                let _ = rustix::fs::fadvise(f, self.pos, None, rustix::fs::Advice::Sequential);
            }
        }
        if let Some(f) = &self.file {
            let whole = usize::try_from(self.left).map_or(MAPPED, |l| l.min(MAPPED));
            if let Some(chunk) = super::mapped::cached_range(f, self.pos, whole) {
                self.pos += whole as u64;
                self.left -= whole as u64;
                return Poll::Ready(Some(Ok(chunk)));
            }
        }
        let want = usize::try_from(self.left).map_or(CHUNK, |l| l.min(CHUNK));
        let mut buf = self.buffer();
        if let Some(f) = &self.file {
            match read_cached(f, &mut buf[..want], self.pos) {
                Cached::Read(0) => {
                    return Poll::Ready(Some(Err(io::ErrorKind::UnexpectedEof.into())));
                }
                Cached::Read(n) => return Poll::Ready(Some(Ok(self.chunk(buf, n)))),
                Cached::WouldBlock => {}
                Cached::Failed(e) => return Poll::Ready(Some(Err(e))),
            }
        }
        let (file, path, pos) = (self.file.take(), self.path.clone(), self.pos);
        self.blocking = Some(tokio::task::spawn_blocking(move || {
            let f = match file {
                Some(f) => f,
                None => {
                    let f = File::open(&path)?;
                    let _ = rustix::fs::fadvise(&f, pos, None, rustix::fs::Advice::Sequential);
                    f
                }
            };
            read_full(&f, &mut buf[..want], pos)?;
            Ok((f, buf, want))
        }));
        self.poll_chunk(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(n: usize) -> Vec<u8> {
        (0..n).map(|i| (i * 7 % 251) as u8).collect()
    }

    #[tokio::test]
    async fn ranges_read_back_exactly_cached_or_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let content = data(3 * CHUNK + 1234);
        std::fs::write(&path, &content).unwrap();
        let got = read_range(path.clone(), 10, 4096).await.unwrap();
        assert_eq!(&got[..], &content[10..4106]);
        assert!(
            read_range(path.clone(), content.len() as u64 - 5, 10)
                .await
                .is_err()
        );

        for (start, len) in [(0, content.len()), (CHUNK - 3, CHUNK + 7), (5, 1)] {
            let mut s = RangeStream::new(path.clone(), start as u64, len as u64);
            let mut out = Vec::new();
            while let Some(c) = std::future::poll_fn(|cx| s.poll_chunk(cx)).await {
                out.extend_from_slice(&c.unwrap());
            }
            assert_eq!(out, &content[start..start + len]);
        }
        // A range past the end of a (damaged) file ends with an error, not with wrong bytes.
        let mut s = RangeStream::new(path.clone(), 0, content.len() as u64 + 1);
        let mut failed = false;
        while let Some(c) = std::future::poll_fn(|cx| s.poll_chunk(cx)).await {
            if c.is_err() {
                failed = true;
                break;
            }
        }
        assert!(failed);
    }
}
