//! A transform's headers: a name (lower-cased) and a value template of text and placeholders,
//! `{{/json/pointer}}` (a value of the payload as it arrived, before the operations) or
//! `{{event.id}}`, `{{event.type}}`, `{{event.provider}}`, `{{event.account}}`. A string is put
//! in as it is, a number or boolean as its JSON text, an object or array as compact JSON, a
//! missing value or `null` as nothing. A rendered value is bounded and made a valid header
//! value: leading and trailing spaces trimmed, every byte outside printable ASCII (a line break
//! from a payload, a non-ASCII letter) percent-encoded, so a payload can never add a header.
//! Headers the delivery or its signature depend on are refused (see [`forbidden`]), and so
//! are credentials (`authorization`, `cookie`): a transform is stored in clear and shown to
//! viewers.

use serde_json::Value;

use super::pointer::Pointer;
use super::{transform_error, FilterError};

/// Most headers a transform adds.
pub const MAX_HEADERS: usize = 16;
/// Longest header name and value template, and longest rendered value, in bytes.
pub const MAX_NAME_LEN: usize = 64;
pub const MAX_TEMPLATE_LEN: usize = 512;
pub const MAX_VALUE_LEN: usize = 1_024;

/// Exact header names a transform may not set.
const FORBIDDEN: [&str; 17] = [
    "host",
    "content-length",
    "content-type",
    "content-encoding",
    "transfer-encoding",
    "connection",
    "keep-alive",
    "upgrade",
    "te",
    "trailer",
    "expect",
    "authorization",
    "cookie",
    "webhook-id",
    "webhook-timestamp",
    "webhook-signature",
    "user-agent",
];

/// Prefixes of header names a transform may not set: edgehooks' own, the platform's, proxies'.
const FORBIDDEN_PREFIXES: [&str; 5] = ["edgehooks-", "cf-", "sec-", "proxy-", "x-forwarded-"];

/// Whether a transform may not set header `name` (lower-case).
pub fn forbidden(name: &str) -> bool {
    FORBIDDEN.contains(&name) || FORBIDDEN_PREFIXES.iter().any(|p| name.starts_with(p))
}

/// What an event gives a template besides its payload.
#[derive(Debug, Clone, Copy)]
pub struct EventFields<'a> {
    pub id: &'a str,
    pub event_type: &'a str,
    pub provider: &'a str,
    pub account: Option<&'a str>,
}

/// A placeholder's event field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EventField {
    Id,
    Type,
    Provider,
    Account,
}

impl EventField {
    fn parse(name: &str) -> Option<EventField> {
        match name {
            "event.id" => Some(EventField::Id),
            "event.type" => Some(EventField::Type),
            "event.provider" => Some(EventField::Provider),
            "event.account" => Some(EventField::Account),
            _ => None,
        }
    }

    fn of<'a>(self, event: &EventFields<'a>) -> &'a str {
        match self {
            EventField::Id => event.id,
            EventField::Type => event.event_type,
            EventField::Provider => event.provider,
            EventField::Account => event.account.unwrap_or_default(),
        }
    }
}

/// A piece of a value template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Payload(Pointer),
    Event(EventField),
}

/// One header a transform adds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeaderRule {
    name: String,
    template: String,
    parts: Vec<Part>,
}

impl HeaderRule {
    /// Header `name` with value template `value`; errors name `transform.headers.<name>`.
    pub fn parse(name: &str, value: &Value) -> Result<HeaderRule, FilterError> {
        let field = format!("transform.headers.{name}");
        let lower = name.to_ascii_lowercase();
        if name.is_empty() || name.len() > MAX_NAME_LEN || !name.bytes().all(is_token_byte) {
            return Err(transform_error(
                &field,
                "must be a header name of 1-64 letters, digits or !#$%&'*+-.^_`|~",
            ));
        }
        if forbidden(&lower) {
            return Err(transform_error(
                &field,
                "is set by the delivery or its signature, or carries credentials: not settable",
            ));
        }
        let template = value.as_str().ok_or_else(|| {
            transform_error(&field, "must be a string (text and {{…}} placeholders)")
        })?;
        if template.len() > MAX_TEMPLATE_LEN || !template.bytes().all(|b| (0x20..0x7f).contains(&b))
        {
            return Err(transform_error(
                &field,
                "must be at most 512 bytes of printable ASCII",
            ));
        }
        let parts = parts(template).map_err(|problem| transform_error(&field, &problem))?;
        Ok(HeaderRule {
            name: lower,
            template: template.to_string(),
            parts,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// The template as written.
    pub fn template(&self) -> &str {
        &self.template
    }

    /// The header's value for `event` whose payload (as it arrived) is `payload`.
    pub fn render(&self, event: &EventFields<'_>, payload: &Value) -> String {
        let mut raw = String::new();
        for part in &self.parts {
            match part {
                Part::Text(text) => raw.push_str(text),
                Part::Event(field) => raw.push_str(field.of(event)),
                Part::Payload(pointer) => raw.push_str(&as_text(pointer.get(payload))),
            }
        }
        header_safe(&raw)
    }
}

/// A token byte of RFC 9110 §5.6.2.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Split a template into text and placeholders; `Err` says what is wrong.
fn parts(template: &str) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find("{{") {
        let (text, after) = rest.split_at(open);
        if !text.is_empty() {
            parts.push(Part::Text(text.to_string()));
        }
        let inner = &after[2..];
        let close = inner.find("}}").ok_or("has a `{{` without its `}}`")?;
        let name = inner[..close].trim();
        parts.push(placeholder(name)?);
        rest = &inner[close + 2..];
    }
    if rest.contains("}}") {
        return Err("has a `}}` without its `{{`".into());
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_string()));
    }
    Ok(parts)
}

fn placeholder(name: &str) -> Result<Part, String> {
    if let Some(field) = EventField::parse(name) {
        return Ok(Part::Event(field));
    }
    match name.starts_with('/') {
        true => Pointer::parse(name)
            .map(Part::Payload)
            .map_err(|problem| format!("{{{{{name}}}}}: the pointer {problem}")),
        false => Err(format!(
            "{{{{{name}}}}} is not a placeholder: a JSON Pointer (/data/object/id) or event.id, event.type, event.provider, event.account"
        )),
    }
}

/// A payload value as header text (see the module docs).
fn as_text(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(text)) => text.clone(),
        Some(other) => other.to_string(),
    }
}

/// `text` as a valid header value: leading and trailing spaces trimmed, bytes outside printable
/// ASCII percent-encoded, then cut to [`MAX_VALUE_LEN`] (never inside an escape). Also what a
/// delivery's `edgehooks-event-type` is made of an event type read from a payload.
pub fn header_safe(text: &str) -> String {
    let text = text.trim();
    let mut out = String::with_capacity(text.len().min(MAX_VALUE_LEN));
    for b in text.bytes() {
        let piece = match (0x20..0x7f).contains(&b) {
            true => char::from(b).to_string(),
            false => format!("%{b:02X}"),
        };
        if out.len() + piece.len() > MAX_VALUE_LEN {
            break;
        }
        out.push_str(&piece);
    }
    out.trim_end().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const EVENT: EventFields<'static> = EventFields {
        id: "01J0EVENT",
        event_type: "invoice.paid",
        provider: "stripe",
        account: Some("acct_1"),
    };

    fn render(template: &str, payload: &Value) -> String {
        HeaderRule::parse("X-Test", &json!(template))
            .unwrap()
            .render(&EVENT, payload)
    }

    #[test]
    fn templates_take_payload_values_and_event_fields() {
        let payload = json!({"data": {"object": {"id": "in_1", "amount": 500, "paid": true, "meta": {"a": [1]}, "none": null}}, "a/b": "slash"});
        assert_eq!(render("{{/data/object/id}}", &payload), "in_1");
        assert_eq!(
            render(
                "inv={{ /data/object/id }};n={{/data/object/amount}}",
                &payload
            ),
            "inv=in_1;n=500"
        );
        assert_eq!(
            render("{{/data/object/paid}} {{/data/object/meta}}", &payload),
            "true {\"a\":[1]}"
        );
        assert_eq!(
            render("[{{/data/object/none}}][{{/missing}}]", &payload),
            "[][]"
        );
        assert_eq!(render("{{/a~1b}}", &payload), "slash");
        assert_eq!(
            render(
                "{{event.id}}/{{event.type}}/{{event.provider}}/{{event.account}}",
                &payload
            ),
            "01J0EVENT/invoice.paid/stripe/acct_1"
        );
        assert_eq!(render("constant", &payload), "constant");
        let rule = HeaderRule::parse("X-Test", &json!("{{event.id}}")).unwrap();
        assert_eq!((rule.name(), rule.template()), ("x-test", "{{event.id}}"));
    }

    #[test]
    fn a_payload_value_cannot_break_out_of_its_header() {
        let payload = json!({"evil": "a\r\nx-injected: 1", "name": "Zoë", "long": "y".repeat(3 * MAX_VALUE_LEN)});
        assert_eq!(render("{{/evil}}", &payload), "a%0D%0Ax-injected: 1");
        assert_eq!(render("{{/name}}", &payload), "Zo%C3%AB");
        assert_eq!(render("{{/long}}", &payload).len(), MAX_VALUE_LEN);
        let escapes = json!({"s": "é".repeat(MAX_VALUE_LEN)});
        let cut = render("{{/s}}", &escapes);
        assert!(
            cut.len() > MAX_VALUE_LEN - 3 && cut.len() <= MAX_VALUE_LEN,
            "{}",
            cut.len()
        );
        assert_eq!(cut.rfind('%'), Some(cut.len() - 3), "whole escapes only");
    }

    #[test]
    fn forbidden_and_malformed_headers_are_refused() {
        for name in [
            "Content-Length",
            "host",
            "Content-Type",
            "webhook-signature",
            "Webhook-Id",
            "webhook-timestamp",
            "authorization",
            "Cookie",
            "transfer-encoding",
            "edgehooks-provider",
            "cf-connecting-ip",
            "Proxy-Authorization",
            "sec-fetch-mode",
            "x-forwarded-for",
        ] {
            let error = HeaderRule::parse(name, &json!("v")).unwrap_err();
            assert_eq!(
                (error.code, error.field),
                ("invalid_transform", format!("transform.headers.{name}"))
            );
        }
        for (name, value) in [
            ("bad name", json!("v")),
            ("", json!("v")),
            ("x-ok", json!(1)),
            ("x-ok", json!("line\nbreak")),
            ("x-ok", json!("{{/a")),
            ("x-ok", json!("a}}")),
            ("x-ok", json!("{{data.id}}")),
            ("x-ok", json!("{{event.secret}}")),
            ("x-ok", json!("{{/~2}}")),
            ("x-ok", json!("é")),
            ("x-ok", json!("v".repeat(MAX_TEMPLATE_LEN + 1))),
        ] {
            assert!(HeaderRule::parse(name, &value).is_err(), "{name}: {value}");
        }
    }
}
