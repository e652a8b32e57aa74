//! The admin API's pure helpers: cursor round trips, filter validation and the SQL it builds,
//! redrive requests, replay actions, error codes and secret scrubbing.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edgehooks_handlers::admin::*;

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect()
}

#[test]
fn cursor_round_trips_and_rejects_garbage() {
    let c = Cursor {
        received_at: 1_712_000_000_123,
        id: "evt_abc".into(),
    };
    assert_eq!(Cursor::decode(&c.encode()), Some(c));
    for bad in [
        "",
        "!!",
        "djE6",
        "djE6eDpldnQ",
        &URL_SAFE_NO_PAD.encode("v1:5:"),
    ] {
        assert_eq!(Cursor::decode(bad), None, "{bad}");
    }
}

#[test]
fn event_filters_validate_and_build_sql() {
    let q = EventQuery::from_pairs(&pairs(&[
        ("provider", "stripe"),
        ("type", "invoice.payment_failed"),
        ("status", "accepted"),
        ("step_status", "dead"),
        ("from", "2024-04-01T00:00:00Z"),
        ("to", "1712000000000"),
        ("q", "50%_off"),
        ("limit", "10"),
        ("empty", ""),
    ]))
    .unwrap();
    assert_eq!(q.limit, 10);
    assert_eq!(q.from_ms, Some(1_711_929_600_000));
    let (sql, args) = q.where_clause();
    assert_eq!(sql.matches('?').count(), args.len());
    assert!(args.contains(&SqlArg::Text("%50\\%\\_off%".into())));
    assert!(args.contains(&SqlArg::Int(1_712_000_000_000)));

    for (name, value) in [
        ("provider", "paypal"),
        ("status", "dead"),
        ("step_status", "lost"),
        ("from", "yesterday"),
        ("limit", "0"),
        ("limit", "1000"),
        ("bogus", "1"),
    ] {
        let err = EventQuery::from_pairs(&pairs(&[(name, value)])).unwrap_err();
        assert_eq!(err.code, "invalid_filter", "{name}={value}");
    }
    let err = EventQuery::from_pairs(&pairs(&[("cursor", "nope")])).unwrap_err();
    assert_eq!(err.code, "invalid_cursor");
}

#[test]
fn cursor_becomes_a_keyset_condition() {
    let cursor = Cursor {
        received_at: 7,
        id: "evt_b".into(),
    };
    let q = EventQuery::from_pairs(&pairs(&[("cursor", &cursor.encode())])).unwrap();
    let (sql, args) = q.where_clause();
    assert!(sql.ends_with("(e.received_at < ? OR (e.received_at = ? AND e.id < ?))"));
    assert_eq!(
        args,
        vec![SqlArg::Int(7), SqlArg::Int(7), SqlArg::Text("evt_b".into())]
    );
}

#[test]
fn redrive_filters() {
    // An empty body filters nothing: a dry run (issue 23), never a redrive of everything.
    let f = RedriveFilter::from_json(b"", None).unwrap();
    assert_eq!(
        (f.limit, f.dry_run, f.step_ids.len()),
        (DEFAULT_REDRIVE, true, 0)
    );
    let f = RedriveFilter::from_json(
        br#"{"destination":"hubspot","error":"http_500","from":"2024-04-01T00:00:00Z","to":1712000000000,"step_ids":["a","b"],"dry_run":true,"limit":5}"#,
        None,
    )
    .unwrap();
    assert!(f.dry_run);
    let (sql, args) = f.where_clause();
    assert_eq!(sql.matches('?').count(), args.len());
    assert!(sql.contains("s.id IN (SELECT value FROM json_each(?))"));
    assert_eq!(args.last(), Some(&SqlArg::Text(r#"["a","b"]"#.into())));
    assert!(
        !RedriveFilter::from_json(br#"{"dry_run":true}"#, Some(false))
            .unwrap()
            .dry_run
    );
    for bad in [
        &br#"[]"#[..],
        // Not a built-in destination nor a name an http destination can have.
        br#"{"destination":"Mail Chimp!"}"#,
        br#"{"limit":0}"#,
        br#"{"step_ids":[1]}"#,
        br#"{"dry_run":"yes"}"#,
        br#"{"from":"soon"}"#,
        b"{",
    ] {
        assert!(RedriveFilter::from_json(bad, None).is_err(), "{bad:?}");
    }
}

#[test]
fn replay_actions_error_codes_and_scrub() {
    assert_eq!(ReplayAction::for_status("dead"), ReplayAction::Run);
    assert_eq!(ReplayAction::for_status("pending"), ReplayAction::Run);
    assert_eq!(
        ReplayAction::for_status("succeeded"),
        ReplayAction::AlreadyDone
    );
    assert_eq!(
        ReplayAction::for_status("skipped_stale"),
        ReplayAction::AlreadyDone
    );
    assert_eq!(
        ReplayAction::for_status("running"),
        ReplayAction::InProgress
    );
    assert_eq!(error_code(Some("http_500: fake failure")), "http_500");
    assert_eq!(error_code(Some("timeout")), "timeout");
    assert_eq!(error_code(None), "");
    let secrets = vec!["whsec_abcdef".to_string(), "abc".to_string()];
    assert_eq!(
        scrub("x whsec_abcdef y abc", &secrets),
        "x [redacted] y abc"
    );
    assert_eq!(parse_bool(""), Some(true));
    assert_eq!(parse_bool("0"), Some(false));
    assert_eq!(parse_bool("maybe"), None);
}
