//! The alert channels: the facts each rule records, the `http` destination's states and the
//! signed alert body (their SQL: `channel_sql_tests`).

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
            source: String::new(),
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

/// The stored form reads back field for field; `null` and unknown fields are absent ones, a
/// field of another type (or a document that is not an object) reads as no facts at all.
#[test]
fn stored_facts_read_back_every_field_and_nothing_of_another_type() {
    let all = Facts {
        provider: Some("in".into()),
        source: Some("github-main".into()),
        destination: Some("crm".into()),
        reason: Some("http_500".into()),
        count: Some(u64::MAX),
        window_minutes: Some(5),
        silent_minutes: Some(60),
        quiet_minutes: Some(30),
        open_until: Some(-1),
        backfill_run: Some("7".into()),
        bytes_used: Some(10),
        bytes_limit: Some(20),
    };
    assert_eq!(Facts::from_json(Some(&all.to_json())), all);
    let some = Facts::from_json(Some(r#"{"provider":"shopify","count":null,"extra":[1]}"#));
    assert_eq!(
        some,
        Facts {
            provider: Some("shopify".into()),
            ..Facts::default()
        }
    );
    for other in [
        r#"{"provider":"shopify","count":-1}"#,
        r#"{"provider":"shopify","count":1.5}"#,
        r#"{"provider":1}"#,
        r#"{"open_until":18446744073709551615}"#,
        r#"["provider"]"#,
    ] {
        assert_eq!(Facts::from_json(Some(other)), Facts::default(), "{other}");
    }
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
        "source",
        "destination",
        "reason",
        "count",
        "window_minutes",
        "silent_minutes",
        "quiet_minutes",
        "open_until",
        "backfill_run",
        "bytes_used",
        "bytes_limit",
    ] {
        assert!(keys.contains(&key), "{key} missing from {keys:?}");
    }
    assert_eq!(alert.len(), 19, "no key beyond the documented ones");
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
