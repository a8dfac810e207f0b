//! Live properties of a node, in the exact forms Nextcloud clients read (protocol notes §5.3).

use super::xml::{NS_DAV, escape, open_tag, push_escaped};
use crate::files::NodeView;

/// What a node's properties depend on besides the node itself.
pub struct PropCtx {
    pub instance: String,
    pub owner_display: String,
    /// The space's quota in bytes (None = unlimited) and its root's size.
    pub quota: Option<u64>,
    pub used: u64,
    pub root_id: u64,
}

/// What the client asked for.
#[derive(Debug, Clone)]
pub enum Want {
    All,
    Names,
    Props(Vec<String>),
}

impl Want {
    pub fn needs_dead(&self) -> bool {
        match self {
            Want::All | Want::Names => true,
            Want::Props(p) => p.iter().any(|c| !is_live(c)),
        }
    }
    pub fn needs_locks(&self) -> bool {
        match self {
            Want::All => true,
            Want::Names => false,
            Want::Props(p) => p.iter().any(|c| c == "{DAV:}lockdiscovery"),
        }
    }
}

/// Live properties in the order `allprop`/`propname` list them.
const ALLPROP: [&str; 11] = [
    "{DAV:}resourcetype",
    "{DAV:}getlastmodified",
    "{DAV:}getcontentlength",
    "{DAV:}getcontenttype",
    "{DAV:}getetag",
    "{DAV:}creationdate",
    "{DAV:}displayname",
    "{DAV:}quota-used-bytes",
    "{DAV:}quota-available-bytes",
    "{DAV:}supportedlock",
    "{DAV:}lockdiscovery",
];

/// Properties this server computes (and which PROPPATCH may not store as dead).
pub fn is_live(clark: &str) -> bool {
    ALLPROP.contains(&clark)
        || matches!(
            clark,
            "{http://owncloud.org/ns}id"
                | "{http://owncloud.org/ns}fileid"
                | "{http://owncloud.org/ns}permissions"
                | "{http://owncloud.org/ns}size"
                | "{http://owncloud.org/ns}favorite"
                | "{http://owncloud.org/ns}owner-id"
                | "{http://owncloud.org/ns}owner-display-name"
                | "{http://owncloud.org/ns}share-types"
                | "{http://owncloud.org/ns}checksums"
                | "{http://owncloud.org/ns}data-fingerprint"
                | "{http://owncloud.org/ns}downloadURL"
                | "{http://owncloud.org/ns}dDC"
                | "{http://owncloud.org/ns}comments-unread"
                | "{http://owncloud.org/ns}comments-count"
                | "{http://nextcloud.org/ns}has-preview"
                | "{http://nextcloud.org/ns}mount-type"
                | "{http://nextcloud.org/ns}is-encrypted"
                | "{http://nextcloud.org/ns}creation_time"
                | "{http://nextcloud.org/ns}upload_time"
                | "{http://nextcloud.org/ns}is-mount-root"
                | "{DAV:}lastmodified"
        )
}

pub fn http_date(secs: i64) -> String {
    let mut s = String::with_capacity(29);
    push_http_date(&mut s, secs);
    s
}

/// ISO 8601 / ATOM, e.g. `2024-03-05T10:00:00+00:00`.
pub fn iso_date(secs: i64) -> String {
    let mut s = String::with_capacity(25);
    push_iso_date(&mut s, secs);
    s
}

/// (year, month, day, seconds into the day) of a Unix time (Howard Hinnant's civil-from-days).
fn civil(secs: i64) -> (i64, i64, i64, i64) {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, rem)
}

fn push2(out: &mut String, n: i64) {
    let n = n.rem_euclid(100) as u8;
    out.push(char::from(b'0' + n / 10));
    out.push(char::from(b'0' + n % 10));
}

fn push_year(out: &mut String, y: i64) {
    if (0..10_000).contains(&y) {
        push2(out, y / 100);
        push2(out, y % 100);
    } else {
        use std::fmt::Write;
        let _ = write!(out, "{y:04}");
    }
}

fn push_time(out: &mut String, rem: i64) {
    push2(out, rem / 3600);
    out.push(':');
    push2(out, rem % 3600 / 60);
    out.push(':');
    push2(out, rem % 60);
}

/// Appends an HTTP date (IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`) without allocating:
/// a listing writes one per entry. Times before 1970 are written as 1970 (as `httpdate` does).
pub fn push_http_date(out: &mut String, secs: i64) {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let secs = secs.max(0);
    let (y, m, d, rem) = civil(secs);
    out.push_str(DAYS[secs.div_euclid(86_400).rem_euclid(7) as usize]);
    out.push_str(", ");
    push2(out, d);
    out.push(' ');
    out.push_str(MONTHS[(m - 1).clamp(0, 11) as usize]);
    out.push(' ');
    push_year(out, y);
    out.push(' ');
    push_time(out, rem);
    out.push_str(" GMT");
}

/// Appends an ISO 8601 / ATOM date, e.g. `2024-03-05T10:00:00+00:00`.
pub fn push_iso_date(out: &mut String, secs: i64) {
    let (y, m, d, rem) = civil(secs);
    push_year(out, y);
    out.push('-');
    push2(out, m);
    out.push('-');
    push2(out, d);
    out.push('T');
    push_time(out, rem);
    out.push_str("+00:00");
}

pub fn permissions(dir: bool) -> &'static str {
    if dir { "RGDNVCK" } else { "RGDNVW" }
}

/// The value (inner XML) of a live property, or None when the node has no such property.
pub fn live_value(
    node: &NodeView<'_>,
    clark: &str,
    pc: &PropCtx,
    lockdiscovery: &str,
) -> Option<String> {
    let dir = node.is_dir();
    Some(match clark {
        "{DAV:}resourcetype" => if dir { "<d:collection/>".into() } else { String::new() },
        "{DAV:}getlastmodified" => http_date(node.mtime),
        "{DAV:}getcontentlength" if !dir => node.size.to_string(),
        "{DAV:}getcontenttype" if !dir => escape(node.content_type),
        "{DAV:}getetag" => format!("\"{}\"", node.etag),
        "{DAV:}creationdate" => iso_date(node.ctime),
        "{DAV:}displayname" => escape(node.name),
        "{DAV:}quota-used-bytes" if dir => node.size.to_string(),
        "{DAV:}quota-available-bytes" if dir => match pc.quota {
            Some(q) => q.saturating_sub(pc.used).to_string(),
            None => "-3".into(),
        },
        "{DAV:}supportedlock" => "<d:lockentry><d:lockscope><d:exclusive/></d:lockscope><d:locktype><d:write/></d:locktype></d:lockentry><d:lockentry><d:lockscope><d:shared/></d:lockscope><d:locktype><d:write/></d:locktype></d:lockentry>".into(),
        "{DAV:}lockdiscovery" => lockdiscovery.to_owned(),
        "{http://owncloud.org/ns}id" => super::oc_id(node.id, &pc.instance),
        "{http://owncloud.org/ns}fileid" => node.id.to_string(),
        "{http://owncloud.org/ns}permissions" => permissions(dir).into(),
        "{http://owncloud.org/ns}size" => node.size.to_string(),
        "{http://owncloud.org/ns}favorite" => u8::from(node.favorite).to_string(),
        "{http://owncloud.org/ns}owner-id" => escape(node.owner),
        "{http://owncloud.org/ns}owner-display-name" => escape(&pc.owner_display),
        "{http://owncloud.org/ns}share-types" => String::new(),
        "{http://owncloud.org/ns}checksums" if !dir => {
            let mut sums = Vec::new();
            if let Some(s) = node.sha1 {
                sums.push(format!("SHA1:{s}"));
            }
            if let Some(c) = node.client_checksum {
                sums.push(escape(c));
            }
            if sums.is_empty() {
                return None;
            }
            format!("<oc:checksum>{}</oc:checksum>", sums.join(" "))
        }
        "{http://owncloud.org/ns}data-fingerprint" if node.id == pc.root_id => String::new(),
        "{http://owncloud.org/ns}comments-unread" | "{http://owncloud.org/ns}comments-count" => "0".into(),
        "{http://nextcloud.org/ns}has-preview" => "false".into(),
        "{http://nextcloud.org/ns}mount-type" => String::new(),
        "{http://nextcloud.org/ns}is-encrypted" => "0".into(),
        "{http://nextcloud.org/ns}is-mount-root" => "false".into(),
        "{http://nextcloud.org/ns}creation_time" => node.ctime.to_string(),
        "{http://nextcloud.org/ns}upload_time" => node.upload_time.to_string(),
        _ => return None,
    })
}

/// Writes one `<d:response>`: the 200 propstat first (iOS reads only the first), then 404s.
pub fn write_response(
    out: &mut String,
    href: &str,
    node: &NodeView<'_>,
    want: &Want,
    pc: &PropCtx,
    dead: &[(String, String)],
    lockdiscovery: &str,
) {
    if let Some(prep) = Prepared::new(want) {
        write_prepared(out, href, node, &prep, pc, dead, lockdiscovery);
        return;
    }
    out.push_str("<d:response><d:href>");
    out.push_str(href);
    out.push_str("</d:href>");
    let mut found = String::new();
    let mut missing = String::new();
    let put = |buf: &mut String, clark: &str, value: Option<&str>| {
        let (tag, decl) = open_tag(clark);
        match value {
            Some(v) if !v.is_empty() => buf.push_str(&format!("<{tag}{decl}>{v}</{tag}>")),
            _ => buf.push_str(&format!("<{tag}{decl}/>")),
        }
    };
    match want {
        Want::Props(list) => {
            for clark in list {
                if let Some(v) = live_value(node, clark, pc, lockdiscovery) {
                    put(&mut found, clark, Some(&v));
                } else if let Some((_, v)) = dead.iter().find(|(n, _)| n == clark) {
                    put(&mut found, clark, Some(v));
                } else {
                    put(&mut missing, clark, None);
                }
            }
        }
        Want::All => {
            for clark in ALLPROP {
                if let Some(v) = live_value(node, clark, pc, lockdiscovery) {
                    put(&mut found, clark, Some(&v));
                }
            }
            for (clark, v) in dead {
                put(&mut found, clark, Some(v));
            }
        }
        Want::Names => {
            for clark in ALLPROP {
                if live_value(node, clark, pc, lockdiscovery).is_some() {
                    put(&mut found, clark, None);
                }
            }
            for (clark, _) in dead {
                put(&mut found, clark, None);
            }
        }
    }
    if !found.is_empty() {
        out.push_str("<d:propstat><d:prop>");
        out.push_str(&found);
        out.push_str("</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>");
    }
    if !missing.is_empty() {
        out.push_str("<d:propstat><d:prop>");
        out.push_str(&missing);
        out.push_str("</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>");
    }
    out.push_str("</d:response>\n");
}

/// Parses a PROPFIND body (None = allprop).
pub fn parse_want(body: Option<&super::xml::El>) -> Result<Want, String> {
    let Some(el) = body else { return Ok(Want::All) };
    if !el.is(NS_DAV, "propfind") {
        return Err("the body must be a DAV:propfind element".into());
    }
    if el.child(NS_DAV, "allprop").is_some() {
        return Ok(Want::All);
    }
    if el.child(NS_DAV, "propname").is_some() {
        return Ok(Want::Names);
    }
    match el.child(NS_DAV, "prop") {
        Some(p) => Ok(Want::Props(
            p.children.iter().map(super::xml::El::clark).collect(),
        )),
        None => Err("propfind needs prop, allprop or propname".into()),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn iso_dates() {
        assert_eq!(super::iso_date(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(super::iso_date(1_709_632_800), "2024-03-05T10:00:00+00:00");
    }

    #[test]
    fn http_dates_match_httpdate() {
        let at = |s: u64| std::time::UNIX_EPOCH + std::time::Duration::from_secs(s);
        for secs in [
            0,
            1,
            59,
            86_399,
            951_782_400,
            1_709_632_800,
            4_102_444_799,
            253_402_300_799,
        ] {
            assert_eq!(
                super::http_date(secs as i64),
                httpdate::fmt_http_date(at(secs)),
                "{secs}"
            );
        }
        assert_eq!(super::http_date(-5), httpdate::fmt_http_date(at(0)));
    }
}

/// The live properties, resolved from their names once per request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Live {
    ResourceType,
    LastModified,
    ContentLength,
    ContentType,
    Etag,
    CreationDate,
    DisplayName,
    QuotaUsed,
    QuotaAvailable,
    SupportedLock,
    LockDiscovery,
    OcId,
    OcFileId,
    OcPermissions,
    OcSize,
    OcFavorite,
    OcOwnerId,
    OcOwnerDisplayName,
    OcShareTypes,
    OcChecksums,
    OcDataFingerprint,
    OcComments,
    NcHasPreview,
    NcMountType,
    NcIsEncrypted,
    NcIsMountRoot,
    NcCreationTime,
    NcUploadTime,
}

fn live_of(clark: &str) -> Option<Live> {
    Some(match clark {
        "{DAV:}resourcetype" => Live::ResourceType,
        "{DAV:}getlastmodified" => Live::LastModified,
        "{DAV:}getcontentlength" => Live::ContentLength,
        "{DAV:}getcontenttype" => Live::ContentType,
        "{DAV:}getetag" => Live::Etag,
        "{DAV:}creationdate" => Live::CreationDate,
        "{DAV:}displayname" => Live::DisplayName,
        "{DAV:}quota-used-bytes" => Live::QuotaUsed,
        "{DAV:}quota-available-bytes" => Live::QuotaAvailable,
        "{DAV:}supportedlock" => Live::SupportedLock,
        "{DAV:}lockdiscovery" => Live::LockDiscovery,
        "{http://owncloud.org/ns}id" => Live::OcId,
        "{http://owncloud.org/ns}fileid" => Live::OcFileId,
        "{http://owncloud.org/ns}permissions" => Live::OcPermissions,
        "{http://owncloud.org/ns}size" => Live::OcSize,
        "{http://owncloud.org/ns}favorite" => Live::OcFavorite,
        "{http://owncloud.org/ns}owner-id" => Live::OcOwnerId,
        "{http://owncloud.org/ns}owner-display-name" => Live::OcOwnerDisplayName,
        "{http://owncloud.org/ns}share-types" => Live::OcShareTypes,
        "{http://owncloud.org/ns}checksums" => Live::OcChecksums,
        "{http://owncloud.org/ns}data-fingerprint" => Live::OcDataFingerprint,
        "{http://owncloud.org/ns}comments-unread" | "{http://owncloud.org/ns}comments-count" => {
            Live::OcComments
        }
        "{http://nextcloud.org/ns}has-preview" => Live::NcHasPreview,
        "{http://nextcloud.org/ns}mount-type" => Live::NcMountType,
        "{http://nextcloud.org/ns}is-encrypted" => Live::NcIsEncrypted,
        "{http://nextcloud.org/ns}is-mount-root" => Live::NcIsMountRoot,
        "{http://nextcloud.org/ns}creation_time" => Live::NcCreationTime,
        "{http://nextcloud.org/ns}upload_time" => Live::NcUploadTime,
        _ => return None,
    })
}

/// One requested property with its tags written out once.
struct Entry {
    clark: String,
    live: Option<Live>,
    open: String,
    close: String,
    empty: String,
}

/// A `Want::Props` list prepared once for every response of a listing.
pub struct Prepared {
    entries: Vec<Entry>,
}

impl Prepared {
    /// Prepares an explicit property list; `None` for allprop/propname (use `write_response`).
    pub fn new(want: &Want) -> Option<Prepared> {
        let Want::Props(list) = want else { return None };
        let entries = list
            .iter()
            .map(|clark| {
                let (tag, decl) = open_tag(clark);
                Entry {
                    live: live_of(clark),
                    open: format!("<{tag}{decl}>"),
                    close: format!("</{tag}>"),
                    empty: format!("<{tag}{decl}/>"),
                    clark: clark.clone(),
                }
            })
            .collect();
        Some(Prepared { entries })
    }
}

/// Writes a live value straight into `out`; false when the node has no such property.
fn write_live(
    out: &mut String,
    node: &NodeView<'_>,
    live: Live,
    pc: &PropCtx,
    lockdiscovery: &str,
) -> bool {
    use std::fmt::Write;
    let dir = node.is_dir();
    match live {
        Live::ResourceType => {
            if dir {
                out.push_str("<d:collection/>");
            }
        }
        Live::LastModified => push_http_date(out, node.mtime),
        Live::ContentLength if !dir => {
            let _ = write!(out, "{}", node.size);
        }
        Live::ContentType if !dir => push_escaped(out, node.content_type),
        Live::Etag => {
            out.push('"');
            out.push_str(node.etag);
            out.push('"');
        }
        Live::CreationDate => push_iso_date(out, node.ctime),
        Live::DisplayName => push_escaped(out, node.name),
        Live::QuotaUsed if dir => {
            let _ = write!(out, "{}", node.size);
        }
        Live::QuotaAvailable if dir => match pc.quota {
            Some(q) => {
                let _ = write!(out, "{}", q.saturating_sub(pc.used));
            }
            None => out.push_str("-3"),
        },
        Live::SupportedLock | Live::LockDiscovery | Live::OcChecksums => {
            let clark = match live {
                Live::SupportedLock => "{DAV:}supportedlock",
                Live::LockDiscovery => "{DAV:}lockdiscovery",
                _ => "{http://owncloud.org/ns}checksums",
            };
            match live_value(node, clark, pc, lockdiscovery) {
                Some(v) => out.push_str(&v),
                None => return false,
            }
        }
        Live::OcId => {
            let _ = write!(out, "{:08}{}", node.id, pc.instance);
        }
        Live::OcFileId => {
            let _ = write!(out, "{}", node.id);
        }
        Live::OcPermissions => out.push_str(permissions(dir)),
        Live::OcSize => {
            let _ = write!(out, "{}", node.size);
        }
        Live::OcFavorite => out.push(if node.favorite { '1' } else { '0' }),
        Live::OcOwnerId => push_escaped(out, node.owner),
        Live::OcOwnerDisplayName => push_escaped(out, &pc.owner_display),
        Live::OcShareTypes | Live::NcMountType => {}
        Live::OcDataFingerprint if node.id == pc.root_id => {}
        Live::OcComments => out.push('0'),
        Live::NcHasPreview | Live::NcIsMountRoot => out.push_str("false"),
        Live::NcIsEncrypted => out.push('0'),
        Live::NcCreationTime => {
            let _ = write!(out, "{}", node.ctime);
        }
        Live::NcUploadTime => {
            let _ = write!(out, "{}", node.upload_time);
        }
        _ => return false,
    }
    true
}

/// `write_response` for a prepared property list: the hot path of a large listing.
pub fn write_prepared(
    out: &mut String,
    href: &str,
    node: &NodeView<'_>,
    prep: &Prepared,
    pc: &PropCtx,
    dead: &[(String, String)],
    lockdiscovery: &str,
) {
    out.push_str("<d:response><d:href>");
    out.push_str(href);
    out.push_str("</d:href><d:propstat><d:prop>");
    let start = out.len();
    let mut missing: Vec<&Entry> = Vec::new();
    for e in &prep.entries {
        let mark = out.len();
        out.push_str(&e.open);
        let value_at = out.len();
        let present = match e.live {
            Some(l) => write_live(out, node, l, pc, lockdiscovery),
            None => match dead.iter().find(|(n, _)| *n == e.clark) {
                Some((_, v)) => {
                    out.push_str(v);
                    true
                }
                None => false,
            },
        };
        if !present {
            out.truncate(mark);
            missing.push(e);
        } else if out.len() == value_at {
            out.truncate(mark);
            out.push_str(&e.empty);
        } else {
            out.push_str(&e.close);
        }
    }
    if out.len() == start {
        // No 200 propstat: take its opening back out.
        out.truncate(start - "<d:propstat><d:prop>".len());
    } else {
        out.push_str("</d:prop><d:status>HTTP/1.1 200 OK</d:status></d:propstat>");
    }
    if !missing.is_empty() {
        out.push_str("<d:propstat><d:prop>");
        for e in missing {
            out.push_str(&e.empty);
        }
        out.push_str("</d:prop><d:status>HTTP/1.1 404 Not Found</d:status></d:propstat>");
    }
    out.push_str("</d:response>\n");
}
