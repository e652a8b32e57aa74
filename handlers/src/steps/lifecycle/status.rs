//! The step statuses and the named sets of them every rule and query uses: which steps may be
//! claimed, which are finished for good, which an attempt can end in, what replay and redrive
//! touch, what the sweeper recovers and what a dead letter may end; and an event row's status
//! ([`EventStatus`]). SQL lists of each set come from [`sql_in`] (an event status from
//! [`EventStatus::sql_lit`]), so no statement spells a status by hand.

/// Where a step is in its life (data-model.md, `steps.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepStatus {
    /// Stored, its message not sent yet (or the send failed).
    Pending,
    /// Its message is on the queue (first send, a scheduled retry or a deferral).
    Enqueued,
    /// Claimed for an attempt under a lease.
    Running,
    Succeeded,
    /// The event does not call for the step (reason in `last_error`).
    Skipped,
    /// A newer event for the step's entity made it pointless.
    SkippedStale,
    /// Out of attempts, or failed for good: waits for an admin.
    Dead,
}

use StepStatus::*;

impl StepStatus {
    /// Every status, in the order the admin API reports them.
    pub const ALL: [StepStatus; 7] = [
        Pending,
        Enqueued,
        Running,
        Succeeded,
        Skipped,
        SkippedStale,
        Dead,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            Pending => "pending",
            Enqueued => "enqueued",
            Running => "running",
            Succeeded => "succeeded",
            Skipped => "skipped",
            SkippedStale => "skipped_stale",
            Dead => "dead",
        }
    }

    pub fn parse(text: &str) -> Option<StepStatus> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A claim may take the step for an attempt.
    pub fn is_claimable(self) -> bool {
        CLAIMABLE.contains(&self)
    }

    /// Finished for good (`dead` is not: it waits for an admin).
    pub fn is_finished(self) -> bool {
        FINISHED.contains(&self)
    }

    /// No runner will change it again on its own.
    pub fn is_terminal(self) -> bool {
        TERMINAL.contains(&self)
    }
}

/// Statuses a claim may take (and a deferral may put off).
pub const CLAIMABLE: [StepStatus; 2] = [Pending, Enqueued];
/// Finished for good: retention may delete them, replay leaves them alone.
pub const FINISHED: [StepStatus; 3] = [Succeeded, Skipped, SkippedStale];
/// Ended: finished for good, or `dead`. Ending a step without a call only changes others.
pub const TERMINAL: [StepStatus; 4] = [Succeeded, Skipped, SkippedStale, Dead];
/// What replaying an event sends to the queue again.
pub const REPLAY_RUNS: [StepStatus; 3] = [Pending, Enqueued, Dead];
/// What an admin redrive of named steps may requeue (a redrive of dead letters: only `dead`).
pub const REDRIVABLE: [StepStatus; 3] = [Pending, Enqueued, Dead];
/// What a redrive of dead letters requeues.
pub const DEAD_LETTERS: [StepStatus; 1] = [Dead];
/// What the sweeper may find overdue and recover (`running`: only past its lease).
pub const RECOVERABLE: [StepStatus; 3] = [Pending, Enqueued, Running];
/// A step of the same entity and step name in one of these, from a newer event, makes an older
/// step stale (a `dead` or stale newer step never applied, so it does not).
pub const SUPERSEDING: [StepStatus; 5] = [Pending, Enqueued, Running, Succeeded, Skipped];

/// `'running'`: one status as a SQL literal.
pub fn sql_lit(status: StepStatus) -> String {
    format!("'{}'", status.as_str())
}

/// What an event row is (data-model.md, `events.status`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventStatus {
    /// Verified and parsed: its steps are planned from it.
    Accepted,
    /// Verified, but unusable (`error` says why); no steps.
    Rejected,
}

impl EventStatus {
    pub const fn as_str(self) -> &'static str {
        match self {
            EventStatus::Accepted => "accepted",
            EventStatus::Rejected => "rejected",
        }
    }

    /// `'accepted'`: the status as a SQL literal (const, for statements built at compile time).
    pub const fn sql_lit(self) -> &'static str {
        match self {
            EventStatus::Accepted => "'accepted'",
            EventStatus::Rejected => "'rejected'",
        }
    }
}

/// `('pending', 'enqueued')`: a set as a SQL list for `status IN …` / `NOT IN …`.
pub fn sql_in(set: &[StepStatus]) -> String {
    let quoted: Vec<String> = set.iter().map(|s| sql_lit(*s)).collect();
    format!("({})", quoted.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_status_literals_quote_their_names() {
        for s in [EventStatus::Accepted, EventStatus::Rejected] {
            assert_eq!(s.sql_lit(), format!("'{}'", s.as_str()));
        }
    }

    #[test]
    fn every_status_round_trips() {
        for s in StepStatus::ALL {
            assert_eq!(StepStatus::parse(s.as_str()), Some(s));
        }
        assert_eq!(StepStatus::parse("failed"), None);
        assert_eq!(StepStatus::parse("Pending"), None);
    }

    #[test]
    fn sets_are_what_the_contract_says() {
        assert_eq!(sql_in(&CLAIMABLE), "('pending', 'enqueued')");
        assert_eq!(
            sql_in(&FINISHED),
            "('succeeded', 'skipped', 'skipped_stale')"
        );
        assert_eq!(sql_lit(Running), "'running'");
        assert!(!Dead.is_finished() && Dead.is_terminal());
        for s in StepStatus::ALL {
            // Finished for good is terminal; claimable is never terminal.
            assert!(!s.is_finished() || s.is_terminal(), "{s:?}");
            assert!(!(s.is_claimable() && s.is_terminal()), "{s:?}");
            // Exactly the terminal statuses plus `running` are beyond a claim.
            assert_eq!(s.is_claimable(), !s.is_terminal() && s != Running, "{s:?}");
            // Replay runs what is neither finished nor in flight.
            assert_eq!(REPLAY_RUNS.contains(&s), !s.is_finished() && s != Running);
            assert_eq!(RECOVERABLE.contains(&s), !s.is_terminal());
        }
    }
}
