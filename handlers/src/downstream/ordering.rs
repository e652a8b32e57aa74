//! Ordering support. Providers do not deliver in order, so a step that overwrites state names
//! the entity it overwrites; the shell remembers, per (entity key, step name), the `occurred_at`
//! of the last event it applied and records an older event's step as `skipped_stale`.
//!
//! Steps with a key:
//! - `hubspot.upsert_contact` from Stripe subscriptions: `stripe:subscription:<sub id>`; from
//!   invoices (last payment): `stripe:customer:<cus id>`; from Shopify customers and orders (both
//!   write the customer's contact): `shopify:customer:<customer id>`; from SendGrid suppressions
//!   (email status): `sendgrid:recipient:<digest>`, where the digest is 32 hex digits of SHA-256
//!   of the lowercased email, so the ordering table never holds an address.
//! - `stripe.update_customer`: `hubspot:contact:<objectId>:<propertyName>`, per property, so that
//!   a late change to one property is not lost to a newer change of another.
//!
//! No key (every event applies): checkout upserts (once per purchase), deals, mails, Slack, and
//! the additive or must-always-run local steps (suppressions, counters, privacy requests, shop
//! uninstall, mapping deletion). Privacy requests are never skipped as stale.

use serde_json::Value;

use super::events::{classify, Source};
use super::fields::{email_digest, id_text, text};
use super::subjects::{stripe_customer_id, stripe_object};
use super::StepInput;
use crate::routes::StepKind;

/// The entity `kind` overwrites for this event, or `None` when the step has no ordering (see
/// the module doc) or the payload lacks the id.
pub fn entity_key(kind: StepKind, input: &StepInput) -> Option<String> {
    let payload: Value = serde_json::from_str(input.payload).ok()?;
    let source = classify(input.provider, input.event_type);
    match kind {
        StepKind::HubSpotUpsertContact => match source {
            Source::StripeSubscription { .. } => {
                let id = text(stripe_object(&payload).ok()?, "/id")?;
                Some(format!("stripe:subscription:{id}"))
            }
            Source::StripeInvoice { .. } => {
                let id = stripe_customer_id(stripe_object(&payload).ok()?)?;
                Some(format!("stripe:customer:{id}"))
            }
            Source::ShopifyOrder { .. } => {
                id_text(&payload, "/customer/id").map(|id| format!("shopify:customer:{id}"))
            }
            Source::ShopifyCustomer => {
                id_text(&payload, "/id").map(|id| format!("shopify:customer:{id}"))
            }
            Source::SendGridSuppression(_) => text(&payload, "/email")
                .map(|email| format!("sendgrid:recipient:{}", email_digest(email))),
            _ => None,
        },
        StepKind::StripeUpdateCustomer if source == Source::HubSpotPropertyChange => {
            let contact = id_text(&payload, "/objectId")?;
            let property = text(&payload, "/propertyName")?;
            Some(format!("hubspot:contact:{contact}:{property}"))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::webhook::Provider;

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
}
