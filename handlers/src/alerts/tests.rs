//! The alert rules (thresholds, quiet periods, clearing), dedupe, the notice rate limits and
//! backoff, and the alerts' SQL against the migrations.

use rusqlite::{params, Connection};

use super::notify::{backoff_ms, decide, text, Decision, NoticeState, PendingNotice};
use super::rules::conditions;
use super::state::{reconcile, Change};
use super::*;

const NOW: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

fn settings() -> AlertSettings {
    AlertSettings {
        signature_threshold: 5,
        quiet_minutes: [("stripe".to_string(), 10)].into_iter().collect(),
        renotify_minutes: 30,
        max_per_hour: 3,
        storage_limit_bytes: 1_000_000,
    }
}

fn failures(count: u64) -> Observations {
    Observations {
        now_ms: NOW,
        signature_failures: vec![FailureCount {
            provider: "stripe".into(),
            source: String::new(),
            reason: "signature_mismatch".into(),
            count,
        }],
        ..Observations::default()
    }
}

#[test]
fn signature_failures_fire_at_the_threshold_naming_provider_and_reason() {
    assert!(conditions(&failures(4), &settings(), &[]).is_empty());
    let fired = conditions(&failures(5), &settings(), &[]);
    assert_eq!(fired.len(), 1);
    assert_eq!(fired[0].kind, AlertKind::SignatureFailures);
    assert_eq!(fired[0].key, "stripe:signature_mismatch");
    assert!(fired[0]
        .detail
        .starts_with("5 stripe deliveries failed verification (signature_mismatch)"));
    let off = AlertSettings {
        signature_threshold: 0,
        ..settings()
    };
    assert!(
        conditions(&failures(50), &off, &[]).is_empty(),
        "0 turns the rule off"
    );
}

#[test]
fn failed_admin_sign_ins_fire_the_same_rule_worded_for_the_admin_api() {
    let mut obs = failures(6);
    obs.signature_failures[0].provider = "admin".into();
    obs.signature_failures[0].reason = "token_mismatch".into();
    let fired = conditions(&obs, &settings(), &[]);
    assert_eq!(fired[0].key, "admin:token_mismatch");
    assert!(fired[0]
        .detail
        .starts_with("6 admin sign-ins failed (token_mismatch) in 5 minutes"));
}

fn seen(minutes_ago: i64, provider: &str) -> Observations {
    Observations {
        now_ms: NOW,
        last_seen_ms: [(provider.to_string(), NOW - minutes_ago * MIN)]
            .into_iter()
            .collect(),
        ..Observations::default()
    }
}

#[test]
fn a_provider_that_normally_sends_is_silent_past_its_quiet_period() {
    let s = settings();
    assert!(
        conditions(&seen(10, "stripe"), &s, &[]).is_empty(),
        "exactly the quiet period"
    );
    let silent = conditions(&seen(11, "stripe"), &s, &[]);
    assert_eq!(
        (silent[0].kind, silent[0].key.as_str()),
        (AlertKind::ProviderSilent, "stripe")
    );
    assert!(silent[0].detail.contains("nothing for 11 minutes"));
    assert!(
        conditions(&seen(25, "stripe"), &s, &[]).is_empty(),
        "no events in the window before: it does not normally send"
    );
    let open = OpenAlert {
        id: 1,
        kind: AlertKind::ProviderSilent,
        key: "stripe".into(),
        detail: String::new(),
    };
    assert_eq!(
        conditions(&seen(25, "stripe"), &s, &[open]).len(),
        1,
        "an open alert stays open"
    );
    assert!(
        conditions(&seen(30, "shopify"), &s, &[]).is_empty(),
        "no quiet period set"
    );
    assert!(conditions(
        &Observations {
            now_ms: NOW,
            ..Observations::default()
        },
        &s,
        &[]
    )
    .is_empty());
}

#[test]
fn a_registry_source_failing_verification_is_named_in_its_alert() {
    let obs = Observations {
        now_ms: NOW,
        signature_failures: ["github-main", "linear"]
            .into_iter()
            .zip([5, 4])
            .map(|(source, count)| FailureCount {
                provider: "in".into(),
                source: source.into(),
                reason: "signature_mismatch".into(),
                count,
            })
            .collect(),
        ..Observations::default()
    };
    let fired = conditions(&obs, &settings(), &[]);
    assert_eq!(fired.len(), 1, "linear is under the threshold on its own");
    assert_eq!(fired[0].key, "in:github-main:signature_mismatch");
    assert!(fired[0].detail.starts_with(
        "5 deliveries to registry source github-main failed verification (signature_mismatch)"
    ));
    assert_eq!(
        (
            fired[0].facts.provider.as_deref(),
            fired[0].facts.source.as_deref()
        ),
        (Some("in"), Some("github-main"))
    );
}

#[test]
fn each_registry_source_with_a_quiet_period_is_watched_on_its_own() {
    // github-main last sent 11 minutes ago, linear a minute ago: the registry as a whole is
    // not silent, github-main is.
    let last_seen = last_seen([
        ("in".to_string(), "github-main".to_string(), NOW - 11 * MIN),
        ("in".to_string(), "linear".to_string(), NOW - MIN),
        ("stripe".to_string(), String::new(), NOW - 2 * MIN),
    ]);
    assert_eq!(
        last_seen.get("in"),
        Some(&(NOW - MIN)),
        "the registry as a whole"
    );
    assert_eq!(last_seen.get("in:github-main"), Some(&(NOW - 11 * MIN)));
    assert_eq!(
        last_seen.get("stripe:"),
        None,
        "a built-in provider is one subject"
    );
    let s = AlertSettings {
        quiet_minutes: [("in:github-main", 10), ("in:linear", 10), ("in", 10)]
            .into_iter()
            .map(|(subject, minutes)| (subject.to_string(), minutes))
            .collect(),
        ..settings()
    };
    let obs = Observations {
        now_ms: NOW,
        last_seen_ms: last_seen,
        ..Observations::default()
    };
    let silent = conditions(&obs, &s, &[]);
    assert_eq!(silent.len(), 1, "{silent:?}");
    assert_eq!(silent[0].key, "in:github-main");
    assert_eq!(
        silent[0].detail,
        "registry source github-main has sent nothing for 11 minutes (quiet period 10 minutes)"
    );
    assert_eq!(silent[0].facts.source.as_deref(), Some("github-main"));
}

#[test]
fn dead_steps_circuits_and_backfills() {
    let obs = Observations {
        now_ms: NOW,
        dead: vec![DeadGroup {
            destination: "hubspot".into(),
            error: "http_400".into(),
            count: 3,
        }],
        open_circuits: vec![("sendgrid".into(), NOW + 30_000), ("slack".into(), NOW - 1)],
        backfills: vec![
            BackfillRun {
                id: "7".into(),
                provider: "stripe".into(),
                ingested: 12,
                finished_at_ms: NOW - MIN,
            },
            BackfillRun {
                id: "6".into(),
                provider: "stripe".into(),
                ingested: 0,
                finished_at_ms: NOW - MIN,
            },
            BackfillRun {
                id: "5".into(),
                provider: "stripe".into(),
                ingested: 4,
                finished_at_ms: NOW - BACKFILL_WINDOW_MS,
            },
        ],
        ..Observations::default()
    };
    let all = conditions(&obs, &settings(), &[]);
    let keys: Vec<(AlertKind, &str)> = all.iter().map(|c| (c.kind, c.key.as_str())).collect();
    assert_eq!(
        keys,
        vec![
            (AlertKind::DeadSteps, "hubspot:http_400"),
            (AlertKind::CircuitOpen, "sendgrid"),
            (AlertKind::BackfillRecovered, "7"),
        ]
    );
    assert_eq!(all[0].detail, "3 dead steps at hubspot (http_400)");
    assert!(all[1].detail.contains("30 more seconds"));
    assert_eq!(
        all[2].detail,
        "a stripe backfill recovered 12 events the webhooks had lost"
    );
}

#[test]
fn one_open_alert_per_kind_and_key_fired_updated_and_cleared() {
    let holding = conditions(&failures(6), &settings(), &[]);
    let changes = reconcile(&[], &[holding.clone(), holding.clone()].concat());
    assert_eq!(
        changes,
        vec![Change::Fire(holding[0].clone())],
        "a condition fires once"
    );
    let open = OpenAlert {
        id: 9,
        kind: holding[0].kind,
        key: holding[0].key.clone(),
        detail: holding[0].detail.clone(),
    };
    assert!(
        reconcile(std::slice::from_ref(&open), &holding).is_empty(),
        "still open: nothing to do"
    );
    let more = conditions(&failures(8), &settings(), &[]);
    assert_eq!(
        reconcile(std::slice::from_ref(&open), &more),
        vec![Change::Update {
            id: 9,
            detail: more[0].detail.clone(),
            facts: more[0].facts.clone(),
        }]
    );
    assert_eq!(reconcile(&[open], &[]), vec![Change::Clear { id: 9 }]);
}

fn notice(last_notified: Option<i64>) -> PendingNotice {
    PendingNotice {
        alert_id: 1,
        kind: "dead_steps".into(),
        key: "hubspot:http_400".into(),
        detail: "3 dead steps at hubspot (http_400)".into(),
        state: NoticeState::Fired,
        fired_at_ms: NOW,
        cleared_at_ms: None,
        facts: Facts::default(),
        attempts: 0,
        next_try_at_ms: None,
        last_notified_at_ms: last_notified,
    }
}

#[test]
fn notices_are_rate_limited_per_alert_and_capped_per_hour() {
    let s = settings();
    assert_eq!(decide(&notice(None), NOW, &s, 0), Decision::Send);
    assert_eq!(
        decide(&notice(Some(NOW - 10 * MIN)), NOW, &s, 0),
        Decision::WaitUntil(NOW + 20 * MIN),
        "one notice per alert per 30 minutes"
    );
    assert_eq!(
        decide(&notice(Some(NOW - 30 * MIN)), NOW, &s, 0),
        Decision::Send
    );
    assert_eq!(decide(&notice(None), NOW, &s, 3), Decision::Capped);
    let failed = PendingNotice {
        attempts: 2,
        next_try_at_ms: Some(NOW + MIN),
        ..notice(None)
    };
    assert_eq!(decide(&failed, NOW, &s, 0), Decision::WaitUntil(NOW + MIN));
    assert_eq!(decide(&failed, NOW + MIN, &s, 0), Decision::Send);
}

#[test]
fn failed_sends_back_off_up_to_half_an_hour() {
    assert_eq!(backoff_ms(1), MIN);
    assert_eq!(backoff_ms(2), 2 * MIN);
    assert_eq!(backoff_ms(4), 8 * MIN);
    assert_eq!(backoff_ms(6), 30 * MIN);
    assert_eq!(backoff_ms(u32::MAX), 30 * MIN);
}

#[test]
fn notice_text_says_state_kind_key_and_detail() {
    assert_eq!(
        text(&notice(None)),
        "[edgehooks] FIRING dead_steps hubspot:http_400: 3 dead steps at hubspot (http_400)"
    );
    let cleared = PendingNotice {
        state: NoticeState::Cleared,
        ..notice(None)
    };
    assert!(text(&cleared).starts_with("[edgehooks] CLEARED dead_steps"));
}

fn open_count(db: &Connection) -> i64 {
    db.query_row(
        "SELECT COUNT(*) FROM alerts WHERE cleared_at IS NULL",
        [],
        |r| r.get(0),
    )
    .unwrap_or(-1)
}

#[test]
fn sql_fires_once_while_open_clears_and_fires_again() {
    let db = crate::steps::lifecycle::sql_tests::database();
    let fire = |now: i64| {
        db.execute(
            sql::FIRE,
            params!["dead_steps", "hubspot:x", "d", now, "{}"],
        )
        .unwrap()
    };
    assert_eq!(fire(NOW), 1);
    assert_eq!(
        fire(NOW + MIN),
        0,
        "dedupe: one open alert per kind and key"
    );
    assert_eq!(open_count(&db), 1);
    assert_eq!(
        db.execute(sql::CLEAR, params![1, NOW + 2 * MIN]).unwrap(),
        1
    );
    assert_eq!(
        db.execute(sql::CLEAR, params![1, NOW + 3 * MIN]).unwrap(),
        0
    );
    let notice: String = db
        .query_row("SELECT notice FROM alerts WHERE id = 1", [], |r| r.get(0))
        .unwrap();
    assert_eq!(notice, "cleared");
    assert_eq!(fire(NOW + 4 * MIN), 1, "a new firing after the clear");
    assert_eq!(open_count(&db), 1);
}

#[test]
fn storage_fires_at_80_percent_and_clears_under_75() {
    use crate::alerts::rules::STORAGE_KEY;
    use crate::retention::storage::StorageUse;
    let at = |bytes_used| Observations {
        now_ms: NOW,
        storage: Some(StorageUse {
            bytes_used,
            limit_bytes: 10_000_000_000,
        }),
        ..Observations::default()
    };
    let s = settings();
    assert!(conditions(&at(7_999_999_999), &s, &[]).is_empty());
    let fired = conditions(&at(8_123_000_000), &s, &[]);
    assert_eq!(
        (fired[0].kind, fired[0].key.as_str()),
        (AlertKind::StorageHigh, STORAGE_KEY)
    );
    assert!(
        fired[0]
            .detail
            .contains("uses 81% of its storage limit (8.12 of 10.00 GB)"),
        "{}",
        fired[0].detail
    );
    assert_eq!(fired[0].facts.bytes_used, Some(8_123_000_000));
    assert_eq!(fired[0].facts.bytes_limit, Some(10_000_000_000));
    let open = OpenAlert {
        id: 4,
        kind: AlertKind::StorageHigh,
        key: STORAGE_KEY.into(),
        detail: fired[0].detail.clone(),
    };
    // Back to 76%: still open (no flapping at the threshold); under 75%: clears.
    assert_eq!(
        conditions(&at(7_600_000_000), &s, std::slice::from_ref(&open)).len(),
        1
    );
    assert!(conditions(&at(7_499_999_999), &s, std::slice::from_ref(&open)).is_empty());
    // Not measured: an open alert stays as it is, none fires.
    let unmeasured = Observations {
        now_ms: NOW,
        ..Observations::default()
    };
    let kept = conditions(&unmeasured, &s, std::slice::from_ref(&open));
    assert_eq!(kept.len(), 1);
    assert_eq!(kept[0].detail, open.detail);
    assert!(reconcile(&[open], &kept).is_empty());
    assert!(conditions(&unmeasured, &s, &[]).is_empty());
    // A limit of 0 turns the alert off.
    let off = Observations {
        now_ms: NOW,
        storage: Some(StorageUse {
            bytes_used: 5,
            limit_bytes: 0,
        }),
        ..Observations::default()
    };
    assert!(conditions(&off, &s, &[]).is_empty());
}

/// Silence longer than `METRICS_RETENTION_DAYS`: the sweeper deleted the subject's last bucket,
/// so nothing says when it last sent. Its open alert still holds (it has not sent since), with
/// the detail it had, so nothing is updated, cleared or announced; without an open alert a
/// subject never seen does not fire.
#[test]
fn an_open_silent_alert_stays_open_once_its_last_bucket_is_swept() {
    let s = settings();
    let open = OpenAlert {
        id: 1,
        kind: AlertKind::ProviderSilent,
        key: "stripe".into(),
        detail: "stripe has sent nothing for 10070 minutes (quiet period 10 minutes)".into(),
    };
    let swept = Observations {
        now_ms: NOW,
        ..Observations::default()
    };
    let holding = conditions(&swept, &s, std::slice::from_ref(&open));
    assert_eq!(
        reconcile(std::slice::from_ref(&open), &holding),
        vec![],
        "no clear, no update"
    );
    assert!(
        conditions(&swept, &s, &[]).is_empty(),
        "never seen: no alert"
    );
    let open_other = OpenAlert {
        key: "shopify".into(),
        ..open
    };
    let holding = conditions(&swept, &s, std::slice::from_ref(&open_other));
    assert_eq!(
        reconcile(std::slice::from_ref(&open_other), &holding),
        vec![Change::Clear { id: 1 }],
        "a subject no longer watched (no quiet period) clears"
    );
}

/// A run that recovered events, then a resuming run recording a run each minute that found
/// nothing missing: the recovering run is still read (its alert holds for the hour).
#[test]
fn sql_a_recovering_backfill_run_is_read_behind_many_empty_ones() {
    let db = crate::steps::lifecycle::sql_tests::database();
    let run = |finished: i64, ingested: i64| {
        db.execute(
            "INSERT INTO backfill_runs (provider, origin, started_at, finished_at, since, \
             ingested) VALUES ('stripe', 'scheduled', ?1, ?1, 0, ?2)",
            params![finished, ingested],
        )
        .unwrap();
    };
    run(NOW - 40 * MIN, 7);
    for minute in (1..=39).rev() {
        run(NOW - minute * MIN, 0);
    }
    let mut statement = db.prepare(sql::RECOVERED_RUNS).unwrap();
    let read: Vec<(String, i64)> = statement
        .query_map(
            params![NOW - BACKFILL_WINDOW_MS, sql::RECOVERED_RUNS_READ],
            |r| Ok((r.get("id")?, r.get("ingested")?)),
        )
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(read, vec![("1".to_string(), 7)]);
}
