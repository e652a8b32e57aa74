//! What kind of source event a (provider, event type) pair is ([`EventKind`], from [`classify`]), and which step can handle which
//! kind. [`supports`] is the single answer to "can this step run for this event type"; route
//! overrides are validated with it at startup and [`super::plan`] refuses anything it rejects, so
//! the builders only ever see the kinds listed here.

use crate::inbound::webhook::Provider;
use crate::step_kind::StepKind;

use super::StepInput;

use super::local::{EngagementKind, SuppressionReason};

/// The event shapes the builders understand. [`super::plan`] classifies the event once and
/// passes its kind to the builders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    StripeCheckout,
    /// Any `customer.subscription.*` event: the object is a Subscription.
    StripeSubscription {
        deleted: bool,
    },
    /// `invoice.payment_failed`, `invoice.payment_succeeded` or `invoice.paid`.
    StripeInvoice {
        failed: bool,
    },
    /// `orders/create`, `orders/paid` and `orders/updated`: the object is an Order.
    ShopifyOrder {
        new: bool,
    },
    /// `customers/create|update|enable|disable`: the object is a Customer.
    ShopifyCustomer,
    ShopifyAppUninstalled,
    /// `customers/redact` (`shop: false`) or `shop/redact` (`shop: true`).
    ShopifyRedact {
        shop: bool,
    },
    ShopifyDataRequest,
    HubSpotPropertyChange,
    /// `contact.deletion` (`privacy: false`) or `contact.privacyDeletion` (`privacy: true`: the
    /// contact asked to be forgotten).
    HubSpotDeletion {
        privacy: bool,
    },
    SendGridSuppression(SuppressionReason),
    SendGridEngagement(EngagementKind),
    /// Anything else: only `slack.notify` (with a generic message) takes it.
    Other,
}

impl EventKind {
    /// The kind of the event `input` belongs to.
    pub fn of(input: &StepInput) -> EventKind {
        classify(input.provider, input.event_type)
    }
}

pub(crate) fn classify(provider: Provider, event_type: &str) -> EventKind {
    match provider {
        Provider::Stripe => match event_type {
            "checkout.session.completed" => EventKind::StripeCheckout,
            "invoice.payment_failed" => EventKind::StripeInvoice { failed: true },
            "invoice.payment_succeeded" | "invoice.paid" => {
                EventKind::StripeInvoice { failed: false }
            }
            t if t.starts_with("customer.subscription.") => EventKind::StripeSubscription {
                deleted: t == "customer.subscription.deleted",
            },
            _ => EventKind::Other,
        },
        Provider::Shopify => match event_type {
            "orders/create" | "orders/paid" => EventKind::ShopifyOrder { new: true },
            "orders/updated" => EventKind::ShopifyOrder { new: false },
            "customers/create" | "customers/update" | "customers/enable" | "customers/disable" => {
                EventKind::ShopifyCustomer
            }
            "app/uninstalled" => EventKind::ShopifyAppUninstalled,
            "customers/redact" => EventKind::ShopifyRedact { shop: false },
            "shop/redact" => EventKind::ShopifyRedact { shop: true },
            "customers/data_request" => EventKind::ShopifyDataRequest,
            _ => EventKind::Other,
        },
        Provider::HubSpot => match event_type {
            "contact.propertyChange" => EventKind::HubSpotPropertyChange,
            "contact.deletion" => EventKind::HubSpotDeletion { privacy: false },
            "contact.privacyDeletion" => EventKind::HubSpotDeletion { privacy: true },
            _ => EventKind::Other,
        },
        Provider::SendGrid => match (
            SuppressionReason::from_event(event_type),
            EngagementKind::from_event(event_type),
        ) {
            (Some(reason), _) => EventKind::SendGridSuppression(reason),
            (None, Some(kind)) => EventKind::SendGridEngagement(kind),
            (None, None) => EventKind::Other,
        },
        // Sources added at runtime have no built-in steps: connections take their events.
        Provider::Registry => EventKind::Other,
    }
}

/// True when step `kind` can run for events of this type. `slack.notify` takes every event
/// (with a generic message for types it has no template for); `hubspot.create_deal` only new
/// orders, so that an override can never create a deal per order update.
pub fn supports(kind: StepKind, provider: Provider, event_type: &str) -> bool {
    takes(kind, classify(provider, event_type))
}

/// True when step `kind` can run for events of kind `source` (see [`supports`]).
pub(crate) fn takes(kind: StepKind, source: EventKind) -> bool {
    match kind {
        StepKind::HubSpotUpsertContact => matches!(
            source,
            EventKind::StripeCheckout
                | EventKind::StripeSubscription { .. }
                | EventKind::StripeInvoice { .. }
                | EventKind::ShopifyOrder { .. }
                | EventKind::ShopifyCustomer
                | EventKind::SendGridSuppression(_)
        ),
        StepKind::HubSpotCreateDeal => source == EventKind::ShopifyOrder { new: true },
        StepKind::SendGridSend => matches!(
            source,
            EventKind::StripeCheckout
                | EventKind::StripeSubscription { deleted: true }
                | EventKind::StripeInvoice { failed: true }
        ),
        StepKind::StripeUpdateCustomer => source == EventKind::HubSpotPropertyChange,
        StepKind::SlackNotify => true,
        StepKind::ShopMarkInactive => source == EventKind::ShopifyAppUninstalled,
        StepKind::PrivacyRedact => matches!(
            source,
            EventKind::ShopifyRedact { .. } | EventKind::HubSpotDeletion { privacy: true }
        ),
        StepKind::PrivacyExport => source == EventKind::ShopifyDataRequest,
        StepKind::SuppressionRecord => matches!(source, EventKind::SendGridSuppression(_)),
        StepKind::EngagementCount => matches!(source, EventKind::SendGridEngagement(_)),
        StepKind::MappingMarkDeleted => matches!(source, EventKind::HubSpotDeletion { .. }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(
            classify(Provider::Stripe, "customer.subscription.deleted"),
            EventKind::StripeSubscription { deleted: true }
        );
        assert_eq!(
            classify(Provider::Stripe, "customer.subscription.paused"),
            EventKind::StripeSubscription { deleted: false }
        );
        // Same names, other provider: nothing.
        assert_eq!(
            classify(Provider::HubSpot, "checkout.session.completed"),
            EventKind::Other
        );
        assert_eq!(classify(Provider::Stripe, "bounce"), EventKind::Other);
        assert_eq!(
            classify(Provider::SendGrid, "group_unsubscribe"),
            EventKind::SendGridSuppression(SuppressionReason::GroupUnsubscribe)
        );
        assert_eq!(
            classify(Provider::SendGrid, "click"),
            EventKind::SendGridEngagement(EngagementKind::Click)
        );
        assert_eq!(classify(Provider::SendGrid, "processed"), EventKind::Other);
        assert_eq!(
            classify(Provider::Shopify, "shop/redact"),
            EventKind::ShopifyRedact { shop: true }
        );
    }

    #[test]
    fn support_matrix_edges() {
        assert!(supports(
            StepKind::SlackNotify,
            Provider::Stripe,
            "invoice.paid"
        ));
        assert!(supports(
            StepKind::SlackNotify,
            Provider::SendGrid,
            "anything"
        ));
        assert!(!supports(
            StepKind::HubSpotCreateDeal,
            Provider::Shopify,
            "orders/updated"
        ));
        assert!(supports(
            StepKind::HubSpotUpsertContact,
            Provider::Shopify,
            "orders/updated"
        ));
        assert!(!supports(
            StepKind::SendGridSend,
            Provider::Stripe,
            "customer.subscription.updated"
        ));
        assert!(!supports(
            StepKind::PrivacyRedact,
            Provider::Shopify,
            "customers/data_request"
        ));
        assert!(!supports(
            StepKind::HubSpotUpsertContact,
            Provider::SendGrid,
            "open"
        ));
    }
}
