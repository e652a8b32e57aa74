//! The request headers stored with a delivery's events (`events.headers`): a JSON object of
//! lower-case names to values, sorted by name, with every value that can carry a credential
//! replaced by [`MASK`]: the provider's or scheme's signature headers, and any header whose
//! name says it holds one ([`is_sensitive`]: `Authorization`, `Cookie`, names with `token`,
//! `secret`, `signature`, `hmac`, `auth`, `key`, ...). A value is cut at [`MAX_VALUE_BYTES`];
//! headers past [`MAX_STORED_BYTES`] in all are left out, and `"…"` then says how many.

use serde_json::{Map, Value};

/// What a masked value is replaced by.
pub const MASK: &str = "[masked]";
/// Longest value stored (a longer one is cut at a character boundary and ends with `…`).
pub const MAX_VALUE_BYTES: usize = 512;
/// Most bytes the stored object may take.
pub const MAX_STORED_BYTES: usize = 8 * 1024;

/// Fragments of a header name that mark its value as a credential.
const SENSITIVE_PARTS: [&str; 11] = [
    "auth",
    "cookie",
    "token",
    "secret",
    "signature",
    "hmac",
    "key",
    "password",
    "session",
    "credential",
    "jwt",
];

/// True when `name`'s value is masked: one of `signature_headers` (the provider's or scheme's,
/// whatever they are called), or a name holding a [`SENSITIVE_PARTS`] fragment.
pub fn is_sensitive(name: &str, signature_headers: &[&str]) -> bool {
    let lower = name.to_ascii_lowercase();
    signature_headers
        .iter()
        .any(|s| s.eq_ignore_ascii_case(name))
        || SENSITIVE_PARTS.iter().any(|part| lower.contains(part))
}

fn cut(value: &str) -> String {
    if value.len() <= MAX_VALUE_BYTES {
        return value.to_string();
    }
    let mut end = MAX_VALUE_BYTES;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &value[..end])
}

/// The JSON text stored for a delivery's `headers` (repeated names joined with `, `).
pub fn to_store(headers: &[(String, String)], signature_headers: &[&str]) -> String {
    let mut sorted: Vec<(String, &str)> = headers
        .iter()
        .map(|(name, value)| (name.to_ascii_lowercase(), value.as_str()))
        .collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    let mut stored = Map::new();
    let mut size = 2;
    let mut left_out = 0;
    for (name, value) in sorted {
        let value = match is_sensitive(&name, signature_headers) {
            true => MASK.to_string(),
            false => cut(value),
        };
        let value = match stored.remove(&name) {
            Some(Value::String(before)) => format!("{before}, {value}"),
            _ => value,
        };
        let entry = Value::from(name.as_str()).to_string().len()
            + Value::from(value.as_str()).to_string().len()
            + 2;
        if size + entry > MAX_STORED_BYTES {
            left_out += 1;
            continue;
        }
        size += entry;
        stored.insert(name, Value::String(value));
    }
    if left_out > 0 {
        stored.insert(
            "…".into(),
            Value::String(format!("{left_out} more not stored")),
        );
    }
    Value::Object(stored).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn credentials_and_signatures_are_masked_and_the_rest_kept() {
        let headers = pairs(&[
            ("Stripe-Signature", "t=1,v1=abc"),
            ("Authorization", "Bearer sk_live_1"),
            ("Cookie", "sid=1"),
            ("X-Api-Key", "k"),
            ("X-Gitlab-Token", "t"),
            ("X-Shopify-Hmac-Sha256", "h"),
            ("X-Custom-Check", "zq9-custom"),
            ("Content-Type", "application/json"),
            ("User-Agent", "Stripe/1.0"),
            ("X-Shopify-Topic", "orders/create"),
        ]);
        let stored: Value = serde_json::from_str(&to_store(&headers, &["x-custom-check"])).unwrap();
        let object = stored.as_object().unwrap();
        for masked in [
            "stripe-signature",
            "authorization",
            "cookie",
            "x-api-key",
            "x-gitlab-token",
            "x-shopify-hmac-sha256",
            "x-custom-check",
        ] {
            assert_eq!(object[masked], MASK, "{masked}");
        }
        assert_eq!(object["content-type"], "application/json");
        assert_eq!(object["user-agent"], "Stripe/1.0");
        assert_eq!(object["x-shopify-topic"], "orders/create");
        let names: Vec<&String> = object.keys().collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted);
        for secret in ["abc", "sk_live_1", "sid=1", "zq9-custom"] {
            assert!(!stored.to_string().contains(secret), "{secret}");
        }
    }

    #[test]
    fn the_stored_object_is_capped() {
        let long = "é".repeat(MAX_VALUE_BYTES);
        let mut headers = pairs(&[("x-long", &long)]);
        for i in 0..100 {
            headers.push((format!("x-filler-{i:03}"), "v".repeat(200)));
        }
        let text = to_store(&headers, &[]);
        assert!(text.len() <= MAX_STORED_BYTES + 40, "{}", text.len());
        let stored: Value = serde_json::from_str(&text).unwrap();
        let object = stored.as_object().unwrap();
        assert!(object["…"].as_str().unwrap().ends_with("more not stored"));
        assert_eq!(
            object.get("x-long"),
            None,
            "sorted after the fillers that fit"
        );
        let cut_value = cut(&long);
        assert!(cut_value.len() <= MAX_VALUE_BYTES + '…'.len_utf8());
        assert!(cut_value.ends_with('…'));
        assert_eq!(to_store(&[], &[]), "{}");
    }
}
