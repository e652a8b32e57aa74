//! Native tests of the backfill's decisions: due-ness, window, checkpoint, backoff, type
//! chunks, cursors and URLs, list answers (malformed ones included) and the admin request.

use super::page::{parse_page, PageError};
use super::plan::{listing_chunks, page_url, type_chunks, Cursor, MAX_TYPES_PER_REQUEST};
use super::request::AdminRequest;
use super::*;
use crate::steps::routes::RouteTable;

const NOW_S: i64 = 1_800_000_000;
const NOW_MS: i64 = NOW_S * 1000;
const INTERVAL: u64 = 15 * 60;

#[test]
fn first_tick_initializes_then_runs_each_interval_resumes_at_once_never_inside_a_backoff() {
    let fresh = State::default();
    assert_eq!(tick(&fresh, NOW_MS, INTERVAL), Tick::Initialize);
    let started = initial_state(NOW_MS);
    assert_eq!(started.checkpoint, Some(NOW_S));
    assert_eq!(tick(&started, NOW_MS + 60_000, INTERVAL), Tick::Wait);
    let ran = State {
        last_started_ms: Some(NOW_MS - 14 * 60_000),
        ..started.clone()
    };
    assert_eq!(tick(&ran, NOW_MS, INTERVAL), Tick::Wait);
    assert_eq!(tick(&ran, NOW_MS + 60_000, INTERVAL), Tick::Run);
    let resuming = State {
        resume: Some(Resume {
            since: 1,
            cursor: Cursor::default(),
            newest: None,
        }),
        ..ran.clone()
    };
    assert_eq!(tick(&resuming, NOW_MS, INTERVAL), Tick::Run);
    let backing_off = State {
        not_before_ms: NOW_MS + 1,
        ..resuming
    };
    assert_eq!(tick(&backing_off, NOW_MS, INTERVAL), Tick::Wait);
    assert_eq!(tick(&backing_off, NOW_MS + 1, INTERVAL), Tick::Run);
    let checkpoint_only = State {
        checkpoint: Some(NOW_S - 100),
        ..State::default()
    };
    assert_eq!(tick(&checkpoint_only, NOW_MS, INTERVAL), Tick::Run);
}

#[test]
fn since_is_checkpoint_minus_overlap_clamped_to_thirty_days() {
    let kept = 0; // retention keeps everything Stripe does
    assert_eq!(
        since_for_run(Some(NOW_S - 600), NOW_S, INTERVAL, kept),
        NOW_S - 600 - OVERLAP_SECS
    );
    // First run: one interval and the overlap back, not a month.
    assert_eq!(
        since_for_run(None, NOW_S, INTERVAL, kept),
        NOW_S - 900 - OVERLAP_SECS
    );
    // A checkpoint older than Stripe keeps: clamped.
    assert_eq!(
        since_for_run(Some(NOW_S - 40 * 86_400), NOW_S, INTERVAL, kept),
        NOW_S - RETENTION_SECS
    );
    assert_eq!(clamp_since(NOW_S + 50, NOW_S, kept), NOW_S);
    assert_eq!(clamp_since(i64::MIN, NOW_S, kept), NOW_S - RETENTION_SECS);
}

/// Regression (issue 23): with `RETENTION_DAYS` under 30, a run listed events retention had
/// deleted and stored them again.
#[test]
fn since_is_never_before_the_retention_cutoff() {
    let days = 3;
    let cutoff_ms = crate::retention::cutoff_ms(NOW_MS, days);
    let kept = kept_since(cutoff_ms);
    assert_eq!(kept, NOW_S - 3 * 86_400);
    assert_eq!(
        kept_since(1_001),
        2,
        "rounded up: nothing before the cutoff"
    );
    assert_eq!(
        since_for_run(Some(NOW_S - 10 * 86_400), NOW_S, INTERVAL, kept),
        kept
    );
    assert_eq!(clamp_since(0, NOW_S, kept), kept);
    // A checkpoint after the cutoff is left alone.
    assert_eq!(
        since_for_run(Some(NOW_S - 600), NOW_S, INTERVAL, kept),
        NOW_S - 600 - OVERLAP_SECS
    );
    // A retention longer than Stripe's 30 days: Stripe's bound wins.
    let long = kept_since(crate::retention::cutoff_ms(NOW_MS, 90));
    assert_eq!(clamp_since(0, NOW_S, long), NOW_S - RETENTION_SECS);
    // Admin runs too.
    let request = AdminRequest::from_json(br#"{"since": 0}"#, NOW_S, kept).expect("valid");
    assert_eq!(request.since, kept);
}

#[test]
fn checkpoint_never_moves_back() {
    assert_eq!(advance_checkpoint(Some(100), 50, Some(90), 200), 100);
    assert_eq!(advance_checkpoint(Some(100), 50, Some(120), 200), 120);
    assert_eq!(advance_checkpoint(None, 50, None, 200), 50);
    assert_eq!(advance_checkpoint(Some(10), 50, None, 200), 50);
}

#[test]
fn checkpoint_never_passes_the_time_the_run_began() {
    assert_eq!(advance_checkpoint(Some(100), 50, Some(900), 300), 300);
    assert_eq!(advance_checkpoint(None, 50, Some(900), 300), 300);
    assert_eq!(
        advance_checkpoint(Some(100), 50, Some(250), 300),
        250,
        "a newest before the start is kept"
    );
}

#[test]
fn failures_back_off_and_retry_after_wins() {
    let policy = crate::steps::retry::RetryPolicy::default();
    let first = next_attempt_after_failure(&policy, 1, None, 0.999, NOW_MS);
    assert!((NOW_MS + 1000..=NOW_MS + 5000).contains(&first), "{first}");
    let asked = next_attempt_after_failure(&policy, 1, Some(120), 0.0, NOW_MS);
    assert_eq!(asked, NOW_MS + 120_000);
    let later = next_attempt_after_failure(&policy, 8, None, 0.999, NOW_MS);
    assert!(later > NOW_MS + 300_000);
    assert_eq!(failure_code(Some(429)), "stripe_http_429");
    assert_eq!(failure_code(None), "stripe_unreachable");
}

#[test]
fn types_come_from_the_stripe_routes_in_chunks_of_twenty() {
    let defaults = type_chunks(&RouteTable::defaults());
    assert_eq!(defaults.len(), 1);
    assert!(defaults[0].contains(&"invoice.payment_failed".to_string()));
    assert!(
        !defaults[0].iter().any(|t| t.contains('/')),
        "no Shopify type"
    );
    let mut overrides = serde_json::Map::new();
    for n in 0..25 {
        overrides.insert(
            format!("custom.event_{n:02}"),
            serde_json::json!(["slack.notify"]),
        );
    }
    let json = serde_json::json!({ "stripe": overrides }).to_string();
    let routes = RouteTable::with_overrides_json(&json).expect("routes");
    let chunks = type_chunks(&routes);
    let total: usize = chunks.iter().map(Vec::len).sum();
    assert_eq!(total, 25 + defaults[0].len());
    assert!(chunks.iter().all(|c| c.len() <= MAX_TYPES_PER_REQUEST));
    assert_eq!(chunks.len(), total.div_ceil(MAX_TYPES_PER_REQUEST));
}

fn connection(value: serde_json::Value) -> crate::connections::Connection {
    crate::connections::Connection::from_json(&value).expect("connection")
}

#[test]
fn connections_add_their_exact_types_and_a_wildcard_lists_everything() {
    let routes = RouteTable::defaults();
    let defaults = type_chunks(&routes).concat();
    let exact = connection(serde_json::json!({
        "source": "stripe", "types": ["charge.refunded", "invoice.payment_failed"], "destination": "svc"
    }));
    let listed = listing_chunks(&routes, std::slice::from_ref(&exact)).concat();
    assert!(listed.contains(&"charge.refunded".to_string()));
    assert_eq!(
        listed.len(),
        defaults.len() + 1,
        "a type the routes list is not asked twice"
    );

    let mut off = connection(serde_json::json!({"source": "stripe", "destination": "svc"}));
    off.enabled = false;
    let shopify = connection(serde_json::json!({"source": "shopify", "destination": "svc"}));
    assert_eq!(listing_chunks(&routes, &[off, shopify]).concat(), defaults);

    for takes_all in [
        serde_json::json!({"source": "stripe", "destination": "svc"}),
        serde_json::json!({"source": "stripe", "types": ["invoice.*"], "destination": "svc"}),
    ] {
        let chunks = listing_chunks(&routes, &[exact.clone(), connection(takes_all)]);
        assert_eq!(chunks, vec![Vec::<String>::new()], "one unfiltered listing");
    }
}

#[test]
fn cursors_walk_pages_then_chunks_and_round_trip() {
    let start = Cursor::default();
    let next = start.after_page(true, Some("evt_2"), 2).expect("next page");
    assert_eq!(next.starting_after.as_deref(), Some("evt_2"));
    let chunk = next
        .after_page(false, Some("evt_9"), 2)
        .expect("next chunk");
    assert_eq!(
        chunk,
        Cursor {
            chunk: 1,
            starting_after: None,
            page_limit: None,
        }
    );
    assert_eq!(chunk.after_page(false, None, 2), None);
    // has_more with an empty page cannot continue that chunk.
    assert_eq!(Cursor::default().after_page(true, None, 1), None);
    for cursor in [start, next, chunk] {
        assert_eq!(Cursor::decode(&cursor.encode()), Some(cursor));
    }
    for bad in ["", "x:evt", "1", "-1:evt", "0:evt&x=1", "0:evt/../"] {
        assert_eq!(Cursor::decode(bad), None, "{bad}");
    }
}

#[test]
fn page_urls_carry_window_limit_types_and_cursor() {
    let types = vec!["invoice.paid".to_string(), "a b".to_string()];
    let first = page_url("http://fake/", 123, &types, &Cursor::default());
    assert_eq!(
        first,
        "http://fake/v1/events?created%5Bgte%5D=123&limit=100&types%5B%5D=invoice.paid&types%5B%5D=a%20b"
    );
    let cursor = Cursor {
        chunk: 0,
        starting_after: Some("evt_1".into()),
        page_limit: None,
    };
    assert!(page_url("http://fake", 1, &types, &cursor).ends_with("&starting_after=evt_1"));
}

fn fixture(name: &str) -> String {
    let path = format!(
        "{}/../tests/fixtures/events/stripe/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(path)
        .expect("fixture")
        .trim()
        .to_string()
}

#[test]
fn list_answers_parse_into_events_with_exact_payloads() {
    let a = fixture("invoice.payment_failed");
    let b = fixture("checkout.session.completed");
    let body = format!(
        "{{\"object\":\"list\",\"url\":\"/v1/events\",\"has_more\":true,\"data\":[{a},{b}]}}"
    );
    let page = parse_page(&body, None).expect("page");
    assert!(page.has_more);
    assert_eq!(page.events.len(), 2);
    assert_eq!(
        page.events[0].payload, a,
        "the event exactly as the list serialised it"
    );
    assert_eq!(page.events[0].event_type, "invoice.payment_failed");
    assert_eq!(page.last_id(), Some(page.events[1].dedupe_key.as_str()));
    assert!(page.newest_created().is_some());
    let empty = parse_page(
        r#"{"object":"list","url":"/v1/events","has_more":false,"data":[]}"#,
        None,
    )
    .expect("empty");
    assert_eq!((empty.events.len(), empty.last_id()), (0, None));
}

#[test]
fn a_page_for_a_named_source_shares_its_webhooks_dedupe_keys() {
    let a = fixture("invoice.payment_failed");
    let b = fixture("checkout.session.completed");
    let body = format!(
        "{{\"object\":\"list\",\"url\":\"/v1/events\",\"has_more\":false,\"data\":[{a},{b}]}}"
    );
    let plain = parse_page(&body, None).expect("page");
    let scoped = parse_page(&body, Some("eu")).expect("page");
    for (p, s) in plain.events.iter().zip(&scoped.events) {
        assert_eq!(s.dedupe_key, format!("src:eu:{}", p.dedupe_key));
        assert_eq!(s.source.as_deref(), Some("eu"));
        assert_eq!(p.source, None);
    }
    // The cursor is Stripe's own id, whatever the scope.
    assert_eq!(scoped.last_id(), plain.last_id());
    assert!(scoped.last_id().is_some_and(|id| id.starts_with("evt_")));
}

#[test]
fn malformed_answers_are_error_codes() {
    for body in [
        "",
        "[]",
        "not json",
        r#"{"object":"event","has_more":false,"data":[]}"#,
        r#"{"object":"list","data":[]}"#,
        r#"{"object":"list","has_more":"no","data":[]}"#,
        r#"{"object":"list","has_more":false,"data":{}}"#,
    ] {
        assert_eq!(
            parse_page(body, None).unwrap_err(),
            PageError::NotAList,
            "{body}"
        );
    }
    let bad =
        r#"{"object":"list","has_more":false,"data":[{"id":"evt_1","type":"x"},{"type":"x"}]}"#;
    let error = parse_page(bad, None).unwrap_err();
    assert_eq!(error.code(), "stripe_event_malformed:1:missing_field");
    let not_object = r#"{"object":"list","has_more":false,"data":[7]}"#;
    assert!(parse_page(not_object, None)
        .unwrap_err()
        .code()
        .starts_with("stripe_event_malformed:0:"));
}

#[test]
fn admin_requests_are_validated_by_field() {
    let ok = AdminRequest::from_json(br#"{"since": 1799990000, "dry_run": true}"#, NOW_S, 0)
        .expect("valid");
    assert_eq!((ok.since, ok.dry_run), (1_799_990_000, true));
    let clamped = AdminRequest::from_json(br#"{"since": 0}"#, NOW_S, 0).expect("valid");
    assert_eq!(
        (clamped.since, clamped.dry_run),
        (NOW_S - RETENTION_SECS, false)
    );
    let resumed =
        AdminRequest::from_json(br#"{"since": 5, "cursor": "0:evt_9"}"#, NOW_S, 0).expect("valid");
    assert_eq!(resumed.cursor.starting_after.as_deref(), Some("evt_9"));
    let cases: [(&[u8], &str); 8] = [
        (b"nope", "invalid_body"),
        (b"[1]", "invalid_body"),
        (b"{}", "invalid_since"),
        (br#"{"since": "yesterday"}"#, "invalid_since"),
        (br#"{"since": -1}"#, "invalid_since"),
        (br#"{"since": 1900000000}"#, "invalid_since"),
        (br#"{"since": 1, "dry_run": "yes"}"#, "invalid_dry_run"),
        (br#"{"since": 1, "cursor": 5}"#, "invalid_cursor"),
    ];
    for (body, code) in cases {
        let error = AdminRequest::from_json(body, NOW_S, 0).unwrap_err();
        assert_eq!(error.code, code, "{}", String::from_utf8_lossy(body));
    }
}

fn end(cursor: Option<Cursor>, stop: Option<StopReason>) -> RunEnd {
    RunEnd {
        since: NOW_S - 3600,
        cursor,
        newest: Some(NOW_S - 60),
        stop,
    }
}

#[test]
fn after_a_run_the_state_continues_backs_off_waits_or_moves_the_checkpoint() {
    let policy = crate::steps::retry::RetryPolicy::default();
    let before = State {
        checkpoint: Some(NOW_S - 3300),
        failures: 2,
        ..State::default()
    };
    let later = NOW_MS + 5_000;
    let complete = after_run(&before, &end(None, None), NOW_MS, later, &policy, 0.5);
    assert_eq!(complete.checkpoint, Some(NOW_S - 60));
    assert_eq!(
        (complete.resume, complete.failures, complete.not_before_ms),
        (None, 0, 0)
    );
    assert_eq!(complete.last_started_ms, Some(NOW_MS));

    let at = Cursor {
        chunk: 0,
        starting_after: Some("evt_9".into()),
        page_limit: None,
    };
    let bounded = after_run(
        &before,
        &end(Some(at.clone()), None),
        NOW_MS,
        later,
        &policy,
        0.5,
    );
    assert_eq!(
        bounded.checkpoint, before.checkpoint,
        "not before it is complete"
    );
    assert_eq!(
        bounded.resume.as_ref().map(|r| (&r.cursor, r.since)),
        Some((&at, NOW_S - 3600))
    );
    assert_eq!(
        tick(&bounded, later, INTERVAL),
        Tick::Run,
        "continues at the next tick"
    );

    let failed = Some(StopReason::Failed {
        retry_after_secs: Some(120),
    });
    let backing_off = after_run(
        &before,
        &end(Some(at.clone()), failed),
        NOW_MS,
        later,
        &policy,
        0.0,
    );
    assert_eq!(backing_off.failures, 3);
    assert_eq!(backing_off.not_before_ms, later + 120_000);
    assert_eq!(
        backing_off.resume.as_ref().map(|r| &r.cursor),
        Some(&at),
        "keeps its place"
    );
    assert_eq!(tick(&backing_off, later + 119_000, INTERVAL), Tick::Wait);

    let waiting = after_run(
        &before,
        &end(Some(at), Some(StopReason::Wait { secs: 30 })),
        NOW_MS,
        later,
        &policy,
        0.0,
    );
    assert_eq!(
        (waiting.failures, waiting.not_before_ms),
        (2, later + 30_000),
        "waiting is not failing"
    );

    // A continued run keeps its first invocation's start.
    let continued = after_run(&bounded, &end(None, None), later, later + 1, &policy, 0.0);
    assert_eq!(continued.last_started_ms, Some(NOW_MS));
}

/// One invocation of a scheduled run as the shell drives it: the run's `newest` so far (kept in
/// its resume) joined with this invocation's, then [`after_run`].
fn invoke(
    state: &State,
    at_ms: i64,
    newest: i64,
    cursor: Option<Cursor>,
    stop: Option<StopReason>,
) -> State {
    let policy = crate::steps::retry::RetryPolicy::default();
    let (since, before) = match &state.resume {
        Some(r) => (r.since, r.newest),
        None => (
            since_for_run(state.checkpoint, at_ms / 1000, INTERVAL, 0),
            None,
        ),
    };
    let end = RunEnd {
        since,
        cursor,
        newest: before.max(Some(newest)),
        stop,
    };
    after_run(state, &end, at_ms, at_ms + 1_000, &policy, 0.0)
}

/// The next run's window start after `state`.
fn next_since(state: &State, now_ms: i64) -> i64 {
    since_for_run(state.checkpoint, now_ms / 1000, INTERVAL, 0)
}

#[test]
fn an_order_updated_after_its_page_was_listed_is_in_the_next_runs_window() {
    // Shopify lists orders by id: page 1 lists order A (updated NOW_S − 100); a failed page 2
    // backs the run off; A is updated at NOW_S + 600 (its webhook lost); 30 minutes in, page 2
    // lists order B, updated at NOW_S + 1,700, and the run completes.
    let before = State {
        checkpoint: Some(NOW_S - 3600),
        last_started_ms: Some(NOW_MS - 3_600_000),
        ..State::default()
    };
    let page_2 = Cursor {
        chunk: 0,
        starting_after: Some("page-2".into()),
        page_limit: None,
    };
    let failed = Some(StopReason::Failed {
        retry_after_secs: None,
    });
    let bounded = invoke(&before, NOW_MS, NOW_S - 100, Some(page_2.clone()), None);
    let backing_off = invoke(&bounded, NOW_MS + 60_000, NOW_S - 100, Some(page_2), failed);
    let complete = invoke(&backing_off, NOW_MS + 1_800_000, NOW_S + 1_700, None, None);
    let a_updated = NOW_S + 600;
    assert!(
        next_since(&complete, NOW_MS + 2_700_000) <= a_updated,
        "checkpoint {:?} skips A's update at {a_updated}",
        complete.checkpoint
    );
    assert_eq!(
        complete.checkpoint,
        Some(NOW_S),
        "at most when the run began"
    );
}

#[test]
fn a_type_of_an_earlier_chunk_created_before_a_later_chunk_is_listed_is_in_the_next_window() {
    // More than 20 types: chunk 0 is listed at NOW_S (newest NOW_S − 10), then the Stripe circuit
    // makes the run wait 20 minutes; an event of a chunk-0 type is created at NOW_S + 60; chunk 1
    // is listed at NOW_S + 1,200 and its newest is NOW_S + 1,190.
    let before = State {
        checkpoint: Some(NOW_S - 900),
        last_started_ms: Some(NOW_MS - 900_000),
        ..State::default()
    };
    let chunk_1 = Cursor {
        chunk: 1,
        starting_after: None,
        page_limit: None,
    };
    let wait = Some(StopReason::Wait { secs: 1_200 });
    let waiting = invoke(&before, NOW_MS, NOW_S - 10, Some(chunk_1), wait);
    let complete = invoke(&waiting, NOW_MS + 1_200_000, NOW_S + 1_190, None, None);
    let chunk_0_event = NOW_S + 60;
    assert!(
        next_since(&complete, NOW_MS + 2_100_000) <= chunk_0_event,
        "checkpoint {:?} skips the chunk-0 event created at {chunk_0_event}",
        complete.checkpoint
    );
}

use crate::settings::config_of as settings_with;

#[test]
fn backfill_max_pages_is_refused_past_its_largest_value() {
    use super::budget::MAX_PAGES;
    let at_most = |pages: &'static str| -> Vec<(&'static str, &'static str)> {
        vec![
            ("STRIPE_API_KEY", "rk_test_1"),
            ("BACKFILL_MAX_PAGES", pages),
        ]
    };
    let largest = settings_with(at_most("50").leak())
        .backfill()
        .unwrap()
        .unwrap()
        .max_pages;
    assert_eq!(largest, MAX_PAGES);
    // What a run spends is bounded by its invocation's budget (`budget::OperationBudget`); the
    // page bound is the setting's own limit.
    let refused = settings_with(at_most("200").leak()).backfill().unwrap_err();
    assert_eq!(refused.setting, "BACKFILL_MAX_PAGES");
    let shopify = settings_with(
        [
            ("SHOPIFY_SHOP_DOMAIN", "a.myshopify.com"),
            ("SHOPIFY_ADMIN_TOKEN", "shpat_1"),
            ("BACKFILL_MAX_PAGES", "200"),
        ]
        .as_slice(),
    );
    assert_eq!(
        shopify.shopify_backfill().unwrap().unwrap().max_pages,
        MAX_PAGES
    );
}
