//! Formatting what downstream APIs expect from the values the builders read: optional body
//! fields, first/last names, decimal amounts from Stripe minor units, form encoding, Slack
//! escaping, and hashed emails for keys that must not hold PII. Dates are in [`crate::time`].

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

/// Insert `key` only when there is a value.
pub(crate) fn put(map: &mut Map<String, Value>, key: &str, value: Option<impl Into<String>>) {
    if let Some(value) = value {
        map.insert(key.to_string(), Value::String(value.into()));
    }
}

/// Split a display name into first and last name at the last space.
pub(crate) fn split_name(name: &str) -> (String, Option<String>) {
    match name.trim().rsplit_once(' ') {
        Some((first, last)) => (first.trim().to_string(), Some(last.trim().to_string())),
        None => (name.trim().to_string(), None),
    }
}

/// Stripe currencies without minor units, and with three decimals.
const ZERO_DECIMAL: [&str; 16] = [
    "bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga", "pyg", "rwf", "ugx", "vnd", "vuv",
    "xaf", "xof", "xpf",
];
const THREE_DECIMAL: [&str; 5] = ["bhd", "jod", "kwd", "omr", "tnd"];

/// A Stripe amount in minor units as a decimal string in major units: `4900, "usd"` → `"49.00"`,
/// `500, "jpy"` → `"500"`.
pub(crate) fn stripe_amount(minor: i64, currency: &str) -> String {
    let currency = currency.to_ascii_lowercase();
    let exponent = if ZERO_DECIMAL.contains(&currency.as_str()) {
        0
    } else if THREE_DECIMAL.contains(&currency.as_str()) {
        3
    } else {
        2
    };
    let sign = if minor < 0 { "-" } else { "" };
    let abs = minor.unsigned_abs();
    if exponent == 0 {
        return format!("{sign}{abs}");
    }
    let scale = 10u64.pow(exponent);
    format!(
        "{sign}{}.{:0width$}",
        abs / scale,
        abs % scale,
        width = exponent as usize
    )
}

/// `application/x-www-form-urlencoded` serialisation (the WHATWG byte serializer: `*-._` and
/// alphanumerics stay, space becomes `+`, every other byte `%XX`).
pub(crate) fn form_encode(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", form_component(k), form_component(v)))
        .collect::<Vec<_>>()
        .join("&")
}

fn form_component(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'*' | b'-' | b'.' | b'_' | b'0'..=b'9' | b'A'..=b'Z' | b'a'..=b'z' => {
                out.push(char::from(byte))
            }
            b' ' => out.push('+'),
            other => out.push_str(&format!("%{other:02X}")),
        }
    }
    out
}

/// Escape the three characters Slack's mrkdwn treats as control characters.
pub(crate) fn slack_escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// An email address as edgehooks keys and searches it: trimmed, ASCII letters lowercased.
/// Only ASCII: that is what SQLite's `lower()` does, so the privacy search over stored payloads
/// (`instr(lower(payload), ...)`) finds an address spelled with non-ASCII capitals (SMTPUTF8)
/// as it was stored, and no locale-dependent Unicode case rule changes an address.
pub fn normalized_email(email: &str) -> String {
    email.trim().to_ascii_lowercase()
}

/// A stable stand-in for an email address in keys: 32 hex digits of SHA-256 of the
/// [`normalized_email`].
pub(crate) fn email_digest(email: &str) -> String {
    let digest = Sha256::digest(normalized_email(email).as_bytes());
    hex::encode(digest.get(..16).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalized_email_lowers_ascii_letters_only() {
        assert_eq!(
            normalized_email("  Mo.Ny@Example.COM \n"),
            "mo.ny@example.com"
        );
        // Non-ASCII capitals stay as written, as SQLite's lower() leaves them.
        assert_eq!(
            normalized_email("Jörg.ÄRGER@Bücher.DE"),
            "jörg.Ärger@bücher.de"
        );
        assert_eq!(email_digest("JÖRG@x.TEST"), email_digest("jÖrg@x.test"));
        assert_ne!(email_digest("JÖRG@x.test"), email_digest("jörg@x.test"));
    }

    #[test]
    fn names_split_at_the_last_space() {
        assert_eq!(
            split_name(" Ada King Lovelace "),
            ("Ada King".into(), Some("Lovelace".into()))
        );
        assert_eq!(split_name("Cher"), ("Cher".into(), None));
    }

    #[test]
    fn amounts_follow_the_currency_exponent() {
        assert_eq!(stripe_amount(4900, "usd"), "49.00");
        assert_eq!(stripe_amount(5, "EUR"), "0.05");
        assert_eq!(stripe_amount(500, "jpy"), "500");
        assert_eq!(stripe_amount(1234, "kwd"), "1.234");
        assert_eq!(stripe_amount(-250, "gbp"), "-2.50");
        assert_eq!(stripe_amount(i64::MIN, "usd"), "-92233720368547758.08");
    }

    #[test]
    fn encodings() {
        assert_eq!(
            form_encode(&[("email", "a+b@x.com"), ("name", "Zoë O'Neil & co")]),
            "email=a%2Bb%40x.com&name=Zo%C3%AB+O%27Neil+%26+co"
        );
        assert_eq!(form_encode(&[("phone", "")]), "phone=");
        assert_eq!(slack_escape("<a> & b"), "&lt;a&gt; &amp; b");
    }

    #[test]
    fn email_digest_ignores_case_and_padding() {
        assert_eq!(
            email_digest(" Ada@Example.com"),
            email_digest("ada@example.com")
        );
        assert_eq!(email_digest("ada@example.com").len(), 32);
        assert_ne!(
            email_digest("ada@example.com"),
            email_digest("bob@example.com")
        );
    }
}
