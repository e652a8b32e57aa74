//! Small helpers shared by the builders: reading optional fields out of provider payloads
//! without panicking, and formatting what downstream APIs expect (decimal amounts from Stripe
//! minor units, ISO dates, form encoding, Slack escaping, hashed emails for keys
//! that must not hold PII).

use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

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

/// Gregorian date of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// Unix seconds of 0001-01-01 and 9999-12-31T23:59:59: the range four-digit years can show.
const MIN_SECS: i64 = -62_135_596_800;
const MAX_SECS: i64 = 253_402_300_799;

/// `YYYY-MM-DD` (UTC) of a Unix time in seconds.
pub(crate) fn iso_date(unix_secs: i64) -> Option<String> {
    if !(MIN_SECS..=MAX_SECS).contains(&unix_secs) {
        return None;
    }
    let (y, m, d) = civil_from_days(unix_secs.div_euclid(86_400));
    Some(format!("{y:04}-{m:02}-{d:02}"))
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` of a Unix time in milliseconds.
pub(crate) fn iso_datetime_ms(unix_ms: i64) -> Option<String> {
    let secs = unix_ms.div_euclid(1000);
    let date = iso_date(secs)?;
    let of_day = secs.rem_euclid(86_400);
    Some(format!(
        "{date}T{:02}:{:02}:{:02}.{:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60,
        unix_ms.rem_euclid(1000)
    ))
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

/// A stable stand-in for an email address in keys: 32 hex digits of SHA-256 of the trimmed,
/// lowercased address.
pub(crate) fn email_digest(email: &str) -> String {
    let digest = Sha256::digest(email.trim().to_lowercase().as_bytes());
    hex::encode(digest.get(..16).unwrap_or_default())
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
    fn dates_are_utc_and_bounded() {
        assert_eq!(iso_date(0).as_deref(), Some("1970-01-01"));
        assert_eq!(iso_date(951_782_400).as_deref(), Some("2000-02-29"));
        assert_eq!(iso_date(-1).as_deref(), Some("1969-12-31"));
        assert_eq!(
            iso_datetime_ms(1_700_000_000_123).as_deref(),
            Some("2023-11-14T22:13:20.123Z")
        );
        assert_eq!(
            iso_datetime_ms(-1).as_deref(),
            Some("1969-12-31T23:59:59.999Z")
        );
        for extreme in [i64::MIN, i64::MAX, MAX_SECS + 1, MIN_SECS - 1] {
            assert_eq!(iso_date(extreme), None);
        }
        for extreme in [i64::MIN, i64::MAX, (MAX_SECS + 1) * 1000] {
            assert_eq!(iso_datetime_ms(extreme), None);
        }
        assert_eq!(iso_date(MAX_SECS).as_deref(), Some("9999-12-31"));
        assert_eq!(iso_date(MIN_SECS).as_deref(), Some("0001-01-01"));
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
