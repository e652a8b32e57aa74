//! An attempt's end, written once: how a downstream response (or its absence) is classified, how
//! many attempts it charges, and the step's next state for the retry policy's [`Decision`] —
//! its new status, when it is due again and what happens to the queue message. HTTP steps,
//! customer lookups and local steps whose D1 work failed all end through [`after_attempt`].

use super::status::StepStatus;
use crate::steps::limits::charges_attempt;
use crate::steps::retry::{classify_status, Decision, ResponseClass};

/// What becomes of the queue message that carried the attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageAction {
    /// Done with it.
    Ack,
    /// Done with it; the step runs again from a fresh message after this many seconds.
    Resend(u64),
    /// A lookup stored the customer its step needed: plan the step again now.
    PlanAgain,
}

/// The step's state after an attempt, and what follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub status: StepStatus,
    pub next_attempt_at_ms: Option<i64>,
    pub message: MessageAction,
    /// Replaces the call's own error (a lookup's unreadable answer).
    pub error: Option<&'static str>,
}

/// What the attempt was for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptFor {
    /// The step's own work: success finishes it.
    Step,
    /// A lookup of the customer the step is about: success with the customer (`found`) makes the
    /// step claimable again; success without it ends the step.
    Lookup { found: bool },
}

/// The error of a lookup whose 2xx answer is not the customer asked for.
pub const LOOKUP_UNREADABLE: &str = "stripe_customer_unreadable";
/// The attempt outcome of a lookup that found its customer.
pub const RESOLVED: &str = "resolved";
/// The attempt outcome of a scheduled retry.
pub const RETRY: &str = "retry";
/// The attempt outcome of a failed half-open probe, not charged to its step.
pub const PROBE: &str = "probe";

/// The class of a response: its status when there was one; a request that could not be sent
/// at all is permanent; no answer (network error, timeout) is retryable.
pub fn classify_response(status: Option<u16>, unsendable: bool) -> ResponseClass {
    match (status, unsendable) {
        (Some(status), _) => classify_status(status),
        (None, true) => ResponseClass::Permanent,
        (None, false) => ResponseClass::Retryable,
    }
}

/// Attempts the retry policy counts after attempt number `attempt` of class `class`: a failed
/// half-open probe is not charged ([`charges_attempt`]).
pub fn attempts_made(attempt: i64, class: ResponseClass, probing: bool) -> u32 {
    let counted = if charges_attempt(class, probing) {
        attempt
    } else {
        attempt - 1
    };
    u32::try_from(counted.max(0)).unwrap_or(u32::MAX)
}

/// The step's next state after an attempt for `what` that the policy decided `decision` on,
/// recorded at `finished_ms`.
pub fn after_attempt(decision: Decision, what: AttemptFor, finished_ms: i64) -> Transition {
    let ended = |status| Transition {
        status,
        next_attempt_at_ms: None,
        message: MessageAction::Ack,
        error: None,
    };
    match (decision, what) {
        (Decision::RetryAfter { delay_secs }, _) => {
            let delay_ms = i64::try_from(delay_secs).map_or(i64::MAX, |s| s.saturating_mul(1000));
            Transition {
                next_attempt_at_ms: Some(finished_ms.saturating_add(delay_ms)),
                message: MessageAction::Resend(delay_secs),
                ..ended(StepStatus::Enqueued)
            }
        }
        (Decision::Dead, _) => ended(StepStatus::Dead),
        (Decision::Succeeded, AttemptFor::Step) => ended(StepStatus::Succeeded),
        (Decision::Succeeded, AttemptFor::Lookup { found: true }) => Transition {
            message: MessageAction::PlanAgain,
            ..ended(StepStatus::Enqueued)
        },
        (Decision::Succeeded, AttemptFor::Lookup { found: false }) => Transition {
            error: Some(LOOKUP_UNREADABLE),
            ..ended(StepStatus::Dead)
        },
    }
}

/// The `attempts.outcome` of an attempt that left its step in `status`: `retry` for a scheduled
/// retry, else the status (`resolved` for a lookup that found its customer is passed by the
/// caller instead).
pub fn attempt_outcome(status: StepStatus) -> &'static str {
    match status {
        StepStatus::Enqueued => RETRY,
        other => other.as_str(),
    }
}

/// [`attempt_outcome`] of an attempt `charged` or not to its step
/// ([`crate::steps::limits::charges_attempt`]): a retry that was not charged (a failed
/// half-open probe) is recorded as `probe`, so the timeline still shows the call.
pub fn recorded_outcome(status: StepStatus, charged: bool) -> &'static str {
    match attempt_outcome(status) {
        RETRY if !charged => PROBE,
        outcome => outcome,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_an_uncharged_retry_is_recorded_as_a_probe() {
        for status in StepStatus::ALL {
            assert_eq!(recorded_outcome(status, true), attempt_outcome(status));
            let uncharged = recorded_outcome(status, false);
            if status == StepStatus::Enqueued {
                assert_eq!(uncharged, PROBE);
            } else {
                assert_eq!(uncharged, status.as_str(), "{status:?}");
            }
        }
    }

    #[test]
    fn responses_are_classified_by_status_then_by_why_there_is_none() {
        assert_eq!(classify_response(Some(200), false), ResponseClass::Success);
        assert_eq!(classify_response(Some(503), true), ResponseClass::Retryable);
        assert_eq!(
            classify_response(Some(400), false),
            ResponseClass::Permanent
        );
        assert_eq!(classify_response(None, true), ResponseClass::Permanent);
        assert_eq!(classify_response(None, false), ResponseClass::Retryable);
    }

    #[test]
    fn a_failed_probe_is_not_charged() {
        assert_eq!(attempts_made(3, ResponseClass::Retryable, false), 3);
        assert_eq!(attempts_made(3, ResponseClass::Retryable, true), 2);
        assert_eq!(attempts_made(3, ResponseClass::Permanent, true), 3);
        assert_eq!(attempts_made(3, ResponseClass::Success, true), 3);
    }

    #[test]
    fn every_decision_has_one_next_state() {
        let retry = after_attempt(
            Decision::RetryAfter { delay_secs: 7 },
            AttemptFor::Step,
            1_000,
        );
        assert_eq!(retry.status, StepStatus::Enqueued);
        assert_eq!(retry.next_attempt_at_ms, Some(8_000));
        assert_eq!(retry.message, MessageAction::Resend(7));
        let lookup_retry = after_attempt(
            Decision::RetryAfter { delay_secs: 7 },
            AttemptFor::Lookup { found: false },
            1_000,
        );
        assert_eq!(lookup_retry, retry);
        for what in [AttemptFor::Step, AttemptFor::Lookup { found: true }] {
            let dead = after_attempt(Decision::Dead, what, 1_000);
            assert_eq!(
                (dead.status, dead.message),
                (StepStatus::Dead, MessageAction::Ack)
            );
        }
        let done = after_attempt(Decision::Succeeded, AttemptFor::Step, 1_000);
        assert_eq!(done.status, StepStatus::Succeeded);
        assert_eq!(done.next_attempt_at_ms, None);
        let found = after_attempt(Decision::Succeeded, AttemptFor::Lookup { found: true }, 1);
        assert_eq!(
            (found.status, found.message),
            (StepStatus::Enqueued, MessageAction::PlanAgain)
        );
        let unreadable = after_attempt(Decision::Succeeded, AttemptFor::Lookup { found: false }, 1);
        assert_eq!(unreadable.status, StepStatus::Dead);
        assert_eq!(unreadable.error, Some(LOOKUP_UNREADABLE));
        assert_eq!(attempt_outcome(StepStatus::Enqueued), "retry");
        assert_eq!(attempt_outcome(StepStatus::Dead), "dead");
    }
}
