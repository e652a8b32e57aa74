//! Pages over scanned rows: the walk's bounds and resume points, and the scan's SQL on SQLite
//! with every migration, paged with a connection whose conditions read payloads.

use rusqlite::{params_from_iter, types::Value as Sql};
use serde_json::json;

use super::*;

const NOW: i64 = 1_800_000_000_000;

fn row(id: &str, event_type: &str, payload: &str) -> ScannedEvent {
    ScannedEvent {
        id: id.into(),
        received_at: 1,
        provider: "stripe".into(),
        source: Some("eu".into()),
        account: None,
        event_type: event_type.into(),
        status: "accepted".into(),
        payload: Some(payload.into()),
        has_payload: 1,
        steps: Some("[]".into()),
    }
}

fn live_invoices() -> Connection {
    Connection::from_json(&json!({
        "name": "live", "source": "stripe:eu", "types": ["invoice.*"], "destination": "orders-svc",
        "conditions": [{"path": "/livemode", "equals": true}]
    }))
    .unwrap()
}

const LIVE: &str = r#"{"livemode":true}"#;
const TEST: &str = r#"{"livemode":false}"#;

#[test]
fn a_page_stops_at_its_limit_or_its_scan_bound_and_resumes_after_the_last_consumed_row() {
    let connection = live_invoices();
    let selection = Selection::Connection(&connection);
    let rows: Vec<ScannedEvent> = [
        ("a", "invoice.paid", LIVE),
        ("b", "invoice.paid", TEST),
        ("c", "charge.refunded", LIVE),
        ("d", "invoice.created", LIVE),
        ("e", "invoice.paid", LIVE),
    ]
    .iter()
    .map(|(id, t, p)| row(id, t, p))
    .collect();
    // The limit comes first: stop right after the second selected row.
    let page = PageWalk::of(&rows, 2, 10, &selection);
    assert_eq!(page.selected, [0, 3]);
    assert_eq!(page.resume_after, Some(3));
    // The scan bound comes first: three rows consumed, one selected, resume after the third.
    let page = PageWalk::of(&rows, 10, 3, &selection);
    assert_eq!(page.selected, [0]);
    assert_eq!(page.resume_after, Some(2));
    // Everything fits: the pass is done.
    let page = PageWalk::of(&rows, 10, 10, &selection);
    assert_eq!((page.selected, page.resume_after), (vec![0, 3, 4], None));
    // A failure at the second selected row resumes after the row before it (c, passed over).
    let page = PageWalk::of(&rows, 10, 10, &selection);
    assert_eq!(page.resume_before_selected(1), Some(2));
    assert_eq!(page.resume_before_selected(0), None);
    // Every row, without a connection; rejected rows and unknown providers are never taken.
    assert_eq!(PageWalk::of(&rows, 2, 10, &Selection::All).selected, [0, 1]);
    let mut rejected = row("r", "invoice.paid", LIVE);
    rejected.status = "rejected".into();
    let mut gone = row("g", "invoice.paid", LIVE);
    gone.provider = "paypal".into();
    assert!(!selection.selects(&rejected) && !selection.selects(&gone));
    assert_eq!(Selection::All.fetch(25, 500), 26);
    assert_eq!(selection.fetch(25, 500), 501);
    assert!(selection.reads_payload() && !Selection::All.reads_payload());
}

#[test]
fn stored_steps_read_back_and_garbage_reads_as_none() {
    let mut r = row("a", "invoice.paid", LIVE);
    r.steps = Some(r#"[["http:orders-svc","dead"],["slack.notify","succeeded"]]"#.into());
    let steps = r.stored_steps();
    assert_eq!(steps.len(), 2);
    assert_eq!(
        (steps[0].name.as_str(), steps[0].status.as_str()),
        ("http:orders-svc", "dead")
    );
    r.steps = Some("{not a list".into());
    assert!(r.stored_steps().is_empty());
    r.steps = None;
    assert!(r.stored_steps().is_empty());
}

/// Events on SQLite: eu invoices live or not, other types, other sources; paging a connection's
/// pass with a small scan bound visits every event it takes exactly once, oldest first.
#[test]
fn paging_a_connection_on_sqlite_takes_each_matching_event_once() {
    let db = crate::steps::lifecycle::sql_tests::database();
    let mut expected = Vec::new();
    for i in 0..23_i64 {
        let (event_type, live, source) = match i % 5 {
            0 => ("invoice.paid", true, Some("eu")),
            1 => ("invoice.paid", false, Some("eu")),
            2 => ("charge.refunded", true, Some("eu")),
            3 => ("invoice.finalized", true, None),
            _ => ("invoice.created", true, Some("eu")),
        };
        let id = format!("evt_{i:02}");
        // Pairs share a millisecond: the keyset must order by id within it.
        let at = 1_000 + i / 2;
        let payload = json!({ "livemode": live }).to_string();
        db.execute(
            "INSERT INTO events (id, provider, dedupe_key, type, received_at, status, payload, \
             payload_bytes, source) VALUES (?1, 'stripe', ?1, ?2, ?3, 'accepted', ?4, 2, ?5)",
            rusqlite::params![id, event_type, at, payload, source],
        )
        .unwrap();
        if live && source == Some("eu") && event_type.starts_with("invoice.") {
            expected.push(id);
        }
    }
    db.execute(
        "INSERT INTO steps (id, event_id, name, destination, status, attempts, idempotency_key, \
         created_at, updated_at) VALUES ('evt_00:http:orders-svc', 'evt_00', 'http:orders-svc', \
         'orders-svc', 'dead', 3, 'evt_00:http:orders-svc', 0, 0)",
        [],
    )
    .unwrap();
    let connection = live_invoices();
    let selection = Selection::Connection(&connection);
    let fetch = |request: &BulkReplay| -> Vec<ScannedEvent> {
        let (sql, args) = scan_query(
            request,
            Some(&connection),
            true,
            selection.fetch(request.limit, request.scan),
        );
        let values = args.into_iter().map(|a| match a {
            SqlArg::Text(t) => Sql::Text(t),
            SqlArg::Int(n) => Sql::Integer(n),
        });
        let mut statement = db.prepare(&sql).unwrap();
        let rows = statement
            .query_map(params_from_iter(values), |r| {
                Ok(ScannedEvent {
                    id: r.get(0)?,
                    received_at: r.get(1)?,
                    provider: r.get(2)?,
                    source: r.get(3)?,
                    account: r.get(4)?,
                    event_type: r.get(5)?,
                    status: r.get(6)?,
                    payload: r.get(7)?,
                    has_payload: r.get(8)?,
                    steps: r.get(9)?,
                })
            })
            .unwrap();
        rows.map(Result::unwrap).collect()
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    let mut body = r#"{"connection":"live","limit":2,"scan":3}"#.to_string();
    loop {
        let request = BulkReplay::from_json(body.as_bytes(), None, NOW).unwrap();
        let rows = fetch(&request);
        assert!(
            rows.iter().all(|r| r.source.as_deref() == Some("eu")),
            "narrowed by SQL"
        );
        let page = PageWalk::of(&rows, 2, 3, &selection);
        seen.extend(page.selected.iter().map(|&i| rows[i].id.clone()));
        pages += 1;
        let Some(last) = page.resume_after.map(|i| &rows[i]) else {
            break;
        };
        let cursor = request.cursor_after(last.received_at, &last.id);
        body = format!(r#"{{"connection":"live","limit":2,"scan":3,"cursor":"{cursor}"}}"#);
        assert!(pages < 50);
    }
    assert_eq!(seen, expected, "each matching event once, oldest first");
    assert!(
        pages > expected.len() / 2,
        "pages ended on the scan bound too"
    );
    // Steps come back with the row.
    let first = BulkReplay::from_json(br#"{"connection":"live"}"#, None, NOW).unwrap();
    let rows = fetch(&first);
    assert_eq!(rows[0].stored_steps()[0].name, "http:orders-svc");
    assert_eq!(rows[1].stored_steps(), []);
}
