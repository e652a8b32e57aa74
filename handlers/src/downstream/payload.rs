//! Reading optional fields out of provider payloads (`serde_json::Value`) without panicking:
//! trimmed non-blank text, ids that providers send as numbers or strings, integers and decimal
//! amounts. The builders read every payload value through these. [`LazyPayload`] is a stored
//! payload parsed at most once, for readers that may not need it parsed at all.

use std::cell::OnceCell;

use serde_json::Value;

/// An event's payload text, parsed into a `Value` the first time a reader asks and never again:
/// ingest asks several readers about one event (the entity of each planned step, the customer
/// the event describes), and most of them decide from the event type alone that they need no
/// parse.
pub struct LazyPayload<'a> {
    text: &'a str,
    parsed: OnceCell<Option<Value>>,
}

impl<'a> LazyPayload<'a> {
    /// `text`, not parsed yet.
    pub fn new(text: &'a str) -> Self {
        LazyPayload {
            text,
            parsed: OnceCell::new(),
        }
    }

    /// The payload as JSON, parsed on the first call; `None` when it is not JSON.
    pub fn value(&self) -> Option<&Value> {
        self.parsed
            .get_or_init(|| serde_json::from_str(self.text).ok())
            .as_ref()
    }

    /// Whether a reader has asked for the parse yet (tests of who parses).
    #[cfg(test)]
    pub(crate) fn is_parsed(&self) -> bool {
        self.parsed.get().is_some()
    }
}

/// A non-blank string at `pointer`, trimmed.
pub(crate) fn text<'a>(value: &'a Value, pointer: &str) -> Option<&'a str> {
    value
        .pointer(pointer)
        .and_then(Value::as_str)
        .map(str::trim)
        .filter(|s| !s.is_empty())
}

/// The first non-blank string among `pointers`.
pub(crate) fn first_text<'a>(value: &'a Value, pointers: &[&str]) -> Option<&'a str> {
    pointers.iter().find_map(|p| text(value, p))
}

/// An id as text: a JSON integer or a non-blank string (Shopify and HubSpot send numbers).
pub(crate) fn id_text(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::Number(n) if n.is_u64() || n.is_i64() => Some(n.to_string()),
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        _ => None,
    }
}

/// An integer at `pointer`.
pub(crate) fn int(value: &Value, pointer: &str) -> Option<i64> {
    value.pointer(pointer).and_then(Value::as_i64)
}

/// A decimal amount given as a string (Shopify's `"199.00"`) or a number.
pub(crate) fn decimal_text(value: &Value, pointer: &str) -> Option<String> {
    match value.pointer(pointer)? {
        Value::String(s) if !s.trim().is_empty() => Some(s.trim().to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_fields_without_panicking() {
        let v = json!({"a": {"s": "  x ", "blank": " ", "n": 12, "neg": -3, "f": 1.5, "arr": [1]}});
        assert_eq!(text(&v, "/a/s"), Some("x"));
        assert_eq!(text(&v, "/a/blank"), None);
        assert_eq!(text(&v, "/a/n"), None);
        assert_eq!(first_text(&v, &["/a/blank", "/nope", "/a/s"]), Some("x"));
        assert_eq!(id_text(&v, "/a/n").as_deref(), Some("12"));
        assert_eq!(id_text(&v, "/a/neg").as_deref(), Some("-3"));
        assert_eq!(id_text(&v, "/a/f"), None);
        assert_eq!(id_text(&v, "/a/arr/0").as_deref(), Some("1"));
        assert_eq!(id_text(&v, "/a/arr/5"), None);
        assert_eq!(decimal_text(&v, "/a/f").as_deref(), Some("1.5"));
        assert_eq!(int(&json!([]), "/0/x"), None);
    }

    #[test]
    fn lazy_payload_parses_once_and_keeps_the_answer() {
        let payload = LazyPayload::new(r#"{"a": {"s": "x"}}"#);
        assert!(!payload.is_parsed(), "nothing parsed before a reader asks");
        let first = payload.value().map(|v| v as *const Value);
        assert_eq!(payload.value().and_then(|v| text(v, "/a/s")), Some("x"));
        assert_eq!(
            payload.value().map(|v| v as *const Value),
            first,
            "the same parse"
        );
        let broken = LazyPayload::new("{");
        assert_eq!(broken.value(), None);
        assert_eq!(
            broken.parsed.get(),
            Some(&None),
            "a failed parse is not tried again"
        );
    }
}
