//! The totals' SQL against the migrations in SQLite: a flush adds up (several minutes of one key
//! included), the minute buckets' retention leaves every total as it was, and the gauges read
//! through indexes.

use rusqlite::{params, Connection};

use super::*;
use crate::alerts::sql::{DELETE_OLD_EVENT_METRICS, DELETE_OLD_STEP_METRICS};
use crate::metrics::{Flush, MetricsTally, RequestKey};
use crate::steps::lifecycle::sql_tests::database;

const T0: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

/// A flush with two minutes of traffic: stripe requests, a rejection in each minute, steps.
fn flush() -> Flush {
    let mut tally = MetricsTally::new();
    for now in [T0, T0 + MIN] {
        let key = RequestKey {
            provider: "stripe",
            source: "default".into(),
            outcome: "accepted",
            status: 200,
        };
        tally.count_request(key, [2, 1], 7, now);
        tally.count_event("stripe", "accepted", "", 2, now);
        tally.count_event("stripe", "rejected", "signature_mismatch", 1, now);
        tally.count_step("hubspot", "succeeded", 120, now);
    }
    tally.take(T0 + MIN)
}

/// The minute-bucket INSERTs the shell runs (src/db/metrics.rs), reduced to what retention needs.
fn add_buckets(db: &Connection, flush: &Flush) {
    for b in &flush.events {
        db.execute(
            "INSERT INTO metric_events (minute, provider, outcome, reason, count) VALUES (?1, ?2, ?3, ?4, ?5) \
             ON CONFLICT (minute, provider, outcome, reason) DO UPDATE SET count = count + excluded.count",
            params![b.minute, b.provider, b.outcome, b.reason, b.count as i64],
        )
        .unwrap();
    }
    for b in &flush.steps {
        db.execute(
            "INSERT INTO metric_steps (minute, destination, outcome, count) VALUES (?1, ?2, ?3, ?4) \
             ON CONFLICT (minute, destination, outcome) DO UPDATE SET count = count + excluded.count",
            params![b.minute, b.destination, b.outcome, b.count as i64],
        )
        .unwrap();
    }
}

/// A flush part as the JSON the shell binds.
fn json<T: serde::Serialize>(part: &[T]) -> String {
    serde_json::to_string(part).unwrap()
}

fn add_totals(db: &Connection, flush: &Flush) {
    db.execute(&add_request_totals(), [json(&flush.requests)])
        .unwrap();
    db.execute(ADD_REJECTION_TOTALS, [json(&flush.events)])
        .unwrap();
    db.execute(&add_step_totals(), [json(&flush.steps)])
        .unwrap();
}

/// Every total as one comparable text.
fn totals(db: &Connection) -> Vec<String> {
    let mut out = Vec::new();
    for sql in [
        request_totals(),
        REJECTION_TOTALS.to_string(),
        step_totals(),
    ] {
        let mut query = db.prepare(&sql).unwrap();
        let width = query.column_count();
        let rows = query
            .query_map([], |r| {
                let cells: Vec<String> = (0..width)
                    .map(|i| match r.get_ref(i).unwrap() {
                        rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                        rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                        other => format!("{other:?}"),
                    })
                    .collect();
                Ok(cells.join("|"))
            })
            .unwrap();
        out.extend(rows.map(Result::unwrap));
    }
    out
}

#[test]
fn a_flush_adds_to_the_totals_summing_its_minutes() {
    let db = database();
    let flush = flush();
    assert_eq!(flush.events.len(), 4, "two minutes of two keys");
    add_totals(&db, &flush);
    add_totals(&db, &flush);
    assert_eq!(
        totals(&db),
        vec![
            // 4 requests, 8 stored, 4 duplicates, 28 ms, all in the 10 ms bucket (h1).
            "stripe|default|accepted|200|4|8|4|28|[0,4,0,0,0,0,0,0,0,0]",
            "stripe|signature_mismatch|4",
            // 4 outcomes of 120 ms (h2: ≤ 250 ms).
            "hubspot|succeeded|4|480|[0,0,4,0,0,0,0,0,0,0]",
        ]
    );
}

#[test]
fn retention_of_the_minute_buckets_leaves_every_total() {
    let db = database();
    let flush = flush();
    add_buckets(&db, &flush);
    add_totals(&db, &flush);
    let before = totals(&db);
    let past_every_bucket = T0 / 1000 + 3600;
    for sql in [DELETE_OLD_EVENT_METRICS, DELETE_OLD_STEP_METRICS] {
        db.execute(sql, [past_every_bucket]).unwrap();
    }
    let left: i64 = db
        .query_row(
            "SELECT (SELECT COUNT(*) FROM metric_events) + (SELECT COUNT(*) FROM metric_steps)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(left, 0, "retention deleted the buckets");
    assert_eq!(totals(&db), before, "and no total went down");
}

#[test]
fn the_gauges_count_outstanding_and_parked_steps_per_destination() {
    let db = database();
    db.execute(
        "INSERT INTO events (id, provider, dedupe_key, type, occurred_at, received_at, status) \
         VALUES ('e', 'stripe', 'e', 't', 0, 0, 'accepted')",
        [],
    )
    .unwrap();
    let step = |id: &str, destination: &str, status: &str, error: Option<&str>| {
        db.execute(
            "INSERT INTO steps (id, event_id, name, destination, status, last_error, idempotency_key, \
             created_at, updated_at) VALUES (?1, 'e', ?1, ?2, ?3, ?4, ?1, 0, 0)",
            params![id, destination, status, error],
        )
        .unwrap();
    };
    step("a", "hubspot", "dead", None);
    step("b", "hubspot", "dead", None);
    step("c", "hubspot", "succeeded", None);
    step("d", "crm", "enqueued", Some(PAUSED_REASON));
    step("e", "crm", "pending", None);
    let rows = |sql: &str| -> Vec<String> {
        let mut q = db.prepare(sql).unwrap();
        let width = q.column_count();
        q.query_map([], |r| {
            Ok((0..width)
                .map(|i| match r.get_ref(i).unwrap() {
                    rusqlite::types::ValueRef::Integer(n) => n.to_string(),
                    rusqlite::types::ValueRef::Text(t) => String::from_utf8_lossy(t).into(),
                    other => format!("{other:?}"),
                })
                .collect::<Vec<_>>()
                .join("|"))
        })
        .unwrap()
        .map(Result::unwrap)
        .collect()
    };
    assert_eq!(
        rows(&outstanding_steps()),
        vec!["crm|enqueued|1", "crm|pending|1", "hubspot|dead|2"],
        "finished steps are not outstanding"
    );
    assert_eq!(rows(&parked_steps()), vec!["crm|1"]);
    let plan = rows(&format!("EXPLAIN QUERY PLAN {}", parked_steps())).join("; ");
    assert!(plan.contains("steps_parked"), "{plan}");
    let plan = rows(&format!("EXPLAIN QUERY PLAN {}", outstanding_steps())).join("; ");
    assert!(
        plan.contains("INDEX steps_open") && plan.contains("INDEX steps_dead"),
        "each half read through its partial index, never the whole table: {plan}"
    );
}
