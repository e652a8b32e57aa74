//! How long a step may hold its claim or sit unsent before the sweeper steps in (the running
//! lease and the pending grace), and how early a step with a due time may run. The shell's
//! claims, consumer and sweeper read them from here, and the consumer's call timeout must fit
//! inside the lease (see [`super::recovery::record_retries_fit`]).

/// How long a `running` claim is honoured before its attempt counts as lost (its consumer died
/// mid-attempt, or the call never came back): the sweeper sends the step again, or ends it
/// `dead` (`attempt_lost`) when that was its last attempt; the dead-letter consumer may end it.
pub const RUNNING_LEASE_MS: i64 = 15 * 60_000;

/// How long a step may stay `pending` (planned, its queue send not yet recorded) before the
/// sweeper counts the send as failed and sends it again.
pub const PENDING_GRACE_MS: i64 = 60_000;

/// How early a step's message may come before the step's due time (`next_attempt_at`, set by a
/// scheduled retry or a deferral) and still run it. The message that carries a wait is sent
/// after the wait began and with its delay rounded up to whole seconds, so only clocks that
/// disagree bring it early; a message more than this early is a duplicate (at-least-once
/// delivery, or a re-send) and must not run a retry before its `Retry-After` has passed.
pub const DUE_SLACK_MS: i64 = 1_000;

/// Whole seconds until a step due at `due_ms` may run, or `None` when it may run now (it has no
/// due time, or the due time is at most [`DUE_SLACK_MS`] away). The claim carries out the same
/// rule in SQL (`lifecycle::claim`).
pub fn secs_until_due(due_ms: Option<i64>, now_ms: i64) -> Option<u64> {
    let early_ms = due_ms?.saturating_sub(now_ms);
    if early_ms <= DUE_SLACK_MS {
        return None;
    }
    let secs = early_ms.saturating_add(999) / 1000;
    u64::try_from(secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_step_without_a_due_time_runs_now() {
        assert_eq!(secs_until_due(None, 5_000), None);
    }

    #[test]
    fn a_step_due_now_or_in_the_past_runs_now() {
        assert_eq!(secs_until_due(Some(5_000), 5_000), None);
        assert_eq!(secs_until_due(Some(1_000), 5_000), None);
    }

    #[test]
    fn a_message_within_the_slack_of_its_due_time_runs() {
        assert_eq!(secs_until_due(Some(5_000 + DUE_SLACK_MS), 5_000), None);
    }

    #[test]
    fn an_early_message_waits_the_rest_in_whole_seconds_rounded_up() {
        assert_eq!(
            secs_until_due(Some(5_000 + DUE_SLACK_MS + 1), 5_000),
            Some(2)
        );
        assert_eq!(secs_until_due(Some(35_000), 5_000), Some(30));
        assert_eq!(secs_until_due(Some(35_001), 5_000), Some(31));
    }

    #[test]
    fn extreme_times_do_not_overflow() {
        assert_eq!(secs_until_due(Some(i64::MIN), i64::MAX), None);
        assert!(secs_until_due(Some(i64::MAX), i64::MIN).is_some());
    }
}
