//! The shell side of planning a stored event's replay: the routing in force and, per provider,
//! the route table in force (read once per call; a broken `ROUTES_JSON` is `503 misconfigured`),
//! handed to the core's [`plan_event_replay`]. The single replay, the bulk replay's pages and its
//! dry run all plan through [`Planner::plan`], so what a dry run counts is what a replay does.

use edgehooks_handlers::admin::{plan_event_replay, EventReplayPlan, ReplayScope, StoredEvent};
use edgehooks_handlers::connections::plan::Routing;
use edgehooks_handlers::connections::Connection;
use edgehooks_handlers::inbound::webhook::Provider;
use edgehooks_handlers::steps::routes::RouteTable;
use worker::Env;

use crate::config::config;
use crate::error::AppError;

/// Plans replays within one scope: the whole event (no connection), or one connection's step.
pub struct Planner<'a> {
    env: &'a Env,
    routing: &'a Routing,
    connection: Option<&'a Connection>,
    routes: Vec<(Provider, RouteTable)>,
}

impl<'a> Planner<'a> {
    pub fn new(env: &'a Env, routing: &'a Routing, connection: Option<&'a Connection>) -> Self {
        Planner {
            env,
            routing,
            connection,
            routes: Vec::new(),
        }
    }

    fn routes_for(&mut self, provider: Provider) -> Result<&RouteTable, AppError> {
        if !self.routes.iter().any(|(p, _)| *p == provider) {
            let table = config(self.env).provider_routes(provider)?;
            self.routes.push((provider, table));
        }
        self.routes
            .iter()
            .find(|(p, _)| *p == provider)
            .map(|(_, table)| table)
            .ok_or(AppError::Unavailable)
    }

    /// What replaying `event` does.
    pub fn plan(&mut self, event: &StoredEvent<'_>) -> Result<EventReplayPlan, AppError> {
        if let Some(connection) = self.connection {
            return Ok(plan_event_replay(
                &ReplayScope::Connection(connection),
                event,
            ));
        }
        // Routes are read only when they can matter (a broken ROUTES_JSON does not stop a
        // rejected delivery's replay).
        let routing = self.routing;
        let provider = event.facts.filter(|_| event.accepted).map(|f| f.provider);
        let defaults;
        let routes = match provider {
            Some(provider) => self.routes_for(provider)?,
            None => {
                defaults = RouteTable::defaults();
                &defaults
            }
        };
        let scope = ReplayScope::Event { routing, routes };
        Ok(plan_event_replay(&scope, event))
    }
}
