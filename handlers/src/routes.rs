//! The routing table: which follow-on steps an accepted event plans, by provider and event type.
//! Routes are data so that operators can read them in one place. Every step has a stable name
//! (stored in `steps.name`) and a destination (the downstream API it calls, used for circuit
//! breaking, budgets and grouping dead letters).

use crate::webhook::Provider;

/// A follow-on step edgehooks knows how to execute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StepKind {
    HubSpotUpsertContact,
}

impl StepKind {
    pub const ALL: [StepKind; 1] = [StepKind::HubSpotUpsertContact];

    pub fn name(self) -> &'static str {
        match self {
            StepKind::HubSpotUpsertContact => "hubspot.upsert_contact",
        }
    }

    pub fn from_name(name: &str) -> Option<StepKind> {
        StepKind::ALL.into_iter().find(|k| k.name() == name)
    }

    pub fn destination(self) -> Destination {
        match self {
            StepKind::HubSpotUpsertContact => Destination::HubSpot,
        }
    }
}

/// A downstream API that steps call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Destination {
    HubSpot,
}

impl Destination {
    pub fn name(self) -> &'static str {
        match self {
            Destination::HubSpot => "hubspot",
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub provider: Provider,
    pub event_type: &'static str,
    pub steps: &'static [StepKind],
}

/// The default routes of DESIGN.md §5.
pub const DEFAULT_ROUTES: &[Route] = &[Route {
    provider: Provider::Stripe,
    event_type: "checkout.session.completed",
    steps: &[StepKind::HubSpotUpsertContact],
}];

/// Steps planned for an event; empty when no route matches (the event is stored and done).
pub fn steps_for(routes: &[Route], provider: Provider, event_type: &str) -> Vec<StepKind> {
    routes
        .iter()
        .filter(|r| r.provider == provider && r.event_type == event_type)
        .flat_map(|r| r.steps.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_names_round_trip() {
        for kind in StepKind::ALL {
            assert_eq!(StepKind::from_name(kind.name()), Some(kind));
        }
        assert_eq!(StepKind::from_name("nope"), None);
    }

    #[test]
    fn checkout_plans_contact_upsert() {
        let steps = steps_for(
            DEFAULT_ROUTES,
            Provider::Stripe,
            "checkout.session.completed",
        );
        assert_eq!(steps, vec![StepKind::HubSpotUpsertContact]);
        assert!(steps_for(DEFAULT_ROUTES, Provider::Stripe, "charge.refunded").is_empty());
    }
}
