//! Planning of follow-on steps. Given a step, the event it belongs to and the downstream
//! settings, [`plan`] says exactly what to do: an HTTP request to send ([`HttpRequestSpec`], the
//! shell turns it into a `fetch`), a [`LocalAction`] the shell runs against D1, or a deliberate
//! skip ([`SkipReason`]: the event does not call for the step), or, for a Stripe subscription or
//! invoice that names its customer only by id, a lookup of that customer first
//! ([`CustomerLookup`]). [`entity_key`] names the state a step overwrites and [`turn`] decides
//! whether a step of that entity may call now, is stale, or waits for an older call in flight;
//! [`explain_failure`] gives a known downstream refusal its own error code. Pure: no I/O, no
//! clock, no panics on any payload.
//!
//! Files: `event_kind` classifies a (provider, event type) into the `EventKind` the builders
//! understand (once, in [`plan`]) and says which step handles which; `payload` reads optional
//! fields out of payloads (and [`LazyPayload`] parses a stored one at most once, for ingest's
//! readers); `format` shapes values for the APIs (amounts, form encoding, Slack
//! escaping, hashed emails; dates are in [`crate::time`]); `subjects` reads who an event is about; `customers` resolves
//! the Stripe customer behind an id; one file per
//! destination (`hubspot`, `sendgrid`, `stripe`, `slack`) builds its requests; `local` builds the
//! D1 actions; `mapping` owns the HubSpot → Stripe contact mapping and echo detection; `ordering`
//! the entity keys and whose turn it is; `settings` reads destinations from configuration;
//! `hubspot_batch` and `hubspot_sequence` send contact upserts together as batch calls.

pub mod customers;
mod event_kind;
mod format;
pub use format::normalized_email;
pub mod hubspot;
pub mod hubspot_batch;
pub mod hubspot_sequence;
pub mod local;
pub mod mapping;
mod ordering;
mod payload;
pub mod sendgrid;
pub mod settings;
mod settings_lookup;
pub mod slack;
pub mod stripe;
mod subjects;

use std::fmt;

use serde_json::Value;

use crate::inbound::webhook::Provider;
use crate::step_kind::{Destination, StepKind};

pub use customers::{CustomerLookup, KnownCustomer};
pub use event_kind::{supports, EventKind};
pub use local::{EngagementKind, LocalAction, SuppressionReason};
pub use mapping::{contact_change, ContactChange, ContactLink};
pub use ordering::{
    busy_wait_secs, entity_key, planned_entity, turn, CallTiming, EntityStanding, Turn,
    BUSY_RECHECK_SECS,
};
pub use payload::LazyPayload;
pub use settings::{DestinationConfig, DownstreamSettings, SendGridSettings, Template};

/// A fully built downstream request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpRequestSpec {
    pub method: &'static str,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// The event a step was planned for, as stored with it.
#[derive(Debug, Clone, Copy)]
pub struct StepInput<'a> {
    /// Stable across retries and replays; sent as the idempotency key where the API takes one.
    pub step_id: &'a str,
    pub provider: Provider,
    pub event_type: &'a str,
    /// The event's own JSON (for batches, the element).
    pub payload: &'a str,
    /// When the event happened at the provider (`events.occurred_at`), Unix milliseconds.
    pub occurred_at_ms: Option<i64>,
    /// Stripe account, Shopify shop domain, HubSpot portal id (`events.account`).
    pub account: Option<&'a str>,
    /// For `stripe.update_customer`: the stored HubSpot contact → Stripe customer mapping of the
    /// contact the event names, looked up by the shell (see [`contact_change`]).
    pub link: Option<&'a ContactLink>,
    /// For steps about the person of a Stripe subscription or invoice that carries no email:
    /// what edgehooks knows about the customer it names (stored from earlier events or a
    /// lookup), loaded by the shell after [`plan`] asked for it with [`StepAction::Resolve`].
    pub customer: Option<&'a KnownCustomer>,
}

impl<'a> StepInput<'a> {
    /// A bare input for unit tests: no payload, time, account or link.
    #[cfg(test)]
    pub(crate) fn for_test(
        provider: Provider,
        event_type: &'a str,
        account: Option<&'a str>,
    ) -> Self {
        StepInput {
            step_id: "s",
            provider,
            event_type,
            payload: "",
            occurred_at_ms: None,
            account,
            link: None,
            customer: None,
        }
    }
}

/// What the shell must do for a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepAction {
    /// Send this request; 2xx means done.
    Http(HttpRequestSpec),
    /// Apply this change to D1; done when it commits.
    Local(LocalAction),
    /// The event does not call for this step: end it `skipped`, without a call, with the
    /// reason's code in `last_error` so admins can see why nothing was sent. Not a failure.
    Skip(SkipReason),
    /// The step needs the person behind a Stripe customer id: look the customer up (an attempt
    /// of this step against the Stripe destination), store it, then plan again with it.
    Resolve(CustomerLookup),
}

/// Why a step deliberately does nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// A HubSpot change written by our own app: syncing it back to Stripe would echo.
    OwnWrite,
    /// A HubSpot property that has no Stripe counterpart in the mapping.
    UnmappedProperty,
    /// A HubSpot contact linked to no Stripe customer: nothing in Stripe to update.
    NoLinkedCustomer,
    /// The Stripe customer behind the subscription or invoice was deleted.
    CustomerDeleted,
    /// The Stripe customer behind the subscription or invoice has no email to write or mail to.
    CustomerWithoutEmail,
}

impl SkipReason {
    pub fn code(self) -> &'static str {
        match self {
            SkipReason::OwnWrite => "skipped:own_write",
            SkipReason::UnmappedProperty => "skipped:unmapped_property",
            SkipReason::NoLinkedCustomer => "skipped:no_linked_customer",
            SkipReason::CustomerDeleted => "skipped:customer_deleted",
            SkipReason::CustomerWithoutEmail => "skipped:customer_without_email",
        }
    }
}

/// Why a step cannot be planned. These are permanent: the step goes `dead` with the code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildError {
    /// The stored payload is not JSON (or was redacted).
    UnreadablePayload,
    /// The event lacks a field the step needs (e.g. no customer email).
    MissingField(&'static str),
    /// The route sent an event type this step does not understand.
    UnsupportedEvent,
    /// The destination has no token (or URL) configured: it is disabled.
    DestinationDisabled(Destination),
    /// A setting this particular request needs is unset (e.g. a SendGrid template id).
    NotConfigured(&'static str),
}

impl BuildError {
    pub fn code(&self) -> String {
        match self {
            BuildError::UnreadablePayload => "unreadable_payload".into(),
            BuildError::MissingField(field) => format!("missing_field:{field}"),
            BuildError::UnsupportedEvent => "unsupported_event".into(),
            BuildError::DestinationDisabled(d) => format!("destination_disabled:{}", d.name()),
            BuildError::NotConfigured(setting) => format!("not_configured:{setting}"),
        }
    }
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.code())
    }
}

/// Plan step `kind` for `input`. The event's kind ([`EventKind`]) is classified here, once, and
/// handed to the builders. Checks, in order: the step handles this event type
/// ([`supports`]), its destination is configured, the payload is JSON, the person it is about is
/// known ([`customers`]: else a lookup or a skip); then the destination's builder reads the
/// fields it needs.
pub fn plan(
    kind: StepKind,
    input: &StepInput,
    settings: &DownstreamSettings,
) -> Result<StepAction, BuildError> {
    let event = EventKind::of(input);
    if !event_kind::takes(kind, event) {
        return Err(BuildError::UnsupportedEvent);
    }
    let destination = kind.destination();
    if !settings.is_enabled(destination) {
        return Err(BuildError::DestinationDisabled(destination));
    }
    let payload: Value =
        serde_json::from_str(input.payload).map_err(|_| BuildError::UnreadablePayload)?;
    if let Some(action) = customers::resolve_person(event, kind, input, &payload, settings)? {
        return Ok(action);
    }
    let api = |d: Destination| {
        settings
            .destination(d)
            .ok_or(BuildError::DestinationDisabled(d))
    };
    match kind {
        StepKind::HubSpotUpsertContact => {
            hubspot::upsert_contact(event, input, &payload, api(Destination::HubSpot)?)
                .map(StepAction::Http)
        }
        StepKind::HubSpotCreateDeal => {
            hubspot::create_deal(event, input, &payload, api(Destination::HubSpot)?)
                .map(StepAction::Http)
        }
        StepKind::SendGridSend => sendgrid::send(
            event,
            input,
            &payload,
            api(Destination::SendGrid)?,
            &settings.sendgrid_mail,
        )
        .map(StepAction::Http),
        StepKind::StripeUpdateCustomer => {
            stripe::update_customer(input, &payload, api(Destination::Stripe)?, settings)
        }
        StepKind::SlackNotify => match settings.slack_webhook_url.as_deref() {
            Some(url) => slack::notify(event, input, &payload, url).map(StepAction::Http),
            None => Err(BuildError::DestinationDisabled(Destination::Slack)),
        },
        StepKind::ShopMarkInactive
        | StepKind::PrivacyRedact
        | StepKind::PrivacyExport
        | StepKind::SuppressionRecord
        | StepKind::EngagementCount
        | StepKind::MappingMarkDeleted => {
            local::plan(event, kind, input, &payload).map(StepAction::Local)
        }
    }
}

/// What a failed downstream answer means for step `kind`, when the core knows better than the
/// generic `http_<status>` code: e.g. a deal upsert refused because the HubSpot portal lacks the
/// unique deal property. The text starts with its own error code (before the first `:`), so dead
/// letters group under it. `None`: keep the generic code.
pub fn explain_failure(kind: StepKind, status: u16, body: &str) -> Option<String> {
    match kind {
        StepKind::HubSpotCreateDeal => hubspot::explain_deal_failure(status, body),
        _ => None,
    }
}

/// Join a base URL and an absolute path without doubling the slash.
pub(crate) fn join_url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}

pub(crate) fn bearer(token: &str) -> (String, String) {
    ("Authorization".into(), format!("Bearer {token}"))
}

pub(crate) fn json_content() -> (String, String) {
    ("Content-Type".into(), "application/json".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn input<'a>(provider: Provider, event_type: &'a str, payload: &'a str) -> StepInput<'a> {
        StepInput {
            step_id: "evt_1:x",
            payload,
            ..StepInput::for_test(provider, event_type, None)
        }
    }

    #[test]
    fn codes_are_stable() {
        assert_eq!(
            BuildError::DestinationDisabled(Destination::SendGrid).code(),
            "destination_disabled:sendgrid"
        );
        assert_eq!(
            BuildError::MissingField("email").to_string(),
            "missing_field:email"
        );
        assert_eq!(
            BuildError::NotConfigured("SENDGRID_FROM_EMAIL").code(),
            "not_configured:SENDGRID_FROM_EMAIL"
        );
        assert_eq!(SkipReason::OwnWrite.code(), "skipped:own_write");
    }

    #[test]
    fn checks_run_in_order() {
        let none = DownstreamSettings::default();
        let i = input(Provider::Stripe, "charge.refunded", "not json");
        assert_eq!(
            plan(StepKind::HubSpotUpsertContact, &i, &none),
            Err(BuildError::UnsupportedEvent)
        );
        let i = input(Provider::Stripe, "checkout.session.completed", "not json");
        assert_eq!(
            plan(StepKind::HubSpotUpsertContact, &i, &none),
            Err(BuildError::DestinationDisabled(Destination::HubSpot))
        );
        let i = input(Provider::Stripe, "invoice.payment_failed", "{}");
        assert_eq!(
            plan(StepKind::SlackNotify, &i, &none),
            Err(BuildError::DestinationDisabled(Destination::Slack))
        );
        let i = input(Provider::SendGrid, "open", "[1,");
        assert_eq!(
            plan(StepKind::EngagementCount, &i, &none),
            Err(BuildError::UnreadablePayload)
        );
    }

    #[test]
    fn only_known_failures_are_explained() {
        let body =
            "Unable to perform update/upsert by non-unique 0-3 property edgehooks_idempotency_key";
        assert!(explain_failure(StepKind::HubSpotCreateDeal, 400, body).is_some());
        assert_eq!(
            explain_failure(StepKind::HubSpotUpsertContact, 400, body),
            None
        );
        assert_eq!(explain_failure(StepKind::SlackNotify, 400, body), None);
    }

    #[test]
    fn join_url_never_doubles_the_slash() {
        assert_eq!(join_url("https://a.test/", "/v1/x"), "https://a.test/v1/x");
        assert_eq!(
            join_url("https://a.test/p", "/v1/x"),
            "https://a.test/p/v1/x"
        );
    }
}
