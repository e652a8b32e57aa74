//! What replaying one stored event does, decided in one place for the single replay
//! (`POST /admin/api/events/{id}/replay`), the bulk replay's real pages and its dry run, so they
//! cannot disagree. A replay runs again each stored step that is neither finished nor in flight
//! ([`ReplayAction`]) and adds the steps it would plan now but lacks: under
//! [`ReplayScope::Event`], everything in force (default routes with `ROUTES_JSON`, minus routes
//! turned off, plus the connections that take the event); under [`ReplayScope::Connection`],
//! only that connection's step. Matching is by step name, since a step id is `event_id:name`: a
//! step the event already has, in whatever status, is never planned a second time.

use serde::Deserialize;
use serde_json::Value;

use crate::connections::plan::{EventFacts, PlannedStep, Routing, HTTP_STEP_PREFIX};
use crate::connections::{Connection, Target};
use crate::step_kind::StepKind;
use crate::steps::lifecycle::ReplayAction;
use crate::steps::routes::RouteTable;

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

/// Which of an event's steps a replay considers.
#[derive(Debug, Clone, Copy)]
pub enum ReplayScope<'a> {
    /// The whole event: every stored step, and every step the event would plan now with
    /// `routing` and `routes` (the route table in force for the event's provider).
    Event {
        routing: &'a Routing,
        routes: &'a RouteTable,
    },
    /// One connection's step only (`http:<destination>` or its built-in step kind): the stored
    /// step of that name, or the step added when the connection takes the event now.
    Connection(&'a Connection),
}

/// One of an event's stored steps.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StoredStep {
    pub name: String,
    pub status: String,
}

/// A stored event as replay plans it. `facts` is `None` for an event whose provider is no
/// longer known (nothing is planned for it); `accepted` is false for a rejected delivery.
#[derive(Debug, Clone, Copy)]
pub struct StoredEvent<'a> {
    pub facts: Option<EventFacts<'a>>,
    pub accepted: bool,
    pub payload_available: bool,
    pub steps: &'a [StoredStep],
}

/// What replaying one event does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventReplayPlan {
    /// The stored steps in scope, in stored order, with what replay does with each.
    pub stored: Vec<(String, ReplayAction)>,
    /// The steps to plan now (stored `pending`, then sent).
    pub add: Vec<PlannedStep>,
    /// The payload is gone while something would run: a real replay refuses the event
    /// (`payload_unavailable`) and changes nothing.
    pub blocked: bool,
}

impl EventReplayPlan {
    /// Names of the stored steps sent again.
    pub fn to_run(&self) -> impl Iterator<Item = &str> {
        self.stored
            .iter()
            .filter(|(_, action)| *action == ReplayAction::Run)
            .map(|(name, _)| name.as_str())
    }

    pub fn nothing_to_do(&self) -> bool {
        self.to_run().next().is_none() && self.add.is_empty()
    }
}

/// The stored step name a connection's deliveries have, whatever the event.
fn connection_step_name(connection: &Connection) -> String {
    match &connection.target {
        Target::Http(name) => format!("{HTTP_STEP_PREFIX}{name}"),
        Target::Step(kind) => kind.name().to_string(),
    }
}

/// Plan replaying `event` within `scope`: the one decision every replay path uses.
pub fn plan_event_replay(scope: &ReplayScope<'_>, event: &StoredEvent<'_>) -> EventReplayPlan {
    let in_scope = |name: &str| match scope {
        ReplayScope::Event { .. } => true,
        ReplayScope::Connection(connection) => connection_step_name(connection) == name,
    };
    let stored: Vec<(String, ReplayAction)> = event
        .steps
        .iter()
        .filter(|s| in_scope(&s.name))
        .map(|s| (s.name.clone(), ReplayAction::for_status(&s.status)))
        .collect();
    let planned_now = match event.facts.filter(|_| event.accepted) {
        None => Vec::new(),
        Some(facts) => match scope {
            ReplayScope::Event { routing, routes } => routing.plan(routes, &facts),
            ReplayScope::Connection(connection) => {
                let payload = if connection.filter.reads_payload() {
                    serde_json::from_str(facts.payload).unwrap_or(Value::Null)
                } else {
                    Value::Null
                };
                match connection.takes(&facts, &payload) {
                    true => connection.step_for(&facts).into_iter().collect(),
                    false => Vec::new(),
                }
            }
        },
    };
    let existing: Vec<&str> = event.steps.iter().map(|s| s.name.as_str()).collect();
    let mut plan = EventReplayPlan {
        stored,
        add: steps_to_add(&planned_now, &existing),
        blocked: false,
    };
    plan.blocked = !event.payload_available && !plan.nothing_to_do();
    plan
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

    fn connection(body: serde_json::Value) -> Connection {
        Connection::from_json(&body).unwrap()
    }

    fn stored(steps: &[(&str, &str)]) -> Vec<StoredStep> {
        steps
            .iter()
            .map(|(name, status)| StoredStep {
                name: name.to_string(),
                status: status.to_string(),
            })
            .collect()
    }

    fn facts(payload: &str) -> EventFacts<'_> {
        EventFacts {
            provider: crate::inbound::webhook::Provider::Stripe,
            source: Some("eu"),
            account: None,
            event_type: "checkout.session.completed",
            payload,
        }
    }

    /// An accepted live-mode event with its payload and `steps`.
    fn live_event(steps: &[StoredStep]) -> StoredEvent<'_> {
        StoredEvent {
            facts: Some(facts(r#"{"livemode":true}"#)),
            accepted: true,
            payload_available: true,
            steps,
        }
    }

    #[test]
    fn the_event_scope_reruns_what_is_unfinished_and_adds_defaults_and_connections() {
        let routing = Routing {
            connections: vec![connection(serde_json::json!({
                "source": "stripe:eu", "destination": "orders-svc",
                "conditions": [{"path": "/livemode", "equals": true}]
            }))],
            routes_off: vec![],
        };
        let routes = RouteTable::defaults();
        let scope = ReplayScope::Event {
            routing: &routing,
            routes: &routes,
        };
        let steps = stored(&[("hubspot.upsert_contact", "dead")]);
        let event = live_event(&steps);
        let plan = plan_event_replay(&scope, &event);
        assert_eq!(
            plan.to_run().collect::<Vec<_>>(),
            ["hubspot.upsert_contact"]
        );
        let added: Vec<String> = plan.add.iter().map(PlannedStep::name).collect();
        assert_eq!(added, ["sendgrid.send", "http:orders-svc"]);
        assert!(!plan.blocked);
        // The condition fails: the connection's step is not planned.
        let test_mode = StoredEvent {
            facts: Some(facts(r#"{"livemode":false}"#)),
            ..event
        };
        let added: Vec<String> = plan_event_replay(&scope, &test_mode)
            .add
            .iter()
            .map(PlannedStep::name)
            .collect();
        assert_eq!(added, ["sendgrid.send"]);
        // Payload gone with something to do: blocked; a rejected delivery plans nothing.
        let gone = StoredEvent {
            payload_available: false,
            ..event
        };
        assert!(plan_event_replay(&scope, &gone).blocked);
        let rejected = StoredEvent {
            accepted: false,
            steps: &[],
            ..event
        };
        assert_eq!(
            plan_event_replay(&scope, &rejected),
            EventReplayPlan::default()
        );
    }

    #[test]
    fn the_connection_scope_considers_only_that_connections_step() {
        let orders = connection(serde_json::json!({
            "name": "orders", "source": "stripe", "destination": "orders-svc",
            "conditions": [{"path": "/livemode", "equals": true}]
        }));
        let scope = ReplayScope::Connection(&orders);
        let steps = stored(&[
            ("hubspot.upsert_contact", "dead"),
            ("http:orders-svc", "dead"),
            ("sendgrid.send", "succeeded"),
        ]);
        let event = live_event(&steps);
        let plan = plan_event_replay(&scope, &event);
        assert_eq!(
            plan.stored,
            [("http:orders-svc".to_string(), ReplayAction::Run)]
        );
        assert!(plan.add.is_empty());
        let fresh = StoredEvent {
            steps: &steps[..1],
            ..event
        };
        let plan = plan_event_replay(&scope, &fresh);
        assert!(
            plan.stored.is_empty(),
            "the default route's dead step is left"
        );
        assert_eq!(plan.add, [PlannedStep::Http("orders-svc".into())]);
        let not_taken = StoredEvent {
            facts: Some(facts(r#"{"livemode":false}"#)),
            ..fresh
        };
        assert!(plan_event_replay(&scope, &not_taken).nothing_to_do());
        // A built-in kind that cannot handle the event's type adds nothing.
        let privacy = connection(serde_json::json!({
            "source": "stripe", "destination": "privacy.export"
        }));
        let plan = plan_event_replay(&ReplayScope::Connection(&privacy), &fresh);
        assert!(plan.nothing_to_do());
    }
}
