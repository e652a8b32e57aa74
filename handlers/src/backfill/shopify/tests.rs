//! The Shopify reconciliation's pure parts (URLs, the `Link` cursor, listed orders as events,
//! version keys) and its version rule against the migrations: one event per exact
//! `orders/updated` version whichever path stores it first, and listed versions older than a
//! stored one skipped, per shop and source.

use rusqlite::{params, Connection};

use super::page::{order_event, parse_orders_page};
use super::*;
use crate::backfill::plan::Cursor;
use crate::inbound::providers::shopify_version::{
    at_or_after, other_origin_absent, version_key, STORED_AT_OR_AFTER,
};

const SHOP: &str = "edge-test.myshopify.com";

fn access(source: Option<&str>) -> ShopAccess {
    ShopAccess {
        source: source.map(str::to_string),
        shop: SHOP.into(),
        token: "shpat_test".into(),
        base_url: "http://127.0.0.1:9/shops/edge-test.myshopify.com".into(),
    }
}

/// The Order object of the repository's Shopify fixture (Shopify's REST Admin API shape).
fn fixture_order() -> String {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../tests/fixtures/events/shopify/orders/create.json"
    );
    std::fs::read_to_string(path).unwrap()
}

#[test]
fn pages_list_orders_updated_since_then_follow_page_info() {
    let a = access(None);
    assert_eq!(
        a.page_url(1_700_000_000, &Cursor::default()),
        "http://127.0.0.1:9/shops/edge-test.myshopify.com/admin/api/2025-01/orders.json?updated_at_min=2023-11-14T22:13:20.000Z&status=any&limit=250"
    );
    let next = Cursor {
        starting_after: Some("abc-_1".into()),
        ..Cursor::default()
    };
    assert_eq!(
        a.page_url(1_700_000_000, &next),
        "http://127.0.0.1:9/shops/edge-test.myshopify.com/admin/api/2025-01/orders.json?limit=250&page_info=abc-_1"
    );
    assert_eq!(a.state_key(), "shopify");
    assert_eq!(access(Some("store-a")).state_key(), "shopify:store-a");
    assert!(
        !format!("{a:?}").contains("shpat_test"),
        "no token in Debug"
    );
}

#[test]
fn the_link_header_gives_the_next_page_info() {
    let both = r#"<https://s.myshopify.com/admin/api/2025-01/orders.json?limit=250&page_info=prev1>; rel="previous", <https://s.myshopify.com/admin/api/2025-01/orders.json?limit=250&page_info=eyJsYXN0X2lkIjo0fQ-_>; rel="next""#;
    assert_eq!(
        next_page_info(Some(both)),
        Ok(Some("eyJsYXN0X2lkIjo0fQ-_".into()))
    );
    let last = r#"<https://s.myshopify.com/admin/api/2025-01/orders.json?limit=250&page_info=prev1>; rel="previous""#;
    assert_eq!(next_page_info(Some(last)), Ok(None));
    assert_eq!(next_page_info(None), Ok(None));
    for bad in [
        r#"<https://s/x?limit=250>; rel="next""#,
        r#"https://s/x?page_info=a; rel="next""#,
        r#"<https://s/x?page_info=a%27b>; rel="next""#,
    ] {
        assert_eq!(next_page_info(Some(bad)), Err("shopify_bad_link"), "{bad}");
    }
}

#[test]
fn a_listed_order_is_an_orders_updated_event_keyed_by_its_version() {
    let order = fixture_order();
    let event = order_event(&access(None), &order).unwrap();
    let key = "order:edge-test.myshopify.com:5501234567890:001710080143000:orders/updated";
    assert_eq!(event.dedupe_key, key);
    assert_eq!(event.version_key.as_deref(), Some(key));
    assert_eq!(event.event_type, "orders/updated");
    assert_eq!(event.account.as_deref(), Some(SHOP));
    assert_eq!(event.occurred_at_ms, Some(1_710_080_143_000));
    assert_eq!(event.payload, order, "the order's exact bytes");
    let scoped = order_event(&access(Some("store-a")), &order).unwrap();
    assert_eq!(scoped.dedupe_key, format!("src:store-a:{key}"));
    assert_eq!(scoped.source.as_deref(), Some("store-a"));

    let body =
        format!(r#"{{"orders":[{order},{{"id":7}},{{"updated_at":"2024-01-01T00:00:00Z"}}]}}"#);
    let page = parse_orders_page(&access(None), &body, None).unwrap();
    assert_eq!((page.events.len(), page.skipped), (1, 2));
    assert_eq!(page.newest_updated(), Some(1_710_080_143));
    assert_eq!(page.next_page_info, None);
    for bad in ["[]", "{}", r#"{"orders":{}}"#, "nope"] {
        assert_eq!(
            parse_orders_page(&access(None), bad, None).unwrap_err(),
            "shopify_malformed_page"
        );
    }
}

#[test]
fn version_keys_sort_by_time_within_one_order() {
    let key = |ms, topic| version_key(SHOP, "42", ms, topic).unwrap();
    assert!(key(999, "orders/paid") < key(1_000, "orders/create"));
    assert_eq!(
        version_key("Edge-Test.myshopify.com", "42", 5, "t"),
        version_key(SHOP, "42", 5, "t")
    );
    assert_eq!(version_key(SHOP, "4:2", 5, "t"), None);
    assert_eq!(version_key(SHOP, "42", -1, "t"), None);
    assert_eq!(version_key("", "42", 5, "t"), None);
    let (lower, upper) = at_or_after(None, SHOP, "42", 1_000).unwrap();
    assert!(lower <= key(1_000, "orders/updated") && key(1_000, "orders/updated") < upper);
    assert!(key(9_999_999, "orders/paid") < upper);
    assert!(key(999, "orders/updated") < lower);
    for other in ["420", "4", "41", "43"] {
        let k = version_key(SHOP, other, 2_000, "t").unwrap();
        assert!(
            k < lower || k >= upper,
            "order {other} is outside order 42's range"
        );
    }
}

/// Store an order event the way ingest's INSERT does: only when no event of the other origin
/// has its version key ([`other_origin_absent`]), and not on any unique-key collision.
fn store(db: &Connection, id: &str, key: &str, origin: &str) -> usize {
    let sql = format!(
        "INSERT INTO events (id, provider, dedupe_key, type, occurred_at, received_at, status, \
         version_key, origin) SELECT * FROM (VALUES (?1, 'shopify', ?1, 'orders/updated', 0, 0, \
         'accepted', ?2, ?3)) WHERE {} ON CONFLICT DO NOTHING",
        other_origin_absent("column2", "column8", "column9")
    );
    db.execute(&sql, params![id, key, origin]).unwrap()
}

fn covered(db: &Connection, ranges: &[(String, String)]) -> Vec<i64> {
    let json = serde_json::to_string(ranges).unwrap();
    let mut statement = db.prepare(STORED_AT_OR_AFTER).unwrap();
    let mut found: Vec<i64> = statement
        .query_map(params![json], |r| r.get("idx"))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    found.sort();
    found
}

#[test]
fn sql_one_event_per_exact_version_whichever_path_comes_first() {
    let db = crate::steps::lifecycle::sql_tests::database();
    let updated = version_key(SHOP, "42", 1_000, "orders/updated").unwrap();
    assert_eq!(store(&db, "webhook-evt-1", &updated, "webhook"), 1);
    assert_eq!(
        store(&db, &updated, &updated, "backfill"),
        0,
        "the reconciliation's event of the same version is a duplicate"
    );
    assert_eq!(
        store(&db, "webhook-evt-2", &updated, "webhook"),
        1,
        "a second webhook of the same second is another Shopify event: stored"
    );
    let paid = version_key(SHOP, "42", 1_000, "orders/paid").unwrap();
    assert_eq!(
        store(&db, "webhook-evt-3", &paid, "webhook"),
        1,
        "another topic is another event"
    );
    let newer = version_key(SHOP, "42", 2_000, "orders/updated").unwrap();
    assert_eq!(store(&db, &newer, &newer, "backfill"), 1);
    assert_eq!(
        store(&db, "webhook-evt-4", &newer, "webhook"),
        0,
        "a webhook after the reconciliation stored its version is a duplicate"
    );
    assert_eq!(
        store(&db, &newer, &newer, "backfill"),
        0,
        "the reconciliation run twice collides on its dedupe key"
    );
    let other_source = crate::inbound::sources::scoped_key(Some("store-a"), &updated);
    assert_eq!(
        store(&db, "webhook-evt-5", &other_source, "backfill"),
        1,
        "per source"
    );
    let none: usize = db
        .execute(
            "INSERT INTO events (id, provider, dedupe_key, type, occurred_at, received_at, status) \
             VALUES ('plain-1', 'shopify', 'plain-1', 'orders/create', 0, 0, 'accepted'), \
             ('plain-2', 'shopify', 'plain-2', 'orders/create', 0, 0, 'accepted')",
            [],
        )
        .unwrap();
    assert_eq!(none, 2, "events without a version key never collide on it");
}

#[test]
fn sql_listed_versions_at_or_before_a_stored_one_are_covered() {
    let db = crate::steps::lifecycle::sql_tests::database();
    store(
        &db,
        "w1",
        &version_key(SHOP, "42", 5_000, "orders/paid").unwrap(),
        "webhook",
    );
    store(
        &db,
        "w2",
        &version_key(SHOP, "43", 1_000, "orders/updated").unwrap(),
        "webhook",
    );
    let listed = [
        at_or_after(None, SHOP, "42", 5_000).unwrap(), // same time, other topic: covered
        at_or_after(None, SHOP, "42", 4_000).unwrap(), // older than stored: covered
        at_or_after(None, SHOP, "43", 1_001).unwrap(), // newer than stored: missing
        at_or_after(None, SHOP, "44", 0).unwrap(),     // never seen: missing
        at_or_after(None, "other.myshopify.com", "42", 0).unwrap(), // another shop
        at_or_after(Some("store-a"), SHOP, "42", 0).unwrap(), // another source
    ];
    assert_eq!(covered(&db, &listed), vec![0, 1]);
}

#[test]
fn a_page_too_large_to_read_is_asked_for_again_half_as_large() {
    let a = access(None);
    let at = Cursor {
        starting_after: Some("abc".into()),
        ..Cursor::default()
    };
    let smaller = after_page_too_large(&at);
    assert_eq!(smaller.starting_after, at.starting_after, "the same page");
    assert!(a
        .page_url(0, &smaller)
        .ends_with("?limit=125&page_info=abc"));
    // The limit survives the stored cursor (the next tick or an admin's `cursor`).
    assert_eq!(Cursor::decode(&smaller.encode()), Some(smaller.clone()));
    assert_eq!(smaller.encode(), "0:abc:125");
    let mut limits = vec![];
    let mut cursor = Cursor::default();
    for _ in 0..9 {
        cursor = after_page_too_large(&cursor);
        limits.push(page_limit(&cursor));
    }
    assert_eq!(limits, [125, 62, 31, 15, 7, 3, 1, 1, 1]);
    assert!(a.page_url(0, &cursor).ends_with("&status=any&limit=1"));
    for bad in ["0:abc:0", "0:abc:x", "0:abc:", "0:abc:1:2"] {
        assert_eq!(Cursor::decode(bad), None, "{bad}");
    }
}
