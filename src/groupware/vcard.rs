//! vCards: validation on PUT (RFC 6352 §6.3.2.1).

use calcard::vcard::VCard;

use super::{GroupwareError, Precondition};

/// Checks that `text` is one vCard and returns its UID, if it has one (vCard 3.0 does not
/// require it; the object's name stands in then).
pub fn analyze(text: &str) -> Result<Option<String>, GroupwareError> {
    let invalid = |m: &str| GroupwareError::Invalid(Precondition::ValidAddressData, m.to_owned());
    super::content::parse(text)
        .map_err(|e| invalid(&format!("The data is not a valid vCard: {e}")))?;
    let card = VCard::parse(text).map_err(|_| invalid("The data is not a valid vCard"))?;
    // One card per resource: anything after END:VCARD other than blank lines is refused.
    let end = text
        .to_ascii_uppercase()
        .rfind("END:VCARD")
        .ok_or_else(|| invalid("The vCard has no END:VCARD line"))?;
    let rest = &text[end + "END:VCARD".len()..];
    if rest.to_ascii_uppercase().contains("BEGIN:VCARD")
        || text.to_ascii_uppercase().matches("BEGIN:VCARD").count() > 1
    {
        return Err(invalid("Store one vCard per resource"));
    }
    Ok(card.uid().map(str::to_owned).filter(|u| !u.is_empty()))
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_card_with_uid() {
        let c = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:Ann\r\nEND:VCARD\r\n";
        assert_eq!(super::analyze(c).unwrap().as_deref(), Some("u1"));
        assert!(super::analyze(&format!("{c}{c}")).is_err());
        assert!(super::analyze("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n").is_err());
    }
}

pub use super::model::packed_index;

/// The (name, raw value) pairs of a packed index.
pub fn unpack(packed: &[u8]) -> impl Iterator<Item = (&str, &str)> {
    packed.split(|&b| b == 0x1e).filter_map(|entry| {
        let i = entry.iter().position(|&b| b == 0x1f)?;
        Some((
            std::str::from_utf8(&entry[..i]).ok()?,
            std::str::from_utf8(&entry[i + 1..]).ok()?,
        ))
    })
}

/// The card in the requested vCard version (`"3.0"` or `"4.0"`), or `None` when it is stored
/// in that version already (then it is served exactly as sent).
pub fn convert(text: &str, version: &str) -> Option<String> {
    use calcard::vcard::VCardVersion;
    let want = match version.trim() {
        "3.0" => VCardVersion::V3_0,
        "4.0" => VCardVersion::V4_0,
        _ => return None,
    };
    let card = VCard::parse(text).ok()?;
    if card.version().unwrap_or(VCardVersion::V3_0) == want {
        return None;
    }
    let mut out = String::with_capacity(text.len() + 64);
    card.write_to(&mut out, want).ok()?;
    Some(out)
}

#[cfg(test)]
mod convert_tests {
    #[test]
    fn three_to_four_and_back() {
        let v3 = "BEGIN:VCARD\r\nVERSION:3.0\r\nUID:u1\r\nFN:Ann\r\nN:Ann;;;;\r\nEND:VCARD\r\n";
        let v4 = super::convert(v3, "4.0").unwrap();
        assert!(v4.contains("VERSION:4.0") && v4.contains("FN:Ann"), "{v4}");
        assert!(super::convert(v3, "3.0").is_none());
        assert!(super::convert(&v4, "3.0").unwrap().contains("VERSION:3.0"));
    }
}
