//! The routing table: which follow-on steps an accepted event plans, by provider and event type.
//! Routes are data: [`DEFAULT_ROUTES`] is docs/contract.md's *Default routes* as one table, and [`RouteTable`] lets
//! operators replace any (provider, event type) row through the `ROUTES_JSON` setting without
//! recompiling, validated at startup. Every step has a stable name (stored in `steps.name`) and a
//! destination (the downstream API it calls, or `local` for work the shell does against D1), used
//! for circuit breaking, budgets and grouping dead letters.

use serde_json::{Map, Value};

use crate::downstream;
use crate::inbound::webhook::Provider;
use crate::settings::table::ROUTES_JSON;
use crate::settings::{Config, ConfigError};
use crate::step_kind::StepKind;

/// The setting that overrides routes.
pub const ROUTES_SETTING: &str = ROUTES_JSON;

/// One row of the default table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub provider: Provider,
    pub event_type: &'static str,
    pub steps: &'static [StepKind],
}

const fn route(provider: Provider, event_type: &'static str, steps: &'static [StepKind]) -> Route {
    Route {
        provider,
        event_type,
        steps,
    }
}

use Provider::{HubSpot, SendGrid, Shopify, Stripe};
use StepKind::*;

/// Steps of SendGrid events that make an address undeliverable.
const SUPPRESS: &[StepKind] = &[SuppressionRecord, HubSpotUpsertContact];
const SUBSCRIPTION: &[StepKind] = &[HubSpotUpsertContact];

/// The default routes (docs/contract.md, *Default routes*). An event type not listed plans no steps (it is stored
/// and done).
pub const DEFAULT_ROUTES: &[Route] = &[
    // Stripe
    route(
        Stripe,
        "checkout.session.completed",
        &[HubSpotUpsertContact, SendGridSend],
    ),
    route(Stripe, "customer.subscription.created", SUBSCRIPTION),
    route(Stripe, "customer.subscription.updated", SUBSCRIPTION),
    route(
        Stripe,
        "customer.subscription.deleted",
        &[HubSpotUpsertContact, SendGridSend],
    ),
    route(
        Stripe,
        "invoice.payment_failed",
        &[SendGridSend, HubSpotUpsertContact, SlackNotify],
    ),
    route(Stripe, "invoice.payment_succeeded", &[HubSpotUpsertContact]),
    // Shopify
    route(
        Shopify,
        "orders/create",
        &[HubSpotUpsertContact, HubSpotCreateDeal, SlackNotify],
    ),
    route(Shopify, "customers/create", &[HubSpotUpsertContact]),
    route(Shopify, "customers/update", &[HubSpotUpsertContact]),
    route(Shopify, "app/uninstalled", &[ShopMarkInactive]),
    route(Shopify, "customers/redact", &[PrivacyRedact]),
    route(Shopify, "shop/redact", &[PrivacyRedact]),
    route(Shopify, "customers/data_request", &[PrivacyExport]),
    // HubSpot
    route(HubSpot, "contact.propertyChange", &[StripeUpdateCustomer]),
    route(HubSpot, "contact.deletion", &[MappingMarkDeleted]),
    // HubSpot also sends `contact.deletion` for such a contact.
    route(HubSpot, "contact.privacyDeletion", &[PrivacyRedact]),
    // SendGrid
    route(SendGrid, "bounce", SUPPRESS),
    route(SendGrid, "dropped", SUPPRESS),
    route(SendGrid, "spamreport", SUPPRESS),
    route(SendGrid, "unsubscribe", SUPPRESS),
    route(SendGrid, "group_unsubscribe", SUPPRESS),
    route(SendGrid, "delivered", &[EngagementCount]),
    route(SendGrid, "open", &[EngagementCount]),
    route(SendGrid, "click", &[EngagementCount]),
];

/// Steps planned for an event by a static table; empty when no route matches.
pub fn steps_for(routes: &[Route], provider: Provider, event_type: &str) -> Vec<StepKind> {
    routes
        .iter()
        .filter(|r| r.provider == provider && r.event_type == event_type)
        .flat_map(|r| r.steps.iter().copied())
        .collect()
}

/// The routes in force: the defaults with any operator overrides applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    rows: Vec<(Provider, String, Vec<StepKind>)>,
}

impl Default for RouteTable {
    fn default() -> Self {
        RouteTable::defaults()
    }
}

impl RouteTable {
    /// The table of [`DEFAULT_ROUTES`].
    pub fn defaults() -> RouteTable {
        RouteTable {
            rows: DEFAULT_ROUTES
                .iter()
                .map(|r| (r.provider, r.event_type.to_string(), r.steps.to_vec()))
                .collect(),
        }
    }

    /// The defaults with `ROUTES_JSON` applied. The text is an object of provider slug → object
    /// of event type → array of step names, e.g.
    /// `{"stripe": {"invoice.paid": ["slack.notify"], "charge.refunded": []}}`. Each listed
    /// (provider, event type) replaces the default for that pair; an empty list disables it.
    /// Blank text means no overrides. Rejected, naming the culprit: invalid JSON or another
    /// shape, an unknown provider or step, a blank event type, a step listed twice (one step row
    /// per event and name), and a step that cannot handle that event type.
    pub fn with_overrides_json(text: &str) -> Result<RouteTable, ConfigError> {
        let mut table = RouteTable::defaults();
        if text.trim().is_empty() {
            return Ok(table);
        }
        let value: Value =
            serde_json::from_str(text).map_err(|e| invalid(format!("not valid JSON ({e})")))?;
        let providers = value.as_object().ok_or_else(|| {
            invalid("must be a JSON object of provider -> {event type -> [step names]}".into())
        })?;
        for (slug, events) in providers {
            let provider = Provider::from_slug(slug).ok_or_else(|| {
                invalid(format!(
                    "unknown provider `{slug}` (expected one of stripe, sendgrid, hubspot, shopify)"
                ))
            })?;
            let events = events.as_object().ok_or_else(|| {
                invalid(format!(
                    "`{slug}` must map to an object of event type -> [step names]"
                ))
            })?;
            for (event_type, steps) in events {
                let steps = parse_steps(provider, event_type, steps)?;
                table.set(provider, event_type, steps);
            }
        }
        Ok(table)
    }

    fn set(&mut self, provider: Provider, event_type: &str, steps: Vec<StepKind>) {
        match self
            .rows
            .iter_mut()
            .find(|(p, t, _)| *p == provider && t == event_type)
        {
            Some(row) => row.2 = steps,
            None => self.rows.push((provider, event_type.to_string(), steps)),
        }
    }

    /// Steps planned for an event; empty when no route matches or the route is disabled.
    pub fn steps_for(&self, provider: Provider, event_type: &str) -> Vec<StepKind> {
        self.rows
            .iter()
            .find(|(p, t, _)| *p == provider && t == event_type)
            .map(|(_, _, steps)| steps.clone())
            .unwrap_or_default()
    }

    /// Every row, defaults first then added event types, for admin display. Disabled rows are
    /// listed with no steps.
    pub fn rows(&self) -> impl Iterator<Item = (Provider, &str, &[StepKind])> {
        self.rows
            .iter()
            .map(|(p, t, s)| (*p, t.as_str(), s.as_slice()))
    }
}

fn invalid(detail: String) -> ConfigError {
    ConfigError {
        setting: ROUTES_SETTING,
        detail,
    }
}

fn parse_steps(
    provider: Provider,
    event_type: &str,
    steps: &Value,
) -> Result<Vec<StepKind>, ConfigError> {
    let at = format!("`{provider}` `{event_type}`");
    if event_type.trim().is_empty() || event_type.trim() != event_type {
        return Err(invalid(format!(
            "`{provider}` has a blank or space-padded event type"
        )));
    }
    let names = steps
        .as_array()
        .ok_or_else(|| invalid(format!("{at} must map to an array of step names")))?;
    let mut kinds = Vec::with_capacity(names.len());
    for name in names {
        let name = name
            .as_str()
            .ok_or_else(|| invalid(format!("{at}: step names must be strings")))?;
        let kind = StepKind::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = StepKind::ALL.iter().map(|k| k.name()).collect();
            invalid(format!(
                "{at}: unknown step `{name}` (known: {})",
                known.join(", ")
            ))
        })?;
        if kinds.contains(&kind) {
            return Err(invalid(format!("{at}: step `{name}` is listed twice")));
        }
        if !downstream::supports(kind, provider, event_type) {
            return Err(invalid(format!(
                "{at}: step `{name}` cannot handle this event type"
            )));
        }
        kinds.push(kind);
    }
    Ok(kinds)
}

impl<L: Fn(&str) -> Option<String>> Config<L> {
    /// The routes `provider` plans with: defaults plus its own section of `ROUTES_JSON`,
    /// validated on every use so a bad override is a clear 503 `misconfigured`, never a silent
    /// fallback.
    ///
    /// Scope of a broken override: text that is not JSON, not an object, or names an unknown
    /// provider fails every provider (the operator's intent cannot be attributed, and planning
    /// with the wrong routes cannot be undone; the 503 makes providers retry until it is fixed).
    /// A valid document whose `stripe` section is wrong (unknown step, step unfit for the event)
    /// fails only Stripe.
    pub fn provider_routes(&self, provider: Provider) -> Result<RouteTable, ConfigError> {
        let Some(text) = self.raw(ROUTES_JSON).filter(|t| !t.trim().is_empty()) else {
            return Ok(RouteTable::defaults());
        };
        let Ok(Value::Object(sections)) = serde_json::from_str::<Value>(&text) else {
            // Not JSON or not an object: let the core produce its precise message.
            return RouteTable::with_overrides_json(&text);
        };
        if let Some(unknown) = sections.keys().find(|k| Provider::from_slug(k).is_none()) {
            return Err(ConfigError {
                setting: ROUTES_JSON,
                detail: format!(
                    "unknown provider `{unknown}` (expected one of stripe, sendgrid, hubspot, shopify)"
                ),
            });
        }
        match sections.get(provider.slug()) {
            None => Ok(RouteTable::defaults()),
            Some(own) => {
                let mut only = Map::new();
                only.insert(provider.slug().into(), own.clone());
                RouteTable::with_overrides_json(&Value::Object(only).to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_default_row_is_unique_supported_and_without_repeats() {
        for (i, r) in DEFAULT_ROUTES.iter().enumerate() {
            assert!(
                !DEFAULT_ROUTES[..i]
                    .iter()
                    .any(|o| o.provider == r.provider && o.event_type == r.event_type),
                "{} {} listed twice",
                r.provider,
                r.event_type
            );
            for (j, kind) in r.steps.iter().enumerate() {
                assert!(!r.steps[..j].contains(kind), "{}", r.event_type);
                assert!(
                    downstream::supports(*kind, r.provider, r.event_type),
                    "{} cannot handle {} {}",
                    kind.name(),
                    r.provider,
                    r.event_type
                );
            }
        }
    }

    #[test]
    fn table_and_free_function_agree_on_defaults() {
        let table = RouteTable::defaults();
        for r in DEFAULT_ROUTES {
            assert_eq!(
                table.steps_for(r.provider, r.event_type),
                steps_for(DEFAULT_ROUTES, r.provider, r.event_type)
            );
        }
        assert!(table.steps_for(Stripe, "charge.refunded").is_empty());
        assert_eq!(table.rows().count(), DEFAULT_ROUTES.len());
        assert_eq!(RouteTable::default(), table);
    }
}
