//! What a bulk replay would do, counted per step name: the sum, over the events a dry run
//! scanned and selected, of each event's own replay plan ([`super::replay::plan_event_replay`],
//! the decision the real replay makes per event), so a dry run and the real run cannot disagree.
//! A stored step counts as run again, already done or in progress; a step the event would plan
//! now but lacks counts as added (`http:<destination>` for a connection's delivery). An event the
//! real run would skip because its payload is gone counts as `unavailable`, its steps not at all.

use serde::Serialize;

use super::replay::EventReplayPlan;
use crate::steps::lifecycle::ReplayAction;

/// What replaying the counted events does with the steps called `name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StepPlan {
    pub name: String,
    /// Sent to the queue again (pending, enqueued, dead).
    pub run: i64,
    /// Planned now: routes or connections give it, the event lacks it.
    pub add: i64,
    pub already_done: i64,
    pub in_progress: i64,
}

/// The whole plan: events counted, steps per name (sorted by name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BulkPlan {
    pub events: i64,
    pub would_run: i64,
    pub would_add: i64,
    /// Events the real run lists under `skipped` (`payload_unavailable`).
    pub unavailable: i64,
    pub steps: Vec<StepPlan>,
}

/// Sums event plans into a [`BulkPlan`].
#[derive(Debug, Default)]
pub struct PlanTally {
    events: i64,
    unavailable: i64,
    /// Sorted by name (a sorted `Vec`, not a map: one map type fewer in the wasm).
    by_name: Vec<StepPlan>,
}

impl PlanTally {
    fn entry(&mut self, name: &str) -> &mut StepPlan {
        let at = match self
            .by_name
            .binary_search_by(|step| step.name.as_str().cmp(name))
        {
            Ok(at) => at,
            Err(at) => {
                let step = StepPlan {
                    name: name.to_string(),
                    ..StepPlan::default()
                };
                self.by_name.insert(at, step);
                at
            }
        };
        &mut self.by_name[at]
    }

    /// Count one selected event's plan.
    pub fn add(&mut self, plan: &EventReplayPlan) {
        self.events += 1;
        if plan.blocked {
            self.unavailable += 1;
            return;
        }
        for (name, action) in &plan.stored {
            let step = self.entry(name);
            match action {
                ReplayAction::Run => step.run += 1,
                ReplayAction::AlreadyDone => step.already_done += 1,
                ReplayAction::InProgress => step.in_progress += 1,
            }
        }
        for added in &plan.add {
            self.entry(&added.name()).add += 1;
        }
    }

    pub fn finish(self) -> BulkPlan {
        let steps = self.by_name;
        BulkPlan {
            events: self.events,
            would_run: steps.iter().map(|s| s.run).sum(),
            would_add: steps.iter().map(|s| s.add).sum(),
            unavailable: self.unavailable,
            steps,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connections::plan::PlannedStep;
    use crate::step_kind::StepKind;

    fn plan(
        stored: &[(&str, ReplayAction)],
        add: Vec<PlannedStep>,
        blocked: bool,
    ) -> EventReplayPlan {
        EventReplayPlan {
            stored: stored.iter().map(|(n, a)| (n.to_string(), *a)).collect(),
            add,
            blocked,
        }
    }

    #[test]
    fn event_plans_sum_per_step_name_and_blocked_events_count_apart() {
        let mut tally = PlanTally::default();
        let orders = PlannedStep::Http("orders-svc".into());
        tally.add(&plan(
            &[("slack.notify", ReplayAction::Run)],
            vec![orders.clone(), PlannedStep::Builtin(StepKind::SendGridSend)],
            false,
        ));
        tally.add(&plan(
            &[
                ("slack.notify", ReplayAction::AlreadyDone),
                ("http:orders-svc", ReplayAction::InProgress),
            ],
            vec![],
            false,
        ));
        tally.add(&plan(
            &[("slack.notify", ReplayAction::Run)],
            vec![orders],
            true,
        ));
        let counted = tally.finish();
        assert_eq!((counted.events, counted.unavailable), (3, 1));
        assert_eq!((counted.would_run, counted.would_add), (1, 2));
        let row = |name: &str, run, add, already_done, in_progress| StepPlan {
            name: name.into(),
            run,
            add,
            already_done,
            in_progress,
        };
        assert_eq!(
            counted.steps,
            [
                row("http:orders-svc", 0, 1, 0, 1),
                row("sendgrid.send", 0, 1, 0, 0),
                row("slack.notify", 1, 0, 1, 0),
            ]
        );
        assert_eq!(PlanTally::default().finish(), BulkPlan::default());
    }
}
