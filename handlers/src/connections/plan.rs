//! Planning an event's steps from everything in force: the default routes (with `ROUTES_JSON`
//! applied), minus the default routes an operator turned off, plus one step per enabled
//! connection that takes the event. A connection to an `http` destination plans the step
//! `http:<destination>` (its destination column is the destination's name, so budgets, circuits
//! and dead-letter groups are per destination); a connection to a built-in step kind plans that
//! step when the kind can handle the event. A step name is planned at most once per event.

use serde_json::Value;

use crate::connections::{Connection, Target};
use crate::downstream;
use crate::inbound::webhook::Provider;
use crate::step_kind::StepKind;
use crate::steps::routes::RouteTable;

/// The prefix of an `http` destination's step name: `http:orders-svc`.
pub const HTTP_STEP_PREFIX: &str = "http:";

/// One step an event plans: a built-in kind, or a delivery to an `http` destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlannedStep {
    Builtin(StepKind),
    Http(String),
}

impl PlannedStep {
    /// The stored `steps.name`.
    pub fn name(&self) -> String {
        match self {
            PlannedStep::Builtin(kind) => kind.name().to_string(),
            PlannedStep::Http(destination) => format!("{HTTP_STEP_PREFIX}{destination}"),
        }
    }

    /// The stored `steps.destination`: the built-in API (or `local`), or the destination's name.
    pub fn destination(&self) -> &str {
        match self {
            PlannedStep::Builtin(kind) => kind.destination().name(),
            PlannedStep::Http(destination) => destination,
        }
    }

    /// A stored step name read back.
    pub fn from_name(name: &str) -> Option<PlannedStep> {
        match name.strip_prefix(HTTP_STEP_PREFIX) {
            Some(destination) if super::valid_name(destination) => {
                Some(PlannedStep::Http(destination.to_string()))
            }
            Some(_) => None,
            None => StepKind::from_name(name).map(PlannedStep::Builtin),
        }
    }
}

impl Connection {
    /// The step this connection plans for an event it takes: `http:<destination>`, or its
    /// built-in step kind when that kind can handle the event's provider and type.
    pub fn step_for(&self, event: &EventFacts<'_>) -> Option<PlannedStep> {
        match &self.target {
            Target::Http(name) => Some(PlannedStep::Http(name.clone())),
            Target::Step(kind) if downstream::supports(*kind, event.provider, event.event_type) => {
                Some(PlannedStep::Builtin(*kind))
            }
            Target::Step(_) => None,
        }
    }
}

/// A default route an operator turned off: this step no longer runs for this provider and type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteOff {
    pub provider: Provider,
    pub event_type: String,
    pub step: StepKind,
}

/// What an event needs to be matched against connections.
#[derive(Debug, Clone, Copy)]
pub struct EventFacts<'a> {
    pub provider: Provider,
    /// The named source it arrived on; `None`: `/webhooks/{provider}`.
    pub source: Option<&'a str>,
    pub account: Option<&'a str>,
    pub event_type: &'a str,
    /// The stored payload bytes (parsed only when a connection has conditions).
    pub payload: &'a str,
}

/// Everything operators changed at runtime: connections and the default routes turned off.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Routing {
    pub connections: Vec<Connection>,
    pub routes_off: Vec<RouteOff>,
}

/// Why a step is planned, for the admin preview.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    DefaultRoute,
    Connection(String),
}

impl Routing {
    /// Whether the operator turned this default route off.
    pub fn is_off(&self, provider: Provider, event_type: &str, step: StepKind) -> bool {
        self.routes_off
            .iter()
            .any(|r| r.provider == provider && r.event_type == event_type && r.step == step)
    }

    /// The connections that take the event (enabled, source, filter), in stored order.
    pub fn matching<'a>(&'a self, event: &EventFacts<'_>) -> Vec<&'a Connection> {
        let wanted: Vec<&Connection> = self
            .connections
            .iter()
            .filter(|c| c.enabled && c.source.provider == event.provider)
            .collect();
        if wanted.is_empty() {
            return wanted;
        }
        let needs_payload = wanted.iter().any(|c| !c.filter.conditions.is_empty());
        let payload = if needs_payload {
            serde_json::from_str(event.payload).unwrap_or(Value::Null)
        } else {
            Value::Null
        };
        wanted
            .into_iter()
            .filter(|c| c.takes(event, &payload))
            .collect()
    }

    /// The event's steps with why each is planned: default routes in force first (in table
    /// order), then matching connections; a step name already planned is not planned again.
    pub fn plan_with_origins(
        &self,
        routes: &RouteTable,
        event: &EventFacts<'_>,
    ) -> Vec<(PlannedStep, Origin)> {
        let mut planned: Vec<(PlannedStep, Origin)> = routes
            .steps_for(event.provider, event.event_type)
            .into_iter()
            .filter(|kind| !self.is_off(event.provider, event.event_type, *kind))
            .map(|kind| (PlannedStep::Builtin(kind), Origin::DefaultRoute))
            .collect();
        for connection in self.matching(event) {
            let Some(step) = connection.step_for(event) else {
                continue;
            };
            if !planned.iter().any(|(p, _)| *p == step) {
                planned.push((step, Origin::Connection(connection.name.clone())));
            }
        }
        planned
    }

    /// The connection called `name`, enabled or not.
    pub fn connection(&self, name: &str) -> Option<&Connection> {
        self.connections.iter().find(|c| c.name == name)
    }

    /// True when some enabled connection has payload conditions, so planning an event needs
    /// its payload.
    pub fn reads_payload(&self) -> bool {
        self.connections
            .iter()
            .any(|c| c.enabled && c.filter.reads_payload())
    }

    /// The event's steps (see [`Routing::plan_with_origins`]).
    pub fn plan(&self, routes: &RouteTable, event: &EventFacts<'_>) -> Vec<PlannedStep> {
        self.plan_with_origins(routes, event)
            .into_iter()
            .map(|(step, _)| step)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn connection(body: Value) -> Connection {
        Connection::from_json(&body).unwrap()
    }

    fn stripe(event_type: &'static str, payload: &'static str) -> EventFacts<'static> {
        EventFacts {
            provider: Provider::Stripe,
            source: None,
            account: None,
            event_type,
            payload,
        }
    }

    #[test]
    fn defaults_alone_plan_the_default_route() {
        let routes = RouteTable::defaults();
        let plan = Routing::default().plan(&routes, &stripe("checkout.session.completed", "{}"));
        assert_eq!(
            plan,
            vec![
                PlannedStep::Builtin(StepKind::HubSpotUpsertContact),
                PlannedStep::Builtin(StepKind::SendGridSend)
            ]
        );
    }

    #[test]
    fn a_connection_adds_an_http_step_next_to_the_defaults() {
        let routing = Routing {
            connections: vec![connection(json!({
                "source": "stripe", "types": ["checkout.*"], "destination": "orders-svc"
            }))],
            routes_off: vec![],
        };
        let plan = routing.plan(
            &RouteTable::defaults(),
            &stripe("checkout.session.completed", "{}"),
        );
        assert_eq!(plan.len(), 3);
        assert_eq!(plan[2], PlannedStep::Http("orders-svc".into()));
        assert_eq!(plan[2].name(), "http:orders-svc");
        assert_eq!(plan[2].destination(), "orders-svc");
        assert!(routing
            .plan(&RouteTable::defaults(), &stripe("invoice.paid", "{}"))
            .is_empty());
    }

    #[test]
    fn a_route_turned_off_is_not_planned() {
        let routing = Routing {
            connections: vec![],
            routes_off: vec![RouteOff {
                provider: Provider::Stripe,
                event_type: "checkout.session.completed".into(),
                step: StepKind::SendGridSend,
            }],
        };
        let plan = routing.plan(
            &RouteTable::defaults(),
            &stripe("checkout.session.completed", "{}"),
        );
        assert_eq!(
            plan,
            vec![PlannedStep::Builtin(StepKind::HubSpotUpsertContact)]
        );
    }

    #[test]
    fn conditions_read_the_payload_and_disabled_connections_take_nothing() {
        let mut live = connection(json!({
            "source": "stripe", "destination": "orders-svc",
            "conditions": [{"path": "/data/object/livemode", "equals": true}]
        }));
        let routes = RouteTable::defaults();
        let event = |payload| stripe("invoice.paid", payload);
        let routing = Routing {
            connections: vec![live.clone()],
            routes_off: vec![],
        };
        let on = r#"{"data":{"object":{"livemode":true}}}"#;
        let off = r#"{"data":{"object":{"livemode":false}}}"#;
        assert_eq!(routing.plan(&routes, &event(on)).len(), 1);
        assert!(routing.plan(&routes, &event(off)).is_empty());
        assert!(routing.plan(&routes, &event("not json")).is_empty());
        live.enabled = false;
        let routing = Routing {
            connections: vec![live],
            routes_off: vec![],
        };
        assert!(routing.plan(&routes, &event(on)).is_empty());
    }

    #[test]
    fn a_step_is_planned_once_and_unsupported_builtins_are_left_out() {
        let routing = Routing {
            connections: vec![
                connection(json!({"name": "a", "source": "stripe", "destination": "orders-svc"})),
                connection(json!({"name": "b", "source": "stripe", "destination": "orders-svc"})),
                connection(
                    json!({"name": "c", "source": "stripe", "destination": "sendgrid.send"}),
                ),
                connection(
                    json!({"name": "d", "source": "stripe", "destination": "privacy.export"}),
                ),
            ],
            routes_off: vec![],
        };
        let planned = routing.plan_with_origins(
            &RouteTable::defaults(),
            &stripe("checkout.session.completed", "{}"),
        );
        let names: Vec<String> = planned.iter().map(|(s, _)| s.name()).collect();
        assert_eq!(
            names,
            ["hubspot.upsert_contact", "sendgrid.send", "http:orders-svc"]
        );
        assert_eq!(planned[2].1, Origin::Connection("a".into()));
    }

    #[test]
    fn step_names_round_trip() {
        for step in [
            PlannedStep::Http("orders-svc".into()),
            PlannedStep::Builtin(StepKind::SlackNotify),
        ] {
            assert_eq!(PlannedStep::from_name(&step.name()), Some(step));
        }
        assert_eq!(PlannedStep::from_name("http:Bad Name"), None);
        assert_eq!(PlannedStep::from_name("nope"), None);
    }
}
