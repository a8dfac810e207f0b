//! A whole calendar as one `.ics` (each time zone once) or a whole address book as one
//! `.vcf`, produced a page of objects at a time: for `?export` over DAV and for
//! `hearth export` on a PC.

use std::collections::HashSet;

use super::{Collection, Groupware, Kind};

const PAGE: usize = 256;

impl Groupware {
    /// Hands the export of `c` to `emit` in pieces; stops early when `emit` returns false.
    pub fn export(&self, c: &Collection, mut emit: impl FnMut(String) -> bool) {
        let cal = c.kind == Kind::Calendar;
        if cal {
            let head = format!(
                "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Hearth//Hearth {}//EN\r\nCALSCALE:GREGORIAN\r\nX-WR-CALNAME:{}\r\n",
                env!("CARGO_PKG_VERSION"),
                c.displayname.replace(['\r', '\n'], " ")
            );
            if !emit(head) {
                return;
            }
        }
        let mut tzids = HashSet::new();
        let mut after: Option<String> = None;
        loop {
            let Ok(page) = self.objects(c.id, after.as_deref(), PAGE) else {
                break;
            };
            let Some((last, _)) = page.last() else { break };
            after = Some(last.clone());
            let mut chunk = String::new();
            for (uri, _) in &page {
                let Ok(Some(d)) = self.object_data(c.id, uri) else {
                    continue;
                };
                let text = String::from_utf8_lossy(&d);
                if cal {
                    inner_components(&text, &mut tzids, &mut chunk);
                } else {
                    chunk.push_str(text.trim_end());
                    chunk.push_str("\r\n");
                }
            }
            if !emit(chunk) {
                return;
            }
            if page.len() < PAGE {
                break;
            }
        }
        if cal {
            emit("END:VCALENDAR\r\n".into());
        }
    }
}

/// Appends the components inside an object's VCALENDAR, skipping time zones already written.
fn inner_components(text: &str, tzids: &mut HashSet<String>, out: &mut String) {
    let mut depth = 0usize;
    let mut block = String::new();
    let mut block_tzid: Option<String> = None;
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let upper = line.to_ascii_uppercase();
        if upper.starts_with("BEGIN:") {
            depth += 1;
        }
        if depth >= 2 {
            block.push_str(line);
            block.push_str("\r\n");
            if depth == 2 && upper.starts_with("TZID") {
                block_tzid = line.split_once(':').map(|(_, v)| v.to_owned());
            }
        }
        if upper.starts_with("END:") {
            if depth == 2 {
                let is_tz = upper.starts_with("END:VTIMEZONE");
                let keep = !is_tz || block_tzid.as_ref().is_none_or(|t| tzids.insert(t.clone()));
                if keep {
                    out.push_str(&block);
                }
                block.clear();
                block_tzid = None;
            }
            depth = depth.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn export_keeps_each_time_zone_once() {
        let obj = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTIMEZONE\r\nTZID:Europe/Paris\r\nEND:VTIMEZONE\r\nBEGIN:VEVENT\r\nUID:1\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let mut seen = std::collections::HashSet::new();
        let mut out = String::new();
        super::inner_components(obj, &mut seen, &mut out);
        super::inner_components(obj, &mut seen, &mut out);
        assert_eq!(out.matches("BEGIN:VTIMEZONE").count(), 1);
        assert_eq!(out.matches("BEGIN:VEVENT").count(), 2);
        assert!(!out.contains("VERSION"));
    }
}
