//! Steps the shell executes against D1 instead of an API: marking an uninstalled shop inactive,
//! Shopify's mandatory privacy requests (redact or export a customer's or a whole shop's data),
//! SendGrid suppressions and engagement counters, marking a deleted HubSpot contact's mapping,
//! and forgetting a HubSpot contact deleted for privacy. This file turns the stored event into a typed [`LocalAction`]; it never decides how
//! the rows are stored. Emails are trimmed and lowercased so that lookups ignore case.

use serde::Serialize;
use serde_json::Value;

use super::event_kind::EventKind;
use super::payload::{id_text, text};
use super::subjects::sendgrid_email;
use super::{BuildError, StepInput};
use crate::inbound::providers::shopify::privacy_subject;
use crate::step_kind::StepKind;

/// Why SendGrid will not deliver to an address any more (the SendGrid event name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SuppressionReason {
    Bounce,
    Dropped,
    Spamreport,
    Unsubscribe,
    GroupUnsubscribe,
}

impl SuppressionReason {
    pub const ALL: [SuppressionReason; 5] = [
        SuppressionReason::Bounce,
        SuppressionReason::Dropped,
        SuppressionReason::Spamreport,
        SuppressionReason::Unsubscribe,
        SuppressionReason::GroupUnsubscribe,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SuppressionReason::Bounce => "bounce",
            SuppressionReason::Dropped => "dropped",
            SuppressionReason::Spamreport => "spamreport",
            SuppressionReason::Unsubscribe => "unsubscribe",
            SuppressionReason::GroupUnsubscribe => "group_unsubscribe",
        }
    }

    pub fn from_event(event: &str) -> Option<SuppressionReason> {
        SuppressionReason::ALL
            .into_iter()
            .find(|r| r.name() == event)
    }
}

/// An engagement counter (the SendGrid event name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EngagementKind {
    Delivered,
    Open,
    Click,
}

impl EngagementKind {
    pub const ALL: [EngagementKind; 3] = [
        EngagementKind::Delivered,
        EngagementKind::Open,
        EngagementKind::Click,
    ];

    pub fn name(self) -> &'static str {
        match self {
            EngagementKind::Delivered => "delivered",
            EngagementKind::Open => "open",
            EngagementKind::Click => "click",
        }
    }

    pub fn from_event(event: &str) -> Option<EngagementKind> {
        EngagementKind::ALL.into_iter().find(|k| k.name() == event)
    }
}

/// Work the shell does in D1. Serialises as `{"action": "<snake_case variant>", …fields}` for
/// logs and admin views.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum LocalAction {
    /// `app/uninstalled`: the shop domain is the event's account (`X-Shopify-Shop-Domain`), else
    /// the payload's `myshopify_domain`.
    MarkShopInactive {
        shop_domain: String,
    },
    /// `customers/redact`: remove that customer's PII from stored payloads (and its orders).
    /// `shop/redact`: `customer_id` and `customer_email` are both `None`, meaning every payload
    /// of the shop. A `customers/redact` naming no customer is refused, never widened to the shop.
    /// Carried out in pages (`crate::privacy::shopify_redact` says exactly what is removed).
    Redact {
        shop_domain: String,
        customer_id: Option<String>,
        customer_email: Option<String>,
        order_ids: Vec<String>,
    },
    /// `customers/data_request`: collect that customer's stored data for the shop owner.
    Export {
        shop_domain: String,
        customer_id: Option<String>,
        customer_email: Option<String>,
        order_ids: Vec<String>,
        data_request_id: Option<String>,
    },
    RecordSuppression {
        email: String,
        reason: SuppressionReason,
    },
    CountEngagement {
        email: String,
        kind: EngagementKind,
    },
    /// `contact.deletion`: the contact's Stripe link no longer syncs.
    MarkMappingDeleted {
        hubspot_contact_id: String,
    },
    /// `contact.privacyDeletion`: forget the contact, in pages (`crate::privacy::forget_contact`
    /// says exactly what is removed): the payloads of its HubSpot events, of its linked Stripe
    /// customers' events and of any event holding one of its addresses, the error excerpts of
    /// those events' steps and attempts and any quoting an address, the addresses' suppressions
    /// and engagement, and its contact links and stored Stripe customers.
    ForgetContact {
        hubspot_contact_id: String,
    },
}

fn lower_email(email: &str) -> String {
    super::format::normalized_email(email)
}

/// Ids in an array of numbers or strings (`orders_to_redact`, `orders_requested`).
fn ids(payload: &Value, field: &str) -> Vec<String> {
    let count = payload
        .get(field)
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    (0..count)
        .filter_map(|i| id_text(payload, &format!("/{field}/{i}")))
        .collect()
}

/// The shop a privacy or uninstall event is about: the event's account, else the payload.
fn shop_domain(input: &StepInput, payload: &Value, field: &str) -> Result<String, BuildError> {
    input
        .account
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .or_else(|| text(payload, field))
        .map(str::to_string)
        .ok_or(BuildError::MissingField("shop_domain"))
}

/// A Shopify `shop/redact` (everything of the shop) or `customers/redact` (one customer, who
/// must be named by id or email).
fn shopify_redact(
    shop: bool,
    input: &StepInput,
    payload: &Value,
) -> Result<LocalAction, BuildError> {
    let shop_domain = shop_domain(input, payload, "/shop_domain")?;
    if shop {
        return Ok(LocalAction::Redact {
            shop_domain,
            customer_id: None,
            customer_email: None,
            order_ids: Vec::new(),
        });
    }
    let subject = privacy_subject(payload).unwrap_or_default();
    if subject.customer_id.is_none() && subject.customer_email.is_none() {
        return Err(BuildError::MissingField("customer"));
    }
    Ok(LocalAction::Redact {
        shop_domain,
        customer_id: subject.customer_id,
        customer_email: subject.customer_email.as_deref().map(lower_email),
        order_ids: ids(payload, "orders_to_redact"),
    })
}

/// A Shopify `customers/data_request`: the customer (by id or email) whose data to collect.
fn shopify_export(input: &StepInput, payload: &Value) -> Result<LocalAction, BuildError> {
    let shop_domain = shop_domain(input, payload, "/shop_domain")?;
    let subject = privacy_subject(payload).unwrap_or_default();
    if subject.customer_id.is_none() && subject.customer_email.is_none() {
        return Err(BuildError::MissingField("customer"));
    }
    Ok(LocalAction::Export {
        shop_domain,
        customer_id: subject.customer_id,
        customer_email: subject.customer_email.as_deref().map(lower_email),
        order_ids: ids(payload, "orders_requested"),
        data_request_id: id_text(payload, "/data_request/id"),
    })
}

pub(crate) fn plan(
    event: EventKind,
    kind: StepKind,
    input: &StepInput,
    payload: &Value,
) -> Result<LocalAction, BuildError> {
    match (kind, event) {
        (StepKind::ShopMarkInactive, EventKind::ShopifyAppUninstalled) => {
            Ok(LocalAction::MarkShopInactive {
                shop_domain: shop_domain(input, payload, "/myshopify_domain")?,
            })
        }
        (StepKind::PrivacyRedact, EventKind::ShopifyRedact { shop }) => {
            shopify_redact(shop, input, payload)
        }
        (StepKind::PrivacyExport, EventKind::ShopifyDataRequest) => shopify_export(input, payload),
        (StepKind::SuppressionRecord, EventKind::SendGridSuppression(reason)) => {
            Ok(LocalAction::RecordSuppression {
                email: lower_email(sendgrid_email(payload)?),
                reason,
            })
        }
        (StepKind::EngagementCount, EventKind::SendGridEngagement(kind)) => {
            Ok(LocalAction::CountEngagement {
                email: lower_email(sendgrid_email(payload)?),
                kind,
            })
        }
        (StepKind::PrivacyRedact, EventKind::HubSpotDeletion { privacy: true }) => {
            Ok(LocalAction::ForgetContact {
                hubspot_contact_id: id_text(payload, "/objectId")
                    .ok_or(BuildError::MissingField("objectId"))?,
            })
        }
        (StepKind::MappingMarkDeleted, EventKind::HubSpotDeletion { .. }) => {
            Ok(LocalAction::MarkMappingDeleted {
                hubspot_contact_id: id_text(payload, "/objectId")
                    .ok_or(BuildError::MissingField("objectId"))?,
            })
        }
        _ => Err(BuildError::UnsupportedEvent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inbound::webhook::Provider;
    use serde_json::json;

    fn input<'a>(
        provider: Provider,
        event_type: &'a str,
        account: Option<&'a str>,
    ) -> StepInput<'a> {
        StepInput::for_test(provider, event_type, account)
    }

    #[test]
    fn a_customer_redaction_without_a_customer_is_refused() {
        let i = input(
            Provider::Shopify,
            "customers/redact",
            Some("s.myshopify.com"),
        );
        let payload = json!({"shop_domain": "s.myshopify.com", "customer": {}});
        assert_eq!(
            plan(EventKind::of(&i), StepKind::PrivacyRedact, &i, &payload),
            Err(BuildError::MissingField("customer"))
        );
    }

    #[test]
    fn shop_redaction_ignores_customers_and_falls_back_to_the_payload_domain() {
        let i = input(Provider::Shopify, "shop/redact", None);
        let payload = json!({"shop_domain": "s.myshopify.com", "customer": {"id": 1}});
        assert_eq!(
            plan(EventKind::of(&i), StepKind::PrivacyRedact, &i, &payload),
            Ok(LocalAction::Redact {
                shop_domain: "s.myshopify.com".into(),
                customer_id: None,
                customer_email: None,
                order_ids: vec![],
            })
        );
        assert_eq!(
            plan(EventKind::of(&i), StepKind::PrivacyRedact, &i, &json!({})),
            Err(BuildError::MissingField("shop_domain"))
        );
    }

    #[test]
    fn order_ids_skip_junk_and_actions_serialise_tagged() {
        assert_eq!(
            ids(&json!({"o": [1, "2", null, {"x": 1}, " "]}), "o"),
            vec!["1", "2"]
        );
        let action = LocalAction::RecordSuppression {
            email: "a@x.test".into(),
            reason: SuppressionReason::GroupUnsubscribe,
        };
        assert_eq!(
            serde_json::to_value(&action).unwrap(),
            json!({"action": "record_suppression", "email": "a@x.test", "reason": "group_unsubscribe"})
        );
    }

    #[test]
    fn a_hubspot_privacy_deletion_forgets_the_contact_and_a_plain_deletion_cannot_redact() {
        let payload =
            json!({"objectId": 51234567890_u64, "subscriptionType": "contact.privacyDeletion"});
        let privacy = input(Provider::HubSpot, "contact.privacyDeletion", None);
        assert_eq!(
            plan(
                EventKind::of(&privacy),
                StepKind::PrivacyRedact,
                &privacy,
                &payload
            ),
            Ok(LocalAction::ForgetContact {
                hubspot_contact_id: "51234567890".into()
            })
        );
        let plain = input(Provider::HubSpot, "contact.deletion", None);
        assert_eq!(
            plan(
                EventKind::of(&plain),
                StepKind::PrivacyRedact,
                &plain,
                &payload
            ),
            Err(BuildError::UnsupportedEvent)
        );
        assert_eq!(
            plan(
                EventKind::of(&privacy),
                StepKind::PrivacyRedact,
                &privacy,
                &json!({})
            ),
            Err(BuildError::MissingField("objectId"))
        );
    }

    #[test]
    fn mismatched_kind_and_event_is_unsupported() {
        let i = input(Provider::SendGrid, "open", None);
        assert_eq!(
            plan(
                EventKind::of(&i),
                StepKind::SuppressionRecord,
                &i,
                &json!({"email": "a@x.test"})
            ),
            Err(BuildError::UnsupportedEvent)
        );
    }
}
