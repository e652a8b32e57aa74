//! `shopify_redact`'s statements against the migrations in SQLite, run as the shell runs them
//! (each pass one transaction, until the last says done; then the closing with the step's
//! success): what a `customers/redact` and a `shop/redact` remove, what stays, and that a page
//! bounds each run and the runs resume (also after a failed one) to the same end as one big page.
//! The world here is `shopify_export_tests`' too.

use rusqlite::{params, params_from_iter, Connection};
use serde_json::json;

use super::shopify_redact::{closing, pass, Request, Subject};
use super::{Arg, Progress, Statement};
use crate::steps::lifecycle::sql_tests::database;

pub(super) const SHOP: &str = "s.myshopify.com";
const OTHER_SHOP: &str = "t.myshopify.com";
pub(super) const CUSTOMER: &str = "207119551";
const EMAIL: &str = "mo.ny@example.com";
const PAYING: &str = "cus_Mo";

fn event(
    db: &Connection,
    id: &str,
    provider: &str,
    event_type: &str,
    account: &str,
    payload: &str,
) {
    db.execute(
        "INSERT INTO events (id, provider, dedupe_key, type, account, received_at, status, \
         payload, headers) VALUES (?1, ?2, ?1, ?3, ?4, 1, 'accepted', ?5, '{\"x\":\"1\"}')",
        params![id, provider, event_type, account, payload],
    )
    .unwrap();
}

fn shopify(db: &Connection, id: &str, event_type: &str, shop: &str, payload: serde_json::Value) {
    event(db, id, "shopify", event_type, shop, &payload.to_string());
}

/// A dead step of `event` with one attempt, both erring with `last_error` (also
/// `forget_contact_tests`').
pub(super) fn step(db: &Connection, event: &str, last_error: &str) {
    let id = format!("{event}:s");
    db.execute(
        "INSERT INTO steps (id, event_id, name, destination, status, idempotency_key, \
         created_at, updated_at, last_error) VALUES (?1, ?2, 's', 'd', 'dead', ?1, 0, 0, ?3)",
        params![id, event, last_error],
    )
    .unwrap();
    db.execute(
        "INSERT INTO attempts (step_id, n, started_at, duration_ms, status, outcome, error) \
         VALUES (?1, 1, 0, 1, 400, 'dead', ?2)",
        params![id, last_error],
    )
    .unwrap();
}

fn export(db: &Connection, id: &str, shop: &str, customer: &str, email: &str) {
    db.execute(
        "INSERT INTO privacy_requests (event_id, topic, shop_domain, customer_id, customer_email, \
         events_affected, export, done_at) VALUES (?1, 'customers/data_request', ?2, ?3, ?4, 1, \
         '[\"x\"]', 0)",
        params![id, shop, customer, email],
    )
    .unwrap();
}

/// The customer's world in every provider, beside other customers and another shop, and the
/// request last.
pub(super) fn world(db: &Connection, request_type: &str, request: serde_json::Value) {
    let customer: u64 = CUSTOMER.parse().unwrap();
    shopify(
        db,
        "order_mine",
        "orders/create",
        SHOP,
        json!({"id": 1001, "customer": {"id": customer, "first_name": "Mo"}}),
    );
    shopify(
        db,
        "order_listed",
        "orders/paid",
        SHOP,
        json!({"id": 1002, "note": "no customer"}),
    );
    shopify(
        db,
        "customer_mine",
        "customers/update",
        SHOP,
        json!({"id": customer, "first_name": "Mo"}),
    );
    shopify(
        db,
        "order_other",
        "orders/create",
        SHOP,
        json!({"id": 1003, "customer": {"id": 5}}),
    );
    shopify(
        db,
        "order_other_shop",
        "orders/create",
        OTHER_SHOP,
        json!({"id": 1001, "customer": {"id": customer}}),
    );
    let checkout = json!({"id": "evt_1", "type": "checkout.session.completed",
        "data": {"object": {"id": "cs_1", "customer": PAYING, "customer_details": {"email": "Mo.Ny@Example.com"}}}});
    event(
        db,
        "evt_checkout",
        "stripe",
        "checkout.session.completed",
        "acct",
        &checkout.to_string(),
    );
    let someone = json!({"id": "evt_2", "data": {"object": {"id": "cs_2", "customer": "cus_Other", "email": "x@example.com"}}});
    event(
        db,
        "evt_other",
        "stripe",
        "checkout.session.completed",
        "acct",
        &someone.to_string(),
    );
    event(
        db,
        "sg_mine",
        "sendgrid",
        "bounce",
        "",
        &json!({"email": "MO.NY@example.com"}).to_string(),
    );
    event(
        db,
        "sg_lookalike",
        "sendgrid",
        "bounce",
        "",
        &json!({"email": "mo.ny@example.co"}).to_string(),
    );
    // A stored non-JSON delivery quoting the address (as a JSON string, as any payload is matched).
    event(
        db,
        "not_json",
        "sendgrid",
        "rejected",
        "",
        "not json \"mo.ny@example.com\"",
    );
    step(db, "order_mine", "http_400: order refused");
    step(
        db,
        "sg_lookalike",
        &format!("http_400: Does not contain a valid address: {EMAIL}"),
    );
    step(db, "order_other", "http_500: upstream broke");
    db.execute(
        "INSERT INTO contact_links (hubspot_contact_id, stripe_customer_id, email, updated_at) \
         VALUES ('701', ?1, NULL, 0), ('702', NULL, 'Mo.Ny@example.com', 0), ('703', 'cus_Other', 'x@example.com', 0)",
        params![PAYING],
    )
    .unwrap();
    db.execute(
        "INSERT INTO stripe_customers (id, email, name, source, as_of, updated_at) \
         VALUES (?1, NULL, 'Mo Ny', 'lookup', 0, 0), ('cus_Mail', 'MO.NY@example.com', 'Mo', 'lookup', 0, 0), \
                ('cus_Other', 'x@example.com', 'X', 'lookup', 0, 0)",
        params![PAYING],
    )
    .unwrap();
    for email in [EMAIL, "x@example.com"] {
        db.execute(
            "INSERT INTO suppressions (email, reason, event_id, created_at) VALUES (?1, 'bounce', 'x', 0)",
            params![email],
        )
        .unwrap();
        db.execute(
            "INSERT INTO engagement (email, kind, count, last_at) VALUES (?1, 'open', 1, 0)",
            params![email],
        )
        .unwrap();
    }
    export(db, "export_mine", SHOP, CUSTOMER, EMAIL);
    export(db, "export_other", SHOP, "5", "x@example.com");
    export(db, "export_other_shop", OTHER_SHOP, CUSTOMER, EMAIL);
    shopify(db, "request", request_type, SHOP, request);
    step(db, "request", "d1_error");
}

fn customer_world(db: &Connection) {
    let request = json!({"shop_domain": SHOP, "customer": {"id": CUSTOMER.parse::<u64>().unwrap(),
        "email": "Mo.Ny@example.com"}, "orders_to_redact": [1002]});
    world(db, "customers/redact", request);
}

fn shop_world(db: &Connection) {
    world(db, "shop/redact", json!({"shop_domain": SHOP}));
}

const ORDERS: &[String] = &[];

pub(super) fn customer_request(orders: &[String]) -> Request<'_> {
    Request {
        event_id: "request",
        topic: "customers/redact",
        subject: Subject {
            shop_domain: SHOP,
            customer_id: Some(CUSTOMER),
            customer_email: Some(" Mo.Ny@Example.com"),
            order_ids: orders,
        },
        now_ms: 5_000,
    }
}

fn shop_request() -> Request<'static> {
    Request {
        event_id: "request",
        topic: "shop/redact",
        subject: Subject {
            shop_domain: SHOP,
            customer_id: None,
            customer_email: None,
            order_ids: ORDERS,
        },
        now_ms: 5_000,
    }
}

/// Run `statements` in one transaction; the first column of the last row any of them answered
/// (also `forget_contact_tests`' runner).
pub(super) fn transaction(db: &mut Connection, statements: &[Statement]) -> Option<i64> {
    let tx = db.transaction().unwrap();
    let mut last = None;
    for s in statements {
        let mut stmt = tx
            .prepare(&s.sql)
            .unwrap_or_else(|e| panic!("{e}: {}", s.sql));
        let mut rows = stmt
            .query(params_from_iter(s.args.iter().map(Arg::sql_value)))
            .unwrap_or_else(|e| panic!("{e}: {}", s.sql));
        if let Some(row) = rows.next().unwrap() {
            last = row.get::<_, Option<i64>>(0).unwrap();
        }
    }
    tx.commit().unwrap();
    last
}

fn run(db: &mut Connection, r: &Request<'_>, page: u64) -> Progress {
    Progress::from_done(transaction(db, &pass(r, page)))
}

/// Passes until done, then the closing; how many passes it took.
fn run_to_end(db: &mut Connection, r: &Request<'_>, page: u64) -> usize {
    for runs in 1..=1000 {
        if run(db, r, page) == Progress::Done {
            transaction(db, &closing(r));
            return runs;
        }
    }
    panic!("never done");
}

fn payload(db: &Connection, id: &str) -> Option<String> {
    db.query_row("SELECT payload FROM events WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .unwrap()
}

pub(super) fn texts(db: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = db.prepare(sql).unwrap();
    let rows = stmt
        .query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap();
    rows.map(|r| r.unwrap().unwrap_or_else(|| "NULL".into()))
        .collect()
}

pub(super) fn count(db: &Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).unwrap()
}

/// Every table a redact touches, in a stable order.
pub(super) fn everything(db: &Connection) -> Vec<String> {
    [
        "SELECT id || ' ' || coalesce(payload, 'NULL') || coalesce(headers, 'NULL') \
         || coalesce(redacted_at, 'NULL') FROM events ORDER BY id",
        "SELECT id || ' ' || last_error FROM steps ORDER BY id",
        "SELECT step_id || ' ' || error FROM attempts ORDER BY step_id",
        "SELECT hubspot_contact_id FROM contact_links ORDER BY 1",
        "SELECT id FROM stripe_customers ORDER BY 1",
        "SELECT email FROM suppressions ORDER BY 1",
        "SELECT email FROM engagement ORDER BY 1",
        "SELECT event_id || ' ' || coalesce(export, 'NULL') || ' ' || coalesce(customer_email, 'NULL') \
         || ' ' || events_affected FROM privacy_requests ORDER BY 1",
    ]
    .iter()
    .flat_map(|sql| texts(db, sql))
    .collect()
}

#[test]
fn a_customer_redact_removes_every_copy_of_the_person_and_nothing_else() {
    let mut db = database();
    customer_world(&db);
    let orders = ["1002".to_string()];
    assert_eq!(run_to_end(&mut db, &customer_request(&orders), 500), 1);

    for gone in [
        "order_mine",
        "order_listed",
        "customer_mine",
        "evt_checkout",
        "sg_mine",
        "not_json",
        "request",
    ] {
        assert_eq!(payload(&db, gone), None, "{gone}'s payload is dropped");
    }
    for kept in [
        "order_other",
        "order_other_shop",
        "evt_other",
        "sg_lookalike",
    ] {
        assert!(payload(&db, kept).is_some(), "{kept} is not the person's");
    }
    assert_eq!(
        texts(
            &db,
            "SELECT id FROM events WHERE headers IS NULL AND redacted_at = 5000 ORDER BY id"
        ),
        [
            "customer_mine",
            "evt_checkout",
            "not_json",
            "order_listed",
            "order_mine",
            "request",
            "sg_mine"
        ],
        "headers go with the payload; the rows stay, marked"
    );
    assert_eq!(
        texts(&db, "SELECT last_error FROM steps ORDER BY id"),
        [
            "http_400",
            "http_500: upstream broke",
            "d1_error",
            "http_400"
        ],
        "the person's events' errors and any quoting the address keep their code"
    );
    assert_eq!(
        texts(&db, "SELECT error FROM attempts ORDER BY step_id"),
        [
            "http_400",
            "http_500: upstream broke",
            "d1_error",
            "http_400"
        ]
    );
    assert_eq!(
        texts(&db, "SELECT hubspot_contact_id FROM contact_links"),
        ["703"]
    );
    assert_eq!(texts(&db, "SELECT id FROM stripe_customers"), ["cus_Other"]);
    assert_eq!(
        texts(&db, "SELECT email FROM suppressions"),
        ["x@example.com"]
    );
    assert_eq!(
        texts(&db, "SELECT email FROM engagement"),
        ["x@example.com"]
    );
    assert_eq!(
        texts(
            &db,
            "SELECT event_id || ' ' || coalesce(export, 'NULL') || ' ' || customer_email \
                    FROM privacy_requests WHERE event_id LIKE 'export%' ORDER BY 1"
        ),
        [
            "export_mine NULL [redacted]",
            "export_other [\"x\"] x@example.com",
            "export_other_shop [\"x\"] mo.ny@example.com"
        ]
    );
    let record: (String, String, String, Option<String>, i64, i64) = db
        .query_row(
            "SELECT topic, shop_domain, customer_id, customer_email, events_affected, done_at \
             FROM privacy_requests WHERE event_id = 'request'",
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
        record,
        (
            "customers/redact".into(),
            SHOP.into(),
            CUSTOMER.into(),
            Some("[redacted]".into()),
            7,
            5_000
        )
    );
}

#[test]
fn a_page_bounds_each_run_and_the_runs_reach_the_same_end_as_one() {
    let orders = ["1002".to_string()];
    let request = customer_request(&orders);
    let mut paged = database();
    customer_world(&paged);
    let events = count(&paged, "SELECT count(*) FROM events");
    assert_eq!(events, 11);

    // One run of a page of 2: the first two events (both the person's) and no more.
    assert_eq!(run(&mut paged, &request, 2), Progress::More);
    assert_eq!(
        texts(
            &paged,
            "SELECT id FROM events WHERE payload IS NULL ORDER BY rowid"
        ),
        ["order_mine", "order_listed"]
    );
    assert_eq!(count(&paged, "SELECT scanned_to FROM privacy_progress"), 2);
    assert_eq!(count(&paged, "SELECT affected FROM privacy_progress"), 2);
    // Nothing keyed by the address goes before every page is done.
    assert_eq!(count(&paged, "SELECT count(*) FROM suppressions"), 2);
    assert_eq!(run(&mut paged, &request, 2), Progress::More);
    assert_eq!(
        count(&paged, "SELECT count(*) FROM events WHERE payload IS NULL"),
        3,
        "the second page: customer_mine, not order_other"
    );

    // 11 events in pages of 2: six runs, the last of which ends the passes.
    assert_eq!(2 + run_to_end(&mut paged, &request, 2), 6);
    let mut whole = database();
    customer_world(&whole);
    run_to_end(&mut whole, &request, 500);
    assert_eq!(
        everything(&paged),
        everything(&whole),
        "paging changes nothing of the outcome"
    );

    // Done stays done: a repeat changes nothing.
    let before = everything(&paged);
    assert_eq!(run(&mut paged, &request, 2), Progress::Done);
    transaction(&mut paged, &closing(&request));
    assert_eq!(everything(&paged), before);
}

#[test]
fn the_request_keeps_its_payload_until_the_closing_so_every_run_can_plan_it() {
    let orders = ["1002".to_string()];
    let request = customer_request(&orders);
    let mut db = database();
    customer_world(&db);
    assert_eq!(closing(&request).len(), 4);
    transaction(&mut db, &closing(&request));
    assert!(
        payload(&db, "request").is_some(),
        "no closing before the passes are done"
    );
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM privacy_requests WHERE event_id = 'request'"
        ),
        0
    );
    for page in 1..=11 {
        let progress = run(&mut db, &request, 1);
        assert!(payload(&db, "request").is_some(), "after pass {page}");
        assert_eq!(progress == Progress::Done, page == 11);
    }
    transaction(&mut db, &closing(&request));
    assert_eq!(payload(&db, "request"), None);
}

#[test]
fn a_run_that_fails_leaves_nothing_and_the_next_resumes_from_the_last_committed_page() {
    let orders = ["1002".to_string()];
    let request = customer_request(&orders);
    let mut db = database();
    customer_world(&db);
    assert_eq!(run(&mut db, &request, 3), Progress::More);
    let after_first = everything(&db);
    // The second run fails half-way (D1 rolls the batch back): nothing of it stays.
    {
        let tx = db.transaction().unwrap();
        let statements = pass(&request, 3);
        for s in &statements[..statements.len() / 2] {
            tx.prepare(&s.sql)
                .unwrap()
                .query(params_from_iter(s.args.iter().map(Arg::sql_value)))
                .unwrap()
                .next()
                .unwrap();
        }
        tx.rollback().unwrap();
    }
    assert_eq!(everything(&db), after_first);
    assert_eq!(count(&db, "SELECT scanned_to FROM privacy_progress"), 3);
    run_to_end(&mut db, &request, 3);

    let mut whole = database();
    customer_world(&whole);
    run_to_end(&mut whole, &request, 500);
    assert_eq!(
        everything(&db),
        everything(&whole),
        "the resumed request ends where one run does"
    );
}

#[test]
fn a_shop_redact_removes_every_event_and_export_of_the_shop_only() {
    let mut paged = database();
    shop_world(&paged);
    assert_eq!(run_to_end(&mut paged, &shop_request(), 3), 4);
    assert_eq!(
        texts(
            &paged,
            "SELECT id FROM events WHERE payload IS NULL ORDER BY id"
        ),
        [
            "customer_mine",
            "order_listed",
            "order_mine",
            "order_other",
            "request"
        ]
    );
    assert_eq!(
        texts(&paged, "SELECT last_error FROM steps ORDER BY id"),
        [
            "http_400",
            "http_500",
            "d1_error",
            "http_400: Does not contain a valid address: mo.ny@example.com"
        ],
        "no address: only the shop's events' errors are cut"
    );
    assert_eq!(
        count(&paged, "SELECT count(*) FROM suppressions"),
        2,
        "nothing keyed by an address"
    );
    assert_eq!(count(&paged, "SELECT count(*) FROM contact_links"), 3);
    assert_eq!(
        texts(
            &paged,
            "SELECT event_id || ' ' || coalesce(export, 'NULL') FROM privacy_requests \
                       WHERE event_id LIKE 'export%' ORDER BY 1"
        ),
        [
            "export_mine NULL",
            "export_other NULL",
            "export_other_shop [\"x\"]"
        ]
    );
    let record: (Option<String>, Option<String>, i64) = paged
        .query_row(
            "SELECT customer_id, customer_email, events_affected FROM privacy_requests WHERE event_id = 'request'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap();
    assert_eq!(record, (None, None, 5));

    let mut whole = database();
    shop_world(&whole);
    run_to_end(&mut whole, &shop_request(), 500);
    assert_eq!(everything(&paged), everything(&whole));
}

#[test]
fn a_shop_redact_removes_the_shops_rejected_deliveries_too() {
    // up: the rejected row is ingest's (the top composite); its shop is what the redact finds.
    use crate::inbound::webhook::{InboundRequest, Provider};
    use crate::ingest::rejected::{account, insert_sql, stored_body};
    let mut db = database();
    shop_world(&db);
    let headers = vec![("X-Shopify-Shop-Domain".to_string(), SHOP.to_string())];
    let body = br#"{"customer": {"email": "mo.ny@example.com"}"#;
    let request = InboundRequest {
        method: "POST",
        url: "https://h.example/webhooks/shopify",
        headers: &headers,
        body,
    };
    db.execute(
        &insert_sql(),
        params![
            "rejected",
            "shopify",
            "rejected:1",
            1,
            0,
            stored_body(body).text.as_ref(),
            body.len() as i64,
            "invalid_json",
            None::<String>,
            "{\"x\":\"1\"}",
            account(Provider::Shopify, &request)
        ],
    )
    .unwrap();
    run_to_end(&mut db, &shop_request(), 500);
    assert_eq!(payload(&db, "rejected"), None);
    assert_eq!(
        texts(
            &db,
            "SELECT coalesce(headers, 'NULL') FROM events WHERE id = 'rejected'"
        ),
        ["NULL"]
    );
}
