//! A step handed back behind an older one never runs before that one has ended. A HubSpot
//! contact upsert held back because an older input of its contact was not settled
//! (`downstream::hubspot_sequence`) is given back with that step's id in `steps.after_step`
//! (the unclaim's ?7, `lifecycle::claim::unclaim`); each time it is loaded again, the load reads
//! the step ahead beside it ([`AHEAD_JOIN`], [`AHEAD_COLUMNS`]: no extra round trip) and
//! [`wait_behind`] says how long it waits, uncharged and before any claim: while the step ahead
//! waits for a retry or a deferral, until that one is due plus [`AFTER_AHEAD_SECS`] (its
//! `Retry-After` or backoff is in its due time, and if that retry fails again its new due time
//! is read the next time); while it runs, a short look again (past its lease, as for an overdue
//! one); not at all once it has ended
//! (succeeded, skipped, or `dead`: a dead older input never holds a newer one back forever) or
//! is gone. No wait outlasts one queue delay ([`QUEUE_MAX_DELAY_SECS`]): a later due time is
//! read again when the message comes back.

use super::lifecycle::StepStatus;
use super::limits::Wait;
use super::retry::QUEUE_MAX_DELAY_SECS;
use crate::downstream::hubspot_sequence::AFTER_UNSETTLED_INPUT;
use crate::downstream::{busy_wait_secs, CallTiming};

/// The join that finds a step's step ahead, for a query over `steps s`.
pub const AHEAD_JOIN: &str = "LEFT JOIN steps ahead ON ahead.id = s.after_step";

/// The step ahead's columns (all NULL when there is none, or it is gone): `ahead_status`,
/// `ahead_due` (its `next_attempt_at`), `ahead_updated`.
pub const AHEAD_COLUMNS: &str = "ahead.status AS ahead_status, \
     ahead.next_attempt_at AS ahead_due, ahead.updated_at AS ahead_updated";

/// How long after the step ahead is due the step behind it looks again: time for that one's
/// message to arrive, run and be recorded (a look too early only waits again).
pub const AFTER_AHEAD_SECS: u64 = 5;

/// The longest wait between looks at a step ahead that is overdue (its message lost, until the
/// sweeper sends it again).
pub const OVERDUE_RECHECK_SECS: u64 = 60;

/// What the load read about the step ahead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ahead {
    pub status: StepStatus,
    /// Its `next_attempt_at` (Unix ms), if any.
    pub due_ms: Option<i64>,
    pub updated_at_ms: i64,
}

/// How long a step behind `ahead` (`None`: no step ahead, or it is gone) must wait at `now_ms`
/// before it may run; `None`: it may run now.
pub fn wait_behind(ahead: Option<Ahead>, now_ms: i64, timing: CallTiming) -> Option<Wait> {
    let ahead = ahead?;
    let secs = match ahead.status {
        // Past its lease, its runner is gone until the sweeper recovers it: overdue.
        StepStatus::Running => {
            let lease_end = ahead.updated_at_ms.saturating_add(timing.lease_ms);
            if now_ms < lease_end {
                busy_wait_secs(ahead.updated_at_ms, now_ms, timing)
            } else {
                overdue_wait_secs(lease_end, now_ms)
            }
        }
        StepStatus::Pending | StepStatus::Enqueued => match ahead.due_ms {
            Some(due) if due > now_ms => secs_until(due, now_ms).saturating_add(AFTER_AHEAD_SECS),
            // Due already (or never given a time): its message runs it any moment, or was lost
            // and waits for the sweeper.
            due => overdue_wait_secs(due.unwrap_or(i64::MIN).max(ahead.updated_at_ms), now_ms),
        },
        StepStatus::Succeeded
        | StepStatus::Skipped
        | StepStatus::SkippedStale
        | StepStatus::Dead => return None,
    };
    Some(Wait {
        secs: secs.clamp(1, QUEUE_MAX_DELAY_SECS),
        reason: AFTER_UNSETTLED_INPUT,
    })
}

/// The look again at a step ahead overdue since `since_ms`: the longer it is overdue, the less
/// often, from [`AFTER_AHEAD_SECS`] to [`OVERDUE_RECHECK_SECS`].
fn overdue_wait_secs(since_ms: i64, now_ms: i64) -> u64 {
    let overdue = u64::try_from(now_ms.saturating_sub(since_ms)).unwrap_or(0) / 1000;
    (overdue / 2).clamp(AFTER_AHEAD_SECS, OVERDUE_RECHECK_SECS)
}

fn secs_until(until_ms: i64, now_ms: i64) -> u64 {
    u64::try_from(until_ms.saturating_sub(now_ms))
        .unwrap_or(0)
        .div_ceil(1000)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::downstream::BUSY_RECHECK_SECS;

    const NOW: i64 = 1_700_000_000_000;
    /// A 10 s call timeout under the 15-minute lease (the defaults).
    pub(super) const TIMING: CallTiming = CallTiming {
        timeout_ms: 10_000,
        lease_ms: 15 * 60_000,
    };

    fn ahead(status: StepStatus, due_ms: Option<i64>) -> Option<Ahead> {
        Some(Ahead {
            status,
            due_ms,
            updated_at_ms: NOW - 1_000,
        })
    }

    fn secs(ahead: Option<Ahead>) -> Option<u64> {
        wait_behind(ahead, NOW, TIMING).map(|w| {
            assert_eq!(w.reason, AFTER_UNSETTLED_INPUT);
            w.secs
        })
    }

    #[test]
    fn no_step_ahead_or_one_that_ended_lets_it_run() {
        assert_eq!(secs(None), None);
        for status in StepStatus::ALL.into_iter().filter(|s| s.is_terminal()) {
            // `dead` too: the older input will not be retried, so the newer goes out.
            assert_eq!(secs(ahead(status, Some(NOW + 60_000))), None, "{status:?}");
        }
    }

    #[test]
    fn a_step_ahead_waiting_for_its_retry_holds_it_until_just_after_that_retry() {
        // Retry-After 30 s (or a backoff that long): due in 30 s; the step behind comes back
        // after it, with the margin, never before.
        for status in [StepStatus::Enqueued, StepStatus::Pending] {
            assert_eq!(
                secs(ahead(status, Some(NOW + 30_000))),
                Some(30 + AFTER_AHEAD_SECS)
            );
            assert_eq!(
                secs(ahead(status, Some(NOW + 1))),
                Some(1 + AFTER_AHEAD_SECS)
            );
        }
    }

    #[test]
    fn no_wait_outlasts_one_queue_delay() {
        // Its retry due in 12 h less 2 s (the longest a retry waits): the margin would pass
        // one queue delay, so it comes back after 12 h and reads the due time again.
        let cap_ms = QUEUE_MAX_DELAY_SECS as i64 * 1000;
        let far = ahead(StepStatus::Enqueued, Some(NOW + cap_ms - 2_000));
        assert_eq!(secs(far), Some(QUEUE_MAX_DELAY_SECS));
        let near = ahead(StepStatus::Enqueued, Some(NOW + cap_ms - 60_000));
        assert_eq!(
            secs(near),
            Some(QUEUE_MAX_DELAY_SECS - 60 + AFTER_AHEAD_SECS)
        );
        let beyond = ahead(StepStatus::Enqueued, Some(i64::MAX));
        assert_eq!(secs(beyond), Some(QUEUE_MAX_DELAY_SECS));
    }

    #[test]
    fn a_step_ahead_that_is_due_or_has_no_time_is_looked_at_again_soon_then_less_often() {
        assert_eq!(
            secs(ahead(StepStatus::Enqueued, Some(NOW))),
            Some(AFTER_AHEAD_SECS)
        );
        assert_eq!(
            secs(ahead(StepStatus::Pending, None)),
            Some(AFTER_AHEAD_SECS)
        );
        // Overdue for 40 s (its message lost?): 20 s; for an hour: the longest look again.
        let overdue = |ms| {
            Some(Ahead {
                status: StepStatus::Enqueued,
                due_ms: Some(NOW - ms),
                updated_at_ms: NOW - ms,
            })
        };
        assert_eq!(secs(overdue(40_000)), Some(20));
        assert_eq!(secs(overdue(3_600_000)), Some(OVERDUE_RECHECK_SECS));
    }

    #[test]
    fn a_step_ahead_that_runs_is_looked_at_again_within_seconds() {
        let running = |since| {
            Some(Ahead {
                status: StepStatus::Running,
                due_ms: None,
                updated_at_ms: since,
            })
        };
        let wait = secs(running(NOW - 1_000)).expect("waits");
        assert!((1..=BUSY_RECHECK_SECS).contains(&wait), "{wait}");
        // Past its timeout, its runner is probably gone: until its lease ends.
        assert_eq!(secs(running(NOW - 60_000)), Some(15 * 60 - 60));
        // Past its lease, until the sweeper recovers it: looked at as an overdue one, not
        // every second.
        let lease = 15 * 60_000;
        assert_eq!(secs(running(NOW - lease)), Some(AFTER_AHEAD_SECS));
        assert_eq!(secs(running(NOW - lease - 40_000)), Some(20));
        assert_eq!(
            secs(running(NOW - lease - 3_600_000)),
            Some(OVERDUE_RECHECK_SECS)
        );
    }
}

#[cfg(test)]
mod sql {
    use rusqlite::{params, Connection, OptionalExtension};

    use super::*;
    use crate::steps::lifecycle::sql_tests::{add_event, add_step, database};
    use crate::steps::lifecycle::{claim, redrive};

    use super::tests::TIMING;

    const NOW: i64 = 100_000_000;

    /// The step ahead of `id` as the shell's load reads it.
    fn ahead_of(db: &Connection, id: &str) -> Option<Ahead> {
        let sql = format!("SELECT {AHEAD_COLUMNS} FROM steps s {AHEAD_JOIN} WHERE s.id = ?1");
        let (status, due, updated): (Option<String>, Option<i64>, Option<i64>) = db
            .query_row(&sql, [id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .optional()
            .expect("reads")
            .expect("the step");
        Some(Ahead {
            status: StepStatus::parse(&status?)?,
            due_ms: due,
            updated_at_ms: updated?,
        })
    }

    /// An older step "older" and a newer "newer" of one contact, "newer" running under its
    /// claim (attempt 1, claimed at NOW).
    fn world() -> Connection {
        let db = database();
        add_event(&db, "ev_old", 1_000);
        add_event(&db, "ev_new", 2_000);
        add_step(&db, "older", "ev_old", StepStatus::Running, NOW);
        add_step(&db, "newer", "ev_new", StepStatus::Running, NOW);
        db
    }

    fn hand_back(db: &Connection, behind: Option<&str>) -> usize {
        db.execute(
            &claim::unclaim(),
            params![
                "newer",
                1,
                NOW,
                NOW + 1_000,
                AFTER_UNSETTLED_INPUT,
                NOW,
                behind
            ],
        )
        .expect("unclaim")
    }

    #[test]
    fn a_step_handed_back_behind_another_waits_until_that_one_has_ended() {
        let db = world();
        assert_eq!(hand_back(&db, Some("older")), 1);
        // The older one's failed attempt is recorded: retried in 30 s (its Retry-After).
        db.execute(
            &claim::record_attempt(),
            params![
                "older",
                "enqueued",
                NOW + 30_000,
                429,
                "http_429",
                NOW,
                1,
                0
            ],
        )
        .expect("record");
        let wait = wait_behind(ahead_of(&db, "newer"), NOW + 1_000, TIMING).expect("waits");
        assert_eq!(wait.secs, 29 + AFTER_AHEAD_SECS);
        // Put off for that: the deferral keeps whom it is behind.
        db.execute(
            &claim::defer(),
            params!["newer", NOW + 35_000, wait.reason, NOW + 1_000],
        )
        .expect("defer");
        // Its retry fails again: the newer one, back too early for it, waits again.
        db.execute("UPDATE steps SET status = 'running' WHERE id = 'older'", [])
            .expect("claimed");
        db.execute(
            &claim::record_attempt(),
            params![
                "older",
                "enqueued",
                NOW + 95_000,
                503,
                "http_503",
                NOW + 31_000,
                1,
                0
            ],
        )
        .expect("record");
        let again = wait_behind(ahead_of(&db, "newer"), NOW + 35_000, TIMING).expect("waits");
        assert_eq!(again.secs, 60 + AFTER_AHEAD_SECS);
        // The older one goes dead: the newer one goes out.
        db.execute("UPDATE steps SET status = 'dead' WHERE id = 'older'", [])
            .expect("dead");
        assert_eq!(
            wait_behind(ahead_of(&db, "newer"), NOW + 100_000, TIMING),
            None
        );
    }

    #[test]
    fn a_step_ahead_that_is_gone_or_none_holds_nothing_back() {
        let db = world();
        assert_eq!(ahead_of(&db, "newer"), None, "never handed back behind one");
        assert_eq!(hand_back(&db, Some("older")), 1);
        assert!(ahead_of(&db, "newer").is_some());
        db.execute("DELETE FROM steps WHERE id = 'older'", [])
            .expect("retention");
        assert_eq!(ahead_of(&db, "newer"), None);
        // Any other hand-back (a budget's wait) clears it.
        let db = world();
        db.execute(
            "UPDATE steps SET after_step = 'older' WHERE id = 'newer'",
            [],
        )
        .expect("behind");
        assert_eq!(hand_back(&db, None), 1);
        assert_eq!(ahead_of(&db, "newer"), None);
    }

    #[test]
    fn the_link_lasts_one_run_a_claim_or_a_requeue_clears_it() {
        let db = world();
        assert_eq!(hand_back(&db, Some("older")), 1);
        db.execute(
            "UPDATE steps SET status = 'succeeded' WHERE id = 'older'",
            [],
        )
        .expect("older ended");
        let claimed: i64 = db
            .query_row(&claim::claim(), params!["newer", NOW + 2_000], |r| r.get(0))
            .expect("claims");
        assert_eq!(claimed, 1);
        assert_eq!(ahead_of(&db, "newer"), None, "claimed: no longer behind");
        // Handed back again, then dead and redriven: the redrive's run starts unlinked, so an
        // older step replayed later cannot hold it back under an old link.
        let db = world();
        assert_eq!(hand_back(&db, Some("older")), 1);
        db.execute("UPDATE steps SET status = 'dead' WHERE id = 'newer'", [])
            .expect("dead");
        let requeued: String = db
            .query_row(
                &redrive::requeue_sql(true),
                params![r#"["newer"]"#, NOW],
                |r| r.get(0),
            )
            .expect("requeues");
        assert_eq!(requeued, "newer");
        assert_eq!(ahead_of(&db, "newer"), None, "requeued: no longer behind");
    }
}
