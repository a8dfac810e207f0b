//! Multistatus writing for groupware resources: fixed prefixes for the namespaces clients
//! know (`d`, `cal`, `card`, `cs`, `x1` for Apple's), declared once on the root.

use super::{NS_APPLE, NS_CAL, NS_CARD, NS_CS};
use crate::dav::xml::{NS_DAV, NS_NC, NS_OC, escape, split_clark};

pub const OPEN: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\" xmlns:cal=\"urn:ietf:params:xml:ns:caldav\" xmlns:card=\"urn:ietf:params:xml:ns:carddav\" xmlns:cs=\"http://calendarserver.org/ns/\" xmlns:x1=\"http://apple.com/ns/ical/\" xmlns:oc=\"http://owncloud.org/ns\" xmlns:nc=\"http://nextcloud.org/ns\">\n";
pub const CLOSE: &str = "</d:multistatus>\n";

/// The element name to write for a Clark name, and an inline namespace declaration when
/// the namespace has no fixed prefix.
pub fn tag(clark: &str) -> (String, String) {
    let (ns, local) = split_clark(clark);
    let prefix = match ns {
        NS_DAV => "d",
        NS_CAL => "cal",
        NS_CARD => "card",
        NS_CS => "cs",
        NS_APPLE => "x1",
        NS_OC => "oc",
        NS_NC => "nc",
        "" => return (local.to_owned(), " xmlns=\"\"".to_owned()),
        other => {
            return (
                format!("x:{local}"),
                format!(" xmlns:x=\"{}\"", escape(other)),
            );
        }
    };
    (format!("{prefix}:{local}"), String::new())
}

/// Writes one `d:response`: properties with a value in a 200 propstat, the rest in a 404
/// one. With `names_only` (propname), every found property is written empty.
pub fn response(
    out: &mut String,
    href: &str,
    wanted: &[String],
    names_only: bool,
    mut value: impl FnMut(&str) -> Option<String>,
) {
    out.push_str("<d:response><d:href>");
    out.push_str(&escape(href));
    out.push_str("</d:href>");
    let mut missing = String::new();
    let mut found = String::new();
    for clark in wanted {
        let (name, decl) = tag(clark);
        match value(clark) {
            Some(v) if !names_only && !v.is_empty() => {
                found.push_str(&format!("<{name}{decl}>{v}</{name}>"));
            }
            Some(_) => found.push_str(&format!("<{name}{decl}/>")),
            None => missing.push_str(&format!("<{name}{decl}/>")),
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

/// A `d:response` with only a status (a deleted member in sync-collection, a missing href in
/// multiget).
pub fn status_response(out: &mut String, href: &str, status: &str) {
    out.push_str("<d:response><d:href>");
    out.push_str(&escape(href));
    out.push_str("</d:href><d:status>HTTP/1.1 ");
    out.push_str(status);
    out.push_str("</d:status></d:response>\n");
}

pub fn href(h: &str) -> String {
    format!("<d:href>{}</d:href>", escape(h))
}

/// Text content for XML (calendar data keeps its line breaks; `&`, `<`, `>` escaped).
pub fn text(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + s.len() / 16 + 16);
    // Copy runs between the few bytes that need escaping (all ASCII, so slicing is safe).
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'\r' => "&#13;",
            _ => continue,
        };
        o.push_str(&s[start..i]);
        o.push_str(rep);
        start = i + 1;
    }
    o.push_str(&s[start..]);
    o
}

#[cfg(test)]
mod tests {
    #[test]
    fn text_escapes_markup_and_carriage_returns() {
        assert_eq!(super::text("a<b>&c\r\nü"), "a&lt;b&gt;&amp;c&#13;\nü");
        assert_eq!(super::text(""), "");
    }
}
