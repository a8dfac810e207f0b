//! The `If` request header (RFC 4918 §10.4): lists of state tokens and entity tags, optionally
//! tagged with the resource they apply to.

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    Token(String),
    Etag(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    pub not: bool,
    pub cond: Cond,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct List {
    /// The tagged resource (an absolute URL or path), or None for the request URI.
    pub resource: Option<String>,
    pub conditions: Vec<Condition>,
}

/// Parses an `If` header; `Err` when it is malformed (→ 400).
pub fn parse(h: &str) -> Result<Vec<List>, String> {
    let mut lists = Vec::new();
    let mut tag: Option<String> = None;
    let mut chars = h.char_indices().peekable();
    let s = h;
    while let Some((i, c)) = chars.next() {
        match c {
            ' ' | '\t' => {}
            '<' => {
                let end = s[i..].find('>').ok_or("unterminated resource tag in If")? + i;
                tag = Some(s[i + 1..end].to_owned());
                while chars.peek().is_some_and(|(j, _)| *j <= end) {
                    chars.next();
                }
            }
            '(' => {
                let end = s[i..].find(')').ok_or("unterminated list in If")? + i;
                let conditions = parse_list(&s[i + 1..end])?;
                if conditions.is_empty() {
                    return Err("empty list in If".into());
                }
                lists.push(List {
                    resource: tag.clone(),
                    conditions,
                });
                while chars.peek().is_some_and(|(j, _)| *j <= end) {
                    chars.next();
                }
            }
            _ => return Err(format!("unexpected {c:?} in If")),
        }
    }
    if lists.is_empty() {
        return Err("If header without a list".into());
    }
    Ok(lists)
}

fn parse_list(s: &str) -> Result<Vec<Condition>, String> {
    let mut out = Vec::new();
    let mut rest = s.trim();
    while !rest.is_empty() {
        let mut not = false;
        if let Some(r) = rest.strip_prefix("Not") {
            not = true;
            rest = r.trim_start();
        }
        if let Some(r) = rest.strip_prefix('<') {
            let end = r.find('>').ok_or("unterminated state token in If")?;
            out.push(Condition {
                not,
                cond: Cond::Token(r[..end].to_owned()),
            });
            rest = r[end + 1..].trim_start();
        } else if let Some(r) = rest.strip_prefix('[') {
            let end = r.find(']').ok_or("unterminated entity tag in If")?;
            out.push(Condition {
                not,
                cond: Cond::Etag(r[..end].trim().to_owned()),
            });
            rest = r[end + 1..].trim_start();
        } else {
            return Err(format!("unexpected {rest:?} in If"));
        }
    }
    Ok(out)
}

/// Every state token mentioned anywhere in the header (a token is "submitted" by appearing).
pub fn tokens(lists: &[List]) -> Vec<&str> {
    lists
        .iter()
        .flat_map(|l| l.conditions.iter())
        .filter_map(|c| match &c.cond {
            Cond::Token(t) => Some(t.as_str()),
            Cond::Etag(_) => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let l = parse("(<opaquelocktoken:abc> [\"e1\"]) (Not <DAV:no-lock>)").unwrap();
        assert_eq!(l.len(), 2);
        assert_eq!(l[0].conditions[1].cond, Cond::Etag("\"e1\"".into()));
        assert!(l[1].conditions[0].not);
        let l = parse("<http://h/remote.php/dav/files/a/x> ([\"e\"])").unwrap();
        assert_eq!(
            l[0].resource.as_deref(),
            Some("http://h/remote.php/dav/files/a/x")
        );
        assert!(parse("garbage").is_err());
        assert!(parse("(<a>").is_err());
        assert_eq!(
            tokens(&parse("(<t1>) (Not <t2> [\"x\"])").unwrap()),
            vec!["t1", "t2"]
        );
    }
}
