//! The alert channels: the facts each rule records, the `http` destination's states, the signed
//! alert body, and the per-channel SQL against the migrations (Slack and `http` deliver, fail,
//! are held and rate-limited independently; the alert's notice settles once every configured
//! channel has it; migration 0013 carries the Slack state over).

use rusqlite::{params, Connection};
use serde_json::json;

use super::body::{alert_body, http_request, message_id};
use super::channel::{HttpChannel, StoredDestination};
use super::notify::{NoticeState, PendingNotice};
use super::rules::conditions;
use super::*;
use crate::connections::HttpDestination;
use crate::standard_webhooks::{verify, SigningKey};

const NOW: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;
const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

fn destination(paused: bool) -> HttpDestination {
    HttpDestination::from_json(&json!({
        "name": "ops-alerts", "type": "http", "url": "https://ops.example/alerts",
        "secrets": [SECRET], "timeout_ms": 1500, "paused": paused
    }))
    .unwrap()
}

#[test]
fn each_rule_records_its_facts() {
    let obs = Observations {
        now_ms: NOW,
        signature_failures: vec![FailureCount {
            provider: "stripe".into(),
            reason: "signature_mismatch".into(),
            count: 7,
        }],
        dead: vec![DeadGroup {
            destination: "hubspot".into(),
            error: "http_400".into(),
            count: 2,
        }],
        backfills: vec![BackfillRun {
            id: "12".into(),
            provider: "stripe".into(),
            ingested: 4,
            finished_at_ms: NOW - MIN,
        }],
        ..Observations::default()
    };
    let all = conditions(&obs, &AlertSettings::default(), &[]);
    let facts = |kind| &all.iter().find(|c| c.kind == kind).unwrap().facts;
    let signature = facts(AlertKind::SignatureFailures);
    assert_eq!(
        (
            signature.provider.as_deref(),
            signature.reason.as_deref(),
            signature.count,
            signature.window_minutes
        ),
        (Some("stripe"), Some("signature_mismatch"), Some(7), Some(5))
    );
    let dead = facts(AlertKind::DeadSteps);
    assert_eq!(
        (
            dead.destination.as_deref(),
            dead.reason.as_deref(),
            dead.count
        ),
        (Some("hubspot"), Some("http_400"), Some(2))
    );
    let backfill = facts(AlertKind::BackfillRecovered);
    assert_eq!(
        (backfill.count, backfill.backfill_run.as_deref()),
        (Some(4), Some("12"))
    );
    assert_eq!(Facts::from_json(Some(&signature.to_json())), *signature);
    assert_eq!(Facts::from_json(None), Facts::default());
    assert_eq!(Facts::from_json(Some("not json")), Facts::default());
}

#[test]
fn the_http_channel_is_ready_only_for_a_stored_unpaused_http_destination() {
    let stored = |kind: &str, destination| {
        Some(StoredDestination {
            kind: kind.into(),
            destination,
        })
    };
    let ready = HttpChannel::resolve("ops-alerts", stored("http", Ok(destination(false))));
    assert_eq!(ready.state(), "ready");
    let cases = [
        (
            HttpChannel::resolve("ops-alerts", stored("http", Ok(destination(true)))),
            "alert_destination_paused",
        ),
        (
            HttpChannel::resolve("ops-alerts", None),
            "alert_destination_unknown",
        ),
        (
            HttpChannel::resolve("slack.notify", None),
            "alert_destination_not_http",
        ),
        (
            HttpChannel::resolve("Not A Name", None),
            "alert_destination_not_http",
        ),
        (
            HttpChannel::resolve("ops-alerts", stored("grpc", Ok(destination(false)))),
            "alert_destination_not_http",
        ),
        (
            HttpChannel::resolve("ops-alerts", stored("http", Err("secrets".into()))),
            "alert_destination_invalid",
        ),
    ];
    for (channel, state) in cases {
        assert_eq!(channel.state(), state, "{channel:?}");
        assert!(!channel.name().is_empty());
    }
}

fn notice(state: NoticeState) -> PendingNotice {
    PendingNotice {
        alert_id: 42,
        kind: "signature_failures".into(),
        key: "stripe:signature_mismatch".into(),
        detail: "7 stripe deliveries failed verification".into(),
        state,
        fired_at_ms: NOW,
        cleared_at_ms: (state == NoticeState::Cleared).then_some(NOW + 6 * MIN),
        facts: Facts {
            provider: Some("stripe".into()),
            reason: Some("signature_mismatch".into()),
            count: Some(7),
            window_minutes: Some(5),
            ..Facts::default()
        },
        attempts: 0,
        next_try_at_ms: None,
        last_notified_at_ms: None,
    }
}

#[test]
fn the_alert_body_is_stable_and_signed_like_an_event_delivery() {
    let body = alert_body(&notice(NoticeState::Cleared));
    assert_eq!(body["type"], "alert.cleared");
    let alert = body["alert"].as_object().unwrap();
    let keys: Vec<&str> = alert.keys().map(String::as_str).collect();
    for key in [
        "id",
        "kind",
        "key",
        "state",
        "detail",
        "fired_at",
        "cleared_at",
        "provider",
        "destination",
        "reason",
        "count",
        "window_minutes",
        "silent_minutes",
        "quiet_minutes",
        "open_until",
        "backfill_run",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert_eq!(alert.len(), 16, "no key beyond the documented ones");
    assert_eq!(
        (&alert["count"], &alert["destination"], &alert["cleared_at"]),
        (&json!(7), &json!(null), &json!(NOW + 6 * MIN))
    );
    assert!(body["text"]
        .as_str()
        .unwrap()
        .starts_with("[edgehooks] CLEARED"));

    let fired = notice(NoticeState::Fired);
    let spec = http_request(&destination(false), &fired, 1_700_000_000);
    assert_eq!(
        (spec.method, spec.url.as_str()),
        ("POST", "https://ops.example/alerts")
    );
    let header = |name: &str| {
        spec.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert_eq!(header("webhook-id"), "alert_42_fired");
    assert_eq!(header("webhook-id"), message_id(&fired));
    assert_eq!(header("edgehooks-event-type"), "alert.fired");
    let key = SigningKey::from_secret(SECRET).unwrap();
    let checked = verify(
        &[key],
        "alert_42_fired",
        "1700000000",
        &header("webhook-signature"),
        spec.body.as_bytes(),
        1_700_000_000,
        300,
    );
    assert!(checked.is_ok());
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&spec.body).unwrap(),
        alert_body(&fired)
    );
}

fn pending(db: &Connection, channel: &str) -> Vec<(i64, String, i64, Option<i64>)> {
    let mut statement = db.prepare(sql::PENDING_NOTICES).unwrap();
    let rows = statement
        .query_map(params![channel], |r| {
            Ok((
                r.get("id")?,
                r.get("notice")?,
                r.get("notice_attempts")?,
                r.get("last_notified_at")?,
            ))
        })
        .unwrap();
    rows.map(Result::unwrap).collect()
}

fn sent(db: &Connection, channel: &str, state: &str, at: i64) -> usize {
    let tx = db.unchecked_transaction().unwrap();
    let n = tx
        .execute(sql::NOTICE_SENT, params![1, channel, state, at])
        .unwrap();
    tx.execute(sql::LOG_NOTICE, params![1, channel, state, at])
        .unwrap();
    tx.commit().unwrap();
    n
}

fn notice_of(db: &Connection) -> Option<String> {
    db.query_row("SELECT notice FROM alerts WHERE id = 1", [], |r| r.get(0))
        .unwrap()
}

fn count_sent(db: &Connection, channel: &str) -> i64 {
    db.query_row(sql::SENT_SINCE, params![NOW, channel], |r| r.get(0))
        .unwrap()
}

#[test]
fn sql_channels_deliver_fail_and_settle_independently() {
    let db = crate::lifecycle::sql_tests::database();
    db.execute(
        sql::FIRE,
        params![
            "circuit_open",
            "hubspot",
            "d",
            NOW,
            r#"{"destination":"hubspot"}"#
        ],
    )
    .unwrap();
    assert_eq!(pending(&db, "slack").len(), 1);
    assert_eq!(pending(&db, "http").len(), 1);

    db.execute(
        sql::NOTICE_FAILED,
        params![1, "http", NOW + MIN, "http_500"],
    )
    .unwrap();
    db.execute(
        sql::NOTICE_FAILED,
        params![1, "http", NOW + MIN, "http_502"],
    )
    .unwrap();
    assert_eq!(sent(&db, "slack", "fired", NOW), 1);
    assert!(pending(&db, "slack").is_empty(), "slack has it");
    assert_eq!(
        pending(&db, "http"),
        vec![(1, "fired".into(), 2, None)],
        "http keeps its own failures and is still due"
    );
    db.execute(sql::SETTLE_NOTICES, params![1, 1]).unwrap();
    assert_eq!(
        notice_of(&db).as_deref(),
        Some("fired"),
        "not settled until http has it"
    );
    db.execute(sql::SETTLE_NOTICES, params![1, 0]).unwrap();
    assert_eq!(
        notice_of(&db),
        None,
        "with Slack alone configured, Slack settles it"
    );
    db.execute("UPDATE alerts SET notice = 'fired'", [])
        .unwrap();

    db.execute(sql::FIRE, params!["dead_steps", "x:y", "d", NOW, "{}"])
        .unwrap();
    let held = db
        .execute(
            sql::HOLD_PENDING,
            params!["http", "alert_destination_paused"],
        )
        .unwrap();
    assert_eq!(held, 2, "every notice due on http");
    let rows: Vec<(i64, i64, String)> = db
        .prepare("SELECT alert_id, attempts, error FROM alert_deliveries WHERE channel = 'http' ORDER BY alert_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        vec![
            (1, 2, "alert_destination_paused".into()),
            (2, 0, "alert_destination_paused".into())
        ],
        "held: no attempt counted"
    );
    let slack_held = db
        .execute(sql::HOLD_PENDING, params!["slack", "x"])
        .unwrap();
    assert_eq!(slack_held, 1, "not a notice the channel already delivered");
    db.execute(
        "DELETE FROM alert_deliveries WHERE alert_id = 2 OR error = 'x'",
        [],
    )
    .unwrap();
    db.execute("DELETE FROM alerts WHERE id = 2", []).unwrap();

    assert_eq!(sent(&db, "http", "fired", NOW + 2 * MIN), 1);
    assert_eq!((count_sent(&db, "slack"), count_sent(&db, "http")), (1, 1));
    db.execute(sql::SETTLE_NOTICES, params![1, 1]).unwrap();
    assert_eq!(notice_of(&db), None, "every configured channel has it");
    db.execute(sql::SETTLE_NOTICES, params![0, 0]).unwrap();

    db.execute(sql::CLEAR, params![1, NOW + 5 * MIN]).unwrap();
    let due = pending(&db, "slack");
    assert_eq!(
        due,
        vec![(1, "cleared".into(), 0, Some(NOW))],
        "each channel's rate limit reads its own last notice"
    );
    assert_eq!(pending(&db, "http")[0].3, Some(NOW + 2 * MIN));
    assert_eq!(
        sent(&db, "slack", "fired", NOW + 6 * MIN),
        0,
        "a stale notice is not recorded"
    );
    assert_eq!(count_sent(&db, "slack"), 1);
}

#[test]
fn sql_nothing_settles_without_a_channel() {
    let db = crate::lifecycle::sql_tests::database();
    db.execute(sql::FIRE, params!["dead_steps", "x:y", "d", NOW, "{}"])
        .unwrap();
    assert_eq!(db.execute(sql::SETTLE_NOTICES, params![0, 0]).unwrap(), 0);
    assert_eq!(notice_of(&db).as_deref(), Some("fired"));
}

/// Migrations before 0013, then an alert history as 0011 kept it, then 0013.
#[test]
fn migration_0013_carries_the_slack_state_over() {
    let db = Connection::open_in_memory().unwrap();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    let (before, after): (Vec<_>, Vec<_>) = files
        .into_iter()
        .partition(|p| p.file_name().unwrap().to_string_lossy().as_ref() < "0013");
    for file in before {
        db.execute_batch(&std::fs::read_to_string(file).unwrap())
            .unwrap();
    }
    db.execute_batch(
        "INSERT INTO alerts (id, kind, key, detail, fired_at, cleared_at, last_notified_at, notice, \
         notice_attempts, notice_next_at, notice_error) VALUES \
         (1, 'dead_steps', 'a', 'd', 1, 5, 6, NULL, 0, NULL, NULL), \
         (2, 'dead_steps', 'b', 'd', 1, 5, 2, 'cleared', 1, 9, 'http_500'), \
         (3, 'dead_steps', 'c', 'd', 1, NULL, NULL, 'fired', 2, 9, 'http_502'), \
         (4, 'dead_steps', 'e', 'd', 1, NULL, NULL, 'fired', 0, NULL, NULL);",
    )
    .unwrap();
    for file in after {
        db.execute_batch(&std::fs::read_to_string(file).unwrap())
            .unwrap();
    }
    let rows: Vec<(i64, Option<String>, i64, Option<String>)> = db
        .prepare("SELECT alert_id, sent, attempts, error FROM alert_deliveries WHERE channel = 'slack' ORDER BY alert_id")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(
        rows,
        vec![
            (1, Some("cleared".into()), 0, None),
            (2, Some("fired".into()), 1, Some("http_500".into())),
            (3, None, 2, Some("http_502".into())),
        ]
    );
    let due: Vec<i64> = pending(&db, "slack").into_iter().map(|r| r.0).collect();
    assert_eq!(due, vec![2, 3, 4], "what was due on Slack still is");
}
