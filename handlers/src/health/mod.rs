//! What the configuration checks and the storage check say. Anyone may ask `/health`, which
//! answers only the overall state ([`Config::public_health`]: `ok`; `misconfigured` when any
//! configuration check fails; else `degraded` when storage is at 80% of its limit or more, see
//! [`storage`]), nothing an outsider could use: no source, shop or destination names, no setting
//! names, no figures. The detail is the admin API's (`GET /admin/api/health`,
//! [`Config::health_detail`]): the storage check with its figures, and each provider, source,
//! destination, the admin API's bearer sign-in (`admin`: `ADMIN_TOKEN`, which also gates the
//! named tokens), Cloudflare Access sign-in (`access`, its own switch) and the backfills as
//! `enabled`, `disabled` (no secret or token) or `misconfigured`, and for each misconfiguration
//! what it affects and the setting's name.
//! Never a value. The checks are each feature's own reader (this is the one place that asks
//! them all), so a new feature adds its line here and nowhere else.

pub mod secrets;
pub mod storage;

use serde_json::{json, Map, Value};

use crate::inbound::sources;
use crate::inbound::webhook::Provider;
use crate::settings::table::SECRETS_KEY;
use crate::settings::Config;
use crate::step_kind::Destination;
use storage::{needs_size, overall_status, StorageCheck};

/// The API destinations `/health` reports (`local` work needs no configuration).
const API_DESTINATIONS: [Destination; 4] = [
    Destination::HubSpot,
    Destination::SendGrid,
    Destination::Stripe,
    Destination::Slack,
];

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// The public `/health` body: the overall state alone. `bytes_used`: the database's size
    /// as the shell read it (`None`: unread or unreported).
    pub fn public_health(&self, bytes_used: Option<u64>) -> Value {
        json!({ "status": self.health_detail(bytes_used)["status"] })
    }

    /// Whether the health answers need the database's size (the storage check is on).
    pub fn health_needs_size(&self) -> bool {
        needs_size(&self.storage_limit_bytes())
    }

    /// The admin API's health detail: the configuration checks ([`Config::health`]) with the
    /// storage check (from `bytes_used`) and the overall status both make.
    pub fn health_detail(&self, bytes_used: Option<u64>) -> Value {
        let mut health = self.health();
        let check = StorageCheck::new(self.storage_limit_bytes(), bytes_used);
        let status = overall_status(health["status"] == "ok", &check);
        if let Value::Object(fields) = &mut health {
            fields.insert("status".into(), status.into());
            fields.insert("storage".into(), check.to_json());
        }
        health
    }

    /// The configuration checks every request runs, by name; `status` is `ok` or
    /// `misconfigured`.
    pub fn health(&self) -> Value {
        let mut problems = Vec::new();
        let providers = self.provider_states(&mut problems);
        let sources = self.source_states(&mut problems);
        let destinations = self.destination_states(&mut problems);
        for (affects, checked) in [
            ("retention", self.retention_days().err()),
            ("alerts", self.alerts().err()),
            ("metrics", self.metrics_retention_days().err()),
            ("audit", self.audit_retention_days().err()),
            ("search", self.search_scan_rows().err()),
        ] {
            if let Some(e) = checked {
                problems.push(json!({ "affects": affects, "setting": e.setting }));
            }
        }
        let backfill = match self.backfill() {
            Ok(None) => "disabled",
            Ok(Some(_)) => "enabled",
            Err(e) => {
                problems.push(json!({ "affects": "backfill", "setting": e.setting }));
                "misconfigured"
            }
        };
        let log_level = match self.log_level_checked() {
            Ok(level) => level.as_str(),
            Err(e) => {
                problems.push(json!({ "affects": "logs", "setting": e.setting }));
                self.log_level().as_str()
            }
        };
        let shopify_backfill = match self.shopify_backfill() {
            Ok(None) => json!("disabled"),
            Ok(Some(settings)) => {
                let shops: Map<String, Value> = settings
                    .shops
                    .iter()
                    .map(|s| (s.state_key(), json!("enabled")))
                    .collect();
                Value::Object(shops)
            }
            Err(e) => {
                problems.push(json!({ "affects": "shopify_backfill", "setting": e.setting }));
                json!("misconfigured")
            }
        };
        // Bearer sign-in: with ADMIN_TOKEN unset no bearer token is taken, named ones included.
        let admin = match self.admin_tokens() {
            Ok(tokens) if tokens.is_empty() => "disabled",
            Ok(_) => "enabled",
            Err(e) => {
                problems.push(json!({ "affects": "admin", "setting": e.setting }));
                "misconfigured"
            }
        };
        let access = match self.access() {
            Ok(None) => "disabled",
            Ok(Some(_)) => "enabled",
            Err(e) => {
                problems.push(json!({ "affects": "access", "setting": e.setting }));
                "misconfigured"
            }
        };
        // Registry sources (`/webhooks/in/{name}`) need SECRETS_KEY to be created or read.
        let registry = match self.secrets_key() {
            Ok(Some(_)) => json!({ "state": "enabled", "setting": SECRETS_KEY }),
            Ok(None) => json!({ "state": "disabled", "setting": SECRETS_KEY }),
            Err(e) => {
                problems.push(json!({ "affects": "registry", "setting": e.setting }));
                json!({ "state": "misconfigured", "setting": SECRETS_KEY })
            }
        };
        let alert_channels = json!({
            "slack": if self.alert_slack_url().is_some() { "enabled" } else { "disabled" },
            // Whether the named destination exists, is paused or is `http` is D1's to say: the
            // admin alert list shows its state (`alert_channels.http.state`).
            "http": self.alert_destination().map_or(json!("disabled"), |name| json!({ "destination": name })),
        });
        let status = if problems.is_empty() {
            "ok"
        } else {
            "misconfigured"
        };
        json!({
            "status": status,
            "admin": admin,
            "access": access,
            "backfill": backfill,
            "log_level": log_level,
            "shopify_backfill": shopify_backfill,
            "alert_channels": alert_channels,
            "providers": providers,
            "sources": sources,
            "registry": registry,
            "destinations": destinations,
            "misconfigured": problems,
        })
    }

    /// Each provider's default path as `enabled`, `disabled` (no key) or `misconfigured`.
    fn provider_states(&self, problems: &mut Vec<Value>) -> Map<String, Value> {
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
        providers
    }

    /// Each built-in destination as `disabled` (no credentials), `enabled`, or `misconfigured`
    /// when the consumer's settings are (the problem is the consumer's, `steps`).
    fn destination_states(&self, problems: &mut Vec<Value>) -> Map<String, Value> {
        let consumer = self.consumer();
        if let Err(e) = &consumer {
            problems.push(json!({ "affects": "steps", "setting": e.setting }));
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
        destinations
    }

    /// Each declared source (`provider:source`) as `enabled`, `disabled` (its key setting is
    /// unset) or `misconfigured` (the problem names its key setting, or `WEBHOOK_SOURCES`).
    fn source_states(&self, problems: &mut Vec<Value>) -> Map<String, Value> {
        let mut states = Map::new();
        let declared = match self.sources() {
            Ok(declared) => declared,
            Err(e) => {
                problems.push(json!({ "affects": "sources", "setting": e.setting }));
                return states;
            }
        };
        for source in declared {
            let label = format!("{}:{}", source.provider.slug(), source.name);
            let state = match self.source(source.provider, Some(&source.name)) {
                Ok(Some(config)) if config.keys.is_empty() => "disabled",
                Ok(_) => "enabled",
                Err(e) => {
                    let setting = match e.setting == sources::base_key_setting(source.provider) {
                        true => source.key_setting.clone(),
                        false => e.setting.to_string(),
                    };
                    problems.push(json!({ "affects": label, "setting": setting }));
                    "misconfigured"
                }
            };
            states.insert(label, state.into());
        }
        states
    }
}

#[cfg(test)]
mod tests;
