//! Page-cached blob content handed to the connection without copying it first.
//!
//! A large GET read each chunk into a buffer (`preadv2`) and the socket write then copied that
//! buffer again: perf put the first copy at 38 % of a 1 GiB GET's CPU, the largest item. A chunk
//! whose pages are all in memory is instead mapped read-only, and the socket write (or rustls)
//! copies straight from the page cache, as nginx's `sendfile` does. A chunk with any page not in
//! memory takes the `preadv2`/blocking path of `read.rs`, so an async worker never waits for the
//! disk. The mapping ends when the connection has sent the chunk: RSS holds the chunk in flight,
//! no more.
//!
//! Why this is sound: blob files are written once at their final name and never changed or
//! truncated afterwards (`write.rs`); a deleted blob stays readable while mapped. What remains
//! is the kernel evicting a page between the residency check and the send and the disk then
//! failing to read it back: the process would get SIGBUS where `read` returns EIO. That needs
//! memory pressure and a read error within the same microseconds.

use std::fs::File;

use bytes::Bytes;

/// `len` bytes from `offset` of `file`, without a copy, if every page of them is in memory.
pub fn cached_range(file: &File, offset: u64, len: usize) -> Option<Bytes> {
    // A file shorter than its metadata says (damaged) must end the download with an error, as
    // `read` does: a mapping would show zeros past the end, or fault.
    let end = offset.checked_add(u64::try_from(len).ok()?)?;
    if file.metadata().ok()?.len() < end {
        return None;
    }
    let page = page_size();
    let start = offset - offset % page as u64;
    let skip = usize::try_from(offset - start).ok()?;
    let map = map(file, start, skip.checked_add(len)?)?;
    resident(&map, page).then(|| Bytes::from_owner(Mapped { map, skip, len }))
}

struct Mapped {
    map: memmap2::Mmap,
    skip: usize,
    len: usize,
}

impl AsRef<[u8]> for Mapped {
    fn as_ref(&self) -> &[u8] {
        &self.map[self.skip..self.skip + self.len]
    }
}

#[allow(unsafe_code)]
fn map(file: &File, start: u64, len: usize) -> Option<memmap2::Mmap> {
    // SAFETY: the file is a blob, which nothing writes or truncates once it exists (see the
    // module comment), so the mapped bytes cannot change under the `&[u8]` handed out.
    unsafe { memmap2::MmapOptions::new().offset(start).len(len).map(file) }.ok()
}

/// Whether every page of the mapping is in the page cache (`mincore`).
#[allow(unsafe_code)]
fn resident(map: &memmap2::Mmap, page: usize) -> bool {
    let mut pages = vec![0u8; map.len().div_ceil(page)];
    // SAFETY: the address range is our own live mapping, and `pages` has one byte for each of
    // its pages, which is what mincore writes.
    let r = unsafe {
        libc::mincore(
            map.as_ptr().cast_mut().cast(),
            map.len(),
            pages.as_mut_ptr(),
        )
    };
    r == 0 && pages.iter().all(|p| p & 1 == 1)
}

fn page_size() -> usize {
    rustix::param::page_size()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_exactly_the_range_asked_for() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("blob");
        let content: Vec<u8> = (0..3 * 4096 + 100).map(|i| (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        let f = File::open(&path).unwrap();
        // Just written, so in the page cache.
        for (off, len) in [(0, content.len()), (5000, 4000), (4096, 1), (12000, 388)] {
            let got = cached_range(&f, off as u64, len).expect("cached");
            assert_eq!(&got[..], &content[off..off + len]);
        }
        // Past the end: not mapped (the caller's read then reports the short file).
        assert!(cached_range(&f, 0, content.len() + 1).is_none());
        assert!(cached_range(&f, 5 * 4096, 10).is_none());
    }
}
