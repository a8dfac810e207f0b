//! File-tree records as stored.

use serde::{Deserialize, Serialize};

use crate::store::Record;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Kind {
    File,
    Dir,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Node {
    /// Monotonic, never reused; survives renames and moves (clients track files by it).
    pub id: u64,
    /// 0 for a user's root.
    pub parent: u64,
    pub owner: String,
    pub name: String,
    pub kind: Kind,
    /// Files: content length. Folders: the recursive total of everything below.
    pub size: u64,
    /// Unix seconds.
    pub mtime: i64,
    /// Unix seconds the node was created here (0 = unknown).
    pub ctime: i64,
    pub upload_time: i64,
    /// Changes whenever this node or anything below it changes.
    pub etag: String,
    pub blob: Option<String>,
    /// CRC32C of the content, computed while it streamed in (content written since schema 7):
    /// what fsck checks it against.
    #[serde(default)]
    pub crc32c: Option<u32>,
    /// SHA-1 of the content: one a client sent and Hearth verified while the content streamed
    /// in, or (content written before schema 7) one Hearth computed.
    pub sha1: Option<String>,
    /// A checksum the client sent (`OC-Checksum`), kept as given when it is not SHA-1.
    pub client_checksum: Option<String>,
    pub content_type: String,
    pub favorite: bool,
    /// The content (`blob`) is kept in the metadata store (`blobs::inline`), not in a file.
    #[serde(default)]
    pub inline: bool,
}
/// Record versions 2 and 3 are the binary form below (3 may carry a CRC32C, flag bit 2; an
/// older Hearth cannot read it); version 1 was JSON (still read, for data directories written
/// before schema 6).
impl Record for Node {
    const VERSION: u8 = 3;

    fn encode_body(&self, out: &mut Vec<u8>) {
        for n in [self.id, self.parent, self.size] {
            out.extend_from_slice(&n.to_le_bytes());
        }
        for t in [self.mtime, self.ctime, self.upload_time] {
            out.extend_from_slice(&t.to_le_bytes());
        }
        out.push(match self.kind {
            Kind::File => 0,
            Kind::Dir => 1,
        });
        out.push(
            u8::from(self.favorite)
                | (u8::from(self.inline) << 1)
                | (u8::from(self.crc32c.is_some()) << 2),
        );
        for s in [&self.owner, &self.name, &self.etag, &self.content_type] {
            put_str(out, Some(s));
        }
        for s in [&self.blob, &self.sha1, &self.client_checksum] {
            put_str(out, s.as_deref());
        }
        if let Some(c) = self.crc32c {
            out.extend_from_slice(&c.to_le_bytes());
        }
    }

    fn decode_body(version: u8, body: &[u8]) -> Result<Self, String> {
        match version {
            v if is_binary_version(v) => NodeView::parse(body)
                .map(|v| v.to_node())
                .ok_or_else(|| "truncated or malformed node record".into()),
            1 => serde_json::from_slice(body).map_err(|e| e.to_string()),
            v => Err(format!("unknown node record version {v}")),
        }
    }
}

/// Node record versions stored in the binary form `NodeView::parse` reads.
pub fn is_binary_version(version: u8) -> bool {
    matches!(version, 2 | 3)
}

/// A string as one length byte (254 = a u32 length follows, 255 = absent) and its bytes.
fn put_str(out: &mut Vec<u8>, s: Option<&str>) {
    match s {
        None => out.push(255),
        Some(s) if s.len() < 254 => {
            out.push(s.len() as u8);
            out.extend_from_slice(s.as_bytes());
        }
        Some(s) => {
            out.push(254);
            out.extend_from_slice(&u32::try_from(s.len()).unwrap_or(u32::MAX).to_le_bytes());
            out.extend_from_slice(&s.as_bytes()[..s.len().min(u32::MAX as usize)]);
        }
    }
}

struct Cursor<'a>(&'a [u8]);

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u64(&mut self) -> Option<u64> {
        Some(u64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn i64(&mut self) -> Option<i64> {
        Some(i64::from_le_bytes(self.take(8)?.try_into().ok()?))
    }
    fn u8(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    /// `Some(None)` for an absent string, `None` for a malformed record.
    fn str(&mut self) -> Option<Option<&'a str>> {
        let len = match self.u8()? {
            255 => return Some(None),
            254 => usize::try_from(u32::from_le_bytes(self.take(4)?.try_into().ok()?)).ok()?,
            n => usize::from(n),
        };
        Some(Some(std::str::from_utf8(self.take(len)?).ok()?))
    }
}

/// A node record read in place, without copying its strings: what a listing renders (a
/// 10,000-entry PROPFIND would otherwise make 70,000 small allocations).
#[derive(Debug, Clone, Copy)]
pub struct NodeView<'a> {
    pub id: u64,
    pub parent: u64,
    pub owner: &'a str,
    pub name: &'a str,
    pub kind: Kind,
    pub size: u64,
    pub mtime: i64,
    pub ctime: i64,
    pub upload_time: i64,
    pub etag: &'a str,
    pub blob: Option<&'a str>,
    pub crc32c: Option<u32>,
    pub sha1: Option<&'a str>,
    pub client_checksum: Option<&'a str>,
    pub content_type: &'a str,
    pub favorite: bool,
    pub inline: bool,
}

impl<'a> NodeView<'a> {
    /// Reads a version-2 or -3 record body; `None` when it is malformed.
    pub fn parse(body: &'a [u8]) -> Option<NodeView<'a>> {
        let mut c = Cursor(body);
        let (id, parent, size) = (c.u64()?, c.u64()?, c.u64()?);
        let (mtime, ctime, upload_time) = (c.i64()?, c.i64()?, c.i64()?);
        let kind = match c.u8()? {
            0 => Kind::File,
            1 => Kind::Dir,
            _ => return None,
        };
        let flags = c.u8()?;
        let owner = c.str()??;
        let name = c.str()??;
        let etag = c.str()??;
        let content_type = c.str()??;
        let (blob, sha1, client_checksum) = (c.str()?, c.str()?, c.str()?);
        let crc32c = match flags & 4 {
            0 => None,
            _ => Some(u32::from_le_bytes(c.take(4)?.try_into().ok()?)),
        };
        c.0.is_empty().then_some(NodeView {
            id,
            parent,
            owner,
            name,
            kind,
            size,
            mtime,
            ctime,
            upload_time,
            etag,
            blob,
            crc32c,
            sha1,
            client_checksum,
            content_type,
            favorite: flags & 1 != 0,
            inline: flags & 2 != 0,
        })
    }

    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    pub fn to_node(&self) -> Node {
        Node {
            id: self.id,
            parent: self.parent,
            owner: self.owner.to_owned(),
            name: self.name.to_owned(),
            kind: self.kind,
            size: self.size,
            mtime: self.mtime,
            ctime: self.ctime,
            upload_time: self.upload_time,
            etag: self.etag.to_owned(),
            blob: self.blob.map(str::to_owned),
            crc32c: self.crc32c,
            sha1: self.sha1.map(str::to_owned),
            client_checksum: self.client_checksum.map(str::to_owned),
            content_type: self.content_type.to_owned(),
            favorite: self.favorite,
            inline: self.inline,
        }
    }
}

impl Node {
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }

    /// The checksum Hearth verified when the content arrived (`TYPE:hex`): the SHA-1, or a
    /// verified MD5 kept as the client's checksum. Other client types are kept unverified and
    /// are not this.
    pub fn verified_checksum(&self) -> Option<String> {
        match (&self.sha1, &self.client_checksum) {
            (Some(s), _) => Some(format!("SHA1:{s}")),
            (None, Some(c)) if c.starts_with("MD5:") => Some(c.clone()),
            _ => None,
        }
    }

    /// The same node as a view (renderers take views, so listings need not copy records).
    pub fn view(&self) -> NodeView<'_> {
        NodeView {
            id: self.id,
            parent: self.parent,
            owner: &self.owner,
            name: &self.name,
            kind: self.kind,
            size: self.size,
            mtime: self.mtime,
            ctime: self.ctime,
            upload_time: self.upload_time,
            etag: &self.etag,
            blob: self.blob.as_deref(),
            crc32c: self.crc32c,
            sha1: self.sha1.as_deref(),
            client_checksum: self.client_checksum.as_deref(),
            content_type: &self.content_type,
            favorite: self.favorite,
            inline: self.inline,
        }
    }
}

impl Record for u64 {}

/// A chunked upload in progress (`userid_uploadid_upload`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Upload {
    pub created_ms: u64,
    pub total_length: Option<u64>,
}
impl Record for Upload {}

#[derive(Debug, Clone, Serialize, Deserialize)]
/// One chunk of it (`userid_uploadid_chunk_blob`).
pub struct Chunk {
    pub blob: String,
    pub size: u64,
}
impl Record for Chunk {}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Node {
        Node {
            id: 42,
            parent: 7,
            owner: "alice".into(),
            name: "Ünïcode 📷.jpg".into(),
            kind: Kind::File,
            size: 1 << 40,
            mtime: -5,
            ctime: 1_700_000_000,
            upload_time: 1_700_000_001,
            etag: "6123abc0f00d".into(),
            blob: Some("0123456789abcdef0123456789abcdef".into()),
            crc32c: Some(0x8000_0001),
            sha1: None,
            client_checksum: Some("MD5:".to_owned() + &"x".repeat(300)),
            content_type: "image/jpeg".into(),
            favorite: true,
            inline: true,
        }
    }

    #[test]
    fn binary_records_round_trip_and_refuse_damage() {
        let without_crc = Node {
            crc32c: None,
            ..sample()
        };
        for n in [sample(), without_crc] {
            let mut body = Vec::new();
            n.encode_body(&mut body);
            let back = Node::decode_body(3, &body).unwrap();
            assert_eq!(
                serde_json::to_value(&back).unwrap(),
                serde_json::to_value(&n).unwrap()
            );
            for cut in [0, 10, body.len() - 1] {
                assert!(Node::decode_body(3, &body[..cut]).is_err());
            }
            let mut longer = body.clone();
            longer.push(0);
            assert!(Node::decode_body(3, &longer).is_err());
        }
        // Version 2 records (no CRC32C flag) read as before.
        let mut v2 = Vec::new();
        Node {
            crc32c: None,
            ..sample()
        }
        .encode_body(&mut v2);
        assert_eq!(Node::decode_body(2, &v2).unwrap().crc32c, None);
        let n = sample();
        // Version 1 records (JSON) are still read.
        let json = serde_json::to_vec(&n).unwrap();
        assert_eq!(Node::decode_body(1, &json).unwrap().name, n.name);
    }
}
