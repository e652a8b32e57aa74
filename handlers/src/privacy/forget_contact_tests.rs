//! `forget_contact`'s statements against the migrations in SQLite, run as the shell runs them
//! (one transaction per run, in order, until the last says done): what is removed, what stays
//! for the admin, and that pages bound each run and resume where the last stopped.

use rusqlite::{params, Connection};
use serde_json::json;

use super::forget_contact::{statements, Progress, Request};
use super::shopify_redact_tests::{step, transaction};
use crate::steps::lifecycle::sql_tests::database;

const CONTACT: &str = "51234567890";
const CUSTOMER: &str = "cus_Pat";
const EMAIL: &str = "pat.doe@example.com";
const OTHER_EMAIL: &str = "pat.alt@example.com";

fn event(db: &Connection, id: &str, provider: &str, event_type: &str, payload: &str) {
    db.execute(
        "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload) \
         VALUES (?1, ?2, ?1, ?3, 1, 'accepted', ?4)",
        params![id, provider, event_type, payload],
    )
    .unwrap();
}

fn hubspot(db: &Connection, id: &str, contact: &str, property: &str, value: &str) {
    let payload = json!({"eventId": 1, "subscriptionType": "contact.propertyChange",
        "objectId": contact.parse::<u64>().unwrap(), "propertyName": property, "propertyValue": value});
    event(
        db,
        id,
        "hubspot",
        "contact.propertyChange",
        &payload.to_string(),
    );
}

fn stripe(db: &Connection, id: &str, event_type: &str, object: serde_json::Value) {
    let payload = json!({"id": id, "type": event_type, "data": {"object": object}});
    event(db, id, "stripe", event_type, &payload.to_string());
}

fn sendgrid(db: &Connection, id: &str, email: &str) {
    let payload = json!({"email": email, "event": "bounce", "sg_event_id": id});
    event(db, id, "sendgrid", "bounce", &payload.to_string());
}

/// The person's world: a contact linked to a Stripe customer, and their events in every
/// provider, beside another person's.
fn world(db: &Connection) {
    db.execute(
        "INSERT INTO contact_links (hubspot_contact_id, stripe_customer_id, updated_at) VALUES (?1, ?2, 0)",
        params![CONTACT, CUSTOMER],
    )
    .unwrap();
    db.execute(
        "INSERT INTO stripe_customers (id, email, name, source, as_of, updated_at) \
         VALUES (?1, ' Pat.Doe@Example.com', 'Pat Doe', 'customer.created', 0, 0), \
                ('cus_Other', 'someone@example.com', 'Some One', 'lookup', 0, 0)",
        params![CUSTOMER],
    )
    .unwrap();
    hubspot(db, "hs_name", CONTACT, "firstname", "Pat");
    hubspot(db, "hs_email", CONTACT, "email", "Pat.Alt@example.com");
    hubspot(db, "hs_other", "999", "firstname", "Al");
    stripe(
        db,
        "evt_checkout",
        "checkout.session.completed",
        json!({"id": "cs_1", "customer": CUSTOMER, "customer_details": {"email": EMAIL}}),
    );
    stripe(
        db,
        "evt_customer",
        "customer.updated",
        json!({"id": CUSTOMER, "object": "customer", "name": "Pat Doe"}),
    );
    stripe(
        db,
        "evt_sub",
        "customer.subscription.updated",
        json!({"id": "sub_1", "customer": CUSTOMER}),
    );
    stripe(
        db,
        "evt_other",
        "customer.updated",
        json!({"id": "cus_Other", "email": "someone@example.com"}),
    );
    sendgrid(db, "sg_pat", "PAT.DOE@example.com");
    sendgrid(db, "sg_alt", OTHER_EMAIL);
    sendgrid(db, "sg_other", "someone@example.com");
    sendgrid(db, "sg_lookalike", "pat.doe@example.co");
    event(
        db,
        "shop_order",
        "shopify",
        "orders/create",
        &json!({"id": 7, "email": EMAIL}).to_string(),
    );
    event(db, "not_json", "sendgrid", "rejected", "not json at all");
    step(db, "evt_checkout", "http_400: not a valid address");
    step(
        db,
        "evt_other",
        &format!("http_400: Does not contain a valid address: {EMAIL}"),
    );
    step(db, "sg_other", "http_500: upstream broke");
    for (email, reason) in [
        (EMAIL, "bounce"),
        (OTHER_EMAIL, "spamreport"),
        ("someone@example.com", "bounce"),
    ] {
        db.execute(
            "INSERT INTO suppressions (email, reason, event_id, created_at) VALUES (?1, ?2, 'x', 0)",
            params![email, reason],
        )
        .unwrap();
        db.execute(
            "INSERT INTO engagement (email, kind, count, last_at) VALUES (?1, 'open', 1, 0)",
            params![email],
        )
        .unwrap();
    }
    let request =
        json!({"subscriptionType": "contact.privacyDeletion", "objectId": 51234567890_u64});
    event(
        db,
        "hs_request",
        "hubspot",
        "contact.privacyDeletion",
        &request.to_string(),
    );
}

fn request(page: u64) -> Request<'static> {
    Request {
        event_id: "hs_request",
        topic: "contact.privacyDeletion",
        contact_id: CONTACT,
        page,
        now_ms: 5_000,
    }
}

/// One run: every statement in one transaction; what the last one says.
fn run(db: &mut Connection, r: &Request<'_>) -> Progress {
    Progress::from_done(transaction(db, &statements(r)))
}

/// Runs until done; how many it took.
fn run_to_end(db: &mut Connection, r: &Request<'_>) -> usize {
    for runs in 1..=1000 {
        if run(db, r) == Progress::Done {
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

fn headers(db: &Connection, id: &str) -> Option<String> {
    db.query_row("SELECT headers FROM events WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .unwrap()
}

fn texts(db: &Connection, sql: &str) -> Vec<String> {
    let mut stmt = db.prepare(sql).unwrap();
    let rows = stmt
        .query_map([], |r| r.get::<_, Option<String>>(0))
        .unwrap();
    rows.map(|r| r.unwrap().unwrap_or_default()).collect()
}

fn everything(db: &Connection) -> String {
    [
        "SELECT payload FROM events",
        "SELECT last_error FROM steps",
        "SELECT error FROM attempts",
        "SELECT email FROM suppressions",
        "SELECT email FROM engagement",
        "SELECT coalesce(email, '') || stripe_customer_id FROM contact_links",
        "SELECT id || coalesce(email, '') FROM stripe_customers",
        "SELECT emails || customers FROM privacy_progress",
    ]
    .iter()
    .flat_map(|sql| texts(db, sql))
    .collect::<Vec<_>>()
    .join("\n")
    .to_lowercase()
}

#[test]
fn forgets_every_copy_of_the_person_and_keeps_the_rows_an_admin_needs() {
    let mut db = database();
    world(&db);
    db.execute("UPDATE events SET headers = '{\"user-agent\":\"x\"}'", [])
        .unwrap();
    assert_eq!(
        run_to_end(&mut db, &request(500)),
        1,
        "a small table is one run"
    );

    for gone in [
        "hs_name",
        "hs_email",
        "hs_request",
        "evt_checkout",
        "evt_customer",
        "evt_sub",
        "sg_pat",
        "sg_alt",
        "shop_order",
    ] {
        assert_eq!(payload(&db, gone), None, "{gone}'s payload is dropped");
        assert_eq!(headers(&db, gone), None, "{gone}'s headers go with it");
    }
    for kept in [
        "hs_other",
        "evt_other",
        "sg_other",
        "sg_lookalike",
        "not_json",
    ] {
        assert!(payload(&db, kept).is_some(), "{kept} is another person's");
        assert!(headers(&db, kept).is_some(), "{kept} keeps its headers");
    }
    let all = everything(&db);
    for trace in [
        EMAIL,
        OTHER_EMAIL,
        CUSTOMER.to_lowercase().as_str(),
        "pat doe",
    ] {
        assert!(!all.contains(trace), "{trace} is nowhere: {all}");
    }
    // The rows stay, marked, with their ids and statuses; errors keep their code.
    let (status, redacted_at): (String, Option<i64>) = db
        .query_row(
            "SELECT status, redacted_at FROM events WHERE id = 'evt_customer'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((status.as_str(), redacted_at), ("accepted", Some(5_000)));
    assert_eq!(
        texts(&db, "SELECT last_error FROM steps ORDER BY id"),
        ["http_400", "http_400", "http_500: upstream broke"]
    );
    assert_eq!(
        texts(&db, "SELECT error FROM attempts ORDER BY id"),
        ["http_400", "http_400", "http_500: upstream broke"]
    );
    assert_eq!(
        texts(&db, "SELECT email FROM suppressions"),
        ["someone@example.com"]
    );
    assert_eq!(
        texts(&db, "SELECT email FROM engagement"),
        ["someone@example.com"]
    );
    assert_eq!(texts(&db, "SELECT id FROM stripe_customers"), ["cus_Other"]);
    assert_eq!(
        texts(&db, "SELECT hubspot_contact_id FROM contact_links"),
        Vec::<String>::new()
    );
    let record: (String, String, i64, Option<String>) = db
        .query_row("SELECT topic, customer_id, events_affected, customer_email FROM privacy_requests WHERE event_id = 'hs_request'", [], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
        })
        .unwrap();
    assert_eq!(
        record,
        ("contact.privacyDeletion".into(), CONTACT.into(), 9, None)
    );
}

#[test]
fn pages_bound_each_run_and_resume_to_the_same_end() {
    let mut paged = database();
    world(&paged);
    let events: i64 = paged
        .query_row("SELECT count(*) FROM events", [], |r| r.get(0))
        .unwrap();
    assert_eq!(events, 14);

    // Page of 3: the first run only looks (find pass), so nothing is dropped yet.
    assert_eq!(run(&mut paged, &request(3)), Progress::More);
    let dropped: i64 = paged
        .query_row(
            "SELECT count(*) FROM events WHERE payload IS NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(dropped, 0);
    let progress: (String, i64) = paged
        .query_row("SELECT phase, scanned_to FROM privacy_progress", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })
        .unwrap();
    assert_eq!(
        progress,
        ("find".into(), 3),
        "one page of three events scanned"
    );

    // 14 events in pages of 3: five find pages (the fifth also does the first redact page),
    // then four more redact pages, the last of which finishes.
    assert_eq!(1 + run_to_end(&mut paged, &request(3)), 9);

    let mut whole = database();
    world(&whole);
    run_to_end(&mut whole, &request(500));
    assert_eq!(
        everything(&paged),
        everything(&whole),
        "paging changes nothing of the outcome"
    );
    let affected = |db: &Connection| -> i64 {
        db.query_row("SELECT events_affected FROM privacy_requests", [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    assert_eq!(affected(&paged), affected(&whole));
}

#[test]
fn the_request_keeps_its_own_payload_until_the_run_that_finishes_it() {
    let mut db = database();
    world(&db);
    // Stored after the request, before its first run: they put the request in an early page.
    for n in 0..6 {
        sendgrid(&db, &format!("sg_after_{n}"), "nobody@example.com");
    }
    let mut runs = 0;
    loop {
        runs += 1;
        let progress = run(&mut db, &request(3));
        if progress == Progress::Done {
            break;
        }
        assert!(
            payload(&db, "hs_request").is_some(),
            "run {runs} left pages to do, so the step still needs its payload"
        );
    }
    assert!(runs > 2);
    assert_eq!(payload(&db, "hs_request"), None);
    let mut whole = database();
    world(&whole);
    for n in 0..6 {
        sendgrid(&whole, &format!("sg_after_{n}"), "nobody@example.com");
    }
    run_to_end(&mut whole, &request(500));
    assert_eq!(everything(&db), everything(&whole));
}

#[test]
fn a_finished_request_does_nothing_again_and_a_new_event_of_the_person_is_not_rescanned() {
    let mut db = database();
    world(&db);
    run_to_end(&mut db, &request(4));
    sendgrid(&db, "sg_later", EMAIL);
    let before = everything(&db);
    assert_eq!(run(&mut db, &request(4)), Progress::Done);
    assert_eq!(everything(&db), before);
    let rows: i64 = db
        .query_row("SELECT count(*) FROM privacy_requests", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 1);
}

#[test]
fn a_contact_with_no_link_is_found_by_its_hubspot_events_and_their_address() {
    let mut db = database();
    hubspot(&db, "hs_email", CONTACT, "email", EMAIL);
    sendgrid(&db, "sg_pat", EMAIL);
    sendgrid(&db, "sg_other", "someone@example.com");
    db.execute(
        "INSERT INTO suppressions (email, reason, event_id, created_at) VALUES (?1, 'bounce', 'x', 0)",
        params![EMAIL],
    )
    .unwrap();
    let request_payload =
        json!({"subscriptionType": "contact.privacyDeletion", "objectId": 51234567890_u64});
    event(
        &db,
        "hs_request",
        "hubspot",
        "contact.privacyDeletion",
        &request_payload.to_string(),
    );
    run_to_end(&mut db, &request(1));
    assert_eq!(
        payload(&db, "sg_pat"),
        None,
        "found by the address the contact's own event gave"
    );
    assert!(payload(&db, "sg_other").is_some());
    assert!(!everything(&db).contains(EMAIL));
}
