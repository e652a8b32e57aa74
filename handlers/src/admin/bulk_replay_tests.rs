//! Validation of bulk replay requests and the pass cursor.

use super::*;
use crate::admin::bulk_scan::DEFAULT_SCAN;

const NOW: i64 = 1_800_000_000_000;

fn request(body: &str) -> Result<BulkReplay, FilterError> {
    BulkReplay::from_json(body.as_bytes(), None, NOW)
}

fn error_of(body: &str) -> FilterError {
    request(body).unwrap_err()
}

#[test]
fn a_full_filter_validates_and_binds_every_value() {
    let r = request(
        r#"{"provider":"stripe","source":"eu","type":"invoice.paid","from":"2026-11-01T00:00:00Z",
            "to":1800000000000,"status":"accepted","step":"slack.notify","destination":"slack",
            "step_status":"dead","limit":100,"dry_run":true}"#,
    )
    .unwrap();
    assert!(r.dry_run);
    assert_eq!(r.limit, MAX_BULK);
    let (sql, args) = r.where_clause();
    assert_eq!(sql.matches('?').count(), args.len());
    assert!(sql.contains("e.source = ?"));
    assert!(sql.contains("s.name = ? AND s.destination = ? AND s.status = ?"));
    assert_eq!(
        args[0],
        SqlArg::Int(1_800_000_000_000),
        "the pass ends at `to`"
    );
    let defaults = request("").unwrap();
    assert_eq!((defaults.limit, defaults.dry_run), (DEFAULT_BULK, true));
    assert_eq!(defaults.where_clause().1, [SqlArg::Int(NOW + 1)]);
    let default_source = request(r#"{"source":"default"}"#).unwrap();
    assert!(default_source.where_clause().0.contains("e.source IS NULL"));
}

#[test]
fn a_request_that_filters_nothing_is_a_dry_run_unless_it_says_otherwise() {
    for body in ["", "  ", "{}", r#"{"limit":50}"#, r#"{"dry_run":null}"#] {
        let r = request(body).unwrap();
        assert!(r.dry_run && r.unfiltered, "{body:?}");
    }
    let explicit = request(r#"{"dry_run":false}"#).unwrap();
    assert!(!explicit.dry_run && explicit.unfiltered);
    let by_query = BulkReplay::from_json(b"", Some(false), NOW).unwrap();
    assert!(!by_query.dry_run);
    for filtered in [r#"{"provider":"stripe"}"#, r#"{"connection":"orders"}"#] {
        let r = request(filtered).unwrap();
        assert!(!r.dry_run && !r.unfiltered, "{filtered}");
    }
}

#[test]
fn each_bad_value_is_refused_naming_its_parameter() {
    for (body, starts) in [
        (r#"{"provider":"paypal"}"#, "provider"),
        (r#"{"source":"Not Valid"}"#, "source"),
        (r#"{"from":"yesterday"}"#, "from"),
        (r#"{"to":-5}"#, "to"),
        (r#"{"from":2000,"to":1000}"#, "from"),
        (r#"{"status":"done"}"#, "status"),
        (r#"{"step":"fax.send"}"#, "step"),
        (r#"{"destination":"fax"}"#, "destination"),
        (r#"{"step_status":"gone"}"#, "step_status"),
        (r#"{"limit":101}"#, "limit"),
        (r#"{"limit":0}"#, "limit"),
        (r#"{"dry_run":"yes"}"#, "dry_run"),
        (r#"{"type":5}"#, "type"),
        (r#"{"connection":"Bad Name"}"#, "connection"),
        (r#"{"scope":"connection"}"#, "scope"),
        (r#"{"connection":"orders","scope":"all"}"#, "scope"),
        (r#"{"scan":0}"#, "scan"),
        (r#"{"scan":1001}"#, "scan"),
        (r#"{"scan":"10"}"#, "scan"),
        (
            r#"{"connection_name":"x"}"#,
            "unknown parameter \"connection_name\"",
        ),
    ] {
        let e = error_of(body);
        assert_eq!(e.code, "invalid_filter", "{body}");
        assert!(e.detail.starts_with(starts), "{body}: {}", e.detail);
    }
    assert_eq!(error_of("[1]").code, "invalid_json");
    assert_eq!(error_of("{").code, "invalid_json");
}

#[test]
fn the_cursor_resumes_after_the_last_event_within_the_pass_bound() {
    let first = request(r#"{"provider":"stripe","limit":2}"#).unwrap();
    let next = first.cursor_after(1_000, "evt_b");
    let body = format!(r#"{{"provider":"stripe","limit":2,"cursor":"{next}"}}"#);
    // Later calls keep the first call's bound even when time has moved on.
    let second = BulkReplay::from_json(body.as_bytes(), None, NOW + 60_000).unwrap();
    let pass = second.pass();
    assert_eq!(pass.after, Some((1_000, "evt_b".into())));
    assert_eq!(pass.until, NOW + 1);
    let (sql, args) = second.where_clause();
    assert!(sql.ends_with("(e.received_at > ? OR (e.received_at = ? AND e.id > ?))"));
    assert_eq!(
        args[args.len() - 3..],
        [
            SqlArg::Int(1_000),
            SqlArg::Int(1_000),
            SqlArg::Text("evt_b".into())
        ]
    );
    assert_eq!(PassCursor::decode(&next), Some(pass));
}

#[test]
fn a_cursor_of_another_filter_or_garbage_is_refused() {
    let first = request(r#"{"provider":"stripe"}"#).unwrap();
    let next = first.cursor_after(1_000, "evt_a");
    for body in [
        format!(r#"{{"provider":"shopify","cursor":"{next}"}}"#),
        format!(r#"{{"cursor":"{next}"}}"#),
        r#"{"provider":"stripe","cursor":"not-a-cursor"}"#.to_string(),
        r#"{"provider":"stripe","cursor":"djE6MTA6ZXZ0"}"#.to_string(),
    ] {
        assert_eq!(error_of(&body).code, "invalid_cursor", "{body}");
    }
    // Ids may hold ':' and still round-trip.
    let odd = first.cursor_after(5, "a:b:c");
    assert_eq!(
        PassCursor::decode(&odd).and_then(|c| c.after),
        Some((5, "a:b:c".into()))
    );
}

/// The pass's SQL on SQLite with every migration (migration 0009's `source` included): pages of
/// a pass over events sharing `received_at` visit each matching event exactly once, oldest
/// first, and never one received after the pass's bound or of another source.
#[test]
fn a_pass_visits_each_matching_event_once_on_sqlite() {
    use rusqlite::{params_from_iter, types::Value as Sql};
    let db = crate::steps::lifecycle::sql_tests::database();
    let add = |id: &str, at: i64, source: Option<&str>| {
        db.execute(
            "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, source) \
             VALUES (?1, 'stripe', ?1, 'invoice.paid', ?2, 'accepted', ?3)",
            rusqlite::params![id, at, source],
        )
        .unwrap();
    };
    // Seven eu events, three of them at the same millisecond; one of another source; one late.
    for (id, at) in [
        ("e1", 10),
        ("e2", 20),
        ("e3b", 20),
        ("e3a", 20),
        ("e4", 30),
        ("e5", 40),
        ("e6", 50),
    ] {
        add(id, at, Some("eu"));
    }
    add("us1", 25, Some("us"));
    add("late", NOW + 10, Some("eu"));
    let page = |request: &BulkReplay| -> Vec<(String, i64)> {
        let (conditions, mut args) = request.where_clause();
        args.push(SqlArg::Int(request.limit + 1));
        let sql = format!(
            "SELECT e.id, e.received_at FROM events e WHERE {conditions} \
             ORDER BY e.received_at, e.id LIMIT ?"
        );
        let values = args.into_iter().map(|a| match a {
            SqlArg::Text(t) => Sql::Text(t),
            SqlArg::Int(n) => Sql::Integer(n),
        });
        let mut statement = db.prepare(&sql).unwrap();
        let rows = statement
            .query_map(params_from_iter(values), |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        rows.map(Result::unwrap).collect()
    };
    let mut seen = Vec::new();
    let mut body = r#"{"source":"eu","limit":3}"#.to_string();
    for _ in 0..5 {
        let request = BulkReplay::from_json(body.as_bytes(), None, NOW).unwrap();
        let rows = page(&request);
        let limit = request.limit as usize;
        seen.extend(rows.iter().take(limit).map(|(id, _)| id.clone()));
        if rows.len() <= limit {
            break;
        }
        let (id, at) = &rows[limit - 1];
        let cursor = request.cursor_after(*at, id);
        body = format!(r#"{{"source":"eu","limit":3,"cursor":"{cursor}"}}"#);
    }
    assert_eq!(seen, ["e1", "e2", "e3a", "e3b", "e4", "e5", "e6"]);
}

#[test]
fn a_connection_replays_its_own_step_unless_the_whole_event_is_asked_for() {
    let own = request(r#"{"connection":"orders","scan":20}"#).unwrap();
    assert_eq!(own.filter.connection.as_deref(), Some("orders"));
    assert_eq!((own.filter.scope, own.scan), (BulkScope::Connection, 20));
    let whole = request(r#"{"connection":"orders","scope":"event"}"#).unwrap();
    assert_eq!(
        (whole.filter.scope, whole.scan),
        (BulkScope::Event, DEFAULT_SCAN)
    );
    assert_eq!(request("{}").unwrap().filter.scope, BulkScope::Event);
    // A cursor belongs to its connection and scope.
    let next = own.cursor_after(5, "evt_a");
    for body in [
        format!(r#"{{"connection":"other","cursor":"{next}"}}"#),
        format!(r#"{{"connection":"orders","scope":"event","cursor":"{next}"}}"#),
    ] {
        assert_eq!(error_of(&body).code, "invalid_cursor", "{body}");
    }
    let again = format!(r#"{{"connection":"orders","cursor":"{next}","scan":7}}"#);
    assert!(
        request(&again).is_ok(),
        "scan is per call, not part of the pass"
    );
}
