//! Importing a whole `.ics` (thousands of events) or `.vcf` (thousands of cards) into one
//! collection. The input is split line by line as it arrives (nothing holds the whole file):
//! each event or task becomes one calendar object (with the time zones it uses), each card
//! one vCard. Every item is reported: imported, updated, or skipped and why.

use std::collections::{BTreeMap, HashSet};

use serde::Serialize;

use super::{Collection, Conditions, Groupware, GroupwareError, Kind};

/// Time zones remembered from one file (a calendar export carries a handful).
const MAX_TIMEZONES: usize = 500;

/// One item cut out of the input, ready to store.
#[derive(Debug)]
pub struct Item {
    pub index: usize,
    pub uid: Option<String>,
    pub text: String,
}

/// Splits iCalendar or vCard text into items, one line at a time.
pub struct Splitter {
    kind: Kind,
    depth: usize,
    block: String,
    block_name: String,
    block_uid: Option<String>,
    /// Blocks of the current UID (an event and its overrides travel together).
    pending: Vec<String>,
    pending_uid: Option<String>,
    timezones: BTreeMap<String, String>,
    count: usize,
    too_big: bool,
    limit: usize,
}

fn value_of<'a>(line: &'a str, name: &str) -> Option<&'a str> {
    let upper = line.get(..name.len())?;
    if !upper.eq_ignore_ascii_case(name) {
        return None;
    }
    let rest = &line[name.len()..];
    if !(rest.starts_with(':') || rest.starts_with(';')) {
        return None;
    }
    rest.split_once(':').map(|(_, v)| v.trim())
}

impl Splitter {
    pub fn new(kind: Kind, limit: usize) -> Splitter {
        Splitter {
            kind,
            depth: 0,
            block: String::new(),
            block_name: String::new(),
            block_uid: None,
            pending: Vec::new(),
            pending_uid: None,
            timezones: BTreeMap::new(),
            count: 0,
            too_big: false,
            limit,
        }
    }

    /// Feeds one physical line (without its line break); returns items completed by it.
    pub fn push(&mut self, line: &str) -> Vec<Item> {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let mut out = Vec::new();
        let begin = value_of(line, "BEGIN");
        let end = value_of(line, "END");
        // Where a component sits: vCards at depth 1, calendar components at depth 2.
        let item_depth = if self.kind == Kind::Calendar { 2 } else { 1 };
        if begin.is_some() {
            self.depth += 1;
            if self.depth == item_depth {
                self.block.clear();
                self.block_uid = None;
                self.too_big = false;
                self.block_name = begin.unwrap_or_default().to_ascii_uppercase();
            }
        }
        if self.depth >= item_depth {
            if self.block.len() + line.len() > self.limit {
                self.too_big = true;
            } else {
                self.block.push_str(line);
                self.block.push_str("\r\n");
            }
            if self.depth == item_depth
                && self.block_uid.is_none()
                && let Some(uid) = value_of(line, "UID")
            {
                self.block_uid = Some(uid.to_owned());
            }
        }
        if end.is_some() {
            if self.depth == item_depth {
                let block = std::mem::take(&mut self.block);
                if self.block_name == "VTIMEZONE" {
                    if let Some(tzid) = block.lines().find_map(|l| value_of(l, "TZID"))
                        && self.timezones.len() < MAX_TIMEZONES
                    {
                        self.timezones.insert(tzid.to_owned(), block);
                    }
                } else {
                    let uid = self.block_uid.take();
                    if self.too_big {
                        self.count += 1;
                        out.extend(self.flush());
                        out.push(Item {
                            index: self.count,
                            uid,
                            text: String::new(),
                        });
                    } else {
                        if self.kind == Kind::Addressbook
                            || uid != self.pending_uid
                            || uid.is_none()
                        {
                            out.extend(self.flush());
                        }
                        self.pending_uid = uid;
                        self.pending.push(block);
                    }
                }
            }
            self.depth = self.depth.saturating_sub(1);
        }
        out
    }

    /// Ends the input; returns the last item.
    pub fn finish(&mut self) -> Vec<Item> {
        self.flush().into_iter().collect()
    }

    fn flush(&mut self) -> Option<Item> {
        if self.pending.is_empty() {
            return None;
        }
        self.count += 1;
        let blocks = std::mem::take(&mut self.pending);
        let uid = self.pending_uid.take();
        let text = match self.kind {
            Kind::Addressbook => blocks.concat(),
            Kind::Calendar => {
                let body = blocks.concat();
                let mut text = String::from(
                    "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Hearth//import//EN\r\n",
                );
                for (tzid, tz) in &self.timezones {
                    if body.contains(&format!("TZID={tzid}"))
                        || body.contains(&format!("TZID=\"{tzid}\""))
                    {
                        text.push_str(tz);
                    }
                }
                text.push_str(&body);
                text.push_str("END:VCALENDAR\r\n");
                text
            }
        };
        Some(Item {
            index: self.count,
            uid,
            text,
        })
    }
}

#[derive(Debug, Default, Serialize)]
pub struct Report {
    pub imported: usize,
    pub updated: usize,
    pub skipped: Vec<Skipped>,
}

#[derive(Debug, Serialize)]
pub struct Skipped {
    pub item: usize,
    pub uid: Option<String>,
    pub reason: String,
}

/// An object name for a UID: the UID itself when it is a plain name, else its MD5.
fn name_for(uid: &str, ext: &str) -> String {
    let plain = !uid.is_empty()
        && uid.len() <= 200
        && uid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if plain {
        format!("{uid}.{ext}")
    } else {
        use md5::{Digest, Md5};
        let d = Md5::digest(uid.as_bytes());
        format!(
            "{}.{ext}",
            d.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    }
}

impl Groupware {
    /// Stores one imported item, updating an object with the same UID.
    pub fn import_item(
        &self,
        coll: &Collection,
        item: Item,
        seen: &mut HashSet<String>,
        report: &mut Report,
    ) {
        let skip = |report: &mut Report, reason: String| {
            report.skipped.push(Skipped {
                item: item.index,
                uid: item.uid.clone(),
                reason,
            })
        };
        if item.text.is_empty() {
            return skip(
                report,
                format!("larger than {} bytes", self.max_object_bytes),
            );
        }
        let ext = if coll.kind == Kind::Calendar {
            "ics"
        } else {
            "vcf"
        };
        let uid = item
            .uid
            .clone()
            .unwrap_or_else(|| format!("import-{:016x}", rand::random::<u64>()));
        if !seen.insert(uid.clone()) {
            return skip(
                report,
                "the UID appears twice in the file; the first one was kept".into(),
            );
        }
        let mut uri = name_for(&uid, ext);
        for _ in 0..2 {
            match self.put_object(coll, &uri, item.text.as_bytes(), &Conditions::default()) {
                Ok((true, _)) => {
                    report.imported += 1;
                    return;
                }
                Ok((false, _)) => {
                    report.updated += 1;
                    return;
                }
                // Already there under another name: update that one.
                Err(GroupwareError::UidConflict { uri: there, .. }) => uri = there,
                Err(e) => return skip(report, e.to_string()),
            }
        }
        skip(report, "could not be stored".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_events_with_their_time_zones_and_overrides() {
        let ics = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nBEGIN:STANDARD\r\nDTSTART:19701025T030000\r\nTZOFFSETFROM:+0200\r\nTZOFFSETTO:+0100\r\nEND:STANDARD\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:a\r\nDTSTART;TZID=Europe/Paris:20260105T100000\r\nRRULE:FREQ=WEEKLY\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:a\r\nRECURRENCE-ID;TZID=Europe/Paris:20260112T100000\r\nDTSTART;TZID=Europe/Paris:20260113T100000\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:b\r\nDTSTART:20260105T100000Z\r\nBEGIN:VALARM\r\nUID:alarm-uid\r\nEND:VALARM\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let mut s = Splitter::new(Kind::Calendar, 1 << 20);
        let mut items: Vec<Item> = ics.split('\n').flat_map(|l| s.push(l)).collect();
        items.extend(s.finish());
        assert_eq!(items.len(), 2);
        assert_eq!(items[0].uid.as_deref(), Some("a"));
        assert_eq!(items[0].text.matches("BEGIN:VEVENT").count(), 2);
        assert!(items[0].text.contains("BEGIN:VTIMEZONE"));
        assert_eq!(items[1].uid.as_deref(), Some("b"));
        assert!(!items[1].text.contains("VTIMEZONE"));
        let vcf =
            "BEGIN:VCARD\r\nUID:1\r\nFN:A\r\nEND:VCARD\r\nBEGIN:VCARD\r\nFN:B\r\nEND:VCARD\r\n";
        let mut s = Splitter::new(Kind::Addressbook, 1 << 20);
        let mut items: Vec<Item> = vcf.split('\n').flat_map(|l| s.push(l)).collect();
        items.extend(s.finish());
        assert_eq!(items.len(), 2);
        assert_eq!(items[1].uid, None);
        assert_eq!(name_for("a/b", "ics").len(), 36);
    }
}
