//! Query filters: CalDAV `calendar-query` (RFC 4791 §9.7) and CardDAV `addressbook-query`
//! (RFC 6352 §10.5), evaluated against a stored object.

use super::content::{self, Comp, Prop};
use super::ical::{self, Instance};

#[derive(Debug, Clone, Default)]
pub struct CompFilter {
    pub name: String,
    pub is_not_defined: bool,
    pub time_range: Option<TimeRange>,
    pub props: Vec<PropFilter>,
    pub comps: Vec<CompFilter>,
}

#[derive(Debug, Clone, Default)]
pub struct PropFilter {
    pub name: String,
    pub is_not_defined: bool,
    /// CardDAV's `test="allof"`; CalDAV prop-filters always combine with "all of".
    pub all_of: bool,
    pub time_range: Option<TimeRange>,
    pub text: Vec<TextMatch>,
    pub params: Vec<ParamFilter>,
}

#[derive(Debug, Clone, Default)]
pub struct ParamFilter {
    pub name: String,
    pub is_not_defined: bool,
    pub text: Option<TextMatch>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeRange {
    pub start: i64,
    pub end: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MatchType {
    Equals,
    #[default]
    Contains,
    StartsWith,
    EndsWith,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Collation {
    /// `i;octet`.
    Octet,
    /// `i;ascii-casemap` and `i;unicode-casemap` (compared with Unicode lower-casing).
    #[default]
    CaseMap,
}

#[derive(Debug, Clone, Default)]
pub struct TextMatch {
    pub value: String,
    pub negate: bool,
    pub collation: Collation,
    pub match_type: MatchType,
    /// The value case-folded, computed once per query rather than once per object.
    pub folded: std::sync::OnceLock<String>,
}

impl TextMatch {
    pub fn matches(&self, text: &str) -> bool {
        let hit = match self.collation {
            Collation::Octet => compare(text, &self.value, self.match_type),
            Collation::CaseMap => {
                let needle = self.folded.get_or_init(|| self.value.to_lowercase());
                if text.is_ascii() && needle.is_ascii() {
                    compare_ascii_folded(text.as_bytes(), needle.as_bytes(), self.match_type)
                } else {
                    compare(&text.to_lowercase(), needle, self.match_type)
                }
            }
        };
        hit != self.negate
    }
}

fn compare(text: &str, needle: &str, how: MatchType) -> bool {
    match how {
        MatchType::Equals => text == needle,
        MatchType::Contains => text.contains(needle),
        MatchType::StartsWith => text.starts_with(needle),
        MatchType::EndsWith => text.ends_with(needle),
    }
}

/// `compare` for ASCII text against an already lower-cased ASCII needle, folding the text
/// as it goes instead of copying it (a contact search compares thousands of short values).
fn compare_ascii_folded(text: &[u8], needle: &[u8], how: MatchType) -> bool {
    let eq = |a: &[u8]| {
        a.iter()
            .zip(needle)
            .all(|(x, y)| x.to_ascii_lowercase() == *y)
    };
    if needle.len() > text.len() {
        return false;
    }
    match how {
        MatchType::Equals => text.len() == needle.len() && eq(text),
        MatchType::StartsWith => eq(&text[..needle.len()]),
        MatchType::EndsWith => eq(&text[text.len() - needle.len()..]),
        MatchType::Contains => text.windows(needle.len().max(1)).any(eq) || needle.is_empty(),
    }
}

/// A CardDAV filter: prop-filters combined with "any of" (the default) or "all of".
#[derive(Debug, Clone, Default)]
pub struct CardFilter {
    pub all_of: bool,
    pub props: Vec<PropFilter>,
}

impl CompFilter {
    /// The time range of the top event/task filter, if it is the only condition that needs a
    /// parse: then the stored span decides non-recurring objects on its own.
    pub fn simple_time_range(&self) -> Option<(TimeRange, bool)> {
        if !self.props.is_empty() || self.is_not_defined || self.time_range.is_some() {
            return None;
        }
        match self.comps.as_slice() {
            [c] if c.props.is_empty() && c.comps.is_empty() && !c.is_not_defined => {
                c.time_range.map(|t| (t, true))
            }
            _ => None,
        }
    }

    /// The range any matching object must overlap, for a first cut on stored spans.
    pub fn outer_time_range(&self) -> Option<TimeRange> {
        self.comps
            .iter()
            .find_map(|c| c.time_range.filter(|_| !c.is_not_defined))
    }
}

/// Evaluates a calendar-query filter against an object's text.
pub fn calendar_matches(text: &str, filter: &CompFilter) -> bool {
    let Ok(root) = content::parse(text) else {
        return false;
    };
    let mut inst: Option<Vec<Instance>> = None;
    let mut instances = || -> Vec<Instance> {
        inst.get_or_insert_with(|| {
            ical::parse_for_expansion(text)
                .map(|c| ical::instances(&c))
                .unwrap_or_default()
        })
        .clone()
    };
    if !root.name.eq_ignore_ascii_case(&filter.name) {
        return filter.is_not_defined;
    }
    if filter.is_not_defined {
        return false;
    }
    comp_matches(&root, filter, &mut instances)
}

fn comp_matches(comp: &Comp, f: &CompFilter, instances: &mut dyn FnMut() -> Vec<Instance>) -> bool {
    if let Some(tr) = f.time_range {
        let kind = ical::Comp::from_name(&comp.name);
        let all = instances();
        let mine: Vec<&Instance> = all.iter().filter(|i| i.component == kind).collect();
        let hit = if mine.is_empty() {
            // A task with no dates at all matches every range (RFC 4791 §9.9).
            kind == ical::Comp::Todo
        } else {
            mine.iter()
                .any(|i| ical::overlaps(i.start, i.end, tr.start, tr.end))
        };
        if !hit {
            return false;
        }
    }
    for pf in &f.props {
        if !prop_filter_matches(comp, pf) {
            return false;
        }
    }
    for cf in &f.comps {
        if let (true, Some(tr)) = (cf.name.eq_ignore_ascii_case("VALARM"), cf.time_range) {
            // Alarm time ranges test trigger times, computed from the parent's instances.
            let kind = ical::Comp::from_name(&comp.name);
            let parent: Vec<(i64, i64)> = instances()
                .iter()
                .filter(|i| i.component == kind)
                .map(|i| (i.start, i.end))
                .collect();
            let rest = CompFilter {
                time_range: None,
                ..cf.clone()
            };
            let hit = comp
                .children
                .iter()
                .filter(|c| c.name.eq_ignore_ascii_case("VALARM"))
                .any(|a| {
                    super::expand::alarm_in_range(a, &parent, tr.start, tr.end)
                        && comp_matches(a, &rest, instances)
                });
            if !hit {
                return false;
            }
            continue;
        }
        let mut named = comp
            .children
            .iter()
            .filter(|c| c.name.eq_ignore_ascii_case(&cf.name))
            .peekable();
        if cf.is_not_defined {
            if named.peek().is_some() {
                return false;
            }
            continue;
        }
        if !named.any(|c| comp_matches(c, cf, instances)) {
            return false;
        }
    }
    true
}

fn prop_filter_matches(comp: &Comp, pf: &PropFilter) -> bool {
    let name = pf.name.to_ascii_uppercase();
    let mut props = comp.props_named(&name).peekable();
    if pf.is_not_defined {
        return props.peek().is_none();
    }
    props.any(|p| prop_matches(p, pf))
}

fn prop_matches(p: &Prop, pf: &PropFilter) -> bool {
    let text = p.text();
    let mut results = pf
        .text
        .iter()
        .map(|t| t.matches(&text))
        .chain(pf.params.iter().map(|pa| param_matches(p, pa)));
    if pf.all_of {
        results.all(|r| r)
    } else {
        let v: Vec<bool> = results.collect();
        v.is_empty() || v.into_iter().any(|r| r)
    }
}

fn param_matches(p: &Prop, pa: &ParamFilter) -> bool {
    let name = pa.name.to_ascii_uppercase();
    let mut values = p.params.iter().filter(|(k, _)| *k == name).peekable();
    if pa.is_not_defined {
        return values.peek().is_none();
    }
    match &pa.text {
        None => values.peek().is_some(),
        // TYPE=work,home: each comma-separated value is tested on its own.
        Some(t) => values.any(|(_, v)| v.split(',').any(|one| t.matches(one))),
    }
}

impl CardFilter {
    /// Whether the card search table can answer this filter (indexed properties only, no
    /// parameter filters); otherwise every card is parsed.
    pub fn uses_index_only(&self) -> bool {
        self.props.iter().all(|pf| {
            pf.params.is_empty()
                && pf.time_range.is_none()
                && super::CARD_INDEX.contains(&pf.name.to_ascii_uppercase().as_str())
        })
    }
}

/// Evaluates an addressbook-query filter on a card's packed search entry (see
/// [`CardFilter::uses_index_only`]), without building anything per card.
pub fn card_matches_packed(packed: &[u8], filter: &CardFilter) -> bool {
    if filter.props.is_empty() {
        return true;
    }
    let one = |pf: &PropFilter| {
        let mut values = super::vcard::unpack(packed)
            .filter(|(n, _)| n.eq_ignore_ascii_case(&pf.name))
            .map(|(_, v)| v)
            .peekable();
        if pf.is_not_defined {
            return values.peek().is_none();
        }
        values.any(|v| {
            let text = unescape(v);
            if pf.text.is_empty() {
                true
            } else if pf.all_of {
                pf.text.iter().all(|t| t.matches(&text))
            } else {
                pf.text.iter().any(|t| t.matches(&text))
            }
        })
    };
    if filter.all_of {
        filter.props.iter().all(one)
    } else {
        filter.props.iter().any(one)
    }
}

/// TEXT escapes undone, without allocating when there are none.
fn unescape(v: &str) -> std::borrow::Cow<'_, str> {
    if v.contains('\\') {
        std::borrow::Cow::Owned(
            Prop {
                name: String::new(),
                params: Vec::new(),
                value: v.to_owned(),
            }
            .text(),
        )
    } else {
        std::borrow::Cow::Borrowed(v)
    }
}

/// Evaluates an addressbook-query filter against a vCard's text.
pub fn card_matches(text: &str, filter: &CardFilter) -> bool {
    let Ok(card) = content::parse(text) else {
        return false;
    };
    if filter.props.is_empty() {
        return true;
    }
    let mut results = filter.props.iter().map(|pf| prop_filter_matches(&card, pf));
    if filter.all_of {
        results.all(|r| r)
    } else {
        results.any(|r| r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TODO: &str = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VTODO\r\nUID:t1\r\nSUMMARY:Buy milk\r\nDUE:20260110T100000Z\r\nSTATUS:NEEDS-ACTION\r\nEND:VTODO\r\nEND:VCALENDAR\r\n";

    fn todo_filter() -> CompFilter {
        CompFilter {
            name: "VCALENDAR".into(),
            comps: vec![CompFilter {
                name: "VTODO".into(),
                props: vec![
                    PropFilter {
                        name: "COMPLETED".into(),
                        is_not_defined: true,
                        all_of: true,
                        ..PropFilter::default()
                    },
                    PropFilter {
                        name: "STATUS".into(),
                        all_of: true,
                        text: vec![TextMatch {
                            value: "COMPLETED".into(),
                            negate: true,
                            ..TextMatch::default()
                        }],
                        ..PropFilter::default()
                    },
                ],
                ..CompFilter::default()
            }],
            ..CompFilter::default()
        }
    }

    #[test]
    fn pending_tasks_filter() {
        assert!(calendar_matches(TODO, &todo_filter()));
        let done = TODO.replace("NEEDS-ACTION", "COMPLETED");
        assert!(!calendar_matches(&done, &todo_filter()));
        let completed = TODO.replace("STATUS:NEEDS-ACTION", "COMPLETED:20260101T000000Z");
        assert!(!calendar_matches(&completed, &todo_filter()));
    }

    #[test]
    fn time_ranges() {
        let mut f = CompFilter {
            name: "VCALENDAR".into(),
            comps: vec![CompFilter {
                name: "VTODO".into(),
                time_range: Some(TimeRange {
                    start: 1_767_225_600, // 2026-01-01
                    end: 1_769_904_000,   // 2026-02-01
                }),
                ..CompFilter::default()
            }],
            ..CompFilter::default()
        };
        assert!(calendar_matches(TODO, &f));
        f.comps[0].time_range = Some(TimeRange {
            start: 1_769_904_000,
            end: 1_772_323_200,
        });
        assert!(!calendar_matches(TODO, &f));
    }

    #[test]
    fn ascii_folding_agrees_with_lowercasing() {
        let texts = [
            "",
            "a",
            "Smith",
            "John SMITH-Jones",
            "smit",
            "xSMITHx",
            "Ölaf Smith",
        ];
        let needles = ["", "smith", "SMITH", "jones", "john smith", "x"];
        for how in [
            MatchType::Equals,
            MatchType::Contains,
            MatchType::StartsWith,
            MatchType::EndsWith,
        ] {
            for t in texts {
                for n in needles {
                    let m = TextMatch {
                        value: n.into(),
                        match_type: how,
                        collation: Collation::CaseMap,
                        ..TextMatch::default()
                    };
                    let want = compare(&t.to_lowercase(), &n.to_lowercase(), how);
                    assert_eq!(m.matches(t), want, "{how:?} {t:?} {n:?}");
                }
            }
        }
    }

    #[test]
    fn card_text_match() {
        let card = "BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Ann Example\r\nitem1.EMAIL;TYPE=work:ann@example.org\r\nEND:VCARD\r\n";
        let f = CardFilter {
            all_of: false,
            props: vec![PropFilter {
                name: "FN".into(),
                text: vec![TextMatch {
                    value: "ann".into(),
                    match_type: MatchType::StartsWith,
                    ..TextMatch::default()
                }],
                ..PropFilter::default()
            }],
        };
        assert!(card_matches(card, &f));
        let g = CardFilter {
            all_of: true,
            props: vec![PropFilter {
                name: "EMAIL".into(),
                params: vec![ParamFilter {
                    name: "TYPE".into(),
                    text: Some(TextMatch {
                        value: "home".into(),
                        match_type: MatchType::Equals,
                        ..TextMatch::default()
                    }),
                    ..ParamFilter::default()
                }],
                ..PropFilter::default()
            }],
        };
        assert!(!card_matches(card, &g));
    }
}
