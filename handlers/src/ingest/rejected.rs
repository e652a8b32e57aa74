//! A delivery that verified but could not be parsed, kept as one `rejected` event row for the
//! admins: the row's INSERT ([`insert_sql`]), the text its `payload` holds ([`stored_body`]) and
//! the account it is filed under ([`account`]). The payload is the body as text: exactly the
//! body when it is UTF-8; otherwise each invalid byte becomes U+FFFD (3 bytes), so a body of
//! invalid bytes could triple past D1's 2,000,000-byte value limit and be refused on every
//! retry (503 forever). The text is therefore cut to [`MAX_BODY_BYTES_LIMIT`] bytes, ending in
//! [`CUT_MARK`] when cut; `payload_bytes` keeps the body's real size. A verified Shopify
//! delivery is filed under its shop (the `X-Shopify-Shop-Domain` header, as an accepted one
//! is), so that the shop's `shop/redact` finds it too.

use std::borrow::Cow;

use super::MAX_BODY_BYTES_LIMIT;
use crate::inbound::providers::shopify::SHOP_DOMAIN_HEADER;
use crate::inbound::webhook::{InboundRequest, Provider};
use crate::steps::lifecycle::EventStatus;

/// The event type of a rejected delivery (and of a batch's malformed element).
pub const UNPARSABLE_TYPE: &str = "unparsable";
/// [`UNPARSABLE_TYPE`] as a SQL literal (const, for statements built at compile time).
pub const UNPARSABLE_TYPE_SQL: &str = "'unparsable'";

/// What ends a stored body that was cut.
pub const CUT_MARK: &str = "…[cut]";

/// A rejected body as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredBody<'a> {
    /// At most [`MAX_BODY_BYTES_LIMIT`] bytes.
    pub text: Cow<'a, str>,
    /// True when `text` is not the whole body (it ends in [`CUT_MARK`]).
    pub cut: bool,
}

/// `body` as the rejected row stores it (see the module's doc).
pub fn stored_body(body: &[u8]) -> StoredBody<'_> {
    cut_to(String::from_utf8_lossy(body), MAX_BODY_BYTES_LIMIT as usize)
}

fn cut_to(text: Cow<'_, str>, max_bytes: usize) -> StoredBody<'_> {
    if text.len() <= max_bytes {
        return StoredBody { text, cut: false };
    }
    let mut end = max_bytes.saturating_sub(CUT_MARK.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let mut kept = text.get(..end).unwrap_or_default().to_string();
    kept.push_str(CUT_MARK);
    StoredBody {
        text: Cow::Owned(kept),
        cut: true,
    }
}

/// The account a rejected delivery of `provider` is filed under: a Shopify delivery's shop
/// domain header (only ever called once its signature verified); none for the others.
pub fn account<'a>(provider: Provider, request: &InboundRequest<'a>) -> Option<&'a str> {
    match provider {
        Provider::Shopify => request
            .header(SHOP_DOMAIN_HEADER)
            .map(str::trim)
            .filter(|shop| !shop.is_empty()),
        _ => None,
    }
}

/// Keep a rejected delivery once per source (`ON CONFLICT DO NOTHING`): `?1` id, `?2` provider,
/// `?3` dedupe key, `?4` received at, `?5` key index, `?6` payload ([`stored_body`]), `?7` the
/// body's size, `?8` error code, `?9` source, `?10` stored headers, `?11` account ([`account`]).
pub fn insert_sql() -> String {
    format!(
        "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, key_index, \
         payload, payload_bytes, error, source, headers, account) \
         VALUES (?1, ?2, ?3, {UNPARSABLE_TYPE_SQL}, ?4, {}, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
         ON CONFLICT (provider, dedupe_key) DO NOTHING",
        EventStatus::Rejected.sql_lit()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::lifecycle::sql_tests::database;
    use rusqlite::params;

    #[test]
    fn a_worst_case_body_never_stores_more_than_the_limit() {
        // Every byte invalid UTF-8: each becomes U+FFFD, three bytes.
        let limit = MAX_BODY_BYTES_LIMIT as usize;
        for size in [limit / 3, limit / 3 + 1, 700_000, limit] {
            let body = vec![0xFF; size];
            let stored = stored_body(&body);
            assert!(stored.text.len() <= limit, "{size}: {}", stored.text.len());
            assert_eq!(stored.cut, size * 3 > limit, "{size}");
            assert_eq!(stored.text.ends_with(CUT_MARK), stored.cut, "{size}");
        }
        // Multi-byte characters are never split.
        let cut = cut_to(Cow::Owned("é".repeat(20)), 4 + CUT_MARK.len() + 1);
        assert_eq!(cut.text, format!("éé{CUT_MARK}"));
        assert!(cut.cut);
    }

    #[test]
    fn the_type_literal_is_the_type() {
        assert_eq!(UNPARSABLE_TYPE_SQL, format!("'{UNPARSABLE_TYPE}'"));
    }

    #[test]
    fn a_utf8_body_is_stored_exactly_and_borrowed() {
        let body = br#"{"not": "the shape"}"#;
        let stored = stored_body(body);
        assert_eq!(stored.text.as_bytes(), body);
        assert!(!stored.cut);
        assert!(matches!(stored.text, Cow::Borrowed(_)));
    }

    #[test]
    fn only_a_shopify_delivery_is_filed_under_its_shop() {
        let headers = vec![(
            "x-shopify-shop-domain".to_string(),
            " s.myshopify.com ".to_string(),
        )];
        let request = InboundRequest {
            method: "POST",
            url: "https://h.example/webhooks/shopify",
            headers: &headers,
            body: b"{",
        };
        assert_eq!(
            account(Provider::Shopify, &request),
            Some("s.myshopify.com")
        );
        assert_eq!(account(Provider::Stripe, &request), None);
        let none = InboundRequest {
            headers: &[],
            ..request
        };
        assert_eq!(account(Provider::Shopify, &none), None);
    }

    #[test]
    fn the_insert_keeps_one_rejected_row_per_body() {
        let db = database();
        let body = vec![0xFF; 700_000];
        let stored = stored_body(&body);
        for _ in 0..2 {
            db.execute(
                &insert_sql(),
                params![
                    "evt_1",
                    "shopify",
                    "rejected:x",
                    7,
                    0,
                    stored.text.as_ref(),
                    body.len() as i64,
                    "invalid_json",
                    None::<String>,
                    "{}",
                    "s.myshopify.com"
                ],
            )
            .unwrap();
        }
        let row: (String, String, String, i64, i64, String) = db
            .query_row(
                "SELECT type, status, account, length(CAST(payload AS BLOB)), payload_bytes, \
                 error FROM events",
                [],
                |r| {
                    Ok((
                        r.get(0)?,
                        r.get(1)?,
                        r.get(2)?,
                        r.get(3)?,
                        r.get(4)?,
                        r.get(5)?,
                    ))
                },
            )
            .unwrap();
        assert_eq!(
            row,
            (
                UNPARSABLE_TYPE.into(),
                EventStatus::Rejected.as_str().into(),
                "s.myshopify.com".into(),
                // U+FFFD is 3 bytes: the cut ends 2 short of the limit.
                MAX_BODY_BYTES_LIMIT as i64 - 2,
                700_000,
                "invalid_json".into()
            )
        );
    }
}
