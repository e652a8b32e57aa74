//! The totals' SQL against the migrations in SQLite: a flush adds up (several minutes of one key
//! included), the minute buckets' retention leaves every total as it was, and the gauges read
//! through indexes.

use rusqlite::{params, Connection};

use super::*;
use crate::alerts::sql::{DELETE_OLD_EVENT_METRICS, DELETE_OLD_STEP_METRICS}; // up: test: retention of the buckets
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
        tally.count_event(["stripe", "accepted", ""], "", 2, now);
        tally.count_event(["stripe", "rejected", "signature_mismatch"], "", 1, now);
        tally.count_step("hubspot", "succeeded", 120, now);
    }
    tally.take(T0 + MIN)
}

/// The minute-bucket statements the shell runs (src/db/metrics.rs): the events' from this
/// module, the steps' reduced to what retention needs.
fn add_buckets(db: &Connection, flush: &Flush) {
    db.execute(ADD_EVENT_BUCKETS, [json(&flush.events)])
        .unwrap();
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
        out.extend(rows(db, &sql, ()));
    }
    out
}

/// The rows of `sql` with `params`, each as one `|`-separated text.
fn rows(db: &Connection, sql: &str, params: impl rusqlite::Params) -> Vec<String> {
    let mut out = Vec::new();
    {
        let mut query = db.prepare(sql).unwrap();
        let width = query.column_count();
        let rows = query
            .query_map(params, |r| {
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
            "stripe||signature_mismatch|4",
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

/// Two registry sources and Stripe in one minute: the buckets, the alerts' reads and the
/// rejection totals keep each registry source apart; Stripe stays one subject (source '').
#[test]
fn registry_sources_are_bucketed_read_and_totalled_apart() {
    let db = database();
    let mut tally = MetricsTally::new();
    tally.count_event(["in", "accepted", ""], "github-main", 2, T0);
    tally.count_event(
        ["in", "rejected", "signature_mismatch"],
        "github-main",
        3,
        T0,
    );
    tally.count_event(["in", "accepted", ""], "linear", 1, T0 + MIN);
    tally.count_event(["stripe", "accepted", ""], "", 4, T0);
    let flush = tally.take(T0 + MIN);
    add_buckets(&db, &flush);
    add_totals(&db, &flush);
    let minute = T0 / 60_000 * 60;
    assert_eq!(
        rows(&db, SIGNATURE_FAILURES, [minute]),
        vec!["in|github-main|signature_mismatch|3"]
    );
    assert_eq!(
        rows(&db, LAST_SEEN, ()),
        vec![
            format!("in|github-main|{minute}"),
            format!("in|linear|{}", minute + 60),
            format!("stripe||{minute}"),
        ]
    );
    assert_eq!(
        rows(&db, REJECTION_TOTALS, ()),
        vec!["in|github-main|signature_mismatch|3"]
    );
    assert_eq!(
        rows(&db, EVENT_BUCKETS, [minute]),
        vec![
            format!("{minute}|in|github-main|accepted||2"),
            format!("{minute}|in|github-main|rejected|signature_mismatch|3"),
            format!("{minute}|stripe||accepted||4"),
            format!("{}|in|linear|accepted||1", minute + 60),
        ]
    );
}

/// Migration 0027 rebuilds the tables whose key gains `source`: every row written before it
/// (0011's buckets, 0026's running totals, 0001's hourly rejections) is still there, under
/// source '', and adds up with what is counted after it.
#[test]
fn migration_0027_keeps_every_row_under_source_empty() {
    let db = Connection::open_in_memory().unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let (before, after): (Vec<_>, Vec<_>) = files.into_iter().partition(|p| {
        p.file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n < "0027")
    });
    for file in before {
        db.execute_batch(&std::fs::read_to_string(file).unwrap())
            .unwrap();
    }
    db.execute_batch(
        "INSERT INTO metric_events (minute, provider, outcome, reason, count) \
         VALUES (60, 'in', 'rejected', 'signature_mismatch', 2); \
         INSERT INTO metric_rejection_totals (provider, reason, count) \
         VALUES ('in', 'signature_mismatch', 7); \
         INSERT INTO rejections (provider, reason, hour, count) \
         VALUES ('stripe', 'signature_mismatch', 3600, 5);",
    )
    .unwrap();
    for file in after {
        db.execute_batch(&std::fs::read_to_string(file).unwrap())
            .unwrap();
    }
    assert_eq!(
        rows(&db, REJECTION_TOTALS, ()),
        vec!["in||signature_mismatch|7"]
    );
    assert_eq!(
        rows(&db, EVENT_BUCKETS, [0]),
        vec!["60|in||rejected|signature_mismatch|2"]
    );
    assert_eq!(
        rows(&db, crate::inbound::rejections::COUNTS_SINCE, [0]),
        vec!["stripe||signature_mismatch|5|3600"]
    );
    let mut tally = MetricsTally::new();
    tally.count_event(["in", "rejected", "signature_mismatch"], "gh", 1, T0);
    add_totals(&db, &tally.take(T0));
    assert_eq!(
        rows(&db, REJECTION_TOTALS, ()),
        vec!["in||signature_mismatch|7", "in|gh|signature_mismatch|1"],
        "the old total kept counting what it counted; the source's own starts beside it"
    );
}
