//! What happens to a step between attempts and when an attempt goes wrong outside the downstream
//! call: how a deliberate wait is sent back to the queue (a fresh message, never a Queues retry,
//! so waiting never spends `max_retries`), how the sweeper recovers a step whose message or
//! attempt was lost (a lost attempt counts, so a call that takes the isolate down ends `dead`
//! with `attempt_lost` after `MAX_ATTEMPTS` instead of cycling forever), when a dead-letter
//! message may end a step (only the dispatch it was about, still unfinished: a redrive, re-send
//! or success always wins), and how a failed attempt record is retried in place. The shell
//! (`src/sweeper.rs`, `src/db/steps.rs`, `src/consumer.rs`) runs the SQL that mirrors each rule.

use crate::retry::QUEUE_MAX_DELAY_SECS;

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
/// the sweeper never touches.
pub fn recover(status: &str, attempts: i64, max_attempts: u32) -> Option<Recovery> {
    match status {
        "pending" | "enqueued" => Some(Recovery::Resend),
        "running" if attempts >= i64::from(max_attempts) => Some(Recovery::DeadLost),
        "running" => Some(Recovery::RetryLost),
        _ => None,
    }
}

/// The step as the dead-letter consumer sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeadLetterView<'a> {
    pub status: &'a str,
    /// The step's current dispatch number (bumped by every sweeper re-send and admin redrive).
    pub dispatch: i64,
    /// A `running` step's claim is still within its lease.
    pub lease_live: bool,
}

/// Whether a dead-lettered message sent under `message_dispatch` may end the step `dead`
/// (`queue_gave_up`): only while the step is still in the life that message was about (same
/// dispatch), unfinished, and not running under a live claim (that attempt records its own
/// outcome). A step since redriven or re-sent has a newer dispatch; a finished one is left alone.
/// Mirrored by `src/db/steps.rs::give_up`.
pub fn dead_letter_ends(step: DeadLetterView<'_>, message_dispatch: i64) -> bool {
    if step.dispatch != message_dispatch {
        return false;
    }
    match step.status {
        "pending" | "enqueued" => true,
        "running" => !step.lease_live,
        _ => false,
    }
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
        assert_eq!(recover("pending", 0, 3), Some(Recovery::Resend));
        assert_eq!(recover("enqueued", 2, 3), Some(Recovery::Resend));
        // A claim counts as an attempt: the lost one was attempt 2 of 3, one is left.
        assert_eq!(recover("running", 2, 3), Some(Recovery::RetryLost));
        // The lost one was the last: the sweeper's recovery path ends here, never cycling.
        assert_eq!(recover("running", 3, 3), Some(Recovery::DeadLost));
        assert_eq!(recover("running", 7, 3), Some(Recovery::DeadLost));
        for finished in ["succeeded", "dead", "skipped_stale", "skipped"] {
            assert_eq!(recover(finished, 1, 3), None, "{finished}");
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
            match recover("running", attempts, max) {
                Some(Recovery::RetryLost) => continue,
                Some(Recovery::DeadLost) => break,
                other => panic!("unexpected {other:?}"),
            }
        }
        assert_eq!((attempts, sweeps), (4, 4));
    }

    fn view(status: &str, dispatch: i64, lease_live: bool) -> DeadLetterView<'_> {
        DeadLetterView {
            status,
            dispatch,
            lease_live,
        }
    }

    #[test]
    fn a_dead_letter_ends_only_the_unfinished_dispatch_it_was_about() {
        assert!(dead_letter_ends(view("enqueued", 0, false), 0));
        assert!(dead_letter_ends(view("pending", 2, false), 2));
        assert!(dead_letter_ends(view("running", 1, false), 1));
        // A live claim records its own outcome.
        assert!(!dead_letter_ends(view("running", 1, true), 1));
        // Redriven or re-sent since: a newer dispatch wins.
        assert!(!dead_letter_ends(view("enqueued", 1, false), 0));
        assert!(!dead_letter_ends(view("pending", 3, false), 2));
        // Finished: success (or any end) wins.
        for finished in ["succeeded", "dead", "skipped_stale", "skipped"] {
            assert!(!dead_letter_ends(view(finished, 0, false), 0), "{finished}");
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
