//! Server-side recurrence expansion (`CALDAV:expand`, RFC 4791 §9.6.5), free-busy
//! computation (§7.10) and alarm trigger times (§9.9), on top of `calcard`'s expansion.

use calcard::common::timezone::Tz;

use super::content::{self, Comp, Prop, write_comp, write_prop};
use super::ical::{EXPAND_LIMIT, overlaps};

/// `20060104T000000Z` → Unix seconds (UTC only, as RFC 4791 requires for time-range).
pub fn parse_utc(s: &str) -> Option<i64> {
    let s = s.trim();
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| s.get(r)?.parse::<i64>().ok();
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    // Days from civil (Howard Hinnant's algorithm).
    let y = if mo <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (mo + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    Some(days * 86_400 + h * 3600 + mi * 60 + se)
}

/// Unix seconds → `YYYYMMDDTHHMMSSZ`.
pub fn utc_stamp(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn date_stamp(secs: i64) -> String {
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    format!("{y:04}{m:02}{d:02}")
}

/// Howard Hinnant's civil-from-days.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn preorder<'a>(c: &'a Comp, out: &mut Vec<&'a Comp>) {
    out.push(c);
    for ch in &c.children {
        preorder(ch, out);
    }
}

fn is_date_only(p: &Prop) -> bool {
    p.params
        .iter()
        .any(|(k, v)| k == "VALUE" && v.eq_ignore_ascii_case("DATE"))
        || (p.value.len() == 8 && p.value.bytes().all(|b| b.is_ascii_digit()))
}

/// The object with every instance overlapping `[from, to)` written out as its own
/// component (UTC times, `RECURRENCE-ID` on instances of a recurring set, no rules, no
/// time zones). `None` when the text cannot be read.
pub fn expand(text: &str, from: i64, to: i64) -> Option<String> {
    let cal = super::ical::parse_for_expansion(text)?;
    let root = content::parse(text).ok()?;
    let mut flat = Vec::new();
    preorder(&root, &mut flat);
    let recurring = flat.iter().any(|c| {
        c.props
            .iter()
            .any(|p| matches!(p.name.as_str(), "RRULE" | "RDATE" | "RECURRENCE-ID"))
    });
    let mut out = String::from("BEGIN:VCALENDAR\r\n");
    for p in &root.props {
        write_prop(&mut out, p);
    }
    let expanded = cal.expand_dates(Tz::UTC, EXPAND_LIMIT);
    for ev in &expanded.events {
        let (s, e) = ev.timestamps();
        if !overlaps(s, e, from, to) {
            continue;
        }
        let Some(comp) = flat.get(ev.comp_id as usize) else {
            continue;
        };
        let all_day = comp.props_named("DTSTART").next().is_some_and(is_date_only);
        let stamp = |t: i64| {
            if all_day {
                format!(";VALUE=DATE:{}", date_stamp(t))
            } else {
                format!(":{}", utc_stamp(t))
            }
        };
        out.push_str(&format!("BEGIN:{}\r\n", comp.name));
        let mut rid_written = false;
        for p in &comp.props {
            match p.name.as_str() {
                "DTSTART" | "DTEND" | "DURATION" | "RRULE" | "RDATE" | "EXDATE" | "EXRULE" => {}
                "RECURRENCE-ID" => {
                    write_prop(&mut out, p);
                    rid_written = true;
                }
                _ => write_prop(&mut out, p),
            }
        }
        out.push_str(&format!("DTSTART{}\r\n", stamp(s)));
        if e != s || comp.props_named("DTEND").next().is_some() {
            out.push_str(&format!("DTEND{}\r\n", stamp(e)));
        }
        if recurring && !rid_written {
            out.push_str(&format!("RECURRENCE-ID{}\r\n", stamp(s)));
        }
        for ch in &comp.children {
            write_comp(&mut out, ch);
        }
        out.push_str(&format!("END:{}\r\n", comp.name));
    }
    out.push_str("END:VCALENDAR\r\n");
    Some(out)
}

/// Busy periods of an object inside `[from, to)`: opaque, not cancelled events only.
pub fn busy_periods(text: &str, from: i64, to: i64, out: &mut Vec<(i64, i64)>) {
    let (Some(cal), Ok(root)) = (super::ical::parse_for_expansion(text), content::parse(text))
    else {
        return;
    };
    let mut flat = Vec::new();
    preorder(&root, &mut flat);
    for ev in &cal.expand_dates(Tz::UTC, EXPAND_LIMIT).events {
        let Some(comp) = flat.get(ev.comp_id as usize) else {
            continue;
        };
        if comp.name != "VEVENT" {
            continue;
        }
        let prop_is = |name: &str, value: &str| {
            comp.props_named(name)
                .any(|p| p.value.trim().eq_ignore_ascii_case(value))
        };
        if prop_is("TRANSP", "TRANSPARENT") || prop_is("STATUS", "CANCELLED") {
            continue;
        }
        let (s, e) = ev.timestamps();
        if s < to && e > from {
            out.push((s.max(from), e.min(to)));
        }
    }
}

/// One alarm to fire: when, and about which instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trigger {
    pub at: i64,
    pub summary: String,
    pub start: i64,
    /// `DISPLAY`, `EMAIL` or `AUDIO`.
    pub action: String,
}

/// The next `max` alarm triggers at or after `from` (DISPLAY, EMAIL and AUDIO alarms of
/// events and tasks, repeats included), earliest first.
pub fn triggers(text: &str, from: i64, max: usize) -> Vec<Trigger> {
    let (Some(cal), Ok(root)) = (super::ical::parse_for_expansion(text), content::parse(text))
    else {
        return Vec::new();
    };
    let mut flat = Vec::new();
    preorder(&root, &mut flat);
    if !flat.iter().any(|c| c.name == "VALARM") {
        return Vec::new();
    }
    let mut out = Vec::new();
    for ev in &cal.expand_dates(Tz::UTC, EXPAND_LIMIT).events {
        let Some(comp) = flat.get(ev.comp_id as usize) else {
            continue;
        };
        let (s, e) = ev.timestamps();
        let summary = comp
            .props_named("SUMMARY")
            .next()
            .map(|p| p.text())
            .unwrap_or_default();
        for alarm in comp.children.iter().filter(|c| c.name == "VALARM") {
            let action = alarm
                .props_named("ACTION")
                .next()
                .map(|p| p.value.trim().to_ascii_uppercase())
                .unwrap_or_else(|| "DISPLAY".into());
            for at in alarm_times(alarm, s, e) {
                if at >= from {
                    out.push(Trigger {
                        at,
                        summary: summary.clone(),
                        start: s,
                        action: action.clone(),
                    });
                }
            }
        }
        if out.len() > max * 4 {
            break;
        }
    }
    out.sort_by_key(|t| t.at);
    out.dedup();
    out.truncate(max);
    out
}

/// The trigger times of one alarm for an instance `[start, end)`.
fn alarm_times(alarm: &Comp, start: i64, end: i64) -> Vec<i64> {
    let Some(trigger) = alarm.props_named("TRIGGER").next() else {
        return Vec::new();
    };
    let repeat = alarm
        .props_named("REPEAT")
        .next()
        .and_then(|p| p.value.trim().parse::<i64>().ok())
        .unwrap_or(0)
        .clamp(0, 100);
    let every = alarm
        .props_named("DURATION")
        .next()
        .and_then(|p| parse_duration(&p.value))
        .unwrap_or(0);
    let absolute = trigger
        .params
        .iter()
        .any(|(k, v)| k == "VALUE" && v.eq_ignore_ascii_case("DATE-TIME"));
    let first = if absolute {
        parse_utc(&trigger.value)
    } else {
        let from_end = trigger
            .params
            .iter()
            .any(|(k, v)| k == "RELATED" && v.eq_ignore_ascii_case("END"));
        parse_duration(&trigger.value).map(|d| if from_end { end } else { start } + d)
    };
    first
        .map(|t| (0..=repeat).map(|k| t + k * every).collect())
        .unwrap_or_default()
}

/// Sorts and merges overlapping periods.
pub fn merge_periods(mut periods: Vec<(i64, i64)>) -> Vec<(i64, i64)> {
    periods.sort_unstable();
    let mut merged: Vec<(i64, i64)> = Vec::new();
    for (s, e) in periods {
        match merged.last_mut() {
            Some(last) if s <= last.1 => last.1 = last.1.max(e),
            _ => merged.push((s, e)),
        }
    }
    merged
}

/// `-PT15M`, `P1D`, `P2W`, … → seconds.
pub fn parse_duration(v: &str) -> Option<i64> {
    let v = v.trim();
    let (sign, rest) = match v.as_bytes().first()? {
        b'-' => (-1, &v[1..]),
        b'+' => (1, &v[1..]),
        _ => (1, v),
    };
    let rest = rest.strip_prefix('P')?;
    let mut total: i64 = 0;
    let mut num = String::new();
    let mut in_time = false;
    for c in rest.chars() {
        match c {
            'T' => in_time = true,
            '0'..='9' => num.push(c),
            unit => {
                let n: i64 = num.parse().ok()?;
                num.clear();
                total += n * match (unit, in_time) {
                    ('W', false) => 604_800,
                    ('D', false) => 86_400,
                    ('H', true) => 3600,
                    ('M', true) => 60,
                    ('S', true) => 1,
                    _ => return None,
                };
            }
        }
    }
    num.is_empty().then_some(sign * total)
}

/// Does any alarm of `parent` (a VEVENT/VTODO whose instances are `instances`) trigger
/// inside `[from, to)`?
pub fn alarm_in_range(alarm: &Comp, instances: &[(i64, i64)], from: i64, to: i64) -> bool {
    instances.iter().any(|&(s, e)| {
        alarm_times(alarm, s, e)
            .into_iter()
            .any(|t| overlaps(t, t, from, to))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stamps_and_durations() {
        assert_eq!(utc_stamp(1_767_607_200), "20260105T100000Z");
        assert_eq!(utc_stamp(0), "19700101T000000Z");
        assert_eq!(parse_duration("-PT15M"), Some(-900));
        assert_eq!(parse_duration("P1DT2H"), Some(93_600));
        assert_eq!(parse_duration("P2W"), Some(1_209_600));
        assert_eq!(parse_duration("PT"), Some(0));
        assert_eq!(parse_duration("15M"), None);
    }

    #[test]
    fn expands_a_weekly_event_with_an_exception() {
        let text = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:t\r\nBEGIN:VEVENT\r\nUID:w\r\nDTSTART:20260105T180000Z\r\nDTEND:20260105T190000Z\r\nRRULE:FREQ=WEEKLY;COUNT=4\r\nEXDATE:20260112T180000Z\r\nSUMMARY:Swim\r\nEND:VEVENT\r\nBEGIN:VEVENT\r\nUID:w\r\nRECURRENCE-ID:20260119T180000Z\r\nDTSTART:20260120T180000Z\r\nDTEND:20260120T190000Z\r\nSUMMARY:Swim (moved)\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n";
        let out = expand(text, 1_767_225_600, 1_769_904_000).unwrap();
        assert_eq!(out.matches("BEGIN:VEVENT").count(), 3, "{out}");
        assert!(!out.contains("RRULE"));
        assert!(out.contains("RECURRENCE-ID:20260105T180000Z"));
        assert!(out.contains("RECURRENCE-ID:20260119T180000Z\r\n"));
        assert!(out.contains("DTSTART:20260120T180000Z\r\n"));
        assert!(out.contains("SUMMARY:Swim (moved)"));
    }
}
