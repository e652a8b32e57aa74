//! Replay's planning of steps an event lacks: when the routes in force (defaults plus
//! `ROUTES_JSON`, minus routes turned off, plus the connections that take the event) give it a
//! step that was added after the event arrived, replay plans it as a new step. Matching is by step name, since a step id is `event_id:name`: a step
//! the event already has, in whatever status, is never planned a second time.

use crate::connections::plan::PlannedStep;
use crate::routes::StepKind;

/// A step as replay compares it with the stored ones: by its stored name.
pub trait NamedStep: Clone + PartialEq {
    fn step_name(&self) -> String;
}

impl NamedStep for StepKind {
    fn step_name(&self) -> String {
        self.name().to_string()
    }
}

impl NamedStep for PlannedStep {
    fn step_name(&self) -> String {
        self.name()
    }
}

/// The steps of `planned` (what the event would plan now, in plan order) whose names are not
/// among `existing` (the names of the event's stored steps), each at most once.
pub fn steps_to_add<S: NamedStep>(planned: &[S], existing: &[&str]) -> Vec<S> {
    let mut added: Vec<S> = Vec::new();
    for step in planned {
        if !existing.contains(&step.step_name().as_str()) && !added.contains(step) {
            added.push(step.clone());
        }
    }
    added
}

#[cfg(test)]
mod tests {
    use super::*;
    use StepKind::*;

    #[test]
    fn only_steps_the_event_lacks_are_added_in_route_order() {
        let route = [HubSpotUpsertContact, HubSpotCreateDeal, SlackNotify];
        assert_eq!(
            steps_to_add(&route, &["hubspot.upsert_contact"]),
            vec![HubSpotCreateDeal, SlackNotify]
        );
        assert_eq!(
            steps_to_add(&route, &["slack.notify", "hubspot.upsert_contact"]),
            vec![HubSpotCreateDeal]
        );
        assert_eq!(steps_to_add(&route, &[]), route.to_vec());
    }

    #[test]
    fn nothing_is_added_twice_or_when_all_exist() {
        let route = [SendGridSend, HubSpotUpsertContact];
        assert!(steps_to_add(&route, &["hubspot.upsert_contact", "sendgrid.send"]).is_empty());
        // A step removed from the route since is simply not planned; unknown names are ignored.
        assert!(steps_to_add::<StepKind>(&[], &["hubspot.upsert_contact", "gone.step"]).is_empty());
        assert_eq!(
            steps_to_add(&[SlackNotify, SlackNotify], &[]),
            vec![SlackNotify]
        );
    }

    #[test]
    fn connection_steps_are_added_by_their_stored_name() {
        let planned = [
            PlannedStep::Builtin(HubSpotUpsertContact),
            PlannedStep::Http("orders-svc".into()),
        ];
        assert_eq!(
            steps_to_add(&planned, &["hubspot.upsert_contact"]),
            vec![PlannedStep::Http("orders-svc".into())]
        );
        assert!(steps_to_add(&planned, &["hubspot.upsert_contact", "http:orders-svc"]).is_empty());
    }
}
