//! The alert channels' SQL against the migrations: Slack and `http` deliver, fail, are held and
//! rate-limited independently; the alert's notice settles once every configured channel has it;
//! migration 0013 carries the Slack state over.

use rusqlite::{params, Connection};

use super::sql;

const NOW: i64 = 1_700_000_000_000;
const MIN: i64 = 60_000;

/// Every row of `sql` (no parameters), read by `row`.
fn all_rows<T>(
    db: &Connection,
    sql: &str,
    row: impl FnMut(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> Vec<T> {
    let mut statement = db.prepare(sql).unwrap();
    let rows = statement.query_map([], row).unwrap();
    rows.map(Result::unwrap).collect()
}

/// The default rate limit (`ALERT_RENOTIFY_MINUTES`, 30) in ms.
const SPACING: i64 = 30 * MIN;

/// The notices due on `channel` an hour after [`NOW`] (every backoff and rate limit these tests
/// set up has run out by then).
fn pending(db: &Connection, channel: &str) -> Vec<(i64, String, i64, Option<i64>)> {
    pending_at(db, channel, NOW + 60 * MIN)
}

fn pending_at(db: &Connection, channel: &str, now: i64) -> Vec<(i64, String, i64, Option<i64>)> {
    let mut statement = db.prepare(sql::PENDING_NOTICES).unwrap();
    let rows = statement
        .query_map(params![channel, now, SPACING], |r| {
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
    let db = crate::steps::lifecycle::sql_tests::database();
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
    let rows: Vec<(i64, i64, String)> = all_rows(
        &db,
        "SELECT alert_id, attempts, error FROM alert_deliveries WHERE channel = 'http' ORDER BY alert_id",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
    );
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
    assert!(
        pending_at(&db, "slack", NOW + 5 * MIN).is_empty(),
        "the clear waits for the rate limit, out of the read"
    );
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
    let db = crate::steps::lifecycle::sql_tests::database();
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
    let rows: Vec<(i64, Option<String>, i64, Option<String>)> = all_rows(
        &db,
        "SELECT alert_id, sent, attempts, error FROM alert_deliveries WHERE channel = 'slack' ORDER BY alert_id",
        |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
    );
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

/// What a cron at `now` sends on `channel`: the notices it reads, decided as the shell decides
/// them (rate limit, backoff, cap).
fn sends_now(db: &Connection, channel: &str, now: i64) -> Vec<(String, String)> {
    use super::notify::{decide, Decision, NoticeState, PendingNotice};
    let settings = super::AlertSettings::default();
    assert_eq!(settings.renotify_ms(), SPACING);
    let mut statement = db.prepare(sql::PENDING_NOTICES).unwrap();
    let rows = statement
        .query_map(params![channel, now, SPACING], |r| {
            Ok(PendingNotice {
                alert_id: r.get("id")?,
                kind: r.get("kind")?,
                key: r.get("key")?,
                detail: r.get("detail")?,
                state: NoticeState::from_name(&r.get::<_, String>("notice")?).unwrap(),
                fired_at_ms: r.get("fired_at")?,
                cleared_at_ms: r.get("cleared_at")?,
                facts: super::Facts::default(),
                attempts: r.get::<_, i64>("notice_attempts")? as u32,
                next_try_at_ms: r.get("notice_next_at")?,
                last_notified_at_ms: r.get("last_notified_at")?,
            })
        })
        .unwrap();
    rows.map(Result::unwrap)
        .filter(|n| decide(n, now, &settings, 0) == Decision::Send)
        .map(|n| (n.kind, n.key))
        .collect()
}

/// A circuit flapping through a long outage: 50 firings of one key, each waiting on the key's
/// rate limit (one was just announced), then a fresh `dead_steps` alert. The waiting notices
/// must not take the whole read: the fresh one goes out now, and of the flapping key only its
/// latest state is due (when its rate limit allows).
#[test]
fn sql_waiting_notices_of_one_key_do_not_starve_a_fresh_one() {
    let db = crate::steps::lifecycle::sql_tests::database();
    for i in 0..50 {
        let at = NOW - (50 - i) * MIN;
        db.execute(sql::FIRE, params!["circuit_open", "hubspot", "d", at, "{}"])
            .unwrap();
        if i < 49 {
            db.execute(sql::CLEAR, params![i + 1, at + 30_000]).unwrap();
        }
    }
    db.execute(
        "INSERT INTO alert_deliveries (alert_id, channel, sent, last_notified_at) \
         VALUES (1, 'slack', 'fired', ?1)",
        params![NOW - MIN],
    )
    .unwrap();
    db.execute(sql::FIRE, params!["dead_steps", "x:y", "d", NOW, "{}"])
        .unwrap();
    assert_eq!(
        sends_now(&db, "slack", NOW),
        vec![("dead_steps".to_string(), "x:y".to_string())],
        "the fresh notice is sent, the flapping key waits"
    );
    let later = pending_at(&db, "slack", NOW + SPACING);
    let ids: Vec<(i64, String)> = later.into_iter().map(|r| (r.0, r.1)).collect();
    assert_eq!(
        ids,
        vec![(50, "fired".into()), (51, "fired".into())],
        "once the key's rate limit allows: its latest state only, not 50 old notices"
    );
    db.execute(sql::SETTLE_NOTICES, params![0, 0]).unwrap();
    let still_due: i64 = db
        .query_row(
            "SELECT COUNT(*) FROM alerts WHERE notice IS NOT NULL",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(still_due, 2, "the 49 superseded notices are settled");
}
