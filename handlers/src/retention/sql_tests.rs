//! Retention's SQL against its rules, on an in-memory SQLite with every migration applied: a
//! deletion batch removes exactly the chosen events with their steps and attempts and leaves a
//! tombstone for each of them within its window; nothing with a step not finished for good loses
//! a row or its payload; tombstones make ingest's insert see a duplicate until they expire.

use rusqlite::{params, Connection};

use super::budget::Deleted;
use super::sql::{self, deletion_batch, purge_payloads, EXPIRE_TOMBSTONES};
use super::tombstones::{absent, window_ms, CONTENT_KEY_WINDOW_MS};
use crate::inbound::webhook::Provider;
use crate::steps::lifecycle::sql_tests::database;
use crate::steps::lifecycle::StepStatus;

const DAY: i64 = 86_400_000;
const NOW: i64 = 1_000 * DAY;
const CUTOFF: i64 = NOW - DAY;

fn add_event(db: &Connection, id: &str, provider: &str, received_at: i64, status: &str) {
    db.execute(
        "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload, \
         payload_bytes, content_key) VALUES (?1, ?2, 'key:' || ?1, 't', ?3, ?4, '{\"a\":1}', 7, \
         CASE ?2 WHEN 'shopify' THEN 'digest:' || ?1 END)",
        params![id, provider, received_at, status],
    )
    .expect("event");
}

fn add_step(db: &Connection, event: &str, name: &str, status: StepStatus, attempts: i64) {
    let id = format!("{event}:{name}");
    db.execute(
        "INSERT INTO steps (id, event_id, name, destination, status, idempotency_key, created_at, \
         updated_at) VALUES (?1, ?2, ?3, 'hubspot', ?4, ?1, 0, 0)",
        params![id, event, name, status.as_str()],
    )
    .expect("step");
    for n in 1..=attempts {
        db.execute(
            "INSERT INTO attempts (step_id, n, started_at, duration_ms, outcome) \
             VALUES (?1, ?2, 0, 5, 'retry')",
            params![id, n],
        )
        .expect("attempt");
    }
}

fn count(db: &Connection, sql: &str) -> i64 {
    db.query_row(sql, [], |r| r.get(0)).expect("count")
}

fn ids(db: &Connection, sql: &str) -> Vec<String> {
    let mut statement = db.prepare(sql).expect("prepares");
    let rows = statement.query_map([], |r| r.get(0)).expect("runs");
    rows.map(|r| r.expect("row")).collect()
}

/// One deletion batch as the shell runs it: the four statements in one transaction.
fn delete_batch(db: &mut Connection, limit: i64) -> Deleted {
    let tx = db.transaction().expect("transaction");
    let [tombstones, attempts, steps, events] = deletion_batch();
    let deleted = Deleted {
        tombstones: tx
            .execute(&tombstones, params![CUTOFF, limit, NOW])
            .expect("tombstones") as u64,
        attempts: tx
            .execute(&attempts, params![CUTOFF, limit])
            .expect("attempts") as u64,
        steps: tx.execute(&steps, params![CUTOFF, limit]).expect("steps") as u64,
        events: tx.execute(&events, params![CUTOFF, limit]).expect("events") as u64,
    };
    tx.commit().expect("commit");
    deleted
}

/// Every status that is not finished for good keeps its event: waiting (`pending`,
/// `enqueued`), in flight (`running`) or waiting for an admin (`dead`).
const UNFINISHED: [StepStatus; 4] = [
    StepStatus::Pending,
    StepStatus::Enqueued,
    StepStatus::Running,
    StepStatus::Dead,
];

#[test]
fn a_batch_deletes_finished_events_with_their_rows_and_leaves_tombstones() {
    let mut db = database();
    let old = CUTOFF - 1_000;
    add_event(&db, "done", "stripe", old, "accepted");
    add_step(
        &db,
        "done",
        "hubspot.upsert_contact",
        StepStatus::Succeeded,
        2,
    );
    add_step(&db, "done", "sendgrid.send", StepStatus::SkippedStale, 1);
    add_event(&db, "no_steps", "sendgrid", old - DAY, "accepted"); // past SendGrid's window
    add_event(&db, "rejected", "hubspot", old, "rejected");
    add_event(&db, "shop", "shopify", old, "accepted");
    add_step(&db, "shop", "slack.notify", StepStatus::Skipped, 0);
    for (i, status) in UNFINISHED.iter().enumerate() {
        let id = format!("kept_{}", status.as_str());
        add_event(&db, &id, "stripe", old - i as i64, "accepted");
        add_step(&db, &id, "hubspot.upsert_contact", StepStatus::Succeeded, 1);
        add_step(&db, &id, "sendgrid.send", *status, 1);
    }
    add_event(&db, "fresh", "stripe", CUTOFF + 1, "accepted");

    let deleted = delete_batch(&mut db, 100);
    assert_eq!(
        deleted,
        Deleted {
            events: 4,
            steps: 3,
            attempts: 3,
            tombstones: 2
        }
    );
    let left = ids(&db, "SELECT id FROM events ORDER BY id");
    assert_eq!(
        left,
        [
            "fresh",
            "kept_dead",
            "kept_enqueued",
            "kept_pending",
            "kept_running"
        ]
    );
    assert_eq!(
        count(&db, "SELECT COUNT(*) FROM steps"),
        8,
        "kept events keep every step"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM attempts"), 8);
    let payloads = count(&db, "SELECT COUNT(*) FROM events WHERE payload IS NOT NULL");
    assert_eq!(payloads, 5, "no kept event loses its payload");
    // Tombstones: the accepted events within their window (Stripe 30 days, Shopify 90 days,
    // with the Shopify body's digest); not the rejected row, not SendGrid's past its 2 days.
    let tombstones: Vec<(String, String, Option<String>, i64)> = {
        let mut s = db
            .prepare(
                "SELECT provider, dedupe_key, content_key, expires_at - received_at \
                 FROM dedupe_tombstones ORDER BY provider",
            )
            .unwrap();
        let rows = s
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap();
        rows.map(Result::unwrap).collect()
    };
    assert_eq!(
        tombstones,
        [
            (
                "shopify".into(),
                "key:shop".into(),
                Some("digest:shop".into()),
                window_ms(Provider::Shopify)
            ),
            (
                "stripe".into(),
                "key:done".into(),
                None,
                window_ms(Provider::Stripe)
            ),
        ]
    );
    // Nothing more to delete: the next batch is empty.
    assert_eq!(delete_batch(&mut db, 100), Deleted::default());
}

#[test]
fn a_batch_takes_the_oldest_events_and_tombstones_exactly_those() {
    let mut db = database();
    for i in 0..10 {
        let id = format!("e{i}");
        add_event(&db, &id, "stripe", CUTOFF - 10_000 + i, "accepted");
        add_step(&db, &id, "sendgrid.send", StepStatus::Succeeded, 1);
    }
    let first = delete_batch(&mut db, 4);
    assert_eq!((first.events, first.tombstones, first.steps), (4, 4, 4));
    assert_eq!(
        ids(
            &db,
            "SELECT dedupe_key FROM dedupe_tombstones ORDER BY received_at"
        ),
        ["key:e0", "key:e1", "key:e2", "key:e3"]
    );
    assert_eq!(
        ids(&db, "SELECT id FROM events ORDER BY received_at LIMIT 1"),
        ["e4"]
    );
    // Equal receive times: still one order (rowid) for every statement of the batch.
    db.execute("UPDATE events SET received_at = 5", []).unwrap();
    let second = delete_batch(&mut db, 3);
    assert_eq!(
        (second.events, second.tombstones),
        (3, 0),
        "5 ms after 1970: past every window"
    );
    assert_eq!(count(&db, "SELECT COUNT(*) FROM steps"), 3);
    assert_eq!(
        ids(&db, "SELECT id FROM events ORDER BY rowid"),
        ["e7", "e8", "e9"]
    );
}

#[test]
fn the_batch_selection_reads_the_received_index_without_sorting() {
    let db = database();
    for statement in deletion_batch().iter().chain([&purge_payloads()]) {
        let plan = ids_of_plan(&db, statement);
        assert!(
            plan.iter().any(|line| line.contains("events_received")),
            "{statement}: {plan:?}"
        );
        assert!(
            !plan
                .iter()
                .any(|line| line.contains("TEMP B-TREE FOR ORDER BY")),
            "{statement}: {plan:?}"
        );
    }
}

fn ids_of_plan(db: &Connection, statement: &str) -> Vec<String> {
    let mut s = db
        .prepare(&format!("EXPLAIN QUERY PLAN {statement}"))
        .expect("plan");
    let nulls = vec![rusqlite::types::Null; s.parameter_count()];
    let rows = s
        .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
        .expect("plan rows");
    rows.map(Result::unwrap).collect()
}

/// Regression (issue 23): the purge dropped the payloads of events whose steps were waiting,
/// running or dead; a redrive then ended `payload_unavailable`.
#[test]
fn the_purge_never_drops_the_payload_of_unfinished_work() {
    let db = database();
    let old = CUTOFF - 1_000;
    for status in StepStatus::ALL {
        let id = format!("ev_{}", status.as_str());
        add_event(&db, &id, "stripe", old, "accepted");
        add_step(&db, &id, "hubspot.upsert_contact", StepStatus::Succeeded, 0);
        add_step(&db, &id, "sendgrid.send", status, 0);
    }
    add_event(&db, "fresh", "stripe", CUTOFF + 5, "accepted");
    db.execute("UPDATE events SET headers = '{}'", []).unwrap();
    let purged = db
        .execute(&purge_payloads(), params![CUTOFF, 100, NOW])
        .unwrap();
    assert_eq!(purged, 3);
    for status in StepStatus::ALL {
        let (payload, redacted, headers): (Option<String>, Option<i64>, Option<String>) = db
            .query_row(
                "SELECT payload, redacted_at, headers FROM events WHERE id = ?1",
                [format!("ev_{}", status.as_str())],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        if status.is_finished() {
            assert_eq!((payload, redacted), (None, Some(NOW)), "{status:?}");
            assert_eq!(headers, None, "the headers go with the payload");
        } else {
            assert_eq!(
                payload.as_deref(),
                Some("{\"a\":1}"),
                "{status:?} keeps its payload"
            );
        }
    }
    assert_eq!(
        count(
            &db,
            "SELECT COUNT(*) FROM events WHERE id = 'fresh' AND payload IS NOT NULL"
        ),
        1
    );
}

#[test]
fn the_purge_stops_at_its_limit_oldest_first() {
    let db = database();
    for i in 0..5 {
        add_event(
            &db,
            &format!("p{i}"),
            "stripe",
            CUTOFF - 100 + i,
            "accepted",
        );
    }
    assert_eq!(
        db.execute(&purge_payloads(), params![CUTOFF, 2, NOW])
            .unwrap(),
        2
    );
    assert_eq!(
        ids(
            &db,
            "SELECT id FROM events WHERE payload IS NULL ORDER BY id"
        ),
        ["p0", "p1"]
    );
}

#[test]
fn expired_tombstones_go_away_within_the_limit() {
    let db = database();
    for (key, expires_at) in [("a", NOW - 2), ("b", NOW - 1), ("c", NOW), ("d", NOW + 1)] {
        db.execute(
            "INSERT INTO dedupe_tombstones (provider, dedupe_key, received_at, expires_at) \
             VALUES ('stripe', ?1, 0, ?2)",
            params![key, expires_at],
        )
        .unwrap();
    }
    assert_eq!(db.execute(EXPIRE_TOMBSTONES, params![NOW, 2]).unwrap(), 2);
    assert_eq!(db.execute(EXPIRE_TOMBSTONES, params![NOW, 2]).unwrap(), 1);
    assert_eq!(
        ids(&db, "SELECT dedupe_key FROM dedupe_tombstones"),
        ["d"],
        "a tombstone expiring later stays"
    );
}

/// An insert shaped like ingest's (`src/db/ingest.rs`: a VALUES row, the core's conditions,
/// `ON CONFLICT DO NOTHING RETURNING id`): whether the event is stored as new.
fn ingest(db: &Connection, provider: &str, key: &str, content: Option<&str>, now: i64) -> bool {
    let sql = format!(
        "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, content_key) \
         SELECT * FROM (VALUES (?1, ?2, ?3, 't', ?4, 'accepted', ?5)) WHERE {} \
         ON CONFLICT DO NOTHING RETURNING id",
        absent("?2", "column3", "column7", "?4")
    );
    let id = format!("{provider}/{key}");
    let mut s = db.prepare(&sql).unwrap();
    let mut rows = s.query(params![id, provider, key, now, content]).unwrap();
    rows.next().unwrap().is_some()
}

#[test]
fn a_live_tombstone_makes_a_redelivery_a_duplicate_until_it_expires() {
    let mut db = database();
    add_event(&db, "evt_1", "stripe", CUTOFF - 5, "accepted");
    add_event(&db, "order", "shopify", CUTOFF - 5, "accepted");
    assert_eq!(delete_batch(&mut db, 10).events, 2);
    // Stripe re-signs a retry: same event id.
    assert!(!ingest(&db, "stripe", "key:evt_1", None, NOW));
    // A captured Shopify body with fresh unsigned ids: same body digest, new dedupe key.
    assert!(!ingest(
        &db,
        "shopify",
        "fresh-webhook-id",
        Some("digest:order"),
        NOW
    ));
    // Another provider's key, or a new event: stored.
    assert!(ingest(&db, "hubspot", "key:evt_1", None, NOW));
    assert!(ingest(&db, "shopify", "other", Some("digest:other"), NOW));
    // Once the window has passed the key is new again, even before the sweeper deletes it.
    let expiry = CUTOFF - 5 + window_ms(Provider::Stripe);
    assert!(ingest(&db, "stripe", "key:evt_1", None, expiry));
    // And the sweeper deletes it.
    let expired = db.execute(EXPIRE_TOMBSTONES, params![expiry, 100]).unwrap();
    assert_eq!(expired, 1);
    assert_eq!(
        ids(&db, "SELECT provider FROM dedupe_tombstones"),
        ["shopify"]
    );
}

#[test]
fn a_registry_content_key_outlives_the_registry_window() {
    let mut db = database();
    // A GitHub-scheme source's event (it has a content key) and a Standard Webhooks one.
    db.execute(
        "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, content_key) \
         VALUES ('gh', 'in', 'src:gh:d-1', 't', ?1, 'accepted', 'src:gh:digest')",
        params![CUTOFF - 5],
    )
    .unwrap();
    add_event(&db, "sw", "in", CUTOFF - 5, "accepted");
    assert_eq!(delete_batch(&mut db, 10).tombstones, 2);
    let lives = |key: &str| -> i64 {
        db.query_row(
            "SELECT expires_at - received_at FROM dedupe_tombstones WHERE dedupe_key = ?1",
            params![key],
            |r| r.get(0),
        )
        .unwrap()
    };
    assert_eq!(lives("src:gh:d-1"), CONTENT_KEY_WINDOW_MS);
    assert_eq!(lives("key:sw"), window_ms(Provider::Registry));
    // Past the registry's own window, the captured body under a fresh delivery id is still a
    // duplicate; a new key of the other source is not.
    let later = CUTOFF - 5 + window_ms(Provider::Registry) + 1;
    assert!(!ingest(
        &db,
        "in",
        "src:gh:d-2",
        Some("src:gh:digest"),
        later
    ));
    assert!(ingest(&db, "in", "key:sw", None, later));
    let expiry = CUTOFF - 5 + CONTENT_KEY_WINDOW_MS;
    assert!(ingest(
        &db,
        "in",
        "src:gh:d-3",
        Some("src:gh:digest"),
        expiry
    ));
}

#[test]
fn the_counts_and_size_probe_run() {
    let db = database();
    add_event(&db, "a", "stripe", NOW, "accepted");
    let (events, tombstones): (i64, i64) = db
        .query_row(sql::STORED_COUNTS, [], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap();
    assert_eq!((events, tombstones), (1, 0));
    assert_eq!(count(&db, sql::SIZE_PROBE), 1);
    db.execute(sql::DELETE_OLD_REJECTIONS, params![0]).unwrap();
    db.execute(sql::EXPIRE_EXPORTS, params![NOW]).unwrap();
}

#[test]
fn an_expired_tombstone_not_swept_yet_gives_way_to_the_next_events() {
    let mut db = database();
    // An earlier event of the key was deleted long ago; its tombstone expired but the sweeper
    // has not removed it yet, so the key was stored again.
    db.execute(
        "INSERT INTO dedupe_tombstones (provider, dedupe_key, received_at, expires_at) \
         VALUES ('stripe', 'key:evt_1', 0, ?1)",
        params![CUTOFF - 10],
    )
    .unwrap();
    add_event(&db, "evt_1", "stripe", CUTOFF - 5, "accepted");
    let deleted = delete_batch(&mut db, 10);
    assert_eq!((deleted.events, deleted.tombstones), (1, 1));
    let expires: i64 = db
        .query_row(
            "SELECT expires_at FROM dedupe_tombstones WHERE dedupe_key = 'key:evt_1'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(expires, CUTOFF - 5 + window_ms(Provider::Stripe));
    // A redelivery inside the new event's window is a duplicate.
    assert!(!ingest(&db, "stripe", "key:evt_1", None, NOW));

    // A tombstone that lasts longer is kept as it is.
    db.execute(
        "UPDATE dedupe_tombstones SET expires_at = ?1 WHERE dedupe_key = 'key:evt_1'",
        params![NOW + 100 * DAY],
    )
    .unwrap();
    add_event(&db, "evt_1", "stripe", CUTOFF - 4, "accepted");
    assert_eq!(delete_batch(&mut db, 10).tombstones, 0);
    let kept: i64 = db
        .query_row("SELECT expires_at FROM dedupe_tombstones", [], |r| r.get(0))
        .unwrap();
    assert_eq!(kept, NOW + 100 * DAY);
}
