//! A small reader for the content-line format shared by iCalendar and vCard (RFC 5545 §3.1,
//! RFC 6350 §3.3): unfolded lines, grouped into nested components. Used to evaluate query
//! filters on stored objects; validation and recurrence expansion use `calcard`.

/// A component (`VCALENDAR`, `VEVENT`, `VCARD`, …) with its properties and sub-components.
#[derive(Debug, Default, Clone)]
pub struct Comp {
    pub name: String,
    pub props: Vec<Prop>,
    pub children: Vec<Comp>,
}

#[derive(Debug, Clone)]
pub struct Prop {
    /// Upper-cased, without a vCard group prefix (`item1.EMAIL` → `EMAIL`).
    pub name: String,
    /// Upper-cased names, values unquoted.
    pub params: Vec<(String, String)>,
    pub value: String,
}

impl Comp {
    pub fn props_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Prop> + 'a {
        self.props.iter().filter(move |p| p.name == name)
    }
}

impl Prop {
    /// The value with TEXT escapes (`\n`, `\,`, `\;`, `\\`) undone.
    pub fn text(&self) -> String {
        let mut out = String::with_capacity(self.value.len());
        let mut chars = self.value.chars();
        while let Some(c) = chars.next() {
            if c == '\\' {
                match chars.next() {
                    Some('n' | 'N') => out.push('\n'),
                    Some(o) => out.push(o),
                    None => {}
                }
            } else {
                out.push(c);
            }
        }
        out
    }
}

const MAX_DEPTH: usize = 16;

/// Parses the first top-level component of `text`.
pub fn parse(text: &str) -> Result<Comp, String> {
    let mut stack: Vec<Comp> = Vec::new();
    for line in unfold(text) {
        if line.trim().is_empty() {
            continue;
        }
        let prop = parse_line(&line)?;
        match prop.name.as_str() {
            "BEGIN" => {
                if stack.len() >= MAX_DEPTH {
                    return Err("components are nested too deeply".into());
                }
                stack.push(Comp {
                    name: prop.value.trim().to_ascii_uppercase(),
                    ..Comp::default()
                });
            }
            "END" => {
                let done = stack.pop().ok_or("END without BEGIN")?;
                if !done.name.eq_ignore_ascii_case(prop.value.trim()) {
                    return Err(format!(
                        "END:{} closes BEGIN:{}",
                        prop.value.trim(),
                        done.name
                    ));
                }
                match stack.last_mut() {
                    Some(parent) => parent.children.push(done),
                    None => return Ok(done),
                }
            }
            _ => match stack.last_mut() {
                Some(top) => top.props.push(prop),
                None => return Err("a property outside any component".into()),
            },
        }
    }
    Err("the data ends before its END line".into())
}

/// Joins folded lines (a line starting with a space or tab continues the previous one).
fn unfold(text: &str) -> impl Iterator<Item = String> + '_ {
    let mut lines = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .peekable();
    std::iter::from_fn(move || {
        let mut line = lines.next()?.to_owned();
        while let Some(next) = lines.peek() {
            match next.strip_prefix([' ', '\t']) {
                Some(cont) => {
                    line.push_str(cont);
                    lines.next();
                }
                None => break,
            }
        }
        Some(line)
    })
}

fn parse_line(line: &str) -> Result<Prop, String> {
    // name *(";" param) ":" value — a colon inside a quoted parameter value does not count.
    let mut in_quotes = false;
    let mut colon = None;
    for (i, c) in line.char_indices() {
        match c {
            '"' => in_quotes = !in_quotes,
            ':' if !in_quotes => {
                colon = Some(i);
                break;
            }
            _ => {}
        }
    }
    let colon = colon.ok_or_else(|| {
        let shown: String = line.chars().take(40).collect();
        format!("line {shown:?} has no ':'")
    })?;
    let (head, value) = (&line[..colon], &line[colon + 1..]);
    let mut parts = split_params(head).into_iter();
    let name = parts.next().unwrap_or_default();
    let name = name
        .rsplit('.')
        .next()
        .unwrap_or(&name)
        .to_ascii_uppercase();
    if name.is_empty() {
        return Err("a property without a name".into());
    }
    let params = parts
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (k.to_ascii_uppercase(), v.trim_matches('"').to_owned()),
            None => (p.to_ascii_uppercase(), String::new()),
        })
        .collect();
    Ok(Prop {
        name,
        params,
        value: value.to_owned(),
    })
}

fn split_params(head: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_quotes = false;
    for c in head.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                cur.push(c);
            }
            ';' if !in_quotes => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Writes a property back as one content line (unfolded).
pub fn write_prop(out: &mut String, p: &Prop) {
    out.push_str(&p.name);
    for (k, v) in &p.params {
        out.push(';');
        out.push_str(k);
        if !v.is_empty() {
            out.push('=');
            if v.contains([':', ';', ',']) {
                out.push('"');
                out.push_str(v);
                out.push('"');
            } else {
                out.push_str(v);
            }
        }
    }
    out.push(':');
    out.push_str(&p.value);
    out.push_str("\r\n");
}

/// Writes a component back, properties and sub-components in order.
pub fn write_comp(out: &mut String, c: &Comp) {
    out.push_str(&format!("BEGIN:{}\r\n", c.name));
    for p in &c.props {
        write_prop(out, p);
    }
    for ch in &c.children {
        write_comp(out, ch);
    }
    out.push_str(&format!("END:{}\r\n", c.name));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_nested_components_and_folding() {
        let c = parse("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nBEGIN:VEVENT\r\nUID:a\r\nSUMMARY:Long\r\n  line\\, here\r\nATTENDEE;CN=\"Doe: J\";ROLE=CHAIR:mailto:j@x\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n").unwrap();
        assert_eq!(c.name, "VCALENDAR");
        let ev = &c.children[0];
        assert_eq!(
            ev.props_named("SUMMARY").next().unwrap().text(),
            "Long line, here"
        );
        let att = ev.props_named("ATTENDEE").next().unwrap();
        assert_eq!(att.params[0], ("CN".into(), "Doe: J".into()));
        assert_eq!(att.value, "mailto:j@x");
        let card = parse("BEGIN:VCARD\nitem1.EMAIL;TYPE=work:a@b\nEND:VCARD\n").unwrap();
        assert_eq!(card.props[0].name, "EMAIL");
        assert!(parse("BEGIN:VCARD\nFN:x\n").is_err());
        assert!(parse("BEGIN:A\nEND:B\n").is_err());
    }
}
