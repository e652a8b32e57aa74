//! The lifecycle's SQL against its rules: the migrations are applied to an in-memory SQLite, and
//! for every status (and every case that matters: entity turns, dispatch numbers, leases) each
//! statement the shell runs on D1 — the same text, from the same functions — must do exactly
//! what the pure rule says.

use rusqlite::{params, Connection};

use super::claim;
use super::status::{StepStatus, DEAD_LETTERS, RECOVERABLE};
use crate::downstream::{turn, CallTiming, EntityStanding, Turn};
use crate::steps::recovery::{
    dead_letter_ends, give_up_sql, lost_attempt_outcome, recover, recovery_sql, sweepable_sql,
    DeadLetterView, ATTEMPT_LOST, LOST_ATTEMPT_SQL,
};

const LEASE_MS: i64 = 15 * 60_000;
const NOW: i64 = 100_000_000;
const TIMING: CallTiming = CallTiming {
    timeout_ms: 10_000,
    lease_ms: LEASE_MS,
};

/// An in-memory SQLite with every migration applied.
pub(crate) fn database() -> Connection {
    let db = Connection::open_in_memory().expect("sqlite");
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .expect("migrations")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "sql"))
        .collect();
    files.sort();
    for file in files {
        let sql = std::fs::read_to_string(&file).expect("migration");
        db.execute_batch(&sql).expect("migration applies");
    }
    db
}

pub(crate) fn add_event(db: &Connection, id: &str, occurred_at: i64) {
    db.execute(
        "INSERT INTO events (id, provider, dedupe_key, type, occurred_at, received_at, status) \
         VALUES (?1, 'stripe', ?1, 'customer.updated', ?2, ?2, 'accepted')",
        params![id, occurred_at],
    )
    .expect("event");
}

pub(crate) fn add_step(
    db: &Connection,
    id: &str,
    event: &str,
    status: StepStatus,
    updated_at: i64,
) {
    db.execute(
        "INSERT INTO steps (id, event_id, name, destination, status, attempts, idempotency_key, \
         created_at, updated_at, entity) VALUES (?1, ?2, 'hubspot.upsert_contact', 'hubspot', ?3, 1, ?1, 0, ?4, 'E')",
        params![id, event, status.as_str(), updated_at],
    )
    .expect("step");
}

fn status_of(db: &Connection, id: &str) -> StepStatus {
    let text: String = db
        .query_row("SELECT status FROM steps WHERE id = ?1", [id], |r| r.get(0))
        .expect("status");
    StepStatus::parse(&text).expect("a known status")
}

/// Rows a RETURNING statement gave back.
fn returned(db: &Connection, sql: &str, args: &[&dyn rusqlite::ToSql]) -> usize {
    let mut statement = db.prepare(sql).expect("prepares");
    let mut rows = statement.query(args).expect("runs");
    let mut n = 0;
    while rows.next().expect("row").is_some() {
        n += 1;
    }
    n
}

#[test]
fn a_claim_takes_exactly_the_claimable_statuses() {
    for status in StepStatus::ALL {
        let db = database();
        add_event(&db, "ev", 1);
        add_step(&db, "s", "ev", status, 0);
        let taken = returned(&db, &claim::claim(), &[&"s", &NOW]);
        assert_eq!(taken == 1, status.is_claimable(), "{status:?}");
        let expected = if status.is_claimable() {
            StepStatus::Running
        } else {
            status
        };
        assert_eq!(status_of(&db, "s"), expected);
    }
}

/// What the other step of the entity is, in the claim's scenarios.
#[derive(Debug, Clone, Copy)]
enum Other {
    None,
    /// A step of a newer event, in this status.
    Newer(StepStatus),
    /// A step of an older event, in this status, updated this long ago.
    Older(StepStatus, i64),
    /// A newer event was already applied to the entity.
    AppliedNewer,
    /// This very event was applied already (not newer).
    AppliedSame,
}

fn others() -> Vec<Other> {
    let mut list = vec![Other::None, Other::AppliedNewer, Other::AppliedSame];
    for s in StepStatus::ALL {
        list.push(Other::Newer(s));
        list.push(Other::Older(s, 1_000));
        list.push(Other::Older(s, LEASE_MS + 1_000));
    }
    list
}

fn entity_world(status: StepStatus, other: Other) -> Connection {
    let db = database();
    add_event(&db, "ev5", 5_000);
    add_step(&db, "mine", "ev5", status, 0);
    match other {
        Other::None => {}
        Other::Newer(s) => {
            add_event(&db, "ev9", 9_000);
            add_step(&db, "other", "ev9", s, NOW - 1_000);
        }
        Other::Older(s, ago) => {
            add_event(&db, "ev1", 1_000);
            add_step(&db, "other", "ev1", s, NOW - ago);
        }
        Other::AppliedNewer | Other::AppliedSame => {
            let at = if matches!(other, Other::AppliedNewer) {
                9_000
            } else {
                5_000
            };
            db.execute(
                "INSERT INTO entity_versions (entity, step, occurred_at, event_id) \
                 VALUES ('E', 'hubspot.upsert_contact', ?1, 'evx')",
                [at],
            )
            .expect("version");
        }
    }
    db
}

fn standing(db: &Connection) -> (StepStatus, EntityStanding) {
    db.query_row(
        &claim::entity_standing(),
        params![
            "mine",
            "E",
            "hubspot.upsert_contact",
            5_000,
            "ev5",
            NOW - LEASE_MS
        ],
        |r| {
            let status: String = r.get(0)?;
            let newer: i64 = r.get(2)?;
            Ok((
                StepStatus::parse(&status).expect("known"),
                EntityStanding {
                    applied_ms: r.get(1)?,
                    newer_step: newer != 0,
                    running_since_ms: r.get(3)?,
                },
            ))
        },
    )
    .expect("standing")
}

#[test]
fn a_claim_in_turn_applies_iff_claimable_and_the_turn_says_go() {
    for status in StepStatus::ALL {
        for other in others() {
            let db = entity_world(status, other);
            let (read, standing) = standing(&db);
            assert_eq!(read, status);
            let verdict = turn(5_000, standing, NOW, TIMING);
            let taken = returned(
                &db,
                &claim::claim_in_turn(),
                &[
                    &"mine",
                    &"E",
                    &"hubspot.upsert_contact",
                    &5_000,
                    &"ev5",
                    &(NOW - LEASE_MS),
                    &NOW,
                ],
            );
            let expected = status.is_claimable() && verdict == Turn::Go;
            assert_eq!(taken == 1, expected, "{status:?} {other:?}: {verdict:?}");
        }
    }
}

#[test]
fn the_standing_is_what_the_rule_expects() {
    let (_, s) = standing(&entity_world(
        StepStatus::Enqueued,
        Other::Newer(StepStatus::Dead),
    ));
    assert!(!s.newer_step, "a dead newer step never applied");
    let (_, s) = standing(&entity_world(
        StepStatus::Enqueued,
        Other::Newer(StepStatus::Skipped),
    ));
    assert!(s.newer_step);
    let (_, s) = standing(&entity_world(
        StepStatus::Enqueued,
        Other::Older(StepStatus::Running, 1_000),
    ));
    assert_eq!(s.running_since_ms, Some(NOW - 1_000));
    let (_, s) = standing(&entity_world(
        StepStatus::Enqueued,
        Other::Older(StepStatus::Running, LEASE_MS + 1_000),
    ));
    assert_eq!(
        s.running_since_ms, None,
        "an expired lease is not in flight"
    );
}

#[test]
fn ending_without_a_call_and_deferring_follow_the_status_sets() {
    for status in StepStatus::ALL {
        let db = database();
        add_event(&db, "ev", 1);
        add_step(&db, "s", "ev", status, 0);
        let ended = db
            .execute(
                &claim::finish_without_call(),
                params!["s", StepStatus::SkippedStale.as_str(), "newer_event", NOW],
            )
            .expect("finish");
        // Only a step nobody holds: a `running` one is its claim's to record.
        assert_eq!(ended == 1, status.is_claimable(), "finish {status:?}");

        let db = database();
        add_event(&db, "ev", 1);
        add_step(&db, "s", "ev", status, 0);
        let deferred = db
            .execute(
                &claim::defer(),
                params!["s", NOW + 5_000, "entity_busy", NOW],
            )
            .expect("defer");
        assert_eq!(deferred == 1, status.is_claimable(), "defer {status:?}");
        if deferred == 1 {
            assert_eq!(status_of(&db, "s"), StepStatus::Enqueued);
        }

        let db = database();
        add_event(&db, "ev", 1);
        add_step(&db, "s", "ev", status, 0);
        let marked = db
            .execute(&claim::mark_enqueued(), params![r#"["s"]"#, NOW])
            .expect("mark");
        assert_eq!(
            marked == 1,
            status == StepStatus::Pending,
            "mark {status:?}"
        );
    }
}

/// Every column of step `id`, to compare whole rows.
fn row_of(db: &Connection, id: &str) -> Vec<rusqlite::types::Value> {
    let mut statement = db
        .prepare("SELECT * FROM steps WHERE id = ?1")
        .expect("prepares");
    let columns = statement.column_count();
    statement
        .query_row([id], |r| (0..columns).map(|i| r.get(i)).collect())
        .expect("row")
}

const CLAIMED_AT: i64 = NOW - 50;
const DUE: i64 = NOW + 5_000;

/// Claim step "mine" of `entity_world(status, Other::None)` at [`CLAIMED_AT`] (with the entity's
/// turn, or without an entity): the attempt number, when the claim applied.
fn claimed(db: &Connection, in_turn: bool) -> Option<i64> {
    let args: Vec<&dyn rusqlite::ToSql> = if in_turn {
        vec![
            &"mine",
            &"E",
            &"hubspot.upsert_contact",
            &5_000,
            &"ev5",
            &(CLAIMED_AT - LEASE_MS),
            &CLAIMED_AT,
        ]
    } else {
        vec![&"mine", &CLAIMED_AT]
    };
    let sql = if in_turn {
        claim::claim_in_turn()
    } else {
        claim::claim()
    };
    db.query_row(&sql, args.as_slice(), |r| r.get(0)).ok()
}

fn attempts_of(db: &Connection) -> i64 {
    db.query_row("SELECT attempts FROM steps WHERE id = 'mine'", [], |r| {
        r.get(0)
    })
    .expect("attempts")
}

fn unclaimed(db: &Connection, attempt: i64, claimed_at: i64) -> usize {
    db.execute(
        &claim::unclaim(),
        params![
            "mine",
            attempt,
            claimed_at,
            DUE,
            "rate_budget",
            NOW,
            None::<String>
        ],
    )
    .expect("unclaim")
}

#[test]
fn a_claimed_then_unclaimed_step_is_exactly_a_deferred_one() {
    for status in StepStatus::ALL.into_iter().filter(|s| s.is_claimable()) {
        for in_turn in [false, true] {
            let deferred = entity_world(status, Other::None);
            let changed = deferred
                .execute(&claim::defer(), params!["mine", DUE, "rate_budget", NOW])
                .expect("defer");
            assert_eq!(changed, 1);

            let db = entity_world(status, Other::None);
            let attempts_before = attempts_of(&db);
            let attempt = claimed(&db, in_turn).expect("claimable, its turn");
            assert_eq!(attempt, attempts_before + 1);
            assert_eq!(status_of(&db, "mine"), StepStatus::Running);
            assert_eq!(unclaimed(&db, attempt, CLAIMED_AT), 1, "{status:?}");
            assert_eq!(
                row_of(&db, "mine"),
                row_of(&deferred, "mine"),
                "{status:?} in_turn={in_turn}"
            );
            assert_eq!(
                attempts_of(&db),
                attempts_before,
                "the claim's attempt given back"
            );
            assert_eq!(status_of(&db, "mine"), StepStatus::Enqueued);
            let (due, reason): (i64, String) = db
                .query_row(
                    "SELECT next_attempt_at, last_error FROM steps WHERE id = 'mine'",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .expect("due");
            assert_eq!((due, reason.as_str()), (DUE, "rate_budget"));
        }
    }
}

#[test]
fn an_unclaim_leaves_a_step_no_longer_running_under_its_claim_alone() {
    // Another status (finished, put back, recovered to enqueued), at the claim's own attempt
    // number and time.
    for status in StepStatus::ALL {
        let db = entity_world(status, Other::None);
        db.execute("UPDATE steps SET updated_at = ?1", [CLAIMED_AT])
            .expect("touch");
        let before = row_of(&db, "mine");
        let changed = unclaimed(&db, 1, CLAIMED_AT);
        assert_eq!(changed == 1, status == StepStatus::Running, "{status:?}");
        if changed == 0 {
            assert_eq!(row_of(&db, "mine"), before, "{status:?}");
        }
    }
    // Running, but under a later claim (another attempt number, or the same number claimed at
    // another time: recovered by the sweeper and claimed again).
    let db = entity_world(StepStatus::Enqueued, Other::None);
    let attempt = claimed(&db, false).expect("claimed");
    let before = row_of(&db, "mine");
    assert_eq!(
        unclaimed(&db, attempt - 1, CLAIMED_AT),
        0,
        "an older attempt"
    );
    assert_eq!(unclaimed(&db, attempt, CLAIMED_AT - 1), 0, "another claim");
    assert_eq!(row_of(&db, "mine"), before);
    assert_eq!(status_of(&db, "mine"), StepStatus::Running);
}

#[test]
fn marking_enqueued_takes_a_whole_batch_of_ids_in_one_statement() {
    let db = database();
    for (id, status) in [
        ("a", StepStatus::Pending),
        ("b", StepStatus::Pending),
        ("c", StepStatus::Running),
        ("d", StepStatus::Pending),
    ] {
        let event = format!("ev_{id}");
        add_event(&db, &event, 1);
        add_step(&db, id, &event, status, 0);
    }
    let ids = serde_json::to_string(&["a", "b", "c", "missing"]).expect("ids");
    let marked = db
        .execute(&claim::mark_enqueued(), params![ids, NOW])
        .expect("mark");
    assert_eq!(marked, 2, "only the pending steps named");
    assert_eq!(status_of(&db, "a"), StepStatus::Enqueued);
    assert_eq!(status_of(&db, "b"), StepStatus::Enqueued);
    assert_eq!(status_of(&db, "c"), StepStatus::Running);
    assert_eq!(status_of(&db, "d"), StepStatus::Pending, "not named");
}

#[test]
fn a_dead_letter_ends_a_step_iff_the_rule_says_so() {
    for status in StepStatus::ALL {
        for (dispatch, message_dispatch) in [(0, 0), (1, 0), (2, 2)] {
            for lease_live in [true, false] {
                let db = database();
                add_event(&db, "ev", 1);
                let updated_at = if lease_live {
                    NOW - 1_000
                } else {
                    NOW - LEASE_MS - 1
                };
                add_step(&db, "s", "ev", status, updated_at);
                db.execute("UPDATE steps SET dispatch = ?1", [dispatch])
                    .expect("dispatch");
                let changed = db
                    .execute(
                        &give_up_sql(),
                        params!["s", NOW, NOW - LEASE_MS, message_dispatch],
                    )
                    .expect("give up");
                let view = DeadLetterView {
                    status,
                    dispatch,
                    lease_live,
                };
                let rule = dead_letter_ends(view, message_dispatch);
                assert_eq!(changed == 1, rule, "{view:?} message {message_dispatch}");
                if rule {
                    assert_eq!(status_of(&db, "s"), StepStatus::Dead);
                }
            }
        }
    }
}

#[test]
fn the_sweeper_finds_and_recovers_exactly_what_the_rule_recovers() {
    let max_attempts = 3;
    for status in StepStatus::ALL {
        for attempts in [1, 3] {
            for changed_since in [false, true] {
                let db = database();
                add_event(&db, "ev", 1);
                add_step(&db, "s", "ev", status, 1_000);
                db.execute("UPDATE steps SET attempts = ?1", [attempts])
                    .expect("attempts");
                let found: Vec<(String, String, i64, i64)> = db
                    .prepare(&sweepable_sql())
                    .expect("prepares")
                    .query_map(params![NOW, NOW, 10], |r| {
                        Ok((
                            r.get("id")?,
                            r.get("status")?,
                            r.get("attempts")?,
                            r.get("updated_at")?,
                        ))
                    })
                    .expect("runs")
                    .map(|r| r.expect("row"))
                    .collect();
                assert_eq!(
                    !found.is_empty(),
                    RECOVERABLE.contains(&status),
                    "{status:?}"
                );
                let rule = recover(status, attempts, max_attempts);
                assert_eq!(rule.is_some(), RECOVERABLE.contains(&status), "{status:?}");
                let (Some(recovery), Some((id, read, n, updated_at))) = (rule, found.first())
                else {
                    continue;
                };
                if changed_since {
                    // Claimed (or finished) between the read and the recovery.
                    db.execute("UPDATE steps SET updated_at = updated_at + 1", [])
                        .expect("touch");
                }
                let applied = returned(&db, &recovery_sql(recovery), &[id, read, updated_at, &NOW]);
                assert_eq!(applied == 1, !changed_since, "{status:?} {recovery:?}");
                if let Some(outcome) = lost_attempt_outcome(recovery) {
                    db.execute(
                        LOST_ATTEMPT_SQL,
                        params![id, n, updated_at, NOW, outcome, ATTEMPT_LOST],
                    )
                    .expect("lost attempt");
                }
                let lost: i64 = db
                    .query_row("SELECT COUNT(*) FROM attempts", [], |r| r.get(0))
                    .expect("count");
                let records = !changed_since && lost_attempt_outcome(recovery).is_some();
                assert_eq!(lost == 1, records, "{status:?} {recovery:?}");
            }
        }
    }
}

#[test]
fn a_redrive_requeues_exactly_its_set_and_restarts_dead_steps() {
    use super::redrive::{requeue_sql, requeueable, restarts_attempts};
    for only_dead in [true, false] {
        for status in StepStatus::ALL {
            let db = database();
            add_event(&db, "ev", 1);
            add_step(&db, "s", "ev", status, 0);
            let changed = returned(&db, &requeue_sql(only_dead), &[&"[\"s\"]", &NOW]);
            let rule = requeueable(only_dead).contains(&status);
            assert_eq!(changed == 1, rule, "{status:?} only_dead={only_dead}");
            let (attempts, dispatch): (i64, i64) = db
                .query_row("SELECT attempts, dispatch FROM steps", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .expect("row");
            if rule {
                assert_eq!(status_of(&db, "s"), StepStatus::Enqueued);
                assert_eq!(attempts == 0, restarts_attempts(status), "{status:?}");
                assert_eq!(dispatch, 1);
            } else {
                assert_eq!((status_of(&db, "s"), attempts, dispatch), (status, 1, 0));
            }
        }
    }
}

#[test]
fn a_requeue_returns_each_steps_new_dispatch() {
    use super::redrive::requeue_sql;
    let db = database();
    add_event(&db, "ev", 1);
    add_step(&db, "s", "ev", StepStatus::Dead, 0);
    db.execute("UPDATE steps SET dispatch = 4", [])
        .expect("dispatch");
    let (id, dispatch): (String, i64) = db
        .query_row(&requeue_sql(true), params!["[\"s\"]", NOW], |r| {
            Ok((r.get("id")?, r.get("dispatch")?))
        })
        .expect("requeued");
    assert_eq!((id.as_str(), dispatch), ("s", 5));
    // The dead letter of the message sent under that number ends the step; one of 4 does not.
    let give_up = |n: i64| {
        db.execute(&give_up_sql(), params!["s", NOW, NOW - LEASE_MS, n])
            .expect("give up")
    };
    assert_eq!(give_up(4), 0);
    assert_eq!(give_up(dispatch), 1);
}

#[test]
fn a_stored_step_starts_pending() {
    let db = database();
    add_event(&db, "ev", 1);
    db.execute(
        "INSERT INTO steps (id, event_id, name, destination, idempotency_key, created_at, \
         updated_at) VALUES ('s', 'ev', 'slack.notify', 'slack', 's', 0, 0)",
        [],
    )
    .expect("step");
    assert_eq!(status_of(&db, "s"), StepStatus::Pending);
}

#[test]
fn ending_without_a_call_leaves_a_claimed_step_to_its_record() {
    let db = database();
    add_event(&db, "ev", 1);
    add_step(&db, "s", "ev", StepStatus::Enqueued, 0);
    let n = claim_at(&db, "s", NOW);
    // Another delivery of the step's message, holding no claim, finds it can't be run.
    let ended = db
        .execute(
            &claim::finish_without_call(),
            params![
                "s",
                StepStatus::Dead.as_str(),
                "payload_unavailable",
                NOW + 1
            ],
        )
        .expect("finish");
    assert_eq!(ended, 0);
    assert_eq!(status_of(&db, "s"), StepStatus::Running);
    assert!(record_success(&db, "s", n, NOW + 2), "the claim records");
    assert_eq!(status_of(&db, "s"), StepStatus::Succeeded);
}

/// Claim step `id` at `at` without an entity: the attempt number.
fn claim_at(db: &Connection, id: &str, at: i64) -> i64 {
    db.query_row(&claim::claim(), params![id, at], |r| r.get(0))
        .expect("claimable")
}

/// Record attempt `n` of step `id` as `succeeded` at `at`, as the consumer's batch does (the
/// step's state, then the attempt row): whether the step's state changed.
fn record_success(db: &Connection, id: &str, n: i64, at: i64) -> bool {
    let changed = db
        .execute(
            &claim::record_attempt(),
            params![
                id,
                StepStatus::Succeeded.as_str(),
                None::<i64>,
                200,
                None::<String>,
                at,
                n,
                0
            ],
        )
        .expect("record");
    db.execute(
        claim::RECORD_ATTEMPT_ROW,
        params![id, n, at - 10, 10, 200, "succeeded", None::<String>],
    )
    .expect("attempt row");
    changed == 1
}

/// The sweeper's recovery of a `running` step past its lease, as it runs it (read, then the
/// conditional recovery and the lost attempt).
fn sweep_lost(db: &Connection, id: &str, max_attempts: u32) {
    let (attempts, updated_at): (i64, i64) = db
        .query_row(
            "SELECT attempts, updated_at FROM steps WHERE id = ?1",
            [id],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .expect("row");
    let recovery = recover(StepStatus::Running, attempts, max_attempts).expect("recoverable");
    let running = StepStatus::Running.as_str();
    let applied = returned(
        db,
        &recovery_sql(recovery),
        &[&id, &running, &updated_at, &NOW],
    );
    assert_eq!(applied, 1);
    let outcome = lost_attempt_outcome(recovery).expect("a lost attempt");
    db.execute(
        LOST_ATTEMPT_SQL,
        params![id, attempts, updated_at, NOW, outcome, ATTEMPT_LOST],
    )
    .expect("lost attempt");
}

fn attempt_rows(db: &Connection, id: &str) -> Vec<(i64, String)> {
    db.prepare("SELECT n, outcome FROM attempts WHERE step_id = ?1 ORDER BY id")
        .expect("prepares")
        .query_map([id], |r| Ok((r.get(0)?, r.get(1)?)))
        .expect("runs")
        .map(|r| r.expect("row"))
        .collect()
}

#[test]
fn an_attempt_is_recorded_while_its_claim_holds() {
    let db = database();
    add_event(&db, "ev", 1);
    add_step(&db, "s", "ev", StepStatus::Enqueued, 1_000);
    let n = claim_at(&db, "s", NOW - 100);
    assert!(record_success(&db, "s", n, NOW));
    assert_eq!(status_of(&db, "s"), StepStatus::Succeeded);
    assert_eq!(attempt_rows(&db, "s"), vec![(n, "succeeded".to_string())]);
}

#[test]
fn a_late_record_of_an_attempt_the_sweeper_counted_lost_changes_nothing() {
    // Claimed (A), its lease passed: the sweeper counts the attempt lost and re-sends; the
    // next claim (B) runs and succeeds. A's record arriving late, before or after B's claim or
    // B's record, must not write the step (nor count as a second success).
    for a_records in ["before B's claim", "while B runs", "after B's record"] {
        let db = database();
        add_event(&db, "ev", 1);
        add_step(&db, "s", "ev", StepStatus::Enqueued, 1_000);
        db.execute("UPDATE steps SET attempts = 0", [])
            .expect("fresh");
        let a = claim_at(&db, "s", 2_000);
        sweep_lost(&db, "s", 5);
        assert_eq!(status_of(&db, "s"), StepStatus::Enqueued);
        let mut changes = 0;
        if a_records == "before B's claim" {
            changes += usize::from(record_success(&db, "s", a, NOW + 1));
            assert_eq!(status_of(&db, "s"), StepStatus::Enqueued, "{a_records}");
        }
        let b = claim_at(&db, "s", NOW + 2);
        assert_eq!(b, a + 1);
        if a_records == "while B runs" {
            changes += usize::from(record_success(&db, "s", a, NOW + 3));
            assert_eq!(status_of(&db, "s"), StepStatus::Running, "{a_records}");
        }
        changes += usize::from(record_success(&db, "s", b, NOW + 4));
        if a_records == "after B's record" {
            changes += usize::from(record_success(&db, "s", a, NOW + 5));
        }
        assert_eq!(changes, 1, "one success counted ({a_records})");
        assert_eq!(status_of(&db, "s"), StepStatus::Succeeded);
        assert_eq!(
            attempt_rows(&db, "s"),
            vec![(a, "retry".to_string()), (b, "succeeded".to_string())],
            "{a_records}"
        );
    }
}

#[test]
fn a_late_record_leaves_a_step_the_sweeper_ended_dead() {
    let db = database();
    add_event(&db, "ev", 1);
    add_step(&db, "s", "ev", StepStatus::Enqueued, 1_000);
    let n = claim_at(&db, "s", 2_000);
    sweep_lost(&db, "s", 1);
    assert_eq!(status_of(&db, "s"), StepStatus::Dead);
    let before = row_of(&db, "s");
    assert!(!record_success(&db, "s", n, NOW + 1));
    assert_eq!(row_of(&db, "s"), before);
    assert_eq!(attempt_rows(&db, "s"), vec![(n, "dead".to_string())]);
}

/// Record a failed half-open probe (attempt `n`, not charged: ?8 = 1) of step `id` at `at`, as
/// the consumer's batch does: whether the step's state changed.
fn record_refunded_probe(db: &Connection, id: &str, n: i64, at: i64) -> bool {
    let changed = db
        .execute(
            &claim::record_attempt(),
            params![
                id,
                StepStatus::Enqueued.as_str(),
                at + 60_000,
                503,
                "http_503",
                at,
                n,
                1
            ],
        )
        .expect("record");
    let outcome = super::recorded_outcome(StepStatus::Enqueued, false);
    db.execute(
        claim::RECORD_ATTEMPT_ROW,
        params![id, n, at - 10, 10, 503, outcome, "http_503"],
    )
    .expect("attempt row");
    changed == 1
}

fn attempts_of_step(db: &Connection, id: &str) -> i64 {
    db.query_row("SELECT attempts FROM steps WHERE id = ?1", [id], |r| {
        r.get(0)
    })
    .expect("attempts")
}

#[test]
fn a_failed_probe_is_recorded_with_its_attempt_given_back() {
    let db = database();
    add_event(&db, "ev", 1);
    add_step(&db, "s", "ev", StepStatus::Enqueued, 1_000);
    let n = claim_at(&db, "s", NOW - 100);
    assert!(record_refunded_probe(&db, "s", n, NOW));
    assert_eq!(attempts_of_step(&db, "s"), n - 1);
    assert_eq!(status_of(&db, "s"), StepStatus::Enqueued);
    assert_eq!(attempt_rows(&db, "s"), vec![(n, "probe".to_string())]);
}

/// Regression (issue 25): the probe's refund was its own statements after the record, applied
/// whenever the step's `attempts` still read `n`. A record that came after the sweeper had
/// counted the attempt lost (`enqueued` again, `attempts` still `n`, its lost attempt `retry`)
/// changed nothing, yet the refund took the attempt back and relabelled the lost attempt
/// `probe`. The refund is now part of the record: it applies only with it.
#[test]
fn a_late_probe_record_gives_nothing_back() {
    let db = database();
    add_event(&db, "ev", 1);
    add_step(&db, "s", "ev", StepStatus::Enqueued, 1_000);
    db.execute("UPDATE steps SET attempts = 0", [])
        .expect("fresh");
    let n = claim_at(&db, "s", NOW - LEASE_MS - 100);
    sweep_lost(&db, "s", 10);
    assert_eq!(status_of(&db, "s"), StepStatus::Enqueued);
    assert!(!record_refunded_probe(&db, "s", n, NOW));
    assert_eq!(
        attempts_of_step(&db, "s"),
        n,
        "the lost attempt stays counted"
    );
    assert_eq!(attempt_rows(&db, "s"), vec![(n, "retry".to_string())]);
}

fn index_sql(db: &Connection, index: &str) -> String {
    db.query_row(
        "SELECT sql FROM sqlite_master WHERE type = 'index' AND name = ?1",
        [index],
        |r| r.get(0),
    )
    .unwrap_or_default()
}

/// Migration 0025: the in-flight steps' index holds exactly the sweeper's [`RECOVERABLE`] set
/// and the dead steps' exactly [`DEAD_LETTERS`], so a step's last transition to a finished
/// status writes no index entry (D1 bills each entry an INSERT or UPDATE puts).
#[test]
fn the_status_indexes_hold_only_steps_in_flight_and_dead_ones() {
    let db = database();
    let open = index_sql(&db, "steps_open");
    let in_flight = format!("WHERE status IN {}", super::sql_in(&RECOVERABLE));
    assert!(open.ends_with(&in_flight), "{open}");
    let dead = index_sql(&db, "steps_dead");
    assert_eq!(DEAD_LETTERS, [StepStatus::Dead]);
    let dead_letters = format!("WHERE status = {}", super::sql_lit(StepStatus::Dead));
    assert!(dead.ends_with(&dead_letters), "{dead}");
    for status in StepStatus::ALL {
        let id = status.as_str();
        add_event(&db, id, 1);
        add_step(&db, id, id, status, 1_000);
    }
    let through = |sql: &str| -> i64 { db.query_row(sql, [], |r| r.get(0)).expect("count") };
    let open_rows = format!(
        "SELECT COUNT(*) FROM steps INDEXED BY steps_open WHERE status IN {}",
        super::sql_in(&RECOVERABLE)
    );
    assert_eq!(through(&open_rows), RECOVERABLE.len() as i64);
    let dead_rows = format!(
        "SELECT COUNT(*) FROM steps INDEXED BY steps_dead WHERE status = {}",
        super::sql_lit(StepStatus::Dead)
    );
    assert_eq!(through(&dead_rows), 1);
    for dropped in ["steps_status", "steps_destination"] {
        assert_eq!(index_sql(&db, dropped), "", "{dropped}");
    }
}

/// The plan SQLite chooses for `sql` (every parameter NULL), as one line.
fn plan_of(db: &Connection, sql: &str) -> String {
    let mut query = db
        .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .expect("plan");
    let nulls = vec![rusqlite::types::Null; query.parameter_count()];
    let rows: Vec<String> = query
        .query_map(rusqlite::params_from_iter(nulls), |r| r.get::<_, String>(3))
        .expect("plan rows")
        .map(Result::unwrap)
        .collect();
    rows.join("; ")
}

/// The statements of a step's life find it by its id, and the sweeper reads the range of
/// `steps_open` it needs, never the table (it did before 0025's `status IN` and bound).
#[test]
fn each_statement_of_a_steps_life_reads_an_index() {
    let db = database();
    let by_id = "USING INDEX sqlite_autoindex_steps_1 (id=?)";
    for sql in [
        claim::claim(),
        claim::mark_enqueued(),
        claim::record_attempt(),
        claim::defer(),
        claim::unclaim(),
        claim::finish_without_call(),
    ] {
        let plan = plan_of(&db, &sql);
        assert!(plan.contains(by_id), "{sql}: {plan}");
        assert!(!plan.contains("steps_open"), "{sql}: {plan}");
    }
    let sweep = plan_of(&db, &sweepable_sql());
    assert!(
        sweep.contains("USING INDEX steps_open (status=? AND updated_at<?)"),
        "{sweep}"
    );
    assert!(!sweep.contains("SCAN steps"), "{sweep}");
}

/// Claim "mine" of `entity_world(Enqueued, Other::None)` at [`CLAIMED_AT`], due at `due` (NULL:
/// none), with or without the entity's turn; the deferral likewise. Each must apply exactly when
/// `timing::secs_until_due` says the step may run now.
#[test]
fn a_claim_or_a_deferral_takes_a_step_only_once_it_is_due() {
    use crate::steps::timing::{secs_until_due, DUE_SLACK_MS};
    let dues = [
        None,
        Some(CLAIMED_AT - 60_000),
        Some(CLAIMED_AT),
        Some(CLAIMED_AT + DUE_SLACK_MS),
        Some(CLAIMED_AT + DUE_SLACK_MS + 1),
        Some(CLAIMED_AT + 30_000),
    ];
    for due in dues {
        let runs_now = secs_until_due(due, CLAIMED_AT).is_none();
        for in_turn in [false, true] {
            let db = entity_world(StepStatus::Enqueued, Other::None);
            db.execute(
                "UPDATE steps SET next_attempt_at = ?1 WHERE id = 'mine'",
                [due],
            )
            .expect("due");
            let before = row_of(&db, "mine");
            let claim = claimed(&db, in_turn);
            assert_eq!(
                claim.is_some(),
                runs_now,
                "claim due {due:?} in turn {in_turn}"
            );
            if !runs_now {
                assert_eq!(
                    row_of(&db, "mine"),
                    before,
                    "an early claim changes nothing"
                );
            }
        }
        let db = entity_world(StepStatus::Enqueued, Other::None);
        db.execute(
            "UPDATE steps SET next_attempt_at = ?1 WHERE id = 'mine'",
            [due],
        )
        .expect("due");
        let deferred = db
            .execute(
                &claim::defer(),
                params!["mine", CLAIMED_AT + 5_000, "entity_busy", CLAIMED_AT],
            )
            .expect("defer");
        assert_eq!(deferred == 1, runs_now, "defer due {due:?}");
    }
}
