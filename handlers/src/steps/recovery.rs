//! What happens to a step between attempts and when an attempt goes wrong outside the downstream
//! call: how a deliberate wait is sent back to the queue (a fresh message, never a Queues retry,
//! so waiting never spends `max_retries`), how the sweeper recovers a step whose message or
//! attempt was lost (a lost attempt counts, so a call that takes the isolate down ends `dead`
//! with `attempt_lost` after `MAX_ATTEMPTS` instead of cycling forever), when a dead-letter
//! message may end a step (only the dispatch it was about, still unfinished: a redrive, re-send
//! or success always wins), and how a failed attempt record is retried in place. The SQL that
//! carries out each rule sits beside it ([`give_up_sql`], [`sweepable_sql`], [`recovery_sql`],
//! [`LOST_ATTEMPT_SQL`]); the shell (`src/cron/sweeper.rs`, `src/db/steps.rs`,
//! `src/steps/consumer.rs`) binds and runs it, and `steps::lifecycle::sql_tests` checks it
//! against these rules.

use crate::steps::lifecycle::{sql_in, sql_lit, StepStatus, CLAIMABLE, RECOVERABLE};
use crate::steps::retry::QUEUE_MAX_DELAY_SECS;

/// Delay of the fresh message that carries a deferred or retried step: at most what Queues
/// accepts for one message.
pub fn resend_delay_secs(secs: u64) -> u32 {
    let bounded = secs.min(QUEUE_MAX_DELAY_SECS);
    u32::try_from(bounded).unwrap_or(u32::MAX)
}

/// What the sweeper does with a step it found overdue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recovery {
    /// `pending` (its send failed) or `enqueued` (its message was lost): send it again under a
    /// new dispatch number; the status stays.
    Resend,
    /// `running` past its lease, attempts left: the lost attempt is recorded (`attempt_lost`)
    /// and the step is sent again (`enqueued`).
    RetryLost,
    /// `running` past its lease with its last attempt spent: `dead`, `attempt_lost`.
    DeadLost,
}

/// The error code of an attempt whose runner never recorded it (the isolate died, the call
/// never returned within the lease, or its record failed every retry).
pub const ATTEMPT_LOST: &str = "attempt_lost";

/// The sweeper's rule for an overdue step in `status` that has made `attempts` attempts (each
/// claim counts one, so a claim that was never recorded is an attempt); `None` for a status
/// the sweeper never touches. `max_attempts` is the step's own: its `http` destination's when it
/// has one (`crate::connections::recovery::step_max_attempts`), else the global.
pub fn recover(status: StepStatus, attempts: i64, max_attempts: u32) -> Option<Recovery> {
    match status {
        StepStatus::Pending | StepStatus::Enqueued => Some(Recovery::Resend),
        StepStatus::Running if attempts >= i64::from(max_attempts) => Some(Recovery::DeadLost),
        StepStatus::Running => Some(Recovery::RetryLost),
        _ => None,
    }
}

/// Overdue steps one sweep reads and recovers at most (the `?3` of [`sweepable_sql`]).
pub const SWEEP_LIMIT: u32 = 500;

/// The overdue steps: `pending` ones older than ?1 (their send failed), `enqueued` or
/// `running` ones whose due time or lease passed before ?2; at most ?3, oldest first. Read
/// through `steps_open` (migration 0025, the [`RECOVERABLE`] steps only): the status set and the
/// bound on `updated_at` both hold of every overdue step (its `updated_at` is before ?1 or ?2),
/// and they are what lets SQLite read that index's range instead of the table.
pub fn sweepable_sql() -> String {
    format!(
        "SELECT id, name, status, attempts, updated_at FROM steps WHERE \
         status IN {} AND updated_at < MAX(?1, ?2) AND \
         ((status = {} AND updated_at < ?1) OR \
          (status IN {} AND MAX(updated_at, COALESCE(next_attempt_at, 0)) < ?2)) \
         ORDER BY updated_at LIMIT ?3",
        sql_in(&RECOVERABLE),
        sql_lit(StepStatus::Pending),
        sql_in(&[StepStatus::Enqueued, StepStatus::Running])
    )
}

/// The statement that carries out `recovery`, conditional on the status and `updated_at` the
/// sweeper read (a step claimed or finished since is never flipped): ?1 id, ?2 status read,
/// ?3 updated_at read, ?4 now. Returns `dispatch` (the new dispatch number; NULL for
/// [`Recovery::DeadLost`]) when it applied.
pub fn recovery_sql(recovery: Recovery) -> String {
    match recovery {
        // The status stays: a `pending` step becomes `enqueued` once its send succeeds.
        Recovery::Resend => "UPDATE steps SET dispatch = dispatch + 1, updated_at = ?4 \
             WHERE id = ?1 AND status = ?2 AND updated_at = ?3 RETURNING dispatch"
            .to_string(),
        Recovery::RetryLost => format!(
            "UPDATE steps SET status = {}, dispatch = dispatch + 1, next_attempt_at = NULL, \
             last_status = NULL, last_error = '{ATTEMPT_LOST}', updated_at = ?4 \
             WHERE id = ?1 AND status = ?2 AND updated_at = ?3 RETURNING dispatch",
            sql_lit(StepStatus::Enqueued)
        ),
        Recovery::DeadLost => format!(
            "UPDATE steps SET status = {}, next_attempt_at = NULL, last_status = NULL, \
             last_error = '{ATTEMPT_LOST}', updated_at = ?4 \
             WHERE id = ?1 AND status = ?2 AND updated_at = ?3 RETURNING NULL AS dispatch",
            sql_lit(StepStatus::Dead)
        ),
    }
}

/// The attempt outcome a recovery records for the lost attempt, if any.
pub fn lost_attempt_outcome(recovery: Recovery) -> Option<&'static str> {
    match recovery {
        Recovery::Resend => None,
        Recovery::RetryLost => Some(crate::steps::lifecycle::RETRY),
        Recovery::DeadLost => Some(StepStatus::Dead.as_str()),
    }
}

/// The lost attempt (the claim's number, started when it was claimed), recorded only when the
/// recovery statement just before it in the batch applied. ?1 step id, ?2 attempt number,
/// ?3 its start (the `updated_at` read), ?4 now, ?5 outcome, ?6 error.
pub const LOST_ATTEMPT_SQL: &str =
    "INSERT INTO attempts (step_id, n, started_at, duration_ms, status, outcome, error) \
     SELECT ?1, ?2, ?3, ?4 - ?3, NULL, ?5, ?6 WHERE changes() > 0";

/// The step as the dead-letter consumer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetterView {
    pub status: StepStatus,
    /// The step's current dispatch number (bumped by every sweeper re-send and admin redrive).
    pub dispatch: i64,
    /// A `running` step's claim is still within its lease.
    pub lease_live: bool,
}

/// Whether a dead-lettered message sent under `message_dispatch` may end the step `dead`
/// (`queue_gave_up`): only while the step is still in the life that message was about (same
/// dispatch), unfinished, and not running under a live claim (that attempt records its own
/// outcome). A step since redriven or re-sent has a newer dispatch; a finished one is left alone.
/// Carried out by [`give_up_sql`].
pub fn dead_letter_ends(step: DeadLetterView, message_dispatch: i64) -> bool {
    if step.dispatch != message_dispatch {
        return false;
    }
    match step.status {
        StepStatus::Running => !step.lease_live,
        other => other.is_claimable(),
    }
}

/// The error a dead letter ends its step with.
pub const QUEUE_GAVE_UP: &str = "queue_gave_up";

/// End a step `dead` ([`QUEUE_GAVE_UP`]) by [`dead_letter_ends`]. ?1 step id, ?2 now, ?3 the
/// lease horizon (a `running` claim older than it is not live), ?4 the message's dispatch.
pub fn give_up_sql() -> String {
    format!(
        "UPDATE steps SET status = {}, last_error = '{QUEUE_GAVE_UP}', updated_at = ?2 \
         WHERE id = ?1 AND dispatch = ?4 \
         AND (status IN {} OR (status = {} AND updated_at < ?3))",
        sql_lit(StepStatus::Dead),
        sql_in(&CLAIMABLE),
        sql_lit(StepStatus::Running)
    )
}

/// Pauses before each retry of an attempt's D1 record inside the same invocation (after the
/// first try). A success that is not recorded would otherwise be run again by the sweeper, and
/// SendGrid and Slack take no idempotency key: a re-run is a second email. Their sum stays far
/// below the running lease ([`record_retries_fit`]), so nothing else can claim the step meanwhile.
pub const RECORD_RETRY_DELAYS_MS: [u64; 4] = [100, 300, 900, 2_000];

/// True when a call that takes `timeout_ms` plus every record retry still ends inside a claim's
/// lease of `lease_ms`, with `margin_ms` to spare for the D1 round trips themselves.
pub fn record_retries_fit(timeout_ms: u64, lease_ms: i64, margin_ms: i64) -> bool {
    let retries: u64 = RECORD_RETRY_DELAYS_MS.iter().sum();
    let needed = i64::try_from(timeout_ms.saturating_add(retries))
        .unwrap_or(i64::MAX)
        .saturating_add(margin_ms);
    needed < lease_ms
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resend_delays_stay_within_what_queues_accept() {
        assert_eq!(resend_delay_secs(0), 0);
        assert_eq!(resend_delay_secs(1), 1);
        assert_eq!(resend_delay_secs(60), 60);
        assert_eq!(resend_delay_secs(u64::MAX), 43_200);
    }

    #[test]
    fn overdue_steps_are_resent_and_lost_attempts_count() {
        use StepStatus::*;
        assert_eq!(recover(Pending, 0, 3), Some(Recovery::Resend));
        assert_eq!(recover(Enqueued, 2, 3), Some(Recovery::Resend));
        // A claim counts as an attempt: the lost one was attempt 2 of 3, one is left.
        assert_eq!(recover(Running, 2, 3), Some(Recovery::RetryLost));
        // The lost one was the last: the sweeper's recovery path ends here, never cycling.
        assert_eq!(recover(Running, 3, 3), Some(Recovery::DeadLost));
        assert_eq!(recover(Running, 7, 3), Some(Recovery::DeadLost));
        for finished in [Succeeded, Dead, SkippedStale, Skipped] {
            assert_eq!(recover(finished, 1, 3), None, "{finished:?}");
        }
    }

    #[test]
    fn a_lost_attempt_every_time_ends_dead_after_max_attempts() {
        // Each sweep: the claim counted one attempt, then the isolate died.
        let max = 4;
        let mut attempts = 0;
        let mut sweeps = 0;
        loop {
            attempts += 1; // the claim
            sweeps += 1;
            match recover(StepStatus::Running, attempts, max) {
                Some(Recovery::RetryLost) => continue,
                Some(Recovery::DeadLost) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((attempts, sweeps), (4, 4));
    }

    fn view(status: StepStatus, dispatch: i64, lease_live: bool) -> DeadLetterView {
        DeadLetterView {
            status,
            dispatch,
            lease_live,
        }
    }

    #[test]
    fn a_dead_letter_ends_only_the_unfinished_dispatch_it_was_about() {
        use StepStatus::*;
        assert!(dead_letter_ends(view(Enqueued, 0, false), 0));
        assert!(dead_letter_ends(view(Pending, 2, false), 2));
        assert!(dead_letter_ends(view(Running, 1, false), 1));
        // A live claim records its own outcome.
        assert!(!dead_letter_ends(view(Running, 1, true), 1));
        // Redriven or re-sent since: a newer dispatch wins.
        assert!(!dead_letter_ends(view(Enqueued, 1, false), 0));
        assert!(!dead_letter_ends(view(Pending, 3, false), 2));
        // Finished: success (or any end) wins.
        for finished in [Succeeded, Dead, SkippedStale, Skipped] {
            assert!(
                !dead_letter_ends(view(finished, 0, false), 0),
                "{finished:?}"
            );
        }
    }

    #[test]
    fn record_retries_end_well_inside_the_lease() {
        let lease_ms = 15 * 60_000;
        assert!(record_retries_fit(10_000, lease_ms, 60_000));
        assert!(record_retries_fit(600_000, lease_ms, 60_000));
        assert!(!record_retries_fit(900_000, lease_ms, 0));
        assert!(!record_retries_fit(u64::MAX, lease_ms, 0));
    }
}
