//! The OCS envelope, v1 and v2, in JSON and XML, with Nextcloud's status-code rules
//! (nextcloud/server lib/private/AppFramework/OCS/{BaseResponse,V1Response,V2Response}.php).

use http::StatusCode;
use serde_json::{Map, Value};

use crate::http::router::OcsVersion;
use crate::http::{Resp, response};

/// Renders a successful result.
pub fn ok(v: OcsVersion, json: bool, data: Value) -> Resp {
    render(v, json, true, 0, "OK", data)
}

/// Renders a failure with an OCS status code (997 unauthorised, 998 not found, 400, 403…).
pub fn fail(v: OcsVersion, json: bool, code: u16, message: &str) -> Resp {
    render(v, json, false, code, message, Value::Array(vec![]))
}

fn render(v: OcsVersion, json: bool, success: bool, code: u16, message: &str, data: Value) -> Resp {
    let (statuscode, http_status) = match (v, success) {
        (OcsVersion::V1, true) => (100, StatusCode::OK),
        (OcsVersion::V2, true) => (200, StatusCode::OK),
        // v1 always answers 200 except "unauthorised"; the real code is in meta.
        (OcsVersion::V1, false) => (
            code,
            if code == 997 {
                StatusCode::UNAUTHORIZED
            } else {
                StatusCode::OK
            },
        ),
        (OcsVersion::V2, false) => (code, v2_http_status(code)),
    };
    let status = match v {
        OcsVersion::V1 => statuscode == 100,
        OcsVersion::V2 => http_status.is_success(),
    };
    let mut meta = Map::new();
    meta.insert(
        "status".into(),
        Value::from(if status { "ok" } else { "failure" }),
    );
    meta.insert("statuscode".into(), Value::from(statuscode));
    meta.insert("message".into(), Value::from(message));
    if v == OcsVersion::V1 {
        meta.insert("totalitems".into(), Value::from(""));
        meta.insert("itemsperpage".into(), Value::from(""));
    }
    let mut ocs = Map::new();
    ocs.insert("meta".into(), Value::Object(meta));
    ocs.insert("data".into(), data);
    let body = Value::Object(Map::from_iter([("ocs".to_owned(), Value::Object(ocs))]));
    if json {
        response::json(http_status, &body)
    } else {
        response::with(http_status, "application/xml; charset=utf-8", to_xml(&body))
    }
}

fn v2_http_status(code: u16) -> StatusCode {
    match code {
        997 => StatusCode::UNAUTHORIZED,
        998 => StatusCode::NOT_FOUND,
        996 | 999 => StatusCode::INTERNAL_SERVER_ERROR,
        c if !(200..=600).contains(&c) => StatusCode::BAD_REQUEST,
        c => StatusCode::from_u16(c).unwrap_or(StatusCode::BAD_REQUEST),
    }
}

/// PHP XMLWriter's shape: one-space indentation, list items as `<element>`, `true` as `1`,
/// `false` and `null` as empty elements.
pub fn to_xml(v: &Value) -> String {
    let mut out = String::from("<?xml version=\"1.0\"?>\n");
    if let Value::Object(m) = v {
        for (k, v) in m {
            write_el(&mut out, k, v, 0);
        }
    }
    out
}

fn write_el(out: &mut String, name: &str, v: &Value, depth: usize) {
    let pad = " ".repeat(depth);
    let name = if name.chars().next().is_some_and(|c| c.is_ascii_digit()) {
        "element"
    } else {
        name
    };
    match v {
        Value::Object(m) if m.is_empty() => out.push_str(&format!("{pad}<{name}/>\n")),
        Value::Array(a) if a.is_empty() => out.push_str(&format!("{pad}<{name}/>\n")),
        Value::Object(m) => {
            out.push_str(&format!("{pad}<{name}>\n"));
            for (k, v) in m {
                write_el(out, k, v, depth + 1);
            }
            out.push_str(&format!("{pad}</{name}>\n"));
        }
        Value::Array(a) => {
            out.push_str(&format!("{pad}<{name}>\n"));
            for v in a {
                write_el(out, "element", v, depth + 1);
            }
            out.push_str(&format!("{pad}</{name}>\n"));
        }
        Value::Null => out.push_str(&format!("{pad}<{name}/>\n")),
        Value::Bool(b) => out.push_str(&format!(
            "{pad}<{name}>{}</{name}>\n",
            if *b { "1" } else { "" }
        )),
        Value::Number(n) => out.push_str(&format!("{pad}<{name}>{n}</{name}>\n")),
        Value::String(s) => out.push_str(&format!("{pad}<{name}>{}</{name}>\n", escape(s))),
    }
}

pub fn escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => o.push_str("&lt;"),
            '>' => o.push_str("&gt;"),
            '&' => o.push_str("&amp;"),
            // Control characters are not allowed in XML 1.0.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => o.push(c),
        }
    }
    o
}
