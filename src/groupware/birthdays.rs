//! The birthday calendar: one read-only calendar per user (`contact_birthdays`, as in
//! Nextcloud), with a yearly all-day event for every contact with a BDAY, kept in step with
//! the address books: a card stored, changed or deleted updates its event in the same call.

use super::content;
use super::{Collection, Conditions, Groupware, GroupwareError, Kind, Result};

pub const BIRTHDAYS: &str = "contact_birthdays";

/// `1985-04-12`, `19850412`, `--0412`, `--04-12`, `1985-04-12T00:00:00Z` → (year, month, day);
/// a missing year is `None`.
fn parse_bday(v: &str) -> Option<(Option<u32>, u32, u32)> {
    let v = v.trim();
    let date = v.split('T').next()?;
    let (year, rest) = match date.strip_prefix("--") {
        Some(r) => (None, r.replace('-', "")),
        None => {
            let digits = date.replace('-', "");
            if digits.len() != 8 {
                return None;
            }
            (Some(digits[..4].parse().ok()?), digits[4..].to_owned())
        }
    };
    if rest.len() != 4 || !rest.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (m, d) = (rest[..2].parse().ok()?, rest[2..].parse().ok()?);
    ((1..=12).contains(&m) && (1..=31).contains(&d)).then_some((year, m, d))
}

fn event_name(book: &Collection, card_uri: &str) -> String {
    let stem: String = card_uri
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    format!("{:x}-{stem}.ics", book.id)
}

/// The yearly event for a card, if it has a birthday.
fn birthday_event(book: &Collection, card_uri: &str, card: &str) -> Option<String> {
    let root = content::parse(card).ok()?;
    let bday = root.props_named("BDAY").next()?;
    let (year, m, d) = parse_bday(&bday.value)?;
    let name = root
        .props_named("FN")
        .next()
        .map(|p| p.text())
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "Someone".into());
    // Without a year the series starts in 1970. (A 29 February birthday recurs in leap
    // years only, as RFC 5545 defines a yearly rule on an invalid date.)
    let y = year.unwrap_or(1970);
    let summary = match year {
        Some(y) => format!("{name} ({y})"),
        None => name,
    };
    let esc = summary
        .replace('\\', "\\\\")
        .replace(';', "\\;")
        .replace(',', "\\,")
        .replace('\n', "\\n");
    let next = {
        // The day after, for DTEND (all-day events end exclusive).
        let days_in = |m: u32| match m {
            2 => 29,
            4 | 6 | 9 | 11 => 30,
            _ => 31,
        };
        if d < days_in(m) {
            (y, m, d + 1)
        } else if m < 12 {
            (y, m + 1, 1)
        } else {
            (y + 1, 1, 1)
        }
    };
    Some(format!(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Hearth//birthdays//EN\r\nBEGIN:VEVENT\r\nUID:birthday-{:x}-{}\r\nDTSTAMP:19700101T000000Z\r\nDTSTART;VALUE=DATE:{y:04}{m:02}{d:02}\r\nDTEND;VALUE=DATE:{:04}{:02}{:02}\r\nRRULE:FREQ=YEARLY\r\nSUMMARY:🎂 {esc}\r\nTRANSP:TRANSPARENT\r\nCLASS:PUBLIC\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n",
        book.id,
        card_uri.replace(['\r', '\n'], ""),
        next.0,
        next.1,
        next.2
    ))
}

impl Groupware {
    /// The user's birthday calendar, made (and filled from every address book) on first use.
    fn birthday_calendar(&self, owner: &str) -> Result<Collection> {
        match self.collection(owner, Kind::Calendar, BIRTHDAYS) {
            Err(GroupwareError::NotFound) => {}
            other => return other,
        }
        let cal = match self.create_collection(owner, Kind::Calendar, BIRTHDAYS, |c| {
            c.displayname = "Contact birthdays".into();
            c.color = "#E9D859".into();
            c.components = vec!["VEVENT".into()];
            c.generated = true;
        }) {
            Err(GroupwareError::AlreadyExists) => {
                return self.collection(owner, Kind::Calendar, BIRTHDAYS);
            }
            other => other?,
        };
        for book in self.collections(owner, Kind::Addressbook)? {
            self.for_each_object(book.id, |uri, _| {
                if let Some(d) = self.object_data(book.id, uri)? {
                    self.write_birthday(&cal, &book, uri, Some(&String::from_utf8_lossy(&d)))?;
                }
                Ok(true)
            })?;
        }
        Ok(cal)
    }

    fn write_birthday(
        &self,
        cal: &Collection,
        book: &Collection,
        card_uri: &str,
        card: Option<&str>,
    ) -> Result<()> {
        let name = event_name(book, card_uri);
        match card.and_then(|c| birthday_event(book, card_uri, c)) {
            Some(ev) => {
                self.put_object(cal, &name, ev.as_bytes(), &Conditions::default())?;
            }
            None => match self.delete_object(cal, &name, &Conditions::default()) {
                Ok(()) | Err(GroupwareError::NotFound) => {}
                Err(e) => return Err(e),
            },
        }
        Ok(())
    }

    /// Keeps the birthday calendar in step with a card that was stored (`Some`) or deleted.
    pub(super) fn card_changed(&self, book: &Collection, card_uri: &str, card: Option<&str>) {
        let r = self
            .birthday_calendar(&book.owner)
            .and_then(|cal| self.write_birthday(&cal, book, card_uri, card));
        if let Err(e) = r {
            tracing::warn!(error = %e, owner = %book.owner, "birthday calendar not updated");
        }
    }

    /// Drops the birthdays of a deleted address book.
    pub(super) fn book_deleted(&self, book: &Collection) {
        let Ok(cal) = self.collection(&book.owner, Kind::Calendar, BIRTHDAYS) else {
            return;
        };
        let prefix = format!("{:x}-", book.id);
        let mut doomed = Vec::new();
        let _ = self.for_each_object(cal.id, |u, _| {
            if u.starts_with(&prefix) {
                doomed.push(u.to_owned());
            }
            Ok(true)
        });
        for u in doomed {
            let _ = self.delete_object(&cal, &u, &Conditions::default());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn birthdays_parse() {
        assert_eq!(parse_bday("1985-04-12"), Some((Some(1985), 4, 12)));
        assert_eq!(parse_bday("19850412"), Some((Some(1985), 4, 12)));
        assert_eq!(parse_bday("--0412"), Some((None, 4, 12)));
        assert_eq!(parse_bday("--04-12"), Some((None, 4, 12)));
        assert_eq!(parse_bday("1985-13-12"), None);
        assert_eq!(parse_bday("soon"), None);
    }
}
