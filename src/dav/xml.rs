//! DAV XML: reading request bodies (quick-xml, namespaces resolved, no DTDs so no entity
//! bombs) and small writing helpers. Output uses the fixed prefixes Nextcloud clients expect
//! (`d:`, `oc:`, `nc:`, `s:`), declared once on the root element.

use quick_xml::events::Event;
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

pub const NS_DAV: &str = "DAV:";
pub const NS_OC: &str = "http://owncloud.org/ns";
pub const NS_NC: &str = "http://nextcloud.org/ns";

pub const MULTISTATUS_OPEN: &str = "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus xmlns:d=\"DAV:\" xmlns:s=\"http://sabredav.org/ns\" xmlns:oc=\"http://owncloud.org/ns\" xmlns:nc=\"http://nextcloud.org/ns\">";
pub const MULTISTATUS_CLOSE: &str = "</d:multistatus>\n";

/// Deepest element nesting accepted in a request body.
const MAX_DEPTH: usize = 64;

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    push_escaped(&mut o, s);
    o
}

/// Appends `s` escaped for XML text or attribute values (control characters XML 1.0 cannot
/// carry are dropped). Copies runs of plain bytes at once: most names need no escaping.
pub fn push_escaped(out: &mut String, s: &str) {
    let mut start = 0;
    for (i, b) in s.bytes().enumerate() {
        let rep = match b {
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'&' => "&amp;",
            b'"' => "&quot;",
            b if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') => "",
            _ => continue,
        };
        out.push_str(&s[start..i]);
        out.push_str(rep);
        start = i + 1;
    }
    out.push_str(&s[start..]);
}

/// A parsed element: namespace, local name, attributes (Clark-named), children and text.
#[derive(Debug, Clone, Default)]
pub struct El {
    pub ns: String,
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<El>,
    pub text: String,
}

impl El {
    pub fn is(&self, ns: &str, name: &str) -> bool {
        self.ns == ns && self.name == name
    }
    pub fn clark(&self) -> String {
        format!("{{{}}}{}", self.ns, self.name)
    }
    pub fn child(&self, ns: &str, name: &str) -> Option<&El> {
        self.children.iter().find(|c| c.is(ns, name))
    }
    pub fn text_content(&self) -> String {
        let mut s = self.text.clone();
        for c in &self.children {
            s.push_str(&c.text_content());
        }
        s
    }

    /// Writes this element's content (not the element itself) as a self-contained fragment:
    /// every element declares its own namespace, so the value can be stored and replayed
    /// under any prefix bindings.
    pub fn inner_xml(&self) -> String {
        let mut out = escape_text(&self.text);
        for c in &self.children {
            c.write_standalone(&mut out);
        }
        out
    }

    fn write_standalone(&self, out: &mut String) {
        let attrs: String = self
            .attrs
            .iter()
            .filter(|(k, _)| !k.starts_with("xmlns"))
            .map(|(k, v)| format!(" {}=\"{}\"", k.rsplit('}').next().unwrap_or(k), escape(v)))
            .collect();
        if self.ns.is_empty() {
            out.push_str(&format!("<{}{attrs}>", self.name));
        } else {
            out.push_str(&format!(
                "<x:{} xmlns:x=\"{}\"{attrs}>",
                self.name,
                escape(&self.ns)
            ));
        }
        out.push_str(&escape_text(&self.text));
        for c in &self.children {
            c.write_standalone(out);
        }
        if self.ns.is_empty() {
            out.push_str(&format!("</{}>", self.name));
        } else {
            out.push_str(&format!("</x:{}>", self.name));
        }
    }
}

fn escape_text(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Parses a (size-bounded) request body into an element tree. DOCTYPEs are refused outright:
/// DAV bodies never need one, and refusing them rules out entity-expansion bombs.
pub fn parse(body: &[u8]) -> Result<El, String> {
    let text = std::str::from_utf8(body).map_err(|_| "the XML body is not UTF-8".to_string())?;
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<El> = Vec::new();
    let mut root: Option<El> = None;
    loop {
        let (ns, ev) = reader
            .read_resolved_event()
            .map_err(|e| format!("malformed XML: {e}"))?;
        match ev {
            Event::Start(ref e) | Event::Empty(ref e) => {
                if stack.len() >= MAX_DEPTH {
                    return Err("the XML body is nested too deeply".into());
                }
                let ns = match ns {
                    ResolveResult::Bound(n) => String::from_utf8_lossy(n.as_ref()).into_owned(),
                    ResolveResult::Unbound => String::new(),
                    ResolveResult::Unknown(p) => {
                        return Err(format!(
                            "undeclared namespace prefix {:?}",
                            String::from_utf8_lossy(&p)
                        ));
                    }
                };
                let mut el = El {
                    ns,
                    name: String::from_utf8_lossy(e.local_name().as_ref()).into_owned(),
                    ..El::default()
                };
                for a in e.attributes() {
                    let a = a.map_err(|e| format!("malformed XML attribute: {e}"))?;
                    let v = a
                        .unescape_value()
                        .map_err(|e| format!("malformed XML attribute: {e}"))?;
                    el.attrs.push((
                        String::from_utf8_lossy(a.key.as_ref()).into_owned(),
                        v.into_owned(),
                    ));
                }
                if matches!(ev, Event::Empty(_)) {
                    match stack.last_mut() {
                        Some(p) => p.children.push(el),
                        None => {
                            root = Some(el);
                        }
                    }
                } else {
                    stack.push(el);
                }
            }
            Event::End(_) => {
                let el = stack.pop().ok_or("unbalanced XML")?;
                match stack.last_mut() {
                    Some(p) => p.children.push(el),
                    None => root = Some(el),
                }
            }
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    let s = t.decode().map_err(|e| format!("malformed XML text: {e}"))?;
                    top.text.push_str(&s);
                }
            }
            Event::GeneralRef(r) => {
                // Only the five predefined entities and character references exist without a
                // DTD; anything else is an error, never an expansion.
                let c = match r
                    .resolve_char_ref()
                    .map_err(|e| format!("malformed character reference: {e}"))?
                {
                    Some(c) => c,
                    None => match r
                        .decode()
                        .map_err(|e| format!("malformed entity: {e}"))?
                        .as_ref()
                    {
                        "lt" => '<',
                        "gt" => '>',
                        "amp" => '&',
                        "apos" => '\'',
                        "quot" => '"',
                        other => return Err(format!("unknown entity &{other};")),
                    },
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push(c);
                }
            }
            Event::CData(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&String::from_utf8_lossy(&t));
                }
            }
            Event::DocType(_) => return Err("DOCTYPE declarations are not accepted".into()),
            Event::Eof => break,
            _ => {}
        }
    }
    if !stack.is_empty() {
        return Err("the XML body ends early".into());
    }
    root.ok_or_else(|| "the XML body is empty".into())
}

/// `{ns}local` → the element name to write: fixed prefixes for our namespaces, otherwise an
/// inline declaration.
pub fn open_tag(clark: &str) -> (String, String) {
    let (ns, local) = split_clark(clark);
    match ns {
        NS_DAV => (format!("d:{local}"), String::new()),
        NS_OC => (format!("oc:{local}"), String::new()),
        NS_NC => (format!("nc:{local}"), String::new()),
        "" => (local.to_owned(), " xmlns=\"\"".to_owned()),
        other => (
            format!("x:{local}"),
            format!(" xmlns:x=\"{}\"", escape(other)),
        ),
    }
}

pub fn split_clark(clark: &str) -> (&str, &str) {
    match clark.strip_prefix('{').and_then(|r| r.split_once('}')) {
        Some((ns, local)) => (ns, local),
        None => ("", clark),
    }
}

/// Percent-encodes each path segment (keeping `/`), as Nextcloud clients expect hrefs.
const PATH_SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

pub fn encode_path(path: &str) -> String {
    percent_encoding::utf8_percent_encode(path, PATH_SET).to_string()
}

/// Appends `path` percent-encoded as `encode_path` does.
pub fn push_encoded_path(out: &mut String, path: &str) {
    for part in percent_encoding::utf8_percent_encode(path, PATH_SET) {
        out.push_str(part);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_namespaces_and_refuses_doctype() {
        let el = parse(br#"<?xml version="1.0"?><d:propfind xmlns:d="DAV:" xmlns:oc="http://owncloud.org/ns"><d:prop><oc:fileid/><x xmlns="urn:a">v</x></d:prop></d:propfind>"#).unwrap();
        assert!(el.is(NS_DAV, "propfind"));
        let prop = el.child(NS_DAV, "prop").unwrap();
        assert_eq!(prop.children[0].clark(), "{http://owncloud.org/ns}fileid");
        assert_eq!(prop.children[1].clark(), "{urn:a}x");
        let bomb = br#"<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;">]><d:propfind xmlns:d="DAV:">&lol2;</d:propfind>"#;
        assert!(parse(bomb).unwrap_err().contains("DOCTYPE"));
        assert!(parse(b"<a><b></a>").is_err());
        assert!(parse(b"<p:a/>").is_err());
    }

    #[test]
    fn encodes_hrefs() {
        assert_eq!(encode_path("/a b/#%?/ü"), "/a%20b/%23%25%3F/%C3%BC");
    }
}
