//! iCalendar objects: validation on PUT (RFC 4791 §4.1 and §5.3.2.1) and the time span of
//! every instance, with recurrences expanded by `calcard`.

use calcard::common::timezone::Tz;
use calcard::icalendar::{ICalendar, ICalendarComponentType, ICalendarProperty, ICalendarValue};

use super::{GroupwareError, Precondition};

/// Recurrence instances expanded per object at most. A daily event is followed for 54 years,
/// a weekly one for 380; beyond that the object counts as open-ended (it still matches every
/// later time range, so nothing is lost, only over-reported).
pub const EXPAND_LIMIT: usize = 20_000;

/// What the store keeps about a calendar object, read off its text once at PUT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Analysis {
    pub uid: String,
    pub component: String,
    pub start: i64,
    pub end: i64,
    pub recurring: bool,
}

/// Validates a calendar object resource and computes its span.
pub fn analyze(text: &str, allowed: &[String]) -> Result<Analysis, GroupwareError> {
    let invalid = |m: &str| GroupwareError::Invalid(Precondition::ValidCalendarData, m.to_owned());
    // The structure first (every BEGIN closed): calcard accepts a truncated document.
    super::content::parse(text)
        .map_err(|e| invalid(&format!("The data is not valid iCalendar (RFC 5545): {e}")))?;
    let cal = ICalendar::parse(text)
        .map_err(|_| invalid("The data is not valid iCalendar (RFC 5545)"))?;
    let root = cal
        .components
        .first()
        .filter(|c| c.component_type == ICalendarComponentType::VCalendar)
        .ok_or_else(|| invalid("The data must be one VCALENDAR"))?;
    let mut kind: Option<&ICalendarComponentType> = None;
    let mut uid: Option<&str> = None;
    let mut recurring = false;
    for &id in &root.component_ids {
        let Some(c) = cal.components.get(id as usize) else {
            continue;
        };
        match &c.component_type {
            ICalendarComponentType::VTimezone => continue,
            t @ (ICalendarComponentType::VEvent
            | ICalendarComponentType::VTodo
            | ICalendarComponentType::VJournal
            | ICalendarComponentType::VFreebusy) => {
                if kind.is_some_and(|k| k != t) {
                    return Err(GroupwareError::Invalid(
                        Precondition::ValidCalendarObjectResource,
                        "One calendar object holds one kind of component (VEVENT, VTODO or VJOURNAL)"
                            .into(),
                    ));
                }
                kind = Some(t);
                let this_uid = c.uid().ok_or_else(|| {
                    GroupwareError::Invalid(
                        Precondition::ValidCalendarObjectResource,
                        format!("Every {} needs a UID", t.as_str()),
                    )
                })?;
                if uid.is_some_and(|u| u != this_uid) {
                    return Err(GroupwareError::Invalid(
                        Precondition::ValidCalendarObjectResource,
                        "All components of one calendar object share one UID".into(),
                    ));
                }
                uid = Some(this_uid);
                if *t == ICalendarComponentType::VEvent {
                    let start = c
                        .property(&ICalendarProperty::Dtstart)
                        .and_then(|e| e.values.first())
                        .and_then(|v| v.as_partial_date_time())
                        .and_then(|d| d.to_date_time());
                    if start.is_none() {
                        return Err(GroupwareError::Invalid(
                            Precondition::ValidCalendarData,
                            "Every VEVENT needs a valid DTSTART".into(),
                        ));
                    }
                }
                recurring |=
                    c.is_recurrent_or_override() || c.property(&ICalendarProperty::Rdate).is_some();
            }
            other => {
                return Err(GroupwareError::Invalid(
                    Precondition::ValidCalendarObjectResource,
                    format!("{} cannot be stored in a calendar", other.as_str()),
                ));
            }
        }
    }
    let (Some(kind), Some(uid)) = (kind, uid) else {
        return Err(GroupwareError::Invalid(
            Precondition::ValidCalendarObjectResource,
            "The VCALENDAR holds no VEVENT, VTODO or VJOURNAL".into(),
        ));
    };
    let component = kind.as_str().to_owned();
    if !allowed.is_empty() && !allowed.iter().any(|a| a.eq_ignore_ascii_case(&component)) {
        return Err(GroupwareError::Invalid(
            Precondition::SupportedCalendarComponent,
            format!("This calendar does not take {component}"),
        ));
    }
    let (start, end) = match parse_for_expansion(text) {
        Some(c) => span(&c, recurring),
        None => span(&cal, recurring),
    };
    Ok(Analysis {
        uid: uid.to_owned(),
        component,
        start,
        end,
        recurring,
    })
}

/// The UTC span of every instance; open-ended (`i64::MAX`) when a rule has no end or runs
/// past the expansion limit, everything when the object has no dates at all (an undated task).
fn span(cal: &ICalendar, recurring: bool) -> (i64, i64) {
    let instances = instances(cal);
    if instances.is_empty() {
        return (i64::MIN, i64::MAX);
    }
    let start = instances.iter().map(|i| i.start).min().unwrap_or(i64::MIN);
    let mut end = instances.iter().map(|i| i.end).max().unwrap_or(i64::MAX);
    if recurring && (instances.len() >= EXPAND_LIMIT || has_endless_rule(cal)) {
        end = i64::MAX;
    }
    (start, end)
}

fn has_endless_rule(cal: &ICalendar) -> bool {
    cal.components.iter().any(|c| {
        c.entries.iter().any(|e| {
            e.name == ICalendarProperty::Rrule
                && matches!(e.values.first(), Some(ICalendarValue::RecurrenceRule(r)) if r.until.is_none() && r.count.is_none())
        })
    })
}

/// One expanded instance: which component type it belongs to and its UTC times.
#[derive(Debug, Clone, Copy)]
pub struct Instance {
    pub component: Comp,
    pub start: i64,
    pub end: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comp {
    Event,
    Todo,
    Journal,
    Other,
}

impl Comp {
    pub fn from_name(name: &str) -> Comp {
        match name.to_ascii_uppercase().as_str() {
            "VEVENT" => Comp::Event,
            "VTODO" => Comp::Todo,
            "VJOURNAL" => Comp::Journal,
            _ => Comp::Other,
        }
    }
}

/// Parses for expansion. SEQUENCE is dropped first: `calcard` pairs an override with its
/// master instance only when both carry the same SEQUENCE, while clients bump it on the
/// override alone (RFC 5545 §3.8.7.4), which would leave the overridden instance in place.
pub fn parse_for_expansion(text: &str) -> Option<ICalendar> {
    let mut cal = ICalendar::parse(text).ok()?;
    for c in &mut cal.components {
        c.entries.retain(|e| e.name != ICalendarProperty::Sequence);
    }
    Some(cal)
}

/// Expands an already parsed calendar into instances (bounded by [`EXPAND_LIMIT`]).
pub fn instances(cal: &ICalendar) -> Vec<Instance> {
    let expanded = cal.expand_dates(Tz::UTC, EXPAND_LIMIT);
    expanded
        .events
        .iter()
        .map(|ev| {
            let (start, end) = ev.timestamps();
            let component = match cal
                .components
                .get(ev.comp_id as usize)
                .map(|c| &c.component_type)
            {
                Some(ICalendarComponentType::VEvent) => Comp::Event,
                Some(ICalendarComponentType::VTodo) => Comp::Todo,
                Some(ICalendarComponentType::VJournal) => Comp::Journal,
                _ => Comp::Other,
            };
            Instance {
                component,
                start,
                end,
            }
        })
        .collect()
}

/// RFC 4791 §9.9: does an instance `[start, end)` overlap the range `[from, to)`?
pub fn overlaps(start: i64, end: i64, from: i64, to: i64) -> bool {
    if start == end {
        start >= from && start < to
    } else {
        start < to && end > from
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEKLY: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nBEGIN:VEVENT\r\nUID:w1\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\nDTEND:20260105T110000Z\r\nRRULE:FREQ=WEEKLY\r\nSUMMARY:Weekly\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";

    #[test]
    fn spans_and_validation() {
        let a = analyze(WEEKLY, &[]).unwrap();
        assert_eq!(a.uid, "w1");
        assert_eq!(a.component, "VEVENT");
        assert!(a.recurring);
        assert_eq!(a.start, 1_767_607_200);
        assert_eq!(a.end, i64::MAX);
        let once = WEEKLY.replace("RRULE:FREQ=WEEKLY\r\n", "");
        let b = analyze(&once, &[]).unwrap();
        assert_eq!(
            (b.start, b.end, b.recurring),
            (1_767_607_200, 1_767_610_800, false)
        );
        assert!(matches!(
            analyze(&once, &["VTODO".into()]),
            Err(GroupwareError::Invalid(
                Precondition::SupportedCalendarComponent,
                _
            ))
        ));
        assert!(analyze("BEGIN:VCALENDAR\r\nEND:VCALENDAR\r\n", &[]).is_err());
        assert!(analyze("garbage", &[]).is_err());
        let two = WEEKLY.replace(
            "END:VCALENDAR",
            "BEGIN:VEVENT\r\nUID:other\r\nDTSTART:20260105T100000Z\r\nEND:VEVENT\r\nEND:VCALENDAR",
        );
        assert!(analyze(&two, &[]).is_err());
        let counted = WEEKLY.replace("FREQ=WEEKLY", "FREQ=WEEKLY;COUNT=3");
        let c = analyze(&counted, &[]).unwrap();
        assert_eq!(c.end, 1_767_610_800 + 2 * 7 * 86_400);
    }

    #[test]
    fn endless_daily_rule_stays_bounded() {
        let daily = WEEKLY.replace("FREQ=WEEKLY", "FREQ=SECONDLY");
        let a = analyze(&daily, &[]).unwrap();
        assert_eq!(a.end, i64::MAX);
    }
}
