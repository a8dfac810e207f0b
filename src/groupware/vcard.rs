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
