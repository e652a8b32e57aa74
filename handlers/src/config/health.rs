//! What `/health` says about the configuration: each provider and destination, and the Stripe
//! backfill, as `enabled`,
//! `disabled` (no secret or token) or `misconfigured`, and for each misconfiguration what it
//! affects and the setting's name. Never a value.

use serde_json::{json, Map, Value};

use super::Config;
use crate::routes::Destination;
use crate::webhook::Provider;

/// The API destinations `/health` reports (`local` work needs no configuration).
const API_DESTINATIONS: [Destination; 4] = [
    Destination::HubSpot,
    Destination::SendGrid,
    Destination::Stripe,
    Destination::Slack,
];

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// The `/health` body: the same checks every request runs, by name.
    pub fn health(&self) -> Value {
        let mut problems = Vec::new();
        let mut providers = Map::new();
        for provider in Provider::ALL {
            let state = match self.provider(provider) {
                Ok(config) if config.keys.is_empty() => "disabled",
                Ok(_) => "enabled",
                Err(e) => {
                    problems.push(json!({ "affects": provider.slug(), "setting": e.setting }));
                    "misconfigured"
                }
            };
            providers.insert(provider.slug().into(), state.into());
        }
        let consumer = self.consumer();
        if let Err(e) = &consumer {
            problems.push(json!({ "affects": "steps", "setting": e.setting }));
        }
        if let Err(e) = self.retention_days() {
            problems.push(json!({ "affects": "retention", "setting": e.setting }));
        }
        if let Err(e) = self.alerts() {
            problems.push(json!({ "affects": "alerts", "setting": e.setting }));
        }
        if let Err(e) = self.metrics_retention_days() {
            problems.push(json!({ "affects": "metrics", "setting": e.setting }));
        }
        let downstream = self.downstream();
        let mut destinations = Map::new();
        for destination in API_DESTINATIONS {
            let state = match (&consumer, downstream.is_enabled(destination)) {
                (_, false) => "disabled",
                (Err(_), true) => "misconfigured",
                (Ok(_), true) => "enabled",
            };
            destinations.insert(destination.name().into(), state.into());
        }
        let backfill = match self.backfill() {
            Ok(None) => "disabled",
            Ok(Some(_)) => "enabled",
            Err(e) => {
                problems.push(json!({ "affects": "backfill", "setting": e.setting }));
                "misconfigured"
            }
        };
        json!({
            "status": "ok",
            "backfill": backfill,
            "providers": providers,
            "destinations": destinations,
            "misconfigured": problems,
        })
    }
}
