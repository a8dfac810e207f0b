//! Buffers handed to hyper as `Bytes` that come back for reuse once sent.
//!
//! A download or a long listing sends hundreds of chunks of a few hundred KiB; allocating
//! each afresh costs a malloc, often an mmap with its page faults (the chunks sit near the
//! allocator's mmap threshold, `crate::alloc`) and a munmap with a TLB shootdown across
//! threads when it is freed (perf showed all three). A pool per stream keeps a few buffers:
//! a chunk's buffer returns to it when hyper drops the chunk, and the next chunk reuses it.

use std::sync::{Arc, Mutex, PoisonError};

use bytes::Bytes;

/// The buffers of one stream; at most `keep` are held while unused.
#[derive(Clone)]
pub struct BufPool {
    free: Arc<Mutex<Vec<Vec<u8>>>>,
    keep: usize,
}

impl BufPool {
    pub fn new(keep: usize) -> Self {
        BufPool {
            free: Arc::new(Mutex::new(Vec::new())),
            keep,
        }
    }

    /// A buffer given back earlier, as it was (length and contents included).
    pub fn take(&self) -> Option<Vec<u8>> {
        self.free
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop()
    }

    /// The first `len` bytes of `buf` as `Bytes`; `buf` returns to the pool once they are
    /// dropped.
    pub fn freeze(&self, buf: Vec<u8>, len: usize) -> Bytes {
        let len = len.min(buf.len());
        Bytes::from_owner(Pooled {
            buf,
            len,
            home: self.clone(),
        })
    }
}

struct Pooled {
    buf: Vec<u8>,
    len: usize,
    home: BufPool,
}

impl AsRef<[u8]> for Pooled {
    fn as_ref(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

impl Drop for Pooled {
    fn drop(&mut self) {
        let mut free = self
            .home
            .free
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if free.len() < self.home.keep {
            free.push(std::mem::take(&mut self.buf));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_once_their_chunks_are_dropped() {
        let pool = BufPool::new(1);
        let buf = vec![7u8; 1000];
        let ptr = buf.as_ptr();
        let chunk = pool.freeze(buf, 10);
        assert_eq!(&chunk[..], &[7u8; 10]);
        let copy = chunk.clone();
        drop(chunk);
        assert!(pool.take().is_none(), "still referenced");
        drop(copy);
        let back = pool.take().unwrap();
        assert_eq!((back.as_ptr(), back.len()), (ptr, 1000));
        // Beyond `keep`, returned buffers are freed.
        let (a, b) = (pool.freeze(vec![0; 4], 4), pool.freeze(vec![0; 4], 4));
        drop((a, b));
        assert!(pool.take().is_some() && pool.take().is_none());
    }
}
