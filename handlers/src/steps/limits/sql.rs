//! The SQL that keeps a destination's counters in D1 (`destination_health`), beside the rules of
//! [`super`]: counting a check in the budget window ([`super::count_check`], atomically; for a
//! step's call, only when the step's claim in the same transaction applied), taking the half-open probe lease with a compare-and-set on the counters [`super::gate`] decided from,
//! and recording what a finished call does to the circuit ([`super::HealthChange`]). The shell
//! binds the arguments each function documents and runs the text unchanged; the tests below run
//! the same text against the migrations in SQLite.

use super::HealthChange;
use crate::steps::lifecycle::{sql_lit, StepStatus};

// `count_check`'s conditions over the stored row: the circuit makes everyone wait (open, or
// half-open with a live probe lease), and the budget window has run out.
const BLOCKED: &str = "(open_until > ?2 OR (open_until != 0 AND probe_until > ?2))";
const EXPIRED: &str = "(window_start <= ?2 - ?3)";

/// Count a check by [`super::count_check`] and return the counters. ?1 destination, ?2 now,
/// ?3 window length, ?4 the budget's limit. Columns: open_until, probe_until, window_start,
/// window_count.
pub fn count_call() -> String {
    counting("VALUES (?1, ?2, 1)")
}

/// [`count_call`] for a step that was just claimed, in the same D1 batch (one transaction) as
/// its claim: the check is counted, and the counters returned, only if the claim applied (the
/// step ?5 is `running`, claimed at ?2, the same `now`), so a step whose claim was refused (not
/// claimable, stale, not its turn) never uses up budget. Arguments as [`count_call`], and ?5 the
/// step id; no row when the claim did not apply.
pub fn count_claimed_call() -> String {
    counting(&format!(
        "SELECT ?1, ?2, 1 WHERE EXISTS (SELECT 1 FROM steps \
         WHERE id = ?5 AND status = {} AND updated_at = ?2)",
        sql_lit(StepStatus::Running)
    ))
}

/// [`super::peek_check`] for a step that was just claimed, in the same D1 batch as its claim:
/// the destination's counters, nothing counted, only if the claim applied (as in
/// [`count_claimed_call`]). For an input of a call that a later [`count_call`] charges once.
/// Arguments as [`count_claimed_call`] (?4 unused); no row when the claim did not apply or the
/// destination has no counters yet (the shell reads that as fresh counters).
pub fn peek_claimed_call() -> String {
    format!(
        "SELECT open_until, probe_until, window_start, \
         CASE WHEN {EXPIRED} THEN 0 ELSE window_count END AS window_count \
         FROM destination_health WHERE destination = ?1 AND EXISTS (SELECT 1 FROM steps \
         WHERE id = ?5 AND status = {} AND updated_at = ?2)",
        sql_lit(StepStatus::Running)
    )
}

/// The upsert of [`super::count_check`], inserting a fresh row from `source`.
fn counting(source: &str) -> String {
    format!(
        "INSERT INTO destination_health (destination, window_start, window_count) {source} \
         ON CONFLICT (destination) DO UPDATE SET \
         window_count = CASE \
           WHEN {BLOCKED} AND {EXPIRED} THEN 0 \
           WHEN {BLOCKED} THEN window_count \
           WHEN {EXPIRED} THEN 1 \
           WHEN window_count <= ?4 THEN window_count + 1 \
           ELSE window_count END, \
         window_start = CASE WHEN {EXPIRED} THEN ?2 ELSE window_start END \
         RETURNING open_until, probe_until, window_start, window_count"
    )
}

/// Make a step the probe if the circuit is still exactly as seen. ?1 destination, ?2 step id,
/// ?3 lease end, ?4 `open_until` seen, ?5 `probe_until` seen.
pub const TAKE_PROBE: &str = "UPDATE destination_health SET probe_until = ?3, probe_step = ?2 \
     WHERE destination = ?1 AND open_until = ?4 AND probe_until = ?5";

/// The statement recording `change`, if any. Arguments: [`HealthChange::Close`]: ?1 destination;
/// [`HealthChange::Fail`]: ?1 destination, ?2 `open_after`, ?3 the end of a new cool-down, ?4
/// the step id; [`HealthChange::ReleaseProbe`]: ?1 destination, ?2 the step id.
pub fn record_change(change: HealthChange) -> Option<&'static str> {
    match change {
        // Only a circuit that is not closed already is written: D1 bills the row even when
        // every value stays the same, and nearly every success finds it closed.
        HealthChange::Close => Some(
            "UPDATE destination_health SET consecutive_failures = 0, open_until = 0, \
             probe_until = 0, probe_step = NULL WHERE destination = ?1 \
             AND (consecutive_failures != 0 OR open_until != 0 OR probe_until != 0 \
             OR probe_step IS NOT NULL)",
        ),
        HealthChange::Fail => Some(
            "UPDATE destination_health SET consecutive_failures = consecutive_failures + 1, \
             open_until = CASE WHEN consecutive_failures + 1 >= ?2 OR open_until != 0 \
             THEN ?3 ELSE open_until END, \
             probe_until = CASE WHEN probe_step = ?4 THEN 0 ELSE probe_until END, \
             probe_step = CASE WHEN probe_step = ?4 THEN NULL ELSE probe_step END \
             WHERE destination = ?1",
        ),
        HealthChange::ReleaseProbe => Some(
            "UPDATE destination_health SET probe_until = 0, probe_step = NULL \
             WHERE destination = ?1 AND probe_step = ?2",
        ),
        HealthChange::Nothing => None,
    }
}

#[cfg(test)]
mod tests {
    use rusqlite::{params, Connection};

    use super::super::{count_check, gate, peek_check, Gate, Health, Limits};
    use super::*;
    use crate::steps::lifecycle::sql_tests::{add_event, add_step, database};

    const L: Limits = Limits {
        limit: 2,
        window_ms: 10_000,
        open_after: 3,
        cool_down_ms: 60_000,
        probe_lease_ms: 25_000,
    };

    fn store(db: &Connection, h: Health) {
        db.execute(
            "INSERT INTO destination_health (destination, open_until, probe_until, window_start, \
             window_count) VALUES ('hubspot', ?1, ?2, ?3, ?4)",
            params![
                h.open_until_ms,
                h.probe_until_ms,
                h.window_start_ms,
                h.window_count
            ],
        )
        .expect("health");
    }

    /// A `destination_health` row as the counting statements return it.
    fn health_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Health> {
        Ok(Health {
            open_until_ms: r.get(0)?,
            probe_until_ms: r.get(1)?,
            window_start_ms: r.get(2)?,
            window_count: r.get(3)?,
        })
    }

    fn counted(db: &Connection, now: i64) -> Health {
        db.query_row(
            &count_call(),
            params!["hubspot", now, L.window_ms, L.limit],
            health_row,
        )
        .expect("count")
    }

    #[test]
    fn counting_in_sql_is_count_check() {
        let now = 1_000_000;
        let circuits = [
            (0, 0),
            (now + 5, 0),
            (now - 5, 0),
            (now - 5, now + 5),
            (now - 5, now - 1),
        ];
        let windows = [
            (now - 1, 0),
            (now - 1, 2),
            (now - 1, 3),
            (now - 1, 7),
            (now - 10_000, 3),
        ];
        for (open_until_ms, probe_until_ms) in circuits {
            for (window_start_ms, window_count) in windows {
                let before = Health {
                    open_until_ms,
                    probe_until_ms,
                    window_start_ms,
                    window_count,
                };
                let db = database();
                store(&db, before);
                assert_eq!(counted(&db, now), count_check(L, before, now), "{before:?}");
            }
        }
        // The first check of a destination: a fresh row, counted.
        let fresh = counted(&database(), now);
        assert_eq!(
            fresh,
            count_check(
                L,
                Health {
                    window_start_ms: now,
                    window_count: 0,
                    ..Health::default()
                },
                now
            )
        );
    }

    /// [`count_claimed_call`] after the step's claim, as in the shell's one batch: the row it
    /// returns, if any.
    fn counted_if_claimed(db: &Connection, now: i64) -> Option<Health> {
        let claim = crate::steps::lifecycle::claim::claim();
        let _attempt: Option<i64> = db.query_row(&claim, params!["s", now], |r| r.get(0)).ok();
        db.query_row(
            &count_claimed_call(),
            params!["hubspot", now, L.window_ms, L.limit, "s"],
            health_row,
        )
        .ok()
    }

    fn stored(db: &Connection) -> Option<(i64, i64)> {
        db.query_row(
            "SELECT window_start, window_count FROM destination_health",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .ok()
    }

    #[test]
    fn a_check_beside_a_claim_counts_as_count_check_iff_the_claim_applied() {
        let now = 1_000_000;
        let before = Health {
            window_start_ms: now - 1,
            window_count: 1,
            ..Health::default()
        };
        for status in StepStatus::ALL {
            for fresh in [false, true] {
                let db = database();
                add_event(&db, "ev", 1);
                add_step(&db, "s", "ev", status, 0);
                if !fresh {
                    store(&db, before);
                }
                let stored_before = stored(&db);
                let health = counted_if_claimed(&db, now);
                if status.is_claimable() {
                    let seen = if fresh {
                        Health {
                            window_start_ms: now,
                            window_count: 0,
                            ..Health::default()
                        }
                    } else {
                        before
                    };
                    assert_eq!(health, Some(count_check(L, seen, now)), "{status:?}");
                } else {
                    assert_eq!(health, None, "{status:?}: refused, nothing returned");
                    assert_eq!(stored(&db), stored_before, "{status:?}: nothing counted");
                }
            }
        }
    }

    #[test]
    fn a_peek_beside_a_claim_is_peek_check_counts_nothing_and_needs_the_claim() {
        let now = 1_000_000;
        let windows = [(now - 1, 0), (now - 1, 2), (now - 1, 3), (now - 10_000, 3)];
        for (window_start_ms, window_count) in windows {
            for status in StepStatus::ALL {
                let before = Health {
                    open_until_ms: now - 5,
                    window_start_ms,
                    window_count,
                    ..Health::default()
                };
                let db = database();
                add_event(&db, "ev", 1);
                add_step(&db, "s", "ev", status, 0);
                store(&db, before);
                let claim = crate::steps::lifecycle::claim::claim();
                let _attempt: Option<i64> =
                    db.query_row(&claim, params!["s", now], |r| r.get(0)).ok();
                let seen = db
                    .query_row(
                        &peek_claimed_call(),
                        params!["hubspot", now, L.window_ms, L.limit, "s"],
                        health_row,
                    )
                    .ok();
                let expected = status.is_claimable().then(|| peek_check(L, before, now));
                assert_eq!(seen, expected, "{status:?} {before:?}");
                assert_eq!(
                    stored(&db),
                    Some((window_start_ms, i64::from(window_count)))
                );
            }
        }
        // A full window (marked by a count) holds a peeking step back; one with room does not.
        let full = Health {
            window_start_ms: now - 1,
            window_count: L.limit + 1,
            ..Health::default()
        };
        assert!(
            matches!(gate(L, peek_check(L, full, now), now), Gate::Wait(w) if w.reason == "rate_budget")
        );
        let room = Health {
            window_start_ms: now - 1,
            window_count: L.limit,
            ..Health::default()
        };
        assert_eq!(gate(L, peek_check(L, room, now), now), Gate::Proceed);
    }

    #[test]
    fn of_the_steps_that_saw_one_half_open_circuit_exactly_one_probes() {
        let now = 1_000_000;
        let db = database();
        store(
            &db,
            Health {
                open_until_ms: now - 5,
                window_start_ms: now,
                ..Health::default()
            },
        );
        let seen = counted(&db, now);
        let Gate::Probe { lease_until_ms } = gate(L, seen, now) else {
            panic!("half-open with no probe: {:?}", gate(L, seen, now));
        };
        let take = |step: &str| {
            db.execute(
                TAKE_PROBE,
                params![
                    "hubspot",
                    step,
                    lease_until_ms,
                    seen.open_until_ms,
                    seen.probe_until_ms
                ],
            )
            .expect("take")
        };
        assert_eq!((take("a"), take("b")), (1, 0));
        // Everyone after the probe is told to wait.
        let after = counted(&db, now + 1);
        assert!(
            matches!(gate(L, after, now + 1), Gate::Wait(w) if w.reason == "circuit_half_open")
        );
        // The probe's failure re-opens the circuit for a new cool-down and frees the lease.
        let fail = record_change(HealthChange::Fail).expect("fail");
        db.execute(fail, params!["hubspot", L.open_after, now + 60_000, "a"])
            .expect("fail");
        let reopened = counted(&db, now + 2);
        assert_eq!(
            (reopened.open_until_ms, reopened.probe_until_ms),
            (now + 60_000, 0)
        );
        assert!(matches!(gate(L, reopened, now + 2), Gate::Wait(w) if w.reason == "circuit_open"));
        // A success closes it.
        let close = record_change(HealthChange::Close).expect("close");
        db.execute(close, params!["hubspot"]).expect("close");
        let closed = counted(&db, now + 10_000);
        assert_eq!(gate(L, closed, now + 10_000), Gate::Proceed);
    }

    /// Regression (issue 25): every success rewrote the closed circuit's row, one billed D1 row
    /// written per call for nothing.
    #[test]
    fn closing_writes_only_a_circuit_that_is_not_closed() {
        let now = 1_000_000;
        let db = database();
        counted(&db, now);
        let close = record_change(HealthChange::Close).expect("close");
        assert_eq!(db.execute(close, params!["hubspot"]).expect("close"), 0);
        let fail = record_change(HealthChange::Fail).expect("fail");
        db.execute(fail, params!["hubspot", L.open_after, now + 60_000, "s"])
            .expect("fail");
        assert_eq!(db.execute(close, params!["hubspot"]).expect("close"), 1);
        let failures: i64 = db
            .query_row(
                "SELECT consecutive_failures FROM destination_health",
                [],
                |r| r.get(0),
            )
            .expect("row");
        assert_eq!(failures, 0);
        // A probe lease alone (half-open, nobody failed since) is cleared too.
        db.execute(
            "UPDATE destination_health SET probe_until = ?1, probe_step = 's'",
            params![now + 5],
        )
        .expect("lease");
        assert_eq!(db.execute(close, params!["hubspot"]).expect("close"), 1);
        assert_eq!(db.execute(close, params!["hubspot"]).expect("close"), 0);
    }

    #[test]
    fn the_circuit_opens_after_open_after_failures() {
        let now = 1_000_000;
        let db = database();
        counted(&db, now);
        let fail = record_change(HealthChange::Fail).expect("fail");
        for n in 1..=L.open_after {
            db.execute(fail, params!["hubspot", L.open_after, now + 60_000, "s"])
                .expect("fail");
            let open_until: i64 = db
                .query_row("SELECT open_until FROM destination_health", [], |r| {
                    r.get(0)
                })
                .expect("row");
            assert_eq!(open_until != 0, n >= L.open_after, "after {n} failures");
        }
        assert_eq!(record_change(HealthChange::Nothing), None);
    }
}
