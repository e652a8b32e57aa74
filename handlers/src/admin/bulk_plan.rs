//! What a bulk replay would do, counted per step name, from two grouped queries over the
//! matching events (events per provider, type and status; their steps per name and status) and
//! the routes in force: each stored step is run again, left as done or left in flight exactly as
//! the single-event replay decides ([`ReplayAction`]), and each step the routes now give an
//! accepted event's type but the event lacks is counted as added (an event has at most one step
//! of a name, so "lacking" is the group's events minus those with a step of that name).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::lifecycle::ReplayAction;
use crate::routes::StepKind;
use crate::webhook::Provider;

/// Matching events of one provider, type and event status.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct EventGroup {
    pub provider: String,
    pub event_type: String,
    pub status: String,
    pub events: i64,
}

/// Steps of the matching events with one name and status, per provider and type.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StepGroup {
    pub provider: String,
    pub event_type: String,
    pub name: String,
    pub status: String,
    pub count: i64,
}

/// What replaying the matching events does with the steps called `name`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct StepPlan {
    pub name: String,
    /// Sent to the queue again (pending, enqueued, dead).
    pub run: i64,
    /// Planned now: the routes give it, the event lacks it.
    pub add: i64,
    pub already_done: i64,
    pub in_progress: i64,
}

/// The whole plan: events matched and steps per name (sorted by name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BulkPlan {
    pub events: i64,
    pub would_run: i64,
    pub would_add: i64,
    pub steps: Vec<StepPlan>,
}

/// Count the plan. `routes(provider, type)` is the route in force for an event type.
pub fn plan(
    events: &[EventGroup],
    steps: &[StepGroup],
    routes: &dyn Fn(Provider, &str) -> Vec<StepKind>,
) -> BulkPlan {
    let mut by_name: BTreeMap<String, StepPlan> = BTreeMap::new();
    fn entry<'a>(map: &'a mut BTreeMap<String, StepPlan>, name: &str) -> &'a mut StepPlan {
        map.entry(name.to_string()).or_insert_with(|| StepPlan {
            name: name.to_string(),
            ..StepPlan::default()
        })
    }
    for step in steps {
        let plan = entry(&mut by_name, &step.name);
        match ReplayAction::for_status(&step.status) {
            ReplayAction::Run => plan.run += step.count,
            ReplayAction::AlreadyDone => plan.already_done += step.count,
            ReplayAction::InProgress => plan.in_progress += step.count,
        }
    }
    for group in events.iter().filter(|g| g.status == "accepted") {
        let Some(provider) = Provider::from_slug(&group.provider) else {
            continue;
        };
        let mut route = routes(provider, &group.event_type);
        route.dedup();
        for kind in route {
            let having: i64 = steps
                .iter()
                .filter(|s| {
                    s.provider == group.provider
                        && s.event_type == group.event_type
                        && s.name == kind.name()
                })
                .map(|s| s.count)
                .sum();
            let lacking = (group.events - having).max(0);
            if lacking > 0 {
                entry(&mut by_name, kind.name()).add += lacking;
            }
        }
    }
    let steps: Vec<StepPlan> = by_name.into_values().collect();
    BulkPlan {
        events: events.iter().map(|g| g.events).sum(),
        would_run: steps.iter().map(|s| s.run).sum(),
        would_add: steps.iter().map(|s| s.add).sum(),
        steps,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use StepKind::*;

    fn events(provider: &str, event_type: &str, status: &str, n: i64) -> EventGroup {
        EventGroup {
            provider: provider.into(),
            event_type: event_type.into(),
            status: status.into(),
            events: n,
        }
    }

    fn steps(event_type: &str, name: &str, status: &str, count: i64) -> StepGroup {
        StepGroup {
            provider: "stripe".into(),
            event_type: event_type.into(),
            name: name.into(),
            status: status.into(),
            count,
        }
    }

    #[test]
    fn stored_steps_count_as_the_single_replay_decides_and_missing_ones_are_added() {
        let groups = [
            events("stripe", "invoice.paid", "accepted", 5),
            events("stripe", "unparsable", "rejected", 2),
        ];
        let stored = [
            steps("invoice.paid", "slack.notify", "dead", 2),
            steps("invoice.paid", "slack.notify", "succeeded", 1),
            steps("invoice.paid", "slack.notify", "running", 1),
            steps("invoice.paid", "slack.notify", "pending", 1),
        ];
        // The route now also gives hubspot.upsert_contact, which no event has yet.
        let routes = |_: Provider, t: &str| match t {
            "invoice.paid" => vec![SlackNotify, HubSpotUpsertContact, SlackNotify],
            _ => vec![SlackNotify],
        };
        let plan = plan(&groups, &stored, &routes);
        assert_eq!(plan.events, 7);
        assert_eq!(
            plan.steps,
            vec![
                StepPlan {
                    name: "hubspot.upsert_contact".into(),
                    add: 5,
                    ..StepPlan::default()
                },
                StepPlan {
                    name: "slack.notify".into(),
                    run: 3,
                    add: 0,
                    already_done: 1,
                    in_progress: 1,
                },
            ]
        );
        assert_eq!((plan.would_run, plan.would_add), (3, 5));
    }

    #[test]
    fn events_lacking_a_routed_step_are_counted_once_each() {
        let groups = [events("stripe", "invoice.paid", "accepted", 4)];
        let stored = [steps("invoice.paid", "slack.notify", "succeeded", 3)];
        let plan = plan(&groups, &stored, &|_, _| vec![SlackNotify]);
        assert_eq!(plan.would_add, 1);
        assert_eq!(plan.would_run, 0);
        // Nothing matched: nothing to do.
        assert_eq!(
            super::plan(&[], &[], &|_, _| vec![SlackNotify]),
            BulkPlan::default()
        );
    }
}
