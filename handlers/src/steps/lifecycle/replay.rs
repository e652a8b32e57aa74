//! What replaying an event does with each of its steps, by status: run again what is neither
//! finished nor in flight, leave the rest.

use super::status::{StepStatus, FINISHED};

/// What replaying an event would do with one of its steps.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayAction {
    /// `pending`, `enqueued` or `dead`: sent to the queue again (a dead step's attempt counter
    /// restarts at 0; its attempt history is kept).
    Run,
    /// `succeeded`, `skipped` or `skipped_stale`: already done, left alone.
    AlreadyDone,
    /// `running`: an attempt is in flight; left alone.
    InProgress,
}

impl ReplayAction {
    /// The action for a stored status (an unknown one is run, as a waiting step would be).
    pub fn for_status(status: &str) -> ReplayAction {
        match StepStatus::parse(status) {
            Some(s) if FINISHED.contains(&s) => ReplayAction::AlreadyDone,
            Some(StepStatus::Running) => ReplayAction::InProgress,
            _ => ReplayAction::Run,
        }
    }

    pub fn code(self) -> &'static str {
        match self {
            ReplayAction::Run => "run",
            ReplayAction::AlreadyDone => "already_done",
            ReplayAction::InProgress => "in_progress",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::steps::lifecycle::REPLAY_RUNS;

    #[test]
    fn replay_runs_exactly_its_set() {
        for s in StepStatus::ALL {
            let runs = ReplayAction::for_status(s.as_str()) == ReplayAction::Run;
            assert_eq!(runs, REPLAY_RUNS.contains(&s), "{s:?}");
        }
        assert_eq!(
            ReplayAction::for_status("running"),
            ReplayAction::InProgress
        );
        assert_eq!(
            ReplayAction::for_status("skipped"),
            ReplayAction::AlreadyDone
        );
    }
}
