//! Reading optional fields out of provider payloads (`serde_json::Value`) without panicking:
//! trimmed non-blank text, ids that providers send as numbers or strings, integers and decimal
//! amounts. The builders read every payload value through these.

use serde_json::Value;

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
}
