//! Ordering support. Providers do not deliver in order, so a step that overwrites state names
//! the entity it overwrites; ingest stores that key with the step ([`planned_entity`]), the shell
//! remembers, per (entity key, step name), the `occurred_at` of the last event it applied, and
//! [`turn`] decides, from what D1 holds about the entity's other steps, whether a step may call
//! now, is `skipped_stale` (a newer event was applied, or a newer event has a step pending,
//! running or done), or waits for an older step's call in flight, so calls for one entity never
//! overlap and never go backwards. The claim applies the same rules in one conditional D1
//! statement (`crate::steps::lifecycle::claim`, tested against [`turn`] in SQLite).
//!
//! Steps with a key:
//! - `hubspot.upsert_contact` from Stripe checkouts (name, Stripe customer id):
//!   `stripe:checkout:<digest>` of the email the upsert writes (`customer_details.email`, else
//!   `customer_email`: HubSpot keys the contact by email, and a guest checkout has no Stripe
//!   customer), so an older checkout of the same person, delivered late or redriven, never
//!   writes its values back over a newer one's; from Stripe subscriptions:
//!   `stripe:subscription:<sub id>`; from invoices (last payment): `stripe:customer:<cus id>`;
//!   from Shopify customers and orders (both write the customer's contact):
//!   `shopify:customer:<customer id>`; from SendGrid suppressions (email status):
//!   `sendgrid:recipient:<digest>`. A digest is 32 hex digits of SHA-256 of the lowercased
//!   email, so the ordering table never holds an address. Each source has its own namespace:
//!   they write different properties, and one must not make another's step stale.
//! - `stripe.update_customer`: `hubspot:contact:<objectId>:<propertyName>`, per property, so that
//!   a late change to one property is not lost to a newer change of another.
//!
//! No key (every event applies): deals, mails, Slack, and the additive or must-always-run local
//! steps (suppressions, counters, privacy requests, shop uninstall, mapping deletion); also any
//! keyed step whose payload lacks what its key is made of. Privacy requests are never skipped
//! as stale.

use serde_json::Value;

use super::event_kind::{classify, EventKind};
use super::format::email_digest;
use super::payload::{id_text, text, LazyPayload};
use super::subjects::{checkout_email, stripe_customer_id, stripe_object};
use super::StepInput;
use crate::inbound::webhook::{ParsedEvent, Provider};
use crate::step_kind::StepKind;

/// Where an entity key comes from, for the (step, event kind) pairs that have one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntitySource {
    StripeCheckoutEmail,
    StripeSubscription,
    StripeInvoiceCustomer,
    ShopifyOrderCustomer,
    ShopifyCustomer,
    SendGridRecipient,
    HubSpotContactProperty,
}

/// Whether `kind` orders events of `source` at all, decided before the payload is read: most
/// steps have no entity, and ingest asks for every planned step.
fn entity_source(kind: StepKind, source: EventKind) -> Option<EntitySource> {
    match (kind, source) {
        (StepKind::HubSpotUpsertContact, EventKind::StripeCheckout) => {
            Some(EntitySource::StripeCheckoutEmail)
        }
        (StepKind::HubSpotUpsertContact, EventKind::StripeSubscription { .. }) => {
            Some(EntitySource::StripeSubscription)
        }
        (StepKind::HubSpotUpsertContact, EventKind::StripeInvoice { .. }) => {
            Some(EntitySource::StripeInvoiceCustomer)
        }
        (StepKind::HubSpotUpsertContact, EventKind::ShopifyOrder { .. }) => {
            Some(EntitySource::ShopifyOrderCustomer)
        }
        (StepKind::HubSpotUpsertContact, EventKind::ShopifyCustomer) => {
            Some(EntitySource::ShopifyCustomer)
        }
        (StepKind::HubSpotUpsertContact, EventKind::SendGridSuppression(_)) => {
            Some(EntitySource::SendGridRecipient)
        }
        (StepKind::StripeUpdateCustomer, EventKind::HubSpotPropertyChange) => {
            Some(EntitySource::HubSpotContactProperty)
        }
        _ => None,
    }
}

/// The entity `kind` overwrites for this event, or `None` when the step has no ordering (see
/// the module doc) or the payload lacks the id. The payload is parsed only for a step that
/// has an entity.
pub fn entity_key(kind: StepKind, input: &StepInput) -> Option<String> {
    let source = entity_source(kind, classify(input.provider, input.event_type))?;
    let payload: Value = serde_json::from_str(input.payload).ok()?;
    key_from(source, &payload)
}

/// The key of an entity of `source`, read from the event's parsed payload.
fn key_from(source: EntitySource, payload: &Value) -> Option<String> {
    match source {
        EntitySource::StripeCheckoutEmail => {
            let email = checkout_email(stripe_object(payload).ok()?)?;
            Some(format!("stripe:checkout:{}", email_digest(email)))
        }
        EntitySource::StripeSubscription => {
            let id = text(stripe_object(payload).ok()?, "/id")?;
            Some(format!("stripe:subscription:{id}"))
        }
        EntitySource::StripeInvoiceCustomer => {
            let id = stripe_customer_id(stripe_object(payload).ok()?)?;
            Some(format!("stripe:customer:{id}"))
        }
        EntitySource::ShopifyOrderCustomer => {
            id_text(payload, "/customer/id").map(|id| format!("shopify:customer:{id}"))
        }
        EntitySource::ShopifyCustomer => {
            id_text(payload, "/id").map(|id| format!("shopify:customer:{id}"))
        }
        EntitySource::SendGridRecipient => text(payload, "/email")
            .map(|email| format!("sendgrid:recipient:{}", email_digest(email))),
        EntitySource::HubSpotContactProperty => {
            let contact = id_text(payload, "/objectId")?;
            let property = text(payload, "/propertyName")?;
            Some(format!("hubspot:contact:{contact}:{property}"))
        }
    }
}

/// The entity key ingest stores with a planned step: [`entity_key`] for the event, or `None`
/// when the step has no ordering or the event has no time to order it by. `payload` is
/// `event.payload`, shared by every step of the event (and ingest's other readers), so it is
/// parsed at most once per event, and only when a step has an entity.
pub fn planned_entity(
    kind: StepKind,
    provider: Provider,
    event: &ParsedEvent,
    payload: &LazyPayload,
) -> Option<String> {
    event.occurred_at_ms?;
    let source = entity_source(kind, classify(provider, &event.event_type))?;
    key_from(source, payload.value()?)
}

/// What D1 holds about the other steps of one entity (same key and step name), as seen by one
/// step of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct EntityStanding {
    /// `occurred_at` of the newest event already applied to the entity.
    pub applied_ms: Option<i64>,
    /// Another step of the entity, `pending`, `enqueued`, `running` or `succeeded`, belongs to a
    /// newer event (same time: the greater event id counts as newer).
    pub newer_step: bool,
    /// When another step of the entity claimed the call it is making now (`running` under a
    /// live lease); necessarily an older event's, else `newer_step` holds.
    pub running_since_ms: Option<i64>,
}

/// How long steps run: the call timeout and the lease after which a `running` step counts as
/// abandoned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallTiming {
    pub timeout_ms: u64,
    pub lease_ms: i64,
}

/// Time a running step needs after its call's timeout to record the outcome.
pub const RECORD_MARGIN_MS: i64 = 2_000;

/// How long, at most, a step waits before looking again while an older call for its entity is
/// in flight (most calls take well under a second; the timeout bounds the rest).
pub const BUSY_RECHECK_SECS: u64 = 3;

/// Whether a step of this entity may call now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Turn {
    Go,
    /// Older than what was applied (`older_than_applied`), or than another live step's event
    /// (`newer_event`): `skipped_stale`, with that reason.
    Stale {
        reason: &'static str,
    },
    /// An older step's call is in flight: try again in `secs` (≥ 1), without charging an attempt.
    Wait {
        secs: u64,
    },
}

/// Decide for a step whose event happened at `occurred_at_ms`.
pub fn turn(
    occurred_at_ms: i64,
    standing: EntityStanding,
    now_ms: i64,
    timing: CallTiming,
) -> Turn {
    if standing.applied_ms.is_some_and(|a| a > occurred_at_ms) {
        return Turn::Stale {
            reason: "older_than_applied",
        };
    }
    if standing.newer_step {
        return Turn::Stale {
            reason: "newer_event",
        };
    }
    match standing.running_since_ms {
        Some(since) => Turn::Wait {
            secs: busy_wait_secs(since, now_ms, timing),
        },
        None => Turn::Go,
    }
}

/// How long (≥ 1 s) to wait before looking again at another step that claimed its call at
/// `since_ms` and is still `running`: at most [`BUSY_RECHECK_SECS`] while its call may still be
/// in flight (its timeout plus [`RECORD_MARGIN_MS`]); past that its runner is probably gone, so
/// until its lease runs out instead of polling.
pub fn busy_wait_secs(since_ms: i64, now_ms: i64, timing: CallTiming) -> u64 {
    let timeout = i64::try_from(timing.timeout_ms).unwrap_or(i64::MAX);
    let due = since_ms
        .saturating_add(timeout)
        .saturating_add(RECORD_MARGIN_MS);
    let secs_until = |until: i64| (until.saturating_sub(now_ms).max(0) as u64).div_ceil(1000);
    let secs = if due > now_ms {
        secs_until(due).min(BUSY_RECHECK_SECS)
    } else {
        secs_until(since_ms.saturating_add(timing.lease_ms))
    };
    secs.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(kind: StepKind, provider: Provider, event_type: &str, payload: &str) -> Option<String> {
        entity_key(
            kind,
            &StepInput {
                payload,
                ..StepInput::for_test(provider, event_type, None)
            },
        )
    }

    #[test]
    fn subscription_events_share_the_subscription_key() {
        let payload = r#"{"data":{"object":{"id":"sub_1","customer":"cus_1"}}}"#;
        for t in [
            "customer.subscription.created",
            "customer.subscription.updated",
            "customer.subscription.deleted",
        ] {
            assert_eq!(
                key(StepKind::HubSpotUpsertContact, Provider::Stripe, t, payload).as_deref(),
                Some("stripe:subscription:sub_1")
            );
        }
        assert_eq!(
            key(
                StepKind::SendGridSend,
                Provider::Stripe,
                "customer.subscription.deleted",
                payload
            ),
            None
        );
    }

    #[test]
    fn shopify_orders_and_customers_share_the_customer_key() {
        let order = r#"{"id":5,"customer":{"id":207119551}}"#;
        let customer = r#"{"id":207119551}"#;
        let a = key(
            StepKind::HubSpotUpsertContact,
            Provider::Shopify,
            "orders/create",
            order,
        );
        let b = key(
            StepKind::HubSpotUpsertContact,
            Provider::Shopify,
            "customers/update",
            customer,
        );
        assert_eq!(a.as_deref(), Some("shopify:customer:207119551"));
        assert_eq!(a, b);
        assert_eq!(
            key(
                StepKind::HubSpotUpsertContact,
                Provider::Shopify,
                "orders/create",
                r#"{"id":5}"#
            ),
            None
        );
    }

    #[test]
    fn keys_hold_no_email_and_bad_payloads_have_none() {
        let k = key(
            StepKind::HubSpotUpsertContact,
            Provider::SendGrid,
            "bounce",
            r#"{"email":"Ada@Example.com"}"#,
        )
        .unwrap();
        assert!(k.starts_with("sendgrid:recipient:") && !k.contains('@'));
        assert_eq!(
            key(
                StepKind::HubSpotUpsertContact,
                Provider::SendGrid,
                "bounce",
                "nope"
            ),
            None
        );
        assert_eq!(
            key(
                StepKind::StripeUpdateCustomer,
                Provider::HubSpot,
                "contact.propertyChange",
                r#"{"objectId":12,"propertyName":"email"}"#
            )
            .as_deref(),
            Some("hubspot:contact:12:email")
        );
        assert_eq!(
            key(
                StepKind::PrivacyRedact,
                Provider::Shopify,
                "customers/redact",
                "{}"
            ),
            None
        );
    }

    /// Stripe's reference sample of `checkout.session.completed` (buyer `ada@example.com`).
    const CHECKOUT: &str =
        include_str!("../../../tests/fixtures/events/stripe/checkout.session.completed.json");

    /// The sample checkout with its buyer's `customer_details.email` and `customer_email` set
    /// (`None`: `null`, as Stripe sends an absent one).
    fn checkout(details_email: Option<&str>, customer_email: Option<&str>) -> String {
        let mut event: Value = serde_json::from_str(CHECKOUT).unwrap();
        let session = &mut event["data"]["object"];
        session["customer_details"]["email"] = details_email.into();
        session["customer_email"] = customer_email.into();
        event.to_string()
    }

    fn checkout_key(kind: StepKind, payload: &str) -> Option<String> {
        key(
            kind,
            Provider::Stripe,
            "checkout.session.completed",
            payload,
        )
    }

    #[test]
    fn checkout_upserts_are_keyed_by_the_digest_of_the_email_they_write() {
        let k = checkout_key(StepKind::HubSpotUpsertContact, CHECKOUT).unwrap();
        // SHA-256 of "ada@example.com", first 16 bytes: never the address itself.
        assert_eq!(k, "stripe:checkout:b5fc85e55755f9e0d030a10ab4429b6b");
        assert_eq!(
            k,
            format!("stripe:checkout:{}", email_digest("ada@example.com"))
        );
        assert!(!k.contains('@') && !k.contains("ada"), "{k}");
        // Its own namespace: not the invoice's customer key, though the sample names cus_….
        assert!(!k.contains("cus_"));
        for other in [
            StepKind::SendGridSend,
            StepKind::SlackNotify,
            StepKind::HubSpotCreateDeal,
        ] {
            assert_eq!(checkout_key(other, CHECKOUT), None, "{other:?}");
        }
    }

    #[test]
    fn checkouts_of_one_email_share_the_key_whatever_its_case() {
        let upsert = |payload: &str| checkout_key(StepKind::HubSpotUpsertContact, payload);
        let ada = upsert(CHECKOUT);
        assert!(ada.is_some());
        assert_eq!(upsert(&checkout(Some(" Ada@Example.COM "), None)), ada);
        // A guest checkout without `customer_details.email` is keyed by `customer_email`, the
        // email its upsert then writes.
        assert_eq!(upsert(&checkout(None, Some("ADA@example.com"))), ada);
        assert_ne!(upsert(&checkout(Some("bob@example.com"), None)), ada);
    }

    #[test]
    fn a_checkout_without_an_email_has_no_key() {
        let upsert = |payload: &str| checkout_key(StepKind::HubSpotUpsertContact, payload);
        assert_eq!(upsert(&checkout(None, None)), None);
        assert_eq!(upsert(&checkout(Some("   "), None)), None);
        assert_eq!(upsert(r#"{"data":{"object":"cs_1"}}"#), None);
        assert_eq!(upsert("not json"), None);
    }

    const TIMING: CallTiming = CallTiming {
        timeout_ms: 10_000,
        lease_ms: 900_000,
    };

    #[test]
    fn nothing_known_goes() {
        assert_eq!(
            turn(5_000, EntityStanding::default(), 9_000, TIMING),
            Turn::Go
        );
    }

    #[test]
    fn older_than_applied_or_than_a_live_newer_step_is_stale() {
        let applied = |ms| EntityStanding {
            applied_ms: Some(ms),
            ..EntityStanding::default()
        };
        assert_eq!(
            turn(5_000, applied(6_000), 9_000, TIMING),
            Turn::Stale {
                reason: "older_than_applied"
            }
        );
        // The same time as the applied event is not older.
        assert_eq!(turn(5_000, applied(5_000), 9_000, TIMING), Turn::Go);
        assert_eq!(turn(5_000, applied(4_000), 9_000, TIMING), Turn::Go);
        let newer = EntityStanding {
            newer_step: true,
            running_since_ms: Some(8_000),
            ..EntityStanding::default()
        };
        assert_eq!(
            turn(5_000, newer, 9_000, TIMING),
            Turn::Stale {
                reason: "newer_event"
            }
        );
    }

    #[test]
    fn an_older_call_in_flight_is_waited_for() {
        let running = EntityStanding {
            applied_ms: Some(1_000),
            running_since_ms: Some(8_000),
            ..EntityStanding::default()
        };
        // Looking again shortly, until its timeout plus the time to record it (8 + 10 + 2 s).
        let wait = |secs| Turn::Wait { secs };
        assert_eq!(turn(5_000, running, 9_000, TIMING), wait(BUSY_RECHECK_SECS));
        assert_eq!(turn(5_000, running, 18_500, TIMING), wait(2));
        assert_eq!(turn(5_000, running, 19_999, TIMING), wait(1));
        // Overdue: its consumer probably died; wait for its lease rather than poll every second.
        assert_eq!(
            turn(5_000, running, 20_000, TIMING),
            Turn::Wait { secs: 888 }
        );
    }

    #[test]
    fn planned_entities_need_an_event_time() {
        let event = |occurred_at_ms| ParsedEvent {
            dedupe_key: "evt_1".into(),
            event_type: "customer.subscription.updated".into(),
            account: None,
            occurred_at_ms,
            payload: r#"{"data":{"object":{"id":"sub_1","customer":"cus_1"}}}"#.into(),
            content_key: None,
            source: None,
            version_key: None,
        };
        let planned = |kind, event: &ParsedEvent| {
            planned_entity(
                kind,
                Provider::Stripe,
                event,
                &LazyPayload::new(&event.payload),
            )
        };
        assert_eq!(
            planned(StepKind::HubSpotUpsertContact, &event(Some(1))).as_deref(),
            Some("stripe:subscription:sub_1")
        );
        assert_eq!(planned(StepKind::HubSpotUpsertContact, &event(None)), None);
        assert_eq!(planned(StepKind::SendGridSend, &event(Some(1))), None);
    }

    #[test]
    fn a_planned_checkout_parses_its_payload_once_for_all_its_steps() {
        let event = ParsedEvent {
            dedupe_key: "evt_1OtJ3kLkdIwHu7ixq0SWnUvA".into(),
            event_type: "checkout.session.completed".into(),
            account: None,
            occurred_at_ms: Some(1_710_000_000_000),
            payload: CHECKOUT.into(),
            content_key: None,
            source: None,
            version_key: None,
        };
        let payload = LazyPayload::new(&event.payload);
        let plan = |kind| planned_entity(kind, Provider::Stripe, &event, &payload);
        // The mail has no entity: decided from the type, without parsing.
        assert_eq!(plan(StepKind::SendGridSend), None);
        assert!(!payload.is_parsed());
        // The upsert stores the key its claim will use (the consumer's entity_key).
        let upsert = plan(StepKind::HubSpotUpsertContact);
        assert!(payload.is_parsed());
        assert_eq!(
            upsert,
            checkout_key(StepKind::HubSpotUpsertContact, CHECKOUT)
        );
        assert!(upsert.is_some());
    }
}
