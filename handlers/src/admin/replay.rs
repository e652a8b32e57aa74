//! Replay's planning of steps an event lacks: when the routes in force (defaults plus
//! `ROUTES_JSON`) give an event's type a step that was added after the event arrived, replay
//! plans it as a new step. Matching is by step name, since a step id is `event_id:name`: a step
//! the event already has, in whatever status, is never planned a second time.

use crate::routes::StepKind;

/// The steps of `planned` (the current route for the event, in route order) whose names are not
/// among `existing` (the names of the event's stored steps), each at most once.
pub fn steps_to_add(planned: &[StepKind], existing: &[&str]) -> Vec<StepKind> {
    let mut added: Vec<StepKind> = Vec::new();
    for kind in planned {
        if !existing.contains(&kind.name()) && !added.contains(kind) {
            added.push(*kind);
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
        assert!(steps_to_add(&[], &["hubspot.upsert_contact", "gone.step"]).is_empty());
        assert_eq!(
            steps_to_add(&[SlackNotify, SlackNotify], &[]),
            vec![SlackNotify]
        );
    }
}
