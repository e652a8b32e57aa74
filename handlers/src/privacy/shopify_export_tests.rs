//! `shopify_export`'s statements against the migrations in SQLite, over the world of
//! `shopify_redact_tests`, run as the shell runs them (each pass one transaction, until the last
//! says done): a `customers/data_request` exports what a `customers/redact` removes, oldest first,
//! and pages (also after a failed run) reach the same export as one big page.

use rusqlite::{params_from_iter, Connection};
use serde_json::json;

use super::shopify_export as export;
use super::shopify_redact_tests::{
    count, customer_request, everything, texts, transaction, world, CUSTOMER, SHOP,
};
use super::{Arg, Progress};
use crate::steps::lifecycle::sql_tests::database;

fn export_request(orders: &[String]) -> export::Request<'_> {
    export::Request {
        event_id: "request",
        topic: "customers/data_request",
        subject: customer_request(orders).subject,
        now_ms: 5_000,
        expires_at_ms: 9_000,
    }
}

fn export_world(db: &Connection) {
    let request = json!({"shop_domain": SHOP, "customer": {"id": CUSTOMER.parse::<u64>().unwrap(),
        "email": "Mo.Ny@example.com"}, "orders_requested": [1002], "data_request": {"id": 9}});
    world(db, "customers/data_request", request);
}

/// Export passes until done; how many it took.
fn export_to_end(db: &mut Connection, r: &export::Request<'_>, page: u64) -> usize {
    for runs in 1..=1000 {
        if Progress::from_done(transaction(db, &export::pass(r, page))) == Progress::Done {
            return runs;
        }
    }
    panic!("never done");
}

/// The request's record: its export's event ids in order, and the rest of the row.
fn exported(db: &Connection) -> (Vec<String>, String) {
    let (export, rest): (String, String) = db
        .query_row(
            "SELECT export, topic || ' ' || customer_id || ' ' || customer_email || ' ' \
             || events_affected || ' ' || done_at || ' ' || export_expires_at \
             FROM privacy_requests WHERE event_id = 'request'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    let events: Vec<serde_json::Value> = serde_json::from_str(&export).unwrap();
    let ids = events
        .iter()
        .map(|e| e["id"].as_str().unwrap().to_string())
        .collect();
    (ids, rest)
}

#[test]
fn an_export_collects_over_pages_the_subject_a_redact_removes() {
    let orders = ["1002".to_string()];
    let request = export_request(&orders);
    let mut db = database();
    export_world(&db);
    assert_eq!(
        export_to_end(&mut db, &request, 2),
        6,
        "11 events in pages of 2"
    );
    let (ids, rest) = exported(&db);
    assert_eq!(
        ids,
        [
            "order_mine",
            "order_listed",
            "customer_mine",
            "evt_checkout",
            "sg_mine",
            "not_json",
            "request"
        ],
        "the events a customer redact removes, oldest first"
    );
    assert_eq!(
        rest,
        "customers/data_request 207119551  Mo.Ny@Example.com 7 5000 9000"
    );
    let export: String = db
        .query_row(
            "SELECT export FROM privacy_requests WHERE event_id = 'request'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let first: serde_json::Value =
        serde_json::from_str::<Vec<serde_json::Value>>(&export).unwrap()[0].clone();
    assert_eq!(first["provider"], "shopify");
    assert_eq!(first["type"], "orders/create");
    assert_eq!(first["received_at"], 1);
    let payload: serde_json::Value =
        serde_json::from_str(first["payload"].as_str().unwrap()).unwrap();
    assert_eq!(payload["id"], 1001, "the payload as the stored text");
    assert_eq!(
        count(
            &db,
            "SELECT count(*) FROM privacy_progress WHERE export IS NULL AND done_at = 5000"
        ),
        1,
        "the progress row keeps no copy"
    );

    let mut whole = database();
    export_world(&whole);
    assert_eq!(export_to_end(&mut whole, &request, 500), 1);
    assert_eq!(
        everything(&whole),
        everything(&db),
        "paging changes nothing of the outcome"
    );

    // Done stays done.
    let before = everything(&db);
    assert_eq!(export_to_end(&mut db, &request, 2), 1);
    assert_eq!(everything(&db), before);
}

#[test]
fn an_export_run_that_fails_leaves_nothing_and_the_next_resumes() {
    let orders = ["1002".to_string()];
    let request = export_request(&orders);
    let mut db = database();
    export_world(&db);
    transaction(&mut db, &export::pass(&request, 3));
    let progress = |db: &Connection| {
        texts(
            db,
            "SELECT scanned_to || ' ' || export FROM privacy_progress",
        )
    };
    let after_first = progress(&db);
    {
        let tx = db.transaction().unwrap();
        for s in &export::pass(&request, 3)[..3] {
            tx.prepare(&s.sql)
                .unwrap()
                .query(params_from_iter(s.args.iter().map(Arg::sql_value)))
                .unwrap()
                .next()
                .unwrap();
        }
        tx.rollback().unwrap();
    }
    assert_eq!(progress(&db), after_first);
    export_to_end(&mut db, &request, 3);
    let mut whole = database();
    export_world(&whole);
    export_to_end(&mut whole, &request, 500);
    assert_eq!(exported(&db), exported(&whole));
}
