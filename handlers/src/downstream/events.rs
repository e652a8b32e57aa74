//! What kind of source event a (provider, event type) pair is, and which step can handle which
//! kind. [`supports`] is the single answer to "can this step run for this event type"; route
//! overrides are validated with it at startup and [`super::plan`] refuses anything it rejects, so
//! the builders only ever see the kinds listed here.

use crate::routes::StepKind;
use crate::webhook::Provider;

use super::local::{EngagementKind, SuppressionReason};

/// The event shapes the builders understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
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

pub(crate) fn classify(provider: Provider, event_type: &str) -> Source {
    match provider {
        Provider::Stripe => match event_type {
            "checkout.session.completed" => Source::StripeCheckout,
            "invoice.payment_failed" => Source::StripeInvoice { failed: true },
            "invoice.payment_succeeded" | "invoice.paid" => Source::StripeInvoice { failed: false },
            t if t.starts_with("customer.subscription.") => Source::StripeSubscription {
                deleted: t == "customer.subscription.deleted",
            },
            _ => Source::Other,
        },
        Provider::Shopify => match event_type {
            "orders/create" | "orders/paid" => Source::ShopifyOrder { new: true },
            "orders/updated" => Source::ShopifyOrder { new: false },
            "customers/create" | "customers/update" | "customers/enable" | "customers/disable" => {
                Source::ShopifyCustomer
            }
            "app/uninstalled" => Source::ShopifyAppUninstalled,
            "customers/redact" => Source::ShopifyRedact { shop: false },
            "shop/redact" => Source::ShopifyRedact { shop: true },
            "customers/data_request" => Source::ShopifyDataRequest,
            _ => Source::Other,
        },
        Provider::HubSpot => match event_type {
            "contact.propertyChange" => Source::HubSpotPropertyChange,
            "contact.deletion" => Source::HubSpotDeletion { privacy: false },
            "contact.privacyDeletion" => Source::HubSpotDeletion { privacy: true },
            _ => Source::Other,
        },
        Provider::SendGrid => match (
            SuppressionReason::from_event(event_type),
            EngagementKind::from_event(event_type),
        ) {
            (Some(reason), _) => Source::SendGridSuppression(reason),
            (None, Some(kind)) => Source::SendGridEngagement(kind),
            (None, None) => Source::Other,
        },
    }
}

/// True when step `kind` can run for events of this type. `slack.notify` takes every event
/// (with a generic message for types it has no template for); `hubspot.create_deal` only new
/// orders, so that an override can never create a deal per order update.
pub fn supports(kind: StepKind, provider: Provider, event_type: &str) -> bool {
    let source = classify(provider, event_type);
    match kind {
        StepKind::HubSpotUpsertContact => matches!(
            source,
            Source::StripeCheckout
                | Source::StripeSubscription { .. }
                | Source::StripeInvoice { .. }
                | Source::ShopifyOrder { .. }
                | Source::ShopifyCustomer
                | Source::SendGridSuppression(_)
        ),
        StepKind::HubSpotCreateDeal => source == Source::ShopifyOrder { new: true },
        StepKind::SendGridSend => matches!(
            source,
            Source::StripeCheckout
                | Source::StripeSubscription { deleted: true }
                | Source::StripeInvoice { failed: true }
        ),
        StepKind::StripeUpdateCustomer => source == Source::HubSpotPropertyChange,
        StepKind::SlackNotify => true,
        StepKind::ShopMarkInactive => source == Source::ShopifyAppUninstalled,
        StepKind::PrivacyRedact => matches!(
            source,
            Source::ShopifyRedact { .. } | Source::HubSpotDeletion { privacy: true }
        ),
        StepKind::PrivacyExport => source == Source::ShopifyDataRequest,
        StepKind::SuppressionRecord => matches!(source, Source::SendGridSuppression(_)),
        StepKind::EngagementCount => matches!(source, Source::SendGridEngagement(_)),
        StepKind::MappingMarkDeleted => matches!(source, Source::HubSpotDeletion { .. }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        assert_eq!(
            classify(Provider::Stripe, "customer.subscription.deleted"),
            Source::StripeSubscription { deleted: true }
        );
        assert_eq!(
            classify(Provider::Stripe, "customer.subscription.paused"),
            Source::StripeSubscription { deleted: false }
        );
        // Same names, other provider: nothing.
        assert_eq!(
            classify(Provider::HubSpot, "checkout.session.completed"),
            Source::Other
        );
        assert_eq!(classify(Provider::Stripe, "bounce"), Source::Other);
        assert_eq!(
            classify(Provider::SendGrid, "group_unsubscribe"),
            Source::SendGridSuppression(SuppressionReason::GroupUnsubscribe)
        );
        assert_eq!(
            classify(Provider::SendGrid, "click"),
            Source::SendGridEngagement(EngagementKind::Click)
        );
        assert_eq!(classify(Provider::SendGrid, "processed"), Source::Other);
        assert_eq!(
            classify(Provider::Shopify, "shop/redact"),
            Source::ShopifyRedact { shop: true }
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
